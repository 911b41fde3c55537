// A lexer for real Python 3 source (as of 3.11): the first stage of Tokenize.
//
// It produces the token stream CPython's tokenizer would (NAME, NUMBER, STRING, OP, NEWLINE,
// INDENT, DEDENT, ENDMARKER), without comments, non-logical newlines or line continuations.
// It never crashes and uses memory linear in the input on hostile text: invalid UTF-8, NUL
// bytes, inconsistent tabs, deep bracket nesting and very long lines all yield an error with a
// position.
#ifndef ASTCD_CORE_PY_LEXER_H_
#define ASTCD_CORE_PY_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace astcd {

enum class PyTokenKind : uint8_t {
  kName,     // identifiers and keywords (the parser tells them apart)
  kNumber,   // see PyNumberKind
  kString,   // one string literal; adjacent literals are separate tokens
  kOp,       // operators and delimiters: ( ) [ ] { } , : . ; @ = -> += ... ** // := etc.
  kNewline,  // end of a logical line
  kIndent,
  kDedent,
  kEnd,      // ENDMARKER: always the last token
};

enum class PyNumberKind : uint8_t { kInt, kFloat, kImaginary };
enum class PyStringKind : uint8_t { kStr, kBytes, kFString };

struct PyToken {
  PyTokenKind kind;
  absl::string_view text;  // a view into the source (empty for INDENT/DEDENT/NEWLINE/END)
  int line;                // 1-based
  int column;              // 0-based, in UTF-8 bytes, as CPython's col_offset
  PyNumberKind number_kind = PyNumberKind::kInt;  // kNumber only
  PyStringKind string_kind = PyStringKind::kStr;  // kString only
};

struct PyLexError {
  std::string message;  // e.g. "unterminated string literal", "inconsistent use of tabs"
  int line = 0;         // 1-based
  int column = 0;       // 0-based, UTF-8 bytes
};

struct PyLexResult {
  std::vector<PyToken> tokens;  // on error: the tokens before the error (no kEnd)
  bool ok = true;
  PyLexError error;
  // With allow_open_end: the source ended inside brackets or right after a line ending in
  // ':' or a continuation; the tokens are still returned, closed by NEWLINE/DEDENTs and END.
  // (Exactly: unclosed brackets, a final backslash continuation, or a last token that is an
  // operator other than ) ] } ... , ; * -- see Lexer::Finish in py_lexer.cc.)
  bool open_at_end = false;
};

// Limits that keep hostile input bounded.
inline constexpr int kPyMaxBracketDepth = 200;  // CPython's own limit
inline constexpr int kPyMaxIndentDepth = 100;   // CPython's own limit

// `allow_open_end` is for partial prompts ("def func(a, b):\n    c = a +"): an unclosed bracket
// at the end of input is then not an error (it is reported through open_at_end).
PyLexResult LexPython(absl::string_view source, bool allow_open_end = false);

// Parses the text of an integer literal (any base, with underscores). Returns false when the
// value does not fit in int64 (it is still a valid literal).
// Also returns false for text that is not an integer literal; *value is set only on true.
bool PyIntValue(absl::string_view text, int64_t* value);

}  // namespace astcd

#endif  // ASTCD_CORE_PY_LEXER_H_
