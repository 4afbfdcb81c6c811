// The database thread pool. Pool::run(fn) runs fn(Connection&) on one of N database threads,
// each owning its own connection, and returns a future of its result. Nothing fn returns may
// refer to driver objects.
//
// Transient errors (SQLite BUSY, PostgreSQL serialization failures, MySQL deadlocks, a server that
// refuses connections while it restarts) are retried with exponential backoff for as long as the
// call's time budget allows (PoolOptions::retry_budget), after which the caller gets the error: a
// call never waits forever. A connection that raised an error that poisons it is closed and
// reopened on the next attempt.
//
// A connection lost while a write was being committed (the COMMIT of a transaction, or the one
// statement of a write_one call) leaves its outcome unknown. Such a call is retried only when it
// was submitted with Unknown::kRetry, whose lambda checks what is already there on a repeat
// (commit_outcome_unknown() tells it); any other call fails with CommitOutcomeUnknown.
//
// SQLite (a single-writer dialect): one thread owns the write connection and runs write
// transactions with group commit: the write calls queued at that moment run one after another
// inside one transaction (each inside its own savepoint, so that one call's error rolls back only
// that call), then a single COMMIT makes them all durable and only then are their futures
// completed. The cost of the commit's fsync is shared by every caller waiting at that moment,
// with exactly the durability of one commit per call. Reads run on the other threads in parallel.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "drivers/driver.hpp"
#include "errors.hpp"
#include "future.hpp"

namespace ym::db {

struct PoolOptions {
  int size = 4;  // database threads (and connections)
  // Tries of one call, the first included; 0: as many as retry_budget allows.
  int max_attempts = 0;
  int max_group = 64;  // write calls one group commit may hold (single-writer dialects)
  // How long the writer may wait for as many calls as its last group held before it commits
  // fewer (single-writer dialects).
  std::chrono::microseconds group_gather{200};
  std::chrono::milliseconds retry_budget{10000};      // total time one call may spend retrying
  std::chrono::milliseconds backoff_initial{2};
  std::chrono::milliseconds backoff_max{500};
};

// What a call does when its connection was lost while its write was being committed.
enum class Unknown {
  kFail,   // fail with CommitOutcomeUnknown (the change may or may not be in the database)
  kRetry,  // run the lambda again: it checks commit_outcome_unknown() and what was committed
};

struct PoolStats {
  uint64_t calls = 0;
  uint64_t retries = 0;     // attempts repeated after a transient error
  uint64_t reconnects = 0;  // connections reopened
  uint64_t commit_groups = 0;   // group commits (single-writer dialects)
  uint64_t grouped_writes = 0;  // write calls committed by them
};

// A write transaction held open just before its COMMIT (FaultInjector::pause_next_commit): its
// statements have run and it holds their locks, so a test can start a second transaction against
// it at a moment it knows, instead of hoping two calls overlap.
class CommitGate {
 public:
  // Blocks until a transaction has reached the gate.
  void wait_until_paused() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return paused_; });
  }
  // Lets the paused transaction (or the next one to arrive) go on to COMMIT.
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  friend class Pool;
  void pause() {
    std::unique_lock lock(mu_);
    paused_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
  bool released_ = false;
};

// Test switches, in the spirit of LevelDB's SpecialEnv: make the next attempts fail the way a
// real backend can, so that retry and reconnect paths are exercised rather than hoped for.
class FaultInjector {
 public:
  // The next write transaction runs its statements, then waits at the returned gate before
  // COMMIT until the test releases it. One gate at a time; a second call replaces an unused one.
  std::shared_ptr<CommitGate> pause_next_commit() {
    auto gate = std::make_shared<CommitGate>();
    std::lock_guard lock(gate_mu_);
    gate_ = gate;
    gate_armed_ = true;
    return gate;
  }
  void fail_next_with_busy(int n) { busy_ += n; }
  void drop_next_connections(int n) { drop_ += n; }
  void fail_next_commits(int n) { commit_ += n; }
  // The next n writes (transactions and write_one calls) are committed, then their connection
  // is dropped before the caller hears so: the reply to COMMIT was lost.
  void lose_next_commit_replies(int n) { lost_reply_ += n; }
  void reset() {
    busy_ = drop_ = commit_ = lost_reply_ = 0;
    take_gate();
  }

 private:
  friend class Pool;
  static bool take(std::atomic<int>& c) {
    int v = c.load();
    while (v > 0) {
      if (c.compare_exchange_weak(v, v - 1)) return true;
    }
    return false;
  }
  // Every write commit asks; the flag keeps the mutex off that path unless a test armed a gate.
  std::shared_ptr<CommitGate> take_gate() {
    if (!gate_armed_.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lock(gate_mu_);
    gate_armed_ = false;
    return std::exchange(gate_, nullptr);
  }
  std::atomic<int> busy_{0}, drop_{0}, commit_{0}, lost_reply_{0};
  std::atomic<bool> gate_armed_{false};
  std::mutex gate_mu_;
  std::shared_ptr<CommitGate> gate_;
};

class Pool {
 public:
  // kWriteOne: one write statement in autocommit (write_one on server backends).
  enum class Mode { kAutocommit, kRead, kWrite, kWriteOne };

