// Migrations, the cross-process lock and the administration commands, end to end: real
// processes running `yardmaster db ...` against real databases. The tests that must hold on every
// backend are parameterized over SQLite and the PostgreSQL / MariaDB test servers
// (tests/backend/server_db.hpp): a server that is not configured is skipped locally and fails
// under CI=true.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/dump.hpp"
#include "db/migrate/introspect.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"
#include "backend/server_db.hpp"
#include "migrate/fixture.hpp"
#include "migrate/process.hpp"

namespace ym::test {
namespace {

namespace fs = std::filesystem;
namespace td = db::testdata;
using db::Value;

const std::string kYardmaster = YM_YARDMASTER_BIN;

void upgrade_to(const std::string& url, int version) {
  auto c = connect(url);
  migrate::UpgradeOptions o;
  o.target = version;
  migrate::upgrade(*c, db::Url::parse(url), o);
}

// Every row of every model table, each table sorted, for exact comparisons.
using Contents = std::map<std::string, std::vector<std::vector<Value>>>;
Contents contents(db::Connection& c, int version) {
  Contents out;
  for (const auto& t : db::model::at_version(version).tables) {
    std::string cols;
    for (size_t i = 0; i < t.columns.size(); ++i) cols += (i ? ", " : "") + c.dialect().quote(t.columns[i].name);
    auto rows = c.stmt("SELECT " + cols + " FROM " + c.dialect().quote(t.name) + " ORDER BY " + cols).all();
    for (const auto& r : rows) out[t.name].push_back(r.values());
  }
  return out;
}

int64_t count(db::Connection& c, const std::string& table) {
  return *c.stmt("SELECT COUNT(*) FROM " + table).scalar<int64_t>();
}

// One master, builder, buildset, request and build at version 1, for steps to hang on.
void insert_one_build(db::Connection& c) {
  c.execute_script(
      "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'm', 'h', 1, 0);"
      "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'hb');"
      "INSERT INTO buildsets (id, submitted_at) VALUES (1, 0);"
      "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at) VALUES (1, 1, 1, 0);"
      "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, state_string)"
      "  VALUES (1, 1, 1, 1, 1, 100, 'done');");
}

// A small installation at the current version: masters, builders, workers, state (with
// non-ASCII text), and rows in the build tables (a log chunk with NUL bytes).
void fill(db::Db& db) {
  db.insert_test_data({td::Master{.id = 1, .name = "m1:/x"}, td::Master{.id = 2, .name = "m\xC3\xA9:/y", .active = false},
                       td::Builder{.id = 10, .name = "b10", .description = "d\xE2\x9C\x93"},
                       td::BuilderMaster{.id = 1, .builderid = 10, .masterid = 1},
                       td::Worker{.id = 5, .name = "w5", .info = {{"os", "linux"}}},
                       td::ConfiguredWorker{.id = 1, .buildermasterid = 1, .workerid = 5},
                       td::Object{.id = 3, .name = "o", .class_name = "C"},
                       td::ObjectState{.objectid = 3, .name = "k", .value_json = "{\"a\": [1, 2, \"\xC3\xA9\"]}"},
                       td::SourceStamp{.id = 40}, td::Buildset{.id = 20},
                       td::BuildsetSourceStamp{.id = 1, .buildsetid = 20, .sourcestampid = 40},
                       td::BuildRequest{.id = 30, .buildsetid = 20, .builderid = 10},
                       td::BuildRequestClaim{.brid = 30, .masterid = 1, .claimed_at = 55},
                       td::Build{.id = 50, .number = 1, .builderid = 10, .buildrequestid = 30, .workerid = 5, .masterid = 1},
                       td::Step{.id = 60, .buildid = 50},
                       td::Log{.id = 70, .stepid = 60, .num_lines = 2},
                       td::LogChunk{.logid = 70, .first_line = 0, .last_line = 1,
                                    .content = std::string("a\0b\nsecond\n", 11)}})
      .get();
}

class MigrationsOn : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, MigrationsOn, testing::ValuesIn(targets()), target_name);

TEST_P(MigrationsOn, UpgradingFromEmptyMatchesTheModelAtEveryVersion) {
  std::string url = empty_url("m");
  for (const auto& m : migrate::history()) {  // the numbers may have gaps (reserved versions)
    int v = m.version;
    upgrade_to(url, v);
    auto c = connect(url);
    EXPECT_EQ(migrate::read_status(*c).version, v);
    EXPECT_TRUE(matches_model(*c, db::model::at_version(v))) << "version " << v;
  }
  auto c = connect(url);
  EXPECT_TRUE(matches_model(*c, db::model::current()));
}

// A migrated database keeps 'w' and 'w ' apart, as the model's unique keys expect: on MariaDB /
// MySQL every table, ym_migrations included, gets the dialect's NO PAD binary collation.
TEST_P(MigrationsOn, TrailingSpacesAreSignificantInAMigratedDatabase) {
  std::string url = empty_url("m");
  upgrade_to(url, migrate::current_version());
  auto c = connect(url);
  c->stmt("INSERT INTO workers (id, name, info) VALUES (?, ?, ?)").bind(1, "w", "{}").exec();
  EXPECT_NO_THROW(c->stmt("INSERT INTO workers (id, name, info) VALUES (?, ?, ?)").bind(2, "w ", "{}").exec());
  EXPECT_EQ(c->stmt("SELECT COUNT(*) FROM workers WHERE name = ?").bind("w").scalar<int64_t>(), 1);
  if (backend() == db::Backend::kMysql) {
    std::set<std::string> collations;
    for (const auto& r : c->stmt("SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                                 "DATABASE()")
                             .all()) {
      collations.insert(r.get<std::string>(0));
    }
    EXPECT_EQ(collations.size(), 1u) << ::testing::PrintToString(collations);
    EXPECT_EQ(collations.count("utf8mb4_bin"), 0u) << "a PAD SPACE collation";
  }
}

TEST_P(MigrationsOn, TheComparisonNoticesADifference) {
  std::string url = empty_url("m");
  upgrade_to(url, migrate::current_version());
  auto c = connect(url);
  c->execute_script(backend() == db::Backend::kMysql
                        ? "DROP INDEX buildrequests_builder_pending ON buildrequests"
                        : "DROP INDEX buildrequests_builder_pending");
  c->execute_script("ALTER TABLE workers ADD extra INTEGER");
  auto diffs = migrate::compare_with_model(*c, db::model::current());
  EXPECT_EQ(diffs.size(), 2u) << ::testing::PrintToString(diffs);
}

TEST_P(MigrationsOn, Version2BackfillsLocksAcquiredAtFromStartedAt) {
  std::string url = empty_url("m");
  upgrade_to(url, 1);
  auto c = connect(url);
  insert_one_build(*c);
  for (int i = 0; i < 50; ++i) {
    std::optional<int64_t> started;
    if (i % 5 != 0) started = 1000 + i;  // every fifth step never started
    c->stmt("INSERT INTO steps (id, number, name, buildid, started_at, state_string, urls_json, hidden) "
            "VALUES (?, ?, ?, 1, ?, 'x', '[]', 0)")
        .bind(i + 1, i, "s" + std::to_string(i), started)
        .exec();
  }
  auto before = contents(*c, 1);
  c.reset();
  upgrade_to(url, 2);
  c = connect(url);
  auto rows = c->stmt("SELECT id, started_at, locks_acquired_at FROM steps ORDER BY id").all();
  ASSERT_EQ(rows.size(), 50u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.get<std::optional<int64_t>>(2), r.get<std::optional<int64_t>>(1)) << "step " << r.get<int64_t>(0);
  }
  // Every other table and column is untouched.
  auto after = contents(*c, 1);
  EXPECT_EQ(after, before);
}

TEST_P(MigrationsOn, Version3AddsTheIndexAndKeepsEveryRow) {
  std::string url = empty_url("m");
  upgrade_to(url, 2);
  auto c = connect(url);
  c->execute_script(
      "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'hb');"
      "INSERT INTO buildsets (id, submitted_at) VALUES (1, 0);");
  for (int i = 1; i <= 300; ++i) {
    c->stmt("INSERT INTO buildrequests (id, buildsetid, builderid, priority, complete, submitted_at) "
            "VALUES (?, 1, 1, ?, ?, ?)")
        .bind(i, i % 3, i % 2, 10 * i)
        .exec();
  }
  auto before = contents(*c, 2);
  c.reset();
  upgrade_to(url, 3);
  c = connect(url);
  auto info = migrate::describe_table(*c, "buildrequests");
  ASSERT_TRUE(info.index("buildrequests_builder_pending"));
  EXPECT_EQ(info.index("buildrequests_builder_pending")->columns,
            (std::vector<std::string>{"builderid", "complete", "priority", "submitted_at"}));
  EXPECT_EQ(contents(*c, 2), before);
}

// The version before 7 in the history (versions may be reserved by parallel work, so not 6).
int version_before(int v) {
  int before = 0;
  for (const auto& m : migrate::history()) {
    if (m.version < v) before = m.version;
  }
  return before;
}

TEST_P(MigrationsOn, Version7AddsChangeFilesSeqAndKeepsEveryRow) {
  std::string url = empty_url("m");
  int before = version_before(7);
  upgrade_to(url, before);
  auto c = connect(url);
  c->execute_script("INSERT INTO sourcestamps (id, ss_hash, repository, codebase, project, created_at) "
                    "VALUES (1, 'h', 'r', '', 'p', 0);");
  for (int id = 1; id <= 3; ++id) {
    c->stmt("INSERT INTO changes (changeid, author, comments, when_timestamp, repository, codebase, "
            "project, sourcestampid) VALUES (?, 'a', 'c', 0, 'r', '', 'p', 1)")
        .bind(id)
        .exec();
    for (const char* f : {"z.c", "a.c", "m/k.h"}) {
      c->stmt("INSERT INTO change_files (changeid, filename) VALUES (?, ?)").bind(id, std::string(f)).exec();
    }
  }
  auto before_rows = contents(*c, before);
  c.reset();
  upgrade_to(url, 7);
  c = connect(url);
  ASSERT_TRUE(migrate::describe_table(*c, "change_files").column("seq"));
  EXPECT_EQ(*c->stmt("SELECT COUNT(*) FROM change_files WHERE seq IS NULL").scalar<int64_t>(), 9);
  EXPECT_EQ(contents(*c, before), before_rows);  // every row of every table, as it was
  // The old rows read by name, as before the migration.
  auto db = db::Db::open(url);
  EXPECT_EQ(db->changes().get_change(2).get()->files,
            (std::vector<std::string>{"a.c", "m/k.h", "z.c"}));
  db->shutdown();
}

TEST_P(MigrationsOn, EightProcessesUpgradingAtOnceApplyEachVersionOnce) {
  std::string url = empty_url("m");
  upgrade_to(url, 1);
  std::vector<std::unique_ptr<Child>> kids;
  for (int i = 0; i < 8; ++i) {
    // On a Galera cluster, spread over its nodes: the lock must hold across them.
    std::string mine = GetParam().galera ? hosts_rotated(url, i) : url;
    kids.push_back(std::make_unique<Child>(std::vector<std::string>{kYardmaster, "db", "upgrade", "--yes", mine}));
  }
  std::map<int, int> applied;
  std::regex re("applied version ([0-9]+)");
  for (auto& k : kids) {
    EXPECT_EQ(k->wait(), 0) << k->output();
    for (std::sregex_iterator it(k->output().begin(), k->output().end(), re), end; it != end; ++it) {
      applied[std::stoi((*it)[1])]++;
    }
  }
  // Every version after 1 once (the history's numbers may have gaps: reserved versions).
  for (const auto& m : migrate::history()) {
    if (m.version > 1) {
      EXPECT_EQ(applied[m.version], 1) << "version " << m.version;
    }
  }
  EXPECT_EQ(applied.size(), migrate::history().size() - 1);
  auto c = connect(url);
  EXPECT_TRUE(matches_model(*c, db::model::current()));
  auto st = migrate::read_status(*c);
  EXPECT_EQ(st.state, migrate::SchemaState::kUpToDate);
  // One record row per version, each finished.
  EXPECT_EQ(count(*c, migrate::kRecordTable), static_cast<int64_t>(migrate::history().size()));
  EXPECT_EQ(c->stmt("SELECT COUNT(*) FROM ym_migrations WHERE finished_at IS NULL").scalar<int64_t>(), 0);
}

// Starts `yardmaster db upgrade` with the test pause after `version`'s step, and SIGKILLs it while
// it sleeps there (inside the step's transaction where the backend has transactional DDL).
void kill_during_version(const std::string& url, int version) {
  Child k({kYardmaster, "db", "upgrade", "--yes", url},
          {"YM_MIGRATE_TEST_PAUSE=" + std::to_string(version) + ":60000"});
  ASSERT_TRUE(k.wait_for_output("applying version " + std::to_string(version), std::chrono::seconds(60)))
      << k.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // past the step, in the pause
  k.kill_hard();
  EXPECT_EQ(k.wait(), 128 + SIGKILL) << k.output();
}

// `db status` reports `version` as interrupted, and nothing but `db upgrade` opens the database.
void expect_reported_as_interrupted(const std::string& url, int version) {
  {
    auto c = connect(url);
    auto st = migrate::read_status(*c);
    EXPECT_EQ(st.state, migrate::SchemaState::kInterrupted);
    EXPECT_EQ(st.interrupted, version);
    EXPECT_EQ(st.version, version - 1);
  }
  Child status({kYardmaster, "db", "status", url});
  EXPECT_EQ(status.wait(), 1);
  EXPECT_NE(status.output().find("interrupted migration"), std::string::npos) << status.output();
  EXPECT_NE(status.output().find("did not finish"), std::string::npos) << status.output();
  EXPECT_THROW(db::Db::open(url), db::SchemaOutOfDate);
}

void expect_rerun_completes(const std::string& url) {
  Child again({kYardmaster, "db", "upgrade", "--yes", url});
  EXPECT_EQ(again.wait(), 0) << again.output();
  auto c = connect(url);
  EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
  EXPECT_TRUE(matches_model(*c, db::model::current()));
}

TEST_P(MigrationsOn, AKilledTransactionalMigrationLeavesThePreviousVersion) {
  std::string url = empty_url("m");
  upgrade_to(url, 1);
  {
    auto c = connect(url);
    insert_one_build(*c);
    c->execute_script(
        "INSERT INTO steps (id, number, name, buildid, started_at, state_string, urls_json, hidden)"
        "  VALUES (1, 0, 's', 1, 77, 'x', '[]', 0);");
  }
  kill_during_version(url, 2);
  if (transactional_ddl()) {
    auto c = connect(url);
    auto st = migrate::read_status(*c);
    EXPECT_EQ(st.version, 1);
    EXPECT_EQ(st.state, migrate::SchemaState::kOutOfDate);
    EXPECT_FALSE(migrate::describe_table(*c, "steps").column("locks_acquired_at"));
    EXPECT_TRUE(matches_model(*c, db::model::at_version(1)));
  } else {
    // MySQL: version 2 ran as a non-transactional step, so the kill leaves it recorded as
    // interrupted, and `db upgrade` runs its (idempotent) step again.
    expect_reported_as_interrupted(url, 2);
  }
  expect_rerun_completes(url);
  auto c = connect(url);
  EXPECT_EQ(c->stmt("SELECT locks_acquired_at FROM steps").scalar<int64_t>(), 77);
  EXPECT_EQ(count(*c, "steps"), 1);
}

TEST_P(MigrationsOn, AnInterruptedNonTransactionalMigrationIsReportedAndCompleted) {
  std::string url = empty_url("m");
  upgrade_to(url, 2);
  kill_during_version(url, 3);
  expect_reported_as_interrupted(url, 3);
  expect_rerun_completes(url);
}

TEST(Migrations, AnOutOfDateDatabaseIsRefusedWithTheUpgradeCommand) {
  Scratch s;
  std::string url = s.url("m.sqlite");
  upgrade_to(url, 1);
  try {
    db::Db::open(url);
    FAIL();
  } catch (const db::SchemaOutOfDate& e) {
    EXPECT_NE(std::string(e.what()).find("yardmaster db upgrade"), std::string::npos);
  }
  auto c = connect(url);
  EXPECT_EQ(migrate::read_status(*c).version, 1);  // opening did not upgrade it
}

TEST(Dump, SqliteScriptRestoresWithTheSqlite3Shell) {
  Scratch s;
  std::string url = s.url("a.sqlite");
  fill(*db::Db::open(url));
  Child d({kYardmaster, "db", "dump", url, s.path("a.sql")});
  ASSERT_EQ(d.wait(), 0) << d.output();
  Child shell({"/bin/sh", "-c", "sqlite3 '" + s.path("b.sqlite") + "' < '" + s.path("a.sql") + "'"});
  ASSERT_EQ(shell.wait(), 0) << shell.output();
  auto a = connect(url);
  auto b = connect(s.url("b.sqlite"));
  EXPECT_EQ(contents(*b, migrate::current_version()), contents(*a, migrate::current_version()));
  EXPECT_EQ(migrate::read_status(*b).state, migrate::SchemaState::kUpToDate);
  // The restored database accepts new rows after the copied ones.
  auto db = db::Db::open(s.url("b.sqlite"));
  EXPECT_GT(db->workers().find_worker_id("new").get(), 5);
}

// The table sections of a portable dump: each table's column line and its row lines, rows
// sorted (a backend orders text keys by its own collation), without the header and end marker
// (which name the source and the time).
std::map<std::string, std::vector<std::string>> dump_sections(const std::string& path) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(path);
  std::string line, table;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.rfind("[", 0) != 0) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("table")) {
        table = line;  // its name and its columns
        out[table];
      }
    } else {
      out[table].push_back(line);
    }
  }
  for (auto& [t, rows] : out) std::sort(rows.begin(), rows.end());
  return out;
}

