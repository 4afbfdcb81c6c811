#include "faults/harness.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "backend/server_db.hpp"
#include "db/errors.hpp"
#include "db/types.hpp"
#include "db/url.hpp"

extern char** environ;

namespace ym::faults {

namespace results = db::results;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The master under test: the one built with the suite, or $YM_FAULTS_YARDMASTER (another build,
// e.g. an older one, to see which faults it survives).
const std::string kYardmaster =
    std::getenv("YM_FAULTS_YARDMASTER") && *std::getenv("YM_FAULTS_YARDMASTER")
        ? std::getenv("YM_FAULTS_YARDMASTER")
        : YM_YARDMASTER_BIN;
const std::string kServersSh = std::string(YM_SOURCE_DIR) + "/scripts/lib/servers.sh";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Runs a command to completion: (exit code, its output). Its output goes through a file, not a
// pipe: the server commands leave daemons behind, and a daemon holding a pipe open would make a
// reader wait for its end. Nothing but standard input, output and error reaches the command.
std::pair<int, std::string> run(const std::vector<std::string>& argv) {
  char name[] = "/tmp/ym-faults-output-XXXXXX";
  int out = ::mkstemp(name);
  if (out < 0) throw std::runtime_error("mkstemp failed");
  ::close(out);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, name, O_WRONLY | O_APPEND, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0].c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ::unlink(name);
    throw std::runtime_error("cannot run " + args[0] + ": " + std::strerror(rc));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string text = read_text(name);
  ::unlink(name);
  int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return {code, text};
}

std::string pg_bin() {
  const char* env = std::getenv("YM_PG_BIN");
  return env && *env ? env : "/usr/lib/postgresql/15/bin";
}

// The directory on $PATH (or /usr/sbin, where Debian puts mariadbd) that holds `name`.
std::optional<fs::path> find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (d.empty()) continue;
    fs::path p = fs::path(d) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

std::string seq_text(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += std::to_string(i) + "\n";
  return out;
}

// A process is gone, or a zombie nobody reaped yet.
bool process_gone(pid_t pid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.compare(paren, 3, ") Z") == 0;
}

std::string quote_sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// ----------------------------------------------------------------------------- Scratch

Scratch::Scratch() {
  const char* env = std::getenv("YM_TEST_TMPDIR");
  fs::path base = env && *env ? fs::path(env) : fs::temp_directory_path();
  fs::create_directories(base);
  // The server users must traverse it to reach their data (scripts/test makes it 0700).
  std::error_code ec;
  fs::permissions(base, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "-" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  dir_ = base / ("ym-faults-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
}

Scratch::~Scratch() {
  // Kept when the test failed: the masters' logs and the servers' logs are in it.
  if (testing::Test::HasFailure()) {
    std::cout << "kept " << dir_ << " (masters' and servers' logs)\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

// ----------------------------------------------------------------------------- GaleraCluster

std::optional<std::string> GaleraCluster::unavailable() {
  if (auto why = Server::unavailable(db::Backend::kMysql)) return why;
  if (::access("/usr/lib/galera/libgalera_smm.so", R_OK) != 0) {
    return std::string(
        "galera-4 is not installed: no /usr/lib/galera/libgalera_smm.so "
        "(scripts/setup installs it)");
  }
  if (!find_program("rsync")) return std::string("no rsync (scripts/setup installs it)");
  return std::nullopt;
}

GaleraCluster::GaleraCluster(fs::path log_dir) : log_dir_(std::move(log_dir)), running_(kNodes) {
  const char* env = std::getenv("YM_TEST_TMPDIR");
  fs::path base = env && *env ? fs::path(env) : fs::temp_directory_path();
  if (base.string().size() > 48) base = "/tmp";  // the nodes' sockets live below it
  std::error_code ec;
  fs::permissions(base, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  std::string pattern = (base / "ymgal-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + " failed");
  dir_ = pattern;
  const std::string script = R"(set -euo pipefail
source "$1"
unset YM_TEST_GALERA_URL YM_SERVERS_DURABLE
ym_servers_dir=$2
chmod 755 "$2"
YM_SERVERS_CRASH_SAFE=1 ym_start_galera
umask 077
i=0
for u in $YM_TEST_GALERA_URLS; do printf '%s' "$u" > "$2/url$i"; i=$((i + 1)); done
printf '%s' "$YM_TEST_GALERA_URL" > "$2/cluster_url"
)";
  auto [rc, out] = run({"/bin/bash", "-c", script, "bash", kServersSh, dir_.string()});
  for (int i = 0; i < kNodes; ++i) {
    running_[i] =
        fs::exists(dir_ / "galera" / ("node" + std::to_string(i + 1)) / "data" / "mariadbd.pid");
  }
  if (rc != 0) {
    for (int i = 0; i < kNodes; ++i) {
      if (running_[i])
        run({(dir_ / "galera" / ("node" + std::to_string(i + 1)) / "ctl").string(), "stop"});
    }
    throw std::runtime_error("starting a private Galera cluster failed (exit " +
                             std::to_string(rc) + "):\n" + out);
  }
  for (int i = 0; i < kNodes; ++i) {
    fs::path f = dir_ / ("url" + std::to_string(i));
    node_urls_.push_back(read_text(f));
    fs::remove(f);
    if (node_urls_.back().empty()) throw std::runtime_error("servers.sh gave no URL for a node");
  }
  url_ = read_text(dir_ / "cluster_url");
  fs::remove(dir_ / "cluster_url");
  if (url_.empty()) throw std::runtime_error("servers.sh gave no URL for the cluster");
}

GaleraCluster::~GaleraCluster() {
  // The last node to stop is the one that could bootstrap the cluster again: stopped in reverse.
  for (int i = kNodes - 1; i >= 0; --i) {
    if (!running_[i]) continue;
    try {
      ctl(i, "stop");
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      run({(dir_ / "galera" / ("node" + std::to_string(i + 1)) / "ctl").string(), "kill"});
    }
  }
  std::error_code ec;
  fs::create_directories(log_dir_, ec);
  for (int i = 0; i < kNodes; ++i) {
    std::string n = "node" + std::to_string(i + 1);
    fs::copy_file(dir_ / "galera" / n / "server.log", log_dir_ / (n + ".log"),
                  fs::copy_options::overwrite_existing, ec);
  }
  fs::remove_all(dir_, ec);
}

int GaleraCluster::node_port(int i) const {
  return db::Url::parse(node_urls_.at(i)).port.value_or(3306);
}

std::string GaleraCluster::url(int first) const { return test::hosts_rotated(url_, first); }

void GaleraCluster::ctl(int i, const std::string& verb) {
  fs::path ctl = dir_ / "galera" / ("node" + std::to_string(i + 1)) / "ctl";
  auto [rc, out] = run({ctl.string(), verb});
  if (rc != 0) {
    throw std::runtime_error("'" + ctl.string() + " " + verb + "' failed (exit " +
                             std::to_string(rc) + "):\n" + out);
  }
}

void GaleraCluster::wait_synced(int i) {
  auto deadline = Clock::now() + 120s;
  while (true) {
    try {
      auto c = db::open_connection(db::Url::parse(node_urls_.at(i)));
      auto state = c->stmt(
                        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE "
                        "VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'")
                       .scalar<std::string>();
      if (state == "Synced") return;
    } catch (const db::Error&) {
      // Still starting or joining.
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("Galera node " + std::to_string(i + 1) + " did not sync again");
    }
    std::this_thread::sleep_for(100ms);
  }
}

void GaleraCluster::kill_node(int i) {
  ctl(i, "kill");
  running_[i] = false;
}

void GaleraCluster::start_node(int i) {
  ctl(i, "start");
  running_[i] = true;
  wait_synced(i);
}

int64_t GaleraCluster::status_sum(const std::string& name) {
  int64_t sum = 0;
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (int i = 0; i < kNodes; ++i) {
    if (!running_[i]) continue;
    auto c = db::open_connection(db::Url::parse(node_urls_.at(i)));
    auto v = c->stmt(
                  "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE "
                  "VARIABLE_NAME = ?")
                 .bind(upper)
                 .scalar<std::string>();
    sum += v ? std::stoll(*v) : 0;
  }
  return sum;
}

// ----------------------------------------------------------------------------- Server

const char* to_string(Outage o) {
  switch (o) {
    case Outage::kFast:
      return "fast";
    case Outage::kImmediate:
      return "immediate";
    case Outage::kKill:
      return "kill -9";
  }
  return "?";
}

std::optional<std::string> Server::unavailable(db::Backend backend) {
  const bool root = ::geteuid() == 0;
  if (backend == db::Backend::kPostgres) {
    for (const char* p : {"initdb", "pg_ctl", "postgres", "psql"}) {
      if (::access((pg_bin() + "/" + p).c_str(), X_OK) != 0) {
        return "PostgreSQL 15 is not installed: no " + pg_bin() + "/" + p +
               " (scripts/setup installs it; YM_PG_BIN names another directory)";
      }
    }
    if (root && !::getpwnam("postgres")) return std::string("no system user 'postgres'");
  } else if (backend == db::Backend::kMysql) {
    for (const char* p : {"mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin"}) {
      if (!find_program(p)) {
        return std::string("MariaDB is not installed: no ") + p + " (scripts/setup installs it)";
      }
    }
    if (root && !::getpwnam("mysql")) return std::string("no system user 'mysql'");
  } else {
    return std::string("no server for SQLite");
  }
  if (root && !find_program("runuser")) return std::string("no runuser");
  return std::nullopt;
}

Server::Server(db::Backend backend, fs::path log_dir, bool standby)
    : backend_(backend), log_dir_(std::move(log_dir)) {
  if (standby && backend != db::Backend::kPostgres) {
    throw std::invalid_argument("a standby is PostgreSQL's");
  }
  const std::string which = backend == db::Backend::kPostgres ? "postgres" : "mysql";
  // A short directory of its own: the servers' Unix sockets live in it, and a socket's path may
  // not be longer than 107 bytes.
  const char* env = std::getenv("YM_TEST_TMPDIR");
  fs::path base = env && *env ? fs::path(env) : fs::temp_directory_path();
  if (base.string().size() > 48) base = "/tmp";
  std::error_code ec;  // the server users must traverse it (scripts/test makes it 0700)
  fs::permissions(base, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  std::string pattern = (base / "ymsrv-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + " failed");
  dir_ = pattern;
  home_ = dir_ / which;
  // servers.sh does the work, as for scripts/test, except that commits survive a crash of the
  // server (fsync stays off): a commit lost by the server itself is not the master's fault. Only
  // the URL comes back, in a file (it holds the password).
  const std::string script = R"(set -euo pipefail
source "$1"
unset YM_TEST_POSTGRES_URL YM_TEST_MYSQL_URL YM_SERVERS_DURABLE
if [ "$4" = standby ]; then
  ym_servers_dir=$3
  chmod 755 "$3"
  YM_SERVERS_CRASH_SAFE=1 ym_start_postgres_pair
  (umask 077; printf '%s' "$YM_TEST_POSTGRES_PAIR_URL" > "$3/pair_url")
else
  YM_SERVERS=$2 YM_SERVERS_CRASH_SAFE=1 ym_servers_start "$3"
fi
if [ "$2" = postgres ]; then url=$YM_TEST_POSTGRES_URL; else url=$YM_TEST_MYSQL_URL; fi
umask 077
printf '%s' "$url" > "$3/url"
)";
  auto [rc, out] = run({"/bin/bash", "-c", script, "bash", kServersSh, which, dir_.string(),
                        standby ? "standby" : "single"});
  running_ = fs::exists(home_ / "ctl");
  standby_running_ = fs::exists(dir_ / "standby" / "ctl");
  if (rc != 0) {
    if (standby_running_) run({(dir_ / "standby" / "ctl").string(), "stop"});
    standby_running_ = false;
    if (running_) {
      run({(home_ / "ctl").string(), "stop"});
      running_ = false;
    }
    throw std::runtime_error("starting a private " + which + " server failed (exit " +
                             std::to_string(rc) + "):\n" + out);
  }
  url_ = read_text(dir_ / "url");
  fs::remove(dir_ / "url");
  if (standby) {
    pair_url_ = read_text(dir_ / "pair_url");
    fs::remove(dir_ / "pair_url");
    if (pair_url_.empty()) throw std::runtime_error("servers.sh gave no URL for the pair");
  }
  if (url_.empty()) throw std::runtime_error("servers.sh gave no URL for " + which);
}

Server::~Server() {
  if (standby_running_) {
    run({(dir_ / "standby" / "ctl").string(), "stop"});
    std::error_code ec;
    fs::create_directories(log_dir_, ec);
    fs::copy_file(dir_ / "standby" / "server.log", log_dir_ / "standby.log",
                  fs::copy_options::overwrite_existing, ec);
  }
  if (running_) {
    try {
      ctl("stop");
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      pid_t pid = server_pid();
      if (pid > 0) ::kill(pid, SIGKILL);
    }
  }
  std::error_code ec;
  fs::create_directories(log_dir_, ec);
  fs::copy_file(home_ / "server.log", log_dir_ / "server.log", fs::copy_options::overwrite_existing,
                ec);
  // The data is large (MariaDB's above all); the log, kept with the test's, says what happened.
  fs::remove_all(dir_, ec);
}

void Server::ctl(const std::string& verb) {
  auto [rc, out] = run({(home_ / "ctl").string(), verb});
  if (rc != 0) {
    throw std::runtime_error("'" + (home_ / "ctl").string() + " " + verb + "' failed (exit " +
                             std::to_string(rc) + "):\n" + out + "\nsee " +
                             (home_ / "server.log").string());
  }
}

pid_t Server::server_pid() const {
  fs::path file = backend_ == db::Backend::kPostgres ? home_ / "data" / "postmaster.pid"
                                                     : home_ / "data" / "mariadbd.pid";
  std::string text = read_text(file);
  if (text.empty()) return -1;
  try {
    return static_cast<pid_t>(std::stol(text));
  } catch (const std::exception&) {
    return -1;
  }
}

void Server::stop(Outage how) {
  if (how == Outage::kFast) {
    ctl("stop");
  } else if (how == Outage::kImmediate) {
    if (backend_ != db::Backend::kPostgres) {
      throw std::invalid_argument("an immediate stop is PostgreSQL's; use kKill for MariaDB");
    }
    std::vector<std::string> argv;
    if (::geteuid() == 0) argv = {"runuser", "-u", "postgres", "--"};
    for (std::string a : {pg_bin() + "/pg_ctl", std::string("-D"), (home_ / "data").string(),
                          std::string("-m"), std::string("immediate"), std::string("-w"),
                          std::string("-t"), std::string("60"), std::string("stop")}) {
      argv.push_back(a);
    }
    argv[0] = find_program(argv[0]).value_or(argv[0]).string();
    auto [rc, out] = run(argv);
    if (rc != 0) throw std::runtime_error("pg_ctl stop -m immediate failed:\n" + out);
  } else {
    // A killed postmaster leaves its backends behind, holding the shared memory: PostgreSQL's
    // crash is the immediate stop.
    if (backend_ != db::Backend::kMysql) {
      throw std::invalid_argument("kill -9 is MariaDB's crash; use kImmediate for PostgreSQL");
    }
    pid_t pid = server_pid();
    if (pid <= 0 || ::kill(pid, SIGKILL) != 0) {
      throw std::runtime_error("no mariadbd to kill (pid file " +
                               (home_ / "data" / "mariadbd.pid").string() + ")");
    }
    auto deadline = Clock::now() + 30s;
    while (!process_gone(pid)) {
      if (Clock::now() > deadline) throw std::runtime_error("mariadbd outlived SIGKILL");
      std::this_thread::sleep_for(10ms);
    }
  }
  running_ = false;
}

void Server::start() {
  ctl("start");
  running_ = true;
}

void Server::promote_standby() {
  if (!standby_running_) throw std::logic_error("no standby to promote");
  auto [rc, out] = run({(dir_ / "standby" / "ctl").string(), "promote"});
  if (rc != 0) {
    throw std::runtime_error("promoting the standby failed:\n" + out + "\nsee " +
                             (dir_ / "standby" / "server.log").string());
  }
}

// ----------------------------------------------------------------------------- TmpfsMount

std::optional<std::string> TmpfsMount::unavailable(const fs::path& probe_dir) {
  if (::geteuid() != 0) return std::string("mounting a tmpfs needs root");
  fs::create_directories(probe_dir);
  if (::mount("tmpfs", probe_dir.c_str(), "tmpfs", 0, "size=1m") != 0) {
    std::string why = std::strerror(errno);
    fs::remove(probe_dir);
    return "mount -t tmpfs is refused here (" + why + ")";
  }
  ::umount2(probe_dir.c_str(), MNT_DETACH);
  fs::remove(probe_dir);
  return std::nullopt;
}

TmpfsMount::TmpfsMount(fs::path dir, const std::string& size) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  std::string options = "size=" + size + ",mode=0755";
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    throw std::runtime_error("mount -t tmpfs -o " + options + " " + dir_.string() + ": " +
                             std::strerror(errno));
  }
}

TmpfsMount::~TmpfsMount() {
  if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
}

int64_t TmpfsMount::fill(const fs::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + file.string());
  std::string chunk(1 << 20, 'x');
  int64_t written = 0;
  // Big writes first, then ever smaller ones: the last page of the file system too.
  for (size_t size : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
    while (true) {
      ssize_t n = ::write(fd, chunk.data(), size);
      if (n > 0) {
        written += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != ENOSPC) {
        std::string why = std::strerror(errno);
        ::close(fd);
        throw std::runtime_error("filling " + file.string() + ": " + why);
      }
      break;
    }
  }
  ::close(fd);
  return written;
}

// ----------------------------------------------------------------------------- Hold

Hold::Hold(fs::path file) {
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + file.string());
  if (::flock(fd_, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + file.string());
}

void Hold::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// ----------------------------------------------------------------------------- steps

std::string expected_log(int64_t buildid, const StepSpec& step) {
  return "build " + std::to_string(buildid) + " step " + step.name + "\n" + seq_text(step.lines);
}

namespace {

std::string step_command(const StepSpec& s, const fs::path& hold_dir) {
  std::string cmd;
  if (s.hold) cmd += "flock -s " + quote_sh(hold_dir.string()) + "/\"$YM_MASTER\" true; ";
  cmd += "echo \"build $YM_BUILD_ID step " + s.name + "\"; seq 1 " + std::to_string(s.lines);
  if (s.sleep_ms > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s.sleep_ms / 1000.0);
    cmd += std::string("; sleep ") + buf;
  }
  if (s.mark_done) cmd += "; touch \"$YM_BUILD_DIR/" + s.name + ".done\"";
  return cmd;
}

}  // namespace

// ----------------------------------------------------------------------------- MasterProcess

MasterProcess::~MasterProcess() {
  if (pid_ > 0) kill();
}

void MasterProcess::start() {
  if (pid_ > 0) throw std::logic_error("master " + name_ + " is already running");
  std::string log = (dir_ / "master.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Nothing of the test's (database sockets, pipes) leaks into the master.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<std::string> args{kYardmaster, "run", dir_.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&pid_, kYardmaster.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + kYardmaster + ": " + std::strerror(rc));
  }
}

void MasterProcess::signal(int sig) {
  if (pid_ <= 0) throw std::logic_error("master " + name_ + " is not running");
  ::kill(pid_, sig);
}

std::optional<int> MasterProcess::wait(std::chrono::seconds limit) {
  if (pid_ <= 0) throw std::logic_error("master " + name_ + " is not running");
  auto deadline = Clock::now() + limit;
  while (true) {
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      pid_ = -1;
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return WEXITSTATUS(status);
    }
    if (Clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

int MasterProcess::kill() {
  if (pid_ <= 0) throw std::logic_error("master " + name_ + " is not running");
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

bool MasterProcess::log_contains(const std::string& text) const {
  return read_text(dir_ / "master.log").find(text) != std::string::npos;
}

std::string MasterProcess::log_tail(size_t bytes) const {
  std::string text = read_text(dir_ / "master.log");
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  return "master " + name_ + " (" + (dir_ / "master.log").string() + "):\n" + text;
}

// ----------------------------------------------------------------------------- waiting

bool wait_until(const std::string& what, std::chrono::seconds limit,
                const std::function<bool()>& ready) {
  auto deadline = Clock::now() + limit;
  while (true) {
    try {
      if (ready()) return true;
    } catch (const std::exception&) {
      // The database cannot answer yet: not yet.
    }
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  ADD_FAILURE() << "timed out after " << limit.count() << " s waiting until " << what;
  return false;
}

// ----------------------------------------------------------------------------- Rig

Rig::Rig(const Scratch& scratch, std::string url, std::vector<StepSpec> steps)
    : dir_(scratch.dir()), url_(std::move(url)), steps_(std::move(steps)) {
  fs::create_directories(dir_ / "holds");
  db::DbOptions options;
  options.pool_size = 2;
  // Outages are what these tests make: the test's own calls give up sooner than the masters'.
  options.pool.retry_budget = 5s;
  db_ = db::Db::open(url_, options);
  builderid_ = *db_->builders().find_builder_id("b", true).get();
}

Rig::~Rig() {
  for (auto& [name, m] : masters_) {
    if (m->running()) m->kill();
  }
  // Steps of killed masters that wait on a hold go on, and end on their closed pipe.
  holds_.clear();
  conn_.reset();
  if (db_) db_->shutdown();
}

MasterProcess& Rig::add_master(const std::string& name, int slots, int retry_budget_s,
                               const std::string& url) {
  fs::path dir = dir_ / ("master-" + name);
  std::string config = "[master]\nname = " + name + "\ndatabase = " + (url.empty() ? url_ : url) +
                       "\ncheckin_interval = 1s\nexpiry = 3500ms\npoll_interval = 200ms\n"
                       "grace_period = 5s\nstep_timeout = 5m\ndb_retry_budget = " +
                       std::to_string(retry_budget_s) + "s\n\n[worker " + name +
                       "-w]\nslots = " + std::to_string(slots) +
                       "\n\n[builder b]\nworkers = " + name + "-w\n";
  for (const auto& s : steps_) {
    config += "step " + s.name + " = " + step_command(s, dir_ / "holds") + "\n";
  }
  write_text(dir / "config.ini", config);
  auto& slot = masters_[name];
  slot = std::make_unique<MasterProcess>(name, dir);
  return *slot;
}

Hold& Rig::hold(const std::string& master_name) {
  auto& h = holds_[master_name];
  if (!h) h = std::make_unique<Hold>(dir_ / "holds" / master_name);
  return *h;
}

void Rig::release(const std::string& master_name) { holds_.erase(master_name); }

int64_t Rig::submit(int n, int priority) {
  for (int i = 0; i < n; ++i) {
    db::NewBuildset bs;
    bs.reason = "fault test " + std::to_string(submitted_ + 1);
    bs.builderids = {builderid_};
    bs.priority = priority;
    db_->buildsets().add_buildset(bs).get();
    ++submitted_;
  }
  return submitted_;
}

db::Connection& Rig::sql() {
  if (!conn_) conn_ = db::open_connection(db::Url::parse(url_));
  return *conn_;
}

int64_t Rig::count(const std::string& sql, const std::vector<db::Value>& params) {
  for (int attempt = 1;; ++attempt) {
    try {
      return this->sql().stmt(sql).bind_all(params).scalar<int64_t>().value_or(0);
    } catch (const db::ConnectionFailed&) {
      // The connection died in an outage that is over, or the database is still away: a new
      // connection tells which.
      conn_.reset();
      if (attempt == 2) throw;
    } catch (const db::Error&) {
      conn_.reset();
      throw;
    }
  }
}

int64_t Rig::running_builds(const std::string& master) {
  return count(
      "SELECT COUNT(*) FROM builds b JOIN masters m ON m.id = b.masterid "
      "WHERE m.name = ? AND b.complete_at IS NULL",
      {master});
}

int64_t Rig::running_steps(const std::string& master, const std::string& step) {
  return count(
      "SELECT COUNT(*) FROM steps s JOIN builds b ON b.id = s.buildid "
      "JOIN masters m ON m.id = b.masterid "
      "WHERE m.name = ? AND s.name = ? AND s.complete_at IS NULL",
      {master, step});
}

int64_t Rig::builds_of(const std::string& master) {
  return count("SELECT COUNT(*) FROM builds b JOIN masters m ON m.id = b.masterid WHERE m.name = ?",
               {master});
}

int64_t Rig::complete_requests() {
  return count("SELECT COUNT(*) FROM buildrequests WHERE complete = 1");
}

bool Rig::master_active(const std::string& master) {
  return count("SELECT COUNT(*) FROM masters WHERE name = ? AND active = 1", {master}) == 1;
}

bool Rig::settled() {
  return count("SELECT COUNT(*) FROM buildrequests WHERE complete = 0") == 0 &&
         count("SELECT COUNT(*) FROM builds WHERE complete_at IS NULL") == 0 &&
         count("SELECT COUNT(*) FROM steps WHERE complete_at IS NULL") == 0;
}

bool Rig::wait_settled(std::chrono::seconds stall, std::chrono::seconds limit) {
  auto start = Clock::now();
  auto last_change = start;
  std::vector<int64_t> last;
  while (true) {
    try {
      if (settled()) return true;
      std::vector<int64_t> progress{
          complete_requests(), count("SELECT COUNT(*) FROM builds"),
          count("SELECT COUNT(*) FROM builds WHERE complete_at IS NOT NULL"),
          count("SELECT COUNT(*) FROM steps WHERE complete_at IS NOT NULL")};
      if (progress != last) {
        last = progress;
        last_change = Clock::now();
      }
    } catch (const std::exception&) {
      // The database cannot answer yet: no progress seen.
    }
    auto now = Clock::now();
    if (now - last_change > stall) {
      ADD_FAILURE() << "not settled (requests left incomplete, or builds or steps unfinished), "
                       "and no progress in the database for "
                    << stall.count() << " s: the checker below says what is stuck";
      return false;
    }
    if (now - start > limit) {
      ADD_FAILURE() << "not settled after " << limit.count() << " s";
      return false;
    }
    std::this_thread::sleep_for(100ms);
  }
}

std::vector<int64_t> Rig::running_build_ids(const std::string& master) {
  std::vector<int64_t> ids;
  for (const auto& r : sql()
                           .stmt("SELECT b.id FROM builds b JOIN masters m ON m.id = b.masterid "
                                 "WHERE m.name = ? AND b.complete_at IS NULL ORDER BY b.id")
                           .bind(master)
                           .all()) {
    ids.push_back(r.get<int64_t>(0));
  }
  return ids;
}

void Rig::stop_masters(std::chrono::seconds limit) {
  for (auto& [name, m] : masters_) {
    if (m->running()) m->signal(SIGTERM);
  }
  for (auto& [name, m] : masters_) {
    if (!m->running()) continue;
    auto code = m->wait(limit);
    if (!code) {
      ADD_FAILURE() << "master " << name << " did not stop within " << limit.count()
                    << " s of SIGTERM\n"
                    << m->log_tail();
      m->kill();
      continue;
    }
    EXPECT_EQ(*code, 0) << "master " << name << " after SIGTERM\n" << m->log_tail();
  }
}

Accounting Rig::check(const std::string& label) {
  return check_accounting(*db_, sql(), steps_, submitted_, label);
}

// ----------------------------------------------------------------------------- the checker

std::string Accounting::summary() const {
  std::string s = "requests " + std::to_string(requests) + " (incomplete " +
                  std::to_string(incomplete) + ", complete but not SUCCESS " +
                  std::to_string(not_success) + ", without a successful build " +
                  std::to_string(no_success) + ", with two or more successful builds " +
                  std::to_string(duplicates) + "); stuck builds " + std::to_string(stuck_builds) +
                  ", stuck steps " + std::to_string(stuck_steps) + ", bad logs " +
                  std::to_string(bad_logs) + ", stale claims " + std::to_string(stale_claims) +
                  ", incomplete buildsets " + std::to_string(incomplete_buildsets) + "; builds:";
  for (const auto& [r, n] : builds_by_result) {
    s += std::string(" ") + (r < 0 ? "none" : results::name(r)) + " " + std::to_string(n);
  }
  return s;
}

Accounting check_accounting(db::Db& db, db::Connection& c, const std::vector<StepSpec>& steps,
                            int64_t expected_requests, const std::string& label) {
  Accounting a;
  std::vector<std::string> notes;
  std::map<std::string, int> shown;
  auto note = [&](const std::string& kind, const std::string& text) {
    if (shown[kind]++ < 5) notes.push_back(kind + ": " + text);
  };
  auto opt_int = [](const db::Row& r, size_t i) -> std::optional<int64_t> {
    if (r.is_null(i)) return std::nullopt;
    return r.get<int64_t>(i);
  };

  struct Request {
    bool complete = false;
    std::optional<int64_t> results;
  };
  std::map<int64_t, Request> requests;
  for (const auto& r : c.stmt("SELECT id, complete, results FROM buildrequests").all()) {
    requests[r.get<int64_t>(0)] = {r.get<int64_t>(1) != 0, opt_int(r, 2)};
  }
  std::map<int64_t, std::pair<std::string, bool>> masters;  // id -> name, active
  for (const auto& r : c.stmt("SELECT id, name, active FROM masters").all()) {
    masters[r.get<int64_t>(0)] = {r.get<std::string>(1), r.get<int64_t>(2) != 0};
  }
  struct Build {
    int64_t id, brid, masterid;
    std::optional<int64_t> complete_at, results;
  };
  std::vector<Build> builds;
  for (const auto& r : c.stmt("SELECT id, buildrequestid, masterid, complete_at, results FROM "
                              "builds ORDER BY id")
                           .all()) {
    builds.push_back(
        {r.get<int64_t>(0), r.get<int64_t>(1), r.get<int64_t>(2), opt_int(r, 3), opt_int(r, 4)});
  }
  struct Step {
    int64_t id;
    std::string name;
    std::optional<int64_t> complete_at, results;
  };
  std::map<int64_t, std::vector<Step>> steps_of;  // buildid -> its steps in order
  int64_t unfinished_steps = 0;
  for (const auto& r :
       c.stmt("SELECT id, buildid, name, complete_at, results FROM steps ORDER BY buildid, number")
           .all()) {
    Step s{r.get<int64_t>(0), r.get<std::string>(2), opt_int(r, 3), opt_int(r, 4)};
    if (!s.complete_at) {
      ++unfinished_steps;
      note("stuck step", "step " + std::to_string(s.id) + " '" + s.name + "' of build " +
                             std::to_string(r.get<int64_t>(1)) + " has no complete_at");
    }
    steps_of[r.get<int64_t>(1)].push_back(std::move(s));
  }
  std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> logs_of;  // stepid -> (id, lines)
  for (const auto& r : c.stmt("SELECT id, stepid, num_lines FROM logs ORDER BY id").all()) {
    logs_of[r.get<int64_t>(1)].push_back({r.get<int64_t>(0), r.get<int64_t>(2)});
  }

  // Requests and their successful builds.
  a.requests = static_cast<int64_t>(requests.size());
  std::map<int64_t, int> successes;
  std::set<std::pair<int64_t, int64_t>> running;  // (brid, masterid) of unfinished builds
  for (const auto& b : builds) {
    ++a.builds_by_result[b.results ? static_cast<int>(*b.results) : -1];
    if (!b.complete_at || !b.results) {
      ++a.stuck_builds;
      running.insert({b.brid, b.masterid});
      note("stuck build", "build " + std::to_string(b.id) + " of request " +
                              std::to_string(b.brid) + " by master " + masters[b.masterid].first +
                              " is unfinished");
    }
    if (b.results && *b.results == results::kSuccess) ++successes[b.brid];
  }
  for (const auto& [id, r] : requests) {
    if (!r.complete) {
      ++a.incomplete;
      note("incomplete request", "request " + std::to_string(id));
    } else if (r.results.value_or(-1) != results::kSuccess) {
      ++a.not_success;
      note("request not SUCCESS", "request " + std::to_string(id) + " completed as " +
                                      (r.results ? results::name(int(*r.results)) : "NULL"));
    }
    int n = successes[id];
    if (n == 0) {
      ++a.no_success;
      note("no successful build", "request " + std::to_string(id));
    } else if (n > 1) {
      ++a.duplicates;
      note("duplicate",
           "request " + std::to_string(id) + " has " + std::to_string(n) + " successful builds");
    }
  }
  a.stuck_steps = unfinished_steps;

  // Every step of every successful build, logged exactly as it printed.
  for (const auto& b : builds) {
    if (!b.results || *b.results != results::kSuccess) continue;
    const auto& got = steps_of[b.id];
    std::string where = "build " + std::to_string(b.id) + " (request " + std::to_string(b.brid) +
                        ", master " + masters[b.masterid].first + ")";
    if (got.size() != steps.size()) {
      ++a.bad_logs;
      note("bad log", where + " is SUCCESS with " + std::to_string(got.size()) + " steps, not " +
                          std::to_string(steps.size()));
      continue;
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = got[i];
      if (s.name != steps[i].name || s.results.value_or(-1) != results::kSuccess) {
        ++a.bad_logs;
        note("bad log", where + ": step " + std::to_string(i + 1) + " is '" + s.name + "' with " +
                            (s.results ? results::name(int(*s.results)) : "no result"));
        continue;
      }
      const auto& logs = logs_of[s.id];
      if (logs.size() != 1) {
        ++a.bad_logs;
        note("bad log",
             where + ": step '" + s.name + "' has " + std::to_string(logs.size()) + " logs");
        continue;
      }
      auto [logid, lines] = logs.front();
      std::string text = lines > 0 ? db.logs().get_log_lines(logid, 0, lines - 1).get() : "";
      std::string want = expected_log(b.id, steps[i]);
      if (text != want) {
        ++a.bad_logs;
        std::string first = text.substr(0, text.find('\n'));
        note("bad log", where + ": step '" + s.name + "' logged " + std::to_string(lines) +
                            " lines starting '" + first + "', expected " +
                            std::to_string(steps[i].lines + 1) + " lines starting 'build " +
                            std::to_string(b.id) + " step " + s.name + "'");
      }
    }
  }

  // Claims on incomplete requests must belong to a live master that is building them.
  for (const auto& r : c.stmt("SELECT brid, masterid FROM buildrequest_claims").all()) {
    int64_t brid = r.get<int64_t>(0), masterid = r.get<int64_t>(1);
    auto it = requests.find(brid);
    if (it != requests.end() && it->second.complete) continue;
    const auto& [name, active] = masters[masterid];
    if (!active || !running.count({brid, masterid})) {
      ++a.stale_claims;
      note("stale claim", "request " + std::to_string(brid) + " is claimed by master " + name +
                              (active ? ", active but not building it" : ", which is inactive"));
    }
  }
  a.incomplete_buildsets =
      c.stmt("SELECT COUNT(*) FROM buildsets WHERE complete = 0").scalar<int64_t>().value_or(0);
  if (a.incomplete_buildsets > 0)
    note("incomplete buildsets", std::to_string(a.incomplete_buildsets));

  std::string details;
  for (const auto& n : notes) details += "\n  " + n;
  std::cout << "[accounting " << label << "] " << a.summary() << details << std::endl;

  // The examples are printed once, above; each failure names its count.
  const char* see = " (examples in the [accounting] line above)";
  EXPECT_EQ(a.requests, expected_requests) << "requests submitted vs stored";
  EXPECT_EQ(a.incomplete, 0) << "requests never completed" << see;
  EXPECT_EQ(a.not_success, 0) << "requests completed with another result than SUCCESS" << see;
  EXPECT_EQ(a.no_success, 0) << "requests without a successful build" << see;
  EXPECT_EQ(a.duplicates, 0) << "requests built successfully more than once" << see;
  EXPECT_EQ(a.stuck_builds, 0) << "builds never finished" << see;
  EXPECT_EQ(a.stuck_steps, 0) << "steps never finished" << see;
  EXPECT_EQ(a.bad_logs, 0) << "steps of successful builds missing or logged wrongly" << see;
  EXPECT_EQ(a.stale_claims, 0) << "claims by a master that does not build the request" << see;
  EXPECT_EQ(a.incomplete_buildsets, 0) << "buildsets never completed" << see;
  return a;
}

std::string sqlite_integrity(const fs::path& file) {
  auto conn = db::open_connection(db::Url::parse("sqlite:///" + file.string()));
  std::string out;
  for (const auto& r : conn->stmt("PRAGMA integrity_check").all()) {
    if (!out.empty()) out += "; ";
    out += r.get<std::string>(0);
  }
  return out;
}

}  // namespace ym::faults
