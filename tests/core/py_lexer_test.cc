// The Python lexer. Token streams are checked against CPython 3.11's tokenize module (the
// expectations below were produced by running it on each snippet), error messages and positions
// against its compiler (compile() on the same text; SyntaxError.offset - 1 as a byte column),
// then the bounded-resource guarantees on hostile input, and finally the whole standard library.
#include "core/py_lexer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace astcd {
namespace {

using Clock = std::chrono::steady_clock;


double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Escape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

// "KIND text line:col [number or string kind]", the text escaped.
std::string Describe(const PyToken& t) {
  static constexpr const char* kKinds[] = {"NAME",    "NUMBER", "STRING", "OP",
                                           "NEWLINE", "INDENT", "DEDENT", "END"};
  std::string s = kKinds[static_cast<int>(t.kind)];
  if (!t.text.empty()) absl::StrAppend(&s, " ", Escape(t.text));
  absl::StrAppend(&s, " ", t.line, ":", t.column);
  if (t.kind == PyTokenKind::kNumber) {
    static constexpr const char* kNumbers[] = {"int", "float", "imag"};
    absl::StrAppend(&s, " ", kNumbers[static_cast<int>(t.number_kind)]);
  }
  if (t.kind == PyTokenKind::kString) {
    static constexpr const char* kStrings[] = {"str", "bytes", "f"};
    absl::StrAppend(&s, " ", kStrings[static_cast<int>(t.string_kind)]);
  }
  return s;
}

std::vector<std::string> Describe(const PyLexResult& r) {
  std::vector<std::string> out;
  for (const PyToken& t : r.tokens) out.push_back(Describe(t));
  return out;
}

std::string ErrorText(const PyLexResult& r) {
  return r.ok ? "ok" : absl::StrCat(r.error.line, ":", r.error.column, ": ", r.error.message);
}

// The source for failure messages: escaped and cut short.
std::string Brief(absl::string_view source) {
  return source.size() <= 80 ? Escape(source) : absl::StrCat(Escape(source.substr(0, 80)), "...");
}

void ExpectTokens(absl::string_view source, const std::vector<std::string>& expected) {
  const PyLexResult r = LexPython(source);
  ASSERT_TRUE(r.ok) << ErrorText(r);
  EXPECT_FALSE(r.open_at_end);
  EXPECT_EQ(Describe(r), expected);
}

void ExpectError(absl::string_view source, absl::string_view message, int line, int column,
                 bool allow_open_end = false) {
  const PyLexResult r = LexPython(source, allow_open_end);
  ASSERT_FALSE(r.ok) << "lexed without error: " << Brief(source);
  EXPECT_TRUE(absl::StrContains(r.error.message, message))
      << "got \"" << r.error.message << "\", want \"" << message << "\" for " << Brief(source);
  EXPECT_EQ(r.error.line, line) << r.error.message << " for " << Brief(source);
  EXPECT_EQ(r.error.column, column) << r.error.message << " for " << Brief(source);
  if (!r.tokens.empty()) {
    EXPECT_NE(r.tokens.back().kind, PyTokenKind::kEnd);
  }
}

// ---------------------------------------------------------------------------------------------
// Token streams, differential against tokenize.generate_tokens.

TEST(PyLexerTokens, FunctionWithBranchesAndLoops) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "def f(a, b=2, *args, **kw):\n"
      "    if a > b:\n"
      "        return a\n"
      "    elif a == b:\n"
      "        pass\n"
      "    else:\n"
      "        for i in range(10):\n"
      "            a += i\n"
      "    return b\n",
      {"NAME def 1:0",       "NAME f 1:4",      "OP ( 1:5",        "NAME a 1:6",
       "OP , 1:7",           "NAME b 1:9",      "OP = 1:10",       "NUMBER 2 1:11 int",
       "OP , 1:12",          "OP * 1:14",       "NAME args 1:15",  "OP , 1:19",
       "OP ** 1:21",         "NAME kw 1:23",    "OP ) 1:25",       "OP : 1:26",
       "NEWLINE 1:27",       "INDENT 2:0",      "NAME if 2:4",     "NAME a 2:7",
       "OP > 2:9",           "NAME b 2:11",     "OP : 2:12",       "NEWLINE 2:13",
       "INDENT 3:0",         "NAME return 3:8", "NAME a 3:15",     "NEWLINE 3:16",
       "DEDENT 4:4",         "NAME elif 4:4",   "NAME a 4:9",      "OP == 4:11",
       "NAME b 4:14",        "OP : 4:15",       "NEWLINE 4:16",    "INDENT 5:0",
       "NAME pass 5:8",      "NEWLINE 5:12",    "DEDENT 6:4",      "NAME else 6:4",
       "OP : 6:8",           "NEWLINE 6:9",     "INDENT 7:0",      "NAME for 7:8",
       "NAME i 7:12",        "NAME in 7:14",    "NAME range 7:17", "OP ( 7:22",
       "NUMBER 10 7:23 int", "OP ) 7:25",       "OP : 7:26",       "NEWLINE 7:27",
       "INDENT 8:0",         "NAME a 8:12",     "OP += 8:14",      "NAME i 8:17",
       "NEWLINE 8:18",       "DEDENT 9:4",      "DEDENT 9:4",      "NAME return 9:4",
       "NAME b 9:11",        "NEWLINE 9:12",    "DEDENT 10:0",     "END 10:0"});
}

TEST(PyLexerTokens, CommentsAndBlankLines) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "# leading comment\n"
      "\n"
      "x = 1  # trailing\n"
      "\n"
      "   # indented comment\n"
      "if x:\n"
      "    # comment in block\n"
      "\n"
      "    y = 2\n"
      "        # deeper comment\n"
      "z = 3\n",
      {"NAME x 3:0", "OP = 3:2", "NUMBER 1 3:4 int", "NEWLINE 3:17", "NAME if 6:0", "NAME x 6:3",
       "OP : 6:4", "NEWLINE 6:5", "INDENT 9:0", "NAME y 9:4", "OP = 9:6", "NUMBER 2 9:8 int",
       "NEWLINE 9:9", "DEDENT 11:0", "NAME z 11:0", "OP = 11:2", "NUMBER 3 11:4 int",
       "NEWLINE 11:5", "END 12:0"});
}

