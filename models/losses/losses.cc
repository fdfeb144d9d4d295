#include "models/losses/losses.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "models/config_reader.h"
#include "models/losses/sample_weight.h"
#include "models/unknown_dims.h"

namespace concord::models {
namespace {

using autodiff::Value;
using engine::DType;
using engine::Shape;

Value Invalid(absl::string_view loss, absl::string_view message) {
  return Value::Error(absl::InvalidArgumentError(absl::StrCat(loss, ": ", message)));
}

// InputStatus is InvalidArgument for an undefined input, else the input's own status (so a
// carried error passes along untouched).
absl::Status InputStatus(absl::string_view loss, absl::string_view what, const Value& v) {
  if (!v.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(loss, ": ", what, " is undefined"));
  }
  return v.status();
}

// CheckPrediction: y_pred is float32 or float64 of rank >= 1.
absl::Status CheckPrediction(absl::string_view loss, const Value& y_pred) {
  if (!engine::IsFloating(y_pred.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        loss, ": y_pred must be float32 or float64, got ", y_pred.spec().ToString()));
  }
  if (y_pred.shape().rank() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(loss, ": y_pred must have rank >= 1 (the loss reduces its last axis), got ",
                     y_pred.spec().ToString()));
  }
  return absl::OkStatus();
}

absl::Status ShapeMismatch(absl::string_view loss, const Value& y_true, const Value& y_pred,
                           absl::string_view expectation) {
  return absl::InvalidArgumentError(absl::StrCat(loss, ": y_true ", y_true.spec().ToString(),
                                                 " and y_pred ", y_pred.spec().ToString(), " ",
                                                 expectation));
}

// Pair is (y_true, y_pred) made ready for an elementwise loss term.
struct Pair {
  Value y_true;
  Value y_pred;
};

// PrepareDense checks both inputs and returns them with y_true cast to y_pred's dtype and a
// trailing axis of size 1 added to the lower-rank side when only that differs (Note [Loss
// semantics]). With `exact_shapes` (the categorical cross-entropy) shapes must agree as given.
absl::StatusOr<Pair> PrepareDense(absl::string_view loss, const Value& y_true, const Value& y_pred,
                                  bool exact_shapes) {
  if (absl::Status s = InputStatus(loss, "y_true", y_true); !s.ok()) return s;
  if (absl::Status s = InputStatus(loss, "y_pred", y_pred); !s.ok()) return s;
  if (absl::Status s = CheckPrediction(loss, y_pred); !s.ok()) return s;
  Pair pair{y_true, y_pred};
  // Shapes compare unknown sizes (the batch of a shape-polymorphic trace) unread; only the
  // trailing size is read, which is known unless the batch is the last axis.
  const Shape& t = y_true.shape();
  const Shape& p = y_pred.shape();
  if (t != p && !exact_shapes) {
    if (t.rank() + 1 == p.rank() && p.dim(p.rank() - 1) == 1) {
      pair.y_true = autodiff::ExpandDims(y_true, -1);
    } else if (p.rank() + 1 == t.rank() && t.dim(t.rank() - 1) == 1) {
      pair.y_pred = autodiff::ExpandDims(y_pred, -1);
    }
  }
  if (pair.y_true.shape() != pair.y_pred.shape()) {
    return ShapeMismatch(loss, y_true, y_pred,
                         exact_shapes ? "must have the same shape"
                                      : "must have the same shape (up to a trailing axis of 1)");
  }
  if (pair.y_true.dtype() != pair.y_pred.dtype()) {
    pair.y_true = autodiff::Cast(pair.y_true, pair.y_pred.dtype());
  }
  return pair;
}

