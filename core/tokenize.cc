#include "core/tokenize.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/codec_impl.h"
#include "core/py_ast.h"
#include "core/py_lexer.h"

namespace astcd {
namespace {

// The widest config any request may have, built once: the normalizer checks its depth limits at
// every node (building it there was a sixth of Tokenize's instructions).
const DecodeConfig& Widest() {
  static const auto* widest = new DecodeConfig(WidestConfig());
  return *widest;
}

// CPython (class, operator) -> node kind, read off the grammar table once.
const absl::flat_hash_map<std::string, NodeKind>& PyOperatorKinds() {
  static const auto* kinds = [] {
    auto* m = new absl::flat_hash_map<std::string, NodeKind>();
    for (const NodeSpec& spec : kGrammar) {
      if (!spec.py_op.empty()) m->emplace(absl::StrCat(spec.py_class, "/", spec.py_op), spec.node);
      if (spec.syntax == Syntax::kCall) m->emplace(absl::StrCat("Call/", spec.text), spec.node);
    }
    return m;
  }();
  return *kinds;
}

std::optional<NodeKind> LookupKind(absl::string_view py_class, absl::string_view op) {
  auto it = PyOperatorKinds().find(absl::StrCat(py_class, "/", op));
  if (it == PyOperatorKinds().end()) return std::nullopt;
  return it->second;
}

bool IsDocstring(const PyNode* stmt) {
  return stmt->type == "Expr" && stmt->kids.size() == 1 && stmt->kids[0]->type == "Constant" &&
         stmt->kids[0]->op == "str";
}

bool IsHole(const PyNode* node) { return node->type == "<hole>"; }

// Maps a parse tree onto canonical names and tokens, in preorder. Stops at the first
// construct outside the language (recording why) or at the first hole of a partial parse.
// Scope and guards are not checked here: the decoder checks them as it accepts the tokens.
class Normalizer {
 public:
  explicit Normalizer(const Engine& engine) : engine_(engine), vocab_(engine.vocab()) {}

  // Accepts every constant up to const_range's bound as the config's lowest one, and records
  // them: whether one const_range can hold them all is for SpanError to say.
  void AcceptAnyConstant() { any_constant_ = true; }
  // The first constant (in preorder) that no one const_range holds together with the smallest.
  std::optional<TokenizeError> SpanError() const {
    if (constants_.empty()) return std::nullopt;
    int64_t lo = constants_[0].first;
    for (const auto& [value, node] : constants_) lo = std::min(lo, value);
    for (const auto& [value, node] : constants_) {
      if (value - lo >= kMaxConstants) {
        return TokenizeError{TokenizeStage::kLimits,
                             absl::StrCat("the constants ", lo, " and ", node->text,
                                          " do not fit one const_range of ", kMaxConstants,
                                          " values"),
                             node->line, node->column, "Constant[int]"};
      }
    }
    return std::nullopt;
  }

  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<const PyNode*>& origins() const { return origins_; }
  const std::optional<TokenizeError>& error() const { return error_; }
  bool stopped() const { return stopped_; }

  bool Module(const PyNode* module) {
    for (const PyNode* stmt : Body(module->body)) {
      if (IsHole(stmt)) return Stop();
      if (stmt->type != "FunctionDef") {
        return Fail(TokenizeStage::kUnsupportedSyntax, stmt, std::string(stmt->type),
                    "a module holds only function definitions");
      }
      if (!Function(stmt)) return false;
    }
    return true;
  }

  bool Function(const PyNode* def) {
    const PyNode* args = def->kids.empty() ? nullptr : def->kids[0];
    if (!def->extra.empty()) {
      return Fail(TokenizeStage::kUnsupportedSyntax, def->extra[0],
                  std::string(def->extra[0]->type), "decorators and return annotations");
    }
    if (args != nullptr && !args->extra.empty()) {
      return Fail(TokenizeStage::kUnsupportedSyntax, args->extra[0],
                  std::string(args->extra[0]->type), "only plain positional parameters");
    }
    const int arity = args == nullptr ? 0 : static_cast<int>(args->kids.size());
    if (vocab_.def_id(arity) < 0) {
      return Fail(TokenizeStage::kLimits, def, "FunctionDef",
                  absl::StrCat("arity ", arity, " is not in config.arities"));
    }
    StartScope(arity);
    for (int i = 0; i < arity; ++i) {
      const PyNode* arg = args->kids[i];
      if (!scope_.emplace(std::string(arg->name), i).second) {
        return Fail(TokenizeStage::kPythonParse, arg, "arg",
                    absl::StrCat("duplicate argument '", arg->name, "' in function definition"));
      }
    }
    Emit(vocab_.def_id(arity), def);
    return Block(def->body, def->open, /*function_body=*/true);
  }

