// ArgMax/ArgMin and Softmax/LogSoftmax: the single-axis reductions of reduction.h.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/reduction_util.h"
#include "engine/reduction.h"
#include "engine/threading.h"

namespace concord::engine {
namespace {

// AxisSplit views a tensor as [outer, n, inner] around one axis.
struct AxisSplit {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
};

AxisSplit SplitAround(const Shape& shape, int axis) {
  AxisSplit s;
  for (int d = 0; d < axis; ++d) s.outer *= shape.dim(d);
  s.n = shape.dim(axis);
  for (int d = axis + 1; d < shape.rank(); ++d) s.inner *= shape.dim(d);
  return s;
}

// ForEachLine calls fn(line, o) for every line (o, k) of `inner` contiguous elements, in
// parallel; line = o * n + k.
template <typename Fn>
void ForEachLine(const AxisSplit& s, int64_t cost_per_element, Fn fn) {
  ParallelFor(s.outer * s.n, s.inner * cost_per_element, [&](int64_t begin, int64_t end) {
    int64_t o = begin / s.n;
    int64_t k = begin % s.n;
    for (int64_t line = begin; line < end; ++line) {
      fn(line, o);
      if (++k == s.n) {
        k = 0;
        ++o;
      }
    }
  });
}

// Better(v, best) is true when v should replace the current best (strictly better, so ties keep
// the first occurrence; a NaN beats any number and the first NaN stays).
template <bool kMax, typename T>
bool Better(T v, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(best)) return false;
    if (std::isnan(v)) return true;
  }
  return kMax ? v > best : v < best;
}

template <bool kMax>
absl::StatusOr<Tensor> ArgReduce(absl::string_view op, const Tensor& x, int64_t axis_arg) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, x));
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(op, x));
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::AxisFor(op, axis_arg, x));
  std::vector<int64_t> out_dims = x.shape().ToVector();
  out_dims.erase(out_dims.begin() + axis);
  Tensor out = Tensor::Empty(Shape::FromDims(out_dims).value(), DType::kInt64);
  if (out.num_elements() == 0) return out;
  const AxisSplit s = SplitAround(x.shape(), axis);
  if (s.n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": axis ", axis_arg, " of ", x.ShapeString(), " is empty"));
  }
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (s.inner + kChunk - 1) / kChunk;
  DispatchNumeric(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    int64_t* op_idx = out.mutable_data<int64_t>();
    ParallelFor(s.outer * chunks, s.n * std::min(s.inner, kChunk) + 8,
                [&](int64_t begin, int64_t end) {
                  T best[kChunk];
                  if (s.inner == 1) {  // Contiguous rows: one scan each.
                    for (int64_t o = begin; o < end; ++o) {
                      const T* row = xp + o * s.n;
                      T b = row[0];
                      int64_t at = 0;
                      for (int64_t k = 1; k < s.n; ++k) {
                        if (Better<kMax>(row[k], b)) {
                          b = row[k];
                          at = k;
                        }
                      }
                      op_idx[o] = at;
                    }
                    return;
                  }
                  for (int64_t item = begin; item < end; ++item) {
                    const int64_t o = item / chunks;
                    const int64_t i0 = (item % chunks) * kChunk;
                    const int64_t width = std::min(s.inner - i0, kChunk);
                    const T* base = xp + o * s.n * s.inner + i0;
                    int64_t* idx = op_idx + o * s.inner + i0;
                    for (int64_t i = 0; i < width; ++i) {
                      best[i] = base[i];
                      idx[i] = 0;
                    }
                    for (int64_t k = 1; k < s.n; ++k) {
                      const T* row = base + k * s.inner;
                      for (int64_t i = 0; i < width; ++i) {
                        if (Better<kMax>(row[i], best[i])) {
                          best[i] = row[i];
                          idx[i] = k;
                        }
                      }
                    }
                  }
                });
  });
  return out;
}

// SoftmaxImpl computes softmax (or its log) along one axis; see reduction.h.
absl::StatusOr<Tensor> SoftmaxImpl(absl::string_view op, const Tensor& x, int64_t axis_arg,
                                   bool log) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, x));
  CONCORD_RETURN_IF_ERROR(internal::CheckFloating(op, x));
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::AxisFor(op, axis_arg, x));
  if (x.num_elements() == 0) return Tensor::Empty(x.shape(), x.dtype());
  internal::AxisMask mask{};
  mask[axis] = true;
  CONCORD_ASSIGN_OR_RETURN(Tensor shift,
                           internal::ReduceMax(op, x, mask, /*keepdims=*/true, false));
  const AxisSplit s = SplitAround(x.shape(), axis);
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* m = shift.mutable_data<T>();  // Ours: just created by ReduceMax.
    for (int64_t i = 0; i < shift.num_elements(); ++i) {
      if (!std::isfinite(m[i])) m[i] = static_cast<T>(0);
    }
    const T* xp = x.data<T>();
    T* e = out.mutable_data<T>();
    // e = exp(x - shift), one line of `inner` elements at a time; line (o, k) uses shift row o.
    ForEachLine(s, 20, [&](int64_t line, int64_t o) {
      const T* xl = xp + line * s.inner;
      const T* ml = m + o * s.inner;
      T* el = e + line * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) el[i] = std::exp(xl[i] - ml[i]);
    });
  });
  CONCORD_ASSIGN_OR_RETURN(Tensor sums, internal::ReduceSum(op, out, mask, /*keepdims=*/true));
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* m = shift.data<T>();
    const T* sp = sums.data<T>();
    const T* xp = x.data<T>();
    T* e = out.mutable_data<T>();
    ForEachLine(s, log ? 20 : 4, [&](int64_t line, int64_t o) {
      const T* sl = sp + o * s.inner;
      T* el = e + line * s.inner;
      if (log) {
        const T* xl = xp + line * s.inner;
        const T* ml = m + o * s.inner;
        for (int64_t i = 0; i < s.inner; ++i) el[i] = (xl[i] - ml[i]) - std::log(sl[i]);
      } else {
        for (int64_t i = 0; i < s.inner; ++i) el[i] = el[i] / sl[i];
      }
    });
  });
  return out;
}

}  // namespace

absl::StatusOr<Tensor> ArgMax(const Tensor& x, int64_t axis) {
  return ArgReduce</*kMax=*/true>("ArgMax", x, axis);
}

absl::StatusOr<Tensor> ArgMin(const Tensor& x, int64_t axis) {
  return ArgReduce</*kMax=*/false>("ArgMin", x, axis);
}

absl::StatusOr<Tensor> Softmax(const Tensor& x, int64_t axis) {
  return SoftmaxImpl("Softmax", x, axis, /*log=*/false);
}

absl::StatusOr<Tensor> LogSoftmax(const Tensor& x, int64_t axis) {
  return SoftmaxImpl("LogSoftmax", x, axis, /*log=*/true);
}

}  // namespace concord::engine
