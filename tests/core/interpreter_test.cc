// Hand-picked semantics cases for Run. Each expected value is what CPython 3 gives; the
// differential test (tests/oracle/run_oracle.py) checks sampled programs at scale.
#include "core/interpreter.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "core/errors.h"
#include "core/codec.h"
#include "core/errors.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;

::testing::AssertionResult Contains(absl::string_view text, absl::string_view part) {
  if (absl::StrContains(text, part)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part
                                       << "\"";
}

using Pairs = std::vector<std::pair<int, Value>>;

DecodeConfig TestConfig() {
  DecodeConfig config;
  config.arities = {0, 1, 2, 3};
  config.max_expr_depth = 8;
  config.max_control_depth = 3;
  config.allow_loops = true;
  return config;
}

Program MustCompile(const std::shared_ptr<const Engine>& engine, Start start,
                    const std::string& tokens, std::optional<int> arity = std::nullopt,
                    std::optional<int> entry = std::nullopt) {
  absl::StatusOr<Program> program =
      Program::FromTokens(engine, start, arity, Ids(*engine, tokens), entry);
  EXPECT_TRUE(program.ok()) << program.status() << " for " << tokens;
  return *std::move(program);
}

RunOutcome MustRun(const Program& program, std::vector<int64_t> args,
                   const RunOptions& options = {}) {
  absl::StatusOr<RunOutcome> outcome = program.Run(args, options);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return *std::move(outcome);
}

// Evaluates an EXPR root over `args` (its arity is args.size()).
class ExprTest : public ::testing::Test {
 protected:
  RunOutcome Outcome(const std::string& expr, std::vector<int64_t> args) {
    const Program program =
        MustCompile(engine_, Start::kExpr, expr, static_cast<int>(args.size()));
    return MustRun(program, args);
  }
  Value Eval(const std::string& expr, std::vector<int64_t> args) {
    const RunOutcome outcome = Outcome(expr, args);
    EXPECT_EQ(outcome.status, RunStatus::kOk) << expr << ": " << outcome.message;
    EXPECT_EQ(outcome.steps, 1);
    return outcome.value;
  }

  std::shared_ptr<const Engine> engine_ = MakeEngine(TestConfig());
};

constexpr Value Int(int64_t v) { return Value::Int(v); }
constexpr Value True() { return Value::Bool(true); }
constexpr Value False() { return Value::Bool(false); }

TEST(ValueTest, BoolsAndIntsStayDistinct) {
  EXPECT_NE(Value::Bool(true), Value::Int(1));
  EXPECT_NE(Value::Bool(false), Value::Int(0));
  EXPECT_NE(Value::None(), Value::Int(0));
  EXPECT_EQ(Value::Bool(true).ToString(), "True");
  EXPECT_EQ(Value::Int(-3).ToString(), "-3");
  EXPECT_EQ(Value::None().ToString(), "None");
  EXPECT_EQ(Value::Bool(false).TypeName(), "bool");
  EXPECT_EQ(RunStatusName(RunStatus::kZeroDivision), "zero_division");
  EXPECT_EQ(RunStatusName(RunStatus::kStepLimit), "step_limit");
  EXPECT_EQ(RunStatusName(RunStatus::kInvalidProgram), "invalid_program");
}

// Every row of the grammar that names an operation has its case in Run: an operator
// applied to constants, and an augmented assignment, run to a value.
TEST_F(ExprTest, EveryOperatorRowRuns) {
  int operators = 0;
  for (const NodeSpec& spec : kGrammar) {
    if (spec.op == NodeKind::kNone) continue;
    SCOPED_TRACE(spec.token);
    ++operators;
    std::string tokens(spec.token);
    for (int i = 0; i < spec.num_children; ++i) tokens += i == 0 ? " 7" : " 3";
    RunOutcome outcome;
    if (spec.fills == Hole::kExpr) {
      outcome = MustRun(MustCompile(engine_, Start::kExpr, tokens, 0), {});
    } else {
      const std::string block = "= a 7 " + std::string(spec.token) + " a 3 return a end";
      outcome = MustRun(MustCompile(engine_, Start::kBlock, block, 0), {});
    }
    EXPECT_EQ(outcome.status, RunStatus::kOk) << outcome.message;
    EXPECT_FALSE(outcome.value.is_none());
  }
  EXPECT_EQ(operators, 21);  // 16 operators and 5 augmented assignments
}

TEST_F(ExprTest, BoolsAreIntsInArithmetic) {
  // a = 1, b = 2: (a < b) is True.
  EXPECT_EQ(Eval("+ < a b < a b", {1, 2}), Int(2));       // True + True
  EXPECT_EQ(Eval("neg < a b", {1, 2}), Int(-1));          // -True
  EXPECT_EQ(Eval("neg > a b", {1, 2}), Int(0));           // -False
  EXPECT_EQ(Eval("abs < a b", {1, 2}), Int(1));           // abs(True) is an int
  EXPECT_EQ(Eval("* < a b 7", {1, 2}), Int(7));
  EXPECT_EQ(Eval("- > a b 1", {1, 2}), Int(-1));          // False - 1
  EXPECT_EQ(Eval("// 7 < a b", {1, 2}), Int(7));          // 7 // True
  EXPECT_EQ(Eval("% 7 < a b", {1, 2}), Int(0));
  EXPECT_EQ(Eval("== < a b 1", {1, 2}), True());          // True == 1
  EXPECT_EQ(Eval("< > a b 1", {1, 2}), True());           // False < 1
  EXPECT_EQ(Eval("not a", {0, 2}), True());
  EXPECT_EQ(Eval("not a", {-4, 2}), False());
  EXPECT_EQ(Eval("a", {5, 2}), Int(5));
  EXPECT_EQ(Eval("3", {5, 2}), Int(3));
}

TEST_F(ExprTest, FloorDivisionAndModuloFloor) {
  struct Case {
    int64_t a, b, quotient, remainder;  // as CPython computes a // b and a % b
  };
  const Case cases[] = {
      {7, 2, 3, 1},     {-7, 2, -4, 1},   {7, -2, -4, -1},  {-7, -2, 3, -1},
      {6, 3, 2, 0},     {-6, 3, -2, 0},   {6, -3, -2, 0},   {-6, -3, 2, 0},
      {0, 5, 0, 0},     {0, -5, 0, 0},    {1, 5, 0, 1},     {-1, 5, -1, 4},
      {1, -5, -1, -4},  {-1, -5, 0, -1},  {9, 1, 9, 0},     {-9, -1, 9, 0},
      {-2147483648, 7, -306783379, 5},    {2147483647, -10, -214748365, -3},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Eval("// a b", {c.a, c.b}), Int(c.quotient)) << c.a << " // " << c.b;
    EXPECT_EQ(Eval("% a b", {c.a, c.b}), Int(c.remainder)) << c.a << " % " << c.b;
  }
}

