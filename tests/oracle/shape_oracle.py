#!/usr/bin/env python3
"""CPython oracle for the shape controls of docs/language.md, section 4.1.

check(source, start, arity, controls) reads a program as `astcd sample` prints it, with
nothing but CPython's `ast` module, and returns its violations of the given controls: a list
of Violation(control, line, col, message), line 1-based and col 0-based as CPython counts
them. The definitions are re-implemented here from the document, not from the decoder:

  * "cannot fall through": `return`, `break`, `continue`, or an `if/else` both of whose
    branches cannot; a block cannot once one of its statements cannot. `if` without `else`
    and `for` always can.
  * a read is a Name in Load context; an augmented assignment's target is not one.
  * "definitely assigned" is section 7.1's rule: parameters at entry, `x = e` after the
    statement, a `for` variable inside its body only, nothing from a `for` body or an `if`
    without `else` after it, and after `if/else` the names assigned on every branch that can
    fall through. When neither branch can (the code after it is dead), section 7.1 says
    nothing usable; this oracle takes the names assigned on both branches, which is the
    scope the decoder lets such dead code read.
  * `and`/`or`: our operators are binary and CPython's BoolOp is n-ary. A printed BoolOp of
    n operands is our left-nested chain (docs/language.md, section 3): its operator nodes are
    its prefixes of two or more operands, and only the innermost has two bare operands.

Roots: "module" and "function" (a Module of FunctionDefs), "block" (a function body printed
at indentation 0, with the first `arity` letters as parameters) and "expr" (an expression
over them). For an EXPR root only the controls about expressions and parameters apply.

As a command: shape_oracle.py --start S [--arity K] [--controls c1,c2|all] < samples.jsonl
prints each violation of each `astcd sample` line and exits 1 if there was any.
"""
import argparse
import ast
import collections
import json
import sys

CONTROLS = ("no_dead_code", "require_return_value", "use_all_params", "no_unused_locals",
            "no_constant_tests", "no_constant_subexpressions", "no_trivial_self_ops")

Violation = collections.namedtuple("Violation", "control line col message")

# Operators whose two operands may not be the same bare name (no_trivial_self_ops).
SELF_TRIVIAL_BINOPS = (ast.Sub, ast.FloorDiv, ast.Mod)
# Statements that end their path.
PATH_ENDS = (ast.Return, ast.Break, ast.Continue)


def params_of(arity):
    return [chr(ord("a") + i) for i in range(arity)]


def at(node):
    return f"{node.lineno}:{node.col_offset}"


def has_name(node):
    return any(isinstance(n, ast.Name) for n in ast.walk(node))


def bare(node):
    """The name if `node` is a bare variable, else None."""
    return node.id if isinstance(node, ast.Name) else None


