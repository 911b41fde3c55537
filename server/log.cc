#include "server/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/errors.h"

namespace astcd::server {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
bool DebugLogging() { return g_level.load() == LogLevel::kDebug; }

void LogEvent(absl::string_view level, absl::string_view event,
              std::initializer_list<std::pair<absl::string_view, std::string>> fields) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                           absl::UTCTimeZone()));
  line.append(",\"level\":");
  AppendJsonString(&line, level);
  line.append(",\"event\":");
  AppendJsonString(&line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(&line, key);
    line.push_back(':');
    AppendJsonString(&line, value);
  }
  line.append("}\n");
  // One write per line, so that lines from many threads never interleave.
  ssize_t unused = write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

void LogCallError(absl::string_view method, const absl::Status& status,
                  absl::string_view tenant) {
  const std::string code = absl::StatusCodeToString(status.code());
  const std::string field = FieldPathOf(status);
  if (DebugLogging()) {
    LogEvent("debug", "call_failed",
             {{"method", std::string(method)}, {"code", code}, {"field", field},
              {"tenant", std::string(tenant)}, {"message", std::string(status.message())}});
  } else {
    LogEvent("warn", "call_failed",
             {{"method", std::string(method)}, {"code", code}, {"field", field},
              {"tenant", std::string(tenant)}});
  }
}

}  // namespace astcd::server
