// Properties 1 and 2 (forms agree; eager agrees with traced) and the helpers every architecture
// property shares (testing/arch_properties_internal.h).
#include "testing/arch_properties.h"

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/random.h"
#include "engine/status.h"
#include "models/test_models.h"
#include "testing/arch_properties_internal.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {
namespace internal {

using autodiff::Value;
using models::Model;
using models::Variable;

const char* FormName(Form form) { return form == Form::kSubclass ? "subclass" : "functional"; }

absl::StatusOr<std::shared_ptr<Model>> BuildSeeded(const ArchSpec& spec, Form form,
                                                   absl::Span<const Value> inputs) {
  std::shared_ptr<Model> model;
  if (form == Form::kSubclass) {
    CONCORD_ASSIGN_OR_RETURN(model, BuildSubclass(spec));
  } else {
    CONCORD_ASSIGN_OR_RETURN(model, BuildFunctional(spec));
  }
  std::vector<models::TensorSpec> specs;
  for (const Value& x : inputs)
    specs.push_back(models::TensorSpec::Of(x.tensor()).WithUnknownBatch());
  absl::Status s = model->set_seed(kArchSeed);
  if (s.ok()) s = model->Build(specs);
  if (!s.ok()) return Annotate(s, absl::StrCat("building the ", FormName(form), " form"));
  return model;
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

absl::Status FirstError(absl::Span<const Value> values, absl::string_view context) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].ok()) return Annotate(values[i].status(), absl::StrCat(context, ", value ", i));
  }
  return absl::OkStatus();
}

absl::Status Divergence(absl::string_view context, const std::string& difference) {
  if (difference.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(context, ": ", difference));
}

std::string DiffValues(absl::string_view what, absl::Span<const Value> a, absl::Span<const Value> b,
                       const std::vector<std::string>& names) {
  if (a.size() != b.size()) return absl::StrCat(a.size(), " vs ", b.size(), " ", what, "s");
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string d = AgreementDiff(b[i].tensor(), a[i].tensor());
    if (d.empty()) continue;
    const std::string name = i < names.size() ? names[i] : absl::StrCat(what, " ", i);
    return absl::StrCat(name, " differs (", a[i].tensor().ShapeString(), "): ", d);
  }
  return "";
}

std::string DiffVariables(const Model& a, const Model& b) {
  const std::vector<Variable> va = a.variables(), vb = b.variables();
  if (va.size() != vb.size()) return absl::StrCat(va.size(), " vs ", vb.size(), " variables");
  for (size_t i = 0; i < va.size(); ++i) {
    if (va[i].path() != vb[i].path() || va[i].shape() != vb[i].shape()) {
      return absl::StrCat("variable ", i, " is ", va[i].ToString(), " vs ", vb[i].ToString());
    }
  }
  for (size_t i = 0; i < va.size(); ++i) {
    const std::string d = AgreementDiff(vb[i].tensor(), va[i].tensor());
    if (!d.empty()) {
      return absl::StrCat("variable ", va[i].path(), " ", va[i].tensor().ShapeString(),
                          " differs: ", d);
    }
  }
  return "";
}

std::string DiffSlots(const models::SlotTable& a, const models::SlotTable& b) {
  auto keys = [](const models::SlotTable& t) {
    std::vector<std::string> out;
    for (const auto& [path, slots] : t) {
      for (const auto& [slot, tensor] : slots) out.push_back(absl::StrCat(path, "/", slot));
    }
    return out;
  };
  if (keys(a) != keys(b)) {
    return absl::StrCat("the slot maps hold different slots: [", absl::StrJoin(keys(a), ", "),
                        "] vs [", absl::StrJoin(keys(b), ", "), "]");
  }
  for (const auto& [path, slots] : a) {
    for (const auto& [slot, tensor] : slots) {
      const std::string d = AgreementDiff(b.at(path).at(slot), tensor);
      if (!d.empty()) return absl::StrCat("slot ", slot, " of ", path, " differs: ", d);
    }
  }
  return "";
}

