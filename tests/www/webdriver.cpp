#include "www/webdriver.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace ym::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const char* const kChromium = "/usr/bin/chromium";
const char* const kChromeDriver = "/usr/bin/chromedriver";

// The W3C key under which an element reference travels in JSON.
const char* const kElementKey = "element-6066-11e4-a52e-4f735466cecf";

// ChromeDriver's own script and page-load timeouts are set to kScriptTimeout, shorter than
// kCallTimeout, so that a slow page ends in WebDriver's "timeout" error (which says what timed
// out) rather than in our transport timeout.
constexpr auto kScriptTimeout = 30s;
constexpr auto kCallTimeout = 45s;
// Starting the browser waits for Chromium, which on a loaded two-core machine can take long.
constexpr auto kNewSessionTimeout = 90s;
constexpr auto kStartTimeout = 30s;
constexpr auto kStopTimeout = 5s;
constexpr auto kPollInterval = 50ms;
// Beast's default body limit (8 MB) is below a large page source or a full-page screenshot.
constexpr std::uint64_t kMaxBody = 256u << 20;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Reply {
  unsigned status;
  std::string body;
};

// One HTTP exchange with ChromeDriver on its own connection. The synchronous Beast calls ignore
// tcp_stream's deadline, so the asynchronous ones are run to completion on a private io_context:
// then expires_after bounds connect, write and read together.
Reply exchange(unsigned short port, http::verb verb, const std::string& target, std::string body,
               std::chrono::seconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  auto finish = [&](const char* step) {
    io.run();
    io.restart();
    if (ec == beast::error::timeout) {
      throw std::runtime_error(std::string(http::to_string(verb)) + " " + target +
                               ": no answer from ChromeDriver within " +
                               std::to_string(timeout.count()) + " s");
    }
    if (ec) {
      throw std::runtime_error(std::string(http::to_string(verb)) + " " + target + ": " + step +
                               ": " + ec.message());
    }
  };
  stream.expires_after(timeout);
  stream.async_connect(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port),
                       [&](beast::error_code e) { ec = e; });
  finish("connect");

  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::content_type, "application/json");
  request.keep_alive(false);
  if (verb == http::verb::post) request.body() = std::move(body);
  request.prepare_payload();
  http::async_write(stream, request, [&](beast::error_code e, std::size_t) { ec = e; });
  finish("write");

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
  finish("read");
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);  // the server may be first
  http::response<http::string_body> response = parser.release();
  return {response.result_int(), std::move(response.body())};
}

// A WebDriver command: returns the reply's "value", throws WebDriverError for an error reply.
// `label` names the command in errors.
json call(unsigned short port, http::verb verb, const std::string& target, const json& body,
          const std::string& label, std::chrono::seconds timeout = kCallTimeout) {
  Reply reply = exchange(port, verb, target, verb == http::verb::post ? body.dump() : "", timeout);
  json parsed = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("value")) {
    throw std::runtime_error(
        label + ": HTTP " + std::to_string(reply.status) +
        " with a body that is no WebDriver reply: " + reply.body.substr(0, 500));
  }
  json& value = parsed["value"];
  if (value.is_object() && value.contains("error")) {
    std::string error = value["error"].is_string() ? value["error"].get<std::string>() : "?";
    std::string message = value.value("message", std::string());
    throw WebDriverError(error, label + ": " + error + ": " + message);
  }
  if (reply.status != 200) {
    throw std::runtime_error(label + ": HTTP " + std::to_string(reply.status) + ": " +
                             reply.body.substr(0, 500));
  }
  return std::move(value);
}

std::string element_id(const json& reference, const std::string& label) {
  if (!reference.is_object() || !reference.contains(kElementKey)) {
    throw std::runtime_error(label + ": not an element reference: " + reference.dump());
  }
  return reference[kElementKey].get<std::string>();
}

std::string base64_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      throw std::runtime_error("screenshot: the reply is not base64");
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// Whether `pid` (our child) has exited, without reaping it: while it is unreaped its pid, which
// is also its process group's id, cannot be reused, so signals to the group reach only ours.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

}  // namespace

WebDriverError::WebDriverError(std::string error, const std::string& what)
    : std::runtime_error(what), error_(std::move(error)) {}

