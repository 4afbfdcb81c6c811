#include "db/connectors/buildrequests.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

// A request with its builder's name and its claim, if any (at most one: brid is unique there).
constexpr const char* kSelect =
    "SELECT br.id, br.buildsetid, br.builderid, b.name, br.priority, c.claimed_at, c.masterid, "
    "br.complete, br.complete_at, br.submitted_at, COALESCE(br.results, -1), br.waited_for "
    "FROM buildrequests br JOIN builders b ON b.id = br.builderid "
    "LEFT JOIN buildrequest_claims c ON c.brid = br.id";

BuildRequest read_request(const Row& r) {
  BuildRequest br;
  br.buildrequestid = r.get<int64_t>(0);
  br.buildsetid = r.get<int64_t>(1);
  br.builderid = r.get<int64_t>(2);
  br.buildername = r.get<std::string>(3);
  br.priority = r.get<int>(4);
  br.claimed_at = r.get<std::optional<Timestamp>>(5);
  br.claimed_by_masterid = r.get<std::optional<int64_t>>(6);
  br.claimed = br.claimed_by_masterid.has_value();
  br.complete = r.get<bool>(7);
  br.complete_at = r.get<std::optional<Timestamp>>(8);
  br.submitted_at = r.get<Timestamp>(9);
  br.results = r.get<int>(10);
  br.waited_for = r.get<bool>(11);
  return br;
}

const internal::SpecFields& request_fields() {
  static const internal::SpecFields f{{{"buildrequestid", "br.id"},
                                       {"buildsetid", "br.buildsetid"},
                                       {"builderid", "br.builderid"},
                                       {"priority", "br.priority"},
                                       {"complete", "br.complete"},
                                       {"results", "COALESCE(br.results, -1)"},
                                       {"submitted_at", "br.submitted_at"},
                                       {"complete_at", "br.complete_at"},
                                       {"claimed_at", "c.claimed_at"},
                                       {"claimed_by_masterid", "c.masterid"},
                                       {"waited_for", "br.waited_for"}},
                                      {"buildrequestid"},
                                      {{"priority", true}, {"submitted_at", false}}};
  return f;
}

// The WHERE conditions of a filter (without its result spec).
struct Conditions {
  std::string sql = " WHERE 1 = 1";
  std::vector<Value> params;
  void add(const std::string& cond, Value v) {
    sql += " AND " + cond;
    params.push_back(std::move(v));
  }
};

Conditions conditions(const BuildRequestFilter& f) {
  Conditions w;
  if (f.builderid) w.add("br.builderid = ?", *f.builderid);
  if (f.buildername) w.add("b.name = ?", *f.buildername);
  if (f.complete) w.add("br.complete = ?", to_value(*f.complete));
  switch (f.claimed.kind()) {
    case ClaimFilter::Kind::kAny:
      break;
    case ClaimFilter::Kind::kClaimed:
      w.sql += " AND c.brid IS NOT NULL";
      break;
    case ClaimFilter::Kind::kUnclaimed:
      w.sql += " AND c.brid IS NULL AND br.complete = 0";
      break;
    case ClaimFilter::Kind::kByMaster:
      w.add("c.masterid = ?", f.claimed.masterid());
      break;
  }
  if (f.bsid) w.add("br.buildsetid = ?", *f.bsid);
  if (f.branch || f.repository) {
    // Both given: one stamp of the buildset must match both (as Buildbot's join does).
    w.sql +=
        " AND EXISTS (SELECT 1 FROM buildset_sourcestamps bss JOIN sourcestamps ss"
        " ON ss.id = bss.sourcestampid WHERE bss.buildsetid = br.buildsetid";
    if (f.branch) {
      w.sql += " AND ss.branch = ?";
      w.params.push_back(*f.branch);
    }
    if (f.repository) {
      w.sql += " AND ss.repository = ?";
      w.params.push_back(*f.repository);
    }
    w.sql += ")";
  }
  return w;
}

