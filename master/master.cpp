#include "master/master.hpp"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "master/await.hpp"

extern char** environ;

// Boost 1.74's awaitable frames pair a class operator new with a sized operator delete that GCC 12
// mistakes for a mismatch (a false positive, reported for every coroutine of this file).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ym::master {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
namespace results = db::results;

int worst_result(int a, int b) { return results::worst(a, b); }

awaitable<bool> Event::wait_until(Clock::time_point deadline) {
  if (!set_) {
    timer_.expires_at(deadline);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  bool was = set_;
  set_ = false;
  co_return was;
}

namespace {

// The most unclaimed requests the queue gauge counts (a bigger backlog shows as this many).
constexpr int64_t kQueueCountCap = 10000;

constexpr std::chrono::milliseconds kMinPollGap{100};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGKILL:
      return "SIGKILL";
    case SIGHUP:
      return "SIGHUP";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "";
  }
}

std::string seconds_text(std::chrono::milliseconds d) {
  return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

// An environment variable name from a property name ("build-type" -> "build_type").
std::string env_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out;
}

std::string property_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// One id as a list. (A braced list inside a co_await expression would need its backing array
// kept in the coroutine frame, which GCC 12 refuses.)
std::vector<int64_t> one(int64_t id) { return std::vector<int64_t>(1, id); }

// The "NAME=VALUE" lines appended to `file` after its first `offset` bytes (advanced past the
// last complete line). Names are identifiers of properties: empty names and over-long lines are
// skipped, as are values that are not UTF-8 (they could not be stored).
std::vector<std::pair<std::string, std::string>> read_step_properties(
    const std::filesystem::path& file, size_t& offset) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(file, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: the step may still be writing it
    offset += line.size() + 1;
    size_t eq = line.find('=');
    if (eq == 0 || eq == std::string::npos || eq > 256 || line.size() > 64 * 1024) continue;
    if (!db::is_valid_utf8(line)) continue;
    out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

std::string hostname() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "localhost";
  return host;
}

}  // namespace

Master::Master(asio::io_context& io, db::Db& db, MasterConfig config, RunOptions options)
    : io_(io),
      db_(db),
      config_(std::move(config)),
      options_(options),
      signals_(io, SIGTERM, SIGINT),
      hangup_(io, SIGHUP),
      reaper_(io),
      stop_event_(io),
      wake_(io),
      tick_(io),
      idle_(io),
      claim_done_(io),
      checkin_done_(io),
      reconfig_done_(io) {
  for (const auto& w : config_.workers) {
    auto slot = std::make_shared<WorkerSlot>();
    slot->name = w.name;
    slot->slots = w.slots;
    workers_.push_back(std::move(slot));
  }
  for (const auto& b : config_.builders) {
    auto state = std::make_shared<BuilderState>();
    state->config = std::make_shared<const BuilderConfig>(b);
    builders_.push_back(std::move(state));
  }
  build_worker_lists();
}

void Master::build_worker_lists() {
  for (auto& b : builders_) {
    b->workers.clear();
    for (const auto& name : b->config->workers) {
      for (auto& w : workers_) {
        if (w->name == name) b->workers.push_back(w);
      }
    }
  }
}

Master::~Master() = default;

int Master::run() {
  work_.emplace(io_.get_executor());
  wait_for_signals();
  wait_for_hangup();
  asio::co_spawn(io_, main_task(), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::critical("the master stopped on an error: {}", x.what());
      }
      exit_code_ = 1;
    }
    done_ = true;
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    hangup_.cancel(ignored);
    reaper_.close();
    work_.reset();
  });
  io_.run();
  return exit_code_;
}

void Master::request_stop(const std::string& why) {
  if (!stop_requested_) {
    stop_requested_ = true;
    if (running_.empty()) {
      spdlog::info("{}: stopping", why);
    } else {
      spdlog::info(
          "{}: stopping; no new builds are claimed, the {} running build(s) get {} to "
          "finish",
          why, running_.size(), format_duration(config_.grace_period));
    }
    stop_event_.notify();
    return;
  }
  if (!grace_over_ && !running_.empty()) {
    spdlog::warn("{} again: cancelling the running builds now", why);
  }
  grace_over_ = true;
  // Output that waits for the database (see may_write) is not waited for any more.
  for (auto& [brid, build] : running_) {
    if (build->writer && !may_write()) build->writer->discard();
  }
  idle_.notify();
}

void Master::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    request_stop(std::string("received ") + signal_name(sig));
    wait_for_signals();
  });
}

// SIGHUP never stops the master (nor its steps, which run in process groups of their own): it
// reloads the configuration.
void Master::wait_for_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    request_reconfig("received SIGHUP");
    wait_for_hangup();
  });
}

void Master::request_reconfig(const std::string& why) {
  if (stop_requested_ || done_) {
    spdlog::info("{}: the master is stopping; the configuration is not reloaded", why);
    return;
  }
  if (!services_started_) {
    spdlog::info("{}: the master is still starting; reloading once it runs", why);
    reconfig_again_ = true;
    return;
  }
  if (reconfiguring_) {
    // After the reload that runs: the file may have changed again meanwhile.
    reconfig_again_ = true;
    return;
  }
  spdlog::info("{}: reloading {}", why, config_.file.string());
  reconfiguring_ = true;
  asio::co_spawn(io_, reconfigure(), [this](std::exception_ptr e) {
    reconfiguring_ = false;
    reconfig_done_.notify();
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error(
            "reloading the configuration failed: {}; what was applied stays, the "
            "rest is applied by the next SIGHUP",
            x.what());
      }
    }
    if (reconfig_again_) {
      reconfig_again_ = false;
      request_reconfig("another SIGHUP came during the reload");
    }
  });
}

// ----------------------------------------------------------------------------- lifecycle

