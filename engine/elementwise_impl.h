// Private to the elementwise target: the loop machinery its .cc files share (parallel ranges,
// the strided broadcast walk, dtype sets, wrapping integer arithmetic, error builders).
//
//   ForRange(n, /*cost_per_element=*/1, [&](int64_t begin, int64_t end) { ... });
//
// Note [Elementwise determinism]
// An output element's bits depend only on the input values that produce it: never on the
// element's position in the buffer, on the length of the tensor, on which fast path ran or on
// how ParallelFor split the work. Each (op, dtype) uses exactly one per-element function, of one
// of two kinds:
//
//  1. Plain C++ expressions: + - * /, comparisons, selects, casts, and the C library's
//     sqrt, pow, erfc, tanh, log1p, exp where an op has no packet version for that dtype. Every
//     path (same shape, scalar operand, row or column broadcast, general strided walk, in-place
//     BinaryInPlace) calls the SAME inline functor on each element. GCC may vectorise these
//     loops, but without -ffast-math and with -ffp-contract=off (the build's setting) a
//     vectorised IEEE operation gives exactly the scalar result, so vectorisation cannot change
//     bits. Relu on float32/float64 is written with Eigen packets (pcmp_le, pselect) only to avoid
//     a branch; a compare and a select are exact, so it is of this kind too.
//  2. Eigen packet math (pexp, plog, ptanh, plog1p in Exp, Log, Sigmoid, Tanh, Softplus and
//     Gelu's tanh form). Eigen's own array expressions run whole packets through these and the
//     ragged tail through std::exp and friends, whose last bits differ, so element i would
//     depend on n % 4. Instead UnaryLoop (elementwise.cc) runs whole packets and copies the tail
//     into a padded packet-sized temporary that goes through the SAME packet function. Each lane
//     of these functions depends only on that lane (the per-packet branches in ExpPacket and
//     LogPacket only skip work whose lanes would not be selected), so every element sees one
//     function.
//
// ForRange hands ParallelFor whole blocks of kBlock elements (a multiple of every packet width),
// so a parallel split never creates extra tails either. Thread count therefore cannot change a
// result; elementwise_property_test.cc checks this bitwise at 1 and 2 threads, checks each
// element computed alone and in slices at other offsets against the whole tensor, and checks
// every fast path against the general path.
//
// Not used on purpose: Eigen's float psqrt/prsqrt under EIGEN_FAST_MATH (they refine the
// _mm_rsqrt_ps estimate, whose bits differ between CPU vendors); Sqrt and Rsqrt use the correctly
// rounded IEEE sqrt and division instead. Kind 1 functions from the C library make those ops
// bitwise reproducible for a given libm, not necessarily across libm versions; kind 2 results
// depend only on the Eigen version and the ISA flags (the default build uses SSE2 everywhere).
// The one exception is the sign and payload of a NaN made from two NaNs (Note [NaN bits]).
//
// Note [NaN bits]
// When both operands of an IEEE operation are NaN, x86 returns the first operand's NaN, and GCC
// may swap the operands of a commutative operation (+, *) in a vector loop and not in the scalar
// one: engine::Add(+nan, -nan) gives -nan in a 3-element tensor and +nan in a 1- or 2-element one.
// So a NaN's sign and payload can depend on the length of the tensor, and a fused chain (tiles of
// another length) can give another NaN than the unfused run. IEEE 754 leaves them to the
// implementation (it does not interpret the sign of a NaN); NumPy, PyTorch and JAX do not promise
// them either. Concord's promise is that forms agree on every bit of every element, and that an
// element is NaN in one form exactly when it is NaN in the other; a NaN's own bits are not part
// of it (testing::AgreementDiff compares so, and docs/tracing.md, "What bitwise covers", says it
// to users). Canonicalizing every NaN instead would cost a compare and a blend per element of
// every floating kernel, for bits no operation of Concord's reads back as a number.
#ifndef CONCORD_ENGINE_ELEMENTWISE_IMPL_H_
#define CONCORD_ENGINE_ELEMENTWISE_IMPL_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "engine/threading.h"

