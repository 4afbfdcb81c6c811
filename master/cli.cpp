#include "master/cli.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "db/errors.hpp"
#include "db/url.hpp"
#include "master/config.hpp"

namespace ym::master {

namespace {

// What the person must fix (the URL, the database it names, its schema) is a usage error;
// anything that went wrong while the command worked is a failure.
int exit_code_of(const db::Error& e) {
  switch (e.category()) {
    case db::ErrorCategory::kUsage:
    case db::ErrorCategory::kNotFound:
    case db::ErrorCategory::kSchema:
    case db::ErrorCategory::kConnection:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

}  // namespace

int report_current_exception(std::initializer_list<std::string> urls) {
  std::string message;
  int code = kExitFailure;
  try {
    throw;
  } catch (const UsageError& e) {
    message = e.what();
    code = kExitUsage;
  } catch (const ConfigError& e) {
    message = e.what();
    code = kExitUsage;
  } catch (const CommandFailed& e) {
    message = e.what();
  } catch (const db::Error& e) {
    message = e.what();
    code = exit_code_of(e);
  } catch (const std::exception& e) {  // a file that cannot be written, say
    message = e.what();
  } catch (...) {
    message = "unexpected error";
  }
  for (const auto& url : urls) message = db::mask_passwords(message, url);
  fmt::print(stderr, "error: {}\n", db::mask_urls_in(message));
  std::fflush(stderr);
  return code;
}

void require_existing_database(const std::string& url_text) {
  auto url = db::Url::parse(url_text);
  if (url.backend != db::Backend::kSqlite || url.memory) return;
  std::error_code ec;
  if (std::filesystem::exists(url.database, ec) || ec) return;  // ec: let the driver say why
  std::filesystem::path path = std::filesystem::absolute(url.database, ec);
  throw db::NotFound(fmt::format(
      "no database at {} ({} does not exist); check the path. Nothing was created: only "
      "`yardmaster create-master`, `db restore` and `db copy` create a database",
      url.to_string(), ec ? url.database : path.lexically_normal().string()));
}

bool use_colour(std::FILE* stream) {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  const char* term = std::getenv("TERM");
  if (!term || !*term || std::strcmp(term, "dumb") == 0) return false;
  return isatty(fileno(stream)) != 0;
}

std::string paint_result(const std::string& text, bool on) {
  if (!on) return text;
  const char* code = nullptr;
  if (text == "success") {
    code = "32";
  } else if (text == "warnings" || text == "retry" || text == "cancelled") {
    code = "33";
  } else if (text == "failure" || text == "exception") {
    code = "31";
  }
  if (!code) return text;
  return fmt::format("\033[{}m{}\033[0m", code, text);
}

bool stdin_is_terminal() { return isatty(STDIN_FILENO) != 0; }

void set_example(CLI::App* app, std::initializer_list<std::string> lines) {
  std::string text = lines.size() == 1 ? "Example:\n" : "Examples:\n";
  for (const auto& line : lines) text += "  yardmaster " + line + "\n";
  app->footer(text);
}

}  // namespace ym::master
