#include "db/connectors/changes.hpp"

#include <algorithm>

#include "db/connectors/changes_util.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

db::Value opt_value(const std::optional<std::string>& s) {
  return s ? db::Value(*s) : db::Value(nullptr);
}

const SpecAccess<td::Change>& spec_access() {
  static const SpecAccess<td::Change> a{
      {{"changeid", [](const td::Change& c) { return db::Value(c.changeid); }},
       {"author", [](const td::Change& c) { return db::Value(c.author); }},
       {"committer", [](const td::Change& c) { return opt_value(c.committer); }},
       {"branch", [](const td::Change& c) { return opt_value(c.branch); }},
       {"revision", [](const td::Change& c) { return opt_value(c.revision); }},
       {"category", [](const td::Change& c) { return opt_value(c.category); }},
       {"repository", [](const td::Change& c) { return db::Value(c.repository); }},
       {"project", [](const td::Change& c) { return db::Value(c.project); }},
       {"codebase", [](const td::Change& c) { return db::Value(c.codebase); }},
       {"when_timestamp", [](const td::Change& c) { return db::Value(c.when_timestamp); }},
       {"sourcestampid", [](const td::Change& c) { return db::Value(c.sourcestampid); }}},
      {"changeid"},
      {{"changeid", false}}};
  return a;
}

db::Change to_record(const Store& s, const td::Change& r) {
  db::Change ch;
  ch.changeid = r.changeid;
  if (r.parent_changeids) ch.parent_changeids.push_back(*r.parent_changeids);
  ch.author = r.author;
  ch.committer = r.committer;
  ch.comments = r.comments;
  ch.revision = r.revision;
  ch.when_timestamp = Timestamp(std::chrono::seconds(r.when_timestamp));
  ch.branch = r.branch;
  ch.category = r.category;
  ch.revlink = r.revlink;
  ch.repository = r.repository;
  ch.project = r.project;
  ch.codebase = r.codebase;
  ch.sourcestampid = r.sourcestampid;
  std::vector<const td::ChangeFile*> files;
  for (const auto& f : s.change_files) {
    if (f.changeid == r.changeid) files.push_back(&f);
  }
  // The SQL order: numbered files by seq, then those without one (older rows) by name.
  std::stable_sort(files.begin(), files.end(), [](const td::ChangeFile* a, const td::ChangeFile* b) {
    if (a->seq.has_value() != b->seq.has_value()) return a->seq.has_value();
    if (a->seq) return *a->seq < *b->seq;
    return a->filename < b->filename;
  });
  for (const auto* f : files) ch.files.push_back(f->filename);
  for (const auto& p : s.change_properties) {
    if (p.changeid != r.changeid) continue;
    if (auto prop = db::internal::decode_change_property(p.property_value)) {
      ch.properties[p.property_name] = std::move(*prop);
    }
  }
  return ch;
}

