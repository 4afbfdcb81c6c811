#include "db/migrate/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "db/errors.hpp"

namespace ym::migrate {
namespace {

using Clock = std::chrono::steady_clock;

// Polls try_lock until it succeeds or the deadline passes.
template <class TryLock>
bool wait_for(TryLock try_lock, std::chrono::milliseconds timeout, const std::function<void()>& on_wait) {
  auto deadline = Clock::now() + timeout;
  bool told = false;
  while (!try_lock()) {
    if (!told && on_wait) on_wait();
    told = true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

class NoLock final : public MigrationLock {
 public:
  std::string describe() const override { return "(in-memory database: no lock needed)"; }
};

class FileLock final : public MigrationLock {
 public:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~FileLock() override {
    flock(fd_, LOCK_UN);
    close(fd_);
  }
  std::string describe() const override { return "lock file " + path_; }

 private:
  std::string path_;
  int fd_;
};

class PostgresLock final : public MigrationLock {
 public:
  PostgresLock(db::Connection& conn, int64_t key) : conn_(conn), key_(key) {}
  ~PostgresLock() override {
    try {
      conn_.stmt("SELECT pg_advisory_unlock(?)").bind(key_).all();
    } catch (...) {
      // The session ending releases it anyway.
    }
  }
  std::string describe() const override { return "pg_advisory_lock(" + std::to_string(key_) + ")"; }

 private:
  db::Connection& conn_;
  int64_t key_;
};

class MysqlLock final : public MigrationLock {
 public:
  MysqlLock(db::Connection& conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  ~MysqlLock() override {
    try {
      conn_.stmt("SELECT RELEASE_LOCK(?)").bind(name_).all();
    } catch (...) {
    }
  }
  std::string describe() const override { return "GET_LOCK('" + name_ + "')"; }

 private:
  db::Connection& conn_;
  std::string name_;
};

// A Galera cluster's lock: the row (name) of kMigrationLockTable. Whoever's INSERT of it the
// cluster certifies first holds it, whatever node each process is connected to; the others get a
// duplicate key (or a certification failure at COMMIT) and wait. A thread of the holder's, on a
// connection of its own, refreshes the row's heartbeat every few seconds. A waiter deletes the row
// when the holder's session is gone from its node (a killed migrator: seen within a second), or
// when its heartbeat is kGaleraLockStaleAfter old (a holder that cannot be looked at: its host is
// lost), in one statement that matches nothing once the holder has refreshed it. Times are the
// server's.
class GaleraLock final : public MigrationLock {
 public:
  static constexpr const char* kName = "migrate";

  GaleraLock(db::Connection& conn, const db::Url& url, std::string holder)
      : conn_(conn), url_(url), beat_conn_(db::open_connection(url)), holder_(std::move(holder)) {
    beat_ = std::thread([this] { heartbeat(); });
  }
  ~GaleraLock() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    beat_.join();
    try {
      conn_.stmt("DELETE FROM ym_migration_lock WHERE name = ? AND holder = ?").bind(kName, holder_).exec();
    } catch (...) {
      // Left behind, it goes stale and the next migrator takes it over.
    }
  }
  std::string describe() const override {
    return std::string("the row '") + kName + "' of " + db::kMigrationLockTable +
           " (a Galera cluster), held by " + holder_;
  }
  void check_held() override {
    if (refresh(conn_) == 0) {
      throw db::TransientError(
          "lost the migration lock (" + std::string(db::kMigrationLockTable) +
          "): its heartbeat stalled for " + std::to_string(kGaleraLockStaleAfter.count()) +
          " s and another process took it over; run the upgrade again");
    }
  }

 private:
  // Rows matched: 0 when the row is no longer ours.
  int64_t refresh(db::Connection& c) const {
    return c.stmt("UPDATE ym_migration_lock SET heartbeat = UNIX_TIMESTAMP() WHERE name = ? AND "
                  "holder = ?")
        .bind(kName, holder_)
        .exec();
  }

  void heartbeat() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(2), [this] { return stopping_; })) {
      try {
        if (!beat_conn_) beat_conn_ = db::open_connection(url_);
        refresh(*beat_conn_);
      } catch (...) {
        beat_conn_.reset();  // reopened at the next beat; the row goes stale if that never works
      }
    }
  }

