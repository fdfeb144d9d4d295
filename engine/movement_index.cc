// Index-driven movement: Gather, OneHot and ScatterAddAlongAxis (Gather's adjoint).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/movement_util.h"
#include "engine/movement.h"
#include "engine/threading.h"

namespace concord::engine {
namespace {

// ReadIndices copies int32 or int64 indices out as int64.
std::vector<int64_t> ReadIndices(const Tensor& indices) {
  if (indices.dtype() == DType::kInt64) return indices.ToVector<int64_t>();
  const int32_t* p = indices.data<int32_t>();
  return std::vector<int64_t>(p, p + indices.num_elements());
}

// CheckIndexRange: InvalidArgument naming the first index outside [0, limit).
absl::Status CheckIndexRange(absl::string_view op, const std::vector<int64_t>& idx,
                             const Tensor& indices, int64_t limit, absl::string_view where) {
  for (size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] < 0 || idx[k] >= limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": index ", idx[k], " at position ", k, " of indices ",
                       indices.ShapeString(), " is out of range [0, ", limit, ") for ", where));
    }
  }
  return absl::OkStatus();
}

// WrapAdd<T>::type is what T adds in: integers in the unsigned type of the same width, so
// overflow wraps instead of being undefined.
template <typename T, bool = std::is_integral_v<T>>
struct WrapAdd {
  using type = T;
};
template <typename T>
struct WrapAdd<T, true> {
  using type = std::make_unsigned_t<T>;
};

int64_t Product(absl::Span<const int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

}  // namespace

absl::StatusOr<Tensor> Gather(const Tensor& params, const Tensor& indices, int64_t axis_arg) {
  constexpr absl::string_view kOp = "Gather";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, params, "params"));
  CONCORD_RETURN_IF_ERROR(internal::CheckIndexDType(kOp, indices));
  CONCORD_ASSIGN_OR_RETURN(const int axis, internal::MovementAxis(kOp, axis_arg, params));
  const std::vector<int64_t> pdims = params.shape().ToVector();
  std::vector<int64_t> out_dims(pdims.begin(), pdims.begin() + axis);
  for (int64_t d : indices.shape().dims()) out_dims.push_back(d);
  out_dims.insert(out_dims.end(), pdims.begin() + axis + 1, pdims.end());
  if (out_dims.size() > static_cast<size_t>(kMaxRank)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": gathering ", params.ShapeString(), " on axis ", axis_arg, " by ",
                     indices.ShapeString(), " gives rank ", out_dims.size(),
                     "; the maximum rank is ", kMaxRank));
  }
  const std::vector<int64_t> idx = ReadIndices(indices);
  CONCORD_RETURN_IF_ERROR(
      CheckIndexRange(kOp, idx, indices, params.dim(axis),
                      absl::StrCat("axis ", axis_arg, " of params ", params.ShapeString())));
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, internal::ShapeFromDims(kOp, out_dims));
  Tensor out = Tensor::Empty(out_shape, params.dtype());
  const int64_t outer = Product(absl::MakeConstSpan(pdims).subspan(0, axis));
  const int64_t n = params.dim(axis);
  const int64_t inner = Product(absl::MakeConstSpan(pdims).subspan(axis + 1));
  const int64_t k_count = static_cast<int64_t>(idx.size());
  const size_t row_bytes = static_cast<size_t>(inner) * DTypeSize(params.dtype());
  const char* src = static_cast<const char*>(params.raw_data());
  char* dst = static_cast<char*>(out.mutable_raw_data());
  if (row_bytes == 0) return out;
  ParallelFor(outer * k_count, inner + 8, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / k_count;
      const int64_t k = item % k_count;
      std::memcpy(dst + item * row_bytes, src + (o * n + idx[k]) * row_bytes, row_bytes);
    }
  });
  return out;
}

absl::StatusOr<Tensor> OneHot(const Tensor& indices, int64_t depth, DType dtype, double on,
                              double off, int64_t axis) {
  constexpr absl::string_view kOp = "OneHot";
  CONCORD_RETURN_IF_ERROR(internal::CheckIndexDType(kOp, indices));
  const int rank = indices.rank();
  if (depth < 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": depth ", depth, " for indices ",
                                                   indices.ShapeString(), " is negative"));
  }
  if (axis < -(rank + 1) || axis > rank) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": axis ", axis, " is out of range [",
                                                   -(rank + 1), ", ", rank, "] for indices ",
                                                   indices.ShapeString()));
  }
  CONCORD_RETURN_IF_ERROR(internal::CheckRepresentable(kOp, "on value", on, dtype));
  CONCORD_RETURN_IF_ERROR(internal::CheckRepresentable(kOp, "off value", off, dtype));
  const int a = static_cast<int>(axis < 0 ? axis + rank + 1 : axis);
  std::vector<int64_t> out_dims = indices.shape().ToVector();
  out_dims.insert(out_dims.begin() + a, depth);
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, internal::ShapeFromDims(kOp, out_dims));
  Tensor out = Tensor::Full(out_shape, off, dtype);
  const std::vector<int64_t> idx = ReadIndices(indices);
  const std::vector<int64_t> idims = indices.shape().ToVector();
  const int64_t inner = Product(absl::MakeConstSpan(idims).subspan(a));
  DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.mutable_data<T>();
    const T on_value = static_cast<T>(on);
    for (size_t j = 0; j < idx.size(); ++j) {
      if (idx[j] < 0 || idx[j] >= depth) continue;
      const int64_t outer_pos = static_cast<int64_t>(j) / inner;
      const int64_t inner_pos = static_cast<int64_t>(j) % inner;
      o[(outer_pos * depth + idx[j]) * inner + inner_pos] = on_value;
    }
  });
  return out;
}

