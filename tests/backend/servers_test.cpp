// What only real servers show: configuration under CI, connecting (and never printing the
// password), the MySQL engine check, error mapping of server-side events (deadlocks, killed
// connections), new databases, index length, several masters racing on one database, and the
// pool surviving a server restart.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "backend/server_db.hpp"
#include "contract/fixture.hpp"
#include "db/base.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::test {
namespace {

TEST(ServerBackends, ConfiguredUnderCI) {
  if (!running_in_ci()) return;  // locally, the servers are optional
  EXPECT_TRUE(server_url(db::Backend::kPostgres))
      << "CI=true but YM_TEST_POSTGRES_URL is not set: the PostgreSQL backend would go untested";
  EXPECT_TRUE(server_url(db::Backend::kMysql))
      << "CI=true but YM_TEST_MYSQL_URL is not set: the MySQL backend would go untested";
  EXPECT_TRUE(server_ctl(db::Backend::kPostgres)) << "CI=true but YM_TEST_POSTGRES_CTL is not set";
  EXPECT_TRUE(server_ctl(db::Backend::kMysql)) << "CI=true but YM_TEST_MYSQL_CTL is not set";
}

// PgBouncer in pool_mode=transaction (YM_TEST_PGBOUNCER_URL): the contract suite and the
// three-master run go through it (backend "pgbouncer"); here, what it cannot do. The schema's
// migration lock is a session lock: creating a schema through the pooler is refused, saying how
// to do it, and leaves the database as it was.
TEST(PgBouncer, CreatingTheSchemaThroughATransactionPoolerIsRefusedNamingTheDirectWay) {
  const char* bouncer = std::getenv("YM_TEST_PGBOUNCER_URL");
  if (!bouncer || !*bouncer) {
    if (running_in_ci()) FAIL() << "CI=true but YM_TEST_PGBOUNCER_URL is not set";
    GTEST_SKIP() << "YM_TEST_PGBOUNCER_URL is not set (scripts/test starts a PgBouncer)";
  }
  // A name no earlier process used: PgBouncer keeps server connections to a database it has
  // served, and a re-created database would hand this test one the DROP had terminated.
  std::string direct =
      empty_database_url(db::Backend::kPostgres, "bouncer_" + std::to_string(::getpid()));
  std::string through = with_database(bouncer, db::Url::parse(direct).database);
  try {
    db::Db::open(through)->shutdown();
    ADD_FAILURE() << "a schema was created through the pooler";
  } catch (const db::InvalidUrl& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("transaction pooler"), std::string::npos) << what;
    EXPECT_NE(what.find("yardmaster db upgrade"), std::string::npos) << what;
    EXPECT_EQ(what.find(*db::Url::parse(through).password), std::string::npos);
  }
  auto conn = db::open_connection(db::Url::parse(direct));
  EXPECT_EQ(migrate::read_status(*conn).state, migrate::SchemaState::kEmpty);
  // Made directly, the schema is then used through the pooler: reads, writes, transactions.
  db::Db::open(direct)->shutdown();
  auto db = db::Db::open(through);
  int64_t id = db->masters().find_master_id("through-the-pooler").get();
  EXPECT_TRUE(db->masters().set_master_state(id, true).get());
  auto m = db->masters().get_master(id).get();
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->active);
  db->shutdown();
}

struct ServerParam {
  db::Backend backend;
  std::string name;
};
void PrintTo(const ServerParam& p, std::ostream* os) { *os << p.name; }

std::vector<ServerParam> servers() {
  std::vector<ServerParam> out;
  if (server_url(db::Backend::kPostgres) || running_in_ci())
    out.push_back({db::Backend::kPostgres, "postgres"});
  if (server_url(db::Backend::kMysql) || running_in_ci())
    out.push_back({db::Backend::kMysql, "mysql"});
  return out;
}

std::string param_name(const testing::TestParamInfo<ServerParam>& info) { return info.param.name; }

