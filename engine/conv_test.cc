#include "engine/conv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/elementwise.h"
#include "engine/internal/window.h"
#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenTensor;
using ::concord::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

using Pair2 = std::array<int64_t, 2>;

template <typename T>
Tensor Make(const Shape& shape, std::vector<T> values) {
  return Tensor::FromVector<T>(shape, values).value();
}

Tensor Iota(const Shape& shape, DType dtype = DType::kFloat32) {
  return Tensor::Arange(1, static_cast<double>(shape.num_elements()) + 1, 1, dtype)
      .value()
      .WithShape(shape);
}

// ---- Naive references, written from TensorFlow's documented formulas ------------------------

struct Axis {
  int64_t out, pad;
};

// TF: VALID out = ceil((in - span + 1) / stride); SAME out = ceil(in / stride), pad before =
// max((out - 1) * stride + span - in, 0) / 2.
Axis NaiveAxis(int64_t in, int64_t taps, int64_t stride, int64_t dilation, Padding padding) {
  const int64_t span = (taps - 1) * dilation + 1;
  if (padding == Padding::kValid) {
    return {static_cast<int64_t>(std::ceil(static_cast<double>(in - span + 1) / stride)), 0};
  }
  const int64_t out = static_cast<int64_t>(std::ceil(static_cast<double>(in) / stride));
  return {out, std::max<int64_t>((out - 1) * stride + span - in, 0) / 2};
}

double At(const Tensor& t, int64_t a, int64_t b, int64_t c, int64_t d) {
  const Shape& s = t.shape();
  return t.ElementAsDouble(((a * s[1] + b) * s[2] + c) * s[3] + d);
}

Tensor FromDoubles(const Shape& shape, const std::vector<double>& v, DType dtype) {
  Tensor t = Tensor::Empty(shape, dtype);
  DispatchFloating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < v.size(); ++i) t.mutable_data<T>()[i] = static_cast<T>(v[i]);
  });
  return t;
}

Tensor NaiveConv(const Tensor& x, const Tensor& w, Pair2 s, Padding p, Pair2 d) {
  const Axis ah = NaiveAxis(x.dim(1), w.dim(0), s[0], d[0], p);
  const Axis aw = NaiveAxis(x.dim(2), w.dim(1), s[1], d[1], p);
  const Shape out_shape({x.dim(0), ah.out, aw.out, w.dim(3)});
  std::vector<double> out;
  for (int64_t n = 0; n < x.dim(0); ++n)
    for (int64_t oh = 0; oh < ah.out; ++oh)
      for (int64_t ow = 0; ow < aw.out; ++ow)
        for (int64_t o = 0; o < w.dim(3); ++o) {
          double sum = 0;
          for (int64_t kh = 0; kh < w.dim(0); ++kh)
            for (int64_t kw = 0; kw < w.dim(1); ++kw)
              for (int64_t c = 0; c < w.dim(2); ++c) {
                const int64_t ih = oh * s[0] - ah.pad + kh * d[0];
                const int64_t iw = ow * s[1] - aw.pad + kw * d[1];
                if (ih < 0 || ih >= x.dim(1) || iw < 0 || iw >= x.dim(2)) continue;
                sum += At(x, n, ih, iw, c) * At(w, kh, kw, c, o);
              }
          out.push_back(sum);
        }
  return FromDoubles(out_shape, out, x.dtype());
}

// Pooling: max (first maximum in window order) or average over the valid elements. With
// `grad`, also routes grad to the max positions (scatter in (oh, ow) order) into *max_grad.
Tensor NaivePool(const Tensor& x, Pair2 k, Pair2 s, Padding p, bool max,
                 const Tensor* grad = nullptr, Tensor* max_grad = nullptr) {
  const Axis ah = NaiveAxis(x.dim(1), k[0], s[0], 1, p);
  const Axis aw = NaiveAxis(x.dim(2), k[1], s[1], 1, p);
  const Shape out_shape({x.dim(0), ah.out, aw.out, x.dim(3)});
  std::vector<double> out, routed(static_cast<size_t>(x.num_elements()), 0.0);
  int64_t flat = 0;
  for (int64_t n = 0; n < x.dim(0); ++n)
    for (int64_t oh = 0; oh < ah.out; ++oh)
      for (int64_t ow = 0; ow < aw.out; ++ow)
        for (int64_t c = 0; c < x.dim(3); ++c, ++flat) {
          double best = 0, sum = 0;
          int64_t count = 0, best_index = -1;
          for (int64_t kh = 0; kh < k[0]; ++kh)
            for (int64_t kw = 0; kw < k[1]; ++kw) {
              const int64_t ih = oh * s[0] - ah.pad + kh, iw = ow * s[1] - aw.pad + kw;
              if (ih < 0 || ih >= x.dim(1) || iw < 0 || iw >= x.dim(2)) continue;
              const double v = At(x, n, ih, iw, c);
              if (count == 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
                best = v;
                best_index = ((n * x.dim(1) + ih) * x.dim(2) + iw) * x.dim(3) + c;
              }
              sum += v;
              ++count;
            }
          out.push_back(max ? best : sum / static_cast<double>(count));
          if (grad != nullptr) routed[best_index] += grad->ElementAsDouble(flat);
        }
  if (max_grad != nullptr) *max_grad = FromDoubles(x.shape(), routed, x.dtype());
  return FromDoubles(out_shape, out, x.dtype());
}

double Dot(const Tensor& a, const Tensor& b) {
  double sum = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) sum += a.ElementAsDouble(i) * b.ElementAsDouble(i);
  return sum;
}

