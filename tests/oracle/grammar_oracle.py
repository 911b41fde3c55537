#!/usr/bin/env python3
"""The grammar table's CPython columns against CPython's own `ast` module.

Every row of ASTCD_GRAMMAR (core/grammar.h) that names a CPython class must name a real one,
its operator column a real operator class, and each of its child field names must be a field
of that class (`If(expr test, stmt* body, stmt* orelse)`). Prints "N passed, M failed".
usage: grammar_oracle.py CORE_GRAMMAR_H
"""
import ast
import re
import sys


def rows(header):
    text = open(header).read()
    start = text.index("#define ASTCD_GRAMMAR(X)") + len("#define ASTCD_GRAMMAR(X)")
    table = text[start:text.index("enum class NodeKind")].replace("\\\n", " ").strip()
    for body in re.findall(r"\bX\((.*?)\)\s*(?=\bX\(|$)", table, re.S):
        cols = [c.strip() for c in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', body)]
        fields = re.findall(r'\w+\("(\w+)"\)', ", ".join(cols[13:]))
        yield cols[0], cols[5].strip('"'), cols[6].strip('"'), fields


def main():
    checks = []
    found = list(rows(sys.argv[1]))
    checks.append(("the table parses", len(found) > 40, len(found)))
    for name, py_class, py_op, fields in found:
        if not py_class:
            continue
        cls = getattr(ast, py_class, None)
        checks.append((f"{name}: ast.{py_class} exists", isinstance(cls, type), py_class))
        if py_op:
            checks.append((f"{name}: ast.{py_op} exists", isinstance(getattr(ast, py_op, None),
                                                                   type), py_op))
        for field in fields:
            checks.append((f"{name}: {field} is a field of ast.{py_class}",
                           field in getattr(cls, "_fields", ()), getattr(cls, "_fields", ())))
    failed = [c for c in checks if not c[1]]
    for what, _, detail in failed:
        print(f"FAIL {what}: {detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
