// The git poller in process: real git repositories made by the test, polled by a GitPoller on
// an io_context that the test runs, on the fake and on a real SQLite file. Each test checks what
// the database holds afterwards (changes, users, the saved position), not only what poll()
// returned.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "fake/fake_db.hpp"
#include "master/gitpoller.hpp"
#include "master/process_util.hpp"
#include "master/scratch.hpp"

namespace ym::test::gitpoller_tests {
namespace {

using master_tests::run;
using master_tests::Scratch;
using master_tests::write_file;
namespace fs = std::filesystem;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs `script` with /bin/sh; fails the test (and returns "") when it does not exit 0.
std::string sh(const std::string& script) {
  auto [rc, out] = run({"/bin/sh", "-c", script});
  EXPECT_EQ(rc, 0) << script << "\n" << out;
  return rc == 0 ? out : std::string();
}

constexpr int64_t kT0 = 1700000000;  // the first commit's author time; committed a minute later

// The repository the poller watches: a plain one where the test commits (git fetches from a
// non-bare repository as from a bare one). Commits are by Ada, committed by Charles, at fixed
// times, so that each field of a change can be asserted exactly.
class Repo {
 public:
  explicit Repo(fs::path dir) : dir_(std::move(dir)) {
    sh("git init -q -b main " + quoted(dir_));
  }
  const fs::path& path() const { return dir_; }

  std::string git(const std::string& args) const {
    int64_t t = kT0 + 100 * n_;
    return "GIT_AUTHOR_NAME='Ada Lovelace' GIT_AUTHOR_EMAIL=ada@example.org "
           "GIT_COMMITTER_NAME='Charles Babbage' GIT_COMMITTER_EMAIL=cb@example.org "
           "GIT_AUTHOR_DATE='@" +
           std::to_string(t) + " +0000' GIT_COMMITTER_DATE='@" + std::to_string(t + 60) +
           " +0000' git -c commit.gpgsign=false -C " + quoted(dir_) + " " + args;
  }
  // Writes `file` (a new line each time), commits it with `message`; returns the revision.
  std::string commit(const std::string& file, const std::string& message) {
    ++n_;
    write_file(dir_ / file, "line " + std::to_string(n_) + "\n");
    write_file(dir_ / ".git" / "msg", message);
    sh(git("add -A") + " && " + git("commit -q -F .git/msg"));
    return head();
  }
  std::string head() const { return trimmed(sh(git("rev-parse HEAD"))); }
  void run_git(const std::string& args) { sh(git(args)); }
  // The commit time (%ct) of `rev`.
  int64_t commit_time(const std::string& rev) const {
    return std::stoll(trimmed(sh(git("show -s --format=%ct " + rev))));
  }

 private:
  fs::path dir_;
  int n_ = 0;
};

// Runs poll() to its end on the test's io_context; rethrows what it threw.
std::vector<int64_t> run_poll(boost::asio::io_context& io, master::GitPoller& poller) {
  std::optional<std::vector<int64_t>> result;
  std::exception_ptr error;
  boost::asio::co_spawn(io, poller.poll(),
                        [&](std::exception_ptr e, std::vector<int64_t> ids) {
                          error = e;
                          result = std::move(ids);
                        });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  EXPECT_TRUE(result.has_value()) << "poll() did not finish";
  return result.value_or(std::vector<int64_t>{});
}

class GitPollerTest : public testing::TestWithParam<std::string> {
 protected:
  GitPollerTest() : scratch_("ym-gitpoller"), repo_(scratch_.path("repo")) {
    if (GetParam() == "fake") {
      db_ = std::make_unique<fake::FakeDb>();
    } else {
      db_ = db::Db::open(scratch_.url("state.sqlite"));
    }
    repo_.commit("README", "initial commit");
  }
  ~GitPollerTest() override {
    if (db_) db_->shutdown();
  }

  master::ChangeSourceConfig config(std::vector<std::string> branches = {}) const {
    master::ChangeSourceConfig c;
    c.name = "upstream";
    c.repository = repo_.path().string();
    c.branches = std::move(branches);
    c.project = "proj";
    c.codebase = "cb";
    c.revlink = "https://example.org/r/{revision}";
    return c;
  }
  std::unique_ptr<master::GitPoller> poller(master::ChangeSourceConfig c,
                                            std::function<bool()> may_write = nullptr,
                                            const std::string& mirrors = "mirrors") {
    if (!may_write) may_write = [] { return true; };
    return std::make_unique<master::GitPoller>(io_, *db_, std::move(c), scratch_.path(mirrors),
                                               std::move(may_write));
  }
  std::vector<int64_t> poll(master::GitPoller& p) { return run_poll(io_, p); }

