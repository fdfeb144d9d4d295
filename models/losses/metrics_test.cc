// Metrics: known sequences of updates (Keras's documented examples among them), weighted means,
// Reset, errors that leave the state alone, and names that round-trip through MetricFromName.
#include "models/losses/metrics.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "autodiff/value.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::DoubleNear;
using ::testing::HasSubstr;

Value F32(const Shape& shape, std::vector<float> values) {
  return Value::Constant(Tensor::FromVector<float>(shape, values).value());
}
Value I64(const Shape& shape, std::vector<int64_t> values) {
  return Value::Constant(Tensor::FromVector<int64_t>(shape, values).value());
}

constexpr double kTol = 1e-12;

// ---- Mean -------------------------------------------------------------------------------------

TEST(Mean, AveragesEveryValueSeen) {
  Mean mean;
  EXPECT_EQ(mean.Result(), 0.0);  // nothing seen yet
  ASSERT_THAT(mean.UpdateValues(F32({4}, {1, 3, 5, 7})), IsOk());
  EXPECT_EQ(mean.Result(), 4.0);
  ASSERT_THAT(mean.UpdateValues(Value::Scalar<float>(14)), IsOk());
  EXPECT_EQ(mean.Result(), 30.0 / 5);
  EXPECT_EQ(mean.total(), 30.0);
  EXPECT_EQ(mean.count(), 5.0);
  mean.Reset();
  EXPECT_EQ(mean.Result(), 0.0);
  ASSERT_THAT(mean.UpdateValues(I64({2}, {2, 4})), IsOk());
  EXPECT_EQ(mean.Result(), 3.0);
}

TEST(Mean, WeightsValues) {
  // Keras: [1, 3, 5, 7] with weights [1, 1, 0, 0] -> 2.
  Mean mean;
  ASSERT_THAT(mean.UpdateValues(F32({4}, {1, 3, 5, 7}), F32({4}, {1, 1, 0, 0})), IsOk());
  EXPECT_EQ(mean.Result(), 2.0);
  // Weights align with leading axes: one weight per row of [2, 2].
  ASSERT_THAT(mean.UpdateValues(F32({2, 2}, {10, 20, 30, 40}), F32({2}, {0.5f, 0})), IsOk());
  EXPECT_THAT(mean.Result(), DoubleNear((4 + 15) / 3.0, kTol));
  // All-zero weights leave the result at 0, not NaN.
  Mean zero;
  ASSERT_THAT(zero.UpdateValues(F32({2}, {1, 2}), F32({2}, {0, 0})), IsOk());
  EXPECT_EQ(zero.Result(), 0.0);
}

TEST(Mean, UpdateAveragesPredictionsAndIgnoresLabels) {
  Mean mean("loss");
  EXPECT_EQ(mean.name(), "loss");
  ASSERT_THAT(mean.Update(Value(), F32({2}, {0.5f, 1.5f})), IsOk());
  EXPECT_EQ(mean.Result(), 1.0);
}

RC_GTEST_PROP(MeanProperties, WeightedMeanOfChunksEqualsTheWholeWeightedMean, ()) {
  const Shape shape = *GenShape(/*max_rank=*/3, /*max_dim=*/4, /*min_rank=*/1);
  const Tensor values = *GenTensor(shape, DType::kFloat64, -10, 10);
  const Tensor weights = *GenTensor(Shape({shape.dim(0)}), DType::kFloat64, 0, 2);
  const int64_t row = shape.num_elements() / shape.dim(0);
  double total = 0;
  double count = 0;
  Mean chunked;
  for (int64_t r = 0; r < shape.dim(0); ++r) {
    std::vector<double> chunk(values.data<double>() + r * row,
                              values.data<double>() + (r + 1) * row);
    const double w = weights.data<double>()[r];
    for (double v : chunk) {
      total += w * v;
      count += w;
    }
    RC_ASSERT(chunked
                  .UpdateValues(Value::Constant(*Tensor::FromVector<double>(Shape({row}), chunk)),
                                Value::Scalar<double>(w))
                  .ok());
  }
  Mean whole;
  RC_ASSERT(whole.UpdateValues(Value::Constant(values), Value::Constant(weights)).ok());
  const double expected = count == 0 ? 0.0 : total / count;
  RC_ASSERT(std::abs(whole.Result() - expected) <= 1e-9 * (1 + std::abs(expected)));
  RC_ASSERT(std::abs(chunked.Result() - expected) <= 1e-9 * (1 + std::abs(expected)));
}

// ---- Accuracies -------------------------------------------------------------------------------

