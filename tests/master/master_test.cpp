// The `yardmaster` master process, end to end: real master processes running real shell steps
// against real databases (SQLite always; PostgreSQL and MariaDB when YM_TEST_POSTGRES_URL /
// YM_TEST_MYSQL_URL name a server), plus the configuration parser in-process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "backend/server_db.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "master/config.hpp"
#include "master/process_util.hpp"
#include "master/scratch.hpp"
#include "migrate/process.hpp"

namespace ym::test {
namespace {

using master_tests::Scratch;
using namespace master_tests;

namespace fs = std::filesystem;
namespace results = db::results;
using namespace std::chrono_literals;
using master::ConfigError;

std::string seq(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += std::to_string(i) + "\n";
  return out;
}

// The text of a step's stdio log, read a page at a time; nullopt when the step has no log.
std::optional<std::string> step_log(db::Db& db, int64_t stepid) {
  auto logs = db.logs().get_logs(stepid).get();
  if (logs.empty()) return std::nullopt;
  const auto& log = logs.front();
  std::string text;
  for (int64_t first = 0; first < log.num_lines; first += 5000) {
    text += db.logs().get_log_lines(log.id, first, std::min(log.num_lines, first + 5000) - 1).get();
  }
  return text;
}

// ----------------------------------------------------------------------------- configuration

const char* kGoodConfig = R"(# a comment
[master]
name = test-master
database = sqlite:///sub/state.sqlite
checkin_interval = 1s
expiry = 4s
poll_interval = 250ms
grace_period = 2m
step_timeout = 1.5s

[worker w1]
slots = 3

[worker w2]
builders = docs

[builder linux-gcc]
description = the main build
workers = w1
env CC = gcc
step configure = ./configure --prefix=/usr   # not a comment: part of the command
step compile = make -j2
step_timeout = 1h

[builder docs]
step build = echo "docs #1"
)";

TEST(MasterConfig, ParsesEverySectionAndKey) {
  auto c = master::parse_config(kGoodConfig, "/srv/m");
  EXPECT_EQ(c.name, "test-master");
  EXPECT_EQ(c.database, "sqlite:////srv/m/sub/state.sqlite");
  EXPECT_EQ(c.checkin_interval, 1s);
  EXPECT_EQ(c.expiry, 4s);
  EXPECT_EQ(c.poll_interval, 250ms);
  EXPECT_EQ(c.grace_period, 2min);
  EXPECT_EQ(c.step_timeout, 1500ms);
  ASSERT_EQ(c.workers.size(), 2u);
  EXPECT_EQ(c.workers[0].slots, 3);
  EXPECT_EQ(c.workers[1].slots, 1);
  ASSERT_EQ(c.builders.size(), 2u);
  const auto& gcc = c.builders[0];
  EXPECT_EQ(gcc.description, "the main build");
  EXPECT_EQ(gcc.workers, std::vector<std::string>{"w1"});
  ASSERT_EQ(gcc.steps.size(), 2u);
  EXPECT_EQ(gcc.steps[0].name, "configure");
  EXPECT_EQ(gcc.steps[0].command,
            "./configure --prefix=/usr   # not a comment: part of the command");
  EXPECT_EQ(gcc.steps[1].command, "make -j2");
  EXPECT_EQ(gcc.env, (std::vector<std::pair<std::string, std::string>>{{"CC", "gcc"}}));
  EXPECT_EQ(c.timeout_of(gcc), 1h);
  // `builders = docs` in [worker w2] links it from the worker's side.
  EXPECT_EQ(c.builders[1].workers, std::vector<std::string>{"w2"});
  EXPECT_EQ(c.timeout_of(c.builders[1]), 1500ms);
}

TEST(MasterConfig, DefaultsNameTheHostAndDirectoryAndAnSqliteFileInIt) {
  auto c = master::parse_config("[worker w]\n[builder b]\nworkers = w\nstep s = true\n", "/srv/m");
  EXPECT_EQ(c.database, "sqlite:////srv/m/state.sqlite");
  EXPECT_NE(c.name.find(":/srv/m"), std::string::npos) << c.name;
  EXPECT_EQ(c.checkin_interval, 10s);
  EXPECT_EQ(c.expiry, 60s);
}

TEST(MasterConfig, TheCreateMasterTemplateParses) {
  auto c = master::parse_config(master::default_config("sqlite:///state.sqlite"), "/srv/m");
  EXPECT_EQ(c.builders.size(), 1u);
  EXPECT_EQ(c.database, "sqlite:////srv/m/state.sqlite");
}

TEST(MasterConfig, ErrorsNameTheLine) {
  // An unknown builder (named by a worker), an unknown worker (named by a builder).
  EXPECT_EQ(config_error("[worker w]\nbuilders = nope\n[builder b]\nworkers = w\nstep s = true\n"),
            "config.ini:2: worker 'w' lists unknown builder 'nope' (builders: b)");
  EXPECT_EQ(config_error("[worker w]\n\n[builder b]\nworkers = w, x\nstep s = true\n"),
            "config.ini:4: builder 'b' lists unknown worker 'x' (workers: w)");
  // Bad identifiers: builder, worker, step names.
  EXPECT_EQ(config_error("[worker w]\n[builder linux gcc]\n"),
            "config.ini:2: invalid builder name 'linux gcc': it may contain only ASCII letters, "
            "digits, '-' and '_'");
  EXPECT_EQ(config_error("[worker 9w]\n"),
            "config.ini:1: invalid worker name '9w': it starts with a digit");
  EXPECT_EQ(config_error("[worker w]\n[builder b]\nworkers = w\nstep com pile = make\n"),
            "config.ini:4: invalid step name 'com pile': it may contain only ASCII letters, "
            "digits, '-' and '_'");
  // A missing command, and a builder without any step.
  EXPECT_EQ(
      config_error("[worker w]\n[builder b]\nworkers = w\nstep compile =\n"),
      "config.ini:4: step 'compile' of builder 'b' has no command; write: step compile = COMMAND");
  EXPECT_EQ(
      config_error("[worker w]\n[builder b]\nworkers = w\n"),
      "config.ini:2: builder 'b' has no steps; add at least one line 'step NAME = shell command'");
  // Unknown keys and sections, malformed lines and values.
  EXPECT_EQ(config_error("[master]\nchekin_interval = 1s\n")
                .rfind("config.ini:2: unknown key 'chekin_interval' in [master]", 0),
            0u);
  EXPECT_EQ(config_error("[buidler b]\n"),
            "config.ini:1: unknown section [buidler b]; expected [master], [worker NAME], "
            "[builder NAME], [changesource NAME], [scheduler NAME] or [www]");
  EXPECT_EQ(config_error("step s = true\n")
                .rfind("config.ini:1: 'step s = true' is outside any section", 0),
            0u);
  EXPECT_EQ(config_error("[worker w]\nslots 2\n"),
            "config.ini:2: expected 'key = value', got 'slots 2'");
  EXPECT_EQ(config_error("[worker w]\nslots = many\n"),
            "config.ini:2: slots = 'many': give the number of builds worker 'w' runs at once (1 to "
            "1000)");
  EXPECT_EQ(config_error("[master]\nexpiry = soon\n"),
            "config.ini:2: expiry = 'soon' is not a duration; write e.g. 500ms, 10s, 5m or 1h");
  EXPECT_EQ(config_error("[worker w]\n[builder b]\nworkers = w\nstep s = a\nstep s = b\n"),
            "config.ini:5: builder 'b' has two steps named 's' (the first on line 4)");
  EXPECT_EQ(config_error("[worker w]\n[worker w]\n"), "config.ini:2: worker 'w' is defined twice");
  // Peers would expire a live master.
  EXPECT_EQ(config_error("[master]\ncheckin_interval = 10s\nexpiry = 15s\n[worker w]\n[builder b]\n"
                         "workers = w\nstep s = true\n")
                .rfind("config.ini:3: expiry (15s) must be longer than twice checkin_interval", 0),
            0u);
}

TEST(MasterConfig, Durations) {
  EXPECT_EQ(master::parse_duration("500ms"), 500ms);
  EXPECT_EQ(master::parse_duration("10"), 10s);
  EXPECT_EQ(master::parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(master::parse_duration("2m"), 2min);
  EXPECT_EQ(master::parse_duration("1h"), 1h);
  EXPECT_EQ(master::parse_duration("1d"), std::nullopt);
  EXPECT_EQ(master::parse_duration("-1s"), std::nullopt);
  EXPECT_EQ(master::parse_duration(""), std::nullopt);
  EXPECT_EQ(master::format_duration(1500ms), "1500ms");
  EXPECT_EQ(master::format_duration(120s), "2m");
}

// ----------------------------------------------------------------------------- one master

// Three builders with real shell steps: output on stdout and stderr, long output (several log
// appends), a last line without newline, UTF-8, a property, and a builder that fails on purpose.
const char* kSqliteMaster = R"([master]
database = sqlite:///state.sqlite
checkin_interval = 1s
expiry = 4s
poll_interval = 200ms
grace_period = 5s
step_timeout = 60s

[worker w1]
slots = 2

[worker w2]
slots = 2

[builder alpha]
workers = w1, w2
step hello = echo "alpha build $YM_BUILD_NUMBER of request $YM_BUILDREQUEST_ID"; echo "to stderr" >&2
step count = seq 1 3000
step tail = printf 'x=%s\n' "$YM_PROP_x"; printf 'no newline at the end'

[builder beta]
workers = w2
step big = seq 1 30000
step utf8 = printf 'caf\303\251 \342\234\223\n'

[builder broken]
workers = w1
step fail = echo "about to fail"; exit 3
step never = echo "never runs"
)";

TEST(MasterRun, OneMasterOnSqliteRunsFiftyBuildsetsToCompletion) {
  Scratch s("ym-master");
  fs::path dir = s.path("m");
  auto [rc, out] = run({kYardmaster, "create-master", dir.string()});
  ASSERT_EQ(rc, 0) << out;
  write_file(dir / "config.ini", kSqliteMaster);

  // Submitted before the master ever ran: the directory's config names the builders.
  for (int i = 0; i < 50; ++i) {
    std::vector<std::string> argv{kYardmaster, "submit",     dir.string(),
                                  "-b",        "alpha",      "-b",
                                  "beta",      "--property", "x=value-" + std::to_string(i),
                                  "--branch",  "main",       "--json"};
    if (i % 10 == 0) argv.insert(argv.end(), {"-b", "broken"});
    auto [src, sout] = run(argv);
    ASSERT_EQ(src, 0) << sout;
  }

  auto master = start_master(dir, "--until-idle");
  int code = master->wait();
  std::string log = read_file(dir / "master.log");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("--until-idle"), std::string::npos) << log;

