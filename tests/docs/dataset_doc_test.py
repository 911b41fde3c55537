#!/usr/bin/env python3
"""docs/dataset.md against the real CLI and server, so that the page cannot rot.

usage: dataset_doc_test.py ASTCD_SERVER ASTCD_CLI  (in a Python with astcd_client)

- Every line of a ```sh block that starts with "astcd " runs under bash in a scratch
  directory (with the real CLI) and must exit 0; run again with --server, it must print the
  same stdout and write the same --out file.
- The ```json row is, byte for byte, one of the rows its "A row of `...`" command prints, and
  the summary shown has exactly the keys a real summary has.
- The flags table names every flag `astcd --help` lists for dataset, and no other.
- Every ```python block is "# example: runnable" and exits 0 against the server (its asserts,
  which compare the rows with CPython, are the checks).
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_examples_test as examples  # noqa: E402

DOC = os.path.join(examples.ROOT, "docs", "dataset.md")
SERVER, CLI = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def sh(line, scratch):
    command = CLI + line[len("astcd"):]
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=scratch,
                          capture_output=True, text=True, timeout=600)


def out_file(line, scratch):
    words = shlex.split(line)
    if "--out" not in words:
        return None
    with open(os.path.join(scratch, words[words.index("--out") + 1])) as f:
        return f.read()


def check_commands(text, address, scratch):
    lines = [l.strip() for lang, body in examples.fenced_blocks(text) if lang == "sh"
             for l in body.splitlines() if l.strip().startswith("astcd ")]
    if len(lines) < 3:
        examples.fail(f"docs/dataset.md has {len(lines)} astcd commands; the quick start has 4")
    for line in lines:
        local = sh(line, scratch)
        if local.returncode != 0:
            examples.fail(f"{line[:100]}: exit {local.returncode}: {local.stderr[-500:]}")
            continue
        local_file = out_file(line, scratch)
        remote = sh(f"{line} --server {address}", scratch)
        if (remote.returncode, remote.stdout, out_file(line, scratch)) != (0, local.stdout,
                                                                          local_file):
            examples.fail(f"{line[:100]}: --server printed or wrote something else")
        print(f"sh: {line[:80]} ok", flush=True)


def check_row_and_summary(text, scratch):
    m = re.search(r"A row of `(astcd dataset [^`]*)`", text)
    rows = [body for lang, body in examples.fenced_blocks(text) if lang == "json"]
    if not m or len(rows) != 2:
        examples.fail("docs/dataset.md wants 'A row of `astcd dataset ...`' and two ```json "
                      "blocks (a row, a summary)")
        return
    p = sh(m.group(1), scratch)
    if rows[0].strip() not in p.stdout.splitlines():
        examples.fail(f"the ```json row is not a row of `{m.group(1)}`")
    documented = json.loads(rows[1])
    real = json.loads(p.stderr.splitlines()[-1])
    if set(documented) != set(real) or set(documented["dropped"]) != set(real["dropped"]):
        examples.fail(f"the summary shown has keys {sorted(documented)}, a real one "
                      f"{sorted(real)}")
    for key in list(real) + list(real["dropped"]):
        if f"`{key}`" not in text:
            examples.fail(f"docs/dataset.md does not explain the summary's `{key}`")


def check_flags(text):
    usage = subprocess.run([CLI, "--help"], capture_output=True, text=True).stdout
    lines = usage.splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith("  dataset "))
    end = next((i for i in range(first + 1, len(lines)) if re.match(r"^  [a-z]", lines[i])),
               len(lines))
    block = "\n".join(lines[first:end])
    cli_flags = set(re.findall(r"--[a-z-]+", block)) | {"--server"}
    table = examples.sections(text).get("Flags", "")
    doc_flags = set(re.findall(r"`(--[a-z-]+)", table))
    if cli_flags != doc_flags:
        examples.fail(f"the flags table and `astcd --help` differ: only in --help "
                      f"{sorted(cli_flags - doc_flags)}, only in the table "
                      f"{sorted(doc_flags - cli_flags)}")


def main():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    check_flags(text)
    runnable, files = examples.python_blocks(text)
    if files:
        examples.fail("docs/dataset.md has '# file:' blocks; its examples are programs")
    server, address = examples.start_server(SERVER)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            check_commands(text, address, scratch)
            check_row_and_summary(text, scratch)
            examples.check_python(runnable, address, scratch)
    finally:
        examples.stop_server(server)
    if examples.failures:
        print(f"{len(examples.failures)} failure(s)")
        sys.exit(1)
    print("docs/dataset.md: every example works")


if __name__ == "__main__":
    main()
