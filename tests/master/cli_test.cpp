// The `yardmaster` command line's conventions, checked on the real binary: exit codes, read-only
// commands that create nothing, `db upgrade` that needs a yes from a terminal or --yes, `-` for
// standard input and output, --json, --quiet, colour (only on a terminal, never with NO_COLOR,
// a failure never green), `log --follow` on a build that has not started, and the example at the
// end of every --help. Terminals are real: a pseudo-terminal pair per run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/extension.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"
#include "db/url.hpp"
#include "master/scratch.hpp"
#include "migrate/process.hpp"

extern char** environ;

namespace ym::test {
namespace {

using master_tests::Scratch;

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kYm = YM_YARDMASTER_BIN;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

struct Ran {
  int rc = -1;
  std::string out, err;  // on a terminal, both are in `out`
};

std::ostream& operator<<(std::ostream& os, const Ran& r) {
  return os << "exit " << r.rc << "\n--- stdout:\n" << r.out << "\n--- stderr:\n" << r.err;
}

// The environment of a child: ours without the variables these tests set themselves, and with
// `extra` ("NAME=VALUE") replacing ours of the same names.
std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    if (v.rfind("NO_COLOR=", 0) == 0 || v.rfind("TERM=", 0) == 0 ||
        v.rfind("YARDMASTER_DB=", 0) == 0) {
      continue;
    }
    bool replaced = false;
    for (const auto& x : extra) {
      replaced = replaced || v.rfind(x.substr(0, x.find('=') + 1), 0) == 0;
    }
    if (replaced) continue;
    env.push_back(v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            posix_spawn_file_actions_t* actions) {
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), actions, nullptr, cargv.data(), cenv.data());
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

constexpr auto kLimit = 120s;  // a command that hangs fails its test instead of hanging it

// Runs yardmaster with `args`, `input` on its standard input (a pipe) and stdout and stderr
// captured apart.
Ran run(const std::vector<std::string>& args, const std::string& input = "",
        const std::vector<std::string>& env = {}) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<std::string> argv{kYm};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv, child_env(env), &actions);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  signal(SIGPIPE, SIG_IGN);  // a child that does not read its input must not kill the test
  Ran r;
  size_t written = 0;
  int to_child = in[1];
  if (input.empty()) {
    close(to_child);
    to_child = -1;
  }
  auto deadline = std::chrono::steady_clock::now() + kLimit;
  int open_outputs = 2;
  while (open_outputs > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      ADD_FAILURE() << "yardmaster did not finish within the limit";
      break;
    }
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {to_child, POLLOUT, 0}};
    poll(fds, to_child >= 0 ? 3 : 2, 1000);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        (i == 0 ? out[0] : err[0]) = -1;
        --open_outputs;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
    if (to_child >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(to_child, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) {
        close(to_child);
        to_child = -1;
      }
    }
  }
  if (to_child >= 0) close(to_child);
  if (out[0] >= 0) close(out[0]);
  if (err[0] >= 0) close(err[0]);
  r.rc = reap(pid);
  return r;
}

// Runs yardmaster with standard input, output and error on a pseudo-terminal; `input` is typed
// at it. Output has the terminal's \r\n line ends.
Ran run_on_terminal(const std::vector<std::string>& args, const std::string& input = "",
                    const std::vector<std::string>& env = {}) {
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    throw std::runtime_error("no pseudo-terminal");
  }
  fcntl(master, F_SETFD, FD_CLOEXEC);
  std::string slave = ptsname(master);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, slave.c_str(), O_RDWR | O_NOCTTY, 0);
  posix_spawn_file_actions_adddup2(&actions, 0, 1);
  posix_spawn_file_actions_adddup2(&actions, 0, 2);
  std::vector<std::string> argv{kYm};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv, child_env(env), &actions);
  posix_spawn_file_actions_destroy(&actions);
  // Typed ahead: the terminal keeps it until the program reads its answer.
  if (!input.empty() && write(master, input.data(), input.size()) < 0) {
    ADD_FAILURE() << "cannot type at the terminal";
  }
  Ran r;
  auto deadline = std::chrono::steady_clock::now() + kLimit;
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      ADD_FAILURE() << "yardmaster did not finish within the limit";
      break;
    }
    pollfd fd{master, POLLIN, 0};
    if (poll(&fd, 1, 1000) <= 0) continue;
    char buf[65536];
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO: the program closed the terminal (it ended)
    r.out.append(buf, static_cast<size_t>(n));
  }
  close(master);
  r.rc = reap(pid);
  return r;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A master directory with two builders: `greet` succeeds, `lint` fails (and skips its second
// step). Fast timings, so that `run --until-idle` takes a second or two.
fs::path make_master(const Scratch& s, const std::string& name = "master") {
  fs::path dir = s.path(name);
  Ran created = run({"create-master", dir.string()});
  EXPECT_EQ(created.rc, 0) << created;
  write_file(dir / "config.ini", R"([master]
database = sqlite:///state.sqlite
checkin_interval = 1s
expiry = 4s
poll_interval = 250ms

[worker local]
slots = 2

[builder greet]
workers = local
step greet = echo hello-from-the-greet-step

[builder lint]
workers = local
step style = echo "bad style" >&2; exit 1
step report = echo never printed
)");
  return dir;
}

// `make_master`, with one greet build and one lint build done.
fs::path make_master_with_builds(const Scratch& s, const std::string& name = "master") {
  fs::path dir = make_master(s, name);
  Ran submitted = run({"submit", dir.string(), "-b", "greet", "-b", "lint"});
  EXPECT_EQ(submitted.rc, 0) << submitted;
  Ran ran = run({"run", dir.string(), "--until-idle", "--quiet"});
  EXPECT_EQ(ran.rc, 0) << ran;
  return dir;
}

// An SQLite database at schema version 1 (older than this program).
std::string make_old_database(const Scratch& s, const std::string& name) {
  write_file(s.path(name), "");  // a zero-length file is an empty SQLite database
  std::string url = s.url(name);
  Ran up = run({"db", "upgrade", url, "--to", "1", "--yes", "--quiet"});
  EXPECT_EQ(up.rc, 0) << up;
  return url;
}

std::optional<int> schema_version(const std::string& url) {
  Ran st = run({"db", "status", url, "--json"});
  auto j = json::parse(st.out);
  if (j.at(0).at("schema_version").is_null()) return std::nullopt;
  return j.at(0).at("schema_version").get<int>();
}

// ----------------------------------------------------------------------------- exit codes

TEST(CommandLine, HelpAndVersionExitZero) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"--version"},
                                        {"builds", "--help"},
                                        {"db", "--help"},
                                        {"db", "upgrade", "--help"},
                                        {"-h"}}) {
    Ran r = run(args);
    EXPECT_EQ(r.rc, 0) << args[0] << " " << r;
    EXPECT_FALSE(r.out.empty()) << r;
  }
  EXPECT_TRUE(has(run({"--version"}).out, "yardmaster ")) << run({"--version"});
}

