#include "master/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <cerrno>
#include <cstring>

#include "db/async.hpp"

namespace ym::master {

namespace asio = boost::asio;

// ------------------------------------------------------------------------------- ChildReaper

ChildReaper::ChildReaper(asio::io_context& io) : sigchld_(io, SIGCHLD) { arm(); }

void ChildReaper::watch(pid_t pid, std::function<void(int)> on_exit) {
  watched_[pid] = std::move(on_exit);
}

void ChildReaper::close() {
  boost::system::error_code ignored;
  sigchld_.cancel(ignored);
  sigchld_.clear(ignored);
}

void ChildReaper::arm() {
  sigchld_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;  // closed
    check();
    arm();
  });
}

void ChildReaper::check() {
  // SIGCHLDs merge: one signal may stand for several exits, so every watched child is looked at.
  std::vector<std::pair<pid_t, std::function<void(int)>>> exited;
  for (auto it = watched_.begin(); it != watched_.end();) {
    siginfo_t info{};
    // WNOWAIT leaves it a zombie: its pid, and so its process group id, stay taken while the
    // rest of the group is killed below.
    if (waitid(P_PID, static_cast<id_t>(it->first), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == it->first) {
      exited.emplace_back(it->first, std::move(it->second));
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [pid, on_exit] : exited) {
    // A step is over when its shell is: whatever it left running in the background would
    // otherwise hold the output pipe open and outlive the build.
    kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    on_exit(status);
  }
}

// ------------------------------------------------------------------------------- LogWriter

LogWriter::LogWriter(asio::io_context& io, db::Logs& logs, int64_t logid)
    : io_(io), logs_(logs), logid_(logid), timer_(io) {}

void LogWriter::write(const char* data, size_t n) {
  // The database cuts longer lines anyway; keeping only that much bounds memory on a runaway
  // line. (A few bytes more, so that the database still cuts at a character boundary.)
  constexpr size_t kKeep = db::kMaxLogLineBytes + 4;
  while (n > 0) {
    const char* nl = static_cast<const char*>(std::memchr(data, '\n', n));
    size_t len = nl ? static_cast<size_t>(nl - data) + 1 : n;
    if (dropping_) {
      if (nl) {
        dropping_ = false;
        pending_ += partial_;
        pending_ += '\n';
        partial_.clear();
        ++lines_;
      }
    } else if (nl) {
      if (partial_.empty()) {
        pending_.append(data, len);
      } else {
        partial_.append(data, len);
        pending_ += partial_;
        partial_.clear();
      }
      ++lines_;
    } else {
      partial_.append(data, len);
      if (partial_.size() > kKeep) {
        partial_.resize(kKeep);
        dropping_ = true;
      }
    }
    data += len;
    n -= len;
  }
  schedule();
}

void LogWriter::when_drained(std::function<void()> resume) {
  if (!congested()) {
    asio::post(io_, std::move(resume));
    return;
  }
  resume_ = std::move(resume);
}

void LogWriter::close(std::function<void(std::exception_ptr)> done) {
  closing_ = true;
  done_ = std::move(done);
  if (!discarding_ && (!partial_.empty() || dropping_)) {
    pending_ += partial_;
    pending_ += '\n';
    partial_.clear();
    dropping_ = false;
    ++lines_;
  }
  timer_.cancel();
  schedule();
  maybe_done();
}

void LogWriter::discard() {
  discarding_ = true;
  pending_.clear();
  partial_.clear();
  timer_.cancel();
  if (resume_) {
    auto resume = std::move(resume_);
    resume_ = nullptr;
    resume();
  }
  maybe_done();
}

void LogWriter::schedule() {
  if (error_ || discarding_) pending_.clear();
  if (in_flight_ || pending_.empty()) return;
  if (may_write_ && !may_write_()) return;  // gate_opened() calls again
  if (closing_ || pending_.size() >= kFlushBytes) {
    flush();
    return;
  }
  if (timer_armed_) return;
  timer_armed_ = true;
  timer_.expires_after(kFlushDelay);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->timer_armed_ = false;
    if (ec) return;
    if (self->in_flight_ || self->pending_.empty()) return;
    if (self->may_write_ && !self->may_write_()) return;  // gate_opened() sends them
    self->flush();
  });
}

