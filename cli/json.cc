#include "cli/json.h"

#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace astcd::json {

// ---------------------------------------------------------------------------------------------
// Value

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.int_ = i;
  return v;
}

Value Value::Double(double d) {
  Value v;
  v.type_ = Type::kDouble;
  v.double_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}

Value Value::MakeArray(Array elements) {
  Value v;
  v.type_ = Type::kArray;
  v.array_ = std::move(elements);
  return v;
}

Value Value::MakeObject(Object members) {
  Value v;
  v.type_ = Type::kObject;
  v.object_ = std::move(members);
  return v;
}

double Value::as_double() const {
  if (is_double()) return double_;
  if (is_int()) return static_cast<double>(int_);
  return 0.0;
}

const Value* Value::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : object_) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case Value::Type::kNull:
      return true;
    case Value::Type::kBool:
      return a.bool_ == b.bool_;
    case Value::Type::kInt:
      return a.int_ == b.int_;
    case Value::Type::kDouble:
      return a.double_ == b.double_;
    case Value::Type::kString:
      return a.string_ == b.string_;
    case Value::Type::kArray:
      return a.array_ == b.array_;
    case Value::Type::kObject:
      return a.object_ == b.object_;
  }
  return false;
}

std::string_view TypeName(Value::Type type) {
  switch (type) {
    case Value::Type::kNull:
      return "null";
    case Value::Type::kBool:
      return "bool";
    case Value::Type::kInt:
      return "int";
    case Value::Type::kDouble:
      return "double";
    case Value::Type::kString:
      return "string";
    case Value::Type::kArray:
      return "array";
    case Value::Type::kObject:
      return "object";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Parser

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the UTF-8 encoding of a Unicode scalar value (not a surrogate, <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Returns the length (2-4) of the well-formed UTF-8 sequence starting at s[0] (a byte >= 0x80),
// or 0 if it is ill-formed (overlong, surrogate, > U+10FFFF, truncated, bad continuation).
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  size_t len;
  unsigned char lo = 0x80;  // Allowed range of the second byte.
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // Overlong.
    if (b0 == 0xED) hi = 0x9F;  // Surrogates U+D800..U+DFFF.
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // Overlong.
    if (b0 == 0xF4) hi = 0x8F;  // > U+10FFFF.
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return len;
}

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view), so
// std::string_view arguments to absl::StrCat are converted explicitly.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Renders a byte for an error message: 'x' for printable ASCII, otherwise byte 0xNN.
std::string DescribeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return std::string{'\'', c, '\''};
  constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xF];
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<Value> ParseDocument() {
    Value value;
    if (absl::Status s = ParseValue(/*depth=*/0, &value); !s.ok()) return s;
    SkipWhitespace();
    if (!AtEnd()) return Error(absl::StrCat("unexpected trailing ", DescribeByte(Peek())), pos_);
    return value;
  }

 private:
  static absl::Status Error(std::string_view message, size_t offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON: ", AbslView(message), " at offset ", offset));
  }
  absl::Status EndOfInput() const { return Error("unexpected end of input", pos_); }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd()) {
      const char c = Peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  // `depth` is the number of arrays/objects enclosing this value.
  absl::Status ParseValue(int depth, Value* out) {
    SkipWhitespace();
    if (AtEnd()) return EndOfInput();
    const char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(depth, out);
      case '[':
        return ParseArray(depth, out);
      case '"': {
        std::string s;
        if (absl::Status st = ParseString(&s); !st.ok()) return st;
        *out = Value::String(std::move(s));
        return absl::OkStatus();
      }
      case 't':
        return ParseLiteral("true", Value::Bool(true), out);
      case 'f':
        return ParseLiteral("false", Value::Bool(false), out);
      case 'n':
        return ParseLiteral("null", Value::Null(), out);
      default:
        if (c == '-' || IsDigit(c)) return ParseNumber(out);
        return Error(absl::StrCat("unexpected ", DescribeByte(c)), pos_);
    }
  }

  absl::Status ParseLiteral(std::string_view literal, Value value, Value* out) {
    if (text_.substr(pos_, literal.size()) != literal) {
      return Error(absl::StrCat("invalid literal (expected '", AbslView(literal), "')"), pos_);
    }
    pos_ += literal.size();
    *out = std::move(value);
    return absl::OkStatus();
  }

  absl::Status CheckDepth(int depth) const {
    if (depth + 1 > kMaxDepth) {
      return Error(absl::StrCat("nesting depth exceeds ", kMaxDepth), pos_);
    }
    return absl::OkStatus();
  }

  absl::Status ParseArray(int depth, Value* out) {
    if (absl::Status s = CheckDepth(depth); !s.ok()) return s;
    ++pos_;  // '['
    Value::Array elements;
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = Value::MakeArray(std::move(elements));
      return absl::OkStatus();
    }
    while (true) {
      Value element;
      if (absl::Status s = ParseValue(depth + 1, &element); !s.ok()) return s;
      elements.push_back(std::move(element));
      SkipWhitespace();
      if (AtEnd()) return EndOfInput();
      const char c = Peek();
      if (c == ']') {
        ++pos_;
        break;
      }
      if (c != ',') return Error("expected ',' or ']'", pos_);
      ++pos_;
      SkipWhitespace();
      if (!AtEnd() && Peek() == ']') return Error("trailing comma in array", pos_);
    }
    *out = Value::MakeArray(std::move(elements));
    return absl::OkStatus();
  }

  absl::Status ParseObject(int depth, Value* out) {
    if (absl::Status s = CheckDepth(depth); !s.ok()) return s;
    ++pos_;  // '{'
    Value::Object members;
    std::unordered_set<std::string> seen;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = Value::MakeObject(std::move(members));
      return absl::OkStatus();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd()) return EndOfInput();
      if (Peek() != '"') return Error("expected string key", pos_);
      const size_t key_offset = pos_;
      std::string key;
      if (absl::Status s = ParseString(&key); !s.ok()) return s;
      if (!seen.insert(key).second) {
        return Error(absl::StrCat("duplicate key ", Quote(key)), key_offset);
      }
      SkipWhitespace();
      if (AtEnd()) return EndOfInput();
      if (Peek() != ':') return Error("expected ':'", pos_);
      ++pos_;
      Value value;
      if (absl::Status s = ParseValue(depth + 1, &value); !s.ok()) return s;
      members.emplace_back(std::move(key), std::move(value));
      SkipWhitespace();
      if (AtEnd()) return EndOfInput();
      const char c = Peek();
      if (c == '}') {
        ++pos_;
        break;
      }
      if (c != ',') return Error("expected ',' or '}'", pos_);
      ++pos_;
      SkipWhitespace();
      if (!AtEnd() && Peek() == '}') return Error("trailing comma in object", pos_);
    }
    *out = Value::MakeObject(std::move(members));
    return absl::OkStatus();
  }

  // Reads 4 hex digits at pos_ (after "\u"), advancing past them.
  absl::Status ParseHex4(size_t escape_offset, uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (AtEnd()) return EndOfInput();
      const int d = HexDigitValue(Peek());
      if (d < 0) return Error("invalid \\u escape", escape_offset);
      v = (v << 4) | static_cast<uint32_t>(d);
    }
    *out = v;
    return absl::OkStatus();
  }

  // Parses the escape sequence at pos_ (pointing at the backslash) and appends its UTF-8 bytes.
  absl::Status ParseEscape(std::string* out) {
    const size_t escape_offset = pos_;
    ++pos_;  // '\\'
    if (AtEnd()) return EndOfInput();
    const char c = Peek();
    ++pos_;
    switch (c) {
      case '"':
        out->push_back('"');
        return absl::OkStatus();
      case '\\':
        out->push_back('\\');
        return absl::OkStatus();
      case '/':
        out->push_back('/');
        return absl::OkStatus();
      case 'b':
        out->push_back('\b');
        return absl::OkStatus();
      case 'f':
        out->push_back('\f');
        return absl::OkStatus();
      case 'n':
        out->push_back('\n');
        return absl::OkStatus();
      case 'r':
        out->push_back('\r');
        return absl::OkStatus();
      case 't':
        out->push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        return Error(absl::StrCat("invalid escape \\", DescribeByte(c)), escape_offset);
    }
    uint32_t cp = 0;
    if (absl::Status s = ParseHex4(escape_offset, &cp); !s.ok()) return s;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return Error("unpaired low surrogate in \\u escape", escape_offset);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") {
        return Error("unpaired high surrogate in \\u escape", escape_offset);
      }
      const size_t low_offset = pos_;
      pos_ += 2;
      uint32_t low = 0;
      if (absl::Status s = ParseHex4(low_offset, &low); !s.ok()) return s;
      if (low < 0xDC00 || low > 0xDFFF) {
        return Error("unpaired high surrogate in \\u escape", escape_offset);
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  // Parses a string literal at pos_ (pointing at the opening quote).
  absl::Status ParseString(std::string* out) {
    ++pos_;  // '"'
    while (true) {
      // Copy the longest run of bytes that need no special handling.
      const size_t run_start = pos_;
      while (!AtEnd()) {
        const auto u = static_cast<unsigned char>(Peek());
        if (u == '"' || u == '\\' || u < 0x20 || u >= 0x80) break;
        ++pos_;
      }
      out->append(text_.substr(run_start, pos_ - run_start));
      if (AtEnd()) return EndOfInput();
      const char c = Peek();
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c == '\\') {
        if (absl::Status s = ParseEscape(out); !s.ok()) return s;
      } else if (u < 0x20) {
        return Error(absl::StrCat("unescaped control character (", DescribeByte(c), ") in string"),
                     pos_);
      } else {
        const size_t len = Utf8SequenceLength(text_.substr(pos_));
        if (len == 0) return Error("invalid UTF-8 in string", pos_);
        out->append(text_.substr(pos_, len));
        pos_ += len;
      }
    }
  }

  absl::Status ParseNumber(Value* out) {
    const size_t start = pos_;
    const bool negative = Peek() == '-';
    if (negative) ++pos_;
    if (AtEnd()) return EndOfInput();
    if (!IsDigit(Peek())) return Error("invalid number", start);
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && IsDigit(Peek())) return Error("invalid number (leading zero)", start);
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    const size_t int_end = pos_;
    bool is_integer = true;
    if (!AtEnd() && Peek() == '.') {
      is_integer = false;
      ++pos_;
      if (AtEnd()) return EndOfInput();
      if (!IsDigit(Peek())) return Error("invalid number (expected digit after '.')", pos_);
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      is_integer = false;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd()) return EndOfInput();
      if (!IsDigit(Peek())) return Error("invalid number (expected digit in exponent)", pos_);
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }

    if (is_integer) {
      // Magnitude limit: 2^63 for negative numbers (INT64_MIN), 2^63 - 1 otherwise.
      const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
      uint64_t magnitude = 0;
      bool fits = true;
      for (size_t i = start + (negative ? 1 : 0); i < int_end; ++i) {
        const auto digit = static_cast<uint64_t>(text_[i] - '0');
        if (magnitude > (limit - digit) / 10) {
          fits = false;
          break;
        }
        magnitude = magnitude * 10 + digit;
      }
      if (fits) {
        // Two's-complement negation; well defined for 2^63 since C++20 (modular conversion).
        *out = Value::Int(negative ? static_cast<int64_t>(~magnitude + 1)
                                   : static_cast<int64_t>(magnitude));
        return absl::OkStatus();
      }
    }

    const std::string_view token = text_.substr(start, pos_ - start);
    double d = 0.0;
    const char* const end = token.data() + token.size();
    const absl::from_chars_result r = absl::from_chars(token.data(), end, d);
    if (r.ptr != end || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
      return Error("invalid number", start);  // Not expected: the grammar was checked above.
    }
    // On overflow absl::from_chars yields +-DBL_MAX, on underflow +-0 (which we accept).
    if (r.ec == std::errc::result_out_of_range && d != 0.0) {
      return Error("number out of range", start);
    }
    *out = Value::Double(d);
    return absl::OkStatus();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Value> Parse(std::string_view text) { return Parser(text).ParseDocument(); }

