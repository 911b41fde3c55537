// run: a program built by a walk the bytes steer, compiled and run on inputs from the bytes
// with a small step cap. Checks: the outcome is deterministic and the same traced or not; the
// program printed and tokenized again runs the same; and an EXPR root's value equals a direct
// tree-walking evaluator's (the reference: Python 3's int semantics, written independently of
// the interpreter's compiler and instruction set).
#include <bit>
#include <optional>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/tokenize.h"
#include "tests/fuzz/fuzz_input.h"

namespace astcd::fuzz {
namespace {

// The reference evaluator's result: a value, or the status that stopped it.
struct Eval {
  RunStatus status = RunStatus::kOk;
  Value value;
};

class Reference {
 public:
  Reference(std::pair<int64_t, int64_t> range, absl::Span<const int64_t> args)
      : lo_(range.first), hi_(range.second), args_(args) {}

  Eval Of(const AstNode* n) const {
    switch (n->kind) {
      case NodeKind::kName: return Ok(Value::Int(args_[n->value]));
      case NodeKind::kConst: return Checked(n->value);
      case NodeKind::kAnd: case NodeKind::kOr: {
        Eval left = Of(n->child(0));
        if (left.status != RunStatus::kOk) return left;
        const bool truthy = left.value.i != 0;
        if (truthy == (n->kind == NodeKind::kOr)) return left;
        return Of(n->child(1));
      }
      case NodeKind::kIfExp: {
        Eval test = Of(n->child(0));
        if (test.status != RunStatus::kOk) return test;
        return Of(n->child(test.value.i != 0 ? 1 : 2));
      }
      default: break;
    }
    Eval a = Of(n->child(0));
    if (a.status != RunStatus::kOk) return a;
    const __int128 x = a.value.i;
    switch (n->kind) {
      case NodeKind::kNeg: return Checked(-x);
      case NodeKind::kNot: return Ok(Value::Bool(x == 0));
      case NodeKind::kAbs: return Checked(x < 0 ? -x : x);
      default: break;
    }
    Eval b = Of(n->child(1));
    if (b.status != RunStatus::kOk) return b;
    const __int128 y = b.value.i;
    switch (n->kind) {
      case NodeKind::kAdd: return Checked(x + y);
      case NodeKind::kSub: return Checked(x - y);
      case NodeKind::kMul: return Checked(x * y);
      case NodeKind::kFloorDiv: case NodeKind::kMod: {
        if (y == 0) return Eval{RunStatus::kZeroDivision, {}};
        __int128 q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) { q -= 1; r += y; }  // Python floors
        return Checked(n->kind == NodeKind::kFloorDiv ? q : r);
      }
      case NodeKind::kLt: return Ok(Value::Bool(x < y));
      case NodeKind::kLtE: return Ok(Value::Bool(x <= y));
      case NodeKind::kEq: return Ok(Value::Bool(x == y));
      case NodeKind::kNotEq: return Ok(Value::Bool(x != y));
      case NodeKind::kGt: return Ok(Value::Bool(x > y));
      case NodeKind::kGtE: return Ok(Value::Bool(x >= y));
      case NodeKind::kMin: return y < x ? b : a;  // Python keeps the first of equals
      case NodeKind::kMax: return y > x ? b : a;
      default: break;
    }
    ASTCD_FUZZ_CHECK(false, "the reference has no rule for node kind %d",
                     static_cast<int>(n->kind));
    return {};
  }

 private:
  static Eval Ok(Value v) { return Eval{RunStatus::kOk, v}; }
  Eval Checked(__int128 v) const {
    if (v < lo_ || v > hi_) return Eval{RunStatus::kOverflow, {}};
    return Ok(Value::Int(static_cast<int64_t>(v)));
  }

