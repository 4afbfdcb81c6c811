// Test result sets and test results (Buildbot 3.7's test_result_sets, test_results, test_names,
// test_code_paths), on the fake and every backend.
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <set>

#include "contract/fixture.hpp"
#include "db/async.hpp"

namespace ym::test {
namespace {

using db::NewTestResult;
using db::ResultSpec;
using db::TestResult;
using db::TestResultSet;
using Op = db::FieldFilter::Op;

YM_CONTRACT_SUITE(TestResultsContract);

// Builders 77 and 78; build 40 (steps 50, 51) on 77 and build 41 (step 52) on 78.
std::vector<td::Row> two_builders() {
  return {td::Master{.id = 1},
          td::Builder{.id = 77, .name = "b77"},
          td::Builder{.id = 78, .name = "b78"},
          td::Buildset{.id = 20},
          td::BuildRequest{.id = 30, .buildsetid = 20, .builderid = 77},
          td::BuildRequest{.id = 31, .buildsetid = 20, .builderid = 78},
          td::Build{.id = 40, .number = 1, .builderid = 77, .buildrequestid = 30, .masterid = 1},
          td::Build{.id = 41, .number = 1, .builderid = 78, .buildrequestid = 31, .masterid = 1},
          td::Step{.id = 50, .number = 0, .name = "s0", .buildid = 40},
          td::Step{.id = 51, .number = 1, .name = "s1", .buildid = 40},
          td::Step{.id = 52, .number = 0, .name = "s0", .buildid = 41}};
}

// Names come back in the order they were stored (by hash within one call): sort to compare.
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

NewTestResult named(std::string name, std::string value = "1") {
  NewTestResult r;
  r.value = std::move(value);
  r.test_name = std::move(name);
  return r;
}

class SetMaker {
 public:
  explicit SetMaker(db::Db& db) : db_(db) {}
  int64_t add_set(int64_t builderid = 77, int64_t buildid = 40, int64_t stepid = 50,
                  std::string category = "pass_fail", std::string unit = "boolean") {
    return db_.test_result_sets()
        .add_test_result_set(builderid, buildid, stepid, "desc", category, unit)
        .get();
  }

