// Schema versions. The history is an ordered list of migrations; applied versions are recorded
// in `ym_migrations` with their start and end times, so that a version that started and never
// finished is visible. A new database is an empty one migrated through the whole history.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/drivers/driver.hpp"

namespace ym::migrate {

struct Migration {
  int version = 0;
  std::string name;
  // Transactional: runs inside one transaction with its record row, all or nothing.
  // Non-transactional: for what cannot run in a transaction (CREATE INDEX CONCURRENTLY); its
  // record row is committed first and its end time last, so an interruption stays visible. Such a
  // step must be idempotent: `db upgrade` completes an interrupted one by running it again.
  // On a backend without transactional DDL (MySQL) every migration runs this way.
  bool transactional = true;
  // What to check when this version was interrupted (shown by `db status`).
  std::string if_interrupted;
  std::function<void(db::Connection&)> upgrade;
};

// Every migration in version order; the last one's version is the program's schema version.
// Defined in migrations.cpp.
const std::vector<Migration>& history();
const Migration& migration(int version);
int current_version();

enum class SchemaState {
  kEmpty,        // no tables: a new installation
  kUpToDate,     // at current_version()
  kOutOfDate,    // older: `yardmaster db upgrade` applies the rest
  kTooNew,       // written by a newer program
  kInterrupted,  // a non-transactional migration started and did not finish
  kForeign,      // has tables but no version record: not a Yardmaster database
};

const char* to_string(SchemaState s);

struct SchemaStatus {
  SchemaState state = SchemaState::kEmpty;
  std::optional<int> version;      // highest finished version
  std::optional<int> interrupted;  // version that started and never finished
};

// The name of the table that records applied versions.
inline constexpr const char* kRecordTable = "ym_migrations";

// Reads the state of the database (no lock, no writes).
SchemaStatus read_status(db::Connection& conn);

// Throws the typed error that describes why a database in `status` cannot be used by this
// program; returns normally when it is up to date. `where` is the masked URL for the message.
void require_current(const SchemaStatus& status, const std::string& where);

}  // namespace ym::migrate
