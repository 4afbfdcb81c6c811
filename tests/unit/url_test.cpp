#include <gtest/gtest.h>

#include "db/db.hpp"
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

TEST(Url, SeveralHostsAreTriedInOrderAndPrintedAsWritten) {
  auto u = Url::parse(
      "postgresql://ci:pw,with@comma@127.0.0.1:5433,[::1]:5434,standby/ci?"
      "target_session_attrs=read-write&connect_timeout=2");
  EXPECT_EQ(u.user, "ci");
  EXPECT_EQ(u.password, "pw,with@comma");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 5433);
  ASSERT_EQ(u.more_hosts.size(), 2u);
  EXPECT_EQ(u.more_hosts[0], (Endpoint{"::1", 5434}));
  EXPECT_EQ(u.more_hosts[1], (Endpoint{"standby", std::nullopt}));
  EXPECT_EQ(u.endpoints().size(), 3u);
  EXPECT_EQ(u.database, "ci");
  EXPECT_EQ(u.to_string(),
            "postgresql://ci:***@127.0.0.1:5433,[::1]:5434,standby/ci?connect_timeout=2&"
            "target_session_attrs=read-write");
  auto m = Url::parse("mysql://u:secret@10.0.0.1:3306,10.0.0.2:3306,10.0.0.3:3306/bb");
  EXPECT_EQ(m.endpoints().size(), 3u);
  EXPECT_EQ(m.more_hosts[1], (Endpoint{"10.0.0.3", 3306}));
  // One host: nothing more.
  EXPECT_TRUE(Url::parse("postgresql://u@h:1/d").more_hosts.empty());
  EXPECT_TRUE(Url::parse("postgresql://u@/d").more_hosts.empty());
  for (const char* bad : {"postgresql://u@h1,,h2/d", "postgresql://u@h1,/d",
                          "postgresql://u@,h2/d", "postgresql://u@h1,h2:0/d",
                          "postgresql://u@h1,[::1/d"}) {
    EXPECT_THROW(Url::parse(bad), InvalidUrl) << bad;
  }
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

// The message of parsing `text`, which must fail.
std::string parse_error(const std::string& text) {
  try {
    Url::parse(text);
  } catch (const InvalidUrl& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed: " << text;
  return "";
}

TEST(Url, UserinfoEndsAtTheLastAtSignBeforeTheHost) {
  // An unencoded '@' in a password: the host is what follows the last '@', never a piece of it.
  auto u = Url::parse("postgresql://u:p@ss@host/db");
  EXPECT_EQ(u.user, "u");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.host, "host");
  EXPECT_EQ(u.database, "db");
  auto v = Url::parse("mysql://ci:a@b@c@[::1]:3306/bb?connect_timeout=5");
  EXPECT_EQ(v.password, "a@b@c");
  EXPECT_EQ(v.host, "::1");
  EXPECT_EQ(v.port, 3306);
  // An unencoded '@' in a user name (no password) moves the host the same way.
  auto w = Url::parse("postgresql://ci@corp@host:5432/db");
  EXPECT_EQ(w.user, "ci@corp");
  EXPECT_FALSE(w.password);
  EXPECT_EQ(w.host, "host");
  // '@', '/', '?' and ':' together in one password.
  auto x = Url::parse("postgresql://u:a/b@c?d:e@host:5432/db?max_connections=2");
  EXPECT_EQ(x.password, "a/b@c?d:e");
  EXPECT_EQ(x.host, "host");
  EXPECT_EQ(x.port, 5432);
  EXPECT_EQ(x.int_option("max_connections", 1), 2);
  // An '@' after the host (in the database name or an option) is not the userinfo's.
  auto y = Url::parse("postgresql://u:pw@host/db@x?application_name=me@here");
  EXPECT_EQ(y.password, "pw");
  EXPECT_EQ(y.host, "host");
  EXPECT_EQ(y.database, "db@x");
  EXPECT_EQ(y.option("application_name"), "me@here");
  auto z = Url::parse("postgresql://host/db?application_name=me@here");
  EXPECT_EQ(z.user, "");
  EXPECT_FALSE(z.password);
  EXPECT_EQ(z.host, "host");
  EXPECT_EQ(Url::parse("postgresql://u:p@ss@host/db").to_string(), "postgresql://u:***@host/db");
  // '@' before '/' inside the password: the host is still the one before the database name.
  auto a = Url::parse("postgresql://ci:p@ss/w:rd@db.example.org/buildbot");
  EXPECT_EQ(a.password, "p@ss/w:rd");
  EXPECT_EQ(a.host, "db.example.org");
  EXPECT_EQ(a.database, "buildbot");
  auto b = Url::parse("postgresql://ci@corp:pw@db/ci");
  EXPECT_EQ(b.user, "ci@corp");
  EXPECT_EQ(b.password, "pw");
  EXPECT_EQ(b.host, "db");
  // No user info, a port, and an '@' in an option: not taken for a password.
  auto c = Url::parse("postgresql://db:5432/ci?application_name=ci@corp&sslrootcert=/a/b.pem");
  EXPECT_EQ(c.user, "");
  EXPECT_FALSE(c.password);
  EXPECT_EQ(c.host, "db");
  EXPECT_EQ(c.port, 5432);
  EXPECT_EQ(c.database, "ci");
  EXPECT_EQ(c.option("application_name"), "ci@corp");
  EXPECT_EQ(c.option("sslrootcert"), "/a/b.pem");
  // Malformed: a password with '/' and no host after it is never read as a host or a port.
  EXPECT_EQ(parse_error("postgresql://ym:pa/SECRET@host").find("SECRET"), std::string::npos);
  EXPECT_EQ(parse_error("postgresql://ym:pa@SECRET/x/y").find("SECRET"), std::string::npos);
}

