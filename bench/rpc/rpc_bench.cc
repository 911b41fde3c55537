// rpc_bench: the load generator of the RPC benchmarks (bench/rpc/README.md; bench/rpc/run.py
// drives it). One JSON object per measurement on stdout; progress and errors on stderr; exit 1
// on any error (a failed RPC, an illegal step, a short response).
//
//   rpc_bench decode-inproc --sampler uniform|weighted [--render 1] [--inputs 4] [--n 1024]
//                           [--seconds 2]
//       core astcd::Decode on this thread (num_threads 1): new tokens per second.
//   rpc_bench decode-rpc --target HOST:PORT --sampler uniform|weighted [--inputs 4] [--n 1024]
//                        [--streams 2] [--seconds 2]
//       the Decode RPC: `streams` concurrent calls, each with `inputs` MODULE init requests and
//       n samples per input; the next call moves sample_offset on. Every result is read and
//       parsed; new tokens received per second of wall time.
//   rpc_bench step --target HOST:PORT [--batches 1,64,256] [--concs 1,4,16]
//                  [--kinds advance-unary,null-unary,advance-stream,null-stream]
//                  [--rounds 3] [--seconds 1] [--warmup 0.2] [--channels per-worker|shared]
//       closed-loop Advance(return_masks) against astcd_bench_server's null service, with the
//       same request and response bytes: p50, p99, session-steps/s. See "step" below.
//   rpc_bench memory-rpc --target HOST:PORT --pid PID [--sessions 1000000] [--prefix-len 20]
//                        [--batch 1024]
//       VmRSS of PID before and after creating `sessions` sessions with InitStates.
//   rpc_bench memory-inproc [--sessions 1000000] [--prefix-len 20] [--batch 1024]
//       the same with a server::SessionStore in this process.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "astcd/v1/astcd.grpc.pb.h"
#include "bench/bench_timing.h"
#include "core/config.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/sampler.h"
#include "null.grpc.pb.h"
#include "server/session_store.h"

namespace astcd::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "rpc_bench: %s\n", message.c_str());
  std::fflush(stderr);
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

void CheckRpc(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) Die(absl::StrCat(what, ": RPC failed: ", s.error_code(), " ", s.error_message()));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- Flags: --name value or --name=value -----------------------------------------------------

class Flags {
 public:
  Flags(int argc, char** argv) {
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) Die(absl::StrCat("unexpected argument ", a));
      a = a.substr(2);
      const size_t eq = a.find('=');
      if (eq != std::string::npos) {
        values_[a.substr(0, eq)] = a.substr(eq + 1);
      } else if (i + 1 < argc) {
        values_[a] = argv[++i];
      } else {
        Die(absl::StrCat("--", a, " needs a value"));
      }
    }
  }
  std::string Str(const std::string& name, const std::string& def) {
    used_.push_back(name);
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  int64_t Int(const std::string& name, int64_t def) {
    const std::string v = Str(name, absl::StrCat(def));
    int64_t out;
    if (!absl::SimpleAtoi(v, &out)) Die(absl::StrCat("--", name, ": not an integer: ", v));
    return out;
  }
  double Double(const std::string& name, double def) {
    const std::string v = Str(name, absl::StrCat(def));
    double out;
    if (!absl::SimpleAtod(v, &out)) Die(absl::StrCat("--", name, ": not a number: ", v));
    return out;
  }
  std::vector<int> IntList(const std::string& name, const std::string& def) {
    std::vector<int> out;
    for (absl::string_view p : absl::StrSplit(Str(name, def), ',', absl::SkipEmpty())) {
      int v;
      if (!absl::SimpleAtoi(p, &v)) Die(absl::StrCat("--", name, ": not an integer: ", p));
      out.push_back(v);
    }
    return out;
  }
  // Call after every flag was read: refuses flags nobody asked for.
  void CheckAllUsed() const {
    for (const auto& [name, value] : values_) {
      if (std::find(used_.begin(), used_.end(), name) == used_.end()) {
        Die(absl::StrCat("unknown flag --", name));
      }
    }
  }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> used_;
};

std::string JsonEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// A flat JSON object, written in insertion order.
class Json {
 public:
  Json& Add(absl::string_view k, absl::string_view v) {
    return Raw(k, absl::StrCat("\"", JsonEscape(v), "\""));
  }
  Json& Add(absl::string_view k, const char* v) { return Add(k, absl::string_view(v)); }
  Json& Add(absl::string_view k, double v) { return Raw(k, absl::StrFormat("%.6g", v)); }
  Json& Add(absl::string_view k, int64_t v) { return Raw(k, absl::StrCat(v)); }
  Json& Add(absl::string_view k, int v) { return Raw(k, absl::StrCat(v)); }
  void Print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }

 private:
  Json& Raw(absl::string_view k, const std::string& v) {
    if (!body_.empty()) body_ += ", ";
    absl::StrAppend(&body_, "\"", JsonEscape(k), "\": ", v);
    return *this;
  }
  std::string body_;
};

// ---- Masks and the walk policy ---------------------------------------------------------------

