// The C++ client against the real astcd-server binary on a loopback port: every answer is
// checked against the in-process engine, every error code is reached by a real request, and
// no failed call changes a session.
#include "client/remote_decoder.h"

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/decode.h"
#include "core/sampler.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"
#include "tests/util/server_process.h"

namespace astcd {
namespace {

using client::MaskRows;
using client::RemoteDecoder;
using client::Session;
using testing::MakeEngine;
using testing::ServerProcess;

std::vector<uint32_t> LocalMask(const DecodeState& state) {
  std::vector<uint32_t> row(state.engine().words());
  state.FillMask(row.data());
  return row;
}

std::vector<uint32_t> RemoteRow(const MaskRows& masks, int i) {
  std::vector<uint32_t> row;
  for (int32_t w : masks.row(i)) row.push_back(static_cast<uint32_t>(w));
  return row;
}

std::vector<int32_t> LegalTokens(const std::vector<uint32_t>& row) {
  std::vector<int32_t> out;
  for (size_t w = 0; w < row.size(); ++w) {
    for (int b = 0; b < 32; ++b) {
      if ((row[w] >> b) & 1u) out.push_back(static_cast<int32_t>(w * 32 + b));
    }
  }
  return out;
}

// The sessions' masks and records as they are now. ExpectUnchanged checks that a failed call
// changed nothing, on the server or in the client's record.
class Snapshot {
 public:
  Snapshot(RemoteDecoder& rpc, std::vector<Session>& sessions)
      : rpc_(rpc), sessions_(sessions), kept_(sessions) {
    EXPECT_TRUE(rpc_.LegalMasks(absl::MakeSpan(sessions_), &before_).ok());
  }
  const MaskRows& masks() const { return before_; }
  void ExpectUnchanged(const char* what) {
    MaskRows after;
    ASSERT_TRUE(rpc_.LegalMasks(absl::MakeSpan(sessions_), &after).ok()) << what;
    EXPECT_EQ(after.words, before_.words) << what;
    for (size_t i = 0; i < sessions_.size(); ++i) {
      EXPECT_EQ(sessions_[i].tokens, kept_[i].tokens) << what;
      EXPECT_EQ(sessions_[i].num_tokens, kept_[i].num_tokens) << what;
    }
  }

 private:
  RemoteDecoder& rpc_;
  std::vector<Session>& sessions_;
  const std::vector<Session> kept_;
  MaskRows before_;
};

class RemoteDecoderTest : public ::testing::Test {
 protected:
  void StartServer(const std::vector<std::string>& args = {}) {
    ASSERT_TRUE(server_.Start(ASTCD_SERVER_PATH, args)) << server_.error();
    client::ClientOptions options;
    options.replay_sessions = false;
    rpc_ = RemoteDecoder::Connect(server_.target(), options);
  }
  void SetUp() override { StartServer(); }

