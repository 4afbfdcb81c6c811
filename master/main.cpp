// The `yardmaster` command line.
#include <CLI/CLI.hpp>

#include "master/commands.hpp"
#include "master/db_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"yardmaster: a CI build master and its database"};
  app.set_version_flag("--version", std::string("yardmaster ") + YM_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  ym::master::add_master_commands(app, exit_code);
  ym::master::add_db_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
