// SQLite driver: embedded, WAL mode, foreign keys on. One sqlite3 handle per Connection.
// Sections: connect, prepare/bind, rows, transactions, error mapping.
#include <sqlite3.h>

#include <filesystem>
#include <list>
#include <unordered_map>

#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::db {
namespace {

// ------------------------------------------------------------------ error mapping
// The one place that turns SQLite result codes into our error categories.
[[noreturn]] void raise(sqlite3* db, int rc, std::string_view context) {
  std::string msg = std::string(context) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw TransientError("database is busy (" + msg + ")");
    case SQLITE_CONSTRAINT:
      if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) throw ForeignKeyViolation(msg);
      if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        throw UniqueViolation(msg);
      }
      throw InvalidArgument(msg);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw NotADatabase(msg + " (the file is not an SQLite database, or it is damaged)");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      throw ConnectionFailed(msg);
    case SQLITE_FULL:
      // Space may come back (logs rotated, a file deleted): worth retrying within the budget.
      throw ConnectionFailed(msg, /*transient=*/true);
    case SQLITE_IOERR:
      throw ConnectionFailed(msg, /*transient=*/false);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      throw InvalidArgument(msg);
    default:
      throw InternalError(msg);
  }
}

std::string sqlite_type_name(ColumnType type, int length) {
  switch (type) {
    case ColumnType::kInteger:
    case ColumnType::kBigInteger:
    case ColumnType::kBoolean: return "INTEGER";
    case ColumnType::kString: return "VARCHAR(" + std::to_string(length) + ")";
    case ColumnType::kText: return "TEXT";
    case ColumnType::kBlob: return "BLOB";
    case ColumnType::kFloat: return "REAL";
  }
  return "TEXT";
}

std::string sqlite_autoincrement_pk(const std::string& name) {
  return "\"" + name + "\" INTEGER PRIMARY KEY AUTOINCREMENT";
}

Dialect make_dialect() {
  Dialect d;
  d.backend = Backend::kSqlite;
  d.max_bind_variables = 999;  // the historical default; newer builds allow more
  d.max_indexed_string = 1 << 20;
  d.transactional_ddl = true;
  d.supports_returning = false;  // 3.35+ has it, but last_insert_rowid is cheaper
  d.update_returning = true;     // 3.35+ (Debian 12 has 3.40)
  d.supports_skip_locked = false;
  d.single_writer = true;
  d.type_name = &sqlite_type_name;
  d.autoincrement_pk = &sqlite_autoincrement_pk;
  return d;
}

class SqliteConnection final : public Connection {
 public:
  // ---------------------------------------------------------------- connect
  explicit SqliteConnection(const Url& url) {
    // Options are checked before the file is touched: a bad URL creates nothing.
    int busy_timeout_ms = url.int_option("busy_timeout_ms", 2000);
    std::string sync = url.option("synchronous").value_or("FULL");
    if (sync != "FULL" && sync != "NORMAL" && sync != "OFF") {
      throw InvalidUrl("invalid database URL: synchronous must be FULL, NORMAL or OFF");
    }
    for (const auto& [name, value] : url.options) {
      if (name != "busy_timeout_ms" && name != "synchronous" && name != "max_connections" &&
          name != "retry_budget") {
        throw InvalidUrl("invalid database URL: unknown SQLite option '" + name +
                         "' (known: busy_timeout_ms, synchronous, max_connections, "
                         "retry_budget)");
      }
    }
    std::string path = url.memory ? std::string(":memory:") : url.database;
    if (!url.memory) {
      std::error_code ec;
      auto status = std::filesystem::status(path, ec);
      if (!ec && std::filesystem::is_directory(status)) {
        throw NotADatabase("cannot open " + path + ": it is a directory, not an SQLite file");
      }
    }
    // Read-only (Url::read_only): no file is created and none is written, not even its header
    // (setting the journal mode would write it).
    int flags = url.read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
                              : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw ConnectionFailed("cannot open SQLite database " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    try {
      if (url.read_only) {
        // Fails with NOTADB on a file that is not a database.
        execute_script("SELECT count(*) FROM sqlite_master");
      } else if (!url.memory) {
        // Fails with NOTADB on a file that is not a database, before anything is written.
        execute_script("PRAGMA journal_mode=WAL");
        execute_script("PRAGMA synchronous=" + sync);
      }
      execute_script("PRAGMA foreign_keys=ON");
    } catch (...) {
      close();
      throw;
    }
  }

  ~SqliteConnection() override { close(); }

  const Dialect& dialect() const override {
    static const Dialect d = make_dialect();
    return d;
  }

  // ---------------------------------------------------------------- prepare/bind
  Result query(std::string_view sql, std::span<const Value> params) override {
    sqlite3_stmt* st = prepare(sql, params);
    Result result;
    int ncol = sqlite3_column_count(st);
    result.columns.reserve(ncol);
    for (int i = 0; i < ncol; ++i) result.columns.emplace_back(sqlite3_column_name(st, i));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) result.rows.push_back(read_row(st, ncol));
    finish(st, rc, sql);
    return result;
  }

