// Internal to db/: what the SQL connector components share, and their constructors.
// Nothing outside db/ includes this header.
#pragma once

#include <memory>

#include "db/base.hpp"
#include "db/cache.hpp"
#include "db/db.hpp"
#include "db/errors.hpp"
#include "db/pool.hpp"

namespace ym::db::internal {

struct Context {
  Pool& pool;
  CacheRegistry& caches;
  Clock clock;
  int64_t now() const { return clock().time_since_epoch().count(); }
};

std::unique_ptr<Masters> make_sql_masters(Context& ctx);
std::unique_ptr<Builders> make_sql_builders(Context& ctx);
std::unique_ptr<Workers> make_sql_workers(Context& ctx);
std::unique_ptr<State> make_sql_state(Context& ctx);

// "IN (?, ?, ...)" helpers: runs fn(batch_sql_in_list, batch) for each batch of ids.
template <class Fn>
void for_each_batch(const Dialect& d, const std::vector<int64_t>& ids, size_t reserved, Fn fn) {
  for (auto batch : do_batch(ids, batch_size(d, 1, reserved))) {
    std::vector<Value> params(batch.begin(), batch.end());
    fn(placeholders(batch.size()), params);
  }
}

}  // namespace ym::db::internal
