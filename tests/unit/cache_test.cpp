#include <gtest/gtest.h>

#include "db/cache.hpp"

namespace ym::db {
namespace {

using IntCache = Cache<int, std::string>;
using Ptr = IntCache::Ptr;

// A loader whose results the test releases by hand, counting how often it ran.
struct ManualLoader {
  int calls = 0;
  std::vector<std::shared_ptr<Promise<Ptr>>> pending;
  IntCache::Loader make() {
    return [this] {
      ++calls;
      auto p = std::make_shared<Promise<Ptr>>();
      pending.push_back(p);
      return p->get_future();
    };
  }
};

IntCache::Loader value(std::string v, int* calls) {
  return [v, calls] {
    ++*calls;
    return make_ready_future(std::make_shared<const std::string>(v));
  };
}

TEST(Cache, HitsReturnTheSameObject) {
  IntCache c("t", 10);
  int calls = 0;
  auto a = c.get(1, value("one", &calls)).get();
  auto b = c.get(1, value("other", &calls)).get();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*b, "one");
  auto s = c.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.size, 1u);
}

TEST(Cache, ConcurrentMissesCostOneQuery) {
  IntCache c("t", 10);
  ManualLoader loader;
  auto f1 = c.get(5, loader.make());
  auto f2 = c.get(5, loader.make());
  EXPECT_EQ(loader.calls, 1);
  ASSERT_EQ(loader.pending.size(), 1u);
  loader.pending[0]->set_value(std::make_shared<const std::string>("five"));
  auto a = f1.get(), b = f2.get();
  EXPECT_EQ(*a, "five");
  EXPECT_EQ(a.get(), b.get());
}

TEST(Cache, ErrorsReachEveryWaiterAndAreNotCached) {
  IntCache c("t", 10);
  ManualLoader loader;
  auto f1 = c.get(5, loader.make());
  auto f2 = c.get(5, loader.make());
  loader.pending[0]->set_exception(std::make_exception_ptr(std::runtime_error("db down")));
  EXPECT_THROW(f1.get(), std::runtime_error);
  EXPECT_THROW(f2.get(), std::runtime_error);
  int calls = 0;
  EXPECT_EQ(*c.get(5, value("ok", &calls)).get(), "ok");
  EXPECT_EQ(calls, 1);
}

TEST(Cache, MissingRowsAreNotCached) {
  IntCache c("t", 10);
  int calls = 0;
  auto none = [&calls] {
    ++calls;
    return make_ready_future(Ptr());
  };
  EXPECT_FALSE(c.get(1, none).get());
  EXPECT_FALSE(c.get(1, none).get());
  EXPECT_EQ(calls, 2);
}

TEST(Cache, InvalidateDropsTheEntry) {
  IntCache c("t", 10);
  int calls = 0;
  c.get(1, value("old", &calls)).get();
  c.invalidate(1);
  EXPECT_EQ(*c.get(1, value("new", &calls)).get(), "new");
  EXPECT_EQ(calls, 2);
}

TEST(Cache, InvalidateDuringALoadKeepsTheStaleResultOut) {
  IntCache c("t", 10);
  ManualLoader loader;
  auto f = c.get(1, loader.make());
  c.invalidate(1);  // a write landed while the read was in flight
  loader.pending[0]->set_value(std::make_shared<const std::string>("stale"));
  EXPECT_EQ(*f.get(), "stale");  // the caller who asked before the write sees what it read
  int calls = 0;
  EXPECT_EQ(*c.get(1, value("fresh", &calls)).get(), "fresh");
  EXPECT_EQ(calls, 1);
}

TEST(Cache, NoCacheBypassesAndRefreshes) {
  IntCache c("t", 10);
  int calls = 0;
  c.get(1, value("v1", &calls)).get();
  EXPECT_EQ(*c.get(1, value("v2", &calls), /*no_cache=*/true).get(), "v2");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(*c.get(1, value("v3", &calls)).get(), "v2");
  EXPECT_EQ(calls, 2);
}

TEST(Cache, EvictsTheLeastRecentlyUsed) {
  IntCache c("t", 2);
  int calls = 0;
  c.get(1, value("1", &calls)).get();
  c.get(2, value("2", &calls)).get();
  c.get(1, value("1", &calls)).get();  // 1 is now the most recent
  c.get(3, value("3", &calls)).get();  // evicts 2
  EXPECT_EQ(calls, 3);
  c.get(1, value("1", &calls)).get();
  EXPECT_EQ(calls, 3);
  c.get(2, value("2", &calls)).get();
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(c.stats().evictions, 2u);
  EXPECT_EQ(c.stats().size, 2u);
}

TEST(Cache, RegistryAppliesConfiguredSizes) {
  CacheRegistry reg({{"small", 1}}, 7);
  auto small = reg.make<int, std::string>("small");
  auto other = reg.make<int, std::string>("other");
  auto stats = reg.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "small");
  EXPECT_EQ(stats[0].capacity, 1u);
  EXPECT_EQ(stats[1].capacity, 7u);
  small->set_capacity(0);
  int calls = 0;
  small->get(1, value("x", &calls)).get();
  small->get(1, value("x", &calls)).get();
  EXPECT_EQ(calls, 2);  // capacity 0 disables caching
}

}  // namespace
}  // namespace ym::db
