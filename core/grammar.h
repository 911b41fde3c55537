// The AST-CD grammar, described once.
//
// Like CPython's Python.asdl, one table lists every node kind: its token, what hole it fills,
// the holes of its children (in preorder), the scope and guard conditions under which it is
// legal, how it prints, and the CPython ast class it stands for. The vocabulary, the FIRST
// masks, the minimum completion costs, the printer and the S-expression dump all derive from
// this table; nothing else enumerates node kinds.
#ifndef ASTCD_CORE_GRAMMAR_H_
#define ASTCD_CORE_GRAMMAR_H_

#include <array>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace astcd {

// A hole is a position in the tree waiting to be filled. Sequence holes (kBody, kBlock,
// kLoopBody) are filled by a run of statements closed by `end`; the others by one token.
enum class Hole : uint8_t {
  kNone,
  kFunc,       // a function definition
  kStmt,       // one statement inside a block
  kExpr,       // an expression that reads only definitely-assigned names
  kTarget,     // an assignment target: an already-introduced name or the next fresh one
  kAugTarget,  // an augmented-assignment target: a definitely-assigned name
  kBody,       // a function body
  kBlock,      // an if/else branch (one control level deeper)
  kLoopBody,   // a for body (one control level deeper; break/continue legal; loop var bound)
};

// What a token means to a reader of the vocabulary (the "kind" in `astcd vocab`).
enum class TokenKind : uint8_t {
  kPseudo,  // no token: a frame of the decoder (roots and blocks)
  kSpecial, kFunction, kStatement, kBlockEnd, kOperator, kVariable, kConstant,
};

// How the printer renders a node.
enum class Syntax : uint8_t {
  kNone, kModule, kSequence, kDef, kAssign, kAugAssign, kIf, kFor, kReturn, kKeyword,
  kBinary, kCompare, kBoolOp, kUnary, kIfExp, kCall, kName, kConst,
};

// Conditions a token needs in the current state (NodeSpec::conds). A token is legal only
// when all of its conditions hold.
inline constexpr unsigned kCondSeqItem = 1u << 0;      // the sequence already has an item
inline constexpr unsigned kCondSeqRoom = 1u << 1;      // the sequence has room for another
inline constexpr unsigned kCondInLoop = 1u << 2;       // inside a for body of this function
inline constexpr unsigned kCondControlRoom = 1u << 3;  // control depth < max_control_depth
inline constexpr unsigned kCondTarget = 1u << 4;       // some name can be assigned
inline constexpr unsigned kCondAssigned = 1u << 5;     // some name is definitely assigned
inline constexpr unsigned kCondExprRoom = 1u << 6;     // expression depth < max_expr_depth
inline constexpr int kNumConds = 7;                    // the conditions that vary per state
inline constexpr unsigned kCondLoops = 1u << 7;        // config.allow_loops (fixed per engine)

