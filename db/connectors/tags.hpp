// Tags: the names a builder is tagged with (Buildbot's db.tags), stored once each in `tags` and
// linked to builders through `builders_tags` (see Builders::update_builder_info).
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "../future.hpp"

namespace ym::db {

class Tags {
 public:
  virtual ~Tags() = default;

  // The id of the tag called `name`, creating it if needed; one id for concurrent callers. Any
  // text is a tag name (the empty one too, as in Buildbot). Throws InvalidArgument for a name
  // that is not UTF-8.
  virtual Future<int64_t> find_tag_id(std::string name) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_tag_id)
};

}  // namespace ym::db