class DumpOn : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, DumpOn, testing::ValuesIn(targets()), target_name);

// SQLite -> portable dump -> this backend -> dump again: the same rows; a copy from SQLite holds
// them too, and the restored database takes new rows after the restored ones.
TEST_P(DumpOn, RoundTripFromSqliteKeepsEveryRow) {
  std::string source = s_.url("a.sqlite");
  fill(*db::Db::open(source));
  auto r = migrate::dump(db::Url::parse(source), s_.path("a.ymdump"), migrate::DumpFormat::kPortable);
  EXPECT_EQ(r.schema_version, migrate::current_version());
  EXPECT_GT(r.rows, 10);
  auto expected = dump_sections(s_.path("a.ymdump"));
  ASSERT_EQ(expected.size(), db::model::current().tables.size());

  std::string restored = empty_url("restored");
  auto rr = migrate::restore(s_.path("a.ymdump"), db::Url::parse(restored));
  EXPECT_EQ(rr.rows, r.rows);
  migrate::dump(db::Url::parse(restored), s_.path("b.ymdump"), migrate::DumpFormat::kPortable);
  EXPECT_EQ(dump_sections(s_.path("b.ymdump")), expected);
  {
    auto c = connect(restored);
    EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
    EXPECT_TRUE(matches_model(*c, db::model::current()));
  }

  std::string copied = empty_url("copied");
  auto cr = migrate::copy(db::Url::parse(source), db::Url::parse(copied));
  EXPECT_EQ(cr.rows, r.rows);
  migrate::dump(db::Url::parse(copied), s_.path("c.ymdump"), migrate::DumpFormat::kPortable);
  EXPECT_EQ(dump_sections(s_.path("c.ymdump")), expected);

  // And back: the dump of this backend restores into SQLite with the rows of the original.
  migrate::restore(s_.path("b.ymdump"), db::Url::parse(s_.url("d.sqlite")));
  EXPECT_EQ(contents(*connect(s_.url("d.sqlite")), migrate::current_version()),
            contents(*connect(source), migrate::current_version()));

  auto db = db::Db::open(restored);
  EXPECT_GT(db->workers().find_worker_id("new").get(), 5);
}

