// ym::Future<T>: the result of a database call, completed later on a database thread.
//
// A small future of our own (no Boost.Thread, no macro to define): get() waits and returns the
// value or rethrows the typed error of db/errors.hpp; then(fn) runs fn(ready_future) on the
// thread that completes it (or at once, when it is already ready) and returns a future of fn's
// result (a future returned by fn is unwrapped). Move-only, like std::future.
//
// To continue on your own executor instead, pass an asio completion token to the connector
// method (see <yardmaster/async.hpp> and docs/library.md), or use then_on(future, executor, fn).
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <tuple>
#include <utility>

namespace ym {

template <class T>
class Future;
template <class T>
class Promise;

// A promise destroyed before it was set: its future gets this error.
class BrokenPromise : public std::logic_error {
 public:
  BrokenPromise() : std::logic_error("the call was dropped before it produced a result") {}
};

namespace internal {

struct Continuation {
  virtual ~Continuation() = default;
  virtual void run() = 0;
};

template <class Fn>
struct ContinuationOf final : Continuation {
  explicit ContinuationOf(Fn fn) : fn(std::move(fn)) {}
  void run() override { fn(); }
  Fn fn;
};

template <class T>
struct Slot {
  std::optional<T> value;
};
template <>
struct Slot<void> {};

template <class T>
struct FutureState {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::exception_ptr error;
  Slot<T> slot;
  std::unique_ptr<Continuation> next;

  // Marks the state ready with what `set` stores, then runs the continuation (outside the lock).
  template <class Set>
  void complete(Set set) {
    std::unique_ptr<Continuation> run;
    {
      std::lock_guard lock(mu);
      if (ready) throw std::logic_error("ym::Promise: already satisfied");
      set(*this);
      ready = true;
      run = std::move(next);
    }
    cv.notify_all();
    if (run) run->run();
  }

  // Runs fn now if ready, else when completed.
  template <class Fn>
  void on_ready(Fn fn) {
    {
      std::lock_guard lock(mu);
      if (!ready) {
        next = std::make_unique<ContinuationOf<Fn>>(std::move(fn));
        return;
      }
    }
    fn();
  }
};

template <class T>
struct IsFuture : std::false_type {};
template <class T>
struct IsFuture<Future<T>> : std::true_type {
  using value_type = T;
};

}  // namespace internal

template <class T>
class Future {
 public:
  using value_type = T;

  Future() = default;
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;

  // Whether this future refers to a result (false once get() or then() consumed it).
  bool valid() const { return state_ != nullptr; }
  bool is_ready() const {
    check();
    std::lock_guard lock(state_->mu);
    return state_->ready;
  }
  void wait() const {
    check();
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [this] { return state_->ready; });
  }
  // Waits at most `d`; whether the result is ready.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    check();
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, d, [this] { return state_->ready; });
  }

  // Waits, then returns the value or rethrows the error. Consumes the future.
  T get() {
    wait();
    auto state = std::move(state_);
    if (state->error) std::rethrow_exception(state->error);
    if constexpr (!std::is_void_v<T>) return std::move(*state->slot.value);
  }

  // The error, or nullptr, once ready (does not consume the future).
  std::exception_ptr error() const {
    wait();
    return state_->error;
  }

  // Runs fn(ready future) once this one is ready, on the completing thread (or at once, here,
  // when it already is). Returns a future of fn's result; consumes this future.
  template <class Fn>
  auto then(Fn fn);

 private:
  template <class U>
  friend class Promise;
  template <class U>
  friend class Future;

  explicit Future(std::shared_ptr<internal::FutureState<T>> s) : state_(std::move(s)) {}
  void check() const {
    if (!state_) throw std::logic_error("ym::Future: no result (already consumed)");
  }

  std::shared_ptr<internal::FutureState<T>> state_;
};

