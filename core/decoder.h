// The constrained decoder: states, legal masks, advance, rollback, fork, forced tokens.
//
// A DecodeState is the preorder token stream decoded so far plus a compact stack of the
// nodes still open. Its legal mask is grammar FIRST set ∩ scope ∩ depth/size guards ∩
// budget, so every token it admits keeps the program completable within max_len.
//
// Checkpoints. Every kCheckpointInterval tokens a state keeps a copy of its stack (the
// decoder's whole state after that many tokens), so that Rollback restores the nearest
// checkpoint at or before its target and replays fewer than kCheckpointInterval tokens: O(k +
// kCheckpointInterval), not O(length). They cost a few bytes a token (ApproxBytes counts them).
#ifndef ASTCD_CORE_DECODER_H_
#define ASTCD_CORE_DECODER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/config.h"
#include "core/engine.h"

namespace astcd {

namespace internal {
struct DecoderAccess;  // core/decoder_impl.h
}  // namespace internal

struct InitRequest {
  Start start = Start::kModule;
  std::vector<int32_t> prefix_tokens;
  std::optional<int> arity;  // BLOCK and EXPR: parameters in scope (default: smallest arity)
  int max_len = 0;           // token budget, EOS included; 0 means kDefaultMaxLen
};

// What a sampler may want to know about the hole being filled.
struct HoleView {
  MaskContext context;
  int depth;      // expression depth of the hole, or control depth of a statement
  int max_depth;  // the config's limit for that depth
  int items;      // statements (or functions) already in the open sequence
  int slack;      // budget left beyond what the open holes need
};

// Which rule of the legal mask (docs/language.md, section 7.1) refuses a token.
enum class Refusal : uint8_t {
  kNone,          // the token is legal
  kVocabulary,    // the id is outside the vocabulary
  kGrammar,       // the token cannot fill this hole (after EOS: anything but PAD)
  kScope,         // a name that may be unbound, or an augmented assignment with none assigned
  kOutsideLoop,   // break or continue outside a for body
  kLoops,         // a loop token with config.allow_loops off
  kBlockSize,     // the block already holds max_block_stmts statements
  kFunctions,     // the module already holds max_functions functions
  kControlDepth,  // if/for at max_control_depth
  kExprDepth,     // an operator at max_expr_depth
  kLocals,        // a fresh name beyond max_locals
  kShape,         // a shape control (docs/language.md, section 4.1) refuses it
  kBudget,        // the program could no longer complete within max_len
};

class DecodeState {
 public:
  Start start() const { return m_.start; }
  int arity() const { return root_arity_; }  // BLOCK/EXPR root arity; -1 otherwise
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int num_tokens() const { return static_cast<int>(tokens_.size()); }
  int max_len() const { return max_len_; }
  int token_budget_remaining() const { return max_len_ - num_tokens(); }
  // The tokens so far form a whole program (for MODULE: at a function boundary).
  bool complete() const;
  // EOS has been accepted; only PAD is legal and it changes nothing.
  bool terminated() const { return m_.terminated; }
  const Engine& engine() const { return *engine_; }
  const std::shared_ptr<const Engine>& shared_engine() const { return engine_; }

  // Writes engine().words() words: token i is bit i%32 of word i/32.
  void FillMask(uint32_t* out) const;
  // The same, and *hole = hole_view() from the same pass over the stack (for a sampler);
  // a null hole is allowed.
  void FillMask(uint32_t* out, HoleView* hole) const;
  bool IsLegal(int32_t token) const;
  // Why `token` is not in the mask: the first rule that refuses it, in the order of the enum
  // (a rule no config can relax comes before a guard, a guard before the budget).
  Refusal WhyRefused(int32_t token) const;
  // Accepts one token. Out-of-vocabulary ids are InvalidArgument; tokens outside the mask
  // are FailedPrecondition. Either way the state is unchanged.
  absl::Status Advance(int32_t token);
  HoleView hole_view() const;

  // Lowers max_len (never raises it). FailedPrecondition if the open holes no longer fit.
  absl::Status LimitMaxLen(int max_len);

  // For tests: recomputes the pending completion cost from scratch and compares.
  bool CheckInvariants() const;
  // Fewest tokens (EOS included) that complete the program from here.
  // With shape controls: the length of the completion plan (docs/language.md, section 4.1).
  int min_tokens_to_complete() const { return m_.MinToComplete(); }

