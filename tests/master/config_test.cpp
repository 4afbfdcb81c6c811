// config.ini's change sources, schedulers and trigger steps (issue 14), parsed in-process: every
// key, its default, and each mistake refused with its line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "master/config.hpp"
#include "master/process_util.hpp"

namespace ym::test {
namespace {

using master_tests::config_error;

using namespace std::chrono_literals;
using master::ConfigError;
using master::SchedulerType;

// A worker and two builders, so that each test adds only what it is about: 8 lines, so that a
// section added after it starts on line 9.
const std::string kBase =
    "# the base\n"
    "[worker w]\n"
    "[builder b]\nworkers = w\nstep s = true\n"
    "[builder c]\nworkers = w\nstep s = true\n";

master::MasterConfig parse(const std::string& text) { return master::parse_config(text, "/srv/m"); }

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ChangeSourceConfig, ParsesEveryKey) {
  auto c = parse(kBase +
                 "[changesource upstream]\ntype = git\nrepository = https://git.example.org/p.git\n"
                 "branches = main, release/*\npoll_interval = 30s\nproject = p\ncodebase = cb\n"
                 "revlink = https://example.org/r/{revision}\n");
  ASSERT_EQ(c.change_sources.size(), 1u);
  const auto& cs = c.change_sources[0];
  EXPECT_EQ(cs.name, "upstream");
  EXPECT_EQ(cs.type, "git");
  EXPECT_EQ(cs.repository, "https://git.example.org/p.git");
  EXPECT_EQ(cs.branches, (std::vector<std::string>{"main", "release/*"}));
  EXPECT_EQ(cs.poll_interval, 30s);
  EXPECT_EQ(cs.project, "p");
  EXPECT_EQ(cs.codebase, "cb");
  EXPECT_EQ(cs.revlink, "https://example.org/r/{revision}");
  EXPECT_EQ(cs.line, 9);
  EXPECT_EQ(c.change_source("upstream"), &cs);
  EXPECT_EQ(c.change_source("other"), nullptr);
}

TEST(ChangeSourceConfig, DefaultsWatchEveryBranchEveryMinute) {
  auto c = parse(kBase + "[changesource up]\ntype = git\nrepository = /srv/repo\n");
  const auto& cs = c.change_sources.at(0);
  EXPECT_TRUE(cs.branches.empty());
  EXPECT_EQ(cs.poll_interval, 1min);
  EXPECT_EQ(cs.project, "");
  EXPECT_EQ(cs.codebase, "");
  EXPECT_EQ(cs.revlink, std::nullopt);
  for (const char* every : {"all", "*"}) {
    auto d =
        parse(kBase + "[changesource up]\ntype = git\nrepository = /r\nbranches = " + every + "\n");
    EXPECT_TRUE(d.change_sources.at(0).branches.empty()) << every;
  }
}

TEST(ChangeSourceConfig, ErrorsNameTheLine) {
  EXPECT_EQ(config_error(kBase + "[changesource up]\ntype = svn\nrepository = /r\n"),
            "config.ini:10: type = 'svn' is not a change source type; the only one is: git");
  EXPECT_EQ(config_error(kBase + "[changesource up]\nrepository = /r\n"),
            "config.ini:9: change source 'up' has no type; add 'type = git'");
  EXPECT_EQ(config_error(kBase + "[changesource up]\ntype = git\n[scheduler f]\ntype = force\n"
                                 "builders = b\n"),
            "config.ini:9: change source 'up' has no repository; add 'repository = URL or path'");
  EXPECT_EQ(config_error(kBase + "[changesource up]\ntype = git\nrepository =\n"),
            "config.ini:11: repository is empty; give the URL or path git fetches from");
  EXPECT_EQ(config_error(kBase + "[changesource up]\ntype = git\nrepository = /r\n"
                                 "revlink = https://example.org/r/\n"),
            "config.ini:12: revlink = 'https://example.org/r/' has no {revision}; write e.g. "
            "revlink = https://example.org/commit/{revision}");
  EXPECT_EQ(config_error(kBase +
                         "[changesource up]\ntype = git\nrepository = /r\npoll_interval = 500ms\n"),
            "config.ini:12: poll_interval of a change source must be at least 1s");
  EXPECT_TRUE(starts(config_error(kBase + "[changesource up]\ntype = git\nrepository = /r\n"
                                          "branch = main\n"),
                     "config.ini:12: unknown key 'branch' in [changesource up] (known: type, "
                     "repository, branches,"));
  EXPECT_EQ(config_error(kBase + "[changesource up]\ntype = git\nrepository = /r\n"
                                 "[changesource up]\ntype = git\nrepository = /s\n"),
            "config.ini:12: change source 'up' is defined twice");
  EXPECT_EQ(config_error(kBase + "[changesource]\n"),
            "config.ini:9: [changesource] needs a name: [changesource NAME]");
  EXPECT_TRUE(starts(config_error(kBase + "[changesource my source]\n"),
                     "config.ini:9: invalid change source name 'my source'"));
  EXPECT_EQ(config_error(kBase +
                         "[changesource up]\ntype = git\nrepository = /r\n"
                         "project = " +
                         std::string(600, 'p') + "\n"),
            "config.ini:12: project is too long for the database's changes.project column");
}

TEST(SchedulerConfig, ParsesASingleBranchSchedulerWithEveryCommonKey) {
  auto c = parse(kBase +
                 "[scheduler on-main]\ntype = single-branch\nbuilders = b, c\nbranch = main\n"
                 "repository = /srv/repo\nproject = p\ncodebase = cb\nfiles = src/*, *.cpp\n"
                 "tree_stable_timer = 2m\nproperty flavour = debug\nproperty owner = ci team\n"
                 "reason = a commit\npriority = -3\n");
  ASSERT_EQ(c.schedulers.size(), 1u);
  const auto& s = c.schedulers[0];
  EXPECT_EQ(s.name, "on-main");
  EXPECT_EQ(s.type, SchedulerType::kSingleBranch);
  EXPECT_EQ(s.builders, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(s.branch, "main");
  EXPECT_EQ(s.repository, "/srv/repo");
  EXPECT_EQ(s.project, "p");
  EXPECT_EQ(s.codebase, "cb");
  EXPECT_EQ(s.files, (std::vector<std::string>{"src/*", "*.cpp"}));
  EXPECT_EQ(s.tree_stable_timer, 2min);
  EXPECT_EQ(s.properties, (std::vector<std::pair<std::string, std::string>>{{"flavour", "debug"},
                                                                            {"owner", "ci team"}}));
  EXPECT_EQ(s.reason, "a commit");
  EXPECT_EQ(s.priority, -3);
  EXPECT_EQ(s.line, 9);
  EXPECT_EQ(c.scheduler("on-main"), &s);
  EXPECT_EQ(c.scheduler("nope"), nullptr);
}

TEST(SchedulerConfig, DefaultsOfEachType) {
  auto c = parse(kBase +
                 "[scheduler sb]\nbuilders = b\nbranch = main\ntype = single-branch\n"  // type last
                 "[scheduler tick]\ntype = periodic\ninterval = 1h\nbuilders = b\n"
                 "[scheduler night]\ntype = nightly\nbuilders = b\n"
                 "[scheduler manual]\ntype = force\nbuilders = b\nbranch = main\n"
                 "[scheduler deploy]\ntype = triggerable\nbuilders = c\n");
  ASSERT_EQ(c.schedulers.size(), 5u);
  const auto& sb = *c.scheduler("sb");
  EXPECT_EQ(sb.type, SchedulerType::kSingleBranch);
  EXPECT_EQ(sb.tree_stable_timer, 0ms);
  EXPECT_TRUE(sb.files.empty());
  EXPECT_TRUE(sb.properties.empty());
  EXPECT_EQ(sb.reason, std::nullopt);
  EXPECT_EQ(sb.priority, 0);
  EXPECT_EQ(sb.repository, std::nullopt);
  EXPECT_EQ(c.scheduler("tick")->interval, 1h);
  const auto& night = *c.scheduler("night");
  EXPECT_EQ(night.type, SchedulerType::kNightly);
  EXPECT_EQ(night.minute, std::vector<int>{0});  // on the hour, every hour, every day
  EXPECT_TRUE(night.hour.empty());
  EXPECT_TRUE(night.day_of_week.empty());
  EXPECT_FALSE(night.only_if_changed);
  EXPECT_EQ(c.scheduler("manual")->type, SchedulerType::kForce);
  EXPECT_EQ(c.scheduler("manual")->branch, "main");
  EXPECT_EQ(c.scheduler("deploy")->type, SchedulerType::kTriggerable);
  EXPECT_STREQ(master::to_string(SchedulerType::kSingleBranch), "single-branch");
  EXPECT_STREQ(master::to_string(SchedulerType::kTriggerable), "triggerable");
}

TEST(SchedulerConfig, NightlyTimesTakeListsRangesAndDayNames) {
  auto c = parse(kBase +
                 "[scheduler n]\ntype = nightly\nbuilders = b\nminute = 30, 0\nhour = 3, 12-14\n"
                 "day_of_week = mon, Wed, 4-6\nonly_if_changed = true\nbranch = main\n"
                 "files = *.c\n");
  const auto& n = c.schedulers.at(0);
  EXPECT_EQ(n.minute, (std::vector<int>{0, 30}));
  EXPECT_EQ(n.hour, (std::vector<int>{3, 12, 13, 14}));
  EXPECT_EQ(n.day_of_week, (std::vector<int>{0, 2, 4, 5, 6}));
  EXPECT_TRUE(n.only_if_changed);
  EXPECT_EQ(n.branch, "main");
  auto every = parse(kBase +
                     "[scheduler n]\ntype = nightly\nbuilders = b\nminute = *\n"
                     "day_of_week = sun\nonly_if_changed = false\n");
  EXPECT_TRUE(every.schedulers[0].minute.empty());
  EXPECT_EQ(every.schedulers[0].day_of_week, std::vector<int>{6});
  EXPECT_FALSE(every.schedulers[0].only_if_changed);
}

TEST(SchedulerConfig, BadCronValuesNameTheLine) {
  const std::string n = kBase + "[scheduler n]\ntype = nightly\nbuilders = b\n";  // line 11 next
  EXPECT_EQ(config_error(n + "minute = 60\n"),
            "config.ini:12: minute = '60': 60 is out of range (0 to 59); write * or a list such "
            "as 0, 30");
  EXPECT_EQ(config_error(n + "hour = 24\n"),
            "config.ini:12: hour = '24': 24 is out of range (0 to 23); write * or a list such as "
            "3 or 0, 12");
  EXPECT_EQ(config_error(n + "day_of_week = 7\n"),
            "config.ini:12: day_of_week = '7': 7 is out of range (0 to 6); write * or a list such "
            "as mon, wed or 0-4 (0 = Monday)");
  EXPECT_TRUE(starts(config_error(n + "day_of_week = monday\n"),
                     "config.ini:12: day_of_week = 'monday': 'monday' is not a number"));
  EXPECT_TRUE(starts(config_error(n + "hour = 3, *\n"),
                     "config.ini:12: hour = '3, *': '*' must stand alone"));
  EXPECT_TRUE(starts(config_error(n + "hour = 5-3\n"),
                     "config.ini:12: hour = '5-3': the range 5-3 runs backwards"));
  EXPECT_TRUE(starts(config_error(n + "minute =\n"), "config.ini:12: minute = '': it is empty"));
  EXPECT_EQ(config_error(n + "only_if_changed = maybe\n"),
            "config.ini:12: only_if_changed = 'maybe': write true or false");
}

TEST(SchedulerConfig, AKeyOfAnotherTypeIsRefusedNamingItsTypes) {
  EXPECT_EQ(
      config_error(kBase + "[scheduler f]\ntype = force\nbuilders = b\ntree_stable_timer = 1s\n"),
      "config.ini:12: tree_stable_timer applies to single-branch schedulers only (this one "
      "is force)");
  // The type may come after the key: the line named is still the key's.
  EXPECT_EQ(config_error(kBase + "[scheduler p]\ninterval = 1h\nhour = 3\nbuilders = b\n"
                                 "type = periodic\n"),
            "config.ini:11: hour applies to nightly schedulers only (this one is periodic)");
  EXPECT_EQ(
      config_error(kBase + "[scheduler s]\ntype = single-branch\nbranch = main\nbuilders = b\n"
                           "interval = 1h\n"),
      "config.ini:13: interval applies to periodic schedulers only (this one is "
      "single-branch)");
  EXPECT_EQ(config_error(kBase + "[scheduler t]\ntype = triggerable\nbuilders = b\nfiles = *.c\n"),
            "config.ini:12: files applies to single-branch and nightly schedulers only (this one "
            "is triggerable)");
  EXPECT_EQ(config_error(kBase + "[scheduler t]\ntype = periodic\ninterval = 1h\nbuilders = b\n"
                                 "only_if_changed = true\n"),
            "config.ini:13: only_if_changed applies to nightly schedulers only (this one is "
            "periodic)");
}

TEST(SchedulerConfig, ErrorsNameTheLine) {
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = hourly\nbuilders = b\n"),
            "config.ini:10: type = 'hourly' is not a scheduler type; write one of single-branch, "
            "periodic, nightly, force, triggerable");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\nbuilders = b\n"),
            "config.ini:9: scheduler 's' has no type; add 'type = ' and one of single-branch, "
            "periodic, nightly, force, triggerable");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\n"),
            "config.ini:9: scheduler 's' has no builders; add 'builders = b'");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b, nope\n"),
            "config.ini:11: scheduler 's' lists unknown builder 'nope' (builders: b, c)");
  // A builder defined after the scheduler is known to it.
  EXPECT_NO_THROW(
      parse("[worker w]\n[scheduler s]\ntype = force\nbuilders = late\n"
            "[builder late]\nworkers = w\nstep s = true\n"));
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = single-branch\nbuilders = b\n"),
            "config.ini:9: single-branch scheduler 's' has no branch; add 'branch = main' (the "
            "branch whose changes it builds)");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = periodic\nbuilders = b\n"),
            "config.ini:9: periodic scheduler 's' has no interval; add e.g. 'interval = 1h'");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = periodic\nbuilders = b\ninterval = 10ms\n"),
            "config.ini:12: interval must be at least 1s");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\n[scheduler s]\n"),
            "config.ini:12: scheduler 's' is defined twice");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\ntype = force\nbuilders = b\n"),
            "config.ini:11: 'type' is given twice in this section");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\nbuilders = c\n"),
            "config.ini:12: 'builders' is given twice in this section");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\nproperty = x\n"),
            "config.ini:12: property needs a name: property NAME = value");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\nproperty a = 1\n"
                                 "property a = 2\n"),
            "config.ini:13: property 'a' is given twice in this section");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\npriority = high\n"),
            "config.ini:12: priority = 'high' is not an integer (higher builds first)");
  EXPECT_EQ(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\nbranch =\n"),
            "config.ini:12: branch is empty; give a value or remove the line");
  EXPECT_TRUE(
      starts(config_error(kBase + "[scheduler s]\ntype = force\nbuilders = b\nbrnach = x\n"),
             "config.ini:12: unknown key 'brnach' in [scheduler s] (known: type, builders,"));
  EXPECT_TRUE(starts(config_error(kBase + "[scheduler " + std::string(51, 's') + "]\n"),
                     "config.ini:9: invalid scheduler name"));
  // Change sources and schedulers have their own names: one of each may share it.
  auto both = parse(kBase +
                    "[changesource main]\ntype = git\nrepository = /r\n"
                    "[scheduler main]\ntype = single-branch\nbranch = main\nbuilders = b\n");
  EXPECT_EQ(both.change_sources.size(), 1u);
  EXPECT_EQ(both.schedulers.size(), 1u);
}

