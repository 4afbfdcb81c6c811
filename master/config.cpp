#include "master/config.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "db/base.hpp"
#include "db/connectors/builders.hpp"
#include "db/connectors/steps.hpp"
#include "db/connectors/workers.hpp"
#include "db/errors.hpp"

namespace ym::master {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// "a, b ,c" -> {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    auto item = trim(s.substr(start, comma - start));
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

enum class Section { kNone, kMaster, kWorker, kBuilder, kChangeSource, kScheduler, kWww };

inline constexpr size_t kChangeSourceNameMax = 50;
inline constexpr size_t kSchedulerNameMax = 50;

// A scheduler's key, kept until its section ends: which keys are allowed depends on its type,
// which may be given after them.
struct PendingKey {
  std::string word, name, value;
  int line = 0;
};

const char* kSectionList =
    "[master], [worker NAME], [builder NAME], [changesource NAME], [scheduler NAME] or [www]";

class Parser {
 public:
  Parser(const fs::path& basedir) : basedir_(basedir) {
    config_.basedir = basedir;
    config_.file = basedir / kConfigFile;
  }

  MasterConfig parse(std::string_view text) {
    int number = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      ++number;
      line_ = number;
      parse_line(trim(text.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    finish();
    return std::move(config_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw ConfigError(fmt::format("{}:{}: {}", kConfigFile, line, message));
  }
  [[noreturn]] void fail(const std::string& message) const { fail(line_, message); }

  void identifier(std::string_view what, const std::string& name, size_t max) const {
    try {
      db::check_identifier(what, name, max);
    } catch (const db::InvalidIdentifier& e) {
      fail(e.what());
    }
  }

  void parse_line(std::string_view line) {
    if (line.empty() || line[0] == '#' || line[0] == ';') return;
    if (line[0] == '[') {
      parse_header(line);
      return;
    }
    if (section_ == Section::kNone) {
      fail(fmt::format("'{}' is outside any section; put it under {}", line, kSectionList));
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      fail(fmt::format("expected 'key = value', got '{}'", line));
    }
    std::string_view key = trim(line.substr(0, eq));
    std::string value(trim(line.substr(eq + 1)));
    if (key.empty()) fail("a key is missing before '='");
    // Keys of one word ("slots"), or a word and a name ("step compile", "env CC").
    std::string word(key.substr(0, key.find_first_of(" \t")));
    std::string name;
    if (word.size() < key.size()) name = std::string(trim(key.substr(word.size())));
    switch (section_) {
      case Section::kMaster:
        master_key(word, name, value);
        break;
      case Section::kWorker:
        worker_key(word, name, value);
        break;
      case Section::kBuilder:
        builder_key(word, name, value);
        break;
      case Section::kChangeSource:
        change_source_key(word, name, value);
        break;
      case Section::kScheduler:
        pending_.push_back({word, name, value, line_});
        break;
      case Section::kWww:
        www_key(word, name, value);
        break;
      case Section::kNone:
        break;
    }
  }

  void parse_header(std::string_view line) {
    if (line.back() != ']') fail("a section header must end with ']'");
    std::string_view inner = trim(line.substr(1, line.size() - 2));
    std::string kind(inner.substr(0, inner.find_first_of(" \t")));
    std::string name(trim(inner.substr(kind.size())));
    close_section();
    seen_keys_.clear();
    if (kind == "master") {
      if (!name.empty()) fail("[master] takes no name (set it with 'name = ...' inside)");
      if (master_seen_) fail("a second [master] section; merge it with the first");
      master_seen_ = true;
      section_ = Section::kMaster;
    } else if (kind == "worker") {
      if (name.empty()) fail("[worker] needs a name: [worker NAME]");
      identifier("worker name", name, db::kWorkerNameMax);
      if (config_.worker(name)) fail(fmt::format("worker '{}' is defined twice", name));
      config_.workers.push_back({name, 1, line_});
      worker_builders_.emplace_back();
      section_ = Section::kWorker;
    } else if (kind == "builder") {
      if (name.empty()) fail("[builder] needs a name: [builder NAME]");
      identifier("builder name", name, db::kBuilderNameMax);
      if (config_.builder(name)) fail(fmt::format("builder '{}' is defined twice", name));
      BuilderConfig b;
      b.name = name;
      b.line = line_;
      config_.builders.push_back(std::move(b));
      builder_worker_lines_.push_back(0);
      section_ = Section::kBuilder;
    } else if (kind == "changesource") {
      if (name.empty()) fail("[changesource] needs a name: [changesource NAME]");
      identifier("change source name", name, kChangeSourceNameMax);
      if (config_.change_source(name))
        fail(fmt::format("change source '{}' is defined twice", name));
      ChangeSourceConfig c;
      c.name = name;
      c.line = line_;
      config_.change_sources.push_back(std::move(c));
      section_ = Section::kChangeSource;
    } else if (kind == "scheduler") {
      if (name.empty()) fail("[scheduler] needs a name: [scheduler NAME]");
      identifier("scheduler name", name, kSchedulerNameMax);
      if (config_.scheduler(name)) fail(fmt::format("scheduler '{}' is defined twice", name));
      SchedulerConfig c;
      c.name = name;
      c.line = line_;
      config_.schedulers.push_back(std::move(c));
      scheduler_builder_lines_.push_back(0);
      section_ = Section::kScheduler;
    } else if (kind == "www") {
      if (!name.empty()) fail("[www] takes no name");
      if (config_.www) fail("a second [www] section; merge it with the first");
      config_.www.emplace();
      section_ = Section::kWww;
    } else {
      fail(fmt::format("unknown section [{}]; expected {}", inner, kSectionList));
    }
  }

  // A key given twice in one section is a mistake (which one wins would be a guess).
  void once(const std::string& key) {
    if (!seen_keys_.insert(key).second)
      fail(fmt::format("'{}' is given twice in this section", key));
  }

  void no_name(const std::string& word, const std::string& name) {
    if (!name.empty()) fail(fmt::format("unexpected '{}' after '{}'", name, word));
  }

  Duration duration(const std::string& key, const std::string& value) {
    auto d = parse_duration(value);
    if (!d || d->count() <= 0) {
      fail(fmt::format("{} = '{}' is not a duration; write e.g. 500ms, 10s, 5m or 1h", key, value));
    }
    return *d;
  }

  void www_key(const std::string& word, const std::string& name, const std::string& value) {
    no_name(word, name);
    once(word);
    if (word == "listen") {
      auto a = parse_listen(value);
      if (!a) {
        fail(fmt::format("listen = '{}' is not an address; write HOST:PORT, e.g. 127.0.0.1:8010",
                         value));
      }
      config_.www->listen = *a;
    } else if (word == "base_url") {
      if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0) {
        fail(fmt::format("base_url = '{}' must start with http:// or https://", value));
      }
      config_.www->base_url = value;
    } else if (word == "force_token_file") {
      if (value.empty()) fail("force_token_file is empty; remove the line for a read-only API");
      config_.www->force_token_file = basedir_ / value;  // an absolute value stays as it is
    } else {
      fail(fmt::format("unknown key '{}' in [www]; expected listen, base_url or force_token_file",
                       word));
    }
  }

  void master_key(const std::string& word, const std::string& name, const std::string& value) {
    no_name(word, name);
    once(word);
    if (word == "name") {
      if (value.empty()) fail("name is empty; remove the line to use HOST:DIRECTORY");
      config_.name = value;
    } else if (word == "database") {
      if (value.empty())
        fail(fmt::format("database is empty; e.g. database = {}", kDefaultDatabase));
      config_.database = value;
    } else if (word == "checkin_interval") {
      config_.checkin_interval = duration(word, value);
      if (config_.checkin_interval < 1s) {
        fail("checkin_interval must be at least 1s (check-in times are stored in seconds)");
      }
    } else if (word == "expiry") {
      config_.expiry = duration(word, value);
      expiry_line_ = line_;
    } else if (word == "poll_interval") {
      config_.poll_interval = duration(word, value);
    } else if (word == "grace_period") {
      config_.grace_period = duration(word, value);
    } else if (word == "step_timeout") {
      config_.step_timeout = duration(word, value);
    } else if (word == "db_retry_budget") {
      config_.db_retry_budget = duration(word, value);
    } else {
      fail(
          fmt::format("unknown key '{}' in [master] (known: name, database, checkin_interval, "
                      "expiry, poll_interval, grace_period, step_timeout, db_retry_budget)",
                      word));
    }
  }

  void worker_key(const std::string& word, const std::string& name, const std::string& value) {
    no_name(word, name);
    once(word);
    auto& w = config_.workers.back();
    if (word == "slots") {
      int n = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || ptr != value.data() + value.size() || n < 1 || n > 1000) {
        fail(
            fmt::format("slots = '{}': give the number of builds worker '{}' runs at once "
                        "(1 to 1000)",
                        value, w.name));
      }
      w.slots = n;
    } else if (word == "builders") {
      for (auto& b : split_list(value)) worker_builders_.back().push_back({b, line_});
    } else {
      fail(fmt::format("unknown key '{}' in [worker {}] (known: slots, builders)", word, w.name));
    }
  }

  void builder_key(const std::string& word, const std::string& name, const std::string& value) {
    auto& b = config_.builders.back();
    if (word == "step" || word == "trigger") {
      if (name.empty())
        fail(fmt::format("a {} step needs a name: {} NAME = {}", word, word,
                         word == "step" ? "command" : "SCHEDULER"));
      identifier("step name", name, db::kStepNameMax);
      // Shell and trigger steps share one order and one namespace (the database's step names).
      for (const auto& s : b.steps) {
        if (s.name == name) {
          fail(fmt::format("builder '{}' has two steps named '{}' (the first on line {})", b.name,
                           name, s.line));
        }
      }
      StepConfig step;
      step.name = name;
      step.line = line_;
      if (word == "step") {
        if (value.empty()) {
          fail(fmt::format("step '{}' of builder '{}' has no command; write: step {} = COMMAND",
                           name, b.name, name));
        }
        step.command = value;
      } else {
        step.trigger = split_list(value);
        if (step.trigger.empty()) {
          fail(
              fmt::format("trigger step '{}' of builder '{}' names no scheduler; write: trigger "
                          "{} = SCHEDULER (a [scheduler NAME] with type = triggerable)",
                          name, b.name, name));
        }
      }
      b.steps.push_back(std::move(step));
      return;
    }
    if (word == "env") {
      if (name.empty() || name.find_first_of(" \t=") != std::string::npos) {
        fail("env needs a variable name: env NAME = value");
      }
      b.env.emplace_back(name, value);
      return;
    }
    no_name(word, name);
    once(word);
    if (word == "workers") {
      b.workers = split_list(value);
      builder_worker_lines_.back() = line_;
    } else if (word == "description") {
      b.description = value;
    } else if (word == "step_timeout") {
      b.step_timeout = duration(word, value);
    } else {
      fail(
          fmt::format("unknown key '{}' in [builder {}] (known: description, workers, "
                      "step NAME, trigger NAME, env NAME, step_timeout)",
                      word, b.name));
    }
  }

  // A value stored in a column of the changes or sourcestamps tables: refused here rather than
  // by every change the master would add with it.
  void fits(const std::string& key, const std::string& column, const std::string& value) {
    if (!db::is_valid_utf8(value)) fail(fmt::format("{} is not valid UTF-8", key));
    try {
      db::check_length("changes", column, value);
    } catch (const db::ValueTooLong&) {
      fail(fmt::format("{} is too long for the database's changes.{} column", key, column));
    }
  }

  void change_source_key(const std::string& word, const std::string& name,
                         const std::string& value) {
    no_name(word, name);
    once(word);
    auto& c = config_.change_sources.back();
    if (word == "type") {
      if (value != "git") {
        fail(fmt::format("type = '{}' is not a change source type; the only one is: git", value));
      }
      c.type = value;
    } else if (word == "repository") {
      if (value.empty()) fail("repository is empty; give the URL or path git fetches from");
      fits(word, "repository", value);
      c.repository = value;
    } else if (word == "branches") {
      auto items = split_list(value);
      if (items.empty()) {
        fail("branches is empty; write branches = all, or a list of globs: main, release/*");
      }
      bool every = false;
      for (const auto& i : items) every = every || i == "all" || i == "*";
      if (every && items.size() > 1) {
        fail(fmt::format(
            "branches = '{}': '{}' already means every branch; give it alone or "
            "list the globs",
            value, std::find(items.begin(), items.end(), "all") != items.end() ? "all" : "*"));
      }
      for (const auto& i : items) fits("a branch glob", "branch", i);
      c.branches = every ? std::vector<std::string>{} : items;
    } else if (word == "poll_interval") {
      c.poll_interval = duration(word, value);
      if (c.poll_interval < 1s) fail("poll_interval of a change source must be at least 1s");
    } else if (word == "project") {
      fits(word, "project", value);
      c.project = value;
    } else if (word == "codebase") {
      fits(word, "codebase", value);
      c.codebase = value;
    } else if (word == "revlink") {
      if (value.find("{revision}") == std::string::npos) {
        fail(
            fmt::format("revlink = '{}' has no {{revision}}; write e.g. revlink = "
                        "https://example.org/commit/{{revision}}",
                        value));
      }
      c.revlink = value;
    } else {
      fail(
          fmt::format("unknown key '{}' in [changesource {}] (known: type, repository, branches, "
                      "poll_interval, project, codebase, revlink)",
                      word, c.name));
    }
  }

  // The end of a section: what must be there is checked once all of it was read.
  void close_section() {
    if (section_ == Section::kChangeSource) {
      const auto& c = config_.change_sources.back();
      if (!seen_keys_.count("type")) {
        fail(c.line, fmt::format("change source '{}' has no type; add 'type = git'", c.name));
      }
      if (!seen_keys_.count("repository")) {
        fail(c.line, fmt::format("change source '{}' has no repository; add 'repository = URL "
                                 "or path'",
                                 c.name));
      }
    } else if (section_ == Section::kScheduler) {
      close_scheduler();
    }
    section_ = Section::kNone;
  }

  static std::optional<SchedulerType> scheduler_type(std::string_view t) {
    if (t == "single-branch") return SchedulerType::kSingleBranch;
    if (t == "periodic") return SchedulerType::kPeriodic;
    if (t == "nightly") return SchedulerType::kNightly;
    if (t == "force") return SchedulerType::kForce;
    if (t == "triggerable") return SchedulerType::kTriggerable;
    return std::nullopt;
  }

  // "5", "1,15,30", "1-5", "mon-fri" (day_of_week), "*": the sorted values; empty for "*".
  std::vector<int> cron_list(const std::string& key, const std::string& value, int max) {
    auto bad = [&](const std::string& why) {
      fail(fmt::format("{} = '{}': {}; write * or a list such as {}", key, value, why,
                       key == "day_of_week" ? "mon, wed or 0-4 (0 = Monday)"
                       : key == "hour"      ? "3 or 0, 12"
                                            : "0, 30"));
    };
    auto one = [&](std::string item) -> int {
      if (key == "day_of_week") {
        static const char* days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        std::string lower = item;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (int d = 0; d < 7; ++d) {
          if (lower == days[d]) return d;
        }
      }
      int n = -1;
      auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
      if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
        bad(fmt::format("'{}' is not a number", item));
      }
      if (n < 0 || n > max) bad(fmt::format("{} is out of range (0 to {})", n, max));
      return n;
    };
    auto items = split_list(value);
    if (items.empty()) bad("it is empty");
    if (items.size() == 1 && items[0] == "*") return {};
    std::set<int> out;
    for (const auto& item : items) {
      if (item == "*") bad("'*' must stand alone");
      size_t dash = item.find('-');
      if (dash != std::string::npos && dash > 0) {
        int from = one(std::string(trim(item.substr(0, dash))));
        int to = one(std::string(trim(item.substr(dash + 1))));
        if (from > to) bad(fmt::format("the range {} runs backwards", item));
        for (int v = from; v <= to; ++v) out.insert(v);
      } else {
        out.insert(one(item));
      }
    }
    return {out.begin(), out.end()};
  }

