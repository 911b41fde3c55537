// The decoder's invariants as property tests over seeds, configs and starts, plus the scope
// rules and the batch API's all-or-nothing behaviour.
#include "core/decoder.h"

#include <malloc.h>

#include <algorithm>
#include <memory>

#include "core/decoder_impl.h"
#include "core/errors.h"
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

struct Case {
  const char* name;
  DecodeConfig config;
  int max_len;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"default", {}, 128});
  DecodeConfig loops;
  loops.allow_loops = true;
  loops.max_control_depth = 3;
  cases.push_back({"loops", loops, 128});
  cases.push_back({"loops-small-budget", loops, 16});
  DecodeConfig tight;
  tight.arities = {0};
  tight.max_locals = 0;
  tight.allow_loops = true;
  cases.push_back({"arity0-nolocals", tight, 24});
  DecodeConfig flat;
  flat.max_expr_depth = 1;
  flat.max_block_stmts = 1;
  flat.max_control_depth = 0;
  cases.push_back({"flat", flat, 40});
  DecodeConfig wide;
  wide.arities = {2, 6};
  wide.max_locals = 20;
  wide.max_expr_depth = 8;
  wide.const_range = {0, 200};
  wide.max_block_stmts = 10;
  wide.allow_loops = true;
  cases.push_back({"wide", wide, 400});
  return cases;
}

// The cheapest completion: always take the legal token with the smallest subtree. Its length
// must equal min_tokens_to_complete(), which proves the mask keeps a completion in budget.
int GreedyCompletionLength(DecodeState state) {
  int steps = 0;
  while (!state.terminated()) {
    int best = -1;
    for (int id : MaskSet(state)) {
      if (best < 0 || state.engine().token_cost(id) < state.engine().token_cost(best)) best = id;
    }
    EXPECT_GE(best, 0);
    if (best < 0 || !state.Advance(best).ok()) return -1;
    ++steps;
  }
  return steps;
}

TEST(DecoderProperties, InvariantsHoldOnRandomWalks) {
  int programs = 0;
  for (const Case& c : Cases()) {
    auto engine = MakeEngine(c.config);
    const Vocabulary& vocab = engine->vocab();
    for (Start start : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
      for (uint64_t seed = 0; seed < 40; ++seed) {
        SCOPED_TRACE(::testing::Message() << c.name << " start=" << StartName(start)
                                          << " seed=" << seed);
        DecodeState state = MustInit(engine, start, "", c.max_len);
        Rng rng(seed);
        while (!state.terminated()) {
          const std::set<int> mask = MaskSet(state);
          // 1. Never empty until terminated.
          ASSERT_FALSE(mask.empty()) << "after " << state.num_tokens() << " tokens";
          ASSERT_TRUE(state.CheckInvariants());
          // 3. A complete root admits exactly EOS (a MODULE also admits another def).
          if (state.complete()) {
            ASSERT_TRUE(mask.count(Vocabulary::eos_id()));
            for (int id : mask) {
              ASSERT_TRUE(id == Vocabulary::eos_id() ||
                          (start == Start::kModule && vocab.info(id).node == NodeKind::kDef))
                  << MaskNames(state);
            }
          } else {
            ASSERT_FALSE(mask.count(Vocabulary::eos_id()));
          }
          ASSERT_FALSE(mask.count(Vocabulary::pad_id()));
          // 2. Every legal token keeps the program completable within the budget.
          if (seed % 8 == 0) {
            for (int id : mask) {
              DecodeState next = state;
              ASSERT_TRUE(next.Advance(id).ok());
              ASSERT_TRUE(next.CheckInvariants()) << vocab.info(id).name;
              ASSERT_EQ(GreedyCompletionLength(next), next.min_tokens_to_complete());
              ASSERT_LE(next.min_tokens_to_complete(), next.token_budget_remaining());
            }
          }
          // 4. Tokens outside the mask are refused and change nothing.
          const int illegal = static_cast<int>(rng.Below(vocab.size()));
          if (!mask.count(illegal)) {
            const std::vector<int32_t> before = state.tokens();
            absl::Status s = state.Advance(illegal);
            ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
            ASSERT_EQ(state.tokens(), before);
            ASSERT_EQ(MaskSet(state), mask);
          }
          auto it = mask.begin();
          std::advance(it, rng.Below(mask.size()));
          ASSERT_TRUE(state.Advance(*it).ok());
          ASSERT_LE(state.num_tokens(), c.max_len);
        }
        // After EOS: only PAD, and PAD is a no-op.
        ASSERT_EQ(MaskSet(state), std::set<int>{Vocabulary::pad_id()});
        const std::vector<int32_t> done = state.tokens();
        ASSERT_TRUE(state.Advance(Vocabulary::pad_id()).ok());
        ASSERT_EQ(state.tokens(), done);
        ASSERT_EQ(done.back(), Vocabulary::eos_id());
        ++programs;
      }
    }
  }
  EXPECT_EQ(programs, 6 * 4 * 40);
}

