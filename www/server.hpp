// The web server of a master (or of `yardmaster www`): the REST API in Buildbot's shape under
// /api/v2, Server-Sent Events, /metrics and the page, on Boost.Beast (docs/web.md).
//
// It runs on a thread and io_context of its own, so that a busy web client never delays the
// master's io thread. Its database calls go through the connectors' futures, at most
// `max_db_calls` at once (the pool keeps threads for the master); a response is read from the
// database whole (a page, a range of log lines, a chunk of a raw log) before a byte goes to the
// client, so a slow client holds a socket and memory, never a database thread; every read and
// write has a deadline, and connections beyond `max_connections` get 503.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "master/config.hpp"
#include "www/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace ym::db {
class Db;
}

namespace ym::www {

struct ServerOptions {
  master::ListenAddress listen{"127.0.0.1", 8010};  // port 0: any free port (see port())
  std::string base_url;
  // The secret POST requests must present (Authorization: Bearer ...); nullopt: read-only.
  std::optional<std::string> force_token;
  // The force schedulers the page and POST /api/v2/forceschedulers/NAME offer.
  std::vector<master::SchedulerConfig> force_schedulers;
  int max_connections = 256;
  int max_db_calls = 2;
  // The longest a read, a write or a wait for a database permit may take.
  std::chrono::milliseconds io_timeout{30000};
  std::chrono::milliseconds event_poll{500};    // how often events look at the database
  std::chrono::milliseconds keep_alive{15000};  // an SSE comment this often
};

// The token in `file` (surrounding whitespace removed). Throws std::runtime_error naming the
// file when it cannot be read or holds nothing.
std::string read_token_file(const std::filesystem::path& file);

// The options of a master's [www] section (config.www must be set): its address, the token
// read from force_token_file, and the configuration's force schedulers. Throws
// std::runtime_error when the token file cannot be read.
ServerOptions options_from_config(const master::MasterConfig& config);

class Server {
 public:
  // Binds the address (throws std::runtime_error saying why it cannot); serves nothing before
  // start(). `metrics` may be null: the server then counts only its own answers.
  Server(db::Db& db, ServerOptions options, std::shared_ptr<Metrics> metrics);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the chosen one when options.listen.port was 0).
  uint16_t port() const { return port_; }
  // "http://HOST:PORT/" (base_url when given).
  std::string address() const;

  void start();
  // Stops serving: open connections are closed, the thread is joined. Database calls still in
  // flight complete into the server's io_context, which lives until the destructor; call
  // db.shutdown() before destroying a stopped server whose database is going away.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace ym::www
