// The WebDriver client (webdriver.hpp) against a real headless Chromium: a page served by a small
// HTTP server inside the test, clicked, typed into, scripted and photographed. Skipped where
// Chromium or ChromeDriver is missing, and a failure there under CI=true.
#include "www/webdriver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/server_db.hpp"
#include "master/scratch.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Driver = ym::test::Browser;
using ym::test::WebDriverError;

// A title and text to find, a button that changes a text, an input, and a script that adds a
// line every 100 ms. The gradient gives the screenshot something to encode.
const char* const kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>Yardmaster browser test</title>
<style>body { font-family: sans-serif; background: linear-gradient(135deg, #fde, #8ad); }</style>
</head><body>
<h1 id="heading">Hello from the test server</h1>
<button id="go" type="button"
  onclick="document.getElementById('status').textContent = 'clicked'">Go</button>
<p id="status">waiting</p>
<input id="name" type="text" value="">
<div id="lines"></div>
<script>
  let count = 0;
  setInterval(() => {
    const line = document.createElement('div');
    line.className = 'line';
    line.textContent = 'line ' + (++count);
    document.getElementById('lines').appendChild(line);
  }, 100);
</script>
</body></html>
)";

// Serves kPage at / (404 elsewhere) on a free 127.0.0.1 port, on a thread of its own. Each
// connection is asynchronous and bounded in time: the browser opens connections ahead of need
// that may never carry a request, and those must not hold up the others.
class PageServer {
 public:
  PageServer() : acceptor_(io_, {asio::ip::address_v4::loopback(), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~PageServer() {
    io_.stop();
    thread_.join();
  }
  PageServer(const PageServer&) = delete;
  PageServer& operator=(const PageServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }

 private:
  struct Connection : std::enable_shared_from_this<Connection> {
    explicit Connection(asio::ip::tcp::socket socket) : stream(std::move(socket)) {}

    void start() {
      stream.expires_after(10s);
      http::async_read(stream, buffer, request,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (!ec) self->respond();
                       });
    }

    void respond() {
      bool found = request.target() == "/";
      response.version(request.version());
      response.result(found ? http::status::ok : http::status::not_found);
      response.set(http::field::content_type, found ? "text/html; charset=utf-8" : "text/plain");
      response.body() = found ? kPage : "not found";
      response.keep_alive(false);
      response.prepare_payload();
      http::async_write(
          stream, response, [self = shared_from_this()](beast::error_code, std::size_t) {
            beast::error_code ignored;
            self->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
          });
    }

    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, asio::ip::tcp::socket socket) {
      if (ec) return;
      std::make_shared<Connection>(std::move(socket))->start();
      accept();
    });
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// The live (not zombie) processes of process group `pgid`, from /proc.
std::vector<pid_t> live_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, the rest not.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;  // the process ended while we read
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') out.push_back(std::stoi(name));
  }
  return out;
}

class Browser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::optional<std::string> why = Driver::unavailable()) {
      if (ym::test::running_in_ci()) {
        FAIL() << *why << " (CI=true: the browser tests must run)";
      } else {
        GTEST_SKIP() << *why;
      }
    }
    scratch_.emplace("ym-browser");
    browser_.emplace(scratch_->path("browser"));
    browser_->navigate(server_.url("/"));
  }

  void TearDown() override {
    browser_.reset();
    if (HasFailure() && scratch_) {
      std::cout << "browser test files (screenshots, chromedriver.log) kept in "
                << scratch_->path("") << "\n";
    }
  }

  Driver& browser() { return *browser_; }

  // Declared in this order so that the browser stops before the server and before its scratch
  // directory, which holds its profile, is removed.
  std::optional<ym::test::master_tests::Scratch> scratch_;
  PageServer server_;
  std::optional<Driver> browser_;
};

TEST_F(Browser, FindsTheTitleAndTexts) {
  EXPECT_EQ(browser().title(), "Yardmaster browser test");
  EXPECT_EQ(browser().current_url(), server_.url("/"));
  EXPECT_EQ(browser().text(browser().find("#heading")), "Hello from the test server");
  EXPECT_EQ(browser().text(browser().find("p#status")), "waiting");
  EXPECT_NE(browser().page_source().find("Hello from the test server"), std::string::npos);

  ym::test::Element go = browser().find("#go");
  EXPECT_EQ(browser().attribute(go, "type"), "button");
  EXPECT_EQ(browser().attribute(go, "data-missing"), std::nullopt);
}

