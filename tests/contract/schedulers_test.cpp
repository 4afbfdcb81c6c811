#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(SchedulersContract);

using Classes = std::map<int64_t, bool>;

// A scheduler (20), a stamp (1) and changes 100 (branch "master"), 101 (default branch, null)
// and 102 (branch "dev").
std::vector<td::Row> changes_world() {
  return {td::Scheduler{.id = 20, .name = "sch"}, td::SourceStamp{.id = 1},
          td::Change{.changeid = 100, .branch = "master", .sourcestampid = 1},
          td::Change{.changeid = 101, .branch = std::nullopt, .sourcestampid = 1},
          td::Change{.changeid = 102, .branch = "dev", .sourcestampid = 1}};
}

TEST_P(SchedulersContract, FindSchedulerIdCreatesAnEnabledScheduler) {
  auto id = db_->schedulers().find_scheduler_id("nightly").get();
  EXPECT_EQ(db_->schedulers().find_scheduler_id("nightly").get(), id);
  EXPECT_EQ(*db_->schedulers().get_scheduler(id).get(),
            (db::Scheduler{id, "nightly", std::nullopt, true}));
  EXPECT_NE(db_->schedulers().find_scheduler_id("weekly").get(), id);
}

TEST_P(SchedulersContract, FindSchedulerIdFindsTestRowsByName) {
  insert({td::Scheduler{.id = 13, .name = "planted", .enabled = false}});
  EXPECT_EQ(db_->schedulers().find_scheduler_id("planted").get(), 13);
  EXPECT_FALSE(db_->schedulers().get_scheduler(13).get()->enabled);
}

TEST_P(SchedulersContract, FindSchedulerIdRejectsInvalidUtf8AndTakesAnEmptyName) {
  EXPECT_THROW(db_->schedulers().find_scheduler_id("s\xC3").get(), db::InvalidArgument);
  EXPECT_TRUE(db_->schedulers().get_schedulers().get().empty());
  int64_t id = db_->schedulers().find_scheduler_id("").get();  // as Buildbot
  EXPECT_EQ(db_->schedulers().find_scheduler_id("").get(), id);
  EXPECT_EQ(db_->schedulers().get_scheduler(id).get()->name, "");
}

TEST_P(SchedulersContract, EightThreadsFindingOneNewSchedulerGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->schedulers().find_scheduler_id("racer").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(db_->schedulers().get_schedulers().get().size(), 1u);
}

// Buildbot's enable is an UPDATE: an unknown scheduler matches nothing, and nothing changes.
TEST_P(SchedulersContract, EnableTogglesAndIgnoresAnUnknownScheduler) {
  insert({td::Scheduler{.id = 20, .name = "sch"}});
  db_->schedulers().enable(20, false).get();
  EXPECT_FALSE(db_->schedulers().get_scheduler(20).get()->enabled);
  db_->schedulers().enable(20, true).get();
  EXPECT_TRUE(db_->schedulers().get_scheduler(20).get()->enabled);
  EXPECT_NO_THROW(db_->schedulers().enable(21, false).get());
  EXPECT_FALSE(db_->schedulers().get_scheduler(21).get());
  ASSERT_EQ(db_->schedulers().get_schedulers().get().size(), 1u);
  EXPECT_TRUE(db_->schedulers().get_scheduler(20).get()->enabled);
}

TEST_P(SchedulersContract, GetSchedulerMissingIsNullopt) {
  EXPECT_FALSE(db_->schedulers().get_scheduler(20).get());
}

TEST_P(SchedulersContract, SetSchedulerMasterClaimsAndClears) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Scheduler{.id = 20, .name = "sch"}});
  db_->schedulers().set_scheduler_master(20, 1).get();
  EXPECT_EQ(db_->schedulers().get_scheduler(20).get()->masterid, 1);
  EXPECT_NO_THROW(db_->schedulers().set_scheduler_master(20, 1).get());  // same master again
  db_->schedulers().set_scheduler_master(20, std::nullopt).get();
  EXPECT_FALSE(db_->schedulers().get_scheduler(20).get()->masterid);
}

TEST_P(SchedulersContract, ClaimFailsWhenAnotherActiveMasterHoldsIt) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::Scheduler{.id = 20, .name = "sch"},
          td::SchedulerMaster{.schedulerid = 20, .masterid = 1}});
  EXPECT_THROW(db_->schedulers().set_scheduler_master(20, 2).get(),
               db::SchedulerAlreadyClaimedError);
  EXPECT_EQ(db_->schedulers().get_scheduler(20).get()->masterid, 1);
}

