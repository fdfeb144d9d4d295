#include "engine/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/internal/gemm.h"
#include "engine/internal/kernel_util.h"
#include "engine/threading.h"

// Note [MatMul through OpenBLAS]
// float32/float64 products go to OpenBLAS (cblas_sgemm/cblas_dgemm, Debian's pthread build), one
// GEMM call per matrix of the batch. OpenBLAS threads each call itself, with the thread count
// that SetNumThreads passes on to it (engine/threading.cc), so MatMul never wraps a ParallelFor
// around a GEMM that may be multithreaded: that would nest two thread pools on the same cores.
// The one exception is a batch of small matrices, m * n * k <= kSingleThreadGemmFlops: OpenBLAS
// runs those on the calling thread only (its own SMP threshold), so MatMul spreads the batch over
// ParallelFor workers, each calling a single-threaded GEMM.
//
// Determinism. OpenBLAS partitions a multithreaded GEMM statically, as a function of
// (m, n, k, thread count), and its threads never race on an element, so at a fixed thread count
// results are bitwise identical from run to run (matmul_test checks this). Across thread counts
// they are NOT: the 1- and 2-thread results of OpenBLAS 0.3.21's default kernels here differ in
// the last bits of 5-34% of the elements for every product above kSingleThreadGemmFlops we tried
// (square 65..1024 and the conv GEMMs of bench/; relative differences below 1.2e-6). With the
// AVX-512 kernels forced (OPENBLAS_CORETYPE=SkylakeX, also about 2x faster on this CPU) they were
// identical for the same shapes, so the dependence comes from the Haswell kernels rather than
// from the split itself. `bazel run -c opt //bench:blas_thread_bits` measures it;
// docs/benchmarks.md has the figures. So compare float MatMul results (and those of Conv2D on big
// layers) across thread counts with a tolerance, or pin the thread count. Products at or below
// kSingleThreadGemmFlops (and batches of them, spread over ParallelFor as above) are
// single-threaded GEMMs at any setting and thus thread-count independent. OpenBLAS picks its
// kernels at load time for the CPU it finds (DYNAMIC_ARCH; "Haswell" on the AMD EPYC development
// box, which OpenBLAS 0.3.21 does not know), so bits can also differ between CPU models.
//
// Note [One GEMM for a shared matrix]
// When `b` is one matrix (rank 2, no batch dimensions) and `a` a stack of untransposed matrices,
// [..., M, K] x [K, N], the stack's matrices are consecutive rows of one [batches * M, K]
// matrix and the result's are consecutive rows of one [batches * M, N] matrix, so MatMul makes
// one GEMM of all the rows instead of one per matrix. It is what Keras's Dense does to a rank-3
// input (reshape, one product, reshape back), and it gives those bits: MatMul(x, w) on
// [B, T, K] equals MatMul(Reshape(x, {B * T, K}), w) reshaped, bitwise. A layer can then use the
// rank-3 product directly and never multiply two unknown sizes into one dimension (Note [Unknown
// sizes in models] in models/unknown_dims.h). Whether the rows are folded depends on the shapes
// alone. The folded GEMM follows the rules above for its size: above kSingleThreadGemmFlops
// OpenBLAS threads it, and its bits then depend on the thread count.
//
// Integers (int32/int64) use a plain loop: each C element sums over k in ascending order in
// unsigned (wrapping) arithmetic, rows spread over ParallelFor; thread-count independent.

namespace concord::engine {

namespace internal {
namespace {

CBLAS_TRANSPOSE BlasTranspose(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }

// FitsBlasInt: Debian's OpenBLAS takes 32-bit int sizes.
bool FitsBlasInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

template <typename T>
bool HandleDegenerate(int64_t m, int64_t n, int64_t k, bool accumulate, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return true;
  if (k > 0) return false;
  // Some BLAS return early for k == 0 without applying beta = 0: zero C ourselves.
  if (!accumulate) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = T(0);
    }
  }
  return true;
}

void CheckBlasSizes(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  CONCORD_CHECK_MSG(FitsBlasInt(m) && FitsBlasInt(n) && FitsBlasInt(k) && FitsBlasInt(lda) &&
                        FitsBlasInt(ldb) && FitsBlasInt(ldc),
                    "GEMM size above the 32-bit BLAS interface (callers validate sizes)");
}

}  // namespace

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc) {
  if (HandleDegenerate(m, n, k, accumulate, c, ldc)) return;
  CheckBlasSizes(m, n, k, lda, ldb, ldc);
  cblas_sgemm(CblasRowMajor, BlasTranspose(trans_a), BlasTranspose(trans_b), static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), accumulate ? 1.0f : 0.0f, c, static_cast<int>(ldc));
}

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, bool accumulate, double* c, int64_t ldc) {
  if (HandleDegenerate(m, n, k, accumulate, c, ldc)) return;
  CheckBlasSizes(m, n, k, lda, ldb, ldc);
  cblas_dgemm(CblasRowMajor, BlasTranspose(trans_a), BlasTranspose(trans_b), static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), accumulate ? 1.0 : 0.0, c, static_cast<int>(ldc));
}

}  // namespace internal

