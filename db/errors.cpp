#include "db/errors.hpp"

namespace ym::db {

const char* to_string(ErrorCategory c) {
  switch (c) {
    case ErrorCategory::kUsage: return "usage";
    case ErrorCategory::kNotFound: return "not-found";
    case ErrorCategory::kConflict: return "conflict";
    case ErrorCategory::kConstraint: return "constraint";
    case ErrorCategory::kTransient: return "transient";
    case ErrorCategory::kConnection: return "connection";
    case ErrorCategory::kSchema: return "schema";
    case ErrorCategory::kInternal: return "internal";
    case ErrorCategory::kShutdown: return "shutdown";
    case ErrorCategory::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace ym::db
