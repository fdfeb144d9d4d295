#include "autodiff/function.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/passes.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"

namespace concord::autodiff {
namespace {

std::string PlainToString(const PlainArg& arg) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "bool true" : "bool false"; }
    std::string operator()(int64_t i) const { return absl::StrCat("int64 ", i); }
    std::string operator()(double d) const { return absl::StrCat("double ", d); }
    std::string operator()(const std::string& s) const { return absl::StrCat("string \"", s, "\""); }
  };
  return std::visit(Visitor{}, arg);
}

// Key is an unambiguous cache key: doubles by their bits, strings with their length.
std::string Key(const FunctionSignature& s) {
  std::string key;
  for (const TensorSpec& spec : s.inputs) absl::StrAppend(&key, spec.ToString(), ";");
  for (const PlainArg& arg : s.plain) {
    absl::StrAppend(&key, arg.index(), ":");
    if (const double* d = std::get_if<double>(&arg)) {
      uint64_t bits;
      std::memcpy(&bits, d, sizeof bits);
      absl::StrAppend(&key, bits);
    } else if (const std::string* str = std::get_if<std::string>(&arg)) {
      absl::StrAppend(&key, str->size(), ":", *str);
    } else {
      absl::StrAppend(&key, PlainToString(arg));
    }
    absl::StrAppend(&key, ";");
  }
  absl::StrAppend(&key, s.training ? "T" : "F");
  return key;
}

}  // namespace

std::string FunctionSignature::ToString() const {
  std::vector<std::string> parts;
  for (const TensorSpec& s : inputs) parts.push_back(s.ToString());
  for (const PlainArg& a : plain) parts.push_back(PlainToString(a));
  parts.push_back(absl::StrCat("training=", training ? "true" : "false"));
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

std::string FunctionSignature::DescribeChange(const FunctionSignature& before) const {
  std::vector<std::string> changes;
  if (inputs.size() != before.inputs.size()) {
    changes.push_back(absl::StrCat("number of inputs: ", before.inputs.size(), " -> ",
                                   inputs.size()));
  } else {
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i] != before.inputs[i]) {
        changes.push_back(absl::StrCat("input ", i, ": ", before.inputs[i].ToString(), " -> ",
                                       inputs[i].ToString()));
      }
    }
  }
  if (plain.size() != before.plain.size()) {
    changes.push_back(absl::StrCat("number of plain arguments: ", before.plain.size(), " -> ",
                                   plain.size()));
  } else {
    for (size_t i = 0; i < plain.size(); ++i) {
      if (!(plain[i] == before.plain[i])) {
        changes.push_back(absl::StrCat("plain argument ", i, ": ", PlainToString(before.plain[i]),
                                       " -> ", PlainToString(plain[i])));
      }
    }
  }
  if (training != before.training) {
    changes.push_back(absl::StrCat("training: ", before.training ? "true" : "false", " -> ",
                                   training ? "true" : "false"));
  }
  return changes.empty() ? "nothing" : absl::StrJoin(changes, "; ");
}

Function::Function(Fn fn, FunctionOptions options)
    : fn_(std::move(fn)), options_(std::move(options)) {
  if (!options_.on_warning) {
    options_.on_warning = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  }
}

