#include "db/connectors/buildsets.hpp"

#include <algorithm>
#include <set>

#include "db/connectors/buildsets_internal.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

Timestamp at(int64_t t) { return Timestamp(std::chrono::seconds(t)); }

db::Buildset to_record(const Store& s, const td::Buildset& b) {
  db::Buildset r;
  r.bsid = b.id;
  r.external_idstring = b.external_idstring;
  r.reason = b.reason;
  r.submitted_at = at(b.submitted_at);
  r.complete = b.complete;
  if (b.complete_at) r.complete_at = at(*b.complete_at);
  r.results = b.results.value_or(db::results::kNotYet);
  r.parent_buildid = b.parent_buildid;
  r.parent_relationship = b.parent_relationship;
  std::set<int64_t> ssids;
  for (const auto& [id, bss] : s.buildset_sourcestamps) {
    if (bss.buildsetid == b.id) ssids.insert(bss.sourcestampid);
  }
  r.sourcestamps.assign(ssids.begin(), ssids.end());
  return r;
}

const SpecAccess<db::Buildset>& buildset_access() {
  using R = db::Buildset;
  static const SpecAccess<R> a{
      {{"bsid", [](const R& r) { return db::to_value(r.bsid); }},
       {"external_idstring", [](const R& r) { return db::to_value(r.external_idstring); }},
       {"reason", [](const R& r) { return db::to_value(r.reason); }},
       {"submitted_at", [](const R& r) { return db::to_value(r.submitted_at); }},
       {"complete", [](const R& r) { return db::to_value(r.complete); }},
       {"complete_at", [](const R& r) { return db::to_value(r.complete_at); }},
       {"results", [](const R& r) { return db::to_value(r.results); }},
       {"parent_buildid", [](const R& r) { return db::to_value(r.parent_buildid); }}},
      {"bsid"},
      {}};
  return a;
}

class FakeBuildsets final : public db::Buildsets {
 public:
  explicit FakeBuildsets(FakeDb::Access a) : a_(a) {}

  Future<db::AddedBuildset> add_buildset(db::NewBuildset bs) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      auto props = db::internal::check_new_buildset(bs);
      // Check everything that must exist before the first change (all or nothing), in the order
      // Buildbot's inserts meet them: the parent, the stamps, the builders.
      if (bs.parent_buildid && !s.builds.count(*bs.parent_buildid)) {
        throw db::NotFound("no build with id " + std::to_string(*bs.parent_buildid) +
                           " (the buildset's parent)");
      }
      for (const auto& ref : bs.sourcestamps) {
        if (const auto* id = std::get_if<int64_t>(&ref); id && !s.sourcestamps.count(*id)) {
          throw db::NotFound("no source stamp with id " + std::to_string(*id));
        }
      }
      // One stamp named twice (by id, or by a spec that finds it): Buildbot's unique index on
      // (buildsetid, sourcestampid) refuses it. A spec with a patch is always a new stamp.
      std::set<std::string> named;
      for (const auto& ref : bs.sourcestamps) {
        std::string key;
        if (const auto* id = std::get_if<int64_t>(&ref)) {
          key = "id " + std::to_string(*id);
        } else {
          const auto& spec = std::get<db::SourceStampSpec>(ref);
          if (spec.patch_body) continue;
          db::internal::check_source_stamp_spec(spec);
          std::string hash = td::source_stamp_hash(spec.branch, spec.revision, spec.repository,
                                                   spec.project, spec.codebase, std::nullopt);
          key = "new " + hash;
          for (const auto& [id, ss] : s.sourcestamps) {
            if (ss.ss_hash == hash) key = "id " + std::to_string(id);
          }
        }
        if (!named.insert(key).second) {
          throw db::AlreadyExists("the buildset names one source stamp twice");
        }
      }
      for (int64_t id : bs.builderids) {
        if (!s.builders.count(id)) throw db::NotFound("no builder with id " + std::to_string(id));
      }

