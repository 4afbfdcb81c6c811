// Awaiting database futures from the master's coroutines. `co_await await(db.builds().get(...))`
// suspends the coroutine until the database thread has answered, then resumes it on the master's
// io_context (never on a database thread), with the value or the typed error rethrown.
//
// (Boost 1.74's asio and GCC 12 mishandle a boost::future passed by value into a coroutine frame:
// the future's state is released twice. So await() is a plain function that keeps the future in
// a shared_ptr and hands asio only copyable state.)
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <type_traits>

#include "db/future.hpp"

namespace ym::master {

namespace internal {
template <class T>
struct AwaitSignature {
  using type = void(std::exception_ptr, T);
};
template <>
struct AwaitSignature<void> {
  using type = void(std::exception_ptr);
};
}  // namespace internal

// An awaitable of the future's value; its error is rethrown in the awaiting coroutine.
// T must be default-constructible (every connector result is).
template <class T>
auto await(Future<T> f) {
  auto shared = std::make_shared<Future<T>>(std::move(f));
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>,
                                     typename internal::AwaitSignature<T>::type>(
      [shared](auto handler) {
        auto executor = boost::asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        shared->then(boost::launch::sync, [h, executor](Future<T> result) {
          auto ready = std::make_shared<Future<T>>(std::move(result));
          boost::asio::post(executor, [h, ready] {
            std::exception_ptr error;
            if constexpr (std::is_void_v<T>) {
              try {
                ready->get();
              } catch (...) {
                error = std::current_exception();
              }
              (*h)(error);
            } else {
              T value{};
              try {
                value = ready->get();
              } catch (...) {
                error = std::current_exception();
              }
              (*h)(error, std::move(value));
            }
          });
        });
      },
      boost::asio::use_awaitable);
}

}  // namespace ym::master
