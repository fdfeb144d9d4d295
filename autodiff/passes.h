// Graph passes: rewrites of a traced Graph that remove or merge work without changing a single
// bit of what the graph computes.
//
//   ASSIGN_OR_RETURN(Graph g, TraceGraph("f", specs, fn));
//   ASSIGN_OR_RETURN(Graph fast, OptimizeGraph(g, PassOptions{}));
//   // RunGraph(fast, inputs) == RunGraph(g, inputs), bitwise.
//
// Every pass takes a const Graph& and builds a new graph through Graph::AddInput, AddConstant and
// AddEquation, so ids stay dense and ordered; inputs keep their ids and order, outputs keep their
// order, and the result is verified (Note [Graph invariants] in graph.h) before it is returned.
// An error from a pass means a bug in the pass (the input graph is left as it was).
//
// Note [Graph passes]
// DESIGN.md decision 3: passes may remove and merge work but never reassociate floating point.
// Each pass below only decides *whether* an equation runs and *which* already-computed value an
// input reads; no pass changes what kernel runs on which bits, so results are bitwise identical:
//  - EliminateDeadCode drops equations and constants no output depends on. A dropped value is
//    never read, so it cannot change a kept one (but see the exceptions below).
//  - EliminateCommonSubexpressions keeps the first of two equations with the same primitive,
//    equal attributes (Attrs::operator==: doubles by their bits) and the same input ids, and
//    points readers of the second at the first's outputs. Kernels are deterministic functions of
//    their input bits and attributes (Note [Deterministic parallelism] in engine/threading.h), so
//    the second would have computed the same bits.
//  - FoldConstants runs an equation whose inputs are all constants once, at optimisation time,
//    with the same forward the interpreter would call (GetOpDef(p).forward), and makes its
//    outputs constants: the same kernel on the same bits, run earlier.
// Which equations the passes touch is deliberately narrow:
//  - Pure equations are those of the data-flow families (elementwise, reduction, movement,
//    linalg) and control flow (Cond, While, WhileGrad) whose subgraphs hold only pure equations;
//    Attrs::operator== compares subgraphs by identity, so only the same branches merge. Any other
//    primitive (those with side effects, such as assignments, and whatever family comes next) is
//    kept by EliminateDeadCode, never merged and never folded. Subgraphs are not optimised.
//  - EliminateDeadCode keeps a dead equation that may fail on its input values (Gather and
//    ScatterAdd with an out-of-range index, or a Cond holding one) or may not finish (While,
//    WhileGrad): the optimised graph fails wherever the unoptimised one fails, as eager code that
//    checks each result does.
//  - FoldConstants folds data-flow equations only (not control flow), and not MatMul and the
//    Conv2D primitives: their GEMMs go through OpenBLAS, whose bits can depend on the thread
//    count and the CPU model (docs/engine.md), so a folded product could differ from the one a
//    later run (or a serialized graph loaded on another machine) would compute. It does not fold
//    equations that read a constant captured from a trainable variable
//    (Graph::Constant::from_variable) or a resource read by reference at run time, so a value
//    that may change after tracing is never baked into a derived constant. It does not fold an equation any of whose outputs has more than
//    `max_folded_elements` elements (default 1M): constants live as long as the graph, and
//    folding a broadcast of a scalar, say, would turn 4 bytes into megabytes. An equation whose
//    forward fails at optimisation time is left in place, to fail at run time as before.
#ifndef CONCORD_AUTODIFF_PASSES_H_
#define CONCORD_AUTODIFF_PASSES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "autodiff/graph.h"

namespace concord::autodiff {

// FoldConstants does not fold results above this many elements (Note [Graph passes]).
inline constexpr int64_t kDefaultMaxFoldedElements = int64_t{1} << 20;

// PassOptions switches each pass of OptimizeGraph on or off.
struct PassOptions {
  bool eliminate_common_subexpressions = true;
  bool fold_constants = true;
  bool eliminate_dead_code = true;
  int64_t max_folded_elements = kDefaultMaxFoldedElements;
};

// EliminateDeadCode drops the equations and constants that no output depends on.
absl::StatusOr<Graph> EliminateDeadCode(const Graph& graph);

// EliminateCommonSubexpressions merges equations with the same primitive, equal attributes and
// the same inputs into the first of them.
absl::StatusOr<Graph> EliminateCommonSubexpressions(const Graph& graph);

// FoldConstants evaluates equations whose inputs are all constants and makes their outputs
// constants (new constants follow the existing ones; the constants it no longer reads stay until
// EliminateDeadCode). See Note [Graph passes] for what it leaves alone.
absl::StatusOr<Graph> FoldConstants(const Graph& graph,
                                    int64_t max_folded_elements = kDefaultMaxFoldedElements);

// OptimizeGraph runs the enabled passes in a fixed order: common subexpressions first (so equal
// work is folded once), then constant folding, then dead code (which removes what the other two
// left unread). With every pass off it returns a verified copy.
absl::StatusOr<Graph> OptimizeGraph(const Graph& graph, const PassOptions& options = {});

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_PASSES_H_
