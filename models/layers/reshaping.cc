#include "models/layers/reshaping.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layers/layer_checks.h"

namespace concord::models {

using autodiff::Value;

namespace {

constexpr char kAnyLayout[] = "[batch, ...]";

// ElementsPerExample is the product of dims[1:], or kUnknownDim when one of them is unknown.
int64_t ElementsPerExample(const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] == kUnknownDim) return kUnknownDim;
    count *= dims[i];
  }
  return count;
}

std::string DimsString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

}  // namespace

// --- Flatten -------------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Flatten>> Flatten::Create(std::string name) {
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Flatten", name));
  return std::shared_ptr<Flatten>(new Flatten(std::move(name)));
}

absl::StatusOr<std::shared_ptr<Flatten>> Flatten::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Flatten", config);
  std::string name = r.Name();
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Flatten::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem =
      internal::CheckOneInput(inputs, 1, engine::kMaxRank, /*floating=*/false, kAnyLayout);
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  return std::vector<TensorSpec>{TensorSpec({x.dims[0], ElementsPerExample(x.dims)}, x.dtype)};
}

std::vector<Value> Flatten::CallImpl(absl::Span<const Value> inputs,
                                     const CallContext& /*context*/) {
  const Value& x = inputs[0];
  if (!x.shape().fully_known()) {
    // An unknown batch (a shape-polymorphic trace): autodiff's Flatten reshapes to [-1, rest], or
    // reads the sizes where -1 cannot stand for it, which fails the trace (Note [Unknown sizes in
    // models] in models/unknown_dims.h).
    return {autodiff::Flatten(x)};
  }
  const std::vector<int64_t> dims = x.shape().ToVector();
  return {autodiff::Reshape(x, {dims[0], ElementsPerExample(dims)})};
}

// --- Reshape -------------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Reshape>> Reshape::Create(std::vector<int64_t> target_shape,
                                                         std::string name) {
  auto invalid = [](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("Reshape: ", message));
  };
  if (target_shape.size() + 1 > static_cast<size_t>(engine::kMaxRank)) {
    return invalid(absl::StrCat("target_shape must hold at most ", engine::kMaxRank - 1,
                                " sizes (the batch is added), got ", DimsString(target_shape)));
  }
  int unknown = 0;
  bool ok = true;
  for (int64_t d : target_shape) {
    if (d == -1) ++unknown;
    ok = ok && (d == -1 || (d >= 1 && d <= engine::kMaxElements));
  }
  if (!ok || unknown > 1) {
    return invalid(absl::StrCat("target_shape must hold sizes >= 1 and at most one -1, got ",
                                DimsString(target_shape)));
  }
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Reshape", name));
  return std::shared_ptr<Reshape>(new Reshape(std::move(target_shape), std::move(name)));
}

absl::StatusOr<std::shared_ptr<Reshape>> Reshape::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Reshape", config);
  std::string name = r.Name();
  std::vector<int64_t> target_shape = r.Ints("target_shape");
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(target_shape), std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Reshape::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem =
      internal::CheckOneInput(inputs, 1, engine::kMaxRank, /*floating=*/false, kAnyLayout);
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  const int64_t count = ElementsPerExample(x.dims);
  int64_t known = 1;  // the product of the target's known sizes
  int unknown_axis = -1;
  for (size_t i = 0; i < target_shape_.size(); ++i) {
    if (target_shape_[i] == -1) {
      unknown_axis = static_cast<int>(i);
    } else if (known > engine::kMaxElements / target_shape_[i]) {
      return Error(
          absl::StrCat("target_shape ", DimsString(target_shape_), " has more than 2^48 elements"));
    } else {
      known *= target_shape_[i];
    }
  }
  TensorSpec out({x.dims[0]}, x.dtype);
  out.dims.insert(out.dims.end(), target_shape_.begin(), target_shape_.end());
  if (count == kUnknownDim) {
    if (unknown_axis < 0) return std::vector<TensorSpec>{std::move(out)};
    out.dims[1 + unknown_axis] = kUnknownDim;
    return std::vector<TensorSpec>{std::move(out)};
  }
  if (unknown_axis < 0 ? count != known : count % known != 0) {
    return Error(absl::StrCat("expected ", unknown_axis < 0 ? "" : "a multiple of ", known,
                              " elements per example (the target shape is ",
                              DimsString(target_shape_), "), got ", x.ToString()));
  }
  if (unknown_axis >= 0) out.dims[1 + unknown_axis] = count / known;
  return std::vector<TensorSpec>{std::move(out)};
}

std::vector<Value> Reshape::CallImpl(absl::Span<const Value> inputs,
                                     const CallContext& /*context*/) {
  const Value& x = inputs[0];
  // The specs of the concrete input resolve the -1, so a batch of 0 reshapes too.
  std::vector<TensorSpec> in = SpecsOf(inputs);
  absl::StatusOr<std::vector<TensorSpec>> out = ComputeOutputSpecs(in);
  if (!out.ok()) return {Value::Error(out.status())};
  if (!x.shape().fully_known()) {
    // An unknown size (a shape-polymorphic trace) stays -1 in the target, which Reshape resolves
    // when the graph runs. Where -1 cannot stand for it (a second unknown size, or no elements
    // per example), the sizes are read, which fails the trace (Note [Unknown sizes in models] in
    // models/unknown_dims.h).
    int unknown = 0;
    bool zero = false;
    for (int64_t d : (*out)[0].dims) {
      unknown += d == kUnknownDim ? 1 : 0;
      zero = zero || d == 0;
    }
    if (unknown != 1 || zero) {
      in = {TensorSpec(x.shape().ToVector(), x.dtype())};
      out = ComputeOutputSpecs(in);
      if (!out.ok()) return {Value::Error(out.status())};
    }
  }
  return {autodiff::Reshape(x, (*out)[0].dims)};
}

absl::StatusOr<nlohmann::json> Reshape::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["target_shape"] = target_shape_;
  return config;
}

}  // namespace concord::models
