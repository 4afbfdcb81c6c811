// Types shared by several connector components: result codes and properties.
#pragma once

#include <map>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>

#include "json.hpp"

namespace ym::db {

// Build, step and buildset result codes (the same numbers as Buildbot's).
namespace results {
// Not finished yet: what a new buildset or build request holds (Buildbot stores -1 there too).
inline constexpr int kNotYet = -1;
inline constexpr int kSuccess = 0;
inline constexpr int kWarnings = 1;
inline constexpr int kFailure = 2;
inline constexpr int kSkipped = 3;
inline constexpr int kException = 4;
inline constexpr int kRetry = 5;
inline constexpr int kCancelled = 6;
const char* name(int code);  // "success", ..., or "unknown"
// Buildbot's worst_status: the result that dominates when two are combined (cancelled, retry,
// exception, failure, warnings, success, skipped, in that order).
int worst(int a, int b);
}  // namespace results

// A property value and where it came from ("Change", "Scheduler", "bench", ...).
struct Property {
  Json value;
  std::string source;
  bool operator==(const Property&) const = default;
};
using Properties = std::map<std::string, Property>;

// How a filter on a branch is given: not at all, the default branch (null), or a named branch.
// "No branch given" and "the default branch" are different questions (see schedulers).
class BranchFilter {
 public:
  static BranchFilter any() { return BranchFilter(false, std::nullopt); }
  static BranchFilter default_branch() { return BranchFilter(true, std::nullopt); }
  static BranchFilter named(std::string b) { return BranchFilter(true, std::move(b)); }
  bool given() const { return given_; }
  const std::optional<std::string>& branch() const { return branch_; }

 private:
  BranchFilter(bool given, std::optional<std::string> b) : given_(given), branch_(std::move(b)) {}
  bool given_;
  std::optional<std::string> branch_;
};

}  // namespace ym::db
