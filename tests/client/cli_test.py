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
