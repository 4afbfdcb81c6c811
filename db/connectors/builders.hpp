// Builders: builder names and ids, and the masters on which each builder is configured.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "../future.hpp"

namespace ym::db {

// Builder names are identifiers of at most this many characters. (The reference says 20; real
// builder names such as "debian-12-gcc-release-asan" need more.)
inline constexpr size_t kBuilderNameMax = 50;

// A tag given to update_builder_info: its name (found or created) or its id (Tags::find_tag_id).
using TagRef = std::variant<std::string, int64_t>;

struct Builder {
  int64_t id = 0;
  std::string name;
  std::optional<std::string> description;
  std::vector<int64_t> masterids;  // sorted ascending
  std::vector<std::string> tags;   // in the order update_builder_info was given them
  bool operator==(const Builder&) const = default;
};

class Builders {
 public:
  virtual ~Builders() = default;

  // The id of the builder called `name`; creates it when missing and `auto_create` is true,
  // otherwise returns nullopt. Concurrent calls for one new name return one id.
  // Throws InvalidIdentifier when `name` is not an identifier of at most kBuilderNameMax chars.
  virtual Future<std::optional<int64_t>> find_builder_id(std::string name,
                                                         bool auto_create = true) = 0;

  // Records that the builder is configured on the master; does nothing if it already is.
  // Throws NotFound when the builder or the master does not exist.
  virtual Future<void> add_builder_master(int64_t builderid, int64_t masterid) = 0;

  // Removes that record (and the workers configured through it). Not an error if absent.
  virtual Future<void> remove_builder_master(int64_t builderid, int64_t masterid) = 0;

  // The builder, or nullopt.
  virtual Future<std::optional<Builder>> get_builder(int64_t builderid) = 0;

  // Every builder (or only those configured on `masterid`), ordered by id.
  virtual Future<std::vector<Builder>> get_builders(std::optional<int64_t> masterid = {}) = 0;

  // Sets the free-form description (tags unchanged). An unknown builder is not an error:
  // nothing changes (as Buildbot's updateBuilderInfo).
  virtual Future<void> update_builder_info(int64_t builderid,
                                           std::optional<std::string> description) = 0;

  // Sets the description and replaces the builder's tags by `tags` (Buildbot's
  // updateBuilderInfo), in one transaction: tags given by name are found or created, an empty
  // list removes every tag. An unknown builder with no tags changes nothing (as Buildbot).
  // Throws NotFound for an unknown builder given tags or an unknown tag id, UniqueViolation
  // when one tag is given twice, InvalidArgument for a tag name that is not UTF-8; nothing
  // changes then.
  virtual Future<void> update_builder_info(int64_t builderid,
                                           std::optional<std::string> description,
                                           std::vector<TagRef> tags) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_builder_id)
  YM_ASYNC(add_builder_master)
  YM_ASYNC(remove_builder_master)
  YM_ASYNC(get_builder)
  YM_ASYNC(get_builders)
  YM_ASYNC(update_builder_info)
};

}  // namespace ym::db