TEST(PyLexerTokens, ContinuationLines) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "x = 1 + \\\n"
      "    2\n"
      "if a and \\\n"
      "   b:\n"
      "    pass\n",
      {"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int", "OP + 1:6", "NUMBER 2 2:4 int", "NEWLINE 2:5",
       "NAME if 3:0", "NAME a 3:3", "NAME and 3:5", "NAME b 4:3", "OP : 4:4", "NEWLINE 4:5",
       "INDENT 5:0", "NAME pass 5:4", "NEWLINE 5:8", "DEDENT 6:0", "END 6:0"});
}

TEST(PyLexerTokens, BracketsAcrossLines) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "foo(1,\n"
      "    2,  # two\n"
      "  [3,\n"
      "\n"
      "4],\n"
      "{5: 6})\n"
      "if x:\n"
      "    y = (\n"
      ")\n",
      {"NAME foo 1:0",     "OP ( 1:3", "NUMBER 1 1:4 int", "OP , 1:5",         "NUMBER 2 2:4 int",
       "OP , 2:5",         "OP [ 3:2", "NUMBER 3 3:3 int", "OP , 3:4",         "NUMBER 4 5:0 int",
       "OP ] 5:1",         "OP , 5:2", "OP { 6:0",         "NUMBER 5 6:1 int", "OP : 6:2",
       "NUMBER 6 6:4 int", "OP } 6:5", "OP ) 6:6",         "NEWLINE 6:7",      "NAME if 7:0",
       "NAME x 7:3",       "OP : 7:4", "NEWLINE 7:5",      "INDENT 8:0",       "NAME y 8:4",
       "OP = 8:6",         "OP ( 8:8", "OP ) 9:0",         "NEWLINE 9:1",      "DEDENT 10:0",
       "END 10:0"});
}

TEST(PyLexerTokens, StringForms) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "s = 'a' \"b\" '''c\n"
      "d''' \"\"\"e\"\"\" ''\n"
      "t = r'\\d' R\"x\" b'y' B\"z\" br'\\x' rB'w' Rb\"v\" u'q' U\"p\"\n"
      "u = f'{x}' F\"{y!r:>{w}}\" fr'{z}\\d' Rf'' 'esc\\'q' \"a\\\n"
      "b\" '''x'y''z'''\n",
      {"NAME s 1:0",
       "OP = 1:2",
       "STRING 'a' 1:4 str",
       "STRING \"b\" 1:8 str",
       "STRING '''c\\nd''' 1:12 str",
       "STRING \"\"\"e\"\"\" 2:5 str",
       "STRING '' 2:13 str",
       "NEWLINE 2:15",
       "NAME t 3:0",
       "OP = 3:2",
       "STRING r'\\\\d' 3:4 str",
       "STRING R\"x\" 3:10 str",
       "STRING b'y' 3:15 bytes",
       "STRING B\"z\" 3:20 bytes",
       "STRING br'\\\\x' 3:25 bytes",
       "STRING rB'w' 3:32 bytes",
       "STRING Rb\"v\" 3:38 bytes",
       "STRING u'q' 3:44 str",
       "STRING U\"p\" 3:49 str",
       "NEWLINE 3:53",
       "NAME u 4:0",
       "OP = 4:2",
       "STRING f'{x}' 4:4 f",
       "STRING F\"{y!r:>{w}}\" 4:11 f",
       "STRING fr'{z}\\\\d' 4:25 f",
       "STRING Rf'' 4:35 f",
       "STRING 'esc\\\\'q' 4:40 str",
       "STRING \"a\\\\\\nb\" 4:49 str",
       "STRING '''x'y''z''' 5:3 str",
       "NEWLINE 5:15",
       "END 6:0"});
}

TEST(PyLexerTokens, NumberForms) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "n = 0, 00, 0_0, 123, 1_000, 0x1F, 0X_ff, 0o17, 0O_7, 0b1010, 0B_1\n"
      "f = 1., .5, 1.5, 1e10, 1E-5, 1_000.5e-3, 1.e5, 09.5, 1e1_0, 0.0\n"
      "j = 1j, 1.5J, 0j, 09j, .5j, 1e3j\n",
      {"NAME n 1:0",
       "OP = 1:2",
       "NUMBER 0 1:4 int",
       "OP , 1:5",
       "NUMBER 00 1:7 int",
       "OP , 1:9",
       "NUMBER 0_0 1:11 int",
       "OP , 1:14",
       "NUMBER 123 1:16 int",
       "OP , 1:19",
       "NUMBER 1_000 1:21 int",
       "OP , 1:26",
       "NUMBER 0x1F 1:28 int",
       "OP , 1:32",
       "NUMBER 0X_ff 1:34 int",
       "OP , 1:39",
       "NUMBER 0o17 1:41 int",
       "OP , 1:45",
       "NUMBER 0O_7 1:47 int",
       "OP , 1:51",
       "NUMBER 0b1010 1:53 int",
       "OP , 1:59",
       "NUMBER 0B_1 1:61 int",
       "NEWLINE 1:65",
       "NAME f 2:0",
       "OP = 2:2",
       "NUMBER 1. 2:4 float",
       "OP , 2:6",
       "NUMBER .5 2:8 float",
       "OP , 2:10",
       "NUMBER 1.5 2:12 float",
       "OP , 2:15",
       "NUMBER 1e10 2:17 float",
       "OP , 2:21",
       "NUMBER 1E-5 2:23 float",
       "OP , 2:27",
       "NUMBER 1_000.5e-3 2:29 float",
       "OP , 2:39",
       "NUMBER 1.e5 2:41 float",
       "OP , 2:45",
       "NUMBER 09.5 2:47 float",
       "OP , 2:51",
       "NUMBER 1e1_0 2:53 float",
       "OP , 2:58",
       "NUMBER 0.0 2:60 float",
       "NEWLINE 2:63",
       "NAME j 3:0",
       "OP = 3:2",
       "NUMBER 1j 3:4 imag",
       "OP , 3:6",
       "NUMBER 1.5J 3:8 imag",
       "OP , 3:12",
       "NUMBER 0j 3:14 imag",
       "OP , 3:16",
       "NUMBER 09j 3:18 imag",
       "OP , 3:21",
       "NUMBER .5j 3:23 imag",
       "OP , 3:26",
       "NUMBER 1e3j 3:28 imag",
       "NEWLINE 3:32",
       "END 4:0"});
}

