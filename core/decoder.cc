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

// The branches a joining node's frame keeps apart: its body, then its orelse.
constexpr int kFirstBranch = FieldIndex(NodeKind::kIfElse, "body");
static_assert(kFirstBranch >= 0 && FieldIndex(NodeKind::kIfElse, "orelse") == kFirstBranch + 1);

uint32_t LowBits(int n) { return n >= 32 ? ~0u : (1u << n) - 1; }

}  // namespace

void DecodeState::Reset(Start start, int arity, int max_len) {
  const Engine& e = *engine_;
  tokens_.clear();
  stack_.clear();
  checkpoints_.clear();
  checkpoint_frames_.clear();
  start_ = start;
  max_len_ = max_len;
  terminated_ = false;
  scope_index_ = -1;
  root_arity_ = -1;
  arity_ = introduced_ = 0;
  switch (start) {
    case Start::kModule:
      stack_.push_back({NodeKind::kModule, 0, 0, 0, 0});
      pending_ = e.hole_cost(Hole::kFunc) + 1;  // one function and EOS
      return;
    case Start::kFunction:
      stack_.push_back({NodeKind::kFunctionRoot, 0, 0, 0, 0});
      pending_ = e.hole_cost(Hole::kFunc) + 1;
      return;
    case Start::kBlock:
    case Start::kExpr:
      root_arity_ = arity_ = introduced_ = static_cast<uint8_t>(arity);
      if (start == Start::kBlock) {
        stack_.push_back({NodeKind::kBody, 0, 0, kFallsThrough, LowBits(arity)});
        pending_ = e.hole_cost(Hole::kBody) + 1;
      } else {
        stack_.push_back({NodeKind::kExprRoot, 0, 0, 0, LowBits(arity)});
        pending_ = e.hole_cost(Hole::kExpr) + 1;
      }
      scope_index_ = 0;
      return;
  }
}

bool DecodeState::complete() const {
  if (stack_.empty()) return true;
  return stack_.size() == 1 && stack_[0].node == NodeKind::kModule && stack_[0].next > 0;
}

MaskContext DecodeState::Context(unsigned* conds, int* hole_cost, uint32_t* var_bits,
                                 int* depth) const {
  *conds = 0;
  *hole_cost = 0;
  *var_bits = 0;
  *depth = 0;
  if (terminated_) return MaskContext::kTerminated;
  if (stack_.empty()) return MaskContext::kComplete;
  const Engine& e = *engine_;
  const DecodeConfig& cfg = e.config();
  const Frame& top = stack_.back();
  if (top.node == NodeKind::kModule) {
    *conds = (top.next > 0 ? kCondSeqItem : 0u) | (top.next < cfg.max_functions ? kCondSeqRoom : 0u);
    *hole_cost = top.next == 0 ? e.hole_cost(Hole::kFunc) : 0;
    return MaskContext::kModule;
  }
  if (IsSequenceNode(top.node)) {
    const bool room = introduced_ < arity_ + cfg.max_locals;
    *conds = (top.next > 0 ? kCondSeqItem : 0u) |
             (top.next < cfg.max_block_stmts ? kCondSeqRoom : 0u) |
             ((top.flags & kInLoop) ? kCondInLoop : 0u) |
             (top.depth < cfg.max_control_depth ? kCondControlRoom : 0u) |
             ((introduced_ > 0 || room) ? kCondTarget : 0u) | (top.bits ? kCondAssigned : 0u);
    *hole_cost = top.next == 0 ? e.hole_cost(Hole::kStmt) : 0;
    *depth = top.depth;
    return MaskContext::kStmt;
  }
  const Hole hole = Spec(top.node).children[top.next];
  *hole_cost = e.hole_cost(hole);
  switch (hole) {
    case Hole::kFunc:
      return MaskContext::kFunc;
    case Hole::kTarget: {
      const bool room = introduced_ < arity_ + cfg.max_locals;
      *var_bits = LowBits(introduced_ + (room ? 1 : 0));
      return MaskContext::kTarget;
    }
    case Hole::kAugTarget:
      *var_bits = scope().bits;
      return MaskContext::kAugTarget;
    default:  // Hole::kExpr
      *depth = Spec(top.node).fills == Hole::kExpr ? top.depth + 1 : 1;
      *conds = *depth < cfg.max_expr_depth ? kCondExprRoom : 0u;
      *var_bits = scope().bits;
      return MaskContext::kExpr;
  }
}

