// ym_import_check URL [--state NAME,CLASS,KEY]... [--probe]
//
// Prints, as one JSON document, what our connectors return for the read calls that
// tests/buildbot/import_test.py also makes through Buildbot's connectors on the source of an
// import: every master, builder, worker, buildset (with properties), build request, build (with
// properties, steps, their logs and every log line), change (with its users), source stamp,
// user, scheduler (with classifications), change source, and the state values named by --state.
// --probe then adds one row of each kind through the connectors and prints the new ids (they
// must come after the imported ones: the sequences were moved past them).
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

json read_all(Db& db, const std::vector<std::vector<std::string>>& states) {
  json out;
  out["masters"] = json::array();
  for (const auto& m : db.masters().get_masters().get()) {
    out["masters"].push_back(json{{"id", m.id}, {"name", m.name}, {"active", m.active},
                              {"last_active", ts(m.last_active)}});
  }
  out["builders"] = json::array();
  for (const auto& b : db.builders().get_builders().get()) {
    out["builders"].push_back(json{{"id", b.id}, {"name", b.name}, {"description", opt(b.description)},
                               {"masterids", b.masterids}});
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
    std::fprintf(stderr, "usage: ym_import_check URL [--state NAME,CLASS,KEY]... [--probe]\n");
    return 2;
  }
  std::string url = argv[1];
  std::vector<std::vector<std::string>> states;
  bool do_probe = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--probe") {
      do_probe = true;
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
    json out = read_all(*db, states);
    if (do_probe) out["probe"] = probe(*db);
    db->shutdown();
    std::cout << out.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ym_import_check: %s\n", e.what());
    return 1;
  }
  return 0;
}
