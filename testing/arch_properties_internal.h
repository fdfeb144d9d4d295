// Helpers the architecture properties (testing/arch_properties*.cc) share: seeded models of a
// spec in one form, training with the properties' optimizer and loss, and the bitwise
// comparisons that name the first difference. Not for users: include testing/arch_properties.h.
#ifndef CONCORD_TESTING_ARCH_PROPERTIES_INTERNAL_H_
#define CONCORD_TESTING_ARCH_PROPERTIES_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "models/models.h"
#include "testing/arch_spec.h"

namespace concord::testing::internal {

// The seed of every model the properties build (initial weights, Dropout masks).
constexpr uint64_t kArchSeed = 2026;

enum class Form { kSubclass, kFunctional };
const char* FormName(Form form);  // "subclass", "functional"
inline Form Other(Form form) {
  return form == Form::kSubclass ? Form::kFunctional : Form::kSubclass;
}

// BuildSeeded is `spec` as a model of `form`, seeded with kArchSeed and built for `inputs`' specs
// (unknown batch). A failure names the form.
absl::StatusOr<std::shared_ptr<models::Model>> BuildSeeded(
    const ArchSpec& spec, Form form, absl::Span<const autodiff::Value> inputs);

// Annotate is `status` with "<context>: " before its message, same code.
absl::Status Annotate(const absl::Status& status, absl::string_view context);
// FirstError is the first error among `values` (annotated with `context` and its index), or OK.
absl::Status FirstError(absl::Span<const autodiff::Value> values, absl::string_view context);
// Divergence is OK for an empty `difference`, else Internal "<context>: <difference>".
absl::Status Divergence(absl::string_view context, const std::string& difference);

// The comparisons: "" when bitwise equal, else the first difference, named.
// DiffValues names value i by names[i] when given, else "<what> i".
std::string DiffValues(absl::string_view what, absl::Span<const autodiff::Value> a,
                       absl::Span<const autodiff::Value> b,
                       const std::vector<std::string>& names = {});
// DiffVariables compares the variable lists: count, paths, shapes, then values in order.
std::string DiffVariables(const models::Model& a, const models::Model& b);
// DiffSlots compares two slot maps: paths, slot names, then tensors.
std::string DiffSlots(const models::SlotTable& a, const models::SlotTable& b);
// DiffTrainingState compares variables, the compiled optimizers' slot maps and iterations, and
// the models' step().
std::string DiffTrainingState(const models::Model& a, const models::Model& b);

// SumOfSquares is the properties' scalar loss for gradients: sum over outputs of SumAll(y * y).
autodiff::Value SumOfSquares(absl::Span<const autodiff::Value> outputs);
// LossAndGradients calls `model` under a tape and returns {SumOfSquares loss, its gradient with
// respect to each trainable variable}, or a single error value.
std::vector<autodiff::Value> LossAndGradients(models::Model& model,
                                              absl::Span<const autodiff::Value> inputs,
                                              bool training);
// LossAndGradientsOf is LossAndGradients with the model called by `call` (a traced call, say).
std::vector<autodiff::Value> LossAndGradientsOf(
    const models::Model& model, const std::function<std::vector<autodiff::Value>()>& call);
// TrainableNames is "loss" followed by the trainable variables' paths (names for DiffValues of
// LossAndGradients' results).
std::vector<std::string> TrainableNames(const models::Model& model);

// Tensors is the values' tensors.
std::vector<engine::Tensor> Tensors(absl::Span<const autodiff::Value> values);
// RandomTargets is one random float tensor per output of `spec` (its batch and shape), from its
// data_key: the targets of the properties' mean squared error.
std::vector<engine::Tensor> RandomTargets(const ArchSpec& spec);
// TrainingLoss is the properties' training loss (mean squared error), applied to every output
// and summed, as Model::Compile applies it.
models::Loss TrainingLoss();
// CompileForTraining compiles `model` with TrainingLoss() and an optimizer
// with slots chosen by spec.data_key: Adam, SGD with momentum, or SGD with Nesterov momentum.
absl::Status CompileForTraining(models::Model& model, const ArchSpec& spec);

}  // namespace concord::testing::internal

#endif  // CONCORD_TESTING_ARCH_PROPERTIES_INTERNAL_H_
