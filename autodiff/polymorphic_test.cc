// Shape-polymorphic traces (Note [Shape-polymorphic traces] in function.h): an input signature
// with unknown sizes traces once, every size gives the eager bits, and traced code that depends on
// the unknown size in a way one graph cannot hold fails with a status instead of a wrong number.
#include <functional>
#include <string>
#include <vector>

#include "autodiff/control_flow.h"
#include "autodiff/function.h"
#include "autodiff/graph_io.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

TensorSpec Partial(std::initializer_list<int64_t> dims, DType dtype = DType::kFloat32) {
  return TensorSpec{dtype, Shape::Partial(dims)};
}

Tensor Random(Shape shape, uint64_t seed) {
  // A deterministic spread of float32 values with both signs (unit tests need no generator).
  Tensor t = Tensor::Zeros(shape, DType::kFloat32);
  float* data = t.mutable_data<float>();
  uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < shape.num_elements(); ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    data[i] = static_cast<float>(4.0 * static_cast<double>(state >> 11) / 9007199254740992.0 - 2.0);
  }
  return t;
}

// A training step of a two-layer perceptron with a mean squared error: the loss and the
// gradients of the four weights, computed under a tape inside the function.
struct Mlp {
  Value w1 = Value::TrainableVariable(Random(Shape({6, 5}), 1));
  Value b1 = Value::TrainableVariable(Random(Shape({5}), 2));
  Value w2 = Value::TrainableVariable(Random(Shape({5, 3}), 3));
  Value b2 = Value::TrainableVariable(Random(Shape({3}), 4));

  std::vector<Value> Step(const Value& x, const Value& y) const {
    GradientTape tape;
    const Value h = Relu(MatMul(x, w1) + b1);
    const Value out = MatMul(h, w2) + b2;
    const Value loss = MeanAll(Square(out - y)) + Mean(Sum(h, {1}), {0});
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, {w1, b1, w2, b2});
    if (!grads.ok()) return {Value::Error(grads.status())};
    std::vector<Value> result = {loss};
    result.insert(result.end(), grads->begin(), grads->end());
    return result;
  }
};

std::vector<Tensor> Tensors(const std::vector<Value>& values) {
  std::vector<Tensor> out;
  for (const Value& v : values) out.push_back(v.ToTensor().value());
  return out;
}

TEST(PolymorphicFunction, TracesOnceAndEverySizeGivesTheEagerBits) {
  const Mlp mlp;
  Function step([&](const FunctionArgs& a) { return mlp.Step(a.inputs[0], a.inputs[1]); },
                {.name = "mlp_step",
                 .input_signature = std::vector<TensorSpec>{Partial({-1, 6}), Partial({-1, 3})}});
  int calls = 0;
  for (int64_t batch : {8, 3, 1, 8, 13}) {
    const Value x = Value::Constant(Random(Shape({batch, 6}), 10 + batch));
    const Value y = Value::Constant(Random(Shape({batch, 3}), 20 + batch));
    absl::StatusOr<std::vector<Value>> traced = step({x, y});
    ASSERT_THAT(traced.status(), IsOk()) << "batch " << batch;
    ++calls;
    const std::vector<Tensor> eager = Tensors(mlp.Step(x, y));
    const std::vector<Tensor> got = Tensors(*traced);
    ASSERT_EQ(got.size(), eager.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_THAT(got[i], BitwiseEquals(eager[i])) << "batch " << batch << ", output " << i;
    }
  }
  EXPECT_EQ(step.trace_count(), 1);
  EXPECT_EQ(step.sized_graph_count(), 4);  // 8, 3, 1, 13
  EXPECT_EQ(step.traced_signatures()[0].inputs[0].ToString(), "float32[?, 6]");
}

