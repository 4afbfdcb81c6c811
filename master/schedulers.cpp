// The running schedulers (single-branch, periodic, nightly) and the buildsets of every scheduler.
//
// Exactly once. A scheduler's memory is in the database (classifications, and state under
// (NAME, "Scheduler"): last_changeid, last_build, pending), so a master that crashes or loses the
// scheduler to a peer leaves at most one step half-done, and the next run finishes it:
//   - changes: each round classifies the new changes first and then records how far it looked
//     (last_changeid). A crash between the two makes the next run classify some changes again,
//     which is harmless (a classification replaces the same one); the other order could skip a
//     change for good.
//   - buildsets: before adding one, the scheduler writes its intent ("pending": the buildset's
//     deterministic external_idstring and what to do after it: flush the classifications up to
//     `max`, set last_build). It then adds the buildset unless one with that external id exists,
//     does the follow-up and clears the intent. A run that finds an intent looks the buildset up:
//     if it exists, only the follow-up is left; if not, the intent is dropped and the ordinary
//     logic builds again from the classifications (or the timer) that are still there. So a
//     buildset is never added twice for the same changes or time slot, and never lost.
//   - may_write (the master's fence) is checked before every write that could race a master that
//     has taken the scheduler over.
#include "master/schedulers.hpp"

#include <fnmatch.h>
#include <time.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "db/errors.hpp"
#include "master/await.hpp"
#include "master/master.hpp"  // Event

// Boost 1.74's awaitable frames pair a class operator new with a sized operator delete that GCC 12
// mistakes for a mismatch (a false positive, reported for every coroutine of this file).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ym::master {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using SysClock = std::chrono::system_clock;
using Steady = std::chrono::steady_clock;

