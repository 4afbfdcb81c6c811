// An in-memory implementation of every connector interface, for fast tests of code that uses the
// database. It is held to the same contract suite as the real backends: same results, same
// ordering, same typed errors. Calls complete synchronously (the returned futures are ready).
//
// Rows are the testdata structs of db/testdata.hpp, so a test sets up state with the same
// insert_test_data call on the fake and on a real database, then inspects it with inspect().
//
// Thread safety: every method may be called from any thread; one mutex guards the store.
#pragma once

#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../db/db.hpp"
#include "../db/errors.hpp"
#include "../db/testdata.hpp"

namespace ym::fake {

namespace td = ym::db::testdata;

// The tables of the fake. Each map is keyed by the row's primary key.
struct Store {
  std::map<int64_t, td::Master> masters;
  std::map<int64_t, td::Builder> builders;
  std::map<int64_t, td::BuilderMaster> builder_masters;
  std::map<int64_t, td::Worker> workers;
  std::map<int64_t, td::ConfiguredWorker> configured_workers;
  std::map<int64_t, td::ConnectedWorker> connected_workers;
  std::map<int64_t, td::Object> objects;
  std::map<std::pair<int64_t, std::string>, td::ObjectState> object_state;
  std::map<int64_t, td::User> users;                           // by uid
  std::vector<td::UserInfo> users_info;
  std::map<int64_t, td::Patch> patches;
  std::map<int64_t, td::SourceStamp> sourcestamps;             // ss_hash always set
  std::map<int64_t, td::Change> changes;                       // by changeid
  std::vector<td::ChangeFile> change_files;                    // in insertion order
  std::vector<td::ChangeProperty> change_properties;
  std::vector<td::ChangeUser> change_users;
  std::map<int64_t, td::ChangeSource> changesources;
  std::map<int64_t, td::ChangeSourceMaster> changesource_masters;  // by changesourceid
  std::map<int64_t, td::Scheduler> schedulers;
  std::map<int64_t, td::SchedulerMaster> scheduler_masters;        // by schedulerid
  std::map<std::pair<int64_t, int64_t>, td::SchedulerChange> scheduler_changes;  // (sched, change)
  std::map<int64_t, td::Buildset> buildsets;
  std::vector<td::BuildsetProperty> buildset_properties;
  std::map<int64_t, td::BuildsetSourceStamp> buildset_sourcestamps;
  std::map<int64_t, td::BuildRequest> buildrequests;
  std::map<int64_t, td::BuildRequestClaim> buildrequest_claims;    // by brid
  std::map<int64_t, td::Build> builds;
  std::map<std::pair<int64_t, std::string>, td::BuildProperty> build_properties;  // (build, name)
  std::map<int64_t, td::Step> steps;
  std::map<int64_t, td::Log> logs;
  std::map<std::pair<int64_t, int64_t>, td::LogChunk> logchunks;  // (logid, first_line)
  std::map<int64_t, td::Tag> tags;
  std::map<int64_t, td::BuilderTag> builders_tags;
  std::map<int64_t, td::BuildData> build_data;  // length always set
  std::map<int64_t, td::TestResultSet> test_result_sets;
  std::map<int64_t, td::TestName> test_names;
  std::map<int64_t, td::TestCodePath> test_code_paths;
  std::map<int64_t, td::TestResult> test_results;

  // Auto-increment counters: like SQLite's AUTOINCREMENT, an id is never reused.
  std::map<std::string, int64_t> last_ids;
  template <class M>
  int64_t next_id(const std::string& table, const M& rows) {
    int64_t& last = last_ids[table];
    if (!rows.empty()) last = std::max(last, rows.rbegin()->first);
    return ++last;
  }
};

struct FakeOptions {
  // Reject test rows whose references do not exist, as a real database does. On by default so
  // that the fake and the backends agree; turn off to load partial fixtures.
  bool check_foreign_keys = true;
  db::Clock clock;  // "now" for timestamps; the system clock by default
  // As DbOptions::compress_finished_logs; here finish_log compresses before it returns.
  bool compress_finished_logs = false;
  // As DbOptions::log_compression.
  db::LogCompression log_compression = db::LogCompression::kZstd;
};

class FakeDb final : public db::Db {
 public:
  explicit FakeDb(FakeOptions options = {});
  ~FakeDb() override;

  db::Masters& masters() override;
  db::Builders& builders() override;
  db::Workers& workers() override;
  db::State& state() override;
  db::SourceStamps& sourcestamps() override;
  db::Buildsets& buildsets() override;
  db::BuildRequests& buildrequests() override;
  db::Builds& builds() override;
  db::Steps& steps() override;
  db::Logs& logs() override;
  db::Changes& changes() override;
  db::ChangeSources& changesources() override;
  db::Schedulers& schedulers() override;
  db::Users& users() override;
  db::Tags& tags() override;
  db::BuildData& build_data() override;
  db::TestResultSets& test_result_sets() override;
  db::TestResults& test_results() override;

  Future<void> insert_test_data(std::vector<td::Row> rows) override;
  std::string describe() const override { return "fake://"; }
  std::vector<db::CacheStats> cache_stats() const override { return {}; }
  db::PoolStats pool_stats() const override { return {}; }
  void shutdown() override;

  // Runs fn(const Store&) under the store's lock, for assertions on the fake's state.
  template <class Fn>
  auto inspect(Fn fn) const {
    std::lock_guard lock(mu_);
    return fn(static_cast<const Store&>(store_));
  }

  // The next `n` connector calls fail with `error` and change nothing (fault injection).
  void fail_next_calls(int n, std::exception_ptr error);

  // For the fake's components (not for tests).
  struct Access;

 private:
  friend struct Access;
  mutable std::mutex mu_;
  Store store_;               // guarded by mu_
  FakeOptions options_;
  int fail_next_ = 0;         // guarded by mu_
  std::exception_ptr fail_error_;
  bool shut_down_ = false;    // guarded by mu_
  std::unique_ptr<db::Masters> masters_;
  std::unique_ptr<db::Builders> builders_;
  std::unique_ptr<db::Workers> workers_;
  std::unique_ptr<db::State> state_;
  std::unique_ptr<db::SourceStamps> sourcestamps_;
  std::unique_ptr<db::Buildsets> buildsets_;
  std::unique_ptr<db::BuildRequests> buildrequests_;
  std::unique_ptr<db::Builds> builds_;
  std::unique_ptr<db::Steps> steps_;
  std::unique_ptr<db::Logs> logs_;
  std::unique_ptr<db::Changes> changes_;
  std::unique_ptr<db::ChangeSources> changesources_;
  std::unique_ptr<db::Schedulers> schedulers_;
  std::unique_ptr<db::Users> users_;
  std::unique_ptr<db::Tags> tags_;
  std::unique_ptr<db::BuildData> build_data_;
  std::unique_ptr<db::TestResultSets> test_result_sets_;
  std::unique_ptr<db::TestResults> test_results_;
};

}  // namespace ym::fake
