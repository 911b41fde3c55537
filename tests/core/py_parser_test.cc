// ParsePython (core/py_ast.h): every construct named with its CPython class, CPython's source
// positions, CPython-like errors, partial prompts, and hostile inputs. Expected positions and
// messages were taken from CPython 3.11 (`ast.parse`); tests/oracle/py_parser_oracle.py checks
// the positions of whole files against it.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/py_ast.h"
#include "tests/core/test_util.h"
#include "gtest/gtest.h"

namespace astcd {
namespace {

// (Type[!][:op][ name][ text][ ops...] kids... {body...} else{orelse...} x{extra...}); '!' marks
// an open statement.
std::string S(const PyNode* n) {
  std::string s = absl::StrCat("(", n->type);
  if (n->open) s += "!";
  if (!n->op.empty()) absl::StrAppend(&s, ":", n->op);
  if (!n->name.empty()) absl::StrAppend(&s, " ", n->name);
  if (!n->text.empty()) absl::StrAppend(&s, " ", n->text);
  for (absl::string_view op : n->ops) absl::StrAppend(&s, " ", op);
  for (const PyNode* k : n->kids) absl::StrAppend(&s, " ", S(k));
  auto list = [&](absl::string_view open, const std::vector<PyNode*>& v) {
    if (v.empty()) return;
    std::vector<std::string> parts;
    for (const PyNode* k : v) parts.push_back(S(k));
    absl::StrAppend(&s, " ", open, absl::StrJoin(parts, " "), "}");
  };
  list("{", n->body);
  list("else{", n->orelse);
  list("x{", n->extra);
  return s + ")";
}

std::string Error(const PyParseResult& r) {
  return absl::StrCat("ERROR ", r.error.line, ":", r.error.column, " ", r.error.message);
}

// The module's statements, or the error.
std::string Parse(absl::string_view source, bool partial = false) {
  PyArena arena;
  PyParseResult r = ParsePython(source, partial, &arena);
  if (!r.ok) return Error(r);
  EXPECT_NE(r.module, nullptr);
  EXPECT_EQ(r.module->type, "Module");
  EXPECT_FALSE(r.module->open);
  std::vector<std::string> parts;
  for (const PyNode* s : r.module->body) parts.push_back(S(s));
  return absl::StrJoin(parts, " ");
}
std::string Partial(absl::string_view source) { return Parse(source, /*partial=*/true); }

// The expression of a one-expression-statement module.
std::string Ex(absl::string_view source) {
  PyArena arena;
  PyParseResult r = ParsePython(source, false, &arena);
  if (!r.ok) return Error(r);
  if (r.module->body.size() != 1 || r.module->body[0]->type != "Expr") return "not one Expr";
  return S(r.module->body[0]->kids[0]);
}

std::string Err(absl::string_view source, bool partial = false) {
  PyArena arena;
  PyParseResult r = ParsePython(source, partial, &arena);
  if (r.ok) return "OK";
  EXPECT_EQ(r.module, nullptr);
  EXPECT_FALSE(r.error.message.empty());
  return absl::StrCat(r.error.line, ":", r.error.column, " ", r.error.message);
}

// The oracle's view (tests/oracle/py_parser_dump_main.cc): stmt and expr nodes in preorder as
// "Type line col", children in source order, helper nodes left out.
bool IsHelper(absl::string_view t) {
  return t == "arguments" || t == "arg" || t == "keyword" || t == "alias" || t == "comprehension" ||
         t == "withitem" || t == "ExceptHandler" || t == "match_case" || t == "identifier" ||
         t.find('.') != absl::string_view::npos;
}
void Children(const PyNode* n, std::vector<const PyNode*>* out) {
  for (const auto* list : {&n->kids, &n->body, &n->orelse, &n->extra}) {
    for (const PyNode* k : *list) {
      if (k->type.substr(0, 5) == "Match" && k->type != "Match") continue;
      if (IsHelper(k->type))
        Children(k, out);
      else
        out->push_back(k);
    }
  }
}
void Positions(const PyNode* n, std::vector<std::string>* out) {
  std::vector<const PyNode*> kids;
  Children(n, &kids);
  std::stable_sort(kids.begin(), kids.end(), [](const PyNode* a, const PyNode* b) {
    return a->line != b->line ? a->line < b->line : a->column < b->column;
  });
  for (const PyNode* k : kids) {
    std::string type(k->type);
    if (k->type == "Constant") absl::StrAppend(&type, "[", k->op, "]");
    out->push_back(absl::StrCat(type, " ", k->line, " ", k->column));
    Positions(k, out);
  }
}
std::string Positions(absl::string_view source) {
  PyArena arena;
  PyParseResult r = ParsePython(source, false, &arena);
  if (!r.ok) return Error(r);
  std::vector<std::string> out;
  Positions(r.module, &out);
  return absl::StrJoin(out, " | ");
}

// ---- Expressions ----------------------------------------------------------------------------

TEST(PyParser, ArithmeticPrecedenceAndAssociativity) {
  EXPECT_EQ(Ex("a + b * c"), "(BinOp:Add (Name a) (BinOp:Mult (Name b) (Name c)))");
  EXPECT_EQ(Ex("a * b + c"), "(BinOp:Add (BinOp:Mult (Name a) (Name b)) (Name c))");
  EXPECT_EQ(Ex("a - b - c"), "(BinOp:Sub (BinOp:Sub (Name a) (Name b)) (Name c))");
  EXPECT_EQ(Ex("a / b // c % d @ e"),
            "(BinOp:MatMult (BinOp:Mod (BinOp:FloorDiv (BinOp:Div (Name a) (Name b)) (Name c)) "
            "(Name d)) (Name e))");
  EXPECT_EQ(Ex("a | b ^ c & d << e + f * g"),
            "(BinOp:BitOr (Name a) (BinOp:BitXor (Name b) (BinOp:BitAnd (Name c) (BinOp:LShift "
            "(Name d) (BinOp:Add (Name e) (BinOp:Mult (Name f) (Name g)))))))");
  EXPECT_EQ(Ex("a >> b << c"), "(BinOp:LShift (BinOp:RShift (Name a) (Name b)) (Name c))");
  EXPECT_EQ(Ex("(a + b) * c"), "(BinOp:Mult (BinOp:Add (Name a) (Name b)) (Name c))");
}

TEST(PyParser, PowerAndUnary) {
  EXPECT_EQ(Ex("-2**2"), "(UnaryOp:USub (BinOp:Pow (Constant:int 2) (Constant:int 2)))");
  EXPECT_EQ(Ex("2**-1"), "(BinOp:Pow (Constant:int 2) (UnaryOp:USub (Constant:int 1)))");
  EXPECT_EQ(Ex("a**b**c"), "(BinOp:Pow (Name a) (BinOp:Pow (Name b) (Name c)))");
  EXPECT_EQ(Ex("~a + +b"), "(BinOp:Add (UnaryOp:Invert (Name a)) (UnaryOp:UAdd (Name b)))");
  EXPECT_EQ(Ex("- -a"), "(UnaryOp:USub (UnaryOp:USub (Name a)))");
  EXPECT_EQ(Ex("-a * b"), "(BinOp:Mult (UnaryOp:USub (Name a)) (Name b))");
}

TEST(PyParser, BooleansAndComparisons) {
  EXPECT_EQ(Ex("not a == b"), "(UnaryOp:Not (Compare Eq (Name a) (Name b)))");
  EXPECT_EQ(Ex("a or b or c and d"),
            "(BoolOp:Or (Name a) (Name b) (BoolOp:And (Name c) (Name d)))");
  EXPECT_EQ(Ex("(a or b) or c"), "(BoolOp:Or (BoolOp:Or (Name a) (Name b)) (Name c))");
  EXPECT_EQ(Ex("a and not b and c"), "(BoolOp:And (Name a) (UnaryOp:Not (Name b)) (Name c))");
  EXPECT_EQ(Ex("a < b <= c not in d is not e in f is g > h >= i != j"),
            "(Compare Lt LtE NotIn IsNot In Is Gt GtE NotEq (Name a) (Name b) (Name c) (Name d) "
            "(Name e) (Name f) (Name g) (Name h) (Name i) (Name j))");
  EXPECT_EQ(Ex("a | b < c"), "(Compare Lt (BinOp:BitOr (Name a) (Name b)) (Name c))");
}

TEST(PyParser, ConditionalLambdaNamedAwaitYield) {
  EXPECT_EQ(Ex("a if b else c if d else e"),
            "(IfExp (Name b) (Name a) (IfExp (Name d) (Name c) (Name e)))");
  EXPECT_EQ(Ex("(y := f(x))"), "(NamedExpr (Name y) (Call (Name f) (Name x)))");
  EXPECT_EQ(Ex("lambda: 0"), "(Lambda (arguments) (Constant:int 0))");
  EXPECT_EQ(Ex("lambda a, b=1, *c, d, e=2, **f: a if b else c"),
            "(Lambda (arguments (arg a) (arg b) x{(arguments.defaults (Constant:int 1)) "
            "(arguments.vararg c) (arguments.kwonlyargs d) (arguments.kwonlyargs e) "
            "(arguments.defaults (Constant:int 2)) (arguments.kwarg f)}) "
            "(IfExp (Name b) (Name a) (Name c)))");
  EXPECT_EQ(Ex("await x"), "(Await (Name x))");
  EXPECT_EQ(Parse("x = yield\ny = yield a, b\nz = yield from w\nyield"),
            "(Assign (Name x) (Yield)) (Assign (Name y) (Yield (Tuple (Name a) (Name b)))) "
            "(Assign (Name z) (YieldFrom (Name w))) (Expr (Yield))");
  EXPECT_EQ(Ex("f((yield))"), "(Call (Name f) (Yield))");
}

TEST(PyParser, Constants) {
  EXPECT_EQ(Parse("1\n1.5\n1j\n0x1F\n1_000\n1e-3"),
            "(Expr (Constant:int 1)) (Expr (Constant:float 1.5)) (Expr (Constant:complex 1j)) "
            "(Expr (Constant:int 0x1F)) (Expr (Constant:int 1_000)) (Expr (Constant:float 1e-3))");
  EXPECT_EQ(Parse("True\nFalse\nNone\n..."),
            "(Expr (Constant:bool True)) (Expr (Constant:bool False)) "
            "(Expr (Constant:NoneType None)) (Expr (Constant:ellipsis ...))");
  EXPECT_EQ(Ex("'s'"), "(Constant:str 's')");
  EXPECT_EQ(Ex("b'b' rb'c'"), "(Constant:bytes b'b' rb'c')");
  // Adjacent literals are one node whose text spans them all (across lines in brackets).
  EXPECT_EQ(Ex("('a'  # c\n \"b\")"), "(Constant:str 'a'  # c\n \"b\")");
  EXPECT_EQ(Ex("f'{x}'"), "(JoinedStr f'{x}' (FormattedValue (Name x)))");
}

TEST(PyParser, FStrings) {
  // Literal pieces merge into one Constant (its text is their source span).
  EXPECT_EQ(Ex("'a' f'b{x}c' 'd'"),
            "(JoinedStr 'a' f'b{x}c' 'd' (Constant:str a' f'b) (FormattedValue (Name x)) "
            "(Constant:str c' 'd))");
  EXPECT_EQ(Ex("f'{a!r:>{w}}{{}}'"),
            "(JoinedStr f'{a!r:>{w}}{{}}' (FormattedValue:r (Name a) (JoinedStr (Constant:str >) "
            "(FormattedValue (Name w)))) (Constant:str {{}}))");
  EXPECT_EQ(Ex("f'{x=}'"), "(JoinedStr f'{x=}' (Constant:str x=) (FormattedValue:r (Name x)))");
  EXPECT_EQ(Ex("f'{ f(a, b=1) + [i for i in c] }'"),
            "(JoinedStr f'{ f(a, b=1) + [i for i in c] }' (FormattedValue (BinOp:Add (Call "
            "(Name f) (Name a) x{(keyword b (Constant:int 1))}) (ListComp (Name i) "
            "(comprehension (Name i) (Name c))))))");
  EXPECT_EQ(Ex("f\"{f'{x}'}\""),
            "(JoinedStr f\"{f'{x}'}\" (FormattedValue (JoinedStr f'{x}' (FormattedValue "
            "(Name x)))))");
  EXPECT_EQ(Ex("f'\\{x}\\N{BULLET}'"),
            "(JoinedStr f'\\{x}\\N{BULLET}' (Constant:str \\) (FormattedValue (Name x)) "
            "(Constant:str \\N{BULLET}))");
  // Expressions keep their real positions; CPython 3.11 puts Constant and FormattedValue at
  // the whole string's start (and a format spec's last piece at its literal).
  EXPECT_EQ(Positions("x = f'{a}' f'{b!r:>{w}}'\n(f'U{s}'\n f'.{m:06d}{n=}')\n"
                      "f'''\n{a}\n  {b +\n c}'''\n"),
            "Assign 1 0 | Name 1 0 | JoinedStr 1 4 | FormattedValue 1 4 | Name 1 7 | "
            "FormattedValue 1 4 | JoinedStr 1 11 | Constant[str] 1 4 | FormattedValue 1 4 | "
            "Name 1 20 | Name 1 14 | Expr 2 0 | JoinedStr 2 1 | Constant[str] 2 1 | "
            "FormattedValue 2 1 | Name 2 5 | Constant[str] 2 1 | FormattedValue 2 1 | "
            "JoinedStr 3 1 | Constant[str] 3 1 | Name 3 5 | Constant[str] 2 1 | "
            "FormattedValue 2 1 | Name 3 12 | Expr 4 0 | JoinedStr 4 0 | Constant[str] 4 0 | "
            "FormattedValue 4 0 | Name 5 1 | Constant[str] 4 0 | FormattedValue 4 0 | "
            "BinOp 6 3 | Name 6 3 | Name 7 1");
  // Errors, with CPython's messages (at the token after the string, as CPython reports them).
  EXPECT_EQ(Err("f'{}'"), "1:5 f-string: empty expression not allowed");
  EXPECT_EQ(Err("f'{a!x}'"),
            "1:8 f-string: invalid conversion character: expected 's', 'r', or 'a'");
  EXPECT_EQ(Err("f'}'"), "1:4 f-string: single '}' is not allowed");
  EXPECT_EQ(Err("f'{a'"), "1:5 f-string: expecting '}'");
  EXPECT_EQ(Err("f'{a:{b:{c}}}'"), "1:14 f-string: expressions nested too deeply");
  EXPECT_EQ(Err("f'{#}'"), "1:6 f-string expression part cannot include '#'");
  EXPECT_EQ(Err("f'{a[}'"),
            "1:7 f-string: closing parenthesis '}' does not match opening parenthesis '['");
  EXPECT_EQ(Err("f'{\\n}'"), "1:7 f-string expression part cannot include a backslash");
  EXPECT_EQ(Err("f'{a b}'").substr(4), "f-string: invalid syntax. Perhaps you forgot a comma?");
  EXPECT_EQ(Err("f'{x:=1}'"), "OK");  // a format spec "=1"
}

TEST(PyParser, Displays) {
  EXPECT_EQ(Parse("()\n(1,)\n(1)\n1, 2\n[]\n[1, *a]\n{}\n{1: 2, **m}\n{1, *s}"),
            "(Expr (Tuple)) (Expr (Tuple (Constant:int 1))) (Expr (Constant:int 1)) "
            "(Expr (Tuple (Constant:int 1) (Constant:int 2))) (Expr (List)) "
            "(Expr (List (Constant:int 1) (Starred (Name a)))) (Expr (Dict)) "
            "(Expr (Dict (Constant:int 1) (Constant:int 2) (Dict.unpack (Name m)))) "
            "(Expr (Set (Constant:int 1) (Starred (Name s))))");
  EXPECT_EQ(Ex("[x for x in y if c if d for z in x]"),
            "(ListComp (Name x) (comprehension (Name x) (Name y) (Name c) (Name d)) "
            "(comprehension (Name z) (Name x)))");
  EXPECT_EQ(Ex("{x for x in y}"), "(SetComp (Name x) (comprehension (Name x) (Name y)))");
  EXPECT_EQ(Ex("{k: v for k, v in d}"),
            "(DictComp (Name k) (Name v) (comprehension (Tuple (Name k) (Name v)) (Name d)))");
  EXPECT_EQ(Ex("(x for x in y)"), "(GeneratorExp (Name x) (comprehension (Name x) (Name y)))");
  EXPECT_EQ(Ex("[x async for x in y]"),
            "(ListComp (Name x) (comprehension:async (Name x) (Name y)))");
  EXPECT_EQ(Ex("[y := 1, *a]"), "(List (NamedExpr (Name y) (Constant:int 1)) (Starred (Name a)))");
}

TEST(PyParser, Trailers) {
  EXPECT_EQ(Ex("a.b.c"), "(Attribute c (Attribute b (Name a)))");
  EXPECT_EQ(Ex("f(a, *b, c=1, **d)"),
            "(Call (Name f) (Name a) (Starred (Name b)) x{(keyword c (Constant:int 1)) "
            "(keyword (Name d))})");
  EXPECT_EQ(Ex("f(x for x in y)"),
            "(Call (Name f) (GeneratorExp (Name x) (comprehension (Name x) (Name y))))");
  EXPECT_EQ(Ex("f(a)(b)[c].d"),
            "(Attribute d (Subscript (Call (Call (Name f) (Name a)) (Name b)) (Name c)))");
  EXPECT_EQ(Ex("a[1]"), "(Subscript (Name a) (Constant:int 1))");
  EXPECT_EQ(Ex("a[1:2]"),
            "(Subscript (Name a) (Slice:lower,upper (Constant:int 1) "
            "(Constant:int 2)))");
  EXPECT_EQ(Ex("a[:2]"), "(Subscript (Name a) (Slice:upper (Constant:int 2)))");
  EXPECT_EQ(Ex("a[::3]"), "(Subscript (Name a) (Slice:step (Constant:int 3)))");
  EXPECT_EQ(Ex("a[:]"), "(Subscript (Name a) (Slice))");
  EXPECT_EQ(Ex("a[1:2, 3]"),
            "(Subscript (Name a) (Tuple (Slice:lower,upper (Constant:int 1) (Constant:int 2)) "
            "(Constant:int 3)))");
  EXPECT_EQ(Ex("a[*b]"), "(Subscript (Name a) (Tuple (Starred (Name b))))");
  EXPECT_EQ(Ex("a[b:=1]"), "(Subscript (Name a) (NamedExpr (Name b) (Constant:int 1)))");
}

// ---- Statements -----------------------------------------------------------------------------

TEST(PyParser, Assignments) {
  EXPECT_EQ(Parse("a = b = c"), "(Assign (Name a) (Name b) (Name c))");
  EXPECT_EQ(Parse("a.b, c[0] = [d, *e] = f"),
            "(Assign (Tuple (Attribute b (Name a)) (Subscript (Name c) (Constant:int 0))) "
            "(List (Name d) (Starred (Name e))) (Name f))");
  EXPECT_EQ(Parse("*a, b = c"), "(Assign (Tuple (Starred (Name a)) (Name b)) (Name c))");
  EXPECT_EQ(Parse("(a) = 1"), "(Assign (Name a) (Constant:int 1))");
  EXPECT_EQ(Parse("x: int"), "(AnnAssign (Name x) (Name int))");
  EXPECT_EQ(Parse("x.y: int = 1"),
            "(AnnAssign (Attribute y (Name x)) (Name int) (Constant:int 1))");
  const char* ops[][2] = {{"+=", "Add"},       {"-=", "Sub"},   {"*=", "Mult"},   {"/=", "Div"},
                          {"//=", "FloorDiv"}, {"%=", "Mod"},   {"**=", "Pow"},   {"<<=", "LShift"},
                          {">>=", "RShift"},   {"|=", "BitOr"}, {"^=", "BitXor"}, {"&=", "BitAnd"},
                          {"@=", "MatMult"}};
  for (const auto& [token, name] : ops) {
    EXPECT_EQ(Parse(absl::StrCat("x[0] ", token, " 1")),
              absl::StrCat("(AugAssign:", name,
                           " (Subscript (Name x) (Constant:int 0)) "
                           "(Constant:int 1))"));
  }
}

TEST(PyParser, SimpleStatements) {
  EXPECT_EQ(Parse("return\nreturn a, *b\nraise\nraise E from c\npass; break; continue;"),
            "(Return) (Return (Tuple (Name a) (Starred (Name b)))) (Raise) "
            "(Raise (Name E) (Name c)) (Pass) (Break) (Continue)");
  EXPECT_EQ(Parse("del a, b[0], (c, d)"),
            "(Delete (Name a) (Subscript (Name b) (Constant:int 0)) (Tuple (Name c) (Name d)))");
  EXPECT_EQ(Parse("global a, b\nnonlocal c"),
            "(Global (identifier a) (identifier b)) (Nonlocal (identifier c))");
  EXPECT_EQ(Parse("import a.b as c, d\nfrom ..m.n import (x as y, z,)\nfrom . import *"),
            "(Import (alias a.b c) (alias d)) (ImportFrom m.n .. (alias x y) (alias z)) "
            "(ImportFrom . (alias *))");
  EXPECT_EQ(Parse("from ... import x"), "(ImportFrom ... (alias x))");
  EXPECT_EQ(Parse("assert a, 'm'"), "(Assert (Name a) (Constant:str 'm'))");
  EXPECT_EQ(Parse("match = 1\nmatch(x)\ncase.y = 2"),
            "(Assign (Name match) (Constant:int 1)) (Expr (Call (Name match) (Name x))) "
            "(Assign (Attribute y (Name case)) (Constant:int 2))");
}

TEST(PyParser, CompoundStatements) {
  EXPECT_EQ(Parse("if a:\n  pass\nelif b:\n  pass\nelse:\n  pass"),
            "(If (Name a) {(Pass)} else{(If (Name b) {(Pass)} else{(Pass)})})");
  EXPECT_EQ(Parse("while a: pass\nelse: x = 1; y = 2"),
            "(While (Name a) {(Pass)} else{(Assign (Name x) (Constant:int 1)) "
            "(Assign (Name y) (Constant:int 2))})");
  EXPECT_EQ(Parse("for x, y in z:\n  pass\nelse:\n  pass"),
            "(For (Tuple (Name x) (Name y)) (Name z) {(Pass)} else{(Pass)})");
  EXPECT_EQ(Parse("for x in *a, b: pass"),
            "(For (Name x) (Tuple (Starred (Name a)) (Name b)) {(Pass)})");
  EXPECT_EQ(Parse("try:\n  pass\nexcept E as e:\n  pass\nexcept:\n  pass\nelse:\n  pass\n"
                  "finally:\n  pass"),
            "(Try (ExceptHandler e (Name E) {(Pass)}) (ExceptHandler {(Pass)}) {(Pass)} "
            "else{(Pass)} x{(Try.finalbody {(Pass)})})");
  EXPECT_EQ(Parse("try:\n  pass\nexcept* (A, B):\n  pass"),
            "(TryStar (ExceptHandler (Tuple (Name A) (Name B)) {(Pass)}) {(Pass)})");
  EXPECT_EQ(Parse("with a as b, c: pass"),
            "(With (withitem (Name a) (Name b)) (withitem (Name c)) {(Pass)})");
  EXPECT_EQ(Parse("with (a as b, c as d,): pass"),
            "(With (withitem (Name a) (Name b)) (withitem (Name c) (Name d)) {(Pass)})");
  EXPECT_EQ(Parse("with (a, b): pass"), "(With (withitem (Name a)) (withitem (Name b)) {(Pass)})");
  EXPECT_EQ(Parse("with (a, b) as c: pass"),
            "(With (withitem (Tuple (Name a) (Name b)) (Name c)) {(Pass)})");
  EXPECT_EQ(Parse("async def g():\n  async for x in y: pass\n  async with a as b: pass"),
            "(AsyncFunctionDef g (arguments) {(AsyncFor (Name x) (Name y) {(Pass)}) "
            "(AsyncWith (withitem (Name a) (Name b)) {(Pass)})})");
}

TEST(PyParser, FunctionsAndClasses) {
  EXPECT_EQ(Parse("def f(a, b):\n  return a"),
            "(FunctionDef f (arguments (arg a) (arg b)) {(Return (Name a))})");
  EXPECT_EQ(Parse("@d1\n@d2.x(1)\n"
                  "def f(a, b: int = 1, /, c=2, *args: str, d, e: int = 3, **kw) -> R:\n"
                  "  '''doc'''"),
            "(FunctionDef f (arguments (arg c) x{(arguments.posonlyargs a) "
            "(arguments.posonlyargs b) (arg.annotation b (Name int)) (arguments.defaults "
            "(Constant:int 1)) (arguments.defaults (Constant:int 2)) (arguments.vararg args) "
            "(arg.annotation args (Name str)) (arguments.kwonlyargs d) (arguments.kwonlyargs e) "
            "(arg.annotation e (Name int)) (arguments.defaults (Constant:int 3)) "
            "(arguments.kwarg kw)}) {(Expr (Constant:str '''doc'''))} "
            "x{(FunctionDef.decorator_list (Name d1)) (FunctionDef.decorator_list (Call "
            "(Attribute x (Name d2)) (Constant:int 1))) (FunctionDef.returns (Name R))})");
  EXPECT_EQ(Parse("def f(*, a): pass"),
            "(FunctionDef f (arguments x{(arguments.kwonlyargs a)}) {(Pass)})");
  EXPECT_EQ(Parse("def f(*args: *Ts): pass"),
            "(FunctionDef f (arguments x{(arguments.vararg args) (arg.annotation args (Starred "
            "(Name Ts)))}) {(Pass)})");
  EXPECT_EQ(Parse("@dec\nclass C(B, metaclass=M, **kw):\n  x = 1"),
            "(ClassDef C (Name B) {(Assign (Name x) (Constant:int 1))} "
            "x{(ClassDef.decorator_list (Name dec)) (keyword metaclass (Name M)) "
            "(keyword (Name kw))})");
  EXPECT_EQ(Parse("class C: pass"), "(ClassDef C {(Pass)})");
}

TEST(PyParser, Match) {
  EXPECT_EQ(Parse("match p:\n"
                  "  case [1, *rest] if rest:\n"
                  "    pass\n"
                  "  case {'k': v, **kw} | Point(x=0, y=_) as q:\n"
                  "    pass\n"
                  "  case -1 | 1+2j | 's' | None | a.b:\n"
                  "    pass\n"
                  "  case _:\n"
                  "    x = 1"),
            "(Match (Name p) (match_case (MatchSequence (MatchValue (Constant:int 1)) "
            "(MatchStar rest)) (Name rest) {(Pass)}) (match_case (MatchAs q (MatchOr "
            "(MatchMapping kw (Constant:str 'k') (MatchAs v)) (MatchClass (Name Point) "
            "x{(MatchClass.kwd_patterns x (MatchValue (Constant:int 0))) "
            "(MatchClass.kwd_patterns y (MatchAs))}))) {(Pass)}) (match_case (MatchOr "
            "(MatchValue (UnaryOp:USub (Constant:int 1))) (MatchValue (BinOp:Add (Constant:int "
            "1) (Constant:complex 2j))) (MatchValue (Constant:str 's')) (MatchSingleton "
            "(Constant:NoneType None)) (MatchValue (Attribute b (Name a)))) {(Pass)}) "
            "(match_case (MatchAs) {(Assign (Name x) (Constant:int 1))}))");
  EXPECT_EQ(Parse("match a, *b:\n  case (1, 2): pass"),
            "(Match (Tuple (Name a) (Starred (Name b))) (match_case (MatchSequence (MatchValue "
            "(Constant:int 1)) (MatchValue (Constant:int 2))) {(Pass)}))");
}

TEST(PyParser, BlocksOnOneLineAndBlankLines) {
  EXPECT_EQ(Parse("if x: a = 1; b = 2\n"),
            "(If (Name x) {(Assign (Name a) (Constant:int 1)) (Assign (Name b) (Constant:int "
            "2))})");
  EXPECT_EQ(Parse("\n\n# comment\ndef f():\n\n    # c\n    pass\n\n"),
            "(FunctionDef f (arguments) {(Pass)})");
  EXPECT_EQ(Parse(""), "");
  EXPECT_EQ(Parse("x = (1 +\n     2) \\\n  + 3"),
            "(Assign (Name x) (BinOp:Add (BinOp:Add (Constant:int 1) (Constant:int 2)) "
            "(Constant:int 3)))");
}

// ---- Positions ------------------------------------------------------------------------------

TEST(PyParser, PositionsMatchCPython) {
  // Expected: CPython 3.11's lineno/col_offset, listed as the oracle lists them.
  EXPECT_EQ(Positions("@dec\n"
                      "def f(a, *, b=(1 + 2)):\n"
                      "    x = (a + b) * c, (d)\n"
                      "    y = (a).b(c)[d:e, ::2]\n"
                      "    z = f(x for x in y) if not -2**2 else [*k]\n"
                      "    return {**m, 'k': \"v\" 'w'}\n"
                      "async def g():\n"
                      "    async with a as b, (c): await h(lambda q: q)\n"
                      "class K(B): pass\n"),
            "FunctionDef 2 0 | Name 1 1 | BinOp 2 15 | Constant[int] 2 15 | Constant[int] 2 19 | "
            "Assign 3 4 | Name 3 4 | Tuple 3 8 | BinOp 3 8 | BinOp 3 9 | Name 3 9 | Name 3 13 | "
            "Name 3 18 | Name 3 22 | Assign 4 4 | Name 4 4 | Subscript 4 8 | Call 4 8 | "
            "Attribute 4 8 | Name 4 9 | Name 4 14 | Tuple 4 17 | Slice 4 17 | Name 4 17 | "
            "Name 4 19 | Slice 4 22 | Constant[int] 4 24 | Assign 5 4 | Name 5 4 | IfExp 5 8 | "
            "Call 5 8 | Name 5 8 | GeneratorExp 5 9 | Name 5 10 | Name 5 16 | Name 5 21 | "
            "UnaryOp 5 27 | UnaryOp 5 31 | BinOp 5 32 | Constant[int] 5 32 | Constant[int] 5 35 | "
            "List 5 42 | Starred 5 43 | Name 5 44 | Return 6 4 | Dict 6 11 | Name 6 14 | "
            "Constant[str] 6 17 | Constant[str] 6 22 | AsyncFunctionDef 7 0 | AsyncWith 8 4 | "
            "Name 8 15 | Name 8 20 | Name 8 24 | Expr 8 28 | Await 8 28 | Call 8 34 | "
            "Name 8 34 | Lambda 8 36 | Name 8 46 | ClassDef 9 0 | Name 9 8 | Pass 9 12");
  EXPECT_EQ(Positions("(a + b)"), "Expr 1 0 | BinOp 1 1 | Name 1 1 | Name 1 5");
  EXPECT_EQ(Positions("(a).b"), "Expr 1 0 | Attribute 1 0 | Name 1 1");
  EXPECT_EQ(Positions("(a) or b < c"),
            "Expr 1 0 | BoolOp 1 0 | Name 1 1 | Compare 1 7 | Name 1 7 | Name 1 11");
  EXPECT_EQ(Positions("x = 1, (2, 3)"),
            "Assign 1 0 | Name 1 0 | Tuple 1 4 | Constant[int] 1 4 | Tuple 1 7 | "
            "Constant[int] 1 8 | Constant[int] 1 11");
  EXPECT_EQ(Positions("for (a, b) in c: pass\nfor a, b in c: pass"),
            "For 1 0 | Tuple 1 4 | Name 1 5 | Name 1 8 | Name 1 14 | Pass 1 17 | For 2 0 | "
            "Tuple 2 4 | Name 2 4 | Name 2 7 | Name 2 12 | Pass 2 15");
  EXPECT_EQ(Positions("@a\n@b\nasync def f(): pass"),
            "AsyncFunctionDef 3 0 | Name 1 1 | Name 2 1 | Pass 3 15");
  EXPECT_EQ(Positions("if a:\n  pass\nelif b:\n  pass"),
            "If 1 0 | Name 1 3 | Pass 2 2 | If 3 0 | Name 3 5 | Pass 4 2");
  EXPECT_EQ(Positions("s = ('a'\n     'b')"), "Assign 1 0 | Name 1 0 | Constant[str] 1 5");
  // Columns are UTF-8 bytes.
  EXPECT_EQ(Positions("'é' + x"), "Expr 1 0 | BinOp 1 0 | Constant[str] 1 0 | Name 1 7");
}

TEST(PyParser, ModuleHasLineOneColumnZero) {
  PyArena arena;
  PyParseResult r = ParsePython("x\n", false, &arena);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.module->line, 1);
  EXPECT_EQ(r.module->column, 0);
}

// ---- Errors ---------------------------------------------------------------------------------

TEST(PyParser, SyntaxErrorsLikeCPython) {
  // line:column (0-based, CPython's offset - 1) and message, as CPython 3.11 reports them.
  EXPECT_EQ(Err("x = = 1"), "1:4 invalid syntax");
  EXPECT_EQ(Err("a b"), "1:2 invalid syntax");
  EXPECT_EQ(Err("x = 1 +"), "1:7 invalid syntax");
  EXPECT_EQ(Err("if x\n  pass"), "1:4 expected ':'");
  EXPECT_EQ(Err("if x:\npass"), "2:0 expected an indented block after 'if' statement on line 1");
  EXPECT_EQ(Err("def f(a):"), "1:9 expected an indented block after function definition on line 1");
  EXPECT_EQ(Err("def f():\n  if x:\n  y = 1"),
            "3:2 expected an indented block after 'if' statement on line 2");
  EXPECT_EQ(Err("x = 1\n  y = 2"), "2:1 unexpected indent");
  EXPECT_EQ(Err("def f(x):\n  return\n    x"), "3:3 unexpected indent");
  EXPECT_EQ(Err("def f:\n pass"), "1:5 expected '('");
  EXPECT_EQ(Err("else: pass"), "1:0 invalid syntax");
  EXPECT_EQ(Err("while x:\n  pass\nelse:\n  pass\n  else: pass"), "5:2 invalid syntax");
  EXPECT_EQ(Err("try:\n  x\ny = 1"), "3:0 expected 'except' or 'finally' block");
  EXPECT_EQ(Err("try:\n  x\nexcept A, B:\n  pass"),
            "3:7 multiple exception types must be parenthesized");
  EXPECT_EQ(Err("x: int, y: int = 1, 2"), "1:6 invalid syntax");
  EXPECT_EQ(Err("(a, b): int"), "1:0 only single target (not tuple) can be annotated");
  EXPECT_EQ(Err("x = [1, 2 3]"), "1:8 invalid syntax. Perhaps you forgot a comma?");
  EXPECT_EQ(Err("print 'hello'"),
            "1:0 Missing parentheses in call to 'print'. Did you mean print(...)?");
}

TEST(PyParser, InvalidTargets) {
  EXPECT_EQ(Err("1 = x"),
            "1:0 cannot assign to literal here. Maybe you meant '==' instead of '='?");
  EXPECT_EQ(Err("f() = 1"),
            "1:0 cannot assign to function call here. Maybe you meant '==' instead of '='?");
  EXPECT_EQ(Err("(a, f()) = 1"), "1:4 cannot assign to function call");
  EXPECT_EQ(Err("True = 1"), "1:0 cannot assign to True");
  EXPECT_EQ(Err("a < b = 1"), "1:0 cannot assign to comparison");
  EXPECT_EQ(Err("x = yield = 1"), "1:4 assignment to yield expression not possible");
  EXPECT_EQ(Err("for 1 in x: pass"), "1:4 cannot assign to literal");
  EXPECT_EQ(Err("with a as f(): pass"), "1:10 cannot assign to function call");
  EXPECT_EQ(Err("[x for 1 in y]"), "1:7 cannot assign to literal");
  EXPECT_EQ(Err("del f()"), "1:4 cannot delete function call");
  EXPECT_EQ(Err("del *a"), "1:4 cannot delete starred");
  EXPECT_EQ(Err("f() += 1"),
            "1:0 'function call' is an illegal expression for augmented assignment");
  EXPECT_EQ(Err("(a.b := 1)"), "1:1 cannot use assignment expressions with attribute");
  // The parser leaves this one to the compiler, as CPython's does.
  EXPECT_EQ(Err("*a = 1"), "OK");
}

TEST(PyParser, ArgumentAndParameterErrors) {
  EXPECT_EQ(Err("def f(a=1, b): pass"), "1:11 non-default argument follows default argument");
  EXPECT_EQ(Err("def f(*, **k): pass"), "1:6 named arguments must follow bare *");
  EXPECT_EQ(Err("def f(**k, a): pass"), "1:11 arguments cannot follow var-keyword argument");
  EXPECT_EQ(Err("f(a=1, b)"), "1:8 positional argument follows keyword argument");
  EXPECT_EQ(Err("f(**a, *b)"),
            "1:7 iterable argument unpacking follows keyword argument unpacking");
  EXPECT_EQ(Err("f(x for x in y, 1)"), "1:2 Generator expression must be parenthesized");
  EXPECT_EQ(Err("x = (*a)"), "1:5 cannot use starred expression here");
  EXPECT_EQ(Err("'a' b'b'"), "1:8 cannot mix bytes and nonbytes literals");
}

TEST(PyParser, LexerErrorsPassThrough) {
  EXPECT_EQ(Err("x = (1,"), "1:4 '(' was never closed");
  EXPECT_EQ(Err("x = 'abc"), "1:4 unterminated string literal (detected at line 1)");
  EXPECT_EQ(Err("x = 1)"), "1:5 unmatched ')'");
  // CPython parses as it tokenizes: an indentation error after a syntax error comes second,
  // a string that never ends comes first.
  EXPECT_EQ(Err("x = = 1\nif x:\n    y\n  z\n"), "1:4 invalid syntax");
  EXPECT_EQ(Err("x = = 1\ny = '''"),
            "2:4 unterminated triple-quoted string literal (detected at "
            "line 2)");
  EXPECT_EQ(Err("x = '\\u12'").substr(0, 19), "1:10 (unicode error");
}

TEST(PyParser, NonPartialRefusesOpenInput) {
  EXPECT_EQ(Err("def f(a, b):\n    c = a +"), "2:11 invalid syntax");
  EXPECT_EQ(Err("x = [1, 2"), "1:4 '[' was never closed");
}

// ---- Partial prompts ------------------------------------------------------------------------

TEST(PyParser, PartialHeaderIsAnOpenEmptyBlock) {
  EXPECT_EQ(Partial("def func(a):"), "(FunctionDef! func (arguments (arg a)))");
  EXPECT_EQ(Partial("def func(a):\n    "), "(FunctionDef! func (arguments (arg a)))");
  EXPECT_EQ(Partial("class A:\n"), "(ClassDef! A)");
}

TEST(PyParser, PartialHoles) {
  EXPECT_EQ(Partial("def func(a, b):\n    c = a +"),
            "(FunctionDef! func (arguments (arg a) (arg b)) {(Assign (Name c) (BinOp:Add "
            "(Name a) (<hole>)))})");
  PyArena arena;
  PyParseResult r = ParsePython("def func(a, b):\n    c = a +", true, &arena);
  ASSERT_TRUE(r.ok);
  const PyNode* hole = r.module->body[0]->body[0]->kids[1]->kids[1];
  EXPECT_EQ(hole->type, "<hole>");
  EXPECT_EQ(hole->line, 2);
  EXPECT_EQ(hole->column, 11);  // the end of the input
  EXPECT_EQ(Partial("x = "), "(Assign (Name x) (<hole>))");
  EXPECT_EQ(Partial("x = not"), "(Assign (Name x) (UnaryOp:Not (<hole>)))");
  EXPECT_EQ(Partial("x = a if b"), "(Assign (Name x) (IfExp (Name b) (Name a) (<hole>)))");
  EXPECT_EQ(Partial("x = a <"), "(Assign (Name x) (Compare Lt (Name a) (<hole>)))");
  EXPECT_EQ(Partial("f(a, b="), "(Expr (Call (Name f) (Name a) x{(keyword b (<hole>))}))");
  EXPECT_EQ(Partial("x = lambda y:"), "(Assign (Name x) (Lambda (arguments (arg y)) (<hole>)))");
  EXPECT_EQ(Partial("for i in"), "(For! (Name i) (<hole>))");
  EXPECT_EQ(Partial("if"), "(If! (<hole>))");
  EXPECT_EQ(Partial("x = {1:"), "(Assign (Name x) (Dict (Constant:int 1) (<hole>)))");
}

TEST(PyParser, PartialUnclosedBrackets) {
  EXPECT_EQ(Partial("x = [1, 2"), "(Assign (Name x) (List (Constant:int 1) (Constant:int 2)))");
  EXPECT_EQ(Partial("f(a,\n  b"), "(Expr (Call (Name f) (Name a) (Name b)))");
  EXPECT_EQ(Partial("def f(a,"), "(FunctionDef! f (arguments (arg a)))");
  EXPECT_EQ(Partial("x = ("), "(Assign (Name x) (<hole>))");
}

TEST(PyParser, PartialOpenChains) {
  // def -> if -> else: the def's body and the if's orelse are open; the empty else block is a
  // statement hole (an empty orelse would mean "no else").
  EXPECT_EQ(Partial("def f(a):\n    if a:\n        return 1\n    else:"),
            "(FunctionDef! f (arguments (arg a)) {(If! (Name a) {(Return (Constant:int 1))} "
            "else{(<hole>)})})");
  EXPECT_EQ(Partial("def f(a):\n    if a:\n        return 1\n    else:\n        return 2\n"),
            "(FunctionDef! f (arguments (arg a)) {(If! (Name a) {(Return (Constant:int 1))} "
            "else{(Return (Constant:int 2))})})");
  // Closed by a real dedent and more code: not open.
  EXPECT_EQ(Partial("def f(a):\n    if a:\n        pass\n    x = 1\ny = 2"),
            "(FunctionDef f (arguments (arg a)) {(If (Name a) {(Pass)}) (Assign (Name x) "
            "(Constant:int 1))}) (Assign (Name y) (Constant:int 2))");
  EXPECT_EQ(Partial("def f(a):\n    if a:\n        pass\n    x = 1"),
            "(FunctionDef! f (arguments (arg a)) {(If (Name a) {(Pass)}) (Assign (Name x) "
            "(Constant:int 1))})");
  EXPECT_EQ(Partial("if a:\n  pass\nelif b:\n  x = 1 +"),
            "(If! (Name a) {(Pass)} else{(If! (Name b) {(Assign (Name x) (BinOp:Add "
            "(Constant:int 1) (<hole>)))})})");
  EXPECT_EQ(Partial("try:\n  x\n"), "(Try! {(Expr (Name x))})");
  EXPECT_EQ(Partial("for i in range(3):\n  pass\nelse:"),
            "(For! (Name i) (Call (Name range) (Constant:int 3)) {(Pass)} else{(<hole>)})");
  EXPECT_EQ(Partial("while x: y +="), "(While! (Name x) {(AugAssign:Add (Name y) (<hole>))})");
  // Without partial, the same complete source has no open marks.
  EXPECT_EQ(Parse("def f(a):\n    return a\n"),
            "(FunctionDef f (arguments (arg a)) {(Return (Name a))})");
  EXPECT_EQ(Partial("def f(a):\n    return a\n"),
            "(FunctionDef! f (arguments (arg a)) {(Return (Name a))})");
}

TEST(PyParser, PartialStatementHoles) {
  EXPECT_EQ(Partial("@dec\n"), "(<hole> x{(FunctionDef.decorator_list (Name dec))})");
  EXPECT_EQ(Partial("async"), "(<hole>)");
  EXPECT_EQ(Partial("def"), "(FunctionDef! (arguments))");
  EXPECT_EQ(Partial("from . import"), "(ImportFrom .)");
  EXPECT_EQ(Partial("with open(f) as"), "(With! (withitem (Call (Name open) (Name f)) (<hole>)))");
}

TEST(PyParser, PartialStillRefusesRealErrors) {
  EXPECT_EQ(Err("x = = 1", true), "1:4 invalid syntax");
  EXPECT_EQ(Err("def f(a):\n  x = 1 +\ny = 2", true), "2:9 invalid syntax");
  EXPECT_EQ(Err("x = 'abc", true), "1:4 unterminated string literal (detected at line 1)");
}

// ---- Hostile inputs -------------------------------------------------------------------------


TEST(PyParser, DeepNestingIsAnErrorNotACrash) {
  const int n = 100000;
  const std::string cases[] = {
      "x = " + std::string(n, '-') + "1",
      [] {
        std::string s = "x = ";
        for (int i = 0; i < 100000; ++i) s += "not ";
        return s + "1";
      }(),
      [] {
        std::string s = "x = ";
        for (int i = 0; i < 100000; ++i) s += "lambda: ";
        return s + "1";
      }(),
      [] {
        std::string s = "x = ";
        for (int i = 0; i < 100000; ++i) s += "a if b else ";
        return s + "1";
      }(),
      [] {
        std::string s = "x = ";
        for (int i = 0; i < 100000; ++i) s += "2**";
        return s + "1";
      }(),
      [] {
        std::string s = "x = ";
        for (int i = 0; i < 150; ++i) s += "-(";
        return s + "1" + std::string(150, ')');
      }(),
  };
  for (const std::string& source : cases) {
    for (bool partial : {false, true}) {
      PyArena arena;
      PyParseResult r = ParsePython(source, partial, &arena);
      EXPECT_FALSE(r.ok) << source.substr(0, 40);
      EXPECT_TRUE(r.error.too_deep) << source.substr(0, 40);
      EXPECT_EQ(r.error.message,
                "the source nests deeper than 100 levels (brackets, operators, blocks, elif "
                "branches)")
          << source.substr(0, 40);
      EXPECT_EQ(r.error.line, 1);
    }
  }
  // 1000 nested lists: the lexer's bracket limit (CPython's own) stops them first.
  PyArena arena;
  PyParseResult r =
      ParsePython("x = " + std::string(1000, '[') + std::string(1000, ']'), false, &arena);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.message.empty());
}

