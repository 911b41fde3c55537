// The astcd side of the Tokenize-versus-CPython benchmark (bench/cpython/run.py drives it).
//
// usage: tokenize_bench --sources FILE [--config JSON] [--audit]
//
// FILE holds Python sources in the format of bench/cpython/sources.py (written by
// bench/cpython/extract_functions.py, or by run.py for sampled programs); CPython's side
// (bench/cpython/worker.py) reads the same file. Each source is one function, tokenized on its
// own with Tokenize(engine, source, {.start = FUNCTION}), as `astcd audit` does.
//
// Startup (untimed; it is also the warm-up): one pass that tokenizes every source and checks
// it against CPython's verdict stored in the file ("compiles"): a python_parse error on a source
// CPython compiles, or an ok result on one it refuses, is a disagreement. With --audit, every
// file named in FILE is also run through TokenizeFunctions (what `astcd audit` calls) and each
// function's outcome is compared with the outcome of its extracted source. Then one JSON line:
//   {"event":"ready","functions":N,"bytes":B,"ok":K,"ok_indices":[...],"by_stage":{...},
//    "disagreements":[...],"audit":{...}}
//
// Then one command per stdin line, a JSON object:
//   {"cmd":"time","subset":"all"|"ok","min_seconds":S}
// runs whole passes over the subset until S seconds of this thread's CPU time have passed (at
// least one) and prints
//   {"event":"timing","subset":...,"passes":P,"seconds":T,"wall_seconds":W,"functions":n,
//    "bytes":b,"checksum":c}
// where T is CPU time (what the rates use: the machines are shared) and W wall time.
// End of input ends the program.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_timing.h"
#include "cli/config_json.h"
#include "cli/json.h"
#include "core/engine.h"
#include "core/tokenize.h"

namespace astcd {
namespace {

struct Source {
  std::string text;
  bool compiles = true;
  std::string file;
  int line = 0;
  std::string name;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::vector<Source>> ReadSources(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) return data.status();
  const std::string magic = "astcd-function-sources 1\n";
  if (data->compare(0, magic.size(), magic) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an astcd-function-sources file"));
  }
  std::vector<Source> out;
  size_t pos = magic.size();
  while (pos < data->size()) {
    const size_t end = data->find('\n', pos);
    if (end == std::string::npos) break;
    std::vector<std::string> fields = absl::StrSplit(data->substr(pos, end - pos), '\t');
    size_t nbytes = 0;
    Source s;
    if (fields.size() != 5 || !absl::SimpleAtoi(fields[0], &nbytes) ||
        !absl::SimpleAtoi(fields[3], &s.line) || end + 1 + nbytes >= data->size() ||
        (*data)[end + 1 + nbytes] != '\n') {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad record at byte ", pos));
    }
    s.compiles = fields[1] == "1";
    s.file = fields[2];
    s.name = fields[4];
    s.text = data->substr(end + 1, nbytes);
    out.push_back(std::move(s));
    pos = end + 1 + nbytes + 1;
  }
  return out;
}

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

// "ok", or "stage node_type": what the audit tallies.
std::string Outcome(const TokenizeResult& r) {
  if (r.ok) return "ok";
  return absl::StrCat(TokenizeStageName(r.error->stage), " ", r.error->node_type);
}

// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID, as CPython's time.thread_time()): on a
// shared machine it leaves out the time the process waits for a core.
int Fail(const std::string& message) {
  std::cerr << "tokenize_bench: " << message << "\n";
  return 1;
}

int Main(int argc, char** argv) {
  std::string sources_path;
  std::string config_text;
  bool audit = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--sources" && i + 1 < argc) {
      sources_path = argv[++i];
    } else if (arg == "--config" && i + 1 < argc) {
      config_text = argv[++i];
    } else if (arg == "--audit") {
      audit = true;
    } else {
      std::cerr << "usage: tokenize_bench --sources FILE [--config JSON] [--audit]\n";
      return 2;
    }
  }
  if (sources_path.empty()) return Fail("--sources FILE is required");
  DecodeConfig config;
  if (!config_text.empty()) {
    absl::StatusOr<DecodeConfig> parsed = DecodeConfigFromJsonText(config_text);
    if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
    config = *parsed;
  }
  absl::StatusOr<std::shared_ptr<const Engine>> engine = Engine::Create(config);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  absl::StatusOr<std::vector<Source>> sources = ReadSources(sources_path);
  if (!sources.ok()) return Fail(std::string(sources.status().message()));

  TokenizeOptions options;
  options.start = Start::kFunction;

