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
  for (auto& w : workers_) {
    Worker* raw = w.get();
    raw->thread = std::thread([this, raw] { worker_loop(*raw); });
  }
}

Pool::~Pool() { shutdown(); }

void Pool::enqueue(Task task) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task.on_failure(std::make_exception_ptr(
      PoolShutDown("the database pool is shut down; the call was not run")));
}

void Pool::shutdown() {
  std::deque<Task> abandoned;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    abandoned.swap(queue_);
    cv_.notify_all();
  }
  for (Task& t : abandoned) {
    t.on_failure(std::make_exception_ptr(
        PoolShutDown("the database pool shut down before the call could run")));
  }
  for (auto& w : workers_) {
    if (w->thread.joinable() && w->thread.get_id() != std::this_thread::get_id()) w->thread.join();
  }
  std::lock_guard lock(mu_);
  workers_.clear();
}

PoolStats Pool::stats() const {
  return PoolStats{calls_.load(), retries_.load(), reconnects_.load()};
}

void Pool::worker_loop(Worker& w) {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    execute(w, task);
  }
  w.conn.reset();
}

void Pool::execute(Worker& w, Task& task) {
  ++calls_;
  auto start = std::chrono::steady_clock::now();
  auto backoff = options_.backoff_initial;
  thread_local std::minstd_rand rng(std::random_device{}());
  for (int attempt_no = 1;; ++attempt_no) {
    try {
      attempt(w, task);
      task.on_success();
      return;
    } catch (const Error& e) {
      if (e.poisons_connection()) w.conn.reset();
      bool stopping;
      {
        std::lock_guard lock(mu_);
        stopping = stopping_;
      }
      auto elapsed = std::chrono::steady_clock::now() - start;
      bool retry = e.transient() && !stopping && attempt_no < options_.max_attempts &&
                   elapsed + backoff < options_.retry_budget;
      if (!retry) {
        task.on_failure(std::current_exception());
        return;
      }
    } catch (...) {
      task.on_failure(std::current_exception());
      return;
    }
    ++retries_;
    // Full jitter: sleep a random time up to the current backoff, so that racing writers spread.
    std::uniform_int_distribution<int64_t> dist(backoff.count() / 2, backoff.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(dist(rng)));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void Pool::attempt(Worker& w, Task& task) {
  if (FaultInjector::take(faults_.drop_)) {
    throw ConnectionFailed("injected fault: connection dropped", /*transient=*/true);
  }
  if (!w.conn) {
    try {
      w.conn = factory_();
    } catch (const ConnectionFailed& e) {
      // The server may be restarting: reconnecting is worth another attempt within the budget.
      throw ConnectionFailed(e.what(), /*transient=*/true);
    }
    ++reconnects_;
  }
  if (FaultInjector::take(faults_.busy_)) {
    throw TransientError("injected fault: database is busy");
  }
  Connection& conn = *w.conn;
  if (task.mode == Mode::kAutocommit) {
    task.body(conn);
    return;
  }
  std::unique_lock<std::mutex> write_lock;
  if (task.mode == Mode::kWrite && dialect_->single_writer) {
    write_lock = std::unique_lock<std::mutex>(write_mu_);
  }
  Transaction txn(conn, task.mode == Mode::kWrite ? TxnMode::kWrite : TxnMode::kRead);
  task.body(conn);
  if (FaultInjector::take(faults_.commit_)) {
    throw TransientError("injected fault: commit failed");  // txn's destructor rolls back
  }
  txn.commit();
}

}  // namespace ym::db