// Reduce weights the per-sample losses and applies the reduction (Note [Loss semantics]).
Value Reduce(absl::string_view loss, const Value& per_sample, const LossOptions& options) {
  if (!per_sample.ok()) return per_sample;
  Value weighted = per_sample;
  const Value& weight = options.sample_weight;
  if (weight.defined()) {
    if (!weight.ok()) return weight;
    absl::StatusOr<Shape> aligned = internal::AlignSampleWeightShape(
        loss, "the per-sample loss", weight.shape(), per_sample.shape());
    if (!aligned.ok()) return Value::Error(aligned.status());
    Value w = weight;
    if (w.dtype() != per_sample.dtype()) w = autodiff::Cast(w, per_sample.dtype());
    // An unknown batch stays -1 (Note [Unknown sizes in models] in models/unknown_dims.h).
    if (w.shape() != *aligned) w = autodiff::Reshape(w, aligned->ReshapeDims());
    weighted = per_sample * w;
  }
  switch (options.reduction) {
    case Reduction::kNone:
      return weighted;
    case Reduction::kSum:
      return autodiff::SumAll(weighted);
    case Reduction::kSumOverBatchSize: {
      const Shape& shape = per_sample.shape();
      Value sum = autodiff::SumAll(weighted);
      if (!shape.fully_known()) {
        // The count depends on the unknown batch of a shape-polymorphic trace: ElementCount
        // computes it when the graph runs, with the bits of the constant below. An unknown size
        // is at least 1, so the count is 0 exactly when a known size is.
        if (internal::HasZeroKnownSize(shape)) return sum;
        std::vector<int64_t> axes(static_cast<size_t>(shape.rank()));
        for (int d = 0; d < shape.rank(); ++d) axes[static_cast<size_t>(d)] = d;
        return sum / autodiff::ElementCount(per_sample, std::move(axes), per_sample.dtype());
      }
      const int64_t count = shape.num_elements();
      return count == 0 ? sum : sum / static_cast<double>(count);
    }
  }
  return Invalid(loss, absl::StrCat("unknown reduction ", static_cast<int>(options.reduction)));
}

Value MeanLastAxis(const Value& x) { return autodiff::Mean(x, {-1}); }

// Clip is clip(x, lo, hi), passing the gradient inside [lo, hi] (ties go to x).
Value Clip(const Value& x, double lo, double hi) {
  return autodiff::Minimum(autodiff::Maximum(x, autodiff::ScalarLike(x, lo)),
                           autodiff::ScalarLike(x, hi));
}

// ClippedClassProbabilities is clip(p / sum_c p, eps, 1 - eps) over the last axis (Keras).
Value ClippedClassProbabilities(const Value& p) {
  return Clip(p / autodiff::Sum(p, {-1}, /*keepdims=*/true), kLossEpsilon, 1.0 - kLossEpsilon);
}

// ClassLogProbabilities is log q of CategoricalCrossentropy.
Value ClassLogProbabilities(const Value& y_pred, bool from_logits) {
  return from_logits ? autodiff::LogSoftmax(y_pred, -1)
                     : autodiff::Log(ClippedClassProbabilities(y_pred));
}

}  // namespace

absl::string_view ReductionName(Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone:
      return "none";
    case Reduction::kSum:
      return "sum";
    case Reduction::kSumOverBatchSize:
      return "sum_over_batch_size";
  }
  return "unknown";
}

absl::StatusOr<Reduction> ReductionFromName(absl::string_view name) {
  if (name == "none") return Reduction::kNone;
  if (name == "sum") return Reduction::kSum;
  if (name == "sum_over_batch_size" || name == "auto") return Reduction::kSumOverBatchSize;
  return absl::InvalidArgumentError(absl::StrCat(
      "Unknown reduction \"", name, "\"; expected \"none\", \"sum\" or \"sum_over_batch_size\""));
}

Value MeanSquaredError(const Value& y_true, const Value& y_pred, const LossOptions& options) {
  constexpr absl::string_view kLoss = "MeanSquaredError";
  absl::StatusOr<Pair> in = PrepareDense(kLoss, y_true, y_pred, /*exact_shapes=*/false);
  if (!in.ok()) return Value::Error(in.status());
  return Reduce(kLoss, MeanLastAxis(autodiff::Square(in->y_pred - in->y_true)), options);
}

