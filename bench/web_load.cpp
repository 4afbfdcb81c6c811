// The web view under load: a real master (the yardmaster executable, SQLite file) runs builds
// whose steps print lines over a few seconds while 50 clients use its web server: half follow
// the log of a running step over /api/v2/events, half poll /api/v2/builds. Reports whether every
// build still finished, the master's claim latency (from its /metrics and from the database's
// claimed_at - submitted_at), and the polls' response times. Figures, never assertions.
//
//   ym_web_load [--builds 60] [--clients 50] [--out FILE.json]
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "db/db.hpp"
#include "www/http_client.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + args[0]);
  }
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int run(const std::string& ym, int builds, int clients, const std::string& out_file) {
  fs::path dir = fs::temp_directory_path() / fmt::format("ym-web-load-{}", getpid());
  fs::remove_all(dir);
  if (std::system(fmt::format("'{}' create-master '{}' >/dev/null", ym, dir.string()).c_str()) !=
      0) {
    throw std::runtime_error("create-master failed");
  }
  uint16_t port = free_port();
  std::ofstream(dir / "config.ini") << fmt::format(R"([master]
database = sqlite:///state.sqlite
poll_interval = 200ms
checkin_interval = 2s
expiry = 10s
[worker local]
slots = 6
[builder b1]
workers = local
step print = for i in $(seq 1 200); do echo "b1 line $i of build $YM_BUILD_NUMBER"; sleep 0.01; done
[builder b2]
workers = local
step print = for i in $(seq 1 200); do echo "b2 line $i of build $YM_BUILD_NUMBER"; sleep 0.01; done
[builder b3]
workers = local
step print = for i in $(seq 1 200); do echo "b3 line $i of build $YM_BUILD_NUMBER"; sleep 0.01; done
[www]
listen = 127.0.0.1:{}
)",
                                                   port);
  for (int i = 0; i < builds; ++i) {
    std::string cmd =
        fmt::format("'{}' submit '{}' -b b{} >/dev/null 2>&1", ym, dir.string(), 1 + i % 3);
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("submit failed");
  }
  pid_t master = spawn({ym, "run", dir.string(), "--quiet"}, dir / "master.log");
  auto ready_by = Clock::now() + std::chrono::seconds(30);
  while (true) {
    try {
      if (ym::test::http_get(port, "/api/v2/masters").status == 200) break;
    } catch (const std::exception&) {
    }
    if (Clock::now() > ready_by) throw std::runtime_error("the master's web server did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto start = Clock::now();
  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<double> latencies;  // ms, of the builds polls
  std::atomic<int64_t> log_events{0}, log_lines{0}, poll_errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    if (c % 2 == 0) {
      threads.emplace_back([&] {
        while (!done) {
          auto t0 = Clock::now();
          try {
            auto r = ym::test::http_get(port, "/api/v2/builds?order=-buildid&limit=20");
            if (r.status != 200) ++poll_errors;
          } catch (const std::exception&) {
            ++poll_errors;
          }
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          {
            std::lock_guard lock(mu);
            latencies.push_back(ms);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
      });
    } else {
      threads.emplace_back([&] {
        while (!done) {
          // The log of the newest running build's step, followed until it completes.
          int64_t logid = 0;
          try {
            auto b =
                ym::test::http_get(port, "/api/v2/builds?complete=false&order=-buildid&limit=1")
                    .json();
            if (!b["builds"].empty()) {
              auto s =
                  ym::test::http_get(port, fmt::format("/api/v2/builds/{}/steps",
                                                       b["builds"][0]["buildid"].get<int64_t>()))
                      .json();
              if (!s["steps"].empty()) {
                auto l = ym::test::http_get(port,
                                            fmt::format("/api/v2/steps/{}/logs",
                                                        s["steps"].back()["stepid"].get<int64_t>()))
                             .json();
                if (!l["logs"].empty()) logid = l["logs"][0]["logid"].get<int64_t>();
              }
            }
          } catch (const std::exception&) {
          }
          if (!logid) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
          }
          try {
            boost::asio::io_context io;
            boost::asio::ip::tcp::socket sock(io);
            sock.connect({boost::asio::ip::make_address("127.0.0.1"), port});
            std::string req =
                fmt::format("GET /api/v2/events?logid={} HTTP/1.1\r\nHost: x\r\n\r\n", logid);
            boost::asio::write(sock, boost::asio::buffer(req));
            std::string text;
            char buf[16384];
            bool complete = false;
            while (!done && !complete) {
              size_t n = sock.read_some(boost::asio::buffer(buf));
              text.append(buf, n);
              size_t end;
              while ((end = text.find("\n\n")) != std::string::npos) {
                std::string block = text.substr(0, end);
                text.erase(0, end + 2);
                size_t d = block.find("data: ");
                if (block.rfind("event: log", 0) != 0 || d == std::string::npos) continue;
                auto ev = json::parse(block.substr(d + 6));
                ++log_events;
                const std::string content = ev.value("content", "");
                log_lines += std::count(content.begin(), content.end(), '\n');
                complete = ev.value("complete", false);
              }
            }
          } catch (const std::exception&) {
          }
        }
      });
    }
  }
  // Until every request is complete, read through the database.
  auto url = fmt::format("sqlite:///{}/state.sqlite", dir.string());
  int complete = 0;
  auto deadline = Clock::now() + std::chrono::minutes(10);
  {
    auto db = ym::db::Db::open(url);
    while (Clock::now() < deadline) {
      ym::db::BuildRequestFilter f;
      f.complete = true;
      complete = static_cast<int>(db->buildrequests().get_build_requests(f).get().size());
      if (complete >= builds) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    db->shutdown();
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::string metrics = ym::test::http_get(port, "/metrics").body;
  done = true;
  kill(master, SIGTERM);
  for (auto& t : threads) t.join();
  int status = 0;
  waitpid(master, &status, 0);

  auto value_of = [&](const std::string& name) {
    size_t at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + name.size() + 2));
  };
  auto db = ym::db::Db::open(url);
  int success = 0;
  std::vector<double> claim;
  for (const auto& r : db->buildrequests().get_build_requests().get()) {
    if (r.complete && r.results == 0) ++success;
    if (r.claimed_at)
      claim.push_back(static_cast<double>((*r.claimed_at - r.submitted_at).count()));
  }
  auto all_builds = db->builds().get_builds().get();
  db->shutdown();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  double claim_sum = value_of("yardmaster_claim_latency_seconds_sum");
  double claim_count = value_of("yardmaster_claim_latency_seconds_count");
  json report{{"builds_submitted", builds},
              {"requests_complete", complete},
              {"requests_successful", success},
              {"builds_recorded", all_builds.size()},
              {"clients", clients},
              {"seconds", elapsed},
              {"poll_count", latencies.size()},
              {"poll_errors", poll_errors.load()},
              {"poll_ms_p50", pct(latencies, 0.50)},
              {"poll_ms_p95", pct(latencies, 0.95)},
              {"poll_ms_max", latencies.empty() ? 0.0 : latencies.back()},
              {"log_events", log_events.load()},
              {"log_lines_streamed", log_lines.load()},
              {"claim_latency_mean_s_metrics", claim_count > 0 ? claim_sum / claim_count : -1.0},
              {"claim_latency_max_s_db",
               claim.empty() ? 0.0 : *std::max_element(claim.begin(), claim.end())},
              {"master_exit", WIFEXITED(status) ? WEXITSTATUS(status) : -1}};
  fmt::print("{}\n", report.dump(2));
  if (!out_file.empty()) std::ofstream(out_file) << report.dump(2) << "\n";
  fs::remove_all(dir);
  return complete >= builds ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the web view under load while a master builds"};
  int builds = 60, clients = 50;
  std::string out;
  app.add_option("--builds", builds, "buildsets to submit (one build each)");
  app.add_option("--clients", clients, "web clients (half follow logs, half poll builds)");
  app.add_option("--out", out, "also write the report to this JSON file");
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  try {
    return run(YM_YARDMASTER_BIN, builds, clients, out);
  } catch (const std::exception& e) {
    fmt::print(stderr, "ym_web_load: {}\n", e.what());
    return 1;
  }
}
