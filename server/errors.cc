#include "server/errors.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "google/rpc/error_details.pb.h"

namespace astcd::server {
namespace {

struct Rename {
  absl::string_view rpc;    // "" for every RPC
  absl::string_view core;   // a field (and what is below it) as core names it
  absl::string_view proto;  // as the request names it
};

// The first row that matches wins, so an RPC's own rows come before the rows for every RPC.
constexpr Rename kRenames[] = {
    // Decode's inputs are init_requests, or stored sessions (below).
    {"Decode/init_requests", "requests", "init_requests"},
    {"Decode/init_requests", "states", "init_requests"},
    {"Run", "options.max_steps", "limits.max_steps"},
    // Run names one session, not a list of them.
    {"Run", "session_id[0]", "session_id"},
    // The core (and the CLI's JSON) write ranges as [lo, hi] pairs; the proto as Range{lo, hi}.
    {"", "config.const_range[0]", "config.const_range.lo"},
    {"", "config.const_range[1]", "config.const_range.hi"},
    {"", "config.value_range[0]", "config.value_range.lo"},
    {"", "config.value_range[1]", "config.value_range.hi"},
    // Batches of states are the sessions the request names.
    {"", "states", "session_ids"},
};

}  // namespace

absl::Status InRequestNames(absl::string_view rpc, const absl::Status& status) {
  std::optional<FieldError> error = GetFieldError(status);
  if (!error) return status;
  for (const Rename& r : kRenames) {
    if ((r.rpc.empty() || r.rpc == rpc) && PathIsWithin(error->field, r.core)) {
      error->field = absl::StrCat(r.proto, error->field.substr(r.core.size()));
      return FieldStatus(status.code(), *std::move(error));
    }
  }
  return status;
}

google::rpc::Status ToRpcStatus(const absl::Status& status) {
  google::rpc::Status out;
  out.set_code(static_cast<int>(status.code()));  // absl and gRPC share the canonical codes
  out.set_message(std::string(status.message()));
  const std::optional<FieldError> error = GetFieldError(status);
  if (status.ok() || !error) return out;
  google::rpc::BadRequest bad;
  google::rpc::BadRequest::FieldViolation* v = bad.add_field_violations();
  v->set_field(error->path());
  v->set_description(error->description);
  out.add_details()->PackFrom(bad);
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const google::rpc::Status rpc = ToRpcStatus(status);
  return grpc::Status(static_cast<grpc::StatusCode>(rpc.code()), rpc.message(),
                      rpc.SerializeAsString());
}

}  // namespace astcd::server
