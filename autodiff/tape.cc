#include "autodiff/tape.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {
namespace {

// Pauses a tape's recording for a scope (while it runs its own gradient rules).
class PauseRecording {
 public:
  explicit PauseRecording(bool* recording) : recording_(recording), previous_(*recording) {
    *recording_ = false;
  }
  ~PauseRecording() { *recording_ = previous_; }

 private:
  bool* recording_;
  bool previous_;
};

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat("GradientTape::Gradient: ", what, ": ",
                                                  status.message()));
}

}  // namespace

GradientTape::GradientTape(bool persistent) : persistent_(persistent) {
  internal::ActiveTapes().push_back(this);
}

GradientTape::~GradientTape() {
  std::vector<GradientTape*>& tapes = internal::ActiveTapes();
  const auto it = std::find(tapes.begin(), tapes.end(), this);
  CONCORD_CHECK_MSG(it != tapes.end(), "GradientTape destroyed on another thread");
  tapes.erase(it);
}

void GradientTape::Watch(const Value& value) {
  if (value.ok()) watched_.insert(value.id());
}

bool GradientTape::ShouldRecord(absl::Span<const Value> inputs) const {
  if (!recording_) return false;
  for (const Value& v : inputs) {
    if (v.trainable() || watched_.contains(v.id())) return true;
  }
  return false;
}

void GradientTape::Record(Equation&& equation) {
  for (int64_t id : equation.output_ids) watched_.insert(id);
  equations_.Append(std::move(equation));
}

absl::StatusOr<std::vector<Value>> GradientTape::Gradient(const Value& target,
                                                          absl::Span<const Value> sources,
                                                          const Value& output_gradient,
                                                          UnconnectedGradients unconnected) {
  if (used_ && !persistent_) {
    return absl::FailedPreconditionError(
        "GradientTape::Gradient: this tape is not persistent and has already computed a "
        "gradient; construct it with GradientTape(/*persistent=*/true) to ask several times");
  }
  used_ = true;
  if (!target.ok()) return Annotate(target.status(), "target");
  if (!engine::IsFloating(target.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GradientTape::Gradient: the target is ", target.spec().ToString(),
        "; gradients exist only for float32 and float64 values"));
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!sources[i].ok()) return Annotate(sources[i].status(), absl::StrCat("source ", i));
    if (!engine::IsFloating(sources[i].dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GradientTape::Gradient: source ", i, " is ", sources[i].spec().ToString(),
          "; gradients exist only for float32 and float64 values"));
    }
  }
  Value seed = output_gradient;
  if (seed.defined()) {
    if (!seed.ok()) return Annotate(seed.status(), "output gradient");
    if (!(seed.spec() == target.spec())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GradientTape::Gradient: the output gradient is ", seed.spec().ToString(),
          " but the target is ", target.spec().ToString()));
    }
  } else {
    seed = Value::Constant(engine::Tensor::Ones(target.shape(), target.dtype()));
  }

  PauseRecording pause(&recording_);
  // Values that depend on a source: only their gradients are worth computing.
  absl::flat_hash_set<int64_t> relevant;
  absl::flat_hash_set<int64_t> source_ids;
  relevant.reserve(equations_.size() + sources.size());
  for (const Value& s : sources) {
    relevant.insert(s.id());
    source_ids.insert(s.id());
  }
  for (const Equation& eq : equations_) {
    for (int64_t id : eq.input_ids) {
      if (relevant.contains(id)) {
        relevant.insert(eq.output_ids.begin(), eq.output_ids.end());
        break;
      }
    }
  }

  absl::flat_hash_map<int64_t, Value> grads;
  grads[target.id()] = seed;
  std::vector<Value> output_grads;
  std::vector<bool> needs_grad;
  for (size_t e = equations_.size(); e-- > 0;) {
    Equation& eq = equations_[e];
    output_grads.assign(eq.output_ids.size(), Value());
    bool any_output_grad = false;
    for (size_t k = 0; k < eq.output_ids.size(); ++k) {
      const auto it = grads.find(eq.output_ids[k]);
      if (it == grads.end()) continue;
      output_grads[k] = it->second;
      any_output_grad = true;
    }
    needs_grad.assign(eq.input_ids.size(), false);
    bool any_needed = false;
    for (size_t k = 0; k < eq.input_ids.size(); ++k) {
      needs_grad[k] =
          relevant.contains(eq.input_ids[k]) && engine::IsFloating(eq.input_specs[k].dtype);
      any_needed = any_needed || needs_grad[k];
    }
    const OpDef& def = GetOpDef(eq.primitive);
    if (any_output_grad && any_needed && def.grad != nullptr) {
      const GradContext ctx{eq.inputs,   eq.outputs, eq.input_specs, eq.output_specs,
                            output_grads, eq.attrs,  needs_grad};
      std::vector<Value> input_grads = def.grad(ctx);
      CONCORD_CHECK_MSG(input_grads.size() == eq.input_ids.size(),
                        "a gradient rule returned the wrong number of gradients");
      for (size_t k = 0; k < input_grads.size(); ++k) {
        if (!needs_grad[k] || !input_grads[k].defined()) continue;
        if (!input_grads[k].ok()) {
          return Annotate(input_grads[k].status(),
                          absl::StrCat("in the gradient of ", PrimitiveName(eq.primitive)));
        }
        auto [it, inserted] = grads.try_emplace(eq.input_ids[k], input_grads[k]);
        if (!inserted) it->second = Dispatch1(Primitive::kAdd, {it->second, input_grads[k]});
      }
    }
    // This equation produced its outputs, so nothing older reads their gradients.
    for (int64_t id : eq.output_ids) {
      if (!source_ids.contains(id)) grads.erase(id);
    }
    if (!persistent_) {
      eq.inputs.clear();
      eq.outputs.clear();
    }
  }
  if (!persistent_) equations_.Clear();

  std::vector<Value> result;
  result.reserve(sources.size());
  for (const Value& s : sources) {
    const auto it = grads.find(s.id());
    if (it != grads.end()) {
      if (!it->second.ok()) return Annotate(it->second.status(), "accumulating a gradient");
      result.push_back(it->second);
    } else if (unconnected == UnconnectedGradients::kZero) {
      result.push_back(Value::Constant(engine::Tensor::Zeros(s.shape(), s.dtype())));
    } else {
      result.push_back(Value());
    }
  }
  return result;
}

}  // namespace concord::autodiff
