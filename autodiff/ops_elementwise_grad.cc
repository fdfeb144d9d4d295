// Gradient rules of the elementwise family, written only with autodiff ops so that backward
// passes can be taped again (higher-order gradients) and traced.
//
// Conventions, shared by every rule here:
//   - g is the output gradient; an undefined g means zero, and the rule returns no gradients.
//   - Binary ops broadcast, so each input's gradient is summed back to the input's shape
//     (ReduceTo); when the shapes already agree nothing is added to the tape.
//   - A rule computes only the gradients ctx.needs_grad asks for.
//   - Rules that need only shapes save neither inputs nor outputs (Add, Sub, Neg, Cast, Sign);
//     rules cheaper from the output use it (Exp, Sqrt, Rsqrt, Sigmoid, Tanh, Relu).
//
// Note [Gradients at kinks and ties]
// Where a function is not differentiable we pick one one-sided derivative and keep to it:
//   - Abs: sign(x), so 0 at x == 0. Relu: 1 where x > 0, else 0 (0 at x == 0).
//   - Maximum / Minimum: a tie (a == b) sends the whole gradient to a, none to b (a NaN operand
//     makes the comparison false, so the gradient goes to b).
//   - Pow: d/db = a^b log(a) is taken as 0 where a <= 0 (log is undefined there; TensorFlow does
//     the same), and the log is evaluated on a safe operand so that no NaN enters the gradient
//     and poisons second derivatives through Where.
#include <cmath>
#include <vector>

#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/mutation.h"

namespace concord::autodiff {
namespace {

using engine::Shape;

// ReduceTo sums a broadcast gradient back to `spec`'s shape (a no-op when the shapes agree).
// Over an unknown size (a shape-polymorphic trace), [?, C] and [1, C] agree at size 1 only: they
// are summed, which at size 1 drops a size-1 axis without arithmetic (engine::SumToShape), so the
// bits are those of the eager no-op, and the comparison reads no unknown size.
Value ReduceTo(const Value& g, const TensorSpec& spec) {
  if (!g.ok()) return g;
  const Shape& gs = g.shape();
  bool same = gs.rank() == spec.shape.rank();
  for (int d = 0; same && d < gs.rank(); ++d) same = gs.same_dim(d, spec.shape, d);
  return same ? g : SumToShape(g, spec.shape);
}

Value Zeros(const TensorSpec& spec) { return Full(spec, 0.0); }

// Unary rules: d/dx from the output gradient g.

std::vector<Value> NegGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {Neg(g)};
}

std::vector<Value> AbsGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {g * Sign(ctx.inputs[0])};
}

// Sign is piecewise constant: its gradient is zero (not "none", so the source is connected).
std::vector<Value> SignGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined()) return {Value()};
  return {Zeros(ctx.input_specs[0])};
}

// Relu: y > 0 exactly where x > 0, so the rule reads only the output. ReluGrad(y, g) is
// Where(y > 0, g, 0) fused into one kernel (same bits, no bool mask in between).
std::vector<Value> ReluGradRule(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {ReluGrad(ctx.outputs[0], g)};
}

// Relu given d pre-activation (OpDef::grad_before_relu): that is the input's gradient.
std::vector<Value> ReluGradBeforeRelu(const GradContext& ctx) { return {ctx.output_grads[0]}; }

// SubMul(x, y, s) = x - y * s: the rules of Sub and of Mul(y, s), composed, so the gradients have
// the bits the two ops' rules give.
std::vector<Value> SubMulGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return std::vector<Value>(3);
  std::vector<Value> out(3);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g, ctx.input_specs[0]);
  if (!ctx.needs_grad[1] && !ctx.needs_grad[2]) return out;
  const Value product_grad = Neg(g);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(product_grad * ctx.inputs[2], ctx.input_specs[1]);
  if (ctx.needs_grad[2]) out[2] = ReduceTo(product_grad * ctx.inputs[1], ctx.input_specs[2]);
  return out;
}

// ReluGrad(x, g) is linear in g: d/dg = ReluGrad(x, gg); x only selects, so it gets none (like
// Where's cond).
std::vector<Value> ReluGradGrad(const GradContext& ctx) {
  const Value& gg = ctx.output_grads[0];
  if (!gg.defined() || !ctx.needs_grad[1]) return {Value(), Value()};
  return {Value(), ReluGrad(ctx.inputs[0], gg)};
}

std::vector<Value> ExpGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {g * ctx.outputs[0]};
}

std::vector<Value> LogGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {g / ctx.inputs[0]};
}

