// GET /api/v2/events: Server-Sent Events from the database (docs/web.md, "Live events").
//
// Events are what the database shows, not what this process did, so that a viewer next to
// several masters sees each one's builds. While any client listens, one loop polls: builds
// newer than the last seen ("new"), the running builds now finished ("finished"), their steps
// (new, finished), and the logs clients follow. Each client has a queue its own coroutine
// drains onto its socket.
#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <set>

#include "www/internal.hpp"

namespace ym::www {

namespace net = boost::asio;
using net::use_awaitable;
using nlohmann::json;

namespace {

// A client further behind than this is dropped; its EventSource reconnects and the page reloads
// what it shows.
constexpr size_t kMaxQueuedBytes = 4 << 20;
constexpr int64_t kMaxLinesPerEvent = 1000;
constexpr size_t kMaxFollowedLogs = 16;
constexpr int64_t kNewBuildsPerPoll = 200;

std::string format_event(std::string_view name, const json& data) {
  // One line of JSON: dump() escapes newlines inside strings.
  return fmt::format("event: {}\ndata: {}\n\n", name,
                     data.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

struct EventHub::Subscriber {
  explicit Subscriber(net::any_io_executor ex) : wake(ex) {}
  std::deque<std::string> queue;
  size_t bytes = 0;
  bool overflow = false;
  // Followed logs: lines sent so far (-1: not told the log's length yet), and whether the
  // log's completion was sent.
  std::map<int64_t, int64_t> logs;
  std::set<int64_t> completion_sent;
  net::steady_timer wake;

  void push(std::string event) {
    if (overflow) return;
    bytes += event.size();
    queue.push_back(std::move(event));
    if (bytes > kMaxQueuedBytes) overflow = true;
    wake.cancel();
  }
};

std::vector<std::shared_ptr<EventHub::Subscriber>> EventHub::live() {
  std::vector<std::shared_ptr<Subscriber>> out;
  std::erase_if(subscribers_, [&](const std::weak_ptr<Subscriber>& w) {
    auto s = w.lock();
    if (!s) return true;
    out.push_back(std::move(s));
    return false;
  });
  return out;
}

void EventHub::stop() {
  stopped_ = true;
  for (auto& s : live()) s->wake.cancel();
}

void EventHub::publish(const std::string& event, const json& data) {
  std::string text = format_event(event, data);
  for (auto& s : live()) s->push(text);
}

Awaitable<void> EventHub::serve(boost::beast::tcp_stream& stream, const Query& query) {
  auto sub = std::make_shared<Subscriber>(co_await net::this_coro::executor);
  for (const auto& [key, value] : query) {
    if (key != "logid") throw HttpError(400, fmt::format("unknown parameter '{}' for events", key));
    sub->logs[parse_id(value, "logid")] = -1;
  }
  if (sub->logs.size() > kMaxFollowedLogs) {
    throw HttpError(400, fmt::format("at most {} logid parameters", kMaxFollowedLogs));
  }
  // The status line and headers by hand: the body is a stream that ends when the connection does.
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: yardmaster\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n"
      "retry: 2000\n\n";
  stream.expires_after(cx_.options.io_timeout);
  co_await net::async_write(stream, net::buffer(head), use_awaitable);
  subscribers_.push_back(sub);
  if (!polling_) net::co_spawn(cx_.io, poll_loop(), net::detached);
  while (!stopped_ && !sub->overflow) {
    if (sub->queue.empty()) {
      sub->wake.expires_after(cx_.options.keep_alive);
      boost::system::error_code ec;
      co_await sub->wake.async_wait(net::redirect_error(use_awaitable, ec));
      if (stopped_ || sub->overflow) break;
      if (sub->queue.empty()) sub->queue.push_back(": keep-alive\n\n");
    }
    std::string batch;
    for (auto& e : sub->queue) batch += e;
    sub->queue.clear();
    sub->bytes = 0;
    stream.expires_after(cx_.options.io_timeout);
    co_await net::async_write(stream, net::buffer(batch), use_awaitable);
  }
  if (sub->overflow) spdlog::info("web: an event client fell too far behind; disconnected");
}

Awaitable<void> EventHub::poll_loop() {
  polling_ = true;
  struct Reset {
    EventHub* hub;
    ~Reset() {
      hub->polling_ = false;
      hub->primed_ = false;  // the next listener starts from what is there then
      hub->running_.clear();
    }
  } reset{this};
  net::steady_timer timer(co_await net::this_coro::executor);
  bool failing = false;
  while (!stopped_ && !live().empty()) {
    try {
      if (!primed_) co_await prime();
      co_await tick();
      failing = false;
    } catch (const std::exception& e) {
      // The database is away or busy: the next poll tries again; logged once per streak.
      if (!failing) spdlog::warn("web: events could not read the database: {}", e.what());
      failing = true;
    }
    timer.expires_after(cx_.options.event_poll);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
  }
}

Awaitable<void> EventHub::prime() {
  db::BuildFilter last;
  last.spec.order_by("id", true).take(1);
  auto rows = co_await db_call(cx_, [&] { return cx_.db.builds().get_builds(last); });
  last_buildid_ = rows.empty() ? 0 : rows[0].id;
  db::BuildFilter running;
  running.complete = false;
  running.spec.order_by("id", true).take(500);
  auto unfinished = co_await db_call(cx_, [&] { return cx_.db.builds().get_builds(running); });
  running_.clear();
  for (const auto& b : unfinished) {
    if (b.id > last_buildid_) continue;
    auto steps = co_await db_call(cx_, [&] { return cx_.db.steps().get_steps(b.id); });
    auto& known = running_[b.id];
    for (const auto& s : steps) known[s.id] = s.complete_at.has_value();
  }
  primed_ = true;
}

Awaitable<void> EventHub::tick() {
  // Builds that finished since the last poll, then their steps, then new builds.
  if (!running_.empty()) {
    db::FieldFilter ids{"id", db::FieldFilter::Op::kIn, {}};
    for (const auto& [id, steps] : running_) ids.values.push_back(id);
    db::BuildFilter f;
    f.spec.filters.push_back(std::move(ids));
    auto rows = co_await db_call(cx_, [&] { return cx_.db.builds().get_builds(f); });
    for (const auto& b : rows) {
      auto steps = co_await db_call(cx_, [&] { return cx_.db.steps().get_steps(b.id); });
      auto& known = running_[b.id];
      for (const auto& s : steps) {
        bool complete = s.complete_at.has_value();
        auto it = known.find(s.id);
        if (it == known.end()) {
          publish("step", {{"type", "new"}, {"step", step_json(s)}});
          if (complete) publish("step", {{"type", "finished"}, {"step", step_json(s)}});
        } else if (complete && !it->second) {
          publish("step", {{"type", "finished"}, {"step", step_json(s)}});
        }
        known[s.id] = complete;
      }
      if (b.complete_at) {
        publish("build", {{"type", "finished"}, {"build", build_json(b)}});
        running_.erase(b.id);
      }
    }
  }
  db::BuildFilter fresh;
  fresh.spec.where("id", last_buildid_, db::FieldFilter::Op::kGt)
      .order_by("id")
      .take(kNewBuildsPerPoll);
  auto rows = co_await db_call(cx_, [&] { return cx_.db.builds().get_builds(fresh); });
  for (const auto& b : rows) {
    last_buildid_ = b.id;
    publish("build", {{"type", "new"}, {"build", build_json(b)}});
    if (b.complete_at) {
      publish("build", {{"type", "finished"}, {"build", build_json(b)}});
    } else {
      running_[b.id];  // its steps are announced from the next poll on
    }
  }

  // Followed logs: one read of each log's length, one read of new lines per starting point.
  auto subs = live();
  std::set<int64_t> followed;
  for (const auto& s : subs) {
    for (const auto& [id, sent] : s->logs) followed.insert(id);
  }
  for (int64_t logid : followed) {
    auto log = co_await db_call(cx_, [&] { return cx_.db.logs().get_log(logid); });
    std::map<int64_t, std::string> lines;  // first line -> text up to the end
    for (const auto& s : subs) {
      auto it = s->logs.find(logid);
      if (it == s->logs.end()) continue;
      if (!log) {
        s->push(format_event("log",
                             {{"logid", logid}, {"error", fmt::format("unknown log {}", logid)}}));
        s->logs.erase(it);
        continue;
      }
      int64_t n = log->num_lines;
      int64_t& sent = it->second;
      bool tell_complete = log->complete && !s->completion_sent.contains(logid);
      if (sent >= n && !tell_complete) continue;
      int64_t first = sent < 0 ? n : std::max(sent, n - kMaxLinesPerEvent);
      if (first < n && !lines.contains(first)) {
        lines[first] =
            co_await db_call(cx_, [&] { return cx_.db.logs().get_log_lines(logid, first, n - 1); });
      }
      s->push(format_event("log", {{"logid", logid},
                                   {"firstline", first},
                                   {"content", first < n ? lines[first] : std::string()},
                                   {"num_lines", n},
                                   {"complete", log->complete}}));
      sent = n;
      if (log->complete) s->completion_sent.insert(logid);
    }
  }
}

}  // namespace ym::www
