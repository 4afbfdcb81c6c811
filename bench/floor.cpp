// The floor: the standard workload as the minimal raw SQL each connector call needs, through the
// backend's C API directly (sqlite3, libpq, libmariadb): one connection, no pool, no futures, no
// framework, every write call its own transaction (the same durability as the connectors). Its
// time is what no connector layer can beat; ym_bench's time divided by it is the overhead.
//   ym_floor --url URL --n N
// The schema is created with Yardmaster (untimed); everything timed is raw.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "bench/floor_raw.hpp"
#include "bench/workload_text.hpp"
#include "db/base.hpp"
#include "db/db.hpp"
#include "db/testdata.hpp"

namespace ym::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

int64_t now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

int run(const std::string& url_text, int n) {
  {
    auto db = db::Db::open(url_text);  // schema only
    db->shutdown();
  }
  auto url = db::Url::parse(url_text);
  std::unique_ptr<Raw> raw = open_raw(url);
  Raw& r = *raw;
  std::string dbname = std::string("floor-") + db::to_string(url.backend);
  uint64_t calls = 0;
  std::vector<json> lines;
  double total = 0;
  auto timed = [&](const std::string& phase, auto fn) {
    uint64_t before = calls;
    auto t0 = Clock::now();
    fn();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    total += secs;
    json line = {{"impl", "floor"}, {"db", dbname}, {"phase", phase}, {"calls", calls - before},
                 {"seconds", secs}, {"calls_per_s", (calls - before) / secs}, {"n", n}, {"c", 1}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  };
  // One connector call = one transaction.
  auto call = [&](auto fn) {
    r.begin();
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      r.commit();
      ++calls;
    } else {
      auto v = fn();
      r.commit();
      ++calls;
      return v;
    }
  };

  int64_t masterid = 0;
  std::vector<int64_t> builders, workers;
  timed("setup", [&] {
    masterid = call([&] {
      return r.insert("INSERT INTO masters (name, name_hash, active, last_active) VALUES (?, ?, 0, ?)",
                      {std::string("bench:/m1"), db::hash_columns({std::string("bench:/m1")}), now()}, "id");
    });
    call([&] { r.exec("UPDATE masters SET active = 1, last_active = ? WHERE id = ?", {now(), masterid}); });
    for (int i = 0; i < kBuilders; ++i) {
      char name[8];
      std::snprintf(name, sizeof name, "b%02d", i);
      int64_t b = call([&] {
        return r.insert("INSERT INTO builders (name, name_hash) VALUES (?, ?)",
                        {std::string(name), db::hash_columns({std::string(name)})}, "id");
      });
      call([&] { r.exec("INSERT INTO builder_masters (builderid, masterid) VALUES (?, ?)", {b, masterid}); });
      builders.push_back(b);
    }
    for (int w = 0; w < kWorkers; ++w) {
      int64_t id = call([&] {
        return r.insert("INSERT INTO workers (name, info) VALUES (?, '{}')", {"w" + std::to_string(w)}, "id");
      });
      call([&] {
        for (int64_t b : builders) {
          r.exec("INSERT INTO configured_workers (buildermasterid, workerid) SELECT id, ? FROM "
                 "builder_masters WHERE builderid = ? AND masterid = ?",
                 {id, b, masterid});
        }
      });
      workers.push_back(id);
    }
  });

  std::map<int64_t, std::pair<int64_t, int>> request_info;  // brid -> (bsid, i)
  std::map<int64_t, int> remaining;
  timed("submit", [&] {
    for (int i = 0; i < n; ++i) {
      call([&] {
        char rev[16];
        std::snprintf(rev, sizeof rev, "rev%06d", i);
        std::string hash = db::testdata::source_stamp_hash(std::string("main"), std::string(rev), kRepo,
                                                           "proj", "", std::nullopt);
        int64_t ss = r.insert("INSERT INTO sourcestamps (ss_hash, branch, revision, repository, codebase, "
                              "project, created_at) VALUES (?, 'main', ?, ?, '', 'proj', ?)",
                              {hash, std::string(rev), kRepo, now()}, "id");
        int64_t bs = r.insert("INSERT INTO buildsets (reason, submitted_at, complete) VALUES ('bench', ?, 0)",
                              {now()}, "id");
        r.exec("INSERT INTO buildset_properties (buildsetid, property_name, property_value) VALUES "
               "(?, 'i', ?)",
               {bs, "[" + std::to_string(i) + ", \"bench\"]"});
        r.exec("INSERT INTO buildset_sourcestamps (buildsetid, sourcestampid) VALUES (?, ?)", {bs, ss});
        for (int k : builder_indexes(i)) {
          int64_t br = r.insert("INSERT INTO buildrequests (buildsetid, builderid, priority, complete, "
                                "submitted_at, waited_for) VALUES (?, ?, 0, 0, ?, 0)",
                                {bs, builders[k], now()}, "id");
          request_info[br] = {bs, i};
        }
        remaining[bs] = kBuildersPerBuildset;
      });
    }
  });

  std::vector<std::pair<int64_t, int64_t>> built;
  timed("run", [&] {
    int64_t seq = 0;
    for (;;) {
      auto pending = call([&] {
        return r.query("SELECT br.id, br.builderid FROM buildrequests br LEFT JOIN buildrequest_claims c "
                       "ON c.brid = br.id WHERE c.brid IS NULL AND br.complete = 0 ORDER BY br.id",
                       {});
      });
      if (pending.empty()) break;
      for (const auto& row : pending) {
        int64_t brid = std::stoll(*row[0]);
        int64_t builderid = std::stoll(*row[1]);
        auto [bsid, i] = request_info.at(brid);
        call([&] { r.exec("INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES (?, ?, ?)", {brid, masterid, now()}); });
        int64_t workerid = workers[seq++ % kWorkers];
        int64_t buildid = call([&] {
          auto num = r.query("SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE builderid = ?", {builderid});
          return r.insert("INSERT INTO builds (number, builderid, buildrequestid, workerid, masterid, "
                          "started_at, state_string) VALUES (?, ?, ?, ?, ?, ?, 'building')",
                          {std::stoll(*num[0][0]), builderid, brid, workerid, masterid, now()}, "id");
        });
        for (int s = 0; s < static_cast<int>(kStepNames.size()); ++s) {
          int64_t stepid = call([&] {
            auto num = r.query("SELECT COALESCE(MAX(number), -1) + 1 FROM steps WHERE buildid = ?", {buildid});
            return r.insert("INSERT INTO steps (number, name, buildid, started_at, state_string, urls_json, "
                            "hidden) VALUES (?, ?, ?, ?, 'pending', '[]', 0)",
                            {std::stoll(*num[0][0]), kStepNames[s], buildid, now()}, "id");
          });
          call([&] { r.exec("UPDATE steps SET started_at = ? WHERE id = ?", {now(), stepid}); });
          int64_t logid = call([&] {
            return r.insert("INSERT INTO logs (name, slug, stepid, complete, num_lines, type) VALUES "
                            "('stdio', 'stdio', ?, 0, 0, 's')",
                            {stepid}, "id");
          });
          for (int a = 0; a < kAppendsPerLog; ++a) {
            std::string text = log_chunk(brid, s, a);
            call([&] {
              auto nl = r.query("SELECT num_lines FROM logs WHERE id = ?", {logid});
              int64_t first = std::stoll(*nl[0][0]);
              int64_t last = first + kLinesPerAppend - 1;
              r.exec("INSERT INTO logchunks (logid, first_line, last_line, content, compressed) VALUES "
                     "(?, ?, ?, ?, 0)",
                     {logid, first, last, RawBlob{text}});
              r.exec("UPDATE logs SET num_lines = ? WHERE id = ?", {last + 1, logid});
            });
          }
          call([&] { r.exec("UPDATE logs SET complete = 1 WHERE id = ?", {logid}); });
          call([&] { r.exec("UPDATE steps SET complete_at = ?, results = 0, hidden = 0 WHERE id = ?", {now(), stepid}); });
        }
        char rev[16];
        std::snprintf(rev, sizeof rev, "rev%06d", i);
        call([&] {
          r.exec("INSERT INTO build_properties (buildid, name, value, source) VALUES (?, 'got_revision', ?, 'bench')",
                 {buildid, "\"" + std::string(rev) + "\""});
        });
        call([&] { r.exec("UPDATE builds SET complete_at = ?, results = 0 WHERE id = ?", {now(), buildid}); });
        call([&] { r.exec("UPDATE buildrequests SET complete = 1, results = 0, complete_at = ? WHERE id = ?", {now(), brid}); });
        if (--remaining[bsid] == 0) {
          call([&] { r.exec("UPDATE buildsets SET complete = 1, results = 0, complete_at = ? WHERE id = ?", {now(), bsid}); });
        }
        built.emplace_back(buildid, brid);
      }
    }
  });

  int64_t lines_read = 0;
  timed("readback", [&] {
    for (auto [buildid, brid] : built) {
      call([&] { return r.query("SELECT * FROM builds WHERE id = ?", {buildid}); });
      auto steps = call([&] { return r.query("SELECT id FROM steps WHERE buildid = ? ORDER BY number", {buildid}); });
      for (const auto& step : steps) {
        auto logs = call([&] { return r.query("SELECT id FROM logs WHERE stepid = ?", {std::stoll(*step[0])}); });
        for (const auto& log : logs) {
          auto chunks = call([&] {
            return r.query("SELECT content FROM logchunks WHERE logid = ? AND first_line <= 199 ORDER BY first_line",
                           {std::stoll(*log[0])});
          });
          for (const auto& c : chunks) lines_read += std::count(c[0]->begin(), c[0]->end(), '\n');
        }
      }
    }
  });
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%s\n", json{{"impl", "floor"}, {"db", dbname}, {"phase", "total"}, {"calls", calls},
                           {"seconds", total}, {"calls_per_s", calls / total}, {"n", n},
                           {"peak_rss_mb", ru.ru_maxrss / 1024.0}, {"lines_read", lines_read},
                           {"ok", lines_read == 4000LL * n}}
                          .dump()
                          .c_str());
  return lines_read == 4000LL * n ? 0 : 1;
}

}  // namespace
}  // namespace ym::bench

int main(int argc, char** argv) {
  CLI::App app{"ym_floor: the standard workload as raw SQL through the backend's C API"};
  std::string url;
  int n = 200;
  app.add_option("--url", url, "database URL (an empty database)")->required();
  app.add_option("--n", n, "buildsets");
  CLI11_PARSE(app, argc, argv);
  try {
    return ym::bench::run(url, n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_floor: %s\n", e.what());
    return 2;
  }
}
