#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(ChangeSourcesContract);

TEST_P(ChangeSourcesContract, FindChangeSourceIdCreatesAndFinds) {
  auto id = db_->changesources().find_change_source_id("git://repo poller").get();
  EXPECT_EQ(db_->changesources().find_change_source_id("git://repo poller").get(), id);
  EXPECT_NE(db_->changesources().find_change_source_id("other").get(), id);
  auto cs = db_->changesources().get_change_source(id).get();
  ASSERT_TRUE(cs);
  EXPECT_EQ(*cs, (db::ChangeSource{id, "git://repo poller", std::nullopt}));
}

TEST_P(ChangeSourcesContract, FindChangeSourceIdFindsTestRowsByName) {
  insert({td::ChangeSource{.id = 13, .name = "planted"}});
  EXPECT_EQ(db_->changesources().find_change_source_id("planted").get(), 13);
}

TEST_P(ChangeSourcesContract, FindChangeSourceIdKeepsLongNamesApart) {
  std::string a(2000, 'n'), b(2000, 'n');
  b.back() = 'm';
  auto ida = db_->changesources().find_change_source_id(a).get();
  auto idb = db_->changesources().find_change_source_id(b).get();
  EXPECT_NE(ida, idb);
  EXPECT_EQ(db_->changesources().get_change_source(ida).get()->name, a);
  EXPECT_EQ(db_->changesources().find_change_source_id(b).get(), idb);
}

TEST_P(ChangeSourcesContract, FindChangeSourceIdRejectsInvalidUtf8AndTakesAnEmptyName) {
  EXPECT_THROW(db_->changesources().find_change_source_id("bad\xFF").get(), db::InvalidArgument);
  EXPECT_TRUE(db_->changesources().get_change_sources().get().empty());
  int64_t id = db_->changesources().find_change_source_id("").get();  // as Buildbot
  EXPECT_EQ(db_->changesources().find_change_source_id("").get(), id);
  EXPECT_EQ(db_->changesources().get_change_source(id).get()->name, "");
}

TEST_P(ChangeSourcesContract, EightThreadsFindingOneNewChangeSourceGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->changesources().find_change_source_id("racer").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(db_->changesources().get_change_sources().get().size(), 1u);
}

TEST_P(ChangeSourcesContract, SetChangeSourceMasterClaimsAndClears) {
  insert({td::Master{.id = 1, .name = "m1"}, td::ChangeSource{.id = 10, .name = "cs"}});
  db_->changesources().set_change_source_master(10, 1).get();
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 1);
  db_->changesources().set_change_source_master(10, std::nullopt).get();
  EXPECT_FALSE(db_->changesources().get_change_source(10).get()->masterid);
  db_->changesources().set_change_source_master(10, std::nullopt).get();  // already clear
  EXPECT_FALSE(db_->changesources().get_change_source(10).get()->masterid);
}

TEST_P(ChangeSourcesContract, ClaimingAgainBySameMasterIsNotAnError) {
  insert({td::Master{.id = 1, .name = "m1"}, td::ChangeSource{.id = 10, .name = "cs"}});
  db_->changesources().set_change_source_master(10, 1).get();
  EXPECT_NO_THROW(db_->changesources().set_change_source_master(10, 1).get());
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 1);
}

TEST_P(ChangeSourcesContract, ClaimFailsWhenAnotherActiveMasterHoldsIt) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::ChangeSource{.id = 10, .name = "cs"},
          td::ChangeSourceMaster{.changesourceid = 10, .masterid = 1}});
  EXPECT_THROW(db_->changesources().set_change_source_master(10, 2).get(),
               db::ChangeSourceAlreadyClaimedError);
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 1);
}

TEST_P(ChangeSourcesContract, ClaimReplacesAnInactiveHolder) {
  insert({td::Master{.id = 1, .name = "m1", .active = false}, td::Master{.id = 2, .name = "m2"},
          td::ChangeSource{.id = 10, .name = "cs"},
          td::ChangeSourceMaster{.changesourceid = 10, .masterid = 1}});
  db_->changesources().set_change_source_master(10, 2).get();
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 2);
}