double AbsSum(const Tensor& a, const Tensor& b) {
  double sum = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    sum += std::abs(a.ElementAsDouble(i) * b.ElementAsDouble(i));
  }
  return sum;
}

// ---- Known values ----------------------------------------------------------------------------

const Tensor& Image3x3() {
  static const Tensor* t = new Tensor(Iota(Shape({1, 3, 3, 1})));  // 1..9
  return *t;
}
const Tensor& Filter2x2() {
  static const Tensor* t = new Tensor(Make<float>(Shape({2, 2, 1, 1}), {1, 2, 3, 4}));
  return *t;
}

TEST(Conv2DTest, ValidStrideTwoReadsOneWindow) {
  EXPECT_THAT(Conv2D(Image3x3(), Filter2x2(), {2, 2}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 1, 1, 1}), {37})));  // 1*1+2*2+4*3+5*4
}

TEST(Conv2DTest, SameStrideTwoPadsAfter) {
  // pad_total = (2 - 1) * 2 + 2 - 3 = 1: nothing before, one zero row/column after.
  EXPECT_THAT(Conv2D(Image3x3(), Filter2x2(), {2, 2}, Padding::kSame),
              BitwiseEquals(Make<float>(Shape({1, 2, 2, 1}), {37, 21, 23, 9})));
}

TEST(Conv2DTest, DilationTwoSpreadsTheTaps) {
  EXPECT_THAT(Conv2D(Image3x3(), Filter2x2(), {1, 1}, Padding::kValid, {2, 2}),
              BitwiseEquals(Make<float>(Shape({1, 1, 1, 1}), {64})));  // 1*1+3*2+7*3+9*4
  // SAME: the dilated filter spans 3, so one row/column of padding on each side.
  EXPECT_THAT(Conv2D(Image3x3(), Filter2x2(), {1, 1}, Padding::kSame, {2, 2}),
              BitwiseEquals(Make<float>(Shape({1, 3, 3, 1}), {20, 36, 15, 36, 64, 26, 10, 16, 5})));
}

TEST(Conv2DTest, MixesChannelsLikeAMatMul) {
  const Tensor x = Make<double>(Shape({1, 1, 1, 2}), {1, 2});
  const Tensor w = Make<double>(Shape({1, 1, 2, 3}), {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(Conv2D(x, w, {1, 1}, Padding::kValid),
              BitwiseEquals(Make<double>(Shape({1, 1, 1, 3}), {9, 12, 15})));
}

TEST(Conv2DTest, ZeroSizedDimensions) {
  EXPECT_THAT(Conv2D(Tensor::Zeros(Shape({0, 3, 3, 1})), Filter2x2(), {1, 1}, Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({0, 3, 3, 1}))));
  // No input channels: every output is an empty sum.
  { Tensor garbage = Tensor::Full(Shape({1, 3, 3, 2}), std::nan("")); }
  EXPECT_THAT(Conv2D(Tensor::Zeros(Shape({1, 3, 3, 0})), Tensor::Zeros(Shape({2, 2, 0, 2})), {1, 1},
                     Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({1, 3, 3, 2}))));
  EXPECT_THAT(Conv2D(Image3x3(), Tensor::Zeros(Shape({2, 2, 1, 0})), {1, 1}, Padding::kValid),
              BitwiseEquals(Tensor::Zeros(Shape({1, 2, 2, 0}))));
  EXPECT_THAT(Conv2D(Tensor::Zeros(Shape({1, 0, 3, 1})), Filter2x2(), {1, 1}, Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({1, 0, 3, 1}))));
  EXPECT_THAT(Conv2DBackpropFilter(Tensor::Zeros(Shape({0, 3, 3, 1})), Shape({2, 2, 1, 1}),
                                   Tensor::Zeros(Shape({0, 3, 3, 1})), {1, 1}, Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({2, 2, 1, 1}))));
}

TEST(Conv2DTest, BackpropInputOfAOneHotGradientIsTheFlippedFilterPlacement) {
  // The gradient of output (0, 0) of the VALID stride-2 case flows to the 2x2 corner it read.
  const Tensor g = Make<float>(Shape({1, 1, 1, 1}), {1});
  EXPECT_THAT(Conv2DBackpropInput(Shape({1, 3, 3, 1}), Filter2x2(), g, {2, 2}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 3, 3, 1}), {1, 2, 0, 3, 4, 0, 0, 0, 0})));
  EXPECT_THAT(Conv2DBackpropFilter(Image3x3(), Shape({2, 2, 1, 1}), g, {2, 2}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({2, 2, 1, 1}), {1, 2, 4, 5})));
}

TEST(PoolTest, MaxAndAveragePoolKnownValues) {
  const Tensor& x = Image3x3();
  EXPECT_THAT(MaxPool2D(x, {2, 2}, {2, 2}, Padding::kSame),
              BitwiseEquals(Make<float>(Shape({1, 2, 2, 1}), {5, 6, 8, 9})));
  EXPECT_THAT(MaxPool2D(x, {2, 2}, {2, 2}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 1, 1, 1}), {5})));
  // SAME averages only the valid elements: (3 + 6) / 2, not (3 + 6) / 4.
  EXPECT_THAT(AvgPool2D(x, {2, 2}, {2, 2}, Padding::kSame),
              BitwiseEquals(Make<float>(Shape({1, 2, 2, 1}), {3, 4.5, 7.5, 9})));
  EXPECT_THAT(AvgPool2D(x, {3, 3}, {1, 1}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 1, 1, 1}), {5})));
}

