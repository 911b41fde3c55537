// A small fixed pool of threads shared by every Decode call, so that one call's chunks can use
// every core while many calls share the same cores instead of each running a thread of its own.
//
// Tasks run in the order they were submitted. Fairness and the bound on queued work come from
// the callers: each Decode call keeps at most a few chunks queued or running (its window,
// DecoderService::RunDecode), so the queue holds at most window × calls tasks and the calls'
// chunks interleave, a call that submits one more only after one of its own finished.
#ifndef ASTCD_SERVER_DECODE_POOL_H_
#define ASTCD_SERVER_DECODE_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "core/mutex.h"

namespace astcd::server {

class DecodePool {
 public:
  // threads >= 1.
  explicit DecodePool(int threads);
  // Runs the tasks already queued, then joins the threads.
  ~DecodePool();
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;

  int threads() const { return static_cast<int>(threads_.size()); }
  // Queues `task`; one of the pool's threads runs it.
  void Submit(std::function<void()> task);

 private:
  void Loop();

  Mutex mu_;
  CondVar work_;  // signalled when a task is queued or the pool stops
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_DECODE_POOL_H_
