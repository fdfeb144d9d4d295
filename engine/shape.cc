#include "engine/shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status.h"

namespace concord::engine {

Shape::Shape(std::initializer_list<int64_t> dims) {
  CONCORD_CHECK_MSG(dims.size() <= static_cast<size_t>(kMaxRank), "Shape literal above rank 6");
  for (int64_t d : dims) {
    CONCORD_CHECK_MSG(d >= 0, "Shape literal with a negative size");
    dims_[rank_++] = d;
  }
  CONCORD_CHECK_MSG(FromDims(this->dims()).ok(), "Shape literal with too many elements");
}

absl::StatusOr<Shape> Shape::FromDims(absl::Span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return absl::InvalidArgumentError(absl::StrCat("shape [", absl::StrJoin(dims, ", "),
                                                   "] has rank ", dims.size(),
                                                   "; the maximum rank is ", kMaxRank));
  }
  Shape shape;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape [", absl::StrJoin(dims, ", "), "] has a negative size"));
    }
    shape.dims_[shape.rank_++] = d;
  }
  // Multiply with an overflow-proof bound check: once a factor is 0 the product stays 0.
  int64_t product = 1;
  bool too_many = false;
  for (int64_t d : dims) {
    if (d == 0) return shape;
    too_many = too_many || product > kMaxElements / d;
    if (!too_many) product *= d;
  }
  if (too_many) {
    return absl::InvalidArgumentError(absl::StrCat("shape [", absl::StrJoin(dims, ", "),
                                                   "] has more than 2^48 elements"));
  }
  return shape;
}

int64_t Shape::num_elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

void Shape::set_dim(int axis, int64_t size) {
  CONCORD_CHECK(axis >= 0 && axis < rank_);
  CONCORD_CHECK(size >= 0);
  dims_[axis] = size;
}

std::array<int64_t, kMaxRank> Shape::Strides() const {
  std::array<int64_t, kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= dims_[i];
  }
  return strides;
}

std::string Shape::ToString() const { return absl::StrCat("[", absl::StrJoin(dims(), ", "), "]"); }

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.ToString(); }

absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis,
                                                   " is out of range for a tensor of rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<Shape> BroadcastShapes(absl::string_view op, const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::array<int64_t, kMaxRank> out{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i;
    const int ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a.dim(ia) : 1;
    const int64_t db = ib >= 0 ? b.dim(ib) : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": shapes ", a.ToString(), " and ",
                                                     b.ToString(), " cannot be broadcast (axis ",
                                                     i - rank, ": ", da, " vs ", db, ")"));
    }
    out[i] = da == 1 ? db : da;
  }
  return Shape::FromDims(absl::MakeConstSpan(out.data(), rank));
}

}  // namespace concord::engine
