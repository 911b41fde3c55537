#include "client/remote_decoder.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "astcd/v1/astcd.grpc.pb.h"
#include "client/remote_convert.h"
#include "core/vocabulary.h"

namespace astcd::client {

VocabularyListing ListVocabulary(const Vocabulary& vocab) {
  VocabularyListing out;
  out.fingerprint = vocab.fingerprint();
  out.vocab_size = vocab.size();
  out.pad_id = Vocabulary::pad_id();
  out.eos_id = Vocabulary::eos_id();
  for (int id = 0; id < vocab.size(); ++id) {
    const absl::string_view kind = vocab.kind_name(id);
    out.tokens.push_back({id, vocab.info(id).name, std::string(kind.data(), kind.size())});
  }
  return out;
}

namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return StatusFromRpc(s.error_code(), s.error_message(), s.error_details());
}

// CANCELLED too: the client never cancels the unary calls it replays, so a CANCELLED came from
// a server shutting down, which cancels calls it received but had not started (grpc/grpc#41785).
bool Replayable(const absl::Status& s) {
  return absl::IsNotFound(s) || absl::IsUnavailable(s) || absl::IsCancelled(s);
}

// The response's chains: one per session with jump-forward, none without (as the server
// promises); with kOff, empty chains so that callers can index them either way.
absl::StatusOr<ForcedChains> ChainsFromProto(
    const google::protobuf::RepeatedPtrField<v1::TokenList>& forced, JumpForward mode,
    size_t sessions, absl::string_view what) {
  const size_t want = mode == JumpForward::kOff ? 0 : sessions;
  if (static_cast<size_t>(forced.size()) != want) {
    return absl::InternalError(absl::StrCat(what, ": the server answered ", forced.size(),
                                            " forced chains for ", want));
  }
  ForcedChains out(sessions);
  for (int i = 0; i < forced.size(); ++i) {
    out[static_cast<size_t>(i)].assign(forced[i].tokens().begin(), forced[i].tokens().end());
  }
  return out;
}

void UpdateSession(const v1::SessionState& st, Session* s) {
  s->id = st.session_id();
  s->complete = st.complete();
  s->terminated = st.terminated();
  s->num_tokens = st.num_tokens();
  s->token_budget_remaining = st.token_budget_remaining();
}

}  // namespace

