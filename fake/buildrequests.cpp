#include "db/connectors/buildrequests.hpp"

#include <set>

#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

Timestamp at(int64_t t) { return Timestamp(std::chrono::seconds(t)); }

db::BuildRequest to_record(const Store& s, const td::BuildRequest& br) {
  db::BuildRequest r;
  r.buildrequestid = br.id;
  r.buildsetid = br.buildsetid;
  r.builderid = br.builderid;
  if (auto b = s.builders.find(br.builderid); b != s.builders.end()) r.buildername = b->second.name;
  r.priority = br.priority;
  if (auto c = s.buildrequest_claims.find(br.id); c != s.buildrequest_claims.end()) {
    r.claimed = true;
    r.claimed_at = at(c->second.claimed_at);
    r.claimed_by_masterid = c->second.masterid;
  }
  r.complete = br.complete;
  if (br.complete_at) r.complete_at = at(*br.complete_at);
  r.submitted_at = at(br.submitted_at);
  r.results = br.results.value_or(db::results::kNotYet);
  r.waited_for = br.waited_for;
  return r;
}

const SpecAccess<db::BuildRequest>& request_access() {
  using R = db::BuildRequest;
  static const SpecAccess<R> a{
      {{"buildrequestid", [](const R& r) { return db::to_value(r.buildrequestid); }},
       {"buildsetid", [](const R& r) { return db::to_value(r.buildsetid); }},
       {"builderid", [](const R& r) { return db::to_value(r.builderid); }},
       {"priority", [](const R& r) { return db::to_value(r.priority); }},
       {"complete", [](const R& r) { return db::to_value(r.complete); }},
       {"results", [](const R& r) { return db::to_value(r.results); }},
       {"submitted_at", [](const R& r) { return db::to_value(r.submitted_at); }},
       {"complete_at", [](const R& r) { return db::to_value(r.complete_at); }},
       {"claimed_at", [](const R& r) { return db::to_value(r.claimed_at); }},
       {"claimed_by_masterid", [](const R& r) { return db::to_value(r.claimed_by_masterid); }},
       {"waited_for", [](const R& r) { return db::to_value(r.waited_for); }}},
      {"buildrequestid"},
      {{"priority", true}, {"submitted_at", false}}};
  return a;
}

// Whether one stamp of the buildset has the filter's branch and repository (those given).
bool touches(const Store& s, int64_t bsid, const db::BuildRequestFilter& f) {
  for (const auto& [id, bss] : s.buildset_sourcestamps) {
    if (bss.buildsetid != bsid) continue;
    auto ss = s.sourcestamps.find(bss.sourcestampid);
    if (ss == s.sourcestamps.end()) continue;
    if (f.branch && ss->second.branch != *f.branch) continue;
    if (f.repository && ss->second.repository != *f.repository) continue;
    return true;
  }
  return false;
}

bool matches(const Store& s, const db::BuildRequest& r, const db::BuildRequestFilter& f) {
  if (f.builderid && r.builderid != *f.builderid) return false;
  if (f.buildername && r.buildername != *f.buildername) return false;
  if (f.complete && r.complete != *f.complete) return false;
  switch (f.claimed.kind()) {
    case db::ClaimFilter::Kind::kAny:
      break;
    case db::ClaimFilter::Kind::kClaimed:
      if (!r.claimed) return false;
      break;
    case db::ClaimFilter::Kind::kUnclaimed:
      if (r.claimed || r.complete) return false;
      break;
    case db::ClaimFilter::Kind::kByMaster:
      if (r.claimed_by_masterid != f.claimed.masterid()) return false;
      break;
  }
  if (f.bsid && r.buildsetid != *f.bsid) return false;
  if ((f.branch || f.repository) && !touches(s, r.buildsetid, f)) return false;
  return true;
}

std::vector<int64_t> unique_in_order(const std::vector<int64_t>& ids) {
  std::set<int64_t> seen;
  std::vector<int64_t> out;
  for (int64_t id : ids) {
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

class FakeBuildRequests final : public db::BuildRequests {
 public:
  explicit FakeBuildRequests(FakeDb::Access a) : a_(a) {}

  Future<std::optional<db::BuildRequest>> get_build_request(int64_t brid) override {
    return a_.call([&](Store& s) -> std::optional<db::BuildRequest> {
      auto it = s.buildrequests.find(brid);
      if (it == s.buildrequests.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::BuildRequest>> get_build_requests(db::BuildRequestFilter filter) override {
    return a_.call([&](Store& s) {
      std::vector<db::BuildRequest> all;
      for (const auto& [id, br] : s.buildrequests) {
        auto r = to_record(s, br);
        if (matches(s, r, filter)) all.push_back(std::move(r));
      }
      return apply_spec(std::move(all), filter.spec, request_access());
    });
  }

  Future<void> claim_build_requests(std::vector<int64_t> brids, int64_t masterid,
                                    std::optional<Timestamp> claimed_at) override {
    int64_t when = claimed_at ? claimed_at->time_since_epoch().count() : a_.now();
    return a_.call([&](Store& s) {
      auto ids = unique_in_order(brids);
      if (ids.empty()) return;
      // As the SQL connector: a held (or complete) request first, then missing rows.
      for (int64_t id : ids) {
        auto br = s.buildrequests.find(id);
        if (br != s.buildrequests.end() && (br->second.complete || s.buildrequest_claims.count(id))) {
          throw db::AlreadyClaimedError("build request " + std::to_string(id) +
                                        " is already claimed or complete");
        }
      }
      if (!s.masters.count(masterid)) {
        throw db::NotFound("no master with id " + std::to_string(masterid));
      }
      for (int64_t id : ids) {
        if (!s.buildrequests.count(id)) {
          throw db::NotFound("no build request with id " + std::to_string(id));
        }
      }
      for (int64_t id : ids) s.buildrequest_claims[id] = td::BuildRequestClaim{id, masterid, when};
    });
  }

  Future<void> unclaim_build_requests(std::vector<int64_t> brids, int64_t masterid) override {
    return a_.call([&](Store& s) {
      for (int64_t id : brids) {
        auto it = s.buildrequest_claims.find(id);
        if (it != s.buildrequest_claims.end() && it->second.masterid == masterid) {
          s.buildrequest_claims.erase(it);
        }
      }
    });
  }

  Future<void> complete_build_requests(std::vector<int64_t> brids, int64_t masterid, int results,
                                       std::optional<Timestamp> complete_at) override {
    int64_t when = complete_at ? complete_at->time_since_epoch().count() : a_.now();
    return a_.call([&](Store& s) {
      if (results == db::results::kRetry) {
        throw db::InvalidArgument("a build request cannot be completed with results RETRY");
      }
      auto ids = unique_in_order(brids);
      for (int64_t id : ids) {
        auto br = s.buildrequests.find(id);
        auto claim = s.buildrequest_claims.find(id);
        if (br == s.buildrequests.end() || br->second.complete ||
            claim == s.buildrequest_claims.end() || claim->second.masterid != masterid) {
          throw db::NotClaimedError("build request " + std::to_string(id) +
                                    " is missing, complete, or not claimed by master " +
                                    std::to_string(masterid));
        }
      }
      for (int64_t id : ids) {
        auto& br = s.buildrequests.at(id);
        br.complete = true;
        br.results = results;
        br.complete_at = when;
      }
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::BuildRequests> make_fake_buildrequests(FakeDb::Access a) {
  return std::make_unique<FakeBuildRequests>(a);
}

}  // namespace ym::fake
