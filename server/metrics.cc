#include "server/metrics.h"

#include <dirent.h>
#include <google/protobuf/descriptor.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace astcd::server {

using RpcType = grpc::experimental::ServerRpcInfo::Type;

struct Metrics::Method {
  std::string service, method, type;
  // Created on first use (Family::Add returns the existing series if a racer added it): only
  // the methods and codes that happen get series, but the started series of the known methods
  // are created at 0 up front.
  std::atomic<prometheus::Counter*> started{nullptr};
  std::atomic<prometheus::Histogram*> seconds{nullptr};
  std::array<std::atomic<prometheus::Counter*>, 17> handled{};  // by grpc::StatusCode
};

namespace {

constexpr absl::string_view kCodeNames[17] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

absl::string_view TypeName(RpcType type) {
  switch (type) {
    case RpcType::UNARY:
      return "unary";
    case RpcType::CLIENT_STREAMING:
      return "client_stream";
    case RpcType::SERVER_STREAMING:
      return "server_stream";
    case RpcType::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3,   2.5e-3, 5e-3,
      10e-3, 25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1};
  return *buckets;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* buckets =
      new prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return *buckets;
}

// Counts started at the call's first hook point (POST_RECV_INITIAL_METADATA) and handled, with
// the duration, at PRE_SEND_STATUS.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, Metrics::Method* method)
      : metrics_(metrics), method_(method) {}
  ~MetricsInterceptor() override {
    // A call that ended without sending a status (torn down by a shutdown) still ends.
    if (started_.load() && !handled_.exchange(true)) Handled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (!methods->QueryInterceptionHookPoint(Hook::PRE_SEND_CANCEL) && !started_.load()) {
      start_ = std::chrono::steady_clock::now();
      started_.store(true);
      metrics_->RecordStarted(method_);
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) && !handled_.exchange(true)) {
      Handled(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    metrics_->RecordHandled(method_, static_cast<int>(code), seconds);
  }

  Metrics* const metrics_;
  Metrics::Method* const method_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> started_{false};
  std::atomic<bool> handled_{false};
};

class InterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, metrics_->MethodFor(info->method(), info->type()));
  }

 private:
  Metrics* const metrics_;
};

// /proc/self: the standard process_* metrics (Linux only; a missing file gives no sample).
std::vector<std::string> ProcStatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');  // the command name may hold spaces and parentheses
  std::vector<std::string> fields;
  if (paren == std::string::npos) return fields;
  std::istringstream rest(line.substr(paren + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 of proc(5), "state"
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

// Read at scrape time: the session store's counters and /proc/self.
class Metrics::ScrapeCollector final : public prometheus::Collectable {
 public:
  explicit ScrapeCollector(const SessionStore* store)
      : store_(store),
        ticks_(static_cast<double>(sysconf(_SC_CLK_TCK))),
        page_(static_cast<double>(sysconf(_SC_PAGESIZE))) {
    const std::vector<std::string> stat = ProcStatFields();
    if (stat.size() > 19 && ticks_ > 0) {
      start_time_ = BootTimeSeconds() + std::stod(stat[19]) / ticks_;
    }
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    if (store_ != nullptr) {
      out.push_back(Family("astcd_sessions_live", "Live decoder sessions.", MetricType::Gauge,
                           static_cast<double>(store_->size())));
      out.push_back(Family("astcd_sessions_max", "The cap on live sessions (--max-sessions).",
                           MetricType::Gauge, static_cast<double>(store_->max_sessions())));
      out.push_back(Family("astcd_sessions_created_total", "Sessions created.", MetricType::Counter,
                           static_cast<double>(store_->created_total())));
      out.push_back(Family("astcd_sessions_released_total", "Sessions freed by ReleaseStates.",
                           MetricType::Counter, static_cast<double>(store_->released_total())));
      prometheus::MetricFamily evicted =
          Family("astcd_sessions_evicted_total", "Sessions evicted, by reason.",
                 MetricType::Counter, static_cast<double>(store_->evicted_total()));
      evicted.metric[0].label.push_back({"reason", "ttl"});
      // Sessions whose ids no client received (server/session_store.h, Discard).
      evicted.metric.push_back(evicted.metric[0]);
      evicted.metric[1].label[0].value = "undelivered";
      evicted.metric[1].counter.value = static_cast<double>(store_->discarded_total());
      out.push_back(std::move(evicted));
    }
    const std::vector<std::string> stat = ProcStatFields();
    if (stat.size() > 12 && ticks_ > 0) {
      const double cpu = (std::stod(stat[11]) + std::stod(stat[12])) / ticks_;  // utime + stime
      out.push_back(Family("process_cpu_seconds_total",
                           "Total user and system CPU time spent "
                           "in seconds.",
                           MetricType::Counter, cpu));
    }
    std::ifstream statm("/proc/self/statm");
    double virt = 0, rss = 0;
    if (statm >> virt >> rss) {
      out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge, rss * page_));
      out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, virt * page_));
    }
    if (start_time_ > 0) {
      out.push_back(Family("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           MetricType::Gauge, start_time_));
    }
    if (DIR* dir = opendir("/proc/self/fd")) {
      int n = 0;
      while (const dirent* e = readdir(dir)) {
        if (e->d_name[0] != '.') ++n;
      }
      closedir(dir);
      out.push_back(Family("process_open_fds", "Number of open file descriptors.",
                           MetricType::Gauge, n - 1));  // not the directory's own
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                           MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
    }
    return out;
  }

 private:
  const SessionStore* const store_;
  const double ticks_;
  const double page_;
  double start_time_ = 0;
};

