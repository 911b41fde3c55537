#include "core/codec.h"

#include "core/codec_impl.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/decoder.h"
#include "core/errors.h"
#include "core/render.h"

namespace astcd {
namespace {

constexpr int kAtomPrecedence = 20;

// Recursive descent over a token stream the decoder has already accepted, so its shape is
// known to be right and its depth is bounded by the config's guards.
class Builder {
 public:
  Builder(const Vocabulary& vocab, absl::Span<const int32_t> tokens, Arena* arena)
      : vocab_(vocab), tokens_(tokens), arena_(arena) {}

  AstNode* Hole(astcd::Hole hole) {
    if (IsSequence(hole)) return Sequence(SequenceNode(hole), 0);
    if (AtEnd()) return arena_->NewHole(hole);
    const TokenInfo& info = vocab_.info(tokens_[pos_++]);
    AstNode* node = arena_->NewNode(info.node, info.value);
    const NodeSpec& spec = Spec(info.node);
    for (int i = 0; i < spec.num_children; ++i) node->Append(Hole(spec.children[i]));
    return node;
  }

  AstNode* Sequence(NodeKind kind, int32_t value) {
    AstNode* node = arena_->NewNode(kind, value);
    const int terminator = vocab_.id(Terminator(kind));
    while (true) {
      if (AtEnd()) {
        if (kind != NodeKind::kModule || node->num_children == 0) {
          node->Append(arena_->NewHole(Spec(kind).children[0]));
        }
        break;
      }
      if (tokens_[pos_] == terminator) {
        ++pos_;
        break;
      }
      node->Append(Hole(Spec(kind).children[0]));
    }
    return node;
  }

 private:
  bool AtEnd() const { return pos_ >= tokens_.size() || tokens_[pos_] == Vocabulary::eos_id(); }

  const Vocabulary& vocab_;
  absl::Span<const int32_t> tokens_;
  Arena* arena_;
  size_t pos_ = 0;
};

int Precedence(const AstNode* node) {
  return node->is_hole ? kAtomPrecedence : Spec(node->kind).precedence;
}

class Printer {
 public:
  // With `lines`, records each statement's and def's line there: the AST is shared and const,
  // so the printer never writes to it.
  Printer(std::string* out, AstLines* lines) : out_(*out), lines_(lines) {}

  void Expr(const AstNode* node) {
    if (node->is_hole) {
      absl::StrAppend(&out_, HoleName(node->hole));
      return;
    }
    const NodeSpec& spec = Spec(node->kind);
    const int prec = spec.precedence;
    switch (spec.syntax) {
      case Syntax::kName:
        out_ += VariableName(node->value);
        return;
      case Syntax::kConst:
        absl::StrAppend(&out_, node->value);
        return;
      // Left-associative: a right operand of equal precedence nests. A left-nested `and`/`or`
      // chain prints flat, as CPython's one n-ary BoolOp (docs/language.md, section 3).
      case Syntax::kBinary:
      case Syntax::kBoolOp:
        Operand(node->child(0), Precedence(node->child(0)) < prec);
        absl::StrAppend(&out_, " ", spec.text, " ");
        Operand(node->child(1), Precedence(node->child(1)) <= prec);
        return;
      case Syntax::kCompare:  // a < b < c would chain
        Operand(node->child(0), Precedence(node->child(0)) <= prec);
        absl::StrAppend(&out_, " ", spec.text, " ");
        Operand(node->child(1), Precedence(node->child(1)) <= prec);
        return;
      case Syntax::kUnary:
        absl::StrAppend(&out_, spec.text);
        Operand(node->child(0), Precedence(node->child(0)) < prec);
        return;
      case Syntax::kIfExp:  // children in AST order: test, body, orelse
        Operand(node->child(1), Precedence(node->child(1)) <= prec);
        out_ += " if ";
        Operand(node->child(0), Precedence(node->child(0)) <= prec);
        out_ += " else ";
        Expr(node->child(2));
        return;
      case Syntax::kCall:
        absl::StrAppend(&out_, spec.text, "(");
        for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
          if (c != node->first_child) out_ += ", ";
          Expr(c);
        }
        out_ += ")";
        return;
      default:
        return;
    }
  }

