// `yardmaster db import-buildbot`: reads a Buildbot 3.x database (SQLite, PostgreSQL or MySQL)
// and writes its rows into a Yardmaster database, keeping every id.
//
// The source is opened read-only (db::Url::read_only) and read in one snapshot; nothing is ever
// written to it. Its schema version is its Alembic revision (`alembic_version`), or, for Buildbot
// 3.0 to 3.3, its sqlalchemy-migrate version (`migrate_version`); a version this program does not
// know is refused, naming it. The target is an empty database (the schema is created) or a
// Yardmaster database at the current version whose tables are all empty (what `create-master`
// makes); anything else is refused before a row is written. The rows go in one transaction,
// table by table through the one list in import_buildbot.cpp (Buildbot table -> our table, with
// the columns that differ); then the auto-increment counters are moved past the ids and every
// table's rows are counted in the target against the source. docs/import-buildbot.md says what
// is carried and what is not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dump.hpp"
#include "../url.hpp"

namespace ym::migrate {

struct ImportedTable {
  std::string buildbot_table;
  std::string table;          // ours
  int64_t source_rows = 0;    // counted in the source snapshot
  int64_t imported_rows = 0;  // counted in the target after the load
};

// A Buildbot table that holds rows this program has no table for (yet).
struct LeftBehind {
  std::string buildbot_table;
  int64_t rows = 0;
  std::string why;
};

struct ImportResult {
  std::string buildbot_version;  // e.g. "059", or "migrate 58"
  std::string buildbot_release;  // the Buildbot releases that have that schema
  int schema_version = 0;        // ours, of the target
  bool created_schema = false;   // the target was empty: its schema was created
  std::vector<ImportedTable> tables;
  std::vector<LeftBehind> left_behind;
  std::vector<std::string> ignored_tables;  // tables in the source that are not Buildbot's
  int64_t rows = 0;
};

// Imports the Buildbot database at `buildbot` into `target`.
// Throws NotADatabase naming what it found when the source is not a Buildbot database of a
// version this program knows (or its tables lack a column this program reads, or have one it
// does not know); InvalidArgument when the target holds data (naming a table and its count) or
// the source is empty; SchemaOutOfDate / SchemaTooNew when the target is a Yardmaster database
// at another version; the driver's error, prefixed with the table, when a row cannot be written
// (a reference to a row that is not there: Buildbot does not enforce foreign keys on SQLite);
// InternalError when a table's count in the target differs from the source. The target is left
// as it was in every one of these cases.
ImportResult import_buildbot(const db::Url& buildbot, const db::Url& target,
                             const ProgressFn& progress = {});

// The Buildbot schema versions import_buildbot reads, each with the releases that have it.
struct BuildbotVersion {
  std::string version;
  std::string releases;
};
const std::vector<BuildbotVersion>& known_buildbot_versions();

}  // namespace ym::migrate