TEST_F(ExprTest, DivisionByZeroOrFalse) {
  for (const std::string expr : {"// a b", "% a b", "// a < a b", "% a == a b", "% 0 b"}) {
    const RunOutcome outcome = Outcome(expr, {5, 0});
    EXPECT_EQ(outcome.status, RunStatus::kZeroDivision) << expr;
    EXPECT_EQ(outcome.value, Value::None());
    EXPECT_EQ(outcome.steps, 1);
    EXPECT_TRUE(Contains(outcome.message, "by zero")) << outcome.message;
  }
  // The right operand of `and` is not evaluated when the left is falsy.
  EXPECT_EQ(Eval("and b // a b", {5, 0}), Int(0));
}

TEST_F(ExprTest, AndOrReturnAnOperand) {
  EXPECT_EQ(Eval("and a b", {0, 5}), Int(0));
  EXPECT_EQ(Eval("and a b", {3, 5}), Int(5));
  EXPECT_EQ(Eval("and a b", {3, 0}), Int(0));
  EXPECT_EQ(Eval("or a b", {0, 0}), Int(0));
  EXPECT_EQ(Eval("or a b", {0, -2}), Int(-2));
  EXPECT_EQ(Eval("or a b", {4, 5}), Int(4));
  EXPECT_EQ(Eval("or < a b a", {1, 2}), True());
  EXPECT_EQ(Eval("or < a b a", {3, 2}), Int(3));
  EXPECT_EQ(Eval("and < a b a", {3, 2}), False());
  EXPECT_EQ(Eval("and < a b a", {1, 2}), Int(1));
  EXPECT_EQ(Eval("or > a b < a b", {1, 2}), True());
  EXPECT_EQ(Eval("and a > a b", {1, 2}), False());
  // ifexp: test, body, orelse; it returns the chosen operand.
  EXPECT_EQ(Eval("ifexp a < a b 7", {1, 2}), True());
  EXPECT_EQ(Eval("ifexp a < a b 7", {0, 2}), Int(7));
}

TEST_F(ExprTest, MinAndMaxReturnTheFirstOfEquals) {
  // a = 1, b = 2, so (a < b) is True == 1 and (a > b) is False == 0.
  EXPECT_EQ(Eval("min a < a b", {1, 2}), Int(1));    // min(1, True) is 1
  EXPECT_EQ(Eval("min < a b a", {1, 2}), True());    // min(True, 1) is True
  EXPECT_EQ(Eval("max a < a b", {1, 2}), Int(1));    // max(1, True) is 1
  EXPECT_EQ(Eval("max < a b a", {1, 2}), True());    // max(True, 1) is True
  EXPECT_EQ(Eval("max > a b 0", {1, 2}), False());   // max(False, 0) is False
  EXPECT_EQ(Eval("min 0 > a b", {1, 2}), Int(0));    // min(0, False) is 0
  EXPECT_EQ(Eval("min a b", {4, -2}), Int(-2));
  EXPECT_EQ(Eval("max a b", {4, -2}), Int(4));
  EXPECT_EQ(Eval("max < a b 0", {1, 2}), True());    // max(True, 0)
  EXPECT_EQ(Eval("min < a b 0", {1, 2}), Int(0));    // min(True, 0)
}

