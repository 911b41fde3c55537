#include "core/errors.h"

#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace astcd {
namespace {

constexpr absl::string_view kPayloadUrl = "type.astcd.dev/astcd.FieldError";

// field, subfield and separator never hold a NUL; the description comes last, so it may.
absl::Cord Encode(const FieldError& e) {
  return absl::Cord(absl::StrCat(e.field, absl::string_view("\0", 1), e.subfield,
                                 absl::string_view("\0", 1), e.separator,
                                 absl::string_view("\0", 1), e.description));
}

std::optional<FieldError> Decode(const absl::Cord& payload) {
  const std::vector<std::string> parts =
      absl::StrSplit(std::string(payload), absl::MaxSplits(absl::string_view("\0", 1), 3));
  if (parts.size() != 4) return std::nullopt;
  return FieldError{parts[0], parts[1], parts[2], parts[3]};
}

}  // namespace

std::string FieldError::path() const {
  if (subfield.empty()) return field;
  return absl::StrCat(field, ".", subfield);
}

absl::Status WithFieldError(absl::Status status, const FieldError& error) {
  if (!status.ok()) status.SetPayload(kPayloadUrl, Encode(error));
  return status;
}

absl::Status FieldStatus(absl::StatusCode code, FieldError error) {
  const std::string message = absl::StrCat(error.field, error.separator, error.description);
  return WithFieldError(absl::Status(code, message), error);
}

absl::Status FieldStatus(absl::StatusCode code, absl::string_view field,
                         absl::string_view description) {
  return FieldStatus(code, FieldError{std::string(field), "", ": ", std::string(description)});
}

std::optional<FieldError> GetFieldError(const absl::Status& status) {
  const auto payload = status.GetPayload(kPayloadUrl);  // absl::optional here
  if (!payload) return std::nullopt;
  return Decode(*payload);
}

std::string FieldPathOf(const absl::Status& status) {
  const std::optional<FieldError> error = GetFieldError(status);
  return error ? error->path() : "";
}

absl::Status Within(absl::string_view field, const absl::Status& inner) {
  if (inner.ok()) return inner;
  const std::optional<FieldError> below = GetFieldError(inner);
  return FieldStatus(inner.code(), FieldError{std::string(field), below ? below->path() : "",
                                              ": ", std::string(inner.message())});
}

bool PathIsWithin(absl::string_view path, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&path, prefix)) return false;
  return path.empty() || path[0] == '.' || path[0] == '[';
}

}  // namespace astcd
