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
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "db/drivers/driver.hpp"
#include "db/url.hpp"

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

struct DumpResult {
  int schema_version = 0;
  std::vector<TableCount> tables;
  int64_t rows = 0;
  int64_t bytes = 0;
};

// Writes a snapshot of `url`'s database to `path` (replaced atomically: a failed dump leaves no
// partial file). Throws NotADatabase / SchemaOutOfDate-style errors for databases that are not
// Yardmaster databases, InvalidArgument for kSqliteScript on a server backend.
DumpResult dump(const db::Url& url, const std::string& path, DumpFormat format,
                const ProgressFn& progress = {});

// Loads the portable dump at `path` into the empty database at `url`.
// Throws InvalidArgument naming the problem when the file is not a Yardmaster dump, is
// truncated, or fails its checksum; InvalidArgument when the target is not empty; SchemaTooNew
// when the dump is newer than this program. Nothing is written to the target in those cases.
DumpResult restore(const std::string& path, const db::Url& url, const ProgressFn& progress = {});

// Copies everything from `from` to the empty database `to`, then checks that every table has as
// many rows in the target as in the source snapshot (InternalError naming the table if not).
DumpResult copy(const db::Url& from, const db::Url& to, const ProgressFn& progress = {});

// Row counts of every model table (in creation order), for checks and reports.
std::vector<TableCount> count_rows(db::Connection& conn, int schema_version);

}  // namespace ym::migrate
