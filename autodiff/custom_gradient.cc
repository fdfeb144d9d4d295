#include "autodiff/custom_gradient.h"

#include "absl/strings/str_cat.h"
#include "autodiff/attrs.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {

// What a Custom equation carries in its attributes: the backward, and the outputs the forward
// already computed (the Custom primitive's "kernel" just hands them over).
struct CustomGradientFn {
  CustomBackward backward;
  std::vector<engine::Tensor> outputs;
};

namespace {

absl::StatusOr<std::vector<TensorSpec>> CustomInfer(absl::Span<const TensorSpec>,
                                                    const Attrs& attrs) {
  if (attrs.custom == nullptr) return absl::InvalidArgumentError("Custom: no function attached");
  std::vector<TensorSpec> specs;
  for (const engine::Tensor& t : attrs.custom->outputs) specs.push_back(SpecOf(t));
  return specs;
}

absl::StatusOr<std::vector<engine::Tensor>> CustomForwardKernel(absl::Span<const engine::Tensor>,
                                                                const Attrs& attrs) {
  if (attrs.custom == nullptr) return absl::InvalidArgumentError("Custom: no function attached");
  return attrs.custom->outputs;
}

std::vector<Value> CustomGrad(const GradContext& ctx) {
  std::vector<Value> output_grads(ctx.output_grads.begin(), ctx.output_grads.end());
  for (size_t i = 0; i < output_grads.size(); ++i) {
    if (!output_grads[i].defined()) {
      output_grads[i] = Value::Constant(
          engine::Tensor::Zeros(ctx.output_specs[i].shape, ctx.output_specs[i].dtype));
    }
  }
  std::vector<Value> grads =
      ctx.attrs.custom->backward(CustomGradientContext{ctx.inputs, ctx.outputs, output_grads});
  if (grads.size() != ctx.inputs.size()) {
    return std::vector<Value>(
        ctx.inputs.size(),
        Value::Error(absl::InvalidArgumentError(absl::StrCat(
            "CustomGradient: backward returned ", grads.size(), " gradients for ",
            ctx.inputs.size(), " inputs"))));
  }
  return grads;
}

}  // namespace

namespace internal {

void RegisterStateOps(OpDef* table) {
  OpDef& def = table[static_cast<int>(Primitive::kCustom)];
  def.infer = &CustomInfer;
  def.forward = &CustomForwardKernel;
  def.grad = &CustomGrad;
}

}  // namespace internal

std::vector<Value> CustomGradient(const CustomForward& forward, const CustomBackward& backward,
                                  absl::Span<const Value> inputs) {
  std::vector<Value> outputs;
  {
    NoGradScope no_grad;
    outputs = forward(inputs);
  }
  if (outputs.empty()) {
    return {Value::Error(
        absl::InvalidArgumentError("CustomGradient: the forward returned no outputs"))};
  }
  auto fn = std::make_shared<CustomGradientFn>();
  fn->backward = backward;
  for (const Value& v : outputs) {
    if (!v.ok()) return std::vector<Value>(outputs.size(), v);
    fn->outputs.push_back(v.tensor());
  }
  Attrs attrs;
  attrs.custom = std::move(fn);
  return Dispatch(Primitive::kCustom, inputs, attrs);
}

}  // namespace concord::autodiff
