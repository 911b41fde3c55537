// The astcd side of the Run-versus-CPython benchmark (bench/cpython/run.py drives it).
//
// usage: run_bench --programs FILE --outcomes OUT [--config JSON] [--max-steps N]
//
// FILE has one JSON object a line, {"tokens": [...], "source": "...", "args": [[...], ...]}:
// a FUNCTION program sampled by `astcd sample` and its argument tuples. CPython's side
// (bench/cpython/worker.py) reads the same file and runs the source.
//
// Startup (untimed; it is also the warm-up): each program is compiled with
// Program::FromTokens and run once on each of its tuples. The outcomes go to OUT, one line per
// program, {"status": ["ok", "zero_division", ...], "value": [7, true, null, ...]}, so that the
// CPython side can check them. The calls that are timed are those whose outcome CPython shares
// (ok and zero_division): an overflow stops our run where CPython goes on with big ints, and a
// step_limit stops a loop CPython would run to the end, so neither is equal work. Then:
//   {"event":"ready","programs":P,"calls":C,"timed_programs":p,"timed_calls":c,
//    "timed_steps":s,"by_status":{...}}
//
// Then one command per stdin line, a JSON object:
//   {"cmd":"time","subset":"calls"|"compile_calls","min_seconds":S}
// "calls" runs Program::Run on every timed call of the compiled programs; "compile_calls" also
// compiles each program (Program::FromTokens) before its calls. Whole passes run until S
// seconds of this thread's CPU time have passed (at least one); then
//   {"event":"timing","subset":...,"passes":P,"seconds":T,"wall_seconds":W,"calls":c,
//    "programs":p,"checksum":x}
// where T is CPU time (what the rates use: the machines are shared) and W wall time.
// End of input ends the program.

#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_timing.h"
#include "cli/config_json.h"
#include "cli/json.h"
#include "core/engine.h"
#include "core/interpreter.h"

