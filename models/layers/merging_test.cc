// Add, Multiply and Concatenate: values by hand (and the left-to-right fold), symbolic specs with
// unknown sizes, gradients, every error and the configs.
#include "models/layers/merging.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Out;
using ::concord::testing::StatusIs;
using ::concord::testing::Sym;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

template <typename T>
Value V(const Shape& shape, std::vector<T> values) {
  return Value::Constant(*Tensor::FromVector<T>(shape, values));
}

template <typename T>
Tensor T_(const Shape& shape, std::vector<T> values) {
  return *Tensor::FromVector<T>(shape, values);
}

// ---- Add and Multiply -------------------------------------------------------------------------

TEST(Add, SumsTwoOrMoreInputsLeftToRight) {
  std::shared_ptr<Add> add = *Add::Create();
  EXPECT_THAT(Out((*add)({V<float>(Shape({2}), {1, 2}), V<float>(Shape({2}), {10, 20}),
                          V<float>(Shape({2}), {100, 200})},
                         false)),
              BitwiseEquals(T_<float>(Shape({2}), {111, 222})));
  // (1e8 + -1e8) + 1 = 1 in float32, while 1e8 + (-1e8 + 1) = 0: the fold is left to right.
  EXPECT_THAT(Out((*add)({V<float>(Shape({1}), {1e8f}), V<float>(Shape({1}), {-1e8f}),
                          V<float>(Shape({1}), {1})},
                         false)),
              BitwiseEquals(T_<float>(Shape({1}), {1})));
  EXPECT_THAT(Out((*add)({V<int32_t>(Shape({2}), {1, -5}), V<int32_t>(Shape({2}), {2, 5})}, true)),
              BitwiseEquals(T_<int32_t>(Shape({2}), {3, 0})));
  EXPECT_TRUE(add->variables().empty());
}

TEST(Multiply, MultipliesTwoOrMoreInputs) {
  std::shared_ptr<Multiply> mul = *Multiply::Create({}, "mul");
  EXPECT_THAT(Out((*mul)({V<double>(Shape({2, 1}), {2, 3}), V<double>(Shape({2, 1}), {5, 7}),
                          V<double>(Shape({2, 1}), {-1, 0.5})},
                         false)),
              BitwiseEquals(T_<double>(Shape({2, 1}), {-10, 10.5})));
}

TEST(Add, SymbolicSpecsKeepEveryKnownSize) {
  std::shared_ptr<Add> add = *Add::Create();
  SymbolicTensor y = (*add)({Sym({kUnknownDim, 3}), Sym({2, kUnknownDim})});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({2, 3}, DType::kFloat32));
  SymbolicTensor z = (*Multiply::Create().value())({Sym({kUnknownDim, 3}), Sym({kUnknownDim, 3})});
  ASSERT_THAT(z.status(), IsOk());
  EXPECT_EQ(z.spec(), TensorSpec({kUnknownDim, 3}, DType::kFloat32));
}

TEST(Add, GradientsFlowToEveryInput) {
  std::shared_ptr<Add> add = *Add::Create();
  std::shared_ptr<Multiply> mul = *Multiply::Create();
  const std::vector<Tensor> xs = {T_<double>(Shape({2, 2}), {1, -2, 0.5, 3}),
                                  T_<double>(Shape({2, 2}), {0.25, 4, -1, 2}),
                                  T_<double>(Shape({2, 2}), {-3, 1.5, 2, -0.5})};
  auto via = [](Layer& layer) {
    return [&layer](absl::Span<const Value> in) { return layer.CallMulti(in, true)[0]; };
  };
  EXPECT_THAT(testing::GradCheck(via(*add), xs), IsOk());
  EXPECT_THAT(testing::GradCheck(via(*mul), xs), IsOk());
}

