// The one GEMM entry point the engine's kernels share (MatMul, Conv2D and its gradients): a
// row-major C = op(A) * op(B) (+ C) on raw buffers, through OpenBLAS for float32/float64.
//
//   internal::Gemm(/*trans_a=*/false, /*trans_b=*/true, m, n, k, a, lda, b, ldb,
//                  /*accumulate=*/false, c, ldc);
//
// Kernels only; public headers speak of Tensors. See Note [MatMul through OpenBLAS] in
// engine/matmul.cc for the determinism and threading contract.
#ifndef CONCORD_ENGINE_INTERNAL_GEMM_H_
#define CONCORD_ENGINE_INTERNAL_GEMM_H_

#include <cstdint>

namespace concord::engine::internal {

// kSingleThreadGemmFlops: OpenBLAS 0.3.21 runs a GEMM with m * n * k at or below this on the
// calling thread alone (interface/gemm.c: SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD). Kernels
// may run such GEMMs concurrently from ParallelFor workers without nesting BLAS threads.
inline constexpr int64_t kSingleThreadGemmFlops = 65536 * 4;

// Gemm computes C = op(A) * op(B) for row-major buffers, or C += op(A) * op(B) when `accumulate`.
// op(A) is m x k (A is stored k x m when trans_a), op(B) is k x n; lda/ldb/ldc are row strides in
// elements. Any of m, n, k may be 0: with k == 0 the product is zero (C is zeroed unless
// accumulating), with m == 0 or n == 0 nothing is touched. Without `accumulate` C's previous
// contents (even NaN) never leak into the result.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc);
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, bool accumulate, double* c, int64_t ldc);

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_GEMM_H_
