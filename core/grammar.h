// The AST-CD grammar, described once.
//
// Like CPython's Python.asdl, one table lists every node kind: its token, what hole it fills,
// its named child fields (in preorder), the scope and guard conditions under which it is
// legal, what it does to scope and control flow, how it prints, the CPython ast class it
// stands for, the operation the interpreter applies and the sampler's default weight. The
// vocabulary, the FIRST masks, the minimum completion costs, the decoder's scope rules, the
// printer, the S-expression dump, Tokenize's operator mapping, the interpreter's opcodes and
// the sampler's defaults all derive from this table; nothing else enumerates node kinds.
#ifndef ASTCD_CORE_GRAMMAR_H_
#define ASTCD_CORE_GRAMMAR_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/enum_names.h"

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
// pseudo: no token, a frame of the decoder (roots and blocks); never on the wire.
#define ASTCD_TOKEN_KIND(X)  \
  X(kPseudo, "pseudo")       \
  X(kSpecial, "special")     \
  X(kFunction, "function")   \
  X(kStatement, "statement") \
  X(kBlockEnd, "block_end")  \
  X(kOperator, "operator")   \
  X(kVariable, "variable")   \
  X(kConstant, "constant")
ASTCD_WIRE_ENUM(TokenKind, "token kind", ASTCD_TOKEN_KIND)

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

// What a node does to the names and paths around it (NodeSpec::flow). The decoder's scope
// rules (docs/language.md, section 7.1) read these bits; nothing lists the kinds by hand.
inline constexpr unsigned kFlowOpensScope = 1u << 0;     // a frame of definitely-assigned names
inline constexpr unsigned kFlowBindsAfter = 1u << 1;     // its target is assigned once it ends (=, op=)
inline constexpr unsigned kFlowBindsInBody = 1u << 2;    // its target is assigned in its body only
inline constexpr unsigned kFlowEndsPath = 1u << 3;       // control never reaches the next statement
inline constexpr unsigned kFlowJoinsBranches = 1u << 4;  // after it: what every falling-through
                                                         // branch assigned (if/else)
inline constexpr unsigned kFlowSelfTrivial = 1u << 5;    // a name against itself is trivial
                                                         // (x - x, x = x): no_trivial_self_ops

