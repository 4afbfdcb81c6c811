#include "db/connectors/test_results.hpp"

#include <set>

#include "db/connectors/test_results_util.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

using db::Value;

const SpecAccess<db::TestResult>& result_access() {
  using db::TestResult;
  static const SpecAccess<TestResult> access{
      {{"test_resultid", [](const TestResult& r) -> Value { return r.id; }},
       {"builderid", [](const TestResult& r) -> Value { return r.builderid; }},
       {"test_result_setid", [](const TestResult& r) -> Value { return r.test_result_setid; }},
       {"test_name", [](const TestResult& r) -> Value { return db::to_value(r.test_name); }},
       {"test_code_path", [](const TestResult& r) -> Value { return db::to_value(r.test_code_path); }},
       {"line", [](const TestResult& r) -> Value { return db::to_value(r.line); }},
       {"duration_ns", [](const TestResult& r) -> Value { return db::to_value(r.duration_ns); }},
       {"value", [](const TestResult& r) -> Value { return r.value; }}},
      {"test_resultid"},
      {{"test_resultid", false}}};
  return access;
}

// A name or code path with its id, for the spec of get_test_names / get_test_code_paths.
struct Text {
  int64_t id = 0;
  std::string text;
};

SpecAccess<Text> text_access(const std::string& id_field, const std::string& text_field) {
  return SpecAccess<Text>{{{id_field, [](const Text& t) -> Value { return t.id; }},
                           {text_field, [](const Text& t) -> Value { return t.text; }}},
                          {id_field},
                          {{id_field, false}}};
}

db::TestResult to_record(const Store& s, const td::TestResult& r) {
  db::TestResult out{r.id, r.builderid, r.test_result_setid, std::nullopt, std::nullopt,
                     r.line, r.duration_ns, r.value};
  if (r.test_nameid) out.test_name = s.test_names.at(*r.test_nameid).name;
  if (r.test_code_pathid) out.test_code_path = s.test_code_paths.at(*r.test_code_pathid).path;
  return out;
}

// The id of each text for the builder in `rows` (test_names or test_code_paths), adding the
// missing ones in the order the SQL connector adds them (by hash).
template <class M, class Get>
std::map<std::string, int64_t> find_or_add(Store& s, M& rows, const char* table, int64_t builderid,
                                           const std::set<std::string>& texts, Get get) {
  std::map<std::string, int64_t> ids;
  for (const auto& [id, r] : rows) {
    if (r.builderid == builderid && texts.count(get(r))) ids[get(r)] = id;
  }
  std::map<std::string, std::string> missing;  // hash -> text
  for (const auto& t : texts) {
    if (!ids.count(t)) missing.emplace(db::hash_columns({t}), t);
  }
  for (const auto& [h, t] : missing) {
    int64_t id = s.next_id(table, rows);
    typename M::mapped_type row;
    row.id = id;
    row.builderid = builderid;
    get(row) = t;
    rows[id] = row;
    ids[t] = id;
  }
  return ids;
}

class FakeTestResults final : public db::TestResults {
 public:
  explicit FakeTestResults(FakeDb::Access a) : a_(a) {}

  Future<void> add_test_results(int64_t builderid, int64_t setid,
                                std::vector<db::NewTestResult> results) override {
    return a_.call([&](Store& s) {
      db::internal::check_new_test_results(results);
      auto set = s.test_result_sets.find(setid);
      if (set == s.test_result_sets.end()) {
        throw db::NotFound("no test result set with id " + std::to_string(setid));
      }
      if (set->second.builderid != builderid) {
        throw db::InvalidArgument("test result set " + std::to_string(setid) +
                                  " belongs to builder " + std::to_string(set->second.builderid) +
                                  ", not " + std::to_string(builderid));
      }
      std::set<std::string> names, paths;
      for (const auto& r : results) {
        if (r.test_name) names.insert(*r.test_name);
        if (r.test_code_path) paths.insert(*r.test_code_path);
      }
      auto path_ids = find_or_add(s, s.test_code_paths, "test_code_paths", builderid, paths,
                                  [](auto& p) -> auto& { return p.path; });
      auto name_ids = find_or_add(s, s.test_names, "test_names", builderid, names,
                                  [](auto& n) -> auto& { return n.name; });
      for (const auto& r : results) {
        int64_t id = s.next_id("test_results", s.test_results);
        td::TestResult row;
        row.id = id;
        row.builderid = builderid;
        row.test_result_setid = setid;
        if (r.test_name) row.test_nameid = name_ids.at(*r.test_name);
        if (r.test_code_path) row.test_code_pathid = path_ids.at(*r.test_code_path);
        row.line = r.line;
        row.duration_ns = r.duration_ns;
        row.value = r.value;
        s.test_results[id] = row;
      }
    });
  }

  Future<std::optional<db::TestResult>> get_test_result(int64_t id) override {
    return a_.call([&](Store& s) -> std::optional<db::TestResult> {
      auto it = s.test_results.find(id);
      if (it == s.test_results.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::TestResult>> get_test_results(int64_t builderid, int64_t setid,
                                                       db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      std::vector<db::TestResult> rows;
      for (const auto& [id, r] : s.test_results) {
        if (r.builderid == builderid && r.test_result_setid == setid) rows.push_back(to_record(s, r));
      }
      return apply_spec(std::move(rows), spec, result_access());
    });
  }

  Future<std::vector<std::string>> get_test_names(int64_t builderid,
                                                  std::optional<std::string> name_prefix,
                                                  db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      return list(s.test_names, builderid, name_prefix, spec, "test_nameid", "name",
                  [](const td::TestName& n) { return n.name; });
    });
  }

  Future<std::vector<std::string>> get_test_code_paths(int64_t builderid,
                                                       std::optional<std::string> path_prefix,
                                                       db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      return list(s.test_code_paths, builderid, path_prefix, spec, "test_code_pathid", "path",
                  [](const td::TestCodePath& p) { return p.path; });
    });
  }

 private:
  template <class M, class Get>
  static std::vector<std::string> list(const M& rows, int64_t builderid,
                                       const std::optional<std::string>& prefix,
                                       const db::ResultSpec& spec, const std::string& id_field,
                                       const std::string& text_field, Get get) {
    if (prefix) db::internal::check_test_text("prefix", *prefix);
    std::vector<Text> texts;
    for (const auto& [id, r] : rows) {
      if (r.builderid != builderid) continue;
      std::string t = get(r);
      if (prefix && !t.starts_with(*prefix)) continue;
      texts.push_back({id, std::move(t)});
    }
    std::vector<std::string> out;
    for (auto& t : apply_spec(std::move(texts), spec, text_access(id_field, text_field))) {
      out.push_back(std::move(t.text));
    }
    return out;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::TestResults> make_fake_test_results(FakeDb::Access a) {
  return std::make_unique<FakeTestResults>(a);
}

}  // namespace ym::fake