TEST(PolymorphicFunction, UnderAnOuterTapeTheReplayIsDifferentiable) {
  const Value w = Value::Constant(Random(Shape({4, 2}), 5));
  const auto fn = [&](const Value& x) { return Tanh(MatMul(x, w)) * 3.0; };
  Function f([&](const FunctionArgs& a) { return std::vector<Value>{fn(a.inputs[0])}; },
             {.name = "layer", .input_signature = std::vector<TensorSpec>{Partial({-1, 4})}});
  for (int64_t batch : {2, 5}) {
    const Value x = Value::Constant(Random(Shape({batch, 4}), 30 + batch));
    GradientTape traced_tape;
    traced_tape.Watch(x);
    absl::StatusOr<std::vector<Value>> y = f({x});
    ASSERT_THAT(y.status(), IsOk());
    absl::StatusOr<std::vector<Value>> traced = traced_tape.Gradient(SumAll((*y)[0]), {x});
    ASSERT_THAT(traced.status(), IsOk());
    GradientTape eager_tape;
    eager_tape.Watch(x);
    absl::StatusOr<std::vector<Value>> eager = eager_tape.Gradient(SumAll(fn(x)), {x});
    ASSERT_THAT(eager.status(), IsOk());
    EXPECT_THAT((*traced)[0].ToTensor().value(), BitwiseEquals((*eager)[0].ToTensor().value()));
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(PolymorphicFunction, ReadingTheUnknownSizeOnTheHostFailsTheTrace) {
  // The size-dependent C++ branch a graph for every size cannot hold.
  Function f(
      [](const FunctionArgs& a) {
        const Value& x = a.inputs[0];
        if (x.shape().dim(0) < 16) return std::vector<Value>{x * 2.0};
        return std::vector<Value>{x * 3.0};
      },
      {.name = "branchy", .input_signature = std::vector<TensorSpec>{Partial({-1, 2})}});
  const Value x = Value::Constant(Random(Shape({4, 2}), 7));
  EXPECT_THAT(f({x}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("branchy"), HasSubstr("dimension 0 of [?, 2]"),
                             HasSubstr("Shape::dim"), HasSubstr("before the first op"),
                             HasSubstr("Reshape with -1"))));
  // Sizes computed on the host and given to an op are reads too, named after the last op.
  Function g(
      [](const FunctionArgs& a) {
        const Value y = Relu(a.inputs[0]);
        return std::vector<Value>{Reshape(y, {y.shape().num_elements()})};
      },
      {.name = "flat", .input_signature = std::vector<TensorSpec>{Partial({-1, 2})}});
  EXPECT_THAT(g({x}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("Shape::num_elements"), HasSubstr("after op 1 (Relu)"))));
  // The same written with -1 traces once.
  Function h([](const FunctionArgs& a) { return std::vector<Value>{Reshape(Relu(a.inputs[0]), {-1})}; },
             {.name = "flat", .input_signature = std::vector<TensorSpec>{Partial({-1, 2})}});
  absl::StatusOr<std::vector<Value>> flat = h({x});
  ASSERT_THAT(flat.status(), IsOk());
  EXPECT_THAT((*flat)[0].ToTensor().value(), BitwiseEquals(Reshape(Relu(x), {8}).ToTensor().value()));
}

