// Broadcasting binary ops: arithmetic, comparisons, logical. One scalar functor per op runs on
// every path (Note [Elementwise determinism] in elementwise_impl.h); the fast paths only change
// how operand elements are found, never what is computed from them.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "engine/elementwise.h"
#include "engine/elementwise_impl.h"
#include "engine/internal/kernel_util.h"

namespace concord::engine {

namespace internal {

absl::Status UnaryArgError(absl::string_view op, const Tensor& x, DTypeSet set) {
  CONCORD_RETURN_IF_ERROR(CheckDefined(op, x, "x"));
  switch (set) {
    case DTypeSet::kFloating:
      return CheckFloating(op, x);
    case DTypeSet::kNumeric:
      return CheckNumeric(op, x);
    case DTypeSet::kBool:
      return CheckDTypeIn(op, x, {DType::kBool});
    case DTypeSet::kAll:
      break;
  }
  return absl::OkStatus();
}

absl::Status BinaryArgError(absl::string_view op, const Tensor& a, const Tensor& b, DTypeSet set) {
  CONCORD_RETURN_IF_ERROR(CheckDefined(op, a, "a"));
  CONCORD_RETURN_IF_ERROR(CheckDefined(op, b, "b"));
  CONCORD_RETURN_IF_ERROR(CheckSameDType(op, a, b));
  return UnaryArgError(op, a, set);
}

absl::Status BroadcastError(absl::string_view op, const Tensor& a, const Tensor& b) {
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": cannot broadcast ", a.ShapeString(), " with ", b.ShapeString()));
}

bool BroadcastInto(const Shape& s, Shape* out) {
  if (s.rank() <= out->rank()) {  // The common case: widen `out` in place.
    const int offset = out->rank() - s.rank();
    for (int i = 0; i < s.rank(); ++i) {
      const int64_t ds = s.dim(i);
      const int64_t dout = out->dim(i + offset);
      if (ds == dout || ds == 1) continue;
      if (dout != 1) return false;
      out->set_dim(i + offset, ds);
    }
    return true;
  }
  const int rank = s.rank();
  std::array<int64_t, kMaxRank> dims{};
  for (int i = 0; i < rank; ++i) {
    const int is = s.rank() - rank + i;
    const int io = out->rank() - rank + i;
    const int64_t ds = is >= 0 ? s.dim(is) : 1;
    const int64_t dout = io >= 0 ? out->dim(io) : 1;
    if (ds != dout && ds != 1 && dout != 1) return false;
    dims[i] = ds == 1 ? dout : ds;
  }
  *out = Shape::FromDims(absl::MakeConstSpan(dims.data(), rank)).value();
  return true;
}

}  // namespace internal

namespace {

using internal::BinaryOpKind;
using internal::DTypeSet;

template <typename T>
inline constexpr bool kIsFloating = std::is_floating_point_v<T>;

// ---- The per-element functions. kSet: accepted dtypes; kBoolOut: the result is bool.

struct AddOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return internal::WrapAdd(a, b);
    } else {
      return a + b;
    }
  }
};

struct SubOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return internal::WrapSub(a, b);
    } else {
      return a - b;
    }
  }
};

struct MulOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return internal::WrapMul(a, b);
    } else {
      return a * b;
    }
  }
};

// Note [Integer division]
// Integer Div truncates toward zero like C++. The two cases where C++ has undefined behaviour
// (and x86 raises SIGFPE) get defined results instead: x / 0 == 0 (as TensorFlow's
// div_no_nan), and INT_MIN / -1 == INT_MIN (wrapping, as Neg does).
struct DivOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 4;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return T{0};
      if (b == -1) return internal::WrapNeg(a);
      return a / b;
    } else {
      return a / b;
    }
  }
};

struct PowOp {
  static constexpr DTypeSet kSet = DTypeSet::kFloating;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 20;
  template <typename T>
  static T Apply(T a, T b) {
    return std::pow(a, b);
  }
};

