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

bool has_table(Connection& c, const char* name) {
  auto tables = c.table_names();
  return std::find(tables.begin(), tables.end(), std::string(name)) != tables.end();
}

std::string table_suffix(const db::Dialect& d) {
  return *d.table_options ? std::string(" ") + d.table_options : "";
}

void ensure_record_table(Connection& c) {
  if (has_table(c, kRecordTable)) return;
  const auto& d = c.dialect();
  c.execute_script("CREATE TABLE " + d.quote(kRecordTable) + " (" + d.quote("version") + " " +
                   d.type_name(db::ColumnType::kInteger, 0) + " NOT NULL PRIMARY KEY, " +
                   d.quote("name") + " " + d.type_name(db::ColumnType::kString, 255) +
                   " NOT NULL, " + d.quote("started_at") + " " +
                   d.type_name(db::ColumnType::kBigInteger, 0) + " NOT NULL, " +
                   d.quote("finished_at") + " " + d.type_name(db::ColumnType::kBigInteger, 0) +
                   ")" + table_suffix(d));
}

void ensure_extension_record_table(Connection& c) {
  if (has_table(c, kExtensionRecordTable)) return;
  const auto& d = c.dialect();
  c.execute_script("CREATE TABLE " + d.quote(kExtensionRecordTable) + " (" +
                   d.quote("extension") + " " + d.type_name(db::ColumnType::kString, 64) +
                   " NOT NULL, " + d.quote("version") + " " +
                   d.type_name(db::ColumnType::kInteger, 0) + " NOT NULL, " + d.quote("name") +
                   " " + d.type_name(db::ColumnType::kString, 255) + " NOT NULL, " +
                   d.quote("started_at") + " " + d.type_name(db::ColumnType::kBigInteger, 0) +
                   " NOT NULL, " + d.quote("finished_at") + " " +
                   d.type_name(db::ColumnType::kBigInteger, 0) + ", PRIMARY KEY (" +
                   d.quote("extension") + ", " + d.quote("version") + "))" + table_suffix(d));
}

// Where a version is recorded: ym_migrations for the core (extension == nullptr), else
// ym_extension_migrations under the extension's name.
struct Record {
  const std::string* extension = nullptr;

  void ensure_table(Connection& c) const {
    if (extension) {
      ensure_extension_record_table(c);
    } else {
      ensure_record_table(c);
    }
  }

  void start(Connection& c, const Migration& m) const {
    // An interrupted run left its row behind: start it again.
    if (extension) {
      c.stmt("DELETE FROM ym_extension_migrations WHERE extension = ? AND version = ?")
          .bind(*extension, m.version)
          .exec();
      c.stmt("INSERT INTO ym_extension_migrations (extension, version, name, started_at, "
             "finished_at) VALUES (?, ?, ?, ?, NULL)")
          .bind(*extension, m.version, m.name, now())
          .exec();
      return;
    }
    c.stmt("DELETE FROM ym_migrations WHERE version = ?").bind(m.version).exec();
    c.stmt("INSERT INTO ym_migrations (version, name, started_at, finished_at) VALUES (?, ?, ?, NULL)")
        .bind(m.version, m.name, now())
        .exec();
  }

  void finish(Connection& c, const Migration& m) const {
    if (extension) {
      c.stmt("UPDATE ym_extension_migrations SET finished_at = ? WHERE extension = ? AND version = ?")
          .bind(now(), *extension, m.version)
          .exec();
      return;
    }
    c.stmt("UPDATE ym_migrations SET finished_at = ? WHERE version = ?").bind(now(), m.version).exec();
  }
};

