// Tokenize: real Python source -> AST-CD tokens and a resumable decoder state.
//
// Three stages: the lexer and parser (core/py_lexer.h, core/py_ast.h) read any Python 3 source
// and name every construct; the normalizer maps what the language supports onto canonical names
// and tokens; the decoder then accepts the tokens one by one, which checks scope and every limit
// with the same rules decoding uses. The first failure is reported with its stage.
#ifndef ASTCD_CORE_TOKENIZE_H_
#define ASTCD_CORE_TOKENIZE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/decoder.h"

namespace astcd {

// python_parse: not valid Python (CPython would raise SyntaxError); unsupported_syntax: valid
// Python outside the language, node_type names the construct; name_normalization: names the
// language cannot express (e.g. binding `min`); scope: a read of a name that may be unbound, a
// global, or a builtin; limits: outside this config, but a bigger config admits it
// (constants, depth, ...); vocab_encode: the decoder refused a token for no reason above (a bug
// if ever seen).
#define ASTCD_TOKENIZE_STAGE(X)               \
  X(kPythonParse, "python_parse")             \
  X(kUnsupportedSyntax, "unsupported_syntax") \
  X(kNameNormalization, "name_normalization") \
  X(kScope, "scope")                          \
  X(kLimits, "limits")                        \
  X(kVocabEncode, "vocab_encode")
ASTCD_WIRE_ENUM(TokenizeStage, "stage", ASTCD_TOKENIZE_STAGE)
inline absl::string_view TokenizeStageName(TokenizeStage stage) { return EnumName(stage); }

struct TokenizeError {
  TokenizeStage stage;
  std::string message;
  int line = 0;    // 1-based
  int column = 0;  // 0-based, UTF-8 bytes (CPython's col_offset)
  std::string node_type;  // CPython class, e.g. "Call", "Constant[str]", "BinOp[Div]"
};

struct TokenizeOptions {
  Start start = Start::kModule;
  bool partial = false;       // the source may end inside a construct; open blocks stay open
  std::optional<int> arity;   // BLOCK and EXPR: the parameters a, b, ... in scope
  int max_len = 0;            // the state's budget; 0 means kMaxLenLimit
  // Larger sources are refused (stage limits) before any parsing, so that memory stays bounded
  // on hostile input: parse trees take a few hundred bytes per syntax node.
  int64_t max_source_bytes = int64_t{1} << 20;
};

struct TokenizeResult {
  bool ok = false;
  std::vector<int32_t> tokens;         // on failure: the longest valid prefix
  Start start = Start::kModule;
  std::optional<DecodeState> state;    // when ok: decoding continues from here
  bool complete = false;
  std::string normalized_source;       // when ok
  std::optional<TokenizeError> error;  // when !ok
};

// A complete (non-partial) source gets a final EOS, so its state is terminated.
TokenizeResult Tokenize(const std::shared_ptr<const Engine>& engine, absl::string_view source,
                        const TokenizeOptions& options);

// For corpus audits: every top-level function of a file, each tokenized on its own as a
// FUNCTION. A file that does not parse yields one python_parse result with an empty name.
struct FunctionTokenizeResult {
  std::string name;  // the function's name in the file
  int line = 0;
  TokenizeResult result;
};
std::vector<FunctionTokenizeResult> TokenizeFunctions(
    const std::shared_ptr<const Engine>& engine, absl::string_view source,
    int64_t max_source_bytes = int64_t{1} << 20);

}  // namespace astcd

#endif  // ASTCD_CORE_TOKENIZE_H_
