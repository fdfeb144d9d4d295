// Cond, While and WhileGrad: the user functions, the OpDefs, and the gradient graphs
// (Note [Control flow] in control_flow.h).
#include "autodiff/control_flow.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/graph.h"
#include "autodiff/interpreter.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/resource.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"

namespace concord::autodiff {
namespace {

std::string Specs(absl::Span<const TensorSpec> specs) {
  return absl::StrCat("(", absl::StrJoin(specs, ", ", [](std::string* out, const TensorSpec& s) {
                        absl::StrAppend(out, s.ToString());
                      }),
                      ")");
}

std::vector<Value> Failed(absl::Status status, size_t n) {
  return std::vector<Value>(std::max<size_t>(n, 1), Value::Error(std::move(status)));
}

// Check returns the first error among `values`, or OK.
absl::Status FirstError(absl::Span<const Value> values, absl::string_view op,
                        absl::string_view what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].defined()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " ", i, " is undefined"));
    }
    if (!values[i].ok()) return values[i].status();
  }
  return absl::OkStatus();
}

std::vector<TensorSpec> SpecsOf(absl::Span<const Value> values) {
  std::vector<TensorSpec> specs;
  for (const Value& v : values) specs.push_back(v.spec());
  return specs;
}

absl::Status CheckPredicateSpec(absl::string_view op, const TensorSpec& spec) {
  if (spec.dtype != engine::DType::kBool || spec.shape.rank() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": the predicate must be a bool scalar, got ", spec.ToString()));
  }
  return absl::OkStatus();
}

// FirstAssignment returns the first AssignResource equation in `g` or its subgraphs, or null.
const Equation* FirstAssignment(const Graph& g) {
  for (const Equation& eq : g.equations()) {
    if (HasSideEffects(eq.primitive)) return &eq;
    for (const std::shared_ptr<const Graph>& sub : eq.attrs.subgraphs) {
      if (const Equation* inner = FirstAssignment(*sub)) return inner;
    }
  }
  return nullptr;
}

// Trace traces `fn` as a subgraph named `name`, prefixing errors with `op`. A subgraph that
// assigns a resource is refused (Note [Control flow]): reads after the Cond or loop in the same
// trace would not see the assignment.
absl::StatusOr<std::shared_ptr<const Graph>> TraceSub(absl::string_view op, std::string name,
                                                      absl::Span<const TensorSpec> specs,
                                                      const TracedFn& fn) {
  absl::StatusOr<Graph> g = TraceGraph(std::move(name), specs, fn);
  if (!g.ok()) {
    return absl::Status(g.status().code(), absl::StrCat(op, ": ", g.status().message()));
  }
  if (const Equation* eq = FirstAssignment(*g)) {
    return absl::UnimplementedError(absl::StrCat(
        op, ": '", g->name(), "' assigns ",
        eq->attrs.resource != nullptr ? absl::StrCat("'", eq->attrs.resource->name(), "'")
                                      : std::string("a resource"),
        " (a variable, BatchNorm statistics, a model's step); assignments inside a traced Cond "
        "or WhileLoop are not supported yet. Assign outside the branch, or run it eagerly"));
  }
  return std::make_shared<const Graph>(*std::move(g));
}

std::string SubgraphName(absl::string_view suffix) {
  internal::TraceContext* t = internal::CurrentTrace();
  return absl::StrCat(t != nullptr ? t->name() : "eager", "/", suffix);
}

// ---- Vector-Jacobian graphs.

// VjpTarget combines outputs and their cotangents into one target and seed for
// GradientTape::Gradient. With one floating output it is that output and its cotangent; with
// several it is the sum of SumAll(out_i * g_i), whose gradient with respect to out_i is g_i
// exactly (a product with ones), so the backward pass below sees the same cotangents the eager
// tape would seed.
std::pair<Value, Value> VjpTarget(absl::Span<const Value> outs, absl::Span<const Value> cotangents) {
  std::vector<size_t> floating;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (engine::IsFloating(outs[i].dtype())) floating.push_back(i);
  }
  if (floating.empty()) return {Value(), Value()};
  if (floating.size() == 1) return {outs[floating[0]], cotangents[floating[0]]};
  Value total;
  for (size_t i : floating) {
    const Value term = SumAll(outs[i] * cotangents[i]);
    total = total.defined() ? total + Cast(term, total.dtype()) : term;
  }
  return {total, Value()};
}

