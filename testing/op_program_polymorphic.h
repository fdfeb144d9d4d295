// Property 15 of the campaigns (docs/campaigns.md): op programs traced with an unknown batch
// size agree with eager at every size.
//
//   const PolymorphicCase c = *GenPolymorphicCase();
//   const absl::Status s = CheckOpProgramPolymorphic(c);
//   if (!s.ok()) RC_FAIL(std::string(s.message()));
//
// The leaves are split like property 6's (testing/op_program_traced.h: inputs, captured
// models::Variables, captured constants), except that leaf 0 is always an input. Its leading size
// n is the program's batch: every input leaf whose axis 0 has size n gets that axis unknown in the
// input signature (Shape::Partial({-1, ...}); Note [Shape-polymorphic traces] in
// autodiff/function.h); other leaves and axes stay known. The check makes one autodiff::Function
// of the program's step values, and one of SumAll(last floating value) with its gradient with
// respect to every floating leaf (the tape inside the function, as in property 6), each with that
// signature, and calls them at every size of the case (n among them), the unknown-axis leaves
// resized to m rows by cycling their rows (row i of the resized leaf is row i % n of the
// original). At each size it also runs the same two functions eagerly on the resized leaves. The
// promise (a traced call may refuse a size that eager runs, never give other bits):
//
//   - a Function call that succeeds matches an eager run that succeeds, bitwise (signed zeros
//     included; a NaN matches any NaN, AgreementDiff) and shape for shape;
//   - where eager fails, the Function call fails with a status and a message;
//   - a Function whose one trace succeeded never traces again (trace_count() == 1).
//
// A Function call that fails where eager succeeds is allowed and classified in the report: the
// trace was refused (TraceGraph with the signature fails: a dimension that is not a multiple of
// the unknown size, a host read of it, a known size compared with it), the size was refused
// (SizeGraph at that size fails: the shapes do not follow the unknown size), or otherwise.
// Every size is also called under a GradientTape (PolymorphicCheckOptions::under_tape).
#ifndef CONCORD_TESTING_OP_PROGRAM_POLYMORPHIC_H_
#define CONCORD_TESTING_OP_PROGRAM_POLYMORPHIC_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "rapidcheck.h"
#include "testing/op_program.h"
#include "testing/op_program_traced.h"

namespace concord::testing {

// A case of property 15: a program and the sizes to call it at (the program's own batch size
// among them, in any position, possibly repeated).
struct PolymorphicCase {
  OpProgram program;
  std::vector<int64_t> sizes;
  bool optimize = true;  // FunctionOptions::optimize of both functions
};

std::ostream& operator<<(std::ostream& os, const PolymorphicCase& c);

// What CheckOpProgramPolymorphic saw, for tests that classify their cases.
struct OpProgramPolymorphicReport {
  // How one traced function ended at one size.
  enum class SizeEnd {
    kAgrees,            // the Function call and eager succeed, with the same bits
    kBothFail,          // eager fails, and so does the Function call
    kTraceRefused,      // eager succeeds; the one trace (TraceGraph with the signature) fails
    kSizeRefused,       // eager succeeds; the trace succeeds but SizeGraph refuses this size
    kRefusedOtherwise,  // eager succeeds; trace and SizeGraph succeed, the Function call fails
  };
  int64_t batch = 0;                 // n, the leading size of leaf 0; 0: no unknown axis
  std::vector<TracedLeaf> leaves;    // per leaf: how it is passed
  std::vector<bool> unknown_leaves;  // per leaf: an input whose axis 0 is unknown
  std::vector<int64_t> sizes;        // the sizes called, in order
  bool values_traced = false;        // the values' one trace succeeded
  std::vector<SizeEnd> values;       // per size: the step values' function
  std::vector<SizeEnd> gradients;    // per size: the gradient function (empty: not checked)
  std::vector<SizeEnd> replayed;     // per size: the values under a tape (options.under_tape)
  // The first refusal's message (a failed trace, or SizeGraph refusing a size), per function;
  // "" when none.
  std::string values_refusal, gradients_refusal;
  int values_trace_count = 0;        // the values' Function::trace_count() at the end
  int values_sized_graphs = 0;       // the values' Function::sized_graph_count() at the end

  // The number of distinct sizes at which the values (and the gradients, when checked) ran
  // traced and agreed with eager.
  int SizesAgreed() const;
};

struct PolymorphicCheckOptions {
  // Also call the values' function under a GradientTape at every size (the Function replays its
  // sized graph op by op) and compare its outputs and input gradients with eager's under a tape
  // (Note [Under a tape] in op_program_polymorphic.cc).
  bool under_tape = true;
};

// SizeEndName: "agrees", "both fail", "trace refused", "size refused", "refused otherwise".
const char* SizeEndName(OpProgramPolymorphicReport::SizeEnd end);

// Property 15 (see above). OkStatus, or kInternal naming the function, the size, the signature,
// what differs and the traced graph. A case without an unknown axis (leaf 0 of rank 0) is
// OkStatus with report->batch == 0. Fills `report` when given.
absl::Status CheckOpProgramPolymorphic(const PolymorphicCase& c,
                                       OpProgramPolymorphicReport* report = nullptr,
                                       const PolymorphicCheckOptions& options = {});

// BatchSize is the leading size of leaf 0 (0 when it has rank 0): the size that becomes unknown.
int64_t BatchSize(const OpProgram& program);

// GenPolymorphicCase: a program of GenOpProgramForTracing whose leaf 0 has rank >= 1, its own
// batch size and 1-3 other sizes in [1, 7], in a generated order; sometimes the first size again
// at the end (a cached sized graph); optimize on or off.
rc::Gen<PolymorphicCase> GenPolymorphicCase();

}  // namespace concord::testing

#endif  // CONCORD_TESTING_OP_PROGRAM_POLYMORPHIC_H_
