#include "client/remote_convert.h"

#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "core/vocabulary.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace astcd::client {
namespace {

// The enum value the server named, from core's name table.
template <typename Enum>
absl::StatusOr<Enum> EnumFromName(const std::string& name, absl::string_view what) {
  if (std::optional<Enum> value = FindEnum<Enum>(name)) return *value;
  return absl::InvalidArgumentError(absl::StrCat(what, ": unknown name '", name, "'"));
}

void Put(const DecodeConfig::IntList& from, google::protobuf::RepeatedField<int32_t>* to) {
  to->Add(from.begin(), from.end());
}
void Put(const DecodeConfig::Range& from, v1::Range* to) {
  to->set_lo(from.first);
  to->set_hi(from.second);
}

// A template only so that `requires` can tell scalar fields (set_<name>) from the others.
template <typename Proto>
void ConfigTo(const DecodeConfig& c, Proto* out) {
#define ASTCD_FIELD_TO_PROTO(type, name, default_value, check) \
  if constexpr (requires { out->set_##name(c.name); }) {       \
    out->set_##name(c.name);                                   \
  } else {                                                     \
    Put(c.name, out->mutable_##name());                        \
  }
  ASTCD_DECODE_CONFIG(ASTCD_FIELD_TO_PROTO)
#undef ASTCD_FIELD_TO_PROTO
}

absl::StatusOr<int> VariableFromName(const std::string& name) {
  for (int var = 0; var < 26; ++var) {
    if (VariableName(var) == name) return var;
  }
  return absl::InvalidArgumentError(absl::StrCat("binding: unknown variable '", name, "'"));
}

absl::StatusOr<std::vector<std::pair<int, Value>>> BindingsFromProto(
    const google::protobuf::RepeatedPtrField<v1::Binding>& bindings) {
  std::vector<std::pair<int, Value>> out;
  for (const v1::Binding& b : bindings) {
    absl::StatusOr<int> var = VariableFromName(b.name());
    if (!var.ok()) return var.status();
    absl::StatusOr<Value> value = ValueFromProto(b.value());
    if (!value.ok()) return value.status();
    out.emplace_back(*var, *value);
  }
  return out;
}

}  // namespace

void ConfigToProto(const DecodeConfig& c, v1::DecodeConfig* out) { ConfigTo(c, out); }

// Core's enums have the proto's numbers (tests/proto/wire_tables_test.cc checks them by name).
v1::Start StartToProto(Start start) { return static_cast<v1::Start>(start); }

void InitToProto(const InitRequest& r, v1::InitRequest* out) {
  out->set_start(StartToProto(r.start));
  out->mutable_prefix_tokens()->Add(r.prefix_tokens.begin(), r.prefix_tokens.end());
  if (r.arity) out->set_arity(*r.arity);
  out->set_max_len(r.max_len);
}

absl::StatusOr<std::vector<int32_t>> MaskWords(const std::string& bytes, int rows,
                                               int words_per_row) {
  const size_t words = static_cast<size_t>(rows) * static_cast<size_t>(words_per_row);
  if (rows < 0 || words_per_row < 0 || bytes.size() != words * 4) {
    return absl::InvalidArgumentError(absl::StrCat("bitmask: ", bytes.size(), " bytes for ", rows,
                                                   " rows of ", words_per_row, " words"));
  }
  std::vector<int32_t> out(words);
  for (size_t i = 0; i < words; ++i) {
    uint32_t w = 0;
    for (int b = 3; b >= 0; --b) w = (w << 8) | static_cast<uint8_t>(bytes[i * 4 + b]);
    out[i] = static_cast<int32_t>(w);
  }
  return out;
}

absl::StatusOr<Value> ValueFromProto(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kIntValue: return Value::Int(v.int_value());
    case v1::Value::kBoolValue: return Value::Bool(v.bool_value());
    case v1::Value::kNoneValue:
    case v1::Value::KIND_NOT_SET: return Value::None();
  }
  return Value::None();
}

absl::StatusOr<RunOutcome> OutcomeFromProto(const v1::Outcome& o) {
  RunOutcome out;
  absl::StatusOr<RunStatus> status = EnumFromName<RunStatus>(o.status(), "outcome.status");
  if (!status.ok()) return status.status();
  out.status = *status;
  absl::StatusOr<Value> value = ValueFromProto(o.value());
  if (!value.ok()) return value.status();
  out.value = *value;
  out.steps = o.steps();
  out.message = o.message();
  for (const v1::TraceEvent& e : o.trace()) {
    TraceEvent event;
    event.line = e.line();
    absl::StatusOr<std::vector<std::pair<int, Value>>> assigned = BindingsFromProto(e.assigned());
    if (!assigned.ok()) return assigned.status();
    if (assigned->size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("outcome.trace: an event assigns ",
                                                     assigned->size(),
                                                     " variables; a step assigns at most one"));
    }
    if (!assigned->empty()) std::tie(event.var, event.value) = (*assigned)[0];
    if (e.has_returned()) {
      absl::StatusOr<Value> returned = ValueFromProto(e.returned());
      if (!returned.ok()) return returned.status();
      event.returned = *returned;
    }
    out.trace.push_back(std::move(event));
  }
  absl::StatusOr<std::vector<std::pair<int, Value>>> locals = BindingsFromProto(o.locals());
  if (!locals.ok()) return locals.status();
  out.locals = *std::move(locals);
  return out;
}

