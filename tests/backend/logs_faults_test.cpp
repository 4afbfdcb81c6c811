// Logs and steps when the reply to a committed write is lost (Db::faults()->
// lose_next_commit_replies: the write commits, then its connection drops before the caller hears).
// The calls retry (Unknown::kRetry) and look at what was committed before writing again, so a log
// holds every appended line exactly once, and the idempotent updates end as if run once. On every
// SQL backend (SQLite on file, PostgreSQL and MySQL when configured); not on SQLite in memory,
// where a dropped connection is a dropped database, nor on the fake, which has no pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "contract/fixture.hpp"
#include "db/db.hpp"
#include "fake/fake_db.hpp"

namespace ym::test {
namespace {

using db::LineRange;

std::vector<Backend> fault_backends() {
  std::vector<Backend> out;
  for (const Backend& b : contract_backends()) {
    if (b.impl != Impl::kFake && b.impl != Impl::kSqliteMemory) out.push_back(b);
  }
  return out;
}

class LogsFaults : public Contract {
 protected:
  db::FaultInjector& faults() {
    db::FaultInjector* f = db_->faults();
    if (!f) throw std::runtime_error("this backend has no fault switches");
    return *f;
  }
  // Arms one lost reply for the next write and counts it.
  void lose_next_reply() {
    faults().lose_next_commit_replies(1);
    ++armed_;
  }
  // Each lost reply drops its connection, which the retry reopens: proof that the faults fired
  // (and so that a test passing here really went through the repeat).
  void expect_faults_fired() {
    EXPECT_GE(db_->pool_stats().reconnects - reconnects_before_, armed_);
  }
  void SetUp() override {
    Contract::SetUp();
    reconnects_before_ = db_->pool_stats().reconnects;
  }

  uint64_t armed_ = 0;
  uint64_t reconnects_before_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, LogsFaults, testing::ValuesIn(fault_backends()),
                         backend_name);

// Step 5 started at 1000, step 7 not started; both in build 1.
std::vector<td::Row> base() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Builder{.id = 20, .name = "b20"},
          td::Buildset{.id = 40},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .masterid = 10},
          td::Step{.id = 5, .number = 0, .name = "old", .buildid = 1, .started_at = 1000},
          td::Step{.id = 7, .number = 2, .name = "unstarted", .buildid = 1,
                   .started_at = std::nullopt}};
}

// Lines first..last, each newline-terminated and telling its number (and `tag`).
std::string numbered(int64_t first, int64_t last, const std::string& tag = "") {
  std::string out;
  for (int64_t i = first; i <= last; ++i) {
    out += "line " + std::to_string(i) + tag + " of the build output, module " +
           std::to_string(i % 17) + "\n";
  }
  return out;
}

TEST_P(LogsFaults, AppendsWithLostRepliesStoreEveryLineOnceInOrder) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "stdio", "stdio", "s").get();
  std::string all;
  int64_t next = 0;
  for (int i = 0; i < 36; ++i) {
    std::string part;
    if (i % 6 == 5) {
      part = numbered(next, next + 1999);  // over 64 KiB: several chunks, one transaction
    } else if (i % 6 == 2 || i % 6 == 3) {
      part = "building...\n";  // the same text twice running: a lost reply must not merge them
    } else {
      part = numbered(next, next + i % 4);
    }
    int64_t n = std::count(part.begin(), part.end(), '\n');
    if (i % 2 == 1) lose_next_reply();
    EXPECT_EQ(db_->logs().append_log(id, part).get(), (LineRange{next, next + n - 1}))
        << "append " << i;
    all += part;
    next += n;
  }
  expect_faults_fired();
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, next);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, next + 10).get(), all);
}

