// PARLEY_RETURN_IF_ERROR / PARLEY_ASSIGN_OR_RETURN: Debian's abseil 20220623
// ships neither, so the runtime defines them once here.
//
//   PARLEY_RETURN_IF_ERROR(file.Sync());
//   PARLEY_ASSIGN_OR_RETURN(Frame frame, wire::DecodeFrame(bytes));
#ifndef PARLEY_RUNTIME_UTIL_STATUS_MACROS_H_
#define PARLEY_RUNTIME_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PARLEY_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status parley_status_ = (expr);          \
    if (!parley_status_.ok()) return parley_status_; \
  } while (false)

#define PARLEY_STATUS_CONCAT_INNER_(a, b) a##b
#define PARLEY_STATUS_CONCAT_(a, b) PARLEY_STATUS_CONCAT_INNER_(a, b)

#define PARLEY_ASSIGN_OR_RETURN(lhs, expr) \
  PARLEY_ASSIGN_OR_RETURN_IMPL_(           \
      PARLEY_STATUS_CONCAT_(parley_statusor_, __LINE__), lhs, expr)

#define PARLEY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return statusor.status();            \
  lhs = std::move(*statusor)

#endif  // PARLEY_RUNTIME_UTIL_STATUS_MACROS_H_
