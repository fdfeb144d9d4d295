#include "engine/conv.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/internal/gemm.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/window.h"
#include "engine/threading.h"

// Note [Conv2D as im2col + GEMM]
// Conv2D gathers, for every output pixel (n, oh, ow), the KH x KW x C input values its filter
// reads into one row of a "column" matrix (im2col; zeros in the padding), in the filter's own
// (kh, kw, c) order, so an HWIO filter is already the [KH*KW*C, O] right-hand matrix and
// column x filter is the NHWC output. The gradients reuse the same pieces:
//   filter gradient = column^T x out_backprop      (one GEMM with transpose_a);
//   input gradient  = col2im(out_backprop x filter^T).
// col2im is written as a gather, not a scatter: each input pixel sums the column entries that
// were read from it in a fixed (kh, kw) order, so rows of the input gradient can be split across
// ParallelFor workers without races and without the split changing any bit. im2col only copies.
// The column matrix is built in chunks of ConvColumnBudget() elements (1 MiB of float32, about
// L2-sized: on the BM_Conv2D shape this is 1.5x faster than one 14 MiB matrix for the forward
// pass and 2x for the input gradient), which also bounds memory: forward and filter gradient
// chunk over output rows (n, oh), the input gradient over whole images (its gather needs every
// output row of an image). Chunking depends only on the shapes; the filter gradient accumulates
// the chunks' GEMMs into one result in chunk order. So the only thread-count dependence is
// OpenBLAS's (Note [MatMul through OpenBLAS] in matmul.cc).

namespace concord::engine {

namespace internal {
namespace {
std::atomic<int64_t> column_budget{int64_t{1} << 18};
}  // namespace

int64_t ConvColumnBudget() { return column_budget.load(std::memory_order_relaxed); }

int64_t SetConvColumnBudgetForTesting(int64_t elements) {
  return column_budget.exchange(std::max<int64_t>(elements, 1));
}

}  // namespace internal

absl::string_view PaddingName(Padding padding) {
  return padding == Padding::kSame ? "SAME" : "VALID";
}

namespace {

using internal::Window1D;

std::string Pair(std::array<int64_t, 2> v) { return absl::StrCat("[", v[0], ", ", v[1], "]"); }

bool FitsInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

// One convolution call, for validation and error messages.
struct ConvCall {
  absl::string_view op;
  std::string operands;  // "input float32[1, 5, 5, 3], filter float32[3, 3, 3, 8]"
  std::array<int64_t, 2> strides;
  Padding padding;
  std::array<int64_t, 2> dilations;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, ": ", operands, ", strides ", Pair(strides), ", padding ",
                     PaddingName(padding), ", dilations ", Pair(dilations)));
  }
};

struct ConvGeometry {
  int64_t batch = 0, in_c = 0, out_c = 0;
  Window1D h, w;

  int64_t patch() const { return h.taps * w.taps * in_c; }  // the GEMM's inner dimension
  int64_t rows_per_image() const { return h.out * w.out; }
  Shape input_shape() const { return Shape({batch, h.in, w.in, in_c}); }
  Shape output_shape() const { return Shape({batch, h.out, w.out, out_c}); }
};

