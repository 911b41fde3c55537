// ParsePython (core/py_ast.h): a recursive-descent parser for Python 3.11 over the tokens of
// core/py_lexer.h. It names every construct with its CPython `ast` class and CPython's
// lineno/col_offset; it is not a compiler (what CPython rejects only after parsing, in the
// symbol table or the compiler, such as `return` outside a function, is accepted here).
//
// Field conventions beyond those py_ast.h documents (best effort, CPython's field order):
//   Module            body (line 1, column 0)
//   ClassDef          name; kids = bases; body; extra = decorators ("ClassDef.decorator_list",
//                     kids = {expr}) then keywords ("keyword")
//   FunctionDef       decorators are "FunctionDef.decorator_list" nodes (kids = {expr}, at the
//                     expression), the return annotation a "FunctionDef.returns" node (kids =
//                     {expr}); on AsyncFunctionDef too
//   arguments         at the first token after '(' or 'lambda'; "arg", "arguments.posonlyargs",
//                     "arguments.vararg", "arguments.kwonlyargs", "arguments.kwarg" carry the
//                     name at the name; "arguments.defaults" (also for keyword-only defaults)
//                     and "arg.annotation" (name = the parameter) have kids = {expr}, at the
//                     expression; extra is in source order
//   Lambda            kids = {arguments, body}
//   Delete            kids = targets
//   Raise             kids = {[exc[, cause]]}
//   Assert            kids = {test[, msg]}
//   Global, Nonlocal  kids = "identifier" nodes (name)
//   Import            kids = "alias" nodes (name = dotted name, text = asname or empty)
//   ImportFrom        name = module (may be empty); text = the leading dots; kids = aliases
//   With, AsyncWith   kids = "withitem" nodes (kids = {context_expr[, optional_vars]}); body
//   Try, TryStar      body; kids = "ExceptHandler" nodes (kids = {[type]}, name = the 'as'
//                     name, body); orelse; extra = {"Try.finalbody" node whose body is the
//                     finally block} when there is one
//   Match             kids = {subject, "match_case"...}; match_case: kids = {pattern[, guard]},
//                     body; patterns are MatchValue (kids = {expr}), MatchSingleton (kids =
//                     {Constant}), MatchSequence, MatchMapping (kids = key, pattern, ...; name =
//                     the **rest name), MatchClass (kids = {cls, patterns...}, extra =
//                     "MatchClass.kwd_patterns" nodes with name and kids = {pattern}), MatchStar
//                     and MatchAs (name; empty for `_`), MatchOr (kids = alternatives)
//   Attribute         name = attr; kids = {value}
//   Subscript         kids = {value, slice}
//   Slice             kids = the parts present; op says which: "lower,upper", "upper", "", ...
//   Starred           kids = {value}
//   NamedExpr         kids = {target, value}
//   Await, Yield,     kids = {} or {value}
//   YieldFrom
//   Tuple, List, Set  kids = elts
//   Dict              kids = key, value, key, value...; a `**m` entry is a "Dict.unpack" node
//                     (kids = {m}, at the '**') in place of its key and value
//   ListComp, SetComp kids = {elt, comprehension...}; DictComp: kids = {key, value,
//   GeneratorExp        comprehension...}; comprehension: kids = {target, iter, ifs...},
//                     op = "async" or empty, at its 'for' (or 'async')
//   JoinedStr         text = the source of all the adjacent literals; kids = Constant (str:
//                     adjacent literal pieces merged as CPython does, text = their source span)
//                     and FormattedValue nodes, both placed as CPython 3.11 places them (at the
//                     whole string's start; a trailing piece of a format spec at its literal)
//   FormattedValue    op = the conversion ("r", "s", "a" or empty); kids = {value[, format_spec
//                     (a JoinedStr)]}; the value is parsed from its own source text and keeps its
//                     real position
//   keyword           name (empty for **); kids = {value}; at the name or the '**'
//   <hole>            a statement hole (partial input that ends after decorators or 'async')
//                     keeps the decorators in extra; an `else:` block the input ended right
//                     after holds one statement hole (an empty orelse would read as no else),
//                     while other empty open blocks stay empty
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/py_ast.h"
#include "core/py_lexer.h"

