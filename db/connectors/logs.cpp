// SQL implementation of Logs: step output stored as numbered lines in chunks (logchunks), some
// zstd-compressed; and the chunk helpers that the fake shares (db/connectors/logs_util.hpp).
#include "db/connectors/logs.hpp"

#include <zstd.h>

#include <boost/asio/thread_pool.hpp>

#include "db/connectors/logs_util.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {

// ------------------------------------------------------------------ chunk helpers
namespace internal {

namespace {
// The longest prefix of valid UTF-8 `line` that is at most `max` bytes and ends on a character
// boundary.
size_t cut_at_character(std::string_view line, size_t max) {
  if (line.size() <= max) return line.size();
  size_t pos = max;
  // Continuation bytes are 10xxxxxx: step back to the start of the character at `pos`.
  while (pos > 0 && (static_cast<unsigned char>(line[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}
}  // namespace

std::vector<ChunkText> prepare_log_content(std::string_view content) {
  if (content.empty() || content.back() != '\n') {
    throw InvalidArgument("log content must end with a newline");
  }
  // Replacing bytes never touches a '\n' (it is never part of a multi-byte sequence), so the
  // whole content can be cleaned before it is split.
  std::string clean = sanitize_utf8(content);
  std::vector<ChunkText> chunks;
  ChunkText current;
  std::string_view rest(clean);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    line = line.substr(0, cut_at_character(line, kMaxLogLineBytes));
    if (current.lines > 0 && current.text.size() + line.size() + 1 > kLogChunkBytes) {
      chunks.push_back(std::move(current));
      current = ChunkText{};
    }
    current.text.append(line);
    current.text.push_back('\n');
    ++current.lines;
  }
  if (current.lines > 0) chunks.push_back(std::move(current));
  return chunks;
}

std::string compress_chunk(std::string_view raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
  if (ZSTD_isError(n)) {
    throw InternalError(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

std::string decompress_chunk(std::string_view data) {
  unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    throw InternalError("a compressed log chunk is not a zstd frame with a known size");
  }
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != size) {
    throw InternalError(std::string("a compressed log chunk is damaged: ") +
                        (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return out;
}

void append_lines(std::string_view text, int64_t chunk_first, int64_t first, int64_t last,
                  std::string& out) {
  int64_t line = chunk_first;
  size_t pos = 0;
  while (pos < text.size() && line <= last) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    if (line >= first) {
      out.append(text.substr(pos, end - pos));
      out.push_back('\n');  // also for a (test-inserted) chunk whose last newline is missing
    }
    pos = end + 1;
    ++line;
  }
}

std::vector<ChunkMerge> plan_compression(const std::vector<StoredChunk>& chunks) {
  std::vector<ChunkMerge> plan;
  size_t i = 0;
  while (i < chunks.size()) {
    // A run of chunks with consecutive line ranges, up to kCompressedChunkBytes of text.
    size_t j = i + 1;
    size_t raw_size = chunks[i].content.size();
    while (j < chunks.size() && chunks[j].first_line == chunks[j - 1].last_line + 1 &&
           raw_size + chunks[j].content.size() <= kCompressedChunkBytes) {
      raw_size += chunks[j].content.size();
      ++j;
    }
    ChunkMerge m;
    m.first_line = chunks[i].first_line;
    m.last_line = chunks[j - 1].last_line;
    std::string raw;
    raw.reserve(raw_size);
    for (size_t k = i; k < j; ++k) {
      m.replaced.push_back(chunks[k].first_line);
      m.replaced_last.push_back(chunks[k].last_line);
      raw.append(chunks[k].content);
      if (!raw.empty() && raw.back() != '\n') raw.push_back('\n');
    }
    std::string packed = compress_chunk(raw);
    if (packed.size() < raw_size) {
      m.saved = static_cast<int64_t>(raw_size) - static_cast<int64_t>(packed.size());
      m.content = std::move(packed);
      m.compressed = true;
      plan.push_back(std::move(m));
    } else if (j - i > 1) {
      // Incompressible, but fewer rows still make reads cheaper.
      m.saved = static_cast<int64_t>(raw_size) - static_cast<int64_t>(raw.size());
      m.content = std::move(raw);
      plan.push_back(std::move(m));
    }
    i = j;
  }
  return plan;
}

}  // namespace internal

// ------------------------------------------------------------------ the connector
namespace {

constexpr const char* kSelect =
    "SELECT id, name, slug, stepid, complete, num_lines, type FROM logs";
// Logs marked deleted per transaction by delete_old_log_chunks.
constexpr int64_t kDeleteBatch = 100;

Log read_log(const Row& r) {
  return Log{r.get<int64_t>(0), r.get<std::string>(1), r.get<std::string>(2), r.get<int64_t>(3),
             r.get<bool>(4),    r.get<int64_t>(5),     r.get<std::string>(6)};
}

void check_type(const std::string& type) {
  if (type.size() != 1 || type[0] <= ' ' || type[0] > '~') {
    throw InvalidArgument("log type must be one printable ASCII character, not '" + type + "'");
  }
}

// Stored text of a chunk row (first_line, last_line, content, compressed).
std::string chunk_text(const Row& r) {
  auto content = r.get<std::optional<Blob>>(2);
  if (!content) return {};
  return r.get<bool>(3) ? internal::decompress_chunk(content->bytes) : std::move(content->bytes);
}

class SqlLogs final : public Logs {
 public:
  explicit SqlLogs(internal::Context& ctx) : ctx_(ctx) {}
  // Waits for compressions in progress (the pool is shut down first, so they end quickly).
  ~SqlLogs() override { compressor_.join(); }

  Future<std::optional<Log>> get_log(int64_t logid) override {
    return one(" WHERE id = ?", {logid});
  }

  Future<std::optional<Log>> get_log_by_slug(int64_t stepid, std::string slug) override {
    return one(" WHERE stepid = ? AND slug = ?", {stepid, slug});
  }

  Future<std::vector<Log>> get_logs(int64_t stepid) override {
    return ctx_.pool.run([stepid](Connection& c) {
      std::vector<Log> out;
      for (const Row& r :
           c.stmt(std::string(kSelect) + " WHERE stepid = ? ORDER BY id").bind(stepid).all()) {
        out.push_back(read_log(r));
      }
      return out;
    });
  }

  Future<std::string> get_log_lines(int64_t logid, int64_t first_line, int64_t last_line) override {
    first_line = std::max<int64_t>(first_line, 0);  // no line comes before line 0
    if (last_line < first_line) return make_ready_future(std::string());
    return ctx_.pool.run([logid, first_line, last_line](Connection& c) {
      // Only the chunks that overlap the range (index logchunks_last_line and the unique
      // (logid, first_line)); one statement, so a concurrent compress_log is seen wholly or not.
      std::string out;
      for (const Row& r : c.stmt("SELECT first_line, last_line, content, compressed "
                                 "FROM logchunks WHERE logid = ? AND first_line <= ? "
                                 "AND last_line >= ? ORDER BY first_line")
                              .bind(logid, last_line, first_line)
                              .all()) {
        internal::append_lines(chunk_text(r), r.get<int64_t>(0), first_line, last_line, out);
      }
      return out;
    });
  }

  Future<int64_t> add_log(int64_t stepid, std::string name, std::string slug,
                          std::string type) override {
    try {
      check_identifier("log slug", slug, kLogSlugMax);
      check_type(type);
      if (!is_valid_utf8(name)) throw InvalidArgument("log name is not valid UTF-8");
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.transaction([stepid, name, slug, type](Connection& c) {
      if (!c.stmt("SELECT 1 FROM steps WHERE id = ?").bind(stepid).one()) {
        throw NotFound("no step with id " + std::to_string(stepid));
      }
      auto taken = [&] {
        return AlreadyExists("step " + std::to_string(stepid) + " already has a log '" + slug +
                             "'");
      };
      if (c.stmt("SELECT 1 FROM logs WHERE stepid = ? AND slug = ?").bind(stepid, slug).one()) {
        throw taken();
      }
      try {
        return c
            .stmt(
                "INSERT INTO logs (name, slug, stepid, complete, num_lines, type) "
                "VALUES (?, ?, ?, 0, 0, ?)")
            .bind(name, slug, stepid, type)
            .insert();
      } catch (const UniqueViolation&) {
        throw taken();  // a concurrent add_log of the same slug won
      }
    });
  }

  Future<std::optional<LineRange>> append_log(int64_t logid, std::string content) override {
    // Cleaning and cutting (the costly part) happen here, on the caller's thread.
    std::vector<internal::ChunkText> chunks;
    try {
      chunks = internal::prepare_log_content(content);
    } catch (const Error&) {
      return make_exceptional_future<std::optional<LineRange>>(std::current_exception());
    }
    auto shared = std::make_shared<const std::vector<internal::ChunkText>>(std::move(chunks));
    int64_t added = 0;
    for (const auto& chunk : *shared) added += chunk.lines;
    if (shared->size() == 1 && !ctx_.pool.dialect().single_writer && ctx_.pool.dialect().writable_cte) {
      // The usual append (one chunk) as one statement: one round trip, atomic by itself.
      return ctx_.pool.write_one([logid, shared, added](Connection& c) -> std::optional<LineRange> {
        auto first = c.stmt(
                          "WITH reserved AS (UPDATE logs SET num_lines = num_lines + ? WHERE id = ? "
                          "RETURNING num_lines) "
                          "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
                          "SELECT ?, num_lines - ?, num_lines - 1, ?, 0 FROM reserved RETURNING first_line")
                         .bind(added, logid, logid, added, Blob{shared->front().text})
                         .scalar<int64_t>();
        if (!first) return std::nullopt;
        return LineRange{*first, *first + added - 1};
      });
    }
    return ctx_.pool.transaction([logid, shared, added](Connection& c) -> std::optional<LineRange> {
      // Reserve the line numbers first: the UPDATE locks the log's row, so that appends to one
      // log queue up here instead of colliding on the line numbers.
      std::optional<int64_t> end;
      if (c.dialect().update_returning) {
        end = c.stmt("UPDATE logs SET num_lines = num_lines + ? WHERE id = ? RETURNING num_lines")
                  .bind(added, logid)
                  .scalar<int64_t>();
      } else {
        auto before = c.stmt("SELECT num_lines FROM logs WHERE id = ? FOR UPDATE")
                          .bind(logid)
                          .scalar<int64_t>();
        if (before) {
          c.stmt("UPDATE logs SET num_lines = ? WHERE id = ?").bind(*before + added, logid).exec();
          end = *before + added;
        }
      }
      if (!end) return std::nullopt;
      int64_t first = *end - added;
      int64_t next = first;
      for (const auto& chunk : *shared) {
        c.stmt(
             "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
             "VALUES (?, ?, ?, ?, 0)")
            .bind(logid, next, next + chunk.lines - 1, Blob{chunk.text})
            .exec();
        next += chunk.lines;
      }
      return LineRange{first, next - 1};
    });
  }

  Future<void> finish_log(int64_t logid) override {
    auto done = ctx_.pool.write_one([logid](Connection& c) {
      c.stmt("UPDATE logs SET complete = 1 WHERE id = ?").bind(logid).exec();
    });
    if (!ctx_.compress_finished_logs) return done;
    // The caller learns the result at once; the compression follows in the background (Db's
    // shutdown waits for it). Until it commits, the log reads the same from its plain chunks.
    return done.then(boost::launch::sync, [this, logid](Future<void> f) {
      f.get();
      compress_in_background(logid);
    });
  }

  Future<int64_t> compress_log(int64_t logid) override {
    Pool& pool = ctx_.pool;
    // 1. Read the uncompressed chunks on a database thread.
    auto read = pool.read([logid](Connection& c) {
      std::vector<internal::StoredChunk> chunks;
      for (const Row& r : c.stmt("SELECT first_line, last_line, content FROM logchunks "
                                 "WHERE logid = ? AND compressed = 0 ORDER BY first_line")
                              .bind(logid)
                              .all()) {
        auto content = r.get<std::optional<Blob>>(2);
        chunks.push_back({r.get<int64_t>(0), r.get<int64_t>(1), content ? content->bytes : ""});
      }
      return chunks;
    });
    // 2. Compress on our own thread, so that the database threads stay free for queries.
    return then_on(
        std::move(read), compressor_.get_executor(),
        [&pool, logid](Future<std::vector<internal::StoredChunk>> f) -> int64_t {
          auto plan = std::make_shared<const std::vector<internal::ChunkMerge>>(
              internal::plan_compression(f.get()));
          if (plan->empty()) return 0;
          // 3. Swap the chunks in one transaction each run, so that a reader sees
          // either the old chunks or the new one, never a gap.
          return pool
              .transaction([logid, plan](Connection& c) { return replace_chunks(c, logid, *plan); })
              .get();
        });
  }

  Future<int64_t> delete_old_log_chunks(Timestamp older_than) override {
    auto promise = std::make_shared<Promise<int64_t>>();
    auto result = promise->get_future();
    delete_batches(ctx_.pool, older_than.time_since_epoch().count(), 0, promise);
    return result;
  }

 private:
  Future<std::optional<Log>> one(std::string where, std::vector<Value> params) {
    return ctx_.pool.run([where, params](Connection& c) -> std::optional<Log> {
      auto row = c.stmt(std::string(kSelect) + where).bind_all(params).one();
      if (!row) return std::nullopt;
      return read_log(*row);
    });
  }

  void compress_in_background(int64_t logid) {
    ctx_.background.begin();
    then_on(compress_log(logid), compressor_.get_executor(), [this](Future<int64_t> f) {
      try {
        f.get();
      } catch (const std::exception&) {
        // Nothing is lost: the log stays in its plain chunks, and compress_log can run again.
      }
      ctx_.background.end();
    });
  }

  // Applies the runs of `plan` whose chunks are still exactly as they were read; a run that
  // changed meanwhile (another compress_log, delete_old_log_chunks) is left alone.
  static int64_t replace_chunks(Connection& c, int64_t logid,
                                const std::vector<internal::ChunkMerge>& plan) {
    int64_t saved = 0;
    for (const auto& m : plan) {
      std::vector<int64_t> firsts, lasts;
      bool unchanged = true;
      for (const Row& r : c.stmt("SELECT first_line, last_line, compressed FROM logchunks "
                                 "WHERE logid = ? AND first_line >= ? AND first_line <= ? "
                                 "ORDER BY first_line")
                              .bind(logid, m.first_line, m.last_line)
                              .all()) {
        firsts.push_back(r.get<int64_t>(0));
        lasts.push_back(r.get<int64_t>(1));
        if (r.get<bool>(2)) unchanged = false;
      }
      if (!unchanged || firsts != m.replaced || lasts != m.replaced_last) continue;
      c.stmt("DELETE FROM logchunks WHERE logid = ? AND first_line >= ? AND first_line <= ?")
          .bind(logid, m.first_line, m.last_line)
          .exec();
      c.stmt(
           "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
           "VALUES (?, ?, ?, ?, ?)")
          .bind(logid, m.first_line, m.last_line, Blob{m.content}, m.compressed)
          .exec();
      saved += m.saved;
    }
    return saved;
  }

  // One bounded transaction per batch of logs, chained until a batch comes back short, so that
  // other writers get the database between batches.
  static void delete_batches(Pool& pool, int64_t older_than, int64_t done,
                             std::shared_ptr<Promise<int64_t>> promise) {
    pool.transaction([older_than](Connection& c) {
          std::vector<int64_t> ids;
          for (const Row& r :
               c.stmt("SELECT l.id FROM logs l JOIN steps s ON s.id = l.stepid "
                      "WHERE s.started_at < ? AND l.type <> ? "
                      "ORDER BY l.id LIMIT ?")
                   .bind(older_than, std::string(1, log_types::kDeleted), kDeleteBatch)
                   .all()) {
            ids.push_back(r.get<int64_t>(0));
          }
          internal::for_each_batch(
              c.dialect(), ids, 1, [&](const std::string& marks, const std::vector<Value>& p) {
                c.stmt("DELETE FROM logchunks WHERE logid IN (" + marks + ")").bind_all(p).exec();
                c.stmt("UPDATE logs SET type = ? WHERE id IN (" + marks + ")")
                    .bind(std::string(1, log_types::kDeleted))
                    .bind_all(p)
                    .exec();
              });
          return static_cast<int64_t>(ids.size());
        })
        .then(boost::launch::sync, [&pool, older_than, done, promise](Future<int64_t> f) {
          int64_t n = 0;
          try {
            n = f.get();
          } catch (...) {
            promise->set_exception(boost::current_exception());
            return;
          }
          if (n < kDeleteBatch) {
            promise->set_value(done + n);
          } else {
            delete_batches(pool, older_than, done + n, promise);
          }
        });
  }

  internal::Context& ctx_;
  boost::asio::thread_pool compressor_{1};
};

}  // namespace

std::unique_ptr<Logs> internal::make_sql_logs(Context& ctx) {
  return std::make_unique<SqlLogs>(ctx);
}

}  // namespace ym::db
