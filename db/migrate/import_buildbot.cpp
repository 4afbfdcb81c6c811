#include "db/migrate/import_buildbot.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "db/migrate/copier_internal.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::migrate {

using db::Connection;
using db::Row;
using db::Value;
namespace model = db::model;

namespace {

// ------------------------------------------------------------------ the table list
//
// One entry per Buildbot table that is carried. Every column of our table is copied from the
// Buildbot column of the same name unless the entry says otherwise; every Buildbot column must be
// used (a column this list does not know means a schema this program does not know: refused).
// Entries are applied in the order of our model (referenced tables first), whatever their order
// here. Adding a table that a new migration of ours mirrors is one entry.

// How one of our columns is filled when it is not a plain copy of Buildbot's column.
struct ColumnRule {
  enum class Kind {
    kNullAs,  // Buildbot's column may be NULL where ours may not: NULL becomes `value`
    kAbsent,  // Buildbot has no such column: every row gets `value`
    kHashOf,  // Buildbot has no such column: our SHA-1 (hash_columns) of the column `from`
  };
  std::string column;
  Kind kind;
  Value value;
  std::string from;  // kHashOf
  std::string why;  // for docs/import-buildbot.md and the errors
};

ColumnRule null_as(std::string column, int64_t value, std::string why) {
  return {std::move(column), ColumnRule::Kind::kNullAs, value, "", std::move(why)};
}
ColumnRule absent(std::string column, Value value, std::string why) {
  return {std::move(column), ColumnRule::Kind::kAbsent, std::move(value), "", std::move(why)};
}
ColumnRule hash_of(std::string column, std::string from, std::string why) {
  return {std::move(column), ColumnRule::Kind::kHashOf, nullptr, std::move(from), std::move(why)};
}

struct TableEntry {
  std::string buildbot_table;
  std::string table;  // ours
  // The Buildbot columns that page the read (unique and not null there, or unique in practice and
  // enforced by our unique index, so that a duplicate fails the load instead of hiding); empty:
  // OFFSET paging ordered by every column (tables without such a key).
  std::vector<std::string> key;
  std::vector<ColumnRule> rules;
};

const std::vector<TableEntry>& table_list() {
  static const std::vector<TableEntry> kList = {
      {"masters", "masters", {"id"}, {}},
      {"builders", "builders", {"id"}, {}},
      {"builder_masters", "builder_masters", {"id"}, {}},
      {"workers", "workers", {"id"}, {}},
      {"configured_workers", "configured_workers", {"id"}, {}},
      {"connected_workers", "connected_workers", {"id"}, {}},
      {"objects", "objects", {"id"}, {}},
      {"object_state", "object_state", {"objectid", "name"}, {}},
      {"users", "users", {"uid"}, {}},
      {"users_info", "users_info", {"uid", "attr_type"}, {}},
      {"patches", "patches", {"id"}, {}},
      {"sourcestamps", "sourcestamps", {"id"}, {}},
      {"changes", "changes", {"changeid"}, {}},
      {"change_files",
       "change_files",
       {},
       {absent("seq", nullptr,
               "Buildbot 3.7 has no column for a file's place in its change: imported files keep "
               "NULL and read by name")}},
      {"change_properties", "change_properties", {}, {}},
      {"change_users", "change_users", {}, {}},
      {"changesources", "changesources", {"id"}, {}},
      {"changesource_masters", "changesource_masters", {"changesourceid"}, {}},
      {"schedulers",
       "schedulers",
       {"id"},
       {null_as("enabled", 0, "Buildbot reads a NULL `enabled` as false")}},
      {"scheduler_masters", "scheduler_masters", {"schedulerid"}, {}},
      {"scheduler_changes",
       "scheduler_changes",
       {"schedulerid", "changeid"},
       {null_as("important", 0, "Buildbot always writes 0 or 1; NULL is read as not important")}},
      {"buildsets", "buildsets", {"id"}, {}},
      {"buildset_properties", "buildset_properties", {}, {}},
      {"buildset_sourcestamps", "buildset_sourcestamps", {"id"}, {}},
      {"buildrequests",
       "buildrequests",
       {"id"},
       {null_as("complete", 0, "Buildbot reads a NULL `complete` as false"),
        null_as("waited_for", 0, "Buildbot reads a NULL `waited_for` as false")}},
      {"buildrequest_claims", "buildrequest_claims", {"brid"}, {}},
      {"builds", "builds", {"id"}, {}},
      {"build_properties", "build_properties", {"buildid", "name"}, {}},
      {"steps",
       "steps",
       {"id"},
       {absent("locks_acquired_at", nullptr,
               "Buildbot 3.7 does not record when a step acquired its locks")}},
      {"logs", "logs", {"id"}, {}},
      // Chunks are copied as stored: `content` and `compressed` keep Buildbot's layout and codes.
      {"logchunks", "logchunks", {"logid", "first_line"}, {}},
      {"tags", "tags", {"id"}, {}},
      {"builders_tags", "builders_tags", {"id"}, {}},
      {"build_data", "build_data", {"id"}, {}},
      {"test_result_sets", "test_result_sets", {"id"}, {}},
      // Names and code paths are unique per builder here (by the hash of their text); Buildbot's
      // index allows a name twice, and such a database fails the load (nothing is written).
      {"test_names",
       "test_names",
       {"id"},
       {hash_of("name_hash", "name", "Buildbot 3.7 has no hash column; ours indexes the name")}},
      {"test_code_paths",
       "test_code_paths",
       {"id"},
       {hash_of("path_hash", "path", "Buildbot 3.7 has no hash column; ours indexes the path")}},
      {"test_results", "test_results", {"id"}, {}},
  };
  return kList;
}

// Buildbot 3.7 tables that this schema has no table for yet: their rows stay behind (reported).
struct NotCarried {
  const char* buildbot_table;
  const char* why;
};
// (None today: every table of Buildbot 3.7 is carried. The list stays for the next release.)
const std::vector<NotCarried> kNotCarried = {};

// Tables of a Buildbot database that hold no data of its own: its version records.
const std::set<std::string> kVersionTables = {"alembic_version", "migrate_version"};

// ------------------------------------------------------------------ versions

const std::vector<BuildbotVersion> kKnownVersions = {
    {"059", "Buildbot 3.4 to 3.7 (Alembic revision 059)"},
    {"migrate 58", "Buildbot 3.0 to 3.3 (sqlalchemy-migrate version 58, the schema of revision 059)"},
};

std::string known_list() {
  std::string out;
  for (const auto& v : kKnownVersions) out += (out.empty() ? "" : "; ") + v.version + ": " + v.releases;
  return out;
}

// The version of the Buildbot database on `c` (inside the snapshot), or a NotADatabase naming what
// was found.
const BuildbotVersion& buildbot_version(Connection& c, const std::set<std::string>& tables,
                                        const std::string& where) {
  std::string found;
  if (tables.count("alembic_version")) {
    db::Result r = c.stmt("SELECT version_num FROM alembic_version").all();
    if (r.rows.size() != 1 || r.rows[0].is_null(0)) {
      throw db::NotADatabase("the Buildbot database at " + where + " has " +
                             std::to_string(r.rows.size()) +
                             " rows in alembic_version (one is expected): it is not a database "
                             "this program can read");
    }
    found = r.rows[0].get<std::string>(0);
  } else if (tables.count("migrate_version")) {
    auto v = c.stmt("SELECT version FROM migrate_version").scalar<int64_t>();
    found = "migrate " + (v ? std::to_string(*v) : std::string("(none)"));
  } else if (tables.count(kRecordTable)) {
    throw db::NotADatabase("the database at " + where +
                           " is a Yardmaster database, not a Buildbot one; to move it, use: "
                           "yardmaster db copy");
  } else if (tables.empty()) {
    throw db::InvalidArgument("the database at " + where + " is empty: nothing to import");
  } else {
    throw db::NotADatabase("the database at " + where +
                           " is not a Buildbot database: it has no alembic_version (nor "
                           "migrate_version) table");
  }
  for (const auto& v : kKnownVersions) {
    if (v.version == found) return v;
  }
  std::string hint = found.rfind("migrate ", 0) == 0
                         ? " Buildbot before 3.0: upgrade it with Buildbot 3.7 (buildbot upgrade-master) first."
                         : " A newer Buildbot: this program does not know its schema.";
  throw db::NotADatabase("the Buildbot database at " + where + " is at schema version '" + found +
                         "', which this program does not know (it reads " + known_list() + ")." +
                         hint);
}

// ------------------------------------------------------------------ the plan of one table

struct TableImport {
  const TableEntry* entry = nullptr;
  const model::Table* table = nullptr;   // ours
  internal::TablePlan read;              // of the Buildbot table: the columns we read
  internal::TablePlan write;             // of our table: all its columns, in model order
  // For each of our columns: the index in read.columns, or -1 with the rule that fills it.
  std::vector<int> source_index;
  std::vector<const ColumnRule*> rule;
  int64_t source_rows = 0;
};

// The column names of `table` on `c`.
std::vector<std::string> columns_of(Connection& c, const std::string& table) {
  db::Result r = c.stmt("SELECT * FROM " + c.dialect().quote(table) + " WHERE 1 = 0").all();
  return r.columns;
}

TableImport plan_import(Connection& src, const TableEntry& e, const std::string& where) {
  TableImport ti;
  ti.entry = &e;
  ti.table = &model::current().table(e.table);
  std::vector<std::string> have = columns_of(src, e.buildbot_table);
  auto has = [&](const std::string& col) { return std::find(have.begin(), have.end(), col) != have.end(); };
  std::set<std::string> used;
  ti.read.table = e.buildbot_table;
  ti.write.table = e.table;
  for (const auto& col : ti.table->columns) {
    ti.write.columns.push_back(col.name);
    const ColumnRule* rule = nullptr;
    for (const auto& r : e.rules) {
      if (r.column == col.name) rule = &r;
    }
    ti.rule.push_back(rule);
    if (rule && (rule->kind == ColumnRule::Kind::kAbsent || rule->kind == ColumnRule::Kind::kHashOf)) {
      ti.source_index.push_back(-1);
      continue;
    }
    if (!has(col.name)) {
      throw db::NotADatabase("the Buildbot database at " + where + " has no column " +
                             e.buildbot_table + "." + col.name +
                             ": its schema is not the one its version names");
    }
    ti.source_index.push_back(static_cast<int>(ti.read.columns.size()));
    ti.read.columns.push_back(col.name);
    used.insert(col.name);
  }
  for (const auto& col : have) {
    if (!used.count(col)) {
      throw db::NotADatabase("the Buildbot database at " + where + " has a column " +
                             e.buildbot_table + "." + col +
                             " that this program does not know: its schema is not the one its "
                             "version names, and the column's data would be lost");
    }
  }
  for (const auto& k : e.key) {
    if (!used.count(k)) throw db::InternalError("import: key " + k + " of " + e.buildbot_table + " is not read");
  }
  ti.read.key = e.key.empty() ? ti.read.columns : e.key;
  ti.read.keyset = !e.key.empty();
  return ti;
}

std::vector<Value> convert(const TableImport& ti, const Row& r) {
  std::vector<Value> out;
  out.reserve(ti.write.columns.size());
  for (size_t i = 0; i < ti.write.columns.size(); ++i) {
    const ColumnRule* rule = ti.rule[i];
    if (ti.source_index[i] < 0 && rule->kind == ColumnRule::Kind::kHashOf) {
      auto from = std::find(ti.read.columns.begin(), ti.read.columns.end(), rule->from);
      const Value& text = r[static_cast<size_t>(from - ti.read.columns.begin())];
      if (const auto* str = std::get_if<std::string>(&text)) {
        out.push_back(db::hash_columns({*str}));
      } else if (const auto* blob = std::get_if<db::Blob>(&text)) {
        out.push_back(db::hash_columns({blob->bytes}));
      } else {
        throw db::InvalidArgument("import: " + ti.read.table + "." + rule->from +
                                  " is NULL or not text in a row of the Buildbot database");
      }
      continue;
    }
    if (ti.source_index[i] < 0) {
      out.push_back(rule->value);
      continue;
    }
    const Value& v = r[static_cast<size_t>(ti.source_index[i])];
    if (rule && rule->kind == ColumnRule::Kind::kNullAs && std::holds_alternative<std::nullptr_t>(v)) {
      out.push_back(rule->value);
      continue;
    }
    // Drivers report text in a binary collation as bytes, and bytes as text on SQLite when that
    // is how they were stored: the value takes the kind of our column.
    bool blob_column = ti.table->columns[i].type == db::ColumnType::kBlob;
    if (blob_column && std::holds_alternative<std::string>(v)) {
      out.push_back(db::Blob{std::get<std::string>(v)});
    } else if (!blob_column && std::holds_alternative<db::Blob>(v)) {
      out.push_back(std::get<db::Blob>(v).bytes);
    } else {
      out.push_back(v);
    }
  }
  return out;
}

// ------------------------------------------------------------------ the target

// Whether the target is empty (true: its schema is to be created) or an up-to-date Yardmaster
// database without a row (false); throws otherwise, before anything is written.
bool check_target(Connection& c, const db::Url& url) {
  SchemaStatus st = read_status(c);
  if (st.state == SchemaState::kEmpty) return true;
  std::string where = url.to_string();
  if (st.state == SchemaState::kForeign) {
    throw db::InvalidArgument("the target database " + where +
                              " holds tables that are not Yardmaster's (is it the Buildbot "
                              "database itself?); import-buildbot fills an empty database");
  }
  require_current(st, where);
  for (const auto& t : count_rows(c, model::current())) {
    if (t.rows > 0) {
      throw db::InvalidArgument("the target database " + where + " already holds data (" + t.table +
                                " has " + std::to_string(t.rows) +
                                " rows); import-buildbot fills an empty database (a new one, or "
                                "one that create-master made and no master has run on)");
    }
  }
  return false;
}

}  // namespace

