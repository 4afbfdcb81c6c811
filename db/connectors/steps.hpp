// Steps: the numbered, named parts of a build. Numbers start at 0 in each build; a name that is
// already taken in the build gets a numeric suffix ("compile", "compile_1", ...).
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../value.hpp"

namespace ym::db {

inline constexpr size_t kStepNameMax = 50;

struct StepUrl {
  std::string name;
  std::string url;
  bool operator==(const StepUrl&) const = default;
};

struct Step {
  int64_t id = 0;
  int number = 0;
  std::string name;
  int64_t buildid = 0;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> complete_at;
  std::string state_string;
  std::optional<int> results;
  std::vector<StepUrl> urls;  // in the order they were added
  bool hidden = false;
  bool operator==(const Step&) const = default;
};

struct AddedStep {
  int64_t id = 0;
  int number = 0;
  std::string name;  // as stored: the given name, or it with a numeric suffix
  bool operator==(const AddedStep&) const = default;
};

class Steps {
 public:
  virtual ~Steps() = default;

  // A step by id, by (build, number) or by (build, name); nullopt when there is none.
  virtual Future<std::optional<Step>> get_step(int64_t stepid) = 0;
  virtual Future<std::optional<Step>> get_step_by_number(int64_t buildid, int number) = 0;
  virtual Future<std::optional<Step>> get_step_by_name(int64_t buildid, std::string name) = 0;

  // The build's steps ordered by number; empty for an unknown build.
  virtual Future<std::vector<Step>> get_steps(int64_t buildid) = 0;

  // Adds a step numbered one past the build's last, not yet started (started_at stays NULL until
  // start_step, as in Buildbot). A taken name gets the first
  // free suffix "_1", "_2", ... (shortening the name so that it stays within kStepNameMax).
  // Throws InvalidIdentifier for a bad name, InvalidArgument for a state string that is not
  // UTF-8, NotFound for an unknown build.
  virtual Future<AddedStep> add_step(int64_t buildid, std::string name,
                                     std::string state_string) = 0;

  // Sets started_at = now (a step added earlier that starts later). An unknown step is not an
  // error: nothing changes (as Buildbot's startStep).
  virtual Future<void> start_step(int64_t stepid) = 0;

  // Sets the state string. InvalidArgument for a string that is not UTF-8; an unknown step is
  // not an error: nothing changes (as Buildbot's setStepStateString).
  virtual Future<void> set_step_state_string(int64_t stepid, std::string state_string) = 0;

  // Sets results, hidden and complete_at = now, unconditionally. An unknown step is not an
  // error: nothing changes (as Buildbot's finishStep).
  virtual Future<void> finish_step(int64_t stepid, int results, bool hidden) = 0;

  // Appends a URL to the step's list, unless the same (name, url) pair is already listed.
  // Concurrent calls on one step all land. NotFound for an unknown step, InvalidArgument for a
  // name or url that is not UTF-8.
  virtual Future<void> add_url(int64_t stepid, std::string name, std::string url) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(get_step)
  YM_ASYNC(get_step_by_number)
  YM_ASYNC(get_step_by_name)
  YM_ASYNC(get_steps)
  YM_ASYNC(add_step)
  YM_ASYNC(start_step)
  YM_ASYNC(set_step_state_string)
  YM_ASYNC(finish_step)
  YM_ASYNC(add_url)
};

}  // namespace ym::db