constexpr uint32_t kNotPadEos = ~uint32_t{3};  // word 0 without <pad> (0) and <eos> (1)

// A uniformly random legal token other than <pad> and <eos>, or -1 when there is none: the
// policy that keeps a session alive (it never ends its program).
int32_t ChooseLive(const uint32_t* mask, int words, Rng& rng) {
  int total = 0;
  for (int w = 0; w < words; ++w) total += std::popcount(w == 0 ? mask[w] & kNotPadEos : mask[w]);
  if (total == 0) return -1;
  int k = static_cast<int>(rng.Below(static_cast<uint64_t>(total)));
  for (int w = 0; w < words; ++w) {
    uint32_t m = w == 0 ? mask[w] & kNotPadEos : mask[w];
    const int c = std::popcount(m);
    if (k < c) {
      while (k-- > 0) m &= m - 1;
      return w * 32 + std::countr_zero(m);
    }
    k -= c;
  }
  return -1;
}

// A random walk of `len` tokens under the live policy from a fresh root, whose last state still
// has a live token; nullopt when the walk gets stuck first.
std::optional<DecodeState> LiveWalk(const std::shared_ptr<const Engine>& engine, int max_len,
                                    int len, Rng& rng) {
  InitRequest req;
  req.start = Start::kModule;
  req.max_len = max_len;
  DecodeState s = Check(InitState(engine, req), "InitState");
  absl::InlinedVector<uint32_t, 8> mask(engine->words());
  for (;;) {
    s.FillMask(mask.data());
    const int32_t t = ChooseLive(mask.data(), engine->words(), rng);
    if (t < 0) return std::nullopt;
    if (s.num_tokens() == len) return s;
    if (absl::Status st = s.Advance(t); !st.ok()) Die(absl::StrCat("walk: ", st.ToString()));
  }
}

// ---- decode-inproc ---------------------------------------------------------------------------

int DecodeInproc(Flags& flags) {
  const std::string kind = flags.Str("sampler", "uniform");
  const bool render = flags.Int("render", 1) != 0;
  const int inputs = static_cast<int>(flags.Int("inputs", 4));
  const int n = static_cast<int>(flags.Int("n", 1024));
  const double seconds = flags.Double("seconds", 2);
  const uint64_t seed = static_cast<uint64_t>(flags.Int("seed", 11));
  flags.CheckAllUsed();

  std::shared_ptr<const Engine> engine = Check(Engine::Create(DecodeConfig{}), "Engine::Create");
  std::vector<InitRequest> requests(inputs);  // MODULE roots, default budget (128)
  const std::vector<DecodeState> states = Check(InitStates(engine, requests), "InitStates");
  std::unique_ptr<Sampler> sampler =
      Check(MakeSampler(kind, seed, PolicyConfig{}, engine), "MakeSampler");
  DecodeOptions options;
  options.n = n;
  options.render_source = render;
  options.num_threads = 1;
  int64_t tokens = 0, programs = 0, calls = 0;
  const double cpu0 = ThreadCpuSeconds();
  const Clock::time_point t0 = Clock::now();
  double wall = 0;
  do {
    DecodeBatch batch = Check(Decode(states, *sampler, options), "Decode");
    for (const DecodeResult& r : batch.results) tokens += static_cast<int64_t>(r.new_tokens.size());
    programs += static_cast<int64_t>(batch.results.size());
    ++calls;
    options.sample_offset += n;
    if (options.sample_offset > (1 << 30)) options.sample_offset = 0;
    wall = Seconds(Clock::now() - t0);
  } while (wall < seconds);
  const double cpu = ThreadCpuSeconds() - cpu0;
  Json()
      .Add("bench", "decode-inproc")
      .Add("sampler", kind)
      .Add("render", render ? 1 : 0)
      .Add("inputs", inputs)
      .Add("n", n)
      .Add("calls", calls)
      .Add("programs", programs)
      .Add("tokens", tokens)
      .Add("wall_s", wall)
      .Add("cpu_s", cpu)
      .Add("tokens_per_s", static_cast<double>(tokens) / wall)
      .Add("tokens_per_cpu_s", static_cast<double>(tokens) / cpu)
      .Add("tokens_per_program", static_cast<double>(tokens) / static_cast<double>(programs))
      .Print();
  return 0;
}

// ---- Channels --------------------------------------------------------------------------------

// A channel with its own TCP connection (a local subchannel pool: channels with equal
// arguments would otherwise share one connection).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
    Die(absl::StrCat("cannot connect to ", target));
  }
  return channel;
}

