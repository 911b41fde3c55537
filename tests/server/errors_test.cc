// server/errors.cc: core's field errors become gRPC statuses whose BadRequest field is the
// request's path, renamed in one table, with the message rendered from the same path; and the
// C++ client reads them back as field errors (client/remote_convert.cc).
#include "server/errors.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/remote_convert.h"
#include "core/config.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/errors.h"
#include "core/interpreter.h"
#include "absl/strings/match.h"
#include "tests/core/test_util.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace astcd::server {
namespace {

std::shared_ptr<const Engine> TheEngine() {
  static const std::shared_ptr<const Engine> engine = *Engine::Create(DecodeConfig{});
  return engine;
}

// The BadRequest field of the status `rpc` answers with, or "" when there is none.
std::string WireField(absl::string_view rpc, const absl::Status& status) {
  const google::rpc::Status out = ToRpcStatus(InRequestNames(rpc, status));
  google::rpc::BadRequest bad;
  if (out.details_size() != 1 || !out.details(0).UnpackTo(&bad)) return "";
  EXPECT_EQ(bad.field_violations_size(), 1);
  return bad.field_violations(0).field();
}

std::string WireMessage(absl::string_view rpc, const absl::Status& status) {
  return ToRpcStatus(InRequestNames(rpc, status)).message();
}

TEST(CoreErrors, WithinNestsPathAndMessage) {
  const absl::Status inner = FieldStatus(absl::StatusCode::kFailedPrecondition, "prefix_tokens[2]",
                                         "token 5 is not legal");
  const absl::Status outer = Within("requests[1]", inner);
  EXPECT_EQ(outer.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(outer.message(), "requests[1]: prefix_tokens[2]: token 5 is not legal");
  const std::optional<FieldError> error = GetFieldError(outer);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path(), "requests[1].prefix_tokens[2]");
  EXPECT_EQ(error->description, "prefix_tokens[2]: token 5 is not legal");
  EXPECT_EQ(FieldPathOf(Within("tokens", absl::InvalidArgumentError("incomplete"))), "tokens");
  EXPECT_EQ(FieldPathOf(absl::UnavailableError("the server is shutting down")), "");
  EXPECT_TRUE(Within("tokens", absl::OkStatus()).ok());
}

TEST(CoreErrors, PathIsWithinStopsAtSegments) {
  EXPECT_TRUE(PathIsWithin("requests[0].max_len", "requests[0]"));
  EXPECT_TRUE(PathIsWithin("requests[0]", "requests"));
  EXPECT_TRUE(PathIsWithin("entry", "entry"));
  EXPECT_FALSE(PathIsWithin("requests_x", "requests"));
  EXPECT_FALSE(PathIsWithin("inputs[10]", "inputs[1]"));
}

// The errors the old message parser was tested on, now made by core and read as data.
TEST(Errors, CoreErrorsKeepTheirFieldsAndMessages) {
  const auto engine = TheEngine();
  std::vector<DecodeState> states = {*InitState(engine, InitRequest{})};
  const absl::Status advance = Advance(absl::MakeSpan(states), {-1});
  EXPECT_EQ(WireField("Advance", advance), "token_ids[0]");

  InitRequest bad_prefix;
  bad_prefix.prefix_tokens = {Vocabulary::eos_id()};
  const absl::Status init = InitStates(engine, {InitRequest{}, bad_prefix}).status();
  EXPECT_EQ(WireField("InitStates", init), "requests[1].prefix_tokens[0]");
  EXPECT_TRUE(absl::StartsWith(WireMessage("InitStates", init),
                               "requests[1]: prefix_tokens[0]: token 1 '<eos>'"));

  DecodeConfig deep;
  deep.max_expr_depth = 99;
  const absl::Status config = Engine::Create(deep).status();
  EXPECT_EQ(WireField("GetVocabulary", config), "config.max_expr_depth");
  EXPECT_EQ(WireMessage("GetVocabulary", config),
            "config.max_expr_depth = 99 is outside its range [1, 16]");

  EXPECT_EQ(WireField("Advance", absl::UnavailableError("the server is shutting down")), "");
}

TEST(Errors, RunErrorsNameTheRunRequestsFields) {
  const auto engine = TheEngine();
  const absl::StatusOr<Program> program =
      Program::FromTokens(engine, Start::kFunction, std::nullopt,
                          testing::Ids(*engine, "def/1 return a end <eos>"));
  ASSERT_TRUE(program.ok()) << program.status();
  RunOptions no_steps;
  no_steps.max_steps = 0;
  const absl::Status steps = program->RunBatch({}, no_steps).status();
  EXPECT_EQ(WireField("Run", steps), "limits.max_steps");
  EXPECT_EQ(WireMessage("Run", steps), "limits.max_steps = 0 is outside [1, 100000000]");

  const absl::Status args = program->RunBatch({{1}, {int64_t{1} << 40}}).status();
  EXPECT_EQ(WireField("Run", args), "inputs[1].args[0]");

  const absl::Status entry = Program::FromTokens(
      engine, Start::kFunction, std::nullopt, testing::Ids(*engine, "def/1 return a end <eos>"),
      /*entry=*/3).status();
  EXPECT_EQ(WireField("Run", entry), "entry");
  EXPECT_TRUE(absl::StartsWith(WireMessage("Run", entry), "entry = 3 is outside [0, 0]"));
}

// The one place that renames: what core calls a pair or a batch of states, the request names
// by its own fields.
TEST(Errors, RenamesCoreNamesToTheRequests) {
  DecodeConfig pair;
  pair.const_range = {-1, 9};
  const absl::Status lo = Engine::Create(pair).status();
  EXPECT_EQ(FieldPathOf(lo), "config.const_range[0]");  // the CLI's JSON writes a pair
  EXPECT_EQ(WireField("InitStates", lo), "config.const_range.lo");
  EXPECT_EQ(WireMessage("InitStates", lo),
            "config.const_range.lo = -1 is outside its range [0, 1048576]");

  InitRequest too_short;
  too_short.max_len = 1;
  const absl::Status init = InitStates(TheEngine(), {too_short}).status();
  EXPECT_EQ(WireField("Decode/init_requests", init), "init_requests[0].max_len");
  EXPECT_TRUE(absl::StartsWith(WireMessage("Decode/init_requests", init),
                               "init_requests[0]: max_len = 1 is below the shortest"));
  EXPECT_EQ(WireField("InitStates", init), "requests[0].max_len");

  const absl::Status state = FieldStatus(absl::StatusCode::kInvalidArgument, "states[1]", "x");
  EXPECT_EQ(WireField("Decode", state), "session_ids[1]");
  EXPECT_EQ(WireField("Decode/init_requests", state), "init_requests[1]");
  EXPECT_EQ(WireMessage("LegalMasks", state), "session_ids[1]: x");

  const absl::Status session = FieldStatus(absl::StatusCode::kNotFound, "session_id[0]", "gone");
  EXPECT_EQ(WireField("Run", session), "session_id");
  EXPECT_EQ(WireMessage("Run", session), "session_id: gone");
}

TEST(Errors, DescriptionIsTheMessageBelowItsFirstField) {
  const absl::Status s = Within("inputs[2]", FieldStatus(absl::StatusCode::kInvalidArgument,
                                                         FieldError{"args[1]", "", " = ",
                                                                    "9 is outside"}));
  const google::rpc::Status out = ToRpcStatus(s);
  EXPECT_EQ(out.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(out.message(), "inputs[2]: args[1] = 9 is outside");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(out.details(0).UnpackTo(&bad));
  EXPECT_EQ(bad.field_violations(0).field(), "inputs[2].args[1]");
  EXPECT_EQ(bad.field_violations(0).description(), "args[1] = 9 is outside");
}

// What the C++ client makes of the wire: the code, the message, and the field as data.
TEST(Errors, TheClientReadsTheFieldBack) {
  const absl::Status sent = Within("tokens", absl::InvalidArgumentError("the AST is incomplete"));
  const google::rpc::Status wire = ToRpcStatus(sent);
  const absl::Status got =
      client::StatusFromRpc(wire.code(), wire.message(), wire.SerializeAsString());
  EXPECT_EQ(got.code(), sent.code());
  EXPECT_EQ(got.message(), sent.message());
  const std::optional<FieldError> error = GetFieldError(got);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path(), "tokens");
  EXPECT_EQ(error->description, "the AST is incomplete");
  const absl::Status plain = client::StatusFromRpc(14, "unavailable", "");
  EXPECT_EQ(plain.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(GetFieldError(plain).has_value());
}

}  // namespace
}  // namespace astcd::server
