// The running schedulers (master/schedulers.hpp) in-process, on the fake and on a real SQLite
// file: a scheduler runs on an io_context on the test thread beside a test coroutine that adds
// changes and waits (polling the database, with a generous limit) for what it asserts.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "fake/fake_db.hpp"
#include "master/schedulers.hpp"
#include "master/scratch.hpp"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ym::test {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using master::Scheduler;
using master::SchedulerConfig;
using master::SchedulerType;
using master_tests::Scratch;
using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

// Waits (polling every 10 ms) until cond() holds; false after `limit`. (cond captures by
// reference only: GCC 12 destroys a coroutine's by-value class parameters twice.)
template <class Cond>
awaitable<bool> until(Cond cond, std::chrono::milliseconds limit = 30s) {
  static_assert(std::is_trivially_destructible_v<Cond>);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) co_return false;
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

SchedulerConfig single_branch(const std::string& name) {
  SchedulerConfig c;
  c.name = name;
  c.type = SchedulerType::kSingleBranch;
  c.builders = {"b1", "b2"};
  c.branch = "main";
  return c;
}

class SchedulerDb : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "fake") {
      db_ = std::make_unique<fake::FakeDb>();
    } else {
      scratch_.emplace("ym-sched");
      db_ = db::Db::open(scratch_->url("state.sqlite"));
    }
  }
  void TearDown() override { db_->shutdown(); }

  db::Db& db() { return *db_; }
  int64_t scheduler_id(const std::string& name) {
    return db_->schedulers().find_scheduler_id(name).get();
  }
  int64_t objectid(const std::string& name) {
    return db_->state().get_object_id(name, "Scheduler").get();
  }
  nlohmann::json state(const std::string& name, const std::string& key) {
    return db_->state().get_state(objectid(name), key, nlohmann::json()).get();
  }
  void set_state(const std::string& name, const std::string& key, nlohmann::json v) {
    db_->state().set_state(objectid(name), key, std::move(v)).get();
  }
  int64_t add_change(const std::string& branch, std::vector<std::string> files = {"src/a.c"},
                     const std::string& codebase = "") {
    db::NewChange c;
    c.author = "dev <dev@example.org>";
    c.branch = branch;
    c.files = std::move(files);
    c.comments = "a change";
    c.revision = "rev" + std::to_string(++revisions_);
    c.repository = "https://example.org/repo.git";
    c.codebase = codebase;
    return db_->changes().add_change(std::move(c)).get();
  }
  // A change on main that the scheduler `name` has looked at and classified as important, as an
  // earlier run would have left it before it built anything.
  int64_t classified_change(const std::string& name, int64_t sid) {
    int64_t c = add_change("main");
    std::map<int64_t, bool> cls{{c, true}};
    db_->schedulers().classify_changes(sid, cls).get();
    set_state(name, "last_changeid", c);
    return c;
  }
  int64_t ssid_of(int64_t changeid) { return db_->changes().get_change(changeid).get()->sourcestampid; }
  std::vector<db::Buildset> buildsets() { return db_->buildsets().get_buildsets().get(); }
  std::map<int64_t, bool> classifications(int64_t sid) {
    return db_->schedulers().get_change_classifications(sid).get();
  }

  // Runs a scheduler for `config` beside body(scheduler); stops it when body ends, and checks
  // that run() then returns.
  void run_with(const SchedulerConfig& config, const std::function<awaitable<void>(Scheduler&)>& body,
                std::function<bool()> may_write = {}, std::chrono::milliseconds poll = 20ms) {
    asio::io_context io;
    int64_t sid = scheduler_id(config.name);
    auto s = Scheduler::create(io, *db_, config, sid, std::move(may_write));
    ASSERT_TRUE(s);
    bool returned = false;
    asio::co_spawn(io, s->run(poll), [&](std::exception_ptr e) {
      returned = true;
      if (e) ADD_FAILURE() << "run() ended with an exception";
    });
    asio::co_spawn(io, body(*s), [&](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          ADD_FAILURE() << "the test body threw: " << x.what();
        }
      }
      s->stop();
    });
    io.run_for(120s);
    EXPECT_TRUE(returned) << "run() did not return after stop()";
  }

  // Waits until the scheduler has recorded its position (its first round has begun).
  awaitable<bool> started(const char* name) {
    co_return co_await until([&] { return !state(name, "last_changeid").is_null(); });
  }
  awaitable<bool> looked_at(const char* name, int64_t changeid) {
    co_return co_await until([&] {
      auto v = state(name, "last_changeid");
      return v.is_number_integer() && v.get<int64_t>() >= changeid;
    });
  }

  std::optional<Scratch> scratch_;
  std::unique_ptr<db::Db> db_;
  int revisions_ = 0;
};

