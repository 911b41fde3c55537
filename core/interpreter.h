// Run: the interpreter of AST-CD programs, with CPython 3's semantics as the oracle.
//
// A program is compiled once (Program::Compile) into a flat, slot-resolved instruction array
// and then run on many argument tuples (Program::Run). Running allocates nothing per step:
// locals are a fixed array of 26 slots plus an "assigned" bitmask, and the value stack and loop
// counters are sized at compile time. Only the optional trace and final locals allocate.
//
// The outcome of a run is data, not an error: ok, zero_division, overflow, step_limit or
// invalid_program. absl::Status errors are reserved for misuse (a bad AST, a bad entry index,
// arguments of the wrong number or outside value_range, options out of range).
//
// Semantics (docs/language.md, section 3) follow Python 3 exactly:
//  - bool is a subtype of int: True + True == 2, -True == -1, abs(True) == 1 (an int);
//    comparisons and `not` give a bool; bools never overflow.
//  - `and`/`or` and `x if c else y` return an operand, so their value may be a bool or an int.
//  - min(a, b) returns b only if b < a, max(a, b) only if b > a: ties return the first
//    operand object (min(1, True) is 1, min(True, 1) is True).
//  - `//` floors toward negative infinity and `%` takes the divisor's sign; dividing by 0 or
//    False is zero_division.
//  - range(e) and range(e1, e2) take ints (bools as ints); empty or negative bounds run zero
//    times. The loop variable keeps its last value after the loop and is untouched by a loop
//    that runs zero times.
//  - `x op= e` is x = x op e (x is read before e is evaluated).
//  - `return` without a value, or falling off the end of the function, returns None.
//
// value_range [lo, hi]: every constant evaluated and every int computed by + - * // % unary -
// and abs (augmented assignment included) must lie in [lo, hi]. The first one outside stops
// the run with overflow. Arithmetic is done in 128 bits, so nothing overflows internally
// (values are within +-2^62).
//
// Steps. A run counts one step for each statement it executes (counted when the statement
// starts, before its expressions are evaluated: a statement that fails still counts), and one
// more for each iteration of a `for` loop (counted right after the loop variable takes the
// iteration's value, before the body runs; the final exhausted test of the range is free). So
// `for i in range(3): pass` costs 1 + 3 * (1 + 1) = 7 steps. Falling off the end of a
// function is not a statement and is free. An EXPR root runs as `return <expr>`: one step.
// When a step would make the count exceed max_steps, the run stops with step_limit and
// `steps` == max_steps (an iteration cut off this way has already assigned its variable).
//
// Trace. With RunOptions::trace, one TraceEvent per step, in order: a statement's event has
// the statement's line, the variable it assigned and its value (`=` and `op=`: a statement
// assigns at most one) and, for `return`, the value it returned; a loop iteration's event has
// the `for` line and the loop variable's assignment. So trace.size() == steps. Lines are
// AstToSource's (1-based lines of the printed source; for BLOCK roots the block's own source,
// for EXPR roots always 1). An event holds no heap memory: sizeof(TraceEvent) is 48 bytes, so
// a traced run costs about 48-96 bytes a step (the vector's growth included).
// RunOptions::max_trace_events caps the events of a call (of a whole RunBatch): a traced call
// that would record more fails with ResourceExhausted naming the field "trace".
//
// Interrupts (core/interrupt.h). Run calls RunOptions::interrupt every kRunInterruptSteps
// steps (never when it is empty). RunBatch calls it before its first input and then every
// kRunInterruptSteps steps over the whole batch, counting each input as one more step, so that
// 1024 short inputs cost a call or two and not 1024. A status that is not OK from it stops the
// call, which returns that status unchanged. The check costs nothing
// on the run loop's path: the step counter is compared with one limit, the nearest of
// max_steps, the next interrupt and the trace cap, as it was compared with max_steps alone.
#ifndef ASTCD_CORE_INTERPRETER_H_
#define ASTCD_CORE_INTERPRETER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/ast.h"
#include "core/decoder.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/interrupt.h"

