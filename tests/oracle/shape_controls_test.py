#!/usr/bin/env python3
"""The shape controls of docs/language.md, section 4.1, checked against CPython's `ast`.

Samples programs with the real `astcd sample` binary and checks each one with
shape_oracle.py, an independent reading of the section's definitions:
  1. the oracle itself, on hand-written programs: for each control some that pass and some
     that fail, the subtle cases of section 4.1 among them;
  2. controls off (the default config): the oracle finds violations of every control among
     the samples, so it is not vacuous;
  3. each control alone: at least 10,000 programs, both samplers, loops on and off, every
     root; every program satisfies the control and parses under CPython to our AST;
  4. all seven on: every root, budgets from the smallest the CLI accepts up, loops on and
     off, both samplers; every program satisfies all seven, parses to our AST, and holds no
     more tokens than its budget;
  5. every pair of controls, at budgets from the smallest up: the same.
A failure prints the program, the control, the violation and the `astcd sample` command
(with its seed) that reproduces it. Prints "N passed, M failed" per part and in total.

usage: shape_controls_test.py ASTCD_BINARY [--scale K] [--part unit|off|alone|all|pairs]...
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpython_oracle  # noqa: E402  (the parse-equality oracle: sexpr, flat)
import shape_oracle  # noqa: E402
from shape_oracle import CONTROLS  # noqa: E402

ASTCD = None
THREADS = "2"
ALL_ON = {c: True for c in CONTROLS}
MAX_FAILURES_SHOWN = 3  # per case
RUN_PER_CASE = 200  # programs per case that require_return_value also runs under CPython
RNG = random.Random(2024)

# ---------------------------------------------------------------------------------------
# 1. The oracle on hand-written programs: (control, start, arity, source, violations).

F = "function"


def fn(*lines, arity=1):
    params = ", ".join(shape_oracle.params_of(arity))
    return f"def func({params}):\n" + "".join("    " + ln + "\n" for ln in lines)


UNIT = [
    # no_dead_code
    ("no_dead_code", F, 1, fn("if a:", "    return 1", "return 2"), 0),
    ("no_dead_code", F, 1, fn("return a", "a = 1"), 1),
    ("no_dead_code", F, 1, fn("if a:", "    return 1", "else:", "    return 2", "return 3"), 1),
    ("no_dead_code", F, 1, fn("if a:", "    return 1", "else:", "    a = 2", "return a"), 0),
    ("no_dead_code", F, 1, fn("for b in range(a):", "    break", "    a += b", "return a"), 1),
    ("no_dead_code", F, 1, fn("for b in range(a):", "    if b:", "        break",
                              "    else:", "        continue", "    a += b", "return a"), 1),
    ("no_dead_code", F, 1, fn("for b in range(a):", "    if b:", "        break",
                              "    a += b", "return a"), 0),
    ("no_dead_code", "block", 1, "return a\npass\n", 1),
    ("no_dead_code", "block", 1, "pass\nreturn a\n", 0),
    # require_return_value
    ("require_return_value", F, 1, fn("if a:", "    return 1", "else:", "    return a"), 0),
    ("require_return_value", F, 1, fn("return"), 1),
    ("require_return_value", F, 1, fn("if a:", "    return", "return a"), 1),
    ("require_return_value", F, 1, fn("a = 1"), 1),
    ("require_return_value", F, 1, fn("if a:", "    return 1"), 1),
    ("require_return_value", F, 1, fn("if a:", "    return 1", "else:", "    a = 2"), 1),
    ("require_return_value", F, 1, fn("for b in range(a):", "    return b"), 1),
    ("require_return_value", F, 1, fn("if a:", "    return 1", "elif a > 1:", "    return 2",
                                      "else:", "    return 3"), 0),
    ("require_return_value", F, 1, fn("if a:", "    return 1", "elif a > 1:", "    return 2"), 1),
    ("require_return_value", F, 1, fn("return 1", "a = 2"), 0),  # dead code is another control
    ("require_return_value", "module", None,
     fn("return a") + "\n\n" + fn("a += 1").replace("func", "func1"), 1),
    ("require_return_value", "block", 1, "return a\n", 0),
    ("require_return_value", "block", 1, "a += 1\n", 1),
    # use_all_params
    ("use_all_params", F, 2, fn("return a + b", arity=2), 0),
    ("use_all_params", F, 2, fn("return a", arity=2), 1),
    ("use_all_params", F, 1, fn("a = 1", "return 2"), 1),
    ("use_all_params", F, 2, fn("b += 1", "return a", arity=2), 1),  # a target is no read
    ("use_all_params", F, 2, fn("b = 1", "return a + b", arity=2), 0),
    ("use_all_params", F, 0, fn("return 1", arity=0), 0),
    ("use_all_params", "expr", 2, "a + 1", 1),
    ("use_all_params", "expr", 2, "b if a else 1", 0),
    ("use_all_params", "block", 2, "return b\n", 1),
    ("use_all_params", "block", 2, "for c in range(b):\n    a += c\nreturn a\n", 0),
    # no_unused_locals
    ("no_unused_locals", F, 1, fn("b = 0", "for c in range(a):", "    b += c", "return b"), 0),
    ("no_unused_locals", F, 1, fn("b = 0", "for c in range(a):", "    b += 1", "return b"), 1),
    ("no_unused_locals", F, 1, fn("b = a", "b = b + 1", "return a"), 1),  # x = x + 1 owes
    ("no_unused_locals", F, 1, fn("b = a", "b = b + 1", "return b"), 0),
    ("no_unused_locals", F, 1, fn("b = a", "b += 1", "return a"), 1),
    ("no_unused_locals", F, 1, fn("b = 1", "b = 2", "return b + a"), 0),  # some path
    ("no_unused_locals", F, 1, fn("a = 1", "return 2"), 1),  # a rebound parameter owes
    ("no_unused_locals", F, 1, fn("a = 1", "return a"), 0),
    # bound only in the first branch of an if/else and read after: lost at its end
    ("no_unused_locals", F, 1, fn("if a:", "    b = 1", "else:", "    b = 2", "return b"), 1),
    # ... unless already assigned before the if: then the branch's binding may wait
    ("no_unused_locals", F, 1, fn("b = 0", "if a:", "    b = 1", "else:", "    b = 2",
                                  "return b"), 0),
    # ... or read in the first branch, bound again in the else and read after it
    ("no_unused_locals", F, 1, fn("if a:", "    b = 1", "    return b", "else:", "    b = 2",
                                  "return b"), 0),
    ("no_unused_locals", F, 1, fn("if a:", "    b = 1", "    return b", "else:", "    b = 2",
                                  "return a"), 1),
    # bound in the else only, where the first branch returns: readable after
    ("no_unused_locals", F, 1, fn("if a:", "    return 1", "else:", "    b = 2",
                                  "return b"), 0),
    ("no_unused_locals", F, 1, fn("if a:", "    b = 1", "return a"), 1),
    ("no_unused_locals", F, 1, fn("if a:", "    a = 1", "return a"), 0),
    ("no_unused_locals", F, 1, fn("for b in range(a):", "    c = b", "return a"), 1),
    ("no_unused_locals", F, 1, fn("for b in range(a):", "    pass", "return a"), 1),  # the target
    ("no_unused_locals", F, 1, fn("for b in range(a):", "    return b", "return a"), 0),
    ("no_unused_locals", F, 1, fn("b = 0", "for c in range(a):", "    b = c", "    break",
                                  "return b"), 0),
    ("no_unused_locals", F, 1, fn("for b in range(a):", "    c = b", "    a += c",
                                  "return a"), 0),
    ("no_unused_locals", "block", 1, "b = a\nreturn 1\n", 1),
    ("no_unused_locals", "block", 1, "b = a\nreturn b\n", 0),
    # no_constant_tests
    ("no_constant_tests", F, 1, fn("if 3:", "    return a", "return 1"), 1),
    ("no_constant_tests", F, 1, fn("if 3 < 4 + 1:", "    return a", "return 1"), 1),
    ("no_constant_tests", F, 1, fn("if 3 < a:", "    return a", "return 1"), 0),
    ("no_constant_tests", F, 1, fn("if a:", "    return 1", "elif 2:", "    return a",
                                   "return 0"), 1),
    ("no_constant_tests", "expr", 1, "1 if 2 else a", 1),
    ("no_constant_tests", "expr", 1, "1 if a > 1 else 2", 0),
    ("no_constant_tests", "expr", 1, "(1 if a else 2) if 3 else 4", 1),
    ("no_constant_tests", F, 1, fn("for b in range(3):", "    a += b", "return a"), 0),
    # no_constant_subexpressions
    ("no_constant_subexpressions", "expr", 1, "3 * 2", 1),
    ("no_constant_subexpressions", "expr", 1, "3 * a", 0),
    ("no_constant_subexpressions", "expr", 1, "not 7", 1),
    ("no_constant_subexpressions", "expr", 1, "-3", 1),
    ("no_constant_subexpressions", "expr", 1, "-a", 0),
    ("no_constant_subexpressions", "expr", 1, "abs(3)", 1),
    ("no_constant_subexpressions", "expr", 1, "max(1, a)", 0),
    ("no_constant_subexpressions", "expr", 1, "min(1, 2) + a", 1),
    ("no_constant_subexpressions", "expr", 1, "a + (1 + 2)", 1),
    ("no_constant_subexpressions", "expr", 1, "a + 1 + 2", 0),
    ("no_constant_subexpressions", "expr", 1, "1 and 2 and a", 1),  # (1 and 2) and a
    ("no_constant_subexpressions", "expr", 1, "1 and (2 and a)", 0),
    ("no_constant_subexpressions", "expr", 1, "a and 1 and 2", 0),
    ("no_constant_subexpressions", "expr", 1, "1 if 2 else 3", 1),
    ("no_constant_subexpressions", "expr", 1, "1 if a else 2", 0),
    ("no_constant_subexpressions", "expr", 1, "(2 < 3) == a", 1),
    ("no_constant_subexpressions", F, 1, fn("return 3 * 2"), 1),
    ("no_constant_subexpressions", F, 1, fn("for b in range(2 * 3):", "    a += b",
                                            "return a"), 1),
    ("no_constant_subexpressions", F, 1, fn("for b in range(1, 3):", "    a += b",
                                            "return a + 1"), 0),
    ("no_constant_subexpressions", F, 1, fn("b = 3", "return b"), 0),
    # no_trivial_self_ops
    ("no_trivial_self_ops", F, 1, fn("a = a", "return a"), 1),
    ("no_trivial_self_ops", F, 1, fn("a -= a", "return a"), 1),
    ("no_trivial_self_ops", F, 1, fn("a //= a", "return a"), 1),
    ("no_trivial_self_ops", F, 1, fn("a %= a", "return a"), 1),
    ("no_trivial_self_ops", F, 1, fn("a += a", "a *= a", "return a"), 0),
    ("no_trivial_self_ops", F, 2, fn("a = b", "a -= b", "return a", arity=2), 0),
    ("no_trivial_self_ops", F, 1, fn("if a == a:", "    return 1", "return 0"), 1),
    ("no_trivial_self_ops", "expr", 1, "a - a", 1),
    ("no_trivial_self_ops", "expr", 1, "a // a", 1),
    ("no_trivial_self_ops", "expr", 1, "a % a", 1),
    ("no_trivial_self_ops", "expr", 1, "a < a", 1),
    ("no_trivial_self_ops", "expr", 1, "a != a", 1),
    ("no_trivial_self_ops", "expr", 1, "a and a", 1),
    ("no_trivial_self_ops", "expr", 1, "a or a", 1),
    ("no_trivial_self_ops", "expr", 2, "a or a or b", 1),  # (a or a) or b
    ("no_trivial_self_ops", "expr", 2, "b or a or a", 0),  # (b or a) or a
    ("no_trivial_self_ops", "expr", 2, "a and (a and b)", 0),
    ("no_trivial_self_ops", "expr", 1, "a + a", 0),
    ("no_trivial_self_ops", "expr", 1, "a * a", 0),
    ("no_trivial_self_ops", "expr", 1, "-a - a", 0),
    ("no_trivial_self_ops", "expr", 1, "min(a, a)", 0),  # not in the section's list
    ("no_trivial_self_ops", "expr", 2, "a - b", 0),
]


def part_unit(scale):
    failed = 0
    for control, start, arity, source, expected in UNIT:
        alone = shape_oracle.check(source, start, arity, [control])
        ok = bool(alone) == bool(expected)
        # The other controls do not report under this one's name.
        every = shape_oracle.check(source, start, arity)
        ok = ok and [v for v in every if v.control == control] == alone
        if not ok:
            failed += 1
            print(f"FAIL unit {control} ({start}): expected "
                  f"{'a violation' if expected else 'none'}, found "
                  f"{[shape_oracle.format_violation(v) for v in alone]}\n{source}")
    return len(UNIT) - failed, failed


# ---------------------------------------------------------------------------------------
# Sampling and checking.

def sample_cmd(start, sampler, n, seed, config, arity=None, max_len=None):
    cmd = [ASTCD, "sample", "--start", start, "--sampler", sampler, "--n", str(n),
           "--seed", str(seed), "--threads", THREADS, "--sexpr",
           "--config", json.dumps(config, separators=(",", ":"))]
    if arity is not None:
        cmd += ["--arity", str(arity)]
    if max_len is not None:
        cmd += ["--max-len", str(max_len)]
    return cmd


class Sampling:
    """A running `astcd sample`, its output going to a temporary file, so that the next case
    samples while this process checks the last one."""

    def __init__(self, cmd):
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err)

    def results(self):
        code = self.proc.wait(timeout=600)
        self.out.seek(0)
        self.err.seek(0)
        out, err = self.out.read().decode(), self.err.read().decode()
        self.out.close()
        self.err.close()
        if code != 0:
            raise RuntimeError(f"astcd exited {code}: {err.strip()}")
        return [json.loads(line) for line in out.splitlines()]


def run_cases(jobs):
    """Runs (case, controls, expect_clean) jobs in order, each sampling while the one before
    it is checked. Yields (case, programs, failures, violations by control)."""
    running = None
    for i, (case, controls, expect_clean) in enumerate(jobs):
        running = running or Sampling(case.cmd)
        following = Sampling(jobs[i + 1][0].cmd) if i + 1 < len(jobs) else None
        got, bad, by_control = case.check(running, controls, expect_clean)
        running = following
        yield case, got, bad, by_control


def our_tree(start, tree):
    """CPython's S-expression of a parsed program, as cpython_oracle.our_tree gives it."""
    if start == "expr":
        return cpython_oracle.sexpr(tree.body)
    if start == "block":
        return "(Body" + "".join(" " + cpython_oracle.sexpr(s) for s in tree.body) + ")"
    if start == "function":
        assert len(tree.body) == 1
        return cpython_oracle.sexpr(tree.body[0])
    return cpython_oracle.sexpr(tree)


