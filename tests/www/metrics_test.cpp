// /metrics: the text a Prometheus server scrapes, for known counts.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "fake/fake_db.hpp"
#include "www/metrics.hpp"

namespace ym::test {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// Every line is a comment of the format or a sample of a family declared before it.
void expect_valid_text_format(const std::string& text) {
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.e+-]+|\+Inf|NaN))");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  std::set<std::string> declared;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(declared.insert(m[1]).second) << "declared twice: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a sample: " << line;
    std::string name = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!declared.count(name) && name.ends_with(suffix))
        name.resize(name.size() - strlen(suffix));
    }
    EXPECT_TRUE(declared.count(name)) << "no # TYPE before " << line;
  }
}

TEST(Metrics, RendersWhatWasCountedInPrometheusTextFormat) {
  fake::FakeDb db;
  www::Metrics m;
  m.build_started();
  m.build_started();
  m.build_started();
  m.build_finished(0);
  m.build_finished(2);
  m.claim_latency(std::chrono::milliseconds(30));
  m.claim_latency(std::chrono::seconds(2));
  m.step_finished(std::chrono::seconds(7));
  m.http_request(200);
  m.http_request(200);
  m.http_request(404);
  std::string text = m.render(db);
  expect_valid_text_format(text);
  EXPECT_TRUE(has_line(text, "yardmaster_builds_running 1")) << text;
  EXPECT_TRUE(has_line(text, "yardmaster_builds_finished_total{result=\"success\"} 1"));
  EXPECT_TRUE(has_line(text, "yardmaster_builds_finished_total{result=\"failure\"} 1"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_bucket{le=\"0.01\"} 0"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_bucket{le=\"0.05\"} 1"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_bucket{le=\"5\"} 2"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_sum 2.03"));
  EXPECT_TRUE(has_line(text, "yardmaster_claim_latency_seconds_count 2"));
  EXPECT_TRUE(has_line(text, "yardmaster_step_duration_seconds_bucket{le=\"5\"} 0"));
  EXPECT_TRUE(has_line(text, "yardmaster_step_duration_seconds_bucket{le=\"10\"} 1"));
  EXPECT_TRUE(has_line(text, "yardmaster_http_requests_total{code=\"200\"} 2"));
  EXPECT_TRUE(has_line(text, "yardmaster_http_requests_total{code=\"404\"} 1"));
  EXPECT_NE(text.find("# TYPE yardmaster_db_calls_total counter"), std::string::npos);
  // The queue gauge shows once the master has told it.
  EXPECT_EQ(text.find("yardmaster_buildrequests_queued"), std::string::npos);
  m.requests_queued(4);
  EXPECT_TRUE(has_line(m.render(db), "yardmaster_buildrequests_queued 4"));
}

TEST(Metrics, TheDatabasesCallsAndCachesAreCounted) {
  fake::FakeDb db;
  www::Metrics m;
  db.builders().find_builder_id("b", true).get();
  db.builders().get_builders().get();
  std::string text = m.render(db);
  expect_valid_text_format(text);
  auto caches = db.cache_stats();
  for (const auto& c : caches) {
    EXPECT_TRUE(has_line(
        text, "yardmaster_cache_hits_total{cache=\"" + c.name + "\"} " + std::to_string(c.hits)))
        << c.name;
  }
  EXPECT_TRUE(has_line(text, "yardmaster_db_calls_total " + std::to_string(db.pool_stats().calls)));
}

TEST(Metrics, CountsFromManyThreadsAddUp) {
  fake::FakeDb db;
  www::Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        m.build_started();
        m.build_finished(0);
        m.http_request(200);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string text = m.render(db);
  EXPECT_TRUE(has_line(text, "yardmaster_builds_running 0"));
  EXPECT_TRUE(has_line(text, "yardmaster_builds_finished_total{result=\"success\"} 4000"));
  EXPECT_TRUE(has_line(text, "yardmaster_http_requests_total{code=\"200\"} 4000"));
}

}  // namespace
}  // namespace ym::test
