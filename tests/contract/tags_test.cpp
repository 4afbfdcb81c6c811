// Builder tags (Buildbot 3.7): Tags::find_tag_id, Builders::update_builder_info with tags, and the
// tags field of builder records.
#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using Names = std::vector<std::string>;

YM_CONTRACT_SUITE(TagsContract);

TEST_P(TagsContract, FindTagIdCreatesAndFinds) {
  int64_t a = db_->tags().find_tag_id("linux").get();
  EXPECT_EQ(db_->tags().find_tag_id("linux").get(), a);
  int64_t b = db_->tags().find_tag_id("Linux").get();
  EXPECT_NE(a, b);
  // Any text is a name: the empty one, spaces, non-ASCII, long.
  std::set<int64_t> ids{a, b};
  for (std::string n : {std::string(""), std::string("with space"), std::string("caf\xC3\xA9"),
                        std::string(2000, 't')}) {
    int64_t id = db_->tags().find_tag_id(n).get();
    EXPECT_EQ(db_->tags().find_tag_id(n).get(), id) << n;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 6u);
  insert({td::Tag{.id = 77, .name = "planted"}});
  EXPECT_EQ(db_->tags().find_tag_id("planted").get(), 77);
  EXPECT_GT(db_->tags().find_tag_id("after").get(), 77);
}

TEST_P(TagsContract, FindTagIdRejectsInvalidUtf8) {
  EXPECT_THROW(db_->tags().find_tag_id("bad\xC3").get(), db::InvalidArgument);
}

TEST_P(TagsContract, EightThreadsFindingOneNewTagGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->tags().find_tag_id("shared").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
}

TEST_P(TagsContract, UpdateBuilderInfoSetsDescriptionAndTagsInTheOrderGiven) {
  insert({td::Builder{.id = 20, .name = "b20"}, td::Builder{.id = 21, .name = "b21"}});
  EXPECT_TRUE(db_->builders().get_builder(20).get()->tags.empty());
  db_->builders().update_builder_info(20, "the description", {"zeta", "alpha", "mid"}).get();
  auto b = db_->builders().get_builder(20).get();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->description, std::optional<std::string>("the description"));
  EXPECT_EQ(b->tags, (Names{"zeta", "alpha", "mid"}));
  // The tags are shared rows: another builder tagged "alpha" uses the same tag.
  db_->builders().update_builder_info(21, std::nullopt, {"alpha"}).get();
  int64_t alpha = db_->tags().find_tag_id("alpha").get();
  db_->builders().update_builder_info(21, std::nullopt, {alpha, "new"}).get();
  auto all = db_->builders().get_builders().get();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].tags, (Names{"zeta", "alpha", "mid"}));
  EXPECT_EQ(all[1].tags, (Names{"alpha", "new"}));
  EXPECT_EQ(all[1].description, std::nullopt);
}

TEST_P(TagsContract, UpdateBuilderInfoReplacesTagsAndAnEmptyListRemovesThem) {
  insert({td::Builder{.id = 20, .name = "b20"}});
  db_->builders().update_builder_info(20, "d", {"a", "b"}).get();
  db_->builders().update_builder_info(20, "d2", {"b", "c"}).get();
  EXPECT_EQ(db_->builders().get_builder(20).get()->tags, (Names{"b", "c"}));
  db_->builders().update_builder_info(20, "d3", std::vector<db::TagRef>{}).get();
  auto b = db_->builders().get_builder(20).get();
  EXPECT_TRUE(b->tags.empty());
  EXPECT_EQ(b->description, std::optional<std::string>("d3"));
}

TEST_P(TagsContract, TheDescriptionOnlyFormLeavesTheTags) {
  insert({td::Builder{.id = 20, .name = "b20"}});
  db_->builders().update_builder_info(20, "d", {"keep"}).get();
  db_->builders().update_builder_info(20, std::optional<std::string>("other")).get();
  auto b = db_->builders().get_builder(20).get();
  EXPECT_EQ(b->tags, (Names{"keep"}));
  EXPECT_EQ(b->description, std::optional<std::string>("other"));
}

