// Change sources: named pollers/receivers of changes, each run by at most one active master.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../future.hpp"

namespace ym::db {

struct ChangeSource {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> masterid;  // the master running it, or nullopt when inactive
  bool operator==(const ChangeSource&) const = default;
};

class ChangeSources {
 public:
  virtual ~ChangeSources() = default;

  // The id of the change source called `name`, creating it if needed (one id for racing callers).
  // InvalidArgument for a name that is not UTF-8 (empty is a name).
  virtual Future<int64_t> find_change_source_id(std::string name) = 0;

  // Sets (or with nullopt clears) the master running the change source. Throws
  // ChangeSourceAlreadyClaimedError when another master that is active holds it; a holder that
  // is inactive is replaced, and claiming again with the holder is not an error. NotFound for an
  // unknown change source or master when claiming; clearing an unknown one changes nothing.
  virtual Future<void> set_change_source_master(int64_t changesourceid,
                                                std::optional<int64_t> masterid) = 0;

  // The change source, or nullopt.
  virtual Future<std::optional<ChangeSource>> get_change_source(int64_t changesourceid) = 0;

  // Change sources ordered by id. `active`: only those linked to a master (true) or to none
  // (false); a link to an inactive master still counts as active (deactivating a master removes
  // its links, so this does not last). `masterid`: only those linked to that master.
  virtual Future<std::vector<ChangeSource>> get_change_sources(
      std::optional<bool> active = {}, std::optional<int64_t> masterid = {}) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(find_change_source_id)
  YM_ASYNC(set_change_source_master)
  YM_ASYNC(get_change_source)
  YM_ASYNC(get_change_sources)
};

}  // namespace ym::db
