// Where the CLI's work happens: in this process (the core), or on astcd-server with
// --server HOST:PORT. Both return the core's types, and the commands print them with the same
// code, so a command prints exactly the same either way.
#ifndef ASTCD_CLI_BACKEND_H_
#define ASTCD_CLI_BACKEND_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/cli_flags.h"
#include "client/remote_decoder.h"
#include "core/codec.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/interpreter.h"
#include "core/tokenize.h"

namespace astcd::cli {

// A run's program and what it got: either the program is invalid (an outcome for every tuple,
// not an error) or there is one outcome per tuple.
struct RunReply {
  std::optional<std::string> invalid_program;  // the message
  std::vector<RunOutcome> outcomes;
};

struct RunCall {
  std::vector<int32_t> tokens;
  Start start = Start::kModule;
  std::optional<int> arity;
  std::optional<int> entry;
  std::vector<std::vector<int64_t>> inputs;
  std::vector<std::string> input_texts;  // how each tuple was written, for error messages
  RunOptions options;
};

class Backend {
 public:
  // In-process unless --server is set. `engine` is the local engine of --config: it validates
  // flags the same way in both modes, and a server must have its vocabulary.
  static absl::StatusOr<std::unique_ptr<Backend>> FromFlags(const Flags& flags,
                                                            std::shared_ptr<const Engine> engine);
  virtual ~Backend() = default;

  virtual absl::StatusOr<client::VocabularyListing> Vocabulary() = 0;
  // Passes every result to on_result: in-process from the decoding threads as they finish
  // them (several at once, in any order; DecodeOptions::on_finished), from a server in
  // (input, sample) order on this thread. Callers place a result by its indices.
  virtual absl::Status Sample(const InitRequest& request, const std::string& sampler,
                              uint64_t seed, const PolicyConfig& policy,
                              const DecodeOptions& options,
                              const std::function<void(const DecodeResult&)>& on_result) = 0;
  virtual absl::StatusOr<TokenizeResult> Tokenize(const std::string& source,
                                                  const TokenizeOptions& options) = 0;
  virtual absl::StatusOr<DetokenizeResult> Detokenize(Start start, std::optional<int> arity,
                                                      const std::vector<int32_t>& tokens,
                                                      bool partial) = 0;
  // A bad --entry or a bad tuple is an error whose message is the CLI's.
  virtual absl::StatusOr<RunReply> Run(const RunCall& call) = 0;
  // The forced chain (jump-forward) after the request's prefix. A bad prefix is an error whose
  // field (core/errors.h) is prefix_tokens[k], and whose message is the core's.
  virtual absl::StatusOr<std::vector<int32_t>> Forced(const InitRequest& request) = 0;
};

// Exit status for a failure of the server or the connection (not of the input).
inline constexpr int kServerError = 1;

// Prints the status; usage errors (InvalidArgument, NotFound) exit kUsageError, the rest
// kServerError.
int FailCall(const absl::Status& status);

}  // namespace astcd::cli

#endif  // ASTCD_CLI_BACKEND_H_
