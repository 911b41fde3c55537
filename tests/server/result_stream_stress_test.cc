// The Decode stream's threading (server/result_stream.h) with real threads: a producer (the
// Decode worker), a writer that plays gRPC (it completes each started write later, from its
// own thread, as OnWriteDone does), and a canceller (OnCancel, the drain). In every build:
// every message arrives once and in order, backpressure bounds what is queued, and the call
// finishes exactly once, with the producer's status or CANCELLED. Under ThreadSanitizer
// (ASTCD_TSAN) the threads are also checked for races, e.g. the final status the reactor used
// to read outside its lock (docs/reliability.md, section 2).
#include "server/result_stream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/mutex.h"
#include "gtest/gtest.h"

namespace astcd::server {
namespace {

using Stream = ResultStream<std::string>;

// gRPC's side of one call: StartWrite marks a write in flight, which the writer thread
// completes; Finish records the call's end.
class FakeCall {
 public:
  explicit FakeCall(Stream* stream) : stream_(stream) {}

  // What the reactor's Do does: start the write, or finish.
  void Do(const StreamAction& action) {
    MutexLock lock(&mu_);
    if (action.kind == StreamAction::kWrite) {
      EXPECT_FALSE(in_flight_) << "two writes in flight";
      EXPECT_EQ(finishes_, 0) << "a write after Finish";
      in_flight_ = true;
    } else if (action.kind == StreamAction::kFinish) {
      EXPECT_FALSE(in_flight_) << "Finish with a write in flight";
      ++finishes_;
      status_ = action.status;
    }
    cv_.NotifyAll();
  }

  // The writer thread: completes each write (ok until `fail_at`, then one failed write: the
  // client went away), until the call has finished. `delay` slows it down now and then.
  // With `sent`, records in *most_ahead how many messages the producer had sent that were not
  // yet received, at most.
  void Write(int fail_at, int seed, std::vector<std::string>* received,
             const std::atomic<int>* sent = nullptr, int* most_ahead = nullptr) {
    std::mt19937 rng(seed);
    for (;;) {
      {
        MutexLock lock(&mu_);
        while (!in_flight_ && finishes_ == 0) cv_.Wait(&mu_);
        if (!in_flight_) return;  // finished
      }
      const bool ok = static_cast<int>(received->size()) != fail_at;
      if (sent != nullptr) {
        *most_ahead = std::max(*most_ahead, sent->load() - static_cast<int>(received->size()));
      }
      if (ok) received->push_back(*stream_->current());  // gRPC reads the message now
      if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      {
        MutexLock lock(&mu_);
        in_flight_ = false;
      }
      Do(stream_->OnWriteDone(ok));
    }
  }

  int finishes() {
    MutexLock lock(&mu_);
    return finishes_;
  }
  absl::Status status() {
    MutexLock lock(&mu_);
    return status_;
  }

