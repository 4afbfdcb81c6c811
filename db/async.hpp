// Asio completion tokens for every connector method, and co_await.
//
//   co_await db.builds().get_build(id, boost::asio::use_awaitable);
//   auto f = db.builds().get_build(id, boost::asio::use_future);            // std::future
//   db.builds().get_build(id, boost::asio::bind_executor(ex, [](std::exception_ptr e,
//                                                                std::optional<Build> b) {}));
//
// The completion handler's signature is void(std::exception_ptr, T) (void(std::exception_ptr)
// for a call that returns nothing): the typed error of db/errors.hpp, or null and the value.
// It runs on the handler's associated executor (the coroutine's, for use_awaitable), never on
// a database thread; a plain callback without one runs on asio's system executor. Until the
// handler has run, the executor counts the call as outstanding work (io_context::run() does not
// return under it).
//
// The call starts when the token says so: at once for callbacks and use_future, when awaited
// for use_awaitable (and asio::deferred, with Boost 1.80 or later). A call wrapped with
// ym::cancellable(canceller, token) that has not begun to run on a database thread when
// canceller.cancel() is called fails with db::Cancelled; one already running completes.
//
// ym::async(future, token) delivers an existing ym::Future the same way.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#if __has_include(<boost/asio/deferred.hpp>)
#include <boost/asio/deferred.hpp>
#define YM_HAVE_ASIO_DEFERRED 1
#endif
#include <exception>
#include <memory>
#include <type_traits>

#include "future.hpp"

namespace ym {

namespace internal {

template <class E>
struct IsAsioToken<boost::asio::use_awaitable_t<E>> : std::true_type {};
template <class A>
struct IsAsioToken<boost::asio::use_future_t<A>> : std::true_type {};
template <class T, class E>
struct IsAsioToken<boost::asio::executor_binder<T, E>> : std::true_type {};
template <class T>
struct IsAsioToken<boost::asio::redirect_error_t<T>> : std::true_type {};
#ifdef YM_HAVE_ASIO_DEFERRED
template <>
struct IsAsioToken<boost::asio::deferred_t> : std::true_type {};
#endif

template <class T>
struct Signature {
  using type = void(std::exception_ptr, T);
};
template <>
struct Signature<void> {
  using type = void(std::exception_ptr);
};

template <class T>
struct FutureValue;
template <class T>
struct FutureValue<Future<T>> {
  using type = T;
};

// Hands the ready future's outcome to the handler.
template <class T, class Handler>
void deliver(Handler& handler, Future<T>& ready) {
  std::exception_ptr error = ready.error();
  if constexpr (std::is_void_v<T>) {
    handler(error);
  } else if (error) {
    handler(error, T{});
  } else {
    handler(error, ready.get());
  }
}

template <class Start>
auto start_call(Start& start) {
  using F = std::invoke_result_t<Start&>;
  try {
    return start();
  } catch (...) {
    return make_exceptional_future<typename FutureValue<F>::type>(std::current_exception());
  }
}

template <class Token, class Start>
auto initiate_plain(Token&& token, Start start) {
  using F = std::invoke_result_t<Start&>;
  using T = typename FutureValue<F>::type;
  return boost::asio::async_initiate<Token, typename Signature<T>::type>(
      [](auto handler, Start start) {
        auto executor = boost::asio::get_associated_executor(handler);
        // Counts as outstanding work until the handler has run.
        auto work = boost::asio::prefer(executor, boost::asio::execution::outstanding_work.tracked);
        F call = start_call(start);
        call.then([handler = std::move(handler), work](F ready) mutable {
          boost::asio::post(work, [handler = std::move(handler), ready = std::move(ready)]() mutable {
            deliver<T>(handler, ready);
          });
        });
      },
      token, std::move(start));
}

template <class Token, class Start>
auto initiate(Token&& token, Start start) {
  if constexpr (requires { token.canceller; token.token; }) {
    // ym::cancellable(c, inner): the call is made inside c's scope.
    Canceller canceller = token.canceller;
    return initiate_plain(std::forward<Token>(token).token,
                          [canceller, start = std::move(start)]() mutable {
                            CancelScope scope(canceller);
                            return start();
                          });
  } else {
    return initiate_plain(std::forward<Token>(token), std::move(start));
  }
}

}  // namespace internal

// Delivers an existing future through `token` (see the top of this file).
template <class T, class Token>
auto async(Future<T> f, Token&& token) {
  auto shared = std::make_shared<Future<T>>(std::move(f));
  return internal::initiate(std::forward<Token>(token), [shared]() { return std::move(*shared); });
}

// Runs fn(std::move(ready_future)) on `executor` once `f` is ready; a future of fn's result.
template <class T, class Executor, class Fn>
auto then_on(Future<T> f, Executor executor, Fn fn) -> Future<std::invoke_result_t<Fn&, Future<T>>> {
  using R = std::invoke_result_t<Fn&, Future<T>>;
  Promise<R> promise;
  auto result = promise.get_future();
  f.then([promise = std::move(promise), executor, fn = std::move(fn)](Future<T> ready) mutable {
    boost::asio::post(executor, [promise = std::move(promise), ready = std::move(ready),
                                 fn = std::move(fn)]() mutable {
      internal::fulfil(promise, fn, std::move(ready));
    });
  });
  return result;
}

}  // namespace ym
