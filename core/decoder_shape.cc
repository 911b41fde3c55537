// The shape controls (docs/language.md, section 4.1): the rules that refuse tokens outright,
// and the completion plan whose length the mask checks every candidate token against.
//
// The plan, from any state: fill each open hole with its cheapest filling, reading the names
// owed a read in the current statement's open expressions (one name per hole free, each
// further one `+ name ...`: two tokens); read the rest with one `return` at the end of the
// block that can still take a statement (or that the current statement will open) where the
// plan is shortest; and end a body that must end with `return <expr>`. Every move of the plan is a legal
// token whose successor's plan is one token shorter, so a state whose plan fits the budget is
// never a dead end (tests/core/decoder_shape_test.cc walks it).
#include <algorithm>
#include <array>
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

// Per node kind, which child is a conditional's test (-1: none), from the table's field names.
constexpr std::array<int8_t, kNumNodeKinds> MakeTestFields() {
  std::array<int8_t, kNumNodeKinds> test{};
  for (int k = 0; k < kNumNodeKinds; ++k) {
    test[k] = static_cast<int8_t>(FieldIndex(static_cast<NodeKind>(k), "test"));
  }
  return test;
}
constexpr std::array<int8_t, kNumNodeKinds> kTestField = MakeTestFields();

bool DecodeState::Machine::NeedsName(const Frame& frame, int child) const {
  const DecodeConfig& cfg = engine->config();
  if (cfg.no_constant_tests && kTestField[static_cast<int>(frame.node)] == child) return true;
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

// Where the plan can put its return, and what each place costs beyond the names it reads.
// It depends on the blocks around the current statement S, not on S's open holes, so one
// survey prices every expression token that keeps S open.
struct DecodeState::Plan {
  static constexpr int kMaxHomes = kInlineFrames + 2;
  int num_homes = 0;
  uint32_t readable[kMaxHomes];  // names definitely assigned where the return would be
  bool can_read[kMaxHomes];      // a return fits there (false: the nowhere entry)
  int8_t empty[kMaxHomes];       // its block is empty, so the return replaces `pass`
  bool bound_ok[kMaxHomes];      // the name S binds can be read there
  int must_end[kMaxHomes];       // the body's own return, when the plan's return is there
  int must_end_alone = 0;        // ... when the plan needs no return
  int binds = 0;                 // names S binds, read after it or in its body
  int self_reads = 0;            // owed names S's value cannot be bare (x = x): 2 tokens each

  // The plan's extra tokens, given S's open expression holes and the names S can read.
  int Cost(int holes, int capacity, uint32_t now) const {
    const int num_now = std::popcount(now);
    int best = kNoPlan;
    for (int h = 0; h < num_homes; ++h) {
      const int num_trapped = std::popcount(now & ~readable[h]);  // only S can read these
      if (num_trapped > capacity) continue;
      int extra = 2 * std::max(0, num_trapped - holes);
      const int absorbed = std::min(num_now, holes) + std::max(0, num_trapped - holes);
      const int rest = num_now - absorbed + binds;
      int end = must_end_alone;
      if (rest > 0) {
        if (!can_read[h] || !bound_ok[h]) continue;
        extra += 2 * rest - empty[h];
        end = must_end[h];
      }
      if (end >= kNoPlan) continue;
      best = std::min(best, extra + end);
    }
    return best >= kNoPlan ? kNoPlan : best + 2 * self_reads;
  }
};

int DecodeState::Machine::Extra() const {
  Plan plan;
  int holes = 0, capacity = 0;
  uint32_t now = 0;
  const int fixed = Survey(&plan, &holes, &capacity, &now);
  return fixed >= 0 ? fixed : plan.Cost(holes, capacity, now);
}

int DecodeState::Machine::Survey(Plan* plan, int* holes, int* capacity, uint32_t* now) const {
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
  bool opens_block = false;
  for (int i = first; i < static_cast<int>(stack.size()); ++i) {
    const Frame& f = stack[i];
    const NodeSpec& spec = Spec(f.node);
    const int depth = IsOperator(f.node) ? f.depth + 1 : 1;
    for (int c = f.next; c < spec.num_children; ++c) {
      if (spec.children[c] == Hole::kExpr) {
        ++*holes;
        *capacity += Leaves(depth, cfg.max_expr_depth);
      } else if (IsSequence(spec.children[c])) {
        opens_block = true;
      }
    }
  }

  // Names S can read now, and the name S binds (read after it: =, op=; or in its body: for).
  *now = owed;
  bool binds_after = false;
  uint32_t bound = 0;  // the names S may bind (its target, or every candidate if not chosen)
  if (stmt >= 0 && cfg.no_unused_locals) {
    const Frame& f = stack[stmt];
    const uint8_t flow = Spec(f.node).flow;
    if (flow & (kFlowBindsAfter | kFlowBindsInBody)) {
      plan->binds = 1;
      binds_after = flow & kFlowBindsAfter;
      if (f.next > 0) {  // the target, child 0, is chosen
        bound = 1u << f.bits;
        *now &= ~bound;  // a read of it in S comes before the binding
      } else {
        const bool room = introduced < arity + cfg.max_locals;
        bound = Spec(f.node).children[0] == Hole::kAugTarget
                    ? scope().bits
                    : LowBits(introduced + (room ? 1 : 0));
      }
    }
  }

  // no_trivial_self_ops: an owed target cannot be the bare value of its own `x = x` (or x -= x):
  // the plan reads it as `x + 0` there, which needs an operator.
  // Before the target is chosen: so if every target it could choose is owed.
  // (With no_unused_locals the target's old debt is settled by the binding itself: binds.)
  if (cfg.no_trivial_self_ops && plan->binds == 0 && stmt == static_cast<int>(stack.size()) - 1 &&
      (Spec(top.node).flow & kFlowSelfTrivial) && top.next <= 1) {
    uint32_t target = 0;
    if (top.next == 1) {
      target = (*now >> top.bits) & 1u ? 1u << top.bits : 0u;
    } else {
      const bool room = introduced < arity + cfg.max_locals;
      const uint32_t candidates = Spec(top.node).children[0] == Hole::kAugTarget
                                      ? scope().bits
                                      : LowBits(introduced + (room ? 1 : 0));
      if ((candidates & ~*now) == 0) target = candidates & (~candidates + 1);  // any: the lowest
    }
    if (target != 0) {
      if (cfg.max_expr_depth < 2) return kNoPlan;
      *now &= ~target;
      plan->self_reads = 1;
    }
  }

  // falls_after(L): level L falls through after its current statement, before the plan adds
  // a return. A home is a level whose block can take a statement after its current one, or
  // (-1) a block S will open.
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
  const bool body_must_end = cfg.require_return_value && num_levels > 0 &&
                             stack[levels[num_levels - 1]].node == NodeKind::kBody;
  // The body's own return when the plan's return is at `home` (kNowhere: no return).
  constexpr int kNowhere = -2;
  auto must_end = [&](int home) {
    if (!body_must_end) return 0;
    const int body = num_levels - 1;
    bool falls = false;
    for (int level = 0; level <= body; ++level) {
      falls = falls_after(level, falls) && level != home;
    }
    if (!falls) return 0;
    const Frame& block = stack[levels[body]];
    if (block.next >= cfg.max_block_stmts) return kNoPlan;
    return body == 0 && stmt < 0 && block.next == 0 ? 1 : 2;
  };
  auto add_home = [&](int home) {
    // Levels are the body and at most max_control_depth (8) blocks, so homes fit; were the
    // range raised, the outermost extra homes would only make the plan dearer.
    if (plan->num_homes == Plan::kMaxHomes) return;
    const int h = plan->num_homes++;
    plan->can_read[h] = home != kNowhere;
    plan->readable[h] = home > 0 ? stack[levels[home]].bits : home == kNowhere ? 0u : ~0u;
    plan->empty[h] = home == -1 || (home == 0 && stmt < 0 && stack[levels[0]].next == 0);
    // The bound name must be readable at the return: after S (=, op=), in S's body (for).
    plan->bound_ok[h] = plan->binds == 0 || home < (binds_after ? 1 : 0) ||
                        (bound & stack[levels[home]].bits);
    plan->must_end[h] = must_end(home);
  };
  plan->must_end_alone = must_end(kNowhere);
  if (opens_block) add_home(-1);
  for (int level = 0, inner = 0; level < num_levels; ++level) {
    const bool falls = falls_after(level, inner);
    if (stack[levels[level]].next < cfg.max_block_stmts && (!cfg.no_dead_code || falls)) {
      add_home(level);
    }
    inner = falls;
  }
  if (plan->num_homes == 0) add_home(kNowhere);
  return -1;
}

void DecodeState::FillShapedMask(uint32_t* out) const {
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  const Engine& e = *engine_;
  const int words = e.words();
  std::copy_n(e.base_mask(ctx, conds), words, out);
  e.OrNames(var_bits, out);
  m_.FilterShape(ctx, var_bits, out);
  if (ctx == MaskContext::kTerminated) return;
  // Each candidate's successor must still have a plan that fits: once per shape class. An
  // expression token that keeps the statement open leaves the survey as it is, so its plan is
  // priced from this state's survey; any other token is tried on a scratch copy.
  const int room = token_budget_remaining() - 1;
  const DecodeConfig& cfg = e.config();
  Plan plan;
  int holes = 0, capacity = 0;
  uint32_t now = 0;
  // (Not where an operator would lift a self-op's exclusion: the survey would not hold.)
  const bool surveyed = ctx == MaskContext::kExpr &&
                        m_.Survey(&plan, &holes, &capacity, &now) < 0 && plan.self_reads == 0;
  // Only an expression hole's depth is an expression depth (a statement's is its control depth,
  // which may exceed max_expr_depth).
  const int hole_leaves = surveyed ? Leaves(depth, cfg.max_expr_depth) : 0;
  auto plan_fits = [&](int id) {
    const NodeSpec& spec = Spec(e.vocab().info(id).node);
    if (surveyed && spec.num_children > 0) {  // an operator: its operands replace the hole
      const int k = spec.num_children;
      const int leaves = capacity - hole_leaves + k * Leaves(depth + 1, cfg.max_expr_depth);
      return m_.pending + k - 1 + plan.Cost(holes + k - 1, leaves, now) <= room;
    }
    if (surveyed && holes > 1) {  // a leaf that leaves the statement open
      const int var = id - e.vocab().name_base();
      const uint32_t read = var >= 0 && var < e.vocab().num_names() ? 1u << var : 0u;
      return m_.pending - 1 + plan.Cost(holes - 1, capacity - hole_leaves, now & ~read) <= room;
    }
    Machine probe = m_;
    probe.Apply(id);
    return probe.MinToComplete() <= room;
  };
  absl::InlinedVector<int8_t, 64> fits(e.num_shape_classes(), -1);
  const int names = e.vocab().name_base();
  for (int w = 0; w < words; ++w) {
    for (uint32_t bits = out[w]; bits != 0; bits &= bits - 1) {
      const int id = w * 32 + std::countr_zero(bits);
      const int var = id - names;
      const bool unowed_read = ctx == MaskContext::kExpr && var >= 0 &&
                               var < e.vocab().num_names() && !((m_.owed >> var) & 1u);
      int8_t& verdict = fits[unowed_read ? e.constant_shape_class() : e.shape_class(id)];
      if (verdict < 0) verdict = plan_fits(id) ? 1 : 0;
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
