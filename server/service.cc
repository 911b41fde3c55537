#include "server/service.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "core/mutex.h"
#include "core/codec.h"
#include "core/errors.h"
#include "core/decode.h"
#include "core/decoder.h"
#include "core/interpreter.h"
#include "core/sampler.h"
#include "core/tokenize.h"
#include "server/auth.h"
#include "server/convert.h"
#include "server/errors.h"
#include "server/log.h"
#include "server/memory.h"
#include "server/metrics.h"
#include "server/result_stream.h"
#include "server/wire.h"

namespace astcd::server {
namespace {

std::vector<const DecodeState*> ConstPtrs(absl::Span<DecodeState* const> states) {
  return std::vector<const DecodeState*>(states.begin(), states.end());
}

// Sets fingerprint, vocab_size and words_per_row, and with `masks` the bitmask.
template <typename Resp>
absl::Status AddMasks(absl::Span<const DecodeState* const> states, bool masks, Resp* resp) {
  if (states.empty()) return absl::OkStatus();
  const Engine& engine = states[0]->engine();
  resp->set_fingerprint(engine.vocab().fingerprint());
  resp->set_vocab_size(engine.vocab().size());
  resp->set_words_per_row(engine.words());
  if (!masks) return absl::OkStatus();
  std::vector<int32_t> words(states.size() * static_cast<size_t>(engine.words()));
  if (absl::Status s = astcd::LegalMasks(states, absl::MakeSpan(words)); !s.ok()) return s;
  resp->set_bitmask(MaskBytes(words));
  return absl::OkStatus();
}

template <typename Resp>
void AddStates(absl::Span<const std::string* const> ids, absl::Span<DecodeState* const> states,
               Resp* resp) {
  for (size_t i = 0; i < states.size(); ++i) StateToProto(*ids[i], *states[i], resp->add_states());
}

std::vector<std::string> Ids(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return std::vector<std::string>(ids.begin(), ids.end());
}

// The ids where the request holds them: the hot calls copy none.
absl::Span<const std::string* const> IdPtrs(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return absl::MakeConstSpan(ids.data(), static_cast<size_t>(ids.size()));
}

void ObserveBatch(Metrics* metrics, absl::string_view method, int64_t size) {
  if (metrics != nullptr) metrics->BatchSize(method, size);
}

// Jump-forward after a step that succeeded: one chain per state, in order. REPORT leaves the
// states as they are; APPLY moves them through their chains (which cannot fail, so the batch
// stays all-or-nothing). OFF adds nothing, so the response is exactly as without the field.
// Returns the number of forced tokens listed.
int64_t AddForced(JumpForward mode, absl::Span<DecodeState* const> states,
                  google::protobuf::RepeatedPtrField<v1::TokenList>* forced) {
  if (mode == JumpForward::kOff) return 0;
  int64_t total = 0;
  for (DecodeState* state : states) {
    const std::vector<int32_t> chain =
        mode == JumpForward::kApply ? TakeForcedTokens(*state) : ForcedTokens(*state);
    forced->Add()->mutable_tokens()->Add(chain.begin(), chain.end());
    total += static_cast<int64_t>(chain.size());
  }
  return total;
}

// Counted once the call has succeeded, like the other service counters.
void ObserveForced(Metrics* metrics, JumpForward mode, int64_t n) {
  if (metrics != nullptr && mode != JumpForward::kOff) {
    metrics->ForcedTokens(mode == JumpForward::kApply, n);
  }
}

// The state Tokenize leaves for a whole program, or the error that says where the source falls
// outside the language.
absl::StatusOr<DecodeState> TokenizedState(const std::shared_ptr<const Engine>& engine,
                                           Start start, std::optional<int> arity,
                                           absl::string_view source, int64_t max_source_bytes) {
  TokenizeOptions options;
  options.start = start;
  options.arity = arity;
  options.max_source_bytes = max_source_bytes;
  TokenizeResult t = astcd::Tokenize(engine, source, options);
  if (t.ok) return *std::move(t.state);
  const absl::string_view stage =
      t.error ? TokenizeStageName(t.error->stage) : absl::string_view("tokenize");
  return absl::InvalidArgumentError(absl::StrCat(stage, " at line ", t.error ? t.error->line : 0,
                                                 ", column ", t.error ? t.error->column : 0, ": ",
                                                 t.error ? t.error->message : ""));
}

// What Tokenize, Detokenize and Run read programs against: the request's config, start and
// arity.
struct Root {
  std::shared_ptr<const Engine> engine;
  Start start;
  std::optional<int> arity;
};
template <typename Req>
absl::StatusOr<Root> RootOf(EngineCache& engines, const Req& req) {
  absl::StatusOr<std::shared_ptr<const Engine>> engine = engines.Get(ConfigFromProto(req.config()));
  if (!engine.ok()) return engine.status();
  absl::StatusOr<Start> start = StartFromProto(req.start());
  if (!start.ok()) return start.status();
  return Root{*std::move(engine), *start, ArityFromProto(req.has_arity(), req.arity())};
}

}  // namespace

absl::Status DecoderService::CheckSourceSize(absl::string_view field,
                                             absl::string_view source) const {
  if (static_cast<int64_t>(source.size()) > options_.max_source_bytes) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, field,
                       absl::StrCat(source.size(),
                                    " bytes exceed the server's --max-source-bytes of ",
                                    options_.max_source_bytes));
  }
  return absl::OkStatus();
}

absl::Status DecoderService::Admit() const {
  if (draining()) return absl::UnavailableError("the server is shutting down; retry elsewhere");
  return absl::OkStatus();
}

