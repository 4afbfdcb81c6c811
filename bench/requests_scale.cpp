// How the unclaimed-requests poll grows with history: times
// get_build_requests(claimed=false, complete=false) with 100 pending requests, first alone in
// the table, then beside 1,000,000 completed (and claimed) requests. A ratio near 1 means the
// poll reads the pending rows through an index and never the history.
//   ym_requests_scale --url URL [--completed N] [--repeat K]
// The URL must name an empty database. Prints JSON lines; timing is reported, never asserted.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "db/base.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kBuilders = 4;
constexpr int kPendingBuildsets = 25;  // x 4 builders = 100 pending requests
constexpr int64_t kHistoryBuildsets = 1000;

// Median and mean milliseconds of `repeat` polls; checks the poll's answer each time.
json time_poll(db::Db& db, int repeat, size_t expected) {
  db::BuildRequestFilter f;
  f.claimed = db::ClaimFilter::unclaimed();
  f.complete = false;
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = Clock::now();
    auto brs = db.buildrequests().get_build_requests(f).get();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (brs.size() != expected) {
      throw db::InternalError("the poll returned " + std::to_string(brs.size()) +
                              " requests, expected " + std::to_string(expected));
    }
  }
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double m : ms) sum += m;
  return {{"p50_ms", ms[ms.size() / 2]}, {"mean_ms", sum / ms.size()}, {"polls", repeat}};
}

// Inserts `rows` rows of `columns` through multi-row INSERTs with bound values, in one
// transaction per statement batch of about 100,000 rows.
template <class RowFn>
void bulk_insert(db::Connection& conn, const std::string& table,
                 const std::vector<std::string>& columns, int64_t rows, RowFn row) {
  const db::Dialect& d = conn.dialect();
  size_t per_stmt = db::batch_size(d, columns.size());
  std::string cols, one = "(";
  for (size_t i = 0; i < columns.size(); ++i) {
    cols += (i ? ", " : "") + d.quote(columns[i]);
    one += i ? ", ?" : "?";
  }
  one += ")";
  int64_t done = 0;
  while (done < rows) {
    db::Transaction txn(conn, db::TxnMode::kWrite);
    for (int64_t in_txn = 0; in_txn < 100000 && done < rows;) {
      size_t n = static_cast<size_t>(std::min<int64_t>(per_stmt, rows - done));
      std::string sql = "INSERT INTO " + d.quote(table) + " (" + cols + ") VALUES ";
      std::vector<db::Value> params;
      for (size_t k = 0; k < n; ++k) {
        sql += k ? ", " + one : one;
        for (auto& v : row(done + static_cast<int64_t>(k))) params.push_back(std::move(v));
      }
      conn.stmt(sql).bind_all(params).exec();
      done += static_cast<int64_t>(n);
      in_txn += static_cast<int64_t>(n);
    }
    txn.commit();
  }
}

int run(const std::string& url_text, int64_t completed, int repeat) {
  auto url = db::Url::parse(url_text);
  auto db = db::Db::open(url_text);
  int64_t masterid = db->masters().find_master_id("bench:/scale").get();
  std::vector<int64_t> builderids;
  for (int b = 0; b < kBuilders; ++b) {
    builderids.push_back(*db->builders().find_builder_id("s" + std::to_string(b)).get());
  }
  // The pending requests, through the API.
  for (int i = 0; i < kPendingBuildsets; ++i) {
    db::NewBuildset bs;
    bs.sourcestamps.push_back(db::SourceStampSpec{.branch = "main", .revision = "r" + std::to_string(i),
                                                  .repository = "https://example.org/r.git",
                                                  .project = "p", .codebase = ""});
    bs.reason = "pending";
    bs.builderids = builderids;
    db->buildsets().add_buildset(bs).get();
  }
  size_t pending = static_cast<size_t>(kPendingBuildsets) * kBuilders;
  json line = {{"impl", "yardmaster"}, {"db", db::to_string(url.backend)}, {"phase", "poll"},
               {"pending", pending}, {"completed", 0}};
  line.update(time_poll(*db, repeat, pending));
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);

  // The history: completed, claimed requests with ids after the pending ones.
  auto conn = db::open_connection(url);
  int64_t first_bs = 1000000, first_br = 1000000;
  auto t0 = Clock::now();
  bulk_insert(*conn, "buildsets", {"id", "reason", "submitted_at", "complete", "complete_at", "results"},
              kHistoryBuildsets, [&](int64_t k) {
                return std::vector<db::Value>{first_bs + k, std::string("history"), k, int64_t{1}, k + 60, int64_t{0}};
              });
  conn->after_explicit_ids("buildsets");
  bulk_insert(*conn, "buildrequests",
              {"id", "buildsetid", "builderid", "priority", "complete", "results", "submitted_at",
               "complete_at", "waited_for"},
              completed, [&](int64_t k) {
                return std::vector<db::Value>{first_br + k, first_bs + k % kHistoryBuildsets,
                                              builderids[k % kBuilders], int64_t{0}, int64_t{1},
                                              int64_t{0}, k, k + 60, int64_t{0}};
              });
  conn->after_explicit_ids("buildrequests");
  bulk_insert(*conn, "buildrequest_claims", {"brid", "masterid", "claimed_at"}, completed,
              [&](int64_t k) { return std::vector<db::Value>{first_br + k, masterid, k + 1}; });
  double fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (url.backend == db::Backend::kPostgres) conn->execute_script("ANALYZE");
  if (url.backend == db::Backend::kMysql) {
    conn->execute_script("ANALYZE TABLE buildrequests; ANALYZE TABLE buildrequest_claims");
  }
  if (url.backend == db::Backend::kSqlite) conn->execute_script("ANALYZE");

  line = {{"impl", "yardmaster"}, {"db", db::to_string(url.backend)}, {"phase", "poll"},
          {"pending", pending}, {"completed", completed}, {"fill_seconds", fill_s}};
  line.update(time_poll(*db, repeat, pending));
  std::printf("%s\n", line.dump().c_str());
  db->shutdown();
  return 0;
}

}  // namespace
}  // namespace ym::bench

int main(int argc, char** argv) {
  CLI::App app{"ym_requests_scale: the unclaimed-requests poll beside a large history"};
  std::string url;
  int64_t completed = 1000000;
  int repeat = 20;
  app.add_option("--url", url, "database URL (an empty database)")->required();
  app.add_option("--completed", completed, "completed requests to add");
  app.add_option("--repeat", repeat, "polls timed at each size");
  CLI11_PARSE(app, argc, argv);
  try {
    return ym::bench::run(url, completed, repeat);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_requests_scale: %s\n", e.what());
    return 2;
  }
}
