#include "engine/movement.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/movement_util.h"
#include "engine/threading.h"

namespace concord::engine {

// Note [Layout ops are strided copies]
// Transpose, BroadcastTo, Concat, Split, Slice, StridedSlice and Pad all copy a block of elements
// from one strided layout to another, so each one only builds a CopyPlan (sizes plus input and
// output strides, with base offsets applied to the pointers) and calls StridedCopy. StridedCopy
// drops size-1 axes, merges neighbouring axes that are contiguous in both layouts (a Transpose
// that keeps the last axes in place therefore copies whole rows), then walks the outer axes with
// an odometer under ParallelFor and handles the innermost axis as a memcpy (both strides 1), a
// fill (input stride 0, i.e. broadcast) or a strided loop. Copies are exact, and every output
// element is written once, so results are bitwise independent of the thread count.

namespace internal {
namespace {

CopyPlan Collapse(const CopyPlan& plan) {
  CopyPlan c;
  for (int d = 0; d < plan.rank; ++d) {
    if (plan.size[d] == 1) continue;
    if (c.rank > 0 && c.in_stride[c.rank - 1] == plan.in_stride[d] * plan.size[d] &&
        c.out_stride[c.rank - 1] == plan.out_stride[d] * plan.size[d]) {
      c.size[c.rank - 1] *= plan.size[d];
      c.in_stride[c.rank - 1] = plan.in_stride[d];
      c.out_stride[c.rank - 1] = plan.out_stride[d];
      continue;
    }
    c.size[c.rank] = plan.size[d];
    c.in_stride[c.rank] = plan.in_stride[d];
    c.out_stride[c.rank] = plan.out_stride[d];
    ++c.rank;
  }
  if (c.rank == 0) {  // A single element.
    c.rank = 1;
    c.size[0] = 1;
    c.in_stride[0] = 1;
    c.out_stride[0] = 1;
  }
  return c;
}

template <typename T>
void CopyRows(const T* in, T* out, const CopyPlan& p) {
  const int inner = p.rank - 1;
  const int64_t n = p.size[inner];
  const int64_t is = p.in_stride[inner];
  const int64_t os = p.out_stride[inner];
  int64_t rows = 1;
  for (int d = 0; d < inner; ++d) rows *= p.size[d];
  ParallelFor(rows, n + 8, [&](int64_t begin, int64_t end) {
    std::array<int64_t, kMaxRank> index{};
    int64_t in_off = 0;
    int64_t out_off = 0;
    int64_t rest = begin;
    for (int d = inner - 1; d >= 0; --d) {
      index[d] = rest % p.size[d];
      rest /= p.size[d];
      in_off += index[d] * p.in_stride[d];
      out_off += index[d] * p.out_stride[d];
    }
    for (int64_t r = begin; r < end; ++r) {
      const T* src = in + in_off;
      T* dst = out + out_off;
      if (is == 1 && os == 1) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
      } else if (is == 0) {
        const T v = *src;
        for (int64_t k = 0; k < n; ++k) dst[k * os] = v;
      } else {
        for (int64_t k = 0; k < n; ++k) dst[k * os] = src[k * is];
      }
      for (int d = inner - 1; d >= 0; --d) {
        in_off += p.in_stride[d];
        out_off += p.out_stride[d];
        if (++index[d] < p.size[d]) break;
        in_off -= index[d] * p.in_stride[d];
        out_off -= index[d] * p.out_stride[d];
        index[d] = 0;
      }
    }
  });
}

// TiledCopy handles transposes: axis `a` is contiguous in the input but the innermost axis is
// not, so CopyRows would read with a large stride. It walks the (a, inner) plane in square tiles
// small enough for L1, for every index of the remaining ("batch") axes.
template <typename T>
void TiledCopy(const T* in, T* out, const CopyPlan& p, int a) {
  constexpr int64_t kTile = 32;
  const int inner = p.rank - 1;
  CopyPlan batch;  // The other axes.
  for (int d = 0; d < inner; ++d) {
    if (d == a) continue;
    batch.size[batch.rank] = p.size[d];
    batch.in_stride[batch.rank] = p.in_stride[d];
    batch.out_stride[batch.rank] = p.out_stride[d];
    ++batch.rank;
  }
  int64_t batch_count = 1;
  for (int d = 0; d < batch.rank; ++d) batch_count *= batch.size[d];
  const int64_t na = p.size[a], ni = p.size[inner];
  const int64_t tiles_a = (na + kTile - 1) / kTile, tiles_i = (ni + kTile - 1) / kTile;
  const int64_t in_a = p.in_stride[a], out_a = p.out_stride[a];
  const int64_t in_i = p.in_stride[inner], out_i = p.out_stride[inner];
  ParallelFor(batch_count * tiles_a * tiles_i, kTile * kTile * 2, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t ti = item % tiles_i;
      const int64_t ta = (item / tiles_i) % tiles_a;
      int64_t rest = item / (tiles_i * tiles_a);
      int64_t in_off = 0, out_off = 0;
      for (int d = batch.rank - 1; d >= 0; --d) {
        const int64_t idx = rest % batch.size[d];
        rest /= batch.size[d];
        in_off += idx * batch.in_stride[d];
        out_off += idx * batch.out_stride[d];
      }
      const int64_t a_end = std::min(na, (ta + 1) * kTile);
      const int64_t i_begin = ti * kTile, i_end = std::min(ni, (ti + 1) * kTile);
      for (int64_t ia = ta * kTile; ia < a_end; ++ia) {
        const T* src = in + in_off + ia * in_a;
        T* dst = out + out_off + ia * out_a;
        for (int64_t ii = i_begin; ii < i_end; ++ii) dst[ii * out_i] = src[ii * in_i];
      }
    }
  });
}

}  // namespace

