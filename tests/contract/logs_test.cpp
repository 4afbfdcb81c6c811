#include <atomic>
#include <set>

#include "contract/fixture.hpp"
#include "db/base.hpp"
#include "db/connectors/logs_util.hpp"

namespace ym::test {
namespace {

using db::LineRange;

YM_CONTRACT_SUITE(LogsContract);

// Steps: 5 started at 1000, 6 started at 5000, 7 not started; all in build 1.
std::vector<td::Row> base() {
  return {td::Master{.id = 10, .name = "m10"},
          td::Builder{.id = 20, .name = "b20"},
          td::Buildset{.id = 40},
          td::BuildRequest{.id = 41, .buildsetid = 40, .builderid = 20},
          td::Build{.id = 1, .number = 1, .builderid = 20, .buildrequestid = 41, .masterid = 10},
          td::Step{.id = 5, .number = 0, .name = "old", .buildid = 1, .started_at = 1000},
          td::Step{.id = 6, .number = 1, .name = "new", .buildid = 1, .started_at = 5000},
          td::Step{
              .id = 7, .number = 2, .name = "unstarted", .buildid = 1, .started_at = std::nullopt}};
}

// "line <i> ..." lines first..last, each newline-terminated; compressible.
std::string numbered(int first, int last) {
  std::string out;
  for (int i = first; i <= last; ++i) {
    out += "line " + std::to_string(i) + " of the build output, compiling module " +
           std::to_string(i % 17) + "\n";
  }
  return out;
}

// Appends lines 0..n-1 in appends of `per_append` lines; returns the whole text.
std::string fill(db::Db& db, int64_t logid, int n, int per_append) {
  std::string all;
  for (int i = 0; i < n; i += per_append) {
    std::string part = numbered(i, std::min(n, i + per_append) - 1);
    db.logs().append_log(logid, part).get();
    all += part;
  }
  return all;
}

// Lines first..last of newline-terminated `text`.
std::string slice(const std::string& text, int64_t first, int64_t last) {
  std::string out;
  int64_t line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (line >= first && line <= last) out.append(text, pos, nl - pos + 1);
    pos = nl + 1;
    ++line;
  }
  return out;
}

// ------------------------------------------------------------------ add_log and getters

TEST_P(LogsContract, AddLogCreatesAnEmptyLog) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "Standard I/O", "stdio", "s").get();
  db::Log expected{id, "Standard I/O", "stdio", 5, false, 0, "s"};
  EXPECT_EQ(db_->logs().get_log(id).get(), std::optional<db::Log>(expected));
  EXPECT_EQ(db_->logs().get_log_by_slug(5, "stdio").get(), std::optional<db::Log>(expected));
  EXPECT_FALSE(db_->logs().get_log(id + 1000).get());
  EXPECT_FALSE(db_->logs().get_log_by_slug(5, "other").get());
  EXPECT_FALSE(db_->logs().get_log_by_slug(6, "stdio").get());
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 100).get(), "");
}

TEST_P(LogsContract, GetLogsOrdersById) {
  insert(base());
  insert({td::Log{.id = 31, .name = "b", .slug = "b", .stepid = 5},
          td::Log{.id = 30,
                  .name = "a",
                  .slug = "a",
                  .stepid = 5,
                  .complete = true,
                  .num_lines = 4,
                  .type = "t"},
          td::Log{.id = 32, .name = "c", .slug = "c", .stepid = 6}});
  auto logs = db_->logs().get_logs(5).get();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0], (db::Log{30, "a", "a", 5, true, 4, "t"}));
  EXPECT_EQ(logs[1].id, 31);
  EXPECT_TRUE(db_->logs().get_logs(99).get().empty());
  // No step: every log, ordered by id (Buildbot's getLogs(stepid=None)).
  auto all = db_->logs().get_logs().get();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, 30);
  EXPECT_EQ(all[1].id, 31);
  EXPECT_EQ(all[2], (db::Log{32, "c", "c", 6, false, 0, "s"}));
}