awaitable<void> Master::main_task() {
  co_await register_master();
  if (!stop_requested_) {
    asio::co_spawn(io_, checkin_loop(), [this](std::exception_ptr e) {
      if (e) spdlog::error("the check-in loop ended on an error");
      checkin_done_.notify();
    });
    asio::co_spawn(io_, claim_loop(), [this](std::exception_ptr e) {
      if (e) spdlog::error("the claim loop ended on an error");
      claim_done_.notify();
    });
    co_await start_services(config_);
    services_started_ = true;
    if (reconfig_again_) {
      reconfig_again_ = false;
      request_reconfig("a SIGHUP came during the start");
    }
    while (!stop_requested_) co_await stop_event_.wait_until(Clock::time_point::max());

    // 1. No new claims, changes or buildsets. The claim loop may be inside a claim: let it end
    // first. Change sources and schedulers end their pass; their holds go with this master's
    // deactivation at the end, so that a peer takes them over at once.
    stopping_ = true;
    wake_.notify();
    co_await claim_done_.wait_until(Clock::time_point::max());
    while (reconfiguring_) co_await reconfig_done_.wait_until(Clock::time_point::max());
    for (auto svc : std::vector<std::shared_ptr<Service>>(services_)) co_await stop_service(svc);
    services_.clear();

    // 2. Running builds get the grace period (check-ins go on meanwhile, so that no peer expires
    // this master while it drains), then are cancelled and their requests released.
    auto deadline = Clock::now() + config_.grace_period;
    if (!running_.empty()) {
      spdlog::info("waiting up to {} for {} running build(s)",
                   format_duration(config_.grace_period), running_.size());
    }
    while (!running_.empty() && !grace_over_ && Clock::now() < deadline) {
      co_await idle_.wait_until(deadline);
    }
    if (!running_.empty()) {
      spdlog::warn("cancelling {} running build(s); their requests go back to the queue",
                   running_.size());
      cancel_builds(Stop::kCancel);
      while (!running_.empty()) co_await idle_.wait_until(Clock::time_point::max());
    }

    // 3. The check-in loop must not mark this master active again after it deactivates.
    done_ = true;
    tick_.notify();
    co_await checkin_done_.wait_until(Clock::time_point::max());
  }
  co_await await(db_.masters().set_master_state(masterid_, false));
  spdlog::info("master {} (id {}) is inactive; stopped", config_.name, masterid_);
}

awaitable<void> Master::register_master() {
  masterid_ = co_await await(db_.masters().find_master_id(config_.name));
  // A previous run under this name that ended without stopping (killed, crashed) may have left
  // claims, links and unfinished builds: release them the way a peer would have.
  // Deactivation is the same take-over a peer performs, in one transaction: claims released,
  // unfinished builds ended as RETRY.
  bool was_active = co_await await(db_.masters().set_master_state(masterid_, false));
  if (was_active) {
    spdlog::warn(
        "master {} (id {}) was still marked active: its previous run did not stop "
        "cleanly; its claims were released and its unfinished builds ended as retry",
        config_.name, masterid_);
  }
  auto registering = Clock::now();
  co_await await(db_.masters().set_master_state(masterid_, true));
  connected_since_ = std::chrono::system_clock::now();
  last_checkin_ok_ = registering;
  co_await configure_links();
  std::vector<std::string> names;
  for (const auto& b : builders_) names.push_back(b->config->name);
  int slots = 0;
  for (const auto& w : workers_) slots += w->slots;
  spdlog::info("master {} (id {}) is active on {}: builders {}; {} worker(s), {} slot(s)",
               config_.name, masterid_, db_.describe(), fmt::join(names, ", "), workers_.size(),
               slots);
}

// Links (builder and worker records of this master) are deleted whenever the master is
// deactivated, so they are written at every (re-)activation.
// (Over copies of the lists: a reload may change them while this waits on the database.)
awaitable<void> Master::configure_links() {
  auto builders = builders_;
  for (auto& b : builders) {
    if (b->removed) continue;
    auto id = co_await await(db_.builders().find_builder_id(b->config->name, true));
    b->id = *id;
    if (b->removed) continue;
    builder_by_id_[b->id] = b;
    co_await await(db_.builders().add_builder_master(b->id, masterid_));
    if (b->config->description) {
      co_await await(db_.builders().update_builder_info(b->id, b->config->description));
    }
  }
  auto workers = workers_;
  for (auto& w : workers) {
    w->id = co_await await(db_.workers().find_worker_id(w->name));
    std::vector<int64_t> builderids;
    for (const auto& b : builders_) {
      if (b->id != 0 && std::find(b->workers.begin(), b->workers.end(), w) != b->workers.end()) {
        builderids.push_back(b->id);
      }
    }
    co_await await(db_.workers().worker_configured(w->id, masterid_, builderids));
    // (Built outside the co_await: GCC 12 cannot keep this initializer's temporaries in a
    // coroutine frame.)
    nlohmann::json info = nlohmann::json::object();
    info["host"] = hostname();
    info["slots"] = w->slots;
    info["basedir"] = config_.basedir.string();
    co_await await(db_.workers().worker_connected(w->id, masterid_, std::move(info)));
  }
}

// ----------------------------------------------------------------------------- check-ins

awaitable<void> Master::checkin_loop() {
  while (!done_) {
    co_await tick_.wait_for(config_.checkin_interval);
    if (done_) break;
    try {
      co_await checkin();
    } catch (const std::exception& e) {
      if (!checkin_failed_) {
        spdlog::warn("check-in failed: {}; trying again every {}", e.what(),
                     format_duration(config_.checkin_interval));
      }
      checkin_failed_ = true;
    }
  }
}

bool Master::may_write() const {
  return Clock::now() - last_checkin_ok_ < config_.expiry - config_.checkin_interval;
}

awaitable<void> Master::checkin() {
  // What a check-in proves is that the database held this master active at some moment after
  // the call was made, with last_active stamped when it was made: peers count their expiry
  // from there, so the gate does too. The answer may come much later (the process was frozen,
  // the reply waited in the network) and say "still active" about a moment long past; counting
  // from its arrival would open the gate on builds a peer has meanwhile taken over.
  auto sent = Clock::now();
  bool reactivated = co_await await(db_.masters().set_master_state(masterid_, true));
  if (reactivated) {
    // Before the gate opens: the output still waiting belongs to builds a peer has ended.
    for (auto& [brid, build] : running_) {
      if (build->writer) build->writer->discard();
    }
  }
  last_checkin_ok_ = sent;
  for (auto& [brid, build] : running_) {
    if (build->writer) build->writer->gate_opened();
  }
  if (checkin_failed_) {
    checkin_failed_ = false;
    connected_since_ = std::chrono::system_clock::now();
    spdlog::info("check-in works again; peers are judged from {} on",
                 format_duration(config_.expiry));
  }
  if (reactivated) {
    // A peer found our check-in too old and took over: our claims are gone and the requests
    // may already run elsewhere. Our builds must not complete them.
    spdlog::error(
        "this master had been marked inactive by a peer (no check-in within {}); its "
        "claims were released. Cancelling its {} running build(s) (their requests are "
        "rebuilt) and registering again",
        format_duration(config_.expiry), running_.size());
    cancel_builds(Stop::kLost);
    services_lost();
    co_await configure_links();
  }
  co_await expire_peers();
}