TEST(PyParser, NestingBelowTheLimitParses) {
  EXPECT_EQ(Err("x = " + std::string(30, '(') + "1" + std::string(30, ')')), "OK");
  EXPECT_EQ(Err("x = " + std::string(30, '[') + std::string(30, ']')), "OK");
  std::string calls = "x = ";
  for (int i = 0; i < 30; ++i) calls += "f(";
  EXPECT_EQ(Err(calls + "1" + std::string(30, ')')), "OK");
  EXPECT_EQ(Err("x = " + std::string(90, '-') + "1"), "OK");
  std::string blocks;
  for (int i = 0; i < 90; ++i) blocks += std::string(i, ' ') + "if a:\n";
  EXPECT_EQ(Err(blocks + std::string(90, ' ') + "pass\n"), "OK");
}

TEST(PyParser, LongInputsAreLinear) {
  // A 10 MB expression line: a left-leaning BinOp chain of 250,000 operands is refused as
  // soon as the chain passes kMaxNesting, having built no more than that.
  std::string line = "x = ";
  const std::string operand = "abcdefghijklmnopqrstuvwxyz0123456789 + ";
  while (line.size() < 10'000'000) line += operand;
  line += "a\n";
  {
    PyArena arena;
    PyParseResult r = ParsePython(line, false, &arena);
    ASSERT_FALSE(r.ok);
    EXPECT_TRUE(r.error.too_deep) << Error(r);
    EXPECT_LT(r.error.column, 4 + (kMaxNesting + 1) * static_cast<int>(operand.size()));
    EXPECT_LT(arena.size(), 3u * kMaxNesting);
  }

  // 10 MB of adjacent string literals: one Constant.
  std::string strings = "x = (";
  while (strings.size() < 10'000'000) strings += "'abcdefghijklmnopqrstuvwxyz' ";
  strings += ")\n";
  {
    PyArena arena;
    PyParseResult r = ParsePython(strings, false, &arena);
    ASSERT_TRUE(r.ok) << Error(r);
    EXPECT_EQ(S(r.module->body[0]).substr(0, 38), "(Assign (Name x) (Constant:str 'abcdef");
    EXPECT_EQ(arena.size(), 4u);
  }

  // Long flat sequences parse; chains nest, one level a link, and are refused early.
  std::string stmts;
  for (int i = 0; i < 200000; ++i) stmts += "x = 1\n";
  {
    PyArena arena;
    PyParseResult r = ParsePython(stmts, false, &arena);
    EXPECT_TRUE(r.ok) << Error(r);
  }
  std::string attrs = "x = a";
  for (int i = 0; i < 200000; ++i) attrs += ".b";
  std::string elifs = "if a:\n  pass\n";
  for (int i = 0; i < 100000; ++i) elifs += "elif a:\n  pass\n";
  for (const std::string* source : {&attrs, &elifs}) {
    PyArena arena;
    PyParseResult r = ParsePython(*source, false, &arena);
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.error.too_deep) << Error(r);
    EXPECT_LT(arena.size(), 5u * kMaxNesting);
  }
}

