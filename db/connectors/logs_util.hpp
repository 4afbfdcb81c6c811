// Internal to db/ and fake/: how log text becomes chunks and back. Both the SQL connector and the
// fake store logs through these functions (defined in db/connectors/logs.cpp, the one file that
// includes <zstd.h>), so that they clean lines, cut chunks and compress identically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ym::db::internal {

// An append is stored in chunks of about this much text (a chunk holds at least one line).
inline constexpr size_t kLogChunkBytes = 64 * 1024;
// compress_log merges consecutive chunks into compressed chunks of up to this much text.
inline constexpr size_t kCompressedChunkBytes = 1024 * 1024;

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

// Plans compress_log over a log's uncompressed chunks (ascending by first_line): consecutive
// chunks are merged up to kCompressedChunkBytes of text and compressed when that makes them
// smaller. A lone chunk that does not shrink is left alone, so that a second call finds nothing
// to do. Runs off the database threads.
std::vector<ChunkMerge> plan_compression(const std::vector<StoredChunk>& chunks);

}  // namespace ym::db::internal