TEST_P(DumpOn, ADumpUnderLoadHoldsExactlyWhatWasCommittedBeforeItStarted) {
  std::string url = clean_url("a");
  auto db = db::Db::open(url);
  using Clock = std::chrono::steady_clock;
  struct Write {
    int64_t id;
    Clock::time_point started, committed;
  };
  std::mutex mu;
  std::vector<Write> writes;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        int64_t id = (w + 1) * 1000000 + i;
        auto t0 = Clock::now();
        // One transaction, three rows: a dump must hold all three or none.
        db->insert_test_data({td::Master{.id = id, .name = "m" + std::to_string(id)},
                              td::Builder{.id = id, .name = "b" + std::to_string(id)},
                              td::BuilderMaster{.id = id, .builderid = id, .masterid = id}})
            .get();
        std::lock_guard lock(mu);
        writes.push_back({id, t0, Clock::now()});
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto called = Clock::now();
  std::optional<Clock::time_point> first_progress;
  auto join = [&] {
    stop = true;
    for (auto& t : writers) t.join();
  };
  try {
    migrate::dump(db::Url::parse(url), s_.path("a.ymdump"), migrate::DumpFormat::kPortable,
                  [&](const migrate::Progress&) {
                    if (!first_progress) first_progress = Clock::now();
                  });
  } catch (const std::exception& e) {
    join();
    FAIL() << "the dump failed: " << e.what();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  join();
  ASSERT_TRUE(first_progress);

  std::string restored = empty_url("r");
  migrate::restore(s_.path("a.ymdump"), db::Url::parse(restored));
  auto r = connect(restored);
  std::set<int64_t> masters, builders, links;
  for (const auto& row : r->stmt("SELECT id FROM masters").all()) masters.insert(row.get<int64_t>(0));
  for (const auto& row : r->stmt("SELECT id FROM builders").all()) builders.insert(row.get<int64_t>(0));
  for (const auto& row : r->stmt("SELECT id FROM builder_masters").all()) links.insert(row.get<int64_t>(0));
  EXPECT_EQ(masters, builders);  // nothing half-written
  EXPECT_EQ(masters, links);
  int before = 0, after = 0;
  for (const auto& w : writes) {
    if (w.committed < called) {
      ++before;
      EXPECT_TRUE(masters.count(w.id)) << "committed before the dump started but missing: " << w.id;
    }
    if (w.started > *first_progress) {
      ++after;
      EXPECT_FALSE(masters.count(w.id)) << "written after the snapshot but present: " << w.id;
    }
  }
  EXPECT_GT(before, 10);
  EXPECT_GT(after, 0);
}

TEST(Dump, BadInputIsAClearErrorAndChangesNothing) {
  Scratch s;
  std::string url = s.url("a.sqlite");
  fill(*db::Db::open(url));
  migrate::dump(db::Url::parse(url), s.path("good.ymdump"), migrate::DumpFormat::kPortable);
  std::ifstream in(s.path("good.ymdump"));
  std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto target = db::Url::parse(s.url("target.sqlite"));
  auto expect_refused = [&](const std::string& file, const std::string& why) {
    try {
      migrate::restore(file, target);
      ADD_FAILURE() << "restored " << file;
    } catch (const db::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    auto c = db::open_connection(target);
    EXPECT_TRUE(c->table_names().empty()) << "the target was changed by " << file;
  };
  std::ofstream(s.path("truncated.ymdump")) << good.substr(0, good.size() * 2 / 3);
  expect_refused(s.path("truncated.ymdump"), "truncated");
  std::ofstream(s.path("cut-at-line.ymdump")) << good.substr(0, good.rfind("{\"end\""));
  expect_refused(s.path("cut-at-line.ymdump"), "truncated");
  std::string tampered = good;
  tampered.replace(tampered.find("m1:/x"), 5, "m9:/x");
  std::ofstream(s.path("tampered.ymdump")) << tampered;
  expect_refused(s.path("tampered.ymdump"), "checksum");
  std::ofstream(s.path("other.json")) << "{\"hello\": \"world\"}\n";
  expect_refused(s.path("other.json"), "no Yardmaster header");
  std::ofstream(s.path("text.txt")) << "just some text\n";
  expect_refused(s.path("text.txt"), "not JSON");
  expect_refused(s.path("missing.ymdump"), "cannot open");

  // A target that is not empty is refused and left as it was.
  auto busy = db::Url::parse(s.url("busy.sqlite"));
  fill(*db::Db::open(busy.to_string()));
  auto before = contents(*db::open_connection(busy), migrate::current_version());
  EXPECT_THROW(migrate::restore(s.path("good.ymdump"), busy), db::InvalidArgument);
  EXPECT_THROW(migrate::copy(db::Url::parse(url), busy), db::InvalidArgument);
  EXPECT_EQ(contents(*db::open_connection(busy), migrate::current_version()), before);

  // Sources that are not Yardmaster databases.
  std::ofstream(s.path("notes.txt")) << std::string(4096, 'x');
  EXPECT_THROW(migrate::dump(db::Url::parse(s.url("notes.txt")), s.path("x.ymdump"), migrate::DumpFormat::kPortable),
               db::NotADatabase);
  std::string header_then_garbage = std::string("SQLite format 3", 16) + std::string(8192, '\x5a');
  std::ofstream(s.path("corrupt.sqlite"), std::ios::binary) << header_then_garbage;
  EXPECT_THROW(migrate::dump(db::Url::parse(s.url("corrupt.sqlite")), s.path("y.ymdump"),
                             migrate::DumpFormat::kPortable),
               db::Error);
  EXPECT_THROW(migrate::dump(db::Url::parse("postgresql://nobody@127.0.0.1:1/nothing"), s.path("z.ymdump"),
                             migrate::DumpFormat::kPortable),
               db::ConnectionFailed);
  EXPECT_FALSE(fs::exists(s.path("x.ymdump")));
  EXPECT_FALSE(fs::exists(s.path("z.ymdump")));
}

TEST(Dump, TheCommandLineReportsErrorsWithoutPasswords) {
  Child k({kYardmaster, "db", "dump", "postgresql://ci:s3cret-pass@127.0.0.1:1/ci", "/tmp/never.ymdump"});
  EXPECT_EQ(k.wait(), 2);
  EXPECT_NE(k.output().find("error:"), std::string::npos) << k.output();
  EXPECT_EQ(k.output().find("s3cret-pass"), std::string::npos) << k.output();
}

}  // namespace
}  // namespace ym::test
