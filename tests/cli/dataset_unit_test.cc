// cli/dataset.h: the signature, the filters and the de-duplication's choice, on hand-made
// outcomes (tests/cli/dataset_test.py runs the whole command against CPython).
#include "cli/dataset.h"

#include <vector>

#include "gtest/gtest.h"

namespace astcd::cli::dataset {
namespace {

Outcome Ok(Value v) { return {RunStatus::kOk, v}; }
Outcome Err(RunStatus s) { return {s, Value::None()}; }
constexpr bool kAllFilters[kNumDrops] = {true, true, true, false};

TEST(Signature, KeepsBoolIntNoneAndErrorsApart) {
  EXPECT_EQ(Signature(2, {Ok(Value::Int(1)), Ok(Value::Bool(true)), Ok(Value::None()),
                          Err(RunStatus::kZeroDivision), Ok(Value::Int(-3))}),
            "2:1,True,None,zero_division,-3");
  EXPECT_NE(Signature(1, {Ok(Value::Int(1))}), Signature(1, {Ok(Value::Bool(true))}));
  EXPECT_NE(Signature(1, {Ok(Value::Int(1))}), Signature(2, {Ok(Value::Int(1))}));
}

TEST(Degenerate, InTableOrder) {
  EXPECT_EQ(Degenerate({Err(RunStatus::kOverflow), Err(RunStatus::kStepLimit)}), Drop::kAllError);
  EXPECT_EQ(Degenerate({Ok(Value::None()), Ok(Value::None())}), Drop::kAllNone);
  EXPECT_EQ(Degenerate({Ok(Value::Int(4)), Ok(Value::Int(4))}), Drop::kConstant);
  EXPECT_EQ(Degenerate({Ok(Value::Int(1)), Ok(Value::Bool(true))}), std::nullopt);
  EXPECT_EQ(Degenerate({Ok(Value::None()), Err(RunStatus::kZeroDivision)}), std::nullopt);
  EXPECT_EQ(Degenerate({Ok(Value::Int(4)), Err(RunStatus::kZeroDivision)}), std::nullopt);
}

TEST(Deduper, KeepsTheShortestThenTheSmallestTokensInFirstAppearanceOrder) {
  Deduper d(kAllFilters);
  const std::vector<Outcome> f = {Ok(Value::Int(1)), Ok(Value::Int(2))};
  const std::vector<Outcome> g = {Ok(Value::Int(2)), Ok(Value::Int(1))};
  d.Offer(0, 1, {2, 9, 9, 9, 1}, f);
  d.Offer(1, 1, {2, 8, 8, 1}, g);
  d.Offer(2, 1, {2, 7, 7, 1}, f);  // shorter: replaces sample 0
  d.Offer(3, 1, {2, 5, 8, 1}, f);  // as short, smaller: replaces sample 2
  d.Offer(4, 1, {2, 6, 0, 1}, f);  // as short, larger: stays out
  d.Offer(5, 1, {2, 5, 8, 1}, f);  // the same tokens later: the earlier sample stays
  d.Offer(6, 1, {2, 1}, {Ok(Value::None()), Ok(Value::None())});
  d.Offer(7, 1, {2, 1}, {Ok(Value::Int(3)), Ok(Value::Int(3))});
  ASSERT_EQ(d.rows().size(), 2u);
  EXPECT_EQ(d.rows()[0].sample_index, 3);
  EXPECT_EQ(d.rows()[0].tokens, (std::vector<int32_t>{2, 5, 8, 1}));
  EXPECT_EQ(d.rows()[1].sample_index, 1);
  const Summary s = d.summary();
  EXPECT_EQ(s.sampled, 8);
  EXPECT_EQ(s.unique_behaviours, 4);
  EXPECT_EQ(s.dropped[static_cast<int>(Drop::kDuplicate)], 4);
  EXPECT_EQ(s.dropped[static_cast<int>(Drop::kAllNone)], 1);
  EXPECT_EQ(s.dropped[static_cast<int>(Drop::kConstant)], 1);
}

TEST(Deduper, AFilterTurnedOffKeepsItsPrograms) {
  const bool keep_constant[kNumDrops] = {true, true, false, false};
  Deduper d(keep_constant);
  d.Offer(0, 1, {2, 1}, {Ok(Value::Int(3)), Ok(Value::Int(3))});
  ASSERT_EQ(d.rows().size(), 1u);
  EXPECT_EQ(d.summary().dropped[static_cast<int>(Drop::kConstant)], 0);
}

TEST(InputTuples, UniformInRangeAndFixedBySeedAndArity) {
  const auto a = InputTuples(7, 3, 64, -2, 2);
  ASSERT_EQ(a.size(), 64u);
  bool seen[5] = {};
  for (const auto& t : a) {
    ASSERT_EQ(t.size(), 3u);
    for (int64_t v : t) {
      ASSERT_GE(v, -2);
      ASSERT_LE(v, 2);
      seen[v + 2] = true;
    }
  }
  for (bool s : seen) EXPECT_TRUE(s);
  EXPECT_EQ(a, InputTuples(7, 3, 64, -2, 2));
  EXPECT_NE(a, InputTuples(8, 3, 64, -2, 2));
  EXPECT_EQ(InputTuples(7, 0, 2, -2, 2), (std::vector<std::vector<int64_t>>{{}, {}}));
}

}  // namespace
}  // namespace astcd::cli::dataset
