// PostgreSQL with a synchronous standby, failed over in the middle of a run (issue 16). Three
// masters reach the pair through one URL that lists both hosts (primary first,
// target_session_attrs=read-write). With 300 requests submitted and 100 or more complete, the test
// crashes the primary (pg_ctl stop -m immediate) while builds run, then promotes the standby. The
// masters are not restarted and not told: their pools must find the new primary through the URL.
// Afterwards the whole account is checked through the new primary: every request built exactly
// once, every log as its step printed, nothing left running or claimed, and every request that was
// complete before the crash still complete (a commit the primary acknowledged was on the standby).
// How long the masters took to complete requests again is printed, never asserted.
//
// The crash strikes with a COMMIT unanswered, at a moment the test makes: m3 reaches the primary
// through a proxy, which holds the reply to m3's next completion of requests (the primary has
// committed it, and so has the synchronous standby). The primary is crashed and the proxy closed
// with the reply still held, so m3 hears nothing and must find its completion on the promoted
// standby without completing anything twice.
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "db/errors.hpp"
#include "db/url.hpp"
#include "faults/commit_proxy.hpp"
#include "faults/harness.hpp"

namespace ym::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::set<int64_t> complete_ids(Rig& rig) {
  std::set<int64_t> ids;
  for (const auto& r : rig.sql().stmt("SELECT id FROM buildrequests WHERE complete = 1").all()) {
    ids.insert(r.get<int64_t>(0));
  }
  return ids;
}

TEST(Failover, ThreeMastersBuildEveryRequestOnceAcrossAPrimaryCrashAndAPromotion) {
  YM_FAULTS_REQUIRE(Server::unavailable(db::Backend::kPostgres));
  Scratch scratch;
  Server server(db::Backend::kPostgres, scratch.path("server"), /*standby=*/true);
  // The failover takes a few seconds; a budget well above it lets calls in flight ride it out.
  Rig rig(scratch, server.pair_url(),
          {{.name = "compile", .lines = 20, .sleep_ms = 100}, {.name = "test", .lines = 10}});
  // The URL lists both hosts and prints without its password.
  const db::Url pair = db::Url::parse(server.pair_url());
  ASSERT_EQ(pair.more_hosts.size(), 1u);
  ASSERT_TRUE(pair.password.has_value());
  EXPECT_EQ(db::printable_url(server.pair_url()).find(*pair.password), std::string::npos);
  // A write sent to the standby alone is refused, saying why (and is not a "bug of ours").
  {
    db::Url standby = pair;
    standby.host = pair.more_hosts[0].host;
    standby.port = pair.more_hosts[0].port;
    standby.more_hosts.clear();
    standby.options.erase("target_session_attrs");
    auto c = db::open_connection(standby);
    try {
      c->stmt("CREATE TABLE on_the_standby (x INTEGER)").exec();
      ADD_FAILURE() << "the standby took a write";
    } catch (const db::ConnectionFailed& e) {
      EXPECT_NE(std::string(e.what()).find("read-only (a standby?)"), std::string::npos)
          << e.what();
      EXPECT_FALSE(e.transient());
    }
  }
  auto proxy = std::make_unique<test::CommitProxy>(test::WireProtocol::kPostgres, pair.port.value());
  rig.submit(300);
  rig.add_master("m1", 4, 30).start();
  rig.add_master("m2", 4, 30).start();
  rig.add_master("m3", 4, 30, test::with_first_port(server.pair_url(), proxy->port())).start();
  ASSERT_TRUE(wait_until("100 requests complete and builds running on every master", 180s, [&] {
    return rig.complete_requests() >= 100 && rig.running_builds("m1") > 0 &&
           rig.running_builds("m2") > 0 && rig.running_builds("m3") > 0;
  }));
  proxy->arm(test::Drop::kCommit, 1, test::Lose::kHeld, "UPDATE buildrequests SET complete");
  ASSERT_TRUE(wait_until("m3 completes requests and the reply is held", 120s,
                         [&] { return proxy->held() == 1; }));
  std::set<int64_t> before = complete_ids(rig);

  auto crash = Clock::now();
  server.stop(Outage::kImmediate);
  proxy.reset();  // m3's connections die, its completion unanswered
  server.promote_standby();
  auto promoted = Clock::now();
  // Progress through the new primary: more requests complete than it held when promoted.
  int64_t at_crash = -1;
  ASSERT_TRUE(wait_until("the promoted standby answers the test", 30s, [&] {
    at_crash = rig.complete_requests();
    return true;
  }));
  ASSERT_TRUE(wait_until("requests complete again after the promotion", 120s,
                         [&] { return rig.complete_requests() > at_crash; }));
  auto resumed = Clock::now();
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::cout << "failover: standby promoted " << ms(promoted - crash)
            << " ms after the crash; requests completing again " << ms(resumed - crash)
            << " ms after it (" << at_crash << " of 300 complete at the promotion)\n";

  rig.wait_settled();
  std::set<int64_t> after = complete_ids(rig);
  std::vector<int64_t> lost;
  for (int64_t id : before) {
    if (!after.count(id)) lost.push_back(id);
  }
  EXPECT_TRUE(lost.empty()) << lost.size()
                            << " requests complete before the crash are not complete on the "
                               "promoted standby, e.g. "
                            << lost.front();
  auto a = rig.check("failover");
  EXPECT_EQ(a.requests, 300);
  rig.stop_masters();
}

}  // namespace
}  // namespace ym::faults
