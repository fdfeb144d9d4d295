// CompareForms: runs two versions of a model on the same inputs, layer call by layer call, and
// names the first place where they differ — the tool for "my subclassed model and my functional
// model should agree bitwise, but don't: where does it start?".
//
//   ASSIGN_OR_RETURN(CompareFormsResult r, CompareForms(*subclassed, *functional, {x}));
//   if (!r.same) std::cerr << r.ToString();   // first difference: layer 'block1/dense' ...
//
// Note [Comparing forms]
// Both models are called once (eagerly, with options.training) on the same input tensors while a
// LayerCallObserver (Note [Call observers] in models/layer.h) records every nested layer call:
// its layer path, call index, inputs and outputs. The two call sequences are paired position by
// position (or, with allow_reordered_calls, by layer path and call index); a call that has no
// partner, or whose partner has other input/output counts, shapes or dtypes, is a structural
// difference. Then, in execution order, each pair's inputs and outputs are compared, then the
// models' outputs. When the forward pass agrees, the loss L = sum over outputs of sum(y * y) is
// differentiated in each model with one GradientTape (the inputs watched, unconnected gradients
// as zeros) and, walking the calls newest first, d L / d each call's outputs are compared, and,
// at a layer's first call, d L / d the layer's own trainable variables; then the gradients of any
// other trainable variable (paired by path; unpaired paths are structural) and of the inputs.
// The first difference in that order is reported with its largest absolute difference.
//
// Running the models is not free of effects: a training call advances each model's step and
// BatchNormalization's moving statistics, exactly as any training call does. Compare two models
// that are in the same state (both fresh, or both restored from the same checkpoint).
#ifndef CONCORD_TESTING_COMPARE_FORMS_H_
#define CONCORD_TESTING_COMPARE_FORMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/tensor.h"
#include "models/layer.h"

namespace concord::testing {

// CompareFormsOptions says how to run and compare the two models.
struct CompareFormsOptions {
  // training is passed to both calls (Dropout draws masks, BatchNorm uses batch statistics).
  bool training = false;
  // tolerance: 0 compares bitwise (the Concord contract); otherwise two elements differ when
  // |a - b| > tolerance (or exactly one is NaN).
  double tolerance = 0.0;
  // compare_gradients: false stops after the forward pass.
  bool compare_gradients = true;
  // allow_reordered_calls pairs calls by (layer path, call index) instead of by position, for
  // forms that run independent branches in another order. Unpaired calls are still structural.
  bool allow_reordered_calls = false;
};

// DifferenceKind is where a difference was found.
enum class DifferenceKind {
  kNone,       // the models agree
  kStructure,  // call sequences, shapes or variable paths do not correspond
  kForward,    // a layer's inputs or outputs, or the model's outputs
  kGradient,   // a gradient of the loss
};

// Difference is one place where the two models disagree.
struct Difference {
  DifferenceKind kind = DifferenceKind::kNone;
  // path is the layer path ("block1/dense"), or "" for the models' own inputs and outputs.
  std::string path;
  // what names the tensor: "output 0 of call 1", "input 0 of call 0", "gradient of output 0 of
  // call 0", "gradient of block1/dense/kernel", "model output 0", "call 3", "variables".
  std::string what;
  // detail explains a structural difference ("a calls 'dense' (call 0), b calls 'norm' (call
  // 0)"); empty otherwise.
  std::string detail;
  // note is a hint at the cause of a forward difference in a layer's outputs: whether the
  // layer's own variables differ ("its own variables differ: block1/dense/kernel (64 elements,
  // largest |a - b| 1.19209e-07)") or agree (then its computation differs); for a difference in
  // a layer's inputs, that the layer is fed another tensor. Empty otherwise.
  std::string note;
  // For a numeric difference: the shape, the number of differing elements, the largest absolute
  // difference (infinite when one side is NaN or infinite), its row-major flat index and
  // multi-index, the two values there, and their distance in units in the last place (float
  // dtypes; 0 otherwise).
  std::string shape;
  int64_t differing_elements = 0;
  double max_abs_diff = 0.0;
  int64_t index = -1;
  std::vector<int64_t> position;
  double value_a = 0.0;
  double value_b = 0.0;
  int64_t ulps = 0;
  // bitwise_only: every differing element is numerically equal (-0 vs +0, NaN payloads).
  bool bitwise_only = false;
};

// CompareFormsResult is what CompareForms found.
struct CompareFormsResult {
  bool same = true;
  // first_difference: kind kNone when same.
  Difference first_difference;
  // compared_paths are the layer paths of the paired calls, in a's execution order, one entry
  // per call ("hidden", "out", "shared", "shared", ...).
  std::vector<std::string> compared_paths;
  // compared_tensors counts the tensor pairs compared before stopping.
  int64_t compared_tensors = 0;

  // ToString is a readable report: the verdict, then the first difference with its numbers.
  std::string ToString() const;
};

// CompareForms runs `a` and `b` on `inputs` and reports the first difference (Note [Comparing
// forms]). Errors: InvalidArgument when `inputs` is empty or a model's call or gradient fails
// (the message says which model); FailedPrecondition inside a trace (the calls must be eager).
// A difference is never an error: it is the result.
absl::StatusOr<CompareFormsResult> CompareForms(models::Layer& a, models::Layer& b,
                                                absl::Span<const engine::Tensor> inputs,
                                                const CompareFormsOptions& options = {});

// DifferenceKindName is "none", "structure", "forward" or "gradient".
const char* DifferenceKindName(DifferenceKind kind);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_COMPARE_FORMS_H_
