#!/usr/bin/env python3
"""docs/api.md's examples, run against a real astcd-server, so that they cannot rot.

usage: api_examples_test.py ASTCD_SERVER ASTCD_CLI REMOTE_WALK_EXAMPLE  (in a Python with astcd_client)

The test starts `ASTCD_SERVER --listen 127.0.0.1:0 --metrics-listen ""` and reads the address
from its first line ("astcd-server listening on HOST:PORT"). In every example the address
127.0.0.1:50051 stands for the server, and the test puts the real one in its place.

What docs/api.md must follow:

- Coverage. Each RPC of proto/astcd/v1/astcd.proto has a "### <RPC>" subsection that names
  (in backquotes) every field of its request and response messages. Every field of every other
  message is named somewhere on the page. (The server's flags are in docs/operations.md's
  table, which tests/server/flags_test.py holds against `astcd-server --help`.)
- C++. The "## C++" section holds exactly one ```cpp block, and it is the whole of
  client/examples/remote_walk.cc. The built example runs against the server: it must exit 0
  and print 8 JSON lines, one per program, whose sources CPython's ast.parse reads.
- Python. Every ```python block on the page starts with one of two marker lines:
    "# example: runnable"  the block is a whole program. It runs with this interpreter
                           (CTest gives the venv where astcd_client is pip-installed) and
                           must exit 0. Its asserts are the checks.
    "# file: NAME"         the rest of the block is written to NAME in a scratch directory,
                           where the CLI commands run.
- CLI. In the "## CLI" section, every line of a ```sh block that starts with "astcd " is a
  command and must contain --server. It runs under bash (with pipefail) in the scratch
  directory, with every "astcd" in command position replaced by ASTCD_CLI, and must exit 0.
  The same line without its "--server ADDR" must exit 0 and print the same stdout. Lines right
  after a command that start with "# " are its expected stdout, one line each, without "# ".

A failure names the example and what went wrong. The test exits 1 if anything failed.
"""
import ast
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DOC = os.path.join(ROOT, "docs", "api.md")
PROTO = os.path.join(ROOT, "proto", "astcd", "v1", "astcd.proto")
EXAMPLE_SOURCE = os.path.join(ROOT, "client", "examples", "remote_walk.cc")
PLACEHOLDER = "127.0.0.1:50051"

failures = []


def fail(what):
    failures.append(what)
    print("FAIL:", what, flush=True)


# ---------------------------------------------------------------------------------------------
# Reading the page