TEST(CommandLine, UsageErrorsExitTwoWhateverCli11Calls) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  // Each of these got one of CLI11's own codes (104 to 109) before.
  const std::vector<std::vector<std::string>> usage = {
      {},                                                       // no command
      {"--no-such-flag"},                                       // unknown flag
      {"no-such-command"},                                      // unknown command
      {"builds", "--limit", "many"},                            // not a number
      {"builds", "--db", dir.string(), "extra"},                // extra argument
      {"log", "1"},                                             // missing STEP
      {"db"},                                                   // db needs a subcommand
      {"submit", dir.string()},                                 // --builder is required
      {"run", dir.string(), "--quiet", "--log-level", "info"},  // exclusive
  };
  for (const auto& args : usage) {
    Ran r = run(args);
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_EQ(r.rc, 2) << line << r;
    EXPECT_FALSE(r.err.empty()) << line << r;  // says what is wrong
  }
}

TEST(CommandLine, InputErrorsExitTwoWithAMessage) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  write_file(s.path("bad/config.ini"), "[master]\nno_such_key = 1\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"build", "99", "--db", dir.string()}, "no build 99"},
      {{"build", "nonsense", "--db", dir.string()}, "is not a build"},
      {{"build", "nobody/1", "--db", dir.string()}, "no builder 'nobody'"},
      {{"log", "99", "greet", "--db", dir.string()}, "no build 99"},
      {{"builds", "--db", "oracle://x@y/z"}, "invalid database URL"},
      {{"builds", "--db", dir.string(), "--builder", "nobody"}, "no builder 'nobody'"},
      {{"builds", "--db", s.path("not-a-master").string()}, "neither a master directory"},
      {{"run", s.path("bad").string()}, "config.ini"},
      {{"db", "dump", s.url("x.sqlite"), "out", "--format", "xml"}, "--format"},
      {{"log", "1", "greet", "--db", dir.string(), "--follow", "--timeout", "soon"}, "--timeout"},
  };
  for (const auto& [args, message] : cases) {
    Ran r = run(args);
    EXPECT_EQ(r.rc, 2) << args[0] << " " << args[1] << ": " << r;
    EXPECT_TRUE(has(r.err, "error: ")) << r;
    EXPECT_TRUE(has(r.err, message)) << "no '" << message << "' in " << r;
  }
}

TEST(CommandLine, StatusExitCodeTellsUpToDateOldOrUnreadable) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  std::string current = "sqlite:///" + (dir / "state.sqlite").string();
  std::string old = make_old_database(s, "old.sqlite");
  EXPECT_EQ(run({"db", "status", current}).rc, 0);
  EXPECT_EQ(run({"db", "status", current, old}).rc, 1);
  EXPECT_EQ(run({"db", "status", current, old, s.url("missing.sqlite")}).rc, 2);
}

// ----------------------------------------------------------------------------- create nothing

TEST(CommandLine, ReadOnlyCommandsNeverCreateADatabase) {
  Scratch s("ym-cli");
  fs::path missing = s.path("typo.sqlite");
  std::string url = s.url("typo.sqlite");
  // A master directory whose database file went missing.
  fs::path dir = make_master(s);
  fs::remove(dir / "state.sqlite");
  fs::path dir_db = dir / "state.sqlite";
  const std::vector<std::vector<std::string>> commands = {
      {"db", "status", url},
      {"db", "status", url, "--json"},
      {"db", "dump", url, s.path("out.dump").string()},
      {"db", "dump", url, "-"},
      {"db", "upgrade", url, "--yes"},
      {"db", "copy", url, s.url("copy.sqlite")},
      {"builds", "--db", url},
      {"build", "1", "--db", url},
      {"log", "1", "greet", "--db", url},
      {"masters", "--db", url},
      {"submit", url, "-b", "greet"},
      {"builds", "--db", dir.string()},
      {"masters", "--db", dir.string()},
      {"submit", dir.string(), "-b", "greet"},
      {"run", dir.string(), "--until-idle"},
  };
  for (const auto& args : commands) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    Ran r = run(args);
    EXPECT_EQ(r.rc, 2) << line << r;
    EXPECT_TRUE(has(r.out + r.err, "no database at")) << line << r;
    for (const auto& p : {missing, dir_db, s.path("out.dump"), s.path("copy.sqlite")}) {
      EXPECT_FALSE(fs::exists(p)) << line << "created " << p;
      EXPECT_FALSE(fs::exists(p.string() + "-wal")) << line << "created " << p << "-wal";
    }
  }
  // The same through $YARDMASTER_DB.
  Ran r = run({"builds"}, "", {"YARDMASTER_DB=" + url});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_FALSE(fs::exists(missing));
}

