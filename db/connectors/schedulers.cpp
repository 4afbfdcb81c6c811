#include "db/connectors/schedulers.hpp"

#include <set>

#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

void check_name(const std::string& name) {
  // An empty name is a name (as in Buildbot).
  if (!is_valid_utf8(name)) throw InvalidArgument("scheduler name is not valid UTF-8");
}

void require_scheduler(Connection& c, int64_t schedulerid) {
  if (!c.stmt("SELECT 1 FROM schedulers WHERE id = ?").bind(schedulerid).one()) {
    throw NotFound("no scheduler with id " + std::to_string(schedulerid));
  }
}

constexpr const char* kSelect =
    "SELECT s.id, s.name, sm.masterid, s.enabled FROM schedulers s "
    "LEFT JOIN scheduler_masters sm ON sm.schedulerid = s.id";

Scheduler read_scheduler(const Row& r) {
  return Scheduler{r.get<int64_t>(0), r.get<std::string>(1), r.get<std::optional<int64_t>>(2),
                   r.get<bool>(3)};
}

class SqlSchedulers final : public Schedulers {
 public:
  explicit SqlSchedulers(internal::Context& ctx) : ctx_(ctx) {}

  Future<void> classify_changes(int64_t schedulerid,
                                std::map<int64_t, bool> classifications) override {
    return ctx_.pool.transaction([schedulerid, classifications](Connection& c) {
      require_scheduler(c, schedulerid);
      std::vector<int64_t> ids;
      ids.reserve(classifications.size());
      for (const auto& [id, important] : classifications) ids.push_back(id);
      const Dialect& d = c.dialect();
      // Every change must exist before anything is written (the call is all-or-nothing).
      internal::for_each_batch(d, ids, 0, [&](const std::string& marks, std::vector<Value>& p) {
        auto n = c.stmt("SELECT COUNT(*) FROM changes WHERE changeid IN (" + marks + ")")
                     .bind_all(p)
                     .scalar<int64_t>();
        if (n.value_or(0) != static_cast<int64_t>(p.size())) {
          std::set<int64_t> found;
          for (const Row& r :
               c.stmt("SELECT changeid FROM changes WHERE changeid IN (" + marks + ")")
                   .bind_all(p)
                   .all()) {
            found.insert(r.get<int64_t>(0));
          }
          for (const Value& v : p) {
            int64_t id = std::get<int64_t>(v);
            if (!found.count(id)) throw NotFound("no change with id " + std::to_string(id));
          }
        }
      });
      // A new classification replaces the old one: delete, then insert.
      internal::for_each_batch(d, ids, 1, [&](const std::string& marks, std::vector<Value>& p) {
        c.stmt("DELETE FROM scheduler_changes WHERE schedulerid = ? AND changeid IN (" + marks +
               ")")
            .bind(schedulerid)
            .bind_all(p)
            .exec();
      });
      for (const auto& [id, important] : classifications) {
        c.stmt("INSERT INTO scheduler_changes (schedulerid, changeid, important) VALUES (?, ?, ?)")
            .bind(schedulerid, id, important)
            .exec();
      }
    });
  }

  Future<void> flush_change_classifications(int64_t schedulerid,
                                            std::optional<int64_t> less_than) override {
    return ctx_.pool.transaction([schedulerid, less_than](Connection& c) {
      if (less_than) {
        c.stmt("DELETE FROM scheduler_changes WHERE schedulerid = ? AND changeid < ?")
            .bind(schedulerid, *less_than)
            .exec();
      } else {
        c.stmt("DELETE FROM scheduler_changes WHERE schedulerid = ?").bind(schedulerid).exec();
      }
    });
  }

  Future<std::map<int64_t, bool>> get_change_classifications(int64_t schedulerid,
                                                             BranchFilter branch) override {
    return ctx_.pool.run([schedulerid, branch](Connection& c) {
      std::string sql = "SELECT sc.changeid, sc.important FROM scheduler_changes sc";
      std::vector<Value> params;
      if (branch.given()) {
        sql += " JOIN changes ch ON ch.changeid = sc.changeid";
      }
      sql += " WHERE sc.schedulerid = ?";
      params.push_back(schedulerid);
      if (branch.given()) {
        if (branch.branch()) {
          sql += " AND ch.branch = ?";
          params.push_back(*branch.branch());
        } else {
          sql += " AND ch.branch IS NULL";
        }
      }
      std::map<int64_t, bool> out;
      for (const Row& r : c.stmt(sql + " ORDER BY sc.changeid").bind_all(params).all()) {
        out[r.get<int64_t>(0)] = r.get<bool>(1);
      }
      return out;
    });
  }