TEST_P(LogsContract, GetLogsOfNoStepInAnEmptyDatabaseIsEmpty) {
  EXPECT_TRUE(db_->logs().get_logs().get().empty());
}

TEST_P(LogsContract, AddLogNameIsFreeText) {
  insert(base());
  std::string name = "Test results \xE2\x9C\x93 " + std::string(500, 'n');
  int64_t id = db_->logs().add_log(5, name, "results", "h").get();
  EXPECT_EQ(db_->logs().get_log(id).get()->name, name);
}

TEST_P(LogsContract, AddLogRejectsBadInputAndChangesNothing) {
  insert(base());
  db_->logs().add_log(5, "stdio", "stdio", "s").get();
  for (std::string bad : {std::string(""), std::string("has space"), std::string("1st"),
                          std::string(db::kLogSlugMax + 1, 'x')}) {
    EXPECT_THROW(db_->logs().add_log(5, "n", bad, "s").get(), db::InvalidIdentifier) << bad;
  }
  // As Buildbot's addLog: only t, s and h; "d" is set by delete_old_log_chunks alone.
  for (std::string bad : {std::string(""), std::string("st"), std::string("\xC3\xA9"),
                          std::string(" "), std::string("d"), std::string("x"), std::string("S")}) {
    EXPECT_THROW(db_->logs().add_log(5, "n", "slug", bad).get(), db::InvalidArgument) << bad;
  }
  EXPECT_THROW(db_->logs().add_log(5, "bad \xff", "slug", "s").get(), db::InvalidArgument);
  // A bad type is told first, as Buildbot's addLog asserts it before anything else.
  EXPECT_THROW(db_->logs().add_log(5, "n", "bad slug", "z").get(), db::InvalidArgument);
  EXPECT_THROW(db_->logs().add_log(99, "n", "slug", "s").get(), db::NotFound);
  EXPECT_THROW(db_->logs().add_log(5, "again", "stdio", "s").get(), db::AlreadyExists);
  auto logs = db_->logs().get_logs(5).get();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].name, "stdio");
  // The same slug in another step is fine.
  EXPECT_NO_THROW(db_->logs().add_log(6, "stdio", "stdio", "s").get());
}

TEST_P(LogsContract, RacingAddLogOfOneSlugCreatesOneLog) {
  insert(base());
  std::atomic<int> created{0}, refused{0};
  race(8, [&](int i) {
    try {
      db_->logs().add_log(5, "n" + std::to_string(i), "same", "s").get();
      ++created;
    } catch (const db::AlreadyExists&) {
      ++refused;
    }
  });
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  EXPECT_EQ(db_->logs().get_logs(5).get().size(), 1u);
}

TEST_P(LogsContract, FinishLogMarksCompleteAndIgnoresUnknownLogs) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  db_->logs().finish_log(id).get();
  db_->logs().finish_log(id).get();
  EXPECT_TRUE(db_->logs().get_log(id).get()->complete);
  EXPECT_NO_THROW(db_->logs().finish_log(id + 1000).get());
}

// ------------------------------------------------------------------ append_log

TEST_P(LogsContract, AppendLogNumbersLinesFromZero) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  EXPECT_EQ(db_->logs().append_log(id, "a\nb\n").get(), std::optional<LineRange>({0, 1}));
  EXPECT_EQ(db_->logs().append_log(id, "c\n").get(), std::optional<LineRange>({2, 2}));
  EXPECT_EQ(db_->logs().append_log(id, "\n\nd\n").get(), std::optional<LineRange>({3, 5}));
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 6);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 5).get(), "a\nb\nc\n\n\nd\n");
}

TEST_P(LogsContract, AppendLogRequiresATrailingNewline) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  EXPECT_THROW(db_->logs().append_log(id, "no newline").get(), db::InvalidArgument);
  EXPECT_THROW(db_->logs().append_log(id, "").get(), db::InvalidArgument);
  EXPECT_THROW(db_->logs().append_log(id, "a\nb").get(), db::InvalidArgument);
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 0);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 10).get(), "");
}