template <class T>
class Promise {
 public:
  Promise() : state_(std::make_shared<internal::FutureState<T>>()) {}
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&& other) noexcept {
    abandon();
    state_ = std::move(other.state_);
    retrieved_ = other.retrieved_;
    return *this;
  }
  ~Promise() { abandon(); }

  Future<T> get_future() {
    if (retrieved_) throw std::logic_error("ym::Promise: future already retrieved");
    retrieved_ = true;
    return Future<T>(state_);
  }

  template <class... V>
  void set_value(V&&... v) {
    state_->complete([&](internal::FutureState<T>& s) {
      if constexpr (!std::is_void_v<T>) s.slot.value.emplace(std::forward<V>(v)...);
    });
  }
  void set_exception(std::exception_ptr e) {
    state_->complete([&](internal::FutureState<T>& s) { s.error = std::move(e); });
  }

 private:
  void abandon() {
    if (!state_) return;
    bool ready;
    {
      std::lock_guard lock(state_->mu);
      ready = state_->ready;
    }
    if (!ready) set_exception(std::make_exception_ptr(BrokenPromise()));
    state_.reset();
  }

  std::shared_ptr<internal::FutureState<T>> state_;
  bool retrieved_ = false;
};

namespace internal {
// Sets `p` from calling fn(args...), capturing any exception.
template <class R, class Fn, class... Args>
void fulfil(Promise<R>& p, Fn& fn, Args&&... args) {
  std::exception_ptr error;
  if constexpr (std::is_void_v<R>) {
    try {
      fn(std::forward<Args>(args)...);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      p.set_exception(error);
    } else {
      p.set_value();
    }
  } else {
    std::optional<R> value;
    try {
      value.emplace(fn(std::forward<Args>(args)...));
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      p.set_exception(error);
    } else {
      p.set_value(std::move(*value));
    }
  }
}

// Completes `p` with the outcome of the ready future `f`.
template <class T>
void forward(Promise<T>& p, Future<T>& f) {
  if (auto e = f.error()) {
    p.set_exception(e);
  } else if constexpr (std::is_void_v<T>) {
    f.get();
    p.set_value();
  } else {
    p.set_value(f.get());
  }
}
}  // namespace internal

template <class T>
template <class Fn>
auto Future<T>::then(Fn fn) {
  check();
  using R = std::invoke_result_t<Fn&, Future<T>>;
  auto state = std::move(state_);
  if constexpr (internal::IsFuture<R>::value) {
    using U = typename internal::IsFuture<R>::value_type;
    Promise<U> p;
    auto out = p.get_future();
    state->on_ready([state, fn = std::move(fn), p = std::move(p)]() mutable {
      R inner;
      try {
        inner = fn(Future<T>(state));
      } catch (...) {
        p.set_exception(std::current_exception());
        return;
      }
      inner.then([p = std::move(p)](Future<U> ready) mutable { internal::forward(p, ready); });
    });
    return out;
  } else {
    Promise<R> p;
    auto out = p.get_future();
    state->on_ready([state, fn = std::move(fn), p = std::move(p)]() mutable {
      internal::fulfil(p, fn, Future<T>(state));
    });
    return out;
  }
}

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

template <class T>
Future<T> make_exceptional_future(std::exception_ptr e) {
  Promise<T> p;
  p.set_exception(std::move(e));
  return p.get_future();
}

template <class T, class E>
Future<T> make_error_future(E error) {
  return make_exceptional_future<T>(std::make_exception_ptr(std::move(error)));
}

// Blocks for the value; for tests, tools and examples. Rethrows the typed error.
template <class T>
T wait(Future<T>&& f) {
  return f.get();
}
inline void wait(Future<void>&& f) { f.get(); }

// ---------------------------------------------------------------------------------------------
// Completion tokens. Every connector method `Future<T> m(args...)` also accepts an asio
// completion token as an extra last argument: m(args..., token). The definitions that need asio
// are in <yardmaster/async.hpp>, which a program passing tokens includes.

// Cancels the calls started under it that have not begun to run on a database thread: they fail
// with db::Cancelled (a call already running completes). Copies share one state.
class Canceller {
 public:
  Canceller() : flag_(std::make_shared<Flag>()) {}
  void cancel() { flag_->set.store(true); }
  bool cancelled() const { return flag_->set.load(); }

