// The serialized graph form by example: the documented text, exact round trips of traced graphs
// that use every kind of attribute and constants of every dtype (NaN payloads, -0.0, subnormals),
// a property over random op programs, and the loader's refusals, each with its message.
#include "autodiff/graph_io.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "autodiff/control_flow.h"
#include "autodiff/graph.h"
#include "autodiff/interpreter.h"
#include "autodiff/ops.h"
#include "autodiff/resource.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/op_program.h"
#include "testing/op_program_values.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Padding;
using engine::Shape;
using engine::Tensor;
using ::testing::HasSubstr;

// Ramp is a deterministic tensor with distinct, non-integer values (so reductions, arg-extrema and
// max-pooling have no ties).
Tensor Ramp(const Shape& shape, DType dtype = DType::kFloat32, double scale = 0.37) {
  const int64_t n = shape.num_elements();
  absl::StatusOr<Tensor> flat = Tensor::Arange(0, static_cast<double>(n), 1.0, DType::kFloat64);
  CONCORD_CHECK(flat.ok());
  std::vector<double> v(flat->data<double>(), flat->data<double>() + n);
  for (double& x : v) x = std::sin(x * scale) * 3.0 + x * 0.01;
  absl::StatusOr<Tensor> t = Tensor::FromVector<double>(shape, v);
  CONCORD_CHECK(t.ok());
  return dtype == DType::kFloat64 ? *t : *Cast(Value::Constant(*t), dtype).ToTensor();
}

TensorSpec Spec(DType dtype, Shape shape) { return TensorSpec{dtype, std::move(shape)}; }

// Text serializes a graph that must serialize.
std::string Text(const Graph& g) {
  absl::StatusOr<std::string> text = SerializeGraph(g);
  CONCORD_CHECK_MSG(text.ok(), "SerializeGraph failed");
  return *std::move(text);
}

// ExpectRoundTrip: the text is a fixed point, the parsed graph has the same equations and
// attributes, and both graphs run to bitwise-equal outputs.
void ExpectRoundTrip(const Graph& g, const std::vector<Tensor>& inputs) {
  const std::string text = Text(g);
  absl::StatusOr<Graph> back = ParseGraph(text);
  ASSERT_THAT(back.status(), IsOk()) << text;
  EXPECT_EQ(Text(*back), text);
  EXPECT_EQ(back->ToText(), g.ToText());
  ASSERT_EQ(back->equations().size(), g.equations().size());
  for (size_t i = 0; i < g.equations().size(); ++i) {
    EXPECT_TRUE(back->equations()[i].attrs == g.equations()[i].attrs)
        << g.equations()[i].ToString();
  }
  absl::StatusOr<std::vector<Tensor>> expected = RunGraph(g, inputs);
  absl::StatusOr<std::vector<Tensor>> actual = RunGraph(*back, inputs);
  ASSERT_THAT(expected.status(), IsOk());
  ASSERT_THAT(actual.status(), IsOk());
  ASSERT_EQ(actual->size(), expected->size());
  for (size_t i = 0; i < actual->size(); ++i) {
    EXPECT_THAT((*actual)[i], BitwiseEquals((*expected)[i])) << "output " << i;
  }
}

// ---- The documented form.

Graph Affine() {
  const Value w = Value::FromStatusOr(Tensor::FromVector<float>(Shape({3}), {1, 2, 3}));
  absl::StatusOr<Graph> g =
      TraceGraph("affine", {Spec(DType::kFloat32, Shape({2, 3}))}, [&](absl::Span<const Value> in) {
        return std::vector<Value>{Sum(in[0] * w, {1}, /*keepdims=*/true)};
      });
  CONCORD_CHECK(g.ok());
  return *std::move(g);
}

constexpr char kAffineText[] =
    "concord-graph 2\n"
    "name \"affine\"\n"
    "input %0 float32[2, 3]\n"
    "constant %1 float32[3] hex:0000803f0000004000004040\n"
    "%2 = Mul(%0, %1) : float32[2, 3]\n"
    "%3 = Sum(%2) {axes=[1], keepdims} : float32[2, 1]\n"
    "return %3\n"
    "end\n";

// Edit edits `text` (the documented text by default) in one place.
std::string Edit(absl::string_view from, absl::string_view to,
                 absl::string_view text = kAffineText) {
  const std::string edited = absl::StrReplaceAll(text, {{from, to}});
  CONCORD_CHECK(edited != text);
  return edited;
}

TEST(SerializeGraph, WritesTheDocumentedFormat) {
  absl::StatusOr<std::string> text = SerializeGraph(Affine());
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_EQ(*text, kAffineText);
}

TEST(ParseGraph, ReadsTheDocumentedFormatBack) {
  absl::StatusOr<Graph> g = ParseGraph(kAffineText);
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(g->ToText(), Affine().ToText());
  EXPECT_EQ(g->name(), "affine");
  ExpectRoundTrip(*g, {Ramp(Shape({2, 3}))});
}

