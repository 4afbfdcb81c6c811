// ym::Future<T> is boost::future<T> with continuations (BOOST_THREAD_VERSION 5). Errors travel
// inside the future as the typed exceptions of db/errors.hpp; .get() rethrows them.
//
// then_on(future, executor, fn) runs fn(ready_future) on the given executor (for example a
// master's boost::asio::io_context), the way Twisted delivers Deferred results to the reactor
// thread, and returns a future of fn's result.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/thread/future.hpp>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace ym {

template <class T>
using Future = boost::future<T>;
template <class T>
using Promise = boost::promise<T>;

// (Not boost::make_ready_future: its unqualified forward() is ambiguous for std:: types.)
template <class T>
Future<std::decay_t<T>> make_ready_future(T&& value) {
  Promise<std::decay_t<T>> p;
  p.set_value(std::forward<T>(value));
  return p.get_future();
}
inline Future<void> make_ready_future() {
  Promise<void> p;
  p.set_value();
  return p.get_future();
}

// boost::promise::set_exception takes a boost::exception_ptr; given a std::exception_ptr it would
// store the pointer itself as the exception. This converts, keeping the original type.
inline boost::exception_ptr to_boost_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (...) {
    return boost::current_exception();
  }
}

template <class T>
Future<T> make_exceptional_future(std::exception_ptr e) {
  Promise<T> p;
  p.set_exception(to_boost_exception(e));
  return p.get_future();
}

template <class T, class E>
Future<T> make_error_future(E error) {
  return make_exceptional_future<T>(std::make_exception_ptr(std::move(error)));
}

namespace internal {
// Sets `p` from calling fn(args...), capturing any exception.
template <class R, class Fn, class... Args>
void fulfil(Promise<R>& p, Fn& fn, Args&&... args) {
  try {
    if constexpr (std::is_void_v<R>) {
      fn(std::forward<Args>(args)...);
      p.set_value();
    } else {
      p.set_value(fn(std::forward<Args>(args)...));
    }
  } catch (...) {
    p.set_exception(boost::current_exception());
  }
}
}  // namespace internal

// Runs fn(std::move(ready_future)) on `executor` once `f` is ready.
template <class T, class Executor, class Fn>
auto then_on(Future<T> f, Executor executor, Fn fn) -> Future<std::invoke_result_t<Fn, Future<T>>> {
  using R = std::invoke_result_t<Fn, Future<T>>;
  auto promise = std::make_shared<Promise<R>>();
  auto result = promise->get_future();
  f.then(boost::launch::sync, [promise, executor, fn = std::move(fn)](Future<T> ready) mutable {
    auto shared = std::make_shared<Future<T>>(std::move(ready));
    boost::asio::post(executor, [promise, shared, fn = std::move(fn)]() mutable {
      internal::fulfil(*promise, fn, std::move(*shared));
    });
  });
  return result;
}

// Blocks for the value; for tests, tools and examples. Rethrows the typed error.
template <class T>
T wait(Future<T>&& f) {
  return f.get();
}
inline void wait(Future<void>&& f) { f.get(); }

}  // namespace ym
