#include "core/interpreter.h"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/errors.h"
#include "core/interpreter_impl.h"
#include "core/vocabulary.h"

namespace astcd {

using interpreter_internal::Instr;
using interpreter_internal::Op;
using interpreter_internal::Opcode;

Program::Program() = default;
Program::Program(const Program&) = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(const Program&) = default;
Program& Program::operator=(Program&&) noexcept = default;
Program::~Program() = default;

namespace {

constexpr int kMaxVars = 26;  // a..z

// Slots a run writes before it reads, left uninitialized: zeroing the variables and the stack
// on every call was a tenth of a short call's time. Value is an aggregate, so its objects begin
// where they are first assigned (C++20 implicit object creation).
template <typename T, size_t kInline>
class RawSlots {
 public:
  explicit RawSlots(size_t n) {
    if (n > kInline) {
      heap_ = std::make_unique<std::byte[]>(n * sizeof(T));
      data_ = reinterpret_cast<T*>(heap_.get());
    }
  }
  RawSlots(const RawSlots&) = delete;
  RawSlots& operator=(const RawSlots&) = delete;
  T* data() { return data_; }

 private:
  alignas(T) std::byte inline_[kInline * sizeof(T)];
  std::unique_ptr<std::byte[]> heap_;
  T* data_ = reinterpret_cast<T*>(inline_);
};

// Decimal text of a 128-bit integer (absl::StrCat takes no __int128).
std::string Int128ToString(__int128 v) {
  if (v >= INT64_MIN && v <= INT64_MAX) return absl::StrCat(static_cast<int64_t>(v));
  const bool negative = v < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v)
                                 : static_cast<unsigned __int128>(v);
  std::string digits;
  while (u > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (negative) digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// The source text of an operator's opcode: "+", "//", ...
absl::string_view OpText(Op op) { return Spec(static_cast<NodeKind>(op)).text; }

// Child fields by name (core/grammar.h), checked when compiled.
constexpr int kTest = FieldIndex(NodeKind::kIfElse, "test");
constexpr int kBody = FieldIndex(NodeKind::kIfElse, "body");
constexpr int kOrelse = FieldIndex(NodeKind::kIfElse, "orelse");
constexpr int kValue = FieldIndex(NodeKind::kAssign, "value");
static_assert(kTest >= 0 && kBody >= 0 && kOrelse >= 0 && kValue >= 0);
static_assert(FieldIndex(NodeKind::kIf, "test") == kTest &&
              FieldIndex(NodeKind::kIf, "body") == kBody &&
              FieldIndex(NodeKind::kIfExp, "test") == kTest &&
              FieldIndex(NodeKind::kIfExp, "body") == kBody &&
              FieldIndex(NodeKind::kIfExp, "orelse") == kOrelse);

// The step count at which a run must look up from its loop: max_steps, the trace cap (when it
// is below max_steps) or the next interrupt, whichever comes first.
inline int64_t NextLimit(int64_t max_steps, bool capped, int64_t trace_budget,
                         bool interruptible, int64_t next_interrupt) {
  int64_t limit = max_steps;
  if (capped && trace_budget < limit) limit = trace_budget;
  if (interruptible && next_interrupt < limit) limit = next_interrupt;
  return limit;
}

// At a limit below max_steps: the trace cap's status, or the interrupt's.
ABSL_ATTRIBUTE_NOINLINE absl::Status AtLimit(const RunOptions& options, int64_t steps,
                                             bool capped, int64_t trace_budget) {
  if (capped && steps == trace_budget) return Program::TraceCapStatus(options.max_trace_events);
  return options.interrupt();
}

}  // namespace

// Compiles one function body (or an expression root) to postfix code, checking that the tree
// is a well-formed program of the language as it goes.
class ProgramCompiler {
 public:
  explicit ProgramCompiler(Program* program) : p_(*program) {}