TEST_P(LogsContract, AppendLogToAnUnknownLogDoesNothing) {
  EXPECT_EQ(db_->logs().append_log(12345, "a\n").get(), std::nullopt);
  EXPECT_EQ(db_->logs().get_log_lines(12345, 0, 10).get(), "");
}

TEST_P(LogsContract, LongLineIsCutAtACharacterBoundary) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  // "xy" then 3-byte characters: byte kMaxLogLineBytes falls inside a character.
  std::string check = "\xE2\x9C\x93";
  std::string long_line = "xy";
  while (long_line.size() < 200 * 1024) long_line += check;
  std::string exact(db::kMaxLogLineBytes, 'e');
  auto range = db_->logs().append_log(id, long_line + "\nafter\n" + exact + "\n").get();
  EXPECT_EQ(range, std::optional<LineRange>({0, 2}));
  std::string first = db_->logs().get_log_lines(id, 0, 0).get();
  std::string expected = "xy";
  while (expected.size() + check.size() <= db::kMaxLogLineBytes) expected += check;
  EXPECT_EQ(expected.size(), db::kMaxLogLineBytes - 1);  // one byte short: a whole character
  EXPECT_EQ(first, expected + "\n");
  EXPECT_TRUE(db::is_valid_utf8(first));
  EXPECT_EQ(db_->logs().get_log_lines(id, 1, 2).get(), "after\n" + exact + "\n");
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 3);
}

TEST_P(LogsContract, InvalidUtf8IsStoredWithReplacementCharacters) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  EXPECT_EQ(db_->logs().append_log(id, "ok \xff\xfe end\n\xC3\ncaf\xC3\xA9\n").get(),
            std::optional<LineRange>({0, 2}));
  std::string got = db_->logs().get_log_lines(id, 0, 2).get();
  EXPECT_EQ(got, "ok \xEF\xBF\xBD\xEF\xBF\xBD end\n\xEF\xBF\xBD\ncaf\xC3\xA9\n");
  EXPECT_TRUE(db::is_valid_utf8(got));
}

// ------------------------------------------------------------------ get_log_lines

TEST_P(LogsContract, GetLogLinesReturnsExactlyTheRequestedLines) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  // One big append (several chunks) then many small ones (one chunk each).
  std::string all = numbered(0, 2999);
  EXPECT_EQ(db_->logs().append_log(id, all).get(), std::optional<LineRange>({0, 2999}));
  for (int i = 3000; i < 3100; i += 7) {
    std::string part = numbered(i, i + 6);
    db_->logs().append_log(id, part).get();
    all += part;
  }
  const int64_t n = 3100 + 5;  // 3000 + 15 appends of 7
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, n);
  auto lines = [&](int64_t f, int64_t l) { return db_->logs().get_log_lines(id, f, l).get(); };
  EXPECT_EQ(lines(0, n - 1), all);
  EXPECT_EQ(lines(0, 0), slice(all, 0, 0));
  EXPECT_EQ(lines(1234, 1234), slice(all, 1234, 1234));
  EXPECT_EQ(lines(n - 1, n - 1), slice(all, n - 1, n - 1));
  // Ranges across chunk boundaries wherever they are.
  for (int64_t f = 0; f < n; f += 97) {
    EXPECT_EQ(lines(f, f + 700), slice(all, f, f + 700)) << f;
  }
  for (int64_t f = 2990; f < 3020; ++f) EXPECT_EQ(lines(f, f + 3), slice(all, f, f + 3)) << f;
  // Past the end: only the lines that exist.
  EXPECT_EQ(lines(n - 2, n + 100), slice(all, n - 2, n - 1));
  EXPECT_EQ(lines(n, n + 10), "");
  // Empty or negative ranges.
  EXPECT_EQ(lines(10, 9), "");
  EXPECT_EQ(lines(-5, -1), "");
  EXPECT_EQ(lines(-5, 1), slice(all, 0, 1));
  EXPECT_EQ(db_->logs().get_log_lines(id + 1000, 0, 10).get(), "");
}