  void Statements(const AstNode* seq, int indent) {
    for (const AstNode* s = seq->first_child; s != nullptr; s = s->next) Statement(s, indent);
  }

  void Statement(const AstNode* node, int indent) {
    RecordLine(node);
    out_.append(4 * indent, ' ');
    if (node->is_hole) {
      absl::StrAppend(&out_, HoleName(node->hole), "\n");
      return;
    }
    const NodeSpec& spec = Spec(node->kind);
    switch (spec.syntax) {
      case Syntax::kAssign:
      case Syntax::kAugAssign:
        Expr(node->child(0));
        absl::StrAppend(&out_, " ", spec.text, " ");
        Expr(node->child(1));
        break;
      case Syntax::kReturn:
        out_ += "return";
        if (node->num_children > 0) {
          out_ += " ";
          Expr(node->child(0));
        }
        break;
      case Syntax::kKeyword:
        absl::StrAppend(&out_, spec.text);
        break;
      case Syntax::kFor: {
        out_ += "for ";
        Expr(node->child(0));
        out_ += " in range(";
        for (int i = 1; i + 1 < node->num_children; ++i) {
          if (i > 1) out_ += ", ";
          Expr(node->child(i));
        }
        out_ += "):\n";
        Statements(node->last_child, indent + 1);
        return;
      }
      case Syntax::kIf:
        If(node, indent);
        return;
      case Syntax::kDef:
        Def(node, 0, indent);
        return;
      default:
        break;
    }
    out_ += "\n";
  }

  // Prints `if` (the indent is already written); an else branch that is exactly one if
  // statement prints as elif, which CPython parses to the same AST.
  void If(const AstNode* node, int indent) {
    out_ += "if ";
    Expr(node->child(0));
    out_ += ":\n";
    Statements(node->child(1), indent + 1);
    if (node->num_children < 3) return;
    const AstNode* orelse = node->child(2);
    const AstNode* only = orelse->first_child;
    if (orelse->num_children == 1 && !only->is_hole && Spec(only->kind).syntax == Syntax::kIf) {
      RecordLine(only);
      out_.append(4 * indent, ' ');
      out_ += "el";
      If(only, indent);
      return;
    }
    out_.append(4 * indent, ' ');
    out_ += "else:\n";
    Statements(orelse, indent + 1);
  }

  void Def(const AstNode* node, int index, int indent) {
    RecordLine(node);
    absl::StrAppend(&out_, "def ", FunctionName(index), "(");
    for (int i = 0; i < node->value; ++i) {
      if (i > 0) out_ += ", ";
      out_ += VariableName(i);
    }
    out_ += "):\n";
    Statements(node->child(0), indent + 1);
  }

 private:
  void Operand(const AstNode* node, bool parens) {
    if (parens) out_ += "(";
    Expr(node);
    if (parens) out_ += ")";
  }

  void RecordLine(const AstNode* node) {
    if (lines_ != nullptr) (*lines_)[node] = CurrentLine();
  }

  // Counts only what was written since the last call, so printing stays linear.
  int CurrentLine() {
    newlines_ += static_cast<int>(std::count(out_.begin() + counted_, out_.end(), '\n'));
    counted_ = out_.size();
    return 1 + newlines_;
  }

