#include "db/connectors/builders.hpp"

#include <map>
#include <set>

#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

void require_row(Connection& c, const char* sql, int64_t id, const char* what) {
  if (!c.stmt(sql).bind(id).one()) throw NotFound("no " + std::string(what) + " with id " + std::to_string(id));
}

class SqlBuilders final : public Builders {
 public:
  explicit SqlBuilders(internal::Context& ctx)
      : ctx_(ctx), ids_(ctx.caches.make<std::string, int64_t>("builderids")) {}

  Future<std::optional<int64_t>> find_builder_id(std::string name, bool auto_create) override {
    try {
      check_identifier("builder name", name, kBuilderNameMax);
    } catch (const Error& e) {
      return make_exceptional_future<std::optional<int64_t>>(std::current_exception());
    }
    auto& pool = ctx_.pool;
    auto query = [&pool, name, auto_create] {
      return pool.run([name, auto_create](Connection& c) -> std::shared_ptr<const int64_t> {
        std::string hash = hash_columns({name});
        std::vector<Value> sel{hash};
        std::vector<Value> ins{name, hash};
        auto id = find_something_id(c, "SELECT id FROM builders WHERE name_hash = ?", sel,
                                    "INSERT INTO builders (name, name_hash) VALUES (?, ?)", ins,
                                    "id", auto_create);
        if (!id) return nullptr;
        return std::make_shared<const int64_t>(*id);
      });
    };
    auto to_optional = [](Future<std::shared_ptr<const int64_t>> f) {
      auto p = f.get();
      return p ? std::optional<int64_t>(*p) : std::nullopt;
    };
    // Only lookups that create go through the cache: a lookup that may legitimately find
    // nothing must not be joined by (or join) one that would create the row.
    if (!auto_create) {
      auto ids = ids_;
      return query().then([ids, name](Future<std::shared_ptr<const int64_t>> f) {
        auto p = f.get();
        if (p) ids->put(name, p);
        return p ? std::optional<int64_t>(*p) : std::nullopt;
      });
    }
    return ids_->get(name, query).then(std::move(to_optional));
  }

  Future<void> add_builder_master(int64_t builderid, int64_t masterid) override {
    return ctx_.pool.transaction([builderid, masterid](Connection& c) {
      require_row(c, "SELECT 1 FROM builders WHERE id = ?", builderid, "builder");
      require_row(c, "SELECT 1 FROM masters WHERE id = ?", masterid, "master");
      std::vector<Value> p{builderid, masterid};
      find_something_id(c, "SELECT id FROM builder_masters WHERE builderid = ? AND masterid = ?", p,
                        "INSERT INTO builder_masters (builderid, masterid) VALUES (?, ?)", p);
    });
  }

  Future<void> remove_builder_master(int64_t builderid, int64_t masterid) override {
    return ctx_.pool.transaction([builderid, masterid](Connection& c) {
      c.stmt("DELETE FROM builder_masters WHERE builderid = ? AND masterid = ?")
          .bind(builderid, masterid)
          .exec();
    });
  }

  Future<std::optional<Builder>> get_builder(int64_t builderid) override {
    return ctx_.pool.read([builderid](Connection& c) -> std::optional<Builder> {
      auto v = fetch(c, " WHERE b.id = ?", {builderid});
      if (v.empty()) return std::nullopt;
      return v.front();
    });
  }

  Future<std::vector<Builder>> get_builders(std::optional<int64_t> masterid) override {
    return ctx_.pool.read([masterid](Connection& c) {
      if (!masterid) return fetch(c, "", {});
      return fetch(c,
                   " WHERE b.id IN (SELECT builderid FROM builder_masters WHERE masterid = ?)",
                   {*masterid});
    });
  }

  Future<void> update_builder_info(int64_t builderid,
                                   std::optional<std::string> description) override {
    // An unknown builder matches no row: nothing changes, as in Buildbot.
    return ctx_.pool.transaction([builderid, description](Connection& c) {
      c.stmt("UPDATE builders SET description = ? WHERE id = ?").bind(description, builderid).exec();
    });
  }

