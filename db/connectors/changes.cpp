#include "db/connectors/changes.hpp"

#include <algorithm>
#include <map>

#include "db/connectors/changes_util.hpp"
#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

constexpr const char* kColumns =
    "SELECT c.changeid, c.author, c.committer, c.comments, c.branch, c.revision, c.revlink, "
    "c.when_timestamp, c.category, c.repository, c.codebase, c.project, c.sourcestampid, "
    "c.parent_changeids FROM changes c";

const internal::SpecFields& spec_fields() {
  static const internal::SpecFields f{{{"changeid", "c.changeid"},
                                       {"author", "c.author"},
                                       {"committer", "c.committer"},
                                       {"branch", "c.branch"},
                                       {"revision", "c.revision"},
                                       {"category", "c.category"},
                                       {"repository", "c.repository"},
                                       {"project", "c.project"},
                                       {"codebase", "c.codebase"},
                                       {"when_timestamp", "c.when_timestamp"},
                                       {"sourcestampid", "c.sourcestampid"}},
                                      {"changeid"},
                                      {{"changeid", false}}};
  return f;
}

Change read_change(const Row& r) {
  Change ch;
  ch.changeid = r.get<int64_t>(0);
  ch.author = r.get<std::string>(1);
  ch.committer = r.get<std::optional<std::string>>(2);
  ch.comments = r.get<std::string>(3);
  ch.branch = r.get<std::optional<std::string>>(4);
  ch.revision = r.get<std::optional<std::string>>(5);
  ch.revlink = r.get<std::optional<std::string>>(6);
  ch.when_timestamp = r.get<Timestamp>(7);
  ch.category = r.get<std::optional<std::string>>(8);
  ch.repository = r.get<std::string>(9);
  ch.codebase = r.get<std::string>(10);
  ch.project = r.get<std::string>(11);
  ch.sourcestampid = r.get<int64_t>(12);
  if (auto parent = r.get<std::optional<int64_t>>(13)) ch.parent_changeids.push_back(*parent);
  return ch;
}

