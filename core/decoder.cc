#include "core/decoder.h"

#include <algorithm>
#include <bit>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/errors.h"

namespace astcd {
namespace {

bool IsScopeNode(NodeKind k) { return Spec(k).flow & kFlowOpensScope; }

absl::Status SameLength(absl::Span<DecodeState* const> states, absl::Span<const int32_t> tokens) {
  if (states.size() == tokens.size()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("token_ids has ", tokens.size(), " entries for ",
                                                 states.size(), " states"));
}

}  // namespace

void DecodeState::Reset(Start start, int arity, int max_len) {
  tokens_.clear();
  checkpoints_.clear();
  checkpoint_frames_.clear();
  max_len_ = max_len;
  root_arity_ = static_cast<int8_t>(arity);
  m_.engine = engine_.get();
  m_.Reset(start, arity);
}

bool DecodeState::complete() const { return m_.complete(); }

void DecodeState::FillMask(uint32_t* out) const { FillMask(out, nullptr); }

void DecodeState::FillMask(uint32_t* out, HoleView* hole) const {
  if (shaped()) {
    FillShapedMask(out);
    if (hole != nullptr) *hole = hole_view();
    return;
  }
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  FillFromContext(ctx, conds, hole_cost, var_bits, out);
  if (hole != nullptr) *hole = ViewOf(ctx, hole_cost, depth);
}

void DecodeState::FillFromContext(MaskContext ctx, unsigned conds, int hole_cost,
                                  uint32_t var_bits, uint32_t* out) const {
  const Engine& e = *engine_;
  const int words = e.words();
  const uint32_t* base = e.base_mask(ctx, conds);
  const uint32_t* budget = e.budget_mask(token_budget_remaining() - m_.pending + hole_cost);
  for (int w = 0; w < words; ++w) out[w] = base[w] & budget[w];
  e.OrNames(var_bits, out);  // names cost one token, and slack >= 1 in every hole taking them
}

// One word of the mask, computed as FillMask computes it.
bool DecodeState::IsLegal(int32_t token) const {
  const Engine& e = *engine_;
  if (token < 0 || token >= e.vocab().size()) return false;
  if (shaped()) {
    absl::InlinedVector<uint32_t, 64> row(e.words());
    FillShapedMask(row.data());
    return (row[token >> 5] >> (token & 31)) & 1u;
  }
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  const int w = token >> 5;
  uint32_t word = e.base_mask(ctx, conds)[w] &
                  e.budget_mask(token_budget_remaining() - m_.pending + hole_cost)[w];
  const int var = token - e.vocab().name_base();
  if (var >= 0 && var < e.vocab().num_names() && ((var_bits >> var) & 1u)) return true;
  return (word >> (token & 31)) & 1u;
}

// The guard behind each condition bit, in Refusal's order.
constexpr std::pair<unsigned, Refusal> kCondRefusals[] = {
    {kCondSeqItem, Refusal::kGrammar},          {kCondAssigned, Refusal::kScope},
    {kCondInLoop, Refusal::kOutsideLoop},       {kCondLoops, Refusal::kLoops},
    {kCondSeqRoom, Refusal::kBlockSize},        {kCondControlRoom, Refusal::kControlDepth},
    {kCondExprRoom, Refusal::kExprDepth},       {kCondTarget, Refusal::kLocals},
};

Refusal DecodeState::WhyRefused(int32_t token) const {
  const Engine& e = *engine_;
  if (token < 0 || token >= e.vocab().size()) return Refusal::kVocabulary;
  if (IsLegal(token)) return Refusal::kNone;
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  const TokenInfo& info = e.vocab().info(token);
  if (Spec(info.node).kind == TokenKind::kVariable) {
    if ((var_bits >> info.value) & 1u) return ShapeOrBudget(token);
    if (ctx == MaskContext::kExpr || ctx == MaskContext::kAugTarget) return Refusal::kScope;
    const bool next_fresh = ctx == MaskContext::kTarget && info.value == m_.introduced;
    return next_fresh ? Refusal::kLocals : Refusal::kGrammar;  // names are canonical
  }
  if (!Fills(ctx, info.node)) return Refusal::kGrammar;
  const unsigned missing = Needs(ctx, info.node) & ~e.Held(ctx, conds);
  for (const auto& [cond, refusal] : kCondRefusals) {
    if (missing & cond) {
      const bool module = ctx == MaskContext::kModule && refusal == Refusal::kBlockSize;
      return module ? Refusal::kFunctions : refusal;
    }
  }
  return ShapeOrBudget(token);  // every condition holds: a control, or the subtree does not fit
}

HoleView DecodeState::hole_view() const {
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = m_.Context(&conds, &hole_cost, &var_bits, &depth);
  return ViewOf(ctx, hole_cost, depth);
}

HoleView DecodeState::ViewOf(MaskContext ctx, int hole_cost, int depth) const {
  HoleView view{};
  view.context = ctx;
  view.depth = depth;
  const DecodeConfig& cfg = engine_->config();
  view.max_depth = view.context == MaskContext::kExpr ? cfg.max_expr_depth : cfg.max_control_depth;
  view.items = m_.stack.empty() ? 0 : m_.stack.back().next;
  view.slack = token_budget_remaining() - m_.MinToComplete() + hole_cost;
  return view;
}

std::string DecodeState::DescribeIllegal(int32_t token) const {
  const Vocabulary& v = engine_->vocab();
  absl::InlinedVector<uint32_t, 64> row(engine_->words());
  FillMask(row.data());
  std::vector<std::string> legal;
  int count = 0;
  for (int id = 0; id < v.size(); ++id) {
    if ((row[id >> 5] >> (id & 31)) & 1u) {
      if (++count <= 12) legal.push_back(v.info(id).name);
    }
  }
  std::string list = absl::StrJoin(legal, " ");
  if (count > 12) absl::StrAppend(&list, " ... (", count, " in all)");
  const bool shape = WhyRefused(token) == Refusal::kShape;
  return absl::StrCat("token ", token, " '", v.info(token).name, "' is not legal after ",
                      num_tokens(), " tokens", shape ? " (a shape control refuses it)" : "",
                      "; legal: ", list);
}

absl::Status DecodeState::Advance(int32_t token) {
  if (token < 0 || token >= engine_->vocab().size()) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", token,
                                                   " is outside the vocabulary [0, ",
                                                   engine_->vocab().size(), ")"));
  }
  if (!IsLegal(token)) return absl::FailedPreconditionError(DescribeIllegal(token));
  Apply(token);
  return absl::OkStatus();
}

