// 2-D convolution and pooling over NHWC images with HWIO filters (TensorFlow's layouts and its
// SAME/VALID padding arithmetic), with the gradient kernels autodiff's rules call.
//
//   CONCORD_ASSIGN_OR_RETURN(Tensor y, Conv2D(x, w, /*strides=*/{1, 1}, Padding::kSame));
//   CONCORD_ASSIGN_OR_RETURN(Tensor p, MaxPool2D(y, /*ksize=*/{2, 2}, {2, 2}, Padding::kValid));
//
// Padding (per spatial axis, with `span` = (taps - 1) * dilation + 1):
//   VALID: out = ceil((in - span + 1) / stride), no padding; an output size <= 0 is an error.
//   SAME:  out = ceil(in / stride); pad_total = max((out - 1) * stride + span - in, 0), of which
//          pad_total / 2 goes before and the rest after. Convolutions read zeros there; pooling
//          ignores padded positions (max over, and average over, the valid elements only).
//
// Every kernel takes floating tensors (float32 or float64), all of one dtype, and returns
// InvalidArgument naming the op and every shape involved for: an undefined input, a rank other
// than 4, non-positive strides/dilations/ksize, a filter whose input channels differ from the
// image's, an empty VALID output, a gradient whose shape is not the forward output's, or a dtype
// mismatch. Results are bitwise reproducible at a fixed thread count. Pooling, and convolutions
// whose O * KH * KW * C is at most 8192 (most small-CNN layers), are also bitwise independent of
// the thread count; bigger convolutions inherit OpenBLAS's dependence on it (Note [Conv2D as
// im2col + GEMM] in conv.cc).
#ifndef CONCORD_ENGINE_CONV_H_
#define CONCORD_ENGINE_CONV_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tensor.h"

namespace concord::engine {

// Padding chooses TensorFlow's padding rule (see the file comment).
enum class Padding { kSame, kValid };

// PaddingName returns "SAME" or "VALID".
absl::string_view PaddingName(Padding padding);

// Conv2D convolves (cross-correlates, as every framework does) `input` [N, H, W, C] with
// `filter` [KH, KW, C, O], giving [N, OH, OW, O]. strides and dilations are {height, width}.
absl::StatusOr<Tensor> Conv2D(const Tensor& input, const Tensor& filter,
                              std::array<int64_t, 2> strides, Padding padding,
                              std::array<int64_t, 2> dilations = {1, 1});

// Conv2DBiasRelu returns Relu(Conv2D(input, filter) + bias) with `bias` [O], bitwise, in one pass
// over the output (Note [Fused bias and ReLU] in conv.cc): the usual CNN layer.
absl::StatusOr<Tensor> Conv2DBiasRelu(const Tensor& input, const Tensor& filter,
                                      const Tensor& bias, std::array<int64_t, 2> strides,
                                      Padding padding, std::array<int64_t, 2> dilations = {1, 1});

// Conv2DBackpropInput returns the gradient of Conv2D with respect to its input: given the input's
// shape, the filter and `out_backprop` (shaped like Conv2D's output), a tensor of `input_shape`.
// It is the adjoint of Conv2D in its input: <Conv2D(x, w), g> == <x, Conv2DBackpropInput(g)>.
absl::StatusOr<Tensor> Conv2DBackpropInput(const Shape& input_shape, const Tensor& filter,
                                           const Tensor& out_backprop,
                                           std::array<int64_t, 2> strides, Padding padding,
                                           std::array<int64_t, 2> dilations = {1, 1});

// Conv2DBackpropFilter returns the gradient of Conv2D with respect to its filter, a tensor of
// `filter_shape`: <Conv2D(x, w), g> == <w, Conv2DBackpropFilter(x, g)>.
absl::StatusOr<Tensor> Conv2DBackpropFilter(const Tensor& input, const Shape& filter_shape,
                                            const Tensor& out_backprop,
                                            std::array<int64_t, 2> strides, Padding padding,
                                            std::array<int64_t, 2> dilations = {1, 1});

// MaxPool2D takes the maximum of each `ksize` window of `input` [N, H, W, C] per channel,
// giving [N, OH, OW, C]. A NaN in a window wins (the first one, in window order).
absl::StatusOr<Tensor> MaxPool2D(const Tensor& input, std::array<int64_t, 2> ksize,
                                 std::array<int64_t, 2> strides, Padding padding);

// MaxPool2DGrad returns the gradient of MaxPool2D with respect to `input`: each window's
// `output_grad` goes to the element MaxPool2D picked, the first maximum in window order (rows,
// then columns), so ties are routed deterministically; an element picked by several overlapping
// windows receives their sum.
absl::StatusOr<Tensor> MaxPool2DGrad(const Tensor& input, const Tensor& output_grad,
                                     std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                                     Padding padding);

// AvgPool2D averages each window over its valid elements (padding excluded, as in TensorFlow).
absl::StatusOr<Tensor> AvgPool2D(const Tensor& input, std::array<int64_t, 2> ksize,
                                 std::array<int64_t, 2> strides, Padding padding);

// AvgPool2DGrad returns the gradient of AvgPool2D for an input of `input_shape`: each window's
// `output_grad`, divided by the window's valid-element count, is added to those elements.
absl::StatusOr<Tensor> AvgPool2DGrad(const Shape& input_shape, const Tensor& output_grad,
                                     std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                                     Padding padding);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_CONV_H_
