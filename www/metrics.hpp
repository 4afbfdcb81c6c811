// The master's numbers for /metrics, in Prometheus' text format (docs/web.md, "Metrics"): what
// the master counts as it builds (builds by result, claim latency, step durations, its queue),
// the web server's answers, and, at each scrape, the database pool's and caches' counters.
// Thread-safe: the master's io thread records, the web server's threads render.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ym::db {
class Db;
}

namespace ym::www {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A build started on this master / ended with `results` (a Buildbot result code).
  void build_started();
  void build_finished(int results);
  // From a request's submission to this master's claim of it.
  void claim_latency(std::chrono::duration<double> d);
  // A step this master ran, from its start to its end.
  void step_finished(std::chrono::duration<double> d);
  // Incomplete, unclaimed requests, as the master's last poll saw them.
  void requests_queued(int64_t n);
  // The web server answered a request with `status`.
  void http_request(int status);

  // Everything above, then the counters of `db`'s pool and caches.
  std::string render(const db::Db& db) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ym::www
