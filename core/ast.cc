#include "core/ast.h"

#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/errors.h"

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
  return nodes_.New(AstNode{.kind = kind, .value = value});
}

AstNode* Arena::NewHole(Hole hole) {
  AstNode* node = NewNode(NodeKind::kNumKinds, 0);
  node->hole = hole;
  node->is_hole = true;
  return node;
}

absl::Status CheckAstDepth(const Ast& ast) {
  if (ast.root == nullptr) return absl::OkStatus();
  // Without recursion: this is what guards the walks that recurse. Inline room for the pending
  // siblings of a decoded program, so that rendering one allocates nothing here.
  absl::InlinedVector<std::pair<const AstNode*, int>, 64> stack = {{ast.root, 0}};
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    if (depth > kMaxNesting) {
      return FieldStatus(absl::StatusCode::kInvalidArgument, "ast",
                         absl::StrCat("nests deeper than ", kMaxNesting, " levels"));
    }
    for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
      stack.emplace_back(c, depth + 1);
    }
  }
  return absl::OkStatus();
}

}  // namespace astcd