TEST(PyLexerTokens, Operators) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "a ** b // c >> d << e <= f >= g == h != i < j > k\n"
      "a + b - c * d / e % f @ g & h | i ^ j ~ k\n"
      "a += 1; b -= 1; c *= 1; d /= 1; e //= 1; f %= 1; g @= 1\n"
      "h &= 1; i |= 1; j ^= 1; k >>= 1; l <<= 1; m **= 1\n"
      "def f(x) -> int: return (y := x[1:2, ...].z)\n",
      {"NAME a 1:0",
       "OP ** 1:2",
       "NAME b 1:5",
       "OP // 1:7",
       "NAME c 1:10",
       "OP >> 1:12",
       "NAME d 1:15",
       "OP << 1:17",
       "NAME e 1:20",
       "OP <= 1:22",
       "NAME f 1:25",
       "OP >= 1:27",
       "NAME g 1:30",
       "OP == 1:32",
       "NAME h 1:35",
       "OP != 1:37",
       "NAME i 1:40",
       "OP < 1:42",
       "NAME j 1:44",
       "OP > 1:46",
       "NAME k 1:48",
       "NEWLINE 1:49",
       "NAME a 2:0",
       "OP + 2:2",
       "NAME b 2:4",
       "OP - 2:6",
       "NAME c 2:8",
       "OP * 2:10",
       "NAME d 2:12",
       "OP / 2:14",
       "NAME e 2:16",
       "OP % 2:18",
       "NAME f 2:20",
       "OP @ 2:22",
       "NAME g 2:24",
       "OP & 2:26",
       "NAME h 2:28",
       "OP | 2:30",
       "NAME i 2:32",
       "OP ^ 2:34",
       "NAME j 2:36",
       "OP ~ 2:38",
       "NAME k 2:40",
       "NEWLINE 2:41",
       "NAME a 3:0",
       "OP += 3:2",
       "NUMBER 1 3:5 int",
       "OP ; 3:6",
       "NAME b 3:8",
       "OP -= 3:10",
       "NUMBER 1 3:13 int",
       "OP ; 3:14",
       "NAME c 3:16",
       "OP *= 3:18",
       "NUMBER 1 3:21 int",
       "OP ; 3:22",
       "NAME d 3:24",
       "OP /= 3:26",
       "NUMBER 1 3:29 int",
       "OP ; 3:30",
       "NAME e 3:32",
       "OP //= 3:34",
       "NUMBER 1 3:38 int",
       "OP ; 3:39",
       "NAME f 3:41",
       "OP %= 3:43",
       "NUMBER 1 3:46 int",
       "OP ; 3:47",
       "NAME g 3:49",
       "OP @= 3:51",
       "NUMBER 1 3:54 int",
       "NEWLINE 3:55",
       "NAME h 4:0",
       "OP &= 4:2",
       "NUMBER 1 4:5 int",
       "OP ; 4:6",
       "NAME i 4:8",
       "OP |= 4:10",
       "NUMBER 1 4:13 int",
       "OP ; 4:14",
       "NAME j 4:16",
       "OP ^= 4:18",
       "NUMBER 1 4:21 int",
       "OP ; 4:22",
       "NAME k 4:24",
       "OP >>= 4:26",
       "NUMBER 1 4:30 int",
       "OP ; 4:31",
       "NAME l 4:33",
       "OP <<= 4:35",
       "NUMBER 1 4:39 int",
       "OP ; 4:40",
       "NAME m 4:42",
       "OP **= 4:44",
       "NUMBER 1 4:48 int",
       "NEWLINE 4:49",
       "NAME def 5:0",
       "NAME f 5:4",
       "OP ( 5:5",
       "NAME x 5:6",
       "OP ) 5:7",
       "OP -> 5:9",
       "NAME int 5:12",
       "OP : 5:15",
       "NAME return 5:17",
       "OP ( 5:24",
       "NAME y 5:25",
       "OP := 5:27",
       "NAME x 5:30",
       "OP [ 5:31",
       "NUMBER 1 5:32 int",
       "OP : 5:33",
       "NUMBER 2 5:34 int",
       "OP , 5:35",
       "OP ... 5:37",
       "OP ] 5:40",
       "OP . 5:41",
       "NAME z 5:42",
       "OP ) 5:43",
       "NEWLINE 5:44",
       "END 6:0"});
}

TEST(PyLexerTokens, UnicodeIdentifiersColumnsInBytes) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "café = naïve + 1\n"
      "π = 'é'; 変数 = π\n",
      {"NAME café 1:0", "OP = 1:6", "NAME naïve 1:8", "OP + 1:15", "NUMBER 1 1:17 int",
       "NEWLINE 1:18", "NAME π 2:0", "OP = 2:3", "STRING 'é' 2:5 str", "OP ; 2:9", "NAME 変数 2:11",
       "OP = 2:18", "NAME π 2:20", "NEWLINE 2:22", "END 3:0"});
}

