// Dropout: identity at inference, the mask of Note [Dropout masks] (a pure function of seed,
// path, step and call index), its statistics, its gradient, every error and the config.
#include "models/layers/dropout.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/grad_check.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Out;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<Dropout> MakeDropout(double rate, DropoutOptions options = {},
                                     std::string name = "", uint64_t seed = 7) {
  absl::StatusOr<std::shared_ptr<Dropout>> d = Dropout::Create(rate, std::move(options), name);
  EXPECT_THAT(d, IsOk());
  EXPECT_THAT((*d)->set_seed(seed), IsOk());
  return *d;
}

Value Range(const Shape& shape, DType dtype = DType::kFloat32) {
  Tensor t = Tensor::Empty(shape, dtype);
  engine::DispatchFloating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < t.num_elements(); ++i) t.mutable_data<T>()[i] = T(1 + i % 7);
  });
  return Value::Constant(t);
}

// TwiceCaller calls its child twice per call, so the child sees call indices 0 and 1.
class TwiceCaller : public Layer {
 public:
  static std::shared_ptr<TwiceCaller> Make(std::shared_ptr<Layer> child) {
    std::shared_ptr<TwiceCaller> parent(new TwiceCaller());
    EXPECT_THAT(parent->AddSublayer("drop", child), IsOk());
    parent->child_ = child.get();
    return parent;
  }
  std::string class_name() const override { return "TwiceCaller"; }
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override {
    return std::vector<TensorSpec>{inputs[0], inputs[0]};
  }

 protected:
  std::vector<Value> CallImpl(absl::Span<const Value> inputs, const CallContext& c) override {
    return {(*child_)(inputs[0], c.training), (*child_)(inputs[0], c.training)};
  }

 private:
  TwiceCaller() : Layer("") {}
  Layer* child_ = nullptr;
};

// ---- Behaviour --------------------------------------------------------------------------------

TEST(Dropout, InferenceAndRateZeroReturnTheInputItself) {
  const Value x = Range(Shape({3, 4}));
  std::shared_ptr<Dropout> d = MakeDropout(0.5);
  Value y = (*d)(x, /*training=*/false);
  EXPECT_EQ(y.id(), x.id());
  EXPECT_EQ(d->step(), 0);  // inference calls do not advance the step
  std::shared_ptr<Dropout> zero = MakeDropout(0.0);
  EXPECT_EQ((*zero)(x, /*training=*/true).id(), x.id());
}

TEST(Dropout, TrainingMultipliesByTheDocumentedMask) {
  // Note [Dropout masks], by hand: stream (seed, StableHash64("dropout:dropout:0:0"), 0), one
  // word per element, kept when word >= ceil(rate * 2^32), kept values scaled by 1 / (1 - rate).
  const double rate = 0.25;
  std::shared_ptr<Dropout> d = MakeDropout(rate, {}, "", /*seed=*/99);
  const Value x = Range(Shape({4, 8}));
  const Tensor y = Out((*d)(x, /*training=*/true));
  const Tensor bits = engine::RandomBits(
      Shape({4, 8}), engine::RngStream{99, engine::StableHash64("dropout:dropout:0:0"), 0});
  const uint64_t threshold = uint64_t{1} << 30;  // ceil(0.25 * 2^32)
  Tensor expected = Tensor::Empty(Shape({4, 8}));
  int kept = 0;
  for (int64_t i = 0; i < 32; ++i) {
    const bool keep = static_cast<uint64_t>(bits.data<int64_t>()[i]) >= threshold;
    kept += keep;
    expected.mutable_data<float>()[i] =
        keep ? x.tensor().data<float>()[i] * static_cast<float>(1.0 / 0.75) : 0.0f;
  }
  EXPECT_THAT(y, BitwiseEquals(expected));
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 32);
  EXPECT_EQ(d->step(), 1);
}

