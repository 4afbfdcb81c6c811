// The contract suite's fixture: every contract test runs once per implementation of Db (the
// fake, SQLite in memory, SQLite on file, and the server backends when configured), with the
// same test name, so an implementation that differs from the others fails by name.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "db/testdata.hpp"

namespace ym::test {

namespace td = ym::db::testdata;

enum class Impl { kFake, kSqliteMemory, kSqliteFile, kPostgres, kMysql, kPgBouncer, kGalera };

struct Backend {
  Impl impl;
  std::string name;  // the test-name suffix
};
inline void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// The implementations the suite runs on in this process.
std::vector<Backend> contract_backends();
std::string backend_name(const testing::TestParamInfo<Backend>& info);

// A fixed, settable clock shared by the test and the implementation under test.
struct TestClock {
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(1'700'000'000);
  db::Clock clock() const {
    auto n = now;
    return [n] { return Timestamp(std::chrono::seconds(n->load())); };
  }
  Timestamp at(int64_t t) const { return Timestamp(std::chrono::seconds(t)); }
  void advance(int64_t s) { *now += s; }
};

// Opens a fresh, empty implementation.
std::unique_ptr<db::Db> open_backend(const Backend& b, const TestClock& clock,
                                     const std::string& test_id);

class Contract : public testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  void insert(std::vector<td::Row> rows) { db_->insert_test_data(std::move(rows)).get(); }
  bool is_fake() const { return GetParam().impl == Impl::kFake; }

  TestClock clock_;
  std::unique_ptr<db::Db> db_;
};

// Runs fn(i) on n threads started together; returns when all are done.
void race(int n, const std::function<void(int)>& fn);

}  // namespace ym::test

#define YM_CONTRACT_SUITE(Suite)                                           \
  class Suite : public ::ym::test::Contract {};                           \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                               \
                           testing::ValuesIn(::ym::test::contract_backends()), \
                           ::ym::test::backend_name)