TEST(PyLexerTokens, TabsAndFormFeeds) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "if x:\n"
      "\ty = 1\n"
      "\tif y:\n"
      "\t\tz = 2\n"
      "\t\t\fw\n"
      "\f\n"
      "v\n",
      {"NAME if 1:0", "NAME x 1:3",       "OP : 1:4",         "NEWLINE 1:5", "INDENT 2:0",
       "NAME y 2:1",  "OP = 2:3",         "NUMBER 1 2:5 int", "NEWLINE 2:6", "NAME if 3:1",
       "NAME y 3:4",  "OP : 3:5",         "NEWLINE 3:6",      "INDENT 4:0",  "NAME z 4:2",
       "OP = 4:4",    "NUMBER 2 4:6 int", "NEWLINE 4:7",      "DEDENT 5:3",  "DEDENT 5:3",
       "NAME w 5:3",  "NEWLINE 5:4",      "NAME v 7:0",       "NEWLINE 7:1", "END 8:0"});
}

TEST(PyLexerTokens, NoFinalNewline) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "class A:\n"
      "    def m(self):\n"
      "        return self.x",
      {"NAME class 1:0", "NAME A 1:6",   "OP : 1:7",     "NEWLINE 1:8",     "INDENT 2:0",
       "NAME def 2:4",   "NAME m 2:8",   "OP ( 2:9",     "NAME self 2:10",  "OP ) 2:14",
       "OP : 2:15",      "NEWLINE 2:16", "INDENT 3:0",   "NAME return 3:8", "NAME self 3:15",
       "OP . 3:19",      "NAME x 3:20",  "NEWLINE 3:21", "DEDENT 4:0",      "DEDENT 4:0",
       "END 4:0"});
}

TEST(PyLexerTokens, DecoratorsLambdasEllipsis) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "@dec(1)\n"
      "class C: ...\n"
      "x = [i for i in y if i]; z = lambda: ...\n",
      {"OP @ 1:0",         "NAME dec 1:1",   "OP ( 1:4",     "NUMBER 1 1:5 int", "OP ) 1:6",
       "NEWLINE 1:7",      "NAME class 2:0", "NAME C 2:6",   "OP : 2:7",         "OP ... 2:9",
       "NEWLINE 2:12",     "NAME x 3:0",     "OP = 3:2",     "OP [ 3:4",         "NAME i 3:5",
       "NAME for 3:7",     "NAME i 3:11",    "NAME in 3:13", "NAME y 3:16",      "NAME if 3:18",
       "NAME i 3:21",      "OP ] 3:22",      "OP ; 3:23",    "NAME z 3:25",      "OP = 3:27",
       "NAME lambda 3:29", "OP : 3:35",      "OP ... 3:37",  "NEWLINE 3:40",     "END 4:0"});
}

TEST(PyLexerTokens, CrlfLineEndings) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "x = 1\r\n"
      "if x:\r\n"
      "    y = '''a\r\n"
      "b'''\r\n",
      {"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int", "NEWLINE 1:5", "NAME if 2:0", "NAME x 2:3",
       "OP : 2:4", "NEWLINE 2:5", "INDENT 3:0", "NAME y 3:4", "OP = 3:6",
       "STRING '''a\\r\\nb''' 3:8 str", "NEWLINE 4:4", "DEDENT 5:0", "END 5:0"});
}

TEST(PyLexerTokens, NumbersBeforeKeywords) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "a = 1if b else 2\n"
      "c = [x for x in y if 0in x or 1or 2]\n",
      {"NAME a 1:0",        "OP = 1:2",     "NUMBER 1 1:4 int",
       "NAME if 1:5",       "NAME b 1:8",   "NAME else 1:10",
       "NUMBER 2 1:15 int", "NEWLINE 1:16", "NAME c 2:0",
       "OP = 2:2",          "OP [ 2:4",     "NAME x 2:5",
       "NAME for 2:7",      "NAME x 2:11",  "NAME in 2:13",
       "NAME y 2:16",       "NAME if 2:18", "NUMBER 0 2:21 int",
       "NAME in 2:22",      "NAME x 2:25",  "NAME or 2:27",
       "NUMBER 1 2:30 int", "NAME or 2:31", "NUMBER 2 2:34 int",
       "OP ] 2:35",         "NEWLINE 2:36", "END 3:0"});
}

TEST(PyLexerTokens, CommentOnlySource) {
  // tokenize.generate_tokens on CPython 3.11, minus COMMENT and NL, columns in bytes.
  ExpectTokens(
      "# just a comment\n"
      "\n"
      "   # and another",
      {"END 4:0"});
}

TEST(PyLexerTokens, EmptySourceAndBom) {
  ExpectTokens("", {"END 1:0"});
  ExpectTokens("\n\n", {"END 3:0"});
  // The BOM is skipped and columns count from after it.
  ExpectTokens("\xEF\xBB\xBFx = 1\n",
               {"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int", "NEWLINE 1:5", "END 2:0"});
}

TEST(PyLexerTokens, LoneCarriageReturnsEndLines) {
  // CPython reads "\r" alone as a line break (universal newlines).
  ExpectTokens("x = 1\ry = 2\r",
               {"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int", "NEWLINE 1:5", "NAME y 2:0",
                "OP = 2:2", "NUMBER 2 2:4 int", "NEWLINE 2:5", "END 3:0"});
}

TEST(PyLexerTokens, KindsOfNumbersAndStrings) {
  const PyLexResult r = LexPython("1 1.0 1e3 1j 0x_f b'' rb'' f'' rf'' '' r'' u''\n");
  ASSERT_TRUE(r.ok) << ErrorText(r);
  ASSERT_EQ(r.tokens.size(), 14u);
  const PyNumberKind numbers[] = {PyNumberKind::kInt, PyNumberKind::kFloat, PyNumberKind::kFloat,
                                  PyNumberKind::kImaginary, PyNumberKind::kInt};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.tokens[i].number_kind, numbers[i]) << i;
  const PyStringKind strings[] = {
      PyStringKind::kBytes, PyStringKind::kBytes, PyStringKind::kFString, PyStringKind::kFString,
      PyStringKind::kStr,   PyStringKind::kStr,   PyStringKind::kStr};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(r.tokens[5 + i].string_kind, strings[i]) << i;
}

