// CPU-time measurement shared by the benchmark drivers: on a shared machine, the time this
// thread actually ran is steadier than the wall clock.
#ifndef ASTCD_BENCH_BENCH_TIMING_H_
#define ASTCD_BENCH_BENCH_TIMING_H_

#include <time.h>

#include <chrono>

namespace astcd::bench {

inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Passes {
  int passes = 0;
  double cpu_seconds = 0;   // this thread's CPU time over all passes
  double wall_seconds = 0;
};

// Runs `pass` at least once, and again until this thread has spent `min_cpu_seconds` in it.
template <typename Fn>
Passes RepeatForCpuSeconds(double min_cpu_seconds, Fn pass) {
  Passes out;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = ThreadCpuSeconds();
  do {
    pass();
    ++out.passes;
    out.cpu_seconds = ThreadCpuSeconds() - cpu_start;
  } while (out.cpu_seconds < min_cpu_seconds);
  out.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace astcd::bench

#endif  // ASTCD_BENCH_BENCH_TIMING_H_
