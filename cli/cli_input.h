// What the commands that read programs share: --start and --arity, and JSON Lines inputs
// ({"tokens": [...]} objects, one a line, from files or standard input).
#ifndef ASTCD_CLI_CLI_INPUT_H_
#define ASTCD_CLI_CLI_INPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/cli_flags.h"
#include "cli/json.h"
#include "core/config.h"
#include "core/engine.h"

namespace astcd::cli {

// Where a program starts, and the parameters in scope for BLOCK and EXPR (nullopt: the
// smallest configured arity).
struct SourceFlags {
  Start start = Start::kModule;
  std::optional<int> arity;
};

// `start` with `arity` (-1: none given), checked against the config; errors name `what`
// (e.g. "flag --arity").
absl::StatusOr<SourceFlags> CheckSource(Start start, int64_t arity, const Engine& engine,
                                        const std::string& what);

// --start (default module) and --arity.
absl::StatusOr<SourceFlags> StartFromFlags(const Flags& flags, const Engine& engine);

// The inputs of a command that reads files (or "-") and, with --jsonl, one JSON object a line.
// Calls `each(name, object_or_text)` in order; a bad JSON line is a usage error.
template <typename F>
absl::Status ForEachInput(const std::vector<std::string>& paths, bool jsonl, F each) {
  const std::vector<std::string> files = paths.empty() ? std::vector<std::string>{"-"} : paths;
  for (const std::string& path : files) {
    absl::StatusOr<std::string> text = ReadInput(path);
    if (!text.ok()) return text.status();
    const std::string name = path == "-" ? "stdin" : path;
    if (!jsonl) {
      if (absl::Status s = each(name, nullptr, *text); !s.ok()) return s;
      continue;
    }
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
      absl::StatusOr<json::Value> value = json::Parse(std::string_view(line.data(), line.size()));
      if (!value.ok() || !value->is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ":", line_no, ": not a JSON object",
            value.ok() ? "" : absl::StrCat(" (", value.status().message(), ")")));
      }
      if (absl::Status s = each(absl::StrCat(name, ":", line_no), &*value, ""); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// The {"tokens": [...]} of a JSON line (detokenize's, forced's and show's input).
absl::StatusOr<std::vector<int32_t>> TokensOf(const std::string& name, const json::Value& object);

// An argument tuple written as integers separated by commas ("3,4"; "" is the empty tuple).
absl::StatusOr<std::vector<int64_t>> ParseTuple(const std::string& text);

}  // namespace astcd::cli

#endif  // ASTCD_CLI_CLI_INPUT_H_
