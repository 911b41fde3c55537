// A decode shown frame by frame, for show, animate and play: the walk over a token stream
// (core/render.h renders each state) and its forms: plain text, ANSI colours, the JSON frames
// document and an animated SVG (docs/visualize.md).
#ifndef ASTCD_CLI_CLI_FRAMES_H_
#define ASTCD_CLI_CLI_FRAMES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/cli_input.h"
#include "core/engine.h"
#include "core/render.h"

namespace astcd::cli {

// A token stream and the frame after each of its prefixes.
struct Walk {
  Start start = Start::kModule;
  std::optional<int> arity;     // the BLOCK/EXPR root arity the decode took; nullopt otherwise
  // The arity as given (nullopt: the config's smallest), which the JSON document records, as
  // astcd_client.display does: the Python side cannot resolve a default arity.
  std::optional<int> given_arity;
  std::vector<int32_t> tokens;
  std::vector<Frame> frames;    // frames[k]: after tokens[0..k); tokens.size() + 1 of them
  // How many tokens were legal when tokens[k - 1] was chosen (k >= 1).
  int num_legal(size_t k) const { return static_cast<int>(frames[k - 1].legal.size()); }
};

// RenderFrames under the budget `max_len` (the budget the tokens were chosen under, so that
// the legal counts are what the sampler saw). Errors name tokens[i].
absl::StatusOr<Walk> WalkTokens(const std::shared_ptr<const Engine>& engine,
                                const SourceFlags& source, std::vector<int32_t> tokens,
                                int max_len);

// "step 0/7: start function" or "step 3/7: + (12 legal)".
std::string Caption(const Walk& walk, const Vocabulary& vocab, size_t k);

// The caption and the source, each ending with a newline: what show and a non-terminal animate
// print for a frame (they separate frames with a blank line).
std::string PlainFrame(const Walk& walk, const Vocabulary& vocab, size_t k);

// The same with ANSI colours for a terminal: the screen cleared first, the caption bold, the
// text new since the previous frame highlighted, holes dimmed.
std::string AnsiFrame(const Walk& walk, const Vocabulary& vocab, size_t k);

// The JSON frames document (docs/visualize.md, "JSON frames"): one line, spaced as Python's
// json.dumps writes it.
std::string FramesJson(const Walk& walk, const Vocabulary& vocab);

// A self-contained animated SVG: one <g class="frame" data-step="k"> a frame, shown in turn
// for `seconds_per_frame` (the last one longer), looping (docs/visualize.md, "SVG").
std::string FramesSvg(const Walk& walk, const Vocabulary& vocab, double seconds_per_frame);

// How each character of a frame's source is shown.
enum class Style { kPlain, kNew, kHole };
struct Span {
  std::string text;
  Style style;
};
// `after`'s lines (split at '\n', a final newline dropped) as styled spans: holes are kHole,
// the rest of what differs from `before` (between their common prefix and suffix) kNew.
std::vector<std::vector<Span>> StyledLines(const std::string& before, const std::string& after);

}  // namespace astcd::cli

#endif  // ASTCD_CLI_CLI_FRAMES_H_
