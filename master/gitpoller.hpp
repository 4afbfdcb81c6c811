// The git poller: a change source that fetches a repository into a bare mirror under the master
// directory and reports each new commit of the branches it watches as a change (Buildbot's
// GitPoller, through the `git` command line).
//
// Its position (the last reported head of each branch) is kept in the state connector under the
// object (NAME, "GitPoller"), so that it follows the change source from master to master: the
// master that takes it over continues where the last one stopped. A commit is reported once per
// branch, also across a restart, a take-over and a force-push (a rewritten branch reports only
// the commits that no earlier head had); before it adds a change, the poller checks that no
// change of this repository and branch has that revision yet, so that a pass cut off between
// add_change and saving the position does not report it twice.
//
// Used from the master's io thread only; git runs on a helper thread, never on the io thread.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "master/config.hpp"

namespace ym::master {

// git failed: what() names the command and quotes git's error output.
class GitError : public std::runtime_error {
 public:
  explicit GitError(const std::string& message) : std::runtime_error(message) {}
};

// `text` with the password of every URL in it (scheme://user:PASSWORD@host) replaced by ***: what
// the poller says about git (its command line, its error output) never shows one.
std::string mask_url_passwords(std::string text);

// Runs `git ARGS...` (no shell) in `cwd` on a thread of its own, with GIT_TERMINAL_PROMPT=0,
// LC_ALL=C, ssh in batch mode (unless GIT_SSH/GIT_SSH_COMMAND is set), no GIT_DIR-like variables
// of ours, and standard input from /dev/null. The future holds its standard output, or GitError
// when it could not start, exited non-zero (the message quotes the end of its standard error) or
// ran longer than 30 minutes (it is killed). The future completes on that thread.
Future<std::string> run_git(std::vector<std::string> args, std::filesystem::path cwd);

// The user of a change's author, as Buildbot's createUserObject does for git: found (or created)
// by the attribute ("git", author), with the author text as its identifier. Both are shortened
// as db::ensure_length does when too long for their columns (255 and 128 characters), so the
// same author always finds the same user.
Future<int64_t> author_uid(db::Users& users, std::string author);

class GitPoller {
 public:
  // The mirror is `mirror_root`/NAME.git (created by the first poll). `may_write` is the master's
  // fence (Master::may_write): while it is false the poller adds no change.
  GitPoller(boost::asio::io_context& io, db::Db& db, ChangeSourceConfig config,
            std::filesystem::path mirror_root, std::function<bool()> may_write);

  const ChangeSourceConfig& config() const { return config_; }

  // One pass: fetch, then report the new commits of every matching branch, oldest first, saving
  // the position after each. The first pass of a poller that has no saved position records the
  // heads and reports nothing (as Buildbot: history is not a list of changes). Returns the ids of
  // the changes added. Throws GitError when git fails, db::Error when the database does; the
  // position saved so far stays.
  boost::asio::awaitable<std::vector<int64_t>> poll();

 private:
  boost::asio::io_context& io_;
  db::Db& db_;
  ChangeSourceConfig config_;
  std::filesystem::path mirror_;
  std::function<bool()> may_write_;
  int64_t objectid_ = 0;
};

}  // namespace ym::master