  db::Connection& conn_;
  db::Url url_;
  std::unique_ptr<db::Connection> beat_conn_;
  std::string holder_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread beat_;
};

// True when the server is a Galera node (a MariaDB server with wsrep_on).
bool is_galera_node(db::Connection& conn) {
  return conn.stmt("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE "
                   "VARIABLE_NAME = 'WSREP_ON'")
             .scalar<std::string>()
             .value_or("OFF") == "ON";
}

// Who holds a lock: host, process and a random tag (a pid may be reused on another host).
std::string holder_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char tag[9];
  std::snprintf(tag, sizeof tag, "%08x", static_cast<unsigned>(rd()));
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + tag;
}

// The session `connection` on the Galera node named `node` is gone, as seen from `conn` (on that
// node) or from a connection to another host the URL lists that turns out to be that node. False
// when it is alive or when no host listed is that node: the heartbeat then decides.
bool holder_session_gone(db::Connection& conn, const db::Url& url, const std::string& node,
                         int64_t connection) {
  auto gone_on = [&](db::Connection& c) -> std::optional<bool> {
    if (c.stmt("SELECT @@wsrep_node_name").scalar<std::string>().value_or("") != node) return std::nullopt;
    return c.stmt("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?")
               .bind(connection)
               .scalar<int64_t>()
               .value_or(0) == 0;
  };
  if (auto here = gone_on(conn)) return *here;
  for (const db::Endpoint& e : url.endpoints()) {
    db::Url one = url;
    one.host = e.host;
    one.port = e.port;
    one.more_hosts.clear();
    one.options["connect_timeout"] = "2";
    try {
      auto c = db::open_connection(one);
      if (auto there = gone_on(*c)) return *there;
    } catch (const db::Error&) {
      // Unreachable: it cannot tell; a node cut off from the cluster cannot migrate it either.
    }
  }
  return false;
}

std::unique_ptr<MigrationLock> acquire_galera_lock(db::Connection& conn, const db::Url& url,
                                                   std::chrono::milliseconds timeout,
                                                   const std::function<void()>& on_wait) {
  // The holder's node and session, so that a waiter can see at once that a killed holder's
  // session is gone instead of waiting for its heartbeat to go stale. (The driver runs this again
  // when another node's schema change, ordered first, refuses it.)
  conn.execute_script(std::string("CREATE TABLE IF NOT EXISTS ") + db::kMigrationLockTable +
                      " (name VARCHAR(64) NOT NULL PRIMARY KEY, holder VARCHAR(255) NOT NULL, "
                      "heartbeat BIGINT NOT NULL, node VARCHAR(255) NOT NULL, connection BIGINT "
                      "NOT NULL) " +
                      conn.dialect().table_options);
  const std::string holder = holder_name();
  const int64_t stale = kGaleraLockStaleAfter.count();
  auto last_look = Clock::now() - std::chrono::hours(1);
  auto try_lock = [&] {
    try {
      conn.stmt("DELETE FROM ym_migration_lock WHERE name = ? AND heartbeat < UNIX_TIMESTAMP() - ?")
          .bind(GaleraLock::kName, stale)
          .exec();
      conn.stmt("INSERT INTO ym_migration_lock (name, holder, heartbeat, node, connection) VALUES "
                "(?, ?, UNIX_TIMESTAMP(), @@wsrep_node_name, CONNECTION_ID())")
          .bind(GaleraLock::kName, holder)
          .exec();
      return true;
    } catch (const db::UniqueViolation&) {
      // Held. Once a second, whether by a session that still exists.
      if (Clock::now() - last_look < std::chrono::seconds(1)) return false;
      last_look = Clock::now();
      auto row = conn.stmt("SELECT holder, node, connection FROM ym_migration_lock WHERE name = ?")
                     .bind(GaleraLock::kName)
                     .one();
      if (row && holder_session_gone(conn, url, row->get<std::string>(1), row->get<int64_t>(2))) {
        conn.stmt("DELETE FROM ym_migration_lock WHERE name = ? AND holder = ?")
            .bind(GaleraLock::kName, row->get<std::string>(0))
            .exec();
      }
      return false;
    } catch (const db::TransientError&) {
      return false;  // another node's INSERT was certified first
    }
  };
  if (!wait_for(try_lock, timeout, on_wait)) {
    throw db::TransientError("another process holds the migration lock (the row of " +
                             std::string(db::kMigrationLockTable) + "); try again later");
  }
  try {
    return std::make_unique<GaleraLock>(conn, url, holder);
  } catch (...) {  // no heartbeat connection: give the row back rather than let it go stale
    conn.stmt("DELETE FROM ym_migration_lock WHERE name = ? AND holder = ?")
        .bind(GaleraLock::kName, holder)
        .exec();
    throw;
  }
}

