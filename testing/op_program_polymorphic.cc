#include "testing/op_program_polymorphic.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "autodiff/function.h"
#include "autodiff/graph.h"
#include "autodiff/ops.h"
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
using autodiff::TensorSpec;
using autodiff::Value;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using SizeEnd = OpProgramPolymorphicReport::SizeEnd;
using Tensors = absl::StatusOr<std::vector<Tensor>>;
using internal::ForwardFn;
using internal::ForwardSubject;
using internal::GradientSubject;
using internal::Subject;
using internal::ToTensors;

// ---- How the leaves reach the traced functions.

// RoleOf is property 6's split (TracedRoleOf), except that leaf 0 — the one whose leading size is
// the batch — is always an input.
TracedLeaf RoleOf(const OpProgram& program, size_t leaf) {
  return leaf == 0 ? TracedLeaf::kInput : internal::TracedRoleOf(program, leaf);
}

// Resized gives `t` (whose axis 0 has n >= 1 rows) `m` rows: row i is row i % n of `t`.
Tensor Resized(const Tensor& t, int64_t m) {
  const int64_t n = t.dim(0);
  std::vector<int64_t> dims = t.shape().ToVector();
  dims[0] = m;
  Tensor out = Tensor::Zeros(Shape::FromDims(dims).value(), t.dtype());
  const size_t row = t.nbytes() / static_cast<size_t>(n);
  const auto* from = static_cast<const char*>(t.raw_data());
  auto* to = static_cast<char*>(out.mutable_raw_data());
  for (int64_t i = 0; i < m; ++i) {
    if (row > 0) std::memcpy(to + i * row, from + (i % n) * row, row);
  }
  return out;
}

// The leaves as property 6 splits them (RoleOf), and which inputs have an unknown axis 0: every
// input whose leading size is the batch.
struct Setup : internal::TracedSetup {
  std::vector<bool> unknown;          // per input: axis 0 is the unknown size
  std::vector<TensorSpec> signature;  // the input signature
};

absl::StatusOr<Setup> MakeSetup(const OpProgram& program, int64_t batch) {
  Setup s;
  CONCORD_ASSIGN_OR_RETURN(static_cast<internal::TracedSetup&>(s),
                           internal::MakeTracedSetup(program, RoleOf));
  for (const Tensor& input : s.inputs) {
    const bool unknown = input.rank() >= 1 && input.dim(0) == batch;
    std::vector<int64_t> dims = input.shape().ToVector();
    if (unknown) dims[0] = -1;
    CONCORD_ASSIGN_OR_RETURN(const Shape shape, Shape::Partial(dims));
    s.signature.push_back(TensorSpec{input.dtype(), shape});
    s.unknown.push_back(unknown);
  }
  return s;
}

// The inputs at size `m`: unknown-axis inputs resized, the others as they are.
std::vector<Value> InputsAt(const Setup& s, int64_t m) {
  std::vector<Value> in;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    in.push_back(Value::Constant(s.unknown[i] ? Resized(s.inputs[i], m) : s.inputs[i]));
  }
  return in;
}

// ---- Checking one function at every size.