// VjpOf runs `forward` under a tape watching the floating `inputs` and returns, for each input,
// the gradient of the outputs against `cotangents` (zeros for unconnected floating inputs,
// zeros of the input's spec for the others, so every result is defined).
std::vector<Value> VjpOf(const std::function<std::vector<Value>(absl::Span<const Value>)>& forward,
                         absl::Span<const Value> inputs, absl::Span<const Value> cotangents) {
  GradientTape tape;
  std::vector<Value> sources;
  for (const Value& v : inputs) {
    if (engine::IsFloating(v.dtype())) {
      tape.Watch(v);
      sources.push_back(v);
    }
  }
  const std::vector<Value> outs = forward(inputs);
  if (absl::Status s = FirstError(outs, "gradient", "output"); !s.ok()) {
    return Failed(std::move(s), inputs.size());
  }
  const auto [target, seed] = VjpTarget(outs, cotangents);
  std::vector<Value> grads;
  if (target.defined() && !sources.empty()) {
    absl::StatusOr<std::vector<Value>> g =
        tape.Gradient(target, sources, seed, UnconnectedGradients::kZero);
    if (!g.ok()) return Failed(g.status(), inputs.size());
    grads = *std::move(g);
  }
  std::vector<Value> result;
  size_t k = 0;
  for (const Value& v : inputs) {
    if (engine::IsFloating(v.dtype()) && k < grads.size()) {
      result.push_back(grads[k++]);
    } else {
      result.push_back(Full(v.spec(), 0.0));
    }
  }
  return result;
}

// VjpGraph traces the vector-Jacobian product of `g`: inputs (g's inputs, then one cotangent per
// output of g), outputs one gradient per input of g.
absl::StatusOr<std::shared_ptr<const Graph>> VjpGraph(const Graph& g) {
  std::vector<TensorSpec> specs = g.input_specs();
  const std::vector<TensorSpec> outs = g.output_specs();
  specs.insert(specs.end(), outs.begin(), outs.end());
  const size_t n = static_cast<size_t>(g.num_inputs());
  return TraceSub("Cond gradient", absl::StrCat(g.name(), "/vjp"), specs,
                  [&g, n](absl::Span<const Value> in) {
                    return VjpOf([&g](absl::Span<const Value> x) { return ReplayGraph(g, x); },
                                 in.subspan(0, n), in.subspan(n));
                  });
}

// Cotangents turns a gradient context's output gradients into defined values (zeros for "none").
std::vector<Value> Cotangents(const GradContext& ctx) {
  std::vector<Value> out;
  for (size_t i = 0; i < ctx.output_specs.size(); ++i) {
    if (i < ctx.output_grads.size() && ctx.output_grads[i].defined()) {
      out.push_back(ctx.output_grads[i]);
    } else {
      out.push_back(Value::Constant(
          engine::Tensor::Zeros(ctx.output_specs[i].shape, ctx.output_specs[i].dtype)));
    }
  }
  return out;
}

// ---- Cond

absl::StatusOr<std::vector<TensorSpec>> CondInfer(absl::Span<const TensorSpec> in,
                                                  const Attrs& attrs) {
  if (attrs.subgraphs.size() != 2 || !attrs.subgraphs[0] || !attrs.subgraphs[1]) {
    return absl::InvalidArgumentError("Cond: needs a then graph and an else graph");
  }
  if (in.empty()) return absl::InvalidArgumentError("Cond: needs a predicate");
  CONCORD_RETURN_IF_ERROR(CheckPredicateSpec("Cond", in[0]));
  const Graph& then_g = *attrs.subgraphs[0];
  const Graph& else_g = *attrs.subgraphs[1];
  const absl::Span<const TensorSpec> operands = in.subspan(1);
  for (const Graph* g : {&then_g, &else_g}) {
    if (absl::MakeConstSpan(g->input_specs()) != operands) {
      return absl::InvalidArgumentError(absl::StrCat("Cond: branch '", g->name(), "' takes ",
                                                     Specs(g->input_specs()), ", operands are ",
                                                     Specs(operands)));
    }
  }
  std::vector<TensorSpec> then_out = then_g.output_specs();
  if (then_out != else_g.output_specs()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Cond: the branches return different things: then ", Specs(then_out), ", else ",
        Specs(else_g.output_specs())));
  }
  return then_out;
}