std::string DiffTrainingState(const Model& a, const Model& b) {
  if (std::string d = DiffVariables(a, b); !d.empty()) return d;
  if (a.optimizer() == nullptr || b.optimizer() == nullptr) return "a model is not compiled";
  if (std::string d = DiffSlots(a.optimizer()->SlotMap(), b.optimizer()->SlotMap()); !d.empty()) {
    return d;
  }
  if (a.optimizer()->iterations() != b.optimizer()->iterations() || a.step() != b.step()) {
    return absl::StrCat("counters differ: iterations ", a.optimizer()->iterations(), " vs ",
                        b.optimizer()->iterations(), ", step ", a.step(), " vs ", b.step());
  }
  return "";
}

Value SumOfSquares(absl::Span<const Value> outputs) {
  return models::test_models::SumOfSquares(outputs);
}

std::vector<Value> LossAndGradients(Model& model, absl::Span<const Value> inputs, bool training) {
  return LossAndGradientsOf(model, [&] { return model.CallMulti(inputs, training); });
}

std::vector<Value> LossAndGradientsOf(const Model& model,
                                      const std::function<std::vector<Value>()>& call) {
  std::vector<Value> sources;
  for (const Variable& v : model.trainable_variables()) sources.push_back(v.value());
  autodiff::GradientTape tape;
  const Value loss = SumOfSquares(call());
  if (!loss.ok()) return {loss};
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, sources);
  if (!grads.ok()) return {Value::Error(grads.status())};
  std::vector<Value> out = {loss};
  out.insert(out.end(), grads->begin(), grads->end());
  return out;
}

std::vector<std::string> TrainableNames(const Model& model) {
  std::vector<std::string> names = {"loss"};
  for (const Variable& v : model.trainable_variables()) {
    names.push_back(absl::StrCat("gradient of ", v.path()));
  }
  return names;
}

std::vector<engine::Tensor> Tensors(absl::Span<const Value> values) {
  std::vector<engine::Tensor> out;
  for (const Value& v : values) out.push_back(v.tensor());
  return out;
}

std::vector<engine::Tensor> RandomTargets(const ArchSpec& spec) {
  std::vector<engine::Tensor> out;
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    std::vector<int64_t> dims = {spec.batch};
    const std::vector<int64_t>& shape = spec.nodes[spec.outputs[i] - spec.inputs.size()].out_shape;
    dims.insert(dims.end(), shape.begin(), shape.end());
    const engine::DType dtype = spec.inputs[0].dtype == engine::DType::kFloat64
                                    ? engine::DType::kFloat64
                                    : engine::DType::kFloat32;
    out.push_back(*engine::RandomNormal(*engine::Shape::FromDims(dims), dtype,
                                        engine::RngStream{78, spec.data_key * 4 + i, 0}));
  }
  return out;
}

models::Loss TrainingLoss() { return models::Loss::MeanSquaredError(); }

absl::Status CompileForTraining(Model& model, const ArchSpec& spec) {
  std::unique_ptr<models::Optimizer> optimizer;
  if (spec.data_key % 3 == 0) {
    models::AdamOptions adam;
    adam.learning_rate = 0.01;
    CONCORD_ASSIGN_OR_RETURN(optimizer, models::Adam::Create(adam));
  } else {
    models::SGDOptions sgd;
    sgd.learning_rate = 0.05;
    sgd.momentum = 0.9;
    sgd.nesterov = spec.data_key % 3 == 2;
    CONCORD_ASSIGN_OR_RETURN(optimizer, models::SGD::Create(sgd));
  }
  return model.Compile(std::move(optimizer), TrainingLoss());
}

}  // namespace internal

