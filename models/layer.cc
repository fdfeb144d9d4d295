#include "models/layer.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "autodiff/resource.h"
#include "autodiff/trace.h"
#include "engine/mutation.h"
#include "engine/status.h"

namespace concord::models {
namespace {

using autodiff::Value;

std::atomic<int64_t> next_serial{1};

// ActiveCall is the context an outermost call opens (Note [Call context]).
struct ActiveCall {
  int64_t step = 0;
  std::shared_ptr<autodiff::Resource> step_resource;
  absl::flat_hash_map<const Layer*, int64_t> call_counts;
  std::vector<internal::CallRecord> records;
  int depth = 0;  // layer calls under way inside this context (Note [Call observers])
};

thread_local std::vector<ActiveCall*> active_calls;

// The installed observer (Note [Call observers]), or null.
thread_local LayerCallObserver* call_observer = nullptr;

bool ValidNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::string DimString(int64_t d) { return d == kUnknownDim ? "?" : absl::StrCat(d); }

// SnakeCase turns "BatchNormalization" into "batch_normalization".
std::string SnakeCase(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      bool after_lower = i > 0 && s[i - 1] >= 'a' && s[i - 1] <= 'z';
      bool before_lower = i + 1 < s.size() && s[i + 1] >= 'a' && s[i + 1] <= 'z' && i > 0;
      if (i > 0 && (after_lower || before_lower)) out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<Value> ErrorValues(const absl::Status& status, size_t count) {
  return std::vector<Value>(std::max<size_t>(count, 1), Value::Error(status));
}

std::shared_ptr<internal::SymbolicNode> ErrorNode(absl::Status status) {
  auto node = std::make_shared<internal::SymbolicNode>();
  node->status = std::move(status);
  node->serial = next_serial.fetch_add(1);
  return node;
}

}  // namespace

// --- TensorSpec ------------------------------------------------------------------------------

TensorSpec TensorSpec::Of(const engine::Tensor& tensor) {
  return TensorSpec(tensor.shape().ToVector(), tensor.dtype());
}

TensorSpec TensorSpec::Of(const Value& value) {
  // Inside a shape-polymorphic trace the batch is unknown: it becomes kUnknownDim, unread (Note
  // [Unknown sizes in models] in models/unknown_dims.h), and the layers' spec rules, written for
  // functional models' unknown batch, check the rest.
  return TensorSpec(value.shape().DimsOrMinusOne(), value.dtype());
}

bool TensorSpec::CompatibleWith(const TensorSpec& other) const {
  if (dtype != other.dtype || dims.size() != other.dims.size()) return false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != kUnknownDim && other.dims[i] != kUnknownDim && dims[i] != other.dims[i]) {
      return false;
    }
  }
  return true;
}

TensorSpec TensorSpec::WithUnknownBatch() const {
  TensorSpec out = *this;
  if (!out.dims.empty()) out.dims[0] = kUnknownDim;
  return out;
}

std::string TensorSpec::ShapeString() const {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += DimString(dims[i]);
  }
  return out + "]";
}

std::string TensorSpec::ToString() const {
  return absl::StrCat(engine::DTypeName(dtype), ShapeString());
}

nlohmann::json TensorSpec::ToJson() const {
  nlohmann::json shape = nlohmann::json::array();
  for (int64_t d : dims) {
    if (d == kUnknownDim) {
      shape.push_back(nullptr);
    } else {
      shape.push_back(d);
    }
  }
  return {{"shape", shape}, {"dtype", std::string(engine::DTypeName(dtype))}};
}

absl::StatusOr<TensorSpec> TensorSpec::FromJson(const nlohmann::json& json) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor spec ", json.dump(), ": ", why,
                     " (expected {\"shape\": [null or size, ...], \"dtype\": \"float32\"})"));
  };
  if (!json.is_object() || !json.contains("shape") || !json.contains("dtype")) {
    return bad("not an object with shape and dtype");
  }
  const nlohmann::json& shape = json["shape"];
  if (!shape.is_array() || shape.size() > static_cast<size_t>(engine::kMaxRank)) {
    return bad("shape must be an array of at most 6 sizes");
  }
  TensorSpec spec;
  for (const nlohmann::json& d : shape) {
    if (d.is_null()) {
      spec.dims.push_back(kUnknownDim);
    } else if (d.is_number_integer() && d.get<int64_t>() >= 0 &&
               d.get<int64_t>() <= engine::kMaxElements) {
      spec.dims.push_back(d.get<int64_t>());
    } else {
      return bad("a size is not null or a non-negative integer");
    }
  }
  if (!json["dtype"].is_string()) return bad("dtype is not a string");
  absl::StatusOr<engine::DType> dtype = engine::DTypeFromName(json["dtype"].get<std::string>());
  if (!dtype.ok()) return bad(dtype.status().message());
  spec.dtype = *dtype;
  return spec;
}