struct MaximumOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (kIsFloating<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
      if (a == b) return std::signbit(a) ? b : a;  // max(-0, +0) == +0 in either order.
    }
    return a > b ? a : b;
  }
};

struct MinimumOp {
  static constexpr DTypeSet kSet = DTypeSet::kNumeric;
  static constexpr bool kBoolOut = false;
  static constexpr int64_t kCost = 1;
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (kIsFloating<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
      if (a == b) return std::signbit(a) ? a : b;  // min(-0, +0) == -0 in either order.
    }
    return a < b ? a : b;
  }
};

#define CONCORD_COMPARISON_OP(Name, set, expr)      \
  struct Name {                                     \
    static constexpr DTypeSet kSet = DTypeSet::set; \
    static constexpr bool kBoolOut = true;          \
    static constexpr int64_t kCost = 1;             \
    template <typename T>                           \
    static bool Apply(T a, T b) {                   \
      return expr;                                  \
    }                                               \
  };
CONCORD_COMPARISON_OP(EqualOp, kAll, a == b)
CONCORD_COMPARISON_OP(NotEqualOp, kAll, a != b)
CONCORD_COMPARISON_OP(LessOp, kNumeric, a < b)
CONCORD_COMPARISON_OP(LessEqualOp, kNumeric, a <= b)
CONCORD_COMPARISON_OP(GreaterOp, kNumeric, a > b)
CONCORD_COMPARISON_OP(GreaterEqualOp, kNumeric, a >= b)
CONCORD_COMPARISON_OP(LogicalAndOp, kBool, a&& b)
CONCORD_COMPARISON_OP(LogicalOrOp, kBool, a || b)
#undef CONCORD_COMPARISON_OP

// ---- Inner loops. Blocks of 8 load every operand before storing, which lets GCC vectorise at
// ---- -O2 and keeps `o == a` (BinaryInPlace) correct.

constexpr int kUnroll = 8;

template <typename Op, typename T, typename O>
void Contiguous(const T* a, const T* b, O* o, int64_t n) {
  int64_t i = 0;
  for (; i + kUnroll <= n; i += kUnroll) {
    T xa[kUnroll];
    T xb[kUnroll];
    for (int k = 0; k < kUnroll; ++k) xa[k] = a[i + k];
    for (int k = 0; k < kUnroll; ++k) xb[k] = b[i + k];
    for (int k = 0; k < kUnroll; ++k) o[i + k] = Op::Apply(xa[k], xb[k]);
  }
  for (; i < n; ++i) o[i] = Op::Apply(a[i], b[i]);
}

// ScalarRight: o[i] = op(a[i], s).
template <typename Op, typename T, typename O>
void ScalarRight(const T* a, T s, O* o, int64_t n) {
  int64_t i = 0;
  for (; i + kUnroll <= n; i += kUnroll) {
    T xa[kUnroll];
    for (int k = 0; k < kUnroll; ++k) xa[k] = a[i + k];
    for (int k = 0; k < kUnroll; ++k) o[i + k] = Op::Apply(xa[k], s);
  }
  for (; i < n; ++i) o[i] = Op::Apply(a[i], s);
}

// ScalarLeft: o[i] = op(s, b[i]).
template <typename Op, typename T, typename O>
void ScalarLeft(T s, const T* b, O* o, int64_t n) {
  int64_t i = 0;
  for (; i + kUnroll <= n; i += kUnroll) {
    T xb[kUnroll];
    for (int k = 0; k < kUnroll; ++k) xb[k] = b[i + k];
    for (int k = 0; k < kUnroll; ++k) o[i + k] = Op::Apply(s, xb[k]);
  }
  for (; i < n; ++i) o[i] = Op::Apply(s, b[i]);
}

// IsRow: `small` (after dropping leading 1s) equals the trailing dims of `out`, so element i of
// the output reads small[i % small.num_elements()].
bool IsRow(const Shape& small, const Shape& out) {
  int first = 0;
  while (first < small.rank() && small.dim(first) == 1) ++first;
  const int offset = out.rank() - small.rank();
  for (int d = first; d < small.rank(); ++d) {
    if (small.dim(d) != out.dim(d + offset)) return false;
  }
  return true;
}

