// Internal to db/ and fake/: what the SQL users connector and the fake share, so that both
// make the same identifier for a new user and check input the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "db/base.hpp"
#include "db/connectors/users.hpp"
#include "db/errors.hpp"
#include "db/model.hpp"

namespace ym::db::internal {

// The n-th identifier to try for a new user: `base` itself, then base_1, base_2, ...; the base is
// cut (at a character boundary) so that base and suffix fit users.identifier.
inline std::string user_identifier_candidate(std::string_view base, int64_t n) {
  if (n == 0) return std::string(base);
  std::string suffix = "_" + std::to_string(n);
  size_t max_chars = static_cast<size_t>(model::max_length("users", "identifier"));
  size_t keep = max_chars > suffix.size() ? max_chars - suffix.size() : 0;
  size_t chars = 0, i = 0;
  for (; i < base.size(); ++i) {
    if ((static_cast<unsigned char>(base[i]) & 0xC0) != 0x80) {
      if (chars == keep) break;
      ++chars;
    }
  }
  return std::string(base.substr(0, i)) + suffix;
}

// Throws InvalidArgument (empty, not UTF-8) or ValueTooLong unless `value` can be stored in
// `table`.`column`. Never puts the value in the message: it may be a password hash.
inline void check_user_field(const char* table, const char* column, const std::string& value) {
  if (value.empty()) {
    throw InvalidArgument(std::string(table) + "." + column + " must not be empty");
  }
  if (!is_valid_utf8(value)) {
    throw InvalidArgument(std::string(table) + "." + column + " is not valid UTF-8");
  }
  check_length(table, column, value);
}

inline void check_find_user_by_attr(const std::string& identifier, const std::string& attr_type,
                                    const std::string& attr_data) {
  check_user_field("users", "identifier", identifier);
  check_user_field("users_info", "attr_type", attr_type);
  check_user_field("users_info", "attr_data", attr_data);
}

inline void check_user_update(const UserUpdate& u) {
  if (u.bb_username.has_value() != u.bb_password.has_value()) {
    throw InvalidArgument("bb_username and bb_password must be given together");
  }
  if (u.attr_type.has_value() != u.attr_data.has_value()) {
    throw InvalidArgument("attr_type and attr_data must be given together");
  }
  if (u.identifier) check_user_field("users", "identifier", *u.identifier);
  if (u.bb_username) check_user_field("users", "bb_username", *u.bb_username);
  if (u.bb_password) check_user_field("users", "bb_password", *u.bb_password);
  if (u.attr_type) check_user_field("users_info", "attr_type", *u.attr_type);
  if (u.attr_data) check_user_field("users_info", "attr_data", *u.attr_data);
}

}  // namespace ym::db::internal
