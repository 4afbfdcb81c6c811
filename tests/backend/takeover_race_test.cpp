// A peer's take-over committing while the old master completes the same build (docs/
// reliability.md, "A completion racing a take-over"), or while the old master checks in. The take-over (set_master_state(10, false))
// is held open just before its COMMIT with FaultInjector::pause_next_commit, so it has ended
// master 10's builds as RETRY and released its claims but nobody sees that yet; then master 10's
// complete_build starts, and the test waits until the server reports it executing, waiting on a
// lock the take-over holds. Only then is the take-over let go. The completion must then find its build
// already finished and fail NotClaimedError, leaving the request unclaimed and incomplete for a
// peer to rebuild: one result per request, never SUCCESS for a request whose build is RETRY.
//
// PostgreSQL and MySQL only: there a reader does not wait for a writer, so the completion's
// checks could read the snapshot from before the take-over. SQLite writers take the database
// lock at BEGIN, so the two transactions cannot overlap at all (the contract test
// FencingContract.ATakenOverMasterCanCompleteNothingAndThePeersBuildIsTheOneSuccess covers the
// serial order).
//
// The second test holds the take-over the same way while the old master checks in
// (set_master_state(10, true)): the check-in must wait for it and report the take-over.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "backend/server_db.hpp"
#include "contract/fixture.hpp"
#include "db/db.hpp"
#include "db/pool.hpp"

