"""End-to-end tests of `astcd show`, `astcd animate` and `astcd play` (cli/cli_visualize.cc).

Usage: python3 visualize_test.py /path/to/astcd [--write-golden]

Plain standard library; CPython (`ast`, `exec`) is the oracle for the programs, and the CLI's
own detokenize and sample are the references for frames. `--write-golden` rewrites
tests/cli/golden/show_*.txt from the binary (review the diff before committing it). Each check
is a function registered with @check; the script runs them all, prints one line per failure,
then "N passed, M failed", and exits non-zero if any failed.
"""

import ast
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

ASTCD = None  # set from argv in main()
TIMEOUT = 120
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
WRITE_GOLDEN = False
HOLES = ("<def>", "<stmt>", "<expr>", "<name>")
FRAME_KEYS = ["step", "token", "name", "num_legal", "source", "complete"]

# The golden inputs: token lists made by `astcd tokenize` from the programs beside them.
GOLDENS = {
    # def func(a, b):
    #     c = a + b
    #     if c > 3:
    #         return c * 2
    #     return -a
    "show_module.txt": {"tokens": [3, 5, 42, 21, 40, 41, 11, 30, 42, 50, 15, 23, 42, 49, 20, 15,
                                   34, 40, 20, 1]},
    # a * (b + 1), an EXPR of arity 2
    "show_expr.txt": {"tokens": [23, 40, 21, 41, 48, 1], "start": "expr", "arity": 2},
}

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def run(args, data=b"", env=None):
    return subprocess.run([ASTCD, *args], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)


def run_ok(args, data=b""):
    p = run(args, data)
    expect(p.returncode == 0, f"astcd {args} exited {p.returncode}: {p.stderr.decode()!r}")
    expect(p.stderr == b"", f"astcd {args} wrote to stderr: {p.stderr[:300]!r}")
    return p.stdout.decode("utf-8")


def jsonl(*objects):
    return "".join(json.dumps(o) + "\n" for o in objects).encode()


def detokenize(tokens_list, args=(), partial=False):
    """`astcd detokenize` of each token list (one call), as a list of sources."""
    flags = [*args, "--partial"] if partial else list(args)
    out = run_ok(["detokenize", *flags], jsonl(*({"tokens": t} for t in tokens_list)))
    results = [json.loads(line) for line in out.splitlines()]
    expect(all("source" in r for r in results), f"detokenize refused a list: {results}")
    return [r["source"] for r in results]


def sample(args):
    return json.loads(run_ok(["sample", *args]).splitlines()[0])


def frames_json(command_args, data=b""):
    """Runs a command with --json FILE and returns the parsed document and stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.json")
        out = run_ok([*command_args, "--json", path], data)
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        doc = json.loads(raw)
        check_schema(doc, f"astcd {command_args} --json", raw)
        return doc, out


def check_schema(doc, where, raw=None):
    """The JSON frames schema (docs/visualize.md); `raw`, the file's text, is json.dumps's."""
    if raw is not None:
        expect(raw == json.dumps(doc) + "\n",
               f"{where}: not as json.dumps writes it: {raw[:200]!r}")
    expect(list(doc) == ["version", "start", "arity", "tokens", "frames"],
           f"{where}: keys {list(doc)}")
    expect(doc["version"] == 1, f"{where}: version {doc['version']!r}")
    frames, tokens = doc["frames"], doc["tokens"]
    expect(len(frames) == len(tokens) + 1, f"{where}: {len(frames)} frames, {len(tokens)} tokens")
    names = {t["id"]: t["name"] for t in json.loads(run_ok(["vocab"]))["tokens"]}
    for k, f in enumerate(frames):
        expect(list(f) == FRAME_KEYS, f"{where}: frame {k} keys {list(f)}")
        expect(f["step"] == k, f"{where}: frame {k} has step {f['step']}")
        if k == 0:
            expect(f["token"] is None and f["name"] is None and f["num_legal"] is None,
                   f"{where}: frame 0 is not null-chosen: {f}")
        else:
            expect(f["token"] == tokens[k - 1], f"{where}: frame {k} token {f['token']}")
            expect(f["name"] == names[tokens[k - 1]], f"{where}: frame {k} name {f['name']}")
            expect(type(f["num_legal"]) is int and f["num_legal"] >= 1,
                   f"{where}: frame {k} num_legal {f['num_legal']!r}")
        has_hole = any(h in f["source"] for h in HOLES)
        expect(has_hole != f["complete"], f"{where}: frame {k} complete={f['complete']} "
               f"but holes={has_hole}: {f['source']!r}")


# --- show -------------------------------------------------------------------------------------

def last_frame_source(text):
    """The source of the last frame of show's plain output (after its last caption)."""
    blocks = re.split(r"^step \d+/\d+: .*\n", text, flags=re.M)
    return blocks[-1][:-1]  # frames end with a blank line


