// The client's half of the protobuf translation (client/remote_convert.h) against the server's
// (server/convert.h): what one side writes, the other reads back unchanged. The values come
// from the real engine: sampled programs, their runs with traces and locals, and Tokenize's
// results, good and refused.
#include "client/remote_convert.h"

#include <vector>

#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/tokenize.h"
#include "gtest/gtest.h"
#include "server/convert.h"

namespace astcd {
namespace {

std::shared_ptr<const Engine> MakeEngine(const DecodeConfig& config = {}) {
  return Engine::Create(config).value();
}

DecodeBatch Sample(const std::shared_ptr<const Engine>& engine, int n, bool trace) {
  InitRequest request;
  request.start = Start::kFunction;
  request.max_len = 64;
  std::vector<DecodeState> states = InitStates(engine, {request}).value();
  DecodeOptions options;
  options.n = n;
  options.trace = trace;
  options.pad = true;
  options.max_new_tokens = 64;
  return Decode(states, UniformSampler(/*seed=*/5), options).value();
}

TEST(RemoteConvert, ConfigSurvivesTheWire) {
  std::vector<DecodeConfig> configs(4);
  configs[1].arities = {1, 3};
  configs[1].allow_loops = true;
  configs[2].max_expr_depth = 3;
  configs[2].const_range = {1, 9};
  configs[3].max_locals = 0;
  configs[3].value_range = {-100, 100};
  for (const DecodeConfig& config : configs) {
    v1::DecodeConfig wire;
    client::ConfigToProto(config, &wire);
    const DecodeConfig back = server::ConfigFromProto(wire);
    v1::DecodeConfig again;
    client::ConfigToProto(back, &again);
    EXPECT_EQ(wire.SerializeAsString(), again.SerializeAsString()) << wire.DebugString();
    EXPECT_EQ(MakeEngine(back)->vocab().fingerprint(),
              MakeEngine(config)->vocab().fingerprint());
  }
}

TEST(RemoteConvert, DecodeResultsSurviveTheWire) {
  const DecodeBatch batch = Sample(MakeEngine(), 64, /*trace=*/true);
  for (const DecodeResult& result : batch.results) {
    v1::DecodeResult wire;
    server::DecodeResultToProto(result, &wire);
    absl::StatusOr<DecodeResult> back = client::DecodeResultFromProto(wire);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->tokens, result.tokens);
    EXPECT_EQ(back->new_tokens, result.new_tokens);
    EXPECT_EQ(back->source, result.source);
    EXPECT_EQ(back->complete, result.complete);
    EXPECT_EQ(back->stop_reason, result.stop_reason);
    EXPECT_EQ(back->padded_tokens, result.padded_tokens);
    ASSERT_EQ(back->trace.size(), result.trace.size());
    for (size_t k = 0; k < result.trace.size(); ++k) {
      EXPECT_EQ(back->trace[k].token, result.trace[k].token);
      EXPECT_EQ(back->trace[k].num_legal, result.trace[k].num_legal);
    }
  }
}

TEST(RemoteConvert, RunOutcomesSurviveTheWire) {
  const std::shared_ptr<const Engine> engine = MakeEngine();
  const DecodeBatch batch = Sample(engine, 64, /*trace=*/false);
  RunOptions options;
  options.trace = true;
  options.locals = true;
  const std::vector<std::vector<int64_t>> inputs = {{0}, {3}, {-7}, {1000}};
  int outcomes = 0;
  for (const DecodeResult& result : batch.results) {
    absl::StatusOr<Program> program =
        Program::FromTokens(engine, Start::kFunction, std::nullopt, result.tokens);
    ASSERT_TRUE(program.ok()) << program.status();
    std::vector<std::vector<int64_t>> args;
    for (const auto& in : inputs) {
      args.emplace_back(in.begin(), in.begin() + std::min<size_t>(in.size(), program->arity()));
      args.back().resize(program->arity(), 2);
    }
    absl::StatusOr<std::vector<RunOutcome>> ran = program->RunBatch(args, options);
    ASSERT_TRUE(ran.ok()) << ran.status();
    for (const RunOutcome& outcome : *ran) {
      v1::Outcome wire;
      server::OutcomeToProto(outcome, &wire);
      absl::StatusOr<RunOutcome> back = client::OutcomeFromProto(wire);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->status, outcome.status);
      EXPECT_EQ(back->value, outcome.value);
      EXPECT_EQ(back->steps, outcome.steps);
      EXPECT_EQ(back->message, outcome.message);
      EXPECT_EQ(back->locals, outcome.locals);
      ASSERT_EQ(back->trace.size(), outcome.trace.size());
      for (size_t k = 0; k < outcome.trace.size(); ++k) {
        EXPECT_EQ(back->trace[k].line, outcome.trace[k].line);
        EXPECT_EQ(back->trace[k], outcome.trace[k]);
        EXPECT_EQ(back->trace[k].returned, outcome.trace[k].returned);
      }
      ++outcomes;
    }
  }
  EXPECT_EQ(outcomes, 64 * 4);
}