// Fills in the files and properties of `changes` (batched under the bind limit).
void attach_details(Connection& c, std::vector<Change>& changes) {
  if (changes.empty()) return;
  std::map<int64_t, Change*> by_id;
  std::vector<int64_t> ids;
  for (Change& ch : changes) {
    by_id[ch.changeid] = &ch;
    ids.push_back(ch.changeid);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  internal::for_each_batch(
      c.dialect(), ids, 0, [&](const std::string& marks, std::vector<Value>& p) {
        for (const Row& r :
             c.stmt("SELECT changeid, filename FROM change_files WHERE changeid IN (" + marks +
                    ") ORDER BY changeid, CASE WHEN seq IS NULL THEN 1 ELSE 0 END, seq, filename")
                 .bind_all(p)
                 .all()) {
          by_id.at(r.get<int64_t>(0))->files.push_back(r.get<std::string>(1));
        }
        for (const Row& r : c.stmt("SELECT changeid, property_name, property_value "
                                   "FROM change_properties WHERE changeid IN (" +
                                   marks + ") ORDER BY changeid, property_name")
                                .bind_all(p)
                                .all()) {
          if (auto prop = internal::decode_change_property(r.get<std::string>(2))) {
            by_id.at(r.get<int64_t>(0))->properties[r.get<std::string>(1)] = std::move(*prop);
          }
        }
      });
}

// The changes with these ids (those that exist), ascending.
std::vector<Change> load_changes(Connection& c, std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<Change> out;
  internal::for_each_batch(
      c.dialect(), ids, 0, [&](const std::string& marks, std::vector<Value>& p) {
        for (const Row& r : c.stmt(std::string(kColumns) + " WHERE c.changeid IN (" + marks +
                                   ") ORDER BY c.changeid")
                                .bind_all(p)
                                .all()) {
          out.push_back(read_change(r));
        }
      });
  attach_details(c, out);
  return out;
}

std::optional<int64_t> parent_change_id(Connection& c, const std::optional<std::string>& branch,
                                        const std::string& repository, const std::string& project,
                                        const std::string& codebase) {
  // Two texts rather than "branch = ? OR ? IS NULL": an untyped null parameter is an error on
  // PostgreSQL, and the default branch is null, which "=" never matches.
  if (branch) {
    return c
        .stmt(
            "SELECT changeid FROM changes WHERE branch = ? AND repository = ? AND project = ? "
            "AND codebase = ? ORDER BY changeid DESC LIMIT 1")
        .bind(*branch, repository, project, codebase)
        .scalar<int64_t>();
  }
  return c
      .stmt(
          "SELECT changeid FROM changes WHERE branch IS NULL AND repository = ? AND "
          "project = ? AND codebase = ? ORDER BY changeid DESC LIMIT 1")
      .bind(repository, project, codebase)
      .scalar<int64_t>();
}

// The blame-list data over SQL. The parent chain is prefetched: a change's ancestors are almost
// always the earlier changes with the same branch, repository, project and codebase, so one
// query per codebase fetches the whole walk.
class SqlBlameSource final : public internal::BlameSource {
 public:
  explicit SqlBlameSource(Connection& c) : c_(c) {}

  std::optional<Build> build(int64_t buildid) override {
    auto row = c_.stmt("SELECT builderid, number FROM builds WHERE id = ?").bind(buildid).one();
    if (!row) return std::nullopt;
    return Build{row->get<int64_t>(0), row->get<int64_t>(1)};
  }

  std::map<int64_t, std::vector<Stamp>> stamps_of_builds(
      const std::vector<int64_t>& buildids) override {
    std::map<int64_t, std::vector<Stamp>> out;
    internal::for_each_batch(
        c_.dialect(), buildids, 0, [&](const std::string& marks, std::vector<Value>& p) {
          for (const Row& r :
               c_.stmt("SELECT b.id, ss.id, ss.repository, ss.branch, ss.codebase FROM builds b "
                       "JOIN buildrequests br ON br.id = b.buildrequestid "
                       "JOIN buildset_sourcestamps bss ON bss.buildsetid = br.buildsetid "
                       "JOIN sourcestamps ss ON ss.id = bss.sourcestampid "
                       "WHERE b.id IN (" +
                       marks + ") ORDER BY b.id, ss.id")
                   .bind_all(p)
                   .all()) {
            out[r.get<int64_t>(0)].push_back(Stamp{r.get<int64_t>(1), r.get<std::string>(2),
                                                   r.get<std::optional<std::string>>(3),
                                                   r.get<std::string>(4)});
          }
        });
    return out;
  }

  std::vector<int64_t> previous_successful_builds(int64_t builderid, int64_t number, int64_t limit,
                                                  int64_t offset) override {
    std::vector<int64_t> out;
    for (const Row& r : c_.stmt("SELECT id FROM builds WHERE builderid = ? AND number < ? AND "
                                "results = ? ORDER BY (complete_at IS NULL) ASC, "
                                "complete_at DESC, number DESC LIMIT ? OFFSET ?")
                            .bind(builderid, number, results::kSuccess, limit, offset)
                            .all()) {
      out.push_back(r.get<int64_t>(0));
    }
    return out;
  }

  std::optional<int64_t> change_of_stamp(int64_t ssid) override {
    return c_.stmt("SELECT MAX(changeid) FROM changes WHERE sourcestampid = ?")
        .bind(ssid)
        .scalar<int64_t>();
  }

  std::optional<std::optional<int64_t>> parent_of(int64_t changeid) override {
    if (auto it = parents_.find(changeid); it != parents_.end()) return it->second;
    // Fetch the change's likely chain: itself and the changes before it with its identity.
    for (const Row& r :
         c_.stmt("SELECT c2.changeid, c2.parent_changeids FROM changes c1 "
                 "JOIN changes c2 ON c2.repository = c1.repository AND "
                 "c2.project = c1.project AND c2.codebase = c1.codebase AND "
                 "(c2.branch = c1.branch OR (c2.branch IS NULL AND c1.branch IS NULL)) "
                 "WHERE c1.changeid = ? AND c2.changeid <= c1.changeid "
                 "ORDER BY c2.changeid DESC LIMIT ?")
             .bind(changeid, kBlameMaxChangesPerCodebase + 1)
             .all()) {
      parents_[r.get<int64_t>(0)] = r.get<std::optional<int64_t>>(1);
    }
    if (auto it = parents_.find(changeid); it != parents_.end()) return it->second;
    return std::nullopt;
  }

 private:
  Connection& c_;
  std::map<int64_t, std::optional<int64_t>> parents_;
};

class SqlChanges final : public Changes {
 public:
  explicit SqlChanges(internal::Context& ctx)
      : ctx_(ctx), cache_(ctx.caches.make<int64_t, Change>("chdicts")) {}

  Future<int64_t> add_change(NewChange change) override {
    internal::PreparedChange prepared;
    try {
      prepared = internal::prepare_change(std::move(change));
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    int64_t now = ctx_.now();
    return ctx_.pool.transaction([prepared, now](Connection& c) {
      const NewChange& ch = prepared.change;
      if (ch.uid && !c.stmt("SELECT 1 FROM users WHERE uid = ?").bind(*ch.uid).one()) {
        throw NotFound("no user with uid " + std::to_string(*ch.uid));
      }
      SourceStampSpec spec;
      spec.branch = ch.branch;
      spec.revision = ch.revision;
      spec.repository = ch.repository;
      spec.project = ch.project;
      spec.codebase = ch.codebase;
      int64_t ssid = internal::find_source_stamp_id(c, spec, now);
      auto parent = parent_change_id(c, ch.branch, ch.repository, ch.project, ch.codebase);
      int64_t when = ch.when_timestamp ? ch.when_timestamp->time_since_epoch().count() : now;
      int64_t changeid =
          c.stmt(
               "INSERT INTO changes (author, committer, comments, branch, revision, revlink, "
               "when_timestamp, category, repository, codebase, project, sourcestampid, "
               "parent_changeids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
              .bind(ch.author, ch.committer, ch.comments, ch.branch, ch.revision, ch.revlink, when,
                    ch.category, ch.repository, ch.codebase, ch.project, ssid, parent)
              .insert("changeid");
      for (size_t i = 0; i < ch.files.size(); ++i) {
        c.stmt("INSERT INTO change_files (changeid, filename, seq) VALUES (?, ?, ?)")
            .bind(changeid, ch.files[i], static_cast<int64_t>(i))
            .exec();
      }
      for (const auto& [name, json] : prepared.properties) {
        c.stmt(
             "INSERT INTO change_properties (changeid, property_name, property_value) "
             "VALUES (?, ?, ?)")
            .bind(changeid, name, json)
            .exec();
      }
      if (ch.uid) {
        c.stmt("INSERT INTO change_users (changeid, uid) VALUES (?, ?)")
            .bind(changeid, *ch.uid)
            .exec();
      }
      return changeid;
    });
  }

  Future<std::optional<Change>> get_change(int64_t changeid, bool no_cache) override {
    auto& pool = ctx_.pool;
    return cache_
        ->get(
            changeid,
            [&pool, changeid] {
              return pool.read([changeid](Connection& c) -> std::shared_ptr<const Change> {
                auto v = load_changes(c, {changeid});
                if (v.empty()) return nullptr;
                return std::make_shared<const Change>(std::move(v.front()));
              });
            },
            no_cache)
        .then([](Future<std::shared_ptr<const Change>> f) {
          auto p = f.get();
          return p ? std::optional<Change>(*p) : std::nullopt;
        });
  }

  Future<std::vector<int64_t>> get_change_uids(int64_t changeid) override {
    return ctx_.pool.run([changeid](Connection& c) {
      std::vector<int64_t> out;
      for (const Row& r : c.stmt("SELECT uid FROM change_users WHERE changeid = ? ORDER BY uid")
                              .bind(changeid)
                              .all()) {
        out.push_back(r.get<int64_t>(0));
      }
      return out;
    });
  }

  Future<std::vector<Change>> get_recent_changes(int count) override {
    if (count <= 0) return make_ready_future(std::vector<Change>{});
    return ctx_.pool.read([count](Connection& c) {
      std::vector<int64_t> ids;
      for (const Row& r : c.stmt("SELECT changeid FROM changes ORDER BY changeid DESC LIMIT ?")
                              .bind(count)
                              .all()) {
        ids.push_back(r.get<int64_t>(0));
      }
      return load_changes(c, std::move(ids));  // ascending
    });
  }

  Future<std::vector<Change>> get_changes(ResultSpec spec) override {
    internal::SpecSql sql;
    try {
      sql = internal::render_spec(spec, spec_fields());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<Change>>(std::current_exception());
    }
    return ctx_.pool.read([sql](Connection& c) {
      std::vector<Change> out;
      for (const Row& r :
           c.stmt(std::string(kColumns) + " WHERE 1 = 1" + sql.where + sql.order_limit)
               .bind_all(sql.where_params)
               .bind_all(sql.tail_params)
               .all()) {
        out.push_back(read_change(r));
      }
      attach_details(c, out);
      return out;
    });
  }

  Future<int64_t> get_changes_count(ResultSpec spec) override {
    internal::SpecSql sql;
    try {
      ResultSpec filters_only;
      filters_only.filters = std::move(spec.filters);
      sql = internal::render_spec(filters_only, spec_fields());
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.run([sql](Connection& c) {
      return c.stmt("SELECT COUNT(*) FROM changes c WHERE 1 = 1" + sql.where)
          .bind_all(sql.where_params)
          .scalar<int64_t>()
          .value_or(0);
    });
  }

  Future<std::optional<int64_t>> get_latest_change_id() override {
    return ctx_.pool.run([](Connection& c) {
      return c.stmt("SELECT MAX(changeid) FROM changes").scalar<int64_t>();
    });
  }

  Future<std::optional<int64_t>> get_parent_change_id(std::optional<std::string> branch,
                                                      std::string repository, std::string project,
                                                      std::string codebase) override {
    return ctx_.pool.run([branch, repository, project, codebase](Connection& c) {
      return parent_change_id(c, branch, repository, project, codebase);
    });
  }

  Future<std::vector<Change>> get_changes_for_build(int64_t buildid) override {
    return ctx_.pool.read([buildid](Connection& c) {
      // Buildbot fails on an unknown build too (reading the missing build's builder).
      if (!c.stmt("SELECT 1 FROM builds WHERE id = ?").bind(buildid).one()) {
        throw NotFound("no build with id " + std::to_string(buildid));
      }
      SqlBlameSource src(c);
      auto ids = internal::blame_change_ids(src, buildid);
      std::map<int64_t, Change> by_id;
      for (Change& ch : load_changes(c, ids)) by_id.emplace(ch.changeid, std::move(ch));
      std::vector<Change> out;  // in the rule's order, not load_changes's
      for (int64_t id : ids) {
        if (auto it = by_id.find(id); it != by_id.end()) out.push_back(it->second);
      }
      return out;
    });
  }

  Future<std::optional<Change>> get_change_from_ssid(int64_t sourcestampid) override {
    return ctx_.pool.read([sourcestampid](Connection& c) -> std::optional<Change> {
      auto id = c.stmt("SELECT MAX(changeid) FROM changes WHERE sourcestampid = ?")
                    .bind(sourcestampid)
                    .scalar<int64_t>();
      if (!id) return std::nullopt;
      auto v = load_changes(c, {*id});
      if (v.empty()) return std::nullopt;
      return std::move(v.front());
    });
  }

  Future<void> prune_changes(int change_horizon) override {
    if (change_horizon < 0) {
      return make_error_future<void>(InvalidArgument(
          "change horizon must not be negative (got " + std::to_string(change_horizon) + ")"));
    }
    if (change_horizon == 0) return make_ready_future();
    auto cache = cache_;
    return ctx_.pool
        .transaction([change_horizon](Connection& c) {
          // The oldest change kept; everything below it goes.
          auto oldest_kept = c.stmt("SELECT changeid FROM changes ORDER BY changeid DESC LIMIT 1 OFFSET ?")
                                 .bind(change_horizon - 1)
                                 .scalar<int64_t>();
          if (!oldest_kept) return;
          // Parent links first (Buildbot's ON DELETE SET NULL): kept changes lose a deleted
          // parent, and deleted ones no longer refer to each other (MySQL checks each row).
          c.stmt("UPDATE changes SET parent_changeids = NULL WHERE parent_changeids < ?")
              .bind(*oldest_kept)
              .exec();
          for (const char* table : {"scheduler_changes", "change_files", "change_properties",
                                    "change_users", "changes"}) {
            c.stmt(std::string("DELETE FROM ") + table + " WHERE changeid < ?").bind(*oldest_kept).exec();
          }
        })
        .then([cache](Future<void> f) {
          // Deleted changes, and kept ones whose parent went, must not be served from the cache.
          cache->clear();
          f.get();
        });
  }

 private:
  internal::Context& ctx_;
  std::shared_ptr<Cache<int64_t, Change>> cache_;
};

}  // namespace

std::unique_ptr<internal::BlameSource> internal::make_sql_blame_source(Connection& c) {
  return std::make_unique<SqlBlameSource>(c);
}

std::unique_ptr<Changes> internal::make_sql_changes(Context& ctx) {
  return std::make_unique<SqlChanges>(ctx);
}

}  // namespace ym::db