Metrics::Metrics(const SessionStore* store, MetricsOptions options)
    : registry_(std::make_shared<prometheus::Registry>()),
      scrape_(std::make_shared<ScrapeCollector>(store)) {
  prometheus::Registry& r = *registry_;
  started_ = &prometheus::BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Register(r);
  handled_ = &prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help(
                      "Total number of RPCs completed on the server, regardless of success "
                      "or failure.")
                  .Register(r);
  handling_ = &prometheus::BuildHistogram()
                   .Name("grpc_server_handling_seconds")
                   .Help(
                       "Histogram of response latency (seconds) of gRPC that had been "
                       "application-level handled by the server.")
                   .Register(r);
  batch_ = &prometheus::BuildHistogram()
                .Name("astcd_batch_size")
                .Help("Sessions, requests, sources, programs or inputs per call, by method.")
                .Register(r);
  tokens_advanced_ = &prometheus::BuildCounter()
                          .Name("astcd_tokens_advanced_total")
                          .Help("Tokens accepted by Advance (unary and Step).")
                          .Register(r)
                          .Add({});
  masks_served_ = &prometheus::BuildCounter()
                       .Name("astcd_masks_served_total")
                       .Help("Legal-token mask rows returned.")
                       .Register(r)
                       .Add({});
  auto& forced = prometheus::BuildCounter()
                     .Name("astcd_forced_tokens_total")
                     .Help(
                         "Forced tokens returned by jump-forward (InitStates, Advance, Step), "
                         "by mode; with apply the sessions took them too.")
                     .Register(r);
  forced_[0] = &forced.Add({{"jump_forward", Str(EnumName(JumpForward::kReport))}});
  forced_[1] = &forced.Add({{"jump_forward", Str(EnumName(JumpForward::kApply))}});
  auto& decoded = prometheus::BuildCounter()
                      .Name("astcd_programs_decoded_total")
                      .Help("Programs produced by Decode, by stop reason.")
                      .Register(r);
  for (size_t i = 0; i < decoded_.size(); ++i) {
    decoded_[i] = &decoded.Add({{"stop_reason", Str(EnumName(static_cast<StopReason>(i)))}});
  }
  auto& run = prometheus::BuildCounter()
                  .Name("astcd_run_outcomes_total")
                  .Help("Outcomes of Run, one per input, by status.")
                  .Register(r);
  for (size_t i = 0; i < run_.size(); ++i) {
    run_[i] = &run.Add({{"status", Str(EnumName(static_cast<RunStatus>(i)))}});
  }
  auto& tokenize = prometheus::BuildCounter()
                       .Name("astcd_tokenize_results_total")
                       .Help(
                           "Tokenize results, one per source: stage \"ok\", or the stage "
                           "that refused the source.")
                       .Register(r);
  tokenize_[0] = &tokenize.Add({{"stage", "ok"}});
  for (size_t i = 1; i < tokenize_.size(); ++i) {
    tokenize_[i] = &tokenize.Add({{"stage", Str(EnumName(static_cast<TokenizeStage>(i - 1)))}});
  }

  for (const std::string& service : options.services) AddService(service);
  for (RpcType type : {RpcType::UNARY, RpcType::CLIENT_STREAMING, RpcType::SERVER_STREAMING,
                       RpcType::BIDI_STREAMING}) {
    auto m = std::make_unique<Method>();
    m->service = m->method = "unknown";
    m->type = Str(TypeName(type));
    unknown_[static_cast<size_t>(type)] = std::move(m);
  }
  for (const char* method : {"InitStates", "LegalMasks", "Advance", "Rollback", "ForkStates",
                             "ReleaseStates", "Tokenize", "Detokenize", "Run", "Decode"}) {
    batch_by_method_[method] = std::make_unique<std::atomic<prometheus::Histogram*>>(nullptr);
  }
}

Metrics::~Metrics() = default;