TEST(RunTest, RangeWithEmptyAndNegativeBounds) {
  auto engine = MakeEngine(TestConfig());
  // def func(a, b):
  //     c = 0
  //     for d in range(a, b):
  //         c += 1
  //     return c
  const Program two = MustCompile(engine, Start::kFunction,
                                  "def/2 = c 0 for/2 d a b += c 1 end return c end");
  EXPECT_EQ(MustRun(two, {0, 5}).value, Int(5));
  EXPECT_EQ(MustRun(two, {5, 0}).value, Int(0));
  EXPECT_EQ(MustRun(two, {-3, -1}).value, Int(2));
  EXPECT_EQ(MustRun(two, {-1, -3}).value, Int(0));
  EXPECT_EQ(MustRun(two, {3, 3}).value, Int(0));
  const Program one =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b c end return b end");
  EXPECT_EQ(MustRun(one, {4}).value, Int(6));  // 0 + 1 + 2 + 3
  EXPECT_EQ(MustRun(one, {0}).value, Int(0));
  EXPECT_EQ(MustRun(one, {-5}).value, Int(0));
  // Bools are ints to range(): range(True) runs once, range(False) never.
  const Program bools = MustCompile(engine, Start::kFunction,
                                    "def/1 = b 0 for/1 c < 0 a += b 1 end return b end");
  EXPECT_EQ(MustRun(bools, {4}).value, Int(1));
  EXPECT_EQ(MustRun(bools, {0}).value, Int(0));
}

TEST(RunTest, LoopVariableKeepsItsLastValue) {
  auto engine = MakeEngine(TestConfig());
  // def func(a, b):
  //     for b in range(a):
  //         pass
  //     return b
  const Program program =
      MustCompile(engine, Start::kFunction, "def/2 for/1 b a pass end return b end");
  EXPECT_EQ(MustRun(program, {3, 9}).value, Int(2));
  EXPECT_EQ(MustRun(program, {0, 9}).value, Int(9));   // zero iterations leave b alone
  EXPECT_EQ(MustRun(program, {-2, 9}).value, Int(9));
  // A fresh loop variable is unbound after a loop that never runs.
  RunOptions options;
  options.locals = true;
  const Program fresh =
      MustCompile(engine, Start::kFunction, "def/1 for/1 b a pass end return a end");
  EXPECT_EQ(MustRun(fresh, {3}, options).locals, (Pairs{{0, Int(3)}, {1, Int(2)}}));
  EXPECT_EQ(MustRun(fresh, {0}, options).locals, (Pairs{{0, Int(0)}}));
  // Assigning the loop variable in the body does not disturb the iteration; break keeps
  // the value it had.
  //   for b in range(a):
  //       b = b * 2
  //       if b == 6: break
  //   return b
  const Program body = MustCompile(
      engine, Start::kFunction, "def/2 for/1 b a = b * b 2 if == b 6 break end end return b end");
  EXPECT_EQ(MustRun(body, {10, 0}).value, Int(6));
  EXPECT_EQ(MustRun(body, {2, 0}).value, Int(2));
}

TEST(RunTest, BreakAndContinue) {
  auto engine = MakeEngine(TestConfig());
  // def func(a):
  //     b = 0
  //     for c in range(a):
  //         if c % 2 == 0:
  //             continue
  //         b += c
  //     return b
  const Program program = MustCompile(
      engine, Start::kFunction,
      "def/1 = b 0 for/1 c a if == % c 2 0 continue end += b c end return b end");
  EXPECT_EQ(MustRun(program, {6}).value, Int(9));  // 1 + 3 + 5
  // Nested loops: break leaves only the inner one.
  //   b = 0
  //   for c in range(a):
  //       for d in range(a):
  //           if d == c: break
  //           b += 1
  //   return b
  const Program nested = MustCompile(
      engine, Start::kFunction,
      "def/1 = b 0 for/1 c a for/1 d a if == d c break end += b 1 end end return b end");
  EXPECT_EQ(MustRun(nested, {4}).value, Int(6));  // 0 + 1 + 2 + 3
}

TEST(RunTest, ReturnNoneAndFallingOffTheEnd) {
  auto engine = MakeEngine(TestConfig());
  RunOptions options;
  options.trace = true;
  const RunOutcome bare = MustRun(MustCompile(engine, Start::kFunction, "def/1 return/0 end"),
                                  {1}, options);
  EXPECT_EQ(bare.status, RunStatus::kOk);
  EXPECT_EQ(bare.value, Value::None());
  EXPECT_EQ(bare.steps, 1);
  ASSERT_EQ(bare.trace.size(), 1u);
  EXPECT_EQ(bare.trace[0].returned, std::optional<Value>(Value::None()));

  const RunOutcome off =
      MustRun(MustCompile(engine, Start::kFunction, "def/1 pass end"), {1}, options);
  EXPECT_EQ(off.status, RunStatus::kOk);
  EXPECT_EQ(off.value, Value::None());
  EXPECT_EQ(off.steps, 1);
  ASSERT_EQ(off.trace.size(), 1u);
  EXPECT_EQ(off.trace[0].returned, std::nullopt);

  const Program maybe = MustCompile(engine, Start::kFunction, "def/1 if a return a end end");
  EXPECT_EQ(MustRun(maybe, {0}).value, Value::None());
  EXPECT_EQ(MustRun(maybe, {4}).value, Int(4));
  EXPECT_EQ(MustRun(maybe, {4}).steps, 2);
  // Statements after a return never run.
  const Program dead = MustCompile(engine, Start::kFunction, "def/1 return a = a 5 end");
  EXPECT_EQ(MustRun(dead, {3}).value, Int(3));
  EXPECT_EQ(MustRun(dead, {3}).steps, 1);
}

