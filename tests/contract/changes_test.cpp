#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(ChangesContract);

using Ids = std::vector<int64_t>;

Ids ids_of(const std::vector<db::Change>& changes) {
  Ids out;
  for (const auto& c : changes) out.push_back(c.changeid);
  return out;
}

db::NewChange simple_change(std::string revision) {
  db::NewChange c;
  c.author = "frank";
  c.comments = "a change";
  c.revision = std::move(revision);
  c.branch = "master";
  c.repository = "git://repo";
  c.project = "proj";
  return c;
}

// ----- adding and reading changes

TEST_P(ChangesContract, AddChangeStoresEveryFieldAndItsSourceStamp) {
  db::NewChange nc{.author = "dustin",
                   .committer = "marie",
                   .files = {"z.c", "a/b.c", "m.h"},
                   .comments = "fix the frobnicator",
                   .revision = "2d3f",
                   .when_timestamp = clock_.at(266738400),
                   .branch = "warnerdb",
                   .category = "devel",
                   .revlink = "http://vc/2d3f",
                   .properties = {{"platform", db::Property{"linux", "Change"}},
                                  {"count", db::Property{42, "Change"}}},
                   .repository = "git://repo",
                   .project = "yard",
                   .codebase = "cb"};
  auto id = db_->changes().add_change(nc).get();
  auto ch = db_->changes().get_change(id).get();
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->changeid, id);
  EXPECT_TRUE(ch->parent_changeids.empty());
  EXPECT_EQ(ch->author, "dustin");
  EXPECT_EQ(ch->committer, "marie");
  EXPECT_EQ(ch->files, (std::vector<std::string>{"z.c", "a/b.c", "m.h"}));  // as given
  EXPECT_EQ(ch->comments, "fix the frobnicator");
  EXPECT_EQ(ch->revision, "2d3f");
  EXPECT_EQ(ch->when_timestamp, clock_.at(266738400));
  EXPECT_EQ(ch->branch, "warnerdb");
  EXPECT_EQ(ch->category, "devel");
  EXPECT_EQ(ch->revlink, "http://vc/2d3f");
  EXPECT_EQ(ch->properties,
            (db::Properties{{"platform", {"linux", "Change"}}, {"count", {42, "Change"}}}));
  EXPECT_EQ(ch->repository, "git://repo");
  EXPECT_EQ(ch->project, "yard");
  EXPECT_EQ(ch->codebase, "cb");
  auto ss = db_->sourcestamps().get_source_stamp(ch->sourcestampid).get();
  ASSERT_TRUE(ss);
  EXPECT_EQ(ss->branch, "warnerdb");
  EXPECT_EQ(ss->revision, "2d3f");
  EXPECT_EQ(ss->repository, "git://repo");
  EXPECT_EQ(ss->project, "yard");
  EXPECT_EQ(ss->codebase, "cb");
  EXPECT_FALSE(ss->patchid);
  EXPECT_EQ(db_->changes().get_change(id, /*no_cache=*/true).get(), ch);
  EXPECT_EQ(db_->changes().get_change_from_ssid(ch->sourcestampid).get(), ch);
  EXPECT_TRUE(db_->changes().get_change_uids(id).get().empty());
}

// The reference's default revlink is '' (not NULL); nullopt still stores NULL, as revlink=None
// does in Buildbot.
TEST_P(ChangesContract, AddChangeWithoutRevlinkStoresTheEmptyString) {
  auto id = db_->changes().add_change(simple_change("r1")).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->revlink, std::optional<std::string>(""));
  auto none = simple_change("r2");
  none.revlink = std::nullopt;
  id = db_->changes().add_change(none).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->revlink, std::nullopt);
}

// Files come back in the order given (Buildbot keeps it); rows stored before change_files.seq
// existed (NULL) come after the numbered ones, by name.
TEST_P(ChangesContract, ChangeFilesKeepTheirOrder) {
  auto c = simple_change("r1");
  c.files = {"b", "a", "c", "a/z", "B"};
  auto id = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->files, c.files);
  EXPECT_EQ(db_->changes().get_changes().get().at(0).files, c.files);
  insert({td::SourceStamp{.id = 90}, td::Change{.changeid = 90, .sourcestampid = 90},
          td::ChangeFile{.changeid = 90, .filename = "zz"},
          td::ChangeFile{.changeid = 90, .filename = "second", .seq = 1},
          td::ChangeFile{.changeid = 90, .filename = "aa"},
          td::ChangeFile{.changeid = 90, .filename = "first", .seq = 0}});
  EXPECT_EQ(db_->changes().get_change(90).get()->files,
            (std::vector<std::string>{"first", "second", "aa", "zz"}));
}