absl::StatusOr<ConvGeometry> MakeConvGeometry(const ConvCall& call, const Shape& input,
                                              const Shape& filter) {
  if (input.rank() != 4) {
    return call.Error(absl::StrCat("input must have rank 4 (NHWC), not ", input.rank()));
  }
  if (filter.rank() != 4) {
    return call.Error(absl::StrCat("filter must have rank 4 (HWIO), not ", filter.rank()));
  }
  for (int i = 0; i < 2; ++i) {
    if (call.strides[i] <= 0 || call.dilations[i] <= 0 || !FitsInt(call.strides[i]) ||
        !FitsInt(call.dilations[i])) {
      return call.Error("strides and dilations must be positive (and below 2^31)");
    }
  }
  for (int d = 0; d < 4; ++d) {
    if (!FitsInt(input.dim(d)) || !FitsInt(filter.dim(d))) {
      return call.Error("dimensions above 2^31 - 1 are not supported");
    }
  }
  if (filter.dim(0) == 0 || filter.dim(1) == 0) {
    return call.Error("filter height and width must be positive");
  }
  if (filter.dim(2) != input.dim(3)) {
    return call.Error(absl::StrCat("input has ", input.dim(3), " channels but the filter expects ",
                                   filter.dim(2)));
  }
  ConvGeometry g;
  g.batch = input.dim(0);
  g.in_c = input.dim(3);
  g.out_c = filter.dim(3);
  g.h = internal::MakeWindow(input.dim(1), filter.dim(0), call.strides[0], call.dilations[0],
                             call.padding);
  g.w = internal::MakeWindow(input.dim(2), filter.dim(1), call.strides[1], call.dilations[1],
                             call.padding);
  if (call.padding == Padding::kValid && (g.h.out <= 0 || g.w.out <= 0)) {
    return call.Error(absl::StrCat("VALID padding leaves no output: the dilated filter is ",
                                   g.h.span(), "x", g.w.span(), " and the input ", g.h.in, "x",
                                   g.w.in));
  }
  if (g.h.taps * g.w.taps > INT_MAX / std::max<int64_t>(g.in_c, 1) ||
      !FitsInt(g.rows_per_image())) {
    return call.Error("the im2col matrix would exceed the 32-bit BLAS interface");
  }
  return g;
}

// Output rows (n, oh) per im2col chunk, and images per col2im chunk: as many as fit
// ConvColumnBudget(), at least one (see Note [Conv2D as im2col + GEMM]).
int64_t RowsPerChunk(const ConvGeometry& g) {
  const int64_t per_row = std::max<int64_t>(g.w.out * g.patch(), 1);
  int64_t rows = std::max<int64_t>(internal::ConvColumnBudget() / per_row, 1);
  rows = std::min<int64_t>(rows, INT_MAX / std::max<int64_t>(g.w.out, 1));
  return std::max<int64_t>(std::min(rows, g.batch * g.h.out), 1);
}

int64_t ImagesPerChunk(const ConvGeometry& g) {
  const int64_t per_image = std::max<int64_t>(g.rows_per_image() * g.patch(), 1);
  int64_t images = std::max<int64_t>(internal::ConvColumnBudget() / per_image, 1);
  images = std::min<int64_t>(images, INT_MAX / std::max<int64_t>(g.rows_per_image(), 1));
  return std::max<int64_t>(std::min(images, g.batch), 1);
}

// Im2Col fills col [rows * OW, patch] from output rows [first, first + rows) of the flattened
// (n, oh) range.
template <typename T>
void Im2Col(const ConvGeometry& g, const T* input, int64_t first, int64_t rows, T* col) {
  const int64_t c = g.in_c, k = g.patch();
  const int64_t image_size = g.h.in * g.w.in * c;
  ParallelFor(rows, g.w.out * k + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* image = input + ((first + r) / g.h.out) * image_size;
      const int64_t oh = (first + r) % g.h.out;
      T* dst = col + r * g.w.out * k;
      for (int64_t ow = 0; ow < g.w.out; ++ow) {
        for (int64_t kh = 0; kh < g.h.taps; ++kh) {
          const int64_t ih = g.h.start(oh) + kh * g.h.dilation;
          for (int64_t kw = 0; kw < g.w.taps; ++kw, dst += c) {
            const int64_t iw = g.w.start(ow) + kw * g.w.dilation;
            if (ih < 0 || ih >= g.h.in || iw < 0 || iw >= g.w.in) {
              std::fill(dst, dst + c, T(0));
            } else {
              const T* src = image + (ih * g.w.in + iw) * c;
              std::copy(src, src + c, dst);
            }
          }
        }
      }
    }
  });
}

