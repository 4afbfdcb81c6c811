#include "db/testdata.hpp"

#include "db/base.hpp"

namespace ym::db::testdata {

namespace {
struct ToSql {
  SqlRow operator()(const Master& r) const {
    return {"masters",
            {{"id", r.id}, {"name", r.name}, {"name_hash", hash_columns({r.name})},
             {"active", to_value(r.active)}, {"last_active", r.last_active}}};
  }
  SqlRow operator()(const Builder& r) const {
    return {"builders",
            {{"id", r.id}, {"name", r.name}, {"description", to_value(r.description)},
             {"name_hash", hash_columns({r.name})}}};
  }
  SqlRow operator()(const BuilderMaster& r) const {
    return {"builder_masters", {{"id", r.id}, {"builderid", r.builderid}, {"masterid", r.masterid}}};
  }
  SqlRow operator()(const Worker& r) const {
    return {"workers",
            {{"id", r.id}, {"name", r.name}, {"info", r.info.dump()},
             {"paused", to_value(r.paused)}, {"graceful", to_value(r.graceful)}}};
  }
  SqlRow operator()(const ConfiguredWorker& r) const {
    return {"configured_workers",
            {{"id", r.id}, {"buildermasterid", r.buildermasterid}, {"workerid", r.workerid}}};
  }
  SqlRow operator()(const ConnectedWorker& r) const {
    return {"connected_workers",
            {{"id", r.id}, {"masterid", r.masterid}, {"workerid", r.workerid}}};
  }
  SqlRow operator()(const Object& r) const {
    return {"objects", {{"id", r.id}, {"name", r.name}, {"class_name", r.class_name}}};
  }
  SqlRow operator()(const ObjectState& r) const {
    return {"object_state",
            {{"objectid", r.objectid}, {"name", r.name}, {"value_json", r.value_json}}};
  }
};
}  // namespace

SqlRow to_sql(const Row& row) { return std::visit(ToSql{}, row); }

}  // namespace ym::db::testdata
