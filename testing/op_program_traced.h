// Property 6 of the campaigns (docs/campaigns.md): op programs give the same bits eagerly and
// traced, with every subset of graph passes.
//
//   const OpProgram p = *GenOpProgramForTracing();
//   const absl::Status s = CheckOpProgramTraced(p);
//   if (!s.ok()) RC_FAIL(std::string(s.message()));
//
// A program's leaves are split (deterministically, from the leaf index and the step count) into
// leaves passed as inputs and leaves the traced functions capture: as models::Variables
// (trainable when floating; resources, read by reference when a graph runs) or as constants. The
// check traces two functions — the program's step values, and SumAll(last floating value) with
// its gradient with respect to every floating leaf — and compares each against the eager run,
// bitwise (signed zeros included; a NaN matches any NaN, AgreementDiff): run by the interpreter after OptimizeGraph
// with each of the 8 subsets of passes, again after SerializeGraph and ParseGraph (graphs without
// variables), and through autodiff::Function with passes on and off.
#ifndef CONCORD_TESTING_OP_PROGRAM_TRACED_H_
#define CONCORD_TESTING_OP_PROGRAM_TRACED_H_

#include <vector>

#include "absl/status/status.h"
#include "rapidcheck.h"
#include "testing/op_program.h"

namespace concord::testing {

// How CheckOpProgramTraced passed each leaf to the traced functions.
enum class TracedLeaf { kInput, kVariable, kConstant };

// What CheckOpProgramTraced saw, for tests that classify their cases.
struct OpProgramTracedReport {
  // How the program's values ended: eagerly they fail or not; a failing program fails traced
  // too, at trace time (shapes, axes) or when the graph runs (index values).
  enum class End { kEagerSucceeds, kFailsAtTraceTime, kFailsAtRunTime };
  End end = End::kEagerSucceeds;
  std::vector<TracedLeaf> leaves;  // per leaf of the program
  // Whether each pass, alone, removed an equation from some traced graph.
  bool cse_removed_work = false;
  bool folding_removed_work = false;
  bool dce_removed_work = false;
  bool round_tripped = false;  // some graph went through SerializeGraph and ParseGraph
  bool fused_chains = false;   // some graph ran with an elementwise chain fused into tiles
};

// EndName: "eager succeeds", "fails at trace time", "fails at run time".
const char* EndName(OpProgramTracedReport::End end);

// Property 6: the program's values and gradients (d SumAll(last) / d every floating leaf) traced
// (through autodiff::Function) equal eager bitwise, with every subset of graph passes switched on
// and off; every graph verifies and its text form round-trips. OkStatus, or kInternal naming the
// pass subset, the first differing value (step) and how. A program that fails eagerly must fail
// traced too, with a status: then the result is OkStatus as well. Fills `report` when given.
absl::Status CheckOpProgramTraced(const OpProgram& program,
                                  OpProgramTracedReport* report = nullptr);

// The programs property 6 runs on (float32/float64, some leaves captured as variables, repeats so
// CSE has work).
rc::Gen<OpProgram> GenOpProgramForTracing();

}  // namespace concord::testing

#endif  // CONCORD_TESTING_OP_PROGRAM_TRACED_H_
