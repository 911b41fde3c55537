// Command-line parsing shared by astcd-server and the bench server: absl flags, with dashes
// accepted in flag names (--max-sessions is --max_sessions).
#ifndef ASTCD_SERVER_FLAGS_H_
#define ASTCD_SERVER_FLAGS_H_

#include <string>
#include <vector>

namespace astcd::server {

// Parses the command line into the absl flags (exiting on an unknown flag, as absl does) and
// returns the arguments as parsed, with dashes in flag names turned into underscores.
std::vector<std::string> ParseServerFlags(int argc, char** argv);

}  // namespace astcd::server

#endif  // ASTCD_SERVER_FLAGS_H_
