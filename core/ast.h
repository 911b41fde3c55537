// The AST of an AST-CD program, allocated from an arena as CPython's compiler does.
#ifndef ASTCD_CORE_AST_H_
#define ASTCD_CORE_AST_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"

#include "core/block_arena.h"
#include "core/config.h"
#include "core/grammar.h"

namespace astcd {

// A node is a grammar kind with its children in preorder. A placeholder (is_hole) stands for a
// hole not yet filled in a partial program.
struct AstNode {
  NodeKind kind;
  Hole hole = Hole::kNone;  // the unfilled hole, when is_hole
  bool is_hole = false;
  int32_t value = 0;        // def: arity; Name: variable; Constant: the integer
  int num_children = 0;
  AstNode* first_child = nullptr;
  AstNode* last_child = nullptr;
  AstNode* next = nullptr;

  void Append(AstNode* child);
  // The i-th child; i < num_children.
  const AstNode* child(int i) const;
};

// A bump allocator: nodes are freed all at once with the arena.
class Arena {
 public:
  AstNode* NewNode(NodeKind kind, int32_t value);
  AstNode* NewHole(Hole hole);
  size_t num_nodes() const { return nodes_.size(); }

 private:
  // AstNode is trivially destructible: the blocks are freed without destroying the nodes.
  static_assert(std::is_trivially_destructible_v<AstNode>);
  BlockArena<AstNode, 256> nodes_;
};

struct Ast {
  Start start = Start::kModule;
  int arity = -1;  // BLOCK/EXPR roots: parameters in scope
  bool complete = false;
  std::unique_ptr<Arena> arena = std::make_unique<Arena>();
  AstNode* root = nullptr;  // kModule, kDef, kBody or an expression
};

// InvalidArgument (field "ast") when a node lies deeper than kMaxNesting below the root. The
// printer, the encoder and the interpreter's compiler recurse over an AST: an AST built from
// tokens is as shallow as its config's depths, but one built by hand is checked first.
absl::Status CheckAstDepth(const Ast& ast);

}  // namespace astcd

#endif  // ASTCD_CORE_AST_H_
