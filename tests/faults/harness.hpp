// The fault suite's harness (tests/faults/, issue 11): real `yardmaster run` processes against a
// database that the test owns alone, faults created at moments the test has made sure of through
// the database, and one accounting checker that every test runs afterwards.
//
//   Scratch     a directory per test under $YM_TEST_TMPDIR, kept when the test failed
//   Server      a private PostgreSQL 15 or MariaDB server (scripts/lib/servers.sh starts it) that
//               a test stops (fast, immediate, kill -9) and starts again
//   TmpfsMount  a small tmpfs for an SQLite database whose disk a test fills
//   Hold        a lock that the steps of one master wait on, so that its builds stay running until
//               the test lets them go (no sleeps in steps, no polling)
//   Rig         one database, one builder `b` and its steps, the masters sharing it, submission,
//               counts read from the database, and waiting for conditions by polling it
//   check_accounting   the promise, read from the database: every request complete exactly once
//               with exactly one successful build, nothing left running, no claim left dangling,
//               and every step of every successful build logged exactly as it printed
//
// Thread safety: none; a test uses these from its own thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"

namespace ym::faults {

namespace fs = std::filesystem;

// True when CI=true: then a missing server binary or a refused mount fails the test.
bool running_in_ci();

// A test that cannot create its fault here (`why` is set): a failure under CI=true, a skip
// elsewhere. Use in a test body or SetUp.
#define YM_FAULTS_REQUIRE(why)                                       \
  if (const std::optional<std::string> ym_why_ = (why)) {            \
    if (::ym::faults::running_in_ci()) {                             \
      FAIL() << *ym_why_ << " (CI=true: every fault test must run)"; \
    } else {                                                         \
      GTEST_SKIP() << *ym_why_;                                      \
    }                                                                \
  }

// A directory for this test, under $YM_TEST_TMPDIR (else the system's temporary directory), that
// the server users (postgres, mysql) may traverse. Removed when the test passed.
class Scratch {
 public:
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const fs::path& dir() const { return dir_; }
  fs::path path(const std::string& name) const { return dir_ / name; }

 private:
  fs::path dir_;
};

// How a server goes down.
enum class Outage {
  kFast,       // PostgreSQL: pg_ctl stop -m fast; MariaDB: SIGTERM (clean shutdown)
  kImmediate,  // PostgreSQL: pg_ctl stop -m immediate (no shutdown checkpoint: crash recovery)
  kKill,       // MariaDB: kill -9 of mariadbd (crash recovery)
};

const char* to_string(Outage o);

// A throwaway server of its own for one test, on a free 127.0.0.1 port, its data in a new
// directory under $YM_TEST_TMPDIR, started through scripts/lib/servers.sh (so it runs as
// scripts/test's servers do: as root through `runuser -u postgres` / `runuser -u mysql`, fsync
// off). Stopped and deleted by the destructor, which copies its log into `log_dir` first.
class Server {
 public:
  // Why a server of `backend` cannot run here (a binary is missing), or nullopt.
  static std::optional<std::string> unavailable(db::Backend backend);

  // Creates and starts the server; throws std::runtime_error naming its log on failure. With
  // `standby` (PostgreSQL only), also a synchronous streaming standby of it (servers.sh's
  // ym_start_postgres_pair): pair_url() then lists both, primary first.
  Server(db::Backend backend, fs::path log_dir, bool standby = false);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  db::Backend backend() const { return backend_; }
  // The URL of an empty database owned by an ordinary user. It holds the password: never print
  // it (db::printable_url masks it).
  const std::string& url() const { return url_; }
  // Both hosts, target_session_attrs=read-write (with a standby only). Holds the password.
  const std::string& pair_url() const { return pair_url_; }
  void stop(Outage how);
  void start();
  // The standby becomes the primary (pg_ctl promote, which waits until it accepts writes).
  void promote_standby();

 private:
  void ctl(const std::string& verb);
  pid_t server_pid() const;

  db::Backend backend_;
  fs::path log_dir_;
  fs::path dir_;   // what servers.sh calls the servers' directory
  fs::path home_;  // dir_/postgres or dir_/mysql
  std::string url_;
  std::string pair_url_;
  bool running_ = false;
  bool standby_running_ = false;
};

// A MariaDB Galera cluster of three nodes of its own (servers.sh's ym_start_galera: node 1
// bootstraps it, 2 and 3 join by rsync state transfer), on free 127.0.0.1 ports, commits crash-safe
// as for Server. Stopped and deleted by the destructor, which copies the nodes' logs into
// `log_dir` first.
class GaleraCluster {
 public:
  static constexpr int kNodes = 3;
  // Why a cluster cannot run here (MariaDB or galera-4 is missing), or nullopt.
  static std::optional<std::string> unavailable();

