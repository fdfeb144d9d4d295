// MaxPool2D, AvgPool2D and their gradients (declared in engine/conv.h).

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/conv.h"
#include "engine/internal/eigen.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/window.h"
#include "engine/threading.h"

// Note [Deterministic pooling]
// Forward kernels give each output element to exactly one ParallelFor range (rows n * OH + oh),
// and visit its window in a fixed order: rows, then columns. MaxPool keeps the first maximum in
// that order (a later equal value does not replace it; a NaN replaces a number, and the first NaN
// stays), AvgPool sums in that order and divides by the count of valid elements.
// The gradients are gathers, not scatters: each input row (n, ih) belongs to one range, and each
// input element sums the contributions of the windows covering it in ascending (oh, ow) order.
// When no two windows overlap (stride >= ksize, as in the usual 2x2 stride-2 pooling),
// MaxPool2DGrad instead runs one fused kernel by window rows: each input element then receives
// at most one window's gradient, which is written directly with the bits the gather would give
// (MaxGradDisjoint). Nothing depends on how ParallelFor splits the rows, so results are bitwise
// identical across runs and thread counts.

namespace concord::engine {
namespace {

using internal::Select;
using internal::Window1D;

std::string Pair(std::array<int64_t, 2> v) { return absl::StrCat("[", v[0], ", ", v[1], "]"); }

struct PoolCall {
  absl::string_view op;
  std::string operands;
  std::array<int64_t, 2> ksize;
  std::array<int64_t, 2> strides;
  Padding padding;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, ": ", operands, ", ksize ",
                                                   Pair(ksize), ", strides ", Pair(strides),
                                                   ", padding ", PaddingName(padding)));
  }
};

struct PoolGeometry {
  int64_t batch = 0, channels = 0;
  Window1D h, w;

  Shape output_shape() const { return Shape({batch, h.out, w.out, channels}); }
  // Valid input range [lo, hi) of output o's window along one axis.
  static void Valid(const Window1D& a, int64_t o, int64_t& lo, int64_t& hi) {
    lo = std::max<int64_t>(a.start(o), 0);
    hi = std::min<int64_t>(a.start(o) + a.taps, a.in);
  }
};

absl::StatusOr<PoolGeometry> MakePoolGeometry(const PoolCall& call, const Shape& input) {
  if (input.rank() != 4) {
    return call.Error(absl::StrCat("input must have rank 4 (NHWC), not ", input.rank()));
  }
  for (int i = 0; i < 2; ++i) {
    if (call.ksize[i] <= 0 || call.strides[i] <= 0 || call.ksize[i] > INT_MAX ||
        call.strides[i] > INT_MAX) {
      return call.Error("ksize and strides must be positive (and below 2^31)");
    }
  }
  PoolGeometry g;
  g.batch = input.dim(0);
  g.channels = input.dim(3);
  g.h = internal::MakeWindow(input.dim(1), call.ksize[0], call.strides[0], 1, call.padding);
  g.w = internal::MakeWindow(input.dim(2), call.ksize[1], call.strides[1], 1, call.padding);
  if (call.padding == Padding::kValid && (g.h.out <= 0 || g.w.out <= 0)) {
    return call.Error(absl::StrCat("VALID padding leaves no output: the window is ", g.h.taps, "x",
                                   g.w.taps, " and the input ", g.h.in, "x", g.w.in));
  }
  return g;
}

absl::Status CheckFloatingInput(const PoolCall& call, const Tensor& t) {
  if (!IsFloating(t.dtype())) return call.Error("only float32 and float64 are supported");
  return absl::OkStatus();
}

absl::Status CheckGradShape(const PoolCall& call, const PoolGeometry& g, const Tensor& grad) {
  if (grad.shape() == g.output_shape()) return absl::OkStatus();
  return call.Error(
      absl::StrCat("output_grad must have the pooled shape ", g.output_shape().ToString()));
}

// TakeMax keeps the first maximum: a later value replaces `best` only if it is larger, or a NaN
// replacing a number (Note [Deterministic pooling]). Branch-free so the loop vectorizes.
template <typename T>
inline bool Replaces(T best, T v) {
  // Non-short-circuit operators: random data would mispredict a branch half the time.
  return (v > best) | ((v != v) & (best == best));
}

template <typename T>
inline T TakeMax(T best, T v) {
  return Replaces(best, v) ? v : best;
}

