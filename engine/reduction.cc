#include "engine/reduction.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/reduction_util.h"
#include "engine/threading.h"

namespace concord::engine {

// Note [Deterministic reduction]
// Every reduction (Sum, Prod, Max, Min and, through them, Mean, LogSumExp, Softmax) gives each
// output element a value that is a fixed function F of the SEQUENCE of its input elements, taken
// in row-major order of the reduced axes. F depends only on that sequence: not on the thread
// count, not on how ParallelFor splits the work, not even on the memory layout (so reducing axis 0
// of x and axis 1 of x's transpose agree bitwise). F is:
//
//   1. Cut the sequence into blocks of kBlock = 256 elements (the last may be shorter).
//   2. Within a block, element i goes to lane i % 4; each of the 4 lanes is combined strictly left
//      to right starting from the identity (0 for Sum), and the block's value is
//      (lane0 + lane1) + (lane2 + lane3).
//   3. The block values are combined in a fixed binary tree, built like a binary counter: keep a
//      stack of (value, level); push each block value at level 0 and, while the top two have
//      equal levels, replace them by (older + newer) one level up; at the end fold the stack from
//      the top down (older + result).
//
// Four lanes let the inner loop run without a 4-cycle dependency chain; the blocking and the tree
// keep float32 sums of millions of elements accurate (error grows like 64 + log2(n / 256)
// roundings, not n). Two code paths compute F:
//   - "row" path, when the innermost reduced axis is contiguous: each work item is one
//     (output element, block) pair and streams contiguous runs into the four lanes;
//   - "column" path, when the innermost axis is kept: each work item is one (outer index, tile of
//     up to 256 columns, block) triple and adds whole rows into 4 x tile lane arrays, so memory is
//     read contiguously. Row r of the block feeds lane r % 4 of every column, exactly as in the
//     row path.
// Work items run under ParallelFor and write their block values to a partials buffer (or straight
// to the output when there is one block); a second ParallelFor over output elements folds each
// element's partials with the tree of step 3. Integer Sum and Prod accumulate in the unsigned type
// of the same width, so overflow wraps (two's complement) instead of being undefined. The
// elementwise steps around the reductions (Mean's division, the exp/log of LogSumExp and Softmax)
// are scalar per-element loops, so they cannot depend on position or thread count either.

namespace internal {
namespace {

constexpr int64_t kBlock = 256;
constexpr int64_t kTile = 256;
static_assert(kBlock % 4 == 0, "lanes must restart at every block");

// Odometer walks the offsets of a row-major multi-index over `groups`, starting at a linear index.
class Odometer {
 public:
  Odometer(const ReduceGroup* groups, int count, int64_t linear) : groups_(groups), count_(count) {
    for (int g = count_ - 1; g >= 0; --g) {
      digits_[g] = linear % groups_[g].size;
      linear /= groups_[g].size;
      offset_ += digits_[g] * groups_[g].stride;
    }
  }
  int64_t offset() const { return offset_; }
  void Next() {
    for (int g = count_ - 1; g >= 0; --g) {
      offset_ += groups_[g].stride;
      if (++digits_[g] < groups_[g].size) return;
      offset_ -= digits_[g] * groups_[g].stride;
      digits_[g] = 0;
    }
  }

 private:
  const ReduceGroup* groups_;
  int count_;
  std::array<int64_t, kMaxRank> digits_{};
  int64_t offset_ = 0;
};

int64_t GroupOffset(const ReduceGroup* groups, int count, int64_t linear) {
  return Odometer(groups, count, linear).offset();
}

// LaneAcc holds the four lanes of one block (step 2 of Note [Deterministic reduction]).
template <typename Op, typename T>
class LaneAcc {
 public:
  LaneAcc() : lane_{Op::Identity(), Op::Identity(), Op::Identity(), Op::Identity()} {}

