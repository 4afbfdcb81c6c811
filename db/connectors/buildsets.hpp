// Buildsets: builds requested together (one per builder) for the same source stamps. Adding a
// buildset adds its build requests in the same transaction.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sourcestamps.hpp"
#include "../future.hpp"
#include "../result_spec.hpp"
#include "../types.hpp"

namespace ym::db {

struct Buildset {
  int64_t bsid = 0;
  std::optional<std::string> external_idstring;
  std::optional<std::string> reason;
  std::vector<int64_t> sourcestamps;  // ssids, ascending
  Timestamp submitted_at{};
  bool complete = false;
  std::optional<Timestamp> complete_at;
  // results::kNotYet (-1) until complete, as in Buildbot. A NULL stored by an older Yardmaster
  // reads as -1 too, so the field is never empty.
  int results = results::kNotYet;
  std::optional<int64_t> parent_buildid;
  std::optional<std::string> parent_relationship;
  bool operator==(const Buildset&) const = default;
};

// A source stamp given by id, or by its fields (found or created with find_source_stamp_id).
using SourceStampRef = std::variant<int64_t, SourceStampSpec>;

struct NewBuildset {
  std::vector<SourceStampRef> sourcestamps;
  std::string reason;
  Properties properties;
  std::vector<int64_t> builderids;  // one build request per builder
  std::optional<std::string> external_idstring;
  std::optional<Timestamp> submitted_at;  // default: now
  std::optional<int64_t> parent_buildid;
  std::optional<std::string> parent_relationship;
  int priority = 0;         // of every build request
  bool waited_for = false;  // of every build request
};

struct AddedBuildset {
  int64_t bsid = 0;
  std::map<int64_t, int64_t> brids;  // builderid -> buildrequestid
  bool operator==(const AddedBuildset&) const = default;
};

class Buildsets {
 public:
  virtual ~Buildsets() = default;

  // Adds the buildset, its properties, its source stamps and one build request per builder, all
  // in one transaction: on any error nothing is stored. One source stamp given twice (by id or by
  // fields that find it) is AlreadyExists, as Buildbot; an empty list is allowed. Throws NotFound for an unknown
  // builder, source stamp or parent build, ValueTooLong for an over-long reason, external id,
  // property name or stamp field, InvalidArgument for no builders, a duplicate builder, an
  // empty property name, text that is not valid UTF-8 or an unstorable property value.
  virtual Future<AddedBuildset> add_buildset(NewBuildset buildset) = 0;

  // Marks the buildset complete with `results` at `complete_at` (default now).
  // Throws NotFound when it does not exist or is already complete (and changes nothing).
  virtual Future<void> complete_buildset(int64_t bsid, int results,
                                         std::optional<Timestamp> complete_at = {}) = 0;

  // The buildset, or nullopt.
  virtual Future<std::optional<Buildset>> get_buildset(int64_t bsid) = 0;

  // Buildsets filtered by completeness and `spec` (fields: bsid, external_idstring, reason,
  // submitted_at, complete, complete_at, results, parent_buildid); default order bsid.
  virtual Future<std::vector<Buildset>> get_buildsets(std::optional<bool> complete = {},
                                                      ResultSpec spec = {}) = 0;

  // The `count` most recently submitted buildsets (ties on submitted_at: the higher id is the
  // more recent), returned oldest first. With `branch` and/or `repository`, only buildsets with a
  // source stamp that has that branch and that repository (one stamp matching both). Throws
  // InvalidArgument for a negative count.
  virtual Future<std::vector<Buildset>> get_recent_buildsets(
      int count, std::optional<std::string> branch = {}, std::optional<std::string> repository = {},
      std::optional<bool> complete = {}) = 0;

  // The buildset's properties; {} for an unknown buildset. Throws InvalidArgument when a stored
  // value is not the JSON `[value, source]`.
  virtual Future<Properties> get_buildset_properties(int64_t bsid) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(add_buildset)
  YM_ASYNC(complete_buildset)
  YM_ASYNC(get_buildset)
  YM_ASYNC(get_buildsets)
  YM_ASYNC(get_recent_buildsets)
  YM_ASYNC(get_buildset_properties)
};

}  // namespace ym::db