TEST_P(LogsContract, GetLogLinesReadsStoredChunks) {
  insert(base());
  // Buildbot's layout: lines joined by "\n", no final newline; "" is one empty line.
  insert({td::Log{.id = 30, .slug = "s", .stepid = 5, .num_lines = 6},
          td::LogChunk{.logid = 30, .first_line = 0, .last_line = 1, .content = "a\nb"},
          td::LogChunk{.logid = 30, .first_line = 2, .last_line = 4, .content = "c\nd\ne"},
          td::LogChunk{.logid = 30, .first_line = 5, .last_line = 5, .content = ""}});
  EXPECT_EQ(db_->logs().get_log_lines(30, 1, 3).get(), "b\nc\nd\n");
  EXPECT_EQ(db_->logs().append_log(30, "f\n").get(), std::optional<LineRange>({6, 6}));
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 10).get(), "a\nb\nc\nd\ne\n\nf\n");
}

// Chunks of every code Buildbot writes (and zstd, code 4, as Buildbot 4.1 and later write it),
// as a database written by Buildbot holds them, read back line for line.
TEST_P(LogsContract, GetLogLinesReadsChunksOfEveryCodec) {
  insert(base());
  using db::LogCompression;
  std::vector<td::Row> rows;
  std::string all;
  int64_t line = 0;
  for (LogCompression codec : {LogCompression::kNone, LogCompression::kGzip,
                               LogCompression::kBzip2, LogCompression::kLz4,
                               LogCompression::kZstd}) {
    std::string text = numbered(static_cast<int>(line), static_cast<int>(line) + 49);
    all += text;
    text.pop_back();
    rows.push_back(td::LogChunk{.logid = 30,
                                .first_line = line,
                                .last_line = line + 49,
                                .content = db::internal::encode_chunk(text, codec),
                                .compressed = static_cast<int>(codec)});
    line += 50;
  }
  insert({td::Log{.id = 30, .slug = "s", .stepid = 5, .num_lines = line}});
  insert(rows);
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, line - 1).get(), all);
  for (int64_t f = 0; f < line; f += 23) {
    EXPECT_EQ(db_->logs().get_log_lines(30, f, f + 30).get(), slice(all, f, f + 30)) << f;
  }
  // Appends continue the log; forcing compress_log turns every chunk into the configured codec.
  std::string more = numbered(250, 259);
  db_->logs().append_log(30, more).get();
  all += more;
  db_->logs().compress_log(30, /*force=*/true).get();
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 259).get(), all);
  EXPECT_EQ(db_->logs().compress_log(30, /*force=*/true).get(), 0);
}