@check
def show_matches_the_golden_files():
    for name, record in GOLDENS.items():
        out = run_ok(["show"], jsonl(record))
        path = os.path.join(GOLDEN_DIR, name)
        if WRITE_GOLDEN:
            with open(path, "w", encoding="utf-8") as f:
                f.write(out)
        with open(path, encoding="utf-8") as f:
            golden = f.read()
        expect(out == golden, f"show of {name} differs from the golden:\n{out}")
        # The golden's last frame is the whole program, and CPython parses it.
        args = ["--start", record.get("start", "module")]
        if "arity" in record:
            args += ["--arity", str(record["arity"])]
        program = detokenize([record["tokens"]], args)[0]
        expect(last_frame_source(golden).rstrip("\n") == program.rstrip("\n"),
               f"{name}: last frame {last_frame_source(golden)!r} is not {program!r}")
        ast.parse(program, mode="eval" if record.get("start") == "expr" else "exec")
        expect(golden.count("step ") == len(record["tokens"]) + 1, f"{name}: frame count")


@check
def show_json_frames_are_detokenize_partial_of_each_prefix():
    cases = [(["--start", "function"], ["--seed", "4"]),
             (["--start", "module"], ["--seed", "7", "--config", '{"allow_loops": true}']),
             (["--start", "block", "--arity", "2"], ["--seed", "3"]),
             (["--start", "expr"], ["--seed", "9", "--sampler", "weighted"])]
    for start_args, sample_args in cases:
        config = sample_args[sample_args.index("--config"):][:2] if "--config" in sample_args \
            else []
        r = sample([*start_args, *sample_args])
        doc, _ = frames_json(["show", *start_args, *config], jsonl(r))
        where = f"show {start_args} of sample {sample_args}"
        check_schema(doc, where)
        expect(doc["tokens"] == r["tokens"], f"{where}: tokens differ")
        expect(doc["start"] == start_args[1], f"{where}: start {doc['start']!r}")
        prefixes = [r["tokens"][:k] for k in range(len(r["tokens"]) + 1)]
        sources = detokenize(prefixes, [*start_args, *config], partial=True)
        for k, (f, s) in enumerate(zip(doc["frames"], sources)):
            expect(f["source"] == s, f"{where}: frame {k} {f['source']!r} != {s!r}")
        expect(doc["frames"][-1]["source"] == r["source"], f"{where}: last frame is not sample's")


@check
def show_json_arity_is_the_given_one():
    doc, _ = frames_json(["show", "--start", "expr"], jsonl({"tokens": [40, 1]}))
    expect(doc["arity"] is None, f"expr without --arity: arity {doc['arity']!r}, not null")
    doc, _ = frames_json(["show"], jsonl({"tokens": [23, 40, 41, 1], "start": "expr",
                                          "arity": 3}))
    expect(doc["start"] == "expr" and doc["arity"] == 3,
           f"overrides: {doc['start']}, {doc['arity']}")
    doc, _ = frames_json(["show", "--start", "function"], jsonl({"tokens": [2]}))
    expect(doc["arity"] is None, f"function: arity {doc['arity']!r}")
    expect(doc["frames"][1]["num_legal"] == 3, f"def/N with arities 1..3: {doc['frames'][1]}")


