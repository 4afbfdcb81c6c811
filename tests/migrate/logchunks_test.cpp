// The migration to Buildbot's chunk layout (db/connectors/logs_util.hpp,
// kBuildbotChunkLayoutVersion): a database filled at the version before it with chunks as earlier
// versions stored them (every line newline-terminated; zstd as code 1), upgraded, reads every
// line back identically through the connector, and its rows are in the new layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "db/connectors/logs_util.hpp"
#include "db/db.hpp"
#include "db/migrate/runner.hpp"
#include "db/migrate/schema.hpp"
#include "migrate/fixture.hpp"

namespace ym::test {
namespace {

constexpr int kLayoutVersion = db::internal::kBuildbotChunkLayoutVersion;

void upgrade_chunks_db_to(const std::string& url, int version) {
  auto c = connect(url);
  migrate::UpgradeOptions o;
  o.target = version;
  migrate::upgrade(*c, db::Url::parse(url), o);
}

// A chunk as the previous versions stored it.
struct OldChunk {
  int64_t logid, first, last;
  std::string text;  // every line ending in "\n"
  bool zstd;
};

class LogChunksMigrationOn : public OnBackend {};
INSTANTIATE_TEST_SUITE_P(Backends, LogChunksMigrationOn, testing::ValuesIn(targets()),
                         target_name);

TEST_P(LogChunksMigrationOn, OldChunksAreRewrittenAndEveryLineReadsBackIdentically) {
  std::string url = empty_url("chunks");
  upgrade_chunks_db_to(url, kLayoutVersion - 1);
  auto c = connect(url);
  c->execute_script(
      "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES (1, 'm', 'h', 1, 0);"
      "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'hb');"
      "INSERT INTO buildsets (id, submitted_at) VALUES (1, 0);"
      "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at) VALUES (1, 1, 1, 0);"
      "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, "
      "state_string) VALUES (1, 1, 1, 1, 1, 100, 'done');"
      "INSERT INTO steps (id, number, name, buildid, state_string, urls_json, hidden) "
      "VALUES (1, 0, 's', 1, 'x', '[]', 0);");
  // Logs 1..12: plain and zstd chunks, empty lines, a chunk of one empty line, NUL bytes,
  // multi-byte text, many small chunks (more than one batch of the migration) and a log with
  // no chunks at all.
  std::vector<OldChunk> chunks;
  std::map<int64_t, std::string> expected;
  std::map<int64_t, int64_t> num_lines;
  auto add = [&](int64_t logid, std::string text, bool zstd) {
    int64_t first = num_lines[logid];
    int64_t n = std::count(text.begin(), text.end(), '\n');
    chunks.push_back({logid, first, first + n - 1, text, zstd});
    expected[logid] += text;
    num_lines[logid] += n;
  };
  add(1, "a\nb\n", false);
  add(1, "\n", false);
  add(1, "c\n\n\n", true);
  add(2, std::string("nul \0 byte\n\xC3\xA9t\xC3\xA9\n", 17), false);
  add(2, std::string("\xE2\x9C\x93\0\n", 5), true);
  for (int i = 0; i < 450; ++i) {
    add(3 + i % 9, "line " + std::to_string(i) + " of the output\nand its second line\n", i % 3 == 0);
  }
  std::string big;
  for (int i = 0; i < 5000; ++i) big += "compressed line " + std::to_string(i) + "\n";
  add(11, big, true);
  num_lines[12] = 0;  // no chunks
  for (auto& [logid, n] : num_lines) {
    c->stmt("INSERT INTO logs (id, name, slug, stepid, complete, num_lines, type) "
            "VALUES (?, ?, ?, 1, 1, ?, 's')")
        .bind(logid, "log" + std::to_string(logid), "l" + std::to_string(logid), n)
        .exec();
  }
  for (const auto& ch : chunks) {
    // The previous versions' zstd frames: zstd of the newline-terminated text, code 1.
    std::string content =
        ch.zstd ? db::internal::encode_chunk(ch.text, db::LogCompression::kZstd) : ch.text;
    c->stmt("INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
            "VALUES (?, ?, ?, ?, ?)")
        .bind(ch.logid, ch.first, ch.last, db::Blob{content}, ch.zstd ? 1 : 0)
        .exec();
  }
  c.reset();

  upgrade_chunks_db_to(url, migrate::current_version());

  // Through the connector: every line, and ranges across chunk boundaries.
  auto db = db::Db::open(url);
  for (const auto& [logid, text] : expected) {
    EXPECT_EQ(db->logs().get_log_lines(logid, 0, num_lines[logid]).get(), text) << logid;
    EXPECT_EQ(db->logs().get_log(logid).get()->num_lines, num_lines[logid]) << logid;
  }
  EXPECT_EQ(db->logs().get_log_lines(1, 1, 3).get(), "b\n\nc\n");
  EXPECT_EQ(db->logs().get_log_lines(12, 0, 10).get(), "");
  // Appends and compression carry on in the new layout.
  db->logs().append_log(1, "after\n").get();
  db->logs().compress_log(1).get();
  EXPECT_EQ(db->logs().get_log_lines(1, 0, 100).get(), expected[1] + "after\n");
  db->shutdown();

  // Below: no row is left in the old layout, and no row is lost.
  c = connect(url);
  auto rows = c->stmt("SELECT logid, first_line, last_line, compressed, content FROM logchunks "
                      "WHERE logid <> 1 ORDER BY logid, first_line")
                  .all();
  size_t old_rows = std::count_if(chunks.begin(), chunks.end(),
                                  [](const OldChunk& ch) { return ch.logid != 1; });
  EXPECT_EQ(rows.size(), old_rows);
  for (const auto& r : rows) {
    int64_t code = r.get<int64_t>(3);
    EXPECT_TRUE(code == 0 || code == 4) << code;
    std::string text = db::internal::decode_chunk(r.get<db::Blob>(4).bytes, code, "row");
    EXPECT_EQ(static_cast<int64_t>(std::count(text.begin(), text.end(), '\n')),
              r.get<int64_t>(2) - r.get<int64_t>(1))
        << "log " << r.get<int64_t>(0) << " line " << r.get<int64_t>(1);
  }
}

// Interrupted part way (MySQL runs every version without a surrounding transaction), the step
// runs again: a chunk already in the new layout is recognised and left as it is.
TEST(LogChunksMigration, ARewrittenChunkIsNotRewrittenAgain) {
  using db::internal::rewrite_old_chunk;
  EXPECT_FALSE(rewrite_old_chunk("a\nb", 0, 2, "t"));
  EXPECT_FALSE(rewrite_old_chunk("", 0, 1, "t"));
  auto plain = rewrite_old_chunk("a\nb\n", 0, 2, "t");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->content, "a\nb");
  EXPECT_FALSE(rewrite_old_chunk(plain->content, 0, 2, "t"));
  // An empty line: "\n" was one line; "" is one line now.
  auto empty = rewrite_old_chunk("\n", 0, 1, "t");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->content, "");
  // An old zstd chunk becomes code 4; the rewritten one is not touched again.
  auto z = rewrite_old_chunk(db::internal::encode_chunk("x\ny\n", db::LogCompression::kZstd), 1,
                             2, "t");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->code, 4);
  EXPECT_EQ(db::internal::decode_chunk(z->content, 4, "t"), "x\ny");
  EXPECT_FALSE(rewrite_old_chunk(z->content, 4, 2, "t"));
  // A real zlib chunk (code 1 as Buildbot means it) is not mistaken for an old one.
  EXPECT_FALSE(rewrite_old_chunk(db::internal::encode_chunk("x\ny", db::LogCompression::kGzip), 1,
                                 2, "t"));
}

}  // namespace
}  // namespace ym::test
