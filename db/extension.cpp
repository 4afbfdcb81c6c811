#include "db/extension.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "db/errors.hpp"
#include "db/migrate/introspect.hpp"

namespace ym::db {
namespace {

std::mutex registry_mutex;
// Guarded by registry_mutex. Shared pointers, so that a snapshot outlives a later clear.
std::vector<std::shared_ptr<const Extension>> registry;

bool lower_identifier(std::string_view s, size_t max, bool digit_first) {
  if (s.empty() || s.size() > max) return false;
  if (!digit_first && s[0] >= '0' && s[0] <= '9') return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

// PostgreSQL cuts identifiers at 63 bytes, MySQL at 64: 63 fits both.
constexpr size_t kMaxIdentifier = 63;
constexpr size_t kMaxExtensionName = 64;  // the width of ym_extension_migrations.extension

// Throws InvalidArgument for the first problem with `ext` given what is registered already.
void validate(const Extension& ext, const std::vector<std::shared_ptr<const Extension>>& others) {
  auto bad = [&](const std::string& why) -> void {
    throw InvalidArgument("cannot register extension '" + ext.name + "': " + why);
  };
  if (!lower_identifier(ext.name, kMaxExtensionName, true)) {
    throw InvalidArgument("cannot register extension '" + ext.name +
                          "': its name must be 1 to 64 characters of [a-z0-9_]");
  }
  for (const auto& o : others) {
    if (o->name == ext.name) bad("an extension of that name is registered already");
  }
  // History: versions 1..N in order, each with a step.
  if (ext.history.empty()) bad("its history is empty (it needs at least version 1)");
  for (size_t i = 0; i < ext.history.size(); ++i) {
    const auto& m = ext.history[i];
    int want = static_cast<int>(i) + 1;
    if (m.version != want) {
      bad("its history must be versions 1.." + std::to_string(ext.history.size()) +
          " in order; entry " + std::to_string(i + 1) + " is version " + std::to_string(m.version));
    }
    if (!m.upgrade) bad("version " + std::to_string(want) + " has no upgrade step");
    if (m.name.empty() || m.name.size() > 255) {
      bad("version " + std::to_string(want) + " needs a name of 1 to 255 characters");
    }
  }
  const int n = ext.version();
  auto since_ok = [&](int since) { return since >= 1 && since <= n; };

  // Names used by the core schema and by the other extensions (index names are per schema on
  // PostgreSQL and SQLite, so they must be unique across tables).
  std::set<std::string> taken_tables, taken_indexes;
  for (const auto& t : model::current().tables) {
    taken_tables.insert(t.name);
    for (const auto& ix : t.indexes) taken_indexes.insert(ix.name);
  }
  std::map<std::string, std::string> owner;  // table or index -> extension
  for (const auto& o : others) {
    for (const auto& t : o->tables) {
      owner[t.name] = o->name;
      for (const auto& ix : t.indexes) owner[ix.name] = o->name;
    }
  }

  std::map<std::string, const model::Table*> mine;
  for (const auto& t : ext.tables) {
    std::string where = "table " + t.name;
    if (!lower_identifier(t.name, kMaxIdentifier, false)) {
      bad("table name '" + t.name + "' must be [a-z_][a-z0-9_]*, at most 63 characters");
    }
    if (t.name.rfind("ym_", 0) == 0) bad("table names starting with ym_ are reserved");
    if (taken_tables.count(t.name) || taken_indexes.count(t.name)) {
      bad(where + " clashes with a core table or index of that name");
    }
    if (owner.count(t.name)) bad(where + " clashes with extension '" + owner[t.name] + "'");
    if (mine.count(t.name)) bad(where + " is declared twice");
    if (!since_ok(t.since)) bad(where + " has since = " + std::to_string(t.since) + ", not in 1.." + std::to_string(n));
    if (t.columns.empty()) bad(where + " has no columns");
    std::set<std::string> cols;
    int primary = 0;
    for (const auto& c : t.columns) {
      if (!lower_identifier(c.name, kMaxIdentifier, false)) {
        bad("column name '" + t.name + "." + c.name + "' must be [a-z_][a-z0-9_]*, at most 63 characters");
      }
      if (!cols.insert(c.name).second) bad("column " + t.name + "." + c.name + " is declared twice");
      if (!since_ok(c.since)) {
        bad("column " + t.name + "." + c.name + " has since = " + std::to_string(c.since) +
            ", not in 1.." + std::to_string(n));
      }
      if (c.type == ColumnType::kString && (c.length < 1 || c.length > 16383)) {
        bad("column " + t.name + "." + c.name + " is a string of length " + std::to_string(c.length) +
            " (1 to 16383; use kText for longer)");
      }
      if (c.primary_key) {
        ++primary;
        if (c.type != ColumnType::kInteger) bad("primary key " + t.name + "." + c.name + " must be kInteger");
        if (c.since > t.since) bad("primary key " + t.name + "." + c.name + " must come with its table");
      } else if (!c.nullable && !c.default_sql && c.since > t.since) {
        bad("column " + t.name + "." + c.name +
            " is added to an existing table NOT NULL without a default (existing rows would have "
            "no value)");
      }
    }
    if (primary > 1) bad(where + " has more than one primary key column");
    for (const auto& ix : t.indexes) {
      std::string iwhere = "index " + ix.name + " on " + t.name;
      if (!lower_identifier(ix.name, kMaxIdentifier, false)) {
        bad("index name '" + ix.name + "' must be [a-z_][a-z0-9_]*, at most 63 characters");
      }
      if (taken_indexes.count(ix.name) || taken_tables.count(ix.name)) {
        bad(iwhere + " clashes with a core table or index of that name");
      }
      if (owner.count(ix.name)) bad(iwhere + " clashes with extension '" + owner[ix.name] + "'");
      if (!since_ok(ix.since)) {
        bad(iwhere + " has since = " + std::to_string(ix.since) + ", not in 1.." + std::to_string(n));
      }
      if (ix.columns.empty()) bad(iwhere + " has no columns");
      for (const auto& col : ix.columns) {
        if (!cols.count(col)) bad(iwhere + " names column " + col + ", which " + t.name + " lacks");
        const model::Column& c = t.column(col);
        if (c.type == ColumnType::kText || c.type == ColumnType::kBlob ||
            (c.type == ColumnType::kString && c.length > 255)) {
          bad(iwhere + " covers " + col +
              ", which is longer than 255 characters (MySQL cannot index it; index a hash of it)");
        }
        if (c.since > ix.since) bad(iwhere + " (since " + std::to_string(ix.since) + ") covers " + col + ", added later");
      }
    }
    for (const auto& fk : t.foreign_keys) {
      std::string fwhere = "a foreign key of " + t.name;
      if (fk.columns.empty() || fk.columns.size() != fk.ref_columns.size()) {
        bad(fwhere + " needs as many referenced columns as columns (at least one)");
      }
      for (const auto& col : fk.columns) {
        if (!cols.count(col)) bad(fwhere + " names column " + col + ", which " + t.name + " lacks");
        if (t.column(col).since > t.since) {
          bad(fwhere + " is on " + col + ", added after its table (foreign keys come with their table)");
        }
      }
      // MySQL indexes a foreign key's columns itself when no index starts with them, and the
      // schema would then differ from the model: one must come with the table.
      bool covered = std::any_of(t.indexes.begin(), t.indexes.end(), [&](const model::Index& ix) {
        return ix.since <= t.since && ix.columns.size() >= fk.columns.size() &&
               std::equal(fk.columns.begin(), fk.columns.end(), ix.columns.begin());
      });
      if (!covered && fk.columns.size() == 1) {
        covered = std::any_of(t.columns.begin(), t.columns.end(), [&](const model::Column& c) {
          return c.primary_key && c.name == fk.columns[0];
        });
      }
      if (!covered) {
        bad(fwhere + " on (" + fk.columns[0] + (fk.columns.size() > 1 ? ", ..." : "") +
            ") needs an index of the table starting with its columns (MySQL would add one of its "
            "own)");
      }
      const model::Table* ref = nullptr;
      if (taken_tables.count(fk.ref_table)) {
        ref = &model::current().table(fk.ref_table);
      } else if (fk.ref_table == t.name) {
        ref = &t;
      } else if (auto it = mine.find(fk.ref_table); it != mine.end()) {
        ref = it->second;
        if (ref->since > t.since) bad(fwhere + " references " + ref->name + ", which comes later");
      } else {
        bad(fwhere + " references " + fk.ref_table +
            ", which is neither a core table nor an earlier table of this extension");
      }
      for (const auto& col : fk.ref_columns) {
        bool found = std::any_of(ref->columns.begin(), ref->columns.end(),
                                 [&](const model::Column& c) { return c.name == col; });
        if (!found) bad(fwhere + " references " + ref->name + "." + col + ", which does not exist");
      }
    }
    mine[t.name] = &t;
  }
  // Index names are unique within the extension too.
  std::set<std::string> ix_names;
  for (const auto& t : ext.tables) {
    for (const auto& ix : t.indexes) {
      if (mine.count(ix.name)) bad("index " + ix.name + " has the name of a table of this extension");
      if (!ix_names.insert(ix.name).second) bad("index " + ix.name + " is declared twice");
    }
  }
}

}  // namespace

void register_extension(Extension extension) {
  std::lock_guard lock(registry_mutex);
  validate(extension, registry);
  registry.push_back(std::make_shared<const Extension>(std::move(extension)));
}

std::vector<std::shared_ptr<const Extension>> registered_extensions() {
  std::lock_guard lock(registry_mutex);
  return registry;
}

std::shared_ptr<const Extension> find_extension(std::string_view name) {
  std::lock_guard lock(registry_mutex);
  for (const auto& e : registry) {
    if (e->name == name) return e;
  }
  return nullptr;
}

void clear_extensions_for_testing() {
  std::lock_guard lock(registry_mutex);
  registry.clear();
}

model::Model extension_at_version(const Extension& ext, int version) {
  model::Model m;
  for (const model::Table& t : ext.tables) {
    if (t.since > version) continue;
    model::Table copy = t;
    std::erase_if(copy.columns, [&](const model::Column& c) { return c.since > version; });
    std::erase_if(copy.indexes, [&](const model::Index& i) { return i.since > version; });
    m.tables.push_back(std::move(copy));
  }
  return m;
}

void create_extension_tables(Connection& conn, std::string_view name, int version) {
  auto ext = find_extension(name);
  if (!ext) {
    throw InternalError("extension '" + std::string(name) + "' is not registered");
  }
  if (version < 1 || version > ext->version()) {
    throw InternalError("extension '" + ext->name + "' has no version " + std::to_string(version));
  }
  migrate::create_missing(conn, extension_at_version(*ext, version), version);
}

std::function<void(Connection&)> create_extension_tables_step(std::string name, int version) {
  return [name = std::move(name), version](Connection& c) { create_extension_tables(c, name, version); };
}

}  // namespace ym::db
