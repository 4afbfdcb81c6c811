#include "master/db_commands.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/dump.hpp"
#include "db/migrate/import_buildbot.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/url.hpp"
#include "master/cli.hpp"
#include "master/progress.hpp"

namespace ym::master {
namespace {

namespace fs = std::filesystem;
using migrate::SchemaState;
using nlohmann::json;

// ----------------------------------------------------------------------------- `-` as a file

// A private directory under $TMPDIR, removed with what it holds. `db dump URL -` writes the dump
// there first (dump() replaces its file atomically, and a failed dump must not leave half a
// dump on stdout); `db restore - URL` stores stdin there (restore() verifies the whole file before
// it touches the target, which takes reading it twice).
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/yardmaster.XXXXXX";
    if (!mkdtemp(pattern.data())) {
      throw CommandFailed(
          fmt::format("cannot create a temporary directory {}: {}", pattern, std::strerror(errno)));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path file(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Copies everything from `in` to `out`; throws CommandFailed naming `what` on a read or write
// error.
void copy_stream(std::FILE* in, std::FILE* out, const std::string& what) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n > 0 && std::fwrite(buf.data(), 1, n, out) != n) {
      throw CommandFailed(fmt::format("writing {} failed: {}", what, std::strerror(errno)));
    }
    if (n < buf.size()) {
      if (std::ferror(in)) {
        throw CommandFailed(fmt::format("reading {} failed: {}", what, std::strerror(errno)));
      }
      break;
    }
  }
  if (std::fflush(out) != 0) {
    throw CommandFailed(fmt::format("writing {} failed: {}", what, std::strerror(errno)));
  }
}

// ----------------------------------------------------------------------------- status

int status(const std::vector<std::string>& urls, bool as_json) {
  int rc = 0;
  json out = json::array();
  if (!as_json) {
    fmt::print("{:<52} {:>10} {:>8}  {}\n", "DATABASE", "DB SCHEMA", "PROGRAM", "STATE");
  }
  for (const auto& text : urls) {
    std::string where = db::printable_url(text);  // also when it does not parse
    json row{{"database", where},
             {"schema_version", nullptr},
             {"program_version", migrate::current_version()},
             {"state", nullptr},
             {"interrupted_version", nullptr},
             {"todo", nullptr},
             {"error", nullptr},
             {"extensions", json::array()}};
    try {
      auto url = db::Url::parse(text);
      where = url.to_string();
      row["database"] = where;
      require_existing_database(text);  // status only reads: a mistyped file is not created
      auto conn = db::open_connection(url);
      auto st = migrate::read_status(*conn);
      std::string todo;
      if (st.interrupted) {
        const auto& m = migrate::migration(*st.interrupted);
        todo = fmt::format(
            "version {} ({}) started and did not finish: {}. Check nothing else is migrating, "
            "then run: yardmaster db upgrade '{}'",
            m.version, m.name, m.if_interrupted, where);
        row["interrupted_version"] = m.version;
      } else if (st.state == SchemaState::kOutOfDate) {
        todo = fmt::format("back it up, then run: yardmaster db upgrade '{}'", where);
      }
      row["schema_version"] = st.version ? json(*st.version) : json(nullptr);
      row["state"] = migrate::to_string(st.state);
      if (!todo.empty()) row["todo"] = todo;
      if (!as_json) {
        fmt::print("{:<52} {:>10} {:>8}  {}\n", where,
                   st.version ? std::to_string(*st.version) : "-", migrate::current_version(),
                   migrate::to_string(st.state));
        if (st.interrupted) {
          const auto& m = migrate::migration(*st.interrupted);
          fmt::print(
              "    version {} ({}) started and did not finish: {}.\n"
              "    Check nothing else is migrating, then run: yardmaster db upgrade '{}'\n",
              m.version, m.name, m.if_interrupted, where);
        } else if (st.state == SchemaState::kOutOfDate) {
          fmt::print("    back it up, then run: yardmaster db upgrade '{}'\n", where);
        }
      }
      // Extensions: a downstream program's tables (db/extension.hpp). This program registers
      // none, so it reports what the database records without judging it; the program that
      // registers an extension judges it (its `read_status`) and upgrades it.
      json exts = json::array();
      for (const auto& e : st.extensions) {
        exts.push_back({{"name", e.name},
                        {"version", e.version ? json(*e.version) : json(nullptr)},
                        {"program_version",
                         e.program_version ? json(*e.program_version) : json(nullptr)},
                        {"interrupted_version", e.interrupted ? json(*e.interrupted) : json(nullptr)},
                        {"state", migrate::to_string(e.state)}});
        if (!as_json) {
          fmt::print("    extension {}: version {}{}{}\n", e.name,
                     e.version ? std::to_string(*e.version) : "-",
                     e.program_version ? fmt::format(" of {}, {}", *e.program_version,
                                                     migrate::to_string(e.state))
                                       : std::string(" (not registered by this program)"),
                     e.interrupted ? fmt::format("; version {} started and did not finish",
                                                 *e.interrupted)
                                   : std::string());
        }
      }
      row["extensions"] = exts;
      if (st.state != SchemaState::kUpToDate) rc = std::max(rc, kExitFailure);
    } catch (const std::exception& e) {  // db::Error, and anything else a driver throws
      std::string message = db::mask_urls_in(db::mask_passwords(e.what(), text));
      row["error"] = message;
      if (!as_json) {
        fmt::print("{:<52} {:>10} {:>8}  error: {}\n", where, "-", migrate::current_version(),
                   message);
      }
      rc = kExitUsage;
    }
    out.push_back(row);
  }
  if (as_json) fmt::print("{}\n", out.dump(2));
  return rc;
}

// ----------------------------------------------------------------------------- upgrade

bool is_yes(std::string answer) {
  answer.erase(0, answer.find_first_not_of(" \t"));
  answer.erase(answer.find_last_not_of(" \t\r") + 1);
  std::transform(answer.begin(), answer.end(), answer.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return answer == "y" || answer == "yes";
}

int upgrade(const std::string& text, bool yes, const std::string& backup, int to, bool quiet) {
  auto url = db::Url::parse(text);
  if (is_stdio(backup)) throw UsageError("--backup needs a file name (not -)");
  require_existing_database(text);  // nothing to upgrade: create-master creates a database
  std::string where = url.to_string();
  auto conn = db::open_connection(url);
  auto st = migrate::read_status(*conn);
  if (st.state == SchemaState::kForeign || st.state == SchemaState::kTooNew) {
    migrate::require_current(st, where);
  }
  int target = to > 0 ? to : migrate::current_version();
  auto steps = migrate::pending(st, target);
  if (steps.empty()) {
    if (!quiet) {
      fmt::print("{} is at schema version {}: nothing to do.\n", where, st.version.value_or(0));
    }
    return kExitOk;
  }
  // The plan is shown whenever a question is asked: nobody confirms what they cannot see.
  bool tell = !quiet || !yes;
  if (tell) {
    fmt::print("{}: schema version {} -> {}. Will run:\n", where,
               st.version ? std::to_string(*st.version) : "none (empty database)", target);
    for (const auto* m : steps) {
      fmt::print("  {:>3}  {}{}\n", m->version, m->name,
                 m->transactional ? "" : "  (non-transactional)");
    }
    if (st.state != SchemaState::kEmpty && backup.empty()) {
      fmt::print("Take a backup first (yardmaster db dump, or --backup FILE).\n");
    }
    std::fflush(stdout);
  }
  if (!yes) {
    // Only a person at a terminal can say yes: piped or redirected input (`echo | ...`, a CI
    // job, a script) is not an answer.
    if (!stdin_is_terminal()) {
      throw UsageError(
          "not upgrading: standard input is not a terminal, so nobody can confirm. Nothing "
          "changed; pass --yes to upgrade without asking");
    }
    fmt::print("Proceed? [y/N] ");
    std::fflush(stdout);
    std::string answer;
    if (!std::getline(std::cin, answer) || !is_yes(answer)) {
      fmt::print("Nothing changed.\n");
      return kExitFailure;
    }
  }
  if (!backup.empty() && st.state != SchemaState::kEmpty) {
    ProgressReporter bar(stderr, quiet);
    auto r =
        migrate::dump(url, backup, migrate::DumpFormat::kPortable,
                      [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
    bar.finish(fmt::format("backup: {} rows written to {}", r.rows, backup));
  }
  migrate::UpgradeOptions opts;
  opts.target = target;
  opts.on_lock_wait = [] {
    // Said even with --quiet: otherwise a wait looks like a hang.
    fmt::print(stderr, "another process is migrating this database; waiting...\n");
  };
  opts.on_start = [quiet](const migrate::Migration& m) {
    if (quiet) return;
    fmt::print("applying version {} ({})...\n", m.version, m.name);
    std::fflush(stdout);
  };
  opts.on_done = [quiet](const migrate::Migration& m, std::chrono::milliseconds took) {
    if (quiet) return;
    fmt::print("applied version {} in {:.1f} s\n", m.version, took.count() / 1000.0);
    std::fflush(stdout);
  };
  auto r = migrate::upgrade(*conn, url, opts);
  if (quiet) return kExitOk;
  if (r.applied.empty()) {
    fmt::print("another process upgraded {} meanwhile; it is at version {}.\n", where, r.to);
  } else {
    fmt::print("{} is at schema version {}.\n", where, r.to);
  }
  return kExitOk;
}

// ----------------------------------------------------------------------------- dump, restore, copy

int dump(const std::string& text, const std::string& file, const std::string& format, bool quiet) {
  auto url = db::Url::parse(text);
  migrate::DumpFormat f = migrate::DumpFormat::kPortable;
  if (format == "sql") {
    f = migrate::DumpFormat::kSqliteScript;
  } else if (format.empty() && url.backend == db::Backend::kSqlite) {
    f = migrate::DumpFormat::kSqliteScript;
  } else if (!format.empty() && format != "portable") {
    throw UsageError("--format must be 'sql' or 'portable'");
  }
  require_existing_database(text);      // a dump only reads
  ProgressReporter bar(stderr, quiet);  // stderr: stdout may be the dump
  auto progress = [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); };
  std::optional<TempDir> temp;
  std::string path = file;
  if (is_stdio(file)) {
    temp.emplace();
    path = temp->file("dump").string();
  }
  auto r = migrate::dump(url, path, f, progress);
  if (temp) {
    std::FILE* in = std::fopen(path.c_str(), "rb");
    if (!in) throw CommandFailed(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    try {
      copy_stream(in, stdout, "the dump to standard output");
    } catch (...) {
      std::fclose(in);
      throw;
    }
    std::fclose(in);
  }
  bar.finish(fmt::format("dumped {} rows of {} tables (schema version {}) to {} ({} bytes, {})",
                         r.rows, r.tables.size(), r.schema_version, temp ? "standard output" : file,
                         r.bytes,
                         f == migrate::DumpFormat::kPortable ? "portable" : "SQLite script"));
  return kExitOk;
}

int restore(const std::string& file, const std::string& text, bool quiet) {
  auto url = db::Url::parse(text);
  std::optional<TempDir> temp;
  std::string path = file;
  if (is_stdio(file)) {
    if (stdin_is_terminal()) {
      throw UsageError(
          "standard input is a terminal: pipe a dump into it (db restore - URL < FILE)");
    }
    temp.emplace();
    path = temp->file("restore").string();
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (!out) throw CommandFailed(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    try {
      copy_stream(stdin, out, "standard input to " + path);
    } catch (...) {
      std::fclose(out);
      throw;
    }
    if (std::fclose(out) != 0) {
      throw CommandFailed(fmt::format("writing {} failed: {}", path, std::strerror(errno)));
    }
  }
  ProgressReporter bar(stderr, quiet);
  auto r = migrate::restore(
      path, url, [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("restored {} rows into {} at schema version {}", r.rows, url.to_string(),
                         r.schema_version));
  if (r.schema_version < migrate::current_version()) {
    fmt::print(stderr,
               "note: the dump is older than this program: run yardmaster db upgrade '{}'\n",
               url.to_string());
  }
  return kExitOk;
}

int copy(const std::string& from_text, const std::string& to_text, bool quiet) {
  auto from = db::Url::parse(from_text);
  auto to = db::Url::parse(to_text);
  require_existing_database(from_text);  // the source is only read
  ProgressReporter bar(stderr, quiet);
  auto r = migrate::copy(from, to,
                         [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("copied {} rows of {} tables from {} to {}; row counts verified", r.rows,
                         r.tables.size(), from.to_string(), to.to_string()));
  return kExitOk;
}

// ----------------------------------------------------------------------------- import-buildbot

int import_buildbot(const std::string& from_text, const std::string& to_text, bool quiet,
                    bool as_json) {
  auto from = db::Url::parse(from_text);
  auto to = db::Url::parse(to_text);
  require_existing_database(from_text);  // the Buildbot database is only read
  ProgressReporter bar(stderr, quiet);
  auto r = migrate::import_buildbot(
      from, to, [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("imported {} rows of {} tables from {} into {}; row counts verified",
                         r.rows, r.tables.size(), from.to_string(), to.to_string()));
  // Rows left behind are said even with --quiet: they are data that did not come along.
  for (const auto& lb : r.left_behind) {
    fmt::print(stderr, "warning: {} rows of Buildbot's {} were not imported: {}\n", lb.rows,
               lb.buildbot_table, lb.why);
  }
  for (const auto& t : r.ignored_tables) {
    fmt::print(stderr, "note: table {} is not Buildbot's; it was not imported\n", t);
  }
  if (as_json) {
    json tables = json::array();
    for (const auto& t : r.tables) {
      tables.push_back({{"buildbot_table", t.buildbot_table},
                        {"table", t.table},
                        {"source_rows", t.source_rows},
                        {"imported_rows", t.imported_rows}});
    }
    json left = json::array();
    for (const auto& lb : r.left_behind) {
      left.push_back({{"buildbot_table", lb.buildbot_table}, {"rows", lb.rows}, {"why", lb.why}});
    }
    json out{{"source", from.to_string()},
             {"target", to.to_string()},
             {"buildbot_version", r.buildbot_version},
             {"buildbot_release", r.buildbot_release},
             {"schema_version", r.schema_version},
             {"created_schema", r.created_schema},
             {"rows", r.rows},
             {"tables", tables},
             {"not_imported", left},
             {"ignored_tables", r.ignored_tables}};
    fmt::print("{}\n", out.dump(2));
    return kExitOk;
  }
  if (quiet) return kExitOk;
  fmt::print("Buildbot schema {} ({}) -> Yardmaster schema version {}{}\n", r.buildbot_version,
             r.buildbot_release, r.schema_version, r.created_schema ? " (created)" : "");
  fmt::print("{:<24} {:<24} {:>12} {:>12}\n", "BUILDBOT TABLE", "TABLE", "SOURCE ROWS", "IMPORTED");
  for (const auto& t : r.tables) {
    fmt::print("{:<24} {:<24} {:>12} {:>12}\n", t.buildbot_table, t.table, t.source_rows,
               t.imported_rows);
  }
  fmt::print("{} rows; every table's count matches the source.\n", r.rows);
  fmt::print("Next: yardmaster create-master DIR --database '{}', then yardmaster run DIR\n",
             to.to_string());
  return kExitOk;
}

}  // namespace

void add_db_commands(CLI::App& app, int& exit_code) {
  auto* db =
      app.add_subcommand("db", "database administration: status, upgrade, dump, restore, copy, import-buildbot");
  db->require_subcommand(1);
  set_example(db, {"db status sqlite:////srv/ci/state.sqlite"});

  auto* st = db->add_subcommand("status", "show each database's schema version and state");
  struct StatusArgs {
    std::vector<std::string> urls;
    bool json = false;
  };
  auto sa = std::make_shared<StatusArgs>();
  st->add_option("URL", sa->urls, "database URL(s)")->required();
  st->add_flag("--json", sa->json, "JSON instead of a table");
  set_example(st, {"db status sqlite:////srv/ci/state.sqlite 'postgresql://ci:SECRET@db/ci'"});
  st->callback([sa, &exit_code] {
    // status reports each URL's own error in its row; this catches only what is left.
    exit_code = guarded({}, [&] { return status(sa->urls, sa->json); });
  });

  auto* up = db->add_subcommand("upgrade", "apply pending schema migrations");
  struct UpgradeArgs {
    std::string url, backup;
    bool yes = false, quiet = false;
    int to = 0;
  };
  auto ua = std::make_shared<UpgradeArgs>();
  up->add_option("URL", ua->url, "database URL")->required();
  up->add_flag("--yes,-y", ua->yes,
               "do not ask for confirmation (needed when standard input is not a terminal)");
  up->add_option("--backup", ua->backup, "write a portable dump to FILE before upgrading");
  up->add_option("--to", ua->to, "stop after this schema version");
  up->add_flag("--quiet,-q", ua->quiet, "print only errors (and the plan when asking)");
  set_example(up, {"db upgrade sqlite:////srv/ci/state.sqlite --backup before-upgrade.dump"});
  up->callback([ua, &exit_code] {
    exit_code = guarded({ua->url},
                        [&] { return upgrade(ua->url, ua->yes, ua->backup, ua->to, ua->quiet); });
  });

  auto* du = db->add_subcommand("dump", "write a consistent snapshot of a database to a file");
  struct DumpArgs {
    std::string url, file, format;
    bool quiet = false;
  };
  auto da = std::make_shared<DumpArgs>();
  du->add_option("URL", da->url, "database URL")->required();
  du->add_option("FILE", da->file, "output file; - for standard output")->required();
  du->add_option("--format", da->format,
                 "sql (SQLite script, the default for SQLite) or portable (any backend)");
  du->add_flag("--quiet,-q", da->quiet, "no progress and no summary, only errors");
  set_example(du,
              {"db dump sqlite:////srv/ci/state.sqlite - --format portable | gzip > ci.dump.gz"});
  du->callback([da, &exit_code] {
    exit_code = guarded({da->url}, [&] { return dump(da->url, da->file, da->format, da->quiet); });
  });

  auto* re = db->add_subcommand("restore", "load a portable dump into an empty database");
  struct RestoreArgs {
    std::string file, url;
    bool quiet = false;
  };
  auto ra = std::make_shared<RestoreArgs>();
  re->add_option("FILE", ra->file, "portable dump file; - for standard input")->required();
  re->add_option("URL", ra->url, "empty target database URL")->required();
  re->add_flag("--quiet,-q", ra->quiet, "no progress and no summary, only errors");
  set_example(re, {"db restore - 'postgresql://ci:SECRET@db/ci' < ci.dump"});
  re->callback([ra, &exit_code] {
    exit_code = guarded({ra->url}, [&] { return restore(ra->file, ra->url, ra->quiet); });
  });

  auto* co = db->add_subcommand("copy", "copy a whole installation into an empty database");
  struct CopyArgs {
    std::string from, to;
    bool quiet = false;
  };
  auto ca = std::make_shared<CopyArgs>();
  co->add_option("FROM_URL", ca->from, "source database URL")->required();
  co->add_option("TO_URL", ca->to, "empty target database URL")->required();
  co->add_flag("--quiet,-q", ca->quiet, "no progress and no summary, only errors");
  set_example(co, {"db copy sqlite:////srv/ci/state.sqlite 'postgresql://ci:SECRET@db/ci'"});
  co->callback([ca, &exit_code] {
    exit_code = guarded({ca->from, ca->to}, [&] { return copy(ca->from, ca->to, ca->quiet); });
  });

  auto* ib = db->add_subcommand(
      "import-buildbot", "import a Buildbot 3.x database into an empty Yardmaster database");
  struct ImportArgs {
    std::string from, to;
    bool quiet = false, json = false;
  };
  auto ia = std::make_shared<ImportArgs>();
  ib->add_option("BUILDBOT_URL", ia->from, "the Buildbot database (only read)")->required();
  ib->add_option("TARGET_URL", ia->to, "empty target database URL")->required();
  ib->add_flag("--quiet,-q", ia->quiet, "no progress and no summary, only errors and warnings");
  ib->add_flag("--json", ia->json, "the summary as JSON (progress still goes to stderr)");
  set_example(ib, {"db import-buildbot sqlite:////srv/buildbot/state.sqlite "
                   "'postgresql://ci:SECRET@db/ci'"});
  ib->callback([ia, &exit_code] {
    exit_code = guarded({ia->from, ia->to},
                        [&] { return import_buildbot(ia->from, ia->to, ia->quiet, ia->json); });
  });
}

}  // namespace ym::master
