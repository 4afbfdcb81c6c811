#include "db/pool.hpp"

#include <random>

namespace ym::db {

Pool::Pool(ConnectionFactory factory, PoolOptions options)
    : factory_(std::move(factory)), options_(options) {
  if (options_.size < 1) throw InvalidArgument("pool size must be at least 1");
  // The first connection is opened here: a bad URL or an unreachable server fails the
  // constructor instead of every later call.
  auto first = factory_();
  dialect_ = &first->dialect();
  for (int i = 0; i < options_.size; ++i) {
    auto w = std::make_unique<Worker>();
    if (i == 0) w->conn = std::move(first);
    workers_.push_back(std::move(w));
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker* raw = workers_[i].get();
    // With group commit the first thread is the writer; it also reads when it is alone.
    bool writer = grouping() && i == 0;
    bool reader = !grouping() || i > 0 || workers_.size() == 1;
    raw->thread = std::thread([this, raw, writer, reader] { worker_loop(*raw, writer, reader); });
  }
}

Pool::~Pool() { shutdown(); }

void Pool::enqueue(Task task) {
  if (task.cancelled()) {
    task.on_failure(std::make_exception_ptr(Cancelled("the call was cancelled before it ran")));
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      if (task.mode == Mode::kWrite && grouping()) {
        write_queue_.push_back(std::move(task));
        write_cv_.notify_one();
        if (workers_.size() == 1) cv_.notify_one();  // the one thread also waits on cv_
      } else {
        queue_.push_back(std::move(task));
        cv_.notify_one();
      }
      return;
    }
  }
  task.on_failure(std::make_exception_ptr(
      PoolShutDown("the database pool is shut down; the call was not run")));
}

void Pool::shutdown() {
  std::lock_guard shutting(shutdown_mu_);  // concurrent callers wait for the first one
  for (const auto& w : workers_) {
    if (w->thread.get_id() == std::this_thread::get_id()) {
      // Joining ourselves is impossible and destroying the pool under a running call is
      // undefined: refuse instead of aborting the process.
      throw InvalidArgument("a database pool cannot be shut down from one of its own threads "
                            "(e.g. inside a Future::then continuation); use then_on");
    }
  }
  std::deque<Task> abandoned;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    abandoned.swap(queue_);
    for (Task& t : write_queue_) abandoned.push_back(std::move(t));
    write_queue_.clear();
    cv_.notify_all();
    write_cv_.notify_all();
  }
  for (Task& t : abandoned) {
    t.on_failure(std::make_exception_ptr(
        PoolShutDown("the database pool shut down before the call could run")));
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
}

PoolStats Pool::stats() const {
  return PoolStats{calls_.load(), retries_.load(), reconnects_.load(), groups_.load(),
                   grouped_.load()};
}

void Pool::worker_loop(Worker& w, bool writer, bool reader) {
  // A writer-only thread waits on write_cv_, every other thread on cv_.
  std::condition_variable& cv = writer && !reader ? write_cv_ : cv_;
  size_t last_group = 1;
  for (;;) {
    std::vector<Task> group;
    Task task;
    bool have_task = false;
    {
      std::unique_lock lock(mu_);
      cv.wait(lock, [&] {
        return stopping_ || (writer && !write_queue_.empty()) || (reader && !queue_.empty());
      });
      if (writer && !write_queue_.empty() && write_queue_.size() < last_group && !reader) {
        // The callers of the last group are likely about to send their next writes (their
        // futures completed a moment ago): give them a short while to join this commit, which
        // saves a disk sync each. Adaptive: a lone caller makes the next target 1, no wait.
        write_cv_.wait_for(lock, options_.group_gather, [&] {
          return stopping_ || write_queue_.size() >= last_group;
        });
      }
      if (writer && !write_queue_.empty()) {
        // Everything queued now goes into one commit.
        while (!write_queue_.empty() && group.size() < static_cast<size_t>(options_.max_group)) {
          group.push_back(std::move(write_queue_.front()));
          write_queue_.pop_front();
        }
      } else if (reader && !queue_.empty()) {
        task = std::move(queue_.front());
        queue_.pop_front();
        have_task = true;
      } else {
        break;  // stopping and nothing left for this thread
      }
    }
    // A call cancelled while it waited in the queue never runs.
    auto cancel = [](Task& t) {
      t.on_failure(std::make_exception_ptr(Cancelled("the call was cancelled before it ran")));
    };
    if (!group.empty()) {
      std::erase_if(group, [&](Task& t) {
        if (!t.cancelled()) return false;
        cancel(t);
        return true;
      });
    } else if (have_task && task.cancelled()) {
      cancel(task);
      have_task = false;
    }
    if (!group.empty()) {
      last_group = group.size();
      execute_group(w, group);
    } else if (have_task) {
      execute(w, task);
    }
  }
  w.conn.reset();
}