@check
def show_refuses_bad_input():
    for data, culprit in [(jsonl({"tokens": [3, 20]}), "tokens[1]"),
                          (jsonl({"tokens": [2]}, {"tokens": [3]}), "--json"),
                          (b"{bad\n", "stdin:1"),
                          (jsonl({"tokens": [2], "start": "bogus"}), "start"),
                          (jsonl({"tokens": [2], "arity": 2}), "arity")]:
        with tempfile.TemporaryDirectory() as tmp:
            p = run(["show", "--json", os.path.join(tmp, "f.json")], data)
        err = p.stderr.decode()
        expect(p.returncode == 2, f"show of {data!r} exited {p.returncode}: {err!r}")
        expect(culprit in err, f"show of {data!r}: {err!r} does not name {culprit}")
        expect(p.stdout == b"", f"show of {data!r} printed {p.stdout[:100]!r}")


# --- animate ----------------------------------------------------------------------------------

ANIMATE_CASES = [
    ["--seed", "4"],
    ["--seed", "11", "--start", "function"],
    ["--seed", "5", "--start", "module", "--sampler", "weighted", "--config",
     '{"allow_loops": true, "max_functions": 2}'],
    ["--seed", "2", "--start", "expr", "--arity", "2"],
    ["--seed", "8", "--start", "block", "--max-len", "60"],
]


@check
def animate_is_deterministic_and_ends_with_samples_program():
    for args in ANIMATE_CASES:
        doc, out = frames_json(["animate", "--delay", "0", *args])
        where = f"animate {args}"
        check_schema(doc, where)
        again = run_ok(["animate", "--delay", "0", *args])
        expect(out == again, f"{where}: two runs differ")
        expect(b"\x1b" not in out.encode(), f"{where}: escape bytes without a terminal")
        r = sample(args)
        expect(doc["tokens"] == r["tokens"], f"{where}: tokens differ from sample's")
        expect(doc["frames"][-1]["source"] == r["source"], f"{where}: last frame is not sample's")
        expect(last_frame_source(out).rstrip("\n") == r["source"].rstrip("\n"),
               f"{where}: the printed last frame is not sample's program")
        expect(out.count("\nstep ") + 1 == len(r["tokens"]) + 1, f"{where}: frame count")
        ast.parse(r["source"], mode="eval" if "expr" in args else "exec")


# Python a hole can stand for, so that CPython can parse a partial program.
HOLE_FILLERS = {"<def>": "def f_():\n    pass", "<stmt>": "pass", "<expr>": "0", "<name>": "x_"}


@check
def every_partial_frame_parses_in_cpython_with_its_holes_filled():
    """The printer's partial output is Python but for its holes: parentheses, indentation and
    line breaks are right at every step, by CPython's parser rather than our own."""
    parsed = 0
    for start in ("module", "function", "block", "expr"):
        for config in ('{}', '{"allow_loops": true, "max_block_stmts": 3}'):
            for seed in range(1, 9):
                doc, _ = frames_json(["animate", "--delay", "0", "--start", start, "--seed",
                                      str(seed), "--sampler", "weighted", "--config", config])
                for f in doc["frames"]:
                    source = f["source"]
                    for hole, filler in HOLE_FILLERS.items():
                        source = source.replace(hole, filler)
                    try:
                        ast.parse(source, mode="eval" if start == "expr" else "exec")
                        parsed += 1
                    except SyntaxError as e:
                        expect(False, f"{start} seed {seed} frame {f['step']}: {e}\n{source}")
    expect(parsed > 500, f"only {parsed} frames parsed")