absl::Status DecoderService::CheckBatch(absl::string_view field, int size) const {
  if (size > options_.max_batch) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, field,
                       absl::StrCat(size, " entries exceed the server's --max-batch of ",
                                    options_.max_batch));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecoderService::Authenticate(
    const grpc::ServerContextBase& ctx) const {
  if (options_.auth == nullptr) return std::string();
  return options_.auth->Authenticate(ctx);
}

absl::Status CallContext::Alive() const {
  if (grpc == nullptr) return absl::OkStatus();
  if (grpc->deadline() < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("the call's deadline passed; the work was stopped");
  }
  if (grpc->IsCancelled()) {
    return absl::CancelledError("the call was cancelled (by the client, or by the drain)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> DecoderService::InsertSessions(
    std::vector<DecodeState> states, const CallContext& call) {
  absl::StatusOr<std::vector<std::string>> ids = store_->Insert(std::move(states), call.tenant);
  if (ids.ok()) call.created.insert(call.created.end(), ids->begin(), ids->end());
  return ids;
}

absl::Status DecoderService::BeginStream() {
  int running = streams_.load();
  while (running < options_.max_decode_streams) {
    if (streams_.compare_exchange_weak(running, running + 1)) return absl::OkStatus();
  }
  return FieldStatus(absl::StatusCode::kResourceExhausted, "streams",
                     absl::StrCat(running, " Decode streams are running, the server's "
                                  "--max-decode-streams; retry later"));
}

void DecoderService::EndStream() { streams_.fetch_sub(1); }

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* DecoderService::Unary(
    grpc::CallbackServerContext* ctx, absl::string_view method, const grpc::ByteBuffer* raw_req,
    grpc::ByteBuffer* raw_resp,
    absl::Status (DecoderService::*fn)(const Req&, Resp*, const CallContext&)) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Status status = Admit();
  CallContext call;
  call.grpc = ctx;
  if (status.ok()) {
    absl::StatusOr<std::string> t = Authenticate(*ctx);
    status = t.status();
    if (t.ok()) call.tenant = *std::move(t);
  }
  // One arena for both messages: a batch's sub-messages are one allocation, not one each.
  google::protobuf::Arena arena;
  Req* req = google::protobuf::Arena::CreateMessage<Req>(&arena);
  Resp* resp = google::protobuf::Arena::CreateMessage<Resp>(&arena);
  if (status.ok()) status = ParseMessage(*raw_req, req);
  if (status.ok()) status = InRequestNames(method, (this->*fn)(*req, resp, call));
  if (status.ok()) status = SerializeMessage(*resp, options_.max_response_bytes, raw_resp);
  if (!status.ok() && !call.created.empty()) store_->Discard(call.created, call.tenant);
  if (!status.ok()) LogCallError(method, status, call.tenant);
  if (status.ok()) NoteFreed(static_cast<int64_t>(raw_resp->Length()));  // freed once sent
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// ---- Unary RPCs ---------------------------------------------------------------------------

absl::Status DecoderService::DoGetVocabulary(const v1::GetVocabularyRequest& req,
                                             v1::Vocabulary* resp,
    const CallContext& /*call*/) {
  absl::StatusOr<std::shared_ptr<const Engine>> engine =
      engines_->Get(ConfigFromProto(req.config()));
  if (!engine.ok()) return engine.status();
  VocabularyToProto((*engine)->vocab(), resp);
  return absl::OkStatus();
}

absl::Status DecoderService::DoInitStates(const v1::InitStatesRequest& req,
                                          v1::InitStatesResponse* resp,
    const CallContext& call) {
  ObserveBatch(options_.metrics, "InitStates", req.requests_size());
  if (absl::Status s = CheckBatch("requests", req.requests_size()); !s.ok()) return s;
  absl::StatusOr<JumpForward> jump = JumpForwardFromProto(req.jump_forward());
  if (!jump.ok()) return jump.status();
  absl::StatusOr<std::shared_ptr<const Engine>> engine =
      engines_->Get(ConfigFromProto(req.config()));
  if (!engine.ok()) return engine.status();
  std::vector<InitRequest> requests;
  for (int i = 0; i < req.requests_size(); ++i) {
    absl::StatusOr<InitRequest> r = InitFromProto(req.requests(i));
    if (!r.ok()) return Within(absl::StrCat("requests[", i, "]"), r.status());
    requests.push_back(*std::move(r));
  }
  absl::StatusOr<std::vector<DecodeState>> states = astcd::InitStates(*engine, requests);
  if (!states.ok()) return states.status();
  std::vector<DecodeState*> ptrs;
  for (DecodeState& s : *states) ptrs.push_back(&s);
  // Before the sessions are stored, so that a failing batch creates none.
  const int64_t forced = AddForced(*jump, ptrs, resp->mutable_forced());
  if (absl::Status s = AddMasks(ConstPtrs(ptrs), req.return_masks(), resp); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> ids = InsertSessions(*states, call);
  if (!ids.ok()) return ids.status();
  for (size_t i = 0; i < states->size(); ++i) {
    StateToProto((*ids)[i], (*states)[i], resp->add_states());
  }
  if (options_.metrics != nullptr && req.return_masks()) {
    options_.metrics->MasksServed(static_cast<int64_t>(states->size()));
  }
  ObserveForced(options_.metrics, *jump, forced);
  return absl::OkStatus();
}

absl::Status DecoderService::DoLegalMasks(const v1::LegalMasksRequest& req,
                                          v1::LegalMasksResponse* resp,
    const CallContext& call) {
  ObserveBatch(options_.metrics, "LegalMasks", req.session_ids_size());
  if (absl::Status s = CheckBatch("session_ids", req.session_ids_size()); !s.ok()) return s;
  const absl::Span<const std::string* const> ids = IdPtrs(req.session_ids());
  const auto masks = [&](absl::Span<DecodeState* const> states) {
    return AddMasks(ConstPtrs(states), /*masks=*/true, resp);
  };
  absl::Status status = store_->With(ids, "session_ids", masks, call.tenant);
  if (status.ok() && options_.metrics != nullptr) {
    options_.metrics->MasksServed(static_cast<int64_t>(ids.size()));
  }
  return status;
}

absl::Status DecoderService::DoAdvance(const v1::AdvanceRequest& req, v1::AdvanceResponse* resp,
                                       const CallContext& call) {
  ObserveBatch(options_.metrics, "Advance", req.session_ids_size());
  if (absl::Status s = CheckBatch("session_ids", req.session_ids_size()); !s.ok()) return s;
  if (req.token_ids_size() != req.session_ids_size()) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "token_ids",
                       absl::StrCat(req.token_ids_size(), " token ids for ",
                                    req.session_ids_size(), " sessions; give one per session"));
  }
  absl::StatusOr<JumpForward> jump = JumpForwardFromProto(req.jump_forward());
  if (!jump.ok()) return jump.status();
  const absl::Span<const std::string* const> ids = IdPtrs(req.session_ids());
  const absl::Span<const int32_t> tokens(req.token_ids().data(),
                                         static_cast<size_t>(req.token_ids_size()));
  int64_t forced = 0;
  const auto advance = [&](absl::Span<DecodeState* const> states) {
    const std::vector<const DecodeState*> ptrs = ConstPtrs(states);
    if (absl::Status s = SameVocabulary(ptrs); !s.ok()) return s;
    // All-or-nothing in core: on error no state changed.
    // With has refused a session named twice, so core need not check again.
    if (absl::Status s = astcd::AdvanceDistinct(states, tokens); !s.ok()) return s;
    forced = AddForced(*jump, states, resp->mutable_forced());
    AddStates(ids, states, resp);
    return AddMasks(ptrs, req.return_masks(), resp);
  };
  absl::Status status = store_->With(ids, "session_ids", advance, call.tenant);
  if (status.ok() && options_.metrics != nullptr) {
    options_.metrics->TokensAdvanced(static_cast<int64_t>(ids.size()));
    if (req.return_masks()) options_.metrics->MasksServed(static_cast<int64_t>(ids.size()));
  }
  if (status.ok()) ObserveForced(options_.metrics, *jump, forced);
  return status;
}

absl::Status DecoderService::DoRollback(const v1::RollbackRequest& req,
                                        v1::RollbackResponse* resp,
    const CallContext& call) {
  ObserveBatch(options_.metrics, "Rollback", req.session_ids_size());
  if (absl::Status s = CheckBatch("session_ids", req.session_ids_size()); !s.ok()) return s;
  if (req.num_tokens_size() != req.session_ids_size()) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "num_tokens",
                       absl::StrCat(req.num_tokens_size(), " counts for ",
                                    req.session_ids_size(), " sessions; give one per session"));
  }
  const absl::Span<const std::string* const> ids = IdPtrs(req.session_ids());
  const std::vector<int> num_tokens(req.num_tokens().begin(), req.num_tokens().end());
  const auto rollback = [&](absl::Span<DecodeState* const> states) {
    const std::vector<const DecodeState*> ptrs = ConstPtrs(states);
    if (req.return_masks()) {
      if (absl::Status s = SameVocabulary(ptrs); !s.ok()) return s;
    }
    // All-or-nothing in core: on error no state changed.
    if (absl::Status s = astcd::Rollback(states, num_tokens); !s.ok()) return s;
    AddStates(ids, states, resp);
    return AddMasks(ptrs, req.return_masks(), resp);
  };
  absl::Status status = store_->With(ids, "session_ids", rollback, call.tenant);
  if (status.ok() && options_.metrics != nullptr && req.return_masks()) {
    options_.metrics->MasksServed(static_cast<int64_t>(ids.size()));
  }
  return status;
}

