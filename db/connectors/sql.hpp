// Internal to db/: what the SQL connector components share, and their constructors.
// Nothing outside db/ includes this header.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "db/base.hpp"
#include "db/cache.hpp"
#include "db/db.hpp"
#include "db/errors.hpp"
#include "db/pool.hpp"

namespace ym::db::internal {

// Work a component goes on with after the call that started it has returned (compressing a
// finished log); the Db waits for it before shutting the pool down.
class BackgroundWork {
 public:
  void begin() {
    std::lock_guard lock(mu_);
    ++running_;
  }
  void end() {
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }
  void drain() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int running_ = 0;
};

struct Context {
  Pool& pool;
  CacheRegistry& caches;
  Clock clock;
  bool compress_finished_logs = false;
  LogCompression log_compression = LogCompression::kZstd;
  BackgroundWork background{};
  int64_t now() const { return clock().time_since_epoch().count(); }
};

// Inside a write transaction: finishes these builds where still unfinished (results,
// state_string, complete_at = now), with their unfinished steps (step_results) and logs.
// Defined in builds.cpp; the take-over in masters.cpp uses it too.
void end_unfinished_builds(Connection& c, const std::vector<int64_t>& buildids, int results,
                           int step_results, const std::string& state_string, int64_t now);

class BlameSource;
// The data of the previous-build and blame-list rule (changes_util.hpp) read over `c`, for the
// caller's transaction. Defined in changes.cpp; builds.cpp uses it for get_prev_successful_build.
std::unique_ptr<BlameSource> make_sql_blame_source(Connection& c);

std::unique_ptr<Masters> make_sql_masters(Context& ctx);
std::unique_ptr<Builders> make_sql_builders(Context& ctx);
std::unique_ptr<Workers> make_sql_workers(Context& ctx);
std::unique_ptr<State> make_sql_state(Context& ctx);
std::unique_ptr<SourceStamps> make_sql_sourcestamps(Context& ctx);
std::unique_ptr<Buildsets> make_sql_buildsets(Context& ctx);
std::unique_ptr<BuildRequests> make_sql_buildrequests(Context& ctx);
std::unique_ptr<Builds> make_sql_builds(Context& ctx);
std::unique_ptr<Steps> make_sql_steps(Context& ctx);
std::unique_ptr<Logs> make_sql_logs(Context& ctx);
std::unique_ptr<Changes> make_sql_changes(Context& ctx);
std::unique_ptr<ChangeSources> make_sql_changesources(Context& ctx);
std::unique_ptr<Schedulers> make_sql_schedulers(Context& ctx);
std::unique_ptr<Users> make_sql_users(Context& ctx);
std::unique_ptr<Tags> make_sql_tags(Context& ctx);
std::unique_ptr<BuildData> make_sql_build_data(Context& ctx);

// Find-or-create of a tag by name inside the caller's transaction (used by tags and builders).
// Defined in tags.cpp.
int64_t find_tag_id(Connection& conn, const std::string& name);
std::unique_ptr<TestResultSets> make_sql_test_result_sets(Context& ctx);
std::unique_ptr<TestResults> make_sql_test_results(Context& ctx);

// Shared find-or-create of a source stamp inside the caller's transaction (used by sourcestamps,
// buildsets and changes). Defined in sourcestamps.cpp.
int64_t find_source_stamp_id(Connection& conn, const SourceStampSpec& spec, int64_t now);

// "IN (?, ?, ...)" helpers: runs fn(batch_sql_in_list, batch) for each batch of ids.
template <class Fn>
void for_each_batch(const Dialect& d, const std::vector<int64_t>& ids, size_t reserved, Fn fn) {
  for (auto batch : do_batch(ids, batch_size(d, 1, reserved))) {
    std::vector<Value> params(batch.begin(), batch.end());
    fn(placeholders(batch.size()), params);
  }
}

}  // namespace ym::db::internal
