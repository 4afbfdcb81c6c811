#include "fake/fake_db.hpp"

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {

using db::ForeignKeyViolation;
using db::UniqueViolation;

namespace {

template <class M>
void require(bool check, const M& rows, int64_t id, const char* table, const char* from) {
  if (check && !rows.count(id)) {
    throw ForeignKeyViolation(std::string("FOREIGN KEY constraint failed: ") + from + " refers to " +
                              table + " id " + std::to_string(id) + " which does not exist");
  }
}

template <class M, class R>
void put_unique(M& rows, int64_t id, R row, const char* table) {
  if (!rows.emplace(id, std::move(row)).second) {
    throw UniqueViolation(std::string("UNIQUE constraint failed: ") + table + ".id " +
                          std::to_string(id));
  }
}

template <class M, class Pred>
void require_no(const M& rows, Pred same, const char* what) {
  for (const auto& [k, r] : rows) {
    if (same(r)) throw UniqueViolation(std::string("UNIQUE constraint failed: ") + what);
  }
}

struct Insert {
  Store& s;
  bool fk;
  void operator()(const td::Master& r) {
    require_no(s.masters, [&](const td::Master& o) { return o.name == r.name; }, "masters.name");
    put_unique(s.masters, r.id, r, "masters");
  }
  void operator()(const td::Builder& r) {
    require_no(s.builders, [&](const td::Builder& o) { return o.name == r.name; }, "builders.name");
    put_unique(s.builders, r.id, r, "builders");
  }
  void operator()(const td::BuilderMaster& r) {
    require(fk, s.builders, r.builderid, "builders", "builder_masters");
    require(fk, s.masters, r.masterid, "masters", "builder_masters");
    require_no(s.builder_masters, [&](const td::BuilderMaster& o) {
      return o.builderid == r.builderid && o.masterid == r.masterid;
    }, "builder_masters.builderid, builder_masters.masterid");
    put_unique(s.builder_masters, r.id, r, "builder_masters");
  }
  void operator()(const td::Worker& r) {
    require_no(s.workers, [&](const td::Worker& o) { return o.name == r.name; }, "workers.name");
    put_unique(s.workers, r.id, r, "workers");
  }
  void operator()(const td::ConfiguredWorker& r) {
    require(fk, s.builder_masters, r.buildermasterid, "builder_masters", "configured_workers");
    require(fk, s.workers, r.workerid, "workers", "configured_workers");
    require_no(s.configured_workers, [&](const td::ConfiguredWorker& o) {
      return o.buildermasterid == r.buildermasterid && o.workerid == r.workerid;
    }, "configured_workers.buildermasterid, configured_workers.workerid");
    put_unique(s.configured_workers, r.id, r, "configured_workers");
  }
  void operator()(const td::ConnectedWorker& r) {
    require(fk, s.masters, r.masterid, "masters", "connected_workers");
    require(fk, s.workers, r.workerid, "workers", "connected_workers");
    require_no(s.connected_workers, [&](const td::ConnectedWorker& o) {
      return o.masterid == r.masterid && o.workerid == r.workerid;
    }, "connected_workers.masterid, connected_workers.workerid");
    put_unique(s.connected_workers, r.id, r, "connected_workers");
  }
  void operator()(const td::Object& r) {
    require_no(s.objects, [&](const td::Object& o) {
      return o.name == r.name && o.class_name == r.class_name;
    }, "objects.name, objects.class_name");
    put_unique(s.objects, r.id, r, "objects");
  }
  void operator()(const td::ObjectState& r) {
    require(fk, s.objects, r.objectid, "objects", "object_state");
    if (!s.object_state.emplace(std::make_pair(r.objectid, r.name), r).second) {
      throw UniqueViolation("UNIQUE constraint failed: object_state.objectid, object_state.name");
    }
  }
};

}  // namespace

void delete_builder_master(Store& s, int64_t buildermasterid) {
  std::erase_if(s.configured_workers,
                [&](const auto& kv) { return kv.second.buildermasterid == buildermasterid; });
  s.builder_masters.erase(buildermasterid);
}

FakeDb::FakeDb(FakeOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = &db::now_seconds;
  masters_ = make_fake_masters(Access{*this});
  builders_ = make_fake_builders(Access{*this});
  workers_ = make_fake_workers(Access{*this});
  state_ = make_fake_state(Access{*this});
}

FakeDb::~FakeDb() = default;

db::Masters& FakeDb::masters() { return *masters_; }
db::Builders& FakeDb::builders() { return *builders_; }
db::Workers& FakeDb::workers() { return *workers_; }
db::State& FakeDb::state() { return *state_; }

Future<void> FakeDb::insert_test_data(std::vector<td::Row> rows) {
  bool fk = options_.check_foreign_keys;
  return Access{*this}.call([rows = std::move(rows), fk](Store& s) {
    Store copy = s;  // all or nothing, like the transaction a real database uses
    Insert insert{copy, fk};
    for (const auto& row : rows) std::visit(insert, row);
    s = std::move(copy);
  });
}

void FakeDb::shutdown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
}

void FakeDb::fail_next_calls(int n, std::exception_ptr error) {
  std::lock_guard lock(mu_);
  fail_next_ = n;
  fail_error_ = std::move(error);
}

}  // namespace ym::fake