absl::Status DecoderService::DoForkStates(const v1::ForkStatesRequest& req,
                                          v1::ForkStatesResponse* resp,
    const CallContext& call) {
  const int n = req.n() == 0 ? 1 : req.n();
  ObserveBatch(options_.metrics, "ForkStates", int64_t{n} * req.session_ids_size());
  if (n < 1) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "n",
                       absl::StrCat(req.n(), " is negative"));
  }
  if (int64_t{n} * req.session_ids_size() > options_.max_batch) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "n",
                       absl::StrCat(n, " copies of ", req.session_ids_size(),
                                    " sessions exceed the server's --max-batch of ",
                                    options_.max_batch));
  }
  absl::StatusOr<std::vector<DecodeState>> states =
      store_->Get(Ids(req.session_ids()), "session_ids", call.tenant);
  if (!states.ok()) return states.status();
  // Refused before the copies are made, when the budget cannot take them anyway.
  int64_t bytes = 0;
  for (const DecodeState& s : *states) bytes += n * s.MaxApproxBytes();
  if (absl::Status s = store_->Admits(int64_t{n} * req.session_ids_size(), bytes); !s.ok()) {
    return s;
  }
  std::vector<DecodeState> copies;
  for (const DecodeState& s : *states) {
    for (int j = 0; j < n; ++j) copies.push_back(Fork(s));
  }
  absl::StatusOr<std::vector<std::string>> ids = InsertSessions(std::move(copies), call);
  if (!ids.ok()) return ids.status();
  // A fork describes itself as its original does.
  for (size_t i = 0; i < ids->size(); ++i) {
    StateToProto((*ids)[i], (*states)[i / n], resp->add_states());
  }
  return absl::OkStatus();
}