  // Bytes this state holds: itself, its token vector's capacity, its stack if it spilled to
  // the heap, and its checkpoints. Not the engine, which states share (Engine::ApproxBytes).
  int64_t ApproxBytes() const;
  // About the most ApproxBytes can reach as the state grows to max_len: what a memory budget
  // reserves for it. Checkpoints are counted at kMaxApproxCheckpointFrames frames (programs
  // within the default depth limits stay well under it).
  int64_t MaxApproxBytes() const;
  static constexpr int kMaxApproxCheckpointFrames = 24;

  // Tokens between two checkpoints (a power of two).
  static constexpr int kCheckpointInterval = 256;

 private:
  friend absl::StatusOr<DecodeState> InitState(std::shared_ptr<const Engine>, const InitRequest&);
  friend absl::Status Rollback(DecodeState& state, int k);
  friend absl::Status AdvanceDistinct(absl::Span<DecodeState* const> states,
                                      absl::Span<const int32_t> tokens);
  friend struct internal::DecoderAccess;

  // One open node. 8 bytes.
  struct Frame {
    NodeKind node;
    uint8_t next;   // nodes: first child not yet started; sequences: items started
    uint8_t depth;  // expression nodes: their depth; scope frames: control depth inside
    uint8_t flags;  // scope frames: kInLoop | kFallsThrough; if/else: the first branch's;
                    // operators: kHasName | kNeedsName | kLeftName (shape controls)
    uint32_t bits;  // scope frames: definitely-assigned names; =, op= and for: the target;
                    // if/else: the first branch's definitely-assigned names;
                    // an operator with kLeftName: the name its first operand is
  };
  static constexpr uint8_t kInLoop = 1, kFallsThrough = 2;
  static constexpr uint8_t kHasName = 4, kNeedsName = 8, kLeftName = 16;
  static constexpr size_t kInlineFrames = 12;

  struct Plan;  // the shape controls' completion plan, surveyed (core/decoder_shape.cc)

  // The decoder's state after its tokens, without them: what a checkpoint saves, and what the
  // shape controls' budget check advances on a scratch copy (core/decoder_shape.cc).
  // Transitions are in core/decoder_machine.cc.
  struct Machine {
    const Engine* engine = nullptr;
    Start start = Start::kModule;
    absl::InlinedVector<Frame, kInlineFrames> stack;
    int32_t pending = 0;      // fewest tokens that close every open node, EOS included
    int8_t scope_index = -1;  // innermost frame that carries a scope
    uint8_t arity = 0;        // parameters of the current function
    uint8_t introduced = 0;   // names bound so far in the current function (params first)
    bool terminated = false;
    uint32_t owed = 0;        // names owed a read (use_all_params, no_unused_locals)

    void Reset(Start root, int root_arity);
    bool complete() const;
    MaskContext Context(unsigned* conds, int* hole_cost, uint32_t* var_bits, int* depth) const;
    void Apply(int32_t token);  // precondition: legal
    void OpenNode(int32_t token, int depth);
    void Settle();
    void PushScope(Hole hole);
    void CloseTop();
    void Completed(const Frame& done);
    Frame& scope() { return stack[scope_index]; }
    const Frame& scope() const { return stack[scope_index]; }

    // Shape controls (core/decoder_shape.cc).
    // Clears the tokens a control refuses whatever the budget (section 4.1's rules).
    void FilterShape(MaskContext ctx, uint32_t var_bits, uint32_t* row) const;
    // Whether the hole of `frame`'s child `child` must read a name (no_constant_*).
    bool NeedsName(const Frame& frame, int child) const;
    // Tokens beyond `pending` that the controls' completion plan needs; kNoPlan if none can
    // complete this state.
    int Extra() const;
    // The plan's parts that the current statement's open holes do not change. Returns the
    // extra tokens outright (>= 0) where no survey is needed, else -1 with *plan, *holes (the
    // statement's open expression holes), *capacity (the names they can hold) and *now (the
    // owed names they can read) set.
    int Survey(Plan* plan, int* holes, int* capacity, uint32_t* now) const;
    int MinToComplete() const;  // pending + Extra(), or kNoPlan
  };
  static constexpr int kNoPlan = 1 << 28;

  // The decoder's state after a multiple of kCheckpointInterval tokens: the scalars, and
  // where its stack lies in checkpoint_frames_.
  struct Checkpoint {
    uint32_t first_frame;
    uint16_t num_frames;
    int8_t scope_index;
    uint8_t arity;
    int32_t pending;
    uint32_t owed;
    uint8_t introduced;
    bool terminated;
  };

