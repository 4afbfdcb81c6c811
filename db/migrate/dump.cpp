#include "db/migrate/dump.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "db/extension.hpp"
#include "db/migrate/copier_internal.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::migrate {

using db::Connection;
using db::Row;
using db::Value;
using nlohmann::json;
namespace model = db::model;
using internal::column_list;
using internal::fill_target;
using internal::Loader;
using internal::plan_tables;
using internal::read_table;
using internal::TablePlan;

namespace {

constexpr const char* kFormat = "yardmaster-dump";
constexpr int kFormatVersion = 1;            // a dump without extensions
constexpr int kExtensionsFormatVersion = 2;  // a dump with extensions: the header lists them

// ------------------------------------------------------------------ value encoding

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(n);
  return out;
}

std::string unbase64(const std::string& in) {
  if (in.size() % 4 != 0) throw db::InvalidArgument("bad base64 value in dump");
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) throw db::InvalidArgument("bad base64 value in dump");
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(n - pad);
  return out;
}

json encode(const Value& v) {
  switch (v.index()) {
    case 0: return nullptr;
    case 1: return std::get<int64_t>(v);
    case 2: return std::get<double>(v);
    case 3: {
      const auto& s = std::get<std::string>(v);
      if (db::is_valid_utf8(s)) return s;
      return json{{"s64", base64(s)}};  // text that is not UTF-8 survives byte for byte
    }
    default: return json{{"b64", base64(std::get<db::Blob>(v).bytes)}};
  }
}

Value decode(const json& j) {
  if (j.is_null()) return nullptr;
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("b64")) return db::Blob{unbase64(j.at("b64").get<std::string>())};
  if (j.is_object() && j.contains("s64")) return unbase64(j.at("s64").get<std::string>());
  throw db::InvalidArgument("unexpected value in dump: " + j.dump().substr(0, 80));
}

// ------------------------------------------------------------------ hashing

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(const std::string& s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// ------------------------------------------------------------------ extensions

// The tables of the core at `version` followed by those of each extension at its version (all
// registered: checked before).
model::Model model_of(int version, const std::vector<ExtensionVersion>& extensions) {
  model::Model m = model::at_version(version);
  for (const auto& ev : extensions) {
    auto ext = db::find_extension(ev.name);
    if (!ext) throw db::InternalError("extension '" + ev.name + "' is not registered");
    for (auto& t : db::extension_at_version(*ext, ev.version).tables) m.tables.push_back(std::move(t));
  }
  return m;
}

// ------------------------------------------------------------------ snapshot source

struct Snapshot {
  std::unique_ptr<Connection> conn;
  int version = 0;
  std::vector<ExtensionVersion> extensions;
  model::Model model;
  std::vector<TablePlan> plans;
  std::vector<TableCount> counts;
  int64_t total = 0;
};

// Opens `url` and starts the read transaction that every later read of the snapshot uses.
Snapshot open_snapshot(const db::Url& url) {
  Snapshot s;
  s.conn = db::open_connection(url);
  s.conn->begin(db::TxnMode::kRead);
  SchemaStatus st = read_status(*s.conn);
  if (st.state == SchemaState::kEmpty) {
    throw db::InvalidArgument("the database at " + url.to_string() + " is empty: nothing to copy");
  }
  if (st.state != SchemaState::kUpToDate && st.state != SchemaState::kOutOfDate) {
    require_current(st, url.to_string());
  }
  s.version = *st.version;
  for (const auto& es : st.extensions) {
    if (!es.program_version) {
      throw db::InvalidArgument("the database at " + url.to_string() + " holds the tables of extension '" +
                                es.name + "', which this program does not register; dump or copy it "
                                "with the program that does");
    }
    if (es.version) s.extensions.push_back({es.name, *es.version});
  }
  s.model = model_of(s.version, s.extensions);
  s.plans = plan_tables(s.model);
  s.counts = count_rows(*s.conn, s.model);
  for (const auto& c : s.counts) s.total += c.rows;
  return s;
}

// ------------------------------------------------------------------ SQLite script

std::string sql_literal(const Value& v) {
  switch (v.index()) {
    case 0: return "NULL";
    case 1: return std::to_string(std::get<int64_t>(v));
    case 2: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
      return buf;
    }
    case 3: {
      const auto& s = std::get<std::string>(v);
      if (s.find('\0') == std::string::npos) {
        std::string out = "'";
        for (char ch : s) {
          if (ch == '\'') out += '\'';
          out += ch;
        }
        return out + "'";
      }
      [[fallthrough]];
    }
    default: {
      const std::string& b = v.index() == 3 ? std::get<std::string>(v) : std::get<db::Blob>(v).bytes;
      static const char* kHex = "0123456789ABCDEF";
      std::string out = "X'";
      for (unsigned char ch : b) {
        out += kHex[ch >> 4];
        out += kHex[ch & 15];
      }
      out += "'";
      return v.index() == 3 ? "CAST(" + out + " AS TEXT)" : out;
    }
  }
}

}  // namespace

