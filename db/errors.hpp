// Typed errors of the database layer. Every public failure is one of these; each carries a
// category, whether a retry may succeed (transient) and whether the connection that raised it
// must be reopened. The pool decides retry / reconnect / fail from these flags, never from text.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace ym::db {

enum class ErrorCategory {
  kUsage,          // the caller asked for something invalid (bad identifier, bad URL, ...)
  kNotFound,       // the row the call needs does not exist
  kConflict,       // another writer holds what we wanted (claims, unique rows)
  kConstraint,     // the database refused a write (unique / foreign key)
  kTransient,      // busy, deadlock, serialization failure: a retry may succeed
  kConnection,     // cannot reach or lost the database
  kSchema,         // schema version does not match this program
  kInternal,       // a bug or an unexpected driver answer
  kShutdown,       // the pool stopped before the call could run
  kCancelled,      // the caller cancelled the call before it ran
};

const char* to_string(ErrorCategory c);

class Error : public std::exception {
 public:
  Error(ErrorCategory category, std::string message, bool transient = false,
        bool poisons_connection = false)
      : message_(std::move(message)),
        category_(category),
        transient_(transient),
        poisons_connection_(poisons_connection) {}

  const char* what() const noexcept override { return message_.c_str(); }
  ErrorCategory category() const noexcept { return category_; }
  // A retry of the whole transaction may succeed.
  bool transient() const noexcept { return transient_; }
  // The connection that raised it is unusable and must be reopened.
  bool poisons_connection() const noexcept { return poisons_connection_; }

 private:
  std::string message_;
  ErrorCategory category_;
  bool transient_;
  bool poisons_connection_;
};

#define YM_DEFINE_ERROR(Name, Category)                                              \
  class Name : public Error {                                                        \
   public:                                                                           \
    explicit Name(const std::string& message) : Error(ErrorCategory::Category, message) {} \
  }

// Usage errors: bad input from the caller. Nothing was written.
YM_DEFINE_ERROR(InvalidArgument, kUsage);
YM_DEFINE_ERROR(InvalidUrl, kUsage);
YM_DEFINE_ERROR(InvalidIdentifier, kUsage);
YM_DEFINE_ERROR(ValueTooLong, kUsage);
// A row the call needs does not exist (Buildbot raises KeyError here).
YM_DEFINE_ERROR(NotFound, kNotFound);
// A row with this identity already exists (e.g. a log slug taken in its step).
YM_DEFINE_ERROR(AlreadyExists, kConflict);
// Claims.
YM_DEFINE_ERROR(AlreadyClaimedError, kConflict);
YM_DEFINE_ERROR(NotClaimedError, kConflict);
YM_DEFINE_ERROR(ChangeSourceAlreadyClaimedError, kConflict);
YM_DEFINE_ERROR(SchedulerAlreadyClaimedError, kConflict);
// The database refused a write.
YM_DEFINE_ERROR(UniqueViolation, kConstraint);
YM_DEFINE_ERROR(ForeignKeyViolation, kConstraint);
// Schema version.
YM_DEFINE_ERROR(SchemaOutOfDate, kSchema);
YM_DEFINE_ERROR(SchemaTooNew, kSchema);
YM_DEFINE_ERROR(NotADatabase, kSchema);
// The pool stopped.
YM_DEFINE_ERROR(PoolShutDown, kShutdown);
// The caller cancelled the call (ym::Canceller) before it began to run: nothing was done.
YM_DEFINE_ERROR(Cancelled, kCancelled);
YM_DEFINE_ERROR(InternalError, kInternal);

#undef YM_DEFINE_ERROR

// Busy / locked / deadlock / serialization failure: the transaction may be retried.
class TransientError : public Error {
 public:
  explicit TransientError(const std::string& message, bool poisons_connection = false)
      : Error(ErrorCategory::kTransient, message, /*transient=*/true, poisons_connection) {}
};

// The database cannot be reached, or the connection broke. `transient` when a reconnect may help.
class ConnectionFailed : public Error {
 public:
  explicit ConnectionFailed(const std::string& message, bool transient = false)
      : Error(ErrorCategory::kConnection, message, transient, /*poisons_connection=*/true) {}
};

// The connection was lost while a write was being committed: the change may or may not be in the
// database. Not transient: running the write again blindly could apply it twice. Calls whose
// writes check what was committed retry instead (see Pool, Unknown::kRetry).
class CommitOutcomeUnknown : public ConnectionFailed {
 public:
  explicit CommitOutcomeUnknown(const std::string& message)
      : ConnectionFailed(message, /*transient=*/false) {}
};

}  // namespace ym::db
