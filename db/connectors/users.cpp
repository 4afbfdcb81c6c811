#include "db/connectors/users.hpp"

#include "db/connectors/sql.hpp"
#include "db/connectors/users_util.hpp"

namespace ym::db {
namespace {

constexpr const char* kSelectUser = "SELECT uid, identifier, bb_username, bb_password FROM users";

User read_user(const Row& r) {
  User u;
  u.uid = r.get<int64_t>(0);
  u.identifier = r.get<std::string>(1);
  u.bb_username = r.get<std::optional<std::string>>(2);
  u.bb_password = r.get<std::optional<std::string>>(3);
  return u;
}

// The user selected by `where` (one parameter), with attributes, or nullopt.
std::optional<User> fetch_user(Connection& c, const std::string& where, const Value& param) {
  auto row = c.stmt(std::string(kSelectUser) + where).bind(param).one();
  if (!row) return std::nullopt;
  User u = read_user(*row);
  for (const Row& r :
       c.stmt("SELECT attr_type, attr_data FROM users_info WHERE uid = ? ORDER BY attr_type")
           .bind(u.uid)
           .all()) {
    auto type = r.get<std::string>(0);
    if (!internal::is_user_field_name(type)) u.attributes[type] = r.get<std::string>(1);
  }
  return u;
}

class SqlUsers final : public Users {
 public:
  explicit SqlUsers(internal::Context& ctx)
      : ctx_(ctx), cache_(ctx.caches.make<int64_t, User>("usdicts")) {}

