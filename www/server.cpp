#include "www/server.hpp"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "db/errors.hpp"
#include "www/assets.hpp"
#include "www/internal.hpp"

namespace ym::www {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using net::use_awaitable;

// ------------------------------------------------------------------------------ shared parts

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

Query parse_query(std::string_view query) {
  Query out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!key || !value) throw HttpError(400, "malformed query string (a bad % escape)");
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

namespace {

void common_headers(Response& res, const Request& req) {
  res.set(http::field::server, "yardmaster");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
}

}  // namespace

Response json_response(int status, const nlohmann::json& body, const Request& req) {
  Response res{static_cast<http::status>(status), req.version()};
  common_headers(res, req);
  res.set(http::field::content_type, "application/json");
  // Invalid UTF-8 from a stored value is replaced rather than failing the whole answer.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

Response error_response(int status, const std::string& message, const Request& req) {
  return json_response(status, {{"error", message}, {"status", status}}, req);
}

void rethrow_db_error(const db::Error& e) {
  switch (e.category()) {
    case db::ErrorCategory::kUsage:
      throw HttpError(400, e.what());
    case db::ErrorCategory::kNotFound:
      throw HttpError(404, e.what());
    case db::ErrorCategory::kConnection:
    case db::ErrorCategory::kTransient:
    case db::ErrorCategory::kShutdown:
    case db::ErrorCategory::kCancelled:
      spdlog::warn("web: a database call failed: {}", e.what());
      throw HttpError(503, "the database is not available right now; try again");
    default:
      spdlog::error("web: a database call failed: {}", e.what());
      throw HttpError(500, "internal error (see the master's log)");
  }
}

Awaitable<Limiter::Permit> Limiter::acquire(std::chrono::steady_clock::time_point deadline) {
  if (free_ > 0 && waiters_.empty()) {
    --free_;
    co_return Permit(this);
  }
  net::steady_timer timer(co_await net::this_coro::executor, deadline);
  Waiter w{&timer};
  waiters_.push_back(&w);
  // A destroyed frame (the server stopping) must not leave itself in the queue.
  struct Unlink {
    Limiter* l;
    Waiter* w;
    ~Unlink() { std::erase(l->waiters_, w); }
  } unlink{this, &w};
  boost::system::error_code ec;
  co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
  if (!w.granted) {
    throw HttpError(503, "the server is busy (too many database calls waiting); try again");
  }
  co_return Permit(this);
}

void Limiter::release() {
  if (!closed_ && !waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->granted = true;  // the permit passes to it
    w->timer->cancel();
    return;
  }
  ++free_;
}

std::string read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(
        fmt::format("cannot read the force token file {} ([www] force_token_file)", file.string()));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  const char* ws = " \t\r\n";
  size_t b = token.find_first_not_of(ws);
  if (b == std::string::npos) {
    throw std::runtime_error(
        fmt::format("the force token file {} is empty; put a secret in it", file.string()));
  }
  token = token.substr(b, token.find_last_not_of(ws) - b + 1);
  return token;
}

ServerOptions options_from_config(const master::MasterConfig& config) {
  ServerOptions o;
  o.listen = config.www->listen;
  o.base_url = config.www->base_url;
  if (config.www->force_token_file) o.force_token = read_token_file(*config.www->force_token_file);
  for (const auto& s : config.schedulers) {
    if (s.type == master::SchedulerType::kForce) o.force_schedulers.push_back(s);
  }
  return o;
}

// ------------------------------------------------------------------------------ the server

struct Server::Impl {
  Impl(db::Db& db, ServerOptions o, std::shared_ptr<Metrics> m)
      : db(db),
        options(std::move(o)),
        metrics(m ? std::move(m) : std::make_shared<Metrics>()),
        limiter(std::max(1, options.max_db_calls)),
        io(std::make_unique<net::io_context>(1)),
        cx{db, options, *metrics, limiter, *io},
        hub(cx),
        acceptor(std::make_unique<tcp::acceptor>(*io)) {}

  db::Db& db;
  ServerOptions options;
  std::shared_ptr<Metrics> metrics;
  Limiter limiter;
  // Declared after what the handlers reach and destroyed first, with every coroutine frame in it.
  std::unique_ptr<net::io_context> io;
  Context cx;
  EventHub hub;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  std::mutex ended_mu;
  std::condition_variable ended_cv;
  bool ended = false;      // run() has returned (guarded by ended_mu)
  bool abandoned = false;  // stop() gave up waiting: the io_context must outlive its callers
  int connections = 0;
  std::set<beast::tcp_stream*> streams;
  bool stopping = false;

