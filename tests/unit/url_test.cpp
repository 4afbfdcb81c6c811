#include <gtest/gtest.h>

#include "db/errors.hpp"
#include "db/url.hpp"

namespace ym::db {
namespace {

TEST(Url, SqliteForms) {
  EXPECT_TRUE(Url::parse("sqlite://").memory);
  EXPECT_TRUE(Url::parse("sqlite:///:memory:").memory);
  auto rel = Url::parse("sqlite:///state.sqlite");
  EXPECT_EQ(rel.backend, Backend::kSqlite);
  EXPECT_EQ(rel.database, "state.sqlite");
  EXPECT_FALSE(rel.memory);
  EXPECT_EQ(Url::parse("sqlite:////abs/path.sqlite").database, "/abs/path.sqlite");
  EXPECT_EQ(Url::parse("sqlite:////tmp/x.sqlite?busy_timeout_ms=50").int_option("busy_timeout_ms", 0), 50);
}

TEST(Url, ServerForms) {
  auto u = Url::parse("postgresql://bb:s%40cret@db.example:5433/buildbot?max_connections=8");
  EXPECT_EQ(u.backend, Backend::kPostgres);
  EXPECT_EQ(u.user, "bb");
  EXPECT_EQ(u.password, "s@cret");
  EXPECT_EQ(u.host, "db.example");
  EXPECT_EQ(u.port, 5433);
  EXPECT_EQ(u.database, "buildbot");
  EXPECT_EQ(u.int_option("max_connections", 4), 8);
  auto m = Url::parse("mysql+mysqldb://root@127.0.0.1/bb");
  EXPECT_EQ(m.backend, Backend::kMysql);
  EXPECT_FALSE(m.password);
  EXPECT_FALSE(m.port);
  EXPECT_EQ(Url::parse("postgres://u@[::1]:5432/d").host, "::1");
}

TEST(Url, MalformedUrlsAreTypedErrorsNamingTheProblem) {
  auto message = [](const std::string& text) {
    try {
      Url::parse(text);
    } catch (const InvalidUrl& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("oracle://u@h/db").find("unknown scheme 'oracle'"), std::string::npos);
  EXPECT_NE(message("just-a-path.sqlite").find("scheme://"), std::string::npos);
  EXPECT_NE(message("postgresql://u:p@host:5432/").find("missing database name"), std::string::npos);
  EXPECT_NE(message("mysql://u@host").find("missing database name"), std::string::npos);
  EXPECT_NE(message("postgresql://u@host:99999/db").find("port"), std::string::npos);
  EXPECT_NE(message("postgresql://u@host:abc/db").find("port"), std::string::npos);
  EXPECT_NE(message("sqlite://host/file").find("no host"), std::string::npos);
  EXPECT_NE(message("postgresql://u%zz@h/db").find("%-escape"), std::string::npos);
  EXPECT_NE(message("postgresql://u@h/db?flag").find("name=value"), std::string::npos);
  EXPECT_THROW(Url::parse("postgresql://u@h/db?max_connections=x").int_option("max_connections", 1),
               InvalidUrl);
}

TEST(Url, PasswordsMayHoldSlashesQuestionMarksAndColonsUnencoded) {
  auto u = Url::parse("postgresql://user:pa/ss?w:rd@host:5432/db?max_connections=3");
  EXPECT_EQ(u.user, "user");
  EXPECT_EQ(u.password, "pa/ss?w:rd");
  EXPECT_EQ(u.host, "host");
  EXPECT_EQ(u.port, 5432);
  EXPECT_EQ(u.database, "db");
  EXPECT_EQ(u.int_option("max_connections", 1), 3);
  EXPECT_EQ(u.to_string(), "postgresql://user:***@host:5432/db?max_connections=3");
  auto v = Url::parse("postgresql://user:1234/x@host/db");
  EXPECT_EQ(v.password, "1234/x");
  EXPECT_EQ(v.to_string().find("1234"), std::string::npos);
  // A malformed URL's message does not show any of such a password either.
  try {
    Url::parse("postgresql://user:pa/ss@host:port/db");
    FAIL();
  } catch (const InvalidUrl& e) {
    EXPECT_EQ(std::string(e.what()).find("pa/ss"), std::string::npos) << e.what();
  }
}

TEST(Url, PasswordNeverPrinted) {
  const std::string secret = "hunter2-very-secret";
  auto u = Url::parse("postgresql://bb:" + secret + "@h:5432/db?sslmode=disable");
  EXPECT_EQ(u.to_string(), "postgresql://bb:***@h:5432/db?sslmode=disable");
  EXPECT_EQ(u.to_string().find(secret), std::string::npos);
  EXPECT_EQ(mask_passwords("connection to h failed for password " + secret, u),
            "connection to h failed for password ***");
  // A malformed URL's error message does not echo the password either.
  try {
    Url::parse("postgresql://bb:" + secret + "@h:bad/db");
    FAIL();
  } catch (const InvalidUrl& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos);
  }
}

}  // namespace
}  // namespace ym::db
