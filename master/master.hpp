// The CI master process: registers itself in the database, checks in periodically, expires
// peers that stopped checking in, runs the change sources and schedulers it holds (each on one
// master at a time), claims build requests of its builders and runs them on its local worker
// slots, reloads its configuration on SIGHUP, and stops gracefully on SIGTERM/SIGINT.
//
// Everything runs on one boost::asio::io_context thread, as C++20 coroutines; database calls run
// on the database pool and their results come back to that thread (see master/await.hpp), so the
// io thread never blocks on the database. Not thread-safe: use a Master from its io thread only.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "master/config.hpp"
#include "master/gitpoller.hpp"
#include "master/runner.hpp"
#include "master/schedulers.hpp"
#include "www/metrics.hpp"

namespace ym::master {

struct RunOptions {
  // Stop (exit 0) once no incomplete build request of this master's builders remains and no
  // build runs here; requests held by live peers are waited for, dead peers are expired first.
  bool until_idle = false;
  // Where the master counts what it does for /metrics (builds, claims, steps, its queue); null:
  // nothing is counted.
  std::shared_ptr<www::Metrics> metrics;
};

// Buildbot's worst_status: the result that dominates when combining two.
int worst_result(int a, int b);

// A one-shot, single-waiter wake-up for coroutines: wait_until() returns true when notify() was
// called (before or during the wait), false when the deadline passed.
class Event {
 public:
  explicit Event(boost::asio::io_context& io) : timer_(io) {}
  boost::asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<bool> wait_for(std::chrono::milliseconds d) {
    return wait_until(std::chrono::steady_clock::now() + d);
  }
  void notify() {
    set_ = true;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  bool set_ = false;
};

class Master {
 public:
  Master(boost::asio::io_context& io, db::Db& db, MasterConfig config, RunOptions options);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Runs the master on the io_context (on the calling thread) until it has stopped; returns the
  // process exit code (0 after a graceful stop).
  int run();

  // Begins a graceful stop, as SIGTERM does; a second call cancels running builds at once.
  void request_stop(const std::string& why);

  // Reads config.ini again and applies it, as SIGHUP does (see reconfigure()).
  void request_reconfig(const std::string& why);

 private:
  struct WorkerSlot {
    std::string name;
    int64_t id = 0;
    int slots = 1;
    int busy = 0;
  };
  // A builder of this master. Its configuration is replaced by a reload; a build keeps the one it
  // started with. A builder removed by a reload is dropped from builders_ (nothing more is claimed
  // for it) while its running builds still hold it.
  struct BuilderState {
    std::shared_ptr<const BuilderConfig> config;
    int64_t id = 0;
    std::vector<std::shared_ptr<WorkerSlot>> workers;
    bool removed = false;
  };
  enum class Stop { kNone, kCancel, kLost };
  struct Build {
    db::BuildRequest request;
    std::shared_ptr<BuilderState> builder;
    std::shared_ptr<const BuilderConfig> config;  // as the build started
    std::shared_ptr<WorkerSlot> worker;
    int64_t buildid = 0;
    int number = 0;
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<Process> process;
    Stop stop = Stop::kNone;
    // The database failed one of the build's writes beyond the retry budget: the build ends as
    // RETRY and its request is built again.
    std::optional<std::string> db_error;
    std::shared_ptr<LogWriter> writer;        // of the running step
    int final_results = db::results::kRetry;  // what finish_build recorded (for the metrics)
  };
  struct StepResult {
    int results = 0;
    std::string state;
  };
  // A change source, or a scheduler that runs (single-branch, periodic, nightly): held by one
  // master at a time (set_change_source_master / set_scheduler_master). Its loop claims it when
  // no active master holds it and runs it while this master does.
  struct Service {
    explicit Service(boost::asio::io_context& io) : wake(io), done(io) {}
    bool is_source = false;
    std::string name;
    int64_t id = 0;
    ChangeSourceConfig source;           // is_source
    SchedulerConfig scheduler;           // !is_source
    std::unique_ptr<GitPoller> poller;   // is_source
    std::unique_ptr<Scheduler> running;  // !is_source, while it runs
    bool owned = false;
    bool stop = false;      // its loop must end
    bool finished = false;  // its loop has ended
    bool failing = false;   // its last attempt failed (logged once per streak)
    Event wake;
    Event done;
    std::string label() const;
  };

