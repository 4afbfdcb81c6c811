// The schema history. Each version adds exactly what db/model.cpp tags with its number, so the
// model (the current schema) and the history cannot drift apart; the tests check that a database
// migrated from empty matches the model on every backend.
//
// To add a version: tag the new tables/columns/indexes in model.cpp with since_*(N), append a
// Migration {N, name, transactional?, what-to-check, step} below, and add a test in
// tests/migrate/ that fills a database at N-1, upgrades it and checks every row (docs/migrations.md).
#include "db/connectors/logs_util.hpp"
#include "db/drivers/driver.hpp"
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

// Version 4: Buildbot 3.7's newer data: builder tags (tags, builders_tags) and build data. New
// tables only, so existing rows are untouched.
void tags_and_build_data(Connection& c) { create_missing(c, 4); }
// Buildbot 3.7's test result data: test_result_sets, test_names, test_code_paths, test_results.
// New tables only, so nothing to fill.
void test_results_tables(Connection& c) { create_missing(c, model::kTestResultsVersion); }
// Log chunks in Buildbot's layout (db/connectors/logs_util.hpp): earlier versions ended every
// line of a chunk with a newline and stored zstd as code 1, which Buildbot reads as gzip. Each
// chunk is rewritten where it is still in the old layout (a row tells which it is in), batch by
// batch, each batch a transaction of its own: an interrupted run leaves every chunk readable in
// one layout or the other, and running it again finishes the rest.
void logchunks_buildbot_layout(Connection& c) {
  constexpr int64_t kBatch = 200;
  int64_t logid = -1, first = -1;  // the last chunk looked at
  for (;;) {
    db::Transaction txn(c, db::TxnMode::kWrite);
    auto rows = c.stmt("SELECT logid, first_line, last_line, compressed, content FROM logchunks "
                       "WHERE logid > ? OR (logid = ? AND first_line > ?) "
                       "ORDER BY logid, first_line LIMIT ?")
                    .bind(logid, logid, first, kBatch)
                    .all();
    for (const auto& r : rows) {
      logid = r.get<int64_t>(0);
      first = r.get<int64_t>(1);
      auto content = r.get<std::optional<db::Blob>>(4);
      if (!content) continue;
      auto rewritten = db::internal::rewrite_old_chunk(
          content->bytes, r.get<int64_t>(3), r.get<int64_t>(2) - first + 1,
          db::internal::chunk_name(logid, first));
      if (!rewritten) continue;
      c.stmt("UPDATE logchunks SET content = ?, compressed = ? WHERE logid = ? AND first_line = ?")
          .bind(db::Blob{std::move(rewritten->content)}, rewritten->code, logid, first)
          .exec();
    }
    txn.commit();
    if (static_cast<int64_t>(rows.size()) < kBatch) return;
  }
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
      {4, "tags, builders_tags, build_data", true,
       "the tables may be partly created; `db upgrade` creates the missing ones",
       &tags_and_build_data},
      {model::kTestResultsVersion, "test result tables", true,
       "some of the tables may be missing; `db upgrade` creates them", &test_results_tables},
      {db::internal::kBuildbotChunkLayoutVersion, "log chunks in Buildbot's layout", false,
       "some chunks may still be in the old layout (every one reads correctly); `db upgrade` "
       "rewrites the rest",
       &logchunks_buildbot_layout},
      {7, "change_files.seq", true, "the column may be missing; `db upgrade` adds it",
       &change_files_seq},
  };
  return h;
}

}  // namespace ym::migrate
