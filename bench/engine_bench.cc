// Single-threaded micro-benchmarks of the decoding engine (docs/benchmarks.md).
//
//   FillMask/<cfg>          one DecodeState::FillMask on a pool of mid-program states
//   Advance/<cfg>           DecodeState::Advance (legality check + apply) per token, replaying
//                           recorded programs into fresh states made outside the timed region
//   Step/<cfg>              FillMask + UniformSampler::Choose + Advance per token, whole programs
//   Fork/<cfg>/max_len:<n>  copy (and destroy) of a mid-program DecodeState
//   Decode/<cfg>/<sampler>/render:<0|1>
//                           astcd::Decode of n=64 programs from the MODULE root, tokens/s
//   Decode/default/uniform/render:0/interrupt
//                           the same with an interrupt that reads the clock (a deadline check)
//   Rollback/long/<k>       Rollback(k) of a ~60,000-token state; checkpoint bytes per token
//   Run/loop                Program::Run of a 2,000,003-step `for` loop: the run loop, ns/step
//   Run/call                Program::Run of a one-statement function: the per-call cost
//   Run/*/interrupt         the same with an interrupt that reads the clock
//
// <cfg> is "default" (DecodeConfig{}) or "loops" (DecodeConfig{} with allow_loops = true);
// Fork also runs on "large" (16 functions, 16 statements per block, max_len 1024).
// Every setup is deterministic (fixed seeds) and takes a few milliseconds, so the binary also
// serves as a smoke test with --benchmark_min_time=0.01.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/interpreter.h"
#include "core/sampler.h"

namespace astcd {
namespace {

constexpr int kPoolSize = 1024;     // mid-program states per FillMask / Fork pool
constexpr int kPrograms = 256;      // recorded programs per Advance / Step corpus
constexpr int kDecodeN = 64;        // programs per astcd::Decode call

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "engine_bench: %s: %s\n", what, std::string(v.status().message()).c_str());
    std::abort();
  }
  return *std::move(v);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "engine_bench: %s: %s\n", what, std::string(s.message()).c_str());
    std::abort();
  }
}

// One configuration: its engine, its MODULE root state, a pool of mid-program states, and
// recorded complete programs (token streams ending with EOS).
struct Corpus {
  std::string name;
  std::shared_ptr<const Engine> engine;
  std::optional<DecodeState> root_;  // DecodeState has no public default constructor
  const DecodeState& root() const { return *root_; }
  std::vector<DecodeState> pool;                 // non-terminated, uniformly over positions
  std::vector<std::vector<int32_t>> programs;    // whole programs, EOS included
  size_t program_tokens = 0;                     // sum of programs[i].size()
};

// Random walk with the uniform sampler from `root` to EOS; calls visit(state) before every step.
template <typename Visit>
std::vector<int32_t> Walk(const DecodeState& root, uint64_t seed, Visit&& visit) {
  const UniformSampler sampler(seed);
  Rng rng(seed);
  DecodeState s = Fork(root);
  absl::InlinedVector<uint32_t, 64> mask(root.engine().words());
  while (!s.terminated()) {
    visit(s);
    s.FillMask(mask.data());
    Check(s.Advance(sampler.Choose(s, mask.data(), rng)), "walk advance");
  }
  return s.tokens();
}

Corpus MakeCorpus(std::string name, const DecodeConfig& config, int max_len) {
  Corpus c;
  c.name = std::move(name);
  c.engine = Check(Engine::Create(config), "Engine::Create");
  InitRequest req;
  req.start = Start::kModule;
  req.max_len = max_len;
  c.root_ = Check(InitState(c.engine, req), "InitState");

  // Programs: walks with seeds 1000 .. 1000 + kPrograms - 1.
  for (uint64_t p = 0; p < kPrograms; ++p) {
    c.programs.push_back(Walk(c.root(), 1000 + p, [](const DecodeState&) {}));
    c.program_tokens += c.programs.back().size();
  }
  // Pool: from further walks, keep each visited state with probability 1/8, so the pool is
  // spread over every position of many different programs (weighted by time spent there,
  // as a real decode is).
  Rng pick(42);
  for (uint64_t p = 0; c.pool.size() < kPoolSize; ++p) {
    Walk(c.root(), 5000 + p, [&](const DecodeState& s) {
      if (c.pool.size() < kPoolSize && pick.Below(8) == 0) c.pool.push_back(Fork(s));
    });
  }
  return c;
}

