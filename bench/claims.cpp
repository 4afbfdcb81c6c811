// Claims per second with several masters contending for the same builders (issue 16): M masters,
// each with a pool of its own (as M `yardmaster` processes would have), poll the unclaimed
// requests of two shared builders and claim them one at a time, the way a master with a free
// slot does, until none is left. A claim that another master took first fails with
// AlreadyClaimedError and counts as a conflict. At the end every request must be claimed exactly
// once (the claims table's unique request id) or the run fails.
//   ym_claims --url URL [--url URL2 ...] [--masters M] [--requests R]
// Master i uses the i-th URL modulo their number (a Galera cluster: one URL per node first). The
// first URL must name an empty database. Prints one JSON line; timing is reported, never asserted.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::bench {
namespace {

using Clock = std::chrono::steady_clock;

int run(const std::vector<std::string>& urls, int masters, int requests) {
  auto setup = db::Db::open(urls.at(0));
  std::vector<int64_t> builders{*setup->builders().find_builder_id("shared-a").get(),
                                *setup->builders().find_builder_id("shared-b").get()};
  for (int i = 0; i < requests / 2; ++i) {
    db::NewBuildset bs;
    bs.reason = "claims " + std::to_string(i);
    bs.builderids = builders;
    setup->buildsets().add_buildset(bs).get();
  }
  std::vector<std::unique_ptr<db::Db>> dbs;
  std::vector<int64_t> ids;
  for (int m = 0; m < masters; ++m) {
    db::DbOptions o;
    o.pool_size = 2;
    dbs.push_back(db::Db::open(urls[m % urls.size()], o));
    ids.push_back(
        dbs.back()->masters().find_master_id("claims-" + std::to_string(m) + ":/m").get());
  }
  std::atomic<int64_t> claimed{0}, conflicts{0}, polls{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int m = 0; m < masters; ++m) {
    threads.emplace_back([&, m] {
      std::mt19937 rng(static_cast<unsigned>(m));
      db::BuildRequestFilter f;
      f.claimed = db::ClaimFilter::unclaimed();
      f.complete = false;
      f.spec.limit = 20;
      while (true) {
        auto pending = dbs[m]->buildrequests().get_build_requests(f).get();
        ++polls;
        if (pending.empty()) return;
        // The oldest few, as every master sees them: a pick among them, so that masters
        // contend without all choosing the same row every time.
        const auto& br = pending[rng() % std::min<size_t>(pending.size(), 4)];
        try {
          dbs[m]->buildrequests().claim_build_requests({br.buildrequestid}, ids[m]).get();
          ++claimed;
        } catch (const db::AlreadyClaimedError&) {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  auto conn = db::open_connection(db::Url::parse(urls[0]));
  int64_t rows = *conn->stmt("SELECT COUNT(*) FROM buildrequest_claims").scalar<int64_t>();
  int64_t distinct =
      *conn->stmt("SELECT COUNT(DISTINCT brid) FROM buildrequest_claims").scalar<int64_t>();
  const int64_t total = static_cast<int64_t>(requests / 2) * 2;
  nlohmann::json out{{"phase", "claims"},
                     {"masters", masters},
                     {"requests", total},
                     {"claimed", claimed.load()},
                     {"conflicts", conflicts.load()},
                     {"polls", polls.load()},
                     {"seconds", seconds},
                     {"claims_per_s", claimed.load() / seconds},
                     {"verified", rows == total && distinct == total && claimed.load() == total}};
  std::printf("%s\n", out.dump().c_str());
  for (auto& d : dbs) d->shutdown();
  setup->shutdown();
  if (!out["verified"].get<bool>()) {
    std::fprintf(stderr,
                 "ym_claims: %lld claim rows (%lld requests) for %lld requests, %lld claimed\n",
                 static_cast<long long>(rows), static_cast<long long>(distinct),
                 static_cast<long long>(total), static_cast<long long>(claimed.load()));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ym::bench

int main(int argc, char** argv) {
  CLI::App app{"claims per second with several masters contending for the same builders"};
  std::vector<std::string> urls;
  int masters = 3, requests = 2000;
  app.add_option("--url", urls, "database URL (repeat: master i uses URL i mod their number)")
      ->required();
  app.add_option("--masters", masters, "masters contending")->check(CLI::Range(1, 64));
  app.add_option("--requests", requests, "requests to claim")->check(CLI::Range(2, 1000000));
  CLI11_PARSE(app, argc, argv);
  try {
    return ym::bench::run(urls, masters, requests);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_claims: %s\n", e.what());
    return 1;
  }
}
