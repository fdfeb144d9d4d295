// Model: a layer made of named layers. Derive from it to write a model as code (the subclass
// style); Functional and Sequential (models/functional.h) are models written as graphs. Both
// report the same variables, paths, summaries and pictures for the same architecture.
//
//   class Mlp : public Model {
//    public:
//     Mlp() : Model("mlp") {
//       DenseOptions relu;
//       relu.activation = "relu";
//       hidden_ = AddLayer("hidden", Dense::Create(64, relu));
//       out_ = AddLayer("out", Dense::Create(10));
//     }
//     Value Call(const Value& x, bool training) override {
//       return (*out_)((*hidden_)(x, training), training);
//     }
//    private:
//     Dense* hidden_;
//     Dense* out_;
//   };
//   ASSIGN_OR_RETURN(std::shared_ptr<Mlp> model, Model::Make<Mlp>());
//   Value logits = (*model)(x, /*training=*/false);   // variables hidden/kernel, hidden/bias, ...
//
// Note [Registration]
// A subclass registers every sublayer and sub-model by name with AddLayer, in its constructor.
// The name is the path segment (Note [Layer paths] in models/layer.h), so a subclass whose
// members are registered as "hidden" and "out" has exactly the variable paths of a functional
// model whose layers are named "hidden" and "out", and the same initial values for the same
// seed. A layer called several times in Call is one layer with one set of variables: its
// gradient is the sum over the calls. A constructor cannot return a status, so AddLayer records
// the first failure (a bad layer option, a duplicate name) and returns nullptr; Make returns that
// failure instead of the model, and a model constructed otherwise returns it from every call.
// Call never runs on a model whose construction failed.
#ifndef CONCORD_MODELS_MODEL_H_
#define CONCORD_MODELS_MODEL_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "models/layer.h"
#include "models/losses/losses.h"
#include "models/optimizers/optimizer.h"
#include "models/training.h"

namespace concord::models {

namespace internal {
struct TrainingState;
}  // namespace internal

class Model : public Layer {
 public:
  ~Model() override;

  // Make constructs T (a Model subclass) and returns it, or the first failure its constructor
  // recorded (Note [Registration]).
  template <typename T, typename... Args>
  static absl::StatusOr<std::shared_ptr<T>> Make(Args&&... args) {
    std::shared_ptr<T> model(new T(std::forward<Args>(args)...));
    if (!model->construction_status().ok()) return model->construction_status();
    return model;
  }

  bool is_model() const override { return true; }
  std::string class_name() const override { return "Model"; }
  bool has_output_spec_rule() const override { return false; }

  // construction_status is the first AddLayer failure, or OK.
  const absl::Status& construction_status() const { return construction_status_; }

  // A subclass overrides Call (one input, one output) or CallMultiple (any number). They receive
  // the `training` the model was called with and must pass it on to their layers.
  virtual autodiff::Value Call(const autodiff::Value& inputs, bool training);
  virtual std::vector<autodiff::Value> CallMultiple(absl::Span<const autodiff::Value> inputs,
                                                    bool training);

  // ComputeOutputSpecs of a subclassed model is Unimplemented (its outputs are known only by
  // running it); override it, together with has_output_spec_rule, to use the model inside a
  // functional model.
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;

  // Summary is a Keras-like table: one row per layer (nested layers indented, by path), its
  // class, output shape (from the first call, "?" for the batch) and parameter count, then the
  // total, trainable and non-trainable parameter counts.
  std::string Summary() const;
  // ToDot is a Graphviz digraph of the architecture: inputs, one box per layer (path, class,
  // output shape) and an edge per tensor passed between them. For a subclassed model it is drawn
  // from the layer calls of the last outermost call (empty of edges before the first call).
  std::string ToDot() const;

  // --- Training (models/training.h, Note [Training loop]) -----------------------------------
  // Compile sets the optimizer, the loss (applied to every output and summed) and metrics by
  // name (MetricFromName; computed on the first output). InvalidArgument for a null optimizer
  // or an unknown metric. Compiling again replaces all three (and the optimizer's slots).
  absl::Status Compile(std::unique_ptr<Optimizer> optimizer, Loss loss,
                       const std::vector<std::string>& metrics = {});
  bool compiled() const;
  // optimizer is the compiled optimizer (nullptr before Compile).
  Optimizer* optimizer() const;