TEST(Dropout, MaskIsTheSameForTheSameSeedPathStepAndCallIndex) {
  const Value x = Range(Shape({6, 10}));
  std::shared_ptr<Dropout> a = MakeDropout(0.5, {}, "drop");
  std::shared_ptr<Dropout> b = MakeDropout(0.5, {}, "drop");
  const Tensor a0 = Out((*a)(x, true));
  EXPECT_THAT(Out((*b)(x, true)), BitwiseEquals(a0));  // another layer, same (seed, path, step)
  const Tensor a1 = Out((*a)(x, true));                // step 1
  EXPECT_FALSE(engine::BitwiseEqual(a0, a1));
  a->set_step(0);  // restoring the step restores the mask
  EXPECT_THAT(Out((*a)(x, true)), BitwiseEquals(a0));
  EXPECT_THAT(Out((*b)(x, true)), BitwiseEquals(a1));

  std::shared_ptr<Dropout> other_seed = MakeDropout(0.5, {}, "drop", /*seed=*/8);
  EXPECT_FALSE(engine::BitwiseEqual(Out((*other_seed)(x, true)), a0));
  std::shared_ptr<Dropout> other_path = MakeDropout(0.5, {}, "drop2");
  EXPECT_FALSE(engine::BitwiseEqual(Out((*other_path)(x, true)), a0));
}

TEST(Dropout, SecondCallInOneStepDrawsAnotherMask) {
  const Value x = Range(Shape({6, 10}));
  std::shared_ptr<Dropout> d = MakeDropout(0.5);
  std::shared_ptr<TwiceCaller> parent = TwiceCaller::Make(d);
  ASSERT_THAT(parent->set_seed(7), IsOk());
  EXPECT_EQ(d->path(), "twice_caller/drop");
  std::vector<Value> ys = parent->CallMulti({x}, /*training=*/true);
  ASSERT_EQ(ys.size(), 2u);
  const Tensor first = Out(ys[0]);
  const Tensor second = Out(ys[1]);
  EXPECT_FALSE(engine::BitwiseEqual(first, second));
  for (int64_t call_index : {0, 1}) {
    CallContext context{/*training=*/true, /*step=*/0, call_index};
    absl::StatusOr<Tensor> mask = d->Mask(x.shape(), x.dtype(), context);
    ASSERT_THAT(mask, IsOk());
    EXPECT_THAT(call_index == 0 ? first : second,
                BitwiseEquals(Out(autodiff::Mul(x, Value::Constant(*mask)))));
  }
  // The parent's step advanced, the child's own did not (it is not a root).
  EXPECT_EQ(parent->step(), 1);
  std::vector<Value> next = parent->CallMulti({x}, true);
  EXPECT_FALSE(engine::BitwiseEqual(Out(next[0]), first));
}

TEST(Dropout, MaskPatternDoesNotDependOnTheDtype) {
  std::shared_ptr<Dropout> d = MakeDropout(0.3);
  const CallContext context{true, 5, 0};
  absl::StatusOr<Tensor> m32 = d->Mask(Shape({50}), DType::kFloat32, context);
  absl::StatusOr<Tensor> m64 = d->Mask(Shape({50}), DType::kFloat64, context);
  ASSERT_THAT(m32, IsOk());
  ASSERT_THAT(m64, IsOk());
  for (int64_t i = 0; i < 50; ++i) {
    const double v64 = m64->data<double>()[i];
    const float v32 = m32->data<float>()[i];
    EXPECT_EQ(v32 == 0, v64 == 0) << i;
    if (v64 != 0) {
      EXPECT_EQ(v64, 1.0 / (1.0 - 0.3)) << i;
    }
    if (v32 != 0) {
      EXPECT_EQ(v32, static_cast<float>(1.0 / (1.0 - 0.3))) << i;
    }
  }
}

