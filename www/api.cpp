// The REST API: /api/v2/... in the shape of Buildbot's data API (docs/web.md).
//
// Each collection has a table of its fields and their types. Filters, order and paging arrive
// as query parameters and are checked against it (an unknown field or a value of the wrong type
// is 400). On the large tables (builds, build requests, buildsets, changes) they become the
// connector's ResultSpec and run in the database; the small ones (masters, builders, workers,
// ...) are read whole and the same parameters are applied to their JSON here.
#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "db/errors.hpp"
#include "master/schedulers.hpp"
#include "www/internal.hpp"

namespace ym::www {

using nlohmann::json;

namespace {

constexpr int64_t kMaxLimit = 10000;
// A collection of a large table without ?limit returns at most this many items.
constexpr int64_t kDefaultLimit = 1000;

// ------------------------------------------------------------------------------ records

json ts(Timestamp t) { return t.time_since_epoch().count(); }
template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_ts(const std::optional<Timestamp>& t) { return t ? ts(*t) : json(nullptr); }
json master_ref(const std::optional<int64_t>& id) {
  return id ? json{{"masterid", *id}} : json(nullptr);
}

json master_json(const db::Master& m) {
  return {{"masterid", m.id},
          {"name", m.name},
          {"active", m.active},
          {"last_active", ts(m.last_active)}};
}

json builder_json(const db::Builder& b) {
  return {{"builderid", b.id},
          {"name", b.name},
          {"description", opt(b.description)},
          {"masterids", b.masterids},
          {"tags", b.tags}};
}

json log_json(const db::Log& l) {
  return {{"logid", l.id},      {"name", l.name},         {"slug", l.slug},
          {"stepid", l.stepid}, {"complete", l.complete}, {"num_lines", l.num_lines},
          {"type", l.type}};
}

json request_json(const db::BuildRequest& r) {
  return {{"buildrequestid", r.buildrequestid},
          {"buildsetid", r.buildsetid},
          {"builderid", r.builderid},
          {"priority", r.priority},
          {"claimed", r.claimed},
          {"claimed_at", opt_ts(r.claimed_at)},
          {"claimed_by_masterid", opt(r.claimed_by_masterid)},
          {"complete", r.complete},
          {"complete_at", opt_ts(r.complete_at)},
          {"results", r.results},
          {"submitted_at", ts(r.submitted_at)},
          {"waited_for", r.waited_for}};
}

json buildset_json(const db::Buildset& b) {
  return {{"bsid", b.bsid},
          {"external_idstring", opt(b.external_idstring)},
          {"reason", opt(b.reason)},
          {"submitted_at", ts(b.submitted_at)},
          {"complete", b.complete},
          {"complete_at", opt_ts(b.complete_at)},
          {"results", b.results},
          {"parent_buildid", opt(b.parent_buildid)},
          {"parent_relationship", opt(b.parent_relationship)},
          {"sourcestamps", b.sourcestamps}};
}

json worker_json(const db::Worker& w) {
  json connected = json::array(), configured = json::array();
  for (int64_t m : w.connected_to) connected.push_back({{"masterid", m}});
  for (const auto& c : w.configured_on) {
    configured.push_back({{"builderid", c.builderid}, {"masterid", c.masterid}});
  }
  return {{"workerid", w.id},           {"name", w.name},         {"workerinfo", *w.workerinfo},
          {"paused", w.paused},         {"graceful", w.graceful}, {"connected_to", connected},
          {"configured_on", configured}};
}

json properties_json(const db::Properties& props) {
  json out = json::object();
  for (const auto& [name, p] : props) out[name] = json::array({*p.value, p.source});
  return out;
}

json change_json(const db::Change& c) {
  return {{"changeid", c.changeid},
          {"parent_changeids", c.parent_changeids},
          {"author", c.author},
          {"committer", opt(c.committer)},
          {"files", c.files},
          {"comments", c.comments},
          {"revision", opt(c.revision)},
          {"when_timestamp", ts(c.when_timestamp)},
          {"branch", opt(c.branch)},
          {"category", opt(c.category)},
          {"revlink", opt(c.revlink)},
          {"properties", properties_json(c.properties)},
          {"repository", c.repository},
          {"project", c.project},
          {"codebase", c.codebase},
          {"sourcestampid", c.sourcestampid}};
}

json force_json(const master::SchedulerConfig& s) {
  json props = json::object();
  for (const auto& [name, value] : s.properties) props[name] = value;
  return {{"name", s.name},
          {"label", s.name},
          {"builder_names", s.builders},
          {"reason", s.reason.value_or("forced from the web page")},
          {"branch", opt(s.branch)},
          {"repository", opt(s.repository)},
          {"project", opt(s.project)},
          {"codebase", opt(s.codebase)},
          {"properties", props}};
}

// ------------------------------------------------------------------------------ parameters

enum class Type { kInt, kBool, kString };

struct Field {
  std::string_view name;
  Type type;
  // The connector's name for it where filters and order run in the database; empty where the
  // collection is filtered here, or where a handler takes it apart (builds' `complete`).
  std::string_view db_name = {};
};

struct Collection {
  std::string_view name;  // the JSON key of the answer
  std::string_view id;    // its id field: the last tie-breaker of every order
  std::vector<Field> fields;
  const Field* field(std::string_view n) const {
    for (const auto& f : fields) {
      if (f.name == n) return &f;
    }
    return nullptr;
  }
};

const Collection kMasters{"masters",
                          "masterid",
                          {{"masterid", Type::kInt},
                           {"name", Type::kString},
                           {"active", Type::kBool},
                           {"last_active", Type::kInt}}};
const Collection kBuilders{
    "builders",
    "builderid",
    {{"builderid", Type::kInt}, {"name", Type::kString}, {"description", Type::kString}}};
const Collection kBuilds{"builds",
                         "buildid",
                         {{"buildid", Type::kInt, "id"},
                          {"number", Type::kInt, "number"},
                          {"builderid", Type::kInt, "builderid"},
                          {"buildrequestid", Type::kInt, "buildrequestid"},
                          {"workerid", Type::kInt, "workerid"},
                          {"masterid", Type::kInt, "masterid"},
                          {"started_at", Type::kInt, "started_at"},
                          {"complete_at", Type::kInt, "complete_at"},
                          {"complete", Type::kBool},
                          {"state_string", Type::kString, "state_string"},
                          {"results", Type::kInt, "results"}}};
const Collection kSteps{"steps",
                        "stepid",
                        {{"stepid", Type::kInt},
                         {"number", Type::kInt},
                         {"name", Type::kString},
                         {"buildid", Type::kInt},
                         {"started_at", Type::kInt},
                         {"complete_at", Type::kInt},
                         {"complete", Type::kBool},
                         {"state_string", Type::kString},
                         {"results", Type::kInt},
                         {"hidden", Type::kBool}}};
const Collection kLogs{"logs",
                       "logid",
                       {{"logid", Type::kInt},
                        {"name", Type::kString},
                        {"slug", Type::kString},
                        {"stepid", Type::kInt},
                        {"complete", Type::kBool},
                        {"num_lines", Type::kInt},
                        {"type", Type::kString}}};
const Collection kRequests{"buildrequests",
                           "buildrequestid",
                           {{"buildrequestid", Type::kInt, "buildrequestid"},
                            {"buildsetid", Type::kInt, "buildsetid"},
                            {"builderid", Type::kInt, "builderid"},
                            {"priority", Type::kInt, "priority"},
                            {"claimed", Type::kBool},
                            {"claimed_at", Type::kInt, "claimed_at"},
                            {"claimed_by_masterid", Type::kInt, "claimed_by_masterid"},
                            {"complete", Type::kBool, "complete"},
                            {"complete_at", Type::kInt, "complete_at"},
                            {"results", Type::kInt, "results"},
                            {"submitted_at", Type::kInt, "submitted_at"},
                            {"waited_for", Type::kBool, "waited_for"}}};
const Collection kBuildsets{"buildsets",
                            "bsid",
                            {{"bsid", Type::kInt, "bsid"},
                             {"external_idstring", Type::kString, "external_idstring"},
                             {"reason", Type::kString, "reason"},
                             {"submitted_at", Type::kInt, "submitted_at"},
                             {"complete", Type::kBool, "complete"},
                             {"complete_at", Type::kInt, "complete_at"},
                             {"results", Type::kInt, "results"},
                             {"parent_buildid", Type::kInt, "parent_buildid"}}};
const Collection kWorkers{"workers",
                          "workerid",
                          {{"workerid", Type::kInt},
                           {"name", Type::kString},
                           {"paused", Type::kBool},
                           {"graceful", Type::kBool}}};
const Collection kChanges{"changes",
                          "changeid",
                          {{"changeid", Type::kInt, "changeid"},
                           {"author", Type::kString, "author"},
                           {"committer", Type::kString, "committer"},
                           {"branch", Type::kString, "branch"},
                           {"revision", Type::kString, "revision"},
                           {"category", Type::kString, "category"},
                           {"repository", Type::kString, "repository"},
                           {"project", Type::kString, "project"},
                           {"codebase", Type::kString, "codebase"},
                           {"when_timestamp", Type::kInt, "when_timestamp"},
                           {"sourcestampid", Type::kInt, "sourcestampid"}}};
const Collection kChangeSources{
    "changesources", "changesourceid", {{"changesourceid", Type::kInt}, {"name", Type::kString}}};
const Collection kSchedulers{
    "schedulers",
    "schedulerid",
    {{"schedulerid", Type::kInt}, {"name", Type::kString}, {"enabled", Type::kBool}}};
const Collection kForceSchedulers{"forceschedulers", "name", {{"name", Type::kString}}};

struct Filter {
  const Field* field;
  db::FieldFilter::Op op;
  std::vector<json> values;  // any of them (kEq); one for the others
};

struct Order {
  const Field* field;
  bool descending;
};

struct ListParams {
  std::vector<Filter> filters;
  std::vector<Order> order;
  std::optional<int64_t> limit, offset;
};

int64_t parse_int(std::string_view text, std::string_view what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw HttpError(400, fmt::format("{} must be an integer, not '{}'", what, text));
  }
  return v;
}

json parse_value(const Field& f, const std::string& text) {
  if (text == "null") return nullptr;
  switch (f.type) {
    case Type::kInt:
      return parse_int(text, f.name);
    case Type::kBool:
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
      throw HttpError(400, fmt::format("{} must be true or false, not '{}'", f.name, text));
    case Type::kString:
      break;
  }
  return text;
}

// Reads limit, offset, order and filters; `reserved` names parameters the caller handles.
ListParams parse_list(const Query& query, const Collection& c,
                      std::initializer_list<std::string_view> reserved = {}) {
  static const std::map<std::string_view, db::FieldFilter::Op> kOps{
      {"eq", db::FieldFilter::Op::kEq}, {"ne", db::FieldFilter::Op::kNe},
      {"lt", db::FieldFilter::Op::kLt}, {"le", db::FieldFilter::Op::kLe},
      {"gt", db::FieldFilter::Op::kGt}, {"ge", db::FieldFilter::Op::kGe}};
  ListParams p;
  std::map<std::pair<const Field*, int>, size_t> eq_filter;  // repeated FIELD=V: any of them
  for (const auto& [key, value] : query) {
    if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
    if (key == "limit") {
      p.limit = parse_int(value, "limit");
      if (*p.limit < 0 || *p.limit > kMaxLimit) {
        throw HttpError(400, fmt::format("limit must be between 0 and {}", kMaxLimit));
      }
    } else if (key == "offset") {
      p.offset = parse_int(value, "offset");
      if (*p.offset < 0) throw HttpError(400, "offset must be 0 or more");
    } else if (key == "order") {
      bool desc = !value.empty() && value[0] == '-';
      std::string_view name = std::string_view(value).substr(desc ? 1 : 0);
      const Field* f = c.field(name);
      if (!f) {
        throw HttpError(400, fmt::format("{} cannot be ordered by '{}'", c.name, name));
      }
      p.order.push_back({f, desc});
    } else if (key == "field" || key == "property") {
      // Buildbot's field selection and build properties in lists: not offered (yet).
      throw HttpError(400, fmt::format("'{}' is not supported; see docs/web.md", key));
    } else {
      size_t sep = key.find("__");
      std::string_view name = std::string_view(key).substr(0, sep);
      std::string_view op_name =
          sep == std::string::npos ? "eq" : std::string_view(key).substr(sep + 2);
      const Field* f = c.field(name);
      auto op = kOps.find(op_name);
      if (!f || op == kOps.end()) {
        throw HttpError(400, fmt::format("unknown parameter '{}' for {}", key, c.name));
      }
      json v = parse_value(*f, value);
      if (op->second == db::FieldFilter::Op::kEq) {
        auto [it, fresh] = eq_filter.try_emplace({f, 0}, p.filters.size());
        if (!fresh) {
          p.filters[it->second].values.push_back(std::move(v));
          continue;
        }
      } else if (v.is_null() && op->second != db::FieldFilter::Op::kNe) {
        throw HttpError(400, fmt::format("{}: null can only be compared with eq or ne", key));
      }
      p.filters.push_back({f, op->second, {std::move(v)}});
    }
  }
  return p;
}

bool matches(const json& item, const Filter& f) {
  const json& v = item.at(std::string(f.field->name));
  auto cmp = [&](const json& want) {
    switch (f.op) {
      case db::FieldFilter::Op::kEq:
      case db::FieldFilter::Op::kIn:
        return v == want;
      case db::FieldFilter::Op::kNe:
        return v != want;
      case db::FieldFilter::Op::kLt:
        return !v.is_null() && v < want;
      case db::FieldFilter::Op::kLe:
        return !v.is_null() && v <= want;
      case db::FieldFilter::Op::kGt:
        return !v.is_null() && v > want;
      case db::FieldFilter::Op::kGe:
        return !v.is_null() && v >= want;
    }
    return false;
  };
  return std::any_of(f.values.begin(), f.values.end(), cmp);
}

// Applies the parameters to a whole collection read from the database.
json apply(std::vector<json> items, const ListParams& p, const Collection& c) {
  std::erase_if(items, [&](const json& item) {
    return !std::all_of(p.filters.begin(), p.filters.end(),
                        [&](const Filter& f) { return matches(item, f); });
  });
  std::string id(c.id);
  std::stable_sort(items.begin(), items.end(), [&](const json& a, const json& b) {
    for (const auto& o : p.order) {
      std::string k(o.field->name);
      if (a.at(k) != b.at(k)) return o.descending ? b.at(k) < a.at(k) : a.at(k) < b.at(k);
    }
    return a.at(id) < b.at(id);
  });
  int64_t total = static_cast<int64_t>(items.size());
  int64_t first = std::min(p.offset.value_or(0), total);
  int64_t last = p.limit ? std::min(total, first + *p.limit) : total;
  json list = json::array();
  for (int64_t i = first; i < last; ++i) list.push_back(std::move(items[i]));
  return {{std::string(c.name), std::move(list)}, {"meta", {{"total", total}}}};
}

db::Value to_db_value(const json& v) {
  if (v.is_null()) return nullptr;
  if (v.is_boolean()) return db::to_value(v.get<bool>());
  if (v.is_number_integer()) return v.get<int64_t>();
  return v.get<std::string>();
}

// The parameters as a ResultSpec for the connector: fields without a db_name were taken out by
// the handler. One row more than the page is asked for, to tell whether there are more.
db::ResultSpec to_spec(const ListParams& p, const Collection& c) {
  db::ResultSpec spec;
  for (const auto& f : p.filters) {
    if (f.field->db_name.empty()) continue;
    db::FieldFilter ff{std::string(f.field->db_name), f.op, {}};
    for (const auto& v : f.values) ff.values.push_back(to_db_value(v));
    if (ff.values.size() > 1) ff.op = db::FieldFilter::Op::kIn;
    if (ff.op == db::FieldFilter::Op::kIn &&
        std::any_of(f.values.begin(), f.values.end(), [](const json& v) { return v.is_null(); })) {
      throw HttpError(400, fmt::format("{}: null cannot be one of several values", f.field->name));
    }
    spec.filters.push_back(std::move(ff));
  }
  for (const auto& o : p.order) {
    if (o.field->db_name.empty()) {
      throw HttpError(400, fmt::format("{} cannot be ordered by '{}'", c.name, o.field->name));
    }
    spec.order.push_back({std::string(o.field->db_name), o.descending});
  }
  spec.limit = p.limit.value_or(kDefaultLimit) + 1;
  if (p.offset) spec.offset = p.offset;
  return spec;
}

// Takes the filter on `name` out of the parameters (for a connector argument): only FIELD=VALUE
// with one value.
std::optional<json> take_filter(ListParams& p, std::string_view name) {
  for (auto it = p.filters.begin(); it != p.filters.end(); ++it) {
    if (it->field->name != name) continue;
    if (it->op != db::FieldFilter::Op::kEq || it->values.size() != 1 || it->values[0].is_null()) {
      throw HttpError(400,
                      fmt::format("{} takes one value: {}=true or {}=false", name, name, name));
    }
    json v = it->values[0];
    p.filters.erase(it);
    return v;
  }
  return std::nullopt;
}

template <class T, class F>
json page(std::vector<T> rows, const ListParams& p, const Collection& c, F to_json) {
  int64_t limit = p.limit.value_or(kDefaultLimit);
  bool more = static_cast<int64_t>(rows.size()) > limit;
  if (more) rows.resize(limit);
  json list = json::array();
  for (const auto& r : rows) list.push_back(to_json(r));
  return {{std::string(c.name), std::move(list)}, {"meta", {{"more", more}}}};
}

template <class T, class F>
json whole(const std::vector<T>& rows, const Query& query, const Collection& c, F to_json) {
  std::vector<json> items;
  items.reserve(rows.size());
  for (const auto& r : rows) items.push_back(to_json(r));
  return apply(std::move(items), parse_list(query, c), c);
}

json one(std::string_view key, json item) {
  return {{std::string(key), json::array({std::move(item)})}, {"meta", {{"total", 1}}}};
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_number(std::string_view s) {
  return !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Compares without an early exit, so that the time taken tells nothing of where a guess differs
// (only, at most, the length of the guess).
bool same_secret(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() != secret.size() ? 1 : 0;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i]) ^
            static_cast<unsigned char>(secret[i % secret.size()]);
  }
  return diff == 0;
}