void SetDeadline(grpc::ClientContext* ctx, int seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

// ---- decode-rpc ------------------------------------------------------------------------------

int DecodeRpc(Flags& flags) {
  const std::string target = flags.Str("target", "127.0.0.1:50051");
  const std::string kind = flags.Str("sampler", "uniform");
  const int inputs = static_cast<int>(flags.Int("inputs", 4));
  const int n = static_cast<int>(flags.Int("n", 1024));
  const int streams = static_cast<int>(flags.Int("streams", 2));
  const double seconds = flags.Double("seconds", 2);
  const uint64_t seed = static_cast<uint64_t>(flags.Int("seed", 11));
  flags.CheckAllUsed();
  if (n < 1 || n > 4096) Die("--n must lie in [1, 4096]");

  std::vector<std::unique_ptr<astcd::v1::Decoder::Stub>> stubs;
  for (int w = 0; w < streams; ++w) stubs.push_back(astcd::v1::Decoder::NewStub(NewChannel(target)));
  astcd::v1::DecodeRequest base;
  for (int i = 0; i < inputs; ++i) base.add_init_requests()->set_start(astcd::v1::START_MODULE);
  base.mutable_sampler()->set_kind(kind);
  base.mutable_sampler()->set_seed(seed);
  base.set_n(n);

  struct Out {
    int64_t tokens = 0, programs = 0, calls = 0;
    double cpu_s = 0;
  };
  std::vector<Out> outs(streams);
  const Clock::time_point t0 = Clock::now();
  const Clock::time_point end = t0 + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int w = 0; w < streams; ++w) {
    threads.emplace_back([&, w] {
      const double cpu0 = ThreadCpuSeconds();
      Out& out = outs[w];
      astcd::v1::DecodeRequest req = base;
      // Worker w draws sample indices w * 2^26 + k: no two workers decode the same program.
      int64_t offset = int64_t{w} << 26;
      astcd::v1::DecodeResult result;
      bool done = false;
      while (!done) {
        req.set_sample_offset(static_cast<int32_t>(offset));
        offset += n;
        grpc::ClientContext ctx;
        SetDeadline(&ctx, 600);
        std::unique_ptr<grpc::ClientReader<astcd::v1::DecodeResult>> reader = stubs[w]->Decode(&ctx, req);
        while (reader->Read(&result)) {
          if (Clock::now() >= end) {
            done = true;
            ctx.TryCancel();
            break;
          }
          if (result.new_tokens_size() == 0) Die("decode-rpc: a result without new tokens");
          out.tokens += result.new_tokens_size();
          ++out.programs;
        }
        if (done) {
          while (reader->Read(&result)) {
          }
          (void)reader->Finish();
          break;
        }
        CheckRpc(reader->Finish(), "Decode");
        ++out.calls;
      }
      out.cpu_s = ThreadCpuSeconds() - cpu0;
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall = Seconds(end - t0);
  Out total;
  for (const Out& o : outs) {
    total.tokens += o.tokens;
    total.programs += o.programs;
    total.calls += o.calls;
    total.cpu_s += o.cpu_s;
  }
  Json()
      .Add("bench", "decode-rpc")
      .Add("sampler", kind)
      .Add("inputs", inputs)
      .Add("n", n)
      .Add("streams", streams)
      .Add("calls_completed", total.calls)
      .Add("programs", total.programs)
      .Add("tokens", total.tokens)
      .Add("wall_s", wall)
      .Add("client_cpu_s", total.cpu_s)
      .Add("tokens_per_s", static_cast<double>(total.tokens) / wall)
      .Add("tokens_per_program",
           static_cast<double>(total.tokens) / static_cast<double>(std::max<int64_t>(1, total.programs)))
      .Print();
  return 0;
}

// ---- step ------------------------------------------------------------------------------------
//
// Each of `conc` workers owns `batch` active sessions plus `batch` spares (at least 4), made
// before the clock starts with InitStates (return_masks) from live-policy random walks of 16 to
// 128 tokens (MODULE root, the default config but max_functions 16, max_len 1024, so that a
// live walk can go on for hundreds of tokens). Every step advances each active session by a
// uniformly random legal token that is not <eos> (chosen from the mask the previous response
// returned), so every Advance is legal and real. A session that reaches `len-hi` tokens, or has
// no live token left, is swapped for a spare; when the spares run out, the worker rolls all the
// retired sessions back to a random length in [16, 128] with one Rollback(return_masks) call,
// and they become the spares. Rollbacks are not timed as steps (they are counted, and their
// time is reported, as maintenance).
//
// The null kinds send the same AdvanceRequest (the same ids and the same number of tokens) to
// Null.Echo / Null.EchoStream and get an AdvanceResponse of the same shape; the client chooses
// tokens from its (meaningless) mask rows, so the client's work per step is the same too.

enum class Kind { kAdvanceUnary, kNullUnary, kAdvanceStream, kNullStream };

Kind ParseKind(absl::string_view s) {
  if (s == "advance-unary") return Kind::kAdvanceUnary;
  if (s == "null-unary") return Kind::kNullUnary;
  if (s == "advance-stream") return Kind::kAdvanceStream;
  if (s == "null-stream") return Kind::kNullStream;
  Die(absl::StrCat("unknown kind ", s));
}
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kAdvanceUnary: return "advance-unary";
    case Kind::kNullUnary: return "null-unary";
    case Kind::kAdvanceStream: return "advance-stream";
    case Kind::kNullStream: return "null-stream";
  }
  return "?";
}
bool IsNull(Kind k) { return k == Kind::kNullUnary || k == Kind::kNullStream; }
bool IsStream(Kind k) { return k == Kind::kAdvanceStream || k == Kind::kNullStream; }

struct StepSettings {
  DecodeConfig config;
  astcd::v1::DecodeConfig config_proto;
  int max_len = 1024;
  int len_lo = 16, len_mid = 128, len_hi = 512;
  int words = 0;
  std::shared_ptr<const Engine> engine;
};

struct Live {
  std::string id;
  int num_tokens = 0;
  absl::InlinedVector<uint32_t, 4> mask;
};

void CopyRow(const std::string& bitmask, int row, int words, Live* s) {
  s->mask.resize(words);
  std::memcpy(s->mask.data(), bitmask.data() + static_cast<size_t>(row) * words * 4, words * 4);
}

// Sessions made from live walks of len_lo..len_mid tokens; checks the server's masks against
// the in-process ones.
std::vector<Live> MakeSessions(astcd::v1::Decoder::Stub* stub, const StepSettings& st, int count,
                               Rng& rng) {
  std::vector<Live> out;
  while (static_cast<int>(out.size()) < count) {
    const int chunk = std::min(1024, count - static_cast<int>(out.size()));
    astcd::v1::InitStatesRequest req;
    *req.mutable_config() = st.config_proto;
    req.set_return_masks(true);
    std::vector<std::vector<uint32_t>> local_masks;
    while (req.requests_size() < chunk) {
      const int len = st.len_lo + static_cast<int>(rng.Below(st.len_mid - st.len_lo + 1));
      std::optional<DecodeState> s = LiveWalk(st.engine, st.max_len, len, rng);
      if (!s) continue;
      astcd::v1::InitRequest* r = req.add_requests();
      r->set_start(astcd::v1::START_MODULE);
      r->set_max_len(st.max_len);
      r->mutable_prefix_tokens()->Add(s->tokens().begin(), s->tokens().end());
      local_masks.emplace_back(st.words);
      s->FillMask(local_masks.back().data());
    }
    astcd::v1::InitStatesResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 120);
    CheckRpc(stub->InitStates(&ctx, req, &resp), "InitStates");
    if (resp.states_size() != chunk || resp.words_per_row() != st.words ||
        resp.bitmask().size() != static_cast<size_t>(chunk) * st.words * 4) {
      Die("InitStates: a response of the wrong shape");
    }
    for (int i = 0; i < chunk; ++i) {
      Live l;
      l.id = resp.states(i).session_id();
      l.num_tokens = resp.states(i).num_tokens();
      CopyRow(resp.bitmask(), i, st.words, &l);
      if (!std::equal(l.mask.begin(), l.mask.end(), local_masks[i].begin())) {
        Die("InitStates: the server's mask differs from the in-process one");
      }
      out.push_back(std::move(l));
    }
  }
  return out;
}

