// The codec: tokens -> AST -> Python source (or an S-expression of CPython's AST), and
// AST -> tokens. Every direction walks the grammar table; none lists node kinds.
#ifndef ASTCD_CORE_CODEC_H_
#define ASTCD_CORE_CODEC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/ast.h"
#include "core/decoder.h"
#include "core/engine.h"

namespace astcd {

// Checks the stream with the decoder (grammar, scope, guards) and builds its AST. A trailing
// EOS and PADs after it are accepted. With `partial`, a stream that stops early yields an AST
// whose unfilled holes are placeholders; without it, that is an InvalidArgument error.
// Errors name the token position.
absl::StatusOr<Ast> TokensToAst(const std::shared_ptr<const Engine>& engine, Start start,
                                std::optional<int> arity, absl::Span<const int32_t> tokens,
                                bool partial);

// The AST of the stream a state has accepted, without checking it again. Without `partial`, an
// incomplete state is the InvalidArgument error TokensToAst gives for it.
absl::StatusOr<Ast> StateToAst(const DecodeState& state, bool partial);

// Python source with 4-space indents and only the parentheses the AST needs. Placeholders
// print as <expr>, <stmt>, <name> or <def>. A statement root ends with a newline. An AST that
// CheckAstDepth (core/ast.h) refuses prints as its error in angle brackets, here and in
// AstToSexpr; AstToTokens returns it. With `lines`, each statement's and def's 1-based line in
// the source is recorded there (the AST itself is never written: one AST may be printed or
// compiled from many threads at once).
using AstLines = absl::flat_hash_map<const AstNode*, int32_t>;
std::string AstToSource(const Ast& ast, AstLines* lines = nullptr);

// The AST as CPython would build it, as an S-expression (docs/language.md, "S-expressions"):
// e.g. (BinOp Mult (Name a) (Constant 2)). The CPython oracle test compares these.
std::string AstToSexpr(const Ast& ast);

// The canonical token stream of a complete AST, ending with EOS.
absl::StatusOr<std::vector<int32_t>> AstToTokens(const Vocabulary& vocab, const Ast& ast);

// Detokenize: one token list to source, with an error that names the position of the first
// bad token (an id outside the vocabulary, or a token illegal at that point), or the length
// of the list when it ends too early. With `partial`, an early end renders with holes.
struct DetokenizeResult {
  bool ok = false;
  std::string source;
  std::string error;
  int position = -1;  // index into the token list; -1 when ok
};
DetokenizeResult Detokenize(const std::shared_ptr<const Engine>& engine, Start start,
                            std::optional<int> arity, absl::Span<const int32_t> tokens,
                            bool partial);

// TokensToAst + AstToSource.
absl::StatusOr<std::string> TokensToSource(const std::shared_ptr<const Engine>& engine,
                                           Start start, std::optional<int> arity,
                                           absl::Span<const int32_t> tokens, bool partial);

}  // namespace astcd

#endif  // ASTCD_CORE_CODEC_H_