// Replaces over packets of Eigen's SIMD width (SSE2: 4 floats, 2 doubles): all-ones lanes where
// `v` replaces `best`. The same comparisons as Replaces, so the same choices, NaN and -0
// included. The 2x2 kernels below are written with packets because GCC vectorized the scalar
// form poorly: 2x2 windows of 32 channels took 144 us forward and 277 us for the gradient
// (BM_MaxPool2D, BM_MaxPool2DGrad) where the packet forms take about 123 and 190 us.
namespace ei = Eigen::internal;
template <typename T>
using PacketOf = typename ei::packet_traits<T>::type;

template <typename P>
inline P ReplacesMask(const P& best, const P& v) {
  return ei::por(ei::pcmp_lt(best, v), ei::pandnot(ei::pcmp_eq(best, best), ei::pcmp_eq(v, v)));
}

// MaxPacket2x2 is the first maximum of a 2x2 window's four packets in tap order, and the
// replace masks of taps 1-3.
template <typename P>
struct MaxPacket2x2 {
  MaxPacket2x2(const P& v0, const P& v1, const P& v2, const P& v3) {
    r1 = ReplacesMask(v0, v1);
    best = ei::pselect(r1, v1, v0);
    r2 = ReplacesMask(best, v2);
    best = ei::pselect(r2, v2, best);
    r3 = ReplacesMask(best, v3);
    best = ei::pselect(r3, v3, best);
  }
  P best, r1, r2, r3;
};

// MaxForward writes each window's first maximum to `out` and, with kArgmax, its position
// ih * W + iw within the image to `argmax`.
template <typename T, bool kArgmax>
void MaxForward(const PoolGeometry& g, const T* input, T* out, int64_t* argmax) {
  const int64_t c = g.channels, image_size = g.h.in * g.w.in * c;
  ParallelFor(g.batch * g.h.out, g.w.out * g.h.taps * g.w.taps * c + 1,
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  const T* image = input + (r / g.h.out) * image_size;
                  int64_t h0, h1;
                  PoolGeometry::Valid(g.h, r % g.h.out, h0, h1);
                  for (int64_t ow = 0; ow < g.w.out; ++ow) {
                    int64_t w0, w1;
                    PoolGeometry::Valid(g.w, ow, w0, w1);
                    CONCORD_DCHECK(h0 < h1 && w0 < w1);
                    T* __restrict best = out + (r * g.w.out + ow) * c;
                    int64_t* __restrict where = kArgmax ? argmax + (r * g.w.out + ow) * c : nullptr;
                    const T* first = image + (h0 * g.w.in + w0) * c;
                    if (!kArgmax && h1 - h0 == 2 && w1 - w0 == 2) {
                      // A whole 2x2 window, in packets then one channel at a time: the same
                      // order, the same bits.
                      const T* __restrict v0 = first;
                      const T* __restrict v1 = first + c;
                      const T* __restrict v2 = first + g.w.in * c;
                      const T* __restrict v3 = v2 + c;
                      using P = PacketOf<T>;
                      constexpr int64_t kLanes = ei::unpacket_traits<P>::size;
                      int64_t ch = 0;
                      for (; ch + kLanes <= c; ch += kLanes) {
                        ei::pstoreu(best + ch,
                                    MaxPacket2x2<P>(ei::ploadu<P>(v0 + ch), ei::ploadu<P>(v1 + ch),
                                                    ei::ploadu<P>(v2 + ch), ei::ploadu<P>(v3 + ch))
                                        .best);
                      }
                      for (; ch < c; ++ch) {
                        T m = v0[ch];
                        m = Select(Replaces(m, v1[ch]), v1[ch], m);
                        m = Select(Replaces(m, v2[ch]), v2[ch], m);
                        best[ch] = Select(Replaces(m, v3[ch]), v3[ch], m);
                      }
                      continue;
                    }
                    std::copy(first, first + c, best);
                    if (kArgmax) std::fill(where, where + c, h0 * g.w.in + w0);
                    for (int64_t ih = h0; ih < h1; ++ih) {
                      for (int64_t iw = ih == h0 ? w0 + 1 : w0; iw < w1; ++iw) {
                        const T* __restrict v = image + (ih * g.w.in + iw) * c;
                        if (kArgmax) {
                          const int64_t pos = ih * g.w.in + iw;
                          for (int64_t ch = 0; ch < c; ++ch) {
                            const bool replace = Replaces(best[ch], v[ch]);
                            best[ch] = Select(replace, v[ch], best[ch]);
                            where[ch] = Select(replace, pos, where[ch]);
                          }
                        } else {
                          for (int64_t ch = 0; ch < c; ++ch) best[ch] = TakeMax(best[ch], v[ch]);
                        }
                      }
                    }
                  }
                }
              });
}