TEST_P(ChangesContract, AddChangeDefaultsTheTimestampToNow) {
  auto id = db_->changes().add_change(simple_change("r1")).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->when_timestamp, clock_.at(*clock_.now));
}

TEST_P(ChangesContract, AddChangeReusesTheSourceStampOfEqualFields) {
  auto a = db_->changes().add_change(simple_change("r1")).get();
  auto b = db_->changes().add_change(simple_change("r1")).get();
  auto c = db_->changes().add_change(simple_change("r2")).get();
  auto ssa = db_->changes().get_change(a).get()->sourcestampid;
  EXPECT_EQ(db_->changes().get_change(b).get()->sourcestampid, ssa);
  EXPECT_NE(db_->changes().get_change(c).get()->sourcestampid, ssa);
  // The stamp's change is the latest made with it.
  EXPECT_EQ(db_->changes().get_change_from_ssid(ssa).get()->changeid, b);
}

TEST_P(ChangesContract, AddChangeLinksTheLatestChangeOfTheSameLine) {
  auto& ch = db_->changes();
  auto mk = [&](std::optional<std::string> branch, std::string project, std::string codebase) {
    db::NewChange c = simple_change("r");
    c.branch = std::move(branch);
    c.project = std::move(project);
    c.codebase = std::move(codebase);
    return ch.add_change(c).get();
  };
  auto parents = [&](int64_t id) { return ch.get_change(id).get()->parent_changeids; };
  auto c1 = mk("b", "p", "");
  auto c2 = mk("b", "p", "");
  auto c3 = mk(std::nullopt, "p", "");  // the default branch is another line
  auto c4 = mk(std::nullopt, "p", "");
  auto c5 = mk("b", "p", "other-codebase");
  auto c6 = mk("b", "other-project", "");
  auto c7 = mk("b", "p", "");
  EXPECT_TRUE(parents(c1).empty());
  EXPECT_EQ(parents(c2), Ids{c1});
  EXPECT_TRUE(parents(c3).empty());
  EXPECT_EQ(parents(c4), Ids{c3});
  EXPECT_TRUE(parents(c5).empty());
  EXPECT_TRUE(parents(c6).empty());
  EXPECT_EQ(parents(c7), Ids{c2});
  EXPECT_EQ(ch.get_parent_change_id("b", "git://repo", "p", "").get(), c7);
  EXPECT_EQ(ch.get_parent_change_id(std::nullopt, "git://repo", "p", "").get(), c4);
  EXPECT_FALSE(ch.get_parent_change_id("b", "git://elsewhere", "p", "").get());
}

TEST_P(ChangesContract, AddChangeLinksTheUser) {
  insert({td::User{.uid = 5, .identifier = "frank"}});
  db::NewChange c = simple_change("r1");
  c.uid = 5;
  auto id = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change_uids(id).get(), Ids{5});
}

TEST_P(ChangesContract, AddChangeWithAnUnknownUserIsNotFoundAndWritesNothing) {
  db::NewChange c = simple_change("r1");
  c.uid = 6;
  EXPECT_THROW(db_->changes().add_change(c).get(), db::NotFound);
  EXPECT_FALSE(db_->changes().get_latest_change_id().get());
  EXPECT_TRUE(db_->sourcestamps().get_source_stamps().get().empty());
}