namespace astcd {

// A value of the language: None, a bool or an int. Bools are kept distinct from ints
// (Value::Bool(true) != Value::Int(1)) even though they behave as ints in arithmetic.
struct Value {
  enum class Kind : uint8_t { kNone, kBool, kInt };
  Kind kind = Kind::kNone;
  int64_t i = 0;  // the int; 0 or 1 for a bool; 0 for None

  static constexpr Value None() { return Value{}; }
  static constexpr Value Bool(bool b) { return Value{Kind::kBool, b ? 1 : 0}; }
  static constexpr Value Int(int64_t v) { return Value{Kind::kInt, v}; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_bool() const { return kind == Kind::kBool; }
  bool is_int() const { return kind == Kind::kInt; }

  // Python's repr: "None", "True", "False", "-3".
  std::string ToString() const;
  // "none", "bool" or "int".
  absl::string_view TypeName() const;

  friend bool operator==(const Value& a, const Value& b) = default;
};

// ok: the function returned (value holds what); zero_division: // or % by zero (CPython:
// ZeroDivisionError); overflow: a constant or computed int left value_range; step_limit: the
// next step would have exceeded max_steps; invalid_program: a variable was read before
// assignment (CPython: UnboundLocalError).
#define ASTCD_RUN_STATUS(X)         \
  X(kOk, "ok")                      \
  X(kZeroDivision, "zero_division") \
  X(kOverflow, "overflow")          \
  X(kStepLimit, "step_limit")       \
  X(kInvalidProgram, "invalid_program")
ASTCD_WIRE_ENUM(RunStatus, "status", ASTCD_RUN_STATUS)
inline absl::string_view RunStatusName(RunStatus status) { return EnumName(status); }

// One step of a traced run (see the header comment).
struct TraceEvent {
  int line = 0;
  int var = -1;                   // the variable the step assigned (0 is a, 1 is b, ...), or -1
  Value value;                    // the value it assigned (None when var is -1)
  std::optional<Value> returned;  // set by `return` (None for a bare return)

  // The assignment as a list of (variable, value) bindings (none or one), as the wire and the
  // CLI's JSON carry it.
  std::vector<std::pair<int, Value>> assigned() const {
    if (var < 0) return {};
    return {{var, value}};
  }
  friend bool operator==(const TraceEvent& a, const TraceEvent& b) = default;
};

inline constexpr int64_t kMaxStepsLimit = 100'000'000;

struct RunOptions {
  int64_t max_steps = 100'000;   // 1..kMaxStepsLimit
  bool trace = false;            // fill RunOutcome::trace
  bool locals = false;           // fill RunOutcome::locals
  // With trace: the most events the call may record, over all the inputs of a RunBatch (one
  // per step); 0: no cap. A call that would record more fails with ResourceExhausted, field
  // "trace" (see TraceCapStatus).
  int64_t max_trace_events = 0;
  // Called every kRunInterruptSteps steps (in a batch: before the first input, then every
  // kRunInterruptSteps steps and inputs); a status that is not OK stops the call and is
  // returned as its status (core/interrupt.h). Empty: never.
  Interrupt interrupt;
};

// InvalidArgument naming options.max_steps when it is outside 1..kMaxStepsLimit (or
// options.max_trace_events when it is negative).
absl::Status ValidateRunOptions(const RunOptions& options);

struct RunOutcome {
  RunStatus status = RunStatus::kOk;
  Value value;          // the returned value when status is ok; None otherwise
  int64_t steps = 0;    // steps taken, the failing statement's included
  std::string message;  // empty when ok; else what stopped the run, with its line
  // With RunOptions::locals: the variables bound when the run stopped (however it stopped),
  // by increasing index. Parameters are variables 0..arity-1.
  std::vector<std::pair<int, Value>> locals;
  std::vector<TraceEvent> trace;  // with RunOptions::trace
};

namespace interpreter_internal {
struct Instr;  // the instruction set is private: core/interpreter_impl.h
}  // namespace interpreter_internal

class Program {
 public:
  // Compiles a complete AST for the config's value_range (the config must be valid).
  //   MODULE: runs function `entry` (0-based; default the last one).
  //   FUNCTION: the one function (entry, if given, must be 0).
  //   BLOCK and EXPR: the block, or `return <expr>`, as the body of a function of ast.arity
  //   parameters named func (entry, if given, must be 0).
  // InvalidArgument for an incomplete AST, a tree that is not a well-formed program of the
  // language (a hole, a node in the wrong place, a variable outside a..z, break/continue
  // outside a loop), a tree deeper than kMaxNesting (CheckAstDepth, field `ast`), or a bad
  // entry index: checked last, and the only error whose field (core/errors.h) is `entry`.
  // Unbound variables are not checked here: reading one is invalid_program at run time, as in
  // CPython.
  //
  // Lines: a statement's line is its line in AstToSource's output; Compile prints the AST
  // into a side table (AstLines) for them and never writes the AST, so one AST may be compiled
  // and printed from many threads at once.
  static absl::StatusOr<Program> Compile(const Ast& ast, const DecodeConfig& config,
                                         std::optional<int> entry = std::nullopt);
  // TokensToAst(engine, start, arity, tokens, /*partial=*/false), then Compile with the
  // engine's config.
  static absl::StatusOr<Program> FromTokens(const std::shared_ptr<const Engine>& engine,
                                            Start start, std::optional<int> arity,
                                            absl::Span<const int32_t> tokens,
                                            std::optional<int> entry = std::nullopt);