def sections(text):
    """{title: body} for each "## title" section."""
    out, title, body = {}, None, []
    for line in text.splitlines():
        if line.startswith("## "):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = line[3:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def subsections(text):
    """{title: body} for each "### title" subsection of a section's body."""
    out, title, body = {}, None, []
    for line in text.splitlines():
        if line.startswith("### "):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = line[4:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def fenced_blocks(text):
    """[(language, content)] for each ``` block, in order."""
    blocks, lang, body = [], None, []
    for line in text.splitlines():
        if lang is None:
            m = re.match(r"^```(\S*)\s*$", line)
            if m:
                lang, body = m.group(1), []
        elif line.strip() == "```":
            blocks.append((lang, "\n".join(body)))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        fail(f"an unclosed ```{lang} block")
    return blocks


def named(text, field):
    """True when `field` appears as a word inside some `...` span of text."""
    return any(re.search(rf"(?<![\w]){re.escape(field)}(?![\w])", span)
               for span in re.findall(r"`([^`\n]+)`", text))


# ---------------------------------------------------------------------------------------------
# The contract and the flags


def proto_contract():
    """(rpcs, fields): rpcs is [(name, request, response)], fields {message: [field names]}."""
    rpcs, fields, current = [], {}, None
    field_re = re.compile(r"^\s*(?:repeated\s+|optional\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+")
    with open(PROTO) as f:
        for line in f:
            line = line.split("//")[0]
            m = re.match(r"^\s*rpc (\w+)\((?:stream )?([\w.]+)\) returns \((?:stream )?([\w.]+)\)",
                         line)
            if m:
                rpcs.append(m.groups())
                continue
            m = re.match(r"^message (\w+) \{", line)
            if m:
                current = m.group(1)
                fields[current] = []
                continue
            if line.startswith("}"):
                current = None
                continue
            m = field_re.match(line)
            if current and m:
                fields[current].append(m.group(1))
    return rpcs, fields


def check_coverage(doc_sections):
    rpcs, fields = proto_contract()
    if len(rpcs) < 12:
        fail(f"read only {len(rpcs)} RPCs from {PROTO}")
    rpc_section = subsections(doc_sections.get("RPCs", ""))
    covered = set()
    for name, request, response in rpcs:
        body = rpc_section.get(name)
        if body is None:
            fail(f"coverage: no '### {name}' subsection under '## RPCs'")
            continue
        for message in (request, response):
            covered.add(message)
            for field in fields.get(message, []):
                if not named(body, field):
                    fail(f"coverage: '### {name}' does not name {message}.{field}")
    whole = "\n".join(doc_sections.values())
    for message, names in fields.items():
        if message in covered:
            continue
        for field in names:
            if not named(whole, field):
                fail(f"coverage: the page does not name {message}.{field}")


# ---------------------------------------------------------------------------------------------
# The server


def start_server(binary):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--metrics-listen", ""],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    line = ""
    while time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    m = re.match(r"astcd-server listening on (\S+:\d+)$", line.strip())
    if not m:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"FAIL: astcd-server did not say where it listens; stdout {line!r}, "
                         f"stderr {err[-2000:]!r}")
    return proc, m.group(1)


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("astcd-server did not stop within 60 s of SIGTERM")
        return
    if code != 0:
        fail(f"astcd-server exited {code} after SIGTERM")


# ---------------------------------------------------------------------------------------------
# The examples


def check_cpp(doc_sections, example_binary, address):
    blocks = [body for lang, body in fenced_blocks(doc_sections.get("C++", "")) if lang == "cpp"]
    with open(EXAMPLE_SOURCE) as f:
        source = f.read()
    if len(blocks) != 1:
        fail(f"C++: the section holds {len(blocks)} ```cpp blocks; it must hold exactly one")
    elif blocks[0].rstrip("\n") != source.rstrip("\n"):
        doc_lines, file_lines = blocks[0].splitlines(), source.rstrip("\n").splitlines()
        where = next((i for i, (a, b) in enumerate(zip(doc_lines, file_lines)) if a != b),
                     min(len(doc_lines), len(file_lines)))
        fail(f"C++: the ```cpp block is not client/examples/remote_walk.cc; first difference at "
             f"line {where + 1}")
    try:
        p = subprocess.run([example_binary, address], capture_output=True, text=True,
                           timeout=120)
    except subprocess.TimeoutExpired:
        fail("C++: remote_walk_example ran over 120 s")
        return
    if p.returncode != 0:
        fail(f"C++: remote_walk_example exited {p.returncode}: {p.stderr[-2000:]}")
        return
    lines = p.stdout.splitlines()
    if len(lines) != 8:
        fail(f"C++: remote_walk_example printed {len(lines)} lines, not 8: {p.stdout[:2000]}")
    for k, line in enumerate(lines):
        try:
            program = json.loads(line)
            ast.parse(program["source"])
        except (ValueError, KeyError, SyntaxError) as e:
            fail(f"C++: line {k + 1} of remote_walk_example: {e}: {line[:500]}")
            continue
        if program.get("program") != k:
            fail(f"C++: line {k + 1} is program {program.get('program')}")
        if program.get("status") not in ("ok", "zero_division", "overflow", "step_limit"):
            fail(f"C++: program {k} ended with {program.get('status')}")
        if not program["source"].startswith("def func(a, b):\n"):
            fail(f"C++: program {k} is not a function of (a, b): {program['source'][:200]}")
    print(f"C++: remote_walk_example printed {len(lines)} programs", flush=True)


def python_blocks(doc_text):
    """(runnable, files): the runnable programs, and {name: content} of the "# file:" blocks."""
    runnable, files = [], {}
    for k, (lang, body) in enumerate(b for b in fenced_blocks(doc_text) if b[0] == "python"):
        first, _, rest = body.partition("\n")
        if first.strip() == "# example: runnable":
            runnable.append(body)
        elif first.startswith("# file: "):
            files[first[len("# file: "):].strip()] = rest + "\n"
        else:
            fail(f"Python: block {k + 1} starts with {first!r}, not '# example: runnable' or "
                 f"'# file: NAME'")
    return runnable, files


def check_python(runnable, address, scratch):
    env = dict(os.environ)  # astcd_client is installed in the venv this test runs in
    if not runnable:
        fail("Python: no runnable example")
    for k, body in enumerate(runnable):
        path = os.path.join(scratch, f"example_{k + 1}.py")
        with open(path, "w") as f:
            f.write(body.replace(PLACEHOLDER, address) + "\n")
        first = next((l for l in body.splitlines()[1:] if l.strip()), "")
        try:
            p = subprocess.run([sys.executable, path], capture_output=True, text=True,
                               timeout=180, env=env, cwd=scratch)
        except subprocess.TimeoutExpired:
            fail(f"Python: example {k + 1} ran over 180 s")
            continue
        if p.returncode != 0:
            fail(f"Python: example {k + 1} (after {first!r}) exited {p.returncode}:\n"
                 f"{p.stderr[-3000:]}")
        else:
            print(f"Python: example {k + 1} ok", flush=True)


def cli_commands(cli_text):
    """[(line, expected stdout lines or None)] from the sh blocks of the CLI section."""
    commands = []
    for lang, body in fenced_blocks(cli_text):
        if lang != "sh":
            continue
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("astcd "):
                continue
            if "--server" not in line:
                fail(f"CLI: a command without --server cannot be checked: {line}")
                continue
            expected = []
            for after in lines[i + 1:]:
                if not after.startswith("# "):
                    break
                expected.append(after[2:])
            commands.append((line, expected or None))
    return commands


def check_cli(cli_text, cli, address, scratch):
    commands = cli_commands(cli_text)
    if not commands:
        fail("CLI: no command to run")
    quoted = shlex.quote(cli)

    def shell(line):
        cmd = re.sub(r"(^|\|\s*)astcd(?= )", lambda m: m.group(1) + quoted, line)
        try:
            return subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                                  timeout=300, cwd=scratch)
        except subprocess.TimeoutExpired:
            return None

    for line, expected in commands:
        remote = shell(line.replace(PLACEHOLDER, address))
        local = shell(re.sub(r"\s+--server\s+\S+", "", line))
        if remote is None or local is None:
            fail(f"CLI: ran over 300 s: {line}")
            continue
        if remote.returncode != 0:
            fail(f"CLI: exit {remote.returncode} with --server: {line}\n"
                 f"{remote.stderr.decode()[-2000:]}")
            continue
        if local.returncode != 0:
            fail(f"CLI: exit {local.returncode} in-process: {line}\n"
                 f"{local.stderr.decode()[-2000:]}")
            continue
        if remote.stdout != local.stdout:
            fail(f"CLI: stdout differs with and without --server: {line}\n"
                 f" remote: {remote.stdout[:500]!r}\n local: {local.stdout[:500]!r}")
            continue
        if expected is not None and remote.stdout.decode().splitlines() != expected:
            fail(f"CLI: the output is not the one the page shows: {line}\n"
                 f" page:   {expected}\n actual: {remote.stdout.decode().splitlines()}")
            continue
        print(f"CLI: ok: {line[:100]}", flush=True)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    server_binary, cli, example_binary = (os.path.abspath(a) for a in sys.argv[1:4])
    with open(DOC) as f:
        doc_text = f.read()
    doc_sections = sections(doc_text)
    for title in ("Running the server", "Sessions", "Masks", "RPCs", "Errors", "Limits",
                  "The vocabulary fingerprint", "C++", "Python", "CLI", "Deployment"):
        if title not in doc_sections:
            fail(f"docs/api.md has no '## {title}' section")
    check_coverage(doc_sections)
    runnable, files = python_blocks(doc_text)

    server, address = start_server(server_binary)
    print(f"astcd-server on {address}", flush=True)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for name, content in files.items():
                with open(os.path.join(scratch, name), "w") as f:
                    f.write(content)
            check_cpp(doc_sections, example_binary, address)
            check_python(runnable, address, scratch)
            check_cli(doc_sections.get("CLI", ""), cli, address, scratch)
    finally:
        stop_server(server)

    if failures:
        print(f"{len(failures)} failure(s)", flush=True)
        sys.exit(1)
    print("all examples of docs/api.md work", flush=True)


if __name__ == "__main__":
    main()
