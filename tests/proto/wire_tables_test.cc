// Core's tables against the contract: DecodeConfig's field list against the proto message
// (so the Python client, which reads the proto descriptor, agrees with it), the proto enums'
// names and numbers against core's name tables, and the config's proto mapping both ways.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "astcd/v1/astcd.pb.h"
#include "cli/config_json.h"
#include "client/remote_convert.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/tokenize.h"
#include "gtest/gtest.h"
#include "server/convert.h"

namespace astcd {
namespace {

TEST(WireTables, DecodeConfigFieldsAreTheProtos) {
  const google::protobuf::Descriptor* d = v1::DecodeConfig::descriptor();
  std::vector<std::string> proto;
  for (int i = 0; i < d->field_count(); ++i) proto.push_back(d->field(i)->name());
  std::vector<std::string> ours(DecodeConfigFieldNames().begin(), DecodeConfigFieldNames().end());
  EXPECT_EQ(ours, proto);
}

// Proto enum value k is named PREFIX + core's name of value k, in capitals, and no other
// value exists on either side.
template <typename Enum>
void ExpectSameEnum(const google::protobuf::EnumDescriptor* d, const std::string& prefix) {
  ASSERT_EQ(static_cast<size_t>(d->value_count()), EnumCount<Enum>()) << d->full_name();
  for (size_t k = 0; k < EnumCount<Enum>(); ++k) {
    const google::protobuf::EnumValueDescriptor* v = d->FindValueByNumber(static_cast<int>(k));
    ASSERT_NE(v, nullptr) << d->full_name() << " " << k;
    EXPECT_EQ(v->name(), prefix + absl::AsciiStrToUpper(EnumName(static_cast<Enum>(k))));
  }
}

TEST(WireTables, ProtoEnumsAreCoresTables) {
  ExpectSameEnum<Start>(v1::Start_descriptor(), "START_");
  ExpectSameEnum<JumpForward>(v1::JumpForward_descriptor(), "JUMP_FORWARD_");
}

// Every name parses back to its value; every value has a name.
template <typename Enum>
void ExpectRoundTrip() {
  for (size_t k = 0; k < EnumCount<Enum>(); ++k) {
    const Enum value = static_cast<Enum>(k);
    ASSERT_NE(EnumName(value), "?") << k;
    absl::StatusOr<Enum> back = ParseEnum<Enum>(EnumName(value));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, value) << EnumName(value);
  }
  for (const EnumRow<Enum>& row : EnumNames<Enum>::kRows) {
    EXPECT_EQ(ParseEnum<Enum>(row.name).value(), row.value) << row.name;
  }
  EXPECT_FALSE(ParseEnum<Enum>("no such name").ok());
}

TEST(WireTables, EveryNameRoundTrips) {
  ExpectRoundTrip<Start>();
  ExpectRoundTrip<StopAt>();
  ExpectRoundTrip<StopReason>();
  ExpectRoundTrip<SamplerKind>();
  ExpectRoundTrip<RunStatus>();
  ExpectRoundTrip<TokenizeStage>();
  ExpectRoundTrip<TokenKind>();
  ExpectRoundTrip<JumpForward>();
  EXPECT_EQ(*ParseStopAt("module_boundary"), StopAt::kComplete);
  EXPECT_EQ(EnumName(StopAt::kComplete), "complete");
}

TEST(WireTables, ConfigRoundTripsThroughTheProto) {
  // Every field away from its default, so a field the mapping drops shows.
  const DecodeConfig custom{.arities = {5, 0},
                            .max_block_stmts = 9,
                            .max_expr_depth = 7,
                            .max_control_depth = 5,
                            .max_locals = 11,
                            .max_functions = 2,
                            .const_range = {7, 20},
                            .value_range = {-5, 300},
                            .allow_loops = true};
  for (const DecodeConfig& c : {DecodeConfig{}, custom}) {
    v1::DecodeConfig proto;
    client::ConfigToProto(c, &proto);
    EXPECT_EQ(DecodeConfigToJson(server::ConfigFromProto(proto)), DecodeConfigToJson(c));
  }
  // An empty message keeps every default.
  EXPECT_EQ(DecodeConfigToJson(server::ConfigFromProto(v1::DecodeConfig{})),
            DecodeConfigToJson(DecodeConfig{}));
}

}  // namespace
}  // namespace astcd