// Precondition: `token` is legal.
void DecodeState::Apply(int32_t token) {
  if (m_.terminated) return;  // PAD after EOS changes nothing
  // Grow within max_len, so that MaxApproxBytes bounds the vector (a legal token always fits).
  if (tokens_.size() == tokens_.capacity()) {
    tokens_.reserve(std::min<size_t>(max_len_, std::max<size_t>(16, 2 * tokens_.capacity())));
  }
  tokens_.push_back(token);
  m_.Apply(token);
  if ((tokens_.size() & (kCheckpointInterval - 1)) == 0) SaveCheckpoint();
}

void DecodeState::SaveCheckpoint() {
  checkpoints_.push_back({static_cast<uint32_t>(checkpoint_frames_.size()),
                          static_cast<uint16_t>(m_.stack.size()), m_.scope_index, m_.arity,
                          m_.pending, m_.owed, m_.introduced, m_.terminated});
  checkpoint_frames_.insert(checkpoint_frames_.end(), m_.stack.begin(), m_.stack.end());
}

void DecodeState::RestoreCheckpoint(size_t index) {
  const Checkpoint& c = checkpoints_[index];
  const Frame* first = checkpoint_frames_.data() + c.first_frame;
  m_.stack.assign(first, first + c.num_frames);
  m_.scope_index = c.scope_index;
  m_.arity = c.arity;
  m_.pending = c.pending;
  m_.owed = c.owed;
  m_.introduced = c.introduced;
  m_.terminated = c.terminated;
  tokens_.resize((index + 1) * kCheckpointInterval);
  checkpoint_frames_.resize(c.first_frame + c.num_frames);
  checkpoints_.resize(index + 1);
}

