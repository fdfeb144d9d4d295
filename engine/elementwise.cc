// Unary elementwise ops. The transcendental ones (and Relu, to be branch-free) run on Eigen
// packet math with padded tails; see Note [Elementwise determinism] in elementwise_impl.h.
#include "engine/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "absl/base/optimization.h"
#include "engine/elementwise_impl.h"
#include "engine/internal/eigen.h"  // Eigen/Core: packet math.

namespace concord::engine {
namespace {

namespace ei = Eigen::internal;
using internal::DTypeSet;

template <typename T>
using PacketOf = typename ei::packet_traits<T>::type;

// ---- Packet building blocks. Each lane depends only on that lane's input.

// ExpPacket is Eigen's pexp with gradual underflow: pexp clamps its input (so pexp(-inf) would
// be about 3e-39 for float32), so far-negative lanes use exp(x / 2)^2 instead, which reaches the
// subnormals and then 0. The branch only skips work: lanes get the same bits either way.
template <typename T, typename P = PacketOf<T>>
P ExpPacket(const P& x) {
  const P low = ei::pset1<P>(std::is_same_v<T, float> ? T{-80} : T{-700});
  const P far = ei::pcmp_lt(x, low);
  P result = ei::pexp(x);
  if (ei::predux_any(far)) {
    const P half = ei::pexp(ei::pmul(x, ei::pset1<P>(T{0.5})));
    result = ei::pselect(far, ei::pmul(half, half), result);
  }
  return result;
}

// LogPacket is Eigen's plog made exact for subnormal inputs (plog flushes them to the smallest
// normal): those lanes are scaled by 2^s first and s * log(2) is subtracted after.
template <typename T, typename P = PacketOf<T>>
P LogPacket(const P& x) {
  constexpr bool kFloat = std::is_same_v<T, float>;
  const P tiny = ei::pcmp_lt(x, ei::pset1<P>(std::numeric_limits<T>::min()));
  if (!ei::predux_any(tiny)) return ei::plog(x);
  const T scale = static_cast<T>(kFloat ? 16777216.0 : 18014398509481984.0);        // 2^24, 2^54
  const T shift = static_cast<T>(kFloat ? 16.635532333438687 : 37.42994775023705);  // s ln 2
  const P scaled = ei::pselect(tiny, ei::pmul(x, ei::pset1<P>(scale)), x);
  const P log = ei::plog(scaled);
  return ei::pselect(tiny, ei::psub(log, ei::pset1<P>(shift)), log);
}

// SigmoidPacket: 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|) <= 1, so
// nothing overflows and the negative tail keeps its relative accuracy.
template <typename T, typename P = PacketOf<T>>
P SigmoidPacket(const P& x) {
  const P one = ei::pset1<P>(T{1});
  const P e = ExpPacket<T>(ei::pnegate(ei::pabs(x)));
  const P denominator = ei::padd(one, e);
  const P positive = ei::pdiv(one, denominator);
  const P negative = ei::pdiv(e, denominator);
  return ei::pselect(ei::pcmp_lt(x, ei::pzero(x)), negative, positive);
}

// ---- The ops. Each names its dtype set, a cost per element for ParallelFor, and either a
// ---- packet function (kPacket<T>) or a scalar one.

template <typename T>
inline constexpr bool kIsFloat = std::is_same_v<T, float>;

struct NegOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    if constexpr (std::is_integral_v<T>) {
      return internal::WrapNeg(x);
    } else {
      return -x;
    }
  }
};

struct AbsOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    if constexpr (std::is_integral_v<T>) {
      return x < 0 ? internal::WrapNeg(x) : x;
    } else {
      return std::fabs(x);
    }
  }
};

struct SignOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    if (x > T{0}) return T{1};
    if (x < T{0}) return T{-1};
    return x;  // Zeros and NaN come back unchanged.
  }
};

// Relu: x <= 0 becomes +0 (so -0 too); NaN compares false and comes back unchanged. Packets for
// the floating types: the scalar form compiled to a branch that random signs mispredict half the
// time. Integers use a plain max, which GCC compiles without branches.
struct ReluOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static constexpr bool kPacket = std::is_floating_point_v<T>;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    const P zero = ei::pzero(x);
    return ei::pselect(ei::pcmp_le(x, zero), zero, x);
  }
  template <typename T>
  static T Scalar(T x) {
    return std::max(x, T{0});
  }
};

struct ExpOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 8;
  template <typename T>
  static constexpr bool kPacket = true;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    return ExpPacket<T>(x);
  }
};

struct LogOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 8;
  template <typename T>
  static constexpr bool kPacket = true;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    return LogPacket<T>(x);
  }
};

struct SqrtOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 4;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    return std::sqrt(x);
  }
};

struct RsqrtOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 6;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    return T{1} / std::sqrt(x);
  }
};

struct SigmoidOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 12;
  template <typename T>
  static constexpr bool kPacket = true;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    return SigmoidPacket<T>(x);
  }
};

// Tanh: Eigen's rational approximation for float32 (ptanh); std::tanh for float64, which has
// no Eigen packet version.
struct TanhOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 12;
  template <typename T>
  static constexpr bool kPacket = kIsFloat<T>;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    return ei::ptanh(x);
  }
  template <typename T>
  static T Scalar(T x) {
    return std::tanh(x);
  }
};

