// CustomGradient: run a forward computation and give it your own gradient rule
// (tf.custom_gradient, torch.autograd.Function).
//
//   Value y = CustomGradient(
//       [](absl::Span<const Value> x) { return std::vector<Value>{Log(Exp(x[0]) + 1.0)}; },
//       [](const CustomGradientContext& c) { return std::vector<Value>{c.output_grads[0] * Sigmoid(c.inputs[0])}; },
//       {x})[0];
//
// The forward runs with no tape recording (its internals are invisible to gradients); the result
// is one Custom equation whose gradient rule is `backward`. Write `backward` with autodiff ops
// and it is differentiable too (gradients of gradients work). Check it with testing::GradCheck.
#ifndef CONCORD_AUTODIFF_CUSTOM_GRADIENT_H_
#define CONCORD_AUTODIFF_CUSTOM_GRADIENT_H_

#include <functional>
#include <vector>

#include "absl/types/span.h"
#include "autodiff/value.h"

namespace concord::autodiff {

struct CustomGradientContext {
  absl::Span<const Value> inputs;
  absl::Span<const Value> outputs;
  // output_grads[i] is zeros when output i received no gradient.
  absl::Span<const Value> output_grads;
};

using CustomForward = std::function<std::vector<Value>(absl::Span<const Value> inputs)>;
// Returns one gradient per input (an undefined Value means none).
using CustomBackward = std::function<std::vector<Value>(const CustomGradientContext& ctx)>;

// CustomGradient returns the forward's outputs (or values carrying its first error).
std::vector<Value> CustomGradient(const CustomForward& forward, const CustomBackward& backward,
                                  absl::Span<const Value> inputs);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_CUSTOM_GRADIENT_H_
