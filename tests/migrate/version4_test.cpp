// Schema version 4 (builder tags and build data): a database filled at version 3 upgrades with
// every row kept and the new tables usable; dump, restore and copy carry the new tables.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "db/db.hpp"
#include "db/migrate/dump.hpp"
#include "db/migrate/introspect.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"
#include "migrate/fixture.hpp"
#include "migrate/process.hpp"

namespace ym::test {
namespace {

namespace td = db::testdata;
using db::Value;

void upgrade_db_to(const std::string& url, int version) {
  auto c = connect(url);
  migrate::UpgradeOptions o;
  o.target = version;
  migrate::upgrade(*c, db::Url::parse(url), o);
}

// Every row of every table of the model at `version`, each table sorted.
std::map<std::string, std::vector<std::vector<Value>>> all_rows(db::Connection& c, int version) {
  std::map<std::string, std::vector<std::vector<Value>>> out;
  for (const auto& t : db::model::at_version(version).tables) {
    std::string cols;
    for (size_t i = 0; i < t.columns.size(); ++i) cols += (i ? ", " : "") + c.dialect().quote(t.columns[i].name);
    for (const auto& r : c.stmt("SELECT " + cols + " FROM " + c.dialect().quote(t.name) + " ORDER BY " + cols).all()) {
      out[t.name].push_back(r.values());
    }
  }
  return out;
}

class Version4On : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, Version4On, testing::ValuesIn(targets()), target_name);

TEST_P(Version4On, UpgradingFromVersion3KeepsEveryRowAndAddsUsableTables) {
  std::string url = empty_url("v4");
  upgrade_db_to(url, 3);
  {
    auto c = connect(url);
    c->execute_script(
        "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'm', 'hm', 1, 0);"
        "INSERT INTO builders (id, name, description, name_hash) VALUES (1, 'b1', 'first', 'h1');"
        "INSERT INTO builders (id, name, name_hash) VALUES (2, 'b2', 'h2');"
        "INSERT INTO builder_masters (id, builderid, masterid) VALUES (1, 1, 1);"
        "INSERT INTO buildsets (id, submitted_at) VALUES (1, 0);"
        "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at) VALUES (1, 1, 1, 0);");
    for (int i = 1; i <= 40; ++i) {
      c->stmt("INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, "
              "complete_at, state_string, results) VALUES (?, ?, 1, 1, 1, ?, ?, 'done', 0)")
          .bind(i, i, 100 * i, 100 * i + 50)
          .exec();
      c->stmt("INSERT INTO build_properties (buildid, name, value, source) VALUES (?, 'p', ?, 's')")
          .bind(i, std::to_string(i))
          .exec();
    }
  }
  auto before = all_rows(*connect(url), 3);
  ASSERT_EQ(before.at("builds").size(), 40u);

  upgrade_db_to(url, 4);
  {
    auto c = connect(url);
    EXPECT_EQ(migrate::read_status(*c).version, 4);
    EXPECT_TRUE(matches_model(*c, db::model::at_version(4)));
    EXPECT_EQ(all_rows(*c, 3), before);
    for (const char* t : {"tags", "builders_tags", "build_data"}) {
      EXPECT_EQ(c->stmt(std::string("SELECT COUNT(*) FROM ") + t).scalar<int64_t>(), 0) << t;
    }
    // The foreign keys hold: no link to a builder or build that does not exist.
    EXPECT_THROW(c->stmt("INSERT INTO build_data (buildid, name, value, length, source) VALUES (999, 'n', ?, 1, 's')")
                     .bind(db::Blob{"x"})
                     .exec(),
                 db::ForeignKeyViolation);
  }

  // The old rows work with the new calls once the database is current.
  upgrade_db_to(url, migrate::current_version());
  auto db = db::Db::open(url);
  db->builders().update_builder_info(2, "second", {"arm64", "slow"}).get();
  EXPECT_EQ(db->builders().get_builder(2).get()->tags, (std::vector<std::string>{"arm64", "slow"}));
  EXPECT_EQ(db->builders().get_builder(1).get()->description, std::optional<std::string>("first"));
  db->build_data().set_build_data(7, "junit", std::string("\0x", 2), "step").get();
  EXPECT_EQ(db->build_data().get_build_data_no_value(7, "junit").get()->length, 2);
  EXPECT_EQ(db->builds().get_build_properties(7).get().at("p").value, 7);
  db->shutdown();
}

// A small installation with rows in the version 4 tables (a build data value with NUL and high
// bytes).
void fill_new_tables(db::Db& db) {
  db.insert_test_data({td::Master{.id = 1, .name = "m"}, td::Builder{.id = 10, .name = "b10"},
                       td::Builder{.id = 11, .name = "b11"},
                       td::Tag{.id = 1, .name = "linux"}, td::Tag{.id = 2, .name = "caf\xC3\xA9"},
                       td::BuilderTag{.id = 1, .builderid = 10, .tagid = 2},
                       td::BuilderTag{.id = 2, .builderid = 10, .tagid = 1},
                       td::BuilderTag{.id = 3, .builderid = 11, .tagid = 1},
                       td::Buildset{.id = 20}, td::BuildRequest{.id = 30, .buildsetid = 20, .builderid = 10},
                       td::Build{.id = 50, .number = 1, .builderid = 10, .buildrequestid = 30, .masterid = 1},
                       td::BuildData{.id = 1, .buildid = 50, .name = "bin",
                                     .value = std::string("a\0b\xFF\xFE", 5), .source = "s"},
                       td::BuildData{.id = 2, .buildid = 50, .name = "empty", .value = ""}})
      .get();
}

void expect_new_tables(db::Db& db) {
  EXPECT_EQ(db.builders().get_builder(10).get()->tags, (std::vector<std::string>{"caf\xC3\xA9", "linux"}));
  EXPECT_EQ(db.builders().get_builder(11).get()->tags, (std::vector<std::string>{"linux"}));
  EXPECT_EQ(db.tags().find_tag_id("linux").get(), 1);
  EXPECT_EQ(db.build_data().get_build_data(50, "bin").get(),
            (db::BuildDataEntry{50, "bin", std::string("a\0b\xFF\xFE", 5), 5, "s"}));
  EXPECT_EQ(db.build_data().get_build_data(50, "empty").get()->length, 0);
  // New rows get ids after the restored ones.
  EXPECT_GT(db.tags().find_tag_id("new").get(), 2);
  db.build_data().set_build_data(50, "more", "x", "s").get();
  EXPECT_EQ(db.build_data().get_all_build_data_no_values(50).get().size(), 3u);
}

// `yardmaster db upgrade` killed while version 4 runs: the transactional step leaves version 3
// and no new table (MySQL, whose DDL commits: recorded as interrupted); `db upgrade` again
// completes it.
TEST_P(Version4On, AKilledUpgradeToVersion4IsCompletedByTheNextOne) {
  const std::string yardmaster = YM_YARDMASTER_BIN;
  std::string url = empty_url("v4kill");
  upgrade_db_to(url, 3);
  {
    Child k({yardmaster, "db", "upgrade", "--yes", url}, {"YM_MIGRATE_TEST_PAUSE=4:60000"});
    ASSERT_TRUE(k.wait_for_output("applying version 4", std::chrono::seconds(60))) << k.output();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // past the step, in the pause
    k.kill_hard();
    EXPECT_EQ(k.wait(), 128 + SIGKILL) << k.output();
  }
  {
    auto c = connect(url);
    auto st = migrate::read_status(*c);
    if (transactional_ddl()) {
      EXPECT_EQ(st.version, 3);
      EXPECT_EQ(st.state, migrate::SchemaState::kOutOfDate);
      EXPECT_TRUE(matches_model(*c, db::model::at_version(3)));
    } else {
      EXPECT_EQ(st.state, migrate::SchemaState::kInterrupted);
      EXPECT_EQ(st.interrupted, 4);
    }
  }
  Child again({yardmaster, "db", "upgrade", "--yes", url});
  EXPECT_EQ(again.wait(), 0) << again.output();
  auto c = connect(url);
  EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
  EXPECT_TRUE(matches_model(*c, db::model::current()));
}

class Version4DumpOn : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, Version4DumpOn, testing::ValuesIn(targets()), target_name);

