// Core <-> protobuf for the client side: requests out, results back into the core's types.
// The server's half is server/convert.h; tests/client/remote_convert_test.cc checks that
// what one writes the other reads back unchanged.
#ifndef ASTCD_CLIENT_REMOTE_CONVERT_H_
#define ASTCD_CLIENT_REMOTE_CONVERT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "astcd/v1/astcd.pb.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/tokenize.h"

namespace astcd::client {

// Every field is set explicitly, so the server's defaults never matter.
void ConfigToProto(const DecodeConfig& config, v1::DecodeConfig* out);
v1::Start StartToProto(Start start);
void InitToProto(const InitRequest& request, v1::InitRequest* out);

// Little-endian int32 words; InvalidArgument if the length is not a whole number of rows.
absl::StatusOr<std::vector<int32_t>> MaskWords(const std::string& bytes, int rows,
                                               int words_per_row);

// The results, back in core types. Unknown enum names (a newer server) are InvalidArgument.
absl::StatusOr<Value> ValueFromProto(const v1::Value& value);
absl::StatusOr<RunOutcome> OutcomeFromProto(const v1::Outcome& outcome);
absl::StatusOr<TokenizeResult> TokenizeResultFromProto(const v1::TokenizeResult& result,
                                                       Start start);
absl::StatusOr<DecodeResult> DecodeResultFromProto(const v1::DecodeResult& result);

// A server's error as an absl::Status: its code and message, and, when the serialized
// google.rpc.Status `details` holds a BadRequest, its first FieldViolation as a FieldError
// (core/errors.h) whose field is the violation's path and whose description is the
// violation's (the message without its first field).
absl::Status StatusFromRpc(int code, const std::string& message, const std::string& details);

}  // namespace astcd::client

#endif  // ASTCD_CLIENT_REMOTE_CONVERT_H_
