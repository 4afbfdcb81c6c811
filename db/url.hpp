// Database URLs in SQLAlchemy's form, so that Buildbot users recognise them:
//   sqlite://                      an in-memory database (private to one Db)
//   sqlite:///relative.sqlite      a file relative to the working directory
//   sqlite:////abs/path.sqlite     an absolute path
//   postgresql://user:pass@host:port/db?max_connections=8
//   mysql://user:pass@host:port/db?connect_timeout=5
//   postgresql://user:pass@h1:5432,h2:5432/db?target_session_attrs=read-write
//                                  several hosts, tried in order (docs/scale-out.md)
// The password is kept for the driver and never printed: to_string() masks it, and the
// mask_* functions below hide it in other text, also for a URL that does not parse.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ym::db {

enum class Backend { kSqlite, kPostgres, kMysql };

const char* to_string(Backend b);

// One host of a server URL.
struct Endpoint {
  std::string host;
  std::optional<int> port;
  bool operator==(const Endpoint&) const = default;
};

struct Url {
  Backend backend = Backend::kSqlite;
  std::string user;
  std::optional<std::string> password;
  // The first host (empty: the client library's default, a local socket).
  std::string host;
  std::optional<int> port;
  // The hosts after the first, when the URL lists several ("h1:p1,h2:p2"): a connection tries
  // them in order and takes the first that accepts it (PostgreSQL: libpq does, and
  // target_session_attrs=read-write skips a standby; MySQL: our driver does).
  std::vector<Endpoint> more_hosts;
  // Database name for servers; file path for SQLite (empty when in memory).
  std::string database;
  bool memory = false;  // sqlite:// only
  std::map<std::string, std::string> options;
  // Set by a program, never parsed from text: the connection only reads. SQLite opens the file
  // read-only and changes nothing in it (no journal mode is set, a missing file is an error);
  // PostgreSQL and MySQL sessions are READ ONLY, so the server refuses any write or DDL.
  bool read_only = false;

  // Parses `text`; throws InvalidUrl naming what is wrong (never quoting the password, nor text
  // that could be a misplaced piece of one). user:password ends at the last '@' before the host.
  static Url parse(const std::string& text);

  // The URL with its password replaced by "***": safe for logs and output.
  std::string to_string() const;

  // The value of ?name=..., or `fallback` when absent. Throws InvalidUrl when not an integer.
  int int_option(const std::string& name, int fallback) const;
  std::optional<std::string> option(const std::string& name) const;
  // Every host in order: {host, port} then more_hosts.
  std::vector<Endpoint> endpoints() const;
};

// Replaces `url`'s password in `text` with "***": as written, %-encoded in any way, quoted with
// backslashes (libpq's conninfo), and its pieces of 4 characters or more between '@', '/', ':',
// '?', '#' and '&'; then masks every URL in `text` (mask_urls_in). Used on driver messages before
// they reach an exception or a log line.
std::string mask_passwords(const std::string& text, const Url& url);

// The same for a URL as given, which need not parse: when Url::parse refuses it, what
// mask_url_text would hide is masked instead.
std::string mask_passwords(const std::string& text, const std::string& url_text);

// `text`, given as a database URL, in a form safe to print whether it parses or not: its
// to_string() when it parses, else mask_url_text(text).
std::string printable_url(const std::string& text);

// Best effort for a URL that does not parse: whatever could be a password becomes "***". That is
// everything from the first ':' after "scheme://" (or after the start, when there is no "://")
// to the last '@'; without an '@', a ":port" that is not a number. The whole span goes, so a
// %-encoded password goes with it. Text without "://" and without '@' is returned unchanged.
std::string mask_url_text(const std::string& text);

// Every "scheme://..." token in free text (an error message, a log line), up to a space or a
// quote, through mask_url_text. Masked URLs (to_string()) come out unchanged.
std::string mask_urls_in(const std::string& text);

}  // namespace ym::db
