// Prometheus metrics of astcd-server: one registry with
//  - the gRPC server metrics (grpc_server_started_total, grpc_server_handled_total,
//    grpc_server_handling_seconds), recorded by a server interceptor so that every RPC of
//    every service is counted, whatever its handler does;
//  - the service's own counters (tokens advanced, mask rows, batch sizes, decode stop reasons,
//    run outcomes, tokenize results), which DecoderService reports through the small methods
//    below;
//  - the session gauges and counters and the process metrics, read at scrape time from the
//    SessionStore's atomics and /proc/self.
// Every label value comes from a fixed set (method names of the registered services, status
// codes, core's enum names): no session id or other client-chosen string becomes a label.
#ifndef ASTCD_SERVER_METRICS_H_
#define ASTCD_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/decode.h"
#include "core/interpreter.h"
#include "core/tokenize.h"
#include "server/session_store.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace astcd::server {

struct MetricsOptions {
  // The services whose method names may become grpc_service/grpc_method label values (their
  // methods are looked up in protobuf's generated descriptor pool; grpc.health.v1.Health, which
  // gRPC implements without protobuf, is known by name). A call to any other method counts
  // under grpc_service="unknown", grpc_method="unknown", so a client cannot create series.
  std::vector<std::string> services = {"astcd.v1.Decoder", "grpc.health.v1.Health",
                                       "grpc.reflection.v1alpha.ServerReflection"};
};

class Metrics {
 public:
  // `store` (may be null) is read at every scrape; it must outlive this object.
  explicit Metrics(const SessionStore* store, MetricsOptions options = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics over HTTP on `address` (HOST:PORT; port 0 picks a free one) and returns the
  // port. At most once.
  absl::StatusOr<int> Listen(const std::string& address);

  // The interceptor factory for ServerBuilder::experimental().SetInterceptorCreators. It must
  // not outlive this object.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // The exposition text of everything (what /metrics serves).
  std::string Text() const;

  // ---- What the service reports -------------------------------------------------------------
  void TokensAdvanced(int64_t n);  // tokens accepted by Advance (unary or in Step)
  void MasksServed(int64_t rows);  // mask rows returned by any RPC
  // Tokens of the forced chains returned by jump-forward; `applied`: the sessions took them.
  void ForcedTokens(bool applied, int64_t n);
  // The batch size of one call of `method` ("Advance", "InitStates", ...; a fixed set).
  void BatchSize(absl::string_view method, int64_t size);
  void ProgramDecoded(StopReason reason);
  void RunOutcome(RunStatus status);
  void Tokenized(const TokenizeResult& result);  // stage "ok", or the error's stage

  // One RPC method's series (internal: the interceptor's).
  struct Method;
  Method* MethodFor(const char* path, grpc::experimental::ServerRpcInfo::Type type);
  void RecordStarted(Method* method);
  void RecordHandled(Method* method, int code, double seconds);

 private:
  class ScrapeCollector;

  void AddService(absl::string_view service);
  prometheus::Counter* StartedOf(Method* method);

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::shared_ptr<ScrapeCollector> scrape_;
  prometheus::Family<prometheus::Counter>* started_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Histogram>* handling_;
  prometheus::Family<prometheus::Histogram>* batch_;
  prometheus::Counter* tokens_advanced_;
  prometheus::Counter* masks_served_;
  std::array<prometheus::Counter*, 2> forced_{};  // jump_forward "report", "apply"
  std::array<prometheus::Counter*, EnumCount<StopReason>()> decoded_{};
  std::array<prometheus::Counter*, EnumCount<RunStatus>()> run_{};
  std::array<prometheus::Counter*, EnumCount<TokenizeStage>() + 1> tokenize_{};  // "ok", stages
  // Fixed after construction, so the RPC path reads them without a lock.
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
  std::array<std::unique_ptr<Method>, 4> unknown_;  // by ServerRpcInfo::Type
  absl::flat_hash_map<std::string, std::unique_ptr<std::atomic<prometheus::Histogram*>>>
      batch_by_method_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_METRICS_H_
