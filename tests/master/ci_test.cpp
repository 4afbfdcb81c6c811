// The master as a CI (issue 14), end to end with real processes: a git repository made by the
// test, `yardmaster run` polling it, schedulers turning its commits into buildsets, steps that
// check out the exact revision, trigger steps, reloads by SIGHUP, and three masters sharing one
// server with one poller and two schedulers while the poller's master is killed.
//
// Every test ends with the accounting, read from the database: each request complete once with
// one successful build, no build or step left running, no claim held by a master that is not
// building, and each step's log equal to what it printed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "backend/server_db.hpp"
#include "db/db.hpp"
#include "db/errors.hpp"
#include "master/process_util.hpp"
#include "master/scratch.hpp"

namespace ym::test {
namespace {

using namespace master_tests;
namespace fs = std::filesystem;
namespace results = db::results;
using namespace std::chrono_literals;

// ----------------------------------------------------------------------------- git

// Runs `script` with /bin/sh; fails the test (and returns "") when it does not exit 0.
std::string sh(const std::string& script) {
  auto [rc, out] = run({"/bin/sh", "-c", script});
  EXPECT_EQ(rc, 0) << script << "\n" << out;
  return rc == 0 ? out : std::string();
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The repository that the poller watches: a bare one (as a server would hold it), and a clone of
// it where the test commits and from where it pushes. A push moves a branch at once, so the
// poller sees either all of the pushed commits or none of them.
class Upstream {
 public:
  explicit Upstream(const fs::path& dir) : bare_(dir / "upstream.git"), work_(dir / "work") {
    sh("git init -q --bare -b main " + quoted(bare_));
    sh("git init -q -b main " + quoted(work_) + " && " + git("remote add origin " + quoted(bare_)));
    commit("README", "initial commit");
    push("main");
  }
  const fs::path& url() const { return bare_; }

  // `git ARGS` in the clone, as Ada.
  std::string git(const std::string& args) const {
    return "GIT_AUTHOR_NAME='Ada Lovelace' GIT_AUTHOR_EMAIL=ada@example.org "
           "GIT_COMMITTER_NAME='Charles Babbage' GIT_COMMITTER_EMAIL=cb@example.org "
           "git -C " +
           quoted(work_) + " " + args;
  }
  // Writes `file` (a new line each time) and commits it; returns the new revision.
  std::string commit(const std::string& file, const std::string& message) {
    ++n_;
    write_file(work_ / file, "line " + std::to_string(n_) + "\n");
    sh(git("add -A") + " && " + git("commit -q -m '" + message + "'"));
    return head();
  }
  std::string head() const { return trimmed(sh(git("rev-parse HEAD"))); }
  void push(const std::string& branch, bool force = false) {
    sh(git(std::string("push -q ") + (force ? "-f " : "") + "origin HEAD:refs/heads/" + branch));
  }
  void checkout(const std::string& args) { sh(git("checkout -q " + args)); }

 private:
  fs::path bare_;
  fs::path work_;
  int n_ = 0;
};

// ----------------------------------------------------------------------------- the database

// The saved value of `key` of the state object (name, class), or null while there is none.
nlohmann::json state_of(db::Db& db, const std::string& name, const std::string& cls,
                        const std::string& key) {
  int64_t id = db.state().get_object_id(name, cls).get();
  return db.state().get_state(id, key, nlohmann::json()).get();
}

std::vector<db::Change> changes_of(db::Db& db) { return db.changes().get_changes().get(); }

// The revision of each change, in change id order.
std::vector<std::string> revisions(db::Db& db) {
  std::vector<std::string> out;
  for (const auto& c : changes_of(db)) out.push_back(c.revision.value_or(""));
  return out;
}

// Buildsets whose reason names the scheduler `name` (a scheduler's reason says which it was).
std::vector<db::Buildset> buildsets_of(db::Db& db, const std::string& name) {
  std::vector<db::Buildset> out;
  for (const auto& bs : db.buildsets().get_buildsets().get()) {
    if (bs.reason && bs.reason->find("'" + name + "'") != std::string::npos) out.push_back(bs);
  }
  return out;
}

// The revision of the buildset's (single) source stamp.
std::string revision_of(db::Db& db, const db::Buildset& bs) {
  if (bs.sourcestamps.size() != 1) return "";
  auto ss = db.sourcestamps().get_source_stamp(bs.sourcestamps[0]).get();
  return ss && ss->revision ? *ss->revision : "";
}

// Whether the scheduler `name` has looked at every change there is now (waiting up to 30 s): a
// change it leaves alone leaves no other trace.
bool looked_at_every_change(db::Db& db, const std::string& name) {
  auto all = changes_of(db);
  int64_t last = all.empty() ? 0 : all.back().changeid;
  return eventually(
      [&] {
        auto seen = state_of(db, name, "Scheduler", "last_changeid");
        return seen.is_number() && seen.get<int64_t>() >= last;
      },
      30s);
}

bool settled(db::Db& db) {
  for (const auto& r : db.buildrequests().get_build_requests().get()) {
    if (!r.complete) return false;
  }
  for (const auto& b : db.builds().get_builds().get()) {
    if (!b.complete_at) return false;
  }
  return true;
}

std::string step_text(db::Db& db, int64_t stepid) {
  auto logs = db.logs().get_logs(stepid).get();
  if (logs.empty()) return "<no log>";
  const auto& log = logs.front();
  if (log.num_lines == 0) return "";
  return db.logs().get_log_lines(log.id, 0, log.num_lines - 1).get();
}

// The accounting (see the file comment). `expected_log(build, step)` gives what each step of a
// successful build printed (nullopt: not checked, e.g. a trigger step's own record).
using ExpectedLog =
    std::function<std::optional<std::string>(const db::Build&, const db::Step&)>;

void check_accounting(db::Db& db, const ExpectedLog& expected_log) {
  auto requests = db.buildrequests().get_build_requests().get();
  std::map<int64_t, int> successes;
  std::set<int64_t> active_masters;
  for (const auto& m : db.masters().get_masters().get()) {
    if (m.active) active_masters.insert(m.id);
  }
  for (const auto& b : db.builds().get_builds().get()) {
    EXPECT_TRUE(b.complete_at) << "build " << b.id << " never finished";
    for (const auto& st : db.steps().get_steps(b.id).get()) {
      EXPECT_TRUE(st.complete_at) << "step " << st.name << " of build " << b.id;
      if (b.results != results::kSuccess) continue;
      auto want = expected_log(b, st);
      if (want) EXPECT_EQ(step_text(db, st.id), *want) << "build " << b.id << " step " << st.name;
    }
    if (b.results == results::kSuccess) ++successes[b.buildrequestid];
  }
  for (const auto& r : requests) {
    EXPECT_TRUE(r.complete) << "request " << r.buildrequestid;
    EXPECT_EQ(r.results, results::kSuccess) << "request " << r.buildrequestid;
    EXPECT_EQ(successes[r.buildrequestid], 1) << "request " << r.buildrequestid;
    if (!r.complete && r.claimed_by_masterid) {
      bool building = false;
      for (const auto& b : db.builds().get_builds({.buildrequestid = r.buildrequestid}).get()) {
        building = building || (!b.complete_at && b.masterid == *r.claimed_by_masterid);
      }
      EXPECT_TRUE(building && active_masters.count(*r.claimed_by_masterid))
          << "request " << r.buildrequestid << " is claimed by a master that does not build it";
    }
  }
  for (const auto& bs : db.buildsets().get_buildsets().get()) {
    EXPECT_TRUE(bs.complete) << "buildset " << bs.bsid;
  }
}

// What the steps of kBuilder print: the checkout says which revision it has, `print` what it was
// told to build.
const char* kBuilder = R"ini([builder b]
workers = w
step checkout = git clone -q "$YM_REPOSITORY" src && cd src && git checkout -q "$YM_REVISION" && echo "checked out $(git rev-parse HEAD)"
step print = echo "revision $YM_REVISION branch $YM_BRANCH"
)ini";

std::optional<std::string> builder_log(db::Db& db, const db::Build& b, const db::Step& st) {
  auto props = db.builds().get_build_properties(b.id).get();
  std::string rev = props.count("revision") ? props["revision"].value->get<std::string>() : "?";
  std::string branch = props.count("branch") ? props["branch"].value->get<std::string>() : "?";
  if (st.name == "checkout") return "checked out " + rev + "\n";
  if (st.name == "print") return "revision " + rev + " branch " + branch + "\n";
  return std::nullopt;
}

std::string master_section(const std::string& database) {
  return "[master]\ndatabase = " + database +
         "\ncheckin_interval = 1s\nexpiry = 4s\npoll_interval = 200ms\ngrace_period = 20s\n"
         "[worker w]\nslots = 2\n";
}

fs::path create_master(Scratch& s, const std::string& name) {
  fs::path dir = s.path(name);
  auto [rc, out] = run({kYardmaster, "create-master", dir.string()});
  EXPECT_EQ(rc, 0) << out;
  return dir;
}

std::unique_ptr<db::Db> open_state(const fs::path& dir) {
  return db::Db::open("sqlite:///" + (dir / "state.sqlite").string());
}

void stop(std::unique_ptr<Child>& master, const fs::path& dir) {
  ASSERT_EQ(kill(master_pid(dir), SIGTERM), 0);
  EXPECT_EQ(master->wait(), 0) << read_file(dir / "master.log");
}

// ----------------------------------------------------------------------------- one master

TEST(Ci, AGitPollerAndASingleBranchSchedulerBuildEachPushOnceAtItsExactRevision) {
  Scratch s("ym-ci");
  Upstream up(s.path("repo"));
  fs::path dir = create_master(s, "m");
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") + kBuilder +
                                     "[changesource upstream]\ntype = git\nrepository = " +
                                     up.url().string() +
                                     "\npoll_interval = 1s\nproject = demo\n"
                                     "revlink = https://example.org/r/{revision}\n"
                                     "[scheduler on-main]\ntype = single-branch\nbranch = main\n"
                                     "tree_stable_timer = 1s\nbuilders = b\n");
  auto master = start_master(dir, "");
  auto db = open_state(dir);
  // The poller's first pass records the heads (history is not a list of changes), and the
  // scheduler starts from the changes there are: only then is a commit new to both.
  ASSERT_TRUE(eventually(
      [&] {
        return !state_of(*db, "upstream", "GitPoller", "lastRev").is_null() &&
               !state_of(*db, "on-main", "Scheduler", "last_changeid").is_null();
      },
      60s))
      << read_file(dir / "master.log");
  EXPECT_TRUE(changes_of(*db).empty()) << "the commit that was there before is not a change";

