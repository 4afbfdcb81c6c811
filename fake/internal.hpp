// Internal to fake/: how the fake components reach the store.
#pragma once

#include <memory>

#include "fake/fake_db.hpp"

namespace ym::db::internal {
class BlameSource;
}

namespace ym::fake {

struct FakeDb::Access {
  FakeDb& db;

  int64_t now() const { return db.options_.clock().time_since_epoch().count(); }

  // Runs fn(Store&) under the lock and returns a ready future of its result (or its error).
  // Like a database transaction, fn must check everything before it changes anything.
  template <class Fn>
  auto call(Fn fn) -> Future<std::invoke_result_t<Fn&, Store&>> {
    using R = std::invoke_result_t<Fn&, Store&>;
    Promise<R> p;
    std::lock_guard lock(db.mu_);
    try {
      if (db.shut_down_) throw db::PoolShutDown("the fake database is shut down");
      if (const Canceller* c = Canceller::current(); c && c->cancelled()) {
        throw db::Cancelled("the call was cancelled before it ran");
      }
      if (db.fail_next_ > 0) {
        --db.fail_next_;
        std::rethrow_exception(db.fail_error_);
      }
      if constexpr (std::is_void_v<R>) {
        fn(db.store_);
        p.set_value();
      } else {
        p.set_value(fn(db.store_));
      }
    } catch (...) {
      p.set_exception(std::current_exception());
    }
    return p.get_future();
  }
};

// The previous-build and blame-list data over the store (changes_util.hpp); defined in
// fake/changes.cpp, used by fake/builds.cpp for get_prev_successful_build.
std::unique_ptr<db::internal::BlameSource> make_fake_blame_source(const Store& s);

std::unique_ptr<db::Masters> make_fake_masters(FakeDb::Access access);
std::unique_ptr<db::Builders> make_fake_builders(FakeDb::Access access);
std::unique_ptr<db::Workers> make_fake_workers(FakeDb::Access access);
std::unique_ptr<db::State> make_fake_state(FakeDb::Access access);
std::unique_ptr<db::SourceStamps> make_fake_sourcestamps(FakeDb::Access access);
std::unique_ptr<db::Buildsets> make_fake_buildsets(FakeDb::Access access);
std::unique_ptr<db::BuildRequests> make_fake_buildrequests(FakeDb::Access access);
std::unique_ptr<db::Builds> make_fake_builds(FakeDb::Access access);
std::unique_ptr<db::Steps> make_fake_steps(FakeDb::Access access);
std::unique_ptr<db::Logs> make_fake_logs(FakeDb::Access access, bool compress_finished,
                                         db::LogCompression codec);
std::unique_ptr<db::Changes> make_fake_changes(FakeDb::Access access);
std::unique_ptr<db::ChangeSources> make_fake_changesources(FakeDb::Access access);
std::unique_ptr<db::Schedulers> make_fake_schedulers(FakeDb::Access access);
std::unique_ptr<db::Users> make_fake_users(FakeDb::Access access);
std::unique_ptr<db::Tags> make_fake_tags(FakeDb::Access access);
std::unique_ptr<db::BuildData> make_fake_build_data(FakeDb::Access access);

// Find-or-create of a tag by name (used by tags and builders). Defined in fake/tags.cpp.
int64_t find_tag_id(Store& s, const std::string& name);
std::unique_ptr<db::TestResultSets> make_fake_test_result_sets(FakeDb::Access access);
std::unique_ptr<db::TestResults> make_fake_test_results(FakeDb::Access access);

// Shared find-or-create of a source stamp (used by sourcestamps, buildsets and changes). Defined
// in fake/sourcestamps.cpp.
int64_t find_source_stamp_id(Store& s, const db::SourceStampSpec& spec, int64_t now);

// Finishes these builds where still unfinished, with their unfinished steps (step_results) and
// logs: the fake's twin of db::internal::end_unfinished_builds. Defined in fake/builds.cpp.
void end_unfinished_builds(Store& s, const std::vector<int64_t>& buildids, int results,
                           int step_results, const std::string& state_string, int64_t now);

// Cascades of ON DELETE CASCADE, shared by components that delete rows.
void delete_builder_master(Store& s, int64_t buildermasterid);

template <class Fn>
Future<std::invoke_result_t<Fn&>> fail_now(Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  try {
    if constexpr (std::is_void_v<R>) {
      fn();
      return make_ready_future();
    } else {
      return make_ready_future(fn());
    }
  } catch (...) {
    return make_exceptional_future<R>(std::current_exception());
  }
}

}  // namespace ym::fake