void StridedCopy(const void* in, void* out, const CopyPlan& plan, DType dtype) {
  for (int d = 0; d < plan.rank; ++d) {
    if (plan.size[d] == 0) return;
  }
  const CopyPlan collapsed = Collapse(plan);
  const int inner = collapsed.rank - 1;
  int contiguous_axis = -1;  // An outer axis that is contiguous in the input, if any.
  for (int d = 0; d < inner; ++d) {
    if (collapsed.in_stride[d] == 1 && collapsed.size[d] >= 8) contiguous_axis = d;
  }
  const bool tiled =
      contiguous_axis >= 0 && collapsed.in_stride[inner] > 1 && collapsed.size[inner] >= 8;
  DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (tiled) {
      TiledCopy<T>(static_cast<const T*>(in), static_cast<T*>(out), collapsed, contiguous_axis);
    } else {
      CopyRows<T>(static_cast<const T*>(in), static_cast<T*>(out), collapsed);
    }
  });
}

absl::StatusOr<int> MovementAxis(absl::string_view op, int64_t axis, const Tensor& x) {
  const int rank = x.rank();
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is out of range for ",
                                                   x.ShapeString(), " (rank ", rank, ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::Status CheckIndexDType(absl::string_view op, const Tensor& indices) {
  CONCORD_RETURN_IF_ERROR(CheckDefined(op, indices, "indices"));
  if (IsInteger(indices.dtype())) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": indices ", indices.ShapeString(), " must be int32 or int64"));
}

absl::Status CheckRepresentable(absl::string_view op, absl::string_view what, double value,
                                DType dtype) {
  if (!IsInteger(dtype)) return absl::OkStatus();
  const double low = dtype == DType::kInt32 ? -2147483648.0 : -9223372036854775808.0;
  const double high = dtype == DType::kInt32 ? 2147483648.0 : 9223372036854775808.0;
  if (std::isfinite(value) && value == std::trunc(value) && value >= low && value < high) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": ", what, " ", value, " cannot be represented as ", DTypeName(dtype)));
}

