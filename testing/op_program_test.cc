#include "testing/op_program.h"

#include <cmath>

#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"

namespace concord::testing {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::HasSubstr;

RC_GTEST_PROP(OpProgram, GeneratedProgramsRunWithoutError, ()) {
  OpProgramOptions options;
  options.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const OpProgram p = *GenOpProgram(options);
  const auto values = RunOpProgram(p);
  RC_ASSERT(values.ok());
  RC_ASSERT(values->size() == p.steps.size());
  RC_TAG(p.steps.size() > 4 ? "more than 4 steps" : "1 to 4 steps");
}

TEST(OpProgram, GeneratorCoversEveryOpAndNonTrivialShapes) {
  int seen[static_cast<int>(OpKind::kOpKindCount)] = {};
  int64_t largest = 0;
  rc::Random random(42);
  for (int i = 0; i < 400; ++i) {
    const OpProgram p = GenOpProgram({}).operator()(random.split(), 100).value();
    for (const OpStep& s : p.steps) ++seen[static_cast<int>(s.kind)];
    for (const Tensor& leaf : p.leaves) largest = std::max(largest, leaf.num_elements());
  }
  for (int k = 0; k < static_cast<int>(OpKind::kOpKindCount); ++k) {
    EXPECT_GT(seen[k], 0) << OpKindName(static_cast<OpKind>(k));
  }
  EXPECT_GE(largest, 20);
}

TEST(OpProgram, PrintsOneLinePerStep) {
  OpProgram p;
  p.leaves.push_back(Tensor::Zeros(Shape({2, 3})));
  p.steps.push_back({OpKind::kInput, 0});
  OpStep sum;
  sum.kind = OpKind::kSum;
  sum.a = 0;
  sum.ints = {1};
  sum.keepdims = true;
  p.steps.push_back(sum);
  EXPECT_EQ(p.ToString(), "v0 = input float32[2, 3]\nv1 = Sum(v0, {1}, keepdims)\n");
  const auto values = RunOpProgram(p);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ((*values)[1].shape(), Shape({2, 1}));
}

TEST(OpProgram, RunReportsTheFailingStep) {
  OpProgram p;
  p.leaves.push_back(Tensor::Zeros(Shape({2, 3})));
  p.steps.push_back({OpKind::kInput, 0});
  OpStep matmul;
  matmul.kind = OpKind::kMatMul;
  matmul.a = 0;
  matmul.b = 0;
  p.steps.push_back(matmul);
  const auto values = RunOpProgram(p);
  EXPECT_THAT(values.status().message(), HasSubstr("v1 = MatMul(v0, v0): MatMul"));
}

TEST(OpProgramFromBytes, DecodesDeterministicallyAndNeverCrashes) {
  const uint8_t bytes[] = {5, 0, 2, 2, 3, 0, 0, 1, 2, 3, 4, 5, 6, 24, 0, 0, 0, 0, 0};
  const OpProgram a = OpProgramFromBytes(bytes, sizeof(bytes));
  const OpProgram b = OpProgramFromBytes(bytes, sizeof(bytes));
  EXPECT_EQ(a.ToString(), b.ToString());
  EXPECT_EQ(a.steps[0].kind, OpKind::kInput);
  EXPECT_TRUE(OpProgramFromBytes(nullptr, 0).steps.empty());
}

TEST(FirstDivergence, NamesTheFirstDifferingValue) {
  OpProgram p;
  p.leaves.push_back(Tensor::Ones(Shape({3})));
  p.steps.push_back({OpKind::kInput, 0});
  OpStep neg;
  neg.kind = OpKind::kNeg;
  p.steps.push_back(neg);
  const std::vector<Tensor> base = RunOpProgram(p).value();
  std::vector<Tensor> other = {base[0], base[1].Clone()};
  other[1].mutable_data<float>()[2] = std::nextafter(-1.0f, 0.0f);
  const auto d = FirstDivergence(p, other, base);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->value_index, 1);
  EXPECT_THAT(d->what, HasSubstr("v1 = Neg(v0): first difference at [2]"));
  EXPECT_FALSE(FirstDivergence(p, other, base, 1e-6, 0).has_value());
  EXPECT_FALSE(FirstDivergence(p, base, base).has_value());
}

}  // namespace
}  // namespace concord::testing