  ServerProcess server_;
  std::unique_ptr<RemoteDecoder> rpc_;
};

// Random walks in lockstep, a batch of sessions at a time: each step's remote masks equal the
// in-process masks for the same tokens, and the finished programs detokenize to the same source.
TEST_F(RemoteDecoderTest, MasksAndSourcesMatchInProcess) {
  DecodeConfig loops;
  loops.allow_loops = true;
  loops.max_control_depth = 3;
  for (const DecodeConfig& config : {DecodeConfig{}, loops}) {
    auto engine = MakeEngine(config);
    std::vector<InitRequest> requests;
    for (Start start : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
      for (int k = 0; k < 4; ++k) {
        InitRequest r;
        r.start = start;
        if (start == Start::kBlock || start == Start::kExpr) r.arity = 2;
        r.max_len = 40 + 20 * k;
        requests.push_back(r);
      }
    }
    MaskRows masks;
    absl::StatusOr<std::vector<Session>> sessions = rpc_->InitStates(config, requests, &masks);
    ASSERT_TRUE(sessions.ok()) << sessions.status();
    absl::StatusOr<std::vector<DecodeState>> local = InitStates(engine, requests);
    ASSERT_TRUE(local.ok());
    Rng rng(17);
    std::vector<size_t> active(requests.size());
    for (size_t i = 0; i < active.size(); ++i) active[i] = i;
    std::vector<std::vector<uint32_t>> rows(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      rows[i] = RemoteRow(masks, static_cast<int>(i));
      ASSERT_EQ(rows[i], LocalMask((*local)[i])) << "init row " << i;
    }
    while (!active.empty()) {
      std::vector<Session> batch;
      std::vector<int32_t> tokens;
      for (size_t i : active) {
        const std::vector<int32_t> legal = LegalTokens(rows[i]);
        ASSERT_FALSE(legal.empty());
        tokens.push_back(legal[rng.Below(legal.size())]);
        batch.push_back((*sessions)[i]);
      }
      ASSERT_TRUE(rpc_->Advance(absl::MakeSpan(batch), tokens, &masks).ok());
      std::vector<size_t> still;
      for (size_t k = 0; k < active.size(); ++k) {
        const size_t i = active[k];
        ASSERT_TRUE((*local)[i].Advance(tokens[k]).ok());
        (*sessions)[i] = batch[k];
        EXPECT_EQ(batch[k].num_tokens, (*local)[i].num_tokens());
        EXPECT_EQ(batch[k].token_budget_remaining, (*local)[i].token_budget_remaining());
        EXPECT_EQ(batch[k].complete, (*local)[i].complete());
        EXPECT_EQ(batch[k].tokens, (*local)[i].tokens());
        rows[i] = RemoteRow(masks, static_cast<int>(k));
        ASSERT_EQ(rows[i], LocalMask((*local)[i])) << "session " << i << " after " << tokens[k];
        if (!batch[k].terminated) still.push_back(i);
      }
      active = std::move(still);
    }
    // LegalMasks agrees too (a terminated session's row is all zero).
    ASSERT_TRUE(rpc_->LegalMasks(absl::MakeSpan(*sessions), &masks).ok());
    std::vector<std::vector<int32_t>> programs;
    for (size_t i = 0; i < sessions->size(); ++i) {
      EXPECT_EQ(RemoteRow(masks, static_cast<int>(i)), LocalMask((*local)[i]));
      programs.push_back((*local)[i].tokens());
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      absl::StatusOr<std::vector<DetokenizeResult>> remote = rpc_->Detokenize(
          config, requests[i].start, requests[i].arity, {programs[i]}, /*partial=*/false);
      ASSERT_TRUE(remote.ok()) << remote.status();
      const DetokenizeResult here =
          Detokenize(engine, requests[i].start, requests[i].arity, programs[i], false);
      ASSERT_TRUE(here.ok) << here.error;
      EXPECT_EQ((*remote)[0].source, here.source);
    }
    absl::StatusOr<int> released = rpc_->Release(*sessions);
    ASSERT_TRUE(released.ok());
    EXPECT_EQ(*released, static_cast<int>(sessions->size()));
  }
}

// Each code the contract promises, from a real request; afterwards the sessions are as before.
TEST_F(RemoteDecoderTest, ErrorsHaveTheirCodesAndChangeNothing) {
  auto engine = MakeEngine();
  InitRequest r;
  r.start = Start::kFunction;
  absl::StatusOr<std::vector<Session>> s = rpc_->InitStates({}, {r, r});
  ASSERT_TRUE(s.ok());
  Snapshot snapshot(*rpc_, *s);
  const MaskRows& before = snapshot.masks();
  MaskRows after;
  const std::vector<int32_t> legal = LegalTokens(RemoteRow(before, 1));
  ASSERT_FALSE(legal.empty());
  std::vector<int32_t> illegal_set;
  for (int32_t t = 0; t < engine->vocab().size(); ++t) {
    if (!before.IsLegal(1, t)) illegal_set.push_back(t);
  }
  ASSERT_FALSE(illegal_set.empty());

  absl::Status st = rpc_->Advance(absl::MakeSpan(*s), {legal[0], 99999});
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("token_ids[1]"), absl::string_view::npos) << st;
  snapshot.ExpectUnchanged("token outside the vocabulary");

  st = rpc_->Advance(absl::MakeSpan(*s), {legal[0], illegal_set[0]});
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  snapshot.ExpectUnchanged("illegal token");

  st = rpc_->Rollback(absl::MakeSpan(*s), {0, 5});
  EXPECT_FALSE(st.ok());
  snapshot.ExpectUnchanged("rollback past the start");

  DecodeConfig bad;
  bad.max_expr_depth = 99;
  absl::StatusOr<std::vector<Session>> refused = rpc_->InitStates(bad, {r});
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("max_expr_depth"), absl::string_view::npos);

  // An unknown session in a batch: NOT_FOUND, and the known one is untouched.
  Session ghost = (*s)[0];
  ghost.id = std::string(32, 'f');
  std::vector<Session> mixed = {(*s)[0], ghost};
  st = rpc_->Advance(absl::MakeSpan(mixed), {legal[0], legal[0]});
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
  EXPECT_NE(st.message().find("session_ids[1]"), absl::string_view::npos) << st;
  snapshot.ExpectUnchanged("unknown session");

  ASSERT_TRUE(rpc_->Release({(*s)[1]}).ok());
  std::vector<Session> gone = {(*s)[1]};
  st = rpc_->LegalMasks(absl::MakeSpan(gone), &after);
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
}