  absl::Status Function(const AstNode* body, int arity) {
    if (arity < 0 || arity > kMaxVars) {
      return absl::InvalidArgumentError(
          absl::StrCat("a function has ", arity, " parameters; at most ", kMaxVars));
    }
    p_.arity_ = arity;
    if (absl::Status s = Sequence(body, NodeKind::kBody); !s.ok()) return s;
    Emit({.op = Op::kReturnNone, .var = 0});
    return absl::OkStatus();
  }

  // An EXPR root: `return <expr>`, one statement on line 1.
  absl::Status ExprRoot(const AstNode* expr, int arity) {
    if (arity < 0 || arity > kMaxVars) {
      return absl::InvalidArgumentError(
          absl::StrCat("the root has arity ", arity, "; at most ", kMaxVars));
    }
    p_.arity_ = arity;
    Emit({.op = Op::kStep, .imm = 1});
    if (absl::Status s = Expr(expr); !s.ok()) return s;
    Emit({.op = Op::kReturn});
    Pop(1);
    return absl::OkStatus();
  }

  // Statements whose line is read from the AST once compilation succeeded.
  const std::vector<std::pair<int, const AstNode*>>& line_fixups() const { return fixups_; }

 private:
  struct Loop {
    int head;                 // the kForIter instruction (continue jumps here)
    std::vector<int> breaks;  // jumps to patch with the loop's exit
  };

  int Emit(Instr in) {
    p_.code_.push_back(in);
    return static_cast<int>(p_.code_.size()) - 1;
  }
  int Here() const { return static_cast<int>(p_.code_.size()); }
  void Push(int n) {
    depth_ += n;
    p_.max_stack_ = std::max(p_.max_stack_, depth_);
  }
  void Pop(int n) { depth_ -= n; }
  void StepFor(const AstNode* stmt) {
    fixups_.emplace_back(Emit({.op = Op::kStep}), stmt);
  }

  static absl::Status Malformed(const AstNode* node, absl::string_view what) {
    if (node == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing ", what));
    if (node->is_hole) {
      return absl::InvalidArgumentError(
          absl::StrCat("the AST has an unfilled ", HoleName(node->hole), " hole"));
    }
    if (static_cast<int>(node->kind) >= kNumNodeKinds) {
      return absl::InvalidArgumentError("the AST has a node of unknown kind");
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "the AST has a node of kind '", Spec(node->kind).token, "' (",
        Spec(node->kind).py_class, ") where ", what, " was expected, or with ",
        node->num_children, " children"));
  }

  // The node exists, is not a hole, and has the number of children its kind needs.
  static bool WellFormed(const AstNode* node) {
    if (node == nullptr || node->is_hole || static_cast<int>(node->kind) >= kNumNodeKinds) {
      return false;
    }
    if (IsSequenceNode(node->kind)) return true;
    return node->num_children == Spec(node->kind).num_children;
  }

  absl::Status Variable(const AstNode* node, int* var) {
    if (!WellFormed(node) || node->kind != NodeKind::kName) return Malformed(node, "a name");
    if (node->value < 0 || node->value >= kMaxVars) {
      return absl::InvalidArgumentError(
          absl::StrCat("the AST names variable ", node->value, "; only 0..25 (a..z) exist"));
    }
    *var = node->value;
    return absl::OkStatus();
  }