  // Three commits pushed together: three changes, one buildset for the newest of them, whose
  // build's blame list holds all three.
  std::vector<std::string> three;
  three.push_back(up.commit("a.c", "one"));
  three.push_back(up.commit("b.c", "two"));
  three.push_back(up.commit("dir/c c.c", "three"));
  up.push("main");
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "on-main").size() == 1 && settled(*db); },
                         90s))
      << read_file(dir / "master.log");
  EXPECT_EQ(revisions(*db), three);
  auto all = changes_of(*db);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].author, "Ada Lovelace <ada@example.org>");
  EXPECT_EQ(all[0].committer, "Charles Babbage <cb@example.org>");
  EXPECT_EQ(all[0].branch, "main");
  EXPECT_EQ(all[0].project, "demo");
  EXPECT_EQ(all[0].repository, up.url().string());
  EXPECT_EQ(all[2].files, std::vector<std::string>{"dir/c c.c"});
  EXPECT_EQ(all[2].comments, "three");
  EXPECT_EQ(all[2].revlink, "https://example.org/r/" + three[2]);
  EXPECT_EQ(all[2].parent_changeids, std::vector<int64_t>{all[1].changeid});
  auto uids = db->changes().get_change_uids(all[0].changeid).get();
  ASSERT_EQ(uids.size(), 1u) << "the author is a user";
  auto user = db->users().get_user(uids[0]).get();
  ASSERT_TRUE(user);
  EXPECT_EQ(user->attributes["git"], "Ada Lovelace <ada@example.org>");
  auto first = buildsets_of(*db, "on-main")[0];
  EXPECT_EQ(revision_of(*db, first), three[2]) << "the buildset is of the newest change";
  auto builds = db->builds().get_builds().get();
  ASSERT_EQ(builds.size(), 1u);
  std::vector<std::string> blamed;
  for (const auto& c : db->changes().get_changes_for_build(builds[0].id).get()) {
    blamed.push_back(*c.revision);
  }
  EXPECT_EQ(blamed, (std::vector<std::string>{three[2], three[1], three[0]}));
  auto props = db->builds().get_build_properties(builds[0].id).get();
  EXPECT_EQ(props["got_revision"].value, three[2]);
  EXPECT_EQ(props["scheduler"].value, "on-main");

  // A commit on another branch is a change (the poller watches every branch), which the
  // scheduler of main looks at and leaves: no buildset. Then one on main: one buildset.
  up.checkout("-b feature");
  std::string feature = up.commit("f.c", "on a branch");
  up.push("feature");
  up.checkout("main");
  std::string fourth = up.commit("d.c", "four");
  up.push("main");
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "on-main").size() == 2 && settled(*db); },
                         90s))
      << read_file(dir / "master.log");
  ASSERT_TRUE(looked_at_every_change(*db, "on-main"));
  EXPECT_EQ(changes_of(*db).size(), 5u);
  EXPECT_EQ(revision_of(*db, buildsets_of(*db, "on-main")[1]), fourth);
  for (const auto& c : changes_of(*db)) {
    if (c.revision == feature) EXPECT_EQ(c.branch, "feature");
  }

  // A force-push that drops the last two commits of main and adds one: only the new commit is
  // a change, and it is built.
  sh(up.git("reset -q --hard HEAD~2"));
  std::string rewritten = up.commit("e.c", "rewritten");
  up.push("main", /*force=*/true);
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "on-main").size() == 3 && settled(*db); },
                         90s))
      << read_file(dir / "master.log");
  auto revs = revisions(*db);
  ASSERT_EQ(revs.size(), 6u);
  EXPECT_EQ(revs.back(), rewritten);
  EXPECT_EQ(std::set<std::string>(revs.begin(), revs.end()).size(), revs.size())
      << "no commit reported twice";
  EXPECT_EQ(revision_of(*db, buildsets_of(*db, "on-main")[2]), rewritten);

  stop(master, dir);
  // A restart does not report anything again.
  auto again = start_master(dir, "");
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir / "master.log").find("change source upstream runs") !=
                   std::string::npos; },
      30s));
  std::string marker = up.commit("g.c", "after the restart");
  up.push("main");
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "on-main").size() == 4 && settled(*db); },
                         90s))
      << read_file(dir / "master.log");
  EXPECT_EQ(revisions(*db).size(), 7u);
  EXPECT_EQ(revisions(*db).back(), marker);
  stop(again, dir);
  check_accounting(*db, [&](const db::Build& b, const db::Step& st) {
    return builder_log(*db, b, st);
  });
}