void ReleaseSessions(astcd::v1::Decoder::Stub* stub, const std::vector<std::string>& ids) {
  for (size_t i = 0; i < ids.size(); i += 1024) {
    astcd::v1::ReleaseStatesRequest req;
    for (size_t k = i; k < std::min(ids.size(), i + 1024); ++k) req.add_session_ids(ids[k]);
    astcd::v1::ReleaseStatesResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 120);
    CheckRpc(stub->ReleaseStates(&ctx, req, &resp), "ReleaseStates");
  }
}

struct Window {
  absl::Notification go;
  Clock::time_point measure_from, measure_to;
};

struct WorkerOut {
  std::vector<float> latency_us;
  int64_t steps = 0;        // session-steps of calls inside the window
  int64_t calls = 0;
  int64_t all_calls = 0;    // warm-up and tail included
  int64_t maint_calls = 0;  // Rollback calls (anywhere)
  double maint_s = 0;
  int64_t retired = 0;      // sessions swapped for spares
};

class Worker {
 public:
  Worker(Kind kind, int batch, const StepSettings& st, astcd::v1::Decoder::Stub* decoder,
         astcd::bench::v1::Null::Stub* null, std::vector<Live> active, std::vector<Live> spare,
         std::vector<Live> retired, uint64_t seed)
      : kind_(kind), batch_(batch), st_(st), decoder_(decoder), null_(null),
        active_(std::move(active)), spare_(std::move(spare)), retired_list_(std::move(retired)),
        rng_(seed) {}

