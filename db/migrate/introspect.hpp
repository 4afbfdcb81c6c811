// Reads the schema a database actually has (tables, columns, indexes, foreign keys) through the
// ordinary Connection interface, and compares it with a model. Used by the migration tests ("a
// database upgraded from empty matches the model exactly") and by idempotent migration steps
// (add a column or an index only when it is missing).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../drivers/driver.hpp"
#include "../model.hpp"

namespace ym::migrate {

struct ColumnInfo {
  std::string name;
  std::string type;  // normalised, e.g. "BIGINT", "VARCHAR(40)", "TEXT"
  bool nullable = true;
  std::optional<std::string> default_value;  // normalised literal, e.g. "0", "''"
  bool auto_increment = false;
};

struct IndexInfo {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
};

struct ForeignKeyInfo {
  std::vector<std::string> columns;
  std::string ref_table;
  std::vector<std::string> ref_columns;
  bool on_delete_cascade = false;
};

struct TableInfo {
  std::string name;
  std::vector<ColumnInfo> columns;
  std::vector<IndexInfo> indexes;  // excluding the primary key
  std::vector<ForeignKeyInfo> foreign_keys;
  const ColumnInfo* column(const std::string& name) const;
  const IndexInfo* index(const std::string& name) const;
};

TableInfo describe_table(db::Connection& conn, const std::string& table);

// The differences between the database's schema and `model` (tables, columns with type,
// nullability and default, indexes with columns and uniqueness, foreign keys); empty when they
// match exactly. The migration record tables (ym_migrations, ym_extension_migrations) are not
// part of the model and are ignored. To cover registered extensions, pass
// model::with_extensions().
std::vector<std::string> compare_with_model(db::Connection& conn, const db::model::Model& model);

// Creates what `version` adds to `model_at_version` (the schema as it stands at `version`) where
// it is missing: every missing table, the columns tagged `version` that a table lacks, and the
// indexes tagged `version` or earlier that a table lacks. Idempotent: running it again after an
// interruption creates only what is still missing.
void create_missing(db::Connection& conn, const db::model::Model& model_at_version, int version);

// The type name a model column has in `dialect`, normalised like ColumnInfo::type.
std::string expected_type(const db::model::Column& column, const db::Dialect& dialect);

}  // namespace ym::migrate
