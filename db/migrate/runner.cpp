#include "db/migrate/runner.hpp"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "db/migrate/lock.hpp"

namespace ym::migrate {

using db::Connection;

namespace {

int64_t now() { return db::now_seconds().time_since_epoch().count(); }

void ensure_record_table(Connection& c) {
  auto tables = c.table_names();
  if (std::find(tables.begin(), tables.end(), std::string(kRecordTable)) != tables.end()) return;
  const auto& d = c.dialect();
  c.execute_script("CREATE TABLE " + d.quote(kRecordTable) + " (" + d.quote("version") + " " +
                   d.type_name(db::ColumnType::kInteger, 0) + " NOT NULL PRIMARY KEY, " +
                   d.quote("name") + " " + d.type_name(db::ColumnType::kString, 255) +
                   " NOT NULL, " + d.quote("started_at") + " " +
                   d.type_name(db::ColumnType::kBigInteger, 0) + " NOT NULL, " +
                   d.quote("finished_at") + " " + d.type_name(db::ColumnType::kBigInteger, 0) +
                   ")" + (*d.table_options ? std::string(" ") + d.table_options : ""));
}

void record_start(Connection& c, const Migration& m) {
  // An interrupted run left its row behind: start it again.
  c.stmt("DELETE FROM ym_migrations WHERE version = ?").bind(m.version).exec();
  c.stmt("INSERT INTO ym_migrations (version, name, started_at, finished_at) VALUES (?, ?, ?, NULL)")
      .bind(m.version, m.name, now())
      .exec();
}

void record_finish(Connection& c, const Migration& m) {
  c.stmt("UPDATE ym_migrations SET finished_at = ? WHERE version = ?").bind(now(), m.version).exec();
}

// Test hook (docs/migrations.md): YM_MIGRATE_TEST_PAUSE="VERSION:MILLISECONDS" sleeps after that
// version's step has run and before it is recorded as finished (and, for a transactional
// version, before the commit), so that a test can kill the process at the worst moment.
void test_pause(const Migration& m) {
  const char* spec = std::getenv("YM_MIGRATE_TEST_PAUSE");
  if (!spec) return;
  int version = 0, ms = 0;
  if (std::sscanf(spec, "%d:%d", &version, &ms) == 2 && version == m.version && ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

void run(Connection& c, const Migration& m) {
  bool in_transaction = m.transactional && c.dialect().transactional_ddl;
  if (in_transaction) {
    db::Transaction txn(c, db::TxnMode::kWrite);
    ensure_record_table(c);
    record_start(c, m);
    m.upgrade(c);
    test_pause(m);
    record_finish(c, m);
    txn.commit();
    return;
  }
  ensure_record_table(c);
  record_start(c, m);  // committed on its own: an interruption stays visible
  m.upgrade(c);
  test_pause(m);
  record_finish(c, m);
}

}  // namespace

std::vector<const Migration*> pending(const SchemaStatus& st, int target) {
  std::vector<const Migration*> out;
  int done = st.version.value_or(0);
  for (const auto& m : history()) {
    if (m.version > target) break;
    if (m.version > done || (st.interrupted && m.version == *st.interrupted)) out.push_back(&m);
  }
  return out;
}

UpgradeResult upgrade(Connection& c, const db::Url& url, const UpgradeOptions& options) {
  int target = options.target.value_or(current_version());
  if (target < 1 || target > current_version()) {
    throw db::InvalidArgument("target version " + std::to_string(target) + " is not between 1 and " +
                              std::to_string(current_version()));
  }
  auto lock = MigrationLock::acquire(c, url, options.lock_timeout, options.on_lock_wait);
  // Re-read under the lock: a peer may have upgraded while we waited.
  SchemaStatus st = read_status(c);
  if (st.state == SchemaState::kForeign || st.state == SchemaState::kTooNew) {
    require_current(st, url.to_string());
  }
  UpgradeResult result{st.version, st.version.value_or(0), {}};
  for (const Migration* m : pending(st, target)) {
    if (options.on_start) options.on_start(*m);
    auto t0 = std::chrono::steady_clock::now();
    run(c, *m);
    result.applied.push_back(m->version);
    result.to = m->version;
    if (options.on_done) {
      options.on_done(*m, std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0));
    }
  }
  result.to = std::max(result.to, read_status(c).version.value_or(0));
  return result;
}

}  // namespace ym::migrate