 private:
  db::Db& db_;
};

TEST_P(TestResultsContract, AddedSetReadsBackIncomplete) {
  insert(two_builders());
  int64_t id = db_->test_result_sets()
                   .add_test_result_set(77, 40, 50, "cppunit \xE2\x9C\x93", "pass_fail", "boolean")
                   .get();
  auto got = db_->test_result_sets().get_test_result_set(id).get();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, (TestResultSet{id, 77, 40, 50, "cppunit \xE2\x9C\x93", "pass_fail", "boolean",
                                 std::nullopt, std::nullopt, false}));
  int64_t nodesc = db_->test_result_sets()
                       .add_test_result_set(77, 40, 51, std::nullopt, "performance", "ms")
                       .get();
  EXPECT_GT(nodesc, id);
  EXPECT_EQ(db_->test_result_sets().get_test_result_set(nodesc).get()->description, std::nullopt);
  EXPECT_EQ(db_->test_result_sets().get_test_result_set(nodesc + 100).get(), std::nullopt);
}

TEST_P(TestResultsContract, AnyCategoryAndUnitIsAccepted) {
  // Buildbot names standard categories and units but allows any string, the empty one too.
  insert(two_builders());
  int64_t id = db_->test_result_sets().add_test_result_set(77, 40, 50, "", "", "").get();
  auto got = db_->test_result_sets().get_test_result_set(id).get();
  EXPECT_EQ(got->category, "");
  EXPECT_EQ(got->value_unit, "");
  EXPECT_EQ(got->description, "");
}

TEST_P(TestResultsContract, GetSetsFiltersByBuilderBuildStepAndCompleteness) {
  insert(two_builders());
  SetMaker f(*db_);
  int64_t a = f.add_set(77, 40, 50);
  int64_t b = f.add_set(77, 40, 51, "performance", "ms");
  int64_t c = f.add_set(78, 41, 52);
  int64_t d = f.add_set(77, 40, 50, "code_issue", "message");
  db_->test_result_sets().complete_test_result_set(b, 3, 1).get();
  auto ids = [](const std::vector<TestResultSet>& sets) {
    std::vector<int64_t> out;
    for (const auto& s : sets) out.push_back(s.id);
    return out;
  };
  auto& sets = db_->test_result_sets();
  EXPECT_EQ(ids(sets.get_test_result_sets(77).get()), (std::vector<int64_t>{a, b, d}));
  EXPECT_EQ(ids(sets.get_test_result_sets(78).get()), (std::vector<int64_t>{c}));
  EXPECT_TRUE(sets.get_test_result_sets(999).get().empty());
  EXPECT_EQ(ids(sets.get_test_result_sets(77, {.stepid = 50}).get()), (std::vector<int64_t>{a, d}));
  EXPECT_EQ(ids(sets.get_test_result_sets(77, {.buildid = 40, .stepid = 51}).get()),
            (std::vector<int64_t>{b}));
  EXPECT_TRUE(sets.get_test_result_sets(77, {.buildid = 41}).get().empty());
  EXPECT_EQ(ids(sets.get_test_result_sets(77, {.complete = true}).get()), (std::vector<int64_t>{b}));
  EXPECT_EQ(ids(sets.get_test_result_sets(77, {.complete = false}).get()),
            (std::vector<int64_t>{a, d}));

  db::TestResultSetFilter by_spec;
  by_spec.spec.where("category", std::string("pass_fail"), Op::kNe).order_by("test_result_setid", true);
  EXPECT_EQ(ids(sets.get_test_result_sets(77, by_spec).get()), (std::vector<int64_t>{d, b}));
  db::TestResultSetFilter page;
  page.spec.order_by("category").take(2);
  EXPECT_EQ(ids(sets.get_test_result_sets(77, page).get()), (std::vector<int64_t>{d, a}));
  db::TestResultSetFilter done;
  done.spec.where("complete", int64_t{1});
  EXPECT_EQ(ids(sets.get_test_result_sets(77, done).get()), (std::vector<int64_t>{b}));
  db::TestResultSetFilter bad;
  bad.spec.where("no_such_field", int64_t{1});
  EXPECT_THROW(sets.get_test_result_sets(77, bad).get(), db::InvalidArgument);
}

TEST_P(TestResultsContract, CompletingASetRecordsTheCountsOnce) {
  insert(two_builders());
  SetMaker f(*db_);
  int64_t id = f.add_set();
  auto& sets = db_->test_result_sets();
  sets.complete_test_result_set(id, 10, 2).get();
  auto got = sets.get_test_result_set(id).get();
  EXPECT_TRUE(got->complete);
  EXPECT_EQ(got->tests_passed, 10);
  EXPECT_EQ(got->tests_failed, 2);
  // A second completion is refused and changes nothing.
  EXPECT_THROW(sets.complete_test_result_set(id, 99, 99).get(), db::TestResultSetAlreadyCompleted);
  EXPECT_EQ(*sets.get_test_result_set(id).get(), *got);
  // So is one of a set that does not exist (Buildbot raises the same exception).
  EXPECT_THROW(sets.complete_test_result_set(id + 1000).get(), db::TestResultSetAlreadyCompleted);
}

TEST_P(TestResultsContract, CompletingWithoutCountsLeavesThemUnset) {
  insert(two_builders());
  SetMaker f(*db_);
  int64_t none = f.add_set();
  int64_t passed_only = f.add_set();
  db_->test_result_sets().complete_test_result_set(none).get();
  db_->test_result_sets().complete_test_result_set(passed_only, 7, std::nullopt).get();
  auto a = db_->test_result_sets().get_test_result_set(none).get();
  EXPECT_TRUE(a->complete);
  EXPECT_EQ(a->tests_passed, std::nullopt);
  EXPECT_EQ(a->tests_failed, std::nullopt);
  auto b = db_->test_result_sets().get_test_result_set(passed_only).get();
  EXPECT_EQ(b->tests_passed, 7);
  EXPECT_EQ(b->tests_failed, std::nullopt);
}

TEST_P(TestResultsContract, RacingCompletionsLetExactlyOneWin) {
  insert(two_builders());
  int64_t id = SetMaker(*db_).add_set();
  std::atomic<int> won{0}, refused{0};
  race(8, [&](int i) {
    try {
      db_->test_result_sets().complete_test_result_set(id, i, i).get();
      ++won;
    } catch (const db::TestResultSetAlreadyCompleted&) {
      ++refused;
    }
  });
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  auto got = db_->test_result_sets().get_test_result_set(id).get();
  EXPECT_EQ(got->tests_passed, got->tests_failed);
}

TEST_P(TestResultsContract, AddingASetRefusesUnknownOrMismatchedIdsAndAddsNothing) {
  insert(two_builders());
  auto& sets = db_->test_result_sets();
  EXPECT_THROW(sets.add_test_result_set(999, 40, 50, "d", "c", "u").get(), db::NotFound);
  EXPECT_THROW(sets.add_test_result_set(77, 999, 50, "d", "c", "u").get(), db::NotFound);
  EXPECT_THROW(sets.add_test_result_set(77, 40, 999, "d", "c", "u").get(), db::NotFound);
  // Buildbot stores these; a set whose step is not in its build would be found under the wrong
  // build or builder (docs/buildbot-compatibility.md).
  EXPECT_THROW(sets.add_test_result_set(77, 40, 52, "d", "c", "u").get(), db::InvalidArgument);
  EXPECT_THROW(sets.add_test_result_set(78, 40, 50, "d", "c", "u").get(), db::InvalidArgument);
  EXPECT_THROW(sets.add_test_result_set(77, 41, 52, "d", "c", "u").get(), db::InvalidArgument);
  EXPECT_THROW(sets.add_test_result_set(77, 40, 50, std::string("\xC3\x28"), "c", "u").get(),
               db::InvalidArgument);
  EXPECT_THROW(sets.add_test_result_set(77, 40, 50, "d", std::string("c\0c", 3), "u").get(),
               db::InvalidArgument);
  EXPECT_THROW(sets.add_test_result_set(77, 40, 50, "d", "c", "\xFF").get(), db::InvalidArgument);
  EXPECT_TRUE(sets.get_test_result_sets(77).get().empty());
  EXPECT_TRUE(sets.get_test_result_sets(78).get().empty());
}

TEST_P(TestResultsContract, AddedResultsReadBackWithTheirNamesAndPaths) {
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  NewTestResult full{"0", "suite.test_one", "src/one.cpp", 12, 1'500'000'000'000};
  NewTestResult path_only;
  path_only.value = "1";
  path_only.test_code_path = "src/two.cpp";
  path_only.line = 0;
  db_->test_results().add_test_results(77, set, {full, named("suite.test_two"), path_only}).get();
  auto got = db_->test_results().get_test_results(77, set).get();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (TestResult{got[0].id, 77, set, "suite.test_one", "src/one.cpp", 12,
                                1'500'000'000'000, "0"}));
  EXPECT_EQ(got[1], (TestResult{got[1].id, 77, set, "suite.test_two", std::nullopt, std::nullopt,
                                std::nullopt, "1"}));
  EXPECT_EQ(got[2], (TestResult{got[2].id, 77, set, std::nullopt, "src/two.cpp", 0, std::nullopt,
                                "1"}));
  EXPECT_LT(got[0].id, got[1].id);
  EXPECT_LT(got[1].id, got[2].id);
  EXPECT_EQ(db_->test_results().get_test_result(got[2].id).get(), got[2]);
  EXPECT_EQ(db_->test_results().get_test_result(got[2].id + 100).get(), std::nullopt);
  // Another builder, or a set that does not exist, has none.
  EXPECT_TRUE(db_->test_results().get_test_results(78, set).get().empty());
  EXPECT_TRUE(db_->test_results().get_test_results(77, set + 100).get().empty());
  // Adding nothing is allowed; adding to a complete set too (as in Buildbot).
  db_->test_results().add_test_results(77, set, {}).get();
  db_->test_result_sets().complete_test_result_set(set, 1, 1).get();
  db_->test_results().add_test_results(77, set, {named("late")}).get();
  EXPECT_EQ(db_->test_results().get_test_results(77, set).get().size(), 4u);
}

