#include <algorithm>
#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::BuildFilter;
using db::ResultSpec;
using nlohmann::json;
namespace results = db::results;

YM_CONTRACT_SUITE(BuildsContract);

// Two masters, two builders, a worker, one buildset with a request for each builder.
std::vector<td::Row> base() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Master{.id = 11, .name = "m11"},
          td::Builder{.id = 20, .name = "b20"},
          td::Builder{.id = 21, .name = "b21"},
          td::Worker{.id = 30, .name = "w30"},
          td::Buildset{.id = 40},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::BuildRequest{.id = 42, .buildsetid = 40, .builderid = 21}};
}

td::Build build_row(int64_t id, int number, int64_t builderid, int64_t brid,
                    std::optional<int> result = std::nullopt,
                    std::optional<int64_t> complete_at = std::nullopt,
                    std::optional<int64_t> workerid = 30) {
  return td::Build{.id = id,
                   .number = number,
                   .builderid = builderid,
                   .buildrequestid = brid,
                   .workerid = workerid,
                   .masterid = 10,
                   .started_at = 1000 + id,
                   .complete_at = complete_at,
                   .state_string = "s" + std::to_string(id),
                   .results = result};
}

std::vector<int64_t> ids(const std::vector<db::Build>& v) {
  std::vector<int64_t> out;
  for (const auto& b : v) out.push_back(b.id);
  return out;
}

// ------------------------------------------------------------------ add_build

TEST_P(BuildsContract, AddBuildNumbersFromOnePerBuilderAndRecordsStart) {
  insert(base());
  auto a = db_->builds().add_build(20, 41, 30, 10, "starting").get();
  auto b = db_->builds().add_build(20, 41, 30, 10, "starting").get();
  auto c = db_->builds().add_build(21, 42, 30, 11, "other").get();
  EXPECT_EQ(a.number, 1);
  EXPECT_EQ(b.number, 2);
  EXPECT_EQ(c.number, 1);
  EXPECT_NE(a.id, b.id);
  auto got = db_->builds().get_build(b.id).get();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, b.id);
  EXPECT_EQ(got->number, 2);
  EXPECT_EQ(got->builderid, 20);
  EXPECT_EQ(got->buildrequestid, 41);
  EXPECT_EQ(got->workerid, std::optional<int64_t>(30));
  EXPECT_EQ(got->masterid, 10);
  EXPECT_EQ(got->started_at, clock_.at(*clock_.now));
  EXPECT_FALSE(got->complete_at);
  EXPECT_EQ(got->state_string, "starting");
  EXPECT_FALSE(got->results);
}

TEST_P(BuildsContract, AddBuildContinuesAfterTheHighestNumber) {
  insert(base());
  insert({build_row(1, 7, 20, 41), build_row(2, 3, 20, 41)});
  EXPECT_EQ(db_->builds().add_build(20, 41, 30, 10, "x").get().number, 8);
  EXPECT_EQ(db_->builds().add_build(21, 42, 30, 10, "x").get().number, 1);
}

TEST_P(BuildsContract, AddBuildWithoutWorker) {
  insert(base());
  auto a = db_->builds().add_build(20, 41, std::nullopt, 10, "x").get();
  EXPECT_FALSE(db_->builds().get_build(a.id).get()->workerid);
}

TEST_P(BuildsContract, AddBuildWithUnknownReferencesIsNotFoundAndAddsNothing) {
  insert(base());
  EXPECT_THROW(db_->builds().add_build(99, 41, 30, 10, "x").get(), db::NotFound);
  EXPECT_THROW(db_->builds().add_build(20, 99, 30, 10, "x").get(), db::NotFound);
  EXPECT_THROW(db_->builds().add_build(20, 41, 99, 10, "x").get(), db::NotFound);
  EXPECT_THROW(db_->builds().add_build(20, 41, 30, 99, "x").get(), db::NotFound);
  EXPECT_TRUE(db_->builds().get_builds().get().empty());
  EXPECT_EQ(db_->builds().add_build(20, 41, 30, 10, "x").get().number, 1);
}

