// The linalg family (MatMul, convolution, pooling): shape rules, forwards through the engine
// kernels, registration, and the public ops of autodiff/ops.h. The gradient rules live in
// ops_linalg_grad.cc.
//
// The shape rules repeat the engine's checks (engine/matmul.cc, conv.cc, pool.cc) in the same
// order and with the same words, so a traced program fails with the message an eager run gives.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/ops_linalg_grad.h"
#include "engine/conv.h"
#include "engine/matmul.h"
#include "engine/movement.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Padding;
using engine::Shape;
using engine::Tensor;

using Specs = absl::StatusOr<std::vector<TensorSpec>>;

std::string Pair(std::array<int64_t, 2> v) { return absl::StrCat("[", v[0], ", ", v[1], "]"); }

constexpr int64_t kIntMax = 2147483647;
bool FitsInt(int64_t v) { return v >= 0 && v <= kIntMax; }

absl::StatusOr<Shape> MakeShape(std::vector<int64_t> dims) { return Shape::FromDims(dims); }

// ---- MatMul ------------------------------------------------------------------------------------

std::string MatMulOperands(const TensorSpec& a, const TensorSpec& b, bool ta, bool tb) {
  std::string s = absl::StrCat(a.ToString(), " x ", b.ToString());
  if (ta || tb) {
    absl::StrAppend(&s, " (", ta ? "transpose_a" : "", ta && tb ? ", " : "",
                    tb ? "transpose_b" : "", ")");
  }
  return s;
}

Specs InferMatMul(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& a = in[0];
  const TensorSpec& b = in[1];
  const bool ta_attr = attrs.transpose_a, tb_attr = attrs.transpose_b;
  const std::string operands = MatMulOperands(a, b, ta_attr, tb_attr);
  if (a.shape.rank() == 0 || b.shape.rank() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: operands must have rank >= 1: ", operands));
  }
  if (a.dtype != b.dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: dtype mismatch: ", a.ToString(), " vs ", b.ToString()));
  }
  if (a.dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: dtype bool of ", a.ToString(),
                     " is not supported; expected one of float32, float64, int32, int64"));
  }
  const int ra = a.shape.rank(), rb = b.shape.rank();
  const bool a_vector = ra == 1, b_vector = rb == 1;
  const bool ta = ta_attr && !a_vector, tb = tb_attr && !b_vector;
  const int64_t a_rows = a_vector ? 1 : a.shape.dim(ra - 2), a_cols = a.shape.dim(ra - 1);
  const int64_t b_rows = b_vector ? b.shape.dim(0) : b.shape.dim(rb - 2);
  const int64_t b_cols = b_vector ? 1 : b.shape.dim(rb - 1);
  const int64_t m = ta ? a_cols : a_rows, k = ta ? a_rows : a_cols;
  const int64_t k_b = tb ? b_cols : b_rows, n = tb ? b_rows : b_cols;
  if (k != k_b) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: inner dimensions differ: ", operands, " (", k, " vs ", k_b, ")"));
  }
  const std::vector<int64_t> a_dims = a.shape.ToVector(), b_dims = b.shape.ToVector();
  const Shape a_batch =
      MakeShape({a_dims.begin(), a_dims.begin() + (a_vector ? 0 : ra - 2)}).value();
  const Shape b_batch =
      MakeShape({b_dims.begin(), b_dims.begin() + (b_vector ? 0 : rb - 2)}).value();
  absl::StatusOr<Shape> batch = engine::BroadcastShapes("MatMul", a_batch, b_batch);
  if (!batch.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("MatMul: batch dimensions ", a_batch.ToString(),
                                                   " and ", b_batch.ToString(),
                                                   " do not broadcast: ", operands));
  }
  if (engine::IsFloating(a.dtype) && !(FitsInt(m) && FitsInt(n) && FitsInt(k))) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: matrix dimensions above 2^31 - 1 are not supported: ", operands));
  }
  std::vector<int64_t> out = batch->ToVector();
  if (!a_vector) out.push_back(m);
  if (!b_vector) out.push_back(n);
  absl::StatusOr<Shape> shape = MakeShape(out);
  if (!shape.ok()) return shape.status();
  return std::vector<TensorSpec>{{a.dtype, *shape}};
}

absl::StatusOr<std::vector<Tensor>> ForwardMatMul(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::MatMul(in[0], in[1], attrs.transpose_a, attrs.transpose_b));
}

// ---- ContractLeading ---------------------------------------------------------------------------

