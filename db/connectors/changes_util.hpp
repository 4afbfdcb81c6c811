// Internal to db/ and fake/: what the SQL changes connector and the fake share, so that they
// accept the same input, store properties the same way and compute the same blame list.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "db/base.hpp"
#include "db/connectors/changes.hpp"
#include "db/connectors/json_util.hpp"
#include "db/errors.hpp"

namespace ym::db::internal {

// A NewChange checked and made ready to store: comments made valid UTF-8, properties encoded as
// the JSON text `[value, source]` that change_properties.property_value holds.
struct PreparedChange {
  NewChange change;
  std::vector<std::pair<std::string, std::string>> properties;  // name -> JSON, by name
};

// Checks `c` before anything is written: ValueTooLong for a field longer than its column,
// InvalidArgument for identifying text that is not UTF-8 or a property that is not storable.
// Comments are free text from a VCS, often in a legacy encoding: losing a change over one bad
// byte would be worse than showing U+FFFD, so they are sanitised instead of refused.
inline PreparedChange prepare_change(NewChange c) {
  auto text = [](const char* table, const char* column, const std::string& value) {
    if (!is_valid_utf8(value)) {
      throw InvalidArgument(std::string("change ") + column + " is not valid UTF-8");
    }
    check_length(table, column, value);
  };
  auto opt = [&](const char* column, const std::optional<std::string>& value) {
    if (value) text("changes", column, *value);
  };
  text("changes", "author", c.author);
  opt("committer", c.committer);
  opt("branch", c.branch);
  opt("revision", c.revision);
  opt("category", c.category);
  opt("revlink", c.revlink);
  text("changes", "repository", c.repository);
  text("changes", "project", c.project);
  text("changes", "codebase", c.codebase);
  for (const auto& f : c.files) text("change_files", "filename", f);
  c.comments = sanitize_utf8(c.comments);
  PreparedChange out;
  for (const auto& [name, prop] : c.properties) {
    // The reference: "At the moment, the source must be 'Change'" (Buildbot asserts it).
    if (prop.source != "Change") {
      throw InvalidArgument("change property '" + name + "' has source '" + prop.source +
                            "': a change's properties must have source 'Change'");
    }
    text("change_properties", "property_name", name);
    out.properties.emplace_back(name, dump_json(nlohmann::json::array({prop.value, prop.source}),
                                                "change property '" + name + "'"));
  }
  out.change = std::move(c);
  return out;
}

// Reads a stored property value. `[value, source]` gives both; anything else (rows written by
// older versions) is the value itself with source "Change". nullopt when the text is not JSON:
// such a row is skipped rather than making the whole change unreadable.
inline std::optional<Property> decode_change_property(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  if (j.is_array() && j.size() == 2 && j[1].is_string()) {
    return Property{j[0], j[1].get<std::string>()};
  }
  return Property{j, "Change"};
}

// The data the blame-list rule reads; implemented over SQL and over the fake's store.
class BlameSource {
 public:
  struct Build {
    int64_t builderid = 0;
    int64_t number = 0;
  };
  struct Stamp {
    int64_t ssid = 0;
    std::string repository;
    std::optional<std::string> branch;
    std::string codebase;
  };