template <typename T>
void MaxBackward(const PoolGeometry& g, const int64_t* argmax, const T* grad, T* input_grad) {
  const int64_t c = g.channels;
  ParallelFor(g.batch * g.h.in, g.w.out * g.h.taps * c + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.h.in, ih = r % g.h.in;
      T* dst = input_grad + r * g.w.in * c;
      std::fill(dst, dst + g.w.in * c, T(0));
      int64_t oh0, oh1;
      internal::OutputsCovering(g.h, ih, oh0, oh1);
      const int64_t row_start = ih * g.w.in;
      for (int64_t oh = oh0; oh <= oh1; ++oh) {
        const int64_t base = ((n * g.h.out + oh) * g.w.out) * c;
        for (int64_t ow = 0; ow < g.w.out; ++ow) {
          const int64_t* pos = argmax + base + ow * c;
          const T* src = grad + base + ow * c;
          for (int64_t ch = 0; ch < c; ++ch) {
            // Branch-free: a window whose maximum lies in another row adds +0 to column 0, which
            // changes no bit (dst starts at +0 and a sum never becomes -0; NaN and inf absorb
            // it). Data-dependent branches here mispredicted half the time.
            const uint64_t iw = static_cast<uint64_t>(pos[ch] - row_start);
            const bool here = iw < static_cast<uint64_t>(g.w.in);
            dst[Select<int64_t>(here, static_cast<int64_t>(iw), 0) * c + ch] +=
                Select(here, src[ch], T(0));
          }
        }
      }
    }
  });
}

// Disjoint reports whether no two windows share an input element (stride >= taps on both axes).
// Then MaxPool2DGrad needs no gather: see MaxGradDisjoint.
bool Disjoint(const PoolGeometry& g) {
  return g.h.stride >= g.h.taps && g.w.stride >= g.w.taps &&
         g.h.taps * g.w.taps <= INT32_MAX;  // MaxGradWindow's tap numbers fit int32.
}

// Covers1D: along this axis the windows tile [0, in) exactly (each position in exactly one).
bool Covers1D(const internal::Window1D& a) {
  return a.stride == a.taps && a.pad_before == 0 && a.out * a.stride >= a.in;
}

// MaxGradWindow handles kC channels of one window for MaxGradDisjoint: `in` and `out` point at
// the window's first element (channel ch0) in the input and the input gradient, `src` at the
// window's output gradient; pixels are `c` elements apart and rows `row_stride`. It finds each
// channel's first maximum in (row, column) order with Replaces, remembering its tap number, then
// writes T(0) + gradient at that tap and +0 at the others. kC is a compile-time count so that
// `best` and `where` stay in vector registers.
template <int kC, typename T>
inline void MaxGradWindow(const T* __restrict in, const T* __restrict src, int64_t rows,
                          int64_t cols, int64_t c, int64_t row_stride, T* __restrict out) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;  // As wide as T.
  T best[kC];
  I where[kC];
  for (int ch = 0; ch < kC; ++ch) {
    best[ch] = in[ch];
    where[ch] = 0;
  }
  I tap = 0;
  for (int64_t ih = 0; ih < rows; ++ih) {
    for (int64_t iw = 0; iw < cols; ++iw, ++tap) {
      if (tap == 0) continue;
      const T* v = in + ih * row_stride + iw * c;
      for (int ch = 0; ch < kC; ++ch) {
        const bool replace = Replaces(best[ch], v[ch]);
        best[ch] = Select(replace, v[ch], best[ch]);
        where[ch] = Select(replace, tap, where[ch]);
      }
    }
  }
  T grad[kC];
  for (int ch = 0; ch < kC; ++ch) grad[ch] = T(0) + src[ch];
  tap = 0;
  for (int64_t ih = 0; ih < rows; ++ih) {
    for (int64_t iw = 0; iw < cols; ++iw, ++tap) {
      T* dst = out + ih * row_stride + iw * c;
      for (int ch = 0; ch < kC; ++ch) dst[ch] = Select(where[ch] == tap, grad[ch], T(0));
    }
  }
}

