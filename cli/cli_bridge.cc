// The source bridge commands: tokenize, detokenize, run; and forced (jump-forward chains).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "cli/cli_backend.h"
#include "cli/cli_flags.h"
#include "cli/cli_input.h"
#include "cli/json.h"
#include "core/codec.h"
#include "core/errors.h"
#include "core/interpreter.h"
#include "core/tokenize.h"

namespace astcd::cli {
namespace {

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

void WriteTokens(json::Writer& w, const std::vector<int32_t>& tokens) {
  w.BeginArray();
  for (int32_t t : tokens) w.Int(t);
  w.EndArray();
}

std::string TokenizeJson(const std::string& input, const TokenizeResult& r) {
  json::Writer w;
  w.BeginObject();
  w.Key("input");
  w.String(input);
  w.Key("ok");
  w.Bool(r.ok);
  w.Key("tokens");
  WriteTokens(w, r.tokens);
  w.Key("start");
  w.String(Str(StartName(r.start)));
  w.Key("complete");
  w.Bool(r.complete);
  w.Key("normalized_source");
  if (r.ok) {
    w.String(r.normalized_source);
  } else {
    w.Null();
  }
  w.Key("error");
  if (r.error) {
    w.BeginObject();
    w.Key("stage");
    w.String(Str(TokenizeStageName(r.error->stage)));
    w.Key("message");
    w.String(r.error->message);
    w.Key("line");
    w.Int(r.error->line);
    w.Key("column");
    w.Int(r.error->column);
    w.Key("node_type");
    w.String(r.error->node_type);
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  return w.str();
}

// What tokenize, detokenize and forced set up first, any failure a usage error: the flags
// (`known` and --config, --start, --arity, --server; FILE... positional), the engine of
// --config, --start and --arity, and the backend.
struct BridgeCommand {
  Flags flags;
  std::shared_ptr<const Engine> engine;
  SourceFlags source;
  std::unique_ptr<Backend> backend;
};

absl::StatusOr<BridgeCommand> SetUp(int argc, char** argv, std::vector<std::string> known,
                                    const std::vector<std::string>& switches) {
  known.insert(known.end(), {"config", "start", "arity", "server"});
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, known, switches, /*positional=*/true);
  if (!flags.ok()) return flags.status();
  BridgeCommand c;
  c.flags = *std::move(flags);
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(c.flags);
  if (!engine.ok()) return engine.status();
  c.engine = *std::move(engine);
  absl::StatusOr<SourceFlags> source = StartFromFlags(c.flags, *c.engine);
  if (!source.ok()) return source.status();
  c.source = *source;
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(c.flags, c.engine);
  if (!backend.ok()) return backend.status();
  c.backend = *std::move(backend);
  return c;
}

}  // namespace

int Tokenize(int argc, char** argv) {
  absl::StatusOr<BridgeCommand> command = SetUp(argc, argv, {"max-len"}, {"partial", "jsonl"});
  if (!command.ok()) return Fail(command.status());
  const Flags& flags = command->flags;
  absl::StatusOr<int64_t> max_len = flags.GetInt("max-len", 0, 0, kMaxLenLimit);
  if (!max_len.ok()) return Fail(max_len.status());
  TokenizeOptions options;
  options.start = command->source.start;
  options.arity = command->source.arity;
  options.partial = flags.Switch("partial");
  options.max_len = static_cast<int>(*max_len);
  absl::Status status = ForEachInput(
      flags.positional(), flags.Switch("jsonl"),
      [&](const std::string& name, const json::Value* object, const std::string& text) {
        std::string source = text;
        if (object != nullptr) {
          const json::Value* s = object->Find("source");
          if (s == nullptr || !s->is_string()) {
            return absl::InvalidArgumentError(absl::StrCat(name, ": wants {\"source\": \"...\"}"));
          }
          source = s->as_string();
        }
        absl::StatusOr<TokenizeResult> result = command->backend->Tokenize(source, options);
        if (!result.ok()) return result.status();
        std::cout << TokenizeJson(name, *result) << "\n";
        return absl::OkStatus();
      });
  if (!status.ok()) return FailCall(status);
  return 0;
}

int Detokenize(int argc, char** argv) {
  absl::StatusOr<BridgeCommand> command = SetUp(argc, argv, {}, {"partial"});
  if (!command.ok()) return Fail(command.status());
  const SourceFlags& source = command->source;
  const bool partial = command->flags.Switch("partial");
  absl::Status status = ForEachInput(
      command->flags.positional(), /*jsonl=*/true,
      [&](const std::string& name, const json::Value* object, const std::string&) {
        absl::StatusOr<std::vector<int32_t>> tokens = TokensOf(name, *object);
        if (!tokens.ok()) return tokens.status();
        json::Writer w;
        w.BeginObject();
        absl::StatusOr<DetokenizeResult> result =
            command->backend->Detokenize(source.start, source.arity, *tokens, partial);
        if (!result.ok()) return result.status();
        const DetokenizeResult& r = *result;
        if (r.ok) {
          w.Key("source");
          w.String(r.source);
        } else {
          w.Key("error");
          w.String(r.error);
          w.Key("position");
          w.Int(r.position);
        }
        w.EndObject();
        std::cout << w.str() << "\n";
        return absl::OkStatus();
      });
  if (!status.ok()) return FailCall(status);
  return 0;
}

int Forced(int argc, char** argv) {
  absl::StatusOr<BridgeCommand> command = SetUp(argc, argv, {"max-len"}, {});
  if (!command.ok()) return Fail(command.status());
  absl::StatusOr<int64_t> max_len = command->flags.GetInt("max-len", 0, 0, kMaxLenLimit);
  if (!max_len.ok()) return Fail(max_len.status());
  absl::Status status = ForEachInput(
      command->flags.positional(), /*jsonl=*/true,
      [&](const std::string& name, const json::Value* object, const std::string&) {
        absl::StatusOr<std::vector<int32_t>> tokens = TokensOf(name, *object);
        if (!tokens.ok()) return tokens.status();
        InitRequest request;
        request.start = command->source.start;
        request.arity = command->source.arity;
        request.prefix_tokens = *tokens;
        request.max_len = static_cast<int>(*max_len);  // 0: the default budget
        absl::StatusOr<std::vector<int32_t>> forced = command->backend->Forced(request);
        if (!forced.ok()) {
          // A prefix that does not decode is bad input, named by its line (exit 2).
          const std::optional<FieldError> error = GetFieldError(forced.status());
          if (error && PathIsWithin(error->path(), "prefix_tokens")) {
            return absl::InvalidArgumentError(
                absl::StrCat(name, ": ", forced.status().message()));
          }
          return forced.status();
        }
        json::Writer w;
        w.BeginObject();
        w.Key("tokens");
        WriteTokens(w, *tokens);
        w.Key("forced");
        WriteTokens(w, *forced);
        w.EndObject();
        std::cout << w.str() << "\n";
        return absl::OkStatus();
      });
  if (!status.ok()) return FailCall(status);
  return 0;
}

namespace {

void WriteValue(json::Writer& w, const Value& v) {
  if (v.is_none()) {
    w.Null();
  } else if (v.is_bool()) {
    w.Bool(v.i != 0);
  } else {
    w.Int(v.i);
  }
}

void WriteBindings(json::Writer& w, const std::vector<std::pair<int, Value>>& bindings) {
  w.BeginObject();
  for (const auto& [var, value] : bindings) {
    w.Key(VariableName(var));
    WriteValue(w, value);
  }
  w.EndObject();
}

}  // namespace

int Run(int argc, char** argv) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv,
                   {"config", "start", "arity", "source", "tokens", "args", "max-steps", "entry",
                    "server"},
                   {"trace", "locals"});
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<std::shared_ptr<const Engine>> engine = EngineFromFlags(*flags);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<SourceFlags> source_flags = StartFromFlags(*flags, **engine);
  if (!source_flags.ok()) return Fail(source_flags.status());
  absl::StatusOr<int64_t> max_steps = flags->GetInt("max-steps", 100'000, 1, kMaxStepsLimit);
  if (!max_steps.ok()) return Fail(max_steps.status());
  absl::StatusOr<int64_t> entry = flags->GetInt("entry", -1, 0, 15);
  if (!entry.ok()) return Fail(entry.status());
  if (flags->Has("source") == flags->Has("tokens")) {
    return Fail(absl::InvalidArgumentError("give exactly one of --source FILE and --tokens JSON"));
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::FromFlags(*flags, *engine);
  if (!backend.ok()) return Fail(backend.status());
  RunCall call;
  call.start = source_flags->start;
  call.arity = source_flags->arity;
  if (*entry >= 0) call.entry = static_cast<int>(*entry);
  call.options.max_steps = *max_steps;
  call.options.trace = flags->Switch("trace");
  call.options.locals = flags->Switch("locals");
  call.input_texts = flags->GetAll("args");
  std::vector<std::vector<int64_t>>& inputs = call.inputs;
  for (const std::string& tuple : call.input_texts) {
    absl::StatusOr<std::vector<int64_t>> args = ParseTuple(tuple);  // --args "" is ()
    if (!args.ok()) {
      return Fail(
          absl::InvalidArgumentError(absl::StrCat("flag --args ", args.status().message())));
    }
    inputs.push_back(*std::move(args));
  }
  if (inputs.empty()) inputs.push_back({});  // a function of arity 0

  // The program: tokens, or source that tokenizes. A source outside the language is an
  // outcome (invalid_program) for every tuple, not a usage error.
  std::optional<std::string> invalid;
  if (flags->Has("tokens")) {
    absl::StatusOr<json::Value> list = json::Parse(flags->Get("tokens", ""));
    if (!list.ok() || !list->is_array()) {
      return Fail(absl::InvalidArgumentError("flag --tokens wants a JSON array of token ids"));
    }
    for (const json::Value& t : list->as_array()) {
      if (!t.is_int() || t.as_int() < INT32_MIN || t.as_int() > INT32_MAX) {
        return Fail(absl::InvalidArgumentError("flag --tokens wants 32-bit integers"));
      }
      call.tokens.push_back(static_cast<int32_t>(t.as_int()));
    }
  } else {
    absl::StatusOr<std::string> source = ReadInput(flags->Get("source", ""));
    if (!source.ok()) return Fail(source.status());
    TokenizeOptions options;
    options.start = source_flags->start;
    options.arity = source_flags->arity;
    absl::StatusOr<TokenizeResult> r = (*backend)->Tokenize(*source, options);
    if (!r.ok()) return FailCall(r.status());
    if (r->ok) {
      call.tokens = r->tokens;
    } else {
      invalid = absl::StrCat(TokenizeStageName(r->error->stage), " at line ", r->error->line,
                             ": ", r->error->message);
    }
  }
  // Every tuple runs before anything is printed, so a bad one is refused with no output.
  RunReply reply;
  if (invalid) {
    reply.invalid_program = *invalid;
  } else {
    absl::StatusOr<RunReply> ran = (*backend)->Run(call);
    if (!ran.ok()) return FailCall(ran.status());
    reply = *std::move(ran);
  }
  const RunOptions& options = call.options;
  for (size_t k = 0; k < inputs.size(); ++k) {
    json::Writer w;
    w.BeginObject();
    if (reply.invalid_program) {
      w.Key("status");
      w.String("invalid_program");
      w.Key("value");
      w.Null();
      w.Key("steps");
      w.Int(0);
      w.Key("message");
      w.String(*reply.invalid_program);
    } else {
      const RunOutcome* outcome = &reply.outcomes[k];
      w.Key("status");
      w.String(Str(RunStatusName(outcome->status)));
      w.Key("value");
      WriteValue(w, outcome->value);
      w.Key("steps");
      w.Int(outcome->steps);
      w.Key("message");
      w.String(outcome->message);
      if (options.locals) {
        w.Key("locals");
        WriteBindings(w, outcome->locals);
      }
      if (options.trace) {
        w.Key("trace");
        w.BeginArray();
        for (const TraceEvent& e : outcome->trace) {
          w.BeginObject();
          w.Key("line");
          w.Int(e.line);
          w.Key("assigned");
          WriteBindings(w, e.assigned());
          if (e.returned) {
            w.Key("returned");
            WriteValue(w, *e.returned);
          }
          w.EndObject();
        }
        w.EndArray();
      }
    }
    w.EndObject();
    std::cout << w.str() << "\n";
  }
  return 0;
}

}  // namespace astcd::cli
