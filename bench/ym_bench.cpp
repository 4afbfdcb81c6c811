// ym_bench: the standard workload (shared/bench/WORKLOAD.md) through the public connector API.
//   ym_bench --url URL --n N --c C          (a fresh database is required: the URL's must be empty)
// Prints one JSON object per line and phase, then "total", "methods" and "verify" lines.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/workload_text.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Per-method call counts and latencies (call to future ready), merged across threads.
class Stats {
 public:
  template <class Fn>
  auto call(const char* method, Fn fn) {
    auto t0 = Clock::now();
    if constexpr (std::is_void_v<decltype(fn().get())>) {
      fn().get();
      record(method, Clock::now() - t0);
    } else {
      auto v = fn().get();
      record(method, Clock::now() - t0);
      return v;
    }
  }
  void record(const char* method, Clock::duration d) {
    std::lock_guard lock(mu_);
    auto& v = lat_[method];
    v.push_back(std::chrono::duration<double, std::milli>(d).count());
    ++calls_;
  }
  uint64_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  json methods() const {
    std::lock_guard lock(mu_);
    json out = json::object();
    for (auto [name, v] : lat_) {
      std::sort(v.begin(), v.end());
      auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]; };
      out[name] = {{"n", v.size()}, {"p50_ms", pct(0.50)}, {"p99_ms", pct(0.99)}};
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<double>> lat_;
  uint64_t calls_ = 0;
};

struct Options {
  std::string url;
  int n = 200;
  int c = 8;
  bool readback = true;
  bool compress = true;
};

json phase_line(const Options& o, const std::string& db, const std::string& phase, uint64_t calls,
                double seconds) {
  return {{"impl", "yardmaster"}, {"db", db},     {"phase", phase}, {"calls", calls},
          {"seconds", seconds},   {"calls_per_s", seconds > 0 ? calls / seconds : 0.0},
          {"n", o.n},             {"c", o.c}};
}

