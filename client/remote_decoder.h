// The C++ client of astcd-server: the core's batch API (InitStates, LegalMasks, Advance, Rollback,
// Fork, Release, Tokenize, Detokenize, Run, Decode) over gRPC, returning the core's own result
// types. docs/api.md describes every call; proto/astcd/v1/astcd.proto is the contract.
//
// A Session remembers how it was made (config, start, arity, budget) and every token it took.
// A session's state is a pure function of those, so when a call answers NOT_FOUND (evicted, or
// its replica was lost), UNAVAILABLE or CANCELLED (by a draining replica), the client re-creates the batch's sessions on whatever
// replica answers now, checks the vocabulary fingerprint, and retries. ClientOptions controls
// it; it is on by default.
#ifndef ASTCD_CLIENT_REMOTE_DECODER_H_
#define ASTCD_CLIENT_REMOTE_DECODER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/tokenize.h"

namespace grpc {
class Channel;
class ChannelCredentials;
}  // namespace grpc

namespace astcd::client {

struct ClientOptions {
  // Per-call deadline.
  absl::Duration timeout = absl::Seconds(60);
  // When set, any response with another vocabulary fingerprint fails with FailedPrecondition:
  // pin the vocabulary a model was trained on.
  std::string expected_fingerprint;
  // Re-create sessions and retry on NOT_FOUND / UNAVAILABLE / CANCELLED (see above).
  bool replay_sessions = true;
  int max_attempts = 8;  // calls per operation, the first included
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Sent as x-astcd-affinity, so that a ring-hash proxy keeps this client on one replica.
  std::string affinity_key;
  // Bearer token sent as `authorization: Bearer <token>`.
  std::string auth_token;
  // Default: insecure. Pass grpc::SslCredentials(...) for TLS.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// How a session was made: enough to make it again anywhere.
struct SessionOrigin {
  DecodeConfig config;
  Start start = Start::kModule;
  std::optional<int> arity;
  int max_len = 0;          // as InitRequest: 0 means kDefaultMaxLen
  std::string fingerprint;  // of the vocabulary it was made with
};

// A decoder session on the server. Advance and Rollback update it in place, like the core's
// DecodeState.
struct Session {
  std::string id;
  bool complete = false;
  bool terminated = false;
  int num_tokens = 0;
  int token_budget_remaining = 0;
  std::shared_ptr<const SessionOrigin> origin;  // null: not replayable
  std::vector<int32_t> tokens;                  // every token taken, prefix included
};

// Jump-forward (docs/api.md): after a step, the tokens the grammar forces, i.e. the chain that
// follows while a session's mask has exactly one legal token. A model server that appends them
// itself saves a forward pass for each one. kOff: no chains; kReport: each session's chain,
// the sessions stay where the step left them; kApply: each session takes its chain (into
// Session::tokens), masks are after it. The values are the proto's.
using JumpForward = astcd::JumpForward;
// One chain per session, in request order; a chain may be empty.
using ForcedChains = std::vector<std::vector<int32_t>>;

// Legal-token bitmasks, one row per session in request order: token i is bit i % 32 of
// words[row * words_per_row + i / 32].
struct MaskRows {
  std::string fingerprint;
  int vocab_size = 0;
  int words_per_row = 0;
  std::vector<int32_t> words;