TEST_P(TestResultsContract, NamesAndPathsAreStoredOncePerBuilder) {
  insert(two_builders());
  SetMaker f(*db_);
  int64_t s1 = f.add_set(77, 40, 50);
  int64_t s2 = f.add_set(77, 40, 51);
  int64_t other = f.add_set(78, 41, 52);
  auto& results = db_->test_results();
  NewTestResult both{"1", "t.a", "a.cpp", std::nullopt, std::nullopt};
  results.add_test_results(77, s1, {both, named("t.b"), both, named("t.a", "0")}).get();
  results.add_test_results(77, s2, {named("t.b"), named("t.c"), both}).get();
  results.add_test_results(78, other, {both}).get();
  EXPECT_EQ(sorted(results.get_test_names(77).get()),
            (std::vector<std::string>{"t.a", "t.b", "t.c"}));
  EXPECT_EQ(results.get_test_names(78).get(), (std::vector<std::string>{"t.a"}));
  EXPECT_EQ(results.get_test_code_paths(77).get(), (std::vector<std::string>{"a.cpp"}));
  // Buildbot 3.7 ignores the builder here and returns every builder's paths
  // (docs/buildbot-compatibility.md).
  EXPECT_EQ(results.get_test_code_paths(78).get(), (std::vector<std::string>{"a.cpp"}));
  EXPECT_TRUE(results.get_test_code_paths(999).get().empty());
  EXPECT_TRUE(results.get_test_names(999).get().empty());
  // Every result still reads its own name and value.
  auto got = results.get_test_results(77, s1).get();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].test_name, "t.a");
  EXPECT_EQ(got[3].value, "0");
  EXPECT_EQ(got[3].test_code_path, std::nullopt);
}

