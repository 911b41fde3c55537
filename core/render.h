// The renderer: what a decode looks like at each step. A frame is the partial program a state
// has accepted, with its unfilled holes named (<def>, <stmt>, <expr>, <name>), and the tokens
// legal next. Detokenize, Decode and the CLI's show, animate and play all print through it,
// so a partial program looks the same everywhere.
#ifndef ASTCD_CORE_RENDER_H_
#define ASTCD_CORE_RENDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/config.h"
#include "core/decoder.h"
#include "core/engine.h"

namespace astcd {

struct Frame {
  std::string source;           // RenderSource of the state
  std::vector<int32_t> legal;   // the legal next token ids, ascending (FillMask's bits)
  bool complete = false;        // DecodeState::complete()
  bool terminated = false;      // EOS accepted
};

// The state's program as Python source, holes named: StateToAst(state, partial=true), then
// AstToSource.
std::string RenderSource(const DecodeState& state);

// The state's source and its legal next tokens.
Frame RenderState(const DecodeState& state);

// One frame per prefix of `tokens`: frame 0 is the empty state, frame k the state after
// tokens[0..k). `max_len` is the token budget the legal sets are computed under (the budget
// the tokens were chosen under, to see what a sampler saw). Errors are TokensToAst's for the
// same stream: InvalidArgument or FailedPrecondition naming tokens[i].
absl::StatusOr<std::vector<Frame>> RenderFrames(const std::shared_ptr<const Engine>& engine,
                                                Start start, std::optional<int> arity,
                                                absl::Span<const int32_t> tokens,
                                                int max_len = kMaxLenLimit);

}  // namespace astcd

#endif  // ASTCD_CORE_RENDER_H_
