// decode() and the samplers: ordering, determinism, continuation, caps, padding, tracing.
#include "core/decode.h"

#include <atomic>
#include <memory>
#include <set>

#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;
using ::astcd::testing::MustInit;

std::vector<std::vector<int32_t>> Tokens(const DecodeBatch& batch) {
  std::vector<std::vector<int32_t>> out;
  for (const DecodeResult& r : batch.results) out.push_back(r.tokens);
  return out;
}

DecodeBatch MustDecode(const std::vector<DecodeState>& states, const Sampler& sampler,
                       const DecodeOptions& options) {
  auto batch = Decode(states, sampler, options);
  EXPECT_TRUE(batch.ok()) << batch.status();
  return *std::move(batch);
}

TEST(Decode, ResultsAreOrderedByInputThenSample) {
  auto e = MakeEngine();
  std::vector<DecodeState> states = {MustInit(e, Start::kFunction), MustInit(e, Start::kExpr)};
  DecodeOptions options;
  options.n = 3;
  DecodeBatch batch = MustDecode(states, UniformSampler(1), options);
  ASSERT_EQ(batch.results.size(), 6u);
  ASSERT_EQ(batch.states.size(), 6u);
  for (int r = 0; r < 6; ++r) {
    EXPECT_EQ(batch.results[r].input_index, r / 3);
    EXPECT_EQ(batch.results[r].sample_index, r % 3);
    EXPECT_TRUE(batch.results[r].complete);
    EXPECT_EQ(batch.results[r].stop_reason, StopReason::kEos);
    EXPECT_EQ(batch.states[r].tokens(), batch.results[r].tokens);
    EXPECT_TRUE(batch.states[r].terminated());
  }
  EXPECT_EQ(batch.states[4].start(), Start::kExpr);
}

TEST(Decode, ResultsDependOnlyOnSeedIndexAndState) {
  auto e = MakeEngine();
  DecodeState a = MustInit(e, Start::kFunction), b = MustInit(e, Start::kModule),
              c = MustInit(e, Start::kBlock);
  DecodeOptions options;
  options.n = 4;
  const DecodeBatch alone = MustDecode({a}, UniformSampler(9), options);
  const DecodeBatch pair = MustDecode({a, b}, UniformSampler(9), options);
  const DecodeBatch other = MustDecode({c, b}, UniformSampler(9), options);
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(alone.results[j].tokens, pair.results[j].tokens);
    EXPECT_EQ(pair.results[4 + j].tokens, other.results[4 + j].tokens);
  }
  options.num_threads = 3;
  EXPECT_EQ(Tokens(MustDecode({a, b}, UniformSampler(9), options)), Tokens(pair));
  EXPECT_NE(Tokens(MustDecode({a, b}, UniformSampler(10), options)), Tokens(pair));
  // Splitting n with sample_offset gives the same samples as one call.
  options.num_threads = 1;
  options.n = 2;
  options.sample_offset = 2;
  const DecodeBatch tail = MustDecode({a}, UniformSampler(9), options);
  EXPECT_EQ(tail.results[0].sample_index, 2);
  EXPECT_EQ(tail.results[1].tokens, alone.results[3].tokens);
  // Splitting the inputs with input_offset gives the same samples as one call too.
  options.n = 4;
  options.sample_offset = 0;
  options.input_offset = 1;
  const DecodeBatch second = MustDecode({b}, UniformSampler(9), options);
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(second.results[j].input_index, 1);
    EXPECT_EQ(second.results[j].tokens, pair.results[4 + j].tokens);
  }
}

TEST(Decode, ModuleBoundaryStopsAndContinuesWithoutRecomputingThePrefix) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.stop_at = StopAt::kComplete;
  options.n = 5;
  DecodeBatch first = MustDecode({MustInit(e, Start::kModule)}, UniformSampler(3), options);
  for (const DecodeResult& r : first.results) {
    EXPECT_EQ(r.stop_reason, StopReason::kComplete);
    EXPECT_TRUE(r.complete);
    EXPECT_NE(r.tokens.back(), Vocabulary::eos_id());
    EXPECT_EQ(r.source.rfind("def func(", 0), 0u);
  }
  options.n = 1;
  DecodeBatch second = MustDecode(first.states, UniformSampler(4), options);
  for (int i = 0; i < 5; ++i) {
    const DecodeResult& r = second.results[i];
    ASSERT_GT(r.tokens.size(), first.results[i].tokens.size());
    EXPECT_TRUE(std::equal(first.results[i].tokens.begin(), first.results[i].tokens.end(),
                           r.tokens.begin()));
    EXPECT_EQ(r.new_tokens.size(), r.tokens.size() - first.results[i].tokens.size());
  }
}

