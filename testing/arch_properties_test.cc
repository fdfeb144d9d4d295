// Properties 2-5 of the campaigns (docs/campaigns.md, "Architecture properties 1-5") as RapidCheck properties over
// generated specs, hand-written specs that pin a case of each, and each property catching its
// planted bug (engine/mutation.h). Property 1 is in arch_property_test.cc. Property 2 found a real
// divergence, fixed and pinned in OuterTapeAroundATracedCallOfALayerCalledTwiceOnOneTensor.
#include "testing/arch_properties.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "autodiff/ops.h"
#include "engine/mutation.h"
#include "engine/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/arch_properties_internal.h"
#include "testing/arch_spec.h"
#include "testing/grad_check.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using ::testing::HasSubstr;

// Holds fails the property with the check's message unless it holds.
void Holds(const absl::Status& status) {
  if (!status.ok()) RC_FAIL(status.ToString());
}

RC_GTEST_PROP(ArchPropertiesTest, EagerAgreesWithTraced, (const ArchSpec& spec)) {
  Holds(CheckEagerAgreesWithTraced(spec));
}

RC_GTEST_PROP(ArchPropertiesTest, OptimizerStateMapsAcrossForms, (const ArchSpec& spec)) {
  Holds(CheckOptimizerStateMaps(spec));
}

// Properties 2 and 3 on larger DAGs (up to 12 nodes, sizes up to 6), as FormsAgreeOnLargerSpecs.
ArchSpecOptions LargerSpecs() {
  ArchSpecOptions options;
  options.max_nodes = 12;
  options.max_dim = 6;
  return options;
}

RC_GTEST_PROP(ArchPropertiesTest, EagerAgreesWithTracedOnLargerSpecs, ()) {
  Holds(CheckEagerAgreesWithTraced(*GenArchSpec(LargerSpecs())));
}

RC_GTEST_PROP(ArchPropertiesTest, OptimizerStateMapsAcrossFormsOnLargerSpecs, ()) {
  Holds(CheckOptimizerStateMaps(*GenArchSpec(LargerSpecs())));
}

RC_GTEST_PROP(ArchPropertiesTest, GradientsAgreeWithFiniteDifferences, ()) {
  Holds(CheckFiniteDifferences(*GenSpecForFiniteDifferences()));
}

RC_GTEST_PROP(ArchPropertiesTest, ASharedLayerHasOneSetOfVariablesAndSummedGradients, ()) {
  Holds(CheckSharedLayerGradient(*GenSpecWithSharedLayer()));
}

// The generators give the specs their properties need: a shared call; float64 and smooth.
RC_GTEST_PROP(ArchPropertiesTest, GeneratorsMakeTheSpecsTheirPropertiesWant, ()) {
  const ArchSpec shared = *GenSpecWithSharedLayer();
  bool any_shared = false;
  for (const ArchNode& n : shared.nodes) any_shared |= n.shares >= 0;
  RC_ASSERT(any_shared);
  const ArchSpec smooth = *GenSpecForFiniteDifferences();
  RC_ASSERT(smooth.nodes.size() <= 4u);
  for (const ArchInput& input : smooth.inputs) RC_ASSERT(input.dtype == engine::DType::kFloat64);
  for (const ArchNode& n : smooth.nodes) {
    RC_ASSERT(n.kind != LayerKind::kMaxPool2D && n.kind != LayerKind::kDropout &&
              n.kind != LayerKind::kBlock && n.kind != LayerKind::kEmbedding);
    RC_ASSERT(n.activation != "relu");
  }
}

// --- Hand-written specs ---------------------------------------------------------------------

ArchNode Node(LayerKind kind, std::vector<int> inputs, std::vector<int64_t> out_shape,
              int64_t units = 1, std::string activation = "linear") {
  ArchNode n;
  n.kind = kind;
  n.inputs = std::move(inputs);
  n.out_shape = std::move(out_shape);
  n.units = units;
  n.activation = std::move(activation);
  return n;
}

ArchNode Shares(const ArchSpec& spec, int owner, int input) {
  ArchNode n = spec.nodes[owner];
  n.shares = owner;
  n.inputs = {input};
  return n;
}