std::vector<TensorSpec> SpecsOf(absl::Span<const Value> values) {
  std::vector<TensorSpec> specs;
  specs.reserve(values.size());
  for (const Value& v : values) specs.push_back(TensorSpec::Of(v));
  return specs;
}

// --- SymbolicTensor and Input ------------------------------------------------------------------

absl::Status SymbolicTensor::status() const {
  if (node_ == nullptr) {
    return absl::FailedPreconditionError("undefined SymbolicTensor (default-constructed)");
  }
  return node_->status;
}

const TensorSpec& SymbolicTensor::spec() const {
  CONCORD_CHECK_MSG(ok(), "SymbolicTensor::spec on a tensor that carries an error");
  return node_->output_specs[output_index_];
}

std::string DefaultLayerName(absl::string_view class_name) { return SnakeCase(class_name); }

absl::Status ValidateLayerName(absl::string_view name) {
  bool ok = !name.empty() && name != "." && name != "..";
  for (char c : name) ok = ok && ValidNameChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid layer name '", name, "': a name is one non-empty path segment of [A-Za-z0-9_.-]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptionalLayerName(absl::string_view class_name, absl::string_view name) {
  if (name.empty()) return absl::OkStatus();
  absl::Status valid = ValidateLayerName(name);
  if (valid.ok()) return valid;
  return absl::InvalidArgumentError(absl::StrCat(class_name, ": ", valid.message()));
}

SymbolicTensor InputFromSpec(TensorSpec spec, std::string name) {
  absl::Status valid = ValidateOptionalLayerName("Input", name);
  if (!valid.ok()) return SymbolicTensor(ErrorNode(std::move(valid)), 0);
  bool ok = spec.rank() <= engine::kMaxRank;
  for (int64_t d : spec.dims) ok = ok && (d == kUnknownDim || d >= 0);
  if (!ok) {
    return SymbolicTensor(ErrorNode(absl::InvalidArgumentError(
                              absl::StrCat("Input: invalid shape ", spec.ShapeString(),
                                           " (at most 6 dimensions, sizes >= 0 or unknown)"))),
                          0);
  }
  auto node = std::make_shared<internal::SymbolicNode>();
  node->output_specs.push_back(std::move(spec));
  node->serial = next_serial.fetch_add(1);
  node->input_name = std::move(name);
  return SymbolicTensor(std::move(node), 0);
}

SymbolicTensor Input(std::vector<int64_t> shape, engine::DType dtype, std::string name) {
  shape.insert(shape.begin(), kUnknownDim);
  return InputFromSpec(TensorSpec(std::move(shape), dtype), std::move(name));
}

// --- Layer: names, paths, seeds ----------------------------------------------------------------

Layer::Layer(std::string name) : name_(std::move(name)) {}

// StepResource: a layer's step as a resource (Note [Call context]). It holds the step state
// weakly, so a graph that outlives its model gets an error, not a dangling read.
class StepResource final : public autodiff::Resource {
 public:
  StepResource(std::weak_ptr<Layer::StepState> state, std::string name)
      : state_(std::move(state)), name_(std::move(name)) {}

  Value Read() const override {
    const std::shared_ptr<Layer::StepState> s = state_.lock();
    if (s == nullptr) return Value::Error(Gone());
    if (s->traced.defined()) return s->traced;
    Value v = Value::Scalar<int64_t>(s->value);
    v.node()->resource = self_.lock();
    return v;
  }

  absl::Status Write(const engine::Tensor& t) override {
    const std::shared_ptr<Layer::StepState> s = state_.lock();
    if (s == nullptr) return Gone();
    if (t.dtype() != engine::DType::kInt64 || t.rank() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("step of '", name_, "' must be an int64 scalar, got ", t.ShapeString()));
    }
    s->value = t.data<int64_t>()[0];
    return absl::OkStatus();
  }

  std::string name() const override { return name_; }

  void set_self(const std::shared_ptr<StepResource>& self) { self_ = self; }

 private:
  absl::Status Gone() const {
    return absl::FailedPreconditionError(
        absl::StrCat("the model of step '", name_, "' no longer exists (a traced graph outlived it)"));
  }
  std::weak_ptr<Layer::StepState> state_;
  std::weak_ptr<StepResource> self_;
  std::string name_;
};

