// The fence between a build and its request's claim (docs/reliability.md): Builds::complete_build
// records a result only while the build is unfinished and its master holds the request's claim;
// Builds::abandon_builds ends builds that will not complete their request; deactivating a master
// (set_master_state(id, false)) ends its unfinished builds as RETRY in the transaction that
// releases its claims. Same tests on the fake and on every backend.
#include "contract/fixture.hpp"

namespace ym::test {
namespace {

namespace results = db::results;

YM_CONTRACT_SUITE(FencingContract);

// Masters 10 and 11; buildset 40 with requests 41 and 42, both claimed by master 10, which runs
// build 1 (request 41; a finished step 50 and a running step 51 with an open log 60) and build 2
// (request 42).
std::vector<td::Row> running() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Master{.id = 11, .name = "m11"},
          td::Builder{.id = 20, .name = "b20"},
          td::Worker{.id = 30, .name = "w30"},
          td::Buildset{.id = 40, .complete = false, .complete_at = std::nullopt,
                       .results = std::nullopt},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::BuildRequest{.id = 42, .buildsetid = 40, .builderid = 20},
          td::BuildRequestClaim{.brid = 41, .masterid = 10, .claimed_at = 1000},
          td::BuildRequestClaim{.brid = 42, .masterid = 10, .claimed_at = 1000},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .workerid = 30,
                    .masterid = 10, .started_at = 1001, .state_string = "building"},
          td::Build{.id = 2, .number = 2, .builderid = 20, .buildrequestid = 42, .workerid = 30,
                    .masterid = 10, .started_at = 1002, .state_string = "building"},
          td::Step{.id = 50, .number = 0, .name = "done", .buildid = 1, .complete_at = 1003,
                   .results = results::kSuccess},
          td::Step{.id = 51, .number = 1, .name = "busy", .buildid = 1},
          td::Log{.id = 60, .name = "stdio", .slug = "stdio", .stepid = 51, .complete = false}};
}

TEST_P(FencingContract, CompleteBuildRecordsTheResultWithTheRequestAndTheLastOneTheBuildset) {
  insert(running());
  clock_.advance(5);
  db_->builds().complete_build(1, 10, results::kSuccess, "success").get();
  auto b1 = db_->builds().get_build(1).get();
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->results, std::optional<int>(results::kSuccess));
  EXPECT_EQ(b1->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  EXPECT_EQ(b1->state_string, "success");
  auto r41 = db_->buildrequests().get_build_request(41).get();
  EXPECT_TRUE(r41->complete);
  EXPECT_EQ(r41->results, std::optional<int>(results::kSuccess));
  EXPECT_EQ(r41->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  // A step left open is closed as cancelled, its log completed; a finished step keeps its result.
  EXPECT_EQ(db_->steps().get_step(51).get()->results, std::optional<int>(results::kCancelled));
  EXPECT_EQ(db_->steps().get_step(50).get()->results, std::optional<int>(results::kSuccess));
  EXPECT_TRUE(db_->logs().get_log(60).get()->complete);
  EXPECT_FALSE(db_->buildsets().get_buildset(40).get()->complete);

  db_->builds().complete_build(2, 10, results::kFailure, "failure").get();
  auto bs = db_->buildsets().get_buildset(40).get();
  EXPECT_TRUE(bs->complete);
  EXPECT_EQ(bs->results, std::optional<int>(results::kFailure));
}

TEST_P(FencingContract, CompleteBuildRepeatedIsANoOpAndWithOtherResultsRefused) {
  insert(running());
  db_->builds().complete_build(1, 10, results::kSuccess, "success").get();
  clock_.advance(5);
  db_->builds().complete_build(1, 10, results::kSuccess, "success").get();
  EXPECT_EQ(db_->builds().get_build(1).get()->complete_at,
            std::optional<Timestamp>(clock_.at(*clock_.now - 5)));
  EXPECT_THROW(db_->builds().complete_build(1, 10, results::kFailure, "f").get(),
               db::NotClaimedError);
  EXPECT_EQ(db_->buildrequests().get_build_request(41).get()->results,
            std::optional<int>(results::kSuccess));
}

TEST_P(FencingContract, DeactivationEndsTheMastersBuildsAsRetryAndReleasesItsClaims) {
  auto rows = running();
  // A build of master 11 and a finished build of master 10 are left alone.
  rows.push_back(td::BuildRequest{.id = 43, .buildsetid = 40, .builderid = 20});
  rows.push_back(td::BuildRequestClaim{.brid = 43, .masterid = 11, .claimed_at = 1000});
  rows.push_back(td::Build{.id = 3, .number = 3, .builderid = 20, .buildrequestid = 43,
                           .workerid = 30, .masterid = 11, .started_at = 1004,
                           .state_string = "building"});
  rows.push_back(td::Build{.id = 4, .number = 4, .builderid = 20, .buildrequestid = 41,
                           .workerid = 30, .masterid = 10, .started_at = 900, .complete_at = 950,
                           .state_string = "failure", .results = results::kFailure});
  insert(rows);
  clock_.advance(5);
  EXPECT_TRUE(db_->masters().set_master_state(10, false).get());
  for (int64_t id : {1, 2}) {
    auto b = db_->builds().get_build(id).get();
    EXPECT_EQ(b->results, std::optional<int>(results::kRetry)) << id;
    EXPECT_EQ(b->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now))) << id;
    EXPECT_EQ(b->state_string, "retry: its master went inactive") << id;
  }
  EXPECT_EQ(db_->steps().get_step(51).get()->results, std::optional<int>(results::kRetry));
  EXPECT_TRUE(db_->steps().get_step(51).get()->complete_at);
  EXPECT_EQ(db_->steps().get_step(50).get()->results, std::optional<int>(results::kSuccess));
  EXPECT_TRUE(db_->logs().get_log(60).get()->complete);
  EXPECT_FALSE(db_->builds().get_build(3).get()->complete_at);
  EXPECT_EQ(db_->builds().get_build(4).get()->results, std::optional<int>(results::kFailure));
  for (int64_t brid : {41, 42}) {
    auto r = db_->buildrequests().get_build_request(brid).get();
    EXPECT_FALSE(r->claimed) << brid;
    EXPECT_FALSE(r->complete) << brid;
  }
  EXPECT_EQ(db_->buildrequests().get_build_request(43).get()->claimed_by_masterid,
            std::optional<int64_t>(11));
  // Again on the inactive master: nothing left to do, and no flag change.
  EXPECT_FALSE(db_->masters().set_master_state(10, false).get());
}

