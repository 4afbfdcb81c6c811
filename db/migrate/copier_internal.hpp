// The row-moving machinery that dump, restore, copy and the Buildbot import share: reading a
// table page by page inside a snapshot, loading rows with multi-row INSERTs, moving the
// auto-increment counters past explicit ids, and filling an empty target (creating the schema,
// loading in one transaction, dropping what was created when that fails). Internal to db/migrate.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "db/drivers/driver.hpp"
#include "db/migrate/dump.hpp"
#include "db/model.hpp"
#include "db/url.hpp"

namespace ym::migrate::internal {

// How one table is read in pages: by a key that is unique and not null when there is one
// (keyset paging), else by all columns with OFFSET (only small link tables have no key).
struct TablePlan {
  std::string table;
  std::vector<std::string> columns;
  std::vector<std::string> key;
  bool keyset = false;
};

// One plan per table of `m`, in its order.
std::vector<TablePlan> plan_tables(const db::model::Model& m);

// "a", "b", ... quoted for `c`'s dialect.
std::string column_list(db::Connection& c, const std::vector<std::string>& columns);

// Reads every row of `p.table` (its `p.columns`, in that order), a page at a time, inside the
// caller's (read) transaction; calls on_page for each non-empty page.
void read_table(db::Connection& c, const TablePlan& p,
                const std::function<void(const db::Result&)>& on_page);

// Inserts rows into `p.table` (values in `p.columns` order), many rows per statement.
class Loader {
 public:
  Loader(db::Connection& c, const TablePlan& p);
  void add(std::vector<db::Value> row);
  void flush();  // sends what is pending; call once after the last add

 private:
  db::Connection& c_;
  const TablePlan& p_;
  size_t rows_per_stmt_;
  std::string prefix_, row_marks_;
  std::vector<db::Value> pending_;
  size_t pending_rows_ = 0;
};

// Moves each auto-increment counter of `m` past the highest id loaded (PostgreSQL sequences do
// not follow explicit ids; SQLite and MySQL counters do).
void reset_sequences(db::Connection& c, const db::model::Model& m);

// Throws InvalidArgument unless the target has no tables at all.
void require_empty_target(db::Connection& c, const db::Url& url);

// Drops the tables of `m` and the migration records, so that a target filled by a failed
// restore, copy or import is empty again.
void drop_created(db::Connection& c, const db::model::Model& m);

// Creates the schema at `version` (and each extension at its version) on an empty target, then
// runs load(conn) and reset_sequences in one write transaction; drops what it created on failure.
void fill_target(db::Connection& target, const db::Url& url, int version,
                 const std::vector<ExtensionVersion>& extensions, const db::model::Model& m,
                 const std::function<void(db::Connection&)>& load);

}  // namespace ym::migrate::internal