std::shared_ptr<autodiff::Resource> Layer::step_resource() {
  if (step_resource_ == nullptr) {
    auto r = std::make_shared<StepResource>(step_, absl::StrCat(name_, ":step"));
    r->set_self(r);
    step_resource_ = r;
  }
  return step_resource_;
}

void Layer::AdvanceStep() {
  if (!autodiff::IsTracing()) {
    ++step_->value;
    return;
  }
  // Traced: the graph advances the step when it runs; later training calls in this trace see the
  // advanced value, and the state forgets it when the trace ends.
  const std::shared_ptr<autodiff::Resource> resource = step_resource();
  const Value next = autodiff::AssignResource(
      resource, autodiff::Add(resource->Read(), Value::Scalar<int64_t>(1)));
  const bool first = !step_->traced.defined();
  step_->traced = next;
  if (first) {
    std::shared_ptr<StepState> state = step_;
    autodiff::internal::CurrentTrace()->OnFinish([state] { state->traced = Value(); });
  }
}
Layer::~Layer() {
  for (const auto& child : sublayers_) child->parent_ = nullptr;
}

std::string Layer::VariableScope() const {
  if (parent_ == nullptr) {
    if (is_model()) return "";
    return name_.empty() ? SnakeCase(class_name()) : name_;
  }
  std::string scope = parent_->VariableScope();
  return scope.empty() ? name_ : absl::StrCat(scope, "/", name_);
}

std::string Layer::path() const {
  if (parent_ == nullptr) return name_.empty() ? SnakeCase(class_name()) : name_;
  return VariableScope();
}

std::string Layer::Describe() const {
  return absl::StrCat(parent_ == nullptr && is_model() ? "model '" : "layer '", path(), "' (",
                      class_name(), ")");
}

const Layer* Layer::root() const {
  const Layer* layer = this;
  while (layer->parent_ != nullptr) layer = layer->parent_;
  return layer;
}

uint64_t Layer::seed() const { return root()->seed_; }

absl::Status Layer::set_seed(uint64_t seed) {
  if (parent_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(), ": set_seed on a layer inside a model; the outermost model's seed is used"));
  }
  if (built_) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(), ": set_seed after the variables were created"));
  }
  seed_ = seed;
  return absl::OkStatus();
}

absl::Status Layer::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(Describe(), ": ", message));
}

absl::Status internal::LayerError(const Layer& layer, const absl::Status& status) {
  // Note [Layer errors]: a message that already names a layer or model was prefixed by the
  // innermost one.
  if (status.ok() || absl::StartsWith(status.message(), "layer '") ||
      absl::StartsWith(status.message(), "model '")) {
    return status;
  }
  return absl::Status(status.code(), absl::StrCat(layer.Describe(), ": ", status.message()));
}

absl::Status Layer::AddSublayer(const std::string& name, std::shared_ptr<Layer> layer) {
  if (layer == nullptr) return Error(absl::StrCat("sublayer '", name, "' is null"));
  absl::Status valid = ValidateLayerName(name);
  if (!valid.ok()) return Error(valid.message());
  for (const auto& child : sublayers_) {
    if (child == layer) {
      return Error(absl::StrCat("'", name, "' is already a sublayer (as '", child->name(), "')"));
    }
    if (child->name() == name) {
      return Error(absl::StrCat("two sublayers are named '", name, "'"));
    }
  }
  for (const Layer* up = this; up != nullptr; up = up->parent_) {
    if (up == layer.get()) {
      return absl::FailedPreconditionError(
          absl::StrCat(Describe(), ": cannot contain '", name, "', which contains it"));
    }
  }
  if (layer->parent_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(), ": cannot add '", name, "': ", layer->Describe(),
        " already belongs to another model (a layer has one place; nest the model instead)"));
  }
  if (layer->built_) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(), ": cannot add '", name, "': ", layer->Describe(),
        " is already built, so its variable paths are fixed; add layers to a model before "
        "building or calling them (Note [Layer paths])"));
  }
  layer->name_ = name;
  layer->parent_ = this;
  sublayers_.push_back(std::move(layer));
  return absl::OkStatus();
}

