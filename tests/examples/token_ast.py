"""Our AST, read straight from a token stream, as the S-expression of docs/language.md section 9.

The tests compare it with CPython's parse of the source the server printed for the same
tokens (tests/oracle/cpython_oracle.py's `our_tree`): the two sides share no code with the
server, since this reads the preorder stream from the token names and the language spec alone.

    tokens_to_sexpr(tokens, names)   # names[id] = the vocabulary's token name
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Sequence

BINOPS = {"+": "Add", "-": "Sub", "*": "Mult", "//": "FloorDiv", "%": "Mod"}
COMPARES = {"<": "Lt", "<=": "LtE", "==": "Eq", "!=": "NotEq", ">": "Gt", ">=": "GtE"}
BOOLOPS = {"and": "And", "or": "Or"}
UNARY = {"neg": "USub", "not": "Not"}
CALLS = {"abs": 1, "min": 2, "max": 2}
AUGASSIGN = {"+=": "Add", "-=": "Sub", "*=": "Mult", "//=": "FloorDiv", "%=": "Mod"}
SIMPLE = {"pass": "(Pass)", "break": "(Break)", "continue": "(Continue)",
          "return/0": "(Return)"}


class Reader:
    def __init__(self, tokens: Sequence[int], names: Sequence[str]) -> None:
        self.names: Iterator[str] = (names[t] for t in tokens)

    def next(self) -> str:
        try:
            return next(self.names)
        except StopIteration:
            raise ValueError("the token stream ends inside the program") from None

    def expr(self) -> str:
        t = self.next()
        if t in BINOPS:
            return f"(BinOp {BINOPS[t]} {self.expr()} {self.expr()})"
        if t in COMPARES:
            return f"(Compare {COMPARES[t]} {self.expr()} {self.expr()})"
        if t in BOOLOPS:
            return f"(BoolOp {BOOLOPS[t]} {self.expr()} {self.expr()})"
        if t in UNARY:
            return f"(UnaryOp {UNARY[t]} {self.expr()})"
        if t == "ifexp":  # children in AST field order: test, body, orelse
            return f"(IfExp {self.expr()} {self.expr()} {self.expr()})"
        if t in CALLS:
            return f"(Call {t}" + "".join(" " + self.expr() for _ in range(CALLS[t])) + ")"
        if t.isdigit():
            return f"(Constant {int(t)})"
        if t.isalpha() and len(t) == 1:
            return f"(Name {t})"
        raise ValueError(f"{t!r} where an expression belongs")

    def target(self) -> str:
        t = self.next()
        if not (t.isalpha() and len(t) == 1):
            raise ValueError(f"{t!r} where a target belongs")
        return f"(Name {t})"

    def block(self) -> str:
        stmts: List[str] = []
        while True:
            t = self.next()
            if t == "end":
                return "(" + " ".join(stmts) + ")"
            stmts.append(self.statement(t))

    def statement(self, t: str) -> str:
        handlers: Dict[str, Callable[[], str]] = {
            "=": lambda: f"(Assign {self.target()} {self.expr()})",
            "if": lambda: f"(If {self.expr()} {self.block()} ())",
            "if/else": lambda: f"(If {self.expr()} {self.block()} {self.block()})",
            "for/1": lambda: self.for_loop(1),
            "for/2": lambda: self.for_loop(2),
            "return": lambda: f"(Return {self.expr()})",
        }
        if t in AUGASSIGN:
            return f"(AugAssign {AUGASSIGN[t]} {self.target()} {self.expr()})"
        if t in SIMPLE:
            return SIMPLE[t]
        if t in handlers:
            return handlers[t]()
        raise ValueError(f"{t!r} where a statement belongs")

    def for_loop(self, bounds: int) -> str:
        var = self.target()
        args = "".join(" " + self.expr() for _ in range(bounds))
        return f"(For {var} (Call range{args}) {self.block()})"

    def function(self, name: str) -> str:
        t = self.next()
        if not t.startswith("def/"):
            raise ValueError(f"{t!r} where a function belongs")
        params = " ".join(chr(ord("a") + i) for i in range(int(t[len("def/"):])))
        return f"(FunctionDef {name} ({params}) {self.block()})"


def tokens_to_sexpr(tokens: Sequence[int], names: Sequence[str]) -> str:
    """The S-expression of a complete FUNCTION-root program (its <eos> included)."""
    r = Reader(tokens, names)
    tree = r.function("func")
    if r.next() != "<eos>":
        raise ValueError("the function is not followed by <eos>")
    return tree