  void close_scheduler() {
    struct RestoreLine {  // the keys are read with their own lines; the caller's comes back after
      int& line;
      int saved;
      ~RestoreLine() { line = saved; }
    } restore{line_, line_};
    auto& s = config_.schedulers.back();
    std::optional<SchedulerType> type;
    for (const auto& k : pending_) {
      if (k.word != "type") continue;
      line_ = k.line;
      no_name(k.word, k.name);
      if (type) fail("'type' is given twice in this section");
      type = scheduler_type(k.value);
      if (!type) {
        fail(
            fmt::format("type = '{}' is not a scheduler type; write one of single-branch, "
                        "periodic, nightly, force, triggerable",
                        k.value));
      }
    }
    if (!type) {
      fail(s.line, fmt::format("scheduler '{}' has no type; add 'type = ' and one of "
                               "single-branch, periodic, nightly, force, triggerable",
                               s.name));
    }
    s.type = *type;
    if (s.type == SchedulerType::kNightly) s.minute = {0};  // Buildbot's default: on the hour
    using T = SchedulerType;
    // Which types each key belongs to, and how that reads in a message.
    auto only = [&](const std::string& key, std::initializer_list<T> types, const char* which) {
      if (std::find(types.begin(), types.end(), s.type) == types.end()) {
        fail(fmt::format("{} applies to {} schedulers only (this one is {})", key, which,
                         to_string(s.type)));
      }
    };
    std::set<std::string> properties;
    for (const auto& k : pending_) {
      line_ = k.line;
      const std::string& word = k.word;
      const std::string& value = k.value;
      if (word == "type") continue;
      if (word == "property") {
        if (k.name.empty() || k.name.find_first_of(" \t=") != std::string::npos) {
          fail("property needs a name: property NAME = value");
        }
        if (!properties.insert(k.name).second) {
          fail(fmt::format("property '{}' is given twice in this section", k.name));
        }
        s.properties.emplace_back(k.name, value);
        continue;
      }
      no_name(word, k.name);
      once(word);
      auto text = [&]() -> std::optional<std::string> {
        if (value.empty()) fail(fmt::format("{} is empty; give a value or remove the line", word));
        fits(word, word, value);
        return value;
      };
      if (word == "builders") {
        s.builders = split_list(value);
        if (s.builders.empty()) fail("builders is empty; name at least one: builders = a, b");
        scheduler_builder_lines_.back() = line_;
      } else if (word == "reason") {
        s.reason = value;
      } else if (word == "priority") {
        int n = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
          fail(fmt::format("priority = '{}' is not an integer (higher builds first)", value));
        }
        s.priority = n;
      } else if (word == "branch") {
        s.branch = text();
      } else if (word == "repository") {
        s.repository = text();
      } else if (word == "project") {
        s.project = text();
      } else if (word == "codebase") {
        s.codebase = text();
      } else if (word == "files") {
        only(word, {T::kSingleBranch, T::kNightly}, "single-branch and nightly");
        s.files = split_list(value);
        if (s.files.empty()) fail("files is empty; give globs (src/*, *.cpp) or remove the line");
      } else if (word == "tree_stable_timer") {
        only(word, {T::kSingleBranch}, "single-branch");
        auto d = parse_duration(value);
        if (!d) {
          fail(fmt::format("tree_stable_timer = '{}' is not a duration; write e.g. 0, 30s or 2m",
                           value));
        }
        s.tree_stable_timer = *d;
      } else if (word == "interval") {
        only(word, {T::kPeriodic}, "periodic");
        s.interval = duration(word, value);
        if (s.interval < 1s) fail("interval must be at least 1s");
      } else if (word == "minute") {
        only(word, {T::kNightly}, "nightly");
        s.minute = cron_list(word, value, 59);
      } else if (word == "hour") {
        only(word, {T::kNightly}, "nightly");
        s.hour = cron_list(word, value, 23);
      } else if (word == "day_of_week") {
        only(word, {T::kNightly}, "nightly");
        s.day_of_week = cron_list(word, value, 6);
      } else if (word == "only_if_changed") {
        only(word, {T::kNightly}, "nightly");
        if (value == "true" || value == "yes") {
          s.only_if_changed = true;
        } else if (value == "false" || value == "no") {
          s.only_if_changed = false;
        } else {
          fail(fmt::format("only_if_changed = '{}': write true or false", value));
        }
      } else {
        fail(fmt::format(
            "unknown key '{}' in [scheduler {}] (known: type, builders, property NAME, reason, "
            "priority, branch, repository, project, codebase, files, tree_stable_timer, "
            "interval, minute, hour, day_of_week, only_if_changed)",
            word, s.name));
      }
    }
    pending_.clear();
    if (!seen_keys_.count("builders")) {
      fail(s.line, fmt::format("scheduler '{}' has no builders; add 'builders = {}'", s.name,
                               config_.builders.empty() ? "NAME" : config_.builders.front().name));
    }
    if (s.type == T::kSingleBranch && !s.branch) {
      fail(s.line, fmt::format("single-branch scheduler '{}' has no branch; add 'branch = main' "
                               "(the branch whose changes it builds)",
                               s.name));
    }
    if (s.type == T::kPeriodic && s.interval.count() == 0) {
      fail(s.line, fmt::format("periodic scheduler '{}' has no interval; add e.g. 'interval = 1h'",
                               s.name));
    }
  }

