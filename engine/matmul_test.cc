#include "engine/matmul.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/internal/gemm.h"
#include "engine/movement.h"
#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenBroadcastablePair;
using ::concord::testing::GenTensor;
using ::concord::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

template <typename T>
Tensor Make(const Shape& shape, std::vector<T> values) {
  return Tensor::FromVector<T>(shape, values).value();
}

// Naive reference: NumPy matmul in double over multi-indices, written independently of the
// kernel (its own rank-1 promotion and broadcasting).
Tensor NaiveMatMul(const Tensor& a, const Tensor& b, bool ta, bool tb, DType out_dtype) {
  const bool av = a.rank() == 1, bv = b.rank() == 1;
  std::vector<int64_t> ad = a.shape().ToVector(), bd = b.shape().ToVector();
  if (av) ad.insert(ad.begin(), 1);
  if (bv) bd.push_back(1);
  const bool ta2 = ta && !av, tb2 = tb && !bv;
  const int ar = static_cast<int>(ad.size()), br = static_cast<int>(bd.size());
  const int64_t m = ta2 ? ad[ar - 1] : ad[ar - 2], k = ta2 ? ad[ar - 2] : ad[ar - 1];
  const int64_t n = tb2 ? bd[br - 2] : bd[br - 1];
  const int batch_rank = std::max(ar, br) - 2;
  std::vector<int64_t> batch(batch_rank, 1);
  for (int d = 0; d < batch_rank; ++d) {
    const int ia = d - (batch_rank - (ar - 2)), ib = d - (batch_rank - (br - 2));
    if (ia >= 0) batch[d] = std::max(batch[d], ad[ia]);
    if (ib >= 0) batch[d] = std::max(batch[d], bd[ib]);
  }
  int64_t batches = 1;
  for (int64_t s : batch) batches *= s;
  std::vector<double> out(static_cast<size_t>(batches * m * n));
  for (int64_t bi = 0; bi < batches; ++bi) {
    std::vector<int64_t> idx(batch_rank);
    int64_t rest = bi;
    for (int d = batch_rank - 1; d >= 0; --d) {
      idx[d] = rest % batch[d];
      rest /= batch[d];
    }
    auto matrix_offset = [&](const std::vector<int64_t>& dims, int r) {
      int64_t off = 0;
      for (int d = 0; d < r - 2; ++d) {
        const int64_t i = dims[d] == 1 ? 0 : idx[d + batch_rank - (r - 2)];
        off = off * dims[d] + i;
      }
      return off * dims[r - 2] * dims[r - 1];
    };
    const int64_t a0 = matrix_offset(ad, ar), b0 = matrix_offset(bd, br);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const int64_t ai = ta2 ? kk * m + i : i * k + kk;
          const int64_t bj = tb2 ? j * k + kk : kk * n + j;
          sum += a.ElementAsDouble(a0 + ai) * b.ElementAsDouble(b0 + bj);
        }
        out[(bi * m + i) * n + j] = sum;
      }
    }
  }
  std::vector<int64_t> out_dims = batch;
  if (!av) out_dims.push_back(m);
  if (!bv) out_dims.push_back(n);
  Tensor result = Tensor::Empty(Shape::FromDims(out_dims).value(), out_dtype);
  DispatchNumeric(out_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < out.size(); ++i) result.mutable_data<T>()[i] = static_cast<T>(out[i]);
  });
  return result;
}

