// Runs a child process with extra environment variables and its output captured, for tests that
// drive the real `yardmaster` command line (several processes at once, SIGKILL mid-run).
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ym::test {

class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {}) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", 0, 0);
    // A process group of its own, so that the destructor can end everything it started.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot start " + argv[0]);
    }
    out_ = fds[0];
  }
  Child(const Child&) = delete;
  // A test that stops early (a failed ASSERT) leaves no process behind: the whole group is
  // killed, not only the child (`timeout` as the child would leave its command running, and
  // wait() would read the command's output until it ended on its own).
  ~Child() {
    if (pid_ > 0 && !waited_) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      wait();
    }
    if (out_ >= 0) close(out_);
  }

  // Reads output until `text` appears or `timeout` passes; returns whether it appeared.
  bool wait_for_output(const std::string& text, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!read_some(100)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  void kill_hard() { kill(pid_, SIGKILL); }

  // Waits for exit, collecting the rest of the output; returns the exit code (128+signal if
  // killed).
  int wait() {
    while (read_some(1000)) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
  }

  const std::string& output() const { return output_; }

 private:
  // Reads what is available within `ms`; false at end of output.
  bool read_some(int ms) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(out_, &set);
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    if (select(out_ + 1, &set, nullptr, nullptr, &tv) <= 0) return true;
    char buf[4096];
    ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  bool waited_ = false;
  std::string output_;
};

}  // namespace ym::test
