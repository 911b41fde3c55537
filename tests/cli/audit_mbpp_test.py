#!/usr/bin/env python3
"""`astcd audit` and Tokenize's ranking of failures over MBPP, with CPython as the oracle.

MBPP is read-only test input outside the project (../shared/corpora/mbpp/mbpp.jsonl next to
the source tree, or the path given as the second argument). When it is absent the test says
so and exits 77, which CTest reports as skipped.

Checks, per top-level function (docs/language.md, section 10, "Which failure is reported"):
- `limits` means a bigger config admits it: the widest config does (and CPython's AST of it
  holds no list, subscript, string, attribute or call to anything but abs/min/max);
- `unsupported_syntax` names a construct CPython's AST of the function really holds;
and the audit's tally accounts for every function. Prints "N passed, M failed".
usage: audit_mbpp_test.py ASTCD_BINARY [MBPP_JSONL]
"""
import ast
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
WIDEST = {"arities": [0, 1, 2, 3, 4, 5, 6], "max_locals": 20, "max_expr_depth": 16,
          "max_block_stmts": 64, "max_control_depth": 8, "allow_loops": True}


def default_corpus():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "..", "shared", "corpora", "mbpp", "mbpp.jsonl")


def functions(tasks):
    """(source, CPython AST) of every top-level def, in corpus order."""
    out = []
    for code in tasks:
        tree = ast.parse(code)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                out.append((ast.get_source_segment(code, node), node))
    return out


def widest_for(node):
    ints = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and type(n.value) is int]
    lo = min(ints) if ints else 0
    lo = max(0, min(lo, (1 << 20) - 1023))
    return json.dumps(dict(WIDEST, const_range=[lo, lo + 1023]))


def tokenize(binary, sources, config):
    stdin = "".join(json.dumps({"source": s}) + "\n" for s in sources)
    proc = subprocess.run([binary, "tokenize", "--jsonl", "--start", "function", "--config",
                           config, "--max-len", "65536"], input=stdin, capture_output=True,
                          text=True, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def holds(node, node_type):
    """Whether CPython's AST of a function holds the construct a node_type names."""
    name = node_type.split("[")[0].split(".")[0]
    if name in ("FunctionDef", "arguments", "arg"):
        return True
    if node_type == "For.iter":
        return any(isinstance(n, ast.For) for n in ast.walk(node))
    return any(type(n).__name__ == name for n in ast.walk(node))


OUTSIDE = (ast.List, ast.Subscript, ast.Attribute, ast.Dict, ast.Tuple, ast.Set)


def outside_the_language(node):
    for n in ast.walk(node):
        if isinstance(n, OUTSIDE) or (isinstance(n, ast.Constant) and isinstance(n.value, str)
                                      and n is not getattr(node.body[0], "value", None)):
            return type(n).__name__
        if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in
                                            ("abs", "min", "max", "range")):
            return "Call"
    return None


def main():
    binary = sys.argv[1]
    corpus = sys.argv[2] if len(sys.argv) > 2 else default_corpus()
    if not os.path.exists(corpus):
        print(f"SKIP: no MBPP corpus at {corpus}")
        return SKIP
    with open(corpus) as f:
        tasks = [json.loads(line)["code"] for line in f]
    checks = []
    funcs = functions(tasks)
    results = tokenize(binary, [s for s, _ in funcs], "{}")
    checks.append(("one result per function", len(results) == len(funcs),
                   f"{len(results)} vs {len(funcs)}"))
    limits = [(s, n) for (s, n), r in zip(funcs, results)
              if not r["ok"] and r["error"]["stage"] == "limits"]
    for source, node in limits:
        wide = tokenize(binary, [source], widest_for(node))[0]
        checks.append((f"limits is admitted by the widest config: {source[:60]!r}", wide["ok"],
                       wide.get("error")))
        construct = outside_the_language(node)
        checks.append((f"limits holds nothing outside the language: {source[:60]!r}",
                       construct is None, construct))
    for (source, node), r in zip(funcs, results):
        if not r["ok"] and r["error"]["stage"] == "unsupported_syntax":
            t = r["error"]["node_type"]
            checks.append((f"CPython's AST holds {t}: {source[:60]!r}", holds(node, t), t))
    # The audit over the same functions, one file per task.
    with tempfile.TemporaryDirectory() as d:
        for i, code in enumerate(tasks):
            with open(os.path.join(d, f"task{i:04d}.py"), "w") as f:
                f.write(code)
        proc = subprocess.run([binary, "audit", "--json", d], capture_output=True, text=True)
        checks.append(("audit exit 0", proc.returncode == 0, proc.stderr[-2000:]))
        report = json.loads(proc.stdout) if proc.returncode == 0 else {}
    if report:
        checks.append(("audit counts every function", report["functions"] == len(funcs),
                       f"{report['functions']} vs CPython's {len(funcs)}"))
        checks.append(("audit limits as tokenize",
                       report["by_stage"].get("limits", 0) == len(limits),
                       f"{report['by_stage']} vs {len(limits)}"))
        checks.append(("stages add up",
                       sum(report["by_stage"].values()) == report["functions"] - report["ok"],
                       report["by_stage"]))
        print(json.dumps({k: report[k] for k in ("functions", "ok", "by_stage")}))
    failed = [c for c in checks if not c[1]]
    for name, _, detail in failed[:20]:
        print(f"FAIL {name}: {detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
