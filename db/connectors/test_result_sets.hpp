// Test result sets: one per batch of related test results a step produces (Buildbot 3.7's
// test_result_sets). A set is created incomplete, filled through TestResults::add_test_results,
// then completed once, optionally with the counts of passed and failed tests.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../errors.hpp"
#include "../future.hpp"
#include "../result_spec.hpp"

namespace ym::db {

// complete_test_result_set on a set that is already complete, or that does not exist (Buildbot
// raises one exception, TestResultSetAlreadyCompleted, for both).
class TestResultSetAlreadyCompleted : public Error {
 public:
  explicit TestResultSetAlreadyCompleted(const std::string& message)
      : Error(ErrorCategory::kConflict, message) {}
};

struct TestResultSet {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t buildid = 0;
  int64_t stepid = 0;
  std::optional<std::string> description;
  // Free-form; Buildbot names pass_fail, pass_only, fail_only, code_issue, performance,
  // binary_size and memory_use as the standard ones.
  std::string category;
  // Free-form; the standard ones are ps ns us ms s boolean B KB KiB MB MiB GB GiB TB TiB message.
  std::string value_unit;
  std::optional<int64_t> tests_passed;
  std::optional<int64_t> tests_failed;
  bool complete = false;
  bool operator==(const TestResultSet&) const = default;
};

struct TestResultSetFilter {
  std::optional<int64_t> buildid;
  std::optional<int64_t> stepid;
  std::optional<bool> complete;
  // Fields: test_result_setid, builderid, buildid, stepid, description, category, value_unit,
  // tests_passed, tests_failed, complete (0/1). Default order test_result_setid.
  ResultSpec spec;
};

class TestResultSets {
 public:
  virtual ~TestResultSets() = default;

  // Adds an incomplete set for the step and returns its id. The step must belong to the build
  // and the build to the builder: throws NotFound for an unknown builder, build or step,
  // InvalidArgument when they do not belong together or a string is not valid UTF-8.
  virtual Future<int64_t> add_test_result_set(int64_t builderid, int64_t buildid, int64_t stepid,
                                              std::optional<std::string> description,
                                              std::string category, std::string value_unit) = 0;

  // The set, or nullopt.
  virtual Future<std::optional<TestResultSet>> get_test_result_set(int64_t test_result_setid) = 0;

  // The builder's sets matching `filter` (empty for an unknown builder). Throws InvalidArgument
  // for a bad result spec.
  virtual Future<std::vector<TestResultSet>> get_test_result_sets(
      int64_t builderid, TestResultSetFilter filter = {}) = 0;

  // Marks the set complete, recording the counts that are given (a count not given stays as it
  // was). Throws TestResultSetAlreadyCompleted when the set is already complete or does not
  // exist; the set is then unchanged.
  virtual Future<void> complete_test_result_set(int64_t test_result_setid,
                                                std::optional<int64_t> tests_passed = {},
                                                std::optional<int64_t> tests_failed = {}) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(add_test_result_set)
  YM_ASYNC(get_test_result_set)
  YM_ASYNC(get_test_result_sets)
  YM_ASYNC(complete_test_result_set)
};

}  // namespace ym::db
