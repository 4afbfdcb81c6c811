#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "db/async.hpp"
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <thread>

#include "db/errors.hpp"
#include "db/pool.hpp"

namespace ym::db {
namespace {

ConnectionFactory sqlite_file_factory(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() /
              ("ym-pool-" + std::to_string(::getpid()) + "-" + name + ".sqlite");
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
  Url url = Url::parse("sqlite:///" + path.string());
  return [url] { return open_connection(url); };
}

PoolOptions fast_retries(int size = 2) {
  PoolOptions o;
  o.size = size;
  o.backoff_initial = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(2);
  return o;
}

int select_one(Connection& c) { return *c.stmt("SELECT 1").scalar<int>(); }

TEST(Pool, RunsOnADatabaseThreadAndReturnsTheValue) {
  Pool pool(sqlite_file_factory("basic"), fast_retries());
  auto caller = std::this_thread::get_id();
  auto tid = pool.run([](Connection&) { return std::this_thread::get_id(); }).get();
  EXPECT_NE(tid, caller);
  EXPECT_EQ(pool.run(select_one).get(), 1);
}

TEST(Pool, ErrorsArriveTypedInsideTheFuture) {
  Pool pool(sqlite_file_factory("errors"), fast_retries());
  auto f = pool.run([](Connection& c) { return c.stmt("SELECT nonsense FROM nowhere").all().size(); });
  EXPECT_THROW(f.get(), InternalError);
  auto g = pool.run([](Connection&) -> int { throw NotFound("no such thing"); });
  EXPECT_THROW(g.get(), NotFound);
}

TEST(Pool, TransientErrorsAreRetried) {
  Pool pool(sqlite_file_factory("retry"), fast_retries());
  pool.faults().fail_next_with_busy(3);
  EXPECT_EQ(pool.run(select_one).get(), 1);
  EXPECT_EQ(pool.stats().retries, 3u);
}

TEST(Pool, RetriesStopAtTheAttemptLimit) {
  auto o = fast_retries();
  o.max_attempts = 4;
  Pool pool(sqlite_file_factory("limit"), o);
  pool.faults().fail_next_with_busy(100);
  EXPECT_THROW(pool.run(select_one).get(), TransientError);
  EXPECT_EQ(pool.stats().retries, 3u);
}

TEST(Pool, RetriesStopAtTheTimeBudget) {
  auto o = fast_retries();
  o.max_attempts = 1000000;
  o.retry_budget = std::chrono::milliseconds(30);
  o.backoff_initial = std::chrono::milliseconds(4);
  o.backoff_max = std::chrono::milliseconds(4);
  Pool pool(sqlite_file_factory("budget"), o);
  pool.faults().fail_next_with_busy(1000000);
  EXPECT_THROW(pool.run(select_one).get(), TransientError);
  EXPECT_LT(pool.stats().retries, 1000u);
  pool.faults().reset();
}

TEST(Pool, AnUnreachableDatabaseIsRetriedForTheWholeBudgetNotACountOfAttempts) {
  // The server "refuses connections" 40 times in a row after the pool's connection broke: far
  // more attempts than a fixed count of 10 would allow, well within a time budget.
  auto base = sqlite_file_factory("refused");
  auto opened = std::make_shared<std::atomic<int>>(0);
  ConnectionFactory factory = [base, opened]() -> std::unique_ptr<Connection> {
    int n = ++*opened;
    if (n >= 2 && n <= 41) throw ConnectionFailed("connection refused (simulated)");
    return base();
  };
  auto o = fast_retries(1);
  o.retry_budget = std::chrono::seconds(60);
  Pool pool(factory, o);
  pool.faults().drop_next_connections(1);
  EXPECT_EQ(pool.run(select_one).get(), 1);
  EXPECT_EQ(opened->load(), 42);
}

TEST(Pool, ALostCommitReplyFailsACallThatCannotCheckAndRepeatsOneThatCan) {
  Pool pool(sqlite_file_factory("lostreply"), fast_retries());
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER)"); }).get();
  auto count = [&pool] {
    return pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t").scalar<int>(); })
        .get();
  };
  // Committed, but the caller cannot know: it is told so, and nothing is written twice.
  pool.faults().lose_next_commit_replies(1);
  auto blind = pool.transaction([](Connection& c) { c.stmt("INSERT INTO t (x) VALUES (1)").exec(); });
  EXPECT_THROW(blind.get(), CommitOutcomeUnknown);
  EXPECT_EQ(count(), 1);
  // A call that checks runs again, told that its first attempt may have committed.
  std::vector<bool> seen;
  pool.faults().lose_next_commit_replies(1);
  pool.transaction(
          [&seen](Connection& c) {
            seen.push_back(Pool::commit_outcome_unknown());
            if (Pool::commit_outcome_unknown() &&
                *c.stmt("SELECT COUNT(*) FROM t WHERE x = 2").scalar<int>() > 0) {
              return;
            }
            c.stmt("INSERT INTO t (x) VALUES (2)").exec();
          },
          Unknown::kRetry)
      .get();
  EXPECT_EQ(seen, (std::vector<bool>{false, true}));
  EXPECT_EQ(count(), 2);
  // Outside such a repeat the flag is false.
  EXPECT_FALSE(pool.run([](Connection&) { return Pool::commit_outcome_unknown(); }).get());
}

TEST(Pool, ADroppedConnectionIsReopened) {
  Pool pool(sqlite_file_factory("drop"), fast_retries(1));
  pool.faults().drop_next_connections(2);
  EXPECT_EQ(pool.run(select_one).get(), 1);
  EXPECT_GE(pool.stats().reconnects, 1u);
}

TEST(Pool, AFailedCommitRollsBackAndRetriesTheWholeTransaction) {
  Pool pool(sqlite_file_factory("commit"), fast_retries());
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER)"); }).get();
  pool.faults().fail_next_commits(1);
  pool.transaction([](Connection& c) { c.stmt("INSERT INTO t (x) VALUES (?)").bind(7).exec(); }).get();
  // Rolled back once, then committed once: exactly one row.
  EXPECT_EQ(pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t").scalar<int>(); }).get(), 1);
}

TEST(Pool, AThrowingTransactionIsRolledBack) {
  Pool pool(sqlite_file_factory("rollback"), fast_retries());
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER)"); }).get();
  auto f = pool.transaction([](Connection& c) {
    c.stmt("INSERT INTO t (x) VALUES (1)").exec();
    throw InvalidArgument("changed my mind");
  });
  EXPECT_THROW(f.get(), InvalidArgument);
  EXPECT_EQ(pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t").scalar<int>(); }).get(), 0);
}

TEST(Pool, ShutdownFailsQueuedCallsAndFinishesRunningOnes) {
  Pool pool(sqlite_file_factory("shutdown"), fast_retries(1));
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, release = false;
  auto running = pool.run([&](Connection&) {
    std::unique_lock lock(mu);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return 1;
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  std::vector<Future<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(pool.run(select_one));
  std::thread stopper([&] { pool.shutdown(); });
  {
    // The queued calls fail before the running one is released: shutdown does not wait on them.
    for (auto& f : queued) EXPECT_THROW(f.get(), PoolShutDown);
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  stopper.join();
  EXPECT_EQ(running.get(), 1);
  EXPECT_THROW(pool.run(select_one).get(), PoolShutDown);
  pool.shutdown();  // idempotent
}

TEST(Pool, ContinuationsCanBeDeliveredOnAnIoContext) {
  Pool pool(sqlite_file_factory("executor"), fast_retries());
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  auto delivered = then_on(pool.run(select_one), io.get_executor(), [](Future<int> f) {
    return std::make_pair(f.get(), std::this_thread::get_id());
  });
  auto [value, tid] = delivered.get();
  EXPECT_EQ(value, 1);
  EXPECT_EQ(tid, io_thread.get_id());
  // Errors are delivered too.
  auto failed = then_on(pool.run([](Connection&) -> int { throw NotFound("x"); }),
                        io.get_executor(), [](Future<int> f) { return f.get(); });
  EXPECT_THROW(failed.get(), NotFound);
  guard.reset();
  io_thread.join();
}

TEST(Pool, SqliteReadersRunInParallel) {
  // Three threads: with group commit the first one is the writer, the other two read.
  Pool pool(sqlite_file_factory("parallel"), fast_retries(3));
  // Each read waits until both are inside a read transaction at once; serialised readers would
  // time out instead.
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  auto reader = [&](Connection& c) {
    select_one(c);
    std::unique_lock lock(mu);
    ++inside;
    cv.notify_all();
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return inside == 2; });
  };
  auto a = pool.read(reader);
  auto b = pool.read(reader);
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
}

TEST(Pool, SqliteWritersAreSerialisedWithoutErrors) {
  Pool pool(sqlite_file_factory("writers"), fast_retries(4));
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER)"); }).get();
  std::vector<Future<void>> fs;
  for (int i = 0; i < 200; ++i) {
    fs.push_back(pool.transaction([i](Connection& c) {
      int n = *c.stmt("SELECT COUNT(*) FROM t").scalar<int>();
      c.stmt("INSERT INTO t (x) VALUES (?)").bind(n).exec();
    }));
  }
  for (auto& f : fs) f.get();
  // Read-then-write inside serialised transactions: the values are exactly 0..199.
  auto distinct = pool.run([](Connection& c) {
    return *c.stmt("SELECT COUNT(DISTINCT x) FROM t").scalar<int>();
  }).get();
  EXPECT_EQ(distinct, 200);
}

TEST(Pool, ConcurrentWritesShareCommits) {
  Pool pool(sqlite_file_factory("groups"), fast_retries(3));
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER)"); }).get();
  std::vector<Future<void>> fs;
  for (int i = 0; i < 300; ++i) {
    fs.push_back(pool.transaction([i](Connection& c) { c.stmt("INSERT INTO t (x) VALUES (?)").bind(i).exec(); }));
  }
  for (auto& f : fs) f.get();
  auto st = pool.stats();
  EXPECT_EQ(st.grouped_writes, 300u);
  EXPECT_LT(st.commit_groups, 300u);  // several callers per commit
  EXPECT_EQ(pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t").scalar<int>(); }).get(), 300);
}

TEST(Pool, AFailingCallInAGroupRollsBackOnlyItself) {
  Pool pool(sqlite_file_factory("group-errors"), fast_retries(3));
  pool.run([](Connection& c) { c.execute_script("CREATE TABLE t (x INTEGER UNIQUE)"); }).get();
  std::vector<Future<void>> fs;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(pool.transaction([i](Connection& c) {
      c.stmt("INSERT INTO t (x) VALUES (?)").bind(i).exec();
      if (i % 10 == 3) throw InvalidArgument("call " + std::to_string(i) + " changes its mind");
    }));
  }
  int failed = 0;
  for (auto& f : fs) {
    try {
      f.get();
    } catch (const InvalidArgument&) {
      ++failed;
    }
  }
  EXPECT_EQ(failed, 10);
  EXPECT_EQ(pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t").scalar<int>(); }).get(), 90);
  EXPECT_EQ(pool.run([](Connection& c) { return *c.stmt("SELECT COUNT(*) FROM t WHERE x % 10 = 3").scalar<int>(); }).get(), 0);
}

TEST(Pool, ABadUrlFailsAtConstruction) {
  Url url = Url::parse("sqlite:////nonexistent-dir/sub/x.sqlite");
  EXPECT_THROW(Pool([url] { return open_connection(url); }, PoolOptions{}), ConnectionFailed);
}

}  // namespace
}  // namespace ym::db
