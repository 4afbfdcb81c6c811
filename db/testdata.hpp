// Test data as rows: small structs that both the fake and a real database accept through one
// Db::insert_test_data call, so that a test sets up the same state on every implementation.
// Each struct is one row of the table it names; ids are given explicitly.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "json.hpp"

#include "value.hpp"

namespace ym::db::testdata {

struct Master {
  int64_t id = 0;
  std::string name = "some:master";
  bool active = true;
  int64_t last_active = 9998999;
};
struct Builder {
  int64_t id = 0;
  std::string name = "builder";
  std::optional<std::string> description;
};
struct BuilderMaster {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t masterid = 0;
};
struct Worker {
  int64_t id = 0;
  std::string name = "some-worker";
  Json info = Json::object();
  bool paused = false;
  bool graceful = false;
};
struct ConfiguredWorker {
  int64_t id = 0;
  int64_t buildermasterid = 0;
  int64_t workerid = 0;
};
struct ConnectedWorker {
  int64_t id = 0;
  int64_t masterid = 0;
  int64_t workerid = 0;
};
struct Object {
  int64_t id = 0;
  std::string name = "obj";
  std::string class_name = "Class";
};
struct ObjectState {
  int64_t objectid = 0;
  std::string name;
  std::string value_json;  // stored as given, so tests can plant a corrupt value
};

struct User {
  int64_t uid = 0;
  std::string identifier = "soap";
  std::optional<std::string> bb_username;
  std::optional<std::string> bb_password;
};
struct UserInfo {
  int64_t uid = 0;
  std::string attr_type = "git";
  std::string attr_data = "soap <soap@example.org>";
};
struct Patch {
  int64_t id = 0;
  int patchlevel = 0;
  std::string patch_base64 = "aGVsbG8sIHdvcmxk";  // base64 of the patch body
  std::string patch_author = "";
  std::string patch_comment = "";
  std::optional<std::string> subdir;
};
// ss_hash is computed from the fields as find_source_stamp_id does (so that lookups find it),
// unless given.
struct SourceStamp {
  int64_t id = 0;
  std::optional<std::string> branch = "master";
  std::optional<std::string> revision = "abcd";
  std::optional<int64_t> patchid;
  std::string repository = "repo";
  std::string codebase = "";
  std::string project = "proj";
  int64_t created_at = 89834834;
  std::optional<std::string> ss_hash;
};
struct Change {
  int64_t changeid = 0;
  std::string author = "frank";
  std::optional<std::string> committer;
  std::string comments = "test change";
  std::optional<std::string> branch = "master";
  std::optional<std::string> revision = "abcd";
  std::optional<std::string> revlink = "http://vc/abcd";
  int64_t when_timestamp = 1200000;
  std::optional<std::string> category = "cat";
  std::string repository = "repo";
  std::string codebase = "";
  std::string project = "proj";
  int64_t sourcestampid = 0;
  std::optional<int64_t> parent_changeids;
};
struct ChangeFile {
  int64_t changeid = 0;
  std::string filename = "README";
  std::optional<int64_t> seq;  // place in the change's list; nullopt (NULL): after those with one
};
struct ChangeProperty {
  int64_t changeid = 0;
  std::string property_name = "prop";
  std::string property_value = "[\"value\", \"Change\"]";  // JSON [value, source]
};
struct ChangeUser {
  int64_t changeid = 0;
  int64_t uid = 0;
};
struct ChangeSource {
  int64_t id = 0;
  std::string name = "csname";
};
struct ChangeSourceMaster {
  int64_t changesourceid = 0;
  int64_t masterid = 0;
};
struct Scheduler {
  int64_t id = 0;
  std::string name = "schname";
  bool enabled = true;
};
struct SchedulerMaster {
  int64_t schedulerid = 0;
  int64_t masterid = 0;
};
struct SchedulerChange {
  int64_t schedulerid = 0;
  int64_t changeid = 0;
  bool important = true;
};
struct Buildset {
  int64_t id = 0;
  std::optional<std::string> external_idstring = "extid";
  std::optional<std::string> reason = "because";
  int64_t submitted_at = 12345678;
  bool complete = false;
  std::optional<int64_t> complete_at;
  std::optional<int> results = -1;  // -1: not yet (what add_buildset stores)
  std::optional<int64_t> parent_buildid;
  std::optional<std::string> parent_relationship;
};
struct BuildsetProperty {
  int64_t buildsetid = 0;
  std::string property_name = "prop";
  std::string property_value = "[22, \"fakedb\"]";  // JSON [value, source]
};
struct BuildsetSourceStamp {
  int64_t id = 0;
  int64_t buildsetid = 0;
  int64_t sourcestampid = 0;
};
struct BuildRequest {
  int64_t id = 0;
  int64_t buildsetid = 0;
  int64_t builderid = 0;
  int priority = 0;
  bool complete = false;
  std::optional<int> results = -1;  // -1: not yet (what add_buildset stores)
  int64_t submitted_at = 0;
  std::optional<int64_t> complete_at;
  bool waited_for = false;
};
struct BuildRequestClaim {
  int64_t brid = 0;
  int64_t masterid = 0;
  int64_t claimed_at = 0;
};
struct Build {
  int64_t id = 0;
  int number = 0;
  int64_t builderid = 0;
  int64_t buildrequestid = 0;
  std::optional<int64_t> workerid;
  int64_t masterid = 0;
  int64_t started_at = 1304262222;
  std::optional<int64_t> complete_at;
  std::string state_string = "test";
  std::optional<int> results;
};
struct BuildProperty {
  int64_t buildid = 0;
  std::string name = "prop";
  std::string value = "42";  // JSON
  std::string source = "fakedb";
};
struct Step {
  int64_t id = 0;
  int number = 0;
  std::string name = "step";
  int64_t buildid = 0;
  std::optional<int64_t> started_at = 1304262222;
  std::optional<int64_t> complete_at;
  std::string state_string = "";
  std::optional<int> results;
  std::string urls_json = "[]";
  bool hidden = false;
};
struct Log {
  int64_t id = 0;
  std::string name = "log";
  std::string slug = "log";
  int64_t stepid = 0;
  bool complete = false;
  int64_t num_lines = 0;
  std::string type = "s";
};
// Content is stored as given (uncompressed text of lines first..last, each ending in "\n").
struct LogChunk {
  int64_t logid = 0;
  int64_t first_line = 0;
  int64_t last_line = 0;
  std::string content;
  int compressed = 0;
};

// Builder tags (schema version 4).
struct Tag {
  int64_t id = 0;
  std::string name = "tag";  // name_hash is computed from it
};
struct BuilderTag {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t tagid = 0;
};
// One named blob of a build (schema version 4). `length` is value.size() unless given, so that a
// test can plant an inconsistent row.
struct BuildData {
  int64_t id = 0;
  int64_t buildid = 0;
  std::string name = "data";
  std::string value = "value";  // raw bytes
  std::optional<int64_t> length;
  std::string source = "fakedb";
};
// Test results (Buildbot 3.7). name_hash / path_hash are computed from the text.
struct TestResultSet {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t buildid = 0;
  int64_t stepid = 0;
  std::optional<std::string> description = "desc";
  std::string category = "pass_fail";
  std::string value_unit = "boolean";
  std::optional<int64_t> tests_passed;
  std::optional<int64_t> tests_failed;
  bool complete = false;
};
struct TestName {
  int64_t id = 0;
  int64_t builderid = 0;
  std::string name = "test";
};
struct TestCodePath {
  int64_t id = 0;
  int64_t builderid = 0;
  std::string path = "path/to/test.cpp";
};
struct TestResult {
  int64_t id = 0;
  int64_t builderid = 0;
  int64_t test_result_setid = 0;
  std::optional<int64_t> test_nameid;
  std::optional<int64_t> test_code_pathid;
  std::optional<int64_t> line;
  std::optional<int64_t> duration_ns;
  std::string value = "1";
};

using Row = std::variant<Master, Builder, BuilderMaster, Worker, ConfiguredWorker, ConnectedWorker,
                         Object, ObjectState, User, UserInfo, Patch, SourceStamp, Change,
                         ChangeFile, ChangeProperty, ChangeUser, ChangeSource, ChangeSourceMaster,
                         Scheduler, SchedulerMaster, SchedulerChange, Buildset, BuildsetProperty,
                         BuildsetSourceStamp, BuildRequest, BuildRequestClaim, Build,
                         BuildProperty, Step, Log, LogChunk, Tag, BuilderTag, BuildData,
                         TestResultSet, TestName, TestCodePath, TestResult>;

// The hash find_source_stamp_id uses for these fields (patchid given as the patch's id).
std::string source_stamp_hash(const std::optional<std::string>& branch,
                              const std::optional<std::string>& revision,
                              const std::string& repository, const std::string& project,
                              const std::string& codebase, const std::optional<int64_t>& patchid);

// The table and column values of a row, for a real database.
struct SqlRow {
  std::string table;
  std::vector<std::pair<std::string, Value>> columns;
};
SqlRow to_sql(const Row& row);

}  // namespace ym::db::testdata