const std::vector<BuildbotVersion>& known_buildbot_versions() { return kKnownVersions; }

ImportResult import_buildbot(const db::Url& buildbot, const db::Url& target,
                             const ProgressFn& progress) {
  db::Url source_url = buildbot;
  source_url.read_only = true;
  std::string where = buildbot.to_string();
  auto src = db::open_connection(source_url);
  src->begin(db::TxnMode::kRead);  // one snapshot for the checks, the counts and the rows

  ImportResult result;
  std::vector<std::string> names = src->table_names();
  std::set<std::string> tables(names.begin(), names.end());
  const BuildbotVersion& version = buildbot_version(*src, tables, where);
  result.buildbot_version = version.version;
  result.buildbot_release = version.releases;
  result.schema_version = current_version();

  // The plan, in our model's order (referenced tables first).
  std::vector<TableImport> plan;
  std::set<std::string> known(kVersionTables);
  for (const auto& e : table_list()) {
    if (!tables.count(e.buildbot_table)) {
      throw db::NotADatabase("the Buildbot database at " + where + " has no table " +
                             e.buildbot_table + ": its schema is not the one its version names");
    }
    plan.push_back(plan_import(*src, e, where));
    known.insert(e.buildbot_table);
  }
  const auto& order = model::current().tables;
  auto position = [&](const std::string& t) {
    return std::find_if(order.begin(), order.end(), [&](const model::Table& m) { return m.name == t; }) -
           order.begin();
  };
  std::stable_sort(plan.begin(), plan.end(), [&](const TableImport& a, const TableImport& b) {
    return position(a.entry->table) < position(b.entry->table);
  });
  int64_t total = 0;
  for (auto& ti : plan) {
    ti.source_rows = *src->stmt("SELECT COUNT(*) FROM " + src->dialect().quote(ti.read.table)).scalar<int64_t>();
    total += ti.source_rows;
  }
  for (const auto& nc : kNotCarried) {
    known.insert(nc.buildbot_table);
    if (!tables.count(nc.buildbot_table)) continue;
    int64_t n = *src->stmt("SELECT COUNT(*) FROM " + src->dialect().quote(nc.buildbot_table)).scalar<int64_t>();
    if (n > 0) result.left_behind.push_back({nc.buildbot_table, n, nc.why});
  }
  for (const auto& t : names) {
    if (!known.count(t)) result.ignored_tables.push_back(t);
  }

  // The model of what is loaded (for the counters and for dropping a created schema).
  model::Model loaded;
  for (const auto& ti : plan) loaded.tables.push_back(*ti.table);

  auto dst = db::open_connection(target);
  bool create = check_target(*dst, target);
  result.created_schema = create;
  Progress prog{"", 0, 0, 0, total};
  auto load = [&](Connection& c) {
    for (auto& ti : plan) {
      prog.table = ti.entry->table;
      prog.table_done = 0;
      prog.table_total = ti.source_rows;
      try {
        internal::Loader loader(c, ti.write);
        internal::read_table(*src, ti.read, [&](const db::Result& page) {
          for (const Row& r : page.rows) loader.add(convert(ti, r));
          prog.table_done += static_cast<int64_t>(page.rows.size());
          prog.done += static_cast<int64_t>(page.rows.size());
          if (progress) progress(prog);
        });
        loader.flush();
      } catch (const db::Error& e) {
        throw db::Error(e.category(), "importing Buildbot's " + ti.read.table + " into " +
                                          ti.write.table + ": " + e.what());
      }
    }
    // Counted in the target, inside the transaction, against the source snapshot.
    for (auto& ti : plan) {
      int64_t n = *c.stmt("SELECT COUNT(*) FROM " + c.dialect().quote(ti.write.table)).scalar<int64_t>();
      result.tables.push_back({ti.read.table, ti.write.table, ti.source_rows, n});
      result.rows += n;
    }
    for (const auto& t : result.tables) {
      if (t.imported_rows != t.source_rows) {
        throw db::InternalError("import check failed: " + t.table + " has " +
                                std::to_string(t.imported_rows) + " rows in the target, Buildbot's " +
                                t.buildbot_table + " " + std::to_string(t.source_rows) +
                                "; nothing was imported");
      }
    }
  };
  if (create) {
    internal::fill_target(*dst, target, current_version(), {}, model::current(), load);
  } else {
    db::Transaction txn(*dst, db::TxnMode::kWrite);
    load(*dst);
    internal::reset_sequences(*dst, loaded);
    txn.commit();
  }
  src->commit();
  return result;
}

}  // namespace ym::migrate
