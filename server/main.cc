// astcd-server: the Decoder service over gRPC.
#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/service.h"
#include "server/session_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "address to listen on (port 0: any free port)");
ABSL_FLAG(int64_t, max_sessions, 100000, "cap on live sessions");
ABSL_FLAG(absl::Duration, session_ttl, absl::Minutes(10), "idle sessions expire after this");
ABSL_FLAG(int32_t, max_batch, 1024, "sessions, requests, programs or inputs per call");
ABSL_FLAG(int32_t, max_sources, 256, "sources per Tokenize call");
ABSL_FLAG(int64_t, max_source_bytes, int64_t{1} << 20, "bytes per source");
ABSL_FLAG(absl::Duration, drain_deadline, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled");

int main(int argc, char** argv) {
  // Accept --max-sessions as well as --max_sessions.
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> argp;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string& a = args[i];
    if (i > 0 && a.size() > 2 && a.compare(0, 2, "--") == 0) {
      const size_t end = std::min(a.find('='), a.size());
      for (size_t k = 2; k < end; ++k) {
        if (a[k] == '-') a[k] = '_';
      }
    }
    argp.push_back(a.data());
  }
  absl::ParseCommandLine(static_cast<int>(argp.size()), argp.data());

  // Signals are taken by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  astcd::server::SessionStoreOptions store_options;
  store_options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  store_options.ttl = absl::GetFlag(FLAGS_session_ttl);
  store_options.sweep_interval =
      std::clamp(store_options.ttl / 4, absl::Milliseconds(50), absl::Seconds(10));
  astcd::server::SessionStore store(store_options);
  astcd::server::EngineCache engines;
  astcd::server::ServiceOptions service_options;
  service_options.max_batch = absl::GetFlag(FLAGS_max_batch);
  service_options.max_sources = absl::GetFlag(FLAGS_max_sources);
  service_options.max_source_bytes = absl::GetFlag(FLAGS_max_source_bytes);
  astcd::server::DecoderService service(service_options, &store, &engines);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "astcd-server: cannot listen on " << listen << "\n";
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(true);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "astcd-server listening on " << host << ":" << port << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "astcd-server: signal " << sig << ", draining\n";
  service.BeginDrain();
  if (health != nullptr) health->SetServingStatus(false);
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_drain_deadline)));
  server->Wait();
  std::cerr << "astcd-server: stopped\n";
  return 0;
}
