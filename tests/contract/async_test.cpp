// The completion-token forms of the connector methods (db/async.hpp), on every implementation:
// co_await, use_future, callbacks; results arrive on the caller's executor, errors keep their
// types, and a cancelled call that has not started does nothing.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "contract/fixture.hpp"
#include "db/async.hpp"

namespace ym::test {
namespace {

namespace asio = boost::asio;

YM_CONTRACT_SUITE(AsyncContract);

// The thread a database call of `db` runs on is never the io_context's: co_await resumes there.
TEST_P(AsyncContract, CoAwaitResumesOnTheCallersExecutorWithTheValue) {
  asio::io_context io;
  std::thread::id io_thread;
  std::vector<std::thread::id> resumed_on;
  int64_t created = 0;
  std::optional<int64_t> found;
  std::vector<db::Builder> listed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        created = *co_await db_->builders().find_builder_id("linux", asio::use_awaitable);
        resumed_on.push_back(std::this_thread::get_id());
        found = co_await db_->builders().find_builder_id("linux", false, asio::use_awaitable);
        resumed_on.push_back(std::this_thread::get_id());
        listed = co_await db_->builders().get_builders(asio::use_awaitable);
        resumed_on.push_back(std::this_thread::get_id());
        co_await db_->builders().update_builder_info(created, "x86", asio::use_awaitable);
        resumed_on.push_back(std::this_thread::get_id());
      },
      asio::detached);
  io_thread = std::this_thread::get_id();
  io.run();  // returns only when the coroutine is done: each call counted as work meanwhile
  ASSERT_EQ(resumed_on.size(), 4u);
  for (auto id : resumed_on) EXPECT_EQ(id, io_thread);
  EXPECT_GT(created, 0);
  EXPECT_EQ(found, created);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "linux");
  EXPECT_EQ(db_->builders().get_builder(created).get()->description, "x86");
}

TEST_P(AsyncContract, CoAwaitRethrowsTheTypedError) {
  asio::io_context io;
  std::string caught;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await db_->buildsets().complete_buildset(999, 0, asio::use_awaitable);
        } catch (const db::NotFound& e) {
          caught = "NotFound";
        }
        try {
          co_await db_->builders().find_builder_id("not an identifier!", asio::use_awaitable);
        } catch (const db::InvalidIdentifier& e) {
          caught += ",InvalidIdentifier";
        }
      },
      asio::detached);
  io.run();
  EXPECT_EQ(caught, "NotFound,InvalidIdentifier");
}

TEST_P(AsyncContract, UseFutureGivesAStdFuture) {
  std::future<int64_t> id = db_->masters().find_master_id("m1", asio::use_future);
  int64_t m = id.get();
  std::future<std::optional<db::Master>> got = db_->masters().get_master(m, asio::use_future);
  auto master = got.get();
  ASSERT_TRUE(master.has_value());
  EXPECT_EQ(master->name, "m1");
  std::future<void> bad = db_->buildsets().complete_buildset(12345, 0, asio::use_future);
  EXPECT_THROW(bad.get(), db::NotFound);
}

TEST_P(AsyncContract, CallbackBoundToAnExecutorRunsThere) {
  asio::io_context io;
  std::thread::id ran_on;
  std::exception_ptr error;
  std::vector<db::Master> masters;
  db_->masters().find_master_id("m2").get();
  db_->masters().get_masters(
      asio::bind_executor(io, [&](std::exception_ptr e, std::vector<db::Master> m) {
        ran_on = std::this_thread::get_id();
        error = e;
        masters = std::move(m);
      }));
  io.run();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_FALSE(error);
  ASSERT_EQ(masters.size(), 1u);
  EXPECT_EQ(masters[0].name, "m2");
}

TEST_P(AsyncContract, CallbackWithoutAnExecutorGetsTheErrorOffTheDatabaseThreads) {
  // The database threads' ids, seen from inside a custom call (SQL backends) or none (fake).
  std::promise<std::pair<std::thread::id, std::exception_ptr>> done;
  db_->buildsets().complete_buildset(777, 0, [&](std::exception_ptr e) {
    done.set_value({std::this_thread::get_id(), e});
  });
  auto [thread, error] = done.get_future().get();
  EXPECT_NE(thread, std::this_thread::get_id());
  ASSERT_TRUE(error);
  EXPECT_THROW(std::rethrow_exception(error), db::NotFound);
}

TEST_P(AsyncContract, ACallCancelledBeforeItStartsDoesNothing) {
  Canceller c;
  c.cancel();
  auto f = db_->masters().find_master_id("never", ym::cancellable(c, asio::use_future));
  EXPECT_THROW(f.get(), db::Cancelled);
  {
    CancelScope scope(c);
    EXPECT_THROW(db_->masters().find_master_id("never").get(), db::Cancelled);
  }
  EXPECT_TRUE(db_->masters().get_masters().get().empty());
  // Outside the scope, and with a canceller not cancelled, calls run.
  Canceller live;
  auto ok = db_->masters().find_master_id("runs", ym::cancellable(live, asio::use_future));
  EXPECT_GT(ok.get(), 0);
}

TEST_P(AsyncContract, AsyncWrapsAFutureAlreadyHeld) {
  asio::io_context io;
  int64_t id = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        id = co_await ym::async(db_->masters().find_master_id("held"), asio::use_awaitable);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(db_->masters().find_master_id("held").get(), id);
}

// Custom SQL (Db::run / read / transaction): real backends run it, the fake refuses it.
TEST_P(AsyncContract, CustomSqlRunsOnTheDatabaseThreadsOrIsRefusedByTheFake) {
  auto count = db_->read([](db::Connection& c) {
    return c.stmt("SELECT COUNT(*) FROM masters").scalar<int64_t>().value_or(-1);
  });
  if (is_fake()) {
    EXPECT_THROW(count.get(), db::InvalidArgument);
    return;
  }
  EXPECT_EQ(count.get(), 0);
  db_->transaction([](db::Connection& c) {
       c.stmt("INSERT INTO masters (name, name_hash, active, last_active) VALUES (?, ?, 0, 0)")
           .bind("custom", std::string(40, 'a'))
           .exec();
     })
      .get();
  // A transaction that throws leaves nothing behind.
  EXPECT_THROW(db_->transaction([](db::Connection& c) {
                    c.stmt("INSERT INTO masters (name, name_hash, active, last_active) VALUES "
                           "(?, ?, 0, 0)")
                        .bind("rolled back", std::string(40, 'b'))
                        .exec();
                    throw db::InvalidArgument("changed my mind");
                  })
                   .get(),
               db::InvalidArgument);
  asio::io_context io;
  std::vector<std::string> names;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        names = co_await db_->read(
            [](db::Connection& c) {
              std::vector<std::string> out;
              for (const auto& row : c.stmt("SELECT name FROM masters ORDER BY id").all()) {
                out.push_back(row.get<std::string>(0));
              }
              return out;
            },
            asio::use_awaitable);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(names, std::vector<std::string>{"custom"});
  // Connectors see what custom SQL wrote.
  ASSERT_EQ(db_->masters().get_masters().get().size(), 1u);
}

}  // namespace
}  // namespace ym::test