Specs InferContractLeading(absl::Span<const TensorSpec> in, const Attrs& /*attrs*/) {
  const TensorSpec& a = in[0];
  const TensorSpec& b = in[1];
  const std::string operands = absl::StrCat(a.ToString(), " and ", b.ToString());
  if (a.shape.rank() < 2 || a.shape.rank() != b.shape.rank()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ContractLeading: operands must have one rank >= 2: ", operands));
  }
  for (int d = 0; d + 1 < a.shape.rank(); ++d) {
    if (a.shape.dim(d) != b.shape.dim(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ContractLeading: leading dimensions differ: ", operands));
    }
  }
  // MatMul's checks of dtypes and sizes, on one row of each: [1, K]^T x [1, N] is [K, N].
  const int r = a.shape.rank();
  Attrs transposed;
  transposed.transpose_a = true;
  Specs out = InferMatMul({TensorSpec{a.dtype, Shape({1, a.shape.dim(r - 1)})},
                           TensorSpec{b.dtype, Shape({1, b.shape.dim(r - 1)})}},
                          transposed);
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ContractLeading: ", out.status().message(), " (", operands, ")"));
  }
  return out;
}

absl::StatusOr<std::vector<Tensor>> ForwardContractLeading(absl::Span<const Tensor> in,
                                                            const Attrs& attrs) {
  CONCORD_RETURN_IF_ERROR(InferContractLeading({SpecOf(in[0]), SpecOf(in[1])}, attrs).status());
  const int r = in[0].rank();
  const int64_t k = in[0].shape().dim(r - 1), n = in[1].shape().dim(r - 1);
  int64_t rows = 1;
  for (int d = 0; d + 1 < r; ++d) rows *= in[0].shape().dim(d);
  CONCORD_ASSIGN_OR_RETURN(Tensor a, engine::Reshape(in[0], {rows, k}));
  CONCORD_ASSIGN_OR_RETURN(Tensor b, engine::Reshape(in[1], {rows, n}));
  return internal::SingleOutput(engine::MatMul(a, b, /*transpose_a=*/true));
}

// ---- Convolution -------------------------------------------------------------------------------

// One spatial axis of a sliding window (TensorFlow's SAME/VALID rules, as engine/conv.h states).
struct Window {
  int64_t in = 0, taps = 1, stride = 1, dilation = 1, out = 0;
  int64_t span() const { return (taps - 1) * dilation + 1; }
};

Window MakeWindow(int64_t in, int64_t taps, int64_t stride, int64_t dilation, Padding padding) {
  Window w{in, taps, stride, dilation, 0};
  if (padding == Padding::kValid) {
    const int64_t room = in - w.span();
    w.out = room < 0 ? 0 : room / stride + 1;
  } else {
    w.out = (in + stride - 1) / stride;
  }
  return w;
}

absl::Status ConvError(absl::string_view op, const std::string& operands, const Attrs& attrs,
                       absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": ", what, ": ", operands, ", strides ", Pair(attrs.strides), ", padding ",
                   engine::PaddingName(attrs.padding), ", dilations ", Pair(attrs.dilations)));
}

// The engine's CheckFloatingPair: both operands one floating dtype.
absl::Status CheckFloatingPair(absl::string_view op, const std::string& operands,
                               const TensorSpec& a, const TensorSpec& b, const Attrs& attrs) {
  if (a.dtype != b.dtype) return ConvError(op, operands, attrs, "dtype mismatch");
  if (!engine::IsFloating(a.dtype)) {
    return ConvError(op, operands, attrs, "only float32 and float64 are supported");
  }
  return absl::OkStatus();
}