TEST(Url, MalformedUrlMessagesQuoteNothingThatCouldBeAPassword) {
  // The shapes where the parser cannot tell what a piece is: it quotes only digits as a port and
  // only identifier-like text as a scheme or an option name.
  EXPECT_EQ(parse_error("postgresql://ym:SECRETpw/db"),
            "invalid database URL: port is not a number from 1 to 65535");
  EXPECT_EQ(parse_error("postgresql://ci@db:99999/ci"),
            "invalid database URL: port '99999' is not a number from 1 to 65535");
  EXPECT_EQ(parse_error("ym:SECRETpw@host://x"),
            "invalid database URL: unknown scheme (use sqlite, postgresql or mysql)");
  EXPECT_EQ(parse_error("oracle://ci:SECRETpw@db/ci"),
            "invalid database URL: unknown scheme 'oracle' (use sqlite, postgresql or mysql)");
  EXPECT_EQ(parse_error("postgresql://ym:SECRET?pw/db"),
            "invalid database URL: query option is not of the form name=value");
  EXPECT_EQ(parse_error("mysql://ci@db/ci?max_connections"),
            "invalid database URL: query option 'max_connections' is not of the form name=value");
  for (const std::string text :
       {"postgresql://ym:SECRETpw@127.0.0.1:99999/ym", "postgresql://ym:SECRETpw@127.0.0.1/ym?opt",
        "postgresql://ym:SECRET@pw@127.0.0.1:x/ym", "mysql://ym:SECRETpw@127.0.0.1:1/",
        "postgresql://ym:SECRET%zzpw@h/db", "sqlite://ym:SECRETpw@host/x.sqlite",
        "POSTGRESQL://ym:SECRETpw@h/db", "postgresql:/ym:SECRETpw@h/db", "ym:SECRETpw@h/db",
        "postgresql://ym:SECRETpw", "postgresql://ym:SECRETpw@[::1/db"}) {
    EXPECT_EQ(parse_error(text).find("SECRET"), std::string::npos) << text;
  }
}

