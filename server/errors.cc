#include "server/errors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace astcd::server {
namespace {

bool IsFieldChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' ||
         c == ']' || c == '-';
}

// Length of the field-like word at the start of `s` (0 if none).
size_t FieldWord(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) {
    return 0;
  }
  size_t n = 0;
  while (n < s.size() && IsFieldChar(s[n])) ++n;
  return n;
}

}  // namespace

std::string FieldFromMessage(absl::string_view message) {
  std::string field;
  absl::string_view rest = message;
  for (;;) {
    const size_t n = FieldWord(rest);
    if (n == 0) break;
    const absl::string_view word = rest.substr(0, n);
    const absl::string_view after = rest.substr(n);
    // "word: ..." is a path segment; a word with an index or a dot is a field on its own
    // ("config.max_expr_depth = 99 ...").
    if (after.substr(0, 2) == ": ") {
      if (!field.empty()) field += '.';
      field.append(word.data(), word.size());
      rest = after.substr(2);
      continue;
    }
    // Otherwise a word is a field when a value follows ("max_steps = 0 is outside ...") or,
    // in first place, when it looks like one ("stop_at 'x' is not ..."); "python_parse at line
    // 2" after "source: " is prose.
    const bool assigned = after.substr(0, 3) == " = ";
    const bool path = field.empty() && word.find_first_of(".[_") != absl::string_view::npos &&
                      (after.empty() || after[0] == ' ');
    if (assigned || path) {
      if (!field.empty()) field += '.';
      field.append(word.data(), word.size());
    }
    break;
  }
  return field;
}

absl::Status Prefix(absl::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

google::rpc::Status ToRpcStatus(const absl::Status& status) {
  google::rpc::Status out;
  out.set_code(static_cast<int>(status.code()));  // absl and gRPC share the canonical codes
  out.set_message(std::string(status.message()));
  if (status.ok()) return out;
  const std::string field = FieldFromMessage(status.message());
  if (!field.empty()) {
    google::rpc::BadRequest bad;
    google::rpc::BadRequest::FieldViolation* v = bad.add_field_violations();
    v->set_field(field);
    v->set_description(std::string(status.message()));
    out.add_details()->PackFrom(bad);
  }
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const google::rpc::Status rpc = ToRpcStatus(status);
  return grpc::Status(static_cast<grpc::StatusCode>(rpc.code()), rpc.message(),
                      rpc.SerializeAsString());
}

}  // namespace astcd::server