def check_program(r, start, arity, controls, max_len, run_it=None):
    """The problems of one sampled program (a list of strings) and its violations. With
    `run_it` (a random.Random), a program that should return a value is also run."""
    src = r["source"]
    if -1 in r["tokens"]:  # what the sampler draws from an empty mask (invariant 7.3.1)
        k = r["tokens"].index(-1)
        return [f"the mask was empty after {k} tokens: {r['tokens'][:k]}"], []
    if not r["complete"] or r["stop_reason"] != "eos":
        return [f"incomplete program (stop_reason {r['stop_reason']})"], []
    if len(r["tokens"]) > max_len:
        return [f"{len(r['tokens'])} tokens, over the budget of {max_len}"], []
    try:
        tree = shape_oracle.parse(src, start)
    except SyntaxError as e:
        return [f"CPython cannot parse it: {e}"], []
    ours = r["sexpr"]
    if "(BoolOp" in ours:  # only and/or chains differ from CPython's form (section 3)
        ours = cpython_oracle.flat(ours)
    theirs = our_tree(start, tree)
    if theirs != ours:
        return [f"AST differs:\n ours    {ours}\n cpython {theirs}"], []
    found = shape_oracle.check_tree(tree, start, arity, controls)
    problems = [shape_oracle.format_violation(v) for v in found]
    if run_it and "require_return_value" in controls and start != "expr" and not found:
        problems += returns_none(start, src, arity, run_it)
    return problems, found