TEST_P(ChangesContract, AddChangeRefusesOverlongFieldsAndWritesNothing) {
  std::vector<std::function<void(db::NewChange&)>> spoilers = {
      [](db::NewChange& c) { c.author = std::string(256, 'a'); },
      [](db::NewChange& c) { c.committer = std::string(256, 'c'); },
      [](db::NewChange& c) { c.branch = std::string(256, 'b'); },
      [](db::NewChange& c) { c.revision = std::string(256, 'r'); },
      [](db::NewChange& c) { c.category = std::string(256, 'k'); },
      [](db::NewChange& c) { c.revlink = std::string(257, 'l'); },
      [](db::NewChange& c) { c.repository = std::string(513, 'r'); },
      [](db::NewChange& c) { c.project = std::string(513, 'p'); },
      [](db::NewChange& c) { c.codebase = std::string(257, 'c'); },
      [](db::NewChange& c) {
        c.files = {"ok", std::string(1025, 'f')};
      },
      [](db::NewChange& c) {
        c.properties = {{std::string(257, 'n'), {1, "Change"}}};
      },
  };
  for (size_t i = 0; i < spoilers.size(); ++i) {
    db::NewChange c = simple_change("r1");
    spoilers[i](c);
    EXPECT_THROW(db_->changes().add_change(c).get(), db::ValueTooLong) << "case " << i;
  }
  EXPECT_FALSE(db_->changes().get_latest_change_id().get());
  EXPECT_TRUE(db_->sourcestamps().get_source_stamps().get().empty());
  // The limits themselves fit (counted in characters, not bytes).
  db::NewChange c = simple_change("r1");
  c.author = std::string(255, 'a');
  c.revlink = std::string(256, 'l');
  c.branch = "";
  for (int i = 0; i < 255; ++i) *c.branch += "\xC3\xA9";  // é: two bytes, one character
  c.files = {std::string(1024, 'f')};
  auto id = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->branch, c.branch);
}

TEST_P(ChangesContract, AddChangeRefusesInvalidUtf8InIdentifyingFields) {
  std::vector<std::function<void(db::NewChange&)>> spoilers = {
      [](db::NewChange& c) {
        c.author =
            "fr\xFF"
            "nk";
      },
      [](db::NewChange& c) { c.branch = "ma\xC3"; },
      [](db::NewChange& c) { c.revision = "\xED\xA0\x80"; },  // a surrogate
      [](db::NewChange& c) { c.repository = "\x80"; },
      [](db::NewChange& c) {
        c.files = {"ok.c", "bad\xFE.c"};
      },
      [](db::NewChange& c) {
        c.properties = {{"n\xFF", {1, "Change"}}};
      },
      [](db::NewChange& c) {
        c.properties = {{"n", {std::string("v\xFF"), "Change"}}};
      },
  };
  for (size_t i = 0; i < spoilers.size(); ++i) {
    db::NewChange c = simple_change("r1");
    spoilers[i](c);
    EXPECT_THROW(db_->changes().add_change(c).get(), db::InvalidArgument) << "case " << i;
  }
  EXPECT_FALSE(db_->changes().get_latest_change_id().get());
}

TEST_P(ChangesContract, AddChangeStoresIllFormedCommentsAsReplacementCharacters) {
  db::NewChange c = simple_change("r1");
  c.comments = "caf\xE9 au lait";
  auto id = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->comments, "caf\xEF\xBF\xBD au lait");
}

// The reference: a change's properties have source 'Change' (Buildbot asserts it).
TEST_P(ChangesContract, AddChangeRefusesAPropertyWhoseSourceIsNotChange) {
  db::NewChange c = simple_change("r1");
  c.properties = {{"obj", {nlohmann::json{{"a", {1, 2}}}, "Change"}}, {"s", {"x", "Poller"}}};
  EXPECT_THROW(db_->changes().add_change(c).get(), db::InvalidArgument);
  EXPECT_EQ(db_->changes().get_changes_count().get(), 0);
  EXPECT_FALSE(db_->changes().get_latest_change_id().get());
  c.properties.erase("s");
  auto id = db_->changes().add_change(c).get();
  EXPECT_EQ(db_->changes().get_change(id).get()->properties, c.properties);
}

TEST_P(ChangesContract, GetChangeMissingIsNullopt) {
  EXPECT_FALSE(db_->changes().get_change(44).get());
  EXPECT_FALSE(db_->changes().get_change(44, true).get());
  EXPECT_FALSE(db_->changes().get_change_from_ssid(44).get());
}