void DecodeState::FillMask(uint32_t* out) const {
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = Context(&conds, &hole_cost, &var_bits, &depth);
  const Engine& e = *engine_;
  const int words = e.words();
  const uint32_t* base = e.base_mask(ctx, conds);
  const uint32_t* budget = e.budget_mask(token_budget_remaining() - pending_ + hole_cost);
  for (int w = 0; w < words; ++w) out[w] = base[w] & budget[w];
  if (var_bits != 0) {  // names cost one token, and slack >= 1 in every hole that takes them
    const int base_id = e.vocab().name_base();
    const uint64_t shifted = static_cast<uint64_t>(var_bits) << (base_id & 31);
    out[base_id >> 5] |= static_cast<uint32_t>(shifted);
    if ((shifted >> 32) != 0) out[(base_id >> 5) + 1] |= static_cast<uint32_t>(shifted >> 32);
  }
}

// One word of the mask, computed as FillMask computes it.
bool DecodeState::IsLegal(int32_t token) const {
  const Engine& e = *engine_;
  if (token < 0 || token >= e.vocab().size()) return false;
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  const MaskContext ctx = Context(&conds, &hole_cost, &var_bits, &depth);
  const int w = token >> 5;
  uint32_t word = e.base_mask(ctx, conds)[w] &
                  e.budget_mask(token_budget_remaining() - pending_ + hole_cost)[w];
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
  const MaskContext ctx = Context(&conds, &hole_cost, &var_bits, &depth);
  const TokenInfo& info = e.vocab().info(token);
  if (Spec(info.node).kind == TokenKind::kVariable) {
    if (ctx == MaskContext::kExpr || ctx == MaskContext::kAugTarget) return Refusal::kScope;
    const bool next_fresh = ctx == MaskContext::kTarget && info.value == introduced_;
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
  return Refusal::kBudget;  // every condition holds, so the subtree does not fit
}

HoleView DecodeState::hole_view() const {
  unsigned conds;
  int hole_cost, depth;
  uint32_t var_bits;
  HoleView view{};
  view.context = Context(&conds, &hole_cost, &var_bits, &depth);
  view.depth = depth;
  const DecodeConfig& cfg = engine_->config();
  view.max_depth = view.context == MaskContext::kExpr ? cfg.max_expr_depth : cfg.max_control_depth;
  view.items = stack_.empty() ? 0 : stack_.back().next;
  view.slack = token_budget_remaining() - pending_ + hole_cost;
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
  return absl::StrCat("token ", token, " '", v.info(token).name, "' is not legal after ",
                      num_tokens(), " tokens; legal: ", list);
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
  if (terminated_) return;  // PAD after EOS changes nothing
  // Grow within max_len, so that MaxApproxBytes bounds the vector (a legal token always fits).
  if (tokens_.size() == tokens_.capacity()) {
    tokens_.reserve(std::min<size_t>(max_len_, std::max<size_t>(16, 2 * tokens_.capacity())));
  }
  tokens_.push_back(token);
  ApplyAppended(token);
  if ((tokens_.size() & (kCheckpointInterval - 1)) == 0) SaveCheckpoint();
}

void DecodeState::SaveCheckpoint() {
  checkpoints_.push_back({static_cast<uint32_t>(checkpoint_frames_.size()),
                          static_cast<uint16_t>(stack_.size()), scope_index_, arity_, pending_,
                          introduced_, terminated_});
  checkpoint_frames_.insert(checkpoint_frames_.end(), stack_.begin(), stack_.end());
}

void DecodeState::RestoreCheckpoint(size_t index) {
  const Checkpoint& c = checkpoints_[index];
  const Frame* first = checkpoint_frames_.data() + c.first_frame;
  stack_.assign(first, first + c.num_frames);
  scope_index_ = c.scope_index;
  arity_ = c.arity;
  pending_ = c.pending;
  introduced_ = c.introduced;
  terminated_ = c.terminated;
  tokens_.resize((index + 1) * kCheckpointInterval);
  checkpoint_frames_.resize(c.first_frame + c.num_frames);
  checkpoints_.resize(index + 1);
}

int64_t DecodeState::ApproxBytes() const {
  int64_t bytes = sizeof(DecodeState);
  bytes += static_cast<int64_t>(tokens_.capacity() * sizeof(int32_t));
  if (stack_.capacity() > kInlineFrames) {
    bytes += static_cast<int64_t>(stack_.capacity() * sizeof(Frame));
  }
  bytes += static_cast<int64_t>(checkpoints_.capacity() * sizeof(Checkpoint));
  bytes += static_cast<int64_t>(checkpoint_frames_.capacity() * sizeof(Frame));
  return bytes;
}

int64_t DecodeState::MaxApproxBytes() const {
  const int64_t checkpoints = max_len_ / kCheckpointInterval;
  const int64_t frames = std::max<int64_t>(stack_.size(), kMaxApproxCheckpointFrames);
  const int64_t grown = sizeof(DecodeState) + int64_t{max_len_} * sizeof(int32_t) +
                        checkpoints * (sizeof(Checkpoint) + frames * sizeof(Frame));
  return std::max(grown, ApproxBytes());
}

// After `token` is appended to tokens_. Keeps pending_ equal to the fewest tokens that
// complete the program: filling a hole swaps its cost for the cost of the subtree the token
// opens.
void DecodeState::ApplyAppended(int32_t token) {
  if (stack_.empty()) {  // EOS after a complete root
    terminated_ = true;
    pending_ -= 1;
    return;
  }
  const Engine& e = *engine_;
  const TokenInfo& info = e.vocab().info(token);
  Frame& top = stack_.back();
  if (IsSequenceNode(top.node)) {
    if (info.node == Terminator(top.node)) {
      pending_ -= 1;
      CloseTop();
      if (stack_.empty() && start_ == Start::kModule) terminated_ = true;
      Settle();
      return;
    }
    const Hole item = Spec(top.node).children[0];
    if (top.next == 0) pending_ -= e.hole_cost(item);
    ++top.next;
    OpenNode(token, 0);
  } else {
    const Hole hole = Spec(top.node).children[top.next];
    pending_ -= e.hole_cost(hole);
    ++top.next;
    if (hole == Hole::kTarget) {
      top.bits = static_cast<uint32_t>(info.value);
      if (info.value == introduced_) ++introduced_;
    } else if (hole == Hole::kExpr) {
      const int depth = Spec(top.node).fills == Hole::kExpr ? top.depth + 1 : 1;
      OpenNode(token, depth);
    } else if (hole != Hole::kAugTarget) {
      OpenNode(token, 0);
    }
  }
  Settle();
}

void DecodeState::OpenNode(int32_t token, int depth) {
  const TokenInfo& info = engine_->vocab().info(token);
  const NodeKind node = info.node;
  const NodeSpec& spec = Spec(node);
  if (spec.num_children == 0) {
    Completed({node, 0, 0, 0, 0});
    return;
  }
  if (node == NodeKind::kDef) arity_ = introduced_ = static_cast<uint8_t>(info.value);
  pending_ += engine_->token_cost(token) - 1;
  stack_.push_back({node, 0, static_cast<uint8_t>(depth), 0, 0});
}

// Opens sequence children and closes finished nodes until the top frame awaits a token.
void DecodeState::Settle() {
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    if (IsSequenceNode(top.node)) return;
    const NodeSpec& spec = Spec(top.node);
    if (top.next < spec.num_children) {
      const Hole hole = spec.children[top.next];
      if (!IsSequence(hole)) return;
      ++top.next;  // the sequence frame now carries this hole's cost
      PushScope(hole);
      return;
    }
    CloseTop();
  }
}