absl::Status DecoderService::DoReleaseStates(const v1::ReleaseStatesRequest& req,
                                             v1::ReleaseStatesResponse* resp,
    const CallContext& call) {
  ObserveBatch(options_.metrics, "ReleaseStates", req.session_ids_size());
  if (absl::Status s = CheckBatch("session_ids", req.session_ids_size()); !s.ok()) return s;
  resp->set_released(store_->Release(Ids(req.session_ids()), call.tenant));
  return absl::OkStatus();
}

absl::Status DecoderService::DoTokenize(const v1::TokenizeRequest& req,
                                        v1::TokenizeResponse* resp,
    const CallContext& call) {
  ObserveBatch(options_.metrics, "Tokenize", req.sources_size());
  if (req.sources_size() > options_.max_sources) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "sources",
                       absl::StrCat(req.sources_size(),
                                    " sources exceed the server's --max-sources of ",
                                    options_.max_sources));
  }
  for (int i = 0; i < req.sources_size(); ++i) {
    if (absl::Status s = CheckSourceSize(absl::StrCat("sources[", i, "]"), req.sources(i));
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<Root> root = RootOf(*engines_, req);
  if (!root.ok()) return root.status();
  TokenizeOptions options;
  options.start = root->start;
  options.partial = req.partial();
  options.arity = root->arity;
  options.max_len = req.max_len();
  options.max_source_bytes = options_.max_source_bytes;
  std::vector<TokenizeResult> results;
  for (const std::string& source : req.sources()) {
    if (absl::Status s = call.Alive(); !s.ok()) return s;
    results.push_back(astcd::Tokenize(root->engine, source, options));
  }
  std::vector<std::string> ids(results.size());
  if (req.create_sessions()) {
    std::vector<DecodeState> states;
    std::vector<size_t> where;
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok && results[i].state) {
        states.push_back(*results[i].state);
        where.push_back(i);
      }
    }
    absl::StatusOr<std::vector<std::string>> created = InsertSessions(std::move(states), call);
    if (!created.ok()) return created.status();
    for (size_t k = 0; k < where.size(); ++k) ids[where[k]] = (*created)[k];
  }
  resp->set_fingerprint(root->engine->vocab().fingerprint());
  for (size_t i = 0; i < results.size(); ++i) {
    if (options_.metrics != nullptr) options_.metrics->Tokenized(results[i]);
    v1::TokenizeResult* r = resp->add_results();
    TokenizeResultToProto(results[i], r);
    r->set_session_id(ids[i]);
  }
  return absl::OkStatus();
}

absl::Status DecoderService::DoDetokenize(const v1::DetokenizeRequest& req,
                                          v1::DetokenizeResponse* resp,
    const CallContext& /*call*/) {
  ObserveBatch(options_.metrics, "Detokenize", req.programs_size());
  if (absl::Status s = CheckBatch("programs", req.programs_size()); !s.ok()) return s;
  absl::StatusOr<Root> root = RootOf(*engines_, req);
  if (!root.ok()) return root.status();
  for (const v1::TokenList& program : req.programs()) {
    const std::vector<int32_t> tokens(program.tokens().begin(), program.tokens().end());
    const DetokenizeResult d =
        astcd::Detokenize(root->engine, root->start, root->arity, tokens, req.partial());
    v1::DetokenizeResult* r = resp->add_results();
    r->set_ok(d.ok);
    r->set_source(d.source);
    r->set_error(d.error);
    if (!d.ok) r->set_position(d.position);
  }
  return absl::OkStatus();
}

