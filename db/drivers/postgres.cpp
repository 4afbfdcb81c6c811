// PostgreSQL driver (libpqxx 6): one pqxx::connection per Connection, prepared statements cached
// per connection, values passed as text parameters (bytea in hex), rows materialised by column
// type. Sections: connect, prepare/bind, rows, transactions, error mapping.
//
// libpqxx can silently re-open a broken connection; that would turn the statements after it
// into autocommits outside the caller's transaction, so reactivation is inhibited and a broken
// connection is reported (and the Connection refuses further use) instead. The pool reopens it.
#include <pqxx/pqxx>

#include <charconv>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::db::pg_internal {

// One statement parameter as libpq wants it: text, or SQL NULL.
struct Param {
  bool null = false;
  std::string text;
};

}  // namespace ym::db::pg_internal

namespace pqxx {
template <>
struct string_traits<ym::db::pg_internal::Param> {
  static constexpr const char* name() noexcept { return "ym::db::pg_internal::Param"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const ym::db::pg_internal::Param& p) { return p.null; }
  static ym::db::pg_internal::Param null() { return {true, {}}; }
  static void from_string(const char s[], ym::db::pg_internal::Param& p) { p = {false, s}; }
  static std::string to_string(const ym::db::pg_internal::Param& p) { return p.text; }
};
}  // namespace pqxx

namespace ym::db {
namespace {

using pg_internal::Param;

// Type OIDs of pg_type (stable across versions) for the columns we materialise specially.
constexpr pqxx::oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
                    kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

// ------------------------------------------------------------------ error mapping
// The one place that turns libpqxx exceptions and SQLSTATEs into our error categories. Called
// from inside a catch block; `context` says what we were doing. Never lets the password through.
[[noreturn]] void raise_mapped(const Url& url, std::string_view context) {
  auto msg = [&](const std::exception& e) {
    std::string text = e.what();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return mask_passwords(std::string(context) + ": " + text, url);
  };
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    // The connection broke during COMMIT: the transaction may or may not have been applied, so
    // it must not be retried blindly.
    throw ConnectionFailed(msg(e) +
                               " (the connection was lost while committing; the "
                               "transaction may or may not have been applied)",
                           /*transient=*/false);
  } catch (const pqxx::statement_completion_unknown& e) {
    throw ConnectionFailed(msg(e) + " (whether the statement took effect is unknown)",
                           /*transient=*/false);
  } catch (const pqxx::transaction_rollback& e) {
    // libpqxx raises SQLSTATE class 40 (serialization failure 40001, deadlock 40P01) as these,
    // not as sql_error: the server rolled the transaction back, and a retry may succeed.
    throw TransientError(msg(e));
  } catch (const pqxx::broken_connection& e) {
    throw ConnectionFailed("lost the connection to PostgreSQL: " + msg(e), /*transient=*/true);
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    std::string cls = state.substr(0, 2);
    if (state == "23505") throw UniqueViolation(msg(e));
    if (state == "23503") throw ForeignKeyViolation(msg(e));
    if (state == "40001" || state == "40P01") throw TransientError(msg(e));
    if (state == "55P03" || state == "57014") throw TransientError(msg(e));  // lock / timeout
    if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03" ||
        state == "53300") {
      throw ConnectionFailed("lost the connection to PostgreSQL: " + msg(e), /*transient=*/true);
    }
    // A write on a server in recovery: the URL led to a standby. Said plainly, not as a bug of
    // ours; retrying would find the same server (libpq tries the hosts in order). A session
    // read-only by the URL's own choice (Url::read_only) is refused the same way.
    if (state == "25006" && !url.read_only) {
      throw ConnectionFailed(
          "the PostgreSQL server is read-only (a standby?); with several hosts in the URL add "
          "target_session_attrs=read-write: " +
              msg(e),
          /*transient=*/false);
    }
    if (cls == "23" || cls == "22") throw InvalidArgument(msg(e));
    if (cls == "28" || state == "3D000") throw ConnectionFailed(msg(e), /*transient=*/false);
    // 42xxx (syntax, undefined table or column, ...) and anything else: a bug on our side.
    throw InternalError(msg(e) + (state.empty() ? "" : " [SQLSTATE " + state + "]"));
  } catch (const pqxx::failure& e) {
    // Only broken_connection says so by type; libpq reports a dead socket in other ways too.
    std::string text = e.what();
    if (text.find("server closed the connection") != std::string::npos ||
        text.find("no connection to the server") != std::string::npos ||
        text.find("terminating connection") != std::string::npos) {
      throw ConnectionFailed("lost the connection to PostgreSQL: " + msg(e), /*transient=*/true);
    }
    throw InternalError(msg(e));
  } catch (const pqxx::usage_error& e) {
    throw InternalError(msg(e));
  } catch (const std::exception& e) {
    throw InternalError(msg(e));
  }
}