awaitable<void> Master::expire_peers() {
  auto masters = co_await await(db_.masters().get_masters());
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto back = std::chrono::floor<std::chrono::seconds>(connected_since_);
  for (const auto& m : masters) {
    if (m.id == masterid_ || !m.active) continue;
    auto silent = now - m.last_active;
    if (silent <= config_.expiry || now - back <= config_.expiry) continue;
    // Exactly one caller sees the flag change. The take-over itself (claims released,
    // unfinished builds ended as RETRY) is that one transaction.
    bool took = co_await await(db_.masters().set_master_state(m.id, false));
    if (!took) continue;
    spdlog::warn(
        "master {} (id {}) has not checked in for {} s (expiry {}): marked it inactive; "
        "its build requests were released and its unfinished builds ended as retry",
        m.name, m.id, silent.count(), format_duration(config_.expiry));
    wake_.notify();
  }
}

// ----------------------------------------------------------------------------- durable writes

template <class T>
awaitable<T> Master::persist(const std::string& what, const std::function<Future<T>()>& call) {
  auto backoff = std::chrono::milliseconds(100);
  asio::steady_timer timer(io_);
  for (int failures = 0;; ++failures) {
    std::string error;
    try {
      co_return co_await await(call());
    } catch (const db::Error& e) {
      // Only the database being away is waited out; a refusal (NotFound, NotClaimedError, ...)
      // is an answer.
      if (!e.transient() && e.category() != db::ErrorCategory::kConnection) throw;
      error = e.what();
    }
    if (grace_over_ && stop_requested_) {
      throw db::ConnectionFailed(
          fmt::format("gave up {} at the second stop signal: {}", what, error));
    }
    if (failures == 0 || failures % 10 == 0) {
      spdlog::warn("{} failed ({} time(s)): {}; trying again until the database takes it", what,
                   failures + 1, error);
    }
    timer.expires_after(backoff);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
  }
}

// A claim whose outcome this master does not know (the claim call failed on the connection) or
// that it will not build: released for good, however long the database takes to come back, so
// that no request stays claimed by a live master that is not building it.
awaitable<void> Master::release_claim(int64_t brid) {
  std::string what = fmt::format("releasing the claim on request {}", brid);
  std::function<Future<void>()> call = [this, brid] {
    return db_.buildrequests().unclaim_build_requests(one(brid), masterid_);
  };
  co_await persist<void>(what, call);
}

// ----------------------------------------------------------------------------- claiming

awaitable<void> Master::claim_loop() {
  // Finished builds wake the loop; with many slots and a large backlog that could mean a query
  // per finished build. Polls start at least this far apart, so that the claim query (a scan of
  // the pending requests of our builders on some backends) stays a small share of the database.
  const auto min_gap = std::min<std::chrono::milliseconds>(config_.poll_interval, kMinPollGap);
  asio::steady_timer throttle(io_);
  auto last_poll = Clock::time_point{};
  while (!stopping_) {
    if (Clock::now() < last_poll + min_gap) {
      throttle.expires_at(last_poll + min_gap);
      boost::system::error_code ec;
      co_await throttle.async_wait(asio::redirect_error(use_awaitable, ec));
      if (stopping_) break;
    }
    last_poll = Clock::now();
    bool again = false;
    try {
      again = co_await poll();
      if (!stopping_ && !again && options_.until_idle && running_.empty() &&
          co_await nothing_left()) {
        request_stop("no build request of this master's builders is left (--until-idle)");
        break;
      }
    } catch (const std::exception& e) {
      spdlog::warn("looking for build requests failed: {}; trying again in {}", e.what(),
                   format_duration(config_.poll_interval));
    }
    if (stopping_) break;
    if (!again) co_await wake_.wait_for(config_.poll_interval);
  }
}

std::shared_ptr<Master::WorkerSlot> Master::pick_worker(const BuilderState& builder) {
  std::shared_ptr<WorkerSlot> best;
  for (const auto& w : builder.workers) {
    if (w->busy >= w->slots) continue;
    // The least loaded worker, relative to its size.
    if (!best || w->busy * best->slots < best->busy * w->slots) best = w;
  }
  return best;
}

// One round: the oldest, highest-priority unclaimed requests of the builders that have a free
// slot, claimed one at a time. Returns whether to look again at once (something was claimed or
// lost to a faster peer, and slots are still free).
awaitable<bool> Master::poll() {
  std::vector<db::Value> ids;
  for (auto& b : builders_) {
    if (b->id != 0 && pick_worker(*b)) ids.push_back(b->id);
  }
  if (ids.empty()) co_return false;
  int free_slots = 0;
  for (const auto& w : workers_) free_slots += std::max(0, w->slots - w->busy);

  db::BuildRequestFilter filter;
  filter.claimed = db::ClaimFilter::unclaimed();
  filter.complete = false;
  filter.spec.filters.push_back({"builderid", db::FieldFilter::Op::kIn, ids});
  filter.spec.limit = 2 * free_slots;  // default order: priority, then age
  auto requests = co_await await(db_.buildrequests().get_build_requests(filter));
  if (options_.metrics) {
    // The page the poll read is the whole queue when it is not full; otherwise count (capped).
    int64_t queued = static_cast<int64_t>(requests.size());
    if (queued >= *filter.spec.limit) {
      db::BuildRequestFilter count = filter;
      count.spec.limit = kQueueCountCap;
      queued = static_cast<int64_t>(
          (co_await await(db_.buildrequests().get_build_requests(count))).size());
    }
    options_.metrics->requests_queued(queued);
  }

  bool progress = false;
  for (auto& r : requests) {
    if (stopping_) break;
    // A build of this request is still ending here (this master was expired and its claim
    // released meanwhile): its clean-up must not meet a new claim of ours.
    if (running_.count(r.buildrequestid)) continue;
    auto it = builder_by_id_.find(r.builderid);
    if (it == builder_by_id_.end()) continue;
    // Held across the claim: a reload may drop the builder meanwhile.
    std::shared_ptr<BuilderState> builder = it->second;
    std::shared_ptr<WorkerSlot> worker = pick_worker(*builder);
    if (!worker) continue;
    ++worker->busy;  // reserved while the claim is in flight
    bool claimed = false;
    bool unknown = false;
    std::string error;
    try {
      co_await await(db_.buildrequests().claim_build_requests(one(r.buildrequestid), masterid_));
      claimed = true;
      if (options_.metrics) {
        options_.metrics->claim_latency(std::chrono::system_clock::now() - r.submitted_at);
      }
    } catch (const db::AlreadyClaimedError&) {
      progress = true;  // another master was faster: normal
    } catch (const db::NotFound&) {
      // Deleted meanwhile.
    } catch (const db::Error& e) {
      // The database went away: the claim may have been made before it did.
      unknown = e.transient() || e.category() == db::ErrorCategory::kConnection;
      if (!unknown) {
        --worker->busy;
        throw;
      }
      error = e.what();
    } catch (...) {
      --worker->busy;
      throw;
    }
    if (unknown) {
      spdlog::warn("claiming request {} failed: {}; releasing it in case the claim was made",
                   r.buildrequestid, error);
      co_await release_claim(r.buildrequestid);
      --worker->busy;
      throw db::ConnectionFailed("claiming build requests failed: " + error);
    }
    --worker->busy;  // start_build takes the slot for good
    if (!claimed) continue;
    if (stopping_ || builder->removed) {
      co_await release_claim(r.buildrequestid);
      if (stopping_) break;
      continue;
    }
    start_build(std::move(r), builder, worker);
    progress = true;
  }
  bool free_left = false;
  for (auto& b : builders_) free_left = free_left || (b->id != 0 && pick_worker(*b));
  co_return progress&& free_left;
}

