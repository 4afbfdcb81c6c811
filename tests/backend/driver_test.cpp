// Driver-level behaviour, the same on every backend: binding and reading every value type,
// placeholders, ids, statement caching, transactions and savepoints, and the mapping of each
// backend's errors to our categories. Runs on SQLite always and on the servers when configured
// (always under CI=true, where a missing server fails here instead of being skipped).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "backend/server_db.hpp"
#include "db/base.hpp"
#include "db/connectors/sql.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::test {
namespace {

using db::Backend;
using db::Blob;
using db::Connection;
using db::Value;

struct DriverParam {
  Backend backend;
  std::string name;
  bool galera = false;  // MySQL on the Galera cluster of YM_TEST_GALERA_URL
};
void PrintTo(const DriverParam& p, std::ostream* os) { *os << p.name; }

std::vector<DriverParam> driver_backends() {
  std::vector<DriverParam> out{{Backend::kSqlite, "sqlite"}};
  if (server_url(Backend::kPostgres) || running_in_ci())
    out.push_back({Backend::kPostgres, "postgres"});
  if (server_url(Backend::kMysql) || running_in_ci()) out.push_back({Backend::kMysql, "mysql"});
  const char* galera = std::getenv("YM_TEST_GALERA_URL");
  if ((galera && *galera) || running_in_ci()) out.push_back({Backend::kMysql, "galera", true});
  return out;
}

std::string sqlite_path(const std::string& name) {
  const char* base = std::getenv("YM_TEST_TMPDIR");
  std::string dir = base ? base : "/tmp";
  std::string path = dir + "/ym-driver-" + std::to_string(::getpid()) + "-" + name + ".sqlite";
  for (const char* s : {"", "-wal", "-shm"}) std::remove((path + s).c_str());
  return path;
}

class DriverTest : public testing::TestWithParam<DriverParam> {
 protected:
  void SetUp() override {
    if (GetParam().backend == Backend::kSqlite) {
      url_ = "sqlite:///" + sqlite_path("driver");
    } else {
      url_ = GetParam().galera ? galera_database_url() : clean_database_url(GetParam().backend);
    }
    conn_ = open();
    const auto& d = conn_->dialect();
    for (const char* t : {"scratch_child", "scratch", "scratch_ids"}) {
      conn_->execute_script("DROP TABLE IF EXISTS " + d.quote(t));
    }
    std::string engine = std::string(" ") + d.table_options;
    conn_->execute_script("CREATE TABLE scratch (k " + d.type_name(db::ColumnType::kInteger, 0) +
                          " NOT NULL PRIMARY KEY, i " + d.type_name(db::ColumnType::kInteger, 0) +
                          ", f " + d.type_name(db::ColumnType::kFloat, 0) + ", s " +
                          d.type_name(db::ColumnType::kText, 0) + ", b " +
                          d.type_name(db::ColumnType::kBlob, 0) + ", name " +
                          d.type_name(db::ColumnType::kString, 255) + ")" + engine);
    conn_->execute_script("CREATE UNIQUE INDEX scratch_name ON scratch (name)");
    conn_->execute_script(
        "CREATE TABLE scratch_child (k " + d.type_name(db::ColumnType::kInteger, 0) +
        " NOT NULL PRIMARY KEY, FOREIGN KEY (k) REFERENCES scratch (k))" + engine);
    conn_->execute_script("CREATE TABLE scratch_ids (" + d.autoincrement_pk("id") + ", v " +
                          d.type_name(db::ColumnType::kInteger, 0) + ")" + engine);
  }

  std::unique_ptr<Connection> open() { return db::open_connection(db::Url::parse(url_)); }

