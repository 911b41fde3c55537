#include "core/ast.h"

namespace astcd {

void AstNode::Append(AstNode* child) {
  if (last_child == nullptr) {
    first_child = child;
  } else {
    last_child->next = child;
  }
  last_child = child;
  ++num_children;
}

const AstNode* AstNode::child(int i) const {
  const AstNode* c = first_child;
  while (i-- > 0) c = c->next;
  return c;
}

AstNode* Arena::NewNode(NodeKind kind, int32_t value) {
  if (used_in_block_ == kBlockNodes) {
    blocks_.push_back(std::make_unique<AstNode[]>(kBlockNodes));
    used_in_block_ = 0;
  }
  AstNode* node = &blocks_.back()[used_in_block_++];
  ++used_total_;
  node->kind = kind;
  node->value = value;
  return node;
}

AstNode* Arena::NewHole(Hole hole) {
  AstNode* node = NewNode(NodeKind::kNumKinds, 0);
  node->hole = hole;
  node->is_hole = true;
  return node;
}

}  // namespace astcd
