#include "engine/conv.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

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
//
// Threads and determinism. OpenBLAS threads skinny GEMMs badly (a conv layer's GEMM has n = O,
// often 32 or 64: at 2 threads OpenBLAS ran the BM_Conv2D GEMM slower than at 1), so when it
// fits, the work is cut into tiles of output pixels whose GEMMs are small enough
// (pixels * O * patch <= kSingleThreadGemmFlops) for OpenBLAS to run them on the calling thread,
// and ParallelFor spreads the tiles: each tile is its own im2col + GEMM (forward), GEMM (input
// gradient, before col2im) or im2col + GEMM accumulating into one of kFilterGradBlocks partial
// filter gradients, which are summed in block order at the end. Tiles and blocks depend only on
// the shapes, so on this path Conv2D and both gradients are bitwise identical at any thread count
// (conv_test checks it). Layers too big for tiles of kMinTilePixels pixels take the unsplit path:
// im2col in chunks of ConvColumnBudget() elements (1 MiB of float32, about L2-sized: 1.5-2x faster
// than one big column matrix), one GEMM per chunk threaded by OpenBLAS, the filter gradient
// accumulated over chunks in order; there bits depend on the thread count as OpenBLAS's do
// (Note [MatMul through OpenBLAS] in matmul.cc), and are stable at a fixed count. The input
// gradient's column matrix is built a few whole images at a time (its gather needs every output
// row of an image).

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

// Pixels per parallel tile: the most output pixels whose GEMM (m * n * k = pixels * O * patch,
// for the forward pass and both gradients) OpenBLAS runs single-threaded, or 0 when fewer than
// kMinTilePixels fit (see Note [Conv2D as im2col + GEMM]).
constexpr int64_t kMinTilePixels = 32;

int64_t TilePixels(const ConvGeometry& g) {
  const int64_t per_pixel = std::max<int64_t>(g.out_c * g.patch(), 1);
  const int64_t pixels = internal::kSingleThreadGemmFlops / per_pixel;
  return pixels >= kMinTilePixels ? pixels : 0;
}

// Output pixels per im2col chunk, and images per col2im chunk, on the unsplit path: as many as
// fit ConvColumnBudget(), at least one.
int64_t PixelsPerChunk(const ConvGeometry& g) {
  int64_t pixels =
      std::max<int64_t>(internal::ConvColumnBudget() / std::max<int64_t>(g.patch(), 1), 1);
  return std::min<int64_t>(pixels, INT_MAX);
}

int64_t ImagesPerChunk(const ConvGeometry& g) {
  const int64_t per_image = std::max<int64_t>(g.rows_per_image() * g.patch(), 1);
  int64_t images = std::max<int64_t>(internal::ConvColumnBudget() / per_image, 1);
  images = std::min<int64_t>(images, INT_MAX / std::max<int64_t>(g.rows_per_image(), 1));
  return std::max<int64_t>(std::min(images, g.batch), 1);
}

// CopyRun and ZeroRun move short runs inline: im2col's runs are often a few elements (one tap
// of a 1-channel input is one float), where a libc memmove call per run cost more than the copy.
// conv's copts keep GCC from turning these loops back into calls
// (-fno-tree-loop-distribute-patterns); long runs call memcpy explicitly.
constexpr int64_t kLongRun = 64;

template <typename T>
inline void CopyRun(const T* __restrict src, int64_t n, T* __restrict dst) {
  if (n >= kLongRun) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  } else if (n >= 4) {
    // Whole groups of four, then the last four again (overlapping; the values are the same).
    for (int64_t i = 0; i + 4 <= n; i += 4) std::memcpy(dst + i, src + i, 4 * sizeof(T));
    std::memcpy(dst + n - 4, src + n - 4, 4 * sizeof(T));
  } else if (n >= 2) {
    std::memcpy(dst, src, 2 * sizeof(T));
    std::memcpy(dst + n - 2, src + n - 2, 2 * sizeof(T));
  } else if (n == 1) {
    dst[0] = src[0];
  }
}

