// Metrics: running, resettable statistics a training loop reports (Keras's metrics), accumulated
// in double on the host.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Metric> acc, MetricFromName("sparse_categorical_accuracy"));
//   RETURN_IF_ERROR(acc->Update(labels, logits));   // once per batch
//   double accuracy = acc->Result();                // over every batch since the last Reset
//
// Note [Metrics are eager]
// A metric reads its inputs' values (it compares, counts and adds on the host), so it is updated
// with concrete values, outside any trace, and nothing it does is recorded by a tape. Every
// metric here is a weighted mean, like Keras's MeanMetricWrapper: Update turns (y_true, y_pred)
// into per-sample values (1 for a match, 0 otherwise), weights them (Note [Sample weight
// alignment] in models/losses/sample_weight.h), and adds sum(w * value) to a total and sum(w) to
// a count; Result is total / count, or 0 while the count is 0. An Update that fails changes
// nothing. Errors are InvalidArgument naming the metric and the shapes (an input that carries an
// error returns that error).
#ifndef CONCORD_MODELS_LOSSES_METRICS_H_
#define CONCORD_MODELS_LOSSES_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autodiff/value.h"
#include "engine/shape.h"

namespace concord::models {

class Metric {
 public:
  virtual ~Metric() = default;

  // name is the registered name ("accuracy") or the one given at construction.
  virtual std::string name() const = 0;

  // Update adds one batch (Note [Metrics are eager]). An undefined sample_weight weighs every
  // sample 1.
  absl::Status Update(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                      const autodiff::Value& sample_weight = autodiff::Value()) {
    return UpdateState(y_true, y_pred, sample_weight);
  }

  // Result is the metric over every update since construction or the last Reset.
  virtual double Result() const = 0;

  // Reset forgets every update.
  virtual void Reset() = 0;

 protected:
  Metric() = default;
  virtual absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                                   const autodiff::Value& sample_weight) = 0;
};

// Mean: the weighted running mean of values, Keras's tf.keras.metrics.Mean. Update(y_true,
// y_pred, w) averages y_pred and ignores y_true (which may be undefined), so a training loop can
// track its loss with UpdateValues(loss) and a config can list "mean" beside the accuracies.
class Mean : public Metric {
 public:
  explicit Mean(std::string name = "mean") : name_(std::move(name)) {}

  std::string name() const override { return name_; }

  // UpdateValues adds every element of `values` (any numeric or bool dtype, any shape), weighted
  // by `sample_weight` when it is defined.
  absl::Status UpdateValues(const autodiff::Value& values,
                            const autodiff::Value& sample_weight = autodiff::Value());

  double Result() const override { return count_ == 0 ? 0.0 : total_ / count_; }
  void Reset() override {
    total_ = 0;
    count_ = 0;
  }

  // total is sum(w * value) and count is sum(w) so far.
  double total() const { return total_; }
  double count() const { return count_; }

 protected:
  // Mean averages y_pred.
  absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                           const autodiff::Value& sample_weight) override;

  // Accumulate adds `values` (row-major, of `shape`) weighted by `sample_weight`; nothing
  // changes on error. `who` starts error messages ("Accuracy 'accuracy'").
  absl::Status Accumulate(absl::string_view who, const std::vector<double>& values,
                          const engine::Shape& shape, const autodiff::Value& sample_weight);

  // Who is the error-message prefix: the class and the name, "Mean 'loss'".
  std::string Who(absl::string_view class_name) const;

 private:
  std::string name_;
  double total_ = 0;
  double count_ = 0;
};

// Accuracy: the fraction of elements where y_pred == y_true exactly (compared as doubles).
// Shapes must agree, up to a trailing axis of size 1 on one side ([N] against [N, 1]).
class Accuracy : public Mean {
 public:
  explicit Accuracy(std::string name = "accuracy") : Mean(std::move(name)) {}

 protected:
  absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                           const autodiff::Value& sample_weight) override;
};

// BinaryAccuracy: the fraction of elements where (y_pred > threshold ? 1 : 0) == y_true, for
// y_pred holding probabilities (use threshold 0 for logits). Shapes as for Accuracy.
class BinaryAccuracy : public Mean {
 public:
  explicit BinaryAccuracy(double threshold = 0.5, std::string name = "binary_accuracy")
      : Mean(std::move(name)), threshold_(threshold) {}

  double threshold() const { return threshold_; }

 protected:
  absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                           const autodiff::Value& sample_weight) override;

 private:
  double threshold_;
};

// CategoricalAccuracy: the fraction of samples where argmax(y_pred) == argmax(y_true) over the
// last axis (one-hot labels; ties pick the first index). Same shapes, rank >= 1, at least one
// class.
class CategoricalAccuracy : public Mean {
 public:
  explicit CategoricalAccuracy(std::string name = "categorical_accuracy") : Mean(std::move(name)) {}

 protected:
  absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                           const autodiff::Value& sample_weight) override;
};

// SparseCategoricalAccuracy: the fraction of samples where argmax(y_pred) over the last axis
// equals the label. y_true holds class indices (any numeric dtype, compared as doubles) shaped
// like y_pred without its last axis, or with a trailing 1.
class SparseCategoricalAccuracy : public Mean {
 public:
  explicit SparseCategoricalAccuracy(std::string name = "sparse_categorical_accuracy")
      : Mean(std::move(name)) {}

 protected:
  absl::Status UpdateState(const autodiff::Value& y_true, const autodiff::Value& y_pred,
                           const autodiff::Value& sample_weight) override;
};

// MetricFromName makes a fresh metric: "accuracy", "binary_accuracy", "categorical_accuracy",
// "sparse_categorical_accuracy" or "mean" (with default parameters). InvalidArgument listing the
// known names otherwise.
absl::StatusOr<std::unique_ptr<Metric>> MetricFromName(absl::string_view name);

// KnownMetricNames lists the names MetricFromName accepts, sorted.
std::vector<std::string> KnownMetricNames();

}  // namespace concord::models

#endif  // CONCORD_MODELS_LOSSES_METRICS_H_
