#include "autodiff/trace.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {

namespace internal {
namespace {

thread_local TraceContext* current_trace = nullptr;

int64_t NextTraceSerial() {
  static std::atomic<int64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// OnUnknownDimRead is the engine's UnknownDimReadHook while a trace runs on this thread.
void OnUnknownDimRead(const engine::Shape& shape, int axis, const char* accessor) {
  if (current_trace != nullptr) current_trace->UnknownDimRead(shape, axis, accessor);
}

std::string Producer(const Value& v) {
  const int p = v.node()->producer;
  if (p < 0) return "an input of the traced function";
  return absl::StrCat(PrimitiveName(static_cast<Primitive>(p)));
}

}  // namespace

TraceContext* CurrentTrace() { return current_trace; }

TraceContext::TraceContext(std::string name)
    : name_(std::move(name)),
      serial_(NextTraceSerial()),
      outer_tapes_(ActiveTapes().size()),
      previous_(current_trace) {
  current_trace = this;
  previous_hook_ = engine::internal::SetUnknownDimReadHook(&OnUnknownDimRead);
}

TraceContext::~TraceContext() {
  engine::internal::SetUnknownDimReadHook(previous_hook_);
  current_trace = previous_;
  for (auto it = on_finish_.rbegin(); it != on_finish_.rend(); ++it) (*it)();
}

Value TraceContext::AddInput(TensorSpec spec) {
  Value v = Value::Symbolic(spec, serial_, /*producer=*/-1);
  input_ids_.push_back(v.id());
  input_specs_.push_back(std::move(spec));
  return v;
}

absl::Status TraceContext::Use(const Value& v, absl::string_view op, size_t index) {
  if (v.symbolic()) {
    if (v.node()->trace != serial_) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": input ", index, " (", v.spec().ToString(), ") is a traced value of another ",
          "function, or of a trace that has ended, used while tracing '", name_,
          "'; pass it to this function as an argument instead of capturing it"));
    }
    return absl::OkStatus();
  }
  if (!capture_index_.contains(v.id())) {
    capture_index_.emplace(v.id(), captures_.size());
    captures_.push_back(v);
  }
  return absl::OkStatus();
}

void TraceContext::Record(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs,
                          absl::InlinedVector<Value, 1>* out) {
  const auto fail = [&](absl::Status status) {
    out->assign(1, Value::Error(std::move(status)));
  };
  if (p == Primitive::kCustom) {
    return fail(absl::UnimplementedError(absl::StrCat(
        "CustomGradient cannot be traced (its functions cannot be part of a graph); call it "
        "outside the traced function '", name_, "'")));
  }
  Equation eq;
  eq.primitive = p;
  eq.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (absl::Status s = Use(inputs[i], PrimitiveName(p), i); !s.ok()) return fail(std::move(s));
    eq.input_ids.push_back(inputs[i].id());
    eq.input_specs.push_back(inputs[i].spec());
  }
  absl::StatusOr<std::vector<TensorSpec>> specs = InferSpecs(p, eq.input_specs, attrs);
  if (!specs.ok()) return fail(specs.status());
  out->clear();
  for (TensorSpec& s : *specs) {
    Value v = Value::Symbolic(s, serial_, static_cast<int>(p));
    eq.output_ids.push_back(v.id());
    eq.output_specs.push_back(std::move(s));
    out->push_back(std::move(v));
  }
  staged_.Append(std::move(eq));
}

absl::Status TraceContext::HostRead(const Value& v) {
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      "tracing '", name_, "': the value of ", v.spec().ToString(), " (made by ", Producer(v),
      ") was read on the host, which a trace cannot do: the graph would bake in this one "
      "value. Branch with Cond, loop with WhileLoop, or select elementwise with Where"));
  if (error_.ok()) error_ = status;
  return status;
}

void TraceContext::UnknownDimRead(const engine::Shape& shape, int axis, const char* accessor) {
  if (!error_.ok()) return;
  const std::string where =
      staged_.empty() ? "before the first op"
                      : absl::StrCat("after op ", staged_.size(), " (",
                                     PrimitiveName(staged_[staged_.size() - 1].primitive), ")");
  error_ = absl::FailedPreconditionError(absl::StrCat(
      "tracing '", name_, "': dimension ", axis, " of ", shape.ToString(),
      " depends on the unknown size of the input signature, but the traced code read it as a "
      "number (Shape::", accessor, ") ", where, "; a graph for every size cannot bake in one "
      "size. Take sizes from tensors instead (Reshape with -1, Mean, SumToShape with the shape "
      "itself), or give the input signature concrete sizes"));
}

absl::StatusOr<Graph> TraceContext::Finish(absl::Span<const Value> outputs) {
  if (!error_.ok()) return error_;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tracing '", name_, "': output ", i, " is undefined"));
    }
    if (!outputs[i].ok()) return outputs[i].status();
    CONCORD_RETURN_IF_ERROR(Use(outputs[i], "the function's return", i));
  }
  Graph graph(name_);
  absl::flat_hash_map<int64_t, int64_t> local;  // Value id -> graph id
  for (size_t i = 0; i < input_ids_.size(); ++i) {
    local[input_ids_[i]] = graph.AddInput(input_specs_[i]);
  }
  for (const Value& c : captures_) {
    local[c.id()] = graph.AddConstant(c.tensor(), c.trainable(), c.node()->resource);
  }
  for (const Equation& staged : staged_) {
    Equation eq;
    eq.primitive = staged.primitive;
    eq.attrs = staged.attrs;
    eq.input_specs = staged.input_specs;
    eq.output_specs = staged.output_specs;
    for (int64_t id : staged.input_ids) eq.input_ids.push_back(local.at(id));
    const int64_t first = graph.AddEquation(std::move(eq));
    for (size_t j = 0; j < staged.output_ids.size(); ++j) {
      local[staged.output_ids[j]] = first + static_cast<int64_t>(j);
    }
  }
  std::vector<int64_t> out_ids;
  for (const Value& v : outputs) out_ids.push_back(local.at(v.id()));
  graph.SetOutputs(std::move(out_ids));
  CONCORD_RETURN_IF_ERROR(graph.Verify());
  return graph;
}

absl::Status ReportHostRead(const Value& v) {
  for (TraceContext* t = current_trace; t != nullptr; t = t->previous()) {
    if (t->serial() == v.node()->trace) return t->HostRead(v);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the value of a traced ", v.spec().ToString(),
                   " was read after its trace ended; traced values exist only inside the "
                   "function being traced"));
}

}  // namespace internal

bool IsTracing() { return internal::CurrentTrace() != nullptr; }

absl::StatusOr<Graph> TraceGraph(std::string name, absl::Span<const TensorSpec> input_specs,
                                 const TracedFn& fn) {
  internal::TraceContext trace(std::move(name));
  std::vector<Value> inputs;
  inputs.reserve(input_specs.size());
  for (const TensorSpec& s : input_specs) inputs.push_back(trace.AddInput(s));
  const std::vector<Value> outputs = fn(inputs);
  return trace.Finish(outputs);
}

}  // namespace concord::autodiff