  std::string url_;
  std::unique_ptr<Connection> conn_;
};

TEST_P(DriverTest, RoundTripsEveryValueTypeIncludingNull) {
  const std::string emoji = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xF0\x9D\x84\x9E";  // é, 😀, 𝄞
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += std::string("\0\0tail\0", 7);
  conn_->stmt("INSERT INTO scratch (k, i, f, s, b, name) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(1, int64_t{9'007'199'254'740'993}, 0.1, emoji, Blob{bytes}, nullptr)
      .exec();
  conn_->stmt("INSERT INTO scratch (k, i, f, s, b, name) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(2, std::numeric_limits<int64_t>::min(), -1.5e300, std::string(), Blob{}, "x")
      .exec();
  auto rows = conn_->stmt("SELECT k, i, f, s, b, name FROM scratch ORDER BY k").all();
  ASSERT_EQ(rows.size(), 2u);
  const auto& r = rows.rows[0];
  EXPECT_EQ(std::get<int64_t>(r[0]), 1);
  EXPECT_EQ(std::get<int64_t>(r[1]), 9'007'199'254'740'993);
  EXPECT_EQ(std::get<double>(r[2]), 0.1);
  EXPECT_EQ(std::get<std::string>(r[3]), emoji);
  EXPECT_EQ(std::get<Blob>(r[4]).bytes, bytes);
  EXPECT_TRUE(r.is_null(5));
  const auto& r2 = rows.rows[1];
  EXPECT_EQ(std::get<int64_t>(r2[1]), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(std::get<double>(r2[2]), -1.5e300);
  EXPECT_EQ(std::get<std::string>(r2[3]), "");
  EXPECT_EQ(std::get<Blob>(r2[4]).bytes, "");
  EXPECT_EQ(std::get<std::string>(r2[5]), "x");
}

TEST_P(DriverTest, LargeBlobsWithNulBytesRoundTrip) {
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); i += 7) bytes[i] = static_cast<char>(i * 31);
  conn_->stmt("INSERT INTO scratch (k, b) VALUES (?, ?)").bind(1, Blob{bytes}).exec();
  auto got = conn_->stmt("SELECT b FROM scratch WHERE k = ?").bind(1).scalar<Blob>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes.size(), bytes.size());
  EXPECT_TRUE(got->bytes == bytes);
}

TEST_P(DriverTest, FourByteUtf8IsFoundThroughAUniqueIndex) {
  // 255 four-byte characters: the longest indexed string, in MySQL's utf8mb4 worst case.
  std::string name;
  for (int i = 0; i < 255; ++i) name += "\xF0\x9F\x9A\x82";  // 🚂
  conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(1, name).exec();
  EXPECT_EQ(conn_->stmt("SELECT k FROM scratch WHERE name = ?").bind(name).scalar<int64_t>(), 1);
  EXPECT_THROW(conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(2, name).exec(),
               db::UniqueViolation);
}

TEST_P(DriverTest, TrailingSpacesAndCaseMakeDifferentStrings) {
  // MySQL's PAD SPACE collations would make 'a' and 'a ' one key; the dialect's NO PAD binary
  // collation keeps them apart, as SQLite and PostgreSQL do.
  int k = 0;
  for (const char* name : {"a", "a ", "A", " a"}) {
    conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(++k, name).exec();
  }
  EXPECT_EQ(conn_->stmt("SELECT k FROM scratch WHERE name = ?").bind("a").scalar<int64_t>(), 1);
  EXPECT_EQ(conn_->stmt("SELECT k FROM scratch WHERE name = ?").bind("a ").scalar<int64_t>(), 2);
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch WHERE name = ?").bind("A").scalar<int64_t>(),
            1);
}

TEST_P(DriverTest, QuestionMarksInLiteralsAndCommentsAreNotPlaceholders) {
  auto row = conn_->stmt("SELECT '?' AS a, 'it''s ?' AS b, ? AS c -- is this a ?\n, ? AS d")
                 .bind("one", "two")
                 .one();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->get<std::string>(0), "?");
  EXPECT_EQ(row->get<std::string>(1), "it's ?");
  EXPECT_EQ(row->get<std::string>(2), "one");
  EXPECT_EQ(row->get<std::string>(3), "two");
}

TEST_P(DriverTest, InsertReturnsTheNewIdsInOrder) {
  int64_t a = conn_->stmt("INSERT INTO scratch_ids (v) VALUES (?)").bind(10).insert("id");
  int64_t b = conn_->stmt("INSERT INTO scratch_ids (v) VALUES (?)").bind(20).insert("id");
  EXPECT_GT(a, 0);
  // Increasing, not always consecutive: a Galera cluster steps ids by its size, so that nodes
  // never hand out the same one.
  EXPECT_GT(b, a);
  EXPECT_EQ(conn_->stmt("SELECT v FROM scratch_ids WHERE id = ?").bind(b).scalar<int64_t>(), 20);
}

