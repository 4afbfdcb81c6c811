#include "db/connectors/masters.hpp"

#include "fake/internal.hpp"

namespace ym::fake {
namespace {

db::Master to_record(const td::Master& m) {
  return db::Master{m.id, m.name, m.active, Timestamp(std::chrono::seconds(m.last_active))};
}

class FakeMasters final : public db::Masters {
 public:
  explicit FakeMasters(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_master_id(std::string name) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      for (const auto& [id, m] : s.masters) {
        if (m.name == name) return id;
      }
      int64_t id = s.next_id("masters", s.masters);
      s.masters[id] = td::Master{id, name, false, now};
      return id;
    });
  }

  Future<bool> set_master_state(int64_t masterid, bool active) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      auto it = s.masters.find(masterid);
      if (it == s.masters.end()) return false;  // nothing changes, as in Buildbot
      bool was = it->second.active;
      it->second.active = active;
      if (active) {
        it->second.last_active = now;
        return !was;
      }
      for (auto bm = s.builder_masters.begin(); bm != s.builder_masters.end();) {
        auto next = std::next(bm);
        if (bm->second.masterid == masterid) delete_builder_master(s, bm->first);
        bm = next;
      }
      auto of_master = [&](const auto& kv) { return kv.second.masterid == masterid; };
      std::erase_if(s.connected_workers, of_master);
      std::erase_if(s.scheduler_masters, of_master);
      std::erase_if(s.changesource_masters, of_master);
      // Unfinished requests it claimed become claimable again.
      std::erase_if(s.buildrequest_claims, [&](const auto& kv) {
        auto br = s.buildrequests.find(kv.first);
        return kv.second.masterid == masterid && (br == s.buildrequests.end() || !br->second.complete);
      });
      std::vector<int64_t> builds;
      for (const auto& [id, b] : s.builds) {
        if (b.masterid == masterid && !b.complete_at) builds.push_back(id);
      }
      end_unfinished_builds(s, builds, db::results::kRetry, db::results::kRetry,
                            "retry: its master went inactive", now);
      return was;
    });
  }

  Future<std::optional<db::Master>> get_master(int64_t masterid) override {
    return a_.call([&](Store& s) -> std::optional<db::Master> {
      auto it = s.masters.find(masterid);
      if (it == s.masters.end()) return std::nullopt;
      return to_record(it->second);
    });
  }

  Future<std::vector<db::Master>> get_masters() override {
    return a_.call([&](Store& s) {
      std::vector<db::Master> out;
      for (const auto& [id, m] : s.masters) out.push_back(to_record(m));
      return out;
    });
  }

  Future<void> set_all_masters_active_long_time_ago() override {
    return a_.call([&](Store& s) {
      for (auto& [id, m] : s.masters) {
        m.active = true;  // as Buildbot: housekeeping at the next start expires every one of them
        m.last_active = 0;
      }
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Masters> make_fake_masters(FakeDb::Access a) {
  return std::make_unique<FakeMasters>(a);
}

}  // namespace ym::fake