TEST(Decode, CapsPaddingAndTrace) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.n = 20;
  options.max_new_tokens = 6;
  options.pad = true;
  options.trace = true;
  DecodeBatch batch = MustDecode({MustInit(e, Start::kFunction, "", 100)}, UniformSampler(2),
                                 options);
  int cut = 0;
  for (const DecodeResult& r : batch.results) {
    EXPECT_LE(r.new_tokens.size(), 6u);
    ASSERT_TRUE(r.padded_tokens.has_value());
    ASSERT_EQ(r.padded_tokens->size(), 6u);
    for (size_t k = r.new_tokens.size(); k < 6; ++k) EXPECT_EQ((*r.padded_tokens)[k], 0);
    ASSERT_EQ(r.trace.size(), r.new_tokens.size());
    for (size_t k = 0; k < r.trace.size(); ++k) {
      EXPECT_EQ(r.trace[k].token, r.new_tokens[k]);
      EXPECT_GE(r.trace[k].num_legal, 1);
    }
    if (r.stop_reason == StopReason::kMaxNewTokens && !r.complete) {
      ++cut;
      EXPECT_NE(r.source.find('<'), std::string::npos) << r.source;  // shows its holes
    }
    if (r.stop_reason == StopReason::kEos) {
      EXPECT_TRUE(r.complete);
    }
  }
  EXPECT_GT(cut, 0);
}

TEST(Decode, MaxTotalTokensTightensTheBudget) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.n = 50;
  options.max_total_tokens = 12;
  DecodeBatch batch = MustDecode({MustInit(e, Start::kFunction, "", 100)}, UniformSampler(5),
                                 options);
  for (const DecodeResult& r : batch.results) {
    EXPECT_TRUE(r.complete);
    EXPECT_LE(r.tokens.size(), 12u);
  }
  EXPECT_EQ(batch.states[0].max_len(), 12);
  options.max_total_tokens = 3;
  auto refused = Decode({MustInit(e, Start::kFunction, "", 100)}, UniformSampler(5), options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("states[0]"), absl::string_view::npos);
}