awaitable<bool> Master::nothing_left() {
  std::vector<db::Value> ids;
  for (auto& b : builders_) ids.push_back(b->id);
  if (ids.empty()) co_return true;
  db::BuildRequestFilter filter;
  filter.complete = false;
  filter.spec.filters.push_back({"builderid", db::FieldFilter::Op::kIn, ids});
  filter.spec.limit = 1;
  auto left = co_await await(db_.buildrequests().get_build_requests(filter));
  co_return left.empty();
}

// ----------------------------------------------------------------------------- builds

std::string Master::label(const Build& b) const {
  if (b.number > 0) return fmt::format("{}/{}", b.config->name, b.number);
  return fmt::format("{} (request {})", b.config->name, b.request.buildrequestid);
}

void Master::start_build(db::BuildRequest request, std::shared_ptr<BuilderState> builder,
                         std::shared_ptr<WorkerSlot> worker) {
  auto build = std::make_shared<Build>();
  build->request = std::move(request);
  build->config = builder->config;
  build->builder = std::move(builder);
  build->worker = std::move(worker);
  build->started = Clock::now();
  ++build->worker->busy;
  int64_t brid = build->request.buildrequestid;
  running_[brid] = build;
  if (options_.metrics) options_.metrics->build_started();
  asio::co_spawn(io_, run_build(build), [this, build, brid](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("build {} could not be recorded: {}; releasing its request", label(*build),
                      x.what());
      }
      // Only a refusal that retrying cannot cure, or a second stop signal while the database
      // was away, gets here. One more try, so that the request is not held by a live master;
      // what fails now is cleaned up when this master restarts or a peer takes it over.
      ym::then_on(db_.builds().abandon_builds(brid, masterid_, results::kRetry,
                                              "retry: the master could not record the build"),
                  io_.get_executor(), [](Future<int> f) {
                    try {
                      f.get();
                    } catch (const std::exception& x) {
                      spdlog::error("releasing the request failed: {}", x.what());
                    }
                  });
    }
    --build->worker->busy;
    if (options_.metrics) options_.metrics->build_finished(build->final_results);
    running_.erase(brid);
    if (running_.empty()) idle_.notify();
    wake_.notify();
  });
}