 private:
  Stream* const stream_;
  Mutex mu_;
  CondVar cv_;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int finishes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

std::string Message(int i) { return absl::StrCat("result-", i, "-padding"); }

// The producer: what the reactor's Work does with RunDecode's results.
void Produce(Stream* stream, FakeCall* call, int n, std::atomic<int>* sent,
             absl::Status final_status) {
  for (int i = 0; i < n; ++i) {
    stream->WaitForRoom();
    if (stream->cancelled()) {
      final_status = absl::CancelledError("the call was cancelled");
      break;
    }
    std::string m = Message(i);
    const int64_t bytes = static_cast<int64_t>(m.size());
    sent->fetch_add(1);
    call->Do(stream->Push(std::move(m), bytes));
  }
  call->Do(stream->Close(final_status));
}

TEST(ResultStreamStress, EveryMessageArrivesOnceInOrderWithinTheBackpressureBound) {
  for (int round = 0; round < 30; ++round) {
    const int64_t max_queued = 64;  // about four messages
    Stream stream(max_queued);
    FakeCall call(&stream);
    std::atomic<int> sent{0};
    std::vector<std::string> received;
    int most_ahead = 0;
    const absl::Status producer_status =
        round % 2 ? absl::OkStatus() : absl::ResourceExhaustedError("a result was too big");
    std::thread producer([&] { Produce(&stream, &call, 300, &sent, producer_status); });
    std::thread writer([&] { call.Write(/*fail_at=*/-1, round, &received, &sent, &most_ahead); });
    producer.join();
    writer.join();
    // Messages are 16 to 18 bytes: at most four fit under 64 queued bytes, and a fifth may be
    // pushed (and counted as sent) while they are.
    EXPECT_LE(most_ahead, 5);
    EXPECT_GE(most_ahead, 1);
    ASSERT_EQ(received.size(), 300u);
    for (int i = 0; i < 300; ++i) ASSERT_EQ(received[i], Message(i));
    EXPECT_EQ(call.finishes(), 1);
    EXPECT_EQ(call.status(), producer_status);  // queued results are written before the error
    EXPECT_TRUE(stream.finished());
  }
}

TEST(ResultStreamStress, BackpressureHoldsTheProducerWhileTheReaderStalls) {
  Stream stream(/*max_queued_bytes=*/64);
  FakeCall call(&stream);
  std::atomic<int> sent{0};
  std::thread producer([&] { Produce(&stream, &call, 100, &sent, absl::OkStatus()); });
  // No writer yet: the first write stays in flight, and the producer must stop once 64 bytes
  // (four 16-byte messages, the one being written included) are held.
  for (int i = 0; i < 10000 && sent.load() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // time to run on, if it could
  EXPECT_EQ(sent.load(), 4);
  std::vector<std::string> received;
  std::thread writer([&] { call.Write(-1, 1, &received); });
  producer.join();
  writer.join();
  EXPECT_EQ(received.size(), 100u);
  EXPECT_EQ(call.finishes(), 1);
  EXPECT_TRUE(call.status().ok());
}

// The client goes away at a random write while the producer runs: the call finishes once,
// CANCELLED, the producer stops, and nothing after the failed write reaches the client.
TEST(ResultStreamStress, AFailedWriteFinishesOnceCancelledAndStopsTheProducer) {
  for (int round = 0; round < 60; ++round) {
    Stream stream(/*max_queued_bytes=*/48);
    FakeCall call(&stream);
    std::atomic<int> sent{0};
    std::vector<std::string> received;
    const int fail_at = round % 20;
    std::thread producer([&] { Produce(&stream, &call, 1000, &sent, absl::OkStatus()); });
    std::thread writer([&] { call.Write(fail_at, round, &received); });
    producer.join();
    writer.join();
    EXPECT_EQ(call.finishes(), 1);
    EXPECT_EQ(call.status().code(), absl::StatusCode::kCancelled) << call.status();
    EXPECT_EQ(static_cast<int>(received.size()), fail_at);
    EXPECT_LT(sent.load(), 1000);  // the producer stopped early
    EXPECT_TRUE(stream.cancelled());
    // Every message pushed was either received or comes back unsent, once (the reactor frees
    // the sessions of the unsent ones).
    std::vector<std::string> all = received;
    for (std::string& m : stream.TakeUnsent()) all.push_back(std::move(m));
    std::sort(all.begin(), all.end(), [](const std::string& a, const std::string& b) {
      return std::stoi(a.substr(7)) < std::stoi(b.substr(7));
    });
    ASSERT_EQ(static_cast<int>(all.size()), sent.load());
    for (int i = 0; i < sent.load(); ++i) EXPECT_EQ(all[i], Message(i));
  }
}

// A third thread cancels (the client's cancel, or the drain) while the producer is held by
// backpressure and the writer is slow: the producer wakes and stops; what was queued is
// still written, then the call finishes once with the producer's status.
TEST(ResultStreamStress, ACancelWakesAProducerHeldByBackpressure) {
  for (int round = 0; round < 40; ++round) {
    Stream stream(/*max_queued_bytes=*/32);
    FakeCall call(&stream);
    std::atomic<int> sent{0};
    std::vector<std::string> received;
    std::thread producer([&] { Produce(&stream, &call, 100000, &sent, absl::OkStatus()); });
    std::thread writer([&] { call.Write(-1, round, &received); });
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 10)));
      stream.Cancel();
    });
    canceller.join();
    producer.join();
    writer.join();
    EXPECT_EQ(call.finishes(), 1);
    EXPECT_EQ(call.status().code(), absl::StatusCode::kCancelled) << call.status();
    EXPECT_EQ(static_cast<int>(received.size()), sent.load());  // nothing queued was lost
    for (size_t i = 0; i < received.size(); ++i) ASSERT_EQ(received[i], Message(i));
    EXPECT_LT(sent.load(), 100000);
  }
}

}  // namespace
}  // namespace astcd::server