// A fixed key: "yardmast" in ASCII, so that other users of advisory locks can recognise it.
constexpr int64_t kPostgresLockKey = 0x7961726D61737400;

}  // namespace

std::unique_ptr<MigrationLock> MigrationLock::acquire(db::Connection& conn, const db::Url& url,
                                                      std::chrono::milliseconds timeout,
                                                      const std::function<void()>& on_wait) {
  switch (url.backend) {
    case db::Backend::kSqlite: {
      if (url.memory) return std::make_unique<NoLock>();
      std::string path = url.database + ".migrate-lock";
      int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        throw db::ConnectionFailed("cannot open the migration lock file " + path + ": " +
                                   std::strerror(errno));
      }
      if (!wait_for([fd] { return flock(fd, LOCK_EX | LOCK_NB) == 0; }, timeout, on_wait)) {
        close(fd);
        throw db::TransientError("another process holds the migration lock " + path +
                                 "; try again when it has finished");
      }
      return std::make_unique<FileLock>(path, fd);
    }
    case db::Backend::kPostgres: {
      if (url.int_option("transaction_pooling", 0) != 0) {
        // An advisory lock belongs to a server session, which a transaction pooler lends to
        // whoever runs the next transaction: it would be taken on one connection, released (or
        // not) on another, and left held for a stranger.
        throw db::InvalidUrl(
            "the migration lock is a session lock, which a transaction pooler "
            "(transaction_pooling=1, e.g. PgBouncer with pool_mode=transaction) cannot hold: "
            "create or upgrade the schema with a URL to the PostgreSQL server itself (yardmaster "
            "db upgrade URL), then point the masters at the pooler");
      }
      auto try_lock = [&] {
        return conn.stmt("SELECT pg_try_advisory_lock(?)").bind(kPostgresLockKey).scalar<bool>().value_or(false);
      };
      if (!wait_for(try_lock, timeout, on_wait)) {
        throw db::TransientError("another process holds the migration lock (pg_advisory_lock " +
                                 std::to_string(kPostgresLockKey) + "); try again later");
      }
      return std::make_unique<PostgresLock>(conn, kPostgresLockKey);
    }
    case db::Backend::kMysql: {
      if (is_galera_node(conn)) return acquire_galera_lock(conn, url, timeout, on_wait);
      std::string name = "yardmaster_migrate_" + url.database;
      if (name.size() > 64) name.resize(64);  // GET_LOCK names are limited to 64 characters
      auto try_lock = [&] {
        return conn.stmt("SELECT GET_LOCK(?, 0)").bind(name).scalar<int64_t>().value_or(0) == 1;
      };
      if (!wait_for(try_lock, timeout, on_wait)) {
        throw db::TransientError("another process holds the migration lock GET_LOCK('" + name +
                                 "'); try again later");
      }
      return std::make_unique<MysqlLock>(conn, name);
    }
  }
  throw db::InternalError("unknown backend");
}

}  // namespace ym::migrate