// Each way to nest (tests/core/test_util.h), on a stack smaller than any the server runs
// requests on: the deepest source that parses, then the first one refused, then a huge one.
TEST(PyParser, EveryNestingStopsAtTheLimitOnASmallStack) {
  for (const testing::DeepShape& shape : testing::DeepShapes()) {
    testing::OnSmallStack([&] {
      int deepest = 0;
      while (deepest < 2 * kMaxNesting) {
        PyArena arena;
        if (!ParsePython(shape.source(deepest + 1), false, &arena).ok) break;
        ++deepest;
      }
      // The language nests expressions 16 deep and blocks 8: every shape admits that much.
      EXPECT_GE(deepest, 16) << shape.name;
      EXPECT_LE(deepest, kMaxNesting) << shape.name;
      for (int n : {deepest + 1, shape.linear ? 80'000 : 1'000}) {
        for (bool partial : {false, true}) {
          const std::string source = shape.source(n);
          PyArena arena;
          PyParseResult r = ParsePython(source, partial, &arena);
          ASSERT_FALSE(r.ok) << shape.name << " " << n;
          // Deeper than kMaxNesting, or deeper than CPython's own bracket or indent limits.
          EXPECT_TRUE(r.error.too_deep || absl::StrContains(r.error.message, "too many"))
              << shape.name << " " << n << ": " << Error(r);
          EXPECT_GE(r.error.line, 1) << shape.name;
          EXPECT_LT(arena.size(), 10u * kMaxNesting) << shape.name << " " << n;
        }
      }
    });
  }
}

