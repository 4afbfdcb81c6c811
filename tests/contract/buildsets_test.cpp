#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::Buildset;
using db::NewBuildset;
using db::Properties;
using db::ResultSpec;
using db::SourceStampSpec;

YM_CONTRACT_SUITE(BuildsetsContract);

SourceStampSpec spec(std::string revision) {
  return SourceStampSpec{.branch = "main",
                         .revision = std::move(revision),
                         .repository = "repo",
                         .project = "proj",
                         .codebase = ""};
}

std::vector<int64_t> ids_of(const std::vector<Buildset>& v) {
  std::vector<int64_t> out;
  for (const auto& b : v) out.push_back(b.bsid);
  return out;
}

std::vector<td::Row> builders() {
  return {td::Builder{.id = 1, .name = "b1"}, td::Builder{.id = 2, .name = "b2"},
          td::Builder{.id = 3, .name = "b3"}};
}

// How a scheduler finds out whether the buildset of its intent was added (master/schedulers.cpp):
// an exact match on the external id, which no other id matches as a prefix or a pattern.
TEST_P(BuildsetsContract, GetBuildsetsFindsABuildsetByItsExactExternalId) {
  insert({td::Buildset{.id = 1, .external_idstring = "scheduler:1:changes:10"},
          td::Buildset{.id = 2, .external_idstring = "scheduler:1:changes:1"},
          td::Buildset{.id = 3, .external_idstring = "scheduler:1:changes:1%"},
          td::Buildset{.id = 4, .external_idstring = std::nullopt},
          td::Buildset{.id = 5, .external_idstring = "scheduler:1:changes:1_"}});
  auto& bs = db_->buildsets();
  auto find = [&](const std::string& ext) {
    return ids_of(bs.get_buildsets({}, ResultSpec().where("external_idstring", ext).take(1)).get());
  };
  EXPECT_EQ(find("scheduler:1:changes:1"), (Ids{2}));
  EXPECT_EQ(find("scheduler:1:changes:1%"), (Ids{3}));
  EXPECT_EQ(find("scheduler:1:changes:1_"), (Ids{5}));
  EXPECT_EQ(find("scheduler:1:changes:"), Ids{});
  EXPECT_EQ(find("SCHEDULER:1:changes:10"), Ids{}) << "case matters";
}

