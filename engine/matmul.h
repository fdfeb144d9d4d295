// Matrix products with NumPy `matmul` semantics: batched over leading dimensions that broadcast,
// float32/float64 through OpenBLAS, int32/int64 through a plain loop.
//
//   CONCORD_ASSIGN_OR_RETURN(Tensor y, MatMul(x, w));                // [B, M, K] x [K, N]
//   CONCORD_ASSIGN_OR_RETURN(Tensor g, MatMul(dy, w, false, true));  // dy * w^T
//
// Results are bitwise reproducible at a fixed thread count (see Note [MatMul through OpenBLAS]
// in matmul.cc for what changes with the thread count).
#ifndef CONCORD_ENGINE_MATMUL_H_
#define CONCORD_ENGINE_MATMUL_H_

#include "absl/status/statusor.h"
#include "engine/tensor.h"

namespace concord::engine {

// MatMul returns the matrix product of `a` and `b` as NumPy's `matmul` defines it:
//   - rank >= 2 operands are stacks of matrices in their last two dimensions; the leading (batch)
//     dimensions broadcast against each other, so [2, 1, M, K] x [3, K, N] is [2, 3, M, N];
//   - a rank-1 `a` of size K is treated as a [1, K] row and a rank-1 `b` as a [K, 1] column, and
//     the added dimension is removed from the result ([K] x [K] is a scalar);
//   - `transpose_a` / `transpose_b` swap the last two dimensions of a rank >= 2 operand before
//     the product (no copy is made). They do nothing to a rank-1 operand: a vector is its own
//     transpose, as in NumPy.
// Zero-sized dimensions are allowed: an inner dimension of 0 gives zeros.
// dtypes: float32, float64, int32, int64 (integers wrap around on overflow); both the same.
// InvalidArgument, naming both operands as in "MatMul: inner dimensions differ: float32[2, 3] x
// float32[4, 5]", for an undefined or rank-0 operand, a dtype mismatch, bool, inner dimensions
// that differ, or batch dimensions that do not broadcast.
absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool transpose_a = false,
                              bool transpose_b = false);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_MATMUL_H_