// ----------------------------------------------------------------------------- db upgrade

TEST(CommandLine, UpgradeRefusesPipedInputWithoutYes) {
  Scratch s("ym-cli");
  std::string url = make_old_database(s, "old.sqlite");
  ASSERT_EQ(schema_version(url), 1);
  // `echo | yardmaster db upgrade URL`, and even a "y" through a pipe: not a person's answer.
  for (const std::string input : {"\n", "y\n", ""}) {
    Ran r = run({"db", "upgrade", url}, input);
    EXPECT_EQ(r.rc, 2) << r;
    EXPECT_TRUE(has(r.err, "--yes")) << r;
    EXPECT_TRUE(has(r.out, "Will run:")) << r;  // the plan is shown
    EXPECT_EQ(schema_version(url), 1) << "migrations applied with input '" << input << "'";
  }
  Ran yes = run({"db", "upgrade", url, "--yes"});
  EXPECT_EQ(yes.rc, 0) << yes;
  EXPECT_EQ(schema_version(url), migrate::current_version());
}

TEST(CommandLine, UpgradeAtATerminalProceedsOnlyOnAnExplicitYes) {
  Scratch s("ym-cli");
  std::string url = make_old_database(s, "old.sqlite");
  for (const std::string answer : {"\n", "n\n", "no\n", "sure\n"}) {
    Ran r = run_on_terminal({"db", "upgrade", url}, answer);
    EXPECT_EQ(r.rc, 1) << "answer '" << answer << "': " << r;
    EXPECT_TRUE(has(r.out, "Proceed? [y/N]")) << r;
    EXPECT_TRUE(has(r.out, "Nothing changed.")) << r;
    EXPECT_EQ(schema_version(url), 1) << "answer '" << answer << "' applied migrations";
  }
  Ran r = run_on_terminal({"db", "upgrade", url}, "y\n");
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out, "is at schema version " + std::to_string(migrate::current_version())))
      << r;
  EXPECT_EQ(schema_version(url), migrate::current_version());
}

TEST(CommandLine, QuietUpgradePrintsNothingOnSuccess) {
  Scratch s("ym-cli");
  std::string url = make_old_database(s, "old.sqlite");
  Ran r = run({"db", "upgrade", url, "--yes", "--quiet"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "") << r;
  EXPECT_EQ(r.err, "") << r;
  EXPECT_EQ(schema_version(url), migrate::current_version());
}

// ----------------------------------------------------------------------------- dump and restore

TEST(CommandLine, DumpToStdoutAndRestoreFromStdinRoundTrip) {
  Scratch s("ym-cli");
  fs::path dir = make_master_with_builds(s);
  std::string url = "sqlite:///" + (dir / "state.sqlite").string();
  Ran dumped = run({"db", "dump", url, "-", "--format", "portable"});
  ASSERT_EQ(dumped.rc, 0) << dumped;
  // stdout is the dump alone: every line is JSON; the summary went to stderr.
  ASSERT_FALSE(dumped.out.empty());
  std::istringstream lines(dumped.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(json::accept(line)) << "line " << n << ": " << line.substr(0, 200);
    ++n;
  }
  EXPECT_GT(n, 10);
  EXPECT_TRUE(has(dumped.err, "dumped")) << dumped.err;
  EXPECT_TRUE(has(dumped.err, "standard output")) << dumped.err;

  std::string copy = s.url("restored.sqlite");
  Ran restored = run({"db", "restore", "-", copy}, dumped.out);
  ASSERT_EQ(restored.rc, 0) << restored;
  EXPECT_TRUE(has(restored.err, "restored")) << restored;
  for (std::vector<std::string> what : {std::vector<std::string>{"builds", "--json"},
                                        {"build", "lint/1", "--json"},
                                        {"build", "greet/1", "--json"}}) {
    auto a = what, b = what;
    a.insert(a.end(), {"--db", url});
    b.insert(b.end(), {"--db", copy});
    Ran ra = run(a), rb = run(b);
    ASSERT_EQ(ra.rc, 0) << ra;
    ASSERT_EQ(rb.rc, 0) << rb;
    EXPECT_EQ(json::parse(ra.out), json::parse(rb.out)) << what[0];
  }
  // The restored log is the original's.
  Ran log = run({"log", "greet/1", "greet", "--db", copy});
  EXPECT_EQ(log.rc, 0) << log;
  EXPECT_TRUE(has(log.out, "hello-from-the-greet-step")) << log;

  // A truncated dump on stdin changes nothing and says so.
  std::string half = dumped.out.substr(0, dumped.out.size() / 2);
  Ran bad = run({"db", "restore", "-", s.url("half.sqlite")}, half);
  EXPECT_NE(bad.rc, 0) << bad;
  EXPECT_TRUE(has(bad.err, "error: ")) << bad;
  EXPECT_EQ(schema_version(s.url("half.sqlite")), std::nullopt);
}

TEST(CommandLine, SqlDumpToStdoutAndQuietDump) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  std::string url = "sqlite:///" + (dir / "state.sqlite").string();
  Ran sql = run({"db", "dump", url, "-"});
  ASSERT_EQ(sql.rc, 0) << sql;
  EXPECT_TRUE(has(sql.out, "CREATE TABLE")) << sql.out.substr(0, 500);
  Ran quiet = run({"db", "dump", url, "-", "--quiet"});
  ASSERT_EQ(quiet.rc, 0) << quiet;
  EXPECT_EQ(quiet.err, "");
  EXPECT_TRUE(has(quiet.out, "CREATE TABLE"));
  Ran to_file = run({"db", "dump", url, s.path("d.dump").string(), "--format", "portable", "-q"});
  EXPECT_EQ(to_file.rc, 0) << to_file;
  EXPECT_EQ(to_file.out + to_file.err, "");
  EXPECT_TRUE(fs::exists(s.path("d.dump")));
  Ran restore = run({"db", "restore", s.path("d.dump").string(), s.url("r.sqlite"), "--quiet"});
  EXPECT_EQ(restore.rc, 0) << restore;
  EXPECT_EQ(restore.out + restore.err, "");
  Ran copy = run({"db", "copy", url, s.url("c.sqlite"), "--quiet"});
  EXPECT_EQ(copy.rc, 0) << copy;
  EXPECT_EQ(copy.out + copy.err, "");
  EXPECT_EQ(schema_version(s.url("c.sqlite")), migrate::current_version());
}