namespace astcd {
namespace {

struct Item {
  std::vector<int32_t> tokens;
  std::vector<std::vector<int64_t>> args;  // every tuple
  std::optional<Program> program;
  std::vector<std::vector<int64_t>> timed;  // the tuples whose outcome CPython shares
};

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID, as CPython's time.thread_time()): on a
// shared machine it leaves out the time the process waits for a core.
int Fail(const std::string& message) {
  std::cerr << "run_bench: " << message << "\n";
  return 1;
}

void WriteValue(json::Writer& w, const Value& v) {
  if (v.is_none()) {
    w.Null();
  } else if (v.is_bool()) {
    w.Bool(v.i != 0);
  } else {
    w.Int(v.i);
  }
}

int Main(int argc, char** argv) {
  std::string programs_path, outcomes_path, config_text;
  int64_t max_steps = RunOptions{}.max_steps;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--programs" && i + 1 < argc) {
      programs_path = argv[++i];
    } else if (arg == "--outcomes" && i + 1 < argc) {
      outcomes_path = argv[++i];
    } else if (arg == "--config" && i + 1 < argc) {
      config_text = argv[++i];
    } else if (arg == "--max-steps" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &max_steps)) {
      ++i;
    } else {
      std::cerr << "usage: run_bench --programs FILE --outcomes OUT [--config JSON] "
                   "[--max-steps N]\n";
      return 2;
    }
  }
  if (programs_path.empty() || outcomes_path.empty()) {
    return Fail("--programs FILE and --outcomes OUT are required");
  }
  DecodeConfig config;
  if (!config_text.empty()) {
    absl::StatusOr<DecodeConfig> parsed = DecodeConfigFromJsonText(config_text);
    if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
    config = *parsed;
  }
  absl::StatusOr<std::shared_ptr<const Engine>> engine = Engine::Create(config);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));

  std::vector<Item> items;
  {
    std::ifstream in(programs_path, std::ios::binary);
    if (!in) return Fail(absl::StrCat("cannot read ", programs_path));
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      const std::string where = absl::StrCat(programs_path, ":", line_no);
      absl::StatusOr<json::Value> v = json::Parse(line);
      if (!v.ok() || !v->is_object()) return Fail(absl::StrCat(where, ": not a JSON object"));
      const json::Value* tokens = v->Find("tokens");
      const json::Value* args = v->Find("args");
      if (tokens == nullptr || !tokens->is_array() || args == nullptr || !args->is_array()) {
        return Fail(absl::StrCat(where, ": wants \"tokens\" and \"args\""));
      }
      Item item;
      for (const json::Value& t : tokens->as_array()) {
        item.tokens.push_back(static_cast<int32_t>(t.as_int()));
      }
      for (const json::Value& tuple : args->as_array()) {
        std::vector<int64_t> a;
        for (const json::Value& x : tuple.as_array()) a.push_back(x.as_int());
        item.args.push_back(std::move(a));
      }
      absl::StatusOr<Program> program =
          Program::FromTokens(*engine, Start::kFunction, std::nullopt, item.tokens);
      if (!program.ok()) return Fail(absl::StrCat(where, ": ", program.status().message()));
      item.program = *std::move(program);
      items.push_back(std::move(item));
    }
  }

  // Every call once: the outcomes CPython checks, and the set of timed calls.
  RunOptions run_options;
  run_options.max_steps = max_steps;
  std::map<std::string, int64_t> by_status;
  int64_t calls = 0, timed_calls = 0, timed_programs = 0, timed_steps = 0;
  {
    std::ofstream out(outcomes_path, std::ios::binary);
    if (!out) return Fail(absl::StrCat("cannot write ", outcomes_path));
    for (Item& item : items) {
      json::Writer status, value;
      status.BeginArray();
      value.BeginArray();
      for (const std::vector<int64_t>& a : item.args) {
        absl::StatusOr<RunOutcome> r = item.program->Run(a, run_options);
        if (!r.ok()) return Fail(std::string(r.status().message()));
        ++calls;
        ++by_status[Str(RunStatusName(r->status))];
        status.String(Str(RunStatusName(r->status)));
        WriteValue(value, r->value);
        if (r->status == RunStatus::kOk || r->status == RunStatus::kZeroDivision) {
          item.timed.push_back(a);
          timed_steps += r->steps;
        }
      }
      status.EndArray();
      value.EndArray();
      out << "{\"status\":" << status.str() << ",\"value\":" << value.str() << "}\n";
      timed_calls += static_cast<int64_t>(item.timed.size());
      if (!item.timed.empty()) ++timed_programs;
    }
    out.close();
    if (!out) return Fail(absl::StrCat("cannot write ", outcomes_path));
  }
  {
    json::Writer w;
    w.BeginObject();
    w.Key("event");
    w.String("ready");
    w.Key("programs");
    w.Int(static_cast<int64_t>(items.size()));
    w.Key("calls");
    w.Int(calls);
    w.Key("timed_programs");
    w.Int(timed_programs);
    w.Key("timed_calls");
    w.Int(timed_calls);
    w.Key("timed_steps");
    w.Int(timed_steps);
    w.Key("by_status");
    w.BeginObject();
    for (const auto& [name, count] : by_status) {
      w.Key(name);
      w.Int(count);
    }
    w.EndObject();
    w.EndObject();
    std::cout << w.str() << std::endl;
  }

  std::string line;
  while (std::getline(std::cin, line)) {
    absl::StatusOr<json::Value> cmd = json::Parse(line);
    if (!cmd.ok() || !cmd->is_object()) return Fail(absl::StrCat("bad command: ", line));
    const json::Value* subset_v = cmd->Find("subset");
    const json::Value* min_v = cmd->Find("min_seconds");
    const std::string subset = subset_v != nullptr ? subset_v->as_string() : "";
    if (subset != "calls" && subset != "compile_calls") {
      return Fail(absl::StrCat("bad subset: ", line));
    }
    const bool compile = subset == "compile_calls";
    const double min_seconds = min_v != nullptr ? min_v->as_double() : 0.0;

    uint64_t checksum = 0;  // wraps; only keeps the work observable
    std::string error;
    const bench::Passes timing = bench::RepeatForCpuSeconds(min_seconds, [&] {
      for (const Item& item : items) {
        if (item.timed.empty()) continue;
        if (compile) {
          absl::StatusOr<Program> program =
              Program::FromTokens(*engine, Start::kFunction, std::nullopt, item.tokens);
          if (!program.ok()) {
            error = std::string(program.status().message());
            return;
          }
          for (const std::vector<int64_t>& a : item.timed) {
            absl::StatusOr<RunOutcome> r = program->Run(a, run_options);
            checksum += static_cast<uint64_t>(r->value.i) + static_cast<uint64_t>(r->status);
          }
        } else {
          for (const std::vector<int64_t>& a : item.timed) {
            absl::StatusOr<RunOutcome> r = item.program->Run(a, run_options);
            checksum += static_cast<uint64_t>(r->value.i) + static_cast<uint64_t>(r->status);
          }
        }
      }
    });
    if (!error.empty()) return Fail(error);

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
    t.Key("calls");
    t.Int(timed_calls);
    t.Key("programs");
    t.Int(timed_programs);
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