awaitable<void> Master::run_build(std::shared_ptr<Build> build) {
  const auto& br = build->request;
  const BuilderConfig& bc = *build->config;
  int results = results::kSuccess;
  std::string summary;
  try {
    auto added = co_await await(db_.builds().add_build(build->builder->id, br.buildrequestid,
                                                       build->worker->id, masterid_, "starting"));
    build->buildid = added.id;
    build->number = added.number;
    spdlog::info("build {} started (build id {}, request {}, worker {})", label(*build), added.id,
                 br.buildrequestid, build->worker->name);
    auto workdir = config_.basedir / "builds" / bc.name / std::to_string(build->number);
    std::filesystem::create_directories(workdir);
    // Beside the work directory, not in it: a step may clone into an empty work directory.
    auto props_file = workdir.parent_path() / (std::to_string(build->number) + ".properties");

    // Properties: the buildset's (what `submit --property` or the scheduler gave), then what the
    // build knows.
    auto stamps = co_await await(db_.sourcestamps().get_source_stamps_for_build(build->buildid));
    db::Properties props = co_await await(db_.buildsets().get_buildset_properties(br.buildsetid));
    props["buildername"] = {bc.name, "Builder"};
    props["buildnumber"] = {build->number, "Build"};
    props["workername"] = {build->worker->name, "Worker"};
    props["builddir"] = {workdir.string(), "Worker"};
    props["master"] = {config_.name, "Master"};
    if (!stamps.empty()) {
      const auto& ss = stamps.front();
      if (ss.branch) props["branch"] = {*ss.branch, "Build"};
      if (ss.revision) {
        props["revision"] = {*ss.revision, "Build"};
        // What the build is of; a step that checks out something else says so through
        // $YM_PROPERTIES (below).
        props["got_revision"] = {*ss.revision, "Build"};
      }
      props["repository"] = {ss.repository, "Build"};
      props["project"] = {ss.project, "Build"};
      props["codebase"] = {ss.codebase, "Build"};
    }
    std::vector<Future<void>> writes;
    for (const auto& [name, p] : props) {
      writes.push_back(db_.builds().set_build_property(build->buildid, name, p.value, p.source));
    }
    for (auto& w : writes) co_await await(std::move(w));

    // The steps' environment: the master's, then the build's, then the builder's own.
    std::map<std::string, std::string> base;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      size_t eq = kv.find('=');
      if (eq != std::string_view::npos) base[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
    }
    base["YM_BUILDER"] = bc.name;
    base["YM_BUILD_NUMBER"] = std::to_string(build->number);
    base["YM_BUILD_ID"] = std::to_string(build->buildid);
    base["YM_BUILDREQUEST_ID"] = std::to_string(br.buildrequestid);
    base["YM_BUILDSET_ID"] = std::to_string(br.buildsetid);
    base["YM_WORKER"] = build->worker->name;
    base["YM_MASTER"] = config_.name;
    base["YM_BUILD_DIR"] = workdir.string();
    base["YM_PROPERTIES"] = props_file.string();
    // With several codebases, each stamp also as YM_REVISION_<CODEBASE> etc.
    for (const auto& ss : stamps) {
      if (ss.codebase.empty() || stamps.size() < 2) continue;
      std::string cb = env_name(ss.codebase);
      std::transform(cb.begin(), cb.end(), cb.begin(), ::toupper);
      if (ss.branch) base["YM_BRANCH_" + cb] = *ss.branch;
      if (ss.revision) base["YM_REVISION_" + cb] = *ss.revision;
      base["YM_REPOSITORY_" + cb] = ss.repository;
    }
    size_t props_read = 0;  // bytes of props_file already taken
    auto environment = [&] {
      auto vars = base;
      for (const auto& [name, p] : props) {
        vars["YM_PROP_" + env_name(name)] = property_text(p.value);
      }
      for (const char* key : {"branch", "revision", "repository", "project", "codebase"}) {
        auto it = props.find(key);
        if (it != props.end()) {
          std::string up = key;
          std::transform(up.begin(), up.end(), up.begin(), ::toupper);
          vars["YM_" + up] = property_text(it->second.value);
        }
      }
      for (const auto& [name, value] : bc.env) vars[name] = value;
      std::vector<std::string> env;
      for (const auto& [name, value] : vars) env.push_back(name + "=" + value);
      return env;
    };

    co_await await(db_.builds().set_build_state_string(build->buildid, "building"));
    std::string failed_step;
    for (const auto& step : bc.steps) {
      if (build->stop != Stop::kNone || build->db_error) break;
      if (results == results::kFailure || results == results::kException) {
        auto skipped = co_await await(db_.steps().add_step(build->buildid, step.name, "skipped"));
        // Started like any step (as Buildbot does), so that it has a start time.
        co_await await(db_.steps().start_step(skipped.id));
        co_await await(db_.steps().finish_step(skipped.id, results::kSkipped, false));
        continue;
      }
      StepResult r;
      auto step_started = Clock::now();
      if (!step.trigger.empty()) {
        r = co_await run_trigger(build, step);
      } else {
        auto env = environment();
        r = co_await run_step(build, step, env, workdir);
      }
      if (options_.metrics) options_.metrics->step_finished(Clock::now() - step_started);
      if (r.results != results::kSuccess && failed_step.empty()) failed_step = step.name;
      results = worst_result(results, r.results);
      // What the step set through $YM_PROPERTIES ("NAME=VALUE" lines) becomes build properties
      // (source: the step), seen by the later steps.
      auto set = read_step_properties(props_file, props_read);
      for (const auto& kv : set) {
        std::string source = "step " + step.name;
        nlohmann::json value = kv.second;
        co_await await(db_.builds().set_build_property(build->buildid, kv.first, value, source));
        props[kv.first] = {value, source};
      }
    }
    summary = failed_step.empty() ? std::string(results::name(results))
                                  : fmt::format("{}: step {}", results::name(results), failed_step);
  } catch (const db::Error& e) {
    if (e.transient() || e.category() == db::ErrorCategory::kConnection) {
      // The database was away for longer than the retry budget: nothing is wrong with the
      // build itself, so it ends as RETRY and its request is built again.
      build->db_error = e.what();
    } else {
      spdlog::error("build {}: {}", label(*build), e.what());
      results = results::kException;
      summary = std::string("exception: ") + e.what();
    }
  } catch (const std::exception& e) {
    spdlog::error("build {}: {}", label(*build), e.what());
    results = results::kException;
    summary = std::string("exception: ") + e.what();
  }
  co_await finish_build(build, results, summary);
}

awaitable<Master::StepResult> Master::run_step(std::shared_ptr<Build> build, const StepConfig& step,
                                               const std::vector<std::string>& env,
                                               const std::filesystem::path& workdir) {
  auto added = co_await await(db_.steps().add_step(build->buildid, step.name, "running"));
  co_await await(db_.steps().start_step(added.id));  // add_step leaves started_at NULL
  int64_t logid = co_await await(db_.logs().add_log(added.id, "stdio", "stdio", "s"));
  auto writer = std::make_shared<LogWriter>(io_, db_.logs(), logid);
  writer->set_gate([this] { return may_write(); });
  // A build cancelled because this master lost its claims writes no more output.
  if (build->stop == Stop::kLost) writer->discard();
  build->writer = writer;
  ProcessSpec spec{step.command, workdir, env, config_.timeout_of(*build->config)};
  // The outcome travels through a promise so that the coroutine waits on it like on any database
  // call (custom asio initiations holding this much state trip GCC 12's coroutine support).
  auto promise = std::make_shared<Promise<ProcessOutcome>>();
  auto finished = promise->get_future();
  build->process = Process::start(io_, reaper_, spec, writer, [promise](ProcessOutcome outcome) {
    promise->set_value(std::move(outcome));
  });
  // A cancel that arrived while the step was being added reaches the process now.
  if (build->stop != Stop::kNone) build->process->cancel();
  auto outcome = co_await await(std::move(finished));
  build->process.reset();
  build->writer.reset();
  // A master can be taken over only after a silence longer than `expiry - checkin_interval`
  // since this step began (it checked in before). A step that ran that long may belong to a
  // build the take-over has ended: its end is then not this master's to write.
  if (outcome.elapsed >= config_.expiry - config_.checkin_interval) {
    auto now_build = co_await await(db_.builds().get_build(build->buildid));
    if (!now_build || now_build->complete_at) {
      if (build->stop == Stop::kNone) build->stop = Stop::kLost;
      co_return StepResult{results::kCancelled, "cancelled: this master lost its claims"};
    }
  }
  std::string log_error;
  if (outcome.log_error) {
    try {
      std::rethrow_exception(outcome.log_error);
    } catch (const std::exception& e) {
      log_error = e.what();
    }
    // The writer stopped at its first failed append, so the log holds a prefix of the output;
    // it says which lines are missing, counted from what the database holds.
    std::string what = "reading the log of step " + step.name;
    std::function<Future<std::optional<db::Log>>()> read = [this, logid] {
      return db_.logs().get_log(logid);
    };
    auto stored = co_await persist<std::optional<db::Log>>(what, read);
    int64_t have = stored ? stored->num_lines : 0;
    if (have < writer->lines()) {
      std::string note =
          fmt::format("[yardmaster] output lines {} to {} of this step were not stored: {}\n",
                      have + 1, writer->lines(), log_error);
      what = "noting the gap in the log of step " + step.name;
      std::function<Future<std::optional<db::LineRange>>()> append = [this, logid, note] {
        return db_.logs().append_log(logid, note);
      };
      co_await persist<std::optional<db::LineRange>>(what, append);
    }
    build->db_error = "output not fully stored: " + log_error;
  }
  co_await await(db_.logs().finish_log(logid));
  if (writer->appends() > 4) {
    try {
      co_await await(db_.logs().compress_log(logid));
    } catch (const std::exception& e) {
      spdlog::warn("build {}: compressing the log of step {} failed: {}", label(*build), step.name,
                   e.what());
    }
  }

  StepResult r;
  if (!outcome.start_error.empty()) {
    r = {results::kException, outcome.start_error};
  } else if (outcome.cancelled) {
    r = {results::kCancelled, "cancelled"};
  } else if (outcome.timed_out) {
    r = {results::kFailure,
         "timed out after " + format_duration(config_.timeout_of(*build->config))};
  } else if (outcome.signal) {
    const char* name = signal_name(*outcome.signal);
    r = {results::kFailure,
         fmt::format("killed by signal {}{}{}", *outcome.signal, *name ? " " : "", name)};
  } else {
    int code = outcome.exit_code.value_or(-1);
    r = {code == 0 ? results::kSuccess : results::kFailure, fmt::format("exit code {}", code)};
  }
  if (!log_error.empty()) r = {results::kRetry, "output not fully stored: " + log_error};
  co_await await(db_.steps().set_step_state_string(added.id, r.state));
  co_await await(db_.steps().finish_step(added.id, r.results, false));
  spdlog::log(r.results == results::kSuccess ? spdlog::level::debug : spdlog::level::info,
              "build {} step {}: {} ({}, {} lines)", label(*build), step.name, r.state,
              seconds_text(outcome.elapsed), writer->lines());
  co_return r;
}