TEST_P(ChangeSourcesContract, SetChangeSourceMasterWithUnknownIdsIsNotFound) {
  insert({td::Master{.id = 1, .name = "m1"}, td::ChangeSource{.id = 10, .name = "cs"}});
  EXPECT_THROW(db_->changesources().set_change_source_master(11, 1).get(), db::NotFound);
  // Releasing an unknown change source releases nothing (as Buildbot's DELETE).
  EXPECT_NO_THROW(db_->changesources().set_change_source_master(11, std::nullopt).get());
  EXPECT_FALSE(db_->changesources().get_change_source(11).get());
  EXPECT_THROW(db_->changesources().set_change_source_master(10, 2).get(), db::NotFound);
  EXPECT_FALSE(db_->changesources().get_change_source(10).get()->masterid);
  EXPECT_EQ(db_->changesources().get_change_sources().get().size(), 1u);
  // Held by an active master: AlreadyClaimed before the unknown master is NotFound (Buildbot's
  // insert meets the held link first).
  insert({td::ChangeSourceMaster{.changesourceid = 10, .masterid = 1}});
  EXPECT_THROW(db_->changesources().set_change_source_master(10, 2).get(),
               db::ChangeSourceAlreadyClaimedError);
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 1);
}

TEST_P(ChangeSourcesContract, GetChangeSourceMissingIsNullopt) {
  EXPECT_FALSE(db_->changesources().get_change_source(4).get());
}

TEST_P(ChangeSourcesContract, GetChangeSourcesFiltersByActiveAndMaster) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2", .active = false},
          td::ChangeSource{.id = 10, .name = "a"}, td::ChangeSource{.id = 11, .name = "b"},
          td::ChangeSource{.id = 12, .name = "c"},
          td::ChangeSourceMaster{.changesourceid = 10, .masterid = 1},
          td::ChangeSourceMaster{.changesourceid = 12, .masterid = 2}});
  auto& cs = db_->changesources();
  EXPECT_EQ(cs.get_change_sources().get(),
            (std::vector<db::ChangeSource>{{10, "a", 1}, {11, "b", std::nullopt}, {12, "c", 2}}));
  // A link to an inactive master still counts as active (the reference is conservative).
  EXPECT_EQ(cs.get_change_sources(true).get(),
            (std::vector<db::ChangeSource>{{10, "a", 1}, {12, "c", 2}}));
  EXPECT_EQ(cs.get_change_sources(false).get(),
            (std::vector<db::ChangeSource>{{11, "b", std::nullopt}}));
  EXPECT_EQ(cs.get_change_sources(std::nullopt, 2).get(),
            (std::vector<db::ChangeSource>{{12, "c", 2}}));
  EXPECT_EQ(cs.get_change_sources(true, 1).get(), (std::vector<db::ChangeSource>{{10, "a", 1}}));
  EXPECT_TRUE(cs.get_change_sources(false, 1).get().empty());
  EXPECT_TRUE(cs.get_change_sources(std::nullopt, 3).get().empty());
}

TEST_P(ChangeSourcesContract, DeactivatingTheHolderLetsAnotherMasterClaim) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::ChangeSource{.id = 10, .name = "cs"}});
  db_->changesources().set_change_source_master(10, 1).get();
  EXPECT_THROW(db_->changesources().set_change_source_master(10, 2).get(),
               db::ChangeSourceAlreadyClaimedError);
  db_->masters().set_master_state(1, false).get();
  EXPECT_FALSE(db_->changesources().get_change_source(10).get()->masterid);
  db_->changesources().set_change_source_master(10, 2).get();
  EXPECT_EQ(db_->changesources().get_change_source(10).get()->masterid, 2);
}

TEST_P(ChangeSourcesContract, RacingActiveMastersLeaveExactlyOneHolder) {
  insert({td::Master{.id = 1, .name = "m1"}, td::Master{.id = 2, .name = "m2"},
          td::ChangeSource{.id = 10, .name = "cs"}});
  std::vector<int> outcome(8, -1);  // 1: claimed, 0: AlreadyClaimed
  race(8, [&](int i) {
    try {
      db_->changesources().set_change_source_master(10, 1 + i % 2).get();
      outcome[i] = 1;
    } catch (const db::ChangeSourceAlreadyClaimedError&) {
      outcome[i] = 0;
    }
  });
  auto holder = db_->changesources().get_change_source(10).get()->masterid;
  ASSERT_TRUE(holder);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(outcome[i], 1 + i % 2 == *holder ? 1 : 0) << "thread " << i;
  }
}

}  // namespace
}  // namespace ym::test