  nlohmann::json last_rev() {
    int64_t id = db_->state().get_object_id("upstream", "GitPoller").get();
    return db_->state().get_state(id, "lastRev", nlohmann::json()).get();
  }
  std::vector<db::Change> changes() { return db_->changes().get_changes().get(); }
  std::vector<std::string> revisions() {
    std::vector<std::string> out;
    for (const auto& c : changes()) out.push_back(c.revision.value_or(""));
    return out;
  }
  std::vector<int64_t> ids_of(const std::vector<db::Change>& cs) {
    std::vector<int64_t> out;
    for (const auto& c : cs) out.push_back(c.changeid);
    return out;
  }

  Scratch scratch_;
  Repo repo_;
  std::unique_ptr<db::Db> db_;
  boost::asio::io_context io_;
};

TEST_P(GitPollerTest, FirstPassReportsNothingAndSavesTheHeads) {
  repo_.run_git("branch other");
  auto p = poller(config());
  EXPECT_TRUE(poll(*p).empty());
  EXPECT_TRUE(changes().empty());
  nlohmann::json expected = {{"main", repo_.head()}, {"other", repo_.head()}};
  EXPECT_EQ(last_rev(), expected);
  EXPECT_TRUE(fs::exists(scratch_.path("mirrors") / "upstream.git" / "HEAD"))
      << "the mirror is a bare repository under the mirror root";
}

TEST_P(GitPollerTest, ThreeCommitsBecomeThreeChangesInOrder) {
  auto p = poller(config());
  poll(*p);
  std::string r1 = repo_.commit("a.txt", "first change\n\nwith a body");
  std::string r2 = repo_.commit("src/b.cpp", "second change");
  std::string r3 = repo_.commit("c.txt", "third change");

  auto ids = poll(*p);
  auto all = changes();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(ids, ids_of(all)) << "poll() returns the ids it added, oldest first";
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2, r3}));
  const std::vector<std::string> comments = {"first change\n\nwith a body", "second change",
                                             "third change"};
  const std::vector<std::string> files = {"a.txt", "src/b.cpp", "c.txt"};
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& c = all[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(c.author, "Ada Lovelace <ada@example.org>");
    EXPECT_EQ(c.committer, "Charles Babbage <cb@example.org>");
    EXPECT_EQ(c.comments, comments[i]);
    EXPECT_EQ(c.files, std::vector<std::string>{files[i]});
    EXPECT_EQ(c.branch, "main");
    EXPECT_EQ(c.repository, repo_.path().string());
    EXPECT_EQ(c.project, "proj");
    EXPECT_EQ(c.codebase, "cb");
    EXPECT_EQ(c.revlink, "https://example.org/r/" + *c.revision);
    EXPECT_EQ(c.category, std::nullopt);
    // The commit time, as Buildbot's GitPoller takes it (%ct).
    EXPECT_EQ(c.when_timestamp.time_since_epoch().count(), repo_.commit_time(*c.revision));
    if (i == 0) {
      EXPECT_TRUE(c.parent_changeids.empty());
    } else {
      EXPECT_EQ(c.parent_changeids, std::vector<int64_t>{all[i - 1].changeid});
    }
    auto uids = db_->changes().get_change_uids(c.changeid).get();
    ASSERT_EQ(uids.size(), 1u) << "the author is a user";
    int64_t found =
        db_->users().find_user_by_attr("x", "git", "Ada Lovelace <ada@example.org>").get();
    EXPECT_EQ(uids[0], found) << "found by the attribute (git, author)";
    auto user = db_->users().get_user(uids[0]).get();
    ASSERT_TRUE(user.has_value());
    EXPECT_EQ(user->identifier, "Ada Lovelace <ada@example.org>");
  }
  EXPECT_EQ(db_->users().get_users().get().size(), 1u) << "one author, one user";
  EXPECT_EQ(last_rev(), (nlohmann::json{{"main", r3}}));

  EXPECT_TRUE(poll(*p).empty()) << "nothing new: nothing added";
  EXPECT_EQ(changes().size(), 3u);
}

