// The commands that show a decode step by step: show (a given token stream), animate (a fresh
// sample) and play (interactive). The frames and their forms are cli_frames.cc's; the
// rendering is core/render's (docs/visualize.md).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/cli_backend.h"
#include "cli/cli_flags.h"
#include "cli/cli_frames.h"
#include "cli/config_json.h"
#include "cli/cli_input.h"
#include "cli/json.h"
#include "core/interpreter.h"
#include "core/render.h"
#include "core/sampler.h"
#include "core/vocabulary.h"

namespace astcd::cli {
namespace {

// The seconds a frame shows in an SVG when no --delay says otherwise.
constexpr double kDefaultDelay = 0.5;

// Writes --json FILE and --svg FILE, when given.
absl::Status WriteFrameFiles(const Flags& flags, const Walk& walk, const Vocabulary& vocab,
                             double seconds_per_frame) {
  if (flags.Has("json")) {
    absl::Status s = WriteOutput(flags.Get("json", ""), FramesJson(walk, vocab) + "\n");
    if (!s.ok()) return s;
  }
  if (flags.Has("svg")) {
    return WriteOutput(flags.Get("svg", ""), FramesSvg(walk, vocab, seconds_per_frame));
  }
  return absl::OkStatus();
}

// A JSON line's "start" and "arity" keys, which override the flags'.
absl::StatusOr<SourceFlags> SourceOf(const std::string& name, const json::Value& object,
                                     const SourceFlags& flags, const Engine& engine) {
  Start start = flags.start;
  int64_t arity = flags.arity.value_or(-1);
  if (const json::Value* s = object.Find("start"); s != nullptr) {
    absl::StatusOr<Start> parsed =
        s->is_string() ? ParseStart(s->as_string()) : absl::InvalidArgumentError("not a string");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"start\": ", parsed.status().message()));
    }
    start = *parsed;
  }
  if (const json::Value* a = object.Find("arity"); a != nullptr) {
    if (!a->is_null() && (!a->is_int() || a->as_int() < 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"arity\" must be an integer or null"));
    }
    arity = a->is_null() ? -1 : a->as_int();
  }
  return CheckSource(start, arity, engine, absl::StrCat(name, ": \"arity\""));
}

// --max-len: the budget the legal sets are computed under (sample's default).
absl::StatusOr<int> BudgetFromFlags(const Flags& flags) {
  absl::StatusOr<int64_t> max_len = flags.GetInt("max-len", kSampleMaxNewTokens, 1, kMaxLenLimit);
  if (!max_len.ok()) return max_len.status();
  return static_cast<int>(*max_len);
}

}  // namespace

