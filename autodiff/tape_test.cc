// GradientTape by example: each test is a closed-form case worth reading as documentation of what
// the tape does (Note [Tape lifetime] in autodiff/tape.h), plus the memory test the issue asks
// for: intermediates are freed by Gradient on a non-persistent tape.
#include "autodiff/tape.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/custom_gradient.h"
#include "autodiff/dispatch.h"
#include "autodiff/ops.h"
#include "autodiff/value.h"
#include "engine/allocator.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/grad_check.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// F32 / F64 make a rank-1 constant (or of `shape`, when given).
Value F32(std::vector<float> values, Shape shape = Shape()) {
  if (shape.rank() == 0) shape = Shape({static_cast<int64_t>(values.size())});
  return Value::FromStatusOr(Tensor::FromVector<float>(shape, values));
}
Value F64(std::vector<double> values, Shape shape = Shape()) {
  if (shape.rank() == 0) shape = Shape({static_cast<int64_t>(values.size())});
  return Value::FromStatusOr(Tensor::FromVector<double>(shape, values));
}

// Elements reads every element of an OK value as double (row-major).
std::vector<double> Elements(const Value& v) {
  EXPECT_TRUE(v.ok()) << v;
  std::vector<double> out;
  if (!v.ok()) return out;
  for (int64_t i = 0; i < v.tensor().num_elements(); ++i) {
    out.push_back(v.tensor().ElementAsDouble(i));
  }
  return out;
}

// Grad is tape.Gradient(target, sources) for tests that expect success.
std::vector<Value> Grad(GradientTape& tape, const Value& target, std::vector<Value> sources,
                        const Value& output_gradient = Value(),
                        UnconnectedGradients unconnected = UnconnectedGradients::kNone) {
  absl::StatusOr<std::vector<Value>> g =
      tape.Gradient(target, sources, output_gradient, unconnected);
  EXPECT_THAT(g, IsOk());
  if (!g.ok()) return std::vector<Value>(sources.size());
  EXPECT_THAT(*g, SizeIs(sources.size()));
  return *std::move(g);
}

// ---- First derivatives in closed form -------------------------------------------------------

// d(xy)/dx = y and d(xy)/dy = x.
TEST(GradientTape, GradientOfAProductIsTheOtherFactor) {
  const Value x = F32({2, 3});
  const Value y = F32({5, 7});
  GradientTape tape;
  tape.Watch(x);
  tape.Watch(y);
  const Value z = SumAll(x * y);
  const std::vector<Value> g = Grad(tape, z, {x, y});
  EXPECT_THAT(Elements(g[0]), ElementsAre(5, 7));
  EXPECT_THAT(Elements(g[1]), ElementsAre(2, 3));
}

// The gradient of a sum is ones shaped like its input, along the reduced axes too.
TEST(GradientTape, GradientOfSumIsOnesShapedLikeTheInput) {
  const Value x = F32({1, 2, 3, 4, 5, 6}, Shape({2, 3}));
  GradientTape tape;
  tape.Watch(x);
  const Value s = Sum(x, {1});  // [2]: row sums; non-scalar, so Gradient sums it
  const std::vector<Value> g = Grad(tape, s, {x});
  EXPECT_EQ(g[0].shape(), Shape({2, 3}));
  EXPECT_THAT(Elements(g[0]), ElementsAre(1, 1, 1, 1, 1, 1));
}

