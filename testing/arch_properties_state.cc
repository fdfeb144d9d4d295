// Property 3: optimizer state maps across forms (testing/arch_properties.h).
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/status.h"
#include "models/io/checkpoint.h"
#include "testing/arch_properties.h"
#include "testing/arch_properties_internal.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using internal::Form;
using models::Model;
using models::Variable;

// TempDir is a fresh directory under $TEST_TMPDIR (or /tmp), removed with everything in it when
// the TempDir goes.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Make() {
    const char* root = getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(root != nullptr ? root : "/tmp", "/arch_props_XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", pattern, " failed"));
    }
    return std::unique_ptr<TempDir>(new TempDir(pattern));
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// TrainSteps runs `steps` eager Model::TrainOnBatch steps (traced steps against eager ones are
// the traced-training property's; tracing here would only slow these properties down).
absl::Status TrainSteps(Model& model, absl::Span<const engine::Tensor> x,
                        absl::Span<const engine::Tensor> y, int steps) {
  for (int s = 0; s < steps; ++s) {
    absl::StatusOr<models::Logs> logs = model.TrainOnBatch(x, y, models::StepMode::kEager);
    if (!logs.ok()) return internal::Annotate(logs.status(), absl::StrCat("TrainOnBatch ", s));
  }
  return absl::OkStatus();
}

// CustomStep is one training step as a user's GradientTape loop writes it: the loss Compile set
// on every output, summed, as Model::TrainOnBatch does, but the (gradient, variable) lists are
// rotated by one before ApplyGradients, so every variable sits at another position than
// TrainOnBatch gives it. Slots keyed by identity make that irrelevant; keyed by position, they
// would be another variable's.
absl::Status CustomStep(Model& model, absl::Span<const Value> x,
                        absl::Span<const engine::Tensor> y) {
  autodiff::GradientTape tape;
  const std::vector<Value> outputs = model.CallMulti(x, /*training=*/true);
  CONCORD_RETURN_IF_ERROR(internal::FirstError(outputs, "custom step"));
  const models::Loss loss = internal::TrainingLoss();
  Value total;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Value term = loss(Value::Constant(y[i]), outputs[i]);
    total = total.defined() ? total + term : term;
  }
  CONCORD_RETURN_IF_ERROR(total.status());
  std::vector<Variable> variables = model.trainable_variables();
  std::vector<Value> sources;
  for (const Variable& v : variables) sources.push_back(v.value());
  CONCORD_ASSIGN_OR_RETURN(std::vector<Value> gradients, tape.Gradient(total, sources));
  if (!variables.empty()) {
    std::rotate(variables.begin(), variables.begin() + 1, variables.end());
    std::rotate(gradients.begin(), gradients.begin() + 1, gradients.end());
  }
  return model.optimizer()->ApplyGradients(gradients, variables);
}

// Resume restores `path` (saved from a model of `from` after some steps) into a fresh compiled
// model of the other form, checks that it holds the saved state, and runs `steps` CustomSteps.
absl::StatusOr<std::shared_ptr<Model>> Resume(const ArchSpec& spec, const std::string& path,
                                              const Model& saved, Form from,
                                              absl::Span<const Value> inputs,
                                              absl::Span<const engine::Tensor> y, int steps) {
  const std::string into = internal::FormName(internal::Other(from));
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                           internal::BuildSeeded(spec, internal::Other(from), inputs));
  CONCORD_RETURN_IF_ERROR(internal::CompileForTraining(*model, spec));
  CONCORD_RETURN_IF_ERROR(
      internal::Annotate(models::RestoreCheckpoint(path, *model, model->optimizer()),
                         absl::StrCat("restoring a ", internal::FormName(from),
                                      " checkpoint into the ", into, " form")));
  CONCORD_RETURN_IF_ERROR(internal::Divergence(
      absl::StrCat(internal::FormName(from), " checkpoint restored into the ", into, " form"),
      internal::DiffTrainingState(saved, *model)));
  for (int s = 0; s < steps; ++s) {
    CONCORD_RETURN_IF_ERROR(internal::Annotate(CustomStep(*model, inputs, y),
                                               absl::StrCat(into, " form, resumed step ", s)));
  }
  return model;
}

}  // namespace

absl::Status CheckOptimizerStateMaps(const ArchSpec& spec, int steps) {
  const std::vector<Value> inputs = RandomInputs(spec);
  const std::vector<engine::Tensor> x = internal::Tensors(inputs);
  const std::vector<engine::Tensor> y = internal::RandomTargets(spec);
  const Form forms[] = {Form::kSubclass, Form::kFunctional};
  std::shared_ptr<Model> models[2];
  for (int f = 0; f < 2; ++f) {
    CONCORD_ASSIGN_OR_RETURN(models[f], internal::BuildSeeded(spec, forms[f], inputs));
    CONCORD_RETURN_IF_ERROR(internal::CompileForTraining(*models[f], spec));
    CONCORD_RETURN_IF_ERROR(
        internal::Annotate(TrainSteps(*models[f], x, y, steps), internal::FormName(forms[f])));
  }
  CONCORD_RETURN_IF_ERROR(
      internal::Divergence(absl::StrCat("subclass vs functional after ", steps, " steps"),
                           internal::DiffTrainingState(*models[0], *models[1])));
  CONCORD_ASSIGN_OR_RETURN(std::unique_ptr<TempDir> dir, TempDir::Make());
  for (int f = 0; f < 2; ++f) {
    const std::string path =
        absl::StrCat(dir->path(), "/", internal::FormName(forms[f]), ".safetensors");
    CONCORD_RETURN_IF_ERROR(models::SaveCheckpoint(path, *models[f], models[f]->optimizer()));
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> resumed,
                             Resume(spec, path, *models[f], forms[f], inputs, y, steps));
    CONCORD_RETURN_IF_ERROR(
        internal::Annotate(TrainSteps(*models[f], x, y, steps), internal::FormName(forms[f])));
    CONCORD_RETURN_IF_ERROR(internal::Divergence(
        absl::StrCat(steps, " steps in the ", internal::FormName(forms[f]),
                     " form, a checkpoint restored into the ",
                     internal::FormName(internal::Other(forms[f])), " form and ", steps,
                     " custom steps (variables rotated) vs ", 2 * steps, " uninterrupted steps"),
        internal::DiffTrainingState(*models[f], *resumed)));
  }
  return absl::OkStatus();
}

}  // namespace concord::testing