  auto db = db::Db::open("sqlite:///" + (dir / "state.sqlite").string());
  auto buildsets = db->buildsets().get_buildsets().get();
  ASSERT_EQ(buildsets.size(), 50u);
  for (const auto& bs : buildsets) {
    EXPECT_TRUE(bs.complete) << "buildset " << bs.bsid;
  }
  auto requests = db->buildrequests().get_build_requests().get();
  ASSERT_EQ(requests.size(), 105u);
  std::map<int64_t, std::string> builder_names;
  for (const auto& b : db->builders().get_builders().get()) builder_names[b.id] = b.name;
  auto builds = db->builds().get_builds().get();
  ASSERT_EQ(builds.size(), 105u) << "one build per request";
  std::map<int64_t, db::Build> build_of;  // brid -> build
  for (const auto& b : builds) build_of[b.buildrequestid] = b;

  for (const auto& r : requests) {
    ASSERT_TRUE(r.complete) << "request " << r.buildrequestid;
    ASSERT_TRUE(build_of.count(r.buildrequestid)) << "request " << r.buildrequestid;
    const auto& b = build_of[r.buildrequestid];
    const std::string& name = builder_names[r.builderid];
    int want = name == "broken" ? results::kFailure : results::kSuccess;
    EXPECT_EQ(r.results, want) << name;
    EXPECT_EQ(b.results, want) << name;
    ASSERT_TRUE(b.complete_at);
    auto steps = db->steps().get_steps(b.id).get();
    auto props = db->builds().get_build_properties(b.id).get();
    if (name == "alpha") {
      ASSERT_EQ(steps.size(), 3u);
      EXPECT_EQ(step_log(*db, steps[0].id), "alpha build " + std::to_string(b.number) +
                                                " of request " + std::to_string(r.buildrequestid) +
                                                "\nto stderr\n");
      EXPECT_EQ(step_log(*db, steps[1].id), seq(1, 3000));
      ASSERT_TRUE(props.count("x"));
      EXPECT_EQ(step_log(*db, steps[2].id),
                "x=" + props["x"].value->get<std::string>() + "\nno newline at the end\n");
      EXPECT_EQ(props["branch"].value, "main");
    } else if (name == "beta") {
      ASSERT_EQ(steps.size(), 2u);
      EXPECT_EQ(step_log(*db, steps[0].id), seq(1, 30000));
      EXPECT_EQ(step_log(*db, steps[1].id), "caf\xC3\xA9 \xE2\x9C\x93\n");
    } else {
      ASSERT_EQ(steps.size(), 2u);
      EXPECT_EQ(step_log(*db, steps[0].id), "about to fail\n");
      EXPECT_EQ(steps[0].results, results::kFailure);
      EXPECT_EQ(steps[0].state_string, "exit code 3");
      EXPECT_EQ(steps[1].results, results::kSkipped);
      EXPECT_EQ(step_log(*db, steps[1].id), std::nullopt) << "a skipped step runs nothing";
    }
    EXPECT_EQ(props["buildername"].value, name);
    EXPECT_EQ(props["buildnumber"].value, b.number);
  }
  for (const auto& bs : buildsets) {
    auto reqs = db->buildrequests().get_build_requests({.bsid = bs.bsid}).get();
    EXPECT_EQ(bs.results, reqs.size() == 3 ? results::kFailure : results::kSuccess);
  }
  auto masters = db->masters().get_masters().get();
  ASSERT_EQ(masters.size(), 1u);
  EXPECT_FALSE(masters[0].active) << "a stopped master is inactive";
  db->shutdown();