TEST_P(GitPollerTest, ARestartContinuesWithoutDuplicates) {
  auto first = poller(config());
  poll(*first);
  std::string r1 = repo_.commit("a", "one");
  poll(*first);
  first.reset();

  std::string r2 = repo_.commit("b", "two");
  auto again = poller(config());  // the same master restarted: its mirror is still there
  EXPECT_EQ(poll(*again).size(), 1u);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2}));

  std::string r3 = repo_.commit("c", "three");
  // Another master takes over: no mirror of its own yet, the position from the database.
  auto peer = poller(config(), nullptr, "peer-mirrors");
  EXPECT_EQ(poll(*peer).size(), 1u);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2, r3}));
  EXPECT_TRUE(poll(*peer).empty());
  EXPECT_TRUE(poll(*again).empty());
}

TEST_P(GitPollerTest, BranchGlobsSelectTheBranches) {
  auto p = poller(config({"main", "release/*"}));
  poll(*p);
  repo_.run_git("checkout -q -b release/1.0");
  std::string rel = repo_.commit("r", "release fix");
  repo_.run_git("checkout -q -b feature/x main");
  repo_.commit("f", "feature work");
  repo_.run_git("checkout -q main");

  auto ids = poll(*p);
  ASSERT_EQ(ids.size(), 1u);
  auto all = changes();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].revision, rel);
  EXPECT_EQ(all[0].branch, "release/1.0");
  auto last = last_rev();
  EXPECT_TRUE(last.contains("release/1.0"));
  EXPECT_FALSE(last.contains("feature/x")) << last.dump();
}

TEST_P(GitPollerTest, ANewBranchReportsOnlyItsOwnCommits) {
  std::string base = repo_.commit("m", "on main before the first pass");
  auto p = poller(config());
  poll(*p);
  repo_.run_git("checkout -q -b topic");
  std::string t1 = repo_.commit("t1", "topic one");
  std::string t2 = repo_.commit("t2", "topic two");
  repo_.run_git("checkout -q main");

  poll(*p);
  EXPECT_EQ(revisions(), (std::vector<std::string>{t1, t2}));
  for (const auto& c : changes()) EXPECT_EQ(c.branch, "topic");
  EXPECT_EQ(last_rev()["topic"], t2);
  EXPECT_EQ(last_rev()["main"], base);
}

TEST_P(GitPollerTest, AForcePushReportsOnlyTheNewCommit) {
  auto p = poller(config());
  poll(*p);
  std::string r1 = repo_.commit("a", "one");
  std::string r2 = repo_.commit("b", "two");
  std::string r3 = repo_.commit("c", "three");
  poll(*p);
  ASSERT_EQ(revisions(), (std::vector<std::string>{r1, r2, r3}));

  repo_.run_git("reset -q --hard HEAD~2");
  std::string r4 = repo_.commit("d", "rewritten");
  auto ids = poll(*p);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2, r3, r4}));
  EXPECT_EQ(last_rev()["main"], r4);

  // Back to a commit reported before, with nothing new: nothing, but the position follows.
  repo_.run_git("reset -q --hard " + r1);
  EXPECT_TRUE(poll(*p).empty());
  EXPECT_EQ(last_rev()["main"], r1);
  EXPECT_EQ(changes().size(), 4u);
}

TEST_P(GitPollerTest, APeerWithAFreshMirrorAfterAForcePushReportsOnlyTheNewHead) {
  auto p = poller(config());
  poll(*p);
  std::string r1 = repo_.commit("a", "one");
  std::string r2 = repo_.commit("b", "two");
  poll(*p);
  // Rewritten behind the first mirror's back, then a peer (whose mirror never had r2) polls.
  repo_.run_git("reset -q --hard HEAD~2");
  repo_.commit("x", "x");
  std::string r4 = repo_.commit("y", "y");
  repo_.run_git("reflog expire --expire=now --all");
  repo_.run_git("gc -q --prune=now");
  auto peer = poller(config(), nullptr, "peer-mirrors");
  auto ids = poll(*peer);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2, r4}))
      << "which commits are new cannot be told: only the head, never the whole history";
  EXPECT_EQ(ids.size(), 1u);
}

TEST_P(GitPollerTest, ACutOffPassDoesNotDuplicate) {
  auto p = poller(config());
  poll(*p);
  std::string r1 = repo_.commit("a", "one");
  std::string r2 = repo_.commit("b", "two");
  // A pass that added r1 and died before saving its position: the change is there, the
  // position is not.
  db::NewChange nc;
  nc.author = "Ada Lovelace <ada@example.org>";
  nc.revision = r1;
  nc.branch = "main";
  nc.repository = repo_.path().string();
  nc.project = "proj";
  nc.codebase = "cb";
  nc.comments = "one";
  int64_t earlier = db_->changes().add_change(nc).get();

  auto ids = poll(*p);
  ASSERT_EQ(ids.size(), 1u);
  auto all = changes();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].changeid, earlier);
  EXPECT_EQ(all[1].revision, r2);
  EXPECT_EQ(last_rev()["main"], r2);
}

