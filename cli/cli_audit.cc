// astcd audit: how much of a Python corpus fits the language, by stage and node type.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_flags.h"
#include "cli/cli_progress.h"
#include "cli/json.h"
#include "core/tokenize.h"

namespace astcd::cli {
namespace {

struct Tally {
  int files = 0;
  int files_unparsed = 0;
  int functions = 0;
  int ok = 0;
  std::map<std::string, int> by_stage;
  std::map<std::string, int> by_node_type;
  std::map<std::pair<std::string, std::string>, std::pair<int, std::string>> reasons;  // example
};

// Every .py file under the paths, sorted so that reports are reproducible.
absl::StatusOr<std::vector<std::string>> PythonFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      files.push_back(path);
      continue;
    }
    if (!std::filesystem::is_directory(path, ec)) {
      return absl::NotFoundError(absl::StrCat("no such file or directory: ", path));
    }
    auto options = std::filesystem::directory_options::skip_permission_denied;
    for (auto it = std::filesystem::recursive_directory_iterator(path, options, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec) && it->path().extension() == ".py") {
        files.push_back(it->path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::pair<std::string, int>> Top(const std::map<std::string, int>& counts, size_t n) {
  std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

int Audit(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, {"config"}, {"json"}, true);
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional().empty()) {
    return Fail(absl::InvalidArgumentError("audit wants at least one PATH"));
  }
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<std::vector<std::string>> files = PythonFiles(flags->positional());
  if (!files.ok()) return Fail(files.status());

  Tally tally;
  Progress progress(files->size(), isatty(STDERR_FILENO));
  for (const std::string& file : *files) {
    progress.Tick();
    absl::StatusOr<std::string> text = ReadInput(file);
    ++tally.files;
    if (!text.ok()) {
      ++tally.files_unparsed;
      continue;
    }
    for (const FunctionTokenizeResult& f : TokenizeFunctions(*engine, *text)) {
      if (f.name.empty()) {  // the file itself did not parse
        ++tally.files_unparsed;
        continue;
      }
      ++tally.functions;
      if (f.result.ok) {
        ++tally.ok;
        continue;
      }
      const TokenizeError& e = *f.result.error;
      const std::string stage(TokenizeStageName(e.stage).data(), TokenizeStageName(e.stage).size());
      ++tally.by_stage[stage];
      ++tally.by_node_type[e.node_type];
      auto& reason = tally.reasons[{stage, e.node_type}];
      if (reason.first++ == 0) {
        reason.second = absl::StrCat(file, ":", e.line, ": ", e.message);
      }
    }
  }
  std::map<std::string, int> reason_counts;
  for (const auto& [key, value] : tally.reasons) {
    reason_counts[absl::StrCat(key.first, "\t", key.second)] = value.first;
  }
  const auto top_reasons = Top(reason_counts, 15);
  const int failed = tally.functions - tally.ok;
  if (flags->Switch("json")) {
    json::Writer w;
    w.BeginObject();
    w.Key("files");
    w.Int(tally.files);
    w.Key("files_unparsed");
    w.Int(tally.files_unparsed);
    w.Key("functions");
    w.Int(tally.functions);
    w.Key("ok");
    w.Int(tally.ok);
    for (const auto& [key, counts] :
         {std::make_pair("by_stage", &tally.by_stage), std::make_pair("by_node_type", &tally.by_node_type)}) {
      w.Key(key);
      w.BeginObject();
      for (const auto& [name, count] : Top(*counts, 1000)) {
        w.Key(name);
        w.Int(count);
      }
      w.EndObject();
    }
    w.Key("top_reasons");
    w.BeginArray();
    for (const auto& [key, count] : top_reasons) {
      const size_t tab = key.find('\t');
      const auto& reason = tally.reasons[{key.substr(0, tab), key.substr(tab + 1)}];
      w.BeginObject();
      w.Key("stage");
      w.String(key.substr(0, tab));
      w.Key("node_type");
      w.String(key.substr(tab + 1));
      w.Key("count");
      w.Int(count);
      w.Key("example");
      w.String(reason.second);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::cout << w.str() << "\n";
    return 0;
  }
  auto pct = [](int part, int whole) { return whole ? 100.0 * part / whole : 0.0; };
  std::cout << absl::StrFormat("files        %8d  (%d did not parse)\n", tally.files,
                               tally.files_unparsed)
            << absl::StrFormat("functions    %8d\n", tally.functions)
            << absl::StrFormat("ok           %8d  %5.1f%%\n", tally.ok, pct(tally.ok, tally.functions))
            << "\nfailures by stage\n";
  for (const auto& [stage, count] : Top(tally.by_stage, 100)) {
    std::cout << absl::StrFormat("  %-20s %8d  %5.1f%%\n", stage, count, pct(count, failed));
  }
  std::cout << "\nfailures by node type (top 20)\n";
  for (const auto& [type, count] : Top(tally.by_node_type, 20)) {
    std::cout << absl::StrFormat("  %-24s %8d  %5.1f%%\n", type.empty() ? "-" : type, count,
                                 pct(count, failed));
  }
  std::cout << "\ntop reasons (stage, node type: count, first example)\n";
  for (const auto& [key, count] : top_reasons) {
    const size_t tab = key.find('\t');
    const auto& reason = tally.reasons[{key.substr(0, tab), key.substr(tab + 1)}];
    std::cout << absl::StrFormat("  %-18s %-20s %7d  %s\n", key.substr(0, tab),
                                 key.substr(tab + 1), count, reason.second);
  }
  return 0;
}

}  // namespace astcd::cli
