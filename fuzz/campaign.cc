// The campaign runner: Concord's main job. It generates random programs of engine ops and checks
// that runs which Concord promises to agree do agree, round after round with fresh seeds, until
// the time budget is spent or the first divergence is found. On a divergence it prints the
// shrunk program, the first step whose output differs, and the flags that replay it.
//
//   bazel run //fuzz:campaign                          # default budget (60 s)
//   bazel run //fuzz:campaign -- --seconds=600 --seed=42
//   bazel run //fuzz:campaign -- --property=threads --replay_seed=1234
//
// See docs/campaigns.md. Later issues add properties for model forms, traces and optimizers.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "rapidcheck.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "testing/grad_check.h"
#include "testing/op_program.h"
#include "testing/op_program_values.h"

ABSL_FLAG(double, seconds, 60.0, "Time budget in seconds (the embedded default budget).");
ABSL_FLAG(uint64_t, seed, 0, "Campaign seed; 0 derives one from the clock (always printed).");
ABSL_FLAG(int, cases, 25, "Cases per property per round.");
ABSL_FLAG(std::string, property, "", "Run only properties whose name contains this text.");
ABSL_FLAG(uint64_t, replay_seed, 0,
          "Run each selected property once with exactly this RapidCheck seed (from a report).");
ABSL_FLAG(bool, list, false, "List the properties and exit.");

