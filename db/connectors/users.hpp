// Users: people known to the CI, recognised across systems by typed attributes (a git email, an
// IRC nick, ...), with an optional login (username and password hash).
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"

namespace ym::db {

struct User {
  int64_t uid = 0;
  std::string identifier;  // display name, unique
  std::optional<std::string> bb_username;
  std::optional<std::string> bb_password;         // a hash, never a clear-text password
  // attr_type -> attr_data. Attributes whose type is the name of a field above (uid, identifier,
  // bb_username, bb_password) are left out, as the reference says.
  std::map<std::string, std::string> attributes;
  bool operator==(const User&) const = default;
};

// What get_users lists of each user: the reference's "partial usdict" (no credentials, no
// attributes), as Buildbot returns it.
struct UserSummary {
  int64_t uid = 0;
  std::string identifier;
  bool operator==(const UserSummary&) const = default;
};

// Only the fields given are changed. bb_username and bb_password go together, as do attr_type
// and attr_data (InvalidArgument otherwise).
struct UserUpdate {
  std::optional<std::string> identifier;
  std::optional<std::string> bb_username;
  std::optional<std::string> bb_password;
  std::optional<std::string> attr_type;
  std::optional<std::string> attr_data;
};

class Users {
 public:
  virtual ~Users() = default;

  // The uid of the user with attribute (attr_type, attr_data), creating the user (with
  // `identifier`, made unique with a numeric suffix if taken) and the attribute when none has it.
  // `identifier` is not used to search. Racing callers for one attribute get one user.
  // ValueTooLong / InvalidArgument (empty, not UTF-8) for bad input; nothing is written then.
  virtual Future<int64_t> find_user_by_attr(std::string identifier, std::string attr_type,
                                            std::string attr_data) = 0;

  // The user with attributes, or nullopt. Cached ("usdicts"); writes invalidate it.
  virtual Future<std::optional<User>> get_user(int64_t uid, bool no_cache = false) = 0;

  // The user whose bb_username is `username`, with attributes, or nullopt.
  virtual Future<std::optional<User>> get_user_by_username(std::string username) = 0;

  // Every user ordered by uid, as uid and identifier only (no username, password hash or
  // attributes: the reference's partial user dicts).
  virtual Future<std::vector<UserSummary>> get_users() = 0;

  // Applies `update` to the user, all or nothing; an unknown uid is silently ignored (as the
  // reference says). The attribute update replaces the user's value of that attr_type. Throws
  // InvalidArgument for an unpaired or bad field, ValueTooLong, AlreadyExists when the new
  // identifier, username or (attr_type, attr_data) belongs to another user.
  virtual Future<void> update_user(int64_t uid, UserUpdate update) = 0;

  // Removes the user, its attributes and its links to changes. Unknown uids are ignored.
  virtual Future<void> remove_user(int64_t uid) = 0;

  // The uid with this identifier, or nullopt.
  virtual Future<std::optional<int64_t>> identifier_to_uid(std::string identifier) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_user_by_attr)
  YM_ASYNC(get_user)
  YM_ASYNC(get_user_by_username)
  YM_ASYNC(get_users)
  YM_ASYNC(update_user)
  YM_ASYNC(remove_user)
  YM_ASYNC(identifier_to_uid)
};

}  // namespace ym::db
