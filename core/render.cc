#include "core/render.h"

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/errors.h"

namespace astcd {

std::string RenderSource(const DecodeState& state) {
  // With partial set, StateToAst cannot fail: the decoder accepted every token.
  return AstToSource(*StateToAst(state, /*partial=*/true));
}

Frame RenderState(const DecodeState& state) {
  Frame frame;
  frame.source = RenderSource(state);
  frame.complete = state.complete();
  frame.terminated = state.terminated();
  absl::InlinedVector<uint32_t, 64> mask(state.engine().words());
  state.FillMask(mask.data());
  const int size = state.engine().vocab().size();
  for (int32_t t = 0; t < size; ++t) {
    if (mask[t / 32] >> (t % 32) & 1u) frame.legal.push_back(t);
  }
  return frame;
}

absl::StatusOr<std::vector<Frame>> RenderFrames(const std::shared_ptr<const Engine>& engine,
                                                Start start, std::optional<int> arity,
                                                absl::Span<const int32_t> tokens, int max_len) {
  InitRequest request;
  request.start = start;
  request.arity = arity;
  request.max_len = max_len;
  absl::StatusOr<DecodeState> state = InitState(engine, request);
  if (!state.ok()) return state.status();
  std::vector<Frame> frames;
  frames.reserve(tokens.size() + 1);
  frames.push_back(RenderState(*state));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (absl::Status s = state->Advance(tokens[i]); !s.ok()) {
      return Within(absl::StrCat("tokens[", i, "]"), s);
    }
    frames.push_back(RenderState(*state));
  }
  return frames;
}

}  // namespace astcd
