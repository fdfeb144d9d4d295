// Property 1 of the campaigns (docs/campaigns.md, "Architecture specs"): the forms agree. For a
// generated ArchSpec and random inputs, the subclassed model, the functional model, the functional
// model rebuilt from its JSON config and (for a linear spec) the Sequential model have the same
// variables (paths, shapes, trainable flags, order), bitwise the same initial weights, and bitwise
// the same outputs (inference, then two training calls), gradients of a scalar loss with respect
// to the trainable variables, and variables after each call (BatchNorm statistics).
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tensor.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "models/test_models.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/arch_properties.h"
#include "testing/arch_spec.h"

namespace concord::testing {
namespace {

constexpr uint64_t kSeed = 2026;

// FormsAgree classifies `spec` (so a run reports what it covered) and checks property 1 on it
// (CheckFormsAgree, testing/arch_properties.h).
void FormsAgree(const ArchSpec& spec) {
  RC_LOG() << spec.ToString();
  bool shared = false, block = false, embedding = false, conv = false, merge = false,
       batch_norm = false;
  for (const ArchNode& n : spec.nodes) {
    shared |= n.shares >= 0;
    block |= n.kind == LayerKind::kBlock;
    embedding |= n.kind == LayerKind::kEmbedding;
    conv |= n.kind == LayerKind::kConv2D || n.kind == LayerKind::kMaxPool2D ||
            n.kind == LayerKind::kAvgPool2D;
    merge |= n.inputs.size() == 2;
    batch_norm |= n.kind == LayerKind::kBatchNormalization;
  }
  RC_CLASSIFY(spec.IsLinear(), "linear");
  RC_CLASSIFY(shared, "shared layer");
  RC_CLASSIFY(block, "block");
  RC_CLASSIFY(spec.nodes.size() >= 8, ">= 8 nodes");
  RC_CLASSIFY(embedding, "embedding");
  RC_CLASSIFY(conv, "conv/pool");
  RC_CLASSIFY(merge, "merge");
  RC_CLASSIFY(batch_norm, "batch norm");
  RC_CLASSIFY(spec.inputs.size() == 2, "2 inputs");
  RC_CLASSIFY(spec.outputs.size() == 2, "2 outputs");
  const absl::Status s = CheckFormsAgree(spec);
  if (!s.ok()) RC_FAIL(absl::StrCat(s.ToString(), "\n", spec.ToString(), "\n", spec.ToCpp()));
}

RC_GTEST_PROP(ArchPropertyTest, FormsAgree, (const ArchSpec& spec)) { FormsAgree(spec); }

// Larger DAGs (up to 12 nodes, sizes up to 6) with the same property.
RC_GTEST_PROP(ArchPropertyTest, FormsAgreeOnLargerSpecs, ()) {
  ArchSpecOptions options;
  options.max_nodes = 12;
  options.max_dim = 6;
  FormsAgree(*GenArchSpec(options));
}

// The generator only makes valid specs: every output is a node, ids point backwards, and every
// node and input reaches an output (so every form has the same layers).
RC_GTEST_PROP(ArchSpecTest, GeneratedSpecsAreWellFormed, (const ArchSpec& spec)) {
  RC_LOG() << spec.ToString();
  const int ni = static_cast<int>(spec.inputs.size());
  const int total = ni + static_cast<int>(spec.nodes.size());
  RC_ASSERT(ni >= 1 && ni <= 2);
  RC_ASSERT(!spec.outputs.empty() && spec.outputs.size() <= 2);
  RC_ASSERT(spec.batch >= 1 && spec.batch <= 4);
  std::vector<bool> used(total, false);
  for (int o : spec.outputs) {
    RC_ASSERT(o >= ni && o < total);
    used[o] = true;
  }
  for (int i = static_cast<int>(spec.nodes.size()) - 1; i >= 0; --i) {
    RC_ASSERT(used[ni + i]);
    for (int x : spec.nodes[i].inputs) {
      RC_ASSERT(x < ni + i);
      used[x] = true;
    }
    if (spec.nodes[i].shares >= 0) RC_ASSERT(spec.nodes[i].shares < i);
  }
  for (int i = 0; i < ni; ++i) RC_ASSERT(used[i]);
}

// ToString and ToCpp of a small hand-written spec: a Conv2D called twice, then an Add.
TEST(ArchSpecTest, ToStringAndToCppReadWell) {
  ArchSpec spec;
  spec.batch = 2;
  spec.data_key = 17;
  spec.inputs = {ArchInput{{3, 3, 2}, engine::DType::kFloat32}};
  ArchNode conv;
  conv.kind = LayerKind::kConv2D;
  conv.inputs = {0};
  conv.units = 4;
  conv.kernel = 2;
  conv.activation = "relu";
  conv.out_shape = {2, 2, 4};
  ArchNode again = conv;
  again.shares = 0;
  ArchNode add;
  add.kind = LayerKind::kAdd;
  add.inputs = {1, 2};
  add.out_shape = {2, 2, 4};
  spec.nodes = {conv, again, add};
  spec.outputs = {3};
  EXPECT_EQ(spec.ToString(),
            "ArchSpec (batch 2, data_key 17)\n"
            "  t0 = Input [3, 3, 2] float32\n"
            "  t1 = conv2d_0: Conv2D(filters=4, kernel=2, valid, relu)(t0) -> [2, 2, 4]\n"
            "  t2 = conv2d_0: (shared with t1)(t0) -> [2, 2, 4]\n"
            "  t3 = add_2: Add()(t1, t2) -> [2, 2, 4]\n"
            "  outputs: t3\n");
  const std::string cpp = spec.ToCpp();
  EXPECT_NE(cpp.find("SymbolicTensor t0 = Input({3, 3, 2}, DType::kFloat32, \"input_0\");"),
            std::string::npos)
      << cpp;
  EXPECT_NE(cpp.find("SymbolicTensor t2 = (*conv2d_0)(t0);"), std::string::npos) << cpp;
  EXPECT_NE(cpp.find("SymbolicTensor t3 = (*add_2)({t1, t2});"), std::string::npos) << cpp;
  EXPECT_NE(cpp.find("Value t2 = (*conv2d_0_)(t0, training);"), std::string::npos) << cpp;
  EXPECT_NE(cpp.find("return Functional::Create({t0}, {t3}, \"arch\");"), std::string::npos) << cpp;
  // The spec builds in every form, and the forms agree.
  auto functional = BuildFunctional(spec);
  ASSERT_TRUE(functional.ok()) << functional.status().ToString();
  auto subclass = BuildSubclass(spec);
  ASSERT_TRUE(subclass.ok()) << subclass.status().ToString();
  EXPECT_EQ(
      models::test_models::FirstFormDifference(**subclass, **functional, RandomInputs(spec), kSeed),
      "");
  EXPECT_EQ((*functional)->variables().size(), 2u);  // one kernel and bias for both calls
}

}  // namespace
}  // namespace concord::testing