TEST(ParseGraph, ReadsVersion1AndWritesItBackAsTheCurrentVersion) {
  absl::StatusOr<Graph> g = ParseGraph(Edit("concord-graph 2\n", "concord-graph 1\n"));
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(g->ToText(), Affine().ToText());
  EXPECT_EQ(Text(*g), kAffineText);
}

TEST(SerializeGraph, EscapesTheName) {
  Graph g("a \"quoted\"\nname\\");
  g.AddInput(Spec(DType::kFloat32, Shape({})));
  g.SetOutputs({0});
  const std::string text = Text(g);
  EXPECT_THAT(text, HasSubstr("name \"a \\\"quoted\\\"\\nname\\\\\"\n"));
  absl::StatusOr<Graph> back = ParseGraph(text);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->name(), g.name());
}

// ---- Round trips of traced graphs, by attribute family.

TEST(GraphRoundTrip, ReductionsAndElementwiseAttributes) {
  const Shape s({2, 3, 4});
  absl::StatusOr<Graph> g =
      TraceGraph("reductions", {Spec(DType::kFloat32, s)}, [](absl::Span<const Value> in) {
        const Value& x = in[0];
        return std::vector<Value>{Sum(x, {1}, true),
                                  Max(x, {0, 2}),
                                  Min(x, {-1}, true),
                                  LogSumExp(x, {2}),
                                  Softmax(x, 1),
                                  LogSoftmax(x, 0),
                                  ArgMax(x, 2),
                                  ArgMin(x, 1),
                                  SumToShape(x, Shape({3, 1})),
                                  Gelu(x, /*approximate=*/true),
                                  Gelu(x),
                                  Cast(x, DType::kFloat64),
                                  Cast(x * 10.0, DType::kInt32),
                                  Where(Greater(x, ScalarLike(x, 0.5)), x, Exp(x))};
      });
  ASSERT_THAT(g.status(), IsOk());
  ExpectRoundTrip(*g, {Ramp(s)});
}

TEST(GraphRoundTrip, MovementAttributes) {
  const Shape s({2, 3, 4});
  const Value indices = Value::FromStatusOr(Tensor::FromVector<int64_t>(Shape({3}), {0, 3, 1}));
  absl::StatusOr<Graph> g =
      TraceGraph("movement", {Spec(DType::kFloat32, s), Spec(DType::kFloat32, Shape({4}))},
                 [&](absl::Span<const Value> in) {
                   const Value& x = in[0];
                   return std::vector<Value>{Transpose(x, {2, 0, 1}),
                                             Reshape(x, {6, -1}),
                                             BroadcastTo(in[1], Shape({2, 3, 4})),
                                             Slice(x, {0, 1, 1}, {2, 2, 3}),
                                             Pad(x, {{0, 1}, {1, 0}, {2, 2}}, 0.1),
                                             Pad(x, {{1, 1}, {0, 0}, {0, 0}}, -2.5e-300),
                                             Concat({x, x * 2.0}, 1),
                                             Gather(x, indices, 2),
                                             ScatterAdd(Gather(x, indices, 2), indices, 2, 5),
                                             OneHot(indices, 4, DType::kFloat64, 0),
                                             OneHot(indices, 5, DType::kInt32)};
                 });
  ASSERT_THAT(g.status(), IsOk());
  ExpectRoundTrip(*g, {Ramp(s), Ramp(Shape({4}), DType::kFloat32, 1.1)});
}

TEST(GraphRoundTrip, LinalgConvolutionAndPoolingAttributes) {
  const Shape image({1, 6, 5, 2});
  absl::StatusOr<Graph> g = TraceGraph(
      "linalg",
      {Spec(DType::kFloat32, Shape({3, 2})), Spec(DType::kFloat32, Shape({4, 3})),
       Spec(DType::kFloat32, image), Spec(DType::kFloat32, Shape({3, 2, 2, 3}))},
      [&](absl::Span<const Value> in) {
        return std::vector<Value>{MatMul(in[0], in[1], /*transpose_a=*/true, /*transpose_b=*/true),
                                  MatMul(in[1], in[0]),
                                  Conv2D(in[2], in[3], {2, 1}, Padding::kSame, {1, 2}),
                                  Conv2D(in[2], in[3], {1, 1}, Padding::kValid),
                                  MaxPool2D(in[2], {2, 3}, {1, 2}, Padding::kValid),
                                  AvgPool2D(in[2], {3, 3}, {2, 2}, Padding::kSame)};
      });
  ASSERT_THAT(g.status(), IsOk());
  ExpectRoundTrip(*g, {Ramp(Shape({3, 2})), Ramp(Shape({4, 3}), DType::kFloat32, 0.7), Ramp(image),
                       Ramp(Shape({3, 2, 2, 3}), DType::kFloat32, 0.9)});
}

