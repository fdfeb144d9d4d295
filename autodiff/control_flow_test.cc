// Cond and WhileLoop: eager and traced agree bitwise in values and gradients, the traced graph
// decides at run time (one trace serves both branches and any trip count), and misuse is an error.
#include "autodiff/control_flow.h"

#include <vector>

#include "autodiff/function.h"
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

Value F32(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return Value::FromStatusOr(Tensor::FromVector<float>(Shape({n}), values));
}

// The seed pitfall as real control flow: x where sum(x) > 0, else -2 exp(x) (with the sum of x as
// a second output so the branches have two results).
std::vector<Value> SignedBranch(const Value& x) {
  return Cond(
      Greater(SumAll(x), ScalarLike(SumAll(x), 0.0)),
      [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * v[0], SumAll(v[0])}; },
      [](absl::Span<const Value> v) {
        return std::vector<Value>{Exp(v[0]) * -2.0, SumAll(Tanh(v[0]))};
      },
      {x});
}

// Halve until the sum of squares is at most 1; also count the steps (an int64 loop variable).
std::vector<Value> HalveLoop(const Value& x) {
  return WhileLoop(
      [](absl::Span<const Value> v) {
        return Greater(SumAll(v[0] * v[0]), ScalarLike(SumAll(v[0]), 1.0));
      },
      [](absl::Span<const Value> v) {
        return std::vector<Value>{Sigmoid(v[0]) * v[0] * 0.5, v[1] + Value::Scalar<int64_t>(1)};
      },
      {x, Value::Scalar<int64_t>(0)});
}

// Value and gradient of the sum of the first result, computed with a tape inside `f`.
std::vector<Value> ValueAndGrad(const std::function<std::vector<Value>(const Value&)>& f,
                                const Value& x) {
  GradientTape tape;
  tape.Watch(x);
  const std::vector<Value> out = f(x);
  const Value loss = SumAll(out[0]);
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(loss, {x});
  return {loss, g.ok() ? (*g)[0] : Value::Error(g.status())};
}

void ExpectSameBits(const std::vector<Value>& a, const std::vector<Value>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_THAT(a[i].ToTensor().status(), IsOk()) << "result " << i;
    ASSERT_THAT(b[i].ToTensor().status(), IsOk()) << "result " << i;
    EXPECT_THAT(a[i].tensor(), BitwiseEquals(b[i].tensor())) << "result " << i;
  }
}

TEST(Cond, OneTraceTakesEitherBranchAtRunTimeWithEagerBits) {
  Function f([](const FunctionArgs& a) { return SignedBranch(a.inputs[0]); }, {.name = "signed"});
  for (const Value& x : {F32({0.5f, -0.25f, 2.f}), F32({-3.f, 0.125f, -1.f})}) {
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk());
    ExpectSameBits(*traced, SignedBranch(x));
  }
  EXPECT_EQ(f.trace_count(), 1);
  absl::StatusOr<const Graph*> g = f.GetGraph(f.traced_signatures()[0]);
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT((*g)->ToText(), HasSubstr("Cond("));
}

TEST(Cond, GradientsAgreeEagerTracedAndThroughAnOuterTape) {
  Function f([](const FunctionArgs& a) { return ValueAndGrad(SignedBranch, a.inputs[0]); },
             {.name = "cond_grad"});
  Function forward_only([](const FunctionArgs& a) { return SignedBranch(a.inputs[0]); },
                        {.name = "cond_forward"});
  for (const Value& x : {F32({0.5f, -0.25f, 2.f}), F32({-3.f, 0.125f, -1.f})}) {
    const std::vector<Value> eager = ValueAndGrad(SignedBranch, x);
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk());
    ExpectSameBits(*traced, eager);
    // An outer tape around a call of the traced forward replays its graph; the Cond equation's
    // gradient rule builds the branches' vector-Jacobian graphs.
    const std::vector<Value> outer = ValueAndGrad(
        [&](const Value& v) {
          absl::StatusOr<std::vector<Value>> out = forward_only({v});
          return out.ok() ? *out : std::vector<Value>{Value::Error(out.status())};
        },
        x);
    ExpectSameBits(outer, eager);
  }
}

