#include "faults/commit_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>

namespace ym::test {

struct CommitProxy::State {
  mutable std::mutex mu;
  Drop what = Drop::kNextWrite;       // guarded by mu
  Lose lose = Lose::kReply;           // guarded by mu
  int armed = 0;                      // guarded by mu
  std::string containing;             // guarded by mu
  int held = 0;                       // guarded by mu: replies held now (Lose::kHeld)
  uint64_t releases = 0;              // guarded by mu: release_held() calls so far
  bool closing = false;               // guarded by mu: the proxy is being destroyed
  std::condition_variable released;   // release_held() or closing
  std::vector<std::string> lost;      // guarded by mu
  bool recording = false;             // guarded by mu
  std::vector<std::string> recorded;  // guarded by mu
  std::set<int> sockets;              // guarded by mu: those of live sessions

  // Uses one arm when it covers a commit of kind `seen`: what it loses.
  // `matched`: the statement (or the transaction) wrote with `containing` in its SQL.
  std::optional<Lose> take(Drop seen, bool matched) {
    std::lock_guard lock(mu);
    if (armed <= 0 || (what != seen && what != Drop::kNextWrite)) return std::nullopt;
    if (!containing.empty() && !matched) return std::nullopt;
    --armed;
    return lose;
  }
  bool matches(const std::string& sql) {
    std::lock_guard lock(mu);
    return !containing.empty() && sql.find(containing) != std::string::npos;
  }
  // Counts a held reply and waits for release_held() (true) or the proxy's end (false).
  bool hold() {
    std::unique_lock lock(mu);
    ++held;
    uint64_t seen = releases;
    released.wait(lock, [&] { return closing || releases != seen; });
    --held;
    return !closing;
  }
  void add_lost(std::string s) {
    std::lock_guard lock(mu);
    lost.push_back(std::move(s));
  }
  void add_record(const std::string& s) {
    std::lock_guard lock(mu);
    if (recording) recorded.push_back(s.size() > 200 ? s.substr(0, 200) + "..." : s);
  }
};

namespace {

// ------------------------------------------------------------------ SQL text
std::string first_word(std::string_view sql, size_t* end = nullptr) {
  size_t i = 0;
  while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '(')) ++i;
  std::string w;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    w += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i])));
    ++i;
  }
  if (end) *end = i;
  return w;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// COMMIT [WORK | TRANSACTION], and PostgreSQL's END; not COMMIT PREPARED, which ends another
// session's prepared transaction.
bool is_commit(std::string_view sql) {
  size_t end = 0;
  std::string w = first_word(sql, &end);
  if (w != "COMMIT" && w != "END") return false;
  std::string rest = upper(sql.substr(end));
  return rest.find("PREPARED") == std::string::npos;
}

bool has_word(const std::string& text, const char* word) {
  size_t n = std::strlen(word);
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    bool right = at + n >= text.size() || !std::isalnum(static_cast<unsigned char>(text[at + n]));
    if (left && right) return true;
  }
  return false;
}

bool is_write(std::string_view sql) {
  std::string w = first_word(sql);
  if (w == "INSERT" || w == "UPDATE" || w == "DELETE" || w == "REPLACE" || w == "MERGE" ||
      w == "CREATE" || w == "ALTER" || w == "DROP" || w == "TRUNCATE") {
    return true;
  }
  if (w != "WITH") return false;
  std::string all = upper(sql);
  return has_word(all, "INSERT") || has_word(all, "UPDATE") || has_word(all, "DELETE");
}

bool is_begin(std::string_view sql) {
  std::string w = first_word(sql);
  return w == "BEGIN" || (w == "START" && upper(sql).find("TRANSACTION") != std::string::npos);
}

bool is_rollback(std::string_view sql) {
  size_t end = 0;
  std::string w = first_word(sql, &end);
  // ROLLBACK TO SAVEPOINT keeps the transaction open.
  return w == "ROLLBACK" && upper(sql.substr(end)).find(" TO ") == std::string::npos;
}

