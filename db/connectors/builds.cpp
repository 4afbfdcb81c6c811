// SQL implementation of Builds: build records numbered per builder, and their properties.
#include "db/connectors/builds.hpp"

#include <set>
#include <tuple>

#include "db/connectors/changes_util.hpp"
#include "db/connectors/json_util.hpp"
#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

using internal::dump_json;
using internal::parse_json;

constexpr const char* kSelect =
    "SELECT b.id, b.number, b.builderid, b.buildrequestid, b.workerid, b.masterid, b.started_at, "
    "b.complete_at, b.state_string, b.results FROM builds b";

// Attempts at a build number inside one transaction before the whole transaction is retried.
constexpr int kNumberAttempts = 8;

Build read_build(const Row& r) {
  Build b;
  b.id = r.get<int64_t>(0);
  b.number = r.get<int>(1);
  b.builderid = r.get<int64_t>(2);
  b.buildrequestid = r.get<int64_t>(3);
  b.workerid = r.get<std::optional<int64_t>>(4);
  b.masterid = r.get<int64_t>(5);
  b.started_at = r.get<Timestamp>(6);
  b.complete_at = r.get<std::optional<Timestamp>>(7);
  b.state_string = r.get<std::string>(8);
  b.results = r.get<std::optional<int>>(9);
  return b;
}

const internal::SpecFields& build_fields() {
  static const internal::SpecFields fields{{{"id", "b.id"},
                                            {"number", "b.number"},
                                            {"builderid", "b.builderid"},
                                            {"buildrequestid", "b.buildrequestid"},
                                            {"workerid", "b.workerid"},
                                            {"masterid", "b.masterid"},
                                            {"started_at", "b.started_at"},
                                            {"complete_at", "b.complete_at"},
                                            {"state_string", "b.state_string"},
                                            {"results", "b.results"}},
                                           {"id"},
                                           {{"id", false}}};
  return fields;
}

void check_text(const char* what, const std::string& s) {
  if (!is_valid_utf8(s)) throw InvalidArgument(std::string(what) + " is not valid UTF-8");
}

void require_row(Connection& c, const char* sql, int64_t id, const char* what) {
  if (!c.stmt(sql).bind(id).one()) {
    throw NotFound("no " + std::string(what) + " with id " + std::to_string(id));
  }
}

class SqlBuilds final : public Builds {
 public:
  explicit SqlBuilds(internal::Context& ctx) : ctx_(ctx) {}

  Future<std::optional<Build>> get_build(int64_t buildid) override {
    return ctx_.pool.run([buildid](Connection& c) -> std::optional<Build> {
      auto row = c.stmt(std::string(kSelect) + " WHERE b.id = ?").bind(buildid).one();
      if (!row) return std::nullopt;
      return read_build(*row);
    });
  }

  Future<std::optional<Build>> get_build_by_number(int64_t builderid, int number) override {
    return ctx_.pool.run([builderid, number](Connection& c) -> std::optional<Build> {
      auto row = c.stmt(std::string(kSelect) + " WHERE b.builderid = ? AND b.number = ?")
                     .bind(builderid, number)
                     .one();
      if (!row) return std::nullopt;
      return read_build(*row);
    });
  }

  Future<std::vector<Build>> get_builds(BuildFilter filter) override {
    std::string sql = std::string(kSelect) + " WHERE 1 = 1";
    std::vector<Value> params;
    try {
      if (filter.builderid) {
        sql += " AND b.builderid = ?";
        params.push_back(*filter.builderid);
      }
      if (filter.buildrequestid) {
        sql += " AND b.buildrequestid = ?";
        params.push_back(*filter.buildrequestid);
      }
      if (filter.workerid) {
        sql += " AND b.workerid = ?";
        params.push_back(*filter.workerid);
      }
      if (filter.complete) {
        sql += *filter.complete ? " AND b.complete_at IS NOT NULL" : " AND b.complete_at IS NULL";
      }
      auto spec = internal::render_spec(filter.spec, build_fields());
      sql += spec.where + spec.order_limit;
      params.insert(params.end(), spec.where_params.begin(), spec.where_params.end());
      params.insert(params.end(), spec.tail_params.begin(), spec.tail_params.end());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<Build>>(std::current_exception());
    }
    return ctx_.pool.run([sql, params](Connection& c) {
      std::vector<Build> out;
      for (const Row& r : c.stmt(sql).bind_all(params).all()) out.push_back(read_build(r));
      return out;
    });
  }

