"""End-to-end tests of the `astcd` command-line tool.

Usage: python3 cli_test.py /path/to/astcd

Plain standard library. Each check is a small function registered with @check; the script runs
them all, prints one line per failure, then a final line "N passed, M failed", and exits
non-zero if any check failed.
"""

import ast
import json
import os
import pty
import re
import subprocess
import sys
import tempfile
import threading
import traceback

ASTCD = None  # set from argv in main()
TIMEOUT = 120

# Keys every `sample` line must have, and the ones it may have besides.
SAMPLE_KEYS = {"input_index", "sample_index", "tokens", "source", "complete", "stop_reason"}
OPTIONAL_SAMPLE_KEYS = {"sexpr"}

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def run(*args, **kwargs):
    """Runs astcd with `args`; stdin is /dev/null, stdout and stderr are captured as bytes."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([ASTCD, *args], stdin=subprocess.DEVNULL, timeout=TIMEOUT, **kwargs)


def run_input(args, data):
    """Runs astcd with `args` and `data` (bytes) on stdin; stdout and stderr are captured."""
    return subprocess.run([ASTCD, *args], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT)


def run_ok(*args):
    """Runs astcd, expects exit 0 and an empty stderr, returns stdout as text."""
    p = run(*args)
    expect(p.returncode == 0,
           f"astcd {' '.join(args)} exited {p.returncode}; stderr: {p.stderr.decode(errors='replace')!r}")
    expect(p.stderr == b"", f"astcd {' '.join(args)} wrote to stderr: {p.stderr[:300]!r}")
    return p.stdout.decode("utf-8")


def vocab(*args):
    return json.loads(run_ok("vocab", *args))


def sample_lines(*args):
    """Runs `astcd sample args` and returns the parsed JSON Lines (checking the framing)."""
    out = run_ok("sample", *args)
    expect(out.endswith("\n"), "sample output does not end with a newline")
    lines = out.split("\n")[:-1]
    results = []
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CheckFailed(f"line {i} is not JSON ({e}): {line[:200]!r}")
        expect(isinstance(obj, dict), f"line {i} is not a JSON object: {line[:200]!r}")
        results.append(obj)
    return results


_default_vocab = None


def default_vocab():
    global _default_vocab
    if _default_vocab is None:
        _default_vocab = vocab()
    return _default_vocab


def check_result_shape(r, where):
    keys = set(r)
    missing = SAMPLE_KEYS - keys
    extra = keys - SAMPLE_KEYS - OPTIONAL_SAMPLE_KEYS
    expect(not missing, f"{where}: missing keys {sorted(missing)}")
    expect(not extra, f"{where}: unexpected keys {sorted(extra)}")
    expect(type(r["input_index"]) is int, f"{where}: input_index is not an integer")
    expect(type(r["sample_index"]) is int, f"{where}: sample_index is not an integer")
    expect(isinstance(r["tokens"], list) and all(type(t) is int for t in r["tokens"]),
           f"{where}: tokens is not a list of integers")
    expect(isinstance(r["source"], str), f"{where}: source is not a string")
    expect(type(r["complete"]) is bool, f"{where}: complete is not a bool")
    expect(isinstance(r["stop_reason"], str), f"{where}: stop_reason is not a string")


def check_complete(r, where, vocab_json):
    """A finished result: complete, stopped at EOS, ends with exactly one EOS, no PAD."""
    eos, pad, n = vocab_json["eos_id"], vocab_json["pad_id"], vocab_json["vocab_size"]
    expect(r["complete"] is True, f"{where}: complete is {r['complete']!r}")
    expect(r["stop_reason"] == "eos", f"{where}: stop_reason is {r['stop_reason']!r}")
    toks = r["tokens"]
    expect(toks and toks[-1] == eos, f"{where}: tokens do not end with eos_id {eos}: {toks[-5:]}")
    expect(eos not in toks[:-1], f"{where}: eos_id appears before the end")
    expect(pad not in toks, f"{where}: pad_id appears in tokens")
    expect(all(0 <= t < n for t in toks), f"{where}: token id outside [0, {n})")


def parse_python(source, where, mode="exec"):
    try:
        return ast.parse(source, mode=mode)
    except SyntaxError as e:
        raise CheckFailed(f"{where}: source does not parse as Python ({e}): {source!r}")


def expect_usage_error(args, culprits):
    """astcd `args` must exit 2, print nothing on stdout, and name every culprit on stderr."""
    p = run(*args)
    err = p.stderr.decode("utf-8", errors="replace")
    expect(p.returncode == 2, f"astcd {args} exited {p.returncode}, not 2; stderr: {err!r}")
    expect(p.stdout == b"", f"astcd {args} wrote to stdout: {p.stdout[:200]!r}")
    expect(err.strip() != "", f"astcd {args} printed no message on stderr")
    for c in culprits:
        expect(c in err, f"astcd {args}: stderr does not name {c!r}: {err!r}")


# ---------------------------------------------------------------------------------------------
# vocab


@check
def vocab_is_json_with_documented_keys():
    v = default_vocab()
    expect(isinstance(v, dict), "vocab output is not a JSON object")
    for key in ("fingerprint", "vocab_size", "pad_id", "eos_id", "tokens"):
        expect(key in v, f"vocab output lacks {key!r}")
    expect(isinstance(v["tokens"], list) and v["tokens"], "tokens is not a non-empty list")
    for t in v["tokens"]:
        expect(isinstance(t, dict) and set(t) >= {"id", "name", "kind"},
               f"token entry lacks id/name/kind: {t!r}")
        expect(isinstance(t["name"], str) and t["name"], f"token name is not a string: {t!r}")
        expect(isinstance(t["kind"], str) and t["kind"], f"token kind is not a string: {t!r}")


@check
def vocab_output_is_one_line_and_stderr_empty():
    out = run_ok("vocab")
    expect(out.endswith("\n") and out.count("\n") == 1, "vocab output is not exactly one line")


@check
def vocab_ids_are_dense_and_in_order():
    ids = [t["id"] for t in default_vocab()["tokens"]]
    expect(ids == list(range(len(ids))), f"ids are not 0..n-1 in order: {ids[:10]}...")


@check
def vocab_names_are_unique():
    names = [t["name"] for t in default_vocab()["tokens"]]
    expect(len(set(names)) == len(names), "token names are not unique")


@check
def vocab_pad_and_eos_point_at_specials():
    v = default_vocab()
    toks = v["tokens"]
    expect(toks[v["pad_id"]]["name"] == "<pad>", f"pad_id {v['pad_id']} is {toks[v['pad_id']]!r}")
    expect(toks[v["eos_id"]]["name"] == "<eos>", f"eos_id {v['eos_id']} is {toks[v['eos_id']]!r}")
    expect(v["pad_id"] != v["eos_id"], "pad_id == eos_id")


@check
def vocab_size_matches_tokens():
    v = default_vocab()
    expect(v["vocab_size"] == len(v["tokens"]),
           f"vocab_size {v['vocab_size']} != {len(v['tokens'])} tokens")


@check
def vocab_fingerprint_is_16_hex_digits():
    fp = default_vocab()["fingerprint"]
    expect(isinstance(fp, str) and re.fullmatch(r"[0-9a-f]{16}", fp),
           f"fingerprint {fp!r} is not 16 lowercase hex digits")


@check
def vocab_is_stable_across_runs():
    a, b = run_ok("vocab"), run_ok("vocab")
    expect(a == b, "two vocab runs differ")


@check
def vocab_config_changing_tokens_changes_fingerprint():
    base = default_vocab()
    for cfg in ('{"const_range": [0, 5]}', '{"arities": [1, 2]}', '{"max_locals": 2}'):
        v = vocab("--config", cfg)
        expect(v["tokens"] != base["tokens"], f"--config {cfg} did not change the tokens")
        expect(v["fingerprint"] != base["fingerprint"],
               f"--config {cfg} changed the tokens but not the fingerprint")
        expect(v["vocab_size"] == len(v["tokens"]), f"--config {cfg}: vocab_size mismatch")
    # The constants follow const_range: 0..5 is six constant tokens, 0..9 ten.
    v = vocab("--config", '{"const_range": [0, 5]}')
    expect(base["vocab_size"] - v["vocab_size"] == 4,
           f"const_range [0,5] should drop 4 tokens: {base['vocab_size']} -> {v['vocab_size']}")


@check
def vocab_config_not_touching_tokens_keeps_fingerprint():
    base = default_vocab()
    for cfg in ('{"max_expr_depth": 7}', '{"max_block_stmts": 9}', '{}'):
        v = vocab("--config", cfg)
        expect(v == base, f"--config {cfg} changed the vocab output")
    a = vocab("--config", '{"const_range": [2, 30]}')
    b = vocab("--config=" + '{"const_range": [2, 30]}')
    expect(a == b, "--config VALUE and --config=VALUE disagree")


# ---------------------------------------------------------------------------------------------
# sample


@check
def sample_function_50_lines_are_well_formed():
    v = default_vocab()
    results = sample_lines("--start", "function", "--n", "50", "--seed", "1")
    expect(len(results) == 50, f"{len(results)} lines, not 50")
    for i, r in enumerate(results):
        where = f"line {i}"
        check_result_shape(r, where)
        expect(r["input_index"] == 0, f"{where}: input_index {r['input_index']}")
        expect(r["sample_index"] == i, f"{where}: sample_index {r['sample_index']}")
        check_complete(r, where, v)
        tree = parse_python(r["source"], where)
        defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        expect(len(defs) == 1 and len(tree.body) == 1 and tree.body[0] is defs[0],
               f"{where}: not exactly one top-level FunctionDef: {r['source']!r}")
        expect(defs[0].name == "func", f"{where}: function is named {defs[0].name!r}")


@check
def sample_same_seed_is_byte_identical():
    a = run_ok("sample", "--start", "function", "--n", "50", "--seed", "1")
    b = run_ok("sample", "--start", "function", "--n", "50", "--seed", "1")
    expect(a == b, "two runs with seed 1 differ")


@check
def sample_different_seed_differs():
    a = run_ok("sample", "--start", "function", "--n", "50", "--seed", "1")
    b = run_ok("sample", "--start", "function", "--n", "50", "--seed", "2")
    expect(a != b, "seeds 1 and 2 give identical output")


@check
def sample_threads_do_not_change_output():
    base = run_ok("sample", "--start", "function", "--n", "300", "--seed", "7", "--threads", "1")
    for t in ("2", "4"):
        out = run_ok("sample", "--start", "function", "--n", "300", "--seed", "7", "--threads", t)
        expect(out == base, f"--threads {t} output differs from --threads 1")


@check
def sample_chunking_does_not_change_results():
    small = run_ok("sample", "--start", "function", "--n", "100", "--seed", "1").splitlines()
    big = run_ok("sample", "--start", "function", "--n", "5000", "--seed", "1").splitlines()
    expect(len(small) == 100, f"--n 100 gave {len(small)} lines")
    expect(len(big) == 5000, f"--n 5000 gave {len(big)} lines")
    expect(big[:100] == small, "the first 100 lines of --n 5000 differ from --n 100")
    # Past the first chunk, sample indices still run on contiguously.
    idx = [json.loads(line)["sample_index"] for line in big]
    expect(idx == list(range(5000)), "sample_index of --n 5000 is not 0..4999 in order")


@check
def sample_start_module():
    v = default_vocab()
    results = sample_lines("--start", "module", "--n", "40", "--seed", "3")
    expect(len(results) == 40, f"{len(results)} lines, not 40")
    for i, r in enumerate(results):
        where = f"module line {i}"
        check_result_shape(r, where)
        check_complete(r, where, v)
        tree = parse_python(r["source"], where)
        names = [n.name for n in tree.body]
        expect(all(isinstance(n, ast.FunctionDef) for n in tree.body),
               f"{where}: module holds a non-function: {r['source']!r}")
        expect(1 <= len(names) <= 3, f"{where}: {len(names)} functions (default max 3)")
        want = ["func"] + [f"func{k}" for k in range(1, len(names))]
        expect(names == want, f"{where}: functions are named {names}, not {want}")


@check
def sample_default_start_is_module():
    a = run_ok("sample", "--n", "5", "--seed", "4")
    b = run_ok("sample", "--start", "module", "--n", "5", "--seed", "4")
    expect(a == b, "sample without --start differs from --start module")


@check
def sample_start_block_with_arity_2():
    v = default_vocab()
    results = sample_lines("--start", "block", "--arity", "2", "--n", "40", "--seed", "5")
    expect(len(results) == 40, f"{len(results)} lines, not 40")
    for i, r in enumerate(results):
        where = f"block line {i}"
        check_result_shape(r, where)
        check_complete(r, where, v)
        body = "".join("    " + line + "\n" for line in r["source"].splitlines())
        tree = parse_python("def func(a, b):\n" + body, where)
        expect(len(tree.body) == 1, f"{where}: block did not stay inside the function")
        tree = parse_python(r["source"], where)
        expect(not any(isinstance(n, ast.FunctionDef) for n in ast.walk(tree)),
               f"{where}: a block holds a def: {r['source']!r}")


@check
def sample_start_expr_with_arity_1():
    v = default_vocab()
    results = sample_lines("--start", "expr", "--arity", "1", "--n", "40", "--seed", "6")
    expect(len(results) == 40, f"{len(results)} lines, not 40")
    for i, r in enumerate(results):
        where = f"expr line {i}"
        check_result_shape(r, where)
        check_complete(r, where, v)
        tree = parse_python(r["source"], where, mode="eval")
        callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in callees}
        expect(names <= {"a"}, f"{where}: an arity-1 expression uses {sorted(names)}")


@check
def sample_weighted_sampler():
    v = default_vocab()
    results = sample_lines("--start", "function", "--n", "30", "--seed", "1", "--sampler", "weighted")
    expect(len(results) == 30, f"{len(results)} lines, not 30")
    for i, r in enumerate(results):
        where = f"weighted line {i}"
        check_result_shape(r, where)
        expect(r["sample_index"] == i, f"{where}: sample_index {r['sample_index']}")
        check_complete(r, where, v)
        parse_python(r["source"], where)
    uniform = run_ok("sample", "--start", "function", "--n", "30", "--seed", "1")
    weighted = run_ok("sample", "--start", "function", "--n", "30", "--seed", "1",
                      "--sampler", "weighted")
    expect(uniform != weighted, "--sampler weighted gives the same output as uniform")
    again = run_ok("sample", "--start", "function", "--n", "30", "--seed", "1",
                   "--sampler", "weighted")
    expect(again == weighted, "--sampler weighted is not deterministic")


@check
def sample_max_new_tokens_cuts_results_short():
    eos = default_vocab()["eos_id"]
    results = sample_lines("--start", "function", "--n", "30", "--seed", "1",
                           "--max-new-tokens", "5", "--max-len", "100")
    expect(len(results) == 30, f"{len(results)} lines, not 30")
    incomplete = 0
    for i, r in enumerate(results):
        where = f"line {i}"
        check_result_shape(r, where)
        # A function start has no prefix: every token is a new one.
        expect(len(r["tokens"]) <= 5, f"{where}: {len(r['tokens'])} tokens > 5")
        if r["tokens"] and r["tokens"][-1] == eos:
            # Finished within the cap (e.g. def/1 return <eos>).
            expect(r["complete"] and r["stop_reason"] == "eos",
                   f"{where}: ends with eos but complete={r['complete']!r}, "
                   f"stop_reason={r['stop_reason']!r}")
        else:
            # Cut off by the cap. `complete` says whether the tokens already form a whole
            # program (one that only lacks its EOS); most do not.
            expect(r["stop_reason"] == "max_new_tokens",
                   f"{where}: cut short with stop_reason {r['stop_reason']!r}")
            expect(eos not in r["tokens"], f"{where}: cut short but holds eos")
            expect(len(r["tokens"]) == 5, f"{where}: stopped after {len(r['tokens'])} tokens")
            if r["complete"]:
                parse_python(r["source"], where)
            else:
                incomplete += 1
    expect(incomplete >= 20, f"only {incomplete} of 30 results were cut short")


@check
def sample_config_reaches_the_decoder():
    v = vocab("--config", '{"const_range": [0, 2]}')
    results = sample_lines("--start", "function", "--n", "40", "--seed", "2",
                           "--config", '{"const_range": [0, 2]}')
    for i, r in enumerate(results):
        where = f"line {i}"
        check_complete(r, where, v)
        tree = parse_python(r["source"], where)
        consts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        expect(consts <= {0, 1, 2}, f"{where}: constants {sorted(consts)} outside [0, 2]")


@check
def sample_sexpr_adds_optional_key():
    results = sample_lines("--start", "function", "--n", "5", "--seed", "1", "--sexpr")
    for i, r in enumerate(results):
        check_result_shape(r, f"line {i}")
        expect(isinstance(r.get("sexpr"), str) and r["sexpr"].startswith("("),
               f"line {i}: no sexpr with --sexpr")
    plain = sample_lines("--start", "function", "--n", "5", "--seed", "1")
    for i, (a, b) in enumerate(zip(results, plain)):
        expect("sexpr" not in b, f"line {i}: sexpr without --sexpr")
        del a["sexpr"]
        expect(a == b, f"line {i}: --sexpr changed the result")


@check
def sample_stderr_is_empty_when_a_pipe():
    # 3000 samples is well past the progress bar's threshold; stderr is a pipe, so no bar.
    p = run("sample", "--n", "3000", "--seed", "1")
    expect(p.returncode == 0, f"exited {p.returncode}")
    expect(p.stderr == b"", f"stderr is not empty: {p.stderr[:200]!r}")
    expect(p.stdout.count(b"\n") == 3000, "stdout does not hold 3000 lines")


@check
def sample_progress_bar_on_a_terminal():
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([ASTCD, "sample", "--n", "3000", "--seed", "1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    finally:
        os.close(slave)
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the child has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise CheckFailed("astcd sample under a terminal timed out")
    reader.join(timeout=10)
    os.close(master)
    tty = b"".join(chunks).decode("utf-8", errors="replace")
    expect(proc.returncode == 0, f"exited {proc.returncode}; terminal: {tty[-300:]!r}")
    expect("3000/3000" in tty, f"no progress bar ending in 3000/3000 on the terminal: {tty[-300:]!r}")
    expect("[" in tty and "#" in tty, f"progress bar has no bar: {tty[-300:]!r}")
    lines = out.decode("utf-8").splitlines()
    expect(len(lines) == 3000, f"stdout holds {len(lines)} lines, not 3000")
    for i in (0, 1499, 2999):
        r = json.loads(lines[i])
        expect(r["sample_index"] == i, f"stdout line {i} has sample_index {r['sample_index']}")
    expect("3000/3000" not in out.decode("utf-8"), "the progress bar leaked into stdout")
    # Same results as without a terminal.
    piped = run_ok("sample", "--n", "3000", "--seed", "1")
    expect(out.decode("utf-8") == piped, "stdout under a terminal differs from a piped run")


# ---------------------------------------------------------------------------------------------
# usage errors: exit 2, a message naming the culprit on stderr, nothing on stdout


@check
def error_unknown_config_key():
    expect_usage_error(["vocab", "--config", '{"bogus": 1}'], ["bogus"])
    expect_usage_error(["sample", "--config", '{"max_expr_depth": 4, "bogus": 1}'], ["bogus"])


@check
def error_out_of_range_config_value():
    expect_usage_error(["sample", "--config", '{"max_expr_depth": 99}'], ["max_expr_depth"])
    expect_usage_error(["vocab", "--config", '{"max_expr_depth": 99}'], ["max_expr_depth"])
    expect_usage_error(["vocab", "--config", '{"const_range": [5, 2]}'], ["const_range"])
    expect_usage_error(["vocab", "--config", '{"arities": [7]}'], ["arities"])
    expect_usage_error(["vocab", "--config", '{"max_locals": 4294967300}'], ["max_locals"])


@check
def error_wrong_config_type():
    expect_usage_error(["vocab", "--config", '{"max_expr_depth": "4"}'], ["max_expr_depth"])
    expect_usage_error(["vocab", "--config", '{"allow_loops": 1}'], ["allow_loops"])
    expect_usage_error(["vocab", "--config", '[1, 2]'], ["config"])


@check
def error_malformed_config_json():
    expect_usage_error(["vocab", "--config", '{bad'], ["--config"])
    expect_usage_error(["sample", "--config", '{"max_expr_depth": 4,}'], ["--config"])
    expect_usage_error(["sample", "--config", ''], ["--config"])


@check
def error_unknown_flag():
    expect_usage_error(["sample", "--frobnicate", "1"], ["frobnicate"])
    expect_usage_error(["vocab", "--frobnicate", "1"], ["frobnicate"])
    expect_usage_error(["vocab", "--n", "5"], ["--n"])  # a sample flag is not a vocab flag


@check
def error_unknown_subcommand():
    expect_usage_error(["frobnicate"], ["frobnicate"])
    expect_usage_error(["--n", "5"], ["--n"])


@check
def error_no_subcommand():
    p = run()
    expect(p.returncode == 2, f"astcd with no arguments exited {p.returncode}")
    expect(p.stdout == b"", "astcd with no arguments wrote to stdout")
    expect(b"usage" in p.stderr, f"no usage on stderr: {p.stderr[:200]!r}")


@check
def help_goes_to_stdout():
    p = run("--help")
    expect(p.returncode == 0, f"astcd --help exited {p.returncode}")
    expect(b"usage" in p.stdout and b"sample" in p.stdout, "astcd --help printed no usage")


@check
def error_bad_start():
    expect_usage_error(["sample", "--start", "nonsense"], ["nonsense"])
    expect_usage_error(["sample", "--start", "Function"], ["Function"])


@check
def error_bad_sampler():
    expect_usage_error(["sample", "--sampler", "greedy"], ["greedy"])


@check
def error_non_integer_n():
    expect_usage_error(["sample", "--n", "abc"], ["--n", "abc"])
    expect_usage_error(["sample", "--n", "1.5"], ["--n", "1.5"])
    expect_usage_error(["sample", "--n", ""], ["--n"])
    expect_usage_error(["sample", "--seed", "x1"], ["--seed", "x1"])


@check
def error_n_out_of_range():
    expect_usage_error(["sample", "--n", "0"], ["--n"])
    expect_usage_error(["sample", "--n", "-3"], ["--n"])
    expect_usage_error(["sample", "--n", "10000001"], ["--n"])


@check
def error_flag_without_value():
    expect_usage_error(["sample", "--n"], ["--n"])
    expect_usage_error(["vocab", "--config"], ["--config"])


@check
def error_stray_argument():
    expect_usage_error(["sample", "extra"], ["extra"])


@check
def error_bad_policy():
    expect_usage_error(["sample", "--sampler", "weighted", "--policy", '{"bogus": 1}'], ["bogus"])


@check
def error_arity_not_configured():
    expect_usage_error(["sample", "--start", "block", "--arity", "5"], ["arity"])


@check
def error_integer_flag_overflow_is_refused():
    # Values beyond int range must be refused, not silently wrapped: 2^32 + 5 is not 5.
    expect_usage_error(["sample", "--start", "function", "--max-new-tokens", "4294967301",
                        "--max-len", "100"], ["4294967301"])
    expect_usage_error(["sample", "--start", "function", "--max-len", "4294967396"],
                       ["4294967396"])
    expect_usage_error(["sample", "--start", "block", "--arity", "4294967298"], ["4294967298"])


# ---------------------------------------------------------------------------------------------
# tokenize, detokenize, run, audit: shared helpers

TOKENIZE_KEYS = {"input", "ok", "tokens", "start", "complete", "normalized_source", "error"}
TOKENIZE_ERROR_KEYS = {"stage", "message", "line", "column", "node_type"}
STAGES = {"python_parse", "unsupported_syntax", "name_normalization", "scope", "limits",
          "vocab_encode"}
RUN_KEYS = {"status", "value", "steps", "message"}
OPTIONAL_RUN_KEYS = {"locals", "trace"}
RUN_STATUSES = {"ok", "zero_division", "overflow", "step_limit", "invalid_program"}

SIMPLE_SOURCE = "def f(x, y):\n    z = x * y\n    return z + 1\n"
SIMPLE_NORMALIZED = "def func(a, b):\n    c = a * b\n    return c + 1\n"
ATTRIBUTE_SOURCE = "def f(x):\n    return x.real\n"
# A sum over a loop; tokenizes only with allow_loops.
LOOP_SOURCE = "def f(x, y):\n    s = 0\n    for i in range(x):\n        s += y\n    return s\n"
LOOPS_ON = '{"allow_loops": true}'


def as_bytes(data):
    return data if isinstance(data, bytes) else data.encode("utf-8")


def simple_tokens():
    """SIMPLE_SOURCE's tokens."""
    return toks("def/2", "=", "c", "*", "a", "b", "return", "+", "c", "1", "end", "<eos>")