  // Runs until the window closes; the sessions stay in active(), spare() and retired().
  void Run(Window* window, std::atomic<int>* ready, WorkerOut* out) {
    grpc::ClientContext stream_ctx;
    std::unique_ptr<grpc::ClientReaderWriter<astcd::v1::StepRequest, astcd::v1::StepResponse>>
        stream;
    if (kind_ == Kind::kAdvanceStream) stream = decoder_->Step(&stream_ctx);
    if (kind_ == Kind::kNullStream) stream = null_->EchoStream(&stream_ctx);

    astcd::v1::AdvanceRequest unary_req;
    astcd::v1::AdvanceResponse unary_resp;
    astcd::v1::StepRequest step_req;
    astcd::v1::StepResponse step_resp;
    astcd::v1::AdvanceRequest* req = IsStream(kind_) ? step_req.mutable_advance() : &unary_req;
    req->set_return_masks(true);
    for (int i = 0; i < batch_; ++i) {
      const int32_t t = Next(i);  // first: it may swap in a spare
      req->add_session_ids(active_[i].id);
      req->add_token_ids(t);
    }
    out->latency_us.reserve(1 << 16);
    ready->fetch_add(1);
    window->go.WaitForNotification();
    for (;;) {
      const Clock::time_point t0 = Clock::now();
      if (t0 >= window->measure_to) break;
      const astcd::v1::AdvanceResponse* resp;
      if (IsStream(kind_)) {
        step_req.set_step_id(step_req.step_id() + 1);
        if (!stream->Write(step_req)) Die(absl::StrCat(KindName(kind_), ": the stream broke"));
        if (!stream->Read(&step_resp)) Die(absl::StrCat(KindName(kind_), ": the stream ended"));
        if (step_resp.status().code() != 0 || step_resp.step_id() != step_req.step_id()) {
          Die(absl::StrCat(KindName(kind_), ": step failed: ", step_resp.status().message()));
        }
        resp = &step_resp.advance();
      } else {
        grpc::ClientContext ctx;
        SetDeadline(&ctx, 60);
        const grpc::Status s = kind_ == Kind::kAdvanceUnary
                                   ? decoder_->Advance(&ctx, unary_req, &unary_resp)
                                   : null_->Echo(&ctx, unary_req, &unary_resp);
        CheckRpc(s, KindName(kind_));
        resp = &unary_resp;
      }
      // The call's latency ends here: the token choice below (and a Rollback it may need) is
      // the client's own business, outside the sample but inside the closed loop.
      const Clock::time_point t1 = Clock::now();
      if (resp->states_size() != batch_ ||
          resp->bitmask().size() != static_cast<size_t>(batch_) * st_.words * 4) {
        Die(absl::StrCat(KindName(kind_), ": a response of the wrong shape"));
      }
      // The client's share of a step: read each mask row, choose the next token.
      for (int i = 0; i < batch_; ++i) {
        if (IsNull(kind_)) {
          uint32_t row[8];
          std::memcpy(row, resp->bitmask().data() + static_cast<size_t>(i) * st_.words * 4,
                      st_.words * 4);
          const int32_t t = ChooseLive(row, st_.words, rng_);
          req->set_token_ids(i, t < 0 ? 2 : t);
        } else {
          active_[i].num_tokens = resp->states(i).num_tokens();
          CopyRow(resp->bitmask(), i, st_.words, &active_[i]);
          req->set_token_ids(i, Next(i, req));
        }
      }
      ++out->all_calls;
      if (t0 >= window->measure_from && t1 <= window->measure_to) {
        out->latency_us.push_back(static_cast<float>(Seconds(t1 - t0) * 1e6));
        out->steps += batch_;
        ++out->calls;
      }
    }
    if (stream) {
      stream->WritesDone();
      CheckRpc(stream->Finish(), absl::StrCat(KindName(kind_), " (closing)"));
    }
    out->maint_calls = maint_calls_;
    out->maint_s = maint_s_;
    out->retired = retired_;
  }

  std::vector<Live>& active() { return active_; }
  std::vector<Live>& spare() { return spare_; }
  std::vector<Live>& retired() { return retired_list_; }

 private:
  // The token active_[i] takes next; swaps in a spare (fixing the request's id) when the
  // session has reached len_hi or has no live token.
  int32_t Next(int i, astcd::v1::AdvanceRequest* req = nullptr) {
    for (;;) {
      Live& s = active_[i];
      if (s.num_tokens < st_.len_hi) {
        const int32_t t = ChooseLive(s.mask.data(), st_.words, rng_);
        if (t >= 0) return t;
      }
      if (spare_.empty()) Maintain();
      retired_list_.push_back(std::move(s));
      active_[i] = std::move(spare_.back());
      spare_.pop_back();
      ++retired_;
      if (req != nullptr) req->set_session_ids(i, active_[i].id);
    }
  }

  // Rolls every retired session back to a random length in [len_lo, len_mid] (or further, until
  // it has a live token); they become the spares.
  void Maintain() {
    const Clock::time_point t0 = Clock::now();
    std::vector<Live> todo = std::move(retired_list_);
    retired_list_.clear();
    while (!todo.empty()) {
      astcd::v1::RollbackRequest req;
      req.set_return_masks(true);
      for (const Live& s : todo) {
        const int target = std::min(
            s.num_tokens - 1,
            st_.len_lo + static_cast<int>(rng_.Below(st_.len_mid - st_.len_lo + 1)));
        req.add_session_ids(s.id);
        req.add_num_tokens(s.num_tokens - std::max(1, target));
      }
      astcd::v1::RollbackResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(&ctx, 60);
      CheckRpc(decoder_->Rollback(&ctx, req, &resp), "Rollback");
      ++maint_calls_;
      if (resp.states_size() != static_cast<int>(todo.size()) ||
          resp.bitmask().size() != todo.size() * st_.words * 4) {
        Die("Rollback: a response of the wrong shape");
      }
      std::vector<Live> again;
      for (size_t k = 0; k < todo.size(); ++k) {
        Live& s = todo[k];
        s.num_tokens = resp.states(static_cast<int>(k)).num_tokens();
        CopyRow(resp.bitmask(), static_cast<int>(k), st_.words, &s);
        if (ChooseLive(s.mask.data(), st_.words, rng_) >= 0) {
          spare_.push_back(std::move(s));
        } else {
          if (s.num_tokens <= 1) Die("Rollback: a root without a live token");
          again.push_back(std::move(s));
        }
      }
      todo = std::move(again);
    }
    maint_s_ += Seconds(Clock::now() - t0);
  }

