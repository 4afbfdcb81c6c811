// Builds: one record per build a master performs, numbered per builder, with properties.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sourcestamps.hpp"
#include "../future.hpp"
#include "../result_spec.hpp"
#include "../types.hpp"

namespace ym::db {

struct Build {
  int64_t id = 0;
  int number = 0;  // unique within the builder, from 1
  int64_t builderid = 0;
  int64_t buildrequestid = 0;
  std::optional<int64_t> workerid;
  int64_t masterid = 0;
  Timestamp started_at{};
  std::optional<Timestamp> complete_at;
  std::string state_string;
  std::optional<int> results;
  bool operator==(const Build&) const = default;
};

struct AddedBuild {
  int64_t id = 0;
  int number = 0;
  bool operator==(const AddedBuild&) const = default;
};

struct BuildFilter {
  std::optional<int64_t> builderid;
  std::optional<int64_t> buildrequestid;
  std::optional<int64_t> workerid;
  std::optional<bool> complete;
  // Fields: id, number, builderid, buildrequestid, workerid, masterid, started_at, complete_at,
  // state_string, results.
  ResultSpec spec;
};

class Builds {
 public:
  virtual ~Builds() = default;

  // The build, or nullopt.
  virtual Future<std::optional<Build>> get_build(int64_t buildid) = 0;

  // The build with this number on this builder, or nullopt.
  virtual Future<std::optional<Build>> get_build_by_number(int64_t builderid, int number) = 0;

  // Builds matching `filter`; default order id.
  virtual Future<std::vector<Build>> get_builds(BuildFilter filter = {}) = 0;

  // The most recently completed successful build (results == SUCCESS; complete_at descending,
  // then number descending, as Buildbot orders) of the builder numbered below `number` whose
  // source stamps, as a set of (repository, branch, codebase), equal those of `sourcestamps` (a
  // build with a stamp more or less does not match); nullopt if none. The blame list
  // (Changes::get_changes_for_build) finds its previous build by this same rule.
  virtual Future<std::optional<Build>> get_prev_successful_build(
      int64_t builderid, int number, std::vector<SourceStamp> sourcestamps) = 0;

  // Adds a build started now, numbered one past the builder's highest number: numbers are unique
  // and gapless per builder even when many callers add builds to one builder at once.
  // Throws NotFound for an unknown builder, request, worker or master, InvalidArgument for a
  // state string that is not UTF-8.
  virtual Future<AddedBuild> add_build(int64_t builderid, int64_t buildrequestid,
                                       std::optional<int64_t> workerid, int64_t masterid,
                                       std::string state_string) = 0;

  // Throws InvalidArgument for a string that is not UTF-8. An unknown build is not an error:
  // nothing changes (as Buildbot's setBuildStateString).
  virtual Future<void> set_build_state_string(int64_t buildid, std::string state_string) = 0;

  // Sets results and complete_at = now, unconditionally (also on a finished build). Not a fence:
  // the master ends builds with complete_build / abandon_builds. An unknown build is not an
  // error: nothing changes (as Buildbot's finishBuild).
  virtual Future<void> finish_build(int64_t buildid, int results) = 0;

  // The fenced end of a build that completes its request (see docs/reliability.md): in one
  // transaction, finishes the build (results, state_string, complete_at = now; any step or log
  // left unfinished is closed, steps as CANCELLED), completes its build request with the same
  // results, and completes the buildset with the worst of its requests' results once this was
  // its last incomplete request. Allowed only while the build is unfinished, belongs to
  // `masterid`, and its request is incomplete and claimed by `masterid`; otherwise throws
  // NotClaimedError and changes nothing: a master that was taken over (its builds were ended as
  // RETRY and its claims released) can never record a success. Repeating a call that succeeded
  // (same build, master and results) is a no-op. Throws NotFound for an unknown build,
  // InvalidArgument for a state string that is not UTF-8.
  virtual Future<void> complete_build(int64_t buildid, int64_t masterid, int results,
                                      std::string state_string) = 0;
  // The end of builds that do not complete their request (cancelled, or interrupted by a lost
  // database): in one transaction, every unfinished build of `masterid` for this request is
  // finished with `results` and `state_string`, with its unfinished steps (same results) and
  // logs, and `masterid`'s claim on the request, if the request is incomplete, is released so
  // that it is built again (a claim of another master is left alone). Returns how many builds
  // it finished (0 when a peer's take-over already had). Idempotent.
  // Throws NotFound for an unknown request, InvalidArgument for a state string that is not
  // UTF-8.
  virtual Future<int> abandon_builds(int64_t buildrequestid, int64_t masterid, int results,
                                     std::string state_string) = 0;

  // The build's properties; {} for an unknown build.
  virtual Future<Properties> get_build_properties(int64_t buildid) = 0;

  // Creates or replaces one property (value and source). Throws NotFound for an unknown build,
  // InvalidArgument for an empty name, a name or source that is not UTF-8 or an unstorable value,
  // ValueTooLong for a name or source too long for its column.
  virtual Future<void> set_build_property(int64_t buildid, std::string name, nlohmann::json value,
                                          std::string source) = 0;

  // The builds of the requests of every buildset that holds the change's source stamp (Buildbot's
  // getBuildsForChange), ordered by id; empty for an unknown change. Throws InvalidArgument for a
  // changeid that is not positive.
  virtual Future<std::vector<Build>> get_builds_for_change(int64_t changeid) = 0;

  // The build's properties selected by `spec` (fields: name, source; default order and key:
  // name), as Buildbot's getBuildProperties(bid, resultSpec): filters, order and limit/offset
  // choose which properties come back; the map is keyed by name whatever the order.
  // {} for an unknown build. InvalidArgument for an unknown field or a bad page.
  virtual Future<Properties> get_build_properties(int64_t buildid, ResultSpec spec) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(get_builds_for_change)
  YM_ASYNC(get_build)
  YM_ASYNC(get_build_by_number)
  YM_ASYNC(get_builds)
  YM_ASYNC(get_prev_successful_build)
  YM_ASYNC(add_build)
  YM_ASYNC(set_build_state_string)
  YM_ASYNC(finish_build)
  YM_ASYNC(complete_build)
  YM_ASYNC(abandon_builds)
  YM_ASYNC(get_build_properties)
  YM_ASYNC(set_build_property)
};

}  // namespace ym::db