// Every node kind. Columns: enum name, token ("" for pseudo-nodes; families get a suffix),
// token kind, hole filled, syntax, CPython class, CPython operator, source text, precedence
// (Python's, higher binds tighter), conditions, child holes in preorder.
// Order here is vocabulary order.
#define ASTCD_GRAMMAR(X)                                                                      \
  X(kPad, "<pad>", kSpecial, kNone, kNone, "", "", "", 0, 0)                                  \
  X(kEos, "<eos>", kSpecial, kNone, kNone, "", "", "", 0, 0)                                  \
  X(kDef, "def", kFunction, kFunc, kDef, "FunctionDef", "", "def", 0, kCondSeqRoom, Hole::kBody) \
  X(kAssign, "=", kStatement, kStmt, kAssign, "Assign", "", "=", 0,                           \
    kCondSeqRoom | kCondTarget, Hole::kTarget, Hole::kExpr)                                   \
  X(kAddAssign, "+=", kStatement, kStmt, kAugAssign, "AugAssign", "Add", "+=", 0,             \
    kCondSeqRoom | kCondAssigned, Hole::kAugTarget, Hole::kExpr)                              \
  X(kSubAssign, "-=", kStatement, kStmt, kAugAssign, "AugAssign", "Sub", "-=", 0,             \
    kCondSeqRoom | kCondAssigned, Hole::kAugTarget, Hole::kExpr)                              \
  X(kMulAssign, "*=", kStatement, kStmt, kAugAssign, "AugAssign", "Mult", "*=", 0,            \
    kCondSeqRoom | kCondAssigned, Hole::kAugTarget, Hole::kExpr)                              \
  X(kFloorDivAssign, "//=", kStatement, kStmt, kAugAssign, "AugAssign", "FloorDiv", "//=", 0, \
    kCondSeqRoom | kCondAssigned, Hole::kAugTarget, Hole::kExpr)                              \
  X(kModAssign, "%=", kStatement, kStmt, kAugAssign, "AugAssign", "Mod", "%=", 0,             \
    kCondSeqRoom | kCondAssigned, Hole::kAugTarget, Hole::kExpr)                              \
  X(kIf, "if", kStatement, kStmt, kIf, "If", "", "if", 0, kCondSeqRoom | kCondControlRoom,    \
    Hole::kExpr, Hole::kBlock)                                                                \
  X(kIfElse, "if/else", kStatement, kStmt, kIf, "If", "", "if", 0,                            \
    kCondSeqRoom | kCondControlRoom, Hole::kExpr, Hole::kBlock, Hole::kBlock)                 \
  X(kFor1, "for/1", kStatement, kStmt, kFor, "For", "", "for", 0,                             \
    kCondSeqRoom | kCondControlRoom | kCondTarget | kCondLoops, Hole::kTarget, Hole::kExpr,   \
    Hole::kLoopBody)                                                                          \
  X(kFor2, "for/2", kStatement, kStmt, kFor, "For", "", "for", 0,                             \
    kCondSeqRoom | kCondControlRoom | kCondTarget | kCondLoops, Hole::kTarget, Hole::kExpr,   \
    Hole::kExpr, Hole::kLoopBody)                                                             \
  X(kReturn, "return", kStatement, kStmt, kReturn, "Return", "", "return", 0, kCondSeqRoom,   \
    Hole::kExpr)                                                                              \
  X(kReturnNone, "return/0", kStatement, kStmt, kReturn, "Return", "", "return", 0,           \
    kCondSeqRoom)                                                                             \
  X(kPass, "pass", kStatement, kStmt, kKeyword, "Pass", "", "pass", 0, kCondSeqRoom)          \
  X(kBreak, "break", kStatement, kStmt, kKeyword, "Break", "", "break", 0,                    \
    kCondSeqRoom | kCondInLoop | kCondLoops)                                                  \
  X(kContinue, "continue", kStatement, kStmt, kKeyword, "Continue", "", "continue", 0,        \
    kCondSeqRoom | kCondInLoop | kCondLoops)                                                  \
  X(kEnd, "end", kBlockEnd, kNone, kNone, "", "", "", 0, kCondSeqItem)                        \
  X(kAdd, "+", kOperator, kExpr, kBinary, "BinOp", "Add", "+", 10, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kSub, "-", kOperator, kExpr, kBinary, "BinOp", "Sub", "-", 10, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kMul, "*", kOperator, kExpr, kBinary, "BinOp", "Mult", "*", 11, kCondExprRoom,            \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kFloorDiv, "//", kOperator, kExpr, kBinary, "BinOp", "FloorDiv", "//", 11, kCondExprRoom, \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kMod, "%", kOperator, kExpr, kBinary, "BinOp", "Mod", "%", 11, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kLt, "<", kOperator, kExpr, kCompare, "Compare", "Lt", "<", 5, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kLtE, "<=", kOperator, kExpr, kCompare, "Compare", "LtE", "<=", 5, kCondExprRoom,         \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kEq, "==", kOperator, kExpr, kCompare, "Compare", "Eq", "==", 5, kCondExprRoom,           \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kNotEq, "!=", kOperator, kExpr, kCompare, "Compare", "NotEq", "!=", 5, kCondExprRoom,     \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kGt, ">", kOperator, kExpr, kCompare, "Compare", "Gt", ">", 5, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kGtE, ">=", kOperator, kExpr, kCompare, "Compare", "GtE", ">=", 5, kCondExprRoom,         \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kAnd, "and", kOperator, kExpr, kBoolOp, "BoolOp", "And", "and", 3, kCondExprRoom,         \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kOr, "or", kOperator, kExpr, kBoolOp, "BoolOp", "Or", "or", 2, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kNeg, "neg", kOperator, kExpr, kUnary, "UnaryOp", "USub", "-", 12, kCondExprRoom,         \
    Hole::kExpr)                                                                              \
  X(kNot, "not", kOperator, kExpr, kUnary, "UnaryOp", "Not", "not ", 4, kCondExprRoom,        \
    Hole::kExpr)                                                                              \
  X(kIfExp, "ifexp", kOperator, kExpr, kIfExp, "IfExp", "", "", 1, kCondExprRoom,             \
    Hole::kExpr, Hole::kExpr, Hole::kExpr)                                                    \
  X(kAbs, "abs", kOperator, kExpr, kCall, "Call", "", "abs", 20, kCondExprRoom, Hole::kExpr)  \
  X(kMin, "min", kOperator, kExpr, kCall, "Call", "", "min", 20, kCondExprRoom,               \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kMax, "max", kOperator, kExpr, kCall, "Call", "", "max", 20, kCondExprRoom,               \
    Hole::kExpr, Hole::kExpr)                                                                 \
  X(kName, "", kVariable, kExpr, kName, "Name", "", "", 20, 0)                                \
  X(kConst, "", kConstant, kExpr, kConst, "Constant", "", "", 20, 0)                          \
  X(kModule, "", kPseudo, kNone, kModule, "Module", "", "", 0, 0, Hole::kFunc)                \
  X(kFunctionRoot, "", kPseudo, kNone, kNone, "", "", "", 0, 0, Hole::kFunc)                  \
  X(kExprRoot, "", kPseudo, kNone, kNone, "", "", "", 0, 0, Hole::kExpr)                      \
  X(kBody, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, Hole::kStmt)                      \
  X(kBlock, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, Hole::kStmt)                     \
  X(kLoopBody, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, Hole::kStmt)

