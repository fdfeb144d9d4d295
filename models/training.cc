// Model::Compile, Fit, TrainOnBatch, Evaluate and Predict (Note [Training loop] in training.h).
#include "models/training.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autodiff/dispatch.h"
#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/elementwise.h"
#include "engine/movement.h"
#include "engine/random.h"
#include "engine/status.h"
#include "models/losses/metrics.h"
#include "models/model.h"

namespace concord::models {

namespace internal {

struct TrainingState {
  std::unique_ptr<Optimizer> optimizer;
  Loss loss = Loss::MeanSquaredError();
  std::vector<std::unique_ptr<Metric>> metrics;
  // The traced step (Note [Unknown batch in traced steps] in training.h), made on first use:
  // traced once with the batch unknown (the first batch's specs with axis 0 unknown) ...
  std::unique_ptr<autodiff::Function> traced_step;
  std::vector<autodiff::TensorSpec> traced_step_signature;
  // ... or, when that trace fails because the step needs the batch on the host (then
  // `per_shape_only`), or for batches that do not fit that signature, traced once per batch
  // shape.
  std::unique_ptr<autodiff::Function> per_shape_step;
  bool per_shape_only = false;
  // A step under StepMode::kAuto could not be traced: later kAuto steps run eagerly (Note
  // [Traced steps by default] in training.h).
  bool eager_steps = false;
};

}  // namespace internal

namespace {

using autodiff::Value;
using engine::Tensor;

// SampleCount checks that every tensor is defined and has the same size along axis 0.
absl::StatusOr<int64_t> SampleCount(absl::string_view what, absl::Span<const Tensor> x,
                                    absl::Span<const Tensor> y) {
  if (x.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no input tensors"));
  int64_t n = -1;
  for (size_t i = 0; i < x.size() + y.size(); ++i) {
    const Tensor& t = i < x.size() ? x[i] : y[i - x.size()];
    std::string name =
        i < x.size() ? absl::StrCat("x[", i, "]") : absl::StrCat("y[", i - x.size(), "]");
    if (!t.defined() || t.shape().rank() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", name, " must be a tensor with a batch axis"));
    }
    if (n < 0) n = t.shape()[0];
    if (t.shape()[0] != n) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", name, " has ", t.shape()[0],
                                                     " samples (", t.ShapeString(), "), x[0] has ",
                                                     n));
    }
  }
  return n;
}

// Take gathers the samples `indices` (rows along axis 0) of each tensor.
absl::StatusOr<std::vector<Tensor>> Take(absl::Span<const Tensor> tensors,
                                         absl::Span<const int64_t> indices) {
  CONCORD_ASSIGN_OR_RETURN(Tensor index, Tensor::FromVector<int64_t>(
                                             engine::Shape({static_cast<int64_t>(indices.size())}),
                                             std::vector<int64_t>(indices.begin(), indices.end())));
  std::vector<Tensor> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) {
    CONCORD_ASSIGN_OR_RETURN(Tensor rows, engine::Gather(t, index, 0));
    out.push_back(std::move(rows));
  }
  return out;
}

std::vector<Value> Constants(absl::Span<const Tensor> tensors) {
  std::vector<Value> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(Value::Constant(t));
  return out;
}

absl::StatusOr<double> ScalarOf(const Value& v) {
  CONCORD_ASSIGN_OR_RETURN(Tensor t, v.ToTensor());
  CONCORD_ASSIGN_OR_RETURN(Tensor d, engine::Cast(t, engine::DType::kFloat64));
  return d.item<double>();
}

std::string FormatLogs(const Logs& logs) {
  std::string out;
  for (const auto& [key, value] : logs) {
    if (key == "samples_per_second") continue;
    absl::StrAppend(&out, " - ", key, " ", absl::StrFormat("%.4f", value));
  }
  return out;
}

}  // namespace

std::vector<int64_t> ShuffledOrder(uint64_t seed, int64_t epoch, int64_t num_samples) {
  std::vector<int64_t> order(num_samples);
  for (int64_t i = 0; i < num_samples; ++i) order[i] = i;
  const uint64_t key = engine::StableHash64(absl::StrCat("fit/shuffle/", epoch));
  for (int64_t i = num_samples - 1; i > 0; --i) {
    const std::array<uint32_t, 4> words = engine::PhiloxBlock(seed, key, static_cast<uint64_t>(i));
    const uint64_t r = (uint64_t{words[0]} << 32) | words[1];
    std::swap(order[i], order[r % static_cast<uint64_t>(i + 1)]);
  }
  return order;
}

