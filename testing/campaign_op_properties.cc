// The op-program properties of the campaign (docs/campaigns.md, "Properties 7-14"):
// random straight-line programs over the engine's kernels, run under conditions Concord promises
// make no difference (again, at another thread count, in float64, through autodiff).
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/engine.h"
#include "rapidcheck.h"
#include "testing/campaign_properties.h"
#include "testing/grad_check.h"
#include "testing/op_program.h"
#include "testing/op_program_values.h"

namespace concord::testing::internal {
namespace {

using engine::DType;
using engine::Tensor;

// Gen generates a program with `options` and records it as the case.
OpProgram Gen(const OpProgramOptions& options) {
  const OpProgram p = *GenOpProgram(options);
  RecordCase(p);
  return p;
}

// GenEitherFloat generates a float32 or float64 program with default options.
OpProgram GenEitherFloat() {
  OpProgramOptions o;
  o.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  return Gen(o);
}

std::vector<Tensor> MustRun(const OpProgram& program) {
  auto values = RunOpProgram(program);
  if (!values.ok()) {
    RC_FAIL(absl::StrCat("a generated program failed: ", values.status().message()));
  }
  return *std::move(values);
}

void AssertAgree(const OpProgram& program, const std::vector<Tensor>& actual,
                 const std::vector<Tensor>& expected, double rtol = 0, double atol = 0) {
  if (const auto d = FirstDivergence(program, actual, expected, rtol, atol)) {
    RC_FAIL(absl::StrCat("first divergence: ", d->what));
  }
}

// The program's leaves as constants (or watched by `tape`).
std::vector<autodiff::Value> Leaves(const OpProgram& p, autodiff::GradientTape* tape = nullptr) {
  std::vector<autodiff::Value> leaves;
  for (const Tensor& t : p.leaves) {
    leaves.push_back(autodiff::Value::Constant(t));
    if (tape != nullptr) tape->Watch(leaves.back());
  }
  return leaves;
}

std::vector<Tensor> Tensors(const std::vector<autodiff::Value>& values) {
  std::vector<Tensor> out;
  for (const autodiff::Value& v : values) out.push_back(v.tensor());
  return out;
}

std::vector<autodiff::Value> MustRunValues(const OpProgram& p,
                                           const std::vector<autodiff::Value>& leaves) {
  auto values = RunOpProgramOnValues(p, leaves);
  if (!values.ok()) RC_FAIL(absl::StrCat("autodiff run failed: ", values.status().message()));
  return *std::move(values);
}

// d SumAll(last value) / d (every floating leaf), from a fresh tape.
std::vector<Tensor> MustGradient(const OpProgram& p, bool persistent) {
  autodiff::GradientTape tape(persistent);
  const std::vector<autodiff::Value> leaves = Leaves(p, &tape);
  const std::vector<autodiff::Value> values = MustRunValues(p, leaves);
  std::vector<autodiff::Value> sources;
  for (const autodiff::Value& leaf : leaves) {
    if (engine::IsFloating(leaf.dtype())) sources.push_back(leaf);
  }
  auto grads = tape.Gradient(autodiff::SumAll(values.back()), sources, autodiff::Value(),
                             autodiff::UnconnectedGradients::kZero);
  if (!grads.ok()) RC_FAIL(absl::StrCat("Gradient failed: ", grads.status().message()));
  return Tensors(*grads);
}

void CheckThreadCounts() {
  OpProgramOptions o;
  o.max_rank = 3;
  o.max_dim = 64;
  o.max_steps = 5;
  o.leaves_from_seed = true;
  const OpProgram p = Gen(o);
  RC_PRE(!UsesOp(p, OpKind::kMatMul));
  std::vector<Tensor> one, two;
  {
    engine::ScopedNumThreads threads(1);
    one = MustRun(p);
  }
  {
    engine::ScopedNumThreads threads(2);
    two = MustRun(p);
  }
  AssertAgree(p, two, one);
}

void CheckNoOverwrite() {
  const OpProgram p = Gen({});
  const std::vector<Tensor> all = MustRun(p);
  for (size_t k = 1; k <= p.steps.size(); ++k) {
    OpProgram prefix = p;
    prefix.steps.resize(k);
    const std::vector<Tensor> fresh = MustRun(prefix);
    RC_ASSERT(engine::BitwiseEqual(fresh.back(), all[k - 1]));
  }
}

void CheckOneUlp() {
  const OpProgram p = Gen({});
  const std::vector<Tensor> base = MustRun(p);
  std::vector<Tensor> nudged = base;
  const int victim = *rc::gen::inRange<int>(0, static_cast<int>(base.size()));
  // (Evaluated first: RC_PRE's expression capture does not short-circuit.)
  const bool nudgeable = base[victim].num_elements() > 0 &&
                         base[victim].dtype() == DType::kFloat32 &&
                         std::isfinite(base[victim].data<float>()[0]);
  RC_PRE(nudgeable);
  nudged[victim] = base[victim].Clone();
  float* x = nudged[victim].mutable_data<float>();
  x[0] = std::nextafter(x[0], INFINITY);
  const auto d = FirstDivergence(p, nudged, base);
  RC_ASSERT(d.has_value());
  RC_ASSERT(d->value_index == victim);
}

void CheckAutodiffForward() {
  const OpProgram p = GenEitherFloat();
  const std::vector<Tensor> engine_values = MustRun(p);
  AssertAgree(p, Tensors(MustRunValues(p, Leaves(p))), engine_values);
  autodiff::GradientTape tape;
  AssertAgree(p, Tensors(MustRunValues(p, Leaves(p, &tape))), engine_values);
}

void CheckGradientsReproducible() {
  const OpProgram p = GenEitherFloat();
  const std::vector<Tensor> first = MustGradient(p, false);
  const std::vector<Tensor> again = MustGradient(p, true);
  RC_ASSERT(first.size() == again.size());
  for (size_t i = 0; i < first.size(); ++i) RC_ASSERT(engine::BitwiseEqual(first[i], again[i]));
}

void CheckProgramFiniteDifferences() {
  OpProgramOptions o;
  o.dtype = DType::kFloat64;
  o.well_conditioned = true;
  o.smooth = true;
  o.max_rank = 3;
  o.max_dim = 3;
  o.max_steps = 5;
  const OpProgram p = Gen(o);
  std::vector<int> floating;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < p.leaves.size(); ++i) {
    if (!engine::IsFloating(p.leaves[i].dtype())) continue;
    floating.push_back(static_cast<int>(i));
    inputs.push_back(p.leaves[i]);
  }
  const auto fn = [&](absl::Span<const autodiff::Value> xs) {
    std::vector<autodiff::Value> leaves = Leaves(p);
    for (size_t k = 0; k < floating.size(); ++k) leaves[floating[k]] = xs[k];
    auto values = RunOpProgramOnValues(p, leaves);
    if (!values.ok()) return autodiff::Value::Error(values.status());
    return values->back();
  };
  const absl::Status status = GradCheck(fn, inputs);
  if (!status.ok()) RC_FAIL(std::string(status.message()));
}

}  // namespace