TEST(PyLexerTokens, PrefixesThatAreNotStringPrefixes) {
  // "bu" and "ur" are not prefixes (CPython: a NAME, then the string).
  ExpectTokens("bu'x' ur'y' ab\"z\"\n",
               {"NAME bu 1:0", "STRING 'x' 1:2 str", "NAME ur 1:6", "STRING 'y' 1:8 str",
                "NAME ab 1:12", "STRING \"z\" 1:14 str", "NEWLINE 1:17", "END 2:0"});
}

TEST(PyLexerTokens, TokensAreViewsIntoTheSource) {
  const std::string source = "def f(x):\n    return x\n";
  const PyLexResult r = LexPython(source);
  ASSERT_TRUE(r.ok);
  for (const PyToken& t : r.tokens) {
    EXPECT_GE(t.text.data(), source.data());
    EXPECT_LE(t.text.data() + t.text.size(), source.data() + source.size());
  }
}

TEST(PyLexerTokens, NonAsciiIdentifierCharacters) {
  // ª µ · º and letters from many scripts are identifier characters.
  ExpectTokens("ªµº = x·y + Ωμέγα + ﬁ + 𝔘\n",
               {"NAME ªµº 1:0", "OP = 1:7", "NAME x·y 1:9", "OP + 1:14", "NAME Ωμέγα 1:16",
                "OP + 1:27", "NAME ﬁ 1:29", "OP + 1:33", "NAME 𝔘 1:35", "NEWLINE 1:39", "END 2:0"});
}

// ---------------------------------------------------------------------------------------------
// Errors: messages and positions as CPython 3.11's compile() reports them, except where noted.

TEST(PyLexerErrors, Numbers) {
  ExpectError("1__0", "invalid decimal literal", 1, 1);
  ExpectError("x = 1_", "invalid decimal literal", 1, 5);
  ExpectError("1abc", "invalid decimal literal", 1, 0);
  ExpectError("1e", "invalid decimal literal", 1, 0);
  ExpectError("1e+", "invalid decimal literal", 1, 2);
  ExpectError("1.5e", "invalid decimal literal", 1, 2);
  ExpectError("1e1__0", "invalid decimal literal", 1, 3);
  ExpectError("1.__0", "invalid decimal literal", 1, 1);
  ExpectError("1_j", "invalid decimal literal", 1, 1);
  ExpectError("0.5x", "invalid decimal literal", 1, 2);
  ExpectError("1jx", "invalid imaginary literal", 1, 1);
  ExpectError("x = 0777",
              "leading zeros in decimal integer literals are not permitted; use an 0o prefix for "
              "octal integers",
              1, 4);
  ExpectError("0_7", "leading zeros in decimal integer literals", 1, 0);
  ExpectError("0x", "invalid hexadecimal literal", 1, 1);
  ExpectError("0x_", "invalid hexadecimal literal", 1, 2);
  ExpectError("0xg", "invalid hexadecimal literal", 1, 1);
  ExpectError("0x1__2", "invalid hexadecimal literal", 1, 3);
  ExpectError("0o", "invalid octal literal", 1, 1);
  ExpectError("0o8", "invalid digit '8' in octal literal", 1, 2);
  ExpectError("0o1_8", "invalid digit '8' in octal literal", 1, 4);
  ExpectError("0b", "invalid binary literal", 1, 1);
  ExpectError("0b2", "invalid digit '2' in binary literal", 1, 2);
  ExpectError("x = 0b12", "invalid digit '2' in binary literal", 1, 7);
  ExpectError("0b1_", "invalid binary literal", 1, 3);
}

TEST(PyLexerErrors, InvalidCharacters) {
  // CPython's tokenizer passes $ ? ` and a lone ! to the parser ("invalid syntax"); here they
  // are lexer errors, worded like CPython's for non-ASCII characters.
  ExpectError("x = $", "invalid character '$' (U+0024)", 1, 4);
  ExpectError("x = ?", "invalid character '?' (U+003F)", 1, 4);
  ExpectError("x = `a`", "invalid character '`' (U+0060)", 1, 4);
  ExpectError("x = a ! b", "invalid character '!' (U+0021)", 1, 6);
  ExpectError("x = \x01", "invalid non-printable character U+0001", 1, 4);
  ExpectError("x = \x7f", "invalid non-printable character U+007F", 1, 4);
  ExpectError("x = €", "invalid character '€' (U+20AC)", 1, 4);
  ExpectError("a€b = 1", "invalid character '€' (U+20AC)", 1, 1);
  ExpectError("é = 1 → 2", "invalid character '→' (U+2192)", 1, 7);
  ExpectError("x = 1 + 😀", "invalid character '😀' (U+1F600)", 1, 8);
  ExpectError("x = \u00a0", "invalid non-printable character U+00A0", 1, 4);
  ExpectError("x\u200b = 1", "invalid non-printable character U+200B", 1, 1);
  ExpectError("x = 1 \xEF\xBB\xBF", "invalid non-printable character U+FEFF", 1, 6);
}

TEST(PyLexerErrors, Strings) {
  ExpectError("'abc", "unterminated string literal (detected at line 1)", 1, 0);
  ExpectError("x = 'abc\ny = 1\n", "unterminated string literal (detected at line 1)", 1, 4);
  ExpectError("x = b'abc\n", "unterminated string literal (detected at line 1)", 1, 4);
  ExpectError("s = 'a\\\nb\n", "unterminated string literal (detected at line 2)", 1, 4);
  ExpectError("x = 'a\\", "unterminated string literal (detected at line 1)", 1, 4);
  ExpectError("'''abc\n\n", "unterminated triple-quoted string literal (detected at line 2)", 1, 0);
  ExpectError("'''abc\n", "unterminated triple-quoted string literal (detected at line 1)", 1, 0);
  ExpectError("x = (\n '''abc\n", "unterminated triple-quoted string literal (detected at line 2)",
              2, 1);
  ExpectError("rb'''x''", "unterminated triple-quoted string literal (detected at line 1)", 1, 0);
}

