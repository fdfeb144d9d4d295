// Losses: each loss against values worked out by hand (Keras's documented examples among them),
// every reduction and sample-weight form, from-logits against from-probabilities agreement,
// stability for huge logits, finite-difference gradients in float64, and every error path (the
// Loss value is tested in loss_config_test.cc).
#include "models/losses/losses.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::GradGradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

Value F32(const Shape& shape, std::vector<float> values) {
  return Value::Constant(Tensor::FromVector<float>(shape, values).value());
}
Value F64(const Shape& shape, std::vector<double> values) {
  return Value::Constant(Tensor::FromVector<double>(shape, values).value());
}
Value I64(const Shape& shape, std::vector<int64_t> values) {
  return Value::Constant(Tensor::FromVector<int64_t>(shape, values).value());
}
Tensor T32(const Shape& shape, std::vector<float> values) {
  return Tensor::FromVector<float>(shape, values).value();
}
Tensor Scalar32(float v) { return Tensor::Scalar<float>(v); }

LossOptions Sum() { return LossOptions{Reduction::kSum, Value()}; }
LossOptions None() { return LossOptions{Reduction::kNone, Value()}; }
LossOptions Weighted(Value w, Reduction r = Reduction::kSumOverBatchSize) {
  return LossOptions{r, std::move(w)};
}

// Keras's documented examples use these inputs.
Value KerasTrue() { return F32({2, 2}, {0, 1, 0, 0}); }
Value KerasPredOnes() { return F32({2, 2}, {1, 1, 1, 0}); }
Value KerasPred() { return F32({2, 2}, {0.6f, 0.4f, 0.4f, 0.6f}); }

constexpr double kTol = 1e-6;

// ---- Values by hand ---------------------------------------------------------------------------

TEST(MeanSquaredError, MatchesKerasDocumentedValues) {
  EXPECT_THAT(MeanSquaredError(KerasTrue(), KerasPredOnes()).ToTensor(),
              AllClose(Scalar32(0.5f), kTol, kTol));
  EXPECT_THAT(MeanSquaredError(KerasTrue(), KerasPredOnes(), Sum()).ToTensor(),
              AllClose(Scalar32(1.0f), kTol, kTol));
  EXPECT_THAT(MeanSquaredError(KerasTrue(), KerasPredOnes(), None()).ToTensor(),
              AllClose(T32({2}, {0.5f, 0.5f}), kTol, kTol));
  EXPECT_THAT(
      MeanSquaredError(KerasTrue(), KerasPredOnes(), Weighted(F32({2}, {0.7f, 0.3f}))).ToTensor(),
      AllClose(Scalar32(0.25f), kTol, kTol));
}

TEST(MeanSquaredError, AveragesTheLastAxisOnly) {
  // Per sample: ((1-0)^2 + (3-1)^2 + (0-2)^2) / 3 = 3 and ((2-2)^2 + 0 + (1-4)^2) / 3 = 3.
  const Value y_true = F32({2, 3}, {0, 1, 2, 2, 5, 4});
  const Value y_pred = F32({2, 3}, {1, 3, 0, 2, 5, 1});
  EXPECT_THAT(MeanSquaredError(y_true, y_pred, None()).ToTensor(),
              AllClose(T32({2}, {3, 3}), kTol, kTol));
}

TEST(MeanAbsoluteError, MatchesKerasDocumentedValues) {
  EXPECT_THAT(MeanAbsoluteError(KerasTrue(), KerasPredOnes()).ToTensor(),
              AllClose(Scalar32(0.5f), kTol, kTol));
  EXPECT_THAT(MeanAbsoluteError(KerasTrue(), KerasPredOnes(), Sum()).ToTensor(),
              AllClose(Scalar32(1.0f), kTol, kTol));
  EXPECT_THAT(MeanAbsoluteError(KerasTrue(), KerasPredOnes(), None()).ToTensor(),
              AllClose(T32({2}, {0.5f, 0.5f}), kTol, kTol));
  EXPECT_THAT(
      MeanAbsoluteError(KerasTrue(), KerasPredOnes(), Weighted(F32({2}, {0.7f, 0.3f}))).ToTensor(),
      AllClose(Scalar32(0.25f), kTol, kTol));
}

