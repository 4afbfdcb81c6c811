// Workers: the machines that run builds, which masters they are connected to, and on which
// (master, builder) pairs they are configured. Worker information is a JSON object.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../json.hpp"

namespace ym::db {

inline constexpr size_t kWorkerNameMax = 50;

struct WorkerConfig {
  int64_t builderid = 0;
  int64_t masterid = 0;
  auto operator<=>(const WorkerConfig&) const = default;
};

struct Worker {
  int64_t id = 0;
  std::string name;
  Json workerinfo = Json::object();
  std::vector<int64_t> connected_to;        // master ids, ascending
  std::vector<WorkerConfig> configured_on;  // ascending by (builderid, masterid)
  bool paused = false;
  bool graceful = false;
  bool operator==(const Worker&) const = default;
};

struct WorkerFilter {
  std::optional<int64_t> masterid;   // only workers configured on this master
  std::optional<int64_t> builderid;  // only workers configured on this builder
  std::optional<bool> paused;
  std::optional<bool> graceful;
};

class Workers {
 public:
  virtual ~Workers() = default;

  // The id of the worker called `name`, creating it with empty information if needed.
  // Throws InvalidIdentifier unless `name` is an identifier of at most kWorkerNameMax characters.
  virtual Future<int64_t> find_worker_id(std::string name) = 0;

  // Workers matching the filter, ordered by id. With masterid/builderid, only workers configured
  // there are returned and configured_on is limited to matching pairs; connected_to is limited
  // by masterid.
  virtual Future<std::vector<Worker>> get_workers(WorkerFilter filter = {}) = 0;

  // One worker by id and/or by name (both given: both must match), filtered as get_workers;
  // nullopt when there is no match or neither is given (as Buildbot).
  virtual Future<std::optional<Worker>> get_worker(std::optional<int64_t> workerid,
                                                   std::optional<std::string> name = {},
                                                   WorkerFilter filter = {}) = 0;

  // Records the worker as connected to the master and replaces its information with
  // `workerinfo` (which must be a JSON object). Connecting twice is not an error.
  virtual Future<void> worker_connected(int64_t workerid, int64_t masterid,
                                        nlohmann::json workerinfo) = 0;

  // Records the worker as no longer connected to the master. Not an error if it was not.
  virtual Future<void> worker_disconnected(int64_t workerid, int64_t masterid) = 0;

  // Configures the worker on exactly these builders of this master: pairs for other builders of
  // the same master are removed. Each builder must be configured on the master
  // (add_builder_master), else NotFound and nothing changes.
  virtual Future<void> worker_configured(int64_t workerid, int64_t masterid,
                                         std::vector<int64_t> builderids) = 0;

  // Removes every worker configuration of the master.
  virtual Future<void> deconfigure_all_workers_for_master(int64_t masterid) = 0;

  // Sets the paused / graceful-shutdown flags. An unknown worker is not an error: nothing
  // changes (as Buildbot's setWorkerState).
  virtual Future<void> set_worker_state(int64_t workerid, bool paused, bool graceful) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_worker_id)
  YM_ASYNC(get_workers)
  YM_ASYNC(get_worker)
  YM_ASYNC(worker_connected)
  YM_ASYNC(worker_disconnected)
  YM_ASYNC(worker_configured)
  YM_ASYNC(deconfigure_all_workers_for_master)
  YM_ASYNC(set_worker_state)
};

}  // namespace ym::db
