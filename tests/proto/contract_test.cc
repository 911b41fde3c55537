// The public contract (proto/astcd/v1/astcd.proto): the names and streaming shapes that the
// gRPC service issue fixes, read back from the generated C++ descriptors.
#include <string>
#include <vector>

#include "astcd/v1/astcd.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace astcd::v1 {
namespace {

using google::protobuf::Descriptor;

void ExpectFields(const Descriptor* d, const std::vector<std::string>& names) {
  ASSERT_NE(d, nullptr);
  for (const std::string& name : names) {
    EXPECT_NE(d->FindFieldByName(name), nullptr) << d->full_name() << "." << name;
  }
}

TEST(Contract, DecoderServiceHasEveryRpcWithItsStreamingShape) {
  const auto* service = Vocabulary::descriptor()->file()->FindServiceByName("Decoder");
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->full_name(), "astcd.v1.Decoder");
  struct Rpc {
    const char* name;
    bool client_streaming, server_streaming;
  };
  for (const Rpc& rpc : {Rpc{"GetVocabulary", false, false}, Rpc{"InitStates", false, false},
                         Rpc{"LegalMasks", false, false}, Rpc{"Advance", false, false},
                         Rpc{"Rollback", false, false}, Rpc{"ForkStates", false, false},
                         Rpc{"ReleaseStates", false, false}, Rpc{"Tokenize", false, false},
                         Rpc{"Detokenize", false, false}, Rpc{"Run", false, false},
                         Rpc{"Decode", false, true}, Rpc{"Step", true, true}}) {
    const auto* method = service->FindMethodByName(rpc.name);
    ASSERT_NE(method, nullptr) << rpc.name;
    EXPECT_EQ(method->client_streaming(), rpc.client_streaming) << rpc.name;
    EXPECT_EQ(method->server_streaming(), rpc.server_streaming) << rpc.name;
  }
}

TEST(Contract, MessagesCarryTheDocumentedFields) {
  ExpectFields(Vocabulary::descriptor(), {"fingerprint", "vocab_size", "pad_id", "eos_id", "tokens"});
  ExpectFields(Token::descriptor(), {"id", "name", "kind"});
  ExpectFields(InitStatesRequest::descriptor(), {"config", "requests", "return_masks"});
  ExpectFields(InitRequest::descriptor(), {"start", "prefix_tokens", "arity", "max_len"});
  ExpectFields(InitStatesResponse::descriptor(), {"states", "bitmask"});
  ExpectFields(SessionState::descriptor(), {"session_id", "complete", "terminated", "num_tokens",
                                            "token_budget_remaining"});
  ExpectFields(LegalMasksRequest::descriptor(), {"session_ids"});
  ExpectFields(LegalMasksResponse::descriptor(), {"vocab_size", "words_per_row", "bitmask"});
  ExpectFields(AdvanceRequest::descriptor(), {"session_ids", "token_ids", "return_masks"});
  ExpectFields(AdvanceResponse::descriptor(), {"states", "bitmask"});
  ExpectFields(TokenizeRequest::descriptor(),
               {"sources", "config", "start", "partial", "create_sessions"});
  ExpectFields(TokenizeResult::descriptor(),
               {"ok", "tokens", "complete", "normalized_source", "error", "session_id"});
  ExpectFields(TokenizeError::descriptor(), {"stage", "message", "line", "column", "node_type"});
  ExpectFields(DetokenizeRequest::descriptor(), {"config", "start", "programs"});
  ExpectFields(TokenList::descriptor(), {"tokens"});
  ExpectFields(RunRequest::descriptor(),
               {"tokens", "source", "session_id", "config", "inputs", "limits", "trace"});
  ExpectFields(ArgTuple::descriptor(), {"args"});
  ExpectFields(RunResponse::descriptor(), {"outcomes"});
  ExpectFields(Outcome::descriptor(), {"status", "value", "steps", "message", "trace"});
  ExpectFields(DecodeRequest::descriptor(),
               {"session_ids", "init_requests", "sampler", "n", "max_new_tokens",
                "max_total_tokens", "stop_at", "pad", "trace", "keep_sessions"});
  ExpectFields(Sampler::descriptor(), {"kind", "seed", "weights"});
  ExpectFields(DecodeConfig::descriptor(),
               {"arities", "max_block_stmts", "max_expr_depth", "max_control_depth", "max_locals",
                "max_functions", "const_range", "value_range", "allow_loops"});
  // The program of a Run is one of tokens, source or a session.
  const auto* oneof = RunRequest::descriptor()->FindOneofByName("program");
  ASSERT_NE(oneof, nullptr);
  EXPECT_EQ(oneof->field_count(), 3);
  // int, bool and None are distinct values.
  EXPECT_EQ(Value::descriptor()->FindOneofByName("kind")->field_count(), 3);
}

TEST(Contract, MessagesRoundTripOnTheWire) {
  AdvanceResponse response;
  response.add_states()->set_session_id("0123456789abcdef0123456789abcdef");
  response.set_bitmask(std::string("\x01\x00\x00\x00", 4));
  response.set_words_per_row(1);
  AdvanceResponse back;
  ASSERT_TRUE(back.ParseFromString(response.SerializeAsString()));
  EXPECT_EQ(back.states(0).session_id(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(back.bitmask().size(), 4u);
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("token_ids[3]");
  v->set_description("not legal");
  google::rpc::BadRequest bad_back;
  ASSERT_TRUE(bad_back.ParseFromString(bad.SerializeAsString()));
  EXPECT_EQ(bad_back.field_violations(0).field(), "token_ids[3]");
}

}  // namespace
}  // namespace astcd::v1