TEST_P(SchedulersContract, ClaimReplacesAnInactiveHolder) {
  insert({td::Master{.id = 1, .name = "m1", .active = false}, td::Master{.id = 2, .name = "m2"},
          td::Scheduler{.id = 20, .name = "sch"},
          td::SchedulerMaster{.schedulerid = 20, .masterid = 1}});
  db_->schedulers().set_scheduler_master(20, 2).get();
  EXPECT_EQ(db_->schedulers().get_scheduler(20).get()->masterid, 2);
}

// Claiming needs both rows; releasing an unknown scheduler releases nothing (as Buildbot's DELETE).
TEST_P(SchedulersContract, SetSchedulerMasterWithUnknownIdsIsNotFound) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Scheduler{.id = 20, .name = "sch"}});
  EXPECT_THROW(db_->schedulers().set_scheduler_master(21, 1).get(), db::NotFound);
  EXPECT_NO_THROW(db_->schedulers().set_scheduler_master(21, std::nullopt).get());
  EXPECT_THROW(db_->schedulers().set_scheduler_master(20, 3).get(), db::NotFound);
  EXPECT_FALSE(db_->schedulers().get_scheduler(20).get()->masterid);
  EXPECT_FALSE(db_->schedulers().get_scheduler(21).get());
  EXPECT_EQ(db_->schedulers().get_schedulers().get().size(), 1u);
  // Held by an active master: AlreadyClaimed before the unknown master is NotFound (Buildbot's
  // insert meets the held link first).
  insert({td::SchedulerMaster{.schedulerid = 20, .masterid = 1}});
  EXPECT_THROW(db_->schedulers().set_scheduler_master(20, 3).get(), db::SchedulerAlreadyClaimedError);
  EXPECT_EQ(db_->schedulers().get_scheduler(20).get()->masterid, 1);
}

TEST_P(SchedulersContract, RacingActiveMastersLeaveExactlyOneHolder) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::Scheduler{.id = 20, .name = "sch"}});
  std::vector<int> outcome(8, -1);  // 1: claimed, 0: SchedulerAlreadyClaimedError
  race(8, [&](int i) {
    try {
      db_->schedulers().set_scheduler_master(20, 1 + i % 2).get();
      outcome[i] = 1;
    } catch (const db::SchedulerAlreadyClaimedError&) {
      outcome[i] = 0;
    }
  });
  auto holder = db_->schedulers().get_scheduler(20).get()->masterid;
  ASSERT_TRUE(holder);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(outcome[i], 1 + i % 2 == *holder ? 1 : 0) << "thread " << i;
  }
}

TEST_P(SchedulersContract, DeactivatingTheHolderReleasesTheScheduler) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::Scheduler{.id = 20, .name = "sch"}});
  db_->schedulers().set_scheduler_master(20, 1).get();
  EXPECT_THROW(db_->schedulers().set_scheduler_master(20, 2).get(),
               db::SchedulerAlreadyClaimedError);
  db_->masters().set_master_state(1, false).get();
  EXPECT_FALSE(db_->schedulers().get_scheduler(20).get()->masterid);
  EXPECT_TRUE(db_->schedulers().get_schedulers(true).get().empty());
  db_->schedulers().set_scheduler_master(20, 2).get();
  EXPECT_EQ(db_->schedulers().get_scheduler(20).get()->masterid, 2);
}

TEST_P(SchedulersContract, GetSchedulersFiltersByActiveAndMaster) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2", .active = false},
          td::Scheduler{.id = 20, .name = "a"}, td::Scheduler{.id = 21, .name = "b"},
          td::Scheduler{.id = 22, .name = "c", .enabled = false},
          td::SchedulerMaster{.schedulerid = 20, .masterid = 1},
          td::SchedulerMaster{.schedulerid = 22, .masterid = 2}});
  auto& s = db_->schedulers();
  using V = std::vector<db::Scheduler>;
  EXPECT_EQ(s.get_schedulers().get(),
            (V{{20, "a", 1, true}, {21, "b", std::nullopt, true}, {22, "c", 2, false}}));
  EXPECT_EQ(s.get_schedulers(true).get(), (V{{20, "a", 1, true}, {22, "c", 2, false}}));
  EXPECT_EQ(s.get_schedulers(false).get(), (V{{21, "b", std::nullopt, true}}));
  EXPECT_EQ(s.get_schedulers(std::nullopt, 1).get(), (V{{20, "a", 1, true}}));
  EXPECT_TRUE(s.get_schedulers(false, 2).get().empty());
}

