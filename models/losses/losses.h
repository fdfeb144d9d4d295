// Losses: Keras's loss functions on autodiff Values, and `Loss`, the small value a training loop
// holds and a config names.
//
//   Value loss = SparseCategoricalCrossentropy(labels, logits, /*from_logits=*/true);
//   ASSIGN_OR_RETURN(Loss mse, Loss::FromName("mean_squared_error"));
//   Value same = mse(y_true, y_pred, /*sample_weight=*/w);
//
// Note [Loss semantics]
// Every loss is Keras's: an elementwise or per-class term is first reduced to a PER-SAMPLE loss
// (a mean over the last axis for mean_squared_error, mean_absolute_error, huber and
// binary_crossentropy; a sum over the class axis for the cross-entropies), so the per-sample
// loss has the shape of y_pred without its last axis. Then the sample weights multiply it (Note
// [Sample weight alignment] in models/losses/sample_weight.h) and the reduction applies:
//   kNone             the weighted per-sample losses;
//   kSum              their sum;
//   kSumOverBatchSize their sum divided by the NUMBER of per-sample losses (not by the sum of
//                     the weights, like Keras); 0 for an empty batch. Keras's default.
// Shapes. y_true and y_pred have the same shape, except that a trailing axis of size 1 on one
// side is matched by adding it to the other ([N] against [N, 1]); the sparse cross-entropy
// takes integer labels shaped like y_pred without its class axis (or with a trailing 1). y_pred
// is float32 or float64 of rank >= 1; y_true is cast to y_pred's dtype. Anything else gives a
// Value carrying InvalidArgument that names the loss and both shapes; an input that already
// carries an error passes it along untouched (Note [Errors travel with values] in value.h).
// Probabilities are clipped to [1e-7, 1 - 1e-7] before the log (Keras's epsilon); from logits
// the losses never overflow (see each function).
#ifndef CONCORD_MODELS_LOSSES_LOSSES_H_
#define CONCORD_MODELS_LOSSES_LOSSES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autodiff/value.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// Reduction: how per-sample losses become the returned value (Note [Loss semantics]).
enum class Reduction {
  kNone,
  kSum,
  kSumOverBatchSize,  // the mean over per-sample losses; the default
};

// ReductionName is Keras's name: "none", "sum", "sum_over_batch_size".
absl::string_view ReductionName(Reduction reduction);
// ReductionFromName parses ReductionName's names (and Keras's "auto", the default); InvalidArgument
// otherwise.
absl::StatusOr<Reduction> ReductionFromName(absl::string_view name);

// LossOptions are the arguments every loss takes.
struct LossOptions {
  Reduction reduction = Reduction::kSumOverBatchSize;
  // sample_weight multiplies the per-sample losses; undefined means every weight is 1.
  autodiff::Value sample_weight;
};

// The cross-entropies' epsilon: probabilities are clipped to [kLossEpsilon, 1 - kLossEpsilon]
// before the log (Keras's backend.epsilon()).
inline constexpr double kLossEpsilon = 1e-7;

// MeanSquaredError: per sample, mean((y_pred - y_true)^2) over the last axis.
autodiff::Value MeanSquaredError(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                                 const LossOptions& options = {});

// MeanAbsoluteError: per sample, mean(|y_pred - y_true|) over the last axis.
autodiff::Value MeanAbsoluteError(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                                  const LossOptions& options = {});

// Huber: per sample, the mean over the last axis of 0.5 e^2 where |e| <= delta and
// delta (|e| - 0.5 delta) elsewhere, e = y_pred - y_true. delta must be positive and finite.
autodiff::Value Huber(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                      double delta = 1.0, const LossOptions& options = {});

// BinaryCrossentropy: per sample, the mean over the last axis of
//   from_logits (x = y_pred, z = y_true):  max(x, 0) - x z + log(1 + exp(-|x|)),
//     which equals -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) and never overflows;
//   from probabilities (p = clip(y_pred, eps, 1 - eps)):  -z log(p) - (1 - z) log(1 - p).
// y_true may hold soft labels in [0, 1].
autodiff::Value BinaryCrossentropy(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                                   bool from_logits = false, const LossOptions& options = {});