  // A BLOCK or EXPR root: the parameters a, b, ... are in scope.
  void StartRootScope(int arity) {
    StartScope(arity);
    for (int i = 0; i < arity; ++i) scope_.emplace(VariableName(i), i);
  }

  bool Block(const std::vector<PyNode*>& stmts, bool open, bool function_body) {
    // Deeper than any config allows (the function body is level 1): stop before recursing
    // further. The decoder has already refused the if/for at the config's max_control_depth.
    if (!function_body && blocks_ > Widest().max_control_depth + 1) {
      const PyNode* at = stmts.empty() ? nullptr : stmts[0];
      return at != nullptr ? Fail(TokenizeStage::kLimits, at, std::string(at->type),
                                  "the blocks nest too deeply")
                           : Stop();
    }
    ++blocks_;
    const bool ok = BlockStatements(stmts, open, function_body);
    --blocks_;
    return ok;
  }

  bool BlockStatements(const std::vector<PyNode*>& stmts, bool open, bool function_body) {
    std::vector<const PyNode*> body = function_body ? Body(stmts) : Plain(stmts);
    if (body.empty() && !open) Emit(vocab_.id(NodeKind::kPass), nullptr);  // only a docstring
    for (const PyNode* stmt : body) {
      if (!Statement(stmt)) return false;
    }
    if (open) return Stop();
    Emit(vocab_.id(NodeKind::kEnd), nullptr);
    return true;
  }

  bool Statement(const PyNode* s) {
    if (IsHole(s)) return Stop();
    const absl::string_view t = s->type;
    if (t == "Assign") {
      if (s->kids.size() != 2) {
        return Fail(TokenizeStage::kUnsupportedSyntax, s, "Assign",
                    "chained assignment (a = b = ...)");
      }
      Emit(vocab_.id(NodeKind::kAssign), s);
      return Target(s->kids[0]) && Expression(s->kids[1]);
    }
    if (t == "AugAssign") {
      auto kind = LookupKind("AugAssign", s->op);
      if (!kind) {
        return Fail(TokenizeStage::kUnsupportedSyntax, s, absl::StrCat("AugAssign[", s->op, "]"),
                    "augmented assignment with this operator");
      }
      Emit(vocab_.id(*kind), s);
      return Read(s->kids[0], /*target=*/true) && Expression(s->kids[1]);
    }
    if (t == "If") {
      const bool has_else = !s->orelse.empty();
      Emit(vocab_.id(has_else ? NodeKind::kIfElse : NodeKind::kIf), s);
      if (!Expression(s->kids[0])) return false;
      if (!Block(s->body, s->open && !has_else, false)) return false;
      return !has_else || Block(s->orelse, s->open, false);
    }
    if (t == "For") {
      if (!s->orelse.empty()) {
        return Fail(TokenizeStage::kUnsupportedSyntax, s, "For[else]", "for ... else");
      }
      const PyNode* iter = s->kids[1];
      const bool is_range = iter->type == "Call" && iter->kids[0]->type == "Name" &&
                            iter->kids[0]->name == kLoopIterable && iter->extra.empty() &&
                            (iter->kids.size() == 2 || iter->kids.size() == 3);
      if (!is_range) {
        return Fail(TokenizeStage::kUnsupportedSyntax, iter, "For.iter",
                    "a for loop iterates over range(stop) or range(start, stop)");
      }
      Emit(vocab_.id(iter->kids.size() == 2 ? NodeKind::kFor1 : NodeKind::kFor2), s);
      if (!Target(s->kids[0])) return false;
      for (size_t i = 1; i < iter->kids.size(); ++i) {
        if (!Expression(iter->kids[i])) return false;
      }
      return Block(s->body, s->open, false);
    }
    if (t == "Return") {
      if (s->kids.empty()) {
        Emit(vocab_.id(NodeKind::kReturnNone), s);
        return true;
      }
      Emit(vocab_.id(NodeKind::kReturn), s);
      return Expression(s->kids[0]);
    }
    for (NodeKind k : {NodeKind::kPass, NodeKind::kBreak, NodeKind::kContinue}) {
      if (t == Spec(k).py_class) {
        Emit(vocab_.id(k), s);
        return true;
      }
    }
    return Fail(TokenizeStage::kUnsupportedSyntax, s, std::string(t),
                t == "Expr" ? "an expression statement" : "this statement");
  }

