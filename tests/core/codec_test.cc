// The codec: golden token streams -> source, parenthesization, partial programs, and
// tokens -> AST -> tokens round trips over sampled programs.
#include "core/codec.h"

#include "absl/strings/match.h"
#include "core/errors.h"

#include "core/decode.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;

std::shared_ptr<const Engine> LoopsEngine() {
  DecodeConfig c;
  c.allow_loops = true;
  return MakeEngine(c);
}

std::string Source(const std::shared_ptr<const Engine>& e, Start start, const std::string& names,
                   bool partial = false, std::optional<int> arity = std::nullopt) {
  auto source = TokensToSource(e, start, arity, Ids(*e, names), partial);
  EXPECT_TRUE(source.ok()) << source.status();
  return source.value_or("");
}

TEST(CodecGolden, Function) {
  EXPECT_EQ(Source(MakeEngine(), Start::kFunction, "def/2 = c + a b return * c 2 end <eos>"),
            "def func(a, b):\n    c = a + b\n    return c * 2\n");
}

TEST(CodecGolden, ElifChain) {
  EXPECT_EQ(Source(MakeEngine(), Start::kFunction,
                   "def/1 if/else < a 0 return neg a end if/else == a 0 return 0 end return a "
                   "end end end <eos>"),
            "def func(a):\n"
            "    if a < 0:\n"
            "        return -a\n"
            "    elif a == 0:\n"
            "        return 0\n"
            "    else:\n"
            "        return a\n");
}

TEST(CodecGolden, LoopWithAugmentedAssignment) {
  EXPECT_EQ(Source(LoopsEngine(), Start::kFunction,
                   "def/1 = b 0 for/2 c 1 + a 1 += b c if == c 3 break end end return b end"),
            "def func(a):\n"
            "    b = 0\n"
            "    for c in range(1, a + 1):\n"
            "        b += c\n"
            "        if c == 3:\n"
            "            break\n"
            "    return b\n");
}

TEST(CodecGolden, ModuleNamesItsFunctions) {
  EXPECT_EQ(Source(MakeEngine(), Start::kModule,
                   "def/1 return a end def/2 return max a b end def/1 return/0 end <eos>"),
            "def func(a):\n    return a\n\ndef func1(a, b):\n    return max(a, b)\n\n"
            "def func2(a):\n    return\n");
}

TEST(CodecGolden, BlockAndExpressionRoots) {
  auto e = MakeEngine();
  EXPECT_EQ(Source(e, Start::kBlock, "= c + a b pass end <eos>", false, 2), "c = a + b\npass\n");
  EXPECT_EQ(Source(e, Start::kExpr, "ifexp < a 0 neg a a <eos>", false, 1), "-a if a < 0 else a");
}

TEST(CodecParentheses, OnlyWhereTheAstNeedsThem) {
  auto e = MakeEngine();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"* + a b c", "(a + b) * c"},
      {"+ * a b c", "a * b + c"},
      {"- a - b c", "a - (b - c)"},
      {"- - a b c", "a - b - c"},
      {"// a * b c", "a // (b * c)"},
      {"and and a b c", "a and b and c"},  // a left-nested chain is CPython's one BoolOp
      {"and a and b c", "a and (b and c)"},
      {"or or or a b c a", "a or b or c or a"},
      {"or or a or b c a", "a or (b or c) or a"},
      {"or a and b c", "a or b and c"},
      {"and or a b c", "(a or b) and c"},
      {"< < a b c", "(a < b) < c"},
      {"not < a b", "not a < b"},
      {"< not a b", "(not a) < b"},
      {"neg + a b", "-(a + b)"},
      {"neg neg a", "--a"},
      {"+ a neg b", "a + -b"},
      {"ifexp a ifexp b 1 2 3", "(1 if b else 2) if a else 3"},
      {"ifexp ifexp a b c 1 2", "1 if (b if a else c) else 2"},
      {"ifexp a 1 ifexp b 2 3", "1 if a else 2 if b else 3"},
      {"+ ifexp a 1 2 3", "(1 if a else 2) + 3"},
      {"abs ifexp a 1 2", "abs(1 if a else 2)"},
      {"min + a 1 neg b", "min(a + 1, -b)"},
      {"not not a", "not not a"},
      {"- neg a 1", "-a - 1"},
  };
  for (const auto& [tokens, source] : cases) {
    EXPECT_EQ(Source(e, Start::kExpr, tokens + " <eos>", false, 3), source) << tokens;
  }
}