namespace astcd {
namespace {

using Kind = PyTokenKind;

// Sorted (ASCII) for binary search.
constexpr std::array<absl::string_view, 35> kKeywords = {
    "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
    "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
    "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};

bool IsKeyword(absl::string_view s) {
  return std::binary_search(kKeywords.begin(), kKeywords.end(), s);
}

constexpr absl::string_view kSliceParts[8] = {
    "", "lower", "upper", "lower,upper", "step", "lower,step", "upper,step", "lower,upper,step"};

struct BinOpInfo {
  absl::string_view token;
  absl::string_view name;
  int prec;
};
constexpr BinOpInfo kBinOps[] = {
    {"|", "BitOr", 1},   {"^", "BitXor", 2},    {"&", "BitAnd", 3}, {"<<", "LShift", 4},
    {">>", "RShift", 4}, {"+", "Add", 5},       {"-", "Sub", 5},    {"*", "Mult", 6},
    {"/", "Div", 6},     {"//", "FloorDiv", 6}, {"%", "Mod", 6},    {"@", "MatMult", 6},
};

struct AugInfo {
  absl::string_view token;
  absl::string_view name;
};
constexpr AugInfo kAugOps[] = {
    {"+=", "Add"},    {"-=", "Sub"},    {"*=", "Mult"},    {"/=", "Div"},     {"//=", "FloorDiv"},
    {"%=", "Mod"},    {"**=", "Pow"},   {"<<=", "LShift"}, {">>=", "RShift"}, {"|=", "BitOr"},
    {"^=", "BitXor"}, {"&=", "BitAnd"}, {"@=", "MatMult"},
};

class Parser {
 public:
  Parser(const std::vector<PyToken>& tokens, bool partial, PyArena* arena)
      : toks_(tokens), partial_(partial), arena_(arena) {
    end_start_ = toks_.size();
    while (end_start_ > 0) {
      const Kind k = toks_[end_start_ - 1].kind;
      if (k != Kind::kNewline && k != Kind::kDedent && k != Kind::kEnd) break;
      --end_start_;
    }
    if (end_start_ > 0) {
      const PyToken& last = toks_[end_start_ - 1];
      end_line_ = last.line;
      end_col_ = last.column;
      for (char c : last.text) {
        if (c == '\n') {
          ++end_line_;
          end_col_ = 0;
        } else {
          ++end_col_;
        }
      }
    }
  }

  // Whether the error was found at the END token, i.e. possibly only because input ran out.
  bool failed_at_end() const { return failed_at_end_; }

  PyParseResult Run() {
    PyParseResult result;
    PyNode* module = arena_->New("Module", 1, 0);
    while (!failed_) {
      const PyToken& t = Cur();
      if (t.kind == Kind::kEnd) break;
      if (t.kind == Kind::kNewline) {
        Advance();
        continue;
      }
      if (t.kind == Kind::kIndent) {
        FailUnexpectedIndent();
        break;
      }
      if (t.kind == Kind::kDedent) {
        if (pos_ >= end_start_) {
          Advance();
          continue;
        }
        Fail("unindent does not match any outer indentation level", t);
        break;
      }
      ParseStatement(&module->body);
    }
    if (failed_) {
      result.ok = false;
      result.error = err_;
      if (result.error.message.empty()) result.error.message = "invalid syntax";
      return result;
    }
    if (const PyNode* deep = TooDeep(module)) {
      FailDeep(deep->line, deep->column);
      result.error = err_;
      return result;
    }
    result.ok = true;
    result.module = module;
    return result;
  }

 private:
  // The first node (in preorder) deeper than kMaxNesting below the module, or null. The guards
  // above bound the parser's own recursion; this bounds the tree's height exactly (a chain's
  // first operand can be deep itself), without recursing.
  static const PyNode* TooDeep(const PyNode* module) {
    std::vector<std::pair<const PyNode*, int>> stack = {{module, 0}};
    while (!stack.empty()) {
      const auto [node, depth] = stack.back();
      stack.pop_back();
      if (depth > kMaxNesting) return node;
      for (const auto* list : {&node->extra, &node->orelse, &node->body, &node->kids}) {
        for (auto it = list->rbegin(); it != list->rend(); ++it) stack.emplace_back(*it, depth + 1);
      }
    }
    return nullptr;
  }

  // ---- Tokens -------------------------------------------------------------------------------

  const PyToken& Tok(size_t ahead) const {
    const size_t i = pos_ + ahead;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const PyToken& Cur() const { return Tok(0); }
  void Advance() {
    if (pos_ < toks_.size() - 1) ++pos_;
  }
  bool IsOp(absl::string_view s, size_t ahead = 0) const {
    const PyToken& t = Tok(ahead);
    return t.kind == Kind::kOp && t.text == s;
  }
  bool IsKw(absl::string_view s, size_t ahead = 0) const {
    const PyToken& t = Tok(ahead);
    return t.kind == Kind::kName && t.text == s;
  }
  // An identifier: a NAME that is not a hard keyword.
  bool IsName(size_t ahead = 0) const {
    const PyToken& t = Tok(ahead);
    return t.kind == Kind::kName && !IsKeyword(t.text);
  }
  bool IsAsyncFor() const { return IsKw("async") && IsKw("for", 1); }
  bool IsCompFor() const { return IsKw("for") || IsAsyncFor(); }
  // Partial input that has run out: only NEWLINE/DEDENT/END tokens remain.
  bool EndHere() const { return partial_ && pos_ >= end_start_; }
  bool AtLineEnd() const {
    const Kind k = Cur().kind;
    return k == Kind::kNewline || k == Kind::kEnd || k == Kind::kDedent;
  }

  // Whether the current token is inside brackets (scans back to the logical line's start:
  // for error messages only).
  bool InsideBrackets() const {
    int depth = 0;
    for (size_t i = pos_; i-- > 0;) {
      const PyToken& t = toks_[i];
      if (t.kind == Kind::kNewline || t.kind == Kind::kIndent || t.kind == Kind::kDedent) break;
      if (t.kind != Kind::kOp) continue;
      if (t.text == "(" || t.text == "[" || t.text == "{")
        ++depth;
      else if (t.text == ")" || t.text == "]" || t.text == "}")
        --depth;
    }
    return depth > 0;
  }

  // Whether the current token can begin an expression.
  bool StartsExpr() const {
    const PyToken& t = Cur();
    switch (t.kind) {
      case Kind::kName:
        if (!IsKeyword(t.text)) return true;
        return t.text == "True" || t.text == "False" || t.text == "None" || t.text == "not" ||
               t.text == "lambda" || t.text == "await";
      case Kind::kNumber:
      case Kind::kString:
        return true;
      case Kind::kOp:
        return t.text == "(" || t.text == "[" || t.text == "{" || t.text == "-" || t.text == "+" ||
               t.text == "~" || t.text == "*" || t.text == "...";
      default:
        return false;
    }
  }

  // ---- Nodes and errors ---------------------------------------------------------------------

  PyNode* NewAt(absl::string_view type, size_t token_index) {
    const PyToken& t = token_index < toks_.size() ? toks_[token_index] : toks_.back();
    return arena_->New(type, t.line, t.column);
  }
  PyNode* NewLike(absl::string_view type, const PyNode* at) {
    return arena_->New(type, at->line, at->column);
  }
  PyNode* Hole() { return arena_->New("<hole>", end_line_, end_col_); }
  PyNode* Wrap(absl::string_view type, PyNode* kid) {
    PyNode* n = NewLike(type, kid);
    n->kids.push_back(kid);
    return n;
  }

  std::nullptr_t Fail(absl::string_view message, const PyToken& at) {
    return FailAt(message, at.line, at.column);
  }
  std::nullptr_t FailNode(absl::string_view message, const PyNode* at) {
    return FailAt(message, at->line, at->column);
  }
  std::nullptr_t FailAt(absl::string_view message, int line, int column) {
    if (!failed_) {
      failed_ = true;
      failed_at_end_ = pos_ + 1 >= toks_.size();
      err_.message = std::string(message);
      err_.line = line;
      err_.column = column;
    }
    return nullptr;
  }
  std::nullptr_t Invalid() { return Fail("invalid syntax", Cur()); }
  // Too deep for astcd, not a syntax error: py_ast.h, PySyntaxError::too_deep.
  std::nullptr_t FailDeep(int line, int column) {
    if (!failed_) err_.too_deep = true;
    return FailAt(absl::StrCat("the source nests deeper than ", kMaxNesting,
                               " levels (brackets, operators, blocks, elif branches)"),
                  line, column);
  }
  // At an INDENT: CPython reports the column before the indented statement's first token.
  std::nullptr_t FailUnexpectedIndent() {
    const PyToken& next = Tok(1);
    return FailAt("unexpected indent", next.line, next.column > 0 ? next.column - 1 : 0);
  }

  // Consumes `op`; at the end of a partial input a missing token is taken as given.
  bool Expect(absl::string_view op, absl::string_view message = "invalid syntax") {
    if (IsOp(op)) {
      Advance();
      return true;
    }
    if (EndHere()) return true;
    Fail(message, Cur());
    return false;
  }
  bool ExpectKw(absl::string_view kw) {
    if (IsKw(kw)) {
      Advance();
      return true;
    }
    if (EndHere()) return true;
    Fail("invalid syntax", Cur());
    return false;
  }
  // An identifier; at the end of a partial input, an empty one.
  bool ExpectName(absl::string_view* name) {
    if (IsName()) {
      *name = Cur().text;
      Advance();
      return true;
    }
    *name = absl::string_view();
    if (EndHere()) return true;
    Fail("invalid syntax", Cur());
    return false;
  }

  // One level of recursion, counted against kMaxNesting.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) {
      ok_ = ++p_->depth_ <= kMaxNesting;
      if (!ok_) p_->FailDeep(p_->Cur().line, p_->Cur().column);
    }
    ~DepthGuard() { --p_->depth_; }
    bool ok() const { return ok_; }

   private:
    Parser* p_;
    bool ok_;
  };

  // A chain built in a loop (elif, a + b + c, a.b.c) nests one level a link, though the
  // parser does not recurse: the walks over its tree will. Each Add() is a level, held until
  // the loop's function returns, so what is parsed after a link counts it too.
  class ChainGuard {
   public:
    explicit ChainGuard(Parser* p) : p_(p) {}
    ~ChainGuard() { p_->depth_ -= links_; }
    bool Add() {
      ++links_;
      if (++p_->depth_ <= kMaxNesting) return true;
      p_->FailDeep(p_->Cur().line, p_->Cur().column);
      return false;
    }

   private:
    Parser* p_;
    int links_ = 0;
  };

  // ---- Expressions --------------------------------------------------------------------------

  // expression: lambda | disjunction ['if' disjunction 'else' expression]
  PyNode* ParseExpression() {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    if (IsKw("lambda")) return ParseLambda();
    const size_t start = pos_;
    PyNode* body = ParseDisjunction();
    if (body == nullptr) return nullptr;
    if (!IsKw("if")) {
      // Two expressions in a row inside brackets: CPython's invalid_expression hint.
      if (StartsExpr() && !(body->type == "Name" && Cur().kind == Kind::kString) &&
          InsideBrackets()) {
        return Fail("invalid syntax. Perhaps you forgot a comma?", toks_[start]);
      }
      return body;
    }
    Advance();
    PyNode* test = ParseDisjunction();
    if (test == nullptr || !ExpectKw("else")) return nullptr;
    PyNode* orelse = ParseExpression();
    if (orelse == nullptr) return nullptr;
    PyNode* n = NewAt("IfExp", start);
    n->kids = {test, body, orelse};
    return n;
  }

  // named_expression: NAME ':=' expression | expression
  PyNode* ParseNamed() {
    if (IsName() && IsOp(":=", 1)) {
      const size_t start = pos_;
      PyNode* target = NewAt("Name", pos_);
      target->name = Cur().text;
      Advance();
      Advance();
      PyNode* value = ParseExpression();
      if (value == nullptr) return nullptr;
      PyNode* n = NewAt("NamedExpr", start);
      n->kids = {target, value};
      return n;
    }
    PyNode* e = ParseExpression();
    if (e != nullptr && IsOp(":=")) {
      return FailNode(absl::StrCat("cannot use assignment expressions with ", Describe(e)), e);
    }
    return e;
  }

  // '*' bitwise_or (or '*' expression where `full`).
  PyNode* ParseStarred(bool full) {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    Advance();
    PyNode* value = full ? ParseExpression() : ParseBinary(1);
    if (value == nullptr) return nullptr;
    PyNode* n = NewAt("Starred", start);
    n->kids.push_back(value);
    return n;
  }
  PyNode* ParseStarNamed() { return IsOp("*") ? ParseStarred(false) : ParseNamed(); }
  PyNode* ParseStarExpr() { return IsOp("*") ? ParseStarred(false) : ParseExpression(); }

  // item (',' item)* [','] -> the item, or a Tuple starting at the first item.
  PyNode* ParseList(PyNode* (Parser::*item)()) {
    const size_t start = pos_;
    PyNode* first = (this->*item)();
    if (first == nullptr || !IsOp(",")) return first;
    PyNode* tuple = NewAt("Tuple", start);
    tuple->kids.push_back(first);
    while (IsOp(",")) {
      Advance();
      if (!StartsExpr()) break;
      PyNode* e = (this->*item)();
      if (e == nullptr) return nullptr;
      tuple->kids.push_back(e);
    }
    return tuple;
  }
  PyNode* ParseStarExpressions() { return ParseList(&Parser::ParseStarExpr); }
  PyNode* ParseYieldOrStarExpressions() {
    return IsKw("yield") ? ParseYield() : ParseStarExpressions();
  }

  PyNode* ParseDisjunction() { return ParseBool("or", "Or", &Parser::ParseConjunction); }
  PyNode* ParseConjunction() { return ParseBool("and", "And", &Parser::ParseInversion); }
  PyNode* ParseBool(absl::string_view kw, absl::string_view op, PyNode* (Parser::*operand)()) {
    const size_t start = pos_;
    PyNode* first = (this->*operand)();
    if (first == nullptr || !IsKw(kw)) return first;
    PyNode* n = NewAt("BoolOp", start);
    n->op = op;
    n->kids.push_back(first);
    while (IsKw(kw)) {
      Advance();
      PyNode* e = (this->*operand)();
      if (e == nullptr) return nullptr;
      n->kids.push_back(e);
    }
    return n;
  }

  PyNode* ParseInversion() {
    if (!IsKw("not")) return ParseComparison();
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    Advance();
    PyNode* operand = ParseInversion();
    if (operand == nullptr) return nullptr;
    PyNode* n = NewAt("UnaryOp", start);
    n->op = "Not";
    n->kids.push_back(operand);
    return n;
  }

  PyNode* ParseComparison() {
    const size_t start = pos_;
    PyNode* left = ParseBinary(1);
    if (left == nullptr) return nullptr;
    PyNode* cmp = nullptr;
    for (;;) {
      absl::string_view op;
      int width = 1;
      const PyToken& t = Cur();
      if (t.kind == Kind::kOp) {
        if (t.text == "==")
          op = "Eq";
        else if (t.text == "!=")
          op = "NotEq";
        else if (t.text == "<")
          op = "Lt";
        else if (t.text == "<=")
          op = "LtE";
        else if (t.text == ">")
          op = "Gt";
        else if (t.text == ">=")
          op = "GtE";
      } else if (t.kind == Kind::kName) {
        if (t.text == "in") {
          op = "In";
        } else if (t.text == "not" && IsKw("in", 1)) {
          op = "NotIn";
          width = 2;
        } else if (t.text == "not" && partial_ && pos_ + 1 >= end_start_) {
          op = "NotIn";  // a partial input that ends in `a not`
        } else if (t.text == "is") {
          if (IsKw("not", 1)) {
            op = "IsNot";
            width = 2;
          } else {
            op = "Is";
          }
        }
      }
      if (op.empty()) break;
      for (int i = 0; i < width; ++i) Advance();
      PyNode* right = ParseBinary(1);
      if (right == nullptr) return nullptr;
      if (cmp == nullptr) {
        cmp = NewAt("Compare", start);
        cmp->kids.push_back(left);
      }
      cmp->ops.push_back(op);
      cmp->kids.push_back(right);
    }
    return cmp != nullptr ? cmp : left;
  }

  const BinOpInfo* BinOpHere() const {
    const PyToken& t = Cur();
    if (t.kind != Kind::kOp) return nullptr;
    for (const BinOpInfo& b : kBinOps) {
      if (t.text == b.token) return &b;
    }
    return nullptr;
  }

  // Precedence climbing over | ^ & << >> + - * / // % @ (all left-associative); the recursion
  // is bounded by the number of precedence levels.
  PyNode* ParseBinary(int min_prec) {
    const size_t start = pos_;
    PyNode* left = ParseFactor();
    if (left == nullptr) return nullptr;
    ChainGuard chain(this);
    for (;;) {
      const BinOpInfo* b = BinOpHere();
      if (b == nullptr || b->prec < min_prec) return left;
      if (!chain.Add()) return nullptr;
      Advance();
      PyNode* right = ParseBinary(b->prec + 1);
      if (right == nullptr) return nullptr;
      PyNode* n = NewAt("BinOp", start);
      n->op = b->name;
      n->kids = {left, right};
      left = n;
    }
  }

  PyNode* ParseFactor() {
    absl::string_view op;
    if (IsOp("-"))
      op = "USub";
    else if (IsOp("+"))
      op = "UAdd";
    else if (IsOp("~"))
      op = "Invert";
    else
      return ParsePower();
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    Advance();
    PyNode* operand = ParseFactor();
    if (operand == nullptr) return nullptr;
    PyNode* n = NewAt("UnaryOp", start);
    n->op = op;
    n->kids.push_back(operand);
    return n;
  }

  // power: await_primary ['**' factor]
  PyNode* ParsePower() {
    const size_t start = pos_;
    PyNode* base;
    if (IsKw("await")) {
      Advance();
      PyNode* value = ParsePrimary();
      if (value == nullptr) return nullptr;
      base = NewAt("Await", start);
      base->kids.push_back(value);
    } else {
      base = ParsePrimary();
      if (base == nullptr) return nullptr;
    }
    if (!IsOp("**")) return base;
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    Advance();
    PyNode* exponent = ParseFactor();
    if (exponent == nullptr) return nullptr;
    PyNode* n = NewAt("BinOp", start);
    n->op = "Pow";
    n->kids = {base, exponent};
    return n;
  }

  // primary: atom ('.' NAME | '(' arguments ')' | '[' slices ']')*
  PyNode* ParsePrimary() {
    const size_t start = pos_;
    PyNode* node = ParseAtom();
    if (node == nullptr) return nullptr;
    ChainGuard chain(this);
    for (;;) {
      if ((IsOp(".") || IsOp("(") || IsOp("[")) && !chain.Add()) return nullptr;
      if (IsOp(".")) {
        Advance();
        PyNode* n = NewAt("Attribute", start);
        if (!ExpectName(&n->name)) return nullptr;
        n->kids.push_back(node);
        node = n;
      } else if (IsOp("(")) {  // (every argument is parsed under a DepthGuard)
        const size_t paren = pos_;
        Advance();
        PyNode* call = NewAt("Call", start);
        call->kids.push_back(node);
        if (!ParseCallArgs(&call->kids, &call->extra, paren) || !Expect(")")) {
          return nullptr;
        }
        node = call;
      } else if (IsOp("[")) {
        Advance();
        PyNode* slice = ParseSlices();
        if (slice == nullptr || !Expect("]")) return nullptr;
        PyNode* n = NewAt("Subscript", start);
        n->kids = {node, slice};
        node = n;
      } else {
        return node;
      }
    }
  }

  // Arguments of a call or a class definition, up to (not including) the ')'. With a
  // `paren` index, a sole unparenthesized generator argument is allowed (the GeneratorExp
  // starts at that parenthesis, as in CPython).
  static constexpr size_t kNoParen = static_cast<size_t>(-1);
  bool ParseCallArgs(std::vector<PyNode*>* args, std::vector<PyNode*>* keywords, size_t paren) {
    bool seen_keyword = false, seen_kwunpack = false;
    absl::string_view misplaced;
    const size_t first_arg = args->size();
    while (!IsOp(")") && !EndHere()) {
      if (IsOp("*")) {
        PyNode* s = ParseStarred(/*full=*/true);
        if (s == nullptr) return false;
        if (seen_kwunpack) {
          FailNode("iterable argument unpacking follows keyword argument unpacking", s);
          return false;
        }
        args->push_back(s);
      } else if (IsOp("**")) {
        const size_t start = pos_;
        Advance();
        PyNode* value = ParseExpression();
        if (value == nullptr) return false;
        PyNode* kw = NewAt("keyword", start);
        kw->kids.push_back(value);
        keywords->push_back(kw);
        seen_kwunpack = true;
      } else if (IsName() && IsOp("=", 1)) {
        PyNode* kw = NewAt("keyword", pos_);
        kw->name = Cur().text;
        Advance();
        Advance();
        PyNode* value = ParseExpression();
        if (value == nullptr) return false;
        kw->kids.push_back(value);
        keywords->push_back(kw);
        seen_keyword = true;
      } else {
        PyNode* e = ParseNamed();
        if (e == nullptr) return false;
        if (IsCompFor()) {
          const bool sole = paren != kNoParen && args->size() == first_arg && keywords->empty();
          PyNode* gen = NewAt("GeneratorExp", paren != kNoParen ? paren : pos_);
          gen->kids.push_back(e);
          if (!ParseComprehensions(gen)) return false;
          if (!sole || !(IsOp(")") || EndHere())) {
            FailNode("Generator expression must be parenthesized", e);
            return false;
          }
          args->push_back(gen);
          return true;
        }
        if (IsOp("=")) {
          FailNode("expression cannot contain assignment, perhaps you meant \"==\"?", e);
          return false;
        }
        // CPython reports these where the argument list stops. A partial input may end in
        // the name of a keyword argument still to come.
        const bool maybe_keyword = e->type == "Name" && EndHere();
        if (!maybe_keyword && misplaced.empty()) {
          if (seen_kwunpack) {
            misplaced = "positional argument follows keyword argument unpacking";
          } else if (seen_keyword) {
            misplaced = "positional argument follows keyword argument";
          }
        }
        args->push_back(e);
      }
      if (!IsOp(",")) break;
      Advance();
    }
    if (!misplaced.empty()) {
      Fail(misplaced, Cur());
      return false;
    }
    return true;
  }

  // slices: slice | ','.(slice | starred_expression)+ [',']  (a Tuple at the first slice)
  PyNode* ParseSlices() {
    const size_t start = pos_;
    PyNode* first = ParseSliceItem();
    if (first == nullptr) return nullptr;
    if (!IsOp(",")) {
      if (first->type != "Starred") return first;
      PyNode* tuple = NewAt("Tuple", start);  // a[*b] is a[(*b,)]
      tuple->kids.push_back(first);
      return tuple;
    }
    PyNode* tuple = NewAt("Tuple", start);
    tuple->kids.push_back(first);
    while (IsOp(",")) {
      Advance();
      if (!StartsExpr() && !IsOp(":")) break;
      PyNode* e = ParseSliceItem();
      if (e == nullptr) return nullptr;
      tuple->kids.push_back(e);
    }
    return tuple;
  }

  PyNode* ParseSliceItem() {
    if (IsOp("*")) return ParseStarred(/*full=*/true);
    const size_t start = pos_;
    std::vector<PyNode*> parts;
    int mask = 0;
    if (!IsOp(":")) {
      PyNode* lower = ParseNamed();
      if (lower == nullptr || !IsOp(":")) return lower;
      parts.push_back(lower);
      mask |= 1;
    }
    Advance();  // ':'
    if (StartsExpr()) {
      PyNode* upper = ParseExpression();
      if (upper == nullptr) return nullptr;
      parts.push_back(upper);
      mask |= 2;
    }
    if (IsOp(":")) {
      Advance();
      if (StartsExpr()) {
        PyNode* step = ParseExpression();
        if (step == nullptr) return nullptr;
        parts.push_back(step);
        mask |= 4;
      }
    }
    PyNode* n = NewAt("Slice", start);
    n->op = kSliceParts[mask];
    n->kids = std::move(parts);
    return n;
  }

  PyNode* ParseAtom() {
    const PyToken& t = Cur();
    switch (t.kind) {
      case Kind::kName: {
        if (!IsKeyword(t.text)) {
          PyNode* n = NewAt("Name", pos_);
          n->name = t.text;
          Advance();
          return n;
        }
        absl::string_view type;
        if (t.text == "True" || t.text == "False")
          type = "bool";
        else if (t.text == "None")
          type = "NoneType";
        if (type.empty()) return EndHere() ? Hole() : Invalid();
        PyNode* n = NewAt("Constant", pos_);
        n->op = type;
        n->text = t.text;
        Advance();
        return n;
      }
      case Kind::kNumber: {
        PyNode* n = NewAt("Constant", pos_);
        n->op = t.number_kind == PyNumberKind::kInt     ? "int"
                : t.number_kind == PyNumberKind::kFloat ? "float"
                                                        : "complex";
        n->text = t.text;
        Advance();
        return n;
      }
      case Kind::kString:
        return ParseStrings();
      case Kind::kOp:
        if (t.text == "(") return ParseParen();
        if (t.text == "[") return ParseListDisplay();
        if (t.text == "{") return ParseBraceDisplay();
        if (t.text == "...") {
          PyNode* n = NewAt("Constant", pos_);
          n->op = "ellipsis";
          n->text = t.text;
          Advance();
          return n;
        }
        break;
      default:
        break;
    }
    return EndHere() ? Hole() : Invalid();
  }

  PyNode* ParseStrings() {
    const size_t start = pos_;
    bool fstring = false, bytes = false, text = false;
    const PyToken& first = Cur();
    const PyToken* last = &first;
    while (Cur().kind == Kind::kString) {
      const PyToken& t = Cur();
      if (t.string_kind == PyStringKind::kFString) fstring = true;
      if (t.string_kind == PyStringKind::kBytes)
        bytes = true;
      else
        text = true;
      last = &t;
      Advance();
    }
    // CPython reports these at the token after the literals (the last one it has read).
    if (bytes && text) return Fail("cannot mix bytes and nonbytes literals", Cur());
    for (size_t i = start; i < pos_; ++i) {
      if (toks_[i].string_kind == PyStringKind::kFString) continue;  // checked while scanned
      const absl::string_view error = BadEscape(toks_[i]);
      if (!error.empty()) return Fail(error, Cur());
    }
    PyNode* n = NewAt(fstring ? "JoinedStr" : "Constant", start);
    if (!fstring) n->op = bytes ? "bytes" : "str";
    n->text = absl::string_view(
        first.text.data(),
        static_cast<size_t>(last->text.data() + last->text.size() - first.text.data()));
    if (fstring) {
      Literal literal;
      for (size_t i = start; i < pos_; ++i) {
        if (!ParseFStringToken(toks_[i], n, &literal)) return nullptr;
      }
      FlushLiteral(&literal, n, n);
    }
    return n;
  }

  // ---- f-strings: JoinedStr kids are Constant (merged literal text) and FormattedValue nodes,
  // at the JoinedStr's position as in CPython 3.11; the expressions inside are parsed from
  // their own source text and keep their real positions.

  // Literal text not yet emitted: CPython merges adjacent pieces into one Constant.
  struct Literal {
    const char* begin = nullptr;
    const char* end = nullptr;
    bool content = false;  // false while only line continuations (which decode to nothing)
  };
  static void AddLiteral(Literal* lit, const char* begin, const char* end, bool content = true) {
    if (begin == end) return;
    if (lit->begin == nullptr) lit->begin = begin;
    lit->end = end;
    lit->content |= content;
  }
  void FlushLiteral(Literal* lit, PyNode* joined, const PyNode* at) {
    if (!lit->content) {
      *lit = Literal();
      return;
    }
    PyNode* c = NewLike("Constant", at);
    c->op = "str";
    c->text = absl::string_view(lit->begin, static_cast<size_t>(lit->end - lit->begin));
    joined->kids.push_back(c);
    *lit = Literal();
  }

  // Line and column of an offset into a token's text; offsets only move forward.
  struct Cursor {
    absl::string_view text;
    size_t offset = 0;
    int line = 0;
    int column = 0;
    void To(size_t target) {
      for (; offset < target && offset < text.size(); ++offset) {
        if (text[offset] == '\n') {
          ++line;
          column = 0;
        } else {
          ++column;
        }
      }
    }
  };

  struct FString {
    const PyToken* token;
    absl::string_view text;  // the whole token
    size_t end;              // where the body ends (the closing quotes)
    bool raw;
    Cursor cursor;
    PyNode* outer;  // the JoinedStr of the whole concatenation
  };

  // CPython reports f-string errors at the token after the literals, like other string errors.
  bool FailF(absl::string_view message) {
    Fail(message, Cur());
    return false;
  }

  // One literal of a concatenation: plain strings are literal text, f-strings are scanned.
  bool ParseFStringToken(const PyToken& t, PyNode* joined, Literal* literal) {
    const absl::string_view text = t.text;
    size_t q = 0;
    bool raw = false;
    while (q < text.size() && text[q] != '\'' && text[q] != '"') {
      if (text[q] == 'r' || text[q] == 'R') raw = true;
      ++q;
    }
    if (q >= text.size()) return true;
    const size_t quote =
        text.size() - q >= 6 && text[q + 1] == text[q] && text[q + 2] == text[q] ? 3 : 1;
    const size_t begin = q + quote;
    const size_t end = text.size() >= begin + quote ? text.size() - quote : text.size();
    if (t.string_kind != PyStringKind::kFString) {
      AddLiteral(literal, text.data() + begin, text.data() + end);
      return true;
    }
    FString f{&t, text, end, raw, Cursor{text, 0, t.line, t.column}, joined};
    size_t i = begin;
    return ParseFStringBody(&f, &i, /*level=*/0, joined, literal);
  }

  // Literal text and {fields} from *i; at level > 0 (a format spec) stops before its '}'.
  bool ParseFStringBody(FString* f, size_t* i, int level, PyNode* joined, Literal* literal) {
    const absl::string_view text = f->text;
    while (*i < f->end) {
      const char c = text[*i];
      if (c == '\\' && !f->raw && *i + 1 < f->end && (text[*i + 1] == '{' || text[*i + 1] == '}')) {
        AddLiteral(literal, text.data() + *i, text.data() + *i + 1);  // "\{x}": a field follows
        ++*i;
      } else if (c == '\\' && !f->raw) {
        if (*i + 1 < f->end) {
          const absl::string_view error = BadEscapeAt(text, *i + 1, f->end, /*bytes=*/false);
          if (!error.empty()) return FailF(error);
        }
        size_t j = *i + 2;
        if (j - 1 < f->end && text[j - 1] == 'N' && j < f->end && text[j] == '{') {
          while (j < f->end && text[j] != '}') ++j;  // \N{NAME} is not a field
          ++j;
        }
        j = std::min(j, f->end);
        const char next = *i + 1 < f->end ? text[*i + 1] : 0;
        const bool continuation = next == '\n' || next == '\r';
        if (next == '\r' && j < f->end && text[j] == '\n') ++j;
        AddLiteral(literal, text.data() + *i, text.data() + j, !continuation);
        *i = j;
      } else if (c == '{' || c == '}') {
        if (level == 0 && *i + 1 < f->end && text[*i + 1] == c) {  // {{ and }}
          AddLiteral(literal, text.data() + *i, text.data() + *i + 2);
          *i += 2;
          continue;
        }
        if (c == '}') {
          if (level > 0) return true;
          return FailF("f-string: single '}' is not allowed");
        }
        if (!ParseFStringField(f, i, level, joined, literal)) return false;
      } else {
        size_t j = *i + 1;
        while (j < f->end && text[j] != '{' && text[j] != '}' && text[j] != '\\') ++j;
        AddLiteral(literal, text.data() + *i, text.data() + j);
        *i = j;
      }
    }
    return true;
  }

  // A replacement field from its '{': {expression[=][!conversion][:format_spec]}.
  bool ParseFStringField(FString* f, size_t* i, int level, PyNode* joined, Literal* literal) {
    const absl::string_view text = f->text;
    if (level >= 2) return FailF("f-string: expressions nested too deeply");
    const size_t expr_begin = *i + 1;
    size_t j = expr_begin;
    std::string brackets;
    char quote = 0;
    size_t quote_len = 0;
    for (; j < f->end; ++j) {
      const char ch = text[j];
      if (ch == '\\') return FailF("f-string expression part cannot include a backslash");
      if (quote != 0) {
        if (ch == quote &&
            (quote_len == 1 || (j + 2 < f->end && text[j + 1] == quote && text[j + 2] == quote))) {
          j += quote_len - 1;
          quote = 0;
        }
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        quote_len = j + 2 < f->end && text[j + 1] == ch && text[j + 2] == ch ? 3 : 1;
        j += quote_len - 1;
        continue;
      }
      if (ch == '(' || ch == '[' || ch == '{') {
        if (brackets.size() >= static_cast<size_t>(kPyMaxBracketDepth)) {
          return FailF("f-string: too many nested parenthesis");
        }
        brackets.push_back(ch);
        continue;
      }
      if (ch == '#') return FailF("f-string expression part cannot include '#'");
      if (brackets.empty()) {
        if (ch == '}' || ch == ':') break;
        if (ch == '!' || ch == '=' || ch == '<' || ch == '>') {
          if (j + 1 < f->end && text[j + 1] == '=') {  // != == <= >=
            ++j;
            continue;
          }
          if (ch == '!' || ch == '=') break;
          continue;
        }
      }
      if (ch == ')' || ch == ']' || ch == '}') {
        if (brackets.empty())
          return FailF(absl::StrCat("f-string: unmatched '", std::string(1, ch), "'"));
        const char open = brackets.back();
        if ((open == '(') != (ch == ')') || (open == '[') != (ch == ']')) {
          return FailF(absl::StrCat("f-string: closing parenthesis '", std::string(1, ch),
                                    "' does not match opening parenthesis '", std::string(1, open),
                                    "'"));
        }
        brackets.pop_back();
      }
    }
    if (quote != 0) return FailF("f-string: unterminated string");
    if (j >= f->end) return FailF("f-string: expecting '}'");
    const absl::string_view expr(text.data() + expr_begin, j - expr_begin);
    if (expr.find_first_not_of(" \t\n\r\f") == absl::string_view::npos) {
      if (text[j] == '}') return FailF("f-string: empty expression not allowed");
      return FailF(absl::StrCat("f-string: expression required before '",
                                absl::string_view(text.data() + j, 1), "'"));
    }
    f->cursor.To(expr_begin);
    PyNode* value = ParseFStringExpression(expr, f->cursor.line, f->cursor.column);
    if (value == nullptr) return false;
    // {x=}: the text up to and including '=' (and blanks after it) is literal text.
    const bool debug = text[j] == '=';
    size_t debug_end = j;
    if (debug) {
      ++j;
      while (j < f->end && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n')) ++j;
      debug_end = j;
    }
    absl::string_view conversion;
    if (j < f->end && text[j] == '!') {
      ++j;
      if (j >= f->end) return FailF("f-string: expecting '}'");
      const char conv = text[j];
      if (conv != 's' && conv != 'r' && conv != 'a') {
        return FailF("f-string: invalid conversion character: expected 's', 'r', or 'a'");
      }
      conversion = absl::string_view(text.data() + j, 1);
      ++j;
    }
    PyNode* spec = nullptr;
    if (j < f->end && text[j] == ':') {
      ++j;
      spec = arena_->New("JoinedStr", f->token->line, f->token->column);
      Literal spec_literal;
      if (!ParseFStringBody(f, &j, level + 1, spec, &spec_literal)) return false;
      FlushLiteral(&spec_literal, spec, spec);  // (3.11: a trailing piece is at the spec)
    }
    if (j >= f->end || text[j] != '}') return FailF("f-string: expecting '}'");
    *i = j + 1;
    if (debug) {
      AddLiteral(literal, text.data() + expr_begin, text.data() + debug_end);
      if (conversion.empty() && spec == nullptr) conversion = "r";
    }
    FlushLiteral(literal, joined, f->outer);
    PyNode* fv = NewLike("FormattedValue", f->outer);
    fv->op = conversion;
    fv->kids.push_back(value);
    if (spec != nullptr) fv->kids.push_back(spec);
    joined->kids.push_back(fv);
    return true;
  }

  // The expression of a field, parsed as CPython 3.11 does: "(" + text + ")" on its own, with
  // the tokens moved back to where the text is in the source.
  PyNode* ParseFStringExpression(absl::string_view expr, int line, int column) {
    const absl::string_view wrapped = arena_->Keep(absl::StrCat("(", expr, ")"));
    PyLexResult lex = LexPython(wrapped, /*allow_open_end=*/false);
    auto place = [&](int* l, int* c) {
      if (*l == 1) *c += column - 1;
      *l += line - 1;
    };
    if (!lex.ok) {
      int l = lex.error.line, c = lex.error.column;
      place(&l, &c);
      return FailAt(lex.error.message, l, c);
    }
    for (PyToken& t : lex.tokens) place(&t.line, &t.column);
    Parser sub(lex.tokens, /*partial=*/false, arena_);
    sub.depth_ = depth_;
    PyNode* value = sub.ParseStarExpressions();
    if (value != nullptr && !sub.AtLineEnd()) sub.Invalid();
    if (sub.failed_ && sub.err_.too_deep) return FailDeep(sub.err_.line, sub.err_.column);
    if (sub.failed_)
      return FailAt(absl::StrCat("f-string: ", sub.err_.message), sub.err_.line, sub.err_.column);
    return value;
  }

  // The escapes CPython refuses when it decodes a literal (\x, \u, \U, \N{...}); empty when
  // the literal is fine. Unknown escapes like "\d" only warn in CPython.
  static absl::string_view BadEscape(const PyToken& t) {
    const absl::string_view text = t.text;
    size_t q = 0;
    bool raw = false;
    while (q < text.size() && text[q] != '\'' && text[q] != '"') {
      if (text[q] == 'r' || text[q] == 'R') raw = true;
      ++q;
    }
    if (raw || q >= text.size()) return {};
    const bool bytes = t.string_kind == PyStringKind::kBytes;
    const size_t quote =
        text.size() - q >= 6 && text[q + 1] == text[q] && text[q + 2] == text[q] ? 3 : 1;
    const size_t end = text.size() >= q + 2 * quote ? text.size() - quote : text.size();
    for (size_t i = q + quote; i < end; ++i) {
      if (text[i] != '\\' || i + 1 >= end) continue;
      const absl::string_view error = BadEscapeAt(text, ++i, end, bytes);
      if (!error.empty()) return error;
    }
    return {};
  }

  // The escape whose letter is at text[i] (after the backslash), within a body ending at `end`.
  static absl::string_view BadEscapeAt(absl::string_view text, size_t i, size_t end, bool bytes) {
    auto hex = [&](size_t from, size_t n) {
      if (from + n > end) return false;
      for (size_t k = from; k < from + n; ++k) {
        const char c = text[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
          return false;
        }
      }
      return true;
    };
    {
      const char c = text[i];
      if (c == 'x') {
        if (!hex(i + 1, 2)) {
          return bytes ? "(value error) invalid \\x escape"
                       : "(unicode error) 'unicodeescape' codec can't decode bytes: truncated "
                         "\\xXX escape";
        }
      } else if (bytes) {
        return {};
      } else if (c == 'u') {
        if (!hex(i + 1, 4)) {
          return "(unicode error) 'unicodeescape' codec can't decode bytes: truncated \\uXXXX "
                 "escape";
        }
      } else if (c == 'U') {
        if (!hex(i + 1, 8)) {
          return "(unicode error) 'unicodeescape' codec can't decode bytes: truncated "
                 "\\UXXXXXXXX escape";
        }
        unsigned long value = 0;
        for (size_t k = i + 1; k < i + 9; ++k) {
          const char h = text[k];
          value =
              value * 16 + static_cast<unsigned long>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (value > 0x10FFFF) {
          return "(unicode error) 'unicodeescape' codec can't decode bytes: illegal Unicode "
                 "character";
        }
      } else if (c == 'N') {
        size_t k = i + 1;
        bool ok = k < end && text[k] == '{';
        if (ok) {
          ++k;
          const size_t name_start = k;
          while (k < end && text[k] != '}' && text[k] != '\n' && text[k] != '\\') ++k;
          ok = k < end && text[k] == '}' && k > name_start;
        }
        if (!ok) {
          return "(unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N "
                 "character escape";
        }
        // Unicode names are letters, digits, spaces and hyphens (whether the name exists is
        // not checked: there is no name table here).
        for (size_t n = i + 2; n < k; ++n) {
          const char ch = text[n];
          if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == ' ' || ch == '-')) {
            return "(unicode error) 'unicodeescape' codec can't decode bytes: unknown Unicode "
                   "character name";
          }
        }
      }
    }
    return {};
  }

  // '(' ... ')': an empty tuple, a yield, a group, a tuple or a generator expression.
  PyNode* ParseParen() {
    const size_t start = pos_;
    Advance();
    if (IsOp(")")) {
      Advance();
      return NewAt("Tuple", start);
    }
    if (IsKw("yield")) {
      PyNode* y = ParseYield();
      if (y == nullptr || !Expect(")")) return nullptr;
      return y;
    }
    PyNode* first = ParseStarNamed();
    if (first == nullptr) return nullptr;
    if (IsCompFor()) {
      if (first->type == "Starred") {
        return FailNode("iterable unpacking cannot be used in comprehension", first);
      }
      PyNode* gen = NewAt("GeneratorExp", start);
      gen->kids.push_back(first);
      if (!ParseComprehensions(gen) || !Expect(")")) return nullptr;
      return gen;
    }
    if (IsOp(",")) {
      PyNode* tuple = NewAt("Tuple", start);
      tuple->kids.push_back(first);
      if (!ParseItems(&tuple->kids, ")")) return nullptr;
      return tuple;
    }
    if (IsOp(")") && first->type == "Starred") {
      return FailNode("cannot use starred expression here", first);
    }
    if (!Expect(")")) return nullptr;
    return first;
  }

  // (',' star_named_expression)* [','] close; the first item is already in `items`.
  bool ParseItems(std::vector<PyNode*>* items, absl::string_view close) {
    while (IsOp(",")) {
      Advance();
      if (IsOp(close) || !StartsExpr()) break;
      PyNode* e = ParseStarNamed();
      if (e == nullptr) return false;
      items->push_back(e);
    }
    return Expect(close);
  }

  PyNode* ParseListDisplay() {
    const size_t start = pos_;
    Advance();
    if (IsOp("]")) {
      Advance();
      return NewAt("List", start);
    }
    PyNode* first = ParseStarNamed();
    if (first == nullptr) return nullptr;
    return ParseDisplayRest(start, first, "ListComp", "List", "]");
  }

  // After the first element of a list or set display: a comprehension, or the other items.
  PyNode* ParseDisplayRest(size_t start, PyNode* first, absl::string_view comp_type,
                           absl::string_view display_type, absl::string_view close) {
    if (IsCompFor()) {
      if (first->type == "Starred") {
        return FailNode("iterable unpacking cannot be used in comprehension", first);
      }
      PyNode* comp = NewAt(comp_type, start);
      comp->kids.push_back(first);
      if (!ParseComprehensions(comp) || !Expect(close)) return nullptr;
      return comp;
    }
    PyNode* display = NewAt(display_type, start);
    display->kids.push_back(first);
    if (!ParseItems(&display->kids, close)) return nullptr;
    return display;
  }

  PyNode* ParseDictUnpack() {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    Advance();
    PyNode* value = ParseBinary(1);
    if (value == nullptr) return nullptr;
    PyNode* n = NewAt("Dict.unpack", start);
    n->kids.push_back(value);
    return n;
  }

  PyNode* ParseBraceDisplay() {
    const size_t start = pos_;
    Advance();
    if (IsOp("}")) {
      Advance();
      return NewAt("Dict", start);
    }
    PyNode* dict = nullptr;
    if (IsOp("**")) {
      PyNode* u = ParseDictUnpack();
      if (u == nullptr) return nullptr;
      if (IsCompFor()) {
        return FailNode("dict unpacking cannot be used in dict comprehension", u);
      }
      dict = NewAt("Dict", start);
      dict->kids.push_back(u);
    } else {
      PyNode* first = ParseStarNamed();
      if (first == nullptr) return nullptr;
      if (IsOp(":") && first->type != "Starred") {
        Advance();
        PyNode* value = ParseExpression();
        if (value == nullptr) return nullptr;
        if (IsCompFor()) {
          PyNode* comp = NewAt("DictComp", start);
          comp->kids = {first, value};
          if (!ParseComprehensions(comp) || !Expect("}")) return nullptr;
          return comp;
        }
        dict = NewAt("Dict", start);
        dict->kids = {first, value};
      } else {
        return ParseDisplayRest(start, first, "SetComp", "Set", "}");
      }
    }
    while (IsOp(",")) {
      Advance();
      if (IsOp("}") || EndHere()) break;
      if (IsOp("**")) {
        PyNode* u = ParseDictUnpack();
        if (u == nullptr) return nullptr;
        dict->kids.push_back(u);
        continue;
      }
      PyNode* key = ParseExpression();
      if (key == nullptr) return nullptr;
      if (!IsOp(":") && !EndHere()) return FailNode("':' expected after dictionary key", key);
      if (!Expect(":")) return nullptr;
      PyNode* value = ParseExpression();
      if (value == nullptr) return nullptr;
      dict->kids.push_back(key);
      dict->kids.push_back(value);
    }
    if (!Expect("}")) return nullptr;
    return dict;
  }

  // ('async'? 'for' star_targets 'in' disjunction ('if' disjunction)*)+ appended to owner->kids.
  bool ParseComprehensions(PyNode* owner) {
    while (IsCompFor()) {
      PyNode* comp = NewAt("comprehension", pos_);
      if (IsKw("async")) {
        comp->op = "async";
        Advance();
      }
      Advance();  // 'for'
      PyNode* target = ParseTargetList();
      if (target == nullptr || !CheckTarget(target, TargetUse::kFor) || !ExpectKw("in")) {
        return false;
      }
      PyNode* iter = ParseDisjunction();
      if (iter == nullptr) return false;
      comp->kids = {target, iter};
      while (IsKw("if")) {
        Advance();
        PyNode* cond = ParseDisjunction();
        if (cond == nullptr) return false;
        comp->kids.push_back(cond);
      }
      owner->kids.push_back(comp);
    }
    return true;
  }

  // star_targets as in 'for' (no comparisons): primaries, optionally starred, comma-separated.
  PyNode* ParseTargetList() { return ParseList(&Parser::ParseTargetItem); }
  PyNode* ParseTargetItem() {
    if (!IsOp("*")) return ParsePrimary();
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    Advance();
    PyNode* value = ParseTargetItem();
    if (value == nullptr) return nullptr;
    PyNode* n = NewAt("Starred", start);
    n->kids.push_back(value);
    return n;
  }

  PyNode* ParseYield() {
    const size_t start = pos_;
    Advance();
    if (IsKw("from")) {
      Advance();
      PyNode* value = ParseExpression();
      if (value == nullptr) return nullptr;
      PyNode* n = NewAt("YieldFrom", start);
      n->kids.push_back(value);
      return n;
    }
    PyNode* n = NewAt("Yield", start);
    if (StartsExpr()) {
      PyNode* value = ParseStarExpressions();
      if (value == nullptr) return nullptr;
      n->kids.push_back(value);
    }
    return n;
  }

  PyNode* ParseLambda() {
    const size_t start = pos_;
    Advance();
    PyNode* args = ParseParams(/*is_lambda=*/true);
    if (args == nullptr || !Expect(":")) return nullptr;
    PyNode* body = ParseExpression();
    if (body == nullptr) return nullptr;
    PyNode* n = NewAt("Lambda", start);
    n->kids = {args, body};
    return n;
  }

  // Parameters up to (not including) ')' for a def, ':' for a lambda.
  PyNode* ParseParams(bool is_lambda) {
    const absl::string_view close = is_lambda ? ":" : ")";
    PyNode* args = NewAt("arguments", pos_);
    std::vector<PyNode*> extra;
    bool seen_default = false, seen_slash = false, seen_star = false, seen_kwarg = false;
    bool bare_star = false, any_kwonly = false;
    size_t star_tok = 0;
    while (!IsOp(close) && !EndHere()) {
      if (seen_kwarg) return Fail("arguments cannot follow var-keyword argument", Cur());
      if (IsOp("/")) {
        if (seen_slash) return Fail("/ may appear only once", Cur());
        if (seen_star) return Fail("/ must be ahead of *", Cur());
        if (args->kids.empty()) return Fail("at least one argument must precede /", Cur());
        for (PyNode* a : args->kids) {
          a->type = "arguments.posonlyargs";
          extra.push_back(a);
        }
        args->kids.clear();
        seen_slash = true;
        Advance();
      } else if (IsOp("*") || IsOp("**")) {
        const bool kwarg = IsOp("**");
        if (!kwarg && seen_star) return Fail("* argument may appear only once", Cur());
        const size_t op_tok = pos_;
        Advance();
        if (!kwarg) {
          seen_star = true;
          star_tok = op_tok;
        }
        if (!kwarg && (IsOp(",") || IsOp(close))) {
          bare_star = true;
        } else {
          if (!IsName() && !EndHere()) return Invalid();
          PyNode* a = NewAt(kwarg ? "arguments.kwarg" : "arguments.vararg", pos_);
          if (!ExpectName(&a->name)) return nullptr;
          extra.push_back(a);
          if (!is_lambda && IsOp(":")) {
            Advance();
            PyNode* ann = !kwarg && IsOp("*") ? ParseStarred(/*full=*/true) : ParseExpression();
            if (ann == nullptr) return nullptr;
            PyNode* w = Wrap("arg.annotation", ann);
            w->name = a->name;
            extra.push_back(w);
          }
          if (IsOp("=")) {
            return Fail(kwarg ? "var-keyword argument cannot have default value"
                              : "var-positional argument cannot have default value",
                        Cur());
          }
          if (kwarg) seen_kwarg = true;
        }
      } else {
        if (!IsName()) return Invalid();
        const PyToken& name_tok = Cur();
        PyNode* a = NewAt(seen_star ? "arguments.kwonlyargs" : "arg", pos_);
        a->name = name_tok.text;
        Advance();
        if (seen_star) {
          any_kwonly = true;
          extra.push_back(a);
        } else {
          args->kids.push_back(a);
        }
        if (!is_lambda && IsOp(":")) {
          Advance();
          PyNode* ann = ParseExpression();
          if (ann == nullptr) return nullptr;
          PyNode* w = Wrap("arg.annotation", ann);
          w->name = a->name;
          extra.push_back(w);
        }
        if (IsOp("=")) {
          Advance();
          PyNode* def = ParseExpression();
          if (def == nullptr) return nullptr;
          extra.push_back(Wrap("arguments.defaults", def));
          if (!seen_star) seen_default = true;
        } else if (!seen_star && seen_default && !EndHere()) {
          return Fail("non-default argument follows default argument", name_tok);
        }
      }
      if (!IsOp(",")) break;
      Advance();
    }
    if (bare_star && !any_kwonly && !EndHere()) {
      return Fail("named arguments must follow bare *", toks_[star_tok]);
    }
    std::stable_sort(extra.begin(), extra.end(), [](const PyNode* a, const PyNode* b) {
      return a->line != b->line ? a->line < b->line : a->column < b->column;
    });
    args->extra = std::move(extra);
    return args;
  }

  // ---- Targets ------------------------------------------------------------------------------

  enum class TargetUse { kAssign, kFor, kDelete };

  static absl::string_view Describe(const PyNode* n) {
    const absl::string_view t = n->type;
    if (t == "Constant") {
      if (n->op == "bool" || n->op == "NoneType") return n->text;
      if (n->op == "ellipsis") return "ellipsis";
      return "literal";
    }
    if (t == "Call") return "function call";
    if (t == "Compare") return "comparison";
    if (t == "Lambda") return "lambda";
    if (t == "IfExp") return "conditional expression";
    if (t == "NamedExpr") return "named expression";
    if (t == "Await") return "await expression";
    if (t == "Yield" || t == "YieldFrom") return "yield expression";
    if (t == "ListComp") return "list comprehension";
    if (t == "SetComp") return "set comprehension";
    if (t == "DictComp") return "dict comprehension";
    if (t == "GeneratorExp") return "generator expression";
    if (t == "Dict") return "dict literal";
    if (t == "Set") return "set display";
    if (t == "JoinedStr") return "f-string expression";
    if (t == "Starred") return "starred";
    if (t == "Attribute") return "attribute";
    if (t == "Subscript") return "subscript";
    if (t == "Name") return "name";
    if (t == "Tuple") return "tuple";
    if (t == "List") return "list";
    return "expression";
  }

  // The first node of `n` that cannot be a target, or null.
  static const PyNode* BadTarget(const PyNode* n, bool in_sequence, TargetUse use) {
    const absl::string_view t = n->type;
    if (t == "Name" || t == "Attribute" || t == "Subscript" || t == "<hole>") return nullptr;
    if (t == "Starred") {  // `*a = b` is left to the compiler, as CPython's parser does
      if (use == TargetUse::kDelete || (n->kids[0]->type == "Starred")) return n;
      return BadTarget(n->kids[0], in_sequence, use);
    }
    if (t == "Tuple" || t == "List") {
      for (const PyNode* kid : n->kids) {
        if (const PyNode* bad = BadTarget(kid, true, use)) return bad;
      }
      return nullptr;
    }
    return n;
  }

  // Whether CPython's invalid_named_expression rule, which adds "Maybe you meant '=='", sees
  // `n` as a bitwise_or (not a comparison, boolean, lambda, ... nor True/False/None).
  static bool IsBitwiseOrLevel(const PyNode* n) {
    const absl::string_view t = n->type;
    if (t == "Compare" || t == "BoolOp" || t == "Lambda" || t == "IfExp" || t == "NamedExpr" ||
        t == "GeneratorExp" || t == "Starred") {
      return false;
    }
    if (t == "UnaryOp") return n->op != "Not";
    if (t == "Constant") return n->op != "bool" && n->op != "NoneType";
    return true;
  }

  bool CheckTarget(const PyNode* target, TargetUse use) {
    const PyNode* bad = BadTarget(target, false, use);
    if (bad == nullptr) return true;
    if (use == TargetUse::kDelete) {
      FailNode(absl::StrCat("cannot delete ", Describe(bad)), bad);
    } else if (use == TargetUse::kAssign && (bad->type == "Yield" || bad->type == "YieldFrom")) {
      FailNode("assignment to yield expression not possible", bad);
    } else if (use == TargetUse::kAssign && bad == target && IsBitwiseOrLevel(bad)) {
      FailNode(absl::StrCat("cannot assign to ", Describe(bad),
                            " here. Maybe you meant '==' instead of '='?"),
               bad);
    } else {
      FailNode(absl::StrCat("cannot assign to ", Describe(bad)), bad);
    }
    return false;
  }

  // ---- Statements ---------------------------------------------------------------------------

  void MarkOpen(PyNode* stmt) { stmt->open = partial_ && pos_ >= end_start_; }

  // One statement (or a line of simple ones); never returns without progress or an error.
  bool ParseStatement(std::vector<PyNode*>* out) {
    const size_t before = pos_;
    const bool ok = ParseStatementInto(out);
    if (!failed_ && (!ok || pos_ == before)) Invalid();
    return !failed_;
  }

  bool ParseStatementInto(std::vector<PyNode*>* out) {
    const PyToken& t = Cur();
    PyNode* s = nullptr;
    if (t.kind == Kind::kName) {
      const absl::string_view w = t.text;
      if (w == "if")
        s = ParseIf();
      else if (w == "while")
        s = ParseWhile();
      else if (w == "for")
        s = ParseFor(pos_);
      else if (w == "try")
        s = ParseTry();
      else if (w == "with")
        s = ParseWith(pos_);
      else if (w == "def")
        s = ParseFuncDef(pos_, {});
      else if (w == "class")
        s = ParseClassDef({});
      else if (w == "async")
        s = ParseAsync({});
      else if (w == "match" && LooksLikeMatch())
        s = ParseMatch();
      else
        return ParseSimpleStatements(out);
    } else if (IsOp("@")) {
      s = ParseDecorated();
    } else {
      return ParseSimpleStatements(out);
    }
    if (s == nullptr) return false;
    out->push_back(s);
    return true;
  }

  // A block after a compound statement's header: ':' then an indented suite or simple
  // statements on the same line. `what` names the header for CPython's message.
  bool ParseBlock(std::vector<PyNode*>* body, const PyToken& header, absl::string_view what) {
    if (!Expect(":", "expected ':'")) return false;
    DepthGuard guard(this);
    if (!guard.ok()) return false;
    if (Cur().kind == Kind::kNewline || Cur().kind == Kind::kEnd || Cur().kind == Kind::kDedent) {
      const PyToken& newline = Cur();
      if (Cur().kind == Kind::kNewline) Advance();
      if (Cur().kind != Kind::kIndent) {
        if (EndHere()) return true;
        // CPython reports the next line's first token, or the line end when input ends.
        const bool at_end = pos_ >= end_start_;
        size_t next = pos_;
        while (next + 1 < toks_.size() && toks_[next].kind == Kind::kDedent) ++next;
        Fail(absl::StrCat("expected an indented block after ", what, " on line ", header.line),
             at_end ? newline : toks_[next]);
        return false;
      }
      Advance();
      for (;;) {
        const Kind k = Cur().kind;
        if (k == Kind::kDedent) {
          Advance();
          return true;
        }
        if (k == Kind::kEnd) return true;
        if (k == Kind::kIndent) {
          FailUnexpectedIndent();
          return false;
        }
        if (k == Kind::kNewline) {
          Advance();
          continue;
        }
        if (!ParseStatement(body)) return false;
      }
    }
    return ParseSimpleStatements(body);
  }

  bool ParseSimpleStatements(std::vector<PyNode*>* out) {
    for (;;) {
      PyNode* s = ParseSimpleStatement();
      if (s == nullptr) return false;
      out->push_back(s);
      if (!IsOp(";")) break;
      Advance();
      if (AtLineEnd()) break;
    }
    if (Cur().kind == Kind::kNewline) {
      Advance();
      return true;
    }
    if (EndHere() || Cur().kind == Kind::kEnd) return true;
    Invalid();
    return false;
  }

  PyNode* ParseSimpleStatement() {
    const PyToken& t = Cur();
    const size_t start = pos_;
    if (t.kind == Kind::kName) {
      const absl::string_view w = t.text;
      if (w == "pass" || w == "break" || w == "continue") {
        PyNode* n = NewAt(w == "pass" ? "Pass" : w == "break" ? "Break" : "Continue", start);
        Advance();
        return n;
      }
      if (w == "return") {
        Advance();
        PyNode* n = NewAt("Return", start);
        if (StartsExpr()) {
          PyNode* v = ParseStarExpressions();
          if (v == nullptr) return nullptr;
          n->kids.push_back(v);
        }
        return n;
      }
      if (w == "raise") {
        Advance();
        PyNode* n = NewAt("Raise", start);
        if (StartsExpr()) {
          PyNode* exc = ParseExpression();
          if (exc == nullptr) return nullptr;
          n->kids.push_back(exc);
          if (IsKw("from")) {
            Advance();
            PyNode* cause = ParseExpression();
            if (cause == nullptr) return nullptr;
            n->kids.push_back(cause);
          }
        }
        return n;
      }
      if (w == "global" || w == "nonlocal") {
        Advance();
        PyNode* n = NewAt(w == "global" ? "Global" : "Nonlocal", start);
        for (;;) {
          PyNode* id = NewAt("identifier", pos_);
          if (!ExpectName(&id->name)) return nullptr;
          if (!id->name.empty()) n->kids.push_back(id);
          if (!IsOp(",")) break;
          Advance();
        }
        return n;
      }
      if (w == "del") {
        Advance();
        PyNode* n = NewAt("Delete", start);
        for (;;) {
          PyNode* target = ParseStarExpr();
          if (target == nullptr || !CheckTarget(target, TargetUse::kDelete)) return nullptr;
          n->kids.push_back(target);
          if (!IsOp(",")) break;
          Advance();
          if (!StartsExpr()) break;
        }
        return n;
      }
      if (w == "assert") {
        Advance();
        PyNode* n = NewAt("Assert", start);
        PyNode* test = ParseExpression();
        if (test == nullptr) return nullptr;
        n->kids.push_back(test);
        if (IsOp(",")) {
          Advance();
          PyNode* msg = ParseExpression();
          if (msg == nullptr) return nullptr;
          n->kids.push_back(msg);
        }
        return n;
      }
      if (w == "import") return ParseImport();
      if (w == "from") return ParseFromImport();
    }
    return ParseExpressionStatement();
  }

  PyNode* ParseExpressionStatement() {
    const size_t start = pos_;
    PyNode* first = ParseYieldOrStarExpressions();
    if (first == nullptr) return nullptr;
    if (first->type == "Name" && (first->name == "print" || first->name == "exec") &&
        (Cur().kind == Kind::kName || Cur().kind == Kind::kNumber || Cur().kind == Kind::kString) &&
        !IsKeyword(Cur().text)) {
      return FailNode(absl::StrCat("Missing parentheses in call to '", first->name,
                                   "'. Did you mean ", first->name, "(...)?"),
                      first);
    }
    if (IsOp("=")) {
      PyNode* n = NewAt("Assign", start);
      n->kids.push_back(first);
      while (IsOp("=")) {
        Advance();
        PyNode* v = ParseYieldOrStarExpressions();
        if (v == nullptr) return nullptr;
        n->kids.push_back(v);
      }
      for (size_t i = 0; i + 1 < n->kids.size(); ++i) {
        if (!CheckTarget(n->kids[i], TargetUse::kAssign)) return nullptr;
      }
      return n;
    }
    if (IsOp(":")) {
      const absl::string_view t = first->type;
      if (t == "Tuple") return FailNode("only single target (not tuple) can be annotated", first);
      if (t == "List") return FailNode("only single target (not list) can be annotated", first);
      if (t != "Name" && t != "Attribute" && t != "Subscript" && t != "<hole>") {
        return FailNode("illegal target for annotation", first);
      }
      Advance();
      PyNode* n = NewAt("AnnAssign", start);
      PyNode* ann = ParseExpression();
      if (ann == nullptr) return nullptr;
      n->kids = {first, ann};
      if (IsOp("=")) {
        Advance();
        PyNode* v = ParseYieldOrStarExpressions();
        if (v == nullptr) return nullptr;
        n->kids.push_back(v);
      }
      return n;
    }
    if (Cur().kind == Kind::kOp) {
      for (const AugInfo& a : kAugOps) {
        if (Cur().text != a.token) continue;
        const absl::string_view t = first->type;
        if (t != "Name" && t != "Attribute" && t != "Subscript" && t != "<hole>") {
          return FailNode(absl::StrCat("'", Describe(first),
                                       "' is an illegal expression for augmented assignment"),
                          first);
        }
        Advance();
        PyNode* v = ParseYieldOrStarExpressions();
        if (v == nullptr) return nullptr;
        PyNode* n = NewAt("AugAssign", start);
        n->op = a.name;
        n->kids = {first, v};
        return n;
      }
    }
    PyNode* n = NewAt("Expr", start);
    n->kids.push_back(first);
    return n;
  }

  // NAME ('.' NAME)*; empty at the end of a partial input.
  bool ParseDottedName(absl::string_view* out) {
    absl::string_view first;
    if (!ExpectName(&first)) return false;
    if (!IsOp(".")) {
      *out = first;
      return true;
    }
    std::string joined(first);
    while (IsOp(".")) {
      Advance();
      absl::string_view part;
      if (!ExpectName(&part)) return false;
      absl::StrAppend(&joined, ".", part);
    }
    *out = arena_->Keep(std::move(joined));
    return true;
  }

  PyNode* ParseAlias(bool dotted) {
    PyNode* alias = NewAt("alias", pos_);
    if (dotted) {
      if (!ParseDottedName(&alias->name)) return nullptr;
    } else if (!ExpectName(&alias->name)) {
      return nullptr;
    }
    if (IsKw("as")) {
      Advance();
      if (!ExpectName(&alias->text)) return nullptr;
    }
    return alias;
  }

  PyNode* ParseImport() {
    PyNode* n = NewAt("Import", pos_);
    Advance();
    for (;;) {
      if (EndHere()) break;
      PyNode* alias = ParseAlias(/*dotted=*/true);
      if (alias == nullptr) return nullptr;
      n->kids.push_back(alias);
      if (!IsOp(",")) break;
      Advance();
    }
    return n;
  }

  PyNode* ParseFromImport() {
    PyNode* n = NewAt("ImportFrom", pos_);
    Advance();
    std::string dots;
    while (IsOp(".") || IsOp("...")) {
      absl::StrAppend(&dots, Cur().text);
      Advance();
    }
    n->text = dots.empty() ? absl::string_view() : arena_->Keep(std::move(dots));
    if (IsName()) {
      if (!ParseDottedName(&n->name)) return nullptr;
    } else if (n->text.empty() && !EndHere()) {
      return Invalid();
    }
    if (!ExpectKw("import")) return nullptr;
    if (IsOp("*")) {
      PyNode* alias = NewAt("alias", pos_);
      alias->name = "*";
      Advance();
      n->kids.push_back(alias);
      return n;
    }
    const bool paren = IsOp("(");
    if (paren) Advance();
    for (;;) {
      if (EndHere() || (paren && IsOp(")"))) break;
      PyNode* alias = ParseAlias(/*dotted=*/false);
      if (alias == nullptr) return nullptr;
      n->kids.push_back(alias);
      if (!IsOp(",")) break;
      Advance();
      if (!paren && AtLineEnd() && !EndHere()) {
        return Fail("trailing comma not allowed without surrounding parentheses", Cur());
      }
    }
    if (paren && !Expect(")")) return nullptr;
    if (n->kids.empty() && !EndHere()) return Invalid();
    return n;
  }

  PyNode* ParseIf() {
    PyNode* top = nullptr;
    PyNode* cur = nullptr;
    std::vector<PyNode*> chain;
    ChainGuard links(this);
    for (;;) {
      const PyToken& kw = Cur();
      const bool elif = kw.text == "elif";
      if (elif && !links.Add()) return nullptr;
      PyNode* n = NewAt("If", pos_);
      Advance();
      PyNode* test = ParseNamed();
      if (test == nullptr) return nullptr;
      n->kids.push_back(test);
      if (!ParseBlock(&n->body, kw, elif ? "'elif' statement" : "'if' statement")) {
        return nullptr;
      }
      if (top == nullptr)
        top = n;
      else
        cur->orelse.push_back(n);
      cur = n;
      chain.push_back(n);
      if (IsKw("elif")) continue;
      if (IsKw("else")) {
        const PyToken& else_kw = Cur();
        Advance();
        if (!ParseBlock(&cur->orelse, else_kw, "'else' statement")) return nullptr;
        if (cur->orelse.empty()) cur->orelse.push_back(Hole());  // keeps the 'else' visible
      }
      break;
    }
    for (PyNode* n : chain) MarkOpen(n);
    return top;
  }

  bool ParseElse(PyNode* n) {
    if (!IsKw("else")) return true;
    const PyToken& kw = Cur();
    Advance();
    if (!ParseBlock(&n->orelse, kw, "'else' statement")) return false;
    // An 'else:' the input ended after: a statement hole, as an empty orelse means no 'else'.
    if (n->orelse.empty()) n->orelse.push_back(Hole());
    return true;
  }

  PyNode* ParseWhile() {
    const PyToken& kw = Cur();
    PyNode* n = NewAt("While", pos_);
    Advance();
    PyNode* test = ParseNamed();
    if (test == nullptr) return nullptr;
    n->kids.push_back(test);
    if (!ParseBlock(&n->body, kw, "'while' statement") || !ParseElse(n)) return nullptr;
    MarkOpen(n);
    return n;
  }

  // `start` is the 'for' or the 'async' before it.
  PyNode* ParseFor(size_t start) {
    const bool async = IsKw("async");
    if (async) Advance();
    const PyToken& kw = Cur();
    PyNode* n = NewAt(async ? "AsyncFor" : "For", start);
    Advance();
    PyNode* target = ParseTargetList();
    if (target == nullptr || !CheckTarget(target, TargetUse::kFor) || !ExpectKw("in")) {
      return nullptr;
    }
    PyNode* iter = ParseStarExpressions();
    if (iter == nullptr) return nullptr;
    n->kids = {target, iter};
    if (!ParseBlock(&n->body, kw, "'for' statement") || !ParseElse(n)) return nullptr;
    MarkOpen(n);
    return n;
  }

  PyNode* ParseTry() {
    const PyToken& kw = Cur();
    PyNode* n = NewAt("Try", pos_);
    Advance();
    if (!ParseBlock(&n->body, kw, "'try' statement")) return nullptr;
    bool plain = false, star = false;
    while (IsKw("except")) {
      const PyToken& ekw = Cur();
      PyNode* h = NewAt("ExceptHandler", pos_);
      Advance();
      const bool is_star = IsOp("*");
      if (is_star) Advance();
      if ((is_star && plain) || (!is_star && star)) {
        return Fail("cannot have both 'except' and 'except*' on the same 'try'", ekw);
      }
      (is_star ? star : plain) = true;
      if (!IsOp(":") && !EndHere()) {
        PyNode* type = ParseExpression();
        if (type == nullptr) return nullptr;
        if (IsOp(",")) return FailNode("multiple exception types must be parenthesized", type);
        h->kids.push_back(type);
        if (IsKw("as")) {
          Advance();
          if (!ExpectName(&h->name)) return nullptr;
        }
      } else if (is_star && !EndHere()) {
        return Fail("expected one or more exception types", Cur());
      }
      if (!ParseBlock(&h->body, ekw, is_star ? "'except*' statement" : "'except' statement")) {
        return nullptr;
      }
      n->kids.push_back(h);
    }
    if (star) n->type = "TryStar";
    if (!n->kids.empty() && !ParseElse(n)) return nullptr;
    if (IsKw("finally")) {
      const PyToken& fkw = Cur();
      PyNode* f = NewAt("Try.finalbody", pos_);
      Advance();
      if (!ParseBlock(&f->body, fkw, "'finally' statement")) return nullptr;
      n->extra.push_back(f);
    } else if (n->kids.empty() && !EndHere()) {
      return Fail("expected 'except' or 'finally' block", Cur());
    }
    MarkOpen(n);
    return n;
  }

  PyNode* ParseWithItem() {
    const size_t start = pos_;
    PyNode* e = ParseExpression();
    if (e == nullptr) return nullptr;
    PyNode* item = NewAt("withitem", start);
    item->kids.push_back(e);
    if (IsKw("as")) {
      Advance();
      PyNode* target = ParseTargetItem();
      if (target == nullptr || !CheckTarget(target, TargetUse::kFor)) return nullptr;
      item->kids.push_back(target);
    }
    return item;
  }

  PyNode* ParseWith(size_t start) {
    const bool async = IsKw("async");
    if (async) Advance();
    const PyToken& kw = Cur();
    PyNode* n = NewAt(async ? "AsyncWith" : "With", start);
    Advance();
    bool done = false;
    if (IsOp("(")) {
      // with '(' ','.with_item+ ','? ')' ':' -- tried first, as CPython does.
      const size_t save = pos_;
      Advance();
      std::vector<PyNode*> items;
      bool ok = true;
      for (;;) {
        PyNode* item = ParseWithItem();
        if (item == nullptr) {
          ok = false;
          break;
        }
        items.push_back(item);
        if (!IsOp(",")) break;
        Advance();
        if (IsOp(")")) break;
      }
      if (ok && Expect(")") && (IsOp(":") || EndHere())) {
        n->kids = std::move(items);
        done = true;
      } else {
        pos_ = save;
        failed_ = false;
        failed_at_end_ = false;
        err_ = PySyntaxError();
      }
    }
    if (!done) {
      for (;;) {
        PyNode* item = ParseWithItem();
        if (item == nullptr) return nullptr;
        n->kids.push_back(item);
        if (!IsOp(",")) break;
        Advance();
      }
    }
    if (!ParseBlock(&n->body, kw, "'with' statement")) return nullptr;
    MarkOpen(n);
    return n;
  }

  PyNode* ParseAsync(std::vector<PyNode*> decorators) {
    const size_t start = pos_;
    if (IsKw("def", 1)) return ParseFuncDef(start, std::move(decorators));
    if (decorators.empty()) {
      if (IsKw("for", 1)) return ParseFor(start);
      if (IsKw("with", 1)) return ParseWith(start);
    }
    Advance();
    if (EndHere()) {
      PyNode* hole = Hole();
      hole->extra = std::move(decorators);
      return hole;
    }
    return Invalid();
  }

  PyNode* ParseFuncDef(size_t start, std::vector<PyNode*> decorators) {
    const bool async = IsKw("async");
    if (async) Advance();
    const PyToken& kw = Cur();
    PyNode* n = NewAt(async ? "AsyncFunctionDef" : "FunctionDef", start);
    Advance();
    if (!ExpectName(&n->name) || !Expect("(", "expected '('")) return nullptr;
    PyNode* args = ParseParams(/*is_lambda=*/false);
    if (args == nullptr || !Expect(")")) return nullptr;
    n->kids.push_back(args);
    n->extra = std::move(decorators);
    for (PyNode* d : n->extra) d->type = "FunctionDef.decorator_list";
    if (IsOp("->")) {
      Advance();
      PyNode* ret = ParseExpression();
      if (ret == nullptr) return nullptr;
      n->extra.push_back(Wrap("FunctionDef.returns", ret));
    }
    if (!ParseBlock(&n->body, kw, "function definition")) return nullptr;
    MarkOpen(n);
    return n;
  }

  PyNode* ParseClassDef(std::vector<PyNode*> decorators) {
    const PyToken& kw = Cur();
    PyNode* n = NewAt("ClassDef", pos_);
    Advance();
    if (!ExpectName(&n->name)) return nullptr;
    n->extra = std::move(decorators);
    for (PyNode* d : n->extra) d->type = "ClassDef.decorator_list";
    if (IsOp("(")) {
      DepthGuard guard(this);
      if (!guard.ok()) return nullptr;
      Advance();
      if (!ParseCallArgs(&n->kids, &n->extra, kNoParen) || !Expect(")")) return nullptr;
    }
    if (!ParseBlock(&n->body, kw, "class definition")) return nullptr;
    MarkOpen(n);
    return n;
  }

  PyNode* ParseDecorated() {
    std::vector<PyNode*> decorators;
    while (IsOp("@")) {
      Advance();
      PyNode* e = ParseNamed();
      if (e == nullptr) return nullptr;
      decorators.push_back(Wrap("FunctionDef.decorator_list", e));
      if (Cur().kind == Kind::kNewline) {
        Advance();
      } else if (!EndHere()) {
        return Invalid();
      }
    }
    if (IsKw("def")) return ParseFuncDef(pos_, std::move(decorators));
    if (IsKw("class")) return ParseClassDef(std::move(decorators));
    if (IsKw("async")) return ParseAsync(std::move(decorators));
    if (EndHere()) {
      PyNode* hole = Hole();
      hole->extra = std::move(decorators);
      return hole;
    }
    return Invalid();
  }

  // ---- match --------------------------------------------------------------------------------

  // 'match' is a soft keyword: a statement when its logical line ends with ':' (or, in a
  // partial input, when the line runs to the end and 'match' is followed by an operand).
  bool LooksLikeMatch() const {
    const PyToken& next = Tok(1);
    if (next.kind == Kind::kNewline || next.kind == Kind::kEnd) return false;
    if (next.kind == Kind::kOp) {
      const absl::string_view t = next.text;
      if (t != "(" && t != "[" && t != "{" && t != "-" && t != "+" && t != "~" && t != "*" &&
          t != "...") {
        return false;
      }
    }
    if (next.kind == Kind::kName && IsKeyword(next.text) && next.text != "not" &&
        next.text != "lambda" && next.text != "await" && next.text != "True" &&
        next.text != "False" && next.text != "None") {
      return false;
    }
    int depth = 0;
    size_t i = pos_ + 1;
    for (; i < toks_.size(); ++i) {
      const PyToken& t = toks_[i];
      if (t.kind == Kind::kNewline || t.kind == Kind::kEnd) break;
      if (t.kind == Kind::kOp) {
        if (t.text == "(" || t.text == "[" || t.text == "{")
          ++depth;
        else if (t.text == ")" || t.text == "]" || t.text == "}")
          --depth;
      }
    }
    const PyToken& last = toks_[i - 1];
    if (depth == 0 && last.kind == Kind::kOp && last.text == ":" && i - 1 > pos_ + 1) return true;
    return partial_ && i >= end_start_ && next.kind != Kind::kOp;
  }

  PyNode* ParseMatch() {
    const PyToken& kw = Cur();
    PyNode* n = NewAt("Match", pos_);
    Advance();
    const size_t start = pos_;
    PyNode* first = ParseStarNamed();
    if (first == nullptr) return nullptr;
    PyNode* subject = first;
    if (IsOp(",")) {
      subject = NewAt("Tuple", start);
      subject->kids.push_back(first);
      while (IsOp(",")) {
        Advance();
        if (!StartsExpr()) break;
        PyNode* e = ParseStarNamed();
        if (e == nullptr) return nullptr;
        subject->kids.push_back(e);
      }
    }
    n->kids.push_back(subject);
    if (!Expect(":", "expected ':'")) return nullptr;
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    if (Cur().kind == Kind::kNewline) Advance();
    if (Cur().kind != Kind::kIndent) {
      if (EndHere()) {
        MarkOpen(n);
        return n;
      }
      return Fail(
          absl::StrCat("expected an indented block after 'match' statement on line ", kw.line),
          Cur());
    }
    Advance();
    for (;;) {
      const Kind k = Cur().kind;
      if (k == Kind::kDedent) {
        Advance();
        break;
      }
      if (k == Kind::kEnd) break;
      if (k == Kind::kNewline) {
        Advance();
        continue;
      }
      if (!IsKw("case")) return Invalid();
      const PyToken& ckw = Cur();
      PyNode* c = NewAt("match_case", pos_);
      Advance();
      PyNode* pattern = ParsePatterns();
      if (pattern == nullptr) return nullptr;
      c->kids.push_back(pattern);
      if (IsKw("if")) {
        Advance();
        PyNode* guard_expr = ParseNamed();
        if (guard_expr == nullptr) return nullptr;
        c->kids.push_back(guard_expr);
      }
      if (!ParseBlock(&c->body, ckw, "'case' statement")) return nullptr;
      n->kids.push_back(c);
    }
    MarkOpen(n);
    return n;
  }

  bool PatternEnd() const { return IsOp(":") || IsKw("if") || EndHere(); }

  // patterns: open_sequence_pattern | pattern
  PyNode* ParsePatterns() {
    const size_t start = pos_;
    PyNode* p = ParseMaybeStarPattern();
    if (p == nullptr || !IsOp(",")) return p;
    PyNode* seq = NewAt("MatchSequence", start);
    seq->kids.push_back(p);
    while (IsOp(",")) {
      Advance();
      if (PatternEnd()) break;
      PyNode* q = ParseMaybeStarPattern();
      if (q == nullptr) return nullptr;
      seq->kids.push_back(q);
    }
    return seq;
  }

  PyNode* ParseMaybeStarPattern() {
    if (!IsOp("*")) return ParsePattern();
    PyNode* n = NewAt("MatchStar", pos_);
    Advance();
    if (!ExpectName(&n->name)) return nullptr;
    if (n->name == "_") n->name = absl::string_view();
    return n;
  }

  // pattern: or_pattern ['as' NAME]
  PyNode* ParsePattern() {
    DepthGuard guard(this);
    if (!guard.ok()) return nullptr;
    const size_t start = pos_;
    PyNode* p = ParseClosedPattern();
    if (p == nullptr) return nullptr;
    if (IsOp("|")) {
      PyNode* alt = NewAt("MatchOr", start);
      alt->kids.push_back(p);
      while (IsOp("|")) {
        Advance();
        PyNode* q = ParseClosedPattern();
        if (q == nullptr) return nullptr;
        alt->kids.push_back(q);
      }
      p = alt;
    }
    if (IsKw("as")) {
      Advance();
      PyNode* as = NewAt("MatchAs", start);
      if (!ExpectName(&as->name)) return nullptr;
      as->kids.push_back(p);
      p = as;
    }
    return p;
  }

  // A literal or value for a pattern: signed numbers with + or - (complex), strings, dotted
  // names.
  PyNode* ParsePatternValue() { return ParseBinary(5); }

  PyNode* ParseClosedPattern() {
    const PyToken& t = Cur();
    const size_t start = pos_;
    if (t.kind == Kind::kNumber || t.kind == Kind::kString || IsOp("-")) {
      PyNode* v = ParsePatternValue();
      if (v == nullptr) return nullptr;
      return Wrap("MatchValue", v);
    }
    if (IsKw("None") || IsKw("True") || IsKw("False")) {
      PyNode* v = ParseAtom();
      if (v == nullptr) return nullptr;
      return Wrap("MatchSingleton", v);
    }
    if (IsName()) {
      if (!IsOp(".", 1) && !IsOp("(", 1)) {
        PyNode* n = NewAt("MatchAs", start);
        if (t.text != "_") n->name = t.text;
        Advance();
        return n;
      }
      PyNode* value = NewAt("Name", start);
      value->name = t.text;
      Advance();
      while (IsOp(".")) {
        Advance();
        PyNode* a = NewAt("Attribute", start);
        if (!ExpectName(&a->name)) return nullptr;
        a->kids.push_back(value);
        value = a;
      }
      if (!IsOp("(")) return Wrap("MatchValue", value);
      Advance();
      PyNode* cls = NewAt("MatchClass", start);
      cls->kids.push_back(value);
      while (!IsOp(")") && !EndHere()) {
        if (IsName() && IsOp("=", 1)) {
          PyNode* kw = NewAt("MatchClass.kwd_patterns", pos_);
          kw->name = Cur().text;
          Advance();
          Advance();
          PyNode* p = ParsePattern();
          if (p == nullptr) return nullptr;
          kw->kids.push_back(p);
          cls->extra.push_back(kw);
        } else {
          if (!cls->extra.empty()) {
            return Fail("positional patterns follow keyword patterns", Cur());
          }
          PyNode* p = ParsePattern();
          if (p == nullptr) return nullptr;
          cls->kids.push_back(p);
        }
        if (!IsOp(",")) break;
        Advance();
      }
      if (!Expect(")")) return nullptr;
      return cls;
    }
    if (IsOp("(") || IsOp("[")) {
      const absl::string_view close = IsOp("(") ? ")" : "]";
      const bool paren = close == ")";
      Advance();
      PyNode* seq = NewAt("MatchSequence", start);
      if (IsOp(close)) {
        Advance();
        return seq;
      }
      PyNode* p = ParseMaybeStarPattern();
      if (p == nullptr) return nullptr;
      if (paren && !IsOp(",")) {
        if (!Expect(")")) return nullptr;
        return p;  // a group
      }
      seq->kids.push_back(p);
      while (IsOp(",")) {
        Advance();
        if (IsOp(close) || EndHere()) break;
        PyNode* q = ParseMaybeStarPattern();
        if (q == nullptr) return nullptr;
        seq->kids.push_back(q);
      }
      if (!Expect(close)) return nullptr;
      return seq;
    }
    if (IsOp("{")) {
      Advance();
      PyNode* map = NewAt("MatchMapping", start);
      while (!IsOp("}") && !EndHere()) {
        if (IsOp("**")) {
          Advance();
          if (!ExpectName(&map->name)) return nullptr;
        } else {
          PyNode* key;
          if (IsKw("None") || IsKw("True") || IsKw("False")) {
            key = ParseAtom();
          } else {
            key = ParsePatternValue();
          }
          if (key == nullptr || !Expect(":")) return nullptr;
          PyNode* p = ParsePattern();
          if (p == nullptr) return nullptr;
          map->kids.push_back(key);
          map->kids.push_back(p);
        }
        if (!IsOp(",")) break;
        Advance();
      }
      if (!Expect("}")) return nullptr;
      return map;
    }
    return EndHere() ? Hole() : Invalid();
  }

  const std::vector<PyToken>& toks_;
  const bool partial_;
  PyArena* const arena_;
  size_t pos_ = 0;
  size_t end_start_ = 0;  // the first of the trailing NEWLINE/DEDENT/END tokens
  int end_line_ = 1;      // the end of the last significant token: where holes go
  int end_col_ = 0;
  int depth_ = 0;
  bool failed_ = false;
  bool failed_at_end_ = false;  // the error was found at the END token
  PySyntaxError err_;
};

}  // namespace

PyParseResult ParsePython(absl::string_view source, bool partial, PyArena* arena) {
  PyLexResult lex = LexPython(source, /*allow_open_end=*/partial);
  PyParseResult result;
  if (!lex.ok) {
    result.error.message = lex.error.message.empty() ? "invalid syntax" : lex.error.message;
    result.error.line = lex.error.line;
    result.error.column = lex.error.column;
    // CPython tokenizes as it parses, then on a syntax error tokenizes the rest of the source:
    // most tokenizer errors found then replace the syntax error, but not those it reports only
    // when the parser reaches them (indentation, a stray backslash), and an unclosed bracket
    // replaces it only when the syntax error is on a later line than the bracket.
    const absl::string_view m = lex.error.message;
    const bool never_closed = absl::EndsWith(m, "was never closed");
    const bool lazy = m == "unindent does not match any outer indentation level" ||
                      absl::StartsWith(m, "inconsistent use of tabs") ||
                      m == "too many levels of indentation" ||
                      m == "unexpected character after line continuation character" ||
                      m == "unexpected EOF while parsing";
    if ((never_closed || lazy) && !lex.tokens.empty()) {
      PyToken end{};
      end.kind = PyTokenKind::kEnd;
      end.line = lex.error.line;
      end.column = lex.error.column;
      if (never_closed) {
        end.line = lex.tokens.back().line;
        end.column = lex.tokens.back().column;
      }
      lex.tokens.push_back(end);
      PyArena scratch;
      Parser parser(lex.tokens, /*partial=*/false, &scratch);
      PyParseResult early = parser.Run();
      if (!early.ok && !parser.failed_at_end() && (lazy || early.error.line <= lex.error.line)) {
        result.error = early.error;
      }
    }
    return result;
  }
  if (lex.tokens.empty() || lex.tokens.back().kind != PyTokenKind::kEnd) {
    PyToken end{};
    end.kind = PyTokenKind::kEnd;
    end.line = lex.tokens.empty() ? 1 : lex.tokens.back().line + 1;
    end.column = 0;
    lex.tokens.push_back(end);
  }
  Parser parser(lex.tokens, partial, arena);
  return parser.Run();
}

}  // namespace astcd
