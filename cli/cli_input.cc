#include "cli/cli_input.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace astcd::cli {

absl::StatusOr<SourceFlags> CheckSource(Start start, int64_t arity, const Engine& engine,
                                        const std::string& what) {
  SourceFlags out;
  out.start = start;
  if (arity < 0) return out;
  if (start != Start::kBlock && start != Start::kExpr) {
    return absl::InvalidArgumentError(absl::StrCat(what, " applies to --start block and expr"));
  }
  const auto& arities = engine.config().arities;
  if (std::find(arities.begin(), arities.end(), arity) == arities.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " = ", arity, " is not in config.arities"));
  }
  out.arity = static_cast<int>(arity);
  return out;
}

absl::StatusOr<SourceFlags> StartFromFlags(const Flags& flags, const Engine& engine) {
  absl::StatusOr<Start> start = ParseStart(flags.Get("start", "module"));
  if (!start.ok()) return start.status();
  absl::StatusOr<int64_t> arity = flags.GetInt("arity", -1, 0, 6);
  if (!arity.ok()) return arity.status();
  return CheckSource(*start, *arity, engine, "flag --arity");
}

absl::StatusOr<std::vector<int32_t>> TokensOf(const std::string& name, const json::Value& object) {
  const json::Value* list = object.Find("tokens");
  if (list == nullptr || !list->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": wants {\"tokens\": [...]}"));
  }
  std::vector<int32_t> tokens;
  for (const json::Value& t : list->as_array()) {
    if (!t.is_int() || t.as_int() < INT32_MIN || t.as_int() > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": tokens must be 32-bit integers"));
    }
    tokens.push_back(static_cast<int32_t>(t.as_int()));
  }
  return tokens;
}

absl::StatusOr<std::vector<int64_t>> ParseTuple(const std::string& text) {
  std::vector<int64_t> args;
  if (absl::StripAsciiWhitespace(text).empty()) return args;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("wants integers separated by commas, not '", text, "'"));
    }
    args.push_back(v);
  }
  return args;
}

}  // namespace astcd::cli
