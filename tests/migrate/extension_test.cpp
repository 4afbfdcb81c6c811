// Extensions (db/extension.hpp): a downstream program's own tables and their migration history.
// The test extension "ci_notes" has two versions: 1 creates a table of notes on builders (and
// optionally on builds), with foreign keys to both; 2 adds a `kind` column and an index, and
// fills `kind` from the rows. Databases at version 1 are made deterministically with
// UpgradeOptions::extension_targets, or by registering only version 1 (the registry is
// process-wide; every test starts and ends with it empty).
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "db/extension.hpp"
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
using db::ColumnType;
using db::Connection;
using db::Value;
using namespace std::chrono_literals;

const std::string kYardmaster = YM_YARDMASTER_BIN;
constexpr const char* kNotes = "ci_notes";

// The program's extension at its version `versions` (1 or 2). `v2_step` replaces version 2's
// step (to make it fail); `v2_transactional` says how version 2 runs.
db::Extension notes_extension(int versions = 2, std::function<void(Connection&)> v2_step = {},
                              bool v2_transactional = true) {
  db::model::Table notes;
  notes.name = "ci_notes";
  notes.columns = {
      {.name = "id", .type = ColumnType::kInteger, .nullable = false, .primary_key = true},
      {.name = "builderid", .type = ColumnType::kInteger, .nullable = false},
      {.name = "buildid", .type = ColumnType::kInteger, .nullable = true},
      {.name = "body", .type = ColumnType::kText, .nullable = false},
      {.name = "created_at", .type = ColumnType::kInteger, .nullable = false},
  };
  notes.indexes = {{.name = "ci_notes_builderid", .columns = {"builderid"}},
                   {.name = "ci_notes_buildid", .columns = {"buildid"}}};
  notes.foreign_keys = {{{"builderid"}, "builders", {"id"}, true}, {{"buildid"}, "builds", {"id"}, true}};
  db::Extension ext{kNotes, {}, {}};
  ext.history.push_back({1, "ci_notes table", true, "", db::create_extension_tables_step(kNotes, 1)});
  if (versions >= 2) {
    notes.columns.push_back({.name = "kind", .type = ColumnType::kString, .length = 16, .nullable = false,
                             .default_sql = "'builder'", .since = 2});
    notes.indexes.push_back({.name = "ci_notes_builder_kind", .columns = {"builderid", "kind"}, .since = 2});
    if (!v2_step) {
      v2_step = [](Connection& c) {
        db::create_extension_tables(c, kNotes, 2);
        c.stmt("UPDATE ci_notes SET kind = ? WHERE buildid IS NOT NULL AND kind = ?").bind("build", "builder").exec();
      };
    }
    ext.history.push_back({2, "ci_notes.kind", v2_transactional,
                           "the column may exist without its values; upgrading fills them", v2_step});
  }
  ext.tables.push_back(std::move(notes));
  return ext;
}

// What `version` of the extension adds to the core schema.
db::model::Model model_with_notes_at(int version) {
  db::model::Model m = db::model::current();
  for (auto& t : db::extension_at_version(*db::find_extension(kNotes), version).tables) m.tables.push_back(t);
  return m;
}

void upgrade(const std::string& url, migrate::UpgradeOptions o = {}) {
  auto c = connect(url);
  migrate::upgrade(*c, db::Url::parse(url), o);
}

// The core schema at the current version and the extension at `version` (0: none).
void create_at(const std::string& url, int version) {
  migrate::UpgradeOptions o;
  o.extension_targets = std::map<std::string, int>{};
  if (version > 0) (*o.extension_targets)[kNotes] = version;
  upgrade(url, o);
}