  absl::Status Sequence(const AstNode* seq, NodeKind kind) {
    if (!WellFormed(seq) || seq->kind != kind || seq->num_children < 1) {
      return Malformed(seq, "a block of statements");
    }
    for (const AstNode* s = seq->first_child; s != nullptr; s = s->next) {
      if (absl::Status st = Statement(s); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::Status Statement(const AstNode* s) {
    if (!WellFormed(s) || Spec(s->kind).fills != Hole::kStmt) return Malformed(s, "a statement");
    int var = 0;
    if (Spec(s->kind).op != NodeKind::kNone) return AugAssign(s);
    switch (s->kind) {
      case NodeKind::kAssign: {
        StepFor(s);
        if (absl::Status st = Variable(s->child(0), &var); !st.ok()) return st;
        if (absl::Status st = Expr(s->child(kValue)); !st.ok()) return st;
        Emit({.op = Op::kStore, .var = static_cast<uint8_t>(var)});
        Pop(1);
        return absl::OkStatus();
      }
      case NodeKind::kIf:
      case NodeKind::kIfElse: {
        StepFor(s);
        if (absl::Status st = Expr(s->child(kTest)); !st.ok()) return st;
        const int test = Emit({.op = Op::kPopJumpIfFalse});
        Pop(1);
        if (absl::Status st = Sequence(s->child(kBody), NodeKind::kBlock); !st.ok()) return st;
        if (s->kind == NodeKind::kIf) {
          p_.code_[test].arg = Here();
          return absl::OkStatus();
        }
        const int skip = Emit({.op = Op::kJump});
        p_.code_[test].arg = Here();
        if (absl::Status st = Sequence(s->child(kOrelse), NodeKind::kBlock); !st.ok()) return st;
        p_.code_[skip].arg = Here();
        return absl::OkStatus();
      }
      case NodeKind::kFor1:
      case NodeKind::kFor2: {
        StepFor(s);
        const bool two = s->kind == NodeKind::kFor2;
        if (absl::Status st = Variable(s->child(0), &var); !st.ok()) return st;
        for (int i = 1; i <= (two ? 2 : 1); ++i) {
          if (absl::Status st = Expr(s->child(i)); !st.ok()) return st;
        }
        if (p_.num_loops_ >= 0xffff) return absl::InvalidArgumentError("too many loops");
        const auto loop = static_cast<uint16_t>(p_.num_loops_++);
        Emit({.op = Op::kForInit, .var = static_cast<uint8_t>(two ? 1 : 0), .loop = loop});
        Pop(two ? 2 : 1);
        const int head =
            Emit({.op = Op::kForIter, .var = static_cast<uint8_t>(var), .loop = loop});
        fixups_.emplace_back(head, s);
        loops_.push_back(Loop{head, {}});
        if (absl::Status st = Sequence(s->last_child, NodeKind::kLoopBody); !st.ok()) return st;
        Emit({.op = Op::kJump, .arg = head});
        p_.code_[head].arg = Here();
        for (int b : loops_.back().breaks) p_.code_[b].arg = Here();
        loops_.pop_back();
        return absl::OkStatus();
      }
      case NodeKind::kReturn:
        StepFor(s);
        if (absl::Status st = Expr(s->child(0)); !st.ok()) return st;
        Emit({.op = Op::kReturn});
        Pop(1);
        return absl::OkStatus();
      case NodeKind::kReturnNone:
        StepFor(s);
        Emit({.op = Op::kReturnNone, .var = 1});
        return absl::OkStatus();
      case NodeKind::kPass:
        StepFor(s);
        return absl::OkStatus();
      case NodeKind::kBreak:
      case NodeKind::kContinue:
        if (loops_.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("'", Spec(s->kind).token, "' outside a loop"));
        }
        StepFor(s);
        if (s->kind == NodeKind::kBreak) {
          loops_.back().breaks.push_back(Emit({.op = Op::kJump}));
        } else {
          Emit({.op = Op::kJump, .arg = loops_.back().head});
        }
        return absl::OkStatus();
      default:
        return Malformed(s, "a statement");
    }
  }

  absl::Status Expr(const AstNode* e) {
    if (!WellFormed(e) || Spec(e->kind).fills != Hole::kExpr) return Malformed(e, "an expression");
    if (Spec(e->kind).op != NodeKind::kNone) return Operator(e);
    switch (e->kind) {
      case NodeKind::kName: {
        int var = 0;
        if (absl::Status st = Variable(e, &var); !st.ok()) return st;
        Emit({.op = Op::kLoad, .var = static_cast<uint8_t>(var)});
        Push(1);
        return absl::OkStatus();
      }
      case NodeKind::kConst:
        Emit({.op = Op::kConst, .imm = e->value});
        Push(1);
        return absl::OkStatus();
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        if (absl::Status st = Expr(e->child(0)); !st.ok()) return st;
        const int jump = Emit({.op = e->kind == NodeKind::kAnd ? Op::kJumpIfFalseElsePop
                                                                : Op::kJumpIfTrueElsePop});
        Pop(1);
        if (absl::Status st = Expr(e->child(1)); !st.ok()) return st;
        p_.code_[jump].arg = Here();
        return absl::OkStatus();
      }
      case NodeKind::kIfExp: {
        if (absl::Status st = Expr(e->child(kTest)); !st.ok()) return st;
        const int test = Emit({.op = Op::kPopJumpIfFalse});
        Pop(1);
        if (absl::Status st = Expr(e->child(kBody)); !st.ok()) return st;
        const int skip = Emit({.op = Op::kJump});
        Pop(1);
        p_.code_[test].arg = Here();
        if (absl::Status st = Expr(e->child(kOrelse)); !st.ok()) return st;
        p_.code_[skip].arg = Here();
        return absl::OkStatus();
      }
      default:
        return Malformed(e, "an expression");
    }
  }

  // An operator that evaluates its operands in order, then applies its opcode to them.
  absl::Status Operator(const AstNode* e) {
    for (int i = 0; i < e->num_children; ++i) {
      if (absl::Status st = Expr(e->child(i)); !st.ok()) return st;
    }
    Emit({.op = Opcode(Spec(e->kind).op)});
    Pop(e->num_children - 1);
    return absl::OkStatus();
  }

  // `x op= e`: x = x op e, reading x before e is evaluated.
  absl::Status AugAssign(const AstNode* s) {
    int var = 0;
    StepFor(s);
    if (absl::Status st = Variable(s->child(0), &var); !st.ok()) return st;
    Emit({.op = Op::kLoad, .var = static_cast<uint8_t>(var)});
    Push(1);
    if (absl::Status st = Expr(s->child(kValue)); !st.ok()) return st;
    Emit({.op = Opcode(Spec(s->kind).op)});
    Pop(1);
    Emit({.op = Op::kStore, .var = static_cast<uint8_t>(var)});
    Pop(1);
    return absl::OkStatus();
  }

  Program& p_;
  int depth_ = 0;
  std::vector<Loop> loops_;
  std::vector<std::pair<int, const AstNode*>> fixups_;
};

std::string Value::ToString() const {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return i != 0 ? "True" : "False";
    case Kind::kInt: return absl::StrCat(i);
  }
  return "?";
}

absl::string_view Value::TypeName() const {
  switch (kind) {
    case Kind::kNone: return "none";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
  }
  return "?";
}

absl::Status ValidateRunOptions(const RunOptions& options) {
  if (options.max_steps < 1 || options.max_steps > kMaxStepsLimit) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"options.max_steps", "", " = ",
                                  absl::StrCat(options.max_steps, " is outside [1, ",
                                               kMaxStepsLimit, "]")});
  }
  if (options.max_trace_events < 0) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"options.max_trace_events", "", " = ",
                                  absl::StrCat(options.max_trace_events,
                                               " is negative (0 means no cap)")});
  }
  return absl::OkStatus();
}

