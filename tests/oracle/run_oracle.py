#!/usr/bin/env python3
"""Differential test of Run (core/interpreter.h) against CPython.

Runs the run_oracle binary (tests/oracle/run_oracle_main.cc), which samples programs, runs
each on several argument tuples with astcd's interpreter and prints one JSON line per run.
Each program is then executed by CPython, instrumented with an ast.NodeTransformer so that
CPython observes the same limits as Run:

  * value_range: every int (not bool) made by BinOp, unary minus, abs(), an augmented
    assignment or a Constant is checked; the first one outside [lo, hi] raises Overflow.
  * steps: a counter call before every statement and at the top of every for-loop body (one
    step per iteration), the definition in core/interpreter.h; the call that would exceed
    max_steps raises StepLimit.
  * final locals: `return v` becomes `return _astcd_ret(locals(), v)`, falling off the end
    is an explicit `return _astcd_ret(locals(), None)` (uncounted), and on an exception the
    function's frame is read from the traceback.

Compared for every run: the status (ok, ZeroDivisionError <-> zero_division, Overflow <->
overflow, StepLimit <-> step_limit), the steps, the final locals (values and exact types),
and on ok the returned value and its exact type (bool, int or None).

usage: run_oracle.py RUN_ORACLE_BINARY [--scale K]
Prints "N passed, M failed" and exits nonzero on any failure.
"""
import ast
import json
import subprocess
import sys


class Overflow(Exception):
    pass


class StepLimit(Exception):
    pass


def as_module(start, source, arity):
    """Source of a module whose functions are what the program defines (as cpython_oracle)."""
    params = ", ".join(chr(ord("a") + i) for i in range(arity))
    if start in ("module", "function"):
        return source
    if start == "block":
        body = "".join("    " + line + "\n" for line in source.splitlines())
        return f"def func({params}):\n{body}"
    return f"def func({params}):\n    return ({source})\n"


def _call(name, *args):
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _step():
    return ast.Expr(value=_call("_astcd_step"))


class Instrument(ast.NodeTransformer):
    """Adds the value_range checks, the step counter and the locals capture."""

    def _statements(self, stmts):
        out = []
        for s in stmts:
            out.append(_step())
            out.append(self.visit(s))
        return out

    def visit_FunctionDef(self, node):
        node.body = self._statements(node.body)
        node.body.append(ast.Return(value=_call("_astcd_ret", _call("locals"),
                                                ast.Constant(value=None))))
        return node

    def visit_If(self, node):
        node.test = self.visit(node.test)
        node.body = self._statements(node.body)
        node.orelse = self._statements(node.orelse)
        return node

    def visit_For(self, node):
        assert not node.orelse
        node.iter = self.visit(node.iter)  # range(...): its arguments get checks
        node.body = [_step()] + self._statements(node.body)  # one step per iteration
        return node

    def visit_Return(self, node):
        value = self.visit(node.value) if node.value is not None else ast.Constant(value=None)
        node.value = _call("_astcd_ret", _call("locals"), value)
        return node

    def visit_AugAssign(self, node):
        # x op= e  ->  x = check(x op e): x is read before e is evaluated, as in AugAssign.
        value = self.visit(node.value)
        target = node.target
        binop = ast.BinOp(left=ast.Name(id=target.id, ctx=ast.Load()), op=node.op, right=value)
        return ast.Assign(targets=[ast.Name(id=target.id, ctx=ast.Store())],
                          value=_call("_astcd_chk", binop))

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return _call("_astcd_chk", node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return _call("_astcd_chk", node) if isinstance(node.op, ast.USub) else node

    def visit_Call(self, node):
        self.generic_visit(node)
        return _call("_astcd_chk", node) if node.func.id == "abs" else node

    def visit_Constant(self, node):
        return _call("_astcd_chk", node)


class Runtime:
    """The helpers the instrumented program calls, with per-run state."""

    def __init__(self, lo, hi, max_steps):
        self.lo, self.hi, self.max_steps = lo, hi, max_steps
        self.steps = 0
        self.locals = None

    def namespace(self):
        rt = self

        def step():
            if rt.steps >= rt.max_steps:
                raise StepLimit()
            rt.steps += 1

        def chk(v):
            if type(v) is int and not rt.lo <= v <= rt.hi:
                raise Overflow(v)
            return v

        def ret(locs, v):
            rt.locals = dict(locs)
            return v

        return {"_astcd_step": step, "_astcd_chk": chk, "_astcd_ret": ret}


def compile_instrumented(start, source, arity):
    tree = ast.parse(as_module(start, source, arity))
    tree = ast.fix_missing_locations(Instrument().visit(tree))
    return compile(tree, "<astcd>", "exec")


def run_cpython(code, rec):
    lo, hi = rec["value_range"]
    rt = Runtime(lo, hi, rec["max_steps"])
    namespace = rt.namespace()
    exec(code, namespace)
    fn = namespace[rec["entry_name"]]
    status, value = "ok", None
    try:
        value = fn(*rec["args"])
    except (ZeroDivisionError, Overflow, StepLimit) as e:
        status = {ZeroDivisionError: "zero_division", Overflow: "overflow",
                  StepLimit: "step_limit"}[type(e)]
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is fn.__code__:
                rt.locals = dict(tb.tb_frame.f_locals)
            tb = tb.tb_next
    except (NameError, UnboundLocalError) as e:
        status = "invalid_program"
        value = repr(e)
    return status, value, rt.steps, rt.locals


def typed(v):
    """A value with its exact type, so that True != 1 and 0 != False."""
    return (type(v).__name__, v)


def check(rec, code):
    status, value, steps, locs = run_cpython(code, rec)
    problems = []
    if status != rec["status"]:
        problems.append(f"status: astcd {rec['status']} ({rec['message']}), CPython {status}")
    elif status == "ok" and typed(value) != typed(rec["value"]):
        problems.append(f"value: astcd {rec['value']!r} ({rec['value_type']}), "
                        f"CPython {value!r}")
    if steps != rec["steps"]:
        problems.append(f"steps: astcd {rec['steps']}, CPython {steps}")
    if locs is not None:
        ours = {k: typed(v) for k, v in rec["locals"].items()}
        theirs = {k: typed(v) for k, v in locs.items()}
        if ours != theirs:
            problems.append(f"locals: astcd {rec['locals']}, CPython {locs}")
    expected_type = {"int": "int", "bool": "bool", "none": "NoneType"}[rec["value_type"]]
    if type(rec["value"]).__name__ != expected_type:
        problems.append(f"value_type {rec['value_type']} does not match value {rec['value']!r}")
    return problems


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = [sys.argv[1]] + sys.argv[2:]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}", file=sys.stderr)
        return 1
    passed = failed = 0
    statuses = {}
    cache = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        key = (rec["start"], rec["source"], rec["arity"])
        if key not in cache:
            cache[key] = compile_instrumented(*key)
        problems = check(rec, cache[key])
        kind = rec["status"] if rec["status"] != "ok" else "ok/" + rec["value_type"]
        statuses[kind] = statuses.get(kind, 0) + 1
        if problems:
            failed += 1
            if failed <= 20:
                print(f"FAIL [{rec['case']}] {rec['entry_name']}{tuple(rec['args'])}, "
                      f"value_range {rec['value_range']}, max_steps {rec['max_steps']}:\n"
                      f"{as_module(rec['start'], rec['source'], rec['arity'])}"
                      + "".join(f"  {p}\n" for p in problems))
        else:
            passed += 1
    print("statuses (astcd): " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print(f"programs: {len(cache)}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
