// The master's commands: create-master, run, submit, checkconfig, reconfig, change, builds,
// build, log and masters.
#pragma once

#include <CLI/CLI.hpp>

namespace ym::master {

// Adds the commands to `app`; each runs when parsed and stores the process exit code in
// `exit_code` (kExitOk, kExitFailure, kExitUsage of master/cli.hpp).
void add_master_commands(CLI::App& app, int& exit_code);

}  // namespace ym::master