def run_ok_input(args, data):
    """Runs astcd with `data` on stdin; expects exit 0 and an empty stderr; returns stdout."""
    p = run_input(args, as_bytes(data))
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 0, f"astcd {' '.join(args)} exited {p.returncode}; stderr: {err!r}")
    expect(p.stderr == b"", f"astcd {' '.join(args)} wrote to stderr: {p.stderr[:300]!r}")
    return p.stdout.decode("utf-8")


def json_lines(out, what):
    """Parses JSON Lines output, checking that every line is one JSON object."""
    expect(out == "" or out.endswith("\n"), f"{what}: output does not end with a newline")
    results = []
    for i, line in enumerate(out.split("\n")[:-1]):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CheckFailed(f"{what}: line {i} is not JSON ({e}): {line[:200]!r}")
        expect(isinstance(obj, dict), f"{what}: line {i} is not a JSON object: {line[:200]!r}")
        results.append(obj)
    return results


def tok(name):
    """The id of the default vocabulary's token `name`."""
    ids = {t["name"]: t["id"] for t in default_vocab()["tokens"]}
    expect(name in ids, f"no token named {name!r} in the vocabulary")
    return ids[name]


def toks(*names):
    return [tok(n) for n in names]


def write(directory, name, content):
    path = os.path.join(directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(as_bytes(content))
    return path


def check_tokenize_shape(r, where):
    keys = set(r)
    expect(keys == TOKENIZE_KEYS, f"{where}: keys {sorted(keys)}, not {sorted(TOKENIZE_KEYS)}")
    expect(isinstance(r["input"], str), f"{where}: input is not a string")
    expect(type(r["ok"]) is bool, f"{where}: ok is not a bool")
    expect(isinstance(r["tokens"], list) and all(type(t) is int for t in r["tokens"]),
           f"{where}: tokens is not a list of integers")
    expect(r["start"] in ("module", "function", "block", "expr"), f"{where}: start {r['start']!r}")
    expect(type(r["complete"]) is bool, f"{where}: complete is not a bool")
    if r["ok"]:
        expect(r["error"] is None, f"{where}: ok but error is {r['error']!r}")
        expect(isinstance(r["normalized_source"], str), f"{where}: ok without normalized_source")
        return
    expect(r["normalized_source"] is None, f"{where}: failed but has a normalized_source")
    expect(r["complete"] is False, f"{where}: failed but complete")
    e = r["error"]
    expect(isinstance(e, dict) and set(e) == TOKENIZE_ERROR_KEYS,
           f"{where}: error is not an object with {sorted(TOKENIZE_ERROR_KEYS)}: {e!r}")
    expect(e["stage"] in STAGES, f"{where}: unknown stage {e['stage']!r}")
    expect(isinstance(e["message"], str) and e["message"], f"{where}: empty error message")
    expect(type(e["line"]) is int and type(e["column"]) is int, f"{where}: line/column not ints")
    expect(isinstance(e["node_type"], str), f"{where}: node_type is not a string")


def tokenize_lines(*args, data=None):
    """Runs `astcd tokenize args` (with `data` on stdin, if given) and checks every line."""
    out = run_ok("tokenize", *args) if data is None else run_ok_input(["tokenize", *args], data)
    results = json_lines(out, "tokenize")
    for i, r in enumerate(results):
        check_tokenize_shape(r, f"tokenize line {i}")
    return results


def tokenize_one(source, *flags):
    """Tokenizes one source given on stdin."""
    results = tokenize_lines(*flags, "-", data=source)
    expect(len(results) == 1, f"tokenize of one source printed {len(results)} lines")
    expect(results[0]["input"] == "stdin", f"input is {results[0]['input']!r}, not 'stdin'")
    return results[0]


def expect_tokenize_error(r, stage, node_type, line, column, where):
    expect(r["ok"] is False, f"{where}: ok is {r['ok']!r}")
    e = r["error"]
    got = (e["stage"], e["node_type"], e["line"], e["column"])
    expect(got == (stage, node_type, line, column),
           f"{where}: error (stage, node_type, line, column) is {got}, not "
           f"{(stage, node_type, line, column)}; message {e['message']!r}")


def python_position(source, node_class):
    """(lineno, col_offset) of the first `node_class` node CPython's parser finds in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, node_class):
            return node.lineno, node.col_offset
    raise CheckFailed(f"no {node_class.__name__} in {source!r}")


def token_list_lines(command, flags, token_lists):
    """Runs `astcd command flags` on one {"tokens": ...} line per list; one result per line."""
    data = "".join(json.dumps({"tokens": t}) + "\n" for t in token_lists)
    results = json_lines(run_ok_input([command, *flags], data), command)
    expect(len(results) == len(token_lists),
           f"{command} printed {len(results)} lines for {len(token_lists)} inputs")
    return results


def detokenize_lines(flags, token_lists):
    """Runs `astcd detokenize flags` on one {"tokens": ...} line per list."""
    results = token_list_lines("detokenize", flags, token_lists)
    for i, r in enumerate(results):
        expect(set(r) in ({"source"}, {"error", "position"}),
               f"detokenize line {i}: keys {sorted(r)}")
        if "source" in r:
            expect(isinstance(r["source"], str), f"detokenize line {i}: source is not a string")
        else:
            expect(isinstance(r["error"], str) and r["error"], f"detokenize line {i}: bad error")
            expect(type(r["position"]) is int, f"detokenize line {i}: position is not an int")
    return results


def run_lines(*args):
    """Runs `astcd run args` and checks the shape of every line."""
    results = json_lines(run_ok("run", *args), "run")
    for i, r in enumerate(results):
        where = f"run line {i}"
        keys = set(r)
        expect(RUN_KEYS <= keys <= RUN_KEYS | OPTIONAL_RUN_KEYS, f"{where}: keys {sorted(keys)}")
        expect(r["status"] in RUN_STATUSES, f"{where}: status {r['status']!r}")
        expect(r["value"] is None or type(r["value"]) in (bool, int),
               f"{where}: value {r['value']!r}")
        expect(type(r["steps"]) is int and r["steps"] >= 0, f"{where}: steps {r['steps']!r}")
        expect(isinstance(r["message"], str), f"{where}: message is not a string")
        expect((r["message"] == "") == (r["status"] == "ok"),
               f"{where}: status {r['status']!r} with message {r['message']!r}")
        if r["status"] != "ok":
            expect(r["value"] is None, f"{where}: status {r['status']!r} with a value")
    return results


def python_call(source, args):
    """CPython's result for the last function `source` defines (the oracle for run)."""
    namespace = {}
    exec(compile(source, "<normalized>", "exec"), namespace)
    names = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return namespace[names[-1]](*args)


def same_value(a, b):
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------------------------
# tokenize


@check
def tokenize_simple_function():
    r = tokenize_one(SIMPLE_SOURCE)
    expect(r["ok"] is True, f"not ok: {r['error']!r}")
    expect(r["start"] == "module", f"start {r['start']!r}")
    expect(r["complete"] is True, "a whole function is not complete")
    expect(r["normalized_source"] == SIMPLE_NORMALIZED,
           f"normalized_source {r['normalized_source']!r}")
    want = simple_tokens()
    expect(r["tokens"] == want, f"tokens {r['tokens']}, not {want}")


@check
def tokenize_file_and_stdin_agree():
    sources = [SIMPLE_SOURCE, ATTRIBUTE_SOURCE, b"def f(x):\n    return \xff\n",
               "def g(a):\n    if a:\n        return 1\n    return 0\n", ""]
    with tempfile.TemporaryDirectory() as d:
        for i, source in enumerate(sources):
            path = write(d, f"s{i}.py", source)
            (from_file,) = tokenize_lines(path)
            (from_stdin,) = tokenize_lines("-", data=source)
            expect(from_file["input"] == path, f"input {from_file['input']!r}, not {path!r}")
            expect(from_stdin["input"] == "stdin", f"input {from_stdin['input']!r}, not 'stdin'")
            del from_file["input"], from_stdin["input"]
            expect(from_file == from_stdin, f"source {i}: the file and stdin results differ")


@check
def tokenize_several_files_one_line_each_in_order():
    with tempfile.TemporaryDirectory() as d:
        files = (("c", SIMPLE_SOURCE), ("a", ATTRIBUTE_SOURCE), ("b", "def f(a):\n    return a\n"))
        paths = {name: write(d, name + ".py", src) for name, src in files}
        order = [paths["c"], paths["a"], paths["b"], paths["a"]]
        results = tokenize_lines(*order)
        expect([r["input"] for r in results] == order,
               f"inputs {[r['input'] for r in results]}, not the arguments in order {order}")
        for path, r in zip(order, results):
            (alone,) = tokenize_lines(path)
            expect(r == alone, f"{path}: differs from tokenizing it alone")
        expect([r["ok"] for r in results] == [True, False, True, False],
               f"ok flags {[r['ok'] for r in results]}")


@check
def tokenize_jsonl_several_objects():
    sources = [SIMPLE_SOURCE, ATTRIBUTE_SOURCE, "x\n", "def g(a, b):\n    return min(a, b)\n"]
    lines = [json.dumps({"source": s}) for s in sources]
    text = lines[0] + "\n" + lines[1] + "\n\n" + lines[2] + "\n" + lines[3] + "\n"  # line 3 blank
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "in.jsonl", text)
        results = tokenize_lines("--jsonl", path)
        want_inputs = [f"{path}:1", f"{path}:2", f"{path}:4", f"{path}:5"]
        expect([r["input"] for r in results] == want_inputs,
               f"inputs {[r['input'] for r in results]}, not {want_inputs}")
        from_stdin = tokenize_lines("--jsonl", "-", data=text)
        expect([r["input"] for r in from_stdin] == ["stdin:1", "stdin:2", "stdin:4", "stdin:5"],
               f"stdin inputs {[r['input'] for r in from_stdin]}")
    for source, r, s in zip(sources, results, from_stdin):
        alone = tokenize_one(source)
        for x in (r, s, alone):
            del x["input"]
        expect(r == alone and s == alone, f"--jsonl result for {source!r} differs from a plain run")
    expect([r["ok"] for r in results] == [True, False, False, True],
           f"ok flags {[r['ok'] for r in results]}")
    # The flags apply to every object.
    exprs = tokenize_lines("--jsonl", "--start", "expr", "--arity", "2", "-",
                           data='{"source": "a + b"}\n{"source": "max(a, 1)"}\n')
    expect([r["start"] for r in exprs] == ["expr", "expr"] and all(r["ok"] for r in exprs),
           f"--start expr over --jsonl: {exprs}")
    expect([r["normalized_source"] for r in exprs] == ["a + b", "max(a, 1)"],
           f"normalized {[r['normalized_source'] for r in exprs]}")