// Softplus = max(x, 0) + log1p(exp(-|x|)): packets for float32; scalar std:: for float64 (Eigen
// has no float64 plog1p).
struct SoftplusOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 16;
  template <typename T>
  static constexpr bool kPacket = kIsFloat<T>;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    const P zero = ei::pzero(x);
    const P positive_part = ei::pselect(ei::pcmp_lt(zero, x), x, zero);
    const P tail = ei::plog1p(ExpPacket<T>(ei::pnegate(ei::pabs(x))));
    return ei::padd(positive_part, tail);
  }
  template <typename T>
  static T Scalar(T x) {
    return (x > T{0} ? x : T{0}) + std::log1p(std::exp(-std::fabs(x)));
  }
};

// Gelu, exact form, as 0.5 x erfc(-x / sqrt 2): equal to 0.5 x (1 + erf(x / sqrt 2)) but without
// the cancellation that turns the far negative tail into 0. std::erfc for both dtypes (Eigen
// Core has no erf packet).
struct GeluOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 16;
  template <typename T>
  static constexpr bool kPacket = false;
  static constexpr double kInvSqrt2 = 0.70710678118654752440;
  template <typename T>
  static T Scalar(T x) {
    return T{0.5} * x * std::erfc(-x * T{kInvSqrt2});
  }
};

// Gelu, tanh form, as x * sigmoid(2 u) with u = sqrt(2 / pi) (x + 0.044715 x^3): equal to
// 0.5 x (1 + tanh(u)), but 1 + tanh(u) cancels to 0 in float32 once u < -9 while the sigmoid
// keeps its relative accuracy. Packets for both dtypes.
struct GeluTanhOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr int64_t kCost = 16;
  static constexpr double kTwoSqrt2OverPi = 1.5957691216057307118;  // 2 sqrt(2 / pi)
  static constexpr double kCubic = 0.044715;
  template <typename T>
  static constexpr bool kPacket = true;
  template <typename T, typename P = PacketOf<T>>
  static P Packet(const P& x) {
    const P cube = ei::pmul(x, ei::pmul(x, x));
    const P two_u = ei::pmul(ei::pset1<P>(T{kTwoSqrt2OverPi}),
                             ei::padd(x, ei::pmul(ei::pset1<P>(T{kCubic}), cube)));
    return ei::pmul(x, SigmoidPacket<T>(two_u));
  }
};

struct LogicalNotOp {
  static constexpr DTypeSet kSet = DTypeSet::kBool;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static constexpr bool kPacket = false;
  template <typename T>
  static T Scalar(T x) {
    return !x;
  }
};

// UnaryLoop applies Op to n contiguous elements. Packet ops run whole packets, then the tail
// through the same packet function on a padded temporary (Note [Elementwise determinism]).
template <typename Op, typename T>
void UnaryLoop(const T* in, T* out, int64_t n) {
  if constexpr (Op::template kPacket<T>) {
    using P = PacketOf<T>;
    constexpr int64_t kWidth = ei::packet_traits<T>::size;
    int64_t i = 0;
    for (; i + kWidth <= n; i += kWidth) {
      ei::pstoreu(out + i, Op::template Packet<T>(ei::ploadu<P>(in + i)));
    }
    if (i < n) {
      T padded[kWidth];
      for (int64_t k = 0; k < kWidth; ++k) padded[k] = i + k < n ? in[i + k] : T{1};
      ei::pstoreu(padded, Op::template Packet<T>(ei::ploadu<P>(padded)));
      for (int64_t k = 0; i + k < n; ++k) out[i + k] = padded[k];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = Op::Scalar(in[i]);
  }
}

template <typename Op>
absl::StatusOr<Tensor> Unary(absl::string_view name, const Tensor& x) {
  if (ABSL_PREDICT_FALSE(!x.defined() || !internal::InDTypeSet(x.dtype(), Op::kSet))) {
    return internal::UnaryArgError(name, x, Op::kSet);
  }
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  internal::DispatchDTypeSet<Op::kSet>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = x.data<T>();
    T* o = out.mutable_data<T>();
    internal::ForRange(x.num_elements(), Op::kCost, [in, o](int64_t begin, int64_t end) {
      UnaryLoop<Op, T>(in + begin, o + begin, end - begin);
    });
  });
  return out;
}

}  // namespace

absl::StatusOr<Tensor> Neg(const Tensor& x) { return Unary<NegOp>("Neg", x); }
absl::StatusOr<Tensor> Abs(const Tensor& x) { return Unary<AbsOp>("Abs", x); }
absl::StatusOr<Tensor> Sign(const Tensor& x) { return Unary<SignOp>("Sign", x); }
absl::StatusOr<Tensor> Relu(const Tensor& x) { return Unary<ReluOp>("Relu", x); }
absl::StatusOr<Tensor> Exp(const Tensor& x) { return Unary<ExpOp>("Exp", x); }
absl::StatusOr<Tensor> Log(const Tensor& x) { return Unary<LogOp>("Log", x); }
absl::StatusOr<Tensor> Sqrt(const Tensor& x) { return Unary<SqrtOp>("Sqrt", x); }
absl::StatusOr<Tensor> Rsqrt(const Tensor& x) { return Unary<RsqrtOp>("Rsqrt", x); }
absl::StatusOr<Tensor> Sigmoid(const Tensor& x) { return Unary<SigmoidOp>("Sigmoid", x); }
absl::StatusOr<Tensor> Tanh(const Tensor& x) { return Unary<TanhOp>("Tanh", x); }
absl::StatusOr<Tensor> Softplus(const Tensor& x) { return Unary<SoftplusOp>("Softplus", x); }
absl::StatusOr<Tensor> LogicalNot(const Tensor& x) { return Unary<LogicalNotOp>("LogicalNot", x); }
absl::StatusOr<Tensor> Gelu(const Tensor& x, bool approximate) {
  return approximate ? Unary<GeluTanhOp>("Gelu", x) : Unary<GeluOp>("Gelu", x);
}

}  // namespace concord::engine