TEST(GraphRoundTrip, GradientOpsTracedFromATape) {
  const Shape image({1, 5, 5, 2});
  absl::StatusOr<Graph> g = TraceGraph(
      "grads", {Spec(DType::kFloat32, image), Spec(DType::kFloat32, Shape({3, 3, 2, 2}))},
      [&](absl::Span<const Value> in) {
        GradientTape tape;
        tape.Watch(in[0]);
        tape.Watch(in[1]);
        const Value y = Conv2D(in[0], in[1], {2, 2}, Padding::kSame);
        const Value z = MaxPool2D(y, {2, 2}, {1, 1}, Padding::kSame) +
                        AvgPool2D(y, {2, 2}, {1, 1}, Padding::kSame);
        absl::StatusOr<std::vector<Value>> grads =
            tape.Gradient(Tanh(Relu(z - 1.0)), {in[0], in[1]});
        if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
        return *grads;
      });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT(Text(*g), HasSubstr("Conv2DBackpropInput"));
  EXPECT_THAT(Text(*g), HasSubstr("ReluGrad("));  // Relu's gradient, by name
  ExpectRoundTrip(*g, {Ramp(image), Ramp(Shape({3, 3, 2, 2}), DType::kFloat32, 0.5)});
}

// ---- Constants keep every bit.

template <typename T>
Tensor FromBits(Shape shape, std::vector<uint64_t> bits) {
  std::vector<T> v(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) std::memcpy(&v[i], &bits[i], sizeof(T));
  return *Tensor::FromVector<T>(shape, v);
}

TEST(GraphRoundTrip, ConstantsOfEveryDTypeKeepTheirBits) {
  Graph g("constants");
  g.AddInput(Spec(DType::kFloat32, Shape({6})));
  const std::vector<Tensor> constants = {
      // NaN with a payload, a negative NaN, -0.0, the smallest subnormal, -inf, 1.5.
      FromBits<float>(Shape({6}),
                      {0x7fc00123, 0xffc00000, 0x80000000, 0x00000001, 0xff800000, 0x3fc00000}),
      FromBits<double>(Shape({2, 2}), {0x7ff8000000000abcULL, 0x8000000000000000ULL,
                                       0x0000000000000001ULL, 0x7fefffffffffffffULL}),
      *Tensor::FromVector<int32_t>(Shape({4}), {std::numeric_limits<int32_t>::min(), -1, 0,
                                                std::numeric_limits<int32_t>::max()}),
      *Tensor::FromVector<int64_t>(
          Shape({2}), {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}),
      *Tensor::FromVector<bool>(Shape({3}), {true, false, true}),
      Tensor::Zeros(Shape({0, 3})),
      Tensor::Scalar<int64_t>(-7),
  };
  for (size_t k = 0; k < constants.size(); ++k)
    g.AddConstant(constants[k], /*from_variable=*/k == 1);
  Equation add;
  add.primitive = Primitive::kAdd;
  add.input_ids = {0, 1};
  add.input_specs = {g.spec(0), g.spec(1)};
  add.output_specs = {g.spec(0)};
  const int64_t sum = g.AddEquation(add);
  Equation cast;
  cast.primitive = Primitive::kCast;
  cast.attrs.dtype = DType::kFloat64;
  cast.input_ids = {5};
  cast.input_specs = {g.spec(5)};
  cast.output_specs = {Spec(DType::kFloat64, Shape({3}))};
  const int64_t casted = g.AddEquation(cast);
  std::vector<int64_t> outputs = {sum, casted};
  for (int64_t k = 0; k < g.num_constants(); ++k) outputs.push_back(g.constant_id(k));
  g.SetOutputs(outputs);
  ASSERT_THAT(g.Verify(), IsOk());

  const std::string text = Text(g);
  EXPECT_THAT(text, HasSubstr("constant %1 float32[6] hex:2301c07f0000c0ff0000008001000000"));
  EXPECT_THAT(text, HasSubstr("variable %2 float64[2, 2] hex:"));
  EXPECT_THAT(text, HasSubstr("constant %5 bool[3] hex:010001\n"));
  EXPECT_THAT(text, HasSubstr("constant %6 float32[0, 3] hex:\n"));
  absl::StatusOr<Graph> back = ParseGraph(text);
  ASSERT_THAT(back.status(), IsOk());
  ASSERT_EQ(back->num_constants(), g.num_constants());
  for (int64_t k = 0; k < g.num_constants(); ++k) {
    EXPECT_THAT(back->constants()[k].tensor, BitwiseEquals(constants[k])) << "constant " << k;
    EXPECT_EQ(back->constants()[k].from_variable, k == 1);
  }
  ExpectRoundTrip(g, {Ramp(Shape({6}))});
}

TEST(GraphRoundTrip, DoubleAttributesKeepTheirBits) {
  // OneHot's on/off as NaN, -0.0, a subnormal and 0.1: written as 0x bits or shortest decimal.
  const struct {
    double on, off;
    const char* text;
  } cases[] = {
      {std::nan("0x5"), -0.0, "on=0x7ff8000000000005, off=0x8000000000000000"},
      {0.1, 4.9406564584124654e-324, "on=0.1, off=5e-324"},
      {-std::numeric_limits<double>::infinity(), 1e300, "on=0xfff0000000000000, off=1e+300"},
  };
  for (const auto& c : cases) {
    Graph g("one_hot");
    g.AddInput(Spec(DType::kInt32, Shape({3})));
    Equation eq;
    eq.primitive = Primitive::kOneHot;
    eq.attrs.depth = 4;
    eq.attrs.axis = -1;
    eq.attrs.on = c.on;
    eq.attrs.off = c.off;
    eq.attrs.dtype = DType::kFloat64;
    eq.input_ids = {0};
    eq.input_specs = {g.spec(0)};
    eq.output_specs = {Spec(DType::kFloat64, Shape({3, 4}))};
    g.SetOutputs({g.AddEquation(eq)});
    ASSERT_THAT(g.Verify(), IsOk());
    EXPECT_THAT(Text(g), HasSubstr(c.text));
    ExpectRoundTrip(g, {*Tensor::FromVector<int32_t>(Shape({3}), {2, 0, 3})});
  }
}

