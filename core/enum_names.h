// The names of the enums that travel on the wire (as strings or as proto enums), each written
// once: ASTCD_WIRE_ENUM declares the enum and its name table from one X-macro list, and
// EnumName, ParseEnum and EnumValues read that table. Core, the server's proto conversion,
// the C++ client and the CLI all go through them.
#ifndef ASTCD_CORE_ENUM_NAMES_H_
#define ASTCD_CORE_ENUM_NAMES_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace astcd {

template <typename Enum>
struct EnumRow {
  Enum value;
  absl::string_view name;
};

// Specialized once per enum: kWhat (what a parse error calls the value, e.g. "start") and
// kRows (the values in order, each with its name; a value listed again right after itself is
// an alias that ParseEnum accepts and EnumName never returns).
template <typename Enum>
struct EnumNames;

#define ASTCD_ENUM_ENUMERATOR(value, name) value,
#define ASTCD_ENUM_NAME_ROW(value, name) {Type::value, name},
#define ASTCD_WIRE_ENUM(Enum, what, LIST)                                 \
  enum class Enum : uint8_t { LIST(ASTCD_ENUM_ENUMERATOR) };              \
  template <>                                                             \
  struct EnumNames<Enum> {                                                \
    using Type = Enum;                                                    \
    static constexpr absl::string_view kWhat = what;                      \
    static constexpr EnumRow<Enum> kRows[] = {LIST(ASTCD_ENUM_NAME_ROW)}; \
  };

template <typename Enum>
absl::string_view EnumName(Enum value) {
  for (const EnumRow<Enum>& row : EnumNames<Enum>::kRows) {
    if (row.value == value) return row.name;
  }
  return "?";
}

// The value named `name` (or an alias of it), if any.
template <typename Enum>
std::optional<Enum> FindEnum(absl::string_view name) {
  for (const EnumRow<Enum>& row : EnumNames<Enum>::kRows) {
    if (row.name == name) return row.value;
  }
  return std::nullopt;
}

// Why `name` is no value: "'<name>' is not one of <every name>".
template <typename Enum>
std::string NotANameOf(absl::string_view name) {
  std::string known;
  for (const EnumRow<Enum>& row : EnumNames<Enum>::kRows) {
    absl::StrAppend(&known, known.empty() ? "" : ", ", row.name);
  }
  return absl::StrCat("'", name, "' is not one of ", known);
}

// InvalidArgument "<what> '<name>' is not one of <every name>" for a name not in the table.
template <typename Enum>
absl::StatusOr<Enum> ParseEnum(absl::string_view name) {
  if (std::optional<Enum> value = FindEnum<Enum>(name)) return *value;
  return absl::InvalidArgumentError(absl::StrCat(EnumNames<Enum>::kWhat, " ", NotANameOf<Enum>(name)));
}

// How many values the enum has (aliases not counted); they are 0 .. EnumCount() - 1.
template <typename Enum>
constexpr size_t EnumCount() {
  return static_cast<size_t>(std::end(EnumNames<Enum>::kRows)[-1].value) + 1;
}

}  // namespace astcd

#endif  // ASTCD_CORE_ENUM_NAMES_H_
