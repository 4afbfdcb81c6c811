// In-memory Logs, held to the same contract suite as db/connectors/logs.cpp. It stores chunks
// through the same helpers (db/connectors/logs_util.hpp), compressed ones included, so that its
// chunk layout and compress_log's savings are those of a real database.
#include "db/connectors/logs.hpp"

#include "db/base.hpp"
#include "db/connectors/logs_util.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

db::Log to_record(const td::Log& r) {
  return db::Log{r.id, r.name, r.slug, r.stepid, r.complete, r.num_lines, r.type};
}


class FakeLogs final : public db::Logs {
 public:
  FakeLogs(FakeDb::Access a, bool compress_finished, db::LogCompression codec)
      : a_(a), compress_finished_(compress_finished), codec_(codec) {}

  Future<std::optional<db::Log>> get_log(int64_t logid) override {
    return a_.call([&](Store& s) -> std::optional<db::Log> {
      auto it = s.logs.find(logid);
      if (it == s.logs.end()) return std::nullopt;
      return to_record(it->second);
    });
  }

  Future<std::optional<db::Log>> get_log_by_slug(int64_t stepid, std::string slug) override {
    return a_.call([&](Store& s) -> std::optional<db::Log> {
      for (const auto& [id, l] : s.logs) {
        if (l.stepid == stepid && l.slug == slug) return to_record(l);
      }
      return std::nullopt;
    });
  }

  Future<std::vector<db::Log>> get_logs(std::optional<int64_t> stepid) override {
    return a_.call([&](Store& s) {
      std::vector<db::Log> out;
      for (const auto& [id, l] : s.logs) {
        if (!stepid || l.stepid == *stepid) out.push_back(to_record(l));
      }
      return out;
    });
  }

  Future<std::string> get_log_lines(int64_t logid, int64_t first_line, int64_t last_line) override {
    return a_.call([&](Store& s) {
      std::string out;
      first_line = std::max<int64_t>(first_line, 0);
      if (last_line < first_line) return out;
      for (auto it = s.logchunks.lower_bound({logid, INT64_MIN});
           it != s.logchunks.end() && it->first.first == logid; ++it) {
        const td::LogChunk& c = it->second;
        if (c.first_line > last_line || c.last_line < first_line) continue;
        const std::string where = db::internal::chunk_name(logid, c.first_line);
        std::string text = c.compressed ? db::internal::decode_chunk(c.content, c.compressed, where)
                                        : c.content;
        db::internal::append_lines(text, c.first_line, c.last_line, first_line, last_line, out);
      }
      return out;
    });
  }

  Future<int64_t> add_log(int64_t stepid, std::string name, std::string slug,
                          std::string type) override {
    return a_.call([&](Store& s) {
      db::internal::check_log_type(type);  // first, as in db/connectors/logs.cpp
      db::check_identifier("log slug", slug, db::kLogSlugMax);
      if (!db::is_valid_utf8(name)) throw db::InvalidArgument("log name is not valid UTF-8");
      if (!s.steps.count(stepid)) throw db::NotFound("no step with id " + std::to_string(stepid));
      for (const auto& [id, l] : s.logs) {
        if (l.stepid == stepid && l.slug == slug) {
          throw db::AlreadyExists("step " + std::to_string(stepid) + " already has a log '" + slug +
                                  "'");
        }
      }
      int64_t id = s.next_id("logs", s.logs);
      s.logs[id] = td::Log{id, name, slug, stepid, false, 0, type};
      return id;
    });
  }

  Future<std::optional<db::LineRange>> append_log(int64_t logid, std::string content) override {
    std::vector<db::internal::ChunkText> chunks;
    try {
      chunks = db::internal::prepare_log_content(content);
    } catch (const db::Error&) {
      return make_exceptional_future<std::optional<db::LineRange>>(std::current_exception());
    }
    return a_.call([&](Store& s) -> std::optional<db::LineRange> {
      auto it = s.logs.find(logid);
      if (it == s.logs.end()) return std::nullopt;
      int64_t first = it->second.num_lines;
      int64_t next = first;
      for (auto& chunk : chunks) {
        s.logchunks[{logid, next}] =
            td::LogChunk{logid, next, next + chunk.lines - 1, std::move(chunk.text), 0};
        next += chunk.lines;
      }
      it->second.num_lines = next;
      return db::LineRange{first, next - 1};
    });
  }

  Future<void> finish_log(int64_t logid) override {
    auto done = a_.call([&](Store& s) {
      auto it = s.logs.find(logid);
      if (it != s.logs.end()) it->second.complete = true;
    });
    if (!compress_finished_) return done;
    // The fake's futures are ready at once: compress now, ignoring a failure as the SQL
    // connector does (the log stays in its plain chunks).
    try {
      done.get();
    } catch (...) {
      return make_exceptional_future<void>(std::current_exception());
    }
    try {
      compress_log(logid, false).get();
    } catch (const std::exception&) {
    }
    return make_ready_future();
  }

  Future<int64_t> compress_log(int64_t logid, bool force) override {
    // The same plan as the SQL connector; read, planned and applied under one lock here.
    return a_.call([&](Store& s) -> int64_t {
      std::vector<db::internal::StoredChunk> chunks;
      for (auto it = s.logchunks.lower_bound({logid, INT64_MIN});
           it != s.logchunks.end() && it->first.first == logid; ++it) {
        chunks.push_back({it->second.first_line, it->second.last_line, it->second.content,
                          it->second.compressed});
      }
      int64_t saved = 0;
      for (auto& m : db::internal::plan_compression(logid, chunks, codec_, force)) {
        for (int64_t first : m.replaced) s.logchunks.erase({logid, first});
        s.logchunks[{logid, m.first_line}] =
            td::LogChunk{logid, m.first_line, m.last_line, std::move(m.content),
                         static_cast<int>(m.code)};
        saved += m.saved;
      }
      return saved;
    });
  }

  Future<int64_t> delete_old_log_chunks(Timestamp older_than) override {
    return a_.call([&](Store& s) {
      int64_t cutoff = older_than.time_since_epoch().count();
      const std::string deleted(1, db::log_types::kDeleted);
      int64_t chunks = 0;
      // A deleted log may have been appended to since (as Buildbot allows): an old log keeps
      // no chunks, so it is visited again.
      for (auto& [id, l] : s.logs) {
        auto step = s.steps.find(l.stepid);
        if (step == s.steps.end() || !step->second.started_at ||
            *step->second.started_at >= cutoff) {
          continue;
        }
        chunks += static_cast<int64_t>(
            std::erase_if(s.logchunks, [&](const auto& kv) { return kv.first.first == id; }));
        l.type = deleted;
      }
      return chunks;
    });
  }

 private:
  FakeDb::Access a_;
  bool compress_finished_;
  db::LogCompression codec_;
};

}  // namespace

std::unique_ptr<db::Logs> make_fake_logs(FakeDb::Access a, bool compress_finished,
                                         db::LogCompression codec) {
  return std::make_unique<FakeLogs>(a, compress_finished, codec);
}

}  // namespace ym::fake