TEST_P(BuildsContract, AddBuildRejectsInvalidUtf8StateString) {
  insert(base());
  EXPECT_THROW(db_->builds().add_build(20, 41, 30, 10, "bad \xff").get(), db::InvalidArgument);
  EXPECT_TRUE(db_->builds().get_builds().get().empty());
}

TEST_P(BuildsContract, ConcurrentAddBuildNumbersAreGaplessAndUnique) {
  insert(base());
  constexpr int kThreads = 8, kEach = 5;
  std::vector<std::vector<db::AddedBuild>> added(kThreads);
  race(kThreads, [&](int i) {
    for (int k = 0; k < kEach; ++k) {
      added[i].push_back(db_->builds().add_build(20, 41, 30, 10, "t" + std::to_string(i)).get());
    }
  });
  std::vector<int> numbers;
  std::set<int64_t> build_ids;
  for (const auto& v : added) {
    for (const auto& a : v) {
      numbers.push_back(a.number);
      build_ids.insert(a.id);
    }
  }
  std::sort(numbers.begin(), numbers.end());
  std::vector<int> expected(kThreads * kEach);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i) + 1;
  EXPECT_EQ(numbers, expected);
  EXPECT_EQ(build_ids.size(), expected.size());
  // What each caller was told is what was stored.
  for (const auto& v : added) {
    for (const auto& a : v) EXPECT_EQ(db_->builds().get_build(a.id).get()->number, a.number);
  }
}

// ------------------------------------------------------------------ getters

TEST_P(BuildsContract, GetBuildAndByNumber) {
  insert(base());
  insert({build_row(1, 1, 20, 41, results::kSuccess, 2000), build_row(2, 1, 21, 42)});
  auto b = db_->builds().get_build(1).get();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->started_at, clock_.at(1001));
  EXPECT_EQ(b->complete_at, std::optional<Timestamp>(clock_.at(2000)));
  EXPECT_EQ(b->results, std::optional<int>(results::kSuccess));
  EXPECT_EQ(b->state_string, "s1");
  EXPECT_FALSE(db_->builds().get_build(99).get());
  EXPECT_EQ(db_->builds().get_build_by_number(21, 1).get()->id, 2);
  EXPECT_FALSE(db_->builds().get_build_by_number(21, 2).get());
  EXPECT_FALSE(db_->builds().get_build_by_number(99, 1).get());
}

TEST_P(BuildsContract, GetBuildsFiltersAndOrdersById) {
  insert(base());
  insert({build_row(3, 1, 20, 41, results::kSuccess, 2000), build_row(1, 2, 20, 41),
          build_row(2, 1, 21, 42, results::kFailure, 2100, std::nullopt)});
  EXPECT_EQ(ids(db_->builds().get_builds().get()), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.builderid = 20}).get()),
            (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.buildrequestid = 42}).get()),
            (std::vector<int64_t>{2}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.workerid = 30}).get()),
            (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.complete = true}).get()),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.complete = false}).get()),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.builderid = 20, .complete = true}).get()),
            (std::vector<int64_t>{3}));
  EXPECT_TRUE(db_->builds().get_builds(BuildFilter{.builderid = 99}).get().empty());
}

TEST_P(BuildsContract, GetBuildsAppliesResultSpec) {
  insert(base());
  std::vector<td::Row> rows;
  for (int i = 1; i <= 6; ++i) {
    rows.push_back(build_row(
        i, i, 20, 41,
        i % 2 ? std::optional<int>(results::kSuccess) : std::optional<int>(results::kFailure),
        3000 + i));
  }
  insert(rows);
  ResultSpec newest;
  newest.order_by("number", true).take(2);
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.builderid = 20, .spec = newest}).get()),
            (std::vector<int64_t>{6, 5}));
  ResultSpec failures;
  failures.where("results", int64_t{results::kFailure});
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.spec = failures}).get()),
            (std::vector<int64_t>{2, 4, 6}));
  ResultSpec page;
  page.order_by("started_at").take(2);
  page.offset = 3;
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.spec = page}).get()),
            (std::vector<int64_t>{4, 5}));
  ResultSpec after;
  after.order_by("number", true).take(2);
  after.after = std::vector<db::Value>{int64_t{4}, int64_t{4}};
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.spec = after}).get()),
            (std::vector<int64_t>{3, 2}));
  ResultSpec in;
  in.filters.push_back({"id", db::FieldFilter::Op::kIn, {int64_t{1}, int64_t{5}, int64_t{9}}});
  EXPECT_EQ(ids(db_->builds().get_builds(BuildFilter{.spec = in}).get()),
            (std::vector<int64_t>{1, 5}));
}

