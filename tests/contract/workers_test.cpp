#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

using db::WorkerConfig;
using db::WorkerFilter;

YM_CONTRACT_SUITE(WorkersContract);

// Two masters, three builders, two workers with a mix of configurations and connections.
std::vector<td::Row> topology() {
  return {td::Master{.id = 10, .name = "m10"}, td::Master{.id = 11, .name = "m11"},
          td::Builder{.id = 20, .name = "b20"}, td::Builder{.id = 21, .name = "b21"},
          td::Builder{.id = 22, .name = "b22"},
          td::BuilderMaster{.id = 1, .builderid = 20, .masterid = 10},
          td::BuilderMaster{.id = 2, .builderid = 21, .masterid = 10},
          td::BuilderMaster{.id = 3, .builderid = 20, .masterid = 11},
          td::BuilderMaster{.id = 4, .builderid = 22, .masterid = 11},
          td::Worker{.id = 30, .name = "zero", .info = {{"a", "b"}}},
          td::Worker{.id = 31, .name = "one", .info = {{"os", "linux"}}},
          td::ConfiguredWorker{.id = 1, .buildermasterid = 1, .workerid = 30},
          td::ConfiguredWorker{.id = 2, .buildermasterid = 2, .workerid = 30},
          td::ConfiguredWorker{.id = 3, .buildermasterid = 4, .workerid = 30},
          td::ConfiguredWorker{.id = 4, .buildermasterid = 3, .workerid = 31},
          td::ConnectedWorker{.id = 1, .masterid = 10, .workerid = 30},
          td::ConnectedWorker{.id = 2, .masterid = 11, .workerid = 30},
          td::ConnectedWorker{.id = 3, .masterid = 11, .workerid = 31}};
}

TEST_P(WorkersContract, FindWorkerIdCreatesWithEmptyInfo) {
  int64_t id = db_->workers().find_worker_id("w1").get();
  EXPECT_EQ(db_->workers().find_worker_id("w1").get(), id);
  auto w = db_->workers().get_worker(id).get();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->name, "w1");
  EXPECT_EQ(w->workerinfo, nlohmann::json::object());
  EXPECT_TRUE(w->connected_to.empty());
  EXPECT_TRUE(w->configured_on.empty());
  EXPECT_FALSE(w->paused);
  EXPECT_FALSE(w->graceful);
}

TEST_P(WorkersContract, FindWorkerIdRejectsBadNames) {
  for (std::string bad : {std::string(""), std::string("a b"), std::string(51, 'w'),
                          std::string("9lives"), std::string("tab\there"),
                          std::string("caf\xC3\xA9")}) {  // ASCII only, as the reference says
    EXPECT_THROW(db_->workers().find_worker_id(bad).get(), db::InvalidIdentifier) << bad;
  }
  EXPECT_TRUE(db_->workers().get_workers().get().empty());
}

TEST_P(WorkersContract, GetWorkersUnfiltered) {
  insert(topology());
  auto ws = db_->workers().get_workers().get();
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_EQ(ws[0].id, 30);
  EXPECT_EQ(ws[0].workerinfo, (nlohmann::json{{"a", "b"}}));
  EXPECT_EQ(ws[0].connected_to, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(ws[0].configured_on, (std::vector<WorkerConfig>{{20, 10}, {21, 10}, {22, 11}}));
  EXPECT_EQ(ws[1].id, 31);
  EXPECT_EQ(ws[1].connected_to, (std::vector<int64_t>{11}));
  EXPECT_EQ(ws[1].configured_on, (std::vector<WorkerConfig>{{20, 11}}));
}

TEST_P(WorkersContract, GetWorkersByMasterLimitsConfigAndConnections) {
  insert(topology());
  auto ws = db_->workers().get_workers(WorkerFilter{.masterid = 10}).get();
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].id, 30);
  EXPECT_EQ(ws[0].connected_to, (std::vector<int64_t>{10}));
  EXPECT_EQ(ws[0].configured_on, (std::vector<WorkerConfig>{{20, 10}, {21, 10}}));
}

TEST_P(WorkersContract, GetWorkersByBuilderAndByBoth) {
  insert(topology());
  auto ws = db_->workers().get_workers(WorkerFilter{.builderid = 20}).get();
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_EQ(ws[0].configured_on, (std::vector<WorkerConfig>{{20, 10}}));
  EXPECT_EQ(ws[0].connected_to, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(ws[1].configured_on, (std::vector<WorkerConfig>{{20, 11}}));
  auto both = db_->workers().get_workers(WorkerFilter{.masterid = 11, .builderid = 22}).get();
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].id, 30);
  EXPECT_EQ(both[0].configured_on, (std::vector<WorkerConfig>{{22, 11}}));
  EXPECT_EQ(both[0].connected_to, (std::vector<int64_t>{11}));
  EXPECT_TRUE(db_->workers().get_workers(WorkerFilter{.masterid = 10, .builderid = 22}).get().empty());
}

TEST_P(WorkersContract, GetWorkerByIdOrNameWithFilters) {
  insert(topology());
  EXPECT_EQ(db_->workers().get_worker(std::nullopt, "one").get()->id, 31);
  EXPECT_FALSE(db_->workers().get_worker(std::nullopt, "nobody").get());
  EXPECT_FALSE(db_->workers().get_worker(99).get());
  EXPECT_FALSE(db_->workers().get_worker(31, std::nullopt, WorkerFilter{.masterid = 10}).get());
  auto w = db_->workers().get_worker(30, std::nullopt, WorkerFilter{.masterid = 11}).get();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->configured_on, (std::vector<WorkerConfig>{{22, 11}}));
  // Buildbot: neither id nor name is no worker; both must match when both are given.
  EXPECT_FALSE(db_->workers().get_worker(std::nullopt).get());
  EXPECT_EQ(db_->workers().get_worker(31, "one").get()->id, 31);
  EXPECT_FALSE(db_->workers().get_worker(30, "one").get());
}