TEST(MatMulTest, MultipliesTwoMatrices) {
  const Tensor a = Make<float>(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  const Tensor b = Make<float>(Shape({3, 2}), {7, 8, 9, 10, 11, 12});
  EXPECT_THAT(MatMul(a, b), BitwiseEquals(Make<float>(Shape({2, 2}), {58, 64, 139, 154})));
}

TEST(MatMulTest, TransposesEitherOperandWithoutCopying) {
  const Tensor a = Make<double>(Shape({3, 2}), {1, 4, 2, 5, 3, 6});     // [[1,2,3],[4,5,6]]^T
  const Tensor b = Make<double>(Shape({2, 3}), {7, 9, 11, 8, 10, 12});  // [[7,8],[9,10],[11,12]]^T
  const Tensor expected = Make<double>(Shape({2, 2}), {58, 64, 139, 154});
  EXPECT_THAT(MatMul(a, b, true, true), BitwiseEquals(expected));
  const Tensor a_plain = Make<double>(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(MatMul(a_plain, b, false, true), BitwiseEquals(expected));
}

TEST(MatMulTest, IntegersUseExactArithmeticAndWrapAround) {
  const Tensor a = Make<int32_t>(Shape({1, 2}), {std::numeric_limits<int32_t>::max(), 3});
  const Tensor b = Make<int32_t>(Shape({2, 1}), {2, 5});
  // (2^31 - 1) * 2 + 15 wraps to -2 + 15 = 13.
  EXPECT_THAT(MatMul(a, b), BitwiseEquals(Make<int32_t>(Shape({1, 1}), {13})));
  const Tensor c = Make<int64_t>(Shape({2, 2}), {1, 2, 3, 4});
  EXPECT_THAT(MatMul(c, c, /*transpose_a=*/true),
              BitwiseEquals(Make<int64_t>(Shape({2, 2}), {10, 14, 14, 20})));
}

TEST(MatMulTest, BroadcastsBatchDimensions) {
  // a: [2, 1, 1, 2] (two 1x2 rows), b: [3, 2, 1] (three 2x1 columns) -> [2, 3, 1, 1].
  const Tensor a = Make<float>(Shape({2, 1, 1, 2}), {1, 2, 3, 4});
  const Tensor b = Make<float>(Shape({3, 2, 1}), {1, 0, 0, 1, 1, 1});
  EXPECT_THAT(MatMul(a, b), BitwiseEquals(Make<float>(Shape({2, 3, 1, 1}), {1, 2, 3, 3, 4, 7})));
}

TEST(MatMulTest, PromotesRankOneOperandsLikeNumPy) {
  const Tensor v = Make<float>(Shape({3}), {1, 2, 3});
  const Tensor m = Make<float>(Shape({3, 2}), {1, 0, 0, 1, 1, 1});
  EXPECT_THAT(MatMul(v, v), BitwiseEquals(Tensor::Scalar<float>(14)));
  EXPECT_THAT(MatMul(v, m), BitwiseEquals(Make<float>(Shape({2}), {4, 5})));
  const Tensor mt = Make<float>(Shape({2, 3}), {1, 0, 1, 0, 1, 1});
  EXPECT_THAT(MatMul(mt, v), BitwiseEquals(Make<float>(Shape({2}), {4, 5})));
  // A vector against a stack of matrices keeps the batch and drops the promoted dimension.
  const Tensor stack = Make<float>(Shape({2, 3, 1}), {1, 1, 1, 1, 0, 0});
  EXPECT_THAT(MatMul(v, stack), BitwiseEquals(Make<float>(Shape({2, 1}), {6, 1})));
  // Transpose flags do nothing to a vector.
  EXPECT_THAT(MatMul(v, m, /*transpose_a=*/true), BitwiseEquals(Make<float>(Shape({2}), {4, 5})));
}

TEST(MatMulTest, ZeroInnerDimensionGivesZeros) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64}) {
    // Recycle a buffer of the output's size full of NaN/garbage first, so a kernel that forgot
    // to write would show it.
    {
      Tensor garbage = Tensor::Full(Shape({4, 5}), IsFloating(dtype) ? std::nan("") : -7.0, dtype);
    }
    const Tensor a = Tensor::Zeros(Shape({4, 0}), dtype);
    const Tensor b = Tensor::Zeros(Shape({0, 5}), dtype);
    EXPECT_THAT(MatMul(a, b), BitwiseEquals(Tensor::Zeros(Shape({4, 5}), dtype)));
  }
}

TEST(MatMulTest, EmptyOutputsHaveTheRightShape) {
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({0, 3})), Tensor::Zeros(Shape({3, 5}))),
              BitwiseEquals(Tensor::Zeros(Shape({0, 5}))));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({0, 2, 3})), Tensor::Zeros(Shape({3, 5}))),
              BitwiseEquals(Tensor::Zeros(Shape({0, 2, 5}))));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 3})), Tensor::Zeros(Shape({4, 3, 0}))),
              BitwiseEquals(Tensor::Zeros(Shape({4, 2, 0}))));
}

TEST(MatMulTest, GemmWithoutAccumulateIgnoresNaNInTheOutput) {
  const std::vector<float> a = {1, 2, 3, 4};
  std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());
  internal::Gemm(false, false, 2, 2, 2, a.data(), 2, a.data(), 2, /*accumulate=*/false, c.data(),
                 2);
  EXPECT_EQ(c, (std::vector<float>{7, 10, 15, 22}));
  internal::Gemm(false, false, 2, 2, 2, a.data(), 2, a.data(), 2, /*accumulate=*/true, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{14, 20, 30, 44}));
  std::vector<double> d(4, std::numeric_limits<double>::quiet_NaN());
  internal::Gemm(false, false, 2, 2, 0, static_cast<const double*>(nullptr), 1,
                 static_cast<const double*>(nullptr), 2, /*accumulate=*/false, d.data(), 2);
  EXPECT_EQ(d, (std::vector<double>{0, 0, 0, 0}));
}