// MaxGradWindow2x2 is MaxGradWindow<kC> for a whole 2x2 window, in packets: the same taps in the
// same order (0: top left, 1: top right, 2: bottom left, 3: bottom right) and the same Replaces
// rule, so the same first maximum; the tap that won gets T(0) + gradient (the last tap whose mask
// is set), the others +0 (all-zero bits from the mask).
template <int kC, typename T>
inline void MaxGradWindow2x2(const T* __restrict in, const T* __restrict src, int64_t c,
                             int64_t row_stride, T* __restrict out) {
  using P = PacketOf<T>;
  constexpr int kLanes = ei::unpacket_traits<P>::size;
  static_assert(kC % kLanes == 0, "whole packets per chunk");
  const T* v2 = in + row_stride;
  T* d2 = out + row_stride;
  const P zero = ei::pzero(P());
  for (int ch = 0; ch < kC; ch += kLanes) {
    const MaxPacket2x2<P> m(ei::ploadu<P>(in + ch), ei::ploadu<P>(in + c + ch),
                            ei::ploadu<P>(v2 + ch), ei::ploadu<P>(v2 + c + ch));
    const P grad = ei::padd(zero, ei::ploadu<P>(src + ch));
    const P later2 = m.r3, later1 = ei::por(m.r2, m.r3);
    ei::pstoreu(out + ch, ei::pandnot(grad, ei::por(m.r1, later1)));
    ei::pstoreu(out + c + ch, ei::pand(ei::pandnot(m.r1, later1), grad));
    ei::pstoreu(d2 + ch, ei::pand(ei::pandnot(m.r2, later2), grad));
    ei::pstoreu(d2 + c + ch, ei::pand(m.r3, grad));
  }
}

// MaxGradDisjoint is MaxForward<T, true> followed by MaxBackward, fused, for Disjoint windows.
// Each input element lies in at most one window, so MaxBackward's sum is +0 plus that window's
// gradient if the element is the window's first maximum, else +0 (the extra +0 terms change no
// bit, as there). This writes T(0) + gradient or +0 directly, from each window's first maximum
// found in the same order with the same Replaces rule, so the bits are MaxBackward's.
template <typename T>
void MaxGradDisjoint(const PoolGeometry& g, const T* input, const T* grad, T* input_grad) {
  constexpr int kChunk = 8;  // Channels per MaxGradWindow call; the rest one at a time.
  const int64_t c = g.channels, row_size = g.w.in * c, image_size = g.h.in * row_size;
  const bool covered = Covers1D(g.h) && Covers1D(g.w);
  ParallelFor(g.batch * g.h.out, g.w.out * g.h.taps * g.w.taps * c + 1,
              [&](int64_t begin, int64_t end) {
                const internal::Window1D h = g.h, w = g.w;
                for (int64_t r = begin; r < end; ++r) {
                  const int64_t n = r / h.out, oh = r % h.out;
                  const T* image = input + n * image_size;
                  T* image_grad = input_grad + n * image_size;
                  if (!covered) {
                    // The rows between this window row's start and the next one's belong to this
                    // range; zero them, then write the windows over them.
                    const int64_t b0 = oh == 0 ? 0 : std::clamp<int64_t>(h.start(oh), 0, h.in);
                    const int64_t b1 =
                        oh == h.out - 1 ? h.in : std::clamp<int64_t>(h.start(oh + 1), 0, h.in);
                    std::fill(image_grad + b0 * row_size, image_grad + b1 * row_size, T(0));
                  }
                  int64_t h0, h1;
                  PoolGeometry::Valid(h, oh, h0, h1);
                  for (int64_t ow = 0; ow < w.out; ++ow) {
                    int64_t w0, w1;
                    PoolGeometry::Valid(w, ow, w0, w1);
                    CONCORD_DCHECK(h0 < h1 && w0 < w1);
                    const int64_t at = (h0 * w.in + w0) * c;
                    const T* src = grad + (r * w.out + ow) * c;
                    int64_t ch = 0;
                    if (h1 - h0 == 2 && w1 - w0 == 2) {
                      for (; ch + kChunk <= c; ch += kChunk) {
                        MaxGradWindow2x2<kChunk>(image + at + ch, src + ch, c, row_size,
                                                 image_grad + at + ch);
                      }
                    }
                    for (; ch + kChunk <= c; ch += kChunk) {
                      MaxGradWindow<kChunk>(image + at + ch, src + ch, h1 - h0, w1 - w0, c,
                                            row_size, image_grad + at + ch);
                    }
                    for (; ch < c; ++ch) {
                      MaxGradWindow<1>(image + at + ch, src + ch, h1 - h0, w1 - w0, c, row_size,
                                       image_grad + at + ch);
                    }
                  }
                }
              });
}

