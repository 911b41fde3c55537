#!/usr/bin/python3
"""Generates XGrammar EBNF for the AST-CD language from `astcd vocab` output.

The vocabulary (token names, kinds, ids) comes from `astcd vocab --config CFG`; the only
hand-written part is PRODUCTIONS below: the children of each statement and operator token in
preorder, as docs/language.md sections 2 and 3 give them. A token the table does not know makes
the generator fail, so the grammar cannot silently fall behind the vocabulary.

XGrammar matches bytes, not token ids, so each astcd token becomes the XGrammar token
`"[" + name + "]"`. The brackets make the token strings prefix-free (`+` vs `+=`, `a` vs `and`,
`1` vs `10`), so a terminal of the grammar is exactly one token and XGrammar's mask is exactly
the set of grammar-legal token ids. Ids are astcd's ids; `<eos>` is XGrammar's stop token and
`<pad>` is the empty string, which XGrammar treats as a special token (never legal).
The opening bracket matters too: XGrammar 0.1.27 builds its token trie with a substring test
(std::string::find) instead of a prefix test, so a token that contains a rejected token
anywhere (`== ` contains `= `, `>=~` contains `=~`) is skipped with it and wrongly left out of
the mask. With a leading "[", no token string occurs inside another. bench.mjs checks the mask
against accept_token on every checked state.

Two grammars:
  unrolled  the config's bounded guards are unrolled: functions per module (max_functions),
            statements per block (max_block_stmts), if/for nesting (max_control_depth),
            expression depth (max_expr_depth), break/continue only inside a for body, for only
            when allow_loops. This is the closest context-free grammar to the language.
  plain     the same productions without the numeric guards: func+, stmt+, recursive expr.
Neither can express scope (definitely-assigned names, the next fresh name, max_locals) or the
token budget (max_len).

Usage: gen_grammar.py --vocab VOCAB.json [--config JSON] [--variant unrolled|plain] [--out F]
"""
import argparse
import json
import sys

# docs/language.md section 4: the defaults of the knobs the grammar unrolls.
DEFAULTS = {
    "max_block_stmts": 4,
    "max_expr_depth": 4,
    "max_control_depth": 2,
    "max_functions": 3,
    "allow_loops": False,
}

# Hand-written: children of each statement / operator token, in preorder (docs/language.md
# sections 2 and 3). target = a variable token; expr = an expression; block = statements
# closed by `end` one control level deeper; loop = a for body (a block where break/continue
# are legal). "loops" marks tokens legal only with allow_loops, "in_loop" those legal only in
# a for body.
PRODUCTIONS = {
    # statements
    "=": ["target", "expr"],
    "+=": ["target", "expr"],
    "-=": ["target", "expr"],
    "*=": ["target", "expr"],
    "//=": ["target", "expr"],
    "%=": ["target", "expr"],
    "if": ["expr", "block"],
    "if/else": ["expr", "block", "block"],
    "for/1": ["target", "expr", "loop"],
    "for/2": ["target", "expr", "expr", "loop"],
    "return": ["expr"],
    "return/0": [],
    "pass": [],
    "break": [],
    "continue": [],
    # operators
    "+": ["expr", "expr"], "-": ["expr", "expr"], "*": ["expr", "expr"],
    "//": ["expr", "expr"], "%": ["expr", "expr"],
    "<": ["expr", "expr"], "<=": ["expr", "expr"], "==": ["expr", "expr"],
    "!=": ["expr", "expr"], ">": ["expr", "expr"], ">=": ["expr", "expr"],
    "and": ["expr", "expr"], "or": ["expr", "expr"],
    "neg": ["expr"], "not": ["expr"],
    "ifexp": ["expr", "expr", "expr"],
    "abs": ["expr"], "min": ["expr", "expr"], "max": ["expr", "expr"],
}
CONTROL = {"if", "if/else", "for/1", "for/2"}  # need control depth < max_control_depth
LOOPS_ONLY = {"for/1", "for/2", "break", "continue"}
IN_LOOP_ONLY = {"break", "continue"}


def token_string(name):
    """The XGrammar token string of astcd token `name`."""
    if name == "<pad>":
        return ""
    assert "[" not in name and "]" not in name, name
    return "[" + name + "]"


def lit(name):
    """The EBNF terminal of token `name`: its XGrammar token string."""
    s = token_string(name)
    assert '"' not in s and "\\" not in s, name
    return '"' + s + '"'


def load_config(text):
    cfg = dict(DEFAULTS)
    given = json.loads(text) if text else {}
    for k, v in given.items():
        if k in cfg:
            cfg[k] = v
    return cfg


def nested_optional(item, n):
    """item (item (item)?)? with n items at most: unambiguous, unlike item item? item?."""
    if n <= 1:
        return item
    return item + " (" + nested_optional(item, n - 1) + ")?"


