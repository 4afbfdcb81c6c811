#include <algorithm>
#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::StepUrl;

YM_CONTRACT_SUITE(StepsContract);

// One build (id 1) and an empty second build (id 2).
std::vector<td::Row> base() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Builder{.id = 20, .name = "b20"},
          td::Buildset{.id = 40},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .masterid = 10},
          td::Build{.id = 2, .number = 2, .builderid = 20, .buildrequestid = 41, .masterid = 10}};
}

std::vector<std::string> names(const std::vector<db::Step>& steps) {
  std::vector<std::string> out;
  for (const auto& s : steps) out.push_back(s.name);
  return out;
}

// ------------------------------------------------------------------ add_step

TEST_P(StepsContract, AddStepNumbersFromZeroAndLeavesTheStepUnstarted) {
  insert(base());
  auto a = db_->steps().add_step(1, "checkout", "pending").get();
  clock_.advance(5);
  auto b = db_->steps().add_step(1, "compile", "").get();
  auto c = db_->steps().add_step(2, "checkout", "").get();
  EXPECT_EQ(a.number, 0);
  EXPECT_EQ(a.name, "checkout");
  EXPECT_EQ(b.number, 1);
  EXPECT_EQ(c.number, 0);
  auto s = db_->steps().get_step(a.id).get();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, a.id);
  EXPECT_EQ(s->number, 0);
  EXPECT_EQ(s->name, "checkout");
  EXPECT_EQ(s->buildid, 1);
  EXPECT_FALSE(s->started_at);  // NULL until start_step, as in Buildbot
  EXPECT_FALSE(s->complete_at);
  EXPECT_EQ(s->state_string, "pending");
  EXPECT_FALSE(s->results);
  EXPECT_TRUE(s->urls.empty());
  EXPECT_FALSE(s->hidden);
  db_->steps().start_step(b.id).get();
  EXPECT_EQ(db_->steps().get_step(b.id).get()->started_at,
            std::optional<Timestamp>(clock_.at(*clock_.now)));
  EXPECT_FALSE(db_->steps().get_step(a.id).get()->started_at);
}

TEST_P(StepsContract, AddStepContinuesAfterTheHighestNumber) {
  insert(base());
  insert({td::Step{.id = 5, .number = 7, .name = "late", .buildid = 1}});
  EXPECT_EQ(db_->steps().add_step(1, "next", "").get().number, 8);
}

TEST_P(StepsContract, AddStepGivesATakenNameTheFirstFreeSuffix) {
  insert(base());
  insert({td::Step{.id = 5, .number = 0, .name = "test", .buildid = 1},
          td::Step{.id = 6, .number = 1, .name = "test_1", .buildid = 1},
          td::Step{.id = 7, .number = 2, .name = "test_3", .buildid = 1}});
  EXPECT_EQ(db_->steps().add_step(1, "test", "").get().name, "test_2");
  EXPECT_EQ(db_->steps().add_step(1, "test", "").get().name, "test_4");
  EXPECT_EQ(db_->steps().add_step(1, "test_1", "").get().name, "test_1_1");
  EXPECT_EQ(db_->steps().add_step(2, "test", "").get().name, "test");  // another build
  EXPECT_EQ(db_->steps().get_step_by_name(1, "test_2").get()->number, 3);
}

TEST_P(StepsContract, AddStepShortensALongNameToFitItsSuffix) {
  insert(base());
  std::string longest(db::kStepNameMax, 'a');
  EXPECT_EQ(db_->steps().add_step(1, longest, "").get().name, longest);
  auto second = db_->steps().add_step(1, longest, "").get();
  EXPECT_EQ(second.name, std::string(db::kStepNameMax - 2, 'a') + "_1");
  std::vector<std::string> got;
  for (int i = 0; i < 10; ++i) got.push_back(db_->steps().add_step(1, longest, "").get().name);
  EXPECT_EQ(got.back(), std::string(db::kStepNameMax - 3, 'a') + "_11");
  for (const auto& n : got) EXPECT_LE(n.size(), db::kStepNameMax);
  auto all = names(db_->steps().get_steps(1).get());
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
}

