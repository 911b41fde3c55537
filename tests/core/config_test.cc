// Config validation: every field's range, each refusal naming its field.
#include "core/config.h"

#include "gtest/gtest.h"

namespace astcd {
namespace {

void ExpectRefused(const DecodeConfig& c, const std::string& field) {
  absl::Status s = ValidateConfig(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s.message();
}

TEST(Config, DefaultsAreValid) { EXPECT_TRUE(ValidateConfig(DecodeConfig{}).ok()); }

TEST(Config, EveryRangeIsEnforcedAtBothEnds) {
  struct Knob {
    const char* field;
    int DecodeConfig::*member;
    int lo, hi;
  };
  for (const Knob& k : {Knob{"max_block_stmts", &DecodeConfig::max_block_stmts, 1, 64},
                        Knob{"max_expr_depth", &DecodeConfig::max_expr_depth, 1, 16},
                        Knob{"max_control_depth", &DecodeConfig::max_control_depth, 0, 8},
                        Knob{"max_locals", &DecodeConfig::max_locals, 0, 20},
                        Knob{"max_functions", &DecodeConfig::max_functions, 1, 16}}) {
    DecodeConfig c;
    c.*k.member = k.lo;
    EXPECT_TRUE(ValidateConfig(c).ok()) << k.field;
    c.*k.member = k.hi;
    EXPECT_TRUE(ValidateConfig(c).ok()) << k.field;
    c.*k.member = k.lo - 1;
    ExpectRefused(c, k.field);
    c.*k.member = k.hi + 1;
    ExpectRefused(c, k.field);
  }
}

TEST(Config, AritiesAndRanges) {
  DecodeConfig c;
  c.arities = {};
  ExpectRefused(c, "arities");
  c.arities = {1, 7};
  ExpectRefused(c, "arities[1]");
  c.arities = {2, 2};
  ExpectRefused(c, "arities");
  c = DecodeConfig{};
  c.arities = {6};
  c.max_locals = 20;  // the most names there can be: a..z
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_EQ(c.num_names(), 26);
  c = DecodeConfig{};
  c.const_range = {-1, 5};
  ExpectRefused(c, "const_range[0]");
  c.const_range = {5, 4};
  ExpectRefused(c, "const_range[1]");
  c.const_range = {0, 1024};
  ExpectRefused(c, "const_range");
  c = DecodeConfig{};
  c.value_range = {0, 100};
  ExpectRefused(c, "value_range[0]");
  c.value_range = {-100, 5};  // must hold every constant
  ExpectRefused(c, "value_range[1]");
}

// WidestConfig comes from the field table's checks: valid, and no int knob can go further.
TEST(Config, WidestConfigIsValidAndAtTheFarEndOfEveryRange) {
  const DecodeConfig widest = WidestConfig();
  ASSERT_TRUE(ValidateConfig(widest).ok()) << ValidateConfig(widest);
  EXPECT_EQ(widest.arities, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(widest.allow_loops);
  EXPECT_EQ(widest.const_range.second - widest.const_range.first + 1, kMaxConstants);
  int knobs = 0;
  for (int DecodeConfig::*knob :
       {&DecodeConfig::max_block_stmts, &DecodeConfig::max_expr_depth,
        &DecodeConfig::max_control_depth, &DecodeConfig::max_locals,
        &DecodeConfig::max_functions}) {
    DecodeConfig further = widest;
    ++(further.*knob);
    EXPECT_FALSE(ValidateConfig(further).ok()) << knobs;
    ++knobs;
  }
  DecodeConfig more_constants = widest;
  ++more_constants.const_range.second;
  EXPECT_FALSE(ValidateConfig(more_constants).ok());
}

TEST(Config, StartNamesRoundTrip) {
  for (Start s : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
    EXPECT_EQ(*ParseStart(StartName(s)), s);
  }
  EXPECT_EQ(ParseStart("class").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace astcd