// Conv2D's output shape for `input` and `filter` shapes, or the engine's error for the op `op`
// whose operands read `operands`.
absl::StatusOr<Shape> ConvOutputShape(absl::string_view op, const std::string& operands,
                                      const Shape& input, const Shape& filter, const Attrs& attrs) {
  auto error = [&](absl::string_view what) { return ConvError(op, operands, attrs, what); };
  if (input.rank() != 4) {
    return error(absl::StrCat("input must have rank 4 (NHWC), not ", input.rank()));
  }
  if (filter.rank() != 4) {
    return error(absl::StrCat("filter must have rank 4 (HWIO), not ", filter.rank()));
  }
  for (int i = 0; i < 2; ++i) {
    if (attrs.strides[i] <= 0 || attrs.dilations[i] <= 0 || !FitsInt(attrs.strides[i]) ||
        !FitsInt(attrs.dilations[i])) {
      return error("strides and dilations must be positive (and below 2^31)");
    }
  }
  for (int d = 0; d < 4; ++d) {
    if (!FitsInt(input.dim(d)) || !FitsInt(filter.dim(d))) {
      return error("dimensions above 2^31 - 1 are not supported");
    }
  }
  if (filter.dim(0) == 0 || filter.dim(1) == 0) {
    return error("filter height and width must be positive");
  }
  if (filter.dim(2) != input.dim(3)) {
    return error(absl::StrCat("input has ", input.dim(3), " channels but the filter expects ",
                              filter.dim(2)));
  }
  const Window h =
      MakeWindow(input.dim(1), filter.dim(0), attrs.strides[0], attrs.dilations[0], attrs.padding);
  const Window w =
      MakeWindow(input.dim(2), filter.dim(1), attrs.strides[1], attrs.dilations[1], attrs.padding);
  if (attrs.padding == Padding::kValid && (h.out <= 0 || w.out <= 0)) {
    return error(absl::StrCat("VALID padding leaves no output: the dilated filter is ", h.span(),
                              "x", w.span(), " and the input ", h.in, "x", w.in));
  }
  if (h.taps * w.taps > kIntMax / std::max<int64_t>(input.dim(3), 1) || !FitsInt(h.out * w.out)) {
    return error("the im2col matrix would exceed the 32-bit BLAS interface");
  }
  return MakeShape({input.dim(0), h.out, w.out, filter.dim(3)});
}

// Conv2D (inputs, filter) and Conv2DBiasRelu (and bias): the engine's checks in the engine's order
// (the pair, the bias dtype, the geometry, the bias shape).
Specs InferConvForward(absl::string_view op, absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const bool bias = in.size() == 3;
  std::string operands = absl::StrCat("input ", in[0].ToString(), ", filter ", in[1].ToString());
  if (bias) absl::StrAppend(&operands, ", bias ", in[2].ToString());
  if (absl::Status s = CheckFloatingPair(op, operands, in[0], in[1], attrs); !s.ok()) return s;
  if (bias && in[2].dtype != in[0].dtype) return ConvError(op, operands, attrs, "dtype mismatch");
  absl::StatusOr<Shape> out = ConvOutputShape(op, operands, in[0].shape, in[1].shape, attrs);
  if (!out.ok()) return out.status();
  const int64_t filters = in[1].shape.dim(3);
  if (bias && in[2].shape != Shape({filters})) {
    return ConvError(op, operands, attrs,
                     absl::StrCat("bias must have shape [", filters, "], one per filter"));
  }
  return std::vector<TensorSpec>{{in[0].dtype, *out}};
}

Specs InferConv2D(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  return InferConvForward("Conv2D", in, attrs);
}

Specs InferConv2DBiasRelu(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  return InferConvForward("Conv2DBiasRelu", in, attrs);
}

// Inputs (filter, out_backprop); attrs.shape is the input's shape.
Specs InferConv2DBackpropInput(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Conv2DBackpropInput";
  const std::string operands = absl::StrCat("input_shape ", attrs.shape.ToString(), ", filter ",
                                            in[0].ToString(), ", out_backprop ", in[1].ToString());
  if (absl::Status s = CheckFloatingPair(kOp, operands, in[0], in[1], attrs); !s.ok()) return s;
  absl::StatusOr<Shape> out = ConvOutputShape(kOp, operands, attrs.shape, in[0].shape, attrs);
  if (!out.ok()) return out.status();
  if (in[1].shape != *out) {
    return ConvError(
        kOp, operands, attrs,
        absl::StrCat("out_backprop must have Conv2D's output shape ", out->ToString()));
  }
  return std::vector<TensorSpec>{{in[0].dtype, attrs.shape}};
}

// Inputs (input, out_backprop); attrs.shape is the filter's shape.
Specs InferConv2DBackpropFilter(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Conv2DBackpropFilter";
  const std::string operands =
      absl::StrCat("input ", in[0].ToString(), ", filter_shape ", attrs.shape.ToString(),
                   ", out_backprop ", in[1].ToString());
  if (absl::Status s = CheckFloatingPair(kOp, operands, in[0], in[1], attrs); !s.ok()) return s;
  absl::StatusOr<Shape> out = ConvOutputShape(kOp, operands, in[0].shape, attrs.shape, attrs);
  if (!out.ok()) return out.status();
  if (in[1].shape != *out) {
    return ConvError(
        kOp, operands, attrs,
        absl::StrCat("out_backprop must have Conv2D's output shape ", out->ToString()));
  }
  return std::vector<TensorSpec>{{in[0].dtype, attrs.shape}};
}