  explicit GaleraCluster(fs::path log_dir);
  ~GaleraCluster();
  GaleraCluster(const GaleraCluster&) = delete;
  GaleraCluster& operator=(const GaleraCluster&) = delete;

  // One URL listing every node, node `first` first and the others after it in turn (a client
  // connects to the first that answers). Holds the password: never print it.
  std::string url(int first = 0) const;
  // The URL of node `i` alone, and its client port.
  const std::string& node_url(int i) const { return node_urls_.at(i); }
  int node_port(int i) const;
  // A crash of node `i` (kill -9 of its mariadbd), and its start again (it rejoins the cluster by
  // incremental state transfer and is synced when this returns).
  void kill_node(int i);
  void start_node(int i);
  // A wsrep status counter (e.g. "wsrep_local_cert_failures") summed over the nodes that run.
  int64_t status_sum(const std::string& name);

 private:
  void ctl(int i, const std::string& verb);
  void wait_synced(int i);

  fs::path log_dir_;
  fs::path dir_;
  std::vector<std::string> node_urls_;
  std::string url_;  // every node, node 1 first
  std::vector<bool> running_;
};

// A tmpfs of `size` (e.g. "32m") mounted at `dir` (created), unmounted by the destructor.
class TmpfsMount {
 public:
  // Why a tmpfs cannot be mounted here (not root, or the mount is refused), or nullopt; tries one.
  static std::optional<std::string> unavailable(const fs::path& probe_dir);

  TmpfsMount(fs::path dir, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  const fs::path& dir() const { return dir_; }

  // Writes `file` until the file system refuses with ENOSPC; returns the bytes written.
  int64_t fill(const fs::path& file);

 private:
  fs::path dir_;
};

// An exclusive lock on `file`, taken by the constructor; steps run `flock -s FILE true` and so
// wait until release(). The descriptor is close-on-exec, so no child of the test keeps it.
class Hold {
 public:
  explicit Hold(fs::path file);
  ~Hold() { release(); }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;
  void release();

 private:
  int fd_ = -1;
};

// One step of the builder `b`. Its output is deterministic, so that the checker can recompute it:
// "build <YM_BUILD_ID> step <name>" then the numbers 1..lines, one per line.
struct StepSpec {
  std::string name;
  int lines = 20;
  // Waits first (before any output) while the test holds this master's Hold.
  bool hold = false;
  int sleep_ms = 0;  // after its output: keeps builds in flight when a fault strikes
  // Touches $YM_BUILD_DIR/<name>.done when it has printed everything.
  bool mark_done = false;
};

// What the step prints, and so what its log must hold.
std::string expected_log(int64_t buildid, const StepSpec& step);

// A `yardmaster run DIR` process, its standard output and error appended to DIR/master.log. The
// binary is the one built with the suite, or $YM_FAULTS_YARDMASTER.
class MasterProcess {
 public:
  MasterProcess(std::string name, fs::path dir) : name_(std::move(name)), dir_(std::move(dir)) {}
  ~MasterProcess();
  MasterProcess(const MasterProcess&) = delete;
  MasterProcess& operator=(const MasterProcess&) = delete;

  const std::string& name() const { return name_; }
  const fs::path& dir() const { return dir_; }
  void start();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits up to `limit` for the process to exit; its exit code (128 + signal when killed), or
  // nullopt when it still runs.
  std::optional<int> wait(std::chrono::seconds limit);
  // SIGKILL and reap; the exit code.
  int kill();
  // Whether master.log holds `text` (what the master said about a fault: evidence that it struck).
  bool log_contains(const std::string& text) const;
  // The tail of master.log, for failure messages.
  std::string log_tail(size_t bytes = 4000) const;