namespace {

constexpr absl::string_view kOp = "MatMul";

// The problem after rank-1 promotion: out[batch] = op(A[batch]) * op(B[batch]), with op(A)
// m x k and op(B) k x n; A and B matrices stored row-major with row strides lda / ldb.
struct Problem {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0;
  // Element offsets of each batch's A and B matrix; C's batch i is at i * m * n.
  std::vector<int64_t> a_offsets, b_offsets;
};

std::string Operands(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  std::string s = absl::StrCat(a.ShapeString(), " x ", b.ShapeString());
  if (transpose_a || transpose_b) {
    absl::StrAppend(&s, " (", transpose_a ? "transpose_a" : "",
                    transpose_a && transpose_b ? ", " : "", transpose_b ? "transpose_b" : "", ")");
  }
  return s;
}

Shape Prefix(const Shape& s, int rank) {
  std::vector<int64_t> dims(s.dims().begin(), s.dims().begin() + rank);
  return Shape::FromDims(dims).value();
}

template <typename T>
void FloatMatMul(const Problem& p, const Tensor& a, const Tensor& b, Tensor& out) {
  const T* a_data = a.data<T>();
  const T* b_data = b.data<T>();
  T* c_data = out.mutable_data<T>();
  const int64_t batches = static_cast<int64_t>(p.a_offsets.size());
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      internal::Gemm(p.trans_a, p.trans_b, p.m, p.n, p.k, a_data + p.a_offsets[i], p.lda,
                     b_data + p.b_offsets[i], p.ldb, /*accumulate=*/false, c_data + i * p.m * p.n,
                     p.n);
    }
  };
  if (batches > 1 && p.m * p.n * p.k <= internal::kSingleThreadGemmFlops) {
    ParallelFor(batches, p.m * p.n * p.k + 1, run);  // See Note [MatMul through OpenBLAS].
  } else {
    run(0, batches);
  }
}

template <typename T>
void IntegerMatMul(const Problem& p, const Tensor& a, const Tensor& b, Tensor& out) {
  using U = std::make_unsigned_t<T>;
  const T* a_data = a.data<T>();
  const T* b_data = b.data<T>();
  T* c_data = out.mutable_data<T>();
  // Strides of op(A)(i, kk) and op(B)(kk, j) in the stored matrices.
  const int64_t a_si = p.trans_a ? 1 : p.lda, a_sk = p.trans_a ? p.lda : 1;
  const int64_t b_sk = p.trans_b ? 1 : p.ldb, b_sj = p.trans_b ? p.ldb : 1;
  const int64_t rows = static_cast<int64_t>(p.a_offsets.size()) * p.m;
  ParallelFor(rows, p.n * p.k + 1, [&](int64_t begin, int64_t end) {
    std::vector<U> acc(static_cast<size_t>(p.n));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t batch = r / p.m, i = r % p.m;
      const T* a_row = a_data + p.a_offsets[batch] + i * a_si;
      const T* b_mat = b_data + p.b_offsets[batch];
      std::fill(acc.begin(), acc.end(), U(0));
      for (int64_t kk = 0; kk < p.k; ++kk) {
        const U aik = static_cast<U>(a_row[kk * a_sk]);
        const T* b_row = b_mat + kk * b_sk;
        for (int64_t j = 0; j < p.n; ++j) acc[j] += aik * static_cast<U>(b_row[j * b_sj]);
      }
      T* c_row = c_data + r * p.n;
      for (int64_t j = 0; j < p.n; ++j) c_row[j] = static_cast<T>(acc[j]);
    }
  });
}

}  // namespace

absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool transpose_a,
                              bool transpose_b) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, a, "a"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, b, "b"));
  if (a.rank() == 0 || b.rank() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": operands must have rank >= 1: ", Operands(a, b, transpose_a, transpose_b)));
  }
  CONCORD_RETURN_IF_ERROR(internal::CheckSameDType(kOp, a, b));
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(kOp, a));

  // Promote rank-1 operands: a [K] is a [1, K] row, b [K] a [K, 1] column (never transposed).
  const bool a_vector = a.rank() == 1, b_vector = b.rank() == 1;
  const bool ta = transpose_a && !a_vector, tb = transpose_b && !b_vector;
  const int64_t a_rows = a_vector ? 1 : a.dim(a.rank() - 2), a_cols = a.dim(a.rank() - 1);
  const int64_t b_rows = b_vector ? b.dim(0) : b.dim(b.rank() - 2);
  const int64_t b_cols = b_vector ? 1 : b.dim(b.rank() - 1);
  Problem p;
  p.trans_a = ta;
  p.trans_b = tb;
  p.m = ta ? a_cols : a_rows;
  p.k = ta ? a_rows : a_cols;
  const int64_t k_b = tb ? b_cols : b_rows;
  p.n = tb ? b_rows : b_cols;
  p.lda = a_cols;
  p.ldb = b_cols;
  if (p.k != k_b) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": inner dimensions differ: ", Operands(a, b, transpose_a, transpose_b),
                     " (", p.k, " vs ", k_b, ")"));
  }
  const Shape a_batch = Prefix(a.shape(), a_vector ? 0 : a.rank() - 2);
  const Shape b_batch = Prefix(b.shape(), b_vector ? 0 : b.rank() - 2);
  absl::StatusOr<Shape> batch = BroadcastShapes(kOp, a_batch, b_batch);
  if (!batch.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": batch dimensions ", a_batch.ToString(), " and ", b_batch.ToString(),
                     " do not broadcast: ", Operands(a, b, transpose_a, transpose_b)));
  }
  if (IsFloating(a.dtype()) &&
      !(internal::FitsBlasInt(p.m) && internal::FitsBlasInt(p.n) && internal::FitsBlasInt(p.k))) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": matrix dimensions above 2^31 - 1 are not supported: ",
                     Operands(a, b, transpose_a, transpose_b)));
  }

  std::vector<int64_t> out_dims = batch->ToVector();
  if (!a_vector) out_dims.push_back(p.m);
  if (!b_vector) out_dims.push_back(p.n);
  CONCORD_ASSIGN_OR_RETURN(const Shape out_shape, Shape::FromDims(out_dims));
  Tensor out = Tensor::Empty(out_shape, a.dtype());
  if (out.num_elements() == 0) return out;

  // Offsets of each batch's matrices, walking the broadcast batch shape row-major.
  const std::array<int64_t, kMaxRank> a_strides = internal::BroadcastStrides(a_batch, *batch);
  const std::array<int64_t, kMaxRank> b_strides = internal::BroadcastStrides(b_batch, *batch);
  const int64_t batches = batch->num_elements();
  p.a_offsets.reserve(batches);
  p.b_offsets.reserve(batches);
  std::array<int64_t, kMaxRank> index{};
  for (int64_t i = 0; i < batches; ++i) {
    int64_t a_off = 0, b_off = 0;
    for (int d = 0; d < batch->rank(); ++d) {
      a_off += index[d] * a_strides[d];
      b_off += index[d] * b_strides[d];
    }
    p.a_offsets.push_back(a_off * a_rows * a_cols);
    p.b_offsets.push_back(b_off * b_rows * b_cols);
    internal::NextIndex(*batch, index);
  }

  // Note [One GEMM for a shared matrix]: a stack of matrices times one matrix is one product of
  // all the stack's rows.
  if (!a_vector && !ta && b_batch.rank() == 0 && batches > 1 &&
      (!IsFloating(a.dtype()) || internal::FitsBlasInt(batches * p.m))) {
    p.m *= batches;
    p.a_offsets = {0};
    p.b_offsets = {0};
  }

  switch (a.dtype()) {
    case DType::kFloat32:
      FloatMatMul<float>(p, a, b, out);
      break;
    case DType::kFloat64:
      FloatMatMul<double>(p, a, b, out);
      break;
    case DType::kInt32:
      IntegerMatMul<int32_t>(p, a, b, out);
      break;
    case DType::kInt64:
      IntegerMatMul<int64_t>(p, a, b, out);
      break;
    case DType::kBool:
      CONCORD_CHECK_MSG(false, "bool reached MatMul after CheckNumeric");
  }
  return out;
}

}  // namespace concord::engine