TEST(DecoderProperties, RollbackThenReplayGivesTheSameMasks) {
  auto engine = MakeEngine([] {
    DecodeConfig c;
    c.allow_loops = true;
    return c;
  }());
  for (uint64_t seed = 0; seed < 30; ++seed) {
    DecodeState state = MustInit(engine, Start::kModule, "", 100);
    Rng rng(seed);
    std::vector<std::set<int>> masks;
    while (!state.terminated()) {
      masks.push_back(MaskSet(state));
      auto it = masks.back().begin();
      std::advance(it, rng.Below(masks.back().size()));
      ASSERT_TRUE(state.Advance(*it).ok());
    }
    const std::vector<int32_t> tokens = state.tokens();
    const int k = static_cast<int>(rng.Below(tokens.size() + 1));
    ASSERT_TRUE(Rollback(state, k).ok());
    ASSERT_EQ(state.num_tokens(), static_cast<int>(tokens.size()) - k);
    for (size_t i = tokens.size() - k; i < tokens.size(); ++i) {
      ASSERT_EQ(MaskSet(state), masks[i]) << "seed " << seed << " step " << i;
      ASSERT_TRUE(state.Advance(tokens[i]).ok());
    }
    ASSERT_EQ(state.tokens(), tokens);
    ASSERT_TRUE(state.terminated());
    EXPECT_EQ(Rollback(state, static_cast<int>(tokens.size()) + 1).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// --- Rollback from checkpoints ----------------------------------------------------------------

// Long programs: many functions and statements, loops, a budget of many checkpoints.
std::shared_ptr<const Engine> LongEngine() {
  DecodeConfig c;
  c.allow_loops = true;
  c.max_functions = 16;
  c.max_block_stmts = 16;
  c.max_control_depth = 3;
  return MakeEngine(c);
}

// Advances `state` by up to `steps` random legal tokens (fewer if it terminates).
void RandomTokens(DecodeState& state, Rng& rng, int steps) {
  for (int i = 0; i < steps && !state.terminated(); ++i) {
    const std::set<int> mask = MaskSet(state);
    ASSERT_FALSE(mask.empty());
    auto it = mask.begin();
    std::advance(it, rng.Below(mask.size()));
    ASSERT_TRUE(state.Advance(*it).ok());
  }
}

// `state` equals a fresh replay of its own tokens with its budget: the same decoder state, the
// same mask (every token's bit), invariants and completion cost, and one checkpoint per full
// interval.
void ExpectEqualsFreshReplay(const DecodeState& state) {
  DecodeState fresh = MustInit(state.shared_engine(), state.start(), "", state.max_len(),
                               state.arity() >= 0 ? std::optional<int>(state.arity())
                                                  : std::nullopt);
  for (int32_t t : state.tokens()) ASSERT_TRUE(fresh.Advance(t).ok());
  ASSERT_TRUE(internal::DecoderAccess::SameState(state, fresh)) << state.num_tokens();
  std::vector<uint32_t> a(state.engine().words()), b(state.engine().words());
  state.FillMask(a.data());
  fresh.FillMask(b.data());
  ASSERT_EQ(a, b);
  ASSERT_TRUE(state.CheckInvariants());
  ASSERT_EQ(state.min_tokens_to_complete(), fresh.min_tokens_to_complete());
  ASSERT_EQ(state.complete(), fresh.complete());
  ASSERT_EQ(internal::DecoderAccess::NumCheckpoints(state),
            static_cast<size_t>(state.num_tokens() / DecodeState::kCheckpointInterval));
}

TEST(DecoderRollback, EveryRollbackEqualsAFreshReplayOfThePrefix) {
  auto engine = LongEngine();
  int long_walks = 0;
  for (Start start : {Start::kModule, Start::kFunction, Start::kBlock}) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      SCOPED_TRACE(::testing::Message() << StartName(start) << " seed=" << seed);
      DecodeState walked = MustInit(engine, start, "", 1200);
      Rng rng(seed);
      RandomTokens(walked, rng, 1 << 20);
      ASSERT_TRUE(walked.terminated());
      const int n = walked.num_tokens();
      long_walks += n > 3 * DecodeState::kCheckpointInterval;
      for (int k = 0; k <= n; ++k) {
        DecodeState state = walked;
        ASSERT_TRUE(Rollback(state, k).ok());
        ASSERT_EQ(state.num_tokens(), n - k);
        ASSERT_NO_FATAL_FAILURE(ExpectEqualsFreshReplay(state)) << "k=" << k;
        if (k % 37 == 0) {  // and the tokens taken back lead to the same end
          for (int i = n - k; i < n; ++i) ASSERT_TRUE(state.Advance(walked.tokens()[i]).ok());
          ASSERT_TRUE(internal::DecoderAccess::SameState(state, walked));
          ASSERT_EQ(internal::DecoderAccess::NumCheckpoints(state),
                    internal::DecoderAccess::NumCheckpoints(walked));
        }
      }
    }
  }
  EXPECT_GE(long_walks, 3);  // the walks cross several checkpoints
}

TEST(DecoderRollback, RollbacksAfterRollbacksForksAndLimitMaxLen) {
  auto engine = LongEngine();
  for (uint64_t seed = 0; seed < 12; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Rng rng(seed);
    DecodeState state = MustInit(engine, Start::kModule, "", 1500);
    std::vector<DecodeState> forks;
    for (int round = 0; round < 40; ++round) {
      // Grow by a random stretch (often across a checkpoint), then roll back a random part.
      ASSERT_NO_FATAL_FAILURE(RandomTokens(state, rng, static_cast<int>(rng.Below(300))));
      if (rng.Below(4) == 0) forks.push_back(Fork(state));
      if (rng.Below(5) == 0) {  // lower the budget as far as the state allows, or a bit less
        const int lowest = state.num_tokens() + state.min_tokens_to_complete();
        ASSERT_TRUE(state.LimitMaxLen(lowest + static_cast<int>(rng.Below(50))).ok());
      }
      const int k = static_cast<int>(rng.Below(state.num_tokens() + 1));
      ASSERT_TRUE(Rollback(state, k).ok());
      ASSERT_NO_FATAL_FAILURE(ExpectEqualsFreshReplay(state)) << "round " << round;
      if (!forks.empty()) {  // a fork rolls back on its own, and the state is unaffected
        DecodeState& fork = forks[rng.Below(forks.size())];
        const DecodeState before = state;
        ASSERT_TRUE(Rollback(fork, static_cast<int>(rng.Below(fork.num_tokens() + 1))).ok());
        ASSERT_NO_FATAL_FAILURE(ExpectEqualsFreshReplay(fork));
        ASSERT_TRUE(internal::DecoderAccess::SameState(state, before));
        ASSERT_NO_FATAL_FAILURE(RandomTokens(fork, rng, static_cast<int>(rng.Below(200))));
        ASSERT_NO_FATAL_FAILURE(ExpectEqualsFreshReplay(fork));
      }
    }
  }
}

TEST(DecoderRollback, BatchIsAllOrNothingAndRefusesAStateTwice) {
  auto engine = LongEngine();
  DecodeState a = MustInit(engine, Start::kModule, "", 1000);
  Rng rng(5);
  RandomTokens(a, rng, 400);
  DecodeState b = Fork(a);
  const DecodeState a0 = a, b0 = b;
  absl::Status s = Rollback(std::vector<DecodeState*>{&a, &b}, std::vector<int>{300, 401});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldPathOf(s), "num_tokens[1]");
  EXPECT_TRUE(internal::DecoderAccess::SameState(a, a0));
  s = Rollback(std::vector<DecodeState*>{&a, &a}, std::vector<int>{1, 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(internal::DecoderAccess::SameState(a, a0));
  ASSERT_TRUE(Rollback(std::vector<DecodeState*>{&a, &b}, std::vector<int>{300, 129}).ok());
  EXPECT_EQ(a.num_tokens(), 100);
  EXPECT_EQ(b.num_tokens(), 271);
  ExpectEqualsFreshReplay(a);
  ExpectEqualsFreshReplay(b);
}

// --- Sizes ------------------------------------------------------------------------------------

TEST(DecoderSizes, StateBytesGrowWithTokensAndCheckpoints) {
  auto engine = LongEngine();
  DecodeState state = MustInit(engine, Start::kModule, "", 4000);
  const int64_t empty = state.ApproxBytes();
  EXPECT_GE(empty, static_cast<int64_t>(sizeof(DecodeState)));
  Rng rng(9);
  RandomTokens(state, rng, 1000);
  ASSERT_GE(state.num_tokens(), 1000);
  const int64_t grown = state.ApproxBytes();
  // At least the tokens, and not more than twice tokens + checkpoints' worth.
  EXPECT_GE(grown - empty, 4 * state.num_tokens());
  EXPECT_LE(grown - empty, 2 * (4 + 4) * state.num_tokens() + 4096);
  ASSERT_TRUE(Rollback(state, state.num_tokens()).ok());
  EXPECT_EQ(internal::DecoderAccess::NumCheckpoints(state), 0u);
}

TEST(DecoderSizes, MaxBytesBoundTheStateAllTheWayToMaxLen) {
  auto engine = LongEngine();
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    DecodeState state = MustInit(engine, Start::kModule, "", 3000);
    const int64_t reserved = state.MaxApproxBytes();
    Rng rng(seed);
    while (!state.terminated()) {
      RandomTokens(state, rng, 1);
      ASSERT_LE(state.ApproxBytes(), reserved) << "after " << state.num_tokens() << " tokens";
    }
    // A fork reserves the same, and the reservation does not grow as tokens come.
    EXPECT_EQ(Fork(state).MaxApproxBytes(), reserved);
  }
}

TEST(DecoderSizes, EngineBytesCountItsTables) {
  auto small = MakeEngine();
  DecodeConfig wide;
  wide.const_range = {0, 1000};
  wide.max_locals = 20;
  auto big = MakeEngine(wide);
  EXPECT_GT(small->ApproxBytes(), 10'000);
  EXPECT_GT(big->ApproxBytes(), small->ApproxBytes());
  // The mask tables alone: contexts x condition sets x words, plus the budget rows.
  const int64_t words = big->words();
  EXPECT_GE(big->ApproxBytes(), static_cast<int64_t>(MaskContext::kCount) * words * 4);
}

// The heap in use, as glibc counts it.
int64_t HeapInUse() { return static_cast<int64_t>(mallinfo2().uordblks); }

// Sanitizers replace malloc, and glibc's mallinfo2 then sees none of the heap.
bool HeapIsMeasurable() {
  const int64_t before = HeapInUse();
  auto block = std::make_unique<char[]>(1 << 20);
  block[0] = 1;
  return HeapInUse() - before >= (1 << 20);
}

TEST(DecoderSizes, StateBytesAreWithinTwiceTheHeapTheyTake) {
  if (!HeapIsMeasurable()) GTEST_SKIP() << "mallinfo2 does not see this build's allocator";
  auto engine = LongEngine();
  constexpr int kStates = 64;
  std::vector<DecodeState> states;
  states.reserve(kStates);  // the vector's own buffer is outside the measurement
  const int64_t before = HeapInUse();
  for (int i = 0; i < kStates; ++i) {
    states.push_back(MustInit(engine, Start::kModule, "", 3000));
    Rng rng(100 + i);
    RandomTokens(states.back(), rng, 200 + 40 * i);  // up to ~2,700 tokens
  }
  const int64_t truth = HeapInUse() - before;
  int64_t estimate = 0;
  for (const DecodeState& s : states) {
    estimate += s.ApproxBytes() - static_cast<int64_t>(sizeof(DecodeState));  // inline: counted
  }
  EXPECT_GT(truth, 0);
  RecordProperty("state_estimate", std::to_string(estimate));
  RecordProperty("state_heap", std::to_string(truth));
  EXPECT_LE(estimate, 2 * truth) << "estimate " << estimate << ", heap " << truth;
  EXPECT_GE(2 * estimate, truth) << "estimate " << estimate << ", heap " << truth;
  // Forks copy exactly: capacity equals size.
  const int64_t before_forks = HeapInUse();
  std::vector<DecodeState> forks;
  forks.reserve(kStates);
  const int64_t reserved = HeapInUse() - before_forks;
  for (const DecodeState& s : states) forks.push_back(Fork(s));
  const int64_t fork_truth = HeapInUse() - before_forks - reserved;
  int64_t fork_estimate = 0;
  for (const DecodeState& s : forks) {
    fork_estimate += s.ApproxBytes() - static_cast<int64_t>(sizeof(DecodeState));
  }
  EXPECT_LE(fork_estimate, 2 * fork_truth);
  EXPECT_GE(2 * fork_estimate, fork_truth);
}

TEST(DecoderSizes, EngineBytesAreWithinTwiceTheHeapItTakes) {
  if (!HeapIsMeasurable()) GTEST_SKIP() << "mallinfo2 does not see this build's allocator";
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const int64_t before = HeapInUse();
    auto engine = Engine::Create(c.config);
    ASSERT_TRUE(engine.ok());
    const int64_t truth = HeapInUse() - before;
    const int64_t estimate = (*engine)->ApproxBytes();
    RecordProperty(std::string(c.name) + "_engine_estimate", std::to_string(estimate));
    RecordProperty(std::string(c.name) + "_engine_heap", std::to_string(truth));
    EXPECT_LE(estimate, 2 * truth) << "estimate " << estimate << ", heap " << truth;
    EXPECT_GE(2 * estimate, truth) << "estimate " << estimate << ", heap " << truth;
  }
}

TEST(DecoderProperties, ForksEvolveIndependently) {
  auto engine = MakeEngine();
  DecodeState parent = MustInit(engine, Start::kFunction, "def/2 = c");
  DecodeState child = Fork(parent);
  const std::set<int> parent_mask = MaskSet(parent);
  ASSERT_TRUE(child.Advance(Ids(*engine, "a")[0]).ok());
  ASSERT_TRUE(child.Advance(Ids(*engine, "return")[0]).ok());
  EXPECT_EQ(parent.num_tokens(), 3);
  EXPECT_EQ(MaskSet(parent), parent_mask);
  ASSERT_TRUE(parent.Advance(Ids(*engine, "7")[0]).ok());
  EXPECT_EQ(child.num_tokens(), 5);
  EXPECT_EQ(child.tokens()[3], Ids(*engine, "a")[0]);
}

TEST(Decoder, CompleteFunctionAdmitsOnlyEosThenPad) {
  auto engine = MakeEngine();
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 return a end");
  EXPECT_TRUE(s.complete());
  EXPECT_FALSE(s.terminated());
  EXPECT_EQ(MaskNames(s), "<eos>");
  ASSERT_TRUE(s.Advance(Vocabulary::eos_id()).ok());
  EXPECT_TRUE(s.terminated());
  EXPECT_EQ(MaskNames(s), "<pad>");
  EXPECT_EQ(s.min_tokens_to_complete(), 0);
}

TEST(Decoder, ModuleBoundaryAdmitsEosOrAnotherFunction) {
  DecodeConfig config;
  config.max_functions = 2;
  auto engine = MakeEngine(config);
  DecodeState s = MustInit(engine, Start::kModule, "def/1 pass end");
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(MaskNames(s), "<eos> def/1 def/2 def/3");
  ASSERT_TRUE(s.Advance(Ids(*engine, "def/2")[0]).ok());
  EXPECT_FALSE(s.complete());
  ASSERT_TRUE(s.Advance(Ids(*engine, "pass")[0]).ok());
  ASSERT_TRUE(s.Advance(Ids(*engine, "end")[0]).ok());
  EXPECT_EQ(MaskNames(s), "<eos>");  // max_functions reached
}

TEST(Decoder, ExpressionHoleOffersDefinitelyAssignedNamesConstantsAndOperators) {
  DecodeConfig config;
  config.const_range = {0, 2};
  auto engine = MakeEngine(config);
  DecodeState s = MustInit(engine, Start::kFunction, "def/2 = c");
  // Reading c inside its own first assignment would raise UnboundLocalError.
  EXPECT_EQ(MaskNames(s),
            "+ - * // % < <= == != > >= and or neg not ifexp abs min max a b 0 1 2");
}

TEST(Decoder, AssignmentTargetsAreIntroducedNamesOrTheNextFreshOne) {
  auto engine = MakeEngine();
  DecodeState s = MustInit(engine, Start::kFunction, "def/2 =");
  EXPECT_EQ(MaskNames(s), "a b c");
  s = MustInit(engine, Start::kFunction, "def/2 = c 1 =");
  EXPECT_EQ(MaskNames(s), "a b c d");
  DecodeConfig few;
  few.max_locals = 1;
  s = MustInit(MakeEngine(few), Start::kFunction, "def/1 = b 1 =");
  EXPECT_EQ(MaskNames(s), "a b");  // no room for a second local
}

TEST(Decoder, IfElseMergesOnlyTheBranchesThatFallThrough) {
  auto engine = MakeEngine();
  // Assigned in both branches: definitely assigned after.
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 if/else a = b 1 end = b 2 end return");
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "b")[0]));
  // Assigned in one branch only: not.
  s = MustInit(engine, Start::kFunction, "def/1 if/else a = b 1 end pass end return");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "b")[0]));
  // The other branch returns, so only the assigning branch reaches the next statement.
  s = MustInit(engine, Start::kFunction, "def/1 if/else a = b 1 end return/0 end return");
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "b")[0]));
  s = MustInit(engine, Start::kFunction, "def/1 if/else a return 0 end = b 1 end return");
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "b")[0]));
  // An if without else never makes a name definitely assigned.
  s = MustInit(engine, Start::kFunction, "def/1 if a = b 1 end return");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "b")[0]));
  // But the name is introduced: assigning it again reuses it.
  s = MustInit(engine, Start::kFunction, "def/1 if a = b 1 end =");
  EXPECT_EQ(MaskNames(s), "a b c");
}