void to_json(json& j, const Element& element) { j = json{{kElementKey, element.id}}; }

std::optional<std::string> Browser::unavailable() {
  for (const char* binary : {kChromium, kChromeDriver}) {
    if (::access(binary, X_OK) != 0) {
      return std::string(binary) + " is missing (apt-get install chromium chromium-driver; " +
             "scripts/setup installs them)";
    }
  }
  return std::nullopt;
}

Browser::Browser(const fs::path& scratch_dir)
    : scratch_(scratch_dir), log_path_(scratch_dir / "chromedriver.log") {
  fs::create_directories(scratch_);
  // With --port=0 ChromeDriver picks a port for IPv6 and then binds the same number on IPv4,
  // which another process may hold ("IPv4 port not available. Exiting..."): it is started again
  // (at most three times) until both are its own.
  start_driver();
  try {
    for (int attempt = 1;; ++attempt) {
      try {
        port_ = wait_for_port();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 3 || read_file(log_path_).find("port not available") == std::string::npos) {
          throw;
        }
        stop_driver();
        start_driver();
      }
    }
    wait_until_ready();
    // (Not --disable-crashpad-for-testing: with it, Chromium 156's renderer never answers a
    // navigation.)
    json args = json::array({"--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1366,900",
                             "--user-data-dir=" + (scratch_ / "profile").string()});
    json options = {{"binary", kChromium}, {"args", args}};
    constexpr long long kScriptMs = std::chrono::milliseconds(kScriptTimeout).count();
    json capabilities = {
        {"browserName", "chrome"},
        {"goog:chromeOptions", options},
        {"timeouts", {{"script", kScriptMs}, {"pageLoad", kScriptMs}, {"implicit", 0}}}};
    json value = call(port_, http::verb::post, "/session",
                      {{"capabilities", {{"alwaysMatch", capabilities}}}}, "new session",
                      kNewSessionTimeout);
    session_id_ = value.at("sessionId").get<std::string>();
  } catch (const std::exception& e) {
    std::string why = e.what();
    stop_driver();
    fail_startup(why);
  }
}

Browser::~Browser() {
  if (!session_id_.empty()) {
    try {
      // Closes the browser the orderly way; what is left of it is killed with ChromeDriver.
      call(port_, http::verb::delete_, "/session/" + session_id_, nullptr, "delete session");
    } catch (const std::exception&) {
    }
  }
  stop_driver();
}

void Browser::start_driver() {
  int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) {
    throw std::runtime_error("cannot create " + log_path_.string() + ": " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log, 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
  // A process group of its own, which the browser processes join, so that stop_driver can signal
  // them all; and the default signal state, whatever the test process blocks.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // Port 0: ChromeDriver binds a free port itself and prints it (wait_for_port), which cannot
  // race with another process the way a port probed here and handed over could.
  std::string program = kChromeDriver, port = "--port=0";
  char* argv[] = {program.data(), port.data(), nullptr};
  int rc = ::posix_spawn(&driver_pid_, kChromeDriver, &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log);
  if (rc != 0) {
    driver_pid_ = -1;
    throw std::runtime_error(std::string("cannot start ") + kChromeDriver + ": " +
                             std::strerror(rc));
  }
}

unsigned short Browser::wait_for_port() {
  static const std::regex kStarted("started successfully on port ([0-9]+)");
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (true) {
    std::smatch m;
    std::string log = read_file(log_path_);
    if (std::regex_search(log, m, kStarted)) return static_cast<unsigned short>(std::stoi(m[1]));
    if (has_exited(driver_pid_)) throw std::runtime_error("chromedriver exited at startup");
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("chromedriver did not report its port within " +
                               std::to_string(kStartTimeout.count()) + " s");
    }
    std::this_thread::sleep_for(20ms);
  }
}

