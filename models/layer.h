// Layer: the unit models are made of — a named piece of computation that owns variables, builds
// them lazily from its first input, and is called eagerly on Values or symbolically on
// SymbolicTensors while a functional model is being written.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<Dense> dense, Dense::Create(10, DenseOptions(), "dense"));
//   Value y = (*dense)(x, /*training=*/false);      // builds dense/kernel, dense/bias on first
//   call SymbolicTensor h = (*dense)(Input({784}));       // records a node of a functional model
//
// Note [Layer paths]
// A layer's variables are named by where the layer sits, never by when it was made: a variable's
// path is the chain of layer names from just below the outermost model down to the layer, then
// the variable's own name ("block1/dense/kernel"). The outermost model contributes nothing, so a
// subclassed model and a functional model that name their layers alike give identical paths, and
// initial values are Initialize(initializer, root seed, path, ...) (Note [Initializer streams]).
// A layer that is called on its own, outside any model, is its own root and keeps its name
// ("dense/kernel"). The path is fixed when the layer is built (its variables are created then),
// so a layer or model must be placed in its parent before it is built; placing a built one is a
// FailedPrecondition. Names are one path segment of [A-Za-z0-9_.-] and unique among siblings.
//
// Note [Call context]
// Every call takes `training` explicitly (DESIGN.md decision 6): there is no default and no
// global learning phase. The outermost call (the model the user calls, or a lone layer) opens a
// call context on a thread-local stack; nested layer calls see it. It carries the root's step —
// the number of training-mode calls the root has completed, so Dropout masks are a pure function
// of (seed, layer path, step, how many times this layer was already called in this step) in
// either model style — and the step advances after each successful outermost training call.
// Inside a trace (autodiff::Function) that advance is a side effect of the graph: the step is a
// resource (step_resource()), so each run of a traced training call counts once, exactly as an
// eager call does.
//
// Note [Layer errors]
// A call never aborts on bad input. A layer checks its inputs against ComputeOutputSpecs and its
// variables; a failure becomes a Value that carries an InvalidArgument whose message starts with
// "layer 'block1/dense' (Dense): " and names the expected and the actual shapes. An error raised
// inside a nested layer is prefixed once, by the innermost layer, and passes through the outer
// ones unchanged. Inputs that already carry an error pass through untouched.
// Note [Call observers]
// A LayerCallObserver sees every eager layer call made on its thread while a
// ScopedLayerCallObserver holds it: after the layer's CallImpl returns, before the outputs are
// checked against their specs, with the layer, its call index (CallContext::call_index), its
// depth (0 for the outermost call) and its input and output Values. Calls are reported in the
// order they finish, so a model's call comes after the calls of its layers. A call that fails
// before running (inputs that carry errors, bad specs, a failed build) is not seen, and symbolic
// calls (writing a functional model) are not calls. The observer must not call layers itself:
// while it runs, no observer is installed. With no observer installed a call pays one
// thread-local pointer check. testing::CompareForms (testing/compare_forms.h) is built on it.
#ifndef CONCORD_MODELS_LAYER_H_
#define CONCORD_MODELS_LAYER_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "models/initializers.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// kUnknownDim marks a size not known before the call (the batch, in functional models).
inline constexpr int64_t kUnknownDim = -1;

// TensorSpec is a shape whose sizes may be unknown, and a dtype.
struct TensorSpec {
  std::vector<int64_t> dims;  // kUnknownDim for an unknown size
  engine::DType dtype = engine::DType::kFloat32;

  TensorSpec() = default;
  TensorSpec(std::vector<int64_t> dims, engine::DType dtype)
      : dims(std::move(dims)), dtype(dtype) {}
  // Of is the spec of a concrete tensor.
  static TensorSpec Of(const engine::Tensor& tensor);
  // Of is the spec of a value (which must be ok()), concrete or symbolic: it reads the shape,
  // never the data, so it is what layers use on values that may be traced (Note [Tracing] in
  // autodiff/trace.h: reading a traced value's data fails the trace). A size that is unknown in a
  // shape-polymorphic trace (the batch) is kUnknownDim.
  static TensorSpec Of(const autodiff::Value& value);

  int rank() const { return static_cast<int>(dims.size()); }
  // CompatibleWith: same dtype and rank, and every size known in both is equal.
  bool CompatibleWith(const TensorSpec& other) const;
  // WithUnknownBatch is a copy with dims[0] unknown (rank >= 1).
  TensorSpec WithUnknownBatch() const;
  // ToString is "float32[?, 784]".
  std::string ToString() const;
  // ShapeString is "[?, 784]".
  std::string ShapeString() const;

