// ym_oracle: our connectors behind a JSON-lines pipe, for the differential test against the real
// Buildbot 3.7 (tests/oracle/oracle.py, docs/buildbot-compatibility.md "How this is checked").
//
//   ym_oracle URL          URL of an empty database (our schema is created in it), or fake://
//
// Reads one call per line on stdin:
//   {"call": "buildsets.add_buildset", "args": {...}, "now": 1700000000}
// and writes one line per call on stdout: {"result": <neutral form>} or {"error": "<kind>",
// "message": "..."}. The neutral form is Buildbot's: records are objects with Buildbot's key
// names, times are epoch seconds, properties are {name: [value, source]}. Error kinds name the
// exception Buildbot raises for the same condition (NotFound -> KeyError, ...; see error_kind).
// "now" sets the clock every write of the call reads ("now" stays put between calls).
//
// The call table (kCalls, below) has one entry per connector method, named
// "<component>.<our snake_case name>"; arguments use Buildbot's parameter names. A call that is
// not in the table answers {"error": "Unsupported"}: a method we do not have (yet).
#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "db/db.hpp"
#include "db/errors.hpp"
#include "fake/fake_db.hpp"

namespace {

using nlohmann::json;
using namespace ym;
using namespace ym::db;

// ---------------------------------------------------------------- arguments

bool has(const json& a, const char* k) { return a.contains(k) && !a[k].is_null(); }

template <class T>
std::optional<T> opt(const json& a, const char* k) {
  if (!has(a, k)) return std::nullopt;
  return a[k].get<T>();
}

template <class T>
T req(const json& a, const char* k) {
  if (!a.contains(k)) throw std::invalid_argument(std::string("oracle: missing argument ") + k);
  return a[k].get<T>();
}

Timestamp ts(int64_t t) { return Timestamp(std::chrono::seconds(t)); }

std::optional<Timestamp> opt_ts(const json& a, const char* k) {
  if (!has(a, k)) return std::nullopt;
  return ts(a[k].get<int64_t>());
}

Properties props_arg(const json& a, const char* k) {
  Properties p;
  if (!has(a, k)) return p;
  for (auto& [name, vs] : a[k].items()) p[name] = Property{vs.at(0), vs.at(1).get<std::string>()};
  return p;
}

// {"filters": [[field, op, [values...]]], "order": ["-field", ...], "limit": n, "offset": n}
ResultSpec spec_arg(const json& a) {
  ResultSpec s;
  if (!has(a, "spec")) return s;
  const json& j = a["spec"];
  static const std::map<std::string, FieldFilter::Op> ops = {
      {"eq", FieldFilter::Op::kEq}, {"ne", FieldFilter::Op::kNe}, {"lt", FieldFilter::Op::kLt},
      {"le", FieldFilter::Op::kLe}, {"gt", FieldFilter::Op::kGt}, {"ge", FieldFilter::Op::kGe}};
  if (j.contains("filters")) {
    for (const json& f : j["filters"]) {
      FieldFilter ff;
      ff.field = f.at(0).get<std::string>();
      ff.op = ops.at(f.at(1).get<std::string>());
      for (const json& v : f.at(2)) {
        if (v.is_null()) ff.values.push_back(nullptr);
        else if (v.is_boolean()) ff.values.push_back(int64_t{v.get<bool>()});
        else if (v.is_number_integer()) ff.values.push_back(v.get<int64_t>());
        else if (v.is_number()) ff.values.push_back(v.get<double>());
        else ff.values.push_back(v.get<std::string>());
      }
      // Buildbot's "eq" with several values is IN.
      if (ff.op == FieldFilter::Op::kEq && ff.values.size() > 1) ff.op = FieldFilter::Op::kIn;
      s.filters.push_back(std::move(ff));
    }
  }
  if (j.contains("order")) {
    for (const json& o : j["order"]) {
      std::string f = o.get<std::string>();
      bool desc = !f.empty() && f[0] == '-';
      s.order_by(desc ? f.substr(1) : f, desc);
    }
  }
  if (has(j, "limit")) s.limit = j["limit"].get<int64_t>();
  if (has(j, "offset")) s.offset = j["offset"].get<int64_t>();
  return s;
}

SourceStampSpec ss_spec(const json& a) {
  SourceStampSpec s;
  s.branch = opt<std::string>(a, "branch");
  s.revision = opt<std::string>(a, "revision");
  s.repository = opt<std::string>(a, "repository").value_or("");
  s.project = opt<std::string>(a, "project").value_or("");
  s.codebase = opt<std::string>(a, "codebase").value_or("");
  s.patch_body = opt<std::string>(a, "patch_body");
  s.patch_level = opt<int>(a, "patch_level");
  s.patch_author = opt<std::string>(a, "patch_author");
  s.patch_comment = opt<std::string>(a, "patch_comment");
  s.patch_subdir = opt<std::string>(a, "patch_subdir");
  return s;
}

// ---------------------------------------------------------------- results, Buildbot's shape

json j_ts(const std::optional<Timestamp>& t) {
  if (!t) return nullptr;
  return t->time_since_epoch().count();
}
json j_ts(const Timestamp& t) { return t.time_since_epoch().count(); }

template <class T>
json j_opt(const std::optional<T>& o) {
  if (!o) return nullptr;
  return *o;
}

template <class T, class F>
json j_opt_rec(const std::optional<T>& o, F f) {
  if (!o) return nullptr;
  return f(*o);
}

template <class T, class F>
json j_list(const std::vector<T>& v, F f) {
  json out = json::array();
  for (const auto& x : v) out.push_back(f(x));
  return out;
}

json j_props(const Properties& p) {
  json out = json::object();
  for (const auto& [k, v] : p) out[k] = json::array({v.value.get(), v.source});
  return out;
}

json j_master(const Master& m) {
  return {{"id", m.id}, {"name", m.name}, {"active", m.active},
          {"last_active", j_ts(m.last_active)}};
}

json j_builder(const Builder& b) {
  return {{"id", b.id},
          {"name", b.name},
          {"description", j_opt(b.description)},
          {"masterids", b.masterids},
          {"tags", b.tags}};
}

json j_worker(const Worker& w) {
  json cfg = json::array();
  for (const auto& c : w.configured_on) cfg.push_back({{"builderid", c.builderid}, {"masterid", c.masterid}});
  return {{"id", w.id},       {"name", w.name},         {"workerinfo", w.workerinfo.get()},
          {"paused", w.paused}, {"graceful", w.graceful}, {"connected_to", w.connected_to},
          {"configured_on", cfg}};
}

json j_ss(const SourceStamp& s) {
  return {{"ssid", s.ssid},
          {"branch", j_opt(s.branch)},
          {"revision", j_opt(s.revision)},
          {"patchid", j_opt(s.patchid)},
          {"patch_body", j_opt(s.patch_body)},
          {"patch_level", j_opt(s.patch_level)},
          {"patch_subdir", j_opt(s.patch_subdir)},
          {"patch_author", j_opt(s.patch_author)},
          {"patch_comment", j_opt(s.patch_comment)},
          {"repository", s.repository},
          {"project", s.project},
          {"codebase", s.codebase},
          {"created_at", j_ts(s.created_at)}};
}

json j_buildset(const Buildset& b) {
  return {{"bsid", b.bsid},
          {"external_idstring", j_opt(b.external_idstring)},
          {"reason", j_opt(b.reason)},
          {"sourcestamps", b.sourcestamps},
          {"submitted_at", j_ts(b.submitted_at)},
          {"complete", b.complete},
          {"complete_at", j_ts(b.complete_at)},
          {"results", b.results},
          {"parent_buildid", j_opt(b.parent_buildid)},
          {"parent_relationship", j_opt(b.parent_relationship)}};
}

json j_br(const BuildRequest& r) {
  return {{"buildrequestid", r.buildrequestid},
          {"buildsetid", r.buildsetid},
          {"builderid", r.builderid},
          {"buildername", r.buildername},
          {"priority", r.priority},
          {"claimed", r.claimed},
          {"claimed_at", j_ts(r.claimed_at)},
          {"claimed_by_masterid", j_opt(r.claimed_by_masterid)},
          {"complete", r.complete},
          {"results", r.results},
          {"submitted_at", j_ts(r.submitted_at)},
          {"complete_at", j_ts(r.complete_at)},
          {"waited_for", r.waited_for}};
}

json j_build(const Build& b) {
  return {{"id", b.id},
          {"number", b.number},
          {"builderid", b.builderid},
          {"buildrequestid", b.buildrequestid},
          {"workerid", j_opt(b.workerid)},
          {"masterid", b.masterid},
          {"started_at", j_ts(b.started_at)},
          {"complete_at", j_ts(b.complete_at)},
          {"state_string", b.state_string},
          {"results", j_opt(b.results)}};
}

json j_step(const Step& s) {
  json urls = json::array();
  for (const auto& u : s.urls) urls.push_back({{"name", u.name}, {"url", u.url}});
  return {{"id", s.id},
          {"number", s.number},
          {"name", s.name},
          {"buildid", s.buildid},
          {"started_at", j_ts(s.started_at)},
          {"complete_at", j_ts(s.complete_at)},
          {"state_string", s.state_string},
          {"results", j_opt(s.results)},
          {"urls", urls},
          {"hidden", s.hidden}};
}

json j_log(const Log& l) {
  return {{"id", l.id},         {"name", l.name},           {"slug", l.slug},
          {"stepid", l.stepid}, {"complete", l.complete},   {"num_lines", l.num_lines},
          {"type", l.type}};
}

json j_change(const Change& c) {
  return {{"changeid", c.changeid},
          {"author", c.author},
          {"committer", j_opt(c.committer)},
          {"files", c.files},
          {"comments", c.comments},
          {"revision", j_opt(c.revision)},
          {"when_timestamp", j_ts(c.when_timestamp)},
          {"branch", j_opt(c.branch)},
          {"category", j_opt(c.category)},
          {"revlink", j_opt(c.revlink)},
          {"properties", j_props(c.properties)},
          {"repository", c.repository},
          {"project", c.project},
          {"codebase", c.codebase},
          {"sourcestampid", c.sourcestampid},
          {"parent_changeids", c.parent_changeids}};
}

json j_scheduler(const Scheduler& s) {
  return {{"id", s.id}, {"name", s.name}, {"masterid", j_opt(s.masterid)}, {"enabled", s.enabled}};
}

json j_changesource(const ChangeSource& c) {
  return {{"id", c.id}, {"name", c.name}, {"masterid", j_opt(c.masterid)}};
}

// Buildbot's user dict: the user's fields, and each attribute as a key of its own. An attribute
// named like a field is shown as "attr:<type>" so that it stays visible.
json j_user(const User& u) {
  json out = {{"uid", u.uid},
              {"identifier", u.identifier},
              {"bb_username", j_opt(u.bb_username)},
              {"bb_password", j_opt(u.bb_password)}};
  for (const auto& [k, v] : u.attributes) out[out.contains(k) ? "attr:" + k : k] = v;
  return out;
}

// Buildbot's build data dict; `value` is None from the *_no_value(s) calls.
json j_build_data(const db::BuildDataEntry& e) {
  return {{"buildid", e.buildid}, {"name", e.name}, {"value", j_opt(e.value)},
          {"length", e.length}, {"source", e.source}};
}

json j_test_result_set(const db::TestResultSet& t) {
  return {{"id", t.id}, {"builderid", t.builderid}, {"buildid", t.buildid}, {"stepid", t.stepid},
          {"description", j_opt(t.description)}, {"category", t.category},
          {"value_unit", t.value_unit}, {"tests_passed", j_opt(t.tests_passed)},
          {"tests_failed", j_opt(t.tests_failed)}, {"complete", t.complete}};
}

json j_test_result(const db::TestResult& t) {
  return {{"id", t.id}, {"builderid", t.builderid}, {"test_result_setid", t.test_result_setid},
          {"test_name", j_opt(t.test_name)}, {"test_code_path", j_opt(t.test_code_path)},
          {"line", j_opt(t.line)}, {"duration_ns", j_opt(t.duration_ns)}, {"value", t.value}};
}

// get_users: partial users (uid and identifier), as the reference returns them.
json j_user_partial(const db::UserSummary& u) { return {{"uid", u.uid}, {"identifier", u.identifier}}; }

std::vector<int64_t> ids(const json& a, const char* k) { return req<std::vector<int64_t>>(a, k); }

// A refusal of ours that Buildbot makes with another exception for the same condition (an
// `assert`, or a crash on the missing row): the call answers Buildbot's kind. Only
// representation: the condition refused is the same.
struct AsBuildbot : std::runtime_error {
  AsBuildbot(std::string k, const std::string& message) : std::runtime_error(message), kind(std::move(k)) {}
  std::string kind;
};

template <class E, class F>
json as_buildbot(const char* kind, F f, bool when = true) {
  try {
    return f();
  } catch (const E& e) {
    if (!when) throw;
    throw AsBuildbot(kind, e.what());
  }
}

// Whether a stamp spec has a patch without its level, author or comment (Buildbot's NOT NULL
// patch columns: an IntegrityError).
bool incomplete_patch(const json& s) {
  return s.is_object() && has(s, "patch_body") &&
         (!has(s, "patch_level") || !has(s, "patch_author") || !has(s, "patch_comment"));
}

// Whether a change's properties include one whose source is not "Change" (Buildbot's assert).
bool has_foreign_source(const json& a) {
  if (!has(a, "properties")) return false;
  for (auto& [name, vs] : a["properties"].items()) {
    if (vs.at(1) != "Change") return true;
  }
  return false;
}

// ---------------------------------------------------------------- the call table

using Call = std::function<json(Db&, const json&)>;

const std::map<std::string, Call>& calls() {
  static const std::map<std::string, Call> table = {
      // ---- masters
      {"masters.find_master_id",
       [](Db& d, const json& a) { return json(d.masters().find_master_id(req<std::string>(a, "name")).get()); }},
      {"masters.set_master_state",
       [](Db& d, const json& a) {
         return json(d.masters().set_master_state(req<int64_t>(a, "masterid"), req<bool>(a, "active")).get());
       }},
      {"masters.get_master",
       [](Db& d, const json& a) { return j_opt_rec(d.masters().get_master(req<int64_t>(a, "masterid")).get(), j_master); }},
      {"masters.get_masters", [](Db& d, const json&) { return j_list(d.masters().get_masters().get(), j_master); }},
      {"masters.set_all_masters_active_long_time_ago",
       [](Db& d, const json&) {
         d.masters().set_all_masters_active_long_time_ago().get();
         return json(nullptr);
       }},

      // ---- builders
      {"builders.find_builder_id",
       [](Db& d, const json& a) {
         return j_opt(d.builders()
                          .find_builder_id(req<std::string>(a, "name"), opt<bool>(a, "autoCreate").value_or(true))
                          .get());
       }},
      {"builders.add_builder_master",
       [](Db& d, const json& a) {
         d.builders().add_builder_master(req<int64_t>(a, "builderid"), req<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"builders.remove_builder_master",
       [](Db& d, const json& a) {
         d.builders().remove_builder_master(req<int64_t>(a, "builderid"), req<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"builders.get_builder",
       [](Db& d, const json& a) { return j_opt_rec(d.builders().get_builder(req<int64_t>(a, "builderid")).get(), j_builder); }},
      {"builders.get_builders",
       [](Db& d, const json& a) { return j_list(d.builders().get_builders(opt<int64_t>(a, "masterid")).get(), j_builder); }},
      // Buildbot's call also takes `tags`; ours has no tags yet (issue 13), so they are dropped.
      {"builders.update_builder_info",
       [](Db& d, const json& a) {
         // Buildbot's updateBuilderInfo always sets the tags (none given: none).
         std::vector<TagRef> tags;
         if (has(a, "tags")) {
           for (const auto& t : a.at("tags")) tags.emplace_back(t.get<std::string>());
         }
         d.builders()
             .update_builder_info(req<int64_t>(a, "builderid"), opt<std::string>(a, "description"), std::move(tags))
             .get();
         return json(nullptr);
       }},

      // ---- workers
      {"workers.find_worker_id",
       [](Db& d, const json& a) { return json(d.workers().find_worker_id(req<std::string>(a, "name")).get()); }},
      {"workers.get_workers",
       [](Db& d, const json& a) {
         WorkerFilter f{opt<int64_t>(a, "masterid"), opt<int64_t>(a, "builderid"), opt<bool>(a, "paused"),
                        opt<bool>(a, "graceful")};
         return j_list(d.workers().get_workers(f).get(), j_worker);
       }},
      {"workers.get_worker",
       [](Db& d, const json& a) {
         WorkerFilter f{opt<int64_t>(a, "masterid"), opt<int64_t>(a, "builderid"), {}, {}};
         return j_opt_rec(
             d.workers().get_worker(opt<int64_t>(a, "workerid"), opt<std::string>(a, "name"), f).get(), j_worker);
       }},
      {"workers.worker_connected",
       [](Db& d, const json& a) {
         d.workers()
             .worker_connected(req<int64_t>(a, "workerid"), req<int64_t>(a, "masterid"), a.value("workerinfo", json::object()))
             .get();
         return json(nullptr);
       }},
      {"workers.worker_disconnected",
       [](Db& d, const json& a) {
         d.workers().worker_disconnected(req<int64_t>(a, "workerid"), req<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"workers.worker_configured",
       [](Db& d, const json& a) {
         d.workers().worker_configured(req<int64_t>(a, "workerid"), req<int64_t>(a, "masterid"), ids(a, "builderids")).get();
         return json(nullptr);
       }},
      {"workers.deconfigure_all_workers_for_master",
       [](Db& d, const json& a) {
         d.workers().deconfigure_all_workers_for_master(req<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"workers.set_worker_state",
       [](Db& d, const json& a) {
         d.workers().set_worker_state(req<int64_t>(a, "workerid"), req<bool>(a, "paused"), req<bool>(a, "graceful")).get();
         return json(nullptr);
       }},

      // ---- state
      {"state.get_object_id",
       [](Db& d, const json& a) {
         return json(d.state().get_object_id(req<std::string>(a, "name"), req<std::string>(a, "class_name")).get());
       }},
      {"state.get_state",
       [](Db& d, const json& a) {
         if (a.contains("default")) {
           return d.state().get_state(req<int64_t>(a, "objectid"), req<std::string>(a, "name"), a["default"]).get();
         }
         return d.state().get_state(req<int64_t>(a, "objectid"), req<std::string>(a, "name")).get();
       }},
      {"state.set_state",
       [](Db& d, const json& a) {
         // Buildbot's setState returns nothing; the value we return is not compared.
         d.state().set_state(req<int64_t>(a, "objectid"), req<std::string>(a, "name"), a.at("value")).get();
         return json(nullptr);
       }},
      {"state.atomic_create_state",
       [](Db& d, const json& a) {
         json v = a.at("value");
         return d.state().atomic_create_state(req<int64_t>(a, "objectid"), req<std::string>(a, "name"), [v] { return v; }).get();
       }},

      // ---- source stamps
      {"sourcestamps.find_source_stamp_id",
       [](Db& d, const json& a) {
         return as_buildbot<InvalidArgument>(
             "IntegrityError", [&] { return json(d.sourcestamps().find_source_stamp_id(ss_spec(a)).get()); },
             incomplete_patch(a));
       }},
      {"sourcestamps.get_source_stamp",
       [](Db& d, const json& a) { return j_opt_rec(d.sourcestamps().get_source_stamp(req<int64_t>(a, "ssid")).get(), j_ss); }},
      {"sourcestamps.get_source_stamps",
       [](Db& d, const json& a) { return j_list(d.sourcestamps().get_source_stamps(spec_arg(a)).get(), j_ss); }},
      {"sourcestamps.get_source_stamps_for_build",
       [](Db& d, const json& a) {
         return j_list(d.sourcestamps().get_source_stamps_for_build(req<int64_t>(a, "buildid")).get(), j_ss);
       }},

      // ---- buildsets
      {"buildsets.add_buildset",
       [](Db& d, const json& a) {
         NewBuildset n;
         for (const json& s : a.at("sourcestamps")) {
           if (s.is_number_integer()) n.sourcestamps.push_back(s.get<int64_t>());
           else n.sourcestamps.push_back(ss_spec(s));
         }
         n.reason = req<std::string>(a, "reason");
         n.properties = props_arg(a, "properties");
         n.builderids = ids(a, "builderids");
         n.waited_for = opt<bool>(a, "waited_for").value_or(false);
         n.external_idstring = opt<std::string>(a, "external_idstring");
         n.submitted_at = opt_ts(a, "submitted_at");
         n.parent_buildid = opt<int64_t>(a, "parent_buildid");
         n.parent_relationship = opt<std::string>(a, "parent_relationship");
         bool bad_patch = false;
         for (const json& s : a.at("sourcestamps")) bad_patch = bad_patch || incomplete_patch(s);
         AddedBuildset r;
         as_buildbot<InvalidArgument>(
             "IntegrityError", [&] {
               r = d.buildsets().add_buildset(std::move(n)).get();
               return json(nullptr);
             },
             bad_patch);
         json brids = json::object();
         for (auto [builder, brid] : r.brids) brids[std::to_string(builder)] = brid;
         return json::array({r.bsid, brids});
       }},
      {"buildsets.complete_buildset",
       [](Db& d, const json& a) {
         d.buildsets().complete_buildset(req<int64_t>(a, "bsid"), req<int>(a, "results"), opt_ts(a, "complete_at")).get();
         return json(nullptr);
       }},
      {"buildsets.get_buildset",
       [](Db& d, const json& a) { return j_opt_rec(d.buildsets().get_buildset(req<int64_t>(a, "bsid")).get(), j_buildset); }},
      {"buildsets.get_buildsets",
       [](Db& d, const json& a) {
         return j_list(d.buildsets().get_buildsets(opt<bool>(a, "complete"), spec_arg(a)).get(), j_buildset);
       }},
      {"buildsets.get_recent_buildsets",
       [](Db& d, const json& a) {
         return j_list(d.buildsets()
                           .get_recent_buildsets(req<int>(a, "count"), opt<std::string>(a, "branch"),
                                                 opt<std::string>(a, "repository"), opt<bool>(a, "complete"))
                           .get(),
                       j_buildset);
       }},
      {"buildsets.get_buildset_properties",
       [](Db& d, const json& a) { return j_props(d.buildsets().get_buildset_properties(req<int64_t>(a, "bsid")).get()); }},

      // ---- build requests
      {"buildrequests.get_build_request",
       [](Db& d, const json& a) { return j_opt_rec(d.buildrequests().get_build_request(req<int64_t>(a, "brid")).get(), j_br); }},
      {"buildrequests.get_build_requests",
       [](Db& d, const json& a) {
         BuildRequestFilter f;
         f.builderid = opt<int64_t>(a, "builderid");
         f.complete = opt<bool>(a, "complete");
         if (has(a, "claimed")) {
           const json& c = a["claimed"];
           if (c.is_boolean()) f.claimed = c.get<bool>() ? ClaimFilter::claimed() : ClaimFilter::unclaimed();
           else f.claimed = ClaimFilter::by_master(c.get<int64_t>());
         }
         f.bsid = opt<int64_t>(a, "bsid");
         f.branch = opt<std::string>(a, "branch");
         f.repository = opt<std::string>(a, "repository");
         f.spec = spec_arg(a);
         return j_list(d.buildrequests().get_build_requests(std::move(f)).get(), j_br);
       }},
      {"buildrequests.claim_build_requests",
       [](Db& d, const json& a) {
         d.buildrequests().claim_build_requests(ids(a, "brids"), req<int64_t>(a, "masterid"), opt_ts(a, "claimed_at")).get();
         return json(nullptr);
       }},
      {"buildrequests.unclaim_build_requests",
       [](Db& d, const json& a) {
         d.buildrequests().unclaim_build_requests(ids(a, "brids"), req<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"buildrequests.complete_build_requests",
       [](Db& d, const json& a) {
         // RETRY: Buildbot's `assert results != RETRY`.
         return as_buildbot<InvalidArgument>("AssertionError", [&] {
           d.buildrequests()
               .complete_build_requests(ids(a, "brids"), req<int64_t>(a, "masterid"), req<int>(a, "results"),
                                        opt_ts(a, "complete_at"))
               .get();
           return json(nullptr);
         });
       }},

      // ---- builds
      {"builds.get_builds_for_change",
       [](Db& d, const json& a) {
         return j_list(d.builds().get_builds_for_change(req<int64_t>(a, "changeid")).get(), j_build);
       }},
      // ---- build data (Buildbot 3.7's build_data)
      {"build_data.set_build_data",
       [](Db& d, const json& a) {
         d.build_data()
             .set_build_data(req<int64_t>(a, "buildid"), req<std::string>(a, "name"),
                             req<std::string>(a, "value"), req<std::string>(a, "source"))
             .get();
         return json(nullptr);
       }},
      {"build_data.get_build_data",
       [](Db& d, const json& a) {
         return j_opt_rec(d.build_data().get_build_data(req<int64_t>(a, "buildid"), req<std::string>(a, "name")).get(),
                          j_build_data);
       }},
      {"build_data.get_build_data_no_value",
       [](Db& d, const json& a) {
         return j_opt_rec(
             d.build_data().get_build_data_no_value(req<int64_t>(a, "buildid"), req<std::string>(a, "name")).get(),
             j_build_data);
       }},
      {"build_data.get_all_build_data_no_values",
       [](Db& d, const json& a) {
         return j_list(d.build_data().get_all_build_data_no_values(req<int64_t>(a, "buildid")).get(), j_build_data);
       }},
      {"build_data.delete_old_build_data",
       [](Db& d, const json& a) {
         return json(d.build_data().delete_old_build_data(ts(req<int64_t>(a, "older_than_timestamp"))).get());
       }},
      // ---- test results (Buildbot 3.7's test_result_sets and test_results)
      {"test_result_sets.add_test_result_set",
       [](Db& d, const json& a) {
         return json(d.test_result_sets()
                         .add_test_result_set(req<int64_t>(a, "builderid"), req<int64_t>(a, "buildid"),
                                              req<int64_t>(a, "stepid"), opt<std::string>(a, "description"),
                                              req<std::string>(a, "category"), req<std::string>(a, "value_unit"))
                         .get());
       }},
      {"test_result_sets.get_test_result_set",
       [](Db& d, const json& a) {
         return j_opt_rec(d.test_result_sets().get_test_result_set(req<int64_t>(a, "test_result_setid")).get(),
                          j_test_result_set);
       }},
      {"test_result_sets.get_test_result_sets",
       [](Db& d, const json& a) {
         db::TestResultSetFilter f;
         f.buildid = opt<int64_t>(a, "buildid");
         f.stepid = opt<int64_t>(a, "stepid");
         f.complete = opt<bool>(a, "complete");
         return j_list(d.test_result_sets().get_test_result_sets(req<int64_t>(a, "builderid"), f).get(),
                       j_test_result_set);
       }},
      {"test_result_sets.complete_test_result_set",
       [](Db& d, const json& a) {
         d.test_result_sets()
             .complete_test_result_set(req<int64_t>(a, "test_result_setid"), opt<int64_t>(a, "tests_passed"),
                                       opt<int64_t>(a, "tests_failed"))
             .get();
         return json(nullptr);
       }},
      {"test_results.add_test_results",
       [](Db& d, const json& a) {
         std::vector<db::NewTestResult> results;
         for (const auto& v : a.at("result_values")) {
           db::NewTestResult r;
           r.value = v.at("value").get<std::string>();
           r.test_name = opt<std::string>(v, "test_name");
           r.test_code_path = opt<std::string>(v, "test_code_path");
           r.line = opt<int64_t>(v, "line");
           r.duration_ns = opt<int64_t>(v, "duration_ns");
           results.push_back(std::move(r));
         }
         d.test_results()
             .add_test_results(req<int64_t>(a, "builderid"), req<int64_t>(a, "test_result_setid"), std::move(results))
             .get();
         return json(nullptr);
       }},
      {"test_results.get_test_results",
       [](Db& d, const json& a) {
         return j_list(
             d.test_results().get_test_results(req<int64_t>(a, "builderid"), req<int64_t>(a, "test_result_setid")).get(),
             j_test_result);
       }},
      {"test_results.get_test_names",
       [](Db& d, const json& a) { return json(d.test_results().get_test_names(req<int64_t>(a, "builderid")).get()); }},
      {"test_results.get_test_code_paths",
       [](Db& d, const json& a) {
         return json(d.test_results().get_test_code_paths(req<int64_t>(a, "builderid")).get());
       }},
      {"builds.get_build",
       [](Db& d, const json& a) { return j_opt_rec(d.builds().get_build(req<int64_t>(a, "buildid")).get(), j_build); }},
      {"builds.get_build_by_number",
       [](Db& d, const json& a) {
         return j_opt_rec(d.builds().get_build_by_number(req<int64_t>(a, "builderid"), req<int>(a, "number")).get(), j_build);
       }},
      {"builds.get_builds",
       [](Db& d, const json& a) {
         BuildFilter f{opt<int64_t>(a, "builderid"), opt<int64_t>(a, "buildrequestid"), opt<int64_t>(a, "workerid"),
                       opt<bool>(a, "complete"), spec_arg(a)};
         return j_list(d.builds().get_builds(std::move(f)).get(), j_build);
       }},
      {"builds.get_prev_successful_build",
       [](Db& d, const json& a) {
         std::vector<SourceStamp> stamps;
         for (const json& s : a.at("sourcestamps")) {
           SourceStamp ss;
           ss.branch = opt<std::string>(s, "branch");
           ss.repository = opt<std::string>(s, "repository").value_or("");
           ss.codebase = opt<std::string>(s, "codebase").value_or("");
           ss.project = opt<std::string>(s, "project").value_or("");
           ss.revision = opt<std::string>(s, "revision");
           stamps.push_back(std::move(ss));
         }
         return j_opt_rec(
             d.builds().get_prev_successful_build(req<int64_t>(a, "builderid"), req<int>(a, "number"), stamps).get(),
             j_build);
       }},
      {"builds.add_build",
       [](Db& d, const json& a) {
         AddedBuild b = d.builds()
                            .add_build(req<int64_t>(a, "builderid"), req<int64_t>(a, "buildrequestid"),
                                       opt<int64_t>(a, "workerid"), req<int64_t>(a, "masterid"),
                                       req<std::string>(a, "state_string"))
                            .get();
         return json::array({b.id, b.number});
       }},
      {"builds.set_build_state_string",
       [](Db& d, const json& a) {
         d.builds().set_build_state_string(req<int64_t>(a, "buildid"), req<std::string>(a, "state_string")).get();
         return json(nullptr);
       }},
      {"builds.finish_build",
       [](Db& d, const json& a) {
         d.builds().finish_build(req<int64_t>(a, "buildid"), req<int>(a, "results")).get();
         return json(nullptr);
       }},
      {"builds.get_build_properties",
       [](Db& d, const json& a) { return j_props(d.builds().get_build_properties(req<int64_t>(a, "buildid")).get()); }},
      {"builds.set_build_property",
       [](Db& d, const json& a) {
         d.builds()
             .set_build_property(req<int64_t>(a, "buildid"), req<std::string>(a, "name"), a.at("value"),
                                 req<std::string>(a, "source"))
             .get();
         return json(nullptr);
       }},

      // ---- steps
      {"steps.get_step",
       [](Db& d, const json& a) { return j_opt_rec(d.steps().get_step(req<int64_t>(a, "stepid")).get(), j_step); }},
      {"steps.get_step_by_number",
       [](Db& d, const json& a) {
         return j_opt_rec(d.steps().get_step_by_number(req<int64_t>(a, "buildid"), req<int>(a, "number")).get(), j_step);
       }},
      {"steps.get_step_by_name",
       [](Db& d, const json& a) {
         return j_opt_rec(d.steps().get_step_by_name(req<int64_t>(a, "buildid"), req<std::string>(a, "name")).get(), j_step);
       }},
      {"steps.get_steps",
       [](Db& d, const json& a) { return j_list(d.steps().get_steps(req<int64_t>(a, "buildid")).get(), j_step); }},
      {"steps.add_step",
       [](Db& d, const json& a) {
         AddedStep s = d.steps()
                           .add_step(req<int64_t>(a, "buildid"), req<std::string>(a, "name"), req<std::string>(a, "state_string"))
                           .get();
         return json::array({s.id, s.number, s.name});
       }},
      {"steps.start_step",
       [](Db& d, const json& a) {
         d.steps().start_step(req<int64_t>(a, "stepid")).get();
         return json(nullptr);
       }},
      {"steps.set_step_state_string",
       [](Db& d, const json& a) {
         d.steps().set_step_state_string(req<int64_t>(a, "stepid"), req<std::string>(a, "state_string")).get();
         return json(nullptr);
       }},
      {"steps.finish_step",
       [](Db& d, const json& a) {
         d.steps().finish_step(req<int64_t>(a, "stepid"), req<int>(a, "results"), req<bool>(a, "hidden")).get();
         return json(nullptr);
       }},
      {"steps.add_url",
       [](Db& d, const json& a) {
         d.steps().add_url(req<int64_t>(a, "stepid"), req<std::string>(a, "name"), req<std::string>(a, "url")).get();
         return json(nullptr);
       }},

      // ---- logs
      {"logs.get_log",
       [](Db& d, const json& a) { return j_opt_rec(d.logs().get_log(req<int64_t>(a, "logid")).get(), j_log); }},
      {"logs.get_log_by_slug",
       [](Db& d, const json& a) {
         return j_opt_rec(d.logs().get_log_by_slug(req<int64_t>(a, "stepid"), req<std::string>(a, "slug")).get(), j_log);
       }},
      {"logs.get_logs",
       [](Db& d, const json& a) {
         // Buildbot's getLogs(stepid=None) returns every log; ours needs a step.
         if (!has(a, "stepid")) throw std::invalid_argument("Unsupported");
         return j_list(d.logs().get_logs(req<int64_t>(a, "stepid")).get(), j_log);
       }},
      {"logs.get_log_lines",
       [](Db& d, const json& a) {
         return json(d.logs()
                         .get_log_lines(req<int64_t>(a, "logid"), req<int64_t>(a, "first_line"), req<int64_t>(a, "last_line"))
                         .get());
       }},
      {"logs.add_log",
       [](Db& d, const json& a) {
         return json(d.logs()
                         .add_log(req<int64_t>(a, "stepid"), req<std::string>(a, "name"), req<std::string>(a, "slug"),
                                  req<std::string>(a, "type"))
                         .get());
       }},
      {"logs.append_log",
       [](Db& d, const json& a) {
         auto r = d.logs().append_log(req<int64_t>(a, "logid"), req<std::string>(a, "content")).get();
         if (!r) return json(nullptr);
         return json::array({r->first, r->last});
       }},
      {"logs.finish_log",
       [](Db& d, const json& a) {
         d.logs().finish_log(req<int64_t>(a, "logid")).get();
         return json(nullptr);
       }},
      {"logs.compress_log",
       [](Db& d, const json& a) { return json(d.logs().compress_log(req<int64_t>(a, "logid")).get()); }},
      {"logs.delete_old_log_chunks",
       [](Db& d, const json& a) {
         return json(d.logs().delete_old_log_chunks(ts(req<int64_t>(a, "older_than_timestamp"))).get());
       }},

      // ---- changes
      {"changes.add_change",
       [](Db& d, const json& a) {
         NewChange c;
         c.author = opt<std::string>(a, "author").value_or("");
         c.committer = opt<std::string>(a, "committer");
         c.files = opt<std::vector<std::string>>(a, "files").value_or(std::vector<std::string>{});
         c.comments = opt<std::string>(a, "comments").value_or("");
         c.revision = opt<std::string>(a, "revision");
         c.when_timestamp = opt_ts(a, "when_timestamp");
         c.branch = opt<std::string>(a, "branch");
         c.category = opt<std::string>(a, "category");
         // Absent: the default (''), as Buildbot's addChange; given (even null): as given.
         if (has(a, "revlink")) c.revlink = opt<std::string>(a, "revlink");
         c.properties = props_arg(a, "properties");
         c.repository = opt<std::string>(a, "repository").value_or("");
         c.project = opt<std::string>(a, "project").value_or("");
         c.codebase = opt<std::string>(a, "codebase").value_or("");
         c.uid = opt<int64_t>(a, "uid");
         // A property whose source is not "Change": Buildbot's assert.
         return as_buildbot<InvalidArgument>(
             "AssertionError", [&] { return json(d.changes().add_change(std::move(c)).get()); },
             has_foreign_source(a));
       }},
      {"changes.get_change",
       [](Db& d, const json& a) { return j_opt_rec(d.changes().get_change(req<int64_t>(a, "changeid")).get(), j_change); }},
      {"changes.get_change_uids",
       [](Db& d, const json& a) { return json(d.changes().get_change_uids(req<int64_t>(a, "changeid")).get()); }},
      {"changes.get_changes",
       [](Db& d, const json& a) { return j_list(d.changes().get_changes(spec_arg(a)).get(), j_change); }},
      {"changes.prune_changes",
       [](Db& d, const json& a) {
         d.changes().prune_changes(req<int>(a, "changeHorizon")).get();
         return json(nullptr);
       }},
      {"changes.get_changes_count",
       [](Db& d, const json& a) { return json(d.changes().get_changes_count(spec_arg(a)).get()); }},
      {"changes.get_latest_change_id",
       [](Db& d, const json&) { return j_opt(d.changes().get_latest_change_id().get()); }},
      // Buildbot's getParentChangeIds returns a list ([] or [id]).
      {"changes.get_parent_change_ids",
       [](Db& d, const json& a) {
         auto p = d.changes()
                      .get_parent_change_id(opt<std::string>(a, "branch"), req<std::string>(a, "repository"),
                                            req<std::string>(a, "project"), req<std::string>(a, "codebase"))
                      .get();
         json out = json::array();
         if (p) out.push_back(*p);
         return out;
       }},
      // An unknown build: Buildbot's getChangesForBuild fails reading the missing build (TypeError).
      {"changes.get_changes_for_build",
       [](Db& d, const json& a) {
         return as_buildbot<NotFound>("TypeError", [&] {
           return j_list(d.changes().get_changes_for_build(req<int64_t>(a, "buildid")).get(), j_change);
         });
       }},
      {"changes.get_change_from_ssid",
       [](Db& d, const json& a) {
         return j_opt_rec(d.changes().get_change_from_ssid(req<int64_t>(a, "sourcestampid")).get(), j_change);
       }},

      // ---- change sources
      {"changesources.find_change_source_id",
       [](Db& d, const json& a) { return json(d.changesources().find_change_source_id(req<std::string>(a, "name")).get()); }},
      {"changesources.set_change_source_master",
       [](Db& d, const json& a) {
         d.changesources().set_change_source_master(req<int64_t>(a, "changesourceid"), opt<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"changesources.get_change_source",
       [](Db& d, const json& a) {
         return j_opt_rec(d.changesources().get_change_source(req<int64_t>(a, "changesourceid")).get(), j_changesource);
       }},
      {"changesources.get_change_sources",
       [](Db& d, const json& a) {
         return j_list(d.changesources().get_change_sources(opt<bool>(a, "active"), opt<int64_t>(a, "masterid")).get(),
                       j_changesource);
       }},

      // ---- schedulers
      {"schedulers.classify_changes",
       [](Db& d, const json& a) {
         std::map<int64_t, bool> c;
         for (auto& [k, v] : a.at("classifications").items()) c[std::stoll(k)] = v.get<bool>();
         d.schedulers().classify_changes(req<int64_t>(a, "schedulerid"), c).get();
         return json(nullptr);
       }},
      {"schedulers.flush_change_classifications",
       [](Db& d, const json& a) {
         d.schedulers().flush_change_classifications(req<int64_t>(a, "schedulerid"), opt<int64_t>(a, "less_than")).get();
         return json(nullptr);
       }},
      {"schedulers.get_change_classifications",
       [](Db& d, const json& a) {
         ChangeClassificationFilter f;
         if (a.contains("branch")) {
           f.branch = a["branch"].is_null() ? BranchFilter::default_branch()
                                            : BranchFilter::named(a["branch"].get<std::string>());
         }
         if (a.contains("repository")) f.repository = req<std::string>(a, "repository");
         if (a.contains("project")) f.project = req<std::string>(a, "project");
         if (a.contains("codebase")) f.codebase = req<std::string>(a, "codebase");
         json out = json::object();
         for (auto [id, imp] : d.schedulers().get_change_classifications(req<int64_t>(a, "schedulerid"), f).get()) {
           out[std::to_string(id)] = imp;
         }
         return out;
       }},
      {"schedulers.find_scheduler_id",
       [](Db& d, const json& a) { return json(d.schedulers().find_scheduler_id(req<std::string>(a, "name")).get()); }},
      {"schedulers.set_scheduler_master",
       [](Db& d, const json& a) {
         d.schedulers().set_scheduler_master(req<int64_t>(a, "schedulerid"), opt<int64_t>(a, "masterid")).get();
         return json(nullptr);
       }},
      {"schedulers.enable",
       [](Db& d, const json& a) {
         d.schedulers().enable(req<int64_t>(a, "schedulerid"), req<bool>(a, "v")).get();
         return json(nullptr);
       }},
      {"schedulers.get_scheduler",
       [](Db& d, const json& a) {
         return j_opt_rec(d.schedulers().get_scheduler(req<int64_t>(a, "schedulerid")).get(), j_scheduler);
       }},
      {"schedulers.get_schedulers",
       [](Db& d, const json& a) {
         return j_list(d.schedulers().get_schedulers(opt<bool>(a, "active"), opt<int64_t>(a, "masterid")).get(), j_scheduler);
       }},

      // ---- users
      {"users.find_user_by_attr",
       [](Db& d, const json& a) {
         return json(d.users()
                         .find_user_by_attr(req<std::string>(a, "identifier"), req<std::string>(a, "attr_type"),
                                            req<std::string>(a, "attr_data"))
                         .get());
       }},
      {"users.get_user",
       [](Db& d, const json& a) { return j_opt_rec(d.users().get_user(req<int64_t>(a, "uid")).get(), j_user); }},
      {"users.get_user_by_username",
       [](Db& d, const json& a) {
         return j_opt_rec(d.users().get_user_by_username(req<std::string>(a, "username")).get(), j_user);
       }},
      {"users.get_users", [](Db& d, const json&) { return j_list(d.users().get_users().get(), j_user_partial); }},
      {"users.update_user",
       [](Db& d, const json& a) {
         UserUpdate u{opt<std::string>(a, "identifier"), opt<std::string>(a, "bb_username"),
                      opt<std::string>(a, "bb_password"), opt<std::string>(a, "attr_type"),
                      opt<std::string>(a, "attr_data")};
         d.users().update_user(req<int64_t>(a, "uid"), u).get();
         return json(nullptr);
       }},
      {"users.remove_user",
       [](Db& d, const json& a) {
         d.users().remove_user(req<int64_t>(a, "uid")).get();
         return json(nullptr);
       }},
      {"users.identifier_to_uid",
       [](Db& d, const json& a) { return j_opt(d.users().identifier_to_uid(req<std::string>(a, "identifier")).get()); }},
  };
  return table;
}

// The Buildbot exception a typed error of ours stands for.
std::string error_kind(const Error& e) {
  if (dynamic_cast<const NotFound*>(&e)) return "KeyError";
  if (dynamic_cast<const AlreadyClaimedError*>(&e)) return "AlreadyClaimedError";
  if (dynamic_cast<const NotClaimedError*>(&e)) return "NotClaimedError";
  if (dynamic_cast<const ChangeSourceAlreadyClaimedError*>(&e)) return "ChangeSourceAlreadyClaimedError";
  if (dynamic_cast<const SchedulerAlreadyClaimedError*>(&e)) return "SchedulerAlreadyClaimedError";
  if (dynamic_cast<const TestResultSetAlreadyCompleted*>(&e)) return "TestResultSetAlreadyCompleted";
  if (dynamic_cast<const AlreadyExists*>(&e) || dynamic_cast<const UniqueViolation*>(&e) ||
      dynamic_cast<const ForeignKeyViolation*>(&e)) {
    return "IntegrityError";
  }
  if (dynamic_cast<const ValueTooLong*>(&e)) return "ValueTooLong";
  if (dynamic_cast<const InvalidArgument*>(&e) || dynamic_cast<const InvalidIdentifier*>(&e)) return "ValueError";
  return std::string("Error:") + to_string(e.category());
}

// Buildbot's identifiers.isIdentifier(max_length, s): its ident_re takes ASCII letters, "_", "-"
// and every character from U+00A0 up, digits after the first; 1..max_length characters.
bool is_buildbot_identifier(const std::string& s, size_t max_length) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    uint32_t cp = b;
    size_t n = 1;
    if (b >= 0xF0) n = 4, cp = b & 0x07;
    else if (b >= 0xE0) n = 3, cp = b & 0x0F;
    else if (b >= 0xC0) n = 2, cp = b & 0x1F;
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    bool ok = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_' || cp == '-' ||
              cp >= 0xA0 || (chars > 0 && cp >= '0' && cp <= '9');
    if (!ok) return false;
    i += n;
    ++chars;
  }
  return chars > 0 && chars <= max_length;
}

// The exception Buildbot raises for the same refusal, where that is not the general one of
// error_kind: Buildbot checks these preconditions with `assert` (AssertionError), or finds the
// missing row by failing on it. Only representation: the condition refused is the same.
std::string buildbot_kind(const std::string& call, const json& args, const Error& e) {
  bool invalid = dynamic_cast<const InvalidArgument*>(&e) != nullptr;
  // logs.appendLog: assert content[-1] == '\n'; logs.addLog: assert type in 'tsh'.
  if ((call == "logs.append_log" || call == "logs.add_log") && invalid) return "AssertionError";
  // workers.findWorkerId: assert identifiers.isIdentifier(50, name). A name that only our
  // stricter (the reference's) rule refuses stays ValueError: a deliberate difference.
  if (call == "workers.find_worker_id" && dynamic_cast<const InvalidIdentifier*>(&e) &&
      !is_buildbot_identifier(args.value("name", std::string()), 50)) {
    return "AssertionError";
  }
  // logs.addLog turns the unique index's refusal of a taken slug into KeyError (the reference).
  if (call == "logs.add_log" && dynamic_cast<const AlreadyExists*>(&e)) return "KeyError";
  // steps.addURL reads the step's urls_json from a row that is not there: AttributeError.
  if (call == "steps.add_url" && dynamic_cast<const NotFound*>(&e)) return "AttributeError";
  return error_kind(e);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: ym_oracle URL|fake://\n";
    return 2;
  }
  auto now = std::make_shared<std::atomic<int64_t>>(1'700'000'000);
  Clock clock = [now] { return Timestamp(std::chrono::seconds(now->load())); };
  std::unique_ptr<Db> db;
  try {
    std::string url = argv[1];
    if (url == "fake://") {
      fake::FakeOptions fo;
      fo.clock = clock;
      db = std::make_unique<fake::FakeDb>(fo);
    } else {
      DbOptions o;
      o.clock = clock;
      o.pool_size = 1;  // calls run one at a time anyway
      db = Db::open(url, o);
    }
  } catch (const std::exception& e) {
    std::cerr << "ym_oracle: cannot open the database: " << e.what() << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json out;
    std::string name;
    json args;
    try {
      json in = json::parse(line);
      if (in.contains("now") && !in["now"].is_null()) now->store(in["now"].get<int64_t>());
      name = in.at("call").get<std::string>();
      args = in.value("args", json::object());
      auto it = calls().find(name);
      if (it == calls().end()) {
        out = {{"error", "Unsupported"}, {"message", "no such call: " + name}};
      } else {
        out = {{"result", it->second(*db, args)}};
      }
    } catch (const Error& e) {
      out = {{"error", buildbot_kind(name, args, e)}, {"message", e.what()}};
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      out = {{"error", m == "Unsupported" ? "Unsupported" : "OracleError"}, {"message", m}};
    } catch (const AsBuildbot& e) {
      out = {{"error", e.kind}, {"message", e.what()}};
    } catch (const std::exception& e) {
      out = {{"error", "OracleError"}, {"message", e.what()}};
    }
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n" << std::flush;
  }
  db->shutdown();
  return 0;
}