TEST(Huber, MatchesKerasDocumentedValues) {
  // Sample 1: errors +-0.6, 0.5 * 0.36 each -> 0.18; sample 2: 0.5 * 0.16 and 0.5 * 0.36 -> 0.13.
  EXPECT_THAT(Huber(KerasTrue(), KerasPred()).ToTensor(), AllClose(Scalar32(0.155f), kTol, kTol));
  EXPECT_THAT(Huber(KerasTrue(), KerasPred(), 1.0, Sum()).ToTensor(),
              AllClose(Scalar32(0.31f), kTol, kTol));
  EXPECT_THAT(Huber(KerasTrue(), KerasPred(), 1.0, None()).ToTensor(),
              AllClose(T32({2}, {0.18f, 0.13f}), kTol, kTol));
  EXPECT_THAT(Huber(KerasTrue(), KerasPred(), 1.0, Weighted(F32({2}, {1, 0}))).ToTensor(),
              AllClose(Scalar32(0.09f), kTol, kTol));
}

TEST(Huber, IsLinearBeyondDelta) {
  // delta 0.5: |e| = 2 -> 0.5 * (2 - 0.25) = 0.875; |e| = 0.5 (on the boundary) -> 0.125;
  // |e| = 0.2 -> 0.02.
  const Value y_true = F32({1, 3}, {0, 0, 0});
  const Value y_pred = F32({1, 3}, {-2, 0.5f, 0.2f});
  EXPECT_THAT(Huber(y_true, y_pred, 0.5, None()).ToTensor(),
              AllClose(T32({1}, {(0.875f + 0.125f + 0.02f) / 3}), kTol, kTol));
}

TEST(BinaryCrossentropy, FromProbabilitiesMatchesKerasDocumentedValues) {
  // Sample 1: -log(0.4) twice; sample 2: (-log(0.6) - log(0.4)) / 2.
  EXPECT_THAT(BinaryCrossentropy(KerasTrue(), KerasPred()).ToTensor(),
              AllClose(Scalar32(0.814924f), kTol, kTol));
  EXPECT_THAT(BinaryCrossentropy(KerasTrue(), KerasPred(), false, None()).ToTensor(),
              AllClose(T32({2}, {0.916291f, 0.713558f}), kTol, kTol));
  EXPECT_THAT(BinaryCrossentropy(KerasTrue(), KerasPred(), false, Sum()).ToTensor(),
              AllClose(Scalar32(1.629849f), kTol, kTol));
  EXPECT_THAT(
      BinaryCrossentropy(KerasTrue(), KerasPred(), false, Weighted(F32({2}, {1, 0}))).ToTensor(),
      AllClose(Scalar32(0.458146f), kTol, kTol));
}

TEST(BinaryCrossentropy, FromLogitsMatchesKerasDocumentedValue) {
  const Value y_true = F64({4}, {0, 1, 0, 0});
  const Value logits = F64({4}, {-18.6, 0.51, 2.94, -12.8});
  EXPECT_THAT(BinaryCrossentropy(y_true, logits, /*from_logits=*/true).ToTensor(),
              AllClose(Tensor::Scalar<double>(0.8654579497810972), 1e-12, 1e-12));
}

TEST(BinaryCrossentropy, ClipsProbabilitiesToEpsilon) {
  // p = 0 and p = 1 are clipped to 1e-7 and 1 - 1e-7: -log(1e-7) each, finite.
  const Value y_true = F64({1, 2}, {1, 0});
  const Value y_pred = F64({1, 2}, {0, 1});
  EXPECT_THAT(BinaryCrossentropy(y_true, y_pred).ToTensor(),
              AllClose(Tensor::Scalar<double>(-std::log(1e-7)), 1e-9, 0));
}

TEST(CategoricalCrossentropy, FromProbabilitiesMatchesKerasDocumentedValues) {
  const Value y_true = F32({2, 3}, {0, 1, 0, 0, 0, 1});
  const Value y_pred = F32({2, 3}, {0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f});
  // Per sample: -log(0.95) and -log(0.1).
  EXPECT_THAT(CategoricalCrossentropy(y_true, y_pred).ToTensor(),
              AllClose(Scalar32(1.176939f), kTol, kTol));
  EXPECT_THAT(CategoricalCrossentropy(y_true, y_pred, false, None()).ToTensor(),
              AllClose(T32({2}, {0.051293f, 2.302585f}), kTol, kTol));
  EXPECT_THAT(CategoricalCrossentropy(y_true, y_pred, false, Sum()).ToTensor(),
              AllClose(Scalar32(2.353878f), kTol, kTol));
  EXPECT_THAT(
      CategoricalCrossentropy(y_true, y_pred, false, Weighted(F32({2}, {0.3f, 0.7f}))).ToTensor(),
      AllClose(Scalar32(0.813599f), kTol, kTol));
}

