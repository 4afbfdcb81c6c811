// A master's configuration: DIR/config.ini, a small commented INI-like format written by
// `yardmaster create-master` and read by `yardmaster run`. Errors name the file and line
// ("config.ini:12: ...") and say what to write instead.
//
//   [master]                 name, database, checkin_interval, expiry, poll_interval,
//                            grace_period, step_timeout, db_retry_budget
//   [worker NAME]            slots = N, builders = a, b (optional)
//   [builder NAME]           workers = a, b; description = ...; step_timeout = 10m;
//                            step NAME = shell command, trigger NAME = SCHEDULER, ... (ordered);
//                            env NAME = value
//   [changesource NAME]      type = git; repository; branches; poll_interval; project;
//                            codebase; revlink
//   [scheduler NAME]         type = single-branch | periodic | nightly | force | triggerable;
//                            builders; property NAME = value; reason; branch, repository,
//                            project, codebase (the change filter); files; tree_stable_timer;
//                            interval; minute, hour, day_of_week; only_if_changed; priority
//   [www]                    listen = HOST:PORT; base_url; force_token_file (docs/web.md)
//
// Lines starting with '#' or ';' are comments (there are no end-of-line comments: a shell
// command may contain '#'). Durations take a unit (500ms, 10s, 5m, 1h; a bare number is seconds).
#pragma once

#include <chrono>
#include <cstdint>
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
  bool operator==(const WorkerConfig&) const = default;
};

struct StepConfig {
  std::string name;
  std::string command;  // run with /bin/sh -c; empty for a trigger step
  // `trigger NAME = s1, s2`: the step starts a buildset on each of these triggerable schedulers
  // (with this build's source stamps, the build as its parent) and waits for them; it fails when
  // one of them does not succeed. Empty for a shell step.
  std::vector<std::string> trigger;
  int line = 0;
  bool operator==(const StepConfig&) const = default;
};

struct BuilderConfig {
  std::string name;
  std::optional<std::string> description;
  std::vector<std::string> workers;  // in the order given; never empty once parsed
  std::vector<StepConfig> steps;     // in order; never empty once parsed
  std::vector<std::pair<std::string, std::string>> env;  // extra environment for its steps
  std::optional<Duration> step_timeout;                  // overrides the master's
  int line = 0;
  bool operator==(const BuilderConfig&) const = default;
};

// `[changesource NAME]`: where commits come from. Only `type = git` exists: a poller that fetches
// `repository` into a bare mirror under the master directory every `poll_interval` and reports
// each new commit of the matching branches as a change.
struct ChangeSourceConfig {
  std::string name;  // an identifier, at most 50 characters
  std::string type = "git";
  std::string repository;             // a URL or a path, as git accepts it; never empty
  std::vector<std::string> branches;  // shell globs on short branch names; empty: every branch
  Duration poll_interval = std::chrono::minutes(1);
  std::string project;   // given to the changes
  std::string codebase;  // given to the changes
  // `revlink = https://example.org/r/{revision}`: each change's revlink, {revision} replaced.
  std::optional<std::string> revlink;
  int line = 0;
  bool operator==(const ChangeSourceConfig&) const = default;
};

enum class SchedulerType { kSingleBranch, kPeriodic, kNightly, kForce, kTriggerable };

// "single-branch", "periodic", "nightly", "force", "triggerable".
const char* to_string(SchedulerType t);

// `[scheduler NAME]`: what turns changes, time or a request into buildsets.
struct SchedulerConfig {
  std::string name;  // an identifier, at most 50 characters
  SchedulerType type = SchedulerType::kSingleBranch;
  std::vector<std::string> builders;  // one build request per builder; never empty once parsed
  std::vector<std::pair<std::string, std::string>> properties;  // `property NAME = value`
  std::optional<std::string> reason;  // default: "The SingleBranchScheduler '...' ..." per type
  int priority = 0;                   // of the build requests

  // The change filter (single-branch; nightly with only_if_changed): a change passes when each
  // given field equals the change's. single-branch requires `branch`. For periodic and nightly,
  // `branch` and `repository` (with project and codebase) also make the buildset's source stamp
  // when no change is at hand.
  std::optional<std::string> branch;
  std::optional<std::string> repository;
  std::optional<std::string> project;
  std::optional<std::string> codebase;
  // Shell globs on changed files: a change is important when one of its files matches one. Empty:
  // every change that passes the filter is important.
  std::vector<std::string> files;
  // single-branch: build once no change has arrived for this long (0: at once).
  Duration tree_stable_timer{0};

  Duration interval{0};  // periodic: between buildsets; > 0 once parsed

  // nightly: the times to fire, in the master's local time zone; each list empty means every
  // value (`*`). day_of_week: 0 = Monday ... 6 = Sunday, as Buildbot.
  std::vector<int> minute;
  std::vector<int> hour;
  std::vector<int> day_of_week;
  bool only_if_changed = false;

  int line = 0;
  bool operator==(const SchedulerConfig&) const = default;
};

// Where the web server listens: an IPv4 or IPv6 address (or "localhost") and a port.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
  bool operator==(const ListenAddress&) const = default;
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (loopback); nullopt when it is none of those.
std::optional<ListenAddress> parse_listen(std::string_view text);

// `[www]`: the web view the master serves (docs/web.md).
struct WwwConfig {
  ListenAddress listen{"127.0.0.1", 8010};
  std::string base_url;  // how people reach it; shown in the log when given
  // The file holding the token that POST requests (force builds) need; none: read-only.
  std::optional<std::filesystem::path> force_token_file;  // absolute
  bool operator==(const WwwConfig&) const = default;
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
  std::vector<ChangeSourceConfig> change_sources;
  std::vector<SchedulerConfig> schedulers;
  std::optional<WwwConfig> www;  // no [www] section: no web server

  const BuilderConfig* builder(std::string_view name) const;
  const WorkerConfig* worker(std::string_view name) const;
  const ChangeSourceConfig* change_source(std::string_view name) const;
  const SchedulerConfig* scheduler(std::string_view name) const;
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