TEST_P(SchedulersContract, ClassifyChangesRecordsAndReplaces) {
  insert(changes_world());
  db_->schedulers().classify_changes(20, {{100, true}, {101, false}}).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(),
            (Classes{{100, true}, {101, false}}));
  db_->schedulers().classify_changes(20, {{101, true}, {102, false}}).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(),
            (Classes{{100, true}, {101, true}, {102, false}}));
  db_->schedulers().classify_changes(20, {}).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get().size(), 3u);
}

TEST_P(SchedulersContract, ClassifyChangesWithUnknownIdsIsNotFoundAndWritesNothing) {
  insert(changes_world());
  EXPECT_THROW(db_->schedulers().classify_changes(21, {{100, true}}).get(), db::NotFound);
  EXPECT_THROW(db_->schedulers().classify_changes(20, {{100, true}, {999, false}}).get(),
               db::NotFound);
  EXPECT_TRUE(db_->schedulers().get_change_classifications(20).get().empty());
}

TEST_P(SchedulersContract, ClassificationsBelongToTheirScheduler) {
  auto rows = changes_world();
  rows.push_back(td::Scheduler{.id = 21, .name = "other"});
  insert(rows);
  db_->schedulers().classify_changes(20, {{100, true}}).get();
  db_->schedulers().classify_changes(21, {{100, false}, {102, true}}).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(), (Classes{{100, true}}));
  EXPECT_EQ(db_->schedulers().get_change_classifications(21).get(),
            (Classes{{100, false}, {102, true}}));
  db_->schedulers().flush_change_classifications(21).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(), (Classes{{100, true}}));
  EXPECT_TRUE(db_->schedulers().get_change_classifications(21).get().empty());
  EXPECT_TRUE(db_->schedulers().get_change_classifications(99).get().empty());
}

TEST_P(SchedulersContract, ClassifyThousandsOfChangesInOneCall) {
  std::vector<td::Row> rows{td::Scheduler{.id = 20, .name = "sch"}, td::SourceStamp{.id = 1}};
  Classes classes;
  for (int64_t id = 1; id <= 2500; ++id) {
    rows.push_back(td::Change{.changeid = id, .sourcestampid = 1});
    classes[id] = id % 3 == 0;
  }
  insert(rows);
  db_->schedulers().classify_changes(20, classes).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(), classes);
  db_->schedulers().flush_change_classifications(20, 2001).get();
  auto left = db_->schedulers().get_change_classifications(20).get();
  ASSERT_EQ(left.size(), 500u);
  EXPECT_EQ(left.begin()->first, 2001);
}

TEST_P(SchedulersContract, FlushChangeClassificationsBelowALimit) {
  insert(changes_world());
  db_->schedulers().classify_changes(20, {{100, true}, {101, false}, {102, true}}).get();
  db_->schedulers().flush_change_classifications(20, 102).get();
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(), (Classes{{102, true}}));
  db_->schedulers().flush_change_classifications(20).get();
  EXPECT_TRUE(db_->schedulers().get_change_classifications(20).get().empty());
}

TEST_P(SchedulersContract, BranchFilterAnyDefaultAndNamedDiffer) {
  insert(changes_world());
  db_->schedulers().classify_changes(20, {{100, true}, {101, false}, {102, true}}).get();
  auto& s = db_->schedulers();
  EXPECT_EQ(s.get_change_classifications(20, db::BranchFilter::any()).get(),
            (Classes{{100, true}, {101, false}, {102, true}}));
  EXPECT_EQ(s.get_change_classifications(20, db::BranchFilter::default_branch()).get(),
            (Classes{{101, false}}));
  EXPECT_EQ(s.get_change_classifications(20, db::BranchFilter::named("master")).get(),
            (Classes{{100, true}}));
  EXPECT_EQ(s.get_change_classifications(20, db::BranchFilter::named("dev")).get(),
            (Classes{{102, true}}));
  EXPECT_TRUE(s.get_change_classifications(20, db::BranchFilter::named("none")).get().empty());
}

}  // namespace
}  // namespace ym::test
