#include "autodiff/shape_rules.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace concord::autodiff::internal {

using engine::DType;

std::string DimsString(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

absl::Status CheckDTypeIn(absl::string_view op, const TensorSpec& x,
                          std::initializer_list<DType> ok) {
  for (DType d : ok) {
    if (x.dtype == d) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      op, ": dtype ", engine::DTypeName(x.dtype), " of ", x.ToString(),
      " is not supported; expected one of ",
      absl::StrJoin(ok, ", ", [](std::string* out, DType d) {
        absl::StrAppend(out, engine::DTypeName(d));
      })));
}

absl::Status CheckNumeric(absl::string_view op, const TensorSpec& x) {
  return CheckDTypeIn(op, x, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64});
}

absl::Status CheckFloating(absl::string_view op, const TensorSpec& x) {
  return CheckDTypeIn(op, x, {DType::kFloat32, DType::kFloat64});
}

absl::Status CheckIndexDType(absl::string_view op, const TensorSpec& indices) {
  if (engine::IsInteger(indices.dtype)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": indices ", indices.ToString(), " must be int32 or int64"));
}

absl::Status CheckRepresentable(absl::string_view op, absl::string_view what, double value,
                                DType dtype) {
  if (!engine::IsInteger(dtype)) return absl::OkStatus();
  const double low = dtype == DType::kInt32 ? -2147483648.0 : -9223372036854775808.0;
  const double high = dtype == DType::kInt32 ? 2147483648.0 : 9223372036854775808.0;
  if (std::isfinite(value) && value == std::trunc(value) && value >= low && value < high) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " ", value,
                                                 " cannot be represented as ",
                                                 engine::DTypeName(dtype)));
}

absl::StatusOr<int> AxisOf(absl::string_view op, int64_t axis, const TensorSpec& x) {
  const int rank = x.shape.rank();
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is out of range for ",
                                                   x.ToString(), " (rank ", rank, ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<engine::Shape> ShapeFromDims(absl::string_view op, absl::Span<const int64_t> dims) {
  absl::StatusOr<engine::Shape> shape = engine::Shape::FromDims(dims);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": result ", shape.status().message()));
  }
  return shape;
}

}  // namespace concord::autodiff::internal