TEST(Ci, YardmasterChangeFeedsASchedulerWithoutAPoller) {
  Scratch s("ym-ci");
  Upstream up(s.path("repo"));
  fs::path dir = create_master(s, "m");
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") + kBuilder +
                                     "[scheduler on-main]\ntype = single-branch\nbranch = main\n"
                                     "builders = b\n");
  auto master = start_master(dir, "");
  auto db = open_state(dir);
  ASSERT_TRUE(eventually(
      [&] { return !state_of(*db, "on-main", "Scheduler", "last_changeid").is_null(); }, 60s))
      << read_file(dir / "master.log");
  std::string rev = up.commit("x.c", "from a hook");
  up.push("main");
  auto [rc, out] = run({kYardmaster, "change", dir.string(), "--repository", up.url().string(),
                        "--branch", "main", "--revision", rev, "--author", "Hook <h@example.org>",
                        "--files", "x.c", "--comments", "from a hook"});
  ASSERT_EQ(rc, 0) << out;
  // Another branch: no build.
  auto [rc2, out2] = run({kYardmaster, "change", dir.string(), "--repository",
                          up.url().string(), "--branch", "other", "--revision", rev});
  ASSERT_EQ(rc2, 0) << out2;
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "on-main").size() == 1 && settled(*db); },
                         60s))
      << read_file(dir / "master.log");
  ASSERT_TRUE(looked_at_every_change(*db, "on-main"));
  EXPECT_EQ(buildsets_of(*db, "on-main").size(), 1u);
  EXPECT_EQ(revision_of(*db, buildsets_of(*db, "on-main")[0]), rev);
  stop(master, dir);
  check_accounting(*db, [&](const db::Build& b, const db::Step& st) {
    return builder_log(*db, b, st);
  });
}