TEST(PolymorphicFunction, SizesThatDoNotFollowTheUnknownSizeAreRefused) {
  // U + 2 cannot be written as a multiple of the unknown size: refused at trace time.
  Function pad([](const FunctionArgs& a) { return std::vector<Value>{Pad(a.inputs[0], {{1, 1}})}; },
               {.name = "pad", .input_signature = std::vector<TensorSpec>{Partial({-1})}});
  EXPECT_THAT(pad({Value::Constant(Random(Shape({3}), 1))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Pad"), HasSubstr("must be a multiple of one unknown size"))));
  // A 2x2 pool halves the unknown size; at an odd size floor(U / 2) is not U / 2, so that size is
  // refused (eager would run it) rather than run with shapes the trace did not see.
  Function pool(
      [](const FunctionArgs& a) {
        return std::vector<Value>{MaxPool2D(a.inputs[0], {2, 2}, {2, 2}, engine::Padding::kValid)};
      },
      {.name = "pool", .input_signature = std::vector<TensorSpec>{Partial({1, -1, 4, 1})}});
  const Value even = Value::Constant(Random(Shape({1, 6, 4, 1}), 2));
  absl::StatusOr<std::vector<Value>> pooled = pool({even});
  ASSERT_THAT(pooled.status(), IsOk());
  EXPECT_THAT((*pooled)[0].ToTensor().value(),
              BitwiseEquals(MaxPool2D(even, {2, 2}, {2, 2}, engine::Padding::kValid).ToTensor().value()));
  EXPECT_THAT(pool({Value::Constant(Random(Shape({1, 5, 4, 1}), 3))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("at unknown size 5"), HasSubstr("float32[1, 2, 2, 1]"),
                             HasSubstr("the trace saw float32[1, ?/2, 2, 1]"))));
}

// A [1, C] operand broadcast against [?, C]: its gradient is summed over the batch without
// comparing the unknown size with 1 (which would be a read), and at batch 1 the sum is a copy.
TEST(PolymorphicFunction, AGradientSummedBackToASizeOneAxisNeedsNoRead) {
  const Value gamma = Value::TrainableVariable(Random(Shape({1, 3}), 8));
  const auto step = [&](const Value& x) {
    GradientTape tape;
    const Value y = SumAll(Tanh(x * gamma));
    absl::StatusOr<std::vector<Value>> g = tape.Gradient(y, {gamma});
    return g.ok() ? (*g)[0] : Value::Error(g.status());
  };
  Function f([&](const FunctionArgs& a) { return std::vector<Value>{step(a.inputs[0])}; },
             {.name = "scale", .input_signature = std::vector<TensorSpec>{Partial({-1, 3})}});
  for (int64_t batch : {1, 4}) {
    const Value x = Value::Constant(Random(Shape({batch, 3}), 50 + batch));
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk());
    EXPECT_THAT((*traced)[0].ToTensor().value(), BitwiseEquals(step(x).ToTensor().value()));
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(PolymorphicFunction, NestsInsideAnotherPolymorphicTrace) {
  Function inner([](const FunctionArgs& a) { return std::vector<Value>{Softmax(a.inputs[0], 1)}; },
                 {.name = "inner", .input_signature = std::vector<TensorSpec>{Partial({-1, 3})}});
  Function outer(
      [&](const FunctionArgs& a) {
        absl::StatusOr<std::vector<Value>> y = inner({a.inputs[0] * 2.0});
        if (!y.ok()) return std::vector<Value>{Value::Error(y.status())};
        return std::vector<Value>{Mean((*y)[0], {0})};
      },
      {.name = "outer", .input_signature = std::vector<TensorSpec>{Partial({-1, 3})}});
  for (int64_t batch : {2, 6}) {
    const Value x = Value::Constant(Random(Shape({batch, 3}), 40 + batch));
    absl::StatusOr<std::vector<Value>> y = outer({x});
    ASSERT_THAT(y.status(), IsOk());
    EXPECT_THAT((*y)[0].ToTensor().value(),
                BitwiseEquals(Mean(Softmax(x * 2.0, 1), {0}).ToTensor().value()));
  }
  EXPECT_EQ(outer.trace_count(), 1);
  EXPECT_EQ(inner.trace_count(), 1);
}

// Cond and WhileLoop over a value with an unknown batch: their branches are traced over the same
// unknown size and sized with the graph; values and gradients are eager's at every size.
TEST(PolymorphicFunction, ControlFlowRunsAtEverySize) {
  const Value w = Value::Constant(Random(Shape({2}), 3));
  const auto fn = [&](const Value& x) {
    const Value branched =
        Cond(Greater(SumAll(x), ScalarLike(x, 0.0)),
             [&](absl::Span<const Value> in) { return std::vector<Value>{Tanh(in[0] * w)}; },
             [](absl::Span<const Value> in) { return std::vector<Value>{in[0] * -0.5}; }, {x})[0];
    return WhileLoop(
        [](absl::Span<const Value> v) { return Greater(SumAll(Abs(v[0])), ScalarLike(v[0], 1.0)); },
        [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * 0.5}; }, {branched})[0];
  };
  const auto step = [&](const Value& x) -> std::vector<Value> {
    GradientTape tape;
    tape.Watch(x);
    const Value y = fn(x);
    absl::StatusOr<std::vector<Value>> g = tape.Gradient(SumAll(y * y), {x});
    if (!g.ok()) return {Value::Error(g.status())};
    return {y, (*g)[0]};
  };
  Function f([&](const FunctionArgs& a) { return step(a.inputs[0]); },
             {.name = "branch", .input_signature = std::vector<TensorSpec>{Partial({-1, 2})}});
  int then_taken = 0, else_taken = 0;
  for (int64_t batch : {3, 1, 6}) {
    for (uint64_t seed : {1, 2}) {
      const Value x = Value::Constant(Random(Shape({batch, 2}), 60 + seed * batch));
      (SumAll(x).ToTensor().value().ElementAsDouble(0) > 0 ? then_taken : else_taken) += 1;
      absl::StatusOr<std::vector<Value>> traced = f({x});
      ASSERT_THAT(traced.status(), IsOk()) << "batch " << batch;
      const std::vector<Tensor> eager = Tensors(step(x));
      const std::vector<Tensor> got = Tensors(*traced);
      for (size_t i = 0; i < eager.size(); ++i) {
        EXPECT_THAT(got[i], BitwiseEquals(eager[i])) << "batch " << batch << ", output " << i;
      }
    }
  }
  EXPECT_GT(then_taken, 0);
  EXPECT_GT(else_taken, 0);
  EXPECT_EQ(f.trace_count(), 1);
}

// Two independent unknown sizes, batch (?) and sequence length (?b): token embeddings summed over
// the sequence and averaged over the batch, with the table's gradient.
TEST(PolymorphicFunction, IndependentUnknownSizesShareOneTrace) {
  const Value table = Value::TrainableVariable(Random(Shape({7, 4}), 9));
  const auto step = [&](const Value& ids) -> std::vector<Value> {
    GradientTape tape;
    const Value pooled = Mean(Tanh(Sum(Gather(table, ids, 0), {1})), {0});
    const Value loss = SumAll(pooled * pooled) + MeanAll(Gather(table, ids, 0));
    absl::StatusOr<std::vector<Value>> g = tape.Gradient(loss, {table});
    if (!g.ok()) return {Value::Error(g.status())};
    return {loss, (*g)[0]};
  };
  Function f([&](const FunctionArgs& a) { return step(a.inputs[0]); },
             {.name = "embed", .input_signature = std::vector<TensorSpec>{
                                   Partial({-1, -2}, DType::kInt64)}});
  const std::vector<std::pair<int64_t, int64_t>> calls = {{2, 5}, {3, 1}, {2, 5}, {4, 4}};
  for (const auto& [batch, length] : calls) {
    Tensor ids = Tensor::Zeros(Shape({batch, length}), DType::kInt64);
    for (int64_t i = 0; i < batch * length; ++i) ids.mutable_data<int64_t>()[i] = (i * 5 + batch) % 7;
    const Value x = Value::Constant(ids);
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk()) << batch << " x " << length;
    const std::vector<Tensor> eager = Tensors(step(x));
    const std::vector<Tensor> got = Tensors(*traced);
    for (size_t i = 0; i < eager.size(); ++i) {
      EXPECT_THAT(got[i], BitwiseEquals(eager[i])) << batch << " x " << length << ", output " << i;
    }
  }
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f.sized_graph_count(), 3);
  EXPECT_EQ(f.traced_signatures()[0].inputs[0].ToString(), "int64[?, ?b]");
}

TEST(PolymorphicFunction, DifferentUnknownSizesDoNotMix) {
  // Adding a [?, 3] to a [?b, 3] holds only when the sizes happen to agree: refused.
  Function add([](const FunctionArgs& a) { return std::vector<Value>{a.inputs[0] + a.inputs[1]}; },
               {.name = "add", .input_signature =
                                   std::vector<TensorSpec>{Partial({-1, 3}), Partial({-2, 3})}});
  const Value x = Value::Constant(Random(Shape({2, 3}), 1));
  EXPECT_THAT(add({x, x}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Add: cannot broadcast"), HasSubstr("standing in as 10080"))));
  // Flattening [?, ?b] gives ? * ?b, which is not a multiple of one unknown size.
  Function flat([](const FunctionArgs& a) { return std::vector<Value>{Reshape(a.inputs[0], {-1})}; },
                {.name = "flat", .input_signature = std::vector<TensorSpec>{Partial({-1, -2})}});
  EXPECT_THAT(flat({x}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Reshape"), HasSubstr("multiple of one unknown size"))));
}

TEST(PolymorphicFunction, CallsMustFitTheSignature) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{a.inputs[0] + a.inputs[1]}; },
             {.name = "add", .input_signature =
                                 std::vector<TensorSpec>{Partial({-1, 2}), Partial({-1, 2})}});
  const Value a4 = Value::Constant(Random(Shape({4, 2}), 1));
  const Value b3 = Value::Constant(Random(Shape({3, 2}), 2));
  EXPECT_THAT(f({a4, b3}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("input 1 is float32[3, 2]"), HasSubstr("float32[?, 2]"),
                             HasSubstr("input 0 axis 0 gives as 4"))));
  EXPECT_THAT(f({Value::Constant(Tensor::Zeros(Shape({0, 2}))), Value::Constant(Tensor::Zeros(Shape({0, 2})))})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 1")));
  EXPECT_THAT(f({Value::Constant(Random(Shape({4, 3}), 1)), a4}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input 0 is float32[4, 3]")));
  EXPECT_EQ(f.trace_count(), 0);
}

TEST(PolymorphicFunction, AGraphWithUnknownSizesSerializesWithThemAndLoadsBack) {
  absl::StatusOr<Graph> g = TraceGraph("g", {Partial({-1, 3})}, [](absl::Span<const Value> in) {
    return std::vector<Value>{Sum(in[0] * 2.0, {1})};
  });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT(g->ToText(), HasSubstr("%0: float32[?, 3]"));
  EXPECT_THAT(g->ToText(), HasSubstr("Sum(%2) {axes={1}} : float32[?]"));
  absl::StatusOr<std::string> text = SerializeGraph(*g);
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_THAT(*text, HasSubstr("float32[?, 3]"));
  absl::StatusOr<Graph> loaded = ParseGraph(*text);
  ASSERT_THAT(loaded.status(), IsOk());
  EXPECT_EQ(loaded->ToText(), g->ToText());
  absl::StatusOr<Graph> sized = SizeGraph(*loaded, 7);
  ASSERT_THAT(sized.status(), IsOk());
  EXPECT_THAT(sized->ToText(), HasSubstr("%0: float32[7, 3]"));
  EXPECT_THAT(SerializeGraph(*sized).status(), IsOk());
}

// CheckOneTraceAtEveryShape traces y = fn(x) and its gradients with respect to x and w once, for
// `signature`, and runs it at each shape: the values and gradients must be eager's, bitwise.
void CheckOneTraceAtEveryShape(const std::function<Value(const Value&)>& fn, const Value& w,
                               const TensorSpec& signature, const std::vector<Shape>& shapes) {
  const auto step = [&](const Value& x) -> std::vector<Value> {
    GradientTape tape;
    tape.Watch(x);
    const Value y = fn(x);
    absl::StatusOr<std::vector<Value>> g = tape.Gradient(SumAll(y), {x, w});
    if (!g.ok()) return {Value::Error(g.status())};
    return {y, (*g)[0], (*g)[1]};
  };
  Function f([&](const FunctionArgs& a) { return step(a.inputs[0]); },
             {.name = "pipeline", .input_signature = std::vector<TensorSpec>{signature}});
  for (const Shape& shape : shapes) {
    const Value x =
        Value::Constant(*concord::testing::GenTensor(shape, signature.dtype, -2, 2));
    absl::StatusOr<std::vector<Value>> traced = f({x});
    RC_ASSERT(traced.ok());
    const std::vector<Tensor> eager = Tensors(step(x));
    const std::vector<Tensor> got = Tensors(*traced);
    for (size_t i = 0; i < eager.size(); ++i) {
      RC_ASSERT(engine::BitwiseEqual(got[i], eager[i]));
    }
  }
  RC_ASSERT(f.trace_count() == 1);
}

// Random element-wise and reduction pipelines over a batch: the one polymorphic graph, sized at
// each generated batch, gives eager's bits (values and gradients).
RC_GTEST_PROP(PolymorphicFunction, OneTraceGivesTheEagerBitsAtEverySize, ()) {
  const int features = *rc::gen::inRange(1, 5);
  const std::vector<int64_t> batches = *rc::gen::container<std::vector<int64_t>>(
      *rc::gen::inRange<size_t>(1, 4), rc::gen::inRange<int64_t>(1, 9));
  const int variant = *rc::gen::inRange(0, 6);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Value w = Value::TrainableVariable(*concord::testing::GenTensor(Shape({features}), dtype, -2, 2));
  const auto fn = [&](const Value& x) -> Value {
    switch (variant) {
      case 0: return Mean(Softmax(x * w, 1), {0});
      case 1: return MeanAll(Exp(x) * w) + SumAll(Max(x, {0})) + SumAll(Transpose(x, {1, 0}));
      case 2: return Mean(Flatten(ExpandDims(x, 2)) - w, {0, 1}, true);
      case 3: return SumAll(Concat({x, x * w}, 1)) / MeanAll(Abs(x) + 1.0);
      case 4: return LogSumExp(Squeeze(ExpandDims(x * w, 1), {1}), {0});
      default: return SumAll(Slice(x, {0, 0}, {-1, 1}) * Gather(w, Value::Scalar<int64_t>(0), 0));
    }
  };
  std::vector<Shape> shapes;
  for (int64_t batch : batches) shapes.push_back(Shape({batch, features}));
  CheckOneTraceAtEveryShape(fn, w, Partial({-1, features}, dtype), shapes);
}

// The same over a batch and a length that vary independently: x is [?, ?b, features].
RC_GTEST_PROP(PolymorphicFunction, TwoUnknownSizesGiveTheEagerBitsAtEveryPair, ()) {
  const int features = *rc::gen::inRange(1, 4);
  const auto pairs = *rc::gen::container<std::vector<std::pair<int64_t, int64_t>>>(
      *rc::gen::inRange<size_t>(1, 4),
      rc::gen::pair(rc::gen::inRange<int64_t>(1, 5), rc::gen::inRange<int64_t>(1, 6)));
  const int variant = *rc::gen::inRange(0, 8);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Value w = Value::TrainableVariable(*concord::testing::GenTensor(Shape({features}), dtype, -2, 2));
  const auto fn = [&](const Value& x) -> Value {
    switch (variant) {
      case 0: return Mean(Softmax(x * w, 1), {0, 1});
      case 1: return Sum(LogSumExp(x, {1}), {0}) + MeanAll(Transpose(x, {1, 0, 2}) * w);
      case 2: return Mean(Max(x * w, {1}) - Min(x, {1}), {0});
      case 3: return SumAll(Concat({x, Exp(x) * w}, 2)) / MeanAll(Abs(x) + 1.0);
      case 4: return Mean(Squeeze(ExpandDims(x * w, 2), {2}), {0, 1});  // reshapes over ? and ?b
      case 5: return SumAll(Mean(Sum(x * w, {2}), {1}) * 2.0);
      // Dense over [?, ?b, F]: a stack of matrices times one kernel, one GEMM of all the rows,
      // whose gradient contracts the rows of both unknown sizes (ContractLeading).
      case 6: return Mean(Tanh(MatMul(x, Reshape(w, {features, 1})) + 0.5), {0, 1});
      default: return SumAll(Relu(MatMul(x, Reshape(w, {1, features}), false, true)));
    }
  };
  std::vector<Shape> shapes;
  for (const auto& [batch, length] : pairs) shapes.push_back(Shape({batch, length, features}));
  CheckOneTraceAtEveryShape(fn, w, Partial({-1, -2, features}, dtype), shapes);
}

}  // namespace
}  // namespace concord::autodiff
