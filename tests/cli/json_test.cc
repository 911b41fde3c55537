#include "cli/json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace astcd::json {
namespace {

// Parses `text`, failing the test (and returning null) if it does not parse.
Value ParseOk(std::string_view text) {
  absl::StatusOr<Value> v = Parse(text);
  EXPECT_TRUE(v.ok()) << "input: " << text << "\nstatus: " << v.status();
  return v.ok() ? *std::move(v) : Value();
}

// Expects `text` to be rejected with InvalidArgument, a message containing `fragment`, and the
// given byte offset.
void ExpectError(std::string_view text, std::string_view fragment, size_t offset) {
  SCOPED_TRACE(testing::Message() << "input: " << text);
  absl::StatusOr<Value> v = Parse(text);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(v.status().message());
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
  EXPECT_EQ(message.rfind("JSON: ", 0), 0u) << message;
  const std::string suffix = " at offset " + std::to_string(offset);
  EXPECT_TRUE(message.size() >= suffix.size() &&
              message.compare(message.size() - suffix.size(), suffix.size(), suffix) == 0)
      << message << "\nexpected suffix: " << suffix;
}

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// ---------------------------------------------------------------------------------------------
// Scalars

TEST(JsonParseTest, Null) {
  const Value v = ParseOk("null");
  EXPECT_EQ(v.type(), Value::Type::kNull);
  EXPECT_TRUE(v.is_null());
  EXPECT_FALSE(v.is_bool());
}

TEST(JsonParseTest, Bools) {
  const Value t = ParseOk("true");
  ASSERT_TRUE(t.is_bool());
  EXPECT_TRUE(t.as_bool());
  const Value f = ParseOk(" \t\r\nfalse\n");
  ASSERT_TRUE(f.is_bool());
  EXPECT_FALSE(f.as_bool());
}

TEST(JsonParseTest, Integers) {
  EXPECT_EQ(ParseOk("0").as_int(), 0);
  EXPECT_EQ(ParseOk("-0").as_int(), 0);
  EXPECT_TRUE(ParseOk("-0").is_int());
  EXPECT_EQ(ParseOk("42").as_int(), 42);
  EXPECT_EQ(ParseOk("-17").as_int(), -17);
  const Value v = ParseOk("123456789");
  EXPECT_EQ(v.type(), Value::Type::kInt);
  EXPECT_TRUE(v.is_number());
  EXPECT_DOUBLE_EQ(v.as_double(), 123456789.0);
}

TEST(JsonParseTest, Int64Boundaries) {
  const Value max = ParseOk("9223372036854775807");
  ASSERT_TRUE(max.is_int());
  EXPECT_EQ(max.as_int(), std::numeric_limits<int64_t>::max());
  const Value min = ParseOk("-9223372036854775808");
  ASSERT_TRUE(min.is_int());
  EXPECT_EQ(min.as_int(), std::numeric_limits<int64_t>::min());
  const Value near_min = ParseOk("-9223372036854775807");
  ASSERT_TRUE(near_min.is_int());
  EXPECT_EQ(near_min.as_int(), std::numeric_limits<int64_t>::min() + 1);
}

TEST(JsonParseTest, IntegerOverflowBecomesDouble) {
  const Value above_max = ParseOk("9223372036854775808");
  ASSERT_TRUE(above_max.is_double());
  EXPECT_EQ(above_max.as_double(), 9223372036854775808.0);
  EXPECT_EQ(above_max.as_int(), 0);  // Wrong-type accessor returns 0.
  const Value below_min = ParseOk("-9223372036854775809");
  ASSERT_TRUE(below_min.is_double());
  EXPECT_EQ(below_min.as_double(), -9223372036854775808.0);
  const Value huge = ParseOk("123456789012345678901234567890");
  ASSERT_TRUE(huge.is_double());
  EXPECT_DOUBLE_EQ(huge.as_double(), 1.2345678901234568e29);
}

TEST(JsonParseTest, Doubles) {
  const Value a = ParseOk("1.5");
  ASSERT_TRUE(a.is_double());
  EXPECT_EQ(a.as_double(), 1.5);
  EXPECT_EQ(ParseOk("-0.25").as_double(), -0.25);
  EXPECT_EQ(ParseOk("1e3").as_double(), 1000.0);
  EXPECT_TRUE(ParseOk("1e3").is_double());
  EXPECT_EQ(ParseOk("2E-2").as_double(), 0.02);
  EXPECT_EQ(ParseOk("2.5e+1").as_double(), 25.0);
  EXPECT_EQ(ParseOk("0.1").as_double(), 0.1);
  EXPECT_TRUE(ParseOk("1.0").is_double());
  // Underflow rounds to zero; overflow is rejected.
  const Value tiny = ParseOk("1e-400");
  ASSERT_TRUE(tiny.is_double());
  EXPECT_EQ(tiny.as_double(), 0.0);
  ExpectError("1e400", "number out of range", 0);
  ExpectError("[-1e400]", "number out of range", 1);
}

TEST(JsonParseTest, Strings) {
  const Value v = ParseOk(R"("hello")");
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(v.as_string(), "hello");
  EXPECT_EQ(ParseOk(R"("")").as_string(), "");
  EXPECT_EQ(ParseOk(R"("a\"b\\c\/d\be\ff\ng\rh\ti")").as_string(), "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(ParseOk(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  // \u0000 yields an embedded NUL byte.
  EXPECT_EQ(ParseOk(R"("x\u0000y")").as_string(), std::string("x\0y", 3));
  // Raw UTF-8 passes through: 2-, 3- and 4-byte sequences.
  EXPECT_EQ(ParseOk("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").as_string(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  // DEL (0x7f) is not a control character in JSON.
  EXPECT_EQ(ParseOk("\"\x7f\"").as_string(), "\x7f");
}

TEST(JsonParseTest, SurrogatePairs) {
  // U+1F600 GRINNING FACE.
  EXPECT_EQ(ParseOk(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  // U+10000, the first supplementary code point, and U+10FFFF, the last.
  EXPECT_EQ(ParseOk(R"("\uD800\uDC00")").as_string(), "\xF0\x90\x80\x80");
  EXPECT_EQ(ParseOk(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(ParseOk(R"("a\uD83D\uDE00b")").as_string(), std::string("a\xF0\x9F\x98\x80") + "b");
}

// ---------------------------------------------------------------------------------------------
// Containers

TEST(JsonParseTest, Arrays) {
  const Value empty = ParseOk("[ ]");
  ASSERT_TRUE(empty.is_array());
  EXPECT_TRUE(empty.as_array().empty());

  const Value v = ParseOk(R"([1, -2.5, "x", true, false, null, [], {}])");
  ASSERT_TRUE(v.is_array());
  const Value::Array& a = v.as_array();
  ASSERT_EQ(a.size(), 8u);
  EXPECT_EQ(a[0], Value::Int(1));
  EXPECT_EQ(a[1], Value::Double(-2.5));
  EXPECT_EQ(a[2], Value::String("x"));
  EXPECT_EQ(a[3], Value::Bool(true));
  EXPECT_EQ(a[4], Value::Bool(false));
  EXPECT_EQ(a[5], Value::Null());
  EXPECT_TRUE(a[6].is_array());
  EXPECT_TRUE(a[7].is_object());
  EXPECT_NE(a[0], Value::Double(1.0));  // int and double are distinct.
}

TEST(JsonParseTest, ObjectsKeepInsertionOrder) {
  const Value v = ParseOk(R"({"z": 1, "a": 2, "m": 3})");
  ASSERT_TRUE(v.is_object());
  const Value::Object& o = v.as_object();
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].first, "z");
  EXPECT_EQ(o[1].first, "a");
  EXPECT_EQ(o[2].first, "m");
  EXPECT_EQ(o[0].second.as_int(), 1);
  EXPECT_EQ(o[1].second.as_int(), 2);
  EXPECT_EQ(o[2].second.as_int(), 3);
}

TEST(JsonParseTest, Find) {
  const Value v = ParseOk(R"({"arities":[1,2],"allow_loops":true,"const_range":[0,9]})");
  const Value* arities = v.Find("arities");
  ASSERT_NE(arities, nullptr);
  ASSERT_TRUE(arities->is_array());
  ASSERT_EQ(arities->as_array().size(), 2u);
  EXPECT_EQ(arities->as_array()[1].as_int(), 2);
  const Value* loops = v.Find("allow_loops");
  ASSERT_NE(loops, nullptr);
  EXPECT_TRUE(loops->as_bool());
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(v.Find("Arities"), nullptr);  // Case-sensitive.
  // Not an object.
  EXPECT_EQ(arities->Find("arities"), nullptr);
  EXPECT_EQ(Value::Int(3).Find("x"), nullptr);
  // Keys with escapes are matched in decoded form.
  const Value e = ParseOk(R"({"a\nb": 1, "\u00e9": 2})");
  ASSERT_NE(e.Find("a\nb"), nullptr);
  EXPECT_EQ(e.Find("a\nb")->as_int(), 1);
  ASSERT_NE(e.Find("\xC3\xA9"), nullptr);
  EXPECT_EQ(e.Find("\xC3\xA9")->as_int(), 2);
}

TEST(JsonParseTest, Nested) {
  const Value v = ParseOk(R"({"a": [1, {"b": [true, {"c": null}]}], "d": {"e": {"f": "g"}}})");
  const Value* a = v.Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->as_array().size(), 2u);
  const Value* b = a->as_array()[1].Find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->as_array().size(), 2u);
  const Value* c = b->as_array()[1].Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->is_null());
  const Value* d = v.Find("d");
  ASSERT_NE(d, nullptr);
  const Value* e = d->Find("e");
  ASSERT_NE(e, nullptr);
  ASSERT_NE(e->Find("f"), nullptr);
  EXPECT_EQ(e->Find("f")->as_string(), "g");

  const Value expected = Value::MakeObject({
      {"a", Value::MakeArray(
                {Value::Int(1), Value::MakeObject({{"b", Value::MakeArray({
                                                             Value::Bool(true),
                                                             Value::MakeObject({{"c", Value()}}),
                                                         })}})})},
      {"d", Value::MakeObject({{"e", Value::MakeObject({{"f", Value::String("g")}})}})},
  });
  EXPECT_EQ(v, expected);
}

TEST(JsonParseTest, JsonLinesExamples) {
  const Value src = ParseOk(R"({"source":"def f(a):\n  return a"})");
  ASSERT_NE(src.Find("source"), nullptr);
  EXPECT_EQ(src.Find("source")->as_string(), "def f(a):\n  return a");
  const Value tokens = ParseOk(R"({"tokens":[3,4,5]})");
  ASSERT_NE(tokens.Find("tokens"), nullptr);
  EXPECT_EQ(tokens.Find("tokens")->as_array(),
            (Value::Array{Value::Int(3), Value::Int(4), Value::Int(5)}));
}

TEST(JsonParseTest, WrongTypeAccessorsReturnDefaults) {
  const Value s = Value::String("x");
  EXPECT_FALSE(s.as_bool());
  EXPECT_EQ(s.as_int(), 0);
  EXPECT_EQ(s.as_double(), 0.0);
  EXPECT_TRUE(s.as_array().empty());
  EXPECT_TRUE(s.as_object().empty());
  EXPECT_EQ(Value::Int(1).as_string(), "");
  EXPECT_EQ(TypeName(Value::Type::kObject), "object");
  EXPECT_EQ(TypeName(s.type()), "string");
}

TEST(JsonParseTest, DepthLimit) {
  // Depth 64 is accepted, 65 is rejected with an error rather than a crash.
  const Value ok = ParseOk(Nested(kMaxDepth));
  const Value* inner = &ok;
  int depth = 0;
  while (inner->is_array()) {
    ++depth;
    if (inner->as_array().empty()) break;
    inner = &inner->as_array()[0];
  }
  EXPECT_EQ(depth, 64);
  ExpectError(Nested(kMaxDepth + 1), "nesting depth exceeds 64", 64);

  // Mixed objects and arrays count alike.
  std::string mixed;
  for (int i = 0; i < 32; ++i) mixed += R"({"k":[)";
  std::string mixed_close;
  for (int i = 0; i < 32; ++i) mixed_close += "]}";
  EXPECT_TRUE(Parse(mixed + mixed_close).ok());
  EXPECT_FALSE(Parse(mixed + "{}" + mixed_close).ok());
  EXPECT_TRUE(Parse(mixed + "1" + mixed_close).ok());  // Scalars do not add depth.

  // Hostile input far beyond the limit is rejected quickly.
  ExpectError(std::string(100000, '['), "nesting depth exceeds 64", 64);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(JsonParseErrorTest, Truncated) {
  ExpectError("", "unexpected end of input", 0);
  ExpectError("   ", "unexpected end of input", 3);
  ExpectError("[1, 2", "unexpected end of input", 5);
  ExpectError("[1,", "unexpected end of input", 3);
  ExpectError(R"({"a")", "unexpected end of input", 4);
  ExpectError(R"({"a":)", "unexpected end of input", 5);
  ExpectError(R"({"a":1)", "unexpected end of input", 6);
  ExpectError(R"("abc)", "unexpected end of input", 4);
  ExpectError(R"("ab\)", "unexpected end of input", 4);
  ExpectError(R"("\u12)", "unexpected end of input", 5);
  ExpectError("-", "unexpected end of input", 1);
  ExpectError("1.", "unexpected end of input", 2);
  ExpectError("1e", "unexpected end of input", 2);
  ExpectError("tru", "invalid literal", 0);
}

TEST(JsonParseErrorTest, BadLiterals) {
  ExpectError("nul", "invalid literal (expected 'null')", 0);
  ExpectError("True", "unexpected 'T'", 0);
  ExpectError("[fals]", "invalid literal (expected 'false')", 1);
  ExpectError("NaN", "unexpected 'N'", 0);
  ExpectError("'a'", "unexpected '''", 0);
  ExpectError("+1", "unexpected '+'", 0);
}

TEST(JsonParseErrorTest, BadNumbers) {
  ExpectError("01", "leading zero", 0);
  ExpectError("-01", "leading zero", 0);
  ExpectError("-a", "invalid number", 0);
  ExpectError("1.e5", "expected digit after '.'", 2);
  ExpectError("1e+", "unexpected end of input", 3);
  ExpectError("1ex", "expected digit in exponent", 2);
  ExpectError(".5", "unexpected '.'", 0);
}

TEST(JsonParseErrorTest, TrailingComma) {
  ExpectError("[1,2,]", "trailing comma in array", 5);
  ExpectError(R"({"a":1,})", "trailing comma in object", 7);
  ExpectError("[,]", "unexpected ','", 1);
  ExpectError("{,}", "expected string key", 1);
}

TEST(JsonParseErrorTest, MissingSeparators) {
  ExpectError("[1 2]", "expected ',' or ']'", 3);
  ExpectError(R"({"a":1 "b":2})", "expected ',' or '}'", 7);
  ExpectError(R"({"a" 1})", "expected ':'", 5);
  ExpectError("{a:1}", "expected string key", 1);
  ExpectError("[1}", "expected ',' or ']'", 2);
}

TEST(JsonParseErrorTest, TrailingGarbage) {
  ExpectError("1 2", "unexpected trailing '2'", 2);
  ExpectError("{} {}", "unexpected trailing '{'", 3);
  ExpectError("truex", "unexpected trailing 'x'", 4);
  ExpectError("null\n\x01", "unexpected trailing byte 0x01", 5);
  ExpectError("[1]]", "unexpected trailing ']'", 3);
}

TEST(JsonParseErrorTest, DuplicateKey) {
  ExpectError(R"({"a":1,"b":2,"a":3})", "duplicate key \"a\"", 13);
  // Duplicates are detected on the decoded key.
  ExpectError(R"({"a":1,"\u0061":2})", "duplicate key \"a\"", 7);
  // The same key in different objects is fine.
  EXPECT_TRUE(Parse(R"({"a":{"a":1},"b":{"a":2}})").ok());
}

TEST(JsonParseErrorTest, ControlCharacterInString) {
  ExpectError("\"a\nb\"", "unescaped control character (byte 0x0a) in string", 2);
  ExpectError("\"\tx\"", "unescaped control character", 1);
  ExpectError(std::string("\"a\0b\"", 5), "unescaped control character (byte 0x00)", 2);
  ExpectError("\"\x1f\"", "unescaped control character (byte 0x1f)", 1);
}

TEST(JsonParseErrorTest, InvalidEscapes) {
  ExpectError(R"("\x41")", "invalid escape \\'x'", 1);
  ExpectError(R"("\U0041")", "invalid escape", 1);
  ExpectError(R"("\u00g1")", "invalid \\u escape", 1);
  ExpectError(R"("ab\u12"")", "invalid \\u escape", 3);
}

TEST(JsonParseErrorTest, InvalidUtf8) {
  ExpectError("\"\x80\"", "invalid UTF-8 in string", 1);              // Lone continuation byte.
  ExpectError("\"ab\xC3\"", "invalid UTF-8 in string", 3);            // Truncated 2-byte sequence.
  ExpectError("\"\xC0\xAF\"", "invalid UTF-8 in string", 1);          // Overlong '/'.
  ExpectError("\"\xE0\x80\xAF\"", "invalid UTF-8 in string", 1);      // Overlong 3-byte.
  ExpectError("\"\xED\xA0\x80\"", "invalid UTF-8 in string", 1);      // Encoded surrogate U+D800.
  ExpectError("\"\xF4\x90\x80\x80\"", "invalid UTF-8 in string", 1);  // > U+10FFFF.
  ExpectError("\"\xF5\x80\x80\x80\"", "invalid UTF-8 in string", 1);
  ExpectError("\"\xFF\"", "invalid UTF-8 in string", 1);
  ExpectError("\"\xE2\x82\"", "invalid UTF-8 in string", 1);    // Truncated 3-byte sequence.
  ExpectError("{\"k\xE9y\":1}", "invalid UTF-8 in string", 3);  // Latin-1 in a key.
  // Invalid bytes outside strings are rejected too.
  ExpectError("\xC3\xA9", "unexpected byte 0xc3", 0);
}

TEST(JsonParseErrorTest, LoneSurrogates) {
  ExpectError(R"("\ud83d")", "unpaired high surrogate", 1);
  ExpectError(R"("\ud83dx")", "unpaired high surrogate", 1);
  ExpectError(R"("a\ud83d\u0041")", "unpaired high surrogate", 2);
  ExpectError(R"("\ud83d\ud83d")", "unpaired high surrogate", 1);
  ExpectError(R"("\ude00")", "unpaired low surrogate", 1);
  ExpectError(R"("\ude00\ud83d")", "unpaired low surrogate", 1);
  ExpectError(R"("\ud83d\n")", "unpaired high surrogate", 1);
}

TEST(JsonParseErrorTest, ErrorMessageFormat) {
  const absl::StatusOr<Value> v = Parse(R"({"arities":[1,2] "x":1})");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status(), absl::InvalidArgumentError("JSON: expected ',' or '}' at offset 17"));
}

// ---------------------------------------------------------------------------------------------
// Quote

TEST(JsonQuoteTest, Escapes) {
  EXPECT_EQ(Quote(""), R"("")");
  EXPECT_EQ(Quote("abc"), R"("abc")");
  EXPECT_EQ(Quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quote("\n\t\r\b\f"), R"("\n\t\r\b\f")");
  EXPECT_EQ(Quote(std::string("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Quote("/\x7f"), "\"/\x7f\"");
  EXPECT_EQ(Quote("\xC3\xA9\xF0\x9F\x98\x80"), "\"\xC3\xA9\xF0\x9F\x98\x80\"");
}

TEST(JsonQuoteTest, RoundTripThroughParse) {
  std::string all_ascii;
  for (int c = 0; c < 0x80; ++c) all_ascii.push_back(static_cast<char>(c));
  const std::vector<std::string> cases = {
      "",
      "plain",
      "quote \" backslash \\ slash /",
      "def f(a):\n\treturn a\r\n",
      std::string("nul\0inside", 10),
      all_ascii,
      "utf8 \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",
  };
  for (const std::string& s : cases) {
    const std::string quoted = Quote(s);
    const absl::StatusOr<Value> v = Parse(quoted);
    ASSERT_TRUE(v.ok()) << v.status() << " for " << quoted;
    ASSERT_TRUE(v->is_string());
    EXPECT_EQ(v->as_string(), s);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

TEST(JsonWriterTest, NestedStructure) {
  Writer w;
  w.BeginObject();
  w.Key("id");
  w.Int(3);
  w.Key("name");
  w.String("a\"b\n");
  w.Key("tokens");
  w.BeginArray();
  w.Int(1);
  w.Int(-2);
  w.BeginArray();
  w.EndArray();
  w.BeginObject();
  w.EndObject();
  w.BeginObject();
  w.Key("x");
  w.Null();
  w.Key("y");
  w.BeginArray();
  w.Bool(true);
  w.Bool(false);
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.Key("score");
  w.Double(0.5);
  w.Key("empty");
  w.BeginObject();
  w.EndObject();
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"id":3,"name":"a\"b\n","tokens":[1,-2,[],{},{"x":null,"y":[true,false]}],)"
                     R"("score":0.5,"empty":{}})");

  // The output parses back to the same structure.
  const absl::StatusOr<Value> v = Parse(w.str());
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_NE(v->Find("tokens"), nullptr);
  EXPECT_EQ(v->Find("tokens")->as_array().size(), 5u);
  EXPECT_EQ(v->Find("name")->as_string(), "a\"b\n");
}

TEST(JsonWriterTest, TopLevelScalarsAndArrays) {
  {
    Writer w;
    w.BeginArray();
    w.EndArray();
    EXPECT_EQ(w.str(), "[]");
  }
  {
    Writer w;
    w.String("x");
    EXPECT_EQ(w.str(), R"("x")");
  }
  {
    Writer w;
    w.BeginArray();
    w.String("a");
    w.Null();
    w.Int(std::numeric_limits<int64_t>::min());
    w.Int(std::numeric_limits<int64_t>::max());
    w.EndArray();
    EXPECT_EQ(w.str(), R"(["a",null,-9223372036854775808,9223372036854775807])");
    const absl::StatusOr<Value> v = Parse(w.str());
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->as_array()[2].as_int(), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(v->as_array()[3].as_int(), std::numeric_limits<int64_t>::max());
  }
}

TEST(JsonWriterTest, Doubles) {
  Writer w;
  w.BeginArray();
  w.Double(3.0);
  w.Double(0.1);
  w.Double(-2.5);
  w.Double(1e21);
  w.Double(1e-7);
  w.Double(std::numeric_limits<double>::infinity());
  w.Double(std::nan(""));
  w.EndArray();
  EXPECT_EQ(w.str(), "[3.0,0.1,-2.5,1e+21,1e-07,null,null]");
  const absl::StatusOr<Value> v = Parse(w.str());
  ASSERT_TRUE(v.ok()) << v.status();
  const Value::Array& a = v->as_array();
  ASSERT_EQ(a.size(), 7u);
  EXPECT_EQ(a[0], Value::Double(3.0));  // Stays a double.
  EXPECT_EQ(a[1], Value::Double(0.1));  // Round-trips exactly.
  EXPECT_EQ(a[3], Value::Double(1e21));
  EXPECT_EQ(a[4], Value::Double(1e-7));
}

TEST(JsonWriterTest, KeysAreEscaped) {
  Writer w;
  w.BeginObject();
  w.Key("a\"b");
  w.Int(1);
  w.Key("\x01");
  w.Int(2);
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"a\"b":1,"\u0001":2})");
}

}  // namespace
}  // namespace astcd::json
