// The floor: the standard workload as the minimal raw SQL each connector call needs, through the
// backend's C API directly (sqlite3, libpq, libmariadb): no pool, no futures, no framework, every
// write call its own transaction (the same durability as the connectors). Its time is what no
// connector layer can beat; ym_bench's time divided by it is the overhead.
//   ym_floor --url URL --n N [--c C]
// With --c C (the concurrent floor) the run and read-back phases use C threads, each with a
// connection of its own, as ym_bench keeps C builds in flight: a thread takes the next request,
// claims it and runs its whole build, with the fewest statements each call needs (see
// one_build). What the threads would otherwise race for is decided in the process: a build's
// number is chosen under its builder's mutex, and on SQLite one writer at a time holds the
// database (one mutex instead of the busy handler's sleeps). Each call commits alone: this is
// the "one statement per call" floor, with no group commit.
// The schema is created with Yardmaster (untimed); everything timed is raw.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
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

// The group commit variant (--group-commit): every write call of the run goes through one writer
// connection, and the calls queued at one moment commit together, LevelDB-style: the first caller
// to find no leader becomes it, takes the queue (after waiting up to --gather-us for as many calls
// as the last group held), runs them one after another in one transaction, commits, and only then
// tells each caller it is done. A floor call that fails is a bug of the floor (it has no
// savepoints): the run stops with it.
thread_local Raw* t_conn = nullptr;  // the connection the calling thread's statements go to

// Forwards to t_conn: a build's statements go to the thread's own connection, or, inside a group,
// to the writer's.
class Routed final : public Raw {
 public:
  void begin() override { t_conn->begin(); }
  void begin_read() override { t_conn->begin_read(); }
  void commit() override { t_conn->commit(); }
  void exec(const std::string& sql, const std::vector<RawValue>& p) override { t_conn->exec(sql, p); }
  RawRows query(const std::string& sql, const std::vector<RawValue>& p) override {
    return t_conn->query(sql, p);
  }
  int64_t insert(const std::string& sql, const std::vector<RawValue>& p, const std::string& id) override {
    return t_conn->insert(sql, p, id);
  }
};

class GroupCommit {
 public:
  GroupCommit(std::unique_ptr<Raw> writer, std::chrono::microseconds gather)
      : writer_(std::move(writer)), gather_(gather) {}

  // Returns once the COMMIT that holds fn's statements has returned.
  void run(const std::function<void()>& fn) {
    Pending me{&fn};
    std::unique_lock lock(mu_);
    queue_.push_back(&me);
    cv_.notify_all();  // a gathering leader counts it
    while (!me.done) {
      if (leading_) {
        cv_.wait(lock);
        continue;
      }
      leading_ = true;
      if (gather_.count() > 0) {
        cv_.wait_for(lock, gather_, [&] { return queue_.size() >= last_size_; });
      }
      std::vector<Pending*> batch;
      batch.swap(queue_);
      last_size_ = batch.size();
      ++groups_;
      grouped_ += batch.size();
      lock.unlock();
      Raw* own = t_conn;
      t_conn = writer_.get();
      std::exception_ptr failure;
      try {
        writer_->begin();
        for (Pending* p : batch) (*p->fn)();
        writer_->commit();
      } catch (...) {
        failure = std::current_exception();
      }
      t_conn = own;
      lock.lock();
      for (Pending* p : batch) {
        p->error = failure;
        p->done = true;
      }
      leading_ = false;
      cv_.notify_all();
    }
    if (me.error) std::rethrow_exception(me.error);
  }
  uint64_t groups() const { return groups_; }
  uint64_t grouped() const { return grouped_; }

 private:
  struct Pending {
    const std::function<void()>* fn;
    bool done = false;
    std::exception_ptr error;
  };
  std::unique_ptr<Raw> writer_;
  std::chrono::microseconds gather_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  bool leading_ = false;
  size_t last_size_ = 1;
  uint64_t groups_ = 0, grouped_ = 0;
};