  // The commands for people read the same database.
  auto [brc, bout] = run({kYardmaster, "builds", "--db", dir.string(), "--limit", "5"});
  EXPECT_EQ(brc, 0) << bout;
  EXPECT_NE(bout.find("RESULT"), std::string::npos) << bout;
  auto [jrc, jout] =
      run({kYardmaster, "builds", "--db", dir.string(), "--builder", "broken", "--json"});
  ASSERT_EQ(jrc, 0) << jout;
  auto listed = nlohmann::json::parse(jout);
  ASSERT_EQ(listed.size(), 5u);
  EXPECT_EQ(listed[0]["result"], "failure");
  auto [src2, sout2] = run({kYardmaster, "build", "broken/1", "--db", dir.string()});
  EXPECT_EQ(src2, 0) << sout2;
  EXPECT_NE(sout2.find("exit code 3"), std::string::npos) << sout2;
  EXPECT_NE(sout2.find("skipped"), std::string::npos) << sout2;
  auto [lrc, lout] = run({kYardmaster, "log", "alpha/1", "count", "--db", dir.string()});
  EXPECT_EQ(lrc, 0);
  EXPECT_EQ(lout, seq(1, 3000));
  auto [mrc, mout] = run({kYardmaster, "masters", "--db", dir.string(), "--json"});
  ASSERT_EQ(mrc, 0) << mout;
  EXPECT_EQ(nlohmann::json::parse(mout)[0]["active"], false);
}