TEST(CodecPartial, HolesShowWhereTheProgramIsOpen) {
  auto e = MakeEngine();
  EXPECT_EQ(Source(e, Start::kFunction, "def/2 = c +", true),
            "def func(a, b):\n    c = <expr> + <expr>\n    <stmt>\n");
  EXPECT_EQ(Source(e, Start::kFunction, "def/1 if/else a pass end", true),
            "def func(a):\n    if a:\n        pass\n    else:\n        <stmt>\n    <stmt>\n");
  EXPECT_EQ(Source(e, Start::kFunction, "", true), "<def>\n");
  EXPECT_EQ(Source(e, Start::kFunction, "def/1 =", true), "def func(a):\n    <name> = <expr>\n"
                                                           "    <stmt>\n");
}

TEST(CodecErrors, NameThePosition) {
  auto e = MakeEngine();
  auto ast = TokensToAst(e, Start::kFunction, std::nullopt, Ids(*e, "def/1 return b"), false);
  ASSERT_FALSE(ast.ok());
  EXPECT_NE(ast.status().message().find("tokens[2]"), absl::string_view::npos) << ast.status();
  ast = TokensToAst(e, Start::kFunction, std::nullopt, Ids(*e, "def/1 return a"), false);
  ASSERT_FALSE(ast.ok());
  EXPECT_EQ(ast.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ast.status().message().find("incomplete"), absl::string_view::npos);
  ast = TokensToAst(e, Start::kFunction, std::nullopt, std::vector<int32_t>{2, 999}, true);
  EXPECT_EQ(ast.status().code(), absl::StatusCode::kInvalidArgument);
  // A partial AST cannot be encoded.
  ast = TokensToAst(e, Start::kFunction, std::nullopt, Ids(*e, "def/1 return"), true);
  ASSERT_TRUE(ast.ok());
  EXPECT_FALSE(AstToTokens(e->vocab(), *ast).ok());
}