// ---- Random programs.

RC_GTEST_PROP(GraphRoundTrip, ATracedRandomProgramRoundTripsToTheSameTextAndTheSameBits, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const testing::OpProgram p = *testing::GenOpProgram({.dtype = dtype, .max_steps = 8});
  std::vector<TensorSpec> specs;
  for (const Tensor& leaf : p.leaves) specs.push_back(SpecOf(leaf));
  absl::StatusOr<Graph> g = TraceGraph("program", specs, [&](absl::Span<const Value> in) {
    absl::StatusOr<std::vector<Value>> values = testing::RunOpProgramOnValues(p, in);
    if (!values.ok()) return std::vector<Value>{Value::Error(values.status())};
    return *std::move(values);
  });
  RC_ASSERT(g.ok());
  const std::string text = Text(*g);
  absl::StatusOr<Graph> back = ParseGraph(text);
  if (!back.ok()) RC_FAIL(std::string(back.status().message()) + "\n" + text);
  RC_ASSERT(Text(*back) == text);
  absl::StatusOr<std::vector<Tensor>> expected = RunGraph(*g, p.leaves);
  absl::StatusOr<std::vector<Tensor>> actual = RunGraph(*back, p.leaves);
  RC_ASSERT(expected.ok());
  RC_ASSERT(actual.ok());
  RC_ASSERT(actual->size() == expected->size());
  for (size_t i = 0; i < actual->size(); ++i) {
    RC_ASSERT(engine::BitwiseEqual((*actual)[i], (*expected)[i]));
  }
}

// ---- Unknown sizes (Note [Unknown dimensions] in engine/shape.h).

using TracedFn = std::function<std::vector<Value>(absl::Span<const Value>)>;

// ExpectLoadsWithUnknownSizes traces `fn` over `signature` and returns the graph's text, checking
// that it loads back to a graph with the same text form and the same serialized text, and that at
// each of `sizes` (one size per unknown size) the loaded graph, sized by SizeGraph, runs to the
// bits of the traced graph sized the same way and of `fn` run eagerly.
std::string ExpectLoadsWithUnknownSizes(const TracedFn& fn, const TensorSpec& signature,
                                        const std::vector<std::vector<int64_t>>& sizes) {
  absl::StatusOr<Graph> g = TraceGraph("polymorphic", {signature}, fn);
  CONCORD_CHECK_MSG(g.ok(), "the trace failed");
  const std::string text = Text(*g);
  absl::StatusOr<Graph> back = ParseGraph(text);
  if (!back.ok()) {
    ADD_FAILURE() << back.status() << "\n" << text;
    return text;
  }
  EXPECT_EQ(Text(*back), text);
  EXPECT_EQ(back->ToText(), g->ToText());
  for (const std::vector<int64_t>& size : sizes) {
    const std::string at = absl::StrCat("at sizes [", absl::StrJoin(size, ", "), "]");
    absl::StatusOr<Graph> sized = SizeGraph(*g, size);
    absl::StatusOr<Graph> loaded = SizeGraph(*back, size);
    EXPECT_THAT(sized.status(), IsOk()) << at;
    EXPECT_THAT(loaded.status(), IsOk()) << at;
    if (!sized.ok() || !loaded.ok()) continue;
    EXPECT_EQ(Text(*loaded), Text(*sized)) << at;
    const Tensor x = Ramp(sized->input_specs()[0].shape, signature.dtype);
    std::vector<Tensor> eager;
    for (const Value& v : fn({Value::Constant(x)})) eager.push_back(*v.ToTensor());
    absl::StatusOr<std::vector<Tensor>> expected = RunGraph(*sized, {x});
    absl::StatusOr<std::vector<Tensor>> actual = RunGraph(*loaded, {x});
    EXPECT_THAT(expected.status(), IsOk()) << at;
    EXPECT_THAT(actual.status(), IsOk()) << at;
    if (!expected.ok() || !actual.ok()) continue;
    EXPECT_EQ(actual->size(), eager.size()) << at;
    for (size_t i = 0; i < actual->size() && i < eager.size(); ++i) {
      EXPECT_THAT((*actual)[i], BitwiseEquals(eager[i])) << at << ", output " << i;
      EXPECT_THAT((*actual)[i], BitwiseEquals((*expected)[i])) << at << ", output " << i;
    }
  }
  return text;
}

