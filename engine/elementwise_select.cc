// Where (three-way broadcasting select), ReluGrad (the fused ReLU-gradient select) and Cast (every
// dtype pair, no undefined behaviour).
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "engine/elementwise.h"
#include "engine/elementwise_impl.h"
#include "engine/internal/kernel_util.h"

namespace concord::engine {
namespace {

// ---- Where

absl::Status WhereArgError(const Tensor& cond, const Tensor& x, const Tensor& y) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("Where", cond, "cond"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("Where", x, "x"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("Where", y, "y"));
  if (cond.dtype() != DType::kBool) {
    return absl::InvalidArgumentError(absl::StrCat("Where: cond must be bool, got ",
                                                   cond.ShapeString(), " (x ", x.ShapeString(),
                                                   ", y ", y.ShapeString(), ")"));
  }
  return internal::CheckSameDType("Where", x, y);
}

enum class Path { kFastest, kGeneral };

// SelectRun writes o[i] = c[i] ? x[i] : y[i] for i in [0, n), where an operand whose flag is false
// is one element read at index 0. One loop per stride pattern, with the select done through
// integer masks, so GCC vectorizes it; the general walk calls the same Select per element.
// GCC does not vectorize loads of `bool`, so bools are read and written as their bytes (0 or 1).
template <bool kFullC, bool kFullX, bool kFullY, typename S>
void SelectRun(const uint8_t* __restrict c, const S* __restrict x, const S* __restrict y,
               S* __restrict o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    o[i] = internal::Select(c[kFullC ? i : 0] != 0, x[kFullX ? i : 0], y[kFullY ? i : 0]);
  }
}

template <typename T>
void RunWhere(const Tensor& cond, const Tensor& x, const Tensor& y, Tensor& out, Path path) {
  const int64_t n = out.num_elements();
  if (n == 0) return;
  const bool* pc = cond.data<bool>();
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.mutable_data<T>();
  const int64_t nc = cond.num_elements();
  const int64_t nx = x.num_elements();
  const int64_t ny = y.num_elements();
  const bool flat = (nc == n || nc == 1) && (nx == n || nx == 1) && (ny == n || ny == 1);
  if (path == Path::kFastest && flat) {
    // Every operand is either the full layout or one element: strides 1 or 0.
    const int mask = (nc == n ? 4 : 0) | (nx == n ? 2 : 0) | (ny == n ? 1 : 0);
    internal::ForRange(n, 1, [=](int64_t begin, int64_t end) {
      const int64_t len = end - begin;
      using S = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
      const auto* c = reinterpret_cast<const uint8_t*>(pc + (nc == n ? begin : 0));
      const auto* a = reinterpret_cast<const S*>(px + (nx == n ? begin : 0));
      const auto* b = reinterpret_cast<const S*>(py + (ny == n ? begin : 0));
      auto* o = reinterpret_cast<S*>(po + begin);
      switch (mask) {
        case 0:
          return SelectRun<false, false, false>(c, a, b, o, len);
        case 1:
          return SelectRun<false, false, true>(c, a, b, o, len);
        case 2:
          return SelectRun<false, true, false>(c, a, b, o, len);
        case 3:
          return SelectRun<false, true, true>(c, a, b, o, len);
        case 4:
          return SelectRun<true, false, false>(c, a, b, o, len);
        case 5:
          return SelectRun<true, false, true>(c, a, b, o, len);
        case 6:
          return SelectRun<true, true, false>(c, a, b, o, len);
        default:
          return SelectRun<true, true, true>(c, a, b, o, len);
      }
    });
    return;
  }
  const Shape& s = out.shape();
  const internal::BroadcastWalk<3> walk(
      s, {internal::BroadcastStrides(cond.shape(), s), internal::BroadcastStrides(x.shape(), s),
          internal::BroadcastStrides(y.shape(), s)});
  internal::ForRange(n, 3, [&](int64_t begin, int64_t end) {
    walk.Run(begin, end,
             [&](const std::array<int64_t, 3>& offset, const std::array<int64_t, 3>& stride,
                 int64_t i, int64_t len) {
               for (int64_t j = 0; j < len; ++j) {
                 po[i + j] =
                     internal::Select(pc[offset[0] + j * stride[0]], px[offset[1] + j * stride[1]],
                                      py[offset[2] + j * stride[2]]);
               }
             });
  });
}

absl::StatusOr<Tensor> WhereImpl(const Tensor& cond, const Tensor& x, const Tensor& y, Path path) {
  if (ABSL_PREDICT_FALSE(!cond.defined() || !x.defined() || !y.defined() ||
                         cond.dtype() != DType::kBool || x.dtype() != y.dtype())) {
    return WhereArgError(cond, x, y);
  }
  Shape out_shape = cond.shape();
  if (ABSL_PREDICT_FALSE(!internal::BroadcastInto(x.shape(), &out_shape) ||
                         !internal::BroadcastInto(y.shape(), &out_shape))) {
    return absl::InvalidArgumentError(absl::StrCat("Where: cannot broadcast cond ",
                                                   cond.ShapeString(), ", x ", x.ShapeString(),
                                                   " and y ", y.ShapeString()));
  }
  Tensor out = Tensor::Empty(out_shape, x.dtype());
  DispatchDType(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    RunWhere<T>(cond, x, y, out, path);
  });
  return out;
}

// ---- ReluGrad

