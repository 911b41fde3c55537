#!/usr/bin/env python3
"""CPython oracle for the constrained decoder.

Samples programs across configs with the real `astcd sample` binary, then checks each one
against CPython:
  * it parses, and CPython's AST equals ours once our left-nested chains of one `and`/`or`
    operator are flattened into one n-ary BoolOp (compared as S-expressions; the mapping is
    docs/language.md's, section 3), and the samples hold such chains;
  * it has only the parentheses the AST needs: removing any one grouping pair changes the AST
    or stops it parsing (ast.unparse is no oracle here: it adds some, as in `a or (b and c)`),
    and apart from parentheses it is laid out exactly as ast.unparse lays it out;
  * running it on random integer inputs raises no NameError, UnboundLocalError, SyntaxError,
    TypeError or anything else but ZeroDivisionError (runs are cut off by a line budget and
    a size guard on integers, since loops and repeated multiplication are legal).

usage: cpython_oracle.py ASTCD_BINARY [--scale K]
"""
import ast
import json
import random
import subprocess
import sys

# (name, start, sampler, n, extra CLI flags). Every config is exercised with both starts
# that make sense for it; together they sample over 10,000 programs at --scale 1.
CASES = [
    ("default-module-uniform", "module", "uniform", 1500, []),
    ("default-function-weighted", "function", "weighted", 1500, []),
    ("loops-function-uniform", "function", "uniform", 1500,
     ["--config", '{"allow_loops":true,"max_control_depth":3}']),
    ("loops-module-weighted", "module", "weighted", 1500,
     ["--config", '{"allow_loops":true,"max_control_depth":3,"max_block_stmts":6}']),
    ("small-budget", "function", "uniform", 800, ["--max-len", "14"]),
    ("tiny-budget-loops", "module", "uniform", 500,
     ["--max-len", "9", "--config", '{"allow_loops":true}']),
    ("block-loops", "block", "uniform", 1000, ["--arity", "2", "--config", '{"allow_loops":true}']),
    ("block-weighted", "block", "weighted", 500, ["--arity", "1"]),
    ("expr", "expr", "uniform", 800, ["--arity", "3", "--max-new-tokens", "40"]),
    ("arity0-nolocals", "function", "uniform", 300,
     ["--config", '{"arities":[0],"max_locals":0,"allow_loops":true}']),
    ("flat", "function", "uniform", 300,
     ["--config", '{"max_expr_depth":1,"max_block_stmts":1,"max_control_depth":0}']),
    ("wide", "module", "weighted", 600,
     ["--max-new-tokens", "400", "--config",
      '{"arities":[4,5,6],"max_locals":10,"max_expr_depth":8,"const_range":[0,300],'
      '"max_block_stmts":8,"max_control_depth":4,"allow_loops":true}']),
    ("long-uniform-loops", "function", "uniform", 500,
     ["--max-new-tokens", "300", "--config",
      '{"allow_loops":true,"max_control_depth":4,"max_block_stmts":6,"max_locals":6}']),
]

FORBIDDEN = (NameError, SyntaxError, TypeError)  # UnboundLocalError is a NameError


class StepLimit(Exception):
    pass


class TooBig(Exception):
    pass


