// A minimal W3C WebDriver client for the browser tests: a headless Chromium driven through
// ChromeDriver's HTTP protocol (https://www.w3.org/TR/webdriver2/), with a small synchronous
// HTTP client on Boost.Beast. Chromium and ChromeDriver are Debian's `chromium` and
// `chromium-driver` (scripts/setup installs them).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ym::test {

// A WebDriver error response ({"value": {"error": ..., "message": ...}}). what() names the
// command, the error code and ChromeDriver's message.
class WebDriverError : public std::runtime_error {
 public:
  WebDriverError(std::string error, const std::string& what);
  // The W3C error code: "no such element", "javascript error", "timeout", ...
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// An element of the current page, as WebDriver identifies it. Valid until the page navigates or
// the element leaves the document (then calls on it throw "stale element reference").
struct Element {
  std::string id;
};

// An element as a script argument:
//   execute("return arguments[0].tagName", nlohmann::json::array({element}))
void to_json(nlohmann::json& j, const Element& element);

// One ChromeDriver and one browser session. Every call is synchronous, bounded by a timeout, and
// throws WebDriverError for an error response and std::runtime_error for a transport failure
// (ChromeDriver gone, no answer in time). Not thread-safe: one thread drives a Browser.
class Browser {
 public:
  // Why Chromium or ChromeDriver cannot run here (a binary missing), or nullopt when they can.
  static std::optional<std::string> unavailable();

  // Starts ChromeDriver on a free 127.0.0.1 port, its output in `scratch_dir`/chromedriver.log,
  // and opens a session with a headless Chromium whose profile is `scratch_dir`/profile. Throws
  // std::runtime_error (with the end of ChromeDriver's log) when either does not come up in time.
  explicit Browser(const std::filesystem::path& scratch_dir);
  // Ends the session, then stops ChromeDriver and every process it started (the browser's too),
  // and reaps ChromeDriver. Never throws.
  ~Browser();
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  // Loads `url` and returns once the page has loaded (its load event).
  void navigate(const std::string& url);
  std::string current_url();
  std::string title();
  // The current DOM serialized, as the browser has it now (not the bytes that were served).
  std::string page_source();

  // The first element that matches the CSS selector. Throws WebDriverError "no such element",
  // naming the selector, when none does (at once: no implicit wait; use wait_for).
  Element find(const std::string& css);
  // Every element that matches, in document order; empty when none does.
  std::vector<Element> find_all(const std::string& css);

  // The element's rendered text (innerText-like: hidden text is left out).
  std::string text(const Element& element);
  // The element's HTML attribute as written in the document, or nullopt when it has none. For
  // the live state of a form control (an input's current value) use property().
  std::optional<std::string> attribute(const Element& element, const std::string& name);
  // The element's DOM property (`value`, `checked`, ...), null when it is undefined.
  nlohmann::json property(const Element& element, const std::string& name);

  // Clicks the element's centre as a user would; throws "element not interactable" or
  // "element click intercepted" when it is hidden or covered.
  void click(const Element& element);
  // Focuses the element and types `text` into it, key by key.
  void type(const Element& element, const std::string& text);
  // Empties an editable element (an input, a textarea).
  void clear(const Element& element);

  // Runs `script` as the body of a function called with `args` (an array: `arguments[0]`, ...)
  // and returns what it returns (elements come back as {"element-6066-...": id}). A thrown
  // exception becomes WebDriverError "javascript error".
  nlohmann::json execute(const std::string& script,
                         const nlohmann::json& args = nlohmann::json::array());

  // Evaluates the JavaScript expression `condition` every 50 ms until it is `true`; throws
  // std::runtime_error naming `what` and the expression's last value when `timeout` passes first.
  // An expression that throws is a WebDriverError at once rather than a wait.
  void wait_for(const std::string& condition, std::chrono::milliseconds timeout,
                const std::string& what);

  // Writes a PNG screenshot of the viewport to `path`.
  void screenshot(const std::filesystem::path& path);

  // ChromeDriver's pid, which is also the process group of everything it started.
  pid_t driver_pid() const { return driver_pid_; }

 private:
  enum class Method { kGet, kPost, kDelete };

  void start_driver();
  unsigned short wait_for_port();
  void wait_until_ready();
  void stop_driver() noexcept;
  [[noreturn]] void fail_startup(const std::string& why) const;
  // A command on the session: `path` is relative to /session/{id} ("/url", "/element").
  nlohmann::json session_command(Method method, const std::string& path,
                                 const nlohmann::json& body = nlohmann::json::object());

  std::filesystem::path scratch_;
  std::filesystem::path log_path_;
  pid_t driver_pid_ = -1;
  unsigned short port_ = 0;
  std::string session_id_;
};

}  // namespace ym::test
