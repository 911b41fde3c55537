#include "server/convert.h"

#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "core/vocabulary.h"

namespace astcd::server {

namespace {

void Assign(const google::protobuf::RepeatedField<int32_t>& from, DecodeConfig::IntList* to) {
  to->assign(from.begin(), from.end());
}
void Assign(const v1::Range& from, DecodeConfig::Range* to) { *to = {from.lo(), from.hi()}; }
template <typename Scalar>
void Assign(Scalar from, Scalar* to) {
  *to = from;
}

// A template only so that `requires` can ask whether the field has presence (has_<name>);
// a repeated field has none, and counts as set when not empty.
template <typename Proto>
DecodeConfig ConfigFrom(const Proto& p) {
  DecodeConfig c;
#define ASTCD_FIELD_FROM_PROTO(type, name, default_value, check) \
  if constexpr (requires { p.has_##name(); }) {                  \
    if (p.has_##name()) Assign(p.name(), &c.name);               \
  } else if (p.name##_size() > 0) {                              \
    Assign(p.name(), &c.name);                                   \
  }
  ASTCD_DECODE_CONFIG(ASTCD_FIELD_FROM_PROTO)
#undef ASTCD_FIELD_FROM_PROTO
  return c;
}

}  // namespace

DecodeConfig ConfigFromProto(const v1::DecodeConfig& p) { return ConfigFrom(p); }

// Core's enums have the proto's numbers (tests/proto/wire_tables_test.cc checks them by name).
absl::StatusOr<Start> StartFromProto(int start) {
  if (v1::Start_IsValid(start)) return static_cast<Start>(start);
  return FieldStatus(absl::StatusCode::kInvalidArgument, "start",
                     absl::StrCat(start, " is not a Start value"));
}

absl::StatusOr<JumpForward> JumpForwardFromProto(int mode) {
  if (v1::JumpForward_IsValid(mode)) return static_cast<JumpForward>(mode);
  return FieldStatus(absl::StatusCode::kInvalidArgument, "jump_forward",
                     absl::StrCat(mode, " is not a JumpForward value"));
}

std::optional<int> ArityFromProto(bool has, int32_t arity) {
  if (!has) return std::nullopt;
  return arity;
}

absl::StatusOr<InitRequest> InitFromProto(const v1::InitRequest& p) {
  InitRequest r;
  absl::StatusOr<Start> start = StartFromProto(p.start());
  if (!start.ok()) return start.status();
  r.start = *start;
  r.prefix_tokens.assign(p.prefix_tokens().begin(), p.prefix_tokens().end());
  r.arity = ArityFromProto(p.has_arity(), p.arity());
  r.max_len = p.max_len();
  return r;
}

absl::StatusOr<std::unique_ptr<Sampler>> SamplerFromProto(const v1::Sampler& proto,
                                                          std::shared_ptr<const Engine> engine) {
  PolicyConfig policy;
  for (const auto& [key, weight] : proto.weights()) policy.weights[key] = weight;
  if (proto.has_depth_pressure()) policy.depth_pressure = proto.depth_pressure();
  if (proto.has_budget_pressure()) policy.budget_pressure = proto.budget_pressure();
  const bool shaped = !policy.weights.empty() || proto.has_depth_pressure() ||
                      proto.has_budget_pressure();
  absl::string_view kind = proto.kind();
  if (kind.empty()) kind = EnumName(shaped ? SamplerKind::kWeighted : SamplerKind::kUniform);
  if (kind == EnumName(SamplerKind::kUniform) && policy.weights.empty() && shaped) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       proto.has_depth_pressure() ? "sampler.depth_pressure"
                                                  : "sampler.budget_pressure",
                       "the uniform sampler takes no pressure; use kind weighted");
  }
  absl::StatusOr<std::unique_ptr<Sampler>> sampler =
      MakeSampler(kind, proto.seed(), policy, std::move(engine));
  if (!sampler.ok()) return Within("sampler", sampler.status());
  return sampler;
}

void StateToProto(const std::string& id, const DecodeState& state, v1::SessionState* out) {
  out->set_session_id(id);
  out->set_complete(state.complete());
  out->set_terminated(state.terminated());
  out->set_num_tokens(state.num_tokens());
  out->set_token_budget_remaining(state.token_budget_remaining());
}

std::string MaskBytes(absl::Span<const int32_t> words) {
  std::string out(words.size() * 4, '\0');
  for (size_t i = 0; i < words.size(); ++i) {
    const uint32_t w = static_cast<uint32_t>(words[i]);
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((w >> (8 * b)) & 0xff);
  }
  return out;
}

void VocabularyToProto(const Vocabulary& vocab, v1::Vocabulary* out) {
  out->set_fingerprint(vocab.fingerprint());
  out->set_vocab_size(vocab.size());
  out->set_pad_id(Vocabulary::pad_id());
  out->set_eos_id(Vocabulary::eos_id());
  for (int id = 0; id < vocab.size(); ++id) {
    v1::Token* t = out->add_tokens();
    t->set_id(id);
    t->set_name(vocab.info(id).name);
    t->set_kind(std::string(vocab.kind_name(id)));
  }
}

void ValueToProto(const Value& value, v1::Value* out) {
  if (value.is_int()) {
    out->set_int_value(value.i);
  } else if (value.is_bool()) {
    out->set_bool_value(value.i != 0);
  } else {
    out->mutable_none_value();
  }
}

namespace {
void BindingsToProto(const std::vector<std::pair<int, Value>>& bindings,
                     google::protobuf::RepeatedPtrField<v1::Binding>* out) {
  for (const auto& [var, value] : bindings) {
    v1::Binding* b = out->Add();
    b->set_name(VariableName(var));
    ValueToProto(value, b->mutable_value());
  }
}
}  // namespace

void OutcomeToProto(const RunOutcome& o, v1::Outcome* out) {
  out->set_status(std::string(EnumName(o.status)));
  ValueToProto(o.value, out->mutable_value());
  out->set_steps(o.steps);
  out->set_message(o.message);
  for (const TraceEvent& e : o.trace) {
    v1::TraceEvent* t = out->add_trace();
    t->set_line(e.line);
    BindingsToProto(e.assigned(), t->mutable_assigned());
    if (e.returned) ValueToProto(*e.returned, t->mutable_returned());
  }
  BindingsToProto(o.locals, out->mutable_locals());
}

void TokenizeResultToProto(const TokenizeResult& r, v1::TokenizeResult* out) {
  out->set_ok(r.ok);
  out->mutable_tokens()->Add(r.tokens.begin(), r.tokens.end());
  out->set_complete(r.complete);
  out->set_normalized_source(r.normalized_source);
  if (r.error) {
    v1::TokenizeError* e = out->mutable_error();
    e->set_stage(std::string(EnumName(r.error->stage)));
    e->set_message(r.error->message);
    e->set_line(r.error->line);
    e->set_column(r.error->column);
    e->set_node_type(r.error->node_type);
  }
}

void DecodeResultToProto(const DecodeResult& r, v1::DecodeResult* out) {
  out->set_input_index(r.input_index);
  out->set_sample_index(r.sample_index);
  out->mutable_tokens()->Add(r.tokens.begin(), r.tokens.end());
  out->mutable_new_tokens()->Add(r.new_tokens.begin(), r.new_tokens.end());
  out->set_source(r.source);
  out->set_complete(r.complete);
  out->set_stop_reason(std::string(EnumName(r.stop_reason)));
  for (const DecodeStep& s : r.trace) {
    v1::DecodeStep* d = out->add_trace();
    d->set_token(s.token);
    d->set_num_legal(s.num_legal);
  }
  if (r.padded_tokens) {
    out->mutable_padded_tokens()->Add(r.padded_tokens->begin(), r.padded_tokens->end());
  }
}

}  // namespace astcd::server