void LogWriter::flush() {
  // Whole lines, about kFlushBytes at a time (one line may be longer).
  size_t take = pending_.size();
  if (take > kFlushBytes) {
    size_t cut = pending_.rfind('\n', kFlushBytes - 1);
    if (cut == std::string::npos) cut = pending_.find('\n', kFlushBytes);
    take = cut + 1;
  }
  std::string chunk = pending_.substr(0, take);
  pending_.erase(0, take);
  in_flight_ = true;
  ++appends_;
  ym::then_on(logs_.append_log(logid_, std::move(chunk)), io_.get_executor(),
              [self = shared_from_this()](Future<std::optional<db::LineRange>> f) {
                self->in_flight_ = false;
                try {
                  f.get();
                } catch (...) {
                  // The pool retried for its whole budget. Later lines are not sent: a log
                  // holds a prefix of the output, never one with a hole in its middle, and the
                  // step notes which lines are missing (Master::run_step).
                  if (!self->error_) self->error_ = std::current_exception();
                  self->pending_.clear();
                }
                if (self->resume_ && !self->congested()) {
                  auto resume = std::move(self->resume_);
                  self->resume_ = nullptr;
                  resume();
                }
                self->schedule();
                self->maybe_done();
              });
}

void LogWriter::maybe_done() {
  if (!closing_ || in_flight_ || !pending_.empty() || !done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(error_);
}

// ------------------------------------------------------------------------------- Process

Process::Process(asio::io_context& io, std::shared_ptr<LogWriter> log,
                 std::function<void(ProcessOutcome)> done)
    : io_(io),
      log_(std::move(log)),
      done_(std::move(done)),
      pipe_(io),
      timeout_timer_(io),
      kill_timer_(io),
      drain_timer_(io),
      started_(std::chrono::steady_clock::now()),
      buffer_(64 * 1024) {}

std::shared_ptr<Process> Process::start(asio::io_context& io, ChildReaper& reaper,
                                        const ProcessSpec& spec, std::shared_ptr<LogWriter> log,
                                        std::function<void(ProcessOutcome)> done) {
  auto self = std::make_shared<Process>(io, std::move(log), std::move(done));
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    self->outcome_.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    self->exited_ = self->eof_ = true;
    asio::post(io, [self] { self->maybe_finish(); });
    return self;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addchdir_np(&actions, spec.workdir.c_str());
  // Database sockets and files of the master are none of the step's business.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that a timeout or a cancel reaches everything it started; the
  // signal mask and handlers of the master (which blocks and catches some) are not inherited.
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, s);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::string sh = "/bin/sh", dash_c = "-c", command = spec.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    self->outcome_.start_error =
        "cannot start /bin/sh in " + spec.workdir.string() + ": " + std::strerror(rc);
    self->exited_ = self->eof_ = true;
    asio::post(io, [self] { self->maybe_finish(); });
    return self;
  }
  self->pid_ = pid;
  self->pipe_.assign(fds[0]);
  reaper.watch(pid, [self](int status) { self->on_exit(status); });
  self->timeout_timer_.expires_after(spec.timeout);
  self->timeout_timer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->exited_) return;
    self->outcome_.timed_out = true;
    self->terminate();
  });
  self->read();
  return self;
}

void Process::read() {
  pipe_.async_read_some(asio::buffer(buffer_),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                          if (n > 0) self->log_->write(self->buffer_.data(), n);
                          if (ec) {  // end of output (or the pipe was closed by the drain limit)
                            self->eof_ = true;
                            self->maybe_finish();
                            return;
                          }
                          if (self->log_->congested()) {
                            self->log_->when_drained([self] { self->read(); });
                          } else {
                            self->read();
                          }
                        });
}

void Process::on_exit(int status) {
  exited_ = true;
  timeout_timer_.cancel();
  kill_timer_.cancel();
  if (WIFEXITED(status)) outcome_.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome_.signal = WTERMSIG(status);
  if (!eof_) {
    drain_timer_.expires_after(kDrainLimit);
    drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->eof_) return;
      boost::system::error_code ignored;
      self->pipe_.close(ignored);  // the pending read ends with operation_aborted
    });
  }
  maybe_finish();
}

void Process::cancel() {
  if (exited_ || finished_) return;
  outcome_.cancelled = true;
  terminate();
}

void Process::terminate() {
  if (terminating_ || exited_ || pid_ <= 0) return;
  terminating_ = true;
  kill(-pid_, SIGTERM);
  kill_timer_.expires_after(kKillDelay);
  kill_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->exited_) return;
    kill(-self->pid_, SIGKILL);
  });
}

void Process::maybe_finish() {
  if (finished_ || !exited_ || !eof_) return;
  finished_ = true;
  drain_timer_.cancel();
  boost::system::error_code ignored;
  pipe_.close(ignored);
  outcome_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  log_->close([self = shared_from_this()](std::exception_ptr error) {
    self->outcome_.log_error = error;
    auto done = std::move(self->done_);
    self->done_ = nullptr;
    if (done) done(self->outcome_);
  });
}

}  // namespace ym::master