  Awaitable<void> accept_loop();
  Awaitable<void> session(tcp::socket socket);
  Awaitable<bool> answer(beast::tcp_stream& stream, const Request& req);
  Awaitable<void> raw_log(beast::tcp_stream& stream, const Request& req, int64_t logid,
                          bool inline_view);
  Awaitable<Response> metrics_response(const Request& req);
  Response static_file(const Request& req, std::string_view path);
};

Server::Server(db::Db& db, ServerOptions options, std::shared_ptr<Metrics> metrics)
    : impl_(std::make_unique<Impl>(db, std::move(options), std::move(metrics))) {
  auto& a = *impl_->acceptor;
  const auto& listen = impl_->options.listen;
  boost::system::error_code ec;
  std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("web: cannot listen on {}:{}: '{}' is not an IP address",
                                         listen.host, listen.port, host));
  }
  tcp::endpoint ep(address, listen.port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("web: cannot listen on {}:{}: {}", listen.host, listen.port, ec.message()));
  }
  port_ = a.local_endpoint().port();
}

Server::~Server() {
  stop();
  impl_->acceptor.reset();
  if (impl_->abandoned) {
    // Something still waited when stop() gave up on it (a database call the pool is still
    // retrying): its answer will be posted to this io_context, which must then still exist.
    // Nothing runs it any more; the memory is the price of not crashing.
    (void)impl_->io.release();
    (void)impl_.release();
    return;
  }
  impl_->io.reset();
}

std::string Server::address() const {
  if (!impl_->options.base_url.empty()) return impl_->options.base_url;
  const auto& h = impl_->options.listen.host;
  bool v6 = h.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/", v6 ? "[" : "", h, v6 ? "]" : "", port_);
}

void Server::start() {
  auto* impl = impl_.get();
  net::co_spawn(*impl->io, impl->accept_loop(), net::detached);
  impl->thread = std::thread([impl] {
    // The master's signals belong to its own thread.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    // run() returns once the accept loop has ended (stop()) and nothing else is left.
    impl->io->run();
    std::lock_guard lock(impl->ended_mu);
    impl->ended = true;
    impl->ended_cv.notify_all();
  });
}

void Server::stop() {
  auto* impl = impl_.get();
  if (!impl->thread.joinable()) return;
  net::post(*impl->io, [impl] {
    impl->stopping = true;
    impl->limiter.close();
    impl->hub.stop();
    boost::system::error_code ignored;
    impl->acceptor->close(ignored);
    for (auto* s : impl->streams) s->socket().close(ignored);
  });
  // The handlers above close everything. What is still in flight (a database call) is waited
  // for: its answer comes back through this io_context, whose run() returns once nothing is left
  // to do. Stopping it earlier and destroying it would leave that answer a dangling executor.
  {
    std::unique_lock lock(impl->ended_mu);
    if (!impl->ended_cv.wait_for(lock, std::chrono::seconds(10), [impl] { return impl->ended; })) {
      spdlog::warn("web: a request still waits after 10 s; stopping without it");
      impl->abandoned = true;
      net::post(*impl->io, [impl] { impl->io->stop(); });
    }
  }
  impl->thread.join();
}

Awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(net::redirect_error(use_awaitable, ec));
    if (stopping || !acceptor->is_open()) co_return;
    if (ec) continue;  // e.g. the peer reset before we accepted: nothing to answer
    net::co_spawn(*io, session(std::move(socket)), net::detached);
  }
}

Awaitable<void> Server::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  streams.insert(&stream);
  ++connections;
  struct Leave {
    Impl* impl;
    beast::tcp_stream* s;
    ~Leave() {
      impl->streams.erase(s);
      --impl->connections;
    }
  } leave{this, &stream};
  beast::flat_buffer buffer;
  try {
    if (connections > options.max_connections) {
      Request dummy;
      dummy.version(11);
      dummy.keep_alive(false);
      auto res = error_response(503, "too many connections; try again", dummy);
      metrics->http_request(503);
      stream.expires_after(options.io_timeout);
      co_await http::async_write(stream, res, use_awaitable);
      co_return;
    }
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      stream.expires_after(options.io_timeout);
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == net::error::eof) co_return;
      if (ec) {
        // A request we cannot read whole (too large, malformed) gets an answer when it can.
        if (ec == http::error::body_limit || ec == http::error::header_limit ||
            ec.category() == make_error_code(http::error::bad_target).category()) {
          Request dummy;
          dummy.version(11);
          dummy.keep_alive(false);
          int status = ec == http::error::body_limit ? 413 : 400;
          auto res = error_response(status, fmt::format("bad request: {}", ec.message()), dummy);
          metrics->http_request(status);
          stream.expires_after(options.io_timeout);
          co_await http::async_write(stream, res, net::redirect_error(use_awaitable, ec));
        }
        co_return;
      }
      Request req = parser.release();
      bool keep = co_await answer(stream, req);
      if (!keep || !req.keep_alive() || stopping) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  } catch (const boost::system::system_error&) {
    // The client went away or timed out: nothing to answer.
  }
}

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

