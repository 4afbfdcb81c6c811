// Take-over faults (issue 11): a master with 40 running builds dies (SIGKILL, then expiry by a
// peer), dies and is restarted under its name, or freezes (SIGSTOP) for longer than the expiry,
// while two peers build and rebuild on the same database. On SQLite (a file), PostgreSQL and
// MariaDB, each on a private server.
//
// The victim's builds wait in their first step on a Hold that only the victim's steps take, so
// that all 40 are running when the fault strikes; the peers' steps do not wait.
#include <signal.h>

#include <iostream>
#include <set>
#include <thread>

#include "db/types.hpp"
#include "db/url.hpp"
#include "faults/commit_proxy.hpp"
#include "faults/harness.hpp"

namespace ym::faults {
namespace {

using namespace std::chrono_literals;
namespace results = db::results;

constexpr int kVictimBuilds = 40;
constexpr int kPeerRequests = 80;  // the peers' work while the victim holds its 40
constexpr int kPeerSlots = 8;

std::vector<StepSpec> takeover_steps() {
  return {{.name = "held", .lines = 20, .hold = true, .mark_done = true},
          {.name = "tail", .lines = 5}};
}

class Takeover : public testing::TestWithParam<db::Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == db::Backend::kSqlite) {
      url_ = "sqlite:///" + scratch_.path("state.sqlite").string();
      return;
    }
    YM_FAULTS_REQUIRE(Server::unavailable(GetParam()));
    server_ = std::make_unique<Server>(GetParam(), scratch_.path("server"));
    url_ = server_->url();
  }

  // The victim alone until it runs 40 builds, each waiting in its held step; then the two peers
  // until both have started building (on SQLite they may be through their 80 requests by the
  // time anyone looks; what matters is that they are there to rebuild). Returns the victim's
  // running builds.
  //
  // The victim's requests arrive in four batches of rising priority, each claimed before the
  // next: its builds are then numbered from the lowest priority up, while the peers rebuild the
  // released requests from the highest down. Whatever the take-over walks in build order, the
  // peers rebuild first what it reaches last: a take-over that is not one transaction with the
  // release shows.
  // The victim reaches the database through `victim_url` when one is given.
  std::vector<int64_t> start_race(Rig& rig, const std::string& victim_url = {}) {
    rig.hold("victim");
    auto& victim = rig.add_master("victim", kVictimBuilds, 10, victim_url);
    rig.add_master("peer1", kPeerSlots, 10);
    rig.add_master("peer2", kPeerSlots, 10);
    victim.start();
    for (int batch = 1; batch <= 4; ++batch) {
      rig.submit(kVictimBuilds / 4, batch);
      const int64_t want = batch * kVictimBuilds / 4;
      if (!wait_until("the victim runs " + std::to_string(want) + " builds, each in its held step",
                      120s, [&] { return rig.running_steps("victim", "held") == want; })) {
        ADD_FAILURE() << victim.log_tail();
        return {};
      }
    }
    rig.submit(kPeerRequests);
    rig.master("peer1").start();
    rig.master("peer2").start();
    if (!wait_until("both peers have started building", 60s,
                    [&] { return rig.builds_of("peer1") > 0 && rig.builds_of("peer2") > 0; })) {
      return {};
    }
    return rig.running_build_ids("victim");
  }

  // How the builds `ids` ended, e.g. "retry 40"; and how many of them did not end as RETRY.
  std::pair<std::string, int> outcomes(Rig& rig, const std::vector<int64_t>& ids) {
    std::map<int64_t, int> by_result;
    int not_retry = 0;
    for (int64_t id : ids) {
      int64_t r = rig.count("SELECT COALESCE(results, -1) FROM builds WHERE id = ?", {id});
      ++by_result[r];
      if (r != results::kRetry) ++not_retry;
    }
    std::string text;
    for (const auto& [r, n] : by_result) {
      text += std::string(text.empty() ? "" : ", ") +
              (r < 0 ? "unfinished" : results::name(static_cast<int>(r))) + " " + std::to_string(n);
    }
    return {text, not_retry};
  }

  Scratch scratch_;
  std::unique_ptr<Server> server_;
  std::string url_;
};

// Issue 11, report 1: peers that take over a killed master must end its builds as RETRY (never
// with the result of a request a peer has meanwhile rebuilt) and build each request once.
TEST_P(Takeover, AKilledMastersBuildsEndAsRetryAndEveryRequestIsBuiltOnce) {
  Rig rig(scratch_, url_, takeover_steps());
  auto held = start_race(rig);
  ASSERT_EQ(held.size(), static_cast<size_t>(kVictimBuilds));

  EXPECT_EQ(rig.master("victim").kill(), 128 + SIGKILL);
  EXPECT_TRUE(wait_until("a peer has expired the victim", 30s,
                         [&] { return !rig.master_active("victim"); }));
  rig.wait_settled();

  auto [how, not_retry] = outcomes(rig, held);
  std::cout << "the victim's 40 running builds ended: " << how << "\n";
  EXPECT_EQ(not_retry, 0) << "the killed victim's running builds must all end as RETRY; they "
                             "ended: "
                          << how;
  rig.check("expiry race");
  rig.stop_masters();
}

