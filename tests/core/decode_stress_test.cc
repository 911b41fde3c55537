// Decode's worker pool from many threads at once: one engine and one sampler shared by every
// call, each call fanned out over several workers. In every build the results must equal a
// single-threaded run; under ThreadSanitizer (ASTCD_TSAN) the threads are also checked for
// races (docs/reliability.md, section 2).
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/decode.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::MakeEngine;
using ::astcd::testing::MustInit;

constexpr int kCallers = 4;

std::vector<DecodeState> Inputs(const std::shared_ptr<const Engine>& e) {
  return {MustInit(e, Start::kFunction, "", 96), MustInit(e, Start::kModule, "", 128),
          MustInit(e, Start::kExpr, "", 48)};
}

std::vector<std::vector<int32_t>> Tokens(const DecodeBatch& batch) {
  std::vector<std::vector<int32_t>> out;
  for (const DecodeResult& r : batch.results) out.push_back(r.tokens);
  return out;
}

TEST(DecodeStress, PooledCallsFromManyThreadsEqualOneThread) {
  auto engine = MakeEngine();
  const std::vector<DecodeState> inputs = Inputs(engine);
  const UniformSampler sampler(17);
  DecodeOptions options;
  options.n = 12;
  const absl::StatusOr<DecodeBatch> expected = Decode(inputs, sampler, options);
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::vector<std::string> expected_sources;
  for (const DecodeResult& r : expected->results) expected_sources.push_back(r.source);

  std::atomic<int> delivered{0};
  std::vector<absl::StatusOr<DecodeBatch>> got(kCallers, absl::UnknownError("not run"));
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      DecodeOptions pooled = options;
      pooled.num_threads = 2 + t;  // results do not depend on it
      pooled.on_result = [&delivered] { delivered.fetch_add(1); };
      pooled.interrupt = [] { return absl::OkStatus(); };  // shared StopSignal, never stops
      got[t] = Decode(inputs, sampler, pooled);
    });
  }
  for (std::thread& t : callers) t.join();
  for (int t = 0; t < kCallers; ++t) {
    ASSERT_TRUE(got[t].ok()) << got[t].status();
    EXPECT_EQ(Tokens(*got[t]), Tokens(*expected)) << "caller " << t;
    for (size_t r = 0; r < expected_sources.size(); ++r) {
      EXPECT_EQ(got[t]->results[r].source, expected_sources[r]);
      EXPECT_EQ(got[t]->states[r].tokens(), got[t]->results[r].tokens);
    }
  }
  EXPECT_EQ(delivered.load(), kCallers * static_cast<int>(expected->results.size()));
}

// Another thread stops the calls midway: every worker of every call stops, each call returns
// the interrupt's status, and the results it delivered before are a prefix of no more than
// the batch.
TEST(DecodeStress, AnInterruptFromAnotherThreadStopsEveryWorker) {
  auto engine = MakeEngine();
  const std::vector<DecodeState> inputs = Inputs(engine);
  const UniformSampler sampler(5);
  std::atomic<bool> stop{false};
  std::atomic<int> delivered{0};
  std::vector<absl::Status> statuses(kCallers);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      DecodeOptions options;
      options.n = kMaxSamples;  // far more than can finish before the stop
      options.num_threads = 3;
      options.on_result = [&] {
        if (delivered.fetch_add(1) == 40) stop.store(true);
      };
      options.interrupt = [&stop] {
        return stop.load() ? absl::CancelledError("stopped") : absl::OkStatus();
      };
      statuses[t] = Decode(inputs, sampler, options).status();
    });
  }
  for (std::thread& t : callers) t.join();
  for (const absl::Status& s : statuses) EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_TRUE(stop.load());
  EXPECT_LT(delivered.load(), kCallers * 3 * kMaxSamples);
}

}  // namespace
}  // namespace astcd
