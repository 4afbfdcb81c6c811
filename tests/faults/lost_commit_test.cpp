// Lost replies to COMMIT (issue 11). When the connection dies while a write is being committed,
// the client cannot know whether it happened. Every write that is retried after that must check
// what was committed first: an append must not double or drop lines, add_build must not make two
// builds, a claim must not report AlreadyClaimed for itself, a completion must not report
// NotClaimed for itself.
//
// The fault comes from two places:
// - from outside (CommitProxy): the client library itself meets a dead socket after the server
//   has committed, exactly as in production (PostgreSQL and MariaDB);
// - from inside (FaultInjector::lose_next_commit_replies): the pool commits, then drops its
//   connection before the caller hears (SQLite on file, PostgreSQL, MariaDB).
// Each test loses the reply of the call's one commit (or, for proxy_unsent_*, the commit itself,
// so that the check on the repeat finds nothing and must do the work), requires the call to
// succeed with the result it has without the fault, and checks through a separate direct
// connection that the database holds its effect exactly once. The proxy's own behaviour, and the
// pool's treatment of a lost reply the driver really reports, are tested first (ProxyWire,
// PoolLostReply).
//
// Server URLs come from YM_TEST_POSTGRES_URL / YM_TEST_MYSQL_URL (scripts/test sets them); each
// test makes a database of its own there and drops it afterwards. Without a URL a test is skipped,
// and under CI=true it fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/pool.hpp"
#include "db/testdata.hpp"
#include "db/types.hpp"
#include "db/url.hpp"
#include "backend/server_db.hpp"
#include "faults/commit_proxy.hpp"
#include "faults/harness.hpp"

namespace ym::test {
namespace {

namespace td = db::testdata;
using db::Backend;
using db::Row;
using db::Value;

constexpr int64_t kNow = 1'700'000'000;  // every Db here runs on this fixed clock

// ------------------------------------------------------------------ databases
// Why the server of `b` cannot be used (its URL is not set), or nullopt.
std::optional<std::string> missing_server(Backend b) {
  if (test::server_url(b)) return std::nullopt;
  return std::string(b == Backend::kPostgres ? "YM_TEST_POSTGRES_URL" : "YM_TEST_MYSQL_URL") +
         " is not set: scripts/test starts a server and sets it";
}

// A database of this test's own on the server, holding the current schema; dropped at the end.
class ServerDatabase {
 public:
  explicit ServerDatabase(Backend b) : backend_(b) {
    admin_ = db::open_connection(db::Url::parse(*test::server_url(b)));
    static std::atomic<int> seq{0};
    name_ = "ym_lc_" + std::to_string(::getpid()) + "_" + std::to_string(seq++);
    drop();
    admin_->execute_script(
        "CREATE DATABASE " + admin_->dialect().quote(name_) +
        (b == Backend::kMysql ? " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" : ""));
    url_ = with_database(*test::server_url(b), name_);
  }
  ~ServerDatabase() {
    try {
      drop();
    } catch (const std::exception& e) {
      // A throwaway server: a database left behind costs little, but say so.
      std::fprintf(stderr, "lost_commit_test: could not drop database %s: %s\n", name_.c_str(),
                   e.what());
    }
  }
  const std::string& url() const { return url_; }

 private:
  void drop() {
    std::string sql = "DROP DATABASE IF EXISTS " + admin_->dialect().quote(name_);
    if (backend_ == Backend::kMysql) {
      admin_->execute_script(sql);
      return;
    }
    // The plain form first: it stops an autovacuum worker in the database by itself, where
    // WITH (FORCE) refuses to (an ordinary user may not terminate it). FORCE only for a session
    // of ours that outlived its test.
    try {
      admin_->execute_script(sql);
    } catch (const db::Error&) {
      admin_->execute_script(sql + " WITH (FORCE)");
    }
  }

