// SQL implementation of Steps: numbered, uniquely named parts of a build, with their URLs.
#include "db/connectors/steps.hpp"

#include <algorithm>
#include <set>

#include "db/connectors/json_util.hpp"
#include "db/connectors/sql.hpp"
#include "db/connectors/steps_util.hpp"

namespace ym::db {
namespace {

using internal::dump_json;
using internal::parse_json;

constexpr const char* kSelect =
    "SELECT id, number, name, buildid, started_at, complete_at, state_string, results, "
    "urls_json, hidden FROM steps";

// Attempts inside one transaction before the whole transaction is retried.
constexpr int kAddAttempts = 8;

Step read_step(const Row& r) {
  Step s;
  s.id = r.get<int64_t>(0);
  s.number = r.get<int>(1);
  s.name = r.get<std::string>(2);
  s.buildid = r.get<int64_t>(3);
  s.started_at = r.get<std::optional<Timestamp>>(4);
  s.complete_at = r.get<std::optional<Timestamp>>(5);
  s.state_string = r.get<std::string>(6);
  s.results = r.get<std::optional<int>>(7);
  s.urls = internal::parse_step_urls(r.get<std::string>(8));
  s.hidden = r.get<bool>(9);
  return s;
}

void check_text(const char* what, const std::string& s) {
  if (!is_valid_utf8(s)) throw InvalidArgument(std::string(what) + " is not valid UTF-8");
}

class SqlSteps final : public Steps {
 public:
  explicit SqlSteps(internal::Context& ctx) : ctx_(ctx) {}

  Future<std::optional<Step>> get_step(int64_t stepid) override {
    return one(" WHERE id = ?", {stepid});
  }
  Future<std::optional<Step>> get_step_by_number(int64_t buildid, int number) override {
    return one(" WHERE buildid = ? AND number = ?", {buildid, to_value(number)});
  }
  Future<std::optional<Step>> get_step_by_name(int64_t buildid, std::string name) override {
    return one(" WHERE buildid = ? AND name = ?", {buildid, name});
  }

  Future<std::vector<Step>> get_steps(int64_t buildid) override {
    return ctx_.pool.run([buildid](Connection& c) {
      std::vector<Step> out;
      for (const Row& r : c.stmt(std::string(kSelect) + " WHERE buildid = ? ORDER BY number")
                              .bind(buildid)
                              .all()) {
        out.push_back(read_step(r));
      }
      return out;
    });
  }