TEST(Url, MaskUrlTextHidesWhateverCouldBeAPasswordInAnUnparseableUrl) {
  EXPECT_EQ(mask_url_text("postgresql://ym:TOPSECRET@127.0.0.1:99999/ym"),
            "postgresql://ym:***@127.0.0.1:99999/ym");
  EXPECT_EQ(mask_url_text("postgresql://ym:TOP@SECRET@127.0.0.1/ym?opt"),
            "postgresql://ym:***@127.0.0.1/ym?opt");
  EXPECT_EQ(mask_url_text("postgresql://ym:%54OPSECRET@h:x/ym"), "postgresql://ym:***@h:x/ym");
  EXPECT_EQ(mask_url_text("ym:TOPSECRET@127.0.0.1/ym"), "ym:***@127.0.0.1/ym");  // no scheme
  EXPECT_EQ(mask_url_text("postgresql:/ym:TOPSECRET@h/ym"), "postgresql:***@h/ym");
  EXPECT_EQ(mask_url_text("postgresql://ym:TOPSECRET/ym"), "postgresql://ym:***/ym");  // no '@'
  EXPECT_EQ(mask_url_text("postgresql://ci@u@h/ym"), "postgresql://ci@u@h/ym");  // no password
  // Nothing to hide: left alone.
  EXPECT_EQ(mask_url_text("postgresql://h:5432/ym"), "postgresql://h:5432/ym");
  EXPECT_EQ(mask_url_text("postgresql://[::1]:5432/ym"), "postgresql://[::1]:5432/ym");
  EXPECT_EQ(mask_url_text("/srv/ci/master"), "/srv/ci/master");
  EXPECT_EQ(mask_url_text("./a:b"), "./a:b");
  // printable_url: to_string() when it parses, the mask when it does not.
  EXPECT_EQ(printable_url("postgres://ym:TOPSECRET@h/ym"), "postgresql://ym:***@h/ym");
  EXPECT_EQ(printable_url("postgres://ym:TOPSECRET@h:0/ym"), "postgres://ym:***@h:0/ym");
}

TEST(Url, MaskUrlsInFreeTextLeavesMaskedUrlsAsTheyAre) {
  EXPECT_EQ(mask_urls_in("cannot open 'postgresql://ym:TOPSECRET@h/ym': no; also mysql://a:b@c/d"),
            "cannot open 'postgresql://ym:***@h/ym': no; also mysql://a:***@c/d");
  std::string masked = Url::parse("postgresql://u%40x:pw@h:1/d?application_name=a%40b").to_string();
  EXPECT_EQ(mask_urls_in("at " + masked + ": refused"), "at " + masked + ": refused");
  EXPECT_EQ(mask_urls_in("no URL here: a@b:c"), "no URL here: a@b:c");
}

TEST(Url, MaskPasswordsCoversEncodedQuotedAndPartialForms) {
  auto u = Url::parse("postgresql://ym:Zq9%4Darker%2Fp%40ss%27w@h/db");
  ASSERT_EQ(u.password, "Zq9Marker/p@ss'w");
  for (const std::string form :
       {"Zq9Marker/p@ss'w", "Zq9%4Darker%2Fp%40ss%27w", "Zq9Marker%2fp%40ss'w",
        "%5A%71%39%4D%61%72%6B%65%72%2F%70%40%73%73%27%77", "'Zq9Marker/p@ss\\'w'"}) {
    std::string out = mask_passwords("failed: [" + form + "] done", u);
    EXPECT_EQ(out.find("arker"), std::string::npos) << form << " -> " << out;
    EXPECT_NE(out.find("***"), std::string::npos) << out;
    EXPECT_NE(out.find("] done"), std::string::npos) << out;
  }
  // A piece of it between delimiters, as a parser splitting at '/' or '@' would show it.
  EXPECT_EQ(mask_passwords("host \"Zq9Marker\" not found", u), "host \"***\" not found");
  // Any URL in the text, whatever its password.
  EXPECT_EQ(mask_passwords("see postgresql://x:other@h/db", u), "see postgresql://x:***@h/db");
  // For a URL as given: its password is masked in the text even when it does not parse.
  EXPECT_EQ(
      mask_passwords("bad: TOP@SECRET and TOP%40SECRET", "postgresql://ym:TOP%40SECRET@h:99999/db"),
      "bad: *** and ***");
  EXPECT_EQ(mask_passwords("bad: TOPSECRET", "postgresql://ym:TOPSECRET@h/db"), "bad: ***");
}

}  // namespace
}  // namespace ym::db

namespace ym::db {
namespace {

TEST(UrlOptions, RetryBudgetIsSecondsAndCheckedBeforeAnythingOpens) {
  EXPECT_NO_THROW(Db::open("sqlite://?retry_budget=30")->shutdown());
  EXPECT_NO_THROW(Db::open("sqlite://?retry_budget=0")->shutdown());
  EXPECT_THROW(Db::open("sqlite://?retry_budget=-1"), InvalidUrl);
  EXPECT_THROW(Db::open("sqlite://?retry_budget=86401"), InvalidUrl);
  EXPECT_THROW(Db::open("sqlite://?retry_budget=10s"), InvalidUrl);
}

}  // namespace
}  // namespace ym::db
