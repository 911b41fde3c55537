// DecodeConfig and PolicyConfig from JSON objects whose keys are the fields' names.
#ifndef ASTCD_CLI_CONFIG_JSON_H_
#define ASTCD_CLI_CONFIG_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "cli/json.h"
#include "core/config.h"
#include "core/sampler.h"

namespace astcd {

// Unknown keys, wrong types and values outside a field's range are InvalidArgument errors
// that name the key. Missing keys keep their defaults. The result is validated.
absl::StatusOr<DecodeConfig> DecodeConfigFromJson(const json::Value& object);
absl::StatusOr<DecodeConfig> DecodeConfigFromJsonText(const std::string& text);
// {"weights": {"if": 2, "variable": 5}, "depth_pressure": 1.5, "budget_pressure": 2}
absl::StatusOr<PolicyConfig> PolicyConfigFromJsonText(const std::string& text);

// The config as a JSON object, every field present.
std::string DecodeConfigToJson(const DecodeConfig& config);

}  // namespace astcd

#endif  // ASTCD_CLI_CONFIG_JSON_H_