TEST(CategoricalCrossentropy, NormalizesProbabilitiesThatDoNotSumToOne) {
  // [1, 3] is read as [0.25, 0.75].
  EXPECT_THAT(CategoricalCrossentropy(F64({1, 2}, {0, 1}), F64({1, 2}, {1, 3})).ToTensor(),
              AllClose(Tensor::Scalar<double>(-std::log(0.75)), 1e-12, 1e-12));
}

TEST(CategoricalCrossentropy, FromLogitsIsMinusLogSoftmax) {
  // -log(e^3 / (e + e^2 + e^3)) = log(1 + e^-1 + e^-2).
  EXPECT_THAT(
      CategoricalCrossentropy(F64({1, 3}, {0, 0, 1}), F64({1, 3}, {1, 2, 3}), true).ToTensor(),
      AllClose(Tensor::Scalar<double>(0.4076059644443804), 1e-12, 1e-12));
}

TEST(SparseCategoricalCrossentropy, FromProbabilitiesMatchesKerasDocumentedValues) {
  const Value y_pred = F32({2, 3}, {0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f});
  EXPECT_THAT(SparseCategoricalCrossentropy(I64({2}, {1, 2}), y_pred).ToTensor(),
              AllClose(Scalar32(1.176939f), kTol, kTol));
  // Labels with a trailing 1, int32 and floating labels mean the same.
  const Value int32_labels =
      Value::Constant(Tensor::FromVector<int32_t>(Shape({2, 1}), {1, 2}).value());
  EXPECT_THAT(SparseCategoricalCrossentropy(int32_labels, y_pred).ToTensor(),
              AllClose(Scalar32(1.176939f), kTol, kTol));
  EXPECT_THAT(SparseCategoricalCrossentropy(F32({2}, {1, 2}), y_pred).ToTensor(),
              AllClose(Scalar32(1.176939f), kTol, kTol));
}

TEST(SparseCategoricalCrossentropy, FromLogitsByHand) {
  // log-sum-exp minus the label's logit: [2, 1, 0.5] label 0 and [0, 0, 3] label 2.
  const Value logits = F64({2, 3}, {2, 1, 0.5, 0, 0, 3});
  EXPECT_THAT(
      SparseCategoricalCrossentropy(I64({2}, {0, 2}), logits, true, None()).ToTensor(),
      AllClose(Tensor::FromVector<double>({2}, {0.46436878410794513, 0.09492295642096105}).value(),
               1e-12, 1e-12));
}

TEST(SparseCategoricalCrossentropy, WorksOnSequences) {
  // [batch 1, time 2, classes 2]: per-sample losses have shape [1, 2].
  const Value logits = F64({1, 2, 2}, {0, 0, 0, std::log(3.0)});
  const Value labels = I64({1, 2}, {0, 1});
  EXPECT_THAT(
      SparseCategoricalCrossentropy(labels, logits, true, None()).ToTensor(),
      AllClose(Tensor::FromVector<double>({1, 2}, {std::log(2.0), std::log(4.0 / 3.0)}).value(),
               1e-12, 1e-12));
}

// ---- Shapes, dtypes, reductions, weights ------------------------------------------------------

TEST(Losses, ATrailingAxisOfOneOnEitherSideIsAddedToTheOther) {
  const Value y_true_flat = F32({3}, {0, 1, 1});
  const Value y_true_col = F32({3, 1}, {0, 1, 1});
  const Value y_pred_col = F32({3, 1}, {0.2f, 0.7f, 0.9f});
  const Value y_pred_flat = F32({3}, {0.2f, 0.7f, 0.9f});
  const Tensor expected = *BinaryCrossentropy(y_true_col, y_pred_col, false, None()).ToTensor();
  EXPECT_EQ(expected.shape(), Shape({3}));
  EXPECT_THAT(BinaryCrossentropy(y_true_flat, y_pred_col, false, None()).ToTensor(),
              BitwiseEquals(expected));
  EXPECT_THAT(BinaryCrossentropy(y_true_col, y_pred_flat, false, None()).ToTensor(),
              BitwiseEquals(expected));
}

