// astcd: the command-line tool. Runs the engine in-process. This file dispatches the commands
// (kUsage lists them all) and holds `vocab` and `sample`; cli_bridge.cc has tokenize,
// detokenize, run and forced, cli_dataset.cc has dataset, and cli_audit.cc has audit.
//
// Usage errors (unknown flags, bad config) print a message naming the culprit and exit 2.
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_backend.h"
#include "cli/cli_flags.h"
#include "cli/cli_progress.h"
#include "cli/config_json.h"
#include "cli/json.h"
#include "core/codec.h"
#include "core/decode.h"
#include "core/engine.h"

#ifndef ASTCD_VERSION
#define ASTCD_VERSION "unknown"
#endif
#ifndef ASTCD_BUILD_TYPE
#define ASTCD_BUILD_TYPE "unknown"
#endif

namespace astcd::cli {

// The commands in cli_bridge.cc, cli_dataset.cc and cli_audit.cc.
int Tokenize(int argc, char** argv);
int Detokenize(int argc, char** argv);
int Run(int argc, char** argv);
int Forced(int argc, char** argv);
int Dataset(int argc, char** argv);
int Audit(int argc, char** argv);

namespace {

constexpr char kUsage[] =
    "usage: astcd <command> [flags]   (astcd --version; astcd [command] --help)\n"
    "commands:\n"
    "  vocab  [--config JSON]                      print the vocabulary as JSON\n"
    "  sample [--start module|function|block|expr] [--n N] [--seed K]\n"
    "         [--sampler uniform|weighted] [--policy JSON] [--max-new-tokens N]\n"
    "         [--max-len N] [--arity K] [--stop-at eos|complete] [--threads T]\n"
    "         [--sexpr] [--config JSON]          print sampled programs as JSON Lines\n"
    "  tokenize [--partial] [--start S] [--arity K] [--max-len N] [--jsonl] [--config JSON]\n"
    "           FILE... (or -)                   Python source to tokens, one JSON line each\n"
    "  detokenize [--start S] [--arity K] [--partial] [--config JSON] [FILE... | -]\n"
    "                                            JSON Lines {\"tokens\":[...]} to source\n"
    "  run (--source FILE | --tokens JSON) --args 3,4 [--args ...] [--start S] [--arity K]\n"
    "      [--entry K] [--max-steps N] [--trace] [--locals] [--config JSON]\n"
    "                                            run a program on argument tuples\n"
    "  forced [--start S] [--arity K] [--max-len N] [--config JSON] [FILE... | -]\n"
    "                                            JSON Lines {\"tokens\":[...]} to the tokens\n"
    "                                            forced after each prefix (jump-forward)\n"
    "  dataset [--start function|block|expr] [--arity K] [--n N] [--max-samples M] [--seed K]\n"
    "          [--sampler uniform|weighted] [--policy JSON] [--max-len N] [--inputs K]\n"
    "          [--input-range LO,HI] [--max-steps N] [--threads T] [--out FILE]\n"
    "          [--padded-tokens] [--keep-all-error] [--keep-all-none] [--keep-constant]\n"
    "          [--config JSON]                   sampled programs with distinct behaviour,\n"
    "                                            as JSON Lines (docs/dataset.md)\n"
    "  audit [--json] [--config JSON] PATH...      how much of a Python corpus fits\n";

int Vocab(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, {"config", "server"}, {});
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<client::VocabularyListing> vocab = (*backend)->Vocabulary();
  if (!vocab.ok()) return FailCall(vocab.status());
  json::Writer w;
  w.BeginObject();
  w.Key("fingerprint");
  w.String(vocab->fingerprint);
  w.Key("vocab_size");
  w.Int(vocab->vocab_size);
  w.Key("pad_id");
  w.Int(vocab->pad_id);
  w.Key("eos_id");
  w.Int(vocab->eos_id);
  w.Key("tokens");
  w.BeginArray();
  for (const client::TokenEntry& token : vocab->tokens) {
    w.BeginObject();
    w.Key("id");
    w.Int(token.id);
    w.Key("name");
    w.String(token.name);
    w.Key("kind");
    w.String(token.kind);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::cout << w.str() << "\n";
  return 0;
}

int Sample(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv,
      {"config", "start", "n", "seed", "sampler", "policy", "max-new-tokens", "max-len", "arity",
       "stop-at", "threads", "server"},
      {"sexpr"});
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<Start> start = ParseStart(flags->Get("start", "module"));
  if (!start.ok()) return Fail(start.status());
  absl::StatusOr<int64_t> n = flags->GetInt("n", 1, 1, 10'000'000),
                          seed = flags->GetInt("seed", 0, INT64_MIN, INT64_MAX),
                          max_new = flags->GetInt("max-new-tokens", 200, 0, kMaxLenLimit),
                          max_len = flags->GetInt("max-len", -1, 1, kMaxLenLimit),
                          threads = flags->GetInt("threads", 1, 1, 64),
                          arity = flags->GetInt("arity", -1, 0, 6);
  for (const auto* v : {&n, &seed, &max_new, &max_len, &threads, &arity}) {
    if (!v->ok()) return Fail(v->status());
  }
  PolicyConfig policy;
  if (flags->Has("policy")) {
    absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText(flags->Get("policy", ""));
    if (!p.ok()) return Fail(p.status());
    policy = *p;
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  const std::string sampler = flags->Get("sampler", "uniform");
  // Refuse a bad sampler or policy here, the same way in both modes.
  if (absl::StatusOr<std::unique_ptr<Sampler>> s =
          MakeSampler(sampler, static_cast<uint64_t>(*seed), policy, *engine);
      !s.ok()) {
    return Fail(s.status());
  }
  absl::StatusOr<StopAt> stop_at = ParseStopAt(flags->Get("stop-at", "eos"));
  if (!stop_at.ok()) return Fail(stop_at.status());

  InitRequest request;
  request.start = *start;
  if (*arity >= 0) {
    if (*start != Start::kBlock && *start != Start::kExpr) {
      return Fail(absl::InvalidArgumentError(
          "flag --arity applies to --start block and expr; a def token chooses a function's"));
    }
    request.arity = static_cast<int>(*arity);
  }
  // By default a program must fit in the new-token cap, so that every sample completes.
  // A max-new-tokens of 0 means no cap; the budget then defaults to kDefaultMaxLen.
  request.max_len = static_cast<int>(*max_len >= 0 ? *max_len : *max_new);
  absl::StatusOr<DecodeState> state = InitState(*engine, request);
  if (!state.ok()) return Fail(state.status());

  DecodeOptions options;
  options.max_new_tokens = static_cast<int>(*max_new);
  options.stop_at = *stop_at;
  options.num_threads = static_cast<int>(*threads);
  Progress progress(static_cast<size_t>(*n), isatty(STDERR_FILENO));
  options.on_result = [&progress] { progress.Tick(); };
  const bool sexpr = flags->Switch("sexpr");
  const std::optional<int> state_arity =
      state->arity() >= 0 ? std::optional<int>(state->arity()) : std::nullopt;
  // Decode in chunks of whole inputs so that memory stays bounded for large n; each chunk's
  // results are those of sample indices [offset, offset + chunk) of the one input.
  constexpr int64_t kChunk = 4096;
  for (int64_t offset = 0; offset < *n; offset += kChunk) {
    options.n = static_cast<int>(std::min(kChunk, *n - offset));
    options.sample_offset = static_cast<int>(offset);
    std::string out;
    absl::Status status = (*backend)->Sample(
        request, sampler, static_cast<uint64_t>(*seed), policy, options,
        [&](const DecodeResult& r) {
          json::Writer w;
          w.BeginObject();
          w.Key("input_index");
          w.Int(r.input_index);
          w.Key("sample_index");
          w.Int(r.sample_index);
          w.Key("tokens");
          w.BeginArray();
          for (int32_t t : r.tokens) w.Int(t);
          w.EndArray();
          w.Key("source");
          w.String(r.source);
          w.Key("complete");
          w.Bool(r.complete);
          w.Key("stop_reason");
          const absl::string_view reason = StopReasonName(r.stop_reason);
          w.String(std::string(reason.data(), reason.size()));
          if (sexpr && r.complete) {
            absl::StatusOr<Ast> ast =
                TokensToAst(*engine, request.start, state_arity, r.tokens, /*partial=*/false);
            if (ast.ok()) {
              w.Key("sexpr");
              w.String(AstToSexpr(*ast));
            }
          }
          w.EndObject();
          absl::StrAppend(&out, w.str(), "\n");
        });
    if (!status.ok()) return FailCall(status);
    std::cout << out;
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kUsageError;
  }
  const std::string command = argv[1];
  if (command == "--version") {
    std::cout << "astcd " << ASTCD_VERSION << " (" << ASTCD_BUILD_TYPE << ")\n";
    return 0;
  }
  // `astcd COMMAND --help` (anywhere after the command) prints the usage, as `astcd --help`.
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::cout << kUsage;
      return 0;
    }
  }
  if (command == "vocab") return Vocab(argc - 2, argv + 2);
  if (command == "sample") return Sample(argc - 2, argv + 2);
  if (command == "tokenize") return Tokenize(argc - 2, argv + 2);
  if (command == "detokenize") return Detokenize(argc - 2, argv + 2);
  if (command == "run") return Run(argc - 2, argv + 2);
  if (command == "forced") return Forced(argc - 2, argv + 2);
  if (command == "dataset") return Dataset(argc - 2, argv + 2);
  if (command == "audit") return Audit(argc - 2, argv + 2);
  if (command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "astcd: unknown command '" << command << "'\n" << kUsage;
  return kUsageError;
}

}  // namespace
}  // namespace astcd::cli

int main(int argc, char** argv) { return astcd::cli::Main(argc, argv); }