// ReluGradRun writes o[i] = x[i] > 0 ? g[i] : +0, with the same integer-mask Select as Where, so
// its bits are those of Where(Greater(x, 0), g, 0): a NaN x compares false and gives +0, and a
// selected g keeps its bits (-0, NaN, inf). One pass, no bool mask in memory.
template <typename T>
void ReluGradRun(const T* __restrict x, const T* __restrict g, T* __restrict o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = internal::Select(x[i] > T{0}, g[i], T{0});
}

absl::Status ReluGradArgError(const Tensor& x, const Tensor& g) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("ReluGrad", x, "x"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("ReluGrad", g, "g"));
  CONCORD_RETURN_IF_ERROR(internal::CheckSameDType("ReluGrad", x, g));
  CONCORD_RETURN_IF_ERROR(internal::CheckFloating("ReluGrad", x));
  return absl::InvalidArgumentError(
      absl::StrCat("ReluGrad: shape mismatch: ", x.ShapeString(), " vs ", g.ShapeString()));
}

// ---- SubMul

// SubMulRun writes o[i] = x[i] - y[i] * s with the product rounded before the subtraction, as Mul
// then Sub round it. GCC could otherwise contract the two into a fused multiply-add when FMA is
// enabled (-mfma), which rounds once; clang contracts only within one expression.
template <typename T>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void SubMulRun(const T* __restrict x, const T* __restrict y, T s, T* __restrict o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T product = y[i] * s;
    o[i] = x[i] - product;
  }
}

absl::Status SubMulArgError(const Tensor& x, const Tensor& y, const Tensor& s) {
  constexpr absl::string_view kOp = "SubMul";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x, "x"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, y, "y"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, s, "s"));
  CONCORD_RETURN_IF_ERROR(internal::CheckSameDType(kOp, x, y));
  CONCORD_RETURN_IF_ERROR(internal::CheckSameDType(kOp, x, s));
  CONCORD_RETURN_IF_ERROR(internal::CheckFloating(kOp, x));
  if (x.shape() != y.shape()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SubMul: x and y must have one shape: ", x.ShapeString(), " vs ",
                     y.ShapeString()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("SubMul: s must be a scalar (rank 0), got ", s.ShapeString()));
}

// ---- Cast

// Convert maps one value to To without undefined behaviour (the rules are in elementwise.h).
template <typename To, typename From>
To Convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From{0};
  } else if constexpr (std::is_same_v<From, bool>) {
    return v ? To{1} : To{0};
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // 2^(bits-1) is exact in both floating types; values strictly inside (-limit, limit)
    // truncate to a representable integer.
    constexpr From kLimit = static_cast<From>(uint64_t{1} << std::numeric_limits<To>::digits);
    if (std::isnan(v)) return To{0};
    if (v >= kLimit) return std::numeric_limits<To>::max();
    if (v <= -kLimit) return std::numeric_limits<To>::min();
    return static_cast<To>(v);
  } else if constexpr (std::is_integral_v<To> && std::is_integral_v<From>) {
    // Narrowing wraps modulo 2^bits (two's complement), defined in C++20 and in GCC/Clang.
    using U = std::make_unsigned_t<To>;
    return static_cast<To>(static_cast<U>(v));
  } else {
    return static_cast<To>(v);  // To a floating type: round to nearest.
  }
}

}  // namespace

absl::StatusOr<Tensor> Where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  return WhereImpl(cond, x, y, Path::kFastest);
}

absl::StatusOr<Tensor> ReluGrad(const Tensor& x, const Tensor& g) {
  if (ABSL_PREDICT_FALSE(!x.defined() || !g.defined() || x.dtype() != g.dtype() ||
                         !IsFloating(x.dtype()) || x.shape() != g.shape())) {
    return ReluGradArgError(x, g);
  }
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    T* po = out.mutable_data<T>();
    internal::ForRange(out.num_elements(), 1, [=](int64_t begin, int64_t end) {
      ReluGradRun(px + begin, pg + begin, po + begin, end - begin);
    });
  });
  return out;
}

absl::StatusOr<Tensor> SubMul(const Tensor& x, const Tensor& y, const Tensor& s) {
  if (ABSL_PREDICT_FALSE(!x.defined() || !y.defined() || !s.defined() || x.dtype() != y.dtype() ||
                         x.dtype() != s.dtype() || !IsFloating(x.dtype()) ||
                         x.shape() != y.shape() || s.shape().rank() != 0)) {
    return SubMulArgError(x, y, s);
  }
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    const T scalar = s.data<T>()[0];
    T* po = out.mutable_data<T>();
    internal::ForRange(out.num_elements(), 2, [=](int64_t begin, int64_t end) {
      SubMulRun(px + begin, py + begin, scalar, po + begin, end - begin);
    });
  });
  return out;
}

absl::StatusOr<Tensor> Cast(const Tensor& x, DType dtype) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("Cast", x, "x"));
  Tensor out = Tensor::Empty(x.shape(), dtype);
  DispatchDType(x.dtype(), [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    DispatchDType(dtype, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      const From* in = x.data<From>();
      To* o = out.mutable_data<To>();
      internal::ForRange(x.num_elements(), 1, [=](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) o[i] = Convert<To>(in[i]);
      });
    });
  });
  return out;
}

namespace internal {

absl::StatusOr<Tensor> WhereGeneralForTesting(const Tensor& cond, const Tensor& x,
                                              const Tensor& y) {
  return WhereImpl(cond, x, y, Path::kGeneral);
}

}  // namespace internal

}  // namespace concord::engine
