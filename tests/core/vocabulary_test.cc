// The vocabulary: golden ids and names, and a fingerprint that tracks the token list.
#include "core/vocabulary.h"

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace astcd {
namespace {

std::string Names(const Vocabulary& v) {
  std::vector<std::string> names;
  for (const TokenInfo& t : v.tokens()) names.push_back(t.name);
  return absl::StrJoin(names, " ");
}

// Changing these goldens breaks every trained model: bump kVocabFormatVersion with them.
TEST(Vocabulary, DefaultConfigIsGolden) {
  Vocabulary v{DecodeConfig{}};
  EXPECT_EQ(Names(v),
            "<pad> <eos> def/1 def/2 def/3 = += -= *= //= %= if if/else for/1 for/2 return "
            "return/0 pass break continue end + - * // % < <= == != > >= and or neg not ifexp "
            "abs min max a b c d e f g 0 1 2 3 4 5 6 7 8 9");
  EXPECT_EQ(v.size(), 57);
  EXPECT_EQ(v.fingerprint(), "e24c913877fb2d8f");
  EXPECT_EQ(Vocabulary::pad_id(), 0);
  EXPECT_EQ(Vocabulary::eos_id(), 1);
  EXPECT_EQ(v.name_base(), 40);
  EXPECT_EQ(v.const_base(), 47);
  EXPECT_EQ(v.def_id(2), 3);
  EXPECT_EQ(v.def_id(0), -1);
  EXPECT_EQ(v.id(NodeKind::kEnd), 20);
  EXPECT_EQ(v.const_id(7), 54);
  EXPECT_EQ(v.Find("if/else"), 12);
  EXPECT_EQ(v.Find("nope"), std::nullopt);
}

TEST(Vocabulary, FamiliesFollowTheConfig) {
  DecodeConfig c;
  c.arities = {3, 0};
  c.max_locals = 1;
  c.const_range = {5, 7};
  Vocabulary v(c);
  EXPECT_EQ(v.info(2).name, "def/0");  // arities are listed in increasing order
  EXPECT_EQ(v.info(3).name, "def/3");
  EXPECT_EQ(v.num_names(), 4);
  EXPECT_EQ(v.info(v.name_base() + 3).name, "d");
  EXPECT_EQ(v.info(v.const_base()).name, "5");
  EXPECT_EQ(v.info(v.const_base()).value, 5);
  EXPECT_EQ(v.size(), v.const_base() + 3);
}

TEST(Vocabulary, FingerprintChangesExactlyWithTheTokenList) {
  DecodeConfig base;
  const std::string fp = Vocabulary(base).fingerprint();
  DecodeConfig knobs = base;  // guards that do not change the token list
  knobs.max_expr_depth = 9;
  knobs.allow_loops = true;
  knobs.value_range = {-5, 100};
  EXPECT_EQ(Vocabulary(knobs).fingerprint(), fp);
  DecodeConfig reordered = base;
  reordered.arities = {3, 2, 1};
  EXPECT_EQ(Vocabulary(reordered).fingerprint(), fp);
  for (auto change : std::vector<void (*)(DecodeConfig&)>{
           [](DecodeConfig& c) { c.const_range = {0, 10}; },
           [](DecodeConfig& c) { c.max_locals = 5; },
           [](DecodeConfig& c) { c.arities = {1, 2}; },
           [](DecodeConfig& c) { c.arities = {1, 2, 4}; }}) {
    DecodeConfig c = base;
    change(c);
    EXPECT_NE(Vocabulary(c).fingerprint(), fp);
  }
}

TEST(Vocabulary, CanonicalNames) {
  EXPECT_EQ(VariableName(0), "a");
  EXPECT_EQ(VariableName(25), "z");
  EXPECT_EQ(FunctionName(0), "func");
  EXPECT_EQ(FunctionName(2), "func2");
}

}  // namespace
}  // namespace astcd
