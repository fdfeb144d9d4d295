// The graph interpreter: runs a Graph on concrete inputs with the same kernels eager mode uses.
//
//   ASSIGN_OR_RETURN(std::vector<engine::Tensor> out, RunGraph(graph, {x, y}));
//
// Note [Interpreter buffers]
// A GraphPlan, computed once per graph, records for each equation which values die there (their
// last use). The interpreter drops its reference to each such value right after the equation
// that last reads it, so the buffer returns to the caching allocator and the next kernel's
// output reuses it. Outputs and inputs are never dropped early (the caller holds inputs anyway).
// Eager code drops a temporary when its last Value handle goes out of scope, which in C++ is at
// the end of the full expression or block at the earliest; the interpreter drops it at its last
// use, so its peak live memory is at most eager's (interpreter_test measures both).
//
// Note [Elementwise fusion]
// An elementwise chain, such as the bias add, ReLU and dropout scaling after a MatMul or the
// chain of an optimizer update, writes each intermediate to memory and reads it back. PlanGraph
// finds runs of consecutive elementwise equations (one output each) whose outputs all have one
// shape S with S[0] >= 2, more than `tile_elements` and at least `min_fused_elements` elements
// (PlanOptions), and RunGraph runs such a chain
// one tile of rows of S at a time: it cuts the chain's inputs of shape [S[0], ...] into the rows
// of the tile (inputs that broadcast along dimension 0 are read whole), runs every equation of the
// chain on the tile with the same forward as always, and copies only the values read after the
// chain into their full-size buffers. Intermediates exist one tile at a time, in cache, and the
// tiles run in parallel.
// The bits are those of the unfused run: an elementwise kernel computes each element from the
// input elements that produce it with one per-element function, whatever the tensor's length or
// the element's position (Note [Elementwise determinism] in engine/elementwise_impl.h), and a
// tile is only a shorter tensor. An error is the one the unfused run reports: that of the first
// equation of the chain that fails on any tile. The graph itself is unchanged (its text and
// serialized form are those of the traced primitives); fusion is how it is run.
//
// Note [Failing equations]
// A graph call fails when any of its equations fails, whether or not an output reads the failed
// value. RunGraph stops at the first equation that fails, dead-code elimination keeps equations
// that can fail (passes.h), and ReplayGraph returns the first failure for every output, so a
// Function fails the same call the same way plainly, under a tape and with or without passes. An
// index out of range is a bug whether or not the Gather's result is used. Eager code carries the
// error in the failed Value and sees it where it reads that Value; a program that never reads it
// runs on eagerly, and fails once traced.

// RunGraph checks the inputs against the graph's input specs (an error names the graph, the input
// and both specs), runs each equation's forward, and returns the outputs. It does not record on
// tapes; ReplayGraph (below) runs through the dispatcher instead, so an active GradientTape
// records every op and gradients flow through the call.
#ifndef CONCORD_AUTODIFF_INTERPRETER_H_
#define CONCORD_AUTODIFF_INTERPRETER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/graph.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::autodiff {

// PlanOptions: how PlanGraph schedules a graph.
struct PlanOptions {
  // Run chains of elementwise equations tile by tile (Note [Elementwise fusion]).
  bool fuse_elementwise = true;
  // The elements of a chain's shape per tile. 16K float32 elements are 64 KiB: a tile of each
  // live value of a chain stays in a 256 KiB L2 cache.
  int64_t tile_elements = 16384;
  // A chain is fused only when its shape has at least this many elements (and more than one
  // tile). Below about 4 MiB per value the unfused chain's intermediates stay in cache anyway and
  // cutting and copying tiles costs more than it saves (docs/benchmarks.md, "Elementwise fusion").
  int64_t min_fused_elements = int64_t{1} << 20;
};

// FusedChain: consecutive elementwise equations that run together, tile by tile.
struct FusedChain {
  int64_t first = 0;              // index of the first equation
  int64_t count = 0;              // number of equations (at least 2)
  int64_t rows_per_tile = 0;      // rows of the chain's shape (its dimension 0) per tile
  std::vector<int64_t> inputs;    // ids the chain reads from outside, in order of first use
  std::vector<bool> sliced;       // per input: cut into row tiles, or read whole (broadcast)
  std::vector<int64_t> outputs;   // ids the chain makes that are read after it or returned
  // Per equation of the chain: the index in `outputs` of its output, or -1; and the ids whose tile
  // it reads last (or makes and nobody in the chain reads), dropped from the tile after it.
  std::vector<int> output_index;
  std::vector<std::vector<int64_t>> drop_after;
};

// GraphPlan: per equation, the ids whose last use it is, and the fused chains.
struct GraphPlan {
  std::vector<std::vector<int64_t>> release_after;
  std::vector<FusedChain> chains;
  // Per equation: the index in `chains` of the chain it starts, or -1.
  std::vector<int64_t> chain_at;
};

GraphPlan PlanGraph(const Graph& graph, const PlanOptions& options = {});

// CheckGraphInputs: the inputs match the graph's input specs in number, dtype and shape.
absl::Status CheckGraphInputs(const Graph& graph, absl::Span<const TensorSpec> inputs);

// RunGraph interprets `graph` (plan: PlanGraph(graph), or nullptr to compute it).
absl::StatusOr<std::vector<engine::Tensor>> RunGraph(const Graph& graph,
                                                     absl::Span<const engine::Tensor> inputs,
                                                     const GraphPlan* plan = nullptr);

// ReplayGraph dispatches each equation on Values, so active tapes record them. When an input or
// an equation fails, every output is that first error (Note [Failing equations]).
std::vector<Value> ReplayGraph(const Graph& graph, absl::Span<const Value> inputs);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_INTERPRETER_H_
