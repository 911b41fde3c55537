// The shape controls (docs/language.md, section 4.1) at the mask: the decoder's invariants
// hold with every control and all of them at once (random walks over configs, starts and
// budgets, and an exhaustive walk of a tiny config), the completion plan never leads into a
// dead end, and each control's rule refuses what it should. tests/oracle/shape_oracle.py
// checks the programs themselves against CPython's ast.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/decoder.h"
#include "core/decoder_impl.h"
#include "core/sampler.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;
using ::astcd::testing::MaskNames;
using ::astcd::testing::MaskSet;
using ::astcd::testing::MustInit;

// The sanitizer build (ten times slower here) walks fewer seeds and a smaller exhaustive budget
// (a tenth of the states): it checks the same paths for memory errors.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kSeeds = 5;
constexpr int kTinyBudget = 14;
#else
constexpr int kSeeds = 30;
constexpr int kTinyBudget = 16;
#endif

// Every control's name, and a setter, in config order.
struct Control {
  const char* name;
  bool DecodeConfig::*field;
};
constexpr Control kControls[] = {
    {"no_dead_code", &DecodeConfig::no_dead_code},
    {"require_return_value", &DecodeConfig::require_return_value},
    {"use_all_params", &DecodeConfig::use_all_params},
    {"no_unused_locals", &DecodeConfig::no_unused_locals},
    {"no_constant_tests", &DecodeConfig::no_constant_tests},
    {"no_constant_subexpressions", &DecodeConfig::no_constant_subexpressions},
    {"no_trivial_self_ops", &DecodeConfig::no_trivial_self_ops},
};

DecodeConfig AllControls(DecodeConfig c = {}) {
  for (const Control& control : kControls) c.*control.field = true;
  return c;
}

struct Case {
  std::string name;
  DecodeConfig config;
  int max_len;
};

// Each control alone, then all of them over shapes that stress the plan: loops, one statement
// per block, shallow expressions, wide scopes, arity 0.
std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const Control& control : kControls) {
    DecodeConfig c;
    c.allow_loops = true;
    c.*control.field = true;
    cases.push_back({control.name, c, 60});
  }
  DecodeConfig loops = AllControls();
  loops.allow_loops = true;
  loops.max_control_depth = 3;
  cases.push_back({"all+loops", loops, 128});
  cases.push_back({"all+loops-tight", loops, 22});
  cases.push_back({"all-noloops", AllControls(), 48});
  DecodeConfig single = AllControls();
  single.allow_loops = true;
  single.max_block_stmts = 1;
  single.arities = {0, 1, 2};
  cases.push_back({"all-one-stmt-blocks", single, 40});
  DecodeConfig shallow = AllControls();
  shallow.max_expr_depth = 2;
  shallow.arities = {2};
  shallow.max_locals = 0;
  shallow.allow_loops = true;
  cases.push_back({"all-shallow", shallow, 30});
  DecodeConfig wide = AllControls();
  wide.arities = {0, 6};
  wide.max_locals = 10;
  wide.max_expr_depth = 5;
  wide.max_block_stmts = 6;
  wide.allow_loops = true;
  cases.push_back({"all-wide", wide, 200});
  return cases;
}

std::string Names(const DecodeState& state) {
  std::string out;
  for (int32_t id : state.tokens()) out += state.engine().vocab().info(id).name + " ";
  return out;
}

// Follows the plan: always the legal token whose successor's plan is shortest. It must finish
// within the plan's length (docs/language.md, section 4.1, "Budget").
int PlanWalkLength(DecodeState state) {
  int steps = 0;
  while (!state.terminated()) {
    int best = -1, best_cost = 0;
    for (int id : MaskSet(state)) {
      DecodeState next = state;
      if (!next.Advance(id).ok()) return -1;
      const int cost = next.min_tokens_to_complete();
      if (best < 0 || cost < best_cost) best = id, best_cost = cost;
    }
    if (best >= 0 && best_cost > state.min_tokens_to_complete() - 1) {
      ADD_FAILURE() << "the plan does not descend after: " << Names(state) << " ("
                    << state.min_tokens_to_complete() << " -> " << best_cost << ")";
      return -1;
    }
    if (best < 0 || !state.Advance(best).ok()) {
      ADD_FAILURE() << "dead end after: " << Names(state) << " | mask: " << MaskNames(state);
      return -1;
    }
    ++steps;
  }
  return steps;
}

