#include "db/migrate/schema.hpp"

#include <algorithm>
#include <map>

#include "db/errors.hpp"
#include "db/extension.hpp"

namespace ym::migrate {

using db::Connection;

namespace {

bool has_table(const std::vector<std::string>& tables, const char* name) {
  return std::find(tables.begin(), tables.end(), std::string(name)) != tables.end();
}

SchemaState judge(const std::optional<int>& version, const std::optional<int>& interrupted,
                  int program_version) {
  if (interrupted) return SchemaState::kInterrupted;
  if (!version || *version < program_version) return SchemaState::kOutOfDate;
  if (*version > program_version) return SchemaState::kTooNew;
  return SchemaState::kUpToDate;
}

// How much a state stands in the way: the whole database's state is its worst part's.
int severity(SchemaState s) {
  switch (s) {
    case SchemaState::kTooNew: return 3;
    case SchemaState::kInterrupted: return 2;
    case SchemaState::kOutOfDate: return 1;
    default: return 0;
  }
}

// Adds the extensions' states to `st`, whose core part is read and neither empty nor foreign.
void read_extensions(Connection& conn, const std::vector<std::string>& tables, SchemaStatus& st) {
  struct Recorded {
    std::optional<int> version, interrupted;
  };
  std::map<std::string, Recorded> recorded;
  if (has_table(tables, kExtensionRecordTable)) {
    for (const auto& row : conn.stmt("SELECT extension, version, finished_at FROM "
                                     "ym_extension_migrations ORDER BY extension, version")
                               .all()) {
      auto& r = recorded[row.get<std::string>(0)];
      int v = row.get<int>(1);
      if (row.is_null(2)) {
        r.interrupted = v;
      } else {
        r.version = std::max(r.version.value_or(0), v);
      }
    }
  }
  for (const auto& ext : db::registered_extensions()) {
    ExtensionStatus es{ext->name, {}, {}, ext->version(), SchemaState::kUpToDate};
    if (auto it = recorded.find(ext->name); it != recorded.end()) {
      es.version = it->second.version;
      es.interrupted = it->second.interrupted;
      recorded.erase(it);
    }
    es.state = judge(es.version, es.interrupted, ext->version());
    if (severity(es.state) > severity(st.state)) st.state = es.state;
    st.extensions.push_back(std::move(es));
  }
  for (auto& [name, r] : recorded) {  // someone else's: reported, never judged
    st.extensions.push_back({name, r.version, r.interrupted, std::nullopt,
                             r.interrupted ? SchemaState::kInterrupted : SchemaState::kUpToDate});
  }
}

}  // namespace

const ExtensionStatus* SchemaStatus::extension(const std::string& name) const {
  for (const auto& e : extensions) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

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
  if (!has_table(tables, kRecordTable)) {
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
  if (st.state != SchemaState::kEmpty) read_extensions(conn, tables, st);
  return st;
}

namespace {

// The error for an extension in state `es.state` (not up to date).
[[noreturn]] void extension_error(const ExtensionStatus& es, const std::string& where) {
  std::string ext = "extension '" + es.name + "'";
  // The extension is this program's: plain `yardmaster db upgrade` does not know it.
  std::string cmd = "`db upgrade '" + where + "'` of this program (migrate::upgrade)";
  switch (es.state) {
    case SchemaState::kTooNew:
      throw db::SchemaTooNew("the database at " + where + " has version " +
                             std::to_string(*es.version) + " of " + ext +
                             ", newer than this program's (" +
                             std::to_string(*es.program_version) +
                             "); run a newer program (downgrades are not supported)");
    case SchemaState::kInterrupted: {
      std::string check;
      if (auto registered = db::find_extension(es.name);
          registered && *es.interrupted >= 1 && *es.interrupted <= registered->version()) {
        const auto& m = registered->history[*es.interrupted - 1];
        if (!m.if_interrupted.empty()) check = " (" + m.if_interrupted + ")";
      }
      throw db::SchemaOutOfDate("a migration to version " + std::to_string(*es.interrupted) +
                                " of " + ext + " in the database at " + where +
                                " started and did not finish" + check +
                                "; check nothing else is migrating, then run " + cmd);
    }
    default:
      if (!es.version) {
        throw db::SchemaOutOfDate("the database at " + where + " does not have the tables of " +
                                  ext + " yet (this program needs its version " +
                                  std::to_string(*es.program_version) +
                                  "); back it up, then run " + cmd);
      }
      throw db::SchemaOutOfDate("the database at " + where + " has version " +
                                std::to_string(*es.version) + " of " + ext +
                                ", this program needs version " +
                                std::to_string(*es.program_version) + "; back it up, then run " +
                                cmd);
  }
}

}  // namespace

void require_current(const SchemaStatus& st, const std::string& where) {
  std::string cmd = "yardmaster db upgrade '" + where + "'";
  if (st.state != SchemaState::kEmpty && st.state != SchemaState::kForeign) {
    // The state is an extension's when it is worse than the core's: name that extension.
    SchemaState core = judge(st.version, st.interrupted, current_version());
    if (severity(core) < severity(st.state)) {
      for (const auto& es : st.extensions) {
        if (es.program_version && es.state == st.state) extension_error(es, where);
      }
    }
  }
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