TEST(RunTest, OverflowJustOutsideValueRange) {
  DecodeConfig config = TestConfig();
  config.value_range = {-10, 10};
  auto engine = MakeEngine(config);
  auto run = [&](const std::string& expr, std::vector<int64_t> args) {
    return MustRun(MustCompile(engine, Start::kExpr, expr, static_cast<int>(args.size())), args);
  };
  EXPECT_EQ(run("+ a b", {5, 5}).value, Int(10));
  EXPECT_EQ(run("+ a b", {5, 6}).status, RunStatus::kOverflow);       // hi + 1
  EXPECT_EQ(run("+ a b", {-5, -5}).value, Int(-10));
  EXPECT_EQ(run("+ a b", {-5, -6}).status, RunStatus::kOverflow);     // lo - 1
  EXPECT_EQ(run("- a b", {-10, 1}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("* a b", {-5, 2}).value, Int(-10));
  EXPECT_EQ(run("* a b", {-10, -10}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("neg a", {-10}).value, Int(10));
  EXPECT_EQ(run("abs a", {-10}).value, Int(10));
  // An intermediate outside the range stops the run, even if the final value would fit.
  const RunOutcome mid = run("- + a b 1", {10, 1});
  EXPECT_EQ(mid.status, RunStatus::kOverflow);
  EXPECT_EQ(mid.value, Value::None());
  EXPECT_TRUE(Contains(mid.message, "10 + 1 = 11 is outside value_range [-10, 10]"));
  // Bools never overflow, and comparisons of in-range values are fine.
  EXPECT_EQ(run("< a b", {10, -10}).value, False());

  // An asymmetric range: -lo is outside.
  config.value_range = {-10, 9};
  auto asym = MakeEngine(config);
  auto run2 = [&](const std::string& expr, std::vector<int64_t> args) {
    return MustRun(MustCompile(asym, Start::kExpr, expr, static_cast<int>(args.size())), args);
  };
  EXPECT_EQ(run2("neg a", {-10}).status, RunStatus::kOverflow);
  EXPECT_EQ(run2("abs a", {-10}).status, RunStatus::kOverflow);
  EXPECT_EQ(run2("// a b", {-10, -1}).status, RunStatus::kOverflow);
  EXPECT_EQ(run2("// a b", {-9, -1}).value, Int(9));
  EXPECT_EQ(run2("% a b", {-10, -1}).value, Int(0));

  // Augmented assignment is checked too.
  const Program aug = MustCompile(engine, Start::kFunction, "def/1 += a 1 += a 1 return a end");
  EXPECT_EQ(MustRun(aug, {8}).value, Int(10));
  const RunOutcome over = MustRun(aug, {9});
  EXPECT_EQ(over.status, RunStatus::kOverflow);
  EXPECT_EQ(over.steps, 2);
  EXPECT_TRUE(Contains(over.message, "line 3"));
}

// A hand-built AST deeper than kMaxNesting is refused before the compiler recurses into it
// (on a small stack); one at the limit compiles and runs.
TEST(RunTest, AstsDeeperThanTheLimitAreRefused) {
  for (int depth : {kMaxNesting, kMaxNesting + 1, 80'000}) {
    std::vector<Ast> asts;
    asts.push_back(testing::DeepNegation(depth));
    asts.push_back(testing::DeepIfs(depth));
    for (const Ast& ast : asts) {
      testing::OnSmallStack([&] {
        absl::StatusOr<Program> program = Program::Compile(ast, TestConfig());
        if (depth > kMaxNesting) {
          EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument);
          EXPECT_EQ(FieldPathOf(program.status()), "ast") << program.status();
          return;
        }
        ASSERT_TRUE(program.ok()) << program.status();
        const RunOutcome outcome = MustRun(*program, {5});
        EXPECT_EQ(outcome.status, RunStatus::kOk) << outcome.message;
      });
    }
  }
}

TEST(RunTest, ConstantsOutsideValueRangeOverflow) {
  DecodeConfig wide = TestConfig();
  wide.const_range = {0, 30};
  auto engine = MakeEngine(wide);
  absl::StatusOr<Ast> ast =
      TokensToAst(engine, Start::kExpr, 1, Ids(*engine, "+ a 20"), /*partial=*/false);
  ASSERT_TRUE(ast.ok()) << ast.status();
  DecodeConfig narrow = TestConfig();
  narrow.value_range = {-10, 10};
  absl::StatusOr<Program> program = Program::Compile(*ast, narrow);
  ASSERT_TRUE(program.ok()) << program.status();
  const RunOutcome outcome = MustRun(*program, {0});
  EXPECT_EQ(outcome.status, RunStatus::kOverflow);
  EXPECT_TRUE(Contains(outcome.message, "constant 20"));
}

TEST(RunTest, ExtremeValueRangeDoesNotOverflowInternally) {
  DecodeConfig config = TestConfig();
  const int64_t limit = int64_t{1} << 62;
  config.value_range = {-limit, limit};
  auto engine = MakeEngine(config);
  auto run = [&](const std::string& expr, std::vector<int64_t> args) {
    return MustRun(MustCompile(engine, Start::kExpr, expr, static_cast<int>(args.size())), args);
  };
  EXPECT_EQ(run("* a b", {limit, limit}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("* a b", {-limit, limit}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("+ a b", {limit, limit}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("- a b", {-limit, limit}).status, RunStatus::kOverflow);
  EXPECT_EQ(run("neg a", {-limit}).value, Int(limit));
  EXPECT_EQ(run("abs a", {-limit}).value, Int(limit));
  EXPECT_EQ(run("// a b", {-limit, -1}).value, Int(limit));
  EXPECT_EQ(run("// a b", {-limit, 3}).value, Int(-1537228672809129302));
  EXPECT_EQ(run("% a b", {-limit, 3}).value, Int(2));
  const RunOutcome big = run("* a b", {limit, limit});
  EXPECT_TRUE(Contains(big.message, "21267647932558653966460912964485513216"));  // 2^124
}

TEST(RunTest, StepLimitWithALoop) {
  auto engine = MakeEngine(TestConfig());
  // 1 (=) + 1 (for) + n * (1 iteration + 1 body) + 1 (return) = 2n + 3 steps.
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b 1 end return b end");
  RunOptions options;
  EXPECT_EQ(MustRun(program, {3}, options).steps, 9);
  options.max_steps = 9;
  EXPECT_EQ(MustRun(program, {3}, options).status, RunStatus::kOk);
  options.max_steps = 8;
  RunOutcome cut = MustRun(program, {3}, options);
  EXPECT_EQ(cut.status, RunStatus::kStepLimit);
  EXPECT_EQ(cut.steps, 8);
  EXPECT_EQ(cut.value, Value::None());
  EXPECT_TRUE(Contains(cut.message, "line 5"));  // the return
  options.max_steps = 7;
  EXPECT_TRUE(Contains(MustRun(program, {3}, options).message, "line 4"));  // the body
  // An iteration cut off by the cap has already assigned its variable, as in CPython, where
  // the for statement assigns it before the body's first statement runs.
  options.max_steps = 2;
  options.locals = true;
  options.trace = true;
  cut = MustRun(program, {3}, options);
  EXPECT_EQ(cut.status, RunStatus::kStepLimit);
  EXPECT_EQ(cut.locals, (Pairs{{0, Int(3)}, {1, Int(0)}, {2, Int(0)}}));
  EXPECT_EQ(cut.trace.size(), 2u);  // one event per step taken
  options = RunOptions{};
  // A long loop stops at the cap; the default cap is 100000.
  cut = MustRun(program, {2000000000});
  EXPECT_EQ(cut.status, RunStatus::kStepLimit);
  EXPECT_EQ(cut.steps, 100000);
  // A loop of pass still counts steps.
  const Program spin =
      MustCompile(engine, Start::kFunction, "def/1 for/1 b a for/1 c a pass end end end");
  options.max_steps = 1000;
  EXPECT_EQ(MustRun(spin, {1000000}, options).status, RunStatus::kStepLimit);
  EXPECT_EQ(MustRun(spin, {3}, options).steps, 1 + 3 * (2 + 3 * 2));
}

TEST(RunTest, TraceHasLinesAssignmentsAndReturns) {
  auto engine = MakeEngine(TestConfig());
  // 1 def func(a):
  // 2     b = a + 1
  // 3     for c in range(2):
  // 4         b += c
  // 5     return b
  const Program program = MustCompile(engine, Start::kFunction,
                                      "def/1 = b + a 1 for/1 c 2 += b c end return b end");
  RunOptions options;
  options.trace = true;
  options.locals = true;
  const RunOutcome outcome = MustRun(program, {10}, options);
  ASSERT_EQ(outcome.status, RunStatus::kOk);
  EXPECT_EQ(outcome.value, Int(12));
  EXPECT_EQ(outcome.steps, 7);
  ASSERT_EQ(outcome.trace.size(), 7u);
  const int lines[] = {2, 3, 3, 4, 3, 4, 5};
  const Pairs assigned[] = {{{1, Int(11)}}, {}, {{2, Int(0)}}, {{1, Int(11)}},
                            {{2, Int(1)}},  {{1, Int(12)}}, {}};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(outcome.trace[i].line, lines[i]) << i;
    EXPECT_EQ(outcome.trace[i].assigned(), assigned[i]) << i;
    EXPECT_EQ(outcome.trace[i].returned.has_value(), i == 6) << i;
  }
  EXPECT_EQ(outcome.trace[6].returned, std::optional<Value>(Int(12)));
  EXPECT_EQ(outcome.locals, (Pairs{{0, Int(10)}, {1, Int(12)}, {2, Int(1)}}));
  // Without the options, nothing is recorded.
  const RunOutcome plain = MustRun(program, {10});
  EXPECT_TRUE(plain.trace.empty());
  EXPECT_TRUE(plain.locals.empty());
}

TEST(RunTest, TraceLinesOfElifAndLaterFunctions) {
  auto engine = MakeEngine(TestConfig());
  // 1 def func(a):
  // 2     return a
  // 3
  // 4 def func1(a):
  // 5     if a < 0:
  // 6         return 0
  // 7     elif a < 5:
  // 8         return 1
  // 9     else:
  // 10        return 2
  const Program program = MustCompile(
      engine, Start::kModule,
      "def/1 return a end def/1 if/else < a 0 return 0 end if/else < a 5 return 1 end "
      "return 2 end end end");
  RunOptions options;
  options.trace = true;
  auto lines = [&](int64_t a) {
    std::vector<int> out;
    for (const TraceEvent& e : MustRun(program, {a}, options).trace) out.push_back(e.line);
    return out;
  };
  EXPECT_EQ(lines(-1), (std::vector<int>{5, 6}));
  EXPECT_EQ(lines(3), (std::vector<int>{5, 7, 8}));
  EXPECT_EQ(lines(7), (std::vector<int>{5, 7, 10}));
  // A BLOCK root counts its own lines from 1; an EXPR root is line 1.
  const Program block = MustCompile(engine, Start::kBlock, "= b a return b end", 1);
  const RunOutcome b = MustRun(block, {4}, options);
  ASSERT_EQ(b.trace.size(), 2u);
  EXPECT_EQ(b.trace[0].line, 1);
  EXPECT_EQ(b.trace[1].line, 2);
  EXPECT_EQ(b.value, Int(4));
  const RunOutcome e = MustRun(MustCompile(engine, Start::kExpr, "a", 1), {4}, options);
  ASSERT_EQ(e.trace.size(), 1u);
  EXPECT_EQ(e.trace[0].line, 1);
  EXPECT_EQ(e.trace[0].returned, std::optional<Value>(Int(4)));
}

TEST(RunTest, ModuleEntry) {
  auto engine = MakeEngine(TestConfig());
  const std::string module = "def/1 return a end def/2 return + a b end def/0 return 7 end";
  const Program last = MustCompile(engine, Start::kModule, module);
  EXPECT_EQ(last.entry(), 2);
  EXPECT_EQ(last.entry_name(), "func2");
  EXPECT_EQ(last.arity(), 0);
  EXPECT_EQ(MustRun(last, {}).value, Int(7));
  const Program first = MustCompile(engine, Start::kModule, module, std::nullopt, 0);
  EXPECT_EQ(first.entry_name(), "func");
  EXPECT_EQ(first.arity(), 1);
  EXPECT_EQ(MustRun(first, {5}).value, Int(5));
  const Program second = MustCompile(engine, Start::kModule, module, std::nullopt, 1);
  EXPECT_EQ(MustRun(second, {5, 6}).value, Int(11));
  for (int bad : {3, -1}) {
    absl::StatusOr<Program> refused =
        Program::FromTokens(engine, Start::kModule, std::nullopt, Ids(*engine, module), bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(refused.status().message(), "entry"));
  }
  // A single function takes entry 0 only.
  EXPECT_TRUE(Program::FromTokens(engine, Start::kFunction, std::nullopt,
                                  Ids(*engine, "def/1 return a end"), 0).ok());
  EXPECT_FALSE(Program::FromTokens(engine, Start::kFunction, std::nullopt,
                                   Ids(*engine, "def/1 return a end"), 1).ok());
}

TEST(RunTest, ArgumentsAreChecked) {
  DecodeConfig config = TestConfig();
  config.value_range = {-100, 100};
  auto engine = MakeEngine(config);
  const Program program = MustCompile(engine, Start::kFunction, "def/2 return + a b end");
  absl::StatusOr<RunOutcome> outcome = program.Run(std::vector<int64_t>{1});
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(outcome.status().message(), "takes 2 arguments, got 1"));
  outcome = program.Run(std::vector<int64_t>{1, 2, 3});
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
  outcome = program.Run(std::vector<int64_t>{1, 101});
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(outcome.status().message(), "args[1] = 101"));
  outcome = program.Run(std::vector<int64_t>{-101, 0});
  EXPECT_TRUE(Contains(outcome.status().message(), "args[0] = -101"));
  EXPECT_TRUE(program.Run(std::vector<int64_t>{-100, 100}).ok());
  RunOptions options;
  for (int64_t bad : {int64_t{0}, int64_t{-1}, kMaxStepsLimit + 1}) {
    options.max_steps = bad;
    outcome = program.Run(std::vector<int64_t>{1, 2}, options);
    EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(outcome.status().message(), "max_steps"));
  }
  options.max_steps = 1;
  EXPECT_EQ(program.Run(std::vector<int64_t>{1, 2}, options)->value, Int(3));

  const std::vector<std::vector<int64_t>> inputs = {{1, 2}, {3, 4}, {5, 500}};
  absl::StatusOr<std::vector<RunOutcome>> batch = program.RunBatch(inputs);
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(batch.status().message(), "inputs[2]: args[1] = 500"));
  batch = program.RunBatch(absl::MakeConstSpan(inputs).first(2));
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ((*batch)[1].value, Int(7));
}