// IsColumn: `small` equals the leading dims of `out` followed by 1s (and `out` has no larger
// axes in front of it), so output element i reads small[i / (n / small.num_elements())].
bool IsColumn(const Shape& small, const Shape& out) {
  const int offset = out.rank() - small.rank();
  for (int d = 0; d < offset; ++d) {
    if (out.dim(d) != 1) return false;
  }
  int last = small.rank() - 1;
  while (last >= 0 && small.dim(last) == 1) --last;
  for (int d = 0; d <= last; ++d) {
    if (small.dim(d) != out.dim(d + offset)) return false;
  }
  return true;
}

enum class Path { kFastest, kGeneral };

// RowBroadcast runs o[i] = op(a[i], row[i % k]) (kRowLeft false) or op(row[i % k], a[i])
// (kRowLeft true) over [begin, end) of a [m, k] operand `a`. A short row (a bias of 16 channels)
// is first repeated into a tile of whole rows at most kTile elements long (when the range is long
// enough to pay for it), so Contiguous runs over long stretches instead of one call and one
// division per row. Each element still sees the same Op::Apply on the same two values, so the
// bits are those of the general walk (elementwise_property_test checks both sides, large and
// small).
template <typename Op, bool kRowLeft, typename T, typename O>
void RowBroadcast(const T* a, const T* row, int64_t k, O* o, int64_t begin, int64_t end) {
  constexpr int64_t kTile = 512;
  T tile[kTile];
  const T* r = row;
  int64_t width = k;
  if (k < kTile && end - begin >= 2 * kTile) {
    width = (kTile / k) * k;
    for (int64_t t = 0; t < width; ++t) tile[t] = row[t % k];
    r = tile;
  }
  int64_t i = begin;
  int64_t j = i % width;
  while (i < end) {
    const int64_t len = std::min(width - j, end - i);
    if constexpr (kRowLeft) {
      Contiguous<Op>(r + j, a + i, o + i, len);
    } else {
      Contiguous<Op>(a + i, r + j, o + i, len);
    }
    i += len;
    j = 0;
  }
}

template <typename Op, typename T, typename O>
void RunGeneral(const T* pa, const T* pb, O* po, const Shape& a, const Shape& b, const Shape& out) {
  const internal::BroadcastWalk<2> walk(
      out, {internal::BroadcastStrides(a, out), internal::BroadcastStrides(b, out)});
  internal::ForRange(out.num_elements(), Op::kCost + 2, [&](int64_t begin, int64_t end) {
    walk.Run(begin, end,
             [&](const std::array<int64_t, 2>& offset, const std::array<int64_t, 2>& stride,
                 int64_t i, int64_t len) {
               const T* ra = pa + offset[0];
               const T* rb = pb + offset[1];
               for (int64_t j = 0; j < len; ++j) {
                 po[i + j] = Op::Apply(ra[j * stride[0]], rb[j * stride[1]]);
               }
             });
  });
}