class Api {
 public:
  Api(Context& cx, const Request& req, const Query& query) : cx_(cx), req_(req), query_(query) {}

  Awaitable<json> get(const std::vector<std::string>& seg);
  Awaitable<json> force(const std::string& name);

 private:
  db::Db& db() { return cx_.db; }
  Awaitable<db::Builder> builder(const std::string& ref);
  Awaitable<db::Build> build(int64_t id);
  Awaitable<json> builds(std::optional<int64_t> builderid);
  Awaitable<json> log_contents(int64_t logid);

  Context& cx_;
  const Request& req_;
  const Query& query_;
};

Awaitable<db::Builder> Api::builder(const std::string& ref) {
  std::optional<db::Builder> b;
  if (is_number(ref)) {
    int64_t id = parse_id(ref, "builder id");
    b = co_await db_call(cx_, [&] { return db().builders().get_builder(id); });
  } else {
    auto all = co_await db_call(cx_, [&] { return db().builders().get_builders(); });
    for (auto& x : all) {
      if (x.name == ref) b = std::move(x);
    }
  }
  if (!b) throw HttpError(404, fmt::format("unknown builder {}", ref));
  co_return std::move(*b);
}

Awaitable<db::Build> Api::build(int64_t id) {
  auto b = co_await db_call(cx_, [&] { return db().builds().get_build(id); });
  if (!b) throw HttpError(404, fmt::format("unknown build {}", id));
  co_return std::move(*b);
}

