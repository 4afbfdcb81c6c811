#include "db/connectors/build_data.hpp"

#include <limits>

#include "db/connectors/sql.hpp"

namespace ym::db {
namespace {

void check_text(const char* what, const std::string& column, const std::string& s) {
  if (!is_valid_utf8(s)) throw InvalidArgument(std::string(what) + " is not valid UTF-8");
  check_length("build_data", column, s);
}

// The columns of an entry without its value, then (when wanted) the value.
constexpr const char* kOneWithValue =
    "SELECT buildid, name, length, source, value FROM build_data WHERE buildid = ? AND name = ?";
constexpr const char* kOneNoValue =
    "SELECT buildid, name, length, source FROM build_data WHERE buildid = ? AND name = ?";
constexpr const char* kAllNoValues =
    "SELECT buildid, name, length, source FROM build_data WHERE buildid = ? ORDER BY id";

BuildDataEntry entry(const Row& r) {
  BuildDataEntry e{r.get<int64_t>(0), r.get<std::string>(1), std::nullopt, r.get<int64_t>(2),
                   r.get<std::string>(3)};
  if (r.size() > 4) e.value = r.get<Blob>(4).bytes;
  return e;
}

class SqlBuildData final : public BuildData {
 public:
  explicit SqlBuildData(internal::Context& ctx) : ctx_(ctx) {}

  Future<void> set_build_data(int64_t buildid, std::string name, std::string value,
                              std::string source) override {
    try {
      check_text("build data name", "name", name);
      check_text("build data source", "source", source);
      if (value.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw ValueTooLong("build data '" + name + "' is over 2^31-1 bytes");
      }
    } catch (const Error&) {
      return make_exceptional_future<void>(std::current_exception());
    }
    return ctx_.pool.transaction([buildid, name, value, source](Connection& c) {
      if (!c.stmt("SELECT 1 FROM builds WHERE id = ?").bind(buildid).one()) {
        throw NotFound("no build with id " + std::to_string(buildid));
      }
      // One statement that inserts or replaces: a racing setter of the same name cannot make it
      // fail, whichever commits first.
      std::string sql = c.dialect().upsert("build_data", {"buildid", "name", "value", "length", "source"},
                                           {"buildid", "name"}, {"value", "length", "source"});
      c.stmt(sql)
          .bind(buildid, name, Blob{value}, static_cast<int64_t>(value.size()), source)
          .exec();
    });
  }

  Future<std::optional<BuildDataEntry>> get_build_data(int64_t buildid, std::string name) override {
    return ctx_.pool.run([buildid, name](Connection& c) -> std::optional<BuildDataEntry> {
      auto r = c.stmt(kOneWithValue).bind(buildid, name).one();
      if (!r) return std::nullopt;
      return entry(*r);
    });
  }

  Future<std::optional<BuildDataEntry>> get_build_data_no_value(int64_t buildid,
                                                                std::string name) override {
    return ctx_.pool.run([buildid, name](Connection& c) -> std::optional<BuildDataEntry> {
      auto r = c.stmt(kOneNoValue).bind(buildid, name).one();
      if (!r) return std::nullopt;
      return entry(*r);
    });
  }

  Future<std::vector<BuildDataEntry>> get_all_build_data_no_values(int64_t buildid) override {
    return ctx_.pool.run([buildid](Connection& c) {
      std::vector<BuildDataEntry> out;
      for (const Row& r : c.stmt(kAllNoValues).bind(buildid).all()) {
        out.push_back(entry(r));
      }
      return out;
    });
  }

  Future<int64_t> delete_old_build_data(Timestamp older_than) override {
    int64_t before = older_than.time_since_epoch().count();
    return ctx_.pool.transaction([before](Connection& c) {
      return static_cast<int64_t>(
          c.stmt("DELETE FROM build_data WHERE buildid IN (SELECT id FROM builds WHERE "
                 "complete_at IS NOT NULL AND complete_at < ?)")
              .bind(before)
              .exec());
    });
  }

 private:
  internal::Context& ctx_;
};

}  // namespace

std::unique_ptr<BuildData> internal::make_sql_build_data(Context& ctx) {
  return std::make_unique<SqlBuildData>(ctx);
}

}  // namespace ym::db
