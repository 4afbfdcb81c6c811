#include "db/connectors/masters.hpp"

#include "db/connectors/sql.hpp"
#include "db/pool.hpp"

namespace ym::db {
namespace {

Master read_master(const Row& r) {
  return Master{r.get<int64_t>(0), r.get<std::string>(1), r.get<bool>(2), r.get<Timestamp>(3)};
}

constexpr const char* kSelect = "SELECT id, name, active, last_active FROM masters";

class SqlMasters final : public Masters {
 public:
  explicit SqlMasters(internal::Context& ctx) : ctx_(ctx) {}

  Future<int64_t> find_master_id(std::string name) override {
    int64_t now = ctx_.now();
    return ctx_.pool.run([name = std::move(name), now](Connection& c) {
      std::string hash = hash_columns({name});
      std::vector<Value> sel{hash};
      std::vector<Value> ins{name, hash, int64_t{0}, now};
      return *find_something_id(c, "SELECT id FROM masters WHERE name_hash = ?", sel,
                                "INSERT INTO masters (name, name_hash, active, last_active) "
                                "VALUES (?, ?, ?, ?)",
                                ins);
    });
  }

  Future<bool> set_master_state(int64_t masterid, bool active) override {
    int64_t now = ctx_.now();
    return ctx_.pool.transaction([masterid, active, now](Connection& c) {
      // The flag is read under the row's lock, then written: a peer's expiry and the master's
      // own check-in queue on the row, and the second sees what the first committed, so
      // exactly one caller sees the flag change. A conditional UPDATE ("... WHERE active = 0")
      // is not enough: under READ COMMITTED (PostgreSQL, MySQL) it skips, without waiting, a
      // row whose committed version does not match while another transaction is changing it,
      // and a check-in racing an expiry was told "not taken over" about a master the expiry
      // had just marked inactive. SQLite has one writer at a time and no FOR UPDATE. On a
      // Galera cluster the lock is the node's own; the writes make two callers on different
      // nodes conflict at certification, and the loser runs again (a deadlock error is
      // transient) and reads the winner's value.
      // An unknown master is not an error: nothing changes (Buildbot returns False).
      std::string sql = "SELECT active, last_active FROM masters WHERE id = ?";
      if (!c.dialect().single_writer) sql += " FOR UPDATE";
      auto row = c.stmt(sql).bind(masterid).one();
      if (!row) return false;
      bool was = row->get<bool>(0);
      if (active) {
        // Run again after the reply to our COMMIT was lost: if that try landed (the row bears
        // its stamp), whether it changed the flag can no longer be known, and "changed" is the
        // answer that errs safe: the master registers again rather than building on with
        // claims a peer may have released.
        if (Pool::commit_outcome_unknown() && was && row->get<int64_t>(1) == now) return true;
        if (was) {
          c.stmt("UPDATE masters SET last_active = ? WHERE id = ?").bind(now, masterid).exec();
          return false;
        }
        c.stmt("UPDATE masters SET active = 1, last_active = ? WHERE id = ?")
            .bind(now, masterid)
            .exec();
        return true;
      }
      if (was) c.stmt("UPDATE masters SET active = 0 WHERE id = ?").bind(masterid).exec();
      // Release everything that tied work to this master so that its peers can take over.
      c.stmt("DELETE FROM builder_masters WHERE masterid = ?").bind(masterid).exec();
      c.stmt("DELETE FROM scheduler_masters WHERE masterid = ?").bind(masterid).exec();
      c.stmt("DELETE FROM changesource_masters WHERE masterid = ?").bind(masterid).exec();
      c.stmt("DELETE FROM connected_workers WHERE masterid = ?").bind(masterid).exec();
      c.stmt("DELETE FROM buildrequest_claims WHERE masterid = ? AND brid IN "
             "(SELECT id FROM buildrequests WHERE complete = 0)")
          .bind(masterid)
          .exec();
      // Its unfinished builds end here, in the transaction that releases their claims, so that
      // no interleaving with the peers rebuilding those requests can give one of them the
      // request's result: the build the peers record is the only success.
      std::vector<int64_t> builds;
      for (const Row& r :
           c.stmt("SELECT id FROM builds WHERE masterid = ? AND complete_at IS NULL ORDER BY id")
               .bind(masterid)
               .all()) {
        builds.push_back(r.get<int64_t>(0));
      }
      internal::end_unfinished_builds(c, builds, results::kRetry, results::kRetry,
                                      "retry: its master went inactive", now);
      return was;
    }, Unknown::kRetry);
  }

  Future<std::optional<Master>> get_master(int64_t masterid) override {
    return ctx_.pool.run([masterid](Connection& c) -> std::optional<Master> {
      auto row = c.stmt(std::string(kSelect) + " WHERE id = ?").bind(masterid).one();
      if (!row) return std::nullopt;
      return read_master(*row);
    });
  }

  Future<std::vector<Master>> get_masters() override {
    return ctx_.pool.run([](Connection& c) {
      std::vector<Master> out;
      for (const Row& r : c.stmt(std::string(kSelect) + " ORDER BY id").all()) {
        out.push_back(read_master(r));
      }
      return out;
    });
  }

  Future<void> set_all_masters_active_long_time_ago() override {
    return ctx_.pool.transaction(
        [](Connection& c) { c.stmt("UPDATE masters SET active = 1, last_active = 0").exec(); });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<Masters> internal::make_sql_masters(Context& ctx) {
  return std::make_unique<SqlMasters>(ctx);
}

}  // namespace ym::db