void Browser::wait_until_ready() {
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::string last;
  while (true) {
    try {
      json status = call(port_, http::verb::get, "/status", nullptr, "status", 5s);
      if (status.value("ready", false)) return;
      last = status.dump();
    } catch (const std::runtime_error& e) {
      last = e.what();
    }
    if (has_exited(driver_pid_)) throw std::runtime_error("chromedriver exited at startup");
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("chromedriver not ready within " +
                               std::to_string(kStartTimeout.count()) + " s: " + last);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void Browser::stop_driver() noexcept {
  if (driver_pid_ <= 0) return;
  ::kill(-driver_pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  while (!has_exited(driver_pid_) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  // Whatever is left of the group (ChromeDriver itself if it hung, browser processes it left
  // behind) cannot ignore this. The group is still ours: its leader is not reaped yet.
  ::kill(-driver_pid_, SIGKILL);
  int status = 0;
  while (::waitpid(driver_pid_, &status, 0) < 0 && errno == EINTR) {
  }
  driver_pid_ = -1;
}

void Browser::fail_startup(const std::string& why) const {
  std::string log = read_file(log_path_);
  constexpr std::size_t kTail = 3000;
  if (log.size() > kTail) log = "..." + log.substr(log.size() - kTail);
  throw std::runtime_error("the browser did not start: " + why + "\n" + log_path_.string() + ":\n" +
                           log);
}

json Browser::session_command(Method method, const std::string& path, const json& body) {
  http::verb verb = method == Method::kGet    ? http::verb::get
                    : method == Method::kPost ? http::verb::post
                                              : http::verb::delete_;
  return call(port_, verb, "/session/" + session_id_ + path, body,
              std::string(http::to_string(verb)) + " " + path);
}

void Browser::navigate(const std::string& url) {
  session_command(Method::kPost, "/url", {{"url", url}});
}

std::string Browser::current_url() {
  return session_command(Method::kGet, "/url").get<std::string>();
}

std::string Browser::title() { return session_command(Method::kGet, "/title").get<std::string>(); }

std::string Browser::page_source() {
  return session_command(Method::kGet, "/source").get<std::string>();
}

Element Browser::find(const std::string& css) {
  try {
    json found =
        session_command(Method::kPost, "/element", {{"using", "css selector"}, {"value", css}});
    return {element_id(found, "find")};
  } catch (const WebDriverError& e) {
    if (e.error() != "no such element") throw;
    throw WebDriverError(e.error(), "find(\"" + css + "\"): no element matches this CSS selector");
  }
}

std::vector<Element> Browser::find_all(const std::string& css) {
  json found =
      session_command(Method::kPost, "/elements", {{"using", "css selector"}, {"value", css}});
  std::vector<Element> out;
  for (const json& reference : found) out.push_back({element_id(reference, "find_all")});
  return out;
}

std::string Browser::text(const Element& element) {
  return session_command(Method::kGet, "/element/" + element.id + "/text").get<std::string>();
}

std::optional<std::string> Browser::attribute(const Element& element, const std::string& name) {
  json value = session_command(Method::kGet, "/element/" + element.id + "/attribute/" + name);
  if (value.is_null()) return std::nullopt;
  return value.get<std::string>();
}

json Browser::property(const Element& element, const std::string& name) {
  return session_command(Method::kGet, "/element/" + element.id + "/property/" + name);
}

void Browser::click(const Element& element) {
  session_command(Method::kPost, "/element/" + element.id + "/click");
}

void Browser::type(const Element& element, const std::string& text) {
  session_command(Method::kPost, "/element/" + element.id + "/value", {{"text", text}});
}

void Browser::clear(const Element& element) {
  session_command(Method::kPost, "/element/" + element.id + "/clear");
}

json Browser::execute(const std::string& script, const json& args) {
  return session_command(Method::kPost, "/execute/sync", {{"script", script}, {"args", args}});
}

void Browser::wait_for(const std::string& condition, std::chrono::milliseconds timeout,
                       const std::string& what) {
  // The newlines keep a trailing // comment in `condition` from swallowing the parenthesis.
  const std::string script = "return (\n" + condition + "\n);";
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto next = std::chrono::steady_clock::now() + kPollInterval;
    json value = execute(script);
    if (value == true) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("timed out after " + std::to_string(timeout.count()) +
                               " ms waiting for " + what + ": `" + condition + "` was last " +
                               value.dump());
    }
    std::this_thread::sleep_until(next);
  }
}

void Browser::screenshot(const fs::path& path) {
  json encoded = session_command(Method::kGet, "/screenshot");
  std::string png = base64_decode(encoded.get<std::string>());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  out.close();
  if (!out) throw std::runtime_error("screenshot: cannot write " + path.string());
}

}  // namespace ym::test