  bool Target(const PyNode* target) {
    if (target->type != "Name") {
      return Fail(TokenizeStage::kUnsupportedSyntax, target, std::string(target->type),
                  "only a single name can be assigned");
    }
    if (IsBuiltinName(target->name)) {
      return Fail(TokenizeStage::kNameNormalization, target, "Name",
                  absl::StrCat("cannot bind '", target->name,
                               "': the language keeps it for the builtin"));
    }
    auto it = scope_.find(target->name);
    if (it == scope_.end()) {
      if (introduced_ >= arity_ + engine_.config().max_locals) {
        return Fail(TokenizeStage::kLimits, target, "Name",
                    absl::StrCat("'", target->name, "' is one local more than max_locals = ",
                                 engine_.config().max_locals));
      }
      it = scope_.emplace(std::string(target->name), introduced_++).first;
    }
    Emit(vocab_.name_id(it->second), target);
    return true;
  }

  // A name read (or an augmented target, which is read first). Names not yet bound in the
  // text are either locals read too early or globals/builtins: both are scope errors.
  bool Read(const PyNode* node, bool target) {
    if (node->type != "Name") {
      return Fail(TokenizeStage::kUnsupportedSyntax, node, std::string(node->type),
                  target ? "only a single name can be assigned" : "this expression");
    }
    auto it = scope_.find(node->name);
    if (it == scope_.end()) {
      return Fail(TokenizeStage::kScope, node, "Name",
                  absl::StrCat("'", node->name,
                               "' is not a parameter or a local assigned before this point"));
    }
    Emit(vocab_.name_id(it->second), node);
    return true;
  }

  bool Expression(const PyNode* e, int depth = 1) {
    if (IsHole(e)) return Stop();
    const absl::string_view t = e->type;
    // Deeper than any config allows: stop before recursing further. The decoder has already
    // refused the operator at the config's own max_expr_depth, which is the error reported.
    if (depth > Widest().max_expr_depth + 1) {
      return Fail(TokenizeStage::kLimits, e, std::string(t), "the expression is too deep");
    }
    if (t == "Name") return Read(e, false);
    if (t == "Constant") {
      int64_t value;
      if (e->op != "int") {
        return Fail(TokenizeStage::kUnsupportedSyntax, e, absl::StrCat("Constant[", e->op, "]"),
                    "only integer constants");
      }
      const auto [lo, hi] = engine_.config().const_range;
      const bool parsed = PyIntValue(e->text, &value);
      if (parsed && any_constant_ && value <= kMaxConstant) {  // the check waits for the span
        constants_.emplace_back(value, e);
        Emit(vocab_.const_id(lo), e);
        return true;
      }
      if (!parsed || value < lo || value > hi) {
        return Fail(TokenizeStage::kLimits, e, "Constant[int]",
                    absl::StrCat("the constant ", e->text, " is outside const_range [", lo, ", ",
                                 hi, "]"));
      }
      Emit(vocab_.const_id(value), e);
      return true;
    }
    if (t == "BinOp" || t == "UnaryOp" || t == "Compare" || t == "BoolOp") {
      const absl::string_view op = t == "Compare" ? e->ops[0] : e->op;
      if (t == "Compare" && e->ops.size() > 1) {
        return Fail(TokenizeStage::kUnsupportedSyntax, e, "Compare[chained]",
                    "chained comparison");
      }
      auto kind = LookupKind(t, op);
      if (!kind) {
        return Fail(TokenizeStage::kUnsupportedSyntax, e, absl::StrCat(t, "[", op, "]"),
                    "this operator");
      }
      // CPython flattens `a and b and c` into one BoolOp; the language nests it to the left.
      for (size_t i = 1; i + 1 < e->kids.size() && t == "BoolOp"; ++i) {
        Emit(vocab_.id(*kind), e);
      }
      Emit(vocab_.id(*kind), e);
      for (const PyNode* kid : e->kids) {
        if (!Expression(kid, depth + 1)) return false;
      }
      return true;
    }
    if (t == "IfExp") {
      Emit(vocab_.id(NodeKind::kIfExp), e);
      for (const PyNode* kid : e->kids) {  // test, body, orelse: AST order
        if (!Expression(kid, depth + 1)) return false;
      }
      return true;
    }
    if (t == "Call" && e->kids[0]->type == "Name" && e->extra.empty()) {
      auto kind = LookupKind("Call", e->kids[0]->name);
      if (kind && Spec(*kind).num_children + 1 == static_cast<int>(e->kids.size())) {
        Emit(vocab_.id(*kind), e);
        for (size_t i = 1; i < e->kids.size(); ++i) {
          if (!Expression(e->kids[i], depth + 1)) return false;
        }
        return true;
      }
    }
    return Fail(TokenizeStage::kUnsupportedSyntax, e, std::string(t), "this expression");
  }

