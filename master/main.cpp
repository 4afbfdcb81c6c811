// The `yardmaster` command line. Exit codes (docs/cli.md): 0 success (also --help and
// --version), 1 a failure while a command worked, 2 a usage or input error.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "master/cli.hpp"
#include "master/commands.hpp"
#include "master/db_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"yardmaster: a CI build master and its database"};
  app.set_version_flag("--version", std::string("yardmaster ") + YM_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  ym::master::add_master_commands(app, exit_code);
  ym::master::add_db_commands(app, exit_code);
  // After the commands: CLI11 copies a parent's footer into the subcommands added after it.
  app.footer(
      "Examples:\n"
      "  yardmaster create-master ~/ci\n"
      "  yardmaster run ~/ci\n"
      "  yardmaster submit ~/ci --builder hello\n"
      "  yardmaster builds --db ~/ci\n"
      "  yardmaster COMMAND --help\n"
      "\nExit codes: 0 success, 1 failure, 2 usage or input error (docs/cli.md).\n");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; every other parse error is a usage error,
    // whatever CLI11's own code for it (104-109 and others).
    int cli11_code = app.exit(e);
    return cli11_code == 0 ? ym::master::kExitOk : ym::master::kExitUsage;
  } catch (...) {
    // A command's callback lets nothing through (see guarded); anything here is unexpected.
    return ym::master::report_current_exception();
  }
  return exit_code;
}
