// Schedulers: named objects that turn changes into buildsets, each run by at most one active
// master, with their classifications of changes not yet built (important or not).
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../types.hpp"

namespace ym::db {

struct Scheduler {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> masterid;  // the master running it, or nullopt
  bool enabled = true;
  bool operator==(const Scheduler&) const = default;
};

// Which classifications get_change_classifications returns: those of changes on this branch,
// repository, project and codebase; each filter applies only when given (Buildbot's -1).
struct ChangeClassificationFilter {
  BranchFilter branch = BranchFilter::any();
  std::optional<std::string> repository;
  std::optional<std::string> project;
  std::optional<std::string> codebase;
};

class Schedulers {
 public:
  virtual ~Schedulers() = default;

  // Records, for each change id, whether it is important to the scheduler (replacing earlier
  // classifications of the same change). NotFound for an unknown scheduler or change.
  virtual Future<void> classify_changes(int64_t schedulerid,
                                        std::map<int64_t, bool> classifications) = 0;

  // Deletes the scheduler's classifications, only those with changeid < less_than when given.
  virtual Future<void> flush_change_classifications(int64_t schedulerid,
                                                    std::optional<int64_t> less_than = {}) = 0;

  // The scheduler's classifications, changeid -> important. With a branch filter, only changes
  // on that branch; BranchFilter::default_branch() selects changes on the default (null) branch,
  // which is not the same as giving no filter.
  virtual Future<std::map<int64_t, bool>> get_change_classifications(
      int64_t schedulerid, BranchFilter branch = BranchFilter::any()) = 0;

  // The same, filtered by every field of `filter` that is given (Buildbot 3.7's branch,
  // repository, project and codebase arguments).
  virtual Future<std::map<int64_t, bool>> get_change_classifications(
      int64_t schedulerid, ChangeClassificationFilter filter) = 0;

  // The id of the scheduler called `name`, creating it (enabled) if needed (one id for racing
  // callers). InvalidArgument for a name that is not UTF-8 (empty is a name).
  virtual Future<int64_t> find_scheduler_id(std::string name) = 0;

  // Sets (or clears) the master running the scheduler. Throws SchedulerAlreadyClaimedError when
  // another, active master holds it; a holder that is inactive is replaced, and claiming again
  // with the holder is not an error. NotFound for an unknown scheduler or master when claiming;
  // clearing an unknown scheduler changes nothing (as Buildbot).
  virtual Future<void> set_scheduler_master(int64_t schedulerid,
                                            std::optional<int64_t> masterid) = 0;

  // Enables or disables the scheduler. An unknown scheduler is not an error: nothing changes (as
  // Buildbot's enable).
  virtual Future<void> enable(int64_t schedulerid, bool enabled) = 0;

  // The scheduler, or nullopt.
  virtual Future<std::optional<Scheduler>> get_scheduler(int64_t schedulerid) = 0;

  // Schedulers ordered by id, filtered as ChangeSources::get_change_sources.
  virtual Future<std::vector<Scheduler>> get_schedulers(std::optional<bool> active = {},
                                                        std::optional<int64_t> masterid = {}) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(classify_changes)
  YM_ASYNC(flush_change_classifications)
  YM_ASYNC(get_change_classifications)
  YM_ASYNC(find_scheduler_id)
  YM_ASYNC(set_scheduler_master)
  YM_ASYNC(enable)
  YM_ASYNC(get_scheduler)
  YM_ASYNC(get_schedulers)
};

}  // namespace ym::db
