// Changes::prune_changes (Buildbot 3.7's pruneChanges): keep the newest changes, delete the rest
// with everything that hangs on them.
#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using Ids = std::vector<int64_t>;

YM_CONTRACT_SUITE(PruneChangesContract);

Ids ids_of(const std::vector<db::Change>& v) {
  Ids out;
  for (const auto& c : v) out.push_back(c.changeid);
  return out;
}

// Changes 1..6 on one stamp, each the parent of the next; every change has a file, a property and
// a user, and scheduler 20 classified them all.
std::vector<td::Row> six_changes() {
  std::vector<td::Row> rows{td::SourceStamp{.id = 1}, td::User{.uid = 9, .identifier = "u"},
                            td::Scheduler{.id = 20, .name = "sch"}};
  for (int64_t id = 1; id <= 6; ++id) {
    td::Change c{.changeid = id, .sourcestampid = 1};
    if (id > 1) c.parent_changeids = id - 1;
    rows.push_back(c);
    rows.push_back(td::ChangeFile{.changeid = id, .filename = "f" + std::to_string(id)});
    rows.push_back(td::ChangeProperty{.changeid = id});
    rows.push_back(td::ChangeUser{.changeid = id, .uid = 9});
    rows.push_back(td::SchedulerChange{.schedulerid = 20, .changeid = id, .important = id % 2 == 0});
  }
  return rows;
}

TEST_P(PruneChangesContract, KeepsTheNewestAndDeletesTheRestWithTheirRows) {
  insert(six_changes());
  // Cached before the prune: the cache must not keep pruned changes (or stale parents) alive.
  for (int64_t id = 1; id <= 6; ++id) ASSERT_TRUE(db_->changes().get_change(id).get());
  db_->changes().prune_changes(2).get();
  EXPECT_EQ(ids_of(db_->changes().get_changes().get()), (Ids{5, 6}));
  EXPECT_EQ(db_->changes().get_changes_count().get(), 2);
  for (int64_t id = 1; id <= 4; ++id) {
    EXPECT_FALSE(db_->changes().get_change(id).get()) << id;
    EXPECT_TRUE(db_->changes().get_change_uids(id).get().empty()) << id;
  }
  auto five = db_->changes().get_change(5).get();
  ASSERT_TRUE(five);
  EXPECT_TRUE(five->parent_changeids.empty());  // its parent, 4, is gone
  EXPECT_EQ(five->files, (std::vector<std::string>{"f5"}));
  EXPECT_EQ(five->properties.size(), 1u);
  EXPECT_EQ(db_->changes().get_change(6).get()->parent_changeids, (Ids{5}));
  EXPECT_EQ(db_->changes().get_change_uids(6).get(), (Ids{9}));
  EXPECT_EQ(db_->schedulers().get_change_classifications(20).get(),
            (std::map<int64_t, bool>{{5, false}, {6, true}}));
  // The source stamp stays (Buildbot prunes change rows only).
  EXPECT_TRUE(db_->sourcestamps().get_source_stamp(1).get());
}

TEST_P(PruneChangesContract, ZeroOrAHorizonAboveTheCountKeepsEverything) {
  insert(six_changes());
  db_->changes().prune_changes(0).get();
  db_->changes().prune_changes(6).get();
  db_->changes().prune_changes(100).get();
  EXPECT_EQ(db_->changes().get_changes_count().get(), 6);
  EXPECT_EQ(db_->changes().get_change(2).get()->parent_changeids, (Ids{1}));
  db_->changes().prune_changes(1).get();
  EXPECT_EQ(ids_of(db_->changes().get_changes().get()), (Ids{6}));
}

TEST_P(PruneChangesContract, ANegativeHorizonIsRefused) {
  insert(six_changes());
  EXPECT_THROW(db_->changes().prune_changes(-1).get(), db::InvalidArgument);
  EXPECT_EQ(db_->changes().get_changes_count().get(), 6);
}

TEST_P(PruneChangesContract, PruningAnEmptyTableAndThenAddingWorks) {
  db_->changes().prune_changes(3).get();
  db::NewChange c;
  c.author = "a";
  c.comments = "c";
  c.files = {"x"};
  int64_t first = db_->changes().add_change(c).get();
  int64_t second = db_->changes().add_change(c).get();
  db_->changes().prune_changes(1).get();
  EXPECT_FALSE(db_->changes().get_change(first).get());
  auto kept = db_->changes().get_change(second).get();
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->parent_changeids.empty());
  // A new change finds the kept one as its parent.
  int64_t third = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change(third).get()->parent_changeids, (Ids{second}));
}

}  // namespace
}  // namespace ym::test