namespace {

using autodiff::Value;
using internal::Form;
using models::Model;

// CheckOutputShapes: the spec's output shapes are the subclassed model's real ones.
absl::Status CheckOutputShapes(const ArchSpec& spec, absl::Span<const Value> inputs) {
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, BuildSubclass(spec));
  const std::vector<Value> outputs = model->CallMulti(inputs, false);
  CONCORD_RETURN_IF_ERROR(internal::FirstError(outputs, "subclass, inference call"));
  if (outputs.size() != spec.outputs.size()) {
    return absl::InternalError(absl::StrCat("the subclass form gives ", outputs.size(),
                                            " outputs, the spec ", spec.outputs.size()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::vector<int64_t> want = {spec.batch};
    const std::vector<int64_t>& out = spec.nodes[spec.outputs[i] - spec.inputs.size()].out_shape;
    want.insert(want.end(), out.begin(), out.end());
    if (outputs[i].shape().ToVector() != want) {
      return absl::InternalError(absl::StrCat("output ", i, " of the subclass form is ",
                                              outputs[i].tensor().ShapeString(),
                                              ", the spec says [", absl::StrJoin(want, ", "), "]"));
    }
  }
  return absl::OkStatus();
}

// ForwardFunction is `model`'s call as a Function: f(inputs, training) = model(inputs, training).
std::unique_ptr<autodiff::Function> ForwardFunction(std::shared_ptr<Model> model) {
  return std::make_unique<autodiff::Function>(
      [model](const autodiff::FunctionArgs& a) { return model->CallMulti(a.inputs, a.training); },
      autodiff::FunctionOptions{.name = "forward"});
}

// Values is a call's results, or its error as the one value.
std::vector<Value> Values(absl::StatusOr<std::vector<Value>> values) {
  if (!values.ok()) return {Value::Error(values.status())};
  return *std::move(values);
}

// CompareTracedCalls: four forward calls (inference, training, training, inference), two calls
// with a tape inside the Function (loss and gradients), and one traced training call under an
// outer tape (the Function replays its graph for the tape); each gives bitwise the eager results
// and leaves bitwise the eager variables.
absl::Status CompareTracedCalls(Model& eager, const std::shared_ptr<Model>& traced,
                                absl::Span<const Value> inputs, const std::string& pair) {
  std::unique_ptr<autodiff::Function> forward = ForwardFunction(traced);
  autodiff::Function step(
      [traced](const autodiff::FunctionArgs& a) {
        return internal::LossAndGradients(*traced, a.inputs, /*training=*/true);
      },
      autodiff::FunctionOptions{.name = "loss_and_gradients"});
  CONCORD_RETURN_IF_ERROR(internal::Divergence(absl::StrCat(pair, ", initial weights"),
                                               internal::DiffVariables(eager, *traced)));
  enum Kind { kForward, kTapeInside, kTapeOutside };
  const std::pair<Kind, bool> rounds[] = {
      {kForward, false},   {kForward, true},    {kForward, true},    {kForward, false},
      {kTapeInside, true}, {kTapeInside, true}, {kTapeOutside, true}};
  const char* const kinds[] = {"call", "call with a tape inside", "call under an outer tape"};
  for (int round = 0; round < 7; ++round) {
    const auto [kind, training] = rounds[round];
    const std::string when = absl::StrCat(pair, ", ", kinds[kind], " ", round,
                                          training ? " (training)" : " (inference)");
    const std::vector<Value> e = kind == kForward
                                     ? eager.CallMulti(inputs, training)
                                     : internal::LossAndGradients(eager, inputs, training);
    CONCORD_RETURN_IF_ERROR(internal::FirstError(e, absl::StrCat(when, ", eager")));
    std::vector<Value> t;
    switch (kind) {
      case kForward:
        t = Values(forward->Call(inputs, {}, training));
        break;
      case kTapeInside:
        t = Values(step.Call(inputs, {}, training));
        break;
      case kTapeOutside:
        t = internal::LossAndGradientsOf(
            *traced, [&] { return Values(forward->Call(inputs, {}, training)); });
        break;
    }
    CONCORD_RETURN_IF_ERROR(internal::FirstError(t, absl::StrCat(when, ", traced")));
    const std::vector<std::string> names =
        kind == kForward ? std::vector<std::string>() : internal::TrainableNames(eager);
    CONCORD_RETURN_IF_ERROR(
        internal::Divergence(when, internal::DiffValues("output", e, t, names)));
    CONCORD_RETURN_IF_ERROR(internal::Divergence(when, internal::DiffVariables(eager, *traced)));
  }
  return absl::OkStatus();
}

// CompareTracedTraining: `steps` TrainOnBatch steps, eager against traced, each leaving the same
// loss, weights, BatchNorm statistics, slots and counters.
absl::Status CompareTracedTraining(const ArchSpec& spec, Model& eager, Model& traced,
                                   absl::Span<const Value> inputs, int steps,
                                   const std::string& pair) {
  CONCORD_RETURN_IF_ERROR(internal::CompileForTraining(eager, spec));
  CONCORD_RETURN_IF_ERROR(internal::CompileForTraining(traced, spec));
  const std::vector<engine::Tensor> x = internal::Tensors(inputs);
  const std::vector<engine::Tensor> y = internal::RandomTargets(spec);
  for (int s = 0; s < steps; ++s) {
    const std::string when = absl::StrCat(pair, ", TrainOnBatch step ", s);
    absl::StatusOr<models::Logs> e = eager.TrainOnBatch(x, y, models::StepMode::kEager);
    if (!e.ok()) return internal::Annotate(e.status(), absl::StrCat(when, ", eager"));
    absl::StatusOr<models::Logs> t = traced.TrainOnBatch(x, y, models::StepMode::kTraced);
    if (!t.ok()) return internal::Annotate(t.status(), absl::StrCat(when, ", traced"));
    if (std::memcmp(&e->at("loss"), &t->at("loss"), sizeof(double)) != 0) {
      return absl::InternalError(
          absl::StrCat(when, ": loss ", e->at("loss"), " eager vs ", t->at("loss"), " traced"));
    }
    CONCORD_RETURN_IF_ERROR(internal::Divergence(when, internal::DiffTrainingState(eager, traced)));
  }
  if (steps > 0 && traced.traced_step_traces() != 1) {
    return absl::InternalError(absl::StrCat(pair, ": the traced step was traced ",
                                            traced.traced_step_traces(), " times, not once"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFormsAgree(const ArchSpec& spec) {
  const std::vector<Value> inputs = RandomInputs(spec);
  CONCORD_RETURN_IF_ERROR(CheckOutputShapes(spec, inputs));
  using Builder = std::function<absl::StatusOr<std::shared_ptr<Model>>()>;
  const Builder subclass = [&] { return BuildSubclass(spec); };
  const Builder functional = [&]() -> absl::StatusOr<std::shared_ptr<Model>> {
    return BuildFunctional(spec);
  };
  const Builder sequential = [&]() -> absl::StatusOr<std::shared_ptr<Model>> {
    return BuildSequential(spec);
  };
  const Builder config = [&] { return BuildFromConfig(spec); };
  struct Pair {
    const char* name;
    const Builder* a;
    const Builder* b;
  };
  std::vector<Pair> pairs = {{"subclass vs functional", &subclass, &functional},
                             {"functional vs from config", &functional, &config}};
  if (spec.IsLinear()) pairs.push_back({"subclass vs sequential", &subclass, &sequential});
  for (const Pair& pair : pairs) {
    absl::StatusOr<std::shared_ptr<Model>> a = (*pair.a)(), b = (*pair.b)();
    if (!a.ok()) return internal::Annotate(a.status(), pair.name);
    if (!b.ok()) return internal::Annotate(b.status(), pair.name);
    CONCORD_RETURN_IF_ERROR(internal::Divergence(
        pair.name,
        models::test_models::FirstFormDifference(**a, **b, inputs, internal::kArchSeed)));
  }
  return absl::OkStatus();
}

absl::Status CheckEagerAgreesWithTraced(const ArchSpec& spec, int steps) {
  const std::vector<Value> inputs = RandomInputs(spec);
  for (const Form eager_form : {Form::kFunctional, Form::kSubclass}) {
    const Form traced_form = internal::Other(eager_form);
    const std::string pair = absl::StrCat("eager ", internal::FormName(eager_form), " vs traced ",
                                          internal::FormName(traced_form));
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> eager,
                             internal::BuildSeeded(spec, eager_form, inputs));
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> traced,
                             internal::BuildSeeded(spec, traced_form, inputs));
    CONCORD_RETURN_IF_ERROR(CompareTracedCalls(*eager, traced, inputs, pair));
    CONCORD_RETURN_IF_ERROR(CompareTracedTraining(spec, *eager, *traced, inputs, steps, pair));
  }
  return absl::OkStatus();
}

}  // namespace concord::testing