TEST_P(FencingContract, ATakenOverMasterCanCompleteNothingAndThePeersBuildIsTheOneSuccess) {
  insert(running());
  db_->masters().set_master_state(10, false).get();
  // The dead master wakes up and finishes its build: refused, nothing changes.
  EXPECT_THROW(db_->builds().complete_build(1, 10, results::kSuccess, "success").get(),
               db::NotClaimedError);
  EXPECT_EQ(db_->builds().get_build(1).get()->results, std::optional<int>(results::kRetry));
  EXPECT_FALSE(db_->buildrequests().get_build_request(41).get()->complete);
  // A peer rebuilds the request.
  db_->buildrequests().claim_build_requests({41}, 11).get();
  auto again = db_->builds().add_build(20, 41, 30, 11, "building").get();
  // The woken master, even having claimed nothing, cannot complete the peer's claim either.
  EXPECT_THROW(db_->builds().complete_build(1, 10, results::kSuccess, "success").get(),
               db::NotClaimedError);
  EXPECT_THROW(db_->builds().complete_build(again.id, 10, results::kSuccess, "success").get(),
               db::NotClaimedError);
  db_->builds().complete_build(again.id, 11, results::kSuccess, "success").get();
  db::BuildFilter filter;
  filter.buildrequestid = 41;
  int successes = 0;
  for (const auto& b : db_->builds().get_builds(filter).get()) {
    successes += b.results == std::optional<int>(results::kSuccess);
    EXPECT_TRUE(b.complete_at);
  }
  EXPECT_EQ(successes, 1);
  EXPECT_EQ(db_->buildrequests().get_build_request(41).get()->results,
            std::optional<int>(results::kSuccess));
}