TEST(MasterRun, RefusesAnOutOfDateDatabaseNamingTheUpgradeCommand) {
  Scratch s("ym-master");
  fs::path dir = s.path("m");
  ASSERT_EQ(
      run({kYardmaster, "create-master", dir.string(), "--database", "sqlite:///old.sqlite"}).first,
      0);
  // Replace the database by one at an older schema version (or an empty one, when there is no
  // older version to make).
  fs::remove(dir / "old.sqlite");
  std::string url = "sqlite:///" + (dir / "old.sqlite").string();
  if (migrate::current_version() > 1) {
    auto conn = db::open_connection(db::Url::parse(url));
    migrate::UpgradeOptions o;
    o.target = migrate::current_version() - 1;
    migrate::upgrade(*conn, db::Url::parse(url), o);
  }
  auto master = start_master(dir, "");
  EXPECT_EQ(master->wait(), 2);
  std::string log = read_file(dir / "master.log");
  EXPECT_NE(log.find("yardmaster db upgrade '" + url + "'"), std::string::npos) << log;
  EXPECT_NE(log.find("the master did not start"), std::string::npos) << log;
}

TEST(MasterRun, BadConfigIsAClearErrorNamingTheLine) {
  Scratch s("ym-master");
  fs::path dir = s.path("m");
  ASSERT_EQ(run({kYardmaster, "create-master", dir.string()}).first, 0);
  write_file(dir / "config.ini", "[worker w]\n\n[builder b]\nworkers = w\nstep compile =\n");
  auto master = start_master(dir, "");
  EXPECT_EQ(master->wait(), 2);
  EXPECT_NE(read_file(dir / "master.log")
                .find("error: config.ini:5: step 'compile' of builder 'b' has no command"),
            std::string::npos)
      << read_file(dir / "master.log");
  auto [rc, out] = run({kYardmaster, "run", s.path("nowhere").string()});
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("yardmaster create-master"), std::string::npos) << out;
}