TEST_P(BuildsetsContract, AddBuildsetStoresBuildsetPropertiesStampsAndRequests) {
  insert(builders());
  insert({td::SourceStamp{.id = 234, .revision = "given"}});
  NewBuildset nb;
  nb.sourcestamps = {int64_t{234}, spec("new")};
  nb.reason = "because";
  nb.properties = {{"answer", {42, "Scheduler"}}, {"list", {nlohmann::json{1, "two", nullptr}, "Force"}}};
  nb.builderids = {3, 1};
  nb.external_idstring = "ext-1";
  nb.priority = 7;
  nb.waited_for = true;
  auto added = db_->buildsets().add_buildset(nb).get();
  ASSERT_EQ(added.brids.size(), 2u);
  ASSERT_TRUE(added.brids.count(1) && added.brids.count(3));
  EXPECT_NE(added.brids[1], added.brids[3]);

  auto bs = db_->buildsets().get_buildset(added.bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->bsid, added.bsid);
  EXPECT_EQ(bs->reason, "because");
  EXPECT_EQ(bs->external_idstring, "ext-1");
  EXPECT_EQ(bs->submitted_at, clock_.at(1'700'000'000));
  EXPECT_FALSE(bs->complete);
  EXPECT_FALSE(bs->complete_at);
  EXPECT_EQ(bs->results, db::results::kNotYet);  // -1, as Buildbot stores
  EXPECT_FALSE(bs->parent_buildid);
  EXPECT_FALSE(bs->parent_relationship);
  ASSERT_EQ(bs->sourcestamps.size(), 2u);
  EXPECT_EQ(bs->sourcestamps[0], 234);  // ascending; the new stamp has a larger id
  int64_t new_ssid = bs->sourcestamps[1];
  EXPECT_EQ(db_->sourcestamps().get_source_stamp(new_ssid).get()->revision, "new");
  EXPECT_EQ(db_->sourcestamps().find_source_stamp_id(spec("new")).get(), new_ssid);

  EXPECT_EQ(db_->buildsets().get_buildset_properties(added.bsid).get(), nb.properties);

  for (int64_t builderid : {1, 3}) {
    auto br = db_->buildrequests().get_build_request(added.brids[builderid]).get();
    ASSERT_TRUE(br);
    EXPECT_EQ(br->buildsetid, added.bsid);
    EXPECT_EQ(br->builderid, builderid);
    EXPECT_EQ(br->buildername, "b" + std::to_string(builderid));
    EXPECT_EQ(br->priority, 7);
    EXPECT_TRUE(br->waited_for);
    EXPECT_EQ(br->submitted_at, clock_.at(1'700'000'000));
    EXPECT_FALSE(br->claimed);
    EXPECT_FALSE(br->complete);
    EXPECT_EQ(br->results, db::results::kNotYet);
  }
  db::BuildRequestFilter f;
  f.bsid = added.bsid;
  EXPECT_EQ(db_->buildrequests().get_build_requests(f).get().size(), 2u);
}

// A database written before results defaulted to -1 holds NULL in unfinished rows: they read as
// -1 and a filter on results == -1 finds them, like the rows add_buildset writes now.
TEST_P(BuildsetsContract, StoredNullResultsReadAsNotYet) {
  insert(builders());
  insert({td::Buildset{.id = 70, .results = std::nullopt},
          td::BuildRequest{.id = 71, .buildsetid = 70, .builderid = 1, .results = std::nullopt}});
  NewBuildset nb;
  nb.reason = "r";
  nb.builderids = {1};
  auto added = db_->buildsets().add_buildset(nb).get();
  EXPECT_EQ(db_->buildsets().get_buildset(70).get()->results, db::results::kNotYet);
  EXPECT_EQ(db_->buildrequests().get_build_request(71).get()->results, db::results::kNotYet);
  EXPECT_EQ(ids_of(db_->buildsets()
                       .get_buildsets({}, db::ResultSpec().where("results", int64_t{-1}))
                       .get()),
            (std::vector<int64_t>{70, added.bsid}));
  db::BuildRequestFilter f;
  f.spec = db::ResultSpec().where("results", int64_t{-1});
  std::vector<int64_t> brids;
  for (const auto& br : db_->buildrequests().get_build_requests(f).get()) {
    brids.push_back(br.buildrequestid);
  }
  EXPECT_EQ(brids, (std::vector<int64_t>{71, added.brids.at(1)}));
}

TEST_P(BuildsetsContract, AddBuildsetDefaultsAndGivenSubmittedAt) {
  insert(builders());
  NewBuildset nb;
  nb.reason = "r";
  nb.builderids = {2};
  nb.submitted_at = clock_.at(1234);
  auto added = db_->buildsets().add_buildset(nb).get();
  auto bs = db_->buildsets().get_buildset(added.bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->submitted_at, clock_.at(1234));
  EXPECT_TRUE(bs->sourcestamps.empty());
  EXPECT_FALSE(bs->external_idstring);
  EXPECT_TRUE(db_->buildsets().get_buildset_properties(added.bsid).get().empty());
  auto br = db_->buildrequests().get_build_request(added.brids.at(2)).get();
  ASSERT_TRUE(br);
  EXPECT_EQ(br->submitted_at, clock_.at(1234));
  EXPECT_EQ(br->priority, 0);
  EXPECT_FALSE(br->waited_for);
}

TEST_P(BuildsetsContract, AddBuildsetWithParentBuild) {
  insert(builders());
  insert({td::Master{.id = 9, .name = "m"}, td::Buildset{.id = 50},
          td::BuildRequest{.id = 60, .buildsetid = 50, .builderid = 1},
          td::Build{.id = 70, .number = 1, .builderid = 1, .buildrequestid = 60, .masterid = 9}});
  NewBuildset nb;
  nb.reason = "triggered";
  nb.builderids = {2};
  nb.parent_buildid = 70;
  nb.parent_relationship = "triggered by";
  auto bs = db_->buildsets().get_buildset(db_->buildsets().add_buildset(nb).get().bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->parent_buildid, 70);
  EXPECT_EQ(bs->parent_relationship, "triggered by");
}

// Nothing of a failed add_buildset may remain: no buildset, request, stamp or property.
void expect_nothing_added(db::Db& db, size_t stamps) {
  EXPECT_TRUE(db.buildsets().get_buildsets().get().empty());
  EXPECT_TRUE(db.buildrequests().get_build_requests().get().empty());
  EXPECT_EQ(db.sourcestamps().get_source_stamps().get().size(), stamps);
}

TEST_P(BuildsetsContract, AddBuildsetWithUnknownReferencesIsNotFoundAndStoresNothing) {
  insert(builders());
  insert({td::SourceStamp{.id = 234}});
  auto base = [] {
    NewBuildset nb;
    nb.reason = "r";
    nb.builderids = {1, 2};
    nb.properties = {{"p", {1, "s"}}};
    nb.sourcestamps = {spec("would be new"), int64_t{234}};
    return nb;
  };
  NewBuildset unknown_builder = base();
  unknown_builder.builderids = {1, 99};
  EXPECT_THROW(db_->buildsets().add_buildset(unknown_builder).get(), db::NotFound);
  NewBuildset unknown_stamp = base();
  unknown_stamp.sourcestamps.push_back(int64_t{999});
  EXPECT_THROW(db_->buildsets().add_buildset(unknown_stamp).get(), db::NotFound);
  NewBuildset unknown_parent = base();
  unknown_parent.parent_buildid = 77;
  EXPECT_THROW(db_->buildsets().add_buildset(unknown_parent).get(), db::NotFound);
  expect_nothing_added(*db_, 1);
  EXPECT_TRUE(db_->buildsets().get_buildset_properties(1).get().empty());
}

// As Buildbot's unique (buildsetid, sourcestampid): one stamp named twice (by id, by a spec that
// finds it, or by two equal specs) is refused, and the stamps the call made roll back with it.
TEST_P(BuildsetsContract, AddBuildsetNamingOneStampTwiceIsRefusedAndStoresNothing) {
  insert(builders());
  int64_t known = db_->sourcestamps().find_source_stamp_id(spec("known")).get();
  auto with = [](std::vector<db::SourceStampRef> stamps) {
    NewBuildset nb;
    nb.reason = "r";
    nb.builderids = {1};
    nb.sourcestamps = std::move(stamps);
    return nb;
  };
  for (auto stamps : {std::vector<db::SourceStampRef>{known, known},
                      std::vector<db::SourceStampRef>{spec("known"), known},
                      std::vector<db::SourceStampRef>{spec("new"), spec("other"), spec("new")}}) {
    EXPECT_THROW(db_->buildsets().add_buildset(with(stamps)).get(), db::AlreadyExists);
  }
  expect_nothing_added(*db_, 1);
  // Two stamps with one patch each are two stamps.
  SourceStampSpec patched = spec("p");
  patched.patch_body = "diff";
  patched.patch_level = 1;
  patched.patch_author = "a";
  patched.patch_comment = "c";
  auto added = db_->buildsets().add_buildset(with({patched, patched})).get();
  EXPECT_EQ(db_->buildsets().get_buildset(added.bsid).get()->sourcestamps.size(), 2u);
}

TEST_P(BuildsetsContract, AddBuildsetRejectsBadInputAndStoresNothing) {
  insert(builders());
  auto base = [] {
    NewBuildset nb;
    nb.reason = "r";
    nb.builderids = {1};
    nb.sourcestamps = {spec("would be new")};
    return nb;
  };
  auto expect_invalid = [&](NewBuildset nb, const char* what) {
    EXPECT_THROW(db_->buildsets().add_buildset(std::move(nb)).get(), db::InvalidArgument) << what;
  };
  auto expect_too_long = [&](NewBuildset nb, const char* what) {
    EXPECT_THROW(db_->buildsets().add_buildset(std::move(nb)).get(), db::ValueTooLong) << what;
  };
  NewBuildset nb = base();
  nb.builderids = {};
  expect_invalid(nb, "no builders");
  nb = base();
  nb.builderids = {1, 2, 1};
  expect_invalid(nb, "duplicate builder");
  nb = base();
  nb.reason = "bad \xff";
  expect_invalid(nb, "reason not UTF-8");
  nb = base();
  nb.external_idstring = "\xC0\xAF";
  expect_invalid(nb, "external id not UTF-8");
  nb = base();
  nb.parent_relationship = "\xff";
  expect_invalid(nb, "parent relationship not UTF-8");
  nb = base();
  nb.properties = {{"p", {"value \xff", "src"}}};
  expect_invalid(nb, "property value not UTF-8");
  nb = base();
  nb.properties = {{"p", {"ok", "source \xff"}}};
  expect_invalid(nb, "property source not UTF-8");
  nb = base();
  nb.properties = {{"name \xff", {"ok", "src"}}};
  expect_invalid(nb, "property name not UTF-8");
  nb = base();
  nb.properties = {{"", {"ok", "src"}}};
  expect_invalid(nb, "empty property name");
  nb = base();
  nb.sourcestamps = {spec("ok"), SourceStampSpec{.branch = "\xff"}};
  expect_invalid(nb, "stamp not UTF-8");
  nb = base();
  nb.reason = std::string(257, 'r');
  expect_too_long(nb, "reason");
  nb = base();
  nb.external_idstring = std::string(257, 'e');
  expect_too_long(nb, "external id");
  nb = base();
  nb.properties = {{std::string(257, 'n'), {1, "src"}}};
  expect_too_long(nb, "property name");
  nb = base();
  nb.sourcestamps = {spec("ok"), SourceStampSpec{.repository = std::string(513, 'r')}};
  expect_too_long(nb, "stamp repository");
  expect_nothing_added(*db_, 0);

  nb = base();
  nb.reason = std::string(256, 'r');
  nb.external_idstring = std::string(256, 'e');
  auto bs = db_->buildsets().get_buildset(db_->buildsets().add_buildset(nb).get().bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->reason, nb.reason);
}

TEST_P(BuildsetsContract, PropertyValuesOfEveryJsonTypeRoundTrip) {
  insert(builders());
  NewBuildset nb;
  nb.reason = "props";
  nb.builderids = {1};
  nb.properties = {{"null", {nullptr, "a"}},
                   {"bool", {true, "b"}},
                   {"int", {-12, "c"}},
                   {"float", {2.5, "d"}},
                   {"string", {"caf\xC3\xA9", "e"}},
                   {"array", {nlohmann::json{1, {2, 3}}, "f"}},
                   {"object", {nlohmann::json{{"k", {{"nested", false}}}}, "g"}}};
  auto added = db_->buildsets().add_buildset(nb).get();
  EXPECT_EQ(db_->buildsets().get_buildset_properties(added.bsid).get(), nb.properties);
}

TEST_P(BuildsetsContract, GetBuildsetPropertiesReadsTestRowsAndUnknownIsEmpty) {
  insert({td::Buildset{.id = 91}, td::BuildsetProperty{.buildsetid = 91},
          td::BuildsetProperty{
              .buildsetid = 91, .property_name = "s", .property_value = "[\"str\", \"src\"]"}});
  Properties want{{"prop", {22, "fakedb"}}, {"s", {"str", "src"}}};
  EXPECT_EQ(db_->buildsets().get_buildset_properties(91).get(), want);
  EXPECT_TRUE(db_->buildsets().get_buildset_properties(92).get().empty());
}

TEST_P(BuildsetsContract, CorruptStoredPropertyIsInvalidArgument) {
  insert({td::Buildset{.id = 91}, td::BuildsetProperty{.buildsetid = 91, .property_value = "[1"},
          td::Buildset{.id = 92}, td::BuildsetProperty{.buildsetid = 92, .property_value = "7"}});
  EXPECT_THROW(db_->buildsets().get_buildset_properties(91).get(), db::InvalidArgument);
  EXPECT_THROW(db_->buildsets().get_buildset_properties(92).get(), db::InvalidArgument);
}

TEST_P(BuildsetsContract, CompleteBuildsetOnceThenNotFound) {
  insert({td::Buildset{.id = 91}, td::Buildset{.id = 92}});
  clock_.advance(5);
  db_->buildsets().complete_buildset(91, db::results::kWarnings).get();
  db_->buildsets().complete_buildset(92, db::results::kFailure, clock_.at(777)).get();
  auto a = db_->buildsets().get_buildset(91).get();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->complete);
  EXPECT_EQ(a->results, db::results::kWarnings);
  EXPECT_EQ(a->complete_at, clock_.at(1'700'000'005));
  auto b = db_->buildsets().get_buildset(92).get();
  EXPECT_EQ(b->complete_at, clock_.at(777));
  EXPECT_EQ(b->results, db::results::kFailure);

  EXPECT_THROW(db_->buildsets().complete_buildset(91, db::results::kSuccess, clock_.at(1)).get(),
               db::NotFound);
  EXPECT_EQ(db_->buildsets().get_buildset(91).get(), a);  // unchanged
  EXPECT_THROW(db_->buildsets().complete_buildset(93, db::results::kSuccess).get(), db::NotFound);
  EXPECT_FALSE(db_->buildsets().get_buildset(93).get());
}

TEST_P(BuildsetsContract, GetBuildsetReadsTestRowsAndMissingIsNullopt) {
  insert({td::SourceStamp{.id = 5, .revision = "5"}, td::SourceStamp{.id = 4, .revision = "4"},
          td::Buildset{.id = 91,
                       .external_idstring = std::nullopt,
                       .reason = "r",
                       .submitted_at = 100,
                       .complete = true,
                       .complete_at = 200,
                       .results = 2},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 91, .sourcestampid = 5},
          td::BuildsetSourceStamp{.id = 2, .buildsetid = 91, .sourcestampid = 4}});
  auto bs = db_->buildsets().get_buildset(91).get();
  ASSERT_TRUE(bs);
  Buildset want{.bsid = 91,
                .external_idstring = std::nullopt,
                .reason = "r",
                .sourcestamps = {4, 5},
                .submitted_at = clock_.at(100),
                .complete = true,
                .complete_at = clock_.at(200),
                .results = 2};
  EXPECT_EQ(*bs, want);
  EXPECT_FALSE(db_->buildsets().get_buildset(92).get());
}

TEST_P(BuildsetsContract, GetBuildsetsFiltersByCompletenessAndResultSpec) {
  insert({td::SourceStamp{.id = 7},
          td::Buildset{.id = 91, .submitted_at = 300, .complete = true, .results = 0},
          td::Buildset{.id = 92, .reason = "x", .submitted_at = 100},
          td::Buildset{.id = 93, .submitted_at = 200, .complete = true, .results = 2},
          td::Buildset{.id = 94, .reason = std::nullopt, .submitted_at = 400},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 93, .sourcestampid = 7}});
  auto& bs = db_->buildsets();
  auto all = bs.get_buildsets().get();
  EXPECT_EQ(ids_of(all), (std::vector<int64_t>{91, 92, 93, 94}));
  EXPECT_EQ(all[2].sourcestamps, std::vector<int64_t>{7});
  EXPECT_EQ(ids_of(bs.get_buildsets(true).get()), (std::vector<int64_t>{91, 93}));
  EXPECT_EQ(ids_of(bs.get_buildsets(false).get()), (std::vector<int64_t>{92, 94}));
  EXPECT_EQ(ids_of(bs.get_buildsets(true, ResultSpec().where("results", int64_t{2})).get()),
            std::vector<int64_t>{93});
  EXPECT_EQ(ids_of(bs.get_buildsets({}, ResultSpec().order_by("submitted_at", true)).get()),
            (std::vector<int64_t>{94, 91, 93, 92}));
  EXPECT_EQ(ids_of(bs.get_buildsets({}, ResultSpec().where("reason", nullptr)).get()),
            std::vector<int64_t>{94});
  EXPECT_EQ(
      ids_of(bs.get_buildsets(
                   {}, ResultSpec().where("complete", int64_t{0}).order_by("submitted_at").take(1))
                 .get()),
      std::vector<int64_t>{92});
  EXPECT_THROW(bs.get_buildsets({}, ResultSpec().where("sourcestamps", int64_t{7})).get(),
               db::InvalidArgument);
}

TEST_P(BuildsetsContract, GetRecentBuildsetsReturnsNewestOldestFirst) {
  insert({td::Buildset{.id = 91, .submitted_at = 300}, td::Buildset{.id = 92, .submitted_at = 100},
          td::Buildset{.id = 93, .submitted_at = 300}, td::Buildset{.id = 94, .submitted_at = 200},
          td::Buildset{.id = 95, .submitted_at = 50, .complete = true}});
  auto& bs = db_->buildsets();
  // Ties on submitted_at are broken by id, so 93 is newer than 91.
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(2).get()), (std::vector<int64_t>{91, 93}));
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(3).get()), (std::vector<int64_t>{94, 91, 93}));
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(1).get()), std::vector<int64_t>{93});
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10).get()), (std::vector<int64_t>{95, 92, 94, 91, 93}));
  EXPECT_TRUE(bs.get_recent_buildsets(0).get().empty());
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, {}, {}, true).get()), std::vector<int64_t>{95});
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(2, {}, {}, false).get()),
            (std::vector<int64_t>{91, 93}));
  EXPECT_THROW(bs.get_recent_buildsets(-1).get(), db::InvalidArgument);
}

