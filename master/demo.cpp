// A short tour of the connectors on an embedded SQLite file (what scripts/demo runs until the
// master process exists): registers a master, builders and workers, keeps state, and prints what
// the database then holds.
#include <fmt/format.h>

#include <iostream>

#include "db/db.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: ym_demo DATABASE_URL\n";
    return 2;
  }
  try {
    auto db = ym::db::Db::open(argv[1]);
    fmt::print("opened {}\n", db->describe());

    int64_t master = db->masters().find_master_id("demo-host:/srv/yardmaster").get();
    db->masters().set_master_state(master, true).get();
    std::vector<int64_t> builder_ids;
    for (const char* name : {"linux-gcc", "linux-clang", "docs"}) {
      int64_t b = *db->builders().find_builder_id(name).get();
      db->builders().add_builder_master(b, master).get();
      builder_ids.push_back(b);
    }
    for (const char* name : {"worker-a", "worker-b"}) {
      int64_t w = db->workers().find_worker_id(name).get();
      db->workers().worker_configured(w, master, builder_ids).get();
      db->workers().worker_connected(w, master, {{"os", "debian-12"}, {"cores", 2}}).get();
    }
    int64_t obj = db->state().get_object_id("nightly", "NightlyScheduler").get();
    auto runs = db->state().get_state(obj, "runs", 0).get().get<int>();
    db->state().set_state(obj, "runs", runs + 1).get();

    fmt::print("\nmasters:\n");
    for (const auto& m : db->masters().get_masters().get()) {
      fmt::print("  {:>3}  {:<30} active={}\n", m.id, m.name, m.active);
    }
    fmt::print("builders:\n");
    for (const auto& b : db->builders().get_builders().get()) {
      fmt::print("  {:>3}  {:<14} on masters {}\n", b.id, b.name, fmt::join(b.masterids, ","));
    }
    fmt::print("workers:\n");
    for (const auto& w : db->workers().get_workers().get()) {
      fmt::print("  {:>3}  {:<10} connected to {}  configured on {} builder(s)  info {}\n", w.id,
                 w.name, fmt::join(w.connected_to, ","), w.configured_on.size(),
                 w.workerinfo.dump());
    }
    fmt::print("state: NightlyScheduler 'nightly' has run {} time(s) (run the demo again)\n",
               db->state().get_state(obj, "runs").get().get<int>());
    db->masters().set_master_state(master, false).get();
    return 0;
  } catch (const ym::db::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
