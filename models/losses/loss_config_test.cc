// Loss, the value a training loop holds and a config names: registered names, JSON round trips,
// calls that equal the free functions, and every name and JSON error.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "autodiff/value.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/losses/losses.h"
#include "nlohmann/json.hpp"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

Value F32(const Shape& shape, std::vector<float> values) {
  return Value::Constant(Tensor::FromVector<float>(shape, values).value());
}
Value I64(const Shape& shape, std::vector<int64_t> values) {
  return Value::Constant(Tensor::FromVector<int64_t>(shape, values).value());
}
Value KerasTrue() { return F32({2, 2}, {0, 1, 0, 0}); }
Value KerasPred() { return F32({2, 2}, {0.6f, 0.4f, 0.4f, 0.6f}); }
LossOptions None() { return LossOptions{Reduction::kNone, Value()}; }
LossOptions Weighted(Value w, Reduction r = Reduction::kSumOverBatchSize) {
  return LossOptions{r, std::move(w)};
}

// ---- Names, JSON, calls
// -------------------------------------------------------------------------------------

TEST(Loss, NamesRoundTrip) {
  for (const std::string& name : Loss::KnownNames()) {
    absl::StatusOr<Loss> loss = Loss::FromName(name);
    ASSERT_THAT(loss, IsOk());
    EXPECT_EQ(loss->name(), name);
    EXPECT_EQ(loss->reduction(), Reduction::kSumOverBatchSize);
    EXPECT_EQ(*Loss::FromJson(loss->ToJson()), *loss);
    EXPECT_EQ(*Loss::FromJson(name), *loss);
  }
  EXPECT_EQ(Loss::KnownNames().size(), 6u);
  EXPECT_EQ(*Loss::FromName("mse"), Loss::MeanSquaredError());
  EXPECT_EQ(*Loss::FromName("mae"), Loss::MeanAbsoluteError());
}

TEST(Loss, JsonHoldsEveryParameter) {
  const Loss loss = Loss::SparseCategoricalCrossentropy(true, Reduction::kSum);
  EXPECT_EQ(loss.ToJson(), nlohmann::json::parse(R"({"name": "sparse_categorical_crossentropy",
      "config": {"from_logits": true, "reduction": "sum"}})"));
  EXPECT_EQ(*Loss::FromJson(loss.ToJson()), loss);
  const Loss huber = Loss::Huber(0.25, Reduction::kNone);
  EXPECT_EQ(huber.ToJson(), nlohmann::json::parse(R"({"name": "huber",
      "config": {"delta": 0.25, "reduction": "none"}})"));
  EXPECT_EQ(*Loss::FromJson(huber.ToJson()), huber);
  EXPECT_EQ(
      Loss::MeanSquaredError().ToJson(),
      nlohmann::json::parse(
          R"({"name": "mean_squared_error", "config": {"reduction": "sum_over_batch_size"}})"));
  // Missing parameters take their defaults.
  EXPECT_EQ(*Loss::FromJson(nlohmann::json::parse(R"({"name": "binary_crossentropy"})")),
            Loss::BinaryCrossentropy());
}

TEST(Loss, CallsTheFreeFunctionWithItsParameters) {
  const Value labels = I64({2}, {2, 1});
  const Value logits = F32({2, 3}, {0.5f, 1, -1, 2, 0, 0.25f});
  const Value w = F32({2}, {1, 3});
  EXPECT_THAT(
      Loss::SparseCategoricalCrossentropy(true, Reduction::kSum)(labels, logits, w).ToTensor(),
      BitwiseEquals(
          *SparseCategoricalCrossentropy(labels, logits, true, Weighted(w, Reduction::kSum))
               .ToTensor()));
  EXPECT_THAT(Loss::Huber(0.3)(KerasTrue(), KerasPred()).ToTensor(),
              BitwiseEquals(*Huber(KerasTrue(), KerasPred(), 0.3).ToTensor()));
  EXPECT_THAT(Loss::MeanAbsoluteError(Reduction::kNone)(KerasTrue(), KerasPred()).ToTensor(),
              BitwiseEquals(*MeanAbsoluteError(KerasTrue(), KerasPred(), None()).ToTensor()));
  EXPECT_THAT(Loss::MeanSquaredError()(KerasTrue(), KerasPred()).ToTensor(),
              BitwiseEquals(*MeanSquaredError(KerasTrue(), KerasPred()).ToTensor()));
  EXPECT_THAT(Loss::BinaryCrossentropy(true)(KerasTrue(), KerasPred()).ToTensor(),
              BitwiseEquals(*BinaryCrossentropy(KerasTrue(), KerasPred(), true).ToTensor()));
  EXPECT_THAT(Loss::CategoricalCrossentropy()(KerasTrue(), KerasPred()).ToTensor(),
              BitwiseEquals(*CategoricalCrossentropy(KerasTrue(), KerasPred()).ToTensor()));
}

TEST(Loss, NameAndJsonErrors) {
  EXPECT_THAT(Loss::FromName("cross_entropy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("cross_entropy"), HasSubstr("huber"))));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"42", "must be a name"},
      {R"({"config": {}})", "must be a name"},
      {R"({"name": "huber", "extra": 1})", "unknown field \"extra\""},
      {R"({"name": "huber", "config": []})", "\"config\" must be an object"},
      {R"({"name": "mean_squared_error", "config": {"delta": 2}})", "delta"},
      {R"({"name": "huber", "config": {"from_logits": true}})", "from_logits"},
      {R"({"name": "binary_crossentropy", "config": {"from_logits": "yes"}})", "from_logits"},
      {R"({"name": "huber", "config": {"delta": -1}})", "positive"},
      {R"({"name": "huber", "config": {"reduction": "mean"}})", "reduction"},
      {R"({"name": "nope"})", "Unknown loss"},
  };
  for (const auto& [text, message] : bad) {
    EXPECT_THAT(Loss::FromJson(nlohmann::json::parse(text)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << text;
  }
}

TEST(Loss, AHuberWithABadDeltaFailsWhenCalled) {
  EXPECT_THAT(Loss::Huber(-1)(KerasTrue(), KerasPred()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("delta")));
}

}  // namespace
}  // namespace concord::models