TEST_P(SchedulerDb, TreeStableTimerMakesOneBuildsetOfTheNewestChange) {
  auto config = single_branch("sb");
  config.tree_stable_timer = 300ms;
  config.properties = {{"kind", "ci"}};
  int64_t sid = scheduler_id("sb");
  int64_t c3 = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    add_change("main");
    add_change("main");
    c3 = add_change("main");
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].sourcestamps, std::vector<int64_t>{ssid_of(c3)});
  EXPECT_EQ(sets[0].external_idstring, "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(c3));
  EXPECT_EQ(sets[0].reason, "The SingleBranchScheduler scheduler named 'sb' triggered this build");
  auto props = db().buildsets().get_buildset_properties(sets[0].bsid).get();
  EXPECT_EQ(props["scheduler"].value, "sb");
  EXPECT_EQ(props["scheduler"].source, "Scheduler");
  EXPECT_EQ(props["kind"].value, "ci");
  auto requests = db().buildrequests().get_build_requests().get();
  EXPECT_EQ(requests.size(), 2u);  // one per builder
  EXPECT_TRUE(state("sb", "pending").is_null());
  EXPECT_EQ(state("sb", "last_changeid"), c3);
}

// No tree-stable timer (Buildbot's treeStableTimer=None): each important change is built on its
// own, oldest first, even when one round finds several; an unimportant one is dropped.
TEST_P(SchedulerDb, WithoutATimerEachImportantChangeIsItsOwnBuildset) {
  auto config = single_branch("sb");
  config.files = {"src/*"};
  int64_t sid = scheduler_id("sb");
  std::vector<int64_t> important;
  int64_t docs = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    important.push_back(add_change("main"));
    docs = add_change("main", {"README"});
    important.push_back(add_change("main"));
    important.push_back(add_change("main"));
    EXPECT_TRUE(co_await until([&] { return buildsets().size() == 3; }));
    EXPECT_TRUE(co_await looked_at("sb", important.back()));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 3u);
  for (size_t i = 0; i < sets.size(); ++i) {
    EXPECT_EQ(sets[i].sourcestamps, std::vector<int64_t>{ssid_of(important[i])});
    EXPECT_EQ(sets[i].external_idstring,
              "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(important[i]));
  }
  EXPECT_TRUE(classifications(sid).empty()) << "the unimportant change " << docs << " is dropped";
}

TEST_P(SchedulerDb, ChangeOnAnotherBranchIsNotClassified) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  int64_t mainc = 0, dev = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    mainc = add_change("main");
    dev = add_change("dev");
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty(); }));
    EXPECT_TRUE(co_await looked_at("sb", dev));
  });
  EXPECT_TRUE(classifications(sid).empty());  // dev (after main) would still be there
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].external_idstring,
            "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(mainc));
}

TEST_P(SchedulerDb, UnimportantChangeWaitsForAnImportantOne) {
  auto config = single_branch("sb");
  config.files = {"src/*"};
  config.tree_stable_timer = 100ms;  // without a timer, unimportant changes are dropped
  int64_t sid = scheduler_id("sb");
  int64_t doc = 0, src = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    doc = add_change("main", {"doc/readme.md"});
    EXPECT_TRUE(co_await looked_at("sb", doc));
    auto cls = classifications(sid);
    EXPECT_EQ(cls, (std::map<int64_t, bool>{{doc, false}}));
    src = add_change("main", {"README", "src/x/y.c"});
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);  // the unimportant change alone did not build
  EXPECT_EQ(sets[0].external_idstring,
            "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(src));
}

TEST_P(SchedulerDb, FirstRunDoesNotBuildTheHistory) {
  auto config = single_branch("sb");
  add_change("main", {"a"}, "lib");  // history in another codebase: it would add a stamp
  add_change("main", {"a"}, "lib");
  int64_t sid = scheduler_id("sb");
  int64_t fresh = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    fresh = add_change("main");
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].sourcestamps, std::vector<int64_t>{ssid_of(fresh)});
  EXPECT_TRUE(classifications(sid).empty());
}