std::optional<int64_t> parent_change_id(const Store& s, const std::optional<std::string>& branch,
                                        const std::string& repository, const std::string& project,
                                        const std::string& codebase) {
  for (auto it = s.changes.rbegin(); it != s.changes.rend(); ++it) {
    const td::Change& c = it->second;
    if (c.branch == branch && c.repository == repository && c.project == project &&
        c.codebase == codebase) {
      return c.changeid;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> change_of_stamp(const Store& s, int64_t ssid) {
  for (auto it = s.changes.rbegin(); it != s.changes.rend(); ++it) {
    if (it->second.sourcestampid == ssid) return it->first;
  }
  return std::nullopt;
}

class FakeBlameSource final : public db::internal::BlameSource {
 public:
  explicit FakeBlameSource(const Store& s) : s_(s) {}

  std::optional<Build> build(int64_t buildid) override {
    auto it = s_.builds.find(buildid);
    if (it == s_.builds.end()) return std::nullopt;
    return Build{it->second.builderid, it->second.number};
  }

  std::map<int64_t, std::vector<Stamp>> stamps_of_builds(
      const std::vector<int64_t>& buildids) override {
    std::map<int64_t, std::vector<Stamp>> out;
    for (int64_t id : buildids) {
      auto b = s_.builds.find(id);
      if (b == s_.builds.end()) continue;
      auto br = s_.buildrequests.find(b->second.buildrequestid);
      if (br == s_.buildrequests.end()) continue;
      std::vector<Stamp> stamps;
      for (const auto& [bssid, bss] : s_.buildset_sourcestamps) {
        if (bss.buildsetid != br->second.buildsetid) continue;
        auto ss = s_.sourcestamps.find(bss.sourcestampid);
        if (ss == s_.sourcestamps.end()) continue;
        stamps.push_back(
            Stamp{ss->first, ss->second.repository, ss->second.branch, ss->second.codebase});
      }
      std::sort(stamps.begin(), stamps.end(),
                [](const Stamp& a, const Stamp& b) { return a.ssid < b.ssid; });
      if (!stamps.empty()) out[id] = std::move(stamps);
    }
    return out;
  }

  std::vector<int64_t> previous_successful_builds(int64_t builderid, int64_t number, int64_t limit,
                                                  int64_t offset) override {
    std::vector<const td::Build*> found;
    for (const auto& [id, b] : s_.builds) {
      if (b.builderid == builderid && b.number < number && b.results == db::results::kSuccess) {
        found.push_back(&b);
      }
    }
    // Same order as the SQL: completed first, latest completion first, then highest number.
    std::sort(found.begin(), found.end(), [](const td::Build* a, const td::Build* b) {
      if (a->complete_at.has_value() != b->complete_at.has_value()) {
        return a->complete_at.has_value();
      }
      if (a->complete_at != b->complete_at) return *a->complete_at > *b->complete_at;
      return a->number > b->number;
    });
    std::vector<int64_t> out;
    for (size_t i = static_cast<size_t>(offset);
         i < found.size() && out.size() < static_cast<size_t>(limit); ++i) {
      out.push_back(found[i]->id);
    }
    return out;
  }

  std::optional<int64_t> change_of_stamp(int64_t ssid) override {
    return fake::change_of_stamp(s_, ssid);
  }

  std::optional<std::optional<int64_t>> parent_of(int64_t changeid) override {
    auto it = s_.changes.find(changeid);
    if (it == s_.changes.end()) return std::nullopt;
    return it->second.parent_changeids;
  }

 private:
  const Store& s_;
};

class FakeChanges final : public db::Changes {
 public:
  explicit FakeChanges(FakeDb::Access a) : a_(a) {}

  Future<int64_t> add_change(db::NewChange change) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) {
      db::internal::PreparedChange prepared = db::internal::prepare_change(std::move(change));
      const db::NewChange& ch = prepared.change;
      if (ch.uid && !s.users.count(*ch.uid)) {
        throw db::NotFound("no user with uid " + std::to_string(*ch.uid));
      }
      db::SourceStampSpec spec;
      spec.branch = ch.branch;
      spec.revision = ch.revision;
      spec.repository = ch.repository;
      spec.project = ch.project;
      spec.codebase = ch.codebase;
      int64_t ssid = find_source_stamp_id(s, spec, now);
      td::Change row;
      row.changeid = s.next_id("changes", s.changes);
      row.author = ch.author;
      row.committer = ch.committer;
      row.comments = ch.comments;
      row.branch = ch.branch;
      row.revision = ch.revision;
      row.revlink = ch.revlink;
      row.when_timestamp = ch.when_timestamp ? ch.when_timestamp->time_since_epoch().count() : now;
      row.category = ch.category;
      row.repository = ch.repository;
      row.codebase = ch.codebase;
      row.project = ch.project;
      row.sourcestampid = ssid;
      row.parent_changeids = parent_change_id(s, ch.branch, ch.repository, ch.project, ch.codebase);
      s.changes[row.changeid] = row;
      for (size_t i = 0; i < ch.files.size(); ++i) {
        s.change_files.push_back(
            td::ChangeFile{row.changeid, ch.files[i], static_cast<int64_t>(i)});
      }
      for (const auto& [name, json] : prepared.properties) {
        s.change_properties.push_back(td::ChangeProperty{row.changeid, name, json});
      }
      if (ch.uid) s.change_users.push_back(td::ChangeUser{row.changeid, *ch.uid});
      return row.changeid;
    });
  }

  Future<std::optional<db::Change>> get_change(int64_t changeid, bool /*no_cache*/) override {
    return a_.call([&](Store& s) -> std::optional<db::Change> {
      auto it = s.changes.find(changeid);
      if (it == s.changes.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<int64_t>> get_change_uids(int64_t changeid) override {
    return a_.call([&](Store& s) {
      std::vector<int64_t> out;
      for (const auto& cu : s.change_users) {
        if (cu.changeid == changeid) out.push_back(cu.uid);
      }
      std::sort(out.begin(), out.end());
      return out;
    });
  }

  Future<std::vector<db::Change>> get_recent_changes(int count) override {
    return a_.call([&](Store& s) {
      std::vector<db::Change> out;
      if (count <= 0) return out;
      auto it = s.changes.end();
      for (int n = 0; n < count && it != s.changes.begin(); ++n) --it;
      for (; it != s.changes.end(); ++it) out.push_back(to_record(s, it->second));
      return out;
    });
  }

  Future<std::vector<db::Change>> get_changes(db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      std::vector<td::Change> rows;
      for (const auto& [id, c] : s.changes) rows.push_back(c);
      std::vector<db::Change> out;
      for (const auto& r : apply_spec(std::move(rows), spec, spec_access())) {
        out.push_back(to_record(s, r));
      }
      return out;
    });
  }

  Future<int64_t> get_changes_count(db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      db::ResultSpec filters_only;
      filters_only.filters = spec.filters;
      std::vector<td::Change> rows;
      for (const auto& [id, c] : s.changes) rows.push_back(c);
      return static_cast<int64_t>(apply_spec(std::move(rows), filters_only, spec_access()).size());
    });
  }

  Future<std::optional<int64_t>> get_latest_change_id() override {
    return a_.call([&](Store& s) -> std::optional<int64_t> {
      if (s.changes.empty()) return std::nullopt;
      return s.changes.rbegin()->first;
    });
  }

  Future<std::optional<int64_t>> get_parent_change_id(std::optional<std::string> branch,
                                                      std::string repository, std::string project,
                                                      std::string codebase) override {
    return a_.call(
        [&](Store& s) { return parent_change_id(s, branch, repository, project, codebase); });
  }

  Future<std::vector<db::Change>> get_changes_for_build(int64_t buildid) override {  // rule's order
    return a_.call([&](Store& s) {
      if (!s.builds.count(buildid)) throw db::NotFound("no build with id " + std::to_string(buildid));
      FakeBlameSource src(s);
      std::vector<db::Change> out;
      for (int64_t id : db::internal::blame_change_ids(src, buildid)) {
        out.push_back(to_record(s, s.changes.at(id)));
      }
      return out;
    });
  }

  Future<std::optional<db::Change>> get_change_from_ssid(int64_t sourcestampid) override {
    return a_.call([&](Store& s) -> std::optional<db::Change> {
      auto id = change_of_stamp(s, sourcestampid);
      if (!id) return std::nullopt;
      return to_record(s, s.changes.at(*id));
    });
  }

  Future<void> prune_changes(int change_horizon) override {
    return a_.call([&](Store& s) {
      if (change_horizon < 0) {
        throw db::InvalidArgument("change horizon must not be negative (got " +
                                  std::to_string(change_horizon) + ")");
      }
      if (change_horizon == 0 || s.changes.size() <= static_cast<size_t>(change_horizon)) return;
      int64_t oldest_kept = std::prev(s.changes.end(), change_horizon)->first;
      auto gone = [&](int64_t changeid) { return changeid < oldest_kept; };
      for (auto& [id, ch] : s.changes) {
        if (ch.parent_changeids && gone(*ch.parent_changeids)) ch.parent_changeids.reset();
      }
      std::erase_if(s.scheduler_changes, [&](const auto& kv) { return gone(kv.first.second); });
      std::erase_if(s.change_files, [&](const td::ChangeFile& f) { return gone(f.changeid); });
      std::erase_if(s.change_properties, [&](const td::ChangeProperty& p) { return gone(p.changeid); });
      std::erase_if(s.change_users, [&](const td::ChangeUser& u) { return gone(u.changeid); });
      std::erase_if(s.changes, [&](const auto& kv) { return gone(kv.first); });
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::internal::BlameSource> make_fake_blame_source(const Store& s) {
  return std::make_unique<FakeBlameSource>(s);
}

std::unique_ptr<db::Changes> make_fake_changes(FakeDb::Access a) {
  return std::make_unique<FakeChanges>(a);
}

}  // namespace ym::fake
