// DecodeConfig: the size and shape knobs of the AST-CD language, and their validation.
#ifndef ASTCD_CORE_CONFIG_H_
#define ASTCD_CORE_CONFIG_H_

#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace astcd {

// The root a decode starts from. MODULE is the default.
enum class Start : uint8_t { kModule, kFunction, kBlock, kExpr };

absl::string_view StartName(Start start);  // "module", "function", "block", "expr"
absl::StatusOr<Start> ParseStart(absl::string_view name);

// Every field has a documented default and range (docs/language.md, "Configuration").
struct DecodeConfig {
  std::vector<int> arities = {1, 2, 3};      // allowed function arities, each 0..6, distinct
  int max_block_stmts = 4;                   // statements per block, 1..64
  int max_expr_depth = 4;                    // expression tree depth (a leaf is depth 1), 1..16
  int max_control_depth = 2;                 // nesting of if/for, 0..8
  int max_locals = 4;                        // locals per function beyond the parameters, 0..20
  int max_functions = 3;                     // functions in a MODULE, 1..16
  std::pair<int64_t, int64_t> const_range = {0, 9};  // integer literals, 0 <= lo <= hi <= 2^20
  std::pair<int64_t, int64_t> value_range = {-(int64_t{1} << 31), (int64_t{1} << 31) - 1};
  bool allow_loops = false;                  // for/range loops with break and continue

  int max_arity() const;
  int num_names() const { return max_arity() + max_locals; }  // variable tokens a, b, ...
};

// Limits on a request's token budget.
inline constexpr int kDefaultMaxLen = 128;
inline constexpr int kMaxLenLimit = 1 << 16;

// Returns InvalidArgument naming the first field outside its range.
absl::Status ValidateConfig(const DecodeConfig& config);

}  // namespace astcd

#endif  // ASTCD_CORE_CONFIG_H_
