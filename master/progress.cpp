#include "master/progress.hpp"

#include <unistd.h>

#include <algorithm>

namespace ym::master {

ProgressReporter::ProgressReporter(std::FILE* out, bool quiet)
    : out_(out), quiet_(quiet), tty_(isatty(fileno(out)) != 0) {}

ProgressReporter::~ProgressReporter() {
  if (drawn_ && tty_) std::fputc('\n', out_);
}

void ProgressReporter::update(const std::string& label, int64_t done, int64_t total) {
  if (quiet_) return;
  int percent = total > 0 ? static_cast<int>(std::min<int64_t>(100, done * 100 / total)) : 100;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_ < std::chrono::milliseconds(100) && percent != 100) return;
    constexpr int kWidth = 30;
    int filled = percent * kWidth / 100;
    std::fprintf(out_, "\r[%s%s] %3d%%  %lld/%lld  %-24.24s", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), percent, static_cast<long long>(done),
                 static_cast<long long>(total), label.c_str());
    drawn_ = true;
  } else {
    // Plain lines: every 10% step, so a log gets about ten lines per operation.
    if (percent / 10 == last_percent_ / 10 && percent != 100) return;
    if (percent == last_percent_) return;
    std::fprintf(out_, "progress: %3d%% (%lld/%lld rows) %s\n", percent,
                 static_cast<long long>(done), static_cast<long long>(total), label.c_str());
  }
  last_percent_ = percent;
  last_ = now;
  std::fflush(out_);
}

void ProgressReporter::finish(const std::string& message) {
  if (quiet_) return;
  if (drawn_ && tty_) std::fputc('\n', out_);
  drawn_ = false;
  std::fprintf(out_, "%s\n", message.c_str());
  std::fflush(out_);
}

}  // namespace ym::master
