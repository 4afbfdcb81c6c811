// Build data (Buildbot 3.7's db.build_data): named blobs of a build, set with upsert semantics.
#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::BuildDataEntry;

YM_CONTRACT_SUITE(BuildDataContract);

// A master, builder and request, and builds 50 (complete at 1000), 51 (complete at 2000) and 52
// (running).
std::vector<td::Row> world() {
  return {td::Master{.id = 1, .name = "m"}, td::Builder{.id = 2, .name = "b"},
          td::Buildset{.id = 3}, td::BuildRequest{.id = 4, .buildsetid = 3, .builderid = 2},
          td::Build{.id = 50, .number = 1, .builderid = 2, .buildrequestid = 4, .masterid = 1,
                    .complete_at = 1000, .results = 0},
          td::Build{.id = 51, .number = 2, .builderid = 2, .buildrequestid = 4, .masterid = 1,
                    .complete_at = 2000, .results = 0},
          td::Build{.id = 52, .number = 3, .builderid = 2, .buildrequestid = 4, .masterid = 1}};
}

const std::string kBytes("bin\0ary\xFF\xFE\n", 11);

TEST_P(BuildDataContract, SetThenGetRoundTripsTheBytes) {
  insert(world());
  db_->build_data().set_build_data(50, "report", kBytes, "TestStep").get();
  auto d = db_->build_data().get_build_data(50, "report").get();
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, (BuildDataEntry{50, "report", kBytes, 11, "TestStep"}));
  EXPECT_EQ(db_->build_data().get_build_data_no_value(50, "report").get(),
            (BuildDataEntry{50, "report", std::nullopt, 11, "TestStep"}));
  // An empty value is a value.
  db_->build_data().set_build_data(50, "empty", "", "s").get();
  EXPECT_EQ(db_->build_data().get_build_data(50, "empty").get(),
            (BuildDataEntry{50, "empty", std::string(), 0, "s"}));
}

TEST_P(BuildDataContract, MissingEntriesAreNullopt) {
  insert(world());
  db_->build_data().set_build_data(50, "report", "x", "s").get();
  EXPECT_FALSE(db_->build_data().get_build_data(50, "other").get());
  EXPECT_FALSE(db_->build_data().get_build_data(51, "report").get());
  EXPECT_FALSE(db_->build_data().get_build_data(999, "report").get());
  EXPECT_FALSE(db_->build_data().get_build_data_no_value(50, "other").get());
  EXPECT_TRUE(db_->build_data().get_all_build_data_no_values(51).get().empty());
  EXPECT_TRUE(db_->build_data().get_all_build_data_no_values(999).get().empty());
}

TEST_P(BuildDataContract, SetAgainReplacesValueLengthAndSource) {
  insert(world());
  db_->build_data().set_build_data(50, "a", "first", "s1").get();
  db_->build_data().set_build_data(50, "b", "bee", "s1").get();
  db_->build_data().set_build_data(50, "a", "much longer value", "s2").get();
  db_->build_data().set_build_data(51, "a", "other build", "s3").get();
  EXPECT_EQ(db_->build_data().get_build_data(50, "a").get(),
            (BuildDataEntry{50, "a", "much longer value", 17, "s2"}));
  // One entry per name, in the order first set.
  EXPECT_EQ(db_->build_data().get_all_build_data_no_values(50).get(),
            (std::vector<BuildDataEntry>{{50, "a", std::nullopt, 17, "s2"},
                                         {50, "b", std::nullopt, 3, "s1"}}));
  EXPECT_EQ(db_->build_data().get_build_data(51, "a").get()->value, std::optional<std::string>("other build"));
}