std::vector<Layer*> Layer::sublayers() const {
  std::vector<Layer*> out;
  out.reserve(sublayers_.size());
  for (const auto& child : sublayers_) out.push_back(child.get());
  return out;
}

// --- Building and variables ------------------------------------------------------------------

absl::Status Layer::BuildImpl(absl::Span<const TensorSpec> /*input_specs*/) {
  return absl::OkStatus();
}

absl::Status Layer::Build(absl::Span<const TensorSpec> input_specs) {
  if (built_) return absl::FailedPreconditionError(absl::StrCat(Describe(), ": already built"));
  if (parent_ == nullptr && !is_model() && !name_.empty()) {
    CONCORD_RETURN_IF_ERROR(ValidateLayerName(name_));
  }
  if (has_output_spec_rule()) {
    absl::StatusOr<std::vector<TensorSpec>> outputs = ComputeOutputSpecs(input_specs);
    if (!outputs.ok()) return internal::LayerError(*this, outputs.status());
  }
  building_ = true;
  absl::Status status = BuildImpl(input_specs);
  building_ = false;
  if (!status.ok()) {
    // A subclassed model's build runs Call, which marks it built on the way; undo that.
    own_variables_.clear();
    input_specs_.clear();
    built_ = false;
    return internal::LayerError(*this, status);
  }
  input_specs_.assign(input_specs.begin(), input_specs.end());
  built_ = true;
  return absl::OkStatus();
}

absl::StatusOr<Variable> Layer::AddVariable(const std::string& name, const engine::Shape& shape,
                                            engine::DType dtype, const Initializer& initializer,
                                            bool trainable) {
  if (!building_) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(), ": AddVariable('", name, "') outside BuildImpl"));
  }
  CONCORD_RETURN_IF_ERROR(ValidateLayerName(name));
  std::string scope = VariableScope();
  std::string path = scope.empty() ? name : absl::StrCat(scope, "/", name);
  for (const Variable& v : own_variables_) {
    if (v.path() == path && !planted_rebuild_) {
      return Error(absl::StrCat("two variables are named '", name, "'"));
    }
  }
  CONCORD_ASSIGN_OR_RETURN(engine::Tensor initial,
                           Initialize(initializer, seed(), path, shape, dtype));
  CONCORD_ASSIGN_OR_RETURN(Variable variable,
                           Variable::Create(std::move(path), std::move(initial), trainable));
  own_variables_.push_back(variable);
  return variable;
}

// Planted bug (engine/mutation.h): the second call of a layer within one outermost call (a
// shared layer's second call site) builds it again, once, so it owns a second set of variables
// with the same paths and uses that one from then on.
void Layer::PlantedRebuild() {
  if (planted_rebuild_ || is_model() || own_variables_.empty() || active_calls.empty()) return;
  const auto& counts = active_calls.back()->call_counts;
  const auto it = counts.find(this);
  if (it == counts.end() || it->second != 1) return;
  planted_rebuild_ = true;
  building_ = true;
  (void)BuildImpl(input_specs_);
  building_ = false;
}

void Layer::MarkBuilt(absl::Span<const TensorSpec> input_specs) {
  input_specs_.assign(input_specs.begin(), input_specs.end());
  built_ = true;
}

std::vector<Variable> Layer::variables() const {
  std::vector<Variable> out = own_variables_;
  for (const auto& child : sublayers_) {
    std::vector<Variable> sub = child->variables();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Variable& a, const Variable& b) { return a.id() < b.id(); });
  return out;
}

std::vector<Variable> Layer::trainable_variables() const {
  std::vector<Variable> out;
  for (const Variable& v : variables()) {
    if (v.trainable()) out.push_back(v);
  }
  return out;
}

