#include "autodiff/tape.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"

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

// Note [ReLU then max pooling]
// A ReLU followed by a max pool (every small CNN) has the chain-rule gradient
//
//   dz = ReluGrad(y, MaxPool2DGrad(y, g))      y = Relu(z), p = MaxPool2D(y)
//
// whose ReluGrad walks the full-size tensor. Gradient computes instead
//
//   dz = MaxPool2DGrad(y, ReluGrad(p, g))
//
// with the ReluGrad on the pooled tensor, a quarter of the size for 2x2 pooling. The bits are the
// same. MaxPool2DGrad writes into element i the sum, in window order starting from +0, of g over
// the windows whose first maximum is i, and +0 terms elsewhere (Note [Deterministic pooling] in
// engine/pool.cc). Every window whose first maximum is i has p == y[i] bitwise: the forward pass
// and the gradient pick it with the same comparison, NaN included. So ReluGrad's test p > 0 is
// y[i] > 0 for every term of that sum. If it holds, both forms sum the same g values in the same
// order. If not, the fused form sums only +0 terms, giving +0, and ReluGrad of the first form
// gives +0 as well.
//
// The producer of y is any primitive whose output is a ReLU: Relu itself, or Conv2DBiasRelu (the
// Conv2D layer with a bias and a ReLU). Its OpDef::grad_before_relu takes dz in place of d y. The
// rewrite applies when y is read by no other recorded equation and is neither the target nor a
// source, so that MaxPool2D's gradient would be its whole gradient. dz is kept until the walk
// reaches the producer, whose rule then runs on it, so gradients are still summed in the same
// order (linalg_grad_test checks the bits on random inputs with NaN, -0 and overlapping windows).
// An enclosing tape records ReluGrad and MaxPool2DGrad as usual.
struct ReluPoolFusion {
  // Equations whose output is a ReLU, by output id, and how many recorded equations read it.
  absl::flat_hash_map<int64_t, size_t> relu_by_output;
  absl::flat_hash_map<int64_t, int> reads;
  // d pre-activation for the producer at this index, computed early by its MaxPool2D reader.
  absl::flat_hash_map<size_t, Value> pending;

  void Scan(const Equation& eq, size_t index) {
    if (!relu_by_output.empty()) {
      for (int64_t id : eq.input_ids) {
        if (relu_by_output.contains(id)) ++reads[id];
      }
    }
    if (GetOpDef(eq.primitive).grad_before_relu != nullptr) {
      relu_by_output[eq.output_ids[0]] = index;
    }
  }

  // The producer whose ReLU output `eq` (a MaxPool2D) alone reads, if the rewrite applies.
  const size_t* Producer(const Equation& eq, int64_t target,
                         const absl::flat_hash_set<int64_t>& sources) const {
    if (eq.primitive != Primitive::kMaxPool2D) return nullptr;
    const int64_t y = eq.input_ids[0];
    const auto it = relu_by_output.find(y);
    if (it == relu_by_output.end() || y == target || sources.contains(y)) return nullptr;
    const auto r = reads.find(y);
    if (r == reads.end() || r->second != 1) return nullptr;
    return &it->second;
  }
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
    seed = Full(target.spec(), 1.0);
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
  ReluPoolFusion fusion;
  for (size_t e = 0; e < equations_.size(); ++e) {
    const Equation& eq = equations_[e];
    fusion.Scan(eq, e);
    // An op without a gradient rule (ArgMax, ElementCount) passes no gradient on.
    if (GetOpDef(eq.primitive).grad == nullptr) continue;
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
    std::vector<Value> input_grads;
    if (const auto fused = fusion.pending.find(e); fused != fusion.pending.end()) {
      // d pre-activation, computed early by the MaxPool2D that reads this ReLU output.
      const Value dz = std::move(fused->second);
      fusion.pending.erase(fused);
      if (any_needed) {
        const GradContext ctx{eq.inputs,  eq.outputs, eq.input_specs, eq.output_specs,
                              {&dz, 1},   eq.attrs,   needs_grad};
        input_grads = def.grad_before_relu(ctx);
        CONCORD_CHECK_MSG(input_grads.size() == eq.input_ids.size(),
                          "a gradient rule returned the wrong number of gradients");
      }
    } else if (any_output_grad && any_needed && def.grad != nullptr) {
      const size_t* relu = fusion.Producer(eq, target.id(), source_ids);
      if (relu != nullptr && needs_grad[0] && output_grads[0].defined()) {
        const Attrs& at = eq.attrs;
        fusion.pending[*relu] =
            MaxPool2DGrad(eq.inputs[0], ReluGrad(eq.outputs[0], output_grads[0]), at.ksize,
                          at.strides, at.padding);
      } else {
        const GradContext ctx{eq.inputs,   eq.outputs, eq.input_specs, eq.output_specs,
                              output_grads, eq.attrs,  needs_grad};
        input_grads = def.grad(ctx);
        CONCORD_CHECK_MSG(input_grads.size() == eq.input_ids.size(),
                          "a gradient rule returned the wrong number of gradients");
      }
    }
    for (size_t k = 0; k < input_grads.size(); ++k) {
      if (!needs_grad[k] || !input_grads[k].defined()) continue;
      if (!input_grads[k].ok()) {
        return Annotate(input_grads[k].status(),
                        absl::StrCat("in the gradient of ", PrimitiveName(eq.primitive)));
      }
      auto [it, inserted] = grads.try_emplace(eq.input_ids[k], input_grads[k]);
      if (!inserted) it->second = Dispatch1(Primitive::kAdd, {it->second, input_grads[k]});
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
      result.push_back(Full(s.spec(), 0.0));
    } else {
      result.push_back(Value());
    }
  }
  return result;
}

}  // namespace concord::autodiff
