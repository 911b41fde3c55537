// requests: the bytes as a sequence of serialized requests, each to one RPC, fed to the
// service's translation layer in-process (server/service.h's Do* methods, behind the same
// ParseMessage and SerializeMessage as over gRPC). A session id of one character names the
// k-th session this input created, so that the fuzzer reaches the paths behind a live session.
// Checks: no crash, no INTERNAL or UNKNOWN error, and a failed call (a failed step of Step
// included) changes no session.
#include <grpc/grpc.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "astcd/v1/astcd.pb.h"
#include "server/service.h"
#include "server/session_store.h"
#include "server/wire.h"
#include "tests/fuzz/fuzz_input.h"

namespace astcd::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using server::CallContext;
using server::DecoderService;

// Every unary RPC and Step, by name; Init checks that the list covers the proto's service.
#define ASTCD_FUZZ_METHODS(X)                                \
  X(GetVocabulary, GetVocabularyRequest, Vocabulary)         \
  X(InitStates, InitStatesRequest, InitStatesResponse)       \
  X(LegalMasks, LegalMasksRequest, LegalMasksResponse)       \
  X(Advance, AdvanceRequest, AdvanceResponse)                \
  X(Rollback, RollbackRequest, RollbackResponse)             \
  X(ForkStates, ForkStatesRequest, ForkStatesResponse)       \
  X(ReleaseStates, ReleaseStatesRequest, ReleaseStatesResponse) \
  X(Tokenize, TokenizeRequest, TokenizeResponse)             \
  X(Detokenize, DetokenizeRequest, DetokenizeResponse)       \
  X(Run, RunRequest, RunResponse)

bool IsSessionField(const FieldDescriptor* f) {
  return f->type() == FieldDescriptor::TYPE_STRING &&
         f->name().find("session_id") != std::string::npos;
}

// Replaces each one-character session id with the k-th known one, in every nested message.
void NameKnownSessions(Message* m, const std::vector<std::string>& known) {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          NameKnownSessions(r->MutableRepeatedMessage(m, f, i), known);
        }
      } else {
        NameKnownSessions(r->MutableMessage(m, f), known);
      }
      continue;
    }
    if (!IsSessionField(f) || known.empty()) continue;
    auto pick = [&](const std::string& v) {
      return v.size() == 1 ? known[static_cast<uint8_t>(v[0]) % known.size()] : v;
    };
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        r->SetRepeatedString(m, f, i, pick(r->GetRepeatedString(*m, f, i)));
      }
    } else {
      r->SetString(m, f, pick(r->GetString(*m, f)));
    }
  }
}

// Session ids a response names, in every nested message.
void CollectSessions(const Message& m, std::vector<std::string>* out) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          CollectSessions(r->GetRepeatedMessage(m, f, i), out);
        }
      } else {
        CollectSessions(r->GetMessage(m, f), out);
      }
    } else if (IsSessionField(f)) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) out->push_back(r->GetRepeatedString(m, f, i));
      } else if (!r->GetString(m, f).empty()) {
        out->push_back(r->GetString(m, f));
      }
    }
  }
}

// The token histories of the live known sessions, and the store's totals: what a failed call
// must leave as it was.
struct Snapshot {
  std::vector<std::vector<int32_t>> tokens;
  int64_t live = 0, bytes = 0;
  bool operator==(const Snapshot&) const = default;
};

Snapshot Take(server::SessionStore& store, const std::vector<std::string>& known,
              const std::string& tenant) {
  Snapshot s;
  for (const std::string& id : known) {
    absl::StatusOr<std::vector<DecodeState>> got = store.Get({id}, "session_ids", tenant);
    s.tokens.push_back(got.ok() ? (*got)[0].tokens() : std::vector<int32_t>{-1});
  }
  s.live = store.size();
  s.bytes = store.bytes();
  return s;
}

class Harness {
 public:
  Harness()
      : store_(StoreOptions()),
        service_(ServiceOptions(), &store_, &Engines()) {}

  // One request: its method, tenant and bytes from the input.
  void Call(FuzzedDataProvider& in) {
    // After the unary methods: Step, then Decode.
    const int method = in.ConsumeIntegralInRange<int>(0, kNumMethods + 1);
    const std::string tenant = in.ConsumeBool() ? "" : "t";
    const std::string bytes = in.ConsumeRandomLengthString(512);
    CallContext call;
    call.tenant = tenant;
    const Snapshot before = Take(store_, known_, tenant);
    absl::Status status = Dispatch(method, bytes, call);
    if (!status.ok()) {
      if (!call.created.empty()) store_.Release(call.created, call.tenant);  // as Unary does
      ASTCD_FUZZ_CHECK(Take(store_, known_, tenant) == before,
                       "a failed call (%s) changed the sessions",
                       std::string(status.ToString()).c_str());
      ASTCD_FUZZ_CHECK(status.code() != absl::StatusCode::kInternal &&
                           status.code() != absl::StatusCode::kUnknown,
                       "an internal error: %s", std::string(status.ToString()).c_str());
    }
  }

  static void CheckMethodList() {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("astcd.v1.Decoder");
    ASTCD_FUZZ_CHECK(service != nullptr, "no astcd.v1.Decoder in the descriptor pool");
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string& name = service->method(i)->name();
      bool listed = name == "Step" || name == "Decode";  // Dispatch's last two
#define ASTCD_FUZZ_LISTED(Name, Req, Resp) listed = listed || name == #Name;
      ASTCD_FUZZ_METHODS(ASTCD_FUZZ_LISTED)
#undef ASTCD_FUZZ_LISTED
      ASTCD_FUZZ_CHECK(listed, "the fuzz target does not call %s", name.c_str());
    }
  }

 private:
  static constexpr int kNumMethods = 0