TEST_P(SchedulerDb, TwoCodebasesMakeTwoStamps) {
  auto config = single_branch("sb");
  config.tree_stable_timer = 200ms;
  int64_t sid = scheduler_id("sb");
  int64_t a2 = 0, b1 = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    add_change("main", {"x"}, "a");
    b1 = add_change("main", {"x"}, "b");
    a2 = add_change("main", {"x"}, "a");
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  std::vector<int64_t> want{ssid_of(a2), ssid_of(b1)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(sets[0].sourcestamps, want);
}

// A crash after the buildset was added but before the classifications were flushed: the next
// instance finds the intent and the buildset, flushes and adds nothing.
TEST_P(SchedulerDb, PendingWithItsBuildsetIsOnlyFinished) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  int64_t c = classified_change("sb", sid);
  std::string ext = "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(c);
  auto nb = master::scheduler_buildset(config, {*db().builders().find_builder_id("b1").get()},
                                       {db::SourceStampRef(ssid_of(c))}, "r");
  nb.external_idstring = ext;
  db().buildsets().add_buildset(nb).get();
  set_state("sb", "pending", nlohmann::json{{"max", c}, {"external_idstring", ext}});
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] {
      return state("sb", "pending").is_null() && classifications(sid).empty();
    }));
  });
  EXPECT_EQ(buildsets().size(), 1u);
}

// A crash after the intent was written but before the buildset was added: built once.
TEST_P(SchedulerDb, PendingWithoutItsBuildsetIsBuiltOnce) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  int64_t c = classified_change("sb", sid);
  std::string ext = "scheduler:" + std::to_string(sid) + ":changes:" + std::to_string(c);
  set_state("sb", "pending", nlohmann::json{{"max", c}, {"external_idstring", ext}});
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] {
      return !buildsets().empty() && state("sb", "pending").is_null() &&
             classifications(sid).empty();
    }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].external_idstring, ext);
}

// A restart (or take-over) with important changes classified and not built: built at once.
TEST_P(SchedulerDb, RestartBuildsExistingClassifications) {
  auto config = single_branch("sb");
  config.files = {"src/*"};
  int64_t sid = scheduler_id("sb");
  int64_t doc = add_change("main", {"doc"});
  int64_t src = add_change("main", {"src/a"});
  std::map<int64_t, bool> cls{{doc, false}, {src, true}};
  db().schedulers().classify_changes(sid, cls).get();
  set_state("sb", "last_changeid", src);
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].sourcestamps, std::vector<int64_t>{ssid_of(src)});
}

TEST_P(SchedulerDb, NothingIsAddedBehindTheFence) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  int64_t c = add_change("main");
  std::map<int64_t, bool> cls{{c, true}};
  db().schedulers().classify_changes(sid, cls).get();
  set_state("sb", "last_changeid", c - 1);
  int asked = 0;
  std::function<bool()> fence = [&] {
    ++asked;
    return false;
  };
  run_with(config, [&](Scheduler& s) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return asked >= 10; }));
  }, fence);
  EXPECT_TRUE(buildsets().empty());
  EXPECT_EQ(classifications(sid).size(), 1u);
  EXPECT_EQ(state("sb", "last_changeid"), c - 1);  // not moved either
  EXPECT_TRUE(state("sb", "pending").is_null());
}

// wake() makes a round at once, and stop() ends run() at once, however long the poll.
TEST_P(SchedulerDb, WakeAndStopDoNotWaitForThePoll) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  int64_t c = add_change("main");
  set_state("sb", "last_changeid", c - 1);
  auto began = std::chrono::steady_clock::now();
  int64_t next = 0;
  run_with(config, [&](Scheduler& s) -> awaitable<void> {
    // The first round builds c; the next poll is then an hour away.
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
    next = add_change("main");
    s.wake();
    EXPECT_TRUE(co_await until([&] { return buildsets().size() == 2; }));
  }, {}, 1h);
  EXPECT_LT(std::chrono::steady_clock::now() - began, 60s);
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[1].sourcestamps, std::vector<int64_t>{ssid_of(next)});
}

// "at:SECONDS.MMM" of an external id, in ms.
int64_t slot_ms(const std::string& ext) {
  auto at = ext.rfind(":at:");
  std::string t = ext.substr(at + 4);
  auto dot = t.find('.');
  return std::stoll(t.substr(0, dot)) * 1000 + std::stoll(t.substr(dot + 1));
}

