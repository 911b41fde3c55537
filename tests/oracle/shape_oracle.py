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

# Binary operators whose two operands may not be the same bare name (no_trivial_self_ops);
# every comparison, `and` and `or` are such operators too.
SELF_TRIVIAL_BINOPS = (ast.Sub, ast.FloorDiv, ast.Mod)
CALLS = ("abs", "min", "max")


def params_of(arity):
    return [chr(ord("a") + i) for i in range(arity)]


def at(node):
    return f"{node.lineno}:{node.col_offset}"


def show(node):
    return ast.unparse(node).splitlines()[0]


def bare(node):
    """The name if `node` is a bare variable, else None."""
    return node.id if isinstance(node, ast.Name) else None


class Checker:
    """One program's checks. Every expression is visited once (expr()), every block once
    (block()); messages are built only for the controls asked for."""

    def __init__(self, controls):
        unknown = set(controls) - set(CONTROLS)
        if unknown:
            raise ValueError(f"unknown controls: {sorted(unknown)}")
        self.controls = frozenset(controls)
        self.found = []

    def report(self, control, node, message, where=None):
        """`message` is a function, called only if `control` is checked."""
        if control in self.controls:
            line, col = where if where else (node.lineno, node.col_offset)
            self.found.append(Violation(control, line, col, message()))

    # ---- expressions

    def expr(self, e):
        """Checks the expression controls on `e` and its subtrees; returns the names it reads
        (a set, empty if it reads none)."""
        reads = set()
        self._visit(e, reads)
        return reads

    def _visit(self, e, reads):
        """Returns whether `e` mentions a variable; adds its reads to `reads`."""
        t = type(e)
        if t is ast.Name:
            reads.add(e.id)
            return True
        if t is ast.Constant:
            assert type(e.value) is int, repr(e.value)
            return False
        pair = None  # the two operands, for no_trivial_self_ops
        if t is ast.BinOp:
            operands = (e.left, e.right)
            if isinstance(e.op, SELF_TRIVIAL_BINOPS):
                pair = operands
        elif t is ast.Compare:
            assert len(e.ops) == 1, "chained comparison"
            operands = pair = (e.left, e.comparators[0])
        elif t is ast.UnaryOp:
            operands = (e.operand,)
        elif t is ast.IfExp:
            operands = (e.test, e.body, e.orelse)
        elif t is ast.Call:
            assert isinstance(e.func, ast.Name) and e.func.id in CALLS, ast.dump(e)
            assert not e.keywords
            operands = tuple(e.args)
        elif t is ast.BoolOp:
            # Our left-nested chain (section 3): op(op(v0, v1), v2)...; its innermost
            # operator is v0 op v1 and every outer one holds it.
            mentions = [self._visit(v, reads) for v in e.values]
            first, second = e.values[0], e.values[1]
            if not (mentions[0] or mentions[1]):
                self.report("no_constant_subexpressions", e, lambda: (
                    f"operator `{show(ast.BoolOp(op=e.op, values=[first, second]))}` has no "
                    "variable beneath it"))
            if bare(first) is not None and bare(first) == bare(second):
                word = "and" if isinstance(e.op, ast.And) else "or"
                self.report("no_trivial_self_ops", e, lambda: (
                    f"`{first.id} {word} {second.id}`: both operands of `{word}` are "
                    f"`{first.id}`"))
            return any(mentions)
        else:
            raise AssertionError(f"expression outside the language: {ast.dump(e)}")
        mentions = [self._visit(o, reads) for o in operands]
        if t is ast.IfExp and not mentions[0]:
            self.report("no_constant_tests", e.test, lambda: (
                f"the test `{show(e.test)}` of the conditional expression at {at(e)} mentions "
                "no variable"))
        if not any(mentions):
            self.report("no_constant_subexpressions", e, lambda: (
                f"operator `{show(e)}` has no variable beneath it"))
        if pair and bare(pair[0]) is not None and bare(pair[0]) == bare(pair[1]):
            self.report("no_trivial_self_ops", e, lambda: (
                f"`{show(e)}`: both operands are `{pair[0].id}`"))
        return any(mentions)

    # ---- a function body: every statement control, in one walk in source order

    def function(self, name, params, body, where):
        """`name` for messages, `params` the parameter names, `body` its statements, `where`
        (line, col) of the function for the violations that belong to it as a whole."""
        self.name = name
        self.reads = set()  # every name read anywhere in the function (use_all_params)
        self.owed = {}      # no_unused_locals: name -> the node of its latest binding
        _, falls = self.block(body, set(params))
        if falls:
            last = body[-1]
            self.report("require_return_value", last, lambda: (
                f"the body of {name} can fall through: its last statement `{show(last)}` at "
                f"{at(last)} can"), where)
        for p in params:
            if p not in self.reads:
                self.report("use_all_params", body[0], lambda p=p: (
                    f"parameter `{p}` of {name} is never read"), where)
        for v, b in sorted(self.owed.items()):
            self.report("no_unused_locals", b, lambda v=v, b=b: (
                f"`{v}` bound at {at(b)} is never read afterwards in {name}"))

    def read(self, e):
        """Visits expression `e` of a statement: its reads pay what is owed. Returns them."""
        names = self.expr(e)
        self.reads |= names
        for v in names:
            self.owed.pop(v, None)
        return names

    def bind(self, v, node):
        self.owed[v] = node

    def block_end(self, what, stmt, continuing, where):
        """no_unused_locals at the end of a block: every owed name must be definitely assigned
        where decoding continues (`continuing`)."""
        for v, b in sorted(self.owed.items()):
            if v not in continuing:
                self.report("no_unused_locals", b, lambda v=v, b=b: (
                    f"`{v}` bound at {at(b)} is unread at the end of {what} of the statement "
                    f"at {at(stmt)}, and is not definitely assigned {where}"))
                del self.owed[v]  # reported once, at the first block end that loses it

    def block(self, stmts, da):
        """Walks a block entered with the definitely assigned names `da`. Returns the names
        definitely assigned at its end and whether it can fall through."""
        da = set(da)
        falls = True
        dead = False
        for i, s in enumerate(stmts):
            if not falls and not dead:  # reported once per block: the rest is dead too
                ender = stmts[i - 1]
                self.report("no_dead_code", s, lambda s=s, ender=ender: (
                    f"statement `{show(s)}` at {at(s)} follows `{show(ender)}` at {at(ender)}, "
                    "which cannot fall through"))
                dead = True
            stmt_falls = True
            t = type(s)
            if t is ast.Assign:
                assert len(s.targets) == 1
                target = s.targets[0].id
                self.read(s.value)
                if bare(s.value) == target:
                    self.report("no_trivial_self_ops", s, lambda s=s: f"`{show(s)}`")
                self.bind(target, s)  # when the statement ends: after its value's reads
                da.add(target)
            elif t is ast.AugAssign:
                self.read(s.value)  # the target is not a read
                if isinstance(s.op, SELF_TRIVIAL_BINOPS) and bare(s.value) == s.target.id:
                    self.report("no_trivial_self_ops", s, lambda s=s: f"`{show(s)}`")
                self.bind(s.target.id, s)
            elif t is ast.If:
                if not self.read(s.test):
                    self.report("no_constant_tests", s.test, lambda s=s: (
                        f"the test `{show(s.test)}` of the if at {at(s)} mentions no variable"))
                da1, f1 = self.block(s.body, da)
                if s.orelse:
                    self.block_end("the first branch", s, da, "at the start of the else branch")
                    da2, f2 = self.block(s.orelse, da)
                    if f1 != f2:  # only a branch that falls through reaches what follows
                        da = da1 if f1 else da2
                    else:  # both; or neither, and what follows is dead (module docstring)
                        da = da1 & da2
                    self.block_end("the else branch", s, da, "after the if/else")
                    stmt_falls = f1 or f2
                else:
                    self.block_end("the body", s, da, "after the if")
            elif t is ast.For:
                it = s.iter
                assert type(it) is ast.Call and it.func.id == "range" and not s.orelse
                assert 1 <= len(it.args) <= 2 and not it.keywords
                for arg in it.args:
                    self.read(arg)
                self.bind(s.target.id, s.target)  # at the start of its body
                self.block(s.body, da | {s.target.id})
                self.block_end("the body", s, da, "after the for")
            elif t is ast.Return:
                if s.value is None:
                    self.report("require_return_value", s, lambda s=s: (
                        f"bare `return` at {at(s)}"))
                else:
                    self.read(s.value)
                stmt_falls = False
            elif t in (ast.Break, ast.Continue):
                stmt_falls = False
            else:
                assert t is ast.Pass, ast.dump(s)
            falls = falls and stmt_falls
        return da, falls