TEST_P(LogsFaults, ConcurrentAppendsWithLostRepliesStoreEachAppendOnce) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "stdio", "stdio", "s").get();
  constexpr int kThreads = 4, kEach = 12;
  faults().lose_next_commit_replies(10);
  armed_ = 10;
  std::mutex mu;
  std::vector<std::pair<LineRange, std::string>> stored;
  race(kThreads, [&](int t) {
    for (int k = 0; k < kEach; ++k) {
      std::string text = numbered(0, k % 3, " t" + std::to_string(t) + " k" + std::to_string(k));
      auto range = db_->logs().append_log(id, text).get();
      ASSERT_TRUE(range);
      std::lock_guard lock(mu);
      stored.emplace_back(*range, text);
    }
  });
  expect_faults_fired();
  // Each append's range holds exactly its text, and the ranges tile the log: nothing doubled
  // (the log would be longer), nothing lost (a range would hold other text).
  std::sort(stored.begin(), stored.end(),
            [](const auto& a, const auto& b) { return a.first.first < b.first.first; });
  ASSERT_EQ(stored.size(), static_cast<size_t>(kThreads * kEach));
  int64_t next = 0;
  for (const auto& [range, text] : stored) {
    EXPECT_EQ(range.first, next);
    EXPECT_EQ(db_->logs().get_log_lines(id, range.first, range.last).get(), text);
    next = range.last + 1;
  }
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, next);
}

TEST_P(LogsFaults, FinishLogAndStepUpdatesSurviveALostReply) {
  insert(base());
  int64_t id = db_->logs().add_log(7, "stdio", "stdio", "s").get();
  db_->logs().append_log(id, "one\n").get();

  lose_next_reply();
  db_->logs().finish_log(id).get();
  EXPECT_TRUE(db_->logs().get_log(id).get()->complete);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 9).get(), "one\n");

  lose_next_reply();
  db_->steps().start_step(7).get();
  lose_next_reply();
  db_->steps().set_step_state_string(7, "running").get();
  lose_next_reply();
  db_->steps().add_url(7, "report", "https://ci.example/r/7").get();
  clock_.advance(60);
  lose_next_reply();
  db_->steps().finish_step(7, 2, true).get();
  expect_faults_fired();

  auto step = db_->steps().get_step(7).get();
  ASSERT_TRUE(step);
  EXPECT_EQ(step->started_at, clock_.at(1'700'000'000));
  EXPECT_EQ(step->complete_at, clock_.at(1'700'000'060));
  EXPECT_EQ(step->state_string, "running");
  EXPECT_EQ(step->results, 2);
  EXPECT_TRUE(step->hidden);
  EXPECT_EQ(step->urls, (std::vector<db::StepUrl>{{"report", "https://ci.example/r/7"}}));
}

TEST_P(LogsFaults, CompressLogWithLostRepliesKeepsEveryLineAndCountsItsSavingsOnce) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "stdio", "stdio", "s").get();
  // The same log in the fake, whose compress_log plans the same runs: the reference savings.
  fake::FakeDb reference;
  reference.insert_test_data(base()).get();
  int64_t ref_id = reference.logs().add_log(5, "stdio", "stdio", "s").get();
  std::string all;
  int64_t next = 0;
  while (all.size() < 3 * 1024 * 1024) {  // three runs and more
    std::string part = numbered(next, next + 499);
    db_->logs().append_log(id, part).get();
    reference.logs().append_log(ref_id, part).get();
    all += part;
    next += 500;
  }
  int64_t expected = reference.logs().compress_log(ref_id).get();
  ASSERT_GT(expected, 0);

  faults().lose_next_commit_replies(2);  // the first two runs' swaps
  armed_ = 2;
  EXPECT_EQ(db_->logs().compress_log(id).get(), expected);
  expect_faults_fired();
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, next).get(), all);
  EXPECT_EQ(db_->logs().compress_log(id).get(), 0);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, next).get(), all);
}

TEST_P(LogsFaults, DeleteOldLogChunksAfterALostReplyCountsTheBatchOnce) {
  insert(base());
  int64_t a = db_->logs().add_log(5, "a", "a", "s").get();
  int64_t b = db_->logs().add_log(5, "b", "b", "s").get();
  db_->logs().append_log(a, numbered(0, 9)).get();
  db_->logs().append_log(b, numbered(0, 9)).get();
  lose_next_reply();
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 2);
  expect_faults_fired();
  for (int64_t id : {a, b}) {
    auto log = db_->logs().get_log(id).get();
    EXPECT_EQ(log->type, "d");
    EXPECT_EQ(log->num_lines, 10);
    EXPECT_EQ(db_->logs().get_log_lines(id, 0, 9).get(), "");
  }
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 0);
}

}  // namespace
}  // namespace ym::test