  Backend backend_;
  std::unique_ptr<db::Connection> admin_;
  std::string name_;
  std::string url_;
};

db::DbOptions fixed_clock_options(int pool_size) {
  db::DbOptions o;
  o.pool_size = pool_size;
  o.clock = [] { return Timestamp(std::chrono::seconds(kNow)); };
  return o;
}

WireProtocol protocol_of(Backend b) {
  return b == Backend::kPostgres ? WireProtocol::kPostgres : WireProtocol::kMysql;
}

int port_of(const std::string& url) { return db::Url::parse(url).port.value_or(0); }

// What an exception is, for failure messages (never a URL's password: driver messages are masked).
std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const db::CommitOutcomeUnknown& x) {
    return std::string("CommitOutcomeUnknown: ") + x.what();
  } catch (const db::AlreadyClaimedError& x) {
    return std::string("AlreadyClaimedError: ") + x.what();
  } catch (const db::NotClaimedError& x) {
    return std::string("NotClaimedError: ") + x.what();
  } catch (const db::Error& x) {
    return std::string(db::to_string(x.category())) + " error: " + x.what();
  } catch (const std::exception& x) {
    return std::string("std::exception: ") + x.what();
  } catch (...) {
    return "an unknown exception";
  }
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += "\n  " + s;
  return out.empty() ? " (none)" : out;
}

// Rows of a query as strings, one "a,b,c" per row: compact to compare and to print.
std::vector<std::string> rows_of(db::Connection& c, const std::string& sql,
                                 std::vector<Value> params = {}) {
  std::vector<std::string> out;
  for (const Row& r : c.query(sql, params).rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) line += ",";
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              line += "NULL";
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
              line += std::to_string(x);
            } else if constexpr (std::is_same_v<T, std::string>) {
              line += x;
            } else {
              line += x.bytes;
            }
          },
          r[i]);
    }
    out.push_back(line);
  }
  return out;
}

// ------------------------------------------------------------------ the proxy itself
// The proxy on a raw driver connection, with no pool in between: what it recognises, what it
// lets pass, and that the server really did what the client never heard about.
struct ServerParam {
  Backend backend;
  std::string name;
};
void PrintTo(const ServerParam& p, std::ostream* os) { *os << p.name; }

class ProxyWire : public testing::TestWithParam<ServerParam> {
 protected:
  void SetUp() override {
    YM_FAULTS_REQUIRE(missing_server(GetParam().backend));
    database_ = std::make_unique<ServerDatabase>(GetParam().backend);
    db::Db::open(database_->url())->shutdown();  // the schema
    direct_ = db::open_connection(db::Url::parse(database_->url()));
    proxy_ =
        std::make_unique<CommitProxy>(protocol_of(GetParam().backend), port_of(database_->url()));
    proxy_->record(true);
    through_ = db::open_connection(db::Url::parse(with_port(database_->url(), proxy_->port())));
  }
  void TearDown() override {
    through_.reset();
    proxy_.reset();
    direct_.reset();
    database_.reset();
  }

  void insert_master(db::Connection& c, const std::string& name) {
    c.stmt("INSERT INTO masters (name, name_hash, active, last_active) VALUES (?, ?, 1, 0)")
        .bind(name, name + std::string(40 - name.size(), 'x'))
        .exec();
  }
  std::vector<std::string> masters() {
    return rows_of(*direct_, "SELECT name FROM masters ORDER BY name");
  }
  // Runs `fn` and requires it to fail the way a dead connection fails.
  template <class Fn>
  void expect_connection_lost(Fn fn) {
    try {
      fn();
      ADD_FAILURE() << "the call succeeded: the proxy did not drop the connection";
    } catch (const db::Error& e) {
      EXPECT_EQ(e.category(), db::ErrorCategory::kConnection) << describe(std::current_exception());
    }
  }

  std::unique_ptr<ServerDatabase> database_;
  std::unique_ptr<db::Connection> direct_;
  std::unique_ptr<CommitProxy> proxy_;
  std::unique_ptr<db::Connection> through_;
};

TEST_P(ProxyWire, LosesTheReplyToTheCommitOfAWriteAfterTheServerCommitted) {
  proxy_->arm(Drop::kCommit);
  through_->begin(db::TxnMode::kWrite);
  insert_master(*through_, "m1");
  expect_connection_lost([&] { through_->commit(); });
  EXPECT_EQ(proxy_->lost(), std::vector<std::string>{"COMMIT"});
  EXPECT_EQ(masters(), std::vector<std::string>{"m1"});
  // The form the proxy recognised: what the client library sends for our driver's commit().
  std::string commit = GetParam().backend == Backend::kPostgres ? "Q COMMIT [T, wrote]"
                                                                : "COM_QUERY COMMIT [status 0x";
  bool seen = false;
  for (const auto& r : proxy_->recorded()) seen = seen || r.rfind(commit, 0) == 0;
  EXPECT_TRUE(seen) << "no '" << commit << "' among:" << joined(proxy_->recorded());
}

