#include "cli/cli_backend.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/errors.h"
#include "core/sampler.h"

namespace astcd::cli {
namespace {

std::string TupleText(const RunCall& call, size_t k) {
  return k < call.input_texts.size() ? call.input_texts[k] : "(none)";
}

// The usage errors of `run`, the same from either backend.
absl::Status EntryError(const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat("flag --entry: ", status.message()));
}
absl::Status ArgsError(const RunCall& call, size_t k, absl::string_view description) {
  return absl::InvalidArgumentError(
      absl::StrCat("--args ", TupleText(call, k), ": ", description));
}

// An InitStates error about requests[0] as InitState gives it for its one request: the
// description (the message below requests[0]) and the path below it.
absl::Status InitStateError(const absl::Status& status) {
  const std::optional<FieldError> error = GetFieldError(status);
  constexpr absl::string_view kRequest = "requests[0]";
  if (!error || !PathIsWithin(error->field, kRequest)) return status;
  absl::string_view below = absl::string_view(error->field).substr(kRequest.size());
  absl::ConsumePrefix(&below, ".");
  const absl::Status relative(status.code(), error->description);
  if (below.empty()) return relative;
  return WithFieldError(relative, FieldError{std::string(below), "", ": ", ""});
}

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(std::shared_ptr<const Engine> engine) : engine_(std::move(engine)) {}

  absl::StatusOr<client::VocabularyListing> Vocabulary() override {
    return client::ListVocabulary(engine_->vocab());
  }

  absl::Status Sample(const InitRequest& request, const std::string& sampler_name, uint64_t seed,
                      const PolicyConfig& policy, const DecodeOptions& options,
                      const std::function<void(const DecodeResult&)>& on_result) override {
    absl::StatusOr<std::unique_ptr<Sampler>> sampler =
        MakeSampler(sampler_name, seed, policy, engine_);
    if (!sampler.ok()) return sampler.status();
    absl::StatusOr<DecodeState> state = InitState(engine_, request);
    if (!state.ok()) return state.status();
    const std::vector<DecodeState> inputs = {*std::move(state)};
    // The results are passed on as they finish, and then freed there: nothing is kept.
    DecodeOptions on_workers = options;
    on_workers.keep_states = false;
    on_workers.on_finished = [&](DecodeResult& r) {
      if (options.on_finished) options.on_finished(r);
      on_result(r);
      r = DecodeResult();
    };
    return Decode(inputs, **sampler, on_workers).status();
  }

  absl::StatusOr<TokenizeResult> Tokenize(const std::string& source,
                                          const TokenizeOptions& options) override {
    return astcd::Tokenize(engine_, source, options);
  }

  absl::StatusOr<DetokenizeResult> Detokenize(Start start, std::optional<int> arity,
                                              const std::vector<int32_t>& tokens,
                                              bool partial) override {
    return astcd::Detokenize(engine_, start, arity, tokens, partial);
  }

  absl::StatusOr<RunReply> Run(const RunCall& call) override {
    RunReply reply;
    // A program that does not compile is an outcome; an --entry it does not have (Compile's
    // one error about `entry`) is a usage error.
    absl::StatusOr<Program> program =
        Program::FromTokens(engine_, call.start, call.arity, call.tokens, call.entry);
    if (!program.ok()) {
      if (PathIsWithin(FieldPathOf(program.status()), "entry")) return EntryError(program.status());
      reply.invalid_program = std::string(program.status().message());
      return reply;
    }
    for (size_t k = 0; k < call.inputs.size(); ++k) {
      absl::StatusOr<RunOutcome> outcome = program->Run(call.inputs[k], call.options);
      if (!outcome.ok()) return ArgsError(call, k, outcome.status().message());
      reply.outcomes.push_back(*std::move(outcome));
    }
    return reply;
  }

  absl::StatusOr<std::vector<int32_t>> Forced(const InitRequest& request) override {
    absl::StatusOr<DecodeState> state = InitState(engine_, request);
    if (!state.ok()) return state.status();
    return ForcedTokens(*state);
  }

