// The shape controls (docs/language.md, section 4.1): the rules that refuse tokens outright,
// and the completion plan whose length the mask checks every candidate token against.
//
// The plan, from any state: fill each open hole with its cheapest filling, reading the names
// owed a read in the current statement's open expressions (one name per hole free, each
// further one `+ name ...`: two tokens); read the rest with one `return` at the end of the
// innermost block that can still take a statement (or in a block the current statement will
// open); and end a body that must end with `return <expr>`. Every move of the plan is a legal
// token whose successor's plan is one token shorter, so a state whose plan fits the budget is
// never a dead end (tests/core/decoder_shape_test.cc walks it).
#include <algorithm>
#include <bit>

#include "core/decoder.h"

namespace astcd {
namespace {

bool IsOperator(NodeKind k) { return Spec(k).fills == Hole::kExpr && Spec(k).num_children > 0; }

uint32_t LowBits(int n) { return n >= 32 ? ~0u : (1u << n) - 1; }

constexpr int kFirstBranch = FieldIndex(NodeKind::kIfElse, "body");

void ClearBit(uint32_t* row, int id) { row[id >> 5] &= ~(1u << (id & 31)); }

void ClearAll(uint32_t* row, const uint32_t* kinds, int words) {
  for (int w = 0; w < words; ++w) row[w] &= ~kinds[w];
}

// Leaves an expression hole at depth `depth` can hold: a tree of `+` down to max_expr_depth.
int Leaves(int depth, int max_depth) { return 1 << std::min(max_depth - depth, 6); }

// The plan's cost of ending a function body that starts empty: a return that reads the
// smallest arity's parameters (use_all_params), or `return <leaf>` (require_return_value),
// in place of `pass`.
int FunctionExtra(const DecodeConfig& cfg) {
  const int arity = cfg.arities.front();  // the engine keeps them sorted
  if (cfg.use_all_params && arity > 0) return 2 * arity - 1;
  return cfg.require_return_value ? 1 : 0;
}

}  // namespace

bool DecodeState::Machine::NeedsName(const Frame& frame, int child) const {
  const DecodeConfig& cfg = engine->config();
  if (cfg.no_constant_tests && Spec(frame.node).fields[child] == "test") return true;
  return IsOperator(frame.node) && (frame.flags & kNeedsName) && !(frame.flags & kHasName) &&
         child == Spec(frame.node).num_children - 1;
}

void DecodeState::Machine::FilterShape(MaskContext ctx, uint32_t var_bits, uint32_t* row) const {
  const Engine& e = *engine;
  const DecodeConfig& cfg = e.config();
  const Vocabulary& v = e.vocab();
  if (ctx == MaskContext::kStmt) {
    const Frame& block = stack.back();
    if (cfg.require_return_value) {
      ClearBit(row, v.id(NodeKind::kReturnNone));
      if (block.node == NodeKind::kBody && (block.flags & kFallsThrough)) {
        ClearBit(row, v.id(NodeKind::kEnd));  // the body would fall off its end
      }
    }
    if (cfg.no_dead_code && !(block.flags & kFallsThrough)) {
      const int end = v.id(NodeKind::kEnd);
      const bool end_legal = (row[end >> 5] >> (end & 31)) & 1u;
      std::fill(row, row + e.words(), 0u);
      if (end_legal) row[end >> 5] |= 1u << (end & 31);
    }
    if (cfg.no_constant_tests && block.bits == 0) {
      ClearBit(row, v.id(NodeKind::kIf));
      ClearBit(row, v.id(NodeKind::kIfElse));
    }
    return;
  }
  if (ctx != MaskContext::kExpr) return;
  const Frame& top = stack.back();
  if (var_bits == 0) {  // nothing to read: no operator can mention a name
    if (cfg.no_constant_subexpressions) {
      ClearAll(row, e.kind_mask(TokenKind::kOperator), e.words());
    } else if (cfg.no_constant_tests) {
      ClearBit(row, v.id(NodeKind::kIfExp));
    }
  }
  if (NeedsName(top, top.next)) ClearAll(row, e.kind_mask(TokenKind::kConstant), e.words());
  // The second operand (or the value of =, op=) cannot be the bare name the first one is.
  const bool self_trivial = Spec(top.node).flow & kFlowSelfTrivial;
  if (cfg.no_trivial_self_ops && self_trivial && top.next == 1 &&
      (!IsOperator(top.node) || (top.flags & kLeftName))) {
    ClearBit(row, v.name_id(static_cast<int>(top.bits)));
  }
}

int DecodeState::Machine::MinToComplete() const {
  const int extra = Extra();
  return extra >= kNoPlan ? kNoPlan : pending + extra;
}

int DecodeState::Machine::Extra() const {
  const Engine& e = *engine;
  if (!e.plans() || terminated) return 0;
  if (stack.empty()) return owed ? kNoPlan : 0;
  const DecodeConfig& cfg = e.config();
  const Frame& top = stack.back();
  if (top.node == NodeKind::kModule || top.node == NodeKind::kFunctionRoot) {
    if (owed) return kNoPlan;  // a function ended owing a read
    return top.next == 0 ? FunctionExtra(cfg) : 0;  // the function still needed, if any
  }
  if (owed & ~scope().bits) return kNoPlan;  // an owed name can no longer be read

  // The function's blocks, innermost (level 0) outward to its body (level K), by stack index.
  absl::InlinedVector<int, kInlineFrames> levels;
  for (int i = static_cast<int>(stack.size()) - 1; i >= 0; --i) {
    if (stack[i].node == NodeKind::kModule) break;
    if (IsSequenceNode(stack[i].node)) levels.push_back(i);
    if (stack[i].node == NodeKind::kBody) break;
  }
  const int num_levels = static_cast<int>(levels.size());

  // The current statement S: the frames above the innermost block (an EXPR root: all of them).
  // Its open expression holes, what they can hold, and whether it will open a block.
  const int first = levels.empty() ? 0 : levels[0] + 1;
  const int stmt = levels.empty() || first == static_cast<int>(stack.size()) ? -1 : first;
  int holes = 0, capacity = 0;
  bool opens_block = false;
  for (int i = first; i < static_cast<int>(stack.size()); ++i) {
    const Frame& f = stack[i];
    const NodeSpec& spec = Spec(f.node);
    const int depth = IsOperator(f.node) ? f.depth + 1 : 1;
    for (int c = f.next; c < spec.num_children; ++c) {
      if (spec.children[c] == Hole::kExpr) {
        ++holes;
        capacity += Leaves(depth, cfg.max_expr_depth);
      } else if (IsSequence(spec.children[c])) {
        opens_block = true;
      }
    }
  }

  // Names S can read now, and the name S binds (read after it: =, op=; or in its body: for).
  uint32_t now = owed;
  int binds = 0;
  bool binds_after = false;  // =, op=: read after S; for: read in its body
  uint32_t bound = 0;  // the names S may bind (its target, or every candidate if not chosen)
  if (stmt >= 0 && cfg.no_unused_locals) {
    const Frame& f = stack[stmt];
    const uint8_t flow = Spec(f.node).flow;
    if (flow & (kFlowBindsAfter | kFlowBindsInBody)) {
      binds = 1;
      binds_after = flow & kFlowBindsAfter;
      if (f.next > 0) {  // the target, child 0, is chosen
        bound = 1u << f.bits;
        now &= ~bound;  // a read of it in S comes before the binding
      } else {
        const bool room = introduced < arity + cfg.max_locals;
        bound = Spec(f.node).children[0] == Hole::kAugTarget
                    ? scope().bits
                    : LowBits(introduced + (room ? 1 : 0));
      }
    }
  }

  // Where the plan can put its return: a level whose block can take another statement after
  // its current one, or (-1) a block S will open. falls[L]: level L falls through after its
  // current statement, before the plan adds a return.
  const bool ends = stmt >= 0 && (Spec(stack[stmt].node).flow & kFlowEndsPath);
  auto falls_after = [&](int level, bool inner_falls) {
    const Frame& block = stack[levels[level]];
    bool falls = block.flags & kFallsThrough;
    if (level == 0) return falls && !ends;
    const Frame& holder = stack[levels[level] + 1];  // the statement holding level - 1
    if ((Spec(holder.node).flow & kFlowJoinsBranches) && holder.next == kFirstBranch + 2) {
      falls = falls && ((holder.flags & kFallsThrough) || inner_falls);  // in the else branch
    }
    return falls;
  };
  absl::InlinedVector<int, kInlineFrames> homes;
  if (opens_block) homes.push_back(-1);
  for (int level = 0, inner = 0; level < num_levels; ++level) {
    const bool falls = falls_after(level, inner);
    if (stack[levels[level]].next < cfg.max_block_stmts && (!cfg.no_dead_code || falls)) {
      homes.push_back(level);
    }
    inner = falls;
  }
  constexpr int kNowhere = -2;
  if (homes.empty()) homes.push_back(kNowhere);

  // The plan's cost with its return at `home` (the cheapest home is the plan).
  const int num_now = std::popcount(now);
  const bool body_must_end = cfg.require_return_value && num_levels > 0 &&
                             stack[levels[num_levels - 1]].node == NodeKind::kBody;
  auto cost = [&](int home) {
    // Names only S can still read: those not definitely assigned where the return is.
    const uint32_t trapped =
        home == kNowhere ? now : home > 0 ? now & ~stack[levels[home]].bits : 0u;
    const int num_trapped = std::popcount(trapped);
    if (num_trapped > capacity) return kNoPlan;
    int extra = 2 * std::max(0, num_trapped - holes);
    const int absorbed = std::min(num_now, holes) + std::max(0, num_trapped - holes);
    const int rest = num_now - absorbed + binds;
    if (rest > 0) {
      if (home == kNowhere) return kNoPlan;
      // The bound name must be readable at the return: after S (=, op=), in S's body (for).
      if (binds && home >= (binds_after ? 1 : 0) && !(bound & stack[levels[home]].bits)) {
        return kNoPlan;
      }
      const bool empty = home == -1 || (home == 0 && stmt < 0 && stack[levels[0]].next == 0);
      extra += 2 * rest - (empty ? 1 : 0);
    }
    if (body_must_end) {  // a body that still falls through after the plan ends in a return
      const int body = num_levels - 1;
      bool falls = false;
      for (int level = 0; level <= body; ++level) {
        falls = falls_after(level, falls) && !(rest > 0 && level == home);
      }
      if (falls) {
        const Frame& block = stack[levels[body]];
        if (block.next >= cfg.max_block_stmts) return kNoPlan;
        extra += body == 0 && stmt < 0 && block.next == 0 ? 1 : 2;
      }
    }
    return extra;
  };
  int best = kNoPlan;
  for (int home : homes) best = std::min(best, cost(home));
  return best;
}

void DecodeState::FillShapedMask(uint32_t* out) const {
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  const Engine& e = *engine_;
  const int words = e.words();
  std::copy_n(e.base_mask(ctx, conds), words, out);
  if (var_bits != 0) {
    for (int var = 0; var < e.vocab().num_names(); ++var) {
      if ((var_bits >> var) & 1u) {
        const int id = e.vocab().name_id(var);
        out[id >> 5] |= 1u << (id & 31);
      }
    }
  }
  m_.FilterShape(ctx, var_bits, out);
  if (ctx == MaskContext::kTerminated) return;
  // Each candidate's successor must still have a plan that fits: once per shape class.
  const int room = token_budget_remaining() - 1;
  absl::InlinedVector<int8_t, 64> fits(e.num_shape_classes(), -1);
  for (int w = 0; w < words; ++w) {
    for (uint32_t bits = out[w]; bits != 0; bits &= bits - 1) {
      const int id = w * 32 + std::countr_zero(bits);
      int8_t& verdict = fits[e.shape_class(id)];
      if (verdict < 0) {
        Machine probe = m_;
        probe.Apply(id);
        verdict = probe.MinToComplete() <= room ? 1 : 0;
      }
      if (!verdict) out[w] &= ~(1u << (id & 31));
    }
  }
}

Refusal DecodeState::ShapeOrBudget(int32_t token) const {
  if (!shaped()) return Refusal::kBudget;
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  absl::InlinedVector<uint32_t, 64> row(engine_->words(), ~0u);
  m_.FilterShape(ctx, var_bits, row.data());
  if (!((row[token >> 5] >> (token & 31)) & 1u)) return Refusal::kShape;
  Machine probe = m_;
  probe.Apply(token);
  return probe.MinToComplete() >= kNoPlan ? Refusal::kShape : Refusal::kBudget;
}

}  // namespace astcd
