// Buildbot 3.7's newer build calls: Builds::get_builds_for_change and get_build_properties with a
// result spec.
#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::ResultSpec;
using Ids = std::vector<int64_t>;
using Op = db::FieldFilter::Op;

YM_CONTRACT_SUITE(BuildsForChangeContract);

Ids ids_of(const std::vector<db::Build>& v) {
  Ids out;
  for (const auto& b : v) out.push_back(b.id);
  return out;
}

// Stamp 1 holds changes 10 and 11, stamp 2 change 12. Buildset 40 has stamps 1 and 2, buildset
// 41 stamp 1 only, buildset 42 stamp 2 only; each buildset has a request per builder (20, 21)
// and the requests have builds (one request two: a retry).
std::vector<td::Row> world() {
  return {td::Master{.id = 1, .name = "m"}, td::Builder{.id = 20, .name = "b20"},
          td::Builder{.id = 21, .name = "b21"},
          td::SourceStamp{.id = 1, .revision = "r1"}, td::SourceStamp{.id = 2, .revision = "r2"},
          td::Change{.changeid = 10, .revision = "r1", .sourcestampid = 1},
          td::Change{.changeid = 11, .revision = "r1", .sourcestampid = 1},
          td::Change{.changeid = 12, .revision = "r2", .sourcestampid = 2},
          td::Buildset{.id = 40}, td::Buildset{.id = 41}, td::Buildset{.id = 42},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 40, .sourcestampid = 1},
          td::BuildsetSourceStamp{.id = 2, .buildsetid = 40, .sourcestampid = 2},
          td::BuildsetSourceStamp{.id = 3, .buildsetid = 41, .sourcestampid = 1},
          td::BuildsetSourceStamp{.id = 4, .buildsetid = 42, .sourcestampid = 2},
          td::BuildRequest{.id = 50, .buildsetid = 40, .builderid = 20},
          td::BuildRequest{.id = 51, .buildsetid = 40, .builderid = 21},
          td::BuildRequest{.id = 52, .buildsetid = 41, .builderid = 20},
          td::BuildRequest{.id = 53, .buildsetid = 42, .builderid = 21},
          td::BuildRequest{.id = 54, .buildsetid = 41, .builderid = 21},  // not built yet
          td::Build{.id = 105, .number = 3, .builderid = 20, .buildrequestid = 52, .masterid = 1},
          td::Build{.id = 100, .number = 1, .builderid = 20, .buildrequestid = 50, .masterid = 1},
          td::Build{.id = 101, .number = 2, .builderid = 20, .buildrequestid = 50, .masterid = 1},
          td::Build{.id = 102, .number = 1, .builderid = 21, .buildrequestid = 51, .masterid = 1},
          td::Build{.id = 103, .number = 2, .builderid = 21, .buildrequestid = 53, .masterid = 1}};
}

TEST_P(BuildsForChangeContract, BuildsOfEveryBuildsetHoldingTheChangesStamp) {
  insert(world());
  EXPECT_EQ(ids_of(db_->builds().get_builds_for_change(10).get()), (Ids{100, 101, 102, 105}));
  EXPECT_EQ(ids_of(db_->builds().get_builds_for_change(11).get()), (Ids{100, 101, 102, 105}));
  EXPECT_EQ(ids_of(db_->builds().get_builds_for_change(12).get()), (Ids{100, 101, 102, 103}));
  auto b = db_->builds().get_builds_for_change(12).get();
  EXPECT_EQ(b.back(), *db_->builds().get_build(103).get());
}

TEST_P(BuildsForChangeContract, AnUnknownOrUnbuiltChangeHasNoBuilds) {
  insert(world());
  insert({td::SourceStamp{.id = 3, .revision = "r3"},
          td::Change{.changeid = 13, .revision = "r3", .sourcestampid = 3}});
  EXPECT_TRUE(db_->builds().get_builds_for_change(13).get().empty());
  EXPECT_TRUE(db_->builds().get_builds_for_change(999).get().empty());
  EXPECT_THROW(db_->builds().get_builds_for_change(0).get(), db::InvalidArgument);
  EXPECT_THROW(db_->builds().get_builds_for_change(-4).get(), db::InvalidArgument);
}

std::vector<td::Row> with_properties() {
  auto rows = world();
  for (const auto& [name, source] : std::vector<std::pair<std::string, std::string>>{
           {"d", "Step"}, {"a", "Build"}, {"c", "Step"}, {"b", "Scheduler"}}) {
    rows.push_back(td::BuildProperty{.buildid = 100, .name = name, .value = "\"v" + name + "\"", .source = source});
  }
  rows.push_back(td::BuildProperty{.buildid = 101, .name = "a", .value = "1", .source = "Other"});
  return rows;
}

std::vector<std::string> names(const db::Properties& p) {
  std::vector<std::string> out;
  for (const auto& [n, v] : p) out.push_back(n);
  return out;
}

TEST_P(BuildsForChangeContract, GetBuildPropertiesWithAnEmptySpecIsAllOfThem) {
  insert(with_properties());
  EXPECT_EQ(db_->builds().get_build_properties(100, ResultSpec{}).get(),
            db_->builds().get_build_properties(100).get());
  EXPECT_EQ(db_->builds().get_build_properties(100, ResultSpec{}).get().at("a"),
            (db::Property{"va", "Build"}));
  EXPECT_TRUE(db_->builds().get_build_properties(999, ResultSpec{}).get().empty());
}

TEST_P(BuildsForChangeContract, GetBuildPropertiesFiltersOrdersAndPages) {
  insert(with_properties());
  using S = std::vector<std::string>;
  EXPECT_EQ(names(db_->builds().get_build_properties(100, ResultSpec{}.where("source", "Step")).get()),
            (S{"c", "d"}));
  EXPECT_EQ(names(db_->builds().get_build_properties(100, ResultSpec{}.where("name", "b", Op::kGt)).get()),
            (S{"c", "d"}));
  ResultSpec in;
  in.filters.push_back({"name", Op::kIn, {std::string("a"), std::string("d"), std::string("z")}});
  EXPECT_EQ(names(db_->builds().get_build_properties(100, in).get()), (S{"a", "d"}));
  // Order then limit chooses which ones: the two last by name, the first by source.
  EXPECT_EQ(names(db_->builds().get_build_properties(100, ResultSpec{}.order_by("name", true).take(2)).get()),
            (S{"c", "d"}));
  EXPECT_EQ(names(db_->builds().get_build_properties(100, ResultSpec{}.order_by("source").take(1)).get()),
            (S{"a"}));
  ResultSpec page = ResultSpec{}.take(2);
  page.offset = 1;
  EXPECT_EQ(names(db_->builds().get_build_properties(100, page).get()), (S{"b", "c"}));
  // Only the build asked for.
  EXPECT_EQ(db_->builds().get_build_properties(101, ResultSpec{}.where("name", "a")).get(),
            (db::Properties{{"a", {1, "Other"}}}));
}

TEST_P(BuildsForChangeContract, GetBuildPropertiesRejectsAnUnknownField) {
  insert(with_properties());
  EXPECT_THROW(db_->builds().get_build_properties(100, ResultSpec{}.where("value", "x")).get(),
               db::InvalidArgument);
  EXPECT_THROW(db_->builds().get_build_properties(100, ResultSpec{}.order_by("buildid")).get(),
               db::InvalidArgument);
}

}  // namespace
}  // namespace ym::test