  void Feed(const T* p, int64_t len) {
    int64_t i = 0;
    for (; i < len && (pos_ & 3) != 0; ++i, ++pos_) {
      lane_[pos_ & 3] = Op::Combine(lane_[pos_ & 3], p[i]);
    }
    T a0 = lane_[0], a1 = lane_[1], a2 = lane_[2], a3 = lane_[3];
    const int64_t start = i;
    for (; i + 4 <= len; i += 4) {
      a0 = Op::Combine(a0, p[i]);
      a1 = Op::Combine(a1, p[i + 1]);
      a2 = Op::Combine(a2, p[i + 2]);
      a3 = Op::Combine(a3, p[i + 3]);
    }
    pos_ += i - start;
    lane_[0] = a0, lane_[1] = a1, lane_[2] = a2, lane_[3] = a3;
    for (; i < len; ++i, ++pos_) lane_[pos_ & 3] = Op::Combine(lane_[pos_ & 3], p[i]);
  }

  T Result() const {
    return Op::Combine(Op::Combine(lane_[0], lane_[1]), Op::Combine(lane_[2], lane_[3]));
  }

 private:
  T lane_[4];
  int64_t pos_ = 0;
};

// Fold combines `n` >= 1 block values (stride apart) in the fixed binary-counter tree.
template <typename Op, typename T>
T Fold(const T* p, int64_t n, int64_t stride) {
  CONCORD_DCHECK(n >= 1);
  T values[64];
  int levels[64];
  int top = 0;
  for (int64_t i = 0; i < n; ++i) {
    T current = p[i * stride];
    int level = 0;
    while (top > 0 && levels[top - 1] == level) {
      current = Op::Combine(values[top - 1], current);
      --top;
      ++level;
    }
    values[top] = current;
    levels[top] = level;
    ++top;
  }
  T result = values[top - 1];
  for (int t = top - 2; t >= 0; --t) result = Op::Combine(values[t], result);
  return result;
}

// RowBlock computes block values for the row path: sequence positions [s0, s1) of the output
// element whose kept-axes offset is `base`.
template <typename Op, typename T>
T RowBlock(const T* x, const ReducePlan& plan, int64_t base, int64_t s0, int64_t s1) {
  LaneAcc<Op, T> acc;
  if (plan.num_reduced == 0) {  // The whole sequence is one contiguous run.
    acc.Feed(x + base + s0, s1 - s0);
    return acc.Result();
  }
  int64_t offset_in_run = s0 % plan.run;
  Odometer runs(plan.reduced.data(), plan.num_reduced, s0 / plan.run);
  for (int64_t s = s0; s < s1;) {
    const int64_t len = std::min(plan.run - offset_in_run, s1 - s);
    acc.Feed(x + base + runs.offset() + offset_in_run, len);
    s += len;
    offset_in_run = 0;
    runs.Next();
  }
  return acc.Result();
}

// ColumnBlock computes block values for columns [c0, c1) of the column path, rows [s0, s1)
// (s0 a multiple of 4, so row s feeds lane s % 4), writing column c's value to out[c - c0].
template <typename Op, typename T>
void ColumnBlock(const T* x, const ReducePlan& plan, int64_t base, int64_t c0, int64_t c1,
                 int64_t s0, int64_t s1, T* out) {
  const int64_t width = c1 - c0;
  T lanes[4][kTile];
  for (int l = 0; l < 4; ++l) std::fill(lanes[l], lanes[l] + width, Op::Identity());
  Odometer rows(plan.reduced.data(), plan.num_reduced, s0);
  int64_t s = s0;
  // Four rows at a time, one per lane: four independent streams in flight.
  for (; s + 4 <= s1; s += 4) {
    const T* r[4];
    for (int l = 0; l < 4; ++l) {
      r[l] = x + base + rows.offset() + c0;
      rows.Next();
    }
    for (int64_t c = 0; c < width; ++c) {
      lanes[0][c] = Op::Combine(lanes[0][c], r[0][c]);
      lanes[1][c] = Op::Combine(lanes[1][c], r[1][c]);
      lanes[2][c] = Op::Combine(lanes[2][c], r[2][c]);
      lanes[3][c] = Op::Combine(lanes[3][c], r[3][c]);
    }
  }
  for (; s < s1; ++s) {
    const T* row = x + base + rows.offset() + c0;
    T* lane = lanes[(s - s0) & 3];
    for (int64_t c = 0; c < width; ++c) lane[c] = Op::Combine(lane[c], row[c]);
    rows.Next();
  }
  for (int64_t c = 0; c < width; ++c) {
    out[c] =
        Op::Combine(Op::Combine(lanes[0][c], lanes[1][c]), Op::Combine(lanes[2][c], lanes[3][c]));
  }
}

template <typename Op, typename T>
void RunReduce(const T* x, const ReducePlan& plan, T* out) {
  const int64_t n = plan.reduce_count;
  const int64_t num_blocks = (n + kBlock - 1) / kBlock;
  const int64_t block_len = std::min(n, kBlock);
  std::vector<T> partials(num_blocks > 1 ? plan.out_count * num_blocks : 0);
  T* block_out = num_blocks > 1 ? partials.data() : out;
  const ReduceGroup* kept = plan.kept.data();

  if (plan.row_path) {
    // partials[o * num_blocks + b]
    const int64_t items = plan.out_count * num_blocks;
    ParallelFor(items, block_len + 8, [&](int64_t begin, int64_t end) {
      int64_t b = begin % num_blocks;
      Odometer outputs(kept, plan.num_kept, begin / num_blocks);
      for (int64_t item = begin; item < end; ++item) {
        block_out[item] =
            RowBlock<Op, T>(x, plan, outputs.offset(), b * kBlock, std::min(n, (b + 1) * kBlock));
        if (++b == num_blocks) {
          b = 0;
          outputs.Next();
        }
      }
    });
    if (num_blocks > 1) {
      ParallelFor(plan.out_count, 2 * num_blocks, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          out[o] = Fold<Op, T>(block_out + o * num_blocks, num_blocks, 1);
        }
      });
    }
    return;
  }

