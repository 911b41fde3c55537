// One AST compiled and printed from many threads at once. Compile takes its statements' lines
// from the printer; the printer used to write them into the shared AST (AstNode::line was
// mutable), a race ThreadSanitizer (ASTCD_TSAN) reported here. In every build the programs,
// their traces (which carry the lines) and the sources must equal a single-threaded run.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/codec.h"
#include "core/decode.h"
#include "core/interpreter.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::MakeEngine;
using ::astcd::testing::MustInit;

constexpr int kThreads = 4;

struct Observed {
  std::string source;
  std::vector<RunOutcome> outcomes;
};

Observed Observe(const Ast& ast, const DecodeConfig& config) {
  Observed out;
  out.source = AstToSource(ast);
  absl::StatusOr<Program> program = Program::Compile(ast, config);
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return out;
  RunOptions options;
  options.trace = true;
  options.max_steps = 200;
  for (int64_t v = -2; v <= 2; ++v) {
    const std::vector<int64_t> args(program->arity(), v);
    absl::StatusOr<RunOutcome> outcome = program->Run(args, options);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    if (outcome.ok()) out.outcomes.push_back(*std::move(outcome));
  }
  return out;
}

void ExpectSame(const Observed& got, const Observed& want) {
  EXPECT_EQ(got.source, want.source);
  ASSERT_EQ(got.outcomes.size(), want.outcomes.size());
  for (size_t i = 0; i < want.outcomes.size(); ++i) {
    EXPECT_EQ(got.outcomes[i].status, want.outcomes[i].status);
    EXPECT_EQ(got.outcomes[i].value, want.outcomes[i].value);
    EXPECT_EQ(got.outcomes[i].message, want.outcomes[i].message);  // names the line
    EXPECT_EQ(got.outcomes[i].trace, want.outcomes[i].trace);      // every event's line
  }
}

TEST(InterpreterStress, OneAstCompiledAndPrintedByManyThreadsAtOnce) {
  DecodeConfig config;
  config.allow_loops = true;
  auto engine = MakeEngine(config);
  DecodeOptions options;
  options.n = 24;
  absl::StatusOr<std::unique_ptr<WeightedSampler>> sampler =
      WeightedSampler::Create(3, PolicyConfig{}, engine);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  const absl::StatusOr<DecodeBatch> programs =
      Decode({MustInit(engine, Start::kModule, "", 160)}, **sampler, options);
  ASSERT_TRUE(programs.ok()) << programs.status();
  int compiled = 0;
  for (const DecodeResult& r : programs->results) {
    if (!r.complete) continue;
    // The baseline from its own copy of the AST, then a fresh AST shared by every thread, so
    // that the threads are the first to compute its lines.
    absl::StatusOr<Ast> own = TokensToAst(engine, Start::kModule, std::nullopt, r.tokens, false);
    ASSERT_TRUE(own.ok()) << own.status();
    const Observed want = Observe(*own, config);
    absl::StatusOr<Ast> shared = TokensToAst(engine, Start::kModule, std::nullopt, r.tokens, false);
    ASSERT_TRUE(shared.ok());
    std::vector<Observed> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] { got[t] = Observe(*shared, config); });
    }
    for (std::thread& t : threads) t.join();
    for (const Observed& g : got) ExpectSame(g, want);
    ++compiled;
  }
  EXPECT_GE(compiled, 12);  // most sampled modules are complete
}

}  // namespace
}  // namespace astcd
