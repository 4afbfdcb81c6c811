#include "db/migrate/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
