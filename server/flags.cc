#include "server/flags.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/log.h"

#ifndef ASTCD_VERSION
#define ASTCD_VERSION "unknown"
#endif
#ifndef ASTCD_BUILD_TYPE
#define ASTCD_BUILD_TYPE "unknown"
#endif

namespace astcd::server {
namespace {

constexpr int64_t kKiB = int64_t{1} << 10;
constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kTiB = int64_t{1} << 40;

// The one table. Ranges: a lower bound below which the server cannot work (or, for a
// duration, could not be told from a typo), an upper bound past which the value is a typo or
// overflows what it feeds (gRPC's int message sizes, the wire's int32 counts).
const FlagSpec kServerFlags[] = {
    {"listen", "127.0.0.1:50051", Address{&ServerFlags::listen, false},
     "gRPC address to listen on (port 0: any free port; the first line on stdout gives it)"},
    {"metrics-listen", "127.0.0.1:9464", Address{&ServerFlags::metrics_listen, true},
     "address of the Prometheus /metrics endpoint (port 0: any free port; empty: none). If the "
     "default address is taken the server runs without metrics; an address given must work"},
    {"max-sessions", "100000", IntRange{&ServerFlags::max_sessions, 1, 100'000'000},
     "cap on live sessions"},
    {"max-sessions-per-tenant", "0", IntRange{&ServerFlags::max_sessions_per_tenant, 0, 100'000'000},
     "cap on one tenant's live sessions (0: only --max-sessions)"},
    {"max-session-bytes", "1073741824", IntRange{&ServerFlags::max_session_bytes, kMiB, kTiB},
     "memory budget of live sessions: token histories, checkpoints and pinned engines (1 GiB)"},
    {"session-ttl", "10m",
     DurationRange{&ServerFlags::session_ttl, absl::Milliseconds(100), absl::Hours(24 * 7)},
     "idle sessions expire after this"},
    {"max-batch", "1024", IntRange{&ServerFlags::max_batch, 1, 65536},
     "sessions, requests, programs or inputs per call"},
    {"max-sources", "256", IntRange{&ServerFlags::max_sources, 1, 65536},
     "sources per Tokenize call"},
    {"max-source-bytes", "1048576", IntRange{&ServerFlags::max_source_bytes, 1, kGiB},
     "bytes per source, in Tokenize and Run (1 MiB)"},
    {"max-message-bytes", "67108864", IntRange{&ServerFlags::max_message_bytes, kKiB, kGiB},
     "largest request message; RESOURCE_EXHAUSTED beyond it (64 MiB)"},
    {"max-response-bytes", "67108864", IntRange{&ServerFlags::max_response_bytes, 16 * 1024, 2 * kGiB - 1},
     "largest serialized unary response (64 MiB)"},
    {"max-run-steps", "200000000",
     IntRange{&ServerFlags::max_run_steps, 1000, int64_t{1'000'000'000'000}},
     "interpreter steps per Run call: inputs x limits.max_steps"},
    {"max-trace-events", "200000", IntRange{&ServerFlags::max_trace_events, 1, 1'000'000'000},
     "trace events per Run call"},
    {"max-decode-streams", "16", IntRange{&ServerFlags::max_decode_streams, 1, 4096},
     "Decode streams running at once"},
    {"decode-threads", "0", IntRange{&ServerFlags::decode_threads, 0, 256},
     "threads of the pool every Decode call's chunks run on; 0: one per core"},
    {"drain-deadline", "10s",
     DurationRange{&ServerFlags::drain_deadline, absl::ZeroDuration(), absl::Hours(1)},
     "on SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled"},
    {"drain-grace", "1s",
     DurationRange{&ServerFlags::drain_grace, absl::ZeroDuration(), absl::Seconds(10)},
     "on SIGTERM/SIGINT, how long the port stays open answering new calls UNAVAILABLE (health "
     "NOT_SERVING) before it closes; part of --drain-deadline"},
    {"tls-cert", "", File{&ServerFlags::tls_cert, true},
     "PEM certificate chain; with --tls-key, the gRPC port speaks TLS only", "tls-key"},
    {"tls-key", "", File{&ServerFlags::tls_key, true}, "PEM private key of --tls-cert",
     "tls-cert"},
    {"tls-client-ca", "", File{&ServerFlags::tls_client_ca, true},
     "PEM CA certificates; clients must then present a certificate they signed (mTLS)",
     "tls-cert"},
    {"auth-tokens", "", File{&ServerFlags::auth_tokens, false},
     "file of `TOKEN TENANT` lines; every Decoder call must send `authorization: Bearer TOKEN`, "
     "and sessions belong to their tenant"},
    {"log-level", "info", Choice{&ServerFlags::log_level, "info|debug"},
     "info, or debug (adds error messages, which may quote source or tokens)"},
};

std::string Quoted(absl::string_view value) {
  return value.empty() ? std::string("\"\"") : std::string(value);
}

// HOST:PORT. HOST is a name or IPv4 address, or an IPv6 address in brackets.
bool ValidAddress(absl::string_view value, std::string* why) {
  const size_t colon = value.rfind(':');
  if (colon == absl::string_view::npos) {
    *why = "is not HOST:PORT";
    return false;
  }
  const absl::string_view host = value.substr(0, colon), port = value.substr(colon + 1);
  if (host.empty()) {
    *why = "has no host (write 0.0.0.0:PORT or [::]:PORT for every interface)";
    return false;
  }
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' ||
        !std::all_of(host.begin() + 1, host.end() - 1,
                     [](char c) { return absl::ascii_isxdigit(c) || c == ':' || c == '.'; })) {
      *why = "has a malformed IPv6 host";
      return false;
    }
  } else if (!std::all_of(host.begin(), host.end(), [](char c) {
               return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
             })) {
    *why = "is not HOST:PORT";
    return false;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    *why = "is not HOST:PORT with a decimal port";
    return false;
  }
  if (std::atoi(std::string(port).c_str()) > 65535) {
    *why = "has a port outside [0, 65535]";
    return false;
  }
  return true;
}

absl::Status CheckFile(absl::string_view name, const std::string& path, bool pem) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  if (file) text << file.rdbuf();
  if (!file || file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": cannot read ", path));
  }
  const std::string contents = text.str();
  if (contents.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", path, " is empty"));
  }
  if (pem && contents.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", path, " holds no PEM block"));
  }
  return absl::OkStatus();
}