TEST_P(ProxyWire, LetsTheCommitOfAReadTransactionAndOfAnUnarmedWritePass) {
  insert_master(*direct_, "m0");
  through_->begin(db::TxnMode::kWrite);
  insert_master(*through_, "m1");
  through_->commit();  // not armed yet
  proxy_->arm(Drop::kCommit);
  through_->begin(db::TxnMode::kRead);
  EXPECT_EQ(rows_of(*through_, "SELECT name FROM masters ORDER BY name"),
            (std::vector<std::string>{"m0", "m1"}));
  through_->commit();
  EXPECT_EQ(proxy_->armed(), 1);
  EXPECT_TRUE(proxy_->lost().empty()) << joined(proxy_->lost());
}

TEST_P(ProxyWire, LosesTheReplyToAnAutocommitWriteAfterTheServerRanIt) {
  proxy_->arm(Drop::kAutocommitWrite);
  // A write inside a transaction is not one: it passes, and so does its COMMIT.
  through_->begin(db::TxnMode::kWrite);
  insert_master(*through_, "m1");
  through_->commit();
  EXPECT_EQ(proxy_->armed(), 1);
  expect_connection_lost([&] { insert_master(*through_, "m2"); });
  ASSERT_EQ(proxy_->lost().size(), 1u) << joined(proxy_->lost());
  EXPECT_EQ(proxy_->lost()[0].rfind("autocommit write: INSERT INTO masters", 0), 0u)
      << proxy_->lost()[0];
  EXPECT_EQ(masters(), (std::vector<std::string>{"m1", "m2"}));
}

TEST_P(ProxyWire, CanLoseTheCommitItselfSoThatTheServerRollsBack) {
  proxy_->arm(Drop::kCommit, 1, Lose::kRequest);
  through_->begin(db::TxnMode::kWrite);
  insert_master(*through_, "m1");
  expect_connection_lost([&] { through_->commit(); });
  EXPECT_EQ(proxy_->lost(), std::vector<std::string>{"COMMIT (never sent)"});
  EXPECT_TRUE(masters().empty()) << joined(masters());
}

TEST_P(ProxyWire, CanLoseAnAutocommitWriteBeforeItCommits) {
  proxy_->arm(Drop::kAutocommitWrite, 1, Lose::kRequest);
  expect_connection_lost([&] { insert_master(*through_, "m1"); });
  ASSERT_EQ(proxy_->lost().size(), 1u) << joined(proxy_->lost());
  EXPECT_TRUE(masters().empty()) << joined(masters());
}

TEST_P(ProxyWire, ForwardsLargeValuesUnchangedWhenNotArmed) {
  // Many reads of the proxy (64 KiB each) and many TCP segments, both ways.
  std::string big;
  for (int i = 0; big.size() < (1 << 20); ++i) big += "line " + std::to_string(i) + "\n";
  through_->stmt("INSERT INTO masters (name, name_hash, active, last_active) VALUES (?, ?, 1, 0)")
      .bind(big, std::string(40, 'b'))
      .exec();
  auto got = through_->stmt("SELECT name FROM masters").scalar<std::string>();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), big.size());
  EXPECT_TRUE(*got == big);
  EXPECT_TRUE(proxy_->lost().empty()) << joined(proxy_->lost());
}

const std::vector<ServerParam> kServers = {{Backend::kPostgres, "postgres"},
                                           {Backend::kMysql, "mysql"}};
std::string server_param_name(const testing::TestParamInfo<ServerParam>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Servers, ProxyWire, testing::ValuesIn(kServers), server_param_name);

// ------------------------------------------------------------------ the pool, given a real loss
// What the pool makes of the error a driver really raises when the reply to COMMIT (or to a
// write_one statement) is lost: CommitOutcomeUnknown for a call that cannot check, a checking
// repeat for a call submitted with Unknown::kRetry.
class PoolLostReply : public ProxyWire {
 protected:
  void SetUp() override {
    ProxyWire::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string url = with_port(database_->url(), proxy_->port());
    db::PoolOptions o;
    o.size = 1;
    o.retry_budget = std::chrono::seconds(20);
    pool_ =
        std::make_unique<db::Pool>([url] { return db::open_connection(db::Url::parse(url)); }, o);
  }
  void TearDown() override {
    if (pool_) pool_->shutdown();
    pool_.reset();
    ProxyWire::TearDown();
  }

