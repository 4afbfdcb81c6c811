// The facade header stays light: tests/consumer/run.sh compiles this with -fsyntax-only against
// the installed headers. Nothing heavy may come in with <yardmaster/db.hpp>.
#include <yardmaster/db.hpp>

// Everything of ours is under the yardmaster/ prefix: the package adds only P/include, so no
// top-level db/ or fake/ directory reaches a consumer's include path.
#if __has_include(<db/db.hpp>) || __has_include(<fake/fake_db.hpp>)
#error "the package exposes db/ or fake/ outside the yardmaster/ prefix"
#endif
#if !__has_include(<yardmaster/db/connectors/builds.hpp>)
#error "the connector headers are not installed under yardmaster/db/"
#endif

#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "<yardmaster/db.hpp> includes nlohmann/json.hpp (json_fwd.hpp is enough)"
#endif
#ifdef BOOST_THREAD_FUTURE_HPP
#error "<yardmaster/db.hpp> includes Boost.Thread's future"
#endif
#if defined(BOOST_ASIO_HPP) || defined(BOOST_ASIO_ASYNC_RESULT_HPP) || defined(BOOST_ASIO_POST_HPP)
#error "<yardmaster/db.hpp> includes asio (only <yardmaster/async.hpp> may)"
#endif
#if defined(SPDLOG_H) || defined(FMT_CORE_H_)
#error "<yardmaster/db.hpp> includes spdlog or fmt"
#endif
#if defined(SQLITE3_H) || defined(PQXX_H_CONNECTION) || defined(_SQL_CONNECTION_H_)
#error "<yardmaster/db.hpp> includes a database client header"
#endif

// Records are complete and usable without nlohmann's full header.
static_assert(sizeof(ym::db::Property) > 0);
static_assert(sizeof(ym::db::Worker) > 0);
int main() {}