// ----------------------------------------------------------------------------- extensions

// A downstream program's tables (db/extension.hpp) in a database: the stock program lists what
// the database records, without judging an extension it does not register.
TEST(CommandLine, DbStatusListsExtensionsItDoesNotRegister) {
  Scratch s("ym-cli");
  write_file(s.path("ext.sqlite"), "");
  std::string url = s.url("ext.sqlite");
  {
    db::clear_extensions_for_testing();
    db::model::Table reports;
    reports.name = "ci_reports";
    reports.columns = {{.name = "id", .type = db::ColumnType::kInteger, .nullable = false,
                        .primary_key = true}};
    db::Extension ext{"ci_reports", {}, {}};
    ext.history.push_back(
        {1, "ci_reports table", true, "", db::create_extension_tables_step("ci_reports", 1)});
    ext.tables.push_back(std::move(reports));
    db::register_extension(std::move(ext));
    auto conn = db::open_connection(db::Url::parse(url));
    migrate::upgrade(*conn, db::Url::parse(url), {});
    db::clear_extensions_for_testing();
  }
  Ran st = run({"db", "status", url, "--json"});
  EXPECT_EQ(st.rc, 0) << st;  // the core is up to date; an unjudged extension does not count
  json j = json::parse(st.out);
  ASSERT_EQ(j.at(0).at("extensions").size(), 1u) << st.out;
  json e = j[0]["extensions"][0];
  EXPECT_EQ(e["name"], "ci_reports");
  EXPECT_EQ(e["version"], 1);
  EXPECT_TRUE(e["program_version"].is_null());
  EXPECT_TRUE(e["interrupted_version"].is_null());
  EXPECT_EQ(e["state"], "up to date");
  Ran text = run({"db", "status", url});
  EXPECT_TRUE(has(text.out, "extension ci_reports: version 1 (not registered by this program)"))
      << text;

  // A version of it that started and never finished is shown as such.
  {
    auto conn = db::open_connection(db::Url::parse(url));
    conn->stmt("INSERT INTO ym_extension_migrations (extension, version, name, started_at, "
               "finished_at) VALUES (?, ?, ?, ?, NULL)")
        .bind("ci_reports", 2, "ci_reports.kind", 1700000000)
        .exec();
  }
  st = run({"db", "status", url, "--json"});
  e = json::parse(st.out).at(0).at("extensions").at(0);
  EXPECT_EQ(e["version"], 1);
  EXPECT_EQ(e["interrupted_version"], 2);
  EXPECT_EQ(e["state"], "interrupted migration");
  text = run({"db", "status", url});
  EXPECT_TRUE(has(text.out, "version 2 started and did not finish")) << text;

  // A database without extensions lists none.
  std::string plain = make_old_database(s, "plain.sqlite");
  EXPECT_TRUE(json::parse(run({"db", "status", plain, "--json"}).out)[0]["extensions"].empty());
}

// ----------------------------------------------------------------------------- --json

TEST(CommandLine, JsonOutputsParse) {
  Scratch s("ym-cli");
  fs::path dir = make_master_with_builds(s);
  std::string url = "sqlite:///" + (dir / "state.sqlite").string();
  std::string old = make_old_database(s, "old.sqlite");

  Ran st = run({"db", "status", url, old, s.url("missing.sqlite"), "--json"});
  EXPECT_EQ(st.rc, 2) << st;
  json status = json::parse(st.out);
  ASSERT_EQ(status.size(), 3u) << st.out;
  EXPECT_EQ(status[0]["state"], "up to date");
  EXPECT_EQ(status[0]["schema_version"], migrate::current_version());
  EXPECT_EQ(status[0]["program_version"], migrate::current_version());
  EXPECT_TRUE(status[0]["error"].is_null());
  EXPECT_EQ(status[1]["schema_version"], 1);
  EXPECT_TRUE(has(status[1]["todo"].get<std::string>(), "yardmaster db upgrade"));
  EXPECT_TRUE(status[2]["state"].is_null());
  EXPECT_TRUE(has(status[2]["error"].get<std::string>(), "no database at"));

  json builds = json::parse(run({"builds", "--db", dir.string(), "--json"}).out);
  ASSERT_EQ(builds.size(), 2u);
  std::set<std::string> results;
  for (const auto& b : builds)
    results.insert(b["builder"].get<std::string>() + ":" + b["result"].get<std::string>());
  EXPECT_EQ(results, (std::set<std::string>{"greet:success", "lint:failure"}));

  json build = json::parse(run({"build", "lint/1", "--db", dir.string(), "--json"}).out);
  ASSERT_EQ(build["steps"].size(), 2u);
  EXPECT_EQ(build["steps"][0]["result"], "failure");
  EXPECT_EQ(build["steps"][1]["result"], "skipped");

  json masters = json::parse(run({"masters", "--db", dir.string(), "--json"}).out);
  ASSERT_EQ(masters.size(), 1u);
  EXPECT_EQ(masters[0]["active"], false);  // it stopped after --until-idle

  json submitted = json::parse(run({"submit", dir.string(), "-b", "greet", "--json"}).out);
  EXPECT_TRUE(submitted["bsid"].is_number());
}

