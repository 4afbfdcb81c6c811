// What the web server's parts share (server.cpp, api.cpp, events.cpp): the request and response
// types, the error a handler throws for an HTTP status, query strings, and the limit on database
// calls. Everything here runs on the server's one io thread, so nothing needs a lock.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "db/async.hpp"
#include "db/db.hpp"
#include "www/server.hpp"

namespace ym::www {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
template <class T>
using Awaitable = boost::asio::awaitable<T>;

// Thrown by a handler: answered as {"error": message, "status": status}.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// A query string's parameters in their order, percent-decoded ('+' is a space).
// Throws HttpError 400 for a bad escape.
using Query = std::vector<std::pair<std::string, std::string>>;
Query parse_query(std::string_view query);
// Percent-decodes `text`; nullopt for a malformed escape or a NUL byte.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// A JSON response with this status.
Response json_response(int status, const nlohmann::json& body, const Request& req);
Response error_response(int status, const std::string& message, const Request& req);

// How many database calls the web server has in flight at once, so that the pool keeps threads
// for the master: a caller waits for a permit up to a deadline, then gets HttpError 503.
class Limiter {
 public:
  explicit Limiter(int permits) : free_(permits) {}
  class Permit {
   public:
    explicit Permit(Limiter* l) : limiter_(l) {}
    Permit(Permit&& o) noexcept : limiter_(std::exchange(o.limiter_, nullptr)) {}
    Permit& operator=(Permit&&) = delete;
    ~Permit() {
      if (limiter_) limiter_->release();
    }

   private:
    Limiter* limiter_;
  };
  Awaitable<Permit> acquire(std::chrono::steady_clock::time_point deadline);
  // No more hand-overs: the server is stopping.
  void close() { closed_ = true; }

 private:
  struct Waiter {
    boost::asio::steady_timer* timer;
    bool granted = false;
  };
  void release();
  int free_;
  bool closed_ = false;
  std::deque<Waiter*> waiters_;
};

// What every handler reaches.
struct Context {
  db::Db& db;
  const ServerOptions& options;
  Metrics& metrics;
  Limiter& limiter;
  boost::asio::io_context& io;
};

[[noreturn]] void rethrow_db_error(const db::Error& e);

// Runs one database call under the limiter and resumes on the server's thread with its value.
// Database errors become HttpErrors: a usage error 400, not found 404, an unreachable or busy
// database 503, anything else 500 (the detail is logged, not sent).
template <class Start>
auto db_call(Context& cx, const Start& start)
    -> Awaitable<typename internal::FutureValue<std::invoke_result_t<const Start&>>::type> {
  auto permit =
      co_await cx.limiter.acquire(std::chrono::steady_clock::now() + cx.options.io_timeout);
  try {
    co_return co_await ym::async(start(), boost::asio::use_awaitable);
  } catch (const db::Error& e) {
    rethrow_db_error(e);
  }
}

// The REST API's answer to a GET or POST of /api/v2/`path` (without the prefix; the streams,
// events and logs/N/raw, are answered by the server itself).
Awaitable<Response> handle_api(Context& cx, const Request& req, const std::string& path,
                               const Query& query);

// GET /api/v2/events: one poll of the database for every client (while any listens), its events
// fanned out to each client's queue; a client whose queue outgrows its limit is disconnected (its
// EventSource reconnects), so a slow reader costs memory up to that limit and nothing else.
class EventHub {
 public:
  explicit EventHub(Context& cx) : cx_(cx) {}
  // Streams events to the client on `stream` until it goes away or the server stops.
  Awaitable<void> serve(boost::beast::tcp_stream& stream, const Query& query);
  void stop();

 private:
  struct Subscriber;
  struct LogState {
    int64_t num_lines = 0;
    bool complete = false;
  };
  Awaitable<void> poll_loop();
  Awaitable<void> prime();
  Awaitable<void> tick();
  void publish(const std::string& event, const nlohmann::json& data);
  std::vector<std::shared_ptr<Subscriber>> live();

  Context& cx_;
  std::vector<std::weak_ptr<Subscriber>> subscribers_;
  bool polling_ = false;
  bool stopped_ = false;
  bool primed_ = false;
  int64_t last_buildid_ = 0;
  // Builds not yet finished: step id -> whether it was complete at the last poll.
  std::map<int64_t, std::map<int64_t, bool>> running_;
};

// A positive id in a path or a parameter; HttpError 400 naming `what` otherwise.
int64_t parse_id(std::string_view text, std::string_view what);

// The JSON of the records the API and the events share.
nlohmann::json build_json(const db::Build& b);
nlohmann::json step_json(const db::Step& s);

}  // namespace ym::www