std::string History::ToCsv() const {
  std::set<std::string> keys;
  for (const Logs& logs : epochs) {
    for (const auto& [key, value] : logs) keys.insert(key);
  }
  std::string out = "epoch";
  for (const std::string& key : keys) absl::StrAppend(&out, ",", key);
  out += "\n";
  for (size_t e = 0; e < epochs.size(); ++e) {
    absl::StrAppend(&out, e);
    for (const std::string& key : keys) {
      auto it = epochs[e].find(key);
      out += ",";
      if (it != epochs[e].end()) absl::StrAppend(&out, absl::StrFormat("%.9g", it->second));
    }
    out += "\n";
  }
  return out;
}

absl::Status History::WriteCsv(const std::string& path) const {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file << ToCsv();
    file.flush();
    if (!file) {
      std::remove(tmp.c_str());
      return absl::InternalError(absl::StrCat("History::WriteCsv: cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("History::WriteCsv: cannot rename to ", path));
  }
  return absl::OkStatus();
}

// --- Model's training methods ------------------------------------------------------------------

// Defined here, where TrainingState is complete.
Model::Model(std::string name) : Layer(std::move(name)) {}
Model::~Model() = default;

absl::Status Model::Compile(std::unique_ptr<Optimizer> optimizer, Loss loss,
                            const std::vector<std::string>& metrics) {
  if (optimizer == nullptr) return Error("Compile: the optimizer is null");
  auto state = std::make_unique<internal::TrainingState>();
  for (const std::string& name : metrics) {
    absl::StatusOr<std::unique_ptr<Metric>> metric = MetricFromName(name);
    if (!metric.ok()) return Error(absl::StrCat("Compile: ", metric.status().message()));
    state->metrics.push_back(*std::move(metric));
  }
  state->optimizer = std::move(optimizer);
  state->loss = std::move(loss);
  training_ = std::move(state);
  return absl::OkStatus();
}

bool Model::compiled() const { return training_ != nullptr; }

Optimizer* Model::optimizer() const { return training_ ? training_->optimizer.get() : nullptr; }

int Model::traced_step_traces() const {
  if (!training_) return 0;
  int traces = 0;
  if (training_->traced_step) traces += training_->traced_step->trace_count();
  if (training_->per_shape_step) traces += training_->per_shape_step->trace_count();
  return traces;
}

void Model::set_on_warning(std::function<void(const std::string&)> on_warning) {
  on_warning_ = std::move(on_warning);
}

void Model::Warn(const std::string& line) const {
  if (on_warning_) {
    on_warning_(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());  // autodiff::Function's default
  }
}

absl::StatusOr<Logs> Model::TrainOnBatch(absl::Span<const Tensor> x, absl::Span<const Tensor> y,
                                         StepMode mode) {
  if (!compiled()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(), ": call Compile before training"));
  }
  CONCORD_ASSIGN_OR_RETURN(int64_t n, SampleCount("TrainOnBatch", x, y));
  Value loss;
  Value first_output;
  const auto eager_step = [&]() -> absl::Status {
    CONCORD_ASSIGN_OR_RETURN(std::vector<Value> out, StepOnValues(Constants(x), Constants(y)));
    loss = out[0];
    first_output = out[1];
    return absl::OkStatus();
  };
  if (mode == StepMode::kEager || (mode == StepMode::kAuto && training_->eager_steps)) {
    CONCORD_RETURN_IF_ERROR(eager_step());
  } else {
    // Note [Traced steps by default] (training.h).
    bool untraceable = false;
    const absl::Status traced = TracedStep(x, y, &loss, &first_output, &untraceable);
    if (!traced.ok()) {
      if (mode != StepMode::kAuto || !untraceable) return traced;
      CONCORD_RETURN_IF_ERROR(eager_step());
      training_->eager_steps = true;
      Warn(absl::StrCat("warning: ", Describe(),
                        ": the training step cannot be traced, so it runs eagerly from now on "
                        "(the same results, more time and memory; StepMode::kEager says so "
                        "without this warning): ",
                        traced.message()));
    }
  }
  CONCORD_ASSIGN_OR_RETURN(double loss_value, ScalarOf(loss));
  Logs logs{{"loss", loss_value}};
  for (const auto& metric : training_->metrics) {
    CONCORD_RETURN_IF_ERROR(metric->Update(Value::Constant(y[0]), first_output));
    logs[metric->name()] = metric->Result();
  }
  (void)n;
  return logs;
}