TEST(Ci, APeriodicSchedulerFiresOncePerIntervalAcrossARestart) {
  Scratch s("ym-ci");
  fs::path dir = create_master(s, "m");
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") +
                                     "[builder t]\nworkers = w\nstep tick = echo tick\n"
                                     "[scheduler ticks]\ntype = periodic\ninterval = 1s\n"
                                     "builders = t\n");
  auto master = start_master(dir, "");
  auto db = open_state(dir);
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "ticks").size() >= 3; }, 60s))
      << read_file(dir / "master.log");
  stop(master, dir);
  auto again = start_master(dir, "");
  size_t before = buildsets_of(*db, "ticks").size();
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "ticks").size() >= before + 2; }, 60s))
      << read_file(dir / "master.log");
  stop(again, dir);
  // What was added last may not be built yet (a stopping master claims nothing more): built by a
  // master without the scheduler, until nothing is left.
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") +
                                     "[builder t]\nworkers = w\nstep tick = echo tick\n");
  auto drain = start_master(dir, "--until-idle");
  EXPECT_EQ(drain->wait(), 0) << read_file(dir / "master.log");
  ASSERT_TRUE(settled(*db));
  // One buildset per slot: distinct slot times (the external id says which), at least an
  // interval apart.
  auto sets = buildsets_of(*db, "ticks");
  std::vector<double> slots;
  for (const auto& bs : sets) {
    std::string ext = bs.external_idstring.value_or("");
    size_t at = ext.rfind(":at:");
    ASSERT_NE(at, std::string::npos) << ext;
    slots.push_back(std::stod(ext.substr(at + 4)));
  }
  for (size_t i = 1; i < slots.size(); ++i) {
    EXPECT_GE(slots[i] - slots[i - 1], 0.999) << "buildsets " << sets[i - 1].bsid << " and "
                                              << sets[i].bsid << ": a slot built twice";
  }
  check_accounting(*db, [](const db::Build&, const db::Step&) {
    return std::optional<std::string>("tick\n");
  });
}

