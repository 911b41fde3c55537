#include "core/engine.h"

#include <algorithm>
#include <climits>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace astcd {
namespace {

constexpr int kInfinity = INT_MAX / 4;

void SetBit(uint32_t* row, int id) { row[id >> 5] |= 1u << (id & 31); }

}  // namespace

ContextShape ShapeOf(MaskContext ctx) {
  switch (ctx) {
    case MaskContext::kFunc: return {Hole::kFunc, NodeKind::kEos, false};
    case MaskContext::kModule: return {Hole::kFunc, NodeKind::kEos, true};
    case MaskContext::kStmt: return {Hole::kStmt, NodeKind::kEnd, true};
    case MaskContext::kExpr: return {Hole::kExpr, NodeKind::kEos, false};
    default: return {Hole::kNone, NodeKind::kEos, false};
  }
}

bool Fills(MaskContext ctx, NodeKind node) {
  const ContextShape shape = ShapeOf(ctx);
  if (shape.item == Hole::kNone) return false;
  return Spec(node).fills == shape.item || (shape.has_terminator && node == shape.terminator);
}

unsigned Needs(MaskContext ctx, NodeKind node) {
  const ContextShape shape = ShapeOf(ctx);
  const bool terminates = shape.has_terminator && node == shape.terminator;
  return Spec(node).conds | (terminates ? kCondSeqItem : 0u);
}

unsigned Engine::Held(MaskContext ctx, unsigned conds) const {
  return conds | (config_.allow_loops ? kCondLoops : 0u) |
         (ShapeOf(ctx).has_terminator ? 0u : kCondSeqRoom);
}

absl::StatusOr<std::shared_ptr<const Engine>> Engine::Create(const DecodeConfig& config) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  return std::shared_ptr<const Engine>(new Engine(config));
}

Engine::Engine(const DecodeConfig& config)
    : config_(config), vocab_(config), words_((vocab_.size() + 31) / 32) {
  std::sort(config_.arities.begin(), config_.arities.end());
  ComputeCosts();
  BuildMasks();
  BuildShapeTables();
}

// Minimum costs by fixpoint over the grammar table, as FIRST sets are computed: a token's
// subtree costs 1 plus its children's holes; a hole costs its cheapest filler; a sequence
// costs one item plus its terminator. The cheapest filler of every hole (a leaf, `pass`,
// the smallest def) needs no scope condition, so these costs hold in every context.
void Engine::ComputeCosts() {
  constexpr int kNumHoles = static_cast<int>(Hole::kLoopBody) + 1;
  hole_cost_.assign(kNumHoles, kInfinity);
  std::vector<int> node_cost(kNumNodeKinds, kInfinity);
  auto subtree = [&](const NodeSpec& spec) {
    int cost = 1;
    for (int i = 0; i < spec.num_children; ++i) {
      cost = std::min(kInfinity, cost + hole_cost_[static_cast<int>(spec.children[i])]);
    }
    return cost;
  };
  for (bool changed = true; changed;) {
    changed = false;
    auto lower = [&changed](int& slot, int value) {
      if (value < slot) {
        slot = value;
        changed = true;
      }
    };
    for (const NodeSpec& spec : kGrammar) {
      if (spec.fills == Hole::kNone) continue;
      lower(node_cost[static_cast<int>(spec.node)], subtree(spec));
      lower(hole_cost_[static_cast<int>(spec.fills)], node_cost[static_cast<int>(spec.node)]);
      if (spec.node == NodeKind::kName) {  // names also fill the target holes
        lower(hole_cost_[static_cast<int>(Hole::kTarget)], 1);
        lower(hole_cost_[static_cast<int>(Hole::kAugTarget)], 1);
      }
    }
    for (Hole seq : {Hole::kBody, Hole::kBlock, Hole::kLoopBody}) {
      lower(hole_cost_[static_cast<int>(seq)], hole_cost_[static_cast<int>(Hole::kStmt)] + 1);
    }
  }
  token_cost_.resize(vocab_.size());
  for (int id = 0; id < vocab_.size(); ++id) {
    const NodeSpec& spec = Spec(vocab_.info(id).node);
    // Terminators were paid for when their sequence opened, so they always fit the budget.
    token_cost_[id] = spec.fills == Hole::kNone ? 0 : node_cost[static_cast<int>(spec.node)];
    max_token_cost_ = std::max(max_token_cost_, token_cost_[id]);
  }
}