TEST_F(RemoteDecoderTest, SessionCapIsResourceExhausted) {
  server_.Kill(SIGKILL);
  StartServer({"--max-sessions", "3"});
  InitRequest r;
  absl::StatusOr<std::vector<Session>> four = rpc_->InitStates({}, {r, r, r, r});
  EXPECT_TRUE(absl::IsResourceExhausted(four.status())) << four.status();
  absl::StatusOr<std::vector<Session>> three = rpc_->InitStates({}, {r, r, r});
  ASSERT_TRUE(three.ok()) << three.status();
  absl::StatusOr<std::vector<Session>> one_more = rpc_->InitStates({}, {r});
  EXPECT_TRUE(absl::IsResourceExhausted(one_more.status())) << one_more.status();
  EXPECT_TRUE(rpc_->Fork(absl::MakeSpan(*three), 1).status().code() ==
              absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(rpc_->Release({(*three)[0]}).ok());
  EXPECT_TRUE(rpc_->InitStates({}, {r}).ok());
}

TEST_F(RemoteDecoderTest, IdleSessionsAreEvictedAfterTheTtl) {
  server_.Kill(SIGKILL);
  StartServer({"--session-ttl", "300ms"});
  InitRequest r;
  absl::StatusOr<std::vector<Session>> s = rpc_->InitStates({}, {r});
  ASSERT_TRUE(s.ok());
  MaskRows masks;
  ASSERT_TRUE(rpc_->LegalMasks(absl::MakeSpan(*s), &masks).ok());
  // Each probe refreshes the session, so probe less often than the TTL: once it has been idle
  // a whole second, the sweeper (every ttl/4) must have evicted it.
  absl::Status st;
  for (int i = 0; i < 5 && st.ok(); ++i) {
    absl::SleepFor(absl::Seconds(1));
    st = rpc_->LegalMasks(absl::MakeSpan(*s), &masks);
  }
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
}

// Many threads at once: each walks its own sessions (checked against the in-process engine)
// and all of them advance one shared session. Every successful Advance of the shared session
// shows up in its final length: none is lost.
TEST_F(RemoteDecoderTest, ThreadsHammerSharedAndSeparateSessions) {
  auto engine = MakeEngine();
  InitRequest shared_init;
  shared_init.start = Start::kModule;
  shared_init.max_len = 4000;
  absl::StatusOr<std::vector<Session>> shared = rpc_->InitStates({}, {shared_init});
  ASSERT_TRUE(shared.ok());
  constexpr int kThreads = 8;
  std::atomic<int> shared_advances{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(1000 + t);
      InitRequest own;
      own.start = Start::kFunction;
      own.max_len = 60;
      absl::StatusOr<std::vector<Session>> mine = rpc_->InitStates({}, {own, own});
      absl::StatusOr<std::vector<DecodeState>> local = InitStates(engine, {own, own});
      if (!mine.ok() || !local.ok()) {
        ++failures;
        return;
      }
      MaskRows masks;
      for (int step = 0; step < 30; ++step) {
        // Own sessions: the remote masks must equal the local ones.
        if (!(*mine)[0].terminated && !(*mine)[1].terminated) {
          if (!rpc_->LegalMasks(absl::MakeSpan(*mine), &masks).ok()) ++failures;
          std::vector<int32_t> tokens;
          for (int i = 0; i < 2; ++i) {
            if (RemoteRow(masks, i) != LocalMask((*local)[i])) ++failures;
            const std::vector<int32_t> legal = LegalTokens(LocalMask((*local)[i]));
            tokens.push_back(legal[rng.Below(legal.size())]);
          }
          if (!rpc_->Advance(absl::MakeSpan(*mine), tokens).ok()) ++failures;
          for (int i = 0; i < 2; ++i) {
            if (!(*local)[i].Advance(tokens[i]).ok()) ++failures;
          }
        }
        // The shared session: read its mask, pick a non-EOS token, try to advance. Another
        // thread may have moved it in between (FAILED_PRECONDITION); that changes nothing.
        std::vector<Session> view = *shared;
        if (!rpc_->LegalMasks(absl::MakeSpan(view), &masks).ok()) {
          ++failures;
          continue;
        }
        std::vector<int32_t> legal;
        for (int32_t tok : LegalTokens(RemoteRow(masks, 0))) {
          if (tok != Vocabulary::eos_id()) legal.push_back(tok);
        }
        if (legal.empty()) continue;
        absl::Status st = rpc_->Advance(absl::MakeSpan(view), {legal[rng.Below(legal.size())]});
        if (st.ok()) {
          ++shared_advances;
        } else if (!absl::IsFailedPrecondition(st)) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // The shared session's length counts every successful advance, once.
  std::vector<Session> probe = *shared;
  client::DecodeSpec spec;
  spec.sessions = probe;
  spec.options.max_new_tokens = 1;
  int length = -1;
  ASSERT_TRUE(rpc_->Decode(spec, [&](DecodeResult&& r, Session&&) {
                    length = static_cast<int>(r.tokens.size() - r.new_tokens.size());
                    return absl::OkStatus();
                  }).ok());
  EXPECT_GT(shared_advances.load(), 0);
  EXPECT_EQ(length, shared_advances.load());
}

// Server-side sampling gives the in-process programs; splitting n with sample_offset changes
// nothing; kept sessions continue where the result ended.
TEST_F(RemoteDecoderTest, DecodeMatchesInProcessAndSplitsByOffset) {
  auto engine = MakeEngine();
  InitRequest r;
  r.start = Start::kFunction;
  r.max_len = 80;
  client::DecodeSpec spec;
  spec.init_requests = {r};
  spec.sampler = "weighted";
  spec.seed = 42;
  spec.options.n = 6;
  spec.options.max_new_tokens = 80;
  std::vector<DecodeResult> whole;
  ASSERT_TRUE(rpc_->Decode(spec, [&](DecodeResult&& d, Session&&) {
                    whole.push_back(std::move(d));
                    return absl::OkStatus();
                  }).ok());
  ASSERT_EQ(whole.size(), 6u);

  absl::StatusOr<std::unique_ptr<Sampler>> sampler = MakeSampler("weighted", 42, {}, engine);
  ASSERT_TRUE(sampler.ok());
  absl::StatusOr<DecodeState> state = InitState(engine, r);
  ASSERT_TRUE(state.ok());
  DecodeOptions options = spec.options;
  absl::StatusOr<DecodeBatch> local = Decode({*state}, **sampler, options);
  ASSERT_TRUE(local.ok());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(whole[i].sample_index, local->results[i].sample_index);
    EXPECT_EQ(whole[i].tokens, local->results[i].tokens);
    EXPECT_EQ(whole[i].source, local->results[i].source);
    EXPECT_EQ(whole[i].stop_reason, local->results[i].stop_reason);
  }

  std::vector<DecodeResult> split;
  for (int offset : {0, 2, 5}) {
    spec.options.sample_offset = offset;
    spec.options.n = offset == 0 ? 2 : offset == 2 ? 3 : 1;
    spec.keep_sessions = offset == 5;
    ASSERT_TRUE(rpc_->Decode(spec, [&](DecodeResult&& d, Session&& kept) {
                      if (spec.keep_sessions) {
                        EXPECT_FALSE(kept.id.empty());
                        EXPECT_EQ(kept.tokens, d.tokens);
                        std::vector<Session> one = {kept};
                        MaskRows masks;
                        EXPECT_TRUE(rpc_->LegalMasks(absl::MakeSpan(one), &masks).ok());
                      }
                      split.push_back(std::move(d));
                      return absl::OkStatus();
                    }).ok());
  }
  ASSERT_EQ(split.size(), whole.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(split[i].sample_index, whole[i].sample_index);
    EXPECT_EQ(split[i].tokens, whole[i].tokens);
  }
  spec.options.sample_offset = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(
      rpc_->Decode(spec, [](DecodeResult&&, Session&&) { return absl::OkStatus(); })));
}

TEST_F(RemoteDecoderTest, TokenizeAndRunMatchInProcess) {
  auto engine = MakeEngine();
  const std::vector<std::string> sources = {
      "def f(a, b):\n    c = a * b\n    return c - a\n",
      "def f(x):\n    return x / 2\n",          // outside the language
      "def f(a):\n    return a // 0\n",
      "def f(a, b):\n    if a < b:\n        return b\n    return max(a, b) + 1\n",
  };
  TokenizeOptions options;
  std::vector<Session> sessions;
  absl::StatusOr<std::vector<TokenizeResult>> remote =
      rpc_->Tokenize({}, sources, options, &sessions);
  ASSERT_TRUE(remote.ok()) << remote.status();
  for (size_t i = 0; i < sources.size(); ++i) {
    const TokenizeResult here = Tokenize(engine, sources[i], options);
    const TokenizeResult& there = (*remote)[i];
    EXPECT_EQ(there.ok, here.ok) << i;
    EXPECT_EQ(there.tokens, here.tokens) << i;
    EXPECT_EQ(there.complete, here.complete) << i;
    EXPECT_EQ(there.normalized_source, here.normalized_source) << i;
    ASSERT_EQ(there.error.has_value(), here.error.has_value()) << i;
    if (here.error) {
      EXPECT_EQ(there.error->stage, here.error->stage);
      EXPECT_EQ(there.error->message, here.error->message);
      EXPECT_EQ(there.error->line, here.error->line);
      EXPECT_EQ(there.error->column, here.error->column);
      EXPECT_EQ(there.error->node_type, here.error->node_type);
    }
    EXPECT_EQ(sessions[i].id.empty(), !here.ok) << i;
    if (!here.ok) continue;

    const std::vector<std::vector<int64_t>> inputs = {{3, 4}, {-7, 2}, {0, 0}};
    const int arity = i == 2 ? 1 : 2;
    std::vector<std::vector<int64_t>> args;
    for (const auto& in : inputs) args.emplace_back(in.begin(), in.begin() + arity);
    RunOptions run;
    run.trace = true;
    run.locals = true;
    absl::StatusOr<Program> program = Program::FromTokens(engine, Start::kModule, {}, here.tokens);
    ASSERT_TRUE(program.ok());
    absl::StatusOr<std::vector<RunOutcome>> expected = program->RunBatch(args, run);
    ASSERT_TRUE(expected.ok());
    client::RunProgram by_tokens;
    by_tokens.tokens = here.tokens;
    client::RunProgram by_session;
    by_session.session_id = sessions[i].id;
    client::RunProgram by_source;
    by_source.source = sources[i];
    for (const client::RunProgram& p : {by_tokens, by_session, by_source}) {
      absl::StatusOr<std::vector<RunOutcome>> got = rpc_->Run({}, p, args, run);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->size(), expected->size());
      for (size_t k = 0; k < got->size(); ++k) {
        const RunOutcome& a = (*got)[k];
        const RunOutcome& b = (*expected)[k];
        EXPECT_EQ(a.status, b.status);
        EXPECT_EQ(a.value.kind, b.value.kind);
        EXPECT_EQ(a.value.i, b.value.i);
        EXPECT_EQ(a.steps, b.steps);
        EXPECT_EQ(a.message, b.message);
        EXPECT_EQ(a.locals, b.locals);
        ASSERT_EQ(a.trace.size(), b.trace.size());
        for (size_t e = 0; e < a.trace.size(); ++e) {
          EXPECT_EQ(a.trace[e].line, b.trace[e].line);
          EXPECT_EQ(a.trace[e].assigned(), b.trace[e].assigned());
          EXPECT_EQ(a.trace[e].returned.has_value(), b.trace[e].returned.has_value());
        }
      }
    }
  }
}