TEST(Ci, ANightlySchedulerFiresAtItsHourOnAFakeClock) {
  if (!fs::exists("/usr/bin/faketime")) {
    if (running_in_ci()) FAIL() << "faketime is missing (scripts/setup installs it)";
    GTEST_SKIP() << "faketime is missing (scripts/setup installs it)";
  }
  Scratch s("ym-ci");
  fs::path dir = create_master(s, "m");
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") +
                                     "[builder n]\nworkers = w\nstep night = echo night\n"
                                     "[scheduler nightly]\ntype = nightly\nhour = 3\nminute = 0\n"
                                     "builders = n\n");
  // The master's clock starts at 02:59:50 (UTC) and runs on: the scheduler, which fires at the
  // first 03:00 after it starts, fires once.
  std::string cmd = "cd " + quoted(dir) +
                    " && exec env TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 timeout -k 5 120 faketime "
                    "-f '@2026-12-03 02:59:50' '" +
                    kYardmaster + "' run . 2>>master.log";
  auto master = std::make_unique<Child>(std::vector<std::string>{"/bin/sh", "-c", cmd});
  auto db = open_state(dir);
  ASSERT_TRUE(eventually([&] { return buildsets_of(*db, "nightly").size() == 1 && settled(*db); },
                         60s))
      << read_file(dir / "master.log");
  auto bs = buildsets_of(*db, "nightly")[0];
  auto when = std::chrono::system_clock::to_time_t(bs.submitted_at);
  std::tm tm{};
  gmtime_r(&when, &tm);
  EXPECT_EQ(tm.tm_hour, 3) << "submitted at the master's (fake) 03:00";
  EXPECT_EQ(tm.tm_min, 0);
  stop(master, dir);
  EXPECT_EQ(buildsets_of(*db, "nightly").size(), 1u) << read_file(dir / "master.log");
  check_accounting(*db, [](const db::Build&, const db::Step&) {
    return std::optional<std::string>("night\n");
  });
}

