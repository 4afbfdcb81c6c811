#include <atomic>
#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using nlohmann::json;

YM_CONTRACT_SUITE(StateContract);

TEST_P(StateContract, GetObjectIdCreatesAndFinds) {
  int64_t a = db_->state().get_object_id("nightly", "NightlyScheduler").get();
  EXPECT_EQ(db_->state().get_object_id("nightly", "NightlyScheduler").get(), a);
  int64_t b = db_->state().get_object_id("nightly", "OtherClass").get();
  EXPECT_NE(a, b);
  insert({td::Object{.id = 77, .name = "x", .class_name = "Y"}});
  EXPECT_EQ(db_->state().get_object_id("x", "Y").get(), 77);
}

// Empty names are names, as in Buildbot: each pair is its own object.
TEST_P(StateContract, GetObjectIdTakesEmptyNames) {
  int64_t a = db_->state().get_object_id("", "C").get();
  int64_t b = db_->state().get_object_id("n", "").get();
  int64_t c = db_->state().get_object_id("", "").get();
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
  EXPECT_EQ(db_->state().get_object_id("", "C").get(), a);
  EXPECT_EQ(db_->state().get_object_id("n", "").get(), b);
  EXPECT_EQ(db_->state().get_object_id("", "").get(), c);
}

TEST_P(StateContract, GetObjectIdRejectsBadInput) {
  EXPECT_THROW(db_->state().get_object_id("n", std::string(129, 'c')).get(), db::ValueTooLong);
  // 128 characters (not bytes) fit.
  std::string wide;
  for (int i = 0; i < 128; ++i) wide += "\xC3\xA9";
  EXPECT_NO_THROW(db_->state().get_object_id(wide, "C").get());
}

// Buildbot's ensureLength: an over-long object name is stored as its first 64 characters and the
// first 64 hex digits of its SHA-1 (40 exist), and the same long name finds the same object.
TEST_P(StateContract, GetObjectIdShortensAnOverlongNameLikeBuildbot) {
  std::string long_name(129, 'n');
  auto id = db_->state().get_object_id(long_name, "C").get();
  EXPECT_EQ(db_->state().get_object_id(long_name, "C").get(), id);
  std::string stored = std::string(64, 'n') + "cce7581c6c641034907c75f072351a2d5849b7b8";
  EXPECT_EQ(db_->state().get_object_id(stored, "C").get(), id);
}

TEST_P(StateContract, GetStateMissingIsNotFoundOrDefault) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  EXPECT_THROW(db_->state().get_state(o, "nothing").get(), db::NotFound);
  EXPECT_EQ(db_->state().get_state(o, "nothing", json(42)).get(), json(42));
  EXPECT_EQ(db_->state().get_state(o, "nothing", json(nullptr)).get(), json(nullptr));
}

TEST_P(StateContract, SetStateRoundTripsJsonValues) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  for (const json& v : {json(1), json("text \xE2\x9C\x93"), json::array({1, "two", nullptr}),
                        json{{"nested", {{"deep", true}}}}, json(nullptr), json(2.5)}) {
    EXPECT_EQ(db_->state().set_state(o, "k", v).get(), v);
    EXPECT_EQ(db_->state().get_state(o, "k").get(), v);
  }
}

TEST_P(StateContract, SetStateOverwrites) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  db_->state().set_state(o, "k", 1).get();
  db_->state().set_state(o, "k", 2).get();
  EXPECT_EQ(db_->state().get_state(o, "k").get(), json(2));
}

TEST_P(StateContract, SetStateRejectsUnstorableValuesAndKeepsTheOldOne) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  db_->state().set_state(o, "k", "good").get();
  EXPECT_THROW(db_->state().set_state(o, "k", std::string("\xC3\x28")).get(), db::InvalidArgument);
  EXPECT_THROW(db_->state().set_state(o, "", 1).get(), db::InvalidArgument);
  EXPECT_THROW(db_->state().set_state(o, std::string(256, 'k'), 1).get(), db::ValueTooLong);
  EXPECT_EQ(db_->state().get_state(o, "k").get(), json("good"));
}

TEST_P(StateContract, SetStateForAnUnknownObjectIsNotFound) {
  EXPECT_THROW(db_->state().set_state(12345, "k", 1).get(), db::NotFound);
}

TEST_P(StateContract, CorruptStoredJsonIsATypedError) {
  insert({td::Object{.id = 5, .name = "o", .class_name = "C"},
          td::ObjectState{.objectid = 5, .name = "bad", .value_json = "{not json"}});
  EXPECT_THROW(db_->state().get_state(5, "bad").get(), db::InvalidArgument);
}

TEST_P(StateContract, RacingSetStateLeavesOneOfTheWrittenValues) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  std::vector<json> returned(8);
  race(8, [&](int i) { returned[i] = db_->state().set_state(o, "k", i).get(); });
  json stored = db_->state().get_state(o, "k").get();
  ASSERT_TRUE(stored.is_number_integer());
  EXPECT_GE(stored.get<int>(), 0);
  EXPECT_LT(stored.get<int>(), 8);
  for (const auto& r : returned) {
    ASSERT_TRUE(r.is_number_integer());
    EXPECT_GE(r.get<int>(), 0);
    EXPECT_LT(r.get<int>(), 8);
  }
}

TEST_P(StateContract, AtomicCreateStateCreatesOnceAndReturnsExisting) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  int calls = 0;
  EXPECT_EQ(db_->state().atomic_create_state(o, "k", [&] { ++calls; return json("first"); }).get(),
            json("first"));
  EXPECT_EQ(db_->state().atomic_create_state(o, "k", [&] { ++calls; return json("second"); }).get(),
            json("first"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(db_->state().get_state(o, "k").get(), json("first"));
}

TEST_P(StateContract, AtomicCreateStateRaceGivesEveryoneTheSameValue) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  std::vector<json> got(8);
  race(8, [&](int i) {
    got[i] = db_->state().atomic_create_state(o, "token", [i] { return json(i); }).get();
  });
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(db_->state().get_state(o, "token").get(), got[0]);
}

TEST_P(StateContract, AtomicCreateStateErrorsChangeNothing) {
  int64_t o = db_->state().get_object_id("o", "C").get();
  EXPECT_THROW(db_->state()
                   .atomic_create_state(o, "k", [] { return json(std::string("\xff")); })
                   .get(),
               db::InvalidArgument);
  EXPECT_THROW(db_->state().get_state(o, "k").get(), db::NotFound);
  EXPECT_THROW(db_->state().atomic_create_state(999, "k", [] { return json(1); }).get(),
               db::NotFound);
}

TEST_P(StateContract, EightThreadsGettingOneNewObjectIdGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->state().get_object_id("shared", "Racer").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
}

}  // namespace
}  // namespace ym::test