// CopyRows copies `count` runs of n elements, from src + p * src_step to dst + p * dst_step,
// with the run length fixed at compile time for the shortest runs (3 for a 1-channel 3-wide
// filter).
template <int kN, typename T>
void CopyRowsOf(const T* src, int64_t src_step, T* dst, int64_t dst_step, int64_t count) {
  for (int64_t p = 0; p < count; ++p) {
    std::memcpy(dst + p * dst_step, src + p * src_step, kN * sizeof(T));
  }
}

template <typename T>
void CopyRows(const T* src, int64_t src_step, T* dst, int64_t dst_step, int64_t count, int64_t n) {
  switch (n) {
    case 1:
      return CopyRowsOf<1>(src, src_step, dst, dst_step, count);
    case 2:
      return CopyRowsOf<2>(src, src_step, dst, dst_step, count);
    case 3:
      return CopyRowsOf<3>(src, src_step, dst, dst_step, count);
    case 4:
      return CopyRowsOf<4>(src, src_step, dst, dst_step, count);
    default:
      for (int64_t p = 0; p < count; ++p) CopyRun(src + p * src_step, n, dst + p * dst_step);
  }
}

template <typename T>
inline void ZeroRun(T* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = T(0);
}

// AddRun: dst[i] += src[i] for i in [0, n); AddRunOf<kN> is AddRun with n = kN fixed at compile
// time, which GCC unrolls into whole vectors.
template <typename T>
inline void AddRun(const T* __restrict src, int64_t n, T* __restrict dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <int kN, typename T>
inline void AddRunOf(const T* __restrict src, T* __restrict dst) {
  for (int i = 0; i < kN; ++i) dst[i] += src[i];
}

// Im2Col fills col [count, patch] with the patches of output pixels [first, first + count) of the
// flattened (n, oh, ow) range, a run of pixels of one output row at a time, filter row by filter
// row. Without dilation along w, the valid taps of one filter row are adjacent in both the input
// (NHWC) and the column row, so each is one copy (between two runs of zeros at the edges; the
// interior pixels [ow_lo, ow_hi) need none and are copied in one CopyRows).
template <typename T>
void Im2Col(const ConvGeometry& g, const T* input, int64_t first, int64_t count, T* col) {
  const int64_t c = g.in_c, k = g.patch();
  ParallelFor(count, k + 1, [&g, input, first, col, c, k](int64_t begin, int64_t end) {
    const Window1D h = g.h, w = g.w;  // Locals: the stores to col cannot change them.
    const int64_t row = w.taps * c, per_image = h.out * w.out, image_size = h.in * w.in * c;
    int64_t ow_lo = 0, ow_hi = 0;  // Interior: every tap inside the input (dilation 1 only).
    if (w.dilation == 1) {
      ow_lo = std::min((w.pad_before + w.stride - 1) / w.stride, w.out);
      const int64_t room = w.in - w.taps + w.pad_before;
      ow_hi = std::clamp<int64_t>(room >= 0 ? room / w.stride + 1 : 0, ow_lo, w.out);
    }
    const int64_t pixel = first + begin;
    int64_t n = pixel / per_image, oh = pixel % per_image / w.out, ow = pixel % w.out;
    T* dst = col + begin * k;
    for (int64_t i = begin; i < end;) {
      const int64_t run = std::min(end - i, w.out - ow);  // Pixels (n, oh, ow .. ow + run - 1).
      const int64_t p_lo = std::clamp<int64_t>(ow_lo - ow, 0, run);
      const int64_t p_hi = std::clamp<int64_t>(ow_hi - ow, p_lo, run);
      const T* image = input + n * image_size;
      for (int64_t kh = 0; kh < h.taps; ++kh) {
        const int64_t ih = h.start(oh) + kh * h.dilation;
        T* d = dst + kh * row;
        if (ih < 0 || ih >= h.in) {
          for (int64_t p = 0; p < run; ++p) ZeroRun(d + p * k, row);
          continue;
        }
        const T* src_row = image + ih * w.in * c;
        // Pixel p of the run at the left or right edge: some taps in the padding.
        const auto edge = [&](int64_t p) {
          T* dp = d + p * k;
          const int64_t w_start = w.start(ow + p);
          if (w.dilation == 1) {
            // Valid taps [kw0, kw1).
            const int64_t kw0 = std::min(std::max<int64_t>(-w_start, 0), w.taps);
            const int64_t kw1 = std::max(std::min(w.in - w_start, w.taps), kw0);
            ZeroRun(dp, kw0 * c);
            CopyRun(src_row + (w_start + kw0) * c, (kw1 - kw0) * c, dp + kw0 * c);
            ZeroRun(dp + kw1 * c, (w.taps - kw1) * c);
            return;
          }
          for (int64_t kw = 0; kw < w.taps; ++kw) {
            const int64_t iw = w_start + kw * w.dilation;
            if (iw < 0 || iw >= w.in) {
              ZeroRun(dp + kw * c, c);
            } else {
              CopyRun(src_row + iw * c, c, dp + kw * c);
            }
          }
        };
        for (int64_t p = 0; p < p_lo; ++p) edge(p);
        if (p_hi > p_lo) {
          CopyRows(src_row + w.start(ow + p_lo) * c, w.stride * c, d + p_lo * k, k, p_hi - p_lo,
                   row);
        }
        for (int64_t p = p_hi; p < run; ++p) edge(p);
      }
      i += run;
      dst += run * k;
      ow += run;
      if (ow == w.out) {
        ow = 0;
        if (++oh == h.out) {
          oh = 0;
          ++n;
        }
      }
    }
  });
}

// Col2Im sets images [first, first + images) of `input_grad` to the sums of the column-gradient
// entries read from each pixel, in (kh, kw) order (a gather: see Note [Conv2D as im2col + GEMM]).
// Col2ImRows does rows [begin, end) of the flattened (image, ih) range; with kC > 0 the channel
// count is kC, fixed at compile time so each pixel's adds are whole vectors (the usual 8 to 64
// channels), and the adds are the same, in the same order.
template <int kC, typename T>
void Col2ImRows(const ConvGeometry& g, const T* col, int64_t first, T* input_grad, int64_t begin,
                int64_t end) {
  const int64_t c = kC > 0 ? kC : g.in_c, k = g.patch();
  const Window1D h = g.h, w = g.w;  // Locals: the stores to input_grad cannot change them.
  for (int64_t r = begin; r < end; ++r) {
    const int64_t local_image = r / h.in, ih = r % h.in;
    T* dst = input_grad + ((first + local_image) * h.in + ih) * w.in * c;
    std::fill(dst, dst + w.in * c, T(0));
    for (int64_t kh = 0; kh < h.taps; ++kh) {
      // Output rows oh with start(oh) + kh * dilation == ih.
      const int64_t t = ih + h.pad_before - kh * h.dilation;
      if (t < 0 || t % h.stride != 0 || t / h.stride >= h.out) continue;
      const int64_t oh = t / h.stride;
      const T* col_row = col + (local_image * h.out + oh) * w.out * k;
      for (int64_t kw = 0; kw < w.taps; ++kw) {
        // The outputs ow whose tap kw reads a column iw = ow * stride + offset inside [0,
        // in).
        const int64_t offset = kw * w.dilation - w.pad_before;
        const int64_t ow0 = offset >= 0 ? 0 : (-offset + w.stride - 1) / w.stride;
        const int64_t ow1 =
            w.in - 1 - offset < 0 ? 0 : std::min(w.out, (w.in - 1 - offset) / w.stride + 1);
        const T* src = col_row + (kh * w.taps + kw) * c;
        for (int64_t ow = ow0; ow < ow1; ++ow) {
          if constexpr (kC > 0) {
            AddRunOf<kC>(src + ow * k, dst + (ow * w.stride + offset) * c);
          } else {
            AddRun(src + ow * k, c, dst + (ow * w.stride + offset) * c);
          }
        }
      }
    }
  }
}

template <typename T>
void Col2Im(const ConvGeometry& g, const T* col, int64_t first, int64_t images, T* input_grad) {
  ParallelFor(images * g.h.in, g.w.out * g.patch() + 1,
              [&g, col, first, input_grad](int64_t begin, int64_t end) {
                switch (g.in_c) {
                  case 8:
                    return Col2ImRows<8>(g, col, first, input_grad, begin, end);
                  case 16:
                    return Col2ImRows<16>(g, col, first, input_grad, begin, end);
                  case 32:
                    return Col2ImRows<32>(g, col, first, input_grad, begin, end);
                  case 64:
                    return Col2ImRows<64>(g, col, first, input_grad, begin, end);
                  default:
                    return Col2ImRows<0>(g, col, first, input_grad, begin, end);
                }
              });
}

// Note [Small patches without BLAS]
// A layer whose patch (KH * KW * C) is tiny, like a first layer on a 1-channel image (3x3x1 = 9),
// makes GEMMs with an inner dimension of 9 (forward) or an output of 9 rows (filter gradient),
// which OpenBLAS runs at a third of its speed, mostly packing. For float32 patches of at most
// kDirectPatch elements and a multiple of 8 filters, on CPUs with AVX2, these two products run in
// the loops below instead, 8 filters to a vector register. Each output element is a sum in a
// fixed order, multiplies and adds separately rounded (no FMA): the forward pass sums over the
// patch in (kh, kw, c) order from +0; the filter gradient sums over the pixels in order,
// continuing a tile's sums from the previous tile's as Gemm's `accumulate` does. The bits
// therefore depend on the shapes and the tiles, never on the thread count; they differ from
// OpenBLAS's (which fuses multiply and add), and a CPU without AVX2 takes the GEMM, so, as with
// OpenBLAS's own per-CPU kernels, such a layer's bits are those of the CPU family.
constexpr int64_t kDirectPatch = 16;
constexpr int64_t kDirectFilters = 8;  // floats per AVX2 register

bool HasAvx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

template <typename T>
bool DirectPatch(int64_t k, int64_t o) {
  return std::is_same_v<T, float> && k <= kDirectPatch && o > 0 && o % kDirectFilters == 0 &&
         HasAvx2();
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CONCORD_DIRECT_PATCH 1
typedef float V8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) inline V8 LoadV8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

__attribute__((target("avx2"))) inline void StoreV8(V8 v, float* p) {
  std::memcpy(p, &v, sizeof(v));
}

// out[count, o] = col[count, k] x filter[k, o], four pixels at a time.
template <int kK>
__attribute__((target("avx2"))) void PatchTimesFilter(int64_t count, int64_t o,
                                                      const float* __restrict col,
                                                      const float* __restrict filter,
                                                      float* __restrict out) {
  constexpr int64_t k = kK;
  for (int64_t j = 0; j < o; j += kDirectFilters) {
    int64_t p = 0;
    for (; p + 4 <= count; p += 4) {
      const float* a = col + p * k;
      V8 acc0 = V8{}, acc1 = V8{}, acc2 = V8{}, acc3 = V8{};
#pragma GCC unroll 16
      for (int64_t t = 0; t < k; ++t) {
        const V8 b = LoadV8(filter + t * o + j);
        acc0 += a[t] * b;
        acc1 += a[k + t] * b;
        acc2 += a[2 * k + t] * b;
        acc3 += a[3 * k + t] * b;
      }
      StoreV8(acc0, out + p * o + j);
      StoreV8(acc1, out + (p + 1) * o + j);
      StoreV8(acc2, out + (p + 2) * o + j);
      StoreV8(acc3, out + (p + 3) * o + j);
    }
    for (; p < count; ++p) {
      V8 acc = V8{};
      for (int64_t t = 0; t < k; ++t) acc += col[p * k + t] * LoadV8(filter + t * o + j);
      StoreV8(acc, out + p * o + j);
    }
  }
}

// dw[k, o] (+)= col[count, k]^T x grad[count, o]; `accumulate` continues dw's sums.
template <int kK>
__attribute__((target("avx2"))) void PatchGradient(int64_t count, int64_t o,
                                                   const float* __restrict col,
                                                   const float* __restrict grad, bool accumulate,
                                                   float* __restrict dw) {
  constexpr int64_t k = kK;
  for (int64_t j = 0; j < o; j += kDirectFilters) {
    V8 acc[kK];
#pragma GCC unroll 16
    for (int64_t t = 0; t < k; ++t) acc[t] = accumulate ? LoadV8(dw + t * o + j) : V8{};
    for (int64_t p = 0; p < count; ++p) {
      const V8 g = LoadV8(grad + p * o + j);
      const float* a = col + p * k;
#pragma GCC unroll 16
      for (int64_t t = 0; t < k; ++t) acc[t] += a[t] * g;
    }
#pragma GCC unroll 16
    for (int64_t t = 0; t < k; ++t) StoreV8(acc[t], dw + t * o + j);
  }
}
// WithPatchSize calls fn(std::integral_constant<int, k>()) for kI <= k <= kDirectPatch, so the
// kernels above see the patch size at compile time and keep their sums in registers.
template <int kI = 1, typename Fn>
void WithPatchSize(int64_t k, Fn&& fn) {
  if (k == kI) {
    fn(std::integral_constant<int, kI>());
  } else if constexpr (kI < kDirectPatch) {
    WithPatchSize<kI + 1>(k, fn);
  }
}
#endif

// ColumnTimesFilter and ColumnGradient are the forward and filter-gradient products of
// Note [Conv2D as im2col + GEMM], through Note [Small patches without BLAS] when it applies.
template <typename T>
void ColumnTimesFilter(int64_t count, int64_t o, int64_t k, const T* col, const T* filter, T* out) {
#ifdef CONCORD_DIRECT_PATCH
  if constexpr (std::is_same_v<T, float>) {
    if (DirectPatch<T>(k, o)) {
      return WithPatchSize(
          k, [&](auto kk) { PatchTimesFilter<kk.value>(count, o, col, filter, out); });
    }
  }
#endif
  internal::Gemm(false, false, count, o, k, col, k, filter, o, /*accumulate=*/false, out, o);
}

template <typename T>
void ColumnGradient(int64_t count, int64_t o, int64_t k, const T* col, const T* grad,
                    bool accumulate, T* dw) {
#ifdef CONCORD_DIRECT_PATCH
  if constexpr (std::is_same_v<T, float>) {
    if (DirectPatch<T>(k, o)) {
      return WithPatchSize(
          k, [&](auto kk) { PatchGradient<kk.value>(count, o, col, grad, accumulate, dw); });
    }
  }
#endif
  internal::Gemm(true, false, k, o, count, col, k, grad, o, accumulate, dw, o);
}

// Note [Fused bias and ReLU]
// Conv2DBiasRelu(x, w, b) is Relu(Conv2D(x, w) + b) with the bias add and the ReLU applied to each
// tile of output rows right after its GEMM, while the tile is still in cache, instead of as two
// more passes over the whole output (Conv2D layers with a bias and a ReLU, the usual CNN layer:
// the two passes were 4.7% of the small CNN's training step). Each element gets the same two
// operations as Add then Relu: v = c + b[o] rounded once (no multiply, so nothing can fuse into an
// FMA), then v <= 0 ? +0 : v (Relu's rule: -0 and negatives become +0, NaN stays), so the bits are
// those of the unfused ops (conv_test checks it on every path: tiles, chunks, small patches).
template <typename T>
void AddBiasRelu(const T* __restrict bias, int64_t rows, int64_t o, T* __restrict out) {
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict row = out + r * o;
    for (int64_t j = 0; j < o; ++j) {
      const T v = row[j] + bias[j];
      row[j] = v <= T(0) ? T(0) : v;
    }
  }
}

