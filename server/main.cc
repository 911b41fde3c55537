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
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/internal/private_handle_accessor.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/auth.h"
#include "server/log.h"
#include "server/flags.h"
#include "server/metrics.h"
#include "server/service.h"
#include "server/session_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "address to listen on (port 0: any free port)");
ABSL_FLAG(int64_t, max_sessions, 100000, "cap on live sessions");
ABSL_FLAG(absl::Duration, session_ttl, absl::Minutes(10), "idle sessions expire after this");
ABSL_FLAG(int32_t, max_batch, 1024, "sessions, requests, programs or inputs per call");
ABSL_FLAG(int32_t, max_sources, 256, "sources per Tokenize call");
ABSL_FLAG(int64_t, max_source_bytes, int64_t{1} << 20, "bytes per source");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "address of the Prometheus /metrics endpoint (port 0: any free port; empty: none)");
ABSL_FLAG(absl::Duration, drain_deadline, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls-key, the port is TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates; clients must then present a certificate they signed (mTLS)");
ABSL_FLAG(std::string, auth_tokens, "",
          "file of `TOKEN TENANT` lines; every Decoder call must send "
          "`authorization: Bearer TOKEN`, and sessions belong to their tenant");
ABSL_FLAG(int64_t, max_sessions_per_tenant, 0,
          "cap on one tenant's live sessions (0: only --max-sessions)");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{64} << 20,
          "largest request message (RESOURCE_EXHAUSTED beyond it)");
ABSL_FLAG(std::string, log_level, "info",
          "info, or debug (adds error messages, which may quote source or tokens)");

// Whether --metrics-listen was given. absl keeps CommandLineFlag::IsSpecifiedOnCommandLine
// private and exposes it through this accessor.
bool MetricsListenGiven() {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag("metrics_listen");
  return absl::flags_internal::PrivateHandleAccessor::IsSpecifiedOnCommandLine(*flag);
}

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are taken by sigwait below. Block them first of all, so that every
  // thread inherits the mask, including any a library starts before the server does; a thread
  // without it would take a SIGTERM with the default action and kill the process mid-drain.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  astcd::server::ParseServerFlags(argc, argv);
  auto usage_error = [](const std::string& message) {
    astcd::server::LogEvent("error", "bad_flags", {{"message", message}});
    std::cerr << "astcd-server: " << message << "\n";
    return 2;
  };
  const std::string log_level = absl::GetFlag(FLAGS_log_level);
  if (log_level != "info" && log_level != "debug") {
    return usage_error("--log-level must be info or debug");
  }
  astcd::server::SetLogLevel(log_level == "debug" ? astcd::server::LogLevel::kDebug
                                                  : astcd::server::LogLevel::kInfo);
  const int64_t max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (max_message_bytes < 1024 || max_message_bytes > (int64_t{1} << 30)) {
    return usage_error("--max-message-bytes must lie in [1024, 2^30]");
  }

  // TLS: a certificate and its key, and optionally the CAs of client certificates (mTLS).
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  const std::string tls_cert = absl::GetFlag(FLAGS_tls_cert), tls_key = absl::GetFlag(FLAGS_tls_key),
                    tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (tls_cert.empty() != tls_key.empty()) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return usage_error("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!tls_cert.empty()) {
    auto read = [](const std::string& path, std::string* out) {
      std::ifstream file(path, std::ios::binary);
      std::ostringstream text;
      text << file.rdbuf();
      *out = text.str();
      return file.good() || file.eof() ? !out->empty() : false;
    };
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!read(tls_cert, &pair.cert_chain)) return usage_error("cannot read --tls-cert " + tls_cert);
    if (!read(tls_key, &pair.private_key)) return usage_error("cannot read --tls-key " + tls_key);
    ssl.pem_key_cert_pairs.push_back(pair);
    if (!tls_client_ca.empty()) {
      if (!read(tls_client_ca, &ssl.pem_root_certs)) {
        return usage_error("cannot read --tls-client-ca " + tls_client_ca);
      }
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  std::optional<astcd::server::TokenAuthenticator> auth;
  if (const std::string path = absl::GetFlag(FLAGS_auth_tokens); !path.empty()) {
    absl::StatusOr<astcd::server::TokenAuthenticator> parsed =
        astcd::server::TokenAuthenticator::FromFile(path);
    if (!parsed.ok()) return usage_error(std::string(parsed.status().message()));
    auth = *std::move(parsed);
  }

  astcd::server::SessionStoreOptions store_options;
  store_options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  store_options.max_sessions_per_tenant = absl::GetFlag(FLAGS_max_sessions_per_tenant);
  store_options.ttl = absl::GetFlag(FLAGS_session_ttl);
  store_options.sweep_interval =
      std::clamp(store_options.ttl / 4, absl::Milliseconds(50), absl::Seconds(10));
  astcd::server::SessionStore store(store_options);
  astcd::server::EngineCache engines;
  // Metrics first: they must outlive the server, whose interceptors record into them.
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  std::unique_ptr<astcd::server::Metrics> metrics;
  int metrics_port = 0;
  if (!metrics_listen.empty()) {
    metrics = std::make_unique<astcd::server::Metrics>(&store);
    absl::StatusOr<int> p = metrics->Listen(metrics_listen);
    if (p.ok()) {
      metrics_port = *p;
    } else if (MetricsListenGiven()) {  // an address given must work
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
  service_options.max_batch = absl::GetFlag(FLAGS_max_batch);
  service_options.max_sources = absl::GetFlag(FLAGS_max_sources);
  service_options.max_source_bytes = absl::GetFlag(FLAGS_max_source_bytes);
  astcd::server::DecoderService service(service_options, &store, &engines);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  if (metrics != nullptr) interceptors.push_back(metrics->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
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
       {"tls", tls_cert.empty() ? "off" : (tls_client_ca.empty() ? "on" : "mutual")},
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
                           {"deadline", absl::FormatDuration(absl::GetFlag(FLAGS_drain_deadline))},
                           {"live_sessions", absl::StrCat(store.size())}});
  service.BeginDrain();
  if (health != nullptr) health->SetServingStatus(false);
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_drain_deadline)));
  server->Wait();
  // The last responses of a finished stream may still sit unread in a client's socket buffer.
  // Exiting at once can close the connection with a reset, which makes the client's kernel
  // drop them, so give readers a moment before the sockets close.
  absl::SleepFor(std::min(absl::Milliseconds(500), absl::GetFlag(FLAGS_drain_deadline)));
  astcd::server::LogEvent("info", "stopped");
  return 0;
}
