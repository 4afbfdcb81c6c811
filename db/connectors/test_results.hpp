// Test results: the individual results of a test result set (Buildbot 3.7's test_results), with
// test names and code paths stored once per builder (test_names, test_code_paths) and shared by
// every result that carries them.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"
#include "../result_spec.hpp"

namespace ym::db {

// One result to add (Buildbot's result_values entry): a value, and at least one of a test name
// and a code path.
struct NewTestResult {
  std::string value;  // always text, whatever the set's value_unit
  std::optional<std::string> test_name;
  std::optional<std::string> test_code_path;
  std::optional<int64_t> line;
  std::optional<int64_t> duration_ns;
  bool operator==(const NewTestResult&) const = default;
};

struct TestResult {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t test_result_setid = 0;
  std::optional<std::string> test_name;
  std::optional<std::string> test_code_path;
  std::optional<int64_t> line;
  std::optional<int64_t> duration_ns;
  std::string value;
  bool operator==(const TestResult&) const = default;
};

class TestResults {
 public:
  virtual ~TestResults() = default;

  // Adds the results to the set, all or none. Each name and code path is stored once per
  // builder: one already known is reused, a new one is added (concurrent callers adding the same
  // name get one row). Results may be added to a complete set, as in Buildbot.
  // Throws NotFound for an unknown set, InvalidArgument when the set belongs to another builder,
  // a result has neither a test name nor a code path, or a string is not valid UTF-8.
  virtual Future<void> add_test_results(int64_t builderid, int64_t test_result_setid,
                                        std::vector<NewTestResult> results) = 0;

  // The result, or nullopt.
  virtual Future<std::optional<TestResult>> get_test_result(int64_t test_resultid) = 0;

  // The set's results (empty for an unknown set or another builder's set).
  // Fields: test_resultid, builderid, test_result_setid, test_name, test_code_path, line,
  // duration_ns, value. Default order test_resultid. Throws InvalidArgument for a bad spec.
  virtual Future<std::vector<TestResult>> get_test_results(int64_t builderid,
                                                           int64_t test_result_setid,
                                                           ResultSpec spec = {}) = 0;

  // The builder's test names, those starting with `name_prefix` when it is given.
  // Fields: test_nameid, name. Default order test_nameid (the order they were first added).
  // Throws InvalidArgument for a bad spec or a prefix that is not valid UTF-8.
  virtual Future<std::vector<std::string>> get_test_names(
      int64_t builderid, std::optional<std::string> name_prefix = {}, ResultSpec spec = {}) = 0;

  // The builder's code paths, those starting with `path_prefix` when it is given.
  // Fields: test_code_pathid, path. Default order test_code_pathid. Throws as get_test_names.
  virtual Future<std::vector<std::string>> get_test_code_paths(
      int64_t builderid, std::optional<std::string> path_prefix = {}, ResultSpec spec = {}) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(add_test_results)
  YM_ASYNC(get_test_result)
  YM_ASYNC(get_test_results)
  YM_ASYNC(get_test_names)
  YM_ASYNC(get_test_code_paths)
};

}  // namespace ym::db