  nlohmann::json ToJson() const;  // {"shape": [null, 784], "dtype": "float32"}
  static absl::StatusOr<TensorSpec> FromJson(const nlohmann::json& json);

  friend bool operator==(const TensorSpec& a, const TensorSpec& b) {
    return a.dims == b.dims && a.dtype == b.dtype;
  }
  friend bool operator!=(const TensorSpec& a, const TensorSpec& b) { return !(a == b); }
};

// CallContext is what a layer's CallImpl learns about the call (Note [Call context]).
struct CallContext {
  bool training = false;
  // step is the outermost model's completed training calls; call_index counts earlier calls of
  // this same layer within the current outermost call (0 for the first).
  int64_t step = 0;
  int64_t call_index = 0;
  // The outermost model's step as a resource: what random layers read so that a traced call
  // draws with the step of each run (Note [Call context]). May be null (a hand-made context).
  std::shared_ptr<autodiff::Resource> step_resource;
};

class Layer;
class SymbolicTensor;

namespace internal {

// SymbolicNode is one recorded call of a layer (or an Input) in a functional model under
// construction. Nodes point to their layer and their input nodes; layers never point back.
struct SymbolicNode {
  std::shared_ptr<Layer> layer;  // null for an Input
  std::vector<SymbolicTensor> inputs;
  std::vector<TensorSpec> output_specs;
  absl::Status status;     // the first error of this node or its inputs
  int64_t serial = 0;      // creation order, process-wide
  std::string input_name;  // for an Input: its name (may be empty)
};

// CallRecord is one layer call seen inside an outermost call, by Value ids: what ToDot draws for
// a subclassed model.
struct CallRecord {
  const Layer* layer = nullptr;
  std::vector<int64_t> inputs;
  std::vector<int64_t> outputs;
};

}  // namespace internal

// SymbolicTensor is a placeholder for a value in a functional model being written: a spec and
// the node that produces it. Like Value, it carries the first error of the expression that made
// it; Functional::Create reports it.
class SymbolicTensor {
 public:
  SymbolicTensor() = default;
  SymbolicTensor(std::shared_ptr<const internal::SymbolicNode> node, int output_index)
      : node_(std::move(node)), output_index_(output_index) {}

  bool defined() const { return node_ != nullptr; }
  bool ok() const { return node_ != nullptr && node_->status.ok(); }
  absl::Status status() const;
  // spec is the spec of this output; CHECKs ok().
  const TensorSpec& spec() const;

  const std::shared_ptr<const internal::SymbolicNode>& node() const { return node_; }
  int output_index() const { return output_index_; }

 private:
  std::shared_ptr<const internal::SymbolicNode> node_;
  int output_index_ = 0;
};

// Input starts a functional model: a placeholder of `shape` (without the batch dimension, like
// Keras) and `dtype`. The spec is [?, shape...]. An invalid name or a negative size gives a
// SymbolicTensor that carries InvalidArgument.
SymbolicTensor Input(std::vector<int64_t> shape, engine::DType dtype = engine::DType::kFloat32,
                     std::string name = "");
// InputFromSpec is Input with the whole spec given (the batch may be fixed).
SymbolicTensor InputFromSpec(TensorSpec spec, std::string name = "");

// DefaultLayerName is the snake-case class name a model gives an unnamed layer:
// "BatchNormalization" -> "batch_normalization".
std::string DefaultLayerName(absl::string_view class_name);

// ValidateLayerName returns OK for one path segment of [A-Za-z0-9_.-], else InvalidArgument.
absl::Status ValidateLayerName(absl::string_view name);

// ValidateOptionalLayerName is the name check of layer factories: OK for an empty name (a model
// names the layer), else ValidateLayerName with its message prefixed by "<class_name>: ":
// "Dense: invalid layer name 'a/b': ...".
absl::Status ValidateOptionalLayerName(absl::string_view class_name, absl::string_view name);

class Layer : public std::enable_shared_from_this<Layer> {
 public:
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // class_name names the layer type in configs and messages: "Dense".
  virtual std::string class_name() const = 0;