TEST(Decode, RefusesBadOptions) {
  auto e = MakeEngine();
  std::vector<DecodeState> s = {MustInit(e, Start::kFunction)};
  for (auto change : std::vector<void (*)(DecodeOptions&)>{
           [](DecodeOptions& o) { o.n = 0; }, [](DecodeOptions& o) { o.n = 5000; },
           [](DecodeOptions& o) { o.max_new_tokens = -1; },
           [](DecodeOptions& o) { o.pad = true; }, [](DecodeOptions& o) { o.num_threads = 0; },
           [](DecodeOptions& o) { o.sample_offset = -1; },
           [](DecodeOptions& o) { o.input_offset = -1; }}) {
    DecodeOptions o;
    change(o);
    EXPECT_EQ(Decode(s, UniformSampler(1), o).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(Decode, TerminatedInputStaysAsItIs) {
  auto e = MakeEngine();
  DecodeState done = MustInit(e, Start::kFunction, "def/1 pass end <eos>");
  DecodeBatch batch = MustDecode({done}, UniformSampler(1), DecodeOptions{});
  EXPECT_EQ(batch.results[0].stop_reason, StopReason::kAlreadyTerminated);
  EXPECT_TRUE(batch.results[0].new_tokens.empty());
  EXPECT_EQ(batch.results[0].tokens, done.tokens());
}

// An interrupt that returns DeadlineExceeded from its `fail_at`-th call on.
struct CountingInterrupt {
  int64_t fail_at;
  std::shared_ptr<std::atomic<int64_t>> calls = std::make_shared<std::atomic<int64_t>>(0);
  Interrupt Get() const {
    return [fail_at = fail_at, calls = calls]() -> absl::Status {
      if (++*calls >= fail_at) return absl::DeadlineExceededError("deadline (test)");
      return absl::OkStatus();
    };
  }
};

// on_finished sees every result once, on the workers, and what it leaves is what Decode
// returns; without keep_states the batch has no states and the same results.
TEST(Decode, OnFinishedSeesEachResultOnceAndKeepStatesOffKeepsTheResults) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.n = 200;
  options.num_threads = 4;
  const DecodeBatch plain = MustDecode({MustInit(e, Start::kFunction)}, UniformSampler(9), options);
  std::vector<std::atomic<int>> seen(options.n);
  options.keep_states = false;
  options.on_finished = [&seen](DecodeResult& r) {
    seen[r.sample_index]++;
    r.source += "#";
  };
  const DecodeBatch lean = MustDecode({MustInit(e, Start::kFunction)}, UniformSampler(9), options);
  EXPECT_TRUE(lean.states.empty());
  ASSERT_EQ(lean.results.size(), plain.results.size());
  EXPECT_EQ(Tokens(lean), Tokens(plain));
  for (size_t r = 0; r < plain.results.size(); ++r) {
    EXPECT_EQ(seen[r].load(), 1) << r;
    EXPECT_EQ(lean.results[r].source, plain.results[r].source + "#");
  }
}

TEST(DecodeInterrupt, StopsEveryWorkerWithItsStatus) {
  auto e = MakeEngine();
  for (int threads : {1, 4}) {
    SCOPED_TRACE(threads);
    DecodeOptions options;
    options.n = kMaxSamples;
    options.num_threads = threads;
    std::atomic<int> results{0};
    options.on_result = [&results] { ++results; };
    CountingInterrupt interrupt{5};
    options.interrupt = interrupt.Get();
    auto batch = Decode({MustInit(e, Start::kModule)}, UniformSampler(3), options);
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(batch.status().message(), "deadline (test)");
    // Each worker stops at its next check: a few thousand units at most, far from 4096
    // programs of tens of tokens each.
    EXPECT_LT(results.load(), 4 * threads * kDecodeInterruptTokens / 10 + 1000);
    EXPECT_LE(interrupt.calls->load(), 5 + threads);
  }
}

TEST(DecodeInterrupt, AnInterruptThatNeverFiresChangesNothing) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.n = 300;
  options.num_threads = 3;
  const DecodeBatch plain =
      MustDecode({MustInit(e, Start::kModule)}, UniformSampler(4), options);
  CountingInterrupt never{INT64_MAX};
  options.interrupt = never.Get();
  const DecodeBatch checked =
      MustDecode({MustInit(e, Start::kModule)}, UniformSampler(4), options);
  EXPECT_EQ(Tokens(plain), Tokens(checked));
  int64_t units = 0;
  for (const DecodeResult& r : checked.results) units += 1 + r.new_tokens.size();
  // Each worker checks as it starts and then every kDecodeInterruptTokens units.
  EXPECT_GE(never.calls->load(), units / kDecodeInterruptTokens);
  EXPECT_LE(never.calls->load(), units / kDecodeInterruptTokens + 3);
}

TEST(Samplers, UniformReachesEveryFirstToken) {
  auto e = MakeEngine();
  DecodeOptions options;
  options.n = 300;
  options.max_new_tokens = 1;
  options.render_source = false;
  DecodeBatch batch = MustDecode({MustInit(e, Start::kFunction)}, UniformSampler(1), options);
  std::map<int, int> counts;
  for (const DecodeResult& r : batch.results) ++counts[r.new_tokens[0]];
  EXPECT_EQ(counts.size(), 3u);  // def/1 def/2 def/3
  for (const auto& [token, count] : counts) EXPECT_GT(count, 60) << token;
}

TEST(Samplers, WeightedHonoursItsPolicy) {
  auto e = MakeEngine();
  PolicyConfig policy;
  policy.weights = {{"if", 0}, {"if/else", 0}, {"statement", 1}, {"=", 5}};
  auto sampler = WeightedSampler::Create(11, policy, e);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  DecodeOptions options;
  options.n = 200;
  DecodeBatch batch = MustDecode({MustInit(e, Start::kFunction)}, **sampler, options);
  const std::set<int32_t> banned = {*e->vocab().Find("if"), *e->vocab().Find("if/else")};
  int assigns = 0;
  for (const DecodeResult& r : batch.results) {
    EXPECT_TRUE(r.complete);
    for (int32_t t : r.tokens) {
      EXPECT_FALSE(banned.count(t));
      assigns += t == *e->vocab().Find("=");
    }
  }
  EXPECT_GT(assigns, 200);
  policy.weights = {{"bogus", 1}};
  EXPECT_EQ(WeightedSampler::Create(1, policy, e).status().code(),
            absl::StatusCode::kInvalidArgument);
  policy.weights = {{"if", -1}};
  EXPECT_EQ(WeightedSampler::Create(1, policy, e).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeSampler("greedy", 1, {}, e).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Samplers, RngIsStableAcrossPlatforms) {
  Rng rng(0);
  EXPECT_EQ(rng.Next(), 0xe220a8397b1dcdafull);  // SplitMix64's published first output
  EXPECT_NE(StreamSeed(1, 0, 0), StreamSeed(1, 0, 1));
  EXPECT_NE(StreamSeed(1, 0, 1), StreamSeed(1, 1, 0));
}

}  // namespace
}  // namespace astcd
