// Private to core/: lets drivers that have just filled a state's mask advance it without
// checking the token again.
#ifndef ASTCD_CORE_DECODER_IMPL_H_
#define ASTCD_CORE_DECODER_IMPL_H_

#include <string>

#include "core/decoder.h"

namespace astcd::internal {

struct DecoderAccess {
  // Precondition: `token` is set in the mask FillMask wrote for `state` as it is now.
  static void AdvanceLegal(DecodeState& state, int32_t token) { state.Apply(token); }
  // For tests: whether `token`'s successor has a completion plan that fits the budget, found
  // by advancing a scratch copy (the mask may price it from a survey instead).
  static bool ProbeFits(const DecodeState& state, int32_t token) {
    DecodeState::Machine probe = state.m_;
    probe.Apply(token);
    return probe.MinToComplete() <= state.token_budget_remaining() - 1;
  }

  // For tests: whether two states are the same decoder state (tokens, stack, counters,
  // budget and engine), checkpoints aside; and how many checkpoints a state holds.
  static bool SameState(const DecodeState& a, const DecodeState& b) {
    auto same_frames = [](const auto& x, const auto& y) {
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].node != y[i].node || x[i].next != y[i].next || x[i].depth != y[i].depth ||
            x[i].flags != y[i].flags || x[i].bits != y[i].bits) {
          return false;
        }
      }
      return true;
    };
    const DecodeState::Machine& x = a.m_;
    const DecodeState::Machine& y = b.m_;
    return a.engine_ == b.engine_ && a.tokens_ == b.tokens_ && same_frames(x.stack, y.stack) &&
           a.max_len_ == b.max_len_ && x.pending == y.pending &&
           x.scope_index == y.scope_index && x.arity == y.arity &&
           x.introduced == y.introduced && x.owed == y.owed && a.root_arity_ == b.root_arity_ &&
           x.start == y.start && x.terminated == y.terminated;
  }
  // For tests: the decoder state without its token history, as bytes (states that decode the
  // same way from here have the same key).
  static std::string Key(const DecodeState& s) {
    const DecodeState::Machine& m = s.m_;
    std::string key(reinterpret_cast<const char*>(m.stack.data()),
                    m.stack.size() * sizeof(DecodeState::Frame));
    const int32_t scalars[] = {m.pending, m.scope_index, m.arity, m.introduced,
                               static_cast<int32_t>(m.owed), m.terminated,
                               s.token_budget_remaining()};
    key.append(reinterpret_cast<const char*>(scalars), sizeof(scalars));
    return key;
  }
  static size_t NumCheckpoints(const DecodeState& state) { return state.checkpoints_.size(); }
};

}  // namespace astcd::internal

#endif  // ASTCD_CORE_DECODER_IMPL_H_
