// A one-line progress bar on stderr for the CLI's long runs.
#ifndef ASTCD_CLI_PROGRESS_H_
#define ASTCD_CLI_PROGRESS_H_

#include <atomic>
#include <cstdio>
#include <string>

#include "core/mutex.h"

namespace astcd::cli {

// A one-line progress bar on stderr, redrawn at most every 1% of the work.
class Progress {
 public:
  // Draws only when `enabled` (stderr is a terminal) and the run is long enough to matter.
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled && total >= 200) {}
  void Tick() {
    if (!enabled_) return;
    const size_t ticked = ++done_;
    if (ticked * 100 / total_ == (ticked - 1) * 100 / total_ && ticked != total_) return;
    MutexLock lock(&mu_);
    const size_t done = done_.load();  // the newest count, so the bar never moves back
    if (done <= drawn_) return;
    drawn_ = done;
    const int filled = static_cast<int>(done * 40 / total_);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                 std::string(40 - filled, '.').c_str(), done, total_);
    if (done == total_) std::fputc('\n', stderr);
  }
  // Ends the line of a run that stopped before its total (astcd dataset stops once it has
  // enough rows). Call after the last Tick.
  void Finish() {
    MutexLock lock(&mu_);
    if (drawn_ > 0 && drawn_ < total_) std::fputc('\n', stderr);
    drawn_ = total_;
  }

 private:
  size_t total_;
  bool enabled_;
  std::atomic<size_t> done_{0};
  Mutex mu_;
  size_t drawn_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace astcd::cli

#endif  // ASTCD_CLI_PROGRESS_H_
