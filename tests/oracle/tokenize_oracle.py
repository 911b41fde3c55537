#!/usr/bin/env python3
"""Differential tests of Tokenize and Detokenize against CPython.

1. Round trip of sampled programs: `astcd sample` source -> `astcd tokenize` must give back
   exactly the sampled tokens (each program has one token stream) and the same source.
2. A corpus of realistic integer functions written as people write them (any names,
   docstrings, elif chains, augmented assignment, loops): tokenize must succeed, and
   ast.dump(source) must equal ast.dump(detokenize(tokenize(source))) once both are
   normalized (names renamed canonically, docstrings dropped), and the source's left-nested
   `and`/`or` chains flattened, as the printer writes them (docs/language.md, section 3);
   and `astcd run` on the original text gives CPython's value, of the same type.
3. Unsupported snippets: each fails at the expected stage with the expected node_type.

usage: tokenize_oracle.py ASTCD_BINARY
"""
import ast
import json
import subprocess
import sys

LOOPS = '{"allow_loops":true,"max_control_depth":4,"max_block_stmts":12,"max_locals":10,' \
        '"max_expr_depth":8,"const_range":[0,400],"arities":[1,2,3,4]}'

CORPUS = [
    '''
def is_leap(year):
    """Gregorian leap years."""
    if year % 400 == 0:
        return 1 if year else 0
    elif year % 100 == 0:
        return 0
    elif year % 4 == 0:
        return 1
    else:
        return 0
''',
    '''
def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value
''',
    '''
def digit_sum(n):
    total = 0
    n = abs(n)
    for _ in range(20):
        total += n % 10
        n //= 10
        if n == 0:
            break
    return total
''',
    '''
def gcd_steps(a, b):
    steps = 0
    for i in range(100):
        if b == 0:
            break
        remainder = a % b
        a = b
        b = remainder
        steps += 1
    return a * 100 + steps
''',
    '''
def sign(x):
    if x > 0:
        return 1
    elif x < 0:
        return -1
    return 0
''',
    '''
def count_between(lo, hi, step):
    count = 0
    for k in range(lo, hi):
        if k % step == 0 and k % 2 == 1 and k > 3:
            count += 1
        else:
            continue
    return count
''',
    '''
def mix(p, q):
    """Docstring,
    spanning lines."""
    r = min(p, q) * 3 - max(p, q) // 2
    s = (p or q) if not p < q else (p and q)
    r -= s
    r *= -r
    return r % 7 != 0 or r <= 5
''',
    '''
def bucket(score):
    if score >= 90:
        grade = 4
    elif score >= 80:
        grade = 3
    elif score >= 70:
        grade = 2
    else:
        grade = 0
    return grade
''',
    '''
def tri(n):
    acc = 0
    for i in range(1, n + 1):
        acc = acc + i
    return acc
''',
    '''
def early(a):
    if a:
        return
    pass
''',
    '''
def any_positive(a, b, c):
    if (a > 0 or b > 0) or c > 0:
        return a and b and c
    return a or (b or c) or a and (b and c)
''',
]

