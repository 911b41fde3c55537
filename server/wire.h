// Messages as bytes: the service parses each request itself (so that bad bytes get
// INVALID_ARGUMENT, not gRPC's UNIMPLEMENTED) and serializes each response within a cap.
#ifndef ASTCD_SERVER_WIRE_H_
#define ASTCD_SERVER_WIRE_H_

#include <cstdint>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace astcd::server {

// InvalidArgument (no field: no part of the message could be read) when `raw` is not a valid
// serialized `out`, e.g. truncated bytes or a string field that is not UTF-8.
absl::Status ParseMessage(const grpc::ByteBuffer& raw, google::protobuf::Message* out);

// ResourceExhausted naming the pseudo-field `response` when `message` serializes to more than
// max_bytes (the server's --max-response-bytes).
absl::Status SerializeMessage(const google::protobuf::Message& message, int64_t max_bytes,
                              grpc::ByteBuffer* out);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_WIRE_H_
