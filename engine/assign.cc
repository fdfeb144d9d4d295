#include "engine/assign.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/elementwise.h"

namespace concord::engine {
namespace {

// CheckAssignable: both defined, same shape and dtype; else the message from assign.h.
absl::Status CheckAssignable(absl::string_view op, const Tensor& variable, const Tensor& value) {
  if (!variable.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": variable is undefined"));
  }
  if (!value.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": value is undefined (variable ", variable.ShapeString(), ")"));
  }
  if (variable.shape() != value.shape() || variable.dtype() != value.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": shape or dtype mismatch: variable ",
                                                   variable.ShapeString(), ", value ",
                                                   value.ShapeString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Assign(Tensor& variable, const Tensor& value) {
  CONCORD_RETURN_IF_ERROR(CheckAssignable("Assign", variable, value));
  // memmove: `value` may be the same buffer.
  std::memmove(variable.mutable_raw_data(), value.raw_data(), variable.nbytes());
  return absl::OkStatus();
}

absl::Status AssignAdd(Tensor& variable, const Tensor& value) {
  CONCORD_RETURN_IF_ERROR(CheckAssignable("AssignAdd", variable, value));
  return internal::BinaryInPlace("AssignAdd", internal::BinaryOpKind::kAdd, variable, value);
}

absl::Status AssignSub(Tensor& variable, const Tensor& value) {
  CONCORD_RETURN_IF_ERROR(CheckAssignable("AssignSub", variable, value));
  return internal::BinaryInPlace("AssignSub", internal::BinaryOpKind::kSub, variable, value);
}

}  // namespace concord::engine
