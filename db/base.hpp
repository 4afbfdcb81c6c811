// Helpers every connector component shares (Buildbot's db/base.py): identifier and length
// checks, find-or-insert that survives a concurrent insert, column hashing, and batching of
// long id lists under the backend's bind-variable limit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "drivers/driver.hpp"

namespace ym::db {

// True when `s` is a non-empty identifier of at most `max_length` characters: ASCII
// alphanumerics, '-' and '_', not starting with a digit.
bool is_identifier(std::string_view s, size_t max_length);

// Throws InvalidIdentifier (naming `what` and the rule broken) unless is_identifier(s, max_length).
void check_identifier(std::string_view what, std::string_view s, size_t max_length);

// Number of Unicode characters in UTF-8 text (invalid bytes count as one character each).
size_t utf8_length(std::string_view s);

// True when `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

// Replaces every ill-formed UTF-8 sequence by U+FFFD, so that what is stored reads back as text.
std::string sanitize_utf8(std::string_view s);

// Throws ValueTooLong when `value` does not fit the model's `table`.`column`.
void check_length(const std::string& table, const std::string& column, std::string_view value);

// `value` made to fit the model's `table`.`column` the way Buildbot's ensureLength does: when
// longer, its first max/2 characters followed by the first max/2 hex digits of its SHA-1. The
// same long value always gives the same short one, so a lookup by it still finds the row.
std::string ensure_length(const std::string& table, const std::string& column,
                          const std::string& value);

// One value for hash_columns: null, text or integer.
using HashValue = std::variant<std::nullptr_t, std::string, int64_t>;
HashValue hash_value(const std::optional<std::string>& s);
HashValue hash_value(const std::optional<int64_t>& i);

// SHA-1 (hex) over the values joined by NUL: null as the byte 0xf5, text as UTF-8, integers in
// decimal, exactly as the reference defines it.
std::string hash_columns(std::initializer_list<HashValue> values);
std::string hash_columns(const std::vector<HashValue>& values);

// Finds a row with `select_sql` (which must return the id in its first column) or inserts it with
// `insert_sql`, returning its id. Survives a concurrent insert of the same row by another
// connection or process: a unique violation on insert means someone else won, so the row is
// read again. Returns nullopt only when `auto_create` is false and the row does not exist.
std::optional<int64_t> find_something_id(Connection& conn, std::string_view select_sql,
                                         std::span<const Value> select_params,
                                         std::string_view insert_sql,
                                         std::span<const Value> insert_params,
                                         std::string_view id_column = "id",
                                         bool auto_create = true);

// "?, ?, ?" with n placeholders.
std::string placeholders(size_t n);

// How many items fit in one statement when each needs `per_item` bind variables and
// `reserved` more are used by the rest of the statement.
size_t batch_size(const Dialect& dialect, size_t per_item = 1, size_t reserved = 0);

// Splits `items` into consecutive slices of at most `n` (Buildbot's doBatch).
template <class T>
std::vector<std::span<const T>> do_batch(std::span<const T> items, size_t n) {
  std::vector<std::span<const T>> out;
  if (n == 0) n = 1;
  for (size_t i = 0; i < items.size(); i += n) {
    out.push_back(items.subspan(i, std::min(n, items.size() - i)));
  }
  return out;
}
template <class T>
std::vector<std::span<const T>> do_batch(const std::vector<T>& items, size_t n) {
  return do_batch(std::span<const T>(items), n);
}

// Current wall-clock time in whole seconds (UTC).
Timestamp now_seconds();

}  // namespace ym::db
