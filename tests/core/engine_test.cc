// The compiled grammar: costs derived from the table, and the FIRST masks.
#include "core/engine.h"

#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::MakeEngine;

int Cost(const Engine& e, const char* name) { return e.token_cost(*e.vocab().Find(name)); }

TEST(Engine, CostsDeriveFromTheGrammarTable) {
  auto e = MakeEngine();
  EXPECT_EQ(e->hole_cost(Hole::kExpr), 1);
  EXPECT_EQ(e->hole_cost(Hole::kStmt), 1);
  EXPECT_EQ(e->hole_cost(Hole::kBlock), 2);  // one statement and `end`
  EXPECT_EQ(e->hole_cost(Hole::kFunc), 3);   // def, a statement, `end`
  EXPECT_EQ(Cost(*e, "a"), 1);
  EXPECT_EQ(Cost(*e, "7"), 1);
  EXPECT_EQ(Cost(*e, "+"), 3);
  EXPECT_EQ(Cost(*e, "neg"), 2);
  EXPECT_EQ(Cost(*e, "ifexp"), 4);
  EXPECT_EQ(Cost(*e, "="), 3);
  EXPECT_EQ(Cost(*e, "if"), 4);
  EXPECT_EQ(Cost(*e, "if/else"), 6);
  EXPECT_EQ(Cost(*e, "for/1"), 5);
  EXPECT_EQ(Cost(*e, "for/2"), 6);
  EXPECT_EQ(Cost(*e, "def/2"), 3);
  EXPECT_EQ(Cost(*e, "end"), 0);  // paid for when its block opened
  EXPECT_EQ(Cost(*e, "<eos>"), 0);
}

// Costs are context-free only because the cheapest filler of every hole needs no scope or
// guard condition; this pins that assumption to the table.
TEST(Engine, CheapestFillerOfEveryHoleIsUnconditional) {
  auto e = MakeEngine();
  for (Hole hole : {Hole::kFunc, Hole::kStmt, Hole::kExpr}) {
    bool found = false;
    for (const NodeSpec& spec : kGrammar) {
      if (spec.fills != hole || (spec.conds & ~kCondSeqRoom) != 0) continue;
      int cost = 1;
      for (int i = 0; i < spec.num_children; ++i) cost += e->hole_cost(spec.children[i]);
      found |= cost == e->hole_cost(hole);
    }
    EXPECT_TRUE(found) << HoleName(hole);
  }
}

TEST(Engine, RefusesInvalidConfigsNamingTheField) {
  DecodeConfig c;
  c.max_expr_depth = 0;
  auto e = Engine::Create(c);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("max_expr_depth"), absl::string_view::npos);
}

TEST(Engine, MasksFitTheVocabulary) {
  DecodeConfig c;
  c.const_range = {0, 1000};
  auto e = MakeEngine(c);
  EXPECT_EQ(e->words(), (e->vocab().size() + 31) / 32);
  // The constants are legal in an expression hole with no conditions; nothing past the end.
  const uint32_t* row = e->base_mask(MaskContext::kExpr, 0);
  int count = 0;
  for (int w = 0; w < e->words(); ++w) count += __builtin_popcount(row[w]);
  EXPECT_EQ(count, 1001);
}

}  // namespace
}  // namespace astcd
