// The astcd.v1.Decoder service on gRPC's callback API: protobuf in, core/ calls, protobuf out.
#ifndef ASTCD_SERVER_SERVICE_H_
#define ASTCD_SERVER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "astcd/v1/astcd.grpc.pb.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interrupt.h"
#include "core/sampler.h"
#include "server/decode_pool.h"
#include "server/session_store.h"

namespace astcd::server {

class Metrics;
class TokenAuthenticator;

// Who makes a call, and whether it is still wanted.
struct CallContext {
  std::string tenant;                             // "" without --auth-tokens
  const grpc::ServerContextBase* grpc = nullptr;  // null (in-process): always wanted
  // OK while the call is wanted; DeadlineExceeded past its deadline, Cancelled once the client
  // or the drain has cancelled it. Long work checks this at a bounded interval.
  absl::Status Alive() const;
  // Sessions the call stored, so that a call failing afterwards (its response over
  // --max-response-bytes) can take them back and change nothing.
  mutable std::vector<std::string> created;
};

// A Decode request checked and made ready to run: its input states (copies), its sampler and
// core's options.
struct PreparedDecode {
  std::vector<DecodeState> states;
  std::unique_ptr<Sampler> sampler;
  DecodeOptions options;
  bool keep_sessions = false;
};

// How RunDecode hands out its results and when it stops.
struct DecodeRun {
  // Called on the run's thread before each chunk of work is started (with a pool, up to a few
  // chunks before its results are handed out); may block (the stream's backpressure). A status
  // that is not OK stops the run and is its status. Empty: never stops.
  std::function<absl::Status()> before_chunk;
  // Core's interrupt (DecodeOptions::interrupt), checked at a bounded interval within a chunk.
  // With a pool, from the pool's threads, but never from two threads at once.
  Interrupt interrupt;
  // Each result, in (input, sample) order, its session_id set with keep_sessions, on the run's
  // thread. A status that is not OK stops the run and is its status (the session it names is
  // released).
  std::function<absl::Status(v1::DecodeResult&)> sink;
};

struct ServiceOptions {
  int max_batch = 1024;                     // sessions, requests, programs or inputs per call
  int max_sources = 256;                    // sources per Tokenize
  int64_t max_source_bytes = int64_t{1} << 20;  // bytes per source
  // Run: inputs × limits.max_steps per call, and with trace, inputs × max_steps trace events.
  int64_t max_run_steps = 200'000'000;
  int64_t max_trace_events = 200'000;
  int max_decode_streams = 16;                  // Decode streams running at once
  // Decode's chunks run on a pool of this many threads shared by every call (one call can use
  // every core; calls take turns). 0: each call decodes on its caller's thread, one chunk at a
  // time (in-process tests and fuzz targets, where the order of interrupts must not vary).
  int decode_threads = 0;
  int64_t max_response_bytes = int64_t{64} << 20;  // a unary response's serialized size
  int64_t max_message_bytes = int64_t{64} << 20;   // a request's size (gRPC enforces it)
  Metrics* metrics = nullptr;               // optional (server/metrics.h); must outlive the service
  // Optional (server/auth.h): every call must then name a tenant; must outlive the service.
  const TokenAuthenticator* auth = nullptr;
};

// Every method is registered raw (bytes in, bytes out) so that the service, not gRPC, parses
// each request: a request that is not a valid message (bad bytes, a string that is not UTF-8)
// gets INVALID_ARGUMENT, where gRPC's own parsing would answer UNIMPLEMENTED.
using RawDecoderService = v1::Decoder::WithRawCallbackMethod_GetVocabulary<
    v1::Decoder::WithRawCallbackMethod_InitStates<v1::Decoder::WithRawCallbackMethod_LegalMasks<
        v1::Decoder::WithRawCallbackMethod_Advance<v1::Decoder::WithRawCallbackMethod_Rollback<
            v1::Decoder::WithRawCallbackMethod_ForkStates<
                v1::Decoder::WithRawCallbackMethod_ReleaseStates<
                    v1::Decoder::WithRawCallbackMethod_Tokenize<
                        v1::Decoder::WithRawCallbackMethod_Detokenize<
                            v1::Decoder::WithRawCallbackMethod_Run<
                                v1::Decoder::WithRawCallbackMethod_Decode<
                                    v1::Decoder::WithRawCallbackMethod_Step<
                                        v1::Decoder::Service>>>>>>>>>>>>;

class DecoderService final : public RawDecoderService {
 public:
  DecoderService(ServiceOptions options, SessionStore* store, EngineCache* engines)
      : options_(options),
        store_(store),
        engines_(engines),
        decode_pool_(options.decode_threads > 0
                         ? std::make_unique<DecodePool>(options.decode_threads)
                         : nullptr) {}

