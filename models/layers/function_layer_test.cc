// FunctionLayer and the layer-function registry: calls and gradients through a user's function,
// output specs inferred on zeros (unknown sizes found by running with 2 and 3) or given by a
// spec function, the cache, every error, configs by registered name, and concurrent registration.
#include "models/layers/function_layer.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
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
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

std::vector<Value> Swish(absl::Span<const Value> x, bool /*training*/) {
  return {x[0] * autodiff::Sigmoid(x[0])};
}

std::shared_ptr<FunctionLayer> Make(std::string function, LayerFunction fn,
                                    FunctionLayerOptions options = {}, std::string name = "") {
  absl::StatusOr<std::shared_ptr<FunctionLayer>> layer =
      FunctionLayer::Create(std::move(function), std::move(fn), std::move(options), name);
  EXPECT_THAT(layer, IsOk());
  return *layer;
}

// ---- Calls ------------------------------------------------------------------------------------

TEST(FunctionLayer, AppliesTheFunctionAndPassesTraining) {
  std::shared_ptr<FunctionLayer> swish = Make("swish", Swish);
  EXPECT_EQ(swish->path(), "function_layer");
  const Value x = Value::Constant(*Tensor::FromVector<float>(Shape({3}), {-1, 0, 2}));
  EXPECT_THAT(Out((*swish)(x, false)), BitwiseEquals(Out(x * autodiff::Sigmoid(x))));

  std::shared_ptr<FunctionLayer> doubled = Make("double_when_training", [](auto in, bool training) {
    return std::vector<Value>{training ? in[0] * 2.0 : in[0]};
  });
  EXPECT_THAT(Out((*doubled)(x, true)),
              BitwiseEquals(*Tensor::FromVector<float>(Shape({3}), {-2, 0, 4})));
  EXPECT_EQ((*doubled)(x, false).id(), x.id());
}

TEST(FunctionLayer, SeveralInputsAndOutputs) {
  std::shared_ptr<FunctionLayer> split = Make("sum_and_difference", [](auto in, bool) {
    return std::vector<Value>{in[0] + in[1], in[0] - in[1]};
  });
  const Value a = Value::Constant(*Tensor::FromVector<double>(Shape({2}), {5, 1}));
  const Value b = Value::Constant(*Tensor::FromVector<double>(Shape({2}), {2, 3}));
  std::vector<Value> ys = split->CallMulti({a, b}, false);
  ASSERT_EQ(ys.size(), 2u);
  EXPECT_THAT(Out(ys[0]), BitwiseEquals(*Tensor::FromVector<double>(Shape({2}), {7, 4})));
  EXPECT_THAT(Out(ys[1]), BitwiseEquals(*Tensor::FromVector<double>(Shape({2}), {3, -2})));
  std::vector<SymbolicTensor> syms = split->CallMulti({Input({2}), Input({2})});
  ASSERT_EQ(syms.size(), 2u);
  EXPECT_EQ(syms[1].spec(), TensorSpec({kUnknownDim, 2}, DType::kFloat32));
}

TEST(FunctionLayer, GradientsFlowThroughTheFunction) {
  std::shared_ptr<FunctionLayer> layer = Make("swish", Swish);
  const Tensor x = *Tensor::FromVector<double>(Shape({2, 2}), {-1.5, 0.25, 2, -0.5});
  auto fn = [&](absl::Span<const Value> in) { return (*layer)(in[0], true); };
  EXPECT_THAT(testing::GradCheck(fn, {x}), IsOk());
}

// ---- Output specs -----------------------------------------------------------------------------

TEST(FunctionLayer, InfersSizesThatDependOnUnknownOnes) {
  std::shared_ptr<FunctionLayer> flatten =
      Make("flatten", [](auto in, bool) { return std::vector<Value>{autodiff::Flatten(in[0])}; });
  SymbolicTensor y = (*flatten)(Input({3, 4}));
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({kUnknownDim, 12}, DType::kFloat32));

  // Concatenating along the unknown axis: 4 rows then 6, so the size is unknown; the last
  // axis is 3 both times.
  std::shared_ptr<FunctionLayer> twice = Make("twice_along_batch", [](auto in, bool) {
    return std::vector<Value>{autodiff::Concat({in[0], in[0]}, 0)};
  });
  SymbolicTensor z = (*twice)(Input({3}, DType::kFloat64));
  ASSERT_THAT(z.status(), IsOk());
  EXPECT_EQ(z.spec(), TensorSpec({kUnknownDim, 3}, DType::kFloat64));

  // Sums over the unknown axis: the result does not depend on it.
  std::shared_ptr<FunctionLayer> total = Make(
      "column_sums", [](auto in, bool) { return std::vector<Value>{autodiff::Sum(in[0], {0})}; });
  SymbolicTensor w = (*total)(Input({5}, DType::kInt32));
  ASSERT_THAT(w.status(), IsOk());
  EXPECT_EQ(w.spec(), TensorSpec({5}, DType::kInt32));
}

