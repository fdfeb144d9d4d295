#include "models/losses/metrics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/dtype.h"
#include "engine/tensor.h"
#include "models/losses/sample_weight.h"

namespace concord::models {
namespace {

using autodiff::Value;
using engine::Shape;
using engine::Tensor;

// ReadInput returns the tensor of an input: InvalidArgument when undefined, its error if any.
absl::StatusOr<Tensor> ReadInput(absl::string_view who, absl::string_view what, const Value& v) {
  if (!v.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", what, " is undefined"));
  }
  return v.ToTensor();
}

std::vector<double> ToDoubles(const Tensor& t) {
  std::vector<double> out(t.num_elements());
  for (int64_t i = 0; i < t.num_elements(); ++i) out[i] = t.ElementAsDouble(i);
  return out;
}

absl::Status ShapeMismatch(absl::string_view who, const Tensor& y_true, const Tensor& y_pred,
                           absl::string_view expectation) {
  return absl::InvalidArgumentError(absl::StrCat(who, ": y_true ", y_true.ShapeString(),
                                                 " and y_pred ", y_pred.ShapeString(), " ",
                                                 expectation));
}

// Elementwise is an elementwise metric's inputs: both tensors with the shape of the values.
struct Elementwise {
  Tensor y_true;
  Tensor y_pred;
  Shape shape;
};

// ReadElementwise reads y_true and y_pred of the same shape, up to a trailing axis of size 1 on
// one side (which does not change the row-major order, so the elements pair up as stored).
absl::StatusOr<Elementwise> ReadElementwise(absl::string_view who, const Value& y_true,
                                            const Value& y_pred) {
  absl::StatusOr<Tensor> t = ReadInput(who, "y_true", y_true);
  if (!t.ok()) return t.status();
  absl::StatusOr<Tensor> p = ReadInput(who, "y_pred", y_pred);
  if (!p.ok()) return p.status();
  const Shape& ts = t->shape();
  const Shape& ps = p->shape();
  if (ts == ps) return Elementwise{*t, *p, ps};
  if (ts.rank() + 1 == ps.rank() && ps.dim(ps.rank() - 1) == 1) {
    bool leading_match = true;
    for (int d = 0; d < ts.rank(); ++d) leading_match = leading_match && ts.dim(d) == ps.dim(d);
    if (leading_match) return Elementwise{*t, *p, ps};
  }
  if (ps.rank() + 1 == ts.rank() && ts.dim(ts.rank() - 1) == 1) {
    bool leading_match = true;
    for (int d = 0; d < ps.rank(); ++d) leading_match = leading_match && ts.dim(d) == ps.dim(d);
    if (leading_match) return Elementwise{*t, *p, ts};
  }
  return ShapeMismatch(who, *t, *p, "must have the same shape (up to a trailing axis of 1)");
}

// ArgMaxRows is the argmax of each row of the last axis (the first index on ties; NaN never
// wins), and the shape of the result (the tensor's shape without its last axis).
absl::StatusOr<std::vector<double>> ArgMaxRows(absl::string_view who, absl::string_view what,
                                               const Tensor& t) {
  if (t.rank() == 0 || t.dim(t.rank() - 1) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", what, " ", t.ShapeString(),
                                                   " needs a non-empty last (class) axis"));
  }
  const int64_t classes = t.dim(t.rank() - 1);
  const int64_t rows = t.num_elements() / classes;
  std::vector<double> out(rows);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    double best_value = t.ElementAsDouble(r * classes);
    for (int64_t c = 1; c < classes; ++c) {
      const double v = t.ElementAsDouble(r * classes + c);
      if (v > best_value || (best_value != best_value && v == v)) {
        best = c;
        best_value = v;
      }
    }
    out[r] = static_cast<double>(best);
  }
  return out;
}

Shape WithoutLastAxis(const Shape& shape) {
  std::vector<int64_t> dims = shape.ToVector();
  dims.pop_back();
  return *Shape::FromDims(dims);
}

}  // namespace

// ---- Mean -------------------------------------------------------------------------------------

std::string Mean::Who(absl::string_view class_name) const {
  return absl::StrCat(class_name, " '", name_, "'");
}

absl::Status Mean::Accumulate(absl::string_view who, const std::vector<double>& values,
                              const Shape& shape, const Value& sample_weight) {
  double total = 0;
  double count = 0;
  if (sample_weight.defined()) {
    absl::StatusOr<Tensor> weight = sample_weight.ToTensor();
    if (!weight.ok()) return weight.status();
    absl::StatusOr<std::vector<double>> weights =
        internal::BroadcastWeightsToHost(who, "the values", *weight, shape);
    if (!weights.ok()) return weights.status();
    for (size_t i = 0; i < values.size(); ++i) {
      total += (*weights)[i] * values[i];
      count += (*weights)[i];
    }
  } else {
    for (double v : values) total += v;
    count = static_cast<double>(values.size());
  }
  total_ += total;
  count_ += count;
  return absl::OkStatus();
}

absl::Status Mean::UpdateValues(const Value& values, const Value& sample_weight) {
  const std::string who = Who("Mean");
  absl::StatusOr<Tensor> t = ReadInput(who, "values", values);
  if (!t.ok()) return t.status();
  return Accumulate(who, ToDoubles(*t), t->shape(), sample_weight);
}

