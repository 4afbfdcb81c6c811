// What the migration tests share: a scratch directory per test, and the backends a test runs on
// (SQLite always; the PostgreSQL / MariaDB test servers of tests/backend/server_db.hpp when
// configured, and always under CI, where a missing one then fails).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "backend/server_db.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/migrate/introspect.hpp"
#include "db/model.hpp"
#include "db/url.hpp"

namespace ym::test {

class Scratch {
 public:
  Scratch() {
    const char* base = std::getenv("YM_TEST_TMPDIR");
    dir_ = std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
           ("ym-migrate-" + std::to_string(::getpid()) + "-" + test_name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string url(const std::string& name) const { return "sqlite:///" + path(name); }

 private:
  // The test's name as a file name (a parameterized test's name holds '/').
  static std::string test_name() {
    std::string n = testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(n.begin(), n.end(), '/', '_');
    return n;
  }
  std::filesystem::path dir_;
};

// A backend the tests run on.
struct Target {
  db::Backend backend;
  std::string name;
  bool galera = false;  // MySQL on the Galera cluster of YM_TEST_GALERA_URL
};
inline void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

// SQLite always; a server backend when its URL is set, and always under CI (where a missing one
// then fails: server_db.cpp throws when asked for a database on it).
inline std::vector<Target> targets() {
  std::vector<Target> out{{db::Backend::kSqlite, "sqlite"}};
  if (server_url(db::Backend::kPostgres) || running_in_ci()) out.push_back({db::Backend::kPostgres, "postgres"});
  if (server_url(db::Backend::kMysql) || running_in_ci()) out.push_back({db::Backend::kMysql, "mysql"});
  const char* galera = std::getenv("YM_TEST_GALERA_URL");
  if ((galera && *galera) || running_in_ci()) out.push_back({db::Backend::kMysql, "galera", true});
  return out;
}

inline std::string target_name(const testing::TestParamInfo<Target>& info) { return info.param.name; }

// A test of one backend: fresh databases with no tables, a scratch directory for files.
class OnBackend : public testing::TestWithParam<Target> {
 protected:
  db::Backend backend() const { return GetParam().backend; }
  // A database with no tables: a new file, or a database re-created on the test server.
  std::string empty_url(const std::string& suffix) {
    if (backend() == db::Backend::kSqlite) return s_.url(suffix + ".sqlite");
    if (GetParam().galera) return galera_empty_database_url(suffix);
    return empty_database_url(backend(), suffix);
  }
  // A database at the current schema version holding no rows.
  std::string clean_url(const std::string& suffix) {
    if (backend() == db::Backend::kSqlite) {
      std::string url = s_.url(suffix + ".sqlite");
      db::Db::open(url)->shutdown();
      return url;
    }
    if (GetParam().galera) return galera_database_url();
    return clean_database_url(backend());
  }
  // MySQL's DDL commits implicitly: every migration there runs as a non-transactional one.
  bool transactional_ddl() const { return backend() != db::Backend::kMysql; }

  Scratch s_;
};

inline std::unique_ptr<db::Connection> connect(const std::string& url) {
  return db::open_connection(db::Url::parse(url));
}

// Whether the schema of `conn` is `model` (migrate::compare_with_model finds no difference); on
// failure the message lists every difference, one a line. EXPECT_TRUE(matches_model(*c, m)).
inline testing::AssertionResult matches_model(db::Connection& conn, const db::model::Model& model) {
  auto diffs = migrate::compare_with_model(conn, model);
  if (diffs.empty()) return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure();
  failure << "the schema differs from the model in " << diffs.size() << " ways:";
  for (const auto& d : diffs) failure << "\n  " << d;
  return failure;
}

}  // namespace ym::test
