#include "db/connectors/buildsets.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "db/connectors/buildsets_internal.hpp"
#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

constexpr const char* kSelect =
    "SELECT bs.id, bs.external_idstring, bs.reason, bs.submitted_at, bs.complete, "
    "bs.complete_at, COALESCE(bs.results, -1), bs.parent_buildid, bs.parent_relationship FROM buildsets bs";

Buildset read_buildset(const Row& r) {
  Buildset b;
  b.bsid = r.get<int64_t>(0);
  b.external_idstring = r.get<std::optional<std::string>>(1);
  b.reason = r.get<std::optional<std::string>>(2);
  b.submitted_at = r.get<Timestamp>(3);
  b.complete = r.get<bool>(4);
  b.complete_at = r.get<std::optional<Timestamp>>(5);
  b.results = r.get<int>(6);
  b.parent_buildid = r.get<std::optional<int64_t>>(7);
  b.parent_relationship = r.get<std::optional<std::string>>(8);
  return b;
}

// Reads the buildsets of `rows` (kSelect columns) and fills in their source stamps.
std::vector<Buildset> read_with_stamps(Connection& c, const Result& rows) {
  std::vector<Buildset> out;
  std::map<int64_t, size_t> pos;
  std::vector<int64_t> ids;
  for (const Row& r : rows) {
    out.push_back(read_buildset(r));
    pos[out.back().bsid] = out.size() - 1;
    ids.push_back(out.back().bsid);
  }
  internal::for_each_batch(c.dialect(), ids, 0, [&](const std::string& marks, const auto& params) {
    for (const Row& r : c.stmt("SELECT buildsetid, sourcestampid FROM buildset_sourcestamps "
                               "WHERE buildsetid IN (" +
                               marks + ") ORDER BY buildsetid, sourcestampid")
                            .bind_all(params)
                            .all()) {
      out[pos.at(r.get<int64_t>(0))].sourcestamps.push_back(r.get<int64_t>(1));
    }
  });
  return out;
}

const internal::SpecFields& buildset_fields() {
  static const internal::SpecFields f{{{"bsid", "bs.id"},
                                       {"external_idstring", "bs.external_idstring"},
                                       {"reason", "bs.reason"},
                                       {"submitted_at", "bs.submitted_at"},
                                       {"complete", "bs.complete"},
                                       {"complete_at", "bs.complete_at"},
                                       {"results", "COALESCE(bs.results, -1)"},
                                       {"parent_buildid", "bs.parent_buildid"}},
                                      {"bsid"},
                                      {}};
  return f;
}

// The ids of `ids` that exist in `table`, checked in batches.
std::set<int64_t> existing(Connection& c, const std::string& table,
                           const std::vector<int64_t>& ids) {
  std::set<int64_t> found;
  internal::for_each_batch(c.dialect(), ids, 0, [&](const std::string& marks, const auto& params) {
    for (const Row& r : c.stmt("SELECT id FROM " + table + " WHERE id IN (" + marks + ")")
                            .bind_all(params)
                            .all()) {
      found.insert(r.get<int64_t>(0));
    }
  });
  return found;
}

class SqlBuildsets final : public Buildsets {
 public:
  explicit SqlBuildsets(internal::Context& ctx) : ctx_(ctx) {}

  Future<AddedBuildset> add_buildset(NewBuildset bs) override {
    std::vector<internal::StoredProperty> props;
    try {
      props = internal::check_new_buildset(bs);
    } catch (const Error&) {
      return make_exceptional_future<AddedBuildset>(std::current_exception());
    }
    int64_t now = ctx_.now();
    return ctx_.pool.transaction([bs = std::move(bs), props = std::move(props),
                                  now](Connection& c) {
      // Everything that must exist is checked before the first write of the buildset, so that
      // the error names what is missing rather than a foreign key; in the order Buildbot's
      // inserts meet them: the parent, the stamps, the builders.
      if (bs.parent_buildid &&
          !c.stmt("SELECT id FROM builds WHERE id = ?").bind(*bs.parent_buildid).one()) {
        throw NotFound("no build with id " + std::to_string(*bs.parent_buildid) +
                       " (the buildset's parent)");
      }
      std::vector<int64_t> given;
      for (const auto& ref : bs.sourcestamps) {
        if (const auto* id = std::get_if<int64_t>(&ref)) given.push_back(*id);
      }
      auto stamps = existing(c, "sourcestamps", given);
      for (int64_t id : given) {
        if (!stamps.count(id)) throw NotFound("no source stamp with id " + std::to_string(id));
      }

      std::set<int64_t> ssids;
      for (const auto& ref : bs.sourcestamps) {
        int64_t ssid = 0;
        if (const auto* id = std::get_if<int64_t>(&ref)) {
          ssid = *id;
        } else {
          ssid = internal::find_source_stamp_id(c, std::get<SourceStampSpec>(ref), now);
        }
        // One stamp named twice: Buildbot's unique (buildsetid, sourcestampid) refuses it. The
        // stamps found or made so far roll back with the transaction.
        if (!ssids.insert(ssid).second) {
          throw AlreadyExists("the buildset names source stamp " + std::to_string(ssid) + " twice");
        }
      }
      auto builders = existing(c, "builders", bs.builderids);
      for (int64_t id : bs.builderids) {
        if (!builders.count(id)) throw NotFound("no builder with id " + std::to_string(id));
      }
      int64_t submitted = bs.submitted_at ? bs.submitted_at->time_since_epoch().count() : now;
      AddedBuildset out;
      out.bsid = c.stmt(
                      "INSERT INTO buildsets (external_idstring, reason, submitted_at, complete, "
                      "results, parent_buildid, parent_relationship) VALUES (?, ?, ?, 0, ?, ?, ?)")
                     .bind(bs.external_idstring, bs.reason, submitted, results::kNotYet,
                           bs.parent_buildid,
                           bs.parent_relationship)
                     .insert();
      for (const auto& p : props) {
        c.stmt(
             "INSERT INTO buildset_properties (buildsetid, property_name, property_value) "
             "VALUES (?, ?, ?)")
            .bind(out.bsid, p.name, p.value_json)
            .exec();
      }
      for (int64_t ssid : ssids) {
        c.stmt("INSERT INTO buildset_sourcestamps (buildsetid, sourcestampid) VALUES (?, ?)")
            .bind(out.bsid, ssid)
            .exec();
      }
      for (int64_t builderid : bs.builderids) {
        out.brids[builderid] =
            c.stmt(
                 "INSERT INTO buildrequests (buildsetid, builderid, priority, complete, results, "
                 "submitted_at, waited_for) VALUES (?, ?, ?, 0, ?, ?, ?)")
                .bind(out.bsid, builderid, bs.priority, results::kNotYet, submitted,
                      bs.waited_for)
                .insert();
      }
      return out;
    });
  }