TEST(Decoder, LoopsBindTheirVariableOnlyInsideAndMayRunZeroTimes) {
  DecodeConfig config;
  config.allow_loops = true;
  auto engine = MakeEngine(config);
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 for/1 b a");
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "break")[0]));
  ASSERT_TRUE(s.Advance(Ids(*engine, "return")[0]).ok());
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "b")[0]));  // the loop variable
  s = MustInit(engine, Start::kFunction, "def/1 for/1 b a = c b end return");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "b")[0]));  // range may be empty
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "c")[0]));
  s = MustInit(engine, Start::kFunction, "def/1 for/1 b");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "b")[0]));  // range(b) before b exists
  s = MustInit(engine, Start::kFunction, "def/1");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "break")[0]));
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "continue")[0]));
  // Without allow_loops there are no loops at all.
  s = MustInit(MakeEngine(), Start::kFunction, "def/1");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "for/1")[0]));
}

TEST(Decoder, AugmentedAssignmentNeedsADefinitelyAssignedName) {
  DecodeConfig config;
  config.arities = {0};
  auto engine = MakeEngine(config);
  DecodeState s = MustInit(engine, Start::kFunction, "def/0");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "+=")[0]));
  s = MustInit(engine, Start::kFunction, "def/0 = a 1");
  EXPECT_TRUE(MaskSet(s).count(Ids(*engine, "+=")[0]));
  ASSERT_TRUE(s.Advance(Ids(*engine, "+=")[0]).ok());
  EXPECT_EQ(MaskNames(s), "a");
}

