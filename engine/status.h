// The project's one set of status and check macros.
//
// Debian's Abseil (20220623) ships `absl::Status` but neither `absl/log` nor status
// macros, so Concord defines exactly one pair of each here and uses nothing else:
//
//   CONCORD_RETURN_IF_ERROR(ValidateAxis(axis, rank));
//   CONCORD_ASSIGN_OR_RETURN(Tensor sum, Add(a, b));
//
// Two error roles are kept apart (see Note [Two error roles]):
//   - user input (shapes, dtypes, files, configs) -> an `absl::Status`, never an abort;
//   - internal invariants -> CONCORD_CHECK, which aborts with file and line.
//
// Note [Two error roles]
// A CONCORD_CHECK could be deleted without changing what a correct program observes; it guards
// the engine's own bookkeeping. Anything a user can get wrong must instead come back as a status
// naming the op and the shapes, because Concord's users run fuzz and property campaigns that feed
// it garbage on purpose and must see a message, not a crash.
#ifndef CONCORD_ENGINE_STATUS_H_
#define CONCORD_ENGINE_STATUS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace concord::engine::internal {

// CheckFailed prints the failed condition and aborts. Not for user input.
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     const char* message) {
  std::fprintf(stderr, "%s:%d: CONCORD_CHECK failed: %s%s%s\n", file, line, condition,
               message[0] != '\0' ? ": " : "", message);
  std::fflush(stderr);
  std::abort();
}

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace concord::engine::internal

// CONCORD_CHECK aborts when `condition` is false. For internal invariants only.
#define CONCORD_CHECK(condition)                                                       \
  do {                                                                                 \
    if (ABSL_PREDICT_FALSE(!(condition))) {                                            \
      ::concord::engine::internal::CheckFailed(__FILE__, __LINE__, #condition, "");    \
    }                                                                                  \
  } while (false)

// CONCORD_CHECK_MSG is CONCORD_CHECK with a fixed explanatory message.
#define CONCORD_CHECK_MSG(condition, message)                                              \
  do {                                                                                     \
    if (ABSL_PREDICT_FALSE(!(condition))) {                                                \
      ::concord::engine::internal::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
    }                                                                                      \
  } while (false)

// CONCORD_DCHECK is CONCORD_CHECK in debug builds and nothing in optimized builds.
#ifdef NDEBUG
#define CONCORD_DCHECK(condition) \
  do {                            \
    (void)sizeof(condition);      \
  } while (false)
#else
#define CONCORD_DCHECK(condition) CONCORD_CHECK(condition)
#endif

// CONCORD_RETURN_IF_ERROR returns the status of `expr` (a Status or StatusOr) when it is not OK.
#define CONCORD_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                    \
    const auto& concord_status_or_ = (expr);                                              \
    if (ABSL_PREDICT_FALSE(!::concord::engine::internal::StatusOf(concord_status_or_).ok())) { \
      return ::concord::engine::internal::StatusOf(concord_status_or_);                   \
    }                                                                                     \
  } while (false)

#define CONCORD_STATUS_CONCAT_INNER_(a, b) a##b
#define CONCORD_STATUS_CONCAT_(a, b) CONCORD_STATUS_CONCAT_INNER_(a, b)

#define CONCORD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                  \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = std::move(statusor).value()

// CONCORD_ASSIGN_OR_RETURN evaluates a StatusOr expression; on error it returns the status,
// otherwise it moves the value into `lhs` (which may be a declaration).
#define CONCORD_ASSIGN_OR_RETURN(lhs, rexpr) \
  CONCORD_ASSIGN_OR_RETURN_IMPL_(CONCORD_STATUS_CONCAT_(concord_statusor_, __LINE__), lhs, rexpr)

#endif  // CONCORD_ENGINE_STATUS_H_