// A trigger step: one buildset per named triggerable scheduler, with this build's source stamps
// and this build as their parent, then waits for all of them. Its result is the worst of theirs.
// The step's log ("trigger") says what it started and how each ended. A stop of this build does
// not stop the triggered builds: they are requests like any other.
awaitable<Master::StepResult> Master::run_trigger(std::shared_ptr<Build> build,
                                                  const StepConfig& step) {
  auto added = co_await await(db_.steps().add_step(build->buildid, step.name, "triggering"));
  co_await await(db_.steps().start_step(added.id));
  int64_t logid = co_await await(db_.logs().add_log(added.id, "trigger", "trigger", "s"));
  auto stamps = co_await await(db_.sourcestamps().get_source_stamps_for_build(build->buildid));
  std::vector<db::SourceStampRef> refs;
  for (const auto& ss : stamps) refs.emplace_back(ss.ssid);

  StepResult r{results::kSuccess, ""};
  std::vector<std::pair<std::string, int64_t>> started;  // scheduler, bsid
  for (const auto& name : step.trigger) {
    const SchedulerConfig* cfg = config_.scheduler(name);
    if (!cfg || cfg->type != SchedulerType::kTriggerable) {
      // A reload removed it after this build started.
      r = {results::kException, "no triggerable scheduler " + name};
      break;
    }
    SchedulerConfig copy = *cfg;
    std::string reason = fmt::format("The Triggerable scheduler '{}' triggered this build", name);
    db::Properties extra;
    extra["parent_buildername"] = {build->config->name, "Trigger"};
    extra["parent_buildnumber"] = {build->number, "Trigger"};
    auto bs = co_await await(
        add_scheduler_buildset(db_, copy, refs, std::move(extra), reason, build->buildid));
    started.emplace_back(name, bs.bsid);
    std::string line = fmt::format("triggered {}: buildset {} ({} build request(s))\n", name,
                                   bs.bsid, bs.brids.size());
    co_await await(db_.logs().append_log(logid, line));
  }

  // Waiting: the buildsets complete when their last request does, on whichever master.
  std::set<int64_t> waiting;
  for (const auto& p : started) waiting.insert(p.second);
  asio::steady_timer timer(io_);
  const auto gap = std::clamp<std::chrono::milliseconds>(
      config_.poll_interval, std::chrono::milliseconds(100), std::chrono::seconds(2));
  int worst = results::kSuccess;
  while (!waiting.empty() && r.results == results::kSuccess) {
    if (build->stop != Stop::kNone) {
      r = {results::kCancelled, "cancelled while waiting for the triggered builds"};
      break;
    }
    for (const auto& p : started) {
      if (!waiting.count(p.second)) continue;
      auto bs = co_await await(db_.buildsets().get_buildset(p.second));
      if (!bs || !bs->complete) continue;
      waiting.erase(p.second);
      worst = worst_result(worst, bs->results);
      std::string line = fmt::format("{}: buildset {} finished: {}\n", p.first, p.second,
                                     results::name(bs->results));
      co_await await(db_.logs().append_log(logid, line));
    }
    if (waiting.empty()) break;
    timer.expires_after(gap);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (r.results == results::kSuccess) {
    std::vector<std::string> names;
    for (const auto& p : step.trigger) names.push_back(p);
    r = {worst, fmt::format("triggered {}: {}", fmt::join(names, ", "), results::name(worst))};
  }
  co_await await(db_.logs().finish_log(logid));
  co_await await(db_.steps().set_step_state_string(added.id, r.state));
  co_await await(db_.steps().finish_step(added.id, r.results, false));
  spdlog::log(r.results == results::kSuccess ? spdlog::level::debug : spdlog::level::info,
              "build {} step {}: {}", label(*build), step.name, r.state);
  co_return r;
}

awaitable<void> Master::finish_build(std::shared_ptr<Build> build, int results,
                                     std::string summary) {
  const int64_t brid = build->request.buildrequestid;
  const int64_t buildid = build->buildid;
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - build->started);
  if (build->stop != Stop::kNone || build->db_error) {
    // Not a result for the request: the build ends (cancelled, or retry after the database
    // failed it) and the request goes back to the queue. By request, not by build id: should
    // add_build's reply have been lost, its build is found and ended too. A no-op for a build a
    // peer's take-over already ended.
    int r = build->db_error ? results::kRetry : results::kCancelled;
    build->final_results = r;
    std::string why = build->db_error                ? "retry: " + *build->db_error
                      : build->stop == Stop::kCancel ? "cancelled: the master stopped"
                                                     : "cancelled: this master lost its claims";
    std::string what = fmt::format("ending build {}", label(*build));
    std::function<Future<int>()> call = [this, brid, r, why] {
      return db_.builds().abandon_builds(brid, masterid_, r, why);
    };
    co_await persist<int>(what, call);
    spdlog::warn("build {} ended: {}; request {} released", label(*build), why, brid);
    co_return;
  }
  // The fence: success (or any result) is recorded together with the request's completion, and
  // only while this master still holds the claim and the build is unfinished.
  build->final_results = results;
  bool lost = false;
  try {
    std::string what = fmt::format("completing build {}", label(*build));
    std::function<Future<void>()> call = [this, buildid, results, summary] {
      return db_.builds().complete_build(buildid, masterid_, results, summary);
    };
    co_await persist<void>(what, call);
  } catch (const db::NotClaimedError&) {
    lost = true;
  }
  if (lost) {
    build->final_results = results::kRetry;
    spdlog::error(
        "build {}: the claim on request {} was lost (a peer expired this master?); the "
        "build ends as retry and the request is built elsewhere",
        label(*build), brid);
    std::string what = fmt::format("ending build {}", label(*build));
    std::function<Future<int>()> call = [this, brid] {
      return db_.builds().abandon_builds(brid, masterid_, results::kRetry, "retry: claim lost");
    };
    co_await persist<int>(what, call);
    co_return;
  }
  spdlog::info("build {} finished: {} in {}", label(*build), summary, seconds_text(took));
}