Awaitable<json> Api::builds(std::optional<int64_t> builderid) {
  ListParams p = parse_list(query_, kBuilds);
  db::BuildFilter filter;
  filter.builderid = builderid;
  if (auto c = take_filter(p, "complete")) filter.complete = c->get<bool>();
  filter.spec = to_spec(p, kBuilds);
  auto rows = co_await db_call(cx_, [&] { return db().builds().get_builds(filter); });
  co_return page(std::move(rows), p, kBuilds, build_json);
}

Awaitable<json> Api::log_contents(int64_t logid) {
  auto log = co_await db_call(cx_, [&] { return db().logs().get_log(logid); });
  if (!log) throw HttpError(404, fmt::format("unknown log {}", logid));
  int64_t offset = 0, limit = kMaxLimit;
  for (const auto& [key, value] : query_) {
    if (key == "offset") {
      offset = parse_int(value, "offset");
      if (offset < 0) throw HttpError(400, "offset must be 0 or more");
    } else if (key == "limit") {
      limit = parse_int(value, "limit");
      if (limit < 0 || limit > kMaxLimit) {
        throw HttpError(400, fmt::format("limit must be between 0 and {}", kMaxLimit));
      }
    } else {
      throw HttpError(400, fmt::format("unknown parameter '{}' for log contents", key));
    }
  }
  std::string content;
  if (limit > 0 && offset < log->num_lines) {
    content = co_await db_call(
        cx_, [&] { return db().logs().get_log_lines(logid, offset, offset + limit - 1); });
  }
  json chunks = json::array();
  if (!content.empty())
    chunks.push_back({{"logid", logid}, {"firstline", offset}, {"content", content}});
  co_return json{{"logchunks", chunks}, {"meta", {{"total", log->num_lines}}}};
}