TEST_P(DriverTest, ExplicitIdsAreFollowedByFreshOnes) {
  conn_->stmt("INSERT INTO scratch_ids (id, v) VALUES (?, ?)").bind(41, 1).exec();
  conn_->after_explicit_ids("scratch_ids");
  EXPECT_GT(conn_->stmt("INSERT INTO scratch_ids (v) VALUES (?)").bind(2).insert("id"), 41);
}

TEST_P(DriverTest, AnUpdateCountsRowsMatchedEvenWhenUnchanged) {
  conn_->stmt("INSERT INTO scratch (k, i) VALUES (?, ?)").bind(1, 5).exec();
  // MySQL counts changed rows unless told otherwise; connectors read 0 as "no such row".
  EXPECT_EQ(conn_->stmt("UPDATE scratch SET i = ? WHERE k = ?").bind(5, 1).exec(), 1);
  EXPECT_EQ(conn_->stmt("UPDATE scratch SET i = ? WHERE k = ?").bind(5, 2).exec(), 0);
}

TEST_P(DriverTest, ManyDistinctStatementsOutgrowTheCacheSafely) {
  db::Transaction txn(*conn_, db::TxnMode::kWrite);
  for (int i = 0; i < 600; ++i) {
    std::string sql = "SELECT " + std::to_string(i) + " + ?";
    ASSERT_EQ(conn_->stmt(sql).bind(1).scalar<int64_t>(), i + 1);
  }
  txn.commit();
  for (int i = 0; i < 300; ++i) {
    std::string sql = "SELECT " + std::to_string(i) + " - ?";
    ASSERT_EQ(conn_->stmt(sql).bind(1).scalar<int64_t>(), i - 1);
  }
}

TEST_P(DriverTest, ConstraintErrorsAreTyped) {
  conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(1, "a").exec();
  EXPECT_THROW(conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(1, "b").exec(),
               db::UniqueViolation);
  EXPECT_THROW(conn_->stmt("INSERT INTO scratch (k, name) VALUES (?, ?)").bind(2, "a").exec(),
               db::UniqueViolation);
  EXPECT_THROW(conn_->stmt("INSERT INTO scratch_child (k) VALUES (?)").bind(99).exec(),
               db::ForeignKeyViolation);
  conn_->stmt("INSERT INTO scratch_child (k) VALUES (?)").bind(1).exec();
  EXPECT_THROW(conn_->stmt("DELETE FROM scratch WHERE k = ?").bind(1).exec(),
               db::ForeignKeyViolation);
  // The connection is still usable after each of them.
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 1);
}

TEST_P(DriverTest, ABugInTheSqlIsAnInternalError) {
  EXPECT_THROW(conn_->stmt("SELEC nothing").all(), db::InternalError);
  EXPECT_THROW(conn_->stmt("SELECT nope FROM scratch").all(), db::InternalError);
  EXPECT_THROW(conn_->stmt("SELECT 1 FROM no_such_table").all(), db::InternalError);
  EXPECT_EQ(conn_->stmt("SELECT 1").scalar<int64_t>(), 1);
}

TEST_P(DriverTest, RollbackUndoesEveryWriteOfTheTransaction) {
  {
    db::Transaction txn(*conn_, db::TxnMode::kWrite);
    conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec();
    conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(2).exec();
    EXPECT_THROW(conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec(),
                 db::UniqueViolation);
  }  // not committed: rolled back
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 0);
  db::Transaction txn(*conn_, db::TxnMode::kWrite);
  conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(3).exec();
  txn.commit();
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 1);
}

TEST_P(DriverTest, ASavepointKeepsTheTransactionAliveAfterAUniqueViolation) {
  // What find_something_id relies on (PostgreSQL aborts the whole transaction otherwise).
  conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec();
  db::Transaction txn(*conn_, db::TxnMode::kWrite);
  conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(2).exec();
  conn_->execute_script("SAVEPOINT sp");
  EXPECT_THROW(conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec(),
               db::UniqueViolation);
  conn_->execute_script("ROLLBACK TO SAVEPOINT sp");
  conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(3).exec();
  txn.commit();
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 3);
}

TEST_P(DriverTest, AReadTransactionSeesOneSnapshot) {
  auto other = open();
  conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec();
  db::Transaction txn(*conn_, db::TxnMode::kRead);
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 1);
  other->stmt("INSERT INTO scratch (k) VALUES (?)").bind(2).exec();
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 1);
  txn.commit();
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 2);
}

