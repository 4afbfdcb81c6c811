// The REST API, events and force endpoint of the web server against every implementation of Db
// (the contract suite's backends: the fake, SQLite, PostgreSQL, MariaDB): known rows go in
// through the connectors' test data, the answers are compared with what the connectors return.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "contract/fixture.hpp"
#include "www/http_client.hpp"
#include "www/internal.hpp"
#include "www/server.hpp"

namespace ym::test {
namespace {

using nlohmann::json;

YM_CONTRACT_SUITE(WebApi);

class Web {
 public:
  Web(db::Db& db, www::ServerOptions options = {}) {
    options.listen = {"127.0.0.1", 0};
    options.io_timeout = std::chrono::seconds(5);
    options.event_poll = std::chrono::milliseconds(50);
    server_ = std::make_unique<www::Server>(db, std::move(options), nullptr);
    server_->start();
  }
  ~Web() { server_->stop(); }
  uint16_t port() const { return server_->port(); }
  json get(const std::string& target, int want = 200) {
    auto r = http_get(port(), target);
    EXPECT_EQ(r.status, want) << target << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json") << target;
    return json::parse(r.body);
  }

 private:
  std::unique_ptr<www::Server> server_;
};

// Two builders on one master; builder 1 has 12 builds (every third failed, the last running),
// builder 2 has 3. Steps and a log of 25 lines on build 1.
std::vector<td::Row> known_rows() {
  std::vector<td::Row> rows{td::Master{1, "m1", true, 1700000000},
                            td::Master{2, "m2", false, 1600000000},
                            td::Builder{1, "linux", "the linux builds"},
                            td::Builder{2, "docs", std::nullopt},
                            td::BuilderMaster{1, 1, 1},
                            td::BuilderMaster{2, 2, 1},
                            td::Worker{1, "w1"},
                            td::ConfiguredWorker{1, 1, 1},
                            td::ConnectedWorker{1, 1, 1},
                            td::SourceStamp{1},
                            td::Buildset{1, "ext", "because", 1700000000}};
  for (int i = 1; i <= 15; ++i) {
    int64_t builder = i <= 12 ? 1 : 2;
    int number = i <= 12 ? i : i - 12;
    bool running = i == 12;
    rows.push_back(
        td::BuildRequest{i, 1, builder, 0, !running, running ? -1 : 0, 1700000000 + i,
                         running ? std::nullopt : std::optional<int64_t>(1700000100 + i)});
    rows.push_back(td::Build{i, number, builder, i, 1, 1, 1700000010 + i,
                             running ? std::nullopt : std::optional<int64_t>(1700000100 + i),
                             running ? "building" : "done",
                             running ? std::nullopt : std::optional<int>(i % 3 == 0 ? 2 : 0)});
  }
  rows.push_back(td::BuildRequest{16, 1, 2, 5, false, -1, 1700000200});  // unclaimed
  rows.push_back(td::BuildRequestClaim{12, 1, 1700000020});
  rows.push_back(td::Step{1, 0, "checkout", 1, 1700000011, 1700000012, "done", 0});
  rows.push_back(td::Step{2, 1, "compile", 1, 1700000012, 1700000020, "done", 0});
  rows.push_back(td::Log{1, "stdio", "stdio", 2, true, 25, "s"});
  std::string first, second;
  for (int i = 0; i < 10; ++i) first += "line " + std::to_string(i) + "\n";
  for (int i = 10; i < 25; ++i) second += "line " + std::to_string(i) + "\n";
  rows.push_back(td::LogChunk{1, 0, 9, first});
  rows.push_back(td::LogChunk{1, 10, 24, second});
  for (int c = 1; c <= 4; ++c) {
    td::Change ch;
    ch.changeid = c;
    ch.author = c % 2 ? "alice" : "bob";
    ch.branch = c <= 2 ? "main" : "dev";
    ch.revision = "rev" + std::to_string(c);
    ch.when_timestamp = 1700000000 + c;
    ch.sourcestampid = 1;
    rows.push_back(ch);
  }
  return rows;
}

std::vector<int64_t> ids(const json& list, const char* key) {
  std::vector<int64_t> out;
  for (const auto& item : list) out.push_back(item.at(key).get<int64_t>());
  return out;
}

TEST_P(WebApi, BuildsAreTheConnectorsAnswerWithFiltersOrderAndPaging) {
  insert(known_rows());
  Web web(*db_);
  // Everything, in id order.
  auto all = web.get("/api/v2/builds");
  auto expected = db_->builds().get_builds().get();
  ASSERT_EQ(all["builds"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(all["builds"][i], www::build_json(expected[i]));
  EXPECT_EQ(all["meta"]["more"], false);
  // A builder's newest five after the newest two.
  auto page = web.get("/api/v2/builds?builderid=1&order=-number&limit=5&offset=2");
  EXPECT_EQ(ids(page["builds"], "number"), (std::vector<int64_t>{10, 9, 8, 7, 6}));
  EXPECT_EQ(page["meta"]["more"], true);
  EXPECT_EQ(web.get("/api/v2/builders/1/builds?order=-number&limit=5&offset=2"), page);
  EXPECT_EQ(web.get("/api/v2/builders/linux/builds?order=-number&limit=5&offset=2"), page);
  // Filters.
  EXPECT_EQ(ids(web.get("/api/v2/builds?complete=false")["builds"], "buildid"),
            (std::vector<int64_t>{12}));
  EXPECT_EQ(ids(web.get("/api/v2/builds?results=2")["builds"], "buildid"),
            (std::vector<int64_t>{3, 6, 9, 15}));
  EXPECT_EQ(ids(web.get("/api/v2/builds?results=2&results=1&builderid=1")["builds"], "buildid"),
            (std::vector<int64_t>{3, 6, 9}));
  EXPECT_EQ(ids(web.get("/api/v2/builds?buildid__gt=10&buildid__le=13")["builds"], "buildid"),
            (std::vector<int64_t>{11, 12, 13}));
  EXPECT_EQ(ids(web.get("/api/v2/builds?complete_at=null")["builds"], "buildid"),
            (std::vector<int64_t>{12}));
  // One build, by id and by builder and number.
  auto one = web.get("/api/v2/builds/7");
  EXPECT_EQ(one["builds"][0], www::build_json(*db_->builds().get_build(7).get()));
  EXPECT_EQ(web.get("/api/v2/builders/2/builds/3")["builds"][0]["buildid"], 15);
}

TEST_P(WebApi, EveryCollectionAnswersWhatItsConnectorHolds) {
  insert(known_rows());
  Web web(*db_);
  auto masters = web.get("/api/v2/masters");
  EXPECT_EQ(ids(masters["masters"], "masterid"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(masters["masters"][1]["active"], false);
  EXPECT_EQ(ids(web.get("/api/v2/masters?active=true")["masters"], "masterid"),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(web.get("/api/v2/masters/2")["masters"][0]["name"], "m2");
  auto builders = web.get("/api/v2/builders?order=name");
  ASSERT_EQ(builders["builders"].size(), 2u);
  EXPECT_EQ(builders["builders"][0]["name"], "docs");
  EXPECT_EQ(builders["builders"][1]["description"], "the linux builds");
  EXPECT_EQ(builders["builders"][1]["masterids"], json::array({1}));
  auto workers = web.get("/api/v2/workers");
  ASSERT_EQ(workers["workers"].size(), 1u);
  EXPECT_EQ(workers["workers"][0]["connected_to"], json::parse(R"([{"masterid":1}])"));
  EXPECT_EQ(web.get("/api/v2/workers/w1")["workers"][0]["workerid"], 1);

  auto steps = web.get("/api/v2/builds/1/steps");
  EXPECT_EQ(ids(steps["steps"], "stepid"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(steps["steps"][1], www::step_json(*db_->steps().get_step(2).get()));
  EXPECT_EQ(web.get("/api/v2/builds/1/steps/compile")["steps"][0]["stepid"], 2);
  EXPECT_EQ(web.get("/api/v2/steps/2/logs")["logs"][0]["num_lines"], 25);
  EXPECT_EQ(web.get("/api/v2/steps/2/logs/stdio")["logs"][0]["logid"], 1);
  // A range of lines, across the chunk boundary.
  auto lines = web.get("/api/v2/logs/1/contents?offset=8&limit=4");
  EXPECT_EQ(lines["logchunks"][0]["firstline"], 8);
  EXPECT_EQ(lines["logchunks"][0]["content"], "line 8\nline 9\nline 10\nline 11\n");
  EXPECT_EQ(lines["meta"]["total"], 25);
  EXPECT_EQ(web.get("/api/v2/logs/1/contents?offset=40")["logchunks"].size(), 0u);
  auto raw = http_get(web.port(), "/api/v2/logs/1/raw");
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body, db_->logs().get_log_lines(1, 0, 24).get());
  EXPECT_NE(raw.header("Content-Disposition").find("attachment"), std::string::npos);

  auto unclaimed = web.get("/api/v2/buildrequests?claimed=false&complete=false");
  EXPECT_EQ(ids(unclaimed["buildrequests"], "buildrequestid"), (std::vector<int64_t>{16}));
  auto claimed = web.get("/api/v2/buildrequests?claimed=true&complete=false");
  EXPECT_EQ(ids(claimed["buildrequests"], "buildrequestid"), (std::vector<int64_t>{12}));
  EXPECT_EQ(claimed["buildrequests"][0]["claimed_by_masterid"], 1);
  EXPECT_EQ(web.get("/api/v2/buildrequests/16")["buildrequests"][0]["priority"], 5);
  EXPECT_EQ(web.get("/api/v2/buildsets")["buildsets"][0]["reason"], "because");
  EXPECT_EQ(web.get("/api/v2/buildsets/1")["buildsets"][0]["external_idstring"], "ext");

  auto changes = web.get("/api/v2/changes?branch=main&order=-changeid");
  EXPECT_EQ(ids(changes["changes"], "changeid"), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(changes["changes"][0]["revision"], "rev2");
  EXPECT_EQ(ids(web.get("/api/v2/changes?author=alice&limit=1")["changes"], "changeid"),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(web.get("/api/v2/changes/3")["changes"][0]["branch"], "dev");
  EXPECT_EQ(web.get("/api/v2/changesources")["changesources"].size(), 0u);
  EXPECT_EQ(web.get("/api/v2/schedulers")["schedulers"].size(), 0u);
  // Without a token no force scheduler is offered.
  EXPECT_EQ(web.get("/api/v2/forceschedulers")["forceschedulers"].size(), 0u);
}

TEST_P(WebApi, BadParametersAre400UnknownIdsAre404AndNothingChanges) {
  insert(known_rows());
  Web web(*db_);
  for (const char* target :
       {"/api/v2/builds?limit=10001", "/api/v2/builds?limit=-1",
        "/api/v2/builds?limit=99999999999999999999", "/api/v2/builds?offset=-5",
        "/api/v2/builds?limit=abc", "/api/v2/builds?order=password",
        "/api/v2/builds?builderid=1%20OR%201=1", "/api/v2/builds?nonsense=1",
        "/api/v2/builds?results__like=2", "/api/v2/builds?complete=maybe",
        "/api/v2/builds?results=2&results=null", "/api/v2/builds/abc", "/api/v2/builds/0",
        "/api/v2/builds/-3", "/api/v2/builds?x=%zz", "/api/v2/logs/1/contents?limit=10001",
        "/api/v2/masters?limit=-2", "/api/v2/events?logid=abc", "/api/v2/builds/1?extra=1"}) {
    auto r = http_get(web.port(), target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    EXPECT_TRUE(r.json().contains("error")) << target;
  }
  for (const char* target :
       {"/api/v2/builds/999", "/api/v2/builders/999/builds", "/api/v2/builders/nosuch",
        "/api/v2/steps/99", "/api/v2/logs/99/contents", "/api/v2/logs/99/raw", "/api/v2/nonsense",
        "/api/v2/builds/1/nonsense", "/api/v2/forceschedulers/x"}) {
    auto r = http_get(web.port(), target);
    EXPECT_EQ(r.status, 404) << target << ": " << r.body;
  }
  // Strings shaped like SQL are values: they match nothing and change nothing.
  auto hostile = web.get("/api/v2/changes?author=x%27%20OR%20%271%27=%271");
  EXPECT_EQ(hostile["changes"].size(), 0u);
  EXPECT_EQ(
      web.get("/api/v2/changes?branch=main%27;%20DROP%20TABLE%20changes;--")["changes"].size(), 0u);
  EXPECT_EQ(db_->changes().get_changes().get().size(), 4u);
  // The page's files are found by exact name: no path reaches anything else.
  for (const char* target :
       {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/static/../../etc/passwd", "//etc/passwd",
        "/index.html%00", "/..%2f..%2fetc%2fpasswd"}) {
    auto r = http_get(web.port(), target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
  }
  EXPECT_EQ(http_get(web.port(), "/").status, 200);
  // Writes other than force are refused, as are methods the API does not take.
  EXPECT_EQ(http_request(web.port(), "POST", "/api/v2/builds", "{}").status, 405);
  EXPECT_EQ(http_request(web.port(), "DELETE", "/api/v2/builds/1").status, 405);
  EXPECT_EQ(http_request(web.port(), "POST", "/api/v2/forceschedulers/x", "{}").status, 403);
  // A body beyond the limit and a request line that is not HTTP.
  EXPECT_NE(http_raw(web.port(),
                     "POST /api/v2/forceschedulers/x HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 100000\r\n\r\n")
                .find("HTTP/1.1 413"),
            std::string::npos);
  EXPECT_NE(http_raw(web.port(), "GARBAGE\r\n\r\n").find("400"), std::string::npos);
  EXPECT_EQ(db_->builds().get_builds().get().size(), 15u);
}

TEST_P(WebApi, ForceNeedsTheRightTokenAndAddsOneBuildset) {
  insert(known_rows());
  www::ServerOptions options;
  options.force_token = "s3cret-token";
  master::SchedulerConfig manual;
  manual.name = "manual";
  manual.type = master::SchedulerType::kForce;
  manual.builders = {"linux", "docs"};
  manual.properties = {{"flavour", "release"}};
  options.force_schedulers.push_back(manual);
  Web web(*db_, options);
  auto offered = web.get("/api/v2/forceschedulers");
  ASSERT_EQ(offered["forceschedulers"].size(), 1u);
  EXPECT_EQ(offered["forceschedulers"][0]["builder_names"], json::array({"linux", "docs"}));

  std::string body = R"({"jsonrpc":"2.0","id":7,"method":"force","params":{"reason":"try it",
      "branch":"main","revision":"abc123","builderNames":["docs"],"properties":{"flavour":"debug"}}})";
  size_t before = db_->buildsets().get_buildsets().get().size();
  const std::string target = "/api/v2/forceschedulers/manual";
  EXPECT_EQ(http_request(web.port(), "POST", target, body).status, 401);
  EXPECT_EQ(
      http_request(web.port(), "POST", target, body, {{"Authorization", "Bearer wrong"}}).status,
      401);
  EXPECT_EQ(http_request(web.port(), "POST", target, body,
                         {{"Authorization", "Bearer s3cret-token-and-more"}})
                .status,
            401);
  EXPECT_EQ(
      http_request(web.port(), "POST", target, body, {{"Authorization", "s3cret-token"}}).status,
      401);
  EXPECT_EQ(db_->buildsets().get_buildsets().get().size(), before);
  // A builder the scheduler does not name, and a body that is not JSON-RPC: refused, no change.
  const std::vector<std::pair<std::string, std::string>> auth{
      {"Authorization", "Bearer s3cret-token"}};
  EXPECT_EQ(http_request(web.port(), "POST", target,
                         R"({"method":"force","params":{"builderNames":["nosuch"]}})", auth)
                .status,
            400);
  EXPECT_EQ(http_request(web.port(), "POST", target, "not json", auth).status, 400);
  EXPECT_EQ(db_->buildsets().get_buildsets().get().size(), before);

  auto ok = http_request(web.port(), "POST", target, body, auth);
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto answer = ok.json();
  EXPECT_EQ(answer["id"], 7);
  int64_t bsid = answer["result"][0].get<int64_t>();
  auto bs = db_->buildsets().get_buildset(bsid).get();
  ASSERT_TRUE(bs);
  EXPECT_EQ(bs->reason, "try it");
  ASSERT_EQ(bs->sourcestamps.size(), 1u);
  auto ss = db_->sourcestamps().get_source_stamp(bs->sourcestamps[0]).get();
  EXPECT_EQ(ss->branch, "main");
  EXPECT_EQ(ss->revision, "abc123");
  auto props = db_->buildsets().get_buildset_properties(bsid).get();
  EXPECT_EQ(props.at("flavour").value, "debug");
  EXPECT_EQ(props.at("flavour").source, "Force");
  db::BuildRequestFilter f;
  f.bsid = bsid;
  auto requests = db_->buildrequests().get_build_requests(f).get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].builderid, 2);
  EXPECT_EQ(answer["result"][1]["2"], requests[0].buildrequestid);
  EXPECT_EQ(db_->buildsets().get_buildsets().get().size(), before + 1);
}

// Reads server-sent events from a socket until `done` says it has what it needs.
class EventReader {
 public:
  EventReader(uint16_t port, const std::string& target) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    boost::asio::write(socket_, boost::asio::buffer(req));
  }
  // Every event received so far, as (name, data).
  std::vector<std::pair<std::string, json>> events;
  // Reads until pred(events) holds; false at the deadline.
  bool wait(const std::function<bool(const std::vector<std::pair<std::string, json>>&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred(events)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      char buf[8192];
      boost::system::error_code ec;
      socket_.non_blocking(true);
      size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec == boost::asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (ec) return pred(events);
      text_.append(buf, n);
      size_t end;
      while ((end = text_.find("\n\n")) != std::string::npos) {
        std::string block = text_.substr(0, end);
        text_.erase(0, end + 2);
        std::string name, data;
        std::istringstream in(block);
        for (std::string line; std::getline(in, line);) {
          if (line.rfind("event: ", 0) == 0) name = line.substr(7);
          if (line.rfind("data: ", 0) == 0) data = line.substr(6);
        }
        if (!name.empty()) events.emplace_back(name, json::parse(data));
      }
    }
    return true;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::string text_;
};

TEST_P(WebApi, EventsTellOfNewBuildsFinishedStepsAndNewLogLines) {
  insert(known_rows());
  // A running step with a log of 3 lines on the running build 12.
  insert({td::Step{3, 0, "test", 12, 1700000030, std::nullopt, "running"},
          td::Log{2, "stdio", "stdio", 3, false, 3, "s"}, td::LogChunk{2, 0, 2, "a\nb\nc\n"}});
  Web web(*db_);
  EventReader reader(web.port(), "/api/v2/events?logid=2");
  auto has = [](const auto& events, const std::string& name,
                const std::function<bool(const json&)>& p) {
    return std::any_of(events.begin(), events.end(),
                       [&](const auto& e) { return e.first == name && p(e.second); });
  };
  // First the log's length: the page has read lines up to it.
  ASSERT_TRUE(reader.wait([&](const auto& ev) {
    return has(ev, "log", [](const json& d) { return d["num_lines"] == 3 && d["content"] == ""; });
  }));
  // New lines, a finished step, a new build: each arrives as an event.
  db_->logs().append_log(2, "d\ne\n").get();
  ASSERT_TRUE(reader.wait([&](const auto& ev) {
    return has(ev, "log", [](const json& d) {
      return d["firstline"] == 3 && d["content"] == "d\ne\n" && d["num_lines"] == 5;
    });
  })) << "no event for the appended lines";
  db_->steps().finish_step(3, 0, false).get();
  ASSERT_TRUE(reader.wait([&](const auto& ev) {
    return has(ev, "step", [](const json& d) {
      return d["type"] == "finished" && d["step"]["stepid"] == 3 && d["step"]["results"] == 0;
    });
  })) << "no event for the finished step";
  auto added = db_->builds().add_build(2, 16, 1, 1, "starting").get();
  ASSERT_TRUE(reader.wait([&](const auto& ev) {
    return has(ev, "build", [&](const json& d) {
      return d["type"] == "new" && d["build"]["buildid"] == added.id;
    });
  })) << "no event for the new build";
  db_->builds().finish_build(12, 0).get();
  ASSERT_TRUE(reader.wait([&](const auto& ev) {
    return has(ev, "build", [](const json& d) {
      return d["type"] == "finished" && d["build"]["buildid"] == 12 &&
             d["build"]["complete"] == true;
    });
  })) << "no event for the finished build";
}

TEST_P(WebApi, ConnectionsBeyondTheLimitGet503AndOthersAreStillServed) {
  insert(known_rows());
  www::ServerOptions options;
  options.max_connections = 3;
  Web web(*db_, options);
  // Three idle connections hold every place; the fourth is turned away at once.
  boost::asio::io_context io;
  std::vector<boost::asio::ip::tcp::socket> idle;
  for (int i = 0; i < 3; ++i) {
    idle.emplace_back(io);
    idle.back().connect({boost::asio::ip::make_address("127.0.0.1"), web.port()});
  }
  // The server has taken each of them in when a request on it is answered.
  for (auto& s : idle) {
    boost::asio::write(
        s, boost::asio::buffer(std::string("GET /api/v2/masters HTTP/1.1\r\nHost: x\r\n\r\n")));
    char buf[4096];
    ASSERT_GT(s.read_some(boost::asio::buffer(buf)), 0u);
  }
  EXPECT_EQ(http_get(web.port(), "/api/v2/masters").status, 503);
  for (auto& s : idle) s.close();
  // Once they are gone, requests are served again (the server notices the closes).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (status = http_get(web.port(), "/api/v2/masters").status) != 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace ym::test
