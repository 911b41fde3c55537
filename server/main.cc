// astcd-server: the Decoder service over gRPC.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/auth.h"
#include "server/log.h"
#include "server/flags.h"
#include "server/metrics.h"
#include "server/service.h"
#include "server/session_store.h"

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are taken by sigwait below. Block them first of all, so that every
  // thread inherits the mask, including any a library starts before the server does; a thread
  // without it would take a SIGTERM with the default action and kill the process mid-drain.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detector (a
  // lock graph updated on gRPC's every lock) on; it checks nothing of ours (core/mutex.h).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Every flag is checked here, against server/flags.cc's table: a bad one exits 2.
  const astcd::server::ServerFlags flags = astcd::server::ParseServerFlags(
      argc, argv, astcd::server::ServerFlagTable(), "astcd-server");
  astcd::server::SetLogLevel(flags.log_level == "debug" ? astcd::server::LogLevel::kDebug
                                                        : astcd::server::LogLevel::kInfo);
  auto usage_error = [](const std::string& message) {
    astcd::server::LogEvent("error", "bad_flags", {{"message", message}});
    std::cerr << "astcd-server: " << message << "\n";
    return astcd::server::kFlagUsageError;
  };

  // TLS: a certificate and its key, and optionally the CAs of client certificates (mTLS). The
  // table has checked that the files are readable PEM and that the flags come together.
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!flags.tls_cert.empty()) {
    auto read = [](const std::string& path) {
      std::ifstream file(path, std::ios::binary);
      std::ostringstream text;
      text << file.rdbuf();
      return text.str();
    };
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    pair.cert_chain = read(flags.tls_cert);
    pair.private_key = read(flags.tls_key);
    ssl.pem_key_cert_pairs.push_back(pair);
    if (!flags.tls_client_ca.empty()) {
      ssl.pem_root_certs = read(flags.tls_client_ca);
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  std::optional<astcd::server::TokenAuthenticator> auth;
  if (!flags.auth_tokens.empty()) {
    absl::StatusOr<astcd::server::TokenAuthenticator> parsed =
        astcd::server::TokenAuthenticator::FromFile(flags.auth_tokens);
    if (!parsed.ok()) {
      return usage_error(absl::StrCat("--auth-tokens ", flags.auth_tokens, ": ",
                                      parsed.status().message()));
    }
    auth = *std::move(parsed);
  }

  astcd::server::SessionStoreOptions store_options;
  store_options.max_sessions = flags.max_sessions;
  store_options.max_sessions_per_tenant = flags.max_sessions_per_tenant;
  store_options.max_session_bytes = flags.max_session_bytes;
  store_options.ttl = flags.session_ttl;
  store_options.sweep_interval =
      std::clamp(store_options.ttl / 4, absl::Milliseconds(50), absl::Seconds(10));
  astcd::server::SessionStore store(store_options);
  astcd::server::EngineCache engines;
  // Metrics first: they must outlive the server, whose interceptors record into them.
  const std::string& metrics_listen = flags.metrics_listen;
  std::unique_ptr<astcd::server::Metrics> metrics;
  int metrics_port = 0;
  if (!metrics_listen.empty()) {
    metrics = std::make_unique<astcd::server::Metrics>(&store);
    absl::StatusOr<int> p = metrics->Listen(metrics_listen);
    if (p.ok()) {
      metrics_port = *p;
    } else if (flags.Given("metrics-listen")) {  // an address given must work
      astcd::server::LogEvent("error", "metrics_listen_failed", {{"address", metrics_listen}});
      std::cerr << "astcd-server: " << p.status().message() << "\n";
      return 1;
    } else {  // the default address is best effort: another server may hold it
      astcd::server::LogEvent("warn", "metrics_disabled", {{"address", metrics_listen}});
      std::cerr << "astcd-server: " << p.status().message() << "; serving without metrics\n";
      metrics.reset();
    }
  }
  astcd::server::ServiceOptions service_options;
  service_options.metrics = metrics.get();
  service_options.auth = auth ? &*auth : nullptr;
  service_options.max_batch = static_cast<int>(flags.max_batch);
  service_options.max_sources = static_cast<int>(flags.max_sources);
  service_options.max_source_bytes = flags.max_source_bytes;
  service_options.max_run_steps = flags.max_run_steps;
  service_options.max_trace_events = flags.max_trace_events;
  service_options.max_decode_streams = static_cast<int>(flags.max_decode_streams);
  service_options.decode_threads =
      flags.decode_threads > 0 ? static_cast<int>(flags.decode_threads)
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  service_options.max_response_bytes = flags.max_response_bytes;
  service_options.max_message_bytes = flags.max_message_bytes;
  astcd::server::DecoderService service(service_options, &store, &engines);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string& listen = flags.listen;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  if (metrics != nullptr) interceptors.push_back(metrics->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(flags.max_message_bytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    astcd::server::LogEvent("error", "listen_failed", {{"address", listen}});
    std::cerr << "astcd-server: cannot listen on " << listen << "\n";
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(true);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "astcd-server listening on " << host << ":" << port << std::endl;
  astcd::server::LogEvent(
      "info", "listening",
      {{"address", absl::StrCat(host, ":", port)},
       {"tls", flags.tls_cert.empty() ? "off" : (flags.tls_client_ca.empty() ? "on" : "mutual")},
       {"auth", auth ? absl::StrCat(auth->size(), " tokens") : "off"},
       {"max_sessions", absl::StrCat(store_options.max_sessions)}});
  if (metrics != nullptr) {
    const std::string metrics_host = metrics_listen.substr(0, metrics_listen.rfind(':'));
    std::cout << "astcd-server metrics on " << metrics_host << ":" << metrics_port << std::endl;
    astcd::server::LogEvent("info", "metrics_listening",
                            {{"address", absl::StrCat(metrics_host, ":", metrics_port)}});
  }

  int sig = 0;
  sigwait(&signals, &sig);
  astcd::server::LogEvent("info", "draining",
                          {{"signal", absl::StrCat(sig)},
                           {"deadline", absl::FormatDuration(flags.drain_deadline)},
                           {"live_sessions", absl::StrCat(store.size())}});
  service.BeginDrain();
  if (health != nullptr) health->SetServingStatus(false);
  const absl::Time drain_end = absl::Now() + flags.drain_deadline;
  // gRPC's Shutdown answers CANCELLED to calls it has received but not yet handed to the
  // service (grpc/grpc#41785); astcd's clients replay those, but a generic client retries only
  // UNAVAILABLE. During the grace the service itself answers UNAVAILABLE, and health-checking
  // balancers move away.
  absl::SleepFor(std::min(flags.drain_grace, flags.drain_deadline));
  server->Shutdown(absl::ToChronoTime(drain_end));  // cancels what still runs at drain_end
  server->Wait();
  // The last responses of a finished stream may still sit unread in a client's socket buffer.
  // Exiting at once can close the connection with a reset, which makes the client's kernel
  // drop them, so give readers a moment before the sockets close.
  // Within the drain deadline, which the process keeps.
  absl::SleepFor(std::clamp(drain_end - absl::Now(), absl::ZeroDuration(), absl::Milliseconds(500)));
  astcd::server::LogEvent("info", "stopped");
  return 0;
}