// Conv2DForward writes Conv2D's output, or with a `bias`, Conv2DBiasRelu's (Note [Fused bias and
// ReLU]).
template <typename T>
void Conv2DForward(const ConvGeometry& g, const T* input, const T* filter, T* output,
                   const T* bias = nullptr) {
  const int64_t k = g.patch(), o = g.out_c, pixels = g.batch * g.rows_per_image();
  if (const int64_t tile = TilePixels(g); tile > 0) {
    // Tiles in parallel, each an im2col and a single-threaded GEMM.
    ParallelFor((pixels + tile - 1) / tile, tile * o * k, [&](int64_t begin, int64_t end) {
      Tensor col = Tensor::Empty(Shape({tile * k}), DTypeOf<T>());
      for (int64_t t = begin; t < end; ++t) {
        const int64_t first = t * tile, count = std::min(tile, pixels - first);
        Im2Col(g, input, first, count, col.mutable_data<T>());
        ColumnTimesFilter(count, o, k, col.data<T>(), filter, output + first * o);
        if (bias != nullptr) AddBiasRelu(bias, count, o, output + first * o);
      }
    });
    return;
  }
  const int64_t chunk = PixelsPerChunk(g);
  Tensor col = Tensor::Empty(Shape({std::min(chunk, pixels) * k}), DTypeOf<T>());
  for (int64_t first = 0; first < pixels; first += chunk) {
    const int64_t count = std::min(chunk, pixels - first);
    Im2Col(g, input, first, count, col.mutable_data<T>());
    ColumnTimesFilter(count, o, k, col.data<T>(), filter, output + first * o);
    if (bias != nullptr) {
      ParallelFor(count, o + 1, [&](int64_t begin, int64_t end) {
        AddBiasRelu(bias, end - begin, o, output + (first + begin) * o);
      });
    }
  }
}