TEST_P(ChangesContract, GetChangeReadsStoredPropertyShapes) {
  insert({td::SourceStamp{.id = 1}, td::Change{.changeid = 10, .sourcestampid = 1},
          td::ChangeFile{.changeid = 10, .filename = "c"},
          td::ChangeFile{.changeid = 10, .filename = "a"},
          td::ChangeFile{.changeid = 10, .filename = "b"},
          td::ChangeProperty{
              .changeid = 10, .property_name = "pair", .property_value = "[\"v\", \"Change\"]"},
          td::ChangeProperty{
              .changeid = 10, .property_name = "other", .property_value = "[\"v\", \"Poller\"]"},
          td::ChangeProperty{.changeid = 10, .property_name = "bare", .property_value = "42"},
          td::ChangeProperty{.changeid = 10, .property_name = "list", .property_value = "[1, 2]"},
          td::ChangeProperty{
              .changeid = 10, .property_name = "corrupt", .property_value = "{not json"}});
  auto ch = db_->changes().get_change(10).get();
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->files, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ch->properties, (db::Properties{{"pair", {"v", "Change"}},
                                            {"other", {"v", "Poller"}},
                                            {"bare", {42, "Change"}},
                                            {"list", {nlohmann::json::array({1, 2}), "Change"}}}));
}

TEST_P(ChangesContract, GetChangeUidsAreAscending) {
  insert({td::User{.uid = 7, .identifier = "a"}, td::User{.uid = 3, .identifier = "b"},
          td::SourceStamp{.id = 1}, td::Change{.changeid = 10, .sourcestampid = 1},
          td::ChangeUser{.changeid = 10, .uid = 7}, td::ChangeUser{.changeid = 10, .uid = 3}});
  EXPECT_EQ(db_->changes().get_change_uids(10).get(), (Ids{3, 7}));
  EXPECT_TRUE(db_->changes().get_change_uids(11).get().empty());
}

// ----- lists

std::vector<td::Row> five_changes() {
  // changeid: when_timestamp, author, branch
  return {td::SourceStamp{.id = 1},
          td::Change{.changeid = 1, .author = "a", .when_timestamp = 500, .sourcestampid = 1},
          td::Change{.changeid = 2,
                     .author = "b",
                     .branch = std::nullopt,
                     .when_timestamp = 300,
                     .sourcestampid = 1},
          td::Change{.changeid = 3, .author = "a", .when_timestamp = 500, .sourcestampid = 1},
          td::Change{.changeid = 4,
                     .author = "b",
                     .branch = std::nullopt,
                     .when_timestamp = 100,
                     .sourcestampid = 1},
          td::Change{.changeid = 5, .author = "a", .when_timestamp = 700, .sourcestampid = 1},
          td::ChangeFile{.changeid = 3, .filename = "f3"}};
}

TEST_P(ChangesContract, GetRecentChangesReturnsTheHighestIdsAscending) {
  insert({td::SourceStamp{.id = 1}, td::Change{.changeid = 3, .sourcestampid = 1},
          td::Change{.changeid = 20, .when_timestamp = 1, .sourcestampid = 1},
          td::Change{.changeid = 7, .sourcestampid = 1},
          td::Change{.changeid = 8, .sourcestampid = 1}});
  EXPECT_EQ(ids_of(db_->changes().get_recent_changes(2).get()), (Ids{8, 20}));
  EXPECT_EQ(ids_of(db_->changes().get_recent_changes(10).get()), (Ids{3, 7, 8, 20}));
  EXPECT_TRUE(db_->changes().get_recent_changes(0).get().empty());
  EXPECT_TRUE(db_->changes().get_recent_changes(-1).get().empty());
}

TEST_P(ChangesContract, GetLatestChangeId) {
  EXPECT_FALSE(db_->changes().get_latest_change_id().get());
  insert({td::SourceStamp{.id = 1}, td::Change{.changeid = 9, .sourcestampid = 1},
          td::Change{.changeid = 4, .sourcestampid = 1}});
  EXPECT_EQ(db_->changes().get_latest_change_id().get(), 9);
}

