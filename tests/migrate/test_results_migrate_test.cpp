// The schema version that adds Buildbot 3.7's test result tables (model::kTestResultsVersion):
// an installation filled at the version before is upgraded with every row kept, and the new
// tables travel with dump / restore and `db copy`. On SQLite and the test servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "db/db.hpp"
#include "db/migrate/dump.hpp"
#include "db/migrate/introspect.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"
#include "migrate/fixture.hpp"

namespace ym::test {
namespace {

namespace td = db::testdata;
using db::Value;
constexpr int kVersion = db::model::kTestResultsVersion;

void upgrade_to(const std::string& url, int version) {
  auto c = connect(url);
  migrate::UpgradeOptions o;
  o.target = version;
  migrate::upgrade(*c, db::Url::parse(url), o);
}

// Every row of every table of the schema at `version`, each table sorted.
std::map<std::string, std::vector<std::vector<Value>>> rows_at(db::Connection& c, int version) {
  std::map<std::string, std::vector<std::vector<Value>>> out;
  for (const auto& t : db::model::at_version(version).tables) {
    std::string cols;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      cols += (i ? ", " : "") + c.dialect().quote(t.columns[i].name);
    }
    for (const auto& r : c.stmt("SELECT " + cols + " FROM " + c.dialect().quote(t.name) +
                                " ORDER BY " + cols)
                             .all()) {
      out[t.name].push_back(r.values());
    }
  }
  return out;
}

// Results through the connectors: sets of builder 10 and every result of each, with names.
struct Snapshot {
  std::vector<db::TestResultSet> sets;
  std::vector<std::vector<db::TestResult>> results;
  std::vector<std::string> names, paths;
  bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(db::Db& db) {
  Snapshot s;
  s.sets = db.test_result_sets().get_test_result_sets(10).get();
  for (const auto& set : s.sets) s.results.push_back(db.test_results().get_test_results(10, set.id).get());
  s.names = db.test_results().get_test_names(10).get();
  s.paths = db.test_results().get_test_code_paths(10).get();
  return s;
}

// A build with two steps, and test results on both (one set complete), through the connectors.
void fill(db::Db& db) {
  db.insert_test_data({td::Master{.id = 1}, td::Builder{.id = 10, .name = "b10"},
                       td::Buildset{.id = 20},
                       td::BuildRequest{.id = 30, .buildsetid = 20, .builderid = 10},
                       td::Build{.id = 50, .number = 1, .builderid = 10, .buildrequestid = 30, .masterid = 1},
                       td::Step{.id = 60, .number = 0, .name = "unit", .buildid = 50},
                       td::Step{.id = 61, .number = 1, .name = "perf", .buildid = 50}})
      .get();
  int64_t unit = db.test_result_sets().add_test_result_set(10, 50, 60, "unit tests", "pass_fail", "boolean").get();
  int64_t perf = db.test_result_sets().add_test_result_set(10, 50, 61, std::nullopt, "performance", "ns").get();
  std::vector<db::NewTestResult> rs;
  for (int i = 0; i < 30; ++i) {
    rs.push_back({std::to_string(i % 2), "suite.t\xC3\xA9st_" + std::to_string(i),
                  "src/f" + std::to_string(i % 4) + ".cpp", i, std::nullopt});
  }
  db.test_results().add_test_results(10, unit, rs).get();
  db.test_results().add_test_results(10, perf, {{"1234", "bench.a", std::nullopt, std::nullopt, 1234}}).get();
  db.test_result_sets().complete_test_result_set(unit, 15, 15).get();
}

class TestResultsMigrationOn : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, TestResultsMigrationOn, testing::ValuesIn(targets()), target_name);

TEST_P(TestResultsMigrationOn, UpgradeAddsTheTablesAndKeepsEveryRow) {
  std::string url = empty_url("m");
  upgrade_to(url, kVersion - 1);
  auto c = connect(url);
  auto tables = c->table_names();
  for (const char* t : {"test_result_sets", "test_results", "test_names", "test_code_paths"}) {
    EXPECT_EQ(std::count(tables.begin(), tables.end(), t), 0) << t;
  }
  c->execute_script(
      "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'm', 'h', 1, 0);"
      "INSERT INTO builders (id, name, name_hash) VALUES (10, 'b', 'hb');"
      "INSERT INTO buildsets (id, submitted_at) VALUES (20, 0);"
      "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at) VALUES (30, 20, 10, 0);"
      "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, state_string)"
      "  VALUES (50, 1, 10, 30, 1, 100, 'done');");
  for (int i = 0; i < 20; ++i) {
    c->stmt("INSERT INTO steps (id, number, name, buildid, started_at, state_string, urls_json, hidden) "
            "VALUES (?, ?, ?, 50, ?, 'x', '[]', 0)")
        .bind(60 + i, i, "s" + std::to_string(i), 1000 + i)
        .exec();
  }
  auto before = rows_at(*c, kVersion - 1);
  c.reset();
  upgrade_to(url, kVersion);
  c = connect(url);
  EXPECT_EQ(rows_at(*c, kVersion - 1), before);
  EXPECT_TRUE(matches_model(*c, db::model::at_version(kVersion)));
  for (const char* t : {"test_result_sets", "test_results", "test_names", "test_code_paths"}) {
    EXPECT_EQ(*c->stmt(std::string("SELECT COUNT(*) FROM ") + t).scalar<int64_t>(), 0) << t;
  }
  c.reset();
  // The upgraded database takes test results for the steps that were already there.
  upgrade_to(url, migrate::current_version());
  auto db = db::Db::open(url);
  int64_t set = db->test_result_sets().add_test_result_set(10, 50, 79, "d", "pass_fail", "boolean").get();
  db->test_results().add_test_results(10, set, {{"1", "old.step.test", std::nullopt, std::nullopt, std::nullopt}}).get();
  EXPECT_EQ(db->test_results().get_test_names(10).get(), std::vector<std::string>{"old.step.test"});
}

// SQLite -> portable dump -> this backend, and SQLite -> `db copy` -> this backend: the test
// results read back the same through the connectors.
TEST_P(TestResultsMigrationOn, DumpRestoreAndCopyCarryTheTestResults) {
  std::string source = s_.url("a.sqlite");
  Snapshot want;
  {
    auto db = db::Db::open(source);
    fill(*db);
    want = snapshot(*db);
  }
  ASSERT_EQ(want.sets.size(), 2u);
  ASSERT_EQ(want.results[0].size(), 30u);
  ASSERT_EQ(want.names.size(), 31u);
  ASSERT_EQ(want.paths.size(), 4u);

  auto r = migrate::dump(db::Url::parse(source), s_.path("a.ymdump"), migrate::DumpFormat::kPortable);
  std::map<std::string, int64_t> counts;
  for (const auto& t : r.tables) counts[t.table] = t.rows;
  EXPECT_EQ(counts["test_result_sets"], 2);
  EXPECT_EQ(counts["test_results"], 31);
  EXPECT_EQ(counts["test_names"], 31);
  EXPECT_EQ(counts["test_code_paths"], 4);

  std::string restored = empty_url("restored");
  migrate::restore(s_.path("a.ymdump"), db::Url::parse(restored));
  {
    auto db = db::Db::open(restored);
    EXPECT_EQ(snapshot(*db), want);
    // New rows after the restored ones; a restored name is found, not added again.
    int64_t set = db->test_result_sets().add_test_result_set(10, 50, 60, "again", "pass_fail", "boolean").get();
    EXPECT_GT(set, want.sets.back().id);
    db->test_results().add_test_results(10, set, {{"1", "bench.a", std::nullopt, std::nullopt, std::nullopt}}).get();
    EXPECT_EQ(db->test_results().get_test_names(10).get(), want.names);
  }

  std::string copied = empty_url("copied");
  auto cr = migrate::copy(db::Url::parse(source), db::Url::parse(copied));
  EXPECT_EQ(cr.rows, r.rows);
  auto db = db::Db::open(copied);
  EXPECT_EQ(snapshot(*db), want);
}

}  // namespace
}  // namespace ym::test
