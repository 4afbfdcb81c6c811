// Database URLs in SQLAlchemy's form, so that Buildbot users recognise them:
//   sqlite://                      an in-memory database (private to one Db)
//   sqlite:///relative.sqlite      a file relative to the working directory
//   sqlite:////abs/path.sqlite     an absolute path
//   postgresql://user:pass@host:port/db?max_connections=8
//   mysql://user:pass@host:port/db?connect_timeout=5
// The password is kept for the driver and never printed: to_string() masks it.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace ym::db {

enum class Backend { kSqlite, kPostgres, kMysql };

const char* to_string(Backend b);

struct Url {
  Backend backend = Backend::kSqlite;
  std::string user;
  std::optional<std::string> password;
  std::string host;
  std::optional<int> port;
  // Database name for servers; file path for SQLite (empty when in memory).
  std::string database;
  bool memory = false;  // sqlite:// only
  std::map<std::string, std::string> options;

  // Parses `text`; throws InvalidUrl naming what is wrong (never echoing the password).
  static Url parse(const std::string& text);

  // The URL with its password replaced by "***": safe for logs and output.
  std::string to_string() const;

  // The value of ?name=..., or `fallback` when absent. Throws InvalidUrl when not an integer.
  int int_option(const std::string& name, int fallback) const;
  std::optional<std::string> option(const std::string& name) const;
};

// Replaces the password of anything that looks like a URL inside `text` with "***".
// Used on driver messages before they reach an exception or a log line.
std::string mask_passwords(const std::string& text, const Url& url);

}  // namespace ym::db