 private:
  void StartScope(int arity) {
    scope_.clear();
    arity_ = arity;
    introduced_ = arity;
  }

  static std::vector<const PyNode*> Plain(const std::vector<PyNode*>& stmts) {
    return std::vector<const PyNode*>(stmts.begin(), stmts.end());
  }
  // A body without its docstring.
  static std::vector<const PyNode*> Body(const std::vector<PyNode*>& stmts) {
    std::vector<const PyNode*> body = Plain(stmts);
    if (!body.empty() && IsDocstring(body[0])) body.erase(body.begin());
    return body;
  }

  void Emit(int token, const PyNode* origin) {
    tokens_.push_back(token);
    origins_.push_back(origin);
  }
  bool Stop() {
    stopped_ = true;
    return false;
  }
  bool Fail(TokenizeStage stage, const PyNode* node, std::string node_type, std::string message) {
    error_ = TokenizeError{stage, std::move(message), node->line, node->column,
                           std::move(node_type)};
    return false;
  }

  const Engine& engine_;
  const Vocabulary& vocab_;
  std::vector<int32_t> tokens_;
  std::vector<const PyNode*> origins_;
  std::optional<TokenizeError> error_;
  bool stopped_ = false;
  bool any_constant_ = false;
  std::vector<std::pair<int64_t, const PyNode*>> constants_;
  absl::flat_hash_map<std::string, int> scope_;  // source name -> variable index
  int arity_ = 0, introduced_ = 0;
  int blocks_ = 0;  // blocks being normalized: the function body, then each if/for body
};

// Why the decoder refused `token` in `state`, as the decoder says, in Tokenize's terms.
TokenizeError ClassifyRefusal(const DecodeState& state, int32_t token, const PyNode* at) {
  const DecodeConfig& cfg = state.engine().config();
  const TokenInfo& info = state.engine().vocab().info(token);
  TokenizeError e{TokenizeStage::kLimits, "", at ? at->line : 0, at ? at->column : 0,
                  at ? std::string(at->type) : ""};
  switch (state.WhyRefused(token)) {
    case Refusal::kScope:
      e.stage = TokenizeStage::kScope;
      e.message = Spec(info.node).kind == TokenKind::kVariable
                      ? "this name may be unbound here: it is not assigned on every path to it"
                      : "augmented assignment to a name that may be unbound here";
      break;
    case Refusal::kOutsideLoop:  // CPython: SyntaxError
      e.stage = TokenizeStage::kPythonParse;
      e.message = absl::StrCat("'", info.name, "' outside loop");
      break;
    case Refusal::kLoops:
      e.message = "loops are off in this config (allow_loops)";
      break;
    case Refusal::kBlockSize:
      e.message = absl::StrCat("the block has more than max_block_stmts = ", cfg.max_block_stmts,
                               " statements");
      break;
    case Refusal::kFunctions:
      e.message = absl::StrCat("the module has more than max_functions = ", cfg.max_functions,
                               " functions");
      break;
    case Refusal::kControlDepth:
      e.message = absl::StrCat("if/for nest deeper than max_control_depth = ",
                               cfg.max_control_depth);
      break;
    case Refusal::kExprDepth:
      e.message = absl::StrCat("the expression is deeper than max_expr_depth = ",
                               cfg.max_expr_depth);
      break;
    case Refusal::kLocals:
      e.message = absl::StrCat("one local more than max_locals = ", cfg.max_locals);
      break;
    case Refusal::kShape:
      e.message = "a shape control of the config refuses it (docs/language.md, section 4.1)";
      break;
    case Refusal::kBudget:
      e.message = absl::StrCat("the program needs more than max_len = ", state.max_len(),
                               " tokens");
      break;
    case Refusal::kNone:
    case Refusal::kVocabulary:
    case Refusal::kGrammar:
      e.stage = TokenizeStage::kVocabEncode;
      e.message = absl::StrCat("the decoder refused token '", info.name, "'");
      break;
  }
  return e;
}

// The state the tokens are checked against. It validates `max_len` and the BLOCK or EXPR arity,
// before the normalizer builds a root scope of that many names.
absl::StatusOr<DecodeState> RootState(const std::shared_ptr<const Engine>& engine,
                                      const TokenizeOptions& options) {
  const Start start = options.start;
  InitRequest request{start, {}, std::nullopt,
                      options.max_len == 0 ? kMaxLenLimit : options.max_len};
  if (start == Start::kBlock || start == Start::kExpr) request.arity = options.arity;
  return InitState(engine, request);
}

TokenizeResult Finish(const std::shared_ptr<const Engine>& engine, const PyNode* module,
                      const Normalizer& normalizer, const TokenizeOptions& options,
                      DecodeState state) {
  TokenizeResult result;
  result.start = options.start;
  const std::vector<int32_t>& tokens = normalizer.tokens();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!state.IsLegal(tokens[i])) {
      // `end` and `pass` have no node of their own: point at the statement before them.
      const PyNode* at = nullptr;
      for (size_t j = i + 1; j-- > 0 && at == nullptr;) at = normalizer.origins()[j];
      result.error = ClassifyRefusal(state, tokens[i], at != nullptr ? at : module);
      result.tokens = state.tokens();
      return result;
    }
    (void)state.Advance(tokens[i]);
  }
  if (std::optional<TokenizeError> error = normalizer.error() ? normalizer.error()
                                                                : normalizer.SpanError()) {
    result.error = std::move(error);
    result.tokens = state.tokens();
    return result;
  }
  if (!options.partial && !normalizer.stopped()) {
    if (!state.complete() || !state.Advance(Vocabulary::eos_id()).ok()) {
      // Only a module can end early here: it needs one function at least.
      result.error = TokenizeError{TokenizeStage::kUnsupportedSyntax,
                                   "a module holds at least one function", 1, 0, "Module"};
      result.tokens = state.tokens();
      return result;
    }
  }
  result.ok = true;
  result.tokens = state.tokens();
  result.complete = state.complete();
  result.normalized_source =
      AstToSource(internal::BuildAst(engine->vocab(), options.start, state.arity(),
                                     state.complete(), state.tokens()));
  result.state = std::move(state);
  return result;
}

