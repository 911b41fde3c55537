// Tokenize: partial prompts resume exactly like decoding, failures keep the longest valid
// prefix, and hostile input is answered with an error, quickly.
#include "core/tokenize.h"

#include "core/py_ast.h"

#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;
using ::astcd::testing::MaskSet;
using ::astcd::testing::MustInit;

TokenizeResult Tok(const std::shared_ptr<const Engine>& e, absl::string_view source,
                   Start start = Start::kFunction, bool partial = false) {
  TokenizeOptions options;
  options.start = start;
  options.partial = partial;
  return Tokenize(e, source, options);
}

// The state Tokenize returns must be the state decoding the same tokens reaches.
void ExpectResumesLikeDecoding(const std::shared_ptr<const Engine>& e, const TokenizeResult& r,
                               const std::string& names) {
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.tokens, Ids(*e, names));
  ASSERT_TRUE(r.state.has_value());
  DecodeState decoded = MustInit(e, r.start, names, kMaxLenLimit);
  EXPECT_EQ(MaskSet(*r.state), MaskSet(decoded));
  EXPECT_EQ(r.state->complete(), decoded.complete());
}

TEST(TokenizePartial, PromptsResumeExactlyAsIfDecoded) {
  auto e = MakeEngine();
  ExpectResumesLikeDecoding(e, Tok(e, "def func(a):", Start::kFunction, true), "def/1");
  ExpectResumesLikeDecoding(e, Tok(e, "def func(a, b):\n    c = a +", Start::kFunction, true),
                            "def/2 = c + a");
  ExpectResumesLikeDecoding(
      e, Tok(e, "def f(x):\n    if x:\n        return 1\n    else:", Start::kFunction, true),
      "def/1 if/else a return 1 end");
  // A block closed by a real dedent is closed; the one the input ends in stays open.
  ExpectResumesLikeDecoding(
      e, Tok(e, "def f(x):\n    if x:\n        y = 1\n    z = 2\n", Start::kFunction, true),
      "def/1 if a = b 1 end = c 2");
  const TokenizeResult open = Tok(e, "def f(x):\n    return x\n", Start::kFunction, true);
  EXPECT_FALSE(open.complete);
  EXPECT_EQ(open.normalized_source, "def func(a):\n    return a\n    <stmt>\n");
}

TEST(Tokenize, CompleteSourcesEndWithEos) {
  auto e = MakeEngine();
  TokenizeResult r = Tok(e, "def Area(width, height):\n    '''doc'''\n    s = width * height\n"
                            "    return s\n");
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.tokens, Ids(*e, "def/2 = c * a b return c end <eos>"));
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.state->terminated());
  EXPECT_EQ(r.normalized_source, "def func(a, b):\n    c = a * b\n    return c\n");
  // A body that is only a docstring becomes `pass`.
  r = Tok(e, "def f(a):\n    \"\"\"Nothing.\"\"\"\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.tokens, Ids(*e, "def/1 pass end <eos>"));
}

TEST(Tokenize, ModuleBlockAndExpressionRoots) {
  auto e = MakeEngine();
  TokenizeResult r = Tok(e, "def g(p):\n    return p\n\ndef h(q, r):\n    return r\n",
                         Start::kModule);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.tokens, Ids(*e, "def/1 return a end def/2 return b end <eos>"));
  TokenizeOptions options;
  options.start = Start::kBlock;
  options.arity = 2;
  r = Tokenize(e, "c = a + b\nreturn c\n", options);
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.tokens, Ids(*e, "= c + a b return c end <eos>"));
  options.start = Start::kExpr;
  r = Tokenize(e, "-a if a < 0 else a", options);
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.tokens, Ids(*e, "ifexp < a 0 neg a a <eos>"));
  EXPECT_EQ(r.normalized_source, "-a if a < 0 else a");
}