TEST_F(RemoteDecoderTest, ForkedSessionsAreIndependent) {
  auto engine = MakeEngine();
  InitRequest r;
  r.start = Start::kFunction;
  absl::StatusOr<std::vector<Session>> s = rpc_->InitStates({}, {r});
  ASSERT_TRUE(s.ok());
  absl::StatusOr<std::vector<Session>> copies = rpc_->Fork(absl::MakeSpan(*s), 3);
  ASSERT_TRUE(copies.ok());
  ASSERT_EQ(copies->size(), 3u);
  const int32_t def2 = *engine->vocab().Find("def/2");
  std::vector<Session> first = {(*copies)[0]};
  ASSERT_TRUE(rpc_->Advance(absl::MakeSpan(first), {def2}).ok());
  std::vector<Session> rest = {(*copies)[1], (*copies)[2], (*s)[0]};
  MaskRows masks;
  ASSERT_TRUE(rpc_->LegalMasks(absl::MakeSpan(rest), &masks).ok());
  DecodeState fresh = testing::MustInit(engine, Start::kFunction);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(RemoteRow(masks, i), LocalMask(fresh));
  EXPECT_EQ(first[0].num_tokens, 1);
}

// A session lost on the server (here: released behind the client's back) is re-created from
// the client's record and the call goes through, with the masks of the same tokens.
TEST_F(RemoteDecoderTest, LostSessionsAreReplayed) {
  auto engine = MakeEngine();
  client::ClientOptions options;  // replay on by default
  std::unique_ptr<RemoteDecoder> replaying = RemoteDecoder::Connect(server_.target(), options);
  InitRequest r;
  r.start = Start::kFunction;
  r.prefix_tokens = testing::Ids(*engine, "def/2 return");
  absl::StatusOr<std::vector<Session>> s = replaying->InitStates({}, {r, r});
  ASSERT_TRUE(s.ok());
  const std::string old_id = (*s)[0].id;
  ASSERT_TRUE(rpc_->Release({(*s)[0]}).ok());
  const int32_t a = *engine->vocab().Find("a");
  MaskRows masks;
  ASSERT_TRUE(replaying->Advance(absl::MakeSpan(*s), {a, a}, &masks).ok());
  EXPECT_EQ(replaying->replays(), 1);
  EXPECT_NE((*s)[0].id, old_id);
  DecodeState local = testing::MustInit(engine, Start::kFunction, "def/2 return a");
  EXPECT_EQ(RemoteRow(masks, 0), LocalMask(local));
  EXPECT_EQ(RemoteRow(masks, 1), LocalMask(local));
  EXPECT_EQ((*s)[0].tokens, local.tokens());

  // A pinned fingerprint that the server does not have is refused.
  client::ClientOptions pinned;
  pinned.expected_fingerprint = "0000000000000000";
  std::unique_ptr<RemoteDecoder> wrong = RemoteDecoder::Connect(server_.target(), pinned);
  EXPECT_TRUE(absl::IsFailedPrecondition(wrong->InitStates({}, {r}).status()));
}

