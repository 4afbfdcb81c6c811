// Randomized differential test (LevelDB's ModelDB idea): a seeded random sequence of connector
// calls is applied to the fake and to a real SQLite database, and every result (value or error
// type) is compared call by call. On a difference the seed, the call number and both results are
// printed; YM_DIFF_SEED=<seed> replays one sequence.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "fake/fake_db.hpp"

namespace ym::test {
namespace {

using nlohmann::json;

std::string describe(int64_t v) { return std::to_string(v); }
std::string describe(bool v) { return v ? "true" : "false"; }
std::string describe(const std::string& v) { return "'" + v + "'"; }
std::string describe(const json& v) { return v.dump(); }
std::string describe(const db::LineRange& r) { return std::to_string(r.first) + "-" + std::to_string(r.last); }
std::string describe(const db::Master& m) {
  return std::to_string(m.id) + ":" + m.name + ":" + std::to_string(m.active) + ":" +
         std::to_string(m.last_active.time_since_epoch().count());
}
std::string describe(const db::Builder& b) {
  std::string s = std::to_string(b.id) + ":" + b.name + "[";
  for (auto m : b.masterids) s += std::to_string(m) + ",";
  return s + "]";
}
std::string describe(const db::Worker& w) {
  std::string s = std::to_string(w.id) + ":" + w.name + ":" + w.workerinfo->dump() + " conn[";
  for (auto m : w.connected_to) s += std::to_string(m) + ",";
  s += "] conf[";
  for (auto c : w.configured_on) s += std::to_string(c.builderid) + "/" + std::to_string(c.masterid) + ",";
  return s + "]";
}
std::string describe(const db::BuildRequest& r) {
  std::ostringstream o;
  o << r.buildrequestid << ":" << r.buildsetid << ":" << r.builderid << ":" << r.buildername << ":"
    << r.priority << ":" << r.claimed << ":" << r.claimed_by_masterid.value_or(-1) << ":" << r.complete
    << ":" << r.results;
  return o.str();
}
std::string describe(const db::Build& b) {
  std::ostringstream o;
  o << b.id << ":" << b.number << ":" << b.builderid << ":" << b.buildrequestid << ":"
    << b.workerid.value_or(-1) << ":" << b.masterid << ":" << b.state_string << ":" << b.results.value_or(-1)
    << ":" << b.complete_at.has_value();
  return o.str();
}
std::string describe(const db::Step& s) {
  std::ostringstream o;
  o << s.id << ":" << s.number << ":" << s.name << ":" << s.buildid << ":" << s.results.value_or(-1) << ":"
    << s.urls.size() << ":" << s.hidden;
  return o.str();
}
std::string describe(const db::Log& l) {
  std::ostringstream o;
  o << l.id << ":" << l.name << ":" << l.slug << ":" << l.stepid << ":" << l.complete << ":" << l.num_lines
    << ":" << l.type;
  return o.str();
}
template <class T>
std::string describe(const std::vector<T>& v) {
  std::string s = "[";
  for (const auto& x : v) s += describe(x) + "; ";
  return s + "]";
}
template <class T>
std::string describe(const std::optional<T>& v) {
  return v ? describe(*v) : "none";
}
std::string describe(const db::AddedBuildset& a) {
  std::string s = std::to_string(a.bsid) + "{";
  for (auto [b, r] : a.brids) s += std::to_string(b) + "->" + std::to_string(r) + ",";
  return s + "}";
}
std::string describe(const db::AddedBuild& a) { return std::to_string(a.id) + "#" + std::to_string(a.number); }
std::string describe(const db::AddedStep& a) { return std::to_string(a.id) + "#" + std::to_string(a.number) + a.name; }

// The outcome of one call: its value, or the category of its error.
template <class Fn>
std::string outcome(Fn fn) {
  try {
    if constexpr (std::is_void_v<decltype(fn().get())>) {
      fn().get();
      return "ok";
    } else {
      return "ok " + describe(fn().get());
    }
  } catch (const db::Error& e) {
    return std::string("error ") + typeid(e).name();
  }
}

struct Random {
  std::mt19937_64 rng;
  explicit Random(uint64_t seed) : rng(seed) {}
  int64_t in(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }
  bool coin() { return in(0, 1) == 1; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[in(0, static_cast<int64_t>(v.size()) - 1)]; }
};

void run_sequence(uint64_t seed, int calls) {
  std::atomic<int64_t> now{1'700'000'000};
  db::Clock clock = [&now] { return Timestamp(std::chrono::seconds(now.load())); };
  fake::FakeDb fake(fake::FakeOptions{.check_foreign_keys = true, .clock = clock});
  db::DbOptions opts;
  opts.clock = clock;
  auto real = db::Db::open("sqlite://", opts);
  Random r(seed);
  const std::vector<std::string> names = {"alpha", "beta", "gamma", "delta", "bad name", "9lives", ""};
  const std::vector<std::string> masters = {"m1:/a", "m2:/b", "m3:/c", ""};
  const std::vector<std::string> branches = {"main", "dev", "release"};
  std::vector<std::string> log_text = {"one\n", "two\nthree\n", "no newline", "\xff\xfe bad utf8\n",
                                       std::string(70000, 'x') + "\n"};
  for (int i = 0; i < calls; ++i) {
    now += r.in(0, 3);
    std::string what;
    // Every random choice is made before `both`, so that both implementations get the same call.
    auto both = [&](auto call) {
      std::string a = outcome([&] { return call(static_cast<db::Db&>(fake)); });
      std::string b = outcome([&] { return call(*real); });
      if (std::getenv("YM_DIFF_VERBOSE")) std::printf("%d %s -> %s | %s\n", i, what.c_str(), a.c_str(), b.c_str());
      ASSERT_EQ(a, b) << "seed " << seed << ", call " << i << ": " << what
                      << "\n(replay with YM_DIFF_SEED=" << seed << ")";
    };
    int64_t id = r.in(0, 8), id2 = r.in(0, 8), id3 = r.in(0, 8);
    switch (r.in(0, 21)) {
      case 0: what = "find_master_id"; { auto n = r.pick(masters); both([&](db::Db& d) { return d.masters().find_master_id(n); }); } break;
      case 1: what = "set_master_state"; { bool a = r.coin(); both([&](db::Db& d) { return d.masters().set_master_state(id, a); }); } break;
      case 2: what = "get_masters"; both([&](db::Db& d) { return d.masters().get_masters(); }); break;
      case 3: what = "find_builder_id"; { auto n = r.pick(names); bool ac = r.in(0, 3) > 0; both([&](db::Db& d) { return d.builders().find_builder_id(n, ac); }); } break;
      case 4: what = "add_builder_master"; both([&](db::Db& d) { return d.builders().add_builder_master(id, id2); }); break;
      case 5: what = "remove_builder_master"; both([&](db::Db& d) { return d.builders().remove_builder_master(id, id2); }); break;
      case 6: what = "get_builders"; { std::optional<int64_t> m; if (r.coin()) m = id; both([&](db::Db& d) { return d.builders().get_builders(m); }); } break;
      case 7: what = "find_worker_id"; { auto n = r.pick(names); both([&](db::Db& d) { return d.workers().find_worker_id(n); }); } break;
      case 8: what = "worker_configured"; {
        std::vector<int64_t> bs;
        for (int k = r.in(0, 3); k > 0; --k) bs.push_back(r.in(1, 6));
        both([&](db::Db& d) { return d.workers().worker_configured(id, id2, bs); });
      } break;
      case 9: what = "worker_connected"; { json info = {{"n", r.in(0, 5)}}; both([&](db::Db& d) { return d.workers().worker_connected(id, id2, info); }); } break;
      case 10: what = "get_workers"; {
        db::WorkerFilter f;
        if (r.coin()) f.masterid = id;
        if (r.coin()) f.builderid = id2;
        both([&](db::Db& d) { return d.workers().get_workers(f); });
      } break;
      case 11: what = "state"; {
        auto n = r.pick(names);
        int64_t v = r.in(0, 100);
        what = "set_state(" + std::to_string(id) + ", '" + n + "')";
        both([&](db::Db& d) { return d.state().set_state(id, n, v); });
        what = "get_state";
        both([&](db::Db& d) { return d.state().get_state(id, n, json("default")); });
        auto obj = r.pick(names) + "x";
        what = "get_object_id('" + obj + "')";
        both([&](db::Db& d) { return d.state().get_object_id(obj, "C"); });
      } break;
      case 12: case 13: what = "add_buildset"; {
        db::NewBuildset bs;
        bs.reason = "diff";
        for (int k = r.in(0, 3); k > 0; --k) bs.builderids.push_back(r.in(1, 6));
        bs.sourcestamps.push_back(db::SourceStampSpec{.branch = r.pick(branches), .revision = "r" + std::to_string(r.in(0, 3)),
                                                      .repository = "repo", .project = "p", .codebase = ""});
        bs.priority = static_cast<int>(r.in(0, 2));
        both([&](db::Db& d) { return d.buildsets().add_buildset(bs); });
      } break;
      case 14: what = "get_build_requests"; {
        db::BuildRequestFilter f;
        switch (r.in(0, 3)) {
          case 0: f.claimed = db::ClaimFilter::unclaimed(); break;
          case 1: f.claimed = db::ClaimFilter::claimed(); break;
          case 2: f.claimed = db::ClaimFilter::by_master(id); break;
          default: break;
        }
        if (r.coin()) f.builderid = id2;
        if (r.coin()) f.complete = r.coin();
        if (r.coin()) f.branch = r.pick(branches);
        both([&](db::Db& d) { return d.buildrequests().get_build_requests(f); });
      } break;
      case 15: case 16: what = "claim_build_requests"; {
        std::vector<int64_t> ids;
        for (int k = r.in(1, 3); k > 0; --k) ids.push_back(r.in(1, 30));
        both([&](db::Db& d) { return d.buildrequests().claim_build_requests(ids, id); });
      } break;
      case 17: what = "unclaim/complete"; {
        std::vector<int64_t> ids{r.in(1, 30)};
        if (r.coin()) {
          both([&](db::Db& d) { return d.buildrequests().unclaim_build_requests(ids, id); });
        } else {
          both([&](db::Db& d) { return d.buildrequests().complete_build_requests(ids, id, 0); });
        }
      } break;
      case 18: what = "add_build"; {
        int64_t brid = r.in(1, 30);
        both([&](db::Db& d) { return d.builds().add_build(id, brid, id2, id3, "building"); });
        both([&](db::Db& d) { return d.builds().get_builds(db::BuildFilter{.builderid = id}); });
      } break;
      case 19: what = "add_step"; {
        auto n = r.pick(names);
        int64_t build = r.in(1, 10);
        both([&](db::Db& d) { return d.steps().add_step(build, n, "running"); });
      } break;
      case 20: {
        int64_t step = r.in(1, 10);
        what = "get_steps(" + std::to_string(step) + ")";
        both([&](db::Db& d) { return d.steps().get_steps(step); });
        auto slug = r.pick(names);
        what = "add_log(" + std::to_string(step) + ", '" + slug + "')";
        both([&](db::Db& d) { return d.logs().add_log(step, "stdio", slug, "s"); });
        int64_t log = r.in(1, 10);
        auto text = r.pick(log_text);
        what = "append_log(" + std::to_string(log) + ")";
        both([&](db::Db& d) { return d.logs().append_log(log, text); });
        int64_t first = r.in(0, 5);
        int64_t last = first + r.in(-1, 5);
        what = "get_log_lines(" + std::to_string(log) + ")";
        both([&](db::Db& d) { return d.logs().get_log_lines(log, first, last); });
        what = "get_logs(" + std::to_string(step) + ")";
        both([&](db::Db& d) { return d.logs().get_logs(step); });
      } break;
      default: what = "finish"; {
        int result = static_cast<int>(r.in(0, 6));
        both([&](db::Db& d) { return d.builds().finish_build(id, result); });
        both([&](db::Db& d) { return d.builds().get_build(id); });
        both([&](db::Db& d) { return d.buildsets().complete_buildset(id2, 0); });
      } break;
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(Differential, FakeAndSqliteAgreeOnRandomCallSequences) {
  if (const char* s = std::getenv("YM_DIFF_SEED")) {
    run_sequence(std::stoull(s), 3000);
    return;
  }
  for (uint64_t seed : {1ull, 2ull, 3ull, 20261121ull}) {
    run_sequence(seed, 2500);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace ym::test