// ------------------------------------------------------------------ sockets
bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

uint32_t be32(const std::string& b, size_t at) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

uint32_t le(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
  return v;
}

// The NUL-terminated string at `at` in `b` (to the end if there is no NUL); moves `at` past it.
std::string cstring(const std::string& b, size_t& at) {
  size_t nul = b.find('\0', at);
  if (nul == std::string::npos) nul = b.size();
  std::string s = b.substr(at, nul - at);
  at = nul + 1;
  return s;
}

// ------------------------------------------------------------------ session
// A message that is to lose its reply (or itself): what it was, and what is lost.
struct Decision {
  std::string what;
  Lose lose = Lose::kReply;
};

// One client connection and its server connection. Subclasses take whole messages off the two
// buffers, forward them, and say when the session must end (its reply to drop has arrived).
class Session {
 public:
  Session(int client, int server, int wake, std::shared_ptr<CommitProxy::State> state)
      : state_(std::move(state)), client_(client), server_(server), wake_(wake) {
    std::lock_guard lock(state_->mu);
    state_->sockets.insert({client_, server_});
  }
  virtual ~Session() {
    {
      // Out of the registry before the numbers can be reused.
      std::lock_guard lock(state_->mu);
      state_->sockets.erase(client_);
      state_->sockets.erase(server_);
    }
    ::close(client_);
    ::close(server_);
  }