// ---- Jump-forward ---------------------------------------------------------------------------

using client::ForcedChains;
using client::JumpForward;

// Advances a local state through `chain`, which must be legal.
void Take(DecodeState& state, const std::vector<int32_t>& chain) {
  for (int32_t t : chain) ASSERT_TRUE(state.Advance(t).ok()) << "token " << t;
}

// REPORT lists the in-process chain after the prefix and after each token, and leaves every
// session where the step left it.
TEST_F(RemoteDecoderTest, JumpForwardReportEqualsInProcessAndMovesNothing) {
  auto engine = MakeEngine();
  std::vector<InitRequest> requests;
  for (const auto& [prefix, max_len] :
       std::vector<std::pair<const char*, int>>{{"def/1 pass", 4}, {"def/2", 6},
                                                {"def/1 return", 6}}) {
    InitRequest r;
    r.start = Start::kFunction;
    r.prefix_tokens = testing::Ids(*engine, prefix);
    r.max_len = max_len;
    requests.push_back(r);
  }
  ForcedChains forced;
  MaskRows masks;
  absl::StatusOr<std::vector<Session>> s =
      rpc_->InitStates({}, requests, JumpForward::kReport, &forced, &masks);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<DecodeState>> local = InitStates(engine, requests);
  ASSERT_TRUE(local.ok());
  ASSERT_EQ(forced.size(), requests.size());
  EXPECT_EQ(forced[0], testing::Ids(*engine, "end <eos>"));  // a budget of 4 leaves no room
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(forced[i], ForcedTokens((*local)[i])) << i;
    EXPECT_EQ((*s)[i].tokens, requests[i].prefix_tokens) << i;
    EXPECT_EQ((*s)[i].num_tokens, static_cast<int>(requests[i].prefix_tokens.size())) << i;
    EXPECT_EQ(RemoteRow(masks, static_cast<int>(i)), LocalMask((*local)[i])) << i;
  }
  // Each session takes one legal token (the first of its chain when there is one).
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < requests.size(); ++i) {
    tokens.push_back(forced[i].empty() ? LegalTokens(LocalMask((*local)[i]))[0] : forced[i][0]);
    ASSERT_TRUE((*local)[i].Advance(tokens[i]).ok());
  }
  absl::StatusOr<ForcedChains> after =
      rpc_->Advance(absl::MakeSpan(*s), tokens, JumpForward::kReport, &masks);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*after)[i], ForcedTokens((*local)[i])) << i;
    EXPECT_EQ((*s)[i].tokens, (*local)[i].tokens()) << i;
    EXPECT_EQ((*s)[i].num_tokens, (*local)[i].num_tokens()) << i;
    EXPECT_EQ(RemoteRow(masks, static_cast<int>(i)), LocalMask((*local)[i])) << i;
  }
  MaskRows again;
  ASSERT_TRUE(rpc_->LegalMasks(absl::MakeSpan(*s), &again).ok());
  EXPECT_EQ(again.words, masks.words);
  // OFF (the default) lists no chains: one empty chain per session on the client side.
  absl::StatusOr<ForcedChains> off = rpc_->Advance(
      absl::MakeSpan(*s), {(*after)[0].empty() ? 0 : (*after)[0][0],
                           LegalTokens(LocalMask((*local)[1]))[0],
                           LegalTokens(LocalMask((*local)[2]))[0]},
      JumpForward::kOff);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(*off, ForcedChains(3));
}