constexpr char kUnknownText[] =
    "concord-graph 2\n"
    "name \"scale\"\n"
    "input %0 float32[?, 3]\n"
    "constant %1 float32[] hex:00000040\n"
    "%2 = Mul(%0, %1) : float32[?, 3]\n"
    "%3 = Reshape(%2) {axes=[-1]} : float32[3*?]\n"
    "return %3\n"
    "end\n";

TEST(SerializeGraph, WritesUnknownSizesAsTheTextFormDoes) {
  absl::StatusOr<Graph> g = TraceGraph(
      "scale", {Spec(DType::kFloat32, Shape::Partial({-1, 3}))},
      [](absl::Span<const Value> in) { return std::vector<Value>{Reshape(in[0] * 2.0f, {-1})}; });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(Text(*g), kUnknownText);
  absl::StatusOr<Graph> back = ParseGraph(kUnknownText);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->input_specs()[0].ToString(), "float32[?, 3]");
  EXPECT_EQ(back->ToText(), g->ToText());
}

// A training step of a small perceptron over a batch of unknown size: the loss, the hidden layer's
// mean, the flattened output (2*?) and the gradients with respect to the input and a weight.
TEST(GraphRoundTrip, AnMlpStepOverAnUnknownBatchRunsAtEverySize) {
  const Value w1 = Value::TrainableVariable(Ramp(Shape({3, 4}), DType::kFloat32, 0.7));
  const Value b1 = Value::TrainableVariable(Ramp(Shape({4}), DType::kFloat32, 1.3));
  const Value w2 = Value::Constant(Ramp(Shape({4, 2}), DType::kFloat32, 0.4));
  const TracedFn step = [&](absl::Span<const Value> in) {
    GradientTape tape;
    tape.Watch(in[0]);
    const Value h = Relu(MatMul(in[0], w1) + b1);
    const Value out = Reshape(MatMul(h, w2), {-1});
    const Value loss = Mean(Square(out), {0});
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, {in[0], w1});
    if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
    return std::vector<Value>{loss, Mean(h, {0}), out, (*grads)[0], (*grads)[1]};
  };
  const std::string text = ExpectLoadsWithUnknownSizes(
      step, Spec(DType::kFloat32, Shape::Partial({-1, 3})), {{1}, {5}, {2}, {8}});
  EXPECT_THAT(text, HasSubstr("input %0 float32[?, 3]\n"));
  EXPECT_THAT(text, HasSubstr(": float32[2*?]\n"));
}

// Two independent unknown sizes, batch (?) and length (?b): the target shapes of ReshapeTo and
// BroadcastTo, taken from a value's shape, hold both.
TEST(GraphRoundTrip, TwoIndependentUnknownSizesRunAtEveryPair) {
  const Value w = Value::TrainableVariable(Ramp(Shape({4}), DType::kFloat32, 0.9));
  const TracedFn fn = [&](absl::Span<const Value> in) {
    GradientTape tape;
    tape.Watch(in[0]);
    const Value y = Tanh(in[0] * w);
    Shape pooled_shape = y.shape();
    pooled_shape.set_dim(2, 1);
    const Value pooled = ReshapeTo(Mean(y, {2}), pooled_shape);
    const Value z = Sum(pooled * BroadcastTo(w, y.shape()), {1});
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(SumAll(z), {in[0], w});
    if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
    return std::vector<Value>{z, Transpose(y, {1, 0, 2}), (*grads)[0], (*grads)[1]};
  };
  const std::string text = ExpectLoadsWithUnknownSizes(
      fn, Spec(DType::kFloat32, Shape::Partial({-1, -2, 4})), {{1, 1}, {2, 3}, {4, 2}, {3, 5}});
  EXPECT_THAT(text, HasSubstr("input %0 float32[?, ?b, 4]\n"));
  EXPECT_THAT(text, HasSubstr("{shape=[?, ?b, 1]}"));
  EXPECT_THAT(text, HasSubstr("{shape=[?, ?b, 4]}"));
  EXPECT_THAT(text, HasSubstr(": float32[?b, ?, 4]\n"));
}

// CycleRows gives `t` with m rows along axis 0, row i being row i % n of its n rows.
Tensor CycleRows(const Tensor& t, int64_t m) {
  std::vector<int64_t> rows(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) rows[static_cast<size_t>(i)] = i % t.shape().dim(0);
  const Value index = Value::FromStatusOr(Tensor::FromVector<int64_t>(Shape({m}), rows));
  return *Gather(Value::Constant(t), index, 0).ToTensor();
}

