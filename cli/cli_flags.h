// Flag parsing and shared helpers for the astcd CLI's commands.
#ifndef ASTCD_CLI_FLAGS_H_
#define ASTCD_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/engine.h"

namespace astcd::cli {

// Exit status for a usage error: an unknown flag, a bad value, a bad config.
inline constexpr int kUsageError = 2;

// --name value and --name=value flags. `switches` take no value. A flag may repeat; Get returns
// its last value and GetAll every value. Words that are not flags are positional arguments,
// accepted only when `positional` is set.
class Flags {
 public:
  static absl::StatusOr<Flags> Parse(int argc, char** argv, const std::vector<std::string>& known,
                                     const std::vector<std::string>& switches,
                                     bool positional = false);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  bool Switch(const std::string& name) const { return Get(name, "false") == "true"; }
  std::string Get(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  // The flag's integer value, refused (naming the flag) unless it lies in [lo, hi].
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t lo,
                                 int64_t hi) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Prints "astcd: <message>" on stderr and returns kUsageError.
int Fail(const absl::Status& status);

// The engine for --config (DecodeConfig's fields as JSON keys), or the default config.
absl::StatusOr<std::shared_ptr<const Engine>> EngineFromFlags(const Flags& flags);

// Reads a whole file, or standard input for "-".
absl::StatusOr<std::string> ReadInput(const std::string& path);

// Writes `text` to the file at `path` (replacing it); NotFound naming the path if it cannot.
absl::Status WriteOutput(const std::string& path, const std::string& text);

// `sample`'s default --max-new-tokens, which is also its default budget (--max-len): animate,
// show and play use the same budget by default, so that they see what sample saw.
inline constexpr int kSampleMaxNewTokens = 200;

}  // namespace astcd::cli

#endif  // ASTCD_CLI_FLAGS_H_