// A chunk that cannot be read is a typed error, never a crash or made-up text.
TEST_P(LogsContract, AnUnreadableChunkIsATypedError) {
  insert(base());
  std::string zstd = db::internal::encode_chunk(numbered(0, 99), db::LogCompression::kZstd);
  std::string gzip = db::internal::encode_chunk(numbered(0, 99), db::LogCompression::kGzip);
  insert({td::Log{.id = 30, .slug = "a", .stepid = 5, .num_lines = 1},
          td::Log{.id = 31, .slug = "b", .stepid = 5, .num_lines = 1},
          td::Log{.id = 32, .slug = "c", .stepid = 5, .num_lines = 1},
          td::Log{.id = 33, .slug = "d", .stepid = 5, .num_lines = 1},
          td::Log{.id = 34, .slug = "e", .stepid = 5, .num_lines = 1},
          // Brotli (Buildbot 4's code 5) and beyond are not read.
          td::LogChunk{.logid = 30, .first_line = 0, .last_line = 0, .content = "x", .compressed = 5},
          td::LogChunk{.logid = 31, .first_line = 0, .last_line = 0, .content = "not zlib",
                       .compressed = 1},
          td::LogChunk{.logid = 32, .first_line = 0, .last_line = 0,
                       .content = zstd.substr(0, zstd.size() / 2), .compressed = 4},
          td::LogChunk{.logid = 33, .first_line = 0, .last_line = 0,
                       .content = gzip.substr(0, gzip.size() - 8), .compressed = 1},
          td::LogChunk{.logid = 34, .first_line = 0, .last_line = 0, .content = "\xff\xff\xff\x7f",
                       .compressed = 3},
          });
  for (int64_t id : {30, 31, 32, 33, 34}) {
    EXPECT_THROW(db_->logs().get_log_lines(id, 0, 0).get(), db::UnreadableLogChunk) << id;
  }
  try {
    db_->logs().get_log_lines(30, 0, 0).get();
  } catch (const db::UnreadableLogChunk& e) {
    EXPECT_NE(std::string(e.what()).find("log 30, chunk at line 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("code 5"), std::string::npos) << e.what();
  }
}

// Buildbot 3.7 writes chunks holding fewer lines than their range (below): they read with the
// missing lines empty at the chunk's end, never failing; extra lines past the range are ignored.
TEST_P(LogsContract, AChunkWithFewerLinesThanItsRangeReadsItsMissingLinesEmpty) {
  insert(base());
  insert({td::Log{.id = 30, .slug = "s", .stepid = 5, .num_lines = 7},
          td::LogChunk{.logid = 30, .first_line = 0, .last_line = 3, .content = "a\nb\nc"},
          td::LogChunk{.logid = 30, .first_line = 4, .last_line = 5, .content = "d\ne\nf"},
          td::LogChunk{.logid = 30, .first_line = 6, .last_line = 6, .content = "g"}});
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 9).get(), "a\nb\nc\n\nd\ne\ng\n");
  EXPECT_EQ(db_->logs().get_log_lines(30, 3, 4).get(), "\nd\n");
  EXPECT_EQ(db_->logs().get_log_lines(30, 2, 2).get(), "c\n");
}

// Buildbot 3.7 stores no chunk for an append of one empty line ("\n"), so its getLogLines
// then returns "" for a line that num_lines counts. We store the line (a chunk "" of one line):
// docs/buildbot-compatibility.md.
TEST_P(LogsContract, AnAppendOfOneEmptyLineKeepsTheLine) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  EXPECT_EQ(db_->logs().append_log(id, "\n").get(), std::optional<LineRange>({0, 0}));
  EXPECT_EQ(db_->logs().append_log(id, "a\n\n").get(), std::optional<LineRange>({1, 2}));
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 3);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 0).get(), "\n");
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 9).get(), "\na\n\n");
  db_->logs().compress_log(id).get();
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 9).get(), "\na\n\n");
}

// ------------------------------------------------------------------ compress_log

TEST_P(LogsContract, CompressLogKeepsEveryLineAndSavesSpace) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  std::string all = fill(*db_, id, 4000, 20);  // 200 small chunks
  db_->logs().finish_log(id).get();
  int64_t saved = db_->logs().compress_log(id).get();
  EXPECT_GT(saved, static_cast<int64_t>(all.size() / 2));  // repetitive text shrinks a lot
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 3999).get(), all);
  for (int64_t f = 0; f < 4000; f += 333) {
    EXPECT_EQ(db_->logs().get_log_lines(id, f, f + 50).get(), slice(all, f, f + 50)) << f;
  }
  EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 4000);
  // Nothing left to do.
  EXPECT_EQ(db_->logs().compress_log(id).get(), 0);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 3999).get(), all);
}

TEST_P(LogsContract, AppendAfterCompressLogContinuesTheLog) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  std::string all = fill(*db_, id, 500, 10);
  EXPECT_GT(db_->logs().compress_log(id).get(), 0);
  std::string more = numbered(500, 899);
  EXPECT_EQ(db_->logs().append_log(id, more).get(), std::optional<LineRange>({500, 899}));
  all += more;
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 899).get(), all);
  EXPECT_EQ(db_->logs().get_log_lines(id, 495, 505).get(), slice(all, 495, 505));
  EXPECT_GT(db_->logs().compress_log(id).get(), 0);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 899).get(), all);
}

