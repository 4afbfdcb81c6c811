// The floor's only abstraction: the handful of calls each C API offers, so that the workload is
// written once. Each backend file talks to its C API directly (no statement cache beyond what
// the C API gives, no retries, no threads).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "db/url.hpp"

namespace ym::bench {

struct RawBlob {
  std::string bytes;
};
using RawValue = std::variant<std::nullptr_t, int64_t, std::string, RawBlob>;
using RawRows = std::vector<std::vector<std::optional<std::string>>>;

class Raw {
 public:
  virtual ~Raw() = default;
  virtual void begin() = 0;
  // A transaction that only reads (SQLite: one that takes no write lock until it needs one).
  virtual void begin_read() { begin(); }
  virtual void commit() = 0;
  virtual void exec(const std::string& sql, const std::vector<RawValue>& params) = 0;
  virtual RawRows query(const std::string& sql, const std::vector<RawValue>& params) = 0;
  virtual int64_t insert(const std::string& sql, const std::vector<RawValue>& params,
                         const std::string& id_column) = 0;
};

std::unique_ptr<Raw> open_raw(const db::Url& url);

}  // namespace ym::bench