  std::string& out_;
  AstLines* const lines_;
  size_t counted_ = 0;
  int newlines_ = 0;
};

void Sexpr(const AstNode* node, int def_index, std::string* out) {
  if (node->is_hole) {
    absl::StrAppend(out, HoleName(node->hole));
    return;
  }
  const NodeSpec& spec = Spec(node->kind);
  auto list = [out](const AstNode* seq) {
    *out += "(";
    for (const AstNode* c = seq->first_child; c != nullptr; c = c->next) {
      if (c != seq->first_child) *out += " ";
      Sexpr(c, 0, out);
    }
    *out += ")";
  };
  switch (spec.syntax) {
    case Syntax::kName:
      absl::StrAppend(out, "(Name ", VariableName(node->value), ")");
      return;
    case Syntax::kConst:
      absl::StrAppend(out, "(Constant ", node->value, ")");
      return;
    case Syntax::kModule: {
      *out += "(Module";
      int index = 0;
      for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
        *out += " ";
        Sexpr(c, index++, out);
      }
      *out += ")";
      return;
    }
    case Syntax::kSequence:
      *out += "(Body";
      for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
        *out += " ";
        Sexpr(c, 0, out);
      }
      *out += ")";
      return;
    case Syntax::kDef:
      absl::StrAppend(out, "(FunctionDef ", FunctionName(def_index), " (");
      for (int i = 0; i < node->value; ++i) absl::StrAppend(out, i ? " " : "", VariableName(i));
      *out += ") ";
      list(node->child(0));
      *out += ")";
      return;
    case Syntax::kIf:
      *out += "(If ";
      Sexpr(node->child(0), 0, out);
      *out += " ";
      list(node->child(1));
      if (node->num_children == 3) {
        *out += " ";
        list(node->child(2));
      } else {
        *out += " ()";
      }
      *out += ")";
      return;
    case Syntax::kFor:
      *out += "(For ";
      Sexpr(node->child(0), 0, out);
      *out += " (Call range";
      for (int i = 1; i + 1 < node->num_children; ++i) {
        *out += " ";
        Sexpr(node->child(i), 0, out);
      }
      *out += ") ";
      list(node->last_child);
      *out += ")";
      return;
    default:
      break;
  }
  // Everything else: (Class [op-or-builtin] children...).
  absl::StrAppend(out, "(", spec.py_class);
  if (!spec.py_op.empty()) absl::StrAppend(out, " ", spec.py_op);
  if (spec.syntax == Syntax::kCall) absl::StrAppend(out, " ", spec.text);
  for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
    *out += " ";
    Sexpr(c, 0, out);
  }
  *out += ")";
}

absl::Status Encode(const Vocabulary& vocab, const AstNode* node, std::vector<int32_t>* out) {
  if (node->is_hole) {
    return absl::InvalidArgumentError(
        absl::StrCat("the AST has an unfilled ", HoleName(node->hole), " hole"));
  }
  const NodeSpec& spec = Spec(node->kind);
  switch (spec.kind) {
    case TokenKind::kFunction: out->push_back(vocab.def_id(node->value)); break;
    case TokenKind::kVariable: out->push_back(vocab.name_id(node->value)); break;
    case TokenKind::kConstant: out->push_back(vocab.const_id(node->value)); break;
    case TokenKind::kPseudo: break;
    default: out->push_back(vocab.id(node->kind));
  }
  for (const AstNode* c = node->first_child; c != nullptr; c = c->next) {
    if (absl::Status s = Encode(vocab, c, out); !s.ok()) return s;
  }
  if (IsSequenceNode(node->kind)) out->push_back(vocab.id(Terminator(node->kind)));
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::Status IncompleteStream(size_t num_tokens) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the stream ends after ", num_tokens, " tokens with the program incomplete"));
}

// Runs the stream through a decoder. On failure, *position is the index of the bad token, or
// the stream's length when it ends with the program incomplete (and partial is off).
absl::StatusOr<DecodeState> CheckStream(const std::shared_ptr<const Engine>& engine, Start start,
                                        std::optional<int> arity,
                                        absl::Span<const int32_t> tokens, bool partial,
                                        int* position) {
  InitRequest request;
  request.start = start;
  request.arity = arity;
  request.max_len = kMaxLenLimit;
  absl::StatusOr<DecodeState> state = InitState(engine, request);
  if (!state.ok()) return state.status();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (absl::Status s = state->Advance(tokens[i]); !s.ok()) {
      *position = static_cast<int>(i);
      return Within(absl::StrCat("tokens[", i, "]"), s);
    }
  }
  if (!partial && !state->complete()) {
    *position = static_cast<int>(tokens.size());
    return IncompleteStream(tokens.size());
  }
  return state;
}

}  // namespace