// ---------------------------------------------------------------------------------------------
// Quote

namespace {

// Appends the escape of a byte that cannot stand for itself in a JSON string.
void AppendEscape(unsigned char u, std::string* out) {
  constexpr char kHex[] = "0123456789abcdef";
  switch (u) {
    case '"':
      *out += "\\\"";
      return;
    case '\\':
      *out += "\\\\";
      return;
    case '\n':
      *out += "\\n";
      return;
    case '\t':
      *out += "\\t";
      return;
    case '\r':
      *out += "\\r";
      return;
    case '\b':
      *out += "\\b";
      return;
    case '\f':
      *out += "\\f";
      return;
    default:
      *out += "\\u00";
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xF]);
  }
}

// Whether each byte stands for itself in a JSON string (anything but '"', '\\', < 0x20).
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int u = 0x20; u < 256; ++u) plain[u] = u != '"' && u != '\\';
  return plain;
}();

// Appends Quote(s): the runs of bytes that stand for themselves are copied whole.
void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t run = 0;  // where the current run of plain bytes starts
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (kPlain[u]) continue;
    out->append(s.data() + run, i - run);
    AppendEscape(u, out);
    run = i + 1;
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

}  // namespace

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendQuoted(s, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

void Writer::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) {
    assert(out_.empty() && "Writer: only one top-level value is allowed");
    return;
  }
  assert(!stack_.back().is_object && "Writer: value inside an object requires Key() first");
  if (!stack_.back().empty) out_.push_back(',');
  stack_.back().empty = false;
}