// d sqrt(x) = 1 / (2 sqrt(x)).
std::vector<Value> SqrtGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {g / (ctx.outputs[0] * 2.0)};
}

// d x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3.
std::vector<Value> RsqrtGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  const Value& y = ctx.outputs[0];
  return {g * (y * y * y * -0.5)};
}

std::vector<Value> SigmoidGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  const Value& y = ctx.outputs[0];
  return {g * (y * (1.0 - y))};
}

std::vector<Value> TanhGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  const Value& y = ctx.outputs[0];
  return {g * (1.0 - y * y)};
}

// d softplus(x) = sigmoid(x).
std::vector<Value> SoftplusGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  return {g * Sigmoid(ctx.inputs[0])};
}

// Gelu. Exact form y = x Phi(x): dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi).
// There is no erf op, so Phi(x) is read back from the output as y / x (exact up to a rounding
// of y, since the kernel computes y as a product with x); at 0 it is 1/2 + x phi(x), and the
// divisor is made safe there so that no 0/0 reaches the gradient of the unselected branch.
// Tanh form y = x s, s = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) (the kernel's own
// formulation): dy/dx = s + x s (1 - s) d(2u)/dx, with d(2u)/dx = k1 + 3 k2 x^2.
std::vector<Value> GeluGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value()};
  const Value& x = ctx.inputs[0];
  if (ctx.attrs.approximate) {
    const double k1 = 2.0 * std::sqrt(2.0 / M_PI);
    const double k2 = k1 * 0.044715;
    const Value x2 = x * x;
    const Value s = Sigmoid(x * (k1 + k2 * x2));
    return {g * (s + x * (s * (1.0 - s)) * (k1 + (3.0 * k2) * x2))};
  }
  const Value& y = ctx.outputs[0];
  const Value pdf = Exp(x * x * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
  const Value at_zero = Equal(x, ScalarLike(x, 0.0));
  const Value safe_x = Where(at_zero, ScalarLike(x, 1.0), x);
  const Value x_pdf = x * pdf;
  // At 0, 1/2 + x phi(x) has Phi's value and slope, so second derivatives hold there too.
  const Value cdf = Where(at_zero, 0.5 + x_pdf, y / safe_x);
  // Planted bug: the product rule's second term forgotten, d(x Phi(x)) taken as Phi(x).
  if (mutation::Active(mutation::Mutant::kGeluGradMissesProductTerm)) return {g * cdf};
  return {g * (cdf + x_pdf)};
}

// Binary rules: one gradient per input, each reduced to the input's shape.

std::vector<Value> AddGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value()};
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g, ctx.input_specs[0]);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(g, ctx.input_specs[1]);
  return out;
}

std::vector<Value> SubGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value()};
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g, ctx.input_specs[0]);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(Neg(g), ctx.input_specs[1]);
  return out;
}

std::vector<Value> MulGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value()};
  const Value& a = ctx.inputs[0];
  const Value& b = ctx.inputs[1];
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g * b, ctx.input_specs[0]);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(g * a, ctx.input_specs[1]);
  return out;
}

// y = a / b: d/da = 1 / b, d/db = -a / b^2 = -(1 / b) y (no b^2, which could overflow).
std::vector<Value> DivGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value()};
  const Value g_over_b = g / ctx.inputs[1];
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g_over_b, ctx.input_specs[0]);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(Neg(g_over_b * ctx.outputs[0]), ctx.input_specs[1]);
  return out;
}

// y = a^b: d/da = b a^(b-1); d/db = a^b log(a), 0 where a <= 0 (Note [Gradients at kinks and
// ties]).
std::vector<Value> PowGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value()};
  const Value& a = ctx.inputs[0];
  const Value& b = ctx.inputs[1];
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(g * (b * Pow(a, b - 1.0)), ctx.input_specs[0]);
  if (ctx.needs_grad[1]) {
    const Value positive = Greater(a, ScalarLike(a, 0.0));
    const Value log_a =
        Where(positive, Log(Where(positive, a, ScalarLike(a, 1.0))), ScalarLike(a, 0.0));
    out[1] = ReduceTo(g * (ctx.outputs[0] * log_a), ctx.input_specs[1]);
  }
  return out;
}

// Maximum and Minimum route g to whichever input was selected; a tie picks a (Note [Gradients
// at kinks and ties]).
std::vector<Value> RouteGrad(const GradContext& ctx, const Value& a_selected) {
  const Value& g = ctx.output_grads[0];
  const Value zero = ScalarLike(g, 0.0);
  std::vector<Value> out(2);
  if (ctx.needs_grad[0]) out[0] = ReduceTo(Where(a_selected, g, zero), ctx.input_specs[0]);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(Where(a_selected, zero, g), ctx.input_specs[1]);
  return out;
}

