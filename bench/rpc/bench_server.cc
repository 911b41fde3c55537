// astcd_bench_server: the real astcd.v1.Decoder service (server/service.h, astcd_server_lib) and
// the bench-only astcd.bench.v1.Null service (bench/rpc/null.proto) in one gRPC server process,
// so that rpc_bench can time an Advance and a null call of the same bytes side by side, on the
// same port, threads and interceptors.
//
// Flags follow astcd-server's (--listen, --max-sessions, --session-ttl, --max-batch,
// --metrics-listen, --max-message-bytes); dashes and underscores are the same. No TLS, no
// tokens: this is a benchmark fixture, not a deployment. The first stdout line is
// `astcd_bench_server listening on HOST:PORT`. SIGTERM or SIGINT drains and exits 0.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "astcd/v1/astcd.pb.h"
#include "core/config.h"
#include "null.grpc.pb.h"
#include "server/errors.h"
#include "server/flags.h"
#include "server/metrics.h"
#include "server/service.h"
#include "server/session_store.h"

namespace {

// astcd-server's rows for the flags the bench server has, with metrics off by default.
std::vector<astcd::server::FlagSpec> BenchFlagTable() {
  std::vector<astcd::server::FlagSpec> table = astcd::server::SelectFlags(
      astcd::server::ServerFlagTable(),
      {"listen", "max-sessions", "session-ttl", "max-batch", "metrics-listen",
       "max-message-bytes", "drain-deadline"});
  for (astcd::server::FlagSpec& spec : table) {
    if (spec.name == "metrics-listen") {
      spec.default_value = "";
      spec.help =
          "address of the Prometheus /metrics endpoint (port 0: any free port; empty, the "
          "default here: none). astcd-server's metrics are on by default, so run.py passes "
          "127.0.0.1:0 to time the same interceptor";
    }
  }
  return table;
}

}  // namespace

namespace astcd::bench {
namespace {

// What the null service answers: an AdvanceResponse shaped like a real Advance(return_masks)
// on the default vocabulary, built the cheapest way there is. Each request id is echoed in one
// SessionState (as the real service does), with two-byte varints for num_tokens and the budget
// (sessions of a few hundred tokens), and the bitmask is a precomputed string of
// batch x words_per_row x 4 bytes, one per batch size. No session is read or written.
class Responses {
 public:
  Responses(std::string fingerprint, int vocab_size, int words)
      : fingerprint_(std::move(fingerprint)), vocab_size_(vocab_size), words_(words) {}

  void Fill(const astcd::v1::AdvanceRequest& req, astcd::v1::AdvanceResponse* resp) {
    const int batch = req.session_ids_size();
    for (int i = 0; i < batch; ++i) {
      astcd::v1::SessionState* s = resp->add_states();
      s->set_session_id(req.session_ids(i));
      s->set_num_tokens(200);
      s->set_token_budget_remaining(824);
    }
    resp->set_bitmask(Mask(batch));
    resp->set_fingerprint(fingerprint_);
    resp->set_vocab_size(vocab_size_);
    resp->set_words_per_row(words_);
  }

 private:
  const std::string& Mask(int batch) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = masks_.find(batch);
      if (it != masks_.end()) return *it->second;
    }
    auto mask = std::make_unique<std::string>(static_cast<size_t>(batch) * words_ * 4, '\0');
    for (size_t i = 0; i < mask->size(); ++i) (*mask)[i] = static_cast<char>(0x5a ^ (i * 37));
    absl::MutexLock lock(&mu_);
    return *masks_.try_emplace(batch, std::move(mask)).first->second;
  }

  const std::string fingerprint_;
  const int vocab_size_;
  const int words_;
  absl::Mutex mu_;
  absl::flat_hash_map<int, std::unique_ptr<std::string>> masks_ ABSL_GUARDED_BY(mu_);
};