TEST_P(WorkersContract, WorkerConnectedReplacesInfoAndIsIdempotent) {
  insert(topology());
  nlohmann::json info = {{"admin", "me"}, {"cores", 8}};
  db_->workers().worker_connected(31, 10, info).get();
  db_->workers().worker_connected(31, 10, info).get();
  auto w = db_->workers().get_worker(31).get();
  EXPECT_EQ(w->workerinfo, info);
  EXPECT_EQ(w->connected_to, (std::vector<int64_t>{10, 11}));
}

TEST_P(WorkersContract, WorkerConnectedRejectsBadInfoAndUnknownIds) {
  insert(topology());
  EXPECT_THROW(db_->workers().worker_connected(31, 10, nlohmann::json::array()).get(),
               db::InvalidArgument);
  EXPECT_THROW(
      db_->workers().worker_connected(31, 10, {{"bad", std::string("\xff\xfe")}}).get(),
      db::InvalidArgument);
  EXPECT_THROW(db_->workers().worker_connected(99, 10, nlohmann::json::object()).get(), db::NotFound);
  EXPECT_THROW(db_->workers().worker_connected(31, 99, nlohmann::json::object()).get(), db::NotFound);
  auto w = db_->workers().get_worker(31).get();
  EXPECT_EQ(w->workerinfo, (nlohmann::json{{"os", "linux"}}));  // untouched
  EXPECT_EQ(w->connected_to, (std::vector<int64_t>{11}));
}

TEST_P(WorkersContract, WorkerDisconnected) {
  insert(topology());
  db_->workers().worker_disconnected(30, 10).get();
  db_->workers().worker_disconnected(30, 10).get();  // not connected: no error
  EXPECT_EQ(db_->workers().get_worker(30).get()->connected_to, (std::vector<int64_t>{11}));
}

TEST_P(WorkersContract, WorkerConfiguredReplacesThatMastersBuilders) {
  insert(topology());
  db_->workers().worker_configured(30, 10, {21}).get();
  EXPECT_EQ(db_->workers().get_worker(30).get()->configured_on,
            (std::vector<WorkerConfig>{{21, 10}, {22, 11}}));
  db_->workers().worker_configured(31, 10, {20, 21, 20}).get();
  EXPECT_EQ(db_->workers().get_worker(31).get()->configured_on,
            (std::vector<WorkerConfig>{{20, 10}, {20, 11}, {21, 10}}));
  db_->workers().worker_configured(31, 10, {}).get();
  EXPECT_EQ(db_->workers().get_worker(31).get()->configured_on,
            (std::vector<WorkerConfig>{{20, 11}}));
}

TEST_P(WorkersContract, WorkerConfiguredWithABuilderNotOnTheMasterChangesNothing) {
  insert(topology());
  EXPECT_THROW(db_->workers().worker_configured(30, 10, {21, 22}).get(), db::NotFound);
  EXPECT_THROW(db_->workers().worker_configured(99, 10, {20}).get(), db::NotFound);
  EXPECT_EQ(db_->workers().get_worker(30).get()->configured_on,
            (std::vector<WorkerConfig>{{20, 10}, {21, 10}, {22, 11}}));
}

TEST_P(WorkersContract, DeconfigureAllWorkersForMaster) {
  insert(topology());
  db_->workers().deconfigure_all_workers_for_master(10).get();
  auto ws = db_->workers().get_workers().get();
  EXPECT_EQ(ws[0].configured_on, (std::vector<WorkerConfig>{{22, 11}}));
  EXPECT_EQ(ws[1].configured_on, (std::vector<WorkerConfig>{{20, 11}}));
  EXPECT_EQ(ws[0].connected_to, (std::vector<int64_t>{10, 11}));  // connections stay
}

TEST_P(WorkersContract, SetWorkerStateAndFilterByIt) {
  insert(topology());
  db_->workers().set_worker_state(31, true, false).get();
  auto paused = db_->workers().get_workers(WorkerFilter{.paused = true}).get();
  ASSERT_EQ(paused.size(), 1u);
  EXPECT_EQ(paused[0].id, 31);
  EXPECT_TRUE(paused[0].paused);
  EXPECT_EQ(db_->workers().get_workers(WorkerFilter{.graceful = false}).get().size(), 2u);
  db_->workers().set_worker_state(31, true, false).get();  // the same values again
  EXPECT_TRUE(db_->workers().get_worker(31).get()->paused);
}

// As Buildbot's setWorkerState: an unknown worker is not an error and nothing changes.
TEST_P(WorkersContract, SetWorkerStateOfAnUnknownWorkerChangesNothing) {
  insert(topology());
  auto before = db_->workers().get_workers().get();
  db_->workers().set_worker_state(99, true, true).get();
  EXPECT_FALSE(db_->workers().get_worker(99).get());
  EXPECT_EQ(db_->workers().get_workers().get(), before);
}

TEST_P(WorkersContract, EightThreadsFindingOneNewWorkerGetOneId) {
  std::vector<int64_t> ids(8);
  race(8, [&](int i) { ids[i] = db_->workers().find_worker_id("racer").get(); });
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(db_->workers().get_workers().get().size(), 1u);
}

}  // namespace
}  // namespace ym::test