def sexpr(node):
    """CPython's AST in the S-expression form of core/codec.cc's AstToSexpr."""
    def lst(stmts):
        return "(" + " ".join(sexpr(s) for s in stmts) + ")"

    def op(o):
        return type(o).__name__

    t = type(node).__name__
    if isinstance(node, ast.Module):
        return "(Module" + "".join(" " + sexpr(f) for f in node.body) + ")"
    if isinstance(node, ast.FunctionDef):
        a = node.args
        assert not (a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults
                    or node.decorator_list or node.returns), ast.dump(node)
        return f"(FunctionDef {node.name} ({' '.join(x.arg for x in a.args)}) {lst(node.body)})"
    if isinstance(node, ast.Assign):
        assert len(node.targets) == 1
        return f"(Assign {sexpr(node.targets[0])} {sexpr(node.value)})"
    if isinstance(node, ast.AugAssign):
        return f"(AugAssign {op(node.op)} {sexpr(node.target)} {sexpr(node.value)})"
    if isinstance(node, ast.If):
        return f"(If {sexpr(node.test)} {lst(node.body)} {lst(node.orelse)})"
    if isinstance(node, ast.For):
        it = node.iter
        assert isinstance(it, ast.Call) and it.func.id == "range" and not node.orelse
        args = "".join(" " + sexpr(x) for x in it.args)
        return f"(For {sexpr(node.target)} (Call range{args}) {lst(node.body)})"
    if isinstance(node, ast.Return):
        return "(Return)" if node.value is None else f"(Return {sexpr(node.value)})"
    if isinstance(node, (ast.Pass, ast.Break, ast.Continue)):
        return f"({t})"
    if isinstance(node, ast.BinOp):
        return f"(BinOp {op(node.op)} {sexpr(node.left)} {sexpr(node.right)})"
    if isinstance(node, ast.Compare):
        assert len(node.ops) == 1, "chained comparison"
        return f"(Compare {op(node.ops[0])} {sexpr(node.left)} {sexpr(node.comparators[0])})"
    if isinstance(node, ast.BoolOp):
        return f"(BoolOp {op(node.op)}" + "".join(" " + sexpr(v) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp):
        return f"(UnaryOp {op(node.op)} {sexpr(node.operand)})"
    if isinstance(node, ast.IfExp):
        return f"(IfExp {sexpr(node.test)} {sexpr(node.body)} {sexpr(node.orelse)})"
    if isinstance(node, ast.Call):
        assert not node.keywords
        return f"(Call {node.func.id}" + "".join(" " + sexpr(a) for a in node.args) + ")"
    if isinstance(node, ast.Name):
        return f"(Name {node.id})"
    if isinstance(node, ast.Constant):
        assert type(node.value) is int, repr(node.value)
        return f"(Constant {node.value})"
    raise AssertionError(f"node outside the language: {t}")


def parse_sexpr(text):
    """An S-expression as nested lists of atoms."""
    stack = [[]]
    for atom in text.replace("(", " ( ").replace(")", " ) ").split():
        if atom == "(":
            stack.append([])
        elif atom == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(atom)
    return stack[0][0]


def show_sexpr(tree):
    return "(" + " ".join(show_sexpr(t) if isinstance(t, list) else t for t in tree) + ")"


def flatten_chains(tree):
    """`(BoolOp Or (BoolOp Or x y) z)` -> `(BoolOp Or x y z)`: a left-nested chain of one
    operator is CPython's one n-ary BoolOp. A right-nested one stays: `x or (y or z)`."""
    if not isinstance(tree, list):
        return tree
    tree = [flatten_chains(t) for t in tree]
    if tree[:1] == ["BoolOp"] and isinstance(tree[2], list) and tree[2][:2] == tree[:2]:
        return tree[2] + tree[3:]
    return tree


def flat(sexpr_text):
    """Our S-expression as CPython would give it (docs/language.md, section 3)."""
    return show_sexpr(flatten_chains(parse_sexpr(sexpr_text)))


def indent(src):
    return "".join("    " + line + "\n" for line in src.splitlines())


def as_module(start, source, arity):
    """Source of a module whose functions are what the program defines."""
    params = ", ".join(chr(ord("a") + i) for i in range(arity))
    if start in ("module", "function"):
        return source
    if start == "block":
        return f"def func({params}):\n{indent(source)}"
    return f"def func({params}):\n    return ({source})\n"


def our_tree(start, source, arity):
    """Parse the program as CPython would and return its S-expression."""
    if start == "expr":
        return sexpr(ast.parse(source, mode="eval").body)
    if start == "block":
        fn = ast.parse(as_module(start, source, arity)).body[0]
        return "(Body" + "".join(" " + sexpr(s) for s in fn.body) + ")"
    tree = ast.parse(source)
    if start == "function":
        assert len(tree.body) == 1
        return sexpr(tree.body[0])
    return sexpr(tree)