TEST(RunTest, UnboundVariableIsAnInvalidProgram) {
  // def func(a):
  //     if a:
  //         b = 1
  //     return b
  // The decoder never builds this; an AST from elsewhere may.
  Ast ast;
  ast.start = Start::kFunction;
  ast.complete = true;
  Arena& arena = *ast.arena;
  AstNode* def = arena.NewNode(NodeKind::kDef, 1);
  AstNode* body = arena.NewNode(NodeKind::kBody, 0);
  AstNode* if_node = arena.NewNode(NodeKind::kIf, 0);
  if_node->Append(arena.NewNode(NodeKind::kName, 0));
  AstNode* block = arena.NewNode(NodeKind::kBlock, 0);
  AstNode* assign = arena.NewNode(NodeKind::kAssign, 0);
  assign->Append(arena.NewNode(NodeKind::kName, 1));
  assign->Append(arena.NewNode(NodeKind::kConst, 1));
  block->Append(assign);
  if_node->Append(block);
  body->Append(if_node);
  AstNode* ret = arena.NewNode(NodeKind::kReturn, 0);
  ret->Append(arena.NewNode(NodeKind::kName, 1));
  body->Append(ret);
  def->Append(body);
  ast.root = def;
  absl::StatusOr<Program> program = Program::Compile(ast, TestConfig());
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(MustRun(*program, {1}).value, Int(1));
  const RunOutcome outcome = MustRun(*program, {0});
  EXPECT_EQ(outcome.status, RunStatus::kInvalidProgram);
  EXPECT_EQ(outcome.steps, 2);
  EXPECT_TRUE(Contains(outcome.message, "variable b"));
  EXPECT_TRUE(Contains(outcome.message, "line 4"));

  // A break outside any loop is refused when compiling, as CPython refuses it.
  ret->kind = NodeKind::kBreak;
  ret->num_children = 0;
  ret->first_child = ret->last_child = nullptr;
  EXPECT_EQ(Program::Compile(ast, TestConfig()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // So is a variable outside a..z.
  assign->first_child->value = 26;
  ret->kind = NodeKind::kPass;
  EXPECT_TRUE(Contains(Program::Compile(ast, TestConfig()).status().message(), "variable 26"));
}

TEST(RunTest, IncompleteOrMalformedAstsAreRefused) {
  auto engine = MakeEngine(TestConfig());
  absl::StatusOr<Ast> partial = TokensToAst(engine, Start::kFunction, std::nullopt,
                                            Ids(*engine, "def/1 = b"), /*partial=*/true);
  ASSERT_TRUE(partial.ok());
  absl::StatusOr<Program> program = Program::Compile(*partial, TestConfig());
  EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(program.status().message(), "incomplete"));
  // Marked complete but with a hole in it.
  partial->complete = true;
  program = Program::Compile(*partial, TestConfig());
  EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(program.status().message(), "hole"));
  // An invalid config.
  absl::StatusOr<Ast> ast = TokensToAst(engine, Start::kFunction, std::nullopt,
                                        Ids(*engine, "def/1 return a end"), false);
  ASSERT_TRUE(ast.ok());
  DecodeConfig bad = TestConfig();
  bad.value_range = {0, 10};
  EXPECT_TRUE(Contains(Program::Compile(*ast, bad).status().message(), "value_range"));
}