  // StateToAst(state, /*partial=*/false), then Compile with the state's config: a state that
  // Tokenize or a session made runs as it is, without replaying its tokens.
  static absl::StatusOr<Program> FromState(const DecodeState& state,
                                           std::optional<int> entry = std::nullopt);

  int arity() const { return arity_; }
  int entry() const { return entry_; }
  // The entry function's name as printed: func, func1, ... (BLOCK and EXPR roots: func).
  std::string entry_name() const;
  std::pair<int64_t, int64_t> value_range() const { return {lo_, hi_}; }

  // Out of line, where the private instruction type is complete.
  Program(const Program&);
  Program(Program&&) noexcept;
  Program& operator=(const Program&);
  Program& operator=(Program&&) noexcept;
  ~Program();

  // Runs the entry function on one argument tuple. Thread-safe (const).
  // InvalidArgument if args.size() != arity(), an argument is outside value_range (the
  // message names args[i]) or options.max_steps is outside 1..kMaxStepsLimit.
  // ResourceExhausted (field "trace") if a traced run would record more than
  // options.max_trace_events events; options.interrupt's status if it stops the run.
  absl::StatusOr<RunOutcome> Run(absl::Span<const int64_t> args,
                                 const RunOptions& options = {}) const {
    return RunWithin(args, options,
                     options.max_trace_events > 0 ? options.max_trace_events : -1, nullptr);
  }
  // Checks the options and every tuple (an argument error names inputs[k] and args[i]), then
  // runs each tuple in turn (options.interrupt: see the header comment). max_trace_events caps
  // the events of all the runs together.
  absl::StatusOr<std::vector<RunOutcome>> RunBatch(absl::Span<const std::vector<int64_t>> inputs,
                                                   const RunOptions& options = {}) const;

  // The status of a call whose trace would exceed `max_trace_events`: ResourceExhausted with
  // field "trace". Its message ends with the advice (no period), so that a caller can append
  // which setting raises the cap ("; --max-trace-events raises it").
  static absl::Status TraceCapStatus(int64_t max_trace_events);

 private:
  Program();
  friend class ProgramCompiler;

  // Run, with at most `trace_budget` events to record (or -1: no cap). `interrupt_credit`, if
  // not null, is the steps left before the next call of the interrupt, in and out (a batch's
  // count); null: kRunInterruptSteps.
  absl::StatusOr<RunOutcome> RunWithin(absl::Span<const int64_t> args,
                                       const RunOptions& options, int64_t trace_budget,
                                       int64_t* interrupt_credit) const;
  absl::Status CheckArgs(absl::Span<const int64_t> args) const;

  std::vector<interpreter_internal::Instr> code_;
  int arity_ = 0;
  int entry_ = 0;
  int max_stack_ = 0;
  int num_loops_ = 0;
  int64_t lo_ = 0, hi_ = 0;
};

}  // namespace astcd

#endif  // ASTCD_CORE_INTERPRETER_H_
