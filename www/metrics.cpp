#include "www/metrics.hpp"

#include <fmt/format.h>

#include <array>
#include <map>
#include <mutex>
#include <optional>

#include "db/db.hpp"

namespace ym::www {

namespace {

struct Histogram {
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // per bucket (not cumulative)
  uint64_t count = 0;
  double sum = 0;
  void observe(double v) {
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (v <= bounds[i]) {
        ++counts[i];
        break;
      }
    }
    ++count;
    sum += v;
  }
};

// A label value in the text format: backslash, double quote and newline escaped.
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// Numbers as Prometheus reads them: integers as integers, others with enough digits.
std::string number(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)))
    return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, std::string_view name, std::string_view help, const Histogram& h) {
  family(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(h.bounds[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, h.count);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(h.sum), name, h.count);
}

}  // namespace

struct Metrics::State {
  std::mutex mu;
  int64_t running = 0;
  std::map<std::string, uint64_t> finished;  // by result name
  std::optional<int64_t> queued;
  std::map<int, uint64_t> http;  // by status
  Histogram claim{{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}};
  Histogram step{{0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200}};
};

Metrics::Metrics() : state_(std::make_unique<State>()) {}
Metrics::~Metrics() = default;

void Metrics::build_started() {
  std::lock_guard lock(state_->mu);
  ++state_->running;
}

void Metrics::build_finished(int results) {
  std::lock_guard lock(state_->mu);
  --state_->running;
  ++state_->finished[db::results::name(results)];
}

void Metrics::claim_latency(std::chrono::duration<double> d) {
  std::lock_guard lock(state_->mu);
  state_->claim.observe(std::max(0.0, d.count()));
}

void Metrics::step_finished(std::chrono::duration<double> d) {
  std::lock_guard lock(state_->mu);
  state_->step.observe(std::max(0.0, d.count()));
}

void Metrics::requests_queued(int64_t n) {
  std::lock_guard lock(state_->mu);
  state_->queued = n;
}

void Metrics::http_request(int status) {
  std::lock_guard lock(state_->mu);
  ++state_->http[status];
}

std::string Metrics::render(const db::Db& db) const {
  // Read outside our lock: the database's counters have locks of their own.
  db::PoolStats pool = db.pool_stats();
  std::vector<db::CacheStats> caches = db.cache_stats();
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    family(out, name, "counter", help);
    out += fmt::format("{} {}\n", name, v);
  };
  counter("yardmaster_db_calls_total", "Database calls run by the pool.", pool.calls);
  counter("yardmaster_db_retries_total", "Database attempts repeated after a transient error.",
          pool.retries);
  counter("yardmaster_db_reconnects_total", "Database connections reopened.", pool.reconnects);
  counter("yardmaster_db_commit_groups_total", "Group commits (single-writer databases).",
          pool.commit_groups);
  counter("yardmaster_db_grouped_writes_total", "Write calls committed by group commits.",
          pool.grouped_writes);
  family(out, "yardmaster_cache_hits_total", "counter",
         "Connector cache lookups answered from it.");
  for (const auto& c : caches) {
    out += fmt::format("yardmaster_cache_hits_total{{cache=\"{}\"}} {}\n", escape(c.name), c.hits);
  }
  family(out, "yardmaster_cache_misses_total", "counter", "Connector cache lookups that queried.");
  for (const auto& c : caches) {
    out +=
        fmt::format("yardmaster_cache_misses_total{{cache=\"{}\"}} {}\n", escape(c.name), c.misses);
  }

  std::lock_guard lock(state_->mu);
  const State& s = *state_;
  family(out, "yardmaster_builds_running", "gauge", "Builds of this master running now.");
  out += fmt::format("yardmaster_builds_running {}\n", s.running);
  family(out, "yardmaster_builds_finished_total", "counter",
         "Builds this master finished, by result.");
  for (const auto& [result, n] : s.finished) {
    out += fmt::format("yardmaster_builds_finished_total{{result=\"{}\"}} {}\n", escape(result), n);
  }
  if (s.queued) {
    family(out, "yardmaster_buildrequests_queued", "gauge",
           "Unclaimed, incomplete build requests of this master's builders at its last poll.");
    out += fmt::format("yardmaster_buildrequests_queued {}\n", *s.queued);
  }
  histogram(out, "yardmaster_claim_latency_seconds",
            "From a request's submission to this master's claim of it.", s.claim);
  histogram(out, "yardmaster_step_duration_seconds", "Steps this master ran.", s.step);
  family(out, "yardmaster_http_requests_total", "counter", "Requests the web server answered.");
  for (const auto& [status, n] : s.http) {
    out += fmt::format("yardmaster_http_requests_total{{code=\"{}\"}} {}\n", status, n);
  }
  return out;
}

}  // namespace ym::www