  const Kind kind_;
  const int batch_;
  const StepSettings& st_;
  astcd::v1::Decoder::Stub* const decoder_;
  astcd::bench::v1::Null::Stub* const null_;
  std::vector<Live> active_, spare_, retired_list_;
  Rng rng_;
  int64_t maint_calls_ = 0;
  double maint_s_ = 0;
  int64_t retired_ = 0;
};

double Percentile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int StepBench(Flags& flags) {
  const std::string target = flags.Str("target", "127.0.0.1:50051");
  const std::vector<int> batches = flags.IntList("batches", "1,64,256");
  const std::vector<int> concs = flags.IntList("concs", "1,4,16");
  std::vector<Kind> kinds;
  for (absl::string_view k :
       absl::StrSplit(flags.Str("kinds", "advance-unary,null-unary,advance-stream,null-stream"),
                      ',', absl::SkipEmpty())) {
    kinds.push_back(ParseKind(k));
  }
  const int rounds = static_cast<int>(flags.Int("rounds", 3));
  const double seconds = flags.Double("seconds", 1);
  const double warmup = flags.Double("warmup", 0.2);
  const std::string channels = flags.Str("channels", "per-worker");
  const uint64_t seed = static_cast<uint64_t>(flags.Int("seed", 1));
  StepSettings st;
  st.config.max_functions = static_cast<int>(flags.Int("max-functions", 16));
  st.max_len = static_cast<int>(flags.Int("max-len", 1024));
  st.len_hi = static_cast<int>(flags.Int("len-hi", 512));
  flags.CheckAllUsed();
  if (channels != "per-worker" && channels != "shared") Die("--channels: per-worker or shared");
  st.config_proto.set_max_functions(st.config.max_functions);
  st.engine = Check(Engine::Create(st.config), "Engine::Create");
  st.words = st.engine->words();
  if (st.words > 8) Die("vocabularies over 256 tokens are not supported here");

  const int max_conc = *std::max_element(concs.begin(), concs.end());
  std::vector<std::shared_ptr<grpc::Channel>> chans;
  for (int w = 0; w < (channels == "shared" ? 1 : max_conc); ++w) chans.push_back(NewChannel(target));
  std::vector<std::unique_ptr<astcd::v1::Decoder::Stub>> decoders;
  std::vector<std::unique_ptr<astcd::bench::v1::Null::Stub>> nulls;
  for (int w = 0; w < max_conc; ++w) {
    decoders.push_back(astcd::v1::Decoder::NewStub(chans[w % chans.size()]));
    nulls.push_back(astcd::bench::v1::Null::NewStub(chans[w % chans.size()]));
  }
  Rng rng(seed);

  struct Group {
    int batch, conc;
  };
  std::vector<Group> groups;
  for (int b : batches) {
    for (int c : concs) groups.push_back({b, c});
  }
  for (int round = 0; round < rounds; ++round) {
    // Rotate the order of groups and of kinds each round, so that no configuration always
    // runs first (or right after the same other one) on a noisy machine.
    std::vector<Group> order = groups;
    std::rotate(order.begin(), order.begin() + (round % order.size()), order.end());
    std::vector<Kind> kind_order = kinds;
    std::rotate(kind_order.begin(), kind_order.begin() + (round % kind_order.size()),
                kind_order.end());
    for (const Group& g : order) {
      const int spares = std::max(4, g.batch);
      std::vector<std::vector<Live>> active(g.conc), spare(g.conc), retired_sessions(g.conc);
      std::vector<Live> all =
          MakeSessions(decoders[0].get(), st, g.conc * (g.batch + spares), rng);
      for (int w = 0; w < g.conc; ++w) {
        for (int i = 0; i < g.batch; ++i) active[w].push_back(std::move(all[w * (g.batch + spares) + i]));
        for (int i = 0; i < spares; ++i) {
          spare[w].push_back(std::move(all[w * (g.batch + spares) + g.batch + i]));
        }
      }
      for (Kind kind : kind_order) {
        std::vector<std::unique_ptr<Worker>> workers;
        for (int w = 0; w < g.conc; ++w) {
          workers.push_back(std::make_unique<Worker>(kind, g.batch, st, decoders[w].get(),
                                                     nulls[w].get(), std::move(active[w]),
                                                     std::move(spare[w]),
                                                     std::move(retired_sessions[w]), rng.Next()));
        }
        Window window;
        std::atomic<int> ready{0};
        std::vector<WorkerOut> outs(g.conc);
        std::vector<std::thread> threads;
        for (int w = 0; w < g.conc; ++w) {
          threads.emplace_back([&, w] { workers[w]->Run(&window, &ready, &outs[w]); });
        }
        while (ready.load() < g.conc) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const Clock::time_point t0 = Clock::now();
        window.measure_from = t0 + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(warmup));
        window.measure_to = window.measure_from + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(seconds));
        window.go.Notify();
        for (std::thread& t : threads) t.join();
        // The sessions go on to the next kind, retired ones still waiting for their rollback.
        for (int w = 0; w < g.conc; ++w) {
          active[w] = std::move(workers[w]->active());
          spare[w] = std::move(workers[w]->spare());
          retired_sessions[w] = std::move(workers[w]->retired());
        }
        std::vector<float> lat;
        int64_t steps = 0, calls = 0, all_calls = 0, maint_calls = 0, retired = 0;
        double maint_s = 0;
        for (WorkerOut& o : outs) {
          lat.insert(lat.end(), o.latency_us.begin(), o.latency_us.end());
          steps += o.steps;
          calls += o.calls;
          all_calls += o.all_calls;
          maint_calls += o.maint_calls;
          maint_s += o.maint_s;
          retired += o.retired;
        }
        double mean = 0;
        for (float v : lat) mean += v;
        mean = lat.empty() ? 0 : mean / static_cast<double>(lat.size());
        const double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99);
        Json()
            .Add("bench", "step")
            .Add("kind", KindName(kind))
            .Add("batch", g.batch)
            .Add("conc", g.conc)
            .Add("round", round)
            .Add("channels", channels)
            .Add("calls", calls)
            .Add("all_calls", all_calls)
            .Add("steps", steps)
            .Add("seconds", seconds)
            .Add("steps_per_s", static_cast<double>(steps) / seconds)
            .Add("calls_per_s", static_cast<double>(calls) / seconds)
            .Add("p50_us", p50)
            .Add("p99_us", p99)
            .Add("mean_us", mean)
            .Add("retired", retired)
            .Add("maint_calls", maint_calls)
            .Add("maint_s", maint_s)
            .Print();
        std::fprintf(stderr, "rpc_bench: round %d %s batch %d conc %d: p50 %.1f us, %.0f steps/s\n",
                     round, KindName(kind), g.batch, g.conc, p50,
                     static_cast<double>(steps) / seconds);
      }
      std::vector<std::string> ids;
      for (int w = 0; w < g.conc; ++w) {
        for (const Live& l : active[w]) ids.push_back(l.id);
        for (const Live& l : spare[w]) ids.push_back(l.id);
        for (const Live& l : retired_sessions[w]) ids.push_back(l.id);
      }
      ReleaseSessions(decoders[0].get(), ids);
    }
  }
  return 0;
}

