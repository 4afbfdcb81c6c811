// The cross-process migration lock: only one process migrates a database at a time, on any
// number of hosts sharing it. SQLite: an flock()ed file beside the database file. PostgreSQL:
// a session-level pg_advisory_lock. MySQL/MariaDB: GET_LOCK. Released by the destructor (and by
// the operating system or server when the process dies, so a killed migrator never wedges it).
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
};

}  // namespace ym::migrate
