// Optimizer: updates a model's variables from their gradients, keeping per-variable state
// ("slots") keyed by variable identity, never by position (DESIGN.md decision 5). The concrete
// optimizers are in sgd.h, adam.h (Adam, AdamW), rmsprop.h and adagrad.h; optimizers.h has all.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> adam, Adam::Create(AdamOptions()));
//   RETURN_IF_ERROR(adam->ApplyGradients(grads, model->trainable_variables()));
//
// Note [Optimizer slots]
// Slots are created lazily, the first time a variable receives a gradient, and only for such
// variables: a variable whose gradient is undefined (it did not take part in the loss) is left
// alone and gets no slots. In memory they are keyed by Variable::id(), so the order of the lists
// passed to ApplyGradients does not matter, and a layer shared across call sites (one variable)
// has exactly one entry and one update per step. In files they are keyed by path: SlotMap() gives
// path -> slot name -> tensor, the same map for a subclassed and a functional model written
// alike, and RestoreSlots reads it back. So that the path key is unambiguous, one optimizer
// holds slots for at most one variable per path: ApplyGradients rejects a second variable with a
// path the optimizer already keeps slots for (recreate the optimizer, or RestoreSlots, when the
// model is rebuilt). iterations() counts successful ApplyGradients calls; the learning-rate
// schedule is evaluated at iterations() before the step, and bias corrections use
// t = iterations() + 1.
//
// Updates are written with autodiff ops under NoGradScope and assigned with Variable::AssignValue
// (copy-on-write), so a tape that read the old values keeps them. Slots are non-trainable
// Variables, so the same code traces (Note [Traced optimizer steps]).
//
// Note [Traced optimizer steps]
// ApplyGradients called inside a trace (a Function; models/training.cc's traced step) records the
// update instead of performing it: variables and slots are read by reference and assigned as
// side effects of the graph (Note [Resources in traces] in autodiff/resource.h), slots a variable
// will need are created at trace time. The step's host scalars (HostScalars: the learning rate at
// iterations(), Adam's alpha for t = iterations() + 1) cannot be baked into a graph that runs at
// many steps, so inside a trace StepScalars::Get reads them from float64 scalar variables the
// optimizer owns, rounded to the variable's dtype with Cast, which rounds exactly as the eager
// constant does. The caller runs PrepareTracedStep before each run of the graph (it writes the
// scalars for the current iterations()) and FinishTracedStep after a successful run (it counts
// the step). Eager and traced steps therefore compute the same bits.
//
// Note [Update precision]
// Tensor arithmetic runs in the variable's dtype (float32 or float64), in the order of operations
// of Keras 3's update rules (each optimizer's .cc cites the rule it follows). Host scalars (the
// learning rate, Adam's bias-corrected step size, 1 - beta) are computed in double and rounded
// once to the variable's dtype where they meet a tensor, as Keras does with Python floats. Nothing
// depends on the order of the lists: the global clipping norm adds its per-variable terms in
// (path, id) order. So a float64 update equals the same arithmetic written out in double,
// bitwise, and a run restored from SlotMap() and iterations() continues bitwise like one that
// never stopped.
#ifndef CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_H_
#define CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "models/optimizers/schedules.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// SlotTable is path -> slot name -> tensor.
using SlotTable = std::map<std::string, std::map<std::string, engine::Tensor>>;

// ClipOptions: gradient clipping applied before the update, in this order: by value, by norm
// (each gradient separately), by global norm (all gradients together). 0 disables each. Unlike
// Keras, which accepts one of the three, any combination may be set.
//   clip_value        g = min(max(g, -clip_value), clip_value)
//   clip_norm         n = sqrt(sum(g * g));  g = g * (clip_norm / max(n, clip_norm))
//   global_clip_norm  n = sqrt(sum over gradients of sum(g * g)), the per-gradient sums in the
//                     gradient's dtype and the total in float64;  every g = g * (global_clip_norm
//                     / max(n, global_clip_norm)), the factor rounded to g's dtype.
// A gradient within the bound is therefore unchanged, bitwise. A norm that is infinite or NaN
// makes the scaled gradients NaN (as Keras's clip_by_global_norm does), never silently zero.
struct ClipOptions {
  double clip_value = 0;        // clip every element to [-clip_value, clip_value]
  double clip_norm = 0;         // rescale a gradient whose L2 norm exceeds clip_norm to that norm
  double global_clip_norm = 0;  // rescale all gradients when their global L2 norm exceeds it

  friend bool operator==(const ClipOptions& a, const ClipOptions& b) {
    return a.clip_value == b.clip_value && a.clip_norm == b.clip_norm &&
           a.global_clip_norm == b.global_clip_norm;
  }
  friend bool operator!=(const ClipOptions& a, const ClipOptions& b) { return !(a == b); }
};

// StepScalars hands an update rule the step's host scalars (Note [Update precision]) where they
// meet a tensor: rounded once to `dtype` (eager: a constant; traced: a read of the optimizer's
// scalar variable, Note [Traced optimizer steps]).
class StepScalars {
 public:
  StepScalars(const std::map<std::string, double>* values,
              const std::map<std::string, Variable>* variables)
      : values_(values), variables_(variables) {}
  autodiff::Value Get(const std::string& name, engine::DType dtype) const;

