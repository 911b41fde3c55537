// The Decode RPC's work without gRPC (DecoderService::PrepareDecode and RunDecode), from
// many threads at once against one session store and engine cache, mixed with InitStates,
// ForkStates and ReleaseStates, and with runs cancelled midway. Each Decode runs as the stream
// does: a worker thread produces through a ResultStream, a writer thread completes the writes.
// In every build the results must equal a single-threaded run and every kept session must
// hold its result; under ThreadSanitizer (ASTCD_TSAN) the threads are also checked for races
// (docs/reliability.md, section 2).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/mutex.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/result_stream.h"
#include "server/service.h"
#include "server/session_store.h"

namespace astcd::server {
namespace {

constexpr int kStreams = 4;

v1::DecodeRequest Request(uint64_t seed, bool keep_sessions) {
  v1::DecodeRequest req;
  for (v1::Start start : {v1::START_FUNCTION, v1::START_EXPR}) {
    v1::InitRequest* init = req.add_init_requests();
    init->set_start(start);
    init->set_max_len(64);
  }
  req.mutable_sampler()->set_kind("weighted");
  req.mutable_sampler()->set_seed(seed);
  req.set_n(16);
  req.set_keep_sessions(keep_sessions);
  return req;
}

// A result without its session id (which differs from run to run).
std::string Bare(v1::DecodeResult result) {
  result.clear_session_id();
  return result.SerializeAsString();
}

// decode_threads 0: each run decodes on its own thread; more: on the service's DecodePool.
struct Fixture {
  explicit Fixture(int decode_threads = 0)
      : store(StoreOptions()),
        metrics(&store),
        service(WithMetrics(&metrics, decode_threads), &store, &engines) {}
  static SessionStoreOptions StoreOptions() {
    SessionStoreOptions options;
    options.sweep_interval = absl::Milliseconds(1);  // the sweeper runs beside the calls
    return options;
  }
  static ServiceOptions WithMetrics(Metrics* metrics, int decode_threads) {
    ServiceOptions options;
    options.metrics = metrics;  // counted from every call's thread, scraped from another
    options.decode_threads = decode_threads;
    return options;
  }
  SessionStore store;
  EngineCache engines;
  Metrics metrics;
  DecoderService service;
};

// The sum of a counter's series in the exposition text.
double CounterTotal(const std::string& text, absl::string_view name) {
  double total = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size() || line[name.size()] != '{') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) total += value;
  }
  return total;
}

// One Decode as the reactor runs it: PrepareDecode, then RunDecode on a worker thread pushing
// into a ResultStream that a writer thread drains. `cancel_after` > 0: a canceller stops the
// stream once that many results were written. Returns the call's final status.
absl::Status StreamDecode(DecoderService& service, const v1::DecodeRequest& req,
                          std::vector<v1::DecodeResult>* out, int cancel_after = 0) {
  absl::StatusOr<PreparedDecode> prepared = service.PrepareDecode(req);
  if (!prepared.ok()) return prepared.status();
  ResultStream<std::string> stream(/*max_queued_bytes=*/2048);
  Mutex mu;
  CondVar cv;
  bool in_flight = false, finished = false;  // guarded by mu (locals cannot be annotated)
  absl::Status final_status;
  auto act = [&](const StreamAction& action) {
    MutexLock lock(&mu);
    if (action.kind == StreamAction::kWrite) in_flight = true;
    if (action.kind == StreamAction::kFinish) {
      finished = true;
      final_status = action.status;
    }
    cv.NotifyAll();
  };
  std::atomic<int> written{0};
  std::thread worker([&] {
    DecodeRun run;
    run.before_chunk = [&] {
      stream.WaitForRoom();
      return stream.cancelled() ? absl::CancelledError("cancelled") : absl::OkStatus();
    };
    run.interrupt = [&] {
      return stream.cancelled() ? absl::CancelledError("cancelled") : absl::OkStatus();
    };
    run.sink = [&](v1::DecodeResult& result) {
      std::string bytes = result.SerializeAsString();
      const int64_t size = static_cast<int64_t>(bytes.size());
      act(stream.Push(std::move(bytes), size));
      return absl::OkStatus();
    };
    act(stream.Close(service.RunDecode(*prepared, run)));
  });
  std::thread writer([&] {
    for (;;) {
      {
        MutexLock lock(&mu);
        while (!in_flight && !finished) cv.Wait(&mu);
        if (!in_flight) return;
        in_flight = false;
      }
      v1::DecodeResult result;
      EXPECT_TRUE(result.ParseFromString(*stream.current()));
      out->push_back(std::move(result));
      if (cancel_after > 0 && ++written == cancel_after) stream.Cancel();
      act(stream.OnWriteDone(true));
    }
  });
  worker.join();
  writer.join();
  return final_status;
}