TEST(FunctionLayer, InferenceRunsOnZerosWithoutTapesAndIsCached) {
  std::vector<std::string> seen;  // one entry per run: shape, training and no-grad mode
  std::shared_ptr<FunctionLayer> layer = Make("spy", [&seen](auto in, bool training) {
    seen.push_back(absl::StrCat(in[0].shape().ToString(), training ? " training" : " inference",
                                autodiff::IsNoGrad() ? " no-grad" : " taped"));
    return std::vector<Value>{in[0] + 1.0};
  });
  ASSERT_THAT((*layer)(Sym({kUnknownDim, 2, kUnknownDim})).status(), IsOk());
  EXPECT_THAT(seen,
              ::testing::ElementsAre("[2, 2, 2] inference no-grad", "[3, 2, 3] inference no-grad"));
  seen.clear();
  const Value x = Value::Constant(Tensor::Ones(Shape({4, 2})));
  // A first eager call asks for the specs of the concrete input, then (building) of the input
  // with the batch unknown, then runs.
  ASSERT_THAT((*layer)(x, true).status(), IsOk());
  EXPECT_THAT(seen, ::testing::ElementsAre("[4, 2] inference no-grad", "[2, 2] inference no-grad",
                                           "[3, 2] inference no-grad", "[4, 2] training taped"));
  seen.clear();
  ASSERT_THAT((*layer)(x, true).status(), IsOk());  // same specs: the cached result
  EXPECT_THAT(seen, ::testing::ElementsAre("[4, 2] training taped"));
  seen.clear();
  ASSERT_THAT((*layer)(Sym({kUnknownDim, 2, kUnknownDim})).status(), IsOk());  // still cached
  EXPECT_TRUE(seen.empty());
}

TEST(FunctionLayer, SpecFunctionReplacesInference) {
  int runs = 0;
  FunctionLayerOptions options;
  options.output_specs =
      [](absl::Span<const TensorSpec> in) -> absl::StatusOr<std::vector<TensorSpec>> {
    if (in.size() != 1) return absl::InvalidArgumentError("one input please");
    return std::vector<TensorSpec>{in[0]};
  };
  std::shared_ptr<FunctionLayer> layer = Make(
      "counted",
      [&runs](auto in, bool) {
        ++runs;
        return std::vector<Value>{in[0] * 3.0};
      },
      options);
  SymbolicTensor y = (*layer)(Input({7}));
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({kUnknownDim, 7}, DType::kFloat32));
  EXPECT_EQ(runs, 0);
  EXPECT_THAT((*layer)({Input({7}), Input({7})}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'function_layer' (FunctionLayer): output spec "
                                       "function of 'counted' rejects"),
                             HasSubstr("one input please"))));
}

RC_GTEST_PROP(FunctionLayerProperties, InferredSpecsMatchEagerOutputs, ()) {
  const Shape shape = *testing::GenShape(4, 4, /*min_rank=*/1);
  static std::shared_ptr<FunctionLayer> layer = Make("softmax_then_flatten", [](auto in, bool) {
    return std::vector<Value>{autodiff::Flatten(autodiff::Softmax(in[0]))};
  });
  TensorSpec spec = TensorSpec::Of(Tensor::Zeros(shape));
  absl::StatusOr<std::vector<TensorSpec>> inferred =
      layer->ComputeOutputSpecs({spec.WithUnknownBatch()});
  RC_ASSERT(inferred.ok());
  const Value y =
      (*layer)(Value::Constant(*testing::GenTensor(shape, DType::kFloat32, -3, 3)), false);
  RC_ASSERT(y.ok());
  RC_ASSERT(TensorSpec::Of(y.tensor()).CompatibleWith((*inferred)[0]));
}

// ---- Errors -----------------------------------------------------------------------------------