absl::Status Program::TraceCapStatus(int64_t max_trace_events) {
  return FieldStatus(absl::StatusCode::kResourceExhausted, "trace",
                     absl::StrCat("the trace would exceed its cap of ", max_trace_events,
                                  " events (one a step, over all inputs); fewer inputs or a "
                                  "lower max_steps keeps it within the cap"));
}

absl::StatusOr<Program> Program::Compile(const Ast& ast, const DecodeConfig& config,
                                         std::optional<int> entry) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (ast.root == nullptr || !ast.complete) {
    return absl::InvalidArgumentError("the AST is incomplete; only whole programs run");
  }
  if (absl::Status s = CheckAstDepth(ast); !s.ok()) return s;  // the compiler recurses
  Program program;
  program.lo_ = config.value_range.first;
  program.hi_ = config.value_range.second;

  std::vector<std::pair<int, const AstNode*>> fixups;
  auto compile_function = [&](const AstNode* def) -> absl::Status {
    if (def == nullptr || def->is_hole || def->kind != NodeKind::kDef ||
        def->num_children != 1) {
      return absl::InvalidArgumentError("the AST has a malformed function definition");
    }
    ProgramCompiler compiler(&program);
    absl::Status s = compiler.Function(def->first_child, def->value);
    fixups = compiler.line_fixups();
    return s;
  };

  const int num_functions = ast.start == Start::kModule ? ast.root->num_children : 1;
  // The program is checked before the entry, so that a bad entry of a good program is the only
  // error that names `entry`.
  const bool entry_exists = !entry.has_value() || (*entry >= 0 && *entry < num_functions);
  program.entry_ = entry_exists ? entry.value_or(num_functions - 1) : 0;
  switch (ast.start) {
    case Start::kModule: {
      if (ast.root->is_hole || ast.root->kind != NodeKind::kModule || num_functions < 1) {
        return absl::InvalidArgumentError("the AST's root is not a module of functions");
      }
      // Every function is checked, so that printing the AST for its lines is safe; only
      // the entry's code is kept.
      int index = 0;
      Program entry_program;
      std::vector<std::pair<int, const AstNode*>> entry_fixups;
      for (const AstNode* f = ast.root->first_child; f != nullptr; f = f->next, ++index) {
        program.code_.clear();
        program.max_stack_ = 0;
        program.num_loops_ = 0;
        if (absl::Status s = compile_function(f); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat("function ", FunctionName(index), ": ",
                                                     s.message()));
        }
        if (index == program.entry_) {
          entry_program = program;
          entry_fixups = fixups;
        }
      }
      const int entry_index = program.entry_;
      program = std::move(entry_program);
      program.entry_ = entry_index;
      fixups = std::move(entry_fixups);
      break;
    }
    case Start::kFunction:
      if (absl::Status s = compile_function(ast.root); !s.ok()) return s;
      break;
    case Start::kBlock: {
      ProgramCompiler compiler(&program);
      if (absl::Status s = compiler.Function(ast.root, ast.arity); !s.ok()) return s;
      fixups = compiler.line_fixups();
      break;
    }
    case Start::kExpr: {
      ProgramCompiler compiler(&program);
      if (absl::Status s = compiler.ExprRoot(ast.root, ast.arity); !s.ok()) return s;
      break;
    }
  }

  if (!entry_exists) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"entry", "", " = ",
                                  absl::StrCat(*entry, " is outside [0, ", num_functions - 1,
                                               "]: the ", StartName(ast.start), " has ",
                                               num_functions, " function",
                                               num_functions == 1 ? "" : "s")});
  }
  // Lines: the printer is the one place that knows the layout, so print into a side table
  // (never into the AST, which other threads may be compiling or printing too).
  if (!fixups.empty()) {
    AstLines lines;
    AstToSource(ast, &lines);
    for (const auto& [pc, node] : fixups) {
      auto it = lines.find(node);
      program.code_[pc].imm = it == lines.end() ? 0 : it->second;
    }
  }
  return program;
}

