// Errors as data. An error about a request field is an absl::Status whose code is its kind and
// whose payload, a FieldError, names the field: the message is rendered from the FieldError, so
// the two agree, but programs (the server's BadRequest, the clients, the CLI) read the code and
// the FieldError, never the message. Paths use core's names; server/errors.cc maps them to the
// proto's.
#ifndef ASTCD_CORE_ERRORS_H_
#define ASTCD_CORE_ERRORS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace astcd {

// The message of a field error is `field + separator + description`:
//   "config.max_expr_depth" " = " "99 is outside its range [1, 16]"
//   "requests[1]" ": " "prefix_tokens[4]: token 40 'a' is not legal ..."   (subfield
//   "prefix_tokens[4]", from an error of a nested call)
struct FieldError {
  std::string field;        // the field the message starts with: "token_ids[3]", "config.x"
  std::string subfield;     // the path below `field` that the description is about, or ""
  std::string separator;    // ": ", " = " or " "
  std::string description;  // why the field is bad: the message after field and separator

  // "requests[1].prefix_tokens[4]": field, then subfield.
  std::string path() const;
};

// A status of `code` with the error attached and the message rendered from it.
absl::Status FieldStatus(absl::StatusCode code, FieldError error);
// The common form, "field: description".
absl::Status FieldStatus(absl::StatusCode code, absl::string_view field,
                         absl::string_view description);

// Attaches `error` to `status` and keeps its message (a client does this with what a server
// sent). OK stays OK.
absl::Status WithFieldError(absl::Status status, const FieldError& error);

// The error attached to a status, if any.
std::optional<FieldError> GetFieldError(const absl::Status& status);
// Its path, or "" when the status names no field.
std::string FieldPathOf(const absl::Status& status);

// The error of a nested call, about `field`: "field: <inner message>", with the inner path
// (if any) below `field`. OK stays OK.
absl::Status Within(absl::string_view field, const absl::Status& inner);

// Whether `path` is `prefix` or below it ("requests[0].max_len" is below "requests[0]" and
// "requests"; "requests_x" is not).
bool PathIsWithin(absl::string_view path, absl::string_view prefix);

}  // namespace astcd

#endif  // ASTCD_CORE_ERRORS_H_
