// Property 15 (testing/op_program_polymorphic.h): op programs traced with an unknown batch size
// agree with eager at every size. The property over generated cases, with the classification of
// its cases (and a bound that keeps it from being vacuous), and pinned programs: one the trace
// must refuse, one that must run at every size, one that must fail where eager fails.
#include "testing/op_program_polymorphic.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "testing/op_program.h"

namespace concord::testing {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using SizeEnd = OpProgramPolymorphicReport::SizeEnd;
using ::testing::ElementsAre;
using ::testing::Each;

// ---- The property over generated cases.

struct Tally {
  int cases = 0;
  int no_unknown_axis = 0;   // leaf 0 of rank 0
  int trace_refused = 0;     // the values' one trace failed
  int polymorphic = 0;       // values (and gradients) agreed with eager at >= 2 distinct sizes
  int with_gradients = 0;    // the gradient function was checked
  int unknown_leaves = 0;    // leaves whose axis 0 was unknown, over all cases
  std::map<SizeEnd, int> values, gradients, replayed;  // per size
  std::map<std::string, int> refusals;  // the first refusal of each function, digits as '#'
};

// Reason shortens a refusal message to what kind of refusal it is.
std::string Reason(std::string message) {
  for (char& ch : message) {
    if (ch >= '0' && ch <= '9') ch = '#';
  }
  for (const char* prefix : {"tracing 'values': ", "tracing 'gradients': "}) {
    if (const size_t at = message.find(prefix); at != std::string::npos) {
      message = message.substr(at + std::string(prefix).size());
    }
  }
  return message.substr(0, 110);
}

TEST(OpProgramPolymorphic, TracedWithAnUnknownBatchAgreesWithEagerAtEverySize) {
  Tally t;
  const bool passed = rc::check(
      "op programs traced with an unknown batch size agree with eager at every size", [&t] {
        const PolymorphicCase c = *GenPolymorphicCase();
        OpProgramPolymorphicReport r;
        const absl::Status status = CheckOpProgramPolymorphic(c, &r);
        if (!status.ok()) RC_FAIL(std::string(status.message()));
        ++t.cases;
        if (r.batch == 0) {
          ++t.no_unknown_axis;
          RC_TAG("no unknown axis");
          return;
        }
        RC_ASSERT(r.values.size() == c.sizes.size());
        if (!r.values_traced) ++t.trace_refused;
        const bool polymorphic = r.SizesAgreed() >= 2;
        if (polymorphic) ++t.polymorphic;
        if (!r.gradients.empty()) ++t.with_gradients;
        for (const bool u : r.unknown_leaves) t.unknown_leaves += u;
        for (const SizeEnd e : r.values) ++t.values[e];
        for (const SizeEnd e : r.gradients) ++t.gradients[e];
        for (const SizeEnd e : r.replayed) ++t.replayed[e];
        for (const std::string* m : {&r.values_refusal, &r.gradients_refusal}) {
          if (!m->empty()) ++t.refusals[Reason(*m)];
        }
        RC_TAG(!r.values_traced ? "trace refused"
                                : polymorphic ? "ran at >= 2 sizes" : "traced, < 2 sizes ran");
      });
  EXPECT_TRUE(passed);
  std::string per_size;
  for (const auto& [name, tally] : {std::pair{"values", &t.values}, {"gradients", &t.gradients},
                                    {"under a tape", &t.replayed}}) {
    if (tally->empty()) continue;
    per_size += std::string(name) + ":";
    for (const auto& [end, count] : *tally) {
      per_size += std::string(" ") + SizeEndName(end) + " " + std::to_string(count) + ";";
    }
    per_size += "\n";
  }
  std::printf(
      "%d cases: %d without an unknown axis, %d trace refused, %d ran at >= 2 sizes, %d with "
      "gradients, %d unknown-axis leaves\nper size, %s",
      t.cases, t.no_unknown_axis, t.trace_refused, t.polymorphic, t.with_gradients,
      t.unknown_leaves, per_size.c_str());
  std::vector<std::pair<int, std::string>> reasons;
  for (const auto& [reason, count] : t.refusals) reasons.push_back({count, reason});
  std::sort(reasons.rbegin(), reasons.rend());
  std::printf("most frequent refusals:\n");
  for (size_t i = 0; i < reasons.size() && i < 8; ++i) {
    std::printf("  %5d  %s\n", reasons[i].first, reasons[i].second.c_str());
  }
  // Not vacuous: a good share of the programs ran traced at two sizes or more.
  EXPECT_GE(t.polymorphic * 10, t.cases * 3) << per_size;
}

// ---- Pinned programs.

Tensor Iota(Shape shape, DType dtype = DType::kFloat32) {
  Tensor t = Tensor::Zeros(shape, dtype);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (dtype == DType::kFloat32) {
      t.mutable_data<float>()[i] = 0.25f * static_cast<float>(i) - 1.0f;
    } else {
      t.mutable_data<int64_t>()[i] = i;
    }
  }
  return t;
}

