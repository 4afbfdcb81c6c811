// In-memory Builds, held to the same contract suite as db/connectors/builds.cpp.
#include "db/connectors/builds.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "db/base.hpp"
#include "db/connectors/changes_util.hpp"
#include "db/connectors/json_util.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

using db::internal::dump_json;
using db::internal::parse_json;


db::Build to_record(const td::Build& r) {
  db::Build b;
  b.id = r.id;
  b.number = r.number;
  b.builderid = r.builderid;
  b.buildrequestid = r.buildrequestid;
  b.workerid = r.workerid;
  b.masterid = r.masterid;
  b.started_at = Timestamp(std::chrono::seconds(r.started_at));
  if (r.complete_at) b.complete_at = Timestamp(std::chrono::seconds(*r.complete_at));
  b.state_string = r.state_string;
  b.results = r.results;
  return b;
}

const SpecAccess<db::Build>& build_access() {
  using db::Value;
  static const SpecAccess<db::Build> access{
      {{"id", [](const db::Build& b) -> Value { return b.id; }},
       {"number", [](const db::Build& b) -> Value { return db::to_value(b.number); }},
       {"builderid", [](const db::Build& b) -> Value { return b.builderid; }},
       {"buildrequestid", [](const db::Build& b) -> Value { return b.buildrequestid; }},
       {"workerid", [](const db::Build& b) -> Value { return db::to_value(b.workerid); }},
       {"masterid", [](const db::Build& b) -> Value { return b.masterid; }},
       {"started_at", [](const db::Build& b) -> Value { return db::to_value(b.started_at); }},
       {"complete_at", [](const db::Build& b) -> Value { return db::to_value(b.complete_at); }},
       {"state_string", [](const db::Build& b) -> Value { return b.state_string; }},
       {"results", [](const db::Build& b) -> Value { return db::to_value(b.results); }}},
      {"id"},
      {{"id", false}}};
  return access;
}

void check_text(const char* what, const std::string& s) {
  if (!db::is_valid_utf8(s)) throw db::InvalidArgument(std::string(what) + " is not valid UTF-8");
}

template <class M>
void require(const M& rows, int64_t id, const char* what) {
  if (!rows.count(id))
    throw db::NotFound("no " + std::string(what) + " with id " + std::to_string(id));
}

class FakeBuilds final : public db::Builds {
 public:
  explicit FakeBuilds(FakeDb::Access a) : a_(a) {}

  Future<std::optional<db::Build>> get_build(int64_t buildid) override {
    return a_.call([&](Store& s) -> std::optional<db::Build> {
      auto it = s.builds.find(buildid);
      if (it == s.builds.end()) return std::nullopt;
      return to_record(it->second);
    });
  }

  Future<std::optional<db::Build>> get_build_by_number(int64_t builderid, int number) override {
    return a_.call([&](Store& s) -> std::optional<db::Build> {
      for (const auto& [id, b] : s.builds) {
        if (b.builderid == builderid && b.number == number) return to_record(b);
      }
      return std::nullopt;
    });
  }

  Future<std::vector<db::Build>> get_builds(db::BuildFilter filter) override {
    return a_.call([&](Store& s) {
      std::vector<db::Build> rows;
      for (const auto& [id, b] : s.builds) {
        if (filter.builderid && b.builderid != *filter.builderid) continue;
        if (filter.buildrequestid && b.buildrequestid != *filter.buildrequestid) continue;
        if (filter.workerid && b.workerid != filter.workerid) continue;
        if (filter.complete && b.complete_at.has_value() != *filter.complete) continue;
        rows.push_back(to_record(b));
      }
      return apply_spec(std::move(rows), filter.spec, build_access());
    });
  }

  Future<std::optional<db::Build>> get_prev_successful_build(
      int64_t builderid, int number, std::vector<db::SourceStamp> sourcestamps) override {
    return a_.call([&](Store& s) -> std::optional<db::Build> {
      db::internal::StampKeys wanted;
      for (const auto& ss : sourcestamps) wanted.emplace(ss.repository, ss.branch, ss.codebase);
      // The blame list's rule, through the same helper (changes_util.hpp).
      auto src = make_fake_blame_source(s);
      auto id = db::internal::previous_successful_build(*src, builderid, number, wanted);
      if (!id) return std::nullopt;
      return to_record(s.builds.at(*id));
    });
  }

