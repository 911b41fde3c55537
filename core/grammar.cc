#include "core/grammar.h"

namespace astcd {

absl::string_view TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kPseudo: return "pseudo";
    case TokenKind::kSpecial: return "special";
    case TokenKind::kFunction: return "function";
    case TokenKind::kStatement: return "statement";
    case TokenKind::kBlockEnd: return "block_end";
    case TokenKind::kOperator: return "operator";
    case TokenKind::kVariable: return "variable";
    case TokenKind::kConstant: return "constant";
  }
  return "?";
}

absl::string_view HoleName(Hole hole) {
  switch (hole) {
    case Hole::kNone: return "<none>";
    case Hole::kFunc: return "<def>";
    case Hole::kStmt: case Hole::kBody: case Hole::kBlock: case Hole::kLoopBody: return "<stmt>";
    case Hole::kExpr: return "<expr>";
    case Hole::kTarget: case Hole::kAugTarget: return "<name>";
  }
  return "<?>";
}

}  // namespace astcd