int run(const std::string& url_text, int n, int c, bool group_commit, int gather_us) {
  {
    auto db = db::Db::open(url_text);  // schema only
    db->shutdown();
  }
  auto url = db::Url::parse(url_text);
  std::unique_ptr<Raw> raw = open_raw(url);
  Raw& r = *raw;
  std::string dbname = std::string("floor-") + db::to_string(url.backend);
  std::atomic<uint64_t> calls{0};
  // SQLite: one writer at a time (see the top of the file); readers go on in parallel (WAL).
  const bool single_writer = url.backend == db::Backend::kSqlite;
  std::mutex writer_mu;
  std::vector<json> lines;
  double total = 0;
  auto timed = [&](const std::string& phase, auto fn) {
    uint64_t before = calls;
    auto t0 = Clock::now();
    fn();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    total += secs;
    json line = {{"impl", "floor"}, {"db", dbname}, {"phase", phase}, {"calls", calls - before},
                 {"seconds", secs}, {"calls_per_s", (calls - before) / secs}, {"n", n}, {"c", c}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  };
  // One connector call: a transaction, or with `alone` one statement that commits by itself.
  auto call_on_alone = [&](Raw& r, bool write, auto fn, bool alone) {
    std::unique_lock<std::mutex> writer;
    if (write && single_writer) writer = std::unique_lock<std::mutex>(writer_mu);
    if (!alone) {
      if (write) {
        r.begin();
      } else {
        r.begin_read();
      }
    }
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      if (!alone) r.commit();
      ++calls;
    } else {
      auto v = fn();
      if (!alone) r.commit();
      ++calls;
      return v;
    }
  };
  // In the run phase of the group commit variant, a write call joins the next group instead.
  std::unique_ptr<GroupCommit> group;
  if (group_commit) group = std::make_unique<GroupCommit>(open_raw(url), std::chrono::microseconds(gather_us));
  bool grouping = false;
  auto call_on = [&](Raw& r, bool write, auto fn, bool alone = false) {
    if (write && grouping) {
      using T = decltype(fn());
      if constexpr (std::is_void_v<T>) {
        group->run([&] { fn(); });
        ++calls;
      } else {
        std::optional<T> v;
        group->run([&] { v = fn(); });
        ++calls;
        return std::move(*v);
      }
    } else {
      return call_on_alone(r, write, fn, alone);
    }
  };
  auto call = [&](auto fn) { return call_on(r, /*write=*/true, fn); };

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

  // Each of the C threads has a connection of its own (the first is the setup's).
  std::vector<std::unique_ptr<Raw>> conns;
  for (int t = 1; t < c; ++t) conns.push_back(open_raw(url));
  auto conn_of = [&](int t) -> Raw& { return t == 0 ? r : *conns[t - 1]; };
  auto on_threads = [&](const std::function<void(Raw&)>& body) {
    std::exception_ptr failure;
    std::mutex failure_mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < c; ++t) {
      threads.emplace_back([&, t] {
        try {
          body(conn_of(t));
        } catch (...) {
          std::lock_guard lock(failure_mu);
          if (!failure) failure = std::current_exception();
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failure) std::rethrow_exception(failure);
  };

  std::mutex mu;  // the queue, the buildsets' counts and `built`
  std::deque<std::pair<int64_t, int64_t>> queue;  // (brid, builderid) not yet taken
  bool exhausted = false;
  std::set<int64_t> taken;  // requests handed to a thread
  std::vector<std::pair<int64_t, int64_t>> built;  // (buildid, brid)
  std::map<int64_t, std::mutex> numbering;  // builderid -> its build numbers' mutex
  for (int64_t b : builders) numbering[b];
  std::atomic<int64_t> seq{0};
  auto next_request = [&](Raw& r) -> std::optional<std::pair<int64_t, int64_t>> {
    std::lock_guard lock(mu);
    while (queue.empty()) {
      if (exhausted) return std::nullopt;
      auto pending = call_on(r, /*write=*/false, [&] {
        return r.query("SELECT br.id, br.builderid FROM buildrequests br LEFT JOIN buildrequest_claims c "
                       "ON c.brid = br.id WHERE c.brid IS NULL AND br.complete = 0 ORDER BY br.id",
                       {});
      });
      // Requests another thread took and is about to claim are still listed: not twice.
      for (const auto& row : pending) {
        int64_t brid = std::stoll(*row[0]);
        if (taken.insert(brid).second) queue.emplace_back(brid, std::stoll(*row[1]));
      }
      if (queue.empty()) exhausted = true;
    }
    auto next = queue.front();
    queue.pop_front();
    return next;
  };
  // The concurrent floor issues the fewest statements each call needs: a call of one statement
  // commits by itself (no BEGIN/COMMIT), a number is picked by the INSERT that uses it, and on
  // PostgreSQL append_log is one statement (a writable CTE). The serial floor keeps its plain
  // transactions as a profile.
  const bool minimal = c > 1;
  const bool pg = url.backend == db::Backend::kPostgres;
  const bool my = url.backend == db::Backend::kMysql;
  auto one_build = [&](Raw& r, int64_t brid, int64_t builderid) {
    auto call = [&](auto fn) { return call_on(r, /*write=*/true, fn); };
    auto call1 = [&](auto fn) { return call_on(r, /*write=*/true, fn, /*alone=*/minimal); };
    auto [bsid, i] = request_info.at(brid);
    call1([&] { r.exec("INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES (?, ?, ?)", {brid, masterid, now()}); });
    int64_t workerid = workers[seq++ % kWorkers];
    int64_t buildid;
    {
      std::lock_guard number_lock(numbering.at(builderid));
      if (minimal && !my) {
        buildid = call1([&] {
          return r.insert("INSERT INTO builds (number, builderid, buildrequestid, workerid, masterid, "
                          "started_at, state_string) SELECT COALESCE(MAX(number), 0) + 1, ?, ?, ?, ?, ?, "
                          "'building' FROM builds WHERE builderid = ?",
                          {builderid, brid, workerid, masterid, now(), builderid}, "id");
        });
      } else {
        // (MariaDB: a plain read, then the insert; INSERT ... SELECT would lock the range it read.)
        buildid = call([&] {
          auto num = r.query("SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE builderid = ?", {builderid});
          return r.insert("INSERT INTO builds (number, builderid, buildrequestid, workerid, masterid, "
                          "started_at, state_string) VALUES (?, ?, ?, ?, ?, ?, 'building')",
                          {std::stoll(*num[0][0]), builderid, brid, workerid, masterid, now()}, "id");
        });
      }
    }
    for (int s = 0; s < static_cast<int>(kStepNames.size()); ++s) {
      int64_t stepid;
      if (minimal && !my) {
        stepid = call1([&] {
          return r.insert("INSERT INTO steps (number, name, buildid, started_at, state_string, urls_json, "
                          "hidden) SELECT COALESCE(MAX(number), -1) + 1, ?, ?, ?, 'pending', '[]', 0 "
                          "FROM steps WHERE buildid = ?",
                          {kStepNames[s], buildid, now(), buildid}, "id");
        });
      } else {
        stepid = call([&] {
          auto num = r.query("SELECT COALESCE(MAX(number), -1) + 1 FROM steps WHERE buildid = ?", {buildid});
          return r.insert("INSERT INTO steps (number, name, buildid, started_at, state_string, urls_json, "
                          "hidden) VALUES (?, ?, ?, ?, 'pending', '[]', 0)",
                          {std::stoll(*num[0][0]), kStepNames[s], buildid, now()}, "id");
        });
      }
      call1([&] { r.exec("UPDATE steps SET started_at = ? WHERE id = ?", {now(), stepid}); });
      int64_t logid = call1([&] {
        return r.insert("INSERT INTO logs (name, slug, stepid, complete, num_lines, type) VALUES "
                        "('stdio', 'stdio', ?, 0, 0, 's')",
                        {stepid}, "id");
      });
      for (int a = 0; a < kAppendsPerLog; ++a) {
        std::string text = log_chunk(brid, s, a);
        if (minimal && pg) {
          call1([&] {
            r.exec("WITH l AS (UPDATE logs SET num_lines = num_lines + ? WHERE id = ? RETURNING num_lines) "
                   "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
                   "SELECT ?, num_lines - ?, num_lines - 1, ?, 0 FROM l",
                   {int64_t{kLinesPerAppend}, logid, logid, int64_t{kLinesPerAppend}, RawBlob{text}});
          });
        } else if (minimal && !my) {
          call([&] {
            auto nl = r.query("UPDATE logs SET num_lines = num_lines + ? WHERE id = ? RETURNING num_lines",
                              {int64_t{kLinesPerAppend}, logid});
            int64_t last = std::stoll(*nl[0][0]) - 1;
            r.exec("INSERT INTO logchunks (logid, first_line, last_line, content, compressed) VALUES "
                   "(?, ?, ?, ?, 0)",
                   {logid, last - kLinesPerAppend + 1, last, RawBlob{text}});
          });
        } else {
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
      }
      call1([&] { r.exec("UPDATE logs SET complete = 1 WHERE id = ?", {logid}); });
      call1([&] { r.exec("UPDATE steps SET complete_at = ?, results = 0, hidden = 0 WHERE id = ?", {now(), stepid}); });
    }
    char rev[16];
    std::snprintf(rev, sizeof rev, "rev%06d", i);
    call1([&] {
      r.exec("INSERT INTO build_properties (buildid, name, value, source) VALUES (?, 'got_revision', ?, 'bench')",
             {buildid, "\"" + std::string(rev) + "\""});
    });
    call1([&] { r.exec("UPDATE builds SET complete_at = ?, results = 0 WHERE id = ?", {now(), buildid}); });
    call1([&] { r.exec("UPDATE buildrequests SET complete = 1, results = 0, complete_at = ? WHERE id = ?", {now(), brid}); });
    bool last_of_buildset;
    {
      std::lock_guard lock(mu);
      last_of_buildset = --remaining.at(bsid) == 0;
      built.emplace_back(buildid, brid);
    }
    if (last_of_buildset) {
      call1([&] { r.exec("UPDATE buildsets SET complete = 1, results = 0, complete_at = ? WHERE id = ?", {now(), bsid}); });
    }
  };
  Routed routed;
  grouping = group != nullptr;
  timed("run", [&] {
    on_threads([&](Raw& own) {
      // With group commit a build's statements go where t_conn points: its thread's connection
      // for reads, the writer's inside a group.
      t_conn = &own;
      Raw& r = group ? static_cast<Raw&>(routed) : own;
      while (auto next = next_request(r)) one_build(r, next->first, next->second);
    });
  });
  grouping = false;
  if (group) {
    std::printf("%s\n", json{{"phase", "group_commit"}, {"groups", group->groups()},
                             {"grouped_writes", group->grouped()}, {"gather_us", gather_us}}
                            .dump()
                            .c_str());
  }

  std::atomic<int64_t> lines_read{0};
  std::sort(built.begin(), built.end());
  std::atomic<size_t> next_build{0};
  timed("readback", [&] {
    on_threads([&](Raw& r) {
      auto call = [&](auto fn) { return call_on(r, /*write=*/false, fn); };
      for (size_t k; (k = next_build++) < built.size();) {
        int64_t buildid = built[k].first;
        call([&] { return r.query("SELECT * FROM builds WHERE id = ?", {buildid}); });
        auto steps = call([&] { return r.query("SELECT id FROM steps WHERE buildid = ? ORDER BY number", {buildid}); });
        for (const auto& step : steps) {
          auto logs = call([&] { return r.query("SELECT id FROM logs WHERE stepid = ?", {std::stoll(*step[0])}); });
          for (const auto& log : logs) {
            auto chunks = call([&] {
              return r.query("SELECT content FROM logchunks WHERE logid = ? AND first_line <= 199 ORDER BY first_line",
                             {std::stoll(*log[0])});
            });
            int64_t nl = 0;
            for (const auto& ch : chunks) nl += std::count(ch[0]->begin(), ch[0]->end(), '\n');
            lines_read += nl;
          }
        }
      }
    });
  });
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%s\n", json{{"impl", "floor"}, {"db", dbname}, {"phase", "total"}, {"calls", calls.load()},
                           {"seconds", total}, {"calls_per_s", calls.load() / total}, {"n", n},
                           {"peak_rss_mb", ru.ru_maxrss / 1024.0}, {"lines_read", lines_read.load()},
                           {"ok", lines_read.load() == 4000LL * n}, {"c", c}}
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
  int c = 1;
  app.add_option("--url", url, "database URL (an empty database)")->required();
  app.add_option("--n", n, "buildsets");
  app.add_option("--c", c, "threads, each with its own connection (1: the serial floor)")
      ->check(CLI::Range(1, 256));
  bool group_commit = false;
  int gather_us = 0;
  app.add_flag("--group-commit", group_commit,
               "the run phase's writes through one connection, the calls queued at once in one "
               "transaction (each caller told after its COMMIT)");
  app.add_option("--gather-us", gather_us,
                 "with --group-commit: how long a leader waits for as many calls as its last group")
      ->check(CLI::Range(0, 100000));
  CLI11_PARSE(app, argc, argv);
  try {
    return ym::bench::run(url, n, c, group_commit, gather_us);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_floor: %s\n", e.what());
    return 2;
  }
}
