#include "db/connectors/build_data.hpp"

#include <limits>

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

db::BuildDataEntry entry(const td::BuildData& d, bool with_value) {
  db::BuildDataEntry e{d.buildid, d.name, std::nullopt, *d.length, d.source};
  if (with_value) e.value = d.value;
  return e;
}

class FakeBuildData final : public db::BuildData {
 public:
  explicit FakeBuildData(FakeDb::Access a) : a_(a) {}

  Future<void> set_build_data(int64_t buildid, std::string name, std::string value,
                              std::string source) override {
    return a_.call([&](Store& s) {
      check_text("build data name", "name", name);
      check_text("build data source", "source", source);
      if (value.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw db::ValueTooLong("build data '" + name + "' is over 2^31-1 bytes");
      }
      if (!s.builds.count(buildid)) throw db::NotFound("no build with id " + std::to_string(buildid));
      auto length = static_cast<int64_t>(value.size());
      if (td::BuildData* d = find(s, buildid, name)) {
        d->value = std::move(value);
        d->length = length;
        d->source = std::move(source);
        return;
      }
      int64_t id = s.next_id("build_data", s.build_data);
      s.build_data[id] = td::BuildData{id, buildid, name, std::move(value), length, std::move(source)};
    });
  }

  Future<std::optional<db::BuildDataEntry>> get_build_data(int64_t buildid, std::string name) override {
    return a_.call([&](Store& s) -> std::optional<db::BuildDataEntry> {
      if (const td::BuildData* d = find(s, buildid, name)) return entry(*d, true);
      return std::nullopt;
    });
  }

  Future<std::optional<db::BuildDataEntry>> get_build_data_no_value(int64_t buildid,
                                                                    std::string name) override {
    return a_.call([&](Store& s) -> std::optional<db::BuildDataEntry> {
      if (const td::BuildData* d = find(s, buildid, name)) return entry(*d, false);
      return std::nullopt;
    });
  }

  Future<std::vector<db::BuildDataEntry>> get_all_build_data_no_values(int64_t buildid) override {
    return a_.call([&](Store& s) {
      std::vector<db::BuildDataEntry> out;
      for (const auto& [id, d] : s.build_data) {
        if (d.buildid == buildid) out.push_back(entry(d, false));
      }
      return out;
    });
  }

  Future<int64_t> delete_old_build_data(Timestamp older_than) override {
    return a_.call([&](Store& s) {
      int64_t before = older_than.time_since_epoch().count();
      return static_cast<int64_t>(std::erase_if(s.build_data, [&](const auto& kv) {
        auto b = s.builds.find(kv.second.buildid);
        return b != s.builds.end() && b->second.complete_at && *b->second.complete_at < before;
      }));
    });
  }

 private:
  static void check_text(const char* what, const std::string& column, const std::string& v) {
    if (!db::is_valid_utf8(v)) throw db::InvalidArgument(std::string(what) + " is not valid UTF-8");
    db::check_length("build_data", column, v);
  }
  static td::BuildData* find(Store& s, int64_t buildid, const std::string& name) {
    for (auto& [id, d] : s.build_data) {
      if (d.buildid == buildid && d.name == name) return &d;
    }
    return nullptr;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::BuildData> make_fake_build_data(FakeDb::Access a) {
  return std::make_unique<FakeBuildData>(a);
}

}  // namespace ym::fake
