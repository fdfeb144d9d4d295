#include "testing/compare_forms.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "engine/status.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using engine::Tensor;
using models::Layer;

// RecordedCall is one nested layer call of a model (the outermost call is not recorded).
struct RecordedCall {
  const Layer* layer = nullptr;
  std::string path;
  std::string class_name;
  int64_t call_index = 0;
  std::vector<Value> inputs;
  std::vector<Value> outputs;
};

class Recorder final : public models::LayerCallObserver {
 public:
  void OnLayerCall(const models::LayerCall& call) override {
    if (call.depth == 0) return;
    RecordedCall r;
    r.layer = call.layer;
    r.path = call.layer->path();
    r.class_name = call.layer->class_name();
    r.call_index = call.call_index;
    r.inputs.assign(call.inputs.begin(), call.inputs.end());
    r.outputs.assign(call.outputs.begin(), call.outputs.end());
    calls.push_back(std::move(r));
  }
  std::vector<RecordedCall> calls;
};

// Run is one model's run: its calls, outputs and (when asked) gradients by value id.
struct Run {
  std::vector<Value> inputs;
  std::vector<Value> outputs;
  std::vector<RecordedCall> calls;
  absl::flat_hash_map<int64_t, Value> gradients;  // value id -> d loss / d value
};

bool Floating(const Value& v) { return engine::IsFloating(v.dtype()); }

absl::StatusOr<Run> RunModel(Layer& model, absl::Span<const Tensor> inputs,
                             const CompareFormsOptions& options, const char* name) {
  auto fail = [&](const absl::Status& s) {
    return absl::InvalidArgumentError(
        absl::StrCat("CompareForms: model ", name, " ('", model.path(), "'): ", s.message()));
  };
  Run run;
  for (const Tensor& t : inputs) run.inputs.push_back(Value::Constant(t));
  autodiff::GradientTape tape;
  if (options.compare_gradients) {
    for (const Value& x : run.inputs) {
      if (Floating(x)) tape.Watch(x);
    }
  }
  Recorder recorder;
  {
    models::ScopedLayerCallObserver scope(&recorder);
    run.outputs = model.CallMulti(run.inputs, options.training);
  }
  for (const Value& y : run.outputs) {
    if (!y.ok()) return fail(y.status());
  }
  run.calls = std::move(recorder.calls);
  if (!options.compare_gradients) return run;

  Value loss;
  for (const Value& y : run.outputs) {
    if (!Floating(y)) continue;
    Value term = autodiff::SumAll(autodiff::Square(y));
    loss = loss.defined() ? autodiff::Add(loss, term) : term;
  }
  if (!loss.defined()) return run;  // no floating output: nothing to differentiate
  if (!loss.ok()) return fail(loss.status());
  std::vector<Value> sources;
  absl::flat_hash_set<int64_t> seen;
  auto add_source = [&](const Value& v) {
    if (v.ok() && Floating(v) && seen.insert(v.id()).second) sources.push_back(v);
  };
  for (const RecordedCall& c : run.calls) {
    for (const Value& y : c.outputs) add_source(y);
  }
  for (const models::Variable& v : model.trainable_variables()) add_source(v.value());
  for (const Value& x : run.inputs) add_source(x);
  absl::StatusOr<std::vector<Value>> grads =
      tape.Gradient(loss, sources, Value(), autodiff::UnconnectedGradients::kZero);
  if (!grads.ok()) return fail(grads.status());
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!(*grads)[i].ok()) return fail((*grads)[i].status());
    run.gradients[sources[i].id()] = (*grads)[i];
  }
  return run;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string SpecString(const Value& v) { return v.spec().ToString(); }

