#include "db/connectors/changesources.hpp"

#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

void check_name(const std::string& name) {
  // An empty name is a name (as in Buildbot).
  if (!is_valid_utf8(name)) throw InvalidArgument("change source name is not valid UTF-8");
}

constexpr const char* kSelect =
    "SELECT cs.id, cs.name, csm.masterid FROM changesources cs "
    "LEFT JOIN changesource_masters csm ON csm.changesourceid = cs.id";

ChangeSource read_change_source(const Row& r) {
  return ChangeSource{r.get<int64_t>(0), r.get<std::string>(1), r.get<std::optional<int64_t>>(2)};
}

class SqlChangeSources final : public ChangeSources {
 public:
  explicit SqlChangeSources(internal::Context& ctx) : ctx_(ctx) {}

  Future<int64_t> find_change_source_id(std::string name) override {
    try {
      check_name(name);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.run([name = std::move(name)](Connection& c) {
      std::string hash = hash_columns({name});
      std::vector<Value> sel{hash};
      std::vector<Value> ins{name, hash};
      return *find_something_id(c, "SELECT id FROM changesources WHERE name_hash = ?", sel,
                                "INSERT INTO changesources (name, name_hash) VALUES (?, ?)", ins);
    });
  }

  Future<void> set_change_source_master(int64_t changesourceid,
                                        std::optional<int64_t> masterid) override {
    return ctx_.pool.transaction([changesourceid, masterid](Connection& c) {
      if (!masterid) {
        // Releasing: an unknown change source has no master to release (nothing changes, as in
        // Buildbot).
        c.stmt("DELETE FROM changesource_masters WHERE changesourceid = ?")
            .bind(changesourceid)
            .exec();
        return;
      }
      if (!c.stmt("SELECT 1 FROM changesources WHERE id = ?").bind(changesourceid).one()) {
        throw NotFound("no change source with id " + std::to_string(changesourceid));
      }
      auto holder = c.stmt(
                         "SELECT csm.masterid, m.active FROM changesource_masters csm "
                         "JOIN masters m ON m.id = csm.masterid WHERE csm.changesourceid = ?")
                        .bind(changesourceid)
                        .one();
      if (holder) {
        int64_t current = holder->get<int64_t>(0);
        if (current == *masterid) return;  // already ours: claiming again is not an error
        if (holder->get<bool>(1)) {
          throw ChangeSourceAlreadyClaimedError("change source " + std::to_string(changesourceid) +
                                                " is run by active master " +
                                                std::to_string(current));
        }
      }
      // After the holder (Buildbot's insert meets the held link first).
      if (!c.stmt("SELECT 1 FROM masters WHERE id = ?").bind(*masterid).one()) {
        throw NotFound("no master with id " + std::to_string(*masterid));
      }
      if (holder) {
        // The holder is inactive (its links should have been released): take over.
        c.stmt("DELETE FROM changesource_masters WHERE changesourceid = ?")
            .bind(changesourceid)
            .exec();
      }
      try {
        c.stmt("INSERT INTO changesource_masters (changesourceid, masterid) VALUES (?, ?)")
            .bind(changesourceid, *masterid)
            .exec();
      } catch (const UniqueViolation&) {
        // A link was inserted after our snapshot was taken (possibly by this very master, from
        // another thread). Start over with a fresh snapshot: the retry finds the new holder
        // and either returns (it is us) or throws AlreadyClaimed (it is another active master).
        throw TransientError("change source " + std::to_string(changesourceid) +
                             " was claimed concurrently");
      }
    });
  }

  Future<std::optional<ChangeSource>> get_change_source(int64_t changesourceid) override {
    return ctx_.pool.run([changesourceid](Connection& c) -> std::optional<ChangeSource> {
      auto row = c.stmt(std::string(kSelect) + " WHERE cs.id = ?").bind(changesourceid).one();
      if (!row) return std::nullopt;
      return read_change_source(*row);
    });
  }

  Future<std::vector<ChangeSource>> get_change_sources(std::optional<bool> active,
                                                       std::optional<int64_t> masterid) override {
    return ctx_.pool.run([active, masterid](Connection& c) {
      std::string where = " WHERE 1 = 1";
      std::vector<Value> params;
      if (active) where += *active ? " AND csm.masterid IS NOT NULL" : " AND csm.masterid IS NULL";
      if (masterid) {
        where += " AND csm.masterid = ?";
        params.push_back(*masterid);
      }
      std::vector<ChangeSource> out;
      for (const Row& r :
           c.stmt(std::string(kSelect) + where + " ORDER BY cs.id").bind_all(params).all()) {
        out.push_back(read_change_source(r));
      }
      return out;
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<ChangeSources> internal::make_sql_changesources(Context& ctx) {
  return std::make_unique<SqlChangeSources>(ctx);
}

}  // namespace ym::db
