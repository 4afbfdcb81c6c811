// Changes: commits reported by change sources, with files, properties, users and parents.
// A change never changes once added (get_change is cached).
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../result_spec.hpp"
#include "../types.hpp"

namespace ym::db {

// The bound of get_changes_for_build, so that a blame list never returns a whole history: at
// most this many changes per codebase (the newest). Buildbot has no bound
// (docs/buildbot-compatibility.md).
inline constexpr int kBlameMaxChangesPerCodebase = 200;

struct Change {
  int64_t changeid = 0;
  std::vector<int64_t> parent_changeids;
  std::string author;
  std::optional<std::string> committer;
  std::vector<std::string> files;  // in the order add_change was given them
  std::string comments;
  std::optional<std::string> revision;
  Timestamp when_timestamp{};
  std::optional<std::string> branch;  // nullopt: the default branch
  std::optional<std::string> category;
  std::optional<std::string> revlink;
  Properties properties;
  std::string repository;
  std::string project;
  std::string codebase;
  int64_t sourcestampid = 0;
  bool operator==(const Change&) const = default;
};

struct NewChange {
  std::string author;
  std::optional<std::string> committer;
  std::vector<std::string> files;
  std::string comments;
  std::optional<std::string> revision;
  std::optional<Timestamp> when_timestamp;  // default: now
  std::optional<std::string> branch;
  std::optional<std::string> category;
  std::optional<std::string> revlink = "";  // '' by default, as the reference says; nullopt: NULL
  Properties properties;
  std::string repository;
  std::string project;
  std::string codebase;
  std::optional<int64_t> uid;  // the author's user, if known
};

class Changes {
 public:
  virtual ~Changes() = default;

  // Adds the change with its files, properties and user, finds or creates its source stamp
  // (branch, revision, repository, project, codebase), and links it to its parent: the latest
  // change with the same branch (null matching null), repository, project and codebase. One
  // transaction. Throws ValueTooLong for an over-long field, InvalidArgument for text that is not
  // UTF-8 (comments are not checked: ill-formed bytes become U+FFFD), an unstorable property or
  // one whose source is not "Change", NotFound for an unknown uid; nothing is written then.
  virtual Future<int64_t> add_change(NewChange change) = 0;

  // The change, or nullopt. Cached ("chdicts"); no_cache bypasses the cache.
  virtual Future<std::optional<Change>> get_change(int64_t changeid, bool no_cache = false) = 0;

  // The uids linked to the change, ascending.
  virtual Future<std::vector<int64_t>> get_change_uids(int64_t changeid) = 0;

  // The `count` changes with the highest ids, in ascending id order (empty when count <= 0).
  virtual Future<std::vector<Change>> get_recent_changes(int count) = 0;

  // Changes matching `spec` (fields: changeid, author, committer, branch, revision, category,
  // repository, project, codebase, when_timestamp (epoch seconds), sourcestampid); default order
  // changeid. InvalidArgument for an unknown field or a bad page.
  virtual Future<std::vector<Change>> get_changes(ResultSpec spec = {}) = 0;

  // How many changes `spec`'s filters select (its order, limit, offset and after are ignored).
  virtual Future<int64_t> get_changes_count(ResultSpec spec = {}) = 0;

  // The highest change id, or nullopt when there are no changes.
  virtual Future<std::optional<int64_t>> get_latest_change_id() = 0;

  // The latest change id with this branch, repository, project and codebase, or nullopt.
  virtual Future<std::optional<int64_t>> get_parent_change_id(std::optional<std::string> branch,
                                                              std::string repository,
                                                              std::string project,
                                                              std::string codebase) = 0;

  // The "blame list" of a build, newest first within each codebase (Buildbot's order): for each
  // codebase of its source stamps, the stamp's change and its ancestors (parent_changeids) back
  // to, not including, the change of the previous successful build (get_prev_successful_build's
  // rule), or to the first change when the chain never meets it (see docs/connectors/changes.md
  // for the exact rule and its bound). NotFound for an unknown build.
  virtual Future<std::vector<Change>> get_changes_for_build(int64_t buildid) = 0;

  // The change that created this source stamp (the latest, if several), or nullopt.
  virtual Future<std::optional<Change>> get_change_from_ssid(int64_t sourcestampid) = 0;

  // Keeps the `change_horizon` changes with the highest ids and deletes every older one with its
  // files, properties, users and scheduler classifications (Buildbot's pruneChanges); a kept
  // change whose parent is deleted loses its parent link. 0 keeps everything. One transaction.
  // Throws InvalidArgument for a negative horizon.
  virtual Future<void> prune_changes(int change_horizon) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(prune_changes)
  YM_ASYNC(add_change)
  YM_ASYNC(get_change)
  YM_ASYNC(get_change_uids)
  YM_ASYNC(get_recent_changes)
  YM_ASYNC(get_changes)
  YM_ASYNC(get_changes_count)
  YM_ASYNC(get_latest_change_id)
  YM_ASYNC(get_parent_change_id)
  YM_ASYNC(get_changes_for_build)
  YM_ASYNC(get_change_from_ssid)
};

}  // namespace ym::db