std::optional<TokenizeResult> TooLarge(absl::string_view source, int64_t limit, Start start) {
  if (static_cast<int64_t>(source.size()) <= limit) return std::nullopt;
  TokenizeResult result;
  result.start = start;
  result.error = TokenizeError{TokenizeStage::kLimits,
                               absl::StrCat("the source has ", source.size(),
                                            " bytes; max_source_bytes is ", limit),
                               1, 0, ""};
  return result;
}

TokenizeResult ParseFailure(const PySyntaxError& error, Start start) {
  TokenizeResult result;
  result.start = start;
  // Nesting past kMaxNesting may be valid Python, but no config admits it.
  result.error = TokenizeError{
      error.too_deep ? TokenizeStage::kUnsupportedSyntax : TokenizeStage::kPythonParse,
      error.message, error.line, error.column, ""};
  return result;
}

}  // namespace

namespace {

// Normalizes a parsed source (or, when `def` is set, that one function) for `engine` and checks
// the tokens with its decoder.
TokenizeResult Encode(const std::shared_ptr<const Engine>& engine, const PyNode* module,
                      const PyNode* def, const TokenizeOptions& options, bool any_constant) {
  absl::StatusOr<DecodeState> state = RootState(engine, options);
  if (!state.ok()) {
    TokenizeResult r;
    r.start = options.start;
    r.error = TokenizeError{TokenizeStage::kLimits, std::string(state.status().message()), 0, 0,
                            ""};
    return r;
  }
  Normalizer normalizer(*engine);
  if (any_constant) normalizer.AcceptAnyConstant();
  std::vector<const PyNode*> body(module->body.begin(), module->body.end());
  if (!body.empty() && IsDocstring(body[0])) body.erase(body.begin());
  auto fail = [&](const PyNode* at, std::string type, std::string message) {
    TokenizeResult r;
    r.start = options.start;
    r.error = TokenizeError{TokenizeStage::kUnsupportedSyntax, std::move(message),
                            at ? at->line : 1, at ? at->column : 0, std::move(type)};
    return r;
  };
  switch (def != nullptr ? Start::kFunction : options.start) {
    case Start::kModule:
      normalizer.Module(module);
      break;
    case Start::kFunction:
      if (def == nullptr && (body.empty() || IsHole(body[0]))) {
        if (!options.partial) return fail(nullptr, "Module", "a FUNCTION source holds one def");
        break;
      }
      if (def == nullptr && (body[0]->type != "FunctionDef" || body.size() > 1)) {
        const PyNode* at = body[0]->type != "FunctionDef" ? body[0] : body[1];
        return fail(at, std::string(at->type), "a FUNCTION source holds exactly one def");
      }
      normalizer.Function(def != nullptr ? def : body[0]);
      break;
    case Start::kBlock:
      normalizer.StartRootScope(state->arity());
      normalizer.Block(module->body, options.partial, /*function_body=*/false);
      break;
    case Start::kExpr:
      if (body.size() != 1 || (body[0]->type != "Expr" && !IsHole(body[0]))) {
        const PyNode* at = body.empty() ? nullptr : body[body.size() > 1 ? 1 : 0];
        return fail(at, at ? std::string(at->type) : "Module",
                    "an EXPR source holds exactly one expression");
      }
      normalizer.StartRootScope(state->arity());
      if (!IsHole(body[0])) normalizer.Expression(body[0]->kids[0]);
      break;
  }
  return Finish(engine, module, normalizer, options, *std::move(state));
}

// `limits` answers "would a bigger config admit this source?", so a limit is reported only
// when the widest config admits the source. Any other failure under the widest config
// outranks it, wherever it stands; a limit even the widest config hits is outside the
// language (docs/language.md, section 10).
TokenizeResult EncodeRanked(const std::shared_ptr<const Engine>& engine, const PyNode* module,
                            const PyNode* def, const TokenizeOptions& options) {
  TokenizeResult result = Encode(engine, module, def, options, /*any_constant=*/false);
  if (result.ok || result.error->stage != TokenizeStage::kLimits) return result;
  static const auto* widest = new std::shared_ptr<const Engine>(*Engine::Create(Widest()));
  TokenizeOptions wide_options = options;
  wide_options.max_len = kMaxLenLimit;
  wide_options.arity = options.arity.value_or(engine->config().arities.front());
  TokenizeResult wide = Encode(*widest, module, def, wide_options, /*any_constant=*/true);
  if (wide.ok) return result;
  result.error = wide.error;
  if (wide.error->stage == TokenizeStage::kLimits) {
    result.error->stage = TokenizeStage::kUnsupportedSyntax;
    absl::StrAppend(&result.error->message, "; no config admits it");
  }
  return result;
}

}  // namespace