OpStep Step(OpKind kind, int a, int b = -1, std::vector<int64_t> ints = {},
            std::vector<int64_t> ints2 = {}) {
  OpStep s;
  s.kind = kind;
  s.a = a;
  s.b = b;
  s.ints = std::move(ints);
  s.ints2 = std::move(ints2);
  return s;
}

// A Reshape whose dimensions were computed from the program's own batch (2 * 3 elements): one
// graph for every batch size cannot hold it, so the trace is refused, and every call fails: at
// size 2, where eager succeeds, as a refusal; at 3, where eager fails too.
TEST(OpProgramPolymorphic, AReshapeToTheBatchTimesThreeElementsIsRefusedAtTraceTime) {
  PolymorphicCase c;
  c.program.leaves = {Iota(Shape({2, 3}))};
  c.program.steps = {Step(OpKind::kInput, 0), Step(OpKind::kReshape, 0, -1, {6}),
                     Step(OpKind::kTanh, 1)};
  c.sizes = {2, 3, 2};
  OpProgramPolymorphicReport r;
  ASSERT_TRUE(CheckOpProgramPolymorphic(c, &r).ok());
  EXPECT_EQ(r.batch, 2);
  EXPECT_FALSE(r.values_traced);
  EXPECT_THAT(r.values, ElementsAre(SizeEnd::kTraceRefused, SizeEnd::kBothFail,
                                    SizeEnd::kTraceRefused));
  EXPECT_THAT(r.gradients, ElementsAre(SizeEnd::kTraceRefused, SizeEnd::kBothFail,
                                       SizeEnd::kTraceRefused));
  EXPECT_EQ(r.SizesAgreed(), 0);
  // The same with -1 for the batch's share traces once and runs at both sizes.
  c.program.steps[1].ints = {-1};
  ASSERT_TRUE(CheckOpProgramPolymorphic(c, &r).ok());
  EXPECT_TRUE(r.values_traced);
  EXPECT_THAT(r.values, Each(SizeEnd::kAgrees));
  EXPECT_EQ(r.SizesAgreed(), 2);
}

