// The one small interface that hides the three client libraries (SQLite, libpqxx, Connector/C++).
// SQL is written once with `?` placeholders; a driver adapts placeholders and caches prepared
// statements per connection. Every value is bound, never spliced into SQL text.
// A Connection is used by one thread at a time (the pool gives each database thread its own).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "../url.hpp"
#include "../value.hpp"

namespace ym::db {

enum class ColumnType { kInteger, kBigInteger, kBoolean, kString, kText, kBlob, kFloat };

// What differs between backends. The baseline answers for SQL-standard behaviour; each driver
// returns its own instance.
struct Dialect {
  Backend backend = Backend::kSqlite;
  int max_bind_variables = 999;      // per statement
  int max_indexed_string = 1 << 20;  // characters a VARCHAR in an index may hold
  bool transactional_ddl = true;     // DDL inside BEGIN..COMMIT is rolled back with it
  bool supports_returning = false;   // INSERT ... RETURNING id
  bool update_returning = false;     // UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL)
  bool writable_cte = false;         // WITH x AS (UPDATE ... RETURNING) INSERT ... (PostgreSQL)
  // An UPDATE's count is of the rows it matched, even those it left as they were (not MySQL,
  // which counts only the rows it changed): a count of 0 then means "no such row".
  bool update_counts_matched = true;
  bool supports_skip_locked = false;
  bool single_writer = false;        // writes must be serialised by the pool (SQLite)
  // Appended to CREATE TABLE (MySQL: engine, character set and a NO PAD binary collation, so
  // that 'a' and 'a ' are different strings as on the other backends).
  const char* table_options = "";

  // DDL type name for a column of `type` (length for kString).
  std::string (*type_name)(ColumnType type, int length) = nullptr;
  // Full column definition of an auto-increment integer primary key named `name`.
  std::string (*autoincrement_pk)(const std::string& name) = nullptr;
  // Quoted identifier.
  std::string quote(std::string_view ident) const;

  // INSERT of `columns` into `table` (with `?` placeholders) that leaves the existing row alone
  // when it would break the unique constraint on `conflict_columns`; other errors still raise.
  // MySQL has no per-constraint form: there, a conflict on any unique key is ignored.
  std::string insert_ignore(std::string_view table, const std::vector<std::string>& columns,
                            const std::vector<std::string>& conflict_columns) const;
  // INSERT of `columns` that, on a conflict on `conflict_columns`, updates `update_columns` of
  // the existing row to the values given (same caveat on MySQL).
  std::string upsert(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& conflict_columns,
                     const std::vector<std::string>& update_columns) const;
};

// Whether a transaction will write: SQLite takes its write lock at BEGIN for writers so that a
// transaction never has to upgrade a read lock (which is what makes BUSY unrecoverable).
enum class TxnMode { kRead, kWrite };

// The table that holds the migration lock on a Galera cluster (db/migrate/lock.cpp), where a
// server's own locks do not reach the other nodes. Created in an empty database before the schema,
// so table_names() leaves it out: it does not make a database "not empty" or "not ours".
inline constexpr const char* kMigrationLockTable = "ym_migration_lock";

class Connection {
 public:
  virtual ~Connection() = default;

  virtual const Dialect& dialect() const = 0;

  // Runs a statement that returns rows.
  virtual Result query(std::string_view sql, std::span<const Value> params) = 0;
  // Runs a statement that returns no rows; returns the number of rows it changed.
  virtual int64_t execute(std::string_view sql, std::span<const Value> params) = 0;
  // Runs an INSERT and returns the new row's auto-increment `id_column`.
  virtual int64_t insert(std::string_view sql, std::span<const Value> params,
                         std::string_view id_column) = 0;
  // Runs several `;`-separated statements without parameters (DDL).
  virtual void execute_script(std::string_view sql) = 0;

  virtual void begin(TxnMode mode) = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual bool in_transaction() const = 0;

  // Names of the tables in the database (for emptiness and version checks). Never lists
  // kMigrationLockTable, which is the migration tool's and not the schema's.
  virtual std::vector<std::string> table_names() = 0;

  // Called after rows were inserted into `table` with explicit values for its auto-increment
  // column, so that later inserts do not reuse them. Only PostgreSQL needs it (its sequences do
  // not follow explicit ids); SQLite and MySQL move their counters themselves.
  virtual void after_explicit_ids(std::string_view table) {}

  // A fluent statement: conn.stmt(sql).bind(a, b).all().
  class Stmt;
  Stmt stmt(std::string_view sql);
};

class Connection::Stmt {
 public:
  Stmt(Connection& conn, std::string_view sql) : conn_(conn), sql_(sql) {}

  template <class... A>
  Stmt& bind(A&&... args) {
    (params_.push_back(to_value(std::forward<A>(args))), ...);
    return *this;
  }
  Stmt& bind_all(std::span<const Value> values) {
    params_.insert(params_.end(), values.begin(), values.end());
    return *this;
  }

  int64_t exec() { return conn_.execute(sql_, params_); }
  int64_t insert(std::string_view id_column = "id") { return conn_.insert(sql_, params_, id_column); }
  Result all() { return conn_.query(sql_, params_); }
  std::optional<Row> one() {
    Result r = conn_.query(sql_, params_);
    if (r.rows.empty()) return std::nullopt;
    return std::move(r.rows.front());
  }
  // The first column of the first row, if any.
  template <class T>
  std::optional<T> scalar() {
    auto row = one();
    if (!row || row->is_null(0)) return std::nullopt;
    return row->get<T>(0);
  }

 private:
  Connection& conn_;
  std::string_view sql_;
  std::vector<Value> params_;
};

inline Connection::Stmt Connection::stmt(std::string_view sql) { return Stmt(*this, sql); }

// RAII transaction: rolls back in its destructor unless committed.
class Transaction {
 public:
  Transaction(Connection& conn, TxnMode mode) : conn_(conn) { conn_.begin(mode); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit() {
    conn_.commit();
    done_ = true;
  }

 private:
  Connection& conn_;
  bool done_ = false;
};

// Opens a connection for `url`; throws ConnectionFailed / NotADatabase / InvalidUrl.
using ConnectionFactory = std::function<std::unique_ptr<Connection>()>;

std::unique_ptr<Connection> open_connection(const Url& url);

namespace internal {
// Per-backend constructors, each defined in its driver's .cpp.
std::unique_ptr<Connection> open_sqlite(const Url& url);
std::unique_ptr<Connection> open_postgres(const Url& url);
std::unique_ptr<Connection> open_mysql(const Url& url);
const Dialect& sqlite_dialect();

// PostgreSQL: `sql` with its `?` placeholders numbered $1..$n; `?` inside quoted strings,
// quoted identifiers, dollar-quoted strings and comments is left alone.
std::string number_placeholders(std::string_view sql);
}  // namespace internal

}  // namespace ym::db