TEST_P(LogsContract, CompressLogOfAnEmptyOrUnknownLogSavesNothing) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  EXPECT_EQ(db_->logs().compress_log(id).get(), 0);
  EXPECT_EQ(db_->logs().compress_log(id + 1000).get(), 0);
}

// Without force, chunks already compressed (here with gzip, as Buildbot writes them) stay as they
// are; with force they are decoded and merged into the configured codec. Either way the lines
// read the same, and a second forced call has nothing left to do.
TEST_P(LogsContract, CompressLogWithForceRecompressesChunksOfAnotherCodec) {
  insert(base());
  std::vector<td::Row> rows{td::Log{.id = 30, .slug = "s", .stepid = 5, .num_lines = 400}};
  std::string all;
  for (int first = 0; first < 400; first += 20) {
    std::string text = numbered(first, first + 19);
    all += text;
    text.pop_back();
    rows.push_back(td::LogChunk{.logid = 30,
                                .first_line = first,
                                .last_line = first + 19,
                                .content = db::internal::encode_chunk(text, db::LogCompression::kGzip),
                                .compressed = 1});
  }
  insert(rows);
  EXPECT_EQ(db_->logs().compress_log(30).get(), 0);
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 399).get(), all);
  EXPECT_GT(db_->logs().compress_log(30, /*force=*/true).get(), 0);  // one zstd chunk beats 20
  EXPECT_EQ(db_->logs().get_log_lines(30, 0, 399).get(), all);
  for (int64_t f = 0; f < 400; f += 37) {
    EXPECT_EQ(db_->logs().get_log_lines(30, f, f + 25).get(), slice(all, f, f + 25)) << f;
  }
  EXPECT_EQ(db_->logs().compress_log(30, /*force=*/true).get(), 0);
  EXPECT_EQ(db_->logs().compress_log(30).get(), 0);
}

TEST_P(LogsContract, CompressLogLeavesAnIncompressibleLineAlone) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  db_->logs().append_log(id, "x\n").get();  // too small to shrink
  EXPECT_EQ(db_->logs().compress_log(id).get(), 0);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 0).get(), "x\n");
}

TEST_P(LogsContract, ReadersNeverMissALineWhileCompressLogRuns) {
  insert(base());
  int64_t id = db_->logs().add_log(5, "n", "s", "s").get();
  std::string all = fill(*db_, id, 3000, 15);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0};
  race(3, [&](int i) {
    if (i == 0) {
      EXPECT_GT(db_->logs().compress_log(id).get(), 0);
      done = true;
      return;
    }
    // Readers: the whole log, and a window that moves across chunk boundaries.
    for (int k = 0; !done || k < 5; ++k) {
      int64_t f = (k * 131 + i * 17) % 2900;
      if (db_->logs().get_log_lines(id, 0, 2999).get() != all) ++bad;
      if (db_->logs().get_log_lines(id, f, f + 90).get() != slice(all, f, f + 90)) ++bad;
      ++reads;
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(reads.load(), 10);
  EXPECT_EQ(db_->logs().get_log_lines(id, 0, 2999).get(), all);
}

// ------------------------------------------------------------------ delete_old_log_chunks

TEST_P(LogsContract, DeleteOldLogChunksKeepsLineCountsAndMarksLogsDeleted) {
  insert(base());
  int64_t old1 = db_->logs().add_log(5, "a", "a", "s").get();
  int64_t old2 = db_->logs().add_log(5, "b", "b", "t").get();
  int64_t fresh = db_->logs().add_log(6, "c", "c", "s").get();
  int64_t unstarted = db_->logs().add_log(7, "d", "d", "s").get();
  fill(*db_, old1, 300, 30);
  fill(*db_, old2, 10, 10);
  std::string fresh_text = fill(*db_, fresh, 50, 10);
  std::string unstarted_text = fill(*db_, unstarted, 5, 5);
  // The number of chunks deleted, as Buildbot: 10 appends to old1, 1 to old2.
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 11);
  for (int64_t id : {old1, old2}) {
    auto log = db_->logs().get_log(id).get();
    EXPECT_EQ(log->type, "d");
    EXPECT_EQ(db_->logs().get_log_lines(id, 0, 1000).get(), "");
  }
  EXPECT_EQ(db_->logs().get_log(old1).get()->num_lines, 300);
  EXPECT_EQ(db_->logs().get_log(old2).get()->num_lines, 10);
  EXPECT_EQ(db_->logs().get_log(fresh).get()->type, "s");
  EXPECT_EQ(db_->logs().get_log_lines(fresh, 0, 49).get(), fresh_text);
  EXPECT_EQ(db_->logs().get_log_lines(unstarted, 0, 4).get(), unstarted_text);
  // Already deleted logs are not counted again; the cut-off is strict.
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 0);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(5000)).get(), 0);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(5001)).get(), 5);
  EXPECT_EQ(db_->logs().get_log_lines(fresh, 0, 49).get(), "");
  EXPECT_EQ(db_->logs().get_log(unstarted).get()->type, "s");
}

