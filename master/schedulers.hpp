// Schedulers: what turns changes, the clock, a request or a triggering step into buildsets
// (Buildbot's SingleBranchScheduler, Periodic, Nightly, ForceScheduler and Triggerable).
//
// A running scheduler (single-branch, periodic, nightly) runs on exactly one master: the master
// holds it with set_scheduler_master and calls run() while it does. Everything the scheduler must
// remember lives in the database (its classifications in the schedulers connector, the rest in
// the state connector under the object (NAME, "Scheduler")), so that the master taking it over
// continues where the last one stopped and turns every change into a buildset exactly once.
//
// Used from the master's io thread only.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "master/config.hpp"

namespace ym::master {

// The buildset a scheduler adds: its builders (by name, found or created), its properties (source
// "Scheduler", plus `scheduler` = its name), its reason, priority, and `stamps`.
db::NewBuildset scheduler_buildset(const SchedulerConfig& config,
                                   const std::vector<int64_t>& builderids,
                                   std::vector<db::SourceStampRef> stamps, std::string reason);

// Adds the buildset of a force or triggerable scheduler: `stamps` as given, extra `properties`
// (source "Force" / "Trigger") over the scheduler's own, and for a trigger the parent build.
Future<db::AddedBuildset> add_scheduler_buildset(db::Db& db, const SchedulerConfig& config,
                                                 std::vector<db::SourceStampRef> stamps,
                                                 db::Properties properties, std::string reason,
                                                 std::optional<int64_t> parent_buildid = {});

// What a force request gives for the source stamp (empty: not given).
struct ForcedStamp {
  std::string branch, revision, repository, project, codebase;
};

// The source stamps of a forced build (`yardmaster submit`, the web force endpoint): each field
// as given, else the force scheduler's own (`scheduler` may be null: a plain submit); no stamp
// when every field is empty.
std::vector<db::SourceStampRef> forced_stamps(const ForcedStamp& given,
                                              const SchedulerConfig* scheduler);

// The first nightly firing time strictly after `after`: a whole minute whose minute, hour and day
// of the week (in the local time zone, as localtime_r sees it; 0 = Monday) are in the config's
// lists, an empty list meaning every value. nullopt when the lists select no valid time (e.g. an
// hour of 25). A local time that does not exist (a daylight-saving gap) is skipped.
std::optional<std::chrono::system_clock::time_point> next_nightly(
    const SchedulerConfig& config, std::chrono::system_clock::time_point after);

class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // A single-branch, periodic or nightly scheduler; nullptr for force and triggerable (they do not
  // run: buildsets are added for them on request, add_scheduler_buildset). `may_write` is the
  // master's fence: while it is false the scheduler adds nothing.
  static std::unique_ptr<Scheduler> create(boost::asio::io_context& io, db::Db& db,
                                           SchedulerConfig config, int64_t schedulerid,
                                           std::function<bool()> may_write);

  const SchedulerConfig& config() const { return config_; }
  int64_t id() const { return schedulerid_; }

  // Runs until stop(): looks at new changes (every `poll` or at wake()), classifies them, and adds
  // buildsets when they are due. Returns after stop() once nothing is half-done in memory (what
  // is half-done in the database is finished by the next run, here or on another master).
  // Database errors are logged and retried; they do not end run().
  virtual boost::asio::awaitable<void> run(std::chrono::milliseconds poll) = 0;
  virtual void stop() = 0;
  // New changes may be in the database (a change source of this master added some).
  virtual void wake() = 0;

 protected:
  Scheduler(SchedulerConfig config, int64_t schedulerid)
      : config_(std::move(config)), schedulerid_(schedulerid) {}
  SchedulerConfig config_;
  int64_t schedulerid_;
};

}  // namespace ym::master