@check
def tokenize_tokens_detokenize_to_normalized_source():
    cases = [
        ([], SIMPLE_SOURCE),
        ([], '"""Module doc."""\n\ndef first(x):\n    """Doc."""\n    return -abs(x)\n\n\n'
             'def second(p, q, r):\n    if p < q and not r:\n        t = max(p, q) // 2\n'
             '    else:\n        t = min(q, r) % 3\n    t *= 4\n    return t if t != 7 else p\n'),
        (["--config", LOOPS_ON],
         'def f(n):\n    """doc"""\n    t = 0\n    for i in range(1, n):\n'
         '        if i % 3 == 0 or i % 5 == 0:\n            t += i\n        else:\n'
         '            continue\n    return t\n'),
        (["--start", "block", "--arity", "2"], "c = a - b\nif c >= 0:\n    return c\nreturn -c\n"),
        (["--start", "expr", "--arity", "3"], "(a + b) * c - (a - (b - c))"),
    ]
    for flags, source in cases:
        r = tokenize_one(source, *flags)
        expect(r["ok"], f"{source!r} did not tokenize: {r['error']!r}")
        (d,) = detokenize_lines(flags, [r["tokens"]])  # --config, --start, --arity
        expect(d == {"source": r["normalized_source"]},
               f"detokenize of {source!r}'s tokens gives {d!r}, not {r['normalized_source']!r}")
        again = tokenize_one(r["normalized_source"], *flags)
        expect(again["tokens"] == r["tokens"] and
               again["normalized_source"] == r["normalized_source"],
               f"tokenizing the normalized source of {source!r} is not a fixed point")