TEST(Decoder, GuardsBoundDepthAndBlockSize) {
  DecodeConfig config;
  config.max_expr_depth = 2;
  config.max_block_stmts = 2;
  config.max_control_depth = 1;
  config.const_range = {0, 1};
  auto engine = MakeEngine(config);
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 return +");
  EXPECT_EQ(MaskNames(s), "a 0 1");  // depth 2 is the limit: leaves only
  s = MustInit(engine, Start::kFunction, "def/1 if a");
  EXPECT_FALSE(MaskSet(s).count(Ids(*engine, "if")[0]));  // control depth 1 reached
  s = MustInit(engine, Start::kFunction, "def/1 pass pass");
  EXPECT_EQ(MaskNames(s), "end");
}

// WhyRefused names the rule behind every token the mask leaves out, and nothing else.
TEST(Decoder, WhyRefusedNamesTheGuard) {
  DecodeConfig config;
  config.max_expr_depth = 2;
  config.max_block_stmts = 2;
  config.max_control_depth = 1;
  config.max_locals = 1;
  config.const_range = {0, 1};
  auto engine = MakeEngine(config);
  auto why = [&](const std::string& prefix, const std::string& token, int max_len = 0,
                 Start start = Start::kFunction) {
    return MustInit(engine, start, prefix, max_len).WhyRefused(Ids(*engine, token)[0]);
  };
  EXPECT_EQ(why("def/1 return", "a"), Refusal::kNone);
  EXPECT_EQ(why("def/1 return", "b"), Refusal::kScope);
  EXPECT_EQ(why("def/1", "+="), Refusal::kNone);
  EXPECT_EQ(why("", "+=", 0, Start::kBlock), Refusal::kNone);
  EXPECT_EQ(why("def/1 return +", "+"), Refusal::kExprDepth);
  EXPECT_EQ(why("def/1 if a", "if"), Refusal::kControlDepth);
  EXPECT_EQ(why("def/1 pass pass", "pass"), Refusal::kBlockSize);
  EXPECT_EQ(why("def/1", "for/1"), Refusal::kLoops);
  EXPECT_EQ(why("def/1", "break"), Refusal::kOutsideLoop);
  EXPECT_EQ(why("def/1 = b 0", "="), Refusal::kNone);
  EXPECT_EQ(why("def/1 = b 0 =", "c"), Refusal::kLocals);
  EXPECT_EQ(why("def/1", "end"), Refusal::kGrammar);
  EXPECT_EQ(why("def/1 return", "pass"), Refusal::kGrammar);
  EXPECT_EQ(why("def/1", "=", 5), Refusal::kBudget);
  EXPECT_EQ(MustInit(engine, Start::kFunction).WhyRefused(-1), Refusal::kVocabulary);
  config.max_functions = 1;
  engine = MakeEngine(config);
  EXPECT_EQ(why("def/1 pass end", "def/1", 0, Start::kModule), Refusal::kFunctions);
  // An augmented assignment with nothing assigned: arity 0 and no local yet.
  config.arities = {0};
  engine = MakeEngine(config);
  EXPECT_EQ(why("def/0", "+="), Refusal::kScope);
}

