// Internal to db/ and fake/: how log text becomes chunks and back. Both the SQL connector and the
// fake store logs through these functions (defined in db/connectors/logs.cpp, the one file that
// includes <zstd.h>), so that they clean lines, cut chunks and compress identically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ym::db::internal {

// An append is stored in chunks of about this much text (a chunk holds at least one line).
inline constexpr size_t kLogChunkBytes = 64 * 1024;
// compress_log merges consecutive chunks into compressed chunks of up to this much text,
inline constexpr size_t kCompressedChunkBytes = 1024 * 1024;
// and of at most this many chunks, so that the rows of one run stay few even in a log appended a
// line at a time (one chunk per line): compress_log holds one run in memory at a time.
inline constexpr size_t kCompressedChunkMaxChunks = 4096;

// Lines ready to store: `text` is `lines` lines, each ending in "\n".
struct ChunkText {
  int64_t lines = 0;
  std::string text;
};

// Checks and cleans the content of an append: InvalidArgument unless it ends with "\n"; invalid
// UTF-8 becomes U+FFFD; a line longer than kMaxLogLineBytes is cut at a character boundary.
// Returns the lines grouped into chunks of about kLogChunkBytes.
std::vector<ChunkText> prepare_log_content(std::string_view content);

// zstd. decompress_chunk throws InternalError for data that is not a zstd frame.
std::string compress_chunk(std::string_view raw);
std::string decompress_chunk(std::string_view data);

// Appends to `out` the lines first..last (inclusive) of `text`, whose first line is numbered
// `chunk_first`.
void append_lines(std::string_view text, int64_t chunk_first, int64_t first, int64_t last,
                  std::string& out);

// A stored, uncompressed chunk, as compress_log reads it.
struct StoredChunk {
  int64_t first_line = 0;
  int64_t last_line = 0;
  std::string content;
};

// Where a stored, uncompressed chunk is and how long its text is: all that compress_log needs to
// choose its runs, so that it can choose them without reading the text.
struct ChunkSpan {
  int64_t first_line = 0;
  int64_t last_line = 0;
  size_t bytes = 0;
};

// The run of chunks compress_log is gathering: consecutive line ranges, up to
// kCompressedChunkBytes of text and kCompressedChunkMaxChunks chunks. Fed the log's uncompressed
// chunks in ascending order, it closes a run (accepts() false) exactly where plan_compression
// does, whether the chunks come from memory (the fake) or a page at a time from SQL.
class CompressionRun {
 public:
  bool empty() const { return firsts_.empty(); }
  bool accepts(const ChunkSpan& c) const {
    return empty() || (c.first_line == lasts_.back() + 1 &&
                       bytes_ + c.bytes <= kCompressedChunkBytes &&
                       firsts_.size() < kCompressedChunkMaxChunks);
  }
  void add(const ChunkSpan& c) {
    firsts_.push_back(c.first_line);
    lasts_.push_back(c.last_line);
    bytes_ += c.bytes;
  }
  const std::vector<int64_t>& firsts() const { return firsts_; }
  const std::vector<int64_t>& lasts() const { return lasts_; }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<int64_t> firsts_, lasts_;
  size_t bytes_ = 0;
};

// One replacement compress_log makes: the chunks first_line..last_line listed in `replaced` (by
// first line) become one chunk holding `content`.
struct ChunkMerge {
  int64_t first_line = 0;
  int64_t last_line = 0;
  std::vector<int64_t> replaced;       // first_line of each replaced chunk, ascending
  std::vector<int64_t> replaced_last;  // last_line of each, in the same order
  std::string content;
  bool compressed = false;
  int64_t saved = 0;  // stored bytes before minus after
};

// The replacement of one run, given the stored text of each of its chunks in order: one
// compressed chunk when zstd makes the run smaller, one plain chunk when a run of several chunks
// does not shrink (fewer rows still make reads cheaper), nullopt for a lone chunk that does not
// shrink (so that a second compress_log finds nothing to do). Runs off the database threads.
std::optional<ChunkMerge> merge_run(const CompressionRun& run,
                                    const std::vector<std::string_view>& texts);

// Plans compress_log over a log's uncompressed chunks (ascending by first_line), all in memory:
// the runs of CompressionRun, each merged by merge_run. For the fake, which holds the log in
// memory anyway; the SQL connector plans run by run.
std::vector<ChunkMerge> plan_compression(const std::vector<StoredChunk>& chunks);

}  // namespace ym::db::internal
