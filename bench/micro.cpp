// Micro-benchmarks of the hot paths (Google Benchmark), on an SQLite file in a scratch directory:
// claim, add_step, append_log (bytes/s, then compression), get_log_lines of 1,000 lines from a
// 1,000,000-line log, and a cache hit.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>

#include "bench/workload_text.hpp"
#include "db/db.hpp"

namespace ym::bench {
namespace {

namespace fs = std::filesystem;
namespace td = db::testdata;

std::string scratch_url(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("ym-micro-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path file = dir / (name + ".sqlite");
  for (const char* s : {"", "-wal", "-shm"}) fs::remove(file.string() + s);
  return "sqlite:///" + file.string();
}

// A database with one master, builder, worker, buildset and build.
std::unique_ptr<db::Db> fixture(const std::string& name) {
  auto db = db::Db::open(scratch_url(name));
  db->insert_test_data({td::Master{.id = 1, .name = "m"}, td::Builder{.id = 1, .name = "b"},
                        td::Worker{.id = 1, .name = "w"}, td::SourceStamp{.id = 1},
                        td::Buildset{.id = 1}, td::BuildsetSourceStamp{.id = 1, .buildsetid = 1, .sourcestampid = 1},
                        td::BuildRequest{.id = 1, .buildsetid = 1, .builderid = 1},
                        td::Build{.id = 1, .number = 1, .builderid = 1, .buildrequestid = 1, .workerid = 1, .masterid = 1}})
      .get();
  return db;
}

void BM_Claim(benchmark::State& state) {
  auto db = fixture("claim");
  std::vector<int64_t> brids;
  for (auto _ : state) {
    state.PauseTiming();
    db::NewBuildset bs;
    bs.sourcestamps.push_back(int64_t{1});
    bs.reason = "micro";
    bs.builderids = {1};
    int64_t brid = db->buildsets().add_buildset(bs).get().brids.at(1);
    state.ResumeTiming();
    db->buildrequests().claim_build_requests({brid}, 1).get();
  }
}
BENCHMARK(BM_Claim)->UseRealTime();

void BM_AddStep(benchmark::State& state) {
  auto db = fixture("add_step");
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(db->steps().add_step(1, "step" + std::to_string(i++), "pending").get());
  }
}
BENCHMARK(BM_AddStep)->UseRealTime();

void BM_AppendLog(benchmark::State& state) {
  auto db = fixture("append_log");
  auto step = db->steps().add_step(1, "s", "x").get();
  int64_t logid = db->logs().add_log(step.id, "stdio", "stdio", "s").get();
  std::string chunk = log_chunk(1, 0, 0);
  for (auto _ : state) benchmark::DoNotOptimize(db->logs().append_log(logid, chunk).get());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunk.size()));
  // The timed loop is over here (Google Benchmark refuses PauseTiming after it).
  auto t0 = std::chrono::steady_clock::now();
  int64_t saved = db->logs().compress_log(logid).get();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["compress_MBps"] = state.iterations() * chunk.size() / 1e6 / secs;
  state.counters["compress_saved_bytes"] = static_cast<double>(saved);
}
BENCHMARK(BM_AppendLog)->UseRealTime();

void BM_GetLogLinesFromAMillionLineLog(benchmark::State& state) {
  static std::unique_ptr<db::Db> db;
  static int64_t logid = 0;
  if (!db) {
    db = fixture("get_log_lines");
    auto step = db->steps().add_step(1, "s", "x").get();
    logid = db->logs().add_log(step.id, "stdio", "stdio", "s").get();
    std::string block;
    for (int a = 0; a < 10; ++a) block += log_chunk(7, 2, a);  // 200 lines
    for (int i = 0; i < 5000; ++i) db->logs().append_log(logid, block).get();  // 1,000,000 lines
    db->logs().compress_log(logid).get();
  }
  int64_t first = 0;
  for (auto _ : state) {
    auto text = db->logs().get_log_lines(logid, first, first + 999).get();
    benchmark::DoNotOptimize(text);
    first = (first + 77777) % 999000;
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  // Peak RSS of the whole process so far. It includes building and compressing the
  // 1,000,000-line log (compress_log holds one run of about 1 MiB at a time), so it bounds
  // get_log_lines's memory from above only.
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_rss_mb"] = ru.ru_maxrss / 1024.0;
}
BENCHMARK(BM_GetLogLinesFromAMillionLineLog)->UseRealTime();

void BM_CacheHit(benchmark::State& state) {
  auto db = fixture("cache");
  db->builders().find_builder_id("b").get();
  for (auto _ : state) benchmark::DoNotOptimize(db->builders().find_builder_id("b").get());
}
BENCHMARK(BM_CacheHit);

}  // namespace
}  // namespace ym::bench

BENCHMARK_MAIN();