def parse(source, start):
    """CPython's tree of a printed program: an ast.Expression for an EXPR root, else an
    ast.Module (a BLOCK root's statements stand at its top level)."""
    return ast.parse(source, mode="eval" if start == "expr" else "exec")


def check(source, start, arity=None, controls=CONTROLS):
    """The violations of `controls` in `source`, a program of root `start` ("module",
    "function", "block" or "expr"); `arity` is the parameter count of a block or expr root."""
    return check_tree(parse(source, start), start, arity, controls)


def check_tree(tree, start, arity=None, controls=CONTROLS):
    """check() on a tree from parse(), for callers that also use the tree."""
    c = Checker(controls)
    if start in ("module", "function"):
        assert tree.body and all(isinstance(f, ast.FunctionDef) for f in tree.body)
        if start == "function":
            assert len(tree.body) == 1, "a FUNCTION root holds one function"
        for f in tree.body:
            a = f.args
            assert not (a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults)
            c.function(f"`{f.name}`", [x.arg for x in a.args], f.body, (f.lineno, f.col_offset))
    elif start == "block":
        assert tree.body, "a block holds at least one statement"
        c.function("the block", params_of(arity), tree.body, (1, 0))
    elif start == "expr":
        e = tree.body
        reads = c.expr(e)
        for p in params_of(arity):
            if p not in reads:
                c.report("use_all_params", e, lambda p=p: (
                    f"parameter `{p}` is never read in the expression"))
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