# (snippet, start, stage, node_type)
UNSUPPORTED = [
    ("import os\n", "module", "unsupported_syntax", "Import"),
    ("def f(a):\n    return a.real\n", "function", "unsupported_syntax", "Attribute"),
    ("def f(a):\n    return a[0]\n", "function", "unsupported_syntax", "Subscript"),
    ("def f(a):\n    return 'x'\n", "function", "unsupported_syntax", "Constant[str]"),
    ("def f(a):\n    return 1.5\n", "function", "unsupported_syntax", "Constant[float]"),
    ("def f(a):\n    return None\n", "function", "unsupported_syntax", "Constant[NoneType]"),
    ("def f(a):\n    return True\n", "function", "unsupported_syntax", "Constant[bool]"),
    ("def f(a):\n    while a:\n        a -= 1\n", "function", "unsupported_syntax", "While"),
    ("def f(a):\n    print(a)\n", "function", "unsupported_syntax", "Expr"),
    ("def f(a):\n    return len(a)\n", "function", "unsupported_syntax", "Call"),
    ("def f(a):\n    return lambda: a\n", "function", "unsupported_syntax", "Lambda"),
    ("def f(a):\n    return a / 2\n", "function", "unsupported_syntax", "BinOp[Div]"),
    ("def f(a):\n    return a ** 2\n", "function", "unsupported_syntax", "BinOp[Pow]"),
    ("def f(a):\n    return 0 < a < 5\n", "function", "unsupported_syntax", "Compare[chained]"),
    ("def f(a):\n    return a in a\n", "function", "unsupported_syntax", "Compare[In]"),
    ("def f(a):\n    return ~a\n", "function", "unsupported_syntax", "UnaryOp[Invert]"),
    ("def f(a):\n    a /= 2\n", "function", "unsupported_syntax", "AugAssign[Div]"),
    ("def f(a):\n    b, c = a, a\n", "function", "unsupported_syntax", "Tuple"),
    ("def f(a):\n    return [a]\n", "function", "unsupported_syntax", "List"),
    ("def f(a):\n    return f'{a}'\n", "function", "unsupported_syntax", "JoinedStr"),
    ("class A:\n    pass\n", "module", "unsupported_syntax", "ClassDef"),
    ("def f(a=1):\n    return a\n", "function", "unsupported_syntax", "arguments.defaults"),
    ("def f(*a):\n    return 1\n", "function", "unsupported_syntax", "arguments.vararg"),
    ("def f(a: int):\n    return a\n", "function", "unsupported_syntax", "arg.annotation"),
    ("@d\ndef f(a):\n    return a\n", "function", "unsupported_syntax", "FunctionDef.decorator_list"),
    ("def f(a):\n    for i in a:\n        pass\n", "function", "unsupported_syntax", "For.iter"),
    ("def f(a):\n    return b\n", "function", "scope", "Name"),
    ("def f(a):\n    if a:\n        b = 1\n    return b\n", "function", "scope", "Name"),
    ("def f(a):\n    return c\n    c = 1\n", "function", "scope", "Name"),
    ("def f(a):\n    b += 1\n", "function", "scope", "Name"),
    ("def f(a):\n    return min\n", "function", "scope", "Name"),
    ("def f(a):\n    min = 3\n", "function", "name_normalization", "Name"),
    ("def f(a):\n    return 1000\n", "function", "limits", "Constant[int]"),
    ("def f(a, b, c, d, e):\n    return a\n", "function", "limits", "FunctionDef"),
    ("def f(a):\n    return a + a + a + a + a + a + a + a + a + a\n", "function", "limits", "BinOp"),
    ("def f(a):\n    for i in range(a):\n        pass\n", "function", "limits", "For"),
    ("def f(a):\n    return (\n", "function", "python_parse", ""),
    ("def f(a):\n  x = 1\n    y = 2\n", "function", "python_parse", ""),
    ("def f(a):\n    break\n", "function", "python_parse", "Break"),
    ("def f(a):\n\treturn a\n        return a\n", "function", "python_parse", ""),
    ("def f(a):\n    return a\x00\n", "function", "python_parse", ""),
]


def run(binary, args, stdin):
    proc = subprocess.run([binary] + args, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise AssertionError(f"astcd {args} exited {proc.returncode}: {proc.stderr.decode()}")
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def tokenize_all(binary, sources, start, config, extra=()):
    stdin = "".join(json.dumps({"source": s}) + "\n" for s in sources).encode()
    return run(binary, ["tokenize", "--jsonl", "--start", start, "--config", config] + list(extra),
               stdin)


class Normalize(ast.NodeTransformer):
    """Canonical names in order of first binding, no docstrings; with `flatten`, a BoolOp whose
    first value is a BoolOp of the same operator takes that one's values (x or y) or z ->
    x or y or z. A right-nested one stays: x or (y or z)."""

    def __init__(self, flatten):
        self.flatten = flatten

    def visit_FunctionDef(self, node):
        names = {}
        for i, arg in enumerate(node.args.args):
            names[arg.arg] = chr(ord("a") + i)
        for sub in ast.walk(node):  # preorder, like the token stream
            for target in ([sub.target] if isinstance(sub, (ast.For, ast.AugAssign)) else
                           sub.targets if isinstance(sub, ast.Assign) else []):
                if isinstance(target, ast.Name) and target.id not in names:
                    names[target.id] = chr(ord("a") + len(names))
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:] or [ast.Pass()]
        node.body = body
        node.name = "func"
        for arg in node.args.args:
            arg.arg = names[arg.arg]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in names:
                sub.id = names[sub.id]
        self.generic_visit(node)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        first = node.values[0]
        if self.flatten and isinstance(first, ast.BoolOp) and type(first.op) is type(node.op):
            node.values = first.values + node.values[1:]
        return node