int64_t UlpDistance(const Tensor& a, const Tensor& b, int64_t i) {
  auto ordered = [](int64_t bits, int64_t sign_bit) {
    return (bits & sign_bit) != 0 ? sign_bit - bits : bits;  // monotone in the float's value
  };
  if (a.dtype() == engine::DType::kFloat32) {
    int32_t x, y;
    std::memcpy(&x, static_cast<const char*>(a.raw_data()) + 4 * i, 4);
    std::memcpy(&y, static_cast<const char*>(b.raw_data()) + 4 * i, 4);
    const int64_t sign = int64_t{1} << 31;
    const int64_t ox = ordered(static_cast<uint32_t>(x), sign);
    const int64_t oy = ordered(static_cast<uint32_t>(y), sign);
    return ox > oy ? ox - oy : oy - ox;
  }
  if (a.dtype() == engine::DType::kFloat64) {
    uint64_t x, y;
    std::memcpy(&x, static_cast<const char*>(a.raw_data()) + 8 * i, 8);
    std::memcpy(&y, static_cast<const char*>(b.raw_data()) + 8 * i, 8);
    // Map to a signed order: negative floats count down from zero.
    auto key = [](uint64_t u) -> long double {
      const uint64_t magnitude = u & ~(uint64_t{1} << 63);
      return (u >> 63) != 0 ? -static_cast<long double>(magnitude)
                            : static_cast<long double>(magnitude);
    };
    const long double d = key(x) - key(y);
    const long double m = d < 0 ? -d : d;
    return m > static_cast<long double>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(m);
  }
  return 0;
}

// Compare fills `diff` and returns true when the tensors differ (same shape and dtype assumed).
bool Compare(const Tensor& a, const Tensor& b, double tolerance, Difference* diff) {
  const size_t elem = engine::DTypeSize(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.raw_data());
  const auto* pb = static_cast<const unsigned char*>(b.raw_data());
  int64_t count = 0, worst = -1;
  double worst_diff = -1.0;
  bool all_numerically_equal = true;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    const double x = a.ElementAsDouble(i), y = b.ElementAsDouble(i);
    const bool both_nan = std::isnan(x) && std::isnan(y);
    double d;
    if (both_nan || x == y) {
      d = 0.0;
    } else if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
      d = std::numeric_limits<double>::infinity();
    } else {
      d = std::abs(x - y);
    }
    const bool differs =
        tolerance == 0.0 ? std::memcmp(pa + i * elem, pb + i * elem, elem) != 0 : d > tolerance;
    if (!differs) continue;
    ++count;
    if (d != 0.0) all_numerically_equal = false;
    if (d > worst_diff) {
      worst_diff = d;
      worst = i;
    }
  }
  if (count == 0) return false;
  diff->shape = a.ShapeString();
  diff->differing_elements = count;
  diff->max_abs_diff = worst_diff;
  diff->index = worst;
  diff->position.clear();
  const std::array<int64_t, engine::kMaxRank> strides = a.shape().Strides();
  int64_t rest = worst;
  for (int d = 0; d < a.rank(); ++d) {
    diff->position.push_back(rest / strides[d]);
    rest %= strides[d];
  }
  diff->value_a = a.ElementAsDouble(worst);
  diff->value_b = b.ElementAsDouble(worst);
  diff->ulps = UlpDistance(a, b, worst);
  diff->bitwise_only = all_numerically_equal;
  return true;
}

// Comparer walks the two runs in Note [Comparing forms] order and stops at the first difference.
class Comparer {
 public:
  Comparer(const Run& a, const Run& b, const CompareFormsOptions& options,
           CompareFormsResult* result)
      : a_(a), b_(b), options_(options), result_(result) {}

  // Structure reports a structural difference and returns false.
  bool Structure(std::string path, std::string what, std::string detail) {
    Difference& d = result_->first_difference;
    d.kind = DifferenceKind::kStructure;
    d.path = std::move(path);
    d.what = std::move(what);
    d.detail = std::move(detail);
    result_->same = false;
    return false;
  }

  // Tensors compares two values; false (and the result filled) when they differ.
  bool Tensors(DifferenceKind kind, const std::string& path, const std::string& what,
               const Value& x, const Value& y) {
    if (x.dtype() != y.dtype() || x.shape() != y.shape()) {
      return Structure(path, what,
                       absl::StrCat("a's is ", SpecString(x), ", b's is ", SpecString(y)));
    }
    ++result_->compared_tensors;
    Difference d;
    if (!Compare(x.tensor(), y.tensor(), options_.tolerance, &d)) return true;
    d.kind = kind;
    d.path = path;
    d.what = what;
    result_->first_difference = std::move(d);
    result_->same = false;
    return false;
  }

