#include "db/connectors/state.hpp"

#include "db/connectors/json_util.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

using internal::dump_json;
using internal::parse_json;

constexpr const char* kSelectValue = "SELECT value_json FROM object_state WHERE objectid = ? AND name = ?";

void check_state_name(const std::string& name) {
  if (name.empty()) throw InvalidArgument("state name is empty");
  check_length("object_state", "name", name);
}

// Inserts the value unless someone else did first; returns the value that is stored.
std::string insert_or_read(Connection& c, int64_t objectid, const std::string& name,
                           const std::string& json) {
  c.execute_script("SAVEPOINT ym_state_insert");
  try {
    c.stmt("INSERT INTO object_state (objectid, name, value_json) VALUES (?, ?, ?)")
        .bind(objectid, name, json)
        .exec();
    c.execute_script("RELEASE SAVEPOINT ym_state_insert");
    return json;
  } catch (const UniqueViolation&) {
    c.execute_script("ROLLBACK TO SAVEPOINT ym_state_insert");
  } catch (const ForeignKeyViolation&) {
    c.execute_script("ROLLBACK TO SAVEPOINT ym_state_insert");
    throw NotFound("no object with id " + std::to_string(objectid));
  }
  // The first writer won: return its value.
  return *c.stmt(kSelectValue).bind(objectid, name).scalar<std::string>();
}

class SqlState final : public State {
 public:
  explicit SqlState(internal::Context& ctx)
      : ctx_(ctx), ids_(ctx.caches.make<std::string, int64_t>("objectids")) {}

  Future<int64_t> get_object_id(std::string name, std::string class_name) override {
    try {
      // Empty names are names (Buildbot stores them too).
      name = ensure_length("objects", "name", name);  // a long name is shortened, as Buildbot
      check_length("objects", "class_name", class_name);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    auto& pool = ctx_.pool;
    std::string key = name + '\0' + class_name;
    return ids_
        ->get(key,
              [&pool, name, class_name] {
                return pool.run([name, class_name](Connection& c) {
                  std::vector<Value> p{name, class_name};
                  return std::make_shared<const int64_t>(*find_something_id(
                      c, "SELECT id FROM objects WHERE name = ? AND class_name = ?", p,
                      "INSERT INTO objects (name, class_name) VALUES (?, ?)", p));
                });
              })
        .then(
              [](Future<std::shared_ptr<const int64_t>> f) { return *f.get(); });
  }

  Future<nlohmann::json> get_state(int64_t objectid, std::string name) override {
    return ctx_.pool.run([objectid, name](Connection& c) {
      auto v = c.stmt(kSelectValue).bind(objectid, name).scalar<std::string>();
      if (!v) {
        throw NotFound("no state '" + name + "' for object " + std::to_string(objectid));
      }
      return parse_json(*v, "state '" + name + "'");
    });
  }

  Future<nlohmann::json> get_state(int64_t objectid, std::string name,
                                   nlohmann::json default_value) override {
    return ctx_.pool.run([objectid, name, default_value](Connection& c) {
      auto v = c.stmt(kSelectValue).bind(objectid, name).scalar<std::string>();
      if (!v) return default_value;
      return parse_json(*v, "state '" + name + "'");
    });
  }

  Future<nlohmann::json> set_state(int64_t objectid, std::string name,
                                   nlohmann::json value) override {
    std::string json;
    try {
      check_state_name(name);
      json = dump_json(value, "state '" + name + "'");
    } catch (const Error&) {
      return make_exceptional_future<nlohmann::json>(std::current_exception());
    }
    return ctx_.pool.transaction([objectid, name, json](Connection& c) {
      if (c.stmt("UPDATE object_state SET value_json = ? WHERE objectid = ? AND name = ?")
              .bind(json, objectid, name)
              .exec() > 0) {
        return parse_json(json, "state");
      }
      return parse_json(insert_or_read(c, objectid, name, json), "state '" + name + "'");
    });
  }

  Future<nlohmann::json> atomic_create_state(int64_t objectid, std::string name,
                                             std::function<nlohmann::json()> create) override {
    try {
      check_state_name(name);
    } catch (const Error&) {
      return make_exceptional_future<nlohmann::json>(std::current_exception());
    }
    return ctx_.pool.transaction([objectid, name, create](Connection& c) {
      if (auto v = c.stmt(kSelectValue).bind(objectid, name).scalar<std::string>()) {
        return parse_json(*v, "state '" + name + "'");
      }
      std::string json = dump_json(create(), "state '" + name + "'");
      return parse_json(insert_or_read(c, objectid, name, json), "state '" + name + "'");
    });
  }

 private:
  internal::Context& ctx_;
  std::shared_ptr<Cache<std::string, int64_t>> ids_;
};

}  // namespace

std::unique_ptr<State> internal::make_sql_state(Context& ctx) {
  return std::make_unique<SqlState>(ctx);
}

}  // namespace ym::db
