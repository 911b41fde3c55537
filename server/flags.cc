#include "server/flags.h"

#include <algorithm>

#include "absl/flags/parse.h"

namespace astcd::server {

std::vector<std::string> ParseServerFlags(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> argp;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string& a = args[i];
    if (i > 0 && a.size() > 2 && a.compare(0, 2, "--") == 0) {
      const size_t end = std::min(a.find('='), a.size());
      for (size_t k = 2; k < end; ++k) {
        if (a[k] == '-') a[k] = '_';
      }
    }
    argp.push_back(a.data());
  }
  absl::ParseCommandLine(static_cast<int>(argp.size()), argp.data());
  return args;
}

}  // namespace astcd::server
