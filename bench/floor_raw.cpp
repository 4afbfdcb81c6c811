// The floor's backends: sqlite3, libpq and the MariaDB C API used directly.
#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>

#include <map>
#include <stdexcept>

#include "bench/floor_raw.hpp"

namespace ym::bench {
namespace {

// ------------------------------------------------------------------ SQLite
class SqliteRaw final : public Raw {
 public:
  explicit SqliteRaw(const db::Url& url) {
    if (sqlite3_open(url.database.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open failed");
    sqlite3_busy_timeout(db_, 5000);
    run("PRAGMA journal_mode=WAL");
    run("PRAGMA synchronous=FULL");
    run("PRAGMA foreign_keys=ON");
  }
  ~SqliteRaw() override {
    for (auto& [k, s] : cache_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  void begin() override { run("BEGIN IMMEDIATE"); }
  void begin_read() override { run("BEGIN"); }
  void commit() override { run("COMMIT"); }
  void exec(const std::string& sql, const std::vector<RawValue>& p) override { step_all(sql, p, nullptr); }
  RawRows query(const std::string& sql, const std::vector<RawValue>& p) override {
    RawRows rows;
    step_all(sql, p, &rows);
    return rows;
  }
  int64_t insert(const std::string& sql, const std::vector<RawValue>& p, const std::string&) override {
    step_all(sql, p, nullptr);
    return sqlite3_last_insert_rowid(db_);
  }

 private:
  void run(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db_));
  }
  void step_all(const std::string& sql, const std::vector<RawValue>& p, RawRows* rows) {
    sqlite3_stmt*& st = cache_[sql];
    if (!st && sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < p.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      if (auto* v = std::get_if<int64_t>(&p[i])) sqlite3_bind_int64(st, idx, *v);
      else if (auto* s = std::get_if<std::string>(&p[i])) sqlite3_bind_text(st, idx, s->data(), (int)s->size(), SQLITE_STATIC);
      else if (auto* b = std::get_if<RawBlob>(&p[i])) sqlite3_bind_blob(st, idx, b->bytes.data(), (int)b->bytes.size(), SQLITE_STATIC);
      else sqlite3_bind_null(st, idx);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (!rows) continue;
      std::vector<std::optional<std::string>> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        if (sqlite3_column_type(st, c) == SQLITE_NULL) {
          row.emplace_back();
        } else {
          auto* t = static_cast<const char*>(sqlite3_column_blob(st, c));
          row.emplace_back(std::string(t ? t : "", sqlite3_column_bytes(st, c)));
        }
      }
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> cache_;
};

// ------------------------------------------------------------------ PostgreSQL (libpq)
std::string to_dollar(const std::string& sql) {
  std::string out;
  int n = 0;
  for (char c : sql) {
    if (c == '?') out += "$" + std::to_string(++n);
    else out += c;
  }
  return out;
}

// Binary results (so that bytea comes as bytes): integers become decimal text like the other
// backends' values; text and bytea are their bytes.
std::string binary_to_text(const PGresult* res, int r, int c) {
  const auto* v = reinterpret_cast<const unsigned char*>(PQgetvalue(res, r, c));
  int len = PQgetlength(res, r, c);
  auto big_endian = [&](int bytes) {
    uint64_t u = 0;
    for (int i = 0; i < bytes; ++i) u = (u << 8) | v[i];
    if (bytes < 8 && (u >> (bytes * 8 - 1))) u |= ~uint64_t{0} << (bytes * 8);  // sign-extend
    return std::to_string(static_cast<int64_t>(u));
  };
  switch (PQftype(res, c)) {
    case 20: return big_endian(8);  // int8
    case 23: return big_endian(4);  // int4
    case 21: return big_endian(2);  // int2
    case 25: case 1043: case 17: return std::string(reinterpret_cast<const char*>(v), len);
    default: throw std::runtime_error("floor: unexpected PostgreSQL result type " + std::to_string(PQftype(res, c)));
  }
}

class PostgresRaw final : public Raw {
 public:
  explicit PostgresRaw(const db::Url& url) {
    std::string conninfo = "host=" + url.host + " dbname=" + url.database;
    if (url.port) conninfo += " port=" + std::to_string(*url.port);
    if (!url.user.empty()) conninfo += " user=" + url.user;
    if (url.password) conninfo += " password=" + *url.password;
    conn_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) throw std::runtime_error("connection failed");
  }
  ~PostgresRaw() override { PQfinish(conn_); }
  void begin() override { simple("BEGIN"); }
  void commit() override { simple("COMMIT"); }
  void exec(const std::string& sql, const std::vector<RawValue>& p) override { PQclear(run(sql, p)); }
  RawRows query(const std::string& sql, const std::vector<RawValue>& p) override {
    PGresult* res = run(sql, p);
    RawRows rows;
    for (int r = 0; r < PQntuples(res); ++r) {
      std::vector<std::optional<std::string>> row;
      for (int c = 0; c < PQnfields(res); ++c) {
        if (PQgetisnull(res, r, c)) {
          row.emplace_back();
        } else if (PQfformat(res, c) == 1) {
          row.emplace_back(binary_to_text(res, r, c));
        } else {
          row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }
  int64_t insert(const std::string& sql, const std::vector<RawValue>& p, const std::string& id) override {
    auto rows = query(sql + " RETURNING " + id, p);
    return std::stoll(*rows.at(0).at(0));
  }

 private:
  void simple(const char* sql) { PQclear(PQexec(conn_, sql)); }
  PGresult* run(const std::string& sql, const std::vector<RawValue>& p) {
    auto it = names_.find(sql);
    if (it == names_.end()) {
      std::string name = "s" + std::to_string(names_.size());
      PGresult* prep = PQprepare(conn_, name.c_str(), to_dollar(sql).c_str(), 0, nullptr);
      if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
        std::string err = PQerrorMessage(conn_);
        PQclear(prep);
        throw std::runtime_error(err);
      }
      PQclear(prep);
      it = names_.emplace(sql, name).first;
    }
    std::vector<std::string> text(p.size());
    std::vector<const char*> values(p.size());
    std::vector<int> lengths(p.size()), formats(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      if (auto* v = std::get_if<int64_t>(&p[i])) { text[i] = std::to_string(*v); values[i] = text[i].c_str(); }
      else if (auto* s = std::get_if<std::string>(&p[i])) { values[i] = s->c_str(); }
      else if (auto* b = std::get_if<RawBlob>(&p[i])) { values[i] = b->bytes.data(); lengths[i] = (int)b->bytes.size(); formats[i] = 1; }
      else values[i] = nullptr;
    }
    PGresult* res = PQexecPrepared(conn_, it->second.c_str(), (int)p.size(), values.data(), lengths.data(),
                                   formats.data(), 1 /* binary results: bytea as bytes */);
    auto st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string err = PQerrorMessage(conn_);
      PQclear(res);
      throw std::runtime_error(err);
    }
    return res;
  }
  PGconn* conn_ = nullptr;
  std::map<std::string, std::string> names_;
};

// ------------------------------------------------------------------ MySQL / MariaDB (C API)
class MysqlRaw final : public Raw {
 public:
  explicit MysqlRaw(const db::Url& url) {
    conn_ = mysql_init(nullptr);
    if (!mysql_real_connect(conn_, url.host.c_str(), url.user.c_str(),
                            url.password ? url.password->c_str() : nullptr, url.database.c_str(),
                            url.port.value_or(3306), nullptr, 0)) {
      throw std::runtime_error(mysql_error(conn_));
    }
    mysql_set_character_set(conn_, "utf8mb4");
  }
  ~MysqlRaw() override {
    for (auto& [k, s] : stmts_) mysql_stmt_close(s);
    mysql_close(conn_);
  }
  void begin() override { simple("START TRANSACTION"); }
  void commit() override { simple("COMMIT"); }
  void exec(const std::string& sql, const std::vector<RawValue>& p) override { run(sql, p, nullptr); }
  RawRows query(const std::string& sql, const std::vector<RawValue>& p) override {
    RawRows rows;
    run(sql, p, &rows);
    return rows;
  }
  int64_t insert(const std::string& sql, const std::vector<RawValue>& p, const std::string&) override {
    MYSQL_STMT* st = run(sql, p, nullptr);
    return static_cast<int64_t>(mysql_stmt_insert_id(st));
  }

 private:
  void simple(const char* sql) {
    if (mysql_query(conn_, sql)) throw std::runtime_error(mysql_error(conn_));
  }
  MYSQL_STMT* run(const std::string& sql, const std::vector<RawValue>& p, RawRows* rows) {
    MYSQL_STMT*& st = stmts_[sql];
    if (!st) {
      st = mysql_stmt_init(conn_);
      if (mysql_stmt_prepare(st, sql.c_str(), sql.size())) throw std::runtime_error(mysql_stmt_error(st));
    }
    std::vector<MYSQL_BIND> binds(p.size());
    std::vector<long long> ints(p.size());
    std::vector<unsigned long> lens(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      MYSQL_BIND& b = binds[i];
      b = MYSQL_BIND{};
      if (auto* v = std::get_if<int64_t>(&p[i])) {
        ints[i] = *v;
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &ints[i];
      } else if (auto* s = std::get_if<std::string>(&p[i])) {
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = const_cast<char*>(s->data());
        lens[i] = s->size();
        b.buffer_length = lens[i];
        b.length = &lens[i];
      } else if (auto* bl = std::get_if<RawBlob>(&p[i])) {
        b.buffer_type = MYSQL_TYPE_BLOB;
        b.buffer = const_cast<char*>(bl->bytes.data());
        lens[i] = bl->bytes.size();
        b.buffer_length = lens[i];
        b.length = &lens[i];
      } else {
        b.buffer_type = MYSQL_TYPE_NULL;
      }
    }
    if (!p.empty() && mysql_stmt_bind_param(st, binds.data())) throw std::runtime_error(mysql_stmt_error(st));
    if (mysql_stmt_execute(st)) throw std::runtime_error(mysql_stmt_error(st));
    MYSQL_RES* meta = mysql_stmt_result_metadata(st);
    if (meta) {
      unsigned n = mysql_num_fields(meta);
      mysql_stmt_store_result(st);
      std::vector<MYSQL_BIND> out(n);
      std::vector<unsigned long> olen(n);
      std::vector<my_bool> onull(n);
      std::vector<std::string> buf(n);
      for (;;) {
        for (unsigned c = 0; c < n; ++c) {
          out[c] = MYSQL_BIND{};
          out[c].buffer_type = MYSQL_TYPE_STRING;
          out[c].buffer = nullptr;
          out[c].buffer_length = 0;
          out[c].length = &olen[c];
          out[c].is_null = &onull[c];
        }
        mysql_stmt_bind_result(st, out.data());
        int rc = mysql_stmt_fetch(st);
        if (rc == MYSQL_NO_DATA || rc == 1) break;
        std::vector<std::optional<std::string>> row;
        for (unsigned c = 0; c < n; ++c) {
          if (onull[c]) {
            row.emplace_back();
            continue;
          }
          buf[c].assign(olen[c], '\0');
          MYSQL_BIND one{};
          one.buffer_type = MYSQL_TYPE_STRING;
          one.buffer = buf[c].data();
          one.buffer_length = olen[c];
          one.length = &olen[c];
          mysql_stmt_fetch_column(st, &one, c, 0);
          row.emplace_back(buf[c]);
        }
        if (rows) rows->push_back(std::move(row));
      }
      mysql_stmt_free_result(st);
      mysql_free_result(meta);
    }
    return st;
  }
  MYSQL* conn_ = nullptr;
  std::map<std::string, MYSQL_STMT*> stmts_;
};

}  // namespace

std::unique_ptr<Raw> open_raw(const db::Url& url) {
  switch (url.backend) {
    case db::Backend::kSqlite: return std::make_unique<SqliteRaw>(url);
    case db::Backend::kPostgres: return std::make_unique<PostgresRaw>(url);
    case db::Backend::kMysql: return std::make_unique<MysqlRaw>(url);
  }
  throw std::runtime_error("unknown backend");
}

}  // namespace ym::bench
