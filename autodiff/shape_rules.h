// Checks shared by the shape rules (OpDef::infer) of several op families. They work on
// TensorSpecs, not tensors, and use the same words as the engine kernels' errors, so a traced
// program reports the error an eager run would.
//
//   CONCORD_RETURN_IF_ERROR(internal::CheckNumeric("Sum", x));
//   CONCORD_ASSIGN_OR_RETURN(const int axis, internal::AxisOf("Softmax", attrs.axis, x));
#ifndef CONCORD_AUTODIFF_SHAPE_RULES_H_
#define CONCORD_AUTODIFF_SHAPE_RULES_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/op_def.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace concord::autodiff::internal {

// DimsString gives "[2, -1]".
std::string DimsString(absl::Span<const int64_t> dims);

// CheckDTypeIn: "<op>: dtype int32 of int32[2] is not supported; expected one of float32, ...".
absl::Status CheckDTypeIn(absl::string_view op, const TensorSpec& x,
                          std::initializer_list<engine::DType> ok);
// CheckNumeric / CheckFloating: CheckDTypeIn with every type but bool / float32 and float64.
absl::Status CheckNumeric(absl::string_view op, const TensorSpec& x);
absl::Status CheckFloating(absl::string_view op, const TensorSpec& x);
// CheckIndexDType: "<op>: indices float32[3] must be int32 or int64".
absl::Status CheckIndexDType(absl::string_view op, const TensorSpec& indices);
// CheckRepresentable: "<op>: <what> 0.5 cannot be represented as int32" (floats always pass).
absl::Status CheckRepresentable(absl::string_view op, absl::string_view what, double value,
                                engine::DType dtype);

// AxisOf maps an axis of x into [0, rank): "<op>: axis 3 is out of range for float32[2] (rank 1)".
absl::StatusOr<int> AxisOf(absl::string_view op, int64_t axis, const TensorSpec& x);

// ShapeFromDims validates a result shape: "<op>: result <Shape::FromDims's message>".
absl::StatusOr<engine::Shape> ShapeFromDims(absl::string_view op, absl::Span<const int64_t> dims);

// OneSpec is the one-output result of a shape rule.
inline absl::StatusOr<std::vector<TensorSpec>> OneSpec(engine::DType dtype, engine::Shape shape) {
  return std::vector<TensorSpec>{{dtype, std::move(shape)}};
}

}  // namespace concord::autodiff::internal

#endif  // CONCORD_AUTODIFF_SHAPE_RULES_H_