  // name is the layer's own name (may be empty until a model names it).
  const std::string& name() const { return name_; }
  // path is the layer's place (Note [Layer paths]): "block1/dense" inside a model, its name for
  // a root.
  std::string path() const;
  // Describe is "layer 'block1/dense' (Dense)", the prefix of this layer's error messages.
  std::string Describe() const;
  Layer* parent() const { return parent_; }
  // root is the outermost layer above this one (this one when it has no parent).
  const Layer* root() const;

  // seed is the root's initialization seed (0 unless set_seed was called on the root).
  uint64_t seed() const;
  // set_seed sets the seed this layer uses when it is a root; FailedPrecondition once built.
  absl::Status set_seed(uint64_t seed);

  // step is this layer's completed outermost training calls (Note [Call context]); set_step
  // restores it (checkpoints do).
  int64_t step() const { return step_->value; }
  void set_step(int64_t step) { step_->value = step; }
  // step_resource is the step as an autodiff resource (an int64 scalar), which traced calls read
  // and advance by reference.
  std::shared_ptr<autodiff::Resource> step_resource();

 private:
  // AdvanceStep counts a successful outermost training call (recorded when tracing).
  void AdvanceStep();

 public:

  // --- Building -------------------------------------------------------------------------
  bool built() const { return built_; }
  // Build creates the layer's variables for inputs of these specs (unknown sizes allowed where
  // the layer does not need them). A call builds the layer when it is not built yet. Building
  // twice is FailedPrecondition; bad specs are InvalidArgument naming the layer path.
  absl::Status Build(absl::Span<const TensorSpec> input_specs);
  absl::Status Build(const TensorSpec& input_spec) {
    return Build(absl::MakeConstSpan(&input_spec, 1));
  }
  // input_specs are the specs the layer was built for (empty before).
  const std::vector<TensorSpec>& input_specs() const { return input_specs_; }
  // output_specs are the specs of the outputs of the first call or of the functional node,
  // with the batch unknown; empty before any.
  const std::vector<TensorSpec>& output_specs() const { return output_specs_; }

  // ComputeOutputSpecs gives the specs of the outputs for inputs of these specs without
  // building or calling, or InvalidArgument naming the layer path, expected and actual specs.
  // When the layer is built it also checks the inputs against its variables.
  virtual absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const = 0;

  // --- Eager calls (Note [Call context], Note [Layer errors]) ------------------------------
  autodiff::Value operator()(const autodiff::Value& x, bool training);
  autodiff::Value operator()(std::initializer_list<autodiff::Value> xs, bool training);
  // CallMulti is the general form: any number of inputs and outputs. When something is wrong
  // every output carries the error (one output if the count is unknown).
  std::vector<autodiff::Value> CallMulti(absl::Span<const autodiff::Value> inputs, bool training);

  // --- Symbolic calls (functional models) --------------------------------------------------
  SymbolicTensor operator()(const SymbolicTensor& x);
  SymbolicTensor operator()(std::initializer_list<SymbolicTensor> xs);
  std::vector<SymbolicTensor> CallMulti(absl::Span<const SymbolicTensor> inputs);

  // --- Variables --------------------------------------------------------------------------
  // variables are this layer's and its sublayers' variables in creation order (the order the
  // layers were built, then the order each layer made them); trainable_variables and
  // non_trainable_variables filter it.
  std::vector<Variable> variables() const;
  std::vector<Variable> trainable_variables() const;
  std::vector<Variable> non_trainable_variables() const;
  // own_variables are the variables this layer made itself.
  const std::vector<Variable>& own_variables() const { return own_variables_; }
  // CountParams is the number of elements in variables() (trainable_only: in the trainable ones).
  int64_t CountParams(bool trainable_only = false) const;

  // sublayers are the registered children, in registration order.
  std::vector<Layer*> sublayers() const;
  // is_model is true for Model and its subclasses (a root model adds no path segment).
  virtual bool is_model() const { return false; }
  // has_output_spec_rule is false for layers whose output specs are known only by running them
  // (subclassed models): calls skip the spec checks, and a first call marks them built without
  // BuildImpl (their sublayers build as they are called).
  virtual bool has_output_spec_rule() const { return true; }

  // --- Configs ----------------------------------------------------------------------------
  // GetConfig is {"name": ..., and the layer's constructor arguments}; FromConfig functions in
  // models/layer_registry.h rebuild the layer from it. Layers that cannot be described
  // (a subclassed model) return Unimplemented.
  virtual absl::StatusOr<nlohmann::json> GetConfig() const;