template <typename T>
void Conv2DInputGrad(const ConvGeometry& g, const T* filter, const T* out_grad, T* input_grad) {
  const int64_t k = g.patch(), o = g.out_c, rows = g.rows_per_image(), chunk = ImagesPerChunk(g);
  const int64_t tile = TilePixels(g);
  Tensor col = Tensor::Empty(Shape({chunk * rows * k}), DTypeOf<T>());
  T* dcol = col.mutable_data<T>();
  for (int64_t first = 0; first < g.batch; first += chunk) {
    const int64_t images = std::min(chunk, g.batch - first), pixels = images * rows;
    const T* grad = out_grad + first * rows * o;
    if (tile > 0) {
      ParallelFor((pixels + tile - 1) / tile, tile * o * k, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t p = t * tile, count = std::min(tile, pixels - p);
          internal::Gemm(false, true, count, k, o, grad + p * o, o, filter, o,
                         /*accumulate=*/false, dcol + p * k, k);
        }
      });
    } else {
      internal::Gemm(false, true, pixels, k, o, grad, o, filter, o, /*accumulate=*/false, dcol, k);
    }
    Col2Im(g, col.data<T>(), first, images, input_grad);
  }
}

// Blocks of tiles whose filter-gradient partial sums are added in a fixed order at the end.
constexpr int64_t kFilterGradBlocks = 16;

