// Command-line flags of astcd-server and the bench server, described once in a table.
//
// Each flag is one FlagSpec row: its name, its default (as text, parsed like a value given on
// the command line), its check (an integer or duration range, an address, a file, a choice)
// and its help. The same rows drive parsing, validation and --help, so a flag cannot be
// documented with one range and checked with another. docs/operations.md copies the table;
// tests/server/flags_test.py holds the two together.
//
// Syntax: --name=value or --name value; dashes and underscores in names are the same
// (--max-sessions is --max_sessions); a repeated flag takes its last value. --help and
// --version print and exit 0. Anything else wrong (an unknown flag, a malformed value, a value
// out of range, a file that cannot be read, a flag without the one it needs) prints one line,
// `PROGRAM: --flag ...`, on stderr and exits 2.
#ifndef ASTCD_SERVER_FLAGS_H_
#define ASTCD_SERVER_FLAGS_H_

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include "absl/strings/string_view.h"
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace astcd::server {

// Exit status of a bad command line.
inline constexpr int kFlagUsageError = 2;

// Every flag's value after parsing. The defaults come from the table, not from here.
struct ServerFlags {
  std::string listen;
  std::string metrics_listen;
  int64_t max_sessions = 0;
  int64_t max_sessions_per_tenant = 0;
  int64_t max_session_bytes = 0;
  absl::Duration session_ttl;
  int64_t max_batch = 0;
  int64_t max_sources = 0;
  int64_t max_source_bytes = 0;
  int64_t max_message_bytes = 0;
  int64_t max_run_steps = 0;
  int64_t max_trace_events = 0;
  int64_t max_decode_streams = 0;
  int64_t decode_threads = 0;
  int64_t max_response_bytes = 0;
  absl::Duration drain_deadline;
  absl::Duration drain_grace;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string auth_tokens;
  std::string log_level;

  // Names (dashed) of the flags given on the command line.
  std::set<std::string, std::less<>> given;
  bool Given(absl::string_view name) const { return given.count(name) > 0; }
};

// The checks a row can carry.
struct IntRange {  // a decimal integer in [lo, hi]
  int64_t ServerFlags::*field;
  int64_t lo, hi;
};
struct DurationRange {  // an absl duration (90s, 10m, 1h30m, 250ms) in [lo, hi]
  absl::Duration ServerFlags::*field;
  absl::Duration lo, hi;
};
struct Address {  // HOST:PORT with PORT in [0, 65535] (0: any free port); IPv6 as [::1]:PORT
  std::string ServerFlags::*field;
  bool empty_ok;  // an empty value turns the endpoint off
};
struct File {  // empty (not set), or a readable, non-empty file (a PEM file: with a PEM block)
  std::string ServerFlags::*field;
  bool pem;
};
struct Choice {  // one of the words of `choices`, separated by '|'
  std::string ServerFlags::*field;
  absl::string_view choices;
};
using FlagCheck = std::variant<IntRange, DurationRange, Address, File, Choice>;

struct FlagSpec {
  absl::string_view name;           // with dashes, without the leading "--"
  absl::string_view default_value;  // as it would be written on the command line
  FlagCheck check;
  absl::string_view help;
  absl::string_view needs = {};     // another flag that must be set when this one is
};

// astcd-server's flags, in --help order.
std::span<const FlagSpec> ServerFlagTable();

// The rows of `table` named in `names`, in that order (for a program with fewer flags).
std::vector<FlagSpec> SelectFlags(std::span<const FlagSpec> table,
                                  std::initializer_list<absl::string_view> names);

// The check of a row in words, as --help and the error messages give it: "[1, 65536]",
// "[1s, 24h]", "HOST:PORT, port in [0, 65535], or empty", "info|debug", ...
std::string DescribeCheck(const FlagSpec& spec);

// What a command line asks for.
struct ParsedCommandLine {
  enum Action { kRun, kHelp, kVersion } action = kRun;
  ServerFlags flags;
};

// Parses args (without argv[0]) against the table: defaults first, then each flag given, then
// the cross-flag checks (`needs`). An error's message names the flag, e.g.
// "--max-batch must lie in [1, 65536], got -1".
absl::StatusOr<ParsedCommandLine> ParseFlags(std::span<const FlagSpec> table,
                                             const std::vector<std::string>& args);

// --help: the usage line, and for each flag its name, default, check and help.
std::string FlagHelp(std::span<const FlagSpec> table, absl::string_view program);

// "PROGRAM VERSION (BUILD_TYPE)": the CMake project version and CMAKE_BUILD_TYPE.
std::string VersionLine(absl::string_view program);

// For main(): parses argv; on --help or --version prints on stdout and exits 0; on a bad
// command line prints "PROGRAM: MESSAGE" on stderr (after a `bad_flags` log line) and exits 2.
ServerFlags ParseServerFlags(int argc, char** argv, std::span<const FlagSpec> table,
                             absl::string_view program);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_FLAGS_H_