TEST_P(FencingContract, CompleteBuildRefusedWithoutTheClaimChangesNothing) {
  auto rows = running();
  rows.push_back(td::BuildRequest{.id = 43, .buildsetid = 40, .builderid = 20});
  rows.push_back(td::BuildRequestClaim{.brid = 43, .masterid = 11, .claimed_at = 1000});
  rows.push_back(td::BuildRequest{.id = 44, .buildsetid = 40, .builderid = 20});
  rows.push_back(td::Build{.id = 3, .number = 3, .builderid = 20, .buildrequestid = 43,
                           .workerid = 30, .masterid = 10, .started_at = 1004,
                           .state_string = "building"});
  rows.push_back(td::Build{.id = 4, .number = 4, .builderid = 20, .buildrequestid = 44,
                           .workerid = 30, .masterid = 10, .started_at = 1004,
                           .state_string = "building"});
  insert(rows);
  // Claimed by another master; not claimed at all; a build of another master.
  EXPECT_THROW(db_->builds().complete_build(3, 10, results::kSuccess, "x").get(),
               db::NotClaimedError);
  EXPECT_THROW(db_->builds().complete_build(4, 10, results::kSuccess, "x").get(),
               db::NotClaimedError);
  EXPECT_THROW(db_->builds().complete_build(1, 11, results::kSuccess, "x").get(),
               db::NotClaimedError);
  for (int64_t id : {1, 3, 4}) EXPECT_FALSE(db_->builds().get_build(id).get()->complete_at) << id;
  for (int64_t brid : {41, 43, 44}) {
    EXPECT_FALSE(db_->buildrequests().get_build_request(brid).get()->complete) << brid;
  }
  EXPECT_FALSE(db_->steps().get_step(51).get()->complete_at);
  EXPECT_THROW(db_->builds().complete_build(999, 10, results::kSuccess, "x").get(), db::NotFound);
  EXPECT_THROW(db_->builds().complete_build(1, 10, results::kSuccess, "\xff").get(),
               db::InvalidArgument);
}

TEST_P(FencingContract, AbandonBuildsEndsTheBuildAndReleasesTheRequest) {
  insert(running());
  clock_.advance(7);
  EXPECT_EQ(db_->builds().abandon_builds(41, 10, results::kRetry, "retry: database away").get(), 1);
  auto b = db_->builds().get_build(1).get();
  EXPECT_EQ(b->results, std::optional<int>(results::kRetry));
  EXPECT_EQ(b->state_string, "retry: database away");
  EXPECT_EQ(b->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  EXPECT_EQ(db_->steps().get_step(51).get()->results, std::optional<int>(results::kRetry));
  EXPECT_TRUE(db_->logs().get_log(60).get()->complete);
  auto r = db_->buildrequests().get_build_request(41).get();
  EXPECT_FALSE(r->claimed);
  EXPECT_FALSE(r->complete);
  // Build 2 and its claim are untouched.
  EXPECT_FALSE(db_->builds().get_build(2).get()->complete_at);
  EXPECT_TRUE(db_->buildrequests().get_build_request(42).get()->claimed);
  // Idempotent.
  EXPECT_EQ(db_->builds().abandon_builds(41, 10, results::kRetry, "again").get(), 0);
  EXPECT_EQ(db_->builds().get_build(1).get()->state_string, "retry: database away");
  EXPECT_THROW(db_->builds().abandon_builds(999, 10, results::kRetry, "x").get(), db::NotFound);
}

TEST_P(FencingContract, AbandonBuildsLeavesAnotherMastersClaimAndACompleteRequestAlone) {
  insert(running());
  db_->masters().set_master_state(10, false).get();
  db_->buildrequests().claim_build_requests({41}, 11).get();
  // The old master's late clean-up: its build was ended by the take-over, the claim is 11's.
  EXPECT_EQ(db_->builds().abandon_builds(41, 10, results::kCancelled, "late").get(), 0);
  EXPECT_EQ(db_->buildrequests().get_build_request(41).get()->claimed_by_masterid,
            std::optional<int64_t>(11));
  EXPECT_EQ(db_->builds().get_build(1).get()->results, std::optional<int>(results::kRetry));
  // A complete request keeps its claim record.
  auto b = db_->builds().add_build(20, 41, 30, 11, "building").get();
  db_->builds().complete_build(b.id, 11, results::kSuccess, "success").get();
  EXPECT_EQ(db_->builds().abandon_builds(41, 11, results::kRetry, "late").get(), 0);
  auto r = db_->buildrequests().get_build_request(41).get();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->claimed_by_masterid, std::optional<int64_t>(11));
}

}  // namespace
}  // namespace ym::test
