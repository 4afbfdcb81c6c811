// The web page in a real browser: headless Chromium (through ChromeDriver) opens the pages the
// web server serves over an SQLite database with known builds, and the test asserts on the
// rendered DOM: the builders and their last results, a build's steps, a running step's log
// growing as the test appends lines, and the force form adding a buildset. Screenshots go to
// the test's scratch directory, kept (with chromedriver.log) when a test fails.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "backend/server_db.hpp"
#include "db/db.hpp"
#include "db/testdata.hpp"
#include "master/scratch.hpp"
#include "www/server.hpp"
#include "www/webdriver.hpp"

namespace ym::test {
namespace {

namespace td = db::testdata;
using namespace std::chrono_literals;

class WebPage : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ym::test::Browser::unavailable()) {
      if (running_in_ci()) {
        FAIL() << *why << " (CI=true: the browser tests must run)";
      } else {
        GTEST_SKIP() << *why;
      }
    }
    scratch_.emplace("ym-webpage");
    db_ = db::Db::open(scratch_->url("state.sqlite"));
    // linux: build 1 succeeded, build 2 runs (a step with a 3-line log that grows); docs: its
    // one build failed.
    db_->insert_test_data(
           {td::Master{1, "m1", true, 1700000000}, td::Builder{1, "linux", "linux builds"},
            td::Builder{2, "docs", std::nullopt}, td::BuilderMaster{1, 1, 1},
            td::BuilderMaster{2, 2, 1}, td::Worker{1, "w1"},
            td::Buildset{1, "ext", "because", 1700000000},
            td::BuildRequest{1, 1, 1, 0, true, 0, 1700000001, 1700000100},
            td::BuildRequest{2, 1, 1, 0, false, -1, 1700000002},
            td::BuildRequest{3, 1, 2, 0, true, 2, 1700000003, 1700000100},
            td::BuildRequestClaim{2, 1, 1700000005},
            td::Build{1, 1, 1, 1, 1, 1, 1700000010, 1700000100, "success", 0},
            td::Build{2, 2, 1, 2, 1, 1, 1700000200, std::nullopt, "building", std::nullopt},
            td::Build{3, 1, 2, 3, 1, 1, 1700000010, 1700000100, "failed", 2},
            td::Step{1, 0, "compile", 1, 1700000011, 1700000090, "exit code 0", 0},
            td::Step{2, 0, "unit", 2, 1700000201, std::nullopt, "running"},
            td::Log{1, "stdio", "stdio", 2, false, 3, "s"},
            td::LogChunk{1, 0, 2, "first line\nsecond line\nthird line\n"}})
        .get();
    www::ServerOptions options;
    options.listen = {"127.0.0.1", 0};
    options.event_poll = 100ms;
    options.force_token = "page-token";
    master::SchedulerConfig manual;
    manual.name = "manual";
    manual.type = master::SchedulerType::kForce;
    manual.builders = {"linux", "docs"};
    options.force_schedulers.push_back(manual);
    server_.emplace(*db_, options, nullptr);
    server_->start();
    browser_.emplace(scratch_->path("browser"));
  }

  void TearDown() override {
    browser_.reset();
    if (server_) server_->stop();
    if (db_) db_->shutdown();
    server_.reset();
    if (HasFailure() && scratch_) {
      std::cout << "browser test files (screenshots, chromedriver.log) kept in "
                << scratch_->path("") << "\n";
    }
  }

  std::string url(const std::string& route) {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/#" + route;
  }
  void shot(const std::string& name) { browser_->screenshot(scratch_->path(name + ".png")); }

  std::optional<master_tests::Scratch> scratch_;
  std::unique_ptr<db::Db> db_;
  std::optional<www::Server> server_;
  std::optional<ym::test::Browser> browser_;
};

TEST_F(WebPage, BuildersShowTheirLastResults) {
  auto& b = *browser_;
  b.navigate(url("/builders"));
  b.wait_for("document.querySelectorAll('#builders tr[data-builder]').length == 2", 20s,
             "both builders listed");
  b.wait_for(
      "document.querySelector('#builders tr[data-builder=\"linux\"]').dataset.result == 'running'",
      20s, "linux shows its running build");
  b.wait_for(
      "document.querySelector('#builders tr[data-builder=\"docs\"]').dataset.result == 'failure'",
      20s, "docs shows its failed build");
  shot("builders");
  // A build's page: its steps with their results.
  b.navigate(url("/builds/1"));
  b.wait_for(
      "!!document.querySelector('#steps tr[data-step=\"compile\"][data-result=\"success\"]')", 20s,
      "build 1's step compile, successful");
  shot("build");
}

TEST_F(WebPage, ARunningLogGrowsWhileTheTestWatches) {
  auto& b = *browser_;
  b.navigate(url("/logs/1"));
  b.wait_for(
      "document.querySelector('#log') && document.querySelector('#log').dataset.numLines == '3'",
      20s, "the log's three lines");
  b.wait_for(
      "[...document.querySelectorAll('#log .line')].some(e => e.textContent.includes('third "
      "line'))",
      20s, "the third line rendered");
  // The step prints more: the page hears of it through its event stream.
  db_->logs().append_log(1, "fourth line\nfifth line\n").get();
  b.wait_for("document.querySelector('#log').dataset.numLines == '5'", 20s,
             "the log grew to 5 lines");
  b.wait_for(
      "[...document.querySelectorAll('#log .line')].some(e => e.textContent.includes('fifth "
      "line'))",
      20s, "the fifth line rendered");
  shot("log");
}