TEST(Cond, SecondDerivativeThroughATracedCond) {
  // d2/dx2 sum(x^3 or sin-ish): the Cond gradient is itself a Cond, so it can be differentiated.
  const auto cube = [](const Value& x) {
    return Cond(
        Greater(SumAll(x), ScalarLike(SumAll(x), 0.0)),
        [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * v[0] * v[0]}; },
        [](absl::Span<const Value> v) { return std::vector<Value>{Tanh(v[0])}; }, {x});
  };
  const auto second = [&](const Value& x) {
    GradientTape outer;
    outer.Watch(x);
    GradientTape inner;
    inner.Watch(x);
    const Value y = SumAll(cube(x)[0]);
    absl::StatusOr<std::vector<Value>> g = inner.Gradient(y, {x});
    if (!g.ok()) return Value::Error(g.status());
    absl::StatusOr<std::vector<Value>> h = outer.Gradient(SumAll((*g)[0]), {x});
    return h.ok() ? (*h)[0] : Value::Error(h.status());
  };
  Function f([&](const FunctionArgs& a) { return std::vector<Value>{second(a.inputs[0])}; },
             {.name = "second"});
  const Value x = F32({0.5f, 1.5f, -0.25f});
  absl::StatusOr<std::vector<Value>> traced = f({x});
  ASSERT_THAT(traced.status(), IsOk());
  ExpectSameBits(*traced, {second(x)});
  // 6x for the cube branch.
  EXPECT_THAT((*traced)[0].tensor(), BitwiseEquals((x * 6.0).tensor()));
}

