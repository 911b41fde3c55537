"""The hostile Tokenize and Run requests the soak mixes into its load, each with the outcome
docs/api.md and docs/language.md promise for it.

A case is made by a function of a random.Random and returns a Case: the method, the request,
the gRPC code the call must end with, the google.rpc.BadRequest field it must name (None: not
checked), and a check of the response when the call succeeds (it returns an error string, or
None). Sizes are drawn at random so that the server sees many shapes, but stay at tens of KB,
far under the per-call limits, but for one rare row just over --max-source-bytes: the soak
measures drift under churn, and tests/server/hostile_test.py already holds the extremes and
their ceilings. (Each large buffer moves glibc's heap by a step: a soak full of 1 MiB inputs
measures the allocator's wander, not the server's growth.)
"""
import ast
import collections

import grpc
from astcd.v1 import astcd_pb2 as pb

SC = grpc.StatusCode
Case = collections.namedtuple("Case", "name method request code field check")
C, AT = pb.DecodeConfig, pb.ArgTuple
MB = 1 << 20
I31 = 2**31 - 1
LOOPS = C(allow_loops=True)

# Valid Python that is outside the language (docs/language.md §10, stage unsupported_syntax).
# Each is checked against CPython's own parser at import, so a typo cannot turn one into a
# python_parse case and make the expected stage wrong.
UNSUPPORTED = [
    "class A:\n    pass\n",
    "def f(a):\n    while a:\n        a -= 1\n    return a\n",
    "def f(a):\n    return (lambda x: x)(a)\n",
    "import os\n\ndef f(a):\n    return a\n",
    "def f(a):\n    return f'{a}'\n",
    "def f(a):\n    return a / 2\n",
    "def f(a):\n    return a ** 2\n",
    "def f(a):\n    return [a][0]\n",
    "def f(a):\n    return a.real\n",
    "@staticmethod\ndef f(a):\n    return a\n",
    "async def f(a):\n    return a\n",
    "def f(a, *b):\n    return a\n",
    "def f(a=1):\n    return a\n",
    "def f(a):\n    return 1 < a < 3\n",
    "def f(a):\n    return 1.5\n",
    "def f(a):\n    return f(a - 1)\n",
]
for _src in UNSUPPORTED:
    ast.parse(_src)


def tokenize_case(name, source, check, **kw):
    return Case(name, "Tokenize", pb.TokenizeRequest(sources=[source], **kw), SC.OK, None, check)


def refused(*stages):
    """A check: the one result is not ok, and fails at one of `stages` (any, when empty)."""
    def check(resp):
        r = resp.results[0]
        if r.ok:
            return "a hostile source was accepted"
        if stages and r.error.stage not in stages:
            return f"stage {r.error.stage!r}, expected one of {stages}: {r.error.message[:120]}"
        return None
    return check


def answered(resp):
    """A check for garbage: any verdict will do, as long as there is one per source."""
    return None if len(resp.results) == 1 else f"{len(resp.results)} results for 1 source"


def deep_brackets(rng):
    n = rng.randint(201, 10000)  # CPython's limit is 200 levels of brackets
    return tokenize_case("tokenize: deep brackets", "x = " + "(" * n + "a" + ")" * n,
                         refused("python_parse"), start=pb.START_BLOCK)


def deep_blocks(rng):
    n = rng.randint(101, 400)  # past the nesting limit (100) and CPython's indentation limit
    src = "def f(a):\n" + "".join(" " * (i + 1) + "if a:\n" for i in range(n)) + " " * (n + 1)
    return tokenize_case("tokenize: deep blocks", src + "pass\n",
                         refused("python_parse", "unsupported_syntax"))


def deep_unary(rng):
    n = rng.randint(101, 20000)  # one nesting level per unary operator
    return tokenize_case("tokenize: deep unary", "def f(a):\n    return " + "-" * n + "a\n",
                         refused("unsupported_syntax"))


def huge_int(rng):
    digits = "9" * rng.randint(8, 20000)  # past const_range's widest bound, 2^20
    return tokenize_case("tokenize: huge int literal", f"def f(a):\n    return {digits}\n",
                         refused("unsupported_syntax"))


def huge_string(rng):
    body = "x" * rng.randint(1, 20000)
    return tokenize_case("tokenize: huge str literal", f"def f(a):\n    return '{body}'\n",
                         refused("unsupported_syntax"))


def garbage(rng):
    """Random code points, control characters and NUL included, but no surrogates: a proto
    string must be UTF-8, so this is the garbage that reaches the parser."""
    def char():
        c = rng.choice([rng.randint(0, 127), rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])
        return chr(c)
    src = "".join(char() for _ in range(rng.randint(1, 5000)))
    return tokenize_case("tokenize: garbage", src, answered,
                         partial=rng.random() < 0.5, start=rng.randint(0, 3))


