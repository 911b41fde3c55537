// The real astcd-server binary as a child process on a loopback port, for integration tests.
#ifndef ASTCD_TESTS_UTIL_SERVER_PROCESS_H_
#define ASTCD_TESTS_UTIL_SERVER_PROCESS_H_

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace astcd::testing {

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { Kill(SIGKILL); }

  // Starts `binary --listen 127.0.0.1:<port> args...` (port 0: any free port) and waits for its
  // "astcd-server listening on HOST:PORT" line. Returns false (with `error` set) if it fails.
  bool Start(const std::string& binary, const std::vector<std::string>& args, int port = 0) {
    int fds[2];
    if (pipe(fds) != 0) return Failed("pipe");
    pid_ = fork();
    if (pid_ < 0) return Failed("fork");
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> all = {binary, "--listen", "127.0.0.1:" + std::to_string(port),
                                      "--metrics-listen", ""};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");  // kept open: a write to a closed pipe would kill the server
    char line[256] = {0};
    const bool got = fgets(line, sizeof(line), out_) != nullptr;
    int parsed = 0;
    if (!got || sscanf(line, "astcd-server listening on 127.0.0.1:%d", &parsed) != 1) {
      Kill(SIGKILL);
      return Failed(std::string("no listening line from ") + binary + ": " + line);
    }
    port_ = parsed;
    return true;
  }

  // Sends `sig` and reaps the child; returns its wait status, or -1 if none was running.
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (out_ != nullptr) fclose(out_);
    out_ = nullptr;
    return status;
  }

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& error() const { return error_; }

 private:
  bool Failed(const std::string& what) {
    error_ = what;
    return false;
  }

  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int port_ = 0;
  std::string error_;
};

}  // namespace astcd::testing

#endif  // ASTCD_TESTS_UTIL_SERVER_PROCESS_H_