TEST(Dropout, NoiseShapeSharesTheMaskAlongSizeOneAxes) {
  DropoutOptions options;
  options.noise_shape = std::vector<int64_t>{kUnknownDim, 1, kUnknownDim};
  std::shared_ptr<Dropout> d = MakeDropout(0.5, options);
  const Value x = Value::Constant(Tensor::Ones(Shape({4, 5, 6})));
  const Tensor y = Out((*d)(x, true));
  int dropped_columns = 0;
  for (int b = 0; b < 4; ++b) {
    for (int f = 0; f < 6; ++f) {
      const float first = y.data<float>()[b * 30 + f];
      dropped_columns += first == 0;
      for (int t = 1; t < 5; ++t) EXPECT_EQ(y.data<float>()[b * 30 + t * 6 + f], first);
    }
  }
  EXPECT_GT(dropped_columns, 0);
  EXPECT_LT(dropped_columns, 24);
}

RC_GTEST_PROP(DropoutProperties, DropsAboutRateOfTheElementsAndPreservesTheMean, ()) {
  const double rate = *rc::gen::inRange(0, 91) / 100.0;
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const int64_t n = 20000;
  std::shared_ptr<Dropout> d = *Dropout::Create(rate);
  RC_ASSERT(d->set_seed(seed).ok());
  d->set_step(*rc::gen::inRange<int64_t>(0, 1000));
  const Value y = (*d)(Value::Constant(Tensor::Ones(Shape({n}), DType::kFloat64)), true);
  RC_ASSERT(y.ok());
  int64_t zeros = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    zeros += y.tensor().data<double>()[i] == 0;
    sum += y.tensor().data<double>()[i];
  }
  // Six standard deviations of a binomial count and of the mean of the scaled mask.
  RC_ASSERT(std::abs(zeros - n * rate) <= 6 * std::sqrt(n * rate * (1 - rate)) + 1);
  RC_ASSERT(std::abs(sum / n - 1.0) <= 6 * std::sqrt(rate / ((1 - rate) * n)) + 1e-9);
}

TEST(Dropout, GradientIsTheMask) {
  std::shared_ptr<Dropout> d = MakeDropout(0.4);
  const Tensor x = Range(Shape({3, 5}), DType::kFloat64).tensor();
  // Resetting the step makes every evaluation draw the same mask, as finite differences need.
  auto fn = [&](absl::Span<const Value> in) {
    d->set_step(0);
    return (*d)(in[0], /*training=*/true);
  };
  EXPECT_THAT(testing::GradCheck(fn, {x}), IsOk());

  d->set_step(0);
  const Value xv = Value::Constant(x);
  autodiff::GradientTape tape;
  tape.Watch(xv);
  const Value y = (*d)(xv, true);
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(y, {xv});
  ASSERT_THAT(grads, IsOk());
  absl::StatusOr<Tensor> mask = d->Mask(x.shape(), DType::kFloat64, CallContext{true, 0, 0});
  ASSERT_THAT(mask, IsOk());
  EXPECT_THAT(Out((*grads)[0]), AllClose(*mask, 0.0, 0.0));
}

TEST(Dropout, SymbolicCallKeepsTheSpec) {
  std::shared_ptr<Dropout> d = MakeDropout(0.5);
  SymbolicTensor y = (*d)(Input({3, 4}));
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({kUnknownDim, 3, 4}, DType::kFloat32));
}

// ---- Errors -----------------------------------------------------------------------------------

TEST(Dropout, CreateRejectsBadRatesNoiseShapesAndNames) {
  for (double rate : {1.5, 1.0, -0.1, std::nan("")}) {
    EXPECT_THAT(Dropout::Create(rate), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("Dropout: rate must be in [0, 1)")))
        << rate;
  }
  EXPECT_THAT(Dropout::Create(1.5), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("rate must be in [0, 1), got 1.5")));
  DropoutOptions bad;
  bad.noise_shape = std::vector<int64_t>{4, -2};
  EXPECT_THAT(Dropout::Create(0.5, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("noise_shape")));
  bad.noise_shape = std::vector<int64_t>(7, 1);
  EXPECT_THAT(Dropout::Create(0.5, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 6")));
  EXPECT_THAT(Dropout::Create(0.5, {}, "a b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Dropout: "), HasSubstr("invalid layer name 'a b'"))));
}