// A master, two builders, a buildset, a request and a build, for notes to hang on.
void insert_builds(Connection& c) {
  c.execute_script(
      "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'm', 'h', 1, 0);"
      "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b1', 'h1');"
      "INSERT INTO builders (id, name, name_hash) VALUES (2, 'b2', 'h2');"
      "INSERT INTO buildsets (id, submitted_at) VALUES (1, 0);"
      "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at) VALUES (1, 1, 1, 0);"
      "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, state_string)"
      "  VALUES (1, 1, 1, 1, 1, 100, 'done');");
  c.after_explicit_ids("masters");
  c.after_explicit_ids("builders");
  c.after_explicit_ids("builds");
}

// `n` notes at extension version 1: every third one on build 1, the rest on builder 1 or 2.
void insert_notes(Connection& c, int n) {
  for (int i = 1; i <= n; ++i) {
    std::optional<int64_t> build;
    if (i % 3 == 0) build = 1;
    c.stmt("INSERT INTO ci_notes (id, builderid, buildid, body, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(i, build ? 1 : 1 + i % 2, build, "note " + std::to_string(i) + " \xC3\xA9", 1000 + i)
        .exec();
  }
  c.after_explicit_ids("ci_notes");
}

// Every row of every table of `m`, each table ordered by all its columns.
using Contents = std::map<std::string, std::vector<std::vector<Value>>>;
Contents contents(Connection& c, const db::model::Model& m) {
  Contents out;
  for (const auto& t : m.tables) {
    std::string cols;
    for (size_t i = 0; i < t.columns.size(); ++i) cols += (i ? ", " : "") + c.dialect().quote(t.columns[i].name);
    for (const auto& r : c.stmt("SELECT " + cols + " FROM " + c.dialect().quote(t.name) + " ORDER BY " + cols).all()) {
      out[t.name].push_back(r.values());
    }
  }
  return out;
}

// "name:version" for each applied extension version, for readable comparisons.
std::vector<std::string> names(const std::vector<migrate::AppliedExtensionVersion>& applied) {
  std::vector<std::string> out;
  for (const auto& a : applied) out.push_back(a.extension + ":" + std::to_string(a.version));
  return out;
}

int64_t count(Connection& c, const std::string& sql) { return *c.stmt(sql).scalar<int64_t>(); }

// The table sections of a portable dump, rows sorted (backends order text by their own
// collations), without the header and end marker.
std::map<std::string, std::vector<std::string>> dump_sections(const std::string& path) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(path);
  std::string line, table;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.rfind("[", 0) == 0) {
      out[table].push_back(line);
    } else if (nlohmann::json::parse(line).contains("table")) {
      table = line;
      out[table];
    }
  }
  for (auto& [t, rows] : out) std::sort(rows.begin(), rows.end());
  return out;
}

nlohmann::json dump_header(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line);
}

