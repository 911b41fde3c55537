// A small JSON reader and writer for the astcd command-line tool.
//
// Reading: `Parse` turns one RFC 8259 JSON text into a `Value` tree. It is strict: no comments,
// no trailing commas, no duplicate object keys, strings must be valid UTF-8, and nesting is limited
// to `kMaxDepth` so hostile input cannot exhaust the stack. Errors are returned as
// absl::InvalidArgumentError with a message of the form
// "JSON: expected ',' or '}' at offset 17" (the offset is a 0-based byte offset into the text).
//
// Writing: `Writer` builds compact JSON output in order, inserting commas automatically:
//
//   Writer w;
//   w.BeginObject();
//   w.Key("id");
//   w.Int(3);
//   w.Key("tags");
//   w.BeginArray();
//   w.String("a");
//   w.EndArray();
//   w.EndObject();
//   w.str();  // {"id":3,"tags":["a"]}

#ifndef ASTCD_CLI_JSON_H_
#define ASTCD_CLI_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace astcd::json {

// Maximum nesting depth of arrays/objects accepted by `Parse`. A top-level array is depth 1.
inline constexpr int kMaxDepth = 64;

// An immutable-by-convention JSON value: null, bool, int64, double, string, array or object.
class Value {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Value>;
  // Object members in insertion (document) order.
  using Object = std::vector<std::pair<std::string, Value>>;

  // A null value.
  Value() = default;

  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Double(double d);
  static Value String(std::string s);
  static Value MakeArray(Array elements);
  // No duplicate check is performed here; `Find` returns the first match.
  static Value MakeObject(Object members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_double() const { return type_ == Type::kDouble; }
  // True for both kInt and kDouble.
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors. Calling one on a value of another type returns false / 0 / an empty string, array
  // or object; check the type first when the input is untrusted.
  bool as_bool() const { return is_bool() && bool_; }
  int64_t as_int() const { return is_int() ? int_ : 0; }
  // Works for kInt too (converted, possibly rounding beyond 2^53).
  double as_double() const;
  const std::string& as_string() const { return string_; }
  const Array& as_array() const { return array_; }
  const Object& as_object() const { return object_; }

  // Returns the member named `key`, or nullptr if absent or if this value is not an object.
  const Value* Find(std::string_view key) const;

  // Deep structural equality. kInt and kDouble values never compare equal to each other, and
  // object member order matters.
  friend bool operator==(const Value& a, const Value& b);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

// Human-readable name of a type ("null", "bool", "int", "double", "string", "array", "object"),
// for error messages.
std::string_view TypeName(Value::Type type);

// Parses `text`, which must contain exactly one JSON value (surrounding whitespace allowed).
// Integers that fit in int64 become kInt; other numbers become kDouble. Numbers whose magnitude
// overflows a double are rejected; ones that underflow become 0.
absl::StatusOr<Value> Parse(std::string_view text);

// Returns `s` as a JSON string literal including the surrounding quotes. Escapes '"', '\\', and
// control characters (\n \t \r \b \f, others as \u00XX). Bytes >= 0x80 are copied unchanged, so
// valid UTF-8 input yields valid JSON.
std::string Quote(std::string_view s);

// Streaming writer producing compact JSON (no whitespace). Inside an object, every value must be
// preceded by `Key`; inside an array or at top level, `Key` must not be used. Misuse is a
// programming error (checked by assert in debug builds). Non-finite doubles are written as null.
class Writer {
 public:
  Writer() = default;

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();

  void Key(std::string_view k);
  void String(std::string_view s);
  void Int(int64_t v);
  void Bool(bool b);
  void Null();
  // Shortest representation that round-trips; always contains '.', 'e' or is "null", so that it
  // parses back as kDouble (e.g. 3.0 is written as "3.0").
  void Double(double d);

  const std::string& str() const { return out_; }
  // The output, moved out of a writer that is done.
  std::string Take() && { return std::move(out_); }

 private:
  struct Frame {
    bool is_object;
    bool empty;
  };

  // Emits a separating comma if needed before a value or key.
  void BeforeValue();

  std::string out_;
  std::vector<Frame> stack_;
  bool after_key_ = false;
};

}  // namespace astcd::json

#endif  // ASTCD_CLI_JSON_H_