// CPython's n-ary BoolOp is a left-nested chain of binary tokens, printed flat again; a
// right-nested one keeps its parentheses (docs/language.md, section 3).
TEST(Tokenize, BoolOpChainsNestToTheLeft) {
  auto e = MakeEngine();
  TokenizeOptions options;
  options.start = Start::kExpr;
  options.arity = 3;
  const struct {
    const char* source;
    const char* tokens;
    const char* normalized;
  } cases[] = {
      {"a or b or c", "or or a b c <eos>", "a or b or c"},
      {"(a or b) or c", "or or a b c <eos>", "a or b or c"},
      {"a or (b or c)", "or a or b c <eos>", "a or (b or c)"},
      {"a and b and c or a", "or and and a b c a <eos>", "a and b and c or a"},
      {"a and (b and c) and a", "and and a and b c a <eos>", "a and (b and c) and a"},
  };
  for (const auto& c : cases) {
    const TokenizeResult r = Tokenize(e, c.source, options);
    ASSERT_TRUE(r.ok) << c.source << ": " << r.error->message;
    EXPECT_EQ(r.tokens, Ids(*e, c.tokens)) << c.source;
    EXPECT_EQ(r.normalized_source, c.normalized) << c.source;
  }
}

TEST(Tokenize, FailuresKeepTheLongestValidPrefixAndAPosition) {
  auto e = MakeEngine();
  TokenizeResult r = Tok(e, "def f(a):\n    b = a\n    return a.real\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kUnsupportedSyntax);
  EXPECT_EQ(r.error->node_type, "Attribute");
  EXPECT_EQ(r.error->line, 3);
  EXPECT_EQ(r.error->column, 11);
  EXPECT_EQ(r.tokens, Ids(*e, "def/1 = b a return"));
  EXPECT_FALSE(r.state.has_value());
  r = Tok(e, "def f(a):\n    if a:\n        b = 1\n    return b\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kScope);
  EXPECT_EQ(r.error->line, 4);
  EXPECT_EQ(r.error->column, 11);
  EXPECT_EQ(r.tokens, Ids(*e, "def/1 if a = b 1 end return"));
}

void ExpectError(const TokenizeResult& r, TokenizeStage stage, absl::string_view node_type,
                 int line) {
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(TokenizeStageName(r.error->stage), TokenizeStageName(stage)) << r.error->message;
  EXPECT_EQ(r.error->node_type, node_type) << r.error->message;
  EXPECT_EQ(r.error->line, line) << r.error->message;
}

// `limits` means a bigger config admits the source (docs/language.md, section 10).
TEST(TokenizeRanking, AnythingNoConfigAdmitsOutranksALimit) {
  auto e = MakeEngine();
  TokenizeResult r = Tok(e, "def f(a):\n    x = 5000\n    return a[0]\n");
  ExpectError(r, TokenizeStage::kUnsupportedSyntax, "Subscript", 3);
  EXPECT_EQ(r.tokens, Ids(*e, "def/1 = b"));  // still the prefix this config accepts
  ExpectError(Tok(e, "def f(a):\n    if a > 50:\n        return y\n    return a\n"),
              TokenizeStage::kScope, "Name", 3);
  ExpectError(Tok(e, "def f(a, b, c, d):\n    return len(a)\n"),
              TokenizeStage::kUnsupportedSyntax, "Call", 2);
  ExpectError(Tok(e, "def f(a):\n    for x in a:\n        pass\n"),
              TokenizeStage::kUnsupportedSyntax, "For.iter", 2);
}

TEST(TokenizeRanking, ALimitSomeConfigLiftsStaysALimit) {
  auto e = MakeEngine();
  ExpectError(Tok(e, "def f(a):\n    return a + 100\n"), TokenizeStage::kLimits,
              "Constant[int]", 2);
  ExpectError(Tok(e, "def f(a):\n    return 1048576\n"), TokenizeStage::kLimits,
              "Constant[int]", 2);
  ExpectError(Tok(e, "def f(a, b, c, d, e, f):\n    return a\n"), TokenizeStage::kLimits,
              "FunctionDef", 1);
  ExpectError(Tok(e, "def f(a):\n    for i in range(a):\n        pass\n"),
              TokenizeStage::kLimits, "For", 2);
}

TEST(TokenizeRanking, ALimitNoConfigLiftsIsUnsupportedSyntax) {
  auto e = MakeEngine();
  TokenizeResult r = Tok(e, "def f(a, b, c, d, e, f, g):\n    return a\n");
  ExpectError(r, TokenizeStage::kUnsupportedSyntax, "FunctionDef", 1);
  EXPECT_NE(r.error->message.find("no config admits it"), std::string::npos) << r.error->message;
  ExpectError(Tok(e, "def f(a):\n    return 2147483648\n"), TokenizeStage::kUnsupportedSyntax,
              "Constant[int]", 2);
  // 1024 values fit one const_range; 0 and 1024 do not.
  ExpectError(Tok(e, "def f(a):\n    b = 0\n    return 1023\n"), TokenizeStage::kLimits,
              "Constant[int]", 3);
  ExpectError(Tok(e, "def f(a):\n    b = 0\n    return 1024\n"),
              TokenizeStage::kUnsupportedSyntax, "Constant[int]", 3);
  std::string deep = "def f(a):\n    return a";
  for (int i = 0; i < 16; ++i) deep += " + a";
  ExpectError(Tok(e, deep + "\n"), TokenizeStage::kUnsupportedSyntax, "BinOp", 2);
}

TEST(TokenizeRanking, TheBudgetIsALimitUpToTheLargestMaxLen) {
  auto e = MakeEngine();
  TokenizeOptions options;
  options.start = Start::kFunction;
  options.max_len = 5;
  TokenizeResult r = Tokenize(e, "def f(a):\n    return a + a\n", options);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kLimits) << r.error->message;
  EXPECT_NE(r.error->message.find("max_len = 5"), std::string::npos) << r.error->message;
}

// The arity is checked before the root scope holds that many names: the fuzzer found BLOCK
// sources with arity 2^31 - 1 that took minutes and gigabytes before they were refused.
TEST(TokenizeRanking, AnArityIsCheckedBeforeItsScopeIsBuilt) {
  auto e = MakeEngine();
  for (Start start : {Start::kBlock, Start::kExpr}) {
    const char* source = start == Start::kBlock ? "x = a\n" : "a + 1\n";
    for (int arity : {5, 2147483647, -1, -2147483647 - 1}) {
      TokenizeOptions options;
      options.start = start;
      options.arity = arity;
      TokenizeResult r = Tokenize(e, source, options);
      ASSERT_FALSE(r.ok) << arity;
      EXPECT_TRUE(r.tokens.empty()) << arity;
      // 5 is in the widest config's arities, so a bigger config would take the source.
      EXPECT_EQ(r.error->stage,
                arity == 5 ? TokenizeStage::kLimits : TokenizeStage::kUnsupportedSyntax)
          << arity << ": " << r.error->message;
      EXPECT_NE(r.error->message.find("is not in config.arities"), std::string::npos)
          << r.error->message;
    }
  }
}

TEST(Tokenize, HostileInputIsAnsweredQuickly) {
  auto e = MakeEngine();
  std::string long_line = "def f(a):\n    return a";
  for (int i = 0; i < 2'500'000; ++i) long_line += " + a";  // ~10 MB on one line
  long_line += "\n";
  TokenizeResult r = Tok(e, long_line);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kLimits);
  EXPECT_NE(r.error->message.find("max_source_bytes"), std::string::npos);
  // Under the size limit, a long chain is refused for its depth while it is parsed.
  std::string chain = "def f(a):\n    return a";
  for (int i = 0; i < 200'000; ++i) chain += " + a";
  r = Tok(e, chain + "\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kUnsupportedSyntax);
  EXPECT_NE(r.error->message.find("nests deeper than 100 levels"), std::string::npos)
      << r.error->message;
  std::string deep = "def f(a):\n    return " + std::string(1000, '(') + "a" +
                     std::string(1000, ')') + "\n";
  r = Tok(e, deep);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kPythonParse);
  std::string unary = "def f(a):\n    return " + std::string(100000, '-') + "a\n";
  r = Tok(e, unary);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error->stage, TokenizeStage::kUnsupportedSyntax);
  for (std::string bad : {std::string("def f(a):\n    return a\0\n", 24),
                          std::string("def f(a):\n    return '\xff'\n"),
                          std::string("def f(a):\n\tb = a\n        return b\n")}) {
    r = Tok(e, bad);
    ASSERT_FALSE(r.ok) << bad;
    EXPECT_EQ(r.error->stage, TokenizeStage::kPythonParse) << bad;
    EXPECT_GE(r.error->line, 2) << r.error->message;
  }
}

