// Structured logs: one JSON object per line on stderr, for each lifecycle event and each
// failed call. At the default level a line never holds source code, tokens or an error's
// message (which may quote either): only the method, the code and the field it names.
#ifndef ASTCD_SERVER_LOG_H_
#define ASTCD_SERVER_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace astcd::server {

enum class LogLevel { kInfo, kDebug };
void SetLogLevel(LogLevel level);
bool DebugLogging();

// {"ts":"...","level":"info","event":"<event>", "<key>":"<value>", ...}
void LogEvent(absl::string_view level, absl::string_view event,
              std::initializer_list<std::pair<absl::string_view, std::string>> fields = {});

// A failed call: method, code, the field the error names, the tenant; the message only at
// debug level.
void LogCallError(absl::string_view method, const absl::Status& status,
                  absl::string_view tenant);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_LOG_H_