// Every node kind. Columns: enum name, token ("" for pseudo-nodes; families get a suffix),
// token kind, hole filled, syntax, CPython class, CPython operator, source text, precedence
// (Python's, higher binds tighter), conditions, flow, default sampler weight (for the family
// and special rows, the weight of their token kind), operator (the node kind whose operation
// the interpreter applies to the evaluated operands: its own for an operator that evaluates
// every operand first, the binary operator of an augmented assignment, kNone otherwise), then
// the child fields in preorder, each a hole and a name as in CPython's Python.asdl
// (`If(expr test, stmt* body, stmt* orelse)`). Order here is vocabulary order.
#define ASTCD_GRAMMAR(X)                                                                         \
  X(kPad, "<pad>", kSpecial, kNone, kNone, "", "", "", 0, 0, 0, 1, kNone)                        \
  X(kEos, "<eos>", kSpecial, kNone, kNone, "", "", "", 0, 0, 0, 1, kNone)                        \
  X(kDef, "def", kFunction, kFunc, kDef, "FunctionDef", "", "def", 0, kCondSeqRoom, 0, 1, kNone, \
    body("body"))                                                                                \
  X(kAssign, "=", kStatement, kStmt, kAssign, "Assign", "", "=", 0, kCondSeqRoom | kCondTarget,  \
    kFlowBindsAfter | kFlowSelfTrivial, 4, kNone,                                                \
    target("targets"), expr("value"))                                                            \
  X(kAddAssign, "+=", kStatement, kStmt, kAugAssign, "AugAssign", "Add", "+=", 0,                \
    kCondSeqRoom | kCondAssigned, kFlowBindsAfter, 0.4, kAdd,                                    \
    aug_target("target"), expr("value"))                                                         \
  X(kSubAssign, "-=", kStatement, kStmt, kAugAssign, "AugAssign", "Sub", "-=", 0,                \
    kCondSeqRoom | kCondAssigned, kFlowBindsAfter | kFlowSelfTrivial, 0.4, kSub,                 \
    aug_target("target"), expr("value"))                                                         \
  X(kMulAssign, "*=", kStatement, kStmt, kAugAssign, "AugAssign", "Mult", "*=", 0,               \
    kCondSeqRoom | kCondAssigned, kFlowBindsAfter, 0.3, kMul,                                    \
    aug_target("target"), expr("value"))                                                         \
  X(kFloorDivAssign, "//=", kStatement, kStmt, kAugAssign, "AugAssign", "FloorDiv", "//=", 0,    \
    kCondSeqRoom | kCondAssigned, kFlowBindsAfter | kFlowSelfTrivial, 0.2, kFloorDiv,            \
    aug_target("target"), expr("value"))                                                         \
  X(kModAssign, "%=", kStatement, kStmt, kAugAssign, "AugAssign", "Mod", "%=", 0,                \
    kCondSeqRoom | kCondAssigned, kFlowBindsAfter | kFlowSelfTrivial, 0.2, kMod,                 \
    aug_target("target"), expr("value"))                                                         \
  X(kIf, "if", kStatement, kStmt, kIf, "If", "", "if", 0, kCondSeqRoom | kCondControlRoom, 0,    \
    1, kNone,                                                                                    \
    expr("test"), block("body"))                                                                 \
  X(kIfElse, "if/else", kStatement, kStmt, kIf, "If", "", "if", 0,                               \
    kCondSeqRoom | kCondControlRoom, kFlowJoinsBranches, 0.8, kNone,                             \
    expr("test"), block("body"), block("orelse"))                                                \
  X(kFor1, "for/1", kStatement, kStmt, kFor, "For", "", "for", 0,                                \
    kCondSeqRoom | kCondControlRoom | kCondTarget | kCondLoops, kFlowBindsInBody, 0.8, kNone,    \
    target("target"), expr("iter"), loop_body("body"))                                           \
  X(kFor2, "for/2", kStatement, kStmt, kFor, "For", "", "for", 0,                                \
    kCondSeqRoom | kCondControlRoom | kCondTarget | kCondLoops, kFlowBindsInBody, 0.5, kNone,    \
    target("target"), expr("iter"), expr("iter"), loop_body("body"))                             \
  X(kReturn, "return", kStatement, kStmt, kReturn, "Return", "", "return", 0, kCondSeqRoom,      \
    kFlowEndsPath, 2, kNone,                                                                     \
    expr("value"))                                                                               \
  X(kReturnNone, "return/0", kStatement, kStmt, kReturn, "Return", "", "return", 0,              \
    kCondSeqRoom, kFlowEndsPath, 0.1, kNone)                                                     \
  X(kPass, "pass", kStatement, kStmt, kKeyword, "Pass", "", "pass", 0, kCondSeqRoom, 0, 0.1,     \
    kNone)                                                                                       \
  X(kBreak, "break", kStatement, kStmt, kKeyword, "Break", "", "break", 0,                       \
    kCondSeqRoom | kCondInLoop | kCondLoops, kFlowEndsPath, 0.3, kNone)                          \
  X(kContinue, "continue", kStatement, kStmt, kKeyword, "Continue", "", "continue", 0,           \
    kCondSeqRoom | kCondInLoop | kCondLoops, kFlowEndsPath, 0.2, kNone)                          \
  X(kEnd, "end", kBlockEnd, kNone, kNone, "", "", "", 0, kCondSeqItem, 0, 1, kNone)              \
  X(kAdd, "+", kOperator, kExpr, kBinary, "BinOp", "Add", "+", 10, kCondExprRoom, 0, 1, kAdd,    \
    expr("left"), expr("right"))                                                                 \
  X(kSub, "-", kOperator, kExpr, kBinary, "BinOp", "Sub", "-", 10, kCondExprRoom,                \
    kFlowSelfTrivial, 1, kSub,                                                                   \
    expr("left"), expr("right"))                                                                 \
  X(kMul, "*", kOperator, kExpr, kBinary, "BinOp", "Mult", "*", 11, kCondExprRoom, 0, 1, kMul,   \
    expr("left"), expr("right"))                                                                 \
  X(kFloorDiv, "//", kOperator, kExpr, kBinary, "BinOp", "FloorDiv", "//", 11, kCondExprRoom,    \
    kFlowSelfTrivial, 0.3, kFloorDiv,                                                            \
    expr("left"), expr("right"))                                                                 \
  X(kMod, "%", kOperator, kExpr, kBinary, "BinOp", "Mod", "%", 11, kCondExprRoom,                \
    kFlowSelfTrivial, 0.3, kMod,                                                                 \
    expr("left"), expr("right"))                                                                 \
  X(kLt, "<", kOperator, kExpr, kCompare, "Compare", "Lt", "<", 5, kCondExprRoom,                \
    kFlowSelfTrivial, 0.4, kLt,                                                                  \
    expr("left"), expr("comparators"))                                                           \
  X(kLtE, "<=", kOperator, kExpr, kCompare, "Compare", "LtE", "<=", 5, kCondExprRoom,            \
    kFlowSelfTrivial, 0.4, kLtE,                                                                 \
    expr("left"), expr("comparators"))                                                           \
  X(kEq, "==", kOperator, kExpr, kCompare, "Compare", "Eq", "==", 5, kCondExprRoom,              \
    kFlowSelfTrivial, 0.4, kEq,                                                                  \
    expr("left"), expr("comparators"))                                                           \
  X(kNotEq, "!=", kOperator, kExpr, kCompare, "Compare", "NotEq", "!=", 5, kCondExprRoom,        \
    kFlowSelfTrivial, 0.4, kNotEq,                                                               \
    expr("left"), expr("comparators"))                                                           \
  X(kGt, ">", kOperator, kExpr, kCompare, "Compare", "Gt", ">", 5, kCondExprRoom,                \
    kFlowSelfTrivial, 0.4, kGt,                                                                  \
    expr("left"), expr("comparators"))                                                           \
  X(kGtE, ">=", kOperator, kExpr, kCompare, "Compare", "GtE", ">=", 5, kCondExprRoom,            \
    kFlowSelfTrivial, 0.4, kGtE,                                                                 \
    expr("left"), expr("comparators"))                                                           \
  X(kAnd, "and", kOperator, kExpr, kBoolOp, "BoolOp", "And", "and", 3, kCondExprRoom,            \
    kFlowSelfTrivial, 0.3, kNone,                                                                \
    expr("values"), expr("values"))                                                              \
  X(kOr, "or", kOperator, kExpr, kBoolOp, "BoolOp", "Or", "or", 2, kCondExprRoom,                \
    kFlowSelfTrivial, 0.3, kNone,                                                                \
    expr("values"), expr("values"))                                                              \
  X(kNeg, "neg", kOperator, kExpr, kUnary, "UnaryOp", "USub", "-", 12, kCondExprRoom, 0, 0.2,    \
    kNeg,                                                                                        \
    expr("operand"))                                                                             \
  X(kNot, "not", kOperator, kExpr, kUnary, "UnaryOp", "Not", "not ", 4, kCondExprRoom, 0, 0.2,   \
    kNot,                                                                                        \
    expr("operand"))                                                                             \
  X(kIfExp, "ifexp", kOperator, kExpr, kIfExp, "IfExp", "", "", 1, kCondExprRoom, 0, 0.3, kNone, \
    expr("test"), expr("body"), expr("orelse"))                                                  \
  X(kAbs, "abs", kOperator, kExpr, kCall, "Call", "", "abs", 20, kCondExprRoom, 0, 0.2, kAbs,    \
    expr("args"))                                                                                \
  X(kMin, "min", kOperator, kExpr, kCall, "Call", "", "min", 20, kCondExprRoom, 0, 0.3, kMin,    \
    expr("args"), expr("args"))                                                                  \
  X(kMax, "max", kOperator, kExpr, kCall, "Call", "", "max", 20, kCondExprRoom, 0, 0.3, kMax,    \
    expr("args"), expr("args"))                                                                  \
  X(kName, "", kVariable, kExpr, kName, "Name", "", "", 20, 0, 0, 6, kNone)                      \
  X(kConst, "", kConstant, kExpr, kConst, "Constant", "", "", 20, 0, 0, 3, kNone)                \
  X(kModule, "", kPseudo, kNone, kModule, "Module", "", "", 0, 0, 0, 0, kNone, func("body"))     \
  X(kFunctionRoot, "", kPseudo, kNone, kNone, "", "", "", 0, 0, 0, 0, kNone, func("root"))       \
  X(kExprRoot, "", kPseudo, kNone, kNone, "", "", "", 0, 0, kFlowOpensScope, 0, kNone,           \
    expr("root"))                                                                                \
  X(kBody, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, kFlowOpensScope, 0, kNone,           \
    stmt("items"))                                                                               \
  X(kBlock, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, kFlowOpensScope, 0, kNone,          \
    stmt("items"))                                                                               \
  X(kLoopBody, "", kPseudo, kNone, kSequence, "", "", "", 0, 0, kFlowOpensScope, 0, kNone,       \
    stmt("items"))