#define ASTCD_FUZZ_COUNT(Name, Req, Resp) +1
      ASTCD_FUZZ_METHODS(ASTCD_FUZZ_COUNT);
#undef ASTCD_FUZZ_COUNT

  static server::SessionStoreOptions StoreOptions() {
    server::SessionStoreOptions o;
    o.max_sessions = 64;
    o.max_sessions_per_tenant = 48;
    o.max_session_bytes = int64_t{16} << 20;
    o.sweep_interval = absl::ZeroDuration();  // no thread: one input, one deterministic run
    o.num_shards = 4;
    return o;
  }
  static server::ServiceOptions ServiceOptions() {
    server::ServiceOptions o;  // small limits keep one input's cost small
    o.max_batch = 16;
    o.max_sources = 8;
    o.max_source_bytes = 4096;
    o.max_run_steps = 200'000;
    o.max_trace_events = 2'000;
    o.max_response_bytes = int64_t{1} << 20;
    o.max_message_bytes = int64_t{1} << 20;
    return o;
  }
  // Engines outlive inputs: building one costs more than a run.
  static server::EngineCache& Engines() {
    static auto* engines = new server::EngineCache(64);
    return *engines;
  }

  template <typename Req, typename Resp, typename Fn>
  absl::Status Typed(const std::string& bytes, const CallContext& call, Fn fn) {
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer raw(&slice, 1);
    Req req;
    if (absl::Status s = server::ParseMessage(raw, &req); !s.ok()) return s;
    NameKnownSessions(&req, known_);
    Resp resp;
    absl::Status s = fn(req, &resp);
    if (!s.ok()) return s;
    grpc::ByteBuffer out;
    if (absl::Status s = server::SerializeMessage(resp, 1 << 20, &out); !s.ok()) return s;
    std::vector<std::string> ids;
    CollectSessions(resp, &ids);
    for (std::string& id : ids) {
      if (known_.size() < 32) known_.push_back(std::move(id));
    }
    (void)call;
    return absl::OkStatus();
  }

  absl::Status Dispatch(int method, const std::string& bytes, const CallContext& call) {
    int index = 0;
#define ASTCD_FUZZ_DISPATCH(Name, Req, Resp)                                              \
  if (method == index++) {                                                                \
    return Typed<v1::Req, v1::Resp>(bytes, call, [&](const v1::Req& q, v1::Resp* p) {     \
      return service_.Do##Name(q, p, call);                                               \
    });                                                                                   \
  }
    ASTCD_FUZZ_METHODS(ASTCD_FUZZ_DISPATCH)
#undef ASTCD_FUZZ_DISPATCH
    if (method == kNumMethods + 1) return Decode(bytes, call);
    // Step: a failed step reports its status in the response, and the stream goes on.
    return Typed<v1::StepRequest, v1::StepResponse>(
        bytes, call, [&](const v1::StepRequest& q, v1::StepResponse* p) {
          service_.DoStep(q, p, call);
          return absl::Status(static_cast<absl::StatusCode>(p->status().code()),
                              p->status().message());
        });
  }

  // Decode as its reactor runs it, on this thread: a refused request changes nothing; a
  // started stream may end early (here after kMaxResults results, as a client cancelling).
  absl::Status Decode(const std::string& bytes, const CallContext& call) {
    static constexpr int kMaxResults = 64;
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer raw(&slice, 1);
    v1::DecodeRequest req;
    if (absl::Status s = server::ParseMessage(raw, &req); !s.ok()) return s;
    NameKnownSessions(&req, known_);
    absl::StatusOr<server::PreparedDecode> prepared = service_.PrepareDecode(req, call);
    if (!prepared.ok()) return prepared.status();
    int results = 0, ticks = 0;
    server::DecodeRun run;
    // A deadline after about 64 Ki tokens (the interrupt comes every 1024), as a client's.
    run.interrupt = [&] {
      return ++ticks < 64 ? absl::OkStatus() : absl::DeadlineExceededError("fuzz deadline");
    };
    run.sink = [&](v1::DecodeResult& result) {
      grpc::ByteBuffer out;
      if (absl::Status s = server::SerializeMessage(result, 1 << 20, &out); !s.ok()) return s;
      if (!result.session_id().empty() && known_.size() < 32) known_.push_back(result.session_id());
      return ++results < kMaxResults ? absl::OkStatus() : absl::CancelledError("enough");
    };
    absl::Status s = service_.RunDecode(*prepared, run, call);
    ASTCD_FUZZ_CHECK(s.code() != absl::StatusCode::kInternal &&
                         s.code() != absl::StatusCode::kUnknown,
                     "Decode failed internally: %s", std::string(s.ToString()).c_str());
    return absl::OkStatus();  // a stream's results were sent: not a refused request
  }

  server::SessionStore store_;
  DecoderService service_;
  std::vector<std::string> known_;
};

}  // namespace
}  // namespace astcd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  grpc_init();
  // protobuf logs every string field that is not UTF-8, a line per input; the service answers
  // such requests INVALID_ARGUMENT, which the harness checks.
  google::protobuf::SetLogHandler(nullptr);
  astcd::fuzz::Harness::CheckMethodList();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  astcd::fuzz::Harness harness;
  for (int calls = 0; calls < 8 && in.remaining_bytes() > 0; ++calls) harness.Call(in);
  return 0;
}
