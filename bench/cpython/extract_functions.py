#!/usr/bin/python3
"""Extracts the source of every top-level function of a Python corpus into one file.

Both sides of the Tokenize benchmark (bench/tokenize_bench.cc and bench/cpython/worker.py)
read this file, so they work on exactly the same byte strings.

The functions are those `astcd audit` counts (cli/cli_audit.cc, core TokenizeFunctions):
every `def` and `async def` directly in the module body of every .py file under the paths,
files sorted by path, functions in file order. A file that CPython cannot parse is skipped
(the audit counts it as "did not parse"). A function's source runs from its first decorator
(or its `def`) to its end (end_lineno, end_col_offset, which are UTF-8 byte offsets), cut
from the file's bytes and ended with a newline. Top-level statements start at column 0, so no
dedent is needed.

Output format (binary; every record is self-delimiting, the sources are raw UTF-8 bytes):
  line 1: "astcd-function-sources 1\\n"
  per function: "<nbytes>\\t<compiles>\\t<file>\\t<line>\\t<name>\\n" then <nbytes> bytes
  of source then "\\n". <compiles> is 1 if compile(source, file, "exec") succeeds (CPython's
  compile-time SyntaxErrors included), else 0; <line> is the `def` line in the file.

usage: extract_functions.py OUT PATH... [--every K]   (--every K keeps every K-th function)
"""
import argparse
import ast
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from sources import write_sources  # noqa: E402


def python_files(paths):
    files = []
    for path in paths:
        if os.path.isfile(path):
            files.append(path)
            continue
        if not os.path.isdir(path):
            sys.exit(f"extract_functions: no such file or directory: {path}")
        for dirpath, _, names in os.walk(path):
            for name in names:
                if name.endswith(".py"):
                    files.append(os.path.join(dirpath, name))
    # The audit sorts std::string paths bytewise; so does sorting the UTF-8 encodings.
    return sorted(files, key=lambda p: os.fsencode(p))


def functions(path):
    """(source bytes, def line, name) of each top-level function of the file, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        tree = ast.parse(data, filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    lines = data.splitlines(keepends=True)  # \n, \r\n and \r, as CPython counts lines
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        body = b"".join(lines[first - 1:node.end_lineno - 1])
        last = lines[node.end_lineno - 1][:node.end_col_offset]
        out.append((body + last + b"\n", node.lineno, node.name))
    return out


def compiles(source, path):
    try:
        compile(source, path, "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    count = 0
    files = unparsed = 0
    records = []
    for path in python_files(args.paths):
        files += 1
        funcs = functions(path)
        if funcs is None:
            unparsed += 1
            continue
        for source, line, name in funcs:
            count += 1
            if (count - 1) % args.every == 0:
                records.append((source, compiles(source, path), path, line, name))
    write_sources(args.out, records)
    print(f"extract_functions: {files} files ({unparsed} did not parse), {count} functions",
          file=sys.stderr)


if __name__ == "__main__":
    main()
