// `yardmaster db ...`: status, upgrade, dump, restore, copy and import-buildbot.
#pragma once

#include <CLI/CLI.hpp>

namespace ym::master {

// Adds the `db` subcommand and its children to `app`; each child runs when parsed and stores
// the process exit code in `exit_code`.
void add_db_commands(CLI::App& app, int& exit_code);

}  // namespace ym::master
