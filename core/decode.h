// decode(): the mask -> sample -> advance loop, batched, with fan-out n per input state.
#ifndef ASTCD_CORE_DECODE_H_
#define ASTCD_CORE_DECODE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/decoder.h"
#include "core/interrupt.h"
#include "core/sampler.h"

namespace astcd {

// eos: run until EOS is accepted; complete (alias module_boundary): stop once the tokens form
// a whole program (for MODULE: a function boundary).
enum class StopAt : uint8_t { kEos, kComplete };
template <>
struct EnumNames<StopAt> {
  static constexpr absl::string_view kWhat = "stop_at";
  static constexpr EnumRow<StopAt> kRows[] = {{StopAt::kEos, "eos"},
                                              {StopAt::kComplete, "complete"},
                                              {StopAt::kComplete, "module_boundary"}};
};
// InvalidArgument with a FieldError naming stop_at for a name not in the table.
absl::StatusOr<StopAt> ParseStopAt(absl::string_view name);

#define ASTCD_STOP_REASON(X)         \
  X(kEos, "eos")                     \
  X(kComplete, "complete")           \
  X(kMaxNewTokens, "max_new_tokens") \
  X(kAlreadyTerminated, "terminated")
ASTCD_WIRE_ENUM(StopReason, "stop_reason", ASTCD_STOP_REASON)
inline absl::string_view StopReasonName(StopReason reason) { return EnumName(reason); }

// Samples per input state: n is 1..kMaxSamples.
inline constexpr int kMaxSamples = 4096;

struct DecodeResult;

struct DecodeOptions {
  int n = 1;                 // samples per input state, 1..kMaxSamples
  int sample_offset = 0;     // sample indices start here, so a large n can be split in calls;
                             // 0..INT32_MAX - n
  int input_offset = 0;      // input indices start here, so the inputs can be split in calls
                             // too: states[i] decodes as input input_offset + i
  int max_new_tokens = 0;    // 0: no cap beyond the budget
  int max_total_tokens = 0;  // 0: keep each state's max_len; else lower it to this
  StopAt stop_at = StopAt::kEos;
  bool pad = false;          // fill padded_tokens: new_tokens then PAD up to max_new_tokens
  bool trace = false;        // record every step
  bool render_source = true;
  bool keep_states = true;   // false: DecodeBatch::states stays empty (only results wanted)
  int num_threads = 1;       // results do not depend on it
  // Called once per finished result, from the worker that finished it.
  std::function<void()> on_result;
  // Called with each finished result just before on_result, from the worker that finished it
  // (several workers at once, so results come in any order): work on a result, such as
  // formatting it, runs on the decoding threads. It may change the result; Decode returns it.
  std::function<void(DecodeResult&)> on_finished;
  // Called by each worker as it starts and then every kDecodeInterruptTokens tokens (a sample
  // begun counts as one), from the workers' threads but one call at a time. A status that is
  // not OK stops every worker at its next check, and Decode returns that status (the results
  // already passed to on_result stay delivered). Empty: never (core/interrupt.h).
  Interrupt interrupt;
};

struct DecodeStep {
  int32_t token;
  int32_t num_legal;  // size of the mask the token was drawn from
};

struct DecodeResult {
  int input_index = 0;
  int sample_index = 0;
  std::vector<int32_t> tokens;      // the whole stream, prefix included
  std::vector<int32_t> new_tokens;  // what this decode added
  std::string source;               // partial programs show their holes
  bool complete = false;
  StopReason stop_reason = StopReason::kEos;
  std::vector<DecodeStep> trace;
  std::optional<std::vector<int32_t>> padded_tokens;
};

struct DecodeBatch {
  std::vector<DecodeResult> results;  // ordered by (input_index, sample_index)
  std::vector<DecodeState> states;    // one per result (with keep_states); continue decoding
                                      // from these
  int input_count = 0;
  int n = 0;
};

// The checks Decode makes before it starts: InvalidArgument whose field (core/errors.h) is the
// option, or states[i].
absl::Status ValidateDecode(absl::Span<const DecodeState> states, const DecodeOptions& options);

// Result (i, j) depends only on the sampler's seed, i, j and states[i]: not on the other
// states, the batch size or the thread count. All states must share one engine.
absl::StatusOr<DecodeBatch> Decode(absl::Span<const DecodeState> states, const Sampler& sampler,
                                   const DecodeOptions& options);

}  // namespace astcd

#endif  // ASTCD_CORE_DECODE_H_