TEST_P(GitPollerTest, AFenceThatCloseMidPassStopsItAndTheNextPassResumes) {
  auto p0 = poller(config());
  poll(*p0);
  std::string r1 = repo_.commit("a", "one");
  std::string r2 = repo_.commit("b", "two");
  std::string r3 = repo_.commit("c", "three");
  // The fence holds for the first commit only (it is asked once before each commit).
  int allowed = 1;
  auto p = poller(config(), [&allowed] { return allowed-- > 0; });
  auto ids = poll(*p);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1}));
  EXPECT_EQ(last_rev()["main"], r1) << "the position of what was added";

  EXPECT_EQ(poll(*p0).size(), 2u);
  EXPECT_EQ(revisions(), (std::vector<std::string>{r1, r2, r3}));
}

TEST_P(GitPollerTest, WithoutTheFenceNothingIsWritten) {
  auto p = poller(config(), [] { return false; });
  EXPECT_TRUE(poll(*p).empty());
  EXPECT_TRUE(last_rev().is_null()) << "not even the first position";
  auto open = poller(config());
  poll(*open);
  repo_.commit("a", "one");
  EXPECT_TRUE(poll(*p).empty());
  EXPECT_TRUE(changes().empty());
  EXPECT_EQ(last_rev()["main"], trimmed(sh(repo_.git("rev-parse HEAD~1"))));
}

TEST_P(GitPollerTest, AMissingRepositoryIsAGitErrorAndChangesNothing) {
  auto p = poller(config());
  poll(*p);
  nlohmann::json before = last_rev();
  auto c = config();
  c.repository = scratch_.path("no-such-repo").string();
  auto bad = poller(c);
  try {
    poll(*bad);
    FAIL() << "no GitError";
  } catch (const master::GitError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("git fetch"), std::string::npos) << what;
    EXPECT_NE(what.find("no-such-repo"), std::string::npos) << what;
    EXPECT_NE(what.find("failed"), std::string::npos) << what;
  }
  EXPECT_EQ(last_rev(), before);
  EXPECT_TRUE(changes().empty());
}

TEST_P(GitPollerTest, ANonUtf8MessageAndAFileNameWithSpacesSurvive) {
  auto p = poller(config());
  poll(*p);
  repo_.commit("dir with space/my file.txt", "cafX au lait\n");
  // `git commit` turns a message that is not UTF-8 into UTF-8 (reading it as Latin-1); a commit
  // made by another tool may hold any bytes, so the test writes that commit object itself.
  std::string rev = trimmed(sh("git -C " + quoted(repo_.path()) +
                               " cat-file commit HEAD | sed 's/cafX/caf\\xe9/' | git -C " +
                               quoted(repo_.path()) + " hash-object -t commit -w --stdin"));
  repo_.run_git("reset -q --hard " + rev);
  ASSERT_NE(sh("git -C " + quoted(repo_.path()) + " cat-file commit HEAD").find("caf\xE9 au"),
            std::string::npos)
      << "the commit holds the raw byte";
  auto ids = poll(*p);
  ASSERT_EQ(ids.size(), 1u);
  auto all = changes();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].revision, rev);
  EXPECT_EQ(all[0].files, std::vector<std::string>{"dir with space/my file.txt"});
  EXPECT_EQ(all[0].comments, "caf\xEF\xBF\xBD au lait") << "the bad byte becomes U+FFFD";
}

TEST_P(GitPollerTest, AMergeListsTheFilesAgainstItsFirstParent) {
  auto p = poller(config());
  poll(*p);
  repo_.run_git("checkout -q -b side");
  std::string s1 = repo_.commit("side.txt", "side work");
  repo_.run_git("checkout -q main");
  std::string m1 = repo_.commit("main.txt", "main work");
  repo_.run_git("merge -q --no-ff -m merge side");
  std::string merge = repo_.head();
  auto p2 = poller(config({"main"}));
  poll(*p2);
  auto all = changes();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].revision, merge);
  EXPECT_EQ(all[2].files, std::vector<std::string>{"side.txt"});
  // Topological order: both parents before the merge.
  EXPECT_TRUE((all[0].revision == s1 && all[1].revision == m1) ||
              (all[0].revision == m1 && all[1].revision == s1));
}

