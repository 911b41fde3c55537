// decode_walk: the bytes choose a config, a start, a budget and then each action of a walk
// (advance with the k-th legal token, an illegal token, rollback, fork, forced tokens, PAD
// after EOS), and the invariants of docs/language.md are checked at every step.
#include <bit>
#include <cstdint>
#include <vector>

#include "core/codec.h"
#include "core/decoder.h"
#include "tests/fuzz/fuzz_input.h"

namespace astcd::fuzz {
namespace {

using Mask = std::vector<uint32_t>;

Mask MaskOf(const DecodeState& s) {
  Mask m(static_cast<size_t>(s.engine().words()));
  s.FillMask(m.data());
  return m;
}

int Count(const Mask& m) {
  int n = 0;
  for (uint32_t w : m) n += std::popcount(w);
  return n;
}

bool Has(const Mask& m, int token) { return (m[token >> 5] >> (token & 31)) & 1u; }

int KthLegal(const Mask& m, int k) {
  for (size_t w = 0; w < m.size(); ++w) {
    const int here = std::popcount(m[w]);
    if (k < here) {
      uint32_t bits = m[w];
      for (int i = 0; i < k; ++i) bits &= bits - 1;
      return static_cast<int>(w * 32) + std::countr_zero(bits);
    }
    k -= here;
  }
  return -1;
}

// The invariants that hold in every state (docs/language.md, sections 7 and 8).
void CheckState(const DecodeState& s, const Mask& mask) {
  ASTCD_FUZZ_CHECK(s.CheckInvariants(), "pending cost out of step after %d tokens",
                   s.num_tokens());
  if (s.terminated()) {
    ASTCD_FUZZ_CHECK(Count(mask) == 1 && Has(mask, Vocabulary::pad_id()),
                     "after <eos> the mask must be {PAD}");
    return;
  }
  ASTCD_FUZZ_CHECK(Count(mask) > 0, "empty mask before completion at %d tokens",
                   s.num_tokens());
  ASTCD_FUZZ_CHECK(s.min_tokens_to_complete() <= s.token_budget_remaining(),
                   "cannot complete within max_len: needs %d, has %d",
                   s.min_tokens_to_complete(), s.token_budget_remaining());
}

// A refused token changes nothing, and its refusal agrees with the mask.
void TryIllegal(DecodeState& s, const Mask& mask, int32_t token) {
  const std::vector<int32_t> before = s.tokens();
  const bool legal = token >= 0 && token < s.engine().vocab().size() && Has(mask, token);
  ASTCD_FUZZ_CHECK(s.IsLegal(token) == legal, "IsLegal(%d) disagrees with the mask", token);
  ASTCD_FUZZ_CHECK((s.WhyRefused(token) == Refusal::kNone) == legal,
                   "WhyRefused(%d) disagrees with the mask", token);
  if (legal) return;
  absl::Status st = s.Advance(token);
  ASTCD_FUZZ_CHECK(!st.ok(), "an illegal token %d was accepted", token);
  ASTCD_FUZZ_CHECK(s.tokens() == before && MaskOf(s) == mask,
                   "a refused advance changed the state");
}

class Walk {
 public:
  explicit Walk(DecodeState state) : state_(std::move(state)) { Record(); }

  void Step(FuzzedDataProvider& in) {
    const Mask& mask = masks_.back();
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: case 1: case 2:  // the k-th legal token: most actions extend the program
        AdvanceTo(KthLegal(mask, in.ConsumeIntegral<uint16_t>() % Count(mask)));
        break;
      case 3:
        TryIllegal(state_, mask, in.ConsumeIntegralInRange<int32_t>(-3, state_.engine().vocab().size() + 3));
        break;
      case 4: RollbackAndReplay(in.ConsumeIntegralInRange<int>(0, state_.num_tokens() + 1)); break;
      case 5: ForkAndCompare(in); break;
      case 6: Forced(in.ConsumeBool()); break;
      case 7:  // PAD: legal only after <eos>, where it changes nothing
        if (state_.terminated()) {
          ASTCD_FUZZ_CHECK(state_.Advance(Vocabulary::pad_id()).ok(), "PAD after <eos> refused");
          ASTCD_FUZZ_CHECK(MaskOf(state_) == mask, "PAD after <eos> changed the mask");
        } else {
          TryIllegal(state_, mask, Vocabulary::pad_id());
        }
        break;
    }
  }

  // A finished program decodes (the codec accepts what the decoder accepted).
  void Finish() const {
    if (!state_.complete()) return;
    absl::StatusOr<std::string> source = TokensToSource(
        state_.shared_engine(), state_.start(),
        state_.arity() >= 0 ? std::optional<int>(state_.arity()) : std::nullopt,
        state_.tokens(), /*partial=*/false);
    ASTCD_FUZZ_CHECK(source.ok(), "a complete program does not decode: %s",
                     std::string(source.status().message()).c_str());
  }

