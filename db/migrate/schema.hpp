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
  // Non-transactional: for what cannot run in a transaction; its record row is committed first.
  bool transactional = true;
  std::function<void(db::Connection&)> upgrade;
};

// Every migration in version order; the last one's version is the program's schema version.
const std::vector<Migration>& history();
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

// Reads the state of the database (no lock, no writes).
SchemaStatus read_status(db::Connection& conn);

// Applies `m` and records it. The caller holds the migration lock / write transaction.
void apply(db::Connection& conn, const Migration& m);

// Throws the typed error that describes why a database in `status` cannot be used by this
// program; returns normally when it is up to date. `where` is the masked URL for the message.
void require_current(const SchemaStatus& status, const std::string& where);

}  // namespace ym::migrate