TEST(PyLexerErrors, Brackets) {
  ExpectError("x = (1,\n2", "'(' was never closed", 1, 4);
  ExpectError("x = (1,\n[2,\n", "'[' was never closed", 2, 0);
  ExpectError("x = (\\\n", "'(' was never closed", 1, 4);
  ExpectError("x = )", "unmatched ')'", 1, 4);
  ExpectError("x = (]", "closing parenthesis ']' does not match opening parenthesis '('", 1, 5);
  ExpectError("x = (\n]",
              "closing parenthesis ']' does not match opening parenthesis '(' on line 1", 2, 0);
  ExpectError("x = {1: [2)}", "closing parenthesis ')' does not match opening parenthesis '['", 1,
              10);
}

TEST(PyLexerErrors, LineContinuation) {
  ExpectError("x = 1 + \\", "unexpected EOF while parsing", 1, 9);
  ExpectError("x = 1 + \\\n", "unexpected EOF while parsing", 1, 9);
  ExpectError("x = 1 \\ 2", "unexpected character after line continuation character", 1, 7);
  ExpectError("x = 1 \\# comment\n", "unexpected character after line continuation character", 1,
              7);
}

TEST(PyLexerErrors, Indentation) {
  // CPython reports these at column 0 or at the end of the line; here the column is that of the
  // first character after the indentation.
  ExpectError("if x:\n  y\n z\n", "unindent does not match any outer indentation level", 3, 1);
  ExpectError("if x:\n\ty\n        z\n", "inconsistent use of tabs and spaces in indentation", 3,
              8);
  ExpectError("if x:\n        y\n\tz\n", "inconsistent use of tabs and spaces in indentation", 3,
              1);
  ExpectError("if x:\n    y\n  \tz\n", "inconsistent use of tabs and spaces in indentation", 3, 3);
  // Consistent mixtures are fine, as in CPython.
  ExpectTokens("if x:\n\t y\n",
               {"NAME if 1:0", "NAME x 1:3", "OP : 1:4", "NEWLINE 1:5", "INDENT 2:0", "NAME y 2:2",
                "NEWLINE 2:3", "DEDENT 3:0", "END 3:0"});
}

TEST(PyLexerErrors, NulBytes) {
  ExpectError(absl::string_view("x = 1\0", 6), "source code cannot contain null bytes", 1, 5);
  ExpectError(absl::string_view("x = 'a\0b'\n", 10), "source code cannot contain null bytes", 1, 6);
  ExpectError(absl::string_view("x\n# \0\n", 6), "source code cannot contain null bytes", 2, 2);
  // The tokens before the NUL are returned.
  const PyLexResult r = LexPython(absl::string_view("x = 1\ny\0", 8));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(Describe(r), (std::vector<std::string>{"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int",
                                                   "NEWLINE 1:5", "NAME y 2:0"}));
}

TEST(PyLexerErrors, InvalidUtf8) {
  ExpectError("x = '\xff'", "invalid UTF-8: can't decode byte 0xff (invalid start byte)", 1, 5);
  ExpectError("\x80", "invalid start byte", 1, 0);
  ExpectError("x = '\xc0\xaf'", "byte 0xc0 (invalid start byte)", 1, 5);             // overlong
  ExpectError("x = '\xe0\x80\xaf'", "byte 0xe0 (invalid continuation byte)", 1, 5);  // overlong
  ExpectError("x = '\xed\xa0\x80'", "byte 0xed (invalid continuation byte)", 1, 5);  // surrogate
  ExpectError("x = '\xf4\x90\x80\x80'", "byte 0xf4 (invalid continuation byte)", 1, 5);
  ExpectError("x = '\xf5\x80\x80\x80'", "byte 0xf5 (invalid start byte)", 1, 5);
  ExpectError("x = '\xe2\x82", "byte 0xe2 (unexpected end of data)", 1, 5);
  ExpectError("x = 'é\xe2\x82'", "byte 0xe2 (invalid continuation byte)", 1, 7);
  // Lines counted over \r\n, \r and \n; the column in bytes.
  ExpectError("a\r\nb\rc\n# ü \xff", "invalid start byte", 4, 5);
  // Errors before the bad byte win; the tokens before the bad byte are returned.
  ExpectError("x = $ \xff", "invalid character '$'", 1, 4);
  const PyLexResult r = LexPython("if x:\n    y = f(\xff)");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.line, 2);
  EXPECT_EQ(r.error.column, 10);
  EXPECT_EQ(Describe(r).size(), 9u) << ::testing::PrintToString(Describe(r));
}