 private:
  std::string name_;
  fs::path dir_;
  pid_t pid_ = -1;
};

// The database's view of the promise, as counted by check_accounting.
struct Accounting {
  int64_t requests = 0;
  int64_t incomplete = 0;    // requests not complete
  int64_t not_success = 0;   // complete with a result other than SUCCESS
  int64_t no_success = 0;    // requests without a successful build
  int64_t duplicates = 0;    // requests with more than one successful build
  int64_t stuck_builds = 0;  // builds without complete_at or results
  int64_t stuck_steps = 0;   // steps without complete_at
  int64_t bad_logs = 0;      // steps of successful builds missing or logged wrongly
  int64_t stale_claims = 0;  // claims on incomplete requests by a master not building them
  int64_t incomplete_buildsets = 0;
  std::map<int, int64_t> builds_by_result;
  std::string summary() const;
};

// Polls `ready` every 100 ms until it returns true or `limit` passes; an exception thrown by
// `ready` (the database is down) counts as "not yet". Returns whether it held; a timeout also
// adds a test failure that names `what`.
bool wait_until(const std::string& what, std::chrono::seconds limit,
                const std::function<bool()>& ready);

// The database, the builder `b` with `steps`, and the masters sharing it.
class Rig {
 public:
  // `url` is the database; its schema is created here when it is empty.
  Rig(const Scratch& scratch, std::string url, std::vector<StepSpec> steps);
  // Kills the masters that still run, releases every hold, closes the database.
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  const std::string& url() const { return url_; }
  const std::vector<StepSpec>& steps() const { return steps_; }

  // Writes the directory and config.ini of a master named `name` (one worker of `slots`), with
  // short intervals: poll 0.2 s, check-in 1 s, expiry 3.5 s, and db_retry_budget =
  // `retry_budget_s`. The master is not started. It reaches the database through `url` when one
  // is given (a proxy in front of the same database), else through url().
  MasterProcess& add_master(const std::string& name, int slots, int retry_budget_s,
                            const std::string& url = {});
  // Holds the held steps of master `name` until the Hold is released (or the Rig destroyed).
  Hold& hold(const std::string& master_name);
  void release(const std::string& master_name);

  // Submits `n` buildsets of one request each for `b` (requests of higher priority are claimed
  // first); returns how many were submitted in all.
  int64_t submit(int n, int priority = 0);
  int64_t submitted() const { return submitted_; }

  MasterProcess& master(const std::string& name) { return *masters_.at(name); }

  // A connection of the test's own to the database, for reads (reopened after an error).
  db::Connection& sql();
  // The first column of the first row of `sql`, an integer (0 when there is no row); throws when
  // the database cannot answer.
  int64_t count(const std::string& sql, const std::vector<db::Value>& params = {});
  int64_t running_builds(const std::string& master);  // builds of `master` without complete_at
  int64_t running_steps(const std::string& master, const std::string& step);
  int64_t builds_of(const std::string& master);
  int64_t complete_requests();
  bool master_active(const std::string& master);
  // No request incomplete, no build and no step without complete_at.
  bool settled();
  // Waits until settled(), and fails the test when the database shows no progress (requests
  // completed, builds and steps finished) for `stall`, or after `limit` in all. With the short
  // steps of these tests, a stall that long means something is stuck: the checker says what.
  bool wait_settled(std::chrono::seconds stall = std::chrono::seconds(30),
                    std::chrono::seconds limit = std::chrono::seconds(300));
  // Ids of the builds of `master` without complete_at.
  std::vector<int64_t> running_build_ids(const std::string& master);

  // SIGTERM to every running master; each must exit 0 within `limit` (test failures otherwise).
  void stop_masters(std::chrono::seconds limit = std::chrono::seconds(60));

  // The accounting checker (see the file comment); prints its counts, prefixed with `label`,
  // and adds a test failure for every count that breaks the promise.
  Accounting check(const std::string& label);

  db::Db& db() { return *db_; }

 private:
  fs::path dir_;
  std::string url_;
  std::vector<StepSpec> steps_;
  std::unique_ptr<db::Db> db_;            // submission and log text
  std::unique_ptr<db::Connection> conn_;  // counts: reopened after an error
  std::map<std::string, std::unique_ptr<MasterProcess>> masters_;
  std::map<std::string, std::unique_ptr<Hold>> holds_;
  int64_t builderid_ = 0;
  int64_t submitted_ = 0;
};

// The checker itself, for a database that no Rig holds.
Accounting check_accounting(db::Db& db, db::Connection& conn, const std::vector<StepSpec>& steps,
                            int64_t expected_requests, const std::string& label);

// `PRAGMA integrity_check` of an SQLite file: "ok", or what it found.
std::string sqlite_integrity(const fs::path& file);

}  // namespace ym::faults