TEST_P(BuildsContract, GetBuildsRejectsABadResultSpec) {
  insert(base());
  ResultSpec unknown;
  unknown.where("colour", int64_t{1});
  EXPECT_THROW(db_->builds().get_builds(BuildFilter{.spec = unknown}).get(), db::InvalidArgument);
  ResultSpec negative;
  negative.take(-1);
  EXPECT_THROW(db_->builds().get_builds(BuildFilter{.spec = negative}).get(), db::InvalidArgument);
}

// ------------------------------------------------------------------ updates

TEST_P(BuildsContract, SetBuildStateString) {
  insert(base());
  insert({build_row(1, 1, 20, 41)});
  db_->builds().set_build_state_string(1, "compiling \xE2\x9C\x93").get();
  db_->builds().set_build_state_string(1, "compiling \xE2\x9C\x93").get();  // same value again
  EXPECT_EQ(db_->builds().get_build(1).get()->state_string, "compiling \xE2\x9C\x93");
  EXPECT_THROW(db_->builds().set_build_state_string(1, "\xC3\x28").get(), db::InvalidArgument);
  EXPECT_EQ(db_->builds().get_build(1).get()->state_string, "compiling \xE2\x9C\x93");
}

TEST_P(BuildsContract, FinishBuildIsUnconditional) {
  insert(base());
  auto a = db_->builds().add_build(20, 41, 30, 10, "x").get();
  clock_.advance(60);
  db_->builds().finish_build(a.id, results::kFailure).get();
  auto b = db_->builds().get_build(a.id).get();
  EXPECT_EQ(b->results, std::optional<int>(results::kFailure));
  EXPECT_EQ(b->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  clock_.advance(60);
  db_->builds().finish_build(a.id, results::kSuccess).get();
  b = db_->builds().get_build(a.id).get();
  EXPECT_EQ(b->results, std::optional<int>(results::kSuccess));
  EXPECT_EQ(b->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  db_->builds().finish_build(a.id, results::kSuccess).get();  // the same values again
}

// As Buildbot's setBuildStateString and finishBuild (the reference is silent): an update of a
// build that does not exist is not an error and changes nothing. (The fenced end of a build is
// complete_build, which refuses an unknown build: FencingContract.)
TEST_P(BuildsContract, UpdatesOfAnUnknownBuildChangeNothing) {
  insert(base());
  auto a = db_->builds().add_build(20, 41, 30, 10, "x").get();
  auto before = db_->builds().get_build(a.id).get();
  clock_.advance(60);
  db_->builds().set_build_state_string(99, "y").get();
  db_->builds().finish_build(99, results::kSuccess).get();
  EXPECT_THROW(db_->builds().set_build_state_string(99, "\xC3\x28").get(), db::InvalidArgument);
  EXPECT_FALSE(db_->builds().get_build(99).get());
  EXPECT_EQ(db_->builds().get_build(a.id).get(), before);
  EXPECT_EQ(db_->builds().get_builds().get().size(), 1u);
}

// ------------------------------------------------------------------ properties

TEST_P(BuildsContract, BuildPropertiesRoundTrip) {
  insert(base());
  insert({build_row(1, 1, 20, 41), build_row(2, 2, 20, 41)});
  EXPECT_TRUE(db_->builds().get_build_properties(1).get().empty());
  EXPECT_TRUE(db_->builds().get_build_properties(99).get().empty());
  db_->builds().set_build_property(1, "answer", 42, "test").get();
  db_->builds().set_build_property(1, "list", json::array({1, "two", nullptr}), "other").get();
  db_->builds().set_build_property(2, "answer", "elsewhere", "test").get();
  db::Properties expected{{"answer", {json(42), "test"}},
                          {"list", {json::array({1, "two", nullptr}), "other"}}};
  EXPECT_EQ(db_->builds().get_build_properties(1).get(), expected);
  EXPECT_EQ(db_->builds().get_build_properties(2).get(),
            (db::Properties{{"answer", {json("elsewhere"), "test"}}}));
}

TEST_P(BuildsContract, SetBuildPropertyReplacesValueAndSource) {
  insert(base());
  insert({build_row(1, 1, 20, 41)});
  db_->builds().set_build_property(1, "p", 1, "first").get();
  db_->builds().set_build_property(1, "p", json{{"k", "v"}}, "second").get();
  db_->builds().set_build_property(1, "p", json{{"k", "v"}}, "second").get();  // unchanged
  EXPECT_EQ(db_->builds().get_build_properties(1).get(),
            (db::Properties{{"p", {json{{"k", "v"}}, "second"}}}));
}

TEST_P(BuildsContract, GetBuildPropertiesReadsStoredRows) {
  insert(base());
  insert({build_row(1, 1, 20, 41),
          td::BuildProperty{.buildid = 1, .name = "x", .value = "[1, 2]", .source = "src"}});
  EXPECT_EQ(db_->builds().get_build_properties(1).get(),
            (db::Properties{{"x", {json::array({1, 2}), "src"}}}));
}

TEST_P(BuildsContract, SetBuildPropertyRejectsBadInputAndChangesNothing) {
  insert(base());
  insert({build_row(1, 1, 20, 41)});
  db_->builds().set_build_property(1, "p", "good", "src").get();
  EXPECT_THROW(db_->builds().set_build_property(99, "p", 1, "src").get(), db::NotFound);
  EXPECT_THROW(db_->builds().set_build_property(1, "", 1, "src").get(), db::InvalidArgument);
  EXPECT_THROW(db_->builds().set_build_property(1, "p", std::string("\xC3\x28"), "src").get(),
               db::InvalidArgument);
  EXPECT_THROW(db_->builds().set_build_property(1, "bad\xff", 1, "src").get(), db::InvalidArgument);
  EXPECT_THROW(db_->builds().set_build_property(1, "p", 1, "bad\xff").get(), db::InvalidArgument);
  EXPECT_THROW(db_->builds().set_build_property(1, std::string(256, 'n'), 1, "src").get(),
               db::ValueTooLong);
  EXPECT_THROW(db_->builds().set_build_property(1, "p", 1, std::string(257, 's')).get(),
               db::ValueTooLong);
  EXPECT_EQ(db_->builds().get_build_properties(1).get(),
            (db::Properties{{"p", {json("good"), "src"}}}));
  // The limits are in characters: 255 two-byte characters fit.
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "\xC3\xA9";
  EXPECT_NO_THROW(db_->builds().set_build_property(1, wide, 1, "src").get());
}

TEST_P(BuildsContract, RacingSetBuildPropertyKeepsOneWrittenValue) {
  insert(base());
  insert({build_row(1, 1, 20, 41)});
  race(8, [&](int i) { db_->builds().set_build_property(1, "p", i, "t").get(); });
  auto props = db_->builds().get_build_properties(1).get();
  ASSERT_EQ(props.size(), 1u);
  ASSERT_TRUE(props.at("p").value->is_number_integer());
  int v = props.at("p").value->get<int>();
  EXPECT_GE(v, 0);
  EXPECT_LT(v, 8);
}

// ------------------------------------------------------------------ previous successful build

// Stamps: 50 = (r, main), 51 = (r, dev), 52 = (other, main). Buildsets: 60 {50}, 61 {51},
// 62 {50, 52}. Requests 70, 71, 72 for those buildsets on builder 20.
std::vector<td::Row> history() {
  return {td::SourceStamp{.id = 50, .branch = "main", .revision = "a", .repository = "r"},
          td::SourceStamp{.id = 51, .branch = "dev", .revision = "b", .repository = "r"},
          td::SourceStamp{.id = 52, .branch = "main", .revision = "c", .repository = "other"},
          td::Buildset{.id = 60},
          td::Buildset{.id = 61},
          td::Buildset{.id = 62},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 60, .sourcestampid = 50},
          td::BuildsetSourceStamp{.id = 2, .buildsetid = 61, .sourcestampid = 51},
          td::BuildsetSourceStamp{.id = 3, .buildsetid = 62, .sourcestampid = 50},
          td::BuildsetSourceStamp{.id = 4, .buildsetid = 62, .sourcestampid = 52},
          td::BuildRequest{.id = 70, .buildsetid = 60, .builderid = 20},
          td::BuildRequest{.id = 71, .buildsetid = 61, .builderid = 20},
          td::BuildRequest{.id = 72, .buildsetid = 62, .builderid = 20},
          build_row(101, 1, 20, 70, results::kSuccess, 5000),
          build_row(102, 2, 20, 71, results::kSuccess, 5000),
          build_row(103, 3, 20, 70, results::kFailure, 5000),
          build_row(104, 4, 20, 72, results::kSuccess, 5000),
          build_row(105, 5, 20, 70, results::kSuccess, 5000),
          build_row(106, 6, 20, 70)};
}

db::SourceStamp stamp(std::string repository, std::optional<std::string> branch,
                      std::string revision = "zzz", std::string codebase = "") {
  db::SourceStamp s;
  s.branch = std::move(branch);
  s.revision = std::move(revision);
  s.repository = std::move(repository);
  s.codebase = std::move(codebase);
  return s;
}

std::optional<int> number_of(const std::optional<db::Build>& b) {
  return b ? std::optional<int>(b->number) : std::nullopt;
}

TEST_P(BuildsContract, PrevSuccessfulBuildMatchesRepositoryBranchAndCodebase) {
  insert(base());
  insert(history());
  auto& b = db_->builds();
  auto main = stamp("r", "main");  // another revision: only repository/branch/codebase count
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 6, {main}).get()), 5);
  // 4 has an extra stamp, 3 failed, 2 is another branch.
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 5, {main}).get()), 1);
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 1, {main}).get()), std::nullopt);
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 100, {stamp("r", "dev")}).get()), 2);
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 100, {stamp("other", "main"), main}).get()),
            4);
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 100, {stamp("r", "main", "a", "cb")}).get()),
            std::nullopt);
  EXPECT_EQ(number_of(b.get_prev_successful_build(20, 100, {stamp("r", std::nullopt)}).get()),
            std::nullopt);
  EXPECT_EQ(number_of(b.get_prev_successful_build(21, 100, {main}).get()), std::nullopt);
  EXPECT_EQ(number_of(b.get_prev_successful_build(99, 100, {main}).get()), std::nullopt);
}

