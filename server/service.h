// The astcd.v1.Decoder service on gRPC's callback API: protobuf in, core/ calls, protobuf out.
#ifndef ASTCD_SERVER_SERVICE_H_
#define ASTCD_SERVER_SERVICE_H_

#include <atomic>
#include <cstdint>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "astcd/v1/astcd.grpc.pb.h"
#include "server/session_store.h"

namespace astcd::server {

class Metrics;
class TokenAuthenticator;

struct ServiceOptions {
  int max_batch = 1024;                     // sessions, requests, programs or inputs per call
  int max_sources = 256;                    // sources per Tokenize
  int64_t max_source_bytes = int64_t{1} << 20;  // bytes per source
  // Run: inputs × limits.max_steps per call, and with trace, inputs × max_steps trace events.
  int64_t max_run_steps = 200'000'000;
  int64_t max_trace_events = 1'000'000;
  int max_decode_streams = 16;                  // Decode streams running at once
  int64_t max_response_bytes = int64_t{64} << 20;  // a unary response's serialized size
  Metrics* metrics = nullptr;               // optional (server/metrics.h); must outlive the service
  // Optional (server/auth.h): every call must then name a tenant; must outlive the service.
  const TokenAuthenticator* auth = nullptr;
};

class DecoderService final : public v1::Decoder::CallbackService {
 public:
  DecoderService(ServiceOptions options, SessionStore* store, EngineCache* engines)
      : options_(options), store_(store), engines_(engines) {}

  // From now on every new call (and every Step) fails with UNAVAILABLE.
  void BeginDrain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

  grpc::ServerUnaryReactor* GetVocabulary(grpc::CallbackServerContext* ctx,
                                          const v1::GetVocabularyRequest* req,
                                          v1::Vocabulary* resp) override;
  grpc::ServerUnaryReactor* InitStates(grpc::CallbackServerContext* ctx,
                                       const v1::InitStatesRequest* req,
                                       v1::InitStatesResponse* resp) override;
  grpc::ServerUnaryReactor* LegalMasks(grpc::CallbackServerContext* ctx,
                                       const v1::LegalMasksRequest* req,
                                       v1::LegalMasksResponse* resp) override;
  grpc::ServerUnaryReactor* Advance(grpc::CallbackServerContext* ctx,
                                    const v1::AdvanceRequest* req,
                                    v1::AdvanceResponse* resp) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* ctx,
                                     const v1::RollbackRequest* req,
                                     v1::RollbackResponse* resp) override;
  grpc::ServerUnaryReactor* ForkStates(grpc::CallbackServerContext* ctx,
                                       const v1::ForkStatesRequest* req,
                                       v1::ForkStatesResponse* resp) override;
  grpc::ServerUnaryReactor* ReleaseStates(grpc::CallbackServerContext* ctx,
                                          const v1::ReleaseStatesRequest* req,
                                          v1::ReleaseStatesResponse* resp) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx,
                                     const v1::TokenizeRequest* req,
                                     v1::TokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* ctx,
                                       const v1::DetokenizeRequest* req,
                                       v1::DetokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const v1::RunRequest* req,
                                v1::RunResponse* resp) override;
  grpc::ServerWriteReactor<v1::DecodeResult>* Decode(grpc::CallbackServerContext* ctx,
                                                     const v1::DecodeRequest* req) override;
  grpc::ServerBidiReactor<v1::StepRequest, v1::StepResponse>* Step(
      grpc::CallbackServerContext* ctx) override;

  // The RPCs without gRPC (Step and the tests use them).
  absl::Status DoGetVocabulary(const v1::GetVocabularyRequest& req, v1::Vocabulary* resp,
                               absl::string_view tenant = {});
  absl::Status DoInitStates(const v1::InitStatesRequest& req, v1::InitStatesResponse* resp,
                            absl::string_view tenant = {});
  absl::Status DoLegalMasks(const v1::LegalMasksRequest& req, v1::LegalMasksResponse* resp,
                            absl::string_view tenant = {});
  absl::Status DoAdvance(const v1::AdvanceRequest& req, v1::AdvanceResponse* resp,
                         absl::string_view tenant = {});
  absl::Status DoRollback(const v1::RollbackRequest& req, v1::RollbackResponse* resp,
                          absl::string_view tenant = {});
  absl::Status DoForkStates(const v1::ForkStatesRequest& req, v1::ForkStatesResponse* resp,
                            absl::string_view tenant = {});
  absl::Status DoReleaseStates(const v1::ReleaseStatesRequest& req,
                               v1::ReleaseStatesResponse* resp, absl::string_view tenant = {});
  absl::Status DoTokenize(const v1::TokenizeRequest& req, v1::TokenizeResponse* resp,
                          absl::string_view tenant = {});
  absl::Status DoDetokenize(const v1::DetokenizeRequest& req, v1::DetokenizeResponse* resp,
                            absl::string_view tenant = {});
  absl::Status DoRun(const v1::RunRequest& req, v1::RunResponse* resp,
                     absl::string_view tenant = {});
  void DoStep(const v1::StepRequest& req, v1::StepResponse* resp,
              absl::string_view tenant = {});

  SessionStore* store() { return store_; }
  EngineCache* engines() { return engines_; }
  const ServiceOptions& options() const { return options_; }
  absl::Status CheckBatch(absl::string_view field, int size) const;
  // InvalidArgument naming `field` for a source over --max-source-bytes.
  absl::Status CheckSourceSize(absl::string_view field, absl::string_view source) const;
  absl::Status Admit() const;  // UNAVAILABLE while draining
  // The caller's tenant: "" without --auth-tokens; Unauthenticated for a bad token.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& ctx) const;

 private:
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, absl::string_view method,
                                  Fn fn);

  const ServiceOptions options_;
  SessionStore* const store_;
  EngineCache* const engines_;
  std::atomic<bool> draining_{false};
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_SERVICE_H_