class ExtensionsOn : public OnBackend {
 protected:
  void SetUp() override { db::clear_extensions_for_testing(); }
  void TearDown() override { db::clear_extensions_for_testing(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, ExtensionsOn, testing::ValuesIn(targets()), target_name);

class Extensions : public testing::Test {
 protected:
  void SetUp() override { db::clear_extensions_for_testing(); }
  void TearDown() override { db::clear_extensions_for_testing(); }
  Scratch s_;
};

TEST_P(ExtensionsOn, UpgradingFromEmptyMatchesTheModelAtEachExtensionVersion) {
  db::register_extension(notes_extension());
  std::string url = empty_url("e");
  create_at(url, 1);
  {
    auto c = connect(url);
    EXPECT_TRUE(matches_model(*c, model_with_notes_at(1)));
    auto st = migrate::read_status(*c);
    EXPECT_EQ(st.state, migrate::SchemaState::kOutOfDate);
    EXPECT_EQ(st.version, migrate::current_version());
    ASSERT_TRUE(st.extension(kNotes));
    EXPECT_EQ(st.extension(kNotes)->version, 1);
    EXPECT_EQ(st.extension(kNotes)->program_version, 2);
  }
  upgrade(url);
  auto c = connect(url);
  EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
  EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
  // The comparison covers the extension: a missing index of it is noticed.
  c->execute_script(backend() == db::Backend::kMysql ? "DROP INDEX ci_notes_builder_kind ON ci_notes"
                                                     : "DROP INDEX ci_notes_builder_kind");
  EXPECT_EQ(migrate::compare_with_model(*c, db::model::with_extensions()).size(), 1u);
}

TEST_P(ExtensionsOn, Version2AddsTheColumnAndIndexAndFillsEveryRow) {
  db::register_extension(notes_extension());
  std::string url = empty_url("e");
  create_at(url, 1);
  Contents before;
  {
    auto c = connect(url);
    insert_builds(*c);
    insert_notes(*c, 60);
    before = contents(*c, model_with_notes_at(1));
  }
  std::vector<std::string> started;
  migrate::UpgradeOptions o;
  o.on_extension_start = [&](const std::string& ext, const migrate::Migration& m) {
    started.push_back(ext + ":" + std::to_string(m.version));
  };
  auto c = connect(url);
  auto r = migrate::upgrade(*c, db::Url::parse(url), o);
  EXPECT_TRUE(r.applied.empty());
  EXPECT_EQ(names(r.extensions_applied), std::vector<std::string>{"ci_notes:2"});
  EXPECT_EQ(started, std::vector<std::string>{"ci_notes:2"});

  auto rows = c->stmt("SELECT id, buildid, kind FROM ci_notes ORDER BY id").all();
  ASSERT_EQ(rows.size(), 60u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.get<std::string>(2), row.is_null(1) ? "builder" : "build") << "note " << row.get<int64_t>(0);
  }
  EXPECT_EQ(contents(*c, model_with_notes_at(1)), before);  // nothing else changed
  auto info = migrate::describe_table(*c, "ci_notes");
  ASSERT_TRUE(info.index("ci_notes_builder_kind"));
  EXPECT_EQ(info.index("ci_notes_builder_kind")->columns, (std::vector<std::string>{"builderid", "kind"}));
  EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));

  // Recorded apart from the core versions, each finished.
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ym_migrations"),
            static_cast<int64_t>(migrate::history().size()));
  auto recorded = c->stmt("SELECT extension, version FROM ym_extension_migrations WHERE finished_at IS NOT NULL "
                          "ORDER BY version")
                      .all();
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(recorded.rows[0].get<std::string>(0), kNotes);
  EXPECT_EQ(recorded.rows[1].get<int>(1), 2);
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ym_extension_migrations"), 2);

  // The database opens, and the notes go with their builder (the foreign key cascades).
  c.reset();
  auto db = db::Db::open(url);
  db->shutdown();
  c = connect(url);
  c->stmt("DELETE FROM builders WHERE id = ?").bind(2).exec();
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ci_notes WHERE builderid = 2"), 0);
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ci_notes"), 40);  // the 20 of builder 2 are gone
}

// Four upgrades at once: the one holding the lock stays in version 1 until the three others
// have found the lock taken, so they all wait behind it; then each version runs exactly once.
TEST_P(ExtensionsOn, ConcurrentUpgradesApplyEachExtensionVersionOnce) {
  db::register_extension(notes_extension());
  std::string url = empty_url("e");
  create_at(url, 0);
  constexpr int kThreads = 4;
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  bool gave_up = false;
  std::vector<migrate::UpgradeResult> results(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto c = connect(url);
        migrate::UpgradeOptions o;
        o.on_lock_wait = [&] {
          std::lock_guard lock(mu);
          ++waiting;
          cv.notify_all();
        };
        o.on_extension_start = [&](const std::string&, const migrate::Migration& m) {
          std::unique_lock lock(mu);
          // A guard against a hang, not a timing assumption: the others report promptly.
          if (!cv.wait_for(lock, 120s, [&] { return waiting >= kThreads - 1; })) gave_up = true;
        };
        results[i] = migrate::upgrade(*c, db::Url::parse(url), o);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(gave_up) << "the other upgrades never waited for the lock";
  EXPECT_EQ(waiting, kThreads - 1);
  std::vector<migrate::AppliedExtensionVersion> all;
  int appliers = 0;
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[i], "") << "thread " << i;
    EXPECT_TRUE(results[i].applied.empty());
    if (!results[i].extensions_applied.empty()) ++appliers;
    all.insert(all.end(), results[i].extensions_applied.begin(), results[i].extensions_applied.end());
  }
  EXPECT_EQ(appliers, 1);
  EXPECT_EQ(names(all), (std::vector<std::string>{"ci_notes:1", "ci_notes:2"}));
  auto c = connect(url);
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ym_extension_migrations WHERE finished_at IS NOT NULL"), 2);
  EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
  EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
}

