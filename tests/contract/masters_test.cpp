#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(MastersContract);

TEST_P(MastersContract, FindMasterIdCreatesAnInactiveMaster) {
  int64_t id = db_->masters().find_master_id("host:/base").get();
  auto m = db_->masters().get_master(id).get();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->name, "host:/base");
  EXPECT_FALSE(m->active);
  EXPECT_EQ(m->last_active, clock_.at(*clock_.now));
}

TEST_P(MastersContract, FindMasterIdReturnsTheExistingId) {
  insert({td::Master{.id = 7, .name = "some:master"}});
  EXPECT_EQ(db_->masters().find_master_id("some:master").get(), 7);
  EXPECT_NE(db_->masters().find_master_id("other:master").get(), 7);
  EXPECT_EQ(db_->masters().get_masters().get().size(), 2u);
}

// As Buildbot's findMasterId: the empty name is a name like any other.
TEST_P(MastersContract, FindMasterIdTakesAnEmptyNameLikeBuildbot) {
  int64_t id = db_->masters().find_master_id("").get();
  EXPECT_EQ(db_->masters().get_master(id).get()->name, "");
  EXPECT_EQ(db_->masters().find_master_id("").get(), id);
  EXPECT_EQ(db_->masters().get_masters().get().size(), 1u);
}

TEST_P(MastersContract, FindMasterIdAcceptsLongAndUnicodeNames) {
  std::string name = "h\xC3\xB6st:/" + std::string(400, 'x');
  int64_t id = db_->masters().find_master_id(name).get();
  EXPECT_EQ(db_->masters().get_master(id).get()->name, name);
  EXPECT_EQ(db_->masters().find_master_id(name).get(), id);
}

TEST_P(MastersContract, SetMasterStateActivatesAndReportsChange) {
  insert({td::Master{.id = 7, .name = "m", .active = false, .last_active = 100}});
  EXPECT_TRUE(db_->masters().set_master_state(7, true).get());
  auto m = db_->masters().get_master(7).get();
  EXPECT_TRUE(m->active);
  EXPECT_EQ(m->last_active, clock_.at(*clock_.now));
  clock_.advance(30);
  EXPECT_FALSE(db_->masters().set_master_state(7, true).get());  // already active: a check-in
  EXPECT_EQ(db_->masters().get_master(7).get()->last_active, clock_.at(*clock_.now));
}

TEST_P(MastersContract, SetMasterStateDeactivatesAndKeepsLastActive) {
  insert({td::Master{.id = 7, .name = "m", .active = true, .last_active = 100}});
  EXPECT_TRUE(db_->masters().set_master_state(7, false).get());
  auto m = db_->masters().get_master(7).get();
  EXPECT_FALSE(m->active);
  EXPECT_EQ(m->last_active, clock_.at(100));
  EXPECT_FALSE(db_->masters().set_master_state(7, false).get());
}

TEST_P(MastersContract, DeactivationDeletesTheMastersLinks) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Master{.id = 8, .name = "m8"},
          td::Builder{.id = 20, .name = "b20"}, td::BuilderMaster{.id = 1, .builderid = 20, .masterid = 7},
          td::BuilderMaster{.id = 2, .builderid = 20, .masterid = 8},
          td::Worker{.id = 30, .name = "w30"},
          td::ConfiguredWorker{.id = 1, .buildermasterid = 1, .workerid = 30},
          td::ConfiguredWorker{.id = 2, .buildermasterid = 2, .workerid = 30},
          td::ConnectedWorker{.id = 1, .masterid = 7, .workerid = 30},
          td::ConnectedWorker{.id = 2, .masterid = 8, .workerid = 30}});
  db_->masters().set_master_state(7, false).get();
  EXPECT_EQ(db_->builders().get_builder(20).get()->masterids, std::vector<int64_t>{8});
  auto w = db_->workers().get_worker(30).get();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->connected_to, std::vector<int64_t>{8});
  EXPECT_EQ(w->configured_on, (std::vector<db::WorkerConfig>{{20, 8}}));
}

// Buildbot returns False for a master that does not exist ("can't change a row that doesn't
// exist"), and nothing is created.
TEST_P(MastersContract, SetMasterStateOnAnUnknownMasterChangesNothing) {
  EXPECT_FALSE(db_->masters().set_master_state(99, true).get());
  EXPECT_FALSE(db_->masters().set_master_state(99, false).get());
  EXPECT_TRUE(db_->masters().get_masters().get().empty());
}

TEST_P(MastersContract, GetMasterReturnsNulloptWhenMissing) {
  EXPECT_FALSE(db_->masters().get_master(42).get());
}

TEST_P(MastersContract, GetMastersIsOrderedById) {
  insert({td::Master{.id = 9, .name = "c"}, td::Master{.id = 3, .name = "a"},
          td::Master{.id = 5, .name = "b", .active = false}});
  auto ms = db_->masters().get_masters().get();
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0].id, 3);
  EXPECT_EQ(ms[1].id, 5);
  EXPECT_FALSE(ms[1].active);
  EXPECT_EQ(ms[2].id, 9);
}

TEST_P(MastersContract, SetAllMastersActiveLongTimeAgo) {
  insert({td::Master{.id = 1, .name = "a", .last_active = 500},
          td::Master{.id = 2, .name = "b", .active = false, .last_active = 600}});
  db_->masters().set_all_masters_active_long_time_ago().get();
  for (const auto& m : db_->masters().get_masters().get()) {
    EXPECT_EQ(m.last_active, clock_.at(0));
    EXPECT_TRUE(m.active);
  }
}

TEST_P(MastersContract, EightThreadsFindingOneNewMasterGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->masters().find_master_id("racing:/master").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(db_->masters().get_masters().get().size(), 1u);
}

}  // namespace
}  // namespace ym::test