int Show(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv, {"json", "svg", "config", "start", "arity", "max-len"}, {}, /*positional=*/true);
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<SourceFlags> source = StartFromFlags(*flags, **engine);
  if (!source.ok()) return Fail(source.status());
  absl::StatusOr<int> max_len = BudgetFromFlags(*flags);
  if (!max_len.ok()) return Fail(max_len.status());
  if (flags->positional().size() > 1) {
    return Fail(absl::InvalidArgumentError("show reads one FILE (or -)"));
  }
  std::vector<Walk> walks;
  absl::Status status = ForEachInput(
      flags->positional(), /*jsonl=*/true,
      [&](const std::string& name, const json::Value* object, const std::string&) {
        absl::StatusOr<std::vector<int32_t>> tokens = TokensOf(name, *object);
        if (!tokens.ok()) return tokens.status();
        absl::StatusOr<SourceFlags> line_source = SourceOf(name, *object, *source, **engine);
        if (!line_source.ok()) return line_source.status();
        absl::StatusOr<Walk> walk = WalkTokens(*engine, *line_source, *std::move(tokens), *max_len);
        if (!walk.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(name, ": ", walk.status().message()));
        }
        walks.push_back(*std::move(walk));
        return absl::OkStatus();
      });
  if (!status.ok()) return Fail(status);
  if ((flags->Has("json") || flags->Has("svg")) && walks.size() != 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--json and --svg write one decode; the input holds ", walks.size())));
  }
  const Vocabulary& vocab = (*engine)->vocab();
  std::string out;
  for (const Walk& walk : walks) {
    for (size_t k = 0; k < walk.frames.size(); ++k) {
      absl::StrAppend(&out, PlainFrame(walk, vocab, k), "\n");
    }
  }
  std::cout << out;
  if (walks.size() == 1) {
    if (absl::Status s = WriteFrameFiles(*flags, walks[0], vocab, kDefaultDelay); !s.ok()) {
      return Fail(s);
    }
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

namespace {

// Colours and pauses only for a person at a terminal who has not asked for no colour.
bool Animated() {
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) && (no_color == nullptr || *no_color == '\0');
}

// Prints the walk's frames: on a terminal one at a time, `delay` seconds apart; else plain
// frames separated by blank lines, at once.
void PlayFrames(const Walk& walk, const Vocabulary& vocab, double delay) {
  const bool animated = Animated();
  for (size_t k = 0; k < walk.frames.size(); ++k) {
    if (!animated) {
      std::cout << PlainFrame(walk, vocab, k) << "\n";
      continue;
    }
    std::cout << AnsiFrame(walk, vocab, k) << std::flush;
    if (k + 1 < walk.frames.size() && delay > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    }
  }
}

absl::StatusOr<double> DelayFromFlags(const Flags& flags) {
  const std::string text = flags.Get("delay", "");
  double delay = kDefaultDelay;
  if (flags.Has("delay") && (!absl::SimpleAtod(text, &delay) || !(delay >= 0 && delay <= 60))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--delay must be seconds in [0, 60], got '", text, "'"));
  }
  return delay;
}

// One sample, as `astcd sample` with the same flags draws it (its first result).
absl::StatusOr<std::vector<int32_t>> SampleOne(Backend& backend, const InitRequest& request,
                                               const std::string& sampler, uint64_t seed,
                                               const PolicyConfig& policy) {
  DecodeOptions options;
  options.max_new_tokens = 0;  // the budget bounds it, as sample's default cap does
  std::vector<int32_t> tokens;
  absl::Status status = backend.Sample(request, sampler, seed, policy, options,
                                       [&](const DecodeResult& r) { tokens = r.tokens; });
  if (!status.ok()) return status;
  return tokens;
}

// animate's and play's sampler: --sampler (uniform unless `fixed`), --seed, --policy.
struct SamplerFlags {
  std::string name = "uniform";
  uint64_t seed = 0;
  PolicyConfig policy;
};

absl::StatusOr<SamplerFlags> SamplerFromFlags(const Flags& flags,
                                              const std::shared_ptr<const Engine>& engine) {
  SamplerFlags out;
  out.name = flags.Get("sampler", "uniform");
  absl::StatusOr<int64_t> seed = flags.GetInt("seed", 0, INT64_MIN, INT64_MAX);
  if (!seed.ok()) return seed.status();
  out.seed = static_cast<uint64_t>(*seed);
  if (flags.Has("policy")) {
    absl::StatusOr<PolicyConfig> policy = PolicyConfigFromJsonText(flags.Get("policy", ""));
    if (!policy.ok()) return policy.status();
    out.policy = *policy;
  }
  // Refuse a bad sampler or policy here, the same way in both modes (as sample does).
  absl::StatusOr<std::unique_ptr<Sampler>> sampler =
      MakeSampler(out.name, out.seed, out.policy, engine);
  if (!sampler.ok()) return sampler.status();
  return out;
}

}  // namespace

