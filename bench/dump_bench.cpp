// ym_dump_bench: how long `yardmaster db dump` / `db restore` take on a filled database, how big
// the dump is, and how long a writer is held up while a dump runs.
//
//   ym_dump_bench --url URL --restore-url EMPTY_URL --dir DIR [--writer-seconds S]
//
// URL is a database filled beforehand (e.g. by `ym_bench --url URL --n 300 --c 8`); EMPTY_URL an
// empty database of the same backend that the portable dump is restored into. DIR holds the dump
// files. For SQLite the SQL-script form is timed too, restored with the `sqlite3` shell.
//
// The writer stall: one thread makes small commits (set_state on one row) in a loop, first alone
// for S seconds (its baseline), then while each dump runs; each phase reports the writer's
// latency percentiles and its longest commit. Prints one JSON object per line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "db/connectors/state.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/migrate/dump.hpp"
#include "db/url.hpp"

namespace ym::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Bytes the database takes: the SQLite file (with its WAL), or what the server reports.
int64_t database_bytes(const db::Url& url) {
  if (url.backend == db::Backend::kSqlite) {
    int64_t total = 0;
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      auto n = fs::file_size(url.database + suffix, ec);
      if (!ec) total += static_cast<int64_t>(n);
    }
    return total;
  }
  auto c = db::open_connection(url);
  if (url.backend == db::Backend::kPostgres) {
    return c->stmt("SELECT pg_database_size(current_database())").scalar<int64_t>().value_or(0);
  }
  // InnoDB's sizes are statistics that lag behind a bulk load until the tables are analysed.
  for (const auto& table : c->table_names()) c->execute_script("ANALYZE TABLE " + c->dialect().quote(table));
  return c->stmt("SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) FROM information_schema.TABLES "
                 "WHERE TABLE_SCHEMA = DATABASE()")
      .scalar<int64_t>()
      .value_or(0);
}

// A thread that commits one small change after another and records each commit's latency.
class Writer {
 public:
  explicit Writer(const std::string& url) : db_(db::Db::open(url)) {
    objectid_ = db_->state().get_object_id("dump_bench", "Writer").get();
    thread_ = std::thread([this] { loop(); });
  }
  ~Writer() {
    stop_ = true;
    thread_.join();
    db_->shutdown();
  }

  // Starts a new measurement window.
  void reset() {
    std::lock_guard lock(mu_);
    latencies_.clear();
  }

  // The latencies of the window so far.
  json window() {
    std::vector<double> v;
    {
      std::lock_guard lock(mu_);
      v = latencies_;
    }
    std::sort(v.begin(), v.end());
    if (v.empty()) return {{"commits", 0}};
    auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]; };
    return {{"commits", v.size()},
            {"p50_ms", pct(0.50)},
            {"p99_ms", pct(0.99)},
            {"max_ms", v.back()}};
  }

 private:
  void loop() {
    for (int64_t i = 0; !stop_; ++i) {
      auto t0 = Clock::now();
      db_->state().set_state(objectid_, "tick", json(i)).get();
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      std::lock_guard lock(mu_);
      latencies_.push_back(ms);
    }
  }

  std::unique_ptr<db::Db> db_;
  int64_t objectid_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<double> latencies_;
  std::thread thread_;
};

void print(json j) { std::cout << j.dump() << std::endl; }

int run(int argc, char** argv) {
  CLI::App app{"ym_dump_bench: dump/restore time and size, and the writer stall during a dump"};
  std::string url_text, restore_text, dir;
  double writer_seconds = 5;
  app.add_option("--url", url_text, "a filled database")->required();
  app.add_option("--restore-url", restore_text, "an empty database of the same backend")->required();
  app.add_option("--dir", dir, "directory for the dump files")->required();
  app.add_option("--writer-seconds", writer_seconds, "length of the writer's baseline");
  CLI11_PARSE(app, argc, argv);

  auto url = db::Url::parse(url_text);
  auto restore_url = db::Url::parse(restore_text);
  std::string backend = db::to_string(url.backend);
  fs::create_directories(dir);
  json base = {{"impl", "yardmaster"}, {"db", backend}};
  auto line = [&](json extra) {
    json j = base;
    j.update(extra);
    print(j);
  };

  line({{"phase", "source"}, {"database_bytes", database_bytes(url)}});

  Writer writer(url_text);
  writer.reset();
  std::this_thread::sleep_for(std::chrono::duration<double>(writer_seconds));
  line({{"phase", "writer_alone"}, {"seconds", writer_seconds}, {"writer", writer.window()}});

  std::vector<std::pair<std::string, migrate::DumpFormat>> formats = {
      {"portable", migrate::DumpFormat::kPortable}};
  if (url.backend == db::Backend::kSqlite) formats.push_back({"sqlite_script", migrate::DumpFormat::kSqliteScript});

  for (const auto& [name, format] : formats) {
    std::string path = dir + "/dump." + (format == migrate::DumpFormat::kPortable ? "ymdump" : "sql");
    writer.reset();
    auto t0 = Clock::now();
    auto r = migrate::dump(url, path, format);
    double took = seconds_since(t0);
    line({{"phase", "dump"},
          {"format", name},
          {"seconds", took},
          {"rows", r.rows},
          {"file_bytes", r.bytes},
          {"writer", writer.window()}});
  }

  // Restores run without the writer: the target is a different, empty database.
  {
    auto t0 = Clock::now();
    auto r = migrate::restore(dir + "/dump.ymdump", restore_url);
    line({{"phase", "restore"},
          {"format", "portable"},
          {"seconds", seconds_since(t0)},
          {"rows", r.rows},
          {"restored_database_bytes", database_bytes(restore_url)}});
  }
  if (url.backend == db::Backend::kSqlite) {
    std::string target = dir + "/restored-from-script.sqlite";
    fs::remove(target);
    auto t0 = Clock::now();
    std::string cmd = "sqlite3 '" + target + "' < '" + dir + "/dump.sql'";
    int rc = std::system(cmd.c_str());
    line({{"phase", "restore"},
          {"format", "sqlite_script"},
          {"tool", "sqlite3"},
          {"ok", rc == 0},
          {"seconds", seconds_since(t0)},
          {"restored_database_bytes", static_cast<int64_t>(fs::file_size(target))}});
  }
  return 0;
}

}  // namespace
}  // namespace ym::bench

int main(int argc, char** argv) {
  try {
    return ym::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ym_dump_bench: " << e.what() << "\n";
    return 1;
  }
}
