// SQL implementation of TestResults: results, with their names and code paths stored once per
// builder (found or added in the same transaction as the results).
#include "db/connectors/test_results.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "db/connectors/result_spec_sql.hpp"
#include "db/connectors/sql.hpp"
#include "db/connectors/test_results_util.hpp"

namespace ym::db {
namespace {

constexpr const char* kSelect =
    "SELECT r.id, r.builderid, r.test_result_setid, n.name, p.path, r.line, r.duration_ns, "
    "r.value FROM test_results r LEFT JOIN test_names n ON n.id = r.test_nameid "
    "LEFT JOIN test_code_paths p ON p.id = r.test_code_pathid";

TestResult read_result(const Row& r) {
  TestResult t;
  t.id = r.get<int64_t>(0);
  t.builderid = r.get<int64_t>(1);
  t.test_result_setid = r.get<int64_t>(2);
  t.test_name = r.get<std::optional<std::string>>(3);
  t.test_code_path = r.get<std::optional<std::string>>(4);
  t.line = r.get<std::optional<int64_t>>(5);
  t.duration_ns = r.get<std::optional<int64_t>>(6);
  t.value = r.get<std::string>(7);
  return t;
}

const internal::SpecFields& result_fields() {
  static const internal::SpecFields f{{{"test_resultid", "r.id"},
                                       {"builderid", "r.builderid"},
                                       {"test_result_setid", "r.test_result_setid"},
                                       {"test_name", "n.name"},
                                       {"test_code_path", "p.path"},
                                       {"line", "r.line"},
                                       {"duration_ns", "r.duration_ns"},
                                       {"value", "r.value"}},
                                      {"test_resultid"},
                                      {{"test_resultid", false}}};
  return f;
}

const internal::SpecFields& name_fields() {
  static const internal::SpecFields f{
      {{"test_nameid", "t.id"}, {"name", "t.name"}}, {"test_nameid"}, {{"test_nameid", false}}};
  return f;
}

const internal::SpecFields& path_fields() {
  static const internal::SpecFields f{{{"test_code_pathid", "t.id"}, {"path", "t.path"}},
                                      {"test_code_pathid"},
                                      {{"test_code_pathid", false}}};
  return f;
}

// The ids of `texts` in `table` (test_names or test_code_paths) for the builder, adding the ones
// that are missing. A text is found by its hash; a concurrent writer adding the same text makes
// our insert do nothing, and the re-read finds its row. New rows are added in hash order, so two
// writers adding overlapping sets take their locks in the same order.
std::map<std::string, int64_t> find_or_add(Connection& c, const std::string& table,
                                           const std::string& column,
                                           const std::string& hash_column, int64_t builderid,
                                           const std::set<std::string>& texts) {
  std::map<std::string, std::string> by_hash;  // hash -> text, in hash order
  for (const auto& t : texts) by_hash.emplace(hash_columns({t}), t);
  std::map<std::string, int64_t> ids;  // text -> id
  auto read = [&](const std::vector<std::string>& hashes) {
    std::vector<std::string> sorted = hashes;
    for (auto batch : do_batch(sorted, batch_size(c.dialect(), 1, 1))) {
      std::vector<Value> params{builderid};
      params.insert(params.end(), batch.begin(), batch.end());
      for (const Row& r : c.stmt("SELECT id, " + hash_column + " FROM " + table +
                                 " WHERE builderid = ? AND " + hash_column + " IN (" +
                                 placeholders(batch.size()) + ")")
                              .bind_all(params)
                              .all()) {
        ids[by_hash.at(r.get<std::string>(1))] = r.get<int64_t>(0);
      }
    }
  };
  std::vector<std::string> all;
  for (const auto& [h, t] : by_hash) all.push_back(h);
  read(all);
  std::vector<std::string> missing;
  for (const auto& [h, t] : by_hash) {
    if (!ids.count(t)) missing.push_back(h);
  }
  if (missing.empty()) return ids;
  std::string insert =
      c.dialect().insert_ignore(table, {"builderid", column, hash_column}, {"builderid", hash_column});
  for (const auto& h : missing) c.stmt(insert).bind(builderid, by_hash.at(h), h).exec();
  read(missing);
  for (const auto& h : missing) {
    if (!ids.count(by_hash.at(h))) {
      throw InternalError(table + ": a row added for builder " + std::to_string(builderid) +
                          " cannot be read back");
    }
  }
  return ids;
}

Future<std::vector<std::string>> list_texts(Pool& pool, const std::string& table,
                                            const std::string& column, int64_t builderid,
                                            const std::optional<std::string>& prefix,
                                            const ResultSpec& spec,
                                            const internal::SpecFields& fields) {
  std::string sql = "SELECT t." + column + " FROM " + table + " t WHERE t.builderid = ?";
  std::vector<Value> params{builderid};
  try {
    if (prefix) {
      internal::check_test_text("prefix", *prefix);
      if (!prefix->empty()) {
        // Exact, case-sensitive and free of LIKE's wildcards on every backend.
        sql += " AND substr(t." + column + ", 1, ?) = ?";
        params.push_back(static_cast<int64_t>(utf8_length(*prefix)));
        params.push_back(*prefix);
      }
    }
    auto s = internal::render_spec(spec, fields);
    sql += s.where + s.order_limit;
    params.insert(params.end(), s.where_params.begin(), s.where_params.end());
    params.insert(params.end(), s.tail_params.begin(), s.tail_params.end());
  } catch (const Error&) {
    return make_exceptional_future<std::vector<std::string>>(std::current_exception());
  }
  return pool.run([sql, params](Connection& c) {
    std::vector<std::string> out;
    for (const Row& r : c.stmt(sql).bind_all(params).all()) out.push_back(r.get<std::string>(0));
    return out;
  });
}

class SqlTestResults final : public TestResults {
 public:
  explicit SqlTestResults(internal::Context& ctx) : ctx_(ctx) {}

