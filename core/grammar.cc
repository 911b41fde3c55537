#include "core/grammar.h"

namespace astcd {

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
