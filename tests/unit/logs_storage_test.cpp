// How logs are stored, looked at from below the interface: chunk rows, the compressed flag and
// stored bytes, on an SQLite file (through a second, raw connection) and in the fake (through
// inspect()). The contract suite proves the lines read back the same; this proves compress_log
// really merges and compresses, and that the fake lays chunks out exactly as SQL does.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "fake/fake_db.hpp"

namespace ym::test {
namespace {

namespace td = ym::db::testdata;
namespace fs = std::filesystem;

struct Layout {
  int64_t rows = 0;
  int64_t compressed = 0;
  int64_t bytes = 0;
  bool operator==(const Layout&) const = default;
};

std::vector<td::Row> base() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Builder{.id = 20, .name = "b20"},
          td::Buildset{.id = 40},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .masterid = 10},
          td::Step{.id = 5, .number = 0, .name = "s", .buildid = 1},
          td::Log{.id = 30, .slug = "stdio", .stepid = 5}};
}

std::string lines(int first, int last) {
  std::string out;
  for (int i = first; i <= last; ++i) out += "output line " + std::to_string(i) + " of many\n";
  return out;
}

// Printable but random: zstd shrinks it only a little.
std::string noise(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(i % 80 == 79 ? '\n' : static_cast<char>('!' + rng() % 90));
  }
  out.back() = '\n';
  return out;
}

class SqliteLogs : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ym-logs-storage-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    url_ = "sqlite:///" + (dir_ / "logs.sqlite").string();
    for (const char* suffix : {"", "-wal", "-shm"})
      fs::remove((dir_ / "logs.sqlite").string() + suffix);
    db_ = db::Db::open(url_);
    db_->insert_test_data(base()).get();
    fake_.insert_test_data(base()).get();
  }
  void TearDown() override {
    db_->shutdown();
    db_.reset();
    fs::remove_all(dir_);
  }

  Layout sql_layout() {
    auto conn = db::open_connection(db::Url::parse(url_));
    auto row = conn->stmt(
                       "SELECT COUNT(*), COALESCE(SUM(compressed), 0), "
                       "COALESCE(SUM(LENGTH(content)), 0) FROM logchunks WHERE logid = 30")
                   .one();
    return Layout{row->get<int64_t>(0), row->get<int64_t>(1), row->get<int64_t>(2)};
  }
  Layout fake_layout() { return fake_layout(fake_); }
  static Layout fake_layout(fake::FakeDb& fake) {
    return fake.inspect([](const fake::Store& s) {
      Layout l;
      for (const auto& [key, c] : s.logchunks) {
        if (key.first != 30) continue;
        ++l.rows;
        l.compressed += c.compressed;
        l.bytes += static_cast<int64_t>(c.content.size());
      }
      return l;
    });
  }
  // Runs the same calls on both.
  template <class Fn>
  void both(Fn fn) {
    fn(*db_);
    fn(fake_);
  }

  fs::path dir_;
  std::string url_;
  std::unique_ptr<db::Db> db_;
  fake::FakeDb fake_;
};

TEST_F(SqliteLogs, CompressLogMergesSmallChunksIntoOneCompressedChunk) {
  std::string all;
  for (int i = 0; i < 1000; i += 10) all += lines(i, i + 9);
  both([](db::Db& db) {
    for (int i = 0; i < 1000; i += 10) db.logs().append_log(30, lines(i, i + 9)).get();
  });
  Layout before = sql_layout();
  EXPECT_EQ(before, (Layout{100, 0, static_cast<int64_t>(all.size())}));
  EXPECT_EQ(fake_layout(), before);

  int64_t saved = db_->logs().compress_log(30).get();
  EXPECT_EQ(fake_.logs().compress_log(30).get(), saved);
  Layout after = sql_layout();
  EXPECT_EQ(after.rows, 1);
  EXPECT_EQ(after.compressed, 1);
  EXPECT_EQ(after.bytes, before.bytes - saved);
  EXPECT_LT(after.bytes * 4, before.bytes);
  EXPECT_EQ(fake_layout(), after);
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 999).get(), all);
  EXPECT_EQ(fake_.logs().get_log_lines(30, 0, 999).get(), all);
}

TEST_F(SqliteLogs, CompressFinishedLogsCompressesInTheBackgroundAndShutdownWaitsForIt) {
  // A second database on the same file with the option on, and a fake with it on.
  db::DbOptions options;
  options.compress_finished_logs = true;
  auto db = db::Db::open(url_, options);
  fake::FakeDb fake(fake::FakeOptions{.compress_finished_logs = true});
  fake.insert_test_data(base()).get();
  std::string all;
  for (int i = 0; i < 1000; i += 10) all += lines(i, i + 9);
  for (db::Db* d : {db.get(), static_cast<db::Db*>(&fake)}) {
    for (int i = 0; i < 1000; i += 10) d->logs().append_log(30, lines(i, i + 9)).get();
    d->logs().finish_log(30).get();
    // Whether or not the compression has run yet, the log reads the same.
    EXPECT_EQ(d->logs().get_log_lines(30, 0, 999).get(), all);
  }
  db->shutdown();  // waits for the background compression
  Layout after = sql_layout();
  EXPECT_EQ(after.rows, 1);
  EXPECT_EQ(after.compressed, 1);
  EXPECT_LT(after.bytes * 4, static_cast<int64_t>(all.size()));
  EXPECT_EQ(fake_layout(fake), after);
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 999).get(), all);
  EXPECT_TRUE(db_->logs().get_log(30).get()->complete);
}

TEST_F(SqliteLogs, AppendSplitsLargeContentIntoBoundedChunks) {
  std::string big = lines(0, 19999);  // about 500 KB
  both([&](db::Db& db) { db.logs().append_log(30, big).get(); });
  Layout l = sql_layout();
  EXPECT_GE(l.rows, static_cast<int64_t>(big.size() / (64 * 1024)));
  EXPECT_LE(l.rows, static_cast<int64_t>(big.size() / (60 * 1024)) + 1);
  EXPECT_EQ(l.bytes, static_cast<int64_t>(big.size()));
  EXPECT_EQ(fake_layout(), l);
}

TEST_F(SqliteLogs, CompressLogCapsTheTextOfAMergedChunk) {
  std::string all;
  for (unsigned i = 0; i < 40; ++i) {
    std::string part = noise(40 * 1024, i);  // 1.6 MB in all: more than one merged chunk
    all += part;
    both([&](db::Db& db) { db.logs().append_log(30, part).get(); });
  }
  int64_t saved = db_->logs().compress_log(30).get();
  EXPECT_EQ(fake_.logs().compress_log(30).get(), saved);
  Layout l = sql_layout();
  EXPECT_GE(l.rows, 2);  // at most 1 MiB of text per merged chunk
  EXPECT_LT(l.rows, 40);
  EXPECT_EQ(l.bytes, static_cast<int64_t>(all.size()) - saved);
  EXPECT_EQ(fake_layout(), l);
  int64_t lines_total = std::count(all.begin(), all.end(), '\n');
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, lines_total).get(), all);
  EXPECT_EQ(db_->logs().compress_log(30).get(), 0);
  EXPECT_EQ(sql_layout(), l);
}

}  // namespace
}  // namespace ym::test
