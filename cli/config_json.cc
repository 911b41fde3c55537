#include "cli/config_json.h"

#include <climits>

#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::pair<int64_t, int64_t>> ToRange(const std::string& key, const json::Value& v) {
  if (!v.is_array() || v.as_array().size() != 2 || !v.as_array()[0].is_int() ||
      !v.as_array()[1].is_int()) {
    return KeyError(key, "must be a [lo, hi] pair of integers");
  }
  return std::make_pair(v.as_array()[0].as_int(), v.as_array()[1].as_int());
}

}  // namespace

absl::StatusOr<DecodeConfig> DecodeConfigFromJson(const json::Value& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("the config must be a JSON object");
  DecodeConfig config;
  for (const auto& [key, value] : object.as_object()) {
    int* int_field = key == "max_block_stmts"     ? &config.max_block_stmts
                     : key == "max_expr_depth"    ? &config.max_expr_depth
                     : key == "max_control_depth" ? &config.max_control_depth
                     : key == "max_locals"        ? &config.max_locals
                     : key == "max_functions"     ? &config.max_functions
                                                  : nullptr;
    if (int_field != nullptr) {
      absl::StatusOr<int> v = ToInt(key, value);
      if (!v.ok()) return v.status();
      *int_field = *v;
    } else if (key == "const_range" || key == "value_range") {
      absl::StatusOr<std::pair<int64_t, int64_t>> v = ToRange(key, value);
      if (!v.ok()) return v.status();
      (key == "const_range" ? config.const_range : config.value_range) = *v;
    } else if (key == "allow_loops") {
      if (!value.is_bool()) return KeyError(key, "must be true or false");
      config.allow_loops = value.as_bool();
    } else if (key == "arities") {
      if (!value.is_array()) return KeyError(key, "must be an array of integers");
      config.arities.clear();
      for (const json::Value& a : value.as_array()) {
        absl::StatusOr<int> v = ToInt(key, a);
        if (!v.ok()) return v.status();
        config.arities.push_back(*v);
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown config key '", key,
          "' (known: arities, max_block_stmts, max_expr_depth, max_control_depth, max_locals, "
          "max_functions, const_range, value_range, allow_loops)"));
    }
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
  w.Key("arities");
  w.BeginArray();
  for (int a : config.arities) w.Int(a);
  w.EndArray();
  w.Key("max_block_stmts");
  w.Int(config.max_block_stmts);
  w.Key("max_expr_depth");
  w.Int(config.max_expr_depth);
  w.Key("max_control_depth");
  w.Int(config.max_control_depth);
  w.Key("max_locals");
  w.Int(config.max_locals);
  w.Key("max_functions");
  w.Int(config.max_functions);
  for (const auto& [name, range] : {std::make_pair("const_range", config.const_range),
                                    std::make_pair("value_range", config.value_range)}) {
    w.Key(name);
    w.BeginArray();
    w.Int(range.first);
    w.Int(range.second);
    w.EndArray();
  }
  w.Key("allow_loops");
  w.Bool(config.allow_loops);
  w.EndObject();
  return w.str();
}

}  // namespace astcd
