// Fuzz target: arbitrary bytes are read as a serialized graph (autodiff/graph_io.h). The loader
// must answer every malformed text (bad versions, ids, dtypes, shapes, attributes, data lengths,
// shape-rule mismatches, truncation, trailing bytes) with InvalidArgument or DataLoss and a
// message, never a crash or a CHECK failure. A text it accepts must verify, and must be exactly
// what SerializeGraph writes for the loaded graph (the format is canonical; a version-1 text comes
// back with the current version's first line). A graph with unknown sizes is given sizes 1 and
// (2, 3, 2, 3) by SizeGraph, which may refuse them with InvalidArgument. A small accepted or sized
// graph is also run on zero inputs: the interpreter may refuse it with a status, never crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "autodiff/graph.h"
#include "autodiff/graph_io.h"
#include "autodiff/interpreter.h"
#include "engine/tensor.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "graph_loader_fuzz: %s\n", what);
  std::abort();
}

// Running is bounded: every value of the graph together holds at most this many elements.
constexpr int64_t kMaxRunElements = 1 << 14;

bool SmallEnoughToRun(const concord::autodiff::Graph& g) {
  int64_t total = 0;
  for (int64_t id = 0; id < g.num_values(); ++id) {
    total += g.spec(id).shape.num_elements();
    if (total > kMaxRunElements) return false;
  }
  return true;
}

bool FullyKnown(const concord::autodiff::Graph& g) {
  for (int64_t id = 0; id < g.num_values(); ++id) {
    if (!g.spec(id).shape.fully_known()) return false;
  }
  return true;
}

// RunIfSmall runs a graph without unknown sizes on zero inputs when it is small enough.
void RunIfSmall(const concord::autodiff::Graph& g) {
  using namespace concord::autodiff;
  if (!SmallEnoughToRun(g)) return;
  std::vector<concord::engine::Tensor> inputs;
  for (const TensorSpec& spec : g.input_specs()) {
    inputs.push_back(concord::engine::Tensor::Zeros(spec.shape, spec.dtype));
  }
  absl::StatusOr<std::vector<concord::engine::Tensor>> out = RunGraph(g, inputs);
  if (out.ok() && out->size() != g.outputs().size()) Fail("RunGraph lost outputs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concord::autodiff;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Graph> g = ParseGraph(text);
  if (!g.ok()) {
    const absl::StatusCode code = g.status().code();
    if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kDataLoss) {
      Fail("an error that is neither InvalidArgument nor DataLoss");
    }
    if (g.status().message().empty()) Fail("an error without a message");
    return 0;
  }
  if (!g->Verify().ok()) Fail("an accepted graph does not verify");
  absl::StatusOr<std::string> again = SerializeGraph(*g);
  if (!again.ok()) Fail("an accepted graph cannot be serialized");
  // A version-1 text serializes back as the current version; the rest of it is the same.
  absl::string_view body = text;
  const bool v1 = absl::ConsumePrefix(&body, "concord-graph 1\n");
  const std::string expected =
      v1 ? absl::StrCat("concord-graph ", kGraphFormatVersion, "\n", body) : std::string(text);
  if (*again != expected) Fail("an accepted text does not serialize back to itself");
  if (FullyKnown(*g)) {
    RunIfSmall(*g);
    return 0;
  }
  if (v1) Fail("a version-1 text loaded with unknown sizes");
  const std::vector<std::vector<int64_t>> sizes = {{1, 1, 1, 1}, {2, 3, 2, 3}};
  for (const std::vector<int64_t>& size : sizes) {
    absl::StatusOr<Graph> sized = SizeGraph(*g, size);
    if (!sized.ok()) {
      if (sized.status().code() != absl::StatusCode::kInvalidArgument) {
        Fail("SizeGraph failed with a code other than InvalidArgument");
      }
      continue;
    }
    if (!FullyKnown(*sized)) Fail("SizeGraph left an unknown size");
    RunIfSmall(*sized);
  }
  return 0;
}