absl::StatusOr<Shape> ShapeFromDims(absl::string_view op, absl::Span<const int64_t> dims) {
  absl::StatusOr<Shape> shape = Shape::FromDims(dims);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": result ", shape.status().message()));
  }
  // Beyond 2^59 elements the byte count of an 8-byte dtype would overflow.
  int64_t count = 1;
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(count, d, &count) || count > (int64_t{1} << 59)) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": result shape [", absl::StrJoin(dims, ", "), "] has too many elements"));
    }
  }
  return shape;
}

}  // namespace internal

namespace {

using internal::CopyPlan;

// RowMajorPlan starts a plan copying all of `in` (shape `shape`, contiguous) into a contiguous
// output of the same shape; callers then adjust strides.
CopyPlan RowMajorPlan(const Shape& shape) {
  CopyPlan plan;
  plan.rank = shape.rank();
  const std::array<int64_t, kMaxRank> strides = shape.Strides();
  for (int d = 0; d < plan.rank; ++d) {
    plan.size[d] = shape.dim(d);
    plan.in_stride[d] = strides[d];
    plan.out_stride[d] = strides[d];
  }
  return plan;
}

// ElementPtr offsets a raw buffer by `elements` elements of `dtype`.
const void* ElementPtr(const Tensor& t, int64_t elements) {
  return static_cast<const char*>(t.raw_data()) + elements * DTypeSize(t.dtype());
}
void* MutableElementPtr(Tensor& t, int64_t elements) {
  return static_cast<char*>(t.mutable_raw_data()) + elements * DTypeSize(t.dtype());
}

// CopySlice copies x[begin[d] : begin[d] + size[d] * step[d] : step[d]] into a new tensor.
Tensor CopySlice(const Tensor& x, const Shape& out_shape,
                 const std::array<int64_t, kMaxRank>& begin,
                 const std::array<int64_t, kMaxRank>& step) {
  Tensor out = Tensor::Empty(out_shape, x.dtype());
  CopyPlan plan = RowMajorPlan(out_shape);
  const std::array<int64_t, kMaxRank> in_strides = x.shape().Strides();
  int64_t offset = 0;
  for (int d = 0; d < x.rank(); ++d) {
    plan.in_stride[d] = in_strides[d] * step[d];
    offset += begin[d] * in_strides[d];
  }
  if (out.num_elements() > 0) {
    internal::StridedCopy(ElementPtr(x, offset), out.mutable_raw_data(), plan, x.dtype());
  }
  return out;
}

std::string DimsString(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

}  // namespace

absl::StatusOr<Tensor> Transpose(const Tensor& x, absl::Span<const int64_t> perm) {
  constexpr absl::string_view kOp = "Transpose";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  const int rank = x.rank();
  std::array<bool, kMaxRank> seen{};
  std::array<int, kMaxRank> p{};
  bool valid = static_cast<int>(perm.size()) == rank;
  for (int i = 0; valid && i < rank; ++i) {
    if (perm[i] < -rank || perm[i] >= rank) {
      valid = false;
      break;
    }
    p[i] = static_cast<int>(perm[i] < 0 ? perm[i] + rank : perm[i]);
    valid = !seen[p[i]];
    seen[p[i]] = true;
  }
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": perm ", DimsString(perm),
                                                   " is not a permutation of the axes of ",
                                                   x.ShapeString()));
  }
  std::array<int64_t, kMaxRank> out_dims{};
  for (int i = 0; i < rank; ++i) out_dims[i] = x.dim(p[i]);
  const Shape out_shape = Shape::FromDims(absl::MakeConstSpan(out_dims.data(), rank)).value();
  Tensor out = Tensor::Empty(out_shape, x.dtype());
  CopyPlan plan = RowMajorPlan(out_shape);
  const std::array<int64_t, kMaxRank> in_strides = x.shape().Strides();
  for (int i = 0; i < rank; ++i) plan.in_stride[i] = in_strides[p[i]];
  internal::StridedCopy(x.raw_data(), out.mutable_raw_data(), plan, x.dtype());
  return out;
}