  // Cross-references, once every section is known.
  void finish() {
    close_section();
    if (config_.builders.empty()) {
      fail(line_,
           "no [builder NAME] section: a master needs at least one builder "
           "(see `yardmaster create-master` for an example)");
    }
    if (config_.workers.empty()) {
      fail(line_, "no [worker NAME] section: a master needs at least one worker to run builds");
    }
    for (size_t i = 0; i < config_.builders.size(); ++i) {
      auto& b = config_.builders[i];
      for (const auto& w : b.workers) {
        if (!config_.worker(w)) {
          fail(builder_worker_lines_[i],
               fmt::format("builder '{}' lists unknown worker '{}' (workers: {})", b.name, w,
                           join(worker_names())));
        }
      }
    }
    // `builders = ...` in a worker section is the same link seen from the other side.
    for (size_t i = 0; i < config_.workers.size(); ++i) {
      for (const auto& [name, line] : worker_builders_[i]) {
        auto* b = const_cast<BuilderConfig*>(config_.builder(name));
        if (!b) {
          fail(line, fmt::format("worker '{}' lists unknown builder '{}' (builders: {})",
                                 config_.workers[i].name, name, join(builder_names())));
        }
        if (std::find(b->workers.begin(), b->workers.end(), config_.workers[i].name) ==
            b->workers.end()) {
          b->workers.push_back(config_.workers[i].name);
        }
      }
    }
    for (const auto& b : config_.builders) {
      if (b.steps.empty()) {
        fail(b.line, fmt::format("builder '{}' has no steps; add at least one line "
                                 "'step NAME = shell command'",
                                 b.name));
      }
      if (b.workers.empty()) {
        fail(b.line, fmt::format("builder '{}' has no workers; add 'workers = {}'", b.name,
                                 config_.workers.front().name));
      }
    }
    for (size_t i = 0; i < config_.schedulers.size(); ++i) {
      const auto& sc = config_.schedulers[i];
      for (const auto& name : sc.builders) {
        if (!config_.builder(name)) {
          fail(scheduler_builder_lines_[i],
               fmt::format("scheduler '{}' lists unknown builder '{}' (builders: {})", sc.name,
                           name, join(builder_names())));
        }
      }
    }
    for (const auto& b : config_.builders) {
      for (const auto& step : b.steps) {
        for (const auto& name : step.trigger) {
          const SchedulerConfig* sc = config_.scheduler(name);
          if (!sc) {
            fail(step.line,
                 fmt::format("trigger step '{}' of builder '{}' names unknown scheduler '{}' "
                             "(triggerable schedulers: {})",
                             step.name, b.name, name, join(triggerable_names())));
          }
          if (sc->type != SchedulerType::kTriggerable) {
            fail(step.line,
                 fmt::format("trigger step '{}' of builder '{}' names scheduler '{}', which is "
                             "{}; a trigger step starts only schedulers with type = triggerable",
                             step.name, b.name, name, to_string(sc->type)));
          }
        }
      }
    }
    // A live master checks in every interval; expiring peers after less than two intervals
    // would take over masters that are merely a little late.
    if (config_.expiry < 2 * config_.checkin_interval + 1s) {
      fail(expiry_line_ ? expiry_line_ : line_,
           fmt::format("expiry ({}) must be longer than twice checkin_interval ({}) plus a "
                       "second, or live masters would be expired by their peers",
                       format_duration(config_.expiry), format_duration(config_.checkin_interval)));
    }
    if (config_.database.empty()) config_.database = kDefaultDatabase;
    config_.database = resolve_database_url(config_.database, basedir_);
    if (config_.name.empty()) config_.name = default_master_name(basedir_);
  }

