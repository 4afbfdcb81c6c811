// The fake's own features (test data, inspection, fault injection) and the insert_test_data
// contract that it shares with the real backends.
#include "contract/fixture.hpp"
#include "fake/fake_db.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(TestDataContract);

TEST_P(TestDataContract, DanglingReferencesAreRejectedAndNothingIsInserted) {
  EXPECT_THROW(insert({td::Master{.id = 1, .name = "m"},
                       td::BuilderMaster{.id = 1, .builderid = 99, .masterid = 1}}),
               db::ForeignKeyViolation);
  EXPECT_TRUE(db_->masters().get_masters().get().empty());
}

TEST_P(TestDataContract, DuplicateRowsAreRejected) {
  insert({td::Master{.id = 1, .name = "m"}});
  EXPECT_THROW(insert({td::Master{.id = 1, .name = "other"}}), db::UniqueViolation);
  EXPECT_THROW(insert({td::Master{.id = 2, .name = "m"}}), db::UniqueViolation);
  EXPECT_THROW(insert({td::Worker{.id = 1, .name = "w"}, td::Worker{.id = 2, .name = "w"}}),
               db::UniqueViolation);
  EXPECT_EQ(db_->masters().get_masters().get().size(), 1u);
  EXPECT_TRUE(db_->workers().get_workers().get().empty());
}

TEST_P(TestDataContract, NewIdsFollowInsertedOnes) {
  insert({td::Worker{.id = 40, .name = "w40"}});
  EXPECT_GT(db_->workers().find_worker_id("new").get(), 40);
}

TEST(FakeDb, ForeignKeyCheckingCanBeTurnedOff) {
  fake::FakeDb db(fake::FakeOptions{.check_foreign_keys = false});
  db.insert_test_data({td::BuilderMaster{.id = 1, .builderid = 5, .masterid = 6}}).get();
  EXPECT_EQ(db.inspect([](const fake::Store& s) { return s.builder_masters.size(); }), 1u);
}

TEST(FakeDb, InspectSeesWhatConnectorsWrote) {
  fake::FakeDb db;
  int64_t m = db.masters().find_master_id("host:/b").get();
  db.masters().set_master_state(m, true).get();
  auto active = db.inspect([m](const fake::Store& s) { return s.masters.at(m).active; });
  EXPECT_TRUE(active);
}

TEST(FakeDb, InjectedFailuresChangeNothing) {
  fake::FakeDb db;
  db.fail_next_calls(1, std::make_exception_ptr(db::TransientError("injected")));
  EXPECT_THROW(db.masters().find_master_id("m").get(), db::TransientError);
  EXPECT_TRUE(db.masters().get_masters().get().empty());
  EXPECT_NO_THROW(db.masters().find_master_id("m").get());
}

TEST(FakeDb, CallsAfterShutdownFail) {
  fake::FakeDb db;
  db.shutdown();
  EXPECT_THROW(db.masters().get_masters().get(), db::PoolShutDown);
}

}  // namespace
}  // namespace ym::test