absl::StatusOr<Tensor> Reshape(const Tensor& x, absl::Span<const int64_t> dims) {
  constexpr absl::string_view kOp = "Reshape";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  std::vector<int64_t> resolved(dims.begin(), dims.end());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (inferred >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(kOp, ": more than one -1 in ",
                                                       DimsString(dims), " for ", x.ShapeString()));
      }
      inferred = static_cast<int>(i);
      continue;
    }
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": negative size ", dims[i], " in ",
                                                     DimsString(dims), " for ", x.ShapeString()));
    }
    if (__builtin_mul_overflow(known, dims[i], &known)) known = -1;  // Cannot match x.
  }
  const int64_t count = x.num_elements();
  if (inferred >= 0) {
    if (known <= 0 || count % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot reshape ", x.ShapeString(),
                                                     " (", count, " elements) to ",
                                                     DimsString(dims)));
    }
    resolved[inferred] = count / known;
  } else if (known != count) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot reshape ", x.ShapeString(), " (",
                                                   count, " elements) to ", DimsString(dims)));
  }
  CONCORD_ASSIGN_OR_RETURN(const Shape shape, internal::ShapeFromDims(kOp, resolved));
  return x.WithShape(shape);
}

absl::StatusOr<Tensor> ExpandDims(const Tensor& x, int64_t axis) {
  constexpr absl::string_view kOp = "ExpandDims";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  const int rank = x.rank();
  if (axis < -(rank + 1) || axis > rank) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": axis ", axis, " is out of range [",
                                                   -(rank + 1), ", ", rank, "] for ",
                                                   x.ShapeString()));
  }
  const int64_t a = axis < 0 ? axis + rank + 1 : axis;
  std::vector<int64_t> dims = x.shape().ToVector();
  dims.insert(dims.begin() + a, 1);
  CONCORD_ASSIGN_OR_RETURN(const Shape shape, internal::ShapeFromDims(kOp, dims));
  return x.WithShape(shape);
}

absl::StatusOr<Tensor> Squeeze(const Tensor& x, absl::Span<const int64_t> axes) {
  constexpr absl::string_view kOp = "Squeeze";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  std::array<bool, kMaxRank> drop{};
  for (int64_t axis : axes) {
    CONCORD_ASSIGN_OR_RETURN(const int d, internal::MovementAxis(kOp, axis, x));
    if (drop[d]) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": duplicate axis ", axis, " in axes ",
                                                     DimsString(axes), " for ", x.ShapeString()));
    }
    if (x.dim(d) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": axis ", axis, " of ", x.ShapeString(),
                                                     " has size ", x.dim(d), ", not 1"));
    }
    drop[d] = true;
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < x.rank(); ++d) {
    if (!drop[d]) dims.push_back(x.dim(d));
  }
  return x.WithShape(Shape::FromDims(dims).value());
}

absl::StatusOr<Tensor> SqueezeAll(const Tensor& x) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined("SqueezeAll", x));
  std::vector<int64_t> dims;
  for (int d = 0; d < x.rank(); ++d) {
    if (x.dim(d) != 1) dims.push_back(x.dim(d));
  }
  return x.WithShape(Shape::FromDims(dims).value());
}

absl::StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& shape) {
  constexpr absl::string_view kOp = "BroadcastTo";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  bool ok = x.rank() <= shape.rank();
  const int lead = shape.rank() - x.rank();
  for (int d = 0; ok && d < x.rank(); ++d) {
    ok = x.dim(d) == shape.dim(d + lead) || x.dim(d) == 1;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": ", x.ShapeString(), " cannot be broadcast to ", shape.ToString()));
  }
  Tensor out = Tensor::Empty(shape, x.dtype());
  CopyPlan plan = RowMajorPlan(shape);
  plan.in_stride = internal::BroadcastStrides(x.shape(), shape);
  internal::StridedCopy(x.raw_data(), out.mutable_raw_data(), plan, x.dtype());
  return out;
}

absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> xs, int64_t axis_arg) {
  constexpr absl::string_view kOp = "Concat";
  if (xs.empty()) return absl::InvalidArgumentError("Concat: no tensors to concatenate");
  for (size_t i = 0; i < xs.size(); ++i) {
    CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, xs[i], absl::StrCat("xs[", i, "]")));
  }
  const Tensor& first = xs[0];
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::MovementAxis(kOp, axis_arg, first));
  int64_t total = 0;
  for (const Tensor& x : xs) {
    bool same = x.dtype() == first.dtype() && x.rank() == first.rank();
    for (int d = 0; same && d < x.rank(); ++d) same = d == axis || x.dim(d) == first.dim(d);
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": inputs must share dtype, rank and every dimension but axis ", axis_arg, "; got ",
          absl::StrJoin(xs, ", ", [](std::string* out, const Tensor& t) {
            absl::StrAppend(out, t.ShapeString());
          })));
    }
    total += x.dim(axis);
  }
  std::vector<int64_t> out_dims = first.shape().ToVector();
  out_dims[axis] = total;
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, internal::ShapeFromDims(kOp, out_dims));
  Tensor out = Tensor::Empty(out_shape, first.dtype());
  const std::array<int64_t, kMaxRank> out_strides = out_shape.Strides();
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    CopyPlan plan = RowMajorPlan(x.shape());
    plan.out_stride = out_strides;
    internal::StridedCopy(x.raw_data(), MutableElementPtr(out, offset * out_strides[axis]), plan,
                          x.dtype());
    offset += x.dim(axis);
  }
  return out;
}

absl::StatusOr<std::vector<Tensor>> Split(const Tensor& x, absl::Span<const int64_t> sizes,
                                          int64_t axis_arg) {
  constexpr absl::string_view kOp = "Split";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::MovementAxis(kOp, axis_arg, x));
  int64_t total = 0;
  bool valid = true;
  for (int64_t s : sizes) {
    valid = valid && s >= 0 && !__builtin_add_overflow(total, s, &total);
  }
  if (!valid || total != x.dim(axis)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": sizes ", DimsString(sizes), " must be non-negative and sum to ",
                     x.dim(axis), ", the size of axis ", axis_arg, " of ", x.ShapeString()));
  }
  std::vector<Tensor> pieces;
  pieces.reserve(sizes.size());
  std::array<int64_t, kMaxRank> begin{};
  std::array<int64_t, kMaxRank> step;
  step.fill(1);
  Shape piece_shape = x.shape();
  for (int64_t s : sizes) {
    piece_shape.set_dim(axis, s);
    pieces.push_back(CopySlice(x, piece_shape, begin, step));
    begin[axis] += s;
  }
  return pieces;
}

absl::StatusOr<std::vector<Tensor>> SplitEven(const Tensor& x, int64_t num, int64_t axis_arg) {
  constexpr absl::string_view kOp = "SplitEven";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::MovementAxis(kOp, axis_arg, x));
  if (num <= 0 || x.dim(axis) % num != 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot split axis ", axis_arg, " of ",
                                                   x.ShapeString(), " into ", num,
                                                   " equal pieces"));
  }
  return Split(x, std::vector<int64_t>(num, x.dim(axis) / num), axis);
}