  absl::Span<const int32_t> row(int i) const {
    return absl::MakeConstSpan(words).subspan(static_cast<size_t>(i) * words_per_row,
                                              words_per_row);
  }
  bool IsLegal(int row_index, int32_t token) const {
    return (static_cast<uint32_t>(row(row_index)[token / 32]) >> (token % 32)) & 1u;
  }
};

struct TokenEntry {
  int id = 0;
  std::string name;
  std::string kind;
};

struct VocabularyListing {
  std::string fingerprint;
  int vocab_size = 0;
  int pad_id = 0;
  int eos_id = 0;
  std::vector<TokenEntry> tokens;
};
// The same listing for an in-process vocabulary.
VocabularyListing ListVocabulary(const Vocabulary& vocab);

// What to run: a token list, a source, or a live session's tokens.
struct RunProgram {
  std::vector<int32_t> tokens;
  std::optional<std::string> source;  // set: run this source instead of tokens
  std::optional<std::string> session_id;
  Start start = Start::kModule;
  std::optional<int> arity;
  std::optional<int> entry;
};

// A server-side Decode: from init requests (with config) or from sessions.
struct DecodeSpec {
  DecodeConfig config;
  std::vector<InitRequest> init_requests;
  std::vector<Session> sessions;  // instead of init_requests
  std::string sampler = "uniform";  // or "weighted"
  uint64_t seed = 0;
  PolicyConfig policy;  // weighted only
  // n (at most 4096 per call), sample_offset, max_new_tokens, max_total_tokens, stop_at, pad,
  // trace; num_threads and on_result are the server's business.
  DecodeOptions options;
  bool keep_sessions = false;
};

class RemoteDecoder {
 public:
  // Connects lazily: the first call reaches the server. `target` is HOST:PORT.
  static std::unique_ptr<RemoteDecoder> Connect(const std::string& target,
                                                ClientOptions options = {});
  ~RemoteDecoder();

  absl::StatusOr<VocabularyListing> GetVocabulary(const DecodeConfig& config);

  absl::StatusOr<std::vector<Session>> InitStates(const DecodeConfig& config,
                                                  absl::Span<const InitRequest> requests,
                                                  MaskRows* masks = nullptr);
  // The same, with jump-forward after each prefix: `forced` (if not null) gets one chain per
  // session (empty ones with kOff).
  absl::StatusOr<std::vector<Session>> InitStates(const DecodeConfig& config,
                                                  absl::Span<const InitRequest> requests,
                                                  JumpForward jump_forward, ForcedChains* forced,
                                                  MaskRows* masks = nullptr);
  absl::Status LegalMasks(absl::Span<Session> sessions, MaskRows* out);
  // All-or-nothing, as in the core; with `masks`, returns the next masks in the same trip.
  absl::Status Advance(absl::Span<Session> sessions, absl::Span<const int32_t> tokens,
                       MaskRows* masks = nullptr);
  // The same, with jump-forward after the token; returns one chain per session (empty ones
  // with kOff). All-or-nothing: on an error no session moves, by the token or by a chain.
  absl::StatusOr<ForcedChains> Advance(absl::Span<Session> sessions,
                                       absl::Span<const int32_t> tokens,
                                       JumpForward jump_forward, MaskRows* masks = nullptr);
  absl::Status Rollback(absl::Span<Session> sessions, absl::Span<const int32_t> num_tokens,
                        MaskRows* masks = nullptr);
  // n copies of each session, ordered by (session, copy).
  absl::StatusOr<std::vector<Session>> Fork(absl::Span<Session> sessions, int n);
  // How many of the sessions existed and were freed.
  absl::StatusOr<int> Release(absl::Span<const Session> sessions);

  // One result per source, with live sessions in `sessions` (one per ok result, else an empty
  // Session) when it is not null.
  absl::StatusOr<std::vector<TokenizeResult>> Tokenize(const DecodeConfig& config,
                                                       absl::Span<const std::string> sources,
                                                       const TokenizeOptions& options,
                                                       std::vector<Session>* sessions = nullptr);
  absl::StatusOr<std::vector<DetokenizeResult>> Detokenize(
      const DecodeConfig& config, Start start, std::optional<int> arity,
      absl::Span<const std::vector<int32_t>> programs, bool partial);
  absl::StatusOr<std::vector<RunOutcome>> Run(const DecodeConfig& config,
                                              const RunProgram& program,
                                              absl::Span<const std::vector<int64_t>> inputs,
                                              const RunOptions& options);
  // Streams results as the server finishes them; `on_result` gets each result and, with
  // keep_sessions, its final state as a session. A non-ok return from on_result cancels.
  absl::Status Decode(const DecodeSpec& spec,
                      const std::function<absl::Status(DecodeResult&&, Session&&)>& on_result);

  // Calls made again after re-creating sessions (for tests and metrics).
  int64_t replays() const;

 private:
  class Impl;
  explicit RemoteDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace astcd::client

#endif  // ASTCD_CLIENT_REMOTE_DECODER_H_
