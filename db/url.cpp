#include "db/url.hpp"

#include <cctype>
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

// Where `user[:password]@` ends in `rest` (the text after "://"): the index of its '@', or npos
// when there is none. It is the last '@' after which the text reads as host[:port]/database
// [?options]: a host without '@' or '?', then a '/', then a database name without '/'. So a
// password may hold '@', '/', '?' and ':' unencoded, and an '@' in the database name or an option
// value is not taken for the userinfo's. When no '@' reads so (the URL is malformed anyway), it is
// the last '@' before the first '/'. Either way no piece of a password is read as a host, a port
// or a database name, which would send it to a resolver or a server and print it.
size_t userinfo_end(const std::string& rest) {
  constexpr size_t npos = std::string::npos;
  // A user name holds no '/' or '?': text that starts with a host and a path has no user info.
  size_t user_end = rest.find_first_of(":/?@");
  if (user_end == npos || rest[user_end] == '/' || rest[user_end] == '?') return npos;
  auto host_and_path_follow = [&](size_t at) {
    size_t slash = rest.find('/', at + 1);
    if (slash == npos || rest.find_first_of("@?", at + 1) < slash) return false;
    size_t query = rest.find('?', slash);
    size_t next_slash = rest.find('/', slash + 1);
    return next_slash == npos || (query != npos && next_slash > query);
  };
  for (size_t at = rest.rfind('@'); at != npos && at >= user_end;
       at = at == 0 ? npos : rest.rfind('@', at - 1)) {
    if (host_and_path_follow(at)) return at;
  }
  size_t slash = rest.find('/');
  if (slash == npos) return rest.rfind('@');
  return slash == 0 ? npos : rest.rfind('@', slash - 1);
}

// Whether `s` may be quoted in an error message: it looks like a scheme or an option name, so it
// cannot be a misplaced piece of a password (which would hold other characters, or be the only
// thing in a URL that is not one of these).
bool quotable(const std::string& s) {
  if (s.empty() || s.size() > 40) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.' && c != '+') return false;
  }
  return true;
}

void parse_query(const std::string& q, Url& url) {
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t amp = q.find('&', pos);
    std::string part = q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw InvalidUrl("invalid database URL: query option " +
                         (quotable(part) ? "'" + part + "' " : std::string()) +
                         "is not of the form name=value");
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
    throw InvalidUrl("invalid database URL: unknown scheme " +
                     (quotable(scheme) ? "'" + scheme + "' " : std::string()) +
                     "(use sqlite, postgresql or mysql)");
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

  if (size_t at = userinfo_end(rest); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    size_t colon = userinfo.find(':');
    url.user = percent_decode(userinfo.substr(0, colon), "user name");
    if (colon != std::string::npos) {
      url.password = percent_decode(userinfo.substr(colon + 1), "password");
    }
    rest = rest.substr(at + 1);
  }
  split_query();  // after the password, which may contain '?'
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  // host[:port] or [v6]:port, several separated by ','.
  auto parse_endpoint = [](std::string hostport) {
    Endpoint e;
    if (!hostport.empty() && hostport[0] == '[') {  // [::1]:5432
      size_t close = hostport.find(']');
      if (close == std::string::npos) {
        throw InvalidUrl("invalid database URL: unclosed '[' in host");
      }
      e.host = hostport.substr(1, close - 1);
      hostport = hostport.substr(close + 1);
      if (!hostport.empty() && hostport[0] != ':') {
        throw InvalidUrl("invalid database URL: unexpected text after ']' in host");
      }
    } else {
      size_t colon = hostport.find(':');
      e.host = hostport.substr(0, colon);
      hostport = colon == std::string::npos ? "" : hostport.substr(colon);
    }
    if (!hostport.empty()) {  // ":port"
      std::string p = hostport.substr(1);
      int port = 0;
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
      if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || port <= 0 ||
          port > 65535) {
        // Quoted only when it is digits: other text there may be a password missing its '@'.
        bool digits = !p.empty() && p.size() <= 10 &&
                      p.find_first_not_of("0123456789") == std::string::npos;
        throw InvalidUrl("invalid database URL: port " +
                         (digits ? "'" + p + "' " : std::string()) +
                         "is not a number from 1 to 65535");
      }
      e.port = port;
    }
    return e;
  };
  std::vector<Endpoint> hosts;
  for (size_t from = 0;;) {
    // A ',' inside [...] belongs to no v6 address, but look for the end of the brackets anyway.
    size_t scan = from;
    if (scan < authority.size() && authority[scan] == '[') {
      size_t close = authority.find(']', scan);
      if (close != std::string::npos) scan = close;
    }
    size_t comma = authority.find(',', scan);
    std::string piece = authority.substr(from, comma == std::string::npos ? std::string::npos
                                                                           : comma - from);
    if (piece.empty() && (comma != std::string::npos || !hosts.empty())) {
      throw InvalidUrl("invalid database URL: an empty host in the list of hosts");
    }
    hosts.push_back(parse_endpoint(piece));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  url.host = hosts[0].host;
  url.port = hosts[0].port;
  url.more_hosts.assign(hosts.begin() + 1, hosts.end());
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
    bool first_host = true;
    for (const auto& e : endpoints()) {
      if (!first_host) out += ",";
      first_host = false;
      out += e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
      if (e.port) out += ":" + std::to_string(*e.port);
    }
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

std::vector<Endpoint> Url::endpoints() const {
  std::vector<Endpoint> all{{host, port}};
  all.insert(all.end(), more_hosts.begin(), more_hosts.end());
  return all;
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

namespace {

// Where a match of secret[k..] at text[pos] ends, each of its characters written as itself, as a
// %-escape in either case (however the URL was encoded) or after a backslash (libpq's quoting of
// conninfo values); 0 when there is none. Backtracks, since '%' or '\' may be the secret's own.
size_t match_secret(const std::string& text, size_t pos, const std::string& secret, size_t k = 0) {
  if (k == secret.size()) return pos;
  if (pos >= text.size()) return 0;
  char c = secret[k];
  if (text[pos] == c) {
    if (size_t end = match_secret(text, pos + 1, secret, k + 1)) return end;
  }
  if (text[pos] == '%' && pos + 2 < text.size()) {
    int hi = hex_value(text[pos + 1]);
    int lo = hex_value(text[pos + 2]);
    if (hi >= 0 && lo >= 0 && static_cast<char>(hi * 16 + lo) == c) {
      if (size_t end = match_secret(text, pos + 3, secret, k + 1)) return end;
    }
  }
  if (text[pos] == '\\' && pos + 1 < text.size() && text[pos + 1] == c) {
    if (size_t end = match_secret(text, pos + 2, secret, k + 1)) return end;
  }
  return 0;
}

void replace_secret(std::string& text, const std::string& secret) {
  if (secret.empty()) return;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (size_t end = match_secret(text, pos, secret)) {
      text.replace(pos, end - pos, "***");
      pos += 2;
    }
  }
}

// The span of `text` (a URL as given) that could hold a password, as [begin, end); begin == end
// when there is none. See mask_url_text.
std::pair<size_t, size_t> secret_span(const std::string& text) {
  size_t sep = text.find("://");
  size_t start = sep == std::string::npos ? 0 : sep + 3;
  size_t last_at = text.rfind('@');
  if (last_at != std::string::npos && last_at >= start) {
    size_t colon = text.find(':', start);
    if (colon != std::string::npos && colon < last_at) return {colon + 1, last_at};
    return {0, 0};
  }
  // No '@': a password can only be where a port would be, if "@host" was left out. Without
  // "://" the text is not a URL at all (a directory, say) and is left as it is.
  if (sep == std::string::npos) return {0, 0};
  size_t end = text.find_first_of("/?", start);
  if (end == std::string::npos) end = text.size();
  size_t host_end = start;
  if (host_end < end && text[host_end] == '[') {
    host_end = text.find(']', host_end);
    if (host_end == std::string::npos || host_end >= end) return {0, 0};
  }
  size_t colon = text.find(':', host_end);
  if (colon == std::string::npos || colon >= end) return {0, 0};
  std::string port = text.substr(colon + 1, end - colon - 1);
  if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos) return {0, 0};
  return {colon + 1, end};
}

bool ends_token(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '"' || c == '`' ||
         c == '<' || c == '>';
}

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '.' || c == '-';
}

}  // namespace