Value MeanAbsoluteError(const Value& y_true, const Value& y_pred, const LossOptions& options) {
  constexpr absl::string_view kLoss = "MeanAbsoluteError";
  absl::StatusOr<Pair> in = PrepareDense(kLoss, y_true, y_pred, /*exact_shapes=*/false);
  if (!in.ok()) return Value::Error(in.status());
  return Reduce(kLoss, MeanLastAxis(autodiff::Abs(in->y_pred - in->y_true)), options);
}

Value Huber(const Value& y_true, const Value& y_pred, double delta, const LossOptions& options) {
  constexpr absl::string_view kLoss = "Huber";
  if (!(delta > 0) || !std::isfinite(delta)) {
    return Invalid(kLoss, absl::StrCat("delta must be positive and finite, got ", delta));
  }
  absl::StatusOr<Pair> in = PrepareDense(kLoss, y_true, y_pred, /*exact_shapes=*/false);
  if (!in.ok()) return Value::Error(in.status());
  const Value error = in->y_pred - in->y_true;
  const Value abs_error = autodiff::Abs(error);
  const Value d = autodiff::ScalarLike(error, delta);
  const Value quadratic = autodiff::Square(error) * 0.5;
  const Value linear = d * abs_error - autodiff::ScalarLike(error, 0.5 * delta * delta);
  return Reduce(kLoss,
                MeanLastAxis(autodiff::Where(autodiff::LessEqual(abs_error, d), quadratic, linear)),
                options);
}

Value BinaryCrossentropy(const Value& y_true, const Value& y_pred, bool from_logits,
                         const LossOptions& options) {
  constexpr absl::string_view kLoss = "BinaryCrossentropy";
  absl::StatusOr<Pair> in = PrepareDense(kLoss, y_true, y_pred, /*exact_shapes=*/false);
  if (!in.ok()) return Value::Error(in.status());
  const Value& z = in->y_true;
  Value elementwise;
  if (from_logits) {
    // tf.nn.sigmoid_cross_entropy_with_logits: selecting with x >= 0 (rather than Relu and Abs,
    // whose gradients are 0 at 0) gives the exact gradient sigmoid(x) - z at x = 0 too.
    const Value& x = in->y_pred;
    const Value zero = autodiff::ScalarLike(x, 0.0);
    const Value non_negative = autodiff::GreaterEqual(x, zero);
    const Value relu_x = autodiff::Where(non_negative, x, zero);
    const Value neg_abs_x = autodiff::Where(non_negative, -x, x);
    elementwise = relu_x - x * z + autodiff::Softplus(neg_abs_x);  // softplus(-|x|) = log1p(...)
  } else {
    const Value p = Clip(in->y_pred, kLossEpsilon, 1.0 - kLossEpsilon);
    elementwise = -(z * autodiff::Log(p) + (1.0 - z) * autodiff::Log(1.0 - p));
  }
  return Reduce(kLoss, MeanLastAxis(elementwise), options);
}

Value CategoricalCrossentropy(const Value& y_true, const Value& y_pred, bool from_logits,
                              const LossOptions& options) {
  constexpr absl::string_view kLoss = "CategoricalCrossentropy";
  absl::StatusOr<Pair> in = PrepareDense(kLoss, y_true, y_pred, /*exact_shapes=*/true);
  if (!in.ok()) return Value::Error(in.status());
  const Value log_q = ClassLogProbabilities(in->y_pred, from_logits);
  return Reduce(kLoss, -autodiff::Sum(in->y_true * log_q, {-1}), options);
}