// MatchSignature checks a call's input specs against an explicit input signature and returns the
// unknown sizes they give, sizes[j] for unknown size j; empty when the signature has no unknown
// dimension, or when the call is itself traced with the same unknown dimensions.
absl::StatusOr<std::vector<int64_t>> Function::MatchSignature(
    const FunctionSignature& signature) const {
  const std::vector<TensorSpec>& fixed = *options_.input_signature;
  if (fixed.size() != signature.inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Function '", options_.name, "' takes ",
                                                   fixed.size(), " inputs by its signature, got ",
                                                   signature.inputs.size()));
  }
  std::vector<int64_t> sizes;  // 0: not given yet
  std::vector<std::string> size_from(engine::kMaxUnknownSizes);
  bool symbolic = false, concrete = false;
  for (size_t i = 0; i < fixed.size(); ++i) {
    const TensorSpec& want = fixed[i];
    const TensorSpec& got = signature.inputs[i];
    const auto mismatch = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Function '", options_.name, "': input ", i, " is ", got.ToString(),
          " but the input signature says ", want.ToString(), why));
    };
    if (want.dtype != got.dtype || want.shape.rank() != got.shape.rank()) return mismatch("");
    for (int d = 0; d < want.shape.rank(); ++d) {
      const int64_t w = want.shape.stand_in_dim(d), g = got.shape.stand_in_dim(d);
      if (!want.shape.unknown(d)) {
        if (got.shape.unknown(d) || g != w) return mismatch("");
        continue;
      }
      if (got.shape.unknown(d)) {
        // A call from a trace with unknown dimensions: the same unknown sizes only.
        if (!want.shape.same_dim(d, got.shape, d)) {
          return mismatch(" (another unknown size, or another multiple of it)");
        }
        symbolic = true;
        continue;
      }
      concrete = true;
      if (g < 1) return mismatch(" (an unknown size must be at least 1)");
      const size_t j = static_cast<size_t>(want.shape.unknown_size(d));
      if (sizes.size() <= j) sizes.resize(j + 1, 0);
      if (sizes[j] == 0) {
        sizes[j] = g;
        size_from[j] = absl::StrCat("input ", i, " axis ", d);
      } else if (g != sizes[j]) {
        return mismatch(absl::StrCat(" (each unknown size stands for one size, which ",
                                     size_from[j], " gives as ", sizes[j], ")"));
      }
    }
  }
  if (symbolic && concrete) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Function '", options_.name, "': a call inside a trace gives some unknown sizes of the "
        "input signature and leaves others unknown; pass all of them or none"));
  }
  for (int64_t& s : sizes) {
    if (s == 0) s = 1;  // an unknown size the signature skips (-2 without -1) is unused
  }
  return sizes;
}

absl::StatusOr<const Function::Entry*> Function::Lookup(const FunctionSignature& signature) {
  if (options_.input_signature.has_value()) {
    CONCORD_ASSIGN_OR_RETURN(const std::vector<int64_t> sizes, MatchSignature(signature));
    if (!sizes.empty()) return LookupSized(signature, sizes);
  }
  return LookupTraced(signature);
}

absl::StatusOr<const Function::Entry*> Function::LookupSized(const FunctionSignature& signature,
                                                            absl::Span<const int64_t> sizes) {
  const std::string key = Key(signature);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second.get();
  FunctionSignature polymorphic = signature;
  polymorphic.inputs = *options_.input_signature;
  CONCORD_ASSIGN_OR_RETURN(const Entry* traced, LookupTraced(polymorphic));
  absl::StatusOr<Graph> graph = SizeGraph(traced->graph, sizes);
  if (!graph.ok()) {
    return absl::Status(graph.status().code(),
                        absl::StrCat("Function '", options_.name, "' called with ",
                                     signature.ToString(), ": ", graph.status().message()));
  }
  ++sized_count_;
  return AddEntry(key, *std::move(graph));
}

absl::StatusOr<const Function::Entry*> Function::LookupTraced(const FunctionSignature& signature) {
  const std::string key = Key(signature);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second.get();

  const std::string change =
      signatures_.empty() ? "" : signature.DescribeChange(signatures_.back());
  if (options_.max_traces >= 0 && trace_count_ >= options_.max_traces) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Function '", options_.name, "' would trace a ", trace_count_ + 1,
        "th time, more than its maximum of ", options_.max_traces, " (changed: ", change, ")"));
  }
  const Fn& fn = fn_;
  const FunctionSignature& sig = signature;
  absl::StatusOr<Graph> graph =
      TraceGraph(options_.name, signature.inputs, [&fn, &sig](absl::Span<const Value> inputs) {
        return fn(FunctionArgs{inputs, sig.plain, sig.training});
      });
  ++trace_count_;
  signatures_.push_back(signature);
  if (!graph.ok()) {
    return absl::Status(graph.status().code(),
                        absl::StrCat("Function '", options_.name, "' traced for ",
                                     signature.ToString(), ": ", graph.status().message()));
  }
  if (trace_count_ > options_.warn_after_traces) {
    options_.on_warning(absl::StrCat("warning: Function '", options_.name, "' traced ",
                                     trace_count_, " times; this trace because ", change,
                                     ". Fix the input shapes or pass an input_signature."));
  }
  return AddEntry(key, *std::move(graph));
}