// Dense(4, tanh) -> BatchNormalization -> Dropout(0.5) -> Dense(2), with two outputs: the last
// Dense and the BatchNorm.
ArchSpec BatchNormSpec(uint64_t data_key) {
  ArchSpec spec;
  spec.batch = 4;
  spec.data_key = data_key;
  spec.inputs = {ArchInput{{3}, engine::DType::kFloat32}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {4}, 4, "tanh"),
                Node(LayerKind::kBatchNormalization, {1}, {4}), Node(LayerKind::kDropout, {2}, {4}),
                Node(LayerKind::kDense, {3}, {2}, 2)};
  spec.outputs = {4, 2};
  return spec;
}

// BatchNorm's moving statistics move in traced training steps exactly as in eager ones, and
// Dropout draws each traced step's own mask; with Adam (data_key 0) and SGD with momentum (1).
TEST(ArchPropertiesTest, EagerAndTracedAgreeOnBatchNormAndDropout) {
  for (const uint64_t data_key : {0u, 1u}) {
    EXPECT_TRUE(CheckEagerAgreesWithTraced(BatchNormSpec(data_key), 3).ok())
        << CheckEagerAgreesWithTraced(BatchNormSpec(data_key), 3);
  }
}

// A layer called twice on the same tensor, under an outer tape around a traced call: the first
// divergence property 2 found. Common-subexpression elimination merges the two identical calls in
// the optimized graph; a tape replaying that graph added the two calls' output gradients before
// one MatMul gradient, where eager adds two MatMul gradients, and the kernel's gradient differed
// in its last bits. Function now replays the graph as traced (Note [Replay the traced graph]).
TEST(ArchPropertiesTest, OuterTapeAroundATracedCallOfALayerCalledTwiceOnOneTensor) {
  ArchSpec spec;
  spec.batch = 1;
  spec.inputs = {ArchInput{{2}, engine::DType::kFloat32}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {1}, 1)};
  spec.nodes.push_back(Shares(spec, 0, 0));
  spec.nodes.push_back(Node(LayerKind::kDense, {2}, {1}, 1));
  spec.outputs = {3, 1};
  const absl::Status s = CheckEagerAgreesWithTraced(spec);
  EXPECT_TRUE(s.ok()) << s;
}

// The slot maps of the forms, the checkpoint round trip and the resumed steps with the
// variables rotated agree for a spec with several trainable variables per optimizer.
TEST(ArchPropertiesTest, OptimizerStateMapsOnBatchNormSpec) {
  for (const uint64_t data_key : {0u, 1u, 2u}) {
    const absl::Status s = CheckOptimizerStateMaps(BatchNormSpec(data_key), 2);
    EXPECT_TRUE(s.ok()) << s;
  }
}

// The slot-map comparison names the variable and slot of a one-ulp change, and counters.
TEST(ArchPropertiesTest, SlotDifferencesAreNamed) {
  const ArchSpec spec = BatchNormSpec(0);
  const std::vector<Value> inputs = RandomInputs(spec);
  auto model = internal::BuildSeeded(spec, internal::Form::kFunctional, inputs);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(internal::CompileForTraining(**model, spec).ok());
  ASSERT_TRUE(
      (*model)->TrainOnBatch(internal::Tensors(inputs), internal::RandomTargets(spec)).ok());
  const models::SlotTable slots = (*model)->optimizer()->SlotMap();
  models::SlotTable nudged = slots;
  engine::Tensor m = nudged.at("dense_3/kernel").at("m").Clone();
  float* data = m.mutable_data<float>();
  data[1] = std::nextafter(data[1], 1.0f);
  nudged["dense_3/kernel"]["m"] = m;
  EXPECT_EQ(internal::DiffSlots(slots, slots), "");
  EXPECT_THAT(internal::DiffSlots(slots, nudged), HasSubstr("slot m of dense_3/kernel differs"));
  nudged.erase("dense_0/bias");
  EXPECT_THAT(internal::DiffSlots(slots, nudged), HasSubstr("different slots"));
}

// Two smooth float64 layers around a LayerNormalization agree with finite differences; a
// float32 spec is refused.
TEST(ArchPropertiesTest, FiniteDifferencesOnASmallFloat64Spec) {
  ArchSpec spec;
  spec.batch = 2;
  spec.inputs = {ArchInput{{3}, engine::DType::kFloat64}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {3}, 3, "tanh"),
                Node(LayerKind::kLayerNormalization, {1}, {3}),
                Node(LayerKind::kDense, {2}, {2}, 2, "sigmoid")};
  spec.outputs = {3};
  for (const uint64_t data_key : {0u, 1u}) {  // the functional and the subclassed form
    spec.data_key = data_key;
    const absl::Status s = CheckFiniteDifferences(spec);
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(CheckFiniteDifferences(BatchNormSpec(0)).code(), absl::StatusCode::kInvalidArgument);
}

