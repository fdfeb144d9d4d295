// Each planted bug (engine/mutation.h) changes exactly the behaviour it names once selected, and
// nothing changes with none selected. The campaign's mutants test (campaign_mutants_test.sh)
// then shows the campaign finds each; this test shows each is wired where it claims to be.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/mutation.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "testing/tensor_matchers.h"

namespace concord::mutation {
namespace {

using autodiff::Function;
using autodiff::FunctionArgs;
using autodiff::Value;
using engine::Shape;
using engine::Tensor;
using ::concord::testing::BitwiseEquals;
using ::testing::Not;

// Selects a mutant for one scope (planted.cc reads CONCORD_MUTANT on every check).
class ScopedMutant {
 public:
  explicit ScopedMutant(Mutant m) { setenv("CONCORD_MUTANT", std::string(MutantName(m)).c_str(), 1); }
  ~ScopedMutant() { setenv("CONCORD_MUTANT", "none", 1); }
};

template <typename T>
std::shared_ptr<T> Must(absl::StatusOr<std::shared_ptr<T>> x) {
  EXPECT_TRUE(x.ok()) << x.status();
  return *std::move(x);
}

Value F32(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return Value::Constant(*Tensor::FromVector<float>(Shape({n}), std::move(values)));
}

TEST(PlantedTest, NamesRoundTripAndNoneIsInactive) {
  for (Mutant m : kAllMutants) {
    EXPECT_EQ(MutantFromName(MutantName(m)), m);
    EXPECT_FALSE(Active(m)) << MutantName(m);
    ScopedMutant planted(m);
    EXPECT_TRUE(Active(m)) << MutantName(m);
  }
  EXPECT_EQ(MutantFromName("no_such_mutant"), Mutant::kNone);
}

Tensor GeluGradient(const Value& x) {
  autodiff::GradientTape tape;
  tape.Watch(x);
  return tape.Gradient(autodiff::SumAll(autodiff::Gelu(x)), {x}).value()[0].tensor();
}

// d gelu(x) = Phi(x) + x phi(x); the mutant drops x phi(x).
TEST(PlantedTest, GeluGradMissesProductTerm) {
  const double x = 1.5;
  const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
  const double x_pdf = x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
  EXPECT_NEAR(GeluGradient(F32({1.5f})).data<float>()[0], cdf + x_pdf, 1e-6);
  ScopedMutant planted(Mutant::kGeluGradMissesProductTerm);
  EXPECT_NEAR(GeluGradient(F32({1.5f})).data<float>()[0], cdf, 1e-6);
}

// The moving mean after one traced training call of a fresh BatchNormalization.
Tensor MovingMeanAfterTracedTrainingCall() {
  auto bn = Must(models::BatchNormalization::Create({}, "bn"));
  Function f([bn](const FunctionArgs& a) { return bn->CallMulti(a.inputs, a.training); });
  const Value x = Value::Constant(*Tensor::FromVector<float>(Shape({2, 2}), {1, 2, 3, 4}));
  EXPECT_TRUE(f.Call({x}, {}, /*training=*/true).ok());
  return bn->moving_mean().tensor();
}

TEST(PlantedTest, BatchNormTracedIgnoresTraining) {
  const Tensor zeros = Tensor::Zeros(Shape({2}), engine::DType::kFloat32);
  EXPECT_THAT(MovingMeanAfterTracedTrainingCall(), Not(BitwiseEquals(zeros)));
  ScopedMutant planted(Mutant::kBatchNormTracedIgnoresTraining);
  EXPECT_THAT(MovingMeanAfterTracedTrainingCall(), BitwiseEquals(zeros));
}

Tensor NewDenseKernel() {
  auto dense = Must(models::Dense::Create(3, {}, "dense"));
  const models::TensorSpec spec({models::kUnknownDim, 4}, engine::DType::kFloat32);
  EXPECT_TRUE(dense->Build({spec}).ok());
  return dense->kernel().tensor();
}

TEST(PlantedTest, InitializerCreationOrder) {
  EXPECT_THAT(NewDenseKernel(), BitwiseEquals(NewDenseKernel()));
  ScopedMutant planted(Mutant::kInitializerCreationOrder);
  EXPECT_THAT(NewDenseKernel(), Not(BitwiseEquals(NewDenseKernel())));
}

// Two Adam steps on (a, b), the second with the lists in the other order.
absl::Status StepsInBothOrders() {
  auto adam = *models::Adam::Create({});
  const models::Variable a = *models::Variable::Create("a", F32({1, 2}).tensor());
  const models::Variable b = *models::Variable::Create("b", F32({1, 2, 3}).tensor());
  if (absl::Status s = adam->ApplyGradients({F32({1, 1}), F32({1, 1, 1})}, {a, b}); !s.ok()) {
    return s;
  }
  return adam->ApplyGradients({F32({1, 1, 1}), F32({1, 1})}, {b, a});
}

TEST(PlantedTest, SlotsByPosition) {
  EXPECT_TRUE(StepsInBothOrders().ok());
  ScopedMutant planted(Mutant::kSlotsByPosition);
  EXPECT_FALSE(StepsInBothOrders().ok());
}

// The number of variables of x -> d -> d (one Dense layer called twice) after one call.
size_t VariablesOfASharedDense() {
  models::SymbolicTensor x = models::Input({4});
  auto d = Must(models::Dense::Create(4, {}, "d"));
  auto model = Must(models::Functional::Create({x}, {(*d)((*d)(x))}, "shared"));
  const Value in = Value::Constant(Tensor::Ones(Shape({2, 4})));
  EXPECT_TRUE(model->CallMulti({in}, false)[0].ok());
  return model->variables().size();
}

TEST(PlantedTest, SharedLayerRebuilds) {
  EXPECT_EQ(VariablesOfASharedDense(), 2u);
  ScopedMutant planted(Mutant::kSharedLayerRebuilds);
  EXPECT_EQ(VariablesOfASharedDense(), 4u);
}

// (a + b) + c traced and optimized, where float32 rounding makes the association visible:
// (1 + 1e8) - 1e8 is 0, 1 + (1e8 - 1e8) is 1.
float TracedSum() {
  Function f([](const FunctionArgs& a) {
    return std::vector<Value>{(a.inputs[0] + a.inputs[1]) + a.inputs[2]};
  });
  return f({F32({1}), F32({1e8f}), F32({-1e8f})}).value()[0].tensor().data<float>()[0];
}

TEST(PlantedTest, PassReassociatesSums) {
  EXPECT_EQ(TracedSum(), 0.0f);
  ScopedMutant planted(Mutant::kPassReassociatesSums);
  EXPECT_EQ(TracedSum(), 1.0f);
}

}  // namespace
}  // namespace concord::mutation