// A uniform walk of one program through the server. Where the mask has one legal token the
// token is forced and no choice is drawn; elsewhere `rng` chooses. With kApply the server takes
// the forced chains, so the client is asked only for the choices; each chain and the masks
// after it are checked against the in-process state.
struct Walk {
  std::vector<int32_t> tokens;
  int choices = 0;  // tokens the caller chose: one forward pass each
  int forced = 0;   // tokens the server took on its own (kApply)
};

Walk RemoteWalk(RemoteDecoder& rpc, std::shared_ptr<const Engine> engine,
                const InitRequest& request, uint64_t seed, JumpForward mode) {
  Walk walk;
  DecodeState local = *InitState(engine, request);
  Rng rng(seed);
  ForcedChains forced;
  MaskRows masks;
  absl::StatusOr<std::vector<Session>> s = rpc.InitStates({}, {request}, mode, &forced, &masks);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return walk;
  std::vector<int32_t> chain = forced[0];
  while (true) {
    if (mode == JumpForward::kApply) {
      EXPECT_EQ(chain, ForcedTokens(local));
      Take(local, chain);
      walk.forced += static_cast<int>(chain.size());
    }
    EXPECT_EQ(RemoteRow(masks, 0), LocalMask(local));
    EXPECT_EQ((*s)[0].tokens, local.tokens());
    if ((*s)[0].terminated) break;
    const std::vector<int32_t> legal = LegalTokens(RemoteRow(masks, 0));
    EXPECT_FALSE(legal.empty());
    if (legal.empty()) break;
    // After an applied chain the session always stands at a real choice.
    if (mode == JumpForward::kApply) {
      EXPECT_GT(legal.size(), 1u);
    }
    int32_t token = legal[0];
    if (legal.size() > 1) {
      token = legal[rng.Below(legal.size())];
      ++walk.choices;
    }
    absl::StatusOr<ForcedChains> next = rpc.Advance(absl::MakeSpan(*s), {token}, mode, &masks);
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok()) break;
    EXPECT_TRUE(local.Advance(token).ok());
    chain = (*next)[0];
  }
  walk.tokens = (*s)[0].tokens;
  EXPECT_TRUE(rpc.Release(*s).ok());
  return walk;
}

