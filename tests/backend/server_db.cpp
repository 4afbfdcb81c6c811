#include "backend/server_db.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "db/base.hpp"
#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::test {

using db::Backend;

namespace {

const char* env_name(Backend b) {
  return b == Backend::kPostgres ? "YM_TEST_POSTGRES_URL" : "YM_TEST_MYSQL_URL";
}

constexpr const char* kGaleraEnv = "YM_TEST_GALERA_URL";

// Changes with the schema, so that a slot database made for another model is never reused.
std::string fingerprint(const db::Dialect& d) {
  std::string all = std::to_string(migrate::current_version());
  for (const auto& t : db::model::current().tables) {
    for (const auto& s : db::model::create_statements(t, d)) all += s;
  }
  return db::hash_columns({all}).substr(0, 8);
}

struct Slot {
  std::string url;                        // the server URL from the environment
  std::unique_ptr<db::Connection> admin;  // holds the slot lock while the process lives
  std::string name;                       // the slot's database
};

// The slot on the server named by the environment variable `env` (a MySQL URL may name a
// Galera cluster: its slot lock, GET_LOCK, holds on the URL's first node, which every test
// process reaches first).
Slot& slot(Backend b, const char* env) {
  static std::mutex mu;
  static std::map<std::string, Slot> slots;
  std::lock_guard lock(mu);
  auto it = slots.find(env);
  if (it != slots.end()) {
    try {
      it->second.admin->stmt("SELECT 1").all();
      return it->second;
    } catch (const db::ConnectionFailed&) {
      // The server restarted (a restart test): the lock went with the connection; take one again.
      slots.erase(it);
    }
  }
  const char* url = std::getenv(env);
  if (!url || !*url) {
    throw std::runtime_error(std::string(env) +
                             " is not set: point it at a test server (scripts/test starts one)");
  }
  Slot s;
  s.url = url;
  s.admin = db::open_connection(db::Url::parse(s.url));
  std::string fp = fingerprint(s.admin->dialect());
  for (int i = 0; i < 1000 && s.name.empty(); ++i) {
    std::string name = "ym_t_" + fp + "_" + std::to_string(i);
    auto got = b == Backend::kPostgres
                   ? s.admin->stmt("SELECT pg_try_advisory_lock(hashtextextended(?, 0))")
                         .bind(name)
                         .scalar<int64_t>()
                   : s.admin->stmt("SELECT GET_LOCK(?, 0)").bind(name).scalar<int64_t>();
    if (got.value_or(0) == 1) s.name = name;
  }
  if (s.name.empty()) throw std::runtime_error("no free test database slot on the server");
  return slots.emplace(env, std::move(s)).first->second;
}

void drop_and_create(Slot& s, Backend b, const std::string& name) {
  const auto& d = s.admin->dialect();
  if (b == Backend::kPostgres) {
    // The plain form first: it stops an autovacuum worker in the database by itself, where
    // WITH (FORCE) refuses to (an ordinary user may not terminate it). FORCE only for a session
    // of an earlier test that is still open.
    std::string drop = "DROP DATABASE IF EXISTS " + d.quote(name);
    try {
      s.admin->execute_script(drop);
    } catch (const db::Error&) {
      s.admin->execute_script(drop + " WITH (FORCE)");
    }
    s.admin->execute_script("CREATE DATABASE " + d.quote(name));
  } else {
    s.admin->execute_script("DROP DATABASE IF EXISTS " + d.quote(name));
    s.admin->execute_script("CREATE DATABASE " + d.quote(name) +
                            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
  }
}

bool exists(Slot& s, Backend b, const std::string& name) {
  if (b == Backend::kPostgres) {
    return s.admin->stmt("SELECT 1 FROM pg_database WHERE datname = ?")
        .bind(name)
        .one()
        .has_value();
  }
  return s.admin->stmt("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
      .bind(name)
      .one()
      .has_value();
}

// Deletes every row of the model's tables and restarts their ids; keeps the schema and its
// version record. A few milliseconds, where re-creating the schema costs a second or more.
void wipe(db::Connection& c, Backend b) {
  const auto& d = c.dialect();
  const auto& tables = db::model::current().tables;
  std::string script = b == Backend::kMysql ? "SET FOREIGN_KEY_CHECKS = 0;" : "";
  for (auto t = tables.rbegin(); t != tables.rend(); ++t)
    script += "DELETE FROM " + d.quote(t->name) + ";";
  if (b == Backend::kMysql) script += "SET FOREIGN_KEY_CHECKS = 1";
  c.execute_script(script);
  if (b == Backend::kPostgres) {
    std::string reset;
    for (const auto& t : tables) {
      for (const auto& col : t.columns) {
        if (!col.primary_key) continue;
        reset += (reset.empty() ? "SELECT " : ", ");
        reset += "setval(pg_get_serial_sequence('" + d.quote(t.name) + "', '" + col.name +
                 "'), 1, false)";
      }
    }
    if (!reset.empty()) c.execute_script(reset);
  } else {
    // Only the tables whose counter moved: ALTER TABLE is not free.
    for (const auto& r : c.stmt("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                                "TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT > 1")
                             .all()) {
      c.execute_script("ALTER TABLE " + d.quote(r.get<std::string>(0)) + " AUTO_INCREMENT = 1");
    }
  }
}

}  // namespace

// The URL text with its database replaced (Url::to_string masks the password, so the
// environment's text is edited instead).
std::string with_database(const std::string& url, const std::string& database) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t query = url.find('?', slash == std::string::npos ? 0 : slash);
  std::string out = url.substr(0, slash) + "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

std::optional<std::string> server_url(Backend b) {
  const char* v = std::getenv(env_name(b));
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::optional<std::string> server_ctl(Backend b) {
  const char* v =
      std::getenv(b == Backend::kPostgres ? "YM_TEST_POSTGRES_CTL" : "YM_TEST_MYSQL_CTL");
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

bool running_in_ci() {
  const char* v = std::getenv("CI");
  if (!v) return false;
  std::string s(v);
  return s == "true" || s == "TRUE" || s == "True" || s == "1" || s == "yes";
}

namespace {
std::string clean_database_url(Backend b, const char* env) {
  Slot& s = slot(b, env);
  if (!exists(s, b, s.name)) drop_and_create(s, b, s.name);
  std::string url = with_database(s.url, s.name);
  bool current;
  {
    auto conn = db::open_connection(db::Url::parse(url));
    current = migrate::read_status(*conn).state == migrate::SchemaState::kUpToDate;
    if (current) wipe(*conn, b);
  }
  // Anything else (new, a half-made schema, an older version): start over.
  if (!current) {
    drop_and_create(s, b, s.name);
    db::Db::open(url)->shutdown();
  }
  return url;
}
}  // namespace

std::string clean_database_url(Backend b) { return clean_database_url(b, env_name(b)); }

std::string galera_database_url() { return clean_database_url(Backend::kMysql, kGaleraEnv); }

std::string hosts_rotated(const std::string& url, size_t first) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t at = url.rfind('@', slash);
  size_t begin = at == std::string::npos || at < scheme ? scheme + 3 : at + 1;
  std::vector<std::string> hosts;
  for (size_t pos = begin; pos <= slash;) {
    size_t comma = std::min(url.find(',', pos), slash);
    hosts.push_back(url.substr(pos, comma - pos));
    pos = comma + 1;
  }
  std::string list;
  for (size_t i = 0; i < hosts.size(); ++i) {
    list += (i ? "," : "") + hosts[(first + i) % hosts.size()];
  }
  return url.substr(0, begin) + list + url.substr(slash);
}

std::string pgbouncer_database_url() {
  const char* v = std::getenv("YM_TEST_PGBOUNCER_URL");
  if (!v || !*v) {
    throw std::runtime_error(
        "YM_TEST_PGBOUNCER_URL is not set: no PgBouncer to test through (scripts/test starts "
        "one)");
  }
  std::string direct = clean_database_url(Backend::kPostgres);
  return with_database(v, db::Url::parse(direct).database);
}

std::string galera_empty_database_url(const std::string& suffix) {
  Slot& s = slot(Backend::kMysql, kGaleraEnv);  // says what to set when it is not
  std::string name = s.name + "_" + suffix;
  drop_and_create(s, Backend::kMysql, name);
  return with_database(s.url, name);
}

std::string empty_database_url(Backend b, const std::string& suffix) {
  Slot& s = slot(b, env_name(b));
  std::string name = s.name + "_" + suffix;
  drop_and_create(s, b, name);
  return with_database(s.url, name);
}

}  // namespace ym::test
