// Masters: the CI master processes sharing one database. Each checks in periodically
// (set_master_state(id, true)); peers mark a master that stopped checking in as inactive, which
// releases everything linked to it so that other masters can take over.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../value.hpp"

namespace ym::db {

struct Master {
  int64_t id = 0;
  std::string name;  // usually "hostname:basedir"
  bool active = false;
  Timestamp last_active{};  // time of the last check-in
  bool operator==(const Master&) const = default;
};

class Masters {
 public:
  virtual ~Masters() = default;

  // The id of the master called `name`, creating it (inactive, last_active = now) if needed.
  // Concurrent calls for one new name return one id. Any name is taken, the empty one too (as
  // Buildbot's findMasterId; the reference sets no rule).
  virtual Future<int64_t> find_master_id(std::string name) = 0;

  // Marks the master active (updating last_active to now) or inactive; returns whether the
  // active flag changed. Deactivation is a take-over, all in one transaction: it deletes the
  // master's links (builders, schedulers, change sources, connected workers), releases its claims
  // on unfinished build requests, and ends its unfinished builds as RETRY (state string
  // "retry: its master went inactive"), with their unfinished steps (RETRY) and logs, so that no
  // build of a master that stopped stays running and none of them can later be completed.
  // Running it again on an inactive master finishes what is left and returns false.
  // An unknown master id changes nothing and returns false (as Buildbot).
  virtual Future<bool> set_master_state(int64_t masterid, bool active) = 0;

  // The master, or nullopt when it does not exist.
  virtual Future<std::optional<Master>> get_master(int64_t masterid) = 0;

  // Every master, ordered by id.
  virtual Future<std::vector<Master>> get_masters() = 0;

  // Marks every master active with last_active at the epoch (as Buildbot does), so that
  // housekeeping at the next start-up expires them all and takes their work over (for upgrade
  // tools only).
  virtual Future<void> set_all_masters_active_long_time_ago() = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_master_id)
  YM_ASYNC(set_master_state)
  YM_ASYNC(get_master)
  YM_ASYNC(get_masters)
  YM_ASYNC(set_all_masters_active_long_time_ago)
};

}  // namespace ym::db
