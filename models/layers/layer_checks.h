// Input checks the built-in layers share (internal): the one-input check of Dense, Conv2D,
// pooling, reshaping and Activation, and the spec lists their messages print.
//
//   std::string problem = internal::CheckOneInput(inputs, 4, 4, /*floating=*/true, "[b, h, w, c]");
//   if (!problem.empty()) return Error(problem);  // "expected a rank-4 input [b, h, w, c], got
//   ..."
#ifndef CONCORD_MODELS_LAYERS_LAYER_CHECKS_H_
#define CONCORD_MODELS_LAYERS_LAYER_CHECKS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "models/layer.h"

namespace concord::models::internal {

// SpecsString lists specs for messages: "float32[?, 2], int64[3]" ("" for none).
std::string SpecsString(absl::Span<const TensorSpec> specs);

// CheckOneInput is the first check every one-input layer here makes: exactly one input, of rank
// in [min_rank, max_rank] and, when `floating`, float32 or float64. `layout` describes the
// expected shape for the message ("[batch, height, width, channels]"). It returns the message for
// Layer::Error, naming the expected and the actual specs, or "" when the input passes.
std::string CheckOneInput(absl::Span<const TensorSpec> inputs, int min_rank, int max_rank,
                          bool floating, absl::string_view layout);

}  // namespace concord::models::internal

#endif  // CONCORD_MODELS_LAYERS_LAYER_CHECKS_H_
