// The canonical schema, declared once: tables, columns, types, nullability, defaults, indexes,
// unique constraints and foreign keys. It is rendered to DDL per dialect, used by the first
// migration to create a new database, and compared against a migrated database by the tests.
// Long names are unique through a sha1 `*_hash` column (MySQL cannot index long strings).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "drivers/driver.hpp"

namespace ym::db::model {

// The schema version that adds the test result tables (test_result_sets, test_results,
// test_names, test_code_paths): the one place to renumber it.
inline constexpr int kTestResultsVersion = 5;

struct Column {
  std::string name;
  ColumnType type = ColumnType::kInteger;
  int length = 0;  // kString only
  bool nullable = true;
  std::optional<std::string> default_sql;  // literal SQL, e.g. "0" or "''"
  bool primary_key = false;                // auto-increment integer primary key
  int since = 1;                           // schema version that added it
};

struct Index {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
  int since = 1;  // schema version that added it
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
  int since = 1;  // schema version that added it

  const Column& column(const std::string& name) const;
  const Index& index(const std::string& name) const;
};

struct Model {
  std::vector<Table> tables;  // in creation order (referenced tables first)
  const Table& table(const std::string& name) const;
};

// The current canonical schema (the core's: without extensions).
const Model& current();

// The current core schema followed by the tables of every registered extension
// (db/extension.hpp) at its current version, in registration order: what a database this
// program creates holds, and what a database upgraded by it must match.
Model with_extensions();

// The schema as it stood at `version`: what migrations 1..version create. Every table, column
// and index carries the version that added it, so that the history and the model cannot drift:
// a migration adds exactly what is tagged with its version.
Model at_version(int version);

// DDL for one column as part of ALTER TABLE ... ADD (name, type, nullability, default).
std::string column_definition(const Column& column, const Dialect& dialect);
// CREATE [UNIQUE] INDEX statement for one index of `table`.
std::string create_index_statement(const Table& table, const Index& index, const Dialect& dialect);

// DDL statements that create `table` (CREATE TABLE then CREATE INDEX ...) for `dialect`.
std::vector<std::string> create_statements(const Table& table, const Dialect& dialect);

// Maximum length in characters of a string column, or 0 when unlimited (text).
int max_length(const std::string& table, const std::string& column);

}  // namespace ym::db::model
