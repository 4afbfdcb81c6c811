#include "db/connectors/workers.hpp"

#include <algorithm>

#include "db/base.hpp"
#include "db/connectors/json_util.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

using db::NotFound;

class FakeWorkers final : public db::Workers {
 public:
  explicit FakeWorkers(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_worker_id(std::string name) override {
    return a_.call([&](Store& s) {
      db::check_identifier("worker name", name, db::kWorkerNameMax);
      for (const auto& [id, w] : s.workers) {
        if (w.name == name) return id;
      }
      int64_t id = s.next_id("workers", s.workers);
      s.workers[id] = td::Worker{id, name, nlohmann::json::object(), false, false};
      return id;
    });
  }

  Future<std::vector<db::Worker>> get_workers(db::WorkerFilter filter) override {
    return a_.call([&](Store& s) { return select(s, std::nullopt, std::nullopt, filter); });
  }

  Future<std::optional<db::Worker>> get_worker(std::optional<int64_t> workerid,
                                               std::optional<std::string> name,
                                               db::WorkerFilter filter) override {
    return a_.call([&](Store& s) -> std::optional<db::Worker> {
      if (!workerid && !name) return std::nullopt;  // as Buildbot; both given: both must match
      auto v = select(s, workerid, name, filter);
      if (v.empty()) return std::nullopt;
      return std::move(v.front());
    });
  }

  Future<void> worker_connected(int64_t workerid, int64_t masterid,
                                nlohmann::json workerinfo) override {
    return a_.call([&](Store& s) {
      if (!workerinfo.is_object()) throw db::InvalidArgument("worker information must be a JSON object");
      // Round-trip as the real connector does, so that unstorable values fail the same way.
      auto stored = nlohmann::json::parse(db::internal::dump_json(workerinfo, "worker information"));
      auto w = s.workers.find(workerid);
      if (w == s.workers.end()) throw NotFound("no worker with id " + std::to_string(workerid));
      if (!s.masters.count(masterid)) throw NotFound("no master with id " + std::to_string(masterid));
      w->second.info = std::move(stored);
      for (const auto& [id, cw] : s.connected_workers) {
        if (cw.workerid == workerid && cw.masterid == masterid) return;
      }
      int64_t id = s.next_id("connected_workers", s.connected_workers);
      s.connected_workers[id] = td::ConnectedWorker{id, masterid, workerid};
    });
  }

  Future<void> worker_disconnected(int64_t workerid, int64_t masterid) override {
    return a_.call([&](Store& s) {
      std::erase_if(s.connected_workers, [&](const auto& kv) {
        return kv.second.workerid == workerid && kv.second.masterid == masterid;
      });
    });
  }

  Future<void> worker_configured(int64_t workerid, int64_t masterid,
                                 std::vector<int64_t> builderids) override {
    return a_.call([&](Store& s) {
      if (!s.workers.count(workerid)) throw NotFound("no worker with id " + std::to_string(workerid));
      std::map<int64_t, int64_t> bm_by_builder;
      for (const auto& [id, bm] : s.builder_masters) {
        if (bm.masterid == masterid) bm_by_builder[bm.builderid] = id;
      }
      for (int64_t b : builderids) {
        if (!bm_by_builder.count(b)) {
          throw NotFound("builder " + std::to_string(b) + " is not configured on master " +
                         std::to_string(masterid) + " (add_builder_master first)");
        }
      }
      std::erase_if(s.configured_workers, [&](const auto& kv) {
        auto bm = s.builder_masters.find(kv.second.buildermasterid);
        return kv.second.workerid == workerid && bm != s.builder_masters.end() &&
               bm->second.masterid == masterid;
      });
      std::sort(builderids.begin(), builderids.end());
      builderids.erase(std::unique(builderids.begin(), builderids.end()), builderids.end());
      for (int64_t b : builderids) {
        int64_t id = s.next_id("configured_workers", s.configured_workers);
        s.configured_workers[id] = td::ConfiguredWorker{id, bm_by_builder[b], workerid};
      }
    });
  }

  Future<void> deconfigure_all_workers_for_master(int64_t masterid) override {
    return a_.call([&](Store& s) {
      std::erase_if(s.configured_workers, [&](const auto& kv) {
        auto bm = s.builder_masters.find(kv.second.buildermasterid);
        return bm != s.builder_masters.end() && bm->second.masterid == masterid;
      });
    });
  }

  Future<void> set_worker_state(int64_t workerid, bool paused, bool graceful) override {
    return a_.call([&](Store& s) {
      auto w = s.workers.find(workerid);
      if (w == s.workers.end()) return;  // an unknown worker: nothing changes
      w->second.paused = paused;
      w->second.graceful = graceful;
    });
  }

 private:
  static std::vector<db::Worker> select(const Store& s, std::optional<int64_t> workerid,
                                        const std::optional<std::string>& name,
                                        const db::WorkerFilter& f) {
    std::vector<db::Worker> out;
    for (const auto& [id, w] : s.workers) {
      if (workerid && id != *workerid) continue;
      if (name && w.name != *name) continue;
      if (f.paused && w.paused != *f.paused) continue;
      if (f.graceful && w.graceful != *f.graceful) continue;
      db::Worker rec;
      rec.id = id;
      rec.name = w.name;
      rec.workerinfo = w.info;
      rec.paused = w.paused;
      rec.graceful = w.graceful;
      for (const auto& [cid, cw] : s.configured_workers) {
        if (cw.workerid != id) continue;
        auto bm_it = s.builder_masters.find(cw.buildermasterid);
        if (bm_it == s.builder_masters.end()) continue;  // dangling (foreign keys off)
        const auto& bm = bm_it->second;
        if (f.masterid && bm.masterid != *f.masterid) continue;
        if (f.builderid && bm.builderid != *f.builderid) continue;
        rec.configured_on.push_back({bm.builderid, bm.masterid});
      }
      if ((f.masterid || f.builderid) && rec.configured_on.empty()) continue;
      std::sort(rec.configured_on.begin(), rec.configured_on.end());
      for (const auto& [cid, cw] : s.connected_workers) {
        if (cw.workerid != id) continue;
        if (f.masterid && cw.masterid != *f.masterid) continue;
        rec.connected_to.push_back(cw.masterid);
      }
      std::sort(rec.connected_to.begin(), rec.connected_to.end());
      out.push_back(std::move(rec));
    }
    return out;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Workers> make_fake_workers(FakeDb::Access a) {
  return std::make_unique<FakeWorkers>(a);
}

}  // namespace ym::fake