  Future<db::AddedBuild> add_build(int64_t builderid, int64_t buildrequestid,
                                   std::optional<int64_t> workerid, int64_t masterid,
                                   std::string state_string) override {
    return a_.call([&](Store& s) {
      check_text("build state string", state_string);
      require(s.builders, builderid, "builder");
      require(s.buildrequests, buildrequestid, "build request");
      if (workerid) require(s.workers, *workerid, "worker");
      require(s.masters, masterid, "master");
      int number = 0;
      for (const auto& [id, b] : s.builds) {
        if (b.builderid == builderid) number = std::max(number, b.number);
      }
      ++number;
      int64_t id = s.next_id("builds", s.builds);
      td::Build row;
      row.id = id;
      row.number = number;
      row.builderid = builderid;
      row.buildrequestid = buildrequestid;
      row.workerid = workerid;
      row.masterid = masterid;
      row.started_at = a_.now();
      row.complete_at = std::nullopt;
      row.state_string = state_string;
      row.results = std::nullopt;
      s.builds[id] = row;
      return db::AddedBuild{id, number};
    });
  }

  Future<void> set_build_state_string(int64_t buildid, std::string state_string) override {
    return a_.call([&](Store& s) {
      check_text("build state string", state_string);
      auto it = s.builds.find(buildid);
      if (it != s.builds.end()) it->second.state_string = state_string;  // unknown: no-op
    });
  }

  Future<void> finish_build(int64_t buildid, int results) override {
    return a_.call([&](Store& s) {
      auto it = s.builds.find(buildid);
      if (it == s.builds.end()) return;  // an unknown build: nothing changes
      it->second.results = results;
      it->second.complete_at = a_.now();
    });
  }

