// Passwords never printed, whatever the URL's shape (issue 11): every `yardmaster` command that
// takes a database URL is run, as a real child process, on a table of malformed, unreachable and
// refused URLs whose password holds a marker, written plainly, %-encoded, and with unencoded
// '@', '/', '?' and ':' in it. The marker must show in no output and no file the command wrote,
// and every command must fail with a message that says what is wrong.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "backend/server_db.hpp"
#include "db/url.hpp"
#include "migrate/process.hpp"

namespace ym::test {
namespace {

namespace fs = std::filesystem;

const std::string kYardmaster = YM_YARDMASTER_BIN;

// The marker and its %-encoding, in lower case: outputs are searched in lower case, so that an
// encoding in either case is found too. "zq9" and "marker" each catch a piece of a split password.
const std::vector<std::string> kNeedles = {"zq9", "marker", "%5a%71%39", "%4d%41%52%4b%45%52"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The first needle found in `text`, or "" when it holds none.
std::string leak_in(const std::string& text) {
  std::string l = lower(text);
  for (const auto& n : kNeedles) {
    if (l.find(n) != std::string::npos) return n;
  }
  return "";
}

// The password as written in a URL: plainly, with '@' unencoded (twice, splitting the marker
// from its prefix), with '@' encoded, every character %-encoded, and with '/', '?' and ':'.
const std::vector<std::string> kPasswords = {
    "Zq9MARKERpw",
    "Zq9@MARKER@pw",
    "Zq9MARKER%40pw",
    "%5A%71%39%4D%41%52%4B%45%52%70%77",
    "Zq9MARKER/pw?x:y",
};

// A TCP port on 127.0.0.1 that refuses connections at once: bound but not listening, and held
// for the whole test so that nothing else can take it.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot bind a port on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

enum class Kind {
  kMalformed,    // Url::parse (or the driver's option check) refuses it
  kUnreachable,  // well formed; nothing answers
  kRefused,      // well formed; a real server refuses the login
  kNoScheme,     // no "scheme://": a DIR|URL argument takes it for a directory
};

struct Case {
  std::string url;
  Kind kind;
};

// Every shape, with every password. `{pw}` is the password, `{port}` the refusing port.
std::vector<Case> cases(int port) {
  const std::vector<std::pair<std::string, Kind>> shapes = {
      {"postgresql://ym:{pw}@127.0.0.1:{port}/ym", Kind::kUnreachable},
      {"mysql://ym:{pw}@127.0.0.1:{port}/ym", Kind::kUnreachable},
      {"postgres+psycopg2://ym:{pw}@127.0.0.1:{port}/ym?connect_timeout=2", Kind::kUnreachable},
      {"mariadb://ym:{pw}@[::1]:{port}/ym", Kind::kUnreachable},
      {"postgresql://ym:{pw}@127.0.0.1:99999/ym", Kind::kMalformed},
      {"mysql://ym:{pw}@127.0.0.1:x/ym", Kind::kMalformed},
      {"postgresql://ym:{pw}@127.0.0.1:{port}/ym?opt", Kind::kMalformed},
      {"postgresql://ym:{pw}@127.0.0.1:{port}/ym?sslmod=require", Kind::kMalformed},
      {"mysql://ym:{pw}@127.0.0.1:{port}/", Kind::kMalformed},
      {"postgresql://ym:{pw}@[::1/ym", Kind::kMalformed},
      {"postgresql://ym:{pw}%zz@127.0.0.1/ym", Kind::kMalformed},
      {"postgresql://ym:{pw}", Kind::kMalformed},
      {"oracle://ym:{pw}@127.0.0.1/ym", Kind::kMalformed},
      {"POSTGRESQL://ym:{pw}@127.0.0.1/ym", Kind::kMalformed},
      {"http://ym:{pw}@127.0.0.1/ym", Kind::kMalformed},
      {"sqlite://ym:{pw}@127.0.0.1/ym.sqlite", Kind::kMalformed},
      {"postgresql:/ym:{pw}@127.0.0.1/ym", Kind::kNoScheme},
      {"ym:{pw}@127.0.0.1:{port}/ym", Kind::kNoScheme},
  };
  std::vector<std::pair<std::string, Kind>> all = shapes;
  // A real server that refuses the login, when one is configured (always under CI). The user
  // does not exist, so that even a server that trusts its clients refuses it.
  for (auto backend : {db::Backend::kPostgres, db::Backend::kMysql}) {
    if (auto server = server_url(backend)) {
      auto u = db::Url::parse(*server);
      std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
      if (u.port) host += ":" + std::to_string(*u.port);
      all.emplace_back(std::string(db::to_string(backend)) + "://ym_no_such_user:{pw}@" + host +
                           "/" + u.database,
                       Kind::kRefused);
    }
  }
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) {
      s.replace(p, from.size(), to);
    }
    return s;
  };
  std::vector<Case> out;
  for (const auto& [shape, kind] : all) {
    for (const auto& pw : kPasswords) {
      out.push_back({replace(replace(shape, "{pw}", pw), "{port}", std::to_string(port)), kind});
    }
  }
  return out;
}

// How a command reads its URL.
enum class Takes {
  kUrl,       // `db ...`: the argument must be a URL
  kDirOrUrl,  // --db, submit's TARGET, $YARDMASTER_DB: a directory, or a URL when it has "://"
  kConfig,    // run: the database key of a config.ini; create-master --database
};

struct Command {
  std::string name;
  Takes takes;
};
void PrintTo(const Command& c, std::ostream* os) { *os << c.name; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

class Secrets : public testing::TestWithParam<Command> {
 protected:
  void SetUp() override {
    const char* base = std::getenv("YM_TEST_TMPDIR");
    dir_ = fs::path(base ? base : fs::temp_directory_path().string()) /
           ("ym-secrets-" + std::to_string(::getpid()) + "-" + GetParam().name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);  // kept for a look when it failed
  }

  // The shell command (in a directory of its own, as its working directory, so that a file it
  // writes by a relative name is found) that runs `name` on `url`; case number `i`.
  std::string command_line(int i, const std::string& url) {
    fs::path work = dir_ / ("case-" + std::to_string(i));
    fs::create_directories(work);
    const std::string& name = GetParam().name;
    std::string y = "exec timeout -k 5 60 " + quote(kYardmaster) + " ";
    std::string q = quote(url);
    std::string cmd = "cd " + quote(work.string()) + " && ";
    if (name == "db-status") return cmd + y + "db status " + q;
    if (name == "db-upgrade") return cmd + y + "db upgrade " + q + " --yes --backup backup.dump";
    if (name == "db-dump") return cmd + y + "db dump " + q + " out.dump --format portable";
    if (name == "db-restore") return cmd + y + "db restore " + quote(good_dump_.string()) + " " + q;
    if (name == "db-copy-from") return cmd + y + "db copy " + q + " sqlite:///copy.sqlite";
    if (name == "db-copy-to") return cmd + y + "db copy " + quote(good_url_) + " " + q;
    if (name == "builds") return cmd + y + "builds --db " + q + " --json";
    if (name == "builds-env") return cmd + "export YARDMASTER_DB=" + q + "; " + y + "builds";
    if (name == "build") return cmd + y + "build 1 --db " + q;
    if (name == "log") return cmd + y + "log 1 s --db " + q;
    if (name == "masters") return cmd + y + "masters --db " + q;
    if (name == "submit") return cmd + y + "submit " + q + " --builder b --json";
    if (name == "create-master") return cmd + y + "create-master master --database " + q;
    if (name == "run") {
      // The URL as the configured database; the master's log goes to a file, as in service.
      fs::path master = work / "master";
      write_file(master / "config.ini", "[master]\ndatabase = " + url +
                                            "\n[worker w]\n[builder b]\nworkers = w\n"
                                            "step s = true\n");
      written_by_test_.insert(master / "config.ini");
      return cmd + y + "run master --until-idle 2>master/master.log";
    }
    ADD_FAILURE() << "no command line for " << name;
    return "false";
  }

  // An SQLite master and a portable dump of it: the good side of copy, and restore's input.
  void make_good_database() {
    fs::path good = dir_ / "good";
    Child create({kYardmaster, "create-master", good.string()});
    ASSERT_EQ(create.wait(), 0) << create.output();
    written_by_test_.insert(good / "config.ini");
    good_url_ = "sqlite:///" + (good / "state.sqlite").string();
    good_dump_ = dir_ / "good.dump";
    Child dump({kYardmaster, "db", "dump", good_url_, good_dump_.string(), "--format", "portable"});
    ASSERT_EQ(dump.wait(), 0) << dump.output();
  }

  fs::path dir_;
  std::string good_url_;
  fs::path good_dump_;
  std::set<fs::path> written_by_test_;
};

// The start of the message each kind of URL gets from a command that reads it as `takes`.
std::string expected_message(Kind kind, Takes takes) {
  switch (kind) {
    case Kind::kMalformed:
      return "invalid database URL";
    case Kind::kUnreachable:
    case Kind::kRefused:
      return "cannot connect to";
    case Kind::kNoScheme:
      return takes == Takes::kDirOrUrl ? "is neither a master directory" : "invalid database URL";
  }
  return "?";
}

TEST_P(Secrets, NoOutputOrFileShowsThePasswordOfABadUrlAndTheCommandFailsSayingWhy) {
  const Command& command = GetParam();
  if (command.name == "db-restore" || command.name == "db-copy-to") {
    ASSERT_NO_FATAL_FAILURE(make_good_database());
  }
  RefusingPort port;
  auto table = cases(port.port());
  // The test can fail: every URL in the table holds the marker the outputs are searched for.
  for (const auto& c : table) ASSERT_NE(leak_in(c.url), "") << c.url;
  if (running_in_ci()) {  // then the servers are there, and a real login is refused too
    auto refused = std::count_if(table.begin(), table.end(),
                                 [](const Case& c) { return c.kind == Kind::kRefused; });
    EXPECT_EQ(refused, static_cast<long>(2 * kPasswords.size()));
  }

  // A few at a time: each takes milliseconds, and most of that is starting the process.
  constexpr size_t kBatch = 6;
  for (size_t first = 0; first < table.size(); first += kBatch) {
    std::vector<std::unique_ptr<Child>> running;
    std::vector<size_t> index;
    for (size_t i = first; i < std::min(table.size(), first + kBatch); ++i) {
      std::string line = command_line(static_cast<int>(i), table[i].url);
      running.push_back(std::make_unique<Child>(std::vector<std::string>{"/bin/sh", "-c", line}));
      index.push_back(i);
    }
    for (size_t k = 0; k < running.size(); ++k) {
      const Case& c = table[index[k]];
      int rc = running[k]->wait();
      std::string out = running[k]->output();
      fs::path log = dir_ / ("case-" + std::to_string(index[k])) / "master" / "master.log";
      if (command.name == "run") out += read_file(log);
      std::string want = expected_message(c.kind, command.takes);
      EXPECT_NE(rc, 0) << c.url << "\n" << out;
      EXPECT_NE(rc, 124) << c.url << ": timed out\n" << out;
      EXPECT_EQ(leak_in(out), "") << c.url << " printed:\n" << out;
      EXPECT_NE(out.find("error: "), std::string::npos) << c.url << "\n" << out;
      EXPECT_NE(out.find(want), std::string::npos) << c.url << ": no '" << want << "' in\n" << out;
      // The table shows the URL, masked, whether it parsed or not.
      if (command.name == "db-status") {
        EXPECT_NE(out.find("***"), std::string::npos) << c.url << "\n" << out;
      }
    }
  }

  // No file any command wrote holds the marker: logs, dumps, backups, a config.ini that
  // create-master would write (it writes none for a database it cannot open), databases.
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    if (!e.is_regular_file() || written_by_test_.count(e.path())) continue;
    ++files;
    EXPECT_EQ(leak_in(read_file(e.path())), "") << e.path();
    EXPECT_NE(e.path().filename(), "config.ini") << e.path() << " written for a failed database";
  }
  if (command.name == "run") {
    EXPECT_GE(files, static_cast<int>(table.size()));  // the masters' logs were looked at
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryCommandTakingAUrl, Secrets,
    testing::Values(Command{"db-status", Takes::kUrl}, Command{"db-upgrade", Takes::kUrl},
                    Command{"db-dump", Takes::kUrl}, Command{"db-restore", Takes::kUrl},
                    Command{"db-copy-from", Takes::kUrl}, Command{"db-copy-to", Takes::kUrl},
                    Command{"builds", Takes::kDirOrUrl}, Command{"builds-env", Takes::kDirOrUrl},
                    Command{"build", Takes::kDirOrUrl}, Command{"log", Takes::kDirOrUrl},
                    Command{"masters", Takes::kDirOrUrl}, Command{"submit", Takes::kDirOrUrl},
                    Command{"create-master", Takes::kConfig}, Command{"run", Takes::kConfig}),
    [](const testing::TestParamInfo<Command>& info) {
      std::string n = info.param.name;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

}  // namespace
}  // namespace ym::test