  DecodeState() = default;
  void Reset(Start start, int arity, int max_len);
  void SaveCheckpoint();
  void RestoreCheckpoint(size_t index);
  void Apply(int32_t token);
  // Writes the mask; with shape controls, checks each candidate against the completion plan.
  void FillShapedMask(uint32_t* out) const;
  // The unshaped mask of a hole whose context Machine::Context gave.
  void FillFromContext(MaskContext ctx, unsigned conds, int hole_cost, uint32_t var_bits,
                       uint32_t* out) const;
  HoleView ViewOf(MaskContext ctx, int hole_cost, int depth) const;
  bool shaped() const { return engine_->shaped(); }
  // For a token that passes grammar, scope and guards: kShape if a control refuses it (or its
  // plan cannot complete), else kBudget.
  Refusal ShapeOrBudget(int32_t token) const;
  std::string DescribeIllegal(int32_t token) const;

  std::shared_ptr<const Engine> engine_;
  std::vector<int32_t> tokens_;
  Machine m_;
  int32_t max_len_ = 0;
  int8_t root_arity_ = -1;
  // checkpoints_[c] is the state after (c + 1) * kCheckpointInterval tokens.
  std::vector<Checkpoint> checkpoints_;
  std::vector<Frame> checkpoint_frames_;
};

// Batch API. A batch is all-or-nothing: on error no state changes, and the error's field
// (core/errors.h) names the batch index: requests[i], states[i], token_ids[i], num_tokens[i].
absl::StatusOr<DecodeState> InitState(std::shared_ptr<const Engine> engine,
                                      const InitRequest& request);
absl::StatusOr<std::vector<DecodeState>> InitStates(std::shared_ptr<const Engine> engine,
                                                    absl::Span<const InitRequest> requests);
// InvalidArgument naming states[i] unless every state has states[0]'s vocabulary.
absl::Status SameVocabulary(absl::Span<const DecodeState* const> states);
absl::Status SameVocabulary(absl::Span<const DecodeState> states);
// Fills a [batch, words] row-major bitmask. All states must share one vocabulary.
absl::Status LegalMasks(absl::Span<const DecodeState* const> states, absl::Span<int32_t> out);
absl::Status LegalMasks(absl::Span<const DecodeState> states, absl::Span<int32_t> out);
absl::Status Advance(absl::Span<DecodeState* const> states, absl::Span<const int32_t> tokens);
absl::Status Advance(absl::Span<DecodeState> states, absl::Span<const int32_t> tokens);
// Advance for states the caller knows to be distinct (the server's SessionStore::With refuses
// a session named twice), without checking that again; a state named twice is undefined.
absl::Status AdvanceDistinct(absl::Span<DecodeState* const> states,
                             absl::Span<const int32_t> tokens);
// Removes the last k tokens: restores the nearest checkpoint at or before the target and
// replays the rest, fewer than DecodeState::kCheckpointInterval tokens (O(k) plus that).
absl::Status Rollback(DecodeState& state, int k);
// Removes num_tokens[i] tokens from states[i], for every i or (on error) none. InvalidArgument
// naming num_tokens[i] for a count outside [0, tokens], or if a state is named twice.
absl::Status Rollback(absl::Span<DecodeState* const> states, absl::Span<const int> num_tokens);
// A copy that evolves independently.
inline DecodeState Fork(const DecodeState& state) { return state; }
// The chain of tokens that are forced (the mask has one bit) from this state on.
std::vector<int32_t> ForcedTokens(const DecodeState& state);
// Jump-forward: advances `state` through ForcedTokens(state) and returns that chain. It cannot
// fail, since each token is the only legal one where it stands.
std::vector<int32_t> TakeForcedTokens(DecodeState& state);
// What a step does with the forced chain (proto JumpForward, same numbers): off: nothing;
// report: return it, the state stays; apply: the state takes it (TakeForcedTokens).
#define ASTCD_JUMP_FORWARD(X) \
  X(kOff, "off")              \
  X(kReport, "report")        \
  X(kApply, "apply")
ASTCD_WIRE_ENUM(JumpForward, "jump_forward", ASTCD_JUMP_FORWARD)

}  // namespace astcd

#endif  // ASTCD_CORE_DECODER_H_