TEST(PyParser, GarbageNeverCrashes) {
  // Every prefix of a varied program, in both modes: a result (ok or an error with a message).
  const std::string program =
      "@dec(1)\nasync def f(a, /, b=2, *c, d: int = 3, **e) -> R:\n"
      "    '''doc'''\n    x = [i async for i in g() if i] + {k: v for k, v in m.items()}\n"
      "    match x:\n        case [1, *r] | {'k': _} if r:\n            return (yield)\n"
      "    try:\n        with (a as b, c):\n            del b[1:2, ::3]\n"
      "    except* E as err:\n        raise X from err\n    finally:\n"
      "        lambda q=1, *, w: q if w else -q ** ~w\n"
      "class C(B, metaclass=M):\n    x: int = f'{a!r}' 'b'\n";
  for (size_t i = 0; i <= program.size(); ++i) {
    for (bool partial : {false, true}) {
      PyArena arena;
      PyParseResult r = ParsePython(program.substr(0, i), partial, &arena);
      if (r.ok) {
        EXPECT_NE(r.module, nullptr);
      } else {
        EXPECT_FALSE(r.error.message.empty()) << program.substr(0, i);
        EXPECT_GE(r.error.line, 1) << program.substr(0, i);
      }
    }
  }
  PyArena arena;
  EXPECT_TRUE(ParsePython(program, false, &arena).ok);
}

}  // namespace
}  // namespace astcd
