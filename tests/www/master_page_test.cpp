// The web page of a running master: a real `yardmaster run` process on an SQLite file, with
// [www] in its config.ini, and headless Chromium on the address its log names. The browser forces
// a build through the form; the master claims and runs it; the step prints three lines and waits
// at a gate the test holds, so the test knows the step is running when it looks. The page's log
// shows the three lines, then the two the step prints when the test opens the gate; the builders
// page, left open, turns from running to success when the step ends, without a reload. Then the
// master stops on SIGTERM and the database holds the whole account: the buildset and its request
// complete once with one successful build, its step finished, its log exactly what was printed.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>

#include "backend/server_db.hpp"
#include "db/db.hpp"
#include "master/process_util.hpp"
#include "master/scratch.hpp"
#include "www/http_client.hpp"
#include "www/webdriver.hpp"

namespace ym::test {
namespace {

using namespace std::chrono_literals;
using master_tests::Gate;
using master_tests::read_file;
using master_tests::write_file;

class MasterPage : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Browser::unavailable()) {
      if (running_in_ci()) {
        FAIL() << *why << " (CI=true: the browser tests must run)";
      } else {
        GTEST_SKIP() << *why;
      }
    }
    scratch_.emplace("ym-masterpage");
    dir_ = scratch_->path("master");
    std::string gate1 = scratch_->path("gate1").string(), gate2 = scratch_->path("gate2").string();
    gate1_.emplace(gate1);
    gate2_.emplace(gate2);
    auto [rc, out] = master_tests::run({master_tests::kYardmaster, "create-master", dir_.string(),
                                        "--database", scratch_->url("state.sqlite")});
    ASSERT_EQ(rc, 0) << out;
    write_file(dir_ / "www-token", "the-page-token\n");
    write_file(dir_ / "config.ini",
               "[master]\nname = page-master\ndatabase = " + scratch_->url("state.sqlite") +
                   "\npoll_interval = 200ms\n\n"
                   "[worker w]\nslots = 1\n\n"
                   "[builder linux]\nworkers = w\n"
                   "step compile = printf 'line 1\\nline 2\\nline 3\\n'; flock -s '" +
                   gate1 + "' true; printf 'line 4\\nline 5\\n'; flock -s '" + gate2 +
                   "' true\n\n"
                   "[scheduler manual]\ntype = force\nbuilders = linux\n\n"
                   "[www]\nlisten = 127.0.0.1:0\nforce_token_file = www-token\n");
    master_ = master_tests::start_master(dir_, "");
    // The log names the address: port 0 took a free one.
    std::smatch m;
    std::regex serving("web: serving http://127\\.0\\.0\\.1:([0-9]+)/");
    std::string log;
    ASSERT_TRUE(master_tests::eventually(
        [&] {
          log = read_file(dir_ / "master.log");
          return std::regex_search(log, m, serving) || log.find("error:") != std::string::npos;
        },
        60s))
        << log;
    ASSERT_TRUE(std::regex_search(log, m, serving)) << read_file(dir_ / "master.log");
    port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
    browser_.emplace(scratch_->path("browser"));
  }

  void TearDown() override {
    browser_.reset();
    if (master_) {
      ::kill(master_tests::master_pid(dir_), SIGKILL);
      master_.reset();
    }
    if (HasFailure() && scratch_) {
      std::cout << "browser test files (screenshots, chromedriver.log, master.log) kept in "
                << scratch_->path("") << "\n";
    }
  }

  std::string url(const std::string& route) {
    return "http://127.0.0.1:" + std::to_string(port_) + "/#" + route;
  }
  void shot(const std::string& name) { browser_->screenshot(scratch_->path(name + ".png")); }
  nlohmann::json api(const std::string& path) {
    auto r = http_get(port_, "/api/v2/" + path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.json();
  }

  std::optional<master_tests::Scratch> scratch_;
  std::filesystem::path dir_;
  std::optional<Gate> gate1_, gate2_;
  std::unique_ptr<Child> master_;
  uint16_t port_ = 0;
  std::optional<Browser> browser_;
};

