// Element types a Tensor can hold, and the compile-time mapping to C++ types.
//
//   DType d = DTypeOf<float>();            // DType::kFloat32
//   DispatchDType(d, [&](auto tag) { using T = typename decltype(tag)::type; ... });
#ifndef CONCORD_ENGINE_DTYPE_H_
#define CONCORD_ENGINE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/status.h"

namespace concord::engine {

// The closed list of element types. float32 is the default; float64 exists for gradient checks.
#define CONCORD_DTYPE_LIST(X) \
  X(kFloat32, float, "float32") \
  X(kFloat64, double, "float64") \
  X(kInt32, int32_t, "int32")   \
  X(kInt64, int64_t, "int64")   \
  X(kBool, bool, "bool")

enum class DType : uint8_t {
#define CONCORD_DTYPE_ENUM(name, type, str) name,
  CONCORD_DTYPE_LIST(CONCORD_DTYPE_ENUM)
#undef CONCORD_DTYPE_ENUM
};

inline constexpr int kNumDTypes = 5;

// DTypeName returns the lowercase name ("float32").
absl::string_view DTypeName(DType dtype);

// DTypeFromName parses a name produced by DTypeName.
absl::StatusOr<DType> DTypeFromName(absl::string_view name);

// DTypeSize returns the size of one element in bytes.
size_t DTypeSize(DType dtype);

// IsFloating is true for float32 and float64.
inline bool IsFloating(DType dtype) { return dtype == DType::kFloat32 || dtype == DType::kFloat64; }

// IsInteger is true for int32 and int64.
inline bool IsInteger(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

std::ostream& operator<<(std::ostream& os, DType dtype);

// TypeTag carries a C++ element type through generic lambdas.
template <typename T>
struct TypeTag {
  using type = T;
};

// DTypeOf<T>() maps a C++ element type to its DType.
template <typename T>
constexpr DType DTypeOf();
#define CONCORD_DTYPE_OF(name, type, str) \
  template <>                             \
  constexpr DType DTypeOf<type>() {       \
    return DType::name;                   \
  }
CONCORD_DTYPE_LIST(CONCORD_DTYPE_OF)
#undef CONCORD_DTYPE_OF

// DispatchDType calls fn(TypeTag<T>{}) with T the C++ type of `dtype` and returns its result.
template <typename Fn>
decltype(auto) DispatchDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(TypeTag<float>{});
    case DType::kFloat64:
      return fn(TypeTag<double>{});
    case DType::kInt32:
      return fn(TypeTag<int32_t>{});
    case DType::kInt64:
      return fn(TypeTag<int64_t>{});
    case DType::kBool:
      return fn(TypeTag<bool>{});
  }
  CONCORD_CHECK_MSG(false, "unknown dtype");
  return fn(TypeTag<float>{});  // Unreachable.
}

// DispatchFloating is DispatchDType restricted to float32/float64; CHECKs on anything else,
// so callers validate the dtype (returning a status) first.
template <typename Fn>
decltype(auto) DispatchFloating(DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat64) return fn(TypeTag<double>{});
  CONCORD_CHECK_MSG(dtype == DType::kFloat32, "DispatchFloating on a non-floating dtype");
  return fn(TypeTag<float>{});
}

// DispatchNumeric is DispatchDType without bool; CHECKs on bool.
template <typename Fn>
decltype(auto) DispatchNumeric(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat64:
      return fn(TypeTag<double>{});
    case DType::kInt32:
      return fn(TypeTag<int32_t>{});
    case DType::kInt64:
      return fn(TypeTag<int64_t>{});
    default:
      CONCORD_CHECK_MSG(dtype == DType::kFloat32, "DispatchNumeric on bool");
      return fn(TypeTag<float>{});
  }
}

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_DTYPE_H_