// Buildbot orders the candidates by complete_at (newest first), not by number; ties go to the
// higher number. The blame list uses the same rule (ChangesContract.BlameListUses...).
TEST_P(BuildsContract, PrevSuccessfulBuildIsTheMostRecentlyCompletedNotTheHighestNumber) {
  insert(base());
  insert(history());  // 101, 102, 104, 105 succeeded, all completed at 5000
  insert({build_row(107, 7, 20, 70, results::kSuccess, 4000),
          build_row(108, 8, 20, 70, results::kSuccess, 9000),
          build_row(109, 9, 20, 70, results::kSuccess, 3000)});
  auto main = stamp("r", "main");
  EXPECT_EQ(number_of(db_->builds().get_prev_successful_build(20, 10, {main}).get()), 8);
  // Below 8: 105 and 101 completed at 5000 (the tie goes to 5), after 107 (4000).
  EXPECT_EQ(number_of(db_->builds().get_prev_successful_build(20, 8, {main}).get()), 5);
}

TEST_P(BuildsContract, PrevSuccessfulBuildLooksPastManyNonMatchingBuilds) {
  insert(base());
  insert(history());
  std::vector<td::Row> rows;
  for (int i = 0; i < 130; ++i) {
    rows.push_back(build_row(200 + i, 10 + i, 20, 71, results::kSuccess, 6000));
  }
  insert(rows);
  EXPECT_EQ(
      number_of(db_->builds().get_prev_successful_build(20, 1000, {stamp("r", "main")}).get()), 5);
  EXPECT_EQ(number_of(db_->builds().get_prev_successful_build(20, 1000, {stamp("r", "dev")}).get()),
            139);
  EXPECT_EQ(number_of(db_->builds().get_prev_successful_build(20, 1000, {stamp("x", "y")}).get()),
            std::nullopt);
}

}  // namespace
}  // namespace ym::test