enum class NodeKind : uint8_t {
#define ASTCD_ENUM(name, ...) name,
  ASTCD_GRAMMAR(ASTCD_ENUM)
#undef ASTCD_ENUM
      kNumKinds
};
inline constexpr int kNumNodeKinds = static_cast<int>(NodeKind::kNumKinds);

struct NodeSpec {
  NodeKind node;
  absl::string_view token;     // token name; families (def, Name, Const) expand in the vocabulary
  TokenKind kind;
  Hole fills;                 // the hole this token fills
  Syntax syntax;
  absl::string_view py_class;  // CPython ast class
  absl::string_view py_op;     // CPython operator class (Add, Lt, And, USub, ...)
  absl::string_view text;      // source text of the keyword, operator or builtin
  int precedence;
  uint16_t conds;
  std::array<Hole, 4> children;
  int num_children;
};

namespace grammar_internal {
template <typename... H>
constexpr NodeSpec MakeSpec(NodeKind node, absl::string_view token, TokenKind kind, Hole fills,
                            Syntax syntax, absl::string_view py_class, absl::string_view py_op,
                            absl::string_view text, int prec, uint16_t conds, H... children) {
  return NodeSpec{node,  token, kind, fills, syntax, py_class, py_op, text, prec, conds,
                  std::array<Hole, 4>{children...}, static_cast<int>(sizeof...(children))};
}
}  // namespace grammar_internal

inline constexpr std::array<NodeSpec, kNumNodeKinds> kGrammar = {
#define ASTCD_SPEC(name, token, kind, fills, syntax, py_class, py_op, text, prec, conds, ...) \
  grammar_internal::MakeSpec(NodeKind::name, token, TokenKind::kind, Hole::fills,            \
                             Syntax::syntax, py_class, py_op, text, prec,                    \
                             static_cast<uint16_t>(conds) __VA_OPT__(, ) __VA_ARGS__),
    ASTCD_GRAMMAR(ASTCD_SPEC)
#undef ASTCD_SPEC
};

inline constexpr const NodeSpec& Spec(NodeKind kind) { return kGrammar[static_cast<int>(kind)]; }

// Sequence holes open a pseudo-node frame of the same name; the rest are filled by a token.
constexpr bool IsSequence(Hole h) {
  return h == Hole::kBody || h == Hole::kBlock || h == Hole::kLoopBody;
}
constexpr NodeKind SequenceNode(Hole h) {
  return h == Hole::kBody ? NodeKind::kBody
                          : (h == Hole::kBlock ? NodeKind::kBlock : NodeKind::kLoopBody);
}
// The token that closes a sequence frame: `end` for blocks, EOS for a module.
constexpr NodeKind Terminator(NodeKind seq) {
  return seq == NodeKind::kModule ? NodeKind::kEos : NodeKind::kEnd;
}
constexpr bool IsSequenceNode(NodeKind k) {
  return k == NodeKind::kModule || Spec(k).syntax == Syntax::kSequence;
}

absl::string_view TokenKindName(TokenKind kind);
absl::string_view HoleName(Hole hole);  // "<expr>", "<stmt>", ... as shown in partial sources

}  // namespace astcd

#endif  // ASTCD_CORE_GRAMMAR_H_