  // A write that inserts master `name` unless a lost reply's attempt already did; records whether
  // each attempt was told that the outcome of an earlier one is unknown.
  auto checking_insert(std::string name, std::shared_ptr<std::vector<bool>> attempts) {
    return [this, name, attempts](db::Connection& c) {
      attempts->push_back(db::Pool::commit_outcome_unknown());
      if (db::Pool::commit_outcome_unknown() &&
          c.stmt("SELECT 1 FROM masters WHERE name = ?").bind(name).one()) {
        return;
      }
      insert_master(c, name);
    };
  }

  std::unique_ptr<db::Pool> pool_;
};

TEST_P(PoolLostReply, TransactionThatCannotCheckFailsWithCommitOutcomeUnknown) {
  proxy_->arm(Drop::kCommit);
  auto f = pool_->transaction([this](db::Connection& c) { insert_master(c, "m1"); });
  EXPECT_THROW(f.get(), db::CommitOutcomeUnknown);
  EXPECT_EQ(proxy_->lost(), std::vector<std::string>{"COMMIT"});
  EXPECT_EQ(masters(), std::vector<std::string>{"m1"});
}

TEST_P(PoolLostReply, TransactionThatChecksRunsAgainKnowingTheOutcomeIsUnknown) {
  proxy_->arm(Drop::kCommit);
  auto attempts = std::make_shared<std::vector<bool>>();
  auto f = pool_->transaction(checking_insert("m1", attempts), db::Unknown::kRetry);
  try {
    f.get();
  } catch (...) {
    ADD_FAILURE() << describe(std::current_exception());
  }
  EXPECT_EQ(*attempts, (std::vector<bool>{false, true}));
  EXPECT_EQ(proxy_->lost(), std::vector<std::string>{"COMMIT"});
  EXPECT_EQ(masters(), std::vector<std::string>{"m1"});
}

TEST_P(PoolLostReply, WriteOneThatCannotCheckFailsWithCommitOutcomeUnknown) {
  proxy_->arm(Drop::kAutocommitWrite);
  auto f = pool_->write_one([this](db::Connection& c) { insert_master(c, "m1"); });
  EXPECT_THROW(f.get(), db::CommitOutcomeUnknown);
  ASSERT_EQ(proxy_->lost().size(), 1u) << joined(proxy_->lost());
  EXPECT_EQ(masters(), std::vector<std::string>{"m1"});
}

TEST_P(PoolLostReply, WriteOneThatChecksRunsAgainKnowingTheOutcomeIsUnknown) {
  proxy_->arm(Drop::kAutocommitWrite);
  auto attempts = std::make_shared<std::vector<bool>>();
  auto f = pool_->write_one(checking_insert("m1", attempts), db::Unknown::kRetry);
  try {
    f.get();
  } catch (...) {
    ADD_FAILURE() << describe(std::current_exception());
  }
  EXPECT_EQ(*attempts, (std::vector<bool>{false, true}));
  ASSERT_EQ(proxy_->lost().size(), 1u) << joined(proxy_->lost());
  EXPECT_EQ(masters(), std::vector<std::string>{"m1"});
}

INSTANTIATE_TEST_SUITE_P(Servers, PoolLostReply, testing::ValuesIn(kServers), server_param_name);

// ------------------------------------------------------------------ the connectors
enum class Source {
  kProxy,        // the proxy forwards the commit and loses the reply: it happened
  kProxyUnsent,  // the proxy loses the commit itself: it did not happen, the client cannot tell
  kLibrary,      // the in-library switch: it happened
};

struct Target {
  Source source;
  Backend backend;
  std::string name;
};
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

