#include "db/migrate/copier_internal.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"

namespace ym::migrate::internal {

using db::Connection;
using db::Row;
using db::Value;
namespace model = db::model;

namespace {

constexpr int64_t kPageRows = 2000;

std::map<std::string, int> targets_of(const std::vector<ExtensionVersion>& extensions) {
  std::map<std::string, int> out;
  for (const auto& ev : extensions) out[ev.name] = ev.version;
  return out;
}

}  // namespace

std::vector<TablePlan> plan_tables(const model::Model& m) {
  std::vector<TablePlan> out;
  for (const auto& t : m.tables) {
    TablePlan p;
    p.table = t.name;
    for (const auto& c : t.columns) p.columns.push_back(c.name);
    for (const auto& c : t.columns) {
      if (c.primary_key) p.key = {c.name};
    }
    if (p.key.empty()) {
      for (const auto& ix : t.indexes) {
        if (!ix.unique) continue;
        bool not_null = std::all_of(ix.columns.begin(), ix.columns.end(),
                                    [&](const std::string& col) { return !t.column(col).nullable; });
        if (not_null) {
          p.key = ix.columns;
          break;
        }
      }
    }
    p.keyset = !p.key.empty();
    if (!p.keyset) p.key = p.columns;
    out.push_back(std::move(p));
  }
  return out;
}

std::string column_list(Connection& c, const std::vector<std::string>& cols) {
  std::string out;
  for (const auto& col : cols) out += (out.empty() ? "" : ", ") + c.dialect().quote(col);
  return out;
}

// Reads the rows of one table page by page inside the caller's read transaction.
void read_table(Connection& c, const TablePlan& p,
                const std::function<void(const db::Result&)>& on_page) {
  const auto& d = c.dialect();
  std::string select = "SELECT " + column_list(c, p.columns) + " FROM " + d.quote(p.table);
  std::string order = " ORDER BY " + column_list(c, p.key) + " LIMIT ?";
  std::vector<size_t> key_pos;
  for (const auto& k : p.key) {
    key_pos.push_back(std::find(p.columns.begin(), p.columns.end(), k) - p.columns.begin());
  }
  std::optional<std::vector<Value>> last;
  int64_t offset = 0;
  for (;;) {
    std::string where;
    std::vector<Value> params;
    if (p.keyset && last) {
      // (k1, k2) > (v1, v2) written out, as not every backend compares row values the same way.
      std::string cond;
      std::vector<Value> cparams;
      for (size_t i = p.key.size(); i-- > 0;) {
        std::string e = d.quote(p.key[i]);
        if (cond.empty()) {
          cond = e + " > ?";
          cparams = {(*last)[i]};
        } else {
          cond = e + " > ? OR (" + e + " = ? AND (" + cond + "))";
          std::vector<Value> np{(*last)[i], (*last)[i]};
          np.insert(np.end(), cparams.begin(), cparams.end());
          cparams = std::move(np);
        }
      }
      where = " WHERE " + cond;
      params = std::move(cparams);
    }
    params.push_back(kPageRows);
    std::string sql = select + where + order;
    if (!p.keyset) {
      sql += " OFFSET ?";
      params.push_back(offset);
    }
    db::Result page = c.stmt(sql).bind_all(params).all();
    if (page.rows.empty()) return;
    const Row& tail = page.rows.back();
    std::vector<Value> key;
    for (size_t pos : key_pos) key.push_back(tail[pos]);
    last = std::move(key);
    offset += static_cast<int64_t>(page.rows.size());
    bool more = static_cast<int64_t>(page.rows.size()) == kPageRows;
    on_page(page);
    if (!more) return;
  }
}

Loader::Loader(Connection& c, const TablePlan& p) : c_(c), p_(p) {
  size_t per_row = p.columns.size();
  rows_per_stmt_ = std::max<size_t>(1, std::min<size_t>(500, db::batch_size(c.dialect(), per_row)));
  prefix_ = "INSERT INTO " + c.dialect().quote(p.table) + " (" + column_list(c, p.columns) +
            ") VALUES ";
  row_marks_ = "(" + db::placeholders(per_row) + ")";
}

void Loader::add(std::vector<Value> row) {
  if (row.size() != p_.columns.size()) {
    throw db::InvalidArgument("a row of " + p_.table + " has " + std::to_string(row.size()) +
                              " values, expected " + std::to_string(p_.columns.size()));
  }
  for (auto& v : row) pending_.push_back(std::move(v));
  if (++pending_rows_ == rows_per_stmt_) flush();
}

void Loader::flush() {
  if (pending_rows_ == 0) return;
  std::string sql = prefix_;
  for (size_t i = 0; i < pending_rows_; ++i) sql += (i ? ", " : "") + row_marks_;
  c_.stmt(sql).bind_all(pending_).exec();
  pending_.clear();
  pending_rows_ = 0;
}

// Moves each auto-increment counter past the highest id loaded (PostgreSQL sequences do not
// follow explicit ids; SQLite and MySQL counters do).
void reset_sequences(Connection& c, const model::Model& m) {
  if (c.dialect().backend != db::Backend::kPostgres) return;
  for (const auto& t : m.tables) {
    for (const auto& col : t.columns) {
      if (!col.primary_key) continue;
      c.stmt("SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(" +
             c.dialect().quote(col.name) + ") FROM " + c.dialect().quote(t.name) + "), 0) + 1, false)")
          .bind(t.name, col.name)
          .all();
    }
  }
}

void require_empty_target(Connection& c, const db::Url& url) {
  SchemaStatus st = read_status(c);
  if (st.state != SchemaState::kEmpty) {
    throw db::InvalidArgument("the target database " + url.to_string() +
                              " is not empty; restore and copy only fill an empty database");
  }
}

// Drops whatever a failed restore or copy created, so that the target is empty again.
void drop_created(Connection& c, const model::Model& m) {
  if (c.in_transaction()) c.rollback();
  for (auto it = m.tables.rbegin(); it != m.tables.rend(); ++it) {
    try {
      c.execute_script("DROP TABLE IF EXISTS " + c.dialect().quote(it->name));
    } catch (...) {
    }
  }
  for (const char* record : {kExtensionRecordTable, kRecordTable}) {
    try {
      c.execute_script("DROP TABLE IF EXISTS " + c.dialect().quote(record));
    } catch (...) {
    }
  }
}

// Creates the schema at `version` (and each extension at its version) on an empty target, then
// runs load(conn) in one transaction.
void fill_target(Connection& target, const db::Url& url, int version,
                 const std::vector<ExtensionVersion>& extensions, const model::Model& m,
                 const std::function<void(Connection&)>& load) {
  require_empty_target(target, url);
  try {
    UpgradeOptions opts;
    opts.target = version;
    opts.extension_targets = targets_of(extensions);
    upgrade(target, url, opts);
    db::Transaction txn(target, db::TxnMode::kWrite);
    load(target);
    reset_sequences(target, m);
    txn.commit();
  } catch (...) {
    drop_created(target, m);
    throw;
  }
}

}  // namespace ym::migrate::internal