namespace ym::test {
namespace {

namespace results = db::results;

std::vector<Backend> server_backends() {
  std::vector<Backend> out;
  for (const Backend& b : contract_backends()) {
    if (b.impl == Impl::kPostgres || b.impl == Impl::kMysql || b.impl == Impl::kPgBouncer ||
        b.impl == Impl::kGalera) {
      out.push_back(b);
    }
  }
  return out;
}

class TakeoverRace : public Contract {
 protected:
  // Whether a call is waiting on the take-over, seen from a third connection: on
  // PostgreSQL a lock not granted; on MySQL its statement executing (MariaDB's
  // innodb_trx does not always list a transaction that has written nothing yet, while the
  // process list shows every session of our own user without extra privileges). Either way the
  // call has started its statements before the take-over commits.
  // `statement`: how the waiting statement begins (MySQL).
  bool waiting(const std::string& statement) {
    bool pg = GetParam().impl != Impl::kMysql && GetParam().impl != Impl::kGalera;
    std::string sql = pg ? "SELECT COUNT(*) FROM pg_locks WHERE NOT granted"
                         : "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                           "WHERE COMMAND = 'Execute' AND INFO LIKE ?";
    return db_->run([&](db::Connection& c) {
                 auto st = c.stmt(sql);
                 if (!pg) st.bind(statement + "%");
                 return st.scalar<int64_t>().value_or(0);
               })
               .get() > 0;
  }
  // Waits for a condition the test has caused (not for a time): a minute is only the point at
  // which the test gives up and says what did not happen.
  void wait_for_lock_wait(const std::string& statement) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (!waiting(statement)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the call never waited for the take-over's locks (" << statement << ")";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TakeoverRace);
INSTANTIATE_TEST_SUITE_P(Servers, TakeoverRace, testing::ValuesIn(server_backends()),
                         backend_name);

TEST_P(TakeoverRace, ACompletionWaitingOnATakeOverFindsItsBuildFinishedAndCompletesNothing) {
  insert({td::Master{.id = 10, .name = "m10"},
          td::Master{.id = 11, .name = "m11"},
          td::Builder{.id = 20, .name = "b20"},
          td::Worker{.id = 30, .name = "w30"},
          td::Buildset{.id = 40, .complete = false, .complete_at = std::nullopt,
                       .results = std::nullopt},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::BuildRequestClaim{.brid = 41, .masterid = 10, .claimed_at = 1000},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .workerid = 30,
                    .masterid = 10, .started_at = 1001, .state_string = "building"}});
  db::FaultInjector* faults = db_->faults();
  ASSERT_NE(faults, nullptr);

  auto gate = faults->pause_next_commit();
  // Whatever happens below, the take-over is let go (a paused transaction would hold the pool
  // at shutdown).
  struct Release {
    std::shared_ptr<db::CommitGate> gate;
    ~Release() { gate->release(); }
  } release{gate};
  auto takeover = db_->masters().set_master_state(10, false);
  gate->wait_until_paused();
  auto completion = db_->builds().complete_build(1, 10, results::kSuccess, "success");
  wait_for_lock_wait("UPDATE builds SET results");
  gate->release();
  if (HasFatalFailure()) return;

  EXPECT_TRUE(takeover.get());
  EXPECT_THROW(completion.get(), db::NotClaimedError);

  // The whole accounting, through the database.
  auto build = db_->builds().get_build(1).get();
  ASSERT_TRUE(build);
  EXPECT_EQ(build->results, std::optional<int>(results::kRetry));
  EXPECT_TRUE(build->complete_at);
  auto request = db_->buildrequests().get_build_request(41).get();
  ASSERT_TRUE(request);
  EXPECT_FALSE(request->complete);
  EXPECT_FALSE(request->claimed);
  EXPECT_FALSE(db_->buildsets().get_buildset(40).get()->complete);

  // A peer rebuilds it: the one success of the request.
  db_->buildrequests().claim_build_requests({41}, 11).get();
  auto again = db_->builds().add_build(20, 41, 30, 11, "building").get();
  db_->builds().complete_build(again.id, 11, results::kSuccess, "success").get();
  request = db_->buildrequests().get_build_request(41).get();
  EXPECT_TRUE(request->complete);
  EXPECT_EQ(request->results, std::optional<int>(results::kSuccess));
  db::BuildFilter filter;
  filter.buildrequestid = 41;
  int successes = 0;
  for (const auto& b : db_->builds().get_builds(filter).get()) {
    successes += b.results == std::optional<int>(results::kSuccess);
    EXPECT_TRUE(b.complete_at) << b.id;
  }
  EXPECT_EQ(successes, 1);
}

// The master's own check-in (set_master_state(10, true)) racing a peer's take-over of it: the
// take-over is held before its COMMIT, the check-in is seen waiting on the master's row, then
// the take-over commits. The check-in must then say that the flag changed (a peer had marked
// the master inactive), so that the master cancels its builds and registers again, and leave
// the master active. Before the flag was read under the row's lock, the check-in's conditional
// UPDATE skipped the row without waiting (its committed version was still active) and told the
// master nothing had happened, while the row ended inactive.
TEST_P(TakeoverRace, ACheckInWaitingOnATakeOverLearnsThatItWasTakenOver) {
  insert({td::Master{.id = 10, .name = "m10", .active = true, .last_active = 1000},
          td::Builder{.id = 20, .name = "b20"},
          td::Worker{.id = 30, .name = "w30"},
          td::Buildset{.id = 40, .complete = false, .complete_at = std::nullopt,
                       .results = std::nullopt},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::BuildRequestClaim{.brid = 41, .masterid = 10, .claimed_at = 1000},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .workerid = 30,
                    .masterid = 10, .started_at = 1001, .state_string = "building"}});
  db::FaultInjector* faults = db_->faults();
  ASSERT_NE(faults, nullptr);

  auto gate = faults->pause_next_commit();
  struct Release {
    std::shared_ptr<db::CommitGate> gate;
    ~Release() { gate->release(); }
  } release{gate};
  auto takeover = db_->masters().set_master_state(10, false);
  gate->wait_until_paused();
  auto checkin = db_->masters().set_master_state(10, true);
  wait_for_lock_wait("SELECT active, last_active FROM masters");
  gate->release();
  if (HasFatalFailure()) return;

  EXPECT_TRUE(takeover.get()) << "the peer marked an active master inactive";
  EXPECT_TRUE(checkin.get()) << "the check-in must learn that a peer took the master over";
  auto master = db_->masters().get_master(10).get();
  ASSERT_TRUE(master);
  EXPECT_TRUE(master->active);
  // The take-over happened, once: the claim is released, the build ended as RETRY.
  auto request = db_->buildrequests().get_build_request(41).get();
  ASSERT_TRUE(request);
  EXPECT_FALSE(request->claimed);
  EXPECT_FALSE(request->complete);
  auto build = db_->builds().get_build(1).get();
  ASSERT_TRUE(build);
  EXPECT_EQ(build->results, std::optional<int>(results::kRetry));
}

}  // namespace
}  // namespace ym::test