  Future<void> complete_build(int64_t buildid, int64_t masterid, int results,
                              std::string state_string) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      check_text("build state string", state_string);
      auto bit = s.builds.find(buildid);
      if (bit == s.builds.end()) throw db::NotFound("no build with id " + std::to_string(buildid));
      const td::Build& b = bit->second;
      const int64_t brid = b.buildrequestid;
      auto& br = s.buildrequests.at(brid);
      auto claim = s.buildrequest_claims.find(brid);
      bool held = claim != s.buildrequest_claims.end() && claim->second.masterid == masterid;
      if (b.complete_at) {
        if (b.masterid == masterid && b.results == results && br.complete &&
            br.results == results && held) {
          return;
        }
        throw db::NotClaimedError("build " + std::to_string(buildid) +
                                  " is already finished (its master may have been taken over): "
                                  "it cannot complete build request " + std::to_string(brid));
      }
      if (b.masterid != masterid) {
        throw db::NotClaimedError("build " + std::to_string(buildid) + " belongs to master " +
                                  std::to_string(b.masterid) + ", not " +
                                  std::to_string(masterid));
      }
      if (br.complete || !held) {
        throw db::NotClaimedError("build request " + std::to_string(brid) +
                                  " is complete or no longer claimed by master " +
                                  std::to_string(masterid) + ": build " +
                                  std::to_string(buildid) + " cannot complete it");
      }
      br.complete = true;
      br.results = results;
      br.complete_at = now;
      end_unfinished_builds(s, std::vector<int64_t>(1, buildid), results, db::results::kCancelled,
                            state_string, now);
      int pending = 0;
      int worst = db::results::kSuccess;
      for (const auto& [id, r] : s.buildrequests) {
        if (r.buildsetid != br.buildsetid) continue;
        if (!r.complete) ++pending;
        worst = db::results::worst(worst, r.results.value_or(db::results::kSuccess));
      }
      auto bs = s.buildsets.find(br.buildsetid);
      if (pending == 0 && bs != s.buildsets.end() && !bs->second.complete) {
        bs->second.complete = true;
        bs->second.complete_at = now;
        bs->second.results = worst;
      }
    });
  }

  Future<int> abandon_builds(int64_t buildrequestid, int64_t masterid, int results,
                             std::string state_string) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      check_text("build state string", state_string);
      require(s.buildrequests, buildrequestid, "build request");
      std::vector<int64_t> ids;
      for (const auto& [id, b] : s.builds) {
        if (b.buildrequestid == buildrequestid && b.masterid == masterid && !b.complete_at) {
          ids.push_back(id);
        }
      }
      end_unfinished_builds(s, ids, results, results, state_string, now);
      auto claim = s.buildrequest_claims.find(buildrequestid);
      if (claim != s.buildrequest_claims.end() && claim->second.masterid == masterid &&
          !s.buildrequests.at(buildrequestid).complete) {
        s.buildrequest_claims.erase(claim);
      }
      return static_cast<int>(ids.size());
    });
  }

  Future<db::Properties> get_build_properties(int64_t buildid) override {
    return a_.call([&](Store& s) {
      db::Properties out;
      for (auto it = s.build_properties.lower_bound({buildid, std::string()});
           it != s.build_properties.end() && it->first.first == buildid; ++it) {
        const auto& p = it->second;
        out[p.name] =
            db::Property{parse_json(p.value, "build property '" + p.name + "'"), p.source};
      }
      return out;
    });
  }

  Future<void> set_build_property(int64_t buildid, std::string name, nlohmann::json value,
                                  std::string source) override {
    return a_.call([&](Store& s) {
      if (name.empty()) throw db::InvalidArgument("build property name is empty");
      check_text("build property name", name);
      check_text("build property source", source);
      db::check_length("build_properties", "name", name);
      db::check_length("build_properties", "source", source);
      std::string json = dump_json(value, "build property '" + name + "'");
      require(s.builds, buildid, "build");
      s.build_properties[{buildid, name}] = td::BuildProperty{buildid, name, json, source};
    });
  }

  Future<std::vector<db::Build>> get_builds_for_change(int64_t changeid) override {
    return a_.call([&](Store& s) {
      if (changeid <= 0) {
        throw db::InvalidArgument("change id must be positive (got " + std::to_string(changeid) + ")");
      }
      std::vector<db::Build> out;
      auto ch = s.changes.find(changeid);
      if (ch == s.changes.end()) return out;
      std::set<int64_t> buildsets;
      for (const auto& [id, bss] : s.buildset_sourcestamps) {
        if (bss.sourcestampid == ch->second.sourcestampid) buildsets.insert(bss.buildsetid);
      }
      for (const auto& [id, b] : s.builds) {
        auto br = s.buildrequests.find(b.buildrequestid);
        if (br != s.buildrequests.end() && buildsets.count(br->second.buildsetid)) {
          out.push_back(to_record(b));
        }
      }
      return out;
    });
  }

  Future<db::Properties> get_build_properties(int64_t buildid, db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      using db::Value;
      static const SpecAccess<td::BuildProperty> access{
          {{"name", [](const td::BuildProperty& p) -> Value { return p.name; }},
           {"source", [](const td::BuildProperty& p) -> Value { return p.source; }}},
          {"name"},
          {{"name", false}}};
      std::vector<td::BuildProperty> rows;
      for (auto it = s.build_properties.lower_bound({buildid, std::string()});
           it != s.build_properties.end() && it->first.first == buildid; ++it) {
        rows.push_back(it->second);
      }
      db::Properties out;
      for (const auto& p : apply_spec(std::move(rows), spec, access)) {
        out[p.name] = db::Property{parse_json(p.value, "build property '" + p.name + "'"), p.source};
      }
      return out;
    });
  }

 private:
  // (repository, branch, codebase) of the stamps of the build's buildset.


  FakeDb::Access a_;
};

}  // namespace

void end_unfinished_builds(Store& s, const std::vector<int64_t>& buildids, int results,
                           int step_results, const std::string& state_string, int64_t now) {
  std::set<int64_t> builds(buildids.begin(), buildids.end());
  std::set<int64_t> steps;
  for (auto& [id, step] : s.steps) {
    if (!builds.count(step.buildid)) continue;
    steps.insert(id);
    if (!step.complete_at) {
      step.complete_at = now;
      step.results = step_results;
    }
  }
  for (auto& [id, log] : s.logs) {
    if (steps.count(log.stepid)) log.complete = true;
  }
  for (int64_t id : builds) {
    auto it = s.builds.find(id);
    if (it == s.builds.end() || it->second.complete_at) continue;
    it->second.complete_at = now;
    it->second.results = results;
    it->second.state_string = state_string;
  }
}

std::unique_ptr<db::Builds> make_fake_builds(FakeDb::Access a) {
  return std::make_unique<FakeBuilds>(a);
}

}  // namespace ym::fake