absl::Status DecoderService::DoRun(const v1::RunRequest& req, v1::RunResponse* resp,
                                   const CallContext& call) {
  ObserveBatch(options_.metrics, "Run", req.inputs_size());
  if (absl::Status s = CheckBatch("inputs", req.inputs_size()); !s.ok()) return s;
  RunOptions options;
  options.max_steps = req.limits().max_steps() == 0 ? RunOptions{}.max_steps
                                                     : req.limits().max_steps();
  options.trace = req.trace();
  options.locals = req.locals();
  if (absl::Status s = ValidateRunOptions(options); !s.ok()) return s;
  // Bounded before the work starts: the steps of every input, and (traced) their events.
  const int64_t steps = options.max_steps * std::max(1, req.inputs_size());
  if (steps > options_.max_run_steps) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "limits.max_steps",
                       absl::StrCat(req.inputs_size(), " inputs of up to ", options.max_steps,
                                    " steps exceed the server's --max-run-steps of ",
                                    options_.max_run_steps, " per call"));
  }
  const std::optional<int> entry = ArityFromProto(req.has_entry(), req.entry());
  // A session is run as it is: config, start and arity come from it and the request's are
  // ignored. The program's own errors name the field that holds it; a bad entry names `entry`.
  absl::StatusOr<Program> program;
  std::string field;
  if (req.program_case() == v1::RunRequest::kSessionId) {
    field = "session_id";
    absl::StatusOr<std::vector<DecodeState>> states =
        store_->Get({req.session_id()}, "session_id", call.tenant);
    if (!states.ok()) return states.status();
    program = Program::FromState((*states)[0], entry);
  } else {
    absl::StatusOr<Root> root = RootOf(*engines_, req);
    if (!root.ok()) return root.status();
    switch (req.program_case()) {
      case v1::RunRequest::kTokens: {
        field = "tokens";
        const std::vector<int32_t> tokens(req.tokens().tokens().begin(),
                                          req.tokens().tokens().end());
        program = Program::FromTokens(root->engine, root->start, root->arity, tokens, entry);
        break;
      }
      case v1::RunRequest::kSource: {
        field = "source";
        if (absl::Status s = CheckSourceSize("source", req.source()); !s.ok()) return s;
        absl::StatusOr<DecodeState> state = TokenizedState(
            root->engine, root->start, root->arity, req.source(), options_.max_source_bytes);
        program = state.ok() ? Program::FromState(*state, entry) : state.status();
        break;
      }
      default:
        return FieldStatus(absl::StatusCode::kInvalidArgument, "program",
                           "give one of tokens, source or session_id");
    }
  }
  if (!program.ok()) {
    const bool bad_entry = PathIsWithin(FieldPathOf(program.status()), "entry");
    return bad_entry ? program.status() : Within(field, program.status());
  }
  std::vector<std::vector<int64_t>> inputs;
  for (const v1::ArgTuple& t : req.inputs()) inputs.emplace_back(t.args().begin(), t.args().end());
  options.max_trace_events = options_.max_trace_events;
  options.interrupt = [&call] { return call.Alive(); };
  absl::StatusOr<std::vector<RunOutcome>> outcomes = program->RunBatch(inputs, options);
  if (!outcomes.ok() && FieldPathOf(outcomes.status()) == "trace") {
    std::optional<FieldError> error = GetFieldError(outcomes.status());
    error->description = absl::StrCat(error->description, " (the server's --max-trace-events)");
    return FieldStatus(outcomes.status().code(), *std::move(error));
  }
  if (!outcomes.ok()) return outcomes.status();
  for (const RunOutcome& o : *outcomes) {
    if (options_.metrics != nullptr) options_.metrics->RunOutcome(o.status);
    OutcomeToProto(o, resp->add_outcomes());
  }
  return absl::OkStatus();
}

void DecoderService::DoStep(const v1::StepRequest& req, v1::StepResponse* resp,
                            const CallContext& call) {
  resp->set_step_id(req.step_id());
  absl::Status status = Admit();
  if (status.ok()) {
    switch (req.action_case()) {
      case v1::StepRequest::kAdvance:
        status = DoAdvance(req.advance(), resp->mutable_advance(), call);
        break;
      case v1::StepRequest::kLegalMasks:
        status = DoLegalMasks(req.legal_masks(), resp->mutable_legal_masks(), call);
        break;
      default:
        status = FieldStatus(absl::StatusCode::kInvalidArgument, "action",
                             "give advance or legal_masks");
    }
  }
  if (!status.ok()) resp->clear_result();
  *resp->mutable_status() = ToRpcStatus(InRequestNames("Step", status));
}

