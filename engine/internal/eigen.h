// Eigen views of tensor buffers, for kernels inside engine/ only (Eigen never leaks above it).
//
//   auto a = internal::ConstMatrixMap<float>(x, rows, cols);   // row-major view, no copy
#ifndef CONCORD_ENGINE_INTERNAL_EIGEN_H_
#define CONCORD_ENGINE_INTERNAL_EIGEN_H_

#include <cstdint>

#include "Eigen/Core"
#include "engine/tensor.h"

namespace concord::engine::internal {

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using FlatArray = Eigen::Array<T, Eigen::Dynamic, 1>;

// ConstMatrixMap views `rows` x `cols` elements of `t` starting at element `offset`.
template <typename T>
Eigen::Map<const RowMatrix<T>> ConstMatrixMap(const Tensor& t, int64_t rows, int64_t cols,
                                              int64_t offset = 0) {
  CONCORD_DCHECK(offset + rows * cols <= t.num_elements());
  return Eigen::Map<const RowMatrix<T>>(t.data<T>() + offset, rows, cols);
}

template <typename T>
Eigen::Map<RowMatrix<T>> MatrixMap(Tensor& t, int64_t rows, int64_t cols, int64_t offset = 0) {
  CONCORD_DCHECK(offset + rows * cols <= t.num_elements());
  return Eigen::Map<RowMatrix<T>>(t.mutable_data<T>() + offset, rows, cols);
}

// ConstArrayMap / ArrayMap view every element as a flat array.
template <typename T>
Eigen::Map<const FlatArray<T>> ConstArrayMap(const Tensor& t) {
  return Eigen::Map<const FlatArray<T>>(t.data<T>(), t.num_elements());
}

template <typename T>
Eigen::Map<FlatArray<T>> ArrayMap(Tensor& t) {
  return Eigen::Map<FlatArray<T>>(t.mutable_data<T>(), t.num_elements());
}

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_EIGEN_H_
