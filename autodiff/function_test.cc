// Tracing and Function by example: the trace cache, retracing exactly when the signature changes,
// host reads failing at trace time, gradients through a traced function, and eager == traced.
#include "autodiff/function.h"

#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::testing::SizeIs;

Value F32(std::vector<float> values, Shape shape) {
  return Value::FromStatusOr(Tensor::FromVector<float>(shape, values));
}

// The seed pitfall: y = x where x > 0, else -2x, written three ways.
Value WithWhere(const Value& x) { return Where(Greater(x, ScalarLike(x, 0.0)), x, x * -2.0); }

TEST(TraceGraph, RecordsTheOpsInOrderWithDenseIds) {
  const Value w = F32({1, 2, 3}, Shape({3}));
  absl::StatusOr<Graph> g =
      TraceGraph("affine", {TensorSpec{DType::kFloat32, Shape({2, 3})}},
                 [&](absl::Span<const Value> in) { return std::vector<Value>{Relu(in[0] * w)}; });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(g->ToText(),
            "graph affine(%0: float32[2, 3]) {\n"
            "  %1 = constant float32[3]\n"
            "  %2 = Mul(%0, %1) : float32[2, 3]\n"
            "  %3 = Relu(%2) : float32[2, 3]\n"
            "  return %3\n"
            "}\n");
  EXPECT_THAT(g->Verify(), IsOk());
  EXPECT_THAT(g->ToDot(), AllOf(HasSubstr("digraph \"affine\""), HasSubstr("Relu")));
}

TEST(TraceGraph, HostReadFailsAtTraceTimeNamingTheOpAndTheAlternatives) {
  absl::StatusOr<Graph> g = TraceGraph(
      "branchy", {TensorSpec{DType::kFloat32, Shape({})}}, [](absl::Span<const Value> in) {
        const Value positive = Greater(in[0], ScalarLike(in[0], 0.0));
        // A C++ `if` on a traced value: the pitfall the trace must refuse.
        if (positive.tensor().data<bool>()[0]) return std::vector<Value>{in[0]};
        return std::vector<Value>{in[0] * -2.0};
      });
  EXPECT_THAT(g.status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                   AllOf(HasSubstr("branchy"), HasSubstr("Greater"),
                                         HasSubstr("Cond"), HasSubstr("WhileLoop"),
                                         HasSubstr("Where"))));
}

TEST(TraceGraph, ATracedValueUsedAfterItsTraceIsAnErrorNotACrash) {
  Value escaped;
  ASSERT_THAT(TraceGraph("leaky", {TensorSpec{DType::kFloat32, Shape({2})}},
                         [&](absl::Span<const Value> in) {
                           escaped = Exp(in[0]);
                           return std::vector<Value>{escaped};
                         })
                  .status(),
              IsOk());
  const Value y = escaped + 1.0;
  EXPECT_THAT(y.ToTensor().status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("after its trace ended")));
  EXPECT_THAT(escaped.ToTensor().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("after its trace ended")));
}

TEST(Function, WhereGivesTheSameBitsEagerAndTraced) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{WithWhere(a.inputs[0])}; },
             {.name = "where"});
  const Value x = F32({-1.5f, 0.f, -0.f, 2.25f, 1e-30f, -3e38f}, Shape({6}));
  absl::StatusOr<std::vector<Value>> traced = f({x});
  ASSERT_THAT(traced.status(), IsOk());
  EXPECT_THAT((*traced)[0].tensor(), BitwiseEquals(WithWhere(x).tensor()));
}

