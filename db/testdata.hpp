// Test data as rows: small structs that both the fake and a real database accept through one
// Db::insert_test_data call, so that a test sets up the same state on every implementation.
// Each struct is one row of the table it names; ids are given explicitly.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "db/value.hpp"

namespace ym::db::testdata {

struct Master {
  int64_t id = 0;
  std::string name = "some:master";
  bool active = true;
  int64_t last_active = 9998999;
};
struct Builder {
  int64_t id = 0;
  std::string name = "builder";
  std::optional<std::string> description;
};
struct BuilderMaster {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t masterid = 0;
};
struct Worker {
  int64_t id = 0;
  std::string name = "some-worker";
  nlohmann::json info = nlohmann::json::object();
  bool paused = false;
  bool graceful = false;
};
struct ConfiguredWorker {
  int64_t id = 0;
  int64_t buildermasterid = 0;
  int64_t workerid = 0;
};
struct ConnectedWorker {
  int64_t id = 0;
  int64_t masterid = 0;
  int64_t workerid = 0;
};
struct Object {
  int64_t id = 0;
  std::string name = "obj";
  std::string class_name = "Class";
};
struct ObjectState {
  int64_t objectid = 0;
  std::string name;
  std::string value_json;  // stored as given, so tests can plant a corrupt value
};

using Row = std::variant<Master, Builder, BuilderMaster, Worker, ConfiguredWorker, ConnectedWorker,
                         Object, ObjectState>;

// The table and column values of a row, for a real database.
struct SqlRow {
  std::string table;
  std::vector<std::pair<std::string, Value>> columns;
};
SqlRow to_sql(const Row& row);

}  // namespace ym::db::testdata
