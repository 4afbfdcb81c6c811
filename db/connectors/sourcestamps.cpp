#include "db/connectors/sourcestamps.hpp"

#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sourcestamps_internal.hpp"
#include "db/connectors/sql.hpp"
#include "db/testdata.hpp"

namespace ym::db {
namespace {

// Stamps with their patch (if any); LEFT JOIN because most stamps have none.
constexpr const char* kSelect =
    "SELECT ss.id, ss.branch, ss.revision, ss.patchid, p.patch_base64, p.patchlevel, p.subdir, "
    "p.patch_author, p.patch_comment, ss.repository, ss.project, ss.codebase, ss.created_at "
    "FROM sourcestamps ss LEFT JOIN patches p ON p.id = ss.patchid";

SourceStamp read_stamp(const Row& r) {
  SourceStamp s;
  s.ssid = r.get<int64_t>(0);
  s.branch = r.get<std::optional<std::string>>(1);
  s.revision = r.get<std::optional<std::string>>(2);
  s.patchid = r.get<std::optional<int64_t>>(3);
  if (s.patchid && !r.is_null(4)) {
    s.patch_body =
        internal::base64_decode(r.get<std::string>(4), "patch " + std::to_string(*s.patchid));
    s.patch_level = r.get<std::optional<int>>(5);
    s.patch_subdir = r.get<std::optional<std::string>>(6);
    s.patch_author = r.get<std::optional<std::string>>(7);
    s.patch_comment = r.get<std::optional<std::string>>(8);
  }
  s.repository = r.get<std::string>(9);
  s.project = r.get<std::string>(10);
  s.codebase = r.get<std::string>(11);
  s.created_at = r.get<Timestamp>(12);
  return s;
}

std::vector<SourceStamp> read_stamps(const Result& rows) {
  std::vector<SourceStamp> out;
  out.reserve(rows.size());
  for (const Row& r : rows) out.push_back(read_stamp(r));
  return out;
}

const internal::SpecFields& stamp_fields() {
  static const internal::SpecFields f{{{"ssid", "ss.id"},
                                       {"branch", "ss.branch"},
                                       {"revision", "ss.revision"},
                                       {"repository", "ss.repository"},
                                       {"project", "ss.project"},
                                       {"codebase", "ss.codebase"},
                                       {"created_at", "ss.created_at"}},
                                      {"ssid"},
                                      {}};
  return f;
}

class SqlSourceStamps final : public SourceStamps {
 public:
  explicit SqlSourceStamps(internal::Context& ctx)
      : ctx_(ctx), stamps_(ctx.caches.make<int64_t, SourceStamp>("ssdicts")) {}

  Future<int64_t> find_source_stamp_id(SourceStampSpec spec) override {
    try {
      internal::check_source_stamp_spec(spec);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    int64_t now = ctx_.now();
    bool has_patch = spec.patch_body.has_value();
    auto body = [spec = std::move(spec), now](Connection& c) {
      return internal::find_source_stamp_id(c, spec, now);
    };
    // A patch is two rows (patch, stamp) that must appear together; a plain stamp is one
    // find-or-insert, which survives races best in autocommit (no snapshot to go stale).
    if (has_patch) return ctx_.pool.transaction(std::move(body));
    return ctx_.pool.run(std::move(body));
  }

  Future<std::optional<SourceStamp>> get_source_stamp(int64_t ssid, bool no_cache) override {
    auto& pool = ctx_.pool;
    return stamps_
        ->get(
            ssid,
            [&pool, ssid] {
              return pool.run([ssid](Connection& c) -> std::shared_ptr<const SourceStamp> {
                auto row = c.stmt(std::string(kSelect) + " WHERE ss.id = ?").bind(ssid).one();
                if (!row) return nullptr;
                return std::make_shared<const SourceStamp>(read_stamp(*row));
              });
            },
            no_cache)
        .then([](Future<std::shared_ptr<const SourceStamp>> f) {
          auto p = f.get();
          return p ? std::optional<SourceStamp>(*p) : std::nullopt;
        });
  }

  Future<std::vector<SourceStamp>> get_source_stamps(ResultSpec spec) override {
    internal::SpecSql q;
    try {
      q = internal::render_spec(spec, stamp_fields());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<SourceStamp>>(std::current_exception());
    }
    return ctx_.pool.run([q = std::move(q)](Connection& c) {
      return read_stamps(c.stmt(std::string(kSelect) + " WHERE 1 = 1" + q.where + q.order_limit)
                             .bind_all(q.where_params)
                             .bind_all(q.tail_params)
                             .all());
    });
  }

  Future<std::vector<SourceStamp>> get_source_stamps_for_build(int64_t buildid) override {
    return ctx_.pool.run([buildid](Connection& c) {
      return read_stamps(c.stmt(std::string(kSelect) +
                                " WHERE ss.id IN (SELECT bss.sourcestampid FROM builds b"
                                " JOIN buildrequests br ON br.id = b.buildrequestid"
                                " JOIN buildset_sourcestamps bss ON bss.buildsetid = br.buildsetid"
                                " WHERE b.id = ?) ORDER BY ss.id")
                             .bind(buildid)
                             .all());
    });
  }

 private:
  internal::Context& ctx_;
  std::shared_ptr<Cache<int64_t, SourceStamp>> stamps_;
};

}  // namespace

int64_t internal::find_source_stamp_id(Connection& c, const SourceStampSpec& spec, int64_t now) {
  check_source_stamp_spec(spec);
  std::optional<int64_t> patchid;
  if (spec.patch_body) {
    // A patch is never shared: every stamp with a patch gets its own patch row, and so its own
    // hash (the patch id is part of it).
    patchid = c.stmt(
                   "INSERT INTO patches (patchlevel, patch_base64, patch_author, patch_comment, "
                   "subdir) VALUES (?, ?, ?, ?, ?)")
                  .bind(spec.patch_level.value_or(0), base64_encode(*spec.patch_body),
                        spec.patch_author.value_or(""), spec.patch_comment.value_or(""),
                        spec.patch_subdir)
                  .insert();
  }
  std::string hash = testdata::source_stamp_hash(spec.branch, spec.revision, spec.repository,
                                                 spec.project, spec.codebase, patchid);
  std::vector<Value> sel{hash};
  std::vector<Value> ins{hash,
                         to_value(spec.branch),
                         to_value(spec.revision),
                         to_value(patchid),
                         spec.repository,
                         spec.codebase,
                         spec.project,
                         now};
  return *find_something_id(c, "SELECT id FROM sourcestamps WHERE ss_hash = ?", sel,
                            "INSERT INTO sourcestamps (ss_hash, branch, revision, patchid, "
                            "repository, codebase, project, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            ins);
}

std::unique_ptr<SourceStamps> internal::make_sql_sourcestamps(Context& ctx) {
  return std::make_unique<SqlSourceStamps>(ctx);
}

}  // namespace ym::db
