#include "db/connectors/tags.hpp"

#include "db/connectors/sql.hpp"

namespace ym::db {

int64_t internal::find_tag_id(Connection& c, const std::string& name) {
  std::string hash = hash_columns({name});
  std::vector<Value> sel{hash};
  std::vector<Value> ins{name, hash};
  return *find_something_id(c, "SELECT id FROM tags WHERE name_hash = ?", sel,
                            "INSERT INTO tags (name, name_hash) VALUES (?, ?)", ins);
}

namespace {

class SqlTags final : public Tags {
 public:
  explicit SqlTags(internal::Context& ctx)
      : ctx_(ctx), ids_(ctx.caches.make<std::string, int64_t>("tagids")) {}

  Future<int64_t> find_tag_id(std::string name) override {
    if (!is_valid_utf8(name)) {
      return make_error_future<int64_t>(InvalidArgument("tag name is not valid UTF-8"));
    }
    auto& pool = ctx_.pool;
    // A tag is never deleted, so its id may be cached.
    return ids_
        ->get(name,
              [&pool, name] {
                return pool.run([name](Connection& c) {
                  return std::make_shared<const int64_t>(internal::find_tag_id(c, name));
                });
              })
        .then([](Future<std::shared_ptr<const int64_t>> f) { return *f.get(); });
  }

 private:
  internal::Context& ctx_;
  std::shared_ptr<Cache<std::string, int64_t>> ids_;
};

}  // namespace

std::unique_ptr<Tags> internal::make_sql_tags(Context& ctx) {
  return std::make_unique<SqlTags>(ctx);
}

}  // namespace ym::db
