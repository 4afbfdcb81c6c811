// A downstream program built against an installed Yardmaster (tests/consumer/run.sh builds it
// twice: with CMake's find_package and with pkg-config). It awaits calls on an SQLite file, runs
// its own SQL, and checks a few results against the fake. Exit status 0 only if all hold.
#include <yardmaster/async.hpp>
#include <yardmaster/db.hpp>
#include <yardmaster/fake.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <string>

namespace asio = boost::asio;

static int failures = 0;
static void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer SQLITE_FILE\n");
    return 2;
  }
  auto db = ym::db::Db::open(std::string("sqlite:///") + argv[1]);
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto id = co_await db->builders().find_builder_id("consumer", asio::use_awaitable);
        auto builder = co_await db->builders().get_builder(*id, asio::use_awaitable);
        check(builder && builder->name == "consumer", "co_await on SQLite");
        auto n = co_await db->read(
            [](ym::db::Connection& c) {
              return c.stmt("SELECT COUNT(*) FROM builders WHERE name = ?")
                  .bind("consumer")
                  .scalar<int64_t>()
                  .value_or(-1);
            },
            asio::use_awaitable);
        check(n == 1, "custom SQL through the pool");
        try {
          co_await db->buildsets().complete_buildset(*id + 1000, 0, asio::use_awaitable);
          check(false, "typed error through co_await");
        } catch (const ym::db::NotFound&) {
          check(true, "typed error through co_await");
        }
      },
      asio::detached);
  io.run();
  db->shutdown();

  ym::fake::FakeDb fake;
  auto m = fake.masters().find_master_id("fake-master").get();
  check(fake.masters().set_master_state(m, true).get(), "the fake activates a master");
  check(fake.masters().get_master(m).get()->active, "the fake reads it back");
  return failures == 0 ? 0 : 1;
}
