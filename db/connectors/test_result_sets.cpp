// SQL implementation of TestResultSets.
#include "db/connectors/test_result_sets.hpp"

#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"
#include "db/connectors/test_results_util.hpp"

namespace ym::db {
namespace {

constexpr const char* kSelect =
    "SELECT s.id, s.builderid, s.buildid, s.stepid, s.description, s.category, s.value_unit, "
    "s.tests_passed, s.tests_failed, s.complete FROM test_result_sets s";

TestResultSet read_set(const Row& r) {
  TestResultSet s;
  s.id = r.get<int64_t>(0);
  s.builderid = r.get<int64_t>(1);
  s.buildid = r.get<int64_t>(2);
  s.stepid = r.get<int64_t>(3);
  s.description = r.get<std::optional<std::string>>(4);
  s.category = r.get<std::string>(5);
  s.value_unit = r.get<std::string>(6);
  s.tests_passed = r.get<std::optional<int64_t>>(7);
  s.tests_failed = r.get<std::optional<int64_t>>(8);
  s.complete = r.get<int64_t>(9) != 0;
  return s;
}

const internal::SpecFields& set_fields() {
  static const internal::SpecFields f{{{"test_result_setid", "s.id"},
                                       {"builderid", "s.builderid"},
                                       {"buildid", "s.buildid"},
                                       {"stepid", "s.stepid"},
                                       {"description", "s.description"},
                                       {"category", "s.category"},
                                       {"value_unit", "s.value_unit"},
                                       {"tests_passed", "s.tests_passed"},
                                       {"tests_failed", "s.tests_failed"},
                                       {"complete", "s.complete"}},
                                      {"test_result_setid"},
                                      {{"test_result_setid", false}}};
  return f;
}

class SqlTestResultSets final : public TestResultSets {
 public:
  explicit SqlTestResultSets(internal::Context& ctx) : ctx_(ctx) {}

  Future<int64_t> add_test_result_set(int64_t builderid, int64_t buildid, int64_t stepid,
                                      std::optional<std::string> description,
                                      std::string category, std::string value_unit) override {
    try {
      internal::check_test_result_set_text(description, category, value_unit);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.transaction([=](Connection& c) {
      if (!c.stmt("SELECT id FROM builders WHERE id = ?").bind(builderid).one()) {
        throw NotFound("no builder with id " + std::to_string(builderid));
      }
      auto build = c.stmt("SELECT builderid FROM builds WHERE id = ?").bind(buildid).one();
      if (!build) throw NotFound("no build with id " + std::to_string(buildid));
      auto step = c.stmt("SELECT buildid FROM steps WHERE id = ?").bind(stepid).one();
      if (!step) throw NotFound("no step with id " + std::to_string(stepid));
      if (build->get<int64_t>(0) != builderid || step->get<int64_t>(0) != buildid) {
        throw InvalidArgument("step " + std::to_string(stepid) + " of build " +
                              std::to_string(buildid) + " of builder " +
                              std::to_string(builderid) + " do not belong together");
      }
      return c
          .stmt("INSERT INTO test_result_sets (builderid, buildid, stepid, description, category, "
                "value_unit, complete) VALUES (?, ?, ?, ?, ?, ?, 0)")
          .bind(builderid, buildid, stepid, description, category, value_unit)
          .insert();
    });
  }

  Future<std::optional<TestResultSet>> get_test_result_set(int64_t id) override {
    return ctx_.pool.run([id](Connection& c) -> std::optional<TestResultSet> {
      auto row = c.stmt(std::string(kSelect) + " WHERE s.id = ?").bind(id).one();
      if (!row) return std::nullopt;
      return read_set(*row);
    });
  }

  Future<std::vector<TestResultSet>> get_test_result_sets(int64_t builderid,
                                                          TestResultSetFilter filter) override {
    std::string sql = std::string(kSelect) + " WHERE s.builderid = ?";
    std::vector<Value> params{builderid};
    try {
      if (filter.buildid) {
        sql += " AND s.buildid = ?";
        params.push_back(*filter.buildid);
      }
      if (filter.stepid) {
        sql += " AND s.stepid = ?";
        params.push_back(*filter.stepid);
      }
      if (filter.complete) {
        sql += " AND s.complete = ?";
        params.push_back(to_value(*filter.complete));
      }
      auto spec = internal::render_spec(filter.spec, set_fields());
      sql += spec.where + spec.order_limit;
      params.insert(params.end(), spec.where_params.begin(), spec.where_params.end());
      params.insert(params.end(), spec.tail_params.begin(), spec.tail_params.end());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<TestResultSet>>(std::current_exception());
    }
    return ctx_.pool.run([sql, params](Connection& c) {
      std::vector<TestResultSet> out;
      for (const Row& r : c.stmt(sql).bind_all(params).all()) out.push_back(read_set(r));
      return out;
    });
  }

  Future<void> complete_test_result_set(int64_t id, std::optional<int64_t> tests_passed,
                                        std::optional<int64_t> tests_failed) override {
    // One guarded UPDATE: of two racing completions exactly one succeeds.
    std::string sql = "UPDATE test_result_sets SET complete = 1";
    std::vector<Value> params;
    if (tests_passed) {
      sql += ", tests_passed = ?";
      params.push_back(*tests_passed);
    }
    if (tests_failed) {
      sql += ", tests_failed = ?";
      params.push_back(*tests_failed);
    }
    sql += " WHERE id = ? AND complete = 0";
    params.push_back(id);
    return ctx_.pool.write_one([id, sql, params](Connection& c) {
      if (c.stmt(sql).bind_all(params).exec() == 0) {
        throw TestResultSetAlreadyCompleted("test result set " + std::to_string(id) +
                                            " is already complete or does not exist");
      }
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<TestResultSets> internal::make_sql_test_result_sets(Context& ctx) {
  return std::make_unique<SqlTestResultSets>(ctx);
}

}  // namespace ym::db