class LostCommit : public testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    const Target& t = GetParam();
    if (t.backend == Backend::kSqlite) {
      url_ = "sqlite:///" + scratch_.path("lost_commit.sqlite").string();
    } else {
      YM_FAULTS_REQUIRE(missing_server(t.backend));
      database_ = std::make_unique<ServerDatabase>(t.backend);
      url_ = database_->url();
    }
    direct_ = db::Db::open(url_, fixed_clock_options(2));
    direct_
        ->insert_test_data({
            td::Master{.id = 1, .name = "m1"},
            td::Builder{.id = 1, .name = "b"},
            td::Buildset{.id = 1},
            td::BuildRequest{.id = 1, .buildsetid = 1, .builderid = 1, .submitted_at = kNow - 60},
            td::BuildRequest{.id = 2, .buildsetid = 1, .builderid = 1, .submitted_at = kNow - 60},
        })
        .get();
    conn_ = db::open_connection(db::Url::parse(url_));
    std::string url = url_;
    if (t.source != Source::kLibrary) {
      proxy_ = std::make_unique<CommitProxy>(protocol_of(t.backend), port_of(url_));
      url = with_port(url_, proxy_->port());
    }
    // One connection: the call's retry is then the one that reconnects (see fault_happened).
    db_ = db::Db::open(url, fixed_clock_options(1));
  }

  void TearDown() override {
    if (db_) db_->shutdown();
    db_.reset();
    proxy_.reset();
    conn_.reset();
    if (direct_) direct_->shutdown();
    direct_.reset();
    database_.reset();
  }

  void insert(std::vector<td::Row> rows) { direct_->insert_test_data(std::move(rows)).get(); }

  // The next write's commit is made and its reply lost (or, for kProxyUnsent, the commit lost).
  void lose_next_commit_reply() {
    if (proxy_) {
      proxy_->arm(Drop::kNextWrite, 1,
                  GetParam().source == Source::kProxyUnsent ? Lose::kRequest : Lose::kReply);
    } else {
      ASSERT_NE(db_->faults(), nullptr);
      reconnects_before_ = db_->pool_stats().reconnects;
      db_->faults()->lose_next_commit_replies(1);
    }
  }

  // That the reply was lost indeed (a test whose fault never struck would prove nothing).
  void expect_fault_happened() {
    if (proxy_) {
      EXPECT_EQ(proxy_->lost().size(), 1u)
          << "replies lost by the proxy:" << joined(proxy_->lost());
    } else {
      // The lost reply takes the connection with it; the repeat opened another.
      EXPECT_GT(db_->pool_stats().reconnects, reconnects_before_)
          << "the in-library switch did not strike";
    }
  }

  // Runs `call` (which waits for its future); true when it succeeded. A failure names the error:
  // CommitOutcomeUnknown means the connector does not check what its lost attempt committed.
  template <class Fn>
  bool succeeds(Fn call) {
    try {
      call();
      return true;
    } catch (...) {
      ADD_FAILURE() << "the call failed after its commit's reply was lost: "
                    << describe(std::current_exception());
      return false;
    }
  }

  std::vector<std::string> rows(const std::string& sql, std::vector<Value> params = {}) {
    return rows_of(*conn_, sql, std::move(params));
  }

  faults::Scratch scratch_;
  std::unique_ptr<ServerDatabase> database_;
  std::string url_;                       // the database itself
  std::unique_ptr<db::Db> direct_;        // test data and reads, never faulted
  std::unique_ptr<db::Connection> conn_;  // the direct connection that checks the effects
  std::unique_ptr<CommitProxy> proxy_;
  std::unique_ptr<db::Db> db_;  // the Db under test: through the proxy, or with the switch
  uint64_t reconnects_before_ = 0;
};

TEST_P(LostCommit, AppendLogStoresTheLinesOnceAndInOrder) {
  insert({td::Build{.id = 1, .number = 1, .builderid = 1, .buildrequestid = 1, .masterid = 1},
          td::Step{.id = 1, .number = 0, .name = "compile", .buildid = 1},
          td::Log{.id = 1, .name = "stdio", .slug = "stdio", .stepid = 1, .num_lines = 2},
          td::LogChunk{.logid = 1, .first_line = 0, .last_line = 1, .content = "one\ntwo\n"}});
  lose_next_commit_reply();
  std::optional<db::LineRange> range;
  if (succeeds([&] { range = db_->logs().append_log(1, "three\nfour\nfive\n").get(); })) {
    EXPECT_EQ(range, (db::LineRange{2, 4}));
  }
  expect_fault_happened();
  EXPECT_EQ(rows("SELECT num_lines FROM logs WHERE id = 1"), std::vector<std::string>{"5"});
  EXPECT_EQ(rows("SELECT first_line, last_line FROM logchunks WHERE logid = 1 ORDER BY first_line"),
            (std::vector<std::string>{"0,1", "2,4"}));
  EXPECT_EQ(direct_->logs().get_log_lines(1, 0, 100).get(), "one\ntwo\nthree\nfour\nfive\n");
}