  // Column path: partials[(q * num_blocks + b) * columns + c].
  const int64_t columns = plan.run;
  const int64_t outer = plan.out_count / columns;
  const int64_t tiles = (columns + kTile - 1) / kTile;
  const int64_t items = outer * tiles * num_blocks;
  ParallelFor(items, block_len * std::min(columns, kTile) + 8, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item % num_blocks;
      const int64_t t = (item / num_blocks) % tiles;
      const int64_t q = item / (num_blocks * tiles);
      const int64_t c0 = t * kTile;
      const int64_t c1 = std::min(columns, c0 + kTile);
      const int64_t base = GroupOffset(kept, plan.num_kept, q);
      ColumnBlock<Op, T>(x, plan, base, c0, c1, b * kBlock, std::min(n, (b + 1) * kBlock),
                         block_out + (q * num_blocks + b) * columns + c0);
    }
  });
  if (num_blocks > 1) {
    ParallelFor(plan.out_count, 2 * num_blocks, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const int64_t q = o / columns;
        const int64_t c = o % columns;
        out[o] = Fold<Op, T>(block_out + q * num_blocks * columns + c, num_blocks, columns);
      }
    });
  }
}

// WrapType is the type integer Sum and Prod accumulate in: unsigned, so overflow wraps.
template <typename T, bool = std::is_integral_v<T>>
struct Wrap {
  using type = T;
};
template <typename T>
struct Wrap<T, true> {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
using WrapType = typename Wrap<T>::type;

template <typename T>
struct SumOp {
  static T Identity() { return static_cast<T>(0); }
  static T Combine(T a, T b) {
    return static_cast<T>(static_cast<WrapType<T>>(a) + static_cast<WrapType<T>>(b));
  }
};

template <typename T>
struct ProdOp {
  static T Identity() { return static_cast<T>(1); }
  static T Combine(T a, T b) {
    return static_cast<T>(static_cast<WrapType<T>>(a) * static_cast<WrapType<T>>(b));
  }
};

template <typename T>
struct MaxOp {
  static T Identity() {
    if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::lowest();
  }
  static T Combine(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return b > a ? b : a;
  }
};

template <typename T>
struct MinOp {
  static T Identity() {
    if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::max();
  }
  static T Combine(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
};

}  // namespace

absl::StatusOr<int> AxisFor(absl::string_view op, int64_t axis, const Tensor& x) {
  const int rank = x.rank();
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is out of range for ",
                                                   x.ShapeString(), " (rank ", rank, ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<AxisMask> ReducedAxes(absl::string_view op, const Tensor& x,
                                     absl::Span<const int64_t> axes) {
  AxisMask mask{};
  for (int64_t axis : axes) {
    CONCORD_ASSIGN_OR_RETURN(const int d, AxisFor(op, axis, x));
    if (mask[d]) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": duplicate axis ", axis, " in axes [",
                                                     absl::StrJoin(axes, ", "), "] for ",
                                                     x.ShapeString()));
    }
    mask[d] = true;
  }
  return mask;
}