TEST_P(DriverTest, AWriteTransactionSeesRowsOthersCommitted) {
  // READ COMMITTED: find-or-create re-reads the row a concurrent transaction inserted.
  if (GetParam().backend == Backend::kSqlite) return;  // one writer at a time: nothing to see
  auto other = open();
  db::Transaction txn(*conn_, db::TxnMode::kWrite);
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 0);
  other->stmt("INSERT INTO scratch (k) VALUES (?)").bind(1).exec();
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 1);
  txn.commit();
}

TEST_P(DriverTest, BatchesStayUnderTheBindVariableLimit) {
  // Buildbot's "too many SQL variables" on SQLite: do_batch splits long id lists.
  const auto& d = conn_->dialect();
  std::vector<int64_t> ids;
  {
    db::Transaction txn(*conn_, db::TxnMode::kWrite);
    for (int64_t i = 1; i <= 5000; ++i) {
      conn_->stmt("INSERT INTO scratch (k) VALUES (?)").bind(i).exec();
      ids.push_back(i);
    }
    txn.commit();
  }
  size_t batches = 0;
  int64_t deleted = 0;
  db::internal::for_each_batch(d, ids, 0, [&](const std::string& marks, std::vector<Value>& p) {
    EXPECT_LE(p.size(), static_cast<size_t>(d.max_bind_variables));
    deleted += conn_->stmt("DELETE FROM scratch WHERE k IN (" + marks + ")").bind_all(p).exec();
    ++batches;
  });
  EXPECT_EQ(deleted, 5000);
  EXPECT_EQ(batches, (5000 + d.max_bind_variables - 1) / d.max_bind_variables);
  // And the limit itself is one the backend really accepts.
  std::vector<Value> many;
  for (int i = 0; i < d.max_bind_variables; ++i) many.emplace_back(int64_t{i});
  EXPECT_EQ(
      conn_->stmt("SELECT COUNT(*) FROM scratch WHERE k IN (" + db::placeholders(many.size()) + ")")
          .bind_all(many)
          .scalar<int64_t>(),
      0);
}

TEST_P(DriverTest, DdlIsTransactionalExactlyWhenTheDialectSaysSo) {
  // MySQL commits the open transaction at each DDL statement; migrations rely on this flag.
  const auto& d = conn_->dialect();
  conn_->execute_script("DROP TABLE IF EXISTS scratch_ddl");
  {
    db::Transaction txn(*conn_, db::TxnMode::kWrite);
    conn_->execute_script("CREATE TABLE scratch_ddl (x " +
                          d.type_name(db::ColumnType::kInteger, 0) + ")");
  }  // rolled back
  auto tables = conn_->table_names();
  bool exists = std::find(tables.begin(), tables.end(), "scratch_ddl") != tables.end();
  EXPECT_EQ(exists, !d.transactional_ddl);
  conn_->execute_script("DROP TABLE IF EXISTS scratch_ddl");
}

TEST_P(DriverTest, InsertIgnoreAndUpsertKeepOneRow) {
  const auto& d = conn_->dialect();
  std::string ignore = d.insert_ignore("scratch", {"k", "i"}, {"k"});
  std::string upsert = d.upsert("scratch", {"k", "i"}, {"k"}, {"i"});
  conn_->stmt(ignore).bind(1, 10).exec();
  conn_->stmt(ignore).bind(1, 20).exec();
  EXPECT_EQ(conn_->stmt("SELECT i FROM scratch WHERE k = 1").scalar<int64_t>(), 10);
  conn_->stmt(upsert).bind(1, 30).exec();
  conn_->stmt(upsert).bind(2, 40).exec();
  EXPECT_EQ(conn_->stmt("SELECT i FROM scratch WHERE k = 1").scalar<int64_t>(), 30);
  EXPECT_EQ(conn_->stmt("SELECT COUNT(*) FROM scratch").scalar<int64_t>(), 2);
  // Only duplicates are ignored: a foreign-key error still raises.
  EXPECT_THROW(conn_->stmt(d.insert_ignore("scratch_child", {"k"}, {"k"})).bind(99).exec(),
               db::ForeignKeyViolation);
}

INSTANTIATE_TEST_SUITE_P(Backends, DriverTest, testing::ValuesIn(driver_backends()),
                         [](const auto& info) { return info.param.name; });