TEST_P(BuildDataContract, BadInputIsATypedErrorAndStoresNothing) {
  insert(world());
  EXPECT_THROW(db_->build_data().set_build_data(999, "a", "v", "s").get(), db::NotFound);
  EXPECT_THROW(db_->build_data().set_build_data(50, std::string(256, 'n'), "v", "s").get(),
               db::ValueTooLong);
  EXPECT_THROW(db_->build_data().set_build_data(50, "a", "v", std::string(257, 's')).get(),
               db::ValueTooLong);
  EXPECT_THROW(db_->build_data().set_build_data(50, "bad\xC3", "v", "s").get(), db::InvalidArgument);
  EXPECT_THROW(db_->build_data().set_build_data(50, "a", "v", "bad\xFF").get(), db::InvalidArgument);
  EXPECT_TRUE(db_->build_data().get_all_build_data_no_values(50).get().empty());
  // 255 characters (not bytes) fit a name, 256 a source.
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "\xC3\xA9";
  std::string wider = wide + "\xC3\xA9";
  db_->build_data().set_build_data(50, wide, "v", wider).get();
  EXPECT_EQ(db_->build_data().get_build_data(50, wide).get()->source, wider);
}

TEST_P(BuildDataContract, DeleteOldBuildDataDeletesOnlyBuildsCompletedBefore) {
  insert(world());
  for (int64_t b : {50, 51, 52}) {
    db_->build_data().set_build_data(b, "x", "1", "s").get();
    db_->build_data().set_build_data(b, "y", "2", "s").get();
  }
  EXPECT_EQ(db_->build_data().delete_old_build_data(clock_.at(1000)).get(), 0);  // not before
  EXPECT_EQ(db_->build_data().delete_old_build_data(clock_.at(1001)).get(), 2);
  EXPECT_TRUE(db_->build_data().get_all_build_data_no_values(50).get().empty());
  EXPECT_EQ(db_->build_data().get_all_build_data_no_values(51).get().size(), 2u);
  EXPECT_EQ(db_->build_data().delete_old_build_data(clock_.at(1001)).get(), 0);
  // A running build keeps its data however old the horizon.
  EXPECT_EQ(db_->build_data().delete_old_build_data(clock_.at(999'999'999)).get(), 2);
  EXPECT_EQ(db_->build_data().get_all_build_data_no_values(52).get().size(), 2u);
}

TEST_P(BuildDataContract, TestRowsAreReadAsStored) {
  insert(world());
  insert({td::BuildData{.id = 7, .buildid = 51, .name = "planted", .value = "abc", .source = "fixture"},
          td::BuildData{.id = 8, .buildid = 51, .name = "liar", .value = "abc", .length = 99}});
  EXPECT_EQ(db_->build_data().get_build_data(51, "planted").get(),
            (BuildDataEntry{51, "planted", "abc", 3, "fixture"}));
  EXPECT_EQ(db_->build_data().get_build_data_no_value(51, "liar").get()->length, 99);
  EXPECT_THROW(insert({td::BuildData{.id = 9, .buildid = 51, .name = "planted"}}), db::UniqueViolation);
  EXPECT_THROW(insert({td::BuildData{.id = 9, .buildid = 998}}), db::ForeignKeyViolation);
  // Set replaces a planted row in place.
  db_->build_data().set_build_data(51, "planted", "new", "s").get();
  auto all = db_->build_data().get_all_build_data_no_values(51).get();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], (BuildDataEntry{51, "planted", std::nullopt, 3, "s"}));
}

TEST_P(BuildDataContract, RacingSettersOfOneNameLeaveOneEntry) {
  insert(world());
  race(8, [&](int i) {
    db_->build_data().set_build_data(52, "shared", "value " + std::to_string(i), "s").get();
  });
  auto all = db_->build_data().get_all_build_data_no_values(52).get();
  ASSERT_EQ(all.size(), 1u);
  auto v = db_->build_data().get_build_data(52, "shared").get()->value;
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rfind("value ", 0), 0u) << *v;
  EXPECT_EQ(all[0].length, 7);
}

TEST_P(BuildDataContract, ALargeValueRoundTrips) {
  insert(world());
  std::string big(3 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  db_->build_data().set_build_data(50, "big", big, "s").get();
  auto d = db_->build_data().get_build_data(50, "big").get();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->length, static_cast<int64_t>(big.size()));
  EXPECT_TRUE(d->value == big);
}

}  // namespace
}  // namespace ym::test
