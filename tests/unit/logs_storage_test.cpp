// How logs are stored, looked at from below the interface: chunk rows, the compressed flag and
// stored bytes, on an SQLite file (through a second, raw connection) and in the fake (through
// inspect()). The contract suite proves the lines read back the same; this proves compress_log
// really merges and compresses, and that the fake lays chunks out exactly as SQL does.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

#include "db/connectors/logs_util.hpp"
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
                       "SELECT COUNT(*), COALESCE(SUM(CASE WHEN compressed <> 0 THEN 1 ELSE 0 END), 0), "
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
        l.compressed += c.compressed != 0 ? 1 : 0;
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
  // Each chunk is stored without its final newline.
  EXPECT_EQ(before, (Layout{100, 0, static_cast<int64_t>(all.size()) - 100}));
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

// A Db compresses a finished log from the text it appended, without reading it back, when that
// text is the whole log. When it is not (another Db appended too, before or after, or changed
// the chunks meanwhile), the log must still end up compressed whole and read the same.
TEST_F(SqliteLogs, AFinishedLogWithAnotherDbsTextIsCompressedWhole) {
  db::DbOptions options;
  options.compress_finished_logs = true;
  std::string all;
  for (int i = 0; i < 300; i += 10) all += lines(i, i + 9);
  enum Peer { kBetween, kAfter, kCompressedBetween };
  for (Peer peer : {kBetween, kAfter, kCompressedBetween}) {
    SCOPED_TRACE(peer);
    auto conn = db::open_connection(db::Url::parse(url_));
    conn->execute_script("DELETE FROM logchunks");
    conn->execute_script("UPDATE logs SET num_lines = 0, complete = 0");
    auto ours = db::Db::open(url_, options);
    auto other = db::Db::open(url_);  // compresses nothing by itself
    for (int i = 0; i < 300; i += 10) {
      bool theirs = peer == kBetween ? i == 100 : peer == kAfter ? i == 290 : false;
      (theirs ? other : ours)->logs().append_log(30, lines(i, i + 9)).get();
      if (peer == kCompressedBetween && i == 100) other->logs().compress_log(30).get();
    }
    ours->logs().finish_log(30).get();
    ours->shutdown();  // waits for the compression
    Layout after = sql_layout();
    EXPECT_EQ(after.rows, peer == kCompressedBetween ? 2 : 1);
    EXPECT_EQ(after.compressed, after.rows);
    EXPECT_EQ(other->logs().get_log_lines(30, 0, 299).get(), all);
    other->shutdown();
  }
}

TEST_F(SqliteLogs, AppendSplitsLargeContentIntoBoundedChunks) {
  std::string big = lines(0, 19999);  // about 500 KB
  both([&](db::Db& db) { db.logs().append_log(30, big).get(); });
  Layout l = sql_layout();
  EXPECT_GE(l.rows, static_cast<int64_t>(big.size() / (64 * 1024)));
  EXPECT_LE(l.rows, static_cast<int64_t>(big.size() / (60 * 1024)) + 1);
  EXPECT_EQ(l.bytes, static_cast<int64_t>(big.size()) - l.rows);
  EXPECT_EQ(fake_layout(), l);
}

// The rows an append stores are Buildbot's: lines joined by "\n" without the final newline,
// each chunk as many whole lines as stay under 64 KiB, plain (code 0) until compress_log.
TEST_F(SqliteLogs, AppendStoresChunksInBuildbotsLayout) {
  std::string line(1000, 'x');
  std::string big;
  for (int i = 0; i < 100; ++i) big += line + "\n";  // 100 lines of 1000 bytes: 65 + 35
  both([&](db::Db& db) {
    db.logs().append_log(30, "a\nb\n").get();
    db.logs().append_log(30, "\n").get();
    db.logs().append_log(30, big).get();
  });
  auto conn = db::open_connection(db::Url::parse(url_));
  std::vector<std::tuple<int64_t, int64_t, std::string, int64_t>> got;
  for (const auto& r : conn->stmt("SELECT first_line, last_line, content, compressed FROM "
                                  "logchunks WHERE logid = 30 ORDER BY first_line")
                           .all()) {
    got.emplace_back(r.get<int64_t>(0), r.get<int64_t>(1), r.get<db::Blob>(2).bytes,
                     r.get<int64_t>(3));
  }
  std::string first65, rest35;
  for (int i = 0; i < 65; ++i) first65 += (i ? "\n" : "") + line;
  for (int i = 0; i < 35; ++i) rest35 += (i ? "\n" : "") + line;
  ASSERT_EQ(first65.size(), 65064u);  // one more line would reach 65536
  decltype(got) expected{{0, 1, "a\nb", 0}, {2, 2, "", 0}, {3, 67, first65, 0},
                         {68, 102, rest35, 0}};
  EXPECT_EQ(got, expected);
  auto fake_rows = fake_.inspect([](const fake::Store& s) {
    decltype(got) out;
    for (const auto& [key, c] : s.logchunks) {
      if (key.first == 30) out.emplace_back(c.first_line, c.last_line, c.content, c.compressed);
    }
    return out;
  });
  EXPECT_EQ(fake_rows, expected);
}

