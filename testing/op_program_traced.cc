#include "testing/op_program_traced.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "autodiff/function.h"
#include "autodiff/graph.h"
#include "autodiff/graph_io.h"
#include "autodiff/interpreter.h"
#include "autodiff/ops.h"
#include "autodiff/passes.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/status.h"
#include "engine/tensor.h"
#include "models/variable.h"
#include "testing/op_program_traced_internal.h"
#include "testing/op_program_values.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {
namespace {

using autodiff::Graph;
using autodiff::PassOptions;
using autodiff::TensorSpec;
using autodiff::Value;
using engine::DType;
using engine::Tensor;
using End = OpProgramTracedReport::End;
using Tensors = absl::StatusOr<std::vector<Tensor>>;

}  // namespace

namespace internal {

// ---- How the leaves reach the traced functions.

// TracedRoleOf splits the leaves without a generator, so the check is a function of the program:
// rotating through input, variable and constant, with the rotation and (for odd step counts) the
// absence of variables depending on the step count. Programs without variables serialize, so
// about half the programs also check the graph file format.
TracedLeaf TracedRoleOf(const OpProgram& program, size_t leaf) {
  const size_t n = program.steps.size();
  switch ((leaf + n) % 3) {
    case 0:
      return TracedLeaf::kInput;
    case 1:
      return n % 2 == 0 ? TracedLeaf::kVariable : TracedLeaf::kConstant;
    default:
      return TracedLeaf::kConstant;
  }
}


absl::StatusOr<TracedSetup> MakeTracedSetup(const OpProgram& program,
                                            TracedLeaf (*role_of)(const OpProgram&, size_t)) {
  TracedSetup s;
  for (size_t j = 0; j < program.leaves.size(); ++j) {
    const Tensor& leaf = program.leaves[j];
    s.roles.push_back(role_of(program, j));
    s.input_of_leaf.push_back(-1);
    if (s.roles.back() == TracedLeaf::kInput) {
      s.captured.emplace_back();
      s.input_of_leaf.back() = static_cast<int>(s.inputs.size());
      s.input_specs.push_back(autodiff::SpecOf(leaf));
      s.inputs.push_back(leaf);
    } else if (s.roles.back() == TracedLeaf::kConstant) {
      s.captured.push_back(Value::Constant(leaf));
    } else {
      CONCORD_ASSIGN_OR_RETURN(models::Variable v,
                               models::Variable::Create(absl::StrCat("leaf_", j), leaf,
                                                        engine::IsFloating(leaf.dtype())));
      s.captured.push_back(v.value());
      s.variables.push_back(std::move(v));
    }
  }
  return s;
}

// The program's leaves as Values: the captured ones, or `in` (symbolic or concrete inputs).
std::vector<Value> Leaves(const TracedSetup& s, absl::Span<const Value> in) {
  std::vector<Value> leaves;
  for (size_t j = 0; j < s.captured.size(); ++j) {
    leaves.push_back(s.input_of_leaf[j] < 0 ? s.captured[j] : in[s.input_of_leaf[j]]);
  }
  return leaves;
}

std::vector<Value> Concrete(const TracedSetup& s) {
  std::vector<Value> in;
  for (const Tensor& t : s.inputs) in.push_back(Value::Constant(t));
  return in;
}

// ---- The two functions that are traced, and what their outputs are called.

// ForwardFn: the program's step values (all, or only the last), or one error value.
std::vector<Value> ForwardFn(const OpProgram& program, const TracedSetup& s, bool last_only,
                             absl::Span<const Value> in) {
  absl::StatusOr<std::vector<Value>> values = RunOpProgramOnValues(program, Leaves(s, in));
  if (!values.ok()) return {Value::Error(values.status())};
  if (last_only && !values->empty()) return {values->back()};
  return *std::move(values);
}

// GradientFn: SumAll of the last floating step value, and its gradient with respect to every
// floating leaf (watched; a trainable variable is watched anyway), or one error value.
std::vector<Value> GradientFn(const OpProgram& program, const TracedSetup& s,
                              absl::Span<const Value> in) {
  autodiff::GradientTape tape;
  const std::vector<Value> leaves = Leaves(s, in);
  std::vector<Value> sources;
  for (const Value& v : leaves) {
    if (!engine::IsFloating(v.spec().dtype)) continue;
    tape.Watch(v);
    sources.push_back(v);
  }
  absl::StatusOr<std::vector<Value>> values = RunOpProgramOnValues(program, leaves);
  if (!values.ok()) return {Value::Error(values.status())};
  Value last;
  for (const Value& v : *values) {
    if (engine::IsFloating(v.spec().dtype)) last = v;
  }
  if (!last.defined()) return {Value::Error(absl::InvalidArgumentError("no floating value"))};
  const Value target = autodiff::SumAll(last);
  absl::StatusOr<std::vector<Value>> grads =
      tape.Gradient(target, sources, Value(), autodiff::UnconnectedGradients::kZero);
  if (!grads.ok()) return {Value::Error(grads.status())};
  std::vector<Value> out = {target};
  out.insert(out.end(), grads->begin(), grads->end());
  return out;
}


// The index of the last floating value in `values`, or -1.
int LastFloating(const std::vector<Tensor>& values) {
  int last = -1;
  for (int i = 0; i < static_cast<int>(values.size()); ++i) {
    if (engine::IsFloating(values[i].dtype())) last = i;
  }
  return last;
}

Subject ForwardSubject(const OpProgram& program, const TracedSetup& s, bool last_only) {
  const int first = last_only ? static_cast<int>(program.steps.size()) - 1 : 0;
  return {"values",
          [&program, &s, last_only](absl::Span<const Value> in) {
            return ForwardFn(program, s, last_only, in);
          },
          [&program, first](int i) { return DescribeStep(program, first + i); }};
}

// The gradient's outputs: SumAll(v<last>), then d/d leaf j for each floating leaf j (which
// step reads it).
Subject GradientSubject(const OpProgram& program, const TracedSetup& s, int last) {
  std::vector<std::string> names = {absl::StrCat("SumAll(v", last, ")")};
  for (size_t j = 0; j < program.leaves.size(); ++j) {
    if (!engine::IsFloating(program.leaves[j].dtype())) continue;
    std::string step = "?";
    for (size_t i = 0; i < program.steps.size() && step == "?"; ++i) {
      const OpStep& st = program.steps[i];
      if (st.kind == OpKind::kInput && st.a == static_cast<int>(j)) step = absl::StrCat(i);
    }
    names.push_back(absl::StrCat("d SumAll(v", last, ") / d leaf ", j, " (v", step, ")"));
  }
  return {"gradients",
          [&program, &s](absl::Span<const Value> in) { return GradientFn(program, s, in); },
          [names](int i) { return i < static_cast<int>(names.size()) ? names[i] : "?"; }};
}

// ---- Comparing one traced run with the eager one.

Tensors ToTensors(const absl::StatusOr<std::vector<Value>>& values) {
  if (!values.ok()) return values.status();
  std::vector<Tensor> out;
  for (const Value& v : *values) {
    if (!v.ok()) return v.status();
    out.push_back(v.tensor());
  }
  return out;
}

}  // namespace internal

