#!/usr/bin/env python3
"""`astcd audit` over the standard library of the machine's CPython.

It must finish without a crash, account for every top-level function CPython sees, and
report failures by stage with node types. Prints "N passed, M failed".
usage: audit_test.py ASTCD_BINARY
"""
import ast
import json
import os
import subprocess
import sys
import sysconfig

STAGES = {"python_parse", "unsupported_syntax", "name_normalization", "scope", "limits",
          "vocab_encode"}


def main():
    binary = sys.argv[1]
    stdlib = sysconfig.get_paths()["stdlib"]
    proc = subprocess.run([binary, "audit", "--json", stdlib], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    checks = []
    checks.append(("exit 0", proc.returncode == 0, proc.stderr[-2000:]))
    report = json.loads(proc.stdout) if proc.returncode == 0 else {}
    # What CPython counts: top-level (async) defs of the files it parses.
    files = functions = 0
    for root, _, names in os.walk(stdlib):
        for name in names:
            if not name.endswith(".py"):
                continue
            files += 1
            try:
                with open(os.path.join(root, name), "rb") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, ValueError):
                continue
            functions += sum(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                             for s in tree.body)
    if report:
        checks.append(("every .py file walked", report["files"] == files,
                       f"{report['files']} vs {files}"))
        # Files we fail to parse lose their functions; allow that small slack only.
        checks.append(("functions counted", functions * 0.97 <= report["functions"] <= functions,
                       f"{report['functions']} vs CPython's {functions}"))
        failed = report["functions"] - report["ok"]
        checks.append(("stages add up", sum(report["by_stage"].values()) == failed,
                       report["by_stage"]))
        checks.append(("stages are known", set(report["by_stage"]) <= STAGES, report["by_stage"]))
        checks.append(("some fit", report["ok"] > 0, report["ok"]))
        checks.append(("reasons have examples",
                       all(r["example"] for r in report["top_reasons"]), report["top_reasons"][:2]))
        print(json.dumps({k: report[k] for k in ("files", "files_unparsed", "functions", "ok")}))
    failed_checks = [c for c in checks if not c[1]]
    for name, _, detail in failed_checks:
        print(f"FAIL {name}: {detail}")
    print(f"{len(checks) - len(failed_checks)} passed, {len(failed_checks)} failed")
    return 1 if failed_checks else 0


if __name__ == "__main__":
    sys.exit(main())