      std::set<int64_t> ssids;
      for (const auto& ref : bs.sourcestamps) {
        if (const auto* id = std::get_if<int64_t>(&ref)) {
          ssids.insert(*id);
        } else {
          ssids.insert(find_source_stamp_id(s, std::get<db::SourceStampSpec>(ref), now));
        }
      }
      int64_t submitted = bs.submitted_at ? bs.submitted_at->time_since_epoch().count() : now;
      db::AddedBuildset out;
      out.bsid = s.next_id("buildsets", s.buildsets);
      s.buildsets[out.bsid] = td::Buildset{.id = out.bsid,
                                           .external_idstring = bs.external_idstring,
                                           .reason = bs.reason,
                                           .submitted_at = submitted,
                                           .complete = false,
                                           .complete_at = std::nullopt,
                                           .results = db::results::kNotYet,
                                           .parent_buildid = bs.parent_buildid,
                                           .parent_relationship = bs.parent_relationship};
      for (const auto& p : props) {
        s.buildset_properties.push_back(td::BuildsetProperty{out.bsid, p.name, p.value_json});
      }
      for (int64_t ssid : ssids) {
        int64_t id = s.next_id("buildset_sourcestamps", s.buildset_sourcestamps);
        s.buildset_sourcestamps[id] = td::BuildsetSourceStamp{id, out.bsid, ssid};
      }
      for (int64_t builderid : bs.builderids) {
        int64_t id = s.next_id("buildrequests", s.buildrequests);
        s.buildrequests[id] = td::BuildRequest{.id = id,
                                               .buildsetid = out.bsid,
                                               .builderid = builderid,
                                               .priority = bs.priority,
                                               .complete = false,
                                               .results = db::results::kNotYet,
                                               .submitted_at = submitted,
                                               .complete_at = std::nullopt,
                                               .waited_for = bs.waited_for};
        out.brids[builderid] = id;
      }
      return out;
    });
  }

  Future<void> complete_buildset(int64_t bsid, int results,
                                 std::optional<Timestamp> complete_at) override {
    int64_t when = complete_at ? complete_at->time_since_epoch().count() : a_.now();
    return a_.call([&](Store& s) {
      auto it = s.buildsets.find(bsid);
      if (it == s.buildsets.end() || it->second.complete) {
        throw db::NotFound("no incomplete buildset with id " + std::to_string(bsid));
      }
      it->second.complete = true;
      it->second.results = results;
      it->second.complete_at = when;
    });
  }

  Future<std::optional<db::Buildset>> get_buildset(int64_t bsid) override {
    return a_.call([&](Store& s) -> std::optional<db::Buildset> {
      auto it = s.buildsets.find(bsid);
      if (it == s.buildsets.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::Buildset>> get_buildsets(std::optional<bool> complete,
                                                  db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      std::vector<db::Buildset> all;
      for (const auto& [id, b] : s.buildsets) {
        if (complete && b.complete != *complete) continue;
        all.push_back(to_record(s, b));
      }
      return apply_spec(std::move(all), spec, buildset_access());
    });
  }

  Future<std::vector<db::Buildset>> get_recent_buildsets(int count,
                                                         std::optional<std::string> branch,
                                                         std::optional<std::string> repository,
                                                         std::optional<bool> complete) override {
    return a_.call([&](Store& s) {
      if (count < 0) throw db::InvalidArgument("get_recent_buildsets: count is negative");
      std::vector<const td::Buildset*> matching;
      for (const auto& [id, b] : s.buildsets) {
        if (complete && b.complete != *complete) continue;
        if ((branch || repository) && !touches(s, b.id, branch, repository)) continue;
        matching.push_back(&b);
      }
      // Oldest first: submitted_at, then id, as the SQL orders it (newest are the last `count`).
      std::sort(matching.begin(), matching.end(), [](const td::Buildset* x, const td::Buildset* y) {
        return std::pair(x->submitted_at, x->id) < std::pair(y->submitted_at, y->id);
      });
      size_t skip = matching.size() > size_t(count) ? matching.size() - count : 0;
      std::vector<db::Buildset> out;
      for (size_t i = skip; i < matching.size(); ++i) out.push_back(to_record(s, *matching[i]));
      return out;
    });
  }

  Future<db::Properties> get_buildset_properties(int64_t bsid) override {
    return a_.call([&](Store& s) {
      db::Properties out;
      for (const auto& p : s.buildset_properties) {
        if (p.buildsetid != bsid) continue;
        out[p.property_name] =
            db::internal::parse_stored_property(p.property_name, p.property_value);
      }
      return out;
    });
  }

 private:
  // Whether one of the buildset's stamps has this branch and this repository (those given).
  static bool touches(const Store& s, int64_t bsid, const std::optional<std::string>& branch,
                      const std::optional<std::string>& repository) {
    for (const auto& [id, bss] : s.buildset_sourcestamps) {
      if (bss.buildsetid != bsid) continue;
      auto ss = s.sourcestamps.find(bss.sourcestampid);
      if (ss == s.sourcestamps.end()) continue;
      if (branch && ss->second.branch != *branch) continue;
      if (repository && ss->second.repository != *repository) continue;
      return true;
    }
    return false;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Buildsets> make_fake_buildsets(FakeDb::Access a) {
  return std::make_unique<FakeBuildsets>(a);
}

}  // namespace ym::fake
