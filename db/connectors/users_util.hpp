// Internal to db/ and fake/: what the SQL users connector and the fake share, so that both
// make the same identifier for a new user and check input the same way.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "db/base.hpp"
#include "db/connectors/users.hpp"
#include "db/errors.hpp"
#include "db/model.hpp"

namespace ym::db::internal {

// The identifier to try after `ident` was taken, by Buildbot's rule (its incrementIdentifier):
// a trailing "_<digits>" is bumped by one ("alice_2" -> "alice_3"), anything else gets "_2"
// ("alice" -> "alice_2"). The rest is cut (at a character boundary) so that it and the suffix
// fit users.identifier.
inline std::string next_user_identifier(std::string_view ident) {
  size_t digits = ident.size();
  while (digits > 0 && ident[digits - 1] >= '0' && ident[digits - 1] <= '9') --digits;
  std::string_view base = ident;
  std::string number = "1";
  if (digits < ident.size() && digits > 0 && ident[digits - 1] == '_') {
    base = ident.substr(0, digits - 1);
    number = std::string(ident.substr(digits));
  }
  // number + 1 in decimal, on the text (a suffix may be longer than any integer type).
  size_t k = number.size();
  while (k > 0 && number[k - 1] == '9') number[--k] = '0';
  if (k == 0) {
    number.insert(number.begin(), '1');
  } else {
    ++number[k - 1];
  }
  number.erase(0, std::min(number.find_first_not_of('0'), number.size() - 1));  // "007" -> "8"
  std::string suffix = "_" + number;
  size_t max_chars = static_cast<size_t>(model::max_length("users", "identifier"));
  if (suffix.size() > max_chars) throw InvalidArgument("cannot make a longer user identifier");
  size_t keep = max_chars - suffix.size();
  size_t chars = 0, i = 0;
  for (; i < base.size(); ++i) {
    if ((static_cast<unsigned char>(base[i]) & 0xC0) != 0x80) {
      if (chars == keep) break;
      ++chars;
    }
  }
  return std::string(base.substr(0, i)) + suffix;
}

// Attribute types that a user dictionary keeps for its own fields: the reference drops such
// attributes from what get_user returns (they stay stored and findable by find_user_by_attr).
inline bool is_user_field_name(const std::string& attr_type) {
  return attr_type == "uid" || attr_type == "identifier" || attr_type == "bb_username" ||
         attr_type == "bb_password";
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