TEST_F(MasterPage, AForcedBuildRunsItsLogGrowsAndTheBuildersPageTurnsGreen) {
  auto& b = *browser_;
  b.navigate(url("/force"));
  b.wait_for("!!document.querySelector('form#force-manual')", 20s,
             "the form of force scheduler manual");
  b.type(b.find("#force-token"), "the-page-token");
  auto reason = b.find("form#force-manual input[name=reason]");
  b.clear(reason);
  b.type(reason, "forced from the page of a running master");
  b.click(b.find("form#force-manual button[type=submit]"));
  b.wait_for("/buildset \\d+/.test(document.querySelector('#force-result').textContent)", 20s,
             "the form's answer naming the buildset");
  shot("force");

  // The master claims the request and runs the step up to the first gate.
  ASSERT_TRUE(master_tests::eventually([&] { return gate1_->waiters() == 1; }, 60s))
      << read_file(dir_ / "master.log");
  auto builds = api("builds")["builds"];
  ASSERT_EQ(builds.size(), 1u);
  int64_t buildid = builds[0]["buildid"];
  EXPECT_EQ(builds[0]["complete"], false);
  auto steps = api("builds/" + std::to_string(buildid) + "/steps")["steps"];
  ASSERT_EQ(steps.size(), 1u);
  int64_t stepid = steps[0]["stepid"];
  auto logs = api("steps/" + std::to_string(stepid) + "/logs")["logs"];
  ASSERT_EQ(logs.size(), 1u);
  int64_t logid = logs[0]["logid"];

  b.navigate(url("/logs/" + std::to_string(logid)));
  b.wait_for(
      "document.querySelector('#log') && document.querySelector('#log').dataset.numLines == '3'",
      20s, "the step's three lines so far");
  b.wait_for("[...document.querySelectorAll('#log .line')].some(e => e.textContent == 'line 3')",
             20s, "line 3 rendered");
  shot("log-3-lines");
  gate1_->release();
  b.wait_for("document.querySelector('#log').dataset.numLines == '5'", 30s,
             "the log grown to 5 lines while the page is open");
  b.wait_for("[...document.querySelectorAll('#log .line')].some(e => e.textContent == 'line 5')",
             20s, "line 5 rendered");
  shot("log-5-lines");

  // The step waits at the second gate: the builders page shows the build running, then, left
  // open, its end.
  ASSERT_TRUE(master_tests::eventually([&] { return gate2_->waiters() == 1; }, 30s));
  b.navigate(url("/builders"));
  b.wait_for(
      "document.querySelector('#builders tr[data-builder=\"linux\"]') && "
      "document.querySelector('#builders tr[data-builder=\"linux\"]').dataset.result == 'running'",
      20s, "linux shows its running build");
  shot("builders-running");
  gate2_->release();
  b.wait_for(
      "document.querySelector('#builders tr[data-builder=\"linux\"]').dataset.result == 'success'",
      30s, "linux turns to success on the open page");
  shot("builders-success");

  ::kill(master_tests::master_pid(dir_), SIGTERM);
  EXPECT_EQ(master_->wait(), 0) << read_file(dir_ / "master.log");
  master_.reset();

  // The account, from the database.
  auto db = db::Db::open(scratch_->url("state.sqlite"));
  auto sets = db->buildsets().get_buildsets().get();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].reason.value_or(""), "forced from the page of a running master");
  EXPECT_TRUE(sets[0].complete);
  EXPECT_EQ(sets[0].results, db::results::kSuccess);
  auto requests = db->buildrequests().get_build_requests().get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].complete);
  EXPECT_EQ(requests[0].results, db::results::kSuccess);
  auto all = db->builds().get_builds().get();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].results, db::results::kSuccess);
  EXPECT_TRUE(all[0].complete_at.has_value());
  auto st = db->steps().get_steps(buildid).get();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].complete_at.has_value());
  EXPECT_EQ(st[0].results, db::results::kSuccess);
  auto log = db->logs().get_log(logid).get();
  ASSERT_TRUE(log.has_value());
  EXPECT_TRUE(log->complete);
  EXPECT_EQ(log->num_lines, 5);
  auto text = db->logs().get_log_lines(logid, 0, 100).get();
  EXPECT_EQ(text, "line 1\nline 2\nline 3\nline 4\nline 5\n");
  auto masters = db->masters().get_masters().get();
  ASSERT_EQ(masters.size(), 1u);
  EXPECT_FALSE(masters[0].active) << "a master that stopped cleanly is inactive";
  db->shutdown();
}

}  // namespace
}  // namespace ym::test