def returns_none(start, src, arity, rng):
    """require_return_value, run: no call of the program's functions returns None (it may
    raise ZeroDivisionError, or be cut off by cpython_oracle's step and size guards)."""
    namespace = {}
    exec(compile(cpython_oracle.as_module(start, src, arity), "<astcd>", "exec"), namespace)
    for name, f in namespace.items():
        if not name.startswith("func"):
            continue
        for _ in range(3):
            args = [rng.choice([rng.randint(-9, 9), rng.randint(-2**31, 2**31 - 1)])
                    for _ in range(f.__code__.co_argcount)]
            try:
                value = cpython_oracle.call_guarded(f, args)
            except (ZeroDivisionError, cpython_oracle.StepLimit, cpython_oracle.TooBig):
                continue
            if value is None:
                return [f"require_return_value, run by CPython: {name}{tuple(args)} returned "
                        "None"]
    return []


class Case:
    """One `astcd sample` run and its verdicts."""

    def __init__(self, name, start, sampler, n, seed, config, arity=None, max_len=None):
        self.name, self.start, self.arity = name, start, arity
        # Without --max-len the CLI's budget is --max-new-tokens, 200 by default.
        self.max_len = max_len if max_len is not None else 200
        self.cmd = sample_cmd(start, sampler, n, seed, config, arity, max_len)
        self.n = n

    def check(self, sampling, controls, expect_clean=True):
        """Checks every program of `sampling` (this case's Sampling); returns (programs,
        failures, violations by control)."""
        try:
            results = sampling.results()
        except Exception as e:  # noqa: BLE001 — a refused run is a failure to report
            print(f"FAIL {self.name}: {e}\n  command: {' '.join(self.cmd)}")
            return 0, 1, {}
        by_control = {c: 0 for c in controls}
        failures = 0
        if len(results) != self.n:
            print(f"FAIL {self.name}: {len(results)} programs, asked for {self.n}")
            failures += 1
        arity = self.arity if self.arity is not None else 1
        for r in results:
            run_it = RNG if r["sample_index"] < RUN_PER_CASE else None
            problems, found = check_program(r, self.start, arity, controls, self.max_len,
                                            run_it)
            for c in {v.control for v in found}:
                by_control[c] += 1
            if problems and (expect_clean or not found):
                failures += 1
                if failures <= MAX_FAILURES_SHOWN:
                    print(f"FAIL {self.name} sample {r['sample_index']} "
                          f"({len(r['tokens'])} tokens):\n  command: {' '.join(self.cmd)}")
                    for p in problems:
                        print("  " + p)
                    print("--- source ---\n" + r["source"] + "--------------")
        if failures > MAX_FAILURES_SHOWN:
            print(f"  ... {failures - MAX_FAILURES_SHOWN} more failures in {self.name}")
        return len(results), failures, by_control


