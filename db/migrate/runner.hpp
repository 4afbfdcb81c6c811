// Applies pending migrations: takes the cross-process lock, re-reads the version under it (so
// peers that waited find nothing to do), then runs each pending core version in order, recording
// its start and end in ym_migrations, then each registered extension's pending versions
// (db/extension.hpp), recorded in ym_extension_migrations.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../drivers/driver.hpp"
#include "../extension.hpp"
#include "schema.hpp"
#include "../url.hpp"

namespace ym::migrate {

struct UpgradeOptions {
  std::optional<int> target;  // stop after this version; default: the program's version
  // The version each extension is taken to, by name; an extension not named is left as it is.
  // Default: every registered extension to its current version, but only when the core reaches
  // the program's version (a core `target` below it applies no extension version). Each name
  // must be registered and its version between 0 and the extension's current version.
  std::optional<std::map<std::string, int>> extension_targets;
  std::chrono::milliseconds lock_timeout = std::chrono::minutes(10);
  std::function<void()> on_lock_wait;                  // another process holds the lock
  std::function<void(const Migration&)> on_start;      // a core version starts
  std::function<void(const Migration&, std::chrono::milliseconds)> on_done;
  // An extension's version starts / is done (the extension's name first).
  std::function<void(const std::string&, const Migration&)> on_extension_start;
  std::function<void(const std::string&, const Migration&, std::chrono::milliseconds)>
      on_extension_done;
};

struct AppliedExtensionVersion {
  std::string extension;
  int version = 0;
  bool operator==(const AppliedExtensionVersion&) const = default;
};

struct UpgradeResult {
  std::optional<int> from;   // version before (nullopt: empty database)
  int to = 0;                // version after
  std::vector<int> applied;  // core versions this call applied (empty when a peer had done it)
  // Extension versions this call applied, in the order they ran.
  std::vector<AppliedExtensionVersion> extensions_applied;
};

// The core versions an upgrade of a database in `status` to `target` would run, in order; an
// interrupted version is run again.
std::vector<const Migration*> pending(const SchemaStatus& status, int target);

// One extension version to run.
struct ExtensionStep {
  std::shared_ptr<const db::Extension> extension;
  const Migration* migration = nullptr;  // into extension->history
};

// The extension versions an upgrade would run after the core ones, in order: each registered
// extension's (registration order) pending versions up to its target (`targets` as in
// UpgradeOptions::extension_targets; nullopt: every registered extension to its current
// version). An interrupted version is run again. Throws InvalidArgument for a target naming an
// extension that is not registered or a version it does not have.
std::vector<ExtensionStep> pending_extensions(
    const SchemaStatus& status, const std::optional<std::map<std::string, int>>& targets);

// Upgrades the database behind `conn` (a connection of its own, not a pool's). Throws
// SchemaTooNew, NotADatabase, or the error of a failing step (a transactional step leaves the
// previous version in place; a non-transactional one stays recorded as interrupted).
UpgradeResult upgrade(db::Connection& conn, const db::Url& url, const UpgradeOptions& options = {});

}  // namespace ym::migrate