// On a Galera cluster: a write that another node commits first aborts, on this node, the open
// transaction that holds the row. The transaction must fail as a whole with a transient error
// and apply nothing. Here the server reports the abort to the next statement; under the
// master-expiry race (MasterExpiry/galera) we also saw it report nothing, and the statements
// after the abort run and commit one by one, which the driver now catches at commit (see
// MysqlConnection::begin).
class GaleraDriverTest : public DriverTest {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GaleraDriverTest);

TEST_P(GaleraDriverTest, ATransactionAnotherNodeAbortsAppliesNothing) {
  conn_->stmt("INSERT INTO scratch (k, i) VALUES (?, ?)").bind(1, 0).exec();
  auto other_node = db::open_connection(db::Url::parse(hosts_rotated(url_, 1)));
  auto same_node = open();
  // The row is on the other node before the transaction takes it (reads wait for what the
  // cluster has committed: the driver sets wsrep_sync_wait).
  ASSERT_EQ(other_node->stmt("SELECT i FROM scratch WHERE k = ?").bind(1).scalar<int64_t>(), 0);

  bool refused = false;
  try {
    db::Transaction txn(*conn_, db::TxnMode::kWrite);
    ASSERT_EQ(
        conn_->stmt("SELECT i FROM scratch WHERE k = ? FOR UPDATE").bind(1).scalar<int64_t>(), 0);
    // The other node's write commits; once this node has applied it (the read below waits for
    // that), the transaction above has been aborted to let it in.
    other_node->stmt("UPDATE scratch SET i = ? WHERE k = ?").bind(2, 1).exec();
    ASSERT_EQ(same_node->stmt("SELECT i FROM scratch WHERE k = ?").bind(1).scalar<int64_t>(), 2);
    conn_->stmt("INSERT INTO scratch (k, i) VALUES (?, ?)").bind(2, 1).exec();
    conn_->stmt("UPDATE scratch SET i = ? WHERE k = ?").bind(3, 1).exec();
    txn.commit();
  } catch (const db::Error& e) {
    refused = true;
    EXPECT_TRUE(e.transient()) << e.what();
  }
  EXPECT_TRUE(refused) << "the aborted transaction was reported as committed";
  EXPECT_EQ(same_node->stmt("SELECT COUNT(*) FROM scratch WHERE k = ?").bind(2).scalar<int64_t>(),
            0);
  EXPECT_EQ(same_node->stmt("SELECT i FROM scratch WHERE k = ?").bind(1).scalar<int64_t>(), 2);

  // The connection is usable, and its single statements commit again.
  conn_->stmt("INSERT INTO scratch (k, i) VALUES (?, ?)").bind(4, 4).exec();
  EXPECT_EQ(other_node->stmt("SELECT i FROM scratch WHERE k = ?").bind(4).scalar<int64_t>(), 4);
}

std::vector<DriverParam> galera_backends() {
  std::vector<DriverParam> out;
  for (const auto& p : driver_backends()) {
    if (p.galera) out.push_back(p);
  }
  return out;
}
INSTANTIATE_TEST_SUITE_P(Backends, GaleraDriverTest, testing::ValuesIn(galera_backends()),
                         [](const auto& info) { return info.param.name; });

TEST(NumberPlaceholders, NumbersOnlyRealPlaceholders) {
  using db::internal::number_placeholders;
  EXPECT_EQ(number_placeholders("SELECT ?, ?"), "SELECT $1, $2");
  EXPECT_EQ(number_placeholders("SELECT '?', \"a?\", ?"), "SELECT '?', \"a?\", $1");
  EXPECT_EQ(number_placeholders("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
  EXPECT_EQ(number_placeholders("SELECT ? -- why?\n, ?"), "SELECT $1 -- why?\n, $2");
  EXPECT_EQ(number_placeholders("SELECT /* ? */ ?"), "SELECT /* ? */ $1");
  EXPECT_EQ(number_placeholders("SELECT $q$ ? $q$, ?"), "SELECT $q$ ? $q$, $1");
  EXPECT_EQ(number_placeholders("SELECT $$?$$, ?"), "SELECT $$?$$, $1");
  EXPECT_EQ(number_placeholders("SELECT a$b, ?"), "SELECT a$b, $1");
  EXPECT_EQ(number_placeholders("SELECT a$b$c, ?"), "SELECT a$b$c, $1");
  EXPECT_EQ(number_placeholders("SELECT 'unterminated ?"), "SELECT 'unterminated ?");
}

}  // namespace
}  // namespace ym::test
