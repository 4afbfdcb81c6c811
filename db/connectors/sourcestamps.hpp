// Source stamps: one version of one codebase (branch, revision, repository, project, codebase,
// optional patch). Equal fields mean the same id, found through a hash of the fields; a stamp
// with a patch is always new. Stamps never change once created.
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

// The fields that identify a source stamp (the arguments of find_source_stamp_id).
struct SourceStampSpec {
  std::optional<std::string> branch;    // nullopt: the default branch
  std::optional<std::string> revision;  // nullopt: "the latest" (a relative stamp)
  std::string repository;
  std::string project;
  std::string codebase;
  std::optional<std::string> patch_body;  // bytes; a patch makes the stamp unique
  std::optional<int> patch_level;
  std::optional<std::string> patch_author;
  std::optional<std::string> patch_comment;
  std::optional<std::string> patch_subdir;
  bool operator==(const SourceStampSpec&) const = default;
};

struct SourceStamp {
  int64_t ssid = 0;
  std::optional<std::string> branch;
  std::optional<std::string> revision;
  std::optional<int64_t> patchid;
  std::optional<std::string> patch_body;
  std::optional<int> patch_level;
  std::optional<std::string> patch_subdir;
  std::optional<std::string> patch_author;
  std::optional<std::string> patch_comment;
  std::string repository;
  std::string project;
  std::string codebase;
  Timestamp created_at{};
  bool operator==(const SourceStamp&) const = default;
};

class SourceStamps {
 public:
  virtual ~SourceStamps() = default;

  // The id of the stamp with these fields, creating it (created_at = now) when none exists;
  // a stamp with a patch is always created (with its own patch row). Concurrent calls with
  // equal fields return one id. Throws ValueTooLong when a field exceeds its column,
  // InvalidArgument when a text field (not the patch body, which is bytes) is not valid UTF-8 or
  // a patch comes without its level, author or comment; nothing is written then.
  virtual Future<int64_t> find_source_stamp_id(SourceStampSpec spec) = 0;

  // The stamp, or nullopt. Cached ("ssdicts"); no_cache bypasses the cache. A missing stamp is
  // not cached. Throws InvalidArgument when a stored patch body is not valid base64.
  virtual Future<std::optional<SourceStamp>> get_source_stamp(int64_t ssid,
                                                              bool no_cache = false) = 0;

  // Stamps matching `spec` (fields: ssid, branch, revision, repository, project, codebase,
  // created_at); default order ssid.
  virtual Future<std::vector<SourceStamp>> get_source_stamps(ResultSpec spec = {}) = 0;

  // The stamps of the build's buildset, ordered by ssid; empty for an unknown build.
  virtual Future<std::vector<SourceStamp>> get_source_stamps_for_build(int64_t buildid) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_source_stamp_id)
  YM_ASYNC(get_source_stamp)
  YM_ASYNC(get_source_stamps)
  YM_ASYNC(get_source_stamps_for_build)
};

}  // namespace ym::db