  // From now on every new call (and every Step) fails with UNAVAILABLE.
  void BeginDrain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

#define ASTCD_RAW_UNARY(Name)                                                   \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* ctx,              \
                                 const grpc::ByteBuffer* req, grpc::ByteBuffer* resp) override;
  ASTCD_RAW_UNARY(GetVocabulary)
  ASTCD_RAW_UNARY(InitStates)
  ASTCD_RAW_UNARY(LegalMasks)
  ASTCD_RAW_UNARY(Advance)
  ASTCD_RAW_UNARY(Rollback)
  ASTCD_RAW_UNARY(ForkStates)
  ASTCD_RAW_UNARY(ReleaseStates)
  ASTCD_RAW_UNARY(Tokenize)
  ASTCD_RAW_UNARY(Detokenize)
  ASTCD_RAW_UNARY(Run)
#undef ASTCD_RAW_UNARY
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Decode(grpc::CallbackServerContext* ctx,
                                                     const grpc::ByteBuffer* req) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Step(
      grpc::CallbackServerContext* ctx) override;

  // The RPCs without gRPC (Step and the tests use them).
  absl::Status DoGetVocabulary(const v1::GetVocabularyRequest& req, v1::Vocabulary* resp,
                               const CallContext& call = {});
  absl::Status DoInitStates(const v1::InitStatesRequest& req, v1::InitStatesResponse* resp,
                            const CallContext& call = {});
  absl::Status DoLegalMasks(const v1::LegalMasksRequest& req, v1::LegalMasksResponse* resp,
                            const CallContext& call = {});
  absl::Status DoAdvance(const v1::AdvanceRequest& req, v1::AdvanceResponse* resp,
                         const CallContext& call = {});
  absl::Status DoRollback(const v1::RollbackRequest& req, v1::RollbackResponse* resp,
                          const CallContext& call = {});
  absl::Status DoForkStates(const v1::ForkStatesRequest& req, v1::ForkStatesResponse* resp,
                            const CallContext& call = {});
  absl::Status DoReleaseStates(const v1::ReleaseStatesRequest& req,
                               v1::ReleaseStatesResponse* resp, const CallContext& call = {});
  absl::Status DoTokenize(const v1::TokenizeRequest& req, v1::TokenizeResponse* resp,
                          const CallContext& call = {});
  absl::Status DoDetokenize(const v1::DetokenizeRequest& req, v1::DetokenizeResponse* resp,
                            const CallContext& call = {});
  absl::Status DoRun(const v1::RunRequest& req, v1::RunResponse* resp,
                     const CallContext& call = {});
  void DoStep(const v1::StepRequest& req, v1::StepResponse* resp,
              const CallContext& call = {});
  // Decode without gRPC, in two steps (the Decode stream is these plus its threads, and a
  // fuzz target or a test runs a whole request in-process with them). PrepareDecode makes
  // every check a Decode makes before its stream starts (errors in core's field names: pass
  // them through InRequestNames("Decode" or "Decode/init_requests")); RunDecode then decodes
  // in chunks sized to bound memory, on the calling thread, storing sessions with
  // keep_sessions, and calls run.sink with each result.
  absl::StatusOr<PreparedDecode> PrepareDecode(const v1::DecodeRequest& req,
                                               const CallContext& call = {});
  absl::Status RunDecode(PreparedDecode& decode, const DecodeRun& run,
                         const CallContext& call = {});

  SessionStore* store() { return store_; }
  EngineCache* engines() { return engines_; }
  const ServiceOptions& options() const { return options_; }
  absl::Status CheckBatch(absl::string_view field, int size) const;
  // InvalidArgument naming `field` for a source over --max-source-bytes.
  absl::Status CheckSourceSize(absl::string_view field, absl::string_view source) const;
  absl::Status Admit() const;  // UNAVAILABLE while draining
  // store()->Insert, recording the new ids in call.created.
  absl::StatusOr<std::vector<std::string>> InsertSessions(std::vector<DecodeState> states,
                                                          const CallContext& call);
  // Takes one of --max-decode-streams (RESOURCE_EXHAUSTED naming `streams` when none is free);
  // EndStream gives it back.
  absl::Status BeginStream();
  void EndStream();
  // The caller's tenant: "" without --auth-tokens; Unauthenticated for a bad token.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& ctx) const;

 private:
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, absl::string_view method,
                                  const grpc::ByteBuffer* raw_req, grpc::ByteBuffer* raw_resp,
                                  absl::Status (DecoderService::*fn)(const Req&, Resp*,
                                                                     const CallContext&));

  const ServiceOptions options_;
  SessionStore* const store_;
  EngineCache* const engines_;
  std::atomic<bool> draining_{false};
  std::atomic<int> streams_{0};  // Decode streams running
  // Last: destroyed first, its threads joined while the rest is still there (no call runs by
  // then; the server waits for every call's OnDone before the service goes).
  const std::unique_ptr<DecodePool> decode_pool_;
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_SERVICE_H_
