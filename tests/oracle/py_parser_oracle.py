#!/usr/bin/env python3
"""Differential test of ParsePython (core/py_ast.h) against CPython's own parser.

Walks every .py file under a directory (default /usr/lib/python3.11), parses it with CPython's
`ast` (files CPython cannot parse are skipped) and with py_parser_dump (a binary built from
tests/oracle/py_parser_dump_main.cc), and compares the preorder sequence of stmt and expr nodes:
class name (Constants with their value's type, "Constant[str]"), lineno and col_offset. Helper
nodes (arguments, arg, keyword, alias, comprehension, withitem, excepthandler, match_case) are
left out but their children kept; expr_context and operator nodes and match patterns are left
out. Inside f-strings, CPython 3.11 places every Constant and FormattedValue at the start of
the whole string (and a format spec's JoinedStr at its own literal): those are compared too. Children are taken in source order on both sides.

Reports the first mismatch of every file that differs and the share of files that match
exactly; fails when that share is below --min-match (default 0.99).

usage: py_parser_oracle.py DUMP_BINARY [--root DIR] [--limit N] [--min-match F] [--partial]
"""
import argparse
import ast
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def node_label(node):
    name = type(node).__name__
    if isinstance(node, ast.Constant):
        name += "[%s]" % type(node.value).__name__
    return name


def compared_children(node, out):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.pattern):
            continue
        if isinstance(child, (ast.stmt, ast.expr)):
            out.append(child)
        else:
            compared_children(child, out)


def dump(node, out):
    out.append("%s %d %d" % (node_label(node), node.lineno, node.col_offset))
    kids = []
    compared_children(node, kids)
    kids.sort(key=lambda n: (n.lineno, n.col_offset))
    for k in kids:
        dump(k, out)


def cpython_lines(path):
    """The expected dump of one file, or None when CPython cannot parse it (or not UTF-8)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return path, "non-utf8"
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return path, None
    out = []
    kids = []
    compared_children(tree, kids)
    kids.sort(key=lambda n: (n.lineno, n.col_offset))
    for k in kids:
        dump(k, out)
    return path, out


def run_dump(binary, paths, flags=()):
    proc = subprocess.run([binary, *flags], input="\n".join(paths) + "\n", capture_output=True,
                          text=True, errors="replace", check=False)
    if proc.returncode != 0:
        raise SystemExit("py_parser_dump failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    result = {}
    current = None
    for line in proc.stdout.split("\n"):
        if line.startswith("=== "):
            current = line[4:]
            result[current] = []
        elif line and current is not None:
            result[current].append(line)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--root", default="/usr/lib/python3.11")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files (sorted)")
    ap.add_argument("--min-match", type=float, default=0.99)
    ap.add_argument("--partial", action="store_true",
                    help="parse in partial mode (complete files must give the same trees)")
    args = ap.parse_args()

    start = time.time()
    paths = []
    for dirpath, dirnames, filenames in os.walk(args.root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                paths.append(os.path.join(dirpath, name))
    if args.limit:
        paths = paths[:args.limit]

    workers = max(1, min(8, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        expected = dict(pool.map(cpython_lines, paths, chunksize=8))
        chunks = [paths[i::workers] for i in range(workers)]
        got = {}
        flags = ["--partial"] if args.partial else []
        for part in pool.map(run_dump, [args.binary] * workers, chunks, [flags] * workers):
            got.update(part)

    compared = matched = skipped = non_utf8 = nodes = 0
    mismatches = []
    lenient = []  # files CPython rejects that we accept
    for path in paths:
        exp = expected[path]
        if exp is None:
            skipped += 1
            mine = got.get(path, [])
            if not (mine and mine[0].startswith("ERROR ")):
                lenient.append(path)
            continue
        if exp == "non-utf8":
            non_utf8 += 1
            continue
        compared += 1
        nodes += len(exp)
        mine = got.get(path, ["ERROR 0 0 no output"])
        if mine == exp:
            matched += 1
            continue
        first = None
        for i in range(max(len(mine), len(exp))):
            a = exp[i] if i < len(exp) else "<end>"
            b = mine[i] if i < len(mine) else "<end>"
            if a != b:
                first = (i, a, b)
                break
        mismatches.append((path, first))

    for path, (i, a, b) in mismatches:
        print("MISMATCH %s: node %d: cpython %r, ours %r" % (path, i, a, b))
    for path in lenient:
        print("LENIENT %s: CPython rejects it, we accept it" % path)
    share = matched / compared if compared else 0.0
    print("py_parser oracle: %d/%d files match exactly (%.2f%%, %d nodes compared); %d skipped "
          "(CPython cannot parse them; we accept %d of them), %d skipped (not UTF-8); %.1f s"
          % (matched, compared, 100 * share, nodes, skipped, len(lenient), non_utf8,
             time.time() - start))
    if share < args.min_match:
        print("FAIL: below the required %.2f%%" % (100 * args.min_match))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
