#include "core/config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/errors.h"

namespace astcd {
namespace {

// "config.<field> ..." about one field of the config.
absl::Status ConfigError(absl::string_view field, absl::string_view separator,
                         absl::string_view description) {
  return FieldStatus(absl::StatusCode::kInvalidArgument,
                     FieldError{absl::StrCat("config.", field), "", std::string(separator),
                                std::string(description)});
}

absl::Status OutOfRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  return ConfigError(field, " = ",
                     absl::StrCat(value, " is outside its range [", lo, ", ", hi, "]"));
}

absl::Status CheckRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) return OutOfRange(field, value, lo, hi);
  return absl::OkStatus();
}

}  // namespace

absl::string_view StartName(Start start) {
  switch (start) {
    case Start::kModule: return "module";
    case Start::kFunction: return "function";
    case Start::kBlock: return "block";
    case Start::kExpr: return "expr";
  }
  return "?";
}

absl::StatusOr<Start> ParseStart(absl::string_view name) {
  for (Start s : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
    if (name == StartName(s)) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("start '", name, "' is not one of module, function, block, expr"));
}

int DecodeConfig::max_arity() const {
  return arities.empty() ? 0 : *std::max_element(arities.begin(), arities.end());
}

absl::Status ValidateConfig(const DecodeConfig& c) {
  if (c.arities.empty() || c.arities.size() > 7) {
    return ConfigError("arities", " ", "must list 1 to 7 arities");
  }
  for (size_t i = 0; i < c.arities.size(); ++i) {
    if (auto s = CheckRange(absl::StrCat("arities[", i, "]"), c.arities[i], 0, 6); !s.ok()) {
      return s;
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.arities[j] == c.arities[i]) {
        return ConfigError("arities", " ", absl::StrCat("lists ", c.arities[i], " twice"));
      }
    }
  }
  if (auto s = CheckRange("max_block_stmts", c.max_block_stmts, 1, 64); !s.ok()) return s;
  if (auto s = CheckRange("max_expr_depth", c.max_expr_depth, 1, 16); !s.ok()) return s;
  if (auto s = CheckRange("max_control_depth", c.max_control_depth, 0, 8); !s.ok()) return s;
  if (auto s = CheckRange("max_locals", c.max_locals, 0, 20); !s.ok()) return s;
  if (auto s = CheckRange("max_functions", c.max_functions, 1, 16); !s.ok()) return s;
  // The ranges keep num_names() <= 6 + 20 = 26, so every variable is one letter a..z.
  const auto [clo, chi] = c.const_range;
  if (auto s = CheckRange("const_range[0]", clo, 0, 1 << 20); !s.ok()) return s;
  if (auto s = CheckRange("const_range[1]", chi, clo, 1 << 20); !s.ok()) return s;
  if (chi - clo + 1 > 1024) {
    return ConfigError("const_range", " ",
                       absl::StrCat("[", clo, ", ", chi, "] holds ", chi - clo + 1,
                                    " constants; at most 1024 are allowed"));
  }
  const auto [vlo, vhi] = c.value_range;
  constexpr int64_t kValueLimit = int64_t{1} << 62;
  if (auto s = CheckRange("value_range[0]", vlo, -kValueLimit, -1); !s.ok()) return s;
  if (auto s = CheckRange("value_range[1]", vhi, chi, kValueLimit); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace astcd