 private:
  std::shared_ptr<const Engine> engine_;
};

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(std::shared_ptr<const Engine> engine, std::unique_ptr<client::RemoteDecoder> rpc)
      : engine_(std::move(engine)), rpc_(std::move(rpc)) {}

  absl::StatusOr<client::VocabularyListing> Vocabulary() override {
    return rpc_->GetVocabulary(engine_->config());
  }

  absl::Status Sample(const InitRequest& request, const std::string& sampler, uint64_t seed,
                      const PolicyConfig& policy, const DecodeOptions& options,
                      const std::function<void(const DecodeResult&)>& on_result) override {
    client::DecodeSpec spec;
    spec.config = engine_->config();
    spec.init_requests = {request};
    spec.sampler = sampler;
    spec.seed = seed;
    spec.policy = policy;
    spec.options = options;
    return rpc_->Decode(spec, [&](DecodeResult&& r, client::Session&&) {
      if (options.on_finished) options.on_finished(r);
      if (options.on_result) options.on_result();
      on_result(r);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<TokenizeResult> Tokenize(const std::string& source,
                                          const TokenizeOptions& options) override {
    absl::StatusOr<std::vector<TokenizeResult>> results =
        rpc_->Tokenize(engine_->config(), {source}, options);
    if (!results.ok()) return results.status();
    return std::move((*results)[0]);
  }

  absl::StatusOr<DetokenizeResult> Detokenize(Start start, std::optional<int> arity,
                                              const std::vector<int32_t>& tokens,
                                              bool partial) override {
    absl::StatusOr<std::vector<DetokenizeResult>> results =
        rpc_->Detokenize(engine_->config(), start, arity, {tokens}, partial);
    if (!results.ok()) return results.status();
    return std::move((*results)[0]);
  }

  // The server's error names the field it refuses (tokens, entry or inputs[k]); each becomes
  // what the in-process run reports for it. The description is the message below that field,
  // which is the core's own message.
  absl::StatusOr<RunReply> Run(const RunCall& call) override {
    client::RunProgram program;
    program.tokens = call.tokens;
    program.start = call.start;
    program.arity = call.arity;
    program.entry = call.entry;
    absl::StatusOr<std::vector<RunOutcome>> outcomes =
        rpc_->Run(engine_->config(), program, call.inputs, call.options);
    RunReply reply;
    if (outcomes.ok()) {
      reply.outcomes = *std::move(outcomes);
      return reply;
    }
    const absl::Status& s = outcomes.status();
    const std::optional<FieldError> error = GetFieldError(s);
    if (!absl::IsInvalidArgument(s) || !error) return s;
    if (PathIsWithin(error->field, "tokens")) {
      reply.invalid_program = error->description;
      return reply;
    }
    if (PathIsWithin(error->field, "entry")) return EntryError(s);
    for (size_t k = 0; k < call.inputs.size(); ++k) {
      if (PathIsWithin(error->field, absl::StrCat("inputs[", k, "]"))) {
        return ArgsError(call, k, error->description);
      }
    }
    return s;
  }

  // A session made only to ask for its chain (REPORT), then freed.
  absl::StatusOr<std::vector<int32_t>> Forced(const InitRequest& request) override {
    client::ForcedChains forced;
    absl::StatusOr<std::vector<client::Session>> sessions =
        rpc_->InitStates(engine_->config(), {request}, client::JumpForward::kReport, &forced);
    if (!sessions.ok()) return InitStateError(sessions.status());
    if (absl::StatusOr<int> released = rpc_->Release(*sessions); !released.ok()) {
      return released.status();
    }
    return std::move(forced[0]);
  }

 private:
  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<client::RemoteDecoder> rpc_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> Backend::FromFlags(const Flags& flags,
                                                            std::shared_ptr<const Engine> engine) {
  if (!flags.Has("server")) return std::make_unique<LocalBackend>(std::move(engine));
  const std::string target = flags.Get("server", "");
  // HOST:PORT with PORT in [1, 65535]: gRPC would take port 99999 modulo 65536.
  const size_t colon = target.rfind(':');
  const std::string port = colon == std::string::npos ? "" : target.substr(colon + 1);
  int port_number = 0;
  if (colon == std::string::npos || colon == 0 || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag --server wants HOST:PORT with port in [1, 65535], not '", target, "'"));
  }
  client::ClientOptions options;
  // Output must match the in-process engine's, token for token.
  options.expected_fingerprint = engine->vocab().fingerprint();
  options.replay_sessions = false;  // the CLI keeps no sessions
  options.timeout = absl::Minutes(10);
  return std::make_unique<RemoteBackend>(std::move(engine),
                                         client::RemoteDecoder::Connect(target, options));
}

int FailCall(const absl::Status& status) {
  if (absl::IsInvalidArgument(status) || absl::IsNotFound(status)) return Fail(status);
  std::cerr << "astcd: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return kServerError;
}

}  // namespace astcd::cli