absl::StatusOr<std::vector<engine::Tensor>> CondForward(absl::Span<const engine::Tensor> in,
                                                        const Attrs& attrs) {
  const bool take_then = in[0].data<bool>()[0];
  return RunGraph(*attrs.subgraphs[take_then ? 0 : 1], in.subspan(1));
}

std::vector<Value> CondGrad(const GradContext& ctx) {
  const size_t n = ctx.input_specs.size();
  absl::StatusOr<std::shared_ptr<const Graph>> then_vjp = VjpGraph(*ctx.attrs.subgraphs[0]);
  absl::StatusOr<std::shared_ptr<const Graph>> else_vjp = VjpGraph(*ctx.attrs.subgraphs[1]);
  if (!then_vjp.ok()) return Failed(then_vjp.status(), n);
  if (!else_vjp.ok()) return Failed(else_vjp.status(), n);
  Attrs attrs;
  attrs.subgraphs = {*then_vjp, *else_vjp};
  std::vector<Value> inputs(ctx.inputs.begin(), ctx.inputs.end());
  const std::vector<Value> cotangents = Cotangents(ctx);
  inputs.insert(inputs.end(), cotangents.begin(), cotangents.end());
  std::vector<Value> grads = Dispatch(Primitive::kCond, inputs, attrs);
  std::vector<Value> result(n);  // the predicate gets none
  for (size_t i = 1; i < n; ++i) {
    if (engine::IsFloating(ctx.input_specs[i].dtype)) {
      result[i] = grads.size() == n - 1 ? grads[i - 1] : grads[0];
    }
  }
  return result;
}

// ---- While and WhileGrad

absl::Status CheckLoopGraphs(absl::string_view op, absl::Span<const TensorSpec> vars,
                             const Attrs& attrs) {
  if (attrs.subgraphs.size() != 2 || !attrs.subgraphs[0] || !attrs.subgraphs[1]) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": needs a cond graph and a body graph"));
  }
  const Graph& cond = *attrs.subgraphs[0];
  const Graph& body = *attrs.subgraphs[1];
  if (absl::MakeConstSpan(cond.input_specs()) != vars ||
      absl::MakeConstSpan(body.input_specs()) != vars) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the loop variables are ", Specs(vars),
                                                   " but cond takes ", Specs(cond.input_specs()),
                                                   " and body takes ", Specs(body.input_specs())));
  }
  if (cond.outputs().size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": cond must return one value"));
  }
  CONCORD_RETURN_IF_ERROR(CheckPredicateSpec(op, cond.output_specs()[0]));
  if (absl::MakeConstSpan(body.output_specs()) != vars) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the body returns ",
                                                   Specs(body.output_specs()),
                                                   " but the loop variables are ", Specs(vars)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorSpec>> WhileInfer(absl::Span<const TensorSpec> in,
                                                   const Attrs& attrs) {
  CONCORD_RETURN_IF_ERROR(CheckLoopGraphs("While", in, attrs));
  return std::vector<TensorSpec>(in.begin(), in.end());
}

absl::StatusOr<std::vector<engine::Tensor>> WhileForward(absl::Span<const engine::Tensor> in,
                                                         const Attrs& attrs) {
  const Graph& cond = *attrs.subgraphs[0];
  const Graph& body = *attrs.subgraphs[1];
  const GraphPlan cond_plan = PlanGraph(cond);
  const GraphPlan body_plan = PlanGraph(body);
  std::vector<engine::Tensor> vars(in.begin(), in.end());
  while (true) {
    CONCORD_ASSIGN_OR_RETURN(std::vector<engine::Tensor> c, RunGraph(cond, vars, &cond_plan));
    if (!c[0].data<bool>()[0]) return vars;
    CONCORD_ASSIGN_OR_RETURN(vars, RunGraph(body, vars, &body_plan));
  }
}