TEST_P(TestResultsContract, PrefixFiltersAreExactAndCaseSensitive) {
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  std::vector<NewTestResult> rs;
  for (std::string n : {"test_a", "test_b", "Test_c", "te%st", "tesxt", "\xC3\xA9t\xC3\xA9", "test_"}) {
    rs.push_back(NewTestResult{"1", n, "dir/" + n, std::nullopt, std::nullopt});
  }
  db_->test_results().add_test_results(77, set, rs).get();
  auto& r = db_->test_results();
  EXPECT_EQ(sorted(r.get_test_names(77, "test_").get()),
            (std::vector<std::string>{"test_", "test_a", "test_b"}));
  EXPECT_EQ(r.get_test_names(77, "te%").get(), (std::vector<std::string>{"te%st"}));
  EXPECT_EQ(r.get_test_names(77, "Test").get(), (std::vector<std::string>{"Test_c"}));
  EXPECT_EQ(r.get_test_names(77, "\xC3\xA9").get(), (std::vector<std::string>{"\xC3\xA9t\xC3\xA9"}));
  EXPECT_EQ(r.get_test_names(77, "test_a_longer").get(), std::vector<std::string>{});
  EXPECT_EQ(r.get_test_names(77, "").get().size(), 7u);
  EXPECT_EQ(sorted(r.get_test_code_paths(77, "dir/test_").get()),
            (std::vector<std::string>{"dir/test_", "dir/test_a", "dir/test_b"}));
  EXPECT_THROW(r.get_test_names(77, std::string("\xC3")).get(), db::InvalidArgument);
}

