#include <set>

#include "contract/fixture.hpp"

namespace ym::test {
namespace {

YM_CONTRACT_SUITE(UsersContract);

using Attrs = std::map<std::string, std::string>;

TEST_P(UsersContract, FindUserByAttrCreatesTheUserAndItsAttribute) {
  auto uid = db_->users().find_user_by_attr("soap", "git", "soap <soap@example.org>").get();
  auto u = db_->users().get_user(uid).get();
  ASSERT_TRUE(u);
  EXPECT_EQ(*u, (db::User{uid, "soap", std::nullopt, std::nullopt,
                          Attrs{{"git", "soap <soap@example.org>"}}}));
}

TEST_P(UsersContract, FindUserByAttrFindsAnExistingUserWhateverTheIdentifier) {
  insert({td::User{.uid = 5, .identifier = "soap"},
          td::UserInfo{.uid = 5, .attr_type = "irc", .attr_data = "soapy"}});
  EXPECT_EQ(db_->users().find_user_by_attr("someone-else", "irc", "soapy").get(), 5);
  EXPECT_EQ(db_->users().get_users().get().size(), 1u);
  // Same data under another type is another attribute: a new user.
  EXPECT_NE(db_->users().find_user_by_attr("soap2", "git", "soapy").get(), 5);
}

// Buildbot's incrementIdentifier: a taken "soap" becomes "soap_2", then "soap_3"; a taken name
// that already ends in "_<n>" has n bumped.
TEST_P(UsersContract, FindUserByAttrMakesTheIdentifierUniqueLikeBuildbot) {
  insert({td::User{.uid = 5, .identifier = "soap"}, td::User{.uid = 6, .identifier = "bob_7"},
          td::User{.uid = 7, .identifier = "bob_8"}});
  auto a = db_->users().find_user_by_attr("soap", "git", "a@example.org").get();
  auto b = db_->users().find_user_by_attr("soap", "git", "b@example.org").get();
  auto c = db_->users().find_user_by_attr("bob_7", "git", "c@example.org").get();
  auto d = db_->users().find_user_by_attr("v_009", "git", "d@example.org").get();
  auto e = db_->users().find_user_by_attr("v_009", "git", "e@example.org").get();
  EXPECT_EQ(db_->users().get_user(a).get()->identifier, "soap_2");
  EXPECT_EQ(db_->users().get_user(b).get()->identifier, "soap_3");
  EXPECT_EQ(db_->users().get_user(c).get()->identifier, "bob_9");
  EXPECT_EQ(db_->users().get_user(d).get()->identifier, "v_009");
  EXPECT_EQ(db_->users().get_user(e).get()->identifier, "v_10");
  EXPECT_EQ(db_->users().identifier_to_uid("soap_3").get(), b);
}

TEST_P(UsersContract, FindUserByAttrKeepsASuffixedIdentifierWithinItsColumn) {
  std::string full(255, 'x');
  insert({td::User{.uid = 5, .identifier = full}});
  auto uid = db_->users().find_user_by_attr(full, "git", "x@example.org").get();
  auto ident = db_->users().get_user(uid).get()->identifier;
  EXPECT_EQ(ident, std::string(253, 'x') + "_2");
}

TEST_P(UsersContract, FindUserByAttrRejectsBadInputAndCreatesNothing) {
  auto& users = db_->users();
  EXPECT_THROW(users.find_user_by_attr("", "git", "a").get(), db::InvalidArgument);
  EXPECT_THROW(users.find_user_by_attr("soap", "", "a").get(), db::InvalidArgument);
  EXPECT_THROW(users.find_user_by_attr("soap", "git", "").get(), db::InvalidArgument);
  EXPECT_THROW(users.find_user_by_attr(std::string(256, 'i'), "git", "a").get(), db::ValueTooLong);
  EXPECT_THROW(users.find_user_by_attr("soap", std::string(129, 't'), "a").get(), db::ValueTooLong);
  EXPECT_THROW(users.find_user_by_attr("soap", "git", std::string(129, 'd')).get(),
               db::ValueTooLong);
  EXPECT_THROW(users.find_user_by_attr("so\xFFp", "git", "a").get(), db::InvalidArgument);
  EXPECT_THROW(users.find_user_by_attr("soap", "git", "\xC0\x80").get(), db::InvalidArgument);
  EXPECT_TRUE(users.get_users().get().empty());
}

TEST_P(UsersContract, EightThreadsFindingOneAttributeGetOneUser) {
  std::vector<int64_t> uids(8);
  race(8, [&](int i) {
    uids[i] = db_->users().find_user_by_attr("racer" + std::to_string(i), "git", "r@x").get();
  });
  EXPECT_EQ(std::set<int64_t>(uids.begin(), uids.end()).size(), 1u);
  EXPECT_EQ(db_->users().get_users().get().size(), 1u);
  EXPECT_EQ(db_->users().get_user(uids[0]).get()->attributes, (Attrs{{"git", "r@x"}}));
}

TEST_P(UsersContract, EightThreadsCreatingUsersWithOneIdentifierGetDistinctIdentifiers) {
  std::vector<int64_t> uids(8);
  race(8, [&](int i) {
    uids[i] = db_->users().find_user_by_attr("dup", "git", "d" + std::to_string(i)).get();
  });
  EXPECT_EQ(std::set<int64_t>(uids.begin(), uids.end()).size(), 8u);
  std::set<std::string> idents;
  for (const auto& u : db_->users().get_users().get()) idents.insert(u.identifier);
  EXPECT_EQ(idents, (std::set<std::string>{"dup", "dup_2", "dup_3", "dup_4", "dup_5", "dup_6",
                                           "dup_7", "dup_8"}));
}

TEST_P(UsersContract, GetUserMissingIsNullopt) { EXPECT_FALSE(db_->users().get_user(3).get()); }

TEST_P(UsersContract, GetUserByUsernameReturnsTheUserWithAttributes) {
  insert({td::User{.uid = 5, .identifier = "soap", .bb_username = "soap", .bb_password = "h1"},
          td::User{.uid = 6, .identifier = "other"},
          td::UserInfo{.uid = 5, .attr_type = "git", .attr_data = "s@x"},
          td::UserInfo{.uid = 5, .attr_type = "irc", .attr_data = "soapy"}});
  auto u = db_->users().get_user_by_username("soap").get();
  ASSERT_TRUE(u);
  EXPECT_EQ(*u, (db::User{5, "soap", "soap", "h1", Attrs{{"git", "s@x"}, {"irc", "soapy"}}}));
  EXPECT_FALSE(db_->users().get_user_by_username("other").get());
}

// The reference's partial usdicts: uid and identifier, never the password hash.
TEST_P(UsersContract, GetUsersIsOrderedByUidWithoutCredentialsOrAttributes) {
  insert({td::User{.uid = 7, .identifier = "b"},
          td::User{.uid = 5, .identifier = "a", .bb_username = "a", .bb_password = "h"},
          td::UserInfo{.uid = 5, .attr_type = "git", .attr_data = "a@x"}});
  EXPECT_EQ(db_->users().get_users().get(),
            (std::vector<db::UserSummary>{{5, "a"}, {7, "b"}}));
}

// "Types colliding with the keys above are ignored" (the reference): such an attribute is stored
// and found, but a user's dictionary does not carry it.
TEST_P(UsersContract, AttributesNamedLikeUserFieldsAreLeftOutOfTheUser) {
  auto uid = db_->users().find_user_by_attr("soap", "identifier", "fake").get();
  for (const char* type : {"uid", "bb_username", "bb_password"}) {
    db_->users().update_user(uid, {.attr_type = type, .attr_data = "x"}).get();
  }
  db_->users().update_user(uid, {.bb_username = "soap", .bb_password = "h"}).get();
  db_->users().update_user(uid, {.attr_type = "git", .attr_data = "s@x"}).get();
  db::User want{uid, "soap", "soap", "h", Attrs{{"git", "s@x"}}};
  EXPECT_EQ(*db_->users().get_user(uid).get(), want);
  EXPECT_EQ(*db_->users().get_user_by_username("soap").get(), want);
  EXPECT_EQ(db_->users().find_user_by_attr("other", "identifier", "fake").get(), uid);
}

TEST_P(UsersContract, UpdateUserChangesOnlyTheFieldsGiven) {
  insert({td::User{.uid = 5, .identifier = "soap"},
          td::UserInfo{.uid = 5, .attr_type = "git", .attr_data = "s@x"}});
  auto& users = db_->users();
  EXPECT_EQ(users.get_user(5).get()->identifier, "soap");  // cached now
  users.update_user(5, {.identifier = "soapy"}).get();
  EXPECT_EQ(*users.get_user(5).get(),
            (db::User{5, "soapy", std::nullopt, std::nullopt, Attrs{{"git", "s@x"}}}));
  users.update_user(5, {.bb_username = "soap", .bb_password = "hash"}).get();
  EXPECT_EQ(*users.get_user(5).get(),
            (db::User{5, "soapy", "soap", "hash", Attrs{{"git", "s@x"}}}));
  users.update_user(5, {}).get();
  EXPECT_EQ(users.get_user(5).get()->bb_password, "hash");
}

TEST_P(UsersContract, UpdateUserAttributeReplacesThatTypeOrAddsIt) {
  insert({td::User{.uid = 5, .identifier = "soap"},
          td::UserInfo{.uid = 5, .attr_type = "git", .attr_data = "old@x"}});
  auto& users = db_->users();
  users.update_user(5, {.attr_type = "git", .attr_data = "new@x"}).get();
  users.update_user(5, {.attr_type = "irc", .attr_data = "soapy"}).get();
  users.update_user(5, {.attr_type = "irc", .attr_data = "soapy"}).get();  // unchanged
  EXPECT_EQ(users.get_user(5).get()->attributes, (Attrs{{"git", "new@x"}, {"irc", "soapy"}}));
  EXPECT_EQ(users.find_user_by_attr("x", "git", "new@x").get(), 5);
  EXPECT_NE(users.find_user_by_attr("x", "git", "old@x").get(), 5);
}

TEST_P(UsersContract, UpdateUserRefusesValuesOfAnotherUserAndChangesNothing) {
  insert({td::User{.uid = 5, .identifier = "soap", .bb_username = "soap", .bb_password = "h5"},
          td::User{.uid = 6, .identifier = "suds", .bb_username = "suds", .bb_password = "h6"},
          td::UserInfo{.uid = 6, .attr_type = "git", .attr_data = "suds@x"}});
  auto& users = db_->users();
  EXPECT_THROW(users.update_user(5, {.identifier = "suds"}).get(), db::AlreadyExists);
  EXPECT_THROW(users.update_user(5, {.bb_username = "suds", .bb_password = "x"}).get(),
               db::AlreadyExists);
  // All or nothing: the identifier is not changed when the attribute is refused.
  EXPECT_THROW(
      users.update_user(5, {.identifier = "new", .attr_type = "git", .attr_data = "suds@x"}).get(),
      db::AlreadyExists);
  EXPECT_EQ(*users.get_user(5).get(), (db::User{5, "soap", "soap", "h5", {}}));
  EXPECT_EQ(users.get_user(6).get()->attributes, (Attrs{{"git", "suds@x"}}));
  // A user's own values are not "taken".
  EXPECT_NO_THROW(users.update_user(5, {.identifier = "soap"}).get());
}

TEST_P(UsersContract, UpdateUserRejectsUnpairedOrBadFields) {
  insert({td::User{.uid = 5, .identifier = "soap"}});
  auto& users = db_->users();
  EXPECT_THROW(users.update_user(5, {.bb_username = "soap"}).get(), db::InvalidArgument);
  EXPECT_THROW(users.update_user(5, {.bb_password = "hash"}).get(), db::InvalidArgument);
  EXPECT_THROW(users.update_user(5, {.attr_type = "git"}).get(), db::InvalidArgument);
  EXPECT_THROW(users.update_user(5, {.attr_data = "x"}).get(), db::InvalidArgument);
  EXPECT_THROW(users.update_user(5, {.identifier = ""}).get(), db::InvalidArgument);
  EXPECT_THROW(users.update_user(5, {.identifier = std::string(256, 'i')}).get(), db::ValueTooLong);
  EXPECT_THROW(users.update_user(5, {.identifier = "bad\xFF"}).get(), db::InvalidArgument);
  EXPECT_EQ(*users.get_user(5).get(), (db::User{5, "soap", std::nullopt, std::nullopt, {}}));
}

TEST_P(UsersContract, AnOverlongPasswordHashIsRefusedWithoutShowingIt) {
  insert({td::User{.uid = 5, .identifier = "soap"}});
  std::string secret = "sekrit" + std::string(200, 'p');
  try {
    db_->users().update_user(5, {.bb_username = "soap", .bb_password = secret}).get();
    FAIL() << "an over-long password hash was accepted";
  } catch (const db::ValueTooLong& e) {
    EXPECT_EQ(std::string(e.what()).find("sekrit"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(db_->users().get_user(5).get()->bb_username);
}

TEST_P(UsersContract, UpdateUserOfAnUnknownUidIsIgnored) {
  EXPECT_NO_THROW(
      db_->users()
          .update_user(9, {.identifier = "ghost", .attr_type = "git", .attr_data = "g@x"})
          .get());
  EXPECT_TRUE(db_->users().get_users().get().empty());
}

TEST_P(UsersContract, RemoveUserRemovesAttributesAndChangeLinks) {
  insert({td::User{.uid = 5, .identifier = "soap"}, td::User{.uid = 6, .identifier = "suds"},
          td::UserInfo{.uid = 5, .attr_type = "git", .attr_data = "s@x"}, td::SourceStamp{.id = 1},
          td::Change{.changeid = 10, .sourcestampid = 1}, td::ChangeUser{.changeid = 10, .uid = 5},
          td::ChangeUser{.changeid = 10, .uid = 6}});
  ASSERT_TRUE(db_->users().get_user(5).get());  // cached now
  db_->users().remove_user(5).get();
  db_->users().remove_user(5).get();  // already gone: not an error
  EXPECT_FALSE(db_->users().get_user(5).get());
  EXPECT_FALSE(db_->users().identifier_to_uid("soap").get());
  EXPECT_EQ(db_->changes().get_change_uids(10).get(), std::vector<int64_t>{6});
  // The attribute is free again.
  EXPECT_NE(db_->users().find_user_by_attr("soap", "git", "s@x").get(), 5);
}

TEST_P(UsersContract, IdentifierToUid) {
  insert({td::User{.uid = 5, .identifier = "soap"}});
  EXPECT_EQ(db_->users().identifier_to_uid("soap").get(), 5);
  EXPECT_FALSE(db_->users().identifier_to_uid("Soap").get());
}

}  // namespace
}  // namespace ym::test
