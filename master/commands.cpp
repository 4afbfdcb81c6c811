#include "master/commands.hpp"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "db/base.hpp"
#include "db/db.hpp"
#include "db/errors.hpp"
#include "db/migrate/schema.hpp"
#include "db/url.hpp"
#include "master/cli.hpp"
#include "master/config.hpp"
#include "master/master.hpp"
#include "www/server.hpp"

namespace ym::master {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace results = db::results;

// ----------------------------------------------------------------------------- helpers

// A master directory or a database URL, as given on the command line.
struct Target {
  std::string url;
  std::optional<MasterConfig> config;  // when a directory was given
};

Target resolve_target(const std::string& text) {
  if (text.find("://") != std::string::npos) return {text, std::nullopt};
  if (!fs::exists(fs::path(text) / kConfigFile)) {
    throw UsageError(fmt::format(
        "'{}' is neither a master directory (it has no {}) nor a database URL; pass --db "
        "DIR|URL, set YARDMASTER_DB, or create a master with `yardmaster create-master DIR`",
        db::mask_url_text(text), kConfigFile));  // it may be a URL without its "scheme://"
  }
  auto config = load_config(text);
  return {config.database, std::move(config)};
}

std::string default_target() {
  const char* env = std::getenv("YARDMASTER_DB");
  return env && *env ? env : ".";
}

std::unique_ptr<db::Db> open_db(const std::string& url, int pool_size,
                                std::optional<Duration> retry_budget = std::nullopt) {
  // Only create-master creates a database: a mistyped path is reported, not made.
  require_existing_database(url);
  db::DbOptions options;
  if (retry_budget) options.pool.retry_budget = *retry_budget;
  options.create_if_empty = false;  // only create-master creates a database
  options.pool_size = pool_size;
  options.compress_finished_logs = true;  // a finished step's log takes about a fifth of its text
  return db::Db::open(url, options);
}

std::string local_time(Timestamp t) {
  std::time_t tt = t.time_since_epoch().count();
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string duration_text(int64_t s) {
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

int64_t epoch(Timestamp t) { return t.time_since_epoch().count(); }

int64_t now_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string result_text(const std::optional<int>& r, bool complete) {
  if (!complete) return "running";
  return r ? results::name(*r) : "-";
}

// Columns padded to their widest cell, two spaces apart. The cells of a result column are
// coloured when `out` is a terminal that takes colour (see use_colour).
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void set_result_column(size_t column) { result_column_ = column; }
  void print(std::FILE* out = stdout) const {
    bool colour = use_colour(out);
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      width.resize(std::max(width.size(), r.size()));
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (size_t row = 0; row < rows_.size(); ++row) {
      const auto& r = rows_[row];
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        // Padded by the cell's own width: colour codes take no room on the screen.
        line += row > 0 && i == result_column_ ? paint_result(r[i], colour) : r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      fmt::print(out, "{}\n", line);
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
  size_t result_column_ = static_cast<size_t>(-1);
};

struct Names {
  std::map<int64_t, std::string> builders, masters, workers;
  static Names load(db::Db& db) {
    Names n;
    for (const auto& b : db.builders().get_builders().get()) n.builders[b.id] = b.name;
    for (const auto& m : db.masters().get_masters().get()) n.masters[m.id] = m.name;
    for (const auto& w : db.workers().get_workers().get()) n.workers[w.id] = w.name;
    return n;
  }
  static std::string of(const std::map<int64_t, std::string>& m, std::optional<int64_t> id) {
    if (!id) return "-";
    auto it = m.find(*id);
    return it == m.end() ? std::to_string(*id) : it->second;
  }
};

// A build given as an id ("17") or as BUILDER/NUMBER ("linux-gcc/3"); checked before any lookup,
// so that a malformed one is refused at once, also by `log --follow`.
struct BuildRef {
  std::string text;
  std::optional<int64_t> id;
  std::string builder;
  int number = 0;
};

BuildRef parse_build_ref(const std::string& text) {
  auto bad = [&] {
    return UsageError(
        fmt::format("'{}' is not a build: give its id (17) or BUILDER/NUMBER (linux-gcc/3)", text));
  };
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  BuildRef ref;
  ref.text = text;
  size_t slash = text.rfind('/');
  if (slash == std::string::npos) {
    if (!digits(text)) throw bad();
    ref.id = std::stoll(text);
  } else {
    std::string number = text.substr(slash + 1);
    ref.builder = text.substr(0, slash);
    if (ref.builder.empty() || !digits(number) || number.size() > 9) throw bad();
    ref.number = std::stoi(number);
  }
  return ref;
}

// The build `ref` names; nullopt when it does not exist (yet), or its builder is not known (yet).
std::optional<db::Build> lookup_build(db::Db& db, const BuildRef& ref) {
  if (ref.id) return db.builds().get_build(*ref.id).get();
  auto builder = db.builders().find_builder_id(ref.builder, false).get();
  if (!builder) return std::nullopt;
  return db.builds().get_build_by_number(*builder, ref.number).get();
}

db::Build find_build(db::Db& db, const std::string& text) {
  BuildRef ref = parse_build_ref(text);
  if (auto b = lookup_build(db, ref)) return *b;
  if (!ref.id && !db.builders().find_builder_id(ref.builder, false).get()) {
    throw UsageError(fmt::format("no builder '{}' (see `yardmaster builds`)", ref.builder));
  }
  throw UsageError(fmt::format("no build {} (see `yardmaster builds`)", text));
}

// A step given by number ("1") or by name ("compile").
std::optional<db::Step> find_step(db::Db& db, int64_t buildid, const std::string& text) {
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) return db.steps().get_step_by_number(buildid, std::stoi(text)).get();
  return db.steps().get_step_by_name(buildid, text).get();
}

json build_json(const db::Build& b, const Names& n) {
  json j{{"id", b.id},
         {"builder", Names::of(n.builders, b.builderid)},
         {"builderid", b.builderid},
         {"number", b.number},
         {"buildrequestid", b.buildrequestid},
         {"worker", b.workerid ? json(Names::of(n.workers, b.workerid)) : json(nullptr)},
         {"master", Names::of(n.masters, b.masterid)},
         {"masterid", b.masterid},
         {"started_at", epoch(b.started_at)},
         {"complete_at", b.complete_at ? json(epoch(*b.complete_at)) : json(nullptr)},
         {"results", b.results ? json(*b.results) : json(nullptr)},
         {"result", result_text(b.results, b.complete_at.has_value())},
         {"state_string", b.state_string}};
  int64_t end = b.complete_at ? epoch(*b.complete_at) : now_epoch();
  j["duration_s"] = end - epoch(b.started_at);
  return j;
}

// ----------------------------------------------------------------------------- create-master

int create_master(const std::string& dir, const std::string& database, bool force) {
  fs::path base = fs::absolute(dir).lexically_normal();
  if (base.filename().empty()) base = base.parent_path();
  fs::path file = base / kConfigFile;
  if (fs::exists(file) && !force) {
    throw UsageError(
        fmt::format("{} already exists: edit it, or pass --force to overwrite it", file.string()));
  }
  fs::create_directories(base);
  std::string url = database.empty() ? kDefaultDatabase : database;
  // config.ini is written once the database opened: a URL that fails leaves no file holding it.
  std::string text = default_config(url);
  auto config = parse_config(text, base);
  db::DbOptions options;
  options.pool_size = 1;
  auto db = db::Db::open(config.database, options);  // creates the schema of a new database
  std::string where = db->describe();
  db->shutdown();
  {
    std::ofstream out(file);
    out << text;
    if (!out) throw UsageError("cannot write " + file.string());
  }
  fmt::print("created {}\n", file.string());
  fmt::print("database: {} (schema version {})\n", where, migrate::current_version());
  fmt::print("\nnext:\n");
  fmt::print("  edit {} (builders, their steps, workers)\n", file.string());
  fmt::print("  yardmaster run {}\n", base.string());
  fmt::print("  yardmaster submit {} --builder hello\n", base.string());
  fmt::print("  yardmaster builds --db {}\n", base.string());
  return 0;
}

// ----------------------------------------------------------------------------- run

// One master per directory: a lock file that the kernel releases when the process ends.
int lock_directory(const fs::path& base) {
  fs::path path = base / "master.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw UsageError("cannot open " + path.string() + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd);
    throw UsageError(
        fmt::format("another yardmaster is running in {} (pid {}); stop it first "
                    "(kill -TERM {})",
                    base.string(), pid, pid));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return fd;  // kept open (and locked) until exit
}

// Log lines go through mask_urls_in before the pattern: a message that quotes a URL (a driver's,
// a peer's) never shows its password, whichever code logged it.
class MaskingFormatter final : public spdlog::formatter {
 public:
  explicit MaskingFormatter(std::unique_ptr<spdlog::formatter> inner) : inner_(std::move(inner)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string masked = db::mask_urls_in(std::string(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy = msg;
    copy.payload = masked;
    inner_->format(copy, dest);
    // Only warnings and errors are coloured (yellow, red). An info line can tell of a step or a
    // build that failed, and must not show in the colour of success.
    bool coloured = msg.level >= spdlog::level::warn;
    msg.color_range_start = coloured ? copy.color_range_start : 0;  // where the sink colours it
    msg.color_range_end = coloured ? copy.color_range_end : 0;
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<MaskingFormatter>(inner_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt(
      "yardmaster", use_colour(stderr) ? spdlog::color_mode::always : spdlog::color_mode::never);
  spdlog::set_default_logger(logger);
  logger->set_formatter(std::make_unique<MaskingFormatter>(
      std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e %^%-8l%$ %v")));
  static const std::map<std::string, spdlog::level::level_enum> levels{
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical}};
  auto it = levels.find(level);
  if (it == levels.end()) {
    throw UsageError("--log-level must be one of trace, debug, info, warn, error, critical");
  }
  spdlog::set_level(it->second);
  spdlog::flush_on(spdlog::level::trace);
}

www::ServerOptions web_options(const MasterConfig& config) {
  try {
    return www::options_from_config(config);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
}

// The web server, listening (a port in use is a UsageError) and serving.
std::unique_ptr<www::Server> start_web(db::Db& db, www::ServerOptions options,
                                       std::shared_ptr<www::Metrics> metrics) {
  bool writable = options.force_token.has_value();
  std::unique_ptr<www::Server> web;
  try {
    web = std::make_unique<www::Server>(db, std::move(options), std::move(metrics));
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
  web->start();
  spdlog::info("web: serving {} ({})", web->address(),
               writable ? "force builds need the token of force_token_file" : "read-only");
  return web;
}

int run_master(const std::string& dir, bool until_idle, const std::string& level) {
  setup_logging(level);
  MasterConfig config = load_config(dir);
  int lock = lock_directory(config.basedir);
  (void)lock;
  // The database threads start inside Db::open and inherit this mask: SIGCHLD, SIGTERM and SIGINT
  // then only ever interrupt the io thread, which expects them, never a blocking driver call.
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);
  signal(SIGPIPE, SIG_IGN);  // a closed socket is an error to handle, not a reason to die

  spdlog::info("yardmaster {} starting master {} in {}", YM_VERSION, config.name,
               config.basedir.string());
  std::unique_ptr<db::Db> db;
  try {
    db = open_db(config.database, 4, config.db_retry_budget);
  } catch (const db::SchemaOutOfDate& e) {
    // The message names the command that upgrades it.
    throw UsageError(std::string(e.what()) + "\nthe master did not start");
  }
  int rc;
  {
    auto metrics = std::make_shared<www::Metrics>();
    // Bound before the master registers, so that a port in use stops the start with an error.
    std::unique_ptr<www::Server> web;
    if (config.www) web = start_web(*db, web_options(config), metrics);
    boost::asio::io_context io;
    RunOptions options{until_idle, metrics};
    Master master(io, *db, config, options);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    rc = master.run();
    if (web) web->stop();
    // Before the io_context and the web server go: a call still in flight would deliver its
    // result to them.
    db->shutdown();
  }
  return rc;
}

// ----------------------------------------------------------------------------- www

int serve_web(const std::string& target_text, const std::string& listen, const std::string& level) {
  setup_logging(level);
  Target target = resolve_target(target_text);
  www::ServerOptions options;
  if (target.config && target.config->www) options = web_options(*target.config);
  if (!listen.empty()) {
    auto a = parse_listen(listen);
    if (!a) throw UsageError(fmt::format("--listen '{}' is not HOST:PORT, e.g. 127.0.0.1:8010", listen));
    options.listen = *a;
  }
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT}) sigaddset(&handled, s);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);
  signal(SIGPIPE, SIG_IGN);
  auto db = open_db(target.url, 4);
  auto web = start_web(*db, std::move(options), nullptr);
  // Until SIGTERM or SIGINT: the server runs on its own thread.
  int sig = 0;
  sigwait(&handled, &sig);
  spdlog::info("web: stopping on {}", strsignal(sig));
  web->stop();
  db->shutdown();
  return 0;
}

// ----------------------------------------------------------------------------- submit

struct SubmitArgs {
  std::string target;
  std::vector<std::string> builders;
  std::string scheduler;
  std::string reason;
  std::vector<std::string> properties;
  std::string branch, revision, repository, project, codebase;
  int priority = 0;
  bool priority_given = false;  // --priority over a force scheduler's own
  bool json = false;
};

// "NAME=VALUE" of --property, or a UsageError saying how to write it.
std::pair<std::string, std::string> property_arg(const std::string& p) {
  size_t eq = p.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError(fmt::format("--property '{}': write NAME=VALUE", p));
  }
  return {p.substr(0, eq), p.substr(eq + 1)};
}

// The force scheduler `name` of the directory's config.ini, or a UsageError saying why not.
const SchedulerConfig& force_scheduler(const Target& target, const std::string& name) {
  if (!target.config) {
    throw UsageError(
        "--scheduler needs a master directory, not a database URL: the schedulers are in its "
        "config.ini");
  }
  const SchedulerConfig* sc = target.config->scheduler(name);
  if (!sc) {
    std::vector<std::string> force;
    for (const auto& s : target.config->schedulers) {
      if (s.type == SchedulerType::kForce) force.push_back(s.name);
    }
    throw UsageError(fmt::format("{} has no scheduler '{}' (force schedulers: {})",
                                 target.config->file.string(), name,
                                 force.empty() ? "none; add a [scheduler NAME] with type = force"
                                               : fmt::format("{}", fmt::join(force, ", "))));
  }
  if (sc->type != SchedulerType::kForce) {
    throw UsageError(fmt::format(
        "scheduler '{}' is a {} scheduler; submit --scheduler starts only force schedulers "
        "(type = force)",
        name, to_string(sc->type)));
  }
  return *sc;
}

int submit(const SubmitArgs& a) {
  if (!a.scheduler.empty() && !a.builders.empty()) {
    throw UsageError(
        "give --scheduler or --builder, not both: a force scheduler names its builders");
  }
  if (a.scheduler.empty() && a.builders.empty()) {
    throw UsageError("give --builder B (repeatable) or --scheduler NAME (a force scheduler)");
  }
  Target target = resolve_target(a.target);
  // A force scheduler: its builders, properties, priority and default stamp, as the web UI's
  // force form would give them (Buildbot's ForceScheduler).
  const SchedulerConfig* sc = a.scheduler.empty() ? nullptr : &force_scheduler(target, a.scheduler);
  auto db = open_db(target.url, 2);
  db::NewBuildset bs;
  if (sc) {
    bs.reason = a.reason.empty() ? "force build by yardmaster submit" : a.reason;
    bs.priority = a.priority_given ? a.priority : sc->priority;
    for (const auto& [name, value] : sc->properties) bs.properties[name] = {value, "Scheduler"};
    bs.properties["scheduler"] = {sc->name, "Scheduler"};
  } else {
    bs.reason = a.reason.empty() ? "submitted with yardmaster submit" : a.reason;
    bs.priority = a.priority;
  }
  for (const auto& p : a.properties) {
    auto [name, value] = property_arg(p);
    bs.properties[name] = db::Property{value, sc ? "Force" : "submit"};
  }
  bs.sourcestamps = forced_stamps({a.branch, a.revision, a.repository, a.project, a.codebase}, sc);
  std::vector<std::pair<std::string, int64_t>> builders;
  for (const auto& name : sc ? sc->builders : a.builders) {
    // A builder of the given master directory may be submitted to before that master first ran.
    bool known_here = target.config && target.config->builder(name);
    auto id = db->builders().find_builder_id(name, known_here).get();
    if (!id) {
      std::set<std::string> known;
      for (const auto& b : db->builders().get_builders().get()) known.insert(b.name);
      if (target.config) {
        for (const auto& b : target.config->builders) known.insert(b.name);
      }
      throw UsageError(fmt::format(
          "unknown builder '{}' (known: {}). A builder is known once a master that configures it "
          "has run, or when you submit to that master's directory",
          name, known.empty() ? "none yet" : fmt::format("{}", fmt::join(known, ", "))));
    }
    builders.emplace_back(name, *id);
    bs.builderids.push_back(*id);
  }
  auto added = db->buildsets().add_buildset(bs).get();

  // A request no active master can run waits; say so rather than leave the person wondering.
  std::map<int64_t, bool> active;
  for (const auto& m : db->masters().get_masters().get()) active[m.id] = m.active;
  std::vector<std::string> idle;
  for (const auto& [name, id] : builders) {
    auto b = db->builders().get_builder(id).get();
    bool served = false;
    for (int64_t m : b ? b->masterids : std::vector<int64_t>{}) served = served || active[m];
    if (!served) idle.push_back(name);
  }
  if (a.json) {
    json requests = json::array();
    for (const auto& [name, id] : builders) {
      requests.push_back(
          {{"builder", name}, {"builderid", id}, {"buildrequestid", added.brids.at(id)}});
    }
    fmt::print("{}\n", json{{"bsid", added.bsid}, {"requests", requests}}.dump(2));
  } else {
    std::vector<std::string> parts;
    for (const auto& [name, id] : builders) {
      parts.push_back(fmt::format("request {} for {}", added.brids.at(id), name));
    }
    fmt::print("buildset {} submitted: {}\n", added.bsid, fmt::join(parts, ", "));
  }
  if (!idle.empty()) {
    fmt::print(stderr,
               "note: no active master runs {} right now; the request waits until one does "
               "(yardmaster run DIR)\n",
               fmt::join(idle, ", "));
  }
  db->shutdown();
  return 0;
}

// ----------------------------------------------------------------------------- checkconfig,
// reconfig

// Loads DIR/config.ini as `run` would (ConfigError names the line); opens no database.
MasterConfig check_config(const std::string& dir) {
  if (!fs::is_directory(dir)) {
    throw UsageError(fmt::format("'{}' is not a directory: give a master directory (one with {})",
                                 dir, kConfigFile));
  }
  return load_config(dir);
}

int checkconfig(const std::string& dir) {
  MasterConfig c = check_config(dir);
  fmt::print("{} is valid: {} builder(s), {} worker(s), {} scheduler(s), {} change source(s)\n",
             c.file.string(), c.builders.size(), c.workers.size(), c.schedulers.size(),
             c.change_sources.size());
  return 0;
}

// The pid of the master running in `base`: the one holding master.lock (see lock_directory).
// CommandFailed when none does.
pid_t running_master(const fs::path& base) {
  fs::path path = base / "master.lock";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw CommandFailed(
        fmt::format("no master is running in {} (there is no {}); start one with "
                    "`yardmaster run {}`",
                    base.string(), path.filename().string(), base.string()));
  }
  // A shared lock is refused only while a master holds its exclusive one. Taken, it is let go at
  // once: a master starting in the meantime would fail and say so, nothing worse.
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  if (!held) {
    throw CommandFailed(fmt::format(
        "no master is running in {} (its master.lock is not held: the last one stopped); start "
        "one with `yardmaster run {}`",
        base.string(), base.string()));
  }
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || pid <= 1) {
    throw CommandFailed(fmt::format(
        "the master in {} has not written its pid to master.lock yet (it is starting); try again",
        base.string()));
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    throw CommandFailed(fmt::format("no master is running in {} (pid {} in master.lock is gone)",
                                    base.string(), pid));
  }
  return pid;
}

int reconfig(const std::string& dir) {
  // A bad file is refused here, before any signal: the master would refuse it too, but only in
  // its log.
  MasterConfig c = check_config(dir);
  pid_t pid = running_master(c.basedir);
  if (::kill(pid, SIGHUP) != 0) {
    throw CommandFailed(fmt::format("cannot signal the master in {} (pid {}): {}",
                                    c.basedir.string(), pid, std::strerror(errno)));
  }
  fmt::print("sent SIGHUP to the master in {} (pid {}); it reloads {} and logs what changed\n",
             c.basedir.string(), pid, kConfigFile);
  return 0;
}

// ----------------------------------------------------------------------------- change

struct ChangeArgs {
  std::string target;
  std::string repository, branch, revision, author, committer, comments, project, codebase,
      category, revlink;
  std::vector<std::string> files, properties;
  std::string when;  // seconds since the epoch; empty: now
};

// Throws, with the connectors' typed errors, what add_change or find_user_by_attr would throw for
// `value` in `table`.`column`: checked before anything is written, so that a change refused by
// add_change leaves no user behind either.
void check_text(const char* table, const char* column, const std::string& value) {
  if (!db::is_valid_utf8(value)) {
    throw db::InvalidArgument(fmt::format("{}.{} is not valid UTF-8", table, column));
  }
  db::check_length(table, column, value);
}

int add_change(const ChangeArgs& a) {
  if (a.repository.empty()) {
    throw UsageError("--repository is empty: give the URL or path of the repository");
  }
  if (a.branch.empty()) throw UsageError("--branch is empty: give the branch of the commit");
  if (a.revision.empty()) throw UsageError("--revision is empty: give the commit's revision");
  db::NewChange c;
  if (!a.author.empty()) {
    c.author = a.author;
  } else {
    const char* user = std::getenv("USER");
    c.author = user && *user ? user : "unknown";
  }
  if (!a.committer.empty()) c.committer = a.committer;
  c.files = a.files;
  c.comments = a.comments;
  c.revision = a.revision;
  c.branch = a.branch;
  if (!a.category.empty()) c.category = a.category;
  c.revlink = a.revlink;
  c.repository = a.repository;
  c.project = a.project;
  c.codebase = a.codebase;
  if (!a.when.empty()) {
    int64_t when = -1;
    auto [ptr, ec] = std::from_chars(a.when.data(), a.when.data() + a.when.size(), when);
    if (ec != std::errc() || ptr != a.when.data() + a.when.size() || when < 0) {
      throw UsageError(fmt::format("--when '{}': give seconds since the epoch (date +%s)", a.when));
    }
    c.when_timestamp = Timestamp(std::chrono::seconds(when));
  }
  for (const auto& p : a.properties) {
    auto [name, value] = property_arg(p);
    c.properties[name] = db::Property{value, "Change"};  // the only source a change's may have
  }
  check_text("changes", "author", c.author);
  if (c.committer) check_text("changes", "committer", *c.committer);
  check_text("changes", "branch", *c.branch);
  check_text("changes", "revision", *c.revision);
  if (c.category) check_text("changes", "category", *c.category);
  check_text("changes", "revlink", *c.revlink);
  check_text("changes", "repository", c.repository);
  check_text("changes", "project", c.project);
  check_text("changes", "codebase", c.codebase);
  for (const auto& f : c.files) check_text("change_files", "filename", f);
  for (const auto& [name, prop] : c.properties) {
    check_text("change_properties", "property_name", name);
  }

  Target target = resolve_target(a.target);
  auto db = open_db(target.url, 1);
  // The author as a user, as the git poller does (Buildbot's createUserObject for git): found by
  // the attribute ("git", author). An author may be longer than an attribute (255 characters
  // against 128): ensure_length shortens it the same way every time, so the same author still
  // finds the same user. (Called directly: author_uid in master/gitpoller.hpp is the same call.)
  c.uid = db->users()
              .find_user_by_attr(db::ensure_length("users", "identifier", c.author), "git",
                                 db::ensure_length("users_info", "attr_data", c.author))
              .get();
  int64_t changeid = db->changes().add_change(std::move(c)).get();
  fmt::print("change {} added\n", changeid);
  db->shutdown();
  return 0;
}

// ----------------------------------------------------------------------------- builds, build

int list_builds(const std::string& target_text, const std::string& builder, int limit,
                bool as_json) {
  Target target = resolve_target(target_text);
  auto db = open_db(target.url, 1);
  db::BuildFilter filter;
  if (!builder.empty()) {
    auto id = db->builders().find_builder_id(builder, false).get();
    if (!id) throw UsageError(fmt::format("no builder '{}' in {}", builder, db->describe()));
    filter.builderid = *id;
  }
  if (limit < 1) throw UsageError("--limit must be at least 1");
  filter.spec.order_by("id", true).take(limit);
  auto builds = db->builds().get_builds(filter).get();
  auto names = Names::load(*db);
  if (as_json) {
    json out = json::array();
    for (const auto& b : builds) out.push_back(build_json(b, names));
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  if (builds.empty()) {
    fmt::print("no builds yet in {}\n", db->describe());
    return 0;
  }
  Table t(
      {"ID", "BUILDER", "NUMBER", "RESULT", "STARTED", "DURATION", "WORKER", "MASTER", "STATE"});
  t.set_result_column(3);
  for (const auto& b : builds) {
    int64_t end = b.complete_at ? epoch(*b.complete_at) : now_epoch();
    t.add({std::to_string(b.id), Names::of(names.builders, b.builderid), std::to_string(b.number),
           result_text(b.results, b.complete_at.has_value()), local_time(b.started_at),
           duration_text(end - epoch(b.started_at)), Names::of(names.workers, b.workerid),
           Names::of(names.masters, b.masterid), b.state_string});
  }
  t.print();
  return 0;
}

int show_build(const std::string& target_text, const std::string& which, bool as_json) {
  Target target = resolve_target(target_text);
  auto db = open_db(target.url, 1);
  auto b = find_build(*db, which);
  auto names = Names::load(*db);
  auto request = db->buildrequests().get_build_request(b.buildrequestid).get();
  auto props = db->builds().get_build_properties(b.id).get();
  auto steps = db->steps().get_steps(b.id).get();
  std::map<int64_t, int64_t> lines;  // stepid -> lines of its logs
  for (const auto& s : steps) {
    for (const auto& l : db->logs().get_logs(s.id).get()) lines[s.id] += l.num_lines;
  }
  auto step_seconds = [&](const db::Step& s) -> std::optional<int64_t> {
    if (!s.started_at) return std::nullopt;
    int64_t end = s.complete_at ? epoch(*s.complete_at) : now_epoch();
    return end - epoch(*s.started_at);
  };
  if (as_json) {
    json j = build_json(b, names);
    if (request) j["buildsetid"] = request->buildsetid;
    json p = json::object();
    for (const auto& [name, prop] : props)
      p[name] = {{"value", prop.value}, {"source", prop.source}};
    j["properties"] = p;
    json s = json::array();
    for (const auto& st : steps) {
      auto secs = step_seconds(st);
      s.push_back({{"id", st.id},
                   {"number", st.number},
                   {"name", st.name},
                   {"results", st.results ? json(*st.results) : json(nullptr)},
                   {"result", result_text(st.results, st.complete_at.has_value())},
                   {"state_string", st.state_string},
                   {"duration_s", secs ? json(*secs) : json(nullptr)},
                   {"log_lines", lines[st.id]}});
    }
    j["steps"] = s;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  int64_t end = b.complete_at ? epoch(*b.complete_at) : now_epoch();
  fmt::print("build {}: {} #{}  {}  ({})\n", b.id, Names::of(names.builders, b.builderid), b.number,
             paint_result(result_text(b.results, b.complete_at.has_value()), use_colour(stdout)),
             b.state_string);
  fmt::print("  request {}{}, master {}, worker {}\n", b.buildrequestid,
             request ? fmt::format(" (buildset {})", request->buildsetid) : "",
             Names::of(names.masters, b.masterid), Names::of(names.workers, b.workerid));
  fmt::print("  started {}, {} {}\n", local_time(b.started_at),
             b.complete_at ? "took" : "running for", duration_text(end - epoch(b.started_at)));
  if (!props.empty()) {
    fmt::print("  properties:\n");
    for (const auto& [name, prop] : props) {
      std::string v = prop.value->is_string() ? prop.value->get<std::string>() : prop.value->dump();
      fmt::print("    {} = {}  ({})\n", name, v, prop.source);
    }
  }
  fmt::print("\n");
  if (steps.empty()) {
    fmt::print("  no steps yet\n");
    return 0;
  }
  Table t({"STEP", "NAME", "RESULT", "DURATION", "LINES", "STATE"});
  t.set_result_column(2);
  for (const auto& st : steps) {
    auto secs = step_seconds(st);
    t.add({std::to_string(st.number), st.name, result_text(st.results, st.complete_at.has_value()),
           secs ? duration_text(*secs) : "-", std::to_string(lines[st.id]), st.state_string});
  }
  t.print();
  fmt::print("\nlog of a step: yardmaster log {} STEP{}\n", b.id,
             target.config ? " --db " + target.config->basedir.string() : "");
  return 0;
}

// ----------------------------------------------------------------------------- log

// `log --follow` waits for what is not there yet (the build, its step, the log) until `timeout`
// (zero: for ever). Each wait is announced once on stderr, so that stdout holds only the log.
class Waiter {
 public:
  explicit Waiter(Duration timeout)
      : timeout_(timeout), deadline_(std::chrono::steady_clock::now() + timeout) {}

  // Announces what is awaited (once per distinct message), throws CommandFailed once the time is
  // up, else sleeps one poll interval.
  void wait(const std::string& what) {
    if (what != announced_) {
      fmt::print(stderr, "waiting for {} ({})...\n", what,
                 timeout_.count() == 0 ? "no timeout"
                                       : "up to " + format_duration(timeout_) + ", see --timeout");
      std::fflush(stderr);
      announced_ = what;
    }
    if (timeout_.count() > 0 && std::chrono::steady_clock::now() >= deadline_) {
      throw CommandFailed(fmt::format("gave up waiting for {} after {} (--timeout)", what,
                                      format_duration(timeout_)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

 private:
  Duration timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::string announced_;
};

std::optional<db::Log> find_log(db::Db& db, int64_t stepid, const std::string& slug) {
  std::optional<db::Log> log;
  for (const auto& l : db.logs().get_logs(stepid).get()) {
    if (l.slug == slug || l.name == slug) log = l;
  }
  return log;
}

int show_log(const std::string& target_text, const std::string& which, const std::string& step_text,
             const std::string& log_slug, bool follow, Duration timeout) {
  if (timeout.count() < 0) throw UsageError("--timeout must not be negative");
  BuildRef ref = parse_build_ref(which);
  Target target = resolve_target(target_text);
  auto db = open_db(target.url, 1);
  Waiter waiter(timeout);
  std::optional<db::Build> found = follow ? lookup_build(*db, ref) : find_build(*db, which);
  // Following a build that has not started yet (its request waits, or no master ran its builder
  // yet): wait for it.
  while (!found) {
    waiter.wait(fmt::format("build {} to start", which));
    found = lookup_build(*db, ref);
  }
  db::Build b = *found;
  auto step = find_step(*db, b.id, step_text);
  // Following a step that has not started yet: wait for it while the build runs.
  while (!step && follow && !b.complete_at) {
    waiter.wait(fmt::format("step {} of build {} to start", step_text, b.id));
    b = *db->builds().get_build(b.id).get();
    step = find_step(*db, b.id, step_text);
  }
  if (!step) {
    std::vector<std::string> known;
    for (const auto& s : db->steps().get_steps(b.id).get()) {
      known.push_back(fmt::format("{} {}", s.number, s.name));
    }
    throw UsageError(
        fmt::format("build {} has no step '{}' (steps: {})", b.id, step_text,
                    known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
  }
  std::optional<db::Log> log = find_log(*db, step->id, log_slug);
  while (!log && follow && !step->complete_at) {
    waiter.wait(fmt::format("log {} of step {} of build {}", log_slug, step->name, b.id));
    step = db->steps().get_step(step->id).get();
    log = find_log(*db, step->id, log_slug);
  }
  if (!log) {
    throw UsageError(
        fmt::format("step {} of build {} has no log '{}'", step->name, b.id, log_slug));
  }
  // A page at a time, so that a long log never sits in memory whole.
  constexpr int64_t kPage = 2000;
  int64_t next = 0;
  for (;;) {
    while (next < log->num_lines) {
      int64_t last = std::min(log->num_lines, next + kPage) - 1;
      std::string text = db->logs().get_log_lines(log->id, next, last).get();
      std::fwrite(text.data(), 1, text.size(), stdout);
      next = last + 1;
    }
    std::fflush(stdout);
    if (!follow || log->complete) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto again = db->logs().get_log(log->id).get();
    if (!again) break;
    log = again;
  }
  return 0;
}

// ----------------------------------------------------------------------------- masters

int list_masters(const std::string& target_text, bool as_json) {
  Target target = resolve_target(target_text);
  auto db = open_db(target.url, 1);
  auto masters = db->masters().get_masters().get();
  int64_t now = now_epoch();
  json out = json::array();
  Table t({"ID", "NAME", "ACTIVE", "LAST CHECK-IN", "BUILDERS", "RUNNING BUILDS"});
  for (const auto& m : masters) {
    auto builders = db->builders().get_builders(m.id).get();
    db::BuildFilter running;
    running.complete = false;
    running.spec.where("masterid", m.id);
    auto builds = db->builds().get_builds(running).get();
    std::vector<std::string> names;
    for (const auto& b : builders) names.push_back(b.name);
    int64_t ago = now - epoch(m.last_active);
    if (as_json) {
      out.push_back({{"id", m.id},
                     {"name", m.name},
                     {"active", m.active},
                     {"last_active", epoch(m.last_active)},
                     {"seconds_since_checkin", ago},
                     {"builders", names},
                     {"running_builds", builds.size()}});
    } else {
      t.add({std::to_string(m.id), m.name, m.active ? "yes" : "no",
             fmt::format("{} ({} ago)", local_time(m.last_active),
                         duration_text(std::max<int64_t>(0, ago))),
             names.empty() ? "-" : fmt::format("{}", fmt::join(names, ",")),
             std::to_string(builds.size())});
    }
  }
  if (as_json) {
    fmt::print("{}\n", out.dump(2));
  } else if (masters.empty()) {
    fmt::print("no master has run on {} yet\n", db->describe());
  } else {
    t.print();
  }
  return 0;
}

}  // namespace

void add_master_commands(CLI::App& app, int& exit_code) {
  const std::string db_help = "master directory or database URL (default: $YARDMASTER_DB or .)";

  // create-master
  struct CreateArgs {
    std::string dir, database;
    bool force = false;
  };
  auto ca = std::make_shared<CreateArgs>();
  auto* create = app.add_subcommand("create-master",
                                    "write DIR/config.ini (commented) and create the database");
  create->add_option("DIR", ca->dir, "the master's directory (created if missing)")->required();
  create->add_option("--database", ca->database,
                     "database URL (default: sqlite:///state.sqlite, a file in DIR)");
  create->add_flag("--force", ca->force, "overwrite an existing config.ini");
  set_example(create, {"create-master ~/ci",
                       "create-master ~/ci --database 'postgresql://ci:SECRET@db.example/ci'"});
  create->callback([ca, &exit_code] {
    exit_code =
        guarded({ca->database}, [&] { return create_master(ca->dir, ca->database, ca->force); });
  });

  // run
  struct RunArgs {
    std::string dir, level = "info";
    bool until_idle = false, quiet = false;
  };
  auto ra = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand("run", "run the master in DIR until SIGTERM/SIGINT");
  run->add_option("DIR", ra->dir, "the master's directory (with config.ini)")->required();
  run->add_flag("--until-idle", ra->until_idle,
                "exit once no build request of this master's builders is left");
  auto* level = run->add_option("--log-level", ra->level,
                                "trace, debug, info (default), warn, error, critical");
  run->add_flag("--quiet,-q", ra->quiet, "log only warnings and errors (--log-level warn)")
      ->excludes(level);
  set_example(run, {"run ~/ci", "run ~/ci --until-idle --quiet"});
  run->callback([ra, &exit_code] {
    exit_code = guarded(
        {}, [&] { return run_master(ra->dir, ra->until_idle, ra->quiet ? "warn" : ra->level); });
  });

  // www
  struct WwwArgs {
    std::string target, db, listen, level = "info";
  };
  auto wa = std::make_shared<WwwArgs>();
  auto* web = app.add_subcommand(
      "www", "serve the web view and REST API of a database, read-only unless DIR sets a token");
  auto* web_target = web->add_option("TARGET", wa->target, "a master directory or a database URL");
  web->add_option("--db", wa->db, "the same as TARGET")->excludes(web_target);
  web->add_option("--listen", wa->listen,
                  "HOST:PORT (default: DIR's [www] listen, else 127.0.0.1:8010)");
  web->add_option("--log-level", wa->level, "trace, debug, info (default), warn, error, critical");
  set_example(web, {"www ~/ci", "www --db 'postgresql://ci@db.example/ci' --listen 127.0.0.1:8011"});
  web->callback([wa, &exit_code] {
    std::string target = !wa->target.empty() ? wa->target : !wa->db.empty() ? wa->db : default_target();
    exit_code = guarded({target}, [&] { return serve_web(target, wa->listen, wa->level); });
  });

  // submit
  auto sa = std::make_shared<SubmitArgs>();
  auto* sub = app.add_subcommand("submit", "request builds: one buildset, a request per builder");
  sub->add_option("TARGET", sa->target, "a master directory or a database URL")->required();
  auto* builder_opt =
      sub->add_option("--builder,-b", sa->builders, "builder to build on (repeat for several)");
  sub->add_option("--scheduler,-s", sa->scheduler,
                  "a force scheduler of DIR's config.ini: its builders, properties and stamp")
      ->excludes(builder_opt);
  sub->add_option("--reason,-r", sa->reason, "why (shown with the buildset)");
  sub->add_option("--property,-p", sa->properties,
                  "NAME=VALUE build property (repeatable); steps see YM_PROP_NAME");
  sub->add_option("--branch", sa->branch, "source stamp branch (YM_BRANCH)");
  sub->add_option("--revision", sa->revision, "source stamp revision (YM_REVISION)");
  sub->add_option("--repository", sa->repository, "source stamp repository (YM_REPOSITORY)");
  sub->add_option("--project", sa->project, "source stamp project");
  sub->add_option("--codebase", sa->codebase, "source stamp codebase");
  sub->add_option("--priority", sa->priority, "higher runs first (default 0)");
  sub->add_flag("--json", sa->json, "print the ids as JSON");
  set_example(sub, {"submit ~/ci -b linux-gcc -b docs --branch main --revision 4f2a9c1",
                    "submit ~/ci --scheduler manual --property flavour=debug"});
  sub->callback([sa, sub, &exit_code] {
    sa->priority_given = sub->count("--priority") > 0;
    exit_code = guarded({sa->target}, [&] { return submit(*sa); });
  });

  // checkconfig
  auto cc_dir = std::make_shared<std::string>();
  auto* cc =
      app.add_subcommand("checkconfig", "check DIR/config.ini without running (opens no database)");
  cc->add_option("DIR", *cc_dir, "the master's directory (with config.ini)")->required();
  set_example(cc, {"checkconfig ~/ci"});
  cc->callback(
      [cc_dir, &exit_code] { exit_code = guarded({}, [&] { return checkconfig(*cc_dir); }); });

  // reconfig
  auto rc_dir = std::make_shared<std::string>();
  auto* rc = app.add_subcommand(
      "reconfig", "check DIR/config.ini, then make the master running in DIR reload it (SIGHUP)");
  rc->add_option("DIR", *rc_dir, "the master's directory (with config.ini)")->required();
  set_example(rc, {"reconfig ~/ci"});
  rc->callback(
      [rc_dir, &exit_code] { exit_code = guarded({}, [&] { return reconfig(*rc_dir); }); });

  // change
  auto ch = std::make_shared<ChangeArgs>();
  auto* change = app.add_subcommand(
      "change", "add a change (a commit) for the schedulers, e.g. from a git hook");
  change->add_option("TARGET", ch->target, "a master directory or a database URL")->required();
  change->add_option("--repository", ch->repository, "the repository's URL or path")->required();
  change->add_option("--branch", ch->branch, "the branch committed to")->required();
  change->add_option("--revision", ch->revision, "the commit's revision")->required();
  change->add_option("--author", ch->author, "who wrote it (default: $USER)");
  change->add_option("--committer", ch->committer, "who committed it");
  change->add_option("--files", ch->files, "the files it changed (several after one --files)");
  change->add_option("--comments", ch->comments, "the commit message");
  change->add_option("--project", ch->project, "the change's project");
  change->add_option("--codebase", ch->codebase, "the change's codebase");
  change->add_option("--category", ch->category, "the change's category");
  change->add_option("--revlink", ch->revlink, "a web link to the commit");
  change->add_option("--when", ch->when,
                     "when it was committed, seconds since the epoch "
                     "(default: now)");
  change->add_option("--property,-p", ch->properties, "NAME=VALUE change property (repeatable)");
  set_example(
      change,
      {"change ~/ci --repository https://git.example.org/p.git --branch main "
       "--revision \"$(git rev-parse HEAD)\" --author \"$(git log -1 --format='%an <%ae>')\" "
       "--files $(git diff-tree --no-commit-id --name-only -r HEAD)"});
  change->callback(
      [ch, &exit_code] { exit_code = guarded({ch->target}, [&] { return add_change(*ch); }); });

  // builds
  struct BuildsArgs {
    std::string db = default_target(), builder;
    int limit = 20;
    bool json = false;
  };
  auto ba = std::make_shared<BuildsArgs>();
  auto* builds = app.add_subcommand("builds", "list recent builds, newest first");
  builds->add_option("--db", ba->db, db_help);
  builds->add_option("--builder,-b", ba->builder, "only this builder's builds");
  builds->add_option("--limit,-n", ba->limit, "how many (default 20)");
  builds->add_flag("--json", ba->json, "JSON instead of a table");
  set_example(builds, {"builds --db ~/ci --builder linux-gcc --limit 5"});
  builds->callback([ba, &exit_code] {
    exit_code =
        guarded({ba->db}, [&] { return list_builds(ba->db, ba->builder, ba->limit, ba->json); });
  });

  // build
  struct BuildArgs {
    std::string db = default_target(), which;
    bool json = false;
  };
  auto bb = std::make_shared<BuildArgs>();
  auto* build = app.add_subcommand("build", "show one build: its steps, results and durations");
  build->add_option("BUILD", bb->which, "build id, or BUILDER/NUMBER")->required();
  build->add_option("--db", bb->db, db_help);
  build->add_flag("--json", bb->json, "JSON instead of text");
  set_example(build, {"build linux-gcc/3 --db ~/ci"});
  build->callback([bb, &exit_code] {
    exit_code = guarded({bb->db}, [&] { return show_build(bb->db, bb->which, bb->json); });
  });

  // log
  struct LogArgs {
    std::string db = default_target(), which, step, log = "stdio", timeout = "10m";
    bool follow = false;
  };
  auto la = std::make_shared<LogArgs>();
  auto* log = app.add_subcommand("log", "print a step's log");
  log->add_option("BUILD", la->which, "build id, or BUILDER/NUMBER")->required();
  log->add_option("STEP", la->step, "step number or name")->required();
  log->add_option("--db", la->db, db_help);
  log->add_option("--log", la->log, "which log of the step (default: stdio)");
  log->add_flag("--follow,-f", la->follow,
                "wait for the build and step to start, then print new lines until the step ends");
  log->add_option("--timeout", la->timeout,
                  "with --follow: how long to wait for the build, step and log to start "
                  "(default 10m; 0: no limit)");
  set_example(log, {"log linux-gcc/3 compile --db ~/ci --follow"});
  log->callback([la, &exit_code] {
    exit_code = guarded({la->db}, [&] {
      auto timeout = parse_duration(la->timeout);
      if (!timeout) {
        throw UsageError(fmt::format("--timeout '{}': give a duration (30s, 10m, 1h; 0: no limit)",
                                     la->timeout));
      }
      return show_log(la->db, la->which, la->step, la->log, la->follow, *timeout);
    });
  });

  // masters
  struct MastersArgs {
    std::string db = default_target();
    bool json = false;
  };
  auto ma = std::make_shared<MastersArgs>();
  auto* masters = app.add_subcommand("masters", "list the masters sharing the database");
  masters->add_option("--db", ma->db, db_help);
  masters->add_flag("--json", ma->json, "JSON instead of a table");
  set_example(masters, {"masters --db 'postgresql://ci:SECRET@db.example/ci' --json"});
  masters->callback([ma, &exit_code] {
    exit_code = guarded({ma->db}, [&] { return list_masters(ma->db, ma->json); });
  });
}

}  // namespace ym::master