#define ASTCD_UNARY(Name, Req, Resp)                                                   \
  grpc::ServerUnaryReactor* DecoderService::Name(                                      \
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req, grpc::ByteBuffer* resp) { \
    return Unary<v1::Req, v1::Resp>(ctx, #Name, req, resp, &DecoderService::Do##Name); \
  }
ASTCD_UNARY(GetVocabulary, GetVocabularyRequest, Vocabulary)
ASTCD_UNARY(InitStates, InitStatesRequest, InitStatesResponse)
ASTCD_UNARY(LegalMasks, LegalMasksRequest, LegalMasksResponse)
ASTCD_UNARY(Advance, AdvanceRequest, AdvanceResponse)
ASTCD_UNARY(Rollback, RollbackRequest, RollbackResponse)
ASTCD_UNARY(ForkStates, ForkStatesRequest, ForkStatesResponse)
ASTCD_UNARY(ReleaseStates, ReleaseStatesRequest, ReleaseStatesResponse)
ASTCD_UNARY(Tokenize, TokenizeRequest, TokenizeResponse)
ASTCD_UNARY(Detokenize, DetokenizeRequest, DetokenizeResponse)
ASTCD_UNARY(Run, RunRequest, RunResponse)
#undef ASTCD_UNARY

// ---- Decode: server streaming ---------------------------------------------------------------

namespace {

// Results are decoded in chunks of about this many bytes (core's input_offset and
// sample_offset keep every result equal to one big call), so memory stays bounded whatever n
// and max_len are.
constexpr int64_t kChunkBytes = int64_t{1} << 20;

// An upper estimate of one result's bytes from `state`, to size the chunks.
int64_t ResultBytes(const DecodeState& state, const DecodeOptions& options) {
  int64_t max_len = state.max_len();
  if (options.max_total_tokens > 0) max_len = std::min<int64_t>(max_len, options.max_total_tokens);
  // tokens and new_tokens (varints of small ids), the source, and trace or padding.
  const int64_t per_token = 12 + (options.trace ? 8 : 0) + (options.pad ? 3 : 0);
  return 256 + max_len * per_token;
}

}  // namespace

absl::StatusOr<PreparedDecode> DecoderService::PrepareDecode(const v1::DecodeRequest& req,
                                                             const CallContext& call) {
  PreparedDecode out;
  const bool from_sessions = req.session_ids_size() > 0;
  ObserveBatch(options_.metrics, "Decode",
               from_sessions ? req.session_ids_size() : req.init_requests_size());
  if (from_sessions && req.init_requests_size() > 0) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "init_requests",
                       "give session_ids or init_requests, not both");
  }
  if (!from_sessions && req.init_requests_size() == 0) {
    return FieldStatus(absl::StatusCode::kInvalidArgument, "init_requests",
                       "give session_ids or init_requests");
  }
  if (from_sessions) {
    if (absl::Status s = CheckBatch("session_ids", req.session_ids_size()); !s.ok()) return s;
    const std::vector<std::string> ids(req.session_ids().begin(), req.session_ids().end());
    // The stream copies its inputs. Sessions may hold no more than a request could bring
    // (--max-message-bytes), checked before any copy is made.
    const int64_t cap = options_.max_message_bytes;
    absl::Status s = store_->With(
        ids, "session_ids",
        [&](absl::Span<DecodeState* const> states) {
          int64_t bytes = 0;
          for (const DecodeState* state : states) bytes += state->ApproxBytes();
          if (bytes > cap) {
            return FieldStatus(absl::StatusCode::kInvalidArgument, "session_ids",
                               absl::StrCat("the sessions hold ", bytes,
                                            " bytes, over the server's --max-message-bytes of ",
                                            cap, " that a Decode may copy; name fewer"));
          }
          for (const DecodeState* state : states) out.states.push_back(*state);
          return absl::OkStatus();
        },
        call.tenant);
    if (!s.ok()) return s;
    if (absl::Status s = SameVocabulary(out.states); !s.ok()) return s;
  } else {
    if (absl::Status s = CheckBatch("init_requests", req.init_requests_size()); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::shared_ptr<const Engine>> engine =
        engines_->Get(ConfigFromProto(req.config()));
    if (!engine.ok()) return engine.status();
    std::vector<InitRequest> requests;
    for (int i = 0; i < req.init_requests_size(); ++i) {
      absl::StatusOr<InitRequest> r = InitFromProto(req.init_requests(i));
      if (!r.ok()) return Within(absl::StrCat("requests[", i, "]"), r.status());
      requests.push_back(*std::move(r));
    }
    absl::StatusOr<std::vector<DecodeState>> states = astcd::InitStates(*engine, requests);
    if (!states.ok()) return states.status();
    out.states = *std::move(states);
  }
  absl::StatusOr<std::unique_ptr<Sampler>> sampler =
      SamplerFromProto(req.sampler(), out.states[0].shared_engine());
  if (!sampler.ok()) return sampler.status();
  out.sampler = *std::move(sampler);
  absl::StatusOr<StopAt> stop_at =
      ParseStopAt(req.stop_at().empty() ? EnumName(StopAt::kEos) : req.stop_at());
  if (!stop_at.ok()) return stop_at.status();
  out.options.n = req.n() == 0 ? 1 : req.n();
  out.options.max_new_tokens = req.max_new_tokens();
  out.options.max_total_tokens = req.max_total_tokens();
  out.options.stop_at = *stop_at;
  out.options.pad = req.pad();
  out.options.trace = req.trace();
  out.keep_sessions = req.keep_sessions();
  out.options.keep_states = out.keep_sessions;  // a final state is only kept as a session
  out.options.sample_offset = req.sample_offset();
  // Everything core checks is checked now, so that it fails the call, not the stream.
  if (absl::Status s = ValidateDecode(out.states, out.options); !s.ok()) return s;
  return out;
}

namespace {

// One chunk of a run, decoded (and turned into protos) on the pool; the run's thread hands its
// results out in order once it is done. astcd::Mutex, not absl::Notification: TSan sees
// through std::mutex only (docs/architecture.md, "Threads").
struct DecodedChunk {
  void Finish() {
    MutexLock lock(&mu);  // notified under the lock: the waiter frees the chunk once it wakes
    done = true;
    cv.NotifyAll();
  }
  void Wait() {
    MutexLock lock(&mu);
    while (!done) cv.Wait(&mu);
  }
  // Written by the pool thread before Finish, read by the run's thread after Wait.
  absl::StatusOr<DecodeBatch> batch;
  std::vector<v1::DecodeResult> protos;
  Mutex mu;
  CondVar cv;
  bool done ABSL_GUARDED_BY(mu) = false;
};

// The interrupt the chunks of one run share: the caller's, one call at a time (its contract,
// core/interrupt.h, though chunks run on several threads), and `stop` once the run has failed,
// so that the chunks still running give up rather than decode results no one will send.
struct SharedInterrupt {
  absl::Status operator()() {
    if (stop.load(std::memory_order_relaxed)) return absl::CancelledError("the run stopped");
    if (!inner) return absl::OkStatus();
    MutexLock lock(&mu);
    return inner();
  }
  Interrupt inner;
  std::atomic<bool> stop{false};
  Mutex mu;
};

void DecodeChunk(const PreparedDecode& decode, const DecodeOptions& options, int input,
                 DecodedChunk* out) {
  out->batch =
      astcd::Decode(absl::MakeConstSpan(&decode.states[input], 1), *decode.sampler, options);
  if (out->batch.ok()) {  // the conversion too runs on the pool, off the run's thread
    out->protos.resize(out->batch->results.size());
    for (size_t k = 0; k < out->protos.size(); ++k) {
      DecodeResultToProto(out->batch->results[k], &out->protos[k]);
    }
  }
  out->Finish();
}

// Hands a decoded chunk's results to the sink, in order, each with its session (keep_sessions).
absl::Status DeliverChunk(DecodedChunk& chunk, const PreparedDecode& decode,
                          const DecodeRun& run, const CallContext& call, SessionStore* store,
                          Metrics* metrics) {
  if (!chunk.batch.ok()) return chunk.batch.status();
  for (size_t k = 0; k < chunk.protos.size(); ++k) {
    v1::DecodeResult& result = chunk.protos[k];
    if (metrics) metrics->ProgramDecoded(chunk.batch->results[k].stop_reason);
    if (decode.keep_sessions) {
      absl::StatusOr<std::vector<std::string>> id =
          store->Insert({std::move(chunk.batch->states[k])}, call.tenant);
      if (!id.ok()) return id.status();
      result.set_session_id((*id)[0]);
    }
    // A result the sink refuses (over --max-response-bytes) ends the stream like any other
    // error, and takes back the session it would have named.
    if (absl::Status s = run.sink ? run.sink(result) : absl::OkStatus(); !s.ok()) {
      if (decode.keep_sessions) store->Discard({result.session_id()}, call.tenant);
      return s;
    }
  }
  return absl::OkStatus();
}

// How a run splits into chunks: chunk k is samples [offset, offset + size) of input
// k % inputs, offset = k / inputs * size, the order results have always come in.
struct ChunkPlan {
  int size = 1;
  int inputs = 1;
  int64_t count = 0;

