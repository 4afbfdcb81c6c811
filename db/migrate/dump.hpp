// Backups and moves between backends.
//
//  - dump(): a consistent snapshot of a live database (one read transaction: everything committed
//    before it started, nothing half-written; writers are not blocked), written either as the
//    portable Yardmaster dump (JSON lines, any backend) or, for SQLite, as an SQL script that the
//    sqlite3 shell restores into an empty database.
//  - restore(): loads a portable dump into an empty database of any backend, creating the schema
//    at the dump's version first. The whole file is verified (header, structure, row counts and
//    checksum) before the target is touched, so a truncated or foreign file changes nothing.
//  - copy(): moves a whole installation from one database to another (e.g. SQLite to PostgreSQL)
//    from a consistent snapshot, then verifies row counts table by table.
//
// The tables of registered extensions (db/extension.hpp) go along with the core ones, at the
// versions the source has. A source holding an extension this program does not register is
// refused (InvalidArgument naming it), as is a dump of one: its tables could not be carried.
// A dump without extensions is written exactly as before (format version 1); one with
// extensions is format version 2, which older programs refuse by its version.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../drivers/driver.hpp"
#include "../model.hpp"
#include "../url.hpp"

namespace ym::migrate {

// Called as rows move: table name, rows of that table done, rows of that table in all, and the
// same for the whole operation.
struct Progress {
  std::string table;
  int64_t table_done = 0;
  int64_t table_total = 0;
  int64_t done = 0;
  int64_t total = 0;
};
using ProgressFn = std::function<void(const Progress&)>;

enum class DumpFormat { kPortable, kSqliteScript };

struct TableCount {
  std::string table;
  int64_t rows = 0;
};

// A version of an extension (db/extension.hpp) that a dump holds.
struct ExtensionVersion {
  std::string name;
  int version = 0;
  bool operator==(const ExtensionVersion&) const = default;
};

struct DumpResult {
  int schema_version = 0;
  std::vector<TableCount> tables;  // core tables, then each extension's
  int64_t rows = 0;
  int64_t bytes = 0;
  std::vector<ExtensionVersion> extensions;  // the extensions it holds, with their versions
};

// Writes a snapshot of `url`'s database to `path` (replaced atomically: a failed dump leaves no
// partial file). Throws NotADatabase / SchemaOutOfDate-style errors for databases that are not
// Yardmaster databases, InvalidArgument for kSqliteScript on a server backend or for a database
// holding an extension that this program does not register.
DumpResult dump(const db::Url& url, const std::string& path, DumpFormat format,
                const ProgressFn& progress = {});

// Loads the portable dump at `path` into the empty database at `url`.
// Throws InvalidArgument naming the problem when the file is not a Yardmaster dump, is
// truncated, or fails its checksum; InvalidArgument when the target is not empty; SchemaTooNew
// when the dump (or an extension in it) is newer than this program; InvalidArgument when it holds
// an extension this program does not register. Nothing is written to the target in those cases.
DumpResult restore(const std::string& path, const db::Url& url, const ProgressFn& progress = {});

// Copies everything from `from` to the empty database `to`, then checks that every table has as
// many rows in the target as in the source snapshot (InternalError naming the table if not).
DumpResult copy(const db::Url& from, const db::Url& to, const ProgressFn& progress = {});

// Row counts of every core table at `schema_version` (in creation order), for checks and reports.
std::vector<TableCount> count_rows(db::Connection& conn, int schema_version);
// Row counts of every table of `model` (in its order).
std::vector<TableCount> count_rows(db::Connection& conn, const db::model::Model& model);

}  // namespace ym::migrate