  // PairCalls pairs a's calls with b's; false on a structural difference.
  bool PairCalls() {
    const bool paired = PairCallsInOrder();
    for (const auto& pair : pairs_) result_->compared_paths.push_back(a_.calls[pair.first].path);
    return paired;
  }

  bool PairCallsInOrder() {
    const auto key = [](const RecordedCall& c) {
      return absl::StrCat("'", c.path, "' (", c.class_name, ", call ", c.call_index, ")");
    };
    if (!options_.allow_reordered_calls) {
      const size_t n = std::min(a_.calls.size(), b_.calls.size());
      for (size_t i = 0; i < n; ++i) {
        const RecordedCall& x = a_.calls[i];
        const RecordedCall& y = b_.calls[i];
        if (x.path != y.path || x.call_index != y.call_index) {
          return Structure(x.path, absl::StrCat("layer call ", i),
                           absl::StrCat("the call sequences differ at call ", i, ": a calls ",
                                        key(x), ", b calls ", key(y)));
        }
        pairs_.emplace_back(i, i);
      }
      if (a_.calls.size() != b_.calls.size()) {
        const bool a_longer = a_.calls.size() > b_.calls.size();
        const RecordedCall& extra = a_longer ? a_.calls[n] : b_.calls[n];
        return Structure(extra.path, absl::StrCat("layer call ", n),
                         absl::StrCat(a_longer ? "a" : "b", " makes ",
                                      a_longer ? a_.calls.size() : b_.calls.size(),
                                      " layer calls, ", a_longer ? "b" : "a", " only ", n,
                                      "; the first extra one is ", key(extra)));
      }
      return true;
    }
    std::map<std::pair<std::string, int64_t>, size_t> in_b;
    for (size_t j = 0; j < b_.calls.size(); ++j) {
      in_b[{b_.calls[j].path, b_.calls[j].call_index}] = j;
    }
    for (size_t i = 0; i < a_.calls.size(); ++i) {
      auto it = in_b.find({a_.calls[i].path, a_.calls[i].call_index});
      if (it == in_b.end()) {
        return Structure(a_.calls[i].path, absl::StrCat("layer call ", i),
                         absl::StrCat("a calls ", key(a_.calls[i]), ", b never does"));
      }
      pairs_.emplace_back(i, it->second);
      in_b.erase(it);
    }
    if (!in_b.empty()) {
      const RecordedCall& extra = b_.calls[in_b.begin()->second];
      return Structure(extra.path, absl::StrCat("layer call ", in_b.begin()->second),
                       absl::StrCat("b calls ", key(extra), ", a never does"));
    }
    return true;
  }

  bool Forward() {
    for (const auto& [i, j] : pairs_) {
      const RecordedCall& x = a_.calls[i];
      const RecordedCall& y = b_.calls[j];
      // Note [Comparing forms]: a model may be a subclass in one form and a Functional in the
      // other; other layers must be of the same class.
      if (x.class_name != y.class_name && !(x.layer->is_model() && y.layer->is_model())) {
        return Structure(x.path, absl::StrCat("call ", x.call_index),
                         absl::StrCat("a's layer is a ", x.class_name, ", b's a ", y.class_name));
      }
      if (x.inputs.size() != y.inputs.size() || x.outputs.size() != y.outputs.size()) {
        return Structure(
            x.path, absl::StrCat("call ", x.call_index),
            absl::StrCat("a's call has ", x.inputs.size(), " inputs and ", x.outputs.size(),
                         " outputs, b's ", y.inputs.size(), " and ", y.outputs.size()));
      }
      for (size_t k = 0; k < x.inputs.size(); ++k) {
        if (!Tensors(DifferenceKind::kForward, x.path,
                     absl::StrCat("input ", k, " of call ", x.call_index), x.inputs[k],
                     y.inputs[k])) {
          return false;
        }
      }
      for (size_t k = 0; k < x.outputs.size(); ++k) {
        if (!Tensors(DifferenceKind::kForward, x.path,
                     absl::StrCat("output ", k, " of call ", x.call_index), x.outputs[k],
                     y.outputs[k])) {
          return false;
        }
      }
    }
    if (a_.outputs.size() != b_.outputs.size()) {
      return Structure(
          "", "model outputs",
          absl::StrCat("a gives ", a_.outputs.size(), " outputs, b ", b_.outputs.size()));
    }
    for (size_t k = 0; k < a_.outputs.size(); ++k) {
      if (!Tensors(DifferenceKind::kForward, "", absl::StrCat("model output ", k), a_.outputs[k],
                   b_.outputs[k])) {
        return false;
      }
    }
    return true;
  }