absl::StatusOr<std::vector<Tensor>> ForwardConv2D(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(
      engine::Conv2D(in[0], in[1], attrs.strides, attrs.padding, attrs.dilations));
}

absl::StatusOr<std::vector<Tensor>> ForwardConv2DBiasRelu(absl::Span<const Tensor> in,
                                                          const Attrs& attrs) {
  return internal::SingleOutput(engine::Conv2DBiasRelu(in[0], in[1], in[2], attrs.strides,
                                                       attrs.padding, attrs.dilations));
}

absl::StatusOr<std::vector<Tensor>> ForwardConv2DBackpropInput(absl::Span<const Tensor> in,
                                                               const Attrs& attrs) {
  return internal::SingleOutput(engine::Conv2DBackpropInput(
      attrs.shape, in[0], in[1], attrs.strides, attrs.padding, attrs.dilations));
}

absl::StatusOr<std::vector<Tensor>> ForwardConv2DBackpropFilter(absl::Span<const Tensor> in,
                                                                const Attrs& attrs) {
  return internal::SingleOutput(engine::Conv2DBackpropFilter(
      in[0], attrs.shape, in[1], attrs.strides, attrs.padding, attrs.dilations));
}

// ---- Pooling -----------------------------------------------------------------------------------

absl::Status PoolError(absl::string_view op, const std::string& operands, const Attrs& attrs,
                       absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": ", what, ": ", operands, ", ksize ", Pair(attrs.ksize), ", strides ",
                   Pair(attrs.strides), ", padding ", engine::PaddingName(attrs.padding)));
}

absl::StatusOr<Shape> PoolOutputShape(absl::string_view op, const std::string& operands,
                                      const Shape& input, const Attrs& attrs) {
  if (input.rank() != 4) {
    return PoolError(op, operands, attrs,
                     absl::StrCat("input must have rank 4 (NHWC), not ", input.rank()));
  }
  for (int i = 0; i < 2; ++i) {
    if (attrs.ksize[i] <= 0 || attrs.strides[i] <= 0 || attrs.ksize[i] > kIntMax ||
        attrs.strides[i] > kIntMax) {
      return PoolError(op, operands, attrs, "ksize and strides must be positive (and below 2^31)");
    }
  }
  const Window h = MakeWindow(input.dim(1), attrs.ksize[0], attrs.strides[0], 1, attrs.padding);
  const Window w = MakeWindow(input.dim(2), attrs.ksize[1], attrs.strides[1], 1, attrs.padding);
  if (attrs.padding == Padding::kValid && (h.out <= 0 || w.out <= 0)) {
    return PoolError(op, operands, attrs,
                     absl::StrCat("VALID padding leaves no output: the window is ", h.taps, "x",
                                  w.taps, " and the input ", h.in, "x", w.in));
  }
  return MakeShape({input.dim(0), h.out, w.out, input.dim(3)});
}

absl::Status CheckPoolFloating(absl::string_view op, const std::string& operands,
                               const TensorSpec& t, const Attrs& attrs) {
  if (engine::IsFloating(t.dtype)) return absl::OkStatus();
  return PoolError(op, operands, attrs, "only float32 and float64 are supported");
}

absl::Status CheckPoolGradShape(absl::string_view op, const std::string& operands,
                                const Shape& pooled, const TensorSpec& grad, const Attrs& attrs) {
  if (grad.shape == pooled) return absl::OkStatus();
  return PoolError(op, operands, attrs,
                   absl::StrCat("output_grad must have the pooled shape ", pooled.ToString()));
}

// MaxPool2D and AvgPool2D share one rule.
template <const char* kOp>
Specs InferPool(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const std::string operands = absl::StrCat("input ", in[0].ToString());
  if (absl::Status s = CheckPoolFloating(kOp, operands, in[0], attrs); !s.ok()) return s;
  absl::StatusOr<Shape> out = PoolOutputShape(kOp, operands, in[0].shape, attrs);
  if (!out.ok()) return out.status();
  return std::vector<TensorSpec>{{in[0].dtype, *out}};
}
constexpr char kMaxPool2DName[] = "MaxPool2D";
constexpr char kAvgPool2DName[] = "AvgPool2D";

