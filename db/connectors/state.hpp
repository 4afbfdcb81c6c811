// State: JSON key/value pairs owned by named objects (a scheduler's last run, a change source's
// last revision). Objects are identified by (name, class_name) so that state follows an object
// from master to master. Each value is read and written atomically.
// Thread safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "../future.hpp"

namespace ym::db {

class State {
 public:
  virtual ~State() = default;

  // The id of the object (name, class_name), creating it if needed; one id for concurrent
  // callers. A name over 128 characters is shortened as Buildbot does (its first 64 characters
  // and 64 hex digits of its SHA-1), so it still finds its object; a class name over 128 throws
  // ValueTooLong. Either may be empty, as in Buildbot.
  virtual Future<int64_t> get_object_id(std::string name, std::string class_name) = 0;

  // The value of `name`; throws NotFound when it is not set.
  virtual Future<nlohmann::json> get_state(int64_t objectid, std::string name) = 0;
  // The value of `name`, or `default_value` when it is not set.
  virtual Future<nlohmann::json> get_state(int64_t objectid, std::string name,
                                           nlohmann::json default_value) = 0;

  // Sets `name` to `value` and returns the value actually stored: when two writers race to create
  // the same key, the first wins and the second gets the winner's value back.
  // Throws InvalidArgument when the value cannot be stored as JSON (e.g. invalid UTF-8),
  // NotFound for an unknown object.
  virtual Future<nlohmann::json> set_state(int64_t objectid, std::string name,
                                           nlohmann::json value) = 0;

  // Returns the value of `name`, creating it from create() when it is not set. Across all
  // processes sharing the database the value is created once: every caller gets the same value.
  // create() runs on a database thread.
  virtual Future<nlohmann::json> atomic_create_state(int64_t objectid, std::string name,
                                                     std::function<nlohmann::json()> create) = 0;

  // The completion-token forms: name(args..., token) (see <yardmaster/async.hpp>).
  YM_ASYNC(get_object_id)
  YM_ASYNC(get_state)
  YM_ASYNC(set_state)
  YM_ASYNC(atomic_create_state)
};

}  // namespace ym::db