TEST(Dropout, WrongInputsGiveErrorsNamingTheLayerAndSpecs) {
  std::shared_ptr<Dropout> d = MakeDropout(0.5);
  const Value ints = Value::Constant(Tensor::Zeros(Shape({2}), DType::kInt32));
  EXPECT_THAT((*d)(ints, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'dropout' (Dropout): "),
                             HasSubstr("float32 or float64"), HasSubstr("int32[2]"))));
  const Value x = Range(Shape({2, 3}));
  EXPECT_THAT((*d)({x, x}, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 1 input")));

  DropoutOptions options;
  options.noise_shape = std::vector<int64_t>{kUnknownDim, 2};
  std::shared_ptr<Dropout> noisy = MakeDropout(0.5, options, "noisy");
  EXPECT_THAT((*noisy)(x, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'noisy' (Dropout)"), HasSubstr("[?, 2]"),
                             HasSubstr("float32[2, 3]"))));
  EXPECT_THAT((*noisy)(Range(Shape({2, 2, 2})), true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[2, 2, 2]")));
  EXPECT_THAT(noisy->Mask(Shape({2, 3}), DType::kFloat32, CallContext{true, 0, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("noise_shape")));
  // An input that already carries an error passes through untouched.
  const Value bad = Value::Error(absl::NotFoundError("upstream"));
  EXPECT_THAT((*d)(bad, true).status(), StatusIs(absl::StatusCode::kNotFound, "upstream"));
}

// ---- Config -----------------------------------------------------------------------------------

TEST(Dropout, ConfigRoundTrips) {
  DropoutOptions options;
  options.noise_shape = std::vector<int64_t>{kUnknownDim, 1, 5};
  std::shared_ptr<Dropout> d = MakeDropout(0.3, options, "drop_1");
  absl::StatusOr<nlohmann::json> config = d->GetConfig();
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(*config, nlohmann::json::parse(
                         R"({"name": "drop_1", "rate": 0.3, "noise_shape": [null, 1, 5]})"));
  absl::StatusOr<std::shared_ptr<Dropout>> back = Dropout::FromConfig(*config);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ((*back)->name(), "drop_1");
  EXPECT_EQ((*back)->rate(), 0.3);
  EXPECT_EQ((*back)->options().noise_shape, options.noise_shape);
  EXPECT_EQ(*(*back)->GetConfig(), *config);

  std::shared_ptr<Dropout> plain = MakeDropout(0.5);
  EXPECT_EQ(*plain->GetConfig(),
            nlohmann::json::parse(R"({"name": "", "rate": 0.5, "noise_shape": null})"));
  absl::StatusOr<std::shared_ptr<Dropout>> minimal =
      Dropout::FromConfig(nlohmann::json::parse(R"({"rate": 0.5})"));
  ASSERT_THAT(minimal, IsOk());
  EXPECT_FALSE((*minimal)->options().noise_shape.has_value());
}

TEST(Dropout, BadConfigsAreClearErrors) {
  auto from = [](const char* text) { return Dropout::FromConfig(nlohmann::json::parse(text)); };
  EXPECT_THAT(from(R"({"rate": 0.5, "seed": 3})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown field(s) 'seed'")));
  EXPECT_THAT(from(R"({"rate": "half"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Dropout config: field 'rate': expected a number")));
  EXPECT_THAT(from(R"({"name": "d"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'rate': missing")));
  EXPECT_THAT(from(R"({"rate": 0.5, "noise_shape": [1.5]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'noise_shape'")));
  EXPECT_THAT(from(R"({"rate": 0.5, "noise_shape": "none"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'noise_shape'")));
  EXPECT_THAT(from(R"({"rate": 2})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rate must be in [0, 1)")));
  EXPECT_THAT(from(R"([0.5])"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected a JSON object")));
}

}  // namespace
}  // namespace concord::models