template <typename T>
void Conv2DFilterGrad(const ConvGeometry& g, const T* input, const T* out_grad, T* filter_grad) {
  const int64_t k = g.patch(), o = g.out_c, pixels = g.batch * g.rows_per_image();
  if (const int64_t tile = TilePixels(g); tile > 0) {
    // Each block of tiles accumulates its own partial gradient; the blocks are a function of the
    // shape only, and are summed in block order, so the thread count changes no bit.
    const int64_t tiles = (pixels + tile - 1) / tile;
    const int64_t blocks = std::min(tiles, kFilterGradBlocks);
    Tensor partial = Tensor::Empty(Shape({blocks, k * o}), DTypeOf<T>());
    T* partial_data = partial.mutable_data<T>();
    ParallelFor(blocks, (tiles / blocks) * tile * o * k, [&](int64_t begin, int64_t end) {
      Tensor col = Tensor::Empty(Shape({tile * k}), DTypeOf<T>());
      for (int64_t b = begin; b < end; ++b) {
        const int64_t t0 = b * tiles / blocks, t1 = (b + 1) * tiles / blocks;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t first = t * tile, count = std::min(tile, pixels - first);
          Im2Col(g, input, first, count, col.mutable_data<T>());
          ColumnGradient(count, o, k, col.data<T>(), out_grad + first * o, /*accumulate=*/t > t0,
                         partial_data + b * k * o);
        }
      }
    });
    ParallelFor(k * o, blocks, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T sum = partial_data[i];
        for (int64_t b = 1; b < blocks; ++b) sum += partial_data[b * k * o + i];
        filter_grad[i] = sum;
      }
    });
    return;
  }
  const int64_t chunk = PixelsPerChunk(g);
  Tensor col = Tensor::Empty(Shape({std::min(chunk, pixels) * k}), DTypeOf<T>());
  for (int64_t first = 0; first < pixels; first += chunk) {
    const int64_t count = std::min(chunk, pixels - first);
    Im2Col(g, input, first, count, col.mutable_data<T>());
    ColumnGradient(count, o, k, col.data<T>(), out_grad + first * o, /*accumulate=*/first > 0,
                   filter_grad);
  }
}

