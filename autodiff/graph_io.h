// The serialized form of a Graph: versioned text that carries everything a graph is (the
// constants' data bit for bit, every attribute) and that loads back with full validation.
//
//   ASSIGN_OR_RETURN(std::string text, SerializeGraph(g));
//   ASSIGN_OR_RETURN(Graph h, ParseGraph(text));  // SerializeGraph(h) == text
//   ASSIGN_OR_RETURN(Graph sized, SizeGraph(h, 32));  // unknown sizes: size it, then RunGraph
//
// Note [Serialized graph format]
// One record a line, each line ending in '\n':
//
//   concord-graph 2
//   name "affine"
//   input %0 float32[2, 3]
//   constant %1 float32[3] hex:0000803f0000004000004040
//   %2 = Mul(%0, %1) : float32[2, 3]
//   %3 = Sum(%2) {axes=[1], keepdims} : float32[2, 1]
//   return %3
//   end
//
//  - The first line names the format version (see Versions below).
//  - The name is C-escaped inside double quotes.
//  - `input` lines, then `constant` / `variable` lines (a variable is a constant captured from a
//    trainable value), then equations, then `return` with the output ids, then `end`. Ids are
//    written out and must be the dense ids of Note [Graph invariants] in graph.h.
//  - A shape is written as Shape::ToString writes it. A dimension is a size, or an unknown one
//    (Note [Unknown dimensions] in engine/shape.h): `?`, `?b`, `?c`, `?d` for unknown sizes 0..3,
//    or a multiple of one, `2*?`, `?/2`, `3*?b/2`, reduced to lowest terms. An input spec, an
//    equation's output specs and a shape attribute (BroadcastTo, SumToShape, ReshapeTo's target)
//    may hold unknown dimensions; a constant is a concrete tensor, so its shape may not.
//  - A constant's data is its bytes in little-endian order, two lowercase hex digits a byte
//    (bool bytes are 00 or 01).
//  - An equation is written as in Graph::ToText, except that its attributes are complete and exact:
//    every field of Attrs that differs from its default, in the order of the struct. Doubles (on,
//    off) are the shortest decimal that reads back to the same bits, or, for NaN, infinities and
//    -0.0, `0x` and the 16 hex digits of their bits.
//
// Versions. SerializeGraph always writes kGraphFormatVersion (2). ParseGraph reads versions
// kOldestGraphFormatVersion (1) to kGraphFormatVersion and refuses any other, naming both.
//  - Version 1 holds only known sizes: a `?` in a version-1 text is refused, naming the line.
//  - Version 2 adds unknown dimensions; everything else is as in version 1, so a version-1 text
//    is a version-2 text with another first line, and a graph that loads from it serializes back
//    to the same bytes except for that line.
// Writing the oldest version that can hold a graph (1 when it has no unknown sizes) would let
// older builds read more files, but then a version-2 text without `?` could not be canonical, and
// the version would say what a graph uses rather than which format wrote it. A change to the
// format is a new version; a reader keeps reading the old ones.
//
// ParseGraph accepts exactly the texts SerializeGraph writes (and their version-1 forms): it
// re-renders every line from what it parsed and rejects a line that differs, so a graph that
// loads serializes back to the same bytes (fuzz/graph_loader_fuzz.cc checks this on arbitrary
// input). Every equation's shape rule is re-run as its line is read (InferSpecs, which runs it over
// the unknown sizes' stand-ins, Note [Shape rules over unknown dimensions] in op_def.cc), and the
// finished graph passes Graph::Verify before it is returned. A loaded graph with unknown sizes
// runs as a traced one does: SizeGraph(graph, sizes), then RunGraph.
#ifndef CONCORD_AUTODIFF_GRAPH_IO_H_
#define CONCORD_AUTODIFF_GRAPH_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autodiff/graph.h"

namespace concord::autodiff {

// kGraphFormatVersion is the version SerializeGraph writes; ParseGraph reads it and every version
// from kOldestGraphFormatVersion on (Note [Serialized graph format]).
inline constexpr int kGraphFormatVersion = 2;
inline constexpr int kOldestGraphFormatVersion = 1;

// SerializeGraph writes `graph` (which must verify) in the format of Note [Serialized graph
// format], unknown dimensions included. Unimplemented for what the format cannot hold: a Custom
// equation (a CustomGradient's functions are C++ code; tracing never records one), control flow
// (Cond, While, WhileGrad), whose subgraphs the format does not carry yet, resources (a resource
// constant, which the graph reads when it runs, and AssignResource), which refer to live
// variables, not values, and random primitives, whose seeds and stream keys it does not carry.
absl::StatusOr<std::string> SerializeGraph(const Graph& graph);

// ParseGraph reads a serialized graph. Errors name the line and what is wrong: DataLoss for text
// that ends before its `end` line or constant data of the wrong length or with bad digits,
// InvalidArgument for everything else (an unknown version, primitive or dtype, a bad shape or
// dimension, an unknown dimension in a constant or in a version-1 text, an id used before it is
// defined or out of range, a shape rule that disagrees with the recorded specs, a line not in the
// canonical form, text after `end`, a Custom, control-flow, random or AssignResource primitive).
// It never aborts, whatever the input.
absl::StatusOr<Graph> ParseGraph(absl::string_view text);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_GRAPH_IO_H_
