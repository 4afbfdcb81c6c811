#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::ResultSpec;
using db::SourceStamp;
using db::SourceStampSpec;

YM_CONTRACT_SUITE(SourceStampsContract);

SourceStampSpec plain(std::string revision = "abcd") {
  return SourceStampSpec{.branch = "master",
                         .revision = std::move(revision),
                         .repository = "https://example.org/repo.git",
                         .project = "proj",
                         .codebase = "cb"};
}

SourceStampSpec patched(std::string body) {
  SourceStampSpec s = plain();
  s.patch_body = std::move(body);
  s.patch_level = 1;
  s.patch_author = "alice";
  s.patch_comment = "try this";
  s.patch_subdir = "src";
  return s;
}

TEST_P(SourceStampsContract, FindSourceStampIdCreatesOnceAndReadsBack) {
  int64_t id = db_->sourcestamps().find_source_stamp_id(plain()).get();
  clock_.advance(100);
  EXPECT_EQ(db_->sourcestamps().find_source_stamp_id(plain()).get(), id);
  auto ss = db_->sourcestamps().get_source_stamp(id).get();
  ASSERT_TRUE(ss);
  SourceStamp want{.ssid = id,
                   .branch = "master",
                   .revision = "abcd",
                   .repository = "https://example.org/repo.git",
                   .project = "proj",
                   .codebase = "cb",
                   .created_at = clock_.at(1'700'000'000)};
  EXPECT_EQ(*ss, want);  // created_at is the first call's time, not the second's
  EXPECT_EQ(db_->sourcestamps().get_source_stamps().get().size(), 1u);
}

TEST_P(SourceStampsContract, EveryIdentifyingFieldMakesADifferentStamp) {
  auto& ss = db_->sourcestamps();
  std::set<int64_t> ids;
  SourceStampSpec base = plain();
  ids.insert(ss.find_source_stamp_id(base).get());
  auto with = [&](auto change) {
    SourceStampSpec s = base;
    change(s);
    ids.insert(ss.find_source_stamp_id(s).get());
  };
  with([](SourceStampSpec& s) { s.branch = "other"; });
  with([](SourceStampSpec& s) { s.branch = std::nullopt; });  // default branch, not ""
  with([](SourceStampSpec& s) { s.branch = ""; });
  with([](SourceStampSpec& s) { s.revision = "ef01"; });
  with([](SourceStampSpec& s) { s.revision = std::nullopt; });  // relative stamp
  with([](SourceStampSpec& s) { s.repository = "https://example.org/other.git"; });
  with([](SourceStampSpec& s) { s.project = "proj2"; });
  with([](SourceStampSpec& s) { s.codebase = ""; });
  EXPECT_EQ(ids.size(), 9u);
  EXPECT_EQ(ss.get_source_stamps().get().size(), 9u);
  // A relative stamp has one id over its lifetime.
  SourceStampSpec relative = base;
  relative.revision = std::nullopt;
  EXPECT_EQ(ss.find_source_stamp_id(relative).get(), ss.find_source_stamp_id(relative).get());
  EXPECT_EQ(ss.get_source_stamps().get().size(), 9u);
}

TEST_P(SourceStampsContract, FindSourceStampIdFindsTestRows) {
  insert({td::SourceStamp{.id = 234,
                          .branch = "br",
                          .revision = "rev",
                          .repository = "r",
                          .codebase = "cb",
                          .project = "p"},
          td::SourceStamp{.id = 235, .branch = std::nullopt, .revision = std::nullopt}});
  EXPECT_EQ(db_->sourcestamps()
                .find_source_stamp_id({.branch = "br",
                                       .revision = "rev",
                                       .repository = "r",
                                       .project = "p",
                                       .codebase = "cb"})
                .get(),
            234);
  EXPECT_EQ(db_->sourcestamps()
                .find_source_stamp_id({.branch = std::nullopt,
                                       .revision = std::nullopt,
                                       .repository = "repo",
                                       .project = "proj",
                                       .codebase = ""})
                .get(),
            235);
  EXPECT_EQ(db_->sourcestamps().get_source_stamps().get().size(), 2u);
}

TEST_P(SourceStampsContract, StampWithPatchIsAlwaysNewAndKeepsItsBytes) {
  std::string body("--- a\n+++ b\n\0\xff\xfe binary", 24);
  int64_t a = db_->sourcestamps().find_source_stamp_id(patched(body)).get();
  int64_t b = db_->sourcestamps().find_source_stamp_id(patched(body)).get();
  int64_t unpatched = db_->sourcestamps().find_source_stamp_id(plain()).get();
  EXPECT_NE(a, b);
  EXPECT_NE(a, unpatched);
  EXPECT_NE(b, unpatched);
  auto sa = db_->sourcestamps().get_source_stamp(a).get();
  auto sb = db_->sourcestamps().get_source_stamp(b).get();
  ASSERT_TRUE(sa && sb);
  ASSERT_TRUE(sa->patchid && sb->patchid);
  EXPECT_NE(*sa->patchid, *sb->patchid);
  EXPECT_EQ(sa->patch_body, body);
  EXPECT_EQ(sa->patch_level, 1);
  EXPECT_EQ(sa->patch_author, "alice");
  EXPECT_EQ(sa->patch_comment, "try this");
  EXPECT_EQ(sa->patch_subdir, "src");
  EXPECT_EQ(sa->branch, "master");
  EXPECT_EQ(sa->revision, "abcd");
  EXPECT_FALSE(db_->sourcestamps().get_source_stamp(unpatched).get()->patchid);
  EXPECT_FALSE(db_->sourcestamps().get_source_stamp(unpatched).get()->patch_body);
}

// Buildbot's patch columns are NOT NULL: a patch without its level, author or comment fails.
TEST_P(SourceStampsContract, PatchWithoutLevelAuthorOrCommentIsRefused) {
  for (auto drop : {+[](SourceStampSpec& s) { s.patch_level.reset(); },
                    +[](SourceStampSpec& s) { s.patch_author.reset(); },
                    +[](SourceStampSpec& s) { s.patch_comment.reset(); }}) {
    SourceStampSpec s = patched("diff");
    drop(s);
    EXPECT_THROW(db_->sourcestamps().find_source_stamp_id(s).get(), db::InvalidArgument);
  }
  EXPECT_TRUE(db_->sourcestamps().get_source_stamps().get().empty());
  SourceStampSpec s = patched("");  // an empty patch is still a patch; no subdir is fine
  s.patch_subdir.reset();
  auto ss =
      db_->sourcestamps().get_source_stamp(db_->sourcestamps().find_source_stamp_id(s).get()).get();
  ASSERT_TRUE(ss);
  EXPECT_TRUE(ss->patchid);
  EXPECT_EQ(ss->patch_body, "");
  EXPECT_EQ(ss->patch_level, 1);
  EXPECT_FALSE(ss->patch_subdir);
}

TEST_P(SourceStampsContract, GetSourceStampReadsPatchTestRows) {
  insert(
      {td::Patch{
           .id = 99, .patchlevel = 3, .patch_author = "bob", .patch_comment = "c", .subdir = "sub"},
       td::SourceStamp{.id = 234, .patchid = 99}});
  auto ss = db_->sourcestamps().get_source_stamp(234).get();
  ASSERT_TRUE(ss);
  EXPECT_EQ(ss->patchid, 99);
  EXPECT_EQ(ss->patch_body, "hello, world");  // the test row's base64 "aGVsbG8sIHdvcmxk"
  EXPECT_EQ(ss->patch_level, 3);
  EXPECT_EQ(ss->patch_author, "bob");
  EXPECT_EQ(ss->patch_comment, "c");
  EXPECT_EQ(ss->patch_subdir, "sub");
  EXPECT_EQ(ss->created_at, clock_.at(89834834));
}

TEST_P(SourceStampsContract, CorruptStoredPatchIsInvalidArgument) {
  insert({td::Patch{.id = 99, .patch_base64 = "not*base64"},
          td::SourceStamp{.id = 234, .patchid = 99}});
  EXPECT_THROW(db_->sourcestamps().get_source_stamp(234).get(), db::InvalidArgument);
}

TEST_P(SourceStampsContract, FindSourceStampIdRejectsOverlongFields) {
  auto& ss = db_->sourcestamps();
  auto too_long = [&](auto change) {
    SourceStampSpec s = plain();
    change(s);
    EXPECT_THROW(ss.find_source_stamp_id(s).get(), db::ValueTooLong);
  };
  too_long([](SourceStampSpec& s) { s.branch = std::string(257, 'b'); });
  too_long([](SourceStampSpec& s) { s.revision = std::string(257, 'r'); });
  too_long([](SourceStampSpec& s) { s.repository = std::string(513, 'r'); });
  too_long([](SourceStampSpec& s) { s.project = std::string(513, 'p'); });
  too_long([](SourceStampSpec& s) { s.codebase = std::string(257, 'c'); });
  too_long([](SourceStampSpec& s) {  // refused before its patch row is written
    s.branch = std::string(257, 'b');
    s.patch_body = "diff";
  });
  EXPECT_TRUE(ss.get_source_stamps().get().empty());
  // Limits count characters, not bytes.
  SourceStampSpec at_limit = plain();
  at_limit.branch = std::string(256, 'b');
  at_limit.codebase = "";
  for (int i = 0; i < 256; ++i) at_limit.codebase += "\xC3\xA9";
  int64_t id = ss.find_source_stamp_id(at_limit).get();
  EXPECT_EQ(ss.get_source_stamp(id).get()->codebase, at_limit.codebase);
}

TEST_P(SourceStampsContract, FindSourceStampIdRejectsInvalidUtf8) {
  auto& ss = db_->sourcestamps();
  auto bad = [&](auto change) {
    SourceStampSpec s = plain();
    change(s);
    EXPECT_THROW(ss.find_source_stamp_id(s).get(), db::InvalidArgument);
  };
  bad([](SourceStampSpec& s) { s.branch = "br\xff"; });
  bad([](SourceStampSpec& s) { s.revision = "\xC0\xAF"; });
  bad([](SourceStampSpec& s) { s.repository = "repo\xE2\x9C"; });
  bad([](SourceStampSpec& s) { s.project = "\xED\xA0\x80"; });
  bad([](SourceStampSpec& s) { s.codebase = "\xfe"; });
  bad([](SourceStampSpec& s) {
    s.patch_body = "ok";
    s.patch_level = 1;
    s.patch_author = "a";
    s.patch_comment = "c";
    s.patch_author = "\xff";
  });
  bad([](SourceStampSpec& s) {
    s.patch_body = "ok";
    s.patch_level = 1;
    s.patch_author = "a";
    s.patch_comment = "c";
    s.patch_comment = "\xff";
  });
  bad([](SourceStampSpec& s) {
    s.patch_body = "ok";
    s.patch_level = 1;
    s.patch_author = "a";
    s.patch_comment = "c";
    s.patch_subdir = "\xff";
  });
  EXPECT_TRUE(ss.get_source_stamps().get().empty());
  // Valid non-ASCII text is stored as given.
  SourceStampSpec s = plain();
  s.branch = "caf\xC3\xA9-\xE2\x9C\x93";
  int64_t id = ss.find_source_stamp_id(s).get();
  EXPECT_EQ(ss.get_source_stamp(id).get()->branch, s.branch);
}

TEST_P(SourceStampsContract, GetSourceStampMissingIsNulloptAndNotCached) {
  EXPECT_FALSE(db_->sourcestamps().get_source_stamp(234).get());
  insert({td::SourceStamp{.id = 234}});
  auto ss = db_->sourcestamps().get_source_stamp(234).get();
  ASSERT_TRUE(ss);
  EXPECT_EQ(ss->ssid, 234);
  EXPECT_EQ(db_->sourcestamps().get_source_stamp(234, /*no_cache=*/true).get(), ss);
  EXPECT_EQ(db_->sourcestamps().get_source_stamp(234).get(), ss);
}

TEST_P(SourceStampsContract, GetSourceStampsOrdersByIdAndAppliesResultSpec) {
  insert(
      {td::SourceStamp{.id = 3, .branch = "b", .revision = "r3", .created_at = 30},
       td::SourceStamp{.id = 1, .branch = "a", .revision = "r1", .created_at = 20},
       td::SourceStamp{.id = 2, .branch = "b", .revision = "r2", .created_at = 10},
       td::SourceStamp{
           .id = 4, .branch = std::nullopt, .revision = "r4", .codebase = "x", .created_at = 40}});
  auto ids = [](const std::vector<SourceStamp>& v) {
    std::vector<int64_t> out;
    for (const auto& s : v) out.push_back(s.ssid);
    return out;
  };
  auto& ss = db_->sourcestamps();
  EXPECT_EQ(ids(ss.get_source_stamps().get()), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(ids(ss.get_source_stamps(ResultSpec().where("branch", "b")).get()),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ids(ss.get_source_stamps(ResultSpec().where("branch", nullptr)).get()),
            (std::vector<int64_t>{4}));
  EXPECT_EQ(ids(ss.get_source_stamps(ResultSpec().where("codebase", "x")).get()),
            (std::vector<int64_t>{4}));
  EXPECT_EQ(ids(ss.get_source_stamps(ResultSpec().order_by("created_at", true)).get()),
            (std::vector<int64_t>{4, 3, 1, 2}));
  EXPECT_EQ(ids(ss.get_source_stamps(ResultSpec()
                                         .where("created_at", int64_t{15}, db::FieldFilter::Op::kGt)
                                         .order_by("revision")
                                         .take(2))
                    .get()),
            (std::vector<int64_t>{1, 3}));
  ResultSpec page;
  page.offset = 1;
  page.limit = 2;
  EXPECT_EQ(ids(ss.get_source_stamps(page).get()), (std::vector<int64_t>{2, 3}));
  ResultSpec after;
  after.after = std::vector<db::Value>{int64_t{2}};
  EXPECT_EQ(ids(ss.get_source_stamps(after).get()), (std::vector<int64_t>{3, 4}));
  EXPECT_THROW(ss.get_source_stamps(ResultSpec().where("patch_body", "x")).get(),
               db::InvalidArgument);
  EXPECT_THROW(ss.get_source_stamps(ResultSpec().order_by("nope")).get(), db::InvalidArgument);
}

TEST_P(SourceStampsContract, GetSourceStampsForBuildFollowsRequestAndBuildset) {
  insert(
      {td::Master{.id = 1, .name = "m"}, td::Builder{.id = 2, .name = "b"},
       td::SourceStamp{.id = 12, .revision = "r12"}, td::SourceStamp{.id = 11, .revision = "r11"},
       td::SourceStamp{.id = 13, .revision = "r13"}, td::Buildset{.id = 20}, td::Buildset{.id = 21},
       td::BuildsetSourceStamp{.id = 1, .buildsetid = 20, .sourcestampid = 12},
       td::BuildsetSourceStamp{.id = 2, .buildsetid = 20, .sourcestampid = 11},
       td::BuildsetSourceStamp{.id = 3, .buildsetid = 21, .sourcestampid = 13},
       td::BuildRequest{.id = 30, .buildsetid = 20, .builderid = 2},
       td::BuildRequest{.id = 31, .buildsetid = 21, .builderid = 2},
       td::Build{.id = 40, .number = 1, .builderid = 2, .buildrequestid = 30, .masterid = 1},
       td::Build{.id = 41, .number = 2, .builderid = 2, .buildrequestid = 31, .masterid = 1}});
  auto v = db_->sourcestamps().get_source_stamps_for_build(40).get();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].ssid, 11);
  EXPECT_EQ(v[0].revision, "r11");
  EXPECT_EQ(v[1].ssid, 12);
  auto w = db_->sourcestamps().get_source_stamps_for_build(41).get();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].ssid, 13);
  EXPECT_TRUE(db_->sourcestamps().get_source_stamps_for_build(99).get().empty());
}

TEST_P(SourceStampsContract, EightThreadsFindingOneNewStampGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->sourcestamps().find_source_stamp_id(plain("race")).get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(db_->sourcestamps().get_source_stamps().get().size(), 1u);
}

TEST_P(SourceStampsContract, EightThreadsAddingPatchedStampsGetEightIds) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) {
    ids[i] = db_->sourcestamps().find_source_stamp_id(patched("same patch")).get();
  });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 8u);
  for (int64_t id : ids) {
    EXPECT_EQ(db_->sourcestamps().get_source_stamp(id).get()->patch_body, "same patch");
  }
}

}  // namespace
}  // namespace ym::test