class NullService final : public astcd::bench::v1::Null::CallbackService {
 public:
  explicit NullService(Responses* responses) : responses_(responses) {}

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx,
                                 const astcd::v1::AdvanceRequest* req,
                                 astcd::v1::AdvanceResponse* resp) override {
    responses_->Fill(*req, resp);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerBidiReactor<astcd::v1::StepRequest, astcd::v1::StepResponse>* EchoStream(
      grpc::CallbackServerContext* /*ctx*/) override {
    return new EchoReactor(responses_);
  }

 private:
  // As server/service.cc's StepReactor: one read, one answer, one write, in order.
  class EchoReactor final
      : public grpc::ServerBidiReactor<astcd::v1::StepRequest, astcd::v1::StepResponse> {
   public:
    explicit EchoReactor(Responses* responses) : responses_(responses) {
      ok_status_ = astcd::server::ToRpcStatus(absl::OkStatus());
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      response_.Clear();
      response_.set_step_id(request_.step_id());
      responses_->Fill(request_.advance(), response_.mutable_advance());
      *response_.mutable_status() = ok_status_;
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
        return;
      }
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    Responses* const responses_;
    google::rpc::Status ok_status_;
    astcd::v1::StepRequest request_;
    astcd::v1::StepResponse response_;
  };

  Responses* const responses_;
};

}  // namespace
}  // namespace astcd::bench

int main(int argc, char** argv) {
  // As server/main.cc: Debian's Abseil leaves absl::Mutex's deadlock detector on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::vector<astcd::server::FlagSpec> table = BenchFlagTable();
  const astcd::server::ServerFlags flags =
      astcd::server::ParseServerFlags(argc, argv, table, "astcd_bench_server");

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  astcd::server::SessionStoreOptions store_options;
  store_options.max_sessions = flags.max_sessions;
  store_options.ttl = flags.session_ttl;
  store_options.sweep_interval =
      std::clamp(store_options.ttl / 4, absl::Milliseconds(50), absl::Seconds(10));
  astcd::server::SessionStore store(store_options);
  astcd::server::EngineCache engines;

  const std::string& metrics_listen = flags.metrics_listen;
  std::unique_ptr<astcd::server::Metrics> metrics;
  int metrics_port = 0;
  if (!metrics_listen.empty()) {
    astcd::server::MetricsOptions metrics_options;
    metrics_options.services.push_back("astcd.bench.v1.Null");
    metrics = std::make_unique<astcd::server::Metrics>(&store, metrics_options);
    absl::StatusOr<int> p = metrics->Listen(metrics_listen);
    if (!p.ok()) {
      std::cerr << "astcd_bench_server: " << p.status().message() << "\n";
      return 1;
    }
    metrics_port = *p;
  }
  astcd::server::ServiceOptions service_options;
  service_options.metrics = metrics.get();
  service_options.max_batch = static_cast<int>(flags.max_batch);
  astcd::server::DecoderService service(service_options, &store, &engines);

  absl::StatusOr<std::shared_ptr<const astcd::Engine>> engine =
      engines.Get(astcd::DecodeConfig{});
  if (!engine.ok()) {
    std::cerr << "astcd_bench_server: " << engine.status().message() << "\n";
    return 1;
  }
  astcd::bench::Responses responses((*engine)->vocab().fingerprint(), (*engine)->vocab().size(),
                                    (*engine)->words());
  astcd::bench::NullService null_service(&responses);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string& listen = flags.listen;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.RegisterService(&null_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  if (metrics != nullptr) interceptors.push_back(metrics->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(flags.max_message_bytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "astcd_bench_server: cannot listen on " << listen << "\n";
    return 1;
  }
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    health->SetServingStatus(true);
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "astcd_bench_server listening on " << host << ":" << port << std::endl;
  if (metrics != nullptr) {
    const std::string metrics_host = metrics_listen.substr(0, metrics_listen.rfind(':'));
    std::cout << "astcd_bench_server metrics on " << metrics_host << ":" << metrics_port
              << std::endl;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  service.BeginDrain();
  server->Shutdown(absl::ToChronoTime(absl::Now() + flags.drain_deadline));
  server->Wait();
  return 0;
}
