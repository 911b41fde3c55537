// Sessions survive the loss of their server: 1,000 sessions decode with a seeded client-side
// sampler; midway the server is killed with SIGKILL and a new one starts on the same port. The
// client re-creates each session from its tokens, and every program comes out byte-identical
// to an uninterrupted run, with no session lost and none duplicated.
#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/remote_decoder.h"
#include "core/sampler.h"
#include "gtest/gtest.h"
#include "tests/util/server_process.h"

namespace astcd {
namespace {

using client::MaskRows;
using client::RemoteDecoder;
using client::Session;
using testing::ServerProcess;

constexpr int kSessions = 1000;
constexpr int kBatch = 100;

// Decodes kSessions FUNCTION programs, a batch at a time in lockstep; after `kill_after` calls
// of Advance, runs `on_kill` (once). Returns the sources, in session order.
// Releases every session at the end and reports how many the answering server still had.
std::vector<std::string> DecodeAll(RemoteDecoder& rpc, int kill_after,
                                   const std::function<void()>& on_kill, int* num_released) {
  std::vector<std::vector<Session>> batches;
  std::vector<MaskRows> masks(kSessions / kBatch);
  InitRequest request;
  request.start = Start::kFunction;
  request.max_len = 64;
  for (int b = 0; b < kSessions / kBatch; ++b) {
    absl::StatusOr<std::vector<Session>> s = rpc.InitStates(
        {}, std::vector<InitRequest>(kBatch, request), &masks[static_cast<size_t>(b)]);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return {};
    batches.push_back(*std::move(s));
  }
  std::vector<Rng> rngs;
  for (int i = 0; i < kSessions; ++i) rngs.emplace_back(StreamSeed(2026, i, 0));
  int advances = 0;
  bool active = true;
  while (active) {
    active = false;
    for (size_t b = 0; b < batches.size(); ++b) {
      // Advance the batch's unterminated sessions by one sampled token each.
      std::vector<size_t> live;
      std::vector<int32_t> tokens;
      for (size_t k = 0; k < batches[b].size(); ++k) {
        if (batches[b][k].terminated) continue;
        std::vector<int32_t> legal;
        for (int32_t t = 0; t < masks[b].vocab_size; ++t) {
          if (masks[b].IsLegal(static_cast<int>(k), t)) legal.push_back(t);
        }
        Rng& rng = rngs[b * kBatch + k];
        live.push_back(k);
        tokens.push_back(legal[rng.Below(legal.size())]);
      }
      if (live.empty()) continue;
      active = true;
      std::vector<Session> step;
      for (size_t k : live) step.push_back(batches[b][k]);
      MaskRows next;
      if (++advances == kill_after) on_kill();
      absl::Status s = rpc.Advance(absl::MakeSpan(step), tokens, &next);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return {};
      // Keep the full batch's mask layout: row k of masks[b] is session k.
      for (size_t j = 0; j < live.size(); ++j) {
        batches[b][live[j]] = step[j];
        std::copy(next.row(static_cast<int>(j)).begin(), next.row(static_cast<int>(j)).end(),
                  masks[b].words.begin() + live[j] * masks[b].words_per_row);
      }
    }
  }
  std::vector<std::string> sources;
  std::vector<Session> all;
  for (std::vector<Session>& batch : batches) {
    std::vector<std::vector<int32_t>> programs;
    for (Session& s : batch) programs.push_back(s.tokens);
    absl::StatusOr<std::vector<DetokenizeResult>> d =
        rpc.Detokenize({}, Start::kFunction, std::nullopt, programs, /*partial=*/false);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    for (const DetokenizeResult& r : *d) sources.push_back(r.ok ? r.source : "error: " + r.error);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  absl::StatusOr<int> released = rpc.Release(all);
  EXPECT_TRUE(released.ok()) << released.status();
  *num_released = released.value_or(-1);
  return sources;
}

TEST(SessionReplay, ProgramsSurviveAKilledServer) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(ASTCD_SERVER_PATH, {})) << server.error();
  const int port = server.port();
  std::unique_ptr<RemoteDecoder> rpc = RemoteDecoder::Connect(server.target());
  int released = 0;
  const std::vector<std::string> uninterrupted = DecodeAll(*rpc, -1, [] {}, &released);
  ASSERT_EQ(uninterrupted.size(), static_cast<size_t>(kSessions));
  EXPECT_EQ(rpc->replays(), 0);
  EXPECT_EQ(released, kSessions);

  // The same run, with the server killed midway and a new one started on the same port a
  // little later.
  std::thread restarter;
  ServerProcess second;
  const std::vector<std::string> interrupted = DecodeAll(*rpc, 150, [&] {
    server.Kill(SIGKILL);
    restarter = std::thread([&] {
      absl::SleepFor(absl::Milliseconds(300));
      ASSERT_TRUE(second.Start(ASTCD_SERVER_PATH, {"--max-sessions", "1000"}, port))
          << second.error();
    });
  }, &released);
  if (restarter.joinable()) restarter.join();
  ASSERT_EQ(interrupted.size(), static_cast<size_t>(kSessions));
  EXPECT_GT(rpc->replays(), 0);
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_EQ(interrupted[i], uninterrupted[i]) << "session " << i;
    ASSERT_EQ(interrupted[i].rfind("error", 0), std::string::npos) << interrupted[i];
  }
  // Sessions that ended before the kill were never needed again, so only the re-created ones
  // were released. None was duplicated: the new server holds no session now, so its whole cap
  // is free, and not one more.
  EXPECT_GT(released, 0);
  EXPECT_LE(released, kSessions);
  InitRequest r;
  absl::StatusOr<std::vector<Session>> fill =
      rpc->InitStates({}, std::vector<InitRequest>(kSessions, r));
  EXPECT_TRUE(fill.ok()) << fill.status();
  EXPECT_TRUE(absl::IsResourceExhausted(rpc->InitStates({}, {r}).status()));
}

}  // namespace
}  // namespace astcd
