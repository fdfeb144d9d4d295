// FunctionLayer: a layer made of a user's composition of autodiff ops, with a name that configs
// store and a process-wide registry that finds the function again (Keras's Lambda layer, made
// serializable by name instead of by code).
//
//   RETURN_IF_ERROR(RegisterLayerFunction("swish", [](absl::Span<const Value> x, bool) {
//     return std::vector<Value>{x[0] * Sigmoid(x[0])}; }));
//
// A function layer has no variables and must be a pure composition of ops on its inputs (no
// layers with variables, no host reads of values): its output specs are found by running it.
// Unless an output spec function is given, ComputeOutputSpecs runs the function (training =
// false, under NoGradScope) on zero tensors of the input specs with every unknown size set to 2,
// and again set to 3 when some size is unknown; an output size that differs between the two runs
// is unknown. Results are cached for the last few input specs, so eager calls run the function on
// zeros only for input specs they have not seen. A function whose output count, dtypes or ranks
// depend on the unknown sizes, or that fails on zeros, needs an output spec function.
#ifndef CONCORD_MODELS_LAYERS_FUNCTION_LAYER_H_
#define CONCORD_MODELS_LAYERS_FUNCTION_LAYER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "models/layer.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// LayerFunction computes a function layer's outputs from its inputs with autodiff ops.
using LayerFunction = std::function<std::vector<autodiff::Value>(
    absl::Span<const autodiff::Value> inputs, bool training)>;
// LayerSpecFunction gives the output specs for input specs whose sizes may be kUnknownDim, or an
// error for inputs the function does not accept.
using LayerSpecFunction =
    std::function<absl::StatusOr<std::vector<TensorSpec>>(absl::Span<const TensorSpec> inputs)>;

// RegisterLayerFunction makes `fn` (and its optional spec function) findable by `name`, for
// FunctionLayer::FromConfig. Thread-safe. InvalidArgument for a null fn or a name that is not a
// non-empty string of [A-Za-z0-9_.:/-]; AlreadyExists when `name` is registered.
absl::Status RegisterLayerFunction(std::string name, LayerFunction fn,
                                   LayerSpecFunction spec_fn = nullptr);
// RegisteredLayerFunctions lists the registered names, sorted.
std::vector<std::string> RegisteredLayerFunctions();

// FunctionLayerOptions are FunctionLayer's optional arguments.
struct FunctionLayerOptions {
  // output_specs, when set, gives the output specs instead of running the function on zeros.
  LayerSpecFunction output_specs;
};

// FunctionLayer applies a LayerFunction (see the file comment). Inputs and outputs: whatever the
// function takes and returns (one or more outputs).
class FunctionLayer : public Layer {
 public:
  // Create validates `function_name` (as RegisterLayerFunction does), that `fn` is set, and
  // `name` (InvalidArgument "FunctionLayer: ..."). The function need not be registered, but
  // only a registered one can be rebuilt from the config.
  static absl::StatusOr<std::shared_ptr<FunctionLayer>> Create(std::string function_name,
                                                               LayerFunction fn,
                                                               FunctionLayerOptions options = {},
                                                               std::string name = "");
  // FromConfig reads what GetConfig writes, {"name", "function"}, and takes the function and its
  // spec function from the registry; an unregistered name is InvalidArgument listing the
  // registered ones.
  static absl::StatusOr<std::shared_ptr<FunctionLayer>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "FunctionLayer"; }
  const std::string& function_name() const { return function_name_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  FunctionLayer(std::string function_name, LayerFunction fn, FunctionLayerOptions options,
                std::string name)
      : Layer(std::move(name)),
        function_name_(std::move(function_name)),
        fn_(std::move(fn)),
        options_(std::move(options)) {}

  // RunOnZeros runs the function on zeros of `inputs` with unknown sizes set to `size`.
  absl::StatusOr<std::vector<TensorSpec>> RunOnZeros(absl::Span<const TensorSpec> inputs,
                                                     int64_t size) const;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputSpecs(
      absl::Span<const TensorSpec> inputs) const;

  std::string function_name_;
  LayerFunction fn_;
  FunctionLayerOptions options_;

  // The inferred specs of the last few distinct input specs, oldest first (a first eager call
  // asks for both the concrete specs and, building, the ones with the batch unknown).
  struct CachedSpecs {
    std::vector<TensorSpec> inputs;
    std::vector<TensorSpec> outputs;
  };
  static constexpr size_t kCacheSize = 8;
  mutable absl::Mutex cache_mu_;
  mutable std::vector<CachedSpecs> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_FUNCTION_LAYER_H_