// `ids` without repeats, in their first-seen order (so errors name the first offender given).
std::vector<int64_t> unique_in_order(const std::vector<int64_t>& ids) {
  std::set<int64_t> seen;
  std::vector<int64_t> out;
  for (int64_t id : ids) {
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

class SqlBuildRequests final : public BuildRequests {
 public:
  explicit SqlBuildRequests(internal::Context& ctx) : ctx_(ctx) {}

  Future<std::optional<BuildRequest>> get_build_request(int64_t brid) override {
    return ctx_.pool.run([brid](Connection& c) -> std::optional<BuildRequest> {
      auto row = c.stmt(std::string(kSelect) + " WHERE br.id = ?").bind(brid).one();
      if (!row) return std::nullopt;
      return read_request(*row);
    });
  }

  Future<std::vector<BuildRequest>> get_build_requests(BuildRequestFilter filter) override {
    internal::SpecSql q;
    try {
      q = internal::render_spec(filter.spec, request_fields());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<BuildRequest>>(std::current_exception());
    }
    Conditions w = conditions(filter);
    return ctx_.pool.run([w = std::move(w), q = std::move(q)](Connection& c) {
      std::vector<BuildRequest> out;
      for (const Row& r : c.stmt(std::string(kSelect) + w.sql + q.where + q.order_limit)
                              .bind_all(w.params)
                              .bind_all(q.where_params)
                              .bind_all(q.tail_params)
                              .all()) {
        out.push_back(read_request(r));
      }
      return out;
    });
  }

  Future<void> claim_build_requests(std::vector<int64_t> brids, int64_t masterid,
                                    std::optional<Timestamp> claimed_at) override {
    int64_t at = claimed_at ? claimed_at->time_since_epoch().count() : ctx_.now();
    std::vector<int64_t> ids = unique_in_order(brids);
    if (ids.empty()) return make_ready_future();
    return ctx_.pool.transaction([ids = std::move(ids), masterid, at](Connection& c) {
      if (Pool::commit_outcome_unknown()) {
        // The reply to an earlier attempt's COMMIT was lost. Claims are all or nothing: if every
        // request is held by this master with this claim's time, that attempt committed.
        size_t ours = 0;
        internal::for_each_batch(c.dialect(), ids, 2, [&](const std::string& marks,
                                                           const auto& p) {
          ours += c.stmt("SELECT brid FROM buildrequest_claims WHERE masterid = ? AND "
                         "claimed_at = ? AND brid IN (" + marks + ")")
                      .bind(masterid, at)
                      .bind_all(p)
                      .all()
                      .size();
        });
        if (ours == ids.size()) return;
      }
      // Every request must exist, be incomplete and unclaimed; checked before the first insert
      // so that the error names the first offending id given. A request held (or complete) is
      // AlreadyClaimedError before any missing row is NotFound, as Buildbot's insert meets the
      // claim first (the unique brid) on every backend.
      std::map<int64_t, bool> taken;  // brid -> complete or claimed
      internal::for_each_batch(c.dialect(), ids, 0, [&](const std::string& marks, const auto& p) {
        for (const Row& r : c.stmt("SELECT br.id, br.complete, c.brid FROM buildrequests br "
                                   "LEFT JOIN buildrequest_claims c ON c.brid = br.id "
                                   "WHERE br.id IN (" +
                                   marks + ")")
                                .bind_all(p)
                                .all()) {
          taken[r.get<int64_t>(0)] = r.get<bool>(1) || !r.is_null(2);
        }
      });
      for (int64_t id : ids) {
        if (auto it = taken.find(id); it != taken.end() && it->second) {
          throw AlreadyClaimedError("build request " + std::to_string(id) +
                                    " is already claimed or complete");
        }
      }
      if (!c.stmt("SELECT id FROM masters WHERE id = ?").bind(masterid).one()) {
        throw NotFound("no master with id " + std::to_string(masterid));
      }
      for (int64_t id : ids) {
        if (!taken.count(id)) throw NotFound("no build request with id " + std::to_string(id));
      }
      // Inserted in id order, so that two masters claiming overlapping sets on a server backend
      // take the index locks in the same order: one waits for the other instead of deadlocking.
      std::vector<int64_t> sorted = ids;
      std::sort(sorted.begin(), sorted.end());
      for (auto batch : do_batch(sorted, batch_size(c.dialect(), 3))) {
        std::string values;
        std::vector<Value> params;
        for (int64_t id : batch) {
          values += values.empty() ? "(?, ?, ?)" : ", (?, ?, ?)";
          params.insert(params.end(), {id, masterid, at});
        }
        try {
          c.stmt("INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES " + values)
              .bind_all(params)
              .exec();
        } catch (const UniqueViolation&) {
          // Another master (another connection) claimed one of them after our check; throwing
          // rolls our whole transaction back, so none of these claims is kept.
          throw AlreadyClaimedError("a build request among those given was claimed concurrently");
        } catch (const ForeignKeyViolation&) {
          throw NotFound("a build request among those given was deleted concurrently");
        }
      }
    }, Unknown::kRetry);
  }

  Future<void> unclaim_build_requests(std::vector<int64_t> brids, int64_t masterid) override {
    std::vector<int64_t> ids = unique_in_order(brids);
    if (ids.empty()) return make_ready_future();
    return ctx_.pool.transaction([ids = std::move(ids), masterid](Connection& c) {
      internal::for_each_batch(c.dialect(), ids, 1, [&](const std::string& marks, const auto& p) {
        c.stmt("DELETE FROM buildrequest_claims WHERE masterid = ? AND brid IN (" + marks + ")")
            .bind(masterid)
            .bind_all(p)
            .exec();
      });
    });
  }

  Future<void> complete_build_requests(std::vector<int64_t> brids, int64_t masterid, int results,
                                       std::optional<Timestamp> complete_at) override {
    if (results == results::kRetry) {
      // As Buildbot's assertion: a retried build leaves its request to be built again.
      return make_error_future<void>(
          InvalidArgument("a build request cannot be completed with results RETRY"));
    }
    int64_t at = complete_at ? complete_at->time_since_epoch().count() : ctx_.now();
    std::vector<int64_t> ids = unique_in_order(brids);
    if (ids.empty()) return make_ready_future();
    return ctx_.pool.transaction([ids = std::move(ids), masterid, results, at](Connection& c) {
      if (Pool::commit_outcome_unknown()) {
        // The reply to an earlier attempt's COMMIT was lost: if every request is complete with
        // these results at this time under this master's claim, that attempt committed.
        size_t done = 0;
        internal::for_each_batch(c.dialect(), ids, 3, [&](const std::string& marks,
                                                          const auto& p) {
          done += c.stmt("SELECT br.id FROM buildrequests br JOIN buildrequest_claims c ON "
                         "c.brid = br.id WHERE br.complete = 1 AND br.results = ? AND "
                         "br.complete_at = ? AND c.masterid = ? AND br.id IN (" + marks + ")")
                      .bind(results, at, masterid)
                      .bind_all(p)
                      .all()
                      .size();
        });
        if (done == ids.size()) return;
      }
      std::set<int64_t> held;  // incomplete and claimed by masterid
      internal::for_each_batch(c.dialect(), ids, 1, [&](const std::string& marks, const auto& p) {
        for (const Row& r : c.stmt("SELECT br.id FROM buildrequests br JOIN buildrequest_claims c "
                                   "ON c.brid = br.id WHERE br.complete = 0 AND c.masterid = ? "
                                   "AND br.id IN (" +
                                   marks + ")")
                                .bind(masterid)
                                .bind_all(p)
                                .all()) {
          held.insert(r.get<int64_t>(0));
        }
      });
      for (int64_t id : ids) {
        if (!held.count(id)) {
          throw NotClaimedError("build request " + std::to_string(id) +
                                " is missing, complete, or not claimed by master " +
                                std::to_string(masterid));
        }
      }
      int64_t updated = 0;
      internal::for_each_batch(c.dialect(), ids, 3, [&](const std::string& marks, const auto& p) {
        updated += c.stmt(
                        "UPDATE buildrequests SET complete = 1, results = ?, complete_at = ? "
                        "WHERE complete = 0 AND id IN (" +
                        marks + ")")
                       .bind(results, at)
                       .bind_all(p)
                       .exec();
      });
      // A concurrent completion (another connection, between our check and our update) leaves
      // fewer rows to update; throwing rolls back the ones we did change.
      if (updated != static_cast<int64_t>(ids.size())) {
        throw NotClaimedError("a build request among those given was completed concurrently");
      }
    }, Unknown::kRetry);
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<BuildRequests> internal::make_sql_buildrequests(Context& ctx) {
  return std::make_unique<SqlBuildRequests>(ctx);
}

}  // namespace ym::db