// Col2Im sets images [first, first + images) of `input_grad` to the sums of the column-gradient
// entries read from each pixel, in (kh, kw) order (a gather: see Note [Conv2D as im2col + GEMM]).
template <typename T>
void Col2Im(const ConvGeometry& g, const T* col, int64_t first, int64_t images, T* input_grad) {
  const int64_t c = g.in_c, k = g.patch();
  ParallelFor(images * g.h.in, g.w.out * k + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t local_image = r / g.h.in, ih = r % g.h.in;
      T* dst = input_grad + ((first + local_image) * g.h.in + ih) * g.w.in * c;
      std::fill(dst, dst + g.w.in * c, T(0));
      for (int64_t kh = 0; kh < g.h.taps; ++kh) {
        // Output rows oh with start(oh) + kh * dilation == ih.
        const int64_t t = ih + g.h.pad_before - kh * g.h.dilation;
        if (t < 0 || t % g.h.stride != 0 || t / g.h.stride >= g.h.out) continue;
        const int64_t oh = t / g.h.stride;
        const T* col_row = col + (local_image * g.h.out + oh) * g.w.out * k;
        for (int64_t kw = 0; kw < g.w.taps; ++kw) {
          for (int64_t ow = 0; ow < g.w.out; ++ow) {
            const int64_t iw = g.w.start(ow) + kw * g.w.dilation;
            if (iw < 0 || iw >= g.w.in) continue;
            const T* src = col_row + ow * k + (kh * g.w.taps + kw) * c;
            T* out = dst + iw * c;
            for (int64_t ch = 0; ch < c; ++ch) out[ch] += src[ch];
          }
        }
      }
    }
  });
}

template <typename T>
void Conv2DForward(const ConvGeometry& g, const T* input, const T* filter, T* output) {
  const int64_t k = g.patch(), total = g.batch * g.h.out, chunk = RowsPerChunk(g);
  Tensor col = Tensor::Empty(Shape({chunk * g.w.out * k}), DTypeOf<T>());
  for (int64_t first = 0; first < total; first += chunk) {
    const int64_t rows = std::min(chunk, total - first);
    Im2Col(g, input, first, rows, col.mutable_data<T>());
    internal::Gemm(false, false, rows * g.w.out, g.out_c, k, col.data<T>(), k, filter, g.out_c,
                   /*accumulate=*/false, output + first * g.w.out * g.out_c, g.out_c);
  }
}

template <typename T>
void Conv2DInputGrad(const ConvGeometry& g, const T* filter, const T* out_grad, T* input_grad) {
  const int64_t k = g.patch(), rows = g.rows_per_image(), chunk = ImagesPerChunk(g);
  Tensor col = Tensor::Empty(Shape({chunk * rows * k}), DTypeOf<T>());
  for (int64_t first = 0; first < g.batch; first += chunk) {
    const int64_t images = std::min(chunk, g.batch - first);
    internal::Gemm(false, true, images * rows, k, g.out_c, out_grad + first * rows * g.out_c,
                   g.out_c, filter, g.out_c, /*accumulate=*/false, col.mutable_data<T>(), k);
    Col2Im(g, col.data<T>(), first, images, input_grad);
  }
}

template <typename T>
void Conv2DFilterGrad(const ConvGeometry& g, const T* input, const T* out_grad, T* filter_grad) {
  const int64_t k = g.patch(), total = g.batch * g.h.out, chunk = RowsPerChunk(g);
  Tensor col = Tensor::Empty(Shape({chunk * g.w.out * k}), DTypeOf<T>());
  for (int64_t first = 0; first < total; first += chunk) {
    const int64_t rows = std::min(chunk, total - first);
    Im2Col(g, input, first, rows, col.mutable_data<T>());
    internal::Gemm(true, false, k, g.out_c, rows * g.w.out, col.data<T>(), k,
                   out_grad + first * g.w.out * g.out_c, g.out_c, /*accumulate=*/first > 0,
                   filter_grad, g.out_c);
  }
}