def loads(node):
    """Every read beneath `node` (Names in Load context)."""
    return [n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def show(node):
    return ast.unparse(node)


class Checker:
    def __init__(self, controls):
        unknown = set(controls) - set(CONTROLS)
        if unknown:
            raise ValueError(f"unknown controls: {sorted(unknown)}")
        self.controls = set(controls)
        self.found = []

    def report(self, control, node, message, line=None, col=None):
        if control in self.controls:
            self.found.append(Violation(control, node.lineno if line is None else line,
                                        node.col_offset if col is None else col, message))

    # ---- expressions: no_constant_tests, no_constant_subexpressions, no_trivial_self_ops

    def expressions(self, root):
        """Checks every expression node beneath `root` (a statement list's parent or an
        expression)."""
        for node in ast.walk(root):
            if isinstance(node, ast.For):
                assert isinstance(node.iter, ast.Call) and node.iter.func.id == "range"
            if isinstance(node, ast.Call) and node.func.id == "range":
                continue  # a `for` statement's own syntax, not an operator; its args are
            if isinstance(node, (ast.If, ast.IfExp)) and not has_name(node.test):
                what = "if" if isinstance(node, ast.If) else "conditional expression"
                self.report("no_constant_tests", node.test,
                            f"the test of the {what} at {at(node)}, `{show(node.test)}`, "
                            "mentions no variable")
            if isinstance(node, ast.BoolOp):
                # The innermost link of the left-nested chain: values[0] op values[1].
                first, second = node.values[0], node.values[1]
                if not (has_name(first) or has_name(second)):
                    pair = ast.BoolOp(op=node.op, values=[first, second])
                    self.report("no_constant_subexpressions", node,
                                f"operator `{show(pair)}` has no variable beneath it")
                if bare(first) is not None and bare(first) == bare(second):
                    self.report("no_trivial_self_ops", node,
                                f"`{first.id} {'and' if isinstance(node.op, ast.And) else 'or'} "
                                f"{first.id}` at {at(node)}")
            elif isinstance(node, (ast.BinOp, ast.Compare, ast.UnaryOp, ast.IfExp, ast.Call)):
                if isinstance(node, ast.Call):
                    assert isinstance(node.func, ast.Name), ast.dump(node)
                    assert node.func.id in ("abs", "min", "max"), node.func.id
                    operands = node.args
                else:
                    operands = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
                if not any(has_name(o) for o in operands):
                    self.report("no_constant_subexpressions", node,
                                f"operator `{show(node)}` has no variable beneath it")
                pair = None
                if isinstance(node, ast.BinOp) and isinstance(node.op, SELF_TRIVIAL_BINOPS):
                    pair = (node.left, node.right)
                elif isinstance(node, ast.Compare):
                    assert len(node.ops) == 1, "chained comparison"
                    pair = (node.left, node.comparators[0])
                if pair and bare(pair[0]) is not None and bare(pair[0]) == bare(pair[1]):
                    self.report("no_trivial_self_ops", node, f"`{show(node)}` at {at(node)}")

    # ---- statements

    def self_assignments(self, body):
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Assign):
                assert len(node.targets) == 1
                if bare(node.value) == node.targets[0].id:
                    self.report("no_trivial_self_ops", node, f"`{show(node)}` at {at(node)}")
            elif isinstance(node, ast.AugAssign) and isinstance(node.op, SELF_TRIVIAL_BINOPS):
                if bare(node.value) == node.target.id:
                    self.report("no_trivial_self_ops", node, f"`{show(node)}` at {at(node)}")

    @staticmethod
    def falls(stmt):
        """Whether `stmt` can fall through to the next statement."""
        if isinstance(stmt, PATH_ENDS):
            return False
        if isinstance(stmt, ast.If) and stmt.orelse:
            return Checker.block_falls(stmt.body) or Checker.block_falls(stmt.orelse)
        return True

    @staticmethod
    def block_falls(stmts):
        return all(Checker.falls(s) for s in stmts)

    def dead_code(self, stmts):
        for i, s in enumerate(stmts):
            if not self.falls(s) and i + 1 < len(stmts):
                nxt = stmts[i + 1]
                self.report("no_dead_code", nxt,
                            f"statement `{show(nxt).splitlines()[0]}` at {at(nxt)} follows "
                            f"`{show(s).splitlines()[0]}` at {at(s)}, which cannot fall "
                            "through")
                break
        for s in stmts:
            if isinstance(s, ast.If):
                self.dead_code(s.body)
                if s.orelse:
                    self.dead_code(s.orelse)
            elif isinstance(s, ast.For):
                self.dead_code(s.body)

    def return_values(self, name, body, where):
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Return) and node.value is None:
                self.report("require_return_value", node, f"bare `return` at {at(node)}")
        if self.block_falls(body):
            last = body[-1]
            self.report("require_return_value", last,
                        f"the body of {name} can fall through (its last statement "
                        f"`{show(last).splitlines()[0]}` at {at(last)} can)",
                        *where)

    # ---- no_unused_locals: the source-order walk of section 4.1

    def unused_locals(self, name, params, body):
        owed = {}  # name -> the node of its latest binding, in source order

        def read(expr):
            for n in loads(expr):
                owed.pop(n.id, None)

        def bind(target_name, node):
            owed[target_name] = node

        def block_end(kind, node, continuing, where):
            for v, b in sorted(owed.items()):
                if v not in continuing:
                    self.report("no_unused_locals", b,
                                f"`{v}` bound at {at(b)} is unread at the end of {kind} of the "
                                f"statement at {at(node)}, and is not definitely assigned "
                                f"{where}")
                    del owed[v]  # reported once, at the first block end that loses it

        def walk(stmts, da):
            """Walks a block from definitely assigned set `da`; returns (da after, falls)."""
            da = set(da)
            falls = True
            for s in stmts:
                if isinstance(s, ast.Assign):
                    read(s.value)
                    bind(s.targets[0].id, s)
                    da.add(s.targets[0].id)
                elif isinstance(s, ast.AugAssign):
                    read(s.value)  # the target is not a read
                    bind(s.target.id, s)
                elif isinstance(s, ast.If):
                    read(s.test)
                    da1, f1 = walk(s.body, da)
                    if s.orelse:
                        block_end("the first branch", s, da, "at the start of the else branch")
                        da2, f2 = walk(s.orelse, da)
                        if f1 and f2:
                            after = da1 & da2
                        elif f1:
                            after = da1
                        elif f2:
                            after = da2
                        else:  # dead code follows; see the module docstring
                            after = da1 & da2
                        block_end("the else branch", s, after, "after the if/else")
                        da = after
                        falls = falls and (f1 or f2)
                    else:
                        block_end("the body", s, da, "after the if")
                elif isinstance(s, ast.For):
                    for arg in s.iter.args:
                        read(arg)
                    bind(s.target.id, s.target)
                    walk(s.body, da | {s.target.id})
                    block_end("the body", s, da, "after the for")
                elif isinstance(s, ast.Return):
                    if s.value is not None:
                        read(s.value)
                    falls = False
                elif isinstance(s, (ast.Break, ast.Continue)):
                    falls = False
                else:
                    assert isinstance(s, ast.Pass), ast.dump(s)
            return da, falls

        walk(body, set(params))
        for v, b in sorted(owed.items()):
            self.report("no_unused_locals", b,
                        f"`{v}` bound at {at(b)} is never read afterwards in {name}")

    # ---- roots

    def function(self, name, params, body, where):
        self.dead_code(body)
        self.return_values(name, body, where)
        holder = ast.Module(body=body, type_ignores=[])
        read = {n.id for n in loads(holder)}
        for p in params:
            if p not in read:
                self.report("use_all_params", body[0], f"parameter `{p}` of {name} is never "
                            "read", *where)
        self.unused_locals(name, params, body)
        self.self_assignments(body)
        self.expressions(holder)