void Pool::ensure_connection(Worker& w) {
  if (FaultInjector::take(faults_.drop_)) {
    w.conn.reset();
    throw ConnectionFailed("injected fault: connection dropped", /*transient=*/true);
  }
  if (w.conn) return;
  try {
    w.conn = factory_();
  } catch (const ConnectionFailed& e) {
    // The server may be restarting: reconnecting is worth another attempt within the budget.
    throw ConnectionFailed(e.what(), /*transient=*/true);
  }
  ++reconnects_;
}

namespace {

thread_local bool t_outcome_unknown = false;

// Marks the call as "outcome unknown" and says what becomes of it: a transient error (run it
// again, checking) for Unknown::kRetry, CommitOutcomeUnknown otherwise.
[[noreturn]] void lost_while_committing(Unknown policy, bool& outcome_unknown,
                                        const std::string& what) {
  if (policy == Unknown::kRetry) {
    outcome_unknown = true;
    throw ConnectionFailed(what + " (the connection was lost while committing; retrying, "
                                  "with a check of what was committed)",
                           /*transient=*/true);
  }
  throw CommitOutcomeUnknown(what + " (the connection was lost while committing: the change "
                                    "may or may not have been applied)");
}

}  // namespace

bool Pool::commit_outcome_unknown() { return t_outcome_unknown; }

bool Pool::should_retry(const Error& e, int attempt_no, std::chrono::steady_clock::time_point start,
                        std::chrono::milliseconds backoff) {
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  return e.transient() && !stopping &&
         (options_.max_attempts <= 0 || attempt_no < options_.max_attempts) &&
         elapsed + backoff < options_.retry_budget;
}

void Pool::back_off(std::chrono::milliseconds& backoff) {
  thread_local std::minstd_rand rng(std::random_device{}());
  ++retries_;
  // Jitter: sleep between half the current backoff and all of it, so that racing writers spread.
  std::uniform_int_distribution<int64_t> dist(backoff.count() / 2, backoff.count());
  std::this_thread::sleep_for(std::chrono::milliseconds(dist(rng)));
  backoff = std::min(backoff * 2, options_.backoff_max);
}

void Pool::execute_group(Worker& w, std::vector<Task>& group) {
  calls_ += group.size();
  auto start = std::chrono::steady_clock::now();
  auto backoff = options_.backoff_initial;
  std::vector<std::exception_ptr> errors(group.size());
  for (int attempt_no = 1;; ++attempt_no) {
    errors.assign(group.size(), nullptr);
    try {
      ensure_connection(w);
      if (FaultInjector::take(faults_.busy_)) throw TransientError("injected fault: database is busy");
      Connection& conn = *w.conn;
      Transaction txn(conn, TxnMode::kWrite);
      for (size_t i = 0; i < group.size(); ++i) {
        conn.stmt("SAVEPOINT ym_group_call").exec();
        t_outcome_unknown = group[i].outcome_unknown;
        try {
          group[i].body(conn);
          t_outcome_unknown = false;
          conn.stmt("RELEASE SAVEPOINT ym_group_call").exec();
        } catch (const Error& e) {
          t_outcome_unknown = false;
          // Busy, deadlock or a broken connection: the whole group is retried (or fails).
          if (e.transient() || e.poisons_connection()) throw;
          conn.stmt("ROLLBACK TO SAVEPOINT ym_group_call").exec();
          conn.stmt("RELEASE SAVEPOINT ym_group_call").exec();
          errors[i] = std::current_exception();
        } catch (...) {
          t_outcome_unknown = false;
          conn.stmt("ROLLBACK TO SAVEPOINT ym_group_call").exec();
          conn.stmt("RELEASE SAVEPOINT ym_group_call").exec();
          errors[i] = std::current_exception();
        }
      }
      if (FaultInjector::take(faults_.commit_)) {
        throw TransientError("injected fault: commit failed");  // txn's destructor rolls back
      }
      if (auto gate = faults_.take_gate()) gate->pause();
      // (An SQLite COMMIT that fails has not happened: the outcome is never unknown here, except
      // for the injected lost reply.)
      txn.commit();
      if (FaultInjector::take(faults_.lost_reply_)) {
        w.conn.reset();
        // The calls that cannot check fail now; the others run again, checking.
        std::vector<Task> again;
        for (auto& t : group) {
          if (t.unknown == Unknown::kRetry) {
            t.outcome_unknown = true;
            again.push_back(std::move(t));
          } else {
            t.on_failure(std::make_exception_ptr(CommitOutcomeUnknown(
                "injected fault: the reply to COMMIT was lost (the change may or may not have "
                "been applied)")));
          }
        }
        group.swap(again);
        if (group.empty()) return;
        throw ConnectionFailed("injected fault: the reply to COMMIT was lost", /*transient=*/true);
      }
      ++groups_;
      grouped_ += group.size();
      // Only now, after the commit, does any caller learn its result.
      for (size_t i = 0; i < group.size(); ++i) {
        if (errors[i]) {
          group[i].on_failure(errors[i]);
        } else {
          group[i].on_success();
        }
      }
      return;
    } catch (const Error& e) {
      if (e.poisons_connection()) w.conn.reset();
      if (!should_retry(e, attempt_no, start, backoff)) {
        for (auto& t : group) t.on_failure(std::current_exception());
        return;
      }
    } catch (...) {
      for (auto& t : group) t.on_failure(std::current_exception());
      return;
    }
    back_off(backoff);
  }
}

