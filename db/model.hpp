// The canonical schema, declared once: tables, columns, types, nullability, defaults, indexes,
// unique constraints and foreign keys. It is rendered to DDL per dialect, used by the first
// migration to create a new database, and compared against a migrated database by the tests.
// Long names are unique through a sha1 `*_hash` column (MySQL cannot index long strings).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "db/drivers/driver.hpp"

namespace ym::db::model {

struct Column {
  std::string name;
  ColumnType type = ColumnType::kInteger;
  int length = 0;  // kString only
  bool nullable = true;
  std::optional<std::string> default_sql;  // literal SQL, e.g. "0" or "''"
  bool primary_key = false;                // auto-increment integer primary key
};

struct Index {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
};

struct ForeignKey {
  std::vector<std::string> columns;
  std::string ref_table;
  std::vector<std::string> ref_columns;
  bool on_delete_cascade = false;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::vector<Index> indexes;
  std::vector<ForeignKey> foreign_keys;

  const Column& column(const std::string& name) const;
};

struct Model {
  std::vector<Table> tables;  // in creation order (referenced tables first)
  const Table& table(const std::string& name) const;
};

// The current canonical schema.
const Model& current();

// DDL statements that create `table` (CREATE TABLE then CREATE INDEX ...) for `dialect`.
std::vector<std::string> create_statements(const Table& table, const Dialect& dialect);

// Maximum length in characters of a string column, or 0 when unlimited (text).
int max_length(const std::string& table, const std::string& column);

}  // namespace ym::db::model