@check
def animate_matches_show_of_the_same_tokens():
    args = ["--seed", "11", "--start", "function"]
    doc, _ = frames_json(["animate", "--delay", "0", *args])
    shown, _ = frames_json(["show", "--start", "function"], jsonl({"tokens": doc["tokens"]}))
    expect(doc == shown, "animate's JSON frames differ from show's of the same tokens")


def run_on_terminal(args, env_extra=None, timeout=60):
    """Runs astcd with stdout on a pseudo-terminal; returns (exit status, all output)."""
    pid, fd = os.forkpty()
    if pid == 0:  # the child
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        env.update(env_extra or {})
        os.execve(ASTCD, [ASTCD, *args], env)
    out = read_all(fd, timeout)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def read_all(fd, timeout):
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@check
def animate_on_a_terminal_uses_colour_unless_no_color():
    code, out = run_on_terminal(["animate", "--seed", "11", "--start", "function", "--delay", "0"])
    expect(code == 0, f"exited {code}: {out[-300:]!r}")
    expect(b"\x1b[2J" in out, "no clear-screen between frames on a terminal")
    expect(b"\x1b[2m<" in out, "holes are not dimmed on a terminal")
    expect(b"\x1b[1;32m" in out, "no highlighted new text on a terminal")
    code, out = run_on_terminal(["animate", "--seed", "11", "--start", "function", "--delay",
                                 "0"], {"NO_COLOR": "1"})
    expect(code == 0 and b"\x1b" not in out, f"NO_COLOR: exit {code}, escapes in {out[:200]!r}")


@check
def animate_refuses_bad_flags():
    for args, culprit in [(["--delay", "-1"], "--delay"), (["--delay", "x"], "--delay"),
                          (["--sampler", "greedy"], "greedy"), (["--max-len", "0"], "--max-len"),
                          (["--arity", "2"], "--arity")]:
        p = run(["animate", *args])
        err = p.stderr.decode()
        expect(p.returncode == 2 and culprit in err, f"animate {args}: {p.returncode} {err!r}")


# --- SVG --------------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


@check
def svg_has_one_group_per_frame_with_the_frames_text():
    for command, data in [(["animate", "--delay", "0", "--seed", "7",
                            "--config", '{"allow_loops": true}'], b""),
                          (["show"], jsonl(GOLDENS["show_module.txt"])),
                          (["show"], jsonl(GOLDENS["show_expr.txt"]))]:
        with tempfile.TemporaryDirectory() as tmp:
            svg_path, json_path = os.path.join(tmp, "f.svg"), os.path.join(tmp, "f.json")
            run_ok([*command, "--svg", svg_path, "--json", json_path], data)
            with open(json_path, encoding="utf-8") as f:
                doc = json.load(f)
            with open(svg_path, "rb") as f:
                raw = f.read()
        root = ET.fromstring(raw)
        where = f"{command} --svg"
        expect(root.tag == SVG + "svg", f"{where}: root is {root.tag}")
        expect(b"<script" not in raw and b"href" not in raw, f"{where}: scripts or references")
        groups = [g for g in root.iter(SVG + "g") if g.get("class") == "frame"]
        expect(len(groups) == len(doc["tokens"]) + 1,
               f"{where}: {len(groups)} frame groups for {len(doc['tokens'])} tokens")
        for k, (g, frame) in enumerate(zip(groups, doc["frames"])):
            expect(g.get("data-step") == str(k),
                   f"{where}: group {k} data-step {g.get('data-step')}")
            lines = ["".join(t.itertext()) for t in g.iter(SVG + "text")
                     if t.get("class") == "line"]
            expect("\n".join(lines) == frame["source"].removesuffix("\n"),
                   f"{where}: frame {k} text {lines!r} != {frame['source']!r}")
            expect(len(doc["tokens"]) == 0 or g.find(SVG + "animate") is not None,
                   f"{where}: frame {k} has no animation")
            holes = ["".join(t.itertext()) for t in g.iter(SVG + "tspan")
                     if t.get("class") == "hole"]
            expect(sorted(holes) == sorted(re.findall(r"<(?:def|stmt|expr|name)>",
                                                      frame["source"])),
                   f"{where}: frame {k} greys {holes} as holes")