class RemoteDecoder::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
      : stub_(v1::Decoder::NewStub(channel)), options_(std::move(options)) {}

  // A context with the deadline and metadata; a retry also waits for the server to come back.
  std::unique_ptr<grpc::ClientContext> Context(bool retry) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
    if (retry) ctx->set_wait_for_ready(true);
    if (!options_.affinity_key.empty()) ctx->AddMetadata("x-astcd-affinity", options_.affinity_key);
    if (!options_.auth_token.empty()) {
      ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.auth_token));
    }
    return ctx;
  }

  absl::Status CheckFingerprint(const std::string& fingerprint, absl::string_view expected,
                                absl::string_view what) const {
    for (absl::string_view want : {absl::string_view(options_.expected_fingerprint), expected}) {
      if (!want.empty() && !fingerprint.empty() && fingerprint != want) {
        return absl::FailedPreconditionError(
            absl::StrCat(what, ": the server's vocabulary fingerprint ", fingerprint,
                         " is not the expected ", want));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Masks(const std::string& bytes, const std::string& fingerprint, int vocab_size,
                     int words_per_row, int rows, MaskRows* out) const {
    absl::StatusOr<std::vector<int32_t>> words = MaskWords(bytes, rows, words_per_row);
    if (!words.ok()) return words.status();
    out->fingerprint = fingerprint;
    out->vocab_size = vocab_size;
    out->words_per_row = words_per_row;
    out->words = *std::move(words);
    return absl::OkStatus();
  }

  // Runs `call` (which sends the sessions' current ids) and, when Replayable,
  // re-creates every session of the batch from its origin and tokens, then calls again.
  template <typename Call>
  absl::Status WithReplay(absl::Span<Session> sessions, Call call) {
    absl::Duration backoff = options_.initial_backoff;
    absl::Status status;
    for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
      const bool retry = attempt > 0;
      if (retry) {
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
        absl::Status recreated = Recreate(sessions);
        if (!recreated.ok()) {
          status = recreated;
          if (Replayable(recreated)) continue;
          return recreated;
        }
        replays_.fetch_add(1, std::memory_order_relaxed);
      }
      status = call(retry);
      if (status.ok() || !options_.replay_sessions || !Replayable(status)) return status;
      for (const Session& s : sessions) {
        if (s.origin == nullptr) return status;  // not ours to re-create
      }
    }
    return status;
  }

  // Advance and Rollback: sends `req` (plus the sessions' current ids and return_masks) through
  // `method`, checks the answer, fills `masks`, lets `record(resp)` check the rest and update
  // the sessions' token histories (it sees them as they were before the call), then updates
  // each session's state. Nothing changes unless every check passed.
  template <typename Resp, typename Req, typename Method, typename Record>
  absl::Status UpdateSessions(absl::string_view what, Method method, Req req,
                              absl::Span<Session> sessions, MaskRows* masks, Record record) {
    req.set_return_masks(masks != nullptr);
    return WithReplay(sessions, [&](bool retry) {
      req.clear_session_ids();
      for (const Session& s : sessions) req.add_session_ids(s.id);
      Resp resp;
      absl::Status s = FromGrpc(((*stub_).*method)(Context(retry).get(), req, &resp));
      if (!s.ok()) return s;
      const std::string expected =
          sessions.empty() || !sessions[0].origin ? "" : sessions[0].origin->fingerprint;
      if (s = CheckFingerprint(resp.fingerprint(), expected, what); !s.ok()) return s;
      if (resp.states_size() != static_cast<int>(sessions.size())) {
        return absl::InternalError(
            absl::StrCat(what, ": the server answered the wrong number of states"));
      }
      MaskRows rows;
      if (masks != nullptr) {
        s = Masks(resp.bitmask(), resp.fingerprint(), resp.vocab_size(), resp.words_per_row(),
                  resp.states_size(), &rows);
        if (!s.ok()) return s;
      }
      if (s = record(resp); !s.ok()) return s;
      if (masks != nullptr) *masks = std::move(rows);
      for (size_t i = 0; i < sessions.size(); ++i) {
        UpdateSession(resp.states(static_cast<int>(i)), &sessions[i]);
      }
      return absl::OkStatus();
    });
  }

  // New sessions with the same origins and tokens; the old ids are dropped (a replica that
  // still holds them lets them expire).
  absl::Status Recreate(absl::Span<Session> sessions) {
    for (size_t begin = 0; begin < sessions.size();) {
      // One InitStates per run of sessions with the same origin.
      size_t end = begin + 1;
      while (end < sessions.size() && sessions[end].origin == sessions[begin].origin) ++end;
      const SessionOrigin& origin = *sessions[begin].origin;
      v1::InitStatesRequest req;
      ConfigToProto(origin.config, req.mutable_config());
      for (size_t i = begin; i < end; ++i) {
        InitRequest r;
        r.start = origin.start;
        r.arity = origin.arity;
        r.max_len = origin.max_len;
        r.prefix_tokens = sessions[i].tokens;
        InitToProto(r, req.add_requests());
      }
      v1::InitStatesResponse resp;
      absl::Status s = FromGrpc(stub_->InitStates(Context(true).get(), req, &resp));
      if (!s.ok()) return s;
      if (absl::Status fp = CheckFingerprint(resp.fingerprint(), origin.fingerprint, "replay");
          !fp.ok()) {
        return fp;
      }
      if (resp.states_size() != static_cast<int>(end - begin)) {
        return absl::InternalError("replay: InitStates answered the wrong number of states");
      }
      for (size_t i = begin; i < end; ++i) {
        const v1::SessionState& st = resp.states(static_cast<int>(i - begin));
        if (st.num_tokens() != static_cast<int>(sessions[i].tokens.size())) {
          return absl::InternalError("replay: a re-created session has another length");
        }
        UpdateSession(st, &sessions[i]);
      }
      begin = end;
    }
    return absl::OkStatus();
  }

  std::unique_ptr<v1::Decoder::Stub> stub_;
  ClientOptions options_;
  std::atomic<int64_t> replays_{0};
};

RemoteDecoder::RemoteDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteDecoder::~RemoteDecoder() = default;

std::unique_ptr<RemoteDecoder> RemoteDecoder::Connect(const std::string& target,
                                                      ClientOptions options) {
  std::shared_ptr<grpc::ChannelCredentials> creds =
      options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, creds, args);
  return std::unique_ptr<RemoteDecoder>(
      new RemoteDecoder(std::make_unique<Impl>(std::move(channel), std::move(options))));
}