TEST(DecoderProperties, WhyRefusedIsNoneExactlyForLegalTokens) {
  for (const Case& c : Cases()) {
    auto engine = MakeEngine(c.config);
    for (uint64_t seed = 0; seed < 10; ++seed) {
      SCOPED_TRACE(::testing::Message() << c.name << " seed=" << seed);
      DecodeState state = MustInit(engine, Start::kModule, "", c.max_len);
      Rng rng(seed);
      while (!state.terminated()) {
        const std::set<int> mask = MaskSet(state);
        for (int id = 0; id < engine->vocab().size(); ++id) {
          const Refusal why = state.WhyRefused(id);
          ASSERT_EQ(why == Refusal::kNone, mask.count(id) == 1) << engine->vocab().info(id).name;
          ASSERT_NE(why, Refusal::kVocabulary);
        }
        auto it = mask.begin();
        std::advance(it, rng.Below(mask.size()));
        ASSERT_TRUE(state.Advance(*it).ok());
      }
    }
  }
}

TEST(Decoder, BudgetKeepsOnlyTokensThatStillFit) {
  auto engine = MakeEngine();
  // def/1 <stmt> end <eos>: with max_len 4 the statement is one token, with 5 two, with 6 three.
  DecodeState s = MustInit(engine, Start::kFunction, "def/1", 4);
  EXPECT_EQ(MaskNames(s), "return/0 pass");
  s = MustInit(engine, Start::kFunction, "def/1", 5);
  EXPECT_EQ(MaskNames(s), "return return/0 pass");
  s = MustInit(engine, Start::kFunction, "def/1", 6);
  EXPECT_EQ(MaskNames(s), "= += -= *= //= %= return return/0 pass");
  InitRequest r;
  r.start = Start::kFunction;
  r.max_len = 3;
  EXPECT_EQ(InitState(engine, r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Decoder, ForcedTokensFollowSingletonMasks) {
  auto engine = MakeEngine();
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 pass", 4);
  EXPECT_EQ(ForcedTokens(s), Ids(*engine, "end <eos>"));
  EXPECT_EQ(s.num_tokens(), 2);  // the state itself does not move
  s = MustInit(engine, Start::kFunction, "def/1");
  EXPECT_TRUE(ForcedTokens(s).empty());
}

// TakeForcedTokens moves a state exactly as advancing by ForcedTokens would, and stops at a
// choice: on random walks the taken chain is the reported one, the masks after agree, and
// nothing is left forced.
TEST(Decoder, TakeForcedTokensAdvancesThroughTheChain) {
  auto engine = MakeEngine();
  DecodeState s = MustInit(engine, Start::kFunction, "def/1 pass", 4);
  EXPECT_EQ(TakeForcedTokens(s), Ids(*engine, "end <eos>"));
  EXPECT_TRUE(s.terminated());
  EXPECT_TRUE(TakeForcedTokens(s).empty());  // a terminated state has no chain
  int taken = 0;
  for (Start start : {Start::kModule, Start::kFunction}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      DecodeState state = MustInit(engine, start, "", 40);
      Rng rng(seed);
      while (!state.terminated()) {
        const std::vector<int32_t> forced = ForcedTokens(state);
        DecodeState stepped = state;
        for (int32_t t : forced) ASSERT_TRUE(stepped.Advance(t).ok());
        ASSERT_EQ(TakeForcedTokens(state), forced);
        ASSERT_EQ(state.tokens(), stepped.tokens());
        ASSERT_EQ(MaskSet(state), MaskSet(stepped));
        ASSERT_TRUE(state.CheckInvariants());
        ASSERT_TRUE(ForcedTokens(state).empty());
        taken += static_cast<int>(forced.size());
        if (state.terminated()) break;
        const std::set<int> mask = MaskSet(state);
        ASSERT_GT(mask.size(), 1u);  // a choice, or the chain would have gone on
        auto it = mask.begin();
        std::advance(it, rng.Below(mask.size()));
        ASSERT_TRUE(state.Advance(*it).ok());
      }
    }
  }
  EXPECT_GT(taken, 0);
}

TEST(Decoder, InitRefusesBadRequests) {
  auto engine = MakeEngine();
  InitRequest r;
  r.start = Start::kFunction;
  r.prefix_tokens = Ids(*engine, "def/1 return b");
  auto s = InitState(engine, r);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("prefix_tokens[2]"), absl::string_view::npos);
  r.prefix_tokens = {9999};
  EXPECT_EQ(InitState(engine, r).status().code(), absl::StatusCode::kInvalidArgument);
  r = InitRequest{};
  r.start = Start::kBlock;
  r.arity = 5;
  EXPECT_EQ(InitState(engine, r).status().code(), absl::StatusCode::kInvalidArgument);
  r.arity = 2;
  r.max_len = kMaxLenLimit + 1;
  EXPECT_EQ(InitState(engine, r).status().code(), absl::StatusCode::kInvalidArgument);
  auto batch = InitStates(engine, {InitRequest{}, r});
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("requests[1]"), absl::string_view::npos);
}

