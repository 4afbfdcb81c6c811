// A small blocking HTTP/1.1 client for the web server's tests: one request per connection, on
// loopback, with a deadline on every call.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ym::test {

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& name) const;
};

HttpResult http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = {},
                        const std::vector<std::pair<std::string, std::string>>& headers = {});
inline HttpResult http_get(uint16_t port, const std::string& target) {
  return http_request(port, "GET", target);
}

// Sends `bytes` as they are and returns everything the server answers until it closes (for
// requests no client library would send).
std::string http_raw(uint16_t port, const std::string& bytes);

}  // namespace ym::test
