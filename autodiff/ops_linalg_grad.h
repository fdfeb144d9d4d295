// Gradient rules of the linalg family (private to //autodiff; see ops_linalg_grad.cc).
#ifndef CONCORD_AUTODIFF_OPS_LINALG_GRAD_H_
#define CONCORD_AUTODIFF_OPS_LINALG_GRAD_H_

#include <vector>

#include "autodiff/op_def.h"
#include "autodiff/value.h"

namespace concord::autodiff::internal {

std::vector<Value> MatMulGrad(const GradContext& ctx);
std::vector<Value> ContractLeadingGrad(const GradContext& ctx);
std::vector<Value> Conv2DGrad(const GradContext& ctx);
std::vector<Value> Conv2DBiasReluGrad(const GradContext& ctx);
std::vector<Value> Conv2DBiasReluGradBeforeRelu(const GradContext& ctx);  // given d pre-ReLU
std::vector<Value> Conv2DBackpropInputGrad(const GradContext& ctx);
std::vector<Value> Conv2DBackpropFilterGrad(const GradContext& ctx);
std::vector<Value> MaxPool2DGradRule(const GradContext& ctx);  // of MaxPool2D
std::vector<Value> MaxPool2DGradGrad(const GradContext& ctx);  // of MaxPool2DGrad
std::vector<Value> AvgPool2DGradRule(const GradContext& ctx);  // of AvgPool2D
std::vector<Value> AvgPool2DGradGrad(const GradContext& ctx);  // of AvgPool2DGrad

}  // namespace concord::autodiff::internal

#endif  // CONCORD_AUTODIFF_OPS_LINALG_GRAD_H_