Awaitable<json> Api::get(const std::vector<std::string>& seg) {
  const std::string& root = seg[0];
  size_t n = seg.size();
  auto id_at = [&](size_t i, std::string_view what) { return parse_id(seg[i], what); };
  auto no_params = [&] {
    if (!query_.empty())
      throw HttpError(400, fmt::format("unknown parameter '{}'", query_[0].first));
  };
  if (root == "masters") {
    auto rows = co_await db_call(cx_, [&] { return db().masters().get_masters(); });
    if (n == 1) co_return whole(rows, query_, kMasters, master_json);
    if (n == 2) {
      int64_t id = id_at(1, "master id");
      no_params();
      for (const auto& m : rows) {
        if (m.id == id) co_return one("masters", master_json(m));
      }
      throw HttpError(404, fmt::format("unknown master {}", id));
    }
  } else if (root == "builders") {
    if (n == 1) {
      auto rows = co_await db_call(cx_, [&] { return db().builders().get_builders(); });
      co_return whole(rows, query_, kBuilders, builder_json);
    }
    db::Builder b = co_await builder(seg[1]);
    if (n == 2) {
      no_params();
      co_return one("builders", builder_json(b));
    }
    if (n == 3 && seg[2] == "builds") co_return co_await builds(b.id);
    if (n == 4 && seg[2] == "builds") {
      int number = static_cast<int>(std::min<int64_t>(id_at(3, "build number"), INT32_MAX));
      no_params();
      auto r =
          co_await db_call(cx_, [&] { return db().builds().get_build_by_number(b.id, number); });
      if (!r) throw HttpError(404, fmt::format("builder {} has no build {}", b.name, number));
      co_return one("builds", build_json(*r));
    }
  } else if (root == "builds") {
    if (n == 1) co_return co_await builds(std::nullopt);
    int64_t id = id_at(1, "build id");
    db::Build b = co_await build(id);
    if (n == 2) {
      no_params();
      co_return one("builds", build_json(b));
    }
    if (n == 3 && seg[2] == "steps") {
      auto rows = co_await db_call(cx_, [&] { return db().steps().get_steps(id); });
      co_return whole(rows, query_, kSteps, step_json);
    }
    if (n == 4 && seg[2] == "steps") {
      no_params();
      auto rows = co_await db_call(cx_, [&] { return db().steps().get_steps(id); });
      for (const auto& s : rows) {
        if (std::to_string(s.number) == seg[3] || s.name == seg[3])
          co_return one("steps", step_json(s));
      }
      throw HttpError(404, fmt::format("build {} has no step {}", id, seg[3]));
    }
    if (n == 3 && seg[2] == "properties") {
      no_params();
      auto props = co_await db_call(cx_, [&] { return db().builds().get_build_properties(id); });
      co_return json{{"properties", json::array({properties_json(props)})},
                     {"meta", {{"total", 1}}}};
    }
  } else if (root == "steps" && n >= 2) {
    int64_t id = id_at(1, "step id");
    auto s = co_await db_call(cx_, [&] { return db().steps().get_step(id); });
    if (!s) throw HttpError(404, fmt::format("unknown step {}", id));
    if (n == 2) {
      no_params();
      co_return one("steps", step_json(*s));
    }
    if (seg[2] == "logs" && n == 3) {
      auto rows = co_await db_call(cx_, [&] { return db().logs().get_logs(id); });
      co_return whole(rows, query_, kLogs, log_json);
    }
    if (seg[2] == "logs" && n == 4) {
      no_params();
      auto l = co_await db_call(cx_, [&] { return db().logs().get_log_by_slug(id, seg[3]); });
      if (!l) throw HttpError(404, fmt::format("step {} has no log {}", id, seg[3]));
      co_return one("logs", log_json(*l));
    }
  } else if (root == "logs" && n >= 2) {
    int64_t id = id_at(1, "log id");
    if (n == 2) {
      no_params();
      auto l = co_await db_call(cx_, [&] { return db().logs().get_log(id); });
      if (!l) throw HttpError(404, fmt::format("unknown log {}", id));
      co_return one("logs", log_json(*l));
    }
    if (n == 3 && seg[2] == "contents") co_return co_await log_contents(id);
  } else if (root == "buildrequests") {
    if (n == 1) {
      ListParams p = parse_list(query_, kRequests);
      db::BuildRequestFilter filter;
      if (auto c = take_filter(p, "claimed")) {
        filter.claimed = c->get<bool>() ? db::ClaimFilter::claimed() : db::ClaimFilter::unclaimed();
      }
      filter.spec = to_spec(p, kRequests);
      if (p.order.empty()) filter.spec.order.push_back({"buildrequestid", false});
      auto rows =
          co_await db_call(cx_, [&] { return db().buildrequests().get_build_requests(filter); });
      co_return page(std::move(rows), p, kRequests, request_json);
    }
    if (n == 2) {
      int64_t id = id_at(1, "build request id");
      no_params();
      auto r = co_await db_call(cx_, [&] { return db().buildrequests().get_build_request(id); });
      if (!r) throw HttpError(404, fmt::format("unknown build request {}", id));
      co_return one("buildrequests", request_json(*r));
    }
  } else if (root == "buildsets") {
    if (n == 1) {
      ListParams p = parse_list(query_, kBuildsets);
      db::ResultSpec spec = to_spec(p, kBuildsets);
      auto rows = co_await db_call(cx_, [&] { return db().buildsets().get_buildsets({}, spec); });
      co_return page(std::move(rows), p, kBuildsets, buildset_json);
    }
    if (n == 2) {
      int64_t id = id_at(1, "buildset id");
      no_params();
      auto r = co_await db_call(cx_, [&] { return db().buildsets().get_buildset(id); });
      if (!r) throw HttpError(404, fmt::format("unknown buildset {}", id));
      co_return one("buildsets", buildset_json(*r));
    }
  } else if (root == "workers") {
    auto rows = co_await db_call(cx_, [&] { return db().workers().get_workers(); });
    if (n == 1) co_return whole(rows, query_, kWorkers, worker_json);
    if (n == 2) {
      no_params();
      for (const auto& w : rows) {
        if (w.name == seg[1] || (is_number(seg[1]) && std::to_string(w.id) == seg[1])) {
          co_return one("workers", worker_json(w));
        }
      }
      throw HttpError(404, fmt::format("unknown worker {}", seg[1]));
    }
  } else if (root == "changes") {
    if (n == 1) {
      ListParams p = parse_list(query_, kChanges);
      db::ResultSpec spec = to_spec(p, kChanges);
      auto rows = co_await db_call(cx_, [&] { return db().changes().get_changes(spec); });
      co_return page(std::move(rows), p, kChanges, change_json);
    }
    if (n == 2) {
      int64_t id = id_at(1, "change id");
      no_params();
      auto r = co_await db_call(cx_, [&] { return db().changes().get_change(id); });
      if (!r) throw HttpError(404, fmt::format("unknown change {}", id));
      co_return one("changes", change_json(*r));
    }
  } else if (root == "changesources" && n == 1) {
    auto rows = co_await db_call(cx_, [&] { return db().changesources().get_change_sources(); });
    co_return whole(rows, query_, kChangeSources, [](const db::ChangeSource& c) {
      return json{{"changesourceid", c.id}, {"name", c.name}, {"master", master_ref(c.masterid)}};
    });
  } else if (root == "schedulers" && n == 1) {
    auto rows = co_await db_call(cx_, [&] { return db().schedulers().get_schedulers(); });
    co_return whole(rows, query_, kSchedulers, [](const db::Scheduler& s) {
      return json{{"schedulerid", s.id},
                  {"name", s.name},
                  {"enabled", s.enabled},
                  {"master", master_ref(s.masterid)}};
    });
  } else if (root == "forceschedulers" && n <= 2) {
    // Offered only when a POST could succeed: the page shows its form from this list.
    std::vector<master::SchedulerConfig> offered;
    if (cx_.options.force_token) offered = cx_.options.force_schedulers;
    if (n == 1) co_return whole(offered, query_, kForceSchedulers, force_json);
    no_params();
    for (const auto& s : offered) {
      if (s.name == seg[1]) co_return one("forceschedulers", force_json(s));
    }
    throw HttpError(404, fmt::format("unknown force scheduler {}", seg[1]));
  }
  std::string path;
  for (const auto& s : seg) path += "/" + s;
  throw HttpError(404, fmt::format("no such path: /api/v2{}", path));
}