TEST(PyLexerErrors, TokensBeforeTheError) {
  const PyLexResult r = LexPython("x = 1\nif x:\n    y = )\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.message, "unmatched ')'");
  EXPECT_EQ(Describe(r),
            (std::vector<std::string>{"NAME x 1:0", "OP = 1:2", "NUMBER 1 1:4 int", "NEWLINE 1:5",
                                      "NAME if 2:0", "NAME x 2:3", "OP : 2:4", "NEWLINE 2:5",
                                      "INDENT 3:0", "NAME y 3:4", "OP = 3:6"}));
}

// ---------------------------------------------------------------------------------------------
// allow_open_end, for partial prompts.

TEST(PyLexerOpenEnd, UnfinishedPromptsAreClosed) {
  struct Case {
    const char* source;
    bool open;
  };
  const Case cases[] = {
      {"def func(a, b):\n    c = a +", true},  // a binary operator last
      {"x = foo(1,\n  2", true},               // inside brackets
      {"x = [\n", true},
      {"if x:\n", true},  // a block header without its body
      {"if x:\n    ", true},
      {"x = 1 + \\\n", true},  // right after a continuation
      {"x = 1 + \\", true},
      {"if x:\n    y = 1 +\n", true},  // NEWLINEs and comments do not matter
      {"class A:\n    def f(self):  # comment\n\n", true},
      {"x =", true},
      {"x = a.", true},
      {"@", true},
      {"x = 1\n", false},
      {"x = f()", false},
      {"x = [1, 2]", false},
      {"x = ...", false},
      {"x = 1,", false},
      {"x = 1;", false},
      {"from m import *", false},
      {"if x:\n    y", false},
      {"", false},
  };
  for (const Case& c : cases) {
    const PyLexResult r = LexPython(c.source, /*allow_open_end=*/true);
    ASSERT_TRUE(r.ok) << Escape(c.source) << ": " << ErrorText(r);
    EXPECT_EQ(r.open_at_end, c.open) << Escape(c.source);
    ASSERT_FALSE(r.tokens.empty());
    EXPECT_EQ(r.tokens.back().kind, PyTokenKind::kEnd) << Escape(c.source);
    // Without the flag the same text is never open, and the incomplete ones may be errors.
    EXPECT_FALSE(LexPython(c.source).open_at_end) << Escape(c.source);
  }
}

TEST(PyLexerOpenEnd, TokensAreClosedByNewlineDedentsAndEnd) {
  const PyLexResult r = LexPython("def f(a):\n    if a:\n        c = g(a,", true);
  ASSERT_TRUE(r.ok) << ErrorText(r);
  EXPECT_TRUE(r.open_at_end);
  const std::vector<std::string> tokens = Describe(r);
  ASSERT_GE(tokens.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(tokens.end() - 5, tokens.end()),
            (std::vector<std::string>{"OP , 3:15", "NEWLINE 3:16", "DEDENT 4:0", "DEDENT 4:0",
                                      "END 4:0"}));
}

TEST(PyLexerOpenEnd, OtherErrorsRemain) {
  ExpectError("x = '''abc", "unterminated triple-quoted string literal", 1, 4, true);
  ExpectError("x = 'abc", "unterminated string literal", 1, 4, true);
  ExpectError("x = (]", "does not match", 1, 5, true);
  ExpectError(absl::string_view("x = (\0", 6), "null bytes", 1, 5, true);
  ExpectError("x = (\xff", "invalid UTF-8", 1, 5, true);
}

// ---------------------------------------------------------------------------------------------
// Hostile input: bounded time and memory.

TEST(PyLexerLimits, TenMegabyteLine) {
  std::string source = "x = ";
  for (int i = 0; i < 2'500'000; ++i) source += "1 + ";
  source += "1";
  const auto start = Clock::now();
  const PyLexResult r = LexPython(source);
  const double seconds = SecondsSince(start);
  ASSERT_TRUE(r.ok) << ErrorText(r);
  EXPECT_EQ(r.tokens.size(), 2 + 2 * 2'500'000 + 1 + 2u);  // x = 1 (+ 1)* NEWLINE END
  EXPECT_EQ(r.tokens.capacity(), r.tokens.size());         // large inputs are counted first
  EXPECT_EQ(r.tokens[r.tokens.size() - 3].column, static_cast<int>(source.size()) - 1);
  std::cout << "10 MB line: " << r.tokens.size() << " tokens in " << seconds << " s\n";
}

TEST(PyLexerLimits, BracketNesting) {
  const std::string deep(1000, '(');
  ExpectError(deep, "too many nested parentheses", 1, 200);  // the 201st
  EXPECT_EQ(LexPython(deep).tokens.size(), 200u);
  // 200 levels are allowed, as in CPython.
  const PyLexResult r = LexPython("x = " + std::string(200, '(') + std::string(200, ')'));
  EXPECT_TRUE(r.ok) << ErrorText(r);
  ExpectError("x = " + std::string(201, '[') + std::string(201, ']'), "too many nested parentheses",
              1, 204);
}

TEST(PyLexerLimits, IndentationDepth) {
  auto nest = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += std::string(i, ' ') + "if x:\n";
    return s + std::string(n, ' ') + "pass\n";
  };
  // CPython allows 99 levels of indentation.
  EXPECT_TRUE(LexPython(nest(99)).ok);
  ExpectError(nest(100), "too many levels of indentation", 101, 100);
  ExpectError(nest(1000), "too many levels of indentation", 101, 100);
}

TEST(PyLexerLimits, TenMegabyteStrings) {
  const std::string body(10'000'000, 'a');
  PyLexResult r = LexPython("x = '" + body + "'\n");
  ASSERT_TRUE(r.ok) << ErrorText(r);
  ASSERT_EQ(r.tokens.size(), 5u);
  EXPECT_EQ(r.tokens[2].text.size(), body.size() + 2);
  // Unterminated, across many lines.
  std::string lines;
  for (int i = 0; i < 1'000'000; ++i) lines += "abcdefghi\n";
  ExpectError("x = '''" + lines,
              "unterminated triple-quoted string literal (detected at line "
              "1000000)",
              1, 4);
  // A 10 MB comment.
  r = LexPython("x = 1  # " + body);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.tokens.size(), 5u);
}

TEST(PyLexerLimits, MegabyteOfGarbage) {
  std::mt19937 rng(42);
  std::string garbage(1 << 20, ' ');
  for (char& c : garbage) c = static_cast<char>(1 + rng() % 255);  // no NUL
  PyLexResult r = LexPython(garbage);
  EXPECT_FALSE(r.ok);
  // High bytes only: certainly not UTF-8.
  for (char& c : garbage) c = static_cast<char>(0x80 + rng() % 128);
  r = LexPython(garbage);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(absl::StrContains(r.error.message, "invalid UTF-8")) << r.error.message;
  // A megabyte of valid text, then one bad byte at the end.
  std::string text;
  while (text.size() < (1 << 20)) text += "x = 'é'  # ü\n";
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  ExpectError(text + "y = \xc1", "invalid UTF-8", lines + 1, 4);
}

TEST(PyLexerLimits, ManyLinesAndTabs) {
  EXPECT_TRUE(LexPython(std::string(10'000'000, '\n')).ok);
  std::string tabs = "if x:\n" + std::string(5'000'000, '\t') + "y\n";
  const PyLexResult r = LexPython(tabs);
  EXPECT_TRUE(r.ok) << ErrorText(r);
}