std::vector<Value> MaximumGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined()) return {Value(), Value()};
  return RouteGrad(ctx, GreaterEqual(ctx.inputs[0], ctx.inputs[1]));
}

std::vector<Value> MinimumGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined()) return {Value(), Value()};
  return RouteGrad(ctx, LessEqual(ctx.inputs[0], ctx.inputs[1]));
}

// Where(cond, x, y): g goes to x where cond holds and to y elsewhere; cond gets none.
std::vector<Value> WhereGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return {Value(), Value(), Value()};
  const Value& cond = ctx.inputs[0];
  const Value zero = ScalarLike(g, 0.0);
  std::vector<Value> out(3);
  if (ctx.needs_grad[1]) out[1] = ReduceTo(Where(cond, g, zero), ctx.input_specs[1]);
  if (ctx.needs_grad[2]) out[2] = ReduceTo(Where(cond, zero, g), ctx.input_specs[2]);
  return out;
}

// Cast: between floating dtypes the gradient is cast back; through an integer or bool none flows.
std::vector<Value> CastGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  const engine::DType from = ctx.input_specs[0].dtype;
  const engine::DType to = ctx.output_specs[0].dtype;
  if (!g.defined() || !engine::IsFloating(from) || !engine::IsFloating(to)) return {Value()};
  if (from == to) return {g};
  return {Cast(g, from)};
}

void SetGrad(OpDef* table, Primitive p, GradFn grad, bool saves_inputs, bool saves_outputs) {
  OpDef& def = table[static_cast<int>(p)];
  def.grad = grad;
  def.saves_inputs = saves_inputs;
  def.saves_outputs = saves_outputs;
}

}  // namespace

namespace internal {

void RegisterElementwiseGrads(OpDef* table) {
  //                               rule          saves inputs, outputs
  SetGrad(table, Primitive::kNeg, NegGrad, false, false);
  SetGrad(table, Primitive::kAbs, AbsGrad, true, false);
  SetGrad(table, Primitive::kSign, SignGrad, false, false);
  SetGrad(table, Primitive::kRelu, ReluGradRule, false, true);
  table[static_cast<int>(Primitive::kRelu)].grad_before_relu = ReluGradBeforeRelu;
  SetGrad(table, Primitive::kExp, ExpGrad, false, true);
  SetGrad(table, Primitive::kLog, LogGrad, true, false);
  SetGrad(table, Primitive::kSqrt, SqrtGrad, false, true);
  SetGrad(table, Primitive::kRsqrt, RsqrtGrad, false, true);
  SetGrad(table, Primitive::kSigmoid, SigmoidGrad, false, true);
  SetGrad(table, Primitive::kTanh, TanhGrad, false, true);
  SetGrad(table, Primitive::kSoftplus, SoftplusGrad, true, false);
  SetGrad(table, Primitive::kGelu, GeluGrad, true, true);
  SetGrad(table, Primitive::kAdd, AddGrad, false, false);
  SetGrad(table, Primitive::kSub, SubGrad, false, false);
  SetGrad(table, Primitive::kMul, MulGrad, true, false);
  SetGrad(table, Primitive::kDiv, DivGrad, true, true);
  SetGrad(table, Primitive::kPow, PowGrad, true, true);
  SetGrad(table, Primitive::kMaximum, MaximumGrad, true, false);
  SetGrad(table, Primitive::kMinimum, MinimumGrad, true, false);
  SetGrad(table, Primitive::kWhere, WhereGrad, true, false);
  SetGrad(table, Primitive::kCast, CastGrad, false, false);
  SetGrad(table, Primitive::kReluGrad, ReluGradGrad, true, false);
  SetGrad(table, Primitive::kSubMul, SubMulGrad, true, false);
  // Not differentiable (grad stays nullptr, nothing saved): comparisons, logic, StopGradient.
  for (Primitive p :
       {Primitive::kEqual, Primitive::kNotEqual, Primitive::kLess, Primitive::kLessEqual,
        Primitive::kGreater, Primitive::kGreaterEqual, Primitive::kLogicalAnd,
        Primitive::kLogicalOr, Primitive::kLogicalNot, Primitive::kStopGradient}) {
    SetGrad(table, p, nullptr, false, false);
  }
}

}  // namespace internal
}  // namespace concord::autodiff
