#include "contract/fixture.hpp"

#include <barrier>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "backend/server_db.hpp"
#include "fake/fake_db.hpp"

namespace ym::test {

namespace fs = std::filesystem;

std::vector<Backend> contract_backends() {
  std::vector<Backend> out{{Impl::kFake, "fake"},
                           {Impl::kSqliteMemory, "sqlite_memory"},
                           {Impl::kSqliteFile, "sqlite_file"}};
  // The servers run when configured (scripts/test starts them). Under CI=true they are always
  // listed, so that a missing one fails every one of its tests, naming the variable to set.
  if (server_url(db::Backend::kPostgres) || running_in_ci()) {
    out.push_back({Impl::kPostgres, "postgres"});
  }
  if (server_url(db::Backend::kMysql) || running_in_ci()) out.push_back({Impl::kMysql, "mysql"});
  // PostgreSQL through PgBouncer in transaction pooling (docs/scale-out.md).
  const char* bouncer = std::getenv("YM_TEST_PGBOUNCER_URL");
  if ((bouncer && *bouncer) || running_in_ci()) out.push_back({Impl::kPgBouncer, "pgbouncer"});
  // A MariaDB Galera cluster of three nodes, through a URL listing them (docs/scale-out.md).
  const char* galera = std::getenv("YM_TEST_GALERA_URL");
  if ((galera && *galera) || running_in_ci()) out.push_back({Impl::kGalera, "galera"});
  return out;
}

std::string backend_name(const testing::TestParamInfo<Backend>& info) { return info.param.name; }

namespace {
fs::path scratch_dir() {
  static fs::path dir = [] {
    const char* base = std::getenv("YM_TEST_TMPDIR");
    fs::path root = base ? fs::path(base) : fs::temp_directory_path();
    fs::path d = root / ("ym-tests-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}
}  // namespace

std::unique_ptr<db::Db> open_backend(const Backend& b, const TestClock& clock,
                                     const std::string& test_id) {
  db::DbOptions opts;
  opts.clock = clock.clock();
  switch (b.impl) {
    case Impl::kFake: {
      fake::FakeOptions fo;
      fo.clock = clock.clock();
      return std::make_unique<fake::FakeDb>(fo);
    }
    case Impl::kSqliteMemory:
      return db::Db::open("sqlite://", opts);
    case Impl::kSqliteFile: {
      fs::path file = scratch_dir() / (test_id + ".sqlite");
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file.string() + suffix);
      return db::Db::open("sqlite:///" + file.string(), opts);
    }
    case Impl::kPostgres:
      return db::Db::open(clean_database_url(db::Backend::kPostgres), opts);
    case Impl::kMysql:
      return db::Db::open(clean_database_url(db::Backend::kMysql), opts);
    case Impl::kPgBouncer:
      return db::Db::open(pgbouncer_database_url(), opts);
    case Impl::kGalera:
      return db::Db::open(galera_database_url(), opts);
  }
  throw std::runtime_error("unknown backend: " + b.name);
}

void Contract::SetUp() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string id = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : id) {
    if (c == '/') c = '_';
  }
  db_ = open_backend(GetParam(), clock_, id);
}

void Contract::TearDown() {
  if (db_) db_->shutdown();
  db_.reset();
}

void race(int n, const std::function<void(int)>& fn) {
  std::barrier start(n);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace ym::test