TEST(PoolTest, MaxPoolGradRoutesTiesToTheFirstMaximumAndSumsOverlaps) {
  const Tensor ties = Make<float>(Shape({1, 1, 3, 1}), {2, 2, 2});
  const Tensor g = Make<float>(Shape({1, 1, 2, 1}), {10, 20});
  EXPECT_THAT(MaxPool2DGrad(ties, g, {1, 2}, {1, 1}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 1, 3, 1}), {10, 20, 0})));
  const Tensor peak = Make<float>(Shape({1, 1, 3, 1}), {1, 5, 1});
  EXPECT_THAT(MaxPool2DGrad(peak, g, {1, 2}, {1, 1}, Padding::kValid),
              BitwiseEquals(Make<float>(Shape({1, 1, 3, 1}), {0, 30, 0})));
}

TEST(PoolTest, MaxPoolPropagatesTheFirstNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Make<float>(Shape({1, 1, 3, 1}), {1, nan, 3});
  const Tensor y = MaxPool2D(x, {1, 3}, {1, 1}, Padding::kValid).value();
  EXPECT_TRUE(std::isnan(y.item<float>()));
  EXPECT_THAT(
      MaxPool2DGrad(x, Make<float>(Shape({1, 1, 1, 1}), {7}), {1, 3}, {1, 1}, Padding::kValid),
      BitwiseEquals(Make<float>(Shape({1, 1, 3, 1}), {0, 7, 0})));
}

TEST(PoolTest, AvgPoolGradSpreadsOverValidElements) {
  const Tensor g = Make<double>(Shape({1, 2, 2, 1}), {4, 2, 2, 1});
  // Window (0, 0) has 4 valid elements, (0, 1) and (1, 0) two, (1, 1) one.
  EXPECT_THAT(AvgPool2DGrad(Shape({1, 3, 3, 1}), g, {2, 2}, {2, 2}, Padding::kSame),
              BitwiseEquals(Make<double>(Shape({1, 3, 3, 1}), {1, 1, 1, 1, 1, 1, 1, 1, 1})));
}

TEST(PoolTest, EmptyBatchesAndChannels) {
  EXPECT_THAT(MaxPool2D(Tensor::Zeros(Shape({0, 4, 4, 2})), {2, 2}, {2, 2}, Padding::kValid),
              BitwiseEquals(Tensor::Zeros(Shape({0, 2, 2, 2}))));
  EXPECT_THAT(AvgPool2D(Tensor::Zeros(Shape({1, 4, 4, 0})), {2, 2}, {2, 2}, Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({1, 2, 2, 0}))));
  EXPECT_THAT(AvgPool2DGrad(Shape({0, 4, 4, 1}), Tensor::Zeros(Shape({0, 2, 2, 1})), {2, 2}, {2, 2},
                            Padding::kSame),
              BitwiseEquals(Tensor::Zeros(Shape({0, 4, 4, 1}))));
}

// ---- Errors ----------------------------------------------------------------------------------

auto InvalidWith(const std::string& a, const std::string& b) {
  return StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr(a), HasSubstr(b)));
}

