// Database outages (issue 11, report 2): the server of two running masters goes away, for 5 to 12
// seconds (longer than the masters' retry budget) or ten times for half a second during fast
// builds, and comes back; the masters are not restarted. Every build must still end, every
// request be built exactly once, no log lose a line and no request stay claimed by a master that
// does not build it. Each test has a private PostgreSQL or MariaDB server of its own.
#include <iostream>
#include <thread>

#include "faults/harness.hpp"

namespace ym::faults {
namespace {

using namespace std::chrono_literals;

std::vector<StepSpec> outage_steps() {
  // Builds in flight at any moment: the first step lingers after its output.
  return {{.name = "one", .lines = 20, .sleep_ms = 200}, {.name = "two", .lines = 20}};
}

struct OutageCase {
  db::Backend backend;
  Outage how;
  std::chrono::seconds down;
  const char* name;
};
void PrintTo(const OutageCase& c, std::ostream* os) { *os << c.name; }

class ServerOutage : public testing::TestWithParam<OutageCase> {};

TEST_P(ServerOutage, MastersFinishEveryBuildOnceWhenTheServerComesBack) {
  const auto& c = GetParam();
  YM_FAULTS_REQUIRE(Server::unavailable(c.backend));
  Scratch scratch;
  Server server(c.backend, scratch.path("server"));
  Rig rig(scratch, server.url(), outage_steps());
  // A retry budget well below the outage: the masters' own handling of a failed write is tested,
  // not the pool's patience.
  rig.add_master("m1", 8, 2).start();
  rig.add_master("m2", 8, 2).start();
  rig.submit(150);
  ASSERT_TRUE(wait_until("both masters run 4 builds or more, 20 requests complete", 120s, [&] {
    return rig.complete_requests() >= 20 && rig.running_builds("m1") >= 4 &&
           rig.running_builds("m2") >= 4;
  }));

  server.stop(c.how);
  std::this_thread::sleep_for(c.down);  // the outage itself
  server.start();

  rig.wait_settled();
  rig.check(std::string("server down ") + std::to_string(c.down.count()) + " s (" +
            to_string(c.how) + ")");
  rig.stop_masters();
}

INSTANTIATE_TEST_SUITE_P(
    Servers, ServerOutage,
    testing::Values(OutageCase{db::Backend::kPostgres, Outage::kFast, 6s, "postgres_fast_6s"},
                    OutageCase{db::Backend::kPostgres, Outage::kImmediate, 9s,
                               "postgres_immediate_9s"},
                    OutageCase{db::Backend::kMysql, Outage::kKill, 12s, "mariadb_kill9_12s"}),
    [](const testing::TestParamInfo<OutageCase>& i) { return std::string(i.param.name); });

struct CrashCase {
  db::Backend backend;
  Outage how;
  const char* name;
};
void PrintTo(const CrashCase& c, std::ostream* os) { *os << c.name; }

class ServerCrashes : public testing::TestWithParam<CrashCase> {};

// Ten crashes of half a second, each while builds are running and after the masters made
// progress since the one before. The default retry budget (10 s) outlasts each: what fails is a
// write whose connection died under it (its COMMIT perhaps done, perhaps not).
TEST_P(ServerCrashes, TenShortCrashesDuringFastBuildsLoseNothing) {
  const auto& c = GetParam();
  YM_FAULTS_REQUIRE(Server::unavailable(c.backend));
  Scratch scratch;
  Server server(c.backend, scratch.path("server"));
  Rig rig(scratch, server.url(),
          {{.name = "one", .lines = 20, .sleep_ms = 100}, {.name = "two", .lines = 20}});
  rig.add_master("m1", 8, 10).start();
  rig.add_master("m2", 8, 10).start();
  rig.submit(200);
  int64_t done_before = 0;
  int crashes = 0;
  for (int i = 0; i < 10; ++i) {
    // Work for the rounds to come (crashes must strike builds, not idle masters).
    if (rig.submitted() - rig.complete_requests() < 40) rig.submit(40);
    if (!wait_until(
            "crash " + std::to_string(i + 1) + ": 8 more requests complete and 4 builds running",
            120s, [&] {
              return rig.complete_requests() >= done_before + 8 &&
                     rig.running_builds("m1") + rig.running_builds("m2") >= 4;
            })) {
      break;
    }
    done_before = rig.complete_requests();
    server.stop(c.how);
    std::this_thread::sleep_for(500ms);  // the crash itself
    server.start();
    ++crashes;
  }
  EXPECT_EQ(crashes, 10);
  rig.wait_settled();
  rig.check(std::to_string(crashes) + " crashes (" + to_string(c.how) + ")");
  rig.stop_masters();
}

INSTANTIATE_TEST_SUITE_P(
    Servers, ServerCrashes,
    testing::Values(CrashCase{db::Backend::kPostgres, Outage::kImmediate, "postgres_immediate"},
                    CrashCase{db::Backend::kMysql, Outage::kKill, "mariadb_kill9"}),
    [](const testing::TestParamInfo<CrashCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace ym::faults
