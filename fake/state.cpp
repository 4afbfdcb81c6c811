#include "db/connectors/state.hpp"

#include "db/base.hpp"
#include "db/connectors/json_util.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

using db::internal::dump_json;
using db::internal::parse_json;

class FakeState final : public db::State {
 public:
  explicit FakeState(FakeDb::Access a) : a_(a) {}

  Future<int64_t> get_object_id(std::string name, std::string class_name) override {
    return a_.call([&](Store& s) {
      name = db::ensure_length("objects", "name", name);  // as Buildbot's ensureLength
      db::check_length("objects", "class_name", class_name);
      for (const auto& [id, o] : s.objects) {
        if (o.name == name && o.class_name == class_name) return id;
      }
      int64_t id = s.next_id("objects", s.objects);
      s.objects[id] = td::Object{id, name, class_name};
      return id;
    });
  }

  Future<nlohmann::json> get_state(int64_t objectid, std::string name) override {
    return a_.call([&](Store& s) {
      auto it = s.object_state.find({objectid, name});
      if (it == s.object_state.end()) {
        throw db::NotFound("no state '" + name + "' for object " + std::to_string(objectid));
      }
      return parse_json(it->second.value_json, "state '" + name + "'");
    });
  }

  Future<nlohmann::json> get_state(int64_t objectid, std::string name,
                                   nlohmann::json default_value) override {
    return a_.call([&](Store& s) {
      auto it = s.object_state.find({objectid, name});
      if (it == s.object_state.end()) return default_value;
      return parse_json(it->second.value_json, "state '" + name + "'");
    });
  }

  Future<nlohmann::json> set_state(int64_t objectid, std::string name,
                                   nlohmann::json value) override {
    return a_.call([&](Store& s) {
      check_name(name);
      std::string json = dump_json(value, "state '" + name + "'");
      if (!s.objects.count(objectid)) throw db::NotFound("no object with id " + std::to_string(objectid));
      s.object_state[{objectid, name}] = td::ObjectState{objectid, name, json};
      return parse_json(json, "state");
    });
  }

  Future<nlohmann::json> atomic_create_state(int64_t objectid, std::string name,
                                             std::function<nlohmann::json()> create) override {
    return a_.call([&](Store& s) {
      check_name(name);
      auto it = s.object_state.find({objectid, name});
      if (it != s.object_state.end()) return parse_json(it->second.value_json, "state '" + name + "'");
      if (!s.objects.count(objectid)) throw db::NotFound("no object with id " + std::to_string(objectid));
      std::string json = dump_json(create(), "state '" + name + "'");
      s.object_state[{objectid, name}] = td::ObjectState{objectid, name, json};
      return parse_json(json, "state");
    });
  }

 private:
  static void check_name(const std::string& name) {
    if (name.empty()) throw db::InvalidArgument("state name is empty");
    db::check_length("object_state", "name", name);
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::State> make_fake_state(FakeDb::Access a) {
  return std::make_unique<FakeState>(a);
}

}  // namespace ym::fake