// ----------------------------------------------------------------------------- colour

TEST(CommandLine, ColourOnlyOnATerminalAndNeverWithNoColor) {
  Scratch s("ym-cli");
  fs::path dir = make_master_with_builds(s);
  // On a terminal: results in colour, a failure in red. (The test can fail: colour is there.)
  Ran tty = run_on_terminal({"builds", "--db", dir.string()}, "", {"TERM=xterm"});
  EXPECT_EQ(tty.rc, 0) << tty;
  EXPECT_TRUE(has(tty.out, "\033[31mfailure")) << tty;
  EXPECT_TRUE(has(tty.out, "\033[32msuccess")) << tty;
  Ran build = run_on_terminal({"build", "lint/1", "--db", dir.string()}, "", {"TERM=xterm"});
  EXPECT_TRUE(has(build.out, "\033[31mfailure")) << build;
  // NO_COLOR (any non-empty value), TERM=dumb, or no terminal: no escape at all.
  for (const auto& env : {std::vector<std::string>{"TERM=xterm", "NO_COLOR=1"},
                          {"TERM=xterm", "NO_COLOR=yes"},
                          {"TERM=dumb"}}) {
    for (std::vector<std::string> args : {std::vector<std::string>{"builds", "--db", dir.string()},
                                          {"build", "lint/1", "--db", dir.string()}}) {
      Ran r = run_on_terminal(args, "", env);
      EXPECT_EQ(r.rc, 0) << r;
      EXPECT_FALSE(has(r.out, "\033")) << env.back() << " " << args[0] << ": " << r;
      EXPECT_TRUE(has(r.out, "failure")) << r;
    }
  }
  Ran piped = run({"builds", "--db", dir.string()}, "", {"TERM=xterm"});
  EXPECT_FALSE(has(piped.out + piped.err, "\033")) << piped;
  // NO_COLOR="" is as if unset.
  Ran empty = run_on_terminal({"builds", "--db", dir.string()}, "", {"TERM=xterm", "NO_COLOR="});
  EXPECT_TRUE(has(empty.out, "\033[31mfailure")) << empty;
}

TEST(CommandLine, MasterLogOnATerminalNeverShowsAFailingStepInGreen) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  ASSERT_EQ(run({"submit", dir.string(), "-b", "lint", "-b", "greet"}).rc, 0);
  Ran r = run_on_terminal({"run", dir.string(), "--until-idle"}, "", {"TERM=xterm"});
  EXPECT_EQ(r.rc, 0) << r;
  std::istringstream lines(r.out);
  std::string line;
  int failing = 0;
  while (std::getline(lines, line)) {
    if (has(line, "step style") || has(line, "finished: failure")) {
      ++failing;
      EXPECT_FALSE(has(line, "\033[32m")) << "green: " << line;
    }
  }
  EXPECT_GE(failing, 1) << r;  // the lines were there to look at
  ASSERT_EQ(run({"submit", dir.string(), "-b", "lint"}).rc, 0);
  Ran plain =
      run_on_terminal({"run", dir.string(), "--until-idle"}, "", {"TERM=xterm", "NO_COLOR=1"});
  EXPECT_EQ(plain.rc, 0) << plain;
  EXPECT_FALSE(has(plain.out, "\033")) << plain;
  EXPECT_TRUE(has(plain.out, "finished: failure")) << plain;
}

// ----------------------------------------------------------------------------- log --follow

TEST(CommandLine, LogFollowWaitsForABuildThatHasNotStarted) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  // The builder is not even known to the database yet: no master has run.
  Child follower(
      {kYm, "log", "greet/1", "greet", "--db", dir.string(), "--follow", "--timeout", "5m"});
  ASSERT_TRUE(follower.wait_for_output("waiting for build greet/1 to start", 60s))
      << follower.output();
  // Only now does the build come to be.
  ASSERT_EQ(run({"submit", dir.string(), "-b", "greet"}).rc, 0);
  Ran master = run({"run", dir.string(), "--until-idle", "--quiet"});
  ASSERT_EQ(master.rc, 0) << master;
  EXPECT_EQ(follower.wait(), 0) << follower.output();
  EXPECT_TRUE(has(follower.output(), "hello-from-the-greet-step")) << follower.output();
}

TEST(CommandLine, LogFollowGivesUpAfterItsTimeout) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  auto started = std::chrono::steady_clock::now();
  Ran r = run({"log", "99", "greet", "--db", dir.string(), "--follow", "--timeout", "1s"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_TRUE(has(r.err, "waiting for build 99 to start (up to 1s")) << r;
  EXPECT_TRUE(has(r.err, "error: gave up waiting for build 99 to start after 1s")) << r;
  EXPECT_EQ(r.out, "");
  // Without --follow a missing build is an input error at once.
  Ran now = run({"log", "99", "greet", "--db", dir.string()});
  EXPECT_EQ(now.rc, 2) << now;
}

// ----------------------------------------------------------------------------- checkconfig,
// reconfig

// `make_master`'s config.ini with a change source and schedulers added.
void add_ci_sections(const fs::path& dir, const std::string& more = "") {
  std::ifstream in(dir / "config.ini");
  std::stringstream text;
  text << in.rdbuf();
  write_file(dir / "config.ini",
             text.str() +
                 "\n[changesource upstream]\ntype = git\nrepository = /srv/git/p.git\n"
                 "[scheduler on-main]\ntype = single-branch\nbranch = main\nbuilders = greet\n"
                 "[scheduler manual]\ntype = force\nbuilders = greet, lint\nproperty flavour = "
                 "release\npriority = 5\nbranch = main\nrepository = /srv/git/p.git\n" +
                 more);
}

// The line of config.ini holding `text` (1-based), 0 when none does.
int line_of(const fs::path& dir, const std::string& text) {
  std::ifstream in(dir / "config.ini");
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line == text) return n;
  }
  return 0;
}

