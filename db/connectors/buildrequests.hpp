// Build requests: one builder's share of a buildset. Masters poll for unclaimed requests, claim
// them (all or nothing: a request held by another master makes the whole claim fail), build
// them, and complete them.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../result_spec.hpp"
#include "../value.hpp"

namespace ym::db {

struct BuildRequest {
  int64_t buildrequestid = 0;
  int64_t buildsetid = 0;
  int64_t builderid = 0;
  std::string buildername;
  int priority = 0;
  bool claimed = false;
  std::optional<Timestamp> claimed_at;
  std::optional<int64_t> claimed_by_masterid;
  bool complete = false;
  std::optional<Timestamp> complete_at;
  Timestamp submitted_at{};
  // results::kNotYet (-1) until complete, as in Buildbot; a NULL stored by an older Yardmaster
  // reads as -1 too.
  int results = -1;
  bool waited_for = false;
  bool operator==(const BuildRequest&) const = default;
};

// The `claimed` filter: any request, claimed ones, unclaimed ones, or those a master holds.
class ClaimFilter {
 public:
  enum class Kind { kAny, kClaimed, kUnclaimed, kByMaster };
  static ClaimFilter any() { return ClaimFilter(Kind::kAny, 0); }
  static ClaimFilter claimed() { return ClaimFilter(Kind::kClaimed, 0); }
  static ClaimFilter unclaimed() { return ClaimFilter(Kind::kUnclaimed, 0); }
  static ClaimFilter by_master(int64_t masterid) { return ClaimFilter(Kind::kByMaster, masterid); }
  Kind kind() const { return kind_; }
  int64_t masterid() const { return masterid_; }

 private:
  ClaimFilter(Kind k, int64_t m) : kind_(k), masterid_(m) {}
  Kind kind_;
  int64_t masterid_;
};

struct BuildRequestFilter {
  std::optional<int64_t> builderid;
  std::optional<std::string> buildername;
  std::optional<bool> complete;
  // Unclaimed means: no claim and not complete.
  ClaimFilter claimed = ClaimFilter::any();
  std::optional<int64_t> bsid;
  // Of the buildset's source stamps: some stamp has this branch / repository (both given: one
  // stamp has both).
  std::optional<std::string> branch;
  std::optional<std::string> repository;
  // Fields: buildrequestid, buildsetid, builderid, priority, complete, results, submitted_at,
  // complete_at, claimed_at, claimed_by_masterid, waited_for.
  ResultSpec spec;
};

class BuildRequests {
 public:
  virtual ~BuildRequests() = default;

  // The request, or nullopt. Not cached: requests change.
  virtual Future<std::optional<BuildRequest>> get_build_request(int64_t brid) = 0;

  // Requests matching `filter`; default order: priority (highest first), then submitted_at,
  // then id.
  virtual Future<std::vector<BuildRequest>> get_build_requests(BuildRequestFilter filter = {}) = 0;

  // Claims every request in `brids` for `masterid` at `claimed_at` (default now). If any is
  // already claimed (by anyone, this master included) or complete, throws AlreadyClaimedError
  // and no claim changes. Throws NotFound for an unknown request or master. Thousands of ids work.
  virtual Future<void> claim_build_requests(std::vector<int64_t> brids, int64_t masterid,
                                            std::optional<Timestamp> claimed_at = {}) = 0;

  // Releases `masterid`'s claims on these requests; claims held by other masters and unknown or
  // unclaimed requests are left alone (not an error). Completeness is not checked.
  virtual Future<void> unclaim_build_requests(std::vector<int64_t> brids, int64_t masterid) = 0;

  // Completes every request with `results` at `complete_at` (default now). Throws
  // NotClaimedError, completing none, when any is missing, already complete, or not claimed by
  // `masterid`. InvalidArgument for results RETRY (as Buildbot's assert): nothing completed.
  virtual Future<void> complete_build_requests(std::vector<int64_t> brids, int64_t masterid,
                                               int results,
                                               std::optional<Timestamp> complete_at = {}) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(get_build_request)
  YM_ASYNC(get_build_requests)
  YM_ASYNC(claim_build_requests)
  YM_ASYNC(unclaim_build_requests)
  YM_ASYNC(complete_build_requests)
};

}  // namespace ym::db