double MeanTokens(const std::vector<DecodeState>& states) {
  double sum = 0;
  for (const DecodeState& s : states) sum += s.num_tokens();
  return sum / static_cast<double>(states.size());
}

void SetTokenCounters(benchmark::State& st, int64_t tokens) {
  st.SetItemsProcessed(tokens);
  // Seconds per token (the "ns/token" column shows it with an SI prefix, e.g. 25.1n).
  st.counters["ns/token"] = benchmark::Counter(
      static_cast<double>(tokens), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// --- 1. FillMask ------------------------------------------------------------------------------

void BM_FillMask(benchmark::State& st, const Corpus* c) {
  absl::InlinedVector<uint32_t, 64> mask(c->engine->words());
  const size_t n = c->pool.size();
  size_t i = 0;
  for (auto _ : st) {
    c->pool[i].FillMask(mask.data());
    benchmark::DoNotOptimize(mask.data());
    benchmark::ClobberMemory();
    if (++i == n) i = 0;
  }
  st.counters["words"] = c->engine->words();
  st.counters["vocab"] = c->engine->vocab().size();
}

// --- 2. Advance -------------------------------------------------------------------------------
// Each iteration replays every recorded program into its own fresh fork of the root. The forks
// are made (and the previous batch destroyed) with the timer paused, so the time is Advance
// alone: the legality check (which fills the mask), the update, and the token vector's growth.

void BM_Advance(benchmark::State& st, const Corpus* c) {
  std::vector<DecodeState> fresh;
  int64_t tokens = 0;
  for (auto _ : st) {
    st.PauseTiming();
    fresh.assign(c->programs.size(), c->root());
    st.ResumeTiming();
    for (size_t p = 0; p < c->programs.size(); ++p) {
      DecodeState& s = fresh[p];
      for (int32_t t : c->programs[p]) {
        absl::Status status = s.Advance(t);
        benchmark::DoNotOptimize(status);
      }
    }
    tokens += static_cast<int64_t>(c->program_tokens);
  }
  benchmark::DoNotOptimize(fresh.data());
  SetTokenCounters(st, tokens);
  st.counters["tokens/prog"] =
      static_cast<double>(c->program_tokens) / static_cast<double>(c->programs.size());
}

// --- 3. Step ----------------------------------------------------------------------------------
// FillMask + UniformSampler::Choose + Advance per token, over whole random programs. The fork
// of the (empty) root per program is inside the timed region; it is one shared_ptr copy and an
// empty vector, and Fork/ shows what it costs.

void BM_Step(benchmark::State& st, const Corpus* c) {
  const UniformSampler sampler(7);
  absl::InlinedVector<uint32_t, 64> mask(c->engine->words());
  uint64_t seed = 0;
  int64_t tokens = 0;
  for (auto _ : st) {
    Rng rng(StreamSeed(7, 0, seed++));
    DecodeState s = Fork(c->root());
    while (!s.terminated()) {
      s.FillMask(mask.data());
      const int32_t token = sampler.Choose(s, mask.data(), rng);
      absl::Status status = s.Advance(token);
      benchmark::DoNotOptimize(status);
    }
    tokens += s.num_tokens();
    benchmark::DoNotOptimize(s);
  }
  SetTokenCounters(st, tokens);
  st.counters["tokens/prog"] = benchmark::Counter(static_cast<double>(tokens),
                                                  benchmark::Counter::kAvgIterations);
}

// --- 4. Fork ----------------------------------------------------------------------------------
// Copy-construct a mid-program state and destroy it (a fork that is used and dropped).

void BM_Fork(benchmark::State& st, const Corpus* c) {
  const size_t n = c->pool.size();
  size_t i = 0;
  for (auto _ : st) {
    DecodeState copy = Fork(c->pool[i]);
    benchmark::DoNotOptimize(copy);
    if (++i == n) i = 0;
  }
  st.counters["mean_tokens"] = MeanTokens(c->pool);
}

// --- 5. Decode --------------------------------------------------------------------------------
// astcd::Decode of kDecodeN programs from the MODULE root per call (n = kDecodeN, one thread).
// Successive calls draw other programs (sample_offset moves on).

void BM_Decode(benchmark::State& st, const Corpus* c, const char* kind, bool render,
               bool interrupt = false) {
  std::unique_ptr<Sampler> sampler =
      Check(MakeSampler(kind, 11, PolicyConfig{}, c->engine), "MakeSampler");
  const std::vector<DecodeState> inputs = {c->root()};
  DecodeOptions options;
  options.n = kDecodeN;
  options.render_source = render;
  options.num_threads = 1;
  if (interrupt) {  // as a server's deadline check: read the clock, compare
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
    options.interrupt = [deadline] {
      return std::chrono::steady_clock::now() < deadline
                 ? absl::OkStatus()
                 : absl::DeadlineExceededError("deadline");
    };
  }
  int64_t tokens = 0;
  for (auto _ : st) {
    DecodeBatch batch = Check(Decode(inputs, *sampler, options), "Decode");
    for (const DecodeResult& r : batch.results) tokens += static_cast<int64_t>(r.new_tokens.size());
    benchmark::DoNotOptimize(batch);
    options.sample_offset = (options.sample_offset + kDecodeN) % (1 << 24);
  }
  SetTokenCounters(st, tokens);
  st.counters["tokens/prog"] = benchmark::Counter(
      static_cast<double>(tokens) / kDecodeN, benchmark::Counter::kAvgIterations);
}

// --- 5b. Rollback -----------------------------------------------------------------------------
// Rollback(k) of a long state (a walk that prefers tokens that keep the program open, to about
// 60,000 tokens), up to 64 in a row on a copy made with the timer paused (ns/rollback). Counters: the state's length, and the
// checkpoints' bytes per token (ApproxBytes less the state itself and its token vector).

const DecodeState& LongState() {
  static const DecodeState* state = [] {
    DecodeConfig config;
    config.allow_loops = true;
    config.max_functions = 16;
    config.max_block_stmts = 16;
    config.max_control_depth = 4;
    std::shared_ptr<const Engine> engine = Check(Engine::Create(config), "Engine::Create");
    InitRequest req;
    req.start = Start::kModule;
    req.max_len = 60'000;
    auto* s = new DecodeState(Check(InitState(engine, req), "InitState"));
    Rng rng(17);
    absl::InlinedVector<uint32_t, 64> mask(engine->words());
    const Vocabulary& vocab = engine->vocab();
    std::vector<int32_t> legal, open;
    while (!s->terminated()) {
      s->FillMask(mask.data());
      legal.clear();
      open.clear();
      for (int id = 0; id < vocab.size(); ++id) {
        if (!((mask[id >> 5] >> (id & 31)) & 1u)) continue;
        legal.push_back(id);
        const NodeKind node = vocab.info(id).node;
        if (node != NodeKind::kEnd && node != NodeKind::kEos) open.push_back(id);
      }
      const std::vector<int32_t>& from = open.empty() ? legal : open;
      Check(s->Advance(from[rng.Below(from.size())]), "long walk");
    }
    return s;
  }();
  return *state;
}

void BM_Rollback(benchmark::State& st) {
  const DecodeState& state = LongState();
  const int k = std::min(static_cast<int>(st.range(0)), state.num_tokens());
  // Up to 64 rollbacks in a row per copy, so that the paused timer's own cost is spread.
  const int reps = std::max(1, std::min(64, state.num_tokens() / k));
  int64_t rollbacks = 0;
  for (auto _ : st) {
    st.PauseTiming();
    DecodeState copy = state;
    st.ResumeTiming();
    for (int r = 0; r < reps; ++r) Check(Rollback(copy, k), "Rollback");
    benchmark::DoNotOptimize(copy);
    rollbacks += reps;
    st.PauseTiming();
    { DecodeState drop = std::move(copy); }
    st.ResumeTiming();
  }
  st.SetItemsProcessed(rollbacks);
  st.counters["ns/rollback"] = benchmark::Counter(
      static_cast<double>(rollbacks), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  const int64_t own = static_cast<int64_t>(sizeof(DecodeState)) +
                      static_cast<int64_t>(state.tokens().capacity() * sizeof(int32_t));
  st.counters["tokens"] = state.num_tokens();
  st.counters["checkpoint_B/token"] =
      static_cast<double>(state.ApproxBytes() - own) / state.num_tokens();
  st.counters["state_B/token"] = static_cast<double>(state.ApproxBytes()) / state.num_tokens();
}

// --- 6. Run -----------------------------------------------------------------------------------
// Program::Run of `def func(a): b = 0; for c in range(a): b += 1; return b`: with a = 10^6 it
// takes 2,000,003 steps (the loop: ns/step); with a = 0, 3 steps (the per-call cost).

void BM_Run(benchmark::State& st, int64_t arg, bool interrupt = false) {
  DecodeConfig config;
  config.allow_loops = true;
  std::shared_ptr<const Engine> engine = Check(Engine::Create(config), "Engine::Create");
  std::vector<int32_t> tokens;
  for (const char* name : {"def/1", "=", "b", "0", "for/1", "c", "a", "+=", "b", "1", "end",
                           "return", "b", "end"}) {
    std::optional<int> id = engine->vocab().Find(name);
    if (!id) Check(absl::InvalidArgumentError(name), "token");
    tokens.push_back(static_cast<int32_t>(*id));
  }
  const Program program =
      Check(Program::FromTokens(engine, Start::kFunction, std::nullopt, tokens), "FromTokens");
  RunOptions options;
  options.max_steps = kMaxStepsLimit;
  if (interrupt) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
    options.interrupt = [deadline] {
      return std::chrono::steady_clock::now() < deadline
                 ? absl::OkStatus()
                 : absl::DeadlineExceededError("deadline");
    };
  }
  const std::vector<int64_t> args = {arg};
  int64_t steps = 0;
  for (auto _ : st) {
    RunOutcome out = Check(program.Run(args, options), "Run");
    steps += out.steps;
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(steps);
  st.counters["ns/step"] = benchmark::Counter(
      static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace
}  // namespace astcd

int main(int argc, char** argv) {
  using namespace astcd;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  DecodeConfig loops;
  loops.allow_loops = true;
  // Built once; the registered lambdas hold pointers into these.
  static const std::vector<Corpus> corpora = [&] {
    std::vector<Corpus> v;
    v.push_back(MakeCorpus("default", DecodeConfig{}, kDefaultMaxLen));
    v.push_back(MakeCorpus("loops", loops, kDefaultMaxLen));
    return v;
  }();
  // Longer states for Fork: the default config caps a MODULE near 100 tokens (3 functions of
  // at most 4 statements per block), so this one allows more functions and statements.
  DecodeConfig large;
  large.max_functions = 16;
  large.max_block_stmts = 16;
  static const Corpus long_corpus = MakeCorpus("large", large, 1024);

  for (const Corpus& c : corpora) {
    benchmark::RegisterBenchmark(("FillMask/" + c.name).c_str(), BM_FillMask, &c);
  }
  for (const Corpus& c : corpora) {
    benchmark::RegisterBenchmark(("Advance/" + c.name).c_str(), BM_Advance, &c);
  }
  for (const Corpus& c : corpora) {
    benchmark::RegisterBenchmark(("Step/" + c.name).c_str(), BM_Step, &c);
  }
  for (const Corpus* c : {&corpora[0], &corpora[1], &long_corpus}) {
    benchmark::RegisterBenchmark(
        ("Fork/" + c->name + "/max_len:" + std::to_string(c->root().max_len())).c_str(), BM_Fork,
        c);
  }
  for (const Corpus& c : corpora) {
    for (const char* kind : {"uniform", "weighted"}) {
      for (bool render : {false, true}) {
        benchmark::RegisterBenchmark(
            ("Decode/" + c.name + "/" + kind + "/render:" + (render ? "1" : "0")).c_str(),
            BM_Decode, &c, kind, render, false);
      }
    }
  }
  benchmark::RegisterBenchmark("Decode/default/uniform/render:0/interrupt", BM_Decode,
                               &corpora[0], "uniform", false, true);
  benchmark::RegisterBenchmark("Rollback/long", BM_Rollback)->Arg(1)->Arg(100)->Arg(60'000);
  benchmark::RegisterBenchmark("Run/loop", BM_Run, int64_t{1'000'000}, false);
  benchmark::RegisterBenchmark("Run/call", BM_Run, int64_t{0}, false);
  benchmark::RegisterBenchmark("Run/loop/interrupt", BM_Run, int64_t{1'000'000}, true);
  benchmark::RegisterBenchmark("Run/call/interrupt", BM_Run, int64_t{0}, true);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