int64_t RemoteDecoder::replays() const { return impl_->replays_.load(); }

absl::StatusOr<VocabularyListing> RemoteDecoder::GetVocabulary(const DecodeConfig& config) {
  v1::GetVocabularyRequest req;
  ConfigToProto(config, req.mutable_config());
  v1::Vocabulary resp;
  absl::Status s = FromGrpc(impl_->stub_->GetVocabulary(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  if (s = impl_->CheckFingerprint(resp.fingerprint(), "", "GetVocabulary"); !s.ok()) return s;
  VocabularyListing out;
  out.fingerprint = resp.fingerprint();
  out.vocab_size = resp.vocab_size();
  out.pad_id = resp.pad_id();
  out.eos_id = resp.eos_id();
  for (const v1::Token& t : resp.tokens()) out.tokens.push_back({t.id(), t.name(), t.kind()});
  return out;
}

absl::StatusOr<std::vector<Session>> RemoteDecoder::InitStates(
    const DecodeConfig& config, absl::Span<const InitRequest> requests, MaskRows* masks) {
  ForcedChains unused;
  return InitStates(config, requests, JumpForward::kOff, &unused, masks);
}

absl::StatusOr<std::vector<Session>> RemoteDecoder::InitStates(
    const DecodeConfig& config, absl::Span<const InitRequest> requests, JumpForward jump_forward,
    ForcedChains* forced, MaskRows* masks) {
  v1::InitStatesRequest req;
  ConfigToProto(config, req.mutable_config());
  for (const InitRequest& r : requests) InitToProto(r, req.add_requests());
  req.set_return_masks(masks != nullptr);
  req.set_jump_forward(static_cast<v1::JumpForward>(jump_forward));
  v1::InitStatesResponse resp;
  absl::Status s = FromGrpc(impl_->stub_->InitStates(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  if (s = impl_->CheckFingerprint(resp.fingerprint(), "", "InitStates"); !s.ok()) return s;
  if (resp.states_size() != static_cast<int>(requests.size())) {
    return absl::InternalError("InitStates: the server answered the wrong number of states");
  }
  absl::StatusOr<ForcedChains> chains =
      ChainsFromProto(resp.forced(), jump_forward, requests.size(), "InitStates");
  if (!chains.ok()) return chains.status();
  std::vector<Session> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto origin = std::make_shared<SessionOrigin>();
    origin->config = config;
    origin->start = requests[i].start;
    origin->arity = requests[i].arity;
    origin->max_len = requests[i].max_len;
    origin->fingerprint = resp.fingerprint();
    out[i].origin = std::move(origin);
    out[i].tokens = requests[i].prefix_tokens;
    // An applied chain is part of the session: replay must take it too.
    if (jump_forward == JumpForward::kApply) {
      out[i].tokens.insert(out[i].tokens.end(), (*chains)[i].begin(), (*chains)[i].end());
    }
    UpdateSession(resp.states(static_cast<int>(i)), &out[i]);
  }
  if (masks != nullptr) {
    s = impl_->Masks(resp.bitmask(), resp.fingerprint(), resp.vocab_size(), resp.words_per_row(),
                     resp.states_size(), masks);
    if (!s.ok()) return s;
  }
  if (forced != nullptr) *forced = *std::move(chains);
  return out;
}

absl::Status RemoteDecoder::LegalMasks(absl::Span<Session> sessions, MaskRows* out) {
  return impl_->WithReplay(sessions, [&](bool retry) {
    v1::LegalMasksRequest req;
    for (const Session& s : sessions) req.add_session_ids(s.id);
    v1::LegalMasksResponse resp;
    absl::Status s = FromGrpc(impl_->stub_->LegalMasks(impl_->Context(retry).get(), req, &resp));
    if (!s.ok()) return s;
    const std::string expected =
        sessions.empty() || !sessions[0].origin ? "" : sessions[0].origin->fingerprint;
    if (s = impl_->CheckFingerprint(resp.fingerprint(), expected, "LegalMasks"); !s.ok()) return s;
    return impl_->Masks(resp.bitmask(), resp.fingerprint(), resp.vocab_size(),
                        resp.words_per_row(), static_cast<int>(sessions.size()), out);
  });
}

absl::Status RemoteDecoder::Advance(absl::Span<Session> sessions, absl::Span<const int32_t> tokens,
                                    MaskRows* masks) {
  return Advance(sessions, tokens, JumpForward::kOff, masks).status();
}

absl::StatusOr<ForcedChains> RemoteDecoder::Advance(absl::Span<Session> sessions,
                                                    absl::Span<const int32_t> tokens,
                                                    JumpForward jump_forward, MaskRows* masks) {
  if (tokens.size() != sessions.size()) {
    return absl::InvalidArgumentError(absl::StrCat("token_ids: ", tokens.size(), " tokens for ",
                                                   sessions.size(), " sessions"));
  }
  v1::AdvanceRequest req;
  req.mutable_token_ids()->Add(tokens.begin(), tokens.end());
  req.set_jump_forward(static_cast<v1::JumpForward>(jump_forward));
  ForcedChains out;
  absl::Status status = impl_->UpdateSessions<v1::AdvanceResponse>(
      "Advance", &v1::Decoder::Stub::Advance, req, sessions, masks,
      [&](const v1::AdvanceResponse& resp) {
        absl::StatusOr<ForcedChains> chains =
            ChainsFromProto(resp.forced(), jump_forward, sessions.size(), "Advance");
        if (!chains.ok()) return chains.status();
        for (size_t i = 0; i < sessions.size(); ++i) {
          std::vector<int32_t>& history = sessions[i].tokens;
          // <pad> after <eos> changes nothing on the server, so it is not history either.
          if (!sessions[i].terminated) history.push_back(tokens[i]);
          // An applied chain is part of the session: replay must take it too.
          if (jump_forward == JumpForward::kApply) {
            history.insert(history.end(), (*chains)[i].begin(), (*chains)[i].end());
          }
        }
        out = *std::move(chains);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

absl::Status RemoteDecoder::Rollback(absl::Span<Session> sessions,
                                     absl::Span<const int32_t> num_tokens, MaskRows* masks) {
  if (num_tokens.size() != sessions.size()) {
    return absl::InvalidArgumentError(absl::StrCat("num_tokens: ", num_tokens.size(),
                                                   " counts for ", sessions.size(), " sessions"));
  }
  v1::RollbackRequest req;
  req.mutable_num_tokens()->Add(num_tokens.begin(), num_tokens.end());
  return impl_->UpdateSessions<v1::RollbackResponse>(
      "Rollback", &v1::Decoder::Stub::Rollback, req, sessions, masks,
      [&](const v1::RollbackResponse& resp) {
        for (size_t i = 0; i < sessions.size(); ++i) {
          const int kept = resp.states(static_cast<int>(i)).num_tokens();
          sessions[i].tokens.resize(static_cast<size_t>(kept));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<Session>> RemoteDecoder::Fork(absl::Span<Session> sessions, int n) {
  std::vector<Session> out;
  absl::Status status = impl_->WithReplay(sessions, [&](bool retry) {
    v1::ForkStatesRequest req;
    for (const Session& s : sessions) req.add_session_ids(s.id);
    req.set_n(n);
    v1::ForkStatesResponse resp;
    absl::Status s = FromGrpc(impl_->stub_->ForkStates(impl_->Context(retry).get(), req, &resp));
    if (!s.ok()) return s;
    if (n < 1 || resp.states_size() != static_cast<int>(sessions.size()) * n) {
      return absl::InternalError("ForkStates: the server answered the wrong number of states");
    }
    out.clear();
    for (int k = 0; k < resp.states_size(); ++k) {
      Session copy = sessions[static_cast<size_t>(k / n)];
      UpdateSession(resp.states(k), &copy);
      out.push_back(std::move(copy));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<int> RemoteDecoder::Release(absl::Span<const Session> sessions) {
  v1::ReleaseStatesRequest req;
  for (const Session& s : sessions) req.add_session_ids(s.id);
  v1::ReleaseStatesResponse resp;
  absl::Status s =
      FromGrpc(impl_->stub_->ReleaseStates(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  return resp.released();
}

absl::StatusOr<std::vector<TokenizeResult>> RemoteDecoder::Tokenize(
    const DecodeConfig& config, absl::Span<const std::string> sources,
    const TokenizeOptions& options, std::vector<Session>* sessions) {
  v1::TokenizeRequest req;
  for (const std::string& source : sources) req.add_sources(source);
  ConfigToProto(config, req.mutable_config());
  req.set_start(StartToProto(options.start));
  req.set_partial(options.partial);
  req.set_create_sessions(sessions != nullptr);
  if (options.arity) req.set_arity(*options.arity);
  req.set_max_len(options.max_len);
  v1::TokenizeResponse resp;
  absl::Status s = FromGrpc(impl_->stub_->Tokenize(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  if (s = impl_->CheckFingerprint(resp.fingerprint(), "", "Tokenize"); !s.ok()) return s;
  if (resp.results_size() != static_cast<int>(sources.size())) {
    return absl::InternalError("Tokenize: the server answered the wrong number of results");
  }
  std::vector<TokenizeResult> out;
  if (sessions != nullptr) sessions->assign(sources.size(), Session{});
  auto origin = std::make_shared<SessionOrigin>();
  origin->config = config;
  origin->start = options.start;
  origin->arity = options.arity;
  origin->max_len = options.max_len == 0 ? kMaxLenLimit : options.max_len;
  origin->fingerprint = resp.fingerprint();
  for (int i = 0; i < resp.results_size(); ++i) {
    const v1::TokenizeResult& r = resp.results(i);
    absl::StatusOr<TokenizeResult> result = TokenizeResultFromProto(r, options.start);
    if (!result.ok()) return result.status();
    if (sessions != nullptr && r.ok() && !r.session_id().empty()) {
      Session& session = (*sessions)[static_cast<size_t>(i)];
      session.id = r.session_id();
      session.complete = r.complete();
      session.num_tokens = r.tokens_size();
      session.origin = origin;
      session.tokens = result->tokens;
      session.terminated = !options.partial;  // a whole source ends with EOS
    }
    out.push_back(*std::move(result));
  }
  return out;
}

absl::StatusOr<std::vector<DetokenizeResult>> RemoteDecoder::Detokenize(
    const DecodeConfig& config, Start start, std::optional<int> arity,
    absl::Span<const std::vector<int32_t>> programs, bool partial) {
  v1::DetokenizeRequest req;
  ConfigToProto(config, req.mutable_config());
  req.set_start(StartToProto(start));
  for (const std::vector<int32_t>& p : programs) {
    req.add_programs()->mutable_tokens()->Add(p.begin(), p.end());
  }
  req.set_partial(partial);
  if (arity) req.set_arity(*arity);
  v1::DetokenizeResponse resp;
  absl::Status s = FromGrpc(impl_->stub_->Detokenize(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  if (resp.results_size() != static_cast<int>(programs.size())) {
    return absl::InternalError("Detokenize: the server answered the wrong number of results");
  }
  std::vector<DetokenizeResult> out;
  for (const v1::DetokenizeResult& r : resp.results()) {
    out.push_back({r.ok(), r.source(), r.error(), r.ok() ? -1 : r.position()});
  }
  return out;
}

absl::StatusOr<std::vector<RunOutcome>> RemoteDecoder::Run(
    const DecodeConfig& config, const RunProgram& program,
    absl::Span<const std::vector<int64_t>> inputs, const RunOptions& options) {
  v1::RunRequest req;
  if (program.session_id) {
    req.set_session_id(*program.session_id);
  } else if (program.source) {
    req.set_source(*program.source);
  } else {
    req.mutable_tokens()->mutable_tokens()->Add(program.tokens.begin(), program.tokens.end());
  }
  ConfigToProto(config, req.mutable_config());
  for (const std::vector<int64_t>& args : inputs) {
    req.add_inputs()->mutable_args()->Add(args.begin(), args.end());
  }
  req.mutable_limits()->set_max_steps(options.max_steps);
  req.set_trace(options.trace);
  req.set_locals(options.locals);
  req.set_start(StartToProto(program.start));
  if (program.arity) req.set_arity(*program.arity);
  if (program.entry) req.set_entry(*program.entry);
  v1::RunResponse resp;
  absl::Status s = FromGrpc(impl_->stub_->Run(impl_->Context(false).get(), req, &resp));
  if (!s.ok()) return s;
  if (resp.outcomes_size() != static_cast<int>(inputs.size())) {
    return absl::InternalError("Run: the server answered the wrong number of outcomes");
  }
  std::vector<RunOutcome> out;
  for (const v1::Outcome& o : resp.outcomes()) {
    absl::StatusOr<RunOutcome> outcome = OutcomeFromProto(o);
    if (!outcome.ok()) return outcome.status();
    out.push_back(*std::move(outcome));
  }
  return out;
}

absl::Status RemoteDecoder::Decode(
    const DecodeSpec& spec,
    const std::function<absl::Status(DecodeResult&&, Session&&)>& on_result) {
  v1::DecodeRequest req;
  for (const Session& s : spec.sessions) req.add_session_ids(s.id);
  for (const InitRequest& r : spec.init_requests) InitToProto(r, req.add_init_requests());
  ConfigToProto(spec.config, req.mutable_config());
  v1::Sampler* sampler = req.mutable_sampler();
  sampler->set_kind(spec.sampler);
  sampler->set_seed(spec.seed);
  if (ParseEnum<SamplerKind>(spec.sampler).value_or(SamplerKind::kUniform) ==
      SamplerKind::kWeighted) {
    for (const auto& [key, weight] : spec.policy.weights) (*sampler->mutable_weights())[key] = weight;
    sampler->set_depth_pressure(spec.policy.depth_pressure);
    sampler->set_budget_pressure(spec.policy.budget_pressure);
  }
  const DecodeOptions& o = spec.options;
  req.set_n(o.n);
  req.set_sample_offset(o.sample_offset);
  req.set_max_new_tokens(o.max_new_tokens);
  req.set_max_total_tokens(o.max_total_tokens);
  req.set_stop_at(std::string(EnumName(o.stop_at)));
  req.set_pad(o.pad);
  req.set_trace(o.trace);
  req.set_keep_sessions(spec.keep_sessions);

  std::unique_ptr<grpc::ClientContext> ctx = impl_->Context(false);
  std::unique_ptr<grpc::ClientReader<v1::DecodeResult>> reader =
      impl_->stub_->Decode(ctx.get(), req);
  v1::DecodeResult r;
  absl::Status callback_status;
  while (reader->Read(&r)) {
    absl::StatusOr<DecodeResult> result = DecodeResultFromProto(r);
    if (!result.ok()) {
      callback_status = result.status();
      break;
    }
    Session kept;
    if (!r.session_id().empty()) {
      // The final state continues the input it came from, with the tokens it now has.
      const size_t input = static_cast<size_t>(r.input_index());
      auto origin = std::make_shared<SessionOrigin>();
      if (input < spec.sessions.size() && spec.sessions[input].origin) {
        *origin = *spec.sessions[input].origin;
      } else if (input < spec.init_requests.size()) {
        const InitRequest& init = spec.init_requests[input];
        origin->config = spec.config;
        origin->start = init.start;
        origin->arity = init.arity;
        origin->max_len = init.max_len;
      }
      if (o.max_total_tokens > 0) {
        const int max_len = origin->max_len == 0 ? kDefaultMaxLen : origin->max_len;
        origin->max_len = std::min(max_len, o.max_total_tokens);
      }
      kept.id = r.session_id();
      kept.complete = r.complete();
      kept.terminated = result->stop_reason == StopReason::kEos ||
                        result->stop_reason == StopReason::kAlreadyTerminated;
      kept.num_tokens = r.tokens_size();
      kept.origin = std::move(origin);
      kept.tokens = result->tokens;
    }
    callback_status = on_result(*std::move(result), std::move(kept));
    if (!callback_status.ok()) break;
  }
  if (!callback_status.ok()) {
    ctx->TryCancel();
    (void)reader->Finish();
    return callback_status;
  }
  return FromGrpc(reader->Finish());
}

}  // namespace astcd::client