# --- help -------------------------------------------------------------------------------------

COMMAND_FLAGS = {
    "show": ["--json", "--svg", "--start", "--arity", "--max-len", "--config"],
    "animate": ["--seed", "--delay", "--sampler", "--start", "--config", "--max-len", "--json",
                "--svg", "--server"],
    "play": ["--seed", "--start", "--config", "--arity"],
    "sample": ["--n", "--seed", "--stop-at", "--server"],
    "detokenize": ["--partial", "--server"],
    "audit": ["--json"],
}


@check
def each_command_answers_help_with_its_flags():
    top = run_ok(["--help"])
    for command, flags in COMMAND_FLAGS.items():
        out = run_ok([command, "--help"])
        expect(out.startswith(f"usage: astcd {command} "), f"{command} --help: {out[:80]!r}")
        for flag in flags:
            expect(flag in out, f"{command} --help does not mention {flag}: {out!r}")
        expect(re.search(rf"^  {command} ", top, re.M), f"astcd --help does not list {command}")
    expect("--server HOST:PORT" in top, "astcd --help does not mention --server")
    expect("show" not in run_ok(["sample", "--help"]), "sample --help lists other commands")


# --- play -------------------------------------------------------------------------------------

class Terminal:
    """astcd play on a pseudo-terminal: type lines, wait for prompts."""

    def __init__(self, args):
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:
            os.execv(ASTCD, [ASTCD, "play", *args])
        self.buffer = ""

    def read_until(self, pattern, timeout=30):
        """Reads until the output since the last call matches `pattern`; returns that output."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.buffer):
            left = deadline - time.monotonic()
            expect(left > 0, f"no {pattern!r} within {timeout}s; got {self.buffer[-800:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                expect(data, f"play ended waiting for {pattern!r}: {self.buffer[-800:]!r}")
                self.buffer += data.decode("utf-8").replace("\r\n", "\n")
        out, self.buffer = self.buffer, ""
        return out

    def type(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def finish(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    os.read(self.fd, 65536)
                except OSError:
                    pass
        os.kill(self.pid, signal.SIGKILL)
        raise CheckFailed("play did not exit")


MENU_PROMPT = r"\n> $"


def screen(text):
    """(partial source, menu {name: number}) of the last screen of play in `text`."""
    screens = re.findall(r"^step \d+: \d+ legal [^\n]*\n(.*?)^legal:\n(.*?)\n> $", text,
                         re.S | re.M)
    expect(screens, f"no menu in {text[-800:]!r}")
    source, menu = screens[-1]
    rows = [line for line in menu.splitlines() if re.match(r"  \d", line)]  # not a message
    entries = [e for row in rows for e in re.findall(r"(\d+) (\S+)", row)]
    return source, {name: int(number) for number, name in entries}


def choose(menu, step):
    """A short program: an assignment first, then whatever closes soonest."""
    order = ["=", "c"] if step == 1 else []
    for name in order + ["<eos>", "end", "return", "a", "b", "1"]:
        if name in menu:
            return name
    return min(menu, key=menu.get)


@check
def play_a_program_to_the_end_with_one_undo():
    term = Terminal(["--seed", "3", "--start", "function"])
    text = term.read_until(MENU_PROMPT)
    source, menu = screen(text)
    expect(source.strip() == "<def>", f"the first screen shows {source!r}")
    term.type("def/2")  # by name
    step, undone = 1, False
    while True:
        text = term.read_until(r"(\n> $)|(comma-separated\): $)")
        if "arguments for" in text:
            break
        source, menu = screen(text)
        name = choose(menu, step)
        by_number = step % 2 == 1 or name.isdigit()
        choice = str(menu[name]) if by_number else name
        if step == 3 and not undone:
            term.type(choice)
            term.read_until(MENU_PROMPT)
            term.type("u")
            again = term.read_until(MENU_PROMPT)
            expect(screen(again) == (source, menu),
                   f"after u the screen is {screen(again)} not {(source, menu)}")
            undone = True
        term.type(choice)
        step += 1
        expect(step < 60, "the program did not finish in 60 steps")
    expect(undone, "the session ended before the undo")
    program = text[text.index("program:\n") + 9:text.index("arguments for")]
    tree = ast.parse(program)
    expect(re.search(r"arguments for func\(a, b\)", text), f"not func(a, b): {text!r}")
    term.type("x")  # not integers: a message, then the question again
    bad = term.read_until(r"comma-separated\): $")
    expect("integers" in bad, f"no message for bad arguments: {bad!r}")
    term.type("7, -3")
    result = term.read_until(r"another\? \[y/N\] $")
    namespace = {}
    exec(compile(tree, "<play>", "exec"), namespace)
    try:
        expected = f"returned {namespace['func'](7, -3)!r}"
    except ZeroDivisionError:
        expected = "stopped: zero_division"
    expect(f"func(7, -3) {expected}" in result, f"outcome {result!r}, CPython: {expected}")
    term.type("n")
    code = term.finish()
    expect(code == 0, f"play exited {code}")


@check
def play_finishes_with_the_sampler_and_plays_again():
    term = Terminal(["--seed", "5"])
    term.read_until(MENU_PROMPT)
    term.type("r")
    text = term.read_until(r"comma-separated\): $")
    program = text[text.index("program:\n") + 9:text.index("arguments for")]
    ast.parse(program)
    params = re.search(r"arguments for \w+\(([^)]*)\)", text).group(1)
    term.type(",".join("2" for _ in params.split(", ") if params))
    term.read_until(r"another\? \[y/N\] $")
    term.type("y")
    source, _ = screen(term.read_until(MENU_PROMPT))
    expect(source.strip() == "<def>", f"another game starts with {source!r}")
    term.type("q")
    expect(term.finish() == 0, "q did not exit 0")


@check
def play_takes_garbage_and_exits_cleanly_at_eof():
    term = Terminal(["--start", "expr"])
    first = term.read_until(MENU_PROMPT)
    for garbage, message in [("xyz", "neither"), ("999", "no choice"), ("", "neither"),
                             ("u", "nothing to undo"), ("end", "not legal")]:
        term.type(garbage)
        text = term.read_until(MENU_PROMPT)
        expect(message in text, f"{garbage!r}: no {message!r} in {text!r}")
        expect(screen(text) == screen(first), f"{garbage!r} changed the screen")
    os.write(term.fd, b"\x04")  # end of input on a terminal
    expect(term.finish() == 0, "EOF on a terminal did not exit 0")
    # And from a pipe: every line refused, then end of input.
    p = run(["play"], b"nonsense\n0\n")
    expect(p.returncode == 0, f"play from a pipe exited {p.returncode}: {p.stderr!r}")
    out = p.stdout.decode()
    expect("neither" in out and "no choice" in out, f"no messages: {out[-400:]!r}")


def main():
    global ASTCD, WRITE_GOLDEN
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ASTCD = sys.argv[1]
    WRITE_GOLDEN = "--write-golden" in sys.argv[2:]
    failed = 0
    for fn in CHECKS:
        try:
            fn()
        except Exception as e:  # a crash is a failure of that check, not of the run
            failed += 1
            detail = str(e) if isinstance(e, CheckFailed) else traceback.format_exc()
            print(f"FAIL {fn.__name__}: {detail}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
