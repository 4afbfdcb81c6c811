// SQLite faults (issue 11, report 3): the disk of the database fills up during builds and frees
// again, and a single master is SIGKILLed at random moments and restarted, round after round.
// Nothing may be lost and the file must stay intact (PRAGMA integrity_check).
#include <signal.h>

#include <iostream>
#include <random>
#include <thread>

#include "faults/harness.hpp"

namespace ym::faults {
namespace {

using namespace std::chrono_literals;

std::vector<StepSpec> fast_steps() {
  return {{.name = "one", .lines = 20, .sleep_ms = 200}, {.name = "two", .lines = 20}};
}

TEST(SqliteFaults, ADiskFullDuringBuildsLosesNothingOnceSpaceReturns) {
  Scratch scratch;
  YM_FAULTS_REQUIRE(TmpfsMount::unavailable(scratch.path("probe")));
  // Room for the database and its WAL with a margin; the fault takes the rest.
  TmpfsMount disk(scratch.path("dbfs"), "32m");
  fs::path file = disk.dir() / "state.sqlite";
  {
    Rig rig(scratch, "sqlite:///" + file.string(), fast_steps());
    rig.add_master("m1", 8, 2).start();
    rig.add_master("m2", 8, 2).start();
    rig.submit(150);
    ASSERT_TRUE(wait_until("both masters run 4 builds or more, 20 requests complete", 120s, [&] {
      return rig.complete_requests() >= 20 && rig.running_builds("m1") >= 4 &&
             rig.running_builds("m2") >= 4;
    }));

    fs::path filler = disk.dir() / "filler";
    int64_t filled = disk.fill(filler);
    std::cout << "filled the database's file system with " << filled / 1024 << " KiB\n";
    // Made sure of: the masters' writes are refused for want of space (SQLite's own words, in
    // whatever the master logs about a failed write). SQLite may first reuse room in its WAL.
    ASSERT_TRUE(wait_until("a master's write fails: the disk is full", 60s, [&] {
      return rig.master("m1").log_contains("database or disk is full") ||
             rig.master("m2").log_contains("database or disk is full");
    }));
    std::this_thread::sleep_for(6s);  // the disk stays full, longer than the retry budget
    fs::remove(filler);

    rig.wait_settled();
    rig.check("disk full for 6 s");
    rig.stop_masters();
  }
  EXPECT_EQ(sqlite_integrity(file), "ok");
}

TEST(SqliteFaults, ASingleMasterKilledAtRandomMomentsLosesNothing) {
  Scratch scratch;
  fs::path file = scratch.path("state.sqlite");
  Rig rig(scratch, "sqlite:///" + file.string(),
          {{.name = "one", .lines = 20, .sleep_ms = 100}, {.name = "two", .lines = 30}});
  auto& master = rig.add_master("solo", 8, 10);
  rig.submit(200);
  master.start();

  const unsigned seed = std::random_device{}();
  std::cout << "random seed " << seed << "\n";
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> extra_ms(0, 400);
  int64_t done_before = 0;
  int kills = 0;
  for (int round = 1; round <= 6; ++round) {
    if (rig.submitted() - rig.complete_requests() < 30) rig.submit(30);
    if (!wait_until(
            "round " + std::to_string(round) + ": 10 more requests complete and builds running",
            120s, [&] {
              return rig.complete_requests() >= done_before + 10 && rig.running_builds("solo") >= 1;
            })) {
      break;
    }
    // Somewhere within the next builds: a start, a log append, a step's end, a completion.
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(random)));
    EXPECT_EQ(master.kill(), 128 + SIGKILL);
    ++kills;
    EXPECT_EQ(sqlite_integrity(file), "ok") << "after kill " << kills;
    done_before = rig.complete_requests();
    master.start();
  }
  EXPECT_EQ(kills, 6);
  rig.wait_settled();
  rig.check(std::to_string(kills) + " kills of a single master");
  rig.stop_masters();
  EXPECT_EQ(sqlite_integrity(file), "ok");
}

}  // namespace
}  // namespace ym::faults
