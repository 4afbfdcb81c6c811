// How fast a master starts claiming with a large backlog: fills a database with N pending build
// requests (100,000 by default) across four builders, starts `yardmaster run` on it, and reports
// how long the master took to be active and to start its first build; also times the claim
// query alone. Timing is reported, never asserted.
//
//   ym_master_startup [--requests N] [--database URL] [--yardmaster PATH]
//
// Without --database it uses an SQLite file in a temporary directory. A server URL must name an
// empty database (it gets the schema and the rows).
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/db.hpp"
#include "db/errors.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace td = ym::db::testdata;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 100'000;
  std::string url, yardmaster = YM_YARDMASTER_BIN;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--requests")
      n = std::stoll(argv[i + 1]);
    else if (a == "--database")
      url = argv[i + 1];
    else if (a == "--yardmaster")
      yardmaster = argv[i + 1];
    else {
      fmt::print(stderr,
                 "usage: ym_master_startup [--requests N] [--database URL] [--yardmaster PATH]\n");
      return 2;
    }
  }
  fs::path dir = fs::temp_directory_path() / ("ym-master-startup-" + std::to_string(getpid()));
  fs::create_directories(dir);
  if (url.empty()) url = "sqlite:///" + (dir / "state.sqlite").string();

  std::ofstream(dir / "config.ini") << "[master]\ndatabase = " << url
                                    << "\ncheckin_interval = 2s\nexpiry = 10s\npoll_interval = 1s\n"
                                       "grace_period = 1s\n"
                                       "[worker w1]\nslots = 4\n[worker w2]\nslots = 4\n"
                                       "[builder b1]\nworkers = w1, w2\nstep s = true\n"
                                       "[builder b2]\nworkers = w1, w2\nstep s = true\n"
                                       "[builder b3]\nworkers = w1, w2\nstep s = true\n"
                                       "[builder b4]\nworkers = w1, w2\nstep s = true\n";

  // 1. The backlog: N pending requests, one per buildset, spread over four builders and three
  // priorities, submitted over the past days.
  auto t0 = Clock::now();
  auto db = ym::db::Db::open(url);
  std::string backend_name = ym::db::to_string(ym::db::Url::parse(url).backend);
  std::vector<int64_t> builders;
  for (const char* b : {"b1", "b2", "b3", "b4"})
    builders.push_back(*db->builders().find_builder_id(b).get());
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  constexpr int64_t kBatch = 5000;
  for (int64_t first = 1; first <= n; first += kBatch) {
    std::vector<td::Row> rows;
    for (int64_t id = first; id < first + kBatch && id <= n; ++id) {
      int64_t submitted = now - 3 * 86400 + id;
      rows.push_back(td::Buildset{.id = id,
                                  .external_idstring = std::nullopt,
                                  .reason = "backlog",
                                  .submitted_at = submitted});
      rows.push_back(td::BuildRequest{.id = id,
                                      .buildsetid = id,
                                      .builderid = builders[static_cast<size_t>(id % 4)],
                                      .priority = static_cast<int>(id % 3),
                                      .submitted_at = submitted});
    }
    db->insert_test_data(std::move(rows)).get();
  }
  fmt::print("backlog: {} pending build requests in {} ({:.1f} s to insert)\n", n, db->describe(),
             ms_since(t0) / 1000);

  // 2. The claim query alone, as the master issues it (unclaimed, its builders, 2x its slots).
  double claim_ms = -1;
  {
    ym::db::BuildRequestFilter f;
    f.claimed = ym::db::ClaimFilter::unclaimed();
    f.complete = false;
    std::vector<ym::db::Value> ids(builders.begin(), builders.end());
    f.spec.filters.push_back({"builderid", ym::db::FieldFilter::Op::kIn, ids});
    f.spec.limit = 16;
    db->buildrequests().get_build_requests(f).get();  // warm
    auto q = Clock::now();
    constexpr int kRuns = 5;
    size_t got = 0;
    for (int i = 0; i < kRuns; ++i) got = db->buildrequests().get_build_requests(f).get().size();
    claim_ms = ms_since(q) / kRuns;
    fmt::print("claim query (unclaimed, 4 builders, limit 16): {:.1f} ms per query, {} rows\n",
               claim_ms, got);
  }
  db->shutdown();
  db.reset();

  // 3. The master: from exec to active, and to its first build.
  std::string log = (dir / "master.log").string();
  std::string cmd = "exec '" + yardmaster + "' run '" + dir.string() + "' 2>'" + log + "'";
  std::vector<char*> args{const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), cmd.data(),
                          nullptr};
  auto start = Clock::now();
  pid_t pid;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, args.data(), environ) != 0) {
    fmt::print(stderr, "cannot start {}\n", yardmaster);
    return 1;
  }
  double active_ms = -1, first_build_ms = -1;
  while (ms_since(start) < 120'000) {
    std::string text = read_file(log);
    if (active_ms < 0 && text.find(") is active on") != std::string::npos)
      active_ms = ms_since(start);
    if (text.find("started (build id") != std::string::npos) {
      first_build_ms = ms_since(start);
      break;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      fmt::print(stderr, "the master exited early:\n{}", text);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  fmt::print(
      "master start-up with {} pending requests: active after {:.0f} ms, first build "
      "started after {:.0f} ms\n",
      n, active_ms, first_build_ms);
  // The same as one JSON line, for scripts/bench's report.
  fmt::print("{{\"phase\":\"master_startup\",\"db\":\"{}\",\"pending\":{},\"claim_query_ms\":{:.2f},"
             "\"active_ms\":{:.0f},\"first_build_ms\":{:.0f}}}\n",
             backend_name, n, claim_ms, active_ms, first_build_ms);
  if (first_build_ms < 0)
    fmt::print("the master did not start a build; its log:\n{}", read_file(log));
  fs::remove_all(dir);
  return first_build_ms < 0 ? 1 : 0;
}
