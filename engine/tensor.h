// Tensor: a dense, contiguous, row-major array with a dtype and a shape of rank 0..6.
//
//   Tensor x = Tensor::Zeros(Shape({2, 3}));              // float32 zeros
//   ASSIGN_OR_RETURN(Tensor y, Tensor::FromVector<float>(Shape({2}), {1.f, 2.f}));
//   Tensor z = y;                                          // shares y's buffer (cheap)
//   Tensor w = y.Clone();                                  // a deep copy
//
// Note [Tensor buffers]
// A Tensor is a handle: a shape, a dtype and a reference-counted buffer of 64-byte-aligned
// memory from the caching allocator (engine/allocator.h). Copying a Tensor copies the handle, so
// both copies see writes made through mutable_data(); Clone() makes an independent buffer. Kernels
// never write into their inputs: they allocate their outputs. The only in-place writers are
// Assign/AssignAdd (for variables) and code that just created the tensor it fills.
#ifndef CONCORD_ENGINE_TENSOR_H_
#define CONCORD_ENGINE_TENSOR_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/status.h"

namespace concord::engine {

namespace internal {

// Storage owns one block from the caching allocator; a Tensor holds it by shared_ptr.
class Storage {
 public:
  explicit Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

}  // namespace internal

class Tensor {
 public:
  // An undefined tensor: no buffer, defined() is false. Only assignment and defined() are valid.
  Tensor() = default;

  // Empty returns an uninitialized tensor (for kernels that fill every element).
  static Tensor Empty(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor Zeros(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor Ones(const Shape& shape, DType dtype = DType::kFloat32);
  // Full fills with `value` converted to `dtype` (non-zero -> true for bool).
  static Tensor Full(const Shape& shape, double value, DType dtype = DType::kFloat32);
  // ZerosLike / OnesLike / FullLike copy shape and dtype from `like`.
  static Tensor ZerosLike(const Tensor& like) { return Zeros(like.shape(), like.dtype()); }
  static Tensor OnesLike(const Tensor& like) { return Ones(like.shape(), like.dtype()); }
  static Tensor FullLike(const Tensor& like, double value) {
    return Full(like.shape(), value, like.dtype());
  }

  // Scalar returns a rank-0 tensor holding `value`; its dtype follows T.
  template <typename T>
  static Tensor Scalar(T value) {
    Tensor t = Empty(Shape(), DTypeOf<T>());
    *t.mutable_data<T>() = value;
    return t;
  }

  // FromVector copies `values` into a tensor of `shape`; InvalidArgument if the count differs.
  template <typename T>
  static absl::StatusOr<Tensor> FromVector(const Shape& shape, absl::Span<const T> values) {
    if (static_cast<int64_t>(values.size()) != shape.num_elements()) {
      return absl::InvalidArgumentError(absl::StrCat("FromVector: ", values.size(),
                                                     " values do not fill shape ",
                                                     shape.ToString(), " (",
                                                     shape.num_elements(), " elements)"));
    }
    Tensor t = Empty(shape, DTypeOf<T>());
    T* out = t.mutable_data<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
    return t;
  }
  template <typename T>
  static absl::StatusOr<Tensor> FromVector(const Shape& shape, std::initializer_list<T> values) {
    return FromVector<T>(shape, absl::Span<const T>(values.begin(), values.size()));
  }
  template <typename T>
  static absl::StatusOr<Tensor> FromVector(const Shape& shape, const std::vector<T>& values) {
    return FromVector<T>(shape, absl::Span<const T>(values.data(), values.size()));
  }

  // Arange returns [start, start + step, ...) below `stop` (above it for a negative step), as a
  // rank-1 tensor of `dtype`. InvalidArgument for a zero step or a non-numeric dtype.
  static absl::StatusOr<Tensor> Arange(double start, double stop, double step = 1.0,
                                       DType dtype = DType::kFloat32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int axis) const { return shape_.dim(axis); }
  int64_t num_elements() const { return shape_.num_elements(); }
  size_t nbytes() const { return static_cast<size_t>(num_elements()) * DTypeSize(dtype_); }

  // data<T> gives read access; CHECKs that T matches the dtype (a programming error otherwise).
  template <typename T>
  const T* data() const {
    CONCORD_CHECK_MSG(defined(), "data() of an undefined tensor");
    CONCORD_CHECK_MSG(DTypeOf<T>() == dtype_, "data<T>() with T not matching the dtype");
    return static_cast<const T*>(storage_->data());
  }
  // mutable_data<T> gives write access to the shared buffer (see Note [Tensor buffers]).
  template <typename T>
  T* mutable_data() {
    CONCORD_CHECK_MSG(defined(), "mutable_data() of an undefined tensor");
    CONCORD_CHECK_MSG(DTypeOf<T>() == dtype_, "mutable_data<T>() with T not matching the dtype");
    return static_cast<T*>(storage_->data());
  }
  const void* raw_data() const { return defined() ? storage_->data() : nullptr; }
  void* mutable_raw_data() { return defined() ? storage_->data() : nullptr; }

  // item<T> returns the only element of a one-element tensor; CHECKs count and dtype.
  template <typename T>
  T item() const {
    CONCORD_CHECK_MSG(num_elements() == 1, "item() of a tensor that is not one element");
    return *data<T>();
  }

  // ElementAsDouble reads element `flat_index` (row-major) converted to double.
  double ElementAsDouble(int64_t flat_index) const;

  // ToVector copies the elements out; CHECKs the dtype.
  template <typename T>
  std::vector<T> ToVector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + num_elements());
  }

  // Clone returns a deep copy with its own buffer.
  Tensor Clone() const;

  // WithShape returns a handle sharing this buffer under another shape with the same element
  // count; CHECKs the count (ops validate user shapes before calling it).
  Tensor WithShape(const Shape& shape) const;

  // SharesBufferWith is true when both handles point at one buffer.
  bool SharesBufferWith(const Tensor& other) const {
    return storage_ != nullptr && storage_ == other.storage_;
  }
  // SoleHandle is true when this handle is the only one to its buffer.
  bool SoleHandle() const { return storage_ != nullptr && storage_.use_count() == 1; }

  // ToString prints dtype, shape and values, eliding the middle of large tensors:
  //   Tensor<float32 [2, 3]>
  //   [[1, 2, 3],
  //    [4, 5, 6]]
  std::string ToString(int64_t max_elements_per_axis = 6) const;

  // ShapeString is "float32[2, 3]": the short form error messages use.
  std::string ShapeString() const;

 private:
  std::shared_ptr<internal::Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::kFloat32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

// BitwiseEqual is true when dtype, shape and every byte of the data agree (so -0.0 != 0.0 and a
// NaN equals the same NaN). Concord's equivalence tests compare with it.
bool BitwiseEqual(const Tensor& a, const Tensor& b);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_TENSOR_H_
