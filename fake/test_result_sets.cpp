#include "db/connectors/test_result_sets.hpp"

#include "db/connectors/test_results_util.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

db::TestResultSet to_record(const td::TestResultSet& r) {
  return db::TestResultSet{r.id,          r.builderid,  r.buildid,      r.stepid,
                           r.description, r.category,   r.value_unit,   r.tests_passed,
                           r.tests_failed, r.complete};
}

const SpecAccess<db::TestResultSet>& set_access() {
  using db::TestResultSet;
  using db::Value;
  static const SpecAccess<TestResultSet> access{
      {{"test_result_setid", [](const TestResultSet& s) -> Value { return s.id; }},
       {"builderid", [](const TestResultSet& s) -> Value { return s.builderid; }},
       {"buildid", [](const TestResultSet& s) -> Value { return s.buildid; }},
       {"stepid", [](const TestResultSet& s) -> Value { return s.stepid; }},
       {"description", [](const TestResultSet& s) -> Value { return db::to_value(s.description); }},
       {"category", [](const TestResultSet& s) -> Value { return s.category; }},
       {"value_unit", [](const TestResultSet& s) -> Value { return s.value_unit; }},
       {"tests_passed", [](const TestResultSet& s) -> Value { return db::to_value(s.tests_passed); }},
       {"tests_failed", [](const TestResultSet& s) -> Value { return db::to_value(s.tests_failed); }},
       {"complete", [](const TestResultSet& s) -> Value { return db::to_value(s.complete); }}},
      {"test_result_setid"},
      {{"test_result_setid", false}}};
  return access;
}

class FakeTestResultSets final : public db::TestResultSets {
 public:
  explicit FakeTestResultSets(FakeDb::Access a) : a_(a) {}

  Future<int64_t> add_test_result_set(int64_t builderid, int64_t buildid, int64_t stepid,
                                      std::optional<std::string> description,
                                      std::string category, std::string value_unit) override {
    return a_.call([&](Store& s) {
      db::internal::check_test_result_set_text(description, category, value_unit);
      if (!s.builders.count(builderid)) {
        throw db::NotFound("no builder with id " + std::to_string(builderid));
      }
      auto build = s.builds.find(buildid);
      if (build == s.builds.end()) throw db::NotFound("no build with id " + std::to_string(buildid));
      auto step = s.steps.find(stepid);
      if (step == s.steps.end()) throw db::NotFound("no step with id " + std::to_string(stepid));
      if (build->second.builderid != builderid || step->second.buildid != buildid) {
        throw db::InvalidArgument("step " + std::to_string(stepid) + " of build " +
                                  std::to_string(buildid) + " of builder " +
                                  std::to_string(builderid) + " do not belong together");
      }
      int64_t id = s.next_id("test_result_sets", s.test_result_sets);
      td::TestResultSet row;
      row.id = id;
      row.builderid = builderid;
      row.buildid = buildid;
      row.stepid = stepid;
      row.description = description;
      row.category = category;
      row.value_unit = value_unit;
      s.test_result_sets[id] = row;
      return id;
    });
  }

  Future<std::optional<db::TestResultSet>> get_test_result_set(int64_t id) override {
    return a_.call([&](Store& s) -> std::optional<db::TestResultSet> {
      auto it = s.test_result_sets.find(id);
      if (it == s.test_result_sets.end()) return std::nullopt;
      return to_record(it->second);
    });
  }

  Future<std::vector<db::TestResultSet>> get_test_result_sets(
      int64_t builderid, db::TestResultSetFilter filter) override {
    return a_.call([&](Store& s) {
      std::vector<db::TestResultSet> rows;
      for (const auto& [id, r] : s.test_result_sets) {
        if (r.builderid != builderid) continue;
        if (filter.buildid && r.buildid != *filter.buildid) continue;
        if (filter.stepid && r.stepid != *filter.stepid) continue;
        if (filter.complete && r.complete != *filter.complete) continue;
        rows.push_back(to_record(r));
      }
      return apply_spec(std::move(rows), filter.spec, set_access());
    });
  }

  Future<void> complete_test_result_set(int64_t id, std::optional<int64_t> tests_passed,
                                        std::optional<int64_t> tests_failed) override {
    return a_.call([&](Store& s) {
      auto it = s.test_result_sets.find(id);
      if (it == s.test_result_sets.end() || it->second.complete) {
        throw db::TestResultSetAlreadyCompleted("test result set " + std::to_string(id) +
                                                " is already complete or does not exist");
      }
      it->second.complete = true;
      if (tests_passed) it->second.tests_passed = tests_passed;
      if (tests_failed) it->second.tests_failed = tests_failed;
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::TestResultSets> make_fake_test_result_sets(FakeDb::Access a) {
  return std::make_unique<FakeTestResultSets>(a);
}

}  // namespace ym::fake