TEST(Accuracy, CountsExactMatches) {
  // Keras: [[1], [2], [3], [4]] against [[0], [2], [3], [4]] -> 0.75; weights [1, 1, 0, 0] -> 0.5.
  Accuracy accuracy;
  EXPECT_EQ(accuracy.name(), "accuracy");
  ASSERT_THAT(accuracy.Update(F32({4, 1}, {1, 2, 3, 4}), F32({4, 1}, {0, 2, 3, 4})), IsOk());
  EXPECT_EQ(accuracy.Result(), 0.75);
  accuracy.Reset();
  ASSERT_THAT(
      accuracy.Update(F32({4, 1}, {1, 2, 3, 4}), F32({4, 1}, {0, 2, 3, 4}), F32({4}, {1, 1, 0, 0})),
      IsOk());
  EXPECT_EQ(accuracy.Result(), 0.5);
  // A second batch with [N] labels against [N, 1] predictions, integer labels: 2 of 2 match.
  ASSERT_THAT(accuracy.Update(I64({2}, {5, 6}), F32({2, 1}, {5, 6})), IsOk());
  EXPECT_EQ(accuracy.Result(), 3.0 / 4);
}

TEST(BinaryAccuracy, ThresholdsPredictions) {
  // Keras: [[1], [1], [0], [0]] against [[0.98], [1], [0], [0.6]] -> 0.75; weights [1, 0, 0, 1]
  // -> 0.5.
  BinaryAccuracy accuracy;
  EXPECT_EQ(accuracy.name(), "binary_accuracy");
  ASSERT_THAT(accuracy.Update(F32({4, 1}, {1, 1, 0, 0}), F32({4, 1}, {0.98f, 1, 0, 0.6f})), IsOk());
  EXPECT_EQ(accuracy.Result(), 0.75);
  accuracy.Reset();
  ASSERT_THAT(accuracy.Update(F32({4, 1}, {1, 1, 0, 0}), F32({4, 1}, {0.98f, 1, 0, 0.6f}),
                              F32({4}, {1, 0, 0, 1})),
              IsOk());
  EXPECT_EQ(accuracy.Result(), 0.5);
  // Exactly the threshold is class 0; threshold 0 reads logits.
  BinaryAccuracy logits(0.0);
  EXPECT_EQ(logits.threshold(), 0.0);
  ASSERT_THAT(logits.Update(F32({3}, {1, 0, 0}), F32({3}, {2.5f, -1, 0})), IsOk());
  EXPECT_EQ(logits.Result(), 1.0);
}

TEST(CategoricalAccuracy, ComparesArgmaxes) {
  // Keras: [[0, 0, 1], [0, 1, 0]] against [[0.1, 0.9, 0.8], [0.05, 0.95, 0]] -> 0.5; weights
  // [0.7, 0.3] -> 0.3.
  const Value y_true = F32({2, 3}, {0, 0, 1, 0, 1, 0});
  const Value y_pred = F32({2, 3}, {0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0});
  CategoricalAccuracy accuracy;
  EXPECT_EQ(accuracy.name(), "categorical_accuracy");
  ASSERT_THAT(accuracy.Update(y_true, y_pred), IsOk());
  EXPECT_EQ(accuracy.Result(), 0.5);
  accuracy.Reset();
  ASSERT_THAT(accuracy.Update(y_true, y_pred, F32({2}, {0.7f, 0.3f})), IsOk());
  EXPECT_THAT(accuracy.Result(), DoubleNear(0.3, 1e-7));
  // Ties pick the first index: [0.5, 0.5] is class 0.
  CategoricalAccuracy ties;
  ASSERT_THAT(ties.Update(F32({2, 2}, {1, 0, 0, 1}), F32({2, 2}, {0.5f, 0.5f, 0.5f, 0.5f})),
              IsOk());
  EXPECT_EQ(ties.Result(), 0.5);
}

TEST(SparseCategoricalAccuracy, ComparesArgmaxWithLabels) {
  // Keras: [[2], [1]] against [[0.1, 0.6, 0.3], [0.05, 0.95, 0]] -> 0.5; weights [0.7, 0.3] -> 0.3.
  const Value y_pred = F32({2, 3}, {0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0});
  SparseCategoricalAccuracy accuracy;
  EXPECT_EQ(accuracy.name(), "sparse_categorical_accuracy");
  ASSERT_THAT(accuracy.Update(F32({2, 1}, {2, 1}), y_pred), IsOk());
  EXPECT_EQ(accuracy.Result(), 0.5);
  accuracy.Reset();
  ASSERT_THAT(accuracy.Update(I64({2}, {2, 1}), y_pred, F32({2}, {0.7f, 0.3f})), IsOk());
  EXPECT_THAT(accuracy.Result(), DoubleNear(0.3, 1e-7));
  // A second, unweighted batch of sequences [1, 2, 3]: both steps right.
  ASSERT_THAT(accuracy.Update(I64({1, 2}, {0, 2}), F32({1, 2, 3}, {9, 1, 1, 0, 0, 1})), IsOk());
  EXPECT_THAT(accuracy.Result(), DoubleNear((0.3 + 2) / (1 + 2), 1e-7));
}