  // Gradient compares d loss / d x and d loss / d y when both were computed.
  bool Gradient(const std::string& path, const std::string& what, const Value& x, const Value& y) {
    auto gx = a_.gradients.find(x.id());
    auto gy = b_.gradients.find(y.id());
    if (gx == a_.gradients.end() || gy == b_.gradients.end()) return true;
    return Tensors(DifferenceKind::kGradient, path, what, gx->second, gy->second);
  }

  bool Gradients(const Layer& model_a, const Layer& model_b) {
    std::map<std::string, models::Variable> vars_b;
    for (const models::Variable& v : model_b.trainable_variables()) vars_b[v.path()] = v;
    std::map<std::string, models::Variable> vars_a;
    for (const models::Variable& v : model_a.trainable_variables()) vars_a[v.path()] = v;
    for (const auto& [path, v] : vars_a) {
      if (vars_b.count(path) == 0) {
        return Structure("", "variables",
                         absl::StrCat("a has the trainable variable ", path, ", b has not"));
      }
    }
    for (const auto& [path, v] : vars_b) {
      if (vars_a.count(path) == 0) {
        return Structure("", "variables",
                         absl::StrCat("b has the trainable variable ", path, ", a has not"));
      }
    }
    absl::flat_hash_set<std::string> done;
    auto variables_of = [&](const RecordedCall& c) -> bool {
      for (const models::Variable& v : c.layer->own_variables()) {
        if (!v.trainable() || !done.insert(v.path()).second) continue;
        if (!Gradient(c.path, absl::StrCat("gradient of ", v.path()), v.value(),
                      vars_b.at(v.path()).value())) {
          return false;
        }
      }
      return true;
    };
    for (auto it = pairs_.rbegin(); it != pairs_.rend(); ++it) {
      const RecordedCall& x = a_.calls[it->first];
      const RecordedCall& y = b_.calls[it->second];
      for (size_t k = 0; k < x.outputs.size(); ++k) {
        if (!Gradient(x.path, absl::StrCat("gradient of output ", k, " of call ", x.call_index),
                      x.outputs[k], y.outputs[k])) {
          return false;
        }
      }
      if (x.call_index == 0 && !variables_of(x)) return false;
    }
    for (const auto& [path, v] : vars_a) {
      if (done.count(path) > 0) continue;
      if (!Gradient("", absl::StrCat("gradient of ", path), v.value(), vars_b.at(path).value())) {
        return false;
      }
    }
    for (size_t k = 0; k < a_.inputs.size(); ++k) {
      if (!Gradient("", absl::StrCat("gradient of model input ", k), a_.inputs[k], b_.inputs[k])) {
        return false;
      }
    }
    return true;
  }

 private:
  const Run& a_;
  const Run& b_;
  const CompareFormsOptions& options_;
  CompareFormsResult* result_;
  std::vector<std::pair<size_t, size_t>> pairs_;
};