@check
def tokenize_partial_prompt_open_expression():
    prompt = "def func(a, b):\n    c = a +"
    r = tokenize_one(prompt, "--partial")
    expect(r["ok"] is True, f"--partial prompt not ok: {r['error']!r}")
    expect(r["complete"] is False, "an open prompt is complete")
    expect(tok("<eos>") not in r["tokens"] and tok("end") not in r["tokens"],
           f"an open prompt got an end or eos: {r['tokens']}")
    # Preorder: the operator comes before its left operand, so the tokens end `+ a`, the
    # right operand still to come.
    want = toks("def/2", "=", "c", "+", "a")
    expect(r["tokens"] == want, f"tokens {r['tokens']}, not {want}")
    expect(r["tokens"][-2] == tok("+"),
           f"the + token {tok('+')} is not the operator: {r['tokens']}")
    expect("c = a + <expr>" in r["normalized_source"],
           f"normalized_source {r['normalized_source']!r} lacks the open expression")
    (d,) = detokenize_lines(["--partial"], [r["tokens"]])
    expect(d == {"source": r["normalized_source"]},
           f"detokenize --partial gives {d!r}, not {r['normalized_source']!r}")
    # Without --partial the same text is not Python.
    r = tokenize_one(prompt)
    expect(r["ok"] is False and r["error"]["stage"] == "python_parse" and r["error"]["line"] == 2,
           f"the prompt without --partial: {r['error']!r}")


