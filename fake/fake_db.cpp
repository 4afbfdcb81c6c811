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
  void operator()(const td::User& r) {
    require_no(s.users, [&](const td::User& o) {
      return o.identifier == r.identifier || (r.bb_username && o.bb_username == r.bb_username);
    }, "users.identifier / users.bb_username");
    put_unique(s.users, r.uid, r, "users");
  }
  void operator()(const td::UserInfo& r) {
    require(fk, s.users, r.uid, "users", "users_info");
    for (const auto& o : s.users_info) {
      if ((o.uid == r.uid && o.attr_type == r.attr_type) ||
          (o.attr_type == r.attr_type && o.attr_data == r.attr_data)) {
        throw UniqueViolation("UNIQUE constraint failed: users_info");
      }
    }
    s.users_info.push_back(r);
  }
  void operator()(const td::Patch& r) { put_unique(s.patches, r.id, r, "patches"); }
  void operator()(const td::SourceStamp& r) {
    if (r.patchid) require(fk, s.patches, *r.patchid, "patches", "sourcestamps");
    td::SourceStamp row = r;
    if (!row.ss_hash) {
      row.ss_hash = td::source_stamp_hash(r.branch, r.revision, r.repository, r.project,
                                          r.codebase, r.patchid);
    }
    require_no(s.sourcestamps, [&](const td::SourceStamp& o) { return o.ss_hash == row.ss_hash; },
               "sourcestamps.ss_hash");
    put_unique(s.sourcestamps, r.id, row, "sourcestamps");
  }
  void operator()(const td::Change& r) {
    require(fk, s.sourcestamps, r.sourcestampid, "sourcestamps", "changes");
    if (r.parent_changeids) require(fk, s.changes, *r.parent_changeids, "changes", "changes");
    put_unique(s.changes, r.changeid, r, "changes");
  }
  void operator()(const td::ChangeFile& r) {
    require(fk, s.changes, r.changeid, "changes", "change_files");
    s.change_files.push_back(r);
  }
  void operator()(const td::ChangeProperty& r) {
    require(fk, s.changes, r.changeid, "changes", "change_properties");
    s.change_properties.push_back(r);
  }
  void operator()(const td::ChangeUser& r) {
    require(fk, s.changes, r.changeid, "changes", "change_users");
    require(fk, s.users, r.uid, "users", "change_users");
    for (const auto& o : s.change_users) {
      if (o.changeid == r.changeid && o.uid == r.uid) {
        throw UniqueViolation("UNIQUE constraint failed: change_users");
      }
    }
    s.change_users.push_back(r);
  }
  void operator()(const td::ChangeSource& r) {
    require_no(s.changesources, [&](const td::ChangeSource& o) { return o.name == r.name; },
               "changesources.name");
    put_unique(s.changesources, r.id, r, "changesources");
  }
  void operator()(const td::ChangeSourceMaster& r) {
    require(fk, s.changesources, r.changesourceid, "changesources", "changesource_masters");
    require(fk, s.masters, r.masterid, "masters", "changesource_masters");
    put_unique(s.changesource_masters, r.changesourceid, r, "changesource_masters");
  }
  void operator()(const td::Scheduler& r) {
    require_no(s.schedulers, [&](const td::Scheduler& o) { return o.name == r.name; },
               "schedulers.name");
    put_unique(s.schedulers, r.id, r, "schedulers");
  }
  void operator()(const td::SchedulerMaster& r) {
    require(fk, s.schedulers, r.schedulerid, "schedulers", "scheduler_masters");
    require(fk, s.masters, r.masterid, "masters", "scheduler_masters");
    put_unique(s.scheduler_masters, r.schedulerid, r, "scheduler_masters");
  }
  void operator()(const td::SchedulerChange& r) {
    require(fk, s.schedulers, r.schedulerid, "schedulers", "scheduler_changes");
    require(fk, s.changes, r.changeid, "changes", "scheduler_changes");
    if (!s.scheduler_changes.emplace(std::make_pair(r.schedulerid, r.changeid), r).second) {
      throw UniqueViolation("UNIQUE constraint failed: scheduler_changes");
    }
  }
  void operator()(const td::Buildset& r) { put_unique(s.buildsets, r.id, r, "buildsets"); }
  void operator()(const td::BuildsetProperty& r) {
    require(fk, s.buildsets, r.buildsetid, "buildsets", "buildset_properties");
    s.buildset_properties.push_back(r);
  }
  void operator()(const td::BuildsetSourceStamp& r) {
    require(fk, s.buildsets, r.buildsetid, "buildsets", "buildset_sourcestamps");
    require(fk, s.sourcestamps, r.sourcestampid, "sourcestamps", "buildset_sourcestamps");
    require_no(s.buildset_sourcestamps, [&](const td::BuildsetSourceStamp& o) {
      return o.buildsetid == r.buildsetid && o.sourcestampid == r.sourcestampid;
    }, "buildset_sourcestamps");
    put_unique(s.buildset_sourcestamps, r.id, r, "buildset_sourcestamps");
  }
  void operator()(const td::BuildRequest& r) {
    require(fk, s.buildsets, r.buildsetid, "buildsets", "buildrequests");
    require(fk, s.builders, r.builderid, "builders", "buildrequests");
    put_unique(s.buildrequests, r.id, r, "buildrequests");
  }
  void operator()(const td::BuildRequestClaim& r) {
    require(fk, s.buildrequests, r.brid, "buildrequests", "buildrequest_claims");
    require(fk, s.masters, r.masterid, "masters", "buildrequest_claims");
    put_unique(s.buildrequest_claims, r.brid, r, "buildrequest_claims");
  }
  void operator()(const td::Build& r) {
    require(fk, s.builders, r.builderid, "builders", "builds");
    require(fk, s.buildrequests, r.buildrequestid, "buildrequests", "builds");
    if (r.workerid) require(fk, s.workers, *r.workerid, "workers", "builds");
    require(fk, s.masters, r.masterid, "masters", "builds");
    require_no(s.builds, [&](const td::Build& o) {
      return o.builderid == r.builderid && o.number == r.number;
    }, "builds.builderid, builds.number");
    put_unique(s.builds, r.id, r, "builds");
  }
  void operator()(const td::BuildProperty& r) {
    require(fk, s.builds, r.buildid, "builds", "build_properties");
    if (!s.build_properties.emplace(std::make_pair(r.buildid, r.name), r).second) {
      throw UniqueViolation("UNIQUE constraint failed: build_properties.buildid, name");
    }
  }
  void operator()(const td::Step& r) {
    require(fk, s.builds, r.buildid, "builds", "steps");
    require_no(s.steps, [&](const td::Step& o) {
      return o.buildid == r.buildid && (o.number == r.number || o.name == r.name);
    }, "steps.buildid, steps.number / steps.name");
    put_unique(s.steps, r.id, r, "steps");
  }
  void operator()(const td::Log& r) {
    require(fk, s.steps, r.stepid, "steps", "logs");
    require_no(s.logs, [&](const td::Log& o) { return o.stepid == r.stepid && o.slug == r.slug; },
               "logs.stepid, logs.slug");
    put_unique(s.logs, r.id, r, "logs");
  }
  void operator()(const td::LogChunk& r) {
    require(fk, s.logs, r.logid, "logs", "logchunks");
    if (!s.logchunks.emplace(std::make_pair(r.logid, r.first_line), r).second) {
      throw UniqueViolation("UNIQUE constraint failed: logchunks.logid, logchunks.first_line");
    }
  }
  void operator()(const td::Tag& r) {
    require_no(s.tags, [&](const td::Tag& o) { return o.name == r.name; }, "tags.name_hash");
    put_unique(s.tags, r.id, r, "tags");
  }
  void operator()(const td::BuilderTag& r) {
    require(fk, s.builders, r.builderid, "builders", "builders_tags");
    require(fk, s.tags, r.tagid, "tags", "builders_tags");
    require_no(s.builders_tags, [&](const td::BuilderTag& o) {
      return o.builderid == r.builderid && o.tagid == r.tagid;
    }, "builders_tags.builderid, builders_tags.tagid");
    put_unique(s.builders_tags, r.id, r, "builders_tags");
  }
  void operator()(const td::BuildData& r) {
    require(fk, s.builds, r.buildid, "builds", "build_data");
    require_no(s.build_data, [&](const td::BuildData& o) {
      return o.buildid == r.buildid && o.name == r.name;
    }, "build_data.buildid, build_data.name");
    td::BuildData row = r;
    if (!row.length) row.length = static_cast<int64_t>(row.value.size());
    put_unique(s.build_data, r.id, row, "build_data");
  }
  void operator()(const td::TestResultSet& r) {
    require(fk, s.builders, r.builderid, "builders", "test_result_sets");
    require(fk, s.builds, r.buildid, "builds", "test_result_sets");
    require(fk, s.steps, r.stepid, "steps", "test_result_sets");
    put_unique(s.test_result_sets, r.id, r, "test_result_sets");
  }
  void operator()(const td::TestName& r) {
    require(fk, s.builders, r.builderid, "builders", "test_names");
    require_no(s.test_names, [&](const td::TestName& o) {
      return o.builderid == r.builderid && o.name == r.name;
    }, "test_names.builderid, test_names.name_hash");
    put_unique(s.test_names, r.id, r, "test_names");
  }
  void operator()(const td::TestCodePath& r) {
    require(fk, s.builders, r.builderid, "builders", "test_code_paths");
    require_no(s.test_code_paths, [&](const td::TestCodePath& o) {
      return o.builderid == r.builderid && o.path == r.path;
    }, "test_code_paths.builderid, test_code_paths.path_hash");
    put_unique(s.test_code_paths, r.id, r, "test_code_paths");
  }
  void operator()(const td::TestResult& r) {
    require(fk, s.builders, r.builderid, "builders", "test_results");
    require(fk, s.test_result_sets, r.test_result_setid, "test_result_sets", "test_results");
    if (r.test_nameid) require(fk, s.test_names, *r.test_nameid, "test_names", "test_results");
    if (r.test_code_pathid) {
      require(fk, s.test_code_paths, *r.test_code_pathid, "test_code_paths", "test_results");
    }
    put_unique(s.test_results, r.id, r, "test_results");
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
  sourcestamps_ = make_fake_sourcestamps(Access{*this});
  buildsets_ = make_fake_buildsets(Access{*this});
  buildrequests_ = make_fake_buildrequests(Access{*this});
  builds_ = make_fake_builds(Access{*this});
  steps_ = make_fake_steps(Access{*this});
  logs_ = make_fake_logs(Access{*this}, options_.compress_finished_logs, options_.log_compression);
  changes_ = make_fake_changes(Access{*this});
  changesources_ = make_fake_changesources(Access{*this});
  schedulers_ = make_fake_schedulers(Access{*this});
  users_ = make_fake_users(Access{*this});
  tags_ = make_fake_tags(Access{*this});
  build_data_ = make_fake_build_data(Access{*this});
  test_result_sets_ = make_fake_test_result_sets(Access{*this});
  test_results_ = make_fake_test_results(Access{*this});
}

FakeDb::~FakeDb() = default;

db::Masters& FakeDb::masters() { return *masters_; }
db::Builders& FakeDb::builders() { return *builders_; }
db::Workers& FakeDb::workers() { return *workers_; }
db::State& FakeDb::state() { return *state_; }
db::SourceStamps& FakeDb::sourcestamps() { return *sourcestamps_; }
db::Buildsets& FakeDb::buildsets() { return *buildsets_; }
db::BuildRequests& FakeDb::buildrequests() { return *buildrequests_; }
db::Builds& FakeDb::builds() { return *builds_; }
db::Steps& FakeDb::steps() { return *steps_; }
db::Logs& FakeDb::logs() { return *logs_; }
db::Changes& FakeDb::changes() { return *changes_; }
db::ChangeSources& FakeDb::changesources() { return *changesources_; }
db::Schedulers& FakeDb::schedulers() { return *schedulers_; }
db::Users& FakeDb::users() { return *users_; }
db::Tags& FakeDb::tags() { return *tags_; }
db::BuildData& FakeDb::build_data() { return *build_data_; }
db::TestResultSets& FakeDb::test_result_sets() { return *test_result_sets_; }
db::TestResults& FakeDb::test_results() { return *test_results_; }

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
