// The Python lexer. It follows CPython 3.11's C tokenizer (Parser/tokenizer.c) closely: the
// indentation rules, the number scanner and its error positions, the string-prefix rules and the
// bracket checks are transcriptions of tok_get. Token positions follow the `tokenize` module
// (INDENT at column 0, DEDENT at the first token of the line, NEWLINE where the newline is,
// DEDENTs and END at the start of the line after the last one), with columns in UTF-8 bytes.
//
// Bounded resources: the whole input is checked once up front for NUL bytes and invalid UTF-8
// (8 bytes at a time over ASCII). The lexer then runs over the valid prefix only; reaching the
// end of that prefix reports the bad byte, so the tokens before it are still returned. The
// indentation and bracket stacks are fixed arrays of CPython's limits; the only allocation is the
// token vector, which for inputs of 64 KiB and more is sized exactly by a first counting pass (so
// a 10 MB line of 5M tokens costs 5M * sizeof(PyToken), not the 2-3x of vector growth).
//
// Error columns: 0-based UTF-8 bytes. Where CPython reports a position through tok->cur (the
// number errors), the column is CPython's SyntaxError.offset - 1, i.e. the character before the
// scanner's stopping point, exactly as CPython shows it. Other errors point at the offending
// character or token start; indentation errors point at the first non-blank character of the
// line (CPython reports column 0 or the end of the line there).
#include "core/py_lexer.h"