std::vector<Value> WhileGrad(const GradContext& ctx) {
  Attrs attrs = ctx.attrs;
  std::vector<Value> inputs(ctx.inputs.begin(), ctx.inputs.end());
  const std::vector<Value> cotangents = Cotangents(ctx);
  inputs.insert(inputs.end(), cotangents.begin(), cotangents.end());
  std::vector<Value> grads = Dispatch(Primitive::kWhileGrad, inputs, attrs);
  std::vector<Value> result(ctx.input_specs.size());
  for (size_t i = 0; i < result.size(); ++i) {
    if (engine::IsFloating(ctx.input_specs[i].dtype)) {
      result[i] = grads.size() == result.size() ? grads[i] : grads[0];
    }
  }
  return result;
}

absl::StatusOr<std::vector<TensorSpec>> WhileGradInfer(absl::Span<const TensorSpec> in,
                                                       const Attrs& attrs) {
  if (in.size() % 2 != 0) {
    return absl::InvalidArgumentError("WhileGrad: expects the loop variables and one cotangent each");
  }
  const absl::Span<const TensorSpec> vars = in.subspan(0, in.size() / 2);
  CONCORD_RETURN_IF_ERROR(CheckLoopGraphs("WhileGrad", vars, attrs));
  if (in.subspan(in.size() / 2) != vars) {
    return absl::InvalidArgumentError(absl::StrCat("WhileGrad: cotangents ",
                                                   Specs(in.subspan(in.size() / 2)),
                                                   " do not match the loop variables ",
                                                   Specs(vars)));
  }
  return std::vector<TensorSpec>(vars.begin(), vars.end());
}

// The loop, replayed op by op under a tape: the same primitives in the same order as an eager
// WhileLoop under a tape, so the gradient has the same bits.
std::vector<Value> ReplayLoop(const Graph& cond, const Graph& body, absl::Span<const Value> init) {
  std::vector<Value> vars(init.begin(), init.end());
  while (true) {
    const std::vector<Value> c = ReplayGraph(cond, vars);
    if (!c[0].ok()) return Failed(c[0].status(), vars.size());
    if (!c[0].tensor().data<bool>()[0]) return vars;
    vars = ReplayGraph(body, vars);
    if (absl::Status s = FirstError(vars, "While", "loop variable"); !s.ok()) {
      return Failed(std::move(s), init.size());
    }
  }
}