AxisMask AllAxes(int rank) {
  AxisMask mask{};
  for (int d = 0; d < rank; ++d) mask[d] = true;
  return mask;
}

ReducePlan MakeReducePlan(const Shape& shape, const AxisMask& mask, bool keepdims) {
  ReducePlan plan;
  std::array<int64_t, kMaxRank> out_dims{};
  int out_rank = 0;
  for (int d = 0; d < shape.rank(); ++d) {
    if (!mask[d]) {
      out_dims[out_rank++] = shape.dim(d);
      plan.out_count *= shape.dim(d);
    } else {
      if (keepdims) out_dims[out_rank++] = 1;
      plan.reduce_count *= shape.dim(d);
    }
  }
  plan.out_shape = Shape::FromDims(absl::MakeConstSpan(out_dims.data(), out_rank)).value();
  if (plan.out_count == 0 || plan.reduce_count == 0) return plan;

  // Collapse: drop size-1 axes, merge neighbours of the same kind that are contiguous.
  std::array<ReduceGroup, kMaxRank> groups{};
  std::array<bool, kMaxRank> group_reduced{};
  int count = 0;
  const std::array<int64_t, kMaxRank> strides = shape.Strides();
  for (int d = 0; d < shape.rank(); ++d) {
    if (shape.dim(d) == 1) continue;
    if (count > 0 && group_reduced[count - 1] == mask[d] &&
        groups[count - 1].stride == shape.dim(d) * strides[d]) {
      groups[count - 1].size *= shape.dim(d);
      groups[count - 1].stride = strides[d];
      continue;
    }
    groups[count] = {shape.dim(d), strides[d]};
    group_reduced[count] = mask[d];
    ++count;
  }
  plan.row_path = count == 0 || group_reduced[count - 1];
  const int inner = count - 1;  // The innermost group becomes `run`; -1 when there is none.
  if (count > 0) plan.run = groups[inner].size;
  for (int g = 0; g < inner; ++g) {
    if (group_reduced[g]) {
      plan.reduced[plan.num_reduced++] = groups[g];
    } else {
      plan.kept[plan.num_kept++] = groups[g];
    }
  }
  return plan;
}

