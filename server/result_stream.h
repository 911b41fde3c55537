// The threading of a server stream, without gRPC: a producer thread queues messages, a writer
// writes them one at a time (gRPC's StartWrite / OnWriteDone), the producer waits while too
// many bytes are queued for a slow reader, and the call finishes once, with the producer's
// status or CANCELLED when the client went away. The Decode reactor (server/service.cc) is
// this plus gRPC's calls; tests/server/result_stream_stress_test.cc drives it with threads.
#ifndef ASTCD_SERVER_RESULT_STREAM_H_
#define ASTCD_SERVER_RESULT_STREAM_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/mutex.h"

namespace astcd::server {

// Every method returns what its caller must then do, outside the stream's lock (gRPC may call
// back into the stream from StartWrite or Finish).
struct StreamAction {
  enum Kind { kNothing, kWrite, kFinish };
  Kind kind = kNothing;
  // kFinish: the call's status, copied under the lock (the producer may set its own status
  // at the same moment; the first to finish the call decides).
  absl::Status status;
  // kWrite: more messages are queued behind this one, so the writer may let gRPC buffer it
  // (grpc::WriteOptions::set_buffer_hint) and send it with them. The last message queued is
  // never one of these, so nothing stays buffered.
  bool more = false;
};

// T is the message type (grpc::ByteBuffer in the server, std::string in tests). Thread-safe:
// Push, WaitForRoom and Close from the producer; OnWriteDone and Cancel from the writer's
// callbacks; at most one write is in flight.
template <typename T>
class ResultStream {
 public:
  explicit ResultStream(int64_t max_queued_bytes) : max_queued_bytes_(max_queued_bytes) {}

  // Blocks the producer while max_queued_bytes or more are queued or being written (the
  // backpressure of a slow reader), until a write completes or the stream is cancelled.
  void WaitForRoom() {
    MutexLock lock(&mu_);
    while (!cancelled_ && queued_bytes_ >= max_queued_bytes_) room_.Wait(&mu_);
  }

  // True once the writer failed or the call was cancelled: the producer should stop.
  bool cancelled() const {
    MutexLock lock(&mu_);
    return cancelled_;
  }

  // Queues a message of `bytes` bytes. kWrite: start writing current(). A message pushed after
  // the call finished is dropped.
  StreamAction Push(T message, int64_t bytes) {
    MutexLock lock(&mu_);
    if (finished_) {
      unsent_.push_back(std::move(message));
      return {};
    }
    queued_bytes_ += bytes;
    produced_bytes_ += bytes;
    queue_.emplace_back(std::move(message), bytes);
    return NextLocked();
  }

  // The producer is done; `status` finishes the call once everything queued is written.
  StreamAction Close(absl::Status status) {
    MutexLock lock(&mu_);
    producer_done_ = true;
    if (!finished_) final_ = std::move(status);
    return NextLocked();
  }

  // The write of current() completed; ok false: the client went away, and the call finishes
  // CANCELLED.
  StreamAction OnWriteDone(bool ok) {
    StreamAction action;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      queued_bytes_ -= current_bytes_;
      current_bytes_ = 0;
      if (!ok) {
        unsent_.push_back(std::move(current_));  // the client may not have it
        cancelled_ = true;
        if (!finished_) {
          finished_ = true;
          final_ = absl::CancelledError("the client went away");
          action = {StreamAction::kFinish, final_};
        }
      } else {
        action = NextLocked();
      }
    }
    room_.NotifyAll();
    return action;
  }

  // The call was cancelled (by the client or the drain): a waiting producer wakes, and its
  // next check of cancelled() stops it.
  void Cancel() {
    {
      MutexLock lock(&mu_);
      cancelled_ = true;
    }
    room_.NotifyAll();
  }

  // The message being written: set by the action kWrite, valid until the next OnWriteDone.
  // Only the writer reads it, between the two, so it needs no lock.
  T* current() { return &current_; }

  // Bytes pushed over the stream's life (read once the producer has ended).
  int64_t produced_bytes() const {
    MutexLock lock(&mu_);
    return produced_bytes_;
  }
  // The messages the client did not get: still queued, dropped after the call finished, or
  // whose write failed. Call once the producer has ended and the call has finished (the
  // Decode reactor releases the sessions they name).
  std::vector<T> TakeUnsent() {
    MutexLock lock(&mu_);
    for (auto& [message, bytes] : queue_) unsent_.push_back(std::move(message));
    queue_.clear();
    return std::move(unsent_);
  }
  bool finished() const {
    MutexLock lock(&mu_);
    return finished_;
  }

 private:
  // Starts the next write, or finishes when everything is written and the producer is done.
  StreamAction NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return {};
    if (!queue_.empty()) {
      current_ = std::move(queue_.front().first);
      current_bytes_ = queue_.front().second;
      queue_.pop_front();
      writing_ = true;
      return {StreamAction::kWrite, absl::OkStatus(), !queue_.empty()};
    }
    if (producer_done_) {
      finished_ = true;
      return {StreamAction::kFinish, final_};
    }
    return {};
  }

  const int64_t max_queued_bytes_;
  mutable Mutex mu_;
  CondVar room_;  // signalled when queued bytes drop or the stream is cancelled
  std::deque<std::pair<T, int64_t>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // queued and being written
  int64_t produced_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t current_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool producer_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);
  std::vector<T> unsent_ ABSL_GUARDED_BY(mu_);
  T current_;  // moved in under mu_ by NextLocked; read by the writer outside it
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_RESULT_STREAM_H_