TEST_P(LostCommit, AddBuildCreatesOneBuild) {
  lose_next_commit_reply();
  db::AddedBuild added;
  if (succeeds([&] { added = db_->builds().add_build(1, 1, std::nullopt, 1, "starting").get(); })) {
    EXPECT_EQ(added.number, 1);
    EXPECT_EQ(rows("SELECT id FROM builds"), std::vector<std::string>{std::to_string(added.id)});
  }
  expect_fault_happened();
  EXPECT_EQ(rows("SELECT builderid, buildrequestid, masterid, number, started_at FROM builds"),
            std::vector<std::string>{"1,1,1,1," + std::to_string(kNow)});
}

TEST_P(LostCommit, ClaimIsHeldByTheCallerOnce) {
  lose_next_commit_reply();
  succeeds([&] { db_->buildrequests().claim_build_requests({1, 2}, 1).get(); });
  expect_fault_happened();
  EXPECT_EQ(
      rows("SELECT brid, masterid, claimed_at FROM buildrequest_claims ORDER BY brid"),
      (std::vector<std::string>{"1,1," + std::to_string(kNow), "2,1," + std::to_string(kNow)}));
}

TEST_P(LostCommit, CompleteBuildRequestsCompletesOnce) {
  insert({td::BuildRequestClaim{.brid = 1, .masterid = 1, .claimed_at = kNow - 30}});
  lose_next_commit_reply();
  succeeds([&] {
    db_->buildrequests()
        .complete_build_requests({1}, 1, db::results::kSuccess,
                                 Timestamp(std::chrono::seconds(kNow - 5)))
        .get();
  });
  expect_fault_happened();
  // Request 2 is untouched: pending, its results the "not yet" -1 (Buildbot's code).
  EXPECT_EQ(rows("SELECT id, complete, results, complete_at FROM buildrequests ORDER BY id"),
            (std::vector<std::string>{"1,1,0," + std::to_string(kNow - 5), "2,0,-1,NULL"}));
  EXPECT_EQ(rows("SELECT brid, masterid FROM buildrequest_claims"),
            std::vector<std::string>{"1,1"});
}

TEST_P(LostCommit, CompleteBuildCompletesBuildRequestAndBuildsetOnce) {
  // One request in its own buildset, so that completing it also completes the buildset.
  insert(
      {td::Buildset{.id = 2},
       td::BuildRequest{.id = 3, .buildsetid = 2, .builderid = 1, .submitted_at = kNow - 60},
       td::BuildRequestClaim{.brid = 3, .masterid = 1, .claimed_at = kNow - 30},
       td::Build{.id = 1,
                 .number = 1,
                 .builderid = 1,
                 .buildrequestid = 3,
                 .masterid = 1,
                 .started_at = kNow - 20,
                 .complete_at = std::nullopt},
       td::Step{.id = 1, .number = 0, .name = "compile", .buildid = 1, .started_at = kNow - 20}});
  lose_next_commit_reply();
  succeeds([&] { db_->builds().complete_build(1, 1, db::results::kSuccess, "built").get(); });
  expect_fault_happened();
  std::string now = std::to_string(kNow);
  EXPECT_EQ(rows("SELECT id, results, complete_at, state_string FROM builds"),
            std::vector<std::string>{"1,0," + now + ",built"});
  EXPECT_EQ(rows("SELECT complete, results, complete_at FROM buildrequests WHERE id = 3"),
            std::vector<std::string>{"1,0," + now});
  EXPECT_EQ(rows("SELECT complete, results, complete_at FROM buildsets WHERE id = 2"),
            std::vector<std::string>{"1,0," + now});
  EXPECT_EQ(rows("SELECT brid, masterid FROM buildrequest_claims"),
            std::vector<std::string>{"3,1"});
  EXPECT_EQ(rows("SELECT COUNT(*) FROM steps WHERE complete_at IS NULL"),
            std::vector<std::string>{"0"});
}

std::vector<Target> targets() {
  return {{Source::kProxy, Backend::kPostgres, "proxy_postgres"},
          {Source::kProxy, Backend::kMysql, "proxy_mysql"},
          {Source::kProxyUnsent, Backend::kPostgres, "proxy_unsent_postgres"},
          {Source::kProxyUnsent, Backend::kMysql, "proxy_unsent_mysql"},
          {Source::kLibrary, Backend::kSqlite, "switch_sqlite_file"},
          {Source::kLibrary, Backend::kPostgres, "switch_postgres"},
          {Source::kLibrary, Backend::kMysql, "switch_mysql"}};
}

INSTANTIATE_TEST_SUITE_P(Faults, LostCommit, testing::ValuesIn(targets()),
                         [](const testing::TestParamInfo<Target>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace ym::test
