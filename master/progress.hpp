// Progress for long operations: a bar redrawn in place on a terminal, plain lines otherwise
// (logs, CI), at most a few per second either way.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ym::master {

class ProgressReporter {
 public:
  // `out` is where progress goes (stderr by default, so that stdout stays parseable). A quiet
  // reporter prints nothing (the commands' --quiet).
  explicit ProgressReporter(std::FILE* out = stderr, bool quiet = false);
  ~ProgressReporter();

  // Reports `done` of `total` units, with a label (e.g. the table being copied).
  void update(const std::string& label, int64_t done, int64_t total);
  // Ends the bar (newline on a terminal) and prints a closing line.
  void finish(const std::string& message);

  bool is_terminal() const { return tty_; }

 private:
  std::FILE* out_;
  bool quiet_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
  int last_percent_ = -1;
};

}  // namespace ym::master