TEST_P(Version4DumpOn, DumpRestoreAndCopyCarryTagsAndBuildData) {
  std::string source = s_.url("src.sqlite");
  {
    auto db = db::Db::open(source);
    fill_new_tables(*db);
    db->shutdown();
  }
  auto counts = [](const std::string& url) {
    std::map<std::string, int64_t> out;
    auto c = connect(url);
    for (const auto& t : migrate::count_rows(*c, migrate::current_version())) out[t.table] = t.rows;
    return out;
  };
  auto expected = counts(source);
  EXPECT_EQ(expected.at("tags"), 2);
  EXPECT_EQ(expected.at("builders_tags"), 3);
  EXPECT_EQ(expected.at("build_data"), 2);

  auto r = migrate::dump(db::Url::parse(source), s_.path("a.ymdump"), migrate::DumpFormat::kPortable);
  std::string restored = empty_url("restored");
  EXPECT_EQ(migrate::restore(s_.path("a.ymdump"), db::Url::parse(restored)).rows, r.rows);
  EXPECT_EQ(counts(restored), expected);
  {
    auto db = db::Db::open(restored);
    expect_new_tables(*db);
    db->shutdown();
  }

  std::string copied = empty_url("copied");
  EXPECT_EQ(migrate::copy(db::Url::parse(source), db::Url::parse(copied)).rows, r.rows);
  EXPECT_EQ(counts(copied), expected);
  auto db = db::Db::open(copied);
  expect_new_tables(*db);
  db->shutdown();
}

}  // namespace
}  // namespace ym::test