INSTANTIATE_TEST_SUITE_P(GitPoller, GitPollerTest, testing::Values("fake", "sqlite"),
                         [](const auto& info) { return info.param; });

// ----------------------------------------------------------------------------- run_git

template <class T>
T wait_for(Future<T> f) {
  EXPECT_TRUE(f.wait_for(std::chrono::minutes(2))) << "git did not finish";
  return f.get();
}

TEST(GitPollerRunGit, CapturesStandardOutputApartFromErrors) {
  Scratch scratch("ym-gitpoller");
  Repo repo(scratch.path("repo"));
  std::string rev = repo.commit("a", "one");
  std::vector<std::string> args = {"rev-parse", "HEAD"};
  EXPECT_EQ(wait_for(master::run_git(args, repo.path())), rev + "\n");
}

TEST(GitPollerRunGit, AFailureNamesTheCommandAndQuotesGit) {
  Scratch scratch("ym-gitpoller");
  Repo repo(scratch.path("repo"));
  std::vector<std::string> args = {"rev-parse", "--verify", "no-such-rev"};
  try {
    wait_for(master::run_git(args, repo.path()));
    FAIL() << "no GitError";
  } catch (const master::GitError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("git rev-parse --verify no-such-rev"), std::string::npos) << what;
    EXPECT_NE(what.find("exited with 128"), std::string::npos) << what;
    EXPECT_NE(what.find("fatal:"), std::string::npos) << "git's message is quoted: " << what;
  }
}

// A repository URL may carry a password or a token: what the poller says about git (its command,
// its error output, and so the master's log) never shows it.
TEST(GitPollerRunGit, PasswordsInUrlsAreNeverShown) {
  using master::mask_url_passwords;
  EXPECT_EQ(mask_url_passwords("git fetch https://ada:s3cret@example.org/r.git +refs/*"),
            "git fetch https://ada:***@example.org/r.git +refs/*");
  EXPECT_EQ(mask_url_passwords("'https://ghp_tok3n@github.com/x.git'"),
            "'https://***@github.com/x.git'");
  EXPECT_EQ(mask_url_passwords("a http://u:p:q@h/ and ssh://u:x@h:22/r"),
            "a http://u:***@h/ and ssh://u:***@h:22/r");
  EXPECT_EQ(mask_url_passwords("/srv/git/repo.git git@host:r.git"),
            "/srv/git/repo.git git@host:r.git");
  Scratch scratch("ym-gitpoller");
  std::vector<std::string> args = {"ls-remote", "http://ada:s3cret@127.0.0.1:1/r.git"};
  try {
    wait_for(master::run_git(args, scratch.path("")));
    FAIL() << "no GitError";
  } catch (const master::GitError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    EXPECT_NE(what.find("http://ada:***@127.0.0.1:1/r.git"), std::string::npos) << what;
  }
}

TEST(GitPollerRunGit, NeverWaitsForInput) {
  Scratch scratch("ym-gitpoller");
  // A fetch that would ask for credentials fails instead of waiting: standard input is
  // /dev/null and GIT_TERMINAL_PROMPT=0. (A local repository that needs none stands in: git's
  // `credential fill` reads standard input and must see its end at once.)
  std::vector<std::string> args = {"credential", "fill"};
  try {
    wait_for(master::run_git(args, scratch.path("")));
  } catch (const master::GitError&) {
    // Failing is fine; hanging is not (wait_for's limit).
  }
}

TEST(GitPollerAuthorUid, ALongAuthorStillFindsOneUser) {
  fake::FakeDb db;
  std::string author(300, 'a');
  author += " <long@example.org>";
  int64_t uid = wait_for(master::author_uid(db.users(), author));
  EXPECT_EQ(wait_for(master::author_uid(db.users(), author)), uid) << "the same user again";
  auto user = db.users().get_user(uid).get();
  ASSERT_TRUE(user.has_value());
  EXPECT_LE(user->identifier.size(), 255u);
  EXPECT_LE(user->attributes.at("git").size(), 128u);
  std::string other(300, 'a');
  other += " <other@example.org>";
  EXPECT_NE(wait_for(master::author_uid(db.users(), other)), uid)
      << "two long authors with a common start are two users";
  std::string shortname = "Bob <bob@example.org>";
  int64_t bob = wait_for(master::author_uid(db.users(), shortname));
  EXPECT_EQ(db.users().get_user(bob).get()->attributes.at("git"), shortname);
}

}  // namespace
}  // namespace ym::test::gitpoller_tests
