#include "cli/config_json.h"

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace astcd {
namespace {

absl::Status KeyError(const std::string& key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' ", what));
}

absl::StatusOr<int> ToInt(const std::string& key, const json::Value& v) {
  if (!v.is_int()) return KeyError(key, "must be an integer");
  if (v.as_int() < INT_MIN || v.as_int() > INT_MAX) {
    return KeyError(key, absl::StrCat("= ", v.as_int(), " is outside its range"));
  }
  return static_cast<int>(v.as_int());
}

// One field from its JSON value, by the field's type.
absl::Status FromJson(const std::string& key, const json::Value& v, int* out) {
  absl::StatusOr<int> i = ToInt(key, v);
  if (!i.ok()) return i.status();
  *out = *i;
  return absl::OkStatus();
}
absl::Status FromJson(const std::string& key, const json::Value& v, DecodeConfig::IntList* out) {
  if (!v.is_array()) return KeyError(key, "must be an array of integers");
  out->clear();
  for (const json::Value& item : v.as_array()) {
    absl::StatusOr<int> i = ToInt(key, item);
    if (!i.ok()) return i.status();
    out->push_back(*i);
  }
  return absl::OkStatus();
}
absl::Status FromJson(const std::string& key, const json::Value& v, DecodeConfig::Range* out) {
  if (!v.is_array() || v.as_array().size() != 2 || !v.as_array()[0].is_int() ||
      !v.as_array()[1].is_int()) {
    return KeyError(key, "must be a [lo, hi] pair of integers");
  }
  *out = {v.as_array()[0].as_int(), v.as_array()[1].as_int()};
  return absl::OkStatus();
}
absl::Status FromJson(const std::string& key, const json::Value& v, bool* out) {
  if (!v.is_bool()) return KeyError(key, "must be true or false");
  *out = v.as_bool();
  return absl::OkStatus();
}

// One field as JSON, by the field's type.
void ToJson(int v, json::Writer& w) { w.Int(v); }
void ToJson(bool v, json::Writer& w) { w.Bool(v); }
void ToJson(const DecodeConfig::IntList& v, json::Writer& w) {
  w.BeginArray();
  for (int i : v) w.Int(i);
  w.EndArray();
}
void ToJson(const DecodeConfig::Range& v, json::Writer& w) {
  w.BeginArray();
  w.Int(v.first);
  w.Int(v.second);
  w.EndArray();
}

absl::Status FieldFromJson(const std::string& key, const json::Value& value, DecodeConfig* c) {
#define ASTCD_FIELD_FROM_JSON(type, name, default_value, check) \
  if (key == #name) return FromJson(key, value, &c->name);
  ASTCD_DECODE_CONFIG(ASTCD_FIELD_FROM_JSON)
#undef ASTCD_FIELD_FROM_JSON
  return absl::InvalidArgumentError(
      absl::StrCat("unknown config key '", key,
                   "' (known: ", absl::StrJoin(DecodeConfigFieldNames(), ", "), ")"));
}

}  // namespace

absl::StatusOr<DecodeConfig> DecodeConfigFromJson(const json::Value& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("the config must be a JSON object");
  DecodeConfig config;
  for (const auto& [key, value] : object.as_object()) {
    if (absl::Status s = FieldFromJson(key, value, &config); !s.ok()) return s;
  }
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  return config;
}

absl::StatusOr<DecodeConfig> DecodeConfigFromJsonText(const std::string& text) {
  absl::StatusOr<json::Value> value = json::Parse(text);
  if (!value.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--config: ", value.status().message()));
  }
  return DecodeConfigFromJson(*value);
}

absl::StatusOr<PolicyConfig> PolicyConfigFromJsonText(const std::string& text) {
  absl::StatusOr<json::Value> value = json::Parse(text);
  if (!value.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--policy: ", value.status().message()));
  }
  if (!value->is_object()) return absl::InvalidArgumentError("--policy must be a JSON object");
  PolicyConfig policy;
  for (const auto& [key, v] : value->as_object()) {
    if (key == "depth_pressure" || key == "budget_pressure") {
      if (!v.is_number()) return KeyError(key, "must be a number");
      (key == "depth_pressure" ? policy.depth_pressure : policy.budget_pressure) = v.as_double();
    } else if (key == "weights" && v.is_object()) {
      for (const auto& [name, w] : v.as_object()) {
        if (!w.is_number()) return KeyError(absl::StrCat("weights.", name), "must be a number");
        policy.weights[name] = w.as_double();
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown or malformed policy key '", key,
          "' (known: weights (an object), depth_pressure, budget_pressure)"));
    }
  }
  return policy;
}

std::string DecodeConfigToJson(const DecodeConfig& config) {
  json::Writer w;
  w.BeginObject();
#define ASTCD_FIELD_TO_JSON(type, name, default_value, check) \
  w.Key(#name);                                               \
  ToJson(config.name, w);
  ASTCD_DECODE_CONFIG(ASTCD_FIELD_TO_JSON)
#undef ASTCD_FIELD_TO_JSON
  w.EndObject();
  return w.str();
}

}  // namespace astcd