TEST(Losses, IntegerLabelsAreCastToThePredictionDtype) {
  const Value labels = I64({2, 2}, {0, 1, 0, 0});
  EXPECT_THAT(BinaryCrossentropy(labels, KerasPred()).ToTensor(),
              BitwiseEquals(*BinaryCrossentropy(KerasTrue(), KerasPred()).ToTensor()));
}

TEST(Losses, SampleWeightsAlignWithLeadingAxes) {
  // Per-sample losses [2, 2] (a batch of 2 sequences of 2 steps, one output each).
  const Value y_true = F64({2, 2, 1}, {0, 0, 0, 0});
  const Value y_pred = F64({2, 2, 1}, {1, 2, 3, 4});  // squared errors 1, 4, 9, 16
  // A weight per sequence ([2] and [2, 1]) weights both of its steps.
  const Tensor by_sequence = Tensor::FromVector<double>({2, 2}, {2, 8, 0, 0}).value();
  EXPECT_THAT(
      MeanSquaredError(y_true, y_pred, Weighted(F64({2}, {2, 0}), Reduction::kNone)).ToTensor(),
      BitwiseEquals(by_sequence));
  EXPECT_THAT(
      MeanSquaredError(y_true, y_pred, Weighted(F64({2, 1}, {2, 0}), Reduction::kNone)).ToTensor(),
      BitwiseEquals(by_sequence));
  // A weight per step; with a trailing 1 too.
  const Tensor by_step = Tensor::FromVector<double>({2, 2}, {1, 0, 9, 0}).value();
  EXPECT_THAT(
      MeanSquaredError(y_true, y_pred, Weighted(F64({2, 2}, {1, 0, 1, 0}), Reduction::kNone))
          .ToTensor(),
      BitwiseEquals(by_step));
  EXPECT_THAT(
      MeanSquaredError(y_true, y_pred, Weighted(F64({2, 2, 1}, {1, 0, 1, 0}), Reduction::kNone))
          .ToTensor(),
      BitwiseEquals(by_step));
  // A scalar weights everything; sum_over_batch_size divides by the 4 losses, not the weights.
  EXPECT_THAT(MeanSquaredError(y_true, y_pred, Weighted(Value::Scalar<double>(0.5))).ToTensor(),
              AllClose(Tensor::Scalar<double>(30 * 0.5 / 4), 1e-12, 0));
  EXPECT_THAT(MeanSquaredError(y_true, y_pred, Weighted(F64({2}, {1, 0}))).ToTensor(),
              AllClose(Tensor::Scalar<double>(5.0 / 4), 1e-12, 0));
  // Integer weights are cast.
  EXPECT_THAT(
      MeanSquaredError(y_true, y_pred, Weighted(I64({2}, {2, 0}), Reduction::kNone)).ToTensor(),
      BitwiseEquals(by_sequence));
}

TEST(Losses, AnEmptyBatchAveragesToZero) {
  const Value empty = Value::Constant(Tensor::Zeros(Shape({0, 3})));
  EXPECT_THAT(MeanSquaredError(empty, empty).ToTensor(), BitwiseEquals(Scalar32(0)));
  EXPECT_THAT(MeanSquaredError(empty, empty, Sum()).ToTensor(), BitwiseEquals(Scalar32(0)));
  EXPECT_THAT(MeanSquaredError(empty, empty, None()).ToTensor(),
              BitwiseEquals(Tensor::Zeros(Shape({0}))));
}

TEST(Losses, UnweightedSumOverBatchSizeIsBitwiseTheMeanOfPerSampleLosses) {
  const Value y_true = F32({3, 2}, {0.1f, 0.9f, 0.3f, 0.2f, 0.5f, 0.5f});
  const Value y_pred = F32({3, 2}, {0.3f, 0.6f, 0.2f, 0.9f, 0.4f, 0.1f});
  const Value per_sample = BinaryCrossentropy(y_true, y_pred, false, None());
  EXPECT_THAT(BinaryCrossentropy(y_true, y_pred).ToTensor(),
              BitwiseEquals(*autodiff::MeanAll(per_sample).ToTensor()));
}