 protected:
  // name may be empty (a model names it); otherwise it must be a valid name, which the
  // factories check with ValidateOptionalLayerName before constructing.
  explicit Layer(std::string name);

  // BuildImpl creates the variables with AddVariable; the default makes none. When it fails,
  // the variables it made are dropped: keep handles to them only once every AddVariable has
  // succeeded.
  virtual absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs);
  // CallImpl computes the outputs. It runs only on inputs that passed ComputeOutputSpecs, after
  // Build. It may return Values that carry errors (from ops); the caller prefixes them.
  virtual std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                                const CallContext& context) = 0;

  // AddVariable creates the variable `name` of this layer at path()/name, initialized by
  // Initialize(initializer, seed(), path, shape, dtype). Only valid inside BuildImpl.
  absl::StatusOr<Variable> AddVariable(const std::string& name, const engine::Shape& shape,
                                       engine::DType dtype, const Initializer& initializer,
                                       bool trainable = true);

  // AddSublayer makes `layer` a child named `name` (Note [Layer paths]): InvalidArgument for an
  // invalid or duplicate name, FailedPrecondition when the layer is built or already has a
  // parent, or would contain this layer.
  absl::Status AddSublayer(const std::string& name, std::shared_ptr<Layer> layer);

  // Error returns InvalidArgument with Describe() and ": " before `message`.
  absl::Status Error(absl::string_view message) const;

 private:
  friend class Functional;
  void set_name(std::string name) { name_ = std::move(name); }
  std::string VariableScope() const;
  void RecordOutputSpecs(const std::vector<TensorSpec>& specs);

  friend class Model;
  void MarkBuilt(absl::Span<const TensorSpec> input_specs);
  void PlantedRebuild();
  // last_call_records are the nested layer calls of this layer's last outermost call.
  const std::vector<internal::CallRecord>& last_call_records() const { return last_call_records_; }

  std::string name_;
  Layer* parent_ = nullptr;
  std::vector<std::shared_ptr<Layer>> sublayers_;
  std::vector<Variable> own_variables_;
  std::vector<TensorSpec> input_specs_;
  std::vector<TensorSpec> output_specs_;
  bool built_ = false;
  bool building_ = false;
  bool planted_rebuild_ = false;  // Layer::PlantedRebuild ran (engine/mutation.h)
  uint64_t seed_ = 0;
  struct StepState {
    int64_t value = 0;
    // Inside a trace: the step after this trace's training calls so far (symbolic).
    autodiff::Value traced;
  };
  std::shared_ptr<StepState> step_ = std::make_shared<StepState>();
  std::shared_ptr<autodiff::Resource> step_resource_;
  friend class StepResource;
  std::vector<internal::CallRecord> last_call_records_;
};

// LayerCall is what a LayerCallObserver learns about one eager call (Note [Call observers]).
// The spans are valid only during OnLayerCall.
struct LayerCall {
  const Layer* layer = nullptr;
  int64_t call_index = 0;  // earlier calls of this layer in the current outermost call
  int depth = 0;           // 0 for the outermost call
  bool training = false;
  absl::Span<const autodiff::Value> inputs;
  absl::Span<const autodiff::Value> outputs;
};

// LayerCallObserver is told about every eager layer call on its thread while it is installed by
// a ScopedLayerCallObserver (Note [Call observers]).
class LayerCallObserver {
 public:
  virtual ~LayerCallObserver() = default;
  // OnLayerCall runs after the layer computed its outputs (which may carry errors).
  virtual void OnLayerCall(const LayerCall& call) = 0;
};

// ScopedLayerCallObserver installs `observer` on this thread for its lifetime and restores the
// previously installed one (or none) when it ends. Scopes nest; only the innermost is told.
class ScopedLayerCallObserver {
 public:
  explicit ScopedLayerCallObserver(LayerCallObserver* observer);
  ~ScopedLayerCallObserver();
  ScopedLayerCallObserver(const ScopedLayerCallObserver&) = delete;
  ScopedLayerCallObserver& operator=(const ScopedLayerCallObserver&) = delete;

 private:
  LayerCallObserver* previous_;
};

// SpecsOf returns the specs of values (which must be ok()), concrete or symbolic.
std::vector<TensorSpec> SpecsOf(absl::Span<const autodiff::Value> values);

namespace internal {

// LayerError prefixes `status` with the layer's description once (Note [Layer errors]).
absl::Status LayerError(const Layer& layer, const absl::Status& status);

}  // namespace internal

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYER_H_
