#include "db/drivers/driver.hpp"

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