absl::Status CheckFloatingPair(const ConvCall& call, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return call.Error("dtype mismatch");
  if (!IsFloating(a.dtype())) return call.Error("only float32 and float64 are supported");
  return absl::OkStatus();
}

}  // namespace

namespace {

// ForwardConv is Conv2D, or with a `bias`, Conv2DBiasRelu: the same checks in the same order, the
// bias's after the pair's dtype and the geometry's.
absl::StatusOr<Tensor> ForwardConv(absl::string_view op, const Tensor& input, const Tensor& filter,
                                   const Tensor* bias, std::array<int64_t, 2> strides,
                                   Padding padding, std::array<int64_t, 2> dilations) {
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, input, "input"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, filter, "filter"));
  if (bias != nullptr) CONCORD_RETURN_IF_ERROR(internal::CheckDefined(op, *bias, "bias"));
  std::string operands = absl::StrCat("input ", input.ShapeString(), ", filter ",
                                      filter.ShapeString());
  if (bias != nullptr) absl::StrAppend(&operands, ", bias ", bias->ShapeString());
  const ConvCall call{op, std::move(operands), strides, padding, dilations};
  CONCORD_RETURN_IF_ERROR(CheckFloatingPair(call, input, filter));
  if (bias != nullptr && bias->dtype() != input.dtype()) return call.Error("dtype mismatch");
  CONCORD_ASSIGN_OR_RETURN(const ConvGeometry g,
                           MakeConvGeometry(call, input.shape(), filter.shape()));
  if (bias != nullptr && bias->shape() != Shape({g.out_c})) {
    return call.Error(absl::StrCat("bias must have shape [", g.out_c, "], one per filter"));
  }
  Tensor output = Tensor::Empty(g.output_shape(), input.dtype());
  if (output.num_elements() == 0) return output;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Conv2DForward<T>(g, input.data<T>(), filter.data<T>(), output.mutable_data<T>(),
                     bias != nullptr ? bias->data<T>() : nullptr);
  });
  return output;
}

}  // namespace

absl::StatusOr<Tensor> Conv2D(const Tensor& input, const Tensor& filter,
                              std::array<int64_t, 2> strides, Padding padding,
                              std::array<int64_t, 2> dilations) {
  return ForwardConv("Conv2D", input, filter, nullptr, strides, padding, dilations);
}

absl::StatusOr<Tensor> Conv2DBiasRelu(const Tensor& input, const Tensor& filter,
                                      const Tensor& bias, std::array<int64_t, 2> strides,
                                      Padding padding, std::array<int64_t, 2> dilations) {
  return ForwardConv("Conv2DBiasRelu", input, filter, &bias, strides, padding, dilations);
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