absl::StatusOr<Ast> TokensToAst(const std::shared_ptr<const Engine>& engine, Start start,
                                std::optional<int> arity, absl::Span<const int32_t> tokens,
                                bool partial) {
  int position = -1;
  absl::StatusOr<DecodeState> state = CheckStream(engine, start, arity, tokens, partial, &position);
  if (!state.ok()) return state.status();
  return internal::BuildAst(engine->vocab(), start, state->arity(), state->complete(), tokens);
}

absl::StatusOr<Ast> StateToAst(const DecodeState& state, bool partial) {
  if (!partial && !state.complete()) return IncompleteStream(state.tokens().size());
  return internal::BuildAst(state.engine().vocab(), state.start(), state.arity(),
                            state.complete(), state.tokens());
}

DetokenizeResult Detokenize(const std::shared_ptr<const Engine>& engine, Start start,
                            std::optional<int> arity, absl::Span<const int32_t> tokens,
                            bool partial) {
  DetokenizeResult result;
  absl::StatusOr<DecodeState> state = CheckStream(engine, start, arity, tokens, partial,
                                                  &result.position);
  if (!state.ok()) {
    result.error = std::string(state.status().message());
    return result;
  }
  result.ok = true;
  result.source = RenderSource(*state);  // a trailing EOS and PADs render as nothing
  return result;
}

namespace internal {

Ast BuildAst(const Vocabulary& vocab, Start start, int arity, bool complete,
             absl::Span<const int32_t> tokens) {
  Ast ast;
  ast.start = start;
  ast.arity = arity;
  ast.complete = complete;
  Builder builder(vocab, tokens, ast.arena.get());
  switch (start) {
    case Start::kModule: ast.root = builder.Sequence(NodeKind::kModule, 0); break;
    case Start::kFunction: ast.root = builder.Hole(Hole::kFunc); break;
    case Start::kBlock: ast.root = builder.Sequence(NodeKind::kBody, ast.arity); break;
    case Start::kExpr: ast.root = builder.Hole(Hole::kExpr); break;
  }
  return ast;
}

}  // namespace internal

std::string AstToSource(const Ast& ast, AstLines* lines) {
  if (absl::Status s = CheckAstDepth(ast); !s.ok()) return absl::StrCat("<", s.message(), ">");
  std::string out;
  Printer printer(&out, lines);
  const AstNode* root = ast.root;
  switch (ast.start) {
    case Start::kModule: {
      int index = 0;
      for (const AstNode* f = root->first_child; f != nullptr; f = f->next, ++index) {
        if (index > 0) out += "\n";
        if (f->is_hole) {
          printer.Statement(f, 0);
        } else {
          printer.Def(f, index, 0);
        }
      }
      break;
    }
    case Start::kFunction:
      if (root->is_hole) {
        printer.Statement(root, 0);
      } else {
        printer.Def(root, 0, 0);
      }
      break;
    case Start::kBlock:
      printer.Statements(root, 0);
      break;
    case Start::kExpr:
      printer.Expr(root);
      break;
  }
  return out;
}

std::string AstToSexpr(const Ast& ast) {
  if (absl::Status s = CheckAstDepth(ast); !s.ok()) return absl::StrCat("<", s.message(), ">");
  std::string out;
  Sexpr(ast.root, 0, &out);
  return out;
}

absl::StatusOr<std::vector<int32_t>> AstToTokens(const Vocabulary& vocab, const Ast& ast) {
  if (absl::Status s = CheckAstDepth(ast); !s.ok()) return s;
  std::vector<int32_t> tokens;
  if (absl::Status s = Encode(vocab, ast.root, &tokens); !s.ok()) return s;
  if (ast.start != Start::kModule) tokens.push_back(Vocabulary::eos_id());
  return tokens;
}

absl::StatusOr<std::string> TokensToSource(const std::shared_ptr<const Engine>& engine,
                                           Start start, std::optional<int> arity,
                                           absl::Span<const int32_t> tokens, bool partial) {
  absl::StatusOr<Ast> ast = TokensToAst(engine, start, arity, tokens, partial);
  if (!ast.ok()) return ast.status();
  return AstToSource(*ast);
}

}  // namespace astcd