  int64_t execute(std::string_view sql, std::span<const Value> params) override {
    sqlite3_stmt* st = prepare(sql, params);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    finish(st, rc, sql);
    return sqlite3_changes64(db_);
  }

  int64_t insert(std::string_view sql, std::span<const Value> params, std::string_view) override {
    execute(sql, params);
    return sqlite3_last_insert_rowid(db_);
  }

  void execute_script(std::string_view sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
    if (err) sqlite3_free(err);
    if (rc != SQLITE_OK) raise(db_, rc, "executing SQL");
  }

  // ---------------------------------------------------------------- transactions
  void begin(TxnMode mode) override {
    execute_script(mode == TxnMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  void commit() override { execute_script("COMMIT"); }
  void rollback() override {
    if (!sqlite3_get_autocommit(db_)) execute_script("ROLLBACK");
  }
  bool in_transaction() const override { return db_ && !sqlite3_get_autocommit(db_); }

  std::vector<std::string> table_names() override {
    std::vector<std::string> out;
    for (const Row& r : stmt("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                             "LIKE 'sqlite_%' ORDER BY name")
                            .all()) {
      out.push_back(r.get<std::string>(0));
    }
    return out;
  }

 private:
  static constexpr size_t kMaxCachedStatements = 256;

  sqlite3_stmt* prepare(std::string_view sql, std::span<const Value> params) {
    sqlite3_stmt* st = nullptr;
    std::string key(sql);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      st = it->second;
    } else {
      int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()),
                                  SQLITE_PREPARE_PERSISTENT, &st, nullptr);
      if (rc != SQLITE_OK) raise(db_, rc, "preparing SQL");
      if (cache_.size() >= kMaxCachedStatements) clear_cache();
      cache_.emplace(std::move(key), st);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(st)) {
      throw InternalError("statement expects " + std::to_string(sqlite3_bind_parameter_count(st)) +
                          " parameters, got " + std::to_string(params.size()));
    }
    for (size_t i = 0; i < params.size(); ++i) bind(st, static_cast<int>(i + 1), params[i]);
    return st;
  }

  void bind(sqlite3_stmt* st, int idx, const Value& v) {
    int rc = std::visit(
        [&](const auto& x) -> int {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return sqlite3_bind_null(st, idx);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            return sqlite3_bind_int64(st, idx, x);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(st, idx, x);
          } else if constexpr (std::is_same_v<T, std::string>) {
            return sqlite3_bind_text64(st, idx, x.data(), x.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
          } else {
            return sqlite3_bind_blob64(st, idx, x.bytes.data(), x.bytes.size(), SQLITE_TRANSIENT);
          }
        },
        v);
    if (rc != SQLITE_OK) raise(db_, rc, "binding a parameter");
  }

  // ---------------------------------------------------------------- rows
  static Row read_row(sqlite3_stmt* st, int ncol) {
    std::vector<Value> values;
    values.reserve(ncol);
    for (int i = 0; i < ncol; ++i) {
      switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL: values.emplace_back(nullptr); break;
        case SQLITE_INTEGER: values.emplace_back(int64_t{sqlite3_column_int64(st, i)}); break;
        case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(st, i)); break;
        case SQLITE_TEXT: {
          auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
          values.emplace_back(std::string(p, sqlite3_column_bytes(st, i)));
          break;
        }
        default: {
          auto* p = static_cast<const char*>(sqlite3_column_blob(st, i));
          int n = sqlite3_column_bytes(st, i);
          values.emplace_back(Blob{std::string(p ? p : "", n)});
        }
      }
    }
    return Row(std::move(values));
  }

  void finish(sqlite3_stmt* st, int rc, std::string_view sql) {
    if (rc != SQLITE_DONE) {
      sqlite3_reset(st);
      raise(db_, rc, "running SQL");
    }
    sqlite3_reset(st);
  }

  void clear_cache() {
    for (auto& [k, st] : cache_) sqlite3_finalize(st);
    cache_.clear();
  }

  void close() {
    clear_cache();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

const Dialect& internal::sqlite_dialect() {
  static const Dialect d = make_dialect();
  return d;
}

std::unique_ptr<Connection> internal::open_sqlite(const Url& url) {
  return std::make_unique<SqliteConnection>(url);
}

}  // namespace ym::db
