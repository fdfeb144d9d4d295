// Checkpoints: a model's variables, its optimizer's slots and the training counters in one
// safetensors file (models/io/safetensors.h), keyed by variable path, saved atomically.
//
//   CONCORD_RETURN_IF_ERROR(SaveCheckpoint("ckpt.safetensors", *model, adam.get()));
//   CONCORD_RETURN_IF_ERROR(RestoreCheckpoint("ckpt.safetensors", *model, adam.get()));
//
// Note [Checkpoint layout]
// Tensor keys:
//   <variable path>                      every variable of the model ("hidden/kernel")
//   optimizer/<variable path>/<slot>     every optimizer slot ("optimizer/hidden/kernel/m")
// Metadata (`__metadata__`, strings):
//   concord/format_version       kCheckpointFormatVersion
//   concord/step                 the model's step(): completed training calls, which drive the
//                                random streams of Dropout and the like (Note [Call context])
//   concord/seed                 the model's seed(), for the record: a built model's seed cannot
//                                change, so restoring does not set it; resuming bitwise (Dropout
//                                masks included) needs a model built with the same seed
//   concord/optimizer/iterations the optimizer's iterations() (only with an optimizer)
//   concord/optimizer/config     the optimizer's GetConfig() as JSON (only with an optimizer)
//   anything else                the caller's own metadata; keys under "concord/" are reserved
// Keys are paths, never positions or ids, so a checkpoint saved from a subclassed model restores
// into the functional model written alike, and the reverse (DESIGN.md decision 5). The file is a
// plain safetensors file: other tools read the weights, and a safetensors file of weights written
// elsewhere under Concord's paths restores (it simply has no counters and no optimizer state).
//
// Note [Checkpoint restore]
// RestoreCheckpoint changes nothing until everything has been checked: the file (every
// safetensors check), the metadata, and the keys against the model and optimizer. Problems are
// reported together in one InvalidArgument, grouped as
//   unknown keys     in the file but not in the model (or optimizer),
//   missing keys     in the model but not in the file,
//   mismatched keys  in both, with another dtype or shape (and an optimizer of another kind).
// With RestoreOptions::allow_partial, unknown and missing keys are allowed: missing variables
// keep their values (and their optimizer slots), unknown keys are ignored. Mismatches are always
// errors. Optimizer slots exist only for variables that received a gradient (Note [Optimizer
// slots]), so a variable without slots in the file is not missing anything; a variable with some
// of its slots but not all is. Without an optimizer argument, optimizer keys and counters are
// ignored (restoring a training checkpoint for inference).
#ifndef CONCORD_MODELS_IO_CHECKPOINT_H_
#define CONCORD_MODELS_IO_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "models/model.h"
#include "models/optimizers/optimizer.h"

namespace concord::models {

// kCheckpointFormatVersion is the version SaveCheckpoint writes; RestoreCheckpoint reads it and
// every earlier one.
inline constexpr int64_t kCheckpointFormatVersion = 1;

// The metadata keys of Note [Checkpoint layout].
inline constexpr absl::string_view kCheckpointFormatVersionKey = "concord/format_version";
inline constexpr absl::string_view kCheckpointStepKey = "concord/step";
inline constexpr absl::string_view kCheckpointSeedKey = "concord/seed";
inline constexpr absl::string_view kCheckpointIterationsKey = "concord/optimizer/iterations";
inline constexpr absl::string_view kCheckpointOptimizerConfigKey = "concord/optimizer/config";
// kCheckpointReservedPrefix starts every metadata key Concord owns.
inline constexpr absl::string_view kCheckpointReservedPrefix = "concord/";
// kCheckpointOptimizerPrefix starts the tensor key of every optimizer slot.
inline constexpr absl::string_view kCheckpointOptimizerPrefix = "optimizer/";

// RestoreOptions tune RestoreCheckpoint.
struct RestoreOptions {
  // allow_partial accepts a file that lacks some of the model's variables or holds keys the model
  // does not have (Note [Checkpoint restore]); by default both are errors.
  bool allow_partial = false;
};

// SaveCheckpoint writes `model`'s variables, and `optimizer`'s slots and counters when it is not
// null, with `metadata`, to `path` atomically (Note [Checkpoint layout], Note [Atomic writes]).
// FailedPrecondition for a model that is not built; InvalidArgument for a metadata key under
// "concord/", two tensors under one key, or optimizer slots of a variable the model does not
// have; I/O errors as WriteSafetensors.
absl::Status SaveCheckpoint(const std::string& path, const Model& model,
                            const Optimizer* optimizer = nullptr,
                            const std::map<std::string, std::string>& metadata = {});

// RestoreCheckpoint reads `path` into `model` (Variable::Assign), `optimizer`'s slots
// (RestoreSlots) when it is not null, the model's step and the optimizer's iterations, after
// validating everything (Note [Checkpoint restore]). FailedPrecondition for a model that is not
// built (build it, e.g. with Build() or one call, so its variables exist); NotFound for a missing
// file; InvalidArgument naming the file for anything wrong with it, listing every problem. On
// error the model and the optimizer are unchanged.
absl::Status RestoreCheckpoint(const std::string& path, Model& model,
                               Optimizer* optimizer = nullptr, RestoreOptions options = {});

}  // namespace concord::models

#endif  // CONCORD_MODELS_IO_CHECKPOINT_H_