// Random edits of valid snippets: whatever comes back is well formed.
TEST(PyLexerLimits, MutatedInputNeverBreaksInvariants) {
  const std::vector<std::string> seeds = {
      "def f(a, b=2):\n    if a > b:\n        return a  # c\n    return [b,\n  1.5e3j]\n",
      "x = '''a\nb''' + r'\\'' + f\"{y}\" + b'\\x00'\\\n  + 0x_ff\n",
      "class C:\n\tdef m(self): ...\n\n@dec\ndef g(*a, **k) -> int: return a[1:2, ...]\n",
      "é = {'k': (1,\n 2)}; π **= 0o17 // 0b1\r\nif é:\r\n    pass\r\n",
  };
  const std::string alphabet = "()[]{}'\"\\\n\r\t #:.=+-*/0123456789abefjorxEJ_\xc3\xa9\x80\xff";
  std::mt19937 rng(7);
  int ok = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seeds[iter % seeds.size()];
    const int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          s.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          s.resize(at);
          break;
      }
    }
    for (bool open : {false, true}) {
      const PyLexResult r = LexPython(s, open);
      if (r.ok) {
        ++ok;
        ASSERT_FALSE(r.tokens.empty());
        EXPECT_EQ(r.tokens.back().kind, PyTokenKind::kEnd);
        if (!open) {
          EXPECT_FALSE(r.open_at_end);
        }
      } else {
        EXPECT_FALSE(r.error.message.empty());
        EXPECT_GE(r.error.line, 1);
        EXPECT_GE(r.error.column, 0);
        if (!r.tokens.empty()) {
          EXPECT_NE(r.tokens.back().kind, PyTokenKind::kEnd);
        }
      }
      int indents = 0;
      for (const PyToken& t : r.tokens) {
        ASSERT_GE(t.text.data(), s.data());
        ASSERT_LE(t.text.data() + t.text.size(), s.data() + s.size());
        ASSERT_GE(t.line, 1);
        ASSERT_GE(t.column, 0);
        indents += t.kind == PyTokenKind::kIndent ? 1 : t.kind == PyTokenKind::kDedent ? -1 : 0;
        ASSERT_GE(indents, 0);
      }
      if (r.ok) {
        EXPECT_EQ(indents, 0);
      }
    }
  }
  EXPECT_GT(ok, 1000);
}

// ---------------------------------------------------------------------------------------------

TEST(PyIntValue, BasesAndUnderscores) {
  int64_t v = -1;
  EXPECT_TRUE(PyIntValue("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(PyIntValue("000", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(PyIntValue("1_000_000", &v));
  EXPECT_EQ(v, 1000000);
  EXPECT_TRUE(PyIntValue("0x_Ff", &v));
  EXPECT_EQ(v, 255);
  EXPECT_TRUE(PyIntValue("0Xdead_BEEF", &v));
  EXPECT_EQ(v, 0xdeadbeef);
  EXPECT_TRUE(PyIntValue("0o17", &v));
  EXPECT_EQ(v, 15);
  EXPECT_TRUE(PyIntValue("0O_7_7", &v));
  EXPECT_EQ(v, 63);
  EXPECT_TRUE(PyIntValue("0b1010", &v));
  EXPECT_EQ(v, 10);
  EXPECT_TRUE(PyIntValue("0B_1", &v));
  EXPECT_EQ(v, 1);
}

TEST(PyIntValue, Overflow) {
  int64_t v = 0;
  EXPECT_TRUE(PyIntValue("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(PyIntValue("0x7fff_ffff_ffff_ffff", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(PyIntValue("0o777777777777777777777", &v));
  EXPECT_EQ(v, INT64_MAX);
  v = 5;
  EXPECT_FALSE(PyIntValue("9223372036854775808", &v));
  EXPECT_EQ(v, 5);  // untouched
  EXPECT_FALSE(PyIntValue("0x8000000000000000", &v));
  EXPECT_FALSE(PyIntValue("0b1" + std::string(63, '0'), &v));
  EXPECT_FALSE(PyIntValue("99999999999999999999999999999999", &v));
}

TEST(PyIntValue, NotIntegers) {
  int64_t v = 0;
  EXPECT_FALSE(PyIntValue("", &v));
  EXPECT_FALSE(PyIntValue("0x", &v));
  EXPECT_FALSE(PyIntValue("0b2", &v));
  EXPECT_FALSE(PyIntValue("1.5", &v));
  EXPECT_FALSE(PyIntValue("1j", &v));
}

// ---------------------------------------------------------------------------------------------
// The standard library lexes: at least 99% of its .py files (Debian ships none that CPython's
// tokenizer rejects, but a few could carry a non-UTF-8 coding cookie) and nothing crashes.

TEST(PyLexerStdlib, LexesTheStandardLibrary) {
  const std::filesystem::path root = "/usr/lib/python3.11";
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) GTEST_SKIP() << root << " not found";
  const auto start = Clock::now();
  int files = 0, ok = 0;
  size_t bytes = 0, tokens = 0;
  std::vector<std::string> failures;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec) || it->path().extension() != ".py") continue;
    if (SecondsSince(start) > 15.0) break;  // keep the test bounded on slow machines
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    const std::string source = contents.str();
    const PyLexResult r = LexPython(source);
    ++files;
    bytes += source.size();
    tokens += r.tokens.size();
    if (r.ok) {
      ++ok;
    } else {
      failures.push_back(absl::StrCat(it->path().string(), ":", ErrorText(r)));
    }
  }
  const double seconds = SecondsSince(start);
  std::cout << ok << "/" << files << " files lexed (" << bytes << " bytes, " << tokens
            << " tokens) in " << seconds << " s\n";
  ASSERT_GT(files, 100);
  std::string list;
  for (const std::string& f : failures) absl::StrAppend(&list, "  ", f, "\n");
  EXPECT_GE(ok, files * 0.99) << "failures:\n" << list;
}

}  // namespace
}  // namespace astcd