TEST(WhileLoop, OneTraceRunsAnyTripCountWithEagerBits) {
  Function f([](const FunctionArgs& a) { return HalveLoop(a.inputs[0]); }, {.name = "halve"});
  for (const Value& x : {F32({0.1f, 0.2f, 0.3f}), F32({8.f, -6.f, 3.f}), F32({40.f, 1.f, 1.f})}) {
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk());
    ExpectSameBits(*traced, HalveLoop(x));
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(WhileLoop, GradientsAgreeEagerAndTraced) {
  Function f([](const FunctionArgs& a) { return ValueAndGrad(HalveLoop, a.inputs[0]); },
             {.name = "halve_grad"});
  for (const Value& x : {F32({0.1f, 0.2f, 0.3f}), F32({8.f, -6.f, 3.f})}) {
    absl::StatusOr<std::vector<Value>> traced = f({x});
    ASSERT_THAT(traced.status(), IsOk());
    ExpectSameBits(*traced, ValueAndGrad(HalveLoop, x));
  }
}

RC_GTEST_PROP(ControlFlow, EagerAndTracedAgreeBitwiseOnRandomInputs, ()) {
  const auto values = *rc::gen::container<std::vector<float>>(
      3, rc::gen::map(rc::gen::inRange(-4000, 4000), [](int v) { return v / 500.f; }));
  const Value x = F32(values);
  Function cond([](const FunctionArgs& a) { return ValueAndGrad(SignedBranch, a.inputs[0]); },
                {.name = "cond"});
  Function loop([](const FunctionArgs& a) { return ValueAndGrad(HalveLoop, a.inputs[0]); },
                {.name = "loop"});
  for (auto* pair : {&cond, &loop}) {
    absl::StatusOr<std::vector<Value>> traced = (*pair)({x});
    RC_ASSERT(traced.ok());
    const std::vector<Value> eager =
        ValueAndGrad(pair == &cond ? SignedBranch : HalveLoop, x);
    for (size_t i = 0; i < eager.size(); ++i) {
      RC_ASSERT(eager[i].ok());
      RC_ASSERT(::concord::testing::BitwiseDiff((*traced)[i].tensor(), eager[i].tensor()).empty());
    }
  }
}

TEST(ControlFlow, MisuseIsAnErrorNamingTheOpAndTheSpecs) {
  const auto traced_error = [](const std::function<std::vector<Value>(const Value&)>& fn) {
    return TraceGraph("misuse", {TensorSpec{DType::kFloat32, Shape({2})}},
                      [&](absl::Span<const Value> in) { return fn(in[0]); })
        .status();
  };
  EXPECT_THAT(traced_error([](const Value& x) {
                return Cond(
                    Greater(SumAll(x), ScalarLike(SumAll(x), 0.0)),
                    [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; },
                    [](absl::Span<const Value> v) { return std::vector<Value>{SumAll(v[0])}; },
                    {x});
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Cond"), HasSubstr("float32[2]"), HasSubstr("float32[]"))));
  EXPECT_THAT(traced_error([](const Value& x) {
                return Cond(
                    Greater(x, ScalarLike(x, 0.0)), [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; },
                    [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; }, {x});
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Cond"), HasSubstr("bool scalar"), HasSubstr("bool[2]"))));
  EXPECT_THAT(traced_error([](const Value& x) {
                return WhileLoop(
                    [](absl::Span<const Value> v) { return Greater(SumAll(v[0]), ScalarLike(SumAll(v[0]), 0.0)); },
                    [](absl::Span<const Value> v) { return std::vector<Value>{SumAll(v[0])}; },
                    {x});
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("While"), HasSubstr("body returns"))));
  // A branch that captures a traced value of the enclosing function instead of taking it as an
  // operand.
  EXPECT_THAT(traced_error([](const Value& x) {
                const Value y = Exp(x);
                return Cond(
                    Greater(SumAll(x), ScalarLike(SumAll(x), 0.0)),
                    [&y](absl::Span<const Value> v) { return std::vector<Value>{v[0] + y}; },
                    [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; }, {x});
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Cond"), HasSubstr("argument"))));
  // Eager: the body changing a loop variable's shape.
  const std::vector<Value> eager = WhileLoop(
      [](absl::Span<const Value> v) { return Greater(SumAll(v[0]), ScalarLike(SumAll(v[0]), 0.0)); },
      [](absl::Span<const Value> v) { return std::vector<Value>{SumAll(v[0]) - 1.0}; },
      {F32({1, 2})});
  EXPECT_THAT(eager[0].status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                          AllOf(HasSubstr("WhileLoop"), HasSubstr("float32[2]"))));
}

// A scalar resource for the assignment test.
class Box : public Resource {
 public:
  explicit Box(Tensor t) : value_(std::move(t)) {}
  Value Read() const override {
    Value v = Value::Constant(value_);
    v.node()->resource = self_.lock();
    return v;
  }
  absl::Status Write(const Tensor& t) override {
    value_ = t;
    return absl::OkStatus();
  }
  std::string name() const override { return "box"; }
  static std::shared_ptr<Box> Make(Tensor t) {
    auto b = std::make_shared<Box>(std::move(t));
    b->self_ = b;
    return b;
  }

 private:
  Tensor value_;
  std::weak_ptr<Box> self_;
};

TEST(ControlFlow, ATracedBranchThatAssignsAResourceIsRefusedNamingIt) {
  const std::shared_ptr<Box> box = Box::Make(*Tensor::FromVector<float>(Shape({2}), {1, 2}));
  const auto branchy = [&](const Value& x) {
    return Cond(
        Greater(SumAll(x), ScalarLike(SumAll(x), 0.0)),
        [&](absl::Span<const Value> v) {
          return std::vector<Value>{AssignResource(box, v[0])};
        },
        [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; }, {x});
  };
  absl::StatusOr<Graph> g =
      TraceGraph("assigning", {TensorSpec{DType::kFloat32, Shape({2})}},
                 [&](absl::Span<const Value> in) { return branchy(in[0]); });
  EXPECT_THAT(g.status(), StatusIs(absl::StatusCode::kUnimplemented,
                                   AllOf(HasSubstr("Cond"), HasSubstr("'box'"))));
  // Eagerly the assignment simply happens.
  const Value x = F32({3, 4});
  ASSERT_THAT(branchy(x)[0].status(), IsOk());
  EXPECT_THAT(box->Read().tensor(), BitwiseEquals(x.tensor()));
}

}  // namespace
}  // namespace concord::autodiff