TEST(MasterRun, SigtermCancelsBuildsAfterTheGracePeriodAndReleasesTheirRequests) {
  Scratch s("ym-master");
  fs::path dir = s.path("m");
  ASSERT_EQ(run({kYardmaster, "create-master", dir.string()}).first, 0);
  write_file(dir / "config.ini", R"([master]
checkin_interval = 1s
expiry = 4s
poll_interval = 200ms
grace_period = 1s
[worker w]
slots = 1
[builder slow]
workers = w
step first = echo started
step wait = sleep 600
step after = echo never
)");
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "-b", "slow"}).first, 0);
  auto master = start_master(dir, "");
  auto db = db::Db::open("sqlite:///" + (dir / "state.sqlite").string());
  ASSERT_TRUE(
      eventually([&] { return db->steps().get_step_by_name(1, "wait").get().has_value(); }, 30s))
      << read_file(dir / "master.log");
  ASSERT_EQ(kill(master_pid(dir), SIGTERM), 0);
  // The grace period, then SIGTERM to the step: a master that waited for the 600 s step instead
  // would be killed by start_master's time limit (exit 124), and its step not be cancelled.
  EXPECT_EQ(master->wait(), 0) << read_file(dir / "master.log");
  auto build = db->builds().get_build(1).get();
  ASSERT_TRUE(build);
  EXPECT_EQ(build->results, results::kCancelled);
  auto steps = db->steps().get_steps(1).get();
  ASSERT_EQ(steps.size(), 2u) << "no step after the cancelled one";
  EXPECT_EQ(steps[1].results, results::kCancelled);
  auto request = db->buildrequests().get_build_request(build->buildrequestid).get();
  EXPECT_FALSE(request->complete);
  EXPECT_FALSE(request->claimed) << "released for another master";
  EXPECT_FALSE(db->masters().get_masters().get()[0].active);
  db->shutdown();
}

TEST(MasterRun, AStepOverItsTimeoutIsKilledWithItsProcessGroupAndLeavesNothingBehind) {
  Scratch s("ym-master");
  fs::path dir = s.path("m");
  ASSERT_EQ(run({kYardmaster, "create-master", dir.string()}).first, 0);
  write_file(dir / "config.ini", R"([master]
checkin_interval = 1s
expiry = 4s
poll_interval = 200ms
step_timeout = 1s
[worker w]
slots = 2
[builder hangs]
workers = w
step hang = sleep 300 & echo $! > ../hang.pid; echo waiting; sleep 300
step next = echo never
[builder leaves]
workers = w
step leave = sleep 300 & echo $! > ../leave.pid; echo "left one sleeping"
)");
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "-b", "hangs", "-b", "leaves"}).first, 0);
  // A master that waited for the 300 s steps would be killed by the time limit (exit 124).
  auto master = start_master(dir, "--until-idle", 60s);
  ASSERT_EQ(master->wait(), 0) << read_file(dir / "master.log");

  auto db = db::Db::open("sqlite:///" + (dir / "state.sqlite").string());
  auto hangs =
      db->builds().get_build_by_number(*db->builders().find_builder_id("hangs").get(), 1).get();
  ASSERT_TRUE(hangs);
  EXPECT_EQ(hangs->results, results::kFailure);
  auto steps = db->steps().get_steps(hangs->id).get();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].state_string, "timed out after 1s");
  EXPECT_EQ(step_log(*db, steps[0].id), "waiting\n");
  EXPECT_EQ(steps[1].results, results::kSkipped);
  auto leaves =
      db->builds().get_build_by_number(*db->builders().find_builder_id("leaves").get(), 1).get();
  ASSERT_TRUE(leaves);
  EXPECT_EQ(leaves->results, results::kSuccess);
  EXPECT_EQ(step_log(*db, db->steps().get_steps(leaves->id).get()[0].id), "left one sleeping\n");
  db->shutdown();
  // The background processes went with their steps' process groups (dead; perhaps a zombie
  // until init reaps it).
  auto gone = [](pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    return stat.empty() || (paren != std::string::npos && stat.compare(paren, 3, ") Z") == 0);
  };
  for (const char* file : {"hang.pid", "leave.pid"}) {
    std::string pid = read_file(dir / "builds" / (file[0] == 'h' ? "hangs" : "leaves") / file);
    ASSERT_FALSE(pid.empty()) << file;
    EXPECT_TRUE(eventually([&] { return gone(static_cast<pid_t>(std::stol(pid))); }, 30s))
        << file << ": still running";
  }
}

// ----------------------------------------------------------------------------- several masters

struct Shared {
  db::Backend backend;
  std::string name;
};
void PrintTo(const Shared& s, std::ostream* os) { *os << s.name; }

