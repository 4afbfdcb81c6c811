// Logs: the text output of steps. A log is a sequence of newline-terminated lines numbered from
// 0, stored in chunks laid out as Buildbot stores them (optionally compressed, with Buildbot's
// codes); callers never see chunks.
// Thread safety: implementations may be called from any thread. Appends to one log are applied
// one at a time; issue them in order (each append's line numbers follow the previous append's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../errors.hpp"
#include "../future.hpp"
#include "../value.hpp"

namespace ym::db {

inline constexpr size_t kLogSlugMax = 50;
// Lines longer than this many bytes (UTF-8) are cut at a character boundary when appended (the
// reference: "each line must be less than 64k when encoded in UTF-8").
inline constexpr size_t kMaxLogLineBytes = 65536 - 1;

// How compress_log encodes chunks: the values are the codes stored in logchunks.compressed, the
// ones Buildbot uses (0 to 3 since Buildbot 0.9; 4 is the code Buildbot 4.1 gave zstd). Chunks of
// every one of these codes are read, whichever is configured (DbOptions::log_compression).
enum class LogCompression : int { kNone = 0, kGzip = 1, kBzip2 = 2, kLz4 = 3, kZstd = 4 };

// A stored chunk that cannot be read: an unknown compression code, or data its codec rejects.
// Nothing is returned for the call.
class UnreadableLogChunk : public InternalError {
 public:
  using InternalError::InternalError;
};

namespace log_types {
inline constexpr char kStdio = 's';
inline constexpr char kText = 't';
inline constexpr char kHtml = 'h';
inline constexpr char kDeleted = 'd';  // its chunks were deleted by delete_old_log_chunks
}  // namespace log_types

struct Log {
  int64_t id = 0;
  std::string name;
  std::string slug;
  int64_t stepid = 0;
  bool complete = false;
  int64_t num_lines = 0;
  std::string type;  // one character, see log_types
  bool operator==(const Log&) const = default;
};

struct LineRange {
  int64_t first = 0;
  int64_t last = 0;
  bool operator==(const LineRange&) const = default;
};

class Logs {
 public:
  virtual ~Logs() = default;

  // The log, or nullopt.
  virtual Future<std::optional<Log>> get_log(int64_t logid) = 0;
  virtual Future<std::optional<Log>> get_log_by_slug(int64_t stepid, std::string slug) = 0;

  // The step's logs ordered by id; with no step, every log (Buildbot's getLogs(stepid=None)).
  virtual Future<std::vector<Log>> get_logs(std::optional<int64_t> stepid = std::nullopt) = 0;

  // Lines first..last (inclusive, zero-based) as newline-terminated text; lines past the end are
  // not returned, a negative first_line counts as 0; "" for an unknown log, an empty range
  // (last_line < first_line) or a log whose chunks were deleted.
  // Reads only the chunks that hold the range, so memory is bounded by the range. Reads chunks of
  // every LogCompression code (those Buildbot wrote too); throws UnreadableLogChunk for one that
  // cannot be read.
  virtual Future<std::string> get_log_lines(int64_t logid, int64_t first_line,
                                            int64_t last_line) = 0;

  // Adds an empty, incomplete log. Throws InvalidIdentifier for a bad slug, InvalidArgument for a
  // type other than "t", "s" or "h" (as Buildbot; "d" is only ever set by delete_old_log_chunks)
  // or a name that is not UTF-8, NotFound for an unknown step, AlreadyExists when the step
  // already has a log with this slug.
  virtual Future<int64_t> add_log(int64_t stepid, std::string name, std::string slug,
                                  std::string type) = 0;

  // Appends `content`, which must end with "\n" (else InvalidArgument, nothing stored). Returns
  // the first and last line numbers stored, or nullopt when the log does not exist (the append is
  // silently ignored, as the reference specifies). A line over kMaxLogLineBytes is cut at a UTF-8
  // character boundary; invalid UTF-8 is stored with U+FFFD replacement characters.
  // When the connection is lost while the append commits, it is retried after a look at what was
  // committed: its lines are stored exactly once, and the range returned is where they are.
  virtual Future<std::optional<LineRange>> append_log(int64_t logid, std::string content) = 0;

  // Marks the log complete. Unknown logs are ignored. Idempotent, so retried after a lost reply.
  virtual Future<void> finish_log(int64_t logid) = 0;

  // Merges the log's plain chunks into larger ones compressed with DbOptions::log_compression.
  // With `force`, chunks compressed with another codec (e.g. Buildbot's gzip chunks) are decoded
  // and merged too, so that the whole log ends in the configured codec. Compression runs off the
  // database threads, run by run (about 1 MiB each, each run swapped in a transaction of its
  // own), so its memory is bounded whatever the log's size, and readers never see a line missing
  // or twice while it runs. Returns the stored bytes saved (old length minus new, as Buildbot's
  // compressLog; 0 when there was nothing to do, e.g. a second call, or an unknown log).
  // Interrupted part way, it leaves every line readable once and a later call finishes.
  virtual Future<int64_t> compress_log(int64_t logid, bool force = false) = 0;

  // Deletes the chunks of logs whose step started before `older_than`, keeping num_lines and
  // setting type 'd'. Works in bounded batches so that other writers are never blocked long.
  // Returns the number of chunks deleted (as Buildbot's deleteOldLogChunks).
  virtual Future<int64_t> delete_old_log_chunks(Timestamp older_than) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(get_log)
  YM_ASYNC(get_log_by_slug)
  YM_ASYNC(get_logs)
  YM_ASYNC(get_log_lines)
  YM_ASYNC(add_log)
  YM_ASYNC(append_log)
  YM_ASYNC(finish_log)
  YM_ASYNC(compress_log)
  YM_ASYNC(delete_old_log_chunks)
};

}  // namespace ym::db