// A log of 1,000,000 lines: the page knows its length from the log's row, fetches the ranges on
// screen (never the whole log), keeps a few hundred lines in the DOM, and shows the right text at
// its end and in its middle.
TEST_F(WebPage, AMillionLineLogIsReadByRanges) {
  constexpr int kLines = 1000000, kPerAppend = 50000;
  int64_t logid = db_->logs().add_log(1, "big", "big", "s").get();
  for (int first = 1; first <= kLines; first += kPerAppend) {
    std::string chunk;
    for (int n = first; n < first + kPerAppend; ++n) chunk += "line " + std::to_string(n) + "\n";
    db_->logs().append_log(logid, chunk).get();
  }
  db_->logs().finish_log(logid).get();
  ASSERT_EQ(db_->logs().get_log(logid).get()->num_lines, kLines);

  auto& b = *browser_;
  b.navigate(url("/logs/" + std::to_string(logid)));
  b.wait_for(
      "document.querySelector('#log') && document.querySelector('#log').dataset.numLines == "
      "'1000000'",
      20s, "the log's length");
  // Every rendered line that is not pending holds the text of its number.
  const std::string consistent =
      "[...document.querySelectorAll('#log .line')].every(e => e.classList.contains('pending') || "
      "e.textContent == 'line ' + e.dataset.ln)";
  b.wait_for("!!document.querySelector('#log .line[data-ln=\"1\"]:not(.pending)')", 20s,
             "the first line rendered");
  EXPECT_TRUE(b.execute("return " + consistent).get<bool>());
  shot("million-top");

  b.execute("const l = document.querySelector('#log'); l.scrollTop = l.scrollHeight;");
  b.wait_for("!!document.querySelector('#log .line[data-ln=\"1000000\"]:not(.pending)')", 20s,
             "the last line rendered after scrolling to the end");
  EXPECT_EQ(b.text(b.find("#log .line[data-ln=\"1000000\"]")), "line 1000000");
  EXPECT_TRUE(b.execute("return " + consistent).get<bool>());
  shot("million-end");

  b.execute(
      "const l = document.querySelector('#log'); l.scrollTop = (l.scrollHeight - l.clientHeight) "
      "/ 2;");
  b.wait_for(
      "[...document.querySelectorAll('#log .line:not(.pending)')].some(e => Math.abs(e.dataset.ln "
      "- 500000) < 1000)",
      20s, "lines near the middle rendered after scrolling there");
  EXPECT_TRUE(b.execute("return " + consistent).get<bool>());
  shot("million-middle");

  int in_dom = b.execute("return document.querySelectorAll('#log .line').length").get<int>();
  EXPECT_GT(in_dom, 0);
  EXPECT_LT(in_dom, 1000) << "only the lines on screen (and a margin) are in the DOM";
  // What the page fetched: ranges of the contents, never the raw log, and not many of them.
  auto fetched = b.execute(
      "return performance.getEntriesByType('resource').map(e => e.name).filter(n => "
      "n.includes('/logs/'))");
  int ranges = 0;
  for (const auto& name : fetched) {
    std::string u = name.get<std::string>();
    EXPECT_EQ(u.find("/raw"), std::string::npos) << u;
    if (u.find("/contents") != std::string::npos) {
      ++ranges;
      EXPECT_NE(u.find("limit=500"), std::string::npos) << u;
    }
  }
  EXPECT_GE(ranges, 3) << "the top, the end and the middle";
  EXPECT_LE(ranges, 12) << fetched.dump();
}

TEST_F(WebPage, TheForceFormAddsABuildset) {
  auto& b = *browser_;
  size_t before = db_->buildsets().get_buildsets().get().size();
  b.navigate(url("/force"));
  b.wait_for("!!document.querySelector('form#force-manual')", 20s,
             "the form of force scheduler manual");
  b.type(b.find("#force-token"), "page-token");
  auto reason = b.find("form#force-manual input[name=reason]");
  b.clear(reason);  // it holds the scheduler's default reason
  b.type(reason, "forced by the browser test");
  b.click(b.find("form#force-manual button[type=submit]"));
  b.wait_for("/buildset \\d+/.test(document.querySelector('#force-result').textContent)", 20s,
             "the form's answer naming the buildset");
  shot("force");
  auto all = db_->buildsets().get_buildsets().get();
  ASSERT_EQ(all.size(), before + 1);
  EXPECT_EQ(all.back().reason, "forced by the browser test");
  std::string text = b.text(b.find("#force-result"));
  EXPECT_NE(text.find("buildset " + std::to_string(all.back().bsid)), std::string::npos) << text;
}

}  // namespace
}  // namespace ym::test
