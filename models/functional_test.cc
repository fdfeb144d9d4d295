// Functional and Sequential: construction checks, naming, sharing, nesting, configs. Uses the
// small layers of models/test_layers.h so that it pins the graph machinery itself.
#include "models/functional.h"

#include <memory>
#include <vector>

#include "autodiff/ops.h"
#include "engine/status.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/layer_registry.h"
#include "models/test_layers.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Paths;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Value Iota(Shape shape) {
  std::vector<float> values(shape.num_elements());
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 1.0f;
  return Value::Constant(*Tensor::FromVector<float>(shape, values));
}

void RegisterTestLayers() {
  static bool done = [] {
    CONCORD_CHECK(RegisterLayerClass(
                      "Scale",
                      [](const nlohmann::json& config) -> absl::StatusOr<std::shared_ptr<Layer>> {
                        CONCORD_ASSIGN_OR_RETURN(auto layer, Scale::FromConfig(config));
                        return std::shared_ptr<Layer>(layer);
                      })
                      .ok());
    CONCORD_CHECK(RegisterLayerClass(
                      "Pair",
                      [](const nlohmann::json& config) -> absl::StatusOr<std::shared_ptr<Layer>> {
                        CONCORD_ASSIGN_OR_RETURN(auto layer, Pair::FromConfig(config));
                        return std::shared_ptr<Layer>(layer);
                      })
                      .ok());
    return true;
  }();
  (void)done;
}

TEST(FunctionalTest, UnnamedLayersAreNamedInOrderAndSharedLayersHaveOneVariable) {
  SymbolicTensor x = Input({3});
  auto a = *Scale::Create();
  auto b = *Scale::Create();
  auto named = *Scale::Create("scale_1");  // taken explicitly: the generator skips it
  SymbolicTensor y = (*a)((*named)((*b)((*a)(x))));
  auto model = Functional::Create({x}, {y}, "m");
  ASSERT_THAT(model.status(), IsOk());
  EXPECT_EQ(a->name(), "scale");
  EXPECT_EQ(b->name(), "scale_2");
  ASSERT_THAT((*model)->Build(), IsOk());
  EXPECT_THAT(Paths((*model)->variables()), ElementsAre("scale/w", "scale_2/w", "scale_1/w"));
  Value out = (**model)(Iota(Shape({2, 3})), false);
  ASSERT_THAT(out.status(), IsOk());
  Value w_a = a->variables()[0].value(), w_b = b->variables()[0].value();
  Value w_n = named->variables()[0].value();
  Value expected = Iota(Shape({2, 3})) * w_a * w_b * w_n * w_a;
  EXPECT_THAT(out.tensor(), BitwiseEquals(expected.tensor()));
}

