// Engine: a validated config compiled into the tables the decoder reads at every step.
#ifndef ASTCD_CORE_ENGINE_H_
#define ASTCD_CORE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/grammar.h"
#include "core/vocabulary.h"

namespace astcd {

// Which table row the current hole reads its mask from.
enum class MaskContext : uint8_t {
  kFunc, kModule, kStmt, kExpr, kTarget, kAugTarget, kComplete, kTerminated, kCount
};

// The hole a context's tokens fill, and the token that closes it (if a sequence).
struct ContextShape {
  Hole item;
  NodeKind terminator;
  bool has_terminator;
};
ContextShape ShapeOf(MaskContext ctx);
// Whether a token of `node` fills the context's hole (or closes its sequence) at all.
bool Fills(MaskContext ctx, NodeKind node);
// The conditions a token of `node` needs in `ctx`: its row's, and for a terminator an item
// (a sequence is never empty).
unsigned Needs(MaskContext ctx, NodeKind node);

class Engine {
 public:
  // Validates the config (InvalidArgument naming the field) and builds the tables.
  static absl::StatusOr<std::shared_ptr<const Engine>> Create(const DecodeConfig& config);

  const DecodeConfig& config() const { return config_; }
  const Vocabulary& vocab() const { return vocab_; }
  int words() const { return words_; }  // 32-bit words per mask row: ceil(vocab size / 32)

  // Fewest tokens that complete a subtree opened by `token` (the token itself included).
  int token_cost(int token) const { return token_cost_[token]; }
  // Fewest tokens that fill `hole`.
  int hole_cost(Hole hole) const { return hole_cost_[static_cast<int>(hole)]; }

  // FIRST set of the context's hole, filtered by the conditions that hold (Cond bits),
  // without variable tokens (those depend on scope and are OR-ed in by the decoder).
  const uint32_t* base_mask(MaskContext ctx, unsigned conds) const {
    return &base_masks_[(static_cast<size_t>(ctx) * (1u << kNumConds) + conds) * words_];
  }
  // The conditions that hold in `ctx` given a state's varying ones: the engine's fixed ones, and
  // room in a single hole.
  unsigned Held(MaskContext ctx, unsigned conds) const;
  // Bytes this engine holds: itself, its vocabulary and its tables (what pinning a distinct
  // config's engine costs).
  int64_t ApproxBytes() const;

  // Shape controls (docs/language.md, section 4.1). shaped(): any is on; plans(): one that
  // owes tokens to the completion (require_return_value, use_all_params, no_unused_locals).
  bool shaped() const { return shaped_; }
  bool plans() const { return plans_; }
  // Tokens that do the same to a state's completion plan share a class (every constant; the
  // operators of one arity), so the budget check runs the plan once per class.
  int shape_class(int token) const { return shape_class_[token]; }
  // A name that fills an expression without settling a debt acts on the plan as a constant.
  int constant_shape_class() const { return shape_class_[vocab_.const_base()]; }
  int num_shape_classes() const { return num_shape_classes_; }
  // The tokens of one kind (operators, constants), for the controls that refuse them all.
  const uint32_t* kind_mask(TokenKind kind) const {
    return &kind_masks_[static_cast<size_t>(kind) * words_];
  }

  // Sets the variable tokens named by `var_bits` (bit v: variable v) in a mask row.
  void OrNames(uint32_t var_bits, uint32_t* row) const {
    if (var_bits == 0) return;
    const int base_id = vocab_.name_base();
    const uint64_t shifted = static_cast<uint64_t>(var_bits) << (base_id & 31);
    row[base_id >> 5] |= static_cast<uint32_t>(shifted);
    if ((shifted >> 32) != 0) row[(base_id >> 5) + 1] |= static_cast<uint32_t>(shifted >> 32);
  }

  // Tokens whose subtree fits in `slack` tokens.
  const uint32_t* budget_mask(int slack) const {
    const int row = slack < max_token_cost_ ? slack : max_token_cost_;
    return &budget_masks_[static_cast<size_t>(row) * words_];
  }

 private:
  explicit Engine(const DecodeConfig& config);
  void ComputeCosts();
  void BuildMasks();
  void BuildShapeTables();

  DecodeConfig config_;
  Vocabulary vocab_;
  int words_;
  std::vector<int> token_cost_;
  std::vector<int> hole_cost_;
  int max_token_cost_ = 0;
  std::vector<uint32_t> base_masks_;
  std::vector<uint32_t> budget_masks_;
  bool shaped_ = false, plans_ = false;
  std::vector<int16_t> shape_class_;
  int num_shape_classes_ = 0;
  std::vector<uint32_t> kind_masks_;
};

}  // namespace astcd

#endif  // ASTCD_CORE_ENGINE_H_