absl::StatusOr<Program> Program::FromTokens(const std::shared_ptr<const Engine>& engine,
                                            Start start, std::optional<int> arity,
                                            absl::Span<const int32_t> tokens,
                                            std::optional<int> entry) {
  absl::StatusOr<Ast> ast = TokensToAst(engine, start, arity, tokens, /*partial=*/false);
  if (!ast.ok()) return ast.status();
  return Compile(*ast, engine->config(), entry);
}

absl::StatusOr<Program> Program::FromState(const DecodeState& state, std::optional<int> entry) {
  absl::StatusOr<Ast> ast = StateToAst(state, /*partial=*/false);
  if (!ast.ok()) return ast.status();
  return Compile(*ast, state.engine().config(), entry);
}

std::string Program::entry_name() const { return FunctionName(entry_); }

absl::Status Program::CheckArgs(absl::Span<const int64_t> args) const {
  if (static_cast<int>(args.size()) != arity_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the program takes ", arity_, " argument", arity_ == 1 ? "" : "s", ", got ",
        args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] < lo_ || args[i] > hi_) {
      return FieldStatus(absl::StatusCode::kInvalidArgument,
                         FieldError{absl::StrCat("args[", i, "]"), "", " = ",
                                    absl::StrCat(args[i], " is outside value_range [", lo_,
                                                 ", ", hi_, "]")});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RunOutcome> Program::RunWithin(absl::Span<const int64_t> args,
                                              const RunOptions& options,
                                              int64_t trace_budget,
                                              int64_t* interrupt_credit) const {
  if (absl::Status s = ValidateRunOptions(options); !s.ok()) return s;
  if (static_cast<int>(args.size()) != arity_) return CheckArgs(args);
  RawSlots<Value, kMaxVars> var_slots(kMaxVars);
  Value* const vars = var_slots.data();  // vars[v] is read only where `bound` has bit v
  uint32_t bound = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] < lo_ || args[i] > hi_) return CheckArgs(args);  // names args[i]
    vars[i] = Value::Int(args[i]);
    bound |= 1u << i;
  }

  struct LoopState {
    int64_t next;
    int64_t stop;
  };
  RawSlots<Value, 32> stack(static_cast<size_t>(max_stack_) + 1);
  RawSlots<LoopState, 8> loop_slots(static_cast<size_t>(num_loops_));
  LoopState* const loops = loop_slots.data();  // a loop's state is set by its kForInit
  Value* sp = stack.data();  // the next free slot
  const Instr* const code = code_.data();
  const int64_t max_steps = options.max_steps;
  const bool trace = options.trace;
  int64_t steps = 0;
  // The step counter meets one limit on the hot path: the nearest of max_steps, the next
  // interrupt and the trace cap. Reaching it stops the run at max_steps, or goes to the cold
  // path (AtLimit), which calls the interrupt or reports the trace cap.
  const bool capped = trace && trace_budget >= 0 && trace_budget < max_steps;
  const bool interruptible = static_cast<bool>(options.interrupt);
  // The step count at which the interrupt is next called.
  int64_t next_interrupt = interrupt_credit != nullptr ? *interrupt_credit : kRunInterruptSteps;
  int64_t limit = NextLimit(max_steps, capped, trace_budget, interruptible, next_interrupt);
  int64_t line = 0;
  size_t pc = 0;
  __int128 result = 0;  // of an arithmetic op, checked against value_range
  Value a, b;

  RunOutcome out;
  auto fail = [&](RunStatus status, std::string message) {
    out.status = status;
    out.message = absl::StrCat(message, " (line ", line, ")");
  };

  for (;;) {
    const Instr& in = code[pc++];
    switch (in.op) {
      case Op::kStep:
        line = in.imm;
        if (steps == limit) {
          if (steps == max_steps) goto step_limit;
          if (absl::Status s = AtLimit(options, steps, capped, trace_budget); !s.ok()) return s;
          next_interrupt = steps + kRunInterruptSteps;
          limit = NextLimit(max_steps, capped, trace_budget, interruptible, next_interrupt);
        }
        ++steps;
        if (trace) out.trace.push_back(TraceEvent{static_cast<int>(line), -1, {}, std::nullopt});
        continue;
      case Op::kConst:
        if (in.imm < lo_ || in.imm > hi_) {
          fail(RunStatus::kOverflow, absl::StrCat("overflow: the constant ", in.imm,
                                                  " is outside value_range [", lo_, ", ", hi_,
                                                  "]"));
          goto done;
        }
        *sp++ = Value::Int(in.imm);
        continue;
      case Op::kLoad:
        if (!(bound >> in.var & 1u)) {
          fail(RunStatus::kInvalidProgram, absl::StrCat("variable ", VariableName(in.var),
                                                        " is read before it is assigned"));
          goto done;
        }
        *sp++ = vars[in.var];
        continue;
      case Op::kStore:
        vars[in.var] = *--sp;
        bound |= 1u << in.var;
        if (trace) {
          out.trace.back().var = in.var;  // a statement assigns at most one variable
          out.trace.back().value = *sp;
        }
        continue;
      case Op::kAdd:
        b = *--sp;
        a = sp[-1];
        result = static_cast<__int128>(a.i) + b.i;
        goto arithmetic;
      case Op::kSub:
        b = *--sp;
        a = sp[-1];
        result = static_cast<__int128>(a.i) - b.i;
        goto arithmetic;
      case Op::kMul:
        b = *--sp;
        a = sp[-1];
        result = static_cast<__int128>(a.i) * b.i;
        goto arithmetic;
      case Op::kFloorDiv:
      case Op::kMod: {
        b = *--sp;
        a = sp[-1];
        if (b.i == 0) {
          fail(RunStatus::kZeroDivision, absl::StrCat("integer division or modulo by zero: ",
                                                      a.ToString(), " ", OpText(in.op), " ",
                                                      b.ToString()));
          goto done;
        }
        // C++ truncates toward zero; Python floors, so the remainder takes b's sign.
        int64_t q = a.i / b.i;
        int64_t r = a.i % b.i;
        if (r != 0 && ((r < 0) != (b.i < 0))) {
          --q;
          r += b.i;
        }
        result = in.op == Op::kFloorDiv ? q : r;
        goto arithmetic;
      }
      case Op::kLt: b = *--sp; sp[-1] = Value::Bool(sp[-1].i < b.i); continue;
      case Op::kLtE: b = *--sp; sp[-1] = Value::Bool(sp[-1].i <= b.i); continue;
      case Op::kEq: b = *--sp; sp[-1] = Value::Bool(sp[-1].i == b.i); continue;
      case Op::kNotEq: b = *--sp; sp[-1] = Value::Bool(sp[-1].i != b.i); continue;
      case Op::kGt: b = *--sp; sp[-1] = Value::Bool(sp[-1].i > b.i); continue;
      case Op::kGtE: b = *--sp; sp[-1] = Value::Bool(sp[-1].i >= b.i); continue;
      case Op::kNeg:
        result = -static_cast<__int128>(sp[-1].i);
        if (result < lo_ || result > hi_) {
          fail(RunStatus::kOverflow, absl::StrCat("overflow: -(", sp[-1].ToString(), ") = ",
                                                  Int128ToString(result),
                                                  " is outside value_range [", lo_, ", ", hi_,
                                                  "]"));
          goto done;
        }
        sp[-1] = Value::Int(static_cast<int64_t>(result));
        continue;
      case Op::kAbs:
        result = sp[-1].i < 0 ? -static_cast<__int128>(sp[-1].i) : sp[-1].i;
        if (result < lo_ || result > hi_) {
          fail(RunStatus::kOverflow, absl::StrCat("overflow: abs(", sp[-1].ToString(), ") = ",
                                                  Int128ToString(result),
                                                  " is outside value_range [", lo_, ", ", hi_,
                                                  "]"));
          goto done;
        }
        sp[-1] = Value::Int(static_cast<int64_t>(result));
        continue;
      case Op::kNot:
        sp[-1] = Value::Bool(sp[-1].i == 0);
        continue;
      case Op::kMin:  // min(a, b) is b only if b < a: ties keep the first operand
        b = *--sp;
        if (b.i < sp[-1].i) sp[-1] = b;
        continue;
      case Op::kMax:  // max(a, b) is b only if b > a
        b = *--sp;
        if (b.i > sp[-1].i) sp[-1] = b;
        continue;
      case Op::kJump:
        pc = static_cast<size_t>(in.arg);
        continue;
      case Op::kPopJumpIfFalse:
        if ((*--sp).i == 0) pc = static_cast<size_t>(in.arg);
        continue;
      case Op::kJumpIfFalseElsePop:
        if (sp[-1].i == 0) {
          pc = static_cast<size_t>(in.arg);
        } else {
          --sp;
        }
        continue;
      case Op::kJumpIfTrueElsePop:
        if (sp[-1].i != 0) {
          pc = static_cast<size_t>(in.arg);
        } else {
          --sp;
        }
        continue;
      case Op::kForInit: {
        LoopState& loop = loops[in.loop];
        loop.stop = (*--sp).i;
        loop.next = in.var == 1 ? (*--sp).i : 0;
        continue;
      }
      case Op::kForIter: {
        LoopState& loop = loops[in.loop];
        if (loop.next >= loop.stop) {
          pc = static_cast<size_t>(in.arg);
          continue;
        }
        // The loop variable takes its value, then the iteration counts its step (as the
        // body's first statement would): a step limit here leaves the variable assigned.
        vars[in.var] = Value::Int(loop.next++);
        bound |= 1u << in.var;
        line = in.imm;
        if (steps == limit) {
          if (steps == max_steps) goto step_limit;
          if (absl::Status s = AtLimit(options, steps, capped, trace_budget); !s.ok()) return s;
          next_interrupt = steps + kRunInterruptSteps;
          limit = NextLimit(max_steps, capped, trace_budget, interruptible, next_interrupt);
        }
        ++steps;
        if (trace) {
          out.trace.push_back(
              TraceEvent{static_cast<int>(line), in.var, vars[in.var], std::nullopt});
        }
        continue;
      }
      case Op::kReturn:
        out.value = *--sp;
        if (trace) out.trace.back().returned = out.value;
        goto done;
      case Op::kReturnNone:
        out.value = Value::None();
        if (trace && in.var == 1) out.trace.back().returned = out.value;
        goto done;
      default:  // an operator row without its case here (tests/core/interpreter_test.cc)
        fail(RunStatus::kInvalidProgram,
             absl::StrCat("no case runs '", Spec(static_cast<NodeKind>(in.op)).token, "'"));
        goto done;
    }
  arithmetic:
    if (result < lo_ || result > hi_) {
      fail(RunStatus::kOverflow,
           absl::StrCat("overflow: ", a.ToString(), " ", OpText(in.op), " ", b.ToString(),
                        " = ", Int128ToString(result), " is outside value_range [", lo_, ", ",
                        hi_, "]"));
      goto done;
    }
    sp[-1] = Value::Int(static_cast<int64_t>(result));
  }