  Future<void> update_builder_info(int64_t builderid, std::optional<std::string> description,
                                   std::vector<TagRef> tags) override {
    for (const auto& t : tags) {
      if (const auto* name = std::get_if<std::string>(&t); name && !is_valid_utf8(*name)) {
        return make_error_future<void>(InvalidArgument("tag name is not valid UTF-8"));
      }
    }
    return ctx_.pool.transaction([builderid, description, tags](Connection& c) {
      // An unknown builder without tags changes nothing, as in Buildbot; tags for it would be
      // links to no builder, refused. (By SELECT: MySQL counts an unchanged row as not updated.)
      if (!c.stmt("SELECT 1 FROM builders WHERE id = ?").bind(builderid).one()) {
        if (tags.empty()) return;
        throw NotFound("no builder with id " + std::to_string(builderid));
      }
      c.stmt("UPDATE builders SET description = ? WHERE id = ?").bind(description, builderid).exec();
      std::vector<int64_t> tagids;
      std::set<int64_t> seen;
      for (const auto& t : tags) {
        int64_t id = 0;
        if (const auto* name = std::get_if<std::string>(&t)) {
          id = internal::find_tag_id(c, *name);
        } else {
          id = std::get<int64_t>(t);
          require_row(c, "SELECT 1 FROM tags WHERE id = ?", id, "tag");
        }
        if (!seen.insert(id).second) {
          throw UniqueViolation("tag " + std::to_string(id) + " is given twice for builder " +
                                std::to_string(builderid));
        }
        tagids.push_back(id);
      }
      c.stmt("DELETE FROM builders_tags WHERE builderid = ?").bind(builderid).exec();
      for (int64_t id : tagids) {
        c.stmt("INSERT INTO builders_tags (builderid, tagid) VALUES (?, ?)").bind(builderid, id).exec();
      }
    });
  }

 private:
  // Builders (with their master ids) selected by `where` over alias b.
  static std::vector<Builder> fetch(Connection& c, const std::string& where,
                                    std::vector<Value> params) {
    std::vector<Builder> out;
    std::map<int64_t, size_t> pos;
    for (const Row& r : c.stmt("SELECT b.id, b.name, b.description FROM builders b" + where +
                               " ORDER BY b.id")
                            .bind_all(params)
                            .all()) {
      pos[r.get<int64_t>(0)] = out.size();
      out.push_back(Builder{r.get<int64_t>(0), r.get<std::string>(1),
                            r.get<std::optional<std::string>>(2), {}, {}});
    }
    if (out.empty()) return out;
    for (const Row& r : c.stmt("SELECT bm.builderid, bm.masterid FROM builder_masters bm "
                               "WHERE bm.builderid IN (SELECT b.id FROM builders b" + where +
                               ") ORDER BY bm.builderid, bm.masterid")
                            .bind_all(params)
                            .all()) {
      out[pos.at(r.get<int64_t>(0))].masterids.push_back(r.get<int64_t>(1));
    }
    for (const Row& r : c.stmt("SELECT bt.builderid, t.name FROM builders_tags bt "
                               "JOIN tags t ON t.id = bt.tagid "
                               "WHERE bt.builderid IN (SELECT b.id FROM builders b" + where +
                               ") ORDER BY bt.builderid, bt.id")
                            .bind_all(params)
                            .all()) {
      out[pos.at(r.get<int64_t>(0))].tags.push_back(r.get<std::string>(1));
    }
    return out;
  }

  internal::Context& ctx_;
  std::shared_ptr<Cache<std::string, int64_t>> ids_;
};

}  // namespace

std::unique_ptr<Builders> internal::make_sql_builders(Context& ctx) {
  return std::make_unique<SqlBuilders>(ctx);
}

}  // namespace ym::db