  int64_t lo_, hi_;
  absl::Span<const int64_t> args_;
};

// A complete program: the k-th legal token while the bytes last, then the first legal one (the
// budget guarantees a finish within max_len).
std::optional<DecodeState> BuildProgram(FuzzedDataProvider& in,
                                        const std::shared_ptr<const Engine>& engine) {
  InitRequest request;
  request.start = ConsumeStart(in);
  const std::vector<int>& arities = engine->config().arities;
  request.arity = arities[in.ConsumeIntegral<uint8_t>() % arities.size()];
  request.max_len = in.ConsumeIntegralInRange<int>(2, 120);
  absl::StatusOr<DecodeState> state = InitState(engine, request);
  if (!state.ok()) return std::nullopt;
  std::vector<uint32_t> mask(static_cast<size_t>(engine->words()));
  while (!state->terminated()) {
    state->FillMask(mask.data());
    int count = 0;
    for (uint32_t w : mask) count += std::popcount(w);
    int k = in.remaining_bytes() > 0 ? in.ConsumeIntegral<uint8_t>() % count : 0;
    for (size_t w = 0; w < mask.size(); ++w) {
      const int here = std::popcount(mask[w]);
      if (k >= here) { k -= here; continue; }
      uint32_t bits = mask[w];
      for (int i = 0; i < k; ++i) bits &= bits - 1;
      ASTCD_FUZZ_CHECK(state->Advance(static_cast<int32_t>(w * 32) + std::countr_zero(bits)).ok(),
                       "a legal token was refused");
      break;
    }
  }
  return *std::move(state);
}

bool SameOutcome(const RunOutcome& a, const RunOutcome& b) {
  return a.status == b.status && a.value == b.value && a.steps == b.steps;
}

}  // namespace
}  // namespace astcd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace astcd;
  FuzzedDataProvider in(data, size);
  std::shared_ptr<const Engine> engine = fuzz::ConsumeEngine(in);
  RunOptions options;
  options.max_steps = in.ConsumeIntegralInRange<int64_t>(1, 3000);
  const std::pair<int64_t, int64_t> range = engine->config().value_range;
  std::vector<std::vector<int64_t>> inputs(in.ConsumeIntegralInRange<size_t>(1, 4));
  const int input_bytes = 32;  // a fixed share, so that the walk's bytes keep their meaning
  const std::vector<uint8_t> arg_bytes = in.ConsumeBytes<uint8_t>(input_bytes);
  FuzzedDataProvider args_in(arg_bytes.data(), arg_bytes.size());
  std::optional<DecodeState> state = fuzz::BuildProgram(in, engine);
  if (!state) return 0;
  absl::StatusOr<Program> program = Program::FromState(*state);
  ASTCD_FUZZ_CHECK(program.ok(), "a decoded program does not compile: %s",
                   std::string(program.status().message()).c_str());
  for (std::vector<int64_t>& args : inputs) {
    for (int i = 0; i < program->arity(); ++i) {
      const int64_t small = args_in.ConsumeIntegralInRange<int64_t>(-12, 12);
      args.push_back(std::clamp(small, range.first, range.second));
    }
  }
  absl::StatusOr<std::vector<RunOutcome>> outcomes = program->RunBatch(inputs, options);
  ASTCD_FUZZ_CHECK(outcomes.ok(), "in-range inputs refused: %s",
                   std::string(outcomes.status().message()).c_str());

  // Traced, and through the printed source: the same outcomes.
  RunOptions traced = options;
  traced.trace = true;
  traced.locals = true;
  absl::StatusOr<std::vector<RunOutcome>> again = program->RunBatch(inputs, traced);
  absl::StatusOr<std::string> source = TokensToSource(
      engine, state->start(), state->arity() >= 0 ? std::optional<int>(state->arity()) : std::nullopt,
      state->tokens(), /*partial=*/false);
  ASTCD_FUZZ_CHECK(again.ok() && source.ok(), "a traced run or the printer failed");
  TokenizeOptions tokenize;
  tokenize.start = state->start();
  if (state->arity() >= 0) tokenize.arity = state->arity();
  const TokenizeResult reparsed = Tokenize(engine, *source, tokenize);
  ASTCD_FUZZ_CHECK(reparsed.ok, "the printed program does not tokenize:\n%s", source->c_str());
  absl::StatusOr<Program> from_source = Program::FromState(*reparsed.state);
  ASTCD_FUZZ_CHECK(from_source.ok(), "the reparsed program does not compile");
  absl::StatusOr<std::vector<RunOutcome>> reparsed_outcomes = from_source->RunBatch(inputs, options);
  ASTCD_FUZZ_CHECK(reparsed_outcomes.ok(), "the reparsed program refuses the inputs");
  for (size_t k = 0; k < inputs.size(); ++k) {
    const RunOutcome& o = (*outcomes)[k];
    ASTCD_FUZZ_CHECK(o.steps <= options.max_steps, "ran %lld steps over a cap of %lld",
                     static_cast<long long>(o.steps), static_cast<long long>(options.max_steps));
    ASTCD_FUZZ_CHECK(fuzz::SameOutcome(o, (*again)[k]), "tracing changed the outcome");
    ASTCD_FUZZ_CHECK(fuzz::SameOutcome(o, (*reparsed_outcomes)[k]),
                     "the reparsed program runs differently:\n%s", source->c_str());
    if (o.status == RunStatus::kOk && o.value.is_int()) {
      ASTCD_FUZZ_CHECK(o.value.i >= range.first && o.value.i <= range.second,
                       "a value outside value_range");
    }
  }

  // EXPR roots: the direct evaluator is the reference (a step cap cannot stop one statement).
  if (state->start() == Start::kExpr) {
    absl::StatusOr<Ast> ast = StateToAst(*state, /*partial=*/false);
    ASTCD_FUZZ_CHECK(ast.ok(), "a complete state has no AST");
    for (size_t k = 0; k < inputs.size(); ++k) {
      const RunOutcome& o = (*outcomes)[k];
      if (o.status == RunStatus::kStepLimit) continue;
      const fuzz::Eval want = fuzz::Reference(range, inputs[k]).Of(ast->root);
      ASTCD_FUZZ_CHECK(o.status == want.status && (want.status != RunStatus::kOk || o.value == want.value),
                       "run gives %s %s, the reference %s %s for\n%s",
                       std::string(RunStatusName(o.status)).c_str(), o.value.ToString().c_str(),
                       std::string(RunStatusName(want.status)).c_str(),
                       want.value.ToString().c_str(), source->c_str());
    }
  }
  return 0;
}
