// Helpers shared by the core tests: engines from configs, tokens from names, masks as sets.
#ifndef ASTCD_TESTS_CORE_TEST_UTIL_H_
#define ASTCD_TESTS_CORE_TEST_UTIL_H_

#include <pthread.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_split.h"
#include "core/ast.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "gtest/gtest.h"

namespace astcd::testing {

// A thread stack smaller than any the server runs requests on (docs/language.md, section 10):
// the deep-nesting tests run there, so that a recursion kMaxNesting does not bound crashes them
// rather than passing on the main thread's 8 MiB. Sanitizers make frames several times larger.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr size_t kSmallStack = size_t{1} << 20;
#else
inline constexpr size_t kSmallStack = size_t{256} << 10;
#endif

// Runs fn to completion on a new thread with a stack of `bytes`.
inline void OnSmallStack(const std::function<void()>& fn, size_t bytes = kSmallStack) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
  pthread_t thread;
  auto run = [](void* f) -> void* {
    (*static_cast<const std::function<void()>*>(f))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, run, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

// Every way a source can nest n levels deep, each a whole module: what the parser recurses
// into (brackets, unary operators, blocks, ...) and what it builds in a loop (elif, a + a + ...).
struct DeepShape {
  std::string name;
  std::function<std::string(int n)> source;
  bool linear = true;  // the source grows linearly with n (nested blocks grow quadratically)
};
inline std::string Repeat(absl::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}
inline std::vector<DeepShape> DeepShapes() {
  auto ret = [](std::string prefix, std::string leaf, std::string suffix) {
    return [=](int n) {
      return "def f(a):\n    return " + Repeat(prefix, n) + leaf + Repeat(suffix, n) + "\n";
    };
  };
  auto nested_blocks = [](std::string header) {
    return [=](int n) {
      std::string s = "def f(a):\n";
      for (int i = 0; i < n; ++i) s += std::string(i + 1, ' ') + header + "\n";
      return s + std::string(n + 1, ' ') + "pass\n";
    };
  };
  return {
      {"parens", ret("(", "a", ")")},
      {"unary minus", ret("-", "a", "")},
      {"minus parens", ret("-(", "a", ")")},
      {"not", ret("not ", "a", "")},
      {"a + a + ...", ret("", "a", " + a")},
      {"a * a + a * ...", ret("", "a", " * a + a")},
      {"a - (a - (...))", ret("a - (", "a", ")")},
      {"a ** a ** ...", ret("a ** ", "a", "")},
      {"if-else expressions", ret("a if a else ", "a", "")},
      {"nested if-else tests", ret("(a if ", "a", " else a)")},
      {"lambdas", ret("lambda: ", "a", "")},
      {"calls", ret("abs(", "a", ")")},
      {"call chain", ret("", "a", "()")},
      {"attribute chain", ret("", "a", ".b")},
      {"subscripts", ret("a[", "a", "]")},
      {"subscript chain", ret("", "a", "[0]")},
      {"lists", ret("[", "", "]")},
      {"dicts", ret("{1: ", "1", "}")},
      {"starred", ret("[*", "a", "]")},
      {"walrus", ret("(a := ", "a", ")")},
      {"comprehensions", ret("[a for a in ", "a", "]")},
      {"elif chain", [](int n) {
         return "def f(a):\n if a:pass\n" + Repeat(" elif a:pass\n", n) + " else:pass\n";
       }},
      {"nested ifs", nested_blocks("if a:"), false},
      {"nested fors", nested_blocks("for b in range(a):"), false},
      {"nested else blocks", [](int n) {
         std::string s = "def f(a):\n";
         for (int i = 0; i < n; ++i) {
           s += std::string(i + 1, ' ') + "if a: pass\n" + std::string(i + 1, ' ') + "else:\n";
         }
         return s + std::string(n + 1, ' ') + "pass\n";
       },
       false},
      {"match patterns", [](int n) {
         return "match a:\n case " + Repeat("[", n) + "b" + Repeat("]", n) + ":\n  pass\n";
       }},
  };
}

// Hand-built ASTs `depth` levels deep (the deepest node `depth` below the root), as only a
// library caller can make them: an EXPR of nested negations of `a`, and a BLOCK of nested ifs
// around a pass (each if and its block are two levels).
inline Ast DeepNegation(int depth) {
  Ast ast;
  ast.start = Start::kExpr;
  ast.arity = 1;
  ast.complete = true;
  AstNode* top = ast.arena->NewNode(NodeKind::kName, 0);
  for (int i = 0; i < depth; ++i) {
    AstNode* neg = ast.arena->NewNode(NodeKind::kNeg, 0);
    neg->Append(top);
    top = neg;
  }
  ast.root = top;
  return ast;
}
inline Ast DeepIfs(int depth) {
  Ast ast;
  ast.start = Start::kBlock;
  ast.arity = 1;
  ast.complete = true;
  ast.root = ast.arena->NewNode(NodeKind::kBody, 1);
  AstNode* block = ast.root;
  for (int level = 1; level + 1 < depth; level += 2) {
    AstNode* stmt = ast.arena->NewNode(NodeKind::kIf, 0);
    stmt->Append(ast.arena->NewNode(NodeKind::kName, 0));
    AstNode* body = ast.arena->NewNode(NodeKind::kBlock, 0);
    stmt->Append(body);
    block->Append(stmt);
    block = body;
  }
  block->Append(ast.arena->NewNode(NodeKind::kPass, 0));
  return ast;
}

inline std::shared_ptr<const Engine> MakeEngine(const DecodeConfig& config = {}) {
  auto engine = Engine::Create(config);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return *engine;
}

// "def/2 = c a end" -> token ids. Unknown names fail the test.
inline std::vector<int32_t> Ids(const Engine& engine, const std::string& names) {
  std::vector<int32_t> ids;
  for (absl::string_view name : absl::StrSplit(names, ' ', absl::SkipEmpty())) {
    auto id = engine.vocab().Find(name);
    EXPECT_TRUE(id.has_value()) << "no token named " << name;
    ids.push_back(id.value_or(0));
  }
  return ids;
}

inline std::set<int> MaskSet(const DecodeState& state) {
  std::vector<uint32_t> row(state.engine().words());
  state.FillMask(row.data());
  std::set<int> ids;
  for (int id = 0; id < state.engine().vocab().size(); ++id) {
    if ((row[id >> 5] >> (id & 31)) & 1u) ids.insert(id);
  }
  return ids;
}

inline std::string MaskNames(const DecodeState& state) {
  std::vector<std::string> names;
  for (int id : MaskSet(state)) names.push_back(state.engine().vocab().info(id).name);
  return absl::StrJoin(names, " ");
}

inline DecodeState MustInit(std::shared_ptr<const Engine> engine, Start start,
                            const std::string& prefix = "", int max_len = 0,
                            std::optional<int> arity = std::nullopt) {
  InitRequest request;
  request.start = start;
  request.prefix_tokens = Ids(*engine, prefix);
  request.max_len = max_len;
  request.arity = arity;
  auto state = InitState(engine, request);
  EXPECT_TRUE(state.ok()) << state.status();
  return *std::move(state);
}

}  // namespace astcd::testing

#endif  // ASTCD_TESTS_CORE_TEST_UTIL_H_