// ------------------------------------------------------------------ dialect
std::string pg_type_name(ColumnType type, int length) {
  switch (type) {
    // Epoch seconds and ids outgrow 32 bits; booleans stay integers so that 0/1 compare as on
    // the other backends.
    case ColumnType::kInteger:
    case ColumnType::kBigInteger:
      return "BIGINT";
    case ColumnType::kBoolean:
      return "SMALLINT";
    case ColumnType::kString:
      return "VARCHAR(" + std::to_string(length) + ")";
    case ColumnType::kText:
      return "TEXT";
    case ColumnType::kBlob:
      return "BYTEA";
    case ColumnType::kFloat:
      return "DOUBLE PRECISION";
  }
  return "TEXT";
}

std::string pg_autoincrement_pk(const std::string& name) {
  // BY DEFAULT (not ALWAYS): test data and restores insert explicit ids.
  return "\"" + name + "\" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
}

Dialect make_dialect() {
  Dialect d;
  d.backend = Backend::kPostgres;
  d.max_bind_variables = 30000;  // the protocol allows 65535; stay well clear of it
  d.max_indexed_string = 675;    // a btree entry holds ~2700 bytes: 675 four-byte characters
  d.transactional_ddl = true;
  d.supports_returning = true;
  d.update_returning = true;
  d.writable_cte = true;
  d.supports_skip_locked = true;
  d.single_writer = false;
  d.type_name = &pg_type_name;
  d.autoincrement_pk = &pg_autoincrement_pk;
  return d;
}

const Dialect& dialect_instance() {
  static const Dialect d = make_dialect();
  return d;
}