# ---------------------------------------------------------------------------------------
# 2. Controls off: the oracle finds violations of every control.

def part_off(scale):
    n = max(50, int(600 * scale))
    cases = [
        Case("off-function-uniform-loops", "function", "uniform", n, 71, {"allow_loops": True}),
        Case("off-function-weighted", "function", "weighted", n, 72, {}),
        Case("off-block-uniform", "block", "uniform", n, 73, {"allow_loops": True}, arity=2),
        Case("off-expr-uniform", "expr", "uniform", n, 74, {}, arity=3),
    ]
    totals = {c: 0 for c in CONTROLS}
    programs = failures = 0
    for case, got, bad, by_control in run_cases([(c, CONTROLS, False) for c in cases]):
        programs += got
        failures += bad
        for c, k in by_control.items():
            totals[c] += k
        print(f"{case.name}: programs violating each control: "
              + ", ".join(f"{c} {k}" for c, k in by_control.items()))
    for c, k in totals.items():
        if k == 0:
            failures += 1
            print(f"FAIL off: no default-config sample violates {c}; the oracle is vacuous")
    return programs - failures, failures


def tally(jobs):
    """Runs the jobs; returns (passed, failed) over their programs."""
    passed = failed = 0
    for _, got, bad, _ in run_cases(jobs):
        passed += got - bad
        failed += bad
    return passed, failed


