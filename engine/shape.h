// Shape: the dimensions of a tensor, rank 0..6, stored inline (no heap).
//
//   Shape s({2, 3});                                   // a literal; CHECKs rank and sizes
//   ASSIGN_OR_RETURN(Shape t, Shape::FromDims(dims));  // runtime dims; a status on bad input
#ifndef CONCORD_ENGINE_SHAPE_H_
#define CONCORD_ENGINE_SHAPE_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace concord::engine {

// kMaxRank is the largest rank a Tensor may have.
inline constexpr int kMaxRank = 6;

// kMaxElements bounds a shape's element count (2^48), so that element and byte counts can never
// overflow int64 arithmetic in kernels; no machine holds such a tensor anyway.
inline constexpr int64_t kMaxElements = int64_t{1} << 48;

class Shape {
 public:
  // A rank-0 (scalar) shape.
  Shape() = default;

  // Shape builds a shape from literal dimensions written in code. Aborts on a rank above
  // kMaxRank, a negative size or too many elements: use FromDims for dimensions that come from
  // users or files.
  Shape(std::initializer_list<int64_t> dims);  // NOLINT: implicit, so Shape({2, 3}) reads well.

  // FromDims validates rank <= kMaxRank, every size >= 0 and at most kMaxElements elements.
  static absl::StatusOr<Shape> FromDims(absl::Span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t dim(int axis) const { return dims_[axis]; }
  int64_t operator[](int axis) const { return dims_[axis]; }
  absl::Span<const int64_t> dims() const { return absl::MakeConstSpan(dims_.data(), rank_); }
  std::vector<int64_t> ToVector() const { return {dims_.begin(), dims_.begin() + rank_}; }

  // num_elements is the product of the dimensions (1 for a scalar).
  int64_t num_elements() const;

  // set_dim changes one size; CHECKs the axis and the size.
  void set_dim(int axis, int64_t size);

  // Strides returns row-major element strides.
  std::array<int64_t, kMaxRank> Strides() const;

  // ToString gives "[2, 3]" ("[]" for a scalar).
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i) {
      if (a.dims_[i] != b.dims_[i]) return false;
    }
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  template <typename H>
  friend H AbslHashValue(H h, const Shape& s) {
    return H::combine(H::combine_contiguous(std::move(h), s.dims_.data(), s.rank_), s.rank_);
  }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Shape& shape);

// NormalizeAxis maps a possibly negative axis into [0, rank), or returns InvalidArgument naming
// `op`, the axis and the rank.
absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank);

// BroadcastShapes returns the NumPy broadcast of two shapes or InvalidArgument naming `op`.
absl::StatusOr<Shape> BroadcastShapes(absl::string_view op, const Shape& a, const Shape& b);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_SHAPE_H_