TEST(RunTest, BlockAndExprRootsRunAsFunctions) {
  auto engine = MakeEngine(TestConfig());
  // for c in range(a, b): d = c  -- BLOCK of arity 3 falls off the end.
  const Program block = MustCompile(engine, Start::kBlock, "for/2 d a b = e d end += c 1 end", 3);
  EXPECT_EQ(block.arity(), 3);
  EXPECT_EQ(block.entry_name(), "func");
  RunOptions options;
  options.locals = true;
  const RunOutcome outcome = MustRun(block, {1, 3, 5}, options);
  EXPECT_EQ(outcome.value, Value::None());
  EXPECT_EQ(outcome.steps, 1 + 2 * 2 + 1);
  EXPECT_EQ(outcome.locals,
            (Pairs{{0, Int(1)}, {1, Int(3)}, {2, Int(6)}, {3, Int(2)}, {4, Int(2)}}));
  const Program zero = MustCompile(engine, Start::kExpr, "* 3 4", 0);
  EXPECT_EQ(zero.arity(), 0);
  EXPECT_EQ(MustRun(zero, {}).value, Int(12));
}

TEST(RunTest, ProgramsAreReusableAndCopyable) {
  auto engine = MakeEngine(TestConfig());
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b c end return b end");
  Program copy = program;
  for (int64_t n = 0; n < 50; ++n) {
    EXPECT_EQ(MustRun(program, {n}).value, Int(n * (n - 1) / 2));
    EXPECT_EQ(MustRun(copy, {n}).value, Int(n * (n - 1) / 2));
  }
}