 private:
  const std::map<std::string, double>* values_;
  const std::map<std::string, Variable>* variables_;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // name is the registered name: "sgd", "adam", "adamw", "rmsprop", "adagrad".
  virtual std::string name() const = 0;
  // SlotNames are the slots kept per variable, in a fixed order ("momentum"; "m", "v", ...).
  virtual std::vector<std::string> SlotNames() const = 0;

  // ApplyGradients updates variables[i] with gradients[i]. The lists have the same length; an
  // undefined gradient skips its variable (Note [Optimizer slots]). Every problem is reported
  // together in one InvalidArgument naming the paths and shapes, and then nothing changes
  // (variables, slots and iterations()): different lengths, an undefined variable, a variable
  // listed twice, two variables with one path (or a path the optimizer keeps slots for under
  // another variable), a non-trainable variable, a gradient that carries an error or whose shape
  // or dtype differs from its variable's, non-empty lists in which every gradient is undefined
  // (as Keras: "no gradients provided"), a negative iterations(), or a schedule value that is
  // negative or not finite. Empty lists are a successful step that changes only iterations().
  absl::Status ApplyGradients(absl::Span<const autodiff::Value> gradients,
                              absl::Span<const Variable> variables);

  int64_t iterations() const { return iterations_; }
  // set_iterations restores the step counter (from a checkpoint); it must be >= 0 when
  // ApplyGradients next runs.
  void set_iterations(int64_t iterations) { iterations_ = iterations; }
  // PrepareTracedStep writes the host scalars of the step at iterations() into the variables a
  // traced ApplyGradients reads; FinishTracedStep counts a successful traced step (Note [Traced
  // optimizer steps]). InvalidArgument for a negative iterations() or an invalid learning rate.
  absl::Status PrepareTracedStep();
  void FinishTracedStep() { ++iterations_; }

  // learning_rate is the schedule's value at iterations().
  double learning_rate() const { return schedule_(iterations_); }
  const LearningRateSchedule& schedule() const { return schedule_; }
  const ClipOptions& clip() const { return clip_; }

  // SlotMap returns the slots by variable path (Note [Optimizer slots]). Variables without
  // slots (none received a gradient yet, or the optimizer keeps none, as SGD without momentum)
  // are absent. The tensors are snapshots: later steps replace slots, never write into them.
  SlotTable SlotMap() const;
  // RestoreSlots replaces the slots with (copies of) `slots`, a checkpoint's. Each path must
  // name exactly one trainable variable of `variables`, and have exactly the slots SlotNames()
  // lists, each with the variable's shape and dtype. Every problem (unknown path, ambiguous
  // path, unknown or missing slot, wrong shape or dtype, undefined tensor) is reported together
  // in one InvalidArgument, and then nothing changes. Variables not in `slots` lose theirs.
  // iterations() is not touched (set_iterations restores it).
  absl::Status RestoreSlots(const SlotTable& slots, absl::Span<const Variable> variables);

  // GetConfig is {"name", "learning_rate": schedule JSON, "clip": {"clip_value", "clip_norm",
  // "global_clip_norm"}, hyperparameters}; OptimizerFromConfig reads it back.
  virtual nlohmann::json GetConfig() const;

 protected:
  Optimizer(LearningRateSchedule schedule, ClipOptions clip);

  // InitialSlot is the value a new slot starts with (zeros; Adagrad overrides).
  virtual engine::Tensor InitialSlot(const std::string& slot, const Variable& variable) const;
  // HostScalars are the step's host scalars by name, for learning rate `lr` and step
  // t = iterations() + 1: {"lr": lr} unless an optimizer needs more (Adam's "alpha").
  virtual std::map<std::string, double> HostScalars(double lr, int64_t t) const;
  // Update computes one variable's step: reads `variable.value()` and `slots` (one Value per
  // SlotNames() entry), returns the new variable value and writes the new slots into `slots`.
  // `scalars` has the HostScalars of this step. Called under NoGradScope, only with validated,
  // clipped gradients of the variable's shape and dtype. An error carried by a result fails the
  // whole step before anything is assigned.
  virtual autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                                 std::map<std::string, autodiff::Value>& slots,
                                 const StepScalars& scalars) = 0;

 private:
  struct State {
    Variable variable;
    std::map<std::string, Variable> slots;  // non-trainable, one per SlotNames() entry
  };
  // The host scalars a traced step reads (Note [Traced optimizer steps]), float64 scalars.
  std::map<std::string, Variable> scalar_variables_;
  LearningRateSchedule schedule_;
  ClipOptions clip_;
  int64_t iterations_ = 0;
  absl::flat_hash_map<int64_t, State> state_;  // keyed by Variable::id()
};

// ValidateClipOptions returns InvalidArgument for negative or non-finite clip values.
absl::Status ValidateClipOptions(const ClipOptions& clip);

// OptimizerFromConfig rebuilds an optimizer from GetConfig's JSON, dispatching on "name" ("sgd",
// "adam", "adamw", "rmsprop", "adagrad"). Missing fields take their defaults; InvalidArgument
// for an unknown name (listing the known ones), an unknown or mistyped field, or values Create
// rejects.
absl::StatusOr<std::unique_ptr<Optimizer>> OptimizerFromConfig(const nlohmann::json& config);

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_H_