TEST_P(ChangesContract, GetChangesDefaultsToChangeIdOrderWithDetails) {
  insert(five_changes());
  auto all = db_->changes().get_changes().get();
  EXPECT_EQ(ids_of(all), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(all[2].files, std::vector<std::string>{"f3"});
  EXPECT_EQ(all[2], *db_->changes().get_change(3).get());
}

// What the master's git poller and schedulers ask (master/gitpoller.cpp, schedulers.cpp): is there
// a change of this revision on this repository and branch; and the changes after an id, in id
// order, a batch at a time.
TEST_P(ChangesContract, GetChangesByRevisionRepositoryAndBranchAndAfterAnId) {
  insert({td::SourceStamp{.id = 1},
          td::Change{.changeid = 1, .branch = "main", .revision = "r1", .sourcestampid = 1},
          td::Change{.changeid = 2, .branch = "dev", .revision = "r1", .sourcestampid = 1},
          td::Change{.changeid = 3, .branch = "main", .revision = "r1", .repository = "other",
                     .sourcestampid = 1},
          td::Change{.changeid = 4, .branch = "main", .revision = "r2", .sourcestampid = 1},
          td::Change{.changeid = 5, .branch = std::nullopt, .revision = "r1", .sourcestampid = 1}});
  auto& ch = db_->changes();
  auto same = [&](const std::string& rev, const std::string& repo, const std::string& branch) {
    db::ResultSpec spec;
    spec.where("revision", rev).where("repository", repo).where("branch", branch).take(1);
    return ids_of(ch.get_changes(spec).get());
  };
  EXPECT_EQ(same("r1", "repo", "main"), (Ids{1}));
  EXPECT_EQ(same("r1", "repo", "dev"), (Ids{2}));
  EXPECT_EQ(same("r1", "other", "main"), (Ids{3}));
  EXPECT_EQ(same("r2", "repo", "dev"), Ids{});
  db::ResultSpec after;
  after.where("changeid", int64_t{2}, db::FieldFilter::Op::kGt).order_by("changeid").take(2);
  EXPECT_EQ(ids_of(ch.get_changes(after).get()), (Ids{3, 4}));
  after = db::ResultSpec();
  after.where("changeid", int64_t{4}, db::FieldFilter::Op::kGt).order_by("changeid").take(2);
  EXPECT_EQ(ids_of(ch.get_changes(after).get()), (Ids{5}));
}

TEST_P(ChangesContract, GetChangesPagesByWhenTimestampDescending) {
  insert(five_changes());
  auto& ch = db_->changes();
  db::ResultSpec spec;
  spec.order_by("when_timestamp", true).take(2);
  EXPECT_EQ(ids_of(ch.get_changes(spec).get()), (Ids{5, 1}));  // ties broken by changeid
  spec.offset = 2;
  EXPECT_EQ(ids_of(ch.get_changes(spec).get()), (Ids{3, 2}));
  spec.offset = 4;
  EXPECT_EQ(ids_of(ch.get_changes(spec).get()), (Ids{4}));
  db::ResultSpec keyset;
  keyset.order_by("when_timestamp", true);
  keyset.after = std::vector<db::Value>{int64_t{500}, int64_t{1}};
  EXPECT_EQ(ids_of(ch.get_changes(keyset).get()), (Ids{3, 2, 4}));
  keyset.take(1);
  EXPECT_EQ(ids_of(ch.get_changes(keyset).get()), (Ids{3}));
}

TEST_P(ChangesContract, GetChangesFiltersAndCountsWithTheSameFilters) {
  insert(five_changes());
  auto& ch = db_->changes();
  db::ResultSpec by_author;
  by_author.where("author", std::string("a"));
  EXPECT_EQ(ids_of(ch.get_changes(by_author).get()), (Ids{1, 3, 5}));
  EXPECT_EQ(ch.get_changes_count(by_author).get(), 3);
  by_author.order_by("when_timestamp", true).take(1);
  by_author.offset = 1;
  EXPECT_EQ(ids_of(ch.get_changes(by_author).get()), (Ids{1}));
  EXPECT_EQ(ch.get_changes_count(by_author).get(), 3);  // paging is ignored

  db::ResultSpec default_branch;
  default_branch.where("branch", nullptr);
  EXPECT_EQ(ids_of(ch.get_changes(default_branch).get()), (Ids{2, 4}));
  EXPECT_EQ(ch.get_changes_count(default_branch).get(), 2);

  db::ResultSpec recent;
  recent.where("when_timestamp", int64_t{300}, db::FieldFilter::Op::kGe)
      .where("author", std::string("b"));
  EXPECT_EQ(ids_of(ch.get_changes(recent).get()), (Ids{2}));
  EXPECT_EQ(ch.get_changes_count(recent).get(), 1);
  EXPECT_EQ(ch.get_changes_count().get(), 5);

  db::ResultSpec in;
  in.filters.push_back(
      {"changeid", db::FieldFilter::Op::kIn, {int64_t{2}, int64_t{5}, int64_t{9}}});
  EXPECT_EQ(ids_of(ch.get_changes(in).get()), (Ids{2, 5}));
  EXPECT_EQ(ch.get_changes_count(in).get(), 2);
}

TEST_P(ChangesContract, GetChangesRejectsUnknownFields) {
  insert(five_changes());
  db::ResultSpec bad;
  bad.where("comments", std::string("x"));
  EXPECT_THROW(db_->changes().get_changes(bad).get(), db::InvalidArgument);
  EXPECT_THROW(db_->changes().get_changes_count(bad).get(), db::InvalidArgument);
  db::ResultSpec bad_order;
  bad_order.order_by("nope");
  EXPECT_THROW(db_->changes().get_changes(bad_order).get(), db::InvalidArgument);
}

// ----- blame lists (get_changes_for_build)

// Changes first..first+n-1 on one line (codebase, branch), each with its own stamp (same id),
// each the parent of the next.
void add_chain(std::vector<td::Row>& rows, int64_t first, int n, const std::string& codebase = "",
               std::optional<std::string> branch = "master") {
  for (int64_t id = first; id < first + n; ++id) {
    std::string rev = "r" + std::to_string(id);
    rows.push_back(td::SourceStamp{
        .id = id, .branch = branch, .revision = rev, .repository = "repo", .codebase = codebase});
    rows.push_back(td::Change{
        .changeid = id,
        .branch = branch,
        .revision = rev,
        .repository = "repo",
        .codebase = codebase,
        .sourcestampid = id,
        .parent_changeids = id == first ? std::nullopt : std::optional<int64_t>(id - 1)});
  }
}

// Build `id` numbered `number` of `builder` on the stamps given.
void add_build(std::vector<td::Row>& rows, int64_t id, int number, const Ids& ssids,
               std::optional<int> results, std::optional<int64_t> complete_at,
               int64_t builder = 77) {
  rows.push_back(td::Buildset{.id = id});
  for (size_t i = 0; i < ssids.size(); ++i) {
    rows.push_back(td::BuildsetSourceStamp{
        .id = id * 10 + static_cast<int64_t>(i), .buildsetid = id, .sourcestampid = ssids[i]});
  }
  rows.push_back(td::BuildRequest{.id = id, .buildsetid = id, .builderid = builder});
  rows.push_back(td::Build{.id = id,
                           .number = number,
                           .builderid = builder,
                           .buildrequestid = id,
                           .masterid = 1,
                           .complete_at = complete_at,
                           .results = results});
}

std::vector<td::Row> blame_world() {
  return {td::Master{.id = 1}, td::Builder{.id = 77, .name = "b77"},
          td::Builder{.id = 78, .name = "b78"}};
}

constexpr int kOk = db::results::kSuccess;

// Buildbot's getChangesForBuild fails on an unknown build as well (an untyped TypeError).
TEST_P(ChangesContract, BlameListOfAnUnknownBuildIsNotFound) {
  EXPECT_THROW(db_->changes().get_changes_for_build(404).get(), db::NotFound);
}

TEST_P(ChangesContract, BlameListRunsBackToThePreviousSuccessfulBuild) {
  auto rows = blame_world();
  add_chain(rows, 1, 5);
  add_build(rows, 1000, 1, {3}, kOk, 100);
  add_build(rows, 1001, 2, {5}, std::nullopt, std::nullopt);
  insert(rows);
  auto blame = db_->changes().get_changes_for_build(1001).get();
  EXPECT_EQ(ids_of(blame), (Ids{5, 4}));  // newest first, as Buildbot
  EXPECT_EQ(blame[0], *db_->changes().get_change(5).get());
  // The first build has no previous build: its whole (short) history.
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1000).get()), (Ids{3, 2, 1}));
}

