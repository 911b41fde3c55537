// Private to core/: lets drivers that have just filled a state's mask advance it without
// checking the token again.
#ifndef ASTCD_CORE_DECODER_IMPL_H_
#define ASTCD_CORE_DECODER_IMPL_H_

#include "core/decoder.h"

namespace astcd::internal {

struct DecoderAccess {
  // Precondition: `token` is set in the mask FillMask wrote for `state` as it is now.
  static void AdvanceLegal(DecodeState& state, int32_t token) { state.Apply(token); }
};

}  // namespace astcd::internal

#endif  // ASTCD_CORE_DECODER_IMPL_H_