TEST(FunctionalTest, CreateRejectsBadGraphsWithClearErrors) {
  SymbolicTensor x = Input({3}, DType::kFloat32, "x");
  SymbolicTensor z = Input({3}, DType::kFloat32, "z");
  auto s = *Scale::Create();
  SymbolicTensor y = (*s)(x);
  EXPECT_THAT(Functional::Create({z}, {y}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output 0 depends on Input 'x' float32[?, 3], which is not one "
                                 "of the model's inputs")));
  EXPECT_THAT(Functional::Create({x, z}, {y}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("input 1 (Input 'z' float32[?, 3]) is not used by any output")));
  EXPECT_THAT(Functional::Create({y}, {y}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an Input")));
  EXPECT_THAT(Functional::Create({x, x}, {y}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
  // A shape error at a symbolic call travels to Create.
  auto pair = *Pair::Create();
  SymbolicTensor bad = (*pair)({x, Input({4})});
  EXPECT_THAT(Functional::Create({x}, {bad}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 'pair' (Pair): expected two inputs of the same spec")));
  // Two different layers with one name.
  auto one = *Scale::Create("dup");
  auto two = *Scale::Create("dup");
  EXPECT_THAT(Functional::Create({x}, {(*two)((*one)(x))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("two different layers are named 'dup'")));
}

TEST(FunctionalTest, NestedModelsGetPathsBelowTheirNameAndBuildInNodeOrder) {
  SymbolicTensor bx = Input({3});
  auto inner_a = *Scale::Create("a");
  auto inner_b = *Scale::Create("b");
  auto block = *Functional::Create({bx}, {(*inner_b)((*inner_a)(bx))}, "block1");
  SymbolicTensor x = Input({3});
  auto head = *Scale::Create("head");
  auto model = Functional::Create({x}, {(*block)((*head)(x))}, "outer");
  ASSERT_THAT(model.status(), IsOk());
  ASSERT_THAT((*model)->set_seed(11), IsOk());
  ASSERT_THAT((**model)(Iota(Shape({4, 3})), true).status(), IsOk());
  EXPECT_THAT(Paths((*model)->variables()), ElementsAre("head/w", "block1/a/w", "block1/b/w"));
  EXPECT_THAT((*model)->variables()[1].tensor(),
              BitwiseEquals(*Initialize(Scale::kInitializer(), 11, "block1/a/w", Shape({3}),
                                        DType::kFloat32)));
  // A built model cannot be nested any more.
  SymbolicTensor x2 = Input({3});
  SymbolicTensor again = (*block)(x2);
  EXPECT_THAT(Functional::Create({x2}, {again}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already")));
}

TEST(FunctionalTest, ACallWithTheWrongInputNamesTheModelAndBothSpecs) {
  SymbolicTensor x = Input({3}, DType::kFloat32, "features");
  auto model = *Functional::Create({x}, {(**Scale::Create())(x)}, "m");
  EXPECT_THAT((*model)(Iota(Shape({2, 4})), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model 'm' (Functional): input 0 ('features'): expected "
                                 "float32[?, 3], got float32[2, 4]")));
}

TEST(FunctionalTest, SeveralInputsAndOutputs) {
  SymbolicTensor a = Input({2}), b = Input({2});
  auto pair = *Pair::Create();
  auto split = *Split2::Create();
  std::vector<SymbolicTensor> parts = split->CallMulti({(*pair)({a, b})});
  ASSERT_EQ(parts.size(), 2u);
  auto model = *Functional::Create({a, b}, {parts[1], parts[0]}, "m");
  std::vector<Value> out = model->CallMulti({Iota(Shape({1, 2})), Iota(Shape({1, 2}))}, false);
  ASSERT_EQ(out.size(), 2u);
  Value sum = Iota(Shape({1, 2})) + Iota(Shape({1, 2}));
  EXPECT_THAT(out[1].tensor(), BitwiseEquals(sum.tensor()));
  EXPECT_THAT(out[0].tensor(), BitwiseEquals((sum * 2.0).tensor()));
  std::string dot = model->ToDot();
  EXPECT_THAT(dot, HasSubstr("\"input:input_0\" -> \"pair\""));
  EXPECT_THAT(dot, HasSubstr("\"split2\" -> \"output:1\""));
}

TEST(FunctionalTest, ConfigRoundTripRebuildsTheSameModel) {
  RegisterTestLayers();
  SymbolicTensor bx = Input({3});
  auto block = *Functional::Create({bx}, {(**Scale::Create("inner"))(bx)}, "block1");
  SymbolicTensor x = Input({3}, DType::kFloat32, "x");
  auto shared = *Scale::Create("shared");
  auto pair = *Pair::Create();
  SymbolicTensor y = (*pair)({(*shared)(x), (*block)((*shared)(x))});
  auto model = *Functional::Create({x}, {y}, "m");
  ASSERT_THAT(model->set_seed(5), IsOk());
  absl::StatusOr<std::string> json = ModelToJson(*model);
  ASSERT_THAT(json.status(), IsOk());
  absl::StatusOr<std::shared_ptr<Model>> copy = ModelFromJson(*json);
  ASSERT_THAT(copy.status(), IsOk());
  EXPECT_EQ(*ModelToJson(**copy), *json);
  Value in = Iota(Shape({2, 3}));
  Value y1 = (*model)(in, false);
  Value y2 = (**copy)(in, false);
  ASSERT_THAT(y1.status(), IsOk());
  EXPECT_THAT(y2.tensor(), BitwiseEquals(y1.tensor()));
  EXPECT_EQ(Paths((*copy)->variables()), Paths(model->variables()));
}

TEST(FunctionalTest, ConfigReadersRejectMalformedConfigs) {
  RegisterTestLayers();
  EXPECT_THAT(ModelFromJson("{").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(ModelFromJson(R"({"class_name": "Nope", "config": {}})").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown layer class 'Nope'; known classes: ")));
  EXPECT_THAT(ModelFromJson(R"({"class_name": "Scale", "config": {}})").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a model")));
  const char* forward = R"({"class_name": "Functional", "config": {"name": "m",
      "inputs": [{"name": "x", "spec": {"shape": [null, 3], "dtype": "float32"}}],
      "layers": [{"class_name": "Scale", "config": {"name": "s"}}],
      "nodes": [{"layer": "s", "inputs": [{"node": 0, "output": 0}]}],
      "outputs": [{"node": 0, "output": 0}]}})";
  EXPECT_THAT(ModelFromJson(forward).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nodes[0].inputs[0]: node 0 is not an earlier node")));
  const char* typo = R"({"class_name": "Functional", "config": {"name": "m", "inptus": []}})";
  EXPECT_THAT(ModelFromJson(typo).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'inputs': missing")));
  const char* bad_spec = R"({"class_name": "Sequential", "config": {"name": "m",
      "input": {"name": "x", "spec": {"shape": [null, -3], "dtype": "float32"}},
      "layers": [{"class_name": "Scale", "config": {"name": "s"}}]}})";
  EXPECT_THAT(ModelFromJson(bad_spec).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Sequential config: input")));
  const char* unused = R"({"class_name": "Functional", "config": {"name": "m",
      "inputs": [{"name": "x", "spec": {"shape": [null, 3], "dtype": "float32"}}],
      "layers": [{"class_name": "Scale", "config": {"name": "s"}},
                 {"class_name": "Scale", "config": {"name": "t"}}],
      "nodes": [{"layer": "s", "inputs": [{"input": 0}]}],
      "outputs": [{"node": 0, "output": 0}]}})";
  EXPECT_THAT(ModelFromJson(unused).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'t' is listed but")));
  // Deep nesting is bounded, not a stack overflow.
  std::string deep = R"({"class_name": "Sequential", "config": {"name": "m", "input": {"spec":
      {"shape": [null, 3], "dtype": "float32"}}, "layers": [)";
  std::string tail = "]}}";
  std::string text;
  for (int i = 0; i < 40; ++i) text += deep;
  text += R"({"class_name": "Scale", "config": {}})";
  for (int i = 0; i < 40; ++i) text += tail;
  EXPECT_THAT(ModelFromJson(text).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 32 deep")));
}

TEST(SequentialTest, ChainsLayersAndRoundTrips) {
  RegisterTestLayers();
  auto model = Sequential::Create(Input({3}), {*Scale::Create("a"), *Scale::Create("b")}, "seq");
  ASSERT_THAT(model.status(), IsOk());
  EXPECT_EQ((*model)->class_name(), "Sequential");
  ASSERT_THAT((*model)->Build(), IsOk());
  EXPECT_THAT(Paths((*model)->variables()), ElementsAre("a/w", "b/w"));
  auto copy = ModelFromJson(*ModelToJson(**model));
  ASSERT_THAT(copy.status(), IsOk());
  EXPECT_EQ((*copy)->class_name(), "Sequential");
  Value x = Iota(Shape({2, 3}));
  EXPECT_THAT((**copy)(x, false).tensor(), BitwiseEquals((**model)(x, false).tensor()));
  EXPECT_THAT(Sequential::Create(Input({3}), {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs a layer")));
  EXPECT_THAT(Sequential::Create(Input({3}), {*Split2::Create()}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gives 2 outputs")));
}

}  // namespace
}  // namespace concord::models
