// DecodeConfig and PolicyConfig from JSON: every field, defaults, and refusals that name the key.
#include "cli/config_json.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/json.h"
#include "core/config.h"
#include "core/sampler.h"
#include "gtest/gtest.h"

namespace astcd {
namespace {

// Every field of two configs, compared one by one (DecodeConfig has no operator==).
void ExpectSameConfig(const DecodeConfig& a, const DecodeConfig& b) {
  EXPECT_EQ(a.arities, b.arities);
  EXPECT_EQ(a.max_block_stmts, b.max_block_stmts);
  EXPECT_EQ(a.max_expr_depth, b.max_expr_depth);
  EXPECT_EQ(a.max_control_depth, b.max_control_depth);
  EXPECT_EQ(a.max_locals, b.max_locals);
  EXPECT_EQ(a.max_functions, b.max_functions);
  EXPECT_EQ(a.const_range, b.const_range);
  EXPECT_EQ(a.value_range, b.value_range);
  EXPECT_EQ(a.allow_loops, b.allow_loops);
}

DecodeConfig ParseOk(const std::string& text) {
  absl::StatusOr<DecodeConfig> c = DecodeConfigFromJsonText(text);
  EXPECT_TRUE(c.ok()) << text << " -> " << c.status();
  return c.ok() ? *c : DecodeConfig{};
}

// `text` must be refused as InvalidArgument with a message containing `culprit`.
void ExpectRefused(const std::string& text, const std::string& culprit) {
  absl::StatusOr<DecodeConfig> c = DecodeConfigFromJsonText(text);
  ASSERT_FALSE(c.ok()) << text << " was accepted";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(c.status().message().find(culprit), absl::string_view::npos)
      << text << " -> message '" << c.status().message() << "' does not name '" << culprit << "'";
}

void ExpectPolicyRefused(const std::string& text, const std::string& culprit) {
  absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText(text);
  ASSERT_FALSE(p.ok()) << text << " was accepted";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(p.status().message().find(culprit), absl::string_view::npos)
      << text << " -> message '" << p.status().message() << "' does not name '" << culprit << "'";
}

TEST(ConfigJson, EmptyObjectKeepsEveryDefault) {
  ExpectSameConfig(ParseOk("{}"), DecodeConfig{});
  ExpectSameConfig(ParseOk("  { }\n"), DecodeConfig{});
}

TEST(ConfigJson, EveryFieldIsParsed) {
  const DecodeConfig c = ParseOk(R"({
    "arities": [0, 5, 2],
    "max_block_stmts": 7,
    "max_expr_depth": 9,
    "max_control_depth": 3,
    "max_locals": 11,
    "max_functions": 5,
    "const_range": [3, 40],
    "value_range": [-1000, 5000],
    "allow_loops": true
  })");
  EXPECT_EQ(c.arities, (std::vector<int>{0, 5, 2}));
  EXPECT_EQ(c.max_block_stmts, 7);
  EXPECT_EQ(c.max_expr_depth, 9);
  EXPECT_EQ(c.max_control_depth, 3);
  EXPECT_EQ(c.max_locals, 11);
  EXPECT_EQ(c.max_functions, 5);
  EXPECT_EQ(c.const_range, (std::pair<int64_t, int64_t>{3, 40}));
  EXPECT_EQ(c.value_range, (std::pair<int64_t, int64_t>{-1000, 5000}));
  EXPECT_TRUE(c.allow_loops);
}

TEST(ConfigJson, EachFieldAloneChangesOnlyItself) {
  struct Case {
    const char* json;
    void (*set)(DecodeConfig&);
  };
  const Case cases[] = {
      {R"({"arities": [4]})", [](DecodeConfig& c) { c.arities = {4}; }},
      {R"({"max_block_stmts": 64})", [](DecodeConfig& c) { c.max_block_stmts = 64; }},
      {R"({"max_expr_depth": 1})", [](DecodeConfig& c) { c.max_expr_depth = 1; }},
      {R"({"max_control_depth": 0})", [](DecodeConfig& c) { c.max_control_depth = 0; }},
      {R"({"max_locals": 0})", [](DecodeConfig& c) { c.max_locals = 0; }},
      {R"({"max_functions": 16})", [](DecodeConfig& c) { c.max_functions = 16; }},
      {R"({"const_range": [0, 0]})", [](DecodeConfig& c) { c.const_range = {0, 0}; }},
      {R"({"value_range": [-1, 9]})", [](DecodeConfig& c) { c.value_range = {-1, 9}; }},
      {R"({"allow_loops": false})", [](DecodeConfig& c) { c.allow_loops = false; }},
      {R"({"allow_loops": true})", [](DecodeConfig& c) { c.allow_loops = true; }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.json);
    DecodeConfig want;
    k.set(want);
    ExpectSameConfig(ParseOk(k.json), want);
  }
}

TEST(ConfigJson, BoundaryValuesAreAccepted) {
  // 6 + 20 = 26 variable names: exactly a..z.
  const DecodeConfig c = ParseOk(R"({"arities": [6], "max_locals": 20})");
  EXPECT_EQ(c.num_names(), 26);
  ParseOk(R"({"arities": [0, 1, 2, 3, 4, 5, 6]})");
  ParseOk(R"({"const_range": [1047553, 1048576]})");  // 1024 constants, top at 2^20
  ParseOk(R"({"value_range": [-4611686018427387904, 4611686018427387904]})");  // +-2^62
}

TEST(ConfigJson, UnknownKeyIsNamed) {
  ExpectRefused(R"({"bogus": 1})", "bogus");
  ExpectRefused(R"({"max_expr_depth": 3, "maxExprDepth": 3})", "maxExprDepth");
  ExpectRefused(R"({"": 1})", "''");
  ExpectRefused(R"({"Allow_Loops": true})", "Allow_Loops");  // keys are case-sensitive
}

TEST(ConfigJson, NotAnObjectIsRefused) {
  for (const char* text : {"[]", "1", "null", "\"max_expr_depth\"", "true"}) {
    absl::StatusOr<DecodeConfig> c = DecodeConfigFromJsonText(text);
    EXPECT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ConfigJson, MalformedJsonIsRefused) {
  for (const char* text : {"", "{", "{bad", R"({"max_expr_depth": })", R"({"a":1,})",
                           R"({"max_expr_depth": 3, "max_expr_depth": 4})"}) {
    absl::StatusOr<DecodeConfig> c = DecodeConfigFromJsonText(text);
    EXPECT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("JSON"), absl::string_view::npos) << c.status();
  }
}

TEST(ConfigJson, WrongTypesAreNamed) {
  // Integer fields.
  for (const char* key : {"max_block_stmts", "max_expr_depth", "max_control_depth", "max_locals",
                          "max_functions"}) {
    SCOPED_TRACE(key);
    const std::string k = key;
    ExpectRefused("{\"" + k + "\": \"4\"}", k);   // string
    ExpectRefused("{\"" + k + "\": 4.0}", k);     // float, even a whole one
    ExpectRefused("{\"" + k + "\": 4.5}", k);     // float
    ExpectRefused("{\"" + k + "\": 4e0}", k);     // exponent form is a float
    ExpectRefused("{\"" + k + "\": true}", k);    // bool
    ExpectRefused("{\"" + k + "\": null}", k);    // null
    ExpectRefused("{\"" + k + "\": [4]}", k);     // array
    ExpectRefused("{\"" + k + "\": {}}", k);      // object
  }
  // Arities: an array of integers.
  ExpectRefused(R"({"arities": 2})", "arities");
  ExpectRefused(R"({"arities": "1,2"})", "arities");
  ExpectRefused(R"({"arities": [1, "2"]})", "arities");
  ExpectRefused(R"({"arities": [1, 2.0]})", "arities");
  ExpectRefused(R"({"arities": [true]})", "arities");
  ExpectRefused(R"({"arities": [[1]]})", "arities");
  // Ranges: a [lo, hi] pair of integers.
  for (const char* key : {"const_range", "value_range"}) {
    SCOPED_TRACE(key);
    const std::string k = key;
    ExpectRefused("{\"" + k + "\": 5}", k);
    ExpectRefused("{\"" + k + "\": []}", k);
    ExpectRefused("{\"" + k + "\": [1]}", k);
    ExpectRefused("{\"" + k + "\": [-1, 2, 3]}", k);
    ExpectRefused("{\"" + k + "\": [-1, 2.5]}", k);
    ExpectRefused("{\"" + k + "\": [\"-1\", 2]}", k);
    ExpectRefused("{\"" + k + "\": [true, 2]}", k);
    ExpectRefused("{\"" + k + "\": {\"lo\": -1, \"hi\": 2}}", k);
    ExpectRefused("{\"" + k + "\": \"[0, 9]\"}", k);
  }
  // allow_loops: a bool, not 0/1 or a string.
  ExpectRefused(R"({"allow_loops": 1})", "allow_loops");
  ExpectRefused(R"({"allow_loops": 0})", "allow_loops");
  ExpectRefused(R"({"allow_loops": "true"})", "allow_loops");
  ExpectRefused(R"({"allow_loops": null})", "allow_loops");
}

TEST(ConfigJson, OutOfRangeValuesAreNamed) {
  ExpectRefused(R"({"max_expr_depth": 0})", "max_expr_depth");
  ExpectRefused(R"({"max_expr_depth": 17})", "max_expr_depth");
  ExpectRefused(R"({"max_expr_depth": -1})", "max_expr_depth");
  ExpectRefused(R"({"max_block_stmts": 0})", "max_block_stmts");
  ExpectRefused(R"({"max_block_stmts": 65})", "max_block_stmts");
  ExpectRefused(R"({"max_control_depth": -1})", "max_control_depth");
  ExpectRefused(R"({"max_control_depth": 9})", "max_control_depth");
  ExpectRefused(R"({"max_locals": -1})", "max_locals");
  ExpectRefused(R"({"max_locals": 21})", "max_locals");
  ExpectRefused(R"({"max_functions": 0})", "max_functions");
  ExpectRefused(R"({"max_functions": 17})", "max_functions");

  ExpectRefused(R"({"arities": [7]})", "arities");
  ExpectRefused(R"({"arities": [-1]})", "arities");
  ExpectRefused(R"({"arities": [1, 2, 1]})", "arities");  // duplicate
  ExpectRefused(R"({"arities": []})", "arities");
  ExpectRefused(R"({"arities": [0, 1, 2, 3, 4, 5, 6, 0]})", "arities");  // eight entries

  ExpectRefused(R"({"arities": [3], "max_locals": 25})", "max_locals");  // 28 names > 26

  ExpectRefused(R"({"const_range": [5, 2]})", "const_range");
  ExpectRefused(R"({"const_range": [-1, 5]})", "const_range");
  ExpectRefused(R"({"const_range": [0, 1048577]})", "const_range");   // above 2^20
  ExpectRefused(R"({"const_range": [0, 1024]})", "const_range");      // 1025 constants

  ExpectRefused(R"({"value_range": [0, 100]})", "value_range");       // lo must be negative
  ExpectRefused(R"({"const_range": [0, 100], "value_range": [-5, 50]})", "value_range");
  ExpectRefused(R"({"value_range": [-5, 8]})", "value_range");        // default consts 0..9
  ExpectRefused(R"({"value_range": [-4611686018427387905, 10]})", "value_range");  // < -2^62
  ExpectRefused(R"({"value_range": [-10, 4611686018427387905]})", "value_range");  // > 2^62
}

TEST(ConfigJson, IntegerOverflowIsNamed) {
  // Beyond int but within int64: must not wrap around into the valid range.
  ExpectRefused(R"({"max_expr_depth": 4294967300})", "max_expr_depth");  // 2^32 + 4
  ExpectRefused(R"({"max_block_stmts": 2147483648})", "max_block_stmts");
  ExpectRefused(R"({"max_locals": -2147483649})", "max_locals");
  ExpectRefused(R"({"max_functions": 9223372036854775807})", "max_functions");
  ExpectRefused(R"({"arities": [4294967298]})", "arities");  // 2^32 + 2
  // Beyond int64.
  ExpectRefused(R"({"max_control_depth": 99999999999999999999})", "max_control_depth");
  ExpectRefused(R"({"max_expr_depth": -99999999999999999999})", "max_expr_depth");
  ExpectRefused(R"({"const_range": [0, 99999999999999999999]})", "const_range");
  ExpectRefused(R"({"value_range": [-99999999999999999999, 10]})", "value_range");
  ExpectRefused(R"({"value_range": [-9223372036854775808, 10]})", "value_range");
}

TEST(ConfigJson, FromJsonValueRefusesNonObjects) {
  EXPECT_FALSE(DecodeConfigFromJson(json::Value::Int(3)).ok());
  EXPECT_FALSE(DecodeConfigFromJson(json::Value()).ok());
  absl::StatusOr<DecodeConfig> c = DecodeConfigFromJson(json::Value::MakeObject(
      {{"max_expr_depth", json::Value::Int(6)}, {"allow_loops", json::Value::Bool(true)}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_expr_depth, 6);
  EXPECT_TRUE(c->allow_loops);
}

TEST(ConfigJson, ToJsonHasEveryField) {
  absl::StatusOr<json::Value> v = json::Parse(DecodeConfigToJson(DecodeConfig{}));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_object());
  // Every field of the table, and nothing else (the table's names, not a list kept here).
  for (absl::string_view key : DecodeConfigFieldNames()) {
    EXPECT_NE(v->Find(std::string_view(key.data(), key.size())), nullptr) << key;
  }
  EXPECT_EQ(v->as_object().size(), DecodeConfigFieldNames().size());
  EXPECT_GE(DecodeConfigFieldNames().size(), 16u);  // arities .. no_trivial_self_ops
}

TEST(ConfigJson, ToJsonRoundTrips) {
  DecodeConfig custom;
  custom.arities = {6, 0, 3};
  custom.max_block_stmts = 33;
  custom.max_expr_depth = 16;
  custom.max_control_depth = 8;
  custom.max_locals = 20;
  custom.max_functions = 1;
  custom.const_range = {1047553, 1048576};
  custom.value_range = {-(int64_t{1} << 62), int64_t{1} << 62};
  custom.allow_loops = true;
  ASSERT_TRUE(ValidateConfig(custom).ok());

  DecodeConfig small;
  small.arities = {0};
  small.max_block_stmts = 1;
  small.max_expr_depth = 1;
  small.max_control_depth = 0;
  small.max_locals = 0;
  small.const_range = {0, 0};
  small.value_range = {-1, 0};

  for (const DecodeConfig& c : {DecodeConfig{}, custom, small}) {
    const std::string text = DecodeConfigToJson(c);
    SCOPED_TRACE(text);
    absl::StatusOr<DecodeConfig> back = DecodeConfigFromJsonText(text);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameConfig(*back, c);
    EXPECT_EQ(DecodeConfigToJson(*back), text);  // and the text is stable
  }
}

TEST(PolicyJson, DefaultsForEmptyObject) {
  absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText("{}");
  ASSERT_TRUE(p.ok()) << p.status();
  const PolicyConfig defaults;
  EXPECT_TRUE(p->weights.empty());
  EXPECT_EQ(p->depth_pressure, defaults.depth_pressure);
  EXPECT_EQ(p->budget_pressure, defaults.budget_pressure);
}

TEST(PolicyJson, AcceptsEveryKey) {
  absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText(
      R"({"weights": {"if": 2, "variable": 5.5, "+": 0}, "depth_pressure": 0.25,
          "budget_pressure": 3})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->weights.size(), 3u);
  EXPECT_EQ(p->weights.at("if"), 2.0);
  EXPECT_EQ(p->weights.at("variable"), 5.5);
  EXPECT_EQ(p->weights.at("+"), 0.0);
  EXPECT_EQ(p->depth_pressure, 0.25);
  EXPECT_EQ(p->budget_pressure, 3.0);