// The URL text with its user info replaced.
std::string with_credentials(const std::string& url, const std::string& userinfo) {
  size_t start = url.find("://") + 3;
  size_t at = url.find('@', start);
  return url.substr(0, start) + userinfo + "@" + url.substr(at + 1);
}

int64_t count(db::Connection& c, const std::string& table) {
  return *c.stmt("SELECT COUNT(*) FROM " + c.dialect().quote(table)).scalar<int64_t>();
}

// ------------------------------------------------------------------ connecting
class ServerTest : public testing::TestWithParam<ServerParam> {
 protected:
  db::Backend backend() const { return GetParam().backend; }
  std::string url() const {
    auto u = server_url(backend());
    if (!u) throw std::runtime_error("server not configured");
    return *u;
  }
};

TEST_P(ServerTest, AWrongPasswordIsAConnectionErrorThatNeverShowsIt) {
  const std::string secret = "Sup3r-Secret-Pa55word";
  std::string bad = with_credentials(url(), "ym:" + secret);
  try {
    db::Db::open(bad);
    FAIL() << "connected with a wrong password";
  } catch (const db::ConnectionFailed& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find(secret), std::string::npos) << what;
    EXPECT_NE(what.find("***"), std::string::npos) << "the URL in the message is masked: " << what;
  }
  // The real password is not printed either, through the URL or the driver's text.
  db::Url real = db::Url::parse(url());
  ASSERT_TRUE(real.password);
  std::string missing_db = url();
  missing_db.replace(missing_db.rfind('/'), std::string::npos, "/ym_no_such_database");
  try {
    db::Db::open(missing_db);
    FAIL() << "opened a database that does not exist";
  } catch (const db::ConnectionFailed& e) {
    EXPECT_EQ(std::string(e.what()).find(*real.password), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ym_no_such_database"), std::string::npos) << e.what();
  }
}

TEST_P(ServerTest, UnknownOrMalformedUrlOptionsAreRejected) {
  std::string u = url();
  std::string sep = u.find('?') == std::string::npos ? "?" : "&";
  EXPECT_THROW(db::open_connection(db::Url::parse(u + sep + "conect_timeout=5")), db::InvalidUrl);
  EXPECT_THROW(db::open_connection(db::Url::parse(u + sep + "connect_timeout=soon")),
               db::InvalidUrl);
  EXPECT_NO_THROW(db::open_connection(db::Url::parse(u + sep + "connect_timeout=5")));
}

TEST_P(ServerTest, NobodyListeningIsATransientConnectionError) {
  db::Url u = db::Url::parse(url());
  std::string text = url();
  std::string port = ":" + std::to_string(*u.port) + "/";
  text.replace(text.find(port), port.size(), ":1/");
  try {
    db::open_connection(db::Url::parse(text + (text.find('?') == std::string::npos ? "?" : "&") +
                                       "connect_timeout=2"));
    FAIL() << "connected to port 1";
  } catch (const db::ConnectionFailed& e) {
    EXPECT_TRUE(e.transient()) << e.what();
    EXPECT_EQ(std::string(e.what()).find(*u.password), std::string::npos) << e.what();
  }
}

TEST_P(ServerTest, ANewDatabaseIsCreatedAtTheCurrentVersion) {
  std::string fresh = empty_database_url(backend(), "new");
  auto db = db::Db::open(fresh);
  db->shutdown();
  auto conn = db::open_connection(db::Url::parse(fresh));
  auto status = migrate::read_status(*conn);
  EXPECT_EQ(status.state, migrate::SchemaState::kUpToDate);
  EXPECT_EQ(status.version, migrate::current_version());
  auto tables = conn->table_names();
  for (const auto& t : db::model::current().tables) {
    EXPECT_NE(std::find(tables.begin(), tables.end(), t.name), tables.end()) << t.name;
  }
  // Opening it again finds it current and changes nothing.
  db::Db::open(fresh)->shutdown();
  EXPECT_EQ(conn->table_names(), tables);
}

