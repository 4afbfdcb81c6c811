// A TCP proxy that loses the reply to a commit the way a network does in production: it sits
// between a client and a PostgreSQL or MySQL/MariaDB server on loopback, forwards bytes both ways,
// and, once armed, forwards the next commit to the server, waits until the server's whole reply
// has reached the proxy, and then closes both sides without forwarding that reply. The server
// has committed; the client only sees its connection die. The in-library switch
// (FaultInjector::lose_next_commit_replies) imitates this from inside the pool; the proxy makes
// the client library itself meet the broken socket, with whatever error it raises there.
//
// What counts as a commit (observed on the wire with record(), and checked by
// lost_commit_test.cpp ProxyWire.LosesTheReplyToTheCommitOfAWriteAfterTheServerCommitted):
// - PostgreSQL (libpqxx 6.4): pqxx::work sends BEGIN and COMMIT as simple-query 'Q' messages;
//   statements go through the extended protocol (Parse once per connection, then Bind, Describe,
//   Execute, Sync). A COMMIT sent through the extended protocol is recognised too.
// - MySQL (Connector/C++ 1.1 on MariaDB Connector/C): our driver's COMMIT, and
//   sql::Connection::commit() (mysql_commit()), are both a COM_QUERY packet "COMMIT"; statements
//   are server-side prepared (COM_STMT_PREPARE once, COM_STMT_EXECUTE, with
//   COM_STMT_SEND_LONG_DATA before it for blobs). Beware: Connector/C++ 1.1.12's
//   Connection::commit() ignores mysql_commit()'s result, so a lost reply (or a failed COMMIT)
//   returns as if it had succeeded; our driver sends COMMIT as a statement, which reports it.
// A COMMIT counts only when it ends a transaction that ran a write statement: the COMMIT that ends
// a read transaction passes. An autocommit write is a write statement (INSERT, UPDATE, DELETE,
// REPLACE, MERGE, DDL, or WITH ... around one of them) run outside any transaction: PostgreSQL's
// ReadyForQuery said idle, MySQL's last status flags said autocommit and not in a transaction.
//
// To keep the bytes readable the proxy refuses TLS (PostgreSQL: it answers 'N' to SSLRequest and
// GSSENCRequest itself; MySQL: it removes CLIENT_SSL and CLIENT_COMPRESS, and MariaDB's extended
// capabilities such as metadata caching and progress reports, from the server's greeting). A
// client that insists on TLS therefore cannot connect through it.
//
// One thread accepts; each client connection has one thread that owns both of its sockets, so
// the decision to drop is taken in the thread that sees both directions. A session reads whole
// messages before forwarding them and writes with blocking sends: fine for request/response
// clients such as ours, not meant for COPY or pipelined traffic.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ym::test {

enum class WireProtocol { kPostgres, kMysql };

// Which reply an armed proxy loses.
enum class Drop {
  kCommit,           // of a COMMIT that ends a transaction which wrote
  kAutocommitWrite,  // of a write statement run outside any transaction
  kNextWrite,        // of whichever of the two comes first
};

// What is lost: the reply (the server did it), or the message itself (the server never saw it;
// for PostgreSQL's extended protocol the Sync that would have committed the statement). kHeld
// loses nothing: the whole reply is kept at the proxy until release_held(), then forwarded, and
// the connection goes on (a reply that the network delays, or that a frozen client reads late).
enum class Lose { kReply, kRequest, kHeld };

class CommitProxy {
 public:
  // Listens on 127.0.0.1 at a free port. Each accepted connection gets its own connection to
  // server_host:server_port. Throws std::runtime_error when it cannot listen.
  CommitProxy(WireProtocol protocol, int server_port, std::string server_host = "127.0.0.1");
  // Closes every connection and joins every thread.
  ~CommitProxy();
  CommitProxy(const CommitProxy&) = delete;
  CommitProxy& operator=(const CommitProxy&) = delete;

  // The port clients connect to.
  int port() const { return port_; }

  // The next `count` commits of kind `what` (on any connection) lose their reply (or, with
  // Lose::kRequest, never reach the server; the client sees the same dead connection). Arming
  // again replaces what is left of the previous arming.
  // With `containing`, only a commit whose transaction ran a write statement holding that text
  // (or an autocommit write holding it) counts.
  void arm(Drop what, int count = 1, Lose lose = Lose::kReply, std::string containing = {});
  void disarm() { arm(Drop::kNextWrite, 0); }
  // Lose::kHeld: how many replies are complete at the proxy and held now; and letting them go.
  int held() const;
  void release_held();
  // Arms not yet used.
  int armed() const;

  // What each lost reply answered, oldest first: "COMMIT" or "autocommit write: <SQL>", with
  // " (the server answered with an error)" when it did, " (never sent)" for Lose::kRequest, or
  // " (held)" for Lose::kHeld.
  // Recorded before the sockets are closed, so that it is complete by the time the client has
  // seen the connection die.
  std::vector<std::string> lost() const;

  // When on, every client message is recorded in a short form ("Q COMMIT [T]", "P s1: INSERT ...",
  // "COM_STMT_EXECUTE #3: UPDATE ... [status 0x0003]"); the bracket holds the transaction state
  // the proxy believed when the message passed. For looking at what a client library sends.
  void record(bool on);
  std::vector<std::string> recorded() const;

  // Connections accepted so far.
  int connections() const { return connections_.load(); }

  // Shared by the proxy and its sessions (internal).
  struct State;

 private:
  void accept_loop();

  WireProtocol protocol_;
  std::string server_host_;
  int server_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // written once by the destructor: wakes every thread's poll()
  std::atomic<int> connections_{0};
  std::shared_ptr<State> state_;
  std::mutex threads_mu_;
  std::vector<std::thread> sessions_;  // guarded by threads_mu_
  std::thread acceptor_;
};

// `url` (postgresql://... or mysql://...) with its port replaced, everything else as written
// (the password is neither parsed nor printed).
std::string with_port(const std::string& url, int port);
// The same for a URL listing several hosts (h1:p1,h2:p2/db): the first host's port replaced, the
// other hosts kept (a proxy in front of the first, the others to fall back on).
std::string with_first_port(const std::string& url, int port);

}  // namespace ym::test
