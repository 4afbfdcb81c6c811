#include "db/connectors/changesources.hpp"

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

class FakeChangeSources final : public db::ChangeSources {
 public:
  explicit FakeChangeSources(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_change_source_id(std::string name) override {
    return a_.call([&](Store& s) {
      if (!db::is_valid_utf8(name)) {
        throw db::InvalidArgument("change source name is not valid UTF-8");
      }
      for (const auto& [id, cs] : s.changesources) {
        if (cs.name == name) return id;
      }
      int64_t id = s.next_id("changesources", s.changesources);
      s.changesources[id] = td::ChangeSource{id, name};
      return id;
    });
  }

  Future<void> set_change_source_master(int64_t changesourceid,
                                        std::optional<int64_t> masterid) override {
    return a_.call([&](Store& s) {
      if (!masterid) {
        s.changesource_masters.erase(changesourceid);  // an unknown one: nothing to release
        return;
      }
      if (!s.changesources.count(changesourceid)) {
        throw db::NotFound("no change source with id " + std::to_string(changesourceid));
      }
      auto it = s.changesource_masters.find(changesourceid);
      if (it != s.changesource_masters.end()) {
        int64_t current = it->second.masterid;
        if (current == *masterid) return;
        auto holder = s.masters.find(current);
        if (holder != s.masters.end() && holder->second.active) {
          throw db::ChangeSourceAlreadyClaimedError(
              "change source " + std::to_string(changesourceid) + " is run by active master " +
              std::to_string(current));
        }
      }
      if (!s.masters.count(*masterid)) {
        throw db::NotFound("no master with id " + std::to_string(*masterid));
      }
      s.changesource_masters[changesourceid] = td::ChangeSourceMaster{changesourceid, *masterid};
    });
  }

  Future<std::optional<db::ChangeSource>> get_change_source(int64_t changesourceid) override {
    return a_.call([&](Store& s) -> std::optional<db::ChangeSource> {
      auto it = s.changesources.find(changesourceid);
      if (it == s.changesources.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::ChangeSource>> get_change_sources(
      std::optional<bool> active, std::optional<int64_t> masterid) override {
    return a_.call([&](Store& s) {
      std::vector<db::ChangeSource> out;
      for (const auto& [id, cs] : s.changesources) {
        db::ChangeSource rec = to_record(s, cs);
        if (active && rec.masterid.has_value() != *active) continue;
        if (masterid && rec.masterid != masterid) continue;
        out.push_back(std::move(rec));
      }
      return out;
    });
  }

 private:
  static db::ChangeSource to_record(const Store& s, const td::ChangeSource& cs) {
    db::ChangeSource rec{cs.id, cs.name, std::nullopt};
    if (auto it = s.changesource_masters.find(cs.id); it != s.changesource_masters.end()) {
      rec.masterid = it->second.masterid;
    }
    return rec;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::ChangeSources> make_fake_changesources(FakeDb::Access a) {
  return std::make_unique<FakeChangeSources>(a);
}

}  // namespace ym::fake