TEST(Metrics, AreFreshFromNameAndNamesRoundTrip) {
  for (const std::string& name : KnownMetricNames()) {
    absl::StatusOr<std::unique_ptr<Metric>> metric = MetricFromName(name);
    ASSERT_THAT(metric, IsOk());
    EXPECT_EQ((*metric)->name(), name);
    EXPECT_EQ((*metric)->Result(), 0.0);
    EXPECT_EQ((*MetricFromName((*metric)->name()))->name(), name);
  }
  EXPECT_EQ(KnownMetricNames().size(), 5u);
  EXPECT_THAT(MetricFromName("precision"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("precision"), HasSubstr("sparse_categorical_accuracy"))));
}

TEST(Metrics, WorkThroughTheBaseClass) {
  std::unique_ptr<Metric> metric = *MetricFromName("sparse_categorical_accuracy");
  ASSERT_THAT(metric->Update(I64({3}, {0, 1, 1}), F32({3, 2}, {1, 0, 1, 0, 0, 1})), IsOk());
  EXPECT_THAT(metric->Result(), DoubleNear(2.0 / 3, kTol));
  metric->Reset();
  EXPECT_EQ(metric->Result(), 0.0);
}

// ---- Errors -----------------------------------------------------------------------------------

TEST(MetricErrors, ShapesNameTheMetricAndBothShapes) {
  Accuracy accuracy;
  EXPECT_THAT(accuracy.Update(F32({3}, {0, 0, 0}), F32({2}, {0, 0})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Accuracy 'accuracy'"), HasSubstr("float32[3]"),
                             HasSubstr("float32[2]"))));
  BinaryAccuracy binary;
  EXPECT_THAT(binary.Update(F32({2}, {0, 0}), F32({2, 2}, {0, 0, 0, 0})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("BinaryAccuracy"), HasSubstr("float32[2, 2]"))));
  CategoricalAccuracy categorical;
  EXPECT_THAT(categorical.Update(F32({1, 3}, {0, 0, 1}), F32({1, 2}, {0, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CategoricalAccuracy"), HasSubstr("float32[1, 3]"),
                             HasSubstr("float32[1, 2]"))));
  EXPECT_THAT(categorical.Update(F32({2, 0}, {}), F32({2, 0}, {})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-empty last")));
  EXPECT_THAT(categorical.Update(Value::Scalar<float>(1), Value::Scalar<float>(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[]")));
  SparseCategoricalAccuracy sparse;
  EXPECT_THAT(sparse.Update(I64({3}, {0, 1, 2}), F32({2, 3}, {0, 0, 0, 0, 0, 0})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("SparseCategoricalAccuracy"), HasSubstr("int64[3]"),
                             HasSubstr("float32[2, 3]"))));
  const Value bool_labels = Value::Constant(Tensor::FromVector<bool>(Shape({1}), {true}).value());
  EXPECT_THAT(sparse.Update(bool_labels, F32({1, 2}, {0, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bool[1]")));
}

TEST(MetricErrors, UndefinedFailedAndMisalignedInputsChangeNothing) {
  Accuracy accuracy;
  ASSERT_THAT(accuracy.Update(F32({2}, {1, 2}), F32({2}, {1, 0})), IsOk());
  const double before = accuracy.Result();
  EXPECT_THAT(accuracy.Update(Value(), F32({2}, {1, 0})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("y_true is undefined")));
  EXPECT_THAT(accuracy.Update(F32({2}, {1, 2}), Value::Error(absl::InternalError("boom"))),
              StatusIs(absl::StatusCode::kInternal, "boom"));
  EXPECT_THAT(accuracy.Update(F32({2}, {1, 2}), F32({2}, {1, 2}),
                              Value::Error(absl::InternalError("bad weight"))),
              StatusIs(absl::StatusCode::kInternal, "bad weight"));
  EXPECT_THAT(accuracy.Update(F32({2}, {1, 2}), F32({2}, {1, 2}), F32({3}, {1, 1, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Accuracy 'accuracy'"), HasSubstr("sample_weight"),
                             HasSubstr("[3]"), HasSubstr("[2]"))));
  EXPECT_EQ(accuracy.Result(), before);
  EXPECT_EQ(accuracy.count(), 2.0);

  Mean mean("loss");
  EXPECT_THAT(mean.UpdateValues(Value()), StatusIs(absl::StatusCode::kInvalidArgument,
                                                   HasSubstr("Mean 'loss': values is undefined")));
  EXPECT_THAT(mean.UpdateValues(F32({2}, {1, 2}), F32({2, 2}, {1, 1, 1, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Mean 'loss'")));
  EXPECT_EQ(mean.count(), 0.0);
}

}  // namespace
}  // namespace concord::models
