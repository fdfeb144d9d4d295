// Shape: the dimensions of a tensor, rank 0..6, stored inline (no heap).
//
//   Shape s({2, 3});                                   // a literal; CHECKs rank and sizes
//   ASSIGN_OR_RETURN(Shape t, Shape::FromDims(dims));  // runtime dims; a status on bad input
//   Shape p = Shape::Partial({-1, 784});               // an unknown size, for input signatures
//   Shape q = Shape::Partial({-1, -2});                // two independent unknown sizes
//
// Note [Unknown dimensions]
// A Function traced with an input signature such as float32[?, 784] runs once for every batch
// size (autodiff/function.h, Note [Shape-polymorphic traces]). While it traces, a dimension that
// depends on an unknown size is *unknown*: the shape keeps a stand-in size for it (a multiple of
// kUnknownStandIn, c * kUnknownStandIn for a dimension that is c times the unknown size), marks
// it, and records which unknown size it follows (a signature may have up to kMaxUnknownSizes
// independent ones, printed ?, ?b, ?c, ?d). Copying such a shape, comparing it with another one
// whose dimension follows the same unknown size at the same axis, or printing it ("[?, 784]") is
// fine: those do not depend on the sizes. Reading an
// unknown dimension as a number — dim(), operator[], dims(), ToVector(), num_elements(),
// Strides(), or comparing it with a known size — is a host read of the size, which the trace
// could only bake in: it is reported to the thread's UnknownDimReadHook (the active trace, which
// then fails naming the read) and returns the stand-in so that the traced code runs to its end.
// Kernels never see unknown dimensions: a trace runs none, and the graph it makes is given
// concrete sizes before it runs.
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

// kUnknownStandIn is the size an unknown dimension stands in as while a trace runs (Note
// [Unknown dimensions]): small enough that a stand-in tensor is cheap, and divisible by 2..10 so
// that halves, thirds, ... of the unknown size are whole numbers.
inline constexpr int64_t kUnknownStandIn = 5040;