int Animate(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv,
      {"seed", "delay", "sampler", "policy", "start", "arity", "config", "max-len", "json", "svg",
       "server"},
      {});
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<SourceFlags> source = StartFromFlags(*flags, **engine);
  if (!source.ok()) return Fail(source.status());
  absl::StatusOr<int> max_len = BudgetFromFlags(*flags);
  if (!max_len.ok()) return Fail(max_len.status());
  absl::StatusOr<double> delay = DelayFromFlags(*flags);
  if (!delay.ok()) return Fail(delay.status());
  absl::StatusOr<SamplerFlags> sampler = SamplerFromFlags(*flags, *engine);
  if (!sampler.ok()) return Fail(sampler.status());
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  InitRequest request;
  request.start = source->start;
  request.arity = source->arity;
  request.max_len = *max_len;
  absl::StatusOr<std::vector<int32_t>> tokens =
      SampleOne(**backend, request, sampler->name, sampler->seed, sampler->policy);
  if (!tokens.ok()) return FailCall(tokens.status());
  absl::StatusOr<Walk> walk = WalkTokens(*engine, *source, *std::move(tokens), *max_len);
  if (!walk.ok()) return FailCall(walk.status());
  const Vocabulary& vocab = (*engine)->vocab();
  PlayFrames(*walk, vocab, *delay);
  if (absl::Status s = WriteFrameFiles(*flags, *walk, vocab, *delay > 0 ? *delay : kDefaultDelay);
      !s.ok()) {
    return Fail(s);
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

namespace {

// One interactive session of play on standard input and output.
class Game {
 public:
  Game(std::shared_ptr<const Engine> engine, InitRequest request, SamplerFlags sampler,
       Backend& backend)
      : engine_(std::move(engine)), request_(std::move(request)), sampler_(std::move(sampler)),
        backend_(backend) {}

  // Plays programs until the player quits or input ends.
  absl::Status Run() {
    while (true) {
      absl::StatusOr<bool> finished = Build();
      if (!finished.ok() || !*finished) return finished.status();
      absl::StatusOr<bool> ran = RunProgram();
      if (!ran.ok() || !*ran) return ran.status();
      std::string answer;
      if (!Ask("another? [y/N] ", &answer)) return absl::OkStatus();
      if (absl::AsciiStrToLower(answer) != "y" && absl::AsciiStrToLower(answer) != "yes") {
        return absl::OkStatus();
      }
      ++games_;
    }
  }

 private:
  // Prints `prompt`, reads a line (trimmed) into *line; false at end of input.
  bool Ask(const std::string& prompt, std::string* line) {
    std::cout << prompt << std::flush;
    if (!std::getline(std::cin, *line)) {
      std::cout << "\n";
      return false;
    }
    *line = std::string(absl::StripAsciiWhitespace(*line));
    return true;
  }

  // The menu: the legal tokens, numbered from 1 in id order, four to a row.
  std::string Menu(const Frame& frame) const {
    std::string out, row;
    for (size_t i = 0; i < frame.legal.size(); ++i) {
      const std::string cell =
          absl::StrCat(i + 1, " ", engine_->vocab().info(frame.legal[i]).name);
      absl::StrAppend(&row, "  ", cell, std::string(cell.size() < 14 ? 14 - cell.size() : 1, ' '));
      if (i % 4 == 3 || i + 1 == frame.legal.size()) {
        absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(row), "\n");
        row.clear();
      }
    }
    return out;
  }

  // Builds a program token by token; true once it is finished (EOS), false if the player quit.
  absl::StatusOr<bool> Build() {
    absl::StatusOr<DecodeState> state = InitState(engine_, request_);
    if (!state.ok()) return state.status();
    state_ = *std::move(state);
    std::string message;  // about the last input, under the next menu
    while (!state_->terminated()) {
      const Frame frame = RenderState(*state_);
      std::cout << "\nstep " << state_->num_tokens() << ": " << frame.legal.size()
                << " legal (a number or a name; u undo, r finish, q quit)\n"
                << frame.source << (absl::EndsWith(frame.source, "\n") ? "" : "\n")
                << "legal:\n"
                << Menu(frame);
      if (!message.empty()) std::cout << message << "\n";
      message.clear();
      std::string line;
      if (!Ask("> ", &line) || line == "q") return false;
      absl::StatusOr<std::string> error = Move(line, frame, *state_);
      if (!error.ok()) return error.status();
      message = *error;
    }
    return true;
  }

  // Applies one move; returns a message for input it cannot take ("" if it took it).
  absl::StatusOr<std::string> Move(const std::string& line, const Frame& frame,
                                   DecodeState& state) {
    if (line == "u") {
      if (state.num_tokens() == 0) return std::string("nothing to undo");
      if (absl::Status s = Rollback(state, 1); !s.ok()) return s;
      return std::string();
    }
    if (line == "r") return Finish(state);
    int32_t token = -1;
    if (int64_t number; absl::SimpleAtoi(line, &number)) {
      if (number < 1 || number > static_cast<int64_t>(frame.legal.size())) {
        return absl::StrCat("no choice ", line, ": pick 1 to ", frame.legal.size());
      }
      token = frame.legal[number - 1];
    } else if (std::optional<int> id = engine_->vocab().Find(line); id.has_value()) {
      token = *id;
    } else {
      return absl::StrCat("'", line, "' is neither a number in the menu nor a token name");
    }
    if (!state.IsLegal(token)) return absl::StrCat("'", line, "' is not legal here");
    if (absl::Status s = state.Advance(token); !s.ok()) return s;
    return std::string();
  }

  // Lets the sampler finish the program from here, as sample would from this prefix.
  absl::StatusOr<std::string> Finish(DecodeState& state) {
    InitRequest request = request_;
    request.prefix_tokens = state.tokens();
    absl::StatusOr<std::vector<int32_t>> tokens = SampleOne(
        backend_, request, sampler_.name, sampler_.seed + games_, sampler_.policy);
    if (!tokens.ok()) return tokens.status();
    for (size_t i = state.tokens().size(); i < tokens->size(); ++i) {
      if (absl::Status s = state.Advance((*tokens)[i]); !s.ok()) return s;
    }
    return std::string();
  }

  // Prints the finished program, asks for arguments until a tuple runs, and prints what it
  // gave; false at end of input.
  absl::StatusOr<bool> RunProgram() {
    const std::string source = RenderSource(*state_);
    std::cout << "\nprogram:\n" << source << (absl::EndsWith(source, "\n") ? "" : "\n");
    absl::StatusOr<Program> program = Program::FromState(*state_);
    if (!program.ok()) return program.status();  // a finished program always compiles
    std::vector<std::string> params;
    for (int i = 0; i < program->arity(); ++i) params.push_back(VariableName(i));
    const std::string signature =
        absl::StrCat(program->entry_name(), "(", absl::StrJoin(params, ", "), ")");
    while (true) {
      std::string line;
      if (!Ask(absl::StrCat("arguments for ", signature, " (integers, comma-separated): "),
               &line)) {
        return false;
      }
      absl::StatusOr<std::vector<int64_t>> args = ParseTuple(line);
      absl::StatusOr<RunOutcome> outcome =
          args.ok() ? program->Run(*args) : absl::StatusOr<RunOutcome>(args.status());
      if (!outcome.ok()) {
        std::cout << outcome.status().message() << "\n";
        continue;
      }
      std::cout << Outcome(program->entry_name(), *args, *outcome) << "\n";
      return true;
    }
  }

  // "func(3, 4) returned 7 (3 steps)", or "func(3, 0) stopped: zero_division: ... (2 steps)".
  static std::string Outcome(const std::string& entry, const std::vector<int64_t>& args,
                             const RunOutcome& outcome) {
    std::string out = absl::StrCat(entry, "(", absl::StrJoin(args, ", "), ") ");
    if (outcome.status == RunStatus::kOk) {
      absl::StrAppend(&out, "returned ", outcome.value.ToString());
    } else {
      absl::StrAppend(&out, "stopped: ", RunStatusName(outcome.status), ": ", outcome.message);
    }
    return absl::StrCat(out, " (", outcome.steps, " steps)");
  }

  std::shared_ptr<const Engine> engine_;
  InitRequest request_;
  SamplerFlags sampler_;
  Backend& backend_;
  std::optional<DecodeState> state_;  // the program being built
  uint64_t games_ = 0;  // programs finished before this one: r's seed is offset by it
};

}  // namespace

int Play(int argc, char** argv) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv, {"seed", "start", "arity", "config", "max-len"}, {});
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<SourceFlags> source = StartFromFlags(*flags, **engine);
  if (!source.ok()) return Fail(source.status());
  absl::StatusOr<int> max_len = BudgetFromFlags(*flags);
  if (!max_len.ok()) return Fail(max_len.status());
  absl::StatusOr<SamplerFlags> sampler = SamplerFromFlags(*flags, *engine);
  if (!sampler.ok()) return Fail(sampler.status());
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  InitRequest request;
  request.start = source->start;
  request.arity = source->arity;
  request.max_len = *max_len;
  Game game(*engine, request, *sampler, **backend);
  if (absl::Status s = game.Run(); !s.ok()) return FailCall(s);
  std::cout.flush();
  return 0;
}

}  // namespace astcd::cli