TEST(CommandLine, CheckconfigSaysValidOrNamesTheLineWithoutOpeningTheDatabase) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  add_ci_sections(dir);
  // No database: checkconfig must not need one (nor create one).
  fs::remove(dir / "state.sqlite");
  Ran ok = run({"checkconfig", dir.string()});
  EXPECT_EQ(ok.rc, 0) << ok;
  EXPECT_EQ(ok.out, (dir / "config.ini").string() +
                        " is valid: 2 builder(s), 1 worker(s), 2 scheduler(s), 1 change "
                        "source(s)\n");
  EXPECT_FALSE(fs::exists(dir / "state.sqlite"));
  // An unreachable server with a password: not contacted, not printed.
  std::string text;
  {
    std::ifstream in(dir / "config.ini");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::string remote = text;
  remote.replace(remote.find("sqlite:///state.sqlite"),
                 std::string("sqlite:///state.sqlite").size(),
                 "postgresql://ci:hunter2@127.0.0.1:1/ci");
  write_file(dir / "config.ini", remote);
  Ran far = run({"checkconfig", dir.string()});
  EXPECT_EQ(far.rc, 0) << far;
  EXPECT_FALSE(has(far.out + far.err, "hunter2")) << far;

  write_file(dir / "config.ini", text +
                                     "[scheduler nightly]\ntype = nightly\nbuilders = greet\n"
                                     "hour = 25\n");
  int line = line_of(dir, "hour = 25");
  ASSERT_GT(line, 0);
  Ran bad = run({"checkconfig", dir.string()});
  EXPECT_EQ(bad.rc, 2) << bad;
  EXPECT_TRUE(has(bad.err, "error: config.ini:" + std::to_string(line) + ": hour = '25'")) << bad;
  EXPECT_EQ(bad.out, "");

  Ran missing = run({"checkconfig", s.path("nowhere").string()});
  EXPECT_EQ(missing.rc, 2) << missing;
}

// A stand-in for a running master: a process (SIGHUP blocked, so that a signal stays pending
// where the test can see it) whose pid is in DIR/master.lock, which the test holds locked as
// `yardmaster run` does.
class FakeMaster {
 public:
  explicit FakeMaster(const fs::path& dir) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<std::string> argv{"/bin/sleep", "600"};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0].c_str(), nullptr, &attr, cargv.data(), environ) != 0) {
      throw std::runtime_error("cannot start sleep");
    }
    posix_spawnattr_destroy(&attr);
    lock_ = open((dir / "master.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_ < 0 || flock(lock_, LOCK_EX | LOCK_NB) != 0) throw std::runtime_error("no lock");
    std::string text = std::to_string(pid_) + "\n";
    if (ftruncate(lock_, 0) != 0 || pwrite(lock_, text.data(), text.size(), 0) < 0) {
      throw std::runtime_error("cannot write the pid");
    }
  }
  ~FakeMaster() {
    kill(pid_, SIGKILL);
    reap(pid_);
    close(lock_);
  }
  pid_t pid() const { return pid_; }
  // Whether a SIGHUP waits for it (blocked, so it stays until it ends).
  bool hup_pending() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    uint64_t pending = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0) {
        pending |= std::stoull(line.substr(7), nullptr, 16);
      }
    }
    return (pending & (uint64_t{1} << (SIGHUP - 1))) != 0;
  }

 private:
  pid_t pid_ = -1;
  int lock_ = -1;
};

TEST(CommandLine, ReconfigWithoutARunningMasterExitsOne) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  Ran none = run({"reconfig", dir.string()});
  EXPECT_EQ(none.rc, 1) << none;
  EXPECT_TRUE(has(none.err, "no master is running in " + dir.string())) << none;
  // A lock file left by a master that stopped: nobody holds it.
  write_file(dir / "master.lock", "999999\n");
  Ran stale = run({"reconfig", dir.string()});
  EXPECT_EQ(stale.rc, 1) << stale;
  EXPECT_TRUE(has(stale.err, "not held")) << stale;
  // Held, but by a pid that is gone.
  int fd = open((dir / "master.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  pid_t gone = spawn({"/bin/true"}, child_env({}), nullptr);
  reap(gone);
  std::string text = std::to_string(gone) + "\n";
  ASSERT_EQ(ftruncate(fd, 0), 0);
  ASSERT_GT(pwrite(fd, text.data(), text.size(), 0), 0);
  Ran dead = run({"reconfig", dir.string()});
  close(fd);
  EXPECT_EQ(dead.rc, 1) << dead;
  EXPECT_TRUE(has(dead.err, "is gone")) << dead;
}

TEST(CommandLine, ReconfigRefusesABadConfigBeforeSignallingAndSignalsAGoodOne) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  FakeMaster master(dir);
  std::string good;
  {
    std::ifstream in(dir / "config.ini");
    std::stringstream ss;
    ss << in.rdbuf();
    good = ss.str();
  }
  write_file(dir / "config.ini", good + "[scheduler s]\ntype = force\nbuilders = nobody\n");
  int line = line_of(dir, "builders = nobody");
  Ran bad = run({"reconfig", dir.string()});
  EXPECT_EQ(bad.rc, 2) << bad;
  EXPECT_TRUE(has(bad.err, "config.ini:" + std::to_string(line) +
                               ": scheduler 's' lists unknown builder 'nobody'"))
      << bad;
  // kill() makes a signal pending before it returns, and the stand-in blocks SIGHUP: had reconfig
  // sent one, it would be pending now.
  EXPECT_FALSE(master.hup_pending());

  write_file(dir / "config.ini", good);
  Ran ok = run({"reconfig", dir.string()});
  EXPECT_EQ(ok.rc, 0) << ok;
  EXPECT_EQ(ok.out, "sent SIGHUP to the master in " + dir.string() + " (pid " +
                        std::to_string(master.pid()) +
                        "); it reloads config.ini and logs what changed\n");
  EXPECT_TRUE(master.hup_pending());
}