void DecodeState::PushScope(Hole hole) {
  Frame frame{SequenceNode(hole), 0, 0, kFallsThrough, 0};
  if (hole == Hole::kBody) {
    frame.bits = LowBits(arity_);
  } else {
    const Frame& outer = scope();
    frame.bits = outer.bits;
    frame.depth = outer.depth + 1;
    frame.flags |= outer.flags & kInLoop;
    if (Spec(stack_.back().node).flow & kFlowBindsInBody) {
      frame.bits |= 1u << stack_.back().bits;  // the loop variable
    }
    if (hole == Hole::kLoopBody) frame.flags |= kInLoop;
  }
  stack_.push_back(frame);
  scope_index_ = static_cast<int8_t>(stack_.size() - 1);
}

// Pops the top frame and applies what its completion means to the frames below.
void DecodeState::CloseTop() {
  const Frame done = stack_.back();
  stack_.pop_back();
  if (IsScopeNode(done.node)) {
    scope_index_ = -1;
    for (int i = static_cast<int>(stack_.size()) - 1; i >= 0; --i) {
      if (IsScopeNode(stack_[i].node)) {
        scope_index_ = static_cast<int8_t>(i);
        break;
      }
    }
    if (!stack_.empty() && (Spec(stack_.back().node).flow & kFlowJoinsBranches)) {
      Frame& branch = stack_.back();
      const bool first_falls = branch.flags & kFallsThrough;
      const bool done_falls = done.flags & kFallsThrough;
      if (branch.next == kFirstBranch + 1) {  // the first branch: remember it for the join
        branch.bits = done.bits;
        branch.flags = done.flags & kFallsThrough;
      } else {  // the else branch: only branches that fall through reach the next statement
        branch.bits = first_falls && !done_falls   ? branch.bits
                      : done_falls && !first_falls ? done.bits
                                                   : branch.bits & done.bits;
        branch.flags = (first_falls || done_falls) ? kFallsThrough : 0;
      }
    }
    return;
  }
  Completed(done);
}