namespace {

template <template <typename> class OpT>
absl::StatusOr<Tensor> Reduce(absl::string_view op, const Tensor& x, const AxisMask& mask,
                              bool keepdims, bool allow_empty) {
  const ReducePlan plan = MakeReducePlan(x.shape(), mask, keepdims);
  Tensor out = Tensor::Empty(plan.out_shape, x.dtype());
  if (plan.out_count == 0) return out;
  if (plan.reduce_count == 0 && !allow_empty) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": cannot reduce zero elements of ",
                                                   x.ShapeString(), " (the op has no identity)"));
  }
  DispatchNumeric(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.mutable_data<T>();
    if (plan.reduce_count == 0) {
      std::fill(o, o + plan.out_count, OpT<T>::Identity());
    } else {
      RunReduce<OpT<T>, T>(x.data<T>(), plan, o);
    }
  });
  return out;
}

}  // namespace

absl::StatusOr<Tensor> ReduceSum(absl::string_view op, const Tensor& x, const AxisMask& mask,
                                 bool keepdims) {
  return Reduce<SumOp>(op, x, mask, keepdims, /*allow_empty=*/true);
}

absl::StatusOr<Tensor> ReduceMax(absl::string_view op, const Tensor& x, const AxisMask& mask,
                                 bool keepdims, bool allow_empty) {
  return Reduce<MaxOp>(op, x, mask, keepdims, allow_empty);
}

}  // namespace internal

namespace {

using internal::AxisMask;

absl::StatusOr<AxisMask> CheckedAxes(absl::string_view op, const Tensor& x,
                                     absl::Span<const int64_t> axes, bool floating) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, x));
  CONCORD_RETURN_IF_ERROR(floating ? internal::CheckFloating(op, x)
                                   : internal::CheckNumeric(op, x));
  return internal::ReducedAxes(op, x, axes);
}

template <template <typename> class OpT>
absl::StatusOr<Tensor> ReduceOp(absl::string_view op, const Tensor& x,
                                absl::Span<const int64_t> axes, bool keepdims, bool allow_empty) {
  CONCORD_ASSIGN_OR_RETURN(const AxisMask mask, CheckedAxes(op, x, axes, /*floating=*/false));
  if (axes.empty()) return x;
  return internal::Reduce<OpT>(op, x, mask, keepdims, allow_empty);
}

template <template <typename> class OpT>
absl::StatusOr<Tensor> ReduceAllOp(absl::string_view op, const Tensor& x, bool allow_empty) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, x));
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(op, x));
  return internal::Reduce<OpT>(op, x, internal::AllAxes(x.rank()), false, allow_empty);
}

// DivideByCount turns a sum into a mean in place (the tensor was just created by the caller).
Tensor DivideByCount(Tensor sum, int64_t count) {
  DispatchFloating(sum.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = sum.mutable_data<T>();
    const T divisor = static_cast<T>(count);
    const int64_t n = sum.num_elements();
    ParallelFor(n, 2, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] = p[i] / divisor;
    });
  });
  return sum;
}

int64_t ReducedCount(const Shape& shape, const AxisMask& mask) {
  int64_t count = 1;
  for (int d = 0; d < shape.rank(); ++d) {
    if (mask[d]) count *= shape.dim(d);
  }
  return count;
}

}  // namespace

absl::StatusOr<Tensor> Sum(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  return ReduceOp<internal::SumOp>("Sum", x, axes, keepdims, /*allow_empty=*/true);
}

absl::StatusOr<Tensor> Prod(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  return ReduceOp<internal::ProdOp>("Prod", x, axes, keepdims, /*allow_empty=*/true);
}

absl::StatusOr<Tensor> Max(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  return ReduceOp<internal::MaxOp>("Max", x, axes, keepdims, /*allow_empty=*/false);
}

absl::StatusOr<Tensor> Min(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  return ReduceOp<internal::MinOp>("Min", x, axes, keepdims, /*allow_empty=*/false);
}

absl::StatusOr<Tensor> Mean(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  CONCORD_ASSIGN_OR_RETURN(const AxisMask mask, CheckedAxes("Mean", x, axes, /*floating=*/true));
  if (axes.empty()) return x;
  CONCORD_ASSIGN_OR_RETURN(Tensor sum, internal::ReduceSum("Mean", x, mask, keepdims));
  return DivideByCount(std::move(sum), ReducedCount(x.shape(), mask));
}