  Future<AddedStep> add_step(int64_t buildid, std::string name, std::string state_string) override {
    try {
      check_identifier("step name", name, kStepNameMax);
      check_text("step state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<AddedStep>(std::current_exception());
    }
    return ctx_.pool.transaction([=](Connection& c) {
      // Lock the build row first (a no-op update), so that add_step calls on one build take
      // turns on a server backend, and only then read: MySQL's snapshot starts at the first
      // read, so it then sees the steps of the calls that went before.
      c.stmt("UPDATE builds SET number = number WHERE id = ?").bind(buildid).exec();
      if (!c.stmt("SELECT 1 FROM builds WHERE id = ?").bind(buildid).one()) {
        throw NotFound("no build with id " + std::to_string(buildid));
      }
      // Should a writer still take our number or name first (one that does not lock the build),
      // the unique indexes refuse ours and we choose again from what is now committed. When our
      // snapshot cannot see the winner, the whole transaction is retried.
      int64_t prev_highest = -2;
      std::set<std::string> prev_names;
      for (int attempt = 0; attempt < kAddAttempts; ++attempt) {
        int64_t highest = *c.stmt("SELECT COALESCE(MAX(number), -1) FROM steps WHERE buildid = ?")
                               .bind(buildid)
                               .scalar<int64_t>();
        std::set<std::string> names;
        for (const Row& r :
             c.stmt("SELECT name FROM steps WHERE buildid = ?").bind(buildid).all()) {
          names.insert(r.get<std::string>(0));
        }
        if (highest == prev_highest && names == prev_names) break;  // stale snapshot
        std::string chosen = internal::unique_step_name(name, names);
        int64_t number = highest + 1;
        c.execute_script("SAVEPOINT ym_add_step");
        try {
          int64_t id = c.stmt(
                            "INSERT INTO steps (number, name, buildid, started_at, complete_at, "
                            "state_string, results, urls_json, hidden) "
                            "VALUES (?, ?, ?, NULL, NULL, ?, NULL, ?, 0)")
                           .bind(number, chosen, buildid, state_string, std::string("[]"))
                           .insert();
          c.execute_script("RELEASE SAVEPOINT ym_add_step");
          return AddedStep{id, static_cast<int>(number), chosen};
        } catch (const UniqueViolation&) {
          c.execute_script("ROLLBACK TO SAVEPOINT ym_add_step");
        }
        prev_highest = highest;
        prev_names = std::move(names);
      }
      throw TransientError("step number or name in build " + std::to_string(buildid) +
                           " kept being taken by concurrent steps");
    });
  }

  Future<void> start_step(int64_t stepid) override {
    int64_t now = ctx_.now();
    return update_step("UPDATE steps SET started_at = ? WHERE id = ?", {to_value(now), to_value(stepid)});
  }

  Future<void> set_step_state_string(int64_t stepid, std::string state_string) override {
    try {
      check_text("step state string", state_string);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    return update_step("UPDATE steps SET state_string = ? WHERE id = ?",
                       {Value(std::move(state_string)), to_value(stepid)});
  }

  Future<void> finish_step(int64_t stepid, int results, bool hidden) override {
    int64_t now = ctx_.now();
    return update_step("UPDATE steps SET results = ?, hidden = ?, complete_at = ? WHERE id = ?",
                       {to_value(results), to_value(hidden), to_value(now), to_value(stepid)});
  }

  Future<void> add_url(int64_t stepid, std::string name, std::string url) override {
    try {
      check_text("URL name", name);
      check_text("URL", url);
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    // Idempotent (a URL already in the list is not added again), so a repeat after a lost COMMIT
    // reply finds its URL there and leaves the list alone.
    return ctx_.pool.transaction(
        [stepid, name, url](Connection& c) {
          // Lock the row before reading the list, so that concurrent add_url calls on one step
          // append one after the other instead of overwriting each other's URL.
          c.stmt("UPDATE steps SET urls_json = urls_json WHERE id = ?").bind(stepid).exec();
          auto stored =
              c.stmt("SELECT urls_json FROM steps WHERE id = ?").bind(stepid).scalar<std::string>();
          if (!stored) throw NotFound("no step with id " + std::to_string(stepid));
          auto urls = internal::parse_step_urls(*stored);
          StepUrl added{name, url};
          if (std::find(urls.begin(), urls.end(), added) != urls.end()) return;
          urls.push_back(added);
          c.stmt("UPDATE steps SET urls_json = ? WHERE id = ?")
              .bind(internal::dump_step_urls(urls), stepid)
              .exec();
        },
        Unknown::kRetry);
  }

 private:
  // Runs `sql` (an UPDATE of one step by id). An unknown step matches no row and nothing
  // changes, as in Buildbot (the reference is silent). The values (the time included) are fixed
  // before the call is queued, so the update is idempotent: a repeat after a lost reply
  // (Unknown::kRetry) writes the same row again.
  Future<void> update_step(const char* sql, std::vector<Value> params) {
    return ctx_.pool.write_one(
        [sql, params](Connection& c) { c.stmt(sql).bind_all(params).exec(); }, Unknown::kRetry);
  }

  Future<std::optional<Step>> one(std::string where, std::vector<Value> params) {
    return ctx_.pool.run([where, params](Connection& c) -> std::optional<Step> {
      auto row = c.stmt(std::string(kSelect) + where).bind_all(params).one();
      if (!row) return std::nullopt;
      return read_step(*row);
    });
  }

  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<Steps> internal::make_sql_steps(Context& ctx) {
  return std::make_unique<SqlSteps>(ctx);
}

}  // namespace ym::db