// The same race through the victim's own restart: a master restarted under the name of one that
// was killed releases what the killed one held, while the peers go on claiming.
TEST_P(Takeover, AKilledMasterRestartedUnderItsNameReleasesWhatItHeldOnce) {
  Rig rig(scratch_, url_, takeover_steps());
  auto held = start_race(rig);
  ASSERT_EQ(held.size(), static_cast<size_t>(kVictimBuilds));

  auto& victim = rig.master("victim");
  EXPECT_EQ(victim.kill(), 128 + SIGKILL);
  // The restarted victim's own builds must not wait (those of the killed one still do, and end
  // on their closed pipe once released: their master is gone).
  rig.release("victim");
  victim.start();
  rig.wait_settled();

  auto [how, not_retry] = outcomes(rig, held);
  std::cout << "the killed victim's 40 running builds ended: " << how << "\n";
  EXPECT_EQ(not_retry, 0) << "the builds of the killed run must all end as RETRY; they ended: "
                          << how;
  rig.check("restart race");
  rig.stop_masters();
}

// Waits until the victim's 40 held steps, let go, have printed everything (each touches
// held.done in its build directory): their output is then all in the pipes of the victim.
bool held_steps_done(MasterProcess& victim) {
  fs::path builds_dir = victim.dir() / "builds" / "b";
  return wait_until("the victim's 40 held steps have printed everything", 60s, [&] {
    int done = 0;
    for (const auto& e : fs::directory_iterator(builds_dir)) {
      if (fs::exists(e.path() / "held.done")) ++done;
    }
    return done == kVictimBuilds;
  });
}

// What a frozen master held, as the database has it: its builds, their steps, their logs.
std::set<std::string> held_rows(Rig& rig, const std::vector<int64_t>& ids) {
  std::set<int64_t> wanted(ids.begin(), ids.end());
  std::set<std::string> rows;
  auto text = [](const db::Row& r, size_t i) {
    return r.is_null(i) ? std::string("NULL") : std::to_string(r.get<int64_t>(i));
  };
  for (const auto& r :
       rig.sql().stmt("SELECT id, results, complete_at FROM builds ORDER BY id").all()) {
    if (!wanted.count(r.get<int64_t>(0))) continue;
    rows.insert("build " + text(r, 0) + " results " + text(r, 1) + " complete_at " + text(r, 2));
  }
  std::set<int64_t> steps;
  for (const auto& r : rig.sql()
                           .stmt("SELECT id, buildid, name, results, complete_at FROM steps "
                                 "ORDER BY id")
                           .all()) {
    if (!wanted.count(r.get<int64_t>(1))) continue;
    steps.insert(r.get<int64_t>(0));
    rows.insert("step " + text(r, 0) + " of build " + text(r, 1) + " '" + r.get<std::string>(2) +
                "' results " + text(r, 3) + " complete_at " + text(r, 4));
  }
  for (const auto& r :
       rig.sql().stmt("SELECT id, stepid, num_lines, complete FROM logs ORDER BY id").all()) {
    if (!steps.count(r.get<int64_t>(1))) continue;
    rows.insert("log " + text(r, 0) + " of step " + text(r, 1) + " lines " + text(r, 2) +
                " complete " + text(r, 3));
  }
  return rows;
}

// A master frozen (SIGSTOP) for longer than the expiry is taken over; when it wakes, with the
// steps of its 40 builds finished meanwhile, it must complete nothing of what it held: its
// builds, their steps and logs stay as the peer that took over left them.
TEST_P(Takeover, AFrozenMasterThatWakesAfterItsExpiryCompletesNothingItHeld) {
  Rig rig(scratch_, url_, takeover_steps());
  auto held = start_race(rig);
  ASSERT_EQ(held.size(), static_cast<size_t>(kVictimBuilds));
  auto& victim = rig.master("victim");

  victim.signal(SIGSTOP);
  ASSERT_TRUE(wait_until("a peer has expired the frozen victim", 30s,
                         [&] { return !rig.master_active("victim"); }));
  ASSERT_TRUE(rig.wait_settled()) << "the peers must finish everything while the victim sleeps";
  // The frozen victim's steps now finish: their output waits in the pipes of a stopped master.
  rig.release("victim");
  ASSERT_TRUE(held_steps_done(victim));
  auto before = held_rows(rig, held);

  victim.signal(SIGCONT);
  wait_until("the woken victim has noticed its expiry and registered again", 30s,
             [&] { return rig.master_active("victim"); });
  victim.signal(SIGTERM);
  auto code = victim.wait(60s);
  EXPECT_EQ(code.value_or(-1), 0) << victim.log_tail();
  if (!code) victim.kill();

  auto after = held_rows(rig, held);
  std::vector<std::string> changed, gone;
  for (const auto& row : after) {
    if (!before.count(row)) changed.push_back(row);
  }
  for (const auto& row : before) {
    if (!after.count(row)) gone.push_back(row);
  }
  std::string diff;
  for (size_t i = 0; i < changed.size() && i < 10; ++i) diff += "\n  now:  " + changed[i];
  for (size_t i = 0; i < gone.size() && i < 10; ++i) diff += "\n  was:  " + gone[i];
  std::cout << "rows of the victim's 40 builds (builds, steps, logs) written after it woke: "
            << changed.size() << " new or changed, " << gone.size() << " overwritten\n";
  EXPECT_TRUE(changed.empty() && gone.empty())
      << "the woken victim wrote to builds it no longer held: " << changed.size()
      << " rows new or changed" << diff;

  auto [how, not_retry] = outcomes(rig, held);
  std::cout << "the frozen victim's 40 builds ended: " << how << "\n";
  EXPECT_EQ(not_retry, 0) << "they ended: " << how;
  rig.wait_settled();
  rig.check("frozen master");
  rig.stop_masters();
}