std::optional<std::string> string_param(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw HttpError(400, fmt::format("params.{} must be a string", name));
  std::string v = it->get<std::string>();
  if (v.empty()) return std::nullopt;
  return v;
}

Awaitable<json> Api::force(const std::string& name) {
  if (!cx_.options.force_token) {
    throw HttpError(403,
                    "force builds are off: the master's [www] section has no force_token_file");
  }
  std::string_view auth(req_[http::field::authorization].data(),
                        req_[http::field::authorization].size());
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.substr(0, kBearer.size()) != kBearer ||
      !same_secret(auth.substr(kBearer.size()), *cx_.options.force_token)) {
    throw HttpError(401, "a force build needs the token: Authorization: Bearer TOKEN");
  }
  const master::SchedulerConfig* sc = nullptr;
  for (const auto& s : cx_.options.force_schedulers) {
    if (s.name == name) sc = &s;
  }
  if (!sc) throw HttpError(404, fmt::format("unknown force scheduler {}", name));
  json body = json::parse(req_.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw HttpError(400, "the body must be a JSON-RPC object: {\"method\": \"force\", ...}");
  }
  if (body.value("method", json()) != "force") throw HttpError(400, "method must be \"force\"");
  json params = body.value("params", json::object());
  if (!params.is_object()) throw HttpError(400, "params must be an object");

  master::SchedulerConfig config = *sc;
  if (auto it = params.find("builderNames"); it != params.end() && !it->is_null()) {
    if (!it->is_array() || it->empty()) {
      throw HttpError(400, "params.builderNames must be a list of builder names");
    }
    std::vector<std::string> chosen;
    for (const auto& b : *it) {
      if (!b.is_string() || std::find(sc->builders.begin(), sc->builders.end(),
                                      b.get<std::string>()) == sc->builders.end()) {
        throw HttpError(
            400, fmt::format("{} is not a builder of force scheduler {}", b.dump(), sc->name));
      }
      if (std::find(chosen.begin(), chosen.end(), b) == chosen.end()) chosen.push_back(b);
    }
    config.builders = std::move(chosen);
  }
  db::Properties props;
  if (auto it = params.find("properties"); it != params.end() && !it->is_null()) {
    if (!it->is_object()) throw HttpError(400, "params.properties must be an object");
    for (const auto& [k, v] : it->items()) props[k] = db::Property{v, "Force"};
  }
  std::string reason =
      string_param(params, "reason").value_or(sc->reason.value_or("forced from the web page"));
  auto given = [&](const char* key) { return string_param(params, key).value_or(""); };
  std::vector<db::SourceStampRef> stamps =
      master::forced_stamps({given("branch"), given("revision"), given("repository"),
                             given("project"), given("codebase")},
                            sc);
  auto added = co_await db_call(
      cx_, [&] { return master::add_scheduler_buildset(db(), config, stamps, props, reason); });
  spdlog::info("web: force scheduler {} added buildset {}", sc->name, added.bsid);
  json brids = json::object();
  for (const auto& [builderid, brid] : added.brids) brids[std::to_string(builderid)] = brid;
  co_return json{{"jsonrpc", "2.0"},
                 {"id", body.value("id", json())},
                 {"result", json::array({added.bsid, brids})}};
}

}  // namespace