void Master::cancel_builds(Stop why) {
  for (auto& [brid, build] : running_) {
    if (build->stop == Stop::kNone) build->stop = why;
    if (build->process) build->process->cancel();
  }
}

// ----------------------------------------------------------------------------- services

std::string Master::Service::label() const {
  return fmt::format("{} {}", is_source ? "change source" : "scheduler", name);
}

awaitable<void> Master::start_services(const MasterConfig& config) {
  for (const auto& cs : config.change_sources) {
    auto svc = std::make_shared<Service>(io_);
    svc->is_source = true;
    svc->name = cs.name;
    svc->source = cs;
    svc->id = co_await await(db_.changesources().find_change_source_id(cs.name));
    svc->poller = std::make_unique<GitPoller>(io_, db_, cs, config_.basedir / "gitpoller",
                                              [this] { return may_write(); });
    services_.push_back(svc);
    spawn_service(svc);
  }
  for (const auto& sc : config.schedulers) {
    // Every scheduler is recorded, so that the database lists it; force and triggerable ones
    // have nothing to run (their buildsets are added on request, on any master).
    int64_t id = co_await await(db_.schedulers().find_scheduler_id(sc.name));
    if (sc.type == SchedulerType::kForce || sc.type == SchedulerType::kTriggerable) continue;
    auto svc = std::make_shared<Service>(io_);
    svc->name = sc.name;
    svc->scheduler = sc;
    svc->id = id;
    services_.push_back(svc);
    spawn_service(svc);
  }
}

void Master::spawn_service(std::shared_ptr<Service> svc) {
  asio::co_spawn(io_, service_loop(svc), [svc](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("{} stopped on an error: {}", svc->label(), x.what());
      }
    }
    svc->finished = true;
    svc->done.notify();
  });
}

// Claims the service whenever no active master holds it (a peer that stops or is expired lets
// go of it), and runs it while this master holds it: a change source polls every poll_interval,
// a scheduler runs until it is stopped or this master loses it.
awaitable<void> Master::service_loop(std::shared_ptr<Service> svc) {
  while (!svc->stop && !stopping_) {
    if (!svc->owned) {
      bool claimed = false;
      if (may_write()) {
        try {
          if (svc->is_source) {
            co_await await(db_.changesources().set_change_source_master(svc->id, masterid_));
          } else {
            co_await await(db_.schedulers().set_scheduler_master(svc->id, masterid_));
          }
          claimed = true;
          svc->failing = false;
        } catch (const db::ChangeSourceAlreadyClaimedError&) {
          // Another active master runs it: normal.
        } catch (const db::SchedulerAlreadyClaimedError&) {
        } catch (const std::exception& e) {
          if (!svc->failing) {
            spdlog::warn("{}: claiming it failed: {}; trying again", svc->label(), e.what());
          }
          svc->failing = true;
        }
      }
      if (!claimed || svc->stop || stopping_) {
        if (claimed) svc->owned = true;  // released below
        if (svc->stop || stopping_) break;
        co_await svc->wake.wait_for(config_.checkin_interval);
        continue;
      }
      svc->owned = true;
      spdlog::info("{} runs on this master now", svc->label());
    }
    if (svc->is_source) {
      try {
        // Still ours? A peer that expired this master may hold it already, before a check-in
        // of ours has told.
        auto now = co_await await(db_.changesources().get_change_source(svc->id));
        if (!now || now->masterid != masterid_) {
          spdlog::warn("{}: another master holds it now; this master stops polling it",
                       svc->label());
          svc->owned = false;
          continue;
        }
        auto ids = co_await svc->poller->poll();
        svc->failing = false;
        if (!ids.empty()) wake_schedulers();
      } catch (const std::exception& e) {
        if (!svc->failing) {
          spdlog::warn("{}: polling failed: {}; trying again every {}", svc->label(), e.what(),
                       format_duration(svc->source.poll_interval));
        }
        svc->failing = true;
      }
      if (!svc->stop && svc->owned) co_await svc->wake.wait_for(svc->source.poll_interval);
    } else {
      svc->running =
          Scheduler::create(io_, db_, svc->scheduler, svc->id, [this] { return may_write(); });
      if (!svc->running) break;
      co_await svc->running->run(config_.poll_interval);
      svc->running.reset();
    }
  }
  if (svc->owned) {
    // Let go at once, so that a peer takes it over without waiting for this master's expiry.
    svc->owned = false;
    try {
      if (svc->is_source) {
        co_await await(db_.changesources().set_change_source_master(svc->id, std::nullopt));
      } else {
        co_await await(db_.schedulers().set_scheduler_master(svc->id, std::nullopt));
      }
    } catch (const std::exception& e) {
      spdlog::warn("{}: releasing it failed: {} (a peer takes it once this master is inactive)",
                   svc->label(), e.what());
    }
  }
  svc->finished = true;
  svc->done.notify();
}