absl::StatusOr<std::vector<Value>> Model::StepOnValues(absl::Span<const Value> x,
                                                       absl::Span<const Value> y) {
  autodiff::GradientTape tape;
  std::vector<Value> outputs = CallMulti(x, /*training=*/true);
  if (outputs.size() != y.size()) {
    return Error(absl::StrCat("the model gives ", outputs.size(), " output(s) but ", y.size(),
                              " target tensor(s) were given"));
  }
  Value total;
  for (size_t i = 0; i < outputs.size(); ++i) {
    CONCORD_RETURN_IF_ERROR(outputs[i].status());
    Value term = training_->loss(y[i], outputs[i]);
    total = total.defined() ? total + term : term;
  }
  CONCORD_RETURN_IF_ERROR(total.status());
  // Trainable variables made during the call are watched by the tape already; their values
  // are what the ops read (Note [Variable identity]).
  std::vector<Variable> variables = trainable_variables();
  std::vector<Value> sources;
  sources.reserve(variables.size());
  for (const Variable& v : variables) sources.push_back(v.value());
  CONCORD_ASSIGN_OR_RETURN(std::vector<Value> gradients, tape.Gradient(total, sources));
  CONCORD_RETURN_IF_ERROR(training_->optimizer->ApplyGradients(gradients, variables));
  return std::vector<Value>{total, outputs[0]};
}

absl::Status Model::TracedStep(absl::Span<const Tensor> x, absl::Span<const Tensor> y,
                               Value* loss, Value* first_output, bool* untraceable) {
  if (!built()) {
    // Build eagerly first: variables are created with their initial values, not inside a trace.
    std::vector<TensorSpec> specs;
    for (const Tensor& t : x) specs.push_back(TensorSpec(t.shape().ToVector(), t.dtype()));
    CONCORD_RETURN_IF_ERROR(Build(specs));
  }
  internal::TrainingState& state = *training_;
  const auto step_fn = [this](const autodiff::FunctionArgs& args) {
    const size_t inputs = static_cast<size_t>(std::get<int64_t>(args.plain[0]));
    absl::StatusOr<std::vector<Value>> out =
        StepOnValues(args.inputs.subspan(0, inputs), args.inputs.subspan(inputs));
    if (!out.ok()) return std::vector<Value>{Value::Error(out.status())};
    return *std::move(out);
  };
  // Warnings of the step functions (retracing) go where the model's go.
  const auto warn = [this](const std::string& line) { Warn(line); };
  std::vector<Value> values = Constants(x);
  const std::vector<Value> targets = Constants(y);
  values.insert(values.end(), targets.begin(), targets.end());
  const std::vector<autodiff::PlainArg> plain = {static_cast<int64_t>(x.size())};
  Optimizer& optimizer = *state.optimizer;
  CONCORD_RETURN_IF_ERROR(optimizer.PrepareTracedStep());

  // Note [Unknown batch in traced steps] (training.h): one trace with the batch unknown, else one
  // per batch shape. GetGraph traces or sizes without running anything, so nothing has been
  // assigned when the per-shape function takes over.
  autodiff::Function* step = nullptr;
  absl::Status polymorphic_failure;
  autodiff::FunctionSignature signature;
  for (const Value& v : values) signature.inputs.push_back(v.spec());
  signature.plain = plain;
  signature.training = true;
  if (!state.per_shape_only) {
    std::vector<autodiff::TensorSpec> batchless;
    bool has_samples = true;
    for (const Value& v : values) {
      std::vector<int64_t> dims = v.shape().ToVector();
      has_samples = has_samples && dims[0] >= 1;
      dims[0] = -1;
      CONCORD_ASSIGN_OR_RETURN(engine::Shape shape, engine::Shape::Partial(dims));
      batchless.push_back({v.dtype(), std::move(shape)});
    }
    if (state.traced_step == nullptr) {
      state.traced_step_signature = batchless;
      state.traced_step = std::make_unique<autodiff::Function>(
          step_fn, autodiff::FunctionOptions{.name = absl::StrCat(name(), "/train_step"),
                                             .input_signature = batchless,
                                             .on_warning = warn});
    }
    if (has_samples && batchless == state.traced_step_signature) {
      absl::StatusOr<const autodiff::Graph*> graph = state.traced_step->GetGraph(signature);
      if (graph.ok()) {
        step = state.traced_step.get();
      } else {
        polymorphic_failure = graph.status();
      }
    }
  }
  if (step == nullptr) {
    if (state.per_shape_step == nullptr) {
      state.per_shape_step = std::make_unique<autodiff::Function>(
          step_fn, autodiff::FunctionOptions{.name = absl::StrCat(name(), "/train_step"),
                                             .on_warning = warn});
    }
    step = state.per_shape_step.get();
    // Trace before running, so that a step that cannot be traced has run nothing.
    if (absl::StatusOr<const autodiff::Graph*> graph = step->GetGraph(signature); !graph.ok()) {
      *untraceable = true;
      return graph.status();
    }
  }
  // The graph advances step() itself (Note [Call context]); the optimizer counts here.
  CONCORD_ASSIGN_OR_RETURN(std::vector<Value> out, step->Call(values, plain, /*training=*/true));
  if (!polymorphic_failure.ok()) {
    state.per_shape_only = true;
    Warn(absl::StrCat("warning: ", Describe(),
                      ": the traced training step cannot run one trace for every batch size, so "
                      "it is traced once per batch shape instead (",
                      polymorphic_failure.message(), ")"));
  }
  optimizer.FinishTracedStep();
  *loss = out[0];
  *first_output = out[1];
  return absl::OkStatus();
}

