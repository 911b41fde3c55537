// A parse tree of real Python source, shaped like CPython's `ast` module: Tokenize's second
// stage. Every node carries its CPython class name, so what falls outside AST-CD can be named
// exactly ("Import", "Call", "Constant[str]", ...).
#ifndef ASTCD_CORE_PY_AST_H_
#define ASTCD_CORE_PY_AST_H_

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/block_arena.h"
#include "core/config.h"

namespace astcd {

// Field conventions (the parts the normalizer reads; other node types fill kids with their
// sub-expressions in CPython's field order, best effort):
//   Module            body
//   FunctionDef       name; kids = {arguments}; body; extra = decorators ("FunctionDef.decorator_list"),
//   AsyncFunctionDef    return annotation ("FunctionDef.returns")
//   arguments         kids = the plain positional parameters (type "arg", name); extra = one node
//                     per other feature, typed "arguments.posonlyargs", "arguments.vararg",
//                     "arguments.kwonlyargs", "arguments.kwarg", "arguments.defaults" or
//                     "arg.annotation", at its position
//   Assign            kids = targets..., value (the value is last)
//   AugAssign         op; kids = {target, value}
//   AnnAssign         kids = {target, annotation[, value]}
//   If, While         kids = {test}; body; orelse (an elif is an If alone in orelse)
//   For, AsyncFor     kids = {target, iter}; body; orelse
//   Return            kids = {} or {value}
//   Expr              kids = {value}
//   Pass Break Continue (no fields)
//   BinOp             op ("Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow", "LShift", "RShift",
//                     "BitOr", "BitXor", "BitAnd", "MatMult"); kids = {left, right}
//   UnaryOp           op ("UAdd", "USub", "Not", "Invert"); kids = {operand}
//   BoolOp            op ("And", "Or"); kids = values (flattened as CPython does)
//   Compare           ops ("Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn");
//                     kids = {left, comparators...}
//   IfExp             kids = {test, body, orelse}
//   Call              kids = {func, args...} (a *arg is a Starred node); extra = keywords ("keyword",
//                     name empty for **kwargs)
//   Name              name
//   Constant          op = the value's type: "int", "float", "complex", "str", "bytes", "bool",
//                     "NoneType", "ellipsis"; text = the literal's source text (all adjacent
//                     string literals for a str/bytes)
//   JoinedStr         (an f-string, alone or concatenated with plain strings)
// Partial parses (ParsePython with partial=true) mark what the end of input left open:
//   type "<hole>"     an expression or statement the input ended before (its position is the end)
//   open = true       on a statement whose last block (body, or orelse if it has one) was still open
//                     at the end of input; the Module's own body is never marked.
struct PyNode {
  absl::string_view type;
  absl::string_view op;
  absl::string_view name;
  absl::string_view text;
  int line = 0;    // 1-based, as CPython's lineno
  int column = 0;  // 0-based UTF-8 byte offset, as CPython's col_offset
  std::vector<PyNode*> kids;
  std::vector<PyNode*> body;
  std::vector<PyNode*> orelse;
  std::vector<PyNode*> extra;
  std::vector<absl::string_view> ops;  // Compare only
  bool open = false;
};

// Owns the nodes of one parse (and any strings they need that are not views of the source).
class PyArena {
 public:
  PyNode* New(absl::string_view type, int line, int column) {
    PyNode* n = nodes_.New();
    n->type = type;
    n->line = line;
    n->column = column;
    return n;
  }
  absl::string_view Keep(std::string s) {
    strings_.push_back(std::move(s));
    return strings_.back();
  }
  size_t size() const { return nodes_.size(); }

 private:
  BlockArena<PyNode, 32> nodes_;
  std::deque<std::string> strings_;
};

struct PySyntaxError {
  std::string message;  // CPython-like: "invalid syntax", "expected ':'", "'(' was never closed"
  int line = 0;
  int column = 0;
  // Not a SyntaxError: the source nests deeper than kMaxNesting, and is refused so that no
  // walk over its tree can run out of stack. CPython may well accept it.
  bool too_deep = false;
};

struct PyParseResult {
  PyNode* module = nullptr;  // null when !ok
  bool ok = false;
  PySyntaxError error;
};

// The parser refuses nesting deeper than kMaxNesting (core/config.h) with too_deep set: each
// bracket, operator and block it recurses into is a level, and so is each link of a chain it
// builds in a loop (elif, a + a + ..., a.b.c, f()()). The tree it returns is at most
// kMaxNesting + 2 nodes high (the Module and a FunctionDef above the levels counted).
// Parses a whole module. With `partial`, an input that ends inside a construct (an open block,
// a binary operator missing its right operand, an unclosed bracket) is accepted and the open
// parts are marked as described above; without it, that is a syntax error.
PyParseResult ParsePython(absl::string_view source, bool partial, PyArena* arena);

}  // namespace astcd

#endif  // ASTCD_CORE_PY_AST_H_