TEST_P(StepsContract, AddStepRejectsBadInputAndUnknownBuilds) {
  insert(base());
  for (std::string bad : {std::string(""), std::string("a b"), std::string("9lives"),
                          std::string(db::kStepNameMax + 1, 's'), std::string("caf\xC3\xA9")}) {
    EXPECT_THROW(db_->steps().add_step(1, bad, "").get(), db::InvalidIdentifier) << bad;
  }
  EXPECT_THROW(db_->steps().add_step(1, "ok", "bad \xff").get(), db::InvalidArgument);
  EXPECT_THROW(db_->steps().add_step(99, "ok", "").get(), db::NotFound);
  EXPECT_TRUE(db_->steps().get_steps(1).get().empty());
}

TEST_P(StepsContract, ConcurrentAddStepKeepsNumbersAndNamesUnique) {
  insert(base());
  constexpr int kThreads = 8, kEach = 3;
  std::vector<std::vector<db::AddedStep>> added(kThreads);
  race(kThreads, [&](int i) {
    for (int k = 0; k < kEach; ++k) added[i].push_back(db_->steps().add_step(1, "step", "").get());
  });
  auto steps = db_->steps().get_steps(1).get();
  ASSERT_EQ(steps.size(), size_t{kThreads * kEach});
  std::set<std::string> unique_names;
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].number, static_cast<int>(i));
    unique_names.insert(steps[i].name);
  }
  EXPECT_EQ(unique_names.size(), steps.size());
  EXPECT_TRUE(unique_names.count("step"));
  EXPECT_TRUE(unique_names.count("step_" + std::to_string(kThreads * kEach - 1)));
  for (const auto& v : added) {
    for (const auto& a : v) {
      auto s = db_->steps().get_step(a.id).get();
      EXPECT_EQ(s->number, a.number);
      EXPECT_EQ(s->name, a.name);
    }
  }
}

// ------------------------------------------------------------------ getters

TEST_P(StepsContract, GetStepsOrdersByNumber) {
  insert(base());
  insert({td::Step{.id = 5, .number = 2, .name = "c", .buildid = 1},
          td::Step{.id = 6, .number = 0, .name = "a", .buildid = 1},
          td::Step{.id = 7, .number = 1, .name = "b", .buildid = 1},
          td::Step{.id = 8, .number = 0, .name = "a", .buildid = 2}});
  EXPECT_EQ(names(db_->steps().get_steps(1).get()), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(db_->steps().get_steps(99).get().empty());
}

TEST_P(StepsContract, GetStepByIdNumberOrName) {
  insert(base());
  insert({td::Step{.id = 5,
                   .number = 3,
                   .name = "compile",
                   .buildid = 1,
                   .started_at = 100,
                   .complete_at = 200,
                   .state_string = "done",
                   .results = 2,
                   .urls_json = R"([{"name": "log", "url": "http://x/1"}])",
                   .hidden = true}});
  db::Step expected{5,
                    3,
                    "compile",
                    1,
                    clock_.at(100),
                    clock_.at(200),
                    "done",
                    2,
                    {StepUrl{"log", "http://x/1"}},
                    true};
  EXPECT_EQ(db_->steps().get_step(5).get(), std::optional<db::Step>(expected));
  EXPECT_EQ(db_->steps().get_step_by_number(1, 3).get(), std::optional<db::Step>(expected));
  EXPECT_EQ(db_->steps().get_step_by_name(1, "compile").get(), std::optional<db::Step>(expected));
  EXPECT_FALSE(db_->steps().get_step(6).get());
  EXPECT_FALSE(db_->steps().get_step_by_number(1, 4).get());
  EXPECT_FALSE(db_->steps().get_step_by_number(2, 3).get());
  EXPECT_FALSE(db_->steps().get_step_by_name(1, "link").get());
  EXPECT_FALSE(db_->steps().get_step_by_name(2, "compile").get());
}

TEST_P(StepsContract, StepNotStartedHasNoStartTime) {
  insert(base());
  insert(
      {td::Step{.id = 5, .number = 0, .name = "later", .buildid = 1, .started_at = std::nullopt}});
  EXPECT_FALSE(db_->steps().get_step(5).get()->started_at);
}

// ------------------------------------------------------------------ updates

TEST_P(StepsContract, StartStepSetsStartedNow) {
  insert(base());
  insert(
      {td::Step{.id = 5, .number = 0, .name = "later", .buildid = 1, .started_at = std::nullopt}});
  clock_.advance(30);
  db_->steps().start_step(5).get();
  EXPECT_EQ(db_->steps().get_step(5).get()->started_at,
            std::optional<Timestamp>(clock_.at(*clock_.now)));
  db_->steps().start_step(5).get();  // same value again
}

TEST_P(StepsContract, SetStepStateString) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "one").get();
  db_->steps().set_step_state_string(a.id, "two \xE2\x9C\x93").get();
  db_->steps().set_step_state_string(a.id, "two \xE2\x9C\x93").get();
  EXPECT_EQ(db_->steps().get_step(a.id).get()->state_string, "two \xE2\x9C\x93");
  EXPECT_THROW(db_->steps().set_step_state_string(a.id, "\xC3\x28").get(), db::InvalidArgument);
  EXPECT_EQ(db_->steps().get_step(a.id).get()->state_string, "two \xE2\x9C\x93");
}