// Each way to nest (tests/core/test_util.h), through the parser, the normalizer, the decoder
// and the printer, on a stack smaller than any the server runs requests on: the deepest source
// the parser takes, then #12's long elif chain (SIGSEGV before kMaxNesting counted elifs).
TEST(Tokenize, DeepNestingIsRefusedOnASmallStack) {
  auto e = MakeEngine();
  auto loops = MakeEngine([] {
    DecodeConfig c;
    c.allow_loops = true;
    c.max_control_depth = 8;
    c.max_expr_depth = 16;
    return c;
  }());
  for (const testing::DeepShape& shape : testing::DeepShapes()) {
    testing::OnSmallStack([&] {
      int deepest = 0;
      while (deepest < 2 * kMaxNesting) {
        PyArena arena;
        if (!ParsePython(shape.source(deepest + 1), false, &arena).ok) break;
        ++deepest;
      }
      for (const auto& engine : {e, loops}) {
        for (int n : {deepest, deepest + 1, shape.linear ? 80'000 : 1'000}) {
          for (bool partial : {false, true}) {
            TokenizeResult r = Tok(engine, shape.source(n), Start::kModule, partial);
            if (n == deepest && r.ok) continue;  // `((a))` is just `a`
            ASSERT_FALSE(r.ok) << shape.name << " " << n;
            EXPECT_GE(r.error->line, 1) << shape.name << " " << n << ": " << r.error->message;
            EXPECT_FALSE(r.error->message.empty());
          }
        }
      }
    });
  }
  testing::OnSmallStack([&] {
    const std::string elifs =
        "def f(a):\n if a:pass\n" + testing::Repeat(" elif a:pass\n", 80'000);
    for (bool partial : {false, true}) {
      TokenizeResult r = Tok(e, elifs, Start::kFunction, partial);
      ASSERT_FALSE(r.ok);
      EXPECT_EQ(r.error->stage, TokenizeStage::kUnsupportedSyntax);
      EXPECT_NE(r.error->message.find("nests deeper than 100 levels"), std::string::npos)
          << r.error->message;
      EXPECT_GT(r.error->line, 2);
      EXPECT_LE(r.error->line, 2 + kMaxNesting);
    }
    // Within the parser's limit, the decoder's own control depth refuses the chain.
    TokenizeResult r =
        Tok(e, "def f(a):\n if a:pass\n" + testing::Repeat(" elif a:pass\n", 50));
    ASSERT_FALSE(r.ok);
    EXPECT_NE(r.error->message.find("max_control_depth"), std::string::npos) << r.error->message;
  });
}

TEST(TokenizeFunctions, EachTopLevelFunctionOnItsOwn) {
  auto e = MakeEngine();
  auto results = TokenizeFunctions(
      e, "import os\n\ndef a(x):\n    return x\n\nclass C:\n    def m(self):\n        pass\n\n"
         "def b(x):\n    return os.sep\n\nasync def c(x):\n    return x\n");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].name, "a");
  EXPECT_TRUE(results[0].result.ok);
  EXPECT_EQ(results[1].name, "b");
  EXPECT_EQ(results[1].line, 10);
  EXPECT_EQ(results[1].result.error->node_type, "Attribute");
  EXPECT_EQ(results[2].result.error->node_type, "AsyncFunctionDef");
  auto broken = TokenizeFunctions(e, "def a(:\n");
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_TRUE(broken[0].name.empty());
  EXPECT_EQ(broken[0].result.error->stage, TokenizeStage::kPythonParse);
}

}  // namespace
}  // namespace astcd