TEST(Ci, ATriggerStepWaitsForTheBuildsItStartsAndFailsWhenOneFails) {
  Scratch s("ym-ci");
  fs::path dir = create_master(s, "m");
  fs::path flag = s.path("child-fails");
  write_file(dir / "config.ini",
             master_section("sqlite:///state.sqlite") +
                 "[builder parent]\nworkers = w\nstep before = echo before\n"
                 "trigger deploy = deploy\nstep after = echo after\n"
                 "[builder child]\nworkers = w\nstep work = echo \"child of $YM_PROP_parent_buildnumber\"; "
                 "test ! -e " +
                 quoted(flag) +
                 "\n[scheduler deploy]\ntype = triggerable\nbuilders = child\n");
  auto master = start_master(dir, "");
  auto db = open_state(dir);
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "-b", "parent"}).first, 0);
  ASSERT_TRUE(eventually([&] { return db->builds().get_builds().get().size() == 2 && settled(*db); },
                         60s))
      << read_file(dir / "master.log");
  auto builds = db->builds().get_builds().get();
  int64_t parent_bid = 0;
  for (const auto& b : builds) {
    auto builder = db->builders().get_builder(b.builderid).get();
    EXPECT_EQ(b.results, results::kSuccess) << builder->name;
    if (builder->name == "parent") parent_bid = b.id;
  }
  auto child_sets = buildsets_of(*db, "deploy");
  ASSERT_EQ(child_sets.size(), 1u);
  EXPECT_EQ(child_sets[0].parent_buildid, parent_bid);
  auto steps = db->steps().get_steps(parent_bid).get();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].name, "deploy");
  EXPECT_EQ(steps[1].results, results::kSuccess);
  ASSERT_TRUE(steps[1].complete_at && steps[2].started_at);
  EXPECT_LE(*steps[1].complete_at, *steps[2].started_at) << "the next step waits for the trigger";
  auto check = [&](const db::Build& b, const db::Step& st) -> std::optional<std::string> {
    if (st.name == "before") return "before\n";
    if (st.name == "after") return "after\n";
    if (st.name == "work") return "child of 1\n";
    return std::nullopt;
  };
  check_accounting(*db, check);

  // The child fails: so do the trigger step and the parent, and the step after is skipped.
  write_file(flag, "");
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "-b", "parent"}).first, 0);
  ASSERT_TRUE(eventually([&] { return db->builds().get_builds().get().size() == 4 && settled(*db); },
                         60s))
      << read_file(dir / "master.log");
  auto parent2 = db->builds().get_builds().get();
  for (const auto& b : parent2) {
    if (b.id <= 2) continue;
    EXPECT_EQ(b.results, results::kFailure) << "build " << b.id;
  }
  stop(master, dir);
}

// ----------------------------------------------------------------------------- reload