  int Input(int64_t k) const { return static_cast<int>(k % inputs); }
  DecodeOptions Options(const DecodeOptions& base, int64_t k, SharedInterrupt* interrupt) const {
    DecodeOptions options = base;
    const int offset = static_cast<int>(k / inputs) * size;
    options.n = std::min(size, base.n - offset);
    options.sample_offset = base.sample_offset + offset;
    options.input_offset = Input(k);
    options.interrupt = [interrupt] { return (*interrupt)(); };
    return options;
  }
};

ChunkPlan PlanChunks(const PreparedDecode& decode) {
  ChunkPlan plan;
  const int n = decode.options.n;
  plan.inputs = static_cast<int>(decode.states.size());
  int64_t largest = 1;
  for (const DecodeState& s : decode.states) {
    largest = std::max(largest, ResultBytes(s, decode.options));
  }
  plan.size = static_cast<int>(std::clamp<int64_t>(
      std::min<int64_t>(kChunkBytes / largest, 32 / std::max(1, plan.inputs)), 1, n));
  plan.count = int64_t{(n + plan.size - 1) / plan.size} * plan.inputs;
  return plan;
}

// Decodes chunk k into *out: on the pool when there is one, else here and now.
void StartChunk(DecodePool* pool, const PreparedDecode& decode, const ChunkPlan& plan,
                int64_t k, SharedInterrupt* interrupt, DecodedChunk* out) {
  DecodeOptions options = plan.Options(decode.options, k, interrupt);
  const int input = plan.Input(k);
  if (pool == nullptr) {
    DecodeChunk(decode, options, input, out);
    return;
  }
  pool->Submit([&decode, options = std::move(options), input, out] {
    DecodeChunk(decode, options, input, out);
  });
}

}  // namespace

absl::Status DecoderService::RunDecode(PreparedDecode& decode, const DecodeRun& run,
                                       const CallContext& call) {
  const ChunkPlan plan = PlanChunks(decode);
  // Chunks started and not yet handed out: enough to keep every pool thread busy while this
  // thread hands results out, few enough that memory (kChunkBytes each) and the pool's queue
  // stay bounded and other calls get their turns.
  const size_t window = decode_pool_ ? 2 * static_cast<size_t>(decode_pool_->threads()) : 1;
  SharedInterrupt interrupt;
  interrupt.inner = run.interrupt;
  std::deque<std::unique_ptr<DecodedChunk>> pending;
  absl::Status status;
  for (int64_t next = 0;;) {
    while (status.ok() && next < plan.count && pending.size() < window) {
      if (run.before_chunk) status = run.before_chunk();
      if (!status.ok()) break;
      StartChunk(decode_pool_.get(), decode, plan, next++, &interrupt,
                 pending.emplace_back(std::make_unique<DecodedChunk>()).get());
    }
    if (!status.ok()) interrupt.stop.store(true, std::memory_order_relaxed);
    if (pending.empty()) return status;
    // Every chunk started is waited for, even after a failure: they use `decode` and
    // `interrupt`, which live on this stack.
    pending.front()->Wait();
    if (status.ok()) {
      status = DeliverChunk(*pending.front(), decode, run, call, store_, options_.metrics);
    }
    pending.pop_front();
  }
}

namespace {

// Runs DecoderService::RunDecode on a thread of its own, which starts the call's chunks on the
// service's DecodePool and hands their results out in order, and writes each result as it
// comes, one write at a time, through a ResultStream (server/result_stream.h), which holds that
// thread while more than kMaxQueuedBytes are queued for a slow reader.
class DecodeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  DecodeReactor(DecoderService* service, grpc::CallbackServerContext* ctx,
                const grpc::ByteBuffer& raw_req)
      : service_(service) {
    call_.grpc = ctx;
    absl::Status s = service_->Admit();
    if (s.ok()) {
      absl::StatusOr<std::string> tenant = service_->Authenticate(*ctx);
      s = tenant.status();
      if (tenant.ok()) call_.tenant = *std::move(tenant);
    }
    v1::DecodeRequest req;
    if (s.ok()) s = ParseMessage(raw_req, &req);
    if (s.ok()) {  // before the work of PrepareDecode; OnDone gives the stream back
      s = service_->BeginStream();
      holds_stream_ = s.ok();
    }
    if (s.ok()) {
      absl::StatusOr<PreparedDecode> prepared = service_->PrepareDecode(req, call_);
      s = InRequestNames(req.session_ids_size() > 0 ? "Decode" : "Decode/init_requests",
                         prepared.status());
      if (prepared.ok()) prepared_ = *std::move(prepared);
    }
    if (!s.ok()) {
      LogCallError("Decode", s, call_.tenant);
      Do(stream_.Close(s));
      return;
    }
    worker_ = std::thread([this] { Work(); });
  }