def normalized_dump(source, flatten=False):
    return ast.dump(Normalize(flatten).visit(ast.parse(source)))


def main():
    binary = sys.argv[1]
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            if failed <= 20:
                print(f"FAIL {what}")

    # 1. Sampled programs round-trip exactly.
    for config, start, n in [("{}", "module", 1500), (LOOPS, "function", 1500),
                             ('{"allow_loops":true}', "module", 1000)]:
        sampled = run(binary, ["sample", "--start", start, "--n", str(n), "--seed", "7",
                               "--config", config, "--max-new-tokens", "300"], b"")
        results = tokenize_all(binary, [r["source"] for r in sampled], start, config)
        assert len(results) == len(sampled)
        for s, t in zip(sampled, results):
            check(t["ok"] and t["tokens"] == s["tokens"] and t["normalized_source"] == s["source"]
                  and t["complete"],
                  f"round trip {start} {config}:\n{s['source']}\n-> {json.dumps(t)[:400]}")

    # 2. The realistic corpus.
    results = tokenize_all(binary, CORPUS, "function", LOOPS)
    for source, t in zip(CORPUS, results):
        if not t["ok"]:
            check(False, f"corpus did not tokenize: {t['error']}\n{source}")
            continue
        back = run(binary, ["detokenize", "--start", "function", "--config", LOOPS],
                   (json.dumps({"tokens": t["tokens"]}) + "\n").encode())[0]
        check("source" in back
              and normalized_dump(source, flatten=True) == normalized_dump(back["source"]),
              f"corpus round trip differs:\n{source}\n-> {back}")

    # 2b. The corpus runs: `astcd run --source` on the original text must give what CPython
    # gives calling the original function, value and type.
    import random
    import tempfile
    rng = random.Random(3)
    for source in CORPUS:
        namespace = {}
        exec(compile(source, "<corpus>", "exec"), namespace)
        fn = next(v for k, v in namespace.items() if callable(v) and not k.startswith("__"))
        tuples = [[rng.randint(-50, 400) for _ in range(fn.__code__.co_argcount)]
                  for _ in range(12)]
        with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
            f.write(source)
            f.flush()
            args = ["run", "--source", f.name, "--start", "function", "--config", LOOPS]
            for t in tuples:
                args += ["--args", ",".join(map(str, t))]
            outcomes = run(binary, args, b"")
        for t, got in zip(tuples, outcomes):
            try:
                want = ("ok", fn(*t))
            except ZeroDivisionError:
                want = ("zero_division", None)
            same = got["status"] == want[0] and got["value"] == want[1] and \
                type(got["value"]) is type(want[1])
            check(same, f"run {fn.__name__}{tuple(t)}: astcd {got}, CPython {want}")

    # 3. Unsupported snippets, by stage and node type.
    for snippet, start, stage, node_type in UNSUPPORTED:
        t = tokenize_all(binary, [snippet], start, "{}")[0]
        got = (t["error"] or {}).get("stage"), (t["error"] or {}).get("node_type")
        check(not t["ok"] and got == (stage, node_type),
              f"{snippet!r}: expected {(stage, node_type)}, got {got}: {t['error']}")
        if not t["ok"]:
            check(t["error"]["line"] >= 1, f"{snippet!r}: no line in {t['error']}")

    # Bytes JSON cannot carry: invalid UTF-8 in a file.
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".py") as f:
        f.write(b"def f(a):\n    return '\xff\xfe'\n")
        f.flush()
        t = run(binary, ["tokenize", "--start", "function", f.name], b"")[0]
        check(not t["ok"] and t["error"]["stage"] == "python_parse" and t["error"]["line"] == 2,
              f"invalid UTF-8: {t}")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
