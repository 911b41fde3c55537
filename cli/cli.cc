// astcd: the command-line tool. Runs the engine in-process. This file dispatches the commands
// (kCommands lists them all, with their flags: the usage and each command's --help) and holds
// `vocab` and `sample`; cli_bridge.cc has tokenize, detokenize, run and forced, cli_dataset.cc
// has dataset, cli_audit.cc has audit, and cli_visualize.cc has show, animate and play.
//
// Usage errors (unknown flags, bad config) print a message naming the culprit and exit 2.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

// The commands in cli_bridge.cc, cli_dataset.cc, cli_audit.cc and cli_visualize.cc.
int Tokenize(int argc, char** argv);
int Detokenize(int argc, char** argv);
int Run(int argc, char** argv);
int Forced(int argc, char** argv);
int Dataset(int argc, char** argv);
int Audit(int argc, char** argv);
int Show(int argc, char** argv);
int Animate(int argc, char** argv);
int Play(int argc, char** argv);

namespace {

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

// A result as a line of sample's JSON Lines. With an engine (--sexpr), a complete result's
// line has its s-expression too.
struct SampleLine {
  std::shared_ptr<const Engine> sexpr_engine;
  Start start = Start::kModule;
  std::optional<int> arity;

  std::string operator()(const DecodeResult& r) const {
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
    w.String(std::string_view(reason.data(), reason.size()));
    if (sexpr_engine != nullptr && r.complete) {
      absl::StatusOr<Ast> ast = TokensToAst(sexpr_engine, start, arity, r.tokens,
                                            /*partial=*/false);
      if (ast.ok()) {
        w.Key("sexpr");
        w.String(AstToSexpr(*ast));
      }
    }
    w.EndObject();
    std::string line = std::move(w).Take();
    line.push_back('\n');
    return line;
  }
};

// Writes a chunk's lines in order, and empties them (each keeps its buffer until the chunk
// that reuses it replaces it, on the thread that made the new line, which so frees the old).
// False if a line is missing.
bool WriteLines(std::vector<std::string>& lines) {
  for (std::string& line : lines) {
    if (line.empty()) return false;
    std::cout << line;
    line.clear();
  }
  return true;
}

// Samples n results and prints them as lines, in order. Decodes in chunks of whole inputs so
// that memory stays bounded for large n: a chunk's results are those of sample indices
// [offset, offset + chunk) of the one input. The decoding threads format the lines; another
// thread writes a chunk while the next one is decoded.
absl::Status WriteSamples(Backend& backend, const InitRequest& request, const std::string& sampler,
                          uint64_t seed, const PolicyConfig& policy, DecodeOptions options,
                          int64_t n, const SampleLine& format) {
  constexpr int64_t kChunk = 4096;
  std::array<std::vector<std::string>, 2> lines;  // one chunk's being decoded, one's written
  std::future<bool> written;                      // the write of the last chunk
  const absl::Status missing = absl::InternalError("a sample's result did not come");
  for (int64_t offset = 0, c = 0; offset < n; offset += kChunk, c ^= 1) {
    options.n = static_cast<int>(std::min(kChunk, n - offset));
    options.sample_offset = static_cast<int>(offset);
    std::vector<std::string>& chunk = lines[c];
    chunk.resize(options.n);
    absl::Status status =
        backend.Sample(request, sampler, seed, policy, options, [&](const DecodeResult& r) {
          const int64_t k = r.sample_index - offset;
          if (k >= 0 && k < options.n) chunk[k] = format(r);
        });
    if (!status.ok()) return status;
    if (written.valid() && !written.get()) return missing;
    written = std::async(std::launch::async, WriteLines, std::ref(chunk));
  }
  if (written.valid() && !written.get()) return missing;
  return absl::OkStatus();
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
                          max_new =
                              flags->GetInt("max-new-tokens", kSampleMaxNewTokens, 0, kMaxLenLimit),
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
  SampleLine format;
  if (flags->Switch("sexpr")) format.sexpr_engine = *engine;
  format.start = request.start;
  if (state->arity() >= 0) format.arity = state->arity();
  absl::Status status = WriteSamples(**backend, request, sampler, static_cast<uint64_t>(*seed),
                                      policy, options, *n, format);
  if (!status.ok()) return FailCall(status);
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* flags;    // its synopsis; a new line continues it
  const char* summary;  // what it does
};

constexpr Command kCommands[] = {
    {"vocab", Vocab, "[--config JSON] [--server HOST:PORT]", "print the vocabulary as JSON"},
    {"sample", Sample,
     "[--start module|function|block|expr] [--n N] [--seed K]\n"
     "[--sampler uniform|weighted] [--policy JSON] [--max-new-tokens N] [--max-len N]\n"
     "[--arity K] [--stop-at eos|complete] [--threads T] [--sexpr] [--config JSON]\n"
     "[--server HOST:PORT]",
     "print sampled programs as JSON Lines"},
    {"tokenize", Tokenize,
     "[--partial] [--start S] [--arity K] [--max-len N] [--jsonl] [--config JSON]\n"
     "[--server HOST:PORT] FILE... (or -)",
     "Python source to tokens, one JSON line each"},
    {"detokenize", Detokenize,
     "[--start S] [--arity K] [--partial] [--config JSON] [--server HOST:PORT]\n"
     "[FILE... | -]",
     "JSON Lines {\"tokens\":[...]} to source"},
    {"run", Run,
     "(--source FILE | --tokens JSON) --args 3,4 [--args ...] [--start S] [--arity K]\n"
     "[--entry K] [--max-steps N] [--trace] [--locals] [--config JSON] [--server HOST:PORT]",
     "run a program on argument tuples"},
    {"forced", Forced,
     "[--start S] [--arity K] [--max-len N] [--config JSON] [--server HOST:PORT]\n"
     "[FILE... | -]",
     "JSON Lines {\"tokens\":[...]} to the tokens forced after each prefix (jump-forward)"},
    {"dataset", Dataset,
     "[--start function|block|expr] [--arity K] [--n N] [--max-samples M] [--seed K]\n"
     "[--sampler uniform|weighted] [--policy JSON] [--max-len N] [--inputs K]\n"
     "[--input-range LO,HI] [--max-steps N] [--threads T] [--out FILE]\n"
     "[--padded-tokens] [--keep-all-error] [--keep-all-none] [--keep-constant]\n"
     "[--config JSON] [--server HOST:PORT]",
     "sampled programs with distinct behaviour, as JSON Lines (docs/dataset.md)"},
    {"audit", Audit, "[--json] [--config JSON] PATH...", "how much of a Python corpus fits"},
    {"show", Show,
     "[FILE | -] [--json FILE] [--svg FILE] [--start S] [--arity K] [--max-len N]\n"
     "[--config JSON]",
     "a decode step by step: JSON Lines (sample's output, or {\"tokens\":[...]} with\n"
     "optional \"start\" and \"arity\") to frames: each step's token, how many were legal\n"
     "and the partial program (docs/visualize.md)"},
    {"animate", Animate,
     "[--seed K] [--delay S] [--sampler uniform|weighted] [--policy JSON] [--start S]\n"
     "[--arity K] [--max-len N] [--json FILE] [--svg FILE] [--config JSON]\n"
     "[--server HOST:PORT]",
     "sample a program (as sample does) and animate its decode; on a terminal in colour\n"
     "with --delay seconds a frame, else plain frames"},
    {"play", Play, "[--seed K] [--start S] [--arity K] [--max-len N] [--config JSON]",
     "build a program token by token from a menu of the legal ones (u undo, r finish,\n"
     "q quit), then run it on arguments you give"},
};

// `text` with every line after the first indented by `indent` spaces.
std::string Indented(const char* text, size_t indent) {
  // StrCat, not "\n" + std::string: GCC 12 at -O3 warns (-Wrestrict, a false positive) on that.
  const std::string newline = absl::StrCat("\n", std::string(indent, ' '));
  return absl::StrReplaceAll(text, {{"\n", newline}});
}

std::string Usage() {
  std::string out =
      "usage: astcd <command> [flags]   (astcd --version; astcd [command] --help)\n"
      "commands:\n";
  for (const Command& c : kCommands) {
    const size_t indent = 3 + std::string(c.name).size();
    absl::StrAppend(&out, "  ", c.name, " ", Indented(c.flags, indent), "\n      ",
                    Indented(c.summary, 6), "\n");
  }
  return out;
}

std::string CommandUsage(const Command& c) {
  const size_t indent = 13 + std::string(c.name).size();
  return absl::StrCat("usage: astcd ", c.name, " ", Indented(c.flags, indent), "\n\n",
                      c.summary, "\n");
}

const Command* FindCommand(const std::string& name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << Usage();
    return kUsageError;
  }
  const std::string command = argv[1];
  if (command == "--version") {
    std::cout << "astcd " << ASTCD_VERSION << " (" << ASTCD_BUILD_TYPE << ")\n";
    return 0;
  }
  if (command == "--help" || command == "help") {
    std::cout << Usage();
    return 0;
  }
  const Command* c = FindCommand(command);
  if (c == nullptr) {
    std::cerr << "astcd: unknown command '" << command << "'\n" << Usage();
    return kUsageError;
  }
  // `astcd COMMAND --help` (anywhere after the command) prints the command's usage.
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::cout << CommandUsage(*c);
      return 0;
    }
  }
  return c->run(argc - 2, argv + 2);
}

}  // namespace
}  // namespace astcd::cli

int main(int argc, char** argv) { return astcd::cli::Main(argc, argv); }