// Random programs over a batch of unknown size: the axis 0 of the first leaf of rank >= 1, and that
// of every leaf with the same leading size, is unknown. A trace the unknown size refuses is only
// counted; a traced graph loads back to the same text, and at each size the loaded graph and the
// traced one are sized alike (or refused alike) and run to the same bits (or fail alike) on the
// same rows.
RC_GTEST_PROP(GraphRoundTrip, ARandomProgramOverAnUnknownBatchLoadsAndRunsAsTraced, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const testing::OpProgram p = *testing::GenOpProgram({.dtype = dtype, .max_steps = 8});
  const std::vector<int64_t> sizes = *rc::gen::container<std::vector<int64_t>>(
      *rc::gen::inRange<size_t>(1, 4), rc::gen::inRange<int64_t>(1, 7));
  int64_t batch = -1;
  for (const Tensor& leaf : p.leaves) {
    if (batch < 0 && leaf.shape().rank() > 0) batch = leaf.shape().dim(0);
  }
  std::vector<TensorSpec> specs;
  std::vector<bool> unknown;
  for (const Tensor& leaf : p.leaves) {
    std::vector<int64_t> dims = leaf.shape().ToVector();
    unknown.push_back(!dims.empty() && dims[0] == batch);
    if (unknown.back()) dims[0] = -1;
    specs.push_back(TensorSpec{leaf.dtype(), *Shape::Partial(dims)});
  }
  absl::StatusOr<Graph> g = TraceGraph("program", specs, [&](absl::Span<const Value> in) {
    absl::StatusOr<std::vector<Value>> values = testing::RunOpProgramOnValues(p, in);
    if (!values.ok()) return std::vector<Value>{Value::Error(values.status())};
    return *std::move(values);
  });
  RC_CLASSIFY(batch < 0, "no unknown axis");
  RC_CLASSIFY(!g.ok(), "trace refused");
  if (!g.ok()) return;
  const std::string text = Text(*g);
  absl::StatusOr<Graph> back = ParseGraph(text);
  if (!back.ok()) RC_FAIL(std::string(back.status().message()) + "\n" + text);
  RC_ASSERT(Text(*back) == text);
  bool refused = false;
  for (int64_t m : sizes) {
    absl::StatusOr<Graph> sized = SizeGraph(*g, m);
    absl::StatusOr<Graph> loaded = SizeGraph(*back, m);
    RC_ASSERT(sized.status() == loaded.status());
    refused = refused || !sized.ok();
    if (!sized.ok()) continue;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < p.leaves.size(); ++i) {
      inputs.push_back(unknown[i] ? CycleRows(p.leaves[i], m) : p.leaves[i]);
    }
    absl::StatusOr<std::vector<Tensor>> expected = RunGraph(*sized, inputs);
    absl::StatusOr<std::vector<Tensor>> actual = RunGraph(*loaded, inputs);
    RC_ASSERT(expected.status() == actual.status());
    if (!expected.ok()) continue;
    RC_ASSERT(actual->size() == expected->size());
    for (size_t i = 0; i < actual->size(); ++i) {
      RC_ASSERT(engine::BitwiseEqual((*actual)[i], (*expected)[i]));
    }
  }
  RC_CLASSIFY(refused, "a size refused");
}

