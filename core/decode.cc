#include "core/decode.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "core/decoder_impl.h"
#include "core/mutex.h"
#include "core/render.h"

namespace astcd {
namespace {

// The interrupt of one Decode call, shared by its workers: calls it one at a time and
// remembers the first status that stops the call.
class StopSignal {
 public:
  explicit StopSignal(const Interrupt& interrupt) : interrupt_(interrupt) {}
  // Calls the interrupt (unless the call has already stopped); false once it must stop.
  bool Check() {
    if (stopped_.load(std::memory_order_acquire)) return false;
    MutexLock lock(&mu_);
    if (!status_.ok()) return false;
    status_ = interrupt_();
    if (status_.ok()) return true;
    stopped_.store(true, std::memory_order_release);
    return false;
  }
  absl::Status status() {
    MutexLock lock(&mu_);
    return status_;
  }

 private:
  const Interrupt& interrupt_;
  Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopped_{false};
};

// A worker's share of the interrupt: one check every kDecodeInterruptTokens units of work (a
// token, or a sample begun). Without an interrupt it never checks.
class Ticker {
 public:
  explicit Ticker(StopSignal* signal) : signal_(signal) {}
  // Counts one unit; false once the call must stop.
  bool Tick() {
    if (--left_ > 0) return true;
    left_ = kDecodeInterruptTokens;
    return signal_ == nullptr || signal_->Check();
  }

