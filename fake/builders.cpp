#include "db/connectors/builders.hpp"

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

class FakeBuilders final : public db::Builders {
 public:
  explicit FakeBuilders(FakeDb::Access a) : a_(a) {}

  Future<std::optional<int64_t>> find_builder_id(std::string name, bool auto_create) override {
    return a_.call([&](Store& s) -> std::optional<int64_t> {
      db::check_identifier("builder name", name, db::kBuilderNameMax);
      for (const auto& [id, b] : s.builders) {
        if (b.name == name) return id;
      }
      if (!auto_create) return std::nullopt;
      int64_t id = s.next_id("builders", s.builders);
      s.builders[id] = td::Builder{id, name, std::nullopt};
      return id;
    });
  }

  Future<void> add_builder_master(int64_t builderid, int64_t masterid) override {
    return a_.call([&](Store& s) {
      if (!s.builders.count(builderid)) throw db::NotFound("no builder with id " + std::to_string(builderid));
      if (!s.masters.count(masterid)) throw db::NotFound("no master with id " + std::to_string(masterid));
      for (const auto& [id, bm] : s.builder_masters) {
        if (bm.builderid == builderid && bm.masterid == masterid) return;
      }
      int64_t id = s.next_id("builder_masters", s.builder_masters);
      s.builder_masters[id] = td::BuilderMaster{id, builderid, masterid};
    });
  }

  Future<void> remove_builder_master(int64_t builderid, int64_t masterid) override {
    return a_.call([&](Store& s) {
      for (const auto& [id, bm] : s.builder_masters) {
        if (bm.builderid == builderid && bm.masterid == masterid) {
          delete_builder_master(s, id);
          return;
        }
      }
    });
  }

  Future<std::optional<db::Builder>> get_builder(int64_t builderid) override {
    return a_.call([&](Store& s) -> std::optional<db::Builder> {
      auto it = s.builders.find(builderid);
      if (it == s.builders.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::Builder>> get_builders(std::optional<int64_t> masterid) override {
    return a_.call([&](Store& s) {
      std::vector<db::Builder> out;
      for (const auto& [id, b] : s.builders) {
        db::Builder rec = to_record(s, b);
        if (masterid && std::find(rec.masterids.begin(), rec.masterids.end(), *masterid) ==
                            rec.masterids.end()) {
          continue;
        }
        out.push_back(std::move(rec));
      }
      return out;
    });
  }

  Future<void> update_builder_info(int64_t builderid,
                                   std::optional<std::string> description) override {
    return a_.call([&](Store& s) {
      auto it = s.builders.find(builderid);
      if (it == s.builders.end()) throw db::NotFound("no builder with id " + std::to_string(builderid));
      it->second.description = description;
    });
  }

 private:
  static db::Builder to_record(const Store& s, const td::Builder& b) {
    db::Builder rec{b.id, b.name, b.description, {}};
    for (const auto& [id, bm] : s.builder_masters) {
      if (bm.builderid == b.id) rec.masterids.push_back(bm.masterid);
    }
    std::sort(rec.masterids.begin(), rec.masterids.end());
    return rec;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Builders> make_fake_builders(FakeDb::Access a) {
  return std::make_unique<FakeBuilders>(a);
}

}  // namespace ym::fake