TEST_P(TestResultsContract, NameAndPathSpecsOrderAndPage) {
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  db_->test_results().add_test_results(77, set, {named("c"), named("a"), named("b")}).get();
  auto& r = db_->test_results();
  // Default order: the order the names were first stored (by hash within one call), so sort.
  EXPECT_EQ(sorted(r.get_test_names(77).get()), (std::vector<std::string>{"a", "b", "c"}));
  ResultSpec by_name;
  by_name.order_by("name", true).take(2);
  EXPECT_EQ(r.get_test_names(77, std::nullopt, by_name).get(), (std::vector<std::string>{"c", "b"}));
  ResultSpec skip;
  skip.order_by("name");
  skip.offset = 1;
  EXPECT_EQ(r.get_test_names(77, std::nullopt, skip).get(), (std::vector<std::string>{"b", "c"}));
  ResultSpec only;
  only.where("name", std::string("b"));
  EXPECT_EQ(r.get_test_names(77, std::nullopt, only).get(), (std::vector<std::string>{"b"}));
  ResultSpec bad;
  bad.order_by("path");
  EXPECT_THROW(r.get_test_names(77, std::nullopt, bad).get(), db::InvalidArgument);
  EXPECT_THROW(r.get_test_code_paths(77, std::nullopt, only).get(), db::InvalidArgument);
}

TEST_P(TestResultsContract, ResultSpecsFilterAndOrderResults) {
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  db_->test_results()
      .add_test_results(77, set,
                        {NewTestResult{"1", "b", std::nullopt, 3, 30},
                         NewTestResult{"0", "a", std::nullopt, 1, 10},
                         NewTestResult{"1", std::nullopt, "p", 2, std::nullopt}})
      .get();
  auto values = [](const std::vector<TestResult>& rs) {
    std::vector<std::optional<int64_t>> out;
    for (const auto& r : rs) out.push_back(r.line);
    return out;
  };
  auto& r = db_->test_results();
  ResultSpec ones;
  ones.where("value", std::string("1"));
  EXPECT_EQ(values(r.get_test_results(77, set, ones).get()),
            (std::vector<std::optional<int64_t>>{3, 2}));
  ResultSpec by_name;
  by_name.order_by("test_name");  // null first
  EXPECT_EQ(values(r.get_test_results(77, set, by_name).get()),
            (std::vector<std::optional<int64_t>>{2, 1, 3}));
  ResultSpec slow;
  slow.where("duration_ns", int64_t{10}, Op::kGt);
  EXPECT_EQ(values(r.get_test_results(77, set, slow).get()), (std::vector<std::optional<int64_t>>{3}));
  ResultSpec no_path;
  no_path.where("test_code_path", nullptr).order_by("line", true).take(1);
  EXPECT_EQ(values(r.get_test_results(77, set, no_path).get()),
            (std::vector<std::optional<int64_t>>{3}));
  ResultSpec bad;
  bad.where("name", std::string("a"));
  EXPECT_THROW(r.get_test_results(77, set, bad).get(), db::InvalidArgument);
}

TEST_P(TestResultsContract, BadResultsAreRefusedAndNothingIsStored) {
  insert(two_builders());
  SetMaker f(*db_);
  int64_t set = f.add_set();
  int64_t other = f.add_set(78, 41, 52);
  auto& r = db_->test_results();
  EXPECT_THROW(r.add_test_results(77, set + 1000, {named("x")}).get(), db::NotFound);
  // Buildbot stores these under the wrong builder, where get_test_results never finds them.
  EXPECT_THROW(r.add_test_results(77, other, {named("x")}).get(), db::InvalidArgument);
  NewTestResult nameless;
  nameless.value = "1";
  nameless.line = 5;
  EXPECT_THROW(r.add_test_results(77, set, {named("fine"), nameless}).get(), db::InvalidArgument);
  EXPECT_THROW(r.add_test_results(77, set, {named("fine"), named("v", "\xC3\x28")}).get(),
               db::InvalidArgument);
  EXPECT_THROW(r.add_test_results(77, set, {named("fine"), named(std::string("n\0l", 3))}).get(),
               db::InvalidArgument);
  NewTestResult bad_path{"1", std::nullopt, std::string("\xE2\x82"), std::nullopt, std::nullopt};
  EXPECT_THROW(r.add_test_results(77, set, {named("fine"), bad_path}).get(), db::InvalidArgument);
  EXPECT_TRUE(r.get_test_results(77, set).get().empty());
  EXPECT_TRUE(r.get_test_results(78, other).get().empty());
  EXPECT_TRUE(r.get_test_names(77).get().empty());
  EXPECT_TRUE(r.get_test_names(78).get().empty());
  EXPECT_TRUE(r.get_test_code_paths(77).get().empty());
}

