#include "db/connectors/sourcestamps.hpp"

#include <set>

#include "db/connectors/sourcestamps_internal.hpp"
#include "fake/internal.hpp"
#include "fake/result_spec.hpp"

namespace ym::fake {
namespace {

db::SourceStamp to_record(const Store& s, const td::SourceStamp& ss) {
  db::SourceStamp r;
  r.ssid = ss.id;
  r.branch = ss.branch;
  r.revision = ss.revision;
  r.patchid = ss.patchid;
  if (ss.patchid) {
    if (auto it = s.patches.find(*ss.patchid); it != s.patches.end()) {
      const td::Patch& p = it->second;
      r.patch_body = db::internal::base64_decode(p.patch_base64, "patch " + std::to_string(p.id));
      r.patch_level = p.patchlevel;
      r.patch_subdir = p.subdir;
      r.patch_author = p.patch_author;
      r.patch_comment = p.patch_comment;
    }
  }
  r.repository = ss.repository;
  r.project = ss.project;
  r.codebase = ss.codebase;
  r.created_at = Timestamp(std::chrono::seconds(ss.created_at));
  return r;
}

const SpecAccess<db::SourceStamp>& stamp_access() {
  using R = db::SourceStamp;
  static const SpecAccess<R> a{
      {{"ssid", [](const R& r) { return db::to_value(r.ssid); }},
       {"branch", [](const R& r) { return db::to_value(r.branch); }},
       {"revision", [](const R& r) { return db::to_value(r.revision); }},
       {"repository", [](const R& r) { return db::to_value(r.repository); }},
       {"project", [](const R& r) { return db::to_value(r.project); }},
       {"codebase", [](const R& r) { return db::to_value(r.codebase); }},
       {"created_at", [](const R& r) { return db::to_value(r.created_at); }}},
      {"ssid"},
      {}};
  return a;
}

class FakeSourceStamps final : public db::SourceStamps {
 public:
  explicit FakeSourceStamps(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_source_stamp_id(db::SourceStampSpec spec) override {
    int64_t now = a_.now();
    return a_.call([&](Store& s) { return fake::find_source_stamp_id(s, spec, now); });
  }

  Future<std::optional<db::SourceStamp>> get_source_stamp(int64_t ssid, bool) override {
    return a_.call([&](Store& s) -> std::optional<db::SourceStamp> {
      auto it = s.sourcestamps.find(ssid);
      if (it == s.sourcestamps.end()) return std::nullopt;
      return to_record(s, it->second);
    });
  }

  Future<std::vector<db::SourceStamp>> get_source_stamps(db::ResultSpec spec) override {
    return a_.call([&](Store& s) {
      std::vector<db::SourceStamp> all;
      for (const auto& [id, ss] : s.sourcestamps) all.push_back(to_record(s, ss));
      return apply_spec(std::move(all), spec, stamp_access());
    });
  }

  Future<std::vector<db::SourceStamp>> get_source_stamps_for_build(int64_t buildid) override {
    return a_.call([&](Store& s) {
      std::vector<db::SourceStamp> out;
      auto b = s.builds.find(buildid);
      if (b == s.builds.end()) return out;
      auto br = s.buildrequests.find(b->second.buildrequestid);
      if (br == s.buildrequests.end()) return out;
      std::set<int64_t> ssids;
      for (const auto& [id, bss] : s.buildset_sourcestamps) {
        if (bss.buildsetid == br->second.buildsetid) ssids.insert(bss.sourcestampid);
      }
      for (int64_t ssid : ssids) {
        if (auto it = s.sourcestamps.find(ssid); it != s.sourcestamps.end()) {
          out.push_back(to_record(s, it->second));
        }
      }
      return out;
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

int64_t find_source_stamp_id(Store& s, const db::SourceStampSpec& spec, int64_t now) {
  db::internal::check_source_stamp_spec(spec);
  std::optional<int64_t> patchid;
  if (spec.patch_body) {
    int64_t id = s.next_id("patches", s.patches);
    s.patches[id] = td::Patch{id,
                              spec.patch_level.value_or(0),
                              db::internal::base64_encode(*spec.patch_body),
                              spec.patch_author.value_or(""),
                              spec.patch_comment.value_or(""),
                              spec.patch_subdir};
    patchid = id;
  }
  std::string hash = td::source_stamp_hash(spec.branch, spec.revision, spec.repository,
                                           spec.project, spec.codebase, patchid);
  for (const auto& [id, ss] : s.sourcestamps) {
    if (ss.ss_hash == hash) return id;
  }
  int64_t id = s.next_id("sourcestamps", s.sourcestamps);
  s.sourcestamps[id] = td::SourceStamp{.id = id,
                                       .branch = spec.branch,
                                       .revision = spec.revision,
                                       .patchid = patchid,
                                       .repository = spec.repository,
                                       .codebase = spec.codebase,
                                       .project = spec.project,
                                       .created_at = now,
                                       .ss_hash = hash};
  return id;
}

std::unique_ptr<db::SourceStamps> make_fake_sourcestamps(FakeDb::Access a) {
  return std::make_unique<FakeSourceStamps>(a);
}

}  // namespace ym::fake