absl::StatusOr<TokenizeResult> TokenizeResultFromProto(const v1::TokenizeResult& r, Start start) {
  TokenizeResult out;
  out.ok = r.ok();
  out.tokens.assign(r.tokens().begin(), r.tokens().end());
  out.start = start;
  out.complete = r.complete();
  out.normalized_source = r.normalized_source();
  if (!r.ok()) {
    TokenizeError error;
    absl::StatusOr<TokenizeStage> stage =
        EnumFromName<TokenizeStage>(r.error().stage(), "error.stage");
    if (!stage.ok()) return stage.status();
    error.stage = *stage;
    error.message = r.error().message();
    error.line = r.error().line();
    error.column = r.error().column();
    error.node_type = r.error().node_type();
    out.error = std::move(error);
  }
  return out;
}

absl::StatusOr<DecodeResult> DecodeResultFromProto(const v1::DecodeResult& r) {
  DecodeResult out;
  out.input_index = r.input_index();
  out.sample_index = r.sample_index();
  out.tokens.assign(r.tokens().begin(), r.tokens().end());
  out.new_tokens.assign(r.new_tokens().begin(), r.new_tokens().end());
  out.source = r.source();
  out.complete = r.complete();
  absl::StatusOr<StopReason> reason = EnumFromName<StopReason>(r.stop_reason(), "stop_reason");
  if (!reason.ok()) return reason.status();
  out.stop_reason = *reason;
  for (const v1::DecodeStep& s : r.trace()) out.trace.push_back({s.token(), s.num_legal()});
  if (r.padded_tokens_size() > 0) {
    out.padded_tokens.emplace(r.padded_tokens().begin(), r.padded_tokens().end());
  }
  return out;
}

absl::Status StatusFromRpc(int code, const std::string& message, const std::string& details) {
  const absl::Status status(static_cast<absl::StatusCode>(code), message);
  google::rpc::Status rpc;
  if (status.ok() || !rpc.ParseFromString(details)) return status;
  for (const google::protobuf::Any& detail : rpc.details()) {
    google::rpc::BadRequest bad;
    if (detail.UnpackTo(&bad) && bad.field_violations_size() > 0) {
      const google::rpc::BadRequest::FieldViolation& v = bad.field_violations(0);
      return WithFieldError(status, FieldError{v.field(), "", ": ", v.description()});
    }
  }
  return status;
}

}  // namespace astcd::client
