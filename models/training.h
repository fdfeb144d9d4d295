// Training: the types of Model::Compile / Fit / Evaluate / Predict (models/model.h), the Keras
// loop: options, callbacks and the returned history.
//
//   RETURN_IF_ERROR(model->Compile(std::move(adam), Loss::SparseCategoricalCrossentropy(true),
//                                  {"sparse_categorical_accuracy"}));
//   ASSIGN_OR_RETURN(History history, model->Fit(x_train, y_train, FitOptions()));
//
// Note [Training loop]
// Fit runs epochs of batches. Each epoch visits the samples in an order that is a pure function
// of (shuffle_seed, epoch) (a Fisher-Yates shuffle driven by the counter-based generator), so a
// run is reproducible and a resumed run continues with the same batches. A step is: a
// GradientTape around model(x, training=true), the compiled loss summed over the outputs,
// gradients of the trainable variables, Optimizer::ApplyGradients, then the metrics updated with
// the step's outputs. The last batch of an epoch may be smaller. After each epoch, validation
// data (if any) is evaluated in inference mode. The logs of an epoch are the sample-weighted
// means of the loss over its batches, the metrics' results, "val_" versions of both, and
// "samples_per_second". A callback may stop training after any epoch.
//
// Output: when `out` is a terminal, a progress bar redrawn after each batch; otherwise one line
// per epoch; nothing with Verbosity::kSilent.
//
// Traced steps (StepMode): the whole step — forward, loss, tape gradient and optimizer update —
// is traced into one graph (autodiff/function.h) that reads and assigns the variables and slots
// by reference (Note [Traced optimizer steps] in optimizers/optimizer.h), and later steps run that
// graph. Weights, slots, BatchNorm statistics, losses and metrics are bitwise those of eager steps
// (traced_training_test checks it), Dropout masks included (they are drawn from the model's step,
// which the graph advances on every run).
//
// Note [Traced steps by default]
// Like Keras, whose train_step runs as a tf.function unless run_eagerly is set, Fit and
// TrainOnBatch trace by default (StepMode::kAuto): on the benchmark models a traced step is as
// fast or faster and needs about half the peak memory (docs/benchmarks.md, "Traced steps").
// Some steps cannot be traced: a layer or a subclassed Call that reads a tensor's value on the
// host (a C++ `if` on it) fails its trace. Under kAuto such a step runs eagerly instead, and so does every
// later step of this compiled model, with one warning (Model::set_on_warning) naming why the
// trace failed. Since the two forms give the same bits, only speed and memory differ. The
// decision is made at trace time, before the graph runs anything: a step whose graph traced and
// then fails while running (an index out of range) fails as it would eagerly, and is not retried.
// When the eager step fails too, its error is returned and nothing changes. StepMode::kTraced
// returns the trace's error instead of falling back; StepMode::kEager never traces.
//
// Note [Unknown batch in traced steps]
// The step is traced once with the batch unknown: its input signature is the first traced
// batch's specs with axis 0 unknown (Note [Shape-polymorphic traces] in autodiff/function.h), so
// the last, smaller batch of an epoch runs the same trace, given its size, instead of tracing
// again. A batch that does not fit that signature (other feature shapes or dtypes, or no
// samples) is traced at its own shape. A step that needs the batch as a number on the host (a
// layer that reads it, Note [Unknown sizes in models] in models/unknown_dims.h) cannot be traced
// so: when the trace with the unknown batch fails and the same batch traces at its concrete
// shape, the model falls back, once and for good, to one trace per batch shape, and warns
// (Model::set_on_warning) naming the failure. The attempt only traces or sizes a graph, never runs
// one, so nothing was assigned before the fallback; when both fail, the error at the concrete
// shape (eager's) is returned and nothing changes.
#ifndef CONCORD_MODELS_TRAINING_H_
#define CONCORD_MODELS_TRAINING_H_

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/tensor.h"

namespace concord::models {

// Logs are a step's or an epoch's named numbers: "loss", "accuracy", "val_loss", ...
using Logs = std::map<std::string, double>;

// Callback is told about epochs and batches; set `stop_training` to end Fit after this epoch.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void OnEpochBegin(int64_t /*epoch*/) {}
  virtual void OnBatchEnd(int64_t /*batch*/, const Logs& /*logs*/) {}
  virtual void OnEpochEnd(int64_t /*epoch*/, const Logs& /*logs*/) {}
  bool stop_training = false;
};

enum class Verbosity {
  kAuto,    // a progress bar on a terminal, one line per epoch otherwise
  kBar,     // always the progress bar
  kEpochs,  // always one line per epoch
  kSilent,
};

// StepMode is how Fit and TrainOnBatch run a training step (Note [Traced steps by default]).
enum class StepMode {
  kAuto,    // traced; eagerly, from then on and with one warning, if the step cannot be traced
  kTraced,  // traced; a step that cannot be traced is an error
  kEager,   // op by op, never traced
};

struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t shuffle_seed = 0;
  // Validation data (empty: none), with as many tensors as the model has inputs and outputs.
  std::vector<engine::Tensor> validation_x;
  std::vector<engine::Tensor> validation_y;
  std::vector<Callback*> callbacks;  // not owned
  Verbosity verbose = Verbosity::kAuto;
  std::ostream* out = nullptr;  // nullptr: std::cout
  // How each step runs (Note [Traced steps by default]).
  StepMode step_mode = StepMode::kAuto;
};

// History is what Fit returns: one Logs per epoch run.
struct History {
  std::vector<Logs> epochs;
  // ToCsv is a header "epoch,<keys sorted>" and one row per epoch.
  std::string ToCsv() const;
  // WriteCsv writes ToCsv() to `path` atomically (a temporary file, then a rename).
  absl::Status WriteCsv(const std::string& path) const;
};

// ShuffledOrder is the sample order of `epoch` (Note [Training loop]): a permutation of
// [0, num_samples) that depends only on (seed, epoch, num_samples).
std::vector<int64_t> ShuffledOrder(uint64_t seed, int64_t epoch, int64_t num_samples);

}  // namespace concord::models

#endif  // CONCORD_MODELS_TRAINING_H_