TEST_P(TestResultsContract, LongNamesAndPathsAreKeptWholeAndToldApart) {
  // Buildbot declares names and paths as unlimited text: so do we (its MySQL index looks at
  // their first 255 characters only; ours at a hash of the whole text).
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  std::string base(300, 'n');
  std::string huge;
  for (int i = 0; i < 20000; ++i) huge += "\xE2\x9C\x93";  // 60000 bytes
  std::vector<NewTestResult> rs{named(base + "1"), named(base + "2"), named(huge),
                                NewTestResult{"1", std::nullopt, huge, std::nullopt, std::nullopt}};
  db_->test_results().add_test_results(77, set, rs).get();
  db_->test_results().add_test_results(77, set, {named(huge), named(base + "2")}).get();
  EXPECT_EQ(sorted(db_->test_results().get_test_names(77).get()),
            sorted({base + "1", base + "2", huge}));
  EXPECT_EQ(db_->test_results().get_test_code_paths(77).get(), std::vector<std::string>{huge});
  auto got = db_->test_results().get_test_results(77, set).get();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[2].test_name, huge);
  EXPECT_EQ(got[3].test_code_path, huge);
  EXPECT_EQ(got[4].test_name, huge);
}

TEST_P(TestResultsContract, ThousandsOfResultsInOneCall) {
  insert(two_builders());
  int64_t set = SetMaker(*db_).add_set();
  std::vector<NewTestResult> rs;
  for (int i = 0; i < 2500; ++i) {
    rs.push_back(NewTestResult{std::to_string(i % 2), "test_" + std::to_string(i % 1200),
                               "file_" + std::to_string(i % 7) + ".cpp", i, int64_t{i} * 1000});
  }
  db_->test_results().add_test_results(77, set, rs).get();
  auto got = db_->test_results().get_test_results(77, set).get();
  ASSERT_EQ(got.size(), 2500u);
  for (int i = 0; i < 2500; ++i) {
    ASSERT_EQ(got[i].test_name, rs[i].test_name) << i;
    ASSERT_EQ(got[i].test_code_path, rs[i].test_code_path) << i;
    ASSERT_EQ(got[i].line, i);
    ASSERT_EQ(got[i].duration_ns, int64_t{i} * 1000);
    ASSERT_EQ(got[i].value, rs[i].value);
  }
  EXPECT_EQ(db_->test_results().get_test_names(77).get().size(), 1200u);
  EXPECT_EQ(db_->test_results().get_test_code_paths(77).get().size(), 7u);
}

TEST_P(TestResultsContract, RacingAddsOfTheSameNamesStoreEachNameOnce) {
  insert(two_builders());
  SetMaker f(*db_);
  std::vector<int64_t> sets;
  for (int i = 0; i < 4; ++i) sets.push_back(f.add_set());
  race(4, [&](int i) {
    std::vector<NewTestResult> rs;
    for (int n = 0; n < 40; ++n) {
      // Overlapping, in a different order per caller.
      int k = (n * (i + 1)) % 40;
      rs.push_back(NewTestResult{"1", "t" + std::to_string(k), "p" + std::to_string(k % 5),
                                 std::nullopt, std::nullopt});
    }
    db_->test_results().add_test_results(77, sets[i], rs).get();
  });
  auto names = db_->test_results().get_test_names(77).get();
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(names.size(), unique.size());
  EXPECT_EQ(db_->test_results().get_test_code_paths(77).get().size(), 5u);
  for (int i = 0; i < 4; ++i) {
    auto got = db_->test_results().get_test_results(77, sets[i]).get();
    EXPECT_EQ(got.size(), 40u);
    for (const auto& r : got) EXPECT_TRUE(unique.count(*r.test_name));
  }
  std::set<std::string> want;
  for (int i = 0; i < 4; ++i) {
    for (int n = 0; n < 40; ++n) want.insert("t" + std::to_string((n * (i + 1)) % 40));
  }
  EXPECT_EQ(unique, want);
}