Value SparseCategoricalCrossentropy(const Value& y_true, const Value& y_pred, bool from_logits,
                                    const LossOptions& options) {
  constexpr absl::string_view kLoss = "SparseCategoricalCrossentropy";
  if (absl::Status s = InputStatus(kLoss, "y_true", y_true); !s.ok()) return Value::Error(s);
  if (absl::Status s = InputStatus(kLoss, "y_pred", y_pred); !s.ok()) return Value::Error(s);
  if (absl::Status s = CheckPrediction(kLoss, y_pred); !s.ok()) return Value::Error(s);
  const DType label_dtype = y_true.dtype();
  if (label_dtype == DType::kBool) {
    return Value::Error(absl::InvalidArgumentError(absl::StrCat(
        kLoss, ": y_true must hold class indices (int32, int64 or floating), got ",
        y_true.spec().ToString(), " for y_pred ", y_pred.spec().ToString())));
  }
  // Labels: y_pred's shape without the class axis, or with a trailing 1. The shapes are compared
  // as shapes, so an unknown batch (a shape-polymorphic trace) matches itself unread; the class
  // count and a trailing 1 are read (Note [Unknown sizes in models] in models/unknown_dims.h).
  const Shape& p = y_pred.shape();
  const Shape& t = y_true.shape();
  absl::StatusOr<Shape> batch = internal::LeadingAxes(p, p.rank() - 1);
  if (!batch.ok()) return Invalid(kLoss, batch.status().message());
  int label_rank = t.rank();
  if (label_rank == p.rank() && t.dim(label_rank - 1) == 1) --label_rank;
  absl::StatusOr<Shape> label_batch = internal::LeadingAxes(t, label_rank);
  if (!label_batch.ok() || *label_batch != *batch) {
    return Value::Error(ShapeMismatch(
        kLoss, y_true, y_pred,
        absl::StrCat("do not match: labels must have shape ", batch->ToString(),
                     " (y_pred without its class axis), optionally with a trailing 1")));
  }
  Value labels = y_true;
  if (label_dtype != DType::kInt64) labels = autodiff::Cast(labels, DType::kInt64);
  if (labels.shape().rank() != batch->rank()) {
    labels = autodiff::Reshape(labels, batch->ReshapeDims());
  }
  // Gathering from [0, 1, ..., classes - 1] is the identity on valid labels and an error for any
  // other, so a bad label is reported instead of silently selecting nothing (OneHot's rule).
  const int64_t classes = p.dim(p.rank() - 1);
  Value checked = autodiff::Gather(
      Value::Constant(*engine::Tensor::Arange(0, static_cast<double>(classes), 1, DType::kInt64)),
      labels, 0);
  if (!checked.ok()) {
    return Invalid(
        kLoss, absl::StrCat("a label of y_true ", y_true.spec().ToString(), " is outside [0, ",
                            classes, ") for y_pred ", y_pred.spec().ToString(), ": ",
                            checked.status().message()));
  }
  // Selecting log q[label] with Where, not multiplying by a one-hot: 0 * -inf would be NaN.
  const Value log_q = ClassLogProbabilities(y_pred, from_logits);
  const Value selected = autodiff::Where(autodiff::OneHot(checked, classes, DType::kBool), log_q,
                                         autodiff::ScalarLike(log_q, 0.0));
  return Reduce(kLoss, -autodiff::Sum(selected, {-1}), options);
}

// ---- Loss -------------------------------------------------------------------------------------

namespace {

// The registered kinds: which parameters each takes. FromName, FromJson and ToJson read this.
struct LossKind {
  const char* name;
  bool takes_from_logits;
  bool takes_delta;
};

const std::vector<LossKind>& LossKinds() {
  static const auto* kinds = new std::vector<LossKind>{
      {"binary_crossentropy", true, false},
      {"categorical_crossentropy", true, false},
      {"huber", false, true},
      {"mean_absolute_error", false, false},
      {"mean_squared_error", false, false},
      {"sparse_categorical_crossentropy", true, false},
  };
  return *kinds;
}

const LossKind* FindLossKind(absl::string_view name) {
  for (const LossKind& kind : LossKinds()) {
    if (name == kind.name) return &kind;
  }
  return nullptr;
}

}  // namespace

Loss Loss::MeanSquaredError(Reduction reduction) {
  return Loss("mean_squared_error", reduction, false, 1.0);
}
Loss Loss::MeanAbsoluteError(Reduction reduction) {
  return Loss("mean_absolute_error", reduction, false, 1.0);
}
Loss Loss::Huber(double delta, Reduction reduction) {
  return Loss("huber", reduction, false, delta);
}
Loss Loss::BinaryCrossentropy(bool from_logits, Reduction reduction) {
  return Loss("binary_crossentropy", reduction, from_logits, 1.0);
}
Loss Loss::CategoricalCrossentropy(bool from_logits, Reduction reduction) {
  return Loss("categorical_crossentropy", reduction, from_logits, 1.0);
}
Loss Loss::SparseCategoricalCrossentropy(bool from_logits, Reduction reduction) {
  return Loss("sparse_categorical_crossentropy", reduction, from_logits, 1.0);
}

