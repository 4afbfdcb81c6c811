// Named LRU caches for getters keyed by one id (Buildbot's @cached). A hit returns the same
// immutable shared object; two concurrent misses for one key cost one query; `no_cache` bypasses
// the lookup (and refreshes the entry); writes that change a cached row invalidate it.
// Missing rows (null results) are never cached, so a row created later is found.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "future.hpp"

namespace ym::db {

struct CacheStats {
  std::string name;
  uint64_t hits = 0;
  uint64_t misses = 0;  // lookups that ran (or joined) a query
  uint64_t evictions = 0;
  size_t size = 0;
  size_t capacity = 0;
};

class CacheBase {
 public:
  virtual ~CacheBase() = default;
  virtual CacheStats stats() const = 0;
  virtual void clear() = 0;
  virtual void set_capacity(size_t capacity) = 0;
};

template <class K, class V>
class Cache final : public CacheBase {
 public:
  using Ptr = std::shared_ptr<const V>;
  using Loader = std::function<Future<Ptr>()>;

  Cache(std::string name, size_t capacity) : name_(std::move(name)), capacity_(capacity) {}

  Future<Ptr> get(const K& key, const Loader& loader, bool no_cache = false) {
    std::shared_ptr<InFlight> flight;
    Future<Ptr> result;
    {
      std::lock_guard lock(mu_);
      if (!no_cache) {
        if (auto it = index_.find(key); it != index_.end()) {
          ++hits_;
          lru_.splice(lru_.begin(), lru_, it->second);
          return make_ready_future(it->second->second);
        }
        if (auto it = inflight_.find(key); it != inflight_.end()) {
          ++misses_;
          auto p = std::make_shared<Promise<Ptr>>();
          it->second->waiters.push_back(p);
          return p->get_future();
        }
      }
      ++misses_;
      flight = std::make_shared<InFlight>();
      auto p = std::make_shared<Promise<Ptr>>();
      flight->waiters.push_back(p);
      result = p->get_future();
      if (!no_cache) inflight_[key] = flight;
    }
    Future<Ptr> loaded;
    try {
      loaded = loader();
    } catch (...) {
      loaded = make_exceptional_future<Ptr>(std::current_exception());
    }
    loaded.then([this, key, flight, no_cache](Future<Ptr> f) {
      complete(key, flight, std::move(f), no_cache);
    });
    return result;
  }

  // Drops `key`; a query for it that is in flight will not be stored.
  void invalidate(const K& key) {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.erase(it->second);
      index_.erase(it);
    }
    if (auto it = inflight_.find(key); it != inflight_.end()) {
      it->second->stale = true;
      inflight_.erase(it);
    }
  }

  void put(const K& key, Ptr value) {
    std::lock_guard lock(mu_);
    store(key, std::move(value));
  }

  CacheStats stats() const override {
    std::lock_guard lock(mu_);
    return CacheStats{name_, hits_, misses_, evictions_, index_.size(), capacity_};
  }

  void clear() override {
    std::lock_guard lock(mu_);
    lru_.clear();
    index_.clear();
    for (auto& [k, f] : inflight_) f->stale = true;
    inflight_.clear();
  }

  void set_capacity(size_t capacity) override {
    std::lock_guard lock(mu_);
    capacity_ = capacity;
    evict();
  }

 private:
  struct InFlight {
    std::vector<std::shared_ptr<Promise<Ptr>>> waiters;
    bool stale = false;
  };

  void complete(const K& key, const std::shared_ptr<InFlight>& flight, Future<Ptr> f,
                bool no_cache) {
    std::vector<std::shared_ptr<Promise<Ptr>>> waiters;
    Ptr value;
    std::exception_ptr error;
    try {
      value = f.get();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      if (!no_cache) {
        auto it = inflight_.find(key);
        if (it != inflight_.end() && it->second == flight) inflight_.erase(it);
      }
      if (!error && value && !flight->stale) store(key, value);
      waiters.swap(flight->waiters);
    }
    for (auto& w : waiters) {
      if (error) {
        w->set_exception(error);
      } else {
        w->set_value(value);
      }
    }
  }

  void store(const K& key, Ptr value) {  // requires mu_
    if (capacity_ == 0) return;
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(value);
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.emplace_front(key, std::move(value));
    index_[key] = lru_.begin();
    evict();
  }

  void evict() {  // requires mu_
    while (index_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
      ++evictions_;
    }
  }

  std::string name_;
  mutable std::mutex mu_;
  size_t capacity_;                                             // guarded by mu_
  std::list<std::pair<K, Ptr>> lru_;                            // guarded by mu_
  std::map<K, typename std::list<std::pair<K, Ptr>>::iterator> index_;  // guarded by mu_
  std::map<K, std::shared_ptr<InFlight>> inflight_;             // guarded by mu_
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;              // guarded by mu_
};

// The named caches of one Db, with their configured sizes.
class CacheRegistry {
 public:
  explicit CacheRegistry(std::map<std::string, size_t> sizes = {}, size_t default_size = 1000)
      : sizes_(std::move(sizes)), default_size_(default_size) {}

  template <class K, class V>
  std::shared_ptr<Cache<K, V>> make(const std::string& name) {
    auto it = sizes_.find(name);
    auto cache = std::make_shared<Cache<K, V>>(name, it == sizes_.end() ? default_size_ : it->second);
    std::lock_guard lock(mu_);
    caches_.push_back(cache);
    return cache;
  }

  std::vector<CacheStats> stats() const {
    std::lock_guard lock(mu_);
    std::vector<CacheStats> out;
    for (const auto& c : caches_) out.push_back(c->stats());
    return out;
  }

  void clear_all() {
    std::lock_guard lock(mu_);
    for (const auto& c : caches_) c->clear();
  }

 private:
  std::map<std::string, size_t> sizes_;
  size_t default_size_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<CacheBase>> caches_;  // guarded by mu_
};

}  // namespace ym::db