absl::StatusOr<History> Model::Fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  return Fit(absl::MakeConstSpan(&x, 1), absl::MakeConstSpan(&y, 1), options);
}

absl::StatusOr<History> Model::Fit(absl::Span<const Tensor> x, absl::Span<const Tensor> y,
                                   const FitOptions& options) {
  if (!compiled()) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(), ": call Compile before Fit"));
  }
  CONCORD_ASSIGN_OR_RETURN(const int64_t n, SampleCount("Fit", x, y));
  if (options.batch_size <= 0 || options.epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Fit: batch_size must be positive and epochs "
                     "non-negative, got ",
                     options.batch_size, " and ", options.epochs));
  }
  const bool validate = !options.validation_x.empty();
  if (validate) {
    CONCORD_RETURN_IF_ERROR(
        SampleCount("Fit validation data", options.validation_x, options.validation_y).status());
  }
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  const bool terminal = options.out == nullptr && isatty(STDOUT_FILENO);
  const bool bar =
      options.verbose == Verbosity::kBar || (options.verbose == Verbosity::kAuto && terminal);
  const bool lines =
      options.verbose == Verbosity::kEpochs || (options.verbose == Verbosity::kAuto && !terminal);
  const int64_t steps = (n + options.batch_size - 1) / options.batch_size;

  History history;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    for (Callback* callback : options.callbacks) callback->OnEpochBegin(epoch);
    for (const auto& metric : training_->metrics) metric->Reset();
    std::vector<int64_t> order;
    if (options.shuffle) {
      order = ShuffledOrder(options.shuffle_seed, epoch, n);
    } else {
      order.resize(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
    }
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    Logs logs;
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t begin = step * options.batch_size;
      const int64_t end = std::min(n, begin + options.batch_size);
      absl::Span<const int64_t> rows(order.data() + begin, end - begin);
      CONCORD_ASSIGN_OR_RETURN(std::vector<Tensor> xb, Take(x, rows));
      CONCORD_ASSIGN_OR_RETURN(std::vector<Tensor> yb, Take(y, rows));
      absl::StatusOr<Logs> step_logs = TrainOnBatch(xb, yb, options.step_mode);
      if (!step_logs.ok()) {
        return absl::Status(step_logs.status().code(),
                            absl::StrCat("Fit: epoch ", epoch, ", step ", step, ": ",
                                         step_logs.status().message()));
      }
      loss_sum += (*step_logs)["loss"] * static_cast<double>(end - begin);
      logs = *std::move(step_logs);
      logs["loss"] = loss_sum / static_cast<double>(end);
      for (Callback* callback : options.callbacks) callback->OnBatchEnd(step, logs);
      if (bar) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const int width = 30;
        const int filled = static_cast<int>(width * (step + 1) / steps);
        out << "\r"
            << "epoch " << epoch + 1 << "/" << options.epochs << " [" << std::string(filled, '=')
            << std::string(width - filled, '.') << "] " << step + 1 << "/" << steps
            << FormatLogs(logs) << " - "
            << absl::StrFormat("%.0f", static_cast<double>(end) / std::max(seconds, 1e-9))
            << " samples/s" << std::flush;
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    logs["samples_per_second"] = static_cast<double>(n) / std::max(seconds, 1e-9);
    if (validate) {
      CONCORD_ASSIGN_OR_RETURN(
          Logs val, Evaluate(options.validation_x, options.validation_y, options.batch_size));
      for (const auto& [key, value] : val) logs[absl::StrCat("val_", key)] = value;
    }
    history.epochs.push_back(logs);
    if (bar) out << "\r";
    if (bar || lines) {
      out << "epoch " << epoch + 1 << "/" << options.epochs << " - " << steps << " steps"
          << FormatLogs(logs) << " - "
          << absl::StrFormat("%.0f samples/s - %.2f s", logs["samples_per_second"], seconds)
          << "\n";
    }
    bool stop = false;
    for (Callback* callback : options.callbacks) {
      callback->OnEpochEnd(epoch, logs);
      stop = stop || callback->stop_training;
    }
    if (stop) break;
  }
  return history;
}