int run(const Options& o) {
  auto url = db::Url::parse(o.url);
  std::string dbname = db::to_string(url.backend);
  db::DbOptions options;
  options.compress_finished_logs = o.compress;
  auto db = db::Db::open(o.url, options);
  Stats stats;
  std::vector<json> lines;
  auto timed = [&](const std::string& phase, auto fn) {
    uint64_t before = stats.calls();
    auto t0 = Clock::now();
    fn();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    lines.push_back(phase_line(o, dbname, phase, stats.calls() - before, secs));
    std::printf("%s\n", lines.back().dump().c_str());
    std::fflush(stdout);
    return secs;
  };

  // 1. setup
  int64_t masterid = 0;
  std::vector<int64_t> builderids, workerids;
  double total_secs = 0;
  total_secs += timed("setup", [&] {
    masterid = stats.call("masters.find_master_id", [&] { return db->masters().find_master_id("bench:/m1"); });
    stats.call("masters.set_master_state", [&] { return db->masters().set_master_state(masterid, true); });
    for (int i = 0; i < kBuilders; ++i) {
      char name[8];
      std::snprintf(name, sizeof name, "b%02d", i);
      auto id = *stats.call("builders.find_builder_id", [&] { return db->builders().find_builder_id(name); });
      stats.call("builders.add_builder_master", [&] { return db->builders().add_builder_master(id, masterid); });
      builderids.push_back(id);
    }
    for (int w = 0; w < kWorkers; ++w) {
      auto id = stats.call("workers.find_worker_id",
                           [&] { return db->workers().find_worker_id("w" + std::to_string(w)); });
      stats.call("workers.worker_configured",
                 [&] { return db->workers().worker_configured(id, masterid, builderids); });
      workerids.push_back(id);
    }
  });

  // 2. submit
  struct BuildsetInfo {
    int i = 0;
    std::atomic<int> remaining{kBuildersPerBuildset};
  };
  std::map<int64_t, std::unique_ptr<BuildsetInfo>> buildsets;  // filled before the run
  std::map<int64_t, std::pair<int64_t, int>> requests;          // brid -> (bsid, i)
  total_secs += timed("submit", [&] {
    for (int i = 0; i < o.n; ++i) {
      db::NewBuildset bs;
      char rev[16];
      std::snprintf(rev, sizeof rev, "rev%06d", i);
      bs.sourcestamps.push_back(db::SourceStampSpec{.branch = "main", .revision = rev,
                                                    .repository = kRepo, .project = "proj", .codebase = ""});
      bs.reason = "bench";
      bs.properties["i"] = db::Property{i, "bench"};
      for (int k : builder_indexes(i)) bs.builderids.push_back(builderids[k]);
      auto added = stats.call("buildsets.add_buildset", [&] { return db->buildsets().add_buildset(bs); });
      auto info = std::make_unique<BuildsetInfo>();
      info->i = i;
      buildsets[added.bsid] = std::move(info);
      for (auto [builder, brid] : added.brids) requests[brid] = {added.bsid, i};
    }
  });

  // 3. run: C threads; each takes the next unclaimed request (polling when the list runs
  // out), claims it and runs the whole build.
  std::mutex queue_mu;
  std::deque<db::BuildRequest> queue;
  bool exhausted = false;
  std::atomic<int64_t> claim_seq{0}, already_claimed{0};
  std::mutex builds_mu;
  std::vector<std::pair<int64_t, int64_t>> built;  // (buildid, brid)
  auto next_request = [&]() -> std::optional<db::BuildRequest> {
    std::lock_guard lock(queue_mu);
    while (queue.empty()) {
      if (exhausted) return std::nullopt;
      db::BuildRequestFilter f;
      f.claimed = db::ClaimFilter::unclaimed();
      f.complete = false;
      auto brs = stats.call("buildrequests.get_build_requests", [&] { return db->buildrequests().get_build_requests(f); });
      if (brs.empty()) {
        exhausted = true;
        return std::nullopt;
      }
      std::sort(brs.begin(), brs.end(), [](auto& a, auto& b) { return a.buildrequestid < b.buildrequestid; });
      queue.assign(brs.begin(), brs.end());
    }
    auto br = queue.front();
    queue.pop_front();
    return br;
  };
  auto one_build = [&](const db::BuildRequest& br) {
    int64_t brid = br.buildrequestid;
    auto [bsid, i] = requests.at(brid);
    int64_t workerid = workerids[claim_seq++ % kWorkers];
    auto added = stats.call("builds.add_build", [&] {
      return db->builds().add_build(br.builderid, brid, workerid, masterid, "building");
    });
    for (int s = 0; s < static_cast<int>(kStepNames.size()); ++s) {
      auto step = stats.call("steps.add_step", [&] { return db->steps().add_step(added.id, kStepNames[s], "pending"); });
      stats.call("steps.start_step", [&] { return db->steps().start_step(step.id); });
      auto logid = stats.call("logs.add_log", [&] { return db->logs().add_log(step.id, "stdio", "stdio", "s"); });
      for (int a = 0; a < kAppendsPerLog; ++a) {
        stats.call("logs.append_log", [&] { return db->logs().append_log(logid, log_chunk(brid, s, a)); });
      }
      stats.call("logs.finish_log", [&] { return db->logs().finish_log(logid); });
      stats.call("steps.finish_step", [&] { return db->steps().finish_step(step.id, db::results::kSuccess, false); });
    }
    char rev[16];
    std::snprintf(rev, sizeof rev, "rev%06d", i);
    stats.call("builds.set_build_property", [&] {
      return db->builds().set_build_property(added.id, "got_revision", rev, "bench");
    });
    stats.call("builds.finish_build", [&] { return db->builds().finish_build(added.id, db::results::kSuccess); });
    stats.call("buildrequests.complete_build_requests", [&] {
      return db->buildrequests().complete_build_requests({brid}, masterid, db::results::kSuccess);
    });
    if (--buildsets.at(bsid)->remaining == 0) {
      stats.call("buildsets.complete_buildset", [&] { return db->buildsets().complete_buildset(bsid, db::results::kSuccess); });
    }
    std::lock_guard lock(builds_mu);
    built.emplace_back(added.id, brid);
  };
  std::exception_ptr failure;
  std::mutex failure_mu;
  total_secs += timed("run", [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < o.c; ++t) {
      threads.emplace_back([&] {
        try {
          while (auto br = next_request()) {
            try {
              stats.call("buildrequests.claim_build_requests", [&] {
                return db->buildrequests().claim_build_requests({br->buildrequestid}, masterid);
              });
            } catch (const db::AlreadyClaimedError&) {
              ++already_claimed;
              continue;
            }
            one_build(*br);
          }
        } catch (...) {
          std::lock_guard lock(failure_mu);
          if (!failure) failure = std::current_exception();
        }
      });
    }
    for (auto& t : threads) t.join();
  });
  if (failure) std::rethrow_exception(failure);

  // 4. read back: C readers take the builds in order, each build's calls one after another (as
  // a web view showing C builds at once would).
  std::atomic<int64_t> lines_read{0};
  std::atomic<size_t> next_build{0};
  if (o.readback) total_secs += timed("readback", [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < o.c; ++t) {
      threads.emplace_back([&] {
        try {
          for (size_t k; (k = next_build++) < built.size();) {
            int64_t buildid = built[k].first;
            stats.call("builds.get_build", [&] { return db->builds().get_build(buildid); });
            auto steps = stats.call("steps.get_steps", [&] { return db->steps().get_steps(buildid); });
            for (const auto& step : steps) {
              auto logs = stats.call("logs.get_logs", [&] { return db->logs().get_logs(step.id); });
              for (const auto& log : logs) {
                auto text = stats.call("logs.get_log_lines",
                                       [&] { return db->logs().get_log_lines(log.id, 0, 199); });
                lines_read += std::count(text.begin(), text.end(), '\n');
              }
            }
          }
        } catch (...) {
          std::lock_guard lock(failure_mu);
          if (!failure) failure = std::current_exception();
        }
      });
    }
    for (auto& t : threads) t.join();
  });
  if (failure) std::rethrow_exception(failure);

  json total = phase_line(o, dbname, "total", stats.calls(), total_secs);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  total["peak_rss_mb"] = ru.ru_maxrss / 1024.0;
  auto ps = db->pool_stats();
  total["pool"] = {{"calls", ps.calls}, {"retries", ps.retries}, {"commit_groups", ps.commit_groups},
                   {"grouped_writes", ps.grouped_writes}};
  std::printf("%s\n", total.dump().c_str());
  std::printf("%s\n", json{{"impl", "yardmaster"}, {"db", dbname}, {"phase", "methods"},
                           {"methods", stats.methods()}}.dump().c_str());

  // 5. verify (untimed), after the logs finished last have been compressed
  db->shutdown();
  auto conn = db::open_connection(url);
  auto scalar = [&](const std::string& sql) { return *conn->stmt(sql).scalar<int64_t>(); };
  int64_t complete_builds = scalar("SELECT COUNT(*) FROM builds WHERE complete_at IS NOT NULL");
  int64_t steps = scalar("SELECT COUNT(*) FROM steps");
  int64_t log_lines = scalar("SELECT COALESCE(SUM(num_lines), 0) FROM logs");
  int64_t open_buildsets = scalar("SELECT COUNT(*) FROM buildsets WHERE complete = 0");
  int64_t stored = scalar("SELECT COALESCE(SUM(LENGTH(content)), 0) FROM logchunks");
  int64_t raw = static_cast<int64_t>(4) * o.n * 5 * kLinesPerLog * 81;
  bool ok = complete_builds == 4 * o.n && steps == 20 * o.n && log_lines == 4000LL * o.n &&
            open_buildsets == 0 && (!o.readback || lines_read == 4000LL * o.n);
  std::printf("%s\n", json{{"impl", "yardmaster"}, {"db", dbname}, {"phase", "verify"}, {"ok", ok},
                           {"complete_builds", complete_builds}, {"steps", steps},
                           {"log_lines", log_lines}, {"lines_read", lines_read.load()},
                           {"open_buildsets", open_buildsets}, {"already_claimed", already_claimed.load()},
                           {"log_text_bytes", raw}, {"log_stored_bytes", stored},
                           {"log_compression", o.compress ? "on_finish" : "off"}}
                          .dump()
                          .c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ym::bench

int main(int argc, char** argv) {
  CLI::App app{"ym_bench: the standard workload through Yardmaster's connectors"};
  ym::bench::Options o;
  app.add_option("--url", o.url, "database URL (an empty database)")->required();
  app.add_option("--n", o.n, "buildsets");
  app.add_option("--c", o.c, "builds in flight");
  app.add_flag("!--no-readback", o.readback, "skip the read-back phase (scaling runs)");
  app.add_flag("!--no-compress", o.compress, "keep logs uncompressed");
  CLI11_PARSE(app, argc, argv);
  try {
    return ym::bench::run(o);
  } catch (const ym::db::Error& e) {
    std::fprintf(stderr, "ym_bench: %s\n", e.what());
    return 2;
  }
}
