// Small helpers shared by the kernels: argument checks that produce the house error messages,
// and broadcast strides.
//
//   CONCORD_RETURN_IF_ERROR(internal::CheckSameDType("Add", a, b));
//   auto strides = internal::BroadcastStrides(a.shape(), out_shape);
#ifndef CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_
#define CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_

#include <array>
#include <cstdint>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/tensor.h"

namespace concord::engine::internal {

// CheckDefined: InvalidArgument "<op>: input <name> is undefined".
absl::Status CheckDefined(absl::string_view op, const Tensor& t, absl::string_view name = "x");

// CheckSameDType: InvalidArgument "<op>: dtype mismatch: float32[2, 3] vs int32[3]".
absl::Status CheckSameDType(absl::string_view op, const Tensor& a, const Tensor& b);

// CheckDTypeIn: InvalidArgument "<op>: dtype int32 of int32[2] is not supported; expected one of
// float32, float64".
absl::Status CheckDTypeIn(absl::string_view op, const Tensor& t, std::initializer_list<DType> ok);

// CheckFloating / CheckNumeric: CheckDTypeIn with floating types / every type but bool.
absl::Status CheckFloating(absl::string_view op, const Tensor& t);
absl::Status CheckNumeric(absl::string_view op, const Tensor& t);

// BroadcastStrides gives, for each axis of `out` (rank >= in.rank()), the element stride of
// `in` along it: 0 where `in` is broadcast (missing or size 1 against a larger size).
// Requires `in` to broadcast to `out` (CHECKed).
std::array<int64_t, kMaxRank> BroadcastStrides(const Shape& in, const Shape& out);

// NextIndex increments a multi-index over `shape` (row-major); false after the last index.
inline bool NextIndex(const Shape& shape, std::array<int64_t, kMaxRank>& index) {
  for (int d = shape.rank() - 1; d >= 0; --d) {
    if (++index[d] < shape.dim(d)) return true;
    index[d] = 0;
  }
  return false;
}

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_