  Future<void> add_test_results(int64_t builderid, int64_t setid,
                                std::vector<NewTestResult> results) override {
    try {
      internal::check_new_test_results(results);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    return ctx_.pool.transaction([builderid, setid, results = std::move(results)](Connection& c) {
      auto owner = c.stmt("SELECT builderid FROM test_result_sets WHERE id = ?").bind(setid).one();
      if (!owner) throw NotFound("no test result set with id " + std::to_string(setid));
      if (owner->get<int64_t>(0) != builderid) {
        throw InvalidArgument("test result set " + std::to_string(setid) +
                              " belongs to builder " + std::to_string(owner->get<int64_t>(0)) +
                              ", not " + std::to_string(builderid));
      }
      std::set<std::string> names, paths;
      for (const auto& r : results) {
        if (r.test_name) names.insert(*r.test_name);
        if (r.test_code_path) paths.insert(*r.test_code_path);
      }
      auto path_ids = find_or_add(c, "test_code_paths", "path", "path_hash", builderid, paths);
      auto name_ids = find_or_add(c, "test_names", "name", "name_hash", builderid, names);
      constexpr size_t kColumns = 7;
      for (auto batch : do_batch(results, batch_size(c.dialect(), kColumns))) {
        std::string sql =
            "INSERT INTO test_results (builderid, test_result_setid, test_nameid, "
            "test_code_pathid, line, duration_ns, value) VALUES ";
        std::vector<Value> params;
        params.reserve(batch.size() * kColumns);
        for (size_t i = 0; i < batch.size(); ++i) {
          const NewTestResult& r = batch[i];
          sql += i ? ", (?, ?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?, ?)";
          params.push_back(builderid);
          params.push_back(setid);
          params.push_back(r.test_name ? Value(name_ids.at(*r.test_name)) : Value(nullptr));
          params.push_back(r.test_code_path ? Value(path_ids.at(*r.test_code_path))
                                            : Value(nullptr));
          params.push_back(to_value(r.line));
          params.push_back(to_value(r.duration_ns));
          params.push_back(r.value);
        }
        c.stmt(sql).bind_all(params).exec();
      }
    });
  }

  Future<std::optional<TestResult>> get_test_result(int64_t id) override {
    return ctx_.pool.run([id](Connection& c) -> std::optional<TestResult> {
      auto row = c.stmt(std::string(kSelect) + " WHERE r.id = ?").bind(id).one();
      if (!row) return std::nullopt;
      return read_result(*row);
    });
  }

  Future<std::vector<TestResult>> get_test_results(int64_t builderid, int64_t setid,
                                                   ResultSpec spec) override {
    std::string sql = std::string(kSelect) + " WHERE r.builderid = ? AND r.test_result_setid = ?";
    std::vector<Value> params{builderid, setid};
    try {
      auto s = internal::render_spec(spec, result_fields());
      sql += s.where + s.order_limit;
      params.insert(params.end(), s.where_params.begin(), s.where_params.end());
      params.insert(params.end(), s.tail_params.begin(), s.tail_params.end());
    } catch (const Error&) {
      return make_exceptional_future<std::vector<TestResult>>(std::current_exception());
    }
    return ctx_.pool.run([sql, params](Connection& c) {
      std::vector<TestResult> out;
      for (const Row& r : c.stmt(sql).bind_all(params).all()) out.push_back(read_result(r));
      return out;
    });
  }

  Future<std::vector<std::string>> get_test_names(int64_t builderid,
                                                  std::optional<std::string> name_prefix,
                                                  ResultSpec spec) override {
    return list_texts(ctx_.pool, "test_names", "name", builderid, name_prefix, spec, name_fields());
  }

  Future<std::vector<std::string>> get_test_code_paths(int64_t builderid,
                                                       std::optional<std::string> path_prefix,
                                                       ResultSpec spec) override {
    return list_texts(ctx_.pool, "test_code_paths", "path", builderid, path_prefix, spec,
                      path_fields());
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<TestResults> internal::make_sql_test_results(Context& ctx) {
  return std::make_unique<SqlTestResults>(ctx);
}

}  // namespace ym::db