TEST(ReductionName, RoundTrips) {
  for (Reduction r : {Reduction::kNone, Reduction::kSum, Reduction::kSumOverBatchSize}) {
    EXPECT_THAT(ReductionFromName(ReductionName(r)), IsOk());
    EXPECT_EQ(*ReductionFromName(ReductionName(r)), r);
  }
  EXPECT_EQ(*ReductionFromName("auto"), Reduction::kSumOverBatchSize);
  EXPECT_THAT(ReductionFromName("mean"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sum_over_batch_size")));
}

// ---- Properties -------------------------------------------------------------------------------

// A shape of rank 1..3 with small sizes (the last axis is the averaged or class axis).
rc::Gen<Shape> GenLossShape() { return GenShape(/*max_rank=*/3, /*max_dim=*/4, /*min_rank=*/1); }

// A shape of rank 1..3 whose last (class) axis has 2..4 classes: with a single class the
// probability 1 is clipped to 1 - 1e-7, so the forms differ by design.
rc::Gen<Shape> GenClassShape() {
  return rc::gen::exec([] {
    std::vector<int64_t> dims = (*GenShape(/*max_rank=*/2, /*max_dim=*/3)).ToVector();
    dims.push_back(*rc::gen::inRange<int64_t>(2, 5));
    return *Shape::FromDims(dims);
  });
}

RC_GTEST_PROP(LossProperties, BinaryCrossentropyFromLogitsEqualsFromSigmoidAwayFromSaturation, ()) {
  const Shape shape = *GenLossShape();
  const Value logits = Value::Constant(*GenTensor(shape, DType::kFloat64, -8, 8));
  const Value labels = Value::Constant(*GenTensor(shape, DType::kFloat64, 0, 1));
  const Tensor a = *BinaryCrossentropy(labels, logits, true, None()).ToTensor();
  const Tensor b = *BinaryCrossentropy(labels, autodiff::Sigmoid(logits), false, None()).ToTensor();
  RC_ASSERT(::concord::testing::FirstDifference(a, b, 1e-9, 1e-12, false) == "");
}

RC_GTEST_PROP(LossProperties, CategoricalCrossentropyFromLogitsEqualsFromSoftmax, ()) {
  const Shape shape = *GenClassShape();
  const Value logits = Value::Constant(*GenTensor(shape, DType::kFloat64, -5, 5));
  const Value labels = Value::Constant(*GenTensor(shape, DType::kFloat64, 0, 1));  // soft labels
  const Tensor a = *CategoricalCrossentropy(labels, logits, true, None()).ToTensor();
  const Tensor b =
      *CategoricalCrossentropy(labels, autodiff::Softmax(logits), false, None()).ToTensor();
  RC_ASSERT(::concord::testing::FirstDifference(a, b, 1e-9, 1e-12, false) == "");
}

RC_GTEST_PROP(LossProperties, SparseCategoricalCrossentropyEqualsCategoricalOnOneHotLabels, ()) {
  const Shape shape = *GenLossShape();
  const bool from_logits = *rc::gen::arbitrary<bool>();
  const Value y_pred = Value::Constant(
      *GenTensor(shape, DType::kFloat32, from_logits ? -5 : 0.01, from_logits ? 5 : 1));
  std::vector<int64_t> batch = shape.ToVector();
  const int64_t classes = batch.back();
  batch.pop_back();
  const Value labels = Value::Constant(
      *GenTensor(*Shape::FromDims(batch), DType::kInt64, 0, static_cast<double>(classes - 1)));
  const Tensor sparse =
      *SparseCategoricalCrossentropy(labels, y_pred, from_logits, None()).ToTensor();
  const Tensor dense =
      *CategoricalCrossentropy(autodiff::OneHot(labels, classes), y_pred, from_logits, None())
           .ToTensor();
  RC_ASSERT(::concord::testing::FirstDifference(sparse, dense, 1e-6, 1e-6, false) == "");
}

// Every loss as a function of (y_true, y_pred, options), for properties over all of them.
struct NamedLoss {
  const char* name;
  std::function<Value(const Value&, const Value&, const LossOptions&)> fn;
};

std::vector<NamedLoss> DenseLosses() {
  return {
      {"mse", [](auto& t, auto& p, auto& o) { return MeanSquaredError(t, p, o); }},
      {"mae", [](auto& t, auto& p, auto& o) { return MeanAbsoluteError(t, p, o); }},
      {"huber", [](auto& t, auto& p, auto& o) { return Huber(t, p, 0.5, o); }},
      {"bce", [](auto& t, auto& p, auto& o) { return BinaryCrossentropy(t, p, false, o); }},
      {"bce_logits", [](auto& t, auto& p, auto& o) { return BinaryCrossentropy(t, p, true, o); }},
      {"cce", [](auto& t, auto& p, auto& o) { return CategoricalCrossentropy(t, p, false, o); }},
      {"cce_logits",
       [](auto& t, auto& p, auto& o) { return CategoricalCrossentropy(t, p, true, o); }},
  };
}

RC_GTEST_PROP(LossProperties, ReductionsAreSumsAndMeansOfTheWeightedPerSampleLosses, ()) {
  const std::vector<NamedLoss> losses = DenseLosses();
  const NamedLoss& loss = losses[*rc::gen::inRange<size_t>(0, losses.size())];
  const Shape shape = *GenLossShape();
  const Value y_true = Value::Constant(*GenTensor(shape, DType::kFloat64, 0, 1));
  const Value y_pred = Value::Constant(*GenTensor(shape, DType::kFloat64, 0.05, 0.95));
  std::vector<int64_t> batch = shape.ToVector();
  batch.pop_back();
  const Value weight = Value::Constant(*GenTensor(*Shape::FromDims(batch), DType::kFloat64, 0, 2));
  RC_LOG() << loss.name << " " << shape.ToString();

  const Value per_sample = loss.fn(y_true, y_pred, None());
  const Value weighted = loss.fn(y_true, y_pred, Weighted(weight, Reduction::kNone));
  RC_ASSERT(::concord::testing::BitwiseDiff(*weighted.ToTensor(),
                                            *(per_sample * weight).ToTensor()) == "");
  const Tensor sum = *loss.fn(y_true, y_pred, Weighted(weight, Reduction::kSum)).ToTensor();
  RC_ASSERT(::concord::testing::BitwiseDiff(sum, *autodiff::SumAll(weighted).ToTensor()) == "");
  const Tensor mean = *loss.fn(y_true, y_pred, Weighted(weight)).ToTensor();
  const double n = static_cast<double>(per_sample.shape().num_elements());
  RC_ASSERT(std::abs(mean.item<double>() - sum.item<double>() / n) <= 1e-12);
}

TEST(LossStability, HugeLogitsGiveFiniteLossesAndGradients) {
  for (float big : {1e4f, 1e30f}) {
    const Value logits = F32({2, 3}, {big, -big, 0, -big, big, 0});
    const Value labels_dense = F32({2, 3}, {1, 0, 0, 1, 0, 0});
    const Value labels_sparse = I64({2}, {0, 0});
    const std::vector<std::function<Value()>> losses = {
        [&] { return BinaryCrossentropy(labels_dense, logits, true); },
        [&] { return CategoricalCrossentropy(labels_dense, logits, true); },
        [&] { return SparseCategoricalCrossentropy(labels_sparse, logits, true); },
    };
    for (const auto& loss_fn : losses) {
      autodiff::GradientTape tape;
      tape.Watch(logits);
      const Value loss = loss_fn();
      ASSERT_THAT(loss.ToTensor(), IsOk());
      EXPECT_TRUE(std::isfinite(loss.tensor().item<float>())) << big << " " << loss;
      absl::StatusOr<std::vector<Value>> grad = tape.Gradient(loss, {logits});
      ASSERT_THAT(grad, IsOk());
      for (float g : (*grad)[0].tensor().ToVector<float>()) {
        EXPECT_TRUE(std::isfinite(g)) << big << " " << (*grad)[0];
      }
    }
  }
  // The first sample's label has the largest logit: loss log(1 + 2 e^-1e4) = 0. The second's is
  // 2e4 below the largest: loss 2e4 + log(1 + ...) = 2e4.
  const Value logits = F32({2, 3}, {1e4f, -1e4f, 0, -1e4f, 1e4f, 0});
  EXPECT_THAT(SparseCategoricalCrossentropy(I64({2}, {0, 0}), logits, true, None()).ToTensor(),
              AllClose(T32({2}, {0, 2e4f}), 0, 0));
}

TEST(LossStability, BinaryCrossentropyGradientAtZeroLogitIsSigmoidMinusLabel) {
  // Relu's and Abs's gradients are 0 at 0; the selected form gives sigmoid(0) - z = 0.5 - z.
  const Value logits = F64({1, 2}, {0, 0});
  autodiff::GradientTape tape;
  tape.Watch(logits);
  const Value loss = BinaryCrossentropy(F64({1, 2}, {1, 0}), logits, true, Sum());
  absl::StatusOr<std::vector<Value>> grad = tape.Gradient(loss, {logits});
  ASSERT_THAT(grad, IsOk());
  EXPECT_THAT((*grad)[0].ToTensor(),
              AllClose(Tensor::FromVector<double>({1, 2}, {-0.25, 0.25}).value(), 1e-15, 0));
}

// ---- Gradients --------------------------------------------------------------------------------

Tensor D(const Shape& shape, std::vector<double> values) {
  return Tensor::FromVector<double>(shape, values).value();
}

// Inputs shaped [3, 2] in float64: labels in [0, 1], predictions away from every kink (|e| far
// from 0 and from delta 0.5, probabilities inside (0.1, 0.9)), per-sample weights.
const Tensor kLabels = D({3, 2}, {0.0, 1.0, 0.3, 0.8, 1.0, 0.1});
const Tensor kPreds = D({3, 2}, {0.2, 0.85, 0.7, 0.25, 0.15, 0.65});
const Tensor kWeights = D({3}, {0.5, 2.0, 1.0});

TEST(LossGradients, EveryLossMatchesFiniteDifferencesForEveryReduction) {
  for (const NamedLoss& loss : DenseLosses()) {
    for (Reduction r : {Reduction::kNone, Reduction::kSum, Reduction::kSumOverBatchSize}) {
      SCOPED_TRACE(std::string(loss.name) + " " + std::string(ReductionName(r)));
      // With respect to y_true, y_pred and the weights at once.
      auto fn = [&](absl::Span<const Value> x) {
        return loss.fn(x[0], x[1], LossOptions{r, x[2]});
      };
      EXPECT_THAT(GradCheck(fn, {kLabels, kPreds, kWeights}), IsOk());
    }
  }
}

TEST(LossGradients, SparseCategoricalCrossentropyMatchesFiniteDifferences) {
  const Value labels = I64({3}, {1, 0, 1});
  for (bool from_logits : {false, true}) {
    for (Reduction r : {Reduction::kNone, Reduction::kSum, Reduction::kSumOverBatchSize}) {
      SCOPED_TRACE(std::string(ReductionName(r)) + (from_logits ? " logits" : " probabilities"));
      auto fn = [&](absl::Span<const Value> x) {
        return SparseCategoricalCrossentropy(labels, x[0], from_logits, LossOptions{r, x[1]});
      };
      EXPECT_THAT(GradCheck(fn, {kPreds, kWeights}), IsOk());
    }
  }
}

TEST(LossGradients, FromLogitsLossesHaveCorrectSecondDerivatives) {
  const Tensor logits = D({3, 2}, {-1.5, 2.0, 0.3, -0.4, 3.0, 1.0});
  auto bce = [](absl::Span<const Value> x) { return BinaryCrossentropy(x[0], x[1], true); };
  EXPECT_THAT(GradGradCheck(bce, {kLabels, logits}), IsOk());
  auto cce = [](absl::Span<const Value> x) { return CategoricalCrossentropy(x[0], x[1], true); };
  EXPECT_THAT(GradGradCheck(cce, {kLabels, logits}), IsOk());
}

// ---- Errors -----------------------------------------------------------------------------------

TEST(LossErrors, ShapeMismatchNamesTheLossAndBothShapes) {
  const Value a = F32({2, 3}, {0, 0, 0, 0, 0, 0});
  const Value b = F32({2, 4}, {0, 0, 0, 0, 0, 0, 0, 0});
  const std::vector<std::pair<std::string, Value>> cases = {
      {"MeanSquaredError", MeanSquaredError(a, b)},
      {"MeanAbsoluteError", MeanAbsoluteError(a, b)},
      {"Huber", Huber(a, b)},
      {"BinaryCrossentropy", BinaryCrossentropy(a, b, true)},
      {"CategoricalCrossentropy", CategoricalCrossentropy(a, b, true)},
  };
  for (const auto& [name, value] : cases) {
    EXPECT_THAT(value.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr(name), HasSubstr("float32[2, 3]"),
                                               HasSubstr("float32[2, 4]"))));
  }
  // Broadcastable shapes are still a mismatch (the classic [N] against [N, 3] bug).
  EXPECT_THAT(MeanSquaredError(F32({3}, {0, 0, 0}), a).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("same shape")));
  // The categorical cross-entropy does not add trailing axes.
  EXPECT_THAT(CategoricalCrossentropy(F32({2}, {0, 0}), F32({2, 1}, {1, 1})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CategoricalCrossentropy"), HasSubstr("float32[2]"),
                             HasSubstr("float32[2, 1]"))));
}