// ------------------------------------------------------------------ error mapping
TEST_P(ServerTest, ADeadlockIsATransientError) {
  std::string u = clean_database_url(backend());
  auto a = db::open_connection(db::Url::parse(u));
  auto b = db::open_connection(db::Url::parse(u));
  a->stmt(
       "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'a', 'a', 0, 0)")
      .exec();
  a->stmt(
       "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (2, 'b', 'b', 0, 0)")
      .exec();
  a->begin(db::TxnMode::kWrite);
  b->begin(db::TxnMode::kWrite);
  a->stmt("UPDATE masters SET active = 1 WHERE id = 1").exec();
  b->stmt("UPDATE masters SET active = 1 WHERE id = 2").exec();
  std::atomic<int> transient{0};
  auto cross = [&](db::Connection& c, int id) {
    try {
      c.stmt("UPDATE masters SET active = 2 WHERE id = ?").bind(id).exec();
      c.commit();
    } catch (const db::TransientError&) {
      ++transient;
      c.rollback();
    }
  };
  std::thread ta([&] { cross(*a, 2); });
  std::thread tb([&] { cross(*b, 1); });
  ta.join();
  tb.join();
  EXPECT_EQ(transient.load(), 1) << "exactly one side of the deadlock is chosen as its victim";
}

TEST_P(ServerTest, AKilledConnectionIsATransientConnectionErrorThatPoisonsIt) {
  std::string u = clean_database_url(backend());
  auto victim = db::open_connection(db::Url::parse(u));
  auto killer = db::open_connection(db::Url::parse(u));
  if (backend() == db::Backend::kPostgres) {
    auto pid = victim->stmt("SELECT pg_backend_pid()").scalar<int64_t>();
    killer->stmt("SELECT pg_terminate_backend(?)").bind(*pid).all();
  } else {
    auto id = victim->stmt("SELECT CONNECTION_ID()").scalar<int64_t>();
    killer->execute_script("KILL CONNECTION " + std::to_string(*id));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  try {
    victim->stmt("SELECT 1").all();
    FAIL() << "a killed connection answered";
  } catch (const db::ConnectionFailed& e) {
    EXPECT_TRUE(e.transient()) << e.what();
    EXPECT_TRUE(e.poisons_connection()) << e.what();
  }
  // It stays refused (the pool replaces it) rather than silently reconnecting.
  EXPECT_THROW(victim->stmt("SELECT 1").all(), db::ConnectionFailed);
}

TEST_P(ServerTest, DataTheColumnCannotHoldIsInvalidArgument) {
  auto c = db::open_connection(db::Url::parse(clean_database_url(backend())));
  // workers.name is VARCHAR(50): the servers enforce it (SQLite does not; check_length does).
  EXPECT_THROW(c->stmt("INSERT INTO workers (name, info) VALUES (?, '{}')")
                   .bind(std::string(51, 'w'))
                   .exec(),
               db::InvalidArgument);
  EXPECT_THROW(c->stmt("INSERT INTO workers (name, info) VALUES (?, NULL)").bind("w").exec(),
               db::InvalidArgument);
  EXPECT_EQ(count(*c, "workers"), 0);
}

// ------------------------------------------------------------------ backend limits
TEST_P(ServerTest, IndexedStringsFitTheIndexLengthLimit) {
  // Buildbot's "Index Length in MySQL": every indexed string column is at most 255 characters,
  // and names longer than that are unique through their sha1 hash column instead.
  auto conn = db::open_connection(db::Url::parse(clean_database_url(backend())));
  const auto& d = conn->dialect();
  for (const auto& t : db::model::current().tables) {
    for (const auto& ix : t.indexes) {
      for (const auto& col : ix.columns) {
        const auto& c = t.column(col);
        EXPECT_NE(c.type, db::ColumnType::kText)
            << t.name << "." << col << " is TEXT, in " << ix.name;
        if (c.type == db::ColumnType::kString) {
          EXPECT_LE(c.length, d.max_indexed_string) << t.name << "." << col << " in " << ix.name;
        }
      }
    }
  }
  auto db = db::Db::open(clean_database_url(backend()));
  std::string long_name(5000, 'm');
  long_name += "\xF0\x9F\x9A\x82";
  int64_t id = db->masters().find_master_id(long_name).get();
  EXPECT_EQ(db->masters().find_master_id(long_name).get(), id);
  EXPECT_NE(db->masters().find_master_id(long_name + "x").get(), id);
  EXPECT_EQ(db->masters().get_master(id).get()->name, long_name);
}

TEST_P(ServerTest, MysqlRefusesTablesWithoutTransactions) {
  // Buildbot's "Transactions in MySQL": on MyISAM a rollback keeps what it should undo. We
  // refuse such a table at start instead of half-applying claims and migrations later.
  if (backend() != db::Backend::kMysql) {
    EXPECT_TRUE(db::open_connection(db::Url::parse(url()))->dialect().transactional_ddl);
    return;
  }
  std::string u = empty_database_url(backend(), "myisam");
  {
    auto c = db::open_connection(db::Url::parse(u));
    c->execute_script("CREATE TABLE masters (id BIGINT NOT NULL PRIMARY KEY) ENGINE=MyISAM");
  }
  try {
    db::open_connection(db::Url::parse(u));
    FAIL() << "accepted a MyISAM table";
  } catch (const db::ConnectionFailed& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("masters"), std::string::npos) << what;
    EXPECT_NE(what.find("MyISAM"), std::string::npos) << what;
    EXPECT_NE(what.find("InnoDB"), std::string::npos) << what;
    EXPECT_FALSE(e.transient());
  }
  EXPECT_THROW(db::Db::open(u), db::ConnectionFailed);
}

