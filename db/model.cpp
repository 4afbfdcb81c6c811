#include "db/model.hpp"

#include <algorithm>

#include "db/errors.hpp"
#include "db/extension.hpp"

namespace ym::db::model {
namespace {

// A small builder so that the schema below reads like a table declaration.
struct T {
  Table t;
  explicit T(std::string name) { t.name = std::move(name); }
  T& id(const std::string& name = "id") {
    t.columns.push_back({name, ColumnType::kInteger, 0, false, std::nullopt, true});
    return *this;
  }
  T& col(const std::string& name, ColumnType type, bool nullable,
         std::optional<std::string> def = std::nullopt) {
    t.columns.push_back({name, type, 0, nullable, std::move(def), false});
    return *this;
  }
  T& str(const std::string& name, int length, bool nullable,
         std::optional<std::string> def = std::nullopt) {
    t.columns.push_back({name, ColumnType::kString, length, nullable, std::move(def), false});
    return *this;
  }
  T& integer(const std::string& name, bool nullable, std::optional<std::string> def = std::nullopt) {
    return col(name, ColumnType::kInteger, nullable, std::move(def));
  }
  T& text(const std::string& name, bool nullable) { return col(name, ColumnType::kText, nullable); }
  T& index(const std::string& name, std::vector<std::string> cols, bool unique = false) {
    t.indexes.push_back({name, std::move(cols), unique});
    return *this;
  }
  T& unique(const std::string& name, std::vector<std::string> cols) {
    return index(name, std::move(cols), true);
  }
  // Tags the last column or index added with the schema version that introduced it.
  T& since_col(int v) {
    t.columns.back().since = v;
    return *this;
  }
  T& since_index(int v) {
    t.indexes.back().since = v;
    return *this;
  }
  // Tags the whole table (its columns and indexes with it) with the version that added it.
  T& since_table(int v) {
    t.since = v;
    for (auto& c : t.columns) c.since = std::max(c.since, v);
    for (auto& i : t.indexes) i.since = std::max(i.since, v);
    return *this;
  }
  T& fk(std::vector<std::string> cols, const std::string& ref, std::vector<std::string> ref_cols,
        bool cascade = false) {
    t.foreign_keys.push_back({std::move(cols), ref, std::move(ref_cols), cascade});
    return *this;
  }
};

constexpr auto kInt = ColumnType::kInteger;
constexpr bool kNull = true;
constexpr bool kNotNull = false;

Model build_model() {
  Model m;
  auto add = [&](T& t) { m.tables.push_back(std::move(t.t)); };

  // ----- masters, builders, workers
  T masters("masters");
  masters.id().text("name", kNotNull).str("name_hash", 40, kNotNull)
      .integer("active", kNotNull).integer("last_active", kNotNull)
      .unique("masters_name_hash", {"name_hash"});
  add(masters);

  T builders("builders");
  builders.id().text("name", kNotNull).text("description", kNull)
      .str("name_hash", 40, kNotNull).unique("builders_name_hash", {"name_hash"});
  add(builders);

  T builder_masters("builder_masters");
  builder_masters.id().integer("builderid", kNotNull).integer("masterid", kNotNull)
      .unique("builder_masters_identity", {"builderid", "masterid"})
      .index("builder_masters_masterid", {"masterid"})
      .fk({"builderid"}, "builders", {"id"}, true).fk({"masterid"}, "masters", {"id"}, true);
  add(builder_masters);

  T workers("workers");
  workers.id().str("name", 50, kNotNull).text("info", kNotNull)
      .integer("paused", kNotNull, "0").integer("graceful", kNotNull, "0")
      .unique("workers_name", {"name"});
  add(workers);

  T configured("configured_workers");
  configured.id().integer("buildermasterid", kNotNull).integer("workerid", kNotNull)
      .unique("configured_workers_identity", {"buildermasterid", "workerid"})
      .index("configured_workers_workerid", {"workerid"})
      .fk({"buildermasterid"}, "builder_masters", {"id"}, true)
      .fk({"workerid"}, "workers", {"id"}, true);
  add(configured);

  T connected("connected_workers");
  connected.id().integer("masterid", kNotNull).integer("workerid", kNotNull)
      .unique("connected_workers_identity", {"masterid", "workerid"})
      .index("connected_workers_workerid", {"workerid"})
      .fk({"masterid"}, "masters", {"id"}, true).fk({"workerid"}, "workers", {"id"}, true);
  add(connected);

  // ----- state
  T objects("objects");
  objects.id().str("name", 128, kNotNull).str("class_name", 128, kNotNull)
      .unique("objects_identity", {"name", "class_name"});
  add(objects);

  T object_state("object_state");
  object_state.integer("objectid", kNotNull).str("name", 255, kNotNull).text("value_json", kNotNull)
      .unique("object_state_identity", {"objectid", "name"})
      .fk({"objectid"}, "objects", {"id"}, true);
  add(object_state);

  // ----- users
  T users("users");
  users.id("uid").str("identifier", 255, kNotNull).str("bb_username", 128, kNull)
      .str("bb_password", 128, kNull)
      .unique("users_identifier", {"identifier"}).unique("users_bb_username", {"bb_username"});
  add(users);

  T users_info("users_info");
  users_info.integer("uid", kNotNull).str("attr_type", 128, kNotNull).str("attr_data", 128, kNotNull)
      .index("users_info_uid", {"uid"}).unique("users_info_uid_attr_type", {"uid", "attr_type"})
      .index("users_info_attrs", {"attr_type", "attr_data"}, true)
      .fk({"uid"}, "users", {"uid"}, true);
  add(users_info);

  // ----- source stamps and changes
  T patches("patches");
  patches.id().integer("patchlevel", kNotNull).text("patch_base64", kNotNull)
      .text("patch_author", kNotNull).text("patch_comment", kNotNull).text("subdir", kNull);
  add(patches);

  T sourcestamps("sourcestamps");
  sourcestamps.id().str("ss_hash", 40, kNotNull).str("branch", 256, kNull).str("revision", 256, kNull)
      .integer("patchid", kNull).str("repository", 512, kNotNull, "''")
      .str("codebase", 256, kNotNull, "''").str("project", 512, kNotNull, "''")
      .integer("created_at", kNotNull)
      .unique("sourcestamps_ss_hash_key", {"ss_hash"}).index("sourcestamps_patchid", {"patchid"})
      .fk({"patchid"}, "patches", {"id"}, true);
  add(sourcestamps);

  T changes("changes");
  changes.id("changeid").str("author", 255, kNotNull).str("committer", 255, kNull)
      .text("comments", kNotNull).str("branch", 255, kNull).str("revision", 255, kNull)
      .str("revlink", 256, kNull).integer("when_timestamp", kNotNull).str("category", 255, kNull)
      .str("repository", 512, kNotNull, "''").str("codebase", 256, kNotNull, "''")
      .str("project", 512, kNotNull, "''").integer("sourcestampid", kNotNull)
      .integer("parent_changeids", kNull)
      .index("changes_branch", {"branch"}).index("changes_revision", {"revision"})
      .index("changes_author", {"author"}).index("changes_category", {"category"})
      .index("changes_when_timestamp", {"when_timestamp"})
      .index("changes_sourcestampid", {"sourcestampid"})
      .index("changes_parent_changeids", {"parent_changeids"})
      .fk({"sourcestampid"}, "sourcestamps", {"id"}, true)
      .fk({"parent_changeids"}, "changes", {"changeid"});
  add(changes);

  T change_files("change_files");
  // seq: the file's place in the list add_change was given (0, 1, ...); NULL for files stored
  // before version 7, which read after the numbered ones, by name.
  change_files.integer("changeid", kNotNull).str("filename", 1024, kNotNull)
      .integer("seq", kNull).since_col(7)
      .index("change_files_changeid", {"changeid"}).fk({"changeid"}, "changes", {"changeid"}, true);
  add(change_files);

  T change_properties("change_properties");
  change_properties.integer("changeid", kNotNull).str("property_name", 256, kNotNull)
      .text("property_value", kNotNull)
      .index("change_properties_changeid", {"changeid"})
      .fk({"changeid"}, "changes", {"changeid"}, true);
  add(change_properties);

  T change_users("change_users");
  change_users.integer("changeid", kNotNull).integer("uid", kNotNull)
      .unique("change_users_identity", {"changeid", "uid"}).index("change_users_uid", {"uid"})
      .fk({"changeid"}, "changes", {"changeid"}, true).fk({"uid"}, "users", {"uid"}, true);
  add(change_users);

  // ----- change sources and schedulers
  T changesources("changesources");
  changesources.id().text("name", kNotNull).str("name_hash", 40, kNotNull)
      .unique("changesources_name_hash", {"name_hash"});
  add(changesources);

  T changesource_masters("changesource_masters");
  changesource_masters.integer("changesourceid", kNotNull).integer("masterid", kNotNull)
      .unique("changesource_masters_changesourceid", {"changesourceid"})
      .index("changesource_masters_masterid", {"masterid"})
      .fk({"changesourceid"}, "changesources", {"id"}, true)
      .fk({"masterid"}, "masters", {"id"}, true);
  add(changesource_masters);

  T schedulers("schedulers");
  schedulers.id().text("name", kNotNull).str("name_hash", 40, kNotNull)
      .integer("enabled", kNotNull, "1").unique("schedulers_name_hash", {"name_hash"});
  add(schedulers);

  T scheduler_masters("scheduler_masters");
  scheduler_masters.integer("schedulerid", kNotNull).integer("masterid", kNotNull)
      .unique("scheduler_masters_schedulerid", {"schedulerid"})
      .index("scheduler_masters_masterid", {"masterid"})
      .fk({"schedulerid"}, "schedulers", {"id"}, true).fk({"masterid"}, "masters", {"id"}, true);
  add(scheduler_masters);

  T scheduler_changes("scheduler_changes");
  scheduler_changes.integer("schedulerid", kNotNull).integer("changeid", kNotNull)
      .integer("important", kNotNull)
      .unique("scheduler_changes_unique", {"schedulerid", "changeid"})
      .index("scheduler_changes_changeid", {"changeid"})
      .fk({"schedulerid"}, "schedulers", {"id"}, true)
      .fk({"changeid"}, "changes", {"changeid"}, true);
  add(scheduler_changes);

  // ----- buildsets, build requests, builds
  T buildsets("buildsets");
  buildsets.id().str("external_idstring", 256, kNull).str("reason", 256, kNull)
      .integer("submitted_at", kNotNull).integer("complete", kNotNull, "0")
      .integer("complete_at", kNull).integer("results", kNull)
      .integer("parent_buildid", kNull).text("parent_relationship", kNull)
      .index("buildsets_complete", {"complete"}).index("buildsets_submitted_at", {"submitted_at"})
      .index("buildsets_parent_buildid", {"parent_buildid"});
  add(buildsets);  // parent_buildid references builds, added after builds exist (see below)

  T buildset_properties("buildset_properties");
  buildset_properties.integer("buildsetid", kNotNull).str("property_name", 256, kNotNull)
      .text("property_value", kNotNull)
      .index("buildset_properties_buildsetid", {"buildsetid"})
      .fk({"buildsetid"}, "buildsets", {"id"}, true);
  add(buildset_properties);

  T buildset_sourcestamps("buildset_sourcestamps");
  buildset_sourcestamps.id().integer("buildsetid", kNotNull).integer("sourcestampid", kNotNull)
      .unique("buildset_sourcestamps_unique", {"buildsetid", "sourcestampid"})
      .index("buildset_sourcestamps_sourcestampid", {"sourcestampid"})
      .fk({"buildsetid"}, "buildsets", {"id"}, true)
      .fk({"sourcestampid"}, "sourcestamps", {"id"}, true);
  add(buildset_sourcestamps);

  T buildrequests("buildrequests");
  buildrequests.id().integer("buildsetid", kNotNull).integer("builderid", kNotNull)
      .integer("priority", kNotNull, "0").integer("complete", kNotNull, "0")
      .integer("results", kNull).integer("submitted_at", kNotNull).integer("complete_at", kNull)
      .integer("waited_for", kNotNull, "0")
      .index("buildrequests_buildsetid", {"buildsetid"})
      .index("buildrequests_builderid", {"builderid"})
      .index("buildrequests_complete", {"complete"})
      .index("buildrequests_pending", {"complete", "priority", "submitted_at"})
      .index("buildrequests_builder_pending", {"builderid", "complete", "priority", "submitted_at"})
      .since_index(3)
      .fk({"buildsetid"}, "buildsets", {"id"}, true).fk({"builderid"}, "builders", {"id"}, true);
  add(buildrequests);

  T claims("buildrequest_claims");
  claims.integer("brid", kNotNull).integer("masterid", kNotNull).integer("claimed_at", kNotNull)
      .unique("buildrequest_claims_brid", {"brid"}).index("buildrequest_claims_masterid", {"masterid"})
      .fk({"brid"}, "buildrequests", {"id"}, true).fk({"masterid"}, "masters", {"id"}, true);
  add(claims);

  T builds("builds");
  builds.id().integer("number", kNotNull).integer("builderid", kNotNull)
      .integer("buildrequestid", kNotNull).integer("workerid", kNull).integer("masterid", kNotNull)
      .integer("started_at", kNotNull).integer("complete_at", kNull)
      .text("state_string", kNotNull).integer("results", kNull)
      .unique("builds_number", {"builderid", "number"})
      .index("builds_buildrequestid", {"buildrequestid"}).index("builds_workerid", {"workerid"})
      .index("builds_masterid", {"masterid"}).index("builds_complete_at", {"complete_at"})
      .fk({"builderid"}, "builders", {"id"}, true)
      .fk({"buildrequestid"}, "buildrequests", {"id"}, true)
      .fk({"workerid"}, "workers", {"id"}).fk({"masterid"}, "masters", {"id"});
  add(builds);

  T build_properties("build_properties");
  build_properties.integer("buildid", kNotNull).str("name", 255, kNotNull).text("value", kNotNull)
      .str("source", 256, kNotNull).unique("build_properties_buildid_name", {"buildid", "name"})
      .fk({"buildid"}, "builds", {"id"}, true);
  add(build_properties);

  T steps("steps");
  steps.id().integer("number", kNotNull).str("name", 50, kNotNull).integer("buildid", kNotNull)
      .integer("started_at", kNull).integer("complete_at", kNull).text("state_string", kNotNull)
      .integer("results", kNull).text("urls_json", kNotNull).integer("hidden", kNotNull, "0")
      .integer("locks_acquired_at", kNull).since_col(2)
      .unique("steps_number", {"buildid", "number"}).unique("steps_name", {"buildid", "name"})
      .index("steps_started_at", {"started_at"})
      .fk({"buildid"}, "builds", {"id"}, true);
  add(steps);

  T logs("logs");
  logs.id().text("name", kNotNull).str("slug", 50, kNotNull).integer("stepid", kNotNull)
      .integer("complete", kNotNull).integer("num_lines", kNotNull).str("type", 1, kNotNull)
      .unique("logs_slug", {"stepid", "slug"}).fk({"stepid"}, "steps", {"id"}, true);
  add(logs);

  T logchunks("logchunks");
  logchunks.integer("logid", kNotNull).integer("first_line", kNotNull).integer("last_line", kNotNull)
      .col("content", ColumnType::kBlob, kNull).integer("compressed", kNotNull)
      .unique("logchunks_first_line", {"logid", "first_line"})
      .index("logchunks_last_line", {"logid", "last_line"})
      .fk({"logid"}, "logs", {"id"}, true);
  add(logchunks);

  // ----- Buildbot 3.7's newer data (version 4): builder tags and build data
  T tags("tags");
  tags.id().text("name", kNotNull).str("name_hash", 40, kNotNull)
      .unique("tags_name_hash", {"name_hash"})
      .since_table(4);
  add(tags);

  // Buildbot indexes builderid and (builderid, tagid); tagid gets its own index as every foreign
  // key column here does (a deleted tag's links are found without a scan; MySQL would otherwise
  // add one by itself).
  T builders_tags("builders_tags");
  builders_tags.id().integer("builderid", kNotNull).integer("tagid", kNotNull)
      .index("builders_tags_builderid", {"builderid"})
      .unique("builders_tags_unique", {"builderid", "tagid"})
      .index("builders_tags_tagid", {"tagid"})
      .fk({"builderid"}, "builders", {"id"}, true).fk({"tagid"}, "tags", {"id"}, true)
      .since_table(4);
  add(builders_tags);

  // name: 255 characters, not Buildbot's 256, as build_properties.name: indexed strings fit
  // MySQL's index limit.
  T build_data("build_data");
  build_data.id().integer("buildid", kNotNull).str("name", 255, kNotNull)
      .col("value", ColumnType::kBlob, kNotNull).integer("length", kNotNull)
      .str("source", 256, kNotNull)
      .unique("build_data_buildid_name", {"buildid", "name"})
      .fk({"buildid"}, "builds", {"id"}, true)
      .since_table(4);
  add(build_data);

  // ----- test results (Buildbot 3.7). Names and code paths are stored once per builder: their
  // uniqueness rests on a sha1 of the text (MySQL and PostgreSQL cannot index long text).
  T test_result_sets("test_result_sets");
  test_result_sets.id().integer("builderid", kNotNull).integer("buildid", kNotNull)
      .integer("stepid", kNotNull).text("description", kNull).text("category", kNotNull)
      .text("value_unit", kNotNull).integer("tests_passed", kNull).integer("tests_failed", kNull)
      .integer("complete", kNotNull)
      .index("test_result_sets_builderid", {"builderid"})
      .index("test_result_sets_buildid", {"buildid"})
      .index("test_result_sets_stepid", {"stepid"})
      .fk({"builderid"}, "builders", {"id"}, true).fk({"buildid"}, "builds", {"id"}, true)
      .fk({"stepid"}, "steps", {"id"}, true)
      .since_table(kTestResultsVersion);
  add(test_result_sets);

  T test_names("test_names");
  test_names.id().integer("builderid", kNotNull).text("name", kNotNull)
      .str("name_hash", 40, kNotNull)
      .unique("test_names_name", {"builderid", "name_hash"})
      .fk({"builderid"}, "builders", {"id"}, true)
      .since_table(kTestResultsVersion);
  add(test_names);

  T test_code_paths("test_code_paths");
  test_code_paths.id().integer("builderid", kNotNull).text("path", kNotNull)
      .str("path_hash", 40, kNotNull)
      .unique("test_code_paths_path", {"builderid", "path_hash"})
      .fk({"builderid"}, "builders", {"id"}, true)
      .since_table(kTestResultsVersion);
  add(test_code_paths);

  T test_results("test_results");
  test_results.id().integer("builderid", kNotNull).integer("test_result_setid", kNotNull)
      .integer("test_nameid", kNull).integer("test_code_pathid", kNull).integer("line", kNull)
      .integer("duration_ns", kNull).text("value", kNotNull)
      .index("test_results_builderid", {"builderid"})
      .index("test_results_test_result_setid", {"test_result_setid"})
      .index("test_results_test_nameid", {"test_nameid"})
      .index("test_results_test_code_pathid", {"test_code_pathid"})
      .fk({"builderid"}, "builders", {"id"}, true)
      .fk({"test_result_setid"}, "test_result_sets", {"id"}, true)
      .fk({"test_nameid"}, "test_names", {"id"}, true)
      .fk({"test_code_pathid"}, "test_code_paths", {"id"}, true)
      .since_table(kTestResultsVersion);
  add(test_results);

  (void)kInt;
  return m;
}

}  // namespace

const Column& Table::column(const std::string& col) const {
  for (const auto& c : columns) {
    if (c.name == col) return c;
  }
  throw InternalError("model: table " + name + " has no column " + col);
}

const Table& Model::table(const std::string& name) const {
  for (const auto& t : tables) {
    if (t.name == name) return t;
  }
  throw InternalError("model: no table " + name);
}

const Model& current() {
  static const Model m = build_model();
  return m;
}

Model with_extensions() {
  Model m = current();
  for (const auto& ext : registered_extensions()) {
    for (auto& t : extension_at_version(*ext, ext->version()).tables) m.tables.push_back(std::move(t));
  }
  return m;
}

const Index& Table::index(const std::string& ix) const {
  for (const auto& i : indexes) {
    if (i.name == ix) return i;
  }
  throw InternalError("model: table " + name + " has no index " + ix);
}

Model at_version(int version) {
  Model m;
  for (const Table& t : current().tables) {
    if (t.since > version) continue;
    Table copy = t;
    std::erase_if(copy.columns, [&](const Column& c) { return c.since > version; });
    std::erase_if(copy.indexes, [&](const Index& i) { return i.since > version; });
    m.tables.push_back(std::move(copy));
  }
  return m;
}

std::string column_definition(const Column& c, const Dialect& d) {
  if (c.primary_key) return d.autoincrement_pk(c.name);
  std::string sql = d.quote(c.name) + " " + d.type_name(c.type, c.length);
  if (!c.nullable) sql += " NOT NULL";
  if (c.default_sql) sql += " DEFAULT " + *c.default_sql;
  return sql;
}

std::string create_index_statement(const Table& table, const Index& ix, const Dialect& d) {
  std::string cols;
  for (size_t i = 0; i < ix.columns.size(); ++i) cols += (i ? ", " : "") + d.quote(ix.columns[i]);
  return std::string(ix.unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ") + d.quote(ix.name) +
         " ON " + d.quote(table.name) + " (" + cols + ")";
}

int max_length(const std::string& table, const std::string& column) {
  const Column& c = current().table(table).column(column);
  return c.type == ColumnType::kString ? c.length : 0;
}

std::vector<std::string> create_statements(const Table& table, const Dialect& d) {
  auto join_quoted = [&](const std::vector<std::string>& cols) {
    std::string out;
    for (size_t i = 0; i < cols.size(); ++i) out += (i ? ", " : "") + d.quote(cols[i]);
    return out;
  };
  std::string sql = "CREATE TABLE " + d.quote(table.name) + " (\n";
  for (size_t i = 0; i < table.columns.size(); ++i) {
    sql += (i ? ",\n  " : "  ") + column_definition(table.columns[i], d);
  }
  for (const ForeignKey& fk : table.foreign_keys) {
    sql += ",\n  FOREIGN KEY (" + join_quoted(fk.columns) + ") REFERENCES " +
           d.quote(fk.ref_table) + " (" + join_quoted(fk.ref_columns) + ")";
    if (fk.on_delete_cascade) sql += " ON DELETE CASCADE";
  }
  sql += "\n)";
  // MySQL: engine, character set and the server's NO PAD binary collation (the dialect knows it).
  if (*d.table_options) sql += std::string(" ") + d.table_options;
  std::vector<std::string> out{sql};
  for (const Index& ix : table.indexes) out.push_back(create_index_statement(table, ix, d));
  return out;
}

}  // namespace ym::db::model