void Pool::execute(Worker& w, Task& task) {
  ++calls_;
  auto start = std::chrono::steady_clock::now();
  auto backoff = options_.backoff_initial;
  for (int attempt_no = 1;; ++attempt_no) {
    try {
      attempt(w, task);
      task.on_success();
      return;
    } catch (const Error& e) {
      if (e.poisons_connection()) w.conn.reset();
      if (!should_retry(e, attempt_no, start, backoff)) {
        task.on_failure(std::current_exception());
        return;
      }
    } catch (...) {
      task.on_failure(std::current_exception());
      return;
    }
    back_off(backoff);
  }
}

void Pool::attempt(Worker& w, Task& task) {
  ensure_connection(w);
  if (FaultInjector::take(faults_.busy_)) {
    throw TransientError("injected fault: database is busy");
  }
  Connection& conn = *w.conn;
  struct Flag {  // commit_outcome_unknown() for the lambda of this attempt only
    explicit Flag(bool v) { t_outcome_unknown = v; }
    ~Flag() { t_outcome_unknown = false; }
  };
  if (task.mode == Mode::kAutocommit) {
    task.body(conn);
    return;
  }
  if (task.mode == Mode::kWriteOne) {
    // The statement commits as it runs: a connection lost during it leaves it in doubt.
    try {
      Flag flag(task.outcome_unknown);
      task.body(conn);
    } catch (const ConnectionFailed& e) {
      lost_while_committing(task.unknown, task.outcome_unknown, e.what());
    }
    if (FaultInjector::take(faults_.lost_reply_)) {
      lost_while_committing(task.unknown, task.outcome_unknown,
                            "injected fault: the reply to the statement was lost");
    }
    return;
  }
  std::unique_lock<std::mutex> write_lock;
  if (task.mode == Mode::kWrite && dialect_->single_writer) {
    write_lock = std::unique_lock<std::mutex>(write_mu_);
  }
  Transaction txn(conn, task.mode == Mode::kWrite ? TxnMode::kWrite : TxnMode::kRead);
  {
    Flag flag(task.outcome_unknown);
    task.body(conn);
  }
  if (FaultInjector::take(faults_.commit_)) {
    throw TransientError("injected fault: commit failed");  // txn's destructor rolls back
  }
  if (task.mode != Mode::kWrite) {
    txn.commit();
    return;
  }
  if (auto gate = faults_.take_gate()) gate->pause();
  try {
    txn.commit();
  } catch (const ConnectionFailed& e) {
    lost_while_committing(task.unknown, task.outcome_unknown, e.what());
  }
  if (FaultInjector::take(faults_.lost_reply_)) {
    lost_while_committing(task.unknown, task.outcome_unknown,
                          "injected fault: the reply to COMMIT was lost");
  }
}

}  // namespace ym::db