// kMaxUnknownSizes is how many independent unknown sizes one shape (and one input signature) may
// have: -1 .. -4 in Shape::Partial.
inline constexpr int kMaxUnknownSizes = 4;

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

  // Partial is FromDims where negative sizes mark unknown ones (Note [Unknown dimensions]): every
  // -1 stands for the same size, such as the batch; -2 for a second, independent one (a sequence
  // length), up to -4. Partial({-1, 784}) prints "[?, 784]", Partial({-1, -2}) "[?, ?b]".
  static absl::StatusOr<Shape> Partial(absl::Span<const int64_t> dims);
  static Shape Partial(std::initializer_list<int64_t> dims);  // CHECKs, for literals

  int rank() const { return rank_; }
  // The sizes. Reading an unknown one reports it (Note [Unknown dimensions]).
  int64_t dim(int axis) const {
    if (unknown_ >> axis & 1) ReportUnknownRead(axis, "dim");
    return dims_[axis];
  }
  int64_t operator[](int axis) const { return dim(axis); }
  absl::Span<const int64_t> dims() const {
    if (unknown_ != 0) ReportUnknownRead(FirstUnknown(), "dims");
    return absl::MakeConstSpan(dims_.data(), rank_);
  }
  std::vector<int64_t> ToVector() const {
    if (unknown_ != 0) ReportUnknownRead(FirstUnknown(), "ToVector");
    return {dims_.begin(), dims_.begin() + rank_};
  }

  // num_elements is the product of the dimensions (1 for a scalar).
  int64_t num_elements() const;

  // set_dim changes one size (making it known); CHECKs the axis and the size.
  void set_dim(int axis, int64_t size);

  // --- Unknown dimensions (Note [Unknown dimensions]); none of these reports a read.
  // fully_known is true when no dimension is unknown.
  bool fully_known() const { return unknown_ == 0; }
  bool unknown(int axis) const { return (unknown_ >> axis & 1) != 0; }
  uint8_t unknown_mask() const { return unknown_; }
  // unknown_size is which unknown size (0 .. kMaxUnknownSizes - 1) an unknown dimension follows.
  int unknown_size(int axis) const { return symbols_ >> (2 * axis) & 3; }
  // StandIn is this shape with its unknown dimensions replaced by their stand-in sizes.
  Shape StandIn() const {
    Shape s = *this;
    s.unknown_ = 0;
    s.symbols_ = 0;
    return s;
  }
  // stand_in_dim is dims_[axis] without a report: the stand-in size of an unknown dimension.
  int64_t stand_in_dim(int axis) const { return dims_[axis]; }
  // WithUnknown makes exactly the axes in `mask` unknown; their sizes become the stand-ins. An
  // axis that was unknown keeps its unknown size; a newly marked one follows unknown size 0.
  Shape WithUnknown(uint8_t mask) const;
  // set_unknown marks `axis` unknown, following unknown size `size_index`; its size becomes the
  // stand-in.
  void set_unknown(int axis, int size_index);
  // same_dim is true when dimension `axis` and `other`'s `other_axis` are the same size for every
  // value of the unknown sizes: equal known sizes, or the same multiple of the same unknown size.
  bool same_dim(int axis, const Shape& other, int other_axis) const {
    if (unknown(axis) != other.unknown(other_axis)) return false;
    if (unknown(axis) && unknown_size(axis) != other.unknown_size(other_axis)) return false;
    return dims_[axis] == other.dims_[other_axis];
  }
  // DimsOrMinusOne gives the sizes with -1 for each unknown one: what Reshape (one -1) and a
  // Slice size (-1: to the end) take, and what models::TensorSpec writes for an unknown size.
  std::vector<int64_t> DimsOrMinusOne() const;
  // ReshapeDims gives the Reshape dims that restore this shape: its sizes, with -1 for its one
  // unknown size. With several unknown sizes, or an unknown size next to a zero one (where -1 is
  // ambiguous), it reads the sizes (ToVector), which fails a trace.
  std::vector<int64_t> ReshapeDims() const;

  // Strides returns row-major element strides.
  std::array<int64_t, kMaxRank> Strides() const;

  // ToString gives "[2, 3]" ("[]" for a scalar); an unknown size prints as "?", "2*?" or "?/2".
  std::string ToString() const;

  // Two unknown sizes are equal when they are the same multiple of the same unknown size; an
  // unknown size compared with a known one, or with another unknown size, is a read (the answer
  // depends on the sizes).
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    if ((a.unknown_ | b.unknown_) != 0) return EqualWithUnknown(a, b);
    for (int i = 0; i < a.rank_; ++i) {
      if (a.dims_[i] != b.dims_[i]) return false;
    }
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  template <typename H>
  friend H AbslHashValue(H h, const Shape& s) {
    return H::combine(H::combine_contiguous(std::move(h), s.dims_.data(), s.rank_), s.rank_,
                      s.unknown_, s.symbols_);
  }

 private:
  int FirstUnknown() const { return __builtin_ctz(unknown_); }
  // ReportUnknownRead calls the thread's UnknownDimReadHook, if any.
  void ReportUnknownRead(int axis, const char* accessor) const;
  static bool EqualWithUnknown(const Shape& a, const Shape& b);

  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
  uint8_t unknown_ = 0;    // bit i: dimension i is unknown
  uint16_t symbols_ = 0;  // bits 2i, 2i+1: which unknown size dimension i follows
};

namespace internal {
// UnknownDimReadHook is told of every read of an unknown dimension on this thread (Note
// [Unknown dimensions]); autodiff's tracer installs one while a trace runs.
using UnknownDimReadHook = void (*)(const Shape& shape, int axis, const char* accessor);
// SetUnknownDimReadHook installs `hook` for this thread and returns the previous one.
UnknownDimReadHook SetUnknownDimReadHook(UnknownDimReadHook hook);
}  // namespace internal

std::ostream& operator<<(std::ostream& os, const Shape& shape);

// NormalizeAxis maps a possibly negative axis into [0, rank), or returns InvalidArgument naming
// `op`, the axis and the rank.
absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank);

// BroadcastShapes returns the NumPy broadcast of two shapes or InvalidArgument naming `op`.
absl::StatusOr<Shape> BroadcastShapes(absl::string_view op, const Shape& a, const Shape& b);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_SHAPE_H_