class MasterProcesses : public testing::TestWithParam<Shared> {
 protected:
  void SetUp() override {
    const auto b = GetParam().backend;
    if (b == db::Backend::kSqlite) {
      // Several masters on one host may share an SQLite file: always tested.
      const char* base = std::getenv("YM_TEST_TMPDIR");
      sqlite_file_ = fs::path(base ? base : fs::temp_directory_path().string()) /
                     ("ym-master-shared-" + std::to_string(::getpid()) + ".sqlite");
      for (const char* suffix : {"", "-wal", "-shm", ".migrate-lock"}) {
        fs::remove(sqlite_file_.string() + suffix);
      }
      url_ = "sqlite:///" + sqlite_file_.string();
      db_ = db::Db::open(url_);
      return;
    }
    const bool bouncer = GetParam().name == "pgbouncer";
    const bool galera = GetParam().name == "galera";
    const char* var = bouncer                       ? "YM_TEST_PGBOUNCER_URL"
                      : galera                      ? "YM_TEST_GALERA_URL"
                      : b == db::Backend::kPostgres ? "YM_TEST_POSTGRES_URL"
                                                    : "YM_TEST_MYSQL_URL";
    const char* set = std::getenv(var);
    if (!set || !*set) {
      if (running_in_ci()) FAIL() << var << " is not set: CI must test this backend";
      GTEST_SKIP() << var << " is not set (scripts/test starts a server and sets it)";
    }
    // Through PgBouncer (pool_mode=transaction) the masters never touch the migration lock: the
    // schema is made directly, and they find it current.
    url_ = bouncer  ? pgbouncer_database_url()
           : galera ? galera_database_url()
                    : clean_database_url(b);
    db_ = db::Db::open(url_);
  }
  void TearDown() override {
    if (db_) db_->shutdown();
    if (!sqlite_file_.empty()) {
      for (const char* suffix : {"", "-wal", "-shm", ".migrate-lock"}) {
        fs::remove(sqlite_file_.string() + suffix);
      }
    }
  }

  // A master directory sharing the database: three builders, two workers of two slots. Each
  // work step first passes the Gate of its worker (gates_/WORKER), open unless a test holds it.
  fs::path make_master(Scratch& s, int i) {
    fs::path dir = s.path("m" + std::to_string(i));
    std::string w = "m" + std::to_string(i);
    gates_ = s.path("gates");
    fs::create_directories(gates_);
    const std::string work = "step work = flock -s '" + gates_.string() +
                             "'/\"$YM_WORKER\" true; echo \"request $YM_BUILDREQUEST_ID\"; "
                             "sleep 0.1\n";
    // On a Galera cluster each master reaches its own node first (and the others after it).
    const std::string url = GetParam().name == "galera" ? hosts_rotated(url_, i) : url_;
    write_file(dir / "config.ini", "[master]\ndatabase = " + url +
                                       "\ncheckin_interval = 1s\nexpiry = 4s\npoll_interval = 300ms"
                                       "\ngrace_period = 5s\n"
                                       "[worker " +
                                       w + "-a]\nslots = 2\n[worker " + w +
                                       "-b]\nslots = 2\n"
                                       "[builder b1]\nworkers = " +
                                       w + "-a, " + w + "-b\n" + work +
                                       "[builder b2]\nworkers = " + w + "-a, " + w + "-b\n" + work +
                                       "[builder b3]\nworkers = " + w + "-b\n" + work +
                                       "step check = test -n \"$YM_BUILD_ID\"\n");
    return dir;
  }

  // 100 buildsets of three requests (one per builder).
  void submit_300() {
    std::vector<int64_t> builders;
    for (const char* n : {"b1", "b2", "b3"})
      builders.push_back(*db_->builders().find_builder_id(n).get());
    for (int i = 0; i < 100; ++i) {
      db::NewBuildset bs;
      bs.reason = "test " + std::to_string(i);
      bs.builderids = builders;
      db_->buildsets().add_buildset(bs).get();
    }
  }

  // The master id of each directory's master (those registered so far), by index in `dirs`.
  std::map<size_t, int64_t> master_ids(const std::vector<fs::path>& dirs) {
    std::map<size_t, int64_t> ids;
    for (const auto& m : db_->masters().get_masters().get()) {
      for (size_t i = 0; i < dirs.size(); ++i) {
        if (m.name.size() >= dirs[i].string().size() &&
            m.name.compare(m.name.size() - dirs[i].string().size(), std::string::npos,
                           dirs[i].string()) == 0) {
          ids[i] = m.id;
        }
      }
    }
    return ids;
  }

