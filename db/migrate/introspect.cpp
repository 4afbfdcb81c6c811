#include "db/migrate/introspect.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "db/errors.hpp"
#include "db/migrate/schema.hpp"

namespace ym::migrate {

using db::Backend;
using db::Connection;
using db::Row;

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// "BIGINT(20)" -> "BIGINT" (MySQL display widths), "CHARACTER VARYING" + 40 -> "VARCHAR(40)".
std::string normalise_type(std::string type, std::optional<int64_t> length = {}) {
  type = upper(trim(type));
  for (const char* intish : {"BIGINT", "INT", "INTEGER", "SMALLINT", "TINYINT"}) {
    std::string p = std::string(intish) + "(";
    if (type.rfind(p, 0) == 0) type = intish;
  }
  if (type == "CHARACTER VARYING") type = "VARCHAR";
  if (type == "VARCHAR" && length) type += "(" + std::to_string(*length) + ")";
  if (type == "INT") type = "INTEGER";
  return type;
}

std::optional<std::string> normalise_default(std::optional<std::string> d) {
  if (!d) return std::nullopt;
  std::string v = trim(*d);
  if (v.empty() || upper(v) == "NULL") return std::nullopt;
  if (size_t cast = v.find("::"); cast != std::string::npos && v[0] != '(') v = v.substr(0, cast);
  while (v.size() >= 2 && v.front() == '(' && v.back() == ')') v = v.substr(1, v.size() - 2);
  return v;
}

// ------------------------------------------------------------------ SQLite
TableInfo describe_sqlite(Connection& c, const std::string& table) {
  TableInfo t{table, {}, {}, {}};
  for (const Row& r : c.stmt("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) "
                             "ORDER BY cid")
                          .bind(table)
                          .all()) {
    ColumnInfo col;
    col.name = r.get<std::string>(0);
    col.type = normalise_type(r.get<std::string>(1));
    col.nullable = !r.get<bool>(2);
    col.default_value = normalise_default(r.get<std::optional<std::string>>(3));
    col.auto_increment = r.get<int64_t>(4) > 0 && col.type == "INTEGER";
    if (col.auto_increment) col.nullable = false;
    t.columns.push_back(std::move(col));
  }
  for (const Row& r : c.stmt("SELECT name, \"unique\", origin FROM pragma_index_list(?) ORDER BY name")
                          .bind(table)
                          .all()) {
    if (r.get<std::string>(2) == "pk") continue;
    IndexInfo ix{r.get<std::string>(0), {}, r.get<bool>(1)};
    for (const Row& col : c.stmt("SELECT name FROM pragma_index_info(?) ORDER BY seqno").bind(ix.name).all()) {
      ix.columns.push_back(col.get<std::string>(0));
    }
    t.indexes.push_back(std::move(ix));
  }
  std::map<int64_t, ForeignKeyInfo> fks;
  for (const Row& r : c.stmt("SELECT id, \"table\", \"from\", \"to\", on_delete FROM "
                             "pragma_foreign_key_list(?) ORDER BY id, seq")
                          .bind(table)
                          .all()) {
    auto& fk = fks[r.get<int64_t>(0)];
    fk.ref_table = r.get<std::string>(1);
    fk.columns.push_back(r.get<std::string>(2));
    fk.ref_columns.push_back(r.get<std::string>(3));
    fk.on_delete_cascade = upper(r.get<std::string>(4)) == "CASCADE";
  }
  for (auto& [id, fk] : fks) t.foreign_keys.push_back(std::move(fk));
  return t;
}

// ------------------------------------------------------------------ PostgreSQL
TableInfo describe_postgres(Connection& c, const std::string& table) {
  TableInfo t{table, {}, {}, {}};
  for (const Row& r : c.stmt("SELECT column_name, data_type, character_maximum_length, is_nullable, "
                             "column_default, is_identity FROM information_schema.columns WHERE table_schema = "
                             "current_schema() AND table_name = ? ORDER BY ordinal_position")
                          .bind(table)
                          .all()) {
    ColumnInfo col;
    col.name = r.get<std::string>(0);
    col.type = normalise_type(r.get<std::string>(1), r.get<std::optional<int64_t>>(2));
    col.nullable = r.get<std::string>(3) == "YES";
    auto def = r.get<std::optional<std::string>>(4);
    // An identity column (what pg_autoincrement_pk creates) or a serial one (nextval default).
    if (r.get<std::string>(5) == "YES" || (def && def->rfind("nextval(", 0) == 0)) {
      col.auto_increment = true;
    } else {
      col.default_value = normalise_default(def);
    }
    t.columns.push_back(std::move(col));
  }
  std::map<std::string, IndexInfo> ixs;
  for (const Row& r :
       c.stmt("SELECT ic.relname, ix.indisunique, a.attname FROM pg_class t "
              "JOIN pg_index ix ON t.oid = ix.indrelid JOIN pg_class ic ON ic.oid = ix.indexrelid "
              "JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true "
              "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
              "WHERE t.relname = ? AND t.relnamespace = current_schema()::regnamespace "
              "AND NOT ix.indisprimary ORDER BY ic.relname, k.ord")
           .bind(table)
           .all()) {
    auto& ix = ixs[r.get<std::string>(0)];
    ix.name = r.get<std::string>(0);
    ix.unique = r.get<bool>(1);
    ix.columns.push_back(r.get<std::string>(2));
  }
  for (auto& [n, ix] : ixs) t.indexes.push_back(std::move(ix));
  std::map<std::string, ForeignKeyInfo> fks;
  for (const Row& r :
       c.stmt("SELECT c.conname, a.attname, fa.attname, ft.relname, c.confdeltype "
              "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
              "JOIN pg_class ft ON ft.oid = c.confrelid "
              "JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(att, fatt, ord) ON true "
              "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.att "
              "JOIN pg_attribute fa ON fa.attrelid = ft.oid AND fa.attnum = k.fatt "
              "WHERE c.contype = 'f' AND t.relname = ? "
              "AND t.relnamespace = current_schema()::regnamespace ORDER BY c.conname, k.ord")
           .bind(table)
           .all()) {
    auto& fk = fks[r.get<std::string>(0)];
    fk.columns.push_back(r.get<std::string>(1));
    fk.ref_columns.push_back(r.get<std::string>(2));
    fk.ref_table = r.get<std::string>(3);
    fk.on_delete_cascade = r.get<std::string>(4) == "c";
  }
  for (auto& [n, fk] : fks) t.foreign_keys.push_back(std::move(fk));
  return t;
}

// ------------------------------------------------------------------ MySQL / MariaDB
TableInfo describe_mysql(Connection& c, const std::string& table) {
  TableInfo t{table, {}, {}, {}};
  for (const Row& r : c.stmt("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
                             "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                             "TABLE_NAME = ? ORDER BY ORDINAL_POSITION")
                          .bind(table)
                          .all()) {
    ColumnInfo col;
    col.name = r.get<std::string>(0);
    col.type = normalise_type(r.get<std::string>(1));
    col.nullable = r.get<std::string>(2) == "YES";
    col.default_value = normalise_default(r.get<std::optional<std::string>>(3));
    col.auto_increment = upper(r.get<std::string>(4)).find("AUTO_INCREMENT") != std::string::npos;
    t.columns.push_back(std::move(col));
  }
  std::map<std::string, IndexInfo> ixs;
  for (const Row& r : c.stmt("SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
                             "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> "
                             "'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX")
                          .bind(table)
                          .all()) {
    auto& ix = ixs[r.get<std::string>(0)];
    ix.name = r.get<std::string>(0);
    ix.unique = !r.get<bool>(1);
    ix.columns.push_back(r.get<std::string>(2));
  }
  for (auto& [n, ix] : ixs) t.indexes.push_back(std::move(ix));
  std::map<std::string, ForeignKeyInfo> fks;
  for (const Row& r :
       c.stmt("SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
              "k.REFERENCED_COLUMN_NAME, r.DELETE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
              "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = "
              "k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
              "WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND "
              "k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION")
           .bind(table)
           .all()) {
    auto& fk = fks[r.get<std::string>(0)];
    fk.columns.push_back(r.get<std::string>(1));
    fk.ref_table = r.get<std::string>(2);
    fk.ref_columns.push_back(r.get<std::string>(3));
    fk.on_delete_cascade = upper(r.get<std::string>(4)) == "CASCADE";
  }
  for (auto& [n, fk] : fks) t.foreign_keys.push_back(std::move(fk));
  return t;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

const ColumnInfo* TableInfo::column(const std::string& n) const {
  for (const auto& c : columns) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

const IndexInfo* TableInfo::index(const std::string& n) const {
  for (const auto& i : indexes) {
    if (i.name == n) return &i;
  }
  return nullptr;
}

TableInfo describe_table(Connection& conn, const std::string& table) {
  switch (conn.dialect().backend) {
    case Backend::kSqlite: return describe_sqlite(conn, table);
    case Backend::kPostgres: return describe_postgres(conn, table);
    case Backend::kMysql: return describe_mysql(conn, table);
  }
  throw db::InternalError("unknown backend");
}

void create_missing(Connection& c, const db::model::Model& m, int version) {
  auto tables = c.table_names();
  for (const auto& table : m.tables) {
    if (std::find(tables.begin(), tables.end(), table.name) == tables.end()) {
      for (const auto& sql : db::model::create_statements(table, c.dialect())) c.execute_script(sql);
      continue;
    }
    TableInfo have = describe_table(c, table.name);
    for (const auto& col : table.columns) {
      if (col.since == version && !have.column(col.name)) {
        c.execute_script("ALTER TABLE " + c.dialect().quote(table.name) + " ADD " +
                         db::model::column_definition(col, c.dialect()));
      }
    }
    for (const auto& ix : table.indexes) {
      if (ix.since <= version && !have.index(ix.name)) {
        c.execute_script(db::model::create_index_statement(table, ix, c.dialect()));
      }
    }
  }
}

std::string expected_type(const db::model::Column& column, const db::Dialect& dialect) {
  return normalise_type(dialect.type_name(column.type, column.length));
}

std::vector<std::string> compare_with_model(Connection& conn, const db::model::Model& model) {
  std::vector<std::string> diffs;
  const auto& d = conn.dialect();
  std::set<std::string> actual_tables;
  for (const auto& n : conn.table_names()) {
    if (n != kRecordTable && n != kExtensionRecordTable) actual_tables.insert(n);
  }
  std::set<std::string> model_tables;
  for (const auto& t : model.tables) model_tables.insert(t.name);
  for (const auto& n : actual_tables) {
    if (!model_tables.count(n)) diffs.push_back("table " + n + " is not in the model");
  }
  for (const auto& mt : model.tables) {
    if (!actual_tables.count(mt.name)) {
      diffs.push_back("table " + mt.name + " is missing");
      continue;
    }
    TableInfo t = describe_table(conn, mt.name);
    std::string where = mt.name + ".";
    for (const auto& mc : mt.columns) {
      const ColumnInfo* c = t.column(mc.name);
      if (!c) {
        diffs.push_back("column " + where + mc.name + " is missing");
        continue;
      }
      if (mc.primary_key) {
        if (!c->auto_increment) diffs.push_back("column " + where + mc.name + " is not auto-increment");
        continue;
      }
      std::string want = expected_type(mc, d);
      if (c->type != want) {
        diffs.push_back("column " + where + mc.name + " has type " + c->type + ", the model " + want);
      }
      if (c->nullable != mc.nullable) {
        diffs.push_back("column " + where + mc.name + (c->nullable ? " is nullable" : " is NOT NULL") +
                        ", the model differs");
      }
      auto want_default = normalise_default(mc.default_sql);
      if (c->default_value != want_default) {
        diffs.push_back("column " + where + mc.name + " has default " +
                        c->default_value.value_or("(none)") + ", the model " +
                        want_default.value_or("(none)"));
      }
    }
    for (const auto& c : t.columns) {
      bool known = std::any_of(mt.columns.begin(), mt.columns.end(),
                               [&](const db::model::Column& mc) { return mc.name == c.name; });
      if (!known) diffs.push_back("column " + where + c.name + " is not in the model");
    }
    for (const auto& mi : mt.indexes) {
      const IndexInfo* ix = t.index(mi.name);
      if (!ix) {
        diffs.push_back("index " + mi.name + " on " + mt.name + " is missing");
        continue;
      }
      if (ix->columns != mi.columns) {
        diffs.push_back("index " + mi.name + " has columns (" + join(ix->columns) + "), the model (" +
                        join(mi.columns) + ")");
      }
      if (ix->unique != mi.unique) diffs.push_back("index " + mi.name + " uniqueness differs");
    }
    for (const auto& ix : t.indexes) {
      bool known = std::any_of(mt.indexes.begin(), mt.indexes.end(),
                               [&](const db::model::Index& mi) { return mi.name == ix.name; });
      if (!known) diffs.push_back("index " + ix.name + " on " + mt.name + " is not in the model");
    }
    auto fk_key = [](const std::vector<std::string>& cols, const std::string& ref,
                     const std::vector<std::string>& ref_cols, bool cascade) {
      return join(cols) + "->" + ref + "(" + join(ref_cols) + ")" + (cascade ? " cascade" : "");
    };
    std::multiset<std::string> want_fks, have_fks;
    for (const auto& fk : mt.foreign_keys) {
      want_fks.insert(fk_key(fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete_cascade));
    }
    for (const auto& fk : t.foreign_keys) {
      have_fks.insert(fk_key(fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete_cascade));
    }
    if (want_fks != have_fks) {
      std::vector<std::string> w(want_fks.begin(), want_fks.end()), h(have_fks.begin(), have_fks.end());
      diffs.push_back("foreign keys of " + mt.name + " are [" + join(h) + "], the model [" + join(w) + "]");
    }
  }
  return diffs;
}

}  // namespace ym::migrate