INSTANTIATE_TEST_SUITE_P(Servers, ServerTest, testing::ValuesIn(servers()), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ServerTest);

// ------------------------------------------------------------------ several masters
// Several pools (as several master processes would have) on one database, racing to create the
// same rows: each name gets exactly one row and every caller gets its id.
class MultiMaster : public testing::TestWithParam<Backend> {};

std::vector<Backend> shared_backends() {
  std::vector<Backend> out;
  for (const auto& b : contract_backends()) {
    if (b.impl == Impl::kSqliteFile) out.push_back({Impl::kSqliteFile, "sqlite_file"});
    if (b.impl == Impl::kPostgres || b.impl == Impl::kMysql || b.impl == Impl::kPgBouncer ||
        b.impl == Impl::kGalera) {
      out.push_back(b);
    }
  }
  return out;
}

std::string shared_url(const Backend& b) {
  switch (b.impl) {
    case Impl::kPostgres:
      return clean_database_url(db::Backend::kPostgres);
    case Impl::kMysql:
      return clean_database_url(db::Backend::kMysql);
    case Impl::kPgBouncer:
      return pgbouncer_database_url();
    case Impl::kGalera:
      return galera_database_url();
    default: {
      const char* base = std::getenv("YM_TEST_TMPDIR");
      std::string path = std::string(base ? base : "/tmp") + "/ym-multimaster-" +
                         std::to_string(::getpid()) + ".sqlite";
      for (const char* s : {"", "-wal", "-shm"}) std::remove((path + s).c_str());
      return "sqlite:///" + path;
    }
  }
}

struct SharedDb {
  std::string url;
  std::vector<std::unique_ptr<db::Db>> dbs;
  // On a Galera cluster, pool i reaches node i % 3 first: the races are between nodes, decided
  // by certification at COMMIT rather than by row locks.
  explicit SharedDb(const Backend& b, int n) : url(shared_url(b)) {
    dbs.push_back(db::Db::open(url));  // creates the schema when needed, before the others
    for (int i = 1; i < n; ++i) {
      dbs.push_back(db::Db::open(b.impl == Impl::kGalera ? hosts_rotated(url, i) : url));
    }
  }
  ~SharedDb() {
    for (auto& d : dbs) d->shutdown();
  }
};