void AddOpProgramProperties(std::vector<CampaignProperty>& out) {
  out.push_back({"repeated runs agree bitwise",
                 "a program run twice at the same thread count gives the same bits", [] {
                   const OpProgram p = GenEitherFloat();
                   AssertAgree(p, MustRun(p), MustRun(p));
                 }});
  out.push_back({"one and two threads agree bitwise",
                 "element values do not depend on how ParallelFor splits the work "
                 "(programs without MatMul, whose BLAS may split sums by thread count)",
                 CheckThreadCounts});
  out.push_back({"float32 agrees with float64",
                 "float32 results stay within 2e-3 (relative to each value's magnitude) of "
                 "the same program in float64",
                 [] {
                   OpProgramOptions o;
                   o.well_conditioned = true;
                   const OpProgram p32 = Gen(o);
                   const OpProgram p64 = CastProgram(p32, DType::kFloat64);
                   AssertAgree(p32, MustRun(p32), MustRun(p64), 2e-3, 2e-3);
                 }});
  out.push_back({"no op writes into an earlier value",
                 "every value equals a fresh computation of it after the whole program ran "
                 "(views such as Reshape share buffers; nothing may write through them)",
                 CheckNoOverwrite});
  out.push_back({"the checker sees a one-ulp change",
                 "self-check: nudging one element of one value by one ulp is reported at "
                 "exactly that value",
                 CheckOneUlp});
  out.push_back({"autodiff forward equals the engine bitwise",
                 "running a program through autodiff ops (dispatcher, recording tape) gives the "
                 "bits of calling the engine kernels directly",
                 CheckAutodiffForward});
  out.push_back({"gradients are reproducible bitwise",
                 "the same program's tape gradients are the same bits on every run, from a "
                 "persistent or a non-persistent tape",
                 CheckGradientsReproducible});
  out.push_back({"gradients match finite differences",
                 "tape gradients of smooth float64 programs agree with central differences "
                 "(testing::GradCheck)",
                 CheckProgramFiniteDifferences});
}

}  // namespace concord::testing::internal
