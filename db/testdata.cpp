#include "db/testdata.hpp"

#include "db/base.hpp"

namespace ym::db::testdata {

namespace {
struct ToSql {
  SqlRow operator()(const Master& r) const {
    return {"masters",
            {{"id", r.id}, {"name", r.name}, {"name_hash", hash_columns({r.name})},
             {"active", to_value(r.active)}, {"last_active", r.last_active}}};
  }
  SqlRow operator()(const Builder& r) const {
    return {"builders",
            {{"id", r.id}, {"name", r.name}, {"description", to_value(r.description)},
             {"name_hash", hash_columns({r.name})}}};
  }
  SqlRow operator()(const BuilderMaster& r) const {
    return {"builder_masters", {{"id", r.id}, {"builderid", r.builderid}, {"masterid", r.masterid}}};
  }
  SqlRow operator()(const Worker& r) const {
    return {"workers",
            {{"id", r.id}, {"name", r.name}, {"info", r.info->dump()},
             {"paused", to_value(r.paused)}, {"graceful", to_value(r.graceful)}}};
  }
  SqlRow operator()(const ConfiguredWorker& r) const {
    return {"configured_workers",
            {{"id", r.id}, {"buildermasterid", r.buildermasterid}, {"workerid", r.workerid}}};
  }
  SqlRow operator()(const ConnectedWorker& r) const {
    return {"connected_workers",
            {{"id", r.id}, {"masterid", r.masterid}, {"workerid", r.workerid}}};
  }
  SqlRow operator()(const Object& r) const {
    return {"objects", {{"id", r.id}, {"name", r.name}, {"class_name", r.class_name}}};
  }
  SqlRow operator()(const ObjectState& r) const {
    return {"object_state",
            {{"objectid", r.objectid}, {"name", r.name}, {"value_json", r.value_json}}};
  }
  SqlRow operator()(const User& r) const {
    return {"users",
            {{"uid", r.uid}, {"identifier", r.identifier}, {"bb_username", to_value(r.bb_username)},
             {"bb_password", to_value(r.bb_password)}}};
  }
  SqlRow operator()(const UserInfo& r) const {
    return {"users_info", {{"uid", r.uid}, {"attr_type", r.attr_type}, {"attr_data", r.attr_data}}};
  }
  SqlRow operator()(const Patch& r) const {
    return {"patches",
            {{"id", r.id}, {"patchlevel", r.patchlevel}, {"patch_base64", r.patch_base64},
             {"patch_author", r.patch_author}, {"patch_comment", r.patch_comment},
             {"subdir", to_value(r.subdir)}}};
  }
  SqlRow operator()(const SourceStamp& r) const {
    std::string hash = r.ss_hash ? *r.ss_hash
                                 : source_stamp_hash(r.branch, r.revision, r.repository, r.project,
                                                     r.codebase, r.patchid);
    return {"sourcestamps",
            {{"id", r.id}, {"ss_hash", hash}, {"branch", to_value(r.branch)},
             {"revision", to_value(r.revision)}, {"patchid", to_value(r.patchid)},
             {"repository", r.repository}, {"codebase", r.codebase}, {"project", r.project},
             {"created_at", r.created_at}}};
  }
  SqlRow operator()(const Change& r) const {
    return {"changes",
            {{"changeid", r.changeid}, {"author", r.author}, {"committer", to_value(r.committer)},
             {"comments", r.comments}, {"branch", to_value(r.branch)},
             {"revision", to_value(r.revision)}, {"revlink", to_value(r.revlink)},
             {"when_timestamp", r.when_timestamp}, {"category", to_value(r.category)},
             {"repository", r.repository}, {"codebase", r.codebase}, {"project", r.project},
             {"sourcestampid", r.sourcestampid}, {"parent_changeids", to_value(r.parent_changeids)}}};
  }
  SqlRow operator()(const ChangeFile& r) const {
    return {"change_files",
            {{"changeid", r.changeid}, {"filename", r.filename}, {"seq", to_value(r.seq)}}};
  }
  SqlRow operator()(const ChangeProperty& r) const {
    return {"change_properties",
            {{"changeid", r.changeid}, {"property_name", r.property_name},
             {"property_value", r.property_value}}};
  }
  SqlRow operator()(const ChangeUser& r) const {
    return {"change_users", {{"changeid", r.changeid}, {"uid", r.uid}}};
  }
  SqlRow operator()(const ChangeSource& r) const {
    return {"changesources", {{"id", r.id}, {"name", r.name}, {"name_hash", hash_columns({r.name})}}};
  }
  SqlRow operator()(const ChangeSourceMaster& r) const {
    return {"changesource_masters", {{"changesourceid", r.changesourceid}, {"masterid", r.masterid}}};
  }
  SqlRow operator()(const Scheduler& r) const {
    return {"schedulers",
            {{"id", r.id}, {"name", r.name}, {"name_hash", hash_columns({r.name})},
             {"enabled", to_value(r.enabled)}}};
  }
  SqlRow operator()(const SchedulerMaster& r) const {
    return {"scheduler_masters", {{"schedulerid", r.schedulerid}, {"masterid", r.masterid}}};
  }
  SqlRow operator()(const SchedulerChange& r) const {
    return {"scheduler_changes",
            {{"schedulerid", r.schedulerid}, {"changeid", r.changeid},
             {"important", to_value(r.important)}}};
  }
  SqlRow operator()(const Buildset& r) const {
    return {"buildsets",
            {{"id", r.id}, {"external_idstring", to_value(r.external_idstring)},
             {"reason", to_value(r.reason)}, {"submitted_at", r.submitted_at},
             {"complete", to_value(r.complete)}, {"complete_at", to_value(r.complete_at)},
             {"results", to_value(r.results)}, {"parent_buildid", to_value(r.parent_buildid)},
             {"parent_relationship", to_value(r.parent_relationship)}}};
  }
  SqlRow operator()(const BuildsetProperty& r) const {
    return {"buildset_properties",
            {{"buildsetid", r.buildsetid}, {"property_name", r.property_name},
             {"property_value", r.property_value}}};
  }
  SqlRow operator()(const BuildsetSourceStamp& r) const {
    return {"buildset_sourcestamps",
            {{"id", r.id}, {"buildsetid", r.buildsetid}, {"sourcestampid", r.sourcestampid}}};
  }
  SqlRow operator()(const BuildRequest& r) const {
    return {"buildrequests",
            {{"id", r.id}, {"buildsetid", r.buildsetid}, {"builderid", r.builderid},
             {"priority", r.priority}, {"complete", to_value(r.complete)},
             {"results", to_value(r.results)}, {"submitted_at", r.submitted_at},
             {"complete_at", to_value(r.complete_at)}, {"waited_for", to_value(r.waited_for)}}};
  }
  SqlRow operator()(const BuildRequestClaim& r) const {
    return {"buildrequest_claims",
            {{"brid", r.brid}, {"masterid", r.masterid}, {"claimed_at", r.claimed_at}}};
  }
  SqlRow operator()(const Build& r) const {
    return {"builds",
            {{"id", r.id}, {"number", r.number}, {"builderid", r.builderid},
             {"buildrequestid", r.buildrequestid}, {"workerid", to_value(r.workerid)},
             {"masterid", r.masterid}, {"started_at", r.started_at},
             {"complete_at", to_value(r.complete_at)}, {"state_string", r.state_string},
             {"results", to_value(r.results)}}};
  }
  SqlRow operator()(const BuildProperty& r) const {
    return {"build_properties",
            {{"buildid", r.buildid}, {"name", r.name}, {"value", r.value}, {"source", r.source}}};
  }
  SqlRow operator()(const Step& r) const {
    return {"steps",
            {{"id", r.id}, {"number", r.number}, {"name", r.name}, {"buildid", r.buildid},
             {"started_at", to_value(r.started_at)}, {"complete_at", to_value(r.complete_at)},
             {"state_string", r.state_string}, {"results", to_value(r.results)},
             {"urls_json", r.urls_json}, {"hidden", to_value(r.hidden)}}};
  }
  SqlRow operator()(const Log& r) const {
    return {"logs",
            {{"id", r.id}, {"name", r.name}, {"slug", r.slug}, {"stepid", r.stepid},
             {"complete", to_value(r.complete)}, {"num_lines", r.num_lines}, {"type", r.type}}};
  }
  SqlRow operator()(const LogChunk& r) const {
    return {"logchunks",
            {{"logid", r.logid}, {"first_line", r.first_line}, {"last_line", r.last_line},
             {"content", Blob{r.content}}, {"compressed", r.compressed}}};
  }
  SqlRow operator()(const Tag& r) const {
    return {"tags", {{"id", r.id}, {"name", r.name}, {"name_hash", hash_columns({r.name})}}};
  }
  SqlRow operator()(const BuilderTag& r) const {
    return {"builders_tags", {{"id", r.id}, {"builderid", r.builderid}, {"tagid", r.tagid}}};
  }
  SqlRow operator()(const BuildData& r) const {
    return {"build_data",
            {{"id", r.id}, {"buildid", r.buildid}, {"name", r.name}, {"value", Blob{r.value}},
             {"length", r.length.value_or(static_cast<int64_t>(r.value.size()))},
             {"source", r.source}}};
  }
  SqlRow operator()(const TestResultSet& r) const {
    return {"test_result_sets",
            {{"id", r.id}, {"builderid", r.builderid}, {"buildid", r.buildid},
             {"stepid", r.stepid}, {"description", to_value(r.description)},
             {"category", r.category}, {"value_unit", r.value_unit},
             {"tests_passed", to_value(r.tests_passed)}, {"tests_failed", to_value(r.tests_failed)},
             {"complete", to_value(r.complete)}}};
  }
  SqlRow operator()(const TestName& r) const {
    return {"test_names",
            {{"id", r.id}, {"builderid", r.builderid}, {"name", r.name},
             {"name_hash", hash_columns({r.name})}}};
  }
  SqlRow operator()(const TestCodePath& r) const {
    return {"test_code_paths",
            {{"id", r.id}, {"builderid", r.builderid}, {"path", r.path},
             {"path_hash", hash_columns({r.path})}}};
  }
  SqlRow operator()(const TestResult& r) const {
    return {"test_results",
            {{"id", r.id}, {"builderid", r.builderid}, {"test_result_setid", r.test_result_setid},
             {"test_nameid", to_value(r.test_nameid)},
             {"test_code_pathid", to_value(r.test_code_pathid)}, {"line", to_value(r.line)},
             {"duration_ns", to_value(r.duration_ns)}, {"value", r.value}}};
  }
};
}  // namespace

std::string source_stamp_hash(const std::optional<std::string>& branch,
                              const std::optional<std::string>& revision,
                              const std::string& repository, const std::string& project,
                              const std::string& codebase, const std::optional<int64_t>& patchid) {
  return hash_columns({hash_value(branch), hash_value(revision), repository, project, codebase,
                       hash_value(patchid)});
}

SqlRow to_sql(const Row& row) { return std::visit(ToSql{}, row); }

}  // namespace ym::db::testdata