// The check-in that a peer's expiry overtakes: the victim's check-in is committed, but its answer
// ("still active") is held in the network (a proxy between the victim and the server) until a
// peer has expired the victim, ended its builds and rebuilt their requests, and the victim's
// held steps have printed everything. When the answer arrives, it is about a moment older than
// the expiry: the victim must not take it as leave to write, and the rows of its 40 builds stay
// as the take-over left them. (SQLite has no network to hold an answer in; the frozen master
// above is its form of the same fault.)
class LateAnswer : public Takeover {};

TEST_P(LateAnswer, ACheckInAnsweredAfterAPeerTookTheMasterOverOpensNothing) {
  test::CommitProxy proxy(GetParam() == db::Backend::kPostgres ? test::WireProtocol::kPostgres
                                                               : test::WireProtocol::kMysql,
                          db::Url::parse(url_).port.value_or(0));
  Rig rig(scratch_, url_, takeover_steps());
  auto held = start_race(rig, test::with_port(url_, proxy.port()));
  ASSERT_EQ(held.size(), static_cast<size_t>(kVictimBuilds));
  auto& victim = rig.master("victim");

  // The next check-in of an active master: "UPDATE masters SET last_active" runs only there.
  proxy.arm(test::Drop::kCommit, 1, test::Lose::kHeld, "UPDATE masters SET last_active");
  ASSERT_TRUE(wait_until("the victim's check-in is committed and its answer held", 30s,
                         [&] { return proxy.held() == 1; }));
  ASSERT_TRUE(wait_until("a peer has expired the victim", 30s,
                         [&] { return !rig.master_active("victim"); }));
  ASSERT_TRUE(rig.wait_settled()) << "the peers must finish everything meanwhile";
  rig.release("victim");
  ASSERT_TRUE(held_steps_done(victim));
  auto before = held_rows(rig, held);

  proxy.release_held();
  ASSERT_TRUE(wait_until("the victim has noticed its expiry and registered again", 30s,
                         [&] { return rig.master_active("victim"); }));
  victim.signal(SIGTERM);
  auto code = victim.wait(60s);
  EXPECT_EQ(code.value_or(-1), 0) << victim.log_tail();
  if (!code) victim.kill();
  EXPECT_TRUE(victim.log_contains("had been marked inactive by a peer")) << victim.log_tail();

  auto after = held_rows(rig, held);
  std::vector<std::string> changed;
  for (const auto& row : after) {
    if (!before.count(row)) changed.push_back("now:  " + row);
  }
  for (const auto& row : before) {
    if (!after.count(row)) changed.push_back("was:  " + row);
  }
  std::string diff;
  for (size_t i = 0; i < changed.size() && i < 20; ++i) diff += "\n  " + changed[i];
  std::cout << "rows of the victim's 40 builds changed after the late answer: " << changed.size()
            << "\n";
  EXPECT_TRUE(changed.empty()) << "the victim wrote to builds a peer had taken over:" << diff;

  auto [how, not_retry] = outcomes(rig, held);
  std::cout << "the victim's 40 builds ended: " << how << "\n";
  EXPECT_EQ(not_retry, 0) << "they ended: " << how;
  rig.wait_settled();
  rig.check("late answer");
  rig.stop_masters();
}

INSTANTIATE_TEST_SUITE_P(Backends, Takeover,
                         testing::Values(db::Backend::kSqlite, db::Backend::kPostgres,
                                         db::Backend::kMysql),
                         [](const testing::TestParamInfo<db::Backend>& i) {
                           return std::string(i.param == db::Backend::kSqlite     ? "sqlite"
                                              : i.param == db::Backend::kPostgres ? "postgres"
                                                                                  : "mysql");
                         });

INSTANTIATE_TEST_SUITE_P(Servers, LateAnswer,
                         testing::Values(db::Backend::kPostgres, db::Backend::kMysql),
                         [](const testing::TestParamInfo<db::Backend>& i) {
                           return std::string(i.param == db::Backend::kPostgres ? "postgres"
                                                                                : "mysql");
                         });

}  // namespace
}  // namespace ym::faults