namespace {

// Changes read per query while catching up.
constexpr int64_t kChangeBatch = 200;

// Buildbot's class names, for the default reasons.
const char* class_name(SchedulerType t) {
  switch (t) {
    case SchedulerType::kSingleBranch:
      return "SingleBranchScheduler";
    case SchedulerType::kPeriodic:
      return "Periodic";
    case SchedulerType::kNightly:
      return "Nightly";
    case SchedulerType::kForce:
      return "ForceScheduler";
    case SchedulerType::kTriggerable:
      return "Triggerable";
  }
  return "Scheduler";
}

int64_t to_ms(SysClock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
SysClock::time_point from_ms(int64_t ms) {
  return SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(milliseconds(ms)));
}
// Epoch seconds with milliseconds, for external ids ("1733150000.250").
std::string at_text(int64_t ms) { return fmt::format("{}.{:03}", ms / 1000, ms % 1000); }

// last_build is stored as Buildbot stores it: epoch seconds as a float.
std::optional<int64_t> ms_of(const nlohmann::json& seconds) {
  if (!seconds.is_number()) return std::nullopt;
  return static_cast<int64_t>(std::llround(seconds.get<double>() * 1000.0));
}
nlohmann::json seconds_of(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

Future<db::AddedBuildset> add_with_builders(db::Db& db, std::shared_ptr<db::NewBuildset> nb,
                                            std::shared_ptr<const std::vector<std::string>> names,
                                            size_t i) {
  if (i == names->size()) return db.buildsets().add_buildset(std::move(*nb));
  db::Db* dbp = &db;
  return db.builders().find_builder_id((*names)[i], true).then(
      [dbp, nb, names, i](Future<std::optional<int64_t>> f) {
        std::optional<int64_t> id = f.get();
        if (!id) throw db::NotFound(fmt::format("builder '{}' cannot be created", (*names)[i]));
        nb->builderids.push_back(*id);
        return add_with_builders(*dbp, nb, names, i + 1);
      });
}

std::vector<int> allowed(const std::vector<int>& given, int lo, int hi) {
  std::vector<int> out;
  if (given.empty()) {
    for (int v = lo; v <= hi; ++v) out.push_back(v);
    return out;
  }
  for (int v : given) {
    if (v >= lo && v <= hi) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

db::NewBuildset scheduler_buildset(const SchedulerConfig& config,
                                   const std::vector<int64_t>& builderids,
                                   std::vector<db::SourceStampRef> stamps, std::string reason) {
  db::NewBuildset nb;
  nb.sourcestamps = std::move(stamps);
  nb.reason = std::move(reason);
  for (const auto& [name, value] : config.properties) {
    nb.properties[name] = db::Property{Json(value), "Scheduler"};
  }
  // Set after the configured ones, as Buildbot's BaseScheduler does: it always names the scheduler.
  nb.properties["scheduler"] = db::Property{Json(config.name), "Scheduler"};
  nb.builderids = builderids;
  nb.priority = config.priority;
  return nb;
}

Future<db::AddedBuildset> add_scheduler_buildset(db::Db& db, const SchedulerConfig& config,
                                                 std::vector<db::SourceStampRef> stamps,
                                                 db::Properties properties, std::string reason,
                                                 std::optional<int64_t> parent_buildid) {
  try {
    auto nb = std::make_shared<db::NewBuildset>(
        scheduler_buildset(config, {}, std::move(stamps), std::move(reason)));
    for (auto& [name, p] : properties) nb->properties[name] = std::move(p);
    if (parent_buildid) {
      nb->parent_buildid = parent_buildid;
      nb->parent_relationship = config.name;
      nb->waited_for = true;
    }
    auto names = std::make_shared<const std::vector<std::string>>(config.builders);
    return add_with_builders(db, nb, names, 0);
  } catch (...) {
    Promise<db::AddedBuildset> p;
    p.set_exception(std::current_exception());
    return p.get_future();
  }
}

std::vector<db::SourceStampRef> forced_stamps(const ForcedStamp& given,
                                              const SchedulerConfig* scheduler) {
  auto field = [&](const std::string& value, const std::optional<std::string> SchedulerConfig::*f) {
    return !value.empty() || !scheduler ? value : (scheduler->*f).value_or("");
  };
  std::string branch = field(given.branch, &SchedulerConfig::branch);
  std::string repository = field(given.repository, &SchedulerConfig::repository);
  std::string project = field(given.project, &SchedulerConfig::project);
  std::string codebase = field(given.codebase, &SchedulerConfig::codebase);
  if (branch.empty() && given.revision.empty() && repository.empty() && project.empty() &&
      codebase.empty()) {
    return {};
  }
  db::SourceStampSpec ss;
  if (!branch.empty()) ss.branch = branch;
  if (!given.revision.empty()) ss.revision = given.revision;
  ss.repository = repository;
  ss.project = project;
  ss.codebase = codebase;
  return {ss};
}

std::optional<SysClock::time_point> next_nightly(const SchedulerConfig& config,
                                                 SysClock::time_point after) {
  const auto minutes = allowed(config.minute, 0, 59);
  const auto hours = allowed(config.hour, 0, 23);
  const auto days = allowed(config.day_of_week, 0, 6);
  if (minutes.empty() || hours.empty() || days.empty()) return std::nullopt;
  time_t a = SysClock::to_time_t(after);
  tm base{};
  localtime_r(&a, &base);
  // Day by day from the day of `after` (8 days cover a week from any point of a day, and a
  // daylight-saving change); within a day the (hour, minute) pairs come in time order, so the
  // first one that exists, falls on an allowed day and is after `after` is the answer.
  for (int d = 0; d <= 8; ++d) {
    tm noon{};
    noon.tm_year = base.tm_year;
    noon.tm_mon = base.tm_mon;
    noon.tm_mday = base.tm_mday + d;
    noon.tm_hour = 12;
    noon.tm_isdst = -1;
    if (mktime(&noon) == static_cast<time_t>(-1)) continue;
    int dow = (noon.tm_wday + 6) % 7;  // tm: 0 = Sunday; ours: 0 = Monday
    if (!std::binary_search(days.begin(), days.end(), dow)) continue;
    for (int h : hours) {
      for (int m : minutes) {
        tm t{};
        t.tm_year = base.tm_year;
        t.tm_mon = base.tm_mon;
        t.tm_mday = base.tm_mday + d;
        t.tm_hour = h;
        t.tm_min = m;
        t.tm_sec = 0;
        t.tm_isdst = -1;
        time_t tt = mktime(&t);
        if (tt == static_cast<time_t>(-1)) continue;
        // mktime moves a time in a daylight-saving gap to another hour: that time does not exist.
        if (t.tm_hour != h || t.tm_min != m) continue;
        auto when = SysClock::from_time_t(tt);
        if (when > after) return when;
      }
    }
  }
  return std::nullopt;
}

namespace {

// Single-branch, periodic and nightly: one class, as most of the logic (consuming changes, the
// write-ahead intent) is shared.
class Running final : public Scheduler {
 public:
  Running(asio::io_context& io, db::Db& db, SchedulerConfig config, int64_t schedulerid,
          std::function<bool()> may_write)
      : Scheduler(std::move(config), schedulerid),
        db_(db),
        may_write_(std::move(may_write)),
        wake_(io) {}

  awaitable<void> run(milliseconds poll) override;
  void stop() override {
    stopped_ = true;
    wake_.notify();
  }
  void wake() override { wake_.notify(); }

 private:
  struct ChangeSet {
    int64_t max = 0;  // the highest classified change id
    std::vector<db::SourceStampRef> stamps;
  };

  bool single_branch() const { return config_.type == SchedulerType::kSingleBranch; }
  bool consumes_changes() const {
    return single_branch() || (config_.type == SchedulerType::kNightly && config_.only_if_changed);
  }
  bool may_write() const { return !may_write_ || may_write_(); }
  // single-branch without a tree-stable timer: one buildset per important change.
  bool each_change() const {
    return single_branch() && config_.tree_stable_timer == std::chrono::milliseconds(0);
  }
  std::string reason() const {
    if (config_.reason) return *config_.reason;
    return fmt::format("The {} scheduler named '{}' triggered this build",
                       class_name(config_.type), config_.name);
  }
  bool passes(const db::Change& c) const;
  bool important(const db::Change& c) const;
  std::optional<SysClock::time_point> due_time() const;
  std::vector<db::SourceStampRef> plain_stamps() const;

  awaitable<void> start();
  awaitable<Steady::time_point> round();
  awaitable<void> consume_changes();
  awaitable<std::optional<ChangeSet>> classified(bool oldest_only = false);
  awaitable<bool> fire_changes();
  awaitable<bool> fire_timed(SysClock::time_point due, SysClock::time_point now);
  awaitable<void> skip_slot(int64_t next_from);
  awaitable<bool> commit(const nlohmann::json& pending, const db::NewBuildset& nb);
  awaitable<bool> buildset_exists(const std::string& external_idstring);
  awaitable<void> resume(const nlohmann::json& pending);
  awaitable<void> finish(const nlohmann::json& pending);

  db::Db& db_;
  std::function<bool()> may_write_;
  Event wake_;
  bool stopped_ = false;
  bool enabled_ = true;   // the schedulers connector's flag, read each round
  bool started_ = false;  // start() has run since the last error
  int64_t objectid_ = 0;
  std::vector<int64_t> builderids_;
  int64_t last_changeid_ = 0;
  std::optional<Steady::time_point> stable_due_;  // single-branch: when the tree is stable
  // Periodic, nightly: last_build in epoch ms, or nullopt before the first buildset.
  std::optional<int64_t> last_build_ms_;
  SysClock::time_point started_at_{};  // nightly without last_build: fire times after this
};

bool Running::passes(const db::Change& c) const {
  if (config_.branch && c.branch != config_.branch) return false;
  if (config_.repository && c.repository != *config_.repository) return false;
  if (config_.project && c.project != *config_.project) return false;
  if (config_.codebase && c.codebase != *config_.codebase) return false;
  return true;
}

bool Running::important(const db::Change& c) const {
  if (config_.files.empty()) return true;
  for (const auto& f : c.files) {
    for (const auto& glob : config_.files) {
      if (fnmatch(glob.c_str(), f.c_str(), 0) == 0) return true;
    }
  }
  return false;
}

std::optional<SysClock::time_point> Running::due_time() const {
  if (config_.type == SchedulerType::kPeriodic) {
    // Never built: at once (Buildbot's Periodic fires when it starts).
    if (!last_build_ms_) return SysClock::now();
    return from_ms(*last_build_ms_) + config_.interval;
  }
  return next_nightly(config_, last_build_ms_ ? from_ms(*last_build_ms_) : started_at_);
}

std::vector<db::SourceStampRef> Running::plain_stamps() const {
  std::vector<db::SourceStampRef> out;
  if (!config_.repository && !config_.branch) return out;
  db::SourceStampSpec spec;
  spec.branch = config_.branch;
  spec.repository = config_.repository.value_or("");
  spec.project = config_.project.value_or("");
  spec.codebase = config_.codebase.value_or("");
  out.emplace_back(std::move(spec));
  return out;
}

awaitable<void> Running::run(milliseconds poll) {
  bool failing = false;
  while (!stopped_) {
    auto next = Steady::now() + poll;
    try {
      if (!started_) {
        co_await start();
        started_ = true;
      }
      auto wanted = co_await round();
      // A time already passed means something due could not be done (the fence): wait a poll.
      if (wanted > Steady::now() && wanted < next) next = wanted;
      if (failing) spdlog::info("scheduler {}: the database answers again", config_.name);
      failing = false;
    } catch (const std::exception& e) {
      // The next attempt starts over from the database (start() again), which finishes whatever
      // this round left half-done there.
      started_ = false;
      if (!failing) {
        spdlog::warn("scheduler {}: {}; trying again every {}", config_.name, e.what(),
                     format_duration(poll));
      }
      failing = true;
    }
    if (stopped_) break;
    co_await wake_.wait_until(next);
  }
}

awaitable<void> Running::start() {
  stable_due_.reset();
  // (Once per instance: a retry after an error must not push a nightly's first time further.)
  if (started_at_ == SysClock::time_point{}) started_at_ = SysClock::now();
  auto of = db_.state().get_object_id(config_.name, "Scheduler");
  objectid_ = co_await await(std::move(of));

  builderids_.clear();
  for (const auto& name : config_.builders) {
    auto bf = db_.builders().find_builder_id(name, true);
    std::optional<int64_t> id = co_await await(std::move(bf));
    if (!id) throw db::NotFound(fmt::format("builder '{}' cannot be created", name));
    builderids_.push_back(*id);
  }

  // What the last run (here or on another master) left half-done.
  nlohmann::json none;
  auto pf = db_.state().get_state(objectid_, "pending", none);
  nlohmann::json pending = co_await await(std::move(pf));
  if (!pending.is_null()) co_await resume(pending);

  if (consumes_changes()) {
    auto lf = db_.state().get_state(objectid_, "last_changeid", none);
    nlohmann::json last = co_await await(std::move(lf));
    if (last.is_number_integer()) {
      last_changeid_ = last.get<int64_t>();
    } else {
      // The very first run: start from the newest change, so that the history is not built
      // (Buildbot's scheduler sees only the changes that arrive while it runs).
      auto cf = db_.changes().get_latest_change_id();
      std::optional<int64_t> latest = co_await await(std::move(cf));
      nlohmann::json value = latest.value_or(0);
      if (may_write()) {
        auto sf = db_.state().set_state(objectid_, "last_changeid", value);
        value = co_await await(std::move(sf));  // a racing first writer wins
      }
      last_changeid_ = value.get<int64_t>();
    }
  }
  if (single_branch()) {
    // Changes classified by an earlier run and not built yet: the tree-stable timer starts again.
    auto gf = db_.schedulers().get_change_classifications(schedulerid_);
    std::map<int64_t, bool> cls = co_await await(std::move(gf));
    bool any = std::any_of(cls.begin(), cls.end(), [](const auto& kv) { return kv.second; });
    if (any) stable_due_ = Steady::now() + config_.tree_stable_timer;
  } else {
    auto bf = db_.state().get_state(objectid_, "last_build", none);
    nlohmann::json last = co_await await(std::move(bf));
    last_build_ms_ = ms_of(last);
    if (!consumes_changes() && may_write()) {
      // Classifications left by an earlier configuration (only_if_changed) would be built with
      // the next one that consumes changes; Buildbot's timed schedulers flush them too.
      auto ff = db_.schedulers().flush_change_classifications(schedulerid_);
      co_await await(std::move(ff));
    }
  }
}

awaitable<Steady::time_point> Running::round() {
  // Disabled (Schedulers::enable), a scheduler passes over the changes that arrive and the times
  // that come, as Buildbot's does: nothing is classified or built until it is enabled again.
  auto gf = db_.schedulers().get_scheduler(schedulerid_);
  std::optional<db::Scheduler> self = co_await await(std::move(gf));
  bool enabled = !self || self->enabled;
  if (enabled != enabled_) {
    if (enabled) {
      spdlog::info("scheduler {} is enabled again", config_.name);
    } else {
      spdlog::info("scheduler {} is disabled: it builds nothing until it is enabled",
                   config_.name);
    }
  }
  enabled_ = enabled;
  if (consumes_changes()) co_await consume_changes();
  if (single_branch()) {
    if (enabled_ && stable_due_ && Steady::now() >= *stable_due_) {
      bool done = co_await fire_changes();
      if (done) stable_due_.reset();
    }
    co_return stable_due_.value_or(Steady::time_point::max());
  }
  auto due = due_time();
  auto now = SysClock::now();
  if (due && now >= *due) {
    co_await fire_timed(*due, now);
    due = due_time();
    now = SysClock::now();
  }
  if (!due) co_return Steady::time_point::max();
  // Wall time decides; the wait is on the steady clock, and run() checks the wall clock again
  // at least every poll (a clock step or a suspended machine is noticed within a poll).
  auto left = *due > now ? std::chrono::duration_cast<Steady::duration>(*due - now)
                         : Steady::duration::zero();
  co_return Steady::now() + left;
}

awaitable<void> Running::consume_changes() {
  // A master that may have lost the scheduler must not move its position (a peer may be ahead).
  if (!may_write()) co_return;
  for (;;) {
    db::ResultSpec spec;
    spec.where("changeid", last_changeid_, db::FieldFilter::Op::kGt)
        .order_by("changeid")
        .take(kChangeBatch);
    auto f = db_.changes().get_changes(spec);
    std::vector<db::Change> batch = co_await await(std::move(f));
    if (batch.empty()) co_return;
    std::map<int64_t, bool> cls;
    bool any_important = false;
    int64_t max = last_changeid_;
    for (const auto& c : batch) {
      max = std::max(max, c.changeid);
      if (!passes(c) || !enabled_) continue;  // not ours (or disabled): not classified at all
      bool imp = important(c);
      // Without a tree-stable timer each important change is built on its own and unimportant
      // ones are not kept at all (Buildbot's gotChange).
      if (!imp && each_change()) continue;
      cls[c.changeid] = imp;
      any_important = any_important || imp;
    }
    // The classification first, then the position (see the top of the file).
    if (!cls.empty()) {
      auto cf = db_.schedulers().classify_changes(schedulerid_, cls);
      co_await await(std::move(cf));
    }
    nlohmann::json position = max;
    auto sf = db_.state().set_state(objectid_, "last_changeid", position);
    co_await await(std::move(sf));
    last_changeid_ = max;
    // Each important change restarts the tree-stable timer (as Buildbot); unimportant ones alone
    // never make a build due.
    if (any_important && single_branch()) {
      stable_due_ = Steady::now() + config_.tree_stable_timer;
    }
    if (static_cast<int64_t>(batch.size()) < kChangeBatch) co_return;
  }
}

// `oldest_only`: the set of the oldest important change alone (one buildset per change).
awaitable<std::optional<Running::ChangeSet>> Running::classified(bool oldest_only) {
  auto gf = db_.schedulers().get_change_classifications(schedulerid_);
  std::map<int64_t, bool> cls = co_await await(std::move(gf));
  bool any = std::any_of(cls.begin(), cls.end(), [](const auto& kv) { return kv.second; });
  if (!any) co_return std::nullopt;
  if (oldest_only) {
    auto first = std::find_if(cls.begin(), cls.end(), [](const auto& kv) { return kv.second; });
    std::map<int64_t, bool> one;
    one.insert(*first);
    cls = std::move(one);
  }
  // Buildbot's addBuildsetForChanges: per codebase, the stamp of its newest change; the stamps in
  // codebase order.
  std::map<std::string, std::pair<int64_t, int64_t>> newest;  // codebase -> (changeid, ssid)
  for (const auto& [id, imp] : cls) {
    auto cf = db_.changes().get_change(id);
    std::optional<db::Change> c = co_await await(std::move(cf));
    if (!c) continue;  // pruned meanwhile
    auto& slot = newest[c->codebase];
    if (id > slot.first) slot = {id, c->sourcestampid};
  }
  ChangeSet set;
  set.max = cls.rbegin()->first;
  for (const auto& [codebase, p] : newest) set.stamps.emplace_back(p.second);
  co_return set;
}

awaitable<bool> Running::fire_changes() {
  // Without a timer: the classified changes one at a time, oldest first, each its own buildset
  // (and the same intent, external id and flush as a whole set, so each is built once).
  for (;;) {
    auto set = co_await classified(each_change());
    if (!set) co_return true;  // nothing important (it may have been built by the last run)
    std::string ext = fmt::format("scheduler:{}:changes:{}", schedulerid_, set->max);
    nlohmann::json pending = {{"max", set->max}, {"external_idstring", ext}};
    db::NewBuildset nb = scheduler_buildset(config_, builderids_, set->stamps, reason());
    nb.external_idstring = ext;
    bool done = co_await commit(pending, nb);
    if (!done || !each_change() || stopped_) co_return done;
  }
}

awaitable<bool> Running::fire_timed(SysClock::time_point due, SysClock::time_point now) {
  if (!may_write()) co_return false;
  int64_t slot = to_ms(due);
  // The next slot is counted from this one, unless a whole slot was missed (no master ran it):
  // then it fires once and the next one is counted from now, as Buildbot does.
  int64_t next_from = slot;
  if (config_.type == SchedulerType::kPeriodic) {
    if (due + config_.interval <= now) next_from = to_ms(now);
  } else {
    auto following = next_nightly(config_, due);
    if (following && *following <= now) next_from = to_ms(now);
  }
  std::string ext = fmt::format("scheduler:{}:at:{}", schedulerid_, at_text(slot));
  if (!enabled_) {
    spdlog::info("scheduler {}: disabled; skipping {}", config_.name, at_text(slot));
    co_await skip_slot(next_from);
    co_return true;
  }
  nlohmann::json pending = {{"last_build", seconds_of(next_from)}, {"external_idstring", ext}};
  std::vector<db::SourceStampRef> stamps;
  if (consumes_changes()) {
    auto set = co_await classified();
    if (!set) {
      spdlog::info("scheduler {}: no important change since the last build; skipping {}",
                   config_.name, at_text(slot));
      co_await skip_slot(next_from);
      co_return true;
    }
    pending["max"] = set->max;
    stamps = std::move(set->stamps);
  } else {
    stamps = plain_stamps();
  }
  db::NewBuildset nb = scheduler_buildset(config_, builderids_, std::move(stamps), reason());
  nb.external_idstring = ext;
  bool done = co_await commit(pending, nb);
  co_return done;
}

awaitable<void> Running::skip_slot(int64_t next_from) {
  nlohmann::json last = seconds_of(next_from);
  auto sf = db_.state().set_state(objectid_, "last_build", last);
  co_await await(std::move(sf));
  last_build_ms_ = next_from;
}

awaitable<bool> Running::commit(const nlohmann::json& pending, const db::NewBuildset& nb) {
  if (!may_write()) co_return false;
  // The intent first (write-ahead), so that a crash from here on is finished by the next run.
  auto pf = db_.state().set_state(objectid_, "pending", pending);
  co_await await(std::move(pf));
  const std::string ext = *nb.external_idstring;
  bool exists = co_await buildset_exists(ext);
  if (!exists) {
    // (The intent stays when the fence closes here: the next run, here or elsewhere, finds it.)
    if (!may_write()) co_return false;
    auto af = db_.buildsets().add_buildset(nb);
    db::AddedBuildset added = co_await await(std::move(af));
    spdlog::info("scheduler {}: added buildset {} ({})", config_.name, added.bsid, ext);
  }
  co_await finish(pending);
  co_return true;
}

awaitable<bool> Running::buildset_exists(const std::string& external_idstring) {
  db::ResultSpec spec;
  spec.where("external_idstring", external_idstring).take(1);
  auto f = db_.buildsets().get_buildsets(std::nullopt, spec);
  std::vector<db::Buildset> found = co_await await(std::move(f));
  co_return !found.empty();
}

awaitable<void> Running::resume(const nlohmann::json& pending) {
  std::string ext = pending.value("external_idstring", std::string());
  bool exists = false;
  if (!ext.empty()) exists = co_await buildset_exists(ext);
  if (!may_write()) co_return;
  if (exists) {
    spdlog::info("scheduler {}: finishing buildset {} of an earlier run", config_.name, ext);
    co_await finish(pending);
  } else {
    // Never added: dropping the intent is enough, as what made it due (the classifications, or
    // last_build) is unchanged and makes it due again.
    nlohmann::json none;
    auto sf = db_.state().set_state(objectid_, "pending", none);
    co_await await(std::move(sf));
  }
}

awaitable<void> Running::finish(const nlohmann::json& pending) {
  if (pending.contains("max") && pending["max"].is_number_integer()) {
    int64_t max = pending["max"].get<int64_t>();
    std::optional<int64_t> less_than = max + 1;
    auto ff = db_.schedulers().flush_change_classifications(schedulerid_, less_than);
    co_await await(std::move(ff));
  }
  if (pending.contains("last_build")) {
    nlohmann::json last = pending["last_build"];
    auto sf = db_.state().set_state(objectid_, "last_build", last);
    co_await await(std::move(sf));
    last_build_ms_ = ms_of(last);
  }
  nlohmann::json none;
  auto cf = db_.state().set_state(objectid_, "pending", none);
  co_await await(std::move(cf));
}

}  // namespace

std::unique_ptr<Scheduler> Scheduler::create(boost::asio::io_context& io, db::Db& db,
                                             SchedulerConfig config, int64_t schedulerid,
                                             std::function<bool()> may_write) {
  switch (config.type) {
    case SchedulerType::kSingleBranch:
    case SchedulerType::kPeriodic:
    case SchedulerType::kNightly:
      return std::make_unique<Running>(io, db, std::move(config), schedulerid,
                                       std::move(may_write));
    case SchedulerType::kForce:
    case SchedulerType::kTriggerable:
      return nullptr;
  }
  return nullptr;
}

}  // namespace ym::master
