// Private to core/: building an AST from a stream the decoder has already accepted.
#ifndef ASTCD_CORE_CODEC_IMPL_H_
#define ASTCD_CORE_CODEC_IMPL_H_

#include "absl/types/span.h"
#include "core/ast.h"
#include "core/vocabulary.h"

namespace astcd::internal {

// Precondition: a DecodeState with this start and arity accepted `tokens`. Unfilled holes
// become placeholders.
Ast BuildAst(const Vocabulary& vocab, Start start, int arity, bool complete,
             absl::Span<const int32_t> tokens);

}  // namespace astcd::internal

#endif  // ASTCD_CORE_CODEC_IMPL_H_