// A step that fails: a transactional version leaves the previous one in place (where DDL is
// transactional); a non-transactional one stays recorded as interrupted, is reported, and is
// completed by the next upgrade.
TEST_P(ExtensionsOn, AFailingStepLeavesVersion1OrIsReportedAsInterrupted) {
  for (bool transactional : {true, false}) {
    SCOPED_TRACE(transactional ? "transactional" : "non-transactional");
    db::clear_extensions_for_testing();
    auto failing = [](Connection& c) {
      db::create_extension_tables(c, kNotes, 2);
      throw db::InternalError("step 2 failed on purpose");
    };
    db::register_extension(notes_extension(2, failing, transactional));
    std::string url = empty_url(transactional ? "t" : "n");
    create_at(url, 1);
    {
      auto c = connect(url);
      insert_builds(*c);
      insert_notes(*c, 9);
    }
    EXPECT_THROW(upgrade(url), db::InternalError);
    {
      auto c = connect(url);
      auto st = migrate::read_status(*c);
      const auto* es = st.extension(kNotes);
      ASSERT_TRUE(es);
      EXPECT_EQ(es->version, 1);
      if (transactional && transactional_ddl()) {
        EXPECT_EQ(st.state, migrate::SchemaState::kOutOfDate);
        EXPECT_FALSE(es->interrupted);
        EXPECT_TRUE(matches_model(*c, model_with_notes_at(1)));
      } else {
        EXPECT_EQ(st.state, migrate::SchemaState::kInterrupted);
        EXPECT_EQ(es->interrupted, 2);
        EXPECT_FALSE(st.interrupted);  // the core's versions are all finished
        try {
          db::Db::open(url);
          ADD_FAILURE() << "opened a database with an interrupted extension version";
        } catch (const db::SchemaOutOfDate& e) {
          std::string what = e.what();
          EXPECT_NE(what.find("did not finish"), std::string::npos) << what;
          EXPECT_NE(what.find("ci_notes"), std::string::npos) << what;
          EXPECT_NE(what.find("db upgrade"), std::string::npos) << what;
        }
      }
    }
    // The program fixed: the next upgrade completes it.
    db::clear_extensions_for_testing();
    db::register_extension(notes_extension());
    upgrade(url);
    auto c = connect(url);
    EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
    EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ci_notes WHERE kind = 'build'"), 3);
    EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ym_extension_migrations"), 2);
    EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
  }
}