// ---- memory ----------------------------------------------------------------------------------

int64_t VmRssKb(const std::string& status_path) {
  std::ifstream f(status_path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      if (std::sscanf(line.c_str() + 6, "%ld", &kb) == 1) return kb;
    }
  }
  Die(absl::StrCat("no VmRSS in ", status_path));
}

// 1024 distinct prefixes of exactly `len` tokens (live walks on the default config).
std::vector<std::vector<int32_t>> Prefixes(const std::shared_ptr<const Engine>& engine, int len) {
  std::vector<std::vector<int32_t>> out;
  Rng rng(20);
  while (out.size() < 1024) {
    std::optional<DecodeState> s = LiveWalk(engine, kDefaultMaxLen, len, rng);
    if (s) out.push_back(s->tokens());
  }
  return out;
}

void PrintMemory(const char* bench, int64_t sessions, int prefix_len, int64_t before_kb,
                 int64_t after_kb, double seconds, int64_t live) {
  const double per = static_cast<double>(after_kb - before_kb) * 1024.0 /
                     static_cast<double>(std::max<int64_t>(1, sessions));
  Json()
      .Add("bench", bench)
      .Add("sessions", sessions)
      .Add("live_sessions", live)
      .Add("prefix_len", prefix_len)
      .Add("rss_before_kb", before_kb)
      .Add("rss_after_kb", after_kb)
      .Add("bytes_per_session", per)
      .Add("token_bytes", prefix_len * 4)
      .Add("bytes_per_session_minus_tokens", per - prefix_len * 4)
      .Add("create_s", seconds)
      .Add("sessions_per_s", static_cast<double>(sessions) / seconds)
      .Add("sizeof_decode_state", static_cast<int64_t>(sizeof(DecodeState)))
      .Print();
}

