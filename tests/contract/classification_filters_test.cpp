// Schedulers::get_change_classifications with Buildbot 3.7's repository, project and codebase
// filters (beside the branch one).
#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using Classes = std::map<int64_t, bool>;
using Filter = db::ChangeClassificationFilter;

YM_CONTRACT_SUITE(ClassificationFiltersContract);

// Scheduler 20 classified changes 100..104, which differ in branch, repository, project and
// codebase; scheduler 21 classified 100 only.
std::vector<td::Row> world() {
  return {td::Scheduler{.id = 20, .name = "sch"}, td::Scheduler{.id = 21, .name = "other"},
          td::SourceStamp{.id = 1},
          td::Change{.changeid = 100, .branch = "main", .repository = "r1", .codebase = "cb1", .project = "p1", .sourcestampid = 1},
          td::Change{.changeid = 101, .branch = "main", .repository = "r2", .codebase = "cb1", .project = "p1", .sourcestampid = 1},
          td::Change{.changeid = 102, .branch = std::nullopt, .repository = "r1", .codebase = "cb2", .project = "p1", .sourcestampid = 1},
          td::Change{.changeid = 103, .branch = "dev", .repository = "r1", .codebase = "cb1", .project = "p2", .sourcestampid = 1},
          td::Change{.changeid = 104, .branch = std::nullopt, .repository = "r2", .codebase = "", .project = "", .sourcestampid = 1},
          td::SchedulerChange{.schedulerid = 20, .changeid = 100, .important = true},
          td::SchedulerChange{.schedulerid = 20, .changeid = 101, .important = false},
          td::SchedulerChange{.schedulerid = 20, .changeid = 102, .important = true},
          td::SchedulerChange{.schedulerid = 20, .changeid = 103, .important = false},
          td::SchedulerChange{.schedulerid = 20, .changeid = 104, .important = true},
          td::SchedulerChange{.schedulerid = 21, .changeid = 100, .important = false}};
}

TEST_P(ClassificationFiltersContract, NoFilterGivesEveryClassificationOfTheScheduler) {
  insert(world());
  EXPECT_EQ(db_->schedulers().get_change_classifications(20, Filter{}).get(),
            (Classes{{100, true}, {101, false}, {102, true}, {103, false}, {104, true}}));
  EXPECT_EQ(db_->schedulers().get_change_classifications(21, Filter{}).get(), (Classes{{100, false}}));
  EXPECT_TRUE(db_->schedulers().get_change_classifications(22, Filter{}).get().empty());
}

TEST_P(ClassificationFiltersContract, EachFilterAloneSelectsItsChanges) {
  insert(world());
  auto get = [&](Filter f) { return db_->schedulers().get_change_classifications(20, f).get(); };
  EXPECT_EQ(get({.repository = "r1"}), (Classes{{100, true}, {102, true}, {103, false}}));
  EXPECT_EQ(get({.project = "p1"}), (Classes{{100, true}, {101, false}, {102, true}}));
  EXPECT_EQ(get({.codebase = "cb1"}), (Classes{{100, true}, {101, false}, {103, false}}));
  // The empty string is a value, not "no filter".
  EXPECT_EQ(get({.codebase = ""}), (Classes{{104, true}}));
  EXPECT_EQ(get({.project = ""}), (Classes{{104, true}}));
  EXPECT_TRUE(get({.repository = "nowhere"}).empty());
  EXPECT_EQ(get({.branch = db::BranchFilter::named("main")}), (Classes{{100, true}, {101, false}}));
  EXPECT_EQ(get({.branch = db::BranchFilter::default_branch()}), (Classes{{102, true}, {104, true}}));
}

TEST_P(ClassificationFiltersContract, FiltersCombine) {
  insert(world());
  auto get = [&](Filter f) { return db_->schedulers().get_change_classifications(20, f).get(); };
  EXPECT_EQ(get({.branch = db::BranchFilter::named("main"), .repository = "r1"}), (Classes{{100, true}}));
  EXPECT_EQ(get({.branch = db::BranchFilter::default_branch(), .repository = "r1"}), (Classes{{102, true}}));
  EXPECT_EQ(get({.repository = "r1", .project = "p1", .codebase = "cb1"}), (Classes{{100, true}}));
  EXPECT_TRUE(get({.repository = "r2", .project = "p2"}).empty());
  // The branch-only form and the filter form agree.
  EXPECT_EQ(db_->schedulers().get_change_classifications(20, db::BranchFilter::named("dev")).get(),
            get({.branch = db::BranchFilter::named("dev")}));
}

}  // namespace
}  // namespace ym::test
