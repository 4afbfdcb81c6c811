#include "master/db_commands.hpp"

#include <fmt/format.h>

#include <iostream>

#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/dump.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/url.hpp"
#include "master/progress.hpp"

namespace ym::master {
namespace {

using migrate::SchemaState;

// Runs fn, turning errors into a message on stderr and exit code 2. The message goes through
// mask_passwords for each URL the command was given, parsed or not: no error text, ours or a
// driver's, can show a password.
template <class Fn>
int guarded(std::initializer_list<std::string> urls, Fn fn) {
  auto report = [&](const char* what) {
    std::string message = what;
    for (const auto& url : urls) message = db::mask_passwords(message, url);
    fmt::print(stderr, "error: {}\n", message);
    return 2;
  };
  try {
    return fn();
  } catch (const db::Error& e) {
    return report(e.what());
  } catch (const std::exception& e) {  // a file that cannot be written, say
    return report(e.what());
  }
}

int status(const std::vector<std::string>& urls) {
  int rc = 0;
  fmt::print("{:<52} {:>10} {:>8}  {}\n", "DATABASE", "DB SCHEMA", "PROGRAM", "STATE");
  for (const auto& text : urls) {
    std::string where = db::printable_url(text);  // also when it does not parse
    try {
      auto url = db::Url::parse(text);
      where = url.to_string();
      auto conn = db::open_connection(url);
      auto st = migrate::read_status(*conn);
      fmt::print("{:<52} {:>10} {:>8}  {}\n", where, st.version ? std::to_string(*st.version) : "-",
                 migrate::current_version(), migrate::to_string(st.state));
      if (st.interrupted) {
        const auto& m = migrate::migration(*st.interrupted);
        fmt::print("    version {} ({}) started and did not finish: {}.\n"
                   "    Check nothing else is migrating, then run: yardmaster db upgrade '{}'\n",
                   m.version, m.name, m.if_interrupted, where);
      } else if (st.state == SchemaState::kOutOfDate) {
        fmt::print("    back it up, then run: yardmaster db upgrade '{}'\n", where);
      }
      if (st.state != SchemaState::kUpToDate) rc = std::max(rc, 1);
    } catch (const std::exception& e) {  // db::Error, and anything else a driver throws
      fmt::print("{:<52} {:>10} {:>8}  error: {}\n", where, "-", migrate::current_version(),
                 db::mask_passwords(e.what(), text));
      rc = 2;
    }
  }
  return rc;
}

int upgrade(const std::string& text, bool yes, const std::string& backup, int to) {
  auto url = db::Url::parse(text);
  std::string where = url.to_string();
  auto conn = db::open_connection(url);
  auto st = migrate::read_status(*conn);
  if (st.state == SchemaState::kForeign || st.state == SchemaState::kTooNew) {
    migrate::require_current(st, where);
  }
  int target = to > 0 ? to : migrate::current_version();
  auto steps = migrate::pending(st, target);
  if (steps.empty()) {
    fmt::print("{} is at schema version {}: nothing to do.\n", where, st.version.value_or(0));
    return 0;
  }
  fmt::print("{}: schema version {} -> {}. Will run:\n", where,
             st.version ? std::to_string(*st.version) : "none (empty database)", target);
  for (const auto* m : steps) {
    fmt::print("  {:>3}  {}{}\n", m->version, m->name, m->transactional ? "" : "  (non-transactional)");
  }
  if (st.state != SchemaState::kEmpty && backup.empty()) {
    fmt::print("Take a backup first (yardmaster db dump, or --backup FILE).\n");
  }
  if (!yes) {
    fmt::print("Proceed? [Y/n] ");
    std::fflush(stdout);
    std::string answer;
    if (!std::getline(std::cin, answer)) answer = "n";  // no terminal and no --yes: don't
    if (!(answer.empty() || answer == "y" || answer == "Y" || answer == "yes")) {
      fmt::print("Nothing changed.\n");
      return 1;
    }
  }
  if (!backup.empty() && st.state != SchemaState::kEmpty) {
    ProgressReporter bar;
    auto r = migrate::dump(url, backup, migrate::DumpFormat::kPortable,
                           [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
    bar.finish(fmt::format("backup: {} rows written to {}", r.rows, backup));
  }
  migrate::UpgradeOptions opts;
  opts.target = target;
  opts.on_lock_wait = [] { fmt::print("another process is migrating this database; waiting...\n"); };
  opts.on_start = [](const migrate::Migration& m) {
    fmt::print("applying version {} ({})...\n", m.version, m.name);
    std::fflush(stdout);
  };
  opts.on_done = [](const migrate::Migration& m, std::chrono::milliseconds took) {
    fmt::print("applied version {} in {:.1f} s\n", m.version, took.count() / 1000.0);
    std::fflush(stdout);
  };
  auto r = migrate::upgrade(*conn, url, opts);
  if (r.applied.empty()) {
    fmt::print("another process upgraded {} meanwhile; it is at version {}.\n", where, r.to);
  } else {
    fmt::print("{} is at schema version {}.\n", where, r.to);
  }
  return 0;
}

int dump(const std::string& text, const std::string& file, const std::string& format) {
  auto url = db::Url::parse(text);
  migrate::DumpFormat f = migrate::DumpFormat::kPortable;
  if (format == "sql") {
    f = migrate::DumpFormat::kSqliteScript;
  } else if (format.empty() && url.backend == db::Backend::kSqlite) {
    f = migrate::DumpFormat::kSqliteScript;
  } else if (!format.empty() && format != "portable") {
    throw db::InvalidArgument("--format must be 'sql' or 'portable'");
  }
  ProgressReporter bar;
  auto r = migrate::dump(url, file, f, [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("dumped {} rows of {} tables (schema version {}) to {} ({} bytes, {})", r.rows,
                         r.tables.size(), r.schema_version, file, r.bytes,
                         f == migrate::DumpFormat::kPortable ? "portable" : "SQLite script"));
  return 0;
}

int restore(const std::string& file, const std::string& text) {
  auto url = db::Url::parse(text);
  ProgressReporter bar;
  auto r = migrate::restore(file, url, [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("restored {} rows into {} at schema version {}", r.rows, url.to_string(),
                         r.schema_version));
  if (r.schema_version < migrate::current_version()) {
    fmt::print("the dump is older than this program: run yardmaster db upgrade '{}'\n", url.to_string());
  }
  return 0;
}

int copy(const std::string& from_text, const std::string& to_text) {
  auto from = db::Url::parse(from_text);
  auto to = db::Url::parse(to_text);
  ProgressReporter bar;
  auto r = migrate::copy(from, to, [&](const migrate::Progress& p) { bar.update(p.table, p.done, p.total); });
  bar.finish(fmt::format("copied {} rows of {} tables from {} to {}; row counts verified", r.rows,
                         r.tables.size(), from.to_string(), to.to_string()));
  return 0;
}

}  // namespace

void add_db_commands(CLI::App& app, int& exit_code) {
  auto* db = app.add_subcommand("db", "database administration: status, upgrade, dump, restore, copy");
  db->require_subcommand(1);

  auto* st = db->add_subcommand("status", "show each database's schema version and state");
  auto urls = std::make_shared<std::vector<std::string>>();
  st->add_option("URL", *urls, "database URL(s)")->required();
  st->callback([urls, &exit_code] { exit_code = status(*urls); });

  auto* up = db->add_subcommand("upgrade", "apply pending schema migrations");
  struct UpgradeArgs {
    std::string url, backup;
    bool yes = false;
    int to = 0;
  };
  auto ua = std::make_shared<UpgradeArgs>();
  up->add_option("URL", ua->url, "database URL")->required();
  up->add_flag("--yes,-y", ua->yes, "do not ask for confirmation");
  up->add_option("--backup", ua->backup, "write a portable dump to FILE before upgrading");
  up->add_option("--to", ua->to, "stop after this schema version");
  up->callback([ua, &exit_code] {
    exit_code = guarded({ua->url}, [&] { return upgrade(ua->url, ua->yes, ua->backup, ua->to); });
  });

  auto* du = db->add_subcommand("dump", "write a consistent snapshot of a database to a file");
  struct DumpArgs {
    std::string url, file, format;
  };
  auto da = std::make_shared<DumpArgs>();
  du->add_option("URL", da->url, "database URL")->required();
  du->add_option("FILE", da->file, "output file")->required();
  du->add_option("--format", da->format,
                 "sql (SQLite script, the default for SQLite) or portable (any backend)");
  du->callback([da, &exit_code] {
    exit_code = guarded({da->url}, [&] { return dump(da->url, da->file, da->format); });
  });

  auto* re = db->add_subcommand("restore", "load a portable dump into an empty database");
  struct RestoreArgs {
    std::string file, url;
  };
  auto ra = std::make_shared<RestoreArgs>();
  re->add_option("FILE", ra->file, "portable dump file")->required();
  re->add_option("URL", ra->url, "empty target database URL")->required();
  re->callback([ra, &exit_code] {
    exit_code = guarded({ra->url}, [&] { return restore(ra->file, ra->url); });
  });

  auto* co = db->add_subcommand("copy", "copy a whole installation into an empty database");
  struct CopyArgs {
    std::string from, to;
  };
  auto ca = std::make_shared<CopyArgs>();
  co->add_option("FROM_URL", ca->from, "source database URL")->required();
  co->add_option("TO_URL", ca->to, "empty target database URL")->required();
  co->callback([ca, &exit_code] {
    exit_code = guarded({ca->from, ca->to}, [&] { return copy(ca->from, ca->to); });
  });
}

}  // namespace ym::master