// Over real random decodes, APPLY yields the very programs of a plain walk with the same
// choices, asks the caller for exactly those choices, and saves a forward pass per forced
// token.
TEST_F(RemoteDecoderTest, JumpForwardApplySavesForwardPassesOnRandomWalks) {
  auto engine = MakeEngine();
  int saved = 0, taken = 0;
  for (Start start : {Start::kFunction, Start::kModule}) {
    for (uint64_t seed = 0; seed < 8; ++seed) {
      SCOPED_TRACE(::testing::Message() << StartName(start) << " seed " << seed);
      InitRequest r;
      r.start = start;
      r.max_len = 24 + 8 * static_cast<int>(seed % 4);
      const Walk plain = RemoteWalk(*rpc_, engine, r, seed, JumpForward::kOff);
      const Walk jumped = RemoteWalk(*rpc_, engine, r, seed, JumpForward::kApply);
      ASSERT_FALSE(plain.tokens.empty());
      EXPECT_EQ(jumped.tokens, plain.tokens);
      EXPECT_EQ(jumped.choices, plain.choices);
      EXPECT_EQ(jumped.choices + jumped.forced, static_cast<int>(jumped.tokens.size()));
      saved += jumped.forced;
      taken += static_cast<int>(jumped.tokens.size());
    }
  }
  EXPECT_GT(saved, 0);
  EXPECT_LT(saved, taken);
}

// A failing batch with APPLY moves no session, by its token or by a chain; the same batch with
// good tokens then goes through.
TEST_F(RemoteDecoderTest, JumpForwardApplyFailingBatchChangesNothing) {
  auto engine = MakeEngine();
  InitRequest r;
  r.start = Start::kFunction;
  r.prefix_tokens = testing::Ids(*engine, "def/1");
  r.max_len = 4;
  absl::StatusOr<std::vector<Session>> s = rpc_->InitStates({}, {r, r});
  ASSERT_TRUE(s.ok());
  Snapshot snapshot(*rpc_, *s);
  MaskRows after;
  // "pass" forces "end <eos>" within this budget: a chain that must not be taken.
  const int32_t pass = *engine->vocab().Find("pass");
  const int32_t a = *engine->vocab().Find("a");
  absl::StatusOr<ForcedChains> st =
      rpc_->Advance(absl::MakeSpan(*s), {pass, a}, JumpForward::kApply);
  EXPECT_TRUE(absl::IsFailedPrecondition(st.status())) << st.status();
  EXPECT_NE(st.status().message().find("token_ids[1]"), absl::string_view::npos);
  snapshot.ExpectUnchanged("illegal token");
  st = rpc_->Advance(absl::MakeSpan(*s), {pass, 99999}, JumpForward::kApply);
  EXPECT_TRUE(absl::IsInvalidArgument(st.status())) << st.status();
  snapshot.ExpectUnchanged("token outside the vocabulary");
  Session ghost = (*s)[1];
  ghost.id = std::string(32, 'f');
  std::vector<Session> mixed = {(*s)[0], ghost};
  st = rpc_->Advance(absl::MakeSpan(mixed), {pass, pass}, JumpForward::kApply);
  EXPECT_TRUE(absl::IsNotFound(st.status())) << st.status();
  snapshot.ExpectUnchanged("unknown session");

  st = rpc_->Advance(absl::MakeSpan(*s), {pass, pass}, JumpForward::kApply, &after);
  ASSERT_TRUE(st.ok()) << st.status();
  const std::vector<int32_t> done = testing::Ids(*engine, "def/1 pass end <eos>");
  for (size_t i = 0; i < s->size(); ++i) {
    EXPECT_EQ((*st)[i], testing::Ids(*engine, "end <eos>"));
    EXPECT_EQ((*s)[i].tokens, done);
    EXPECT_TRUE((*s)[i].terminated);
    EXPECT_EQ((*s)[i].num_tokens, 4);
  }
  // <pad> after <eos> changes nothing, in the client's record either, so replay stays exact.
  st = rpc_->Advance(absl::MakeSpan(*s), {Vocabulary::pad_id(), Vocabulary::pad_id()},
                     JumpForward::kApply);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(*st, ForcedChains(2));
  for (const Session& session : *s) EXPECT_EQ(session.tokens, done);
}

