// Running build steps as real processes: `/bin/sh -c COMMAND` in the build's work directory, in
// a process group of its own, with stdout and stderr (one pipe, so their order is kept) streamed
// into the step's log as lines arrive.
//
// Everything here lives on the master's io_context and is used from its thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/connectors/logs.hpp"

namespace ym::master {

// Reaps the master's child processes: calls each watcher once its process has exited, with the
// process still a zombie (so that its process group id cannot be reused while the watcher kills
// what is left of the group), then reaps it.
class ChildReaper {
 public:
  explicit ChildReaper(boost::asio::io_context& io);
  // `on_exit(wait_status)` runs on the io thread.
  void watch(pid_t pid, std::function<void(int)> on_exit);
  // Stops listening for SIGCHLD (at shutdown; watched processes are then left alone).
  void close();

 private:
  void arm();
  void check();
  boost::asio::signal_set sigchld_;
  std::map<pid_t, std::function<void(int)>> watched_;
};

// Streams a log's text into the database: only complete lines, batched (an append when 64 KiB
// are pending or 200 ms after the first pending line), one append in flight at a time so that
// line numbers follow each other. Memory stays bounded: the reader pauses while too much is
// pending, and a line longer than the database keeps is cut here already.
class LogWriter : public std::enable_shared_from_this<LogWriter> {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;
  static constexpr std::chrono::milliseconds kFlushDelay{200};
  static constexpr size_t kPauseBytes = 1024 * 1024;

  LogWriter(boost::asio::io_context& io, db::Logs& logs, int64_t logid);

  // The fence for output: while `may_write()` is false (the master has not been able to check in
  // for so long that a peer may have taken it over), appends wait, and the reader pauses once
  // too much is pending; `gate_opened()` sends them. `discard()` (the master was taken over)
  // drops what is pending and everything written later: the log is no longer this master's.
  void set_gate(std::function<bool()> may_write) { may_write_ = std::move(may_write); }
  void gate_opened() { schedule(); }
  void discard();

  // Adds output; complete lines are queued for the database.
  void write(const char* data, size_t n);
  // True when the producer should stop reading until `when_drained` calls back.
  bool congested() const { return pending_.size() >= kPauseBytes; }
  void when_drained(std::function<void()> resume);
  // Stores everything still pending (a final partial line gets a newline), then calls
  // done(first error, or null). No write() after close().
  void close(std::function<void(std::exception_ptr)> done);

  int64_t lines() const { return lines_; }
  int appends() const { return appends_; }

 private:
  void schedule();
  void flush();
  void maybe_done();

  boost::asio::io_context& io_;
  db::Logs& logs_;
  int64_t logid_;
  std::string pending_;    // complete lines not yet sent
  std::string partial_;    // the current line, not yet terminated
  bool dropping_ = false;  // the current line is over the limit: drop until its newline
  bool in_flight_ = false;
  bool timer_armed_ = false;
  bool closing_ = false;
  boost::asio::steady_timer timer_;
  std::function<void()> resume_;
  std::function<bool()> may_write_;
  bool discarding_ = false;
  std::function<void(std::exception_ptr)> done_;
  std::exception_ptr error_;
  int64_t lines_ = 0;
  int appends_ = 0;
};

struct ProcessSpec {
  std::string command;                // for /bin/sh -c
  std::filesystem::path workdir;      // must exist
  std::vector<std::string> env;       // the whole environment, "NAME=value"
  std::chrono::milliseconds timeout;  // then the process group is killed
};

struct ProcessOutcome {
  std::optional<int> exit_code;  // when it exited
  std::optional<int> signal;     // when a signal ended it
  bool timed_out = false;
  bool cancelled = false;
  std::string start_error;       // non-empty when it could not be started
  std::exception_ptr log_error;  // the log could not (entirely) be stored
  std::chrono::milliseconds elapsed{0};
};

// One step's process. start() spawns it; `done` runs once on the io thread after the process has
// exited, what is left of its process group is killed, and its output is stored.
class Process : public std::enable_shared_from_this<Process> {
 public:
  // After SIGTERM (timeout, cancel), how long before SIGKILL.
  static constexpr std::chrono::seconds kKillDelay{5};
  // After the shell exits and its group is killed, how long to wait for the end of the output
  // (something that left the group may still hold the pipe).
  static constexpr std::chrono::seconds kDrainLimit{5};

  static std::shared_ptr<Process> start(boost::asio::io_context& io, ChildReaper& reaper,
                                        const ProcessSpec& spec, std::shared_ptr<LogWriter> log,
                                        std::function<void(ProcessOutcome)> done);

  // Stops it as cancelled: SIGTERM to its group, SIGKILL after kKillDelay. Idempotent.
  void cancel();

  Process(boost::asio::io_context& io, std::shared_ptr<LogWriter> log,
          std::function<void(ProcessOutcome)> done);

 private:
  void read();
  void on_exit(int status);
  void terminate();
  void maybe_finish();

  boost::asio::io_context& io_;
  std::shared_ptr<LogWriter> log_;
  std::function<void(ProcessOutcome)> done_;
  boost::asio::posix::stream_descriptor pipe_;
  boost::asio::steady_timer timeout_timer_;
  boost::asio::steady_timer kill_timer_;
  boost::asio::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point started_;
  std::vector<char> buffer_;
  pid_t pid_ = -1;
  bool exited_ = false;
  bool eof_ = false;
  bool finished_ = false;
  bool terminating_ = false;
  ProcessOutcome outcome_;
};

}  // namespace ym::master