// An interrupt that returns DeadlineExceeded on its `fail_at`-th call, counting its calls.
struct CountingInterrupt {
  int64_t fail_at;
  std::shared_ptr<int64_t> calls = std::make_shared<int64_t>(0);
  Interrupt Get() const {
    return [fail_at = fail_at, calls = calls]() -> absl::Status {
      if (++*calls >= fail_at) return absl::DeadlineExceededError("deadline (test)");
      return absl::OkStatus();
    };
  }
};

TEST(RunInterrupt, StopsALongRunWithItsStatus) {
  auto engine = MakeEngine(TestConfig());
  // 2n + 3 steps: with n = 10^8 / 2 - 2 it would take 99,999,999 of the 10^8 allowed.
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b 1 end return b end");
  RunOptions options;
  options.max_steps = kMaxStepsLimit;
  CountingInterrupt interrupt{10};
  options.interrupt = interrupt.Get();
  absl::StatusOr<RunOutcome> out = program.Run({kMaxStepsLimit / 2 - 2}, options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(out.status().message(), "deadline (test)");
  EXPECT_EQ(*interrupt.calls, 10);  // one call every kRunInterruptSteps steps, then it stops
  // RunBatch: the interrupt's status as is, no inputs[k] added.
  CountingInterrupt in_batch{3};
  options.interrupt = in_batch.Get();
  absl::StatusOr<std::vector<RunOutcome>> batch =
      program.RunBatch({{1}, {kMaxStepsLimit / 2 - 2}}, options);
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(FieldPathOf(batch.status()), "");
  EXPECT_EQ(*in_batch.calls, 3);  // before input 0, then twice every 4096 steps (input 1's)
}

TEST(RunInterrupt, IsCalledBetweenInputsAndEveryFewThousandSteps) {
  auto engine = MakeEngine(TestConfig());
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b 1 end return b end");
  RunOptions options;
  options.max_steps = kMaxStepsLimit;
  CountingInterrupt never{INT64_MAX};
  options.interrupt = never.Get();
  // 2n + 3 steps: n = 10^6 takes 2,000,003 steps, so 2,000,003 / 4096 = 488 calls.
  const RunOutcome with = MustRun(program, {1'000'000}, options);
  EXPECT_EQ(*never.calls, 2'000'003 / kRunInterruptSteps);
  options.interrupt = nullptr;
  const RunOutcome without = MustRun(program, {1'000'000}, options);
  EXPECT_EQ(with.status, RunStatus::kOk);
  EXPECT_EQ(with.value, without.value);
  EXPECT_EQ(with.steps, without.steps);
  EXPECT_EQ(with.value, Int(1'000'000));
  // The step limit is still exact, whether or not it falls on an interrupt's step.
  options.interrupt = never.Get();
  for (int64_t max_steps : {int64_t{1}, kRunInterruptSteps - 1, kRunInterruptSteps,
                            kRunInterruptSteps + 1, 3 * kRunInterruptSteps, int64_t{1'000'000}}) {
    options.max_steps = max_steps;
    options.trace = true;
    const RunOutcome cut = MustRun(program, {1'000'000}, options);
    EXPECT_EQ(cut.status, RunStatus::kStepLimit) << max_steps;
    EXPECT_EQ(cut.steps, max_steps);
    EXPECT_EQ(static_cast<int64_t>(cut.trace.size()), max_steps);
  }
  // A batch calls it before its first input, then every kRunInterruptSteps steps over the
  // batch, an input counting as one: 2,000 inputs of 2n + 3 = 5 steps are 12,000 units.
  *never.calls = 0;
  options.max_steps = kMaxStepsLimit;
  options.trace = false;
  std::vector<std::vector<int64_t>> inputs(2000, std::vector<int64_t>{1});
  absl::StatusOr<std::vector<RunOutcome>> batch = program.RunBatch(inputs, options);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(*never.calls, 1 + (12'000 - 1) / kRunInterruptSteps);
  // And a long run within a batch is checked as a run alone is.
  *never.calls = 0;
  batch = program.RunBatch({{1}, {1'000'000}}, options);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(*never.calls, 1 + (6 + 2'000'004 - 1) / kRunInterruptSteps);
}

TEST(RunTraceCap, CountsEventsOverTheWholeBatch) {
  auto engine = MakeEngine(TestConfig());
  // 2n + 3 steps each.
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b 1 end return b end");
  RunOptions options;
  options.trace = true;
  options.max_trace_events = 2 * 5 + 3 + 2 * 7 + 3;  // exactly inputs 5 and 7
  absl::StatusOr<std::vector<RunOutcome>> fits = program.RunBatch({{5}, {7}}, options);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ((*fits)[0].trace.size() + (*fits)[1].trace.size(), 30u);
  // One more event than the cap, in the last run.
  absl::StatusOr<std::vector<RunOutcome>> over = program.RunBatch({{5}, {8}}, options);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FieldPathOf(over.status()), "trace");
  EXPECT_TRUE(Contains(over.status().message(), "cap of 30 events"));
  EXPECT_TRUE(Contains(over.status().message(), "fewer inputs or a lower max_steps"));
  // Its message ends so that a caller can append the flag that raises it.
  EXPECT_FALSE(absl::EndsWith(over.status().message(), "."));
  EXPECT_EQ(over.status(), Program::TraceCapStatus(30));
  // A run that ends at max_steps within the cap is a step_limit outcome, not an error.
  options.max_steps = 30;
  EXPECT_EQ(MustRun(program, {1000}, options).status, RunStatus::kStepLimit);
  options.max_steps = 31;
  EXPECT_EQ(program.Run({1000}, options).status().code(), absl::StatusCode::kResourceExhausted);
  // Without trace, or with no cap, nothing is counted.
  options.trace = false;
  EXPECT_TRUE(program.RunBatch({{1000}, {1000}}, options).ok());
  options.trace = true;
  options.max_trace_events = 0;
  options.max_steps = 100'000;
  EXPECT_TRUE(program.RunBatch({{1000}, {1000}}, options).ok());
  options.max_trace_events = -1;
  EXPECT_EQ(FieldPathOf(program.Run({1}, options).status()), "options.max_trace_events");
}

TEST(RunTraceCap, ArgumentErrorsComeBeforeAnyWork) {
  auto engine = MakeEngine(TestConfig());
  const Program program =
      MustCompile(engine, Start::kFunction, "def/1 = b 0 for/1 c a += b 1 end return b end");
  RunOptions options;
  CountingInterrupt never{INT64_MAX};
  options.interrupt = never.Get();
  absl::StatusOr<std::vector<RunOutcome>> bad = program.RunBatch({{1}, {1, 2}}, options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.status().message(), "inputs[1]"));
  EXPECT_EQ(*never.calls, 0);
}

TEST(RunTrace, EventsHoldNoHeapMemory) {
  static_assert(sizeof(TraceEvent) <= 48);
  TraceEvent e;
  EXPECT_TRUE(e.assigned().empty());
  e.var = 2;
  e.value = Int(7);
  EXPECT_EQ(e.assigned(), (Pairs{{2, Int(7)}}));
}

}  // namespace
}  // namespace astcd
