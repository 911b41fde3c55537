// The decoder's transitions: what one legal token does to the stack of open nodes, the scope
// and the pending completion cost (docs/language.md, section 7.1).
#include "core/decoder.h"

namespace astcd {
namespace {

bool IsScopeNode(NodeKind k) { return Spec(k).flow & kFlowOpensScope; }
bool IsOperator(NodeKind k) { return Spec(k).fills == Hole::kExpr && Spec(k).num_children > 0; }

// The branches a joining node's frame keeps apart: its body, then its orelse.
constexpr int kFirstBranch = FieldIndex(NodeKind::kIfElse, "body");
static_assert(kFirstBranch >= 0 && FieldIndex(NodeKind::kIfElse, "orelse") == kFirstBranch + 1);

uint32_t LowBits(int n) { return n >= 32 ? ~0u : (1u << n) - 1; }

}  // namespace

void DecodeState::Machine::Reset(Start root, int root_arity) {
  const Engine& e = *engine;
  stack.clear();
  start = root;
  terminated = false;
  scope_index = -1;
  arity = introduced = 0;
  owed = 0;
  switch (root) {
    case Start::kModule:
      stack.push_back({NodeKind::kModule, 0, 0, 0, 0});
      pending = e.hole_cost(Hole::kFunc) + 1;  // one function and EOS
      return;
    case Start::kFunction:
      stack.push_back({NodeKind::kFunctionRoot, 0, 0, 0, 0});
      pending = e.hole_cost(Hole::kFunc) + 1;
      return;
    case Start::kBlock:
    case Start::kExpr:
      arity = introduced = static_cast<uint8_t>(root_arity);
      if (e.config().use_all_params) owed = LowBits(root_arity);
      if (root == Start::kBlock) {
        stack.push_back({NodeKind::kBody, 0, 0, kFallsThrough, LowBits(root_arity)});
        pending = e.hole_cost(Hole::kBody) + 1;
      } else {
        stack.push_back({NodeKind::kExprRoot, 0, 0, 0, LowBits(root_arity)});
        pending = e.hole_cost(Hole::kExpr) + 1;
      }
      scope_index = 0;
      return;
  }
}

bool DecodeState::Machine::complete() const {
  if (stack.empty()) return true;
  return stack.size() == 1 && stack[0].node == NodeKind::kModule && stack[0].next > 0;
}

MaskContext DecodeState::Machine::Context(unsigned* conds, int* hole_cost, uint32_t* var_bits,
                                          int* depth) const {
  *conds = 0;
  *hole_cost = 0;
  *var_bits = 0;
  *depth = 0;
  if (terminated) return MaskContext::kTerminated;
  if (stack.empty()) return MaskContext::kComplete;
  const Engine& e = *engine;
  const DecodeConfig& cfg = e.config();
  const Frame& top = stack.back();
  if (top.node == NodeKind::kModule) {
    *conds = (top.next > 0 ? kCondSeqItem : 0u) | (top.next < cfg.max_functions ? kCondSeqRoom : 0u);
    *hole_cost = top.next == 0 ? e.hole_cost(Hole::kFunc) : 0;
    return MaskContext::kModule;
  }
  if (IsSequenceNode(top.node)) {
    const bool room = introduced < arity + cfg.max_locals;
    *conds = (top.next > 0 ? kCondSeqItem : 0u) |
             (top.next < cfg.max_block_stmts ? kCondSeqRoom : 0u) |
             ((top.flags & kInLoop) ? kCondInLoop : 0u) |
             (top.depth < cfg.max_control_depth ? kCondControlRoom : 0u) |
             ((introduced > 0 || room) ? kCondTarget : 0u) | (top.bits ? kCondAssigned : 0u);
    *hole_cost = top.next == 0 ? e.hole_cost(Hole::kStmt) : 0;
    *depth = top.depth;
    return MaskContext::kStmt;
  }
  const Hole hole = Spec(top.node).children[top.next];
  *hole_cost = e.hole_cost(hole);
  switch (hole) {
    case Hole::kFunc:
      return MaskContext::kFunc;
    case Hole::kTarget: {
      const bool room = introduced < arity + cfg.max_locals;
      *var_bits = LowBits(introduced + (room ? 1 : 0));
      return MaskContext::kTarget;
    }
    case Hole::kAugTarget:
      *var_bits = scope().bits;
      return MaskContext::kAugTarget;
    default:  // Hole::kExpr
      *depth = Spec(top.node).fills == Hole::kExpr ? top.depth + 1 : 1;
      *conds = *depth < cfg.max_expr_depth ? kCondExprRoom : 0u;
      *var_bits = scope().bits;
      return MaskContext::kExpr;
  }
}

// After `token` is appended. Keeps pending equal to the fewest tokens that complete the
// program: filling a hole swaps its cost for the cost of the subtree the token opens.
void DecodeState::Machine::Apply(int32_t token) {
  if (terminated) return;  // PAD after EOS changes nothing
  if (stack.empty()) {     // EOS after a complete root
    terminated = true;
    pending -= 1;
    return;
  }
  const Engine& e = *engine;
  const TokenInfo& info = e.vocab().info(token);
  Frame& top = stack.back();
  if (IsSequenceNode(top.node)) {
    if (info.node == Terminator(top.node)) {
      pending -= 1;
      CloseTop();
      if (stack.empty() && start == Start::kModule) terminated = true;
      Settle();
      return;
    }
    const Hole item = Spec(top.node).children[0];
    if (top.next == 0) pending -= e.hole_cost(item);
    ++top.next;
    OpenNode(token, 0);
  } else {
    const Hole hole = Spec(top.node).children[top.next];
    pending -= e.hole_cost(hole);
    const bool needs_name = hole == Hole::kExpr && NeedsName(top, top.next);
    ++top.next;
    if (hole == Hole::kTarget || hole == Hole::kAugTarget) {
      top.bits = static_cast<uint32_t>(info.value);
      if (hole == Hole::kTarget && info.value == introduced) ++introduced;
    } else if (hole == Hole::kExpr) {
      const int depth = Spec(top.node).fills == Hole::kExpr ? top.depth + 1 : 1;
      if (Spec(info.node).kind == TokenKind::kVariable) {
        owed &= ~(1u << info.value);
        if (IsOperator(top.node)) {
          top.flags |= kHasName;
          if (top.next == 1 && (Spec(top.node).flow & kFlowSelfTrivial)) {
            top.flags |= kLeftName;
            top.bits = static_cast<uint32_t>(info.value);
          }
        }
      }
      OpenNode(token, depth);
      if (needs_name && IsOperator(info.node)) stack.back().flags |= kNeedsName;
    } else {
      OpenNode(token, 0);
    }
  }
  Settle();
}

void DecodeState::Machine::OpenNode(int32_t token, int depth) {
  const TokenInfo& info = engine->vocab().info(token);
  const NodeKind node = info.node;
  const NodeSpec& spec = Spec(node);
  if (spec.num_children == 0) {
    Completed({node, 0, 0, 0, 0});
    return;
  }
  if (node == NodeKind::kDef) {
    arity = introduced = static_cast<uint8_t>(info.value);
    owed = engine->config().use_all_params ? LowBits(info.value) : 0;
  }
  pending += engine->token_cost(token) - 1;
  const bool every_operator = engine->config().no_constant_subexpressions && IsOperator(node);
  stack.push_back({node, 0, static_cast<uint8_t>(depth), every_operator ? kNeedsName : uint8_t{0},
                   0});
}

// Opens sequence children and closes finished nodes until the top frame awaits a token.
void DecodeState::Machine::Settle() {
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (IsSequenceNode(top.node)) return;
    const NodeSpec& spec = Spec(top.node);
    if (top.next < spec.num_children) {
      const Hole hole = spec.children[top.next];
      if (!IsSequence(hole)) return;
      ++top.next;  // the sequence frame now carries this hole's cost
      PushScope(hole);
      return;
    }
    CloseTop();
  }
}