TokenizeResult Tokenize(const std::shared_ptr<const Engine>& engine, absl::string_view source,
                        const TokenizeOptions& options) {
  if (auto r = TooLarge(source, options.max_source_bytes, options.start)) return *std::move(r);
  PyArena arena;
  PyParseResult parsed = ParsePython(source, options.partial, &arena);
  if (!parsed.ok) return ParseFailure(parsed.error, options.start);
  return EncodeRanked(engine, parsed.module, nullptr, options);
}

std::vector<FunctionTokenizeResult> TokenizeFunctions(const std::shared_ptr<const Engine>& engine,
                                                      absl::string_view source,
                                                      int64_t max_source_bytes) {
  std::vector<FunctionTokenizeResult> out;
  if (auto r = TooLarge(source, max_source_bytes, Start::kFunction)) {
    out.push_back({"", 1, *std::move(r)});
    return out;
  }
  PyArena arena;
  PyParseResult parsed = ParsePython(source, /*partial=*/false, &arena);
  if (!parsed.ok) {
    out.push_back({"", parsed.error.line, ParseFailure(parsed.error, Start::kFunction)});
    return out;
  }
  TokenizeOptions options;
  options.start = Start::kFunction;
  for (const PyNode* stmt : parsed.module->body) {
    if (stmt->type != "FunctionDef" && stmt->type != "AsyncFunctionDef") continue;
    if (stmt->type == "AsyncFunctionDef") {
      TokenizeResult r;
      r.start = Start::kFunction;
      r.error = TokenizeError{TokenizeStage::kUnsupportedSyntax, "async def", stmt->line,
                              stmt->column, "AsyncFunctionDef"};
      out.push_back({std::string(stmt->name), stmt->line, std::move(r)});
      continue;
    }
    out.push_back({std::string(stmt->name), stmt->line,
                   EncodeRanked(engine, parsed.module, stmt, options)});
  }
  return out;
}

}  // namespace astcd