  // The canceller in force for calls made on this thread (see CancelScope), or nullptr.
  static const Canceller* current() { return current_ref(); }

 private:
  friend class CancelScope;
  struct Flag {
    std::atomic<bool> set{false};
  };
  static const Canceller*& current_ref() {
    thread_local const Canceller* c = nullptr;
    return c;
  }
  std::shared_ptr<Flag> flag_;
};

// While alive, the database calls this thread makes can be cancelled with `c`.
class CancelScope {
 public:
  explicit CancelScope(const Canceller& c) : saved_(Canceller::current_ref()) {
    Canceller::current_ref() = &c;
  }
  ~CancelScope() { Canceller::current_ref() = saved_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  const Canceller* saved_;
};

// A completion token whose call can be cancelled with `canceller` until it starts to run:
// co_await db.builds().get_build(id, ym::cancellable(c, asio::use_awaitable)).
template <class Token>
struct Cancellable {
  Canceller canceller;
  Token token;
};
template <class Token>
Cancellable<std::decay_t<Token>> cancellable(Canceller c, Token&& token) {
  return {std::move(c), std::forward<Token>(token)};
}

namespace internal {

// Specialised for asio's token types by <yardmaster/async.hpp>.
template <class T>
struct IsAsioToken : std::false_type {};
template <class T>
struct IsAsioToken<Cancellable<T>> : std::true_type {};

// Converts to anything: probes whether a callback takes (std::exception_ptr, value).
struct AnyArg {
  template <class U>
  operator U() const;
};

template <class L>
inline constexpr bool kIsCompletionToken =
    IsAsioToken<std::remove_cvref_t<L>>::value ||
    (std::is_class_v<std::remove_cvref_t<L>> &&
     (std::is_invocable_v<L, std::exception_ptr, AnyArg> || std::is_invocable_v<L, std::exception_ptr>));

template <class... A>
struct LastIsToken : std::false_type {};
template <class A>
struct LastIsToken<A> : std::bool_constant<kIsCompletionToken<A>> {};
template <class A, class B, class... R>
struct LastIsToken<A, B, R...> : LastIsToken<B, R...> {};

// Starts the call `start()` (a Future) and delivers its outcome through `token` on the token's
// executor. Defined in <yardmaster/async.hpp>.
template <class Token, class Start>
auto initiate(Token&& token, Start start);

// Calls fn(all arguments but the last) through the last argument, a completion token.
template <class Fn, class... Args>
auto call_with_token(Fn fn, Args&&... args) {
  auto all = std::forward_as_tuple(std::forward<Args>(args)...);
  constexpr std::size_t n = sizeof...(Args);
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    // The arguments are copied into the deferred start: a lazy token (use_awaitable) starts
    // the call after this full expression has ended.
    auto start = [fn = std::move(fn),
                  saved = std::make_tuple(std::decay_t<std::tuple_element_t<I, decltype(all)>>(
                      std::forward<std::tuple_element_t<I, decltype(all)>>(std::get<I>(all)))...)]() mutable {
      return std::apply([&](auto&... a) { return fn(std::move(a)...); }, saved);
    };
    return initiate(std::forward<std::tuple_element_t<n - 1, decltype(all)>>(std::get<n - 1>(all)),
                    std::move(start));
  }(std::make_index_sequence<n - 1>{});
}

}  // namespace internal

// Declares the completion-token form of the connector method `name` (inside its class).
#define YM_ASYNC(name)                                                                     \
  template <class... Args>                                                                 \
    requires ::ym::internal::LastIsToken<Args...>::value                                   \
  auto name(Args&&... args) {                                                              \
    return ::ym::internal::call_with_token(                                                \
        [this](auto&&... a) { return this->name(std::forward<decltype(a)>(a)...); },       \
        std::forward<Args>(args)...);                                                      \
  }

}  // namespace ym