TEST_P(BuildsetsContract, GetRecentBuildsetsFiltersByBranchAndRepositoryOfOneStamp) {
  insert({td::SourceStamp{.id = 1, .branch = "main", .repository = "a"},
          td::SourceStamp{.id = 2, .branch = "dev", .repository = "b"},
          td::SourceStamp{.id = 3, .branch = "main", .repository = "b"},
          td::Buildset{.id = 91, .submitted_at = 10}, td::Buildset{.id = 92, .submitted_at = 20},
          td::Buildset{.id = 93, .submitted_at = 30}, td::Buildset{.id = 94, .submitted_at = 40},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 91, .sourcestampid = 1},
          td::BuildsetSourceStamp{.id = 2, .buildsetid = 92, .sourcestampid = 1},
          td::BuildsetSourceStamp{.id = 3, .buildsetid = 92, .sourcestampid = 2},
          td::BuildsetSourceStamp{.id = 4, .buildsetid = 93, .sourcestampid = 3}});
  auto& bs = db_->buildsets();
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, "main").get()), (std::vector<int64_t>{91, 92, 93}));
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(2, "main").get()), (std::vector<int64_t>{92, 93}));
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, "dev").get()), std::vector<int64_t>{92});
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, {}, "b").get()), (std::vector<int64_t>{92, 93}));
  // 92 has a "main" stamp and a "b" stamp, but not one stamp that is both.
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, "main", "b").get()), std::vector<int64_t>{93});
  EXPECT_TRUE(bs.get_recent_buildsets(10, "none").get().empty());
}