TEST_P(ChangesContract, BlameListSkipsPreviousBuildsThatFailed) {
  auto rows = blame_world();
  add_chain(rows, 1, 5);
  add_build(rows, 1000, 1, {2}, kOk, 100);
  add_build(rows, 1001, 2, {3}, db::results::kFailure, 200);
  add_build(rows, 1002, 3, {5}, std::nullopt, std::nullopt);
  insert(rows);
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1002).get()), (Ids{5, 4, 3}));
}

TEST_P(ChangesContract, BlameListIgnoresBuildsOfOtherBranchesAndBuilders) {
  auto rows = blame_world();
  add_chain(rows, 1, 5);
  add_chain(rows, 11, 2, "", "dev");
  add_build(rows, 1000, 1, {2}, kOk, 100);
  add_build(rows, 1001, 2, {12}, kOk, 200);     // same builder, another branch
  add_build(rows, 2000, 1, {4}, kOk, 300, 78);  // another builder
  add_build(rows, 1002, 3, {5}, std::nullopt, std::nullopt);
  insert(rows);
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1002).get()), (Ids{5, 4, 3}));
}

TEST_P(ChangesContract, BlameListUsesTheMostRecentlyCompletedPreviousBuild) {
  auto rows = blame_world();
  add_chain(rows, 1, 5);
  add_build(rows, 1000, 1, {2}, kOk, 300);  // finished last although numbered first
  add_build(rows, 1001, 2, {3}, kOk, 200);
  add_build(rows, 1002, 3, {5}, std::nullopt, std::nullopt);
  insert(rows);
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1002).get()), (Ids{5, 4, 3}));
}