def generate(vocab, cfg, variant):
    if variant not in ("unrolled", "plain"):
        raise ValueError("variant must be unrolled or plain")
    names_by_kind = {}
    for t in vocab["tokens"]:
        names_by_kind.setdefault(t["kind"], []).append(t["name"])
    for kind in ("statement", "operator"):
        for name in names_by_kind.get(kind, []):
            if name not in PRODUCTIONS:
                raise SystemExit(f"gen_grammar: no production for {kind} token {name!r}; "
                                 "update PRODUCTIONS from docs/language.md")
    if names_by_kind.get("block_end") != ["end"]:
        raise SystemExit("gen_grammar: expected exactly one block_end token, 'end'")
    loops = bool(cfg["allow_loops"])
    statements = [n for n in names_by_kind["statement"] if loops or n not in LOOPS_ONLY]
    operators = names_by_kind["operator"]
    defs = names_by_kind["function"]
    unrolled = variant == "unrolled"
    max_depth = cfg["max_expr_depth"]
    max_control = cfg["max_control_depth"]

    out = []
    emit = out.append
    emit(f"# AST-CD as XGrammar EBNF ({variant}); generated by bench/xgrammar/gen_grammar.py")
    emit(f"# from `astcd vocab` (fingerprint {vocab['fingerprint']}) and config "
         f"{json.dumps(cfg, sort_keys=True)}.")
    emit("# Each terminal is one astcd token, its name in brackets. Scope and the token")
    emit("# budget are not expressible here.")

    def block_rule(depth, in_loop):
        return f"block_{depth}{'_loop' if in_loop else ''}" if unrolled else (
            "block_loop" if in_loop else "block")

    def expr_rule(depth):  # depth = the most levels the expression may still use
        return f"expr_{depth}" if unrolled else "expr"

    top_expr = expr_rule(max_depth)
    if unrolled:
        emit("root ::= " + nested_optional("func", cfg["max_functions"]))
    else:
        emit("root ::= func+")
    emit("func ::= " + " | ".join(f"({lit(d)} {block_rule(0, False)})" for d in defs))

    # Blocks and statements.
    levels = range(max_control + 1) if unrolled else [None]
    for depth in levels:
        for in_loop in ((False, True) if loops else (False,)):
            b = block_rule(depth, in_loop)
            s = b.replace("block", "stmt", 1)
            if unrolled:
                emit(f"{b} ::= {nested_optional(s, cfg['max_block_stmts'])} {lit('end')}")
            else:
                emit(f"{b} ::= {s}+ {lit('end')}")
            alts = []
            for name in statements:
                if name in IN_LOOP_ONLY and not in_loop:
                    continue
                if name in CONTROL and unrolled and depth >= max_control:
                    continue
                if name in CONTROL and not unrolled and max_control == 0:
                    continue
                parts = [lit(name)]
                for child in PRODUCTIONS[name]:
                    if child == "target":
                        parts.append("var")
                    elif child == "expr":
                        parts.append(top_expr)
                    elif child == "block":
                        parts.append(block_rule(depth + 1 if unrolled else None, in_loop))
                    elif child == "loop":
                        parts.append(block_rule(depth + 1 if unrolled else None, True))
                    else:
                        raise AssertionError(child)
                alts.append("(" + " ".join(parts) + ")")
            emit(f"{s} ::= " + " | ".join(alts))

    # Expressions.
    expr_levels = range(max_depth, 0, -1) if unrolled else [None]
    for depth in expr_levels:
        alts = []
        if not unrolled or depth > 1:
            sub = expr_rule(depth - 1) if unrolled else "expr"
            for name in operators:
                alts.append("(" + " ".join([lit(name)] + [sub] * len(PRODUCTIONS[name])) + ")")
        alts.append("leaf")
        emit(f"{expr_rule(depth)} ::= " + " | ".join(alts))
    leaves = []
    if names_by_kind.get("variable"):
        leaves.append("var")
    if names_by_kind.get("constant"):
        leaves.append("const")
    emit("leaf ::= " + " | ".join(leaves))
    emit("var ::= " + " | ".join(lit(n) for n in names_by_kind["variable"]))
    if names_by_kind.get("constant"):
        emit("const ::= " + " | ".join(lit(n) for n in names_by_kind["constant"]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", required=True, help="output of `astcd vocab` (a file, or - )")
    ap.add_argument("--config", default="", help="the DecodeConfig JSON given to astcd")
    ap.add_argument("--variant", default="unrolled", choices=["unrolled", "plain"])
    ap.add_argument("--out", default="-")
    ap.add_argument("--tokens-out", help="write the XGrammar vocabulary (JSON list of strings)")
    args = ap.parse_args()
    text = sys.stdin.read() if args.vocab == "-" else open(args.vocab).read()
    vocab = json.loads(text)
    ebnf = generate(vocab, load_config(args.config), args.variant)
    if args.tokens_out:
        with open(args.tokens_out, "w") as f:
            json.dump([token_string(t["name"]) for t in vocab["tokens"]], f)
    if args.out == "-":
        sys.stdout.write(ebnf)
    else:
        with open(args.out, "w") as f:
            f.write(ebnf)


if __name__ == "__main__":
    main()
