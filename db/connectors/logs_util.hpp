// Internal to db/ and fake/: how log text becomes chunks and back. Both the SQL connector and the
// fake store logs through these functions (defined in db/connectors/logs.cpp, the one file that
// includes the codecs' headers), so that they cut chunks, compress and read identically.
//
// The layout is Buildbot's: a chunk holds the lines first_line..last_line of one log, joined by
// "\n" and without the final newline (so a chunk of one empty line is ""), encoded as its
// `compressed` code says (LogCompression: 0 plain, 1 zlib, 2 bzip2, 3 lz4 block with its size,
// 4 zstd frames).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/connectors/logs.hpp"

namespace ym::db::internal {

// The schema version whose migration rewrote the chunks stored by earlier versions (every line
// newline-terminated, code 1 for zstd) into this layout (db/migrate/migrations.cpp). The one
// place that names it; the lead renumbers it at merge.
inline constexpr int kBuildbotChunkLayoutVersion = 6;

// Rewrites one chunk stored by a version before kBuildbotChunkLayoutVersion into this layout:
// the new content and code, or nullopt when the chunk is already in this layout (so that the
// migration can run again after an interruption). `lines` is last_line - first_line + 1.
struct RewrittenChunk {
  std::string content;
  int64_t code = 0;
};
std::optional<RewrittenChunk> rewrite_old_chunk(std::string_view content, int64_t code,
                                                int64_t lines, const std::string& where);

// Buildbot's MAX_CHUNK_SIZE: an append's chunks hold less text than this (each as many whole
// lines as fit; a line is at most kMaxLogLineBytes, so one always fits).
inline constexpr size_t kLogChunkBytes = 64 * 1024;
// compress_log merges consecutive chunks into chunks of up to this much data (as stored),
inline constexpr size_t kCompressedChunkBytes = 1024 * 1024;
// and of at most this many chunks, so that the rows of one run stay few even in a log appended a
// line at a time (one chunk per line): compress_log holds one run in memory at a time.
inline constexpr size_t kCompressedChunkMaxChunks = 4096;
// A stored chunk that decodes to more than this is refused as unreadable (a damaged or hostile
// row must not exhaust memory); ours hold at most a few MiB.
inline constexpr size_t kMaxDecodedChunkBytes = 256u * 1024 * 1024;

// Lines ready to store: `text` is `lines` lines joined by "\n", without the final newline.
struct ChunkText {
  int64_t lines = 0;
  std::string text;
};

// Checks and cleans the content of an append: InvalidArgument unless it ends with "\n"; invalid
// UTF-8 becomes U+FFFD; a line longer than kMaxLogLineBytes is cut at a character boundary.
// Returns the lines in chunks cut as Buildbot 3.7 cuts them (each as many whole lines as keep
// it under kLogChunkBytes).
std::vector<ChunkText> prepare_log_content(std::string_view content);

// The text get_log_lines returns for these chunks: each line newline-terminated.
std::string as_read(const std::vector<ChunkText>& chunks);

// Encodes a chunk's text with `codec` (kNone returns it unchanged).
std::string encode_chunk(std::string_view text, LogCompression codec);
// Decodes a stored chunk of code `code`. Throws UnreadableLogChunk for an unknown code or data
// the codec rejects (`where` names the chunk in the message).
std::string decode_chunk(std::string_view data, int64_t code, const std::string& where);
// Whether `code` is one decode_chunk knows.
bool known_code(int64_t code);

// Appends to `out` the lines first..last (inclusive) of a chunk's decoded `text`, which holds
// the lines chunk_first..chunk_last. A text of fewer lines (Buildbot writes some) reads its
// missing lines as empty ones at its end; lines past the range are ignored.
void append_lines(std::string_view text, int64_t chunk_first, int64_t chunk_last, int64_t first,
                  int64_t last, std::string& out);

// add_log's check: "t", "s" or "h" (Buildbot's addLog asserts the same; "d" is set only by
// delete_old_log_chunks). Throws InvalidArgument.
inline void check_log_type(const std::string& type) {
  if (type != "t" && type != "s" && type != "h") {
    throw InvalidArgument("log type must be one of t, s or h, not '" + type + "'");
  }
}

// "log 7, chunk at line 120": for error messages.
std::string chunk_name(int64_t logid, int64_t first_line);

// Whether compress_log takes a chunk of this code into its runs: plain chunks always; with
// `force` also chunks of another known codec than the configured one (re-encoded).
inline bool compressible(int64_t code, LogCompression codec, bool force) {
  if (code == 0) return true;
  return force && known_code(code) && code != static_cast<int64_t>(codec);
}

// A stored chunk, as the fake's compress_log reads it.
struct StoredChunk {
  int64_t first_line = 0;
  int64_t last_line = 0;
  std::string content;
  int64_t code = 0;
};

// Where a stored chunk is, how long it is as stored and its code: all that compress_log needs to
// choose its runs, so that it can choose them without reading the content.
struct ChunkSpan {
  int64_t first_line = 0;
  int64_t last_line = 0;
  size_t bytes = 0;
  int64_t code = 0;
};

// The run of chunks compress_log is gathering: consecutive line ranges, up to
// kCompressedChunkBytes as stored and kCompressedChunkMaxChunks chunks. Fed the log's
// compressible chunks in ascending order, it closes a run (accepts() false) exactly where
// plan_compression does, whether the chunks come from memory (the fake) or a page at a time
// from SQL.
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
    codes_.push_back(c.code);
    bytes_ += c.bytes;
  }
  const std::vector<int64_t>& firsts() const { return firsts_; }
  const std::vector<int64_t>& lasts() const { return lasts_; }
  const std::vector<int64_t>& codes() const { return codes_; }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<int64_t> firsts_, lasts_, codes_;
  size_t bytes_ = 0;
};

// One replacement compress_log makes: the chunks first_line..last_line listed in `replaced` (by
// first line, with their last lines and codes) become one chunk holding `content` with `code`.
struct ChunkMerge {
  int64_t first_line = 0;
  int64_t last_line = 0;
  std::vector<int64_t> replaced;       // first_line of each replaced chunk, ascending
  std::vector<int64_t> replaced_last;  // last_line of each, in the same order
  std::vector<int64_t> replaced_code;  // code of each, in the same order
  std::string content;
  int64_t code = 0;
  int64_t saved = 0;  // stored bytes before minus after
};

// The replacement of one run, given the stored content of each of its chunks in order: one
// chunk encoded with `codec` when that is smaller than the plain text, else one plain chunk. A
// lone plain chunk that stays plain gives nullopt (so that a second compress_log finds nothing
// to do). Runs off the database threads. Throws UnreadableLogChunk for a chunk it cannot decode.
std::optional<ChunkMerge> merge_run(int64_t logid, const CompressionRun& run,
                                    const std::vector<std::string_view>& stored,
                                    LogCompression codec);

// Plans compress_log over a log's chunks (ascending by first_line), all in memory: the runs of
// CompressionRun over the compressible ones, each merged by merge_run. For the fake, which holds
// the log in memory anyway; the SQL connector plans run by run.
std::vector<ChunkMerge> plan_compression(int64_t logid, const std::vector<StoredChunk>& chunks,
                                         LogCompression codec, bool force);

}  // namespace ym::db::internal