namespace {

using namespace internal;  // NOLINT: the helpers shared with property 15

// CompareRun is "" when `traced` matches `eager` (bitwise, or both failed with a message),
// else how they differ.
std::string CompareRun(const Subject& subject, const Tensors& traced, const Tensors& eager) {
  if (!eager.ok()) {
    if (traced.ok()) {
      return absl::StrCat("succeeds where eager fails with ", eager.status().ToString());
    }
    if (traced.status().message().empty()) return "fails with an empty message";
    return "";
  }
  if (!traced.ok()) return absl::StrCat("fails where eager succeeds: ", traced.status().ToString());
  if (traced->size() != eager->size()) {
    return absl::StrCat(traced->size(), " outputs, eager ", eager->size());
  }
  for (size_t i = 0; i < traced->size(); ++i) {
    const std::string d = AgreementDiff((*traced)[i], (*eager)[i]);
    if (!d.empty()) return absl::StrCat(subject.output_name(static_cast<int>(i)), ": ", d);
  }
  return "";
}

// Every subset of the three passes, as PassOptions (index 0: none, 7: all).
std::vector<PassOptions> AllPassSubsets() {
  std::vector<PassOptions> out;
  for (int mask = 0; mask < 8; ++mask) {
    PassOptions o;
    o.eliminate_common_subexpressions = (mask & 1) != 0;
    o.fold_constants = (mask & 2) != 0;
    o.eliminate_dead_code = (mask & 4) != 0;
    out.push_back(o);
  }
  return out;
}

std::string Describe(const PassOptions& o) {
  return absl::StrCat("passes {cse=", o.eliminate_common_subexpressions, " fold=", o.fold_constants,
                      " dce=", o.eliminate_dead_code, "}");
}

// Fail is the kInternal status of a broken promise, with the graphs involved.
absl::Status Fail(const Subject& subject, const std::string& where, const std::string& what,
                  const Graph* traced = nullptr, const Graph* optimized = nullptr) {
  std::string message = absl::StrCat(subject.name, " traced with ", where, ": ", what);
  if (traced != nullptr) absl::StrAppend(&message, "\ntraced graph:\n", traced->ToText());
  if (optimized != nullptr) absl::StrAppend(&message, "optimized:\n", optimized->ToText());
  return absl::InternalError(message);
}

bool ReadsResource(const Graph& g) {
  for (const Graph::Constant& c : g.constants()) {
    if (c.resource != nullptr) return true;
  }
  return false;
}

// CheckRoundTrip: `g` serializes (unless it reads a resource, which the format cannot hold),
// parses back to the same text and runs to the same result as eager.
absl::Status CheckRoundTrip(const Subject& subject, const std::string& where, const Graph& g,
                            const TracedSetup& s, const Tensors& eager, bool& round_tripped) {
  const absl::StatusOr<std::string> text = autodiff::SerializeGraph(g);
  if (!text.ok()) {
    if (text.status().code() == absl::StatusCode::kUnimplemented && ReadsResource(g)) {
      return absl::OkStatus();
    }
    return Fail(subject, where, absl::StrCat("SerializeGraph: ", text.status().ToString()), &g);
  }
  const absl::StatusOr<Graph> parsed = autodiff::ParseGraph(*text);
  if (!parsed.ok()) {
    return Fail(subject, where, absl::StrCat("ParseGraph: ", parsed.status().ToString()), &g);
  }
  const absl::StatusOr<std::string> again = autodiff::SerializeGraph(*parsed);
  if (!again.ok() || *again != *text || parsed->ToText() != g.ToText()) {
    return Fail(subject, where, "the parsed graph differs from the serialized one", &g, &*parsed);
  }
  round_tripped = true;
  const std::string diff = CompareRun(subject, autodiff::RunGraph(*parsed, s.inputs), eager);
  if (!diff.empty()) return Fail(subject, where + ", serialized and parsed", diff, &g);
  return absl::OkStatus();
}

// CheckPasses: OptimizeGraph(g, o) is a verified graph with the same inputs and outputs that runs
// to the eager result, has no more equations than `g` and round-trips.
absl::Status CheckPasses(const Subject& subject, const PassOptions& o, const Graph& g,
                         const TracedSetup& s, const Tensors& eager, OpProgramTracedReport& report) {
  const std::string where = Describe(o);
  const absl::StatusOr<Graph> opt = autodiff::OptimizeGraph(g, o);
  if (!opt.ok()) return Fail(subject, where, opt.status().ToString(), &g);
  if (const absl::Status v = opt->Verify(); !v.ok()) {
    return Fail(subject, where, absl::StrCat("does not verify: ", v.ToString()), &g, &*opt);
  }
  if (opt->num_inputs() != g.num_inputs() || opt->outputs().size() != g.outputs().size()) {
    return Fail(subject, where, "changes the number of inputs or outputs", &g, &*opt);
  }
  // Bits first: a pass that rewrites arithmetic is reported at the value it changes.
  const std::string diff = CompareRun(subject, autodiff::RunGraph(*opt, s.inputs), eager);
  if (!diff.empty()) return Fail(subject, where, diff, &g, &*opt);
  // The same graph with its elementwise chains fused into tiles of two elements, so that the
  // small shapes of these programs fuse too (Note [Elementwise fusion] in interpreter.h).
  const autodiff::GraphPlan fused = autodiff::PlanGraph(
      *opt, {.fuse_elementwise = true, .tile_elements = 2, .min_fused_elements = 0});
  report.fused_chains |= !fused.chains.empty();
  const std::string fused_diff =
      CompareRun(subject, autodiff::RunGraph(*opt, s.inputs, &fused), eager);
  if (!fused_diff.empty()) {
    return Fail(subject, where + ", elementwise chains fused in tiles of 2 elements", fused_diff,
                &g, &*opt);
  }
  if (opt->equations().size() > g.equations().size()) {
    return Fail(subject, where,
                absl::StrCat("adds work: ", opt->equations().size(), " equations, traced ",
                             g.equations().size()),
                &g, &*opt);
  }
  if (opt->equations().size() < g.equations().size()) {
    const int on = o.eliminate_common_subexpressions + o.fold_constants + o.eliminate_dead_code;
    report.cse_removed_work |= on == 1 && o.eliminate_common_subexpressions;
    report.folding_removed_work |= on == 1 && o.fold_constants;
    report.dce_removed_work |= on == 1 && o.eliminate_dead_code;
  }
  return CheckRoundTrip(subject, where, *opt, s, eager, report.round_tripped);
}

// CheckFunction: autodiff::Function, optimising or not, gives the eager result.
absl::Status CheckFunction(const Subject& subject, bool optimize, const TracedSetup& s,
                           const Tensors& eager) {
  const autodiff::TracedFn& fn = subject.fn;
  autodiff::Function f([&fn](const autodiff::FunctionArgs& a) { return fn(a.inputs); },
                       {.name = subject.name, .optimize = optimize});
  const std::string diff = CompareRun(subject, ToTensors(f.Call(Concrete(s))), eager);
  if (diff.empty()) return absl::OkStatus();
  return Fail(subject, absl::StrCat("Function (optimize=", optimize, ")"), diff);
}

// CheckSubject traces `subject` and checks every way of running it against `eager`.
absl::Status CheckSubject(const Subject& subject, const TracedSetup& s, const Tensors& eager,
                          OpProgramTracedReport& report, End& end) {
  const absl::StatusOr<Graph> g = autodiff::TraceGraph(subject.name, s.input_specs, subject.fn);
  if (!g.ok()) {
    if (eager.ok()) return Fail(subject, "TraceGraph", g.status().ToString());
    if (g.status().message().empty()) return Fail(subject, "TraceGraph", "an empty message");
    end = End::kFailsAtTraceTime;
    return absl::OkStatus();
  }
  if (const absl::Status v = g->Verify(); !v.ok()) {
    return Fail(subject, "TraceGraph", absl::StrCat("does not verify: ", v.ToString()), &*g);
  }
  for (const PassOptions& o : AllPassSubsets()) {
    CONCORD_RETURN_IF_ERROR(CheckPasses(subject, o, *g, s, eager, report));
  }
  for (const bool optimize : {true, false}) {
    CONCORD_RETURN_IF_ERROR(CheckFunction(subject, optimize, s, eager));
  }
  end = eager.ok() ? End::kEagerSucceeds : End::kFailsAtRunTime;
  return absl::OkStatus();
}

// ---- Generation.

// WithRepeats appends copies of up to two steps (a copy reads the same values, so it computes
// the same bits): work for common-subexpression elimination. Sometimes it also appends the
// Softmax of one value along two random axes and their sum: equations with the same input and
// output specs whose attributes may differ, which must not be merged.
OpProgram WithRepeats(OpProgram p) {
  if (p.steps.empty()) return p;
  const int repeats = *rc::gen::resize(100, rc::gen::inRange(0, 3));
  const int n = static_cast<int>(p.steps.size());
  for (int r = 0; r < repeats; ++r) {
    p.steps.push_back(p.steps[*rc::gen::resize(100, rc::gen::inRange(0, n))]);
  }
  const Tensors values = RunOpProgram(p);
  if (!values.ok() || !*rc::gen::arbitrary<bool>()) return p;
  std::vector<int> matrices;
  for (int i = 0; i < static_cast<int>(values->size()); ++i) {
    const Tensor& v = (*values)[i];
    if (engine::IsFloating(v.dtype()) && v.shape().rank() >= 2) matrices.push_back(i);
  }
  if (matrices.empty()) return p;
  const int v = *rc::gen::elementOf(matrices);
  const int64_t rank = (*values)[v].shape().rank();
  const int first = static_cast<int>(p.steps.size());
  for (int k = 0; k < 2; ++k) {
    OpStep s;
    s.kind = OpKind::kSoftmax;
    s.a = v;
    s.ints = {*rc::gen::resize(100, rc::gen::inRange<int64_t>(0, rank))};
    p.steps.push_back(s);
  }
  OpStep sum;
  sum.kind = OpKind::kAdd;
  sum.a = first;
  sum.b = first + 1;
  p.steps.push_back(sum);
  return p;
}

}  // namespace