absl::Status Mean::UpdateState(const Value& /*y_true*/, const Value& y_pred,
                               const Value& sample_weight) {
  const std::string who = Who("Mean");
  absl::StatusOr<Tensor> t = ReadInput(who, "y_pred", y_pred);
  if (!t.ok()) return t.status();
  return Accumulate(who, ToDoubles(*t), t->shape(), sample_weight);
}

// ---- Accuracies -------------------------------------------------------------------------------

absl::Status Accuracy::UpdateState(const Value& y_true, const Value& y_pred,
                                   const Value& sample_weight) {
  const std::string who = Who("Accuracy");
  absl::StatusOr<Elementwise> in = ReadElementwise(who, y_true, y_pred);
  if (!in.ok()) return in.status();
  std::vector<double> matches(in->shape.num_elements());
  for (size_t i = 0; i < matches.size(); ++i) {
    matches[i] = in->y_true.ElementAsDouble(i) == in->y_pred.ElementAsDouble(i) ? 1.0 : 0.0;
  }
  return Accumulate(who, matches, in->shape, sample_weight);
}

absl::Status BinaryAccuracy::UpdateState(const Value& y_true, const Value& y_pred,
                                         const Value& sample_weight) {
  const std::string who = Who("BinaryAccuracy");
  absl::StatusOr<Elementwise> in = ReadElementwise(who, y_true, y_pred);
  if (!in.ok()) return in.status();
  std::vector<double> matches(in->shape.num_elements());
  for (size_t i = 0; i < matches.size(); ++i) {
    const double predicted = in->y_pred.ElementAsDouble(i) > threshold_ ? 1.0 : 0.0;
    matches[i] = in->y_true.ElementAsDouble(i) == predicted ? 1.0 : 0.0;
  }
  return Accumulate(who, matches, in->shape, sample_weight);
}

absl::Status CategoricalAccuracy::UpdateState(const Value& y_true, const Value& y_pred,
                                              const Value& sample_weight) {
  const std::string who = Who("CategoricalAccuracy");
  absl::StatusOr<Tensor> t = ReadInput(who, "y_true", y_true);
  if (!t.ok()) return t.status();
  absl::StatusOr<Tensor> p = ReadInput(who, "y_pred", y_pred);
  if (!p.ok()) return p.status();
  if (t->shape() != p->shape()) return ShapeMismatch(who, *t, *p, "must have the same shape");
  absl::StatusOr<std::vector<double>> true_class = ArgMaxRows(who, "y_true", *t);
  if (!true_class.ok()) return true_class.status();
  absl::StatusOr<std::vector<double>> predicted = ArgMaxRows(who, "y_pred", *p);
  if (!predicted.ok()) return predicted.status();
  std::vector<double> matches(predicted->size());
  for (size_t i = 0; i < matches.size(); ++i) {
    matches[i] = (*true_class)[i] == (*predicted)[i] ? 1.0 : 0.0;
  }
  return Accumulate(who, matches, WithoutLastAxis(p->shape()), sample_weight);
}

absl::Status SparseCategoricalAccuracy::UpdateState(const Value& y_true, const Value& y_pred,
                                                    const Value& sample_weight) {
  const std::string who = Who("SparseCategoricalAccuracy");
  absl::StatusOr<Tensor> t = ReadInput(who, "y_true", y_true);
  if (!t.ok()) return t.status();
  absl::StatusOr<Tensor> p = ReadInput(who, "y_pred", y_pred);
  if (!p.ok()) return p.status();
  if (t->dtype() == engine::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": y_true must hold class indices (a numeric dtype), got ",
                     t->ShapeString(), " for y_pred ", p->ShapeString()));
  }
  absl::StatusOr<std::vector<double>> predicted = ArgMaxRows(who, "y_pred", *p);
  if (!predicted.ok()) return predicted.status();
  const Shape batch = WithoutLastAxis(p->shape());
  std::vector<int64_t> label_dims = t->shape().ToVector();
  if (t->rank() == p->rank() && label_dims.back() == 1) label_dims.pop_back();
  if (label_dims != batch.ToVector()) {
    return ShapeMismatch(who, *t, *p,
                         absl::StrCat("do not match: labels must have shape ", batch.ToString(),
                                      " (y_pred without its class axis), optionally with a "
                                      "trailing 1"));
  }
  std::vector<double> matches(predicted->size());
  for (size_t i = 0; i < matches.size(); ++i) {
    matches[i] = t->ElementAsDouble(i) == (*predicted)[i] ? 1.0 : 0.0;
  }
  return Accumulate(who, matches, batch, sample_weight);
}

// ---- Registry ---------------------------------------------------------------------------------

std::vector<std::string> KnownMetricNames() {
  return {"accuracy", "binary_accuracy", "categorical_accuracy", "mean",
          "sparse_categorical_accuracy"};
}

absl::StatusOr<std::unique_ptr<Metric>> MetricFromName(absl::string_view name) {
  if (name == "accuracy") return std::make_unique<Accuracy>();
  if (name == "binary_accuracy") return std::make_unique<BinaryAccuracy>();
  if (name == "categorical_accuracy") return std::make_unique<CategoricalAccuracy>();
  if (name == "sparse_categorical_accuracy") return std::make_unique<SparseCategoricalAccuracy>();
  if (name == "mean") return std::make_unique<Mean>();
  return absl::InvalidArgumentError(absl::StrCat(
      "Unknown metric \"", name, "\"; known metrics: ", absl::StrJoin(KnownMetricNames(), ", ")));
}

}  // namespace concord::models