// Sets the row's field from `value`, or says what is wrong, naming the flag.
absl::Status Apply(const FlagSpec& spec, const std::string& value, ServerFlags* flags) {
  const std::string flag = absl::StrCat("--", spec.name);
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be ", what, ", got ", Quoted(value)));
  };
  if (const auto* c = std::get_if<IntRange>(&spec.check)) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(value, &v) || value.empty() || absl::ascii_isspace(value.front()) ||
        absl::ascii_isspace(value.back())) {
      return bad(absl::StrCat("an integer in ", DescribeCheck(spec)));
    }
    if (v < c->lo || v > c->hi) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must lie in ", DescribeCheck(spec), ", got ", value));
    }
    flags->*c->field = v;
  } else if (const auto* c = std::get_if<DurationRange>(&spec.check)) {
    absl::Duration d;
    if (!absl::ParseDuration(value, &d) || d == absl::InfiniteDuration() ||
        d == -absl::InfiniteDuration()) {
      return bad(absl::StrCat("a duration such as 90s, 10m or 1h30m in ", DescribeCheck(spec)));
    }
    if (d < c->lo || d > c->hi) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must lie in ", DescribeCheck(spec), ", got ", value));
    }
    flags->*c->field = d;
  } else if (const auto* c = std::get_if<Address>(&spec.check)) {
    std::string why;
    if (!(value.empty() && c->empty_ok) && !ValidAddress(value, &why)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", Quoted(value), " ", why,
                                                     " (want ", DescribeCheck(spec), ")"));
    }
    flags->*c->field = value;
  } else if (const auto* c = std::get_if<File>(&spec.check)) {
    if (!value.empty()) {
      if (absl::Status s = CheckFile(spec.name, value, c->pem); !s.ok()) return s;
    }
    flags->*c->field = value;
  } else if (const auto* c = std::get_if<Choice>(&spec.check)) {
    const std::vector<absl::string_view> words = absl::StrSplit(c->choices, '|');
    if (std::find(words.begin(), words.end(), value) == words.end()) {
      return bad(DescribeCheck(spec));
    }
    flags->*c->field = value;
  }
  return absl::OkStatus();
}

std::string ShowDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  return absl::FormatDuration(d);
}

}  // namespace

std::span<const FlagSpec> ServerFlagTable() { return kServerFlags; }

std::vector<FlagSpec> SelectFlags(std::span<const FlagSpec> table,
                                  std::initializer_list<absl::string_view> names) {
  std::vector<FlagSpec> out;
  for (absl::string_view name : names) {
    auto it = std::find_if(table.begin(), table.end(),
                           [&](const FlagSpec& s) { return s.name == name; });
    if (it == table.end()) {
      std::cerr << "SelectFlags: no flag " << name << "\n";
      std::abort();
    }
    out.push_back(*it);
  }
  return out;
}

