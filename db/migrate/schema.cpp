#include "db/migrate/schema.hpp"

#include <algorithm>

#include "db/errors.hpp"

namespace ym::migrate {

using db::Connection;

int current_version() { return history().back().version; }

const Migration& migration(int version) {
  for (const auto& m : history()) {
    if (m.version == version) return m;
  }
  throw db::InternalError("no migration " + std::to_string(version));
}

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
  if (std::find(tables.begin(), tables.end(), std::string(kRecordTable)) == tables.end()) {
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