  std::vector<std::string> worker_names() const {
    std::vector<std::string> out;
    for (const auto& w : config_.workers) out.push_back(w.name);
    return out;
  }
  std::vector<std::string> builder_names() const {
    std::vector<std::string> out;
    for (const auto& b : config_.builders) out.push_back(b.name);
    return out;
  }

  std::vector<std::string> triggerable_names() const {
    std::vector<std::string> out;
    for (const auto& s : config_.schedulers) {
      if (s.type == SchedulerType::kTriggerable) out.push_back(s.name);
    }
    if (out.empty()) out.push_back("none");
    return out;
  }

  fs::path basedir_;
  MasterConfig config_;
  Section section_ = Section::kNone;
  bool master_seen_ = false;
  int line_ = 0;
  int expiry_line_ = 0;
  std::set<std::string> seen_keys_;
  std::vector<int> builder_worker_lines_;     // per builder: line of its workers key
  std::vector<int> scheduler_builder_lines_;  // per scheduler: line of its builders key
  std::vector<PendingKey> pending_;           // the keys of the scheduler being read
  std::vector<std::vector<std::pair<std::string, int>>> worker_builders_;  // per worker
};

}  // namespace

std::optional<ListenAddress> parse_listen(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  int p = std::stoi(std::string(port));  // 0: any free port (the log names it)
  if (p > 65535) return std::nullopt;
  if (host.find_first_of(" \t/") != std::string_view::npos) return std::nullopt;
  return ListenAddress{host.empty() ? "127.0.0.1" : std::string(host), static_cast<uint16_t>(p)};
}