namespace concord::engine::internal {

// kBlock: ParallelFor ranges are whole multiples of this many elements (see the Note above).
inline constexpr int64_t kBlock = 1024;

// Work below this many cost units runs inline, without building a std::function.
inline constexpr int64_t kParallelMinCost = int64_t{1} << 17;

// ForRange runs fn(begin, end) over [0, n): inline for small work, else through ParallelFor in
// ranges that start and end on multiples of kBlock (except the final end, n).
template <typename Fn>
void ForRange(int64_t n, int64_t cost_per_element, const Fn& fn) {
  if (n <= 0) return;
  if (n * cost_per_element < kParallelMinCost || NumThreads() == 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  ParallelFor(blocks, cost_per_element * kBlock,
              [&](int64_t begin, int64_t end) { fn(begin * kBlock, std::min(end * kBlock, n)); });
}

// The dtypes an op accepts.
enum class DTypeSet : uint8_t { kFloating, kNumeric, kBool, kAll };

inline bool InDTypeSet(DType dtype, DTypeSet set) {
  switch (set) {
    case DTypeSet::kFloating:
      return IsFloating(dtype);
    case DTypeSet::kNumeric:
      return dtype != DType::kBool;
    case DTypeSet::kBool:
      return dtype == DType::kBool;
    case DTypeSet::kAll:
      return true;
  }
  return false;
}

// DispatchDTypeSet calls fn(TypeTag<T>{}) for `dtype`, instantiating fn only for T in `Set`.
template <DTypeSet Set, typename Fn>
void DispatchDTypeSet(DType dtype, Fn&& fn) {
  if constexpr (Set == DTypeSet::kFloating) {
    DispatchFloating(dtype, fn);
  } else if constexpr (Set == DTypeSet::kNumeric) {
    DispatchNumeric(dtype, fn);
  } else if constexpr (Set == DTypeSet::kBool) {
    CONCORD_CHECK(dtype == DType::kBool);
    fn(TypeTag<bool>{});
  } else {
    DispatchDType(dtype, fn);
  }
}

// UnaryArgError explains why `x` is not a valid input (undefined, or dtype outside `set`).
ABSL_ATTRIBUTE_NOINLINE absl::Status UnaryArgError(absl::string_view op, const Tensor& x,
                                                   DTypeSet set);

// BinaryArgError explains why (a, b) are not valid inputs: undefined, dtype mismatch, or dtype
// outside `set`.
ABSL_ATTRIBUTE_NOINLINE absl::Status BinaryArgError(absl::string_view op, const Tensor& a,
                                                    const Tensor& b, DTypeSet set);

// BroadcastError: "<op>: cannot broadcast float32[2, 3] with float32[4]".
ABSL_ATTRIBUTE_NOINLINE absl::Status BroadcastError(absl::string_view op, const Tensor& a,
                                                    const Tensor& b);

// BroadcastInto widens *out by NumPy broadcasting with `s`; false (leaving *out unspecified) if
// they are incompatible.
// Allocation-free, unlike BroadcastShapes, because it sits on the per-call path.
bool BroadcastInto(const Shape& s, Shape* out);

// ---- Integer arithmetic without undefined behaviour (wraps modulo 2^bits).

template <typename T>
T WrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T>
T WrapSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T>
T WrapMul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <typename T>
T WrapNeg(T a) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(U{0} - static_cast<U>(a));
}

// ---- The general strided broadcast walk.

// BroadcastWalk visits [begin, end) of an output of shape `out` in row-major runs along the last
// axis, tracking the element offset of each of K broadcast operands (strides from
// BroadcastStrides: 0 along broadcast axes).
template <int K>
class BroadcastWalk {
 public:
  BroadcastWalk(const Shape& out, const std::array<std::array<int64_t, kMaxRank>, K>& strides)
      : rank_(out.rank()), strides_(strides) {
    for (int d = 0; d < rank_; ++d) dims_[d] = out.dim(d);
    if (rank_ == 0) {  // A scalar output walks as one run of length 1.
      rank_ = 1;
      dims_[0] = 1;
      for (int k = 0; k < K; ++k) strides_[k][0] = 0;
    }
  }

  // Run calls fn(offsets, last_axis_strides, out_index, length) for each run of the last axis
  // inside [begin, end): element j of the run reads operand k at offsets[k] + j * strides[k].
  template <typename Fn>
  void Run(int64_t begin, int64_t end, Fn&& fn) const {
    const int last = rank_ - 1;
    std::array<int64_t, kMaxRank> index{};
    std::array<int64_t, K> offsets{};
    std::array<int64_t, K> inner{};
    int64_t rest = begin;
    for (int d = last; d >= 0; --d) {
      index[d] = rest % dims_[d];
      rest /= dims_[d];
      for (int k = 0; k < K; ++k) offsets[k] += index[d] * strides_[k][d];
    }
    for (int k = 0; k < K; ++k) inner[k] = strides_[k][last];
    int64_t i = begin;
    while (i < end) {
      const int64_t len = std::min(dims_[last] - index[last], end - i);
      fn(offsets, inner, i, len);
      i += len;
      index[last] += len;
      for (int k = 0; k < K; ++k) offsets[k] += len * inner[k];
      if (index[last] < dims_[last]) continue;
      // Carry into the outer axes.
      for (int d = last; d >= 0; --d) {
        if (d < last) {
          ++index[d];
          for (int k = 0; k < K; ++k) offsets[k] += strides_[k][d];
          if (index[d] < dims_[d]) break;
        }
        for (int k = 0; k < K; ++k) offsets[k] -= index[d] * strides_[k][d];
        index[d] = 0;
      }
    }
  }

 private:
  int rank_;
  std::array<int64_t, kMaxRank> dims_{};
  std::array<std::array<int64_t, kMaxRank>, K> strides_;
};

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_ELEMENTWISE_IMPL_H_
