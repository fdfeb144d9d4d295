#include "models/layers/dropout.h"

#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "autodiff/random_ops.h"
#include "engine/dtype.h"
#include "engine/random.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"

namespace concord::models {
namespace {

using autodiff::Value;
using engine::DType;
using engine::Shape;
using engine::Tensor;

std::string DimsString(const std::vector<int64_t>& dims) {
  return TensorSpec(dims, DType::kFloat32).ShapeString();
}

// ResolvedNoiseShape is the noise shape for a concrete input: unknown entries take its sizes.
Shape ResolvedNoiseShape(const std::optional<std::vector<int64_t>>& noise_shape,
                         const Shape& input_shape) {
  if (!noise_shape.has_value()) return input_shape;
  Shape out = input_shape;
  for (int i = 0; i < out.rank(); ++i) {
    if ((*noise_shape)[i] != kUnknownDim) out.set_dim(i, (*noise_shape)[i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Dropout>> Dropout::Create(double rate, DropoutOptions options,
                                                         std::string name) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("Dropout: rate must be in [0, 1), got ", rate));
  }
  if (options.noise_shape.has_value()) {
    const std::vector<int64_t>& dims = *options.noise_shape;
    bool ok = dims.size() <= static_cast<size_t>(engine::kMaxRank);
    for (int64_t d : dims) ok = ok && (d == kUnknownDim || d >= 0);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Dropout: noise_shape must have at most 6 entries, each a size >= 0 or kUnknownDim "
          "(-1, the input's size), got ",
          DimsString(dims)));
    }
  }
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Dropout", name));
  return std::shared_ptr<Dropout>(new Dropout(rate, std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<Dropout>> Dropout::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Dropout", config);
  std::string name = r.Name();
  double rate = r.Float("rate");
  DropoutOptions options;
  nlohmann::json noise = r.Raw("noise_shape", /*required=*/false);
  if (!noise.is_null()) {
    std::vector<int64_t> dims;
    bool ok = noise.is_array();
    if (ok) {
      for (const nlohmann::json& d : noise) {
        if (d.is_null()) {
          dims.push_back(kUnknownDim);
        } else if (d.is_number_integer() && d.get<int64_t>() >= 0) {
          dims.push_back(d.get<int64_t>());
        } else {
          ok = false;
        }
      }
    }
    if (ok) {
      options.noise_shape = std::move(dims);
    } else {
      r.Fail("noise_shape",
             absl::StrCat("expected null or an array of sizes >= 0 or null, got ", noise.dump()));
    }
  }
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(rate, std::move(options), std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Dropout::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (inputs.size() != 1) {
    return Error(
        absl::StrCat("expected 1 input (a float32 or float64 tensor), got ", inputs.size()));
  }
  const TensorSpec& x = inputs[0];
  if (!engine::IsFloating(x.dtype)) {
    return Error(absl::StrCat("expected a float32 or float64 input, got ", x.ToString()));
  }
  if (options_.noise_shape.has_value()) {
    const std::vector<int64_t>& noise = *options_.noise_shape;
    bool ok = static_cast<int>(noise.size()) == x.rank();
    for (size_t i = 0; ok && i < noise.size(); ++i) {
      ok = noise[i] == kUnknownDim || noise[i] == 1 || x.dims[i] == kUnknownDim ||
           noise[i] == x.dims[i];
    }
    if (!ok) {
      return Error(absl::StrCat("noise_shape ", DimsString(noise), " does not fit input ",
                                x.ToString(),
                                " (expected one entry per axis, each ? or 1 or the input's size)"));
    }
  }
  return std::vector<TensorSpec>{x};
}

absl::StatusOr<nlohmann::json> Dropout::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["rate"] = rate_;
  if (options_.noise_shape.has_value()) {
    nlohmann::json dims = nlohmann::json::array();
    for (int64_t d : *options_.noise_shape) {
      if (d == kUnknownDim) {
        dims.push_back(nullptr);
      } else {
        dims.push_back(d);
      }
    }
    config["noise_shape"] = std::move(dims);
  } else {
    config["noise_shape"] = nullptr;
  }
  return config;
}

absl::StatusOr<Tensor> Dropout::Mask(const Shape& input_shape, DType dtype,
                                     const CallContext& context) const {
  const TensorSpec spec(input_shape.DimsOrMinusOne(), dtype);
  CONCORD_RETURN_IF_ERROR(ComputeOutputSpecs(absl::MakeConstSpan(&spec, 1)));
  const Shape noise_shape = ResolvedNoiseShape(options_.noise_shape, input_shape);
  if (!noise_shape.fully_known()) {
    // A host tensor needs every size; a traced call draws its mask with the DropoutMask op.
    return Error(absl::StrCat("Mask draws a mask on the host, which needs every size of the noise "
                              "shape, got ", noise_shape.ToString(), " for input ",
                              spec.ToString()));
  }
  const engine::RngStream stream{seed(),
                                 engine::StableHash64(absl::StrCat(
                                     path(), ":dropout:", context.step, ":", context.call_index)),
                                 0};
  return engine::DropoutMask(noise_shape, dtype, stream, rate_);
}

std::vector<Value> Dropout::CallImpl(absl::Span<const Value> inputs, const CallContext& context) {
  const Value& x = inputs[0];
  if (!context.training || rate_ == 0.0) return {x};
  const TensorSpec spec = TensorSpec::Of(x);
  if (absl::Status s = ComputeOutputSpecs(absl::MakeConstSpan(&spec, 1)).status(); !s.ok()) {
    return {Value::Error(s)};
  }
  // The mask is the DropoutMask primitive of the root's step, read by reference when traced, so
  // each run of a traced training call draws the mask of its own step (the same bits as Mask()).
  // Its shape may keep an unknown batch: the graph is given the size of each call (Note [Unknown
  // sizes in models] in models/unknown_dims.h).
  const Value step = context.step_resource != nullptr ? context.step_resource->Read()
                                                      : Value::Scalar<int64_t>(context.step);
  const Value mask = autodiff::DropoutMask(step, seed(), absl::StrCat(path(), ":dropout:"),
                                           context.call_index,
                                           ResolvedNoiseShape(options_.noise_shape, x.shape()),
                                           x.dtype(), rate_);
  return {autodiff::Mul(x, mask)};
}

}  // namespace concord::models