// The tolerance catches a gradient rule 1% off: y = 0.99 tanh(x) + StopGradient(0.01 tanh(x))
// has tanh's value but a tape gradient of 0.99 tanh'(x).
TEST(ArchPropertiesTest, FiniteDifferenceToleranceCatchesAOnePercentError) {
  const engine::Tensor x = *engine::RandomNormal(engine::Shape({3, 4}), engine::DType::kFloat64,
                                                 engine::RngStream{5, 0, 0});
  const auto right = [](absl::Span<const Value> in) { return autodiff::Tanh(in[0]); };
  const auto wrong = [](absl::Span<const Value> in) {
    const Value t = autodiff::Tanh(in[0]);
    return t * 0.99 + autodiff::StopGradient(t * 0.01);
  };
  EXPECT_TRUE(GradCheck(right, {x}, FiniteDifferenceOptions()).ok());
  EXPECT_EQ(GradCheck(wrong, {x}, FiniteDifferenceOptions()).code(), absl::StatusCode::kInternal);
}

// A Dense layer called at three sites (a chain through it) has one kernel and one bias, whose
// gradients are bitwise the sums over the sites taken newest first; a spec without a shared
// layer is refused.
TEST(ArchPropertiesTest, ALayerCalledThreeTimes) {
  ArchSpec spec;
  spec.batch = 3;
  spec.data_key = 4;
  spec.inputs = {ArchInput{{3}, engine::DType::kFloat32}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {3}, 3, "tanh")};
  spec.nodes.push_back(Shares(spec, 0, 1));
  spec.nodes.push_back(Shares(spec, 0, 2));
  spec.nodes.push_back(Node(LayerKind::kLayerNormalization, {3}, {3}));
  spec.nodes.push_back(Shares(spec, 3, 0));
  spec.outputs = {4, 5};
  const absl::Status s = CheckSharedLayerGradient(spec);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(CheckSharedLayerGradient(BatchNormSpec(0)).code(), absl::StatusCode::kInvalidArgument);
}

// --- Each property catches its planted bug (engine/mutation.h) --------------------------------

// ScopedMutant plants one bug for its scope (//testing/mutants:planted reads CONCORD_MUTANT).
class ScopedMutant {
 public:
  explicit ScopedMutant(mutation::Mutant m) {
    setenv("CONCORD_MUTANT", std::string(mutation::MutantName(m)).c_str(), 1);
  }
  ~ScopedMutant() { setenv("CONCORD_MUTANT", "none", 1); }
};

TEST(ArchPropertiesTest, EagerVsTracedCatchesBatchNormIgnoringTrainingWhenTraced) {
  ScopedMutant planted(mutation::Mutant::kBatchNormTracedIgnoresTraining);
  const absl::Status s = CheckEagerAgreesWithTraced(BatchNormSpec(0));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("traced")) << s;
}

TEST(ArchPropertiesTest, StateMapsCatchSlotsKeyedByPosition) {
  ScopedMutant planted(mutation::Mutant::kSlotsByPosition);
  // Caught where the resumed steps apply the gradients in another order: the position-keyed
  // slots belong to other variables, which ApplyGradients refuses.
  const absl::Status s = CheckOptimizerStateMaps(BatchNormSpec(0));
  EXPECT_THAT(s.message(), HasSubstr("functional form, resumed step 0: ApplyGradients")) << s;
}

TEST(ArchPropertiesTest, FiniteDifferencesCatchAWrongGeluGradient) {
  ScopedMutant planted(mutation::Mutant::kGeluGradMissesProductTerm);
  ArchSpec spec;
  spec.batch = 2;
  spec.inputs = {ArchInput{{3}, engine::DType::kFloat64}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {2}, 2, "gelu")};
  spec.outputs = {1};
  const absl::Status s = CheckFiniteDifferences(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
}

TEST(ArchPropertiesTest, SharedLayerCatchesASecondSetOfVariables) {
  ScopedMutant planted(mutation::Mutant::kSharedLayerRebuilds);
  ArchSpec spec;
  spec.batch = 2;
  spec.inputs = {ArchInput{{3}, engine::DType::kFloat32}};
  spec.nodes = {Node(LayerKind::kDense, {0}, {3}, 3)};
  spec.nodes.push_back(Shares(spec, 0, 1));
  spec.outputs = {2};
  const absl::Status s = CheckSharedLayerGradient(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
}

}  // namespace
}  // namespace concord::testing