TEST(ParseGraph, RejectsMalformedUnknownSizes) {
  const auto refused = [](absl::string_view token, absl::string_view message) {
    EXPECT_THAT(ParseGraph(Edit("input %0 float32[?, 3]",
                                absl::StrCat("input %0 float32[", token, ", 3]"), kUnknownText))
                    .status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("line 3: bad dimension '", token,
                                                "' in shape: ", message))))
        << token;
  };
  const absl::string_view kSpelling = "a dimension is a size (an integer) or an unknown size ?";
  refused("?e", "there are 4 unknown sizes, ?, ?b, ?c and ?d");
  refused("?a", "there are 4 unknown sizes");
  refused("?B", "there are 4 unknown sizes");
  refused("??", kSpelling);
  refused("?b?", kSpelling);
  refused("2*", kSpelling);
  refused("2*3", kSpelling);
  refused("*?", kSpelling);
  refused("x", kSpelling);
  refused("", kSpelling);
  refused("?/", kSpelling);
  const absl::string_view kDivisor =
      "the divisor must be positive and, in lowest terms, divide 5040";
  refused("?/0", kDivisor);
  refused("?/11", kDivisor);
  refused("-1*?", "the multiple -1 is out of range");
  refused("281474976710657*?", "the multiple 281474976710657 is out of range");
  // Well-formed but not in lowest terms: not canonical.
  EXPECT_THAT(ParseGraph(Edit("float32[3*?]", "float32[6*?/2]", kUnknownText)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: the line is not in canonical form")));
  // Too many elements at the stand-ins.
  EXPECT_THAT(
      ParseGraph(Edit("input %0 float32[?, 3]", "input %0 float32[?, ?b, ?c, ?d]", kUnknownText))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 3: bad shape [?, ?b, ?c, ?d]: ")));
}

TEST(ParseGraph, RejectsUnknownSizesWhereTheyCannotBe) {
  EXPECT_THAT(
      ParseGraph(Edit("constant %1 float32[]", "constant %1 float32[?]", kUnknownText)).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 4: constant %1 is float32[?]: a constant's sizes cannot be "
                         "unknown")));
  EXPECT_THAT(ParseGraph(Edit("{axes=[-1]}", "{axes=[?]}", kUnknownText)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: expected axes (an integer) at '?]")));
  EXPECT_THAT(ParseGraph(Edit("%2 = Mul(%0", "%2 = Mul(%?", kUnknownText)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 5: expected a value")));
  EXPECT_THAT(
      ParseGraph(Edit("concord-graph 2", "concord-graph ?", kUnknownText)).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1: expected the format")));
  // Version 1 holds known sizes only.
  EXPECT_THAT(ParseGraph(Edit("concord-graph 2", "concord-graph 1", kUnknownText)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3: shape [?, 3] has an unknown dimension, which format "
                                 "version 1 cannot hold")));
  EXPECT_THAT(
      ParseGraph(absl::StrReplaceAll(
                     kAffineText, {{"concord-graph 2", "concord-graph 1"},
                                   {"%3 = Sum(%2) {axes=[1], keepdims} : float32[2, 1]",
                                    "%3 = BroadcastTo(%2) {shape=[?, 2, 3]} : float32[?, 2, 3]"}}))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 6: shape [?, 2, 3] has an unknown dimension")));
}

TEST(ParseGraph, RejectsSpecsTheShapeRulesDoNotGiveOverUnknownSizes) {
  // The recorded size must be the multiple the shape rule gives, of the same unknown size.
  EXPECT_THAT(ParseGraph(Edit("float32[3*?]", "float32[2*?]", kUnknownText)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: the shape rule of Reshape gives float32[3*?] but the "
                                 "line records float32[2*?]")));
  EXPECT_THAT(
      ParseGraph(Edit("%2 = Mul(%0, %1) : float32[?, 3]", "%2 = Mul(%0, %1) : float32[?b, 3]",
                      kUnknownText))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 5: the shape rule of Mul")));
  EXPECT_THAT(
      ParseGraph(Edit("%2 = Mul(%0, %1) : float32[?, 3]", "%2 = Mul(%0, %1) : float32[5040, 3]",
                      kUnknownText))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 5: the shape rule of Mul")));
  // Two different unknown sizes do not broadcast together.
  EXPECT_THAT(
      ParseGraph("concord-graph 2\nname \"add\"\ninput %0 float32[?, 3]\n"
                 "input %1 float32[?b, 3]\n%2 = Add(%0, %1) : float32[?, 3]\nreturn %2\nend\n")
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 5: the shape rule rejects the equation: Add")));
}

TEST(SerializeGraph, RefusesControlFlowWhoseSubgraphsTheFormatCannotHold) {
  absl::StatusOr<Graph> g =
      TraceGraph("branchy", {Spec(DType::kFloat32, Shape({2}))}, [](absl::Span<const Value> in) {
        return Cond(
            Greater(SumAll(in[0]), ScalarLike(SumAll(in[0]), 0.0)),
            [](absl::Span<const Value> x) { return std::vector<Value>{x[0] * 2.0}; },
            [](absl::Span<const Value> x) { return std::vector<Value>{-x[0]}; }, {in[0]});
      });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT(SerializeGraph(*g).status(),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("Cond cannot be part of a serialized graph: format version 2 "
                                 "does not carry subgraphs")));
}

// FixedResource is a stand-in for a live variable (models::Variable in practice).
class FixedResource : public Resource {
 public:
  Value Read() const override { return Value::Constant(Tensor::Zeros(Shape({2}))); }
  absl::Status Write(const Tensor&) override { return absl::OkStatus(); }
  std::string name() const override { return "dense/kernel"; }
};

TEST(SerializeGraph, RefusesAResourceWhoseValueIsReadWhenTheGraphRuns) {
  Graph g("stateful");
  g.AddConstant(Tensor::Zeros(Shape({2})), /*from_variable=*/true,
                std::make_shared<FixedResource>());
  g.SetOutputs({0});
  ASSERT_THAT(g.Verify(), IsOk());
  EXPECT_THAT(SerializeGraph(g).status(),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("%0 reads resource 'dense/kernel' when the graph runs")));
}

// ---- Refusals. Each edits the documented text in one place.

TEST(ParseGraph, RejectsTruncatedText) {
  const std::string text = kAffineText;
  EXPECT_THAT(ParseGraph(text.substr(0, text.size() / 2)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
  EXPECT_THAT(ParseGraph(text.substr(0, text.size() - 4)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("without its 'end' line")));
  EXPECT_THAT(ParseGraph("").status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_FALSE(ParseGraph(text.substr(0, n)).ok()) << "prefix of " << n << " bytes";
  }
}

TEST(ParseGraph, RejectsAnotherVersionOrAnotherFormat) {
  EXPECT_THAT(ParseGraph(Edit("concord-graph 2", "concord-graph 3")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: unsupported format version 3; this build reads versions "
                                 "1 to 2")));
  EXPECT_THAT(ParseGraph(Edit("concord-graph 2", "concord-graph 0")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: unsupported format version 0")));
  EXPECT_THAT(ParseGraph("{\"graph\": 1}\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: not a serialized Concord graph")));
}

TEST(ParseGraph, RejectsAForwardReference) {
  EXPECT_THAT(ParseGraph(Edit("Mul(%0, %1)", "Mul(%0, %3)")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 5: input %3 of Mul is used before it is defined")));
}

TEST(ParseGraph, RejectsIdsOutOfRangeOrOutOfOrder) {
  EXPECT_THAT(ParseGraph(Edit("return %3", "return %9")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 7: output %9 is out of range: the graph defines 4 values")));
  EXPECT_THAT(ParseGraph(Edit("return %3", "return %99999999999999999999")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit in int64")));
  EXPECT_THAT(ParseGraph(Edit("input %0", "input %1")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3: input %1 should be %0: ids are dense")));
  EXPECT_THAT(ParseGraph(Edit("%3 = Sum", "%4 = Sum")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("should be %3")));
}

TEST(ParseGraph, RejectsAnOutputSpecTheShapeRuleDisagreesWith) {
  EXPECT_THAT(ParseGraph(Edit(": float32[2, 1]", ": float32[2]")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: the shape rule of Sum gives float32[2, 1] but the line "
                                 "records float32[2]")));
  EXPECT_THAT(ParseGraph(Edit("{axes=[1], keepdims}", "{axes=[3], keepdims}")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: the shape rule rejects the equation: Sum")));
}

TEST(ParseGraph, RejectsConstantDataOfTheWrongLengthOrDigits) {
  EXPECT_THAT(ParseGraph(Edit("hex:0000803f", "hex:00803f")).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("line 4: constant %1 float32[3] needs 24 hex digits of data, "
                                 "got 22")));
  EXPECT_THAT(ParseGraph(Edit("hex:0000803f", "hex:0000803F")).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is not a lowercase hex digit")));
  EXPECT_THAT(ParseGraph("concord-graph 1\nname \"b\"\nconstant %0 bool[2] hex:0102\nreturn\nend\n")
                  .status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bool element 1 is byte 2")));
}

TEST(ParseGraph, RejectsUnknownNamesAndBadShapes) {
  EXPECT_THAT(ParseGraph(Edit("Mul(", "Mull(")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown primitive 'Mull'")));
  EXPECT_THAT(ParseGraph(Edit("%2 = Mul", "%2 = Custom")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Custom")));
  EXPECT_THAT(ParseGraph(Edit("%2 = Mul", "%2 = AssignResource")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AssignResource cannot")));
  EXPECT_THAT(ParseGraph(Edit("%2 = Mul", "%2 = Cond")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 5: Cond cannot be part of a serialized graph")));
  EXPECT_THAT(ParseGraph(Edit("input %0 float32", "input %0 float16")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown dtype 'float16'")));
  EXPECT_THAT(
      ParseGraph(Edit("keepdims}", "keepdims, colour=1}")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown attribute 'colour'")));
  EXPECT_THAT(ParseGraph(Edit("input %0 float32[2, 3]", "input %0 float32[2, -3]")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad shape [2, -3]")));
  EXPECT_THAT(
      ParseGraph(Edit("input %0 float32[2, 3]", "input %0 float32[65536, 65536, 65536, 65536]"))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("bad shape [65536, 65536, 65536, 65536]")));
  EXPECT_THAT(
      ParseGraph(Edit("input %0 float32[2, 3]", "input %0 float32[1, 1, 1, 1, 1, 1, 1]")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has rank 7")));
}

TEST(ParseGraph, RejectsTextThatIsNotCanonical) {
  EXPECT_THAT(ParseGraph(Edit("{axes=[1], keepdims}", "{keepdims, axes=[1]}")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("attribute 'axes' is repeated or out of order")));
  EXPECT_THAT(ParseGraph(Edit("{axes=[1], keepdims}", "{axes=[01], keepdims}")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not in canonical form; expected '%3 = Sum(%2) {axes=[1]")));
  EXPECT_THAT(ParseGraph(Edit("{axes=[1], keepdims}", "{axes=[1], axis=0, keepdims}")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not in canonical form")));
  EXPECT_THAT(ParseGraph(Edit("float32[2, 3]\n", "float32[2,3]\n")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected ', '")));
  EXPECT_THAT(ParseGraph(Edit("return %3\n", "return %3 \n")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 7")));
}

TEST(ParseGraph, RejectsMisplacedAndTrailingLines) {
  EXPECT_THAT(ParseGraph(std::string(kAffineText) + "x").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 9: text after 'end'")));
  EXPECT_THAT(ParseGraph(std::string(kAffineText) + "end\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("text after 'end'")));
  EXPECT_THAT(ParseGraph(Edit("return %3\n", "")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'end' before the 'return'")));
  EXPECT_THAT(
      ParseGraph(
          Edit("input %0 float32[2, 3]\nconstant %1 float32[3] hex:0000803f0000004000004040\n",
               "constant %0 float32[3] hex:0000803f0000004000004040\n"
               "input %1 float32[2, 3]\n"))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 4: inputs come before constants and equations")));
  EXPECT_THAT(ParseGraph(Edit("return %3\n", "return %3\nname \"again\"\n")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 'end'")));
  EXPECT_THAT(
      ParseGraph(Edit("name \"affine\"\n", "")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2: expected the name line")));
}

TEST(ParseGraph, RejectsWrongArity) {
  EXPECT_THAT(ParseGraph(Edit("Mul(%0, %1)", "Mul(%0)")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Mul takes 2 inputs, got 1")));
}

}  // namespace
}  // namespace concord::autodiff