int64_t parse_id(std::string_view text, std::string_view what) {
  if (!is_number(text)) {
    throw HttpError(400, fmt::format("{} must be a positive integer, not '{}'", what, text));
  }
  int64_t v = parse_int(text, what);
  if (v <= 0) throw HttpError(400, fmt::format("{} must be a positive integer", what));
  return v;
}

json build_json(const db::Build& b) {
  return {{"buildid", b.id},
          {"number", b.number},
          {"builderid", b.builderid},
          {"buildrequestid", b.buildrequestid},
          {"workerid", opt(b.workerid)},
          {"masterid", b.masterid},
          {"started_at", ts(b.started_at)},
          {"complete_at", opt_ts(b.complete_at)},
          {"complete", b.complete_at.has_value()},
          {"state_string", b.state_string},
          {"results", opt(b.results)}};
}

json step_json(const db::Step& s) {
  json urls = json::array();
  for (const auto& u : s.urls) urls.push_back({{"name", u.name}, {"url", u.url}});
  return {{"stepid", s.id},
          {"number", s.number},
          {"name", s.name},
          {"buildid", s.buildid},
          {"started_at", opt_ts(s.started_at)},
          {"complete_at", opt_ts(s.complete_at)},
          {"complete", s.complete_at.has_value()},
          {"state_string", s.state_string},
          {"results", opt(s.results)},
          {"urls", urls},
          {"hidden", s.hidden}};
}

Awaitable<Response> handle_api(Context& cx, const Request& req, const std::string& path,
                               const Query& query) {
  std::vector<std::string> seg = split(path);
  if (path.empty()) {
    if (req.method() != http::verb::get) throw HttpError(405, "the API root takes GET");
    co_return json_response(200, {{"api", "v2"}, {"docs", "docs/web.md"}}, req);
  }
  Api api(cx, req, query);
  if (req.method() == http::verb::post) {
    if (seg.size() != 2 || seg[0] != "forceschedulers") {
      throw HttpError(405, "only POST /api/v2/forceschedulers/NAME writes; everything else is GET");
    }
    co_return json_response(200, co_await api.force(seg[1]), req);
  }
  if (req.method() != http::verb::get)
    throw HttpError(405, "the API takes GET (and POST to force)");
  co_return json_response(200, co_await api.get(seg), req);
}

}  // namespace ym::www
