#include "master/gitpoller.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <system_error>
#include <thread>

#include "db/base.hpp"
#include "db/errors.hpp"
#include "master/await.hpp"

extern char** environ;

// Boost 1.74's awaitable frames pair a class operator new with a sized operator delete that GCC 12
// mistakes for a mismatch (a false positive, as in master.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ym::master {

namespace {

namespace fs = std::filesystem;
using boost::asio::awaitable;

// How much of git's error output a GitError quotes: enough for the line that says what went
// wrong, not a screenful of progress.
constexpr size_t kQuotedStderr = 600;
// What is kept of git's error output at all (the rest is dropped as it arrives).
constexpr size_t kKeptStderr = 64 * 1024;
// A git that has not finished by then is killed: a hung network fetch must not stop the
// poller for good (the next pass tries again). Generous, for a first fetch of a big repository.
constexpr auto kGitTimeout = std::chrono::minutes(30);

// The state key of the poller's position: Buildbot's GitPoller keeps {branch: sha} under it.
constexpr const char* kLastRev = "lastRev";

}  // namespace

std::string mask_url_passwords(std::string text) {
  // scheme://user:secret@host -> scheme://user:***@host, wherever it appears; a user name alone
  // (scheme://TOKEN@host, how hosting services take tokens) is hidden whole.
  static const std::regex kPassword(R"(([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:'"]*):[^/@\s'"]*@)");
  static const std::regex kUserOnly(R"(([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:'"]+@)");
  text = std::regex_replace(text, kPassword, "$1:***@");
  return std::regex_replace(text, kUserOnly, "$1***@");
}

namespace {

std::string command_text(const std::vector<std::string>& args) {
  std::string out = "git";
  for (const auto& a : args) {
    out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$*?") == std::string::npos;
    out += plain ? a : "'" + a + "'";
  }
  return mask_url_passwords(out);
}

std::string trim_output(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of("\n\r ");
  s.erase(0, start == std::string::npos ? s.size() : start);
  if (s.size() > kQuotedStderr) {
    // Keep the end: git says what failed last ("fatal: ...").
    s = "..." + s.substr(s.size() - kQuotedStderr);
  }
  return mask_url_passwords(db::sanitize_utf8(s));
}

// The environment git runs with: ours, without what would point git at another repository or
// let it ask a question nobody can answer, plus a C locale (so that its messages are the ones
// this file parses and quotes).
std::vector<std::string> git_environment() {
  static const char* const kDropped[] = {
      "GIT_DIR=",         "GIT_WORK_TREE=",         "GIT_INDEX_FILE=",
      "GIT_OBJECT_DIRECTORY=", "GIT_ALTERNATE_OBJECT_DIRECTORIES=", "GIT_COMMON_DIR=",
      "GIT_NAMESPACE=",   "GIT_CEILING_DIRECTORIES=", "GIT_TERMINAL_PROMPT=",
      "LC_ALL=",          "LANGUAGE=",              "GIT_CONFIG_PARAMETERS=",
      "GIT_CONFIG_COUNT="};
  std::vector<std::string> env;
  bool has_ssh = false;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    bool drop = false;
    for (const char* d : kDropped) {
      if (v.substr(0, std::strlen(d)) == d) drop = true;
    }
    if (v.starts_with("GIT_SSH=") || v.starts_with("GIT_SSH_COMMAND=")) has_ssh = true;
    if (!drop) env.emplace_back(v);
  }
  env.emplace_back("GIT_TERMINAL_PROMPT=0");
  env.emplace_back("LC_ALL=C");
  // ssh would otherwise ask for a password or a host key on the master's terminal.
  if (!has_ssh) env.emplace_back("GIT_SSH_COMMAND=ssh -o BatchMode=yes");
  return env;
}

struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Runs git to the end on the calling thread: its standard output, or GitError.
std::string run_git_blocking(const std::vector<std::string>& args, const fs::path& cwd) {
  const std::string what = command_text(args) + " (in " + cwd.string() + ")";
  std::vector<std::string> full;
  full.reserve(args.size() + 3);
  full.push_back("git");
  full.push_back("-C");
  full.push_back(cwd.string());
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = git_environment();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  auto fail = [&](const std::string& why) { return GitError(what + " could not run: " + why); };
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw fail(std::strerror(errno));
  Fd out_r, out_w;
  out_r.fd = out_pipe[0];
  out_w.fd = out_pipe[1];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw fail(std::strerror(errno));
  Fd err_r, err_w;
  err_r.fd = err_pipe[0];
  err_w.fd = err_pipe[1];

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  // The master's threads may block signals (its signal handling does); git must get the
  // defaults, or a SIGTERM to it would do nothing.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "git", &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw fail(rc == ENOENT ? std::string("the git command is not installed (not on PATH)")
                            : std::string(std::strerror(rc)));
  }
  out_w.reset();
  err_w.reset();

  std::string out, err;
  bool timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + kGitTimeout;
  char buf[65536];
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_r.fd >= 0) fds[n++] = {out_r.fd, POLLIN, 0};
    if (err_r.fd >= 0) fds[n++] = {err_r.fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int ready = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      ::kill(pid, SIGKILL);
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      Fd& fd = fds[i].fd == out_r.fd ? out_r : err_r;
      ssize_t got = ::read(fd.fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fd.reset();
        continue;
      }
      if (&fd == &out_r) {
        out.append(buf, static_cast<size_t>(got));
      } else if (err.size() < kKeptStderr) {
        err.append(buf, std::min(static_cast<size_t>(got), kKeptStderr - err.size()));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw fail(std::string("waitpid: ") + std::strerror(errno));
  }
  if (timed_out) {
    throw GitError(what + " did not finish within " +
                   std::to_string(std::chrono::minutes(kGitTimeout).count()) +
                   " minutes and was killed");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return out;
  std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  std::string quoted = trim_output(err);
  throw GitError(what + " failed: git " + how + (quoted.empty() ? "" : ": " + quoted));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool branch_matches(const std::vector<std::string>& globs, const std::string& branch) {
  if (globs.empty()) return true;
  for (const auto& g : globs) {
    if (::fnmatch(g.c_str(), branch.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string short_sha(const std::string& sha) { return sha.substr(0, 7); }

// What a change needs of one commit.
struct Commit {
  std::string sha;
  std::vector<std::string> parents;
  std::string author;
  std::string committer;
  int64_t when = 0;
  std::string comments;
  std::vector<std::string> files;
};

// Text from git made storable: a stray byte of a legacy encoding becomes U+FFFD and an over-long
// value is shortened as Buildbot shortens it, rather than the commit being refused for ever
// (a change that cannot be added would stop the poller at that commit on every pass).
std::string storable(const char* table, const char* column, const std::string& text) {
  return db::ensure_length(table, column, db::sanitize_utf8(text));
}

}  // namespace

Future<std::string> run_git(std::vector<std::string> args, std::filesystem::path cwd) {
  auto promise = std::make_shared<Promise<std::string>>();
  auto future = promise->get_future();
  try {
    std::thread([promise, args = std::move(args), cwd = std::move(cwd)] {
      try {
        promise->set_value(run_git_blocking(args, cwd));
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    }).detach();
  } catch (const std::system_error& e) {
    promise->set_exception(
        std::make_exception_ptr(GitError("could not start a thread for git: " +
                                         std::string(e.what()))));
  }
  return future;
}

Future<int64_t> author_uid(db::Users& users, std::string author) {
  // users.identifier (255) and users_info.attr_data (128) are shorter than an author can be:
  // both are shortened the way Buildbot's ensureLength does, so that the same long author
  // always finds the same user.
  std::string text = db::sanitize_utf8(author);
  if (text.empty()) text = "unknown";
  std::string identifier = db::ensure_length("users", "identifier", text);
  std::string data = db::ensure_length("users_info", "attr_data", text);
  return users.find_user_by_attr(std::move(identifier), "git", std::move(data));
}

GitPoller::GitPoller(boost::asio::io_context& io, db::Db& db, ChangeSourceConfig config,
                     std::filesystem::path mirror_root, std::function<bool()> may_write)
    : io_(io),
      db_(db),
      config_(std::move(config)),
      mirror_(mirror_root / (config_.name + ".git")),
      may_write_(std::move(may_write)) {}

namespace {

awaitable<std::string> git(const std::vector<std::string>& args, const fs::path& cwd) {
  std::vector<std::string> a = args;
  fs::path c = cwd;
  auto out = co_await await(run_git(std::move(a), std::move(c)));
  co_return out;
}

// Whether `sha` names a commit of the mirror (one known from an earlier pass may be gone: a
// force-push on another master's watch, then a fresh mirror here).
awaitable<bool> has_commit(const fs::path& mirror, const std::string& sha) {
  std::vector<std::string> args;
  args.push_back("cat-file");
  args.push_back("-e");
  args.push_back(sha + "^{commit}");
  try {
    co_await git(args, mirror);
  } catch (const GitError&) {
    co_return false;
  }
  co_return true;
}

awaitable<Commit> read_commit(const fs::path& mirror, const std::string& sha) {
  Commit c;
  c.sha = sha;
  // NUL-separated, so that no byte of a message can be mistaken for a separator. %aN/%cN: the
  // names after .mailmap, as Buildbot's GitPoller asks for them.
  std::vector<std::string> args;
  args.push_back("show");
  args.push_back("-s");
  args.push_back("--no-show-signature");
  args.push_back("--format=%P%x00%aN <%aE>%x00%cN <%cE>%x00%ct%x00%B");
  args.push_back(sha);
  args.push_back("--");
  std::string out = co_await git(args, mirror);
  std::vector<std::string> parts;
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    size_t end = out.find('\0', start);
    if (end == std::string::npos) throw GitError("git show " + sha + ": unexpected output");
    parts.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  for (auto& p : split(parts[0], ' ')) {
    if (!p.empty()) c.parents.push_back(p);
  }
  c.author = parts[1];
  c.committer = parts[2];
  try {
    c.when = std::stoll(parts[3]);
  } catch (const std::exception&) {
    throw GitError("git show " + sha + ": bad commit time '" + parts[3] + "'");
  }
  c.comments = out.substr(start);
  while (!c.comments.empty() && c.comments.back() == '\n') c.comments.pop_back();

  // The files changed: against the first parent for a merge (as Buildbot lists them), against
  // the empty tree for a root commit. -z: names as they are, not quoted.
  std::vector<std::string> diff;
  diff.push_back("diff-tree");
  diff.push_back("-r");
  diff.push_back("--name-only");
  diff.push_back("--no-commit-id");
  diff.push_back("-z");
  if (c.parents.empty()) {
    diff.push_back("--root");
    diff.push_back(sha);
  } else {
    diff.push_back(c.parents[0]);
    diff.push_back(sha);
  }
  diff.push_back("--");
  std::string names = co_await git(diff, mirror);
  for (auto& f : split(names, '\0')) {
    if (!f.empty()) c.files.push_back(f);
  }
  co_return c;
}

}  // namespace

awaitable<std::vector<int64_t>> GitPoller::poll() {
  std::vector<int64_t> added;
  if (objectid_ == 0) {
    std::string cls = "GitPoller";
    objectid_ = co_await await(db_.state().get_object_id(config_.name, cls));
  }

  // The mirror: a bare repository of our own, so that nothing else's checkout or hooks get in
  // the way, fetched with every branch forced (a force-push replaces the branch here too) and
  // pruned (a deleted branch goes).
  if (!fs::exists(mirror_ / "HEAD")) {
    std::error_code ec;
    fs::create_directories(mirror_.parent_path(), ec);
    if (ec) {
      throw GitError("cannot create the directory of the mirror " + mirror_.parent_path().string() +
                     ": " + ec.message());
    }
    std::vector<std::string> init;
    init.push_back("init");
    init.push_back("--bare");
    init.push_back("--quiet");
    init.push_back(mirror_.filename().string());
    fs::path parent = mirror_.parent_path();
    co_await git(init, parent);
  }
  {
    std::vector<std::string> fetch;
    fetch.push_back("fetch");
    fetch.push_back("--quiet");
    fetch.push_back("--prune");
    fetch.push_back("--force");
    fetch.push_back("--no-tags");
    fetch.push_back(config_.repository);
    fetch.push_back("+refs/heads/*:refs/heads/*");
    co_await git(fetch, mirror_);
  }

  // The heads of the matching branches, by name.
  std::map<std::string, std::string> heads;
  {
    std::vector<std::string> refs;
    refs.push_back("for-each-ref");
    refs.push_back("--format=%(objectname) %(refname)");
    refs.push_back("refs/heads/");
    std::string out = co_await git(refs, mirror_);
    for (const auto& line : split(out, '\n')) {
      size_t space = line.find(' ');
      if (space == std::string::npos) continue;
      std::string sha = line.substr(0, space);
      std::string ref = line.substr(space + 1);
      if (!ref.starts_with("refs/heads/")) continue;
      std::string branch = ref.substr(std::strlen("refs/heads/"));
      if (branch_matches(config_.branches, branch)) heads[branch] = sha;
    }
  }

  std::string key = kLastRev;
  nlohmann::json none;
  nlohmann::json last = co_await await(db_.state().get_state(objectid_, key, none));
  if (!last.is_object()) {
    if (!last.is_null()) {
      spdlog::warn("git poller {}: its saved position is not a JSON object; starting afresh",
                   config_.name);
    }
    last = nlohmann::json::object();
  }
  // The first pass (no position yet, or one without a branch, as Buildbot's empty lastRev):
  // the history up to now is not a list of changes; remember the heads and report nothing.
  if (last.empty()) {
    if (!may_write_()) co_return added;
    nlohmann::json first = nlohmann::json::object();
    for (const auto& [branch, sha] : heads) first[branch] = sha;
    if (!first.empty()) {
      co_await await(db_.state().set_state(objectid_, key, first));
      spdlog::info("git poller {}: first pass, {} branch(es) recorded, nothing reported",
                   config_.name, first.size());
    } else {
      spdlog::debug("git poller {}: no matching branch yet", config_.name);
    }
    co_return added;
  }

  // Every sha of the position is an exclusion for every branch: a commit that any earlier head
  // had is not new, whichever branch it now appears on. Branches that vanished keep their
  // entries (their commits stay known; the entry costs a few bytes).
  std::set<std::string> known;
  for (auto it = last.begin(); it != last.end(); ++it) {
    if (it.value().is_string()) known.insert(it.value().get<std::string>());
  }

  for (const auto& entry : heads) {
    const std::string& branch = entry.first;
    const std::string& head = entry.second;
    auto was = last.find(branch);
    bool is_known = was != last.end() && was->is_string();
    if (is_known && was->get<std::string>() == head) continue;

    std::vector<std::string> fresh;
    bool lost = false;
    if (is_known) {
      std::string previous = was->get<std::string>();
      lost = !(co_await has_commit(mirror_, previous));
    }
    if (lost) {
      // The previous head is not in this mirror (rewritten away before this mirror first
      // fetched it): which commits are new cannot be told, and listing the whole history would
      // flood the schedulers. Only the new head is reported.
      spdlog::warn("git poller {}: the last known head {} of {} is not in the repository any "
                   "more; reporting only the new head {}",
                   config_.name, short_sha(was->get<std::string>()), branch, short_sha(head));
      fresh.push_back(head);
    } else {
      std::vector<std::string> revs;
      revs.push_back("rev-list");
      revs.push_back("--ignore-missing");  // a known sha may be gone after a force-push
      revs.push_back("--reverse");
      revs.push_back("--topo-order");
      revs.push_back(head);
      for (const auto& k : known) revs.push_back("^" + k);
      revs.push_back("--");
      std::string out = co_await git(revs, mirror_);
      for (auto& line : split(out, '\n')) {
        if (!line.empty()) fresh.push_back(line);
      }
    }

    std::string safe_branch = storable("changes", "branch", branch);
    size_t branch_added = 0;
    for (const auto& sha : fresh) {
      if (!may_write_()) {
        spdlog::debug("git poller {}: this master may not write; stopping the pass",
                      config_.name);
        co_return added;
      }
      Commit c = co_await read_commit(mirror_, sha);

      // Already a change? (A pass cut off between add_change and set_state, or a peer that
      // polled the same repository.)
      db::ResultSpec spec;
      spec.where("revision", db::Value(sha));
      spec.where("repository", db::Value(config_.repository));
      spec.where("branch", db::Value(safe_branch));
      spec.take(1);
      auto existing = co_await await(db_.changes().get_changes(std::move(spec)));
      if (existing.empty()) {
        db::NewChange nc;
        nc.author = storable("changes", "author", c.author);
        nc.committer = storable("changes", "committer", c.committer);
        for (const auto& f : c.files) nc.files.push_back(storable("change_files", "filename", f));
        nc.comments = c.comments;
        nc.revision = sha;
        nc.when_timestamp = Timestamp(std::chrono::seconds(c.when));
        nc.branch = safe_branch;
        if (config_.revlink) {
          std::string link = *config_.revlink;
          const std::string token = "{revision}";
          for (size_t at = link.find(token); at != std::string::npos;
               at = link.find(token, at + sha.size())) {
            link.replace(at, token.size(), sha);
          }
          nc.revlink = storable("changes", "revlink", link);
        }
        nc.repository = config_.repository;
        nc.project = config_.project;
        nc.codebase = config_.codebase;
        nc.uid = co_await await(author_uid(db_.users(), c.author));
        int64_t id = co_await await(db_.changes().add_change(std::move(nc)));
        added.push_back(id);
        ++branch_added;
      } else {
        spdlog::debug("git poller {}: {} on {} is already change {}", config_.name,
                      short_sha(sha), branch, existing.front().changeid);
      }
      // The position after each commit: a pass cut off here loses nothing and repeats nothing.
      last[branch] = sha;
      co_await await(db_.state().set_state(objectid_, key, last));
      known.insert(sha);
    }
    if (!may_write_()) co_return added;
    if (!last.contains(branch) || last[branch] != head) {
      // A branch moved back (or to commits all known): no change, but the new head.
      last[branch] = head;
      co_await await(db_.state().set_state(objectid_, key, last));
    }
    known.insert(head);
    if (branch_added > 0) {
      spdlog::info("git poller {}: {} new change(s) on {} ({}..{})", config_.name, branch_added,
                   branch, short_sha(fresh.front()), short_sha(fresh.back()));
    }
  }
  if (added.empty()) spdlog::debug("git poller {}: nothing new", config_.name);
  co_return added;
}

}  // namespace ym::master