int MemoryRpc(Flags& flags) {
  const std::string target = flags.Str("target", "127.0.0.1:50051");
  const int64_t pid = flags.Int("pid", 0);
  const int64_t sessions = flags.Int("sessions", 1000000);
  const int prefix_len = static_cast<int>(flags.Int("prefix-len", 20));
  const int batch = static_cast<int>(flags.Int("batch", 1024));
  const double settle = flags.Double("settle", 1.0);
  flags.CheckAllUsed();
  if (pid <= 0) Die("--pid is required");
  const std::string status = absl::StrCat("/proc/", pid, "/status");
  std::shared_ptr<const Engine> engine = Check(Engine::Create(DecodeConfig{}), "Engine::Create");
  const std::vector<std::vector<int32_t>> prefixes = Prefixes(engine, prefix_len);
  std::unique_ptr<astcd::v1::Decoder::Stub> stub = astcd::v1::Decoder::NewStub(NewChannel(target));

  auto request = [&](int count, int64_t first) {
    astcd::v1::InitStatesRequest req;
    for (int i = 0; i < count; ++i) {
      astcd::v1::InitRequest* r = req.add_requests();
      const std::vector<int32_t>& p = prefixes[(first + i) % prefixes.size()];
      r->mutable_prefix_tokens()->Add(p.begin(), p.end());
    }
    return req;
  };
  auto create = [&](const astcd::v1::InitStatesRequest& req, std::vector<std::string>* ids) {
    astcd::v1::InitStatesResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 120);
    CheckRpc(stub->InitStates(&ctx, req, &resp), "InitStates");
    if (resp.states_size() != req.requests_size()) Die("InitStates: wrong number of states");
    if (ids != nullptr) {
      for (const astcd::v1::SessionState& s : resp.states()) ids->push_back(s.session_id());
    }
  };
  // Warm up the server's allocator and thread pools with one batch made and released.
  std::vector<std::string> warm;
  create(request(batch, 0), &warm);
  ReleaseSessions(stub.get(), warm);
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));
  const int64_t before = VmRssKb(status);
  const Clock::time_point t0 = Clock::now();
  const astcd::v1::InitStatesRequest full = request(batch, 0);
  for (int64_t made = 0; made < sessions; made += batch) {
    const int count = static_cast<int>(std::min<int64_t>(batch, sessions - made));
    create(count == batch ? full : request(count, made), nullptr);
  }
  const double secs = Seconds(Clock::now() - t0);
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));
  const int64_t after = VmRssKb(status);
  PrintMemory("memory-rpc", sessions, prefix_len, before, after, secs, sessions);
  return 0;
}

int MemoryInproc(Flags& flags) {
  const int64_t sessions = flags.Int("sessions", 1000000);
  const int prefix_len = static_cast<int>(flags.Int("prefix-len", 20));
  const int batch = static_cast<int>(flags.Int("batch", 1024));
  flags.CheckAllUsed();
  std::shared_ptr<const Engine> engine = Check(Engine::Create(DecodeConfig{}), "Engine::Create");
  const std::vector<std::vector<int32_t>> prefixes = Prefixes(engine, prefix_len);
  std::vector<InitRequest> requests(batch);
  for (int i = 0; i < batch; ++i) requests[i].prefix_tokens = prefixes[i % prefixes.size()];
  server::SessionStoreOptions options;
  options.max_sessions = sessions + batch;
  options.sweep_interval = absl::ZeroDuration();
  server::SessionStore store(options);
  {  // warm the allocator as the server's warm-up does
    std::vector<std::string> ids =
        Check(store.Insert(Check(InitStates(engine, requests), "InitStates")), "Insert");
    store.Release(ids);
  }
  const int64_t before = VmRssKb("/proc/self/status");
  const Clock::time_point t0 = Clock::now();
  for (int64_t made = 0; made < sessions; made += batch) {
    const int count = static_cast<int>(std::min<int64_t>(batch, sessions - made));
    std::vector<DecodeState> states = Check(
        InitStates(engine, absl::MakeConstSpan(requests).subspan(0, count)), "InitStates");
    (void)Check(store.Insert(std::move(states)), "Insert");  // the ids are dropped, as the
                                                            // memory-rpc client drops them
  }
  const double secs = Seconds(Clock::now() - t0);
  const int64_t after = VmRssKb("/proc/self/status");
  PrintMemory("memory-inproc", sessions, prefix_len, before, after, secs, store.size());
  return 0;
}

}  // namespace
}  // namespace astcd::bench

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: rpc_bench decode-inproc|decode-rpc|step|memory-rpc|memory-inproc "
                 "[--flag value ...]\n(see the comment at the top of bench/rpc/rpc_bench.cc)\n");
    return 2;
  }
  const std::string mode = argv[1];
  astcd::bench::Flags flags(argc, argv);
  if (mode == "decode-inproc") return astcd::bench::DecodeInproc(flags);
  if (mode == "decode-rpc") return astcd::bench::DecodeRpc(flags);
  if (mode == "step") return astcd::bench::StepBench(flags);
  if (mode == "memory-rpc") return astcd::bench::MemoryRpc(flags);
  if (mode == "memory-inproc") return astcd::bench::MemoryInproc(flags);
  std::fprintf(stderr, "rpc_bench: unknown mode %s\n", mode.c_str());
  return 2;
}
