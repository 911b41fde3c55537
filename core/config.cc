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

// The checks of ASTCD_DECODE_CONFIG's last column: each takes the field's name, its value and
// the whole config (a range may depend on an earlier field).
// Each check also says its field's widest value, for WidestConfig.
// Constructors, not aggregates: clang 14 (the fuzz and TSan builds) lacks C++20's parenthesized
// aggregate initialization.
struct Between {
  int64_t lo, hi;
  constexpr Between(int64_t low, int64_t high) : lo(low), hi(high) {}
  absl::Status operator()(absl::string_view field, int value, const DecodeConfig&) const {
    return CheckRange(field, value, lo, hi);
  }
  int Widest(int) const { return static_cast<int>(hi); }
};

struct DistinctBetween {
  int lo, hi;
  constexpr DistinctBetween(int low, int high) : lo(low), hi(high) {}
  std::vector<int> Widest(const std::vector<int>&) const {
    std::vector<int> all;
    for (int v = lo; v <= hi; ++v) all.push_back(v);
    return all;
  }
  absl::Status operator()(absl::string_view field, const std::vector<int>& values,
                          const DecodeConfig&) const {
    const size_t most = static_cast<size_t>(hi - lo + 1);
    if (values.empty() || values.size() > most) {
      return ConfigError(field, " ", absl::StrCat("must list 1 to ", most, " ", field));
    }
    for (size_t i = 0; i < values.size(); ++i) {
      if (auto s = CheckRange(absl::StrCat(field, "[", i, "]"), values[i], lo, hi); !s.ok()) {
        return s;
      }
      for (size_t j = 0; j < i; ++j) {
        if (values[j] == values[i]) {
          return ConfigError(field, " ", absl::StrCat("lists ", values[i], " twice"));
        }
      }
    }
    return absl::OkStatus();
  }
};

// Every constant is a token, so there are at most 1024 of them.
struct ConstRange {
  absl::Status operator()(absl::string_view field, std::pair<int64_t, int64_t> range,
                          const DecodeConfig&) const {
    const auto [lo, hi] = range;
    if (auto s = CheckRange(absl::StrCat(field, "[0]"), lo, 0, kMaxConstant); !s.ok()) return s;
    if (auto s = CheckRange(absl::StrCat(field, "[1]"), hi, lo, kMaxConstant); !s.ok()) return s;
    if (hi - lo + 1 > kMaxConstants) {
      return ConfigError(field, " ",
                         absl::StrCat("[", lo, ", ", hi, "] holds ", hi - lo + 1,
                                      " constants; at most ", kMaxConstants, " are allowed"));
    }
    return absl::OkStatus();
  }
  std::pair<int64_t, int64_t> Widest(std::pair<int64_t, int64_t>) const {
    return {0, kMaxConstants - 1};
  }
};

// The interpreter's values hold every constant and stay far from int64's ends.
struct ValueRange {
  absl::Status operator()(absl::string_view field, std::pair<int64_t, int64_t> range,
                          const DecodeConfig& c) const {
    constexpr int64_t kValueLimit = int64_t{1} << 62;
    const auto [lo, hi] = range;
    if (auto s = CheckRange(absl::StrCat(field, "[0]"), lo, -kValueLimit, -1); !s.ok()) return s;
    return CheckRange(absl::StrCat(field, "[1]"), hi, c.const_range.second, kValueLimit);
  }
  // Values do not decide what a config admits; the default covers every widest const_range.
  std::pair<int64_t, int64_t> Widest(std::pair<int64_t, int64_t> default_value) const {
    return default_value;
  }
};

struct AnyBool {
  bool widest;  // the value that admits more programs
  explicit constexpr AnyBool(bool widest_value) : widest(widest_value) {}
  absl::Status operator()(absl::string_view, bool, const DecodeConfig&) const {
    return absl::OkStatus();
  }
  bool Widest(bool) const { return widest; }
};

// use_all_params and no_unused_locals: one `return` must be able to read every name that can be
// owed a read at once (docs/language.md, section 4.1), so 2^(max_expr_depth - 1) leaves must
// hold them. Checked on the last of the two rows, when both are known.
struct ReadCapacity {
  absl::Status operator()(absl::string_view field, bool, const DecodeConfig& c) const {
    const int owed = c.no_unused_locals ? c.num_names() : c.use_all_params ? c.max_arity() : 0;
    const int64_t leaves = int64_t{1} << (c.max_expr_depth - 1);
    if (owed <= leaves) return absl::OkStatus();
    int depth = 1;
    while ((int64_t{1} << (depth - 1)) < owed) ++depth;
    return ConfigError(c.no_unused_locals ? field : "use_all_params", " ",
                       absl::StrCat("needs max_expr_depth >= ", depth, ", so that one return can "
                                    "read all ", owed, " names that may be owed a read"));
  }
  bool Widest(bool) const { return false; }
};

}  // namespace

int DecodeConfig::max_arity() const {
  return arities.empty() ? 0 : *std::max_element(arities.begin(), arities.end());
}

absl::Span<const absl::string_view> DecodeConfigFieldNames() {
#define ASTCD_FIELD_NAME(type, name, default_value, check) #name,
  static constexpr absl::string_view kNames[] = {ASTCD_DECODE_CONFIG(ASTCD_FIELD_NAME)};
#undef ASTCD_FIELD_NAME
  return kNames;
}

DecodeConfig WidestConfig() {
  DecodeConfig c;
#define ASTCD_WIDEST_FIELD(type, name, default_value, check) c.name = check.Widest(c.name);
  ASTCD_DECODE_CONFIG(ASTCD_WIDEST_FIELD)
#undef ASTCD_WIDEST_FIELD
  return c;
}

absl::Status ValidateConfig(const DecodeConfig& c) {
#define ASTCD_CHECK_FIELD(type, name, default_value, check) \
  if (absl::Status s = check(#name, c.name, c); !s.ok()) return s;
  ASTCD_DECODE_CONFIG(ASTCD_CHECK_FIELD)
#undef ASTCD_CHECK_FIELD
  return absl::OkStatus();
}

}  // namespace astcd
