#include "testing/grad_check.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/random.h"
#include "engine/status.h"

namespace concord::testing {
namespace {

using autodiff::GradientTape;
using autodiff::Value;
using engine::DType;
using engine::Tensor;

std::string IndexString(const engine::Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = shape.dim(d) == 0 ? 0 : flat % shape.dim(d);
    flat = shape.dim(d) == 0 ? 0 : flat / shape.dim(d);
  }
  return absl::StrCat("[", absl::StrJoin(index, ", "), "]");
}

absl::Status CheckInputs(absl::string_view who, absl::Span<const Tensor> inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || inputs[i].dtype() != DType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": input ", i, " is ", inputs[i].defined() ? inputs[i].ShapeString() : "undefined",
          "; finite differences need float64 inputs (Cast them)"));
    }
  }
  return absl::OkStatus();
}

// A fixed random tensor in [-1, 1) shaped like `like`, keyed by `key`.
Tensor Projection(const Tensor& like, uint64_t seed, uint64_t key) {
  return engine::RandomUniform(like.shape(), DType::kFloat64, {seed, key, 0}, -1.0, 1.0).value();
}

// s(x) = sum(fn(x) * v): the scalar whose gradient is checked. v is made on first use.
absl::StatusOr<Value> Projected(const DifferentiableFn& fn, absl::Span<const Value> xs, Tensor& v,
                                uint64_t seed) {
  return internal::Projected("GradCheck", fn(xs), v, seed);
}

// No NoGradScope here: GradGradCheck's fn runs a tape of its own, which a no-grad scope would
// silence (every numeric second derivative would read 0). The inputs are fresh constants that no
// tape watches, so nothing is recorded anyway.
absl::StatusOr<double> Evaluate(const DifferentiableFn& fn, const std::vector<Tensor>& xs,
                                Tensor& v, uint64_t seed) {
  std::vector<Value> values;
  for (const Tensor& x : xs) values.push_back(Value::Constant(x));
  absl::StatusOr<Value> s = Projected(fn, values, v, seed);
  if (!s.ok()) return s.status();
  return s->tensor().item<double>();
}

}  // namespace

absl::StatusOr<Value> internal::Projected(absl::string_view who, const Value& y, Tensor& v,
                                          uint64_t seed) {
  if (!y.ok()) return y.status();
  if (y.dtype() != DType::kFloat64) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": fn returned ", y.tensor().ShapeString(), "; expected float64"));
  }
  if (!v.defined()) v = Projection(y.tensor(), seed, 0x9E3779B9);
  const Value s = autodiff::SumAll(y * Value::Constant(v));
  if (!s.ok()) return s.status();
  return s;
}

// Note [Noisy finite differences]
// A central difference has a truncation error of about h^2 |f'''| / 6 and a rounding error of
// about eps |s| / h, and the second can be amplified far beyond that estimate: a
// BatchNormalization over a batch that is constant up to rounding divides ulp-sized differences
// by sqrt(epsilon), and two of them in a row turned the rounding of a layer's output into a
// "numeric gradient" of 2.2e-6 where the true one is exactly 0 (a campaign finding, 2026-12-06).
// So an element that fails the first comparison is measured again with steps 1.7h and 3.1h (not
// multiples of h, so that rounding to a grid cannot make all three err alike). For a smooth
// function the three estimates agree to within about 2 h^2 |f'''|, and a gradient rule that is
// wrong stays wrong against all three. When they disagree, rounding noise dominates them, and
// twice their largest disagreement is added to the tolerance: the comparison then asks only what
// finite differences can tell at that point, so an error smaller than the noise passes.
absl::Status internal::CompareWithFiniteDifferences(
    absl::string_view what, const Tensor& analytic, Tensor& point,
    const std::function<absl::StatusOr<double>()>& evaluate, const GradCheckOptions& options) {
  double* x = point.mutable_data<double>();
  for (int64_t k = 0; k < point.num_elements(); ++k) {
    const double original = x[k];
    const auto central = [&](double step) -> absl::StatusOr<double> {
      x[k] = original + step;
      absl::StatusOr<double> plus = evaluate();
      x[k] = original - step;
      absl::StatusOr<double> minus = evaluate();
      x[k] = original;
      if (!plus.ok()) return plus.status();
      if (!minus.ok()) return minus.status();
      return (*plus - *minus) / (2 * step);
    };
    CONCORD_ASSIGN_OR_RETURN(const double numeric, central(options.step));
    const double a = analytic.data<double>()[k];
    double tol = options.atol + options.rtol * std::abs(numeric);
    if (std::abs(a - numeric) <= tol) continue;
    CONCORD_ASSIGN_OR_RETURN(const double numeric2, central(1.7 * options.step));
    CONCORD_ASSIGN_OR_RETURN(const double numeric3, central(3.1 * options.step));
    const double noise = std::max(std::abs(numeric - numeric2), std::abs(numeric - numeric3));
    tol += 2 * noise;
    if (!(std::abs(a - numeric) <= tol)) {
      return absl::InternalError(absl::StrFormat(
          "%s element %s: analytic %.10g, numeric %.10g (|diff| %.3g > tolerance %.3g; estimates "
          "with steps 1.7h and 3.1h: %.10g, %.10g)",
          what, IndexString(point.shape(), k), a, numeric, std::abs(a - numeric), tol, numeric2,
          numeric3));
    }
  }
  return absl::OkStatus();
}

