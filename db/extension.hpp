// Extensions: the tables a downstream program (a master built on this library) keeps in the
// same database, with their own migration history. An extension is registered once per process,
// before Db::open; from then on the library treats its tables like its own: `Db::open` creates
// them in a new database, `read_status` reports a database whose extension is behind (or ahead),
// `migrate::upgrade` applies the extension's pending versions after the core ones under the same
// cross-process lock, `model::with_extensions()` describes them, and dump, restore and copy carry
// their rows. Applied versions are recorded per extension in `ym_extension_migrations`.
//
// A database may hold extensions that this program does not register (written by another
// program on the same database): they are left alone and reported by `read_status`, but dump,
// restore and copy refuse such a database, since they could not carry those tables.
//
// docs/migrations.md ("Your own tables") has a complete example.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/driver.hpp"
#include "migrate/schema.hpp"
#include "model.hpp"

namespace ym::db {

struct Extension {
  // [a-z0-9_]{1,64}, unique in the process; recorded in the database with each version.
  std::string name;
  // The extension's tables in creation order (a table may reference core tables and the
  // extension's earlier tables). `since` on tables, columns and indexes is a version of this
  // extension (1..N), not of the core schema. Names: [a-z_][a-z0-9_]{0,62}, not starting with
  // "ym_", not used by a core table or index or by another extension.
  std::vector<model::Table> tables;
  // Versions 1..N of this extension, in order. N is the extension's current version. The
  // transactional / idempotence rules of core migrations apply (docs/migrations.md); a step that
  // only adds what version V tags is `create_extension_tables_step(name, V)`.
  std::vector<migrate::Migration> history;

  // The extension's current version (the last one of its history).
  int version() const { return static_cast<int>(history.size()); }
};

// Adds `extension` to the process-wide registry. Call it before Db::open (and before any
// migrate:: call that should see it). Throws InvalidArgument, naming the problem, when the name
// is malformed or already registered, when the history is not versions 1..N in order (or a step
// has no function), when a table, column or index name is malformed or clashes with the core
// schema or another extension, when a `since` is outside 1..N, or when an index or foreign key
// names a column or table that does not exist. Nothing is registered then.
// Thread-safe; registration while another thread opens a database is allowed but unordered.
void register_extension(Extension extension);

// The registered extensions, in registration order (the order their migrations run in).
// A snapshot: later registrations do not change it. Thread-safe.
std::vector<std::shared_ptr<const Extension>> registered_extensions();

// The registered extension called `name`, or nullptr. Thread-safe.
std::shared_ptr<const Extension> find_extension(std::string_view name);

// The tables of `extension` as they stood at its version `version` (what versions 1..version
// create), like model::at_version for the core schema.
model::Model extension_at_version(const Extension& extension, int version);

// The migration step "create what version `version` of extension `name` tags": every table of
// that version that is missing, the columns tagged `version` that are missing, and the indexes
// tagged `version` or earlier that are missing. Idempotent, so it may also serve as a
// non-transactional step. The extension is looked up when the step runs; InternalError if it is
// not registered by then.
void create_extension_tables(Connection& conn, std::string_view name, int version);
std::function<void(Connection&)> create_extension_tables_step(std::string name, int version);

// Empties the registry. For tests only: a program registers its extensions once at start-up.
void clear_extensions_for_testing();

}  // namespace ym::db