// SQLite -> portable dump -> this backend, and a copy from SQLite: the extension's rows and
// version go along; a dump taken at extension version 1 restores at version 1.
TEST_P(ExtensionsOn, DumpRestoreAndCopyCarryTheExtensionsRows) {
  db::register_extension(notes_extension());
  std::string source = s_.url("a.sqlite");
  db::Db::open(source)->shutdown();
  {
    auto c = connect(source);
    insert_builds(*c);
    insert_notes(*c, 30);
    c->execute_script("UPDATE ci_notes SET kind = 'pinned' WHERE id = 7");
  }
  auto r = migrate::dump(db::Url::parse(source), s_.path("a.ymdump"), migrate::DumpFormat::kPortable);
  ASSERT_EQ(r.extensions.size(), 1u);
  EXPECT_EQ(r.extensions[0].name, kNotes);
  EXPECT_EQ(r.extensions[0].version, 2);
  auto header = dump_header(s_.path("a.ymdump"));
  EXPECT_EQ(header["format_version"], 2);
  EXPECT_EQ(header["extensions"], nlohmann::json::parse(R"([{"name": "ci_notes", "version": 2}])"));
  auto expected = dump_sections(s_.path("a.ymdump"));
  EXPECT_EQ(expected.size(), db::model::with_extensions().tables.size());

  std::string restored = empty_url("restored");
  EXPECT_EQ(migrate::restore(s_.path("a.ymdump"), db::Url::parse(restored)).rows, r.rows);
  migrate::dump(db::Url::parse(restored), s_.path("b.ymdump"), migrate::DumpFormat::kPortable);
  EXPECT_EQ(dump_sections(s_.path("b.ymdump")), expected);
  {
    auto c = connect(restored);
    EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kUpToDate);
    EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
    EXPECT_EQ(c->stmt("SELECT kind FROM ci_notes WHERE id = 7").scalar<std::string>(), "pinned");
  }
  {
    // New notes take ids after the restored ones (PostgreSQL's sequences were moved).
    auto db = db::Db::open(restored);
    db->shutdown();
    auto c = connect(restored);
    auto id = c->stmt("INSERT INTO ci_notes (builderid, body, created_at) VALUES (1, 'new', 0)").insert();
    EXPECT_GT(id, 30);
  }

  std::string copied = empty_url("copied");
  EXPECT_EQ(migrate::copy(db::Url::parse(source), db::Url::parse(copied)).rows, r.rows);
  migrate::dump(db::Url::parse(copied), s_.path("c.ymdump"), migrate::DumpFormat::kPortable);
  EXPECT_EQ(dump_sections(s_.path("c.ymdump")), expected);

  // At extension version 1: restored at version 1, to be upgraded like any older database.
  std::string old = s_.url("old.sqlite");
  create_at(old, 1);
  {
    auto c = connect(old);
    insert_builds(*c);
    insert_notes(*c, 6);
  }
  migrate::dump(db::Url::parse(old), s_.path("old.ymdump"), migrate::DumpFormat::kPortable);
  std::string restored_old = empty_url("restored_old");
  migrate::restore(s_.path("old.ymdump"), db::Url::parse(restored_old));
  auto c = connect(restored_old);
  auto st = migrate::read_status(*c);
  EXPECT_EQ(st.state, migrate::SchemaState::kOutOfDate);
  EXPECT_EQ(st.extension(kNotes)->version, 1);
  c.reset();
  upgrade(restored_old);
  c = connect(restored_old);
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ci_notes WHERE kind = 'build'"), 2);
  EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
}

TEST_F(Extensions, AnEmptyDatabaseIsCreatedWithEveryRegisteredExtension) {
  db::register_extension(notes_extension());
  std::string url = s_.url("new.sqlite");
  db::Db::open(url)->shutdown();
  auto c = connect(url);
  auto st = migrate::read_status(*c);
  EXPECT_EQ(st.state, migrate::SchemaState::kUpToDate);
  ASSERT_EQ(st.extensions.size(), 1u);
  EXPECT_EQ(st.extensions[0].name, kNotes);
  EXPECT_EQ(st.extensions[0].version, 2);
  EXPECT_EQ(st.extensions[0].state, migrate::SchemaState::kUpToDate);
  EXPECT_TRUE(matches_model(*c, db::model::with_extensions()));
  db::Db::open(url)->shutdown();  // reopening changes nothing
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ym_extension_migrations"), 2);
}