const char* EndName(End end) {
  switch (end) {
    case End::kEagerSucceeds:
      return "eager succeeds";
    case End::kFailsAtTraceTime:
      return "fails at trace time";
    case End::kFailsAtRunTime:
      return "fails at run time";
  }
  return "?";
}

absl::Status CheckOpProgramTraced(const OpProgram& program, OpProgramTracedReport* report) {
  OpProgramTracedReport local;
  OpProgramTracedReport& r = report != nullptr ? *report : local;
  r = OpProgramTracedReport();
  CONCORD_ASSIGN_OR_RETURN(const TracedSetup s, MakeTracedSetup(program, TracedRoleOf));
  r.leaves = s.roles;
  // Outputs of only the last value leave dead code for the passes; all values, none.
  const bool last_only = program.leaves.size() % 2 == 0;
  const Subject values = ForwardSubject(program, s, last_only);
  const Tensors eager = ToTensors(values.fn(Concrete(s)));
  CONCORD_RETURN_IF_ERROR(CheckSubject(values, s, eager, r, r.end));
  if (!eager.ok()) return absl::OkStatus();
  const Tensors all = ToTensors(ForwardFn(program, s, /*last_only=*/false, Concrete(s)));
  const int last = all.ok() ? LastFloating(*all) : -1;
  if (last < 0) return absl::OkStatus();
  const Subject gradients = GradientSubject(program, s, last);
  End gradient_end = End::kEagerSucceeds;
  return CheckSubject(gradients, s, ToTensors(gradients.fn(Concrete(s))), r, gradient_end);
}

rc::Gen<OpProgram> GenOpProgramForTracing() {
  return rc::gen::exec([] {
    OpProgramOptions options;
    options.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
    return WithRepeats(*GenOpProgram(options));
  });
}

}  // namespace concord::testing
