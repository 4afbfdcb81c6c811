// The cross-process migration lock: only one process migrates a database at a time, on any
// number of hosts sharing it. SQLite: an flock()ed file beside the database file. PostgreSQL:
// a session-level pg_advisory_lock. MySQL/MariaDB: GET_LOCK. Released by the destructor (and by
// the operating system or server when the process dies, so a killed migrator never wedges it).
// A MariaDB Galera node (wsrep_on): GET_LOCK would hold on that node only, so the lock is a row of
// db::kMigrationLockTable that the cluster certifies, kept fresh by a heartbeat; a killed holder's
// row is taken over once its heartbeat is kGaleraLockStaleAfter old.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "../drivers/driver.hpp"
#include "../url.hpp"

namespace ym::migrate {

class MigrationLock {
 public:
  // Blocks until the lock is held or `timeout` passes (then throws TransientError naming the
  // lock). `on_wait` is called once if another process holds it, so a command can say so.
  static std::unique_ptr<MigrationLock> acquire(db::Connection& conn, const db::Url& url,
                                                std::chrono::milliseconds timeout,
                                                const std::function<void()>& on_wait = {});
  virtual ~MigrationLock() = default;

  // Where the lock lives, for messages (a file path or a server lock name).
  virtual std::string describe() const = 0;

  // Throws TransientError when the lock is no longer held (a Galera lock row taken over after
  // its heartbeat stalled): called before each migration step, so that a holder that was frozen
  // for too long stops rather than migrating beside the process that took over.
  virtual void check_held() {}
};

// How old a Galera lock row's heartbeat must be before a waiter takes the lock over.
inline constexpr std::chrono::seconds kGaleraLockStaleAfter{60};

}  // namespace ym::migrate