// compress_log writes the configured codec's code, and every codec reads back.
TEST_F(SqliteLogs, CompressLogWritesTheConfiguredCodec) {
  std::string all = lines(0, 999);
  for (auto codec : {db::LogCompression::kNone, db::LogCompression::kGzip,
                     db::LogCompression::kBzip2, db::LogCompression::kLz4,
                     db::LogCompression::kZstd}) {
    SCOPED_TRACE(static_cast<int>(codec));
    db::DbOptions options;
    options.log_compression = codec;
    auto db = db::Db::open(url_, options);
    fake::FakeDb fake(fake::FakeOptions{.log_compression = codec});
    fake.insert_test_data(base()).get();
    auto conn = db::open_connection(db::Url::parse(url_));
    conn->stmt("DELETE FROM logchunks").exec();
    conn->stmt("UPDATE logs SET num_lines = 0").exec();
    for (db::Db* d : {db.get(), static_cast<db::Db*>(&fake)}) {
      for (int i = 0; i < 1000; i += 50) d->logs().append_log(30, lines(i, i + 49)).get();
    }
    int64_t saved = db->logs().compress_log(30).get();
    EXPECT_EQ(fake.logs().compress_log(30).get(), saved);
    std::vector<int64_t> codes;
    for (const auto& r :
         conn->stmt("SELECT DISTINCT compressed FROM logchunks WHERE logid = 30").all()) {
      codes.push_back(r.get<int64_t>(0));
    }
    EXPECT_EQ(codes, std::vector<int64_t>{static_cast<int64_t>(codec)});
    EXPECT_EQ(fake_layout(fake), sql_layout());
    EXPECT_EQ(db->logs().get_log_lines(30, 0, 999).get(), all);
    EXPECT_EQ(fake.logs().get_log_lines(30, 0, 999).get(), all);
    if (codec == db::LogCompression::kNone) {
      EXPECT_EQ(saved, -19);  // 20 chunks become one: 19 newlines joined them
    } else {
      EXPECT_GT(saved, static_cast<int64_t>(all.size() / 2));
    }
    db->shutdown();
  }
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
  EXPECT_EQ(l.bytes, static_cast<int64_t>(all.size()) - 40 - saved);
  EXPECT_EQ(fake_layout(), l);
  int64_t lines_total = std::count(all.begin(), all.end(), '\n');
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, lines_total).get(), all);
  EXPECT_EQ(db_->logs().compress_log(30).get(), 0);
  EXPECT_EQ(sql_layout(), l);
}


// ------------------------------------------------------------------ bounded memory
// compress_log holds one run of chunks at a time, so a process compressing a log much larger than
// its memory stays small. Proven in a child process, whose peak RSS (VmHWM) is its own: it
// appends a log of YM_LOG_BOUND_MB (default 256) MiB, generated a MiB at a time, compresses it
// and reads it back, checking the lines through a running hash rather than holding them.