std::vector<Variable> Layer::non_trainable_variables() const {
  std::vector<Variable> out;
  for (const Variable& v : variables()) {
    if (!v.trainable()) out.push_back(v);
  }
  return out;
}

int64_t Layer::CountParams(bool trainable_only) const {
  int64_t total = 0;
  for (const Variable& v : variables()) {
    if (!trainable_only || v.trainable()) total += v.shape().num_elements();
  }
  return total;
}

absl::StatusOr<nlohmann::json> Layer::GetConfig() const { return nlohmann::json{{"name", name_}}; }

void Layer::RecordOutputSpecs(const std::vector<TensorSpec>& specs) {
  if (!output_specs_.empty()) return;
  output_specs_.reserve(specs.size());
  for (const TensorSpec& spec : specs) output_specs_.push_back(spec.WithUnknownBatch());
}

// --- Call observers (Note [Call observers]) ------------------------------------------------------

ScopedLayerCallObserver::ScopedLayerCallObserver(LayerCallObserver* observer)
    : previous_(call_observer) {
  call_observer = observer;
}

ScopedLayerCallObserver::~ScopedLayerCallObserver() { call_observer = previous_; }

// --- Eager calls -------------------------------------------------------------------------------

std::vector<Value> Layer::CallMulti(absl::Span<const Value> inputs, bool training) {
  size_t expected_outputs = output_specs_.size();
  for (const Value& x : inputs) {
    if (!x.ok()) return ErrorValues(x.status(), expected_outputs);
  }
  std::vector<TensorSpec> specs = SpecsOf(inputs);
  const bool has_rule = has_output_spec_rule();
  absl::StatusOr<std::vector<TensorSpec>> out_specs = std::vector<TensorSpec>();
  if (has_rule) {
    out_specs = ComputeOutputSpecs(specs);
    if (!out_specs.ok()) {
      return ErrorValues(internal::LayerError(*this, out_specs.status()), expected_outputs);
    }
  }
  if (!built_) {
    std::vector<TensorSpec> build_specs;
    for (const TensorSpec& spec : specs) build_specs.push_back(spec.WithUnknownBatch());
    if (has_rule) {
      absl::Status status = Build(build_specs);
      if (!status.ok()) return ErrorValues(status, out_specs->size());
    } else {
      MarkBuilt(build_specs);
    }
  } else if (has_rule && mutation::Active(mutation::Mutant::kSharedLayerRebuilds)) {
    PlantedRebuild();
  }

  // Note [Call context]: the outermost call opens the context.
  ActiveCall own_call;
  bool outermost = active_calls.empty();
  if (outermost) {
    own_call.step = step_->value;
    own_call.step_resource = step_resource();
    active_calls.push_back(&own_call);
  }
  ActiveCall& call = *active_calls.back();
  CallContext context;
  context.training = training;
  context.step = call.step;
  context.step_resource = call.step_resource;
  context.call_index = call.call_counts[this]++;
  const int depth = call.depth++;
  std::vector<Value> outputs = CallImpl(inputs, context);
  --call.depth;
  if (call_observer != nullptr) {
    LayerCall seen;
    seen.layer = this;
    seen.call_index = context.call_index;
    seen.depth = depth;
    seen.training = training;
    seen.inputs = inputs;
    seen.outputs = outputs;
    // The observer runs with none installed, so whatever it calls is not reported to it.
    LayerCallObserver* observer = call_observer;
    call_observer = nullptr;
    observer->OnLayerCall(seen);
    call_observer = observer;
  }
  if (outermost) {
    active_calls.pop_back();
    // Only a successful training call counts as a step: a retried call draws the same masks.
    bool ok = std::all_of(outputs.begin(), outputs.end(), [](const Value& y) { return y.ok(); });
    if (training && ok) AdvanceStep();
    last_call_records_ = std::move(own_call.records);
  } else {
    internal::CallRecord record;
    record.layer = this;
    for (const Value& x : inputs) record.inputs.push_back(x.id());
    for (const Value& y : outputs) record.outputs.push_back(y.id());
    call.records.push_back(std::move(record));
  }

  if (!has_rule) {
    for (const Value& y : outputs) {
      if (!y.ok()) return ErrorValues(internal::LayerError(*this, y.status()), outputs.size());
    }
    if (output_specs_.empty()) RecordOutputSpecs(SpecsOf(outputs));
    return outputs;
  }
  if (outputs.size() != out_specs->size()) {
    return ErrorValues(Error(absl::StrCat("returned ", outputs.size(),
                                          " outputs, but its specs say ", out_specs->size())),
                       out_specs->size());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].ok()) {
      return ErrorValues(internal::LayerError(*this, outputs[i].status()), outputs.size());
    }
    TensorSpec actual = TensorSpec::Of(outputs[i]);
    if (!actual.CompatibleWith((*out_specs)[i])) {
      return ErrorValues(absl::InternalError(absl::StrCat(
                             Describe(), ": output ", i, " is ", actual.ToString(),
                             " but ComputeOutputSpecs said ", (*out_specs)[i].ToString())),
                         outputs.size());
    }
  }
  RecordOutputSpecs(*out_specs);
  return outputs;
}

