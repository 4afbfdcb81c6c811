#include "db/connectors/users.hpp"

#include "db/connectors/users_util.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

class FakeUsers final : public db::Users {
 public:
  explicit FakeUsers(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_user_by_attr(std::string identifier, std::string attr_type,
                                    std::string attr_data) override {
    return a_.call([&](Store& s) {
      db::internal::check_find_user_by_attr(identifier, attr_type, attr_data);
      for (const auto& ui : s.users_info) {
        if (ui.attr_type == attr_type && ui.attr_data == attr_data) return ui.uid;
      }
      std::string chosen = identifier;
      while (find_by_identifier(s, chosen)) chosen = db::internal::next_user_identifier(chosen);
      int64_t uid = s.next_id("users", s.users);
      s.users[uid] = td::User{uid, chosen, std::nullopt, std::nullopt};
      s.users_info.push_back(td::UserInfo{uid, attr_type, attr_data});
      return uid;
    });
  }

  Future<std::optional<db::User>> get_user(int64_t uid, bool /*no_cache*/) override {
    return a_.call([&](Store& s) -> std::optional<db::User> {
      auto it = s.users.find(uid);
      if (it == s.users.end()) return std::nullopt;
      return to_record(s, it->second, true);
    });
  }

  Future<std::optional<db::User>> get_user_by_username(std::string username) override {
    return a_.call([&](Store& s) -> std::optional<db::User> {
      for (const auto& [uid, u] : s.users) {
        if (u.bb_username == username) return to_record(s, u, true);
      }
      return std::nullopt;
    });
  }

  Future<std::vector<db::UserSummary>> get_users() override {
    return a_.call([&](Store& s) {
      std::vector<db::UserSummary> out;
      for (const auto& [uid, u] : s.users) out.push_back(db::UserSummary{uid, u.identifier});
      return out;
    });
  }

  Future<void> update_user(int64_t uid, db::UserUpdate update) override {
    return a_.call([&](Store& s) {
      db::internal::check_user_update(update);
      auto it = s.users.find(uid);
      if (it == s.users.end()) return;  // ignored, as the reference says
      // Check everything first: the call is all-or-nothing.
      if (update.identifier) {
        auto other = find_by_identifier(s, *update.identifier);
        if (other && *other != uid) {
          throw db::AlreadyExists("identifier '" + *update.identifier +
                                  "' belongs to another user");
        }
      }
      if (update.bb_username) {
        for (const auto& [id, u] : s.users) {
          if (id != uid && u.bb_username == update.bb_username) {
            throw db::AlreadyExists("username '" + *update.bb_username +
                                    "' belongs to another user");
          }
        }
      }
      if (update.attr_type) {
        for (const auto& ui : s.users_info) {
          if (ui.uid != uid && ui.attr_type == *update.attr_type &&
              ui.attr_data == *update.attr_data) {
            throw db::AlreadyExists("attribute " + *update.attr_type + " '" + *update.attr_data +
                                    "' belongs to another user");
          }
        }
      }
      td::User& u = it->second;
      if (update.identifier) u.identifier = *update.identifier;
      if (update.bb_username) {
        u.bb_username = update.bb_username;
        u.bb_password = update.bb_password;
      }
      if (update.attr_type) {
        for (auto& ui : s.users_info) {
          if (ui.uid == uid && ui.attr_type == *update.attr_type) {
            ui.attr_data = *update.attr_data;
            return;
          }
        }
        s.users_info.push_back(td::UserInfo{uid, *update.attr_type, *update.attr_data});
      }
    });
  }

  Future<void> remove_user(int64_t uid) override {
    return a_.call([&](Store& s) {
      // The SQL schema cascades these deletes; the fake does it by hand.
      std::erase_if(s.change_users, [&](const td::ChangeUser& cu) { return cu.uid == uid; });
      std::erase_if(s.users_info, [&](const td::UserInfo& ui) { return ui.uid == uid; });
      s.users.erase(uid);
    });
  }

  Future<std::optional<int64_t>> identifier_to_uid(std::string identifier) override {
    return a_.call([&](Store& s) { return find_by_identifier(s, identifier); });
  }

 private:
  static std::optional<int64_t> find_by_identifier(const Store& s, const std::string& identifier) {
    for (const auto& [uid, u] : s.users) {
      if (u.identifier == identifier) return uid;
    }
    return std::nullopt;
  }

  static db::User to_record(const Store& s, const td::User& u, bool with_attributes) {
    db::User rec{u.uid, u.identifier, u.bb_username, u.bb_password, {}};
    if (with_attributes) {
      for (const auto& ui : s.users_info) {
        if (ui.uid == u.uid && !db::internal::is_user_field_name(ui.attr_type)) {
          rec.attributes[ui.attr_type] = ui.attr_data;
        }
      }
    }
    return rec;
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Users> make_fake_users(FakeDb::Access a) {
  return std::make_unique<FakeUsers>(a);
}

}  // namespace ym::fake
