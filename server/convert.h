// Protobuf <-> core translation. No language logic: every rule lives in core/.
#ifndef ASTCD_SERVER_CONVERT_H_
#define ASTCD_SERVER_CONVERT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "astcd/v1/astcd.pb.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/tokenize.h"

namespace astcd::server {

// Unset fields keep core's defaults; Engine::Create validates (errors name config.<field>).
DecodeConfig ConfigFromProto(const v1::DecodeConfig& proto);
// InvalidArgument for an enum value outside the contract.
absl::StatusOr<Start> StartFromProto(int start);
// InvalidArgument (field jump_forward) for a value outside the JumpForward enum.
absl::StatusOr<JumpForward> JumpForwardFromProto(int mode);
std::optional<int> ArityFromProto(bool has, int32_t arity);
absl::StatusOr<InitRequest> InitFromProto(const v1::InitRequest& proto);

// The Decode sampler. An empty kind is weighted when the request gives weights or a pressure,
// uniform otherwise; an explicit uniform with either is InvalidArgument naming the field.
// Errors name sampler.<field>.
absl::StatusOr<std::unique_ptr<Sampler>> SamplerFromProto(const v1::Sampler& proto,
                                                          std::shared_ptr<const Engine> engine);

void StateToProto(const std::string& id, const DecodeState& state, v1::SessionState* out);
// Row-major little-endian int32 words.
std::string MaskBytes(absl::Span<const int32_t> words);
void VocabularyToProto(const Vocabulary& vocab, v1::Vocabulary* out);
void ValueToProto(const Value& value, v1::Value* out);
void OutcomeToProto(const RunOutcome& outcome, v1::Outcome* out);
void TokenizeResultToProto(const TokenizeResult& result, v1::TokenizeResult* out);
void DecodeResultToProto(const DecodeResult& result, v1::DecodeResult* out);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_CONVERT_H_
