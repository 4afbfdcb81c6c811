#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(BuildersContract);

TEST_P(BuildersContract, FindBuilderIdCreatesAndFinds) {
  auto id = db_->builders().find_builder_id("linux-gcc").get();
  ASSERT_TRUE(id);
  EXPECT_EQ(db_->builders().find_builder_id("linux-gcc").get(), id);
  auto b = db_->builders().get_builder(*id).get();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->name, "linux-gcc");
  EXPECT_FALSE(b->description);
  EXPECT_TRUE(b->masterids.empty());
}

TEST_P(BuildersContract, FindBuilderIdWithoutAutoCreate) {
  EXPECT_FALSE(db_->builders().find_builder_id("nope", false).get());
  EXPECT_TRUE(db_->builders().get_builders().get().empty());
  insert({td::Builder{.id = 5, .name = "there"}});
  EXPECT_EQ(db_->builders().find_builder_id("there", false).get(), std::optional<int64_t>(5));
}

TEST_P(BuildersContract, FindBuilderIdRejectsBadIdentifiers) {
  for (std::string bad : {std::string(""), std::string("has space"), std::string("1starts-digit"),
                          std::string(300, 'b'), std::string("caf\xC3\xA9"),
                          std::string("semi;colon"), std::string(51, 'x')}) {
    EXPECT_THROW(db_->builders().find_builder_id(bad).get(), db::InvalidIdentifier) << bad;
  }
  EXPECT_TRUE(db_->builders().get_builders().get().empty());
  EXPECT_TRUE(db_->builders().find_builder_id(std::string(50, 'x')).get());
}

TEST_P(BuildersContract, AddBuilderMasterIsIdempotent) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Master{.id = 8, .name = "m8"},
          td::Builder{.id = 20, .name = "b"}});
  db_->builders().add_builder_master(20, 8).get();
  db_->builders().add_builder_master(20, 7).get();
  db_->builders().add_builder_master(20, 7).get();
  EXPECT_EQ(db_->builders().get_builder(20).get()->masterids, (std::vector<int64_t>{7, 8}));
}

TEST_P(BuildersContract, AddBuilderMasterWithUnknownIdsIsNotFound) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Builder{.id = 20, .name = "b"}});
  EXPECT_THROW(db_->builders().add_builder_master(21, 7).get(), db::NotFound);
  EXPECT_THROW(db_->builders().add_builder_master(20, 9).get(), db::NotFound);
  EXPECT_TRUE(db_->builders().get_builder(20).get()->masterids.empty());
}

TEST_P(BuildersContract, RemoveBuilderMasterRemovesOnlyThatPairAndItsWorkers) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Master{.id = 8, .name = "m8"},
          td::Builder{.id = 20, .name = "b"},
          td::BuilderMaster{.id = 1, .builderid = 20, .masterid = 7},
          td::BuilderMaster{.id = 2, .builderid = 20, .masterid = 8},
          td::Worker{.id = 30, .name = "w"},
          td::ConfiguredWorker{.id = 1, .buildermasterid = 1, .workerid = 30},
          td::ConfiguredWorker{.id = 2, .buildermasterid = 2, .workerid = 30}});
  db_->builders().remove_builder_master(20, 7).get();
  db_->builders().remove_builder_master(20, 7).get();  // absent: not an error
  EXPECT_EQ(db_->builders().get_builder(20).get()->masterids, std::vector<int64_t>{8});
  EXPECT_EQ(db_->workers().get_worker(30).get()->configured_on,
            (std::vector<db::WorkerConfig>{{20, 8}}));
}

TEST_P(BuildersContract, GetBuilderMissingIsNullopt) { EXPECT_FALSE(db_->builders().get_builder(3).get()); }

TEST_P(BuildersContract, GetBuildersFiltersByMasterAndListsAllMasters) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Master{.id = 8, .name = "m8"},
          td::Builder{.id = 20, .name = "b20"}, td::Builder{.id = 21, .name = "b21"},
          td::Builder{.id = 22, .name = "b22", .description = "docs"},
          td::BuilderMaster{.id = 1, .builderid = 20, .masterid = 7},
          td::BuilderMaster{.id = 2, .builderid = 20, .masterid = 8},
          td::BuilderMaster{.id = 3, .builderid = 22, .masterid = 8}});
  auto all = db_->builders().get_builders().get();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], (db::Builder{20, "b20", std::nullopt, {7, 8}}));
  EXPECT_EQ(all[1], (db::Builder{21, "b21", std::nullopt, {}}));
  EXPECT_EQ(all[2], (db::Builder{22, "b22", "docs", {8}}));
  auto on8 = db_->builders().get_builders(8).get();
  ASSERT_EQ(on8.size(), 2u);
  EXPECT_EQ(on8[0], (db::Builder{20, "b20", std::nullopt, {7, 8}}));
  EXPECT_EQ(on8[1].id, 22);
  EXPECT_TRUE(db_->builders().get_builders(99).get().empty());
}

TEST_P(BuildersContract, UpdateBuilderInfo) {
  insert({td::Builder{.id = 20, .name = "b"}});
  db_->builders().update_builder_info(20, "builds the docs").get();
  EXPECT_EQ(db_->builders().get_builder(20).get()->description, "builds the docs");
  db_->builders().update_builder_info(20, std::nullopt).get();
  EXPECT_FALSE(db_->builders().get_builder(20).get()->description);
  db_->builders().update_builder_info(20, std::nullopt).get();  // the same value again
  EXPECT_FALSE(db_->builders().get_builder(20).get()->description);
}

// As Buildbot's updateBuilderInfo: an unknown builder is not an error and nothing changes (no
// builder appears). With tags it is NotFound (TagsContract.BadUpdatesFailTypedAndChangeNothing).
TEST_P(BuildersContract, UpdateBuilderInfoOfAnUnknownBuilderChangesNothing) {
  insert({td::Builder{.id = 20, .name = "b", .description = "d"}});
  db_->builders().update_builder_info(21, "x").get();
  db_->builders().update_builder_info(21, "x", {}).get();
  EXPECT_FALSE(db_->builders().get_builder(21).get());
  EXPECT_EQ(db_->builders().get_builders().get(),
            (std::vector<db::Builder>{{20, "b", std::string("d"), {}}}));
}

TEST_P(BuildersContract, EightThreadsFindingOneNewBuilderGetOneId) {
  std::vector<std::optional<int64_t>> ids(8);
  race(8, [&](int i) { ids[i] = db_->builders().find_builder_id("racer").get(); });
  std::set<std::optional<int64_t>> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 1u);
  EXPECT_TRUE(ids[0]);
  EXPECT_EQ(db_->builders().get_builders().get().size(), 1u);
}

}  // namespace
}  // namespace ym::test