TEST_F(Extensions, WithoutExtensionsNothingChanges) {
  std::string url = s_.url("plain.sqlite");
  db::Db::open(url)->shutdown();
  auto c = connect(url);
  auto tables = c->table_names();
  EXPECT_EQ(std::count(tables.begin(), tables.end(), std::string(migrate::kExtensionRecordTable)), 0);
  EXPECT_TRUE(migrate::read_status(*c).extensions.empty());
  EXPECT_EQ(db::model::with_extensions().tables.size(), db::model::current().tables.size());
  migrate::dump(db::Url::parse(url), s_.path("plain.ymdump"), migrate::DumpFormat::kPortable);
  auto header = dump_header(s_.path("plain.ymdump"));
  EXPECT_EQ(header["format_version"], 1);
  EXPECT_FALSE(header.contains("extensions"));
}

TEST_F(Extensions, ADatabaseBehindTheProgramsExtensionIsRefusedWithTheUpgradeCommand) {
  // Made by the program's previous release (extension version 1).
  db::register_extension(notes_extension(1));
  std::string url = s_.url("old.sqlite");
  db::Db::open(url)->shutdown();
  // This release has version 2.
  db::clear_extensions_for_testing();
  db::register_extension(notes_extension());
  try {
    db::Db::open(url);
    ADD_FAILURE() << "opened a database whose extension is behind";
  } catch (const db::SchemaOutOfDate& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("db upgrade"), std::string::npos) << what;
    EXPECT_NE(what.find("version 1 of extension 'ci_notes'"), std::string::npos) << what;
  }
  auto c = connect(url);
  EXPECT_EQ(migrate::read_status(*c).state, migrate::SchemaState::kOutOfDate);
  EXPECT_EQ(migrate::read_status(*c).extension(kNotes)->version, 1);  // opening did not upgrade it

  // A database made before the program had the extension at all.
  db::clear_extensions_for_testing();
  std::string older = s_.url("older.sqlite");
  db::Db::open(older)->shutdown();
  db::register_extension(notes_extension());
  try {
    db::Db::open(older);
    ADD_FAILURE() << "opened a database without the extension's tables";
  } catch (const db::SchemaOutOfDate& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("does not have the tables of extension 'ci_notes'"), std::string::npos) << what;
    EXPECT_NE(what.find("db upgrade"), std::string::npos) << what;
  }
  upgrade(older);
  EXPECT_NO_THROW(db::Db::open(older)->shutdown());
}

TEST_F(Extensions, ADatabaseAheadOfTheProgramsExtensionIsRefused) {
  db::register_extension(notes_extension());
  std::string url = s_.url("new.sqlite");
  db::Db::open(url)->shutdown();
  db::clear_extensions_for_testing();
  db::register_extension(notes_extension(1));
  EXPECT_THROW(db::Db::open(url), db::SchemaTooNew);
  EXPECT_THROW(upgrade(url), db::SchemaTooNew);
  EXPECT_THROW(migrate::dump(db::Url::parse(url), s_.path("x.ymdump"), migrate::DumpFormat::kPortable),
               db::SchemaTooNew);
  // And a dump holding the newer version is refused by the older program, before any change.
  db::clear_extensions_for_testing();
  db::register_extension(notes_extension());
  migrate::dump(db::Url::parse(url), s_.path("new.ymdump"), migrate::DumpFormat::kPortable);
  db::clear_extensions_for_testing();
  db::register_extension(notes_extension(1));
  EXPECT_THROW(migrate::restore(s_.path("new.ymdump"), db::Url::parse(s_.url("target.sqlite"))), db::SchemaTooNew);
  EXPECT_TRUE(connect(s_.url("target.sqlite"))->table_names().empty());
}

