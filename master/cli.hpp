// What every `yardmaster` command shares: the exit codes and the errors that lead to them,
// colour (only on a terminal, never with NO_COLOR), the check that a read-only command does not
// create a database, `-` for standard input/output, and the example that ends each --help.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace ym::master {

// The exit codes of every command (docs/cli.md, "Exit codes").
inline constexpr int kExitOk = 0;
// The command started and failed: the master stopped on an error, a migration or a dump failed,
// `log --follow` timed out, a confirmation was declined.
inline constexpr int kExitFailure = 1;
// Nothing was done because of what the command was given or pointed at: bad flags, a bad URL, a
// database that does not exist, cannot be reached or has the wrong schema, an unusable
// configuration, an unknown build, builder or step.
inline constexpr int kExitUsage = 2;

// A mistake a person can correct: printed as "error: ...", exit code 2.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& m) : std::runtime_error(m) {}
};

// A failure while the command worked: printed as "error: ...", exit code 1.
class CommandFailed : public std::runtime_error {
 public:
  explicit CommandFailed(const std::string& m) : std::runtime_error(m) {}
};

// The exit code for the exception being handled (call inside a catch block), after printing it
// as "error: ..." on stderr. Every URL in `urls` (parsed or not) and every URL-looking token of
// the message has its password masked.
int report_current_exception(std::initializer_list<std::string> urls = {});

// Runs fn (returning an exit code); an exception becomes a message and its exit code.
template <class Fn>
int guarded(std::initializer_list<std::string> urls, Fn&& fn) {
  try {
    return fn();
  } catch (...) {
    return report_current_exception(urls);
  }
}

// Throws db::NotFound, naming the file, when `url_text` is an SQLite URL for a file that does not
// exist. Read-only commands call it before opening, so that a mistyped path creates nothing.
// A URL that does not parse throws InvalidUrl, as opening it would.
void require_existing_database(const std::string& url_text);

// Whether to colour what is written to `stream`: it is a terminal, TERM is set and not "dumb",
// and NO_COLOR is unset or empty (https://no-color.org).
bool use_colour(std::FILE* stream);

// `text` in the colour of a build or step result (success green, warnings yellow, failure and
// exception red, others unchanged) when `on`; as is otherwise.
std::string paint_result(const std::string& text, bool on);

bool stdin_is_terminal();

// "-" as a file argument: standard input or output.
inline bool is_stdio(const std::string& file) { return file == "-"; }

// Ends `app`'s --help with "Example:" and the given command lines (each one line, without the
// leading "yardmaster " which is added).
void set_example(CLI::App* app, std::initializer_list<std::string> lines);

}  // namespace ym::master
