// Private to core/: lets drivers that have just filled a state's mask advance it without
// checking the token again.
#ifndef ASTCD_CORE_DECODER_IMPL_H_
#define ASTCD_CORE_DECODER_IMPL_H_

#include "core/decoder.h"

namespace astcd::internal {

struct DecoderAccess {
  // Precondition: `token` is set in the mask FillMask wrote for `state` as it is now.
  static void AdvanceLegal(DecodeState& state, int32_t token) { state.Apply(token); }

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
    return a.engine_ == b.engine_ && a.tokens_ == b.tokens_ && same_frames(a.stack_, b.stack_) &&
           a.max_len_ == b.max_len_ && a.pending_ == b.pending_ &&
           a.scope_index_ == b.scope_index_ && a.arity_ == b.arity_ &&
           a.introduced_ == b.introduced_ && a.root_arity_ == b.root_arity_ &&
           a.start_ == b.start_ && a.terminated_ == b.terminated_;
  }
  static size_t NumCheckpoints(const DecodeState& state) { return state.checkpoints_.size(); }
};

}  // namespace astcd::internal

#endif  // ASTCD_CORE_DECODER_IMPL_H_