#include <array>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace astcd {
namespace {

constexpr int kEof = -1;
constexpr int kTabSize = 8;                   // CPython's TABSIZE; ALTTABSIZE is 1
constexpr size_t kCountFirstBytes = 1 << 16;  // inputs this large are counted before lexing

bool IsDigit(int c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(int c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsAsciiLetter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// CPython's is_potential_identifier_start / _char: any non-ASCII byte qualifies.
bool IsPotentialIdentifierStart(int c) { return IsAsciiLetter(c) || c == '_' || c >= 128; }
bool IsPotentialIdentifierChar(int c) { return IsPotentialIdentifierStart(c) || IsDigit(c); }
bool IsNewline(char c) { return c == '\n' || c == '\r'; }
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// Decodes one code point of (already validated) UTF-8.
uint32_t DecodeUtf8(const char* s, int* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  const uint32_t c = p[0];
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c < 0xE0) {
    *len = 2;
    return ((c & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (c < 0xF0) {
    *len = 3;
    return ((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3F);
  }
  *len = 4;
  return ((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3F);
}

enum class CharClass { kIdentifier, kInvalid, kNonPrintable };

// Which non-ASCII characters may appear in identifiers. Not the full XID tables: every character
// is accepted except the blocks below, which hold no identifier characters (checked against
// str.isidentifier over all of Unicode; see the tests). kNonPrintable matches str.isprintable.
CharClass ClassifyNonAscii(uint32_t cp) {
  auto in = [cp](uint32_t lo, uint32_t hi) { return cp >= lo && cp <= hi; };
  if (cp <= 0xA0 || cp == 0xAD || cp == 0x1680 || cp == 0x180E || in(0x2000, 0x200F) ||
      in(0x2028, 0x202F) || in(0x205F, 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
      in(0xFFF9, 0xFFFB) || in(0xE000, 0xF8FF) || in(0xFDD0, 0xFDEF) || (cp & 0xFFFE) == 0xFFFE ||
      in(0xE0000, 0xE007F) || cp >= 0xF0000) {
    return CharClass::kNonPrintable;
  }
  // Latin-1 punctuation and symbols, except ª µ · º.
  if ((in(0xA1, 0xBF) && cp != 0xAA && cp != 0xB5 && cp != 0xB7 && cp != 0xBA) || cp == 0xD7 ||
      cp == 0xF7 ||
      // General punctuation (but the connectors ‿ ⁀ ⁔), currency symbols.
      in(0x2010, 0x2027) || (in(0x2030, 0x205E) && cp != 0x203F && cp != 0x2040 && cp != 0x2054) ||
      in(0x20A0, 0x20CF) ||
      // Arrows, mathematical operators, technical, control pictures, enclosed alphanumerics, box
      // drawing, blocks, shapes, miscellaneous symbols, dingbats, more arrows and math.
      in(0x2190, 0x23FF) || in(0x2400, 0x24FF) || in(0x2500, 0x27BF) || in(0x27C0, 0x2BFF) ||
      // Supplemental punctuation, CJK punctuation.
      in(0x2E00, 0x2E7F) || in(0x3001, 0x3004) || in(0x3008, 0x3020) || cp == 0x3030 ||
      in(0x303D, 0x303F) ||
      // Vertical and small forms (but their low lines), fullwidth ASCII punctuation.
      in(0xFE10, 0xFE19) || in(0xFE30, 0xFE32) || in(0xFE35, 0xFE4C) || in(0xFE50, 0xFE6F) ||
      in(0xFF01, 0xFF0F) || in(0xFF1A, 0xFF20) || (in(0xFF3B, 0xFF40) && cp != 0xFF3F) ||
      in(0xFF5B, 0xFF65) || in(0xFFFC, 0xFFFD) ||
      // Emoji and pictographs.
      in(0x1F000, 0x1FAFF)) {
    return CharClass::kInvalid;
  }
  return CharClass::kIdentifier;
}

// The offset of the first NUL byte or invalid UTF-8 sequence (overlong forms, surrogates, code
// points past U+10FFFF, truncated sequences, stray continuation bytes) at or after `i`, or
// s.size(). `why` gets the error message.
size_t FindBadByte(absl::string_view s, size_t i, std::string* why) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  while (i < n) {
    if (n - i >= 8) {  // 8 ASCII bytes without a NUL
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & kHighs) == 0 && ((w - kOnes) & ~w & kHighs) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned c = p[i];
    if (c < 0x80) {
      if (c == 0) {
        *why = "source code cannot contain null bytes";
        return i;
      }
      ++i;
      continue;
    }
    int len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    }
    const char* reason = nullptr;
    if (len == 0) {
      reason = "invalid start byte";
    } else {
      for (int k = 1; k < len && reason == nullptr; ++k) {
        if (i + k >= n) {
          reason = "unexpected end of data";
        } else if (p[i + k] < (k == 1 ? lo : 0x80u) || p[i + k] > (k == 1 ? hi : 0xBFu)) {
          reason = "invalid continuation byte";
        }
      }
    }
    if (reason != nullptr) {
      *why = absl::StrFormat("invalid UTF-8: can't decode byte 0x%02x (%s)", c, reason);
      return i;
    }
    i += len;
  }
  return n;
}

class Lexer {
 public:
  // Lexes source[begin, limit). When `bad_byte` is set, limit is the offset of a bad byte and
  // reaching it (the end of input, or an error only the end of input causes) reports *bad_byte.
  // With tokens == nullptr the tokens are only counted.
  Lexer(absl::string_view source, size_t begin, size_t limit, const PyLexError* bad_byte,
        bool allow_open_end, std::vector<PyToken>* tokens)
      : s_(source.data()),
        n_(limit),
        pos_(begin),
        line_start_(begin),
        bad_byte_(bad_byte),
        allow_open_end_(allow_open_end),
        tokens_(tokens) {
    indents_[0] = alt_indents_[0] = 0;
  }

  bool Run();  // false on error
  size_t count() const { return count_; }
  const PyLexError& error() const { return error_; }
  bool open_at_end() const { return open_at_end_; }

 private:
  struct Bracket {
    char c;
    int line;
    int column;
  };

  int Col(size_t p) const { return static_cast<int>(p - line_start_); }
  // p is at '\n' or '\r'; returns the offset after the line break ("\r\n" is one).
  size_t NewlineEnd(size_t p) const {
    return s_[p] == '\r' && p + 1 < n_ && s_[p + 1] == '\n' ? p + 2 : p + 1;
  }
  void StartLine(size_t p) {
    ++line_;
    line_start_ = p;
  }
  void Emit(PyTokenKind kind, size_t begin, size_t end, int line, int column,
            PyNumberKind number_kind = PyNumberKind::kInt,
            PyStringKind string_kind = PyStringKind::kStr);
  bool Fail(std::string message, int line, int column);
  // An error that only the end of the input causes: a bad byte there takes precedence.
  bool FailAtEof(std::string message, int line, int column);
  bool InvalidCharacter(size_t p);
  bool Indentation(int64_t col, int64_t altcol);
  bool Finish();
  bool LexNameOrString();
  bool LexString(size_t start, size_t quote, PyStringKind kind);
  bool LexNumber();
  bool LexOperator();

  const char* s_;
  size_t n_;
  size_t pos_;
  size_t line_start_;
  int line_ = 1;
  const PyLexError* bad_byte_;
  bool allow_open_end_;
  std::vector<PyToken>* tokens_;
  size_t count_ = 0;

  std::array<int64_t, kPyMaxIndentDepth> indents_;      // CPython's indstack
  std::array<int64_t, kPyMaxIndentDepth> alt_indents_;  // altindstack: tabs count as 1
  int indent_depth_ = 1;                                // entries in use; [0] is column 0
  std::array<Bracket, kPyMaxBracketDepth> brackets_;
  int depth_ = 0;

  bool line_open_ = false;  // tokens emitted since the last NEWLINE
  PyTokenKind last_kind_ = PyTokenKind::kEnd;
  absl::string_view last_text_;
  bool open_at_end_ = false;
  PyLexError error_;
};

void Lexer::Emit(PyTokenKind kind, size_t begin, size_t end, int line, int column,
                 PyNumberKind number_kind, PyStringKind string_kind) {
  const absl::string_view text(s_ + begin, end - begin);
  if (kind == PyTokenKind::kNewline) {
    line_open_ = false;
  } else if (kind != PyTokenKind::kIndent && kind != PyTokenKind::kDedent &&
             kind != PyTokenKind::kEnd) {
    line_open_ = true;
    last_kind_ = kind;
    last_text_ = text;
  }
  ++count_;
  if (tokens_ != nullptr) {
    tokens_->push_back(PyToken{kind, text, line, column, number_kind, string_kind});
  }
}

bool Lexer::Fail(std::string message, int line, int column) {
  error_.message = std::move(message);
  error_.line = line;
  error_.column = column;
  return false;
}

bool Lexer::FailAtEof(std::string message, int line, int column) {
  if (bad_byte_ != nullptr) {
    error_ = *bad_byte_;
    return false;
  }
  return Fail(std::move(message), line, column);
}

bool Lexer::InvalidCharacter(size_t p) {
  int len = 1;
  const uint32_t cp = DecodeUtf8(s_ + p, &len);
  const bool printable =
      cp < 0x80 ? (cp >= 0x20 && cp < 0x7F) : ClassifyNonAscii(cp) != CharClass::kNonPrintable;
  if (printable) {
    return Fail(
        absl::StrFormat("invalid character '%s' (U+%04X)", absl::string_view(s_ + p, len), cp),
        line_, Col(p));
  }
  return Fail(absl::StrFormat("invalid non-printable character U+%04X", cp), line_, Col(p));
}

// The indentation of a non-blank line outside brackets, measured CPython's two ways.
bool Lexer::Indentation(int64_t col, int64_t altcol) {
  static constexpr char kTabError[] = "inconsistent use of tabs and spaces in indentation";
  const int column = Col(pos_);
  if (col == indents_[indent_depth_ - 1]) {
    if (altcol != alt_indents_[indent_depth_ - 1]) return Fail(kTabError, line_, column);
  } else if (col > indents_[indent_depth_ - 1]) {
    if (indent_depth_ >= kPyMaxIndentDepth) {
      return Fail("too many levels of indentation", line_, column);
    }
    if (altcol <= alt_indents_[indent_depth_ - 1]) return Fail(kTabError, line_, column);
    indents_[indent_depth_] = col;
    alt_indents_[indent_depth_] = altcol;
    ++indent_depth_;
    Emit(PyTokenKind::kIndent, pos_, pos_, line_, 0);
  } else {
    int depth = indent_depth_;
    while (depth > 1 && col < indents_[depth - 1]) --depth;
    if (col != indents_[depth - 1]) {
      return Fail("unindent does not match any outer indentation level", line_, column);
    }
    if (altcol != alt_indents_[depth - 1]) return Fail(kTabError, line_, column);
    for (; indent_depth_ > depth; --indent_depth_) {
      Emit(PyTokenKind::kDedent, pos_, pos_, line_, column);
    }
  }
  return true;
}

// End of input. With allow_open_end, open_at_end is set when the input ends
//   - inside brackets (instead of the error "'(' was never closed"),
//   - right after a backslash continuation (instead of "unexpected EOF while parsing"; set in
//     Run), or
//   - with a last token (ignoring NEWLINEs, blank lines and comments) that is an operator other
//     than ) ] } ... , ; and * (those can end a statement: "f()", "x = ...", "x = 1,",
//     "from m import *"). This covers a block header waiting for its body ("if x:\n"), and
//     "c = a +", "x =", "@", "a.", "f() ->".
// Unterminated strings and every other error stay errors. In every case the tokens are closed by
// NEWLINE (when the last logical line has not been), DEDENTs and END.
bool Lexer::Finish() {
  if (bad_byte_ != nullptr) {
    error_ = *bad_byte_;
    return false;
  }
  if (depth_ > 0) {
    const Bracket& open = brackets_[depth_ - 1];
    if (!allow_open_end_) {
      return Fail(absl::StrFormat("'%c' was never closed", open.c), open.line, open.column);
    }
    open_at_end_ = true;
  }
  if (allow_open_end_ && last_kind_ == PyTokenKind::kOp && last_text_ != ")" && last_text_ != "]" &&
      last_text_ != "}" && last_text_ != "..." && last_text_ != "," && last_text_ != ";" &&
      last_text_ != "*") {
    open_at_end_ = true;
  }
  if (line_open_) Emit(PyTokenKind::kNewline, pos_, pos_, line_, Col(pos_));
  const int end_line = pos_ > line_start_ ? line_ + 1 : line_;
  for (; indent_depth_ > 1; --indent_depth_) Emit(PyTokenKind::kDedent, pos_, pos_, end_line, 0);
  Emit(PyTokenKind::kEnd, pos_, pos_, end_line, 0);
  return true;
}

bool Lexer::Run() {
  bool blank = false;  // the current physical line holds only blanks and a comment
  bool at_line_start = true;
  for (;;) {
    if (at_line_start) {
      at_line_start = false;
      int64_t col = 0, altcol = 0;
      for (; pos_ < n_; ++pos_) {
        const char c = s_[pos_];
        if (c == ' ') {
          ++col, ++altcol;
        } else if (c == '\t') {
          col = (col / kTabSize + 1) * kTabSize;
          ++altcol;
        } else if (c == '\f') {  // form feed resets the column, as in CPython
          col = altcol = 0;
        } else {
          break;
        }
      }
      if (pos_ >= n_) return Finish();
      blank = s_[pos_] == '#' || IsNewline(s_[pos_]);
      if (!blank && depth_ == 0 && !Indentation(col, altcol)) return false;
    }
    while (pos_ < n_ && IsBlank(s_[pos_])) ++pos_;
    if (pos_ >= n_) return Finish();
    const unsigned char c = s_[pos_];
    if (c == '#') {
      const void* end = std::memchr(s_ + pos_, '\n', n_ - pos_);
      const size_t limit = end ? static_cast<const char*>(end) - s_ : n_;
      while (pos_ < limit && s_[pos_] != '\r') ++pos_;
      continue;
    }
    if (IsNewline(c)) {
      if (!blank && depth_ == 0) Emit(PyTokenKind::kNewline, pos_, pos_, line_, Col(pos_));
      pos_ = NewlineEnd(pos_);
      StartLine(pos_);
      at_line_start = true;
      continue;
    }
    if (c == '\\') {  // line continuation
      const int line = line_, column = Col(pos_) + 1;
      size_t p = pos_ + 1;
      if (p < n_ && !IsNewline(s_[p])) {
        return Fail("unexpected character after line continuation character", line_, Col(p));
      }
      if (p < n_) {
        p = NewlineEnd(p);
        StartLine(p);
      }
      pos_ = p;
      if (pos_ >= n_) {  // inside brackets, Finish reports the open bracket, as CPython does
        if (depth_ == 0 && !allow_open_end_) {
          return FailAtEof("unexpected EOF while parsing", line, column);
        }
        open_at_end_ = allow_open_end_;
        return Finish();
      }
      continue;
    }
    bool ok;
    if (IsPotentialIdentifierStart(c)) {
      ok = LexNameOrString();
    } else if (IsDigit(c) || (c == '.' && pos_ + 1 < n_ && IsDigit(s_[pos_ + 1]))) {
      ok = LexNumber();
    } else if (c == '\'' || c == '"') {
      ok = LexString(pos_, pos_, PyStringKind::kStr);
    } else {
      ok = LexOperator();
    }
    if (!ok) return false;
  }
}

bool Lexer::LexNameOrString() {
  const size_t start = pos_;
  // CPython's prefix rules: b, r, u, f in any case; u only alone; no "ur"; no "bf"/"fb".
  bool saw_b = false, saw_r = false, saw_u = false, saw_f = false;
  for (size_t p = start; p < n_;) {
    const char c = s_[p];
    if (!(saw_b || saw_u || saw_f) && (c == 'b' || c == 'B')) {
      saw_b = true;
    } else if (!(saw_b || saw_u || saw_r || saw_f) && (c == 'u' || c == 'U')) {
      saw_u = true;
    } else if (!(saw_r || saw_u) && (c == 'r' || c == 'R')) {
      saw_r = true;
    } else if (!(saw_f || saw_b || saw_u) && (c == 'f' || c == 'F')) {
      saw_f = true;
    } else {
      break;
    }
    ++p;
    if (p < n_ && (s_[p] == '\'' || s_[p] == '"')) {
      return LexString(start, p,
                       saw_b   ? PyStringKind::kBytes
                       : saw_f ? PyStringKind::kFString
                               : PyStringKind::kStr);
    }
  }
  size_t p = start;
  while (p < n_) {
    const unsigned char c = s_[p];
    if (c < 0x80) {
      if (!IsPotentialIdentifierChar(c)) break;
      ++p;
      continue;
    }
    int len = 1;
    if (ClassifyNonAscii(DecodeUtf8(s_ + p, &len)) != CharClass::kIdentifier) {
      return InvalidCharacter(p);
    }
    p += len;
  }
  Emit(PyTokenKind::kName, start, p, line_, Col(start));
  pos_ = p;
  return true;
}

// A string literal from `start` (its prefix) whose opening quote is at `quote`. A backslash
// skips the next character in every kind of string (raw ones too: r'\'' is one literal), which
// is all 3.11 needs to find the end of f-strings as well.
bool Lexer::LexString(size_t start, size_t quote, PyStringKind kind) {
  const int line = line_, column = Col(start);
  const char q = s_[quote];
  size_t p = quote + 1;
  bool triple = false;
  if (p + 1 < n_ && s_[p] == q && s_[p + 1] == q) {
    triple = true;
    p += 2;
  }
  for (;;) {
    // Skip ordinary characters.
    while (p < n_ && s_[p] != q && s_[p] != '\\' && !IsNewline(s_[p])) ++p;
    if (p >= n_) {
      // CPython counts the final line break as part of the last line.
      const int detected = p == line_start_ && line_ > line ? line_ - 1 : line_;
      return FailAtEof(absl::StrCat(triple ? "unterminated triple-quoted string literal"
                                           : "unterminated string literal",
                                    " (detected at line ", detected, ")"),
                       line, column);
    }
    const char c = s_[p];
    if (c == q) {
      if (!triple) {
        ++p;
        break;
      }
      if (p + 2 < n_ && s_[p + 1] == q && s_[p + 2] == q) {
        p += 3;
        break;
      }
      ++p;
    } else if (c == '\\') {
      ++p;
      if (p < n_) {
        if (IsNewline(s_[p])) {
          p = NewlineEnd(p);
          StartLine(p);
        } else {
          ++p;
        }
      }
    } else {  // a line break
      if (!triple) {
        return Fail(absl::StrCat("unterminated string literal (detected at line ", line_, ")"),
                    line, column);
      }
      p = NewlineEnd(p);
      StartLine(p);
    }
  }
  Emit(PyTokenKind::kString, start, p, line, column, PyNumberKind::kInt, kind);
  pos_ = p;
  return true;
}

// A number from pos_ (a digit, or '.' before a digit): CPython's scanner, with its cursor `cur`
// (tok->cur), tok_nextc as next() and tok_backup as backup().
bool Lexer::LexNumber() {
  const size_t start = pos_;
  size_t cur = pos_;
  auto next = [&]() -> int { return cur < n_ ? static_cast<unsigned char>(s_[cur++]) : kEof; };
  auto backup = [&](int c) {
    if (c != kEof) --cur;
  };
  // CPython's syntaxerror(): SyntaxError.offset is the length of the line up to tok->cur.
  auto error = [&](std::string message) { return Fail(std::move(message), line_, Col(cur) - 1); };
  auto lookahead = [&](const char* test) {
    const size_t saved = cur;
    bool result = false;
    for (;;) {
      const int c = next();
      if (*test == 0) {
        result = !IsPotentialIdentifierChar(c);
        break;
      }
      if (c != *test) break;
      ++test;
    }
    cur = saved;
    return result;
  };
  // verify_end_of_number: a number may be followed directly by and/else/for/if/in/is/not/or
  // (CPython 3.11 only warns), but not by other identifier characters.
  auto verify_end = [&](int c, const char* kind) {
    bool keyword = false;
    if (c == 'a') {
      keyword = lookahead("nd");
    } else if (c == 'e') {
      keyword = lookahead("lse");
    } else if (c == 'f') {
      keyword = lookahead("or");
    } else if (c == 'i') {
      const int c2 = next();
      keyword = c2 == 'f' || c2 == 'n' || c2 == 's';
      backup(c2);
    } else if (c == 'o') {
      keyword = lookahead("r");
    } else if (c == 'n') {
      keyword = lookahead("ot");
    }
    if (!keyword && IsPotentialIdentifierChar(c)) {
      backup(c);
      return error(absl::StrCat("invalid ", kind, " literal"));
    }
    return true;
  };
  auto decimal_tail = [&](int* out) {
    int c;
    for (;;) {
      do {
        c = next();
      } while (IsDigit(c));
      if (c != '_') break;
      c = next();
      if (!IsDigit(c)) {
        backup(c);
        return error("invalid decimal literal");
      }
    }
    *out = c;
    return true;
  };
  // Hexadecimal, octal and binary: digits with single underscores between and after the prefix.
  auto radix_digits = [&](int c, int radix, const char* kind) {
    auto is_radix_digit = [radix](int d) {
      return radix == 16 ? IsHexDigit(d) : d >= '0' && d < '0' + radix;
    };
    do {
      if (c == '_') c = next();
      if (!is_radix_digit(c)) {
        if (radix != 16 && IsDigit(c)) {
          return error(absl::StrFormat("invalid digit '%c' in %s literal", c, kind));
        }
        backup(c);
        return error(absl::StrCat("invalid ", kind, " literal"));
      }
      do {
        c = next();
      } while (is_radix_digit(c));
    } while (c == '_');
    if (radix != 16 && IsDigit(c)) {
      return error(absl::StrFormat("invalid digit '%c' in %s literal", c, kind));
    }
    if (!verify_end(c, kind)) return false;
    backup(c);
    return true;
  };
  auto emit = [&](PyNumberKind kind) {
    Emit(PyTokenKind::kNumber, start, cur, line_, Col(start), kind);
    pos_ = cur;
    return true;
  };

  enum class Next { kFraction, kAfterFraction, kExponent, kImaginary, kDone };
  Next state = Next::kAfterFraction;
  bool is_float = false;
  int c = next();
  if (c == '.') {
    c = next();
    state = Next::kFraction;
  } else if (c == '0') {
    c = next();
    if (c == 'x' || c == 'X') {
      return radix_digits(next(), 16, "hexadecimal") && emit(PyNumberKind::kInt);
    }
    if (c == 'o' || c == 'O') {
      return radix_digits(next(), 8, "octal") && emit(PyNumberKind::kInt);
    }
    if (c == 'b' || c == 'B') {
      return radix_digits(next(), 2, "binary") && emit(PyNumberKind::kInt);
    }
    // Zeros, maybe an old-style octal (an error unless it turns out to be a float).
    bool nonzero = false;
    for (;;) {
      if (c == '_') {
        c = next();
        if (!IsDigit(c)) {
          backup(c);
          return error("invalid decimal literal");
        }
      }
      if (c != '0') break;
      c = next();
    }
    if (IsDigit(c)) {
      nonzero = true;
      if (!decimal_tail(&c)) return false;
    }
    if (c == '.') {
      c = next();
      state = Next::kFraction;
    } else if (c == 'e' || c == 'E') {
      state = Next::kExponent;
    } else if (c == 'j' || c == 'J') {
      state = Next::kImaginary;
    } else if (nonzero) {
      return Fail(
          "leading zeros in decimal integer literals are not permitted; use an 0o prefix for "
          "octal integers",
          line_, Col(start));
    } else {
      if (!verify_end(c, "decimal")) return false;
      state = Next::kDone;
    }
  } else {
    if (!decimal_tail(&c)) return false;
    if (c == '.') {
      c = next();
      state = Next::kFraction;
    }
  }

  if (state == Next::kFraction) {  // c follows the '.'
    is_float = true;
    if (IsDigit(c) && !decimal_tail(&c)) return false;
    state = Next::kAfterFraction;
  }
  if (state == Next::kAfterFraction && (c == 'e' || c == 'E')) state = Next::kExponent;
  if (state == Next::kExponent) {  // c is the 'e'
    const int e = c;
    c = next();
    if (c == '+' || c == '-') {
      c = next();
      if (!IsDigit(c)) {
        backup(c);
        return error("invalid decimal literal");
      }
    } else if (!IsDigit(c)) {  // "1else": the number ends before the 'e'
      backup(c);
      if (!verify_end(e, "decimal")) return false;
      backup(e);
      return emit(is_float ? PyNumberKind::kFloat : PyNumberKind::kInt);
    }
    is_float = true;
    if (!decimal_tail(&c)) return false;
    state = Next::kAfterFraction;
  }
  if (state == Next::kAfterFraction) {
    if (c == 'j' || c == 'J') {
      state = Next::kImaginary;
    } else {
      if (!verify_end(c, "decimal")) return false;
    }
  }
  PyNumberKind kind = is_float ? PyNumberKind::kFloat : PyNumberKind::kInt;
  if (state == Next::kImaginary) {  // c is the 'j'
    kind = PyNumberKind::kImaginary;
    c = next();
    if (!verify_end(c, "imaginary")) return false;
  }
  backup(c);
  return emit(kind);
}

bool Lexer::LexOperator() {
  const char c0 = s_[pos_];
  const char c1 = pos_ + 1 < n_ ? s_[pos_ + 1] : 0;
  const char c2 = pos_ + 2 < n_ ? s_[pos_ + 2] : 0;
  size_t len = 0;
  switch (c0) {
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case ',':
    case ';':
    case '~':
      len = 1;
      break;
    case '.':
      len = c1 == '.' && c2 == '.' ? 3 : 1;
      break;
    case '!':
      len = c1 == '=' ? 2 : 0;
      break;
    case ':':
    case '=':
    case '+':
    case '%':
    case '&':
    case '|':
    case '^':
    case '@':
      len = c1 == '=' ? 2 : 1;
      break;
    case '-':
      len = c1 == '=' || c1 == '>' ? 2 : 1;
      break;
    case '*':
    case '/':
    case '<':
    case '>':  // ** **= *= // //= /= << <<= <= >> >>= >=
      len = c1 == c0 ? (c2 == '=' ? 3 : 2) : c1 == '=' ? 2 : 1;
      break;
    default:
      break;
  }
  if (len == 0) return InvalidCharacter(pos_);
  const int column = Col(pos_);
  if (c0 == '(' || c0 == '[' || c0 == '{') {
    if (depth_ >= kPyMaxBracketDepth) return Fail("too many nested parentheses", line_, column);
    brackets_[depth_++] = Bracket{c0, line_, column};
  } else if (c0 == ')' || c0 == ']' || c0 == '}') {
    if (depth_ == 0) return Fail(absl::StrFormat("unmatched '%c'", c0), line_, column);
    const Bracket& open = brackets_[depth_ - 1];
    if (!((open.c == '(' && c0 == ')') || (open.c == '[' && c0 == ']') ||
          (open.c == '{' && c0 == '}'))) {
      if (open.line != line_) {
        return Fail(
            absl::StrFormat(
                "closing parenthesis '%c' does not match opening parenthesis '%c' on line %d", c0,
                open.c, open.line),
            line_, column);
      }
      return Fail(
          absl::StrFormat("closing parenthesis '%c' does not match opening parenthesis '%c'", c0,
                          open.c),
          line_, column);
    }
    --depth_;
  }
  Emit(PyTokenKind::kOp, pos_, pos_ + len, line_, column);
  pos_ += len;
  return true;
}

}  // namespace

PyLexResult LexPython(absl::string_view source, bool allow_open_end) {
  PyLexResult result;
  if (source.size() >= static_cast<size_t>(INT_MAX)) {  // lines and columns are ints
    result.ok = false;
    result.error = {"source is too large (2 GiB or more)", 1, 0};
    return result;
  }
  const size_t begin = source.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;  // a UTF-8 BOM
  std::string why;
  const size_t bad = FindBadByte(source, begin, &why);
  PyLexError bad_byte;
  if (bad < source.size()) {
    bad_byte.message = std::move(why);
    bad_byte.line = 1;
    size_t line_start = begin;
    for (size_t i = begin; i < bad; ++i) {
      if (source[i] == '\n' || (source[i] == '\r' && (i + 1 >= bad || source[i + 1] != '\n'))) {
        ++bad_byte.line;
        line_start = i + 1;
      }
    }
    bad_byte.column = static_cast<int>(bad - line_start);
  }
  const PyLexError* bad_ptr = bad < source.size() ? &bad_byte : nullptr;
  if (source.size() >= kCountFirstBytes) {
    Lexer counter(source, begin, bad, bad_ptr, allow_open_end, nullptr);
    counter.Run();
    result.tokens.reserve(counter.count());
  } else {
    // Code has a token per 2.5 (sampled programs) to 6 bytes (the stdlib, with its comments):
    // at most one growth instead of the vector's doublings from 1 (1.4% of Tokenize).
    result.tokens.reserve(source.size() / 4 + 8);
  }
  Lexer lexer(source, begin, bad, bad_ptr, allow_open_end, &result.tokens);
  result.ok = lexer.Run();
  if (!result.ok) result.error = lexer.error();
  result.open_at_end = lexer.open_at_end();
  return result;
}

bool PyIntValue(absl::string_view text, int64_t* value) {
  int base = 10;
  size_t i = 0;
  if (text.size() >= 2 && text[0] == '0') {
    const char p = text[1];
    if (p == 'x' || p == 'X') base = 16;
    if (p == 'o' || p == 'O') base = 8;
    if (p == 'b' || p == 'B') base = 2;
    if (base != 10) i = 2;
  }
  uint64_t v = 0;
  bool any = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '_') continue;
    int d;
    if (IsDigit(c)) {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    if (v > (static_cast<uint64_t>(INT64_MAX) - d) / base) return false;  // overflow
    v = v * base + d;
    any = true;
  }
  if (!any) return false;
  *value = static_cast<int64_t>(v);
  return true;
}

}  // namespace astcd