TEST_P(StepsContract, FinishStepIsUnconditional) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "").get();
  clock_.advance(10);
  db_->steps().finish_step(a.id, db::results::kWarnings, true).get();
  auto s = db_->steps().get_step(a.id).get();
  EXPECT_EQ(s->results, std::optional<int>(db::results::kWarnings));
  EXPECT_TRUE(s->hidden);
  EXPECT_EQ(s->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  clock_.advance(10);
  db_->steps().finish_step(a.id, db::results::kSuccess, false).get();
  s = db_->steps().get_step(a.id).get();
  EXPECT_EQ(s->results, std::optional<int>(db::results::kSuccess));
  EXPECT_FALSE(s->hidden);
  EXPECT_EQ(s->complete_at, std::optional<Timestamp>(clock_.at(*clock_.now)));
  db_->steps().finish_step(a.id, db::results::kSuccess, false).get();  // the same values again
}

// As Buildbot's startStep, setStepStateString and finishStep (the reference is silent): an
// update of a step that does not exist is not an error and changes nothing. Bad text is still
// refused first.
TEST_P(StepsContract, UpdatesOfAnUnknownStepChangeNothing) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "one").get();
  auto before = db_->steps().get_step(a.id).get();
  clock_.advance(10);
  db_->steps().start_step(99).get();
  db_->steps().set_step_state_string(99, "x").get();
  db_->steps().finish_step(99, db::results::kFailure, true).get();
  EXPECT_THROW(db_->steps().set_step_state_string(99, "\xC3\x28").get(), db::InvalidArgument);
  EXPECT_FALSE(db_->steps().get_step(99).get());
  EXPECT_EQ(db_->steps().get_step(a.id).get(), before);
  EXPECT_EQ(db_->steps().get_steps(1).get().size(), 1u);
}

TEST_P(StepsContract, AddUrlAppendsInOrderWithoutDuplicates) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "").get();
  db_->steps().add_url(a.id, "log", "http://x/1").get();
  db_->steps().add_url(a.id, "report", "http://x/r").get();
  db_->steps().add_url(a.id, "log", "http://x/1").get();  // already there: not added
  db_->steps().add_url(a.id, "log", "http://x/2").get();  // same name, other url: added
  db_->steps().add_url(a.id, "caf\xC3\xA9", "http://x/\xE2\x9C\x93").get();
  EXPECT_EQ(db_->steps().get_step(a.id).get()->urls,
            (std::vector<StepUrl>{{"log", "http://x/1"},
                                  {"report", "http://x/r"},
                                  {"log", "http://x/2"},
                                  {"caf\xC3\xA9", "http://x/\xE2\x9C\x93"}}));
}

TEST_P(StepsContract, AddUrlRejectsUnknownStepsAndInvalidText) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "").get();
  EXPECT_THROW(db_->steps().add_url(99, "n", "u").get(), db::NotFound);
  EXPECT_THROW(db_->steps().add_url(a.id, "n\xff", "u").get(), db::InvalidArgument);
  EXPECT_THROW(db_->steps().add_url(a.id, "n", "u\xff").get(), db::InvalidArgument);
  EXPECT_TRUE(db_->steps().get_step(a.id).get()->urls.empty());
}

TEST_P(StepsContract, ConcurrentAddUrlKeepsEveryUrl) {
  insert(base());
  auto a = db_->steps().add_step(1, "s", "").get();
  race(8, [&](int i) { db_->steps().add_url(a.id, "u" + std::to_string(i), "http://x").get(); });
  auto urls = db_->steps().get_step(a.id).get()->urls;
  std::set<std::string> got;
  for (const auto& u : urls) got.insert(u.name);
  EXPECT_EQ(urls.size(), 8u);
  EXPECT_EQ(got.size(), 8u);
}

}  // namespace
}  // namespace ym::test