// Sessions that took applied chains (at InitStates and at Advance) are re-created from their
// token histories after the server is killed and another starts on the same port: the replayed
// sessions' masks and chains are the in-process ones.
TEST_F(RemoteDecoderTest, JumpForwardReplayAfterRestartKeepsAppliedChains) {
  auto engine = MakeEngine();
  const int port = server_.port();
  std::unique_ptr<RemoteDecoder> replaying = RemoteDecoder::Connect(server_.target());
  std::vector<InitRequest> requests;
  std::vector<DecodeState> local;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    InitRequest r;
    r.start = seed % 2 ? Start::kModule : Start::kFunction;
    r.max_len = 30;
    requests.push_back(r);
    local.push_back(*InitState(engine, r));
  }
  ForcedChains forced;
  MaskRows masks;
  absl::StatusOr<std::vector<Session>> s =
      replaying->InitStates({}, requests, JumpForward::kApply, &forced, &masks);
  ASSERT_TRUE(s.ok()) << s.status();
  Rng rng(7);
  int applied = 0;
  // A few steps with APPLY before the restart, and one after it.
  for (int step = 0; step < 4; ++step) {
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < local.size(); ++i) {
      Take(local[i], forced[i]);
      applied += static_cast<int>(forced[i].size());
      ASSERT_EQ((*s)[i].tokens, local[i].tokens()) << i;
      ASSERT_EQ(RemoteRow(masks, static_cast<int>(i)), LocalMask(local[i])) << i;
      const std::vector<int32_t> legal = LegalTokens(LocalMask(local[i]));
      tokens.push_back(local[i].terminated() ? Vocabulary::pad_id()
                                             : legal[rng.Below(legal.size())]);
      ASSERT_TRUE(local[i].Advance(tokens[i]).ok());
    }
    if (step == 3) {
      server_.Kill(SIGKILL);
      ServerProcess second;
      ASSERT_TRUE(second.Start(ASTCD_SERVER_PATH, {}, port)) << second.error();
      absl::StatusOr<ForcedChains> next =
          replaying->Advance(absl::MakeSpan(*s), tokens, JumpForward::kApply, &masks);
      ASSERT_TRUE(next.ok()) << next.status();
      EXPECT_GT(replaying->replays(), 0);
      for (size_t i = 0; i < local.size(); ++i) {
        EXPECT_EQ((*next)[i], ForcedTokens(local[i])) << i;
        Take(local[i], (*next)[i]);
        EXPECT_EQ((*s)[i].tokens, local[i].tokens()) << i;
        EXPECT_EQ((*s)[i].num_tokens, local[i].num_tokens()) << i;
        EXPECT_EQ(RemoteRow(masks, static_cast<int>(i)), LocalMask(local[i])) << i;
      }
      break;
    }
    absl::StatusOr<ForcedChains> next =
        replaying->Advance(absl::MakeSpan(*s), tokens, JumpForward::kApply, &masks);
    ASSERT_TRUE(next.ok()) << next.status();
    forced = *std::move(next);
  }
  EXPECT_GT(applied, 0);  // the replayed histories did hold applied chains
}

// SIGTERM during a Decode: the stream still delivers every result, the server exits 0, and
// then nothing answers.
TEST_F(RemoteDecoderTest, DrainLetsAnInFlightDecodeFinish) {
  server_.Kill(SIGKILL);
  StartServer({"--drain-deadline", "600s"});  // sanitizer builds decode slowly
  InitRequest r;
  r.start = Start::kModule;
  r.max_len = 300;
  client::DecodeSpec spec;
  spec.init_requests = {r};
  spec.options.n = 2048;
  std::atomic<int> received{0};
  absl::Status decode_status;
  std::thread decode([&] {
    decode_status = rpc_->Decode(spec, [&](DecodeResult&&, Session&&) {
      ++received;
      return absl::OkStatus();
    });
  });
  while (received.load() == 0) absl::SleepFor(absl::Milliseconds(5));
  // Kill waits for the exit, which waits for the stream.
  std::thread killer([&] { EXPECT_EQ(server_.Kill(SIGTERM), 0); });
  decode.join();
  killer.join();
  EXPECT_TRUE(decode_status.ok()) << decode_status;
  EXPECT_EQ(received.load(), 2048);
  absl::StatusOr<std::vector<Session>> after = rpc_->InitStates({}, {r});
  EXPECT_TRUE(absl::IsUnavailable(after.status())) << after.status();
}

}  // namespace
}  // namespace astcd
