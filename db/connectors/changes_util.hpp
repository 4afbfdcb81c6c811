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

// The blame list of `buildid` as change ids, ascending. The rule (Buildbot's, bounded):
// 1. The previous build is the most recently completed successful build of the same builder with
//    a lower number whose stamps have the same set of (repository, branch, codebase); at most
//    kBlamePreviousBuildsScanned candidates are examined.
// 2. For each stamp of the build with a change: unless that change is the previous build's change
//    for the codebase, it is listed, then its ancestors through parent_changeids, stopping before
//    the previous build's change, at a change older than it (it is not an ancestor: everything
//    older was built already), at a missing or non-decreasing parent, or after
//    kBlameMaxChangesPerCodebase changes.
inline std::vector<int64_t> blame_change_ids(BlameSource& src, int64_t buildid) {
  auto build = src.build(buildid);
  if (!build) return {};
  using Key = std::tuple<std::string, std::optional<std::string>, std::string>;
  auto keys = [](const std::vector<BlameSource::Stamp>& stamps) {
    std::set<Key> out;
    for (const auto& ss : stamps) out.emplace(ss.repository, ss.branch, ss.codebase);
    return out;
  };
  std::vector<BlameSource::Stamp> stamps = src.stamps_of_builds({buildid})[buildid];
  const std::set<Key> wanted = keys(stamps);

  std::optional<int64_t> previous;
  constexpr int64_t kPage = 100;
  for (int64_t offset = 0; offset < kBlamePreviousBuildsScanned && !previous; offset += kPage) {
    int64_t limit = std::min<int64_t>(kPage, kBlamePreviousBuildsScanned - offset);
    auto ids = src.previous_successful_builds(build->builderid, build->number, limit, offset);
    if (ids.empty()) break;
    auto their_stamps = src.stamps_of_builds(ids);
    for (int64_t id : ids) {
      if (keys(their_stamps[id]) == wanted) {
        previous = id;
        break;
      }
    }
    if (static_cast<int64_t>(ids.size()) < limit) break;
  }

  std::map<std::string, int64_t> stop_at;  // codebase -> the previous build's change
  if (previous) {
    auto previous_stamps = src.stamps_of_builds({*previous});  // kept alive for the loop
    for (const auto& ss : previous_stamps[*previous]) {
      if (auto ch = src.change_of_stamp(ss.ssid)) stop_at[ss.codebase] = *ch;
    }
  }

  std::set<int64_t> out;
  for (const auto& ss : stamps) {
    auto from = src.change_of_stamp(ss.ssid);
    if (!from) continue;
    std::optional<int64_t> stop;
    if (auto it = stop_at.find(ss.codebase); it != stop_at.end()) stop = it->second;
    if (stop == from) continue;  // built already
    int64_t current = *from;
    auto parent = src.parent_of(current);
    out.insert(current);
    for (int listed = 1; listed < kBlameMaxChangesPerCodebase; ++listed) {
      if (!parent || !*parent) break;
      int64_t p = **parent;
      if (p >= current) break;        // a corrupt link: parents are always older
      if (stop && p <= *stop) break;  // reached (or passed) the previous build's change
      auto next = src.parent_of(p);
      if (!next) break;  // a dangling link
      out.insert(p);
      current = p;
      parent = next;
    }
  }
  return std::vector<int64_t>(out.begin(), out.end());
}

}  // namespace ym::db::internal