void Metrics::AddService(absl::string_view service) {
  std::vector<std::pair<std::string, RpcType>> methods;
  const google::protobuf::ServiceDescriptor* d =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(Str(service));
  if (d != nullptr) {
    for (int i = 0; i < d->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = d->method(i);
      const RpcType type =
          m->client_streaming()
              ? (m->server_streaming() ? RpcType::BIDI_STREAMING : RpcType::CLIENT_STREAMING)
              : (m->server_streaming() ? RpcType::SERVER_STREAMING : RpcType::UNARY);
      methods.emplace_back(m->name(), type);
    }
  } else if (service == "grpc.health.v1.Health") {  // gRPC's own, not in protobuf's pool
    methods = {{"Check", RpcType::UNARY}, {"Watch", RpcType::SERVER_STREAMING}};
  }
  for (auto& [name, type] : methods) {
    auto m = std::make_unique<Method>();
    m->service = Str(service);
    m->method = name;
    m->type = Str(TypeName(type));
    StartedOf(m.get());  // at 0, so that rate() and increase() see the first call
    methods_[absl::StrCat("/", service, "/", name)] = std::move(m);
  }
}

Metrics::Method* Metrics::MethodFor(const char* path, RpcType type) {
  if (path != nullptr) {
    auto it = methods_.find(absl::string_view(path));
    if (it != methods_.end()) return it->second.get();
  }
  const size_t t = static_cast<size_t>(type);
  return unknown_[t < unknown_.size() ? t : unknown_.size() - 1].get();
}

prometheus::Counter* Metrics::StartedOf(Method* m) {
  prometheus::Counter* started = m->started.load(std::memory_order_acquire);
  if (started == nullptr) {
    started = &started_->Add(
        {{"grpc_service", m->service}, {"grpc_method", m->method}, {"grpc_type", m->type}});
    m->started.store(started, std::memory_order_release);
  }
  return started;
}

void Metrics::RecordStarted(Method* m) { StartedOf(m)->Increment(); }

void Metrics::RecordHandled(Method* m, int code, double seconds) {
  if (code < 0 || code >= static_cast<int>(m->handled.size())) code = 2;  // UNKNOWN
  prometheus::Counter* handled = m->handled[code].load(std::memory_order_acquire);
  if (handled == nullptr) {
    handled = &handled_->Add({{"grpc_service", m->service},
                              {"grpc_method", m->method},
                              {"grpc_type", m->type},
                              {"grpc_code", Str(kCodeNames[code])}});
    m->handled[code].store(handled, std::memory_order_release);
  }
  handled->Increment();
  prometheus::Histogram* h = m->seconds.load(std::memory_order_acquire);
  if (h == nullptr) {
    h = &handling_->Add(
        {{"grpc_service", m->service}, {"grpc_method", m->method}, {"grpc_type", m->type}},
        HandlingBuckets());
    m->seconds.store(h, std::memory_order_release);
  }
  h->Observe(seconds);
}

absl::StatusOr<int> Metrics::Listen(const std::string& address) {
  if (exposer_ != nullptr) return absl::FailedPreconditionError("metrics: already listening");
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(scrape_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    exposer_.reset();
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", address));
  }
  return ports[0];
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::NewInterceptorFactory() {
  return std::make_unique<InterceptorFactory>(this);
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : scrape_->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::TokensAdvanced(int64_t n) { tokens_advanced_->Increment(static_cast<double>(n)); }

void Metrics::MasksServed(int64_t rows) { masks_served_->Increment(static_cast<double>(rows)); }

void Metrics::ForcedTokens(bool applied, int64_t n) {
  forced_[applied ? 1 : 0]->Increment(static_cast<double>(n));
}

void Metrics::BatchSize(absl::string_view method, int64_t size) {
  auto it = batch_by_method_.find(method);
  if (it == batch_by_method_.end()) return;  // only the fixed set: a bounded label
  prometheus::Histogram* h = it->second->load(std::memory_order_acquire);
  if (h == nullptr) {
    h = &batch_->Add({{"grpc_method", Str(method)}}, BatchBuckets());
    it->second->store(h, std::memory_order_release);
  }
  h->Observe(static_cast<double>(size));
}

void Metrics::ProgramDecoded(StopReason reason) {
  const size_t i = static_cast<size_t>(reason);
  if (i < decoded_.size()) decoded_[i]->Increment();
}

void Metrics::RunOutcome(RunStatus status) {
  const size_t i = static_cast<size_t>(status);
  if (i < run_.size()) run_[i]->Increment();
}

void Metrics::Tokenized(const TokenizeResult& result) {
  // core sets `error` on every failure.
  if (!result.ok && !result.error) return;
  const size_t i = result.ok ? 0 : static_cast<size_t>(result.error->stage) + 1;
  if (i < tokenize_.size()) tokenize_[i]->Increment();
}

}  // namespace astcd::server
