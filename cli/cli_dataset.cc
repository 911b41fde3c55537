// astcd dataset: samples programs, runs each on K seeded input tuples, drops the degenerate ones,
// keeps the shortest program per behaviour (cli/dataset.h) and prints the rows as JSON Lines,
// then a summary on stderr. In-process, or with --server through the Decode and Run RPCs; the
// rows are the same either way, and for any --threads (docs/dataset.md).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/cli_backend.h"
#include "cli/cli_flags.h"
#include "cli/cli_progress.h"
#include "cli/config_json.h"
#include "cli/dataset.h"
#include "cli/json.h"
#include "core/codec.h"
#include "core/sampler.h"

namespace astcd::cli {
namespace {

using dataset::Deduper;
using dataset::kDrops;
using dataset::kNumDrops;
using dataset::Outcome;
using dataset::Row;

// Samples per Decode call (and per round of runs): small enough that the work past the n-th
// row is small, large enough to keep every thread busy. The rows do not depend on it.
constexpr int kChunk = 1024;

struct Options {
  InitRequest request;
  int root_arity = -1;  // BLOCK and EXPR: the arity; FUNCTION: each program's def/k says
  std::string sampler;
  uint64_t seed = 0;
  PolicyConfig policy;
  int64_t n = 0, max_samples = 0, max_steps = 0;
  int inputs = 0, threads = 1;
  int64_t input_lo = 0, input_hi = 0;
  bool padded = false;
  bool filter[kNumDrops] = {};
};

std::vector<std::string> Switches() {
  std::vector<std::string> switches = {"padded-tokens"};
  for (const dataset::DropRow& row : kDrops) {
    if (row.filter) switches.push_back(dataset::KeepFlag(row));
  }
  return switches;
}

// --input-range LO,HI: within the config's value_range, so that every tuple is a legal input.
absl::Status ParseInputRange(const std::string& text, const DecodeConfig& config, Options& o) {
  const std::vector<std::string> parts = absl::StrSplit(text, ',');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &o.input_lo) ||
      !absl::SimpleAtoi(parts[1], &o.input_hi) || o.input_lo > o.input_hi ||
      o.input_lo < config.value_range.first || o.input_hi > config.value_range.second) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag --input-range wants LO,HI with LO <= HI inside config.value_range [",
        config.value_range.first, ", ", config.value_range.second, "], not '", text, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Options> ParseOptions(const Flags& flags, const std::shared_ptr<const Engine>& engine) {
  Options o;
  absl::StatusOr<Start> start = ParseStart(flags.Get("start", "function"));
  if (!start.ok()) return start.status();
  if (*start == Start::kModule) {
    return absl::InvalidArgumentError(
        "flag --start: dataset takes function, block or expr (a row is one function)");
  }
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<int64_t> seed = flags.GetInt("seed", 0, INT64_MIN, INT64_MAX),
                          n = flags.GetInt("n", 1000, 1, 10'000'000),
                          max_samples = flags.GetInt("max-samples", 100'000, 1, 1'000'000'000),
                          max_len = flags.GetInt("max-len", kDefaultMaxLen, 1, kMaxLenLimit),
                          inputs = flags.GetInt("inputs", 8, 1, 64),
                          max_steps = flags.GetInt("max-steps", 10'000, 1, 1'000'000),
                          threads = flags.GetInt("threads", std::min(hardware, 64u), 1, 64),
                          arity = flags.GetInt("arity", -1, 0, 6);
  for (const auto* v : {&seed, &n, &max_samples, &max_len, &inputs, &max_steps, &threads, &arity}) {
    if (!v->ok()) return v->status();
  }
  o.request.start = *start;
  o.request.max_len = static_cast<int>(*max_len);
  if (*arity >= 0) {
    if (*start == Start::kFunction) {
      return absl::InvalidArgumentError(
          "flag --arity applies to --start block and expr; a def token chooses a function's");
    }
    o.request.arity = static_cast<int>(*arity);
  }
  // The request is checked here, the same way in both modes (arity in config.arities, a
  // budget that fits the shortest program).
  absl::StatusOr<DecodeState> state = InitState(engine, o.request);
  if (!state.ok()) return state.status();
  o.root_arity = state->arity();
  o.seed = static_cast<uint64_t>(*seed);
  o.n = *n;
  o.max_samples = *max_samples;
  o.max_steps = *max_steps;
  o.inputs = static_cast<int>(*inputs);
  o.threads = static_cast<int>(*threads);
  if (absl::Status s = ParseInputRange(flags.Get("input-range", "-10,10"), engine->config(), o);
      !s.ok()) {
    return s;
  }
  o.sampler = flags.Get("sampler", "uniform");
  if (flags.Has("policy")) {
    absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText(flags.Get("policy", ""));
    if (!p.ok()) return p.status();
    o.policy = *p;
  }
  if (absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(o.sampler, o.seed, o.policy, engine);
      !s.ok()) {
    return s.status();
  }
  o.padded = flags.Switch("padded-tokens");
  for (int i = 0; i < kNumDrops; ++i) {
    o.filter[i] = kDrops[i].filter && !flags.Switch(dataset::KeepFlag(kDrops[i]));
  }
  return o;
}

// Calls fn(i) for every i in [0, count) on `threads` threads. The error of the lowest i that
// failed, so that which error is reported does not depend on the threads.
absl::Status ParallelFor(size_t count, int threads,
                         const std::function<absl::Status(size_t)>& fn) {
  std::vector<absl::Status> status(count);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) status[i] = fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(count)); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// One sampled program, and what it did on its arity's inputs.
struct Sampled {
  std::vector<int32_t> tokens;
  int arity = 0;
  std::vector<Outcome> outcomes;
};

class Builder {
 public:
  Builder(const Options& o, std::shared_ptr<const Engine> engine, Backend& backend)
      : o_(o), engine_(std::move(engine)), backend_(backend), deduper_(o.filter),
        progress_(static_cast<size_t>(o.max_samples), isatty(STDERR_FILENO)) {
    for (int arity : engine_->config().arities) {
      inputs_[arity] = dataset::InputTuples(o.seed, arity, o.inputs, o.input_lo, o.input_hi);
    }
  }

  // Samples chunk after chunk, and offers them in sample order until n rows or max_samples.
  absl::Status Build() {
    for (int64_t offset = 0; offset < o_.max_samples; offset += kChunk) {
      absl::StatusOr<std::vector<Sampled>> chunk =
          SampleChunk(offset, std::min<int64_t>(kChunk, o_.max_samples - offset));
      if (!chunk.ok()) return chunk.status();
      for (size_t i = 0; i < chunk->size(); ++i) {
        Sampled& s = (*chunk)[i];
        deduper_.Offer(offset + static_cast<int64_t>(i), s.arity, std::move(s.tokens),
                       std::move(s.outcomes));
        if (static_cast<int64_t>(deduper_.rows().size()) >= o_.n) {
          progress_.Finish();
          return absl::OkStatus();
        }
      }
    }
    progress_.Finish();
    return absl::OkStatus();
  }

  const Deduper& deduper() const { return deduper_; }
  const std::vector<std::vector<int64_t>>& inputs(int arity) const { return inputs_.at(arity); }

 private:
  absl::StatusOr<std::vector<Sampled>> SampleChunk(int64_t offset, int64_t count) {
    DecodeOptions options;
    options.n = static_cast<int>(count);
    options.sample_offset = static_cast<int>(offset);
    options.max_new_tokens = 0;  // the budget bounds every program, so each one completes
    options.num_threads = o_.threads;
    options.render_source = false;  // only the rows are printed; they are rendered then
    options.on_result = [this] { progress_.Tick(); };
    // Placed by sample index, so the order results arrive in does not matter.
    std::vector<Sampled> chunk(count);
    absl::Status status = backend_.Sample(
        o_.request, o_.sampler, o_.seed, o_.policy, options, [&](const DecodeResult& r) {
          const int64_t i = r.sample_index - offset;
          if (i >= 0 && i < count && r.complete) chunk[i].tokens = r.tokens;
        });
    if (!status.ok()) return status;
    status = ParallelFor(chunk.size(), o_.threads,
                         [&](size_t i) { return RunOne(offset + i, chunk[i]); });
    if (!status.ok()) return status;
    return chunk;
  }

  absl::Status RunOne(int64_t sample_index, Sampled& s) {
    // Empty: incomplete or missing; the budget guarantees completion (docs/language.md, 7.3).
    if (s.tokens.empty()) {
      return absl::InternalError(absl::StrCat("sample ", sample_index, " did not complete or did not come"));
    }
    s.arity = o_.root_arity >= 0 ? o_.root_arity : engine_->vocab().info(s.tokens[0]).value;
    RunCall call;
    call.tokens = s.tokens;
    call.start = o_.request.start;
    call.arity = o_.request.arity;
    call.inputs = inputs_.at(s.arity);
    call.options.max_steps = o_.max_steps;
    absl::StatusOr<RunReply> reply = backend_.Run(call);
    if (!reply.ok()) return reply.status();
    if (reply->invalid_program) {
      return absl::InternalError(absl::StrCat("sample ", sample_index,
                                              " does not run: ", *reply->invalid_program));
    }
    for (const RunOutcome& r : reply->outcomes) s.outcomes.push_back(Outcome{r.status, r.value});
    return absl::OkStatus();
  }

  const Options& o_;
  std::shared_ptr<const Engine> engine_;
  Backend& backend_;
  std::map<int, std::vector<std::vector<int64_t>>> inputs_;  // by arity
  Deduper deduper_;
  Progress progress_;
};

void WriteInts(json::Writer& w, const std::vector<int32_t>& ints) {
  w.BeginArray();
  for (int32_t t : ints) w.Int(t);
  w.EndArray();
}

std::string RowJson(const Row& row, const std::string& source,
                    const std::vector<std::vector<int64_t>>& inputs, const Options& o) {
  json::Writer w;
  w.BeginObject();
  w.Key("source");
  w.String(source);
  w.Key("tokens");
  WriteInts(w, row.tokens);
  w.Key("inputs");
  w.BeginArray();
  for (const std::vector<int64_t>& tuple : inputs) {
    w.BeginArray();
    for (int64_t v : tuple) w.Int(v);
    w.EndArray();
  }
  w.EndArray();
  w.Key("outputs");
  w.BeginArray();
  for (const Outcome& out : row.outcomes) {
    w.BeginObject();
    w.Key("status");
    const absl::string_view status = RunStatusName(out.status);
    w.String(std::string(status.data(), status.size()));
    w.Key("value");
    if (out.value.is_none()) {
      w.Null();
    } else if (out.value.is_bool()) {
      w.Bool(out.value.i != 0);
    } else {
      w.Int(out.value.i);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("signature");
  w.String(row.signature);
  w.Key("sample_index");
  w.Int(row.sample_index);
  if (o.padded) {
    std::vector<int32_t> padded = row.tokens;
    padded.resize(o.request.max_len, Vocabulary::pad_id());
    w.Key("padded_tokens");
    WriteInts(w, padded);
  }
  w.EndObject();
  return w.str();
}

std::string SummaryJson(const dataset::Summary& s, int64_t kept, bool reached_n) {
  json::Writer w;
  w.BeginObject();
  w.Key("sampled");
  w.Int(s.sampled);
  w.Key("kept");
  w.Int(kept);
  w.Key("unique_behaviours");
  w.Int(s.unique_behaviours);
  w.Key("tokens");
  w.Int(s.tokens);
  w.Key("dropped");
  w.BeginObject();
  for (int i = 0; i < kNumDrops; ++i) {
    w.Key(std::string(kDrops[i].name));
    w.Int(s.dropped[i]);
  }
  w.EndObject();
  w.Key("stopped");
  w.String(reached_n ? "n" : "max_samples");
  w.EndObject();
  return w.str();
}

}  // namespace

int Dataset(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv,
      {"config", "start", "arity", "n", "seed", "sampler", "policy", "max-len", "inputs",
       "input-range", "max-steps", "max-samples", "threads", "out", "server"},
      Switches());
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<Options> options = ParseOptions(*flags, *engine);
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  // Open the output first, so that a path it cannot write fails before the work.
  std::ofstream file;
  if (flags->Has("out")) {
    file.open(flags->Get("out", ""), std::ios::binary | std::ios::trunc);
    if (!file) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("flag --out: cannot write '", flags->Get("out", ""), "'")));
    }
  }
  std::ostream& out = flags->Has("out") ? file : std::cout;

  Builder builder(*options, *engine, **backend);
  if (absl::Status s = builder.Build(); !s.ok()) return FailCall(s);
  const std::vector<Row>& rows = builder.deduper().rows();
  for (const Row& row : rows) {
    const std::optional<int> arity =
        options->root_arity >= 0 ? std::optional<int>(options->root_arity) : std::nullopt;
    absl::StatusOr<std::string> source =
        TokensToSource(*engine, options->request.start, arity, row.tokens, false);
    if (!source.ok()) return FailCall(absl::InternalError(source.status().message()));
    out << RowJson(row, *source, builder.inputs(row.arity), *options) << "\n";
  }
  out.flush();
  const int64_t kept = static_cast<int64_t>(rows.size());
  std::cerr << SummaryJson(builder.deduper().summary(), kept, kept >= options->n) << "\n";
  return out.good() ? 0 : 1;
}

}  // namespace astcd::cli
