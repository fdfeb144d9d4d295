// The random primitives (autodiff/random_ops.h): DropoutMask.
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/attrs.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/random_ops.h"
#include "engine/random.h"

namespace concord::autodiff {
namespace {

// Attributes: seed, key (the stream key's prefix), depth (the call index), on (the rate), shape
// and dtype of the mask.
absl::StatusOr<std::vector<TensorSpec>> DropoutMaskInfer(absl::Span<const TensorSpec> in,
                                                         const Attrs& attrs) {
  if (in[0].dtype != engine::DType::kInt64 || in[0].shape.rank() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DropoutMask: the step must be an int64 scalar, got ", in[0].ToString()));
  }
  if (!engine::IsFloating(attrs.dtype) || !(attrs.on >= 0.0 && attrs.on < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DropoutMask: needs a floating dtype and a rate in [0, 1), got ",
        engine::DTypeName(attrs.dtype), " and ", attrs.on));
  }
  return std::vector<TensorSpec>{TensorSpec{attrs.dtype, attrs.shape}};
}

absl::StatusOr<std::vector<engine::Tensor>> DropoutMaskForward(
    absl::Span<const engine::Tensor> in, const Attrs& attrs) {
  const int64_t step = in[0].data<int64_t>()[0];
  const engine::RngStream stream{
      attrs.seed, engine::StableHash64(absl::StrCat(attrs.key, step, ":", attrs.depth)), 0};
  return internal::SingleOutput(engine::DropoutMask(attrs.shape, attrs.dtype, stream, attrs.on));
}

}  // namespace

namespace internal {

void RegisterRandomOps(OpDef* table) {
  SetOpDef(table, Primitive::kDropoutMask, &DropoutMaskInfer, &DropoutMaskForward,
           /*grad=*/nullptr, /*saves_inputs=*/false, /*saves_outputs=*/false);
}

}  // namespace internal

Value DropoutMask(const Value& step, uint64_t seed, const std::string& key, int64_t call_index,
                  const engine::Shape& shape, engine::DType dtype, double rate) {
  Attrs attrs;
  attrs.seed = seed;
  attrs.key = key;
  attrs.depth = call_index;
  attrs.shape = shape;
  attrs.dtype = dtype;
  attrs.on = rate;
  return Dispatch1(Primitive::kDropoutMask, {step}, attrs);
}

}  // namespace concord::autodiff