TEST_P(MultiMaster, ConcurrentFindOrCreateGivesOneRowPerName) {
  constexpr int kPools = 4, kThreads = 8, kNames = 20;
  SharedDb m(GetParam(), kPools);
  std::mutex mu;
  std::map<std::string, std::set<int64_t>> ids;
  race(kThreads, [&](int t) {
    db::Db& db = *m.dbs[t % kPools];
    for (int n = 0; n < kNames; ++n) {
      std::string name = "name" + std::to_string(n);
      int64_t master = db.masters().find_master_id("master:" + name).get();
      int64_t worker = db.workers().find_worker_id("worker-" + name).get();
      auto builder = db.builders().find_builder_id("builder-" + name, true).get();
      int64_t object = db.state().get_object_id(name, "Cls").get();
      std::lock_guard lock(mu);
      ids["m" + name].insert(master);
      ids["w" + name].insert(worker);
      ids["b" + name].insert(*builder);
      ids["o" + name].insert(object);
    }
  });
  for (const auto& [name, set] : ids) EXPECT_EQ(set.size(), 1u) << name;
  auto conn = db::open_connection(db::Url::parse(m.url));
  EXPECT_EQ(count(*conn, "masters"), kNames);
  EXPECT_EQ(count(*conn, "workers"), kNames);
  EXPECT_EQ(count(*conn, "builders"), kNames);
  EXPECT_EQ(count(*conn, "objects"), kNames);
}

TEST_P(MultiMaster, ConcurrentLinksAndStateGiveOneRowEach) {
  constexpr int kPools = 4, kThreads = 8;
  SharedDb m(GetParam(), kPools);
  int64_t master = m.dbs[0]->masters().find_master_id("m").get();
  int64_t builder = *m.dbs[0]->builders().find_builder_id("b", true).get();
  int64_t worker = m.dbs[0]->workers().find_worker_id("w").get();
  int64_t object = m.dbs[0]->state().get_object_id("o", "C").get();
  std::mutex mu;
  std::set<std::string> created;
  race(kThreads, [&](int t) {
    db::Db& db = *m.dbs[t % kPools];
    db.builders().add_builder_master(builder, master).get();
    db.workers().worker_connected(worker, master, nlohmann::json::object()).get();
    auto v = db.state().atomic_create_state(object, "s", [t] { return nlohmann::json(t); }).get();
    std::lock_guard lock(mu);
    created.insert(v.dump());
  });
  EXPECT_EQ(created.size(), 1u) << "every caller sees the one value that was stored";
  auto conn = db::open_connection(db::Url::parse(m.url));
  EXPECT_EQ(count(*conn, "builder_masters"), 1);
  EXPECT_EQ(count(*conn, "connected_workers"), 1);
  EXPECT_EQ(count(*conn, "object_state"), 1);
}

class MasterExpiry : public MultiMaster {};