enum class NodeKind : uint8_t {
#define ASTCD_ENUM(name, ...) name,
  ASTCD_GRAMMAR(ASTCD_ENUM)
#undef ASTCD_ENUM
      kNumKinds,
  kNone = kNumKinds,  // the operator column of a row that applies none
};
inline constexpr int kNumNodeKinds = static_cast<int>(NodeKind::kNumKinds);

// A child of a node: the hole it fills and its field name.
struct Field {
  Hole hole;
  absl::string_view name;
};

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
  uint8_t flow;                // kFlow* bits
  double weight;               // the weighted sampler's default
  NodeKind op;                 // the operation the interpreter applies, or kNone
  std::array<Hole, 4> children;
  std::array<absl::string_view, 4> fields;  // the children's names
  int num_children;
};

namespace grammar_internal {
// The field constructors the table's rows are written with, named like ASDL's types.
constexpr Field func(absl::string_view name) { return {Hole::kFunc, name}; }
constexpr Field stmt(absl::string_view name) { return {Hole::kStmt, name}; }
constexpr Field expr(absl::string_view name) { return {Hole::kExpr, name}; }
constexpr Field target(absl::string_view name) { return {Hole::kTarget, name}; }
constexpr Field aug_target(absl::string_view name) { return {Hole::kAugTarget, name}; }
constexpr Field body(absl::string_view name) { return {Hole::kBody, name}; }
constexpr Field block(absl::string_view name) { return {Hole::kBlock, name}; }
constexpr Field loop_body(absl::string_view name) { return {Hole::kLoopBody, name}; }

template <typename... F>
constexpr NodeSpec MakeSpec(NodeKind node, absl::string_view token, TokenKind kind, Hole fills,
                            Syntax syntax, absl::string_view py_class, absl::string_view py_op,
                            absl::string_view text, int prec, uint16_t conds, uint8_t flow,
                            double weight, NodeKind op, F... fields) {
  return NodeSpec{node, token, kind, fills, syntax, py_class, py_op, text, prec, conds, flow,
                  weight, op, std::array<Hole, 4>{fields.hole...},
                  std::array<absl::string_view, 4>{fields.name...},
                  static_cast<int>(sizeof...(fields))};
}

constexpr std::array<NodeSpec, kNumNodeKinds> MakeGrammar() {
  return {
#define ASTCD_SPEC(name, token, kind, fills, syntax, py_class, py_op, text, prec, conds, flow,   \
                   weight, op, ...)                                                             \
  MakeSpec(NodeKind::name, token, TokenKind::kind, Hole::fills, Syntax::syntax, py_class, py_op, \
           text, prec, static_cast<uint16_t>(conds), static_cast<uint8_t>(flow), weight,         \
           NodeKind::op __VA_OPT__(, ) __VA_ARGS__),
      ASTCD_GRAMMAR(ASTCD_SPEC)
#undef ASTCD_SPEC
  };
}
}  // namespace grammar_internal

inline constexpr std::array<NodeSpec, kNumNodeKinds> kGrammar = grammar_internal::MakeGrammar();

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

// The index of `kind`'s child field `name`; -1 if it has none. Evaluated at compile time
// where code names a field (static_assert it is found).
constexpr int FieldIndex(NodeKind kind, absl::string_view name) {
  for (int i = 0; i < Spec(kind).num_children; ++i) {
    if (Spec(kind).fields[i] == name) return i;
  }
  return -1;
}

// The builtin a for loop iterates over; the language keeps it and the called builtins (the
// kCall rows' text) from being bound.
inline constexpr absl::string_view kLoopIterable = "range";
constexpr bool IsBuiltinName(absl::string_view name) {
  if (name == kLoopIterable) return true;
  for (const NodeSpec& spec : kGrammar) {
    if (spec.syntax == Syntax::kCall && spec.text == name) return true;
  }
  return false;
}

inline absl::string_view TokenKindName(TokenKind kind) { return EnumName(kind); }
absl::string_view HoleName(Hole hole);  // "<expr>", "<stmt>", ... as shown in partial sources

}  // namespace astcd

#endif  // ASTCD_CORE_GRAMMAR_H_