// Note [Deterministic scatter-add]
// ScatterAddAlongAxis first buckets the positions k of `indices` by index value (a stable
// counting sort, so each bucket lists positions in increasing order), then, in parallel over
// output rows (outer position, index value), adds the update rows of that bucket one after the
// other, starting from zero. Each output element is thus a left-to-right sum over a fixed list,
// whatever the thread count or how ParallelFor splits the rows.
absl::StatusOr<Tensor> ScatterAddAlongAxis(const Tensor& updates, const Tensor& indices,
                                           int64_t axis, int64_t dim_size) {
  constexpr absl::string_view kOp = "ScatterAddAlongAxis";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, updates, "updates"));
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(kOp, updates));
  CONCORD_RETURN_IF_ERROR(internal::CheckIndexDType(kOp, indices));
  const int out_rank = updates.rank() - indices.rank() + 1;
  if (dim_size < 0 || out_rank < 1 || axis < -out_rank || axis >= out_rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": updates ", updates.ShapeString(), ", indices ", indices.ShapeString(), ", axis ",
        axis, " and dim_size ", dim_size,
        " are inconsistent (need updates.rank >= indices.rank, axis in range, dim_size >= 0)"));
  }
  const int a = static_cast<int>(axis < 0 ? axis + out_rank : axis);
  const std::vector<int64_t> udims = updates.shape().ToVector();
  for (int d = 0; d < indices.rank(); ++d) {
    if (udims[a + d] != indices.dim(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": updates ", updates.ShapeString(), " at axis ", axis,
                       " do not match the shape of indices ", indices.ShapeString()));
    }
  }
  const std::vector<int64_t> idx = ReadIndices(indices);
  CONCORD_RETURN_IF_ERROR(CheckIndexRange(kOp, idx, indices, dim_size,
                                          absl::StrCat("an output axis of size ", dim_size)));
  std::vector<int64_t> out_dims(udims.begin(), udims.begin() + a);
  out_dims.push_back(dim_size);
  out_dims.insert(out_dims.end(), udims.begin() + a + indices.rank(), udims.end());
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, internal::ShapeFromDims(kOp, out_dims));
  Tensor out = Tensor::Zeros(out_shape, updates.dtype());
  const int64_t outer = Product(absl::MakeConstSpan(udims).subspan(0, a));
  const int64_t inner = Product(absl::MakeConstSpan(udims).subspan(a + indices.rank()));
  const int64_t k_count = static_cast<int64_t>(idx.size());
  if (out.num_elements() == 0 || k_count == 0 || inner == 0) return out;

  // Stable counting sort of positions by index value.
  std::vector<int64_t> bucket_start(dim_size + 1, 0);
  for (int64_t v : idx) ++bucket_start[v + 1];
  for (int64_t n = 0; n < dim_size; ++n) bucket_start[n + 1] += bucket_start[n];
  std::vector<int64_t> positions(k_count);
  {
    std::vector<int64_t> fill(bucket_start.begin(), bucket_start.end() - 1);
    for (int64_t k = 0; k < k_count; ++k) positions[fill[idx[k]]++] = k;
  }
  const int64_t per_row = k_count / std::max<int64_t>(dim_size, 1) + 1;
  DispatchNumeric(updates.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = typename WrapAdd<T>::type;
    const T* u = updates.data<T>();
    T* o = out.mutable_data<T>();
    ParallelFor(outer * dim_size, per_row * inner + 8, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t q = row / dim_size;
        const int64_t n = row % dim_size;
        T* dst = o + row * inner;
        for (int64_t b = bucket_start[n]; b < bucket_start[n + 1]; ++b) {
          const T* src = u + (q * k_count + positions[b]) * inner;
          for (int64_t i = 0; i < inner; ++i) {
            dst[i] = static_cast<T>(static_cast<Acc>(dst[i]) + static_cast<Acc>(src[i]));
          }
        }
      }
    });
  });
  return out;
}

}  // namespace concord::engine