// A hand-built AST deeper than kMaxNesting: AstToTokens refuses it naming `ast`, and the
// printers print that error, without recursing (on a small stack). One at the limit is fine.
TEST(CodecErrors, AstsDeeperThanTheLimitAreRefused) {
  auto e = MakeEngine();
  for (int depth : {kMaxNesting, kMaxNesting + 1, 80'000}) {
    std::vector<Ast> asts;
    asts.push_back(testing::DeepNegation(depth));
    asts.push_back(testing::DeepIfs(depth));
    for (const Ast& ast : asts) {
      testing::OnSmallStack([&] {
        absl::StatusOr<std::vector<int32_t>> tokens = AstToTokens(e->vocab(), ast);
        const std::string source = AstToSource(ast);
        const std::string sexpr = AstToSexpr(ast);
        if (depth <= kMaxNesting) {
          EXPECT_TRUE(tokens.ok()) << tokens.status();
          EXPECT_TRUE(CheckAstDepth(ast).ok());
          EXPECT_FALSE(absl::StrContains(source, "nests deeper")) << source.substr(0, 80);
          EXPECT_FALSE(absl::StrContains(sexpr, "nests deeper")) << sexpr.substr(0, 80);
          return;
        }
        EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_EQ(FieldPathOf(tokens.status()), "ast");
        EXPECT_EQ(FieldPathOf(CheckAstDepth(ast)), "ast");
        EXPECT_EQ(source, "<ast: nests deeper than 100 levels>");
        EXPECT_EQ(sexpr, source);
      });
    }
  }
  // The printed form of one at the limit parses back.
  EXPECT_EQ(AstToSource(testing::DeepNegation(3)), "---a");
}

TEST(CodecRoundTrip, TokensToAstToTokensOverSampledPrograms) {
  for (auto engine : {MakeEngine(), LoopsEngine()}) {
    for (Start start : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
      auto state = InitState(engine, InitRequest{start, {}, std::nullopt, 120});
      ASSERT_TRUE(state.ok());
      DecodeOptions options;
      options.n = 200;
      auto batch = Decode({*state}, UniformSampler(7), options);
      ASSERT_TRUE(batch.ok());
      for (const DecodeResult& r : batch->results) {
        auto ast = TokensToAst(engine, start, state->arity() >= 0 ? std::optional<int>(state->arity())
                                                                  : std::nullopt,
                               r.tokens, false);
        ASSERT_TRUE(ast.ok()) << ast.status();
        EXPECT_EQ(AstToSource(*ast), r.source);
        auto tokens = AstToTokens(engine->vocab(), *ast);
        ASSERT_TRUE(tokens.ok());
        EXPECT_EQ(*tokens, r.tokens);
        EXPECT_EQ(ast->arena->num_nodes() > 0, true);
      }
    }
  }
}

TEST(CodecSexpr, MirrorsCPythonClasses) {
  auto e = LoopsEngine();
  auto ast = TokensToAst(e, Start::kFunction, std::nullopt,
                         Ids(*e, "def/1 for/1 b a -= a % b 2 end if/else not a return/0 end pass "
                                 "end end <eos>"),
                         false);
  ASSERT_TRUE(ast.ok());
  EXPECT_EQ(AstToSexpr(*ast),
            "(FunctionDef func (a) ((For (Name b) (Call range (Name a)) ((AugAssign Sub (Name a) "
            "(BinOp Mod (Name b) (Constant 2))))) (If (UnaryOp Not (Name a)) ((Return)) "
            "((Pass)))))");
}

}  // namespace
}  // namespace astcd

namespace astcd {
namespace {

TEST(CodecLines, PrinterRecordsEachStatementsLine) {
  DecodeConfig c;
  c.allow_loops = true;
  c.max_control_depth = 3;
  auto e = ::astcd::testing::MakeEngine(c);
  auto ast = TokensToAst(e, Start::kModule, std::nullopt,
                         ::astcd::testing::Ids(*e, "def/1 pass end def/1 if/else a pass end "
                                                   "if a for/1 b a pass end end end end <eos>"),
                         false);
  ASSERT_TRUE(ast.ok());
  AstLines lines;
  const std::string source = AstToSource(*ast, &lines);
  // def func(a):1  pass:2  (blank):3  def func1(a):4  if a:5  pass:6  elif a:7  for:8  pass:9
  const AstNode* f1 = ast->root->child(1);
  const AstNode* if_else = f1->child(0)->child(0);
  EXPECT_EQ(lines.at(ast->root->child(0)), 1);
  EXPECT_EQ(lines.at(ast->root->child(0)->child(0)->child(0)), 2);
  EXPECT_EQ(lines.at(f1), 4);
  EXPECT_EQ(lines.at(if_else), 5);
  const AstNode* elif = if_else->child(2)->child(0);
  EXPECT_EQ(lines.at(elif), 7);
  EXPECT_EQ(lines.at(elif->child(1)->child(0)), 8);
  EXPECT_EQ(lines.at(elif->child(1)->child(0)->child(2)->child(0)), 9);
  EXPECT_NE(source.find("    elif a:\n        for b in range(a):\n            pass\n"),
            std::string::npos) << source;
}

}  // namespace
}  // namespace astcd