  Future<void> complete_buildset(int64_t bsid, int results,
                                 std::optional<Timestamp> complete_at) override {
    int64_t at = complete_at ? complete_at->time_since_epoch().count() : ctx_.now();
    return ctx_.pool.transaction([bsid, results, at](Connection& c) {
      // The complete = 0 condition makes "already complete" and "missing" one atomic check.
      if (c.stmt("UPDATE buildsets SET complete = 1, results = ?, complete_at = ? "
                 "WHERE id = ? AND complete = 0")
              .bind(results, at, bsid)
              .exec() == 0) {
        throw NotFound("no incomplete buildset with id " + std::to_string(bsid));
      }
    });
  }

  Future<std::optional<Buildset>> get_buildset(int64_t bsid) override {
    return ctx_.pool.read([bsid](Connection& c) -> std::optional<Buildset> {
      auto v =
          read_with_stamps(c, c.stmt(std::string(kSelect) + " WHERE bs.id = ?").bind(bsid).all());
      if (v.empty()) return std::nullopt;
      return std::move(v.front());
    });
  }

  Future<std::vector<Buildset>> get_buildsets(std::optional<bool> complete,
                                              ResultSpec spec) override {
    internal::SpecSql q;
    try {
      q = internal::render_spec(spec, buildset_fields());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<Buildset>>(std::current_exception());
    }
    return ctx_.pool.read([complete, q = std::move(q)](Connection& c) {
      std::vector<Value> params;
      std::string where = " WHERE 1 = 1";
      if (complete) {
        where += " AND bs.complete = ?";
        params.push_back(to_value(*complete));
      }
      return read_with_stamps(c, c.stmt(std::string(kSelect) + where + q.where + q.order_limit)
                                     .bind_all(params)
                                     .bind_all(q.where_params)
                                     .bind_all(q.tail_params)
                                     .all());
    });
  }

  Future<std::vector<Buildset>> get_recent_buildsets(int count, std::optional<std::string> branch,
                                                     std::optional<std::string> repository,
                                                     std::optional<bool> complete) override {
    if (count < 0) {
      return make_error_future<std::vector<Buildset>>(
          InvalidArgument("get_recent_buildsets: count is negative"));
    }
    return ctx_.pool.read([count, branch, repository, complete](Connection& c) {
      std::vector<Value> params;
      std::string where = " WHERE 1 = 1";
      if (complete) {
        where += " AND bs.complete = ?";
        params.push_back(to_value(*complete));
      }
      if (branch || repository) {
        // Both given: one stamp must match both (as Buildbot's join does).
        where +=
            " AND EXISTS (SELECT 1 FROM buildset_sourcestamps bss JOIN sourcestamps ss"
            " ON ss.id = bss.sourcestampid WHERE bss.buildsetid = bs.id";
        if (branch) {
          where += " AND ss.branch = ?";
          params.push_back(*branch);
        }
        if (repository) {
          where += " AND ss.repository = ?";
          params.push_back(*repository);
        }
        where += ")";
      }
      params.push_back(int64_t{count});
      auto out = read_with_stamps(c, c.stmt(std::string(kSelect) + where +
                                            " ORDER BY bs.submitted_at DESC, bs.id DESC LIMIT ?")
                                         .bind_all(params)
                                         .all());
      std::reverse(out.begin(), out.end());
      return out;
    });
  }

  Future<Properties> get_buildset_properties(int64_t bsid) override {
    return ctx_.pool.run([bsid](Connection& c) {
      Properties out;
      for (const Row& r : c.stmt("SELECT property_name, property_value FROM buildset_properties "
                                 "WHERE buildsetid = ? ORDER BY property_name")
                              .bind(bsid)
                              .all()) {
        auto name = r.get<std::string>(0);
        out[name] = internal::parse_stored_property(name, r.get<std::string>(1));
      }
      return out;
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<Buildsets> internal::make_sql_buildsets(Context& ctx) {
  return std::make_unique<SqlBuildsets>(ctx);
}

}  // namespace ym::db