  Future<std::optional<Build>> get_prev_successful_build(
      int64_t builderid, int number, std::vector<SourceStamp> sourcestamps) override {
    internal::StampKeys wanted;
    for (const auto& ss : sourcestamps) wanted.emplace(ss.repository, ss.branch, ss.codebase);
    return ctx_.pool.read([builderid, number, wanted](Connection& c) -> std::optional<Build> {
      // The blame list's rule, through the same helper (changes_util.hpp).
      auto src = internal::make_sql_blame_source(c);
      auto id = internal::previous_successful_build(*src, builderid, number, wanted);
      if (!id) return std::nullopt;
      auto row = c.stmt(std::string(kSelect) + " WHERE b.id = ?").bind(*id).one();
      if (!row) return std::nullopt;
      return read_build(*row);
    });
  }

  Future<AddedBuild> add_build(int64_t builderid, int64_t buildrequestid,
                               std::optional<int64_t> workerid, int64_t masterid,
                               std::string state_string) override {
    try {
      check_text("build state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<AddedBuild>(std::current_exception());
    }
    int64_t now = ctx_.now();
    return ctx_.pool.transaction([=](Connection& c) -> AddedBuild {
      if (Pool::commit_outcome_unknown()) {
        // The reply to an earlier attempt's COMMIT was lost: the build may exist already.
        // (A master runs one build of a request at a time, so an unfinished build of this
        // request by this master started at this very second is that attempt's.)
        if (auto row = c.stmt("SELECT id, number FROM builds WHERE builderid = ? AND "
                              "buildrequestid = ? AND masterid = ? AND started_at = ? AND "
                              "complete_at IS NULL ORDER BY id DESC")
                           .bind(builderid, buildrequestid, masterid, now)
                           .one()) {
          return AddedBuild{row->get<int64_t>(0), row->get<int>(1)};
        }
      }
      require_row(c, "SELECT 1 FROM builders WHERE id = ?", builderid, "builder");
      require_row(c, "SELECT 1 FROM buildrequests WHERE id = ?", buildrequestid, "build request");
      if (workerid) require_row(c, "SELECT 1 FROM workers WHERE id = ?", *workerid, "worker");
      require_row(c, "SELECT 1 FROM masters WHERE id = ?", masterid, "master");
      // A concurrent add_build on a server backend may take the number we chose: the unique
      // (builderid, number) index refuses ours, and we try the next one. A number is skipped
      // only once it is known to be taken, so numbers stay gapless.
      int64_t tried = 0;
      for (int attempt = 0; attempt < kNumberAttempts; ++attempt) {
        int64_t highest = *c.stmt("SELECT COALESCE(MAX(number), 0) FROM builds WHERE builderid = ?")
                               .bind(builderid)
                               .scalar<int64_t>();
        int64_t number = std::max(highest, tried) + 1;
        c.execute_script("SAVEPOINT ym_add_build");
        try {
          int64_t id =
              c.stmt(
                   "INSERT INTO builds (number, builderid, buildrequestid, workerid, "
                   "masterid, started_at, complete_at, state_string, results) "
                   "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL)")
                  .bind(number, builderid, buildrequestid, workerid, masterid, now, state_string)
                  .insert();
          c.execute_script("RELEASE SAVEPOINT ym_add_build");
          return AddedBuild{id, static_cast<int>(number)};
        } catch (const UniqueViolation&) {
          c.execute_script("ROLLBACK TO SAVEPOINT ym_add_build");
          tried = number;
        }
      }
      throw TransientError("build number for builder " + std::to_string(builderid) +
                           " kept being taken by concurrent builds");
    }, Unknown::kRetry);
  }

  Future<void> set_build_state_string(int64_t buildid, std::string state_string) override {
    try {
      check_text("build state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    // An unknown build matches no row: nothing changes, as in Buildbot. Idempotent, so a repeat
    // after a lost COMMIT reply is harmless.
    return ctx_.pool.write_one(
        [buildid, state_string](Connection& c) {
          c.stmt("UPDATE builds SET state_string = ? WHERE id = ?").bind(state_string, buildid).exec();
        },
        Unknown::kRetry);
  }

  Future<void> finish_build(int64_t buildid, int results) override {
    int64_t now = ctx_.now();
    // As set_build_state_string: an unknown build is not an error, and the values (the time
    // included) are fixed before the call is queued, so a repeat writes the same row again.
    return ctx_.pool.write_one(
        [buildid, results, now](Connection& c) {
          c.stmt("UPDATE builds SET results = ?, complete_at = ? WHERE id = ?")
              .bind(results, now, buildid)
              .exec();
        },
        Unknown::kRetry);
  }

  Future<void> complete_build(int64_t buildid, int64_t masterid, int results,
                              std::string state_string) override {
    try {
      check_text("build state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    int64_t now = ctx_.now();
    // Idempotent by its own check (a repeat finds its work done), so a lost COMMIT reply is
    // retried.
    return ctx_.pool.transaction([=](Connection& c) {
      auto row = c.stmt("SELECT b.buildrequestid, b.masterid, b.complete_at, b.results, "
                        "br.buildsetid, br.complete, br.results FROM builds b "
                        "JOIN buildrequests br ON br.id = b.buildrequestid WHERE b.id = ?")
                     .bind(buildid)
                     .one();
      if (!row) throw NotFound("no build with id " + std::to_string(buildid));
      const int64_t brid = row->get<int64_t>(0);
      const int64_t bsid = row->get<int64_t>(4);
      auto held = [&] {
        return c.stmt("SELECT 1 FROM buildrequest_claims WHERE brid = ? AND masterid = ?")
            .bind(brid, masterid)
            .one()
            .has_value();
      };
      if (!row->is_null(2)) {
        if (row->get<int64_t>(1) == masterid && row->get<std::optional<int>>(3) == results &&
            row->get<bool>(5) && row->get<std::optional<int>>(6) == results && held()) {
          return;  // this very completion, already made
        }
        throw NotClaimedError("build " + std::to_string(buildid) +
                              " is already finished (its master may have been taken over): it "
                              "cannot complete build request " +
                              std::to_string(brid));
      }
      if (row->get<int64_t>(1) != masterid) {
        throw NotClaimedError("build " + std::to_string(buildid) + " belongs to master " +
                              std::to_string(row->get<int64_t>(1)) + ", not " +
                              std::to_string(masterid));
      }
      // The build first, by an UPDATE that holds its row lock and re-checks it: a peer's
      // take-over (Masters::set_master_state) that ended it as RETRY and committed while this
      // transaction ran leaves it finished, and nothing here may then complete its request.
      // (A check by SELECT alone reads the snapshot from before that commit.)
      if (c.stmt("UPDATE builds SET results = ?, complete_at = ?, state_string = ? "
                 "WHERE id = ? AND masterid = ? AND complete_at IS NULL")
              .bind(results, now, state_string, buildid, masterid)
              .exec() != 1) {
        throw NotClaimedError("build " + std::to_string(buildid) +
                              " was finished meanwhile (its master was taken over): it cannot "
                              "complete build request " + std::to_string(brid));
      }
      // Then the buildset's row lock: two masters completing its last two requests then take
      // turns, and the second sees the first's completion (both servers run write transactions
      // at READ COMMITTED, where each statement sees what committed before it). On MySQL the
      // update must change the row: one that changes nothing is left out of a Galera cluster's
      // write set, so that two masters on two nodes would not conflict and each would miss the
      // other's completion, leaving the buildset incomplete for ever. It marks complete_at (NULL
      // while the buildset is incomplete) and puts it back below; the cluster then certifies the
      // two in turn and retries the second, which sees the first's completion.
      const bool mark = c.dialect().backend == Backend::kMysql;
      c.stmt(mark ? "UPDATE buildsets SET complete_at = -1 WHERE id = ? AND complete = 0"
                  : "UPDATE buildsets SET complete = complete WHERE id = ?")
          .bind(bsid)
          .exec();
      if (c.stmt("UPDATE buildrequests SET complete = 1, results = ?, complete_at = ? "
                 "WHERE id = ? AND complete = 0 AND EXISTS (SELECT 1 FROM buildrequest_claims "
                 "cl WHERE cl.brid = buildrequests.id AND cl.masterid = ?)")
              .bind(results, now, brid, masterid)
              .exec() != 1) {
        throw NotClaimedError("build request " + std::to_string(brid) +
                              " is complete or no longer claimed by master " +
                              std::to_string(masterid) + ": build " + std::to_string(buildid) +
                              " cannot complete it");
      }
      // The steps of a completing build are finished already; one left open was cut short
      // (the build's own row is finished above, so only its steps and logs change here).
      internal::end_unfinished_builds(c, std::vector<int64_t>(1, buildid), results, results::kCancelled,
                            state_string, now);
      int pending = 0;
      int worst = results::kSuccess;
      for (const Row& r : c.stmt("SELECT complete, results FROM buildrequests WHERE buildsetid = ?")
                              .bind(bsid)
                              .all()) {
        if (!r.get<bool>(0)) ++pending;
        worst = results::worst(worst, r.get<std::optional<int>>(1).value_or(results::kSuccess));
      }
      if (pending == 0) {
        c.stmt("UPDATE buildsets SET complete = 1, complete_at = ?, results = ? "
               "WHERE id = ? AND complete = 0")
            .bind(now, worst, bsid)
            .exec();
      } else if (mark) {
        c.stmt("UPDATE buildsets SET complete_at = NULL WHERE id = ? AND complete = 0").bind(bsid).exec();
      }
    }, Unknown::kRetry);
  }

  Future<int> abandon_builds(int64_t buildrequestid, int64_t masterid, int results,
                             std::string state_string) override {
    try {
      check_text("build state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<int>(std::current_exception());
    }
    int64_t now = ctx_.now();
    return ctx_.pool.transaction([=](Connection& c) {
      require_row(c, "SELECT 1 FROM buildrequests WHERE id = ?", buildrequestid, "build request");
      std::vector<int64_t> ids;
      for (const Row& r : c.stmt("SELECT id FROM builds WHERE buildrequestid = ? AND masterid = ? "
                                 "AND complete_at IS NULL ORDER BY id")
                              .bind(buildrequestid, masterid)
                              .all()) {
        ids.push_back(r.get<int64_t>(0));
      }
      internal::end_unfinished_builds(c, ids, results, results, state_string, now);
      c.stmt("DELETE FROM buildrequest_claims WHERE brid = ? AND masterid = ? AND brid IN "
             "(SELECT id FROM buildrequests WHERE complete = 0)")
          .bind(buildrequestid, masterid)
          .exec();
      return static_cast<int>(ids.size());
    }, Unknown::kRetry);
  }

  Future<Properties> get_build_properties(int64_t buildid) override {
    return ctx_.pool.run([buildid](Connection& c) {
      Properties out;
      for (const Row& r :
           c.stmt(
                "SELECT name, value, source FROM build_properties WHERE buildid = ? ORDER BY name")
               .bind(buildid)
               .all()) {
        std::string name = r.get<std::string>(0);
        out[name] = Property{parse_json(r.get<std::string>(1), "build property '" + name + "'"),
                             r.get<std::string>(2)};
      }
      return out;
    });
  }

  Future<void> set_build_property(int64_t buildid, std::string name, nlohmann::json value,
                                  std::string source) override {
    std::string json;
    try {
      if (name.empty()) throw InvalidArgument("build property name is empty");
      check_text("build property name", name);
      check_text("build property source", source);
      check_length("build_properties", "name", name);
      check_length("build_properties", "source", source);
      json = dump_json(value, "build property '" + name + "'");
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    return ctx_.pool.transaction([buildid, name, json, source](Connection& c) {
      require_row(c, "SELECT 1 FROM builds WHERE id = ?", buildid, "build");
      constexpr const char* kUpdate =
          "UPDATE build_properties SET value = ?, source = ? WHERE buildid = ? AND name = ?";
      // 0 rows: no such property yet, or (MySQL) the same value was already stored. The insert
      // tells them apart; a racing insert of the same name also lands in the catch.
      if (c.stmt(kUpdate).bind(json, source, buildid, name).exec() > 0) return;
      c.execute_script("SAVEPOINT ym_build_property");
      try {
        c.stmt("INSERT INTO build_properties (buildid, name, value, source) VALUES (?, ?, ?, ?)")
            .bind(buildid, name, json, source)
            .exec();
        c.execute_script("RELEASE SAVEPOINT ym_build_property");
      } catch (const UniqueViolation&) {
        c.execute_script("ROLLBACK TO SAVEPOINT ym_build_property");
        c.stmt(kUpdate).bind(json, source, buildid, name).exec();
      }
    });
  }

  Future<std::vector<Build>> get_builds_for_change(int64_t changeid) override {
    if (changeid <= 0) {
      return make_error_future<std::vector<Build>>(
          InvalidArgument("change id must be positive (got " + std::to_string(changeid) + ")"));
    }
    return ctx_.pool.read([changeid](Connection& c) {
      std::vector<Build> out;
      for (const Row& r :
           c.stmt(std::string(kSelect) +
                  " JOIN buildrequests br ON br.id = b.buildrequestid"
                  " JOIN buildset_sourcestamps bss ON bss.buildsetid = br.buildsetid"
                  " JOIN changes ch ON ch.sourcestampid = bss.sourcestampid"
                  " WHERE ch.changeid = ? ORDER BY b.id")
               .bind(changeid)
               .all()) {
        out.push_back(read_build(r));
      }
      return out;
    });
  }

  Future<Properties> get_build_properties(int64_t buildid, ResultSpec spec) override {
    static const internal::SpecFields fields{
        {{"name", "bp.name"}, {"source", "bp.source"}}, {"name"}, {{"name", false}}};
    internal::SpecSql sql;
    try {
      sql = internal::render_spec(spec, fields);
    } catch (const Error&) {
      return make_exceptional_future<Properties>(std::current_exception());
    }
    return ctx_.pool.run([buildid, sql](Connection& c) {
      Properties out;
      for (const Row& r : c.stmt("SELECT bp.name, bp.value, bp.source FROM build_properties bp "
                                 "WHERE bp.buildid = ?" + sql.where + sql.order_limit)
                              .bind(buildid)
                              .bind_all(sql.where_params)
                              .bind_all(sql.tail_params)
                              .all()) {
        std::string name = r.get<std::string>(0);
        out[name] = Property{parse_json(r.get<std::string>(1), "build property '" + name + "'"),
                             r.get<std::string>(2)};
      }
      return out;
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

void internal::end_unfinished_builds(Connection& c, const std::vector<int64_t>& buildids,
                                     int results, int step_results,
                                     const std::string& state_string, int64_t now) {
  internal::for_each_batch(c.dialect(), buildids, 0, [&](const std::string& marks,
                                                         const std::vector<Value>& p) {
    c.stmt("UPDATE logs SET complete = 1 WHERE complete = 0 AND stepid IN "
           "(SELECT id FROM steps WHERE buildid IN (" + marks + "))")
        .bind_all(p)
        .exec();
  });
  internal::for_each_batch(c.dialect(), buildids, 2, [&](const std::string& marks,
                                                         const std::vector<Value>& p) {
    c.stmt("UPDATE steps SET results = ?, complete_at = ? WHERE complete_at IS NULL AND "
           "buildid IN (" + marks + ")")
        .bind(step_results, now)
        .bind_all(p)
        .exec();
  });
  internal::for_each_batch(c.dialect(), buildids, 3, [&](const std::string& marks,
                                                         const std::vector<Value>& p) {
    c.stmt("UPDATE builds SET results = ?, complete_at = ?, state_string = ? WHERE "
           "complete_at IS NULL AND id IN (" + marks + ")")
        .bind(results, now, state_string)
        .bind_all(p)
        .exec();
  });
}

std::unique_ptr<Builds> internal::make_sql_builds(Context& ctx) {
  return std::make_unique<SqlBuilds>(ctx);
}

}  // namespace ym::db