int64_t DecodeState::ApproxBytes() const {
  int64_t bytes = sizeof(DecodeState);
  bytes += static_cast<int64_t>(tokens_.capacity() * sizeof(int32_t));
  if (m_.stack.capacity() > kInlineFrames) {
    bytes += static_cast<int64_t>(m_.stack.capacity() * sizeof(Frame));
  }
  bytes += static_cast<int64_t>(checkpoints_.capacity() * sizeof(Checkpoint));
  bytes += static_cast<int64_t>(checkpoint_frames_.capacity() * sizeof(Frame));
  return bytes;
}

int64_t DecodeState::MaxApproxBytes() const {
  const int64_t checkpoints = max_len_ / kCheckpointInterval;
  const int64_t frames = std::max<int64_t>(m_.stack.size(), kMaxApproxCheckpointFrames);
  const int64_t grown = sizeof(DecodeState) + int64_t{max_len_} * sizeof(int32_t) +
                        checkpoints * (sizeof(Checkpoint) + frames * sizeof(Frame));
  return std::max(grown, ApproxBytes());
}

absl::Status DecodeState::LimitMaxLen(int max_len) {
  if (max_len >= max_len_) return absl::OkStatus();
  const int needed = m_.MinToComplete();
  if (max_len - num_tokens() < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a budget of ", max_len, " tokens cannot complete this state: it has ", num_tokens(),
        " tokens and needs at least ", needed, " more"));
  }
  max_len_ = max_len;
  return absl::OkStatus();
}

bool DecodeState::CheckInvariants() const {
  const Engine& e = *engine_;
  int expected = 0;
  for (const Frame& f : m_.stack) {
    const NodeSpec& spec = Spec(f.node);
    if (IsSequenceNode(f.node)) {
      expected += (f.next == 0 ? e.hole_cost(spec.children[0]) : 0) + 1;
    } else {
      for (int i = f.next; i < spec.num_children; ++i) expected += e.hole_cost(spec.children[i]);
    }
  }
  if (!m_.terminated && m_.start != Start::kModule) expected += 1;  // EOS
  return expected == m_.pending && m_.MinToComplete() <= token_budget_remaining() &&
         (m_.scope_index < 0 || IsScopeNode(m_.stack[m_.scope_index].node));
}

absl::StatusOr<DecodeState> InitState(std::shared_ptr<const Engine> engine,
                                      const InitRequest& request) {
  const DecodeConfig& cfg = engine->config();
  int arity = -1;
  if (request.start == Start::kBlock || request.start == Start::kExpr) {
    arity = request.arity.value_or(cfg.arities.front());
    if (std::find(cfg.arities.begin(), cfg.arities.end(), arity) == cfg.arities.end()) {
      return FieldStatus(absl::StatusCode::kInvalidArgument,
                         FieldError{"arity", "", " ",
                                    absl::StrCat(arity, " is not in config.arities")});
    }
  }
  const int max_len = request.max_len == 0 ? kDefaultMaxLen : request.max_len;
  if (max_len < 1 || max_len > kMaxLenLimit) {
    return FieldStatus(
        absl::StatusCode::kInvalidArgument,
        FieldError{"max_len", "", " = ",
                   absl::StrCat(request.max_len, " is outside [1, ", kMaxLenLimit, "]")});
  }
  DecodeState state;
  state.engine_ = std::move(engine);
  state.Reset(request.start, arity, max_len);
  if (state.min_tokens_to_complete() > max_len) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"max_len", "", " = ",
                                  absl::StrCat(max_len, " is below the shortest ",
                                               StartName(request.start), " program (",
                                               state.min_tokens_to_complete(),
                                               " tokens with EOS)")});
  }
  for (size_t i = 0; i < request.prefix_tokens.size(); ++i) {
    if (absl::Status s = state.Advance(request.prefix_tokens[i]); !s.ok()) {
      return Within(absl::StrCat("prefix_tokens[", i, "]"), s);
    }
  }
  return state;
}