// Test hook (docs/migrations.md): YM_MIGRATE_TEST_PAUSE="VERSION:MILLISECONDS" sleeps after that
// core version's step has run and before it is recorded as finished (and, for a transactional
// version, before the commit), so that a test can kill the process at the worst moment.
void test_pause(const Record& record, const Migration& m) {
  if (record.extension) return;
  const char* spec = std::getenv("YM_MIGRATE_TEST_PAUSE");
  if (!spec) return;
  int version = 0, ms = 0;
  if (std::sscanf(spec, "%d:%d", &version, &ms) == 2 && version == m.version && ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

void run(Connection& c, const Migration& m, const Record& record) {
  bool in_transaction = m.transactional && c.dialect().transactional_ddl;
  if (in_transaction) {
    db::Transaction txn(c, db::TxnMode::kWrite);
    record.ensure_table(c);
    record.start(c, m);
    m.upgrade(c);
    test_pause(record, m);
    record.finish(c, m);
    txn.commit();
    return;
  }
  record.ensure_table(c);
  record.start(c, m);  // committed on its own: an interruption stays visible
  m.upgrade(c);
  test_pause(record, m);
  record.finish(c, m);
}

// A step that fails with a transient error (a deadlock; on a Galera cluster, a schema change
// aborted by a conflicting one that the cluster ordered first) is run again, up to 5 times in
// all: every step resumes where an interrupted run left it (a transactional one was rolled back;
// a non-transactional one is written to be resumed), so the repeat does what the next upgrade
// would. A lost connection is not repeated here: the caller sees it.
void run_retrying(Connection& c, const Migration& m, const Record& record) {
  for (int attempt = 1;; ++attempt) {
    try {
      run(c, m, record);
      return;
    } catch (const db::TransientError&) {
      if (attempt == 5) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    }
  }
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
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

std::vector<ExtensionStep> pending_extensions(
    const SchemaStatus& st, const std::optional<std::map<std::string, int>>& targets) {
  auto registered = db::registered_extensions();
  if (targets) {
    for (const auto& [name, version] : *targets) {
      auto it = std::find_if(registered.begin(), registered.end(),
                             [&](const auto& e) { return e->name == name; });
      if (it == registered.end()) {
        throw db::InvalidArgument("extension '" + name + "' is not registered by this program");
      }
      if (version < 0 || version > (*it)->version()) {
        throw db::InvalidArgument("target version " + std::to_string(version) + " of extension '" +
                                  name + "' is not between 0 and " +
                                  std::to_string((*it)->version()));
      }
    }
  }
  std::vector<ExtensionStep> out;
  for (const auto& ext : registered) {
    int target = ext->version();
    if (targets) {
      auto it = targets->find(ext->name);
      if (it == targets->end()) continue;
      target = it->second;
    }
    const ExtensionStatus* es = st.extension(ext->name);
    int done = es ? es->version.value_or(0) : 0;
    int interrupted = es && es->interrupted ? *es->interrupted : 0;  // versions start at 1
    for (const auto& m : ext->history) {
      if (m.version > target) break;
      if (m.version > done || m.version == interrupted) out.push_back({ext, &m});
    }
  }
  return out;
}

UpgradeResult upgrade(Connection& c, const db::Url& url, const UpgradeOptions& options) {
  int target = options.target.value_or(current_version());
  if (target < 1 || target > current_version()) {
    throw db::InvalidArgument("target version " + std::to_string(target) + " is not between 1 and " +
                              std::to_string(current_version()));
  }
  // The default: extensions follow a core that reaches the program's version.
  std::optional<std::map<std::string, int>> ext_targets = options.extension_targets;
  if (!ext_targets && target != current_version()) ext_targets.emplace();
  pending_extensions(SchemaStatus{}, ext_targets);  // bad targets fail before the lock is taken
  auto lock = MigrationLock::acquire(c, url, options.lock_timeout, options.on_lock_wait);
  // Re-read under the lock: a peer may have upgraded while we waited.
  SchemaStatus st = read_status(c);
  if (st.state == SchemaState::kForeign || st.state == SchemaState::kTooNew) {
    require_current(st, url.to_string());
  }
  UpgradeResult result{st.version, st.version.value_or(0), {}, {}};
  for (const Migration* m : pending(st, target)) {
    lock->check_held();
    if (options.on_start) options.on_start(*m);
    auto t0 = std::chrono::steady_clock::now();
    run_retrying(c, *m, Record{});
    result.applied.push_back(m->version);
    result.to = m->version;
    if (options.on_done) options.on_done(*m, since(t0));
  }
  for (const ExtensionStep& step : pending_extensions(st, ext_targets)) {
    lock->check_held();
    const std::string& name = step.extension->name;
    if (options.on_extension_start) options.on_extension_start(name, *step.migration);
    auto t0 = std::chrono::steady_clock::now();
    run_retrying(c, *step.migration, Record{&name});
    result.extensions_applied.push_back({name, step.migration->version});
    if (options.on_extension_done) options.on_extension_done(name, *step.migration, since(t0));
  }
  result.to = std::max(result.to, read_status(c).version.value_or(0));
  return result;
}

}  // namespace ym::migrate