  // Each key alone; the others keep their defaults.
  absl::StatusOr<PolicyConfig> d = PolicyConfigFromJsonText(R"({"depth_pressure": 2})");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->depth_pressure, 2.0);
  EXPECT_EQ(d->budget_pressure, PolicyConfig{}.budget_pressure);
  absl::StatusOr<PolicyConfig> w = PolicyConfigFromJsonText(R"({"weights": {}})");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(w->weights.empty());
}

TEST(PolicyJson, RefusesUnknownAndMalformedKeys) {
  ExpectPolicyRefused(R"({"bogus": 1})", "bogus");
  ExpectPolicyRefused(R"({"depth_pressure": 1, "temperature": 0.7})", "temperature");
  ExpectPolicyRefused(R"({"weights": [1, 2]})", "weights");
  ExpectPolicyRefused(R"({"weights": 3})", "weights");
  ExpectPolicyRefused(R"({"weights": {"if": "2"}})", "weights.if");
  ExpectPolicyRefused(R"({"weights": {"if": true}})", "weights.if");
  ExpectPolicyRefused(R"({"depth_pressure": "1.5"})", "depth_pressure");
  ExpectPolicyRefused(R"({"budget_pressure": null})", "budget_pressure");
  for (const char* text : {"[]", "2", "{", "{bad}"}) {
    absl::StatusOr<PolicyConfig> p = PolicyConfigFromJsonText(text);
    EXPECT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace astcd