TEST_P(MasterExpiry, ExactlyOnePeerSeesAMasterExpire) {
  // Several masters expiring one silent peer at once: the one that sees the flag change takes
  // its work over, so there must be exactly one, and the same when it comes back.
  constexpr int kPools = 4, kThreads = 8;
  SharedDb m(GetParam(), kPools);
  for (int round = 0; round < 5; ++round) {
    int64_t victim = m.dbs[0]->masters().find_master_id("victim" + std::to_string(round)).get();
    for (bool active : {true, false, true}) {
      std::atomic<int> changed{0};
      race(kThreads, [&](int t) {
        if (m.dbs[t % kPools]->masters().set_master_state(victim, active).get()) ++changed;
      });
      EXPECT_EQ(changed.load(), 1) << "round " << round << (active ? ", activating" : ", expiring");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shared, MultiMaster, testing::ValuesIn(shared_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Shared, MasterExpiry, testing::ValuesIn(shared_backends()), backend_name);

// ------------------------------------------------------------------ server restart
// Stops and starts the shared test server (ctest runs these alone: RUN_SERIAL).
class ServerRestart : public testing::TestWithParam<ServerParam> {
 protected:
  void ctl(const std::string& action) {
    auto cmd = server_ctl(GetParam().backend);
    ASSERT_TRUE(cmd) << "set YM_TEST_POSTGRES_CTL / YM_TEST_MYSQL_CTL to the server's control "
                        "script (scripts/test does)";
    ASSERT_EQ(std::system((*cmd + " " + action + " >/dev/null 2>&1").c_str()), 0)
        << *cmd << " " << action;
  }
  void SetUp() override {
    if (!server_ctl(GetParam().backend) && !running_in_ci()) {
      GTEST_SKIP() << "no control script for this server: it cannot be restarted from here";
    }
  }
};

TEST_P(ServerRestart, ThePoolRecoversAndCommittedDataSurvives) {
  db::DbOptions opts;
  opts.pool_size = 4;
  auto db = db::Db::open(clean_database_url(GetParam().backend), opts);
  std::map<std::string, int64_t> before;
  for (int i = 0; i < 50; ++i) {
    std::string name = "before:" + std::to_string(i);
    before[name] = db->masters().find_master_id(name).get();
  }

  // Calls keep coming while the server goes away and back: each either succeeds (retried
  // within the budget) or fails with a typed transient / connection error.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int64_t> during;
  std::vector<std::string> untyped;
  int typed_failures = 0;
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        std::string name = "during:" + std::to_string(t) + ":" + std::to_string(i);
        try {
          int64_t id = db->masters().find_master_id(name).get();
          std::lock_guard lock(mu);
          during[name] = id;
        } catch (const db::Error& e) {
          std::lock_guard lock(mu);
          if (e.category() == db::ErrorCategory::kConnection ||
              e.category() == db::ErrorCategory::kTransient) {
            ++typed_failures;
          } else {
            untyped.push_back(e.what());
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          untyped.push_back(e.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ctl("stop");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ctl("start");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(untyped.empty()) << untyped.front();

  // Later calls work in this same process and pool; nothing committed was lost.
  for (const auto& [name, id] : before) {
    EXPECT_EQ(db->masters().find_master_id(name).get(), id) << name;
  }
  for (const auto& [name, id] : during) {
    auto m = db->masters().get_master(id).get();
    ASSERT_TRUE(m) << "committed during the restart, then lost: " << name;
    EXPECT_EQ(m->name, name);
  }
  EXPECT_GT(db->masters().find_master_id("after").get(), 0);
  RecordProperty("typed_failures", typed_failures);
  RecordProperty("succeeded_during", static_cast<int>(during.size()));
}

TEST_P(ServerRestart, ACallWhileTheServerIsDownIsRetriedWithinTheBudget) {
  db::DbOptions opts;
  opts.pool_size = 2;
  opts.pool.retry_budget = std::chrono::milliseconds(20000);
  opts.pool.max_attempts = 1000;
  auto db = db::Db::open(clean_database_url(GetParam().backend), opts);
  int64_t id = db->masters().find_master_id("first").get();
  ctl("stop");
  auto pending = db->masters().find_master_id("while-down");
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ctl("start");
  int64_t later = pending.get();
  EXPECT_NE(later, id);
  EXPECT_EQ(db->masters().find_master_id("first").get(), id);
  EXPECT_EQ(db->masters().find_master_id("while-down").get(), later);
}

INSTANTIATE_TEST_SUITE_P(Servers, ServerRestart, testing::ValuesIn(servers()), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ServerRestart);

}  // namespace
}  // namespace ym::test