def check(source, start, arity=None, controls=CONTROLS):
    """The violations of `controls` in `source`, a program of root `start` ("module",
    "function", "block" or "expr"); `arity` is the parameter count of a block or expr root."""
    c = Checker(controls)
    if start in ("module", "function"):
        tree = ast.parse(source)
        assert tree.body and all(isinstance(f, ast.FunctionDef) for f in tree.body)
        if start == "function":
            assert len(tree.body) == 1, "a FUNCTION root holds one function"
        for f in tree.body:
            c.function(f"`{f.name}`", [a.arg for a in f.args.args], f.body,
                       (f.lineno, f.col_offset))
    elif start == "block":
        body = ast.parse(source).body
        assert body, "a block holds at least one statement"
        c.function("the block", params_of(arity), body, (1, 0))
    elif start == "expr":
        expr = ast.parse(source, mode="eval").body
        read = {n.id for n in loads(expr)}
        for p in params_of(arity):
            if p not in read:
                c.report("use_all_params", expr, f"parameter `{p}` is never read in the "
                         "expression")
        c.expressions(expr)
    else:
        raise ValueError(f"unknown start {start!r}")
    return sorted(set(c.found), key=lambda v: (v.line, v.col, v.control, v.message))


def format_violation(v):
    return f"{v.control}: line {v.line} col {v.col}: {v.message}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", default="module", choices=["module", "function", "block", "expr"])
    p.add_argument("--arity", type=int, default=1)
    p.add_argument("--controls", default="all")
    args = p.parse_args()
    controls = CONTROLS if args.controls == "all" else args.controls.split(",")
    bad = 0
    for line in sys.stdin:
        r = json.loads(line)
        found = check(r["source"], args.start, args.arity, controls)
        if found:
            bad += 1
            print(f"--- sample {r.get('sample_index')}:\n{r['source']}")
            for v in found:
                print("  " + format_violation(v))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