std::string mask_url_text(const std::string& text) {
  auto [begin, end] = secret_span(text);
  if (begin >= end) return text;
  return text.substr(0, begin) + "***" + text.substr(end);
}

std::string printable_url(const std::string& text) {
  try {
    return Url::parse(text).to_string();
  } catch (const InvalidUrl&) {
    return mask_url_text(text);
  }
}

std::string mask_urls_in(const std::string& text) {
  std::string out = text;
  size_t pos = 0;
  while ((pos = out.find("://", pos)) != std::string::npos) {
    size_t begin = pos;
    while (begin > 0 && scheme_char(out[begin - 1])) --begin;
    size_t end = pos + 3;
    while (end < out.size() && !ends_token(out[end])) ++end;
    std::string masked = mask_url_text(out.substr(begin, end - begin));
    out.replace(begin, end - begin, masked);
    pos = begin + masked.size();
  }
  return out;
}

std::string mask_passwords(const std::string& text, const Url& url) {
  std::string out = text;
  if (url.password && !url.password->empty()) {
    const std::string& secret = *url.password;
    replace_secret(out, secret);
    // Pieces of it between URL delimiters: what a parser that split it there would have shown.
    size_t from = 0;
    while (from < secret.size()) {
      size_t to = secret.find_first_of("@/:?#&", from);
      if (to == std::string::npos) to = secret.size();
      if (to - from >= 4 && to - from < secret.size()) {
        replace_secret(out, secret.substr(from, to - from));
      }
      from = to + 1;
    }
  }
  return mask_urls_in(out);
}

std::string mask_passwords(const std::string& text, const std::string& url_text) {
  try {
    return mask_passwords(text, Url::parse(url_text));
  } catch (const InvalidUrl&) {
    auto [begin, end] = secret_span(url_text);
    if (begin >= end) return mask_urls_in(text);
    Url guess;
    std::string written = url_text.substr(begin, end - begin);
    try {
      guess.password = percent_decode(written, "password");
    } catch (const InvalidUrl&) {
      guess.password = written;
    }
    std::string out = mask_passwords(text, guess);
    replace_secret(out, written);
    return out;
  }
}

}  // namespace ym::db