// What a finished node means to the scope it stands in (its row's flow bits).
void DecodeState::Completed(const Frame& done) {
  const uint8_t flow = Spec(done.node).flow;
  if (flow & kFlowBindsAfter) scope().bits |= 1u << done.bits;
  if (flow & kFlowJoinsBranches) {
    scope().bits = done.bits;
    if (!(done.flags & kFallsThrough)) scope().flags &= ~kFallsThrough;
  }
  if (flow & kFlowEndsPath) scope().flags &= ~kFallsThrough;
}

absl::Status DecodeState::LimitMaxLen(int max_len) {
  if (max_len >= max_len_) return absl::OkStatus();
  if (max_len - num_tokens() < pending_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a budget of ", max_len, " tokens cannot complete this state: it has ", num_tokens(),
        " tokens and needs at least ", pending_, " more"));
  }
  max_len_ = max_len;
  return absl::OkStatus();
}

bool DecodeState::CheckInvariants() const {
  const Engine& e = *engine_;
  int expected = 0;
  for (const Frame& f : stack_) {
    const NodeSpec& spec = Spec(f.node);
    if (IsSequenceNode(f.node)) {
      expected += (f.next == 0 ? e.hole_cost(spec.children[0]) : 0) + 1;
    } else {
      for (int i = f.next; i < spec.num_children; ++i) expected += e.hole_cost(spec.children[i]);
    }
  }
  if (!terminated_ && start_ != Start::kModule) expected += 1;  // EOS
  return expected == pending_ && pending_ <= token_budget_remaining() &&
         (scope_index_ < 0 || IsScopeNode(stack_[scope_index_].node));
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
  if (state.pending_ > max_len) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       FieldError{"max_len", "", " = ",
                                  absl::StrCat(max_len, " is below the shortest ",
                                               StartName(request.start), " program (",
                                               state.pending_, " tokens with EOS)")});
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
  if (states.size() != tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("token_ids has ", tokens.size(),
                                                   " entries for ", states.size(), " states"));
  }
  // A state named twice would be checked twice against its old self, then moved twice.
  absl::flat_hash_map<const DecodeState*, size_t> seen;
  for (size_t i = 0; i < states.size(); ++i) {
    auto [it, fresh] = seen.emplace(states[i], i);
    if (!fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat("states[", it->second, "] and states[", i, "] are the same state"));
    }
  }
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
    state.Reset(state.start_, state.root_arity_, state.max_len_);
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