// AddForwardNote explains a forward difference at a layer (Difference::note).
void AddForwardNote(const Run& run_a, const Layer& b, const CompareFormsOptions& options,
                    Difference* d) {
  if (d->kind != DifferenceKind::kForward || d->path.empty()) return;
  if (d->what.rfind("input ", 0) == 0) {
    d->note =
        "every earlier layer output agrees, so this layer is fed another tensor (other wiring, or "
        "code between the layer calls that differs)";
    return;
  }
  const Layer* layer = nullptr;
  for (const RecordedCall& c : run_a.calls) {
    if (c.path == d->path) layer = c.layer;
  }
  if (layer == nullptr) return;
  if (layer->own_variables().empty()) {
    d->note = "it has no variables of its own and its inputs agree: its computation differs";
    return;
  }
  std::map<std::string, models::Variable> vars_b;
  for (const models::Variable& v : b.variables()) vars_b[v.path()] = v;
  std::vector<std::string> differing;
  for (const models::Variable& v : layer->own_variables()) {
    auto it = vars_b.find(v.path());
    if (it == vars_b.end()) {
      differing.push_back(absl::StrCat(v.path(), " (b has none)"));
      continue;
    }
    Difference vd;
    if (v.dtype() != it->second.dtype() || v.shape() != it->second.shape()) {
      differing.push_back(absl::StrCat(v.path(), " (shape ", v.tensor().ShapeString(), " vs ",
                                       it->second.tensor().ShapeString(), ")"));
    } else if (Compare(v.tensor(), it->second.tensor(), options.tolerance, &vd)) {
      differing.push_back(absl::StrCat(v.path(), " (", vd.differing_elements,
                                       " elements, largest |a - b| ", Number(vd.max_abs_diff),
                                       ")"));
    }
  }
  d->note = differing.empty()
                ? "its own variables and its inputs agree: its computation differs"
                : absl::StrCat("its own variables differ: ", absl::StrJoin(differing, ", "));
}

}  // namespace

const char* DifferenceKindName(DifferenceKind kind) {
  switch (kind) {
    case DifferenceKind::kNone:
      return "none";
    case DifferenceKind::kStructure:
      return "structure";
    case DifferenceKind::kForward:
      return "forward";
    case DifferenceKind::kGradient:
      return "gradient";
  }
  return "?";
}

absl::StatusOr<CompareFormsResult> CompareForms(Layer& a, Layer& b, absl::Span<const Tensor> inputs,
                                                const CompareFormsOptions& options) {
  if (inputs.empty()) return absl::InvalidArgumentError("CompareForms: no inputs given");
  if (autodiff::IsTracing()) {
    return absl::FailedPreconditionError(
        "CompareForms: called inside a trace; the models must be called eagerly");
  }
  CONCORD_ASSIGN_OR_RETURN(Run run_a, RunModel(a, inputs, options, "a"));
  CONCORD_ASSIGN_OR_RETURN(Run run_b, RunModel(b, inputs, options, "b"));
  CompareFormsResult result;
  Comparer comparer(run_a, run_b, options, &result);
  if (comparer.PairCalls()) {
    if (!comparer.Forward()) {
      AddForwardNote(run_a, b, options, &result.first_difference);
    } else if (options.compare_gradients) {
      comparer.Gradients(a, b);
    }
  }
  return result;
}

std::string CompareFormsResult::ToString() const {
  std::string out;
  if (same) {
    absl::StrAppend(&out, "the two forms agree: ", compared_paths.size(), " layer calls, ",
                    compared_tensors, " tensors compared\n");
    return out;
  }
  const Difference& d = first_difference;
  const std::string where = d.path.empty() ? "the models" : absl::StrCat("layer '", d.path, "'");
  absl::StrAppend(&out, "first difference (", DifferenceKindName(d.kind), "): ", where, ", ",
                  d.what, "\n");
  if (d.kind == DifferenceKind::kStructure) {
    absl::StrAppend(&out, "  ", d.detail, "\n");
  } else {
    absl::StrAppend(
        &out, "  ", d.shape, ": ", d.differing_elements, " element(s) differ",
        d.bitwise_only ? " bitwise only (numerically equal: signed zeros or NaNs)" : " numerically",
        "\n  largest |a - b| = ", Number(d.max_abs_diff), " at [", absl::StrJoin(d.position, ", "),
        "] (flat index ", d.index, "): a ", Number(d.value_a), ", b ", Number(d.value_b));
    if (d.ulps > 0) absl::StrAppend(&out, " (", d.ulps, " ulp", d.ulps == 1 ? "" : "s", ")");
    absl::StrAppend(&out, "\n");
  }
  if (!d.note.empty()) absl::StrAppend(&out, "  ", d.note, "\n");
  absl::StrAppend(&out, "  tensor pairs compared: ", compared_tensors, "; layer calls paired: ",
                  compared_paths.empty() ? "(none)" : absl::StrJoin(compared_paths, ", "), "\n");
  return out;
}

}  // namespace concord::testing