void Engine::BuildMasks() {
  const int num_conds = 1 << kNumConds;
  const int num_ctx = static_cast<int>(MaskContext::kCount);
  base_masks_.assign(static_cast<size_t>(num_ctx) * num_conds * words_, 0);
  for (int c = 0; c < num_ctx; ++c) {
    const auto ctx = static_cast<MaskContext>(c);
    for (unsigned conds = 0; conds < static_cast<unsigned>(num_conds); ++conds) {
      uint32_t* row = &base_masks_[(static_cast<size_t>(c) * num_conds + conds) * words_];
      if (ctx == MaskContext::kComplete) SetBit(row, Vocabulary::eos_id());
      if (ctx == MaskContext::kTerminated) SetBit(row, Vocabulary::pad_id());
      const unsigned held = Held(ctx, conds);
      for (int id = 0; id < vocab_.size(); ++id) {
        const NodeKind node = vocab_.info(id).node;
        if (Spec(node).kind == TokenKind::kVariable) continue;  // scope-dependent, OR-ed in later
        if (Fills(ctx, node) && (Needs(ctx, node) & ~held) == 0) SetBit(row, id);
      }
    }
  }
  budget_masks_.assign(static_cast<size_t>(max_token_cost_ + 1) * words_, 0);
  for (int slack = 0; slack <= max_token_cost_; ++slack) {
    for (int id = 0; id < vocab_.size(); ++id) {
      if (token_cost_[id] <= slack) SetBit(&budget_masks_[static_cast<size_t>(slack) * words_], id);
    }
  }
}

void Engine::BuildShapeTables() {
  const DecodeConfig& c = config_;
  plans_ = c.require_return_value || c.use_all_params || c.no_unused_locals;
  shaped_ = plans_ || c.no_dead_code || c.no_constant_tests || c.no_constant_subexpressions ||
            c.no_trivial_self_ops;
  constexpr int kNumKinds = static_cast<int>(TokenKind::kConstant) + 1;
  kind_masks_.assign(static_cast<size_t>(kNumKinds) * words_, 0);
  shape_class_.resize(vocab_.size());
  // The plan reads a token's row only through what it fills, its children's holes and its flow
  // (an operator's self-triviality aside), and a name's or def's value; so those are a class's
  // key, and every constant and the operators of one arity share one.
  absl::flat_hash_map<std::tuple<int, int, int, int>, int16_t> classes;
  for (int id = 0; id < vocab_.size(); ++id) {
    const TokenInfo& info = vocab_.info(id);
    const NodeSpec& spec = Spec(info.node);
    SetBit(&kind_masks_[static_cast<size_t>(spec.kind) * words_], id);
    int children = spec.num_children;
    for (int c = 0; c < spec.num_children; ++c) {
      children = children * 16 + static_cast<int>(spec.children[c]);
    }
    const bool valued = spec.kind == TokenKind::kVariable || spec.kind == TokenKind::kFunction;
    const std::tuple<int, int, int, int> key{static_cast<int>(spec.fills) * 64 +
                                                 static_cast<int>(spec.kind),
                                             children,
                                             spec.kind == TokenKind::kOperator
                                                 ? spec.flow & ~kFlowSelfTrivial
                                                 : spec.flow,
                                             valued ? info.value : -1};
    auto [it, fresh] = classes.emplace(key, static_cast<int16_t>(classes.size()));
    shape_class_[id] = it->second;
  }
  num_shape_classes_ = static_cast<int>(classes.size());
}

int64_t Engine::ApproxBytes() const {
  int64_t bytes = sizeof(Engine) + vocab_.ApproxHeapBytes();
  bytes += static_cast<int64_t>((token_cost_.capacity() + hole_cost_.capacity()) * sizeof(int));
  bytes += static_cast<int64_t>(
      (base_masks_.capacity() + budget_masks_.capacity() + kind_masks_.capacity()) *
      sizeof(uint32_t));
  bytes += static_cast<int64_t>(shape_class_.capacity() * sizeof(int16_t));
  bytes += static_cast<int64_t>(config_.arities.capacity() * sizeof(int));
  return bytes;
}

}  // namespace astcd