TEST(Conv2DTest, RejectsBadArguments) {
  const Tensor x = Tensor::Zeros(Shape({1, 3, 3, 2}));
  const Tensor w = Tensor::Zeros(Shape({2, 2, 2, 4}));
  const std::string both = "input float32[1, 3, 3, 2], filter float32[2, 2, 2, 4]";
  EXPECT_THAT(Conv2D(Tensor::Zeros(Shape({3, 3, 2})), w, {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: input must have rank 4", "float32[3, 3, 2]"));
  EXPECT_THAT(Conv2D(x, Tensor::Zeros(Shape({2, 2, 2})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: filter must have rank 4", "filter float32[2, 2, 2]"));
  EXPECT_THAT(Conv2D(x, Tensor::Zeros(Shape({2, 2, 3, 4})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: input has 2 channels but the filter expects 3",
                          "filter float32[2, 2, 3, 4]"));
  EXPECT_THAT(Conv2D(x, w, {0, 1}, Padding::kSame),
              InvalidWith("Conv2D: strides and dilations must be positive", both));
  EXPECT_THAT(Conv2D(x, w, {1, 1}, Padding::kSame, {1, -2}),
              InvalidWith("Conv2D: strides and dilations must be positive", "dilations [1, -2]"));
  EXPECT_THAT(Conv2D(x, Tensor::Zeros(Shape({0, 2, 2, 4})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: filter height and width must be positive", "[0, 2, 2, 4]"));
  EXPECT_THAT(
      Conv2D(x, w, {1, 1}, Padding::kValid, {3, 1}),
      InvalidWith("Conv2D: VALID padding leaves no output: the dilated filter is 4x2", both));
  EXPECT_THAT(
      Conv2D(x, Tensor::Zeros(Shape({2, 2, 2, 4}), DType::kFloat64), {1, 1}, Padding::kSame),
      InvalidWith("Conv2D: dtype mismatch", "filter float64[2, 2, 2, 4]"));
  EXPECT_THAT(Conv2D(Tensor::Zeros(Shape({1, 3, 3, 2}), DType::kInt32),
                     Tensor::Zeros(Shape({2, 2, 2, 4}), DType::kInt32), {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: only float32 and float64", "input int32[1, 3, 3, 2]"));
  EXPECT_THAT(Conv2D(Tensor(), w, {1, 1}, Padding::kSame),
              InvalidWith("Conv2D: input input is undefined", ""));
}

TEST(Conv2DTest, BackpropsRejectGradientsOfTheWrongShape) {
  const Tensor w = Tensor::Zeros(Shape({2, 2, 2, 4}));
  const Tensor g = Tensor::Zeros(Shape({1, 3, 3, 4}));
  EXPECT_THAT(Conv2DBackpropInput(Shape({1, 3, 3, 2}), w, g, {2, 2}, Padding::kSame),
              InvalidWith("Conv2DBackpropInput: out_backprop must have Conv2D's output shape "
                          "[1, 2, 2, 4]",
                          "out_backprop float32[1, 3, 3, 4]"));
  EXPECT_THAT(Conv2DBackpropInput(Shape({1, 3, 3}), w, g, {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBackpropInput: input must have rank 4", "input_shape [1, 3, 3]"));
  EXPECT_THAT(Conv2DBackpropInput(Shape({1, 3, 3, 2}), w,
                                  Tensor::Zeros(Shape({1, 3, 3, 4}), DType::kFloat64), {1, 1},
                                  Padding::kSame),
              InvalidWith("Conv2DBackpropInput: dtype mismatch", "float64[1, 3, 3, 4]"));
  EXPECT_THAT(Conv2DBackpropFilter(Tensor::Zeros(Shape({1, 3, 3, 2})), Shape({2, 2, 2, 4}),
                                   Tensor::Zeros(Shape({1, 2, 2, 4})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBackpropFilter: out_backprop must have Conv2D's output shape "
                          "[1, 3, 3, 4]",
                          "filter_shape [2, 2, 2, 4]"));
  EXPECT_THAT(
      Conv2DBackpropFilter(Tensor::Zeros(Shape({1, 3, 3, 2})), Shape({2, 2, 3, 4}), g, {1, 1},
                           Padding::kSame),
      InvalidWith("Conv2DBackpropFilter: input has 2 channels", "input float32[1, 3, 3, 2]"));
}

TEST(PoolTest, RejectsBadArguments) {
  const Tensor x = Tensor::Zeros(Shape({1, 3, 3, 2}));
  EXPECT_THAT(MaxPool2D(Tensor::Zeros(Shape({3, 3, 2})), {2, 2}, {1, 1}, Padding::kSame),
              InvalidWith("MaxPool2D: input must have rank 4", "input float32[3, 3, 2]"));
  EXPECT_THAT(MaxPool2D(x, {0, 2}, {1, 1}, Padding::kSame),
              InvalidWith("MaxPool2D: ksize and strides must be positive", "ksize [0, 2]"));
  EXPECT_THAT(AvgPool2D(x, {2, 2}, {1, -1}, Padding::kSame),
              InvalidWith("AvgPool2D: ksize and strides must be positive", "strides [1, -1]"));
  EXPECT_THAT(AvgPool2D(x, {4, 2}, {1, 1}, Padding::kValid),
              InvalidWith("AvgPool2D: VALID padding leaves no output",
                          "input float32[1, 3, 3, 2], ksize [4, 2]"));
  EXPECT_THAT(
      MaxPool2D(Tensor::Zeros(Shape({1, 3, 3, 2}), DType::kInt64), {2, 2}, {1, 1}, Padding::kSame),
      InvalidWith("MaxPool2D: only float32 and float64", "int64[1, 3, 3, 2]"));
  EXPECT_THAT(MaxPool2DGrad(x, Tensor::Zeros(Shape({1, 3, 3, 2})), {2, 2}, {2, 2}, Padding::kSame),
              InvalidWith("MaxPool2DGrad: output_grad must have the pooled shape [1, 2, 2, 2]",
                          "output_grad float32[1, 3, 3, 2]"));
  EXPECT_THAT(MaxPool2DGrad(x, Tensor::Zeros(Shape({1, 2, 2, 2}), DType::kFloat64), {2, 2}, {2, 2},
                            Padding::kSame),
              InvalidWith("MaxPool2DGrad: dtype mismatch", "output_grad float64[1, 2, 2, 2]"));
  EXPECT_THAT(AvgPool2DGrad(Shape({1, 3, 3, 2}), Tensor::Zeros(Shape({1, 1, 1, 2})), {2, 2}, {2, 2},
                            Padding::kSame),
              InvalidWith("AvgPool2DGrad: output_grad must have the pooled shape [1, 2, 2, 2]",
                          "input_shape [1, 3, 3, 2]"));
  EXPECT_THAT(AvgPool2DGrad(Shape({1, 3, 3, 2}), Tensor::Zeros(Shape({1, 2, 2, 2}), DType::kInt32),
                            {2, 2}, {2, 2}, Padding::kSame),
              InvalidWith("AvgPool2DGrad: only float32 and float64", "int32[1, 2, 2, 2]"));
}

// ---- Determinism -----------------------------------------------------------------------------

Tensor Filled(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::Empty(shape);
  uint32_t s = seed;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.mutable_data<float>()[i] = static_cast<float>(static_cast<int32_t>(s >> 8) % 2001) / 1000;
  }
  return t;
}

// ScopedColumnBudget forces Conv2D to work one image (or a few) at a time.
class ScopedColumnBudget {
 public:
  explicit ScopedColumnBudget(int64_t elements)
      : previous_(internal::SetConvColumnBudgetForTesting(elements)) {}
  ~ScopedColumnBudget() { internal::SetConvColumnBudgetForTesting(previous_); }

 private:
  int64_t previous_;
};

Tensor AsDouble(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.num_elements(); ++i) v.push_back(t.ElementAsDouble(i));
  return FromDoubles(t.shape(), v, DType::kFloat64);
}

TEST(Conv2DTest, RepeatedRunsAtAFixedThreadCountAreBitwiseIdentical) {
  const Tensor x = Filled(Shape({4, 14, 14, 8}), 1);
  const Tensor w = Filled(Shape({3, 3, 8, 16}), 2);
  const Tensor g = Filled(Shape({4, 14, 14, 16}), 3);
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    const Tensor y = Conv2D(x, w, {1, 1}, Padding::kSame).value();
    const Tensor dx = Conv2DBackpropInput(x.shape(), w, g, {1, 1}, Padding::kSame).value();
    const Tensor dw = Conv2DBackpropFilter(x, w.shape(), g, {1, 1}, Padding::kSame).value();
    for (int run = 0; run < 2; ++run) {
      EXPECT_THAT(Conv2D(x, w, {1, 1}, Padding::kSame), BitwiseEquals(y));
      EXPECT_THAT(Conv2DBackpropInput(x.shape(), w, g, {1, 1}, Padding::kSame), BitwiseEquals(dx));
      EXPECT_THAT(Conv2DBackpropFilter(x, w.shape(), g, {1, 1}, Padding::kSame), BitwiseEquals(dw));
    }
  }
}

TEST(Conv2DTest, TiledLayersAreCorrectAndGiveTheSameBitsAtAnyThreadCount) {
  // O * patch = 16 * 72 gives tiles of 227 pixels: 784 pixels make 4 tiles, and 4 blocks of
  // partial filter gradients (Note [Conv2D as im2col + GEMM]).
  const Tensor x = AsDouble(Filled(Shape({4, 14, 14, 8}), 1));
  const Tensor w = AsDouble(Filled(Shape({3, 3, 8, 16}), 2));
  const Tensor g = AsDouble(Filled(Shape({4, 14, 14, 16}), 3));
  Tensor r[2][3];
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    r[threads - 1][0] = Conv2D(x, w, {1, 1}, Padding::kSame).value();
    r[threads - 1][1] = Conv2DBackpropInput(x.shape(), w, g, {1, 1}, Padding::kSame).value();
    r[threads - 1][2] = Conv2DBackpropFilter(x, w.shape(), g, {1, 1}, Padding::kSame).value();
  }
  for (int i = 0; i < 3; ++i) EXPECT_THAT(r[1][i], BitwiseEquals(r[0][i])) << i;
  EXPECT_THAT(r[0][0], AllClose(NaiveConv(x, w, {1, 1}, Padding::kSame, {1, 1}), 1e-12, 1e-12));
  const double forward = Dot(r[0][0], g), scale = AbsSum(r[0][0], g);
  EXPECT_NEAR(Dot(x, r[0][1]), forward, 1e-12 * scale);
  EXPECT_NEAR(Dot(w, r[0][2]), forward, 1e-12 * scale);
}

TEST(PoolTest, ResultsDoNotDependOnTheThreadCount) {
  const Tensor x = Filled(Shape({4, 33, 31, 16}), 4);
  const Tensor g = Filled(Shape({4, 17, 16, 16}), 5);
  Tensor results[2][4];
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    Tensor* r = results[threads - 1];
    r[0] = MaxPool2D(x, {3, 3}, {2, 2}, Padding::kSame).value();
    r[1] = MaxPool2DGrad(x, g, {3, 3}, {2, 2}, Padding::kSame).value();
    r[2] = AvgPool2D(x, {3, 3}, {2, 2}, Padding::kSame).value();
    r[3] = AvgPool2DGrad(x.shape(), g, {3, 3}, {2, 2}, Padding::kSame).value();
  }
  for (int i = 0; i < 4; ++i) EXPECT_THAT(results[1][i], BitwiseEquals(results[0][i])) << i;
}

TEST(Conv2DTest, LayersTooBigForTilesAgreeWithDirectConvolution) {
  // O * patch = 40 * 288 leaves tiles of 22 pixels: the unsplit, chunked path. A small column
  // budget makes it take several chunks.
  ScopedColumnBudget budget(1000);
  const Tensor x = AsDouble(Filled(Shape({2, 5, 6, 32}), 4));
  const Tensor w = AsDouble(Filled(Shape({3, 3, 32, 40}), 5));
  const Tensor g = AsDouble(Filled(Shape({2, 3, 3, 40}), 6));
  const Tensor y = Conv2D(x, w, {2, 2}, Padding::kSame, {1, 2}).value();
  EXPECT_THAT(y, AllClose(NaiveConv(x, w, {2, 2}, Padding::kSame, {1, 2}), 1e-12, 1e-12));
  const Tensor dx = Conv2DBackpropInput(x.shape(), w, g, {2, 2}, Padding::kSame, {1, 2}).value();
  const Tensor dw = Conv2DBackpropFilter(x, w.shape(), g, {2, 2}, Padding::kSame, {1, 2}).value();
  const double forward = Dot(y, g), scale = AbsSum(y, g);
  EXPECT_NEAR(Dot(x, dx), forward, 1e-12 * scale);
  EXPECT_NEAR(Dot(w, dw), forward, 1e-12 * scale);
}

// Relu(Conv2D(x, w) + b), unfused: what Conv2DBiasRelu must equal bitwise.
Tensor UnfusedBiasRelu(const Tensor& x, const Tensor& w, const Tensor& b, Pair2 strides,
                       Padding padding, Pair2 dilations) {
  return Relu(Add(Conv2D(x, w, strides, padding, dilations).value(), b).value()).value();
}

TEST(Conv2DBiasReluTest, EqualsTheUnfusedOpsOnTilesAndChunksAtAnyThreadCount) {
  // Four tiles (the shapes of TiledLayersAreCorrect...), then the unsplit path in several chunks
  // (those of LayersTooBigForTiles...), each at one and two threads.
  struct Layer {
    Tensor x, w, b;
    Pair2 strides, dilations;
    int64_t budget;
  };
  std::vector<Layer> layers = {
      {Filled(Shape({4, 14, 14, 8}), 1), Filled(Shape({3, 3, 8, 16}), 2),
       Filled(Shape({16}), 3), {1, 1}, {1, 1}, int64_t{1} << 18},
      {Filled(Shape({2, 5, 6, 32}), 4), Filled(Shape({3, 3, 32, 40}), 5),
       Filled(Shape({40}), 6), {2, 2}, {1, 2}, 1000}};
  layers.push_back(layers[0]);
  layers.back().x = AsDouble(layers[0].x);
  layers.back().w = AsDouble(layers[0].w);
  layers.back().b = AsDouble(layers[0].b);
  for (const Layer& l : layers) {
    ScopedColumnBudget budget(l.budget);
    const Tensor expected = UnfusedBiasRelu(l.x, l.w, l.b, l.strides, Padding::kSame, l.dilations);
    for (int threads : {1, 2}) {
      ScopedNumThreads scoped(threads);
      EXPECT_THAT(Conv2DBiasRelu(l.x, l.w, l.b, l.strides, Padding::kSame, l.dilations),
                  BitwiseEquals(expected))
          << l.w.ShapeString() << " at " << threads << " threads";
    }
  }
}

TEST(Conv2DBiasReluTest, RejectsABiasOfTheWrongShapeOrDType) {
  const Tensor x = Tensor::Zeros(Shape({1, 3, 3, 2}));
  const Tensor w = Tensor::Zeros(Shape({2, 2, 2, 4}));
  EXPECT_THAT(Conv2DBiasRelu(x, w, Tensor::Zeros(Shape({3})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBiasRelu: bias must have shape [4], one per filter",
                          "input float32[1, 3, 3, 2], filter float32[2, 2, 2, 4], bias "
                          "float32[3]"));
  EXPECT_THAT(Conv2DBiasRelu(x, w, Tensor::Zeros(Shape({1, 4})), {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBiasRelu: bias must have shape [4]", "bias float32[1, 4]"));
  EXPECT_THAT(
      Conv2DBiasRelu(x, w, Tensor::Zeros(Shape({4}), DType::kFloat64), {1, 1}, Padding::kSame),
      InvalidWith("Conv2DBiasRelu: dtype mismatch", "bias float64[4]"));
  EXPECT_THAT(Conv2DBiasRelu(x, w, Tensor(), {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBiasRelu: input bias is undefined", ""));
  EXPECT_THAT(Conv2DBiasRelu(x, Tensor::Zeros(Shape({2, 2, 3, 4})), Tensor::Zeros(Shape({4})),
                             {1, 1}, Padding::kSame),
              InvalidWith("Conv2DBiasRelu: input has 2 channels but the filter expects 3", ""));
}

// ---- Properties ------------------------------------------------------------------------------

struct ConvCase {
  Tensor x, w;
  Pair2 strides, dilations;
  Padding padding;
  int64_t budget;  // im2col budget in elements
};

// A spatial size valid for the padding: for VALID at least the dilated span.
rc::Gen<int64_t> GenInputSize(int64_t taps, int64_t dilation, Padding padding) {
  const int64_t span = (taps - 1) * dilation + 1;
  return padding == Padding::kValid ? rc::gen::inRange<int64_t>(span, span + 7)
                                    : rc::gen::inRange<int64_t>(1, 11);
}

// Generators run at full size: RapidCheck scales inRange by size, which would make most cases 1x1.
rc::Gen<ConvCase> GenConvCase(DType dtype) {
  return rc::gen::resize(
      100, rc::gen::exec([dtype] {
        ConvCase c;
        c.padding = *rc::gen::element(Padding::kSame, Padding::kValid);
        const int64_t kh = *rc::gen::inRange<int64_t>(1, 4), kw = *rc::gen::inRange<int64_t>(1, 4);
        c.strides = {*rc::gen::inRange<int64_t>(1, 4), *rc::gen::inRange<int64_t>(1, 4)};
        c.dilations = {*rc::gen::inRange<int64_t>(1, 3), *rc::gen::inRange<int64_t>(1, 3)};
        const int64_t h = *GenInputSize(kh, c.dilations[0], c.padding);
        const int64_t w = *GenInputSize(kw, c.dilations[1], c.padding);
        // 8 and 16 input channels reach Col2Im's fixed-width kernels.
        const int64_t n = *rc::gen::inRange<int64_t>(1, 4);
        const int64_t ch = *rc::gen::element<int64_t>(1, 2, 3, 4, 8, 16);
        // 8 and 16 filters reach Note [Small patches without BLAS] in float32.
        const int64_t o = *rc::gen::element<int64_t>(1, 2, 3, 4, 8, 16);
        c.x = *GenTensor(Shape({n, h, w, ch}), dtype, -1, 1);
        c.w = *GenTensor(Shape({kh, kw, ch, o}), dtype, -1, 1);
        c.budget = *rc::gen::element<int64_t>(1, 50, int64_t{1} << 22);
        return c;
      }));
}

RC_GTEST_PROP(Conv2DProperty, Float64AgreesWithADirectConvolution, ()) {
  const ConvCase c = *GenConvCase(DType::kFloat64);
  ScopedColumnBudget budget(c.budget);
  const Tensor expected = NaiveConv(c.x, c.w, c.strides, c.padding, c.dilations);
  RC_ASSERT(::testing::Value(Conv2D(c.x, c.w, c.strides, c.padding, c.dilations),
                             AllClose(expected, 1e-12, 1e-12)));
}

RC_GTEST_PROP(Conv2DProperty, Float32AgreesWithADirectConvolutionLoosely, ()) {
  const ConvCase c = *GenConvCase(DType::kFloat32);
  ScopedColumnBudget budget(c.budget);
  const Tensor expected = NaiveConv(c.x, c.w, c.strides, c.padding, c.dilations);
  RC_ASSERT(::testing::Value(Conv2D(c.x, c.w, c.strides, c.padding, c.dilations),
                             AllClose(expected, 1e-5, 1e-5)));
}

RC_GTEST_PROP(Conv2DProperty, BackpropsAreTheAdjointsOfTheForwardConvolution, ()) {
  // <conv(x, w), g> == <x, backprop_input(g)> == <w, backprop_filter(x, g)>, in double.
  const ConvCase c = *GenConvCase(DType::kFloat64);
  ScopedColumnBudget budget(c.budget);
  const Tensor y = Conv2D(c.x, c.w, c.strides, c.padding, c.dilations).value();
  const Tensor g = *GenTensor(y.shape(), DType::kFloat64, -1, 1);
  const Tensor dx =
      Conv2DBackpropInput(c.x.shape(), c.w, g, c.strides, c.padding, c.dilations).value();
  const Tensor dw =
      Conv2DBackpropFilter(c.x, c.w.shape(), g, c.strides, c.padding, c.dilations).value();
  RC_ASSERT(dx.shape() == c.x.shape());
  RC_ASSERT(dw.shape() == c.w.shape());
  const double forward = Dot(y, g), scale = AbsSum(y, g) + 1;
  RC_ASSERT(std::abs(forward - Dot(c.x, dx)) <= 1e-12 * scale * 10);
  RC_ASSERT(std::abs(forward - Dot(c.w, dw)) <= 1e-12 * scale * 10);
}

// Float32 runs some layers through other kernels than float64 (Note [Small patches without
// BLAS]); their gradients must still be the float64 ones, to float32 accuracy.
RC_GTEST_PROP(Conv2DProperty, Float32GradientsAgreeWithFloat64Loosely, ()) {
  const ConvCase c = *GenConvCase(DType::kFloat32);
  ScopedColumnBudget budget(c.budget);
  const Tensor y = Conv2D(c.x, c.w, c.strides, c.padding, c.dilations).value();
  const Tensor g = *GenTensor(y.shape(), DType::kFloat32, -1, 1);
  const auto f64 = [](const Tensor& t) { return Cast(t, DType::kFloat64).value(); };
  const Tensor dw =
      Conv2DBackpropFilter(c.x, c.w.shape(), g, c.strides, c.padding, c.dilations).value();
  const Tensor dw64 =
      Conv2DBackpropFilter(f64(c.x), c.w.shape(), f64(g), c.strides, c.padding, c.dilations)
          .value();
  RC_ASSERT(::testing::Value(f64(dw), AllClose(dw64, 1e-4, 1e-4)));
  const Tensor dx =
      Conv2DBackpropInput(c.x.shape(), c.w, g, c.strides, c.padding, c.dilations).value();
  const Tensor dx64 =
      Conv2DBackpropInput(c.x.shape(), f64(c.w), f64(g), c.strides, c.padding, c.dilations).value();
  RC_ASSERT(::testing::Value(f64(dx), AllClose(dx64, 1e-4, 1e-4)));
}

// Conv2DBiasRelu is Relu(Conv2D + bias) bit for bit, on every geometry the generator reaches
// (including Note [Small patches without BLAS]) and with a bias holding -0, NaN and values that
// push the sums to both sides of zero.
RC_GTEST_PROP(Conv2DProperty, BiasReluEqualsTheUnfusedOpsBitwise, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const ConvCase c = *GenConvCase(dtype);
  ScopedColumnBudget budget(c.budget);
  const int64_t o = c.w.shape().dim(3);
  std::vector<double> b(static_cast<size_t>(o));
  for (double& v : b) {
    v = *rc::gen::element(-0.0, 0.0, std::numeric_limits<double>::quiet_NaN(), -0.5, 0.25, -3.0,
                          3.0);
  }
  const Tensor bias = Cast(Tensor::FromVector<double>(Shape({o}), b).value(), dtype).value();
  const Tensor expected = UnfusedBiasRelu(c.x, c.w, bias, c.strides, c.padding, c.dilations);
  RC_ASSERT(::testing::Value(Conv2DBiasRelu(c.x, c.w, bias, c.strides, c.padding, c.dilations),
                             BitwiseEquals(expected)));
}

struct PoolCase {
  Tensor x;
  Pair2 ksize, strides;
  Padding padding;
};

rc::Gen<PoolCase> GenPoolCase(DType dtype) {
  return rc::gen::resize(
      100, rc::gen::exec([dtype] {
        PoolCase c;
        c.padding = *rc::gen::element(Padding::kSame, Padding::kValid);
        c.ksize = {*rc::gen::inRange<int64_t>(1, 4), *rc::gen::inRange<int64_t>(1, 4)};
        c.strides = {*rc::gen::inRange<int64_t>(1, 4), *rc::gen::inRange<int64_t>(1, 4)};
        if (*rc::gen::inRange(0, 3) == 0) {
          c.ksize = c.strides = {2, 2};  // The usual pooling, with its unrolled kernels.
        }
        const int64_t h = *GenInputSize(c.ksize[0], 1, c.padding);
        const int64_t w = *GenInputSize(c.ksize[1], 1, c.padding);
        // 8 channels and more reach MaxGradDisjoint's 8-channel window kernels (11: one chunk
        // and a remainder).
        const Shape shape({*rc::gen::inRange<int64_t>(1, 3), h, w,
                           *rc::gen::element<int64_t>(1, 2, 3, 8, 11, 16)});
        // Coarse values half the time, so that windows hold ties.
        c.x = *rc::gen::oneOf(
            GenTensor(shape, dtype, -1, 1),
            rc::gen::map(GenTensor(shape, DType::kInt32, -1, 1), [dtype](const Tensor& t) {
              std::vector<double> v;
              for (int64_t i = 0; i < t.num_elements(); ++i) {
                v.push_back(t.ElementAsDouble(i));
              }
              return FromDoubles(t.shape(), v, dtype);
            }));
        return c;
      }));
}

RC_GTEST_PROP(PoolProperty, MaxPoolAndItsGradientMatchNaiveRouting, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const PoolCase c = *GenPoolCase(dtype);
  const Tensor y = MaxPool2D(c.x, c.ksize, c.strides, c.padding).value();
  const Tensor g = *GenTensor(y.shape(), dtype, -1, 1);
  Tensor expected_grad;
  const Tensor expected = NaivePool(c.x, c.ksize, c.strides, c.padding, true, &g, &expected_grad);
  RC_ASSERT(::testing::Value(y, BitwiseEquals(expected)));
  const Tensor dx = MaxPool2DGrad(c.x, g, c.ksize, c.strides, c.padding).value();
  RC_ASSERT(::testing::Value(dx, AllClose(expected_grad, 1e-6, 1e-6)));
  if (dtype == DType::kFloat64) {  // The adjoint identity of the routing.
    RC_ASSERT(std::abs(Dot(y, g) - Dot(c.x, dx)) <= 1e-12 * (AbsSum(y, g) + 1));
  }
}

// Special values so both paths meet NaN windows and -0 gradients (T(0) + -0 is +0).
Tensor WithSpecials(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.num_elements(); ++i) v.push_back(t.ElementAsDouble(i));
  const auto picks = *rc::gen::container<std::vector<size_t>>(
      *rc::gen::inRange<size_t>(0, 3), rc::gen::inRange<size_t>(0, v.size()));
  for (size_t k = 0; k < picks.size(); ++k) {
    v[picks[k]] = k % 2 == 0 ? -0.0 : std::numeric_limits<double>::quiet_NaN();
  }
  return FromDoubles(t.shape(), v, t.dtype());
}

// The fused kernel for non-overlapping windows (stride >= ksize) against the argmax-then-gather
// path; GenPoolCase draws overlapping cases too, which must take the general path either way.
RC_GTEST_PROP(PoolProperty, MaxPoolGradFastPathEqualsGeneralPath, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  PoolCase c = *GenPoolCase(dtype);
  c.x = WithSpecials(c.x);
  const Shape out = MaxPool2D(c.x, c.ksize, c.strides, c.padding).value().shape();
  const Tensor g = WithSpecials(*GenTensor(out, dtype, -1, 1));
  // The forward pass too, on the same special values: whole 2x2 windows take an unrolled loop.
  RC_ASSERT(::testing::Value(MaxPool2D(c.x, c.ksize, c.strides, c.padding),
                             BitwiseEquals(NaivePool(c.x, c.ksize, c.strides, c.padding, true))));
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    const Tensor fast = MaxPool2DGrad(c.x, g, c.ksize, c.strides, c.padding).value();
    const Tensor general =
        internal::MaxPool2DGradGeneralForTesting(c.x, g, c.ksize, c.strides, c.padding).value();
    RC_ASSERT(::testing::Value(fast, BitwiseEquals(general)));
  }
}

RC_GTEST_PROP(PoolProperty, AvgPoolMatchesNaiveAveragingAndItsGradientIsTheAdjoint, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const PoolCase c = *GenPoolCase(dtype);
  const Tensor y = AvgPool2D(c.x, c.ksize, c.strides, c.padding).value();
  const Tensor expected = NaivePool(c.x, c.ksize, c.strides, c.padding, false);
  const double tol = dtype == DType::kFloat64 ? 1e-14 : 1e-6;
  RC_ASSERT(::testing::Value(y, AllClose(expected, tol, tol)));
  if (dtype == DType::kFloat64) {
    const Tensor g = *GenTensor(y.shape(), dtype, -1, 1);
    const Tensor dx = AvgPool2DGrad(c.x.shape(), g, c.ksize, c.strides, c.padding).value();
    RC_ASSERT(std::abs(Dot(y, g) - Dot(c.x, dx)) <= 1e-12 * (AbsSum(y, g) + 1));
  }
}

RC_GTEST_PROP(PoolProperty, ThreadCountsAndRepeatedRunsGiveTheSameBits, ()) {
  const PoolCase c = *GenPoolCase(DType::kFloat32);
  const Tensor y = MaxPool2D(c.x, c.ksize, c.strides, c.padding).value();
  const Tensor g = *GenTensor(y.shape(), DType::kFloat32, -1, 1);
  Tensor r[2][2];
  for (int t = 0; t < 2; ++t) {
    ScopedNumThreads scoped(t + 1);
    r[t][0] = MaxPool2DGrad(c.x, g, c.ksize, c.strides, c.padding).value();
    r[t][1] = AvgPool2DGrad(c.x.shape(), g, c.ksize, c.strides, c.padding).value();
  }
  RC_ASSERT(::testing::Value(r[1][0], BitwiseEquals(r[0][0])));
  RC_ASSERT(::testing::Value(r[1][1], BitwiseEquals(r[0][1])));
}

}  // namespace
}  // namespace concord::engine