TEST(DecoderShapeProperties, InvariantsHoldOnRandomWalks) {
  int programs = 0;
  for (const Case& c : Cases()) {
    auto engine = MakeEngine(c.config);
    const Vocabulary& vocab = engine->vocab();
    for (Start start : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
      for (uint64_t seed = 0; seed < kSeeds; ++seed) {
        SCOPED_TRACE(::testing::Message() << c.name << " start=" << StartName(start)
                                          << " seed=" << seed);
        InitRequest request{start, {}, std::nullopt, c.max_len};
        auto init = InitState(engine, request);
        if (!init.ok()) {  // a budget below this root's shortest program under the controls
          ASSERT_EQ(init.status().code(), absl::StatusCode::kInvalidArgument);
          continue;
        }
        DecodeState state = *std::move(init);
        Rng rng(seed);
        while (!state.terminated()) {
          const std::set<int> mask = MaskSet(state);
          ASSERT_FALSE(mask.empty()) << Names(state);
          ASSERT_TRUE(state.CheckInvariants());
          ASSERT_EQ(mask.count(Vocabulary::eos_id()) > 0, state.complete());
          // IsLegal and WhyRefused agree with the mask, token by token; and the mask's plan
          // prices (from a survey) agree with a scratch copy's, both ways.
          for (int id = 0; id < vocab.size(); ++id) {
            ASSERT_EQ(state.IsLegal(id), mask.count(id) > 0) << vocab.info(id).name;
            const Refusal why = state.WhyRefused(id);
            ASSERT_EQ(why == Refusal::kNone, mask.count(id) > 0);
            if (why == Refusal::kNone || why == Refusal::kBudget) {
              ASSERT_EQ(internal::DecoderAccess::ProbeFits(state, id), why == Refusal::kNone)
                  << vocab.info(id).name << " after " << Names(state);
            }
          }
          // Every legal token keeps a plan that fits, and the plan completes.
          if (seed % 6 == 0) {
            for (int id : mask) {
              DecodeState next = state;
              ASSERT_TRUE(next.Advance(id).ok());
              ASSERT_LE(next.min_tokens_to_complete(), next.token_budget_remaining())
                  << vocab.info(id).name;
              const int walked = PlanWalkLength(next);
              ASSERT_GE(walked, 0) << vocab.info(id).name;
              ASSERT_LE(walked, next.min_tokens_to_complete()) << vocab.info(id).name;
            }
          }
          auto it = mask.begin();
          std::advance(it, rng.Below(mask.size()));
          ASSERT_TRUE(state.Advance(*it).ok());
          ASSERT_LE(state.num_tokens(), c.max_len);
        }
        ASSERT_EQ(state.tokens().back(), Vocabulary::eos_id());
        ++programs;
      }
    }
  }
  EXPECT_GT(programs, 40 * kSeeds);
}