Value Layer::operator()(const Value& x, bool training) {
  std::vector<Value> outputs = CallMulti(absl::MakeConstSpan(&x, 1), training);
  if (outputs.size() != 1) {
    return Value::Error(Error(
        absl::StrCat("returns ", outputs.size(), " outputs; call CallMulti to get all of them")));
  }
  return std::move(outputs[0]);
}

Value Layer::operator()(std::initializer_list<Value> xs, bool training) {
  std::vector<Value> outputs = CallMulti(absl::MakeConstSpan(xs.begin(), xs.size()), training);
  if (outputs.size() != 1) {
    return Value::Error(Error(
        absl::StrCat("returns ", outputs.size(), " outputs; call CallMulti to get all of them")));
  }
  return std::move(outputs[0]);
}

// --- Symbolic calls ------------------------------------------------------------------------------

std::vector<SymbolicTensor> Layer::CallMulti(absl::Span<const SymbolicTensor> inputs) {
  auto node = std::make_shared<internal::SymbolicNode>();
  node->serial = next_serial.fetch_add(1);
  node->inputs.assign(inputs.begin(), inputs.end());
  node->layer = weak_from_this().lock();
  std::vector<TensorSpec> specs;
  for (const SymbolicTensor& x : inputs) {
    if (!x.ok()) {
      node->status = x.status();
      break;
    }
    specs.push_back(x.spec());
  }
  if (node->status.ok() && node->layer == nullptr) {
    node->status = Error(
        "a layer used in a functional model must be held by a std::shared_ptr (use its "
        "Create factory)");
  }
  if (node->status.ok()) {
    absl::StatusOr<std::vector<TensorSpec>> out = ComputeOutputSpecs(specs);
    if (out.ok()) {
      node->output_specs = *std::move(out);
      RecordOutputSpecs(node->output_specs);
    } else {
      node->status = internal::LayerError(*this, out.status());
    }
  }
  size_t count = node->status.ok() ? node->output_specs.size() : 1;
  std::shared_ptr<const internal::SymbolicNode> shared = std::move(node);
  std::vector<SymbolicTensor> outputs;
  for (size_t i = 0; i < std::max<size_t>(count, 1); ++i) {
    outputs.emplace_back(shared, static_cast<int>(i));
  }
  return outputs;
}

SymbolicTensor Layer::operator()(const SymbolicTensor& x) {
  std::vector<SymbolicTensor> outputs = CallMulti(absl::MakeConstSpan(&x, 1));
  if (outputs.size() != 1) {
    return SymbolicTensor(ErrorNode(Error(absl::StrCat("returns ", outputs.size(),
                                                       " outputs; call CallMulti to get all"))),
                          0);
  }
  return outputs[0];
}

SymbolicTensor Layer::operator()(std::initializer_list<SymbolicTensor> xs) {
  std::vector<SymbolicTensor> outputs = CallMulti(absl::MakeConstSpan(xs.begin(), xs.size()));
  if (outputs.size() != 1) {
    return SymbolicTensor(ErrorNode(Error(absl::StrCat("returns ", outputs.size(),
                                                       " outputs; call CallMulti to get all"))),
                          0);
  }
  return outputs[0];
}

}  // namespace concord::models