TEST_F(Extensions, AnExtensionTheProgramDoesNotRegisterIsLeftAlone) {
  db::register_extension(notes_extension());
  std::string url = s_.url("shared.sqlite");
  db::Db::open(url)->shutdown();
  {
    auto c = connect(url);
    insert_builds(*c);
    insert_notes(*c, 5);
  }
  db::clear_extensions_for_testing();  // another program on the same database
  EXPECT_NO_THROW(db::Db::open(url)->shutdown());
  {
    auto c = connect(url);
    auto st = migrate::read_status(*c);
    EXPECT_EQ(st.state, migrate::SchemaState::kUpToDate);
    ASSERT_EQ(st.extensions.size(), 1u);
    EXPECT_EQ(st.extensions[0].name, kNotes);
    EXPECT_EQ(st.extensions[0].version, 2);
    EXPECT_FALSE(st.extensions[0].program_version);
    auto r = migrate::upgrade(*c, db::Url::parse(url));
    EXPECT_TRUE(r.extensions_applied.empty());
  }
  // Dump, copy and a backup cannot carry its tables: refused, naming it.
  try {
    migrate::dump(db::Url::parse(url), s_.path("x.ymdump"), migrate::DumpFormat::kPortable);
    ADD_FAILURE() << "dumped a database with an unknown extension";
  } catch (const db::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("extension 'ci_notes'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(migrate::copy(db::Url::parse(url), db::Url::parse(s_.url("copy.sqlite"))), db::InvalidArgument);
  // The stock command line sees an up-to-date database and changes nothing.
  Child status({kYardmaster, "db", "status", url});
  EXPECT_EQ(status.wait(), 0) << status.output();
  Child up({kYardmaster, "db", "upgrade", "--yes", url});
  EXPECT_EQ(up.wait(), 0) << up.output();
  EXPECT_NE(up.output().find("nothing to do"), std::string::npos) << up.output();
  auto c = connect(url);
  EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ci_notes"), 5);

  // A dump holding an extension this program does not register is refused before any change.
  db::register_extension(notes_extension());
  migrate::dump(db::Url::parse(url), s_.path("notes.ymdump"), migrate::DumpFormat::kPortable);
  db::clear_extensions_for_testing();
  try {
    migrate::restore(s_.path("notes.ymdump"), db::Url::parse(s_.url("target.sqlite")));
    ADD_FAILURE() << "restored a dump with an unknown extension";
  } catch (const db::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("extension 'ci_notes'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(connect(s_.url("target.sqlite"))->table_names().empty());
}

TEST_F(Extensions, SqliteScriptDumpKeepsTheExtensionAndItsRecord) {
  db::register_extension(notes_extension());
  std::string url = s_.url("a.sqlite");
  db::Db::open(url)->shutdown();
  {
    auto c = connect(url);
    insert_builds(*c);
    insert_notes(*c, 12);
  }
  migrate::dump(db::Url::parse(url), s_.path("a.sql"), migrate::DumpFormat::kSqliteScript);
  Child shell({"/bin/sh", "-c", "sqlite3 '" + s_.path("b.sqlite") + "' < '" + s_.path("a.sql") + "'"});
  ASSERT_EQ(shell.wait(), 0) << shell.output();
  auto a = connect(url);
  auto b = connect(s_.url("b.sqlite"));
  EXPECT_EQ(contents(*b, db::model::with_extensions()), contents(*a, db::model::with_extensions()));
  EXPECT_EQ(migrate::read_status(*b).state, migrate::SchemaState::kUpToDate);
  EXPECT_EQ(count(*b, "SELECT COUNT(*) FROM ym_extension_migrations WHERE finished_at IS NOT NULL"), 2);
  EXPECT_TRUE(matches_model(*b, db::model::with_extensions()));
}

TEST_F(Extensions, BadRegistrationsAreInvalidArgumentAndRegisterNothing) {
  db::register_extension(notes_extension());
  struct Case {
    std::string what;
    std::function<void(db::Extension&)> spoil;
  };
  auto other = [] {
    db::Extension e = notes_extension();
    e.name = "other";
    e.tables[0].name = "other_notes";
    e.tables[0].indexes[0].name = "other_notes_builderid";
    e.tables[0].indexes[1].name = "other_notes_buildid";
    e.tables[0].indexes[2].name = "other_notes_builder_kind";
    e.history[0].upgrade = db::create_extension_tables_step("other", 1);
    e.history[1].upgrade = db::create_extension_tables_step("other", 2);
    return e;
  };
  std::vector<Case> cases = {
      {"the same name twice", [](db::Extension& e) { e.name = kNotes; }},
      {"an empty name", [](db::Extension& e) { e.name = ""; }},
      {"capitals", [](db::Extension& e) { e.name = "Other"; }},
      {"a dash", [](db::Extension& e) { e.name = "oth-er"; }},
      {"a name too long", [](db::Extension& e) { e.name = std::string(65, 'x'); }},
      {"no history", [](db::Extension& e) { e.history.clear(); }},
      {"a gap in the versions", [](db::Extension& e) { e.history[1].version = 3; }},
      {"versions not from 1", [](db::Extension& e) { e.history.erase(e.history.begin()); }},
      {"versions out of order", [](db::Extension& e) { std::swap(e.history[0], e.history[1]); }},
      {"a step without a function", [](db::Extension& e) { e.history[1].upgrade = nullptr; }},
      {"a core table's name", [](db::Extension& e) { e.tables[0].name = "builders"; }},
      {"a reserved table name", [](db::Extension& e) { e.tables[0].name = "ym_notes"; }},
      {"a malformed table name", [](db::Extension& e) { e.tables[0].name = "Other Notes"; }},
      {"another extension's table", [](db::Extension& e) { e.tables[0].name = "ci_notes"; }},
      {"a core index's name", [](db::Extension& e) { e.tables[0].indexes[0].name = "builds_number"; }},
      {"another extension's index", [](db::Extension& e) { e.tables[0].indexes[0].name = "ci_notes_builderid"; }},
      {"a table since a version it does not have", [](db::Extension& e) { e.tables[0].since = 3; }},
      {"a column since 0", [](db::Extension& e) { e.tables[0].columns[1].since = 0; }},
      {"an index on a missing column",
       [](db::Extension& e) { e.tables[0].indexes[0].columns = {"nothing"}; }},
      {"an index on text", [](db::Extension& e) { e.tables[0].indexes[0].columns = {"body"}; }},
      {"a foreign key to an unknown table",
       [](db::Extension& e) { e.tables[0].foreign_keys[0].ref_table = "nowhere"; }},
      {"a foreign key to a missing column",
       [](db::Extension& e) { e.tables[0].foreign_keys[0].ref_columns = {"nothing"}; }},
      {"a NOT NULL column added later without a default",
       [](db::Extension& e) { e.tables[0].columns.back().default_sql.reset(); }},
      {"a foreign key without an index", [](db::Extension& e) { e.tables[0].indexes.erase(e.tables[0].indexes.begin() + 1); }},
      {"a duplicate column",
       [](db::Extension& e) { e.tables[0].columns.push_back(e.tables[0].columns[1]); }},
  };
  for (const auto& c : cases) {
    db::Extension e = other();
    c.spoil(e);
    EXPECT_THROW(db::register_extension(e), db::InvalidArgument) << c.what;
    EXPECT_EQ(db::registered_extensions().size(), 1u) << c.what;
  }
  // The unspoilt one registers, and appears in the model after the first.
  EXPECT_NO_THROW(db::register_extension(other()));
  auto m = db::model::with_extensions();
  ASSERT_EQ(m.tables.size(), db::model::current().tables.size() + 2);
  EXPECT_EQ(m.tables[m.tables.size() - 2].name, "ci_notes");
  EXPECT_EQ(m.tables.back().name, "other_notes");
  // Targets naming what is not registered, or versions it does not have, are refused.
  std::string url = s_.url("t.sqlite");
  migrate::UpgradeOptions o;
  o.extension_targets = std::map<std::string, int>{{"missing", 1}};
  EXPECT_THROW(upgrade(url, o), db::InvalidArgument);
  o.extension_targets = std::map<std::string, int>{{kNotes, 3}};
  EXPECT_THROW(upgrade(url, o), db::InvalidArgument);
  EXPECT_TRUE(connect(url)->table_names().empty());
}

}  // namespace
}  // namespace ym::test