absl::StatusOr<const Function::Entry*> Function::AddEntry(const std::string& key, Graph graph) {
  auto entry = std::make_unique<Entry>();
  bool known = true;
  for (int64_t id = 0; id < graph.num_values(); ++id) {
    known = known && graph.spec(id).shape.fully_known();
  }
  if (!known) {
    // A graph with unknown dimensions only runs once sized (LookupSized), or replayed inside
    // another trace; it is neither optimized nor planned.
    entry->graph = std::move(graph);
  } else {
    if (options_.optimize) {
      CONCORD_ASSIGN_OR_RETURN(Graph optimized, OptimizeGraph(graph));  // Note [Graph passes]
      entry->unoptimized = std::move(graph);  // replayed under tapes (Note [Replay the traced graph])
      entry->graph = std::move(optimized);
    } else {
      entry->graph = std::move(graph);
    }
    entry->plan = PlanGraph(entry->graph, PlanOptions{.fuse_elementwise = options_.optimize});
  }
  for (const Graph::Constant& c : entry->graph.constants()) {
    entry->reads_trainable = entry->reads_trainable || (c.resource != nullptr && c.from_variable);
  }
  const Entry* result = entry.get();
  cache_.emplace(key, std::move(entry));
  return result;
}

absl::StatusOr<const Graph*> Function::GetGraph(const FunctionSignature& signature) {
  CONCORD_ASSIGN_OR_RETURN(const Entry* entry, Lookup(signature));
  return &entry->graph;
}

absl::StatusOr<std::vector<Value>> Function::Call(absl::Span<const Value> inputs,
                                                  absl::Span<const PlainArg> plain,
                                                  bool training) {
  FunctionSignature signature;
  signature.plain.assign(plain.begin(), plain.end());
  signature.training = training;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Function '", options_.name, "': input ", i, " is undefined"));
    }
    if (!inputs[i].ok()) return inputs[i].status();
    signature.inputs.push_back(inputs[i].spec());
  }
  CONCORD_ASSIGN_OR_RETURN(const Entry* entry, Lookup(signature));

  // Replay when the call must be differentiable: a tape records the inputs, or the graph reads
  // trainable variables (which every tape watches).
  bool replay = IsTracing();
  for (const Value& v : inputs) replay = replay || v.symbolic();
  if (!replay && !IsNoGrad()) {
    for (GradientTape* tape : internal::ActiveTapes()) {
      if (tape->ShouldRecord(inputs) || entry->reads_trainable) replay = true;
    }
  }
  if (replay) {
    const Graph& traced = entry->unoptimized ? *entry->unoptimized : entry->graph;
    std::vector<Value> out = ReplayGraph(traced, inputs);
    for (const Value& v : out) {
      if (!v.ok()) return v.status();
    }
    return out;
  }
  std::vector<engine::Tensor> tensors;
  tensors.reserve(inputs.size());
  for (const Value& v : inputs) tensors.push_back(v.tensor());
  CONCORD_ASSIGN_OR_RETURN(std::vector<engine::Tensor> results,
                           RunGraph(entry->graph, tensors, &entry->plan));
  std::vector<Value> out;
  out.reserve(results.size());
  for (engine::Tensor& t : results) out.push_back(Value::Constant(std::move(t)));
  return out;
}

}  // namespace concord::autodiff
