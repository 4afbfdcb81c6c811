// Build data: named blobs that steps attach to a build (Buildbot's db.build_data), e.g. a test
// report or a coverage summary, each with its length and where it came from. A build holds at
// most one value per name; setting it again replaces it.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../value.hpp"

namespace ym::db {

struct BuildDataEntry {
  int64_t buildid = 0;
  std::string name;
  std::optional<std::string> value;  // the raw bytes; nullopt from the *_no_value(s) calls
  int64_t length = 0;                // of the value, in bytes
  std::string source;
  bool operator==(const BuildDataEntry&) const = default;
};

class BuildData {
 public:
  virtual ~BuildData() = default;

  // Creates or replaces the value of `name` for the build (value, length and source), also when
  // several callers race to set the same name. Throws NotFound for an unknown build,
  // ValueTooLong for a name over 255 or a source over 256 characters or a value over 2^31-1 bytes,
  // InvalidArgument for a name or source that is not UTF-8.
  virtual Future<void> set_build_data(int64_t buildid, std::string name, std::string value,
                                      std::string source) = 0;

  // The entry with its value, or nullopt.
  virtual Future<std::optional<BuildDataEntry>> get_build_data(int64_t buildid,
                                                               std::string name) = 0;

  // The entry without its value (value is nullopt), or nullopt: the length without the bytes.
  virtual Future<std::optional<BuildDataEntry>> get_build_data_no_value(int64_t buildid,
                                                                        std::string name) = 0;

  // Every entry of the build without its value, in the order they were first set; empty for an
  // unknown build.
  virtual Future<std::vector<BuildDataEntry>> get_all_build_data_no_values(int64_t buildid) = 0;

  // Deletes the data of builds that completed before `older_than` (builds still running keep
  // theirs) and returns how many entries it deleted.
  virtual Future<int64_t> delete_old_build_data(Timestamp older_than) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(set_build_data)
  YM_ASYNC(get_build_data)
  YM_ASYNC(get_build_data_no_value)
  YM_ASYNC(get_all_build_data_no_values)
  YM_ASYNC(delete_old_build_data)
};

}  // namespace ym::db
