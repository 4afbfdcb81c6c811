// Applies pending migrations: takes the cross-process lock, re-reads the version under it (so
// peers that waited find nothing to do), then runs each pending version in order, recording its
// start and end in ym_migrations.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "db/drivers/driver.hpp"
#include "db/migrate/schema.hpp"
#include "db/url.hpp"

namespace ym::migrate {

struct UpgradeOptions {
  std::optional<int> target;  // stop after this version; default: the program's version
  std::chrono::milliseconds lock_timeout = std::chrono::minutes(10);
  std::function<void()> on_lock_wait;                  // another process holds the lock
  std::function<void(const Migration&)> on_start;      // a version starts
  std::function<void(const Migration&, std::chrono::milliseconds)> on_done;
};

struct UpgradeResult {
  std::optional<int> from;   // version before (nullopt: empty database)
  int to = 0;                // version after
  std::vector<int> applied;  // versions this call applied (empty when a peer had done it)
};

// The versions an upgrade of a database in `status` to `target` would run, in order; an
// interrupted version is run again.
std::vector<const Migration*> pending(const SchemaStatus& status, int target);

// Upgrades the database behind `conn` (a connection of its own, not a pool's). Throws
// SchemaTooNew, NotADatabase, or the error of a failing step (a transactional step leaves the
// previous version in place; a non-transactional one stays recorded as interrupted).
UpgradeResult upgrade(db::Connection& conn, const db::Url& url, const UpgradeOptions& options = {});

}  // namespace ym::migrate