// A broadcast input receives the sum of the gradients of every element it was broadcast to.
TEST(GradientTape, BroadcastAddSumsTheGradientOverTheBroadcastAxes) {
  const Value a = F32({1, 2, 3, 4, 5, 6}, Shape({2, 3}));
  const Value b = F32({10, 20, 30});  // [3], broadcast over the 2 rows
  GradientTape tape;
  tape.Watch(a);
  tape.Watch(b);
  const Value y = SumAll((a + b) * F32({1, 2, 3, 4, 5, 6}, Shape({2, 3})));
  const std::vector<Value> g = Grad(tape, y, {a, b});
  EXPECT_EQ(g[0].shape(), Shape({2, 3}));
  EXPECT_THAT(Elements(g[0]), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(g[1].shape(), Shape({3}));
  EXPECT_THAT(Elements(g[1]), ElementsAre(1 + 4, 2 + 5, 3 + 6));
}

// A non-scalar target is summed: Gradient(x * x) is d sum(x^2) / dx = 2x.
TEST(GradientTape, NonScalarTargetIsSummed) {
  const Value x = F32({1, -2, 3});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * x;
  EXPECT_THAT(Elements(Grad(tape, y, {x})[0]), ElementsAre(2, -4, 6));
}

// An output gradient weights the target's elements: the vector-Jacobian product g^T J.
TEST(GradientTape, OutputGradientGivesTheVectorJacobianProduct) {
  const Value x = F32({1, -2, 3});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * x;
  const std::vector<Value> g = Grad(tape, y, {x}, /*output_gradient=*/F32({1, 10, 100}));
  EXPECT_THAT(Elements(g[0]), ElementsAre(2, -40, 600));
}

TEST(GradientTape, OutputGradientOfTheWrongShapeIsAnError) {
  const Value x = F32({1, 2, 3});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * x;
  EXPECT_THAT(tape.Gradient(y, {x}, F32({1, 2})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output gradient is float32[2] but the target is float32[3]")));
}

// A value used several times accumulates a gradient from each use: d(x*x + x)/dx = 2x + 1.
TEST(GradientTape, AValueUsedSeveralTimesAccumulates) {
  const Value x = F32({1, 2, 3});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * x + x;
  EXPECT_THAT(Elements(Grad(tape, y, {x})[0]), ElementsAre(3, 5, 7));
}

// Trainable variables are watched by every tape without Watch; ops on constants alone are not
// recorded.
TEST(GradientTape, TrainableVariablesAreWatchedWithoutWatch) {
  const Value w = Value::TrainableVariable(Tensor::Full(Shape({2}), 3.0));
  const Value c = F32({1, 2});
  GradientTape tape;
  const Value unrecorded = c * c;
  EXPECT_TRUE(tape.equations().empty());
  const Value y = SumAll(w * c);
  EXPECT_EQ(tape.equations().size(), 2u);  // Mul, Sum
  EXPECT_THAT(Elements(Grad(tape, y, {w})[0]), ElementsAre(1, 2));
}

// StopGradient passes the value and blocks the gradient: d(x * stop(x))/dx = stop(x) = x.
TEST(GradientTape, StopGradientBlocksTheGradient) {
  const Value x = F32({2, 5});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * StopGradient(x);
  EXPECT_THAT(Elements(y), ElementsAre(4, 25));
  EXPECT_THAT(Elements(Grad(tape, y, {x})[0]), ElementsAre(2, 5));
}

// A source the target does not depend on gets an undefined Value by default, zeros on request.
TEST(GradientTape, UnconnectedSourcesGiveNoneOrZerosByPolicy) {
  const Value x = F32({1, 2});
  const Value z = F32({7, 8, 9});
  {
    GradientTape tape;
    tape.Watch(x);
    tape.Watch(z);
    const std::vector<Value> g = Grad(tape, x * x, {x, z});
    EXPECT_THAT(Elements(g[0]), ElementsAre(2, 4));
    EXPECT_FALSE(g[1].defined());
  }
  {
    GradientTape tape;
    tape.Watch(x);
    tape.Watch(z);
    const std::vector<Value> g = Grad(tape, x * x, {x, z}, Value(), UnconnectedGradients::kZero);
    EXPECT_EQ(g[1].shape(), Shape({3}));
    EXPECT_THAT(Elements(g[1]), ElementsAre(0, 0, 0));
  }
}

// The target itself as a source: its gradient is the seed, ones.
TEST(GradientTape, GradientOfAValueWithRespectToItselfIsOnes) {
  const Value x = F32({1, 2});
  GradientTape tape;
  tape.Watch(x);
  EXPECT_THAT(Elements(Grad(tape, x, {x})[0]), ElementsAre(1, 1));
}

// ---- Errors -----------------------------------------------------------------------------------

// Only float32 and float64 values have gradients; asking for an integer's is InvalidArgument.
TEST(GradientTape, GradientWithRespectToAnIntegerIsAnError) {
  const Value i = Value::Constant(Tensor::Zeros(Shape({3}), DType::kInt32));
  const Value x = F32({1, 2, 3});
  GradientTape tape;
  tape.Watch(i);
  tape.Watch(x);
  const Value y = SumAll(x * x);
  EXPECT_THAT(tape.Gradient(y, {x, i}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("source 1 is int32[3]; gradients exist only for float32")));
}

TEST(GradientTape, GradientOfAnIntegerTargetIsAnError) {
  const Value i = Value::Constant(Tensor::Zeros(Shape({3}), DType::kInt32));
  const Value x = F32({1, 2, 3});
  GradientTape tape;
  tape.Watch(x);
  EXPECT_THAT(tape.Gradient(i, {x}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the target is int32[3]")));
}

// Ops never abort (Note [Errors travel with values]): a shape error travels with the values
// computed from it and surfaces at Gradient, naming the op and the shapes.
TEST(GradientTape, AnErrorInTheTargetSurfacesAtGradientWithTheOpName) {
  const Value x = F32({1, 2, 3, 4, 5, 6}, Shape({2, 3}));
  GradientTape tape;
  tape.Watch(x);
  const Value bad = x + F32({1, 2, 3, 4});  // [2, 3] + [4]: cannot broadcast
  const Value y = SumAll(bad * 2.0);        // later ops pass the error along
  EXPECT_FALSE(y.ok());
  EXPECT_THAT(tape.Gradient(y, {x}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Add: cannot broadcast float32[2, 3] with float32[4]")));
}

// ---- Tape lifetime ------------------------------------------------------------------------------

// A non-persistent tape computes one gradient; the second call explains how to ask several times.
TEST(GradientTape, NonPersistentTapeRefusesASecondGradient) {
  const Value x = F32({1, 2});
  GradientTape tape;
  tape.Watch(x);
  const Value y = SumAll(x * x);
  EXPECT_THAT(tape.Gradient(y, {x}), IsOk());
  EXPECT_TRUE(tape.equations().empty());  // forgotten as soon as the gradient is computed
  EXPECT_THAT(tape.Gradient(y, {x}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("persistent")));
}

TEST(GradientTape, PersistentTapeAllowsManyGradients) {
  const Value x = F32({1, 2});
  GradientTape tape(/*persistent=*/true);
  tape.Watch(x);
  const Value y = x * x;
  const Value z = y * x;
  const size_t recorded = tape.equations().size();
  EXPECT_THAT(Elements(Grad(tape, y, {x})[0]), ElementsAre(2, 4));
  EXPECT_THAT(Elements(Grad(tape, z, {x})[0]), ElementsAre(3, 12));
  EXPECT_THAT(Elements(Grad(tape, z, {x})[0]), ElementsAre(3, 12));
  EXPECT_EQ(tape.equations().size(), recorded);  // kept for the next call
}

// Nested tapes give higher derivatives: the inner tape's gradient rules run through the
// dispatcher, so the outer tape records them. d2/dx2 of x^3 = 6x.
TEST(GradientTape, NestedTapesGiveSecondDerivatives) {
  const Value x = F32({1, 2, -3});
  GradientTape outer;
  outer.Watch(x);
  Value dy_dx;
  {
    GradientTape inner;
    inner.Watch(x);
    const Value y = x * x * x;
    dy_dx = Grad(inner, y, {x})[0];
  }
  EXPECT_THAT(Elements(dy_dx), ElementsAre(3, 12, 27));                        // 3x^2
  EXPECT_THAT(Elements(Grad(outer, dy_dx, {x})[0]), ElementsAre(6, 12, -18));  // 6x
}

// A Hessian-vector product without forming the Hessian: H v = d/dx (grad f(x) . v).
// For f(x) = sum(x^3), H = diag(6x), so H v = 6 x v.
TEST(GradientTape, NestedTapesGiveAHessianVectorProduct) {
  const Value x = F64({1, 2, -3});
  const Value v = F64({1, 0.5, 2});
  GradientTape outer;
  outer.Watch(x);
  Value grad_dot_v;
  {
    GradientTape inner;
    inner.Watch(x);
    const Value f = SumAll(x * x * x);
    grad_dot_v = SumAll(Grad(inner, f, {x})[0] * v);
  }
  EXPECT_THAT(Elements(Grad(outer, grad_dot_v, {x})[0]), ElementsAre(6, 6, -36));
}

// NoGradScope: nothing is recorded inside it (torch.no_grad), even for trainable variables.
TEST(GradientTape, NoGradScopeRecordsNothing) {
  const Value w = Value::TrainableVariable(Tensor::Ones(Shape({4})));
  const Value x = F32({1, 2, 3, 4});
  GradientTape tape;
  tape.Watch(x);
  {
    NoGradScope no_grad;
    EXPECT_TRUE(IsNoGrad());
    const Value y = SumAll(w * x + x);
    EXPECT_THAT(Elements(y), ElementsAre(20));
  }
  EXPECT_FALSE(IsNoGrad());
  EXPECT_TRUE(tape.equations().empty());
}

// The equation list has a text form, one equation a line, for golden tests and debugging.
TEST(GradientTape, EquationsHaveATextForm) {
  const Value x = F32({1, 2, 3, 4, 5, 6}, Shape({2, 3}));
  const Value b = F32({1, 2, 3});
  GradientTape tape;
  tape.Watch(x);
  const Value y = x * b;
  const Value s = Sum(y, {1});
  ASSERT_EQ(tape.equations().size(), 2u);
  EXPECT_EQ(tape.equations()[0].ToString(),
            absl::StrCat("%", y.id(), " = Mul(%", x.id(), ", %", b.id(), ") : float32[2, 3]"));
  EXPECT_EQ(tape.equations().ToString(),
            absl::StrCat("%", y.id(), " = Mul(%", x.id(), ", %", b.id(), ") : float32[2, 3]\n", "%",
                         s.id(), " = Sum(%", y.id(), ") {axes={1}} : float32[2]\n"));
}

// The list keeps execution order and every equation across its storage chunks, and a long chain
// differentiates like a short one: d/dx of x * 1.01^n is 1.01^n.
TEST(GradientTape, LongTapesKeepEveryEquationInOrder) {
  const Value x = F64({1, 2});
  GradientTape tape(/*persistent=*/true);
  tape.Watch(x);
  std::vector<int64_t> ids;
  Value y = x;
  for (int i = 0; i < 300; ++i) {
    y = y * 1.01;
    ids.push_back(y.id());
  }
  ASSERT_EQ(tape.equations().size(), ids.size());
  size_t k = 0;
  for (const Equation& eq : tape.equations()) {
    ASSERT_THAT(eq.output_ids, ElementsAre(ids[k]));
    EXPECT_EQ(tape.equations()[k].output_ids[0], ids[k]);
    ++k;
  }
  EXPECT_EQ(k, ids.size());
  const std::vector<double> g = Elements(Grad(tape, y, {x})[0]);
  EXPECT_NEAR(g[0], std::pow(1.01, 300), 1e-9 * std::pow(1.01, 300));
  EXPECT_EQ(g[0], g[1]);
}

// ---- CustomGradient -------------------------------------------------------------------------

// log(1 + e^x) with the gradient sigmoid(x) written by hand (tf.custom_gradient's example). The
// chain rule through Log and Exp computes e^x / (1 + e^x), which is inf / inf = NaN once e^x
// overflows; sigmoid(x) stays 1.
Value Log1pExp(const Value& x) {
  return CustomGradient(
      [](absl::Span<const Value> in) { return std::vector<Value>{Log(1.0 + Exp(in[0]))}; },
      [](const CustomGradientContext& c) {
        return std::vector<Value>{c.output_grads[0] * Sigmoid(c.inputs[0])};
      },
      {x})[0];
}

TEST(CustomGradient, UserBackwardReplacesTheChainRule) {
  const Value x = F32({0, 100});
  {
    GradientTape tape;
    tape.Watch(x);
    const Value naive = Log(1.0 + Exp(x));
    const std::vector<double> g = Elements(Grad(tape, naive, {x})[0]);
    EXPECT_DOUBLE_EQ(g[0], 0.5);
    EXPECT_TRUE(std::isnan(g[1]));
  }
  GradientTape tape;
  tape.Watch(x);
  const Value y = Log1pExp(x);
  ASSERT_EQ(tape.equations().size(), 1u);  // the forward's internals are not recorded
  EXPECT_EQ(tape.equations()[0].primitive, Primitive::kCustom);
  EXPECT_THAT(Elements(Grad(tape, y, {x})[0]), ElementsAre(0.5, 1.0));
}

// Users check a custom gradient against finite differences, first and second order (the
// backward is written in autodiff ops, so it is differentiable in turn).
TEST(CustomGradient, PassesGradCheckAndGradGradCheck) {
  const Tensor x = Tensor::FromVector<double>(Shape({5}), {-3, -0.5, 0.1, 1, 4}).value();
  const auto fn = [](absl::Span<const Value> in) { return Log1pExp(in[0]); };
  EXPECT_THAT(::concord::testing::GradCheck(fn, {x}), IsOk());
  EXPECT_THAT(::concord::testing::GradGradCheck(fn, {x}), IsOk());
}

// A wrong backward is caught by GradCheck, which names the input element.
TEST(CustomGradient, GradCheckCatchesAWrongBackward) {
  const Tensor x = Tensor::FromVector<double>(Shape({3}), {-1, 0.5, 2}).value();
  const auto fn = [](absl::Span<const Value> in) {
    return CustomGradient(
        [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * v[0]}; },
        [](const CustomGradientContext& c) {
          return std::vector<Value>{c.output_grads[0] * c.inputs[0]};  // should be 2x
        },
        {in[0]})[0];
  };
  EXPECT_THAT(::concord::testing::GradCheck(fn, {x}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("input 0 element [0]")));
}

// ---- Memory (Note [Tape lifetime]) ------------------------------------------------------------

int64_t LiveBytes() { return engine::Allocator::Get().live_bytes(); }

// A chain of 50 ops on a [1000] float32 tensor. The tape keeps what the gradient rules need
// (Mul saves its inputs), so the forward holds about 50 buffers. Gradient on a non-persistent
// tape releases each one as soon as its rule has run: memory stays near the forward's during
// backward, the tape is empty afterwards, and once the user drops its handles only the gradient
// is left.
TEST(GradientTapeMemory, IntermediatesAreFreedByGradientOnANonPersistentTape) {
  constexpr int kOps = 50;
  constexpr int64_t kN = 1000;
  const int64_t buffer = static_cast<int64_t>(engine::Allocator::SizeClass(kN * sizeof(float)));
  // ScalarLike keeps the last few scalar constants of this thread for reuse (ops_elementwise.cc);
  // make the two this chain uses before taking the baseline.
  { const Value warm = Value::Constant(Tensor::Full(Shape({1}), 0.5)) * 1.0001 + 0.5; }
  const int64_t baseline = LiveBytes();
  {
    const Value x = Value::Constant(Tensor::Full(Shape({kN}), 0.5));
    const int64_t with_x = LiveBytes();
    EXPECT_EQ(with_x - baseline, buffer);

    GradientTape tape;
    tape.Watch(x);
    Value y = x;
    for (int i = 0; i < kOps / 2; ++i) y = y * 1.0001 + 0.5;  // 2 ops per step
    Value loss = SumAll(y);
    y = Value();  // the user keeps only x and the loss
    EXPECT_EQ(tape.equations().size(), static_cast<size_t>(kOps + 1));
    const int64_t forward = LiveBytes() - with_x;
    // The tape holds the Mul inputs: one [1000] buffer per step after the first (whose input
    // is x).
    EXPECT_GE(forward, (kOps / 2 - 1) * buffer);

    engine::Allocator::Get().ResetPeak();
    const int64_t before_backward = LiveBytes();
    absl::StatusOr<std::vector<Value>> g = tape.Gradient(loss, {x});
    ASSERT_THAT(g, IsOk());
    const int64_t backward_peak = engine::Allocator::Get().peak_live_bytes() - before_backward;
    // Backward frees as it goes: its peak adds a handful of buffers (the gradient being
    // propagated, the one being made, the seed), not another chain's worth.
    EXPECT_LE(backward_peak, 4 * buffer) << "before backward " << before_backward;
    EXPECT_TRUE(tape.equations().empty());
    RecordProperty("forward_held_bytes", std::to_string(forward));
    RecordProperty("backward_peak_extra_bytes", std::to_string(backward_peak));

    // What is left: x, the loss, the gradient (one [1000] buffer) and small scalars.
    const int64_t after = LiveBytes() - with_x;
    EXPECT_LE(after, buffer + 4 * 64) << "forward held " << forward;
    EXPECT_EQ((*g)[0].shape(), Shape({kN}));

    loss = Value();
    g->clear();
    EXPECT_EQ(LiveBytes(), with_x);
  }
  EXPECT_EQ(LiveBytes(), baseline);
}

// A persistent tape keeps what its rules need until it is destroyed.
TEST(GradientTapeMemory, PersistentTapeKeepsIntermediatesUntilDestroyed) {
  constexpr int64_t kN = 1000;
  const int64_t buffer = static_cast<int64_t>(engine::Allocator::SizeClass(kN * sizeof(float)));
  const int64_t baseline = LiveBytes();
  const Value x = Value::Constant(Tensor::Full(Shape({kN}), 0.5));
  {
    GradientTape tape(/*persistent=*/true);
    tape.Watch(x);
    Value y = x;
    for (int i = 0; i < 10; ++i) y = y * 1.0001 + 0.5;
    const Value loss = SumAll(y);
    y = Value();
    ASSERT_THAT(tape.Gradient(loss, {x}), IsOk());
    EXPECT_GE(LiveBytes() - baseline, 10 * buffer);  // the saved Mul inputs are still there
  }
  EXPECT_EQ(LiveBytes() - baseline, buffer);  // only x
}

}  // namespace
}  // namespace concord::autodiff
