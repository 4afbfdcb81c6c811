#include "db/connectors/builders.hpp"

#include <set>

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
      if (it != s.builders.end()) it->second.description = description;  // unknown: no-op
    });
  }

  Future<void> update_builder_info(int64_t builderid, std::optional<std::string> description,
                                   std::vector<db::TagRef> tags) override {
    return a_.call([&](Store& s) {
      for (const auto& t : tags) {
        if (const auto* name = std::get_if<std::string>(&t); name && !db::is_valid_utf8(*name)) {
          throw db::InvalidArgument("tag name is not valid UTF-8");
        }
      }
      auto it = s.builders.find(builderid);
      if (it == s.builders.end()) {
        if (tags.empty()) return;  // an unknown builder without tags: nothing changes
        throw db::NotFound("no builder with id " + std::to_string(builderid));
      }
      // Checked before anything changes (tags created by name included), as a rolled-back
      // transaction leaves nothing behind.
      std::set<int64_t> seen;
      std::set<std::string> names;
      int64_t next_new = -1;  // stand-ins for tags that would be created
      for (const auto& t : tags) {
        int64_t id = 0;
        if (const auto* name = std::get_if<std::string>(&t)) {
          id = next_new--;
          for (const auto& [tid, tag] : s.tags) {
            if (tag.name == *name) id = tid;
          }
          if (id < 0 && !names.insert(*name).second) id = 0;  // the same new name twice
        } else {
          id = std::get<int64_t>(t);
          if (!s.tags.count(id)) throw db::NotFound("no tag with id " + std::to_string(id));
        }
        if (id == 0 || !seen.insert(id).second) {
          throw db::UniqueViolation("a tag is given twice for builder " + std::to_string(builderid));
        }
      }
      it->second.description = description;
      std::erase_if(s.builders_tags, [&](const auto& kv) { return kv.second.builderid == builderid; });
      for (const auto& t : tags) {
        const auto* name = std::get_if<std::string>(&t);
        int64_t tagid = name ? find_tag_id(s, *name) : std::get<int64_t>(t);
        int64_t id = s.next_id("builders_tags", s.builders_tags);
        s.builders_tags[id] = td::BuilderTag{id, builderid, tagid};
      }
    });
  }

 private:
  static db::Builder to_record(const Store& s, const td::Builder& b) {
    db::Builder rec{b.id, b.name, b.description, {}, {}};
    for (const auto& [id, bm] : s.builder_masters) {
      if (bm.builderid == b.id) rec.masterids.push_back(bm.masterid);
    }
    std::sort(rec.masterids.begin(), rec.masterids.end());
    for (const auto& [id, bt] : s.builders_tags) {  // by id: the order they were given
      if (bt.builderid == b.id) rec.tags.push_back(s.tags.at(bt.tagid).name);
    }
    return rec;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Builders> make_fake_builders(FakeDb::Access a) {
  return std::make_unique<FakeBuilders>(a);
}

}  // namespace ym::fake