def unsupported(rng):
    return tokenize_case("tokenize: unsupported syntax", rng.choice(UNSUPPORTED),
                         refused("unsupported_syntax"))


def oversized(rng):
    return Case("tokenize: over --max-source-bytes", "Tokenize",
                pb.TokenizeRequest(sources=["#" * (MB + 1)]), SC.INVALID_ARGUMENT,
                "sources[0]", None)


def too_many_sources(rng):
    return Case("tokenize: over --max-sources", "Tokenize",
                pb.TokenizeRequest(sources=["pass\n"] * rng.randint(257, 400)),
                SC.INVALID_ARGUMENT, "sources", None)


def bad_config(rng):
    return Case("tokenize: config out of range", "Tokenize",
                pb.TokenizeRequest(sources=["def f(a):\n    return a\n"],
                                   config=C(max_expr_depth=rng.randint(17, 1000))),
                SC.INVALID_ARGUMENT, "config.max_expr_depth", None)


def run_case(name, code, field=None, status=None, **kw):
    def check(resp):
        got = [o.status for o in resp.outcomes]
        return None if got and all(s == status for s in got) else f"outcomes {got}, want {status}"
    return Case(name, "Run", pb.RunRequest(**kw), code, field, check if status else None)


def endless_loop(rng):
    """A loop of 10^18 iterations under a step cap: stops with step_limit, never hangs."""
    src = ("def f(a):\n    x = 0\n    for i in range(a):\n        for j in range(a):\n"
           "            x += 1\n    return x\n")
    steps = rng.randint(1000, 200000)
    return run_case("run: endless loop under a step cap", SC.OK, status="step_limit",
                    source=src, config=LOOPS, inputs=[AT(args=[10**9])],
                    limits=pb.RunLimits(max_steps=steps))


def big_ints(rng):
    """Repeated squaring leaves value_range: overflow, however wide the range."""
    hi = rng.choice([I31, 2**62])
    src = "def f(a):\n" + "    a = a * a\n" * 8 + "    return a\n"
    return run_case("run: big ints", SC.OK, status="overflow", source=src,
                    config=C(max_block_stmts=16, value_range=pb.Range(lo=-hi, hi=hi)),
                    inputs=[AT(args=[rng.randint(3, 1000)])])


def zero_division(rng):
    op = rng.choice(["//", "%"])
    return run_case("run: division by zero", SC.OK, status="zero_division",
                    source=f"def f(a, b):\n    return a {op} b\n",
                    inputs=[AT(args=[rng.randint(-99, 99), 0])])


def recursion(rng):
    """There are no calls but abs/min/max: recursion is refused before it can run."""
    src = rng.choice(["def f(a):\n    return f(a - 1)\n",
                      "def f(a):\n    return g(a)\n\ndef g(a):\n    return f(a)\n"])
    return run_case("run: recursion", SC.INVALID_ARGUMENT, "source", source=src,
                    inputs=[AT(args=[5])])


def deep_expression(rng):
    n = rng.randint(101, 5000)
    return run_case("run: deep expression", SC.INVALID_ARGUMENT, "source",
                    source="def f(a):\n    return " + "(" * n + "a" + ")" * n + "\n",
                    inputs=[AT(args=[1])])


def huge_argument(rng):
    return run_case("run: argument outside value_range", SC.INVALID_ARGUMENT, "inputs[0].args[0]",
                    source="def f(a):\n    return a\n", inputs=[AT(args=[2**31 + rng.randint(0, 2**40)])])


def step_budget(rng):
    return run_case("run: over --max-run-steps", SC.INVALID_ARGUMENT, "limits.max_steps",
                    source="def f(a):\n    return a\n", inputs=[AT(args=[1])] * 3,
                    limits=pb.RunLimits(max_steps=10**8))


# (case maker, weight): the weights keep the 1 MiB row rare, so that it does not dominate RSS.
CASES = [
    (deep_brackets, 4), (deep_blocks, 4), (deep_unary, 4), (huge_int, 3), (huge_string, 3),
    (garbage, 6), (unsupported, 6), (oversized, 1), (too_many_sources, 2), (bad_config, 2),
    (endless_loop, 4), (big_ints, 4), (zero_division, 4), (recursion, 4),
    (deep_expression, 3), (huge_argument, 3), (step_budget, 3),
]


def random_case(rng):
    makers, weights = zip(*CASES)
    return rng.choices(makers, weights)[0](rng)