std::string SignatureString(const Setup& s) {
  std::vector<std::string> parts;
  for (const TensorSpec& spec : s.signature) parts.push_back(spec.ToString());
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

// Fail is the kInternal status of a broken promise.
absl::Status Fail(const Subject& subject, const Setup& s, const PolymorphicCase& c, int64_t size,
                  const std::string& what, const absl::StatusOr<Graph>& traced) {
  std::string message = absl::StrCat(
      subject.name, " traced with input signature ", SignatureString(s), " (batch ",
      BatchSize(c.program), "), Function (optimize=", c.optimize, ") called at size ", size,
      " (sizes {", absl::StrJoin(c.sizes, ", "), "}): ", what);
  if (traced.ok()) absl::StrAppend(&message, "\ntraced graph:\n", traced->ToText());
  return absl::InternalError(message);
}

// CompareCall is "" when the Function call `got` keeps the promise against `eager`, else how it
// breaks it; `end` says how the size ended (for a failed call, kTraceRefused until classified).
std::string CompareCall(const std::function<std::string(int)>& output_name, const Tensors& got,
                        const Tensors& eager, SizeEnd& end) {
  if (!got.ok()) {
    if (got.status().message().empty()) return "fails with an empty message";
    end = eager.ok() ? SizeEnd::kTraceRefused : SizeEnd::kBothFail;
    return "";
  }
  if (!eager.ok()) {
    return absl::StrCat("succeeds where eager fails with ", eager.status().ToString());
  }
  if (got->size() != eager->size()) {
    return absl::StrCat(got->size(), " outputs, eager ", eager->size());
  }
  for (size_t i = 0; i < got->size(); ++i) {
    const std::string d = AgreementDiff((*got)[i], (*eager)[i]);
    if (!d.empty()) return absl::StrCat(output_name(static_cast<int>(i)), ": ", d);
  }
  end = SizeEnd::kAgrees;
  return "";
}

// Note [Under a tape]
// Under a GradientTape that watches its inputs, a Function replays its (sized) graph op by op
// (ReplayGraph, Note [Replay the traced graph] in autodiff/function.h). The replay once ignored an
// equation that failed at run time when no output depended on it (a Gather whose index is beyond a
// smaller batch, kept by dead-code elimination so that the interpreter fails on it), and the call
// succeeded where the interpreter and eager failed; this check found it at once. Now a failing
// equation fails the replay too (Note [Failing equations] in autodiff/interpreter.h), and the
// check runs in every case.

// UnderTape calls `call` on `in` under a GradientTape that watches the floating inputs, and
// returns its outputs followed by SumAll(last floating output) and that sum's gradient with
// respect to each floating input (nothing more when no output is floating).
Tensors UnderTape(
    absl::Span<const Value> in,
    const std::function<absl::StatusOr<std::vector<Value>>(absl::Span<const Value>)>& call) {
  autodiff::GradientTape tape;
  std::vector<Value> sources;
  for (const Value& v : in) {
    if (!engine::IsFloating(v.spec().dtype)) continue;
    tape.Watch(v);
    sources.push_back(v);
  }
  const absl::StatusOr<std::vector<Value>> out = call(in);
  Tensors tensors = ToTensors(out);
  if (!tensors.ok()) return tensors;
  Value last;
  for (const Value& v : *out) {
    if (engine::IsFloating(v.spec().dtype)) last = v;
  }
  if (!last.defined()) return tensors;
  const Value target = autodiff::SumAll(last);
  const absl::StatusOr<std::vector<Value>> grads =
      tape.Gradient(target, sources, Value(), autodiff::UnconnectedGradients::kZero);
  std::vector<Value> extra = {target};
  if (!grads.ok()) return grads.status();
  extra.insert(extra.end(), grads->begin(), grads->end());
  const Tensors more = ToTensors(extra);
  if (!more.ok()) return more.status();
  tensors->insert(tensors->end(), more->begin(), more->end());
  return tensors;
}

// Refused classifies a Function call that failed where eager succeeded, from the one trace and
// SizeGraph at `m`, and keeps the first refusal's message.
SizeEnd Refused(const absl::StatusOr<Graph>& traced, int64_t m, const absl::Status& call,
                std::string& refusal) {
  SizeEnd end = SizeEnd::kTraceRefused;
  absl::Status why = traced.status();
  if (traced.ok()) {
    why = autodiff::SizeGraph(*traced, m).status();
    end = why.ok() ? SizeEnd::kRefusedOtherwise : SizeEnd::kSizeRefused;
    if (why.ok()) why = call;
  }
  if (refusal.empty()) refusal = why.ToString();
  return end;
}

// CheckSubject calls one Function of `subject` with the signature at every size of the case and
// compares each call with eager at that size; `ends` gets one SizeEnd per size. With `replayed`,
// each size is also called under a GradientTape (the Function replays its sized graph op by op,
// Note [Replay the traced graph] in autodiff/function.h) and its outputs and the gradient of
// SumAll(last floating output) with respect to the floating inputs compared with eager's under a
// tape; `replayed` gets one SizeEnd per size.
absl::Status CheckSubject(const Subject& subject, const Setup& s, const PolymorphicCase& c,
                          std::vector<SizeEnd>& ends, std::string& refusal,
                          std::vector<SizeEnd>* replayed = nullptr, bool* traced_ok = nullptr,
                          int* trace_count = nullptr, int* sized_graphs = nullptr) {
  // The one trace, made here too so that a refused call can be classified.
  const absl::StatusOr<Graph> traced = autodiff::TraceGraph(subject.name, s.signature, subject.fn);
  if (traced_ok != nullptr) *traced_ok = traced.ok();
  const autodiff::TracedFn& fn = subject.fn;
  autodiff::Function f([&fn](const autodiff::FunctionArgs& a) { return fn(a.inputs); },
                       {.name = subject.name,
                        .input_signature = s.signature,
                        .on_warning = [](const std::string&) {},
                        .optimize = c.optimize});
  ends.clear();
  for (const int64_t m : c.sizes) {
    const std::vector<Value> in = InputsAt(s, m);
    const Tensors eager = ToTensors(fn(in));
    const Tensors got = ToTensors(f.Call(in));
    SizeEnd end = SizeEnd::kAgrees;
    const std::string diff = CompareCall(subject.output_name, got, eager, end);
    if (!diff.empty()) return Fail(subject, s, c, m, diff, traced);
    if (end == SizeEnd::kTraceRefused) end = Refused(traced, m, got.status(), refusal);
    ends.push_back(end);
    if (replayed == nullptr) continue;
    const Tensors tape_eager = UnderTape(in, [&fn](absl::Span<const Value> x) {
      return absl::StatusOr<std::vector<Value>>(fn(x));
    });
    const Tensors tape_got = UnderTape(in, [&f](absl::Span<const Value> x) { return f.Call(x); });
    const int outputs = eager.ok() ? static_cast<int>(eager->size()) : 0;
    const auto name = [&subject, outputs](int i) {
      if (i < outputs) return subject.output_name(i);
      if (i == outputs) return std::string("SumAll(last floating output)");
      return absl::StrCat("d SumAll(last floating output) / d floating input ", i - outputs - 1);
    };
    SizeEnd tape_end = SizeEnd::kAgrees;
    const std::string tape_diff = CompareCall(name, tape_got, tape_eager, tape_end);
    if (!tape_diff.empty()) {
      return Fail(subject, s, c, m, absl::StrCat("under a GradientTape: ", tape_diff), traced);
    }
    if (tape_end == SizeEnd::kTraceRefused) {
      tape_end = Refused(traced, m, tape_got.status(), refusal);
    }
    replayed->push_back(tape_end);
  }
  if (traced.ok() && f.trace_count() != 1) {
    return Fail(subject, s, c, c.sizes.back(),
                absl::StrCat("the function traced ", f.trace_count(),
                             " times; one trace must serve every size"),
                traced);
  }
  if (trace_count != nullptr) *trace_count = f.trace_count();
  if (sized_graphs != nullptr) *sized_graphs = f.sized_graph_count();
  return absl::OkStatus();
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const PolymorphicCase& c) {
  return os << c.program << "sizes {" << absl::StrJoin(c.sizes, ", ")
            << "}, optimize=" << c.optimize << "\n";
}

int OpProgramPolymorphicReport::SizesAgreed() const {
  std::set<int64_t> agreed;
  for (size_t i = 0; i < values.size(); ++i) {
    const bool gradient_ok = gradients.empty() || gradients[i] == SizeEnd::kAgrees;
    if (values[i] == SizeEnd::kAgrees && gradient_ok) agreed.insert(sizes[i]);
  }
  return static_cast<int>(agreed.size());
}

const char* SizeEndName(SizeEnd end) {
  switch (end) {
    case SizeEnd::kAgrees:
      return "agrees";
    case SizeEnd::kBothFail:
      return "both fail";
    case SizeEnd::kTraceRefused:
      return "trace refused";
    case SizeEnd::kSizeRefused:
      return "size refused";
    case SizeEnd::kRefusedOtherwise:
      return "refused otherwise";
  }
  return "?";
}

int64_t BatchSize(const OpProgram& program) {
  if (program.leaves.empty() || program.leaves[0].rank() == 0) return 0;
  return program.leaves[0].dim(0);
}

absl::Status CheckOpProgramPolymorphic(const PolymorphicCase& c, OpProgramPolymorphicReport* report,
                                       const PolymorphicCheckOptions& options) {
  OpProgramPolymorphicReport local;
  OpProgramPolymorphicReport& r = report != nullptr ? *report : local;
  r = OpProgramPolymorphicReport();
  const OpProgram& program = c.program;
  r.batch = BatchSize(program);
  r.sizes = c.sizes;
  if (r.batch < 1) {
    r.batch = 0;
    return absl::OkStatus();
  }
  for (const int64_t m : c.sizes) {
    if (m < 1) return absl::InvalidArgumentError(absl::StrCat("size ", m, " is below 1"));
  }
  CONCORD_ASSIGN_OR_RETURN(const Setup s, MakeSetup(program, r.batch));
  r.leaves = s.roles;
  for (size_t j = 0; j < program.leaves.size(); ++j) {
    r.unknown_leaves.push_back(s.input_of_leaf[j] >= 0 && s.unknown[s.input_of_leaf[j]]);
  }
  // Outputs of only the last value leave dead code for the passes; all values, none.
  const bool last_only = program.leaves.size() % 2 == 0;
  const Subject values = ForwardSubject(program, s, last_only);
  CONCORD_RETURN_IF_ERROR(CheckSubject(values, s, c, r.values, r.values_refusal,
                                       options.under_tape ? &r.replayed : nullptr, &r.values_traced,
                                       &r.values_trace_count, &r.values_sized_graphs));
  // The gradient needs a floating value; whether there is one does not depend on the size.
  const Tensors all = ToTensors(ForwardFn(program, s, /*last_only=*/false, InputsAt(s, r.batch)));
  if (!all.ok()) return absl::OkStatus();
  const int last = internal::LastFloating(*all);
  if (last < 0) return absl::OkStatus();
  return CheckSubject(GradientSubject(program, s, last), s, c, r.gradients, r.gradients_refusal);
}

rc::Gen<PolymorphicCase> GenPolymorphicCase() {
  return rc::gen::exec([] {
    PolymorphicCase c;
    // Leaf 0 of rank 0 would leave nothing unknown (about a third of small programs).
    c.program = *rc::gen::suchThat(GenOpProgramForTracing(),
                                   [](const OpProgram& p) { return BatchSize(p) >= 1; });
    const int64_t n = BatchSize(c.program);
    // (resize: inRange scales its range with RapidCheck's size, as Pick in op_program.cc says.)
    const int others = *rc::gen::resize(100, rc::gen::inRange(1, 4));
    for (int k = 0; k < others; ++k) {
      int64_t m = *rc::gen::resize(100, rc::gen::inRange<int64_t>(1, 7));  // [1, 7] without n
      if (n >= 1 && m >= n) ++m;
      c.sizes.push_back(m);
    }
    const size_t at = *rc::gen::resize(100, rc::gen::inRange<size_t>(0, c.sizes.size() + 1));
    c.sizes.insert(c.sizes.begin() + static_cast<std::ptrdiff_t>(at), std::max<int64_t>(n, 1));
    if (*rc::gen::arbitrary<bool>()) c.sizes.push_back(c.sizes.front());
    c.optimize = *rc::gen::arbitrary<bool>();
    return c;
  });
}

}  // namespace concord::testing