  // Opens the first connection at once so that a bad URL fails here, not in a later call.
  Pool(ConnectionFactory factory, PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // fn(Connection&) without an explicit transaction (each statement commits on its own).
  template <class Fn>
  auto run(Fn fn) {
    return submit(Mode::kAutocommit, std::move(fn));
  }
  // fn(Connection&) inside a read transaction: one consistent snapshot.
  template <class Fn>
  auto read(Fn fn) {
    return submit(Mode::kRead, std::move(fn));
  }
  // fn(Connection&) inside a write transaction, committed when fn returns, rolled back when it
  // throws. fn may run more than once (transient retries) and must not have other side effects.
  template <class Fn>
  auto transaction(Fn fn, Unknown unknown = Unknown::kFail) {
    return submit(Mode::kWrite, std::move(fn), unknown);
  }

  // fn(Connection&) that makes its change with a single statement, atomic by itself. On server
  // backends it runs outside a transaction: one round trip instead of BEGIN, statement, COMMIT.
  // On single-writer dialects it is an ordinary write (and joins the group commit).
  template <class Fn>
  auto write_one(Fn fn, Unknown unknown = Unknown::kFail) {
    return submit(dialect_->single_writer ? Mode::kWrite : Mode::kWriteOne, std::move(fn),
                  unknown);
  }

  // Inside a pool lambda: true when an earlier attempt of this same call lost its connection
  // while its write was being committed, so that its changes may already be in the database.
  // Only lambdas submitted with Unknown::kRetry see it true; they look before writing again.
  static bool commit_outcome_unknown();

  // Stops taking work, fails every queued call with PoolShutDown, waits for running calls to
  // finish and closes the connections. Idempotent; never hangs on queued work. Must not be
  // called from a database thread (InvalidArgument).
  void shutdown();

  const Dialect& dialect() const { return *dialect_; }
  int size() const { return static_cast<int>(workers_.size()); }
  PoolStats stats() const;
  FaultInjector& faults() { return faults_; }

 private:
  struct Task {
    Mode mode;
    Unknown unknown = Unknown::kFail;
    bool outcome_unknown = false;  // an earlier attempt lost its connection while committing
    std::function<void(Connection&)> body;   // runs one attempt; throws on failure
    std::function<void()> on_success;        // fulfils the promise with the stored result
    std::function<void(std::exception_ptr)> on_failure;
    std::optional<Canceller> canceller;  // the caller's, when it made the call in a CancelScope
    bool cancelled() const { return canceller && canceller->cancelled(); }
  };
  struct Worker {
    std::thread thread;
    std::unique_ptr<Connection> conn;
  };

  template <class Fn>
  auto submit(Mode mode, Fn fn, Unknown unknown = Unknown::kFail) {
    using R = std::invoke_result_t<Fn&, Connection&>;
    auto promise = std::make_shared<Promise<R>>();
    auto future = promise->get_future();
    Task task;
    task.mode = mode;
    task.unknown = unknown;
    if constexpr (std::is_void_v<R>) {
      task.body = [fn = std::move(fn)](Connection& c) mutable { fn(c); };
      task.on_success = [promise] { promise->set_value(); };
    } else {
      auto slot = std::make_shared<std::optional<R>>();
      task.body = [fn = std::move(fn), slot](Connection& c) mutable { slot->emplace(fn(c)); };
      task.on_success = [promise, slot] { promise->set_value(std::move(**slot)); };
    }
    task.on_failure = [promise](std::exception_ptr e) { promise->set_exception(std::move(e)); };
    if (const Canceller* c = Canceller::current()) task.canceller = *c;
    enqueue(std::move(task));
    return future;
  }

  void enqueue(Task task);
  void worker_loop(Worker& w, bool writer, bool reader);
  void execute(Worker& w, Task& task);
  void attempt(Worker& w, Task& task);
  void execute_group(Worker& w, std::vector<Task>& group);
  // Whether to try again after `e` (the error of attempt `attempt_no`, begun at `start`).
  bool should_retry(const Error& e, int attempt_no, std::chrono::steady_clock::time_point start,
                    std::chrono::milliseconds backoff);
  void back_off(std::chrono::milliseconds& backoff);
  bool grouping() const { return dialect_->single_writer && options_.max_group > 1; }
  void ensure_connection(Worker& w);

  ConnectionFactory factory_;
  PoolOptions options_;
  const Dialect* dialect_ = nullptr;
  FaultInjector faults_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;       // guarded by mu_
  std::deque<Task> write_queue_;  // guarded by mu_; write calls when grouping()
  std::condition_variable write_cv_;  // the writer thread waits on it
  bool stopping_ = false;        // guarded by mu_
  std::mutex write_mu_;          // serialises write transactions on single-writer dialects
  std::mutex shutdown_mu_;       // one shutdown at a time
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> calls_{0}, retries_{0}, reconnects_{0}, groups_{0}, grouped_{0};
};

}  // namespace ym::db