  Future<std::map<int64_t, bool>> get_change_classifications(
      int64_t schedulerid, ChangeClassificationFilter filter) override {
    return ctx_.pool.run([schedulerid, filter](Connection& c) {
      std::string where;
      std::vector<Value> params{schedulerid};
      if (filter.branch.given()) {
        if (filter.branch.branch()) {
          where += " AND ch.branch = ?";
          params.push_back(*filter.branch.branch());
        } else {
          where += " AND ch.branch IS NULL";
        }
      }
      for (const auto& [column, value] : {std::pair{"repository", &filter.repository},
                                          std::pair{"project", &filter.project},
                                          std::pair{"codebase", &filter.codebase}}) {
        if (!*value) continue;
        where += std::string(" AND ch.") + column + " = ?";
        params.push_back(**value);
      }
      std::string sql = "SELECT sc.changeid, sc.important FROM scheduler_changes sc";
      if (!where.empty()) sql += " JOIN changes ch ON ch.changeid = sc.changeid";
      std::map<int64_t, bool> out;
      for (const Row& r : c.stmt(sql + " WHERE sc.schedulerid = ?" + where + " ORDER BY sc.changeid")
                              .bind_all(params)
                              .all()) {
        out[r.get<int64_t>(0)] = r.get<bool>(1);
      }
      return out;
    });
  }

  Future<int64_t> find_scheduler_id(std::string name) override {
    try {
      check_name(name);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.run([name = std::move(name)](Connection& c) {
      std::string hash = hash_columns({name});
      std::vector<Value> sel{hash};
      std::vector<Value> ins{name, hash, int64_t{1}};
      return *find_something_id(c, "SELECT id FROM schedulers WHERE name_hash = ?", sel,
                                "INSERT INTO schedulers (name, name_hash, enabled) "
                                "VALUES (?, ?, ?)",
                                ins);
    });
  }

  Future<void> set_scheduler_master(int64_t schedulerid, std::optional<int64_t> masterid) override {
    return ctx_.pool.transaction([schedulerid, masterid](Connection& c) {
      if (!masterid) {
        // Releasing: an unknown scheduler has no master to release (nothing changes, as in
        // Buildbot).
        c.stmt("DELETE FROM scheduler_masters WHERE schedulerid = ?").bind(schedulerid).exec();
        return;
      }
      require_scheduler(c, schedulerid);
      auto holder = c.stmt(
                         "SELECT sm.masterid, m.active FROM scheduler_masters sm "
                         "JOIN masters m ON m.id = sm.masterid WHERE sm.schedulerid = ?")
                        .bind(schedulerid)
                        .one();
      if (holder) {
        int64_t current = holder->get<int64_t>(0);
        if (current == *masterid) return;  // already ours: claiming again is not an error
        if (holder->get<bool>(1)) {
          throw SchedulerAlreadyClaimedError("scheduler " + std::to_string(schedulerid) +
                                             " is run by active master " + std::to_string(current));
        }
      }
      // After the holder (Buildbot's insert meets the held link first).
      if (!c.stmt("SELECT 1 FROM masters WHERE id = ?").bind(*masterid).one()) {
        throw NotFound("no master with id " + std::to_string(*masterid));
      }
      if (holder) {
        // The holder is inactive (its links should have been released): take over.
        c.stmt("DELETE FROM scheduler_masters WHERE schedulerid = ?").bind(schedulerid).exec();
      }
      try {
        c.stmt("INSERT INTO scheduler_masters (schedulerid, masterid) VALUES (?, ?)")
            .bind(schedulerid, *masterid)
            .exec();
      } catch (const UniqueViolation&) {
        // A link was inserted after our snapshot was taken (possibly by this very master, from
        // another thread). Start over with a fresh snapshot: the retry finds the new holder
        // and either returns (it is us) or throws AlreadyClaimed (it is another active master).
        throw TransientError("scheduler " + std::to_string(schedulerid) +
                             " was claimed concurrently");
      }
    });
  }

  Future<void> enable(int64_t schedulerid, bool enabled) override {
    // An unknown scheduler matches no row: nothing changes, as in Buildbot. Idempotent.
    return ctx_.pool.transaction([schedulerid, enabled](Connection& c) {
      c.stmt("UPDATE schedulers SET enabled = ? WHERE id = ?").bind(enabled, schedulerid).exec();
    }, Unknown::kRetry);
  }

  Future<std::optional<Scheduler>> get_scheduler(int64_t schedulerid) override {
    return ctx_.pool.run([schedulerid](Connection& c) -> std::optional<Scheduler> {
      auto row = c.stmt(std::string(kSelect) + " WHERE s.id = ?").bind(schedulerid).one();
      if (!row) return std::nullopt;
      return read_scheduler(*row);
    });
  }

  Future<std::vector<Scheduler>> get_schedulers(std::optional<bool> active,
                                                std::optional<int64_t> masterid) override {
    return ctx_.pool.run([active, masterid](Connection& c) {
      std::string where = " WHERE 1 = 1";
      std::vector<Value> params;
      if (active) where += *active ? " AND sm.masterid IS NOT NULL" : " AND sm.masterid IS NULL";
      if (masterid) {
        where += " AND sm.masterid = ?";
        params.push_back(*masterid);
      }
      std::vector<Scheduler> out;
      for (const Row& r :
           c.stmt(std::string(kSelect) + where + " ORDER BY s.id").bind_all(params).all()) {
        out.push_back(read_scheduler(r));
      }
      return out;
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<Schedulers> internal::make_sql_schedulers(Context& ctx) {
  return std::make_unique<SqlSchedulers>(ctx);
}

}  // namespace ym::db