TEST(MatMulTest, RejectsMismatchedInnerDimensions) {
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 3})), Tensor::Zeros(Shape({4, 5}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MatMul: inner dimensions differ: float32[2, 3] x "
                                 "float32[4, 5]")));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 3})), Tensor::Zeros(Shape({3, 2})), false, true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MatMul: inner dimensions differ: float32[2, 3] x float32[3, 2] "
                                 "(transpose_b) (3 vs 2)")));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({3})), Tensor::Zeros(Shape({4}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MatMul: inner dimensions differ: float32[3] x float32[4]")));
}

TEST(MatMulTest, RejectsBatchDimensionsThatDoNotBroadcast) {
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 2, 3})), Tensor::Zeros(Shape({3, 3, 4}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MatMul: batch dimensions [2] and [3] do not broadcast"),
                             HasSubstr("float32[2, 2, 3] x float32[3, 3, 4]"))));
}

TEST(MatMulTest, RejectsScalarsBoolsDTypeMismatchAndUndefined) {
  EXPECT_THAT(MatMul(Tensor::Scalar<float>(1), Tensor::Zeros(Shape({2}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MatMul: operands must have rank >= 1: float32[] x float32[2]")));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 2})), Tensor::Zeros(Shape({2, 2}), DType::kFloat64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MatMul: dtype mismatch: float32[2, 2] vs float64[2, 2]")));
  EXPECT_THAT(MatMul(Tensor::Zeros(Shape({2, 2}), DType::kBool),
                     Tensor::Zeros(Shape({2, 2}), DType::kBool)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MatMul"), HasSubstr("bool[2, 2]"))));
  EXPECT_THAT(MatMul(Tensor(), Tensor::Zeros(Shape({2, 2}))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MatMul: input a")));
}

// Deterministic pseudo-random data (no RapidCheck needed for the big determinism cases).
Tensor Filled(const Shape& shape, DType dtype, uint32_t seed) {
  Tensor t = Tensor::Empty(shape, dtype);
  uint32_t s = seed;
  DispatchFloating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.mutable_data<T>();
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      s = s * 1664525u + 1013904223u;
      p[i] = static_cast<T>(static_cast<int32_t>(s >> 8) % 20001) / T(10000);
    }
  });
  return t;
}

TEST(MatMulTest, RepeatedRunsAtAFixedThreadCountAreBitwiseIdentical) {
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      // Large enough for OpenBLAS to use every thread; ragged sizes exercise its edge kernels.
      const Tensor a = Filled(Shape({2, 133, 257}), dtype, 1);
      const Tensor b = Filled(Shape({257, 190}), dtype, 2);
      const Tensor first = MatMul(a, b).value();
      for (int run = 0; run < 3; ++run) EXPECT_THAT(MatMul(a, b), BitwiseEquals(first));
    }
  }
}

// Note [One GEMM for a shared matrix]: a stack times one matrix is one GEMM of all the rows, the
// bits of Keras's reshape, product, reshape back. The sizes are above kSingleThreadGemmFlops per
// matrix, where a GEMM of another row count rounds differently.
TEST(MatMulTest, AStackTimesOneMatrixHasTheBitsOfOneProductOfAllItsRows) {
  ScopedNumThreads scoped(1);
  const Tensor a = Filled(Shape({3, 97, 131}), DType::kFloat32, 5);
  for (const bool tb : {false, true}) {
    const Tensor b = Filled(tb ? Shape({67, 131}) : Shape({131, 67}), DType::kFloat32, 6);
    const Tensor rows = MatMul(Reshape(a, {3 * 97, 131}).value(), b, false, tb).value();
    EXPECT_THAT(MatMul(a, b, false, tb), BitwiseEquals(Reshape(rows, {3, 97, 67}).value()));
  }
}

TEST(MatMulTest, SmallMatrixBatchesDoNotDependOnTheThreadCount) {
  // m * n * k <= kSingleThreadGemmFlops: the batch is spread over ParallelFor workers, each matrix
  // one single-threaded GEMM (Note [MatMul through OpenBLAS]).
  const Tensor a = Filled(Shape({64, 17, 31}), DType::kFloat32, 3);
  const Tensor b = Filled(Shape({64, 31, 23}), DType::kFloat32, 4);
  Tensor one, two;
  {
    ScopedNumThreads scoped(1);
    one = MatMul(a, b).value();
  }
  {
    ScopedNumThreads scoped(2);
    two = MatMul(a, b).value();
  }
  EXPECT_THAT(two, BitwiseEquals(one));
}