// A field of /proc/self/status, in KiB (-1 when missing).
int64_t status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::strtoll(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

// FNV-1a, 64 bits: a running hash of everything appended or read.
struct RunningHash {
  uint64_t h = 1469598103934665603ull;
  void add(std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  }
};

// About 1 MiB of numbered, compressible lines from line `first` on; `next` becomes the line after.
std::string mebibyte_of_lines(int64_t first, int64_t& next) {
  std::string out;
  out.reserve((1 << 20) + 256);
  int64_t i = first;
  while (out.size() < (1 << 20)) {
    out += "line " + std::to_string(i) + ": [" + std::to_string(i % 97) +
           "/97] compiling src/module_" + std::to_string(i % 1013) + ".cpp -O2 -Wall\n";
    ++i;
  }
  next = i;
  return out;
}

// The child's work; returns "key=value" lines for the parent to check (and, for the record only,
// how long each phase took).
std::string compress_large_log(const std::string& url, int64_t mebibytes) {
  std::ostringstream report;
  auto t0 = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point& t) {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
    t = now;
    return ms;
  };
  // Count the peak from here, not the parent's ("5": reset VmHWM to the current RSS).
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  int64_t rss_start = status_kib("VmRSS");
  report << "rss_start_kib=" << rss_start << "\nhwm_start_kib=" << status_kib("VmHWM") << "\n";
  auto db = db::Db::open(url);
  db->insert_test_data(base()).get();
  RunningHash appended;
  int64_t lines = 0;
  for (int64_t m = 0; m < mebibytes; ++m) {
    int64_t next = 0;
    std::string part = mebibyte_of_lines(lines, next);
    auto range = db->logs().append_log(30, part).get();
    if (!range || range->first != lines || range->last != next - 1) {
      throw std::runtime_error("append " + std::to_string(m) + " stored the wrong lines");
    }
    appended.add(part);
    lines = next;
  }
  report << "hwm_appended_kib=" << status_kib("VmHWM") << "\nappend_ms=" << ms_since(t0) << "\n";
  int64_t saved = db->logs().compress_log(30).get();
  report << "hwm_compressed_kib=" << status_kib("VmHWM") << "\ncompress_ms=" << ms_since(t0)
         << "\n";
  RunningHash read;
  int64_t read_lines = 0;
  const int64_t kRange = 20000;  // about 1 MiB of these lines per read
  for (int64_t f = 0; f < lines; f += kRange) {
    std::string text = db->logs().get_log_lines(30, f, f + kRange - 1).get();
    read_lines += std::count(text.begin(), text.end(), '\n');
    read.add(text);
  }
  // A read past the end returns nothing more.
  read_lines += static_cast<int64_t>(db->logs().get_log_lines(30, lines, lines + 10).get().size());
  auto log = db->logs().get_log(30).get();
  report << "read_ms=" << ms_since(t0) << "\n";
  db->shutdown();
  report << "hwm_end_kib=" << status_kib("VmHWM") << "\n"
         << "saved=" << saved << "\nlines=" << lines << "\nread_lines=" << read_lines
         << "\nnum_lines=" << (log ? log->num_lines : -1)
         << "\nhash_equal=" << (appended.h == read.h ? 1 : 0) << "\n";
  return report.str();
}

std::map<std::string, int64_t> parse_report(const std::string& text) {
  std::map<std::string, int64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = std::strtoll(line.c_str() + eq + 1, nullptr, 10);
    }
  }
  return out;
}

TEST(LogsBoundedMemory, CompressingALogFarLargerThanTheBoundStaysWithinIt) {
  const char* env = std::getenv("YM_LOG_BOUND_MB");
  const int64_t mebibytes = env ? std::max<int64_t>(1, std::atoll(env)) : 256;
  const int64_t kBoundKib = 64 * 1024;  // far below the log: a process that held it would fail
  fs::path dir = fs::temp_directory_path() / ("ym-logs-bound-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Cleanup {  // the file is as large as the log: never left behind
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  fs::path file = dir / "big.sqlite";
  std::string url = "sqlite:///" + file.string() + "?synchronous=OFF";

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    int code = 0;
    try {
      out = compress_large_log(url, mebibytes);
    } catch (const std::exception& e) {
      out = std::string("error: ") + e.what() + "\n";
      code = 1;
    }
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child: " << text;
  auto r = parse_report(text);
  RecordProperty("report", text);
  std::cout << text;

  // Every line back exactly once, in order.
  EXPECT_EQ(r["hash_equal"], 1) << text;
  EXPECT_EQ(r["read_lines"], r["lines"]) << text;
  EXPECT_EQ(r["num_lines"], r["lines"]) << text;
  EXPECT_GT(r["saved"], mebibytes * (1 << 20) / 2) << text;
  // The peak, counted from the child's start, stayed far below the log's size. (A compress_log
  // that read the whole log would pass its size; so would one that kept the appended text.)
  ASSERT_LT(r["hwm_start_kib"] - r["rss_start_kib"], 8 * 1024)
      << "the peak (VmHWM) could not be reset to the child's start: " << text;
  EXPECT_LT(r["hwm_end_kib"] - r["rss_start_kib"], kBoundKib) << text;
  EXPECT_LT(kBoundKib, mebibytes * 1024 / 2);

  // Below the interface: the log is now compressed chunks of at most 1 MiB of text each.
  {
    auto conn = db::open_connection(db::Url::parse("sqlite:///" + file.string()));
    auto row = conn->stmt("SELECT COUNT(*), COALESCE(SUM(CASE WHEN compressed = 4 THEN 1 ELSE "
                          "0 END), 0) FROM logchunks WHERE logid = 30")
                   .one();
    int64_t rows = row->get<int64_t>(0);
    EXPECT_EQ(row->get<int64_t>(1), rows) << "every chunk compressed with zstd (code 4)";
    EXPECT_GE(rows, mebibytes);  // 1 MiB of text per merged chunk at most
    EXPECT_LE(rows, 2 * mebibytes);
  }
}

}  // namespace
}  // namespace ym::test