  const DecodeState& state() const { return state_; }

 private:
  void Record() {
    masks_.push_back(MaskOf(state_));
    CheckState(state_, masks_.back());
  }

  void AdvanceTo(int token) {
    ASTCD_FUZZ_CHECK(token >= 0, "no k-th legal token");
    absl::Status st = state_.Advance(token);
    ASTCD_FUZZ_CHECK(st.ok(), "a token of the mask was refused: %s",
                     std::string(st.message()).c_str());
    if (state_.terminated() && token == Vocabulary::pad_id()) return;  // nothing new
    Record();
  }

  // Rolling back k then replaying the same tokens gives the same masks.
  void RollbackAndReplay(int k) {
    const std::vector<int32_t> tokens = state_.tokens();
    absl::Status st = Rollback(state_, k);
    if (k > static_cast<int>(tokens.size())) {
      ASTCD_FUZZ_CHECK(!st.ok() && state_.tokens() == tokens, "a bad rollback changed the state");
      return;
    }
    ASTCD_FUZZ_CHECK(st.ok(), "rollback of %d refused", k);
    const size_t kept = tokens.size() - static_cast<size_t>(k);
    const size_t base = tokens.size() + 1 - masks_.size();  // the init prefix
    if (kept < base) {  // rolled back into the prefix: the recorded masks start later
      masks_.clear();
      Record();
      for (size_t i = kept; i < tokens.size(); ++i) AdvanceTo(tokens[i]);
      return;
    }
    ASTCD_FUZZ_CHECK(MaskOf(state_) == masks_[kept - base], "mask after rollback differs");
    for (size_t i = kept; i < tokens.size(); ++i) {
      ASTCD_FUZZ_CHECK(state_.Advance(tokens[i]).ok(), "replay refused token %zu", i);
      ASTCD_FUZZ_CHECK(MaskOf(state_) == masks_[i + 1 - base], "replayed mask %zu differs", i);
    }
  }

  // A fork evolves on its own: advancing it leaves the original as it was.
  void ForkAndCompare(FuzzedDataProvider& in) {
    DecodeState fork = Fork(state_);
    const std::vector<int32_t> before = state_.tokens();
    for (int i = in.ConsumeIntegralInRange<int>(0, 4); i > 0 && !fork.terminated(); --i) {
      Mask m = MaskOf(fork);
      ASTCD_FUZZ_CHECK(fork.Advance(KthLegal(m, in.ConsumeIntegral<uint8_t>() % Count(m))).ok(),
                       "fork refused a legal token");
    }
    ASTCD_FUZZ_CHECK(state_.tokens() == before && MaskOf(state_) == masks_.back(),
                     "advancing a fork changed the original");
  }

  // Each forced token is the only one in its mask.
  void Forced(bool take) {
    const std::vector<int32_t> chain = ForcedTokens(state_);
    DecodeState probe = Fork(state_);
    for (int32_t t : chain) {
      const Mask m = MaskOf(probe);
      ASTCD_FUZZ_CHECK(Count(m) == 1 && Has(m, t), "a forced token is not alone in its mask");
      ASTCD_FUZZ_CHECK(probe.Advance(t).ok(), "a forced token was refused");
      if (probe.terminated()) break;
    }
    if (!take) return;
    for (int32_t t : chain) {
      if (state_.terminated()) break;
      AdvanceTo(t);
    }
  }

  DecodeState state_;
  std::vector<Mask> masks_;  // masks_[i]: the mask after (init prefix + i) tokens
};

}  // namespace
}  // namespace astcd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace astcd;
  FuzzedDataProvider in(data, size);
  std::shared_ptr<const Engine> engine = fuzz::ConsumeEngine(in);
  InitRequest request;
  request.start = fuzz::ConsumeStart(in);
  request.arity = fuzz::ConsumeArity(in, *engine);
  request.max_len = in.ConsumeIntegralInRange<int>(0, 300);
  for (int n = in.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
    request.prefix_tokens.push_back(in.ConsumeIntegralInRange<int32_t>(-1, engine->vocab().size()));
  }
  absl::StatusOr<DecodeState> state = InitState(engine, request);
  if (!state.ok()) return 0;  // a refused request: InitState's own tests cover its errors
  fuzz::Walk walk(*std::move(state));
  for (int steps = 0; steps < 200 && in.remaining_bytes() > 0; ++steps) walk.Step(in);
  walk.Finish();
  return 0;
}