TEST(LossErrors, UndefinedAndFailedInputs) {
  const Value ok = F32({2}, {0, 1});
  EXPECT_THAT(MeanSquaredError(Value(), ok).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MeanSquaredError: y_true is undefined")));
  EXPECT_THAT(SparseCategoricalCrossentropy(I64({1}, {0}), Value()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SparseCategoricalCrossentropy: y_pred is undefined")));
  // An error an input carries passes through untouched.
  const Value failed = Value::Error(absl::InternalError("earlier op failed"));
  EXPECT_THAT(Huber(failed, ok).status(),
              StatusIs(absl::StatusCode::kInternal, "earlier op failed"));
  EXPECT_THAT(BinaryCrossentropy(ok, failed).status(),
              StatusIs(absl::StatusCode::kInternal, "earlier op failed"));
  EXPECT_THAT(MeanSquaredError(ok, ok, Weighted(failed)).status(),
              StatusIs(absl::StatusCode::kInternal, "earlier op failed"));
}

TEST(LossErrors, PredictionsMustBeFloatingOfRankOneOrMore) {
  EXPECT_THAT(MeanSquaredError(I64({2}, {0, 1}), I64({2}, {0, 1})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MeanSquaredError"), HasSubstr("int64[2]"),
                             HasSubstr("float32 or float64"))));
  EXPECT_THAT(BinaryCrossentropy(Value::Scalar<float>(1), Value::Scalar<float>(0.5f)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("BinaryCrossentropy"), HasSubstr("rank >= 1"))));
}

TEST(LossErrors, HuberDeltaMustBePositiveAndFinite) {
  for (double delta : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    EXPECT_THAT(Huber(KerasTrue(), KerasPred(), delta).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("Huber"), HasSubstr("delta"))));
  }
}