absl::Status CheckFloatingPair(const ConvCall& call, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return call.Error("dtype mismatch");
  if (!IsFloating(a.dtype())) return call.Error("only float32 and float64 are supported");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> Conv2D(const Tensor& input, const Tensor& filter,
                              std::array<int64_t, 2> strides, Padding padding,
                              std::array<int64_t, 2> dilations) {
  constexpr absl::string_view kOp = "Conv2D";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, input, "input"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, filter, "filter"));
  const ConvCall call{
      kOp, absl::StrCat("input ", input.ShapeString(), ", filter ", filter.ShapeString()), strides,
      padding, dilations};
  CONCORD_RETURN_IF_ERROR(CheckFloatingPair(call, input, filter));
  CONCORD_ASSIGN_OR_RETURN(const ConvGeometry g,
                           MakeConvGeometry(call, input.shape(), filter.shape()));
  Tensor output = Tensor::Empty(g.output_shape(), input.dtype());
  if (output.num_elements() == 0) return output;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Conv2DForward<T>(g, input.data<T>(), filter.data<T>(), output.mutable_data<T>());
  });
  return output;
}

absl::StatusOr<Tensor> Conv2DBackpropInput(const Shape& input_shape, const Tensor& filter,
                                           const Tensor& out_backprop,
                                           std::array<int64_t, 2> strides, Padding padding,
                                           std::array<int64_t, 2> dilations) {
  constexpr absl::string_view kOp = "Conv2DBackpropInput";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, filter, "filter"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, out_backprop, "out_backprop"));
  const ConvCall call{
      kOp,
      absl::StrCat("input_shape ", input_shape.ToString(), ", filter ", filter.ShapeString(),
                   ", out_backprop ", out_backprop.ShapeString()),
      strides, padding, dilations};
  CONCORD_RETURN_IF_ERROR(CheckFloatingPair(call, filter, out_backprop));
  CONCORD_ASSIGN_OR_RETURN(const ConvGeometry g,
                           MakeConvGeometry(call, input_shape, filter.shape()));
  if (out_backprop.shape() != g.output_shape()) {
    return call.Error(
        absl::StrCat("out_backprop must have Conv2D's output shape ", g.output_shape().ToString()));
  }
  Tensor input_grad = Tensor::Empty(input_shape, filter.dtype());
  if (input_grad.num_elements() == 0) return input_grad;
  DispatchFloating(filter.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Conv2DInputGrad<T>(g, filter.data<T>(), out_backprop.data<T>(), input_grad.mutable_data<T>());
  });
  return input_grad;
}

absl::StatusOr<Tensor> Conv2DBackpropFilter(const Tensor& input, const Shape& filter_shape,
                                            const Tensor& out_backprop,
                                            std::array<int64_t, 2> strides, Padding padding,
                                            std::array<int64_t, 2> dilations) {
  constexpr absl::string_view kOp = "Conv2DBackpropFilter";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, input, "input"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, out_backprop, "out_backprop"));
  const ConvCall call{
      kOp,
      absl::StrCat("input ", input.ShapeString(), ", filter_shape ", filter_shape.ToString(),
                   ", out_backprop ", out_backprop.ShapeString()),
      strides, padding, dilations};
  CONCORD_RETURN_IF_ERROR(CheckFloatingPair(call, input, out_backprop));
  CONCORD_ASSIGN_OR_RETURN(const ConvGeometry g,
                           MakeConvGeometry(call, input.shape(), filter_shape));
  if (out_backprop.shape() != g.output_shape()) {
    return call.Error(
        absl::StrCat("out_backprop must have Conv2D's output shape ", g.output_shape().ToString()));
  }
  if (g.batch == 0 || g.rows_per_image() == 0) return Tensor::Zeros(filter_shape, input.dtype());
  Tensor filter_grad = Tensor::Empty(filter_shape, input.dtype());
  if (filter_grad.num_elements() == 0) return filter_grad;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Conv2DFilterGrad<T>(g, input.data<T>(), out_backprop.data<T>(), filter_grad.mutable_data<T>());
  });
  return filter_grad;
}

}  // namespace concord::engine