@check
def tokenize_unsupported_reports_position_and_valid_prefix():
    r = tokenize_one(ATTRIBUTE_SOURCE)
    expect_tokenize_error(r, "unsupported_syntax", "Attribute", 2, 11, "return x.real")
    expect(python_position(ATTRIBUTE_SOURCE, ast.Attribute) == (2, 11), "CPython disagrees")
    expect(r["tokens"] == toks("def/1", "return"), f"prefix {r['tokens']}")
    source = "def f(x, y):\n    z = x + 1\n    return z * y.imag\n"
    r = tokenize_one(source)
    expect_tokenize_error(r, "unsupported_syntax", "Attribute", 3, 15, "y.imag")
    expect(python_position(source, ast.Attribute) == (3, 15), "CPython disagrees")
    want = toks("def/2", "=", "c", "+", "a", "1", "return", "*", "c")
    expect(r["tokens"] == want, f"prefix {r['tokens']}, not {want}")
    # The prefix is one the decoder accepts.
    (d,) = detokenize_lines(["--partial"], [r["tokens"]])
    expect("return c * <expr>" in d.get("source", ""), f"the prefix does not detokenize: {d!r}")


@check
def tokenize_error_column_counts_utf8_bytes():
    source = "def f(x):\n    é = 1\n    return é + y\n"  # é is two bytes
    r = tokenize_one(source)
    line, col = 3, len("    return é + ".encode("utf-8"))
    expect(col == 16 and python_position(source, ast.Name)[0] == 2, "test setup")
    expect_tokenize_error(r, "scope", "Name", line, col, "unbound y after é")
    expect(r["tokens"] == toks("def/1", "=", "b", "1", "return", "+", "b"),
           f"prefix {r['tokens']}")


@check
def tokenize_invalid_utf8_is_python_parse():
    source = b"def f(x):\n    return \xff\n"
    with tempfile.TemporaryDirectory() as d:
        (r,) = tokenize_lines(write(d, "bad.py", source))
    expect_tokenize_error(r, "python_parse", "", 2, 11, "invalid UTF-8")
    try:
        ast.parse(source)
        raise CheckFailed("CPython parsed invalid UTF-8")
    except SyntaxError as e:
        expect(e.lineno == 2, f"CPython puts the error on line {e.lineno}")
    expect(r["tokens"] == [], f"tokens {r['tokens']} for a source that does not parse")
    expect("UTF-8" in r["error"]["message"], f"message {r['error']['message']!r}")


@check
def tokenize_start_block_and_expr():
    r = tokenize_one("c = a + b\nreturn c\n", "--start", "block", "--arity", "2")
    expect(r["ok"] and r["start"] == "block" and r["complete"], f"block: {r!r}")
    want = toks("=", "c", "+", "a", "b", "return", "c", "end", "<eos>")
    expect(r["tokens"] == want, f"block tokens {r['tokens']}, not {want}")
    expect(r["normalized_source"] == "c = a + b\nreturn c\n", f"block {r['normalized_source']!r}")
    r = tokenize_one("a * (b + 1)\n", "--start", "expr", "--arity", "2")
    expect(r["ok"] and r["start"] == "expr" and r["complete"], f"expr: {r!r}")
    want = toks("*", "a", "+", "b", "1", "<eos>")
    expect(r["tokens"] == want, f"expr tokens {r['tokens']}, not {want}")
    expect(r["normalized_source"] == "a * (b + 1)", f"expr {r['normalized_source']!r}")
    r = tokenize_one("a * (c + 1)", "--start", "expr", "--arity", "2")
    expect_tokenize_error(r, "scope", "Name", 1, 5, "c outside arity 2")
    expect(r["tokens"] == toks("*", "a", "+"), f"expr prefix {r['tokens']}")
    r = tokenize_one("def f(a):\n    return a\n", "--start", "function")
    expect(r["ok"] and r["start"] == "function", f"function: {r!r}")
    expect(r["tokens"] == toks("def/1", "return", "a", "end", "<eos>"), f"{r['tokens']}")
    r = tokenize_one("def f(a):\n    return a\ndef g(a):\n    return a\n", "--start", "function")
    expect(r["ok"] is False, "--start function took two defs")


@check
def tokenize_limits_follow_the_config():
    source = "def f(a):\n    return a + 100\n"
    r = tokenize_one(source)
    expect_tokenize_error(r, "limits", "Constant[int]", *python_position(source, ast.Constant),
                          "constant 100")
    expect(tokenize_one(source, "--config", '{"const_range": [0, 100]}')["ok"],
           "const_range [0, 100] does not admit 100")
    r = tokenize_one(LOOP_SOURCE)
    expect_tokenize_error(r, "limits", "For", 3, 4, "a loop with allow_loops off")
    expect(r["tokens"] == toks("def/2", "=", "c", "0"), f"prefix {r['tokens']}")
    expect(tokenize_one(LOOP_SOURCE, "--config", LOOPS_ON)["ok"], "allow_loops does not admit it")
    r = tokenize_one(SIMPLE_SOURCE, "--max-len", "5")
    expect(r["ok"] is False and r["error"]["stage"] == "limits", f"--max-len 5: {r['error']!r}")


@check
def tokenize_empty_module_is_an_error_with_a_position():
    # A module holds at least one function. Whatever the stage, it is not vocab_encode (the
    # "should never happen" stage), and the line is 1-based.
    for source in ("", "\n", '"""Only a docstring."""\n'):
        r = tokenize_one(source)
        expect(r["ok"] is False, f"{source!r} tokenized")
        e = r["error"]
        expect(e["stage"] != "vocab_encode",
               f"{source!r}: stage vocab_encode ({e['message']!r}), which is reserved for bugs")
        expect(e["line"] >= 1, f"{source!r}: line {e['line']} is not 1-based")