  void OnWriteDone(bool ok) override { Do(stream_.OnWriteDone(ok)); }
  void OnCancel() override { stream_.Cancel(); }
  void OnDone() override {
    if (worker_.joinable()) worker_.join();
    // keep_sessions: a result the client never got names a session no one else can; free it
    // now rather than let it hold its budget until the TTL.
    std::vector<std::string> orphans;
    for (Message& m : stream_.TakeUnsent()) {
      if (!m.session_id.empty()) orphans.push_back(std::move(m.session_id));
    }
    if (!orphans.empty()) service_->store()->Discard(orphans, call_.tenant);
    if (holds_stream_) service_->EndStream();
    NoteFreed(stream_.produced_bytes());
    delete this;
  }

 private:
  static constexpr int64_t kMaxQueuedBytes = int64_t{4} << 20;

  // A serialized result, and the session it names (keep_sessions), to free if it is not sent.
  struct Message {
    grpc::ByteBuffer bytes;
    std::string session_id;
  };

  // What the stream says to do, done outside its lock.
  void Do(const StreamAction& action) {
    // A result with more queued behind it goes out with them, in one flush, rather than in a
    // syscall and an HTTP/2 frame of its own (gRPC completes such a write at once while less
    // than its write buffer, 64 KiB, is held, so OnWriteDone still comes promptly).
    if (action.kind == StreamAction::kWrite) {
      StartWrite(&stream_.current()->bytes,
                 action.more ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
    }
    if (action.kind == StreamAction::kFinish) Finish(ToGrpcStatus(action.status));
  }

  absl::Status Interrupted() const {
    if (stream_.cancelled()) return absl::CancelledError("the call was cancelled");
    return call_.Alive();
  }

  void Work() {
    DecodeRun run;
    run.before_chunk = [this] {
      stream_.WaitForRoom();  // backpressure: a slow reader holds the worker here
      return Interrupted();
    };
    run.interrupt = [this] { return Interrupted(); };
    run.sink = [this](v1::DecodeResult& result) {
      grpc::ByteBuffer bytes;
      if (absl::Status s =
              SerializeMessage(result, service_->options().max_response_bytes, &bytes);
          !s.ok()) {
        return s;
      }
      const int64_t size = static_cast<int64_t>(bytes.Length());
      Do(stream_.Push(Message{std::move(bytes), result.session_id()}, size));
      return absl::OkStatus();
    };
    Do(stream_.Close(service_->RunDecode(prepared_, run, call_)));
  }

  DecoderService* const service_;
  CallContext call_;
  PreparedDecode prepared_;  // written before the worker starts, then the worker's
  bool holds_stream_ = false;
  std::thread worker_;
  ResultStream<Message> stream_{kMaxQueuedBytes};
};

// One request, one response, in order; a failed step reports its status and the stream goes on.
// A frame that is not a StepRequest ends the stream with INVALID_ARGUMENT: the client cannot
// tell which step it was, so going on would misalign every later response.
class StepReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StepReactor(DecoderService* service, grpc::CallbackServerContext* ctx) : service_(service) {
    call_.grpc = ctx;
    absl::StatusOr<std::string> tenant = service_->Authenticate(*ctx);
    if (!tenant.ok()) {
      LogCallError("Step", tenant.status(), "");
      Finish(ToGrpcStatus(tenant.status()));
      return;
    }
    call_.tenant = *std::move(tenant);
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or went away)
      Finish(grpc::Status::OK);
      return;
    }
    google::protobuf::Arena arena;  // as in Unary
    v1::StepRequest& request = *google::protobuf::Arena::CreateMessage<v1::StepRequest>(&arena);
    absl::Status parsed = ParseMessage(request_bytes_, &request);
    if (!parsed.ok()) {
      parsed = absl::InvalidArgumentError(
          absl::StrCat("step frame ", frames_, ": ", parsed.message()));
      LogCallError("Step", parsed, call_.tenant);
      Finish(ToGrpcStatus(parsed));
      return;
    }
    ++frames_;
    v1::StepResponse& response =
        *google::protobuf::Arena::CreateMessage<v1::StepResponse>(&arena);
    service_->DoStep(request, &response, call_);
    if (response.status().code() != 0) {
      LogCallError("Step", absl::Status(static_cast<absl::StatusCode>(response.status().code()),
                                        response.status().message()),
                   call_.tenant);
    }
    absl::Status s =
        SerializeMessage(response, service_->options().max_response_bytes, &response_bytes_);
    if (!s.ok()) {  // reported as the step's own error; the stream goes on
      v1::StepResponse failed;
      failed.set_step_id(request.step_id());
      *failed.mutable_status() = ToRpcStatus(s);
      (void)SerializeMessage(failed, INT64_MAX, &response_bytes_);
    }
    StartWrite(&response_bytes_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&request_bytes_);
  }
  void OnDone() override { delete this; }

 private:
  DecoderService* const service_;
  CallContext call_;
  int64_t frames_ = 0;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer response_bytes_;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* DecoderService::Decode(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req) {
  return new DecodeReactor(this, ctx, *req);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* DecoderService::Step(
    grpc::CallbackServerContext* ctx) {
  return new StepReactor(this, ctx);
}

}  // namespace astcd::server
