#include "db/connectors/schedulers.hpp"

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

void require_scheduler(const Store& s, int64_t schedulerid) {
  if (!s.schedulers.count(schedulerid)) {
    throw db::NotFound("no scheduler with id " + std::to_string(schedulerid));
  }
}

class FakeSchedulers final : public db::Schedulers {
 public:
  explicit FakeSchedulers(FakeDb::Access a) : a_(a) {}

  Future<void> classify_changes(int64_t schedulerid,
                                std::map<int64_t, bool> classifications) override {
    return a_.call([&](Store& s) {
      require_scheduler(s, schedulerid);
      for (const auto& [changeid, important] : classifications) {
        if (!s.changes.count(changeid)) {
          throw db::NotFound("no change with id " + std::to_string(changeid));
        }
      }
      for (const auto& [changeid, important] : classifications) {
        s.scheduler_changes[{schedulerid, changeid}] =
            td::SchedulerChange{schedulerid, changeid, important};
      }
    });
  }

  Future<void> flush_change_classifications(int64_t schedulerid,
                                            std::optional<int64_t> less_than) override {
    return a_.call([&](Store& s) {
      std::erase_if(s.scheduler_changes, [&](const auto& kv) {
        return kv.first.first == schedulerid && (!less_than || kv.first.second < *less_than);
      });
    });
  }

  Future<std::map<int64_t, bool>> get_change_classifications(int64_t schedulerid,
                                                             db::BranchFilter branch) override {
    return a_.call([&](Store& s) {
      std::map<int64_t, bool> out;
      for (const auto& [key, sc] : s.scheduler_changes) {
        if (key.first != schedulerid) continue;
        if (branch.given()) {
          auto ch = s.changes.find(key.second);
          if (ch == s.changes.end() || ch->second.branch != branch.branch()) continue;
        }
        out[key.second] = sc.important;
      }
      return out;
    });
  }

  Future<std::map<int64_t, bool>> get_change_classifications(
      int64_t schedulerid, db::ChangeClassificationFilter filter) override {
    return a_.call([&](Store& s) {
      bool any = filter.branch.given() || filter.repository || filter.project || filter.codebase;
      std::map<int64_t, bool> out;
      for (const auto& [key, sc] : s.scheduler_changes) {
        if (key.first != schedulerid) continue;
        if (any) {
          auto ch = s.changes.find(key.second);
          if (ch == s.changes.end()) continue;
          const td::Change& c = ch->second;
          if (filter.branch.given() && c.branch != filter.branch.branch()) continue;
          if (filter.repository && c.repository != *filter.repository) continue;
          if (filter.project && c.project != *filter.project) continue;
          if (filter.codebase && c.codebase != *filter.codebase) continue;
        }
        out[key.second] = sc.important;
      }
      return out;
    });
  }

  Future<int64_t> find_scheduler_id(std::string name) override {
    return a_.call([&](Store& s) {
      if (!db::is_valid_utf8(name)) throw db::InvalidArgument("scheduler name is not valid UTF-8");
      for (const auto& [id, sch] : s.schedulers) {
        if (sch.name == name) return id;
      }
      int64_t id = s.next_id("schedulers", s.schedulers);
      s.schedulers[id] = td::Scheduler{id, name, true};
      return id;
    });
  }

  Future<void> set_scheduler_master(int64_t schedulerid, std::optional<int64_t> masterid) override {
    return a_.call([&](Store& s) {
      if (!masterid) {
        s.scheduler_masters.erase(schedulerid);  // an unknown scheduler: nothing to release
        return;
      }
      require_scheduler(s, schedulerid);
      auto it = s.scheduler_masters.find(schedulerid);
      if (it != s.scheduler_masters.end()) {
        int64_t current = it->second.masterid;
        if (current == *masterid) return;
        auto holder = s.masters.find(current);
        if (holder != s.masters.end() && holder->second.active) {
          throw db::SchedulerAlreadyClaimedError("scheduler " + std::to_string(schedulerid) +
                                                 " is run by active master " +
                                                 std::to_string(current));
        }
      }
      if (!s.masters.count(*masterid)) {
        throw db::NotFound("no master with id " + std::to_string(*masterid));
      }
      s.scheduler_masters[schedulerid] = td::SchedulerMaster{schedulerid, *masterid};
    });
  }

  Future<void> enable(int64_t schedulerid, bool enabled) override {
    return a_.call([&](Store& s) {
      // An unknown scheduler: nothing changes, as in Buildbot.
      if (auto it = s.schedulers.find(schedulerid); it != s.schedulers.end()) it->second.enabled = enabled;
    });
  }

  Future<std::optional<db::Scheduler>> get_scheduler(int64_t schedulerid) override {
    return a_.call([&](Store& s) -> std::optional<db::Scheduler> {
      auto it = s.schedulers.find(schedulerid);
      if (it == s.schedulers.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::Scheduler>> get_schedulers(std::optional<bool> active,
                                                    std::optional<int64_t> masterid) override {
    return a_.call([&](Store& s) {
      std::vector<db::Scheduler> out;
      for (const auto& [id, sch] : s.schedulers) {
        db::Scheduler rec = to_record(s, sch);
        if (active && rec.masterid.has_value() != *active) continue;
        if (masterid && rec.masterid != masterid) continue;
        out.push_back(std::move(rec));
      }
      return out;
    });
  }

 private:
  static db::Scheduler to_record(const Store& s, const td::Scheduler& sch) {
    db::Scheduler rec{sch.id, sch.name, std::nullopt, sch.enabled};
    if (auto it = s.scheduler_masters.find(sch.id); it != s.scheduler_masters.end()) {
      rec.masterid = it->second.masterid;
    }
    return rec;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Schedulers> make_fake_schedulers(FakeDb::Access a) {
  return std::make_unique<FakeSchedulers>(a);
}

}  // namespace ym::fake