absl::StatusOr<Tensor> SumAll(const Tensor& x) {
  return ReduceAllOp<internal::SumOp>("SumAll", x, /*allow_empty=*/true);
}

absl::StatusOr<Tensor> ProdAll(const Tensor& x) {
  return ReduceAllOp<internal::ProdOp>("ProdAll", x, /*allow_empty=*/true);
}

absl::StatusOr<Tensor> MaxAll(const Tensor& x) {
  return ReduceAllOp<internal::MaxOp>("MaxAll", x, /*allow_empty=*/false);
}

absl::StatusOr<Tensor> MinAll(const Tensor& x) {
  return ReduceAllOp<internal::MinOp>("MinAll", x, /*allow_empty=*/false);
}

absl::StatusOr<Tensor> MeanAll(const Tensor& x) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("MeanAll", x));
  CONCORD_RETURN_IF_ERROR(internal::CheckFloating("MeanAll", x));
  CONCORD_ASSIGN_OR_RETURN(Tensor sum,
                           internal::ReduceSum("MeanAll", x, internal::AllAxes(x.rank()), false));
  return DivideByCount(std::move(sum), x.num_elements());
}

absl::StatusOr<Tensor> LogSumExp(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims) {
  constexpr absl::string_view kOp = "LogSumExp";
  CONCORD_ASSIGN_OR_RETURN(const AxisMask mask, CheckedAxes(kOp, x, axes, /*floating=*/true));
  // An empty reduction has max -inf (the identity), a zero sum and so the result -inf.
  CONCORD_ASSIGN_OR_RETURN(
      Tensor shift, internal::ReduceMax(kOp, x, mask, /*keepdims=*/true, /*allow_empty=*/true));
  Tensor exps = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* s = shift.mutable_data<T>();  // Ours: just created by ReduceMax.
    for (int64_t i = 0; i < shift.num_elements(); ++i) {
      if (!std::isfinite(s[i])) s[i] = static_cast<T>(0);
    }
    internal::BroadcastApply<T>(x, shift, exps, [](T v, T m) -> T { return std::exp(v - m); });
  });
  CONCORD_ASSIGN_OR_RETURN(Tensor sums, internal::ReduceSum(kOp, exps, mask, keepdims));
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = sums.mutable_data<T>();
    const T* s = shift.data<T>();  // Same element order as `sums` (keepdims only adds 1s).
    const int64_t n = sums.num_elements();
    ParallelFor(n, 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = std::log(o[i]) + s[i];
    });
  });
  return sums;
}

absl::StatusOr<Tensor> SumToShape(const Tensor& x, const Shape& shape) {
  constexpr absl::string_view kOp = "SumToShape";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(kOp, x));
  const int lead = x.rank() - shape.rank();
  bool broadcasts = lead >= 0;
  AxisMask mask{};
  for (int d = 0; broadcasts && d < x.rank(); ++d) {
    if (d < lead) {
      mask[d] = true;
      continue;
    }
    const int64_t target = shape.dim(d - lead);
    if (target == x.dim(d)) continue;
    if (target != 1) broadcasts = false;
    mask[d] = true;
  }
  if (!broadcasts) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": shape ", shape.ToString(),
                                                   " does not broadcast to ", x.ShapeString()));
  }
  bool any_sum = false;  // Only size-1 axes to drop: a relabelling, no arithmetic.
  for (int d = 0; d < x.rank(); ++d) any_sum = any_sum || (mask[d] && x.dim(d) != 1);
  if (!any_sum) return x.WithShape(shape);
  CONCORD_ASSIGN_OR_RETURN(Tensor sum, internal::ReduceSum(kOp, x, mask, /*keepdims=*/true));
  return sum.WithShape(shape);
}

}  // namespace concord::engine
