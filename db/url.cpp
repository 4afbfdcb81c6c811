#include "db/url.hpp"

#include <charconv>

#include "db/errors.hpp"

namespace ym::db {

const char* to_string(Backend b) {
  switch (b) {
    case Backend::kSqlite: return "sqlite";
    case Backend::kPostgres: return "postgresql";
    case Backend::kMysql: return "mysql";
  }
  return "unknown";
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& s, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        throw InvalidUrl(std::string("invalid database URL: truncated %-escape in the ") + what);
      }
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) {
        throw InvalidUrl(std::string("invalid database URL: bad %-escape in the ") + what);
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string percent_encode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void parse_query(const std::string& q, Url& url) {
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t amp = q.find('&', pos);
    std::string part = q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw InvalidUrl("invalid database URL: query option '" + part +
                         "' is not of the form name=value");
      }
      url.options[percent_decode(part.substr(0, eq), "query")] =
          percent_decode(part.substr(eq + 1), "query");
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
}

}  // namespace

Url Url::parse(const std::string& text) {
  Url url;
  size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) {
    throw InvalidUrl(
        "invalid database URL: expected scheme://..., e.g. sqlite:///state.sqlite or "
        "postgresql://user@host/db");
  }
  std::string scheme = text.substr(0, sep);
  if (size_t plus = scheme.find('+'); plus != std::string::npos) scheme.resize(plus);  // driver
  if (scheme == "sqlite") {
    url.backend = Backend::kSqlite;
  } else if (scheme == "postgresql" || scheme == "postgres") {
    url.backend = Backend::kPostgres;
  } else if (scheme == "mysql" || scheme == "mariadb") {
    url.backend = Backend::kMysql;
  } else {
    throw InvalidUrl("invalid database URL: unknown scheme '" + scheme +
                     "' (use sqlite, postgresql or mysql)");
  }

  std::string rest = text.substr(sep + 3);
  auto split_query = [&] {
    if (size_t q = rest.find('?'); q != std::string::npos) {
      parse_query(rest.substr(q + 1), url);
      rest.resize(q);
    }
  };

  if (url.backend == Backend::kSqlite) {
    split_query();
    if (rest.empty() || rest == "/:memory:" || rest == "/") {
      if (rest == "/") throw InvalidUrl("invalid database URL: sqlite:/// needs a file name");
      url.memory = true;
      return url;
    }
    if (rest[0] != '/') {
      throw InvalidUrl(
          "invalid database URL: SQLite URLs have no host; use sqlite:///relative/path or "
          "sqlite:////absolute/path");
    }
    url.database = percent_decode(rest.substr(1), "path");
    if (url.database.empty()) throw InvalidUrl("invalid database URL: missing SQLite file name");
    return url;
  }

  // user[:password]@ as SQLAlchemy reads it: the user name ends at ':', '/' or '@'; a password
  // runs to the next '@' and may hold '/', '?' or ':' unencoded (only '@' must be encoded).
  size_t user_end = rest.find_first_of(":/@?");
  if (user_end != std::string::npos && rest[user_end] == '@') {
    url.user = percent_decode(rest.substr(0, user_end), "user name");
    rest = rest.substr(user_end + 1);
  } else if (user_end != std::string::npos && rest[user_end] == ':') {
    size_t at = rest.find('@', user_end);
    if (at != std::string::npos) {
      url.user = percent_decode(rest.substr(0, user_end), "user name");
      url.password = percent_decode(rest.substr(user_end + 1, at - user_end - 1), "password");
      rest = rest.substr(at + 1);
    }
  }
  split_query();  // after the password, which may contain '?'
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  std::string hostport = authority;
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:5432
    size_t close = hostport.find(']');
    if (close == std::string::npos) throw InvalidUrl("invalid database URL: unclosed '[' in host");
    url.host = hostport.substr(1, close - 1);
    hostport = hostport.substr(close + 1);
    if (!hostport.empty() && hostport[0] != ':') {
      throw InvalidUrl("invalid database URL: unexpected text after ']' in host");
    }
  } else {
    size_t colon = hostport.find(':');
    url.host = hostport.substr(0, colon);
    hostport = colon == std::string::npos ? "" : hostport.substr(colon);
  }
  if (!hostport.empty()) {  // ":port"
    std::string p = hostport.substr(1);
    int port = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || port <= 0 || port > 65535) {
      throw InvalidUrl("invalid database URL: port '" + p + "' is not a number from 1 to 65535");
    }
    url.port = port;
  }
  url.database = percent_decode(path, "database name");
  if (url.database.empty()) {
    throw InvalidUrl(std::string("invalid database URL: missing database name (") +
                     ym::db::to_string(url.backend) + "://user@host/DATABASE)");
  }
  if (url.database.find('/') != std::string::npos) {
    throw InvalidUrl("invalid database URL: database name may not contain '/'");
  }
  return url;
}

std::string Url::to_string() const {
  std::string out = std::string(ym::db::to_string(backend)) + "://";
  if (backend == Backend::kSqlite) {
    if (!memory) out += "/" + database;
  } else {
    if (!user.empty() || password) {
      out += percent_encode(user);
      if (password) out += ":***";
      out += "@";
    }
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port) out += ":" + std::to_string(*port);
    out += "/" + percent_encode(database);
  }
  bool first = true;
  for (const auto& [k, v] : options) {
    out += first ? "?" : "&";
    first = false;
    out += percent_encode(k) + "=" + percent_encode(v);
  }
  return out;
}

std::optional<std::string> Url::option(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

int Url::int_option(const std::string& name, int fallback) const {
  auto v = option(name);
  if (!v) return fallback;
  int n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || ptr != v->data() + v->size()) {
    throw InvalidUrl("invalid database URL: option " + name + "=" + *v + " is not an integer");
  }
  return n;
}

std::string mask_passwords(const std::string& text, const Url& url) {
  if (!url.password || url.password->empty()) return text;
  std::string out = text;
  for (const std::string& secret : {*url.password, percent_encode(*url.password)}) {
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return out;
}

}  // namespace ym::db