void Writer::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  stack_.push_back({/*is_object=*/true, /*empty=*/true});
}

void Writer::EndObject() {
  assert(!stack_.empty() && stack_.back().is_object && !after_key_);
  stack_.pop_back();
  out_.push_back('}');
}

void Writer::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  stack_.push_back({/*is_object=*/false, /*empty=*/true});
}

void Writer::EndArray() {
  assert(!stack_.empty() && !stack_.back().is_object);
  stack_.pop_back();
  out_.push_back(']');
}

void Writer::Key(std::string_view k) {
  assert(!stack_.empty() && stack_.back().is_object && !after_key_ &&
         "Writer: Key() is only valid directly inside an object");
  if (!stack_.back().empty) out_.push_back(',');
  stack_.back().empty = false;
  AppendQuoted(k, &out_);
  out_.push_back(':');
  after_key_ = true;
}

void Writer::String(std::string_view s) {
  BeforeValue();
  AppendQuoted(s, &out_);
}

void Writer::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  out_.append(buf, r.ptr);
}

void Writer::Bool(bool b) {
  BeforeValue();
  out_ += b ? "true" : "false";
}

void Writer::Null() {
  BeforeValue();
  out_ += "null";
}

void Writer::Double(double d) {
  BeforeValue();
  if (!std::isfinite(d)) {
    out_ += "null";
    return;
  }
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), d);
  assert(r.ec == std::errc());
  const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out_ += text;
  if (text.find_first_of(".e") == std::string_view::npos) out_ += ".0";
}

}  // namespace astcd::json
