// ym_import_check URL [--state NAME,CLASS,KEY]... [--prefix PREFIX]... [--probe]
//
// Prints, as one JSON document, what our connectors return for the read calls that
// tests/buildbot/import_test.py also makes through Buildbot's connectors on the source of an
// import: every master, builder (with tags), worker, buildset (with properties), build request,
// build (with properties, steps, their logs and every log line), change (with its users), source
// stamp, user, scheduler (with classifications), change source, the state values named by
// --state; and Buildbot 3.7's newer data: every build's data (get_all_build_data_no_values, and
// get_build_data / get_build_data_no_value of each name and of one that is not there), every
// builder's test result sets (unfiltered and with each filter), the results of every set asked
// of every builder, and every builder's test names and code paths (all, and with each --prefix).
// Unknown ids (kUnknownId) are asked too. Build data values are printed in hex (they are bytes).
// --probe then adds one row of each kind through the connectors and prints the new ids (they
// must come after the imported ones: the sequences were moved past them).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/db.hpp"

namespace {

using nlohmann::json;
using namespace ym::db;
using ym::Timestamp;

json ts(const Timestamp& t) { return t.time_since_epoch().count(); }
template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_ts(const std::optional<Timestamp>& t) { return t ? ts(*t) : json(nullptr); }

json props(const Properties& p) {
  json out = json::object();
  for (const auto& [name, prop] : p) out[name] = json::array({prop.value, prop.source});
  return out;
}

// An id no row has (import_test.py's UNKNOWN_ID).
constexpr int64_t kUnknownId = 999999;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

json data_entry(const std::optional<BuildDataEntry>& e) {
  if (!e) return nullptr;
  return json{{"buildid", e->buildid}, {"name", e->name}, {"length", e->length},
              {"source", e->source}, {"value", e->value ? json(hex(*e->value)) : json(nullptr)}};
}

json set_json(const TestResultSet& s) {
  return json{{"id", s.id}, {"builderid", s.builderid}, {"buildid", s.buildid}, {"stepid", s.stepid},
              {"description", opt(s.description)}, {"category", s.category},
              {"value_unit", s.value_unit}, {"tests_passed", opt(s.tests_passed)},
              {"tests_failed", opt(s.tests_failed)}, {"complete", s.complete}};
}

json result_json(const TestResult& r) {
  return json{{"id", r.id}, {"builderid", r.builderid}, {"test_result_setid", r.test_result_setid},
              {"test_name", opt(r.test_name)}, {"test_code_path", opt(r.test_code_path)},
              {"line", opt(r.line)}, {"duration_ns", opt(r.duration_ns)}, {"value", r.value}};
}

// The calls import_test.py's read_newer makes through Buildbot's connectors, in its shape.
void read_newer(Db& db, json& out, const std::vector<std::string>& prefixes) {
  std::vector<int64_t> builders, builds, steps;
  for (const auto& b : out["builders"]) builders.push_back(b["id"].get<int64_t>());
  for (const auto& b : out["builds"]) {
    builds.push_back(b["id"].get<int64_t>());
    for (const auto& s : b["steps"]) steps.push_back(s["id"].get<int64_t>());
  }
  std::sort(builders.begin(), builders.end());
  std::sort(builds.begin(), builds.end());
  std::sort(steps.begin(), steps.end());
  auto with_unknown = [](std::vector<int64_t> ids) {
    ids.push_back(kUnknownId);
    return ids;
  };

  out["build_data"] = json::array();
  for (int64_t bid : with_unknown(builds)) {
    json all = json::array();
    std::vector<std::string> names;
    for (const auto& e : db.build_data().get_all_build_data_no_values(bid).get()) {
      all.push_back(data_entry(e));
      names.push_back(e.name);
    }
    std::sort(names.begin(), names.end());
    names.push_back("no-such-data");
    json get = json::object(), no_value = json::object();
    for (const auto& name : names) {
      get[name] = data_entry(db.build_data().get_build_data(bid, name).get());
      no_value[name] = data_entry(db.build_data().get_build_data_no_value(bid, name).get());
    }
    out["build_data"].push_back(json{{"buildid", bid}, {"all", all}, {"get", get}, {"no_value", no_value}});
  }

  auto sets_of = [&](int64_t builderid, TestResultSetFilter f) {
    json list = json::array();
    for (const auto& s : db.test_result_sets().get_test_result_sets(builderid, f).get()) {
      list.push_back(set_json(s));
    }
    return list;
  };
  out["test_result_sets"] = json::array();
  std::vector<TestResultSet> all_sets;
  for (int64_t b : with_unknown(builders)) {
    auto mine = db.test_result_sets().get_test_result_sets(b).get();
    all_sets.insert(all_sets.end(), mine.begin(), mine.end());
    json all = json::array();
    for (const auto& s : mine) all.push_back(set_json(s));
    TestResultSetFilter complete, incomplete;
    complete.complete = true;
    incomplete.complete = false;
    json by_build = json::array(), by_step = json::array(), by_all = json::array();
    for (int64_t bid : with_unknown(builds)) {
      TestResultSetFilter f;
      f.buildid = bid;
      by_build.push_back(json{{"buildid", bid}, {"sets", sets_of(b, f)}});
    }
    for (int64_t sid : with_unknown(steps)) {
      TestResultSetFilter f;
      f.stepid = sid;
      by_step.push_back(json{{"stepid", sid}, {"sets", sets_of(b, f)}});
    }
    for (const auto& s : mine) {
      TestResultSetFilter f;
      f.buildid = s.buildid;
      f.stepid = s.stepid;
      f.complete = s.complete;
      by_all.push_back(json{{"setid", s.id}, {"sets", sets_of(b, f)}});
    }
    out["test_result_sets"].push_back(json{{"builderid", b}, {"all", all},
                                           {"complete", sets_of(b, complete)},
                                           {"incomplete", sets_of(b, incomplete)},
                                           {"by_build", by_build}, {"by_step", by_step},
                                           {"by_all_filters", by_all}});
  }

  out["test_results"] = json::array();
  std::vector<int64_t> setids;
  for (const auto& s : all_sets) setids.push_back(s.id);
  for (int64_t setid : with_unknown(setids)) {
    for (int64_t b : builders) {
      json rs = json::array();
      for (const auto& r : db.test_results().get_test_results(b, setid).get()) rs.push_back(result_json(r));
      out["test_results"].push_back(json{{"setid", setid}, {"builderid", b}, {"results", rs}});
    }
  }

  out["test_names"] = json::array();
  out["test_code_paths"] = json::array();
  for (int64_t b : with_unknown(builders)) {
    json names = json::object(), paths = json::object();
    for (const auto& p : prefixes) {
      names[p] = db.test_results().get_test_names(b, p).get();
      paths[p] = db.test_results().get_test_code_paths(b, p).get();
    }
    out["test_names"].push_back(json{{"builderid", b}, {"all", db.test_results().get_test_names(b).get()},
                                     {"prefix", names}});
    out["test_code_paths"].push_back(json{{"builderid", b},
                                          {"all", db.test_results().get_test_code_paths(b).get()},
                                          {"prefix", paths}});
  }
}

json read_all(Db& db, const std::vector<std::vector<std::string>>& states,
              const std::vector<std::string>& prefixes) {
  json out;
  out["masters"] = json::array();
  for (const auto& m : db.masters().get_masters().get()) {
    out["masters"].push_back(json{{"id", m.id}, {"name", m.name}, {"active", m.active},
                              {"last_active", ts(m.last_active)}});
  }
  out["builders"] = json::array();
  for (const auto& b : db.builders().get_builders().get()) {
    out["builders"].push_back(json{{"id", b.id}, {"name", b.name}, {"description", opt(b.description)},
                               {"masterids", b.masterids}, {"tags", b.tags}});
  }
  out["workers"] = json::array();
  for (const auto& w : db.workers().get_workers().get()) {
    json conf = json::array();
    for (const auto& c : w.configured_on) conf.push_back(json{{"builderid", c.builderid}, {"masterid", c.masterid}});
    out["workers"].push_back(json{{"id", w.id}, {"name", w.name}, {"workerinfo", w.workerinfo},
                              {"paused", w.paused}, {"graceful", w.graceful},
                              {"connected_to", w.connected_to}, {"configured_on", conf}});
  }
  out["buildsets"] = json::array();
  for (const auto& b : db.buildsets().get_buildsets().get()) {
    out["buildsets"].push_back(json{{"bsid", b.bsid}, {"external_idstring", opt(b.external_idstring)},
                                {"reason", opt(b.reason)}, {"sourcestamps", b.sourcestamps},
                                {"submitted_at", ts(b.submitted_at)}, {"complete", b.complete},
                                {"complete_at", opt_ts(b.complete_at)}, {"results", b.results},
                                {"parent_buildid", opt(b.parent_buildid)},
                                {"parent_relationship", opt(b.parent_relationship)},
                                {"properties", props(db.buildsets().get_buildset_properties(b.bsid).get())}});
  }
  out["buildrequests"] = json::array();
  for (const auto& r : db.buildrequests().get_build_requests().get()) {
    out["buildrequests"].push_back(
        {{"buildrequestid", r.buildrequestid}, {"buildsetid", r.buildsetid}, {"builderid", r.builderid},
         {"buildername", r.buildername}, {"priority", r.priority}, {"claimed", r.claimed},
         {"claimed_at", opt_ts(r.claimed_at)}, {"claimed_by_masterid", opt(r.claimed_by_masterid)},
         {"complete", r.complete}, {"complete_at", opt_ts(r.complete_at)},
         {"submitted_at", ts(r.submitted_at)}, {"results", r.results}, {"waited_for", r.waited_for}});
  }
  out["builds"] = json::array();
  for (const auto& b : db.builds().get_builds().get()) {
    json steps = json::array();
    for (const auto& s : db.steps().get_steps(b.id).get()) {
      json urls = json::array();
      for (const auto& u : s.urls) urls.push_back(json{{"name", u.name}, {"url", u.url}});
      json logs = json::array();
      for (const auto& l : db.logs().get_logs(s.id).get()) {
        // A log that cannot be read is reported in its place (and differs from Buildbot's), so
        // that one bad log does not hide the rest of the comparison.
        json lines;
        try {
          lines = l.num_lines > 0 ? db.logs().get_log_lines(l.id, 0, l.num_lines - 1).get() : "";
        } catch (const std::exception& e) {
          lines = std::string("<get_log_lines failed: ") + e.what() + ">";
        }
        logs.push_back(json{{"id", l.id}, {"name", l.name}, {"slug", l.slug}, {"stepid", l.stepid},
                        {"complete", l.complete}, {"num_lines", l.num_lines}, {"type", l.type},
                        {"lines", lines}});
      }
      steps.push_back(json{{"id", s.id}, {"number", s.number}, {"name", s.name}, {"buildid", s.buildid},
                       {"started_at", opt_ts(s.started_at)}, {"complete_at", opt_ts(s.complete_at)},
                       {"state_string", s.state_string}, {"results", opt(s.results)}, {"urls", urls},
                       {"hidden", s.hidden}, {"logs", logs}});
    }
    out["builds"].push_back(json{{"id", b.id}, {"number", b.number}, {"builderid", b.builderid},
                             {"buildrequestid", b.buildrequestid}, {"workerid", opt(b.workerid)},
                             {"masterid", b.masterid}, {"started_at", ts(b.started_at)},
                             {"complete_at", opt_ts(b.complete_at)}, {"state_string", b.state_string},
                             {"results", opt(b.results)},
                             {"properties", props(db.builds().get_build_properties(b.id).get())},
                             {"steps", steps}});
  }
  out["changes"] = json::array();
  for (const auto& c : db.changes().get_changes().get()) {
    out["changes"].push_back(
        {{"changeid", c.changeid}, {"parent_changeids", c.parent_changeids}, {"author", c.author},
         {"committer", opt(c.committer)}, {"files", c.files}, {"comments", c.comments},
         {"revision", opt(c.revision)}, {"when_timestamp", ts(c.when_timestamp)},
         {"branch", opt(c.branch)}, {"category", opt(c.category)}, {"revlink", opt(c.revlink)},
         {"properties", props(c.properties)}, {"repository", c.repository}, {"project", c.project},
         {"codebase", c.codebase}, {"sourcestampid", c.sourcestampid},
         {"uids", db.changes().get_change_uids(c.changeid).get()}});
  }
  out["sourcestamps"] = json::array();
  for (const auto& s : db.sourcestamps().get_source_stamps().get()) {
    out["sourcestamps"].push_back(
        {{"ssid", s.ssid}, {"branch", opt(s.branch)}, {"revision", opt(s.revision)},
         {"patchid", opt(s.patchid)}, {"patch_body", opt(s.patch_body)},
         {"patch_level", opt(s.patch_level)}, {"patch_subdir", opt(s.patch_subdir)},
         {"patch_author", opt(s.patch_author)}, {"patch_comment", opt(s.patch_comment)},
         {"repository", s.repository}, {"project", s.project}, {"codebase", s.codebase},
         {"created_at", ts(s.created_at)}});
  }
  out["users"] = json::array();
  for (const auto& u0 : db.users().get_users().get()) {
    auto u = db.users().get_user(u0.uid).get();
    if (!u) continue;
    out["users"].push_back(json{{"uid", u->uid}, {"identifier", u->identifier},
                            {"bb_username", opt(u->bb_username)}, {"bb_password", opt(u->bb_password)},
                            {"attributes", u->attributes}});
  }
  out["schedulers"] = json::array();
  for (const auto& s : db.schedulers().get_schedulers().get()) {
    json cls = json::object();
    for (const auto& [id, important] : db.schedulers().get_change_classifications(s.id).get()) {
      cls[std::to_string(id)] = important;
    }
    out["schedulers"].push_back(json{{"id", s.id}, {"name", s.name}, {"masterid", opt(s.masterid)},
                                 {"enabled", s.enabled}, {"classifications", cls}});
  }
  out["changesources"] = json::array();
  for (const auto& c : db.changesources().get_change_sources().get()) {
    out["changesources"].push_back(json{{"id", c.id}, {"name", c.name}, {"masterid", opt(c.masterid)}});
  }
  out["state"] = json::array();
  for (const auto& s : states) {
    int64_t objectid = db.state().get_object_id(s[0], s[1]).get();
    out["state"].push_back(json{{"name", s[0]}, {"class_name", s[1]}, {"objectid", objectid},
                            {"key", s[2]}, {"value", db.state().get_state(objectid, s[2], json(nullptr)).get()}});
  }
  read_newer(db, out, prefixes);
  return out;
}

json probe(Db& db) {
  json out;
  out["masterid"] = db.masters().find_master_id("import-probe:/probe").get();
  out["builderid"] = *db.builders().find_builder_id("import-probe").get();
  out["workerid"] = db.workers().find_worker_id("import-probe").get();
  out["schedulerid"] = db.schedulers().find_scheduler_id("import-probe").get();
  out["changesourceid"] = db.changesources().find_change_source_id("import-probe").get();
  out["objectid"] = db.state().get_object_id("import-probe", "Probe").get();
  out["uid"] = db.users().find_user_by_attr("import-probe", "email", "probe@example.org").get();
  NewChange c;
  c.author = "probe";
  c.comments = "probe";
  c.repository = "probe-repo";
  out["changeid"] = db.changes().add_change(c).get();
  SourceStampSpec ss;
  ss.repository = "probe-repo";
  ss.revision = "probe-revision";
  ss.codebase = "probe";
  ss.patch_body = "probe patch";
  ss.patch_level = 1;
  ss.patch_author = "probe";
  ss.patch_comment = "probe";
  out["ssid"] = db.sourcestamps().find_source_stamp_id(ss).get();
  NewBuildset bs;
  bs.sourcestamps = {ss};
  bs.reason = "probe";
  bs.builderids = {out["builderid"].get<int64_t>()};
  auto added = db.buildsets().add_buildset(bs).get();
  out["bsid"] = added.bsid;
  for (const auto& [builderid, brid] : added.brids) out["brid"] = brid;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ym_import_check URL [--state NAME,CLASS,KEY]... [--prefix PREFIX]... [--probe]\n");
    return 2;
  }
  std::string url = argv[1];
  std::vector<std::vector<std::string>> states;
  std::vector<std::string> prefixes;
  bool do_probe = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--probe") {
      do_probe = true;
    } else if (a == "--prefix" && i + 1 < argc) {
      prefixes.push_back(argv[++i]);
    } else if (a == "--state" && i + 1 < argc) {
      std::string s = argv[++i];
      std::vector<std::string> parts;
      size_t pos = 0;
      for (size_t comma; (comma = s.find(',', pos)) != std::string::npos; pos = comma + 1) {
        parts.push_back(s.substr(pos, comma - pos));
      }
      parts.push_back(s.substr(pos));
      if (parts.size() != 3) {
        std::fprintf(stderr, "--state wants NAME,CLASS,KEY\n");
        return 2;
      }
      states.push_back(parts);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    DbOptions options;
    options.create_if_empty = false;
    auto db = Db::open(url, options);
    json out = read_all(*db, states, prefixes);
    if (do_probe) out["probe"] = probe(*db);
    db->shutdown();
    std::cout << out.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_import_check: %s\n", e.what());
    return 1;
  }
  return 0;
}