std::vector<TableCount> count_rows(Connection& c, int version) {
  return count_rows(c, model::at_version(version));
}

std::vector<TableCount> count_rows(Connection& c, const model::Model& m) {
  std::vector<TableCount> out;
  for (const auto& t : m.tables) {
    out.push_back({t.name, *c.stmt("SELECT COUNT(*) FROM " + c.dialect().quote(t.name)).scalar<int64_t>()});
  }
  return out;
}

DumpResult dump(const db::Url& url, const std::string& path, DumpFormat format,
                const ProgressFn& progress) {
  if (format == DumpFormat::kSqliteScript && url.backend != db::Backend::kSqlite) {
    throw db::InvalidArgument("an SQL script dump is only made of SQLite databases; use the "
                              "portable format for " + std::string(db::to_string(url.backend)));
  }
  Snapshot s = open_snapshot(url);
  std::string tmp = path + ".partial-" + std::to_string(::getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw db::InvalidArgument("cannot write " + tmp);
  DumpResult result{s.version, s.counts, s.total, 0, s.extensions};
  Progress prog{"", 0, 0, 0, s.total};
  Sha256 sha;
  auto write_line = [&](const std::string& line) {
    out << line << '\n';
    sha.update(line);
    sha.update("\n");
  };

  try {
    if (format == DumpFormat::kPortable) {
      json tables = json::array();
      for (const auto& c : s.counts) tables.push_back({{"name", c.table}, {"rows", c.rows}});
      json header{{"format", kFormat}, {"format_version", kFormatVersion},
                  {"schema_version", s.version}, {"created_at", db::now_seconds().time_since_epoch().count()},
                  {"source", url.to_string()}, {"tables", tables}};
      if (!s.extensions.empty()) {
        header["format_version"] = kExtensionsFormatVersion;
        json exts = json::array();
        for (const auto& e : s.extensions) exts.push_back({{"name", e.name}, {"version", e.version}});
        header["extensions"] = exts;
      }
      write_line(header.dump());
    } else {
      out << "-- Yardmaster database dump (SQLite script), schema version " << s.version << "\n"
          << "-- Restore into an empty database with: sqlite3 NEW.sqlite < THIS_FILE\n"
          << "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n";
      for (const Row& r : s.conn->stmt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
                              .bind(std::string(kRecordTable))
                              .all()) {
        out << r.get<std::string>(0) << ";\n";
      }
      for (const Row& r : s.conn->stmt("SELECT version, name, started_at, finished_at FROM ym_migrations "
                                       "ORDER BY version")
                              .all()) {
        out << "INSERT INTO \"ym_migrations\" VALUES(" << sql_literal(r[0]) << "," << sql_literal(r[1])
            << "," << sql_literal(r[2]) << "," << sql_literal(r[3]) << ");\n";
      }
      if (!s.extensions.empty()) {
        for (const Row& r : s.conn->stmt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
                                .bind(std::string(kExtensionRecordTable))
                                .all()) {
          out << r.get<std::string>(0) << ";\n";
        }
        for (const Row& r : s.conn->stmt("SELECT extension, version, name, started_at, finished_at FROM "
                                         "ym_extension_migrations ORDER BY extension, version")
                                .all()) {
          out << "INSERT INTO \"ym_extension_migrations\" VALUES(";
          for (size_t k = 0; k < r.size(); ++k) out << (k ? "," : "") << sql_literal(r[k]);
          out << ");\n";
        }
      }
    }
    for (size_t i = 0; i < s.plans.size(); ++i) {
      const TablePlan& p = s.plans[i];
      prog.table = p.table;
      prog.table_done = 0;
      prog.table_total = s.counts[i].rows;
      if (format == DumpFormat::kPortable) {
        write_line(json{{"table", p.table}, {"columns", p.columns}}.dump());
      } else {
        auto create = s.conn->stmt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
                          .bind(p.table)
                          .scalar<std::string>();
        out << *create << ";\n";
      }
      int64_t n = 0;
      read_table(*s.conn, p, [&](const db::Result& page) {
        for (const Row& r : page.rows) {
          if (format == DumpFormat::kPortable) {
            json row = json::array();
            for (const auto& v : r.values()) row.push_back(encode(v));
            write_line(row.dump());
          } else {
            out << "INSERT INTO \"" << p.table << "\" VALUES(";
            for (size_t k = 0; k < r.size(); ++k) out << (k ? "," : "") << sql_literal(r[k]);
            out << ");\n";
          }
        }
        n += static_cast<int64_t>(page.rows.size());
        prog.table_done = n;
        prog.done += static_cast<int64_t>(page.rows.size());
        if (progress) progress(prog);
      });
      if (n != s.counts[i].rows) {
        throw db::InternalError("table " + p.table + " changed during the dump (" +
                                std::to_string(n) + " rows read, " +
                                std::to_string(s.counts[i].rows) + " counted)");
      }
      if (format == DumpFormat::kPortable) {
        write_line(json{{"end_table", p.table}, {"rows", n}}.dump());
      }
    }
    if (format == DumpFormat::kPortable) {
      out << json{{"end", true}, {"rows", s.total}, {"sha256", sha.hex()}}.dump() << '\n';
    } else {
      for (const Row& r : s.conn->stmt("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT "
                                       "NULL ORDER BY name")
                              .all()) {
        out << r.get<std::string>(0) << ";\n";
      }
      out << "DELETE FROM sqlite_sequence;\n";
      for (const Row& r : s.conn->stmt("SELECT name, seq FROM sqlite_sequence ORDER BY name").all()) {
        out << "INSERT INTO sqlite_sequence VALUES(" << sql_literal(r[0]) << "," << sql_literal(r[1])
            << ");\n";
      }
      out << "COMMIT;\n";
    }
    s.conn->commit();
    out.close();
    if (!out) throw db::InternalError("writing " + tmp + " failed (disk full?)");
    std::filesystem::rename(tmp, path);
  } catch (...) {
    out.close();
    std::filesystem::remove(tmp);
    throw;
  }
  result.bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  return result;
}

namespace {

// A parsed and verified portable dump: the header, then the rows of each table in order.
struct DumpFile {
  int schema_version = 0;
  std::vector<ExtensionVersion> extensions;
  std::vector<TableCount> tables;
  int64_t total = 0;
};

[[noreturn]] void bad_dump(const std::string& path, const std::string& why) {
  throw db::InvalidArgument(path + " is not a usable Yardmaster dump: " + why);
}

// Reads the whole file once, checking its structure, counts and checksum, without decoding
// values into memory. Returns the header information.
DumpFile verify(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_dump(path, "cannot open it");
  DumpFile f;
  std::string line;
  Sha256 sha;
  auto parse = [&](const std::string& l) -> json {
    try {
      return json::parse(l);
    } catch (const json::exception&) {
      // A broken last line is a cut-off file; a broken line elsewhere is something else.
      if (in.peek() == std::char_traits<char>::eof() && f.schema_version > 0) {
        bad_dump(path, "it is truncated (its last line is cut off)");
      }
      bad_dump(path, "a line is not JSON (is it a dump in another format?)");
    }
  };
  if (!std::getline(in, line)) bad_dump(path, "it is empty");
  if (line.rfind("-- Yardmaster database dump (SQLite script)", 0) == 0) {
    bad_dump(path, "it is an SQLite script dump; restore it with: sqlite3 NEW.sqlite < " + path);
  }
  json header = parse(line);
  if (!header.is_object() || header.value("format", "") != kFormat) bad_dump(path, "no Yardmaster header");
  int format_version = header.value("format_version", 0);
  if (format_version != kFormatVersion && format_version != kExtensionsFormatVersion) {
    bad_dump(path, "format version " + header.value("format_version", json(0)).dump() +
                       " is not supported by this program");
  }
  sha.update(line);
  sha.update("\n");
  f.schema_version = header.at("schema_version").get<int>();
  if (format_version == kExtensionsFormatVersion) {
    for (const auto& e : header.at("extensions")) {
      f.extensions.push_back({e.at("name").get<std::string>(), e.at("version").get<int>()});
      if (f.extensions.back().version < 1) bad_dump(path, "an extension version is not positive");
    }
  }
  for (const auto& t : header.at("tables")) {
    f.tables.push_back({t.at("name").get<std::string>(), t.at("rows").get<int64_t>()});
    f.total += f.tables.back().rows;
  }
  size_t table_index = 0;
  int64_t rows = 0;
  bool in_table = false;
  bool ended = false;
  while (std::getline(in, line)) {
    if (ended) bad_dump(path, "text after the end marker");
    if (!line.empty() && line[0] == '[') {
      if (!in_table) bad_dump(path, "a row outside a table section");
      parse(line);  // a row cut off at the end of the file is not JSON
      ++rows;
    } else {
      json j = parse(line);
      if (j.contains("table")) {
        if (in_table || table_index >= f.tables.size() ||
            j.at("table").get<std::string>() != f.tables[table_index].table) {
          bad_dump(path, "table sections are out of order");
        }
        in_table = true;
        rows = 0;
      } else if (j.contains("end_table")) {
        if (!in_table || rows != f.tables[table_index].rows || j.at("rows").get<int64_t>() != rows) {
          bad_dump(path, "table " + f.tables[table_index].table + " has " + std::to_string(rows) +
                             " rows, the header says " + std::to_string(f.tables[table_index].rows));
        }
        in_table = false;
        ++table_index;
      } else if (j.contains("end")) {
        if (in_table || table_index != f.tables.size()) bad_dump(path, "it ends early");
        if (j.at("sha256").get<std::string>() != sha.hex()) bad_dump(path, "its checksum does not match");
        ended = true;
        continue;
      } else {
        bad_dump(path, "an unexpected line");
      }
    }
    sha.update(line);
    sha.update("\n");
  }
  if (!ended) bad_dump(path, "it is truncated (no end marker)");
  if (f.schema_version > current_version()) {
    throw db::SchemaTooNew(path + " was dumped at schema version " + std::to_string(f.schema_version) +
                           ", newer than this program (" + std::to_string(current_version()) + ")");
  }
  for (const auto& ev : f.extensions) {
    auto ext = db::find_extension(ev.name);
    if (!ext) {
      throw db::InvalidArgument(path + " holds the tables of extension '" + ev.name + "' (version " +
                                std::to_string(ev.version) +
                                "), which this program does not register; restore it with the "
                                "program that does");
    }
    if (ev.version > ext->version()) {
      throw db::SchemaTooNew(path + " holds version " + std::to_string(ev.version) + " of extension '" +
                             ev.name + "', newer than this program's (" +
                             std::to_string(ext->version()) + ")");
    }
  }
  return f;
}

}  // namespace

DumpResult restore(const std::string& path, const db::Url& url, const ProgressFn& progress) {
  DumpFile f = verify(path);
  model::Model m = model_of(f.schema_version, f.extensions);
  auto plans = plan_tables(m);
  if (plans.size() != f.tables.size()) bad_dump(path, "its tables do not match schema version " +
                                                          std::to_string(f.schema_version));
  auto target = db::open_connection(url);
  Progress prog{"", 0, 0, 0, f.total};
  fill_target(*target, url, f.schema_version, f.extensions, m, [&](Connection& c) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::getline(in, line);  // header, verified
    std::unique_ptr<Loader> loader;
    size_t index = 0;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] == '[') {
        json row = json::parse(line);
        std::vector<Value> values;
        for (const auto& v : row) values.push_back(decode(v));
        loader->add(std::move(values));
        ++prog.table_done;
        ++prog.done;
        if (progress && prog.done % 5000 == 0) progress(prog);
        continue;
      }
      json j = json::parse(line);
      if (j.contains("table")) {
        const TablePlan& p = plans.at(index);
        if (p.table != j.at("table").get<std::string>() ||
            j.at("columns").get<std::vector<std::string>>() != p.columns) {
          bad_dump(path, "the columns of " + p.table + " differ from schema version " +
                             std::to_string(f.schema_version));
        }
        loader = std::make_unique<Loader>(c, p);
        prog.table = p.table;
        prog.table_done = 0;
        prog.table_total = f.tables[index].rows;
      } else if (j.contains("end_table")) {
        loader->flush();
        ++index;
        if (progress) progress(prog);
      }
    }
  });
  return DumpResult{f.schema_version, f.tables, f.total, static_cast<int64_t>(std::filesystem::file_size(path)),
                    f.extensions};
}

