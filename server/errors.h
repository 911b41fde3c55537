// The edge of the error path: core's errors (core/errors.h: a code and a FieldError) become
// gRPC statuses. The FieldError's path, renamed from core's names to the request's proto
// names, becomes a google.rpc.BadRequest FieldViolation; no message is read.
#ifndef ASTCD_SERVER_ERRORS_H_
#define ASTCD_SERVER_ERRORS_H_

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/status.pb.h"

namespace astcd::server {

// The request of `rpc` ("InitStates", "Decode", ...; "Decode/init_requests" for a Decode
// from init_requests) names some fields unlike core ("init_requests[1]" for core's
// "requests[1]", "config.const_range.lo" for "config.const_range[0]"): the status with its
// field, and the message, in the request's names. Every such renaming is in this one table.
absl::Status InRequestNames(absl::string_view rpc, const absl::Status& status);

// The google.rpc.Status for a status (with a BadRequest detail when it names a field).
google::rpc::Status ToRpcStatus(const absl::Status& status);

// The grpc::Status; details carry the serialized google.rpc.Status, which gRPC sends as the
// "grpc-status-details-bin" trailer.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_ERRORS_H_