// A libpq connection-string value, quoted.
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class PostgresConnection final : public Connection {
 public:
  // ---------------------------------------------------------------- connect
  explicit PostgresConnection(const Url& url)
      : url_(url), pooled_(url.int_option("transaction_pooling", 0) != 0) {
    // Checked before connecting: a misspelt option is an error, not silently ignored.
    static const std::set<std::string> kKnown = {
        "max_connections", "connect_timeout",      "application_name",
        "sslmode",         "sslrootcert",          "sslcert",
        "sslkey",          "target_session_attrs", "keepalives_idle",
        "retry_budget",    "transaction_pooling"};
    for (const auto& [name, value] : url.options) {
      if (!kKnown.count(name)) {
        std::string known;
        for (const auto& k : kKnown) known += (known.empty() ? "" : ", ") + k;
        throw InvalidUrl("invalid database URL: unknown PostgreSQL option '" + name +
                         "' (known: " + known + ")");
      }
    }
    std::string info = "client_encoding=UTF8 application_name=" +
                       conninfo_value(url.option("application_name").value_or("yardmaster"));
    info += " connect_timeout=" + std::to_string(url.int_option("connect_timeout", 10));
    if (url.more_hosts.empty()) {
      if (!url.host.empty()) info += " host=" + conninfo_value(url.host);
      if (url.port) info += " port=" + std::to_string(*url.port);
    } else {
      // libpq takes the lists as they are and tries the hosts in order (an empty item: the
      // default socket or port); target_session_attrs=read-write makes it pass over a standby.
      std::string hosts, ports;
      bool first = true;
      for (const auto& e : url.endpoints()) {
        if (!first) {
          hosts += ",";
          ports += ",";
        }
        first = false;
        hosts += e.host;
        if (e.port) ports += std::to_string(*e.port);
      }
      info += " host=" + conninfo_value(hosts) + " port=" + conninfo_value(ports);
    }
    if (!url.user.empty()) info += " user=" + conninfo_value(url.user);
    if (url.password) info += " password=" + conninfo_value(*url.password);
    info += " dbname=" + conninfo_value(url.database);
    // TLS and the like pass through under libpq's own names.
    for (const char* key : {"sslmode", "sslrootcert", "sslcert", "sslkey", "target_session_attrs",
                            "keepalives_idle"}) {
      if (auto v = url.option(key)) info += std::string(" ") + key + "=" + conninfo_value(*v);
    }
    std::string where = url.to_string();
    try {
      conn_ = std::make_unique<pqxx::connection>(info);
    } catch (const std::exception& e) {
      std::string text = mask_passwords(e.what(), url);
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      // A server that is down or restarting may come back; a refused login will not.
      bool transient = text.find("Connection refused") != std::string::npos ||
                       text.find("could not connect") != std::string::npos ||
                       text.find("starting up") != std::string::npos ||
                       text.find("shutting down") != std::string::npos ||
                       text.find("timeout expired") != std::string::npos;
      throw ConnectionFailed("cannot connect to PostgreSQL at " + where + ": " + text, transient);
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    guarded("configuring the session", [&] {
      pqxx::nontransaction t(*conn_);
      if (pooled_) {
        // Behind a transaction pooler a SET reaches one server connection of many and stays
        // with it for whoever is next: nothing is set. What rows() needs is checked instead.
        // (No statement uses the server's time zone: times are epoch seconds we compute.)
        pqxx::result r = t.exec("SHOW bytea_output");
        std::string value = r.empty() ? "" : r[0][0].c_str();
        if (value != "hex") {
          throw ConnectionFailed(
              "the PostgreSQL server's bytea_output is '" + value +
                  "', not 'hex', and through a transaction pooler (transaction_pooling=1) it "
                  "cannot be set per session: run ALTER DATABASE ... SET bytea_output = 'hex'",
              /*transient=*/false);
        }
        return 0;
      }
      // Hex is what rows() decodes; UTC keeps any server-side time function unambiguous.
      t.exec("SET bytea_output = 'hex'; SET TIME ZONE 'UTC'");
      // A read-only session: the server refuses every write and DDL (Url::read_only).
      if (url.read_only) t.exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      return 0;
    });
  }

  ~PostgresConnection() override {
    try {
      txn_.reset();
      if (conn_) conn_->disconnect();
    } catch (...) {
      // Closing a broken connection: nothing left to release.
    }
  }

  const Dialect& dialect() const override { return dialect_instance(); }

  // ---------------------------------------------------------------- prepare/bind
  Result query(std::string_view sql, std::span<const Value> params) override {
    return guarded("running SQL", [&] { return to_result(run(sql, params)); });
  }

  int64_t execute(std::string_view sql, std::span<const Value> params) override {
    return guarded("running SQL",
                   [&] { return static_cast<int64_t>(run(sql, params).affected_rows()); });
  }

  int64_t insert(std::string_view sql, std::span<const Value> params,
                 std::string_view id_column) override {
    std::string with_returning = std::string(sql) + " RETURNING " + dialect().quote(id_column);
    return guarded("inserting a row", [&]() -> int64_t {
      pqxx::result r = run(with_returning, params);
      if (r.empty() || r[0][0].is_null()) return 0;  // e.g. ON CONFLICT DO NOTHING skipped it
      return r[0][0].as<int64_t>();
    });
  }

  void execute_script(std::string_view sql) override {
    guarded("running SQL", [&] {
      with_transaction([&](pqxx::transaction_base& t) { return t.exec(std::string(sql)); });
      return 0;
    });
  }

  // ---------------------------------------------------------------- transactions
  void begin(TxnMode mode) override {
    if (txn_) throw InternalError("begin: a transaction is already open on this connection");
    guarded("starting a transaction", [&] {
      if (pooled_ && url_.read_only) {
        // No session characteristics behind a pooler: each transaction says it reads only.
        txn_ = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(*conn_);
      } else if (mode == TxnMode::kRead) {
        // One snapshot for the whole read, as SQLite gives.
        txn_ = std::make_unique<pqxx::transaction<pqxx::repeatable_read>>(*conn_);
      } else {
        // READ COMMITTED: find-or-create re-reads a row another transaction just committed.
        txn_ = std::make_unique<pqxx::work>(*conn_);
      }
      return 0;
    });
  }

  void commit() override {
    if (!txn_) throw InternalError("commit: no transaction is open on this connection");
    auto txn = std::move(txn_);
    guarded("committing", [&] {
      txn->commit();
      return 0;
    });
  }

  void rollback() override {
    if (!txn_) return;
    auto txn = std::move(txn_);
    guarded("rolling back", [&] {
      txn->abort();
      return 0;
    });
  }

  bool in_transaction() const override { return txn_ != nullptr; }

  std::vector<std::string> table_names() override {
    std::vector<std::string> out;
    for (const Row& r : stmt("SELECT tablename FROM pg_tables WHERE schemaname = "
                             "current_schema() ORDER BY tablename")
                            .all()) {
      out.push_back(r.get<std::string>(0));
    }
    return out;
  }

  void after_explicit_ids(std::string_view table) override {
    std::string t(table);
    auto seqs = stmt(
                    "SELECT a.attname, pg_get_serial_sequence(quote_ident(?), a.attname) "
                    "FROM pg_attribute a WHERE a.attrelid = to_regclass(quote_ident(?)) "
                    "AND a.attnum > 0 AND NOT a.attisdropped "
                    "AND pg_get_serial_sequence(quote_ident(?), a.attname) IS NOT NULL")
                    .bind(t, t, t)
                    .all();
    for (const Row& r : seqs) {
      // Next value: one past the largest id in the table (1 when it is empty).
      stmt("SELECT setval(?, COALESCE((SELECT MAX(" + dialect().quote(r.get<std::string>(0)) +
           ") FROM " + dialect().quote(t) + "), 0) + 1, false)")
          .bind(r.get<std::string>(1))
          .all();
    }
  }

 private:
  static constexpr size_t kMaxCachedStatements = 256;

  // Runs fn with this connection's usable state checked, mapping every failure; an error that
  // poisons the connection marks it broken, so that later calls fail fast until it is replaced.
  template <class Fn>
  auto guarded(std::string_view context, Fn fn) -> decltype(fn()) {
    if (broken_) {
      throw ConnectionFailed("the PostgreSQL connection is broken and must be reopened",
                             /*transient=*/true);
    }
    try {
      return fn();
    } catch (...) {
      try {
        raise_mapped(url_, context);
      } catch (const Error& e) {
        if (e.poisons_connection()) broken_ = true;
        if (e.category() == ErrorCategory::kTransient && plan_changed(e)) clear_cache();
        throw;
      }
    }
  }

  // "cached plan must not change result type": a table changed under a prepared statement.
  static bool plan_changed(const Error& e) {
    return std::string_view(e.what()).find("cached plan") != std::string_view::npos;
  }

  template <class Fn>
  pqxx::result with_transaction(Fn fn) {
    if (txn_) return fn(*txn_);
    if (pooled_ && url_.read_only) {
      pqxx::read_transaction t(*conn_);
      pqxx::result r = fn(t);
      t.commit();
      return r;
    }
    pqxx::nontransaction t(*conn_);
    return fn(t);
  }

  pqxx::result run(std::string_view sql, std::span<const Value> params) {
    std::vector<Param> values;
    values.reserve(params.size());
    for (const Value& v : params) values.push_back(to_param(v));
    // A prepared statement belongs to one server connection; behind a transaction pooler the
    // next transaction may run on another. Unnamed statements live as long as one message.
    if (pooled_) return run_unprepared(sql, values);
    std::string key(sql);
    auto it = cache_.find(key);
    if (it == cache_.end() && cache_.size() >= kMaxCachedStatements) {
      // Deallocating inside a transaction that may have failed is not worth the risk: run this
      // one unprepared and make room when the transaction is over.
      if (txn_) return run_unprepared(sql, values);
      clear_cache();
    }
    if (it == cache_.end()) {
      std::string name = "ym" + std::to_string(++statement_counter_);
      conn_->prepare(name, internal::number_placeholders(sql));
      try {
        conn_->prepare_now(name);
      } catch (...) {
        conn_->unprepare(name);
        throw;
      }
      it = cache_.emplace(std::move(key), std::move(name)).first;
    }
    const std::string& name = it->second;
    return with_transaction([&](pqxx::transaction_base& t) {
      return t.exec_prepared(name, pqxx::prepare::make_dynamic_params(values));
    });
  }

  pqxx::result run_unprepared(std::string_view sql, const std::vector<Param>& values) {
    std::string text = internal::number_placeholders(sql);
    return with_transaction([&](pqxx::transaction_base& t) {
      return t.exec_params(text, pqxx::prepare::make_dynamic_params(values));
    });
  }

  static Param to_param(const Value& v) {
    return std::visit(
        [](const auto& x) -> Param {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return {true, {}};
          } else if constexpr (std::is_same_v<T, int64_t>) {
            return {false, std::to_string(x)};
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[64];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);  // shortest exact form
            return {false, std::string(buf, end)};
          } else if constexpr (std::is_same_v<T, std::string>) {
            // libpq passes text parameters as C strings: a NUL would silently cut the value.
            if (x.find('\0') != std::string::npos) {
              throw InvalidArgument("PostgreSQL text cannot contain NUL bytes");
            }
            return {false, x};
          } else {
            static const char* kHex = "0123456789abcdef";
            std::string hex = "\\x";
            hex.reserve(2 + x.bytes.size() * 2);
            for (unsigned char c : x.bytes) {
              hex.push_back(kHex[c >> 4]);
              hex.push_back(kHex[c & 15]);
            }
            return {false, std::move(hex)};
          }
        },
        v);
  }

  void clear_cache() {
    for (auto& [sql, name] : cache_) {
      try {
        conn_->unprepare(name);
      } catch (...) {
        // A broken connection takes its statements with it.
      }
    }
    cache_.clear();
  }

  // ---------------------------------------------------------------- rows
  static Result to_result(const pqxx::result& r) {
    Result out;
    auto ncol = r.columns();
    std::vector<pqxx::oid> types(ncol);
    out.columns.reserve(ncol);
    for (pqxx::row::size_type i = 0; i < ncol; ++i) {
      out.columns.emplace_back(r.column_name(i));
      types[i] = r.column_type(i);
    }
    out.rows.reserve(r.size());
    for (const auto& row : r) {
      std::vector<Value> values;
      values.reserve(ncol);
      for (pqxx::row::size_type i = 0; i < ncol; ++i)
        values.push_back(read_field(row[i], types[i]));
      out.rows.emplace_back(std::move(values));
    }
    return out;
  }

  static Value read_field(const pqxx::field& f, pqxx::oid type) {
    if (f.is_null()) return nullptr;
    const char* p = f.c_str();
    size_t n = f.size();
    switch (type) {
      case kInt2Oid:
      case kInt4Oid:
      case kInt8Oid:
      case kOidOid: {
        int64_t v = 0;
        auto [end, ec] = std::from_chars(p, p + n, v);
        if (ec != std::errc() || end != p + n) {
          throw InternalError("PostgreSQL returned a malformed integer: " + std::string(p, n));
        }
        return v;
      }
      case kBoolOid:
        return int64_t{p[0] == 't' ? 1 : 0};
      case kFloat4Oid:
      case kFloat8Oid:
      case kNumericOid:
        return std::strtod(std::string(p, n).c_str(), nullptr);
      case kByteaOid: {
        if (n < 2 || p[0] != '\\' || p[1] != 'x' || n % 2 != 0) {
          throw InternalError("PostgreSQL returned bytea in an unexpected format");
        }
        Blob b;
        b.bytes.reserve((n - 2) / 2);
        for (size_t i = 2; i + 1 < n; i += 2) {
          b.bytes.push_back(static_cast<char>(hex_digit(p[i]) * 16 + hex_digit(p[i + 1])));
        }
        return b;
      }
      default:
        return std::string(p, n);
    }
  }

  Url url_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::dbtransaction> txn_;            // the open transaction, if any
  std::unordered_map<std::string, std::string> cache_;  // SQL text -> prepared statement name
  // ?transaction_pooling=1: behind PgBouncer's pool_mode=transaction (or any pooler that hands
  // each transaction to whichever server connection is free): no prepared statements, no
  // session settings.
  bool pooled_ = false;
  uint64_t statement_counter_ = 0;
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<Connection> internal::open_postgres(const Url& url) {
  return std::make_unique<PostgresConnection>(url);
}

}  // namespace ym::db