# ---------------------------------------------------------------------------------------
# 3. Each control alone: >= 10,000 programs per control at --scale 1.

STATEMENT_CONTROLS = ("no_dead_code", "require_return_value", "no_unused_locals")


def part_alone(scale):
    jobs = []
    for ci, control in enumerate(CONTROLS):
        on = {control: True}
        loops = dict(on, allow_loops=True)
        seed = 1000 + 100 * ci
        plan = [
            ("function-uniform", "function", "uniform", 2500, on, None, None),
            ("function-weighted-loops", "function", "weighted", 2500, loops, None, None),
            ("module-uniform-loops", "module", "uniform", 1500, loops, None, None),
            ("block-uniform-loops-a2", "block", "uniform", 1500, loops, 2, None),
            ("block-weighted-a3", "block", "weighted", 1000, on, 3, None),
            ("function-uniform-loops-deep", "function", "uniform", 500,
             dict(loops, max_control_depth=3, max_block_stmts=6, max_locals=6,
                  max_expr_depth=5), None, 200),
            ("module-weighted-wide", "module", "weighted", 500,
             dict(loops, arities=[0, 2, 4], max_locals=4, max_expr_depth=5,
                  const_range=[0, 20]), None, 200),
        ]
        if control not in STATEMENT_CONTROLS:  # an EXPR root has none of their statements
            plan.append(("expr-uniform-a3", "expr", "uniform", 1000, on, 3, 40))
        for k, (name, start, sampler, n, config, arity, max_len) in enumerate(plan):
            n = max(20, int(n * scale))
            jobs.append((Case(f"{control}/{name}", start, sampler, n, seed + k, config, arity,
                              max_len), [control], True))
    passed = failed = 0
    count = {c: 0 for c in CONTROLS}
    for case, got, bad, _ in run_cases(jobs):
        count[case.name.split("/")[0]] += got
        passed += got - bad
        failed += bad
    for control, k in count.items():
        print(f"{control} alone: {k} programs")
        if k < 10000 * scale:
            failed += 1
            print(f"FAIL {control}: only {k} programs checked")
    return passed, failed