std::string DescribeCheck(const FlagSpec& spec) {
  if (const auto* c = std::get_if<IntRange>(&spec.check)) {
    return absl::StrCat("[", c->lo, ", ", c->hi, "]");
  }
  if (const auto* c = std::get_if<DurationRange>(&spec.check)) {
    return absl::StrCat("[", ShowDuration(c->lo), ", ", ShowDuration(c->hi), "]");
  }
  if (const auto* c = std::get_if<Address>(&spec.check)) {
    return c->empty_ok ? "HOST:PORT with port in [0, 65535], or empty"
                       : "HOST:PORT with port in [0, 65535]";
  }
  if (const auto* c = std::get_if<File>(&spec.check)) {
    return c->pem ? "empty, or a readable PEM file" : "empty, or a readable file";
  }
  if (const auto* c = std::get_if<Choice>(&spec.check)) {
    return absl::StrJoin(absl::StrSplit(c->choices, '|'), " or ");
  }
  return "";
}

absl::StatusOr<ParsedCommandLine> ParseFlags(std::span<const FlagSpec> table,
                                             const std::vector<std::string>& args) {
  ParsedCommandLine parsed;
  auto find = [&](absl::string_view name) -> const FlagSpec* {
    for (const FlagSpec& spec : table) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  };
  // The defaults, through the same checks (a default out of its own range is a bug).
  for (const FlagSpec& spec : table) {
    if (absl::Status s = Apply(spec, std::string(spec.default_value), &parsed.flags); !s.ok()) {
      return absl::InternalError(absl::StrCat("bad default: ", s.message()));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument ", Quoted(arg), " (flags are --name=value; see --help)"));
    }
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "help" || name == "helpfull" || name == "version") {
      if (eq != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      // The first of them wins; the rest of the line is not looked at.
      parsed.action = name == "version" ? ParsedCommandLine::kVersion : ParsedCommandLine::kHelp;
      return parsed;
    }
    const FlagSpec* spec = find(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " is not a flag (see --help)"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    if (absl::Status s = Apply(*spec, value, &parsed.flags); !s.ok()) return s;
    parsed.flags.given.insert(name);
  }
  // A flag that needs another: both set (non-empty), or the first unset.
  for (const FlagSpec& spec : table) {
    if (spec.needs.empty()) continue;
    const auto* file = std::get_if<File>(&spec.check);
    const FlagSpec* other = find(spec.needs);
    const auto* other_file = other ? std::get_if<File>(&other->check) : nullptr;
    if (file == nullptr || other_file == nullptr) continue;
    if (!(parsed.flags.*file->field).empty() && (parsed.flags.*other_file->field).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", spec.name, " needs --", spec.needs));
    }
  }
  return parsed;
}

std::string FlagHelp(std::span<const FlagSpec> table, absl::string_view program) {
  std::string out = absl::StrCat(
      "usage: ", program, " [--flag=value | --flag value]...\n\n",
      "Dashes and underscores in flag names are the same. Durations are written like 90s, 10m or\n"
      "1h30m. A bad flag exits 2; --help and --version exit 0.\n\nFlags:\n");
  for (const FlagSpec& spec : table) {
    absl::StrAppend(&out, "  --", spec.name, " (default ", Quoted(spec.default_value), "; ",
                    DescribeCheck(spec), ")\n");
    std::string help(spec.help);
    if (!spec.needs.empty()) absl::StrAppend(&help, "; needs --", spec.needs);
    // The help, wrapped at 96 columns under a 6-space indent.
    std::string line;
    for (absl::string_view word : absl::StrSplit(help, ' ', absl::SkipEmpty())) {
      if (!line.empty() && 6 + line.size() + 1 + word.size() > 96) {
        absl::StrAppend(&out, "      ", line, "\n");
        line.clear();
      }
      absl::StrAppend(&line, line.empty() ? "" : " ", word);
    }
    absl::StrAppend(&out, "      ", line, "\n");
  }
  absl::StrAppend(&out, "  --help\n      print this and exit\n",
                  "  --version\n      print the version and build type and exit\n");
  return out;
}

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " ", ASTCD_VERSION, " (", ASTCD_BUILD_TYPE, ")");
}

ServerFlags ParseServerFlags(int argc, char** argv, std::span<const FlagSpec> table,
                             absl::string_view program) {
  absl::StatusOr<ParsedCommandLine> parsed =
      ParseFlags(table, std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
  if (!parsed.ok()) {
    LogEvent("error", "bad_flags", {{"message", std::string(parsed.status().message())}});
    std::cerr << program << ": " << parsed.status().message() << std::endl;
    std::exit(kFlagUsageError);
  }
  if (parsed->action == ParsedCommandLine::kHelp) {
    std::cout << FlagHelp(table, program) << std::flush;
    std::exit(0);
  }
  if (parsed->action == ParsedCommandLine::kVersion) {
    std::cout << VersionLine(program) << std::endl;
    std::exit(0);
  }
  return std::move(parsed->flags);
}

}  // namespace astcd::server
