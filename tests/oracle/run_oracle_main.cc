// The C++ half of the differential test of Run against CPython (tests/oracle/run_oracle.py).
//
// For a fixed list of configs it samples programs with Decode (uniform and weighted samplers,
// fixed seeds), compiles each with Program::Compile, runs it on several argument tuples (small
// ints, 0, negatives, values at and near the ends of value_range) and prints one JSON line per
// run:
//   {"case": ..., "source": ..., "start": ..., "arity": ..., "entry_name": ..., "args": [...],
//    "value_range": [lo, hi], "max_steps": N, "status": ..., "value": <int|true|false|null>,
//    "value_type": "int"|"bool"|"none", "steps": N, "locals": {"a": 1, "c": true, ...},
//    "message": ...}
// The output depends only on the code: every seed is fixed.
//
// usage: run_oracle [--scale K]   (K >= 1 multiplies the number of programs per case)
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/json.h"
#include "core/codec.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/vocabulary.h"

namespace astcd {
namespace {

struct Case {
  std::string name;
  Start start;
  std::string sampler;       // "uniform" or "weighted"
  int programs;              // at --scale 1
  int inputs;                // argument tuples per program
  int max_len;               // token budget per program
  std::optional<int> arity;  // BLOCK and EXPR roots
  int64_t max_steps;
  uint64_t seed;
  std::function<void(DecodeConfig&)> tweak;
};

constexpr int64_t kSmall = 1000;
constexpr int64_t kBig = int64_t{1} << 62;

std::vector<Case> Cases() {
  auto loops = [](int control, int stmts) {
    return [=](DecodeConfig& c) {
      c.allow_loops = true;
      c.max_control_depth = control;
      c.max_block_stmts = stmts;
    };
  };
  return {
      {"default-module-uniform", Start::kModule, "uniform", 300, 4, 90, std::nullopt, 1000, 11,
       [](DecodeConfig&) {}},
      {"default-function-weighted", Start::kFunction, "weighted", 300, 4, 80, std::nullopt, 1000,
       12, [](DecodeConfig&) {}},
      {"small-range-function-uniform", Start::kFunction, "uniform", 300, 4, 80, std::nullopt, 1000,
       13,
       [](DecodeConfig& c) {
         c.value_range = {-kSmall, kSmall};
       }},
      {"small-range-loops-function-uniform", Start::kFunction, "uniform", 300, 4, 90, std::nullopt,
       2000, 14,
       [=](DecodeConfig& c) {
         loops(3, 4)(c);
         c.value_range = {-kSmall, kSmall};
       }},
      {"small-range-loops-module-weighted", Start::kModule, "weighted", 300, 4, 120, std::nullopt,
       2000, 15,
       [=](DecodeConfig& c) {
         loops(3, 6)(c);
         c.value_range = {-kSmall, kSmall};
       }},
      {"default-loops-module-weighted", Start::kModule, "weighted", 240, 4, 120, std::nullopt, 3000,
       16, loops(3, 5)},
      {"tiny-range-expr-uniform", Start::kExpr, "uniform", 400, 4, 40, 2, 100, 17,
       [](DecodeConfig& c) {
         c.value_range = {-20, 20};
         c.max_expr_depth = 6;
       }},
      {"default-expr-weighted", Start::kExpr, "weighted", 300, 4, 40, 3, 100, 18,
       [](DecodeConfig& c) { c.max_expr_depth = 6; }},
      {"block-loops-weighted", Start::kBlock, "weighted", 300, 4, 80, 2, 200, 19,
       [=](DecodeConfig& c) {
         loops(3, 5)(c);
         c.value_range = {-kSmall, kSmall};
       }},
      {"block-loops-uniform-step-cap", Start::kBlock, "uniform", 240, 4, 100, 1, 20, 20,
       loops(4, 6)},
      {"big-range-loops-function-weighted", Start::kFunction, "weighted", 300, 4, 100, std::nullopt,
       2000, 21,
       [=](DecodeConfig& c) {
         loops(3, 5)(c);
         c.value_range = {-kBig, kBig};
         c.const_range = {0, 1000};
       }},
      {"asymmetric-range-function-uniform", Start::kFunction, "uniform", 240, 4, 80, std::nullopt,
       1000, 22,
       [=](DecodeConfig& c) {
         loops(2, 4)(c);
         c.value_range = {-7, 300};
         c.const_range = {0, 12};
       }},
      {"arity0-loops", Start::kFunction, "uniform", 160, 1, 80, std::nullopt, 500, 23,
       [=](DecodeConfig& c) {
         loops(3, 4)(c);
         c.arities = {0};
         c.value_range = {-kSmall, kSmall};
       }},
      {"loops-step-cap-weighted", Start::kFunction, "weighted", 300, 4, 120, std::nullopt, 12, 25,
       loops(4, 6)},
      {"loops-step-cap-uniform", Start::kFunction, "uniform", 300, 4, 60, std::nullopt, 15, 26,
       loops(3, 4)},
      {"wide-module-weighted", Start::kModule, "weighted", 160, 4, 250, std::nullopt, 5000, 24,
       [=](DecodeConfig& c) {
         loops(4, 8)(c);
         c.arities = {4, 5, 6};
         c.max_locals = 10;
         c.max_expr_depth = 8;
         c.const_range = {0, 300};
       }},
  };
}

// An argument: mostly small values, 0 and negatives, sometimes the ends of the range.
int64_t Argument(Rng& rng, int64_t lo, int64_t hi) {
  auto uniform = [&](int64_t a, int64_t b) {  // in [a, b], clipped to the range
    a = std::max(a, lo);
    b = std::min(b, hi);
    // In uint64, so that a range of width 2^63 does not overflow; C++20 converts back
    // modulo 2^64.
    const uint64_t width = static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
    return static_cast<int64_t>(static_cast<uint64_t>(a) + rng.Below(width + 1));
  };
  switch (rng.Below(10)) {
    case 0:
      return 0;
    case 1:
    case 2:
    case 3:
      return uniform(-3, 3);
    case 4:
      return uniform(-12, 12);
    case 5:
      return uniform(-200, 200);
    case 6:
      return uniform(lo, hi);
    case 7:
      return lo + static_cast<int64_t>(rng.Below(3));  // lo, lo + 1, lo + 2
    case 8:
      return hi - static_cast<int64_t>(rng.Below(3));
    default:
      return rng.Below(2) ? uniform(lo / 2 - 2, lo / 2 + 2) : uniform(hi / 2 - 2, hi / 2 + 2);
  }
}

void WriteValue(json::Writer& w, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNone:
      w.Null();
      break;
    case Value::Kind::kBool:
      w.Bool(v.i != 0);
      break;
    case Value::Kind::kInt:
      w.Int(v.i);
      break;
  }
}

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

int Fail(const std::string& where, const absl::Status& status) {
  std::cerr << "run_oracle: " << where << ": " << status << "\n";
  return 1;
}

int Main(int argc, char** argv) {
  int scale = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--scale" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &scale) && scale >= 1 &&
        scale <= 1000) {
      ++i;
      continue;
    }
    std::cerr << "usage: run_oracle [--scale K]\n";
    return 2;
  }
  std::string out;
  for (const Case& c : Cases()) {
    DecodeConfig config;
    c.tweak(config);
    absl::StatusOr<std::shared_ptr<const Engine>> engine = Engine::Create(config);
    if (!engine.ok()) return Fail(c.name, engine.status());
    absl::StatusOr<std::unique_ptr<Sampler>> sampler =
        MakeSampler(c.sampler, c.seed, PolicyConfig{}, *engine);
    if (!sampler.ok()) return Fail(c.name, sampler.status());
    InitRequest request;
    request.start = c.start;
    request.arity = c.arity;
    request.max_len = c.max_len;
    absl::StatusOr<DecodeState> state = InitState(*engine, request);
    if (!state.ok()) return Fail(c.name, state.status());
    DecodeOptions options;
    options.n = c.programs * scale;
    options.render_source = false;
    absl::StatusOr<DecodeBatch> batch = Decode({*state}, **sampler, options);
    if (!batch.ok()) return Fail(c.name, batch.status());

    const auto [lo, hi] = config.value_range;
    Rng rng(c.seed * 7919 + 1);
    RunOptions run_options;
    run_options.max_steps = c.max_steps;
    run_options.locals = true;
    for (const DecodeResult& r : batch->results) {
      const std::string where = absl::StrCat(c.name, " sample ", r.sample_index);
      if (!r.complete) return Fail(where, absl::InternalError("incomplete sample"));
      absl::StatusOr<Ast> ast = TokensToAst(*engine, c.start, c.arity, r.tokens, false);
      if (!ast.ok()) return Fail(where, ast.status());
      // Modules: the default entry (the last function) two times in three, else any.
      std::optional<int> entry;
      if (c.start == Start::kModule && rng.Below(3) == 0) {
        entry = static_cast<int>(rng.Below(static_cast<uint64_t>(ast->root->num_children)));
      }
      absl::StatusOr<Program> program = Program::Compile(*ast, config, entry);
      if (!program.ok()) return Fail(where, program.status());
      const std::string source = AstToSource(*ast);
      for (int k = 0; k < c.inputs; ++k) {
        std::vector<int64_t> args;
        for (int i = 0; i < program->arity(); ++i) args.push_back(Argument(rng, lo, hi));
        absl::StatusOr<RunOutcome> outcome = program->Run(args, run_options);
        if (!outcome.ok()) return Fail(where, outcome.status());
        json::Writer w;
        w.BeginObject();
        w.Key("case");
        w.String(c.name);
        w.Key("source");
        w.String(source);
        w.Key("start");
        w.String(Str(StartName(c.start)));
        w.Key("arity");
        w.Int(program->arity());
        w.Key("entry_name");
        w.String(program->entry_name());
        w.Key("args");
        w.BeginArray();
        for (int64_t a : args) w.Int(a);
        w.EndArray();
        w.Key("value_range");
        w.BeginArray();
        w.Int(lo);
        w.Int(hi);
        w.EndArray();
        w.Key("max_steps");
        w.Int(c.max_steps);
        w.Key("status");
        w.String(Str(RunStatusName(outcome->status)));
        w.Key("value");
        WriteValue(w, outcome->value);
        w.Key("value_type");
        w.String(Str(outcome->value.TypeName()));
        w.Key("steps");
        w.Int(outcome->steps);
        w.Key("locals");
        w.BeginObject();
        for (const auto& [var, value] : outcome->locals) {
          w.Key(VariableName(var));
          WriteValue(w, value);
        }
        w.EndObject();
        w.Key("message");
        w.String(outcome->message);
        w.EndObject();
        absl::StrAppend(&out, w.str(), "\n");
      }
    }
    std::cout << out;
    out.clear();
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

}  // namespace
}  // namespace astcd

int main(int argc, char** argv) { return astcd::Main(argc, argv); }