TEST(RemoteConvert, TokenizeResultsSurviveTheWire) {
  const std::shared_ptr<const Engine> engine = MakeEngine();
  const char* sources[] = {
      "def f(a, b):\n    c = a + b\n    return c * 2\n",  // ok
      "def f(a):\n    return a[0]\n",                    // unsupported syntax
      "def f(a):\n    return a +\n",                     // not Python
      "def f(a):\n    return b\n",                       // scope
  };
  int refused = 0;
  for (const char* source : sources) {
    TokenizeOptions options;
    options.start = Start::kFunction;
    const TokenizeResult result = Tokenize(engine, source, options);
    v1::TokenizeResult wire;
    server::TokenizeResultToProto(result, &wire);
    absl::StatusOr<TokenizeResult> back = client::TokenizeResultFromProto(wire, options.start);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->ok, result.ok) << source;
    EXPECT_EQ(back->tokens, result.tokens) << source;
    EXPECT_EQ(back->complete, result.complete) << source;
    EXPECT_EQ(back->normalized_source, result.normalized_source) << source;
    ASSERT_EQ(back->error.has_value(), result.error.has_value()) << source;
    if (result.error) {
      ++refused;
      EXPECT_EQ(back->error->stage, result.error->stage) << source;
      EXPECT_EQ(back->error->message, result.error->message) << source;
      EXPECT_EQ(back->error->line, result.error->line) << source;
      EXPECT_EQ(back->error->column, result.error->column) << source;
      EXPECT_EQ(back->error->node_type, result.error->node_type) << source;
    }
  }
  EXPECT_EQ(refused, 3);
}

TEST(RemoteConvert, MasksSurviveTheWireAndShortBuffersAreRefused) {
  const std::shared_ptr<const Engine> engine = MakeEngine();
  const DecodeBatch batch = Sample(engine, 8, /*trace=*/false);
  std::vector<int32_t> words(batch.states.size() * engine->words());
  ASSERT_TRUE(LegalMasks(batch.states, absl::MakeSpan(words)).ok());
  const std::string bytes = server::MaskBytes(words);
  const int rows = static_cast<int>(batch.states.size());
  absl::StatusOr<std::vector<int32_t>> back = client::MaskWords(bytes, rows, engine->words());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, words);
  EXPECT_TRUE(absl::IsInvalidArgument(
      client::MaskWords(bytes.substr(1), rows, engine->words()).status()));
}

TEST(RemoteConvert, UnknownEnumNamesFromANewerServerAreRefused) {
  v1::Outcome outcome;
  outcome.set_status("melted");
  EXPECT_TRUE(absl::IsInvalidArgument(client::OutcomeFromProto(outcome).status()));
  v1::DecodeResult result;
  result.set_stop_reason("bored");
  EXPECT_TRUE(absl::IsInvalidArgument(client::DecodeResultFromProto(result).status()));
}

}  // namespace
}  // namespace astcd
