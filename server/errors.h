// absl::Status <-> gRPC status, one code to one code, with a google.rpc.BadRequest naming the
// offending field. Every error of core/ and server/ starts with the field it is about
// ("token_ids[3]: ...", "config.max_expr_depth = 99 is outside ..."); that prefix becomes the
// FieldViolation's field.
#ifndef ASTCD_SERVER_ERRORS_H_
#define ASTCD_SERVER_ERRORS_H_

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/status.pb.h"

namespace astcd::server {

// "a[1]: b[2]: text" -> "a[1].b[2]"; "config.x = 5 is ..." -> "config.x"; "" if none.
std::string FieldFromMessage(absl::string_view message);

// Prefixes `field` to the message ("field: message"), keeping the code.
absl::Status Prefix(absl::string_view field, const absl::Status& status);

// The google.rpc.Status for a status (with a BadRequest detail when a field is named).
google::rpc::Status ToRpcStatus(const absl::Status& status);

// The grpc::Status; details carry the serialized google.rpc.Status, which gRPC sends as the
// "grpc-status-details-bin" trailer.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_ERRORS_H_
