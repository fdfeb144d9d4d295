// The serialized form of a Graph: versioned text that carries everything a graph is (the
// constants' data bit for bit, every attribute) and that loads back with full validation.
//
//   ASSIGN_OR_RETURN(std::string text, SerializeGraph(g));
//   ASSIGN_OR_RETURN(Graph h, ParseGraph(text));  // SerializeGraph(h) == text
//
// Note [Serialized graph format]
// One record a line, each line ending in '\n':
//
//   concord-graph 1
//   name "affine"
//   input %0 float32[2, 3]
//   constant %1 float32[3] hex:0000803f0000004000004040
//   %2 = Mul(%0, %1) : float32[2, 3]
//   %3 = Sum(%2) {axes=[1], keepdims} : float32[2, 1]
//   return %3
//   end
//
//  - The first line names the format version (kGraphFormatVersion); a reader refuses any other.
//  - The name is C-escaped inside double quotes.
//  - `input` lines, then `constant` / `variable` lines (a variable is a constant captured from a
//    trainable value), then equations, then `return` with the output ids, then `end`. Ids are
//    written out and must be the dense ids of Note [Graph invariants] in graph.h.
//  - A constant's data is its bytes in little-endian order, two lowercase hex digits a byte
//    (bool bytes are 00 or 01).
//  - An equation is written as in Graph::ToText, except that its attributes are complete and exact:
//    every field of Attrs that differs from its default, in the order of the struct. Doubles (on,
//    off) are the shortest decimal that reads back to the same bits, or, for NaN, infinities and
//    -0.0, `0x` and the 16 hex digits of their bits.
//
// ParseGraph accepts exactly the texts SerializeGraph writes: it re-renders every line from what it
// parsed and rejects a line that differs, so a graph that loads serializes back to the same bytes
// (fuzz/graph_loader_fuzz.cc checks this on arbitrary input). Every equation's shape rule is re-run
// as its line is read, and the finished graph passes Graph::Verify before it is returned.
#ifndef CONCORD_AUTODIFF_GRAPH_IO_H_
#define CONCORD_AUTODIFF_GRAPH_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autodiff/graph.h"

namespace concord::autodiff {

// kGraphFormatVersion is the version SerializeGraph writes and the only one ParseGraph reads.
inline constexpr int kGraphFormatVersion = 1;

// SerializeGraph writes `graph` (which must verify) in the format of Note [Serialized graph
// format]. Unimplemented for what version 1 cannot hold: a Custom equation (a CustomGradient's
// functions are C++ code; tracing never records one), control flow (Cond, While, WhileGrad),
// whose subgraphs the format does not carry yet, and resources (a resource constant, which the
// graph reads when it runs, and AssignResource), which refer to live variables, not values.
absl::StatusOr<std::string> SerializeGraph(const Graph& graph);

// ParseGraph reads a serialized graph. Errors name the line and what is wrong: DataLoss for text
// that ends before its `end` line or constant data of the wrong length or with bad digits,
// InvalidArgument for everything else (an unknown version, primitive or dtype, a bad shape, an id
// used before it is defined or out of range, a shape rule that disagrees with the recorded specs,
// a line not in the canonical form, text after `end`, a Custom, control-flow or AssignResource
// primitive). It never aborts, whatever the input.
absl::StatusOr<Graph> ParseGraph(absl::string_view text);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_GRAPH_IO_H_