  void run() {
    char buf[65536];
    for (;;) {
      pollfd fds[3] = {{client_, static_cast<short>(holding_ ? 0 : POLLIN), 0},
                       {server_, POLLIN, 0},
                       {wake_, POLLIN, 0}};
      int r = ::poll(fds, 3, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || fds[2].revents) return;
      if (fds[1].revents) {
        ssize_t n = ::recv(server_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        from_server_.append(buf, static_cast<size_t>(n));
        if (!on_server()) return;
      }
      if (!holding_ && fds[0].revents) {
        ssize_t n = ::recv(client_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        from_client_.append(buf, static_cast<size_t>(n));
        if (!on_client()) return;
      }
    }
  }

 protected:
  // Consume complete messages; false ends the session (both sockets close).
  virtual bool on_client() = 0;
  virtual bool on_server() = 0;

  bool to_server(const std::string& m) { return send_all(server_, m.data(), m.size()); }
  bool to_client(const std::string& m) { return send_all(client_, m.data(), m.size()); }

  // For the message that decides it: forwards it, then stops reading the client, swallows the
  // server's reply and ends the session once it is complete (finish_drop); or, to lose the
  // message itself, does not forward it and ends the session at once (false).
  bool start_drop(const std::string& message, const Decision& d) {
    if (d.lose == Lose::kRequest) {
      state_->add_lost(d.what + " (never sent)");
      return false;
    }
    if (!to_server(message)) return false;
    dropping_ = d.what;
    delaying_ = d.lose == Lose::kHeld;
    holding_ = true;
    return true;
  }
  // The reply is complete: records it, and for Lose::kHeld waits for release_held(), forwards
  // what was kept and goes on. False ends the session.
  bool finish_drop(bool error) {
    state_->add_lost(*dropping_ + (error ? " (the server answered with an error)" : "") +
                     (delaying_ ? " (held)" : ""));
    if (!delaying_) return false;
    if (!state_->hold()) return false;
    std::string reply = std::move(kept_);
    kept_.clear();
    dropping_.reset();
    delaying_ = false;
    holding_ = false;
    if (!to_client(reply)) return false;
    return from_client_.empty() || on_client();
  }
  // A message of the reply being dropped: kept for a held reply, swallowed otherwise.
  void swallow(const std::string& m) {
    if (delaying_) kept_ += m;
  }

  std::string from_client_, from_server_;
  std::optional<std::string> dropping_;
  bool delaying_ = false;  // the reply being dropped is only held (Lose::kHeld)
  std::string kept_;       // what is held of it so far
  bool holding_ = false;   // the client is no longer read
  std::shared_ptr<CommitProxy::State> state_;

 private:
  int client_, server_, wake_;
};

// ------------------------------------------------------------------ PostgreSQL
// Frontend/backend protocol 3: after the untyped startup message every message is a type byte
// and a big-endian length that counts itself.
class PgSession final : public Session {
 public:
  using Session::Session;

 private:
  static constexpr uint32_t kSslRequest = 80877103, kGssEncRequest = 80877104;

  bool on_client() override {
    while (!holding_) {
      if (!started_) {
        if (from_client_.size() < 8) return true;
        uint32_t len = be32(from_client_, 0);
        if (len < 8 || from_client_.size() < len) return true;
        uint32_t code = be32(from_client_, 4);
        std::string m = from_client_.substr(0, len);
        from_client_.erase(0, len);
        if (code == kSslRequest || code == kGssEncRequest) {
          // Plain text only: the client then goes on without encryption (sslmode=prefer).
          if (!to_client("N")) return false;
          continue;
        }
        started_ = true;  // StartupMessage or CancelRequest
        if (!to_server(m)) return false;
        continue;
      }
      if (from_client_.size() < 5) return true;
      size_t total = 1 + static_cast<size_t>(be32(from_client_, 1));
      if (from_client_.size() < total) return true;
      std::string m = from_client_.substr(0, total);
      from_client_.erase(0, total);
      std::optional<Decision> drop = inspect(m[0], m.substr(5));
      if (drop) return start_drop(m, *drop);
      if (!to_server(m)) return false;
    }
    return true;
  }

  // Follows the transaction and names the reply to lose, if this message decides one.
  std::optional<Decision> inspect(char type, const std::string& body) {
    std::string where = std::string(" [") + status_ + (wrote_ ? ", wrote" : "") + "]";
    size_t at = 0;
    switch (type) {
      case 'Q': {
        std::string sql = cstring(body, at);
        state_->add_record("Q " + sql + where);
        return decide(sql);
      }
      case 'P': {
        std::string name = cstring(body, at);
        std::string sql = cstring(body, at);
        statements_[name] = sql;
        state_->add_record("P " + (name.empty() ? "(unnamed)" : name) + ": " + sql + where);
        return std::nullopt;
      }
      case 'B': {
        std::string portal = cstring(body, at);
        std::string statement = cstring(body, at);
        portals_[portal] = statement;
        state_->add_record("B " + (statement.empty() ? "(unnamed)" : statement) + where);
        return std::nullopt;
      }
      case 'E': {
        std::string portal = cstring(body, at);
        auto p = portals_.find(portal);
        auto s = p == portals_.end() ? statements_.end() : statements_.find(p->second);
        batch_sql_ = s == statements_.end() ? std::string() : s->second;
        state_->add_record("E" + where);
        // Inside a transaction the write happens now; outside, its reply ends at Sync's.
        if (status_ == 'T' && is_write(*batch_sql_)) {
          wrote_ = true;
          if (state_->matches(*batch_sql_)) matched_ = true;
        }
        return std::nullopt;
      }
      case 'S': {
        state_->add_record("S" + where);
        if (!batch_sql_) return std::nullopt;
        std::string sql = std::move(*batch_sql_);
        batch_sql_.reset();
        if (status_ == 'T' && is_write(sql)) return std::nullopt;  // counted at Execute
        return decide(sql);
      }
      case 'C': {
        char what = body.empty() ? 0 : body[0];
        at = 1;
        std::string name = cstring(body, at);
        if (what == 'S') statements_.erase(name);
        if (what == 'P') portals_.erase(name);
        state_->add_record(std::string("C ") + what + " " + name + where);
        return std::nullopt;
      }
      default:
        state_->add_record(std::string(1, type) + where);
        return std::nullopt;
    }
  }

  // For a statement whose reply ends with the next ReadyForQuery.
  std::optional<Decision> decide(const std::string& sql) {
    if (is_commit(sql)) {
      if (status_ != 'T' || !wrote_) return std::nullopt;
      if (auto lose = state_->take(Drop::kCommit, matched_)) return Decision{"COMMIT", *lose};
      return std::nullopt;
    }
    if (!is_write(sql)) return std::nullopt;
    if (status_ == 'I') {
      if (auto lose = state_->take(Drop::kAutocommitWrite, state_->matches(sql))) {
        return Decision{"autocommit write: " + sql, *lose};
      }
    } else {
      wrote_ = true;
      if (state_->matches(sql)) matched_ = true;
    }
    return std::nullopt;
  }

  bool on_server() override {
    for (;;) {
      if (from_server_.size() < 5) return true;
      size_t total = 1 + static_cast<size_t>(be32(from_server_, 1));
      if (from_server_.size() < total) return true;
      std::string m = from_server_.substr(0, total);
      from_server_.erase(0, total);
      if (m[0] == 'E') reply_error_ = true;
      if (m[0] == 'Z' && total >= 6) {
        status_ = m[5];
        if (status_ == 'I') wrote_ = matched_ = false;
        if (dropping_) {
          // The whole reply is here: the server has done it. The client hears nothing of it
          // (or, when it is held, hears it on release).
          swallow(m);
          bool error = reply_error_;
          reply_error_ = false;
          if (!finish_drop(error)) return false;
          continue;
        }
        reply_error_ = false;
      }
      if (dropping_) {
        swallow(m);
        continue;
      }
      if (!to_client(m)) return false;
    }
  }

  bool started_ = false;
  char status_ = 'I';     // from the last ReadyForQuery: I idle, T in a transaction, E failed one
  bool wrote_ = false;    // the open transaction ran a write statement
  bool matched_ = false;  // ... one holding the armed text
  bool reply_error_ = false;                       // an ErrorResponse since the last ReadyForQuery
  std::map<std::string, std::string> statements_;  // prepared statement name -> SQL
  std::map<std::string, std::string> portals_;     // portal -> statement name
  std::optional<std::string> batch_sql_;           // executed since the last Sync
};

// ------------------------------------------------------------------ MySQL
// Client/server protocol: packets of a 3-byte little-endian length and a sequence number; a
// command is one client packet (more when it is 16 MiB or larger), its reply one or more server
// packets whose end only the reply's structure tells.
class MysqlSession final : public Session {
 public:
  using Session::Session;

 private:
  static constexpr uint32_t kClientMysql = 1, kClientCompress = 0x20, kClientProtocol41 = 0x200,
                            kClientSsl = 0x800, kClientDeprecateEof = 1u << 24;
  static constexpr uint16_t kInTrans = 0x0001, kAutocommit = 0x0002, kMoreResults = 0x0008,
                            kCursorExists = 0x0040;
  static constexpr size_t kMaxPayload = 0xFFFFFF;

  enum class Phase { kGreeting, kAuth, kCommand };
  // Where in the reply to the current command the next server packet falls.
  enum class Expect { kNothing, kOne, kFirst, kColumns, kColumnsEof, kRows, kPrepare, kSkip };

  // One physical packet off `buf`, header included; false when incomplete.
  static bool take_packet(std::string& buf, std::string& out, size_t& payload_len) {
    if (buf.size() < 4) return false;
    payload_len = le(buf, 0, 3);
    if (buf.size() < 4 + payload_len) return false;
    out = buf.substr(0, 4 + payload_len);
    buf.erase(0, 4 + payload_len);
    return true;
  }

  bool on_client() override {
    std::string pkt;
    size_t len = 0;
    while (!holding_ && take_packet(from_client_, pkt, len)) {
      if (phase_ != Phase::kCommand) {
        // The handshake response: the capabilities the client takes from those offered.
        if (!client_caps_ && len >= 4) client_caps_ = le(pkt, 4, 4);
        if (!to_server(pkt)) return false;
        continue;
      }
      bool continued = client_continues_;
      client_continues_ = len == kMaxPayload;
      std::optional<Decision> drop;
      if (!continued && len >= 1) drop = inspect(pkt, len);
      if (drop) return start_drop(pkt, *drop);
      if (!to_server(pkt)) return false;
    }
    return true;
  }

  std::string where() const {
    char flags[32];
    std::snprintf(flags, sizeof flags, " [status 0x%04x%s]", status_, wrote_ ? ", wrote" : "");
    return flags;
  }
  bool in_transaction() const { return (status_ & kInTrans) || explicit_; }

  std::optional<Decision> inspect(const std::string& pkt, size_t len) {
    unsigned char cmd = static_cast<unsigned char>(pkt[4]);
    std::string payload = pkt.substr(5);
    reply_error_ = false;
    switch (cmd) {
      case 0x03: {  // COM_QUERY
        state_->add_record("COM_QUERY " + payload + where());
        expect_ = Expect::kFirst;
        return decide(payload);
      }
      case 0x16:  // COM_STMT_PREPARE
        state_->add_record("COM_STMT_PREPARE " + payload + where());
        preparing_ = payload;
        expect_ = Expect::kPrepare;
        return std::nullopt;
      case 0x17: {  // COM_STMT_EXECUTE
        uint32_t id = len >= 5 ? le(pkt, 5, 4) : 0;
        auto s = statements_.find(id);
        std::string sql = s == statements_.end() ? std::string() : s->second;
        state_->add_record("COM_STMT_EXECUTE #" + std::to_string(id) + ": " + sql + where());
        expect_ = Expect::kFirst;
        return decide(sql);
      }
      case 0x19:  // COM_STMT_CLOSE: no reply
        if (len >= 5) statements_.erase(le(pkt, 5, 4));
        state_->add_record("COM_STMT_CLOSE" + where());
        expect_ = Expect::kNothing;
        return std::nullopt;
      case 0x18:  // COM_STMT_SEND_LONG_DATA: no reply
        state_->add_record("COM_STMT_SEND_LONG_DATA" + where());
        expect_ = Expect::kNothing;
        return std::nullopt;
      case 0x01:  // COM_QUIT
        state_->add_record("COM_QUIT" + where());
        expect_ = Expect::kNothing;
        return std::nullopt;
      case 0x1c:  // COM_STMT_FETCH: rows, then EOF
      case 0x04:  // COM_FIELD_LIST: column definitions, then EOF
        state_->add_record("command " + std::to_string(cmd) + where());
        expect_ = Expect::kRows;
        return std::nullopt;
      case 0x0a:  // COM_PROCESS_INFO: a result set
        state_->add_record("command " + std::to_string(cmd) + where());
        expect_ = Expect::kFirst;
        return std::nullopt;
      case 0x11:  // COM_CHANGE_USER: authentication again
        state_->add_record("COM_CHANGE_USER" + where());
        phase_ = Phase::kAuth;
        return std::nullopt;
      default:  // ping, reset, init db, set option, ...: one packet
        state_->add_record("command " + std::to_string(cmd) + where());
        expect_ = Expect::kOne;
        return std::nullopt;
    }
  }

  std::optional<Decision> decide(const std::string& sql) {
    if (is_begin(sql)) {
      explicit_ = true;
      return std::nullopt;
    }
    if (is_rollback(sql)) {
      explicit_ = false;
      return std::nullopt;
    }
    if (is_commit(sql)) {
      bool wrote = in_transaction() && wrote_;
      bool matched = matched_;
      explicit_ = false;
      matched_ = false;
      if (!wrote) return std::nullopt;
      if (auto lose = state_->take(Drop::kCommit, matched)) return Decision{"COMMIT", *lose};
      return std::nullopt;
    }
    if (!is_write(sql)) return std::nullopt;
    if (!in_transaction() && (status_ & kAutocommit)) {
      if (auto lose = state_->take(Drop::kAutocommitWrite, state_->matches(sql))) {
        return Decision{"autocommit write: " + sql, *lose};
      }
    } else {
      wrote_ = true;
      if (state_->matches(sql)) matched_ = true;
    }
    return std::nullopt;
  }

  bool on_server() override {
    std::string pkt;
    size_t len = 0;
    while (take_packet(from_server_, pkt, len)) {
      bool done = false;
      if (phase_ == Phase::kGreeting) {
        plain_greeting(pkt);
        phase_ = Phase::kAuth;
      } else if (phase_ == Phase::kAuth) {
        unsigned char h = len ? static_cast<unsigned char>(pkt[4]) : 0;
        if (h == 0x00) {
          phase_ = Phase::kCommand;
          read_ok(pkt, len);
        }
      } else if (server_continues_) {
        server_continues_ = len == kMaxPayload;
      } else {
        server_continues_ = len == kMaxPayload;
        done = reply_packet(pkt, len);
        if (done && !(status_ & kInTrans) && !explicit_) wrote_ = matched_ = false;
      }
      if (dropping_) {
        swallow(pkt);
        if (done && !finish_drop(reply_error_)) return false;
        continue;
      }
      if (!to_client(pkt)) return false;
    }
    return true;
  }

  // Offers the client neither TLS nor compression nor MariaDB's protocol extensions (metadata
  // caching changes the shape of a result set; progress reports add packets to a reply).
  void plain_greeting(std::string& pkt) {
    if (pkt.size() < 5 || pkt[4] != 10) return;  // an error instead of a greeting
    size_t at = 5;
    cstring(pkt, at);  // server version
    at += 4 + 8 + 1;   // connection id, scramble part 1, filler
    if (pkt.size() < at + 2) return;
    uint32_t low = le(pkt, at, 2) & ~(kClientSsl | kClientCompress);
    pkt[at] = static_cast<char>(low & 0xFF);
    pkt[at + 1] = static_cast<char>(low >> 8);
    server_caps_ = low;
    size_t high_at = at + 2 + 1 + 2;  // charset, status
    if (pkt.size() < high_at + 2) return;
    server_caps_ |= le(pkt, high_at, 2) << 16;
    size_t ext_at = high_at + 2 + 1 + 6;  // auth data length, reserved
    if (!(server_caps_ & kClientMysql) && pkt.size() >= ext_at + 4) {
      for (size_t i = 0; i < 4; ++i) pkt[ext_at + i] = 0;
    }
  }

  bool deprecate_eof() const { return server_caps_ & client_caps_ & kClientDeprecateEof; }

  // Length-encoded integer at `at`; moves `at` past it.
  static uint64_t lenenc(const std::string& p, size_t& at) {
    if (at >= p.size()) return 0;
    unsigned char c = static_cast<unsigned char>(p[at]);
    int n = c < 0xFB ? 0 : c == 0xFC ? 2 : c == 0xFD ? 3 : c == 0xFE ? 8 : 0;
    if (c < 0xFB || n == 0) {
      ++at;
      return c < 0xFB ? c : 0;
    }
    uint64_t v = 0;
    for (int i = n; i >= 1; --i) {
      if (at + i < p.size()) v = v << 8 | static_cast<unsigned char>(p[at + i]);
    }
    at += 1 + n;
    return v;
  }

  // An OK packet (header 0x00, or 0xFE ending a result set under CLIENT_DEPRECATE_EOF).
  void read_ok(const std::string& pkt, size_t len) {
    size_t at = 5;
    lenenc(pkt, at);  // affected rows
    lenenc(pkt, at);  // last insert id
    if ((server_caps_ & kClientProtocol41) && at + 2 <= 4 + len) status_ = le(pkt, at, 2);
  }
  void read_eof(const std::string& pkt, size_t len) {
    if (len >= 5) status_ = le(pkt, 4 + 3, 2);
  }
  bool is_eof(const std::string& pkt, size_t len) const {
    if (len == 0 || static_cast<unsigned char>(pkt[4]) != 0xFE) return false;
    return deprecate_eof() ? len < kMaxPayload : len < 9;
  }
  void read_end(const std::string& pkt, size_t len) {
    if (deprecate_eof()) {
      read_ok(pkt, len);
    } else {
      read_eof(pkt, len);
    }
  }

  // Follows the reply to the current command; true when `pkt` is its last packet.
  bool reply_packet(const std::string& pkt, size_t len) {
    unsigned char h = len ? static_cast<unsigned char>(pkt[4]) : 0;
    if (h == 0xFF && expect_ != Expect::kColumns && expect_ != Expect::kSkip) {
      reply_error_ = true;
      expect_ = Expect::kNothing;
      return true;
    }
    switch (expect_) {
      case Expect::kNothing:  // not ours to follow (a server notice): pass it on
        return false;
      case Expect::kOne:
        if (h == 0x00) read_ok(pkt, len);
        if (h == 0xFE && len < 9) read_eof(pkt, len);
        expect_ = Expect::kNothing;
        return true;
      case Expect::kFirst: {
        if (h == 0x00) {
          read_ok(pkt, len);
          if (status_ & kMoreResults) return false;
          expect_ = Expect::kNothing;
          return true;
        }
        if (h == 0xFB) {  // LOCAL INFILE request: not followed further
          expect_ = Expect::kNothing;
          return true;
        }
        size_t at = 4;
        columns_ = lenenc(pkt, at);
        expect_ = columns_ ? Expect::kColumns : Expect::kRows;
        return false;
      }
      case Expect::kColumns:
        if (--columns_ == 0) expect_ = deprecate_eof() ? Expect::kRows : Expect::kColumnsEof;
        return false;
      case Expect::kColumnsEof:
        read_eof(pkt, len);
        // A cursor: the rows come with COM_STMT_FETCH.
        if (status_ & kCursorExists) {
          expect_ = Expect::kNothing;
          return true;
        }
        expect_ = Expect::kRows;
        return false;
      case Expect::kRows:
        if (!is_eof(pkt, len)) return false;
        read_end(pkt, len);
        if (status_ & kMoreResults) {
          expect_ = Expect::kFirst;
          return false;
        }
        expect_ = Expect::kNothing;
        return true;
      case Expect::kPrepare: {
        // COM_STMT_PREPARE_OK: statement id, columns, parameters; then their definitions.
        if (len < 9) {
          expect_ = Expect::kNothing;
          return true;
        }
        uint32_t id = le(pkt, 5, 4);
        uint32_t cols = le(pkt, 9, 2), params = le(pkt, 11, 2);
        statements_[id] = preparing_;
        bool eofs = !deprecate_eof();
        columns_ = params + (params && eofs ? 1 : 0) + cols + (cols && eofs ? 1 : 0);
        expect_ = columns_ ? Expect::kSkip : Expect::kNothing;
        return columns_ == 0;
      }
      case Expect::kSkip:
        if (--columns_ == 0) {
          expect_ = Expect::kNothing;
          return true;
        }
        return false;
    }
    return false;
  }

  Phase phase_ = Phase::kGreeting;
  Expect expect_ = Expect::kNothing;
  uint32_t server_caps_ = 0, client_caps_ = 0;
  uint16_t status_ = kAutocommit;  // from the last OK or EOF packet
  bool explicit_ = false;          // the client began a transaction it has not ended
  bool wrote_ = false;             // the open transaction ran a write statement
  bool matched_ = false;           // ... one holding the armed text
  bool reply_error_ = false;
  bool client_continues_ = false, server_continues_ = false;  // inside a 16 MiB+ packet
  uint64_t columns_ = 0;  // column definitions (or prepare definitions) still to come
  std::string preparing_;
  std::map<uint32_t, std::string> statements_;  // prepared statement id -> SQL
};

}  // namespace

// ------------------------------------------------------------------ CommitProxy
CommitProxy::CommitProxy(WireProtocol protocol, int server_port, std::string server_host)
    : protocol_(protocol),
      server_host_(std::move(server_host)),
      server_port_(server_port),
      state_(std::make_shared<State>()) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("commit proxy: pipe failed");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t alen = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
    std::string err = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    throw std::runtime_error("commit proxy: cannot listen on 127.0.0.1: " + err);
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

CommitProxy::~CommitProxy() {
  char c = 1;
  while (::write(wake_[1], &c, 1) < 0 && errno == EINTR) {
  }
  acceptor_.join();
  {
    // The wake-up reaches threads in poll(); one blocked in send() needs its socket shut, one
    // holding a reply its condition.
    std::lock_guard lock(state_->mu);
    state_->closing = true;
    state_->released.notify_all();
    for (int fd : state_->sockets) ::shutdown(fd, SHUT_RDWR);
  }
  {
    std::lock_guard lock(threads_mu_);
    for (auto& t : sessions_) t.join();
  }
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void CommitProxy::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || fds[1].revents) return;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int server = connect_to(server_host_, server_port_);
    if (server < 0) {
      ::close(client);  // the client sees the server as unreachable, as it is
      continue;
    }
    ++connections_;
    std::unique_ptr<Session> s;
    if (protocol_ == WireProtocol::kPostgres) {
      s = std::make_unique<PgSession>(client, server, wake_[0], state_);
    } else {
      s = std::make_unique<MysqlSession>(client, server, wake_[0], state_);
    }
    std::lock_guard lock(threads_mu_);
    sessions_.emplace_back([s = std::move(s)] { s->run(); });
  }
}