TEST_P(TagsContract, BadUpdatesFailTypedAndChangeNothing) {
  insert({td::Builder{.id = 20, .name = "b20"}, td::Tag{.id = 5, .name = "five"}});
  db_->builders().update_builder_info(20, "before", {"x"}).get();
  auto unchanged = [&] {
    auto b = db_->builders().get_builder(20).get();
    EXPECT_EQ(b->description, std::optional<std::string>("before"));
    EXPECT_EQ(b->tags, (Names{"x"}));
  };
  EXPECT_THROW(db_->builders().update_builder_info(999, "d", {"x"}).get(), db::NotFound);
  EXPECT_THROW(db_->builders().update_builder_info(20, "d", {"y", int64_t{404}}).get(), db::NotFound);
  unchanged();
  // One tag twice (by name, by name and id, or a new name twice) is a unique violation.
  EXPECT_THROW(db_->builders().update_builder_info(20, "d", {"x", "x"}).get(), db::UniqueViolation);
  EXPECT_THROW(db_->builders().update_builder_info(20, "d", {"five", int64_t{5}}).get(),
               db::UniqueViolation);
  EXPECT_THROW(db_->builders().update_builder_info(20, "d", {"brand-new", "brand-new"}).get(),
               db::UniqueViolation);
  unchanged();
  EXPECT_THROW(db_->builders().update_builder_info(20, "d", {"ok", "bad\xFF"}).get(),
               db::InvalidArgument);
  unchanged();
}

TEST_P(TagsContract, BuilderRecordsCarryTestDataTags) {
  insert({td::Master{.id = 7, .name = "m7"}, td::Builder{.id = 20, .name = "b20"},
          td::Builder{.id = 21, .name = "b21"}, td::BuilderMaster{.id = 1, .builderid = 21, .masterid = 7},
          td::Tag{.id = 1, .name = "one"}, td::Tag{.id = 2, .name = "two"},
          td::BuilderTag{.id = 10, .builderid = 21, .tagid = 2},
          td::BuilderTag{.id = 11, .builderid = 21, .tagid = 1},
          td::BuilderTag{.id = 12, .builderid = 20, .tagid = 1}});
  auto on7 = db_->builders().get_builders(7).get();
  ASSERT_EQ(on7.size(), 1u);
  EXPECT_EQ(on7[0], (db::Builder{21, "b21", std::nullopt, {7}, {"two", "one"}}));
  EXPECT_EQ(db_->builders().get_builder(20).get()->tags, (Names{"one"}));
  EXPECT_EQ(db_->tags().find_tag_id("two").get(), 2);
}

TEST_P(TagsContract, TestRowsMustReferToExistingRows) {
  insert({td::Builder{.id = 20, .name = "b20"}, td::Tag{.id = 1, .name = "one"}});
  EXPECT_THROW(insert({td::BuilderTag{.id = 1, .builderid = 20, .tagid = 2}}), db::ForeignKeyViolation);
  EXPECT_THROW(insert({td::BuilderTag{.id = 1, .builderid = 21, .tagid = 1}}), db::ForeignKeyViolation);
  EXPECT_THROW(insert({td::Tag{.id = 2, .name = "one"}}), db::UniqueViolation);
  insert({td::BuilderTag{.id = 1, .builderid = 20, .tagid = 1}});
  EXPECT_THROW(insert({td::BuilderTag{.id = 2, .builderid = 20, .tagid = 1}}), db::UniqueViolation);
}

TEST_P(TagsContract, RacingUpdatesLeaveOneOfTheGivenTagLists) {
  insert({td::Builder{.id = 20, .name = "b20"}});
  std::vector<Names> lists{{"a", "b"}, {"b", "c"}, {"c", "d", "e"}, {"shared"}};
  race(8, [&](int i) {
    const Names& l = lists[i % lists.size()];
    std::vector<db::TagRef> refs(l.begin(), l.end());
    db_->builders().update_builder_info(20, "d" + std::to_string(i), refs).get();
  });
  auto tags = db_->builders().get_builder(20).get()->tags;
  EXPECT_NE(std::find(lists.begin(), lists.end(), tags), lists.end()) << ::testing::PrintToString(tags);
}

}  // namespace
}  // namespace ym::test