TEST(DecoderBatch, AdvanceIsAllOrNothing) {
  auto engine = MakeEngine();
  std::vector<DecodeState> states = {MustInit(engine, Start::kFunction, "def/1"),
                                     MustInit(engine, Start::kFunction, "def/2")};
  const auto before0 = states[0].tokens(), before1 = states[1].tokens();
  const std::vector<int32_t> bad = {Ids(*engine, "pass")[0], Ids(*engine, "+")[0]};
  absl::Status s = Advance(absl::MakeSpan(states), bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("token_ids[1]"), absl::string_view::npos) << s;
  EXPECT_EQ(states[0].tokens(), before0);
  EXPECT_EQ(states[1].tokens(), before1);
  s = Advance(absl::MakeSpan(states), std::vector<int32_t>{Ids(*engine, "pass")[0], -1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(states[0].tokens(), before0);
  s = Advance(absl::MakeSpan(states), std::vector<int32_t>{Ids(*engine, "pass")[0]});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(
      Advance(absl::MakeSpan(states), Ids(*engine, "pass return/0")).ok());
  EXPECT_EQ(states[0].num_tokens(), 2);
  EXPECT_EQ(states[1].num_tokens(), 2);
}

TEST(DecoderBatch, AdvanceRefusesTheSameStateTwice) {
  auto engine = MakeEngine();
  DecodeState s = MustInit(engine, Start::kFunction, "def/1");
  std::vector<DecodeState*> twice = {&s, &s};
  absl::Status status = Advance(absl::MakeConstSpan(twice), Ids(*engine, "pass end"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("states[0] and states[1]"), absl::string_view::npos);
  EXPECT_EQ(s.num_tokens(), 1);
}

TEST(DecoderBatch, AdvanceDistinctAnswersAsAdvanceForDistinctStates) {
  auto engine = MakeEngine();
  DecodeState a = MustInit(engine, Start::kFunction, "def/1");
  DecodeState b = MustInit(engine, Start::kFunction, "def/1");
  std::vector<DecodeState*> ptrs = {&a, &b};
  const std::vector<int32_t> bad = {Ids(*engine, "pass")[0], -1};
  const absl::Status want = Advance(absl::MakeConstSpan(ptrs), bad);
  const absl::Status got = AdvanceDistinct(absl::MakeConstSpan(ptrs), bad);
  EXPECT_EQ(got, want);
  EXPECT_EQ(FieldPathOf(got), "token_ids[1]");
  EXPECT_EQ(b.num_tokens(), 1);  // all or nothing
  EXPECT_EQ(AdvanceDistinct(absl::MakeConstSpan(ptrs), Ids(*engine, "pass")).code(),
            absl::StatusCode::kInvalidArgument);  // one token for two states
  ASSERT_TRUE(AdvanceDistinct(absl::MakeConstSpan(ptrs), Ids(*engine, "pass pass")).ok());
  EXPECT_EQ(a.num_tokens(), 2);
  EXPECT_EQ(b.num_tokens(), 2);
}

TEST(DecoderBatch, LegalMasksPacksRowsOfInt32Words) {
  auto engine = MakeEngine();
  std::vector<DecodeState> states = {MustInit(engine, Start::kFunction, "def/1 return a end"),
                                     MustInit(engine, Start::kFunction, "def/1 return a end <eos>")};
  std::vector<int32_t> out(2 * engine->words(), -1);
  ASSERT_TRUE(LegalMasks(absl::MakeConstSpan(states), absl::MakeSpan(out)).ok());
  EXPECT_EQ(out[0], 1 << Vocabulary::eos_id());
  EXPECT_EQ(out[engine->words()], 1 << Vocabulary::pad_id());
  for (int w = 1; w < engine->words(); ++w) EXPECT_EQ(out[w], 0);
  std::vector<int32_t> small(1);
  EXPECT_EQ(LegalMasks(absl::MakeConstSpan(states), absl::MakeSpan(small)).code(),
            absl::StatusCode::kInvalidArgument);
  DecodeConfig other;
  other.const_range = {0, 3};
  states.push_back(MustInit(MakeEngine(other), Start::kFunction));
  std::vector<int32_t> three(3 * engine->words());
  EXPECT_EQ(LegalMasks(absl::MakeConstSpan(states), absl::MakeSpan(three)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace astcd
