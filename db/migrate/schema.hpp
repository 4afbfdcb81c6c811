// Schema versions. The history is an ordered list of migrations; applied versions are recorded
// in `ym_migrations` with their start and end times, so that a version that started and never
// finished is visible. A new database is an empty one migrated through the whole history.
// Extensions (db/extension.hpp) have histories of their own, recorded per extension in
// `ym_extension_migrations`; the state of a database covers them too.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../drivers/driver.hpp"

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

// The state of one extension's tables in a database.
struct ExtensionStatus {
  std::string name;
  std::optional<int> version;          // highest finished version (nullopt: not installed)
  std::optional<int> interrupted;      // version that started and never finished
  std::optional<int> program_version;  // this program's version of it; nullopt: not registered
  // Judged against program_version like the core's state (kOutOfDate when not installed yet).
  // An extension this program does not register is not judged: kUpToDate, or kInterrupted
  // when a version of it did not finish; it never counts in SchemaStatus::state.
  SchemaState state = SchemaState::kUpToDate;
};

struct SchemaStatus {
  // The state of the whole database: the core's, or a registered extension's when that one is
  // worse (too new, then interrupted, then out of date). kEmpty and kForeign are the core's.
  SchemaState state = SchemaState::kEmpty;
  std::optional<int> version;      // the core's highest finished version
  std::optional<int> interrupted;  // the core's version that started and never finished
  // Every registered extension (registration order), then every extension recorded in the
  // database that this program does not register (by name). Empty for an empty or foreign
  // database.
  std::vector<ExtensionStatus> extensions;

  // The entry for extension `name`, or nullptr.
  const ExtensionStatus* extension(const std::string& name) const;
};

// The name of the table that records applied core versions.
inline constexpr const char* kRecordTable = "ym_migrations";
// The name of the table that records applied extension versions (created when an extension's
// first version runs): (extension, version, name, started_at, finished_at).
inline constexpr const char* kExtensionRecordTable = "ym_extension_migrations";

// Reads the state of the database (no lock, no writes), judging extensions against the ones
// registered in this process.
SchemaStatus read_status(db::Connection& conn);

// Throws the typed error that describes why a database in `status` cannot be used by this
// program; returns normally when it is up to date. `where` is the masked URL for the message.
// An extension behind: SchemaOutOfDate naming it and `db upgrade`; ahead: SchemaTooNew.
void require_current(const SchemaStatus& status, const std::string& where);

}  // namespace ym::migrate