  Future<int64_t> find_user_by_attr(std::string identifier, std::string attr_type,
                                    std::string attr_data) override {
    try {
      internal::check_find_user_by_attr(identifier, attr_type, attr_data);
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    return ctx_.pool.transaction([identifier, attr_type, attr_data](Connection& c) {
      try {
        return find_or_create_user(c, identifier, attr_type, attr_data);
      } catch (const UniqueViolation&) {
        // Another caller created the same attribute, or took the same identifier, after our
        // snapshot was taken. Rolling back drops our user row too; the pool then runs the whole
        // transaction again with a fresh snapshot, which finds the winner's rows.
        throw TransientError("a user was created concurrently; retrying");
      }
    });
  }

  Future<std::optional<User>> get_user(int64_t uid, bool no_cache) override {
    auto& pool = ctx_.pool;
    return cache_
        ->get(
            uid,
            [&pool, uid] {
              return pool.read([uid](Connection& c) -> std::shared_ptr<const User> {
                auto u = fetch_user(c, " WHERE uid = ?", uid);
                if (!u) return nullptr;
                return std::make_shared<const User>(std::move(*u));
              });
            },
            no_cache)
        .then([](Future<std::shared_ptr<const User>> f) {
          auto p = f.get();
          return p ? std::optional<User>(*p) : std::nullopt;
        });
  }

  Future<std::optional<User>> get_user_by_username(std::string username) override {
    return ctx_.pool.read(
        [username](Connection& c) { return fetch_user(c, " WHERE bb_username = ?", username); });
  }

  Future<std::vector<UserSummary>> get_users() override {
    return ctx_.pool.run([](Connection& c) {
      std::vector<UserSummary> out;
      for (const Row& r : c.stmt("SELECT uid, identifier FROM users ORDER BY uid").all()) {
        out.push_back(UserSummary{r.get<int64_t>(0), r.get<std::string>(1)});
      }
      return out;
    });
  }

  Future<void> update_user(int64_t uid, UserUpdate update) override {
    try {
      internal::check_user_update(update);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    auto done = ctx_.pool.transaction([uid, update](Connection& c) {
      if (!c.stmt("SELECT 1 FROM users WHERE uid = ?").bind(uid).one()) return;  // ignored
      try {
        apply_update(c, uid, update);
      } catch (const UniqueViolation&) {
        // A concurrent writer committed after our snapshot was taken. Run again with a fresh
        // snapshot: the checks then see its rows and answer AlreadyExists only when the value
        // really belongs to another user (the writer may have been this user's own update).
        throw TransientError("user " + std::to_string(uid) + " was updated concurrently");
      }
    });
    return invalidate_after(std::move(done), uid);
  }

  Future<void> remove_user(int64_t uid) override {
    auto done = ctx_.pool.transaction([uid](Connection& c) {
      // ON DELETE CASCADE would do this, but deleting explicitly does not depend on the
      // backend enforcing foreign keys.
      c.stmt("DELETE FROM change_users WHERE uid = ?").bind(uid).exec();
      c.stmt("DELETE FROM users_info WHERE uid = ?").bind(uid).exec();
      c.stmt("DELETE FROM users WHERE uid = ?").bind(uid).exec();
    });
    return invalidate_after(std::move(done), uid);
  }

  Future<std::optional<int64_t>> identifier_to_uid(std::string identifier) override {
    return ctx_.pool.run([identifier](Connection& c) {
      return c.stmt("SELECT uid FROM users WHERE identifier = ?")
          .bind(identifier)
          .scalar<int64_t>();
    });
  }

 private:
  static int64_t find_or_create_user(Connection& c, const std::string& identifier,
                                     const std::string& attr_type, const std::string& attr_data) {
    if (auto uid = c.stmt("SELECT uid FROM users_info WHERE attr_type = ? AND attr_data = ?")
                       .bind(attr_type, attr_data)
                       .scalar<int64_t>()) {
      return *uid;
    }
    std::string chosen = identifier;
    while (c.stmt("SELECT 1 FROM users WHERE identifier = ?").bind(chosen).one()) {
      chosen = internal::next_user_identifier(chosen);
    }
    int64_t uid = c.stmt("INSERT INTO users (identifier) VALUES (?)").bind(chosen).insert("uid");
    c.stmt("INSERT INTO users_info (uid, attr_type, attr_data) VALUES (?, ?, ?)")
        .bind(uid, attr_type, attr_data)
        .exec();
    return uid;
  }

  static void apply_update(Connection& c, int64_t uid, const UserUpdate& u) {
    if (u.identifier) {
      if (c.stmt("SELECT 1 FROM users WHERE identifier = ? AND uid <> ?")
              .bind(*u.identifier, uid)
              .one()) {
        throw AlreadyExists("identifier '" + *u.identifier + "' belongs to another user");
      }
      c.stmt("UPDATE users SET identifier = ? WHERE uid = ?").bind(*u.identifier, uid).exec();
    }
    if (u.bb_username) {
      if (c.stmt("SELECT 1 FROM users WHERE bb_username = ? AND uid <> ?")
              .bind(*u.bb_username, uid)
              .one()) {
        throw AlreadyExists("username '" + *u.bb_username + "' belongs to another user");
      }
      c.stmt("UPDATE users SET bb_username = ?, bb_password = ? WHERE uid = ?")
          .bind(*u.bb_username, *u.bb_password, uid)
          .exec();
    }
    if (u.attr_type) {
      auto owner = c.stmt("SELECT uid FROM users_info WHERE attr_type = ? AND attr_data = ?")
                       .bind(*u.attr_type, *u.attr_data)
                       .scalar<int64_t>();
      if (owner && *owner != uid) {
        throw AlreadyExists("attribute " + *u.attr_type + " '" + *u.attr_data +
                            "' belongs to another user");
      }
      if (owner) return;  // already this user's value
      if (c.stmt("UPDATE users_info SET attr_data = ? WHERE uid = ? AND attr_type = ?")
              .bind(*u.attr_data, uid, *u.attr_type)
              .exec() == 0) {
        c.stmt("INSERT INTO users_info (uid, attr_type, attr_data) VALUES (?, ?, ?)")
            .bind(uid, *u.attr_type, *u.attr_data)
            .exec();
      }
    }
  }

  // Drops the cached user once the write has committed (or failed), so that a read started
  // before the write cannot store the old row after it.
  Future<void> invalidate_after(Future<void> done, int64_t uid) {
    auto cache = cache_;
    return done.then([cache, uid](Future<void> f) {
      cache->invalidate(uid);
      f.get();
    });
  }

  internal::Context& ctx_;
  std::shared_ptr<Cache<int64_t, User>> cache_;
};

}  // namespace

std::unique_ptr<Users> internal::make_sql_users(Context& ctx) {
  return std::make_unique<SqlUsers>(ctx);
}

}  // namespace ym::db
