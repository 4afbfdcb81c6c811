// Internal to db/ and fake/: the input checks the SQL test result connectors and the fake share,
// so that both refuse the same input with the same error.
#pragma once

#include <string>
#include <vector>

#include "db/base.hpp"
#include "db/connectors/test_results.hpp"
#include "db/errors.hpp"

namespace ym::db::internal {

// Text stored in a text column: valid UTF-8 without NUL (PostgreSQL cannot store NUL in text, so
// it is refused on every backend alike). Throws InvalidArgument.
inline void check_test_text(const std::string& what, const std::string& s) {
  if (!is_valid_utf8(s)) throw InvalidArgument(what + " is not valid UTF-8");
  if (s.find('\0') != std::string::npos) throw InvalidArgument(what + " contains a NUL character");
}

// Each result needs a test name or a code path (Buildbot: KeyError), and text that can be stored.
inline void check_new_test_results(const std::vector<NewTestResult>& results) {
  for (size_t i = 0; i < results.size(); ++i) {
    const NewTestResult& r = results[i];
    std::string what = "test result " + std::to_string(i);
    if (!r.test_name && !r.test_code_path) {
      throw InvalidArgument(what + " has neither a test name nor a test code path");
    }
    check_test_text(what + " value", r.value);
    if (r.test_name) check_test_text(what + " test name", *r.test_name);
    if (r.test_code_path) check_test_text(what + " test code path", *r.test_code_path);
  }
}

// The checks of add_test_result_set's strings.
inline void check_test_result_set_text(const std::optional<std::string>& description,
                                       const std::string& category,
                                       const std::string& value_unit) {
  if (description) check_test_text("test result set description", *description);
  check_test_text("test result set category", category);
  check_test_text("test result set value_unit", value_unit);
}

}  // namespace ym::db::internal