  // Fit trains on (x, y): one tensor per model input and per output, all with the same number of
  // samples along axis 0. FailedPrecondition before Compile; InvalidArgument for mismatched
  // counts or shapes (naming them); an error in a step stops training and is returned.
  absl::StatusOr<History> Fit(absl::Span<const engine::Tensor> x,
                              absl::Span<const engine::Tensor> y, const FitOptions& options = {});
  absl::StatusOr<History> Fit(const engine::Tensor& x, const engine::Tensor& y,
                              const FitOptions& options = {});
  // TrainOnBatch runs one training step on one batch, traced unless it cannot be or `mode` says
  // otherwise (Note [Traced steps by default] in training.h), and returns its loss and metrics.
  absl::StatusOr<Logs> TrainOnBatch(absl::Span<const engine::Tensor> x,
                                    absl::Span<const engine::Tensor> y,
                                    StepMode mode = StepMode::kAuto);
  // traced_step_traces is how many times the traced training step was traced, 0 before the
  // first traced step: once for every batch size (Note [Unknown batch in traced steps] in
  // training.h), or, for a step that needs the batch on the host, the failed attempt and then
  // one per batch shape.
  int traced_step_traces() const;
  // set_on_warning sends the model's warnings (a traced step falling back to eager steps or to one
  // trace per batch shape, retracing) to `on_warning` instead of stderr; an empty function
  // restores stderr.
  void set_on_warning(std::function<void(const std::string&)> on_warning);
  // Evaluate computes the loss and metrics in inference mode, batch by batch.
  absl::StatusOr<Logs> Evaluate(absl::Span<const engine::Tensor> x,
                                absl::Span<const engine::Tensor> y, int64_t batch_size = 32);
  // Predict runs the model in inference mode batch by batch and concatenates the outputs.
  absl::StatusOr<std::vector<engine::Tensor>> Predict(absl::Span<const engine::Tensor> x,
                                                      int64_t batch_size = 32);

 protected:
  explicit Model(std::string name);

  // AddLayer registers `layer` as the sublayer `name` (Note [Registration]) and returns it, or
  // records the failure and returns nullptr.
  template <typename L>
  L* AddLayer(const std::string& name, absl::StatusOr<std::shared_ptr<L>> layer) {
    if (!layer.ok()) {
      RecordConstructionError(name, layer.status());
      return nullptr;
    }
    return AddLayer(name, *std::move(layer));
  }
  template <typename L>
  L* AddLayer(const std::string& name, std::shared_ptr<L> layer) {
    L* raw = layer.get();
    absl::Status status = AddSublayer(name, std::move(layer));
    if (!status.ok()) {
      RecordConstructionError(name, status);
      return nullptr;
    }
    return raw;
  }

  // BuildImpl of a subclassed model runs Call once on zeros of the specs (unknown sizes as 1)
  // with training = false, which builds every layer Call reaches.
  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

  // Graph is what Summary and ToDot draw: the model's inputs, its layer calls in order (each
  // naming its input and output tensors by integer id) and its outputs.
  struct Graph {
    struct Call {
      const Layer* layer = nullptr;
      std::vector<int64_t> inputs;
      std::vector<int64_t> outputs;
    };
    std::vector<std::pair<std::string, int64_t>> inputs;  // name, tensor id
    std::vector<Call> calls;
    std::vector<int64_t> outputs;
  };
  // DrawnGraph returns the graph (a subclass: from the last call's records).
  virtual Graph DrawnGraph() const;

 private:
  void RecordConstructionError(const std::string& name, const absl::Status& status);

  absl::Status construction_status_;
  // StepOnValues is one training step on values (eager, or traced by TracedStep): returns
  // {summed loss, first output}.
  absl::StatusOr<std::vector<autodiff::Value>> StepOnValues(absl::Span<const autodiff::Value> x,
                                                            absl::Span<const autodiff::Value> y);
  // TracedStep runs the step traced. When it fails because the step could not be traced (before
  // anything ran), it sets *untraceable.
  absl::Status TracedStep(absl::Span<const engine::Tensor> x, absl::Span<const engine::Tensor> y,
                          autodiff::Value* loss, autodiff::Value* first_output,
                          bool* untraceable);

  // Warn sends one warning line to on_warning_, or to stderr.
  void Warn(const std::string& line) const;

  std::unique_ptr<internal::TrainingState> training_;
  std::function<void(const std::string&)> on_warning_;
  std::vector<int64_t> last_input_ids_;
  std::vector<int64_t> last_output_ids_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_MODEL_H_