  // Builds of `masterid` with an id above `above`: unfinished ones, or successful ones.
  int64_t builds_of(int64_t masterid, bool unfinished, int64_t above = 0) {
    int64_t n = 0;
    for (const auto& b : db_->builds().get_builds().get()) {
      if (b.masterid != masterid || b.id <= above) continue;
      if (unfinished ? !b.complete_at : b.results == results::kSuccess) ++n;
    }
    return n;
  }

  int64_t complete_requests() {
    return static_cast<int64_t>(
        db_->buildrequests().get_build_requests({.complete = true}).get().size());
  }

  // The gates of the first `n` masters' workers, held: no build passes them until released.
  std::vector<std::unique_ptr<Gate>> hold_every_gate(size_t n) {
    std::vector<std::unique_ptr<Gate>> gates;
    for (size_t i = 0; i < n; ++i) {
      for (const char* w : {"-a", "-b"}) {
        gates.push_back(std::make_unique<Gate>(gates_ / ("m" + std::to_string(i) + w)));
      }
    }
    return gates;
  }

  // Whether the master of every directory has registered and runs a build.
  bool every_master_runs_a_build(const std::vector<fs::path>& dirs) {
    auto ids = master_ids(dirs);
    if (ids.size() != dirs.size()) return false;
    for (const auto& [i, id] : ids) {
      if (builds_of(id, /*unfinished=*/true) == 0) return false;
    }
    return true;
  }

  // For a failure message: requests complete, and per master its id, builds (unfinished,
  // successful) and the end of its log.
  std::string progress(const std::vector<fs::path>& dirs) {
    std::string out = std::to_string(complete_requests()) + " of 300 requests complete\n";
    auto ids = master_ids(dirs);
    for (size_t i = 0; i < dirs.size(); ++i) {
      out += "master " + std::to_string(i) + ": ";
      if (auto it = ids.find(i); it == ids.end()) {
        out += "not registered";
      } else {
        out += "id " + std::to_string(it->second) + ", " +
               std::to_string(builds_of(it->second, /*unfinished=*/true)) + " unfinished, " +
               std::to_string(builds_of(it->second, /*unfinished=*/false)) + " successful";
      }
      std::string log = read_file(dirs[i] / "master.log");
      if (log.size() > 3000) log = "..." + log.substr(log.size() - 3000);
      out += "; log:\n" + log + "\n";
    }
    return out;
  }

  // Every request complete, built successfully exactly once; returns builds per master id.
  std::map<int64_t, int> check_every_request_built_once() {
    auto requests = db_->buildrequests().get_build_requests().get();
    EXPECT_EQ(requests.size(), 300u);
    std::map<int64_t, int> successes;  // brid -> successful builds
    std::map<int64_t, int> per_master;
    for (const auto& b : db_->builds().get_builds().get()) {
      EXPECT_TRUE(b.complete_at) << "build " << b.id << " never finished";
      if (b.results == results::kSuccess) {
        ++successes[b.buildrequestid];
        ++per_master[b.masterid];
      }
    }
    for (const auto& r : requests) {
      EXPECT_TRUE(r.complete) << "request " << r.buildrequestid;
      EXPECT_EQ(r.results, results::kSuccess) << "request " << r.buildrequestid;
      EXPECT_EQ(successes[r.buildrequestid], 1) << "request " << r.buildrequestid;
    }
    for (const auto& bs : db_->buildsets().get_buildsets().get()) {
      EXPECT_TRUE(bs.complete) << "buildset " << bs.bsid;
    }
    return per_master;
  }

  std::string url_;
  fs::path sqlite_file_;
  fs::path gates_;
  std::unique_ptr<db::Db> db_;
};

TEST_P(MasterProcesses, ThreeMastersBuildEveryRequestExactlyOnce) {
  Scratch s("ym-master");
  std::vector<fs::path> dirs;
  for (int i = 0; i < 3; ++i) dirs.push_back(make_master(s, i));
  // Every master takes part: no build gets past its gate until each master runs one.
  auto gates = hold_every_gate(dirs.size());
  submit_300();
  std::vector<std::unique_ptr<Child>> masters;
  for (const auto& d : dirs) masters.push_back(start_master(d, "--until-idle"));
  EXPECT_TRUE(eventually([&] { return every_master_runs_a_build(dirs); }, 120s))
      << "every master runs a build\n"
      << progress(dirs);
  gates.clear();
  for (size_t i = 0; i < masters.size(); ++i) {
    EXPECT_EQ(masters[i]->wait(), 0) << read_file(dirs[i] / "master.log");
  }
  auto per_master = check_every_request_built_once();
  EXPECT_EQ(per_master.size(), 3u) << "every master takes part";
  for (const auto& [m, n] : per_master) std::cout << "master " << m << " built " << n << "\n";
  for (const auto& m : db_->masters().get_masters().get()) EXPECT_FALSE(m.active) << m.name;
}