awaitable<void> Master::stop_service(std::shared_ptr<Service> svc) {
  svc->stop = true;
  if (svc->running) svc->running->stop();
  svc->wake.notify();
  while (!svc->finished) co_await svc->done.wait_until(Clock::time_point::max());
}

// A peer expired this master: the holds went with it. Each loop claims its service again.
void Master::services_lost() {
  for (auto& svc : services_) {
    if (!svc->owned) continue;
    svc->owned = false;
    if (svc->running) svc->running->stop();
    svc->wake.notify();
  }
}

void Master::wake_schedulers() {
  for (auto& svc : services_) {
    if (!svc->is_source && svc->running) svc->running->wake();
  }
}

// ----------------------------------------------------------------------------- reload

awaitable<void> Master::reconfigure() {
  MasterConfig next;
  try {
    next = load_config(config_.basedir);
  } catch (const ConfigError& e) {
    spdlog::error("the new configuration is refused: {}; the running one stays", e.what());
    co_return;
  }
  std::vector<std::string> changes;
  auto note = [&](const std::string& what, const std::vector<std::string>& names) {
    if (!names.empty()) changes.push_back(what + " " + fmt::format("{}", fmt::join(names, ", ")));
  };

  // [master]: what a running master can take.
  if (next.name != config_.name || next.database != config_.database ||
      next.db_retry_budget != config_.db_retry_budget) {
    spdlog::warn(
        "[master] name, database and db_retry_budget take effect at the next start; "
        "the running master keeps {}",
        config_.name);
  }
  config_.checkin_interval = next.checkin_interval;
  config_.expiry = next.expiry;
  config_.poll_interval = next.poll_interval;
  config_.grace_period = next.grace_period;
  config_.step_timeout = next.step_timeout;

  // Workers: slots change in place; a removed worker's running builds keep its slot record.
  std::vector<std::string> added, removed, changed;
  std::vector<std::shared_ptr<WorkerSlot>> workers, gone_workers;
  for (const auto& wc : next.workers) {
    std::shared_ptr<WorkerSlot> slot;
    for (auto& w : workers_) {
      if (w->name == wc.name) slot = w;
    }
    if (!slot) {
      slot = std::make_shared<WorkerSlot>();
      slot->name = wc.name;
      added.push_back(wc.name);
    } else if (slot->slots != wc.slots) {
      changed.push_back(wc.name);
    }
    slot->slots = wc.slots;
    workers.push_back(slot);
  }
  for (auto& w : workers_) {
    if (!next.worker(w->name)) {
      gone_workers.push_back(w);
      removed.push_back(w->name);
    }
  }
  note("new workers", added);
  note("removed workers", removed);
  note("changed workers", changed);
  workers_ = workers;

  // Builders: a changed one gets its new configuration for its next builds.
  added.clear();
  removed.clear();
  changed.clear();
  std::vector<std::shared_ptr<BuilderState>> builders, gone_builders;
  for (const auto& bc : next.builders) {
    std::shared_ptr<BuilderState> state;
    for (auto& b : builders_) {
      if (b->config->name == bc.name) state = b;
    }
    if (!state) {
      state = std::make_shared<BuilderState>();
      added.push_back(bc.name);
    } else if (!(*state->config == bc)) {
      changed.push_back(bc.name);
    }
    if (!state->config || !(*state->config == bc)) {
      state->config = std::make_shared<const BuilderConfig>(bc);
    }
    builders.push_back(state);
  }
  for (auto& b : builders_) {
    if (!next.builder(b->config->name)) {
      b->removed = true;
      if (b->id != 0) builder_by_id_.erase(b->id);
      gone_builders.push_back(b);
      removed.push_back(b->config->name);
    }
  }
  note("new builders", added);
  note("removed builders", removed);
  note("changed builders", changed);
  builders_ = builders;
  build_worker_lists();
  config_.workers = next.workers;
  config_.builders = next.builders;

  // Change sources and schedulers: a changed one is stopped and started again from its state.
  added.clear();
  removed.clear();
  changed.clear();
  MasterConfig start;
  for (auto svc : std::vector<std::shared_ptr<Service>>(services_)) {
    const ChangeSourceConfig* source = svc->is_source ? next.change_source(svc->name) : nullptr;
    const SchedulerConfig* sched = svc->is_source ? nullptr : next.scheduler(svc->name);
    if (source ? *source == svc->source : sched && *sched == svc->scheduler) continue;
    (source || sched ? changed : removed).push_back(svc->label());
    co_await stop_service(svc);
    services_.erase(std::find(services_.begin(), services_.end(), svc));
  }
  auto running = [this](bool source, const std::string& name) {
    for (const auto& svc : services_) {
      if (svc->is_source == source && svc->name == name) return true;
    }
    return false;
  };
  for (const auto& cs : next.change_sources) {
    if (running(true, cs.name)) continue;
    start.change_sources.push_back(cs);
    if (!config_.change_source(cs.name)) added.push_back("change source " + cs.name);
  }
  for (const auto& sc : next.schedulers) {
    if (running(false, sc.name)) continue;
    start.schedulers.push_back(sc);
    const SchedulerConfig* old = config_.scheduler(sc.name);
    if (!old) {
      added.push_back("scheduler " + sc.name);
    } else if (!(*old == sc) &&
               (sc.type == SchedulerType::kForce || sc.type == SchedulerType::kTriggerable)) {
      changed.push_back("scheduler " + sc.name);
    }
  }
  note("started", added);
  note("stopped", removed);
  note("replaced", changed);
  config_.change_sources = next.change_sources;
  config_.schedulers = next.schedulers;

  // The database: links of new builders and workers, none for removed ones.
  co_await configure_links();
  for (auto& b : gone_builders) {
    if (b->id != 0) co_await await(db_.builders().remove_builder_master(b->id, masterid_));
  }
  for (auto& w : gone_workers) {
    if (w->id == 0) continue;
    co_await await(db_.workers().worker_configured(w->id, masterid_, std::vector<int64_t>()));
    co_await await(db_.workers().worker_disconnected(w->id, masterid_));
  }
  co_await start_services(start);
  if (changes.empty()) {
    spdlog::info("configuration reloaded: nothing changed");
  } else {
    spdlog::info("configuration reloaded: {}", fmt::join(changes, "; "));
  }
  wake_.notify();
}

}  // namespace ym::master
