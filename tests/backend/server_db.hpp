// Databases on the PostgreSQL and MySQL test servers named by YM_TEST_POSTGRES_URL and
// YM_TEST_MYSQL_URL (scripts/test starts throwaway ones; any server of your own works).
//
// ctest runs every test in its own process, so a database per test would cost a CREATE DATABASE
// and the whole schema each time. Instead each process takes a free "slot" (a server-side lock
// held by a connection that lives as long as the process) and reuses that slot's database,
// emptied of rows and with its ids restarted: the schema is created once per slot and per model.
#pragma once

#include <optional>
#include <string>

#include "db/url.hpp"

namespace ym::test {

// The server URL from the environment, or nullopt when that backend is not configured.
std::optional<std::string> server_url(db::Backend backend);

// A database on the server that holds the current schema and no rows, with auto-increment ids
// starting at 1 again; the same for the whole process. Throws when the server is unreachable.
std::string clean_database_url(db::Backend backend);

// clean_database_url(kPostgres)'s database through the PgBouncer named by YM_TEST_PGBOUNCER_URL
// (pool_mode=transaction, ?transaction_pooling=1): the schema is made directly, the test's
// calls go through the pooler. Throws, naming the variable, when it is not set.
std::string pgbouncer_database_url();

// A database like clean_database_url(kMysql)'s on the MariaDB Galera cluster named by
// YM_TEST_GALERA_URL (one URL listing its three nodes). Throws, naming the variable, when unset.
std::string galera_database_url();

// empty_database_url(kMysql, suffix) on the Galera cluster.
std::string galera_empty_database_url(const std::string& suffix);

// `url` with its list of hosts (h1:p1,h2:p2,...) rotated so that the one at index `first` comes
// first: on a Galera cluster, a client per node, each falling back on the others in turn.
std::string hosts_rotated(const std::string& url, size_t first);

// A database on the server with no tables at all, named after this process's slot and `suffix`,
// dropped and re-created by this call (for tests of creation and of what a new database holds).
std::string empty_database_url(db::Backend backend, const std::string& suffix);

// The command (from YM_TEST_POSTGRES_CTL / YM_TEST_MYSQL_CTL) that takes "stop" or "start".
std::optional<std::string> server_ctl(db::Backend backend);

// `url` (a server URL as the environment gives it) with its database replaced; the text is
// edited rather than parsed and printed again, since Url::to_string masks the password.
std::string with_database(const std::string& url, const std::string& database);

// True when CI=true: a backend that is not configured there is a failure, never a skip.
bool running_in_ci();

}  // namespace ym::test