// ----------------------------------------------------------------------------- change

std::unique_ptr<db::Db> open_state(const fs::path& dir) {
  db::DbOptions options;
  options.create_if_empty = false;
  options.pool_size = 1;
  return db::Db::open("sqlite:///" + (dir / "state.sqlite").string(), options);
}

TEST(CommandLine, ChangeAddsAChangeWhoseAuthorIsAGitUser) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  Ran r = run({"change",
               dir.string(),
               "--repository",
               "/srv/git/p.git",
               "--branch",
               "main",
               "--revision",
               "4f2a9c1",
               "--author",
               "Ann <ann@example.org>",
               "--committer",
               "Bob <bob@example.org>",
               "--files",
               "src/a.c",
               "README",
               "--comments",
               "fix the frobnicator",
               "--project",
               "p",
               "--codebase",
               "cb",
               "--category",
               "bugfix",
               "--revlink",
               "https://example.org/r/4f2a9c1",
               "--when",
               "1700000000",
               "--property",
               "ticket=42"});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_TRUE(has(r.out, "change ")) << r;
  int64_t id = std::stoll(r.out.substr(r.out.find("change ") + 7));
  auto db = open_state(dir);
  auto c = db->changes().get_change(id).get();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->author, "Ann <ann@example.org>");
  EXPECT_EQ(c->committer, "Bob <bob@example.org>");
  EXPECT_EQ(c->files, (std::vector<std::string>{"src/a.c", "README"}));
  EXPECT_EQ(c->comments, "fix the frobnicator");
  EXPECT_EQ(c->revision, "4f2a9c1");
  EXPECT_EQ(c->branch, "main");
  EXPECT_EQ(c->category, "bugfix");
  EXPECT_EQ(c->revlink, "https://example.org/r/4f2a9c1");
  EXPECT_EQ(c->repository, "/srv/git/p.git");
  EXPECT_EQ(c->project, "p");
  EXPECT_EQ(c->codebase, "cb");
  EXPECT_EQ(c->when_timestamp.time_since_epoch().count(), 1700000000);
  ASSERT_EQ(c->properties.count("ticket"), 1u);
  EXPECT_EQ(c->properties.at("ticket").value, "42");
  EXPECT_EQ(c->properties.at("ticket").source, "Change");
  // The author is a user, found by ("git", author) as the poller and Buildbot find it.
  auto uids = db->changes().get_change_uids(id).get();
  ASSERT_EQ(uids.size(), 1u);
  auto user = db->users().get_user(uids[0]).get();
  ASSERT_TRUE(user);
  EXPECT_EQ(user->identifier, "Ann <ann@example.org>");
  EXPECT_EQ(user->attributes.at("git"), "Ann <ann@example.org>");

  // A second change by the same author is the same user; no --author: $USER.
  Ran again = run({"change", dir.string(), "--repository", "/srv/git/p.git", "--branch", "main",
                   "--revision", "5e3b0d2", "--author", "Ann <ann@example.org>"});
  ASSERT_EQ(again.rc, 0) << again;
  Ran plain = run({"change", "sqlite:///" + (dir / "state.sqlite").string(), "--repository",
                   "/srv/git/p.git", "--branch", "dev", "--revision", "6a"},
                  "", {"USER=carol"});
  ASSERT_EQ(plain.rc, 0) << plain;
  auto recent = db->changes().get_recent_changes(3).get();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(db->changes().get_change_uids(recent[1].changeid).get(), uids);
  EXPECT_EQ(recent[2].author, "carol");
  EXPECT_EQ(recent[2].branch, "dev");
  EXPECT_EQ(recent[2].revlink, "");
  EXPECT_EQ(db->users().get_users().get().size(), 2u);
  // An author that fits a change (255 characters) but not a user attribute (128): shortened the
  // same way each time, so that it is still one user.
  std::string longer(200, 'x');
  for (const char* rev : {"7b", "8c"}) {
    Ran r2 = run({"change", dir.string(), "--repository", "/r", "--branch", "main", "--revision",
                  rev, "--author", longer});
    ASSERT_EQ(r2.rc, 0) << r2;
  }
  auto last = db->changes().get_recent_changes(2).get();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1].author, longer);
  auto long_uids = db->changes().get_change_uids(last[1].changeid).get();
  ASSERT_EQ(long_uids.size(), 1u);
  EXPECT_EQ(db->changes().get_change_uids(last[0].changeid).get(), long_uids);
  EXPECT_EQ(db->users().get_users().get().size(), 3u);
  db->shutdown();
}