template <typename T>
void AvgForward(const PoolGeometry& g, const T* input, T* out) {
  const int64_t c = g.channels, image_size = g.h.in * g.w.in * c;
  ParallelFor(g.batch * g.h.out, g.w.out * g.h.taps * g.w.taps * c + 1,
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  const T* image = input + (r / g.h.out) * image_size;
                  int64_t h0, h1;
                  PoolGeometry::Valid(g.h, r % g.h.out, h0, h1);
                  for (int64_t ow = 0; ow < g.w.out; ++ow) {
                    int64_t w0, w1;
                    PoolGeometry::Valid(g.w, ow, w0, w1);
                    T* sum = out + (r * g.w.out + ow) * c;
                    std::fill(sum, sum + c, T(0));
                    for (int64_t ih = h0; ih < h1; ++ih) {
                      for (int64_t iw = w0; iw < w1; ++iw) {
                        const T* v = image + (ih * g.w.in + iw) * c;
                        for (int64_t ch = 0; ch < c; ++ch) sum[ch] += v[ch];
                      }
                    }
                    const T count = static_cast<T>((h1 - h0) * (w1 - w0));
                    for (int64_t ch = 0; ch < c; ++ch) sum[ch] /= count;
                  }
                }
              });
}

template <typename T>
void AvgBackward(const PoolGeometry& g, const T* grad, T* input_grad) {
  const int64_t c = g.channels;
  ParallelFor(g.batch * g.h.in, g.w.out * g.w.taps * c + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.h.in, ih = r % g.h.in;
      T* dst = input_grad + r * g.w.in * c;
      std::fill(dst, dst + g.w.in * c, T(0));
      int64_t oh0, oh1;
      internal::OutputsCovering(g.h, ih, oh0, oh1);
      for (int64_t oh = oh0; oh <= oh1; ++oh) {
        int64_t h0, h1;
        PoolGeometry::Valid(g.h, oh, h0, h1);
        for (int64_t ow = 0; ow < g.w.out; ++ow) {
          int64_t w0, w1;
          PoolGeometry::Valid(g.w, ow, w0, w1);
          const T count = static_cast<T>((h1 - h0) * (w1 - w0));
          const T* src = grad + ((n * g.h.out + oh) * g.w.out + ow) * c;
          for (int64_t iw = w0; iw < w1; ++iw) {
            for (int64_t ch = 0; ch < c; ++ch) dst[iw * c + ch] += src[ch] / count;
          }
        }
      }
    }
  });
}

enum class MaxGradPath { kFastest, kGeneral };

absl::StatusOr<Tensor> MaxPool2DGradImpl(const Tensor& input, const Tensor& output_grad,
                                         std::array<int64_t, 2> ksize,
                                         std::array<int64_t, 2> strides, Padding padding,
                                         MaxGradPath path) {
  constexpr absl::string_view kOp = "MaxPool2DGrad";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, input, "input"));
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, output_grad, "output_grad"));
  const PoolCall call{
      kOp, absl::StrCat("input ", input.ShapeString(), ", output_grad ", output_grad.ShapeString()),
      ksize, strides, padding};
  CONCORD_RETURN_IF_ERROR(CheckFloatingInput(call, input));
  if (output_grad.dtype() != input.dtype()) return call.Error("dtype mismatch");
  CONCORD_ASSIGN_OR_RETURN(const PoolGeometry g, MakePoolGeometry(call, input.shape()));
  CONCORD_RETURN_IF_ERROR(CheckGradShape(call, g, output_grad));
  Tensor input_grad = Tensor::Empty(input.shape(), input.dtype());
  if (input_grad.num_elements() == 0) return input_grad;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (path == MaxGradPath::kFastest && Disjoint(g)) {
      MaxGradDisjoint<T>(g, input.data<T>(), output_grad.data<T>(), input_grad.mutable_data<T>());
      return;
    }
    Tensor pooled = Tensor::Empty(g.output_shape(), input.dtype());
    std::vector<int64_t> argmax(static_cast<size_t>(pooled.num_elements()));
    MaxForward<T, true>(g, input.data<T>(), pooled.mutable_data<T>(), argmax.data());
    MaxBackward<T>(g, argmax.data(), output_grad.data<T>(), input_grad.mutable_data<T>());
  });
  return input_grad;
}

}  // namespace