TEST(Function, RetracesExactlyWhenTheSignatureChanges) {
  std::vector<std::string> warnings;
  Function f(
      [](const FunctionArgs& a) {
        Value y = Tanh(a.inputs[0]);
        if (a.training) y = y * 0.5;
        if (!a.plain.empty()) y = y + static_cast<double>(std::get<int64_t>(a.plain[0]));
        return std::vector<Value>{y};
      },
      {.name = "f",
       .warn_after_traces = 3,
       .on_warning = [&](const std::string& w) { warnings.push_back(w); }});
  const Value a = F32({1, 2}, Shape({2}));
  const Value b = F32({3, 4}, Shape({2}));
  const Value c = F32({1, 2, 3}, Shape({3}));
  ASSERT_THAT(f({a}).status(), IsOk());
  ASSERT_THAT(f({b}).status(), IsOk());  // same dtype and shape
  EXPECT_EQ(f.trace_count(), 1);
  ASSERT_THAT(f({c}).status(), IsOk());  // new shape
  EXPECT_EQ(f.trace_count(), 2);
  ASSERT_THAT(f.Call({a}, {}, /*training=*/true).status(), IsOk());  // the training flag
  EXPECT_EQ(f.trace_count(), 3);
  const std::vector<PlainArg> one = {int64_t{1}};
  ASSERT_THAT(f.Call({a}, one).status(), IsOk());  // a plain argument
  EXPECT_EQ(f.trace_count(), 4);
  ASSERT_THAT(f.Call({b}, one).status(), IsOk());
  ASSERT_THAT(f({c}).status(), IsOk());
  EXPECT_EQ(f.trace_count(), 4);
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("traced 4 times"),
                                 HasSubstr("number of plain arguments: 0 -> 1"),
                                 HasSubstr("training: true -> false")));
  // The training flag changes the numbers, so it must be part of the key.
  absl::StatusOr<std::vector<Value>> inference = f({a});
  absl::StatusOr<std::vector<Value>> training = f.Call({a}, {}, true);
  ASSERT_THAT(inference.status(), IsOk());
  ASSERT_THAT(training.status(), IsOk());
  EXPECT_THAT((*inference)[0].tensor(), BitwiseEquals(Tanh(a).tensor()));
  EXPECT_THAT((*training)[0].tensor(), BitwiseEquals((Tanh(a) * 0.5).tensor()));
}

TEST(Function, MaxTracesPinsThatNothingRetraces) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{Exp(a.inputs[0])}; },
             {.name = "pinned", .max_traces = 1});
  ASSERT_THAT(f({F32({1}, Shape({1}))}).status(), IsOk());
  ASSERT_THAT(f({F32({2}, Shape({1}))}).status(), IsOk());
  EXPECT_THAT(f({F32({1, 2}, Shape({2}))}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("pinned"), HasSubstr("maximum of 1"),
                             HasSubstr("input 0: float32[1] -> float32[2]"))));
}

TEST(Function, AnInputSignatureRejectsOtherShapesInsteadOfRetracing) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{Exp(a.inputs[0])}; },
             {.name = "fixed", .input_signature = std::vector<TensorSpec>{
                                   TensorSpec{DType::kFloat32, Shape({2})}}});
  EXPECT_THAT(f({F32({1, 2}, Shape({2}))}).status(), IsOk());
  EXPECT_THAT(f({F32({1, 2, 3}, Shape({3}))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("fixed"), HasSubstr("float32[3]"),
                             HasSubstr("float32[2]"))));
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(Function, ATapeInsideTheFunctionTracesTheGradient) {
  // f(x) = (sum(tanh(x)^2), d/dx): the backward pass becomes part of the graph.
  const auto step = [](const Value& x) {
    GradientTape tape;
    tape.Watch(x);
    const Value loss = SumAll(Square(Tanh(x)));
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, {x});
    return std::vector<Value>{loss, grads.ok() ? (*grads)[0] : Value::Error(grads.status())};
  };
  Function f([&](const FunctionArgs& a) { return step(a.inputs[0]); }, {.name = "step"});
  const Value x = F32({-0.5f, 0.25f, 2.f}, Shape({3}));
  absl::StatusOr<std::vector<Value>> traced = f({x});
  ASSERT_THAT(traced.status(), IsOk());
  const std::vector<Value> eager = step(x);
  EXPECT_THAT((*traced)[0].tensor(), BitwiseEquals(eager[0].tensor()));
  EXPECT_THAT((*traced)[1].tensor(), BitwiseEquals(eager[1].tensor()));
}

TEST(Function, AnOuterTapeDifferentiatesThroughACall) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{Sigmoid(a.inputs[0]) * 3.0}; },
             {.name = "outer"});
  const Value x = F32({-1, 0.5f}, Shape({2}));
  GradientTape traced_tape;
  traced_tape.Watch(x);
  absl::StatusOr<std::vector<Value>> y = f({x});
  ASSERT_THAT(y.status(), IsOk());
  absl::StatusOr<std::vector<Value>> traced_grad = traced_tape.Gradient(SumAll((*y)[0]), {x});
  GradientTape eager_tape;
  eager_tape.Watch(x);
  absl::StatusOr<std::vector<Value>> eager_grad =
      eager_tape.Gradient(SumAll(Sigmoid(x) * 3.0), {x});
  ASSERT_THAT(traced_grad.status(), IsOk());
  ASSERT_THAT(eager_grad.status(), IsOk());
  EXPECT_THAT((*traced_grad)[0].tensor(), BitwiseEquals((*eager_grad)[0].tensor()));
}