namespace concord::fuzz {
namespace {

using engine::DType;
using engine::Tensor;
using testing::FirstDivergence;
using testing::OpKind;
using testing::OpProgram;
using testing::OpProgramOptions;
using testing::RunOpProgram;

struct Property {
  std::string name;
  std::string promise;
  std::function<void()> check;
};

std::vector<Tensor> MustRun(const OpProgram& program) {
  auto values = RunOpProgram(program);
  if (!values.ok()) RC_FAIL(absl::StrCat("a generated program failed: ", values.status().message()));
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

std::vector<Tensor> MustRunValues(const OpProgram& p, const std::vector<autodiff::Value>& leaves) {
  auto values = testing::RunOpProgramOnValues(p, leaves);
  if (!values.ok()) RC_FAIL(absl::StrCat("autodiff run failed: ", values.status().message()));
  return Tensors(*values);
}

// d SumAll(last value) / d (every floating leaf), from a fresh tape.
std::vector<Tensor> MustGradient(const OpProgram& p, bool persistent) {
  autodiff::GradientTape tape(persistent);
  const std::vector<autodiff::Value> leaves = Leaves(p, &tape);
  auto values = testing::RunOpProgramOnValues(p, leaves);
  if (!values.ok()) RC_FAIL(absl::StrCat("autodiff run failed: ", values.status().message()));
  std::vector<autodiff::Value> sources;
  for (const autodiff::Value& leaf : leaves) {
    if (engine::IsFloating(leaf.dtype())) sources.push_back(leaf);
  }
  auto grads = tape.Gradient(autodiff::SumAll(values->back()), sources, autodiff::Value(),
                             autodiff::UnconnectedGradients::kZero);
  if (!grads.ok()) RC_FAIL(absl::StrCat("Gradient failed: ", grads.status().message()));
  return Tensors(*grads);
}

void AddAutodiffProperties(std::vector<Property>& out) {
  out.push_back({"autodiff forward equals the engine bitwise",
                 "running a program through autodiff ops (dispatcher, recording tape) gives the "
                 "bits of calling the engine kernels directly",
                 [] {
                   OpProgramOptions o;
                   o.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
                   const OpProgram p = *testing::GenOpProgram(o);
                   const std::vector<Tensor> engine_values = MustRun(p);
                   AssertAgree(p, MustRunValues(p, Leaves(p)), engine_values);
                   autodiff::GradientTape tape;
                   AssertAgree(p, MustRunValues(p, Leaves(p, &tape)), engine_values);
                 }});
  out.push_back({"gradients are reproducible bitwise",
                 "the same program's tape gradients are the same bits on every run, from a "
                 "persistent or a non-persistent tape",
                 [] {
                   OpProgramOptions o;
                   o.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
                   const OpProgram p = *testing::GenOpProgram(o);
                   const std::vector<Tensor> first = MustGradient(p, false);
                   const std::vector<Tensor> again = MustGradient(p, true);
                   RC_ASSERT(first.size() == again.size());
                   for (size_t i = 0; i < first.size(); ++i) {
                     RC_ASSERT(engine::BitwiseEqual(first[i], again[i]));
                   }
                 }});
  out.push_back({"gradients match finite differences",
                 "tape gradients of smooth float64 programs agree with central differences "
                 "(testing::GradCheck)",
                 [] {
                   OpProgramOptions o;
                   o.dtype = DType::kFloat64;
                   o.well_conditioned = true;
                   o.smooth = true;
                   o.max_rank = 3;
                   o.max_dim = 3;
                   o.max_steps = 5;
                   const OpProgram p = *testing::GenOpProgram(o);
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
                     auto values = testing::RunOpProgramOnValues(p, leaves);
                     if (!values.ok()) return autodiff::Value::Error(values.status());
                     return values->back();
                   };
                   const absl::Status status = testing::GradCheck(fn, inputs);
                   if (!status.ok()) RC_FAIL(std::string(status.message()));
                 }});
}

std::vector<Property> Properties() {
  std::vector<Property> out;
  out.push_back({"repeated runs agree bitwise",
                 "a program run twice at the same thread count gives the same bits",
                 [] {
                   OpProgramOptions o;
                   o.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
                   const OpProgram p = *testing::GenOpProgram(o);
                   AssertAgree(p, MustRun(p), MustRun(p));
                 }});
  out.push_back({"one and two threads agree bitwise",
                 "element values do not depend on how ParallelFor splits the work "
                 "(programs without MatMul, whose BLAS may split sums by thread count)",
                 [] {
                   OpProgramOptions o;
                   o.max_rank = 3;
                   o.max_dim = 64;
                   o.max_steps = 5;
                   o.leaves_from_seed = true;
                   const OpProgram p = *testing::GenOpProgram(o);
                   RC_PRE(!testing::UsesOp(p, OpKind::kMatMul));
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
                 }});
  out.push_back({"float32 agrees with float64",
                 "float32 results stay within 2e-3 (relative to each value's magnitude) of "
                 "the same program in float64",
                 [] {
                   OpProgramOptions o;
                   o.well_conditioned = true;
                   const OpProgram p32 = *testing::GenOpProgram(o);
                   const OpProgram p64 = testing::CastProgram(p32, DType::kFloat64);
                   AssertAgree(p32, MustRun(p32), MustRun(p64), 2e-3, 2e-3);
                 }});
  out.push_back({"no op writes into an earlier value",
                 "every value equals a fresh computation of it after the whole program ran "
                 "(views such as Reshape share buffers; nothing may write through them)",
                 [] {
                   const OpProgram p = *testing::GenOpProgram({});
                   const std::vector<Tensor> all = MustRun(p);
                   for (size_t k = 1; k <= p.steps.size(); ++k) {
                     OpProgram prefix = p;
                     prefix.steps.resize(k);
                     const std::vector<Tensor> fresh = MustRun(prefix);
                     RC_ASSERT(engine::BitwiseEqual(fresh.back(), all[k - 1]));
                   }
                 }});
  out.push_back({"the checker sees a one-ulp change",
                 "self-check: nudging one element of one value by one ulp is reported at "
                 "exactly that value",
                 [] {
                   const OpProgram p = *testing::GenOpProgram({});
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
                 }});
  AddAutodiffProperties(out);
  return out;
}

uint64_t MixSeed(uint64_t seed, uint64_t round, uint64_t property) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (round * 64 + property + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int Run() {
  const std::vector<Property> all = Properties();
  std::vector<const Property*> selected;
  for (const Property& p : all) {
    if (absl::StrContains(p.name, absl::GetFlag(FLAGS_property))) selected.push_back(&p);
  }
  if (absl::GetFlag(FLAGS_list)) {
    for (const Property& p : all) std::cout << p.name << "\n    " << p.promise << "\n";
    return 0;
  }
  if (selected.empty()) {
    std::cerr << "no property matches --property=" << absl::GetFlag(FLAGS_property)
              << " (see --list)\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  // RapidCheck prints its configuration once; make it name the campaign's seed, not a random one
  // (every property below gets explicit parameters derived from this seed).
  setenv("RC_PARAMS", absl::StrCat("seed=", seed).c_str(), /*overwrite=*/1);
  const uint64_t replay = absl::GetFlag(FLAGS_replay_seed);
  const double budget = absl::GetFlag(FLAGS_seconds);
  const int cases = absl::GetFlag(FLAGS_cases);
  std::cout << "Concord campaign: random op programs (engine and autodiff)\n"
            << "  seed " << seed << ", budget " << budget << " s, " << cases
            << " cases per property per round, " << engine::NumThreads() << " threads\n";

  std::vector<int64_t> done(selected.size(), 0);
  std::vector<double> seconds(selected.size(), 0.0);
  int rounds = 0;
  for (uint64_t round = 0; replay != 0 ? round < 1 : elapsed() < budget; ++round) {
    for (size_t i = 0; i < selected.size(); ++i) {
      const Property& property = *selected[i];
      rc::detail::TestParams params;
      params.seed = replay != 0 ? replay : MixSeed(seed, round, i);
      params.maxSuccess = cases;
      rc::detail::TestMetadata metadata;
      metadata.id = property.name;
      metadata.description = property.name;
      const double t0 = elapsed();
      const rc::detail::TestResult result =
          rc::detail::checkTestable(property.check, metadata, params);
      seconds[i] += elapsed() - t0;
      rc::detail::SuccessResult success;
      if (result.match(success)) {
        done[i] += success.numSuccess;
        continue;
      }
      std::cout << "\nDIVERGENCE in property \"" << property.name << "\"\n  promise: "
                << property.promise << "\n";
      rc::detail::printResultMessage(result, std::cout);
      std::cout << "\n\nreplay: bazel run //fuzz:campaign -- --property='" << property.name
                << "' --replay_seed=" << params.seed << " --cases=" << cases << "\n";
      return 1;
    }
    ++rounds;
  }
  std::cout << "\n" << rounds << " rounds in " << elapsed() << " s\n";
  int64_t total = 0;
  for (size_t i = 0; i < selected.size(); ++i) {
    std::printf("  %-40s %8lld cases %8.1f s\n", selected[i]->name.c_str(),
                static_cast<long long>(done[i]), seconds[i]);
    total += done[i];
  }
  std::cout << "No divergence found in " << total << " cases.\n";
  return 0;
}

}  // namespace
}  // namespace concord::fuzz

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return concord::fuzz::Run();
}