step_limit:
  fail(RunStatus::kStepLimit, absl::StrCat("step limit: max_steps = ", max_steps, " reached"));

done:
  out.steps = steps;
  if (interrupt_credit != nullptr) *interrupt_credit = next_interrupt - steps;
  if (out.status != RunStatus::kOk) out.value = Value::None();
  if (options.locals) {
    for (int v = 0; v < kMaxVars; ++v) {
      if (bound >> v & 1u) out.locals.emplace_back(v, vars[v]);
    }
  }
  return out;
}

absl::StatusOr<std::vector<RunOutcome>> Program::RunBatch(
    absl::Span<const std::vector<int64_t>> inputs, const RunOptions& options) const {
  if (absl::Status s = ValidateRunOptions(options); !s.ok()) return s;
  for (size_t k = 0; k < inputs.size(); ++k) {  // every input, before any work
    if (absl::Status s = CheckArgs(inputs[k]); !s.ok()) {
      return Within(absl::StrCat("inputs[", k, "]"), s);
    }
  }
  const bool capped = options.trace && options.max_trace_events > 0;
  int64_t events = 0;  // recorded so far, over the batch
  // Steps left before the next call of the interrupt, over the batch: an input counts as one,
  // so that many short runs call it as rarely as one long run.
  int64_t credit = 0;
  std::vector<RunOutcome> outcomes;
  outcomes.reserve(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (options.interrupt) {
      if (credit <= 0) {
        if (absl::Status s = options.interrupt(); !s.ok()) return s;
        credit = kRunInterruptSteps;
      }
      --credit;
    }
    absl::StatusOr<RunOutcome> outcome = RunWithin(
        inputs[k], options, capped ? options.max_trace_events - events : -1, &credit);
    if (!outcome.ok()) {
      return outcome.status();  // the trace cap, or the interrupt's status
    }
    events += static_cast<int64_t>(outcome->trace.size());
    outcomes.push_back(*std::move(outcome));
  }
  return outcomes;
}

}  // namespace astcd