void DecodeState::Machine::PushScope(Hole hole) {
  Frame frame{SequenceNode(hole), 0, 0, kFallsThrough, 0};
  if (hole == Hole::kBody) {
    frame.bits = LowBits(arity);
  } else {
    const Frame& outer = scope();
    frame.bits = outer.bits;
    frame.depth = outer.depth + 1;
    frame.flags |= outer.flags & kInLoop;
    if (Spec(stack.back().node).flow & kFlowBindsInBody) {
      const uint32_t target = 1u << stack.back().bits;  // the loop variable
      frame.bits |= target;
      if (engine->config().no_unused_locals) owed |= target;
    }
    if (hole == Hole::kLoopBody) frame.flags |= kInLoop;
  }
  stack.push_back(frame);
  scope_index = static_cast<int8_t>(stack.size() - 1);
}

// Pops the top frame and applies what its completion means to the frames below.
void DecodeState::Machine::CloseTop() {
  const Frame done = stack.back();
  stack.pop_back();
  if (IsScopeNode(done.node)) {
    scope_index = -1;
    for (int i = static_cast<int>(stack.size()) - 1; i >= 0; --i) {
      if (IsScopeNode(stack[i].node)) {
        scope_index = static_cast<int8_t>(i);
        break;
      }
    }
    if (!stack.empty() && (Spec(stack.back().node).flow & kFlowJoinsBranches)) {
      Frame& branch = stack.back();
      const bool first_falls = branch.flags & kFallsThrough;
      const bool done_falls = done.flags & kFallsThrough;
      if (branch.next == kFirstBranch + 1) {  // the first branch: remember it for the join
        branch.bits = done.bits;
        branch.flags = done.flags & kFallsThrough;
      } else {  // the else branch: only branches that fall through reach the next statement
        branch.bits = first_falls && !done_falls   ? branch.bits
                      : done_falls && !first_falls ? done.bits
                                                   : branch.bits & done.bits;
        branch.flags = (first_falls || done_falls) ? kFallsThrough : 0;
      }
    }
    return;
  }
  if ((done.flags & kHasName) && !stack.empty() && IsOperator(stack.back().node)) {
    stack.back().flags |= kHasName;  // a name beneath an operand is beneath its operator
  }
  Completed(done);
}

// What a finished node means to the scope it stands in (its row's flow bits).
void DecodeState::Machine::Completed(const Frame& done) {
  const uint8_t flow = Spec(done.node).flow;
  if (flow & kFlowBindsAfter) {
    scope().bits |= 1u << done.bits;
    if (engine->config().no_unused_locals) owed |= 1u << done.bits;
  }
  if (flow & kFlowJoinsBranches) {
    scope().bits = done.bits;
    if (!(done.flags & kFallsThrough)) scope().flags &= ~kFallsThrough;
  }
  if (flow & kFlowEndsPath) scope().flags &= ~kFallsThrough;
}

}  // namespace astcd
