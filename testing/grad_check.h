// Gradient checking: compare a function's tape gradients with central finite differences.
//
//   auto fn = [](absl::Span<const Value> x) { return MatMul(x[0], x[1]); };
//   EXPECT_THAT(GradCheck(fn, {a, b}), IsOk());        // a, b: float64 tensors
//   EXPECT_THAT(GradGradCheck(fn, {a, b}), IsOk());    // second order, through nested tapes
//
// Users check their own CustomGradient rules with these, so they are public API.
//
// How it works. fn's output y (any shape) is reduced to s = sum(y * v) with a fixed random
// projection v, so every output element takes part. The analytic gradient is the tape's
// d s / d x_i. The numeric one, per input element, is (s(x + h) - s(x - h)) / (2h), evaluated
// in float64. An element passes when |analytic - numeric| <= atol + rtol * |numeric|, or, when
// estimates with steps 1.7h and 3.1h disagree with it (rounding noise dominating them), within twice
// their disagreement more (Note [Noisy finite differences] in grad_check.cc). The first failing
// element is reported with its input, index and the estimates.
//
// GradGradCheck applies GradCheck to g(x) = sum_i sum(grad_i(x) * u_i), where grad_i comes from
// a tape nested inside GradCheck's own and u_i are fixed random tensors: it checks that
// gradient rules are themselves differentiable and correct.
#ifndef CONCORD_TESTING_GRAD_CHECK_H_
#define CONCORD_TESTING_GRAD_CHECK_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::testing {

struct GradCheckOptions {
  double step = 1e-6;  // h
  double rtol = 1e-5;
  double atol = 1e-7;
  uint64_t seed = 17;  // for the projections v and u
};

using DifferentiableFn = std::function<autodiff::Value(absl::Span<const autodiff::Value> inputs)>;

// GradCheck returns OK, or InvalidArgument for bad arguments (non-float64 inputs, fn failing), or
// Internal naming the first mismatching input element:
//   "GradCheck: input 1 element [2, 0]: analytic 0.5312, numeric 0.5401 (|diff| 0.0089 > tol ...)"
absl::Status GradCheck(const DifferentiableFn& fn, absl::Span<const engine::Tensor> inputs,
                       const GradCheckOptions& options = {});

// GradGradCheck checks second derivatives (see the file comment).
absl::Status GradGradCheck(const DifferentiableFn& fn, absl::Span<const engine::Tensor> inputs,
                           const GradCheckOptions& options = {});

namespace internal {

// The two halves of a check, shared with VariableGradCheck (testing/layer_grad_check.h).

// Projected is s = sum(y * v), the scalar whose gradient is checked; v is a fixed random tensor
// in [-1, 1) keyed by `seed`, made on first use. y's error, or InvalidArgument "<who>: fn
// returned ...; expected float64".
absl::StatusOr<autodiff::Value> Projected(absl::string_view who, const autodiff::Value& y,
                                          engine::Tensor& v, uint64_t seed);

// CompareWithFiniteDifferences checks `analytic` against (s(point + h) - s(point - h)) / (2h)
// element by element: it moves one float64 element of `point` at a time (restoring it after)
// and calls `evaluate` for s. Returns evaluate's first error, or Internal "<what> element
// [2, 0]: analytic ..., numeric ..." for the first mismatch.
absl::Status CompareWithFiniteDifferences(absl::string_view what, const engine::Tensor& analytic,
                                          engine::Tensor& point,
                                          const std::function<absl::StatusOr<double>()>& evaluate,
                                          const GradCheckOptions& options);

}  // namespace internal

}  // namespace concord::testing

#endif  // CONCORD_TESTING_GRAD_CHECK_H_