TEST(FunctionLayer, FunctionsThatCannotBeInferredAreClearErrors) {
  std::shared_ptr<FunctionLayer> bad_matmul = Make(
      "bad_matmul",
      [](auto in, bool) { return std::vector<Value>{autodiff::MatMul(in[0], in[0])}; }, {}, "mm");
  EXPECT_THAT((*bad_matmul)(Value::Constant(Tensor::Ones(Shape({2, 3}))), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'mm' (FunctionLayer): function 'bad_matmul' failed "
                                       "on zero inputs (float32[2, 3])"),
                             HasSubstr("MatMul"))));
  std::shared_ptr<FunctionLayer> nothing =
      Make("nothing", [](auto, bool) { return std::vector<Value>(); });
  EXPECT_THAT((*nothing)(Input({2})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("returned no outputs")));
  // The rank of the output depends on the unknown size: no spec describes it.
  std::shared_ptr<FunctionLayer> shifty = Make("shifty", [](auto in, bool) {
    return std::vector<Value>{in[0].shape().dim(0) == 2 ? autodiff::Flatten(in[0])
                                                        : autodiff::ExpandDims(in[0], 0)};
  });
  EXPECT_THAT((*shifty)(Input({4})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("float32[?, 4]"), HasSubstr("output_specs"))));
  FunctionLayerOptions lying;
  lying.output_specs = [](absl::Span<const TensorSpec>) -> absl::StatusOr<std::vector<TensorSpec>> {
    return std::vector<TensorSpec>{TensorSpec({-5}, DType::kFloat32)};
  };
  EXPECT_THAT((*Make("lying", Swish, lying))(Input({4})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gives (float32[-5])")));
}

TEST(FunctionLayer, CreateAndRegisterRejectBadArguments) {
  EXPECT_THAT(
      FunctionLayer::Create("f", nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("FunctionLayer: the function")));
  EXPECT_THAT(FunctionLayer::Create("", Swish),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid function name")));
  EXPECT_THAT(FunctionLayer::Create("has space", Swish),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'has space'")));
  EXPECT_THAT(FunctionLayer::Create("f", Swish, {}, "a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid layer name 'a/b'")));
  EXPECT_THAT(RegisterLayerFunction("null_fn", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
  EXPECT_THAT(RegisterLayerFunction("bad\"name", Swish),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid function name")));
  ASSERT_THAT(RegisterLayerFunction("test.once", Swish), IsOk());
  EXPECT_THAT(RegisterLayerFunction("test.once", Swish),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'test.once'")));
}

// ---- Configs and the registry -----------------------------------------------------------------

TEST(FunctionLayer, ConfigStoresTheNameAndTheRegistryFindsTheFunction) {
  // The registered spec function accepts only rank 1, so its message shows that it is used.
  LayerSpecFunction spec_fn =
      [](absl::Span<const TensorSpec> in) -> absl::StatusOr<std::vector<TensorSpec>> {
    if (in.size() != 1 || in[0].rank() != 1) {
      return absl::InvalidArgumentError("test.swish takes one vector");
    }
    return std::vector<TensorSpec>{in[0]};
  };
  ASSERT_THAT(RegisterLayerFunction("test.swish", Swish, spec_fn), IsOk());
  std::shared_ptr<FunctionLayer> layer = Make("test.swish", Swish, {}, "act");
  absl::StatusOr<nlohmann::json> config = layer->GetConfig();
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(*config, nlohmann::json::parse(R"({"name": "act", "function": "test.swish"})"));
  absl::StatusOr<std::shared_ptr<FunctionLayer>> back = FunctionLayer::FromConfig(*config);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ((*back)->function_name(), "test.swish");
  EXPECT_EQ(*(*back)->GetConfig(), *config);
  const Value x = Value::Constant(*Tensor::FromVector<float>(Shape({2}), {0.5, -3}));
  EXPECT_THAT(Out((*(*back))(x, false)), BitwiseEquals(Out((*layer)(x, false))));
  // The registered spec function came along; the layer made without one infers instead.
  const Value matrix = Value::Constant(Tensor::Ones(Shape({2, 2})));
  EXPECT_THAT(
      (*(*back))(matrix, false).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("test.swish takes one vector")));
  EXPECT_THAT((*layer)(matrix, false).status(), IsOk());

  EXPECT_THAT(FunctionLayer::FromConfig(nlohmann::json::parse(R"({"function": "nope"})")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("FunctionLayer config: field 'function': no layer function "
                                       "is registered as 'nope'"),
                             HasSubstr("'test.swish'"))));
  EXPECT_THAT(FunctionLayer::FromConfig(nlohmann::json::parse(R"({"name": "f"})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'function': missing")));
  EXPECT_THAT(FunctionLayer::FromConfig(nlohmann::json::parse(R"({"function": 3})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected a string")));
  EXPECT_THAT(
      FunctionLayer::FromConfig(nlohmann::json::parse(R"({"function": "test.swish", "code": ""})")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown field(s) 'code'")));
}

TEST(FunctionLayer, RegistrationIsThreadSafe) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 25; ++i) {
        if (!RegisterLayerFunction(absl::StrCat("test.thread", t, ".fn", i), Swish).ok()) {
          ++failures;
        }
        (void)RegisteredLayerFunctions();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<std::string> names = RegisteredLayerFunctions();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_THAT(names, IsSupersetOf({"test.thread0.fn0", "test.thread3.fn24"}));
  EXPECT_THAT(names, Contains("test.thread2.fn13"));
}

}  // namespace
}  // namespace concord::models