// The reference: a repository (or branch) that is specified filters, the empty string too
// (Buildbot 3.7 ignores an empty one: docs/buildbot-compatibility.md).
TEST_P(BuildsetsContract, GetRecentBuildsetsFiltersOnAnEmptyRepositoryOrBranch) {
  insert({td::SourceStamp{.id = 1, .branch = "", .repository = ""},
          td::SourceStamp{.id = 2, .branch = "main", .repository = "b"},
          td::Buildset{.id = 91, .submitted_at = 10}, td::Buildset{.id = 92, .submitted_at = 20},
          td::BuildsetSourceStamp{.id = 1, .buildsetid = 91, .sourcestampid = 1},
          td::BuildsetSourceStamp{.id = 2, .buildsetid = 92, .sourcestampid = 2}});
  auto& bs = db_->buildsets();
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, {}, "").get()), std::vector<int64_t>{91});
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10, "").get()), std::vector<int64_t>{91});
  EXPECT_EQ(ids_of(bs.get_recent_buildsets(10).get()), (std::vector<int64_t>{91, 92}));
}

TEST_P(BuildsetsContract, EightThreadsAddingBuildsetsForOneNewStampShareIt) {
  insert(builders());
  std::vector<db::AddedBuildset> added(8);
  race(8, [&](int i) {
    NewBuildset nb;
    nb.reason = "race " + std::to_string(i);
    nb.builderids = {1, 2};
    nb.sourcestamps = {spec("shared")};
    added[i] = db_->buildsets().add_buildset(nb).get();
  });
  std::set<int64_t> bsids, brids, ssids;
  for (const auto& a : added) {
    bsids.insert(a.bsid);
    for (const auto& [b, r] : a.brids) brids.insert(r);
    auto bs = db_->buildsets().get_buildset(a.bsid).get();
    ASSERT_TRUE(bs);
    ASSERT_EQ(bs->sourcestamps.size(), 1u);
    ssids.insert(bs->sourcestamps[0]);
  }
  EXPECT_EQ(bsids.size(), 8u);
  EXPECT_EQ(brids.size(), 16u);
  EXPECT_EQ(ssids.size(), 1u);
  EXPECT_EQ(db_->sourcestamps().get_source_stamps().get().size(), 1u);
  EXPECT_EQ(db_->buildrequests().get_build_requests().get().size(), 16u);
}

}  // namespace
}  // namespace ym::test