  // The classification pass (also the warm-up) and the checks against CPython.
  std::vector<int> all, ok;
  int64_t all_bytes = 0, ok_bytes = 0;
  std::map<std::string, int> by_stage;
  std::vector<std::string> disagreements;
  std::vector<std::string> outcomes;
  for (size_t i = 0; i < sources->size(); ++i) {
    const Source& s = (*sources)[i];
    const TokenizeResult r = Tokenize(*engine, s.text, options);
    all.push_back(static_cast<int>(i));
    all_bytes += static_cast<int64_t>(s.text.size());
    ++by_stage[r.ok ? "ok" : Str(TokenizeStageName(r.error->stage))];
    outcomes.push_back(Outcome(r));
    if (r.ok) {
      ok.push_back(static_cast<int>(i));
      ok_bytes += static_cast<int64_t>(s.text.size());
    }
    const bool python_parse = !r.ok && r.error->stage == TokenizeStage::kPythonParse;
    if ((s.compiles && python_parse) || (!s.compiles && r.ok)) {
      disagreements.push_back(absl::StrCat(
          s.file, ":", s.line, " ", s.name, ": CPython ", s.compiles ? "compiles" : "refuses",
          " it, astcd says ", Outcome(r), r.ok ? "" : absl::StrCat(" (", r.error->message, ")")));
    }
  }

  json::Writer w;
  w.BeginObject();
  w.Key("event");
  w.String("ready");
  w.Key("functions");
  w.Int(static_cast<int64_t>(all.size()));
  w.Key("bytes");
  w.Int(all_bytes);
  w.Key("ok");
  w.Int(static_cast<int64_t>(ok.size()));
  w.Key("ok_bytes");
  w.Int(ok_bytes);
  w.Key("ok_indices");
  w.BeginArray();
  for (int i : ok) w.Int(i);
  w.EndArray();
  w.Key("by_stage");
  w.BeginObject();
  for (const auto& [stage, count] : by_stage) {
    w.Key(stage);
    w.Int(count);
  }
  w.EndObject();
  w.Key("disagreements");
  w.BeginArray();
  for (const std::string& d : disagreements) w.String(d);
  w.EndArray();

  if (audit) {
    // TokenizeFunctions over each file, matched to the extracted sources by (file, def line).
    std::map<std::pair<std::string, int>, size_t> index;
    std::vector<std::string> files;
    for (size_t i = 0; i < sources->size(); ++i) {
      const Source& s = (*sources)[i];
      if (files.empty() || files.back() != s.file) files.push_back(s.file);
      index[{s.file, s.line}] = i;
    }
    int matched = 0, same = 0, audit_ok = 0;
    std::vector<std::string> mismatches;
    for (const std::string& file : files) {
      absl::StatusOr<std::string> text = ReadFile(file);
      if (!text.ok()) return Fail(std::string(text.status().message()));
      for (const FunctionTokenizeResult& f : TokenizeFunctions(*engine, *text)) {
        auto it = index.find({file, f.line});
        if (f.name.empty() || it == index.end()) continue;  // not extracted (--every)
        ++matched;
        if (f.result.ok) ++audit_ok;
        const std::string audit_outcome = Outcome(f.result);
        if (audit_outcome == outcomes[it->second]) {
          ++same;
        } else {
          mismatches.push_back(absl::StrCat(file, ":", f.line, " ", f.name, ": audit ",
                                            audit_outcome, ", extracted source ",
                                            outcomes[it->second]));
        }
      }
    }
    w.Key("audit");
    w.BeginObject();
    w.Key("matched");
    w.Int(matched);
    w.Key("ok");
    w.Int(audit_ok);
    w.Key("same_outcome");
    w.Int(same);
    w.Key("mismatches");
    w.BeginArray();
    for (const std::string& m : mismatches) w.String(m);
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  std::cout << w.str() << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    absl::StatusOr<json::Value> cmd = json::Parse(line);
    if (!cmd.ok() || !cmd->is_object()) return Fail(absl::StrCat("bad command: ", line));
    const json::Value* subset_v = cmd->Find("subset");
    const json::Value* min_v = cmd->Find("min_seconds");
    const std::string subset = subset_v != nullptr ? subset_v->as_string() : "";
    if (subset != "all" && subset != "ok") return Fail(absl::StrCat("bad subset: ", line));
    const double min_seconds = min_v != nullptr ? min_v->as_double() : 0.0;
    const std::vector<int>& indices = subset == "all" ? all : ok;
    const int64_t bytes = subset == "all" ? all_bytes : ok_bytes;

    uint64_t checksum = 0;  // wraps; only keeps the work observable
    const bench::Passes timing = bench::RepeatForCpuSeconds(min_seconds, [&] {
      for (int i : indices) {
        const TokenizeResult r = Tokenize(*engine, (*sources)[i].text, options);
        checksum += r.tokens.size() + (r.ok ? 1 : 0);
      }
    });

    json::Writer t;
    t.BeginObject();
    t.Key("event");
    t.String("timing");
    t.Key("subset");
    t.String(subset);
    t.Key("passes");
    t.Int(timing.passes);
    t.Key("seconds");
    t.Double(timing.cpu_seconds);
    t.Key("wall_seconds");
    t.Double(timing.wall_seconds);
    t.Key("functions");
    t.Int(static_cast<int64_t>(indices.size()));
    t.Key("bytes");
    t.Int(bytes);
    t.Key("checksum");
    t.Int(static_cast<int64_t>(checksum));
    t.EndObject();
    std::cout << t.str() << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace astcd

int main(int argc, char** argv) { return astcd::Main(argc, argv); }