absl::StatusOr<std::vector<engine::Tensor>> WhileGradForward(absl::Span<const engine::Tensor> in,
                                                             const Attrs& attrs) {
  const size_t n = in.size() / 2;
  std::vector<Value> vars;
  std::vector<Value> cotangents;
  for (size_t i = 0; i < n; ++i) vars.push_back(Value::Constant(in[i]));
  for (size_t i = n; i < in.size(); ++i) cotangents.push_back(Value::Constant(in[i]));
  const Graph& cond = *attrs.subgraphs[0];
  const Graph& body = *attrs.subgraphs[1];
  const std::vector<Value> grads = VjpOf(
      [&](absl::Span<const Value> x) { return ReplayLoop(cond, body, x); }, vars, cotangents);
  std::vector<engine::Tensor> out;
  for (const Value& g : grads) {
    CONCORD_ASSIGN_OR_RETURN(engine::Tensor t, g.ToTensor());
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

namespace internal {

void RegisterControlFlowOps(OpDef* table) {
  SetOpDef(table, Primitive::kCond, &CondInfer, &CondForward, &CondGrad,
           /*saves_inputs=*/true, /*saves_outputs=*/false);
  SetOpDef(table, Primitive::kWhile, &WhileInfer, &WhileForward, &WhileGrad,
           /*saves_inputs=*/true, /*saves_outputs=*/false);
  SetOpDef(table, Primitive::kWhileGrad, &WhileGradInfer, &WhileGradForward, nullptr,
           /*saves_inputs=*/false, /*saves_outputs=*/false);
}

}  // namespace internal

std::vector<Value> Cond(const Value& pred, const BranchFn& then_fn, const BranchFn& else_fn,
                        absl::Span<const Value> operands) {
  if (!pred.defined()) return Failed(absl::InvalidArgumentError("Cond: the predicate is undefined"), 1);
  if (!pred.ok()) return Failed(pred.status(), 1);
  if (absl::Status s = FirstError(operands, "Cond", "operand"); !s.ok()) {
    return Failed(std::move(s), 1);
  }
  if (absl::Status s = CheckPredicateSpec("Cond", pred.spec()); !s.ok()) {
    return Failed(std::move(s), 1);
  }
  if (!IsTracing()) {
    std::vector<Value> out = pred.tensor().data<bool>()[0] ? then_fn(operands) : else_fn(operands);
    if (out.empty()) return Failed(absl::InvalidArgumentError("Cond: the branch returned nothing"), 1);
    return out;
  }
  const std::vector<TensorSpec> specs = SpecsOf(operands);
  const auto then_g = TraceSub("Cond", SubgraphName("then"), specs, then_fn);
  if (!then_g.ok()) return Failed(then_g.status(), 1);
  const auto else_g = TraceSub("Cond", SubgraphName("else"), specs, else_fn);
  if (!else_g.ok()) return Failed(else_g.status(), 1);
  Attrs attrs;
  attrs.subgraphs = {*then_g, *else_g};
  std::vector<Value> inputs = {pred};
  inputs.insert(inputs.end(), operands.begin(), operands.end());
  return Dispatch(Primitive::kCond, inputs, attrs);
}

std::vector<Value> WhileLoop(const LoopCondFn& cond_fn, const LoopBodyFn& body_fn,
                             absl::Span<const Value> loop_vars) {
  if (loop_vars.empty()) {
    return Failed(absl::InvalidArgumentError("WhileLoop: needs at least one loop variable"), 1);
  }
  if (absl::Status s = FirstError(loop_vars, "WhileLoop", "loop variable"); !s.ok()) {
    return Failed(std::move(s), loop_vars.size());
  }
  const std::vector<TensorSpec> specs = SpecsOf(loop_vars);
  if (!IsTracing()) {
    std::vector<Value> vars(loop_vars.begin(), loop_vars.end());
    while (true) {
      const Value c = cond_fn(vars);
      if (!c.defined() || !c.ok()) {
        return Failed(c.defined() ? c.status()
                                  : absl::InvalidArgumentError("WhileLoop: cond returned undefined"),
                      vars.size());
      }
      if (absl::Status s = CheckPredicateSpec("WhileLoop", c.spec()); !s.ok()) {
        return Failed(std::move(s), vars.size());
      }
      if (!c.tensor().data<bool>()[0]) return vars;
      std::vector<Value> next = body_fn(vars);
      if (absl::Status s = FirstError(next, "WhileLoop", "loop variable"); !s.ok()) {
        return Failed(std::move(s), vars.size());
      }
      if (SpecsOf(next) != specs) {
        return Failed(absl::InvalidArgumentError(absl::StrCat(
                          "WhileLoop: the body returns ", Specs(SpecsOf(next)),
                          " but the loop variables are ", Specs(specs))),
                      vars.size());
      }
      vars = std::move(next);
    }
  }
  const auto cond_g = TraceSub("WhileLoop", SubgraphName("cond"), specs,
                               [&cond_fn](absl::Span<const Value> v) {
                                 return std::vector<Value>{cond_fn(v)};
                               });
  if (!cond_g.ok()) return Failed(cond_g.status(), loop_vars.size());
  const auto body_g = TraceSub("WhileLoop", SubgraphName("body"), specs, body_fn);
  if (!body_g.ok()) return Failed(body_g.status(), loop_vars.size());
  Attrs attrs;
  attrs.subgraphs = {*cond_g, *body_g};
  return Dispatch(Primitive::kWhile, loop_vars, attrs);
}

}  // namespace concord::autodiff
