// Logs: the text output of steps. A log is a sequence of newline-terminated lines numbered from
// 0, stored in chunks (optionally zstd-compressed); callers never see chunks.
// Thread safety: implementations may be called from any thread. Appends to one log are applied
// one at a time; issue them in order (each append's line numbers follow the previous append's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/future.hpp"
#include "db/value.hpp"

namespace ym::db {

inline constexpr size_t kLogSlugMax = 50;
// Lines longer than this many bytes (UTF-8) are cut at a character boundary when appended.
inline constexpr size_t kMaxLogLineBytes = 65536 - 1;

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

  // The step's logs ordered by id.
  virtual Future<std::vector<Log>> get_logs(int64_t stepid) = 0;

  // Lines first..last (inclusive, zero-based) as newline-terminated text; lines past the end are
  // not returned, a negative first_line counts as 0; "" for an unknown log, an empty range
  // (last_line < first_line) or a log whose chunks were deleted.
  // Reads only the chunks that hold the range, so memory is bounded by the range.
  virtual Future<std::string> get_log_lines(int64_t logid, int64_t first_line,
                                            int64_t last_line) = 0;

  // Adds an empty, incomplete log. Throws InvalidIdentifier for a bad slug, InvalidArgument for a
  // type that is not one printable ASCII character or a name that is not UTF-8, NotFound for an
  // unknown step, AlreadyExists when the step already has a log with this slug.
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

  // Merges the log's small chunks into larger zstd-compressed ones. Compression runs off the
  // database threads, run by run (about 1 MiB of text each, each run swapped in a transaction of
  // its own), so its memory is bounded whatever the log's size, and readers never see a line
  // missing or twice while it runs. Returns the number of stored bytes saved (0 when there was
  // nothing to do, e.g. a second call, or an unknown log). Interrupted part way, it leaves every
  // line readable once (the runs done compressed, the rest plain) and a later call finishes.
  virtual Future<int64_t> compress_log(int64_t logid) = 0;

  // Deletes the chunks of logs whose step started before `older_than`, keeping num_lines and
  // setting type 'd'. Works in bounded batches so that other writers are never blocked long.
  // Returns the number of logs affected.
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