void ConcurrentStreamsEqualOneAtATime(int decode_threads) {
  Fixture f(decode_threads);
  std::vector<v1::DecodeResult> expected;
  ASSERT_TRUE(StreamDecode(f.service, Request(11, false), &expected).ok());
  ASSERT_EQ(expected.size(), 32u);

  std::atomic<bool> done{false};
  // Unary calls on other threads: sessions come and go while the streams decode.
  std::thread churn([&] {
    v1::InitStatesRequest init;
    init.add_requests()->set_start(v1::START_BLOCK);
    while (!done.load()) {
      v1::InitStatesResponse created;
      ASSERT_TRUE(f.service.DoInitStates(init, &created).ok());
      v1::ForkStatesRequest fork;
      fork.add_session_ids(created.states(0).session_id());
      fork.set_n(2);
      v1::ForkStatesResponse forked;
      ASSERT_TRUE(f.service.DoForkStates(fork, &forked).ok());
      v1::ReleaseStatesRequest release;
      release.add_session_ids(created.states(0).session_id());
      for (const v1::SessionState& s : forked.states()) release.add_session_ids(s.session_id());
      v1::ReleaseStatesResponse released;
      ASSERT_TRUE(f.service.DoReleaseStates(release, &released).ok());
      EXPECT_EQ(released.released(), 3);
    }
  });
  // A scrape reads the store and every counter while the calls write them.
  std::thread scraper([&] {
    while (!done.load()) EXPECT_FALSE(f.metrics.Text().empty());
  });
  std::vector<std::vector<v1::DecodeResult>> got(kStreams);
  std::vector<absl::Status> statuses(kStreams);
  std::vector<std::thread> streams;
  for (int t = 0; t < kStreams; ++t) {
    streams.emplace_back([&, t] {
      statuses[t] = StreamDecode(f.service, Request(11, /*keep_sessions=*/true), &got[t]);
    });
  }
  for (std::thread& s : streams) s.join();
  done.store(true);
  churn.join();
  scraper.join();
  EXPECT_EQ(CounterTotal(f.metrics.Text(), "astcd_programs_decoded_total"),
            (kStreams + 1) * static_cast<double>(expected.size()));

  for (int t = 0; t < kStreams; ++t) {
    ASSERT_TRUE(statuses[t].ok()) << statuses[t];
    ASSERT_EQ(got[t].size(), expected.size());
    for (size_t r = 0; r < expected.size(); ++r) {
      EXPECT_EQ(Bare(got[t][r]), Bare(expected[r])) << "stream " << t << " result " << r;
      // The kept session holds exactly the result's tokens.
      absl::StatusOr<std::vector<DecodeState>> kept =
          f.store.Get({got[t][r].session_id()}, "session_ids");
      ASSERT_TRUE(kept.ok()) << kept.status();
      EXPECT_EQ((*kept)[0].tokens(), std::vector<int32_t>(got[t][r].tokens().begin(),
                                                          got[t][r].tokens().end()));
    }
  }
  EXPECT_EQ(f.store.size(), kStreams * static_cast<int64_t>(expected.size()));
  EXPECT_EQ(f.engines.builds(), 1);  // one config, one engine, however many raced for it
}

// Streams from sessions, cancelled midway by their writer: each stops with CANCELLED, what it
// wrote is a prefix of the uncancelled run, and the sessions it kept are exactly those named.
TEST(DecodeServiceStress, ConcurrentStreamsEqualOneAtATimeAndKeepTheirSessions) {
  ConcurrentStreamsEqualOneAtATime(0);
}
// The streams share a pool of two threads, each running several chunks at once.
TEST(DecodeServiceStress, PooledStreamsEqualOneAtATimeAndKeepTheirSessions) {
  ConcurrentStreamsEqualOneAtATime(2);
}

void CancelledStreamsStop(int decode_threads) {
  Fixture f(decode_threads);
  v1::InitStatesRequest init;
  init.add_requests()->set_start(v1::START_FUNCTION);
  init.add_requests()->set_start(v1::START_MODULE);
  v1::InitStatesResponse created;
  ASSERT_TRUE(f.service.DoInitStates(init, &created).ok());
  v1::DecodeRequest req;
  for (const v1::SessionState& s : created.states()) req.add_session_ids(s.session_id());
  req.mutable_sampler()->set_seed(3);
  req.set_n(400);
  req.set_keep_sessions(true);
  std::vector<v1::DecodeResult> full;
  {
    v1::DecodeRequest small = req;
    small.set_n(40);
    small.set_keep_sessions(false);
    ASSERT_TRUE(StreamDecode(f.service, small, &full).ok());
  }
  std::vector<std::vector<v1::DecodeResult>> got(kStreams);
  std::vector<absl::Status> statuses(kStreams);
  std::vector<std::thread> streams;
  for (int t = 0; t < kStreams; ++t) {
    streams.emplace_back([&, t] {
      statuses[t] = StreamDecode(f.service, req, &got[t], /*cancel_after=*/3 + 5 * t);
    });
  }
  for (std::thread& s : streams) s.join();
  int64_t kept = 0;
  for (int t = 0; t < kStreams; ++t) {
    EXPECT_EQ(statuses[t].code(), absl::StatusCode::kCancelled) << statuses[t];
    EXPECT_GE(got[t].size(), static_cast<size_t>(3 + 5 * t));
    EXPECT_LT(got[t].size(), 800u);  // stopped well before the end
    for (const v1::DecodeResult& r : got[t]) {
      // Chunked as one input's samples at a time: compare with the same (input, sample).
      for (const v1::DecodeResult& e : full) {
        if (e.input_index() == r.input_index() && e.sample_index() == r.sample_index()) {
          EXPECT_EQ(Bare(r), Bare(e));
        }
      }
      EXPECT_EQ(f.store.Release({r.session_id()}), 1) << "a named session was not kept";
      ++kept;
    }
  }
  // Every result pushed before the cancel was still written (the writer drains the queue), so
  // every kept session was named and released: only the two inputs remain.
  EXPECT_EQ(f.store.size(), 2);
  EXPECT_EQ(f.store.created_total(), 2 + kept);
}

TEST(DecodeServiceStress, CancelledStreamsStopAndKeepOnlyWhatTheyNamed) {
  CancelledStreamsStop(0);
}
// Chunks decoded on the pool but not handed out when the stream stops never become sessions.
TEST(DecodeServiceStress, PooledCancelledStreamsStopAndKeepOnlyWhatTheyNamed) {
  CancelledStreamsStop(2);
}

}  // namespace
}  // namespace astcd::server