 private:
  StopSignal* signal_;
  int64_t left_ = 1;  // the first unit checks
};

// Returns false (and leaves *result partial) when the interrupt stopped it, or when the mask
// was empty before <eos> (then *dead_end is set). Keeps the final state in *out unless null.
bool DecodeOne(const DecodeState& input, const Sampler& sampler, const DecodeOptions& options,
               int input_index, int sample_index, Ticker& ticker, DecodeResult* result,
               std::optional<DecodeState>* out, std::atomic<bool>* dead_end) {
  if (!ticker.Tick()) return false;
  DecodeState state = input;
  if (options.max_total_tokens > 0) (void)state.LimitMaxLen(options.max_total_tokens);  // checked
  Rng rng(StreamSeed(sampler.seed(), input_index, sample_index));
  result->input_index = input_index;
  result->sample_index = sample_index;
  const int words = state.engine().words();
  absl::InlinedVector<uint32_t, 64> mask(words);
  int added = 0;
  StopReason reason = StopReason::kAlreadyTerminated;
  while (true) {
    if (state.terminated()) {
      if (added > 0) reason = StopReason::kEos;
      break;
    }
    if (options.stop_at == StopAt::kComplete && added > 0 && state.complete()) {
      reason = StopReason::kComplete;
      break;
    }
    if (options.max_new_tokens > 0 && added == options.max_new_tokens) {
      reason = StopReason::kMaxNewTokens;
      break;
    }
    if (!ticker.Tick()) return false;
    HoleView hole{};
    state.FillMask(mask.data(), &hole);  // one pass over the stack for the mask and the hole
    const int32_t token = sampler.Choose(state, mask.data(), hole, rng);
    if (token < 0) {  // an empty mask before <eos>: a broken invariant, never a token to apply
      result->new_tokens.clear();
      result->tokens = state.tokens();
      *dead_end = true;
      return false;
    }
    if (options.trace) {
      int legal = 0;
      for (uint32_t w : mask) legal += std::popcount(w);
      result->trace.push_back({token, legal});
    }
    internal::DecoderAccess::AdvanceLegal(state, token);  // the sampler picked from the mask
    result->new_tokens.push_back(token);
    ++added;
  }
  result->stop_reason = reason;
  result->tokens = state.tokens();
  result->complete = state.complete();
  if (options.render_source) {
    result->source = RenderSource(state);
  }
  if (options.pad) {
    std::vector<int32_t> padded = result->new_tokens;
    padded.resize(options.max_new_tokens, Vocabulary::pad_id());
    result->padded_tokens = std::move(padded);
  }
  if (out != nullptr) out->emplace(std::move(state));
  return true;
}

}  // namespace

absl::StatusOr<StopAt> ParseStopAt(absl::string_view name) {
  if (std::optional<StopAt> stop_at = FindEnum<StopAt>(name)) return *stop_at;
  return FieldStatus(absl::StatusCode::kInvalidArgument,
                     FieldError{"stop_at", "", " ", NotANameOf<StopAt>(name)});
}

namespace {

absl::Status InvalidOption(absl::string_view field, absl::string_view separator,
                           absl::string_view description) {
  return FieldStatus(absl::StatusCode::kInvalidArgument,
                     FieldError{std::string(field), "", std::string(separator),
                                std::string(description)});
}

}  // namespace

absl::Status ValidateDecode(absl::Span<const DecodeState> states, const DecodeOptions& options) {
  if (options.n < 1 || options.n > kMaxSamples) {
    return InvalidOption("n", ": ", absl::StrCat(options.n, " is outside [1, ", kMaxSamples, "]"));
  }
  // sample_offset + n must stay an int32 sample index.
  if (options.sample_offset < 0 || options.sample_offset > INT32_MAX - options.n) {
    return InvalidOption("sample_offset", ": ",
                         absl::StrCat(options.sample_offset, " is outside [0, ",
                                      INT32_MAX - options.n,
                                      "] (sample_offset + n must fit in int32)"));
  }
  if (options.input_offset < 0 ||
      options.input_offset > INT32_MAX - static_cast<int64_t>(states.size())) {
    return InvalidOption("input_offset", ": ",
                         absl::StrCat(options.input_offset, " is outside [0, INT32_MAX - ",
                                      states.size(), "]"));
  }
  if (options.max_new_tokens < 0 || options.max_new_tokens > kMaxLenLimit) {
    return InvalidOption("max_new_tokens", " = ",
                         absl::StrCat(options.max_new_tokens, " is outside [0, ", kMaxLenLimit,
                                      "]"));
  }
  if (options.max_total_tokens < 0 || options.max_total_tokens > kMaxLenLimit) {
    return InvalidOption("max_total_tokens", " = ",
                         absl::StrCat(options.max_total_tokens, " is outside [0, ", kMaxLenLimit,
                                      "]"));
  }
  if (options.pad && options.max_new_tokens == 0) {
    return InvalidOption("pad", " ", "needs max_new_tokens > 0: it pads to that length");
  }
  if (options.num_threads < 1 || options.num_threads > 64) {
    return InvalidOption("num_threads", " = ",
                         absl::StrCat(options.num_threads, " is outside [1, 64]"));
  }
  if (absl::Status s = SameVocabulary(states); !s.ok()) return s;
  for (size_t i = 0; options.max_total_tokens > 0 && i < states.size(); ++i) {
    DecodeState probe = states[i];
    if (absl::Status s = probe.LimitMaxLen(options.max_total_tokens); !s.ok()) {
      return InvalidOption(absl::StrCat("states[", i, "]"), ": ",
                           absl::StrCat("max_total_tokens = ", options.max_total_tokens, ": ",
                                        s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DecodeBatch> Decode(absl::Span<const DecodeState> states, const Sampler& sampler,
                                   const DecodeOptions& options) {
  if (absl::Status s = ValidateDecode(states, options); !s.ok()) return s;
  DecodeBatch batch;
  batch.input_count = static_cast<int>(states.size());
  batch.n = options.n;
  const size_t total = states.size() * options.n;
  batch.results.resize(total);
  std::vector<std::optional<DecodeState>> finals(options.keep_states ? total : 0);
  batch.states.reserve(finals.size());
  std::optional<StopSignal> signal;
  if (options.interrupt) signal.emplace(options.interrupt);
  std::atomic<bool> dead_end{false};
  auto work = [&](size_t begin, size_t end) {
    Ticker ticker(signal ? &*signal : nullptr);
    for (size_t r = begin; r < end; ++r) {
      const int i = static_cast<int>(r / options.n);
      const int j = options.sample_offset + static_cast<int>(r % options.n);
      if (!DecodeOne(states[i], sampler, options, options.input_offset + i, j, ticker,
                     &batch.results[r], options.keep_states ? &finals[r] : nullptr,
                     &dead_end)) {
        return;
      }
      if (options.on_finished) options.on_finished(batch.results[r]);
      if (options.on_result) options.on_result();
    }
  };
  const size_t threads = std::min<size_t>(options.num_threads, total);
  if (threads <= 1) {
    work(0, total);
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) {
      pool.emplace_back(work, total * t / threads, total * (t + 1) / threads);
    }
    for (std::thread& t : pool) t.join();
  }
  if (dead_end.load()) {
    return absl::InternalError("a decoder state had an empty legal mask before <eos>: a broken "
                               "invariant (docs/language.md, section 7.3); please report it");
  }
  if (signal) {
    if (absl::Status s = signal->status(); !s.ok()) return s;
  }
  for (auto& s : finals) batch.states.push_back(*std::move(s));
  return batch;
}

}  // namespace astcd
