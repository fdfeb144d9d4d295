// Small helpers shared by the kernels: argument checks that produce the house error messages,
// broadcast strides and a branch-free select.
//
//   CONCORD_RETURN_IF_ERROR(internal::CheckSameDType("Add", a, b));
//   auto strides = internal::BroadcastStrides(a.shape(), out_shape);
//   out[i] = internal::Select(cond[i], x[i], y[i]);
#ifndef CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_
#define CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>

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

// Select returns `take ? a : b` through integer masks, for any 1-, 4- or 8-byte trivially
// copyable T (every DType). GCC turns a ternary on data-dependent conditions back into a branch,
// which random data mispredicts half the time (4-6x slower); the masks compile to and/andnot/or,
// and vectorize. The result has exactly a's or b's bits.
template <typename T>
inline T Select(bool take, T a, T b) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 4 || sizeof(T) == 8, "a 1-, 4- or 8-byte type");
  static_assert(std::is_trivially_copyable_v<T>);
  using U = std::conditional_t<sizeof(T) == 8, uint64_t,
                               std::conditional_t<sizeof(T) == 4, uint32_t, uint8_t>>;
  const U mask = static_cast<U>(U{0} - static_cast<U>(take));
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(T));
  std::memcpy(&ub, &b, sizeof(T));
  const U r = static_cast<U>((ua & mask) | (ub & static_cast<U>(~mask)));
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_KERNEL_UTIL_H_