absl::Status GradCheck(const DifferentiableFn& fn, absl::Span<const Tensor> inputs,
                       const GradCheckOptions& options) {
  if (absl::Status s = CheckInputs("GradCheck", inputs); !s.ok()) return s;
  Tensor v;
  std::vector<Value> xs;
  std::vector<Tensor> analytic;
  {
    GradientTape tape;
    for (const Tensor& x : inputs) {
      xs.push_back(Value::Constant(x));
      tape.Watch(xs.back());
    }
    absl::StatusOr<Value> s = Projected(fn, xs, v, options.seed);
    if (!s.ok()) return s.status();
    absl::StatusOr<std::vector<Value>> grads =
        tape.Gradient(*s, xs, Value(), autodiff::UnconnectedGradients::kZero);
    if (!grads.ok()) return grads.status();
    for (const Value& g : *grads) analytic.push_back(g.tensor());
  }
  std::vector<Tensor> point(inputs.begin(), inputs.end());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (analytic[i].shape() != inputs[i].shape()) {
      return absl::InternalError(absl::StrCat("GradCheck: the gradient of input ", i, " is ",
                                              analytic[i].ShapeString(), ", expected ",
                                              inputs[i].ShapeString()));
    }
    point[i] = inputs[i].Clone();
    CONCORD_RETURN_IF_ERROR(internal::CompareWithFiniteDifferences(
        absl::StrCat("GradCheck: input ", i), analytic[i], point[i],
        [&] { return Evaluate(fn, point, v, options.seed); }, options));
    point[i] = inputs[i];
  }
  return absl::OkStatus();
}

absl::Status GradGradCheck(const DifferentiableFn& fn, absl::Span<const Tensor> inputs,
                           const GradCheckOptions& options) {
  if (absl::Status s = CheckInputs("GradGradCheck", inputs); !s.ok()) return s;
  std::vector<Tensor> us;
  for (size_t i = 0; i < inputs.size(); ++i) {
    us.push_back(Projection(inputs[i], options.seed, 1000 + i));
  }
  const uint64_t seed = options.seed;
  // g(x) = sum_i sum(d s / d x_i * u_i), with s the projected output of fn.
  const DifferentiableFn g = [fn, us, seed](absl::Span<const Value> xs) -> Value {
    GradientTape inner;
    for (const Value& x : xs) inner.Watch(x);
    Tensor v;
    absl::StatusOr<Value> s = Projected(fn, xs, v, seed);
    if (!s.ok()) return Value::Error(s.status());
    absl::StatusOr<std::vector<Value>> grads =
        inner.Gradient(*s, xs, Value(), autodiff::UnconnectedGradients::kZero);
    if (!grads.ok()) return Value::Error(grads.status());
    Value total = Value::Constant(Tensor::Scalar(0.0));
    for (size_t i = 0; i < grads->size(); ++i) {
      total = total + autodiff::SumAll((*grads)[i] * Value::Constant(us[i]));
    }
    return total;
  };
  GradCheckOptions second = options;
  second.rtol = std::max(options.rtol, 1e-4);
  second.atol = std::max(options.atol, 1e-6);
  absl::Status status = GradCheck(g, inputs, second);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("GradGradCheck (second order): ", status.message()));
  }
  return status;
}

}  // namespace concord::testing