// Inputs (input, output_grad).
Specs InferMaxPool2DGrad(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "MaxPool2DGrad";
  const std::string operands =
      absl::StrCat("input ", in[0].ToString(), ", output_grad ", in[1].ToString());
  if (absl::Status s = CheckPoolFloating(kOp, operands, in[0], attrs); !s.ok()) return s;
  if (in[1].dtype != in[0].dtype) return PoolError(kOp, operands, attrs, "dtype mismatch");
  absl::StatusOr<Shape> out = PoolOutputShape(kOp, operands, in[0].shape, attrs);
  if (!out.ok()) return out.status();
  if (absl::Status s = CheckPoolGradShape(kOp, operands, *out, in[1], attrs); !s.ok()) return s;
  return std::vector<TensorSpec>{in[0]};
}

// Input (output_grad); attrs.shape is the pooled input's shape.
Specs InferAvgPool2DGrad(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "AvgPool2DGrad";
  const std::string operands =
      absl::StrCat("input_shape ", attrs.shape.ToString(), ", output_grad ", in[0].ToString());
  if (absl::Status s = CheckPoolFloating(kOp, operands, in[0], attrs); !s.ok()) return s;
  absl::StatusOr<Shape> out = PoolOutputShape(kOp, operands, attrs.shape, attrs);
  if (!out.ok()) return out.status();
  if (absl::Status s = CheckPoolGradShape(kOp, operands, *out, in[0], attrs); !s.ok()) return s;
  return std::vector<TensorSpec>{{in[0].dtype, attrs.shape}};
}

absl::StatusOr<std::vector<Tensor>> ForwardMaxPool2D(absl::Span<const Tensor> in,
                                                     const Attrs& attrs) {
  return internal::SingleOutput(
      engine::MaxPool2D(in[0], attrs.ksize, attrs.strides, attrs.padding));
}

absl::StatusOr<std::vector<Tensor>> ForwardMaxPool2DGrad(absl::Span<const Tensor> in,
                                                         const Attrs& attrs) {
  return internal::SingleOutput(
      engine::MaxPool2DGrad(in[0], in[1], attrs.ksize, attrs.strides, attrs.padding));
}

absl::StatusOr<std::vector<Tensor>> ForwardAvgPool2D(absl::Span<const Tensor> in,
                                                     const Attrs& attrs) {
  return internal::SingleOutput(
      engine::AvgPool2D(in[0], attrs.ksize, attrs.strides, attrs.padding));
}

absl::StatusOr<std::vector<Tensor>> ForwardAvgPool2DGrad(absl::Span<const Tensor> in,
                                                         const Attrs& attrs) {
  return internal::SingleOutput(
      engine::AvgPool2DGrad(attrs.shape, in[0], attrs.ksize, attrs.strides, attrs.padding));
}

Attrs ConvAttrs(std::array<int64_t, 2> strides, Padding padding, std::array<int64_t, 2> dilations) {
  Attrs attrs;
  attrs.strides = strides;
  attrs.padding = padding;
  attrs.dilations = dilations;
  return attrs;
}

Attrs PoolAttrs(std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides, Padding padding) {
  Attrs attrs;
  attrs.ksize = ksize;
  attrs.strides = strides;
  attrs.padding = padding;
  return attrs;
}

}  // namespace

