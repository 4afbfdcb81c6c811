// In-memory Steps, held to the same contract suite as db/connectors/steps.cpp.
#include "db/connectors/steps.hpp"

#include <algorithm>
#include <set>

#include "db/base.hpp"
#include "db/connectors/steps_util.hpp"
#include "fake/internal.hpp"

namespace ym::fake {
namespace {

Timestamp at(int64_t t) { return Timestamp(std::chrono::seconds(t)); }

db::Step to_record(const td::Step& r) {
  db::Step s;
  s.id = r.id;
  s.number = r.number;
  s.name = r.name;
  s.buildid = r.buildid;
  if (r.started_at) s.started_at = at(*r.started_at);
  if (r.complete_at) s.complete_at = at(*r.complete_at);
  s.state_string = r.state_string;
  s.results = r.results;
  s.urls = db::internal::parse_step_urls(r.urls_json);
  s.hidden = r.hidden;
  return s;
}

void check_text(const char* what, const std::string& s) {
  if (!db::is_valid_utf8(s)) throw db::InvalidArgument(std::string(what) + " is not valid UTF-8");
}

td::Step* find_step(Store& s, int64_t stepid) {
  auto it = s.steps.find(stepid);
  return it == s.steps.end() ? nullptr : &it->second;
}

td::Step& require_step(Store& s, int64_t stepid) {
  auto it = s.steps.find(stepid);
  if (it == s.steps.end()) throw db::NotFound("no step with id " + std::to_string(stepid));
  return it->second;
}

class FakeSteps final : public db::Steps {
 public:
  explicit FakeSteps(FakeDb::Access a) : a_(a) {}

  Future<std::optional<db::Step>> get_step(int64_t stepid) override {
    return a_.call([&](Store& s) -> std::optional<db::Step> {
      auto it = s.steps.find(stepid);
      if (it == s.steps.end()) return std::nullopt;
      return to_record(it->second);
    });
  }

  Future<std::optional<db::Step>> get_step_by_number(int64_t buildid, int number) override {
    return find([=](const td::Step& r) { return r.buildid == buildid && r.number == number; });
  }

  Future<std::optional<db::Step>> get_step_by_name(int64_t buildid, std::string name) override {
    return find([=](const td::Step& r) { return r.buildid == buildid && r.name == name; });
  }

  Future<std::vector<db::Step>> get_steps(int64_t buildid) override {
    return a_.call([&](Store& s) {
      std::vector<db::Step> out;
      for (const auto& [id, r] : s.steps) {
        if (r.buildid == buildid) out.push_back(to_record(r));
      }
      std::sort(out.begin(), out.end(),
                [](const db::Step& x, const db::Step& y) { return x.number < y.number; });
      return out;
    });
  }

  Future<db::AddedStep> add_step(int64_t buildid, std::string name,
                                 std::string state_string) override {
    return a_.call([&](Store& s) {
      db::check_identifier("step name", name, db::kStepNameMax);
      check_text("step state string", state_string);
      if (!s.builds.count(buildid))
        throw db::NotFound("no build with id " + std::to_string(buildid));
      int number = 0;
      std::set<std::string> names;
      for (const auto& [id, r] : s.steps) {
        if (r.buildid != buildid) continue;
        number = std::max(number, r.number + 1);
        names.insert(r.name);
      }
      std::string chosen = db::internal::unique_step_name(name, names);
      int64_t id = s.next_id("steps", s.steps);
      td::Step row;
      row.id = id;
      row.number = number;
      row.name = chosen;
      row.buildid = buildid;
      row.started_at = std::nullopt;  // until start_step, as in Buildbot
      row.complete_at = std::nullopt;
      row.state_string = state_string;
      row.results = std::nullopt;
      row.urls_json = "[]";
      row.hidden = false;
      s.steps[id] = row;
      return db::AddedStep{id, number, chosen};
    });
  }

  Future<void> start_step(int64_t stepid) override {
    return a_.call([&](Store& s) {
      if (td::Step* r = find_step(s, stepid)) r->started_at = a_.now();
    });
  }

  Future<void> set_step_state_string(int64_t stepid, std::string state_string) override {
    return a_.call([&](Store& s) {
      check_text("step state string", state_string);
      if (td::Step* r = find_step(s, stepid)) r->state_string = state_string;
    });
  }

  Future<void> finish_step(int64_t stepid, int results, bool hidden) override {
    return a_.call([&](Store& s) {
      td::Step* r = find_step(s, stepid);
      if (!r) return;  // an unknown step: nothing changes
      r->results = results;
      r->hidden = hidden;
      r->complete_at = a_.now();
    });
  }

  Future<void> add_url(int64_t stepid, std::string name, std::string url) override {
    return a_.call([&](Store& s) {
      check_text("URL name", name);
      check_text("URL", url);
      td::Step& r = require_step(s, stepid);
      auto urls = db::internal::parse_step_urls(r.urls_json);
      db::StepUrl added{name, url};
      if (std::find(urls.begin(), urls.end(), added) != urls.end()) return;
      urls.push_back(added);
      r.urls_json = db::internal::dump_step_urls(urls);
    });
  }

 private:
  template <class Pred>
  Future<std::optional<db::Step>> find(Pred pred) {
    return a_.call([&](Store& s) -> std::optional<db::Step> {
      for (const auto& [id, r] : s.steps) {
        if (pred(r)) return to_record(r);
      }
      return std::nullopt;
    });
  }

  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Steps> make_fake_steps(FakeDb::Access a) {
  return std::make_unique<FakeSteps>(a);
}

}  // namespace ym::fake
