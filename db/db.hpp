// The root of the connectors, like Buildbot's master.db: db.masters().find_master_id(...).
// Db::open(url) returns the real implementation on SQLite, PostgreSQL or MySQL; ym::fake::FakeDb
// implements the same interface in memory. Code that uses the database depends only on Db.
//
// Thread safety: every connector method may be called from any thread; results arrive as futures
// completed on a database thread, or, given an asio completion token as the last argument
// (see db/async.hpp), on the token's executor.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache.hpp"
#include "connectors/masters.hpp"
#include "connectors/builders.hpp"
#include "connectors/workers.hpp"
#include "connectors/state.hpp"
#include "connectors/sourcestamps.hpp"
#include "connectors/buildsets.hpp"
#include "connectors/buildrequests.hpp"
#include "connectors/builds.hpp"
#include "connectors/steps.hpp"
#include "connectors/logs.hpp"
#include "connectors/changes.hpp"
#include "connectors/changesources.hpp"
#include "connectors/schedulers.hpp"
#include "connectors/users.hpp"
#include "connectors/tags.hpp"
#include "connectors/build_data.hpp"
#include "connectors/test_result_sets.hpp"
#include "connectors/test_results.hpp"
#include "future.hpp"
#include "pool.hpp"
#include "testdata.hpp"
#include "url.hpp"

namespace ym::db {

using Clock = std::function<Timestamp()>;

struct DbOptions {
  // Database threads; 0 means the URL's ?max_connections, else pool.size (4 by default on
  // SQLite; on PostgreSQL and MySQL an unchanged pool.size means 8).
  // An in-memory SQLite database always has one.
  int pool_size = 0;
  PoolOptions pool;
  // Cache capacities by cache name (see docs/architecture.md for the names); others get 1000.
  std::map<std::string, size_t> cache_sizes;
  // Source of "now" for every timestamp the connectors write; the system clock by default.
  Clock clock;
  // Create the schema when the database is empty (a new installation).
  bool create_if_empty = true;
  // Compress each log when it is finished (Logs::compress_log, in the background: finish_log
  // returns first). yardmaster turns this on; off here so that stored chunks are what the
  // caller appended until it asks.
  bool compress_finished_logs = false;
  // The codec compress_log writes (logchunks.compressed codes, as Buildbot's). zstd, code 4, is
  // what Buildbot 4.1 and later read too; Buildbot 3.x reads kNone, kGzip, kBzip2 and kLz4.
  // Chunks of every codec are read whatever this says.
  LogCompression log_compression = LogCompression::kZstd;
};

class Db {
 public:
  virtual ~Db() = default;

  // Opens the database at `url`, creating the schema at the current version when the database is
  // empty. Throws InvalidUrl, ConnectionFailed, NotADatabase, SchemaOutOfDate (naming the command
  // that upgrades it) or SchemaTooNew.
  static std::unique_ptr<Db> open(const std::string& url, DbOptions options = {});

  virtual Masters& masters() = 0;
  virtual Builders& builders() = 0;
  virtual Workers& workers() = 0;
  virtual State& state() = 0;
  virtual SourceStamps& sourcestamps() = 0;
  virtual Buildsets& buildsets() = 0;
  virtual BuildRequests& buildrequests() = 0;
  virtual Builds& builds() = 0;
  virtual Steps& steps() = 0;
  virtual Logs& logs() = 0;
  virtual Changes& changes() = 0;
  virtual ChangeSources& changesources() = 0;
  virtual Schedulers& schedulers() = 0;
  virtual Users& users() = 0;
  virtual Tags& tags() = 0;
  virtual BuildData& build_data() = 0;
  virtual TestResultSets& test_result_sets() = 0;
  virtual TestResults& test_results() = 0;

  // Inserts rows exactly as given (for tests and fixtures). Throws ForeignKeyViolation /
  // UniqueViolation when they break a constraint (the fake: when foreign-key checking is on).
  virtual Future<void> insert_test_data(std::vector<testdata::Row> rows) = 0;

  // Where the data lives, with any password masked.
  virtual std::string describe() const = 0;

  virtual std::vector<CacheStats> cache_stats() const = 0;
  // Counters of the database threads (all zero for the fake, which has none).
  virtual PoolStats pool_stats() const = 0;
  // The database pool's fault switches (see Pool), for tests of retry and lost-reply paths;
  // nullptr for the fake, which has its own (FakeDb::fail_next_calls).
  virtual FaultInjector* faults() { return nullptr; }

  // Completes or fails every pending call, then releases connections. Idempotent.
  virtual void shutdown() = 0;

  // ---- Your own SQL (Buildbot's db.pool.do): fn(Connection&) runs on a database thread, with
  // the pool's retries, and its result or error arrives in the future. Write SQL with `?`
  // placeholders and bind every value (conn.stmt(sql).bind(...)); conn.dialect() says what
  // differs between backends. Nothing fn returns may refer to the connection. On the fake,
  // which has no SQL, these fail with InvalidArgument. See docs/library.md.
  //
  // Autocommit: each statement commits on its own.
  template <class Fn>
  auto run(Fn fn) {
    return on_pool<Fn>([&](Pool& p) { return p.run(std::move(fn)); });
  }
  // A read transaction: one consistent snapshot.
  template <class Fn>
  auto read(Fn fn) {
    return on_pool<Fn>([&](Pool& p) { return p.read(std::move(fn)); });
  }
  // A write transaction, committed when fn returns and rolled back when it throws. fn may run
  // more than once (transient errors are retried) and must have no other side effects. If the
  // connection is lost during COMMIT the call fails with CommitOutcomeUnknown, unless you pass
  // Unknown::kRetry and fn checks Pool::commit_outcome_unknown() and what is already there.
  template <class Fn>
  auto transaction(Fn fn, Unknown unknown = Unknown::kFail) {
    return on_pool<Fn>([&](Pool& p) { return p.transaction(std::move(fn), unknown); });
  }
  YM_ASYNC(run)
  YM_ASYNC(read)
  YM_ASYNC(transaction)

 protected:
  // The SQL pool, or nullptr (the fake).
  virtual Pool* sql_pool() { return nullptr; }

 private:
  template <class Fn, class Submit>
  auto on_pool(Submit submit) -> Future<std::invoke_result_t<Fn&, Connection&>> {
    using R = std::invoke_result_t<Fn&, Connection&>;
    Pool* pool = sql_pool();
    if (!pool) {
      return make_error_future<R>(
          InvalidArgument("custom SQL needs a real database: the fake has no SQL"));
    }
    return submit(*pool);
  }
};

}  // namespace ym::db