TEST(Ci, SighupAppliesAChangedConfigurationAndRefusesABrokenOneWithoutStopping) {
  Scratch s("ym-ci");
  fs::path dir = create_master(s, "m");
  fs::path gates = s.path("gates");
  fs::create_directories(gates);
  Gate gate(gates / "g");
  // One build held running by the gate across every reload: it must finish, and succeed.
  std::string held = "[builder held]\nworkers = w\nstep wait = flock -s '" + (gates / "g").string() +
                     "' true; echo released\n";
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") + held +
                                     "[builder old]\nworkers = w\nstep a = echo old\n");
  auto master = start_master(dir, "");
  auto db = open_state(dir);
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "-b", "held"}).first, 0);
  ASSERT_TRUE(eventually([&] { return gate.waiters() == 1; }, 60s)) << read_file(dir / "master.log");
  pid_t pid = master_pid(dir);

  // A broken configuration: refused, by `reconfig` before any signal, and by the master itself
  // when it gets the signal anyway; the master runs on with the old one.
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") + held +
                                     "[builder old]\nworkers = nobody\nstep a = echo old\n");
  auto [rc, out] = run({kYardmaster, "reconfig", dir.string()});
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("config.ini:"), std::string::npos) << out;
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir / "master.log").find("refused: config.ini:") != std::string::npos; },
      30s))
      << read_file(dir / "master.log");
  EXPECT_EQ(kill(pid, 0), 0) << "SIGHUP did not stop the master";

  // A changed one: a new builder, a removed one, and a new scheduler.
  write_file(dir / "config.ini", master_section("sqlite:///state.sqlite") + held +
                                     "[builder new]\nworkers = w\nstep a = echo new\n"
                                     "[scheduler manual]\ntype = force\nbuilders = new\n");
  auto [rc2, out2] = run({kYardmaster, "reconfig", dir.string()});
  EXPECT_EQ(rc2, 0) << out2;
  ASSERT_TRUE(eventually(
      [&] {
        return read_file(dir / "master.log").find("configuration reloaded: ") != std::string::npos;
      },
      30s))
      << read_file(dir / "master.log");
  std::string log = read_file(dir / "master.log");
  EXPECT_NE(log.find("new builders new"), std::string::npos) << log;
  EXPECT_NE(log.find("removed builders old"), std::string::npos) << log;
  ASSERT_EQ(run({kYardmaster, "submit", dir.string(), "--scheduler", "manual"}).first, 0);
  auto new_id = db->builders().find_builder_id("new").get();
  ASSERT_TRUE(new_id);
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& b : db->builds().get_builds({.builderid = *new_id}).get()) {
          if (b.results == results::kSuccess) return true;
        }
        return false;
      },
      60s))
      << read_file(dir / "master.log");
  auto old_id = db->builders().find_builder_id("old").get();
  ASSERT_TRUE(old_id);
  auto links = db->builders().get_builder(*old_id).get();
  ASSERT_TRUE(links);
  EXPECT_TRUE(links->masterids.empty()) << "a removed builder is no longer this master's";
  EXPECT_EQ(gate.waiters(), 1) << "the held build still runs";
  gate.release();
  ASSERT_TRUE(eventually([&] { return settled(*db); }, 60s)) << read_file(dir / "master.log");
  stop(master, dir);
  check_accounting(*db, [](const db::Build&, const db::Step& st) -> std::optional<std::string> {
    if (st.name == "wait") return "released\n";
    if (st.name == "a") return "new\n";
    return std::nullopt;
  });
}

// ----------------------------------------------------------------------------- several masters

class CiMasters : public testing::TestWithParam<db::Backend> {
 protected:
  void SetUp() override {
    const auto b = GetParam();
    const char* var = b == db::Backend::kPostgres ? "YM_TEST_POSTGRES_URL" : "YM_TEST_MYSQL_URL";
    if (!server_url(b)) {
      if (running_in_ci()) FAIL() << var << " is not set: CI must test this backend";
      GTEST_SKIP() << var << " is not set (scripts/test starts a server and sets it)";
    }
    url_ = clean_database_url(b);
    db_ = db::Db::open(url_);
  }
  void TearDown() override {
    if (db_) db_->shutdown();
  }
  std::string url_;
  std::unique_ptr<db::Db> db_;
};