# ---------------------------------------------------------------------------------------------
@check
def tokenize_deep_nesting_on_a_small_stack():
    """#12: 80,000 elifs crashed `astcd tokenize` (SIGSEGV) before the parser counted elif
    chains against its nesting limit. Each deep shape runs with a 1 MiB stack (ulimit -s), below
    the 8 MiB default: the refusal must not depend on a generous stack."""
    sources = {
        "elif chain": "def f(a):\n if a:pass\n" + " elif a:pass\n" * 80000,
        "a + a + ...": "def f(a):\n    return a" + " + a" * 200000 + "\n",
        "parentheses": "def f(a):\n    return " + "(" * 199 + "a" + ")" * 199 + "\n",
        "unary minus": "def f(a):\n    return " + "-" * 200000 + "a\n",
        "not": "def f(a):\n    return " + "not " * 200000 + "a\n",
        "calls": "def f(a):\n    return " + "abs(" * 199 + "a" + ")" * 199 + "\n",
        "attributes": "def f(a):\n    return a" + ".b" * 200000 + "\n",
    }
    for name, source in sources.items():
        for flags in ([], ["--partial"]):
            p = subprocess.run(["bash", "-c", 'ulimit -s 1024 && exec "$0" "$@"', ASTCD,
                                "tokenize", *flags, "-"],
                               input=source.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
            expect(p.returncode == 0, f"{name} {flags}: astcd tokenize exited {p.returncode}; "
                                      f"stderr {p.stderr[-300:]!r}")
            (r,) = json_lines(p.stdout.decode(), "tokenize")
            check_tokenize_shape(r, name)
            expect(r["ok"] is False, f"{name}: tokenized")
            expect(r["error"]["stage"] in ("unsupported_syntax", "python_parse"),
                   f"{name}: stage {r['error']['stage']!r}")
            expect(r["error"]["line"] >= 2, f"{name}: error at line {r['error']['line']}")
    r = tokenize_one(sources["elif chain"])
    expect(r["error"]["stage"] == "unsupported_syntax" and
           "nests deeper than 100 levels" in r["error"]["message"], f"elif chain: {r['error']}")


# detokenize


@check
def detokenize_sources_and_error_objects():
    n = default_vocab()["vocab_size"]
    full = simple_tokens()
    inputs = [
        full,
        full[:-1],                         # the trailing <eos> is optional
        full + toks("<pad>", "<pad>"),     # and <pad>s may follow it
        toks("def/2", "=", "c") + [n],     # an id outside the vocabulary
        toks("def/2", "=", "c") + [-1],
        toks("def/2", "=", "c"),           # ends early
        [],
        toks("def/2", "=", "def/2"),       # illegal at position 2
    ]
    results = detokenize_lines([], inputs)
    for i in range(3):
        expect(results[i] == {"source": SIMPLE_NORMALIZED}, f"input {i}: {results[i]!r}")
    want_positions = [None, None, None, 3, 3, 3, 0, 2]
    for i in range(3, len(inputs)):
        r = results[i]
        expect("error" in r, f"input {i} ({inputs[i]}) gave a source: {r!r}")
        expect(r["position"] == want_positions[i],
               f"input {i} ({inputs[i]}): position {r['position']}, not {want_positions[i]}")
    expect(str(n) in results[3]["error"], f"the error does not name id {n}: {results[3]!r}")


@check
def detokenize_partial_renders_holes():
    cases = [
        ([], [], "<def>"),
        ([], toks("def/2", "="), "<name> = <expr>"),
        ([], toks("def/2", "=", "c"), "c = <expr>"),
        ([], toks("def/1", "return"), "return <expr>"),
        (["--start", "expr", "--arity", "1"], [], "<expr>"),
        (["--start", "block", "--arity", "2"], toks("=", "c", "+", "a"), "c = a + <expr>"),
    ]
    for flags, tokens, hole in cases:
        (r,) = detokenize_lines(flags + ["--partial"], [tokens])
        expect(hole in r.get("source", ""), f"{flags} {tokens} --partial: {r!r} lacks {hole!r}")
        (r,) = detokenize_lines(flags, [tokens])
        expect(r.get("position") == len(tokens),
               f"{flags} {tokens} without --partial: {r!r}, not an error at {len(tokens)}")
    (r,) = detokenize_lines(["--partial"], [toks("def/1", "return", "a")])
    expect("<stmt>" in r.get("source", ""), f"an open block has no <stmt> hole: {r!r}")


@check
def detokenize_reads_files_in_order():
    a = toks("def/1", "return", "a", "end", "<eos>")
    b = toks("def/1", "return", "neg", "a", "end")
    with tempfile.TemporaryDirectory() as d:
        f1 = write(d, "1.jsonl",
                   json.dumps({"tokens": a}) + "\n\n" + json.dumps({"tokens": [99]}) + "\n")
        f2 = write(d, "2.jsonl", json.dumps({"tokens": b}) + "\n")
        results = json_lines(run_ok("detokenize", f2, f1), "detokenize")
    want = [{"source": "def func(a):\n    return -a\n"}, {"source": "def func(a):\n    return a\n"}]
    expect(results[:2] == want, f"results {results[:2]}, not {want}")
    expect(len(results) == 3 and results[2].get("position") == 0, f"results {results}")


# ---------------------------------------------------------------------------------------------
# forced


def forced_lines(flags, token_lists):
    """Runs `astcd forced flags` on one {"tokens": ...} line per list; returns the chains."""
    results = token_list_lines("forced", flags, token_lists)
    for i, r in enumerate(results):
        expect(list(r) == ["tokens", "forced"], f"forced line {i}: keys {list(r)}")
        expect(r["tokens"] == token_lists[i], f"forced line {i} echoes {r['tokens']}")
    return [r["forced"] for r in results]


@check
def forced_chains_follow_singleton_masks():
    # A budget of 4 leaves `def/1 pass` only `end <eos>`; a roomier one leaves a choice.
    chains = forced_lines(["--start", "function", "--max-len", "4"],
                          [toks("def/1", "pass"), toks("def/1"), toks("def/1", "pass", "end"),
                           toks("def/1", "pass", "end", "<eos>")])
    want = [toks("end", "<eos>"), [], toks("<eos>"), []]
    expect(chains == want, f"chains {chains}, not {want}")
    (chain,) = forced_lines(["--start", "function"], [toks("def/1", "pass")])
    expect(chain == [], f"with the default budget, def/1 pass forces {chain}")
    # Every sampled program goes through each of its prefixes' chains, and a chain ends at a
    # choice: the prefix plus its chain forces nothing more.
    for start in ["function", "module"]:
        programs = [r["tokens"] for r in sample_lines("--start", start, "--n", "8", "--seed", "6",
                                                      "--max-new-tokens", "40")]
        prefixes = [p[:k] for p in programs for k in range(len(p) + 1)]
        flags = ["--start", start, "--max-len", "40"]
        chains = forced_lines(flags, prefixes)
        expect(any(chains), f"{start}: no prefix had a forced chain")
        i = 0
        for p in programs:
            for k in range(len(p) + 1):
                expect(p[k:k + len(chains[i])] == chains[i],
                       f"{start}: {p} at {k}: chain {chains[i]} is not what follows")
                i += 1
        extended = [pre + c for pre, c in zip(prefixes, chains) if c]
        expect(all(c == [] for c in forced_lines(flags, extended)),
               f"{start}: a chain stopped before a choice")


@check
def error_forced_bad_inputs():
    n = default_vocab()["vocab_size"]
    cases = (("not json\n", ["stdin:1"]), ('{"toks": []}\n', ["tokens"]),
             (json.dumps({"tokens": toks("def/1") + [n]}) + "\n", ["stdin:1", "prefix_tokens[1]"]),
             ('{"tokens": []}\n' + json.dumps({"tokens": toks("a")}) + "\n",
              ["stdin:2", "prefix_tokens[0]", "not legal"]))
    for data, culprits in cases:
        p = run_input(["forced", "--start", "function"], data.encode())
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 2 and all(c in err for c in culprits),
               f"forced {data!r}: exit {p.returncode}, stderr {err!r} lacks {culprits}")
    expect_usage_error(["forced", "--arity", "2", "-"], ["--arity"])
    expect_usage_error(["forced", "--max-len", "0x", "-"], ["--max-len"])


# ---------------------------------------------------------------------------------------------
# run

BOOL_INT_NONE_SOURCE = ("def f(x, y):\n    if x > y:\n        return x > 0\n    if x == y:\n"
                        "        return\n    return x * y\n")


@check
def run_source_keeps_bool_int_and_none_distinct():
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "f.py", BOOL_INT_NONE_SOURCE)
        results = run_lines("--source", path, "--args", "5,1", "--args", "3,3", "--args", "2,4")
    expect(len(results) == 3, f"{len(results)} lines for 3 tuples")
    expect(all(r["status"] == "ok" for r in results), f"statuses {[r['status'] for r in results]}")
    expect(results[0]["value"] is True, f"5,1: value {results[0]['value']!r}, not true")
    expect(results[1]["value"] is None, f"3,3: value {results[1]['value']!r}, not null")
    expect(type(results[2]["value"]) is int and results[2]["value"] == 8,
           f"2,4: value {results[2]['value']!r}, not the int 8")
    expect([r["steps"] for r in results] == [2, 3, 3], f"steps {[r['steps'] for r in results]}")
    for r in results:
        expect("trace" not in r and "locals" not in r, f"trace/locals without the flags: {r!r}")
    # CPython agrees, on these and more tuples.
    normalized = tokenize_one(BOOL_INT_NONE_SOURCE)["normalized_source"]
    tuples = [(5, 1), (3, 3), (2, 4), (-1, -5), (0, 0), (-3, 7)]
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "f.py", BOOL_INT_NONE_SOURCE)
        args = [a for t in tuples for a in ("--args", f"{t[0]},{t[1]}")]
        results = run_lines("--source", path, *args)
    for t, r in zip(tuples, results):
        want = python_call(normalized, t)
        expect(same_value(r["value"], want), f"{t}: value {r['value']!r}, CPython {want!r}")


@check
def run_tokens_matches_source():
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "f.py", BOOL_INT_NONE_SOURCE)
        tokens = tokenize_one(BOOL_INT_NONE_SOURCE)["tokens"]
        args = ["--args", "5,1", "--args", "3,3", "--args", "-2,4", "--trace", "--locals"]
        by_source = run_ok("run", "--source", path, *args)
        by_tokens = run_ok("run", "--tokens", json.dumps(tokens), *args)
    expect(by_source == by_tokens, "run --tokens differs from run --source")
    r = run_lines("--tokens", json.dumps(simple_tokens()), "--args", "3,4")
    expect(r == [{"status": "ok", "value": 13, "steps": 2, "message": ""}], f"3,4: {r!r}")


@check
def run_starts_block_and_expr():
    with tempfile.TemporaryDirectory() as d:
        expr = write(d, "e.py", "min(a > b, 1)\n")
        block = write(d, "b.py", "c = a + b\nreturn c * 2\n")
        results = run_lines("--source", expr, "--start", "expr", "--arity", "2",
                            "--args", "5,1", "--args", "1,5", "--trace")
        expect([r["value"] for r in results] == [True, False] and
               all(type(r["value"]) is bool for r in results),
               f"min(a > b, 1): values {[r['value'] for r in results]}, not [true, false]")
        expect(results[0]["trace"] == [{"line": 1, "assigned": {}, "returned": True}],
               f"expr trace {results[0]['trace']!r}")
        results = run_lines("--source", block, "--start", "block", "--arity", "2", "--args", "1,2")
        expect(results[0]["value"] == 6 and results[0]["steps"] == 2, f"block: {results[0]!r}")


