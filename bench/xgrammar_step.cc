// astcd_walk_bench: astcd's side of the step benchmark against XGrammar (bench/xgrammar/).
//
// A random walk from the MODULE root: fill the legal mask, pick a uniformly random legal
// token (UniformSampler), advance, until the state is terminated (after <eos>). Every step is
// DecodeState::FillMask + UniformSampler::Choose + DecodeState::Advance (which checks
// legality again and applies the token). The budget (max_len, default 128) makes every walk
// end by itself. Single-threaded.
//
// Timing: one steady_clock pair around each whole walk (the fork of the root state is outside
// it), so a walk gives one ns/step sample; ns_per_step_median is the median over walks. The
// clock costs ~20 ns a call, well under 1 ns per step over a walk of ~100 steps; timing each
// step alone would cost as much as the step. cpu_ns_per_step_mean is the thread's CPU time over
// all timed walks divided by their steps.
//
//   astcd_walk_bench [--config JSON] [--max-len N] [--steps N] [--warmup-steps N] [--seed S]
//                    [--mode step|advance] [--dump FILE --dump-walks N] [--print-config]
//
// --mode advance times the checked DecodeState::Advance alone, for a model server that gets its
// masks elsewhere: the same walks are drawn first (untimed), then replayed token by token on
// fresh forks of the root.
//
// Prints one JSON object. --dump writes N further walks (other seeds) as JSON Lines
// {"tokens": [...], "masks": [[word, ...], ...]}: the mask before each token, for the
// XGrammar side's correctness check (every astcd-legal token must be XGrammar-legal).
#include <time.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "cli/config_json.h"
#include "cli/json.h"
#include "core/config.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/sampler.h"

namespace astcd {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "astcd_walk_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + std::string(v.status().message()));
  return *std::move(v);
}

struct Options {
  std::string config_json = "{}";
  int max_len = kDefaultMaxLen;
  int64_t steps = 200000;        // timed steps (at least; whole walks)
  int64_t warmup_steps = 20000;  // untimed steps first
  uint64_t seed = 1;
  std::string dump;
  int dump_walks = 0;
  bool print_config = false;
  bool advance_only = false;  // --mode advance
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--config") {
      o.config_json = value();
    } else if (a == "--max-len") {
      o.max_len = std::atoi(value().c_str());
    } else if (a == "--steps") {
      o.steps = std::atoll(value().c_str());
    } else if (a == "--warmup-steps") {
      o.warmup_steps = std::atoll(value().c_str());
    } else if (a == "--seed") {
      o.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--dump") {
      o.dump = value();
    } else if (a == "--dump-walks") {
      o.dump_walks = std::atoi(value().c_str());
    } else if (a == "--mode") {
      const std::string mode = value();
      if (mode != "step" && mode != "advance") Die("--mode is step or advance");
      o.advance_only = mode == "advance";
    } else if (a == "--print-config") {
      o.print_config = true;
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.steps < 1 || o.warmup_steps < 0 || o.dump_walks < 0) Die("bad counts");
  return o;
}

using Clock = std::chrono::steady_clock;

double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// The timed bodies, kept out of line so that callgrind can count them alone
// (--toggle-collect=*WalkSteps / *ReplayAdvances, bench/xgrammar/run.py).
[[gnu::noinline]] int WalkSteps(DecodeState& s, const UniformSampler& sampler, Rng& rng,
                                uint32_t* mask) {
  int n = 0;
  while (!s.terminated()) {
    s.FillMask(mask);
    if (!s.Advance(sampler.Choose(s, mask, rng)).ok()) Die("Advance refused a token from its mask");
    ++n;
  }
  return n;
}

[[gnu::noinline]] int ReplayAdvances(DecodeState& s, const std::vector<int32_t>& tokens) {
  for (const int32_t token : tokens) {
    if (!s.Advance(token).ok()) Die("Advance refused a replayed token");
  }
  return static_cast<int>(tokens.size());
}

