// Dumps what ParsePython (core/py_ast.h) makes of Python files, for py_parser_oracle.py.
//
// usage: py_parser_dump [--partial] [--tree | --quiet] [FILE...]
//   With no FILE, reads file paths from stdin, one a line. For each file prints "=== PATH",
//   then either "ERROR line col message" or, in preorder, one line "Type line col" per stmt or
//   expr node (Constants as "Constant[int]" etc.): helper nodes (arguments, arg, keyword,
//   alias, comprehension, withitem, ExceptHandler, match_case, "X.field" wrappers) are left
//   out but their children kept, match patterns and the insides of f-strings are left out,
//   and the children of each node are listed in source order, as the oracle lists CPython's.
//   --tree prints the whole tree as an indented S-expression instead (for debugging); --quiet
//   only "OK <nodes> nodes" (for timing). The dumps recurse, over trees that ParsePython keeps
//   within kMaxNesting levels.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/py_ast.h"

namespace {

using astcd::PyNode;

bool IsPattern(absl::string_view t) { return absl::StartsWith(t, "Match") && t != "Match"; }

bool IsHelper(absl::string_view t) {
  return t == "Module" || t == "arguments" || t == "arg" || t == "keyword" || t == "alias" ||
         t == "comprehension" || t == "withitem" || t == "ExceptHandler" || t == "match_case" ||
         t == "identifier" || absl::StrContains(t, ".");
}

void Children(const PyNode* n, std::vector<const PyNode*>* out) {
  for (const auto* list : {&n->kids, &n->body, &n->orelse, &n->extra}) {
    for (const PyNode* kid : *list) {
      if (IsPattern(kid->type)) continue;
      if (IsHelper(kid->type)) {
        Children(kid, out);
      } else {
        out->push_back(kid);
      }
    }
  }
}

void Dump(const PyNode* n, std::string* out) {
  if (n->type == "Module") {
    for (const PyNode* k : n->body) Dump(k, out);
    return;
  }
  // StrAppend rather than `"[" + std::string(...)`: GCC 12 -O3 warns -Wrestrict on that.
  absl::StrAppend(out, n->type);
  if (n->type == "Constant") absl::StrAppend(out, "[", n->op, "]");
  absl::StrAppend(out, " ", n->line, " ", n->column, "\n");
  std::vector<const PyNode*> kids;
  Children(n, &kids);
  std::stable_sort(kids.begin(), kids.end(), [](const PyNode* a, const PyNode* b) {
    return a->line != b->line ? a->line < b->line : a->column < b->column;
  });
  for (const PyNode* k : kids) Dump(k, out);
}

void Tree(const PyNode* n, int depth, std::string* out) {
  std::string line(depth * 2, ' ');
  absl::StrAppend(&line, n->type);
  if (!n->op.empty()) absl::StrAppend(&line, ":", n->op);
  if (!n->name.empty()) absl::StrAppend(&line, " name=", n->name);
  if (!n->text.empty()) absl::StrAppend(&line, " text=", n->text.substr(0, 40));
  for (absl::string_view op : n->ops) absl::StrAppend(&line, " ", op);
  absl::StrAppend(&line, " @", n->line, ":", n->column);
  if (n->open) line += " OPEN";
  absl::StrAppend(out, line, "\n");
  for (const PyNode* k : n->kids) Tree(k, depth + 1, out);
  if (!n->body.empty()) *out += std::string(depth * 2 + 1, ' ') + "body:\n";
  for (const PyNode* k : n->body) Tree(k, depth + 1, out);
  if (!n->orelse.empty()) *out += std::string(depth * 2 + 1, ' ') + "orelse:\n";
  for (const PyNode* k : n->orelse) Tree(k, depth + 1, out);
  if (!n->extra.empty()) *out += std::string(depth * 2 + 1, ' ') + "extra:\n";
  for (const PyNode* k : n->extra) Tree(k, depth + 1, out);
}

void Process(const std::string& path, bool partial, bool tree, bool quiet) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string source = buffer.str();
  astcd::PyArena arena;
  astcd::PyParseResult r = astcd::ParsePython(source, partial, &arena);
  std::string out = absl::StrCat("=== ", path, "\n");
  if (!r.ok) {
    absl::StrAppend(&out, "ERROR ", r.error.line, " ", r.error.column, " ", r.error.message,
                    "\n");
  } else if (quiet) {
    absl::StrAppend(&out, "OK ", arena.size(), " nodes\n");
  } else if (tree) {
    Tree(r.module, 0, &out);
  } else {
    Dump(r.module, &out);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool partial = false, tree = false, quiet = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--partial")
      partial = true;
    else if (arg == "--tree")
      tree = true;
    else if (arg == "--quiet")
      quiet = true;
    else
      files.push_back(arg);
  }
  if (files.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty()) Process(line, partial, tree, quiet);
    }
  } else {
    for (const std::string& f : files) Process(f, partial, tree, quiet);
  }
  return 0;
}
