#include "cli/cli_frames.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/json.h"
#include "core/decoder.h"
#include "core/grammar.h"

namespace astcd::cli {
namespace {

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

// The source with its final newline dropped, split into lines.
std::vector<std::string> Lines(const std::string& source) {
  absl::string_view text = source;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return absl::StrSplit(text, '\n');
}

// Marks each hole name's characters in `styles` as kHole.
void MarkHoles(const std::string& source, std::vector<Style>& styles) {
  for (Hole hole : {Hole::kFunc, Hole::kStmt, Hole::kExpr, Hole::kTarget}) {
    const absl::string_view name = HoleName(hole);
    for (size_t at = source.find(name.data(), 0, name.size()); at != std::string::npos;
         at = source.find(name.data(), at + name.size(), name.size())) {
      std::fill(styles.begin() + at, styles.begin() + at + name.size(), Style::kHole);
    }
  }
}

}  // namespace

absl::StatusOr<Walk> WalkTokens(const std::shared_ptr<const Engine>& engine,
                                const SourceFlags& source, std::vector<int32_t> tokens,
                                int max_len) {
  InitRequest request;
  request.start = source.start;
  request.arity = source.arity;
  request.max_len = max_len;
  absl::StatusOr<DecodeState> empty = InitState(engine, request);
  if (!empty.ok()) return empty.status();
  absl::StatusOr<std::vector<Frame>> frames =
      RenderFrames(engine, source.start, source.arity, tokens, max_len);
  if (!frames.ok()) return frames.status();
  Walk walk;
  walk.start = source.start;
  if (empty->arity() >= 0) walk.arity = empty->arity();
  if (walk.arity) walk.given_arity = source.arity;
  walk.tokens = std::move(tokens);
  walk.frames = *std::move(frames);
  return walk;
}

std::string Caption(const Walk& walk, const Vocabulary& vocab, size_t k) {
  const std::string step = absl::StrCat("step ", k, "/", walk.tokens.size(), ": ");
  if (k > 0) {
    return absl::StrCat(step, vocab.info(walk.tokens[k - 1]).name, " (", walk.num_legal(k),
                        " legal)");
  }
  std::string caption = absl::StrCat(step, "start ", StartName(walk.start));
  if (walk.arity) absl::StrAppend(&caption, " (arity ", *walk.arity, ")");
  return caption;
}

std::string PlainFrame(const Walk& walk, const Vocabulary& vocab, size_t k) {
  std::string out = absl::StrCat(Caption(walk, vocab, k), "\n");
  for (const std::string& line : Lines(walk.frames[k].source)) absl::StrAppend(&out, line, "\n");
  return out;
}

std::vector<std::vector<Span>> StyledLines(const std::string& before, const std::string& after) {
  // The changed part: what lies between the longest common prefix and suffix.
  const size_t limit = std::min(before.size(), after.size());
  size_t prefix = 0;
  while (prefix < limit && before[prefix] == after[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < limit - prefix &&
         before[before.size() - 1 - suffix] == after[after.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Style> styles(after.size(), Style::kPlain);
  std::fill(styles.begin() + prefix, styles.end() - suffix, Style::kNew);
  MarkHoles(after, styles);
  std::vector<std::vector<Span>> lines(1);
  const size_t end = !after.empty() && after.back() == '\n' ? after.size() - 1 : after.size();
  for (size_t i = 0; i < end; ++i) {
    if (after[i] == '\n') {
      lines.emplace_back();
      continue;
    }
    std::vector<Span>& line = lines.back();
    if (line.empty() || line.back().style != styles[i]) line.push_back({"", styles[i]});
    line.back().text += after[i];
  }
  return lines;
}

std::string AnsiFrame(const Walk& walk, const Vocabulary& vocab, size_t k) {
  static constexpr const char* kCodes[] = {"", "\x1b[1;32m", "\x1b[2m"};  // by Style
  std::string out = absl::StrCat("\x1b[H\x1b[2J\x1b[1m", Caption(walk, vocab, k), "\x1b[0m\n");
  const std::string& before = walk.frames[k > 0 ? k - 1 : 0].source;
  for (const std::vector<Span>& line : StyledLines(before, walk.frames[k].source)) {
    for (const Span& span : line) {
      absl::StrAppend(&out, kCodes[static_cast<int>(span.style)], span.text,
                      span.style == Style::kPlain ? "" : "\x1b[0m");
    }
    out += "\n";
  }
  return out;
}

std::string FramesJson(const Walk& walk, const Vocabulary& vocab) {
  // Spaced as Python's json.dumps writes it, so that astcd_client.display.dump_json and the
  // CLI can write the same bytes.
  std::string out = absl::StrCat(
      "{\"version\": 1, \"start\": ", json::Quote(Str(StartName(walk.start))),
      ", \"arity\": ", walk.given_arity ? absl::StrCat(*walk.given_arity) : "null",
      ", \"tokens\": [", absl::StrJoin(walk.tokens, ", "), "], \"frames\": [");
  for (size_t k = 0; k < walk.frames.size(); ++k) {
    // Frame 0 was chosen by nothing: its token, name and num_legal are null.
    const std::string token = k == 0 ? "null" : absl::StrCat(walk.tokens[k - 1]);
    const std::string name = k == 0 ? "null" : json::Quote(vocab.info(walk.tokens[k - 1]).name);
    const std::string legal = k == 0 ? "null" : absl::StrCat(walk.num_legal(k));
    absl::StrAppend(&out, k == 0 ? "" : ", ", "{\"step\": ", k, ", \"token\": ", token,
                    ", \"name\": ", name, ", \"num_legal\": ", legal,
                    ", \"source\": ", json::Quote(walk.frames[k].source),
                    ", \"complete\": ", walk.frames[k].complete ? "true" : "false", "}");
  }
  return out + "]}";
}

namespace {

std::string XmlEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The SVG's geometry: a 14px monospace font, whose advance is about 0.6em.
constexpr double kCharWidth = 8.4, kLineHeight = 18, kPad = 12;

// The discrete visibility timeline of frame k of n: visible in its slot of the loop, the last
// frame for kLastSlots slots. Slots are equal fractions of the loop.
constexpr int kLastSlots = 4;
std::string Timeline(size_t k, size_t n, double seconds_per_frame) {
  const double slots = static_cast<double>(n - 1 + kLastSlots);
  const double on = static_cast<double>(k) / slots, off = static_cast<double>(k + 1) / slots;
  std::string values, times;
  if (k == 0) {
    values = "visible;hidden";
    times = absl::StrFormat("0;%.6f", off);
  } else if (k + 1 == n) {
    values = "hidden;visible";
    times = absl::StrFormat("0;%.6f", on);
  } else {
    values = "hidden;visible;hidden";
    times = absl::StrFormat("0;%.6f;%.6f", on, off);
  }
  return absl::StrFormat(
      "<animate attributeName=\"visibility\" calcMode=\"discrete\" values=\"%s\" "
      "keyTimes=\"%s\" dur=\"%.3fs\" repeatCount=\"indefinite\"/>",
      values, times, slots * seconds_per_frame);
}

std::string SvgFrame(const Walk& walk, const Vocabulary& vocab, size_t k,
                     double seconds_per_frame) {
  const size_t n = walk.frames.size();
  // Without SMIL the last frame, the finished program, is what shows.
  std::string out = absl::StrFormat("<g class=\"frame\" data-step=\"%d\" visibility=\"%s\">",
                                    k, k + 1 == n ? "visible" : "hidden");
  if (n > 1) out += Timeline(k, n, seconds_per_frame);
  absl::StrAppendFormat(&out, "<text class=\"caption\" x=\"%g\" y=\"%g\">%s</text>", kPad,
                        kPad + kLineHeight, XmlEscape(Caption(walk, vocab, k)));
  const std::string& before = walk.frames[k > 0 ? k - 1 : 0].source;
  double y = kPad + 3 * kLineHeight;
  for (const std::vector<Span>& line : StyledLines(before, walk.frames[k].source)) {
    absl::StrAppendFormat(&out, "<text class=\"line\" x=\"%g\" y=\"%g\">", kPad, y);
    for (const Span& span : line) {
      static constexpr const char* kClasses[] = {"", "new", "hole"};  // by Style
      if (span.style == Style::kPlain) {
        out += XmlEscape(span.text);
      } else {
        absl::StrAppend(&out, "<tspan class=\"", kClasses[static_cast<int>(span.style)], "\">",
                        XmlEscape(span.text), "</tspan>");
      }
    }
    out += "</text>";
    y += kLineHeight;
  }
  return out + "</g>\n";
}

}  // namespace

std::string FramesSvg(const Walk& walk, const Vocabulary& vocab, double seconds_per_frame) {
  size_t columns = 0, rows = 0;
  for (size_t k = 0; k < walk.frames.size(); ++k) {
    const std::vector<std::string> lines = Lines(walk.frames[k].source);
    rows = std::max(rows, lines.size());
    columns = std::max(columns, Caption(walk, vocab, k).size());
    for (const std::string& line : lines) columns = std::max(columns, line.size());
  }
  const double width = 2 * kPad + kCharWidth * static_cast<double>(columns);
  const double height = 2 * kPad + kLineHeight * static_cast<double>(rows + 3);
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" xml:space=\"preserve\" width=\"%g\" "
      "height=\"%g\" viewBox=\"0 0 %g %g\">\n"
      "<style>text{font-family:monospace;font-size:14px;fill:#222;white-space:pre}"
      ".caption{fill:#666}.hole{fill:#aaa}.new{fill:#0a7d32;font-weight:bold}</style>\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"#fdfdfd\"/>\n",
      width, height, width, height);
  for (size_t k = 0; k < walk.frames.size(); ++k) {
    out += SvgFrame(walk, vocab, k, seconds_per_frame);
  }
  return out + "</svg>\n";
}

}  // namespace astcd::cli
