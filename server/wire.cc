#include "server/wire.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "absl/strings/str_cat.h"
#include "core/errors.h"

namespace astcd::server {

absl::Status ParseMessage(const grpc::ByteBuffer& raw, google::protobuf::Message* out) {
  grpc::ByteBuffer copy(raw);  // shares the slices; the reader needs a mutable buffer
  grpc::ProtoBufferReader reader(&copy);
  if (!reader.status().ok() || !out->ParseFromZeroCopyStream(&reader)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is not a valid ", out->GetTypeName(),
                     " (malformed protobuf bytes, or a string field that is not UTF-8)"));
  }
  return absl::OkStatus();
}

absl::Status SerializeMessage(const google::protobuf::Message& message, int64_t max_bytes,
                              grpc::ByteBuffer* out) {
  const size_t size = message.ByteSizeLong();
  if (static_cast<int64_t>(size) > max_bytes) {
    return FieldStatus(absl::StatusCode::kResourceExhausted, "response",
                       absl::StrCat("the response would take ", size,
                                    " bytes, over the server's --max-response-bytes of ",
                                    max_bytes, "; ask for less per call"));
  }
  out->Clear();  // the writer wants an empty buffer (a stream reuses one)
  bool own_buffer = false;
  const grpc::Status s = grpc::GenericSerialize<grpc::ProtoBufferWriter,
                                                google::protobuf::Message>(message, out,
                                                                           &own_buffer);
  if (!s.ok()) return absl::InternalError(s.error_message());
  return absl::OkStatus();
}

}  // namespace astcd::server