TEST_P(SchedulerDb, PeriodicFiresEveryIntervalAndARestartDoesNotRepeatASlot) {
  SchedulerConfig config;
  config.name = "every";
  config.type = SchedulerType::kPeriodic;
  config.builders = {"b1"};
  config.interval = 300ms;
  config.branch = "main";
  config.repository = "https://example.org/repo.git";
  int64_t sid = scheduler_id("every");
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return buildsets().size() >= 2; }));
  });
  // A crash after the last buildset was added, before last_build moved: the intent is there.
  auto first = buildsets();
  ASSERT_GE(first.size(), 2u);
  std::string last_ext = *first.back().external_idstring;
  double prev_slot = slot_ms(*first[first.size() - 2].external_idstring) / 1000.0;
  set_state("every", "last_build", prev_slot);
  set_state("every", "pending",
            nlohmann::json{{"external_idstring", last_ext},
                           {"last_build", slot_ms(last_ext) / 1000.0}});
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return buildsets().size() >= first.size() + 2; }));
  });
  auto sets = buildsets();
  std::set<std::string> ids;
  std::vector<int64_t> slots;
  for (const auto& b : sets) {
    ASSERT_TRUE(b.external_idstring);
    EXPECT_EQ(b.external_idstring->rfind("scheduler:" + std::to_string(sid) + ":at:", 0), 0u);
    ids.insert(*b.external_idstring);
    slots.push_back(slot_ms(*b.external_idstring));
    EXPECT_EQ(b.reason, "The Periodic scheduler named 'every' triggered this build");
    ASSERT_EQ(b.sourcestamps.size(), 1u);
    auto ss = db().sourcestamps().get_source_stamp(b.sourcestamps[0]).get();
    EXPECT_EQ(ss->branch, "main");
    EXPECT_EQ(ss->revision, std::nullopt);
  }
  EXPECT_EQ(ids.size(), sets.size());  // no slot twice
  for (size_t i = 1; i < slots.size(); ++i) EXPECT_GE(slots[i] - slots[i - 1], 300) << i;
  EXPECT_TRUE(state("every", "pending").is_null());
}

TEST_P(SchedulerDb, PeriodicAddsNothingBehindTheFence) {
  SchedulerConfig config;
  config.name = "every";
  config.type = SchedulerType::kPeriodic;
  config.builders = {"b1"};
  config.interval = 50ms;
  int asked = 0;
  std::function<bool()> fence = [&] {
    ++asked;
    return false;
  };
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return asked >= 10; }));
  }, fence);
  EXPECT_TRUE(buildsets().empty());
  EXPECT_TRUE(state("every", "last_build").is_null());
}

// Disabled (Schedulers::enable), a scheduler passes over the changes and the times that come, as
// Buildbot's: nothing is classified or built; enabled again, it builds what arrives next.
TEST_P(SchedulerDb, ADisabledSchedulerPassesOverChangesAndSlots) {
  auto config = single_branch("sb");
  int64_t sid = scheduler_id("sb");
  db().schedulers().enable(sid, false).get();
  int64_t passed = 0, built = 0;
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await started("sb"));
    passed = add_change("main");
    EXPECT_TRUE(co_await looked_at("sb", passed));
    EXPECT_TRUE(buildsets().empty());
    EXPECT_TRUE(classifications(sid).empty());
    db().schedulers().enable(sid, true).get();
    built = add_change("main");
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].sourcestamps, std::vector<int64_t>{ssid_of(built)});

  SchedulerConfig periodic;
  periodic.name = "every";
  periodic.type = SchedulerType::kPeriodic;
  periodic.builders = {"b1"};
  periodic.interval = 50ms;
  int64_t pid = scheduler_id("every");
  db().schedulers().enable(pid, false).get();
  run_with(periodic, [&](Scheduler&) -> awaitable<void> {
    // Slots come and go (last_build moves), and none is built.
    EXPECT_TRUE(co_await until([&] { return !state("every", "last_build").is_null(); }));
    auto first = state("every", "last_build");
    EXPECT_TRUE(co_await until([&] { return state("every", "last_build") != first; }));
  });
  EXPECT_EQ(buildsets().size(), 1u) << "the disabled periodic scheduler built nothing";
}

// A nightly scheduler whose minute is half an hour away and whose last build was two hours ago:
// it missed slots while no master ran it, so it fires once at start for the first missed slot.
SchedulerConfig nightly_half_hour_away(const std::string& name) {
  SchedulerConfig config;
  config.name = name;
  config.type = SchedulerType::kNightly;
  config.builders = {"b1"};
  time_t now = SysClock::to_time_t(SysClock::now());
  tm local{};
  localtime_r(&now, &local);
  config.minute = {(local.tm_min + 30) % 60};
  return config;
}