absl::StatusOr<Tensor> MaxPool2D(const Tensor& input, std::array<int64_t, 2> ksize,
                                 std::array<int64_t, 2> strides, Padding padding) {
  constexpr absl::string_view kOp = "MaxPool2D";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, input, "input"));
  const PoolCall call{kOp, absl::StrCat("input ", input.ShapeString()), ksize, strides, padding};
  CONCORD_RETURN_IF_ERROR(CheckFloatingInput(call, input));
  CONCORD_ASSIGN_OR_RETURN(const PoolGeometry g, MakePoolGeometry(call, input.shape()));
  Tensor out = Tensor::Empty(g.output_shape(), input.dtype());
  if (out.num_elements() == 0) return out;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    MaxForward<T, false>(g, input.data<T>(), out.mutable_data<T>(), nullptr);
  });
  return out;
}

absl::StatusOr<Tensor> MaxPool2DGrad(const Tensor& input, const Tensor& output_grad,
                                     std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                                     Padding padding) {
  return MaxPool2DGradImpl(input, output_grad, ksize, strides, padding, MaxGradPath::kFastest);
}

namespace internal {

absl::StatusOr<Tensor> MaxPool2DGradGeneralForTesting(const Tensor& input,
                                                      const Tensor& output_grad,
                                                      std::array<int64_t, 2> ksize,
                                                      std::array<int64_t, 2> strides,
                                                      Padding padding) {
  return MaxPool2DGradImpl(input, output_grad, ksize, strides, padding, MaxGradPath::kGeneral);
}

}  // namespace internal

absl::StatusOr<Tensor> AvgPool2D(const Tensor& input, std::array<int64_t, 2> ksize,
                                 std::array<int64_t, 2> strides, Padding padding) {
  constexpr absl::string_view kOp = "AvgPool2D";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, input, "input"));
  const PoolCall call{kOp, absl::StrCat("input ", input.ShapeString()), ksize, strides, padding};
  CONCORD_RETURN_IF_ERROR(CheckFloatingInput(call, input));
  CONCORD_ASSIGN_OR_RETURN(const PoolGeometry g, MakePoolGeometry(call, input.shape()));
  Tensor out = Tensor::Empty(g.output_shape(), input.dtype());
  if (out.num_elements() == 0) return out;
  DispatchFloating(input.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    AvgForward<T>(g, input.data<T>(), out.mutable_data<T>());
  });
  return out;
}

absl::StatusOr<Tensor> AvgPool2DGrad(const Shape& input_shape, const Tensor& output_grad,
                                     std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                                     Padding padding) {
  constexpr absl::string_view kOp = "AvgPool2DGrad";
  CONCORD_RETURN_IF_ERROR(internal::CheckDefined(kOp, output_grad, "output_grad"));
  const PoolCall call{kOp,
                      absl::StrCat("input_shape ", input_shape.ToString(), ", output_grad ",
                                   output_grad.ShapeString()),
                      ksize, strides, padding};
  CONCORD_RETURN_IF_ERROR(CheckFloatingInput(call, output_grad));
  CONCORD_ASSIGN_OR_RETURN(const PoolGeometry g, MakePoolGeometry(call, input_shape));
  CONCORD_RETURN_IF_ERROR(CheckGradShape(call, g, output_grad));
  Tensor input_grad = Tensor::Empty(input_shape, output_grad.dtype());
  if (input_grad.num_elements() == 0) return input_grad;
  DispatchFloating(output_grad.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    AvgBackward<T>(g, output_grad.data<T>(), input_grad.mutable_data<T>());
  });
  return input_grad;
}

}  // namespace concord::engine
