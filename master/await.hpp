// Awaiting database futures from the master's coroutines. `co_await await(db.builds().get(...))`
// suspends the coroutine until the database thread has answered, then resumes it on the master's
// io_context (never on a database thread), with the value or the typed error rethrown.
// (The connectors' own token form, db.builds().get(..., use_awaitable), does the same; this
// wraps a future the master already holds.)
#pragma once

#include "db/async.hpp"

namespace ym::master {

template <class T>
auto await(Future<T> f) {
  return ym::async(std::move(f), boost::asio::use_awaitable);
}

}  // namespace ym::master