std::vector<std::string> Loss::KnownNames() {
  std::vector<std::string> names;
  for (const LossKind& kind : LossKinds()) names.push_back(kind.name);
  return names;
}

absl::StatusOr<Loss> Loss::FromName(absl::string_view name) {
  if (name == "mse") return MeanSquaredError();
  if (name == "mae") return MeanAbsoluteError();
  if (FindLossKind(name) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Unknown loss \"", name, "\"; known losses: ", absl::StrJoin(KnownNames(), ", ")));
  }
  return Loss(std::string(name), Reduction::kSumOverBatchSize, false, 1.0);
}

nlohmann::json Loss::ToJson() const {
  const LossKind* kind = FindLossKind(name_);
  nlohmann::json config = nlohmann::json::object();
  config["reduction"] = std::string(ReductionName(reduction_));
  if (kind != nullptr && kind->takes_from_logits) config["from_logits"] = from_logits_;
  if (kind != nullptr && kind->takes_delta) config["delta"] = delta_;
  return nlohmann::json{{"name", name_}, {"config", config}};
}

absl::StatusOr<Loss> Loss::FromJson(const nlohmann::json& json) {
  if (json.is_string()) return FromName(json.get<std::string>());
  if (!json.is_object() || !json.contains("name") || !json["name"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Loss JSON must be a name or {\"name\": ..., \"config\": {...}}, got ", json.dump()));
  }
  for (const auto& item : json.items()) {
    if (item.key() != "name" && item.key() != "config") {
      return absl::InvalidArgumentError(
          absl::StrCat("Loss JSON has an unknown field \"", item.key(), "\": ", json.dump()));
    }
  }
  absl::StatusOr<Loss> loss = FromName(json["name"].get<std::string>());
  if (!loss.ok() || !json.contains("config")) return loss;
  const nlohmann::json& config = json["config"];
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Loss JSON \"config\" must be an object, got ", config.dump()));
  }
  const LossKind& kind = *FindLossKind(loss->name_);
  internal::ConfigReader reader(absl::StrCat("Loss ", kind.name), config);
  const std::string reduction = reader.String("reduction", "sum_over_batch_size");
  if (reader.ok()) {
    absl::StatusOr<Reduction> parsed = ReductionFromName(reduction);
    if (parsed.ok()) {
      loss->reduction_ = *parsed;
    } else {
      reader.Fail("reduction", parsed.status().message());
    }
  }
  if (kind.takes_from_logits) loss->from_logits_ = reader.Bool("from_logits", false);
  if (kind.takes_delta) {
    loss->delta_ = reader.Float("delta", 1.0);
    if (reader.ok() && (!(loss->delta_ > 0) || !std::isfinite(loss->delta_))) {
      reader.Fail("delta", absl::StrCat("must be positive and finite, got ", loss->delta_));
    }
  }
  if (absl::Status s = reader.Finish(); !s.ok()) return s;
  return loss;
}

Value Loss::operator()(const Value& y_true, const Value& y_pred, const Value& sample_weight) const {
  const LossOptions options{reduction_, sample_weight};
  if (name_ == "mean_squared_error") return models::MeanSquaredError(y_true, y_pred, options);
  if (name_ == "mean_absolute_error") return models::MeanAbsoluteError(y_true, y_pred, options);
  if (name_ == "huber") return models::Huber(y_true, y_pred, delta_, options);
  if (name_ == "binary_crossentropy") {
    return models::BinaryCrossentropy(y_true, y_pred, from_logits_, options);
  }
  if (name_ == "categorical_crossentropy") {
    return models::CategoricalCrossentropy(y_true, y_pred, from_logits_, options);
  }
  return models::SparseCategoricalCrossentropy(y_true, y_pred, from_logits_, options);
}

}  // namespace concord::models