// ---- Properties ------------------------------------------------------------------------------

struct Case {
  Tensor a, b;
  bool ta, tb;
};

// Full size: RapidCheck scales inRange by size, which would make most cases tiny.
rc::Gen<Case> GenCase(DType dtype, bool allow_vectors) {
  return rc::gen::resize(
      100, rc::gen::mapcat(
               rc::gen::tuple(GenBroadcastablePair(3, 3), rc::gen::inRange<int64_t>(0, 7),
                              rc::gen::inRange<int64_t>(0, 7), rc::gen::inRange<int64_t>(0, 7),
                              rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(),
                              rc::gen::inRange(0, allow_vectors ? 4 : 1)),
               [dtype](const std::tuple<std::pair<Shape, Shape>, int64_t, int64_t, int64_t, bool,
                                        bool, int>& t) {
                 const auto& [batches, m, n, k, ta, tb, vectors] = t;
                 // vectors: 0 none, 1 a is rank 1, 2 b is rank 1, 3 both.
                 std::vector<int64_t> ad, bd;
                 if (vectors & 1) {
                   ad = {k};
                 } else {
                   ad = batches.first.ToVector();
                   ad.push_back(ta ? k : m);
                   ad.push_back(ta ? m : k);
                 }
                 if (vectors & 2) {
                   bd = {k};
                 } else {
                   bd = batches.second.ToVector();
                   bd.push_back(tb ? n : k);
                   bd.push_back(tb ? k : n);
                 }
                 const double lo = IsFloating(dtype) ? -2.0 : -9.0, hi = -lo;
                 const bool ta_ = ta, tb_ = tb;
                 return rc::gen::map(
                     rc::gen::pair(GenTensor(Shape::FromDims(ad).value(), dtype, lo, hi),
                                   GenTensor(Shape::FromDims(bd).value(), dtype, lo, hi)),
                     [ta_, tb_](const std::pair<Tensor, Tensor>& ab) {
                       return Case{ab.first, ab.second, ta_, tb_};
                     });
               }));
}

RC_GTEST_PROP(MatMulProperty, Float64AgreesWithANaiveTripleLoop, ()) {
  const Case c = *GenCase(DType::kFloat64, /*allow_vectors=*/true);
  const Tensor expected = NaiveMatMul(c.a, c.b, c.ta, c.tb, DType::kFloat64);
  const absl::StatusOr<Tensor> actual = MatMul(c.a, c.b, c.ta, c.tb);
  RC_ASSERT(actual.ok());
  RC_ASSERT(::testing::Value(*actual, AllClose(expected, 1e-12, 1e-12)));
}

RC_GTEST_PROP(MatMulProperty, Float32AgreesWithANaiveTripleLoopLoosely, ()) {
  const Case c = *GenCase(DType::kFloat32, /*allow_vectors=*/true);
  const Tensor expected = NaiveMatMul(c.a, c.b, c.ta, c.tb, DType::kFloat32);
  const absl::StatusOr<Tensor> actual = MatMul(c.a, c.b, c.ta, c.tb);
  RC_ASSERT(actual.ok());
  RC_ASSERT(::testing::Value(*actual, AllClose(expected, 1e-5, 1e-5)));
}

RC_GTEST_PROP(MatMulProperty, IntegersAgreeExactlyWithANaiveTripleLoop, ()) {
  const DType dtype = *rc::gen::element(DType::kInt32, DType::kInt64);
  const Case c = *GenCase(dtype, /*allow_vectors=*/true);
  const Tensor expected = NaiveMatMul(c.a, c.b, c.ta, c.tb, dtype);
  RC_ASSERT(::testing::Value(MatMul(c.a, c.b, c.ta, c.tb), BitwiseEquals(expected)));
}

RC_GTEST_PROP(MatMulProperty, SmallProductsGiveTheSameBitsAtAnyThreadCountAndRun, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt64);
  // Every generated product is below kSingleThreadGemmFlops (see Note [MatMul through OpenBLAS]).
  const Case c = *GenCase(dtype, /*allow_vectors=*/false);
  Tensor one, two;
  {
    ScopedNumThreads scoped(1);
    one = MatMul(c.a, c.b, c.ta, c.tb).value();
  }
  {
    ScopedNumThreads scoped(2);
    two = MatMul(c.a, c.b, c.ta, c.tb).value();
    RC_ASSERT(::testing::Value(MatMul(c.a, c.b, c.ta, c.tb), BitwiseEquals(two)));
  }
  RC_ASSERT(::testing::Value(two, BitwiseEquals(one)));
}

}  // namespace
}  // namespace concord::engine