namespace internal {

void RegisterLinalgOps(OpDef* table) {
  auto set = [table](Primitive p, InferFn infer, ForwardFn forward, GradFn grad,
                     bool saves_inputs) {
    OpDef& def = table[static_cast<int>(p)];
    def.infer = infer;
    def.forward = forward;
    def.grad = grad;
    def.saves_inputs = saves_inputs;
    def.saves_outputs = false;  // no linalg rule reads its forward output (but see MaxPool2D)
  };
  set(Primitive::kMatMul, InferMatMul, ForwardMatMul, MatMulGrad, true);
  set(Primitive::kContractLeading, InferContractLeading, ForwardContractLeading,
      ContractLeadingGrad, true);
  set(Primitive::kConv2D, InferConv2D, ForwardConv2D, Conv2DGrad, true);
  set(Primitive::kConv2DBiasRelu, InferConv2DBiasRelu, ForwardConv2DBiasRelu, Conv2DBiasReluGrad,
      true);
  // Its rule reads the output (ReluGrad), and it has one given d pre-activation.
  table[static_cast<int>(Primitive::kConv2DBiasRelu)].saves_outputs = true;
  table[static_cast<int>(Primitive::kConv2DBiasRelu)].grad_before_relu =
      Conv2DBiasReluGradBeforeRelu;
  set(Primitive::kConv2DBackpropInput, InferConv2DBackpropInput, ForwardConv2DBackpropInput,
      Conv2DBackpropInputGrad, true);
  set(Primitive::kConv2DBackpropFilter, InferConv2DBackpropFilter, ForwardConv2DBackpropFilter,
      Conv2DBackpropFilterGrad, true);
  set(Primitive::kMaxPool2D, InferPool<kMaxPool2DName>, ForwardMaxPool2D, MaxPool2DGradRule, true);
  // The tape's ReLU-then-max-pool rewrite reads the pooled output (Note [ReLU then max pooling]
  // in autodiff/tape.cc).
  table[static_cast<int>(Primitive::kMaxPool2D)].saves_outputs = true;
  set(Primitive::kMaxPool2DGrad, InferMaxPool2DGrad, ForwardMaxPool2DGrad, MaxPool2DGradGrad, true);
  set(Primitive::kAvgPool2D, InferPool<kAvgPool2DName>, ForwardAvgPool2D, AvgPool2DGradRule, false);
  set(Primitive::kAvgPool2DGrad, InferAvgPool2DGrad, ForwardAvgPool2DGrad, AvgPool2DGradGrad,
      false);
}

}  // namespace internal

Value MatMul(const Value& a, const Value& b, bool transpose_a, bool transpose_b) {
  Attrs attrs;
  attrs.transpose_a = transpose_a;
  attrs.transpose_b = transpose_b;
  return Dispatch1(Primitive::kMatMul, {a, b}, attrs);
}

Value ContractLeading(const Value& a, const Value& b) {
  return Dispatch1(Primitive::kContractLeading, {a, b}, Attrs());
}

Value Conv2D(const Value& input, const Value& filter, std::array<int64_t, 2> strides,
             Padding padding, std::array<int64_t, 2> dilations) {
  return Dispatch1(Primitive::kConv2D, {input, filter}, ConvAttrs(strides, padding, dilations));
}

Value Conv2DBiasRelu(const Value& input, const Value& filter, const Value& bias,
                     std::array<int64_t, 2> strides, Padding padding,
                     std::array<int64_t, 2> dilations) {
  return Dispatch1(Primitive::kConv2DBiasRelu, {input, filter, bias},
                   ConvAttrs(strides, padding, dilations));
}

Value Conv2DBackpropInput(const Shape& input_shape, const Value& filter, const Value& out_backprop,
                          std::array<int64_t, 2> strides, Padding padding,
                          std::array<int64_t, 2> dilations) {
  Attrs attrs = ConvAttrs(strides, padding, dilations);
  attrs.shape = input_shape;
  return Dispatch1(Primitive::kConv2DBackpropInput, {filter, out_backprop}, attrs);
}

Value Conv2DBackpropFilter(const Value& input, const Shape& filter_shape, const Value& out_backprop,
                           std::array<int64_t, 2> strides, Padding padding,
                           std::array<int64_t, 2> dilations) {
  Attrs attrs = ConvAttrs(strides, padding, dilations);
  attrs.shape = filter_shape;
  return Dispatch1(Primitive::kConv2DBackpropFilter, {input, out_backprop}, attrs);
}

Value MaxPool2D(const Value& input, std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                Padding padding) {
  return Dispatch1(Primitive::kMaxPool2D, {input}, PoolAttrs(ksize, strides, padding));
}

Value MaxPool2DGrad(const Value& input, const Value& output_grad, std::array<int64_t, 2> ksize,
                    std::array<int64_t, 2> strides, Padding padding) {
  return Dispatch1(Primitive::kMaxPool2DGrad, {input, output_grad},
                   PoolAttrs(ksize, strides, padding));
}

Value AvgPool2D(const Value& input, std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                Padding padding) {
  return Dispatch1(Primitive::kAvgPool2D, {input}, PoolAttrs(ksize, strides, padding));
}

Value AvgPool2DGrad(const Shape& input_shape, const Value& output_grad,
                    std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides, Padding padding) {
  Attrs attrs = PoolAttrs(ksize, strides, padding);
  attrs.shape = input_shape;
  return Dispatch1(Primitive::kAvgPool2DGrad, {output_grad}, attrs);
}

}  // namespace concord::autodiff