// A deleted log still takes appends (as in Buildbot); the next deletion removes them too, so an
// old log keeps no lines, and its line count goes on.
TEST_P(LogsContract, DeleteOldLogChunksAlsoDeletesWhatWasAppendedToADeletedLog) {
  insert(base());
  int64_t old = db_->logs().add_log(5, "a", "a", "s").get();
  fill(*db_, old, 4, 2);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 2);
  EXPECT_EQ(db_->logs().append_log(old, "late\nlater\n").get(), (db::LineRange{4, 5}));
  EXPECT_EQ(db_->logs().get_log_lines(old, 4, 5).get(), "late\nlater\n");
  EXPECT_EQ(db_->logs().get_log(old).get()->type, "d");
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 1);
  EXPECT_EQ(db_->logs().get_log_lines(old, 0, 5).get(), "");
  EXPECT_EQ(db_->logs().get_log(old).get()->num_lines, 6);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 0);
}

// Compressing a log whose first lines were deleted keeps every remaining line at its number
// (Buildbot's compressLog writes the merged chunk as if it started at line 0).
TEST_P(LogsContract, CompressLogAfterDeletionKeepsTheLineNumbers) {
  insert(base());
  int64_t old = db_->logs().add_log(5, "a", "a", "s").get();
  fill(*db_, old, 4, 2);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 2);
  db_->logs().append_log(old, "four\n").get();
  db_->logs().append_log(old, "five\nsix\n").get();
  db_->logs().compress_log(old, true).get();
  EXPECT_EQ(db_->logs().get_log_lines(old, 0, 3).get(), "");
  EXPECT_EQ(db_->logs().get_log_lines(old, 4, 6).get(), "four\nfive\nsix\n");
  EXPECT_EQ(db_->logs().get_log_lines(old, 5, 5).get(), "five\n");
  EXPECT_EQ(db_->logs().get_log_lines(old, 0, 4).get(), "four\n");
}

TEST_P(LogsContract, DeleteOldLogChunksCountsEveryLogAcrossBatches) {
  insert(base());
  std::vector<td::Row> rows;
  for (int i = 0; i < 250; ++i) {
    int64_t id = 100 + i;
    rows.push_back(td::Log{
        .id = id, .name = "l", .slug = "l" + std::to_string(i), .stepid = 5, .num_lines = 2});
    rows.push_back(td::LogChunk{.logid = id, .first_line = 0, .last_line = 0, .content = "a"});
    rows.push_back(td::LogChunk{.logid = id, .first_line = 1, .last_line = 1, .content = "b"});
  }
  insert(rows);
  EXPECT_EQ(db_->logs().delete_old_log_chunks(clock_.at(2000)).get(), 500);
  for (int64_t id : {100, 199, 200, 349}) {
    EXPECT_EQ(db_->logs().get_log(id).get()->type, "d") << id;
    EXPECT_EQ(db_->logs().get_log(id).get()->num_lines, 2) << id;
    EXPECT_EQ(db_->logs().get_log_lines(id, 0, 1).get(), "") << id;
  }
}

}  // namespace
}  // namespace ym::test