TEST_P(TestResultsContract, TestDataRowsReadBackThroughTheConnectors) {
  auto rows = two_builders();
  rows.push_back(td::TestResultSet{.id = 5, .builderid = 77, .buildid = 40, .stepid = 50,
                                   .tests_passed = 1, .tests_failed = 0, .complete = true});
  rows.push_back(td::TestName{.id = 7, .builderid = 77, .name = "planted"});
  rows.push_back(td::TestCodePath{.id = 8, .builderid = 77, .path = "planted.cpp"});
  rows.push_back(td::TestResult{.id = 9, .builderid = 77, .test_result_setid = 5,
                                .test_nameid = 7, .test_code_pathid = 8, .line = 3, .value = "0"});
  insert(rows);
  EXPECT_EQ(*db_->test_result_sets().get_test_result_set(5).get(),
            (TestResultSet{5, 77, 40, 50, "desc", "pass_fail", "boolean", 1, 0, true}));
  EXPECT_EQ(*db_->test_results().get_test_result(9).get(),
            (TestResult{9, 77, 5, "planted", "planted.cpp", 3, std::nullopt, "0"}));
  // A planted name is found, not added again; new rows get ids after the planted ones.
  int64_t set = SetMaker(*db_).add_set();
  EXPECT_GT(set, 5);
  db_->test_results().add_test_results(77, set, {named("planted"), named("new")}).get();
  EXPECT_EQ(db_->test_results().get_test_names(77).get(),
            (std::vector<std::string>{"planted", "new"}));
  auto got = db_->test_results().get_test_results(77, set).get();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_GT(got[0].id, 9);
  // Rows that refer to nothing are refused.
  EXPECT_THROW(insert({td::TestResult{.id = 100, .builderid = 77, .test_result_setid = 555}}),
               db::ForeignKeyViolation);
  EXPECT_THROW(insert({td::TestName{.id = 100, .builderid = 555}}), db::ForeignKeyViolation);
  EXPECT_THROW(insert({td::TestName{.id = 101, .builderid = 77, .name = "planted"}}),
               db::UniqueViolation);
}

TEST_P(TestResultsContract, CompletionTokenFormsDeliverValuesAndTypedErrors) {
  insert(two_builders());
  std::future<int64_t> id = db_->test_result_sets().add_test_result_set(
      77, 40, 50, "d", "pass_only", "boolean", boost::asio::use_future);
  int64_t set = id.get();
  db_->test_results().add_test_results(77, set, std::vector<NewTestResult>{named("t")}, boost::asio::use_future).get();
  EXPECT_EQ(db_->test_results().get_test_names(77, boost::asio::use_future).get(),
            std::vector<std::string>{"t"});
  EXPECT_EQ(db_->test_results().get_test_results(77, set, boost::asio::use_future).get().size(), 1u);
  db_->test_result_sets().complete_test_result_set(set, 1, 0, boost::asio::use_future).get();
  EXPECT_THROW(db_->test_result_sets().complete_test_result_set(set, boost::asio::use_future).get(),
               db::TestResultSetAlreadyCompleted);
  EXPECT_TRUE(db_->test_result_sets().get_test_result_set(set, boost::asio::use_future).get()->complete);
  EXPECT_EQ(db_->test_result_sets().get_test_result_sets(77, boost::asio::use_future).get().size(), 1u);
  EXPECT_TRUE(db_->test_results().get_test_result(12345, boost::asio::use_future).get() == std::nullopt);
  EXPECT_TRUE(db_->test_results().get_test_code_paths(77, boost::asio::use_future).get().empty());
}

}  // namespace
}  // namespace ym::test