TEST(TriggerStep, IsAnOrderedStepNamingTriggerableSchedulers) {
  auto c = parse(
      "[worker w]\n[builder b]\nworkers = w\nstep build = make\ntrigger deploy = d1, d2\n"
      "step after = echo done\n[builder c]\nworkers = w\nstep s = true\n"
      "[scheduler d1]\ntype = triggerable\nbuilders = c\n"
      "[scheduler d2]\ntype = triggerable\nbuilders = c\n");
  const auto& steps = c.builder("b")->steps;
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].command, "make");
  EXPECT_TRUE(steps[0].trigger.empty());
  EXPECT_EQ(steps[1].name, "deploy");
  EXPECT_EQ(steps[1].command, "");
  EXPECT_EQ(steps[1].trigger, (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ(steps[1].line, 5);
  EXPECT_EQ(steps[2].name, "after");
}

TEST(TriggerStep, ErrorsNameTheTriggerStepsLine) {
  const std::string head = "[worker w]\n[builder b]\nworkers = w\nstep s = true\n";  // 4 lines
  EXPECT_EQ(config_error(head + "trigger t = nope\n"),
            "config.ini:5: trigger step 't' of builder 'b' names unknown scheduler 'nope' "
            "(triggerable schedulers: none)");
  EXPECT_EQ(config_error(head + "trigger t = f\n[scheduler f]\ntype = force\nbuilders = b\n"
                                "[scheduler d]\ntype = triggerable\nbuilders = b\n"),
            "config.ini:5: trigger step 't' of builder 'b' names scheduler 'f', which is force; a "
            "trigger step starts only schedulers with type = triggerable");
  EXPECT_EQ(config_error(head + "trigger s = d\n[scheduler d]\ntype = triggerable\nbuilders = b\n"),
            "config.ini:5: builder 'b' has two steps named 's' (the first on line 4)");
  EXPECT_EQ(config_error(head + "trigger t =\n"),
            "config.ini:5: trigger step 't' of builder 'b' names no scheduler; write: trigger t = "
            "SCHEDULER (a [scheduler NAME] with type = triggerable)");
  EXPECT_EQ(config_error(head + "trigger = d\n"),
            "config.ini:5: a trigger step needs a name: trigger NAME = SCHEDULER");
}

TEST(WwwConfig, ListenTakesHostPortBracketedV6APortAloneAndPortZero) {
  EXPECT_FALSE(parse(kBase).www.has_value()) << "no [www]: no web server";
  auto d = parse(kBase + "[www]\n");
  ASSERT_TRUE(d.www.has_value());
  EXPECT_EQ(d.www->listen, (master::ListenAddress{"127.0.0.1", 8010}));
  EXPECT_EQ(d.www->base_url, "");
  EXPECT_FALSE(d.www->force_token_file.has_value());

  auto c = parse(kBase +
                 "[www]\nlisten = 0.0.0.0:9000\nbase_url = https://ci.example.org/\n"
                 "force_token_file = secrets/www-token\n");
  EXPECT_EQ(c.www->listen, (master::ListenAddress{"0.0.0.0", 9000}));
  EXPECT_EQ(c.www->base_url, "https://ci.example.org/");
  EXPECT_EQ(c.www->force_token_file, std::filesystem::path("/srv/m/secrets/www-token"));
  EXPECT_EQ(parse(kBase + "[www]\nforce_token_file = /etc/ym/token\n").www->force_token_file,
            std::filesystem::path("/etc/ym/token"));

  EXPECT_EQ(master::parse_listen("[::1]:8011"), (master::ListenAddress{"::1", 8011}));
  EXPECT_EQ(master::parse_listen(":8012"), (master::ListenAddress{"127.0.0.1", 8012}));
  // Port 0: any free port; the master's log line names the one it got.
  EXPECT_EQ(master::parse_listen("127.0.0.1:0"), (master::ListenAddress{"127.0.0.1", 0}));
  for (const char* bad :
       {"", "8010", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:123456", "127.0.0.1:-1",
        "127.0.0.1:80a", "::1:8010", "[::1]8010", "[::1", "a host:8010", "a/b:8010"}) {
    EXPECT_FALSE(master::parse_listen(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(WwwConfig, ErrorsNameTheLine) {
  EXPECT_EQ(config_error(kBase + "[www]\nlisten = localhost\n"),
            "config.ini:10: listen = 'localhost' is not an address; write HOST:PORT, e.g. "
            "127.0.0.1:8010");
  EXPECT_EQ(config_error(kBase + "[www]\nbase_url = ci.example.org\n"),
            "config.ini:10: base_url = 'ci.example.org' must start with http:// or https://");
  EXPECT_EQ(config_error(kBase + "[www]\nforce_token_file =\n"),
            "config.ini:10: force_token_file is empty; remove the line for a read-only API");
  EXPECT_EQ(config_error(kBase + "[www]\nport = 8010\n"),
            "config.ini:10: unknown key 'port' in [www]; expected listen, base_url or "
            "force_token_file");
}

TEST(MasterConfigSections, OutsideAnySectionAndUnknownSectionsListEveryKind) {
  EXPECT_EQ(config_error("type = git\n"),
            "config.ini:1: 'type = git' is outside any section; put it under [master], [worker "
            "NAME], [builder NAME], [changesource NAME], [scheduler NAME] or [www]");
  EXPECT_EQ(config_error("[schedular s]\n"),
            "config.ini:1: unknown section [schedular s]; expected [master], [worker NAME], "
            "[builder NAME], [changesource NAME], [scheduler NAME] or [www]");
  // [master] still refuses what it does not know.
  EXPECT_TRUE(starts(config_error("[master]\nschedulers = a\n" + kBase),
                     "config.ini:2: unknown key 'schedulers' in [master]"));
}

TEST(MasterConfigSections, TheCreateMasterTemplateStillHasNoSchedulerOrChangeSource) {
  std::string text = master::default_config("sqlite:///state.sqlite");
  auto c = parse(text);
  EXPECT_TRUE(c.schedulers.empty());
  EXPECT_TRUE(c.change_sources.empty());
  // Its examples are there, commented out, and parse once uncommented.
  for (const char* part : {"#[changesource upstream]", "#[scheduler on-main]",
                           "#[scheduler manual]", "#type = force", "{revision}"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part;
  }
  std::string uncommented;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    // The example lines: '#' directly followed by a section or a key.
    if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#' &&
        line.find("name = ci-1") == std::string::npos) {
      line = line.substr(1);
    }
    uncommented += line + "\n";
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  auto examples = parse(uncommented);
  ASSERT_EQ(examples.change_sources.size(), 1u);
  EXPECT_EQ(examples.change_sources[0].revlink,
            "https://git.example.org/project/commit/{revision}");
  ASSERT_EQ(examples.schedulers.size(), 2u);
  EXPECT_EQ(examples.schedulers[0].type, SchedulerType::kSingleBranch);
  EXPECT_EQ(examples.schedulers[1].type, SchedulerType::kForce);
}

TEST(MasterConfigSections, EqualityTellsAChangedSchedulerOrChangeSource) {
  const std::string text = kBase +
                           "[changesource up]\ntype = git\nrepository = /r\n"
                           "[scheduler s]\ntype = single-branch\nbranch = main\nbuilders = b\n";
  auto a = parse(text);
  auto b = parse(text);
  EXPECT_EQ(a.schedulers, b.schedulers);
  EXPECT_EQ(a.change_sources, b.change_sources);
  EXPECT_EQ(a.builders, b.builders);
  auto changed = parse(kBase +
                       "[changesource up]\ntype = git\nrepository = /r\npoll_interval = 5s\n"
                       "[scheduler s]\ntype = single-branch\nbranch = dev\nbuilders = b\n");
  EXPECT_NE(a.change_sources, changed.change_sources);
  EXPECT_NE(a.schedulers, changed.schedulers);
}

}  // namespace
}  // namespace ym::test