// Every state of a tiny config, reached by every legal token: none is a dead end. States that
// decode alike from here (the same stack, counters and budget left) are visited once.
TEST(DecoderShapeProperties, NoReachableStateOfATinyConfigIsADeadEnd) {
  DecodeConfig tiny = AllControls();
  tiny.arities = {1, 2};
  tiny.max_locals = 1;
  tiny.max_block_stmts = 2;
  tiny.max_expr_depth = 3;
  tiny.max_control_depth = 1;
  tiny.const_range = {0, 1};
  tiny.allow_loops = true;
  auto engine = MakeEngine(tiny);
  int64_t programs = 0;
  absl::flat_hash_set<std::string> seen;
  for (Start start : {Start::kFunction, Start::kBlock, Start::kExpr}) {
    std::vector<DecodeState> stack{MustInit(engine, start, "", kTinyBudget)};
    while (!stack.empty()) {
      DecodeState state = std::move(stack.back());
      stack.pop_back();
      if (!seen.insert(internal::DecoderAccess::Key(state)).second) continue;
      if (state.terminated()) {
        ++programs;
        continue;
      }
      const std::set<int> mask = MaskSet(state);
      ASSERT_FALSE(mask.empty()) << Names(state);
      for (int id : mask) {
        DecodeState next = state;
        ASSERT_TRUE(next.Advance(id).ok());
        stack.push_back(std::move(next));
      }
    }
  }
  EXPECT_GT(seen.size(), 10'000u) << seen.size();
  EXPECT_GT(programs, 0);
}

// The same for controls that owe reads without no_unused_locals settling a target's debt
// (use_all_params with no_trivial_self_ops once dead-ended), shallow expressions and a MODULE
// root.
TEST(DecoderShapeProperties, NoReachableStateOfAPartialConfigIsADeadEnd) {
  DecodeConfig partial;
  partial.use_all_params = true;
  partial.no_trivial_self_ops = true;
  partial.no_dead_code = true;
  partial.arities = {1, 2};
  partial.max_locals = 1;
  partial.max_block_stmts = 2;
  partial.max_expr_depth = 2;
  partial.max_control_depth = 1;
  partial.max_functions = 2;
  partial.const_range = {0, 1};
  partial.allow_loops = true;
  auto engine = MakeEngine(partial);
  absl::flat_hash_set<std::string> seen;
  for (Start start : {Start::kModule, Start::kBlock}) {
    std::vector<DecodeState> stack{MustInit(engine, start, "", kTinyBudget)};
    while (!stack.empty()) {
      DecodeState state = std::move(stack.back());
      stack.pop_back();
      if (!seen.insert(internal::DecoderAccess::Key(state)).second || state.terminated()) {
        continue;
      }
      const std::set<int> mask = MaskSet(state);
      ASSERT_FALSE(mask.empty()) << Names(state);
      for (int id : mask) {
        DecodeState next = state;
        ASSERT_TRUE(next.Advance(id).ok());
        stack.push_back(std::move(next));
      }
    }
  }
  EXPECT_GT(seen.size(), 1'000u) << seen.size();
}

// Rollback and replay restore what the controls track (owed names, operand flags), through
// checkpoints too.
TEST(DecoderShapeProperties, RollbackThenReplayGivesTheSameMasks) {
  DecodeConfig config = AllControls();
  config.allow_loops = true;
  config.max_functions = 16;
  config.max_block_stmts = 8;
  auto engine = MakeEngine(config);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    DecodeState state = MustInit(engine, Start::kModule, "", 1200);
    Rng rng(seed);
    std::vector<std::set<int>> masks;
    while (!state.terminated()) {
      masks.push_back(MaskSet(state));
      auto it = masks.back().begin();
      std::advance(it, rng.Below(masks.back().size()));
      ASSERT_TRUE(state.Advance(*it).ok());
    }
    const std::vector<int32_t> tokens = state.tokens();
    const int k = static_cast<int>(rng.Below(tokens.size()) + 1);
    ASSERT_TRUE(Rollback(state, k).ok());
    for (size_t i = tokens.size() - k; i < tokens.size(); ++i) {
      ASSERT_EQ(MaskSet(state), masks[i]) << "at " << i;
      ASSERT_TRUE(state.Advance(tokens[i]).ok());
    }
  }
}

// A config's controls do not change its vocabulary or its fingerprint.
TEST(DecoderShape, ControlsKeepTheVocabulary) {
  auto plain = MakeEngine();
  auto shaped = MakeEngine(AllControls());
  EXPECT_EQ(plain->vocab().fingerprint(), shaped->vocab().fingerprint());
  EXPECT_EQ(plain->vocab().size(), shaped->vocab().size());
  EXPECT_FALSE(plain->shaped());
  EXPECT_TRUE(shaped->shaped());
}

TEST(DecoderShape, ConfigsTooShallowToReadEveryNameAreRefused) {
  DecodeConfig c;
  c.no_unused_locals = true;
  c.max_expr_depth = 3;  // 4 leaves for 3 + 4 names
  auto engine = Engine::Create(c);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(std::string(engine.status().message()).find("config.no_unused_locals"),
            std::string::npos)
      << engine.status();
  c.no_unused_locals = false;
  c.use_all_params = true;  // 3 parameters fit in 4 leaves
  EXPECT_TRUE(Engine::Create(c).ok());
  c.arities = {6};
  EXPECT_FALSE(Engine::Create(c).ok());
}

// The mask after `prefix`: whether each listed token is legal.
void ExpectLegal(const DecodeConfig& config, Start start, const std::string& prefix,
                 const std::string& legal, const std::string& illegal, int max_len = 64) {
  auto engine = MakeEngine(config);
  DecodeState state = MustInit(engine, start, prefix, max_len);
  SCOPED_TRACE(prefix + " | mask: " + MaskNames(state));
  for (int id : Ids(*engine, legal)) EXPECT_TRUE(state.IsLegal(id)) << engine->vocab().info(id).name;
  for (int id : Ids(*engine, illegal)) {
    EXPECT_FALSE(state.IsLegal(id)) << engine->vocab().info(id).name;
    EXPECT_EQ(state.WhyRefused(id), Refusal::kShape) << engine->vocab().info(id).name;
  }
}

DecodeConfig Only(bool DecodeConfig::*field) {
  DecodeConfig c;
  c.allow_loops = true;
  c.*field = true;
  return c;
}

TEST(DecoderShape, NoDeadCodeLeavesOnlyEndAfterAPathEnds) {
  const DecodeConfig c = Only(&DecodeConfig::no_dead_code);
  ExpectLegal(c, Start::kFunction, "def/1 return a", "end", "pass = return if");
  ExpectLegal(c, Start::kFunction, "def/1 for/1 b a break", "end", "pass continue");
  ExpectLegal(c, Start::kFunction, "def/1 if/else a return a end return 1 end", "end", "pass");
  ExpectLegal(c, Start::kFunction, "def/1 if/else a return a end pass end", "pass end", "");
  ExpectLegal({}, Start::kFunction, "def/1 return a", "pass end", "");  // off: dead code is fine
}

// Found by the run fuzz target (docs/reliability.md): a statement hole's control depth, deeper
// than max_expr_depth, was taken for an expression depth, a negative shift that UBSan (the
// sanitizer build) stops on.
TEST(DecoderShape, AStatementDeeperThanMaxExprDepthFillsItsMask) {
  DecodeConfig c = Only(&DecodeConfig::no_dead_code);
  c.max_expr_depth = 1;
  c.max_control_depth = 3;
  ExpectLegal(c, Start::kFunction, "def/1 if a if a", "pass = return if", "");
}

TEST(DecoderShape, RequireReturnValueEndsEveryBodyInAReturn) {
  const DecodeConfig c = Only(&DecodeConfig::require_return_value);
  ExpectLegal(c, Start::kFunction, "def/1", "return", "return/0");
  ExpectLegal(c, Start::kFunction, "def/1 pass", "return", "end");
  ExpectLegal(c, Start::kFunction, "def/1 if a return a end", "return", "end");
  ExpectLegal(c, Start::kFunction, "def/1 if/else a return a end return 1 end", "end", "");
  ExpectLegal(c, Start::kBlock, "pass", "return", "end");
  // The body's last slot takes only a return while the body can fall through.
  ExpectLegal(c, Start::kFunction, "def/1 pass pass pass", "return", "pass = if");
}

TEST(DecoderShape, UseAllParamsReadsEveryParameterBeforeTheEnd) {
  const DecodeConfig c = Only(&DecodeConfig::use_all_params);
  ExpectLegal(c, Start::kFunction, "def/2 = c a", "pass", "end");
  ExpectLegal(c, Start::kFunction, "def/2 = c a = c b", "end", "");
  DecodeConfig two = c;
  two.arities = {2};
  ExpectLegal(two, Start::kExpr, "+ a", "b", "0 1 a", 64);
  // The last slot must read the unread parameter.
  ExpectLegal(c, Start::kFunction, "def/2 = c a pass pass", "return = +=", "pass");
}

TEST(DecoderShape, NoUnusedLocalsReadsEveryBinding) {
  const DecodeConfig c = Only(&DecodeConfig::no_unused_locals);
  ExpectLegal(c, Start::kFunction, "def/1 = b a", "return", "end");
  ExpectLegal(c, Start::kFunction, "def/1 = b a return b", "end", "");
  // A name first bound in a branch is read in it: the branch cannot end first.
  ExpectLegal(c, Start::kFunction, "def/1 if a = b a", "return", "end");
  // An accumulator is read after its loop.
  ExpectLegal(c, Start::kFunction, "def/1 for/1 b a += a b", "end", "");
  // A loop variable is read in its body.
  ExpectLegal(c, Start::kFunction, "def/1 for/1 b a pass", "+=", "end");
  // `x = x + 1` owes a read of the new x.
  ExpectLegal(c, Start::kFunction, "def/1 = a + a 1", "return", "end");
}

TEST(DecoderShape, NoConstantTestsNeedsANameInEveryTest) {
  const DecodeConfig c = Only(&DecodeConfig::no_constant_tests);
  ExpectLegal(c, Start::kFunction, "def/1 if", "a + ifexp", "0 1 9");
  ExpectLegal(c, Start::kFunction, "def/1 if + 1", "a", "2");
  ExpectLegal(c, Start::kFunction, "def/1 return ifexp", "a", "0");
  DecodeConfig none = c;
  none.arities = {0};
  ExpectLegal(none, Start::kFunction, "def/0", "pass =", "if if/else");
}

TEST(DecoderShape, NoConstantSubexpressionsNeedsANameUnderEveryOperator) {
  const DecodeConfig c = Only(&DecodeConfig::no_constant_subexpressions);
  ExpectLegal(c, Start::kFunction, "def/1 return * 3", "a +", "2");
  ExpectLegal(c, Start::kFunction, "def/1 return * a", "2 a", "");
  ExpectLegal(c, Start::kFunction, "def/1 return not", "a", "7");
  ExpectLegal(c, Start::kFunction, "def/1 return + * a 2", "3 a", "");
  DecodeConfig none = c;
  none.arities = {0};
  ExpectLegal(none, Start::kFunction, "def/0 return", "0 1", "+ not ifexp abs");
}

TEST(DecoderShape, AnUnreadParameterIsNotItsOwnBareValue) {
  DecodeConfig c;
  c.use_all_params = true;
  c.no_trivial_self_ops = true;
  c.arities = {1};
  c.max_locals = 0;  // the only target is the parameter
  // def/1 = a <value> end <eos>: only `a + 0`-like values read a, so 6 tokens cannot hold it.
  auto engine = MakeEngine(c);
  DecodeState tight = MustInit(engine, Start::kFunction, "def/1", 6);
  EXPECT_FALSE(tight.IsLegal(Ids(*engine, "=")[0])) << MaskNames(tight);
  DecodeState room = MustInit(engine, Start::kFunction, "def/1 = a", 9);
  EXPECT_FALSE(room.IsLegal(Ids(*engine, "a")[0])) << MaskNames(room);
  EXPECT_TRUE(room.IsLegal(Ids(*engine, "+")[0])) << MaskNames(room);
}

TEST(DecoderShape, NoTrivialSelfOpsRefusesANameAgainstItself) {
  const DecodeConfig c = Only(&DecodeConfig::no_trivial_self_ops);
  ExpectLegal(c, Start::kFunction, "def/2 = a", "b 1 +", "a");
  ExpectLegal(c, Start::kFunction, "def/2 return - a", "b 1", "a");
  ExpectLegal(c, Start::kFunction, "def/2 return < b", "a", "b");
  ExpectLegal(c, Start::kFunction, "def/2 return and a", "b", "a");
  ExpectLegal(c, Start::kFunction, "def/2 return + a", "a b", "");  // a + a is not trivial
  ExpectLegal(c, Start::kFunction, "def/2 -= a", "b", "a");
  ExpectLegal(c, Start::kFunction, "def/2 += a", "a b", "");
  ExpectLegal(c, Start::kFunction, "def/2 return - + a 1", "a", "");  // (a + 1) - a is fine
}

}  // namespace
}  // namespace astcd