TEST_P(SchedulerDb, NightlyCatchesUpOnceAfterAnOutage) {
  auto config = nightly_half_hour_away("nightly");
  int64_t sid = scheduler_id("nightly");
  auto before = SysClock::now() - 2h;
  double last = std::chrono::duration<double>(before.time_since_epoch()).count();
  set_state("nightly", "last_build", last);
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty(); }));
    EXPECT_TRUE(co_await until([&] {
      auto v = state("nightly", "last_build");
      return v.is_number() && v.get<double>() > last + 3600;
    }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  auto slot = master::next_nightly(config, before);
  ASSERT_TRUE(slot);
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(slot->time_since_epoch()).count();
  EXPECT_EQ(sets[0].external_idstring, "scheduler:" + std::to_string(sid) + ":at:" +
                                           std::to_string(ms / 1000) + ".000");
  EXPECT_TRUE(sets[0].sourcestamps.empty());  // no branch or repository given
}

TEST_P(SchedulerDb, NightlyOnlyIfChangedWithoutChangesDoesNotFire) {
  auto config = nightly_half_hour_away("nightly");
  config.only_if_changed = true;
  config.branch = "main";
  add_change("dev");  // not on its branch
  set_state("nightly", "last_changeid", 0);
  double last = std::chrono::duration<double>((SysClock::now() - 2h).time_since_epoch()).count();
  set_state("nightly", "last_build", last);
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] {
      auto v = state("nightly", "last_build");
      return v.is_number() && v.get<double>() > last + 3600;
    }));
  });
  EXPECT_TRUE(buildsets().empty());
}

TEST_P(SchedulerDb, NightlyOnlyIfChangedBuildsItsChanges) {
  auto config = nightly_half_hour_away("nightly");
  config.only_if_changed = true;
  config.branch = "main";
  int64_t sid = scheduler_id("nightly");
  int64_t c = add_change("main");
  set_state("nightly", "last_changeid", 0);
  double last = std::chrono::duration<double>((SysClock::now() - 2h).time_since_epoch()).count();
  set_state("nightly", "last_build", last);
  run_with(config, [&](Scheduler&) -> awaitable<void> {
    EXPECT_TRUE(co_await until([&] { return !buildsets().empty() && classifications(sid).empty(); }));
  });
  auto sets = buildsets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].sourcestamps, std::vector<int64_t>{ssid_of(c)});
  EXPECT_EQ(sets[0].reason, "The Nightly scheduler named 'nightly' triggered this build");
}

// Database errors are retried: run() does not end, and the change is built once the database
// answers again.
TEST(SchedulerFaults, DatabaseErrorsAreRetried) {
  fake::FakeDb db;
  auto config = single_branch("sb");
  int64_t sid = db.schedulers().find_scheduler_id("sb").get();
  int64_t objectid = db.state().get_object_id("sb", "Scheduler").get();
  db.state().set_state(objectid, "last_changeid", 0).get();
  db::NewChange change;
  change.author = "dev";
  change.branch = "main";
  change.repository = "r";
  db.changes().add_change(change).get();
  db.fail_next_calls(6, std::make_exception_ptr(db::ConnectionFailed("the database is away")));
  asio::io_context io;
  auto s = Scheduler::create(io, db, config, sid, {});
  bool returned = false;
  asio::co_spawn(io, s->run(20ms), [&](std::exception_ptr e) {
    returned = true;
    EXPECT_FALSE(e);
  });
  bool built = false;
  std::function<awaitable<void>()> body = [&]() -> awaitable<void> {
    built = co_await until([&] {
      try {
        return !db.buildsets().get_buildsets().get().empty() &&
               db.schedulers().get_change_classifications(sid).get().empty();
      } catch (const db::Error&) {
        return false;  // one of the injected failures
      }
    });
  };
  asio::co_spawn(io, body(), [&](std::exception_ptr) { s->stop(); });
  io.run_for(120s);
  EXPECT_TRUE(built);
  EXPECT_TRUE(returned);
  EXPECT_EQ(db.buildsets().get_buildsets().get().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Scheduler, SchedulerDb, testing::Values("fake", "sqlite"),
                         [](const auto& info) { return info.param; });

// ------------------------------------------------------------------ add_scheduler_buildset

TEST(SchedulerBuildset, TriggerCarriesPropertiesAndItsParent) {
  fake::FakeDb db;
  SchedulerConfig config;
  config.name = "trig";
  config.type = SchedulerType::kTriggerable;
  config.builders = {"x", "y"};
  config.properties = {{"a", "1"}, {"b", "2"}};
  config.priority = 5;
  db::Properties extra;
  extra["b"] = db::Property{Json("from-build"), "Trigger"};
  db::SourceStampSpec spec;
  spec.repository = "r";
  std::vector<db::SourceStampRef> stamps{db::SourceStampRef(spec)};
  // A parent build to point at.
  master::add_scheduler_buildset(db, config, {}, {}, "p").get();
  int64_t master_id = db.masters().find_master_id("m").get();
  auto req = db.buildrequests().get_build_requests().get().at(0);
  int64_t worker = db.workers().find_worker_id("w").get();
  auto build = db.builds().add_build(req.builderid, req.buildrequestid, worker, master_id, "s").get();
  auto added =
      master::add_scheduler_buildset(db, config, stamps, extra, "triggered", build.id).get();
  auto bs = db.buildsets().get_buildset(added.bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->parent_buildid, build.id);
  EXPECT_EQ(bs->parent_relationship, "trig");
  EXPECT_EQ(bs->reason, "triggered");
  EXPECT_EQ(added.brids.size(), 2u);
  auto props = db.buildsets().get_buildset_properties(added.bsid).get();
  EXPECT_EQ(props["a"], (db::Property{Json("1"), "Scheduler"}));
  EXPECT_EQ(props["b"], (db::Property{Json("from-build"), "Trigger"}));
  EXPECT_EQ(props["scheduler"], (db::Property{Json("trig"), "Scheduler"}));
  for (const auto& [builderid, brid] : added.brids) {
    auto r = db.buildrequests().get_build_request(brid).get();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->waited_for);
    EXPECT_EQ(r->priority, 5);
  }
}