TEST(CommandLine, ChangeWithBadInputWritesNothing) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  const std::vector<std::string> base = {"change", dir.string(), "--branch",
                                         "main",   "--revision", "abc"};
  auto with = [&](std::vector<std::string> more) {
    auto args = base;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {with({"--repository", ""}), "--repository is empty"},
      {with({"--repository", std::string(2000, 'r')}), "repository"},
      {with({"--repository", "/r", "--author", std::string(300, 'a')}), "author"},
      {with({"--repository", "/r", "--author", "bad \xff byte"}), "not valid UTF-8"},
      {with({"--repository", "/r", "--files", std::string(5000, 'f')}), "filename"},
      {with({"--repository", "/r", "--property", "noequals"}), "NAME=VALUE"},
      {with({"--repository", "/r", "--when", "yesterday"}), "--when"},
  };
  for (const auto& [args, message] : cases) {
    Ran r = run(args);
    EXPECT_EQ(r.rc, 2) << message << ": " << r;
    EXPECT_TRUE(has(r.err, "error: ")) << r;
    EXPECT_TRUE(has(r.err, message)) << "no '" << message << "' in " << r;
  }
  auto db = open_state(dir);
  EXPECT_TRUE(db->changes().get_recent_changes(10).get().empty());
  EXPECT_TRUE(db->users().get_users().get().empty());
  db->shutdown();
  // A database URL's password is never printed, also when the change is refused.
  Ran secret = run({"change", "postgresql://ci:hunter2@127.0.0.1:1/ci", "--repository", "",
                    "--branch", "main", "--revision", "abc"});
  EXPECT_EQ(secret.rc, 2) << secret;
  EXPECT_FALSE(has(secret.out + secret.err, "hunter2")) << secret;
}

// ----------------------------------------------------------------------------- submit --scheduler

TEST(CommandLine, SubmitToAForceSchedulerUsesItsBuildersAndProperties) {
  Scratch s("ym-cli");
  fs::path dir = make_master(s);
  add_ci_sections(dir);
  Ran r = run({"submit", dir.string(), "--scheduler", "manual", "--property", "extra=1",
               "--revision", "4f2a9c1", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  auto j = json::parse(r.out);
  int64_t bsid = j.at("bsid").get<int64_t>();
  EXPECT_EQ(j.at("requests").size(), 2u);
  auto db = open_state(dir);
  auto bs = db->buildsets().get_buildset(bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->reason, "force build by yardmaster submit");
  auto props = db->buildsets().get_buildset_properties(bsid).get();
  EXPECT_EQ(props.at("flavour"), (db::Property{"release", "Scheduler"}));
  EXPECT_EQ(props.at("scheduler"), (db::Property{"manual", "Scheduler"}));
  EXPECT_EQ(props.at("extra"), (db::Property{"1", "Force"}));
  db::BuildRequestFilter filter;
  filter.bsid = bsid;
  std::set<std::string> builders;
  for (const auto& br : db->buildrequests().get_build_requests(filter).get()) {
    builders.insert(br.buildername);
    EXPECT_EQ(br.priority, 5);
  }
  EXPECT_EQ(builders, (std::set<std::string>{"greet", "lint"}));
  // The scheduler's branch and repository make the stamp, with the revision given.
  ASSERT_EQ(bs->sourcestamps.size(), 1u);
  auto ss = db->sourcestamps().get_source_stamp(bs->sourcestamps[0]).get();
  ASSERT_TRUE(ss);
  EXPECT_EQ(ss->branch, "main");
  EXPECT_EQ(ss->revision, "4f2a9c1");
  EXPECT_EQ(ss->repository, "/srv/git/p.git");
  size_t before = db->buildsets().get_buildsets().get().size();
  db->shutdown();

  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"submit", dir.string(), "--scheduler", "on-main"},
       "scheduler 'on-main' is a single-branch scheduler"},
      {{"submit", dir.string(), "--scheduler", "nope"},
       "no scheduler 'nope' (force schedulers: manual)"},
      {{"submit", dir.string(), "--scheduler", "manual", "--builder", "greet"}, "excludes"},
      {{"submit", "sqlite:///" + (dir / "state.sqlite").string(), "--scheduler", "manual"},
       "needs a master directory"},
      {{"submit", dir.string()}, "--builder"},
  };
  for (const auto& [args, message] : refused) {
    Ran no = run(args);
    EXPECT_EQ(no.rc, 2) << message << ": " << no;
    EXPECT_TRUE(has(no.err, message)) << "no '" << message << "' in " << no;
  }
  auto after = open_state(dir);
  EXPECT_EQ(after->buildsets().get_buildsets().get().size(), before);
  after->shutdown();
}

// ----------------------------------------------------------------------------- --help

TEST(CommandLine, EveryHelpEndsWithAnExample) {
  const std::vector<std::string> commands = {
      "",           "create-master", "run",         "submit",    "builds",     "build",
      "log",        "masters",       "db",          "db status", "db upgrade", "db dump",
      "db restore", "db copy",       "checkconfig", "reconfig",  "change"};
  for (const auto& command : commands) {
    std::vector<std::string> args;
    std::istringstream words(command);
    for (std::string w; words >> w;) args.push_back(w);
    args.push_back("--help");
    Ran r = run(args);
    EXPECT_EQ(r.rc, 0) << command << ": " << r;
    // The last paragraph: "Example:" or "Examples:", then command lines of this very command.
    size_t at = r.out.rfind("\nExample");
    ASSERT_NE(at, std::string::npos) << command << ": no example in\n" << r.out;
    std::string tail = r.out.substr(at);
    std::string want = command.empty() ? "  yardmaster " : "  yardmaster " + command + " ";
    EXPECT_TRUE(has(tail, want)) << command << ": the example is not of this command:\n" << tail;
    // Nothing but the example (and, for the program, the exit codes) after it.
    EXPECT_EQ(r.out.find("Options:", at), std::string::npos) << command << "\n" << r.out;
  }
}

}  // namespace
}  // namespace ym::test