template <typename Op, typename T, typename O>
void RunBinary(const Tensor& a, const Tensor& b, Tensor& out, Path path) {
  const int64_t n = out.num_elements();
  if (n == 0) return;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  O* po = out.mutable_data<O>();
  const int64_t na = a.num_elements();
  const int64_t nb = b.num_elements();
  const int64_t cost = Op::kCost;
  if (path == Path::kGeneral) {
    RunGeneral<Op>(pa, pb, po, a.shape(), b.shape(), out.shape());
    return;
  }
  if (na == n && nb == n) {  // Same element count and broadcastable: same layout.
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      Contiguous<Op>(pa + begin, pb + begin, po + begin, end - begin);
    });
  } else if (na == n && nb == 1) {
    const T s = *pb;
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      ScalarRight<Op>(pa + begin, s, po + begin, end - begin);
    });
  } else if (na == 1 && nb == n) {
    const T s = *pa;
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      ScalarLeft<Op>(s, pb + begin, po + begin, end - begin);
    });
  } else if (na == n && IsRow(b.shape(), out.shape())) {  // [m, k] op [k]
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      RowBroadcast<Op, /*kRowLeft=*/false>(pa, pb, nb, po, begin, end);
    });
  } else if (nb == n && IsRow(a.shape(), out.shape())) {  // [k] op [m, k]
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      RowBroadcast<Op, /*kRowLeft=*/true>(pb, pa, na, po, begin, end);
    });
  } else if (na == n && IsColumn(b.shape(), out.shape())) {  // [m, k] op [m, 1]
    const int64_t inner = n / nb;
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t row = i / inner;
        const int64_t len = std::min((row + 1) * inner, end) - i;
        ScalarRight<Op>(pa + i, pb[row], po + i, len);
        i += len;
      }
    });
  } else if (nb == n && IsColumn(a.shape(), out.shape())) {  // [m, 1] op [m, k]
    const int64_t inner = n / na;
    internal::ForRange(n, cost, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t row = i / inner;
        const int64_t len = std::min((row + 1) * inner, end) - i;
        ScalarLeft<Op>(pa[row], pb + i, po + i, len);
        i += len;
      }
    });
  } else {  // Anything else: the general strided walk.
    RunGeneral<Op>(pa, pb, po, a.shape(), b.shape(), out.shape());
  }
}

template <typename Op>
absl::StatusOr<Tensor> Binary(absl::string_view name, const Tensor& a, const Tensor& b,
                              Path path = Path::kFastest) {
  if (ABSL_PREDICT_FALSE(!a.defined() || !b.defined() || a.dtype() != b.dtype() ||
                         !internal::InDTypeSet(a.dtype(), Op::kSet))) {
    return internal::BinaryArgError(name, a, b, Op::kSet);
  }
  Shape out_shape = a.shape();
  if (a.shape() != b.shape() &&
      ABSL_PREDICT_FALSE(!internal::BroadcastInto(b.shape(), &out_shape))) {
    return internal::BroadcastError(name, a, b);
  }
  Tensor out = Tensor::Empty(out_shape, Op::kBoolOut ? DType::kBool : a.dtype());
  internal::DispatchDTypeSet<Op::kSet>(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<Op::kBoolOut, bool, T>;
    RunBinary<Op, T, O>(a, b, out, path);
  });
  return out;
}

// WithOp calls fn(Op{}, name) for a BinaryOpKind.
template <typename Fn>
decltype(auto) WithOp(BinaryOpKind kind, Fn&& fn) {
  switch (kind) {
    case BinaryOpKind::kAdd:
      return fn(AddOp{}, "Add");
    case BinaryOpKind::kSub:
      return fn(SubOp{}, "Sub");
    case BinaryOpKind::kMul:
      return fn(MulOp{}, "Mul");
    case BinaryOpKind::kDiv:
      return fn(DivOp{}, "Div");
    case BinaryOpKind::kPow:
      return fn(PowOp{}, "Pow");
    case BinaryOpKind::kMaximum:
      return fn(MaximumOp{}, "Maximum");
    case BinaryOpKind::kMinimum:
      return fn(MinimumOp{}, "Minimum");
    case BinaryOpKind::kEqual:
      return fn(EqualOp{}, "Equal");
    case BinaryOpKind::kNotEqual:
      return fn(NotEqualOp{}, "NotEqual");
    case BinaryOpKind::kLess:
      return fn(LessOp{}, "Less");
    case BinaryOpKind::kLessEqual:
      return fn(LessEqualOp{}, "LessEqual");
    case BinaryOpKind::kGreater:
      return fn(GreaterOp{}, "Greater");
    case BinaryOpKind::kGreaterEqual:
      return fn(GreaterEqualOp{}, "GreaterEqual");
    case BinaryOpKind::kLogicalAnd:
      return fn(LogicalAndOp{}, "LogicalAnd");
    case BinaryOpKind::kLogicalOr:
      return fn(LogicalOrOp{}, "LogicalOr");
  }
  CONCORD_CHECK_MSG(false, "unknown BinaryOpKind");
  return fn(AddOp{}, "Add");
}

}  // namespace

absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b) { return Binary<AddOp>("Add", a, b); }
absl::StatusOr<Tensor> Sub(const Tensor& a, const Tensor& b) { return Binary<SubOp>("Sub", a, b); }
absl::StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b) { return Binary<MulOp>("Mul", a, b); }
absl::StatusOr<Tensor> Div(const Tensor& a, const Tensor& b) { return Binary<DivOp>("Div", a, b); }
absl::StatusOr<Tensor> Pow(const Tensor& a, const Tensor& b) { return Binary<PowOp>("Pow", a, b); }
absl::StatusOr<Tensor> Maximum(const Tensor& a, const Tensor& b) {
  return Binary<MaximumOp>("Maximum", a, b);
}
absl::StatusOr<Tensor> Minimum(const Tensor& a, const Tensor& b) {
  return Binary<MinimumOp>("Minimum", a, b);
}
absl::StatusOr<Tensor> Equal(const Tensor& a, const Tensor& b) {
  return Binary<EqualOp>("Equal", a, b);
}
absl::StatusOr<Tensor> NotEqual(const Tensor& a, const Tensor& b) {
  return Binary<NotEqualOp>("NotEqual", a, b);
}
absl::StatusOr<Tensor> Less(const Tensor& a, const Tensor& b) {
  return Binary<LessOp>("Less", a, b);
}
absl::StatusOr<Tensor> LessEqual(const Tensor& a, const Tensor& b) {
  return Binary<LessEqualOp>("LessEqual", a, b);
}
absl::StatusOr<Tensor> Greater(const Tensor& a, const Tensor& b) {
  return Binary<GreaterOp>("Greater", a, b);
}
absl::StatusOr<Tensor> GreaterEqual(const Tensor& a, const Tensor& b) {
  return Binary<GreaterEqualOp>("GreaterEqual", a, b);
}
absl::StatusOr<Tensor> LogicalAnd(const Tensor& a, const Tensor& b) {
  return Binary<LogicalAndOp>("LogicalAnd", a, b);
}
absl::StatusOr<Tensor> LogicalOr(const Tensor& a, const Tensor& b) {
  return Binary<LogicalOrOp>("LogicalOr", a, b);
}

namespace internal {

absl::StatusOr<Tensor> BinaryGeneralForTesting(BinaryOpKind op, const Tensor& a, const Tensor& b) {
  return WithOp(op, [&](auto op_tag, const char* name) {
    return Binary<decltype(op_tag)>(name, a, b, Path::kGeneral);
  });
}

absl::Status BinaryInPlace(absl::string_view op_name, BinaryOpKind op, Tensor& target,
                           const Tensor& b) {
  return WithOp(op, [&](auto op_tag, const char*) -> absl::Status {
    using Op = decltype(op_tag);
    CONCORD_CHECK_MSG(!Op::kBoolOut, "BinaryInPlace with a comparison");
    if (ABSL_PREDICT_FALSE(!target.defined() || !b.defined() || target.dtype() != b.dtype() ||
                           !InDTypeSet(target.dtype(), Op::kSet))) {
      return BinaryArgError(op_name, target, b, Op::kSet);
    }
    if (target.shape() != b.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          op_name, ": shapes differ: ", target.ShapeString(), " vs ", b.ShapeString()));
    }
    if constexpr (!Op::kBoolOut) {
      DispatchDTypeSet<Op::kSet>(target.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        // The same-shape path of RunBinary, with the output buffer equal to the first input.
        const T* pb = b.data<T>();
        T* pt = target.mutable_data<T>();
        ForRange(target.num_elements(), Op::kCost, [=](int64_t begin, int64_t end) {
          Contiguous<Op>(pt + begin, pb + begin, pt + begin, end - begin);
        });
      });
    }
    return absl::OkStatus();
  });
}

}  // namespace internal

}  // namespace concord::engine