// ------------------------------------------------------------------ next_nightly

class SchedulerNightly : public testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    if (tz) old_tz_ = tz;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (old_tz_) {
      setenv("TZ", old_tz_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  static SysClock::time_point utc(int y, int mo, int d, int h, int mi, int s = 0) {
    tm t{};
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = s;
    return SysClock::from_time_t(timegm(&t));
  }
  static std::optional<SysClock::time_point> next(std::vector<int> minute, std::vector<int> hour,
                                                  std::vector<int> dow, SysClock::time_point after) {
    SchedulerConfig c;
    c.type = SchedulerType::kNightly;
    c.minute = std::move(minute);
    c.hour = std::move(hour);
    c.day_of_week = std::move(dow);
    return master::next_nightly(c, after);
  }
  std::optional<std::string> old_tz_;
};

TEST_F(SchedulerNightly, NextFireTime) {
  // 2026-12-02 is a Wednesday (day 2).
  auto wed = utc(2026, 12, 2, 14, 5, 30);
  EXPECT_EQ(next({0}, {}, {}, wed), utc(2026, 12, 2, 15, 0));
  EXPECT_EQ(next({}, {}, {}, wed), utc(2026, 12, 2, 14, 6));
  EXPECT_EQ(next({30}, {3, 15}, {}, wed), utc(2026, 12, 2, 15, 30));
  // Strictly after: at 15:30 exactly the next one is tomorrow's 03:30.
  EXPECT_EQ(next({30}, {15, 3}, {}, utc(2026, 12, 2, 15, 30)), utc(2026, 12, 3, 3, 30));
  // Sub-second after a slot is after it.
  EXPECT_EQ(next({30}, {15}, {}, utc(2026, 12, 2, 15, 30) + 1ms), utc(2026, 12, 3, 15, 30));
  // Saturday (5) and Monday (0) at midnight: Saturday the 5th, then Monday the 7th.
  EXPECT_EQ(next({0}, {0}, {5, 0}, wed), utc(2026, 12, 5, 0, 0));
  EXPECT_EQ(next({0}, {0}, {5, 0}, utc(2026, 12, 5, 0, 0)), utc(2026, 12, 7, 0, 0));
  // The same weekday, earlier in the day: a week on.
  EXPECT_EQ(next({0}, {9}, {2}, wed), utc(2026, 12, 9, 9, 0));
  // Sunday is 6; across a month and a year.
  EXPECT_EQ(next({15}, {23}, {6}, utc(2026, 12, 28, 0, 0)), utc(2027, 1, 3, 23, 15));
  // Nothing valid.
  EXPECT_EQ(next({0}, {25}, {}, wed), std::nullopt);
}

}  // namespace
}  // namespace ym::test
