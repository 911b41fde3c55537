// DecodeConfig: the size and shape knobs of the AST-CD language, and their validation.
#ifndef ASTCD_CORE_CONFIG_H_
#define ASTCD_CORE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/enum_names.h"

namespace astcd {

// The root a decode starts from. MODULE is the default. Proto enum Start has the same numbers
// and names (START_ + the name in capitals; tests/proto/wire_tables_test.cc checks it).
#define ASTCD_START(X)     \
  X(kModule, "module")     \
  X(kFunction, "function") \
  X(kBlock, "block")       \
  X(kExpr, "expr")
ASTCD_WIRE_ENUM(Start, "start", ASTCD_START)

inline absl::string_view StartName(Start start) { return EnumName(start); }
inline absl::StatusOr<Start> ParseStart(absl::string_view name) { return ParseEnum<Start>(name); }

// Every DecodeConfig field, once: type, name, default, the check ValidateConfig applies
// (core/config.cc). The struct, its validation, JSON in and out (cli/config_json.cc), the
// proto mapping both ways (server/convert.cc, client/remote_convert.cc) and the engine cache
// key (server/session_store.cc) expand it; tests check it against proto DecodeConfig's fields.
// docs/language.md ("Configuration") gives each field's meaning, default and range. The ranges
// of arities and max_locals keep num_names() <= 6 + 20 = 26: every variable is one letter.
#define ASTCD_DECODE_CONFIG(X)                                                              \
  X(IntList, arities, (IntList{1, 2, 3}), DistinctBetween(0, 6))                             \
  X(int, max_block_stmts, 4, Between(1, 64))                                                 \
  X(int, max_expr_depth, 4, Between(1, 16))                                                  \
  X(int, max_control_depth, 2, Between(0, 8))                                                \
  X(int, max_locals, 4, Between(0, 20))                                                      \
  X(int, max_functions, 3, Between(1, 16))                                                   \
  X(Range, const_range, (Range{0, 9}), ConstRange())                                        \
  X(Range, value_range, (Range{-(int64_t{1} << 31), (int64_t{1} << 31) - 1}), ValueRange()) \
  X(bool, allow_loops, false, AnyBool(/*widest=*/true))                                    \
  X(bool, no_dead_code, false, AnyBool(/*widest=*/false))                                   \
  X(bool, require_return_value, false, AnyBool(/*widest=*/false))                           \
  X(bool, use_all_params, false, AnyBool(/*widest=*/false))                                 \
  X(bool, no_unused_locals, false, ReadCapacity())                                          \
  X(bool, no_constant_tests, false, AnyBool(/*widest=*/false))                              \
  X(bool, no_constant_subexpressions, false, AnyBool(/*widest=*/false))                     \
  X(bool, no_trivial_self_ops, false, AnyBool(/*widest=*/false))

struct DecodeConfig {
  using IntList = std::vector<int>;
  using Range = std::pair<int64_t, int64_t>;  // [lo, hi]
#define ASTCD_CONFIG_MEMBER(type, name, default_value, check) type name = default_value;
  ASTCD_DECODE_CONFIG(ASTCD_CONFIG_MEMBER)
#undef ASTCD_CONFIG_MEMBER

  int max_arity() const;
  int num_names() const { return max_arity() + max_locals; }  // variable tokens a, b, ...
};

// The fields' names in table order: "arities", "max_block_stmts", ...
absl::Span<const absl::string_view> DecodeConfigFieldNames();

// Nesting in any tree astcd builds or walks (a parse tree, an AST): deeper input is refused
// before it is walked, so that recursion fits the smallest thread stack the server runs on
// (docs/language.md, section 10). Chains built in a loop (elif, a + a + ...) count one level a
// link. The language itself needs far less: max_expr_depth <= 16, max_control_depth <= 8.
inline constexpr int kMaxNesting = 100;

// Limits on a request's token budget.
inline constexpr int kDefaultMaxLen = 128;
inline constexpr int kMaxLenLimit = 1 << 16;

// Returns InvalidArgument naming the first field outside its range.
absl::Status ValidateConfig(const DecodeConfig& config);

// Constants: each is a token, so one const_range holds at most kMaxConstants of them, between 0
// and kMaxConstant.
inline constexpr int64_t kMaxConstant = int64_t{1} << 20;
inline constexpr int64_t kMaxConstants = 1024;

// The config that admits the most programs: each field at the widest value its check allows
// (const_range: the first kMaxConstants constants; value_range: its default). Tokenize asks it
// whether a bigger config would admit a source.
DecodeConfig WidestConfig();

}  // namespace astcd

#endif  // ASTCD_CORE_CONFIG_H_