absl::StatusOr<Tensor> Slice(const Tensor& x, absl::Span<const int64_t> begin,
                             absl::Span<const int64_t> size) {
  constexpr absl::string_view kOp = "Slice";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  const int rank = x.rank();
  auto error = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": begin ", DimsString(begin), " and size ",
                                                   DimsString(size), " do not fit ",
                                                   x.ShapeString()));
  };
  if (static_cast<int>(begin.size()) != rank || static_cast<int>(size.size()) != rank) {
    return error();
  }
  std::array<int64_t, kMaxRank> b{};
  std::array<int64_t, kMaxRank> step;
  step.fill(1);
  Shape out_shape = x.shape();
  for (int d = 0; d < rank; ++d) {
    if (begin[d] < 0 || begin[d] > x.dim(d)) return error();
    const int64_t s = size[d] == -1 ? x.dim(d) - begin[d] : size[d];
    if (s < 0 || s > x.dim(d) - begin[d]) return error();
    b[d] = begin[d];
    out_shape.set_dim(d, s);
  }
  return CopySlice(x, out_shape, b, step);
}

absl::StatusOr<Tensor> StridedSlice(const Tensor& x, absl::Span<const int64_t> begin,
                                    absl::Span<const int64_t> end,
                                    absl::Span<const int64_t> strides) {
  constexpr absl::string_view kOp = "StridedSlice";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  const int rank = x.rank();
  auto error = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": begin ", DimsString(begin), ", end ", DimsString(end), " and strides ",
                     DimsString(strides), " do not fit ", x.ShapeString(),
                     " (need 0 <= begin <= end <= dim and strides >= 1)"));
  };
  if (static_cast<int>(begin.size()) != rank || static_cast<int>(end.size()) != rank ||
      static_cast<int>(strides.size()) != rank) {
    return error();
  }
  std::array<int64_t, kMaxRank> b{};
  std::array<int64_t, kMaxRank> step{};
  Shape out_shape = x.shape();
  for (int d = 0; d < rank; ++d) {
    if (begin[d] < 0 || begin[d] > end[d] || end[d] > x.dim(d) || strides[d] < 1) return error();
    b[d] = begin[d];
    step[d] = strides[d];
    out_shape.set_dim(d, (end[d] - begin[d] + strides[d] - 1) / strides[d]);
  }
  return CopySlice(x, out_shape, b, step);
}

absl::StatusOr<Tensor> Pad(const Tensor& x, absl::Span<const std::pair<int64_t, int64_t>> paddings,
                           double value) {
  constexpr absl::string_view kOp = "Pad";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, x));
  auto pads_string = [&]() {
    return absl::StrCat("[",
                        absl::StrJoin(paddings, ", ",
                                      [](std::string* out, const auto& p) {
                                        absl::StrAppend(out, "(", p.first, ", ", p.second, ")");
                                      }),
                        "]");
  };
  if (static_cast<int>(paddings.size()) != x.rank()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": ", paddings.size(),
                                                   " padding pairs for ", x.ShapeString(),
                                                   " (rank ", x.rank(), ")"));
  }
  std::vector<int64_t> out_dims(x.rank());
  for (int d = 0; d < x.rank(); ++d) {
    const auto [before, after] = paddings[d];
    if (before < 0 || after < 0 || __builtin_add_overflow(x.dim(d), before, &out_dims[d]) ||
        __builtin_add_overflow(out_dims[d], after, &out_dims[d])) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": paddings ", pads_string(), " for ",
                                                     x.ShapeString(), " must be non-negative"));
    }
  }
  CONCORD_RETURN_IF_ERROR(internal::CheckRepresentable(kOp, "constant value", value, x.dtype()));
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, internal::ShapeFromDims(kOp, out_dims));
  Tensor out = Tensor::Full(out_shape, value, x.dtype());
  CopyPlan plan = RowMajorPlan(x.shape());
  plan.out_stride = out_shape.Strides();
  int64_t offset = 0;
  for (int d = 0; d < x.rank(); ++d) offset += paddings[d].first * plan.out_stride[d];
  if (x.num_elements() > 0) {
    internal::StridedCopy(x.raw_data(), MutableElementPtr(out, offset), plan, x.dtype());
  }
  return out;
}

}  // namespace concord::engine