// A batch through softmax over the batch axis, a mean over it (the element count of an unknown
// axis), a broadcast against a captured constant and a matrix product: one trace, every size.
TEST(OpProgramPolymorphic, ABatchPipelineRunsAtEverySizeFromOneTrace) {
  PolymorphicCase c;
  // Leaf 1 (the broadcast partner) is a captured constant and leaf 2 (the matrix) an input of a
  // known shape: property 6's rotation for a program of 7 steps.
  c.program.leaves = {Iota(Shape({3, 4})), Iota(Shape({4})), Iota(Shape({4, 2}))};
  c.program.steps = {Step(OpKind::kInput, 0),
                     Step(OpKind::kSoftmax, 0, -1, {0}),
                     Step(OpKind::kInput, 1),
                     Step(OpKind::kMul, 1, 2),
                     Step(OpKind::kInput, 2),
                     Step(OpKind::kMatMul, 3, 4),
                     Step(OpKind::kMean, 5, -1, {0})};
  c.sizes = {3, 1, 5, 2, 1};
  c.optimize = true;
  OpProgramPolymorphicReport r;
  const absl::Status status = CheckOpProgramPolymorphic(c, &r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_THAT(r.leaves,
              ElementsAre(TracedLeaf::kInput, TracedLeaf::kConstant, TracedLeaf::kInput));
  EXPECT_THAT(r.unknown_leaves, ElementsAre(true, false, false));
  EXPECT_THAT(r.values, Each(SizeEnd::kAgrees));
  EXPECT_THAT(r.gradients, Each(SizeEnd::kAgrees));
  EXPECT_THAT(r.replayed, Each(SizeEnd::kAgrees));
  EXPECT_EQ(r.SizesAgreed(), 4);
  EXPECT_EQ(r.values_trace_count, 1);
  EXPECT_EQ(r.values_sized_graphs, 4);  // 3, 1, 5, 2; the second 1 is cached
  c.optimize = false;
  ASSERT_TRUE(CheckOpProgramPolymorphic(c, &r).ok());
  EXPECT_EQ(r.SizesAgreed(), 4);
  // Under a GradientTape the Function replays each sized graph: the same bits, and the gradient
  // with respect to the batch is eager's too.
  const absl::Status taped = CheckOpProgramPolymorphic(c, &r, {.under_tape = true});
  ASSERT_TRUE(taped.ok()) << taped.message();
  EXPECT_THAT(r.replayed, Each(SizeEnd::kAgrees));
  EXPECT_EQ(r.replayed.size(), 5u);
}

// Where eager fails at a size, the traced call fails too: a gather index beyond the batch (a run
// time error) and a slice of two rows from one.
TEST(OpProgramPolymorphic, SizesWhereEagerFailsFailTraced) {
  PolymorphicCase c;
  Tensor indices = Tensor::FromVector<int64_t>(Shape({2}), {0, 2}).value();
  c.program.leaves = {Iota(Shape({3, 2})), indices};
  c.program.steps = {Step(OpKind::kInput, 0), Step(OpKind::kInput, 1),
                     Step(OpKind::kGather, 0, 1, {0}), Step(OpKind::kSlice, 0, -1, {0, 0}, {2, 2}),
                     Step(OpKind::kAdd, 2, 3)};
  c.sizes = {3, 2, 1, 4};
  OpProgramPolymorphicReport r;
  const absl::Status status = CheckOpProgramPolymorphic(c, &r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_THAT(r.leaves, ElementsAre(TracedLeaf::kInput, TracedLeaf::kInput));
  EXPECT_THAT(r.unknown_leaves, ElementsAre(true, false));  // the indices have 2 rows, not 3
  EXPECT_THAT(r.values, ElementsAre(SizeEnd::kAgrees, SizeEnd::kBothFail, SizeEnd::kBothFail,
                                    SizeEnd::kAgrees));
  // (The gradients of Gather and Slice read the batch size on the host today, so their trace is
  // refused; where eager fails they fail all the same.)
  ASSERT_EQ(r.gradients.size(), 4u);
  EXPECT_EQ(r.gradients[1], SizeEnd::kBothFail);
  EXPECT_EQ(r.gradients[2], SizeEnd::kBothFail);
}

// The case the check under a tape found (Note [Under a tape] in op_program_polymorphic.cc): at
// size 1 the Gather's index 1 is out of range. Eagerly the program fails there, and so does the
// Function's plain call (the interpreter runs the dead Gather, which dead-code elimination keeps);
// under a tape the Function replays its graph, and the Gather's error fails that call too.
TEST(OpProgramPolymorphic, UnderATapeADeadGatherBeyondTheBatchFailsTheCall) {
  PolymorphicCase c;
  c.program.leaves = {Iota(Shape({2})), Tensor::FromVector<int64_t>(Shape({1}), {1}).value()};
  c.program.steps = {Step(OpKind::kInput, 0), Step(OpKind::kInput, 1),
                     Step(OpKind::kGather, 0, 1, {0}), Step(OpKind::kNeg, 0)};
  c.sizes = {2, 1};
  OpProgramPolymorphicReport r;
  const absl::Status status = CheckOpProgramPolymorphic(c, &r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_THAT(r.values, ElementsAre(SizeEnd::kAgrees, SizeEnd::kBothFail));
  EXPECT_THAT(r.replayed, ElementsAre(SizeEnd::kAgrees, SizeEnd::kBothFail));
  const absl::Status plain = CheckOpProgramPolymorphic(c, &r, {.under_tape = false});
  ASSERT_TRUE(plain.ok()) << plain.message();
  EXPECT_TRUE(r.replayed.empty());
}

TEST(OpProgramPolymorphic, AScalarFirstLeafHasNoUnknownAxis) {
  PolymorphicCase c;
  c.program.leaves = {Iota(Shape({}))};
  c.program.steps = {Step(OpKind::kInput, 0), Step(OpKind::kExp, 0)};
  c.sizes = {1, 2};
  OpProgramPolymorphicReport r;
  ASSERT_TRUE(CheckOpProgramPolymorphic(c, &r).ok());
  EXPECT_EQ(r.batch, 0);
  EXPECT_TRUE(r.values.empty());
}

}  // namespace
}  // namespace concord::testing
