// A master's configuration: DIR/config.ini, a small commented INI-like format written by
// `yardmaster create-master` and read by `yardmaster run`. Errors name the file and line
// ("config.ini:12: ...") and say what to write instead.
//
//   [master]                 name, database, checkin_interval, expiry, poll_interval,
//                            grace_period, step_timeout, db_retry_budget
//   [worker NAME]            slots = N, builders = a, b (optional)
//   [builder NAME]           workers = a, b; description = ...; step_timeout = 10m;
//                            step NAME = shell command (ordered); env NAME = value
//
// Lines starting with '#' or ';' are comments (there are no end-of-line comments: a shell
// command may contain '#'). Durations take a unit (500ms, 10s, 5m, 1h; a bare number is seconds).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ym::master {

using Duration = std::chrono::milliseconds;

// A configuration that cannot be used; what() is "FILE:LINE: what is wrong and what to do".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

struct WorkerConfig {
  std::string name;
  int slots = 1;  // builds this worker runs at once
  int line = 0;   // of its section header, for messages
};

struct StepConfig {
  std::string name;
  std::string command;  // run with /bin/sh -c
  int line = 0;
};

struct BuilderConfig {
  std::string name;
  std::optional<std::string> description;
  std::vector<std::string> workers;  // in the order given; never empty once parsed
  std::vector<StepConfig> steps;     // in order; never empty once parsed
  std::vector<std::pair<std::string, std::string>> env;  // extra environment for its steps
  std::optional<Duration> step_timeout;                  // overrides the master's
  int line = 0;
};

struct MasterConfig {
  std::filesystem::path basedir;  // absolute
  std::filesystem::path file;     // basedir / "config.ini"
  std::string name;               // default: HOST:BASEDIR
  std::string database;           // a relative SQLite path is resolved against basedir
  Duration checkin_interval = std::chrono::seconds(10);
  Duration expiry = std::chrono::seconds(60);
  Duration poll_interval = std::chrono::seconds(2);
  Duration grace_period = std::chrono::seconds(60);
  Duration step_timeout = std::chrono::minutes(20);
  // How long one database call keeps retrying an unreachable or busy database before the
  // master treats it as failed (the URL's ?retry_budget= overrides it).
  Duration db_retry_budget = std::chrono::seconds(10);
  std::vector<WorkerConfig> workers;
  std::vector<BuilderConfig> builders;

  const BuilderConfig* builder(std::string_view name) const;
  const WorkerConfig* worker(std::string_view name) const;
  Duration timeout_of(const BuilderConfig& b) const {
    return b.step_timeout.value_or(step_timeout);
  }
};

inline constexpr const char* kConfigFile = "config.ini";
inline constexpr const char* kDefaultDatabase = "sqlite:///state.sqlite";

// Parses `text` (the contents of `basedir`/config.ini). Throws ConfigError.
MasterConfig parse_config(std::string_view text, const std::filesystem::path& basedir);

// Reads and parses DIR/config.ini. Throws ConfigError (also when the file is missing: the message
// says to run create-master).
MasterConfig load_config(const std::filesystem::path& dir);

// The commented configuration that create-master writes.
std::string default_config(const std::string& database_url);

// `url` with a relative SQLite path made absolute against `basedir`; other URLs unchanged.
std::string resolve_database_url(const std::string& url, const std::filesystem::path& basedir);

// "500ms", "10s", "1.5s", "5m", "1h", "30" (seconds); nullopt when malformed or negative.
std::optional<Duration> parse_duration(std::string_view text);
// The shortest exact spelling: "1s", "500ms", "20m".
std::string format_duration(Duration d);

// "HOST:BASEDIR", the default master name.
std::string default_master_name(const std::filesystem::path& basedir);

}  // namespace ym::master
