// The schema history. Each version adds exactly what db/model.cpp tags with its number, so the
// model (the current schema) and the history cannot drift apart; the tests check that a database
// migrated from empty matches the model on every backend.
//
// To add a version: tag the new tables/columns/indexes in model.cpp with since_*(N), append a
// Migration {N, name, transactional?, what-to-check, step} below, and add a test in
// tests/migrate/ that fills a database at N-1, upgrades it and checks every row (docs/migrations.md).
#include "db/errors.hpp"
#include "db/migrate/introspect.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::migrate {

using db::Connection;
namespace model = db::model;

namespace {

// Idempotent (introspect.hpp), so that a backend whose DDL commits implicitly (MySQL) can
// resume an interrupted step.
void create_missing(Connection& c, int version) {
  migrate::create_missing(c, model::at_version(version), version);
}

// Version 1: the schema as it stood when the project started.
void initial_schema(Connection& c) { create_missing(c, 1); }

// Version 2: steps record when they acquired their locks (a step that waits for a lock starts
// later than it was created). Existing steps had no lock waits: their value is their start time.
void steps_locks_acquired_at(Connection& c) {
  create_missing(c, 2);
  c.stmt("UPDATE steps SET locks_acquired_at = started_at WHERE locks_acquired_at IS NULL AND "
         "started_at IS NOT NULL")
      .exec();
}

// Version 3: an index for a master polling the pending requests of its own builders. Built
// without blocking writers where the backend can (PostgreSQL: CONCURRENTLY, outside any
// transaction), which is why this version is non-transactional.
void buildrequests_builder_pending_index(Connection& c) {
  const auto& table = model::current().table("buildrequests");
  const auto& ix = table.index("buildrequests_builder_pending");
  TableInfo have = describe_table(c, table.name);
  if (const IndexInfo* existing = have.index(ix.name)) {
    if (existing->columns == ix.columns) return;
  }
  std::string sql = model::create_index_statement(table, ix, c.dialect());
  if (c.dialect().backend == db::Backend::kPostgres) {
    // An interrupted CONCURRENTLY build leaves an invalid index behind: drop it and rebuild.
    c.execute_script("DROP INDEX IF EXISTS " + c.dialect().quote(ix.name));
    sql.replace(sql.find("INDEX "), 6, "INDEX CONCURRENTLY ");
  }
  c.execute_script(sql);
}

// Version 7: change_files.seq, so that a change's files read back in the order they were given
// (Buildbot's behaviour). The order of files stored before it is unknown: they keep NULL and read
// by name, as they always did.
void change_files_seq(Connection& c) { create_missing(c, 7); }

}  // namespace

const std::vector<Migration>& history() {
  static const std::vector<Migration> h = {
      {1, "initial schema", true,
       "tables may be partly created; `db upgrade` creates the missing ones", &initial_schema},
      {2, "steps.locks_acquired_at", true,
       "the column may exist without its values; `db upgrade` fills them", &steps_locks_acquired_at},
      {3, "index buildrequests_builder_pending", false,
       "the index may be missing or (PostgreSQL) invalid; `db upgrade` rebuilds it",
       &buildrequests_builder_pending_index},
      {7, "change_files.seq", true, "the column may be missing; `db upgrade` adds it",
       &change_files_seq},
  };
  return h;
}

}  // namespace ym::migrate
