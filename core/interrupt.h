// Interrupts: how a caller stops a long core call (a deadline, a cancellation, a drain).
//
// A long call (Program::Run and RunBatch, Decode) takes an Interrupt in its options and calls
// it at a bounded interval of its own work: every kRunInterruptSteps steps of a run or of a
// RunBatch (where an input counts as one more step), and every kDecodeInterruptTokens tokens
// of a Decode worker (where a sample begun counts as one more token). An empty Interrupt means "never": nothing is called. When the Interrupt returns a
// status that is not OK, the call stops and returns that status as its own, unchanged (no field
// is added), and its partial work is dropped. The server returns DeadlineExceeded, Cancelled or
// Unavailable from it.
//
// An Interrupt may be called from a thread other than the caller's (a Decode worker), but never
// from two threads at once: Decode serializes the calls of its workers.
#ifndef ASTCD_CORE_INTERRUPT_H_
#define ASTCD_CORE_INTERRUPT_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace astcd {

using Interrupt = std::function<absl::Status()>;

// Run: steps between two calls (a step costs 5-20 ns, so a call every 20-80 us).
inline constexpr int64_t kRunInterruptSteps = 4096;
// Decode: tokens (plus one per sample) a worker takes between two calls (a token costs
// 50-500 ns).
inline constexpr int64_t kDecodeInterruptTokens = 1024;

// OK for an empty Interrupt; else what it returns.
inline absl::Status Poll(const Interrupt& interrupt) {
  return interrupt ? interrupt() : absl::OkStatus();
}

}  // namespace astcd

#endif  // ASTCD_CORE_INTERRUPT_H_