void CommitProxy::arm(Drop what, int count, Lose lose, std::string containing) {
  std::lock_guard lock(state_->mu);
  state_->what = what;
  state_->lose = lose;
  state_->armed = count;
  state_->containing = std::move(containing);
}

int CommitProxy::held() const {
  std::lock_guard lock(state_->mu);
  return state_->held;
}

void CommitProxy::release_held() {
  std::lock_guard lock(state_->mu);
  ++state_->releases;
  state_->released.notify_all();
}

int CommitProxy::armed() const {
  std::lock_guard lock(state_->mu);
  return state_->armed;
}

std::vector<std::string> CommitProxy::lost() const {
  std::lock_guard lock(state_->mu);
  return state_->lost;
}

void CommitProxy::record(bool on) {
  std::lock_guard lock(state_->mu);
  state_->recording = on;
}

std::vector<std::string> CommitProxy::recorded() const {
  std::lock_guard lock(state_->mu);
  return state_->recorded;
}

std::string with_port(const std::string& url, int port) {
  size_t scheme = url.find("://");
  size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t path = url.find_first_of("/?", host_start);
  if (path == std::string::npos) path = url.size();
  // user:password ends at the last '@' before the path, as Url::parse reads it.
  size_t at = url.rfind('@', path);
  if (at != std::string::npos && at >= host_start) host_start = at + 1;
  std::string host = url.substr(host_start, path - host_start);
  size_t colon = host.rfind(':');
  if (colon != std::string::npos && host.find(']', colon) == std::string::npos) {
    host = host.substr(0, colon);
  }
  return url.substr(0, host_start) + host + ":" + std::to_string(port) + url.substr(path);
}

std::string with_first_port(const std::string& url, int port) {
  size_t comma = url.find(',');
  if (comma == std::string::npos) return with_port(url, port);
  size_t path = url.find_first_of("/?", comma);
  if (path == std::string::npos) path = url.size();
  const std::string tail = url.substr(path);
  std::string first = with_port(url.substr(0, comma) + tail, port);  // the first host alone
  first.resize(first.size() - tail.size());
  return first + url.substr(comma, path - comma) + tail;
}

}  // namespace ym::test