// Note [Replay the traced graph]: CSE merges the two identical MatMuls into one, so a tape over
// the optimized graph would add the two uses' gradients before one MatMul gradient, where eager
// adds two MatMul gradients: a last-bit difference in dW. The tape must see the graph as traced.
TEST(Function, AnOuterTapeSeesTheGraphAsTracedNotAsOptimized) {
  const auto body = [](const Value& x, const Value& w) {
    return Tanh(MatMul(x, w)) * 1.7 + Sigmoid(MatMul(x, w)) * -0.3;
  };
  Function f([&body](const FunctionArgs& a) {
    return std::vector<Value>{body(a.inputs[0], a.inputs[1])};
  }, {.name = "shared_matmul"});
  std::vector<float> xs, ws;
  for (int i = 0; i < 12; ++i) xs.push_back(0.37f * static_cast<float>(i % 5) - 0.61f);
  for (int i = 0; i < 20; ++i) ws.push_back(0.23f * static_cast<float>(i % 7) - 0.55f);
  const Value x = F32(xs, Shape({3, 4}));
  const Value w = F32(ws, Shape({4, 5}));

  GradientTape traced_tape;
  traced_tape.Watch(x);
  traced_tape.Watch(w);
  absl::StatusOr<std::vector<Value>> y = f({x, w});
  ASSERT_THAT(y.status(), IsOk());
  absl::StatusOr<std::vector<Value>> traced_grad = traced_tape.Gradient(SumAll((*y)[0]), {x, w});
  GradientTape eager_tape;
  eager_tape.Watch(x);
  eager_tape.Watch(w);
  absl::StatusOr<std::vector<Value>> eager_grad = eager_tape.Gradient(SumAll(body(x, w)), {x, w});
  ASSERT_THAT(traced_grad.status(), IsOk());
  ASSERT_THAT(eager_grad.status(), IsOk());
  EXPECT_THAT((*traced_grad)[0].tensor(), BitwiseEquals((*eager_grad)[0].tensor()));
  EXPECT_THAT((*traced_grad)[1].tensor(), BitwiseEquals((*eager_grad)[1].tensor()));

  // The case is the one that matters only if the optimized graph did merge the MatMuls.
  absl::StatusOr<const Graph*> optimized = f.GetGraph(f.traced_signatures()[0]);
  ASSERT_THAT(optimized.status(), IsOk());
  const std::string text = (*optimized)->ToText();
  size_t matmuls = 0;
  for (size_t at = text.find("MatMul("); at != std::string::npos;
       at = text.find("MatMul(", at + 1)) {
    ++matmuls;
  }
  EXPECT_EQ(matmuls, 1u) << text;
}

TEST(Function, OpErrorsInsideTheFunctionNameTheFunctionAndTheOp) {
  Function f([](const FunctionArgs& a) { return std::vector<Value>{MatMul(a.inputs[0], a.inputs[0])}; },
             {.name = "bad"});
  EXPECT_THAT(f({F32({1, 2, 3, 4, 5, 6}, Shape({2, 3}))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("bad"), HasSubstr("MatMul"), HasSubstr("float32[2, 3]"))));
}

// Note [Failing equations]: a Gather whose index is out of range fails the call even though no
// output reads it, the same way plainly and under a tape (where the graph is replayed op by op).
TEST(Function, AFailingEquationNoOutputReadsFailsEveryCallPath) {
  Function f([](const FunctionArgs& a) {
    (void)Gather(a.inputs[0], a.inputs[1]);
    return std::vector<Value>{Neg(a.inputs[0])};
  }, {.name = "dead_gather"});
  const Value x = F32({1, 2, 3}, Shape({3}));
  const Value in_range = Value::FromStatusOr(Tensor::FromVector<int64_t>(Shape({1}), {2}));
  const Value beyond = Value::FromStatusOr(Tensor::FromVector<int64_t>(Shape({1}), {3}));
  ASSERT_THAT(f({x, in_range}).status(), IsOk());
  const auto out_of_range =
      StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("Gather"), HasSubstr("3")));
  EXPECT_THAT(f({x, beyond}).status(), out_of_range);
  GradientTape tape;
  tape.Watch(x);
  EXPECT_THAT(f({x, beyond}).status(), out_of_range);
  EXPECT_THAT(f({x, in_range}).status(), IsOk());
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(RunGraph, ChecksInputsAgainstTheGraph) {
  absl::StatusOr<Graph> g = TraceGraph("g", {TensorSpec{DType::kFloat32, Shape({2})}},
                                       [](absl::Span<const Value> in) {
                                         return std::vector<Value>{Exp(in[0])};
                                       });
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT(RunGraph(*g, {Tensor::Zeros(Shape({3}))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("float32[3]"), HasSubstr("float32[2]"))));
  EXPECT_THAT(RunGraph(*g, {}).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("takes 1 inputs, got 0")));
}

}  // namespace
}  // namespace concord::autodiff
