// What the master's end-to-end tests share: files, the `yardmaster` binary run as a child, a
// master process with its log in its directory, waiting for a condition, and gates that hold
// steps until the test lets them go.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "master/config.hpp"
#include "migrate/process.hpp"

namespace ym::test::master_tests {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const std::string kYardmaster = YM_YARDMASTER_BIN;

inline void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  out << text;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a command to completion; returns (exit code, stdout and stderr).
inline std::pair<int, std::string> run(const std::vector<std::string>& argv) {
  Child c(argv);
  int rc = c.wait();
  return {rc, c.output()};
}

// `yardmaster run DIR ARGS`, its log in DIR/master.log (a pipe nobody reads would block it),
// killed by `timeout` when it runs longer than `limit` (so a hung master fails the test instead
// of hanging it: exit code 124).
inline std::unique_ptr<Child> start_master(const fs::path& dir, const std::string& args,
                                    std::chrono::seconds limit = 180s) {
  std::string cmd = "exec timeout -k 5 " + std::to_string(limit.count()) + " '" + kYardmaster +
                    "' run '" + dir.string() + "' " + args + " 2>>'" +
                    (dir / "master.log").string() + "'";
  return std::make_unique<Child>(std::vector<std::string>{"/bin/sh", "-c", cmd});
}

// The pid of the master running in `dir` (it writes it into its lock file).
inline pid_t master_pid(const fs::path& dir) {
  for (int i = 0; i < 1200; ++i) {
    std::string text = read_file(dir / "master.lock");
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "no master.lock in " << dir;
  return -1;
}

// Polls `ready` every 100 ms until it holds or `limit` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& ready, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return ready();
}

// An exclusive lock on a file, held from construction until release(). Steps that start with
// `flock -s FILE true` wait for it: a test keeps builds running until it lets them go, instead of
// hoping that they are still running when it looks. Close-on-exec: no child inherits it.
class Gate {
 public:
  explicit Gate(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) ADD_FAILURE() << "cannot lock " << file;
  }
  ~Gate() { release(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // How many processes are blocked on this gate right now (the kernel's /proc/locks lists each
  // blocked request with "->" before it): each is a step, and its build, that cannot end before
  // release().
  int waiters() const {
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) return 0;
    std::ifstream locks("/proc/locks");
    std::string line;
    int n = 0;
    const std::string inode = ":" + std::to_string(st.st_ino) + " ";
    while (std::getline(locks, line)) {
      if (line.find("->") != std::string::npos && line.find(inode) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  int fd_ = -1;
};

// The error of parsing `text` as a config.ini, which must fail.
inline std::string config_error(const std::string& text) {
  try {
    master::parse_config(text, "/srv/m");
  } catch (const master::ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return "";
}

}  // namespace ym::test::master_tests