const BuilderConfig* MasterConfig::builder(std::string_view name) const {
  for (const auto& b : builders) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

const WorkerConfig* MasterConfig::worker(std::string_view name) const {
  for (const auto& w : workers) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

const ChangeSourceConfig* MasterConfig::change_source(std::string_view name) const {
  for (const auto& c : change_sources) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const SchedulerConfig* MasterConfig::scheduler(std::string_view name) const {
  for (const auto& s : schedulers) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const char* to_string(SchedulerType t) {
  switch (t) {
    case SchedulerType::kSingleBranch:
      return "single-branch";
    case SchedulerType::kPeriodic:
      return "periodic";
    case SchedulerType::kNightly:
      return "nightly";
    case SchedulerType::kForce:
      return "force";
    case SchedulerType::kTriggerable:
      return "triggerable";
  }
  return "?";
}

MasterConfig parse_config(std::string_view text, const std::filesystem::path& basedir) {
  return Parser(basedir).parse(text);
}

MasterConfig load_config(const std::filesystem::path& dir) {
  std::error_code ec;
  fs::path base = fs::absolute(dir, ec).lexically_normal();
  if (!base.empty() && base.filename().empty()) base = base.parent_path();  // drop a trailing '/'
  fs::path file = base / kConfigFile;
  std::ifstream in(file);
  if (!in) {
    if (!fs::exists(file)) {
      throw ConfigError(
          fmt::format("{} does not exist: create a master there with "
                      "`yardmaster create-master {}`",
                      file.string(), dir.string()));
    }
    throw ConfigError(fmt::format("cannot read {}", file.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), base);
}

std::string resolve_database_url(const std::string& url, const std::filesystem::path& basedir) {
  const std::string prefix = "sqlite:///";
  if (url.rfind(prefix, 0) != 0) return url;
  std::string rest = url.substr(prefix.size());
  if (rest.empty() || rest[0] == '/') return url;  // in memory, or already absolute
  return prefix + (basedir / rest).lexically_normal().string();
}

std::optional<Duration> parse_duration(std::string_view text) {
  text = trim(text);
  size_t unit_at = 0;
  while (unit_at < text.size() &&
         ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
    ++unit_at;
  }
  std::string number(text.substr(0, unit_at));
  std::string_view unit = trim(text.substr(unit_at));
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".") {
    return std::nullopt;
  }
  double value = std::strtod(number.c_str(), nullptr);
  double ms;
  if (unit == "ms") {
    ms = value;
  } else if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "m" || unit == "min") {
    ms = value * 60'000;
  } else if (unit == "h") {
    ms = value * 3'600'000;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(ms) || ms > 1e12) return std::nullopt;
  return Duration(static_cast<int64_t>(std::llround(ms)));
}

std::string format_duration(Duration d) {
  int64_t ms = d.count();
  if (ms % 3'600'000 == 0 && ms != 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0 && ms != 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string default_master_name(const std::filesystem::path& basedir) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + ":" + basedir.string();
}

std::string default_config(const std::string& database_url) {
  return fmt::format(R"(# Yardmaster master configuration, read by `yardmaster run DIR`.
#
# Lines starting with '#' or ';' are comments. Durations take a unit: 500ms, 10s, 5m, 1h (a bare
# number is seconds). Names of builders, workers and steps are identifiers: ASCII letters,
# digits, '-' and '_', not starting with a digit. Errors name the line: config.ini:LINE.

[master]
# Where builds are recorded. A relative SQLite path is relative to this directory. Masters that
# share the work use one PostgreSQL or MySQL/MariaDB database:
#   database = postgresql://USER:PASSWORD@HOST:5432/DBNAME
#   database = mysql://USER:PASSWORD@HOST:3306/DBNAME
database = {}
# This master's name in the database; by default HOST:DIRECTORY, which is unique per master.
#name = ci-1
# How often this master records that it is alive ...
checkin_interval = 10s
# ... and how long a master may stay silent before a peer marks it inactive, takes over its
# unfinished builds (result: retry) and releases its build requests to the others.
expiry = 60s
# How often an idle master looks for new build requests.
poll_interval = 2s
# On SIGTERM or SIGINT: how long running builds may take to finish before they are cancelled
# and their requests released to other masters.
grace_period = 60s
# A step that runs longer than this is killed and fails (a builder may set its own).
step_timeout = 20m
# How long one database call keeps retrying while the database is unreachable. A build whose
# writes fail for longer ends as retry and its request is built again; the master itself keeps
# running and finishes its bookkeeping once the database is back (docs/reliability.md).
db_retry_budget = 10s

# Workers run builds on this machine, each in its own work directory
# (DIR/builds/BUILDER/NUMBER); `slots` is how many builds a worker runs at once.
[worker local]
slots = 2

# A builder: the workers it runs on and its steps, run in order, each with `/bin/sh -c` in the
# build's work directory. A step fails when its command exits non-zero (or times out); the
# remaining steps are then skipped. Steps see YM_BUILDER, YM_BUILD_NUMBER, YM_BUILD_ID,
# YM_WORKER, YM_BRANCH, YM_REVISION, YM_REPOSITORY and YM_PROP_<name> for each property given to
# `yardmaster submit --property name=value`. Other keys: description, step_timeout, and
# `env NAME = value` lines.
[builder hello]
description = a first builder; replace its steps with yours
workers = local
step greet = echo "hello from build $YM_BUILD_NUMBER of $YM_BUILDER"
step environment = env | grep '^YM_' | sort
# A builder may also start other builds and wait for them: `trigger NAME = SCHEDULER, ...` is a
# step (in the same order as the others) that adds a buildset to each named scheduler of
# type = triggerable and fails when one of their builds fails.

# Building commits (uncomment to use; without them only `yardmaster submit` starts builds).
#
# A change source notices new commits. The git poller fetches `repository` (a URL or a path)
# every poll_interval and records each new commit of `branches` (globs; omitted or `all`: every
# branch) as a change. `project` and `codebase` are given to its changes; `revlink` is a web link
# to a commit, {{revision}} replaced by its hash.
#[changesource upstream]
#type = git
#repository = https://git.example.org/project.git
#branches = main, release/*
#poll_interval = 1m
#revlink = https://git.example.org/project/commit/{{revision}}
#
# A single-branch scheduler builds the changes of one branch on its builders: once no new change
# has arrived for tree_stable_timer, one buildset for the newest. `files = src/*, *.cpp` would
# build only changes touching such files; `property NAME = value` gives the builds a property.
#[scheduler on-main]
#type = single-branch
#branch = main
#tree_stable_timer = 2m
#builders = hello
#
# A force scheduler builds on request: `yardmaster submit DIR --scheduler manual`. Other types:
# periodic (interval = 1h), nightly (hour = 3, minute = 0, day_of_week = mon-fri,
# only_if_changed = true) and triggerable (started by a trigger step).
#[scheduler manual]
#type = force
#builders = hello
#property flavour = release

# The web view (docs/web.md): builders, builds, live logs, a REST API in Buildbot's shape and
# /metrics, served by `yardmaster run` on this address (loopback unless you name another).
# force_token_file names a file holding a secret that POST requests (force builds from the
# page) must present; without it the web view is read-only.
#[www]
#listen = 127.0.0.1:8010
#force_token_file = www-token
)",
                     database_url);
}

}  // namespace ym::master
