// The `yardmaster` command line. For now: --version and `db status URL...`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/schema.hpp"
#include "db/url.hpp"

namespace {

int db_status(const std::vector<std::string>& urls) {
  int rc = 0;
  fmt::print("{:<50} {:>10} {:>10}  {}\n", "DATABASE", "DB VERSION", "PROGRAM", "STATE");
  for (const auto& text : urls) {
    std::string where = text;
    try {
      auto url = ym::db::Url::parse(text);
      where = url.to_string();
      auto conn = ym::db::open_connection(url);
      auto st = ym::migrate::read_status(*conn);
      std::string state = ym::migrate::to_string(st.state);
      if (st.interrupted) {
        state += fmt::format(" (version {} started, never finished)", *st.interrupted);
      }
      fmt::print("{:<50} {:>10} {:>10}  {}\n", where,
                 st.version ? std::to_string(*st.version) : "-", ym::migrate::current_version(),
                 state);
      if (st.state != ym::migrate::SchemaState::kUpToDate) rc = std::max(rc, 1);
    } catch (const ym::db::Error& e) {
      fmt::print("{:<50} {:>10} {:>10}  error: {}\n", where, "-", ym::migrate::current_version(),
                 e.what());
      rc = 2;
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"yardmaster: a CI build master and its database"};
  app.set_version_flag("--version", std::string("yardmaster ") + YM_VERSION);
  app.require_subcommand(1);

  auto* db = app.add_subcommand("db", "database administration");
  db->require_subcommand(1);
  std::vector<std::string> status_urls;
  auto* status = db->add_subcommand("status", "show the schema version of each database");
  status->add_option("URL", status_urls, "database URL(s)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (status->parsed()) return db_status(status_urls);
  return 0;
}