def redundant_parens(start, source, arity, tree):
    """Grouping parenthesis pairs whose removal leaves the same AST."""
    stack, pairs = [], []
    for i, ch in enumerate(source):
        if ch == "(":
            call = i > 0 and (source[i - 1].isalnum() or source[i - 1] == "_")
            stack.append((i, call))
        elif ch == ")":
            j, call = stack.pop()
            if not call:
                pairs.append((j, i))
    found = []
    for j, i in pairs:
        stripped = source[:j] + " " + source[j + 1:i] + " " + source[i + 1:]
        try:
            same = our_tree(start, stripped, arity) == tree
        except (SyntaxError, AssertionError):
            same = False
        if same:
            found.append(source[j:i + 1])
    return found


def without_parens(text):
    return text.replace("(", "").replace(")", "").strip()


def unparsed(start, source):
    mode = "eval" if start == "expr" else "exec"
    if start == "block":
        return ast.unparse(ast.parse(source)).strip()
    return ast.unparse(ast.parse(source, mode=mode)).strip()


def call_guarded(fn, args, max_lines=3000, max_bits=4096):
    lines = [0]

    def tracer(frame, event, arg):
        if event == "line":
            lines[0] += 1
            if lines[0] > max_lines:
                raise StepLimit()
            for v in frame.f_locals.values():
                if isinstance(v, int) and v.bit_length() > max_bits:
                    raise TooBig()
        return tracer

    sys.settrace(tracer)
    try:
        return fn(*args)
    finally:
        sys.settrace(None)


def run_checks(start, source, arity, rng):
    code = compile(as_module(start, source, arity), "<astcd>", "exec")
    namespace = {}
    exec(code, namespace)
    outcomes = []
    for name, fn in namespace.items():
        if not name.startswith("func"):
            continue
        for _ in range(4):
            args = [rng.choice([rng.randint(-20, 20), rng.randint(-2**31, 2**31 - 1), 0, 1])
                    for _ in range(fn.__code__.co_argcount)]
            try:
                outcomes.append(call_guarded(fn, args))
            except (ZeroDivisionError, StepLimit, TooBig) as e:
                outcomes.append(type(e).__name__)
            except FORBIDDEN as e:
                raise AssertionError(f"{name}{tuple(args)} raised {type(e).__name__}: {e}")
    return outcomes


def main():
    binary = sys.argv[1]
    scale = 1.0
    if "--scale" in sys.argv:
        scale = float(sys.argv[sys.argv.index("--scale") + 1])
    rng = random.Random(12345)
    passed = failed = chains = 0
    for case_index, (name, start, sampler, n, flags) in enumerate(CASES):
        n = max(1, int(n * scale))
        cmd = [binary, "sample", "--start", start, "--sampler", sampler, "--n", str(n),
               "--seed", str(1000 + case_index), "--sexpr"] + flags
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {name}: astcd exited {proc.returncode}: {proc.stderr}")
            failed += 1
            continue
        results = [json.loads(line) for line in proc.stdout.splitlines()]
        assert len(results) == n, (name, len(results))
        arity = int(flags[flags.index("--arity") + 1]) if "--arity" in flags else 0
        case_failed = 0
        for r in results:
            src = r["source"]
            try:
                assert r["complete"], f"incomplete program (stop_reason {r['stop_reason']})"
                assert r["tokens"][-1] == 1, "a complete result ends with EOS"
                theirs = our_tree(start, src, arity)
                ours = flat(r["sexpr"])
                assert theirs == ours, f"AST differs:\n ours  {ours}\n cpython {theirs}"
                chains += ours != r["sexpr"]
                extra = redundant_parens(start, src, arity, theirs)
                assert not extra, f"redundant parentheses: {extra}"
                assert without_parens(unparsed(start, src)) == without_parens(src), \
                    f"laid out unlike ast.unparse:\n{unparsed(start, src)}"
                run_checks(start, src, arity, rng)
                passed += 1
            except Exception as e:  # report and keep going, to show every kind of failure
                failed += 1
                case_failed += 1
                if case_failed <= 3:
                    print(f"FAIL {name} sample {r['sample_index']}: {e}\n--- source ---\n{src}")
        print(f"{name}: {len(results) - case_failed}/{len(results)} ok")
    print(f"programs checked against CPython: {passed + failed}")
    print(f"{passed} passed, {failed} failed; {chains} programs hold and/or chains")
    return 0 if failed == 0 and passed >= 10000 * scale and chains > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