int Main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  const DecodeConfig config = Check(DecodeConfigFromJsonText(o.config_json), "--config");
  if (o.print_config) {
    std::cout << DecodeConfigToJson(config) << "\n";
    return 0;
  }
  const std::shared_ptr<const Engine> engine = Check(Engine::Create(config), "Engine::Create");
  InitRequest req;
  req.start = Start::kModule;
  req.max_len = o.max_len;
  const DecodeState root = Check(InitState(engine, req), "InitState");
  const int words = engine->words();
  absl::InlinedVector<uint32_t, 64> mask(words);

  // Dump walks for the correctness check (seeds disjoint from the timed ones).
  if (!o.dump.empty()) {
    std::ofstream out(o.dump);
    if (!out) Die("cannot write " + o.dump);
    const UniformSampler sampler(o.seed ^ 0x5eed);
    for (int w = 0; w < o.dump_walks; ++w) {
      Rng rng(StreamSeed(o.seed ^ 0x5eed, 1, static_cast<uint64_t>(w)));
      DecodeState s = Fork(root);
      json::Writer j;
      j.BeginObject();
      j.Key("masks");
      j.BeginArray();
      while (!s.terminated()) {
        s.FillMask(mask.data());
        j.BeginArray();
        for (int i = 0; i < words; ++i) j.Int(static_cast<int32_t>(mask[i]));
        j.EndArray();
        if (!s.Advance(sampler.Choose(s, mask.data(), rng)).ok()) Die("dump advance");
      }
      j.EndArray();
      j.Key("tokens");
      j.BeginArray();
      for (int32_t t : s.tokens()) j.Int(t);
      j.EndArray();
      j.EndObject();
      out << j.str() << "\n";
    }
  }

  const UniformSampler sampler(o.seed);
  uint64_t walk_index = 0;
  DecodeState s = Fork(root);

  // Warm-up (untimed), also measuring the mean mask size over the visited states.
  int64_t warm = 0, legal_sum = 0;
  while (warm < o.warmup_steps) {
    Rng rng(StreamSeed(o.seed, 0, walk_index++));
    s = Fork(root);
    while (!s.terminated()) {
      s.FillMask(mask.data());
      for (int i = 0; i < words; ++i) legal_sum += std::popcount(mask[i]);
      if (!s.Advance(sampler.Choose(s, mask.data(), rng)).ok()) Die("warm-up advance");
      ++warm;
    }
  }

  // --mode advance: the walks to replay, drawn untimed from the same seeds as the step mode's.
  std::vector<std::vector<int32_t>> walks;
  if (o.advance_only) {
    for (int64_t drawn = 0; drawn < o.steps;) {
      Rng rng(StreamSeed(o.seed, 0, walk_index + walks.size()));
      s = Fork(root);
      WalkSteps(s, sampler, rng, mask.data());
      walks.emplace_back(s.tokens().begin(), s.tokens().end());
      drawn += static_cast<int64_t>(walks.back().size());
    }
  }

  std::vector<double> per_walk;  // ns per step, one per walk
  int64_t steps = 0;
  double total_ns = 0;
  const double cpu0 = ThreadCpuNs();
  for (size_t w = 0; steps < o.steps; ++w) {
    Rng rng(StreamSeed(o.seed, 0, walk_index++));
    const DecodeState fresh = Fork(root);  // the fork is outside the timed region
    s = fresh;
    const auto t0 = Clock::now();
    const int n = o.advance_only ? ReplayAdvances(s, walks[w])
                                 : WalkSteps(s, sampler, rng, mask.data());
    const auto t1 = Clock::now();
    const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    per_walk.push_back(ns / n);
    total_ns += ns;
    steps += n;
  }
  const double cpu_ns = ThreadCpuNs() - cpu0;

  json::Writer j;
  j.BeginObject();
  j.Key("side");
  j.String("astcd");
  j.Key("mode");
  j.String(o.advance_only ? "advance" : "step");
  j.Key("config");
  j.String(DecodeConfigToJson(config));
  j.Key("max_len");
  j.Int(o.max_len);
  j.Key("vocab_size");
  j.Int(engine->vocab().size());
  j.Key("steps");
  j.Int(steps);
  j.Key("walks");
  j.Int(static_cast<int64_t>(per_walk.size()));
  j.Key("tokens_per_walk_mean");
  j.Double(static_cast<double>(steps) / static_cast<double>(per_walk.size()));
  j.Key("ns_per_step_median");
  j.Double(Percentile(per_walk, 0.5));
  j.Key("ns_per_step_p10");
  j.Double(Percentile(per_walk, 0.1));
  j.Key("ns_per_step_p90");
  j.Double(Percentile(per_walk, 0.9));
  j.Key("ns_per_step_mean");
  j.Double(total_ns / static_cast<double>(steps));
  // Thread CPU time over all timed walks (forks and clock reads included).
  j.Key("cpu_ns_per_step_mean");
  j.Double(cpu_ns / static_cast<double>(steps));
  j.Key("legal_per_step_mean");
  j.Double(warm > 0 ? static_cast<double>(legal_sum) / static_cast<double>(warm) : 0.0);
  j.Key("dumped_walks");
  j.Int(o.dump.empty() ? 0 : o.dump_walks);
  j.EndObject();
  std::cout << j.str() << "\n";
  return 0;
}

}  // namespace
}  // namespace astcd

int main(int argc, char** argv) { return astcd::Main(argc, argv); }
