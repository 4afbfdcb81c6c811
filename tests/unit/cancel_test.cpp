// Cancellation of queued calls on a real pool: a call cancelled while it waits for a database
// thread fails with Cancelled and never runs; a call already running completes.
#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>
#include <future>

#include "db/async.hpp"
#include "db/db.hpp"
#include "db/errors.hpp"

namespace ym::test {
namespace {

namespace asio = boost::asio;

std::unique_ptr<db::Db> one_thread_db() {
  db::DbOptions options;
  options.pool_size = 1;
  return db::Db::open("sqlite://", options);  // in memory: one database thread
}

TEST(Cancel, AQueuedCallCancelledBeforeItStartsNeverRuns) {
  auto db = one_thread_db();
  std::promise<void> release;
  std::promise<void> entered;
  // Occupies the only database thread until released.
  auto blocker = db->run([&, gate = release.get_future().share()](db::Connection&) {
    entered.set_value();
    gate.wait();
  });
  entered.get_future().wait();  // the thread is now busy: the next call must queue
  Canceller c;
  auto queued = db->masters().find_master_id("queued", ym::cancellable(c, asio::use_future));
  c.cancel();
  release.set_value();
  blocker.get();
  EXPECT_THROW(queued.get(), db::Cancelled);
  EXPECT_TRUE(db->masters().get_masters().get().empty());  // it did not run
}

TEST(Cancel, ACallAlreadyRunningCompletes) {
  auto db = one_thread_db();
  Canceller c;
  {
    CancelScope scope(c);
    auto f = db->run([&](db::Connection& conn) {
      c.cancel();  // cancelled while it runs: too late, it completes
      return conn.stmt("SELECT 41 + 1").scalar<int>().value_or(0);
    });
    EXPECT_EQ(f.get(), 42);
  }
  EXPECT_TRUE(c.cancelled());
}

}  // namespace
}  // namespace ym::test