absl::StatusOr<std::vector<DecodeState>> InitStates(std::shared_ptr<const Engine> engine,
                                                    absl::Span<const InitRequest> requests) {
  std::vector<DecodeState> states;
  states.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<DecodeState> state = InitState(engine, requests[i]);
    if (!state.ok()) return Within(absl::StrCat("requests[", i, "]"), state.status());
    states.push_back(*std::move(state));
  }
  return states;
}

absl::Status SameVocabulary(absl::Span<const DecodeState* const> states) {
  for (size_t i = 1; i < states.size(); ++i) {
    const std::string& fingerprint = states[i]->engine().vocab().fingerprint();
    const std::string& first = states[0]->engine().vocab().fingerprint();
    if (fingerprint != first) {
      return FieldStatus(absl::StatusCode::kInvalidArgument, absl::StrCat("states[", i, "]"),
                         absl::StrCat("uses vocabulary ", fingerprint, ", not ", first,
                                      "; a batch shares one"));
    }
  }
  return absl::OkStatus();
}

absl::Status SameVocabulary(absl::Span<const DecodeState> states) {
  std::vector<const DecodeState*> ptrs;
  ptrs.reserve(states.size());
  for (const DecodeState& s : states) ptrs.push_back(&s);
  return SameVocabulary(ptrs);
}

absl::Status LegalMasks(absl::Span<const DecodeState* const> states, absl::Span<int32_t> out) {
  if (states.empty()) return absl::OkStatus();
  const Engine& engine = states[0]->engine();
  const size_t words = engine.words();
  if (out.size() != states.size() * words) {
    return absl::InvalidArgumentError(absl::StrCat("mask buffer holds ", out.size(),
                                                   " words; ", states.size() * words,
                                                   " are needed"));
  }
  if (absl::Status s = SameVocabulary(states); !s.ok()) return s;
  for (size_t i = 0; i < states.size(); ++i) {
    states[i]->FillMask(reinterpret_cast<uint32_t*>(out.data() + i * words));
  }
  return absl::OkStatus();
}

absl::Status LegalMasks(absl::Span<const DecodeState> states, absl::Span<int32_t> out) {
  std::vector<const DecodeState*> ptrs;
  ptrs.reserve(states.size());
  for (const DecodeState& s : states) ptrs.push_back(&s);
  return LegalMasks(absl::MakeConstSpan(ptrs), out);
}

absl::Status Advance(absl::Span<DecodeState* const> states, absl::Span<const int32_t> tokens) {
  if (absl::Status s = SameLength(states, tokens); !s.ok()) return s;
  // A state named twice would be checked twice against its old self, then moved twice.
  absl::flat_hash_map<const DecodeState*, size_t> seen;
  for (size_t i = 0; i < states.size(); ++i) {
    auto [it, fresh] = seen.emplace(states[i], i);
    if (!fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat("states[", it->second, "] and states[", i, "] are the same state"));
    }
  }
  return AdvanceDistinct(states, tokens);
}