  boost::asio::awaitable<void> main_task();
  boost::asio::awaitable<void> register_master();
  boost::asio::awaitable<void> configure_links();
  boost::asio::awaitable<void> checkin_loop();
  boost::asio::awaitable<void> checkin();
  boost::asio::awaitable<void> expire_peers();
  boost::asio::awaitable<void> claim_loop();
  boost::asio::awaitable<bool> poll();
  boost::asio::awaitable<bool> nothing_left();
  void start_build(db::BuildRequest request, std::shared_ptr<BuilderState> builder,
                   std::shared_ptr<WorkerSlot> worker);
  boost::asio::awaitable<void> run_build(std::shared_ptr<Build> build);
  boost::asio::awaitable<StepResult> run_step(std::shared_ptr<Build> build, const StepConfig& step,
                                              const std::vector<std::string>& env,
                                              const std::filesystem::path& workdir);
  boost::asio::awaitable<StepResult> run_trigger(std::shared_ptr<Build> build,
                                                 const StepConfig& step);
  boost::asio::awaitable<void> finish_build(std::shared_ptr<Build> build, int results,
                                            std::string summary);
  // Change sources and schedulers.
  boost::asio::awaitable<void> start_services(const MasterConfig& config);
  void spawn_service(std::shared_ptr<Service> svc);
  boost::asio::awaitable<void> service_loop(std::shared_ptr<Service> svc);
  boost::asio::awaitable<void> stop_service(std::shared_ptr<Service> svc);
  void services_lost();
  void wake_schedulers();
  // Reload: reads config.ini; a configuration with an error is refused (logged with its line) and
  // the running one stays. Otherwise new builders, workers, schedulers and change sources start,
  // removed ones stop (builds that run finish first), changed ones are replaced.
  boost::asio::awaitable<void> reconfigure();
  // Runs call() until the database takes it: a connection or transient failure (an outage
  // longer than the pool's retry budget) is retried with backoff, for as long as it lasts;
  // other errors reach the caller. Used for what a master must never leave half-written: the
  // end of a build and the release of a claim. A second stop signal makes it give up (the
  // next start, or a peer's take-over, then cleans up).
  template <class T>
  // (By reference: GCC 12 destroys a coroutine's by-value class parameters twice; the caller
  // keeps both alive in named variables across the co_await.)
  boost::asio::awaitable<T> persist(const std::string& what,
                                    const std::function<Future<T>()>& call);
  boost::asio::awaitable<void> release_claim(int64_t brid);
  void cancel_builds(Stop why);
  void wait_for_signals();
  void wait_for_hangup();
  std::shared_ptr<WorkerSlot> pick_worker(const BuilderState& builder);
  void build_worker_lists();
  std::string label(const Build& b) const;

  boost::asio::io_context& io_;
  db::Db& db_;
  MasterConfig config_;
  RunOptions options_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::signal_set signals_;
  boost::asio::signal_set hangup_;
  ChildReaper reaper_;
  Event stop_event_;     // a stop was requested
  Event wake_;           // the claim loop should poll now
  Event tick_;           // the check-in loop should end
  Event idle_;           // the last running build ended
  Event claim_done_;     // the claim loop has ended
  Event checkin_done_;   // the check-in loop has ended
  Event reconfig_done_;  // a reconfigure() has ended

  int64_t masterid_ = 0;
  // Since when this master's check-ins have succeeded without a break: a master that was cut off
  // from the database judges no peer until it has been back for an expiry interval, so that an
  // outage everyone shared does not make the first one back expire the others.
  std::chrono::system_clock::time_point connected_since_{};
  bool checkin_failed_ = false;
  // When the last check-in that worked was made (not when its answer came).
  std::chrono::steady_clock::time_point last_checkin_ok_{};
  // False once the last good check-in is so old that a peer may have taken this master over:
  // build output then waits until a check-in tells (see LogWriter::set_gate).
  bool may_write() const;
  std::vector<std::shared_ptr<WorkerSlot>> workers_;
  std::vector<std::shared_ptr<BuilderState>> builders_;
  std::map<int64_t, std::shared_ptr<BuilderState>> builder_by_id_;
  std::map<int64_t, std::shared_ptr<Build>> running_;  // by build request id
  std::vector<std::shared_ptr<Service>> services_;
  bool services_started_ = false;
  bool reconfiguring_ = false;   // a reconfigure() runs
  bool reconfig_again_ = false;  // another SIGHUP came meanwhile
  bool stop_requested_ = false;
  bool stopping_ = false;    // no more claims
  bool grace_over_ = false;  // cancel running builds now
  bool done_ = false;        // the loops must end
  int exit_code_ = 0;
};

}  // namespace ym::master