DumpResult copy(const db::Url& from, const db::Url& to, const ProgressFn& progress) {
  Snapshot s = open_snapshot(from);
  auto target = db::open_connection(to);
  Progress prog{"", 0, 0, 0, s.total};
  fill_target(*target, to, s.version, s.extensions, s.model, [&](Connection& c) {
    for (size_t i = 0; i < s.plans.size(); ++i) {
      const TablePlan& p = s.plans[i];
      Loader loader(c, p);
      prog.table = p.table;
      prog.table_done = 0;
      prog.table_total = s.counts[i].rows;
      read_table(*s.conn, p, [&](const db::Result& page) {
        for (const Row& r : page.rows) loader.add(r.values());
        prog.table_done += static_cast<int64_t>(page.rows.size());
        prog.done += static_cast<int64_t>(page.rows.size());
        if (progress) progress(prog);
      });
      loader.flush();
    }
    auto copied = count_rows(c, s.model);
    for (size_t i = 0; i < copied.size(); ++i) {
      if (copied[i].rows != s.counts[i].rows) {
        throw db::InternalError("copy check failed: " + copied[i].table + " has " +
                                std::to_string(copied[i].rows) + " rows in the target, " +
                                std::to_string(s.counts[i].rows) + " in the source");
      }
    }
  });
  s.conn->commit();
  return DumpResult{s.version, s.counts, s.total, 0, s.extensions};
}

}  // namespace ym::migrate