absl::Status AdvanceDistinct(absl::Span<DecodeState* const> states,
                             absl::Span<const int32_t> tokens) {
  if (absl::Status s = SameLength(states, tokens); !s.ok()) return s;
  for (size_t i = 0; i < states.size(); ++i) {  // validate the whole batch first
    const DecodeState& s = *states[i];
    if (tokens[i] < 0 || tokens[i] >= s.engine().vocab().size()) {
      return FieldStatus(absl::StatusCode::kInvalidArgument, absl::StrCat("token_ids[", i, "]"),
                         absl::StrCat("token id ", tokens[i], " is outside the vocabulary [0, ",
                                      s.engine().vocab().size(), ")"));
    }
    if (!s.IsLegal(tokens[i])) {
      return FieldStatus(absl::StatusCode::kFailedPrecondition,
                         absl::StrCat("token_ids[", i, "]"), s.DescribeIllegal(tokens[i]));
    }
  }
  for (size_t i = 0; i < states.size(); ++i) states[i]->Apply(tokens[i]);
  return absl::OkStatus();
}

absl::Status Advance(absl::Span<DecodeState> states, absl::Span<const int32_t> tokens) {
  std::vector<DecodeState*> ptrs;
  ptrs.reserve(states.size());
  for (DecodeState& s : states) ptrs.push_back(&s);
  return Advance(absl::MakeConstSpan(ptrs), tokens);
}

absl::Status Rollback(DecodeState& state, int k) {
  if (k < 0 || k > state.num_tokens()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot roll back ", k, " tokens of ",
                                                   state.num_tokens()));
  }
  if (k == 0) return absl::OkStatus();
  constexpr int kInterval = DecodeState::kCheckpointInterval;
  const int target = state.num_tokens() - k;
  const int base = target / kInterval * kInterval;  // the nearest checkpoint at or before it
  // The tokens to replay after the checkpoint: fewer than kInterval.
  absl::InlinedVector<int32_t, kInterval> replay(state.tokens_.begin() + base,
                                                 state.tokens_.begin() + target);
  if (base == 0) {
    state.Reset(state.m_.start, state.root_arity_, state.max_len_);
  } else {
    state.RestoreCheckpoint(static_cast<size_t>(base / kInterval - 1));
  }
  for (int32_t token : replay) state.Apply(token);  // a prefix of a legal stream stays legal
  return absl::OkStatus();
}

absl::Status Rollback(absl::Span<DecodeState* const> states, absl::Span<const int> num_tokens) {
  if (states.size() != num_tokens.size()) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"num_tokens", "", " ",
                                  absl::StrCat("has ", num_tokens.size(), " entries for ",
                                               states.size(), " states")});
  }
  // A state named twice would be rolled back twice.
  absl::flat_hash_map<const DecodeState*, size_t> seen;
  for (size_t i = 0; i < states.size(); ++i) {  // validate everything before changing anything
    auto [it, fresh] = seen.emplace(states[i], i);
    if (!fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat("states[", it->second, "] and states[", i, "] are the same state"));
    }
    const int k = num_tokens[i];
    if (k < 0 || k > states[i]->num_tokens()) {
      return FieldStatus(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("num_tokens[", i, "]"),
                         absl::StrCat("cannot roll back ", k, " tokens of ",
                                      states[i]->num_tokens()));
    }
  }
  // A rollback whose count is in range cannot fail.
  for (size_t i = 0; i < states.size(); ++i) (void)Rollback(*states[i], num_tokens[i]);
  return absl::OkStatus();
}

std::vector<int32_t> TakeForcedTokens(DecodeState& state) {
  std::vector<int32_t> forced;
  absl::InlinedVector<uint32_t, 64> row(state.engine().words());
  while (!state.terminated()) {
    state.FillMask(row.data());
    int count = 0, last = -1;
    for (size_t w = 0; w < row.size() && count < 2; ++w) {
      count += std::popcount(row[w]);
      if (row[w]) last = static_cast<int>(w * 32) + std::countr_zero(row[w]);
    }
    if (count != 1) break;
    forced.push_back(last);
    (void)state.Advance(last);  // the mask's only token: legal by construction
  }
  return forced;
}

std::vector<int32_t> ForcedTokens(const DecodeState& state) {
  DecodeState probe = state;
  return TakeForcedTokens(probe);
}

}  // namespace astcd