// Three masters with the same configuration: one git poller and two single-branch schedulers
// (each change built by both, on builders of their own). The master holding the poller is killed
// between two pushes; a peer takes the poller over from its saved position. Every commit becomes
// exactly one change, and each change exactly one buildset per scheduler.
TEST_P(CiMasters, OnePollerAndTwoSchedulersOnThreeMastersSurviveTheKillOfThePollersMaster) {
  Scratch s("ym-ci");
  Upstream up(s.path("repo"));
  std::vector<fs::path> dirs;
  for (int i = 0; i < 3; ++i) {
    fs::path dir = s.path("m" + std::to_string(i));
    write_file(dir / "config.ini",
               master_section(url_) +
                   "[builder b1]\nworkers = w\nstep print = echo \"b1 $YM_REVISION\"\n"
                   "[builder b2]\nworkers = w\nstep print = echo \"b2 $YM_REVISION\"\n"
                   "[changesource upstream]\ntype = git\nbranches = main\nrepository = " +
                   up.url().string() +
                   "\npoll_interval = 1s\n"
                   "[scheduler first]\ntype = single-branch\nbranch = main\nbuilders = b1\n"
                   "[scheduler second]\ntype = single-branch\nbranch = main\nbuilders = b2\n");
    dirs.push_back(dir);
  }
  std::vector<std::unique_ptr<Child>> masters;
  for (const auto& d : dirs) masters.push_back(start_master(d, "", 300s));
  auto& store = *db_;
  ASSERT_TRUE(eventually(
      [&] {
        return !state_of(store, "upstream", "GitPoller", "lastRev").is_null() &&
               !state_of(store, "first", "Scheduler", "last_changeid").is_null() &&
               !state_of(store, "second", "Scheduler", "last_changeid").is_null();
      },
      90s));
  std::vector<std::string> pushed;
  auto push_commits = [&](int n) {
    for (int i = 0; i < n; ++i) pushed.push_back(up.commit("f" + std::to_string(pushed.size()), "c"));
    up.push("main");
  };
  auto all_built = [&] {
    return changes_of(store).size() == pushed.size() &&
           buildsets_of(store, "first").size() == pushed.size() &&
           buildsets_of(store, "second").size() == pushed.size() && settled(store);
  };
  push_commits(3);
  ASSERT_TRUE(eventually(all_built, 120s));

  // The poller's master: killed right after a push, before or after its next pass (either way
  // the position saved in the database tells its successor what is new).
  auto source = store.changesources().get_change_sources().get();
  ASSERT_EQ(source.size(), 1u);
  ASSERT_TRUE(source[0].masterid);
  size_t victim = dirs.size();
  for (const auto& m : store.masters().get_masters().get()) {
    for (size_t i = 0; i < dirs.size(); ++i) {
      if (m.id == *source[0].masterid && m.name.find(dirs[i].string()) != std::string::npos) {
        victim = i;
      }
    }
  }
  ASSERT_LT(victim, dirs.size());
  push_commits(2);
  ASSERT_EQ(kill(master_pid(dirs[victim]), SIGKILL), 0);
  masters[victim]->wait();
  push_commits(4);
  ASSERT_TRUE(eventually(
      [&] {
        auto now = store.changesources().get_change_sources().get();
        return now.size() == 1 && now[0].masterid && *now[0].masterid != *source[0].masterid;
      },
      60s))
      << "a peer takes the poller over";
  ASSERT_TRUE(eventually(all_built, 120s));
  push_commits(1);
  ASSERT_TRUE(eventually(all_built, 120s));

  EXPECT_EQ(revisions(store), pushed) << "each commit once, in order";
  for (const char* sched : {"first", "second"}) {
    std::vector<std::string> built;
    for (const auto& bs : buildsets_of(store, sched)) built.push_back(revision_of(store, bs));
    std::sort(built.begin(), built.end());
    auto want = pushed;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(built, want) << "each change one buildset of " << sched;
  }
  for (size_t i = 0; i < masters.size(); ++i) {
    if (i == victim) continue;
    ASSERT_EQ(kill(master_pid(dirs[i]), SIGTERM), 0);
    EXPECT_EQ(masters[i]->wait(), 0) << read_file(dirs[i] / "master.log");
  }
  check_accounting(store, [&](const db::Build& b, const db::Step&) -> std::optional<std::string> {
    auto builder = store.builders().get_builder(b.builderid).get();
    auto props = store.builds().get_build_properties(b.id).get();
    return builder->name + " " + props["revision"].value->get<std::string>() + "\n";
  });
}

INSTANTIATE_TEST_SUITE_P(Servers, CiMasters,
                         testing::Values(db::Backend::kPostgres, db::Backend::kMysql),
                         [](const testing::TestParamInfo<db::Backend>& info) {
                           return info.param == db::Backend::kPostgres ? "postgres" : "mysql";
                         });

}  // namespace
}  // namespace ym::test