TEST_F(Browser, ClickChangesTheText) {
  ym::test::Element status = browser().find("#status");
  ASSERT_EQ(browser().text(status), "waiting");
  browser().click(browser().find("#go"));
  // The click handler runs while WebDriver dispatches the click, so no wait is needed here.
  EXPECT_EQ(browser().text(status), "clicked");
}

TEST_F(Browser, WaitForSeesTheLinesGrow) {
  browser().wait_for("document.querySelectorAll('div.line').length > 5", 10s, "more than 5 lines");
  std::vector<ym::test::Element> lines = browser().find_all("div.line");
  ASSERT_GT(lines.size(), 5u);
  EXPECT_EQ(browser().text(lines[0]), "line 1");
  EXPECT_EQ(browser().text(lines[5]), "line 6");
}

TEST_F(Browser, WaitForTimesOutNamingWhatItWaitedFor) {
  auto start = std::chrono::steady_clock::now();
  try {
    browser().wait_for("document.title === 'never'", 300ms, "a title that never comes");
    FAIL() << "wait_for returned for a condition that never holds";
  } catch (const WebDriverError& e) {
    FAIL() << "a WebDriver error instead of a timeout: " << e.what();
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("a title that never comes"), std::string::npos) << what;
    EXPECT_NE(what.find("was last false"), std::string::npos) << what;
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST_F(Browser, TypesIntoAnInputAndReadsItsValue) {
  ym::test::Element name = browser().find("#name");
  browser().type(name, "yardmaster");
  EXPECT_EQ(browser().property(name, "value"), "yardmaster");
  EXPECT_EQ(browser().execute("return arguments[0].value", json::array({name})), "yardmaster");
  // The attribute is the markup's, which typing does not change.
  EXPECT_EQ(browser().attribute(name, "value"), "");

  browser().clear(name);
  EXPECT_EQ(browser().property(name, "value"), "");
  browser().type(name, "ci");
  EXPECT_EQ(browser().property(name, "value"), "ci");
}

TEST_F(Browser, ExecuteReturnsScriptValues) {
  EXPECT_EQ(browser().execute("return 6 * 7"), 42);
  EXPECT_EQ(
      browser().execute("return arguments[0] + '-' + arguments[1]", json::array({"build", 7})),
      "build-7");
  EXPECT_EQ(browser().execute("return {ok: true, ids: [1, 2.5]}"),
            json({{"ok", true}, {"ids", {1, 2.5}}}));
  EXPECT_EQ(browser().execute("return document.title"), "Yardmaster browser test");
  EXPECT_EQ(browser().execute("return arguments[0].id", json::array({browser().find("h1")})),
            "heading");
  EXPECT_TRUE(browser().execute("return undefined").is_null());
}

TEST_F(Browser, ErrorRepliesBecomeExceptions) {
  try {
    browser().execute("throw new Error('boom from the page')");
    FAIL() << "a throwing script returned";
  } catch (const WebDriverError& e) {
    EXPECT_EQ(e.error(), "javascript error");
    EXPECT_NE(std::string(e.what()).find("boom from the page"), std::string::npos) << e.what();
  }
  try {
    browser().navigate("not a url");
    FAIL() << "navigating to an invalid URL returned";
  } catch (const WebDriverError& e) {
    EXPECT_EQ(e.error(), "invalid argument") << e.what();
  }
}

TEST_F(Browser, MissingSelectorThrowsNamingIt) {
  try {
    browser().find("#no-such-thing");
    FAIL() << "find returned for a selector that matches nothing";
  } catch (const WebDriverError& e) {
    EXPECT_EQ(e.error(), "no such element");
    EXPECT_NE(std::string(e.what()).find("#no-such-thing"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(browser().find_all("#no-such-thing").empty());
}

TEST_F(Browser, ScreenshotWritesAPng) {
  fs::path png = scratch_->path("page.png");
  browser().screenshot(png);
  std::ifstream in(png, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(Browser, StopsEveryProcessItStarted) {
  pid_t group = browser().driver_pid();
  // ChromeDriver and the browser's processes: the browser, its zygotes, renderers and so on.
  EXPECT_GT(live_group_members(group).size(), 2u);
  browser_.reset();
  // SIGKILL is delivered at once, but an exiting process is briefly still "live" in /proc.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::vector<pid_t> left;
  while (!(left = live_group_members(group)).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " processes of group " << group << " are left";
}

}  // namespace
