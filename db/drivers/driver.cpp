#include "db/drivers/driver.hpp"

#include <cctype>

#include "db/errors.hpp"

namespace ym::db {

std::string Dialect::quote(std::string_view ident) const {
  char q = backend == Backend::kMysql ? '`' : '"';
  std::string out(1, q);
  for (char c : ident) {
    if (c == q) out.push_back(q);
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}

namespace {
std::string join_quoted(const Dialect& d, const std::vector<std::string>& names,
                        const char* suffix = "") {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + d.quote(n) + suffix;
  return out;
}

std::string plain_insert(const Dialect& d, std::string_view table,
                         const std::vector<std::string>& columns) {
  std::string marks;
  for (size_t i = 0; i < columns.size(); ++i) marks += i ? ", ?" : "?";
  return "INSERT INTO " + d.quote(table) + " (" + join_quoted(d, columns) + ") VALUES (" + marks +
         ")";
}
}  // namespace

std::string Dialect::insert_ignore(std::string_view table, const std::vector<std::string>& columns,
                                   const std::vector<std::string>& conflict_columns) const {
  std::string sql = plain_insert(*this, table, columns);
  if (backend == Backend::kMysql) {
    // Not INSERT IGNORE: that also turns foreign-key and data errors into warnings.
    return sql + " ON DUPLICATE KEY UPDATE " + quote(columns.front()) + " = " +
           quote(columns.front());
  }
  return sql + " ON CONFLICT (" + join_quoted(*this, conflict_columns) + ") DO NOTHING";
}

std::string Dialect::upsert(std::string_view table, const std::vector<std::string>& columns,
                            const std::vector<std::string>& conflict_columns,
                            const std::vector<std::string>& update_columns) const {
  std::string sql = plain_insert(*this, table, columns);
  std::string sets;
  for (const auto& c : update_columns) {
    sets += (sets.empty() ? "" : ", ") + quote(c) + " = ";
    sets += backend == Backend::kMysql ? "VALUES(" + quote(c) + ")" : "excluded." + quote(c);
  }
  if (backend == Backend::kMysql) return sql + " ON DUPLICATE KEY UPDATE " + sets;
  return sql + " ON CONFLICT (" + join_quoted(*this, conflict_columns) + ") DO UPDATE SET " + sets;
}

std::string internal::number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  size_t i = 0;
  auto copy_until = [&](std::string_view end) {  // copies through the next `end` (inclusive)
    size_t stop = sql.find(end, i);
    stop = stop == std::string_view::npos ? sql.size() : stop + end.size();
    out.append(sql.substr(i, stop - i));
    i = stop;
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      // A doubled quote inside is an escaped one: the loop re-enters the literal right after.
      out.push_back(c);
      ++i;
      copy_until(std::string_view(&c, 1));
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      copy_until("\n");
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      copy_until("*/");
    } else if (c == '$' && i + 1 < sql.size() &&
               !(i > 0 && (std::isalnum(static_cast<unsigned char>(sql[i - 1])) ||
                           sql[i - 1] == '_')) &&
               (sql[i + 1] == '$' || std::isalpha(static_cast<unsigned char>(sql[i + 1])) ||
                sql[i + 1] == '_')) {
      // $tag$ ... $tag$ (a dollar-quoted string), unless it is not a tag after all.
      size_t close = sql.find('$', i + 1);
      std::string_view tag = close == std::string_view::npos ? "" : sql.substr(i, close - i + 1);
      bool is_tag = !tag.empty();
      for (char t : tag.substr(1, tag.size() - 2)) {
        if (!std::isalnum(static_cast<unsigned char>(t)) && t != '_') is_tag = false;
      }
      if (!is_tag) {
        out.push_back(c);
        ++i;
        continue;
      }
      out.append(tag);
      i += tag.size();
      copy_until(tag);
    } else if (c == '?') {
      out += "$" + std::to_string(++n);
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

Transaction::~Transaction() {
  if (!done_ && conn_.in_transaction()) {
    try {
      conn_.rollback();
    } catch (...) {
      // The connection is broken; the pool reopens it. Nothing was committed.
    }
  }
}

#ifndef YM_WITH_POSTGRES
std::unique_ptr<Connection> internal::open_postgres(const Url&) {
  throw ConnectionFailed("this build of Yardmaster has no PostgreSQL driver");
}
#endif
#ifndef YM_WITH_MYSQL
std::unique_ptr<Connection> internal::open_mysql(const Url&) {
  throw ConnectionFailed("this build of Yardmaster has no MySQL driver");
}
#endif

std::unique_ptr<Connection> open_connection(const Url& url) {
  switch (url.backend) {
    case Backend::kSqlite: return internal::open_sqlite(url);
    case Backend::kPostgres: return internal::open_postgres(url);
    case Backend::kMysql: return internal::open_mysql(url);
  }
  throw InvalidUrl("unknown backend");
}

}  // namespace ym::db
