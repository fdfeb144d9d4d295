// Window arithmetic shared by Conv2D and the pooling kernels (TensorFlow's SAME/VALID rules).
// Kernels only.
//
//   const internal::Window1D w = internal::MakeWindow(/*in=*/5, /*taps=*/3, /*stride=*/2,
//                                                     /*dilation=*/1, Padding::kSame);
//   // w.out == 3, w.pad_before == 1
#ifndef CONCORD_ENGINE_INTERNAL_WINDOW_H_
#define CONCORD_ENGINE_INTERNAL_WINDOW_H_

#include <algorithm>
#include <array>
#include <cstdint>

#include "engine/conv.h"

namespace concord::engine::internal {

// Window1D: one spatial axis of a sliding window. Output position o reads input positions
// o * stride - pad_before + t * dilation for taps t in [0, taps), skipping those outside [0, in).
struct Window1D {
  int64_t in = 0;
  int64_t taps = 1;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t out = 0;
  int64_t pad_before = 0;

  int64_t span() const { return (taps - 1) * dilation + 1; }
  // First input position of output o (may be negative inside the padding).
  int64_t start(int64_t o) const { return o * stride - pad_before; }
};

// MakeWindow applies TensorFlow's rules (sizes must be positive; `out` may come out <= 0 for
// VALID, which callers reject):
//   VALID: out = ceil((in - span + 1) / stride), no padding;
//   SAME:  out = ceil(in / stride), pad_total = max((out - 1) * stride + span - in, 0),
//          pad_before = pad_total / 2 (the extra row or column, if odd, goes after).
inline Window1D MakeWindow(int64_t in, int64_t taps, int64_t stride, int64_t dilation,
                           Padding padding) {
  Window1D w;
  w.in = in;
  w.taps = taps;
  w.stride = stride;
  w.dilation = dilation;
  if (padding == Padding::kValid) {
    const int64_t room = in - w.span();
    w.out = room < 0 ? 0 : room / stride + 1;
    w.pad_before = 0;
  } else {
    w.out = (in + stride - 1) / stride;
    const int64_t pad_total = std::max<int64_t>((w.out - 1) * stride + w.span() - in, 0);
    w.pad_before = pad_total / 2;
  }
  return w;
}

// The range of outputs [first, last] whose window has a tap at input position i, for stride and
// taps without dilation (pooling). Empty when first > last.
inline void OutputsCovering(const Window1D& w, int64_t i, int64_t& first, int64_t& last) {
  // o covers i when start(o) <= i <= start(o) + taps - 1.
  const int64_t lo = i + w.pad_before - (w.taps - 1);  // smallest o * stride allowed
  first = lo <= 0 ? 0 : (lo + w.stride - 1) / w.stride;
  last = std::min<int64_t>(w.out - 1, (i + w.pad_before) / w.stride);
}

// ConvColumnBudget is the most elements Conv2D's im2col buffer holds at once (at least one output
// row, or one image for the input gradient, is always processed together); see Note [Conv2D as
// im2col + GEMM]. SetConvColumnBudgetForTesting changes it so tests reach the several-chunk path
// with small shapes, and returns the previous value.
int64_t ConvColumnBudget();
int64_t SetConvColumnBudgetForTesting(int64_t elements);

// MaxPool2DGradGeneralForTesting is MaxPool2DGrad through the general path only (argmax, then a
// gather), skipping the fused kernel for non-overlapping windows.
absl::StatusOr<Tensor> MaxPool2DGradGeneralForTesting(const Tensor& input,
                                                      const Tensor& output_grad,
                                                      std::array<int64_t, 2> ksize,
                                                      std::array<int64_t, 2> strides,
                                                      Padding padding);

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_WINDOW_H_