TEST(LossErrors, SampleWeightThatDoesNotLineUp) {
  EXPECT_THAT(MeanSquaredError(KerasTrue(), KerasPred(), Weighted(F32({3}, {1, 1, 1}))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MeanSquaredError"), HasSubstr("sample_weight"),
                             HasSubstr("[3]"), HasSubstr("[2]"))));
  // [2, 2] weights per element of y_pred, but the per-sample loss is [2].
  EXPECT_THAT(
      MeanSquaredError(KerasTrue(), KerasPred(), Weighted(F32({2, 2}, {1, 1, 1, 1}))).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sample_weight")));
}

TEST(LossErrors, SparseLabels) {
  const Value y_pred = F32({2, 3}, {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f});
  EXPECT_THAT(SparseCategoricalCrossentropy(I64({3}, {0, 1, 2}), y_pred).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("SparseCategoricalCrossentropy"), HasSubstr("int64[3]"),
                             HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(SparseCategoricalCrossentropy(I64({2, 3}, {0, 1, 2, 0, 1, 2}), y_pred).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int64[2, 3]")));
  const Value bool_labels =
      Value::Constant(Tensor::FromVector<bool>(Shape({2}), {true, false}).value());
  EXPECT_THAT(SparseCategoricalCrossentropy(bool_labels, y_pred).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("class indices"), HasSubstr("bool[2]"))));
  for (int64_t bad : {3, -1}) {
    EXPECT_THAT(
        SparseCategoricalCrossentropy(I64({2}, {0, bad}), y_pred, true).status(),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr("SparseCategoricalCrossentropy"), HasSubstr("outside [0, 3)"))));
  }
}

}  // namespace
}  // namespace concord::models