Awaitable<bool> Server::Impl::answer(beast::tcp_stream& stream, const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  std::string_view raw_query = q == std::string_view::npos ? "" : target.substr(q + 1);
  Response res;
  try {
    if (starts_with(raw_path, "/api/v2/") || raw_path == "/api/v2") {
      auto path = percent_decode(raw_path.substr(std::min<size_t>(raw_path.size(), 8)), false);
      if (!path) throw HttpError(400, "malformed path (a bad % escape)");
      while (!path->empty() && path->back() == '/') path->pop_back();
      Query query = parse_query(raw_query);
      if (*path == "events") {
        if (req.method() != http::verb::get) throw HttpError(405, "events take GET");
        metrics->http_request(200);
        co_await hub.serve(stream, query);
        co_return false;
      }
      if (starts_with(*path, "logs/") &&
          (path->ends_with("/raw") || path->ends_with("/raw_inline"))) {
        std::string_view p(*path);
        p.remove_prefix(5);
        bool inline_view = p.ends_with("/raw_inline");
        std::string_view id = p.substr(0, p.find('/'));
        if (p.substr(id.size()) != (inline_view ? "/raw_inline" : "/raw")) {
          throw HttpError(404, fmt::format("no such path: /api/v2/{}", *path));
        }
        if (req.method() != http::verb::get) throw HttpError(405, "logs take GET");
        co_await raw_log(stream, req, parse_id(id, "log id"), inline_view);
        co_return true;
      }
      res = co_await handle_api(cx, req, *path, query);
    } else if (raw_path == "/metrics") {
      if (req.method() != http::verb::get) throw HttpError(405, "/metrics takes GET");
      res = co_await metrics_response(req);
    } else {
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        throw HttpError(405, "the page takes GET");
      }
      res = static_file(req, raw_path);
    }
  } catch (const HttpError& e) {
    res = error_response(e.status(), e.what(), req);
    if (e.status() == 405) res.set(http::field::allow, "GET");
    if (e.status() == 401) res.set(http::field::www_authenticate, "Bearer");
  }
  metrics->http_request(res.result_int());
  stream.expires_after(options.io_timeout);
  co_await http::async_write(stream, res, use_awaitable);
  co_return true;
}

Response Server::Impl::static_file(const Request& req, std::string_view path) {
  const Asset* asset = find_asset(path);
  Response res{asset ? http::status::ok : http::status::not_found, req.version()};
  common_headers(res, req);
  if (!asset) {
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "404 not found\n";
  } else {
    res.set(http::field::content_type,
            boost::beast::string_view(asset->content_type.data(), asset->content_type.size()));
    // No script, style or frame from anywhere else: the page needs nothing but this server.
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    res.body() = std::string(asset->body);
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();
  return res;
}

Awaitable<Response> Server::Impl::metrics_response(const Request& req) {
  Response res{http::status::ok, req.version()};
  common_headers(res, req);
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = metrics->render(db);
  res.prepare_payload();
  co_return res;
}

Awaitable<void> Server::Impl::raw_log(beast::tcp_stream& stream, const Request& req, int64_t logid,
                                      bool inline_view) {
  auto log = co_await db_call(cx, [&] { return db.logs().get_log(logid); });
  if (!log) throw HttpError(404, fmt::format("unknown log {}", logid));
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::server, "yardmaster");
  head.set(http::field::content_type, "text/plain; charset=utf-8");
  head.set("X-Content-Type-Options", "nosniff");
  head.set(
      http::field::content_disposition,
      fmt::format("{}; filename=\"log-{}.txt\"", inline_view ? "inline" : "attachment", logid));
  head.keep_alive(req.keep_alive());
  head.chunked(true);
  http::response_serializer<http::empty_body> sr(head);
  stream.expires_after(options.io_timeout);
  co_await http::async_write_header(stream, sr, use_awaitable);
  metrics->http_request(200);
  // A chunk of lines at a time: the database call ends before the chunk is written, so a slow
  // reader holds no database thread and at most one chunk of memory.
  constexpr int64_t kChunkLines = 2000;
  int64_t total = log->num_lines;
  for (int64_t first = 0; first < total; first += kChunkLines) {
    std::string text;
    try {
      text = co_await db_call(
          cx, [&] { return db.logs().get_log_lines(logid, first, first + kChunkLines - 1); });
    } catch (const HttpError& e) {
      // The status is sent already: a cut connection is how the client learns the log is short.
      spdlog::warn("web: log {} stopped at line {}: {}", logid, first, e.what());
      throw boost::system::system_error(net::error::connection_aborted);
    }
    if (text.empty()) break;
    stream.expires_after(options.io_timeout);
    co_await net::async_write(stream, http::make_chunk(net::buffer(text)), use_awaitable);
  }
  stream.expires_after(options.io_timeout);
  co_await net::async_write(stream, http::make_chunk_last(), use_awaitable);
}

}  // namespace ym::www