TEST_P(MasterProcesses, AKilledMasterIsExpiredByAPeerAndItsRequestsAreRebuilt) {
  Scratch s("ym-master");
  std::vector<fs::path> dirs;
  for (int i = 0; i < 3; ++i) dirs.push_back(make_master(s, i));
  // Every master takes part: no build gets past its gate until each master runs one.
  auto gates = hold_every_gate(dirs.size());
  submit_300();
  std::vector<std::unique_ptr<Child>> masters;
  for (const auto& d : dirs) masters.push_back(start_master(d, "--until-idle"));
  ASSERT_TRUE(eventually([&] { return every_master_runs_a_build(dirs); }, 120s))
      << "every master runs a build\n"
      << progress(dirs);
  gates.clear();
  // Mid-run: some requests done, every master with a successful build (those held above).
  ASSERT_TRUE(eventually(
      [&] {
        auto ids = master_ids(dirs);
        if (complete_requests() < 60 || ids.size() != dirs.size()) return false;
        for (const auto& [i, id] : ids) {
          if (builds_of(id, /*unfinished=*/false) == 0) return false;
        }
        return true;
      },
      120s))
      << progress(dirs);
  // Then the victim's builds stop at their gates: a step blocked there (the kernel lists it as
  // a waiter on the lock) keeps its build running until the victim is killed.
  const int64_t victim_id = master_ids(dirs).at(0);
  Gate gate_a(gates_ / "m0-a"), gate_b(gates_ / "m0-b");
  ASSERT_TRUE(eventually([&] { return gate_a.waiters() + gate_b.waiters() > 0; }, 120s))
      << "a build of the victim waits at its gates\n"
      << progress(dirs);
  ASSERT_GT(builds_of(victim_id, /*unfinished=*/true), 0);
  pid_t victim = master_pid(dirs[0]);
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_EQ(masters[0]->wait(), 128 + SIGKILL);
  // Its steps waiting at the gates go on, and end on the pipe of a dead master.
  gate_a.release();
  gate_b.release();
  auto killed_at = std::chrono::steady_clock::now();
  for (size_t i = 1; i < masters.size(); ++i) {
    EXPECT_EQ(masters[i]->wait(), 0) << read_file(dirs[i] / "master.log");
  }
  std::cout << "the survivors finished "
            << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                killed_at)
                   .count()
            << " s after the kill\n";
  auto per_master = check_every_request_built_once();

  // Exactly one survivor expired the victim, which is inactive, its unfinished builds retried.
  std::string victim_name;
  for (const auto& m : db_->masters().get_masters().get()) {
    if (m.id == victim_id) victim_name = m.name;
    EXPECT_FALSE(m.active) << m.name;
  }
  ASSERT_FALSE(victim_name.empty());
  int expired_by = 0;
  for (size_t i = 1; i < dirs.size(); ++i) {
    std::string log = read_file(dirs[i] / "master.log");
    if (log.find("master " + victim_name + " (id " + std::to_string(victim_id) +
                 ") has not checked in") != std::string::npos) {
      ++expired_by;
    }
  }
  EXPECT_EQ(expired_by, 1);
  int retried = 0;
  for (const auto& b : db_->builds().get_builds().get()) {
    if (b.masterid == victim_id && b.results == results::kRetry) ++retried;
  }
  EXPECT_GE(retried, 1) << "the victim was killed with a build held at its gate: it ends as retry";
  EXPECT_EQ(per_master.size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MasterProcesses,
                         testing::Values(Shared{db::Backend::kSqlite, "sqlite"},
                                         Shared{db::Backend::kPostgres, "postgres"},
                                         Shared{db::Backend::kMysql, "mysql"},
                                         Shared{db::Backend::kPostgres, "pgbouncer"},
                                         Shared{db::Backend::kMysql, "galera"}),
                         [](const testing::TestParamInfo<Shared>& i) { return i.param.name; });

}  // namespace
}  // namespace ym::test