@check
def run_entry_picks_the_function():
    source = "def f(a):\n    return a + 1\n\ndef g(a, b):\n    return a - b\n"
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "m.py", source)
        expect(run_lines("--source", path, "--args", "5,1")[0]["value"] == 4, "default entry")
        expect(run_lines("--source", path, "--entry", "0", "--args", "5")[0]["value"] == 6,
               "--entry 0")
        expect(run_lines("--source", path, "--entry", "1", "--args", "5,1")[0]["value"] == 4,
               "--entry 1")
        # The module has two functions: --entry 2 is a bad flag value, not a program outcome.
        expect_usage_error(["run", "--source", path, "--entry", "2", "--args", "5"], ["entry"])


@check
def run_zero_division_overflow_and_step_limit():
    with tempfile.TemporaryDirectory() as d:
        div = write(d, "div.py", "def f(a, b):\n    c = a + 1\n    return a // b + b % a\n")
        results = run_lines("--source", div, "--args", "7,0", "--args", "7,2", "--args", "-7,2")
        expect(results[0]["status"] == "zero_division" and results[0]["steps"] == 2,
               f"7 // 0: {results[0]!r}")
        expect("line 3" in results[0]["message"], f"message {results[0]['message']!r}")
        expect(results[1]["value"] == 7 // 2 + 2 % 7, f"7,2: {results[1]!r}")
        expect(results[2]["value"] == -7 // 2 + 2 % -7, f"-7,2 (floor semantics): {results[2]!r}")

        mul = write(d, "mul.py", "def f(a, b):\n    return a * b\n")
        cfg = '{"value_range": [-100, 100]}'
        results = run_lines("--source", mul, "--config", cfg,
                            "--args", "10,10", "--args", "10,11", "--args", "-11,10")
        expect(results[0] == {"status": "ok", "value": 100, "steps": 1, "message": ""},
               f"10 * 10 within [-100, 100]: {results[0]!r}")
        for r in results[1:]:
            expect(r["status"] == "overflow" and r["steps"] == 1, f"overflow: {r!r}")
        expect("110" in results[1]["message"], f"message {results[1]['message']!r}")
        results = run_lines("--source", mul, "--args", "10,11")
        expect(results[0]["value"] == 110, "the default value_range refuses 110")

        loop = write(d, "loop.py", LOOP_SOURCE)
        results = run_lines("--source", loop, "--config", LOOPS_ON, "--max-steps", "5",
                            "--args", "3,4", "--args", "1,4", "--args", "100,1")
        expect([r["status"] for r in results] == ["step_limit", "ok", "step_limit"],
               f"statuses {[r['status'] for r in results]}")
        expect(results[0]["steps"] == 5 and results[2]["steps"] == 5,
               f"steps {[r['steps'] for r in results]}, not capped at 5")
        # s = 0, for, iteration, s += y, return: exactly 5 steps fits.
        expect(results[1]["value"] == 4 and results[1]["steps"] == 5, f"1,4: {results[1]!r}")
        results = run_lines("--source", loop, "--config", LOOPS_ON, "--args", "100,1")
        expect(results[0]["value"] == 100 and results[0]["steps"] == 1 + 1 + 2 * 100 + 1,
               f"100,1 without a cap: {results[0]!r}")


@check
def run_trace_and_locals():
    normalized = tokenize_one(LOOP_SOURCE, "--config", LOOPS_ON)["normalized_source"]
    lines = normalized.split("\n")
    with tempfile.TemporaryDirectory() as d:
        loop = write(d, "loop.py", LOOP_SOURCE)
        (r,) = run_lines("--source", loop, "--config", LOOPS_ON, "--args", "3,4",
                         "--trace", "--locals")
    expect(r["status"] == "ok" and r["value"] == 12, f"3,4: {r!r}")
    trace = r["trace"]
    expect(len(trace) == r["steps"] == 9, f"{len(trace)} events for {r['steps']} steps")
    for i, e in enumerate(trace):
        expect(set(e) in ({"line", "assigned"}, {"line", "assigned", "returned"}),
               f"event {i}: keys {sorted(e)}")
        expect(1 <= e["line"] <= len(lines) and lines[e["line"] - 1].strip(),
               f"event {i}: line {e['line']} is not a line of {normalized!r}")
    text = [lines[e["line"] - 1].strip() for e in trace]
    # x, y, s, i are normalized to a, b, c, d.
    expect(text[0] == "c = 0" and text[1] == "for d in range(a):" and text[3] == "c += b"
           and text[-1] == "return c", f"lines {text}")
    got = [(e["line"], e["assigned"]) for e in trace]
    want = [(2, {"c": 0}), (3, {}), (3, {"d": 0}), (4, {"c": 4}), (3, {"d": 1}), (4, {"c": 8}),
            (3, {"d": 2}), (4, {"c": 12}), (5, {})]
    expect(got == want, f"trace (line, assigned) {got}, not {want}")
    expect("returned" not in trace[0] and trace[-1]["returned"] == 12,
           f"returned values: {[e.get('returned') for e in trace]}")
    expect(r["locals"] == {"a": 3, "b": 4, "c": 12, "d": 2}, f"locals {r['locals']}")
    # A bool assignment and a bare return in a trace.
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "f.py",
                     "def f(a):\n    b = a > 0\n    if b:\n        return\n    return b\n")
        results = run_lines("--source", path, "--args", "1", "--args", "0", "--trace", "--locals")
    expect(results[0]["trace"][0]["assigned"] == {"b": True}
           and results[0]["trace"][0]["assigned"]["b"] is True, f"{results[0]['trace']!r}")
    expect("returned" in results[0]["trace"][-1] and results[0]["trace"][-1]["returned"] is None,
           f"a bare return is not traced as null: {results[0]['trace']!r}")
    expect(results[1]["value"] is False and results[1]["locals"] == {"a": 0, "b": False}
           and results[1]["locals"]["b"] is False, f"0: {results[1]!r}")
    # The step limit keeps the trace and the locals of where it stopped.
    with tempfile.TemporaryDirectory() as d:
        loop = write(d, "loop.py", LOOP_SOURCE)
        (r,) = run_lines("--source", loop, "--config", LOOPS_ON, "--args", "3,4",
                         "--max-steps", "5", "--trace", "--locals")
    expect(r["status"] == "step_limit" and len(r["trace"]) == 5, f"step limit: {r!r}")
    expect(r["locals"] == {"a": 3, "b": 4, "c": 4, "d": 1},
           f"locals at the step limit {r['locals']}")


@check
def run_source_outside_the_language_is_invalid_program_for_every_tuple():
    with tempfile.TemporaryDirectory() as d:
        for source, stage in ((ATTRIBUTE_SOURCE, "unsupported_syntax"),
                              (b"def f(x):\n    return \xff\n", "python_parse"),
                              (LOOP_SOURCE, "limits")):
            path = write(d, "bad.py", source)
            results = run_lines("--source", path, "--args", "1", "--args", "2,3", "--args", "4")
            expect(len(results) == 3, f"{len(results)} lines for 3 tuples")
            for r in results:
                expect(r["status"] == "invalid_program" and r["value"] is None and r["steps"] == 0,
                       f"{source!r}: {r!r}")
                expect(stage in r["message"], f"{source!r}: message {r['message']!r} lacks {stage}")
    results = run_lines("--tokens", json.dumps(toks("def/2", "=", "c")), "--args", "1,2")
    expect(results[0]["status"] == "invalid_program", f"incomplete tokens: {results[0]!r}")


@check
def run_wrong_number_of_args_is_a_usage_error():
    tokens = json.dumps(simple_tokens())
    expect_usage_error(["run", "--tokens", tokens, "--args", "3,4,5"], ["argument", "2", "3"])
    expect_usage_error(["run", "--tokens", tokens, "--args", "3"], ["2", "1"])
    expect_usage_error(["run", "--tokens", tokens], ["2", "0"])


@check
def run_bad_tuple_is_refused_before_any_output():
    # Every tuple is checked before anything is printed, and the message names the tuple.
    tokens = json.dumps(simple_tokens())
    expect_usage_error(["run", "--tokens", tokens, "--args", "1,2", "--args", "7,8,9"], ["7,8,9"])
    expect_usage_error(["run", "--tokens", tokens, "--config", '{"value_range": [-100, 100]}',
                        "--args", "1,2", "--args", "3,1000"], ["1000"])


@check
def run_args_flag_wants_integers():
    tokens = json.dumps(simple_tokens())
    expect_usage_error(["run", "--tokens", tokens, "--args", "x,2"], ["--args", "x,2"])
    expect_usage_error(["run", "--tokens", tokens, "--args", "1.5,2"], ["--args", "1.5,2"])
    expect_usage_error(["run", "--tokens", tokens, "--args", "99999999999999999999,1"],
                       ["--args"])
    # An empty field is not an integer: 1,,2 is not the tuple (1, 2).
    expect_usage_error(["run", "--tokens", tokens, "--args", "1,,2"], ["--args", "1,,2"])


# ---------------------------------------------------------------------------------------------
# audit


def make_corpus(d):
    """A small corpus: 4 .py files (one unparsable), 9 top-level functions, 2 of them ok."""
    write(d, "bad.py", "def broken(:\n    pass\n")
    write(d, "mixed.py", '"""Module doc."""\nimport os\n\n\ndef add(x, y):\n    return x + y\n\n\n'
                         'class C:\n    def m(self):\n        return 1\n\n\n'
                         'def attr(x):\n    return x.real\n\n\ndef pw(x):\n    return x ** 2\n')
    write(d, "sub/more.py", 'def mul(a, b):\n    return a * b\n\n\ndef s(x):\n    return "hi"\n\n\n'
                            'def g(x):\n    return len(x)\n')
    write(d, "sub/deeper/last.py", "def big(x):\n    return x + 100\n\n\ndef neg(x):\n"
                                   "    return x.imag\n\n\ndef unb(a):\n    if a:\n        b = 1\n"
                                   "    return b\n")
    write(d, "sub/notes.txt", "def not_python(:\n")


@check
def audit_json_counts_exactly():
    with tempfile.TemporaryDirectory() as d:
        make_corpus(d)
        out = run_ok("audit", "--json", d)
        expect(out.count("\n") == 1, "audit --json is not one line")
        report = json.loads(out)
        expect(run_ok("audit", "--json", d) == out, "two audit runs differ")
        want = {"files": 4, "files_unparsed": 1, "functions": 9, "ok": 2,
                "by_stage": {"unsupported_syntax": 5, "limits": 1, "scope": 1},
                "by_node_type": {"Attribute": 2, "BinOp[Pow]": 1, "Call": 1, "Constant[str]": 1,
                                 "Constant[int]": 1, "Name": 1}}
        for key, value in want.items():
            expect(report.get(key) == value, f"{key}: {report.get(key)!r}, not {value!r}")
        reasons = report["top_reasons"]
        expect(isinstance(reasons, list) and len(reasons) == 6, f"top_reasons {reasons!r}")
        for r in reasons:
            expect(set(r) == {"stage", "node_type", "count", "example"}, f"reason keys {sorted(r)}")
        counts = [r["count"] for r in reasons]
        expect(counts == sorted(counts, reverse=True), f"top_reasons not by count: {counts}")
        by_key = {(r["stage"], r["node_type"]): r for r in reasons}
        top = reasons[0]
        expect((top["stage"], top["node_type"], top["count"]) ==
               ("unsupported_syntax", "Attribute", 2), f"top reason {top!r}")
        examples = {
            ("unsupported_syntax", "Attribute"): os.path.join(d, "mixed.py") + ":15: ",
            ("unsupported_syntax", "BinOp[Pow]"): os.path.join(d, "mixed.py") + ":19: ",
            ("unsupported_syntax", "Constant[str]"): os.path.join(d, "sub", "more.py") + ":6: ",
            ("unsupported_syntax", "Call"): os.path.join(d, "sub", "more.py") + ":10: ",
            ("limits", "Constant[int]"): os.path.join(d, "sub", "deeper", "last.py") + ":2: ",
            ("scope", "Name"): os.path.join(d, "sub", "deeper", "last.py") + ":12: ",
        }
        expect(set(by_key) == set(examples), f"reasons {sorted(by_key)}")
        for key, prefix in examples.items():
            ex = by_key[key]["example"]
            expect(ex.startswith(prefix) and len(ex) > len(prefix),
                   f"{key}: example {ex!r} does not start with {prefix!r}")
        # A file given directly, and a corpus with nothing to audit.
        one = json.loads(run_ok("audit", "--json", os.path.join(d, "sub", "more.py")))
        expect((one["files"], one["functions"], one["ok"]) == (1, 3, 1), f"one file: {one!r}")
        empty = os.path.join(d, "empty")
        os.mkdir(empty)
        none = json.loads(run_ok("audit", "--json", empty))
        expect(none == {"files": 0, "files_unparsed": 0, "functions": 0, "ok": 0, "by_stage": {},
                        "by_node_type": {}, "top_reasons": []}, f"empty dir: {none!r}")


@check
def audit_text_report_mentions_the_counts():
    with tempfile.TemporaryDirectory() as d:
        make_corpus(d)
        out = run_ok("audit", d)
    patterns = [r"files\s+4\s+\(1 did not parse\)", r"functions\s+9\b", r"ok\s+2\s+22\.2%",
                r"unsupported_syntax\s+5\b", r"limits\s+1\b", r"scope\s+1\b",
                r"Attribute\s+2\b", r"BinOp\[Pow\]\s+1\b", r"Constant\[str\]\s+1\b",
                r"mixed\.py:15: ", r"last\.py:12: "]
    for pattern in patterns:
        expect(re.search(pattern, out), f"the text report lacks /{pattern}/:\n{out}")
    expect("{" not in out.split("\n")[0], "the text report looks like JSON")


def run_with_tty_stderr(args):
    """Runs astcd with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([ASTCD, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=slave)
    finally:
        os.close(slave)
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the child has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise CheckFailed(f"astcd {args} under a terminal timed out")
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", errors="replace")


@check
def audit_progress_bar_on_a_terminal_only():
    n = 250  # past the bar's threshold of 200 files
    with tempfile.TemporaryDirectory() as d:
        for i in range(n):
            write(d, f"p{i // 50}/f{i:03}.py", f"def f{i}(a):\n    return a + {i % 10}\n")
        rc, out, tty = run_with_tty_stderr(["audit", "--json", d])
        expect(rc == 0, f"exited {rc}; terminal: {tty[-300:]!r}")
        expect(f"{n}/{n}" in tty, f"no progress bar ending in {n}/{n}: {tty[-300:]!r}")
        expect("[" in tty and "#" in tty, f"progress bar has no bar: {tty[-300:]!r}")
        report = json.loads(out)
        expect((report["files"], report["functions"], report["ok"]) == (n, n, n),
               f"report under a terminal: {report!r}")
        piped = run(*["audit", "--json", d])
        expect(piped.returncode == 0 and piped.stderr == b"",
               f"piped stderr is not empty: {piped.stderr[:200]!r}")
        expect(piped.stdout == out, "stdout under a terminal differs from a piped run")
        rc, out, tty = run_with_tty_stderr(["audit", os.path.join(d, "p0")])  # 50 files: no bar
        expect(rc == 0 and tty == "", f"a bar for 50 files: {tty[-300:]!r}")


# ---------------------------------------------------------------------------------------------
# usage errors of tokenize, detokenize, run and audit


@check
def error_unknown_flag_in_bridge_commands():
    expect_usage_error(["tokenize", "--frobnicate", "-"], ["frobnicate"])
    expect_usage_error(["tokenize", "--n", "5", "-"], ["--n"])
    expect_usage_error(["detokenize", "--frobnicate"], ["frobnicate"])
    expect_usage_error(["run", "--frobnicate", "--tokens", "[]"], ["frobnicate"])
    expect_usage_error(["run", "--tokens", "[]", "--args", "1", "--jsonl"], ["jsonl"])
    expect_usage_error(["audit", "--frobnicate", "."], ["frobnicate"])
    expect_usage_error(["run", "--tokens", "[]", "stray"], ["stray"])


@check
def error_tokenize_bad_inputs():
    with tempfile.TemporaryDirectory() as d:
        missing = os.path.join(d, "missing.py")
        expect_usage_error(["tokenize", missing], [missing])
    expect_usage_error(["tokenize", "--start", "bogus", "-"], ["bogus"])
    expect_usage_error(["tokenize", "--arity", "2", "-"], ["--arity"])
    expect_usage_error(["tokenize", "--start", "expr", "--arity", "9", "-"], ["--arity"])
    for data, culprit in (("not json\n", "stdin:1"), ('{"source": 1}\n', "source"),
                          ('{"source": "x"}\n[1]\n', "stdin:2")):
        p = run_input(["tokenize", "--jsonl", "-"], data.encode())
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 2 and culprit in err,
               f"--jsonl {data!r}: exit {p.returncode}, stderr {err!r} does not name {culprit!r}")


@check
def error_detokenize_bad_inputs():
    cases = (("not json\n", "stdin:1"), ('{"tokens": [1.5]}\n', "tokens"),
             ('{"toks": []}\n', "tokens"), ('{"tokens": [1]}\n{"tokens": 3}\n', "stdin:2"))
    for data, culprit in cases:
        p = run_input(["detokenize"], data.encode())
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 2 and culprit in err,
               f"detokenize {data!r}: exit {p.returncode}, stderr {err!r} lacks {culprit!r}")


@check
def error_run_needs_exactly_one_program():
    expect_usage_error(["run", "--args", "1,2"], ["--source", "--tokens"])
    expect_usage_error(["run", "--tokens", "[]", "--source", "x.py", "--args", "1"],
                       ["--source", "--tokens"])
    expect_usage_error(["run", "--tokens", "nope", "--args", "1"], ["--tokens"])
    expect_usage_error(["run", "--tokens", "[1.5]", "--args", "1"], ["--tokens"])
    with tempfile.TemporaryDirectory() as d:
        missing = os.path.join(d, "missing.py")
        expect_usage_error(["run", "--source", missing, "--args", "1"], [missing])
    expect_usage_error(["run", "--tokens", "[]", "--max-steps", "0"], ["--max-steps"])


@check
def error_audit_paths():
    with tempfile.TemporaryDirectory() as d:
        missing = os.path.join(d, "missing")
        expect_usage_error(["audit", missing], [missing])
        expect_usage_error(["audit", "--json", d, missing], [missing])
    expect_usage_error(["audit"], ["PATH"])


def main():
    global ASTCD
    if len(sys.argv) != 2:
        print("usage: cli_test.py /path/to/astcd", file=sys.stderr)
        return 2
    ASTCD = os.path.abspath(sys.argv[1])
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {e}")
        except Exception:  # a crash in a check is a failure of that check
            failed += 1
            print(f"FAIL {fn.__name__}: exception\n{traceback.format_exc()}")
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