# ---------------------------------------------------------------------------------------
# 4. All seven on: every root, budgets from the smallest accepted up, loops on and off.

def smallest_budget(start, config, arity):
    """The least --max-len the CLI accepts for this root and config, as its refusal of a
    budget of 1 names it ("below the shortest function program (5 tokens with EOS)"). The
    cases then sample at that budget, so a wrong claim fails there."""
    cmd = sample_cmd(start, "uniform", 1, 1, config, arity, 1)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    found = re.search(r"shortest \w+ program \((\d+) tokens", proc.stderr)
    if proc.returncode == 0 or not found:
        raise RuntimeError(f"a budget of 1 gave exit {proc.returncode}: {proc.stderr.strip()}")
    return int(found.group(1))


def part_all(scale):
    failed = 0
    jobs = []
    n = max(10, int(100 * scale))
    seed = 5000
    roots = [("module", None), ("function", None), ("block", 1), ("block", 3), ("expr", 1),
             ("expr", 3)]
    for start, arity in roots:
        for loops in (False, True):
            config = dict(ALL_ON, allow_loops=loops)
            try:
                low = smallest_budget(start, config, arity)
            except Exception as e:  # noqa: BLE001
                print(f"FAIL all-on {start}: {e}")
                failed += 1
                continue
            budgets = sorted({low, low + 1, low + 2, low + 5, 24, 128})
            budgets = [b for b in budgets if b >= low]
            print(f"all-on {start} arity {arity} loops {loops}: smallest budget {low}, "
                  f"budgets {budgets}")
            for max_len in budgets:
                for sampler in ("uniform", "weighted"):
                    seed += 1
                    jobs.append((Case(
                        f"all-on/{start}/a{arity}/loops={loops}/len{max_len}/{sampler}",
                        start, sampler, n, seed, config, arity, max_len), CONTROLS, True))
    passed, bad = tally(jobs)
    return passed, failed + bad


# ---------------------------------------------------------------------------------------
# 5. Every pair of controls, at tight budgets: the controls interact (what one forbids may be
#    what another's completion needs), and neither "alone" nor "all seven" shows that.

def part_pairs(scale):
    failed = 0
    jobs = []
    n = max(10, int(60 * scale))
    seed = 7000
    pairs = [(x, y) for i, x in enumerate(CONTROLS) for y in CONTROLS[i + 1:]]
    for k, (x, y) in enumerate(pairs):
        config = {x: True, y: True, "allow_loops": k % 2 == 0,
                  "arities": [[1], [2], [1, 2, 3]][k % 3]}
        for start, arity in (("function", None), ("block", [1, 2, 1][k % 3])):
            try:
                low = smallest_budget(start, config, arity)
            except Exception as e:  # noqa: BLE001
                print(f"FAIL pair {x}+{y} {start}: {e}")
                failed += 1
                continue
            for b, max_len in enumerate((low, low + 1, low + 3, 16)):
                for sampler in [("uniform", "weighted")[(b + k) % 2]]:
                    seed += 1
                    jobs.append((Case(f"pair/{x}+{y}/{start}/len{max_len}/{sampler}", start,
                                      sampler, n, seed, config, arity, max_len), [x, y], True))
    print(f"pairs: {len(pairs)} pairs of controls")
    passed, bad = tally(jobs)
    return passed, failed + bad


PARTS = {"unit": part_unit, "off": part_off, "alone": part_alone, "all": part_all,
         "pairs": part_pairs}


def main():
    global ASTCD
    ASTCD = sys.argv[1]
    scale = 1.0
    if "--scale" in sys.argv:
        scale = float(sys.argv[sys.argv.index("--scale") + 1])
    parts = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--part"] or list(PARTS)
    total_passed = total_failed = 0
    for part in parts:
        t = time.time()
        passed, failed = PARTS[part](scale)
        print(f"== {part}: {passed} passed, {failed} failed ({time.time() - t:.1f} s)")
        total_passed += passed
        total_failed += failed
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
