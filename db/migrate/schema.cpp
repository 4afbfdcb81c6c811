#include "db/migrate/schema.hpp"

#include <algorithm>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "db/model.hpp"

namespace ym::migrate {

using db::Connection;

namespace {

constexpr const char* kRecordTable = "ym_migrations";

void create_record_table(Connection& conn) {
  const auto& d = conn.dialect();
  conn.execute_script("CREATE TABLE " + d.quote(kRecordTable) + " (" + d.quote("version") + " " +
                      d.type_name(db::ColumnType::kInteger, 0) + " NOT NULL PRIMARY KEY, " +
                      d.quote("name") + " " + d.type_name(db::ColumnType::kString, 255) +
                      " NOT NULL, " + d.quote("started_at") + " " +
                      d.type_name(db::ColumnType::kBigInteger, 0) + " NOT NULL, " +
                      d.quote("finished_at") + " " + d.type_name(db::ColumnType::kBigInteger, 0) +
                      ")" +
                      (d.backend == db::Backend::kMysql ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                                                        : ""));
}

// Version 1: the whole model as it stood when the project started.
void create_initial_schema(Connection& conn) {
  for (const auto& table : db::model::current().tables) {
    for (const auto& sql : db::model::create_statements(table, conn.dialect())) {
      conn.execute_script(sql);
    }
  }
}

}  // namespace

const std::vector<Migration>& history() {
  static const std::vector<Migration> h = {
      {1, "initial schema", true, &create_initial_schema},
  };
  return h;
}

int current_version() { return history().back().version; }

const char* to_string(SchemaState s) {
  switch (s) {
    case SchemaState::kEmpty: return "empty";
    case SchemaState::kUpToDate: return "up to date";
    case SchemaState::kOutOfDate: return "upgrade possible";
    case SchemaState::kTooNew: return "newer than this program";
    case SchemaState::kInterrupted: return "interrupted migration";
    case SchemaState::kForeign: return "not a Yardmaster database";
  }
  return "?";
}

SchemaStatus read_status(Connection& conn) {
  SchemaStatus st;
  auto tables = conn.table_names();
  if (tables.empty()) return st;
  if (std::find(tables.begin(), tables.end(), kRecordTable) == tables.end()) {
    st.state = SchemaState::kForeign;
    return st;
  }
  for (const auto& row : conn.stmt("SELECT version, finished_at FROM ym_migrations ORDER BY version")
                             .all()) {
    int v = row.get<int>(0);
    if (row.is_null(1)) {
      st.interrupted = v;
    } else {
      st.version = std::max(st.version.value_or(0), v);
    }
  }
  if (st.interrupted) {
    st.state = SchemaState::kInterrupted;
  } else if (!st.version) {
    st.state = SchemaState::kEmpty;  // the record table exists but nothing finished
  } else if (*st.version == current_version()) {
    st.state = SchemaState::kUpToDate;
  } else if (*st.version < current_version()) {
    st.state = SchemaState::kOutOfDate;
  } else {
    st.state = SchemaState::kTooNew;
  }
  return st;
}

void apply(Connection& conn, const Migration& m) {
  auto tables = conn.table_names();
  if (std::find(tables.begin(), tables.end(), kRecordTable) == tables.end()) {
    create_record_table(conn);
  }
  int64_t now = db::now_seconds().time_since_epoch().count();
  conn.stmt("INSERT INTO ym_migrations (version, name, started_at, finished_at) VALUES (?, ?, ?, NULL)")
      .bind(m.version, m.name, now)
      .exec();
  m.upgrade(conn);
  conn.stmt("UPDATE ym_migrations SET finished_at = ? WHERE version = ?")
      .bind(db::now_seconds().time_since_epoch().count(), m.version)
      .exec();
}

void require_current(const SchemaStatus& st, const std::string& where) {
  std::string cmd = "yardmaster db upgrade '" + where + "'";
  switch (st.state) {
    case SchemaState::kUpToDate:
      return;
    case SchemaState::kEmpty:
      throw db::SchemaOutOfDate("the database at " + where + " is empty; create it with: " + cmd);
    case SchemaState::kOutOfDate:
      throw db::SchemaOutOfDate("the database at " + where + " is at schema version " +
                                std::to_string(*st.version) + ", this program needs version " +
                                std::to_string(current_version()) + "; back it up, then run: " +
                                cmd);
    case SchemaState::kTooNew:
      throw db::SchemaTooNew("the database at " + where + " is at schema version " +
                             std::to_string(*st.version) + ", newer than this program (" +
                             std::to_string(current_version()) +
                             "); run a newer yardmaster (downgrades are not supported)");
    case SchemaState::kInterrupted:
      throw db::SchemaOutOfDate("a migration to version " + std::to_string(*st.interrupted) +
                                " of the database at " + where +
                                " started and did not finish; see `yardmaster db status`, then "
                                "run: " + cmd);
    case SchemaState::kForeign:
      throw db::NotADatabase("the database at " + where +
                             " has tables but no Yardmaster schema version; it is not a "
                             "Yardmaster database (refusing to touch it)");
  }
}

}  // namespace ym::migrate