  virtual ~BlameSource() = default;
  virtual std::optional<Build> build(int64_t buildid) = 0;
  // The source stamps of each build (through its request's buildset), by ssid.
  virtual std::map<int64_t, std::vector<Stamp>> stamps_of_builds(
      const std::vector<int64_t>& buildids) = 0;
  // Successful builds of `builderid` numbered below `number`, most recently completed first
  // (complete_at descending, unfinished last, then number descending), from `offset`.
  virtual std::vector<int64_t> previous_successful_builds(int64_t builderid, int64_t number,
                                                          int64_t limit, int64_t offset) = 0;
  // The latest change made with this source stamp.
  virtual std::optional<int64_t> change_of_stamp(int64_t ssid) = 0;
  // nullopt when the change does not exist; otherwise its parent (nullopt: none).
  virtual std::optional<std::optional<int64_t>> parent_of(int64_t changeid) = 0;
};

// The (repository, branch, codebase) set that decides whether two builds built "the same
// sources" (get_prev_successful_build, and the blame list's previous build).
using StampKeys = std::set<std::tuple<std::string, std::optional<std::string>, std::string>>;
inline StampKeys stamp_keys(const std::vector<BlameSource::Stamp>& stamps) {
  StampKeys out;
  for (const auto& ss : stamps) out.emplace(ss.repository, ss.branch, ss.codebase);
  return out;
}

// The one rule of get_prev_successful_build and of the blame list (Buildbot's): among the
// successful builds of `builderid` numbered below `number`, the most recently completed one
// whose stamps have exactly the key set `wanted`. Candidates are examined a page at a time, so
// that the usual case (a recent match) reads little; there is no bound on how far back it looks.
inline std::optional<int64_t> previous_successful_build(BlameSource& src, int64_t builderid,
                                                        int64_t number, const StampKeys& wanted) {
  constexpr int64_t kPage = 100;
  for (int64_t offset = 0;; offset += kPage) {
    auto ids = src.previous_successful_builds(builderid, number, kPage, offset);
    auto their_stamps = src.stamps_of_builds(ids);
    for (int64_t id : ids) {
      if (stamp_keys(their_stamps[id]) == wanted) return id;
    }
    if (static_cast<int64_t>(ids.size()) < kPage) return std::nullopt;
  }
}

// The blame list of `buildid` as change ids, in Buildbot 3.7's order (its getChangesForBuild):
// for each codebase of the build's stamps (in stamp id order), the stamp's latest change, then
// its ancestors through parent_changeids, newest first. The walk of a codebase stops before the
// change of the previous build (previous_successful_build) for that codebase; without a previous
// build, or when the chain never meets that change (a rebuild of an older revision), it goes on
// to the first change that has no parent. Two guards Buildbot lacks: a walk lists at most
// kBlameMaxChangesPerCodebase changes, and stops at a parent that is not older than its child
// (a corrupt cycle would otherwise never end) or that does not exist.
inline std::vector<int64_t> blame_change_ids(BlameSource& src, int64_t buildid) {
  auto build = src.build(buildid);
  if (!build) return {};
  std::vector<BlameSource::Stamp> stamps = src.stamps_of_builds({buildid})[buildid];

  // codebase -> its stamp's change, in the order the codebases first appear (a later stamp of the
  // same codebase replaces the change, as in Buildbot's dict).
  std::vector<std::pair<std::string, std::optional<int64_t>>> from;
  for (const auto& ss : stamps) {
    auto ch = src.change_of_stamp(ss.ssid);
    auto it = std::find_if(from.begin(), from.end(),
                           [&](const auto& e) { return e.first == ss.codebase; });
    if (it == from.end()) {
      from.emplace_back(ss.codebase, ch);
    } else {
      it->second = ch;
    }
  }

  std::map<std::string, int64_t> stop_at;  // codebase -> the previous build's change
  if (auto previous =
          previous_successful_build(src, build->builderid, build->number, stamp_keys(stamps))) {
    auto previous_stamps = src.stamps_of_builds({*previous});  // kept alive for the loop
    for (const auto& ss : previous_stamps[*previous]) {
      if (auto ch = src.change_of_stamp(ss.ssid)) {
        stop_at[ss.codebase] = *ch;
      } else {
        stop_at.erase(ss.codebase);
      }
    }
  }

  std::vector<int64_t> out;
  for (const auto& [codebase, first] : from) {
    if (!first) continue;
    std::optional<int64_t> stop;
    if (auto it = stop_at.find(codebase); it != stop_at.end()) stop = it->second;
    if (stop == first) continue;  // built already
    int64_t current = *first;
    auto parent = src.parent_of(current);
    if (!parent) continue;  // the change vanished
    out.push_back(current);
    for (int listed = 1; listed < kBlameMaxChangesPerCodebase; ++listed) {
      if (!*parent) break;  // the first change of its line
      int64_t p = **parent;
      if (p == stop) break;     // reached the previous build's change
      if (p >= current) break;  // a corrupt link: parents are always older
      auto next = src.parent_of(p);
      if (!next) break;  // a dangling link
      out.push_back(p);
      current = p;
      parent = next;
    }
  }
  return out;
}

}  // namespace ym::db::internal