TEST_P(ChangesContract, BlameListIsEmptyWhenTheChangeWasBuiltAlready) {
  auto rows = blame_world();
  add_chain(rows, 1, 3);
  add_build(rows, 1000, 1, {3}, kOk, 100);
  add_build(rows, 1001, 2, {3}, std::nullopt, std::nullopt);
  insert(rows);
  EXPECT_TRUE(db_->changes().get_changes_for_build(1001).get().empty());
}

// Buildbot 3.7 stops only when a parent is the previous build's change: a rebuild of an older
// revision never meets it and walks back to the first change of the line.
TEST_P(ChangesContract, BlameListOfAnOlderRevisionWalksBackToTheFirstChange) {
  auto rows = blame_world();
  add_chain(rows, 1, 5);
  add_build(rows, 1000, 1, {5}, kOk, 100);
  add_build(rows, 1001, 2, {3}, std::nullopt, std::nullopt);  // a rebuild of an older change
  insert(rows);
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1001).get()), (Ids{3, 2, 1}));
}

// The walk stops at the previous build's change only when it is the parent, not at any older id.
TEST_P(ChangesContract, BlameListStopsOnlyAtThePreviousBuildsChangeItself) {
  auto rows = blame_world();
  add_chain(rows, 1, 3);
  add_chain(rows, 10, 3);  // a second line of the same branch: 10 has no parent
  add_build(rows, 1000, 1, {2}, kOk, 100);
  add_build(rows, 1001, 2, {12}, std::nullopt, std::nullopt);
  insert(rows);
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1001).get()), (Ids{12, 11, 10}));
}

TEST_P(ChangesContract, BlameListWalksEachCodebase) {
  auto rows = blame_world();
  add_chain(rows, 1, 3, "app");
  add_chain(rows, 11, 4, "lib");
  rows.push_back(
      td::SourceStamp{.id = 30, .revision = "nochange", .repository = "repo", .codebase = "docs"});
  add_build(rows, 1000, 1, {2, 12, 30}, kOk, 100);
  add_build(rows, 1001, 2, {3, 14, 30}, std::nullopt, std::nullopt);
  insert(rows);
  // Codebase by codebase in stamp order, each newest first (Buildbot's order).
  EXPECT_EQ(ids_of(db_->changes().get_changes_for_build(1001).get()), (Ids{3, 14, 13}));
}

TEST_P(ChangesContract, BlameListWithoutPreviousBuildIsBounded) {
  auto rows = blame_world();
  int n = db::kBlameMaxChangesPerCodebase + 5;
  add_chain(rows, 1, n);
  add_build(rows, 1000, 1, {n}, std::nullopt, std::nullopt);
  insert(rows);
  auto blame = ids_of(db_->changes().get_changes_for_build(1000).get());
  ASSERT_EQ(blame.size(), static_cast<size_t>(db::kBlameMaxChangesPerCodebase));
  EXPECT_EQ(blame.front(), n);  // the newest are kept, newest first
  EXPECT_EQ(blame.back(), 6);
}

}  // namespace
}  // namespace ym::test