absl::StatusOr<Logs> Model::Evaluate(absl::Span<const Tensor> x, absl::Span<const Tensor> y,
                                     int64_t batch_size) {
  if (!compiled()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(), ": call Compile before Evaluate"));
  }
  CONCORD_ASSIGN_OR_RETURN(const int64_t n, SampleCount("Evaluate", x, y));
  if (batch_size <= 0) return absl::InvalidArgumentError("Evaluate: batch_size must be positive");
  for (const auto& metric : training_->metrics) metric->Reset();
  autodiff::NoGradScope no_grad;
  double loss_sum = 0;
  std::vector<int64_t> rows;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    rows.clear();
    for (int64_t i = begin; i < end; ++i) rows.push_back(i);
    CONCORD_ASSIGN_OR_RETURN(std::vector<Tensor> xb, Take(x, rows));
    CONCORD_ASSIGN_OR_RETURN(std::vector<Tensor> yb, Take(y, rows));
    std::vector<Value> outputs = CallMulti(Constants(xb), /*training=*/false);
    if (outputs.size() != yb.size()) {
      return Error(absl::StrCat("the model gives ", outputs.size(), " output(s) but ", yb.size(),
                                " target tensor(s) were given"));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      CONCORD_RETURN_IF_ERROR(outputs[i].status());
      CONCORD_ASSIGN_OR_RETURN(double loss,
                               ScalarOf(training_->loss(Value::Constant(yb[i]), outputs[i])));
      loss_sum += loss * static_cast<double>(end - begin);
    }
    for (const auto& metric : training_->metrics) {
      CONCORD_RETURN_IF_ERROR(metric->Update(Value::Constant(yb[0]), outputs[0]));
    }
  }
  Logs logs{{"loss", loss_sum / static_cast<double>(n)}};
  for (const auto& metric : training_->metrics) logs[metric->name()] = metric->Result();
  return logs;
}

absl::StatusOr<std::vector<Tensor>> Model::Predict(absl::Span<const Tensor> x, int64_t batch_size) {
  CONCORD_ASSIGN_OR_RETURN(const int64_t n, SampleCount("Predict", x, {}));
  if (batch_size <= 0) return absl::InvalidArgumentError("Predict: batch_size must be positive");
  autodiff::NoGradScope no_grad;
  std::vector<std::vector<Tensor>> parts;
  std::vector<int64_t> rows;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    rows.clear();
    for (int64_t i = begin; i < end; ++i) rows.push_back(i);
    CONCORD_ASSIGN_OR_RETURN(std::vector<Tensor> xb, Take(x, rows));
    std::vector<Value> outputs = CallMulti(Constants(xb), /*training=*/false);
    if (parts.empty()) parts.resize(outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      CONCORD_ASSIGN_OR_RETURN(Tensor t, outputs[i].ToTensor());
      parts[i].push_back(std::move(t));
    }
  }
  std::vector<Tensor> result;
  for (const std::vector<Tensor>& pieces : parts) {
    CONCORD_ASSIGN_OR_RETURN(Tensor joined, engine::Concat(pieces, 0));
    result.push_back(std::move(joined));
  }
  return result;
}

}  // namespace concord::models