RC_GTEST_PROP(MergingProperties, AddAndMultiplyEqualTheirOpFolds, ()) {
  const Shape shape = *testing::GenShape(3, 4);
  const int n = *rc::gen::inRange(2, 5);
  std::vector<Value> xs;
  for (int i = 0; i < n; ++i) {
    xs.push_back(Value::Constant(*testing::GenTensor(shape, DType::kFloat32, -10, 10)));
  }
  Value sum = xs[0], product = xs[0];
  for (int i = 1; i < n; ++i) {
    sum = autodiff::Add(sum, xs[i]);
    product = autodiff::Mul(product, xs[i]);
  }
  const Value y = (*Add::Create())->CallMulti(xs, false)[0];
  const Value z = (*Multiply::Create())->CallMulti(xs, false)[0];
  RC_ASSERT(y.ok() && z.ok());
  RC_ASSERT(engine::BitwiseEqual(y.tensor(), sum.tensor()));
  RC_ASSERT(engine::BitwiseEqual(z.tensor(), product.tensor()));
}

TEST(Add, WrongInputsNameTheLayerAndTheSpecs) {
  std::shared_ptr<Add> add = *Add::Create();
  const Value a = V<float>(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  EXPECT_THAT((*add)(a, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'add' (Add): expected 2 or more inputs"),
                             HasSubstr("got 1 (float32[2, 3])"))));
  EXPECT_THAT(add->CallMulti(absl::Span<const Value>(), false)[0].status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 0")));
  const Value b = Value::Constant(Tensor::Zeros(Shape({2, 4})));
  EXPECT_THAT((*add)({a, b}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("input 1 is float32[2, 4]"), HasSubstr("float32[2, 3]"))));
  const Value c = Value::Constant(Tensor::Zeros(Shape({2, 3}), DType::kFloat64));
  EXPECT_THAT((*add)({a, a, c}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input 2 is float64[2, 3]")));
  const Value flags = Value::Constant(Tensor::Zeros(Shape({2}), DType::kBool));
  std::shared_ptr<Multiply> mul = *Multiply::Create();
  EXPECT_THAT((*mul)({flags, flags}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'multiply' (Multiply)"), HasSubstr("bool[2]"))));
  EXPECT_THAT((*mul)({Sym({kUnknownDim, 3}), Sym({kUnknownDim, 3, 1})}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[?, 3, 1]")));
}

// ---- Concatenate ------------------------------------------------------------------------------

TEST(Concatenate, JoinsAlongTheAxis) {
  std::shared_ptr<Concatenate> last = *Concatenate::Create();
  const Value a = V<float>(Shape({2, 1}), {1, 2});
  const Value b = V<float>(Shape({2, 2}), {3, 4, 5, 6});
  EXPECT_THAT(Out((*last)({a, b}, false)),
              BitwiseEquals(T_<float>(Shape({2, 3}), {1, 3, 4, 2, 5, 6})));
  ConcatenateOptions first;
  first.axis = 0;
  std::shared_ptr<Concatenate> rows = *Concatenate::Create(first, "rows");
  EXPECT_THAT(Out((*rows)({b, b, b}, false)),
              BitwiseEquals(T_<float>(Shape({6, 2}), {3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6})));
  // Any dtype: int64.
  EXPECT_THAT(Out((*last)({V<int64_t>(Shape({1}), {7}), V<int64_t>(Shape({2}), {8, 9})}, false)),
              BitwiseEquals(T_<int64_t>(Shape({3}), {7, 8, 9})));
}

TEST(Concatenate, SymbolicSpecsSumKnownSizes) {
  std::shared_ptr<Concatenate> last = *Concatenate::Create();
  SymbolicTensor y = (*last)({Input({3}), Input({5}), Input({1})});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({kUnknownDim, 9}, DType::kFloat32));
  ConcatenateOptions batch;
  batch.axis = 0;
  SymbolicTensor z = (*Concatenate::Create(batch).value())({Sym({kUnknownDim, 4}), Sym({2, 4})});
  ASSERT_THAT(z.status(), IsOk());
  EXPECT_EQ(z.spec(), TensorSpec({kUnknownDim, 4}, DType::kFloat32));
  SymbolicTensor w = (*Concatenate::Create(batch).value())({Sym({3, kUnknownDim}), Sym({2, 4})});
  ASSERT_THAT(w.status(), IsOk());
  EXPECT_EQ(w.spec(), TensorSpec({5, 4}, DType::kFloat32));
}

TEST(Concatenate, GradientsSplitBackToTheInputs) {
  ConcatenateOptions middle;
  middle.axis = 1;
  std::shared_ptr<Concatenate> concat = *Concatenate::Create(middle);
  const std::vector<Tensor> xs = {T_<double>(Shape({2, 1, 2}), {1, 2, 3, 4}),
                                  T_<double>(Shape({2, 2, 2}), {5, 6, 7, 8, 9, 10, 11, 12})};
  auto fn = [&](absl::Span<const Value> in) { return concat->CallMulti(in, false)[0]; };
  EXPECT_THAT(testing::GradCheck(fn, xs), IsOk());
}

TEST(Concatenate, WrongInputsNameTheLayerAndTheSpecs) {
  std::shared_ptr<Concatenate> concat = *Concatenate::Create();
  const Value a = Value::Constant(Tensor::Zeros(Shape({2, 3})));
  EXPECT_THAT((*concat)(a, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'concatenate' (Concatenate): expected 2 or more"),
                             HasSubstr("float32[2, 3]"))));
  EXPECT_THAT((*concat)({a, Value::Constant(Tensor::Zeros(Shape({3, 3})))}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("expected inputs like float32[2, ?]"),
                             HasSubstr("input 1 is float32[3, 3]"))));
  EXPECT_THAT(
      (*concat)({a, Value::Constant(Tensor::Zeros(Shape({2, 3}), DType::kInt32))}, false).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input 1 is int32[2, 3]")));
  EXPECT_THAT((*concat)({a, Value::Constant(Tensor::Zeros(Shape({2, 3, 1})))}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[2, 3, 1]")));
  const Value s = Value::Scalar<float>(1);
  EXPECT_THAT((*concat)({s, s}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("axis -1 is out of range"), HasSubstr("float32[]"))));
  ConcatenateOptions far;
  far.axis = 2;
  EXPECT_THAT((*Concatenate::Create(far).value())({a, a}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("axis 2 is out of range")));
}

// ---- Configs ----------------------------------------------------------------------------------

TEST(Merging, ConfigsRoundTripAndRejectBadFields) {
  std::shared_ptr<Add> add = *Add::Create({}, "sum");
  EXPECT_EQ(*add->GetConfig(), nlohmann::json::parse(R"({"name": "sum"})"));
  absl::StatusOr<std::shared_ptr<Add>> add_back = Add::FromConfig(*add->GetConfig());
  ASSERT_THAT(add_back, IsOk());
  EXPECT_EQ((*add_back)->name(), "sum");
  absl::StatusOr<std::shared_ptr<Multiply>> mul_back =
      Multiply::FromConfig(nlohmann::json::parse(R"({"name": "m"})"));
  ASSERT_THAT(mul_back, IsOk());
  EXPECT_EQ((*mul_back)->class_name(), "Multiply");

  ConcatenateOptions options;
  options.axis = 1;
  std::shared_ptr<Concatenate> concat = *Concatenate::Create(options, "cat");
  EXPECT_EQ(*concat->GetConfig(), nlohmann::json::parse(R"({"name": "cat", "axis": 1})"));
  absl::StatusOr<std::shared_ptr<Concatenate>> back = Concatenate::FromConfig(*concat->GetConfig());
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ((*back)->options().axis, 1);
  EXPECT_EQ((*Concatenate::FromConfig(nlohmann::json::object()))->options().axis, -1);

  EXPECT_THAT(Add::FromConfig(nlohmann::json::parse(R"({"name": "a", "axis": 1})")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Add config: unknown field(s) 'axis'")));
  EXPECT_THAT(Multiply::FromConfig(nlohmann::json::parse(R"({"name": 3})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'name'")));
  EXPECT_THAT(Add::FromConfig(nlohmann::json::parse(R"({"name": "a b"})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid layer name")));
  EXPECT_THAT(Concatenate::FromConfig(nlohmann::json::parse(R"({"axis": "last"})")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Concatenate config: field 'axis': expected an integer")));
  EXPECT_THAT(Concatenate::FromConfig(nlohmann::json::parse("null")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected a JSON object")));
}

}  // namespace
}  // namespace concord::models
