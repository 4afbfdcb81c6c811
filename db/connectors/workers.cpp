#include "db/connectors/workers.hpp"

#include <algorithm>
#include <map>

#include "db/connectors/json_util.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

using internal::dump_json;
using internal::parse_json;

class SqlWorkers final : public Workers {
 public:
  explicit SqlWorkers(internal::Context& ctx) : ctx_(ctx) {}

  Future<int64_t> find_worker_id(std::string name) override {
    try {
      check_identifier("worker name", name, kWorkerNameMax);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.run([name = std::move(name)](Connection& c) {
      std::vector<Value> sel{name};
      std::vector<Value> ins{name, std::string("{}")};
      return *find_something_id(c, "SELECT id FROM workers WHERE name = ?", sel,
                                "INSERT INTO workers (name, info) VALUES (?, ?)", ins);
    });
  }

  Future<std::vector<Worker>> get_workers(WorkerFilter filter) override {
    return ctx_.pool.read(
        [filter](Connection& c) { return fetch(c, std::nullopt, std::nullopt, filter); });
  }

  Future<std::optional<Worker>> get_worker(std::optional<int64_t> workerid,
                                           std::optional<std::string> name,
                                           WorkerFilter filter) override {
    // Neither given: no worker, as in Buildbot (not an error); both: both must match.
    if (!workerid && !name) return make_ready_future(std::optional<Worker>{});
    return ctx_.pool.read([workerid, name, filter](Connection& c) -> std::optional<Worker> {
      auto v = fetch(c, workerid, name, filter);
      if (v.empty()) return std::nullopt;
      return std::move(v.front());
    });
  }

  Future<void> worker_connected(int64_t workerid, int64_t masterid,
                                nlohmann::json workerinfo) override {
    std::string info;
    try {
      if (!workerinfo.is_object()) throw InvalidArgument("worker information must be a JSON object");
      info = dump_json(workerinfo, "worker information");
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    return ctx_.pool.transaction([workerid, masterid, info](Connection& c) {
      if (c.stmt("UPDATE workers SET info = ? WHERE id = ?").bind(info, workerid).exec() == 0) {
        throw NotFound("no worker with id " + std::to_string(workerid));
      }
      if (!c.stmt("SELECT 1 FROM masters WHERE id = ?").bind(masterid).one()) {
        throw NotFound("no master with id " + std::to_string(masterid));
      }
      std::vector<Value> p{masterid, workerid};
      find_something_id(c, "SELECT id FROM connected_workers WHERE masterid = ? AND workerid = ?",
                        p, "INSERT INTO connected_workers (masterid, workerid) VALUES (?, ?)", p);
    });
  }

  Future<void> worker_disconnected(int64_t workerid, int64_t masterid) override {
    return ctx_.pool.transaction([workerid, masterid](Connection& c) {
      c.stmt("DELETE FROM connected_workers WHERE workerid = ? AND masterid = ?")
          .bind(workerid, masterid)
          .exec();
    });
  }

  Future<void> worker_configured(int64_t workerid, int64_t masterid,
                                 std::vector<int64_t> builderids) override {
    return ctx_.pool.transaction([workerid, masterid, builderids](Connection& c) {
      if (!c.stmt("SELECT 1 FROM workers WHERE id = ?").bind(workerid).one()) {
        throw NotFound("no worker with id " + std::to_string(workerid));
      }
      std::map<int64_t, int64_t> bm_by_builder;  // builderid -> builder_masters.id
      for (const Row& r : c.stmt("SELECT builderid, id FROM builder_masters WHERE masterid = ?")
                              .bind(masterid)
                              .all()) {
        bm_by_builder[r.get<int64_t>(0)] = r.get<int64_t>(1);
      }
      for (int64_t b : builderids) {
        if (!bm_by_builder.count(b)) {
          throw NotFound("builder " + std::to_string(b) + " is not configured on master " +
                         std::to_string(masterid) + " (add_builder_master first)");
        }
      }
      c.stmt("DELETE FROM configured_workers WHERE workerid = ? AND buildermasterid IN "
             "(SELECT id FROM builder_masters WHERE masterid = ?)")
          .bind(workerid, masterid)
          .exec();
      std::vector<int64_t> unique(builderids);
      std::sort(unique.begin(), unique.end());
      unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
      for (int64_t b : unique) {
        c.stmt("INSERT INTO configured_workers (buildermasterid, workerid) VALUES (?, ?)")
            .bind(bm_by_builder[b], workerid)
            .exec();
      }
    });
  }

  Future<void> deconfigure_all_workers_for_master(int64_t masterid) override {
    return ctx_.pool.transaction([masterid](Connection& c) {
      c.stmt("DELETE FROM configured_workers WHERE buildermasterid IN "
             "(SELECT id FROM builder_masters WHERE masterid = ?)")
          .bind(masterid)
          .exec();
    });
  }

  Future<void> set_worker_state(int64_t workerid, bool paused, bool graceful) override {
    // An unknown worker matches no row: nothing changes, as in Buildbot. Idempotent.
    return ctx_.pool.write_one(
        [workerid, paused, graceful](Connection& c) {
          c.stmt("UPDATE workers SET paused = ?, graceful = ? WHERE id = ?")
              .bind(paused, graceful, workerid)
              .exec();
        },
        Unknown::kRetry);
  }

 private:
  static std::vector<Worker> fetch(Connection& c, std::optional<int64_t> workerid,
                                   const std::optional<std::string>& name,
                                   const WorkerFilter& f) {
    std::string where;
    std::vector<Value> params;
    auto add = [&](const char* cond, Value v) {
      where += where.empty() ? " WHERE " : " AND ";
      where += cond;
      params.push_back(std::move(v));
    };
    if (workerid) add("w.id = ?", *workerid);
    if (name) add("w.name = ?", *name);
    if (f.masterid) add("bm.masterid = ?", *f.masterid);
    if (f.builderid) add("bm.builderid = ?", *f.builderid);
    if (f.paused) add("w.paused = ?", to_value(*f.paused));
    if (f.graceful) add("w.graceful = ?", to_value(*f.graceful));

    std::vector<Worker> out;
    std::map<int64_t, size_t> pos;
    for (const Row& r :
         c.stmt("SELECT w.id, w.name, w.info, w.paused, w.graceful, bm.builderid, bm.masterid "
                "FROM workers w LEFT JOIN configured_workers cw ON cw.workerid = w.id "
                "LEFT JOIN builder_masters bm ON bm.id = cw.buildermasterid" +
                where + " ORDER BY w.id, bm.builderid, bm.masterid")
             .bind_all(params)
             .all()) {
      int64_t id = r.get<int64_t>(0);
      auto [it, fresh] = pos.try_emplace(id, out.size());
      if (fresh) {
        Worker w;
        w.id = id;
        w.name = r.get<std::string>(1);
        w.workerinfo = parse_json(r.get<std::string>(2), "worker information");
        w.paused = r.get<bool>(3);
        w.graceful = r.get<bool>(4);
        out.push_back(std::move(w));
      }
      if (!r.is_null(5) && !r.is_null(6)) {
        out[it->second].configured_on.push_back({r.get<int64_t>(5), r.get<int64_t>(6)});
      }
    }
    if (out.empty()) return out;

    std::string cwhere;
    std::vector<Value> cparams;
    if (workerid) {
      cwhere = " WHERE workerid = ?";
      cparams.push_back(*workerid);
    } else if (out.size() == 1) {
      cwhere = " WHERE workerid = ?";
      cparams.push_back(out.front().id);
    }
    if (f.masterid) {
      cwhere += cwhere.empty() ? " WHERE masterid = ?" : " AND masterid = ?";
      cparams.push_back(*f.masterid);
    }
    for (const Row& r : c.stmt("SELECT workerid, masterid FROM connected_workers" + cwhere +
                               " ORDER BY workerid, masterid")
                            .bind_all(cparams)
                            .all()) {
      auto it = pos.find(r.get<int64_t>(0));
      if (it != pos.end()) out[it->second].connected_to.push_back(r.get<int64_t>(1));
    }
    return out;
  }

  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<Workers> internal::make_sql_workers(Context& ctx) {
  return std::make_unique<SqlWorkers>(ctx);
}

}  // namespace ym::db