// CategoricalCrossentropy: per sample, -sum_c y_true[c] log q[c] over the last (class) axis, with
//   from_logits:  log q = LogSoftmax(y_pred) (stable for any logits);
//   from probabilities:  q = clip(y_pred / sum_c y_pred[c], eps, 1 - eps).
// y_true holds one-hot or soft labels shaped like y_pred.
autodiff::Value CategoricalCrossentropy(const autodiff::Value& y_true,
                                        const autodiff::Value& y_pred, bool from_logits = false,
                                        const LossOptions& options = {});

// SparseCategoricalCrossentropy: CategoricalCrossentropy with one-hot labels given as class
// indices: per sample, -log q[y_true]. y_true is int32 or int64 (or floating, truncated to an
// integer like Keras) of y_pred's shape without the class axis, or with a trailing 1. A label
// outside [0, classes) is InvalidArgument.
autodiff::Value SparseCategoricalCrossentropy(const autodiff::Value& y_true,
                                              const autodiff::Value& y_pred,
                                              bool from_logits = false,
                                              const LossOptions& options = {});

// Loss is a small value naming one of the losses above with its parameters, so that a training
// loop can hold "the loss" and a config can name it.
//
//   Loss loss = Loss::CategoricalCrossentropy(/*from_logits=*/true);
//   Value l = loss(y_true, logits);
//   nlohmann::json j = loss.ToJson();
//   // {"name": "categorical_crossentropy",
//   //  "config": {"from_logits": true, "reduction": "sum_over_batch_size"}}
class Loss {
 public:
  // The kinds, with Keras's parameter defaults. Registered names: "mean_squared_error",
  // "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
  // "sparse_categorical_crossentropy". Huber keeps `delta` as given: a delta that is not positive
  // and finite makes every call return the error.
  static Loss MeanSquaredError(Reduction reduction = Reduction::kSumOverBatchSize);
  static Loss MeanAbsoluteError(Reduction reduction = Reduction::kSumOverBatchSize);
  static Loss Huber(double delta = 1.0, Reduction reduction = Reduction::kSumOverBatchSize);
  static Loss BinaryCrossentropy(bool from_logits = false,
                                 Reduction reduction = Reduction::kSumOverBatchSize);
  static Loss CategoricalCrossentropy(bool from_logits = false,
                                      Reduction reduction = Reduction::kSumOverBatchSize);
  static Loss SparseCategoricalCrossentropy(bool from_logits = false,
                                            Reduction reduction = Reduction::kSumOverBatchSize);

  // FromName returns the loss registered as `name`, with default parameters. Keras's short
  // names "mse" and "mae" are accepted too. InvalidArgument listing the known names otherwise.
  static absl::StatusOr<Loss> FromName(absl::string_view name);
  // KnownNames lists the registered names, sorted.
  static std::vector<std::string> KnownNames();

  // ToJson gives {"name": ..., "config": {...}} with every parameter the loss takes:
  // "reduction" always, "delta" for huber, "from_logits" for the cross-entropies.
  nlohmann::json ToJson() const;
  // FromJson reads what ToJson writes, or a bare name; missing parameters take their defaults.
  // InvalidArgument for an unknown name, an unknown or mistyped parameter, a parameter the loss
  // does not take, or a delta that is not positive and finite.
  static absl::StatusOr<Loss> FromJson(const nlohmann::json& json);

  // operator() computes the loss (the free function of the same kind) with this loss's
  // parameters and reduction.
  autodiff::Value operator()(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                             const autodiff::Value& sample_weight = autodiff::Value()) const;

  // name is the registered name ("huber").
  const std::string& name() const { return name_; }
  Reduction reduction() const { return reduction_; }
  // from_logits is meaningful for the cross-entropies (false for the others).
  bool from_logits() const { return from_logits_; }
  // delta is meaningful for huber (1 for the others).
  double delta() const { return delta_; }

  friend bool operator==(const Loss& a, const Loss& b) {
    return a.name_ == b.name_ && a.reduction_ == b.reduction_ && a.from_logits_ == b.from_logits_ &&
           a.delta_ == b.delta_;
  }
  friend bool operator!=(const Loss& a, const Loss& b) { return !(a == b); }

 private:
  Loss(std::string name, Reduction reduction, bool from_logits, double delta)
      : name_(std::move(name)), reduction_(reduction), from_logits_(from_logits), delta_(delta) {}

  std::string name_;
  Reduction reduction_;
  bool from_logits_;
  double delta_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LOSSES_LOSSES_H_
