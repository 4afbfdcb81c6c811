#include "db/base.hpp"

#include <algorithm>

#include <openssl/evp.h>

#include "db/errors.hpp"
#include "db/model.hpp"
#include "db/types.hpp"

namespace ym::db {

bool is_identifier(std::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  if (s[0] >= '0' && s[0] <= '9') return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '-' || c == '_') || c >= 0x80) return false;
  }
  return true;
}

void check_identifier(std::string_view what, std::string_view s, size_t max_length) {
  if (is_identifier(s, max_length)) return;
  std::string shown(s.substr(0, 60));
  if (s.size() > 60) shown += "...";
  std::string why;
  if (s.empty()) {
    why = "it is empty";
  } else if (s.size() > max_length) {
    why = "it is " + std::to_string(utf8_length(s)) + " characters long (at most " +
          std::to_string(max_length) + ")";
  } else if (s[0] >= '0' && s[0] <= '9') {
    why = "it starts with a digit";
  } else {
    why = "it may contain only ASCII letters, digits, '-' and '_'";
  }
  throw InvalidIdentifier("invalid " + std::string(what) + " '" + shown + "': " + why);
}

namespace {
// Length of the well-formed UTF-8 sequence at s[i], or 0 when ill-formed.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are ill-formed.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}
}  // namespace

size_t utf8_length(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    i += n ? n : 1;
    ++count;
  }
  return count;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      i += 1;
    }
  }
  return out;
}

void check_length(const std::string& table, const std::string& column, std::string_view value) {
  int max = model::max_length(table, column);
  if (max == 0) return;
  size_t len = utf8_length(value);
  if (len > static_cast<size_t>(max)) {
    throw ValueTooLong(table + "." + column + " is limited to " + std::to_string(max) +
                       " characters; the value given has " + std::to_string(len));
  }
}

std::string ensure_length(const std::string& table, const std::string& column,
                          const std::string& value) {
  int max = model::max_length(table, column);
  if (max == 0 || utf8_length(value) <= static_cast<size_t>(max)) return value;
  size_t keep = static_cast<size_t>(max / 2), chars = 0, i = 0;
  for (; i < value.size(); ++i) {
    if ((static_cast<unsigned char>(value[i]) & 0xC0) != 0x80) {
      if (chars == keep) break;
      ++chars;
    }
  }
  return value.substr(0, i) + hash_columns({value}).substr(0, keep);
}

HashValue hash_value(const std::optional<std::string>& s) {
  return s ? HashValue(*s) : HashValue(nullptr);
}
HashValue hash_value(const std::optional<int64_t>& i) {
  return i ? HashValue(*i) : HashValue(nullptr);
}

std::string hash_columns(const std::vector<HashValue>& values) {
  std::string joined;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) joined.push_back('\0');
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            joined.push_back(static_cast<char>(0xf5));
          } else if constexpr (std::is_same_v<T, std::string>) {
            joined += v;
          } else {
            joined += std::to_string(v);
          }
        },
        values[i]);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(joined.data(), joined.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
    throw InternalError("sha1 failed");
  }
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

std::string hash_columns(std::initializer_list<HashValue> values) {
  return hash_columns(std::vector<HashValue>(values));
}

std::optional<int64_t> find_something_id(Connection& conn, std::string_view select_sql,
                                         std::span<const Value> select_params,
                                         std::string_view insert_sql,
                                         std::span<const Value> insert_params,
                                         std::string_view id_column, bool auto_create) {
  auto find = [&]() -> std::optional<int64_t> {
    return conn.stmt(select_sql).bind_all(select_params).scalar<int64_t>();
  };
  if (auto id = find()) return id;
  if (!auto_create) return std::nullopt;
  // A savepoint keeps a unique violation from aborting the caller's transaction (PostgreSQL
  // aborts the whole transaction on any error otherwise).
  bool nested = conn.in_transaction();
  if (nested) conn.execute_script("SAVEPOINT ym_find_something");
  try {
    int64_t id = conn.insert(insert_sql, insert_params, id_column);
    if (nested) conn.execute_script("RELEASE SAVEPOINT ym_find_something");
    return id;
  } catch (const UniqueViolation&) {
    // Someone inserted the same row between our select and our insert: theirs is the row.
    if (nested) conn.execute_script("ROLLBACK TO SAVEPOINT ym_find_something");
  }
  if (auto id = find()) return id;
  // Inside a snapshot (PostgreSQL repeatable read, MySQL) the winner's row may not be visible
  // yet: retrying the whole transaction sees it.
  throw TransientError("find-or-insert: another connection inserted the same row; retrying");
}

std::string placeholders(size_t n) {
  std::string out;
  out.reserve(n * 3);
  for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

size_t batch_size(const Dialect& dialect, size_t per_item, size_t reserved) {
  size_t limit = static_cast<size_t>(dialect.max_bind_variables);
  if (limit <= reserved + per_item) return 1;
  return (limit - reserved) / per_item;
}

Timestamp now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace ym::db

namespace ym::db::results {
const char* name(int code) {
  switch (code) {
    case kSuccess: return "success";
    case kWarnings: return "warnings";
    case kFailure: return "failure";
    case kSkipped: return "skipped";
    case kException: return "exception";
    case kRetry: return "retry";
    case kCancelled: return "cancelled";
  }
  return "unknown";
}

int worst(int a, int b) {
  for (int r : {kCancelled, kRetry, kException, kFailure, kWarnings, kSuccess, kSkipped}) {
    if (a == r || b == r) return r;
  }
  return std::max(a, b);
}
}  // namespace ym::db::results
