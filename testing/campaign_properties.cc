// The campaign's property list: the six properties of random architectures and op programs
// against their traced forms (docs/campaigns.md), then the op-program properties of
// testing/campaign_op_properties.cc, then op programs traced with an unknown batch size.
#include "testing/campaign_properties.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "rapidcheck.h"
#include "testing/arch_properties.h"
#include "testing/arch_spec.h"
#include "testing/op_program.h"
#include "testing/op_program_polymorphic.h"
#include "testing/op_program_traced.h"

namespace concord::testing {
namespace {

class SilentListener : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

CampaignCase& MutableLastCase() {
  static CampaignCase* last = new CampaignCase();
  return *last;
}

// FailUnlessOk fails the case with the status's message alone (RC_FAIL would put this file, line
// and expression before it, which say nothing about the failure).
void FailUnlessOk(const absl::Status& status) {
  if (status.ok()) return;
  throw rc::detail::CaseResult(rc::detail::CaseResult::Type::Failure,
                               std::string(status.message()));
}

// SpecProperty is a property over specs from `gen` checked by `check`.
CampaignProperty SpecProperty(std::string name, std::string promise,
                              std::function<rc::Gen<ArchSpec>()> gen,
                              std::function<absl::Status(const ArchSpec&)> check) {
  return {std::move(name), std::move(promise), [gen, check] {
            const ArchSpec spec = *gen();
            RecordCase(spec);
            FailUnlessOk(check(spec));
          }};
}

rc::Gen<ArchSpec> DefaultSpecs() { return GenArchSpec(); }

void AddArchProperties(std::vector<CampaignProperty>& out) {
  out.push_back(SpecProperty(
      "model forms agree bitwise",
      "the subclassed, functional, Sequential and from-config forms of one architecture have "
      "the same variables and initial weights, and bitwise the same outputs (inference and "
      "training) and gradients",
      DefaultSpecs, [](const ArchSpec& spec) { return CheckFormsAgree(spec); }));
  out.push_back(SpecProperty(
      "eager agrees with traced",
      "a model run eagerly and traced gives bitwise the same outputs and gradients, and after "
      "training steps the same weights, BatchNorm statistics and optimizer slots",
      DefaultSpecs, [](const ArchSpec& spec) { return CheckEagerAgreesWithTraced(spec); }));
  out.push_back(SpecProperty(
      "optimizer state maps across forms",
      "the forms have the same slot map; k steps in one form, a checkpoint restored into the "
      "other and k more steps equal 2k uninterrupted steps",
      DefaultSpecs, [](const ArchSpec& spec) { return CheckOptimizerStateMaps(spec); }));
  out.push_back(SpecProperty(
      "architecture gradients agree with finite differences",
      "on small float64 architectures the tape gradients agree with central differences",
      GenSpecForFiniteDifferences,
      [](const ArchSpec& spec) { return CheckFiniteDifferences(spec); }));
  out.push_back(SpecProperty(
      "a shared layer's gradient is the sum over its uses",
      "a layer called at several sites has one set of variables, and its gradient is the sum "
      "of the gradients of its uses",
      GenSpecWithSharedLayer, [](const ArchSpec& spec) { return CheckSharedLayerGradient(spec); }));
  out.push_back({"op programs agree eager and traced under every pass set",
                 "a random op program gives bitwise the same values and gradients eagerly and "
                 "traced, with every subset of the graph passes switched on",
                 [] {
                   const OpProgram program = *GenOpProgramForTracing();
                   RecordCase(program);
                   FailUnlessOk(CheckOpProgramTraced(program));
                 }});
}

// Last in the list, so that adding it changed no other property's index (and so seeds).
void AddPolymorphicProperty(std::vector<CampaignProperty>& out) {
  out.push_back({"op programs traced with an unknown batch size agree with eager at every size",
                 "a random op program traced once with its batch size unknown (an input "
                 "signature such as float32[?, 3]) gives, at every size where the traced call "
                 "succeeds, bitwise the values and gradients of running it eagerly at that size; "
                 "where eager fails the traced call fails with a status, and it never retraces",
                 [] {
                   const PolymorphicCase c = *GenPolymorphicCase();
                   RecordCase(c.program);
                   FailUnlessOk(CheckOpProgramPolymorphic(c));
                 }});
}

}  // namespace

std::vector<CampaignProperty> CampaignProperties() {
  std::vector<CampaignProperty> out;
  AddArchProperties(out);
  internal::AddOpProgramProperties(out);
  AddPolymorphicProperty(out);
  return out;
}

rc::detail::TestResult RunProperty(
    const CampaignProperty& property, const rc::detail::TestParams& params,
    rc::detail::TestListener* listener,
    const std::unordered_map<std::string, rc::detail::Reproduce>& reproduce) {
  rc::detail::TestMetadata metadata;
  metadata.id = property.name;
  metadata.description = property.name;
  SilentListener silent;
  return rc::detail::checkTestable(property.check, metadata, params,
                                   listener != nullptr ? *listener : silent, reproduce);
}

void RecordCase(const ArchSpec& spec) {
  MutableLastCase().spec = spec;
  MutableLastCase().program.reset();
}

void RecordCase(const OpProgram& program) {
  MutableLastCase().program = program;
  MutableLastCase().spec.reset();
}

const CampaignCase& LastCase() { return MutableLastCase(); }

void ClearCase() { MutableLastCase() = CampaignCase(); }

namespace {
// Layers counts the layer calls of `nodes`: a block counts the layers inside it.
int Layers(const std::vector<ArchNode>& nodes) {
  int n = 0;
  for (const ArchNode& node : nodes) n += node.kind == LayerKind::kBlock ? Layers(node.block) : 1;
  return n;
}
}  // namespace

int CaseSize(const CampaignCase& c) {
  if (c.spec) return Layers(c.spec->nodes);
  if (c.program) return static_cast<int>(c.program->steps.size());
  return -1;
}

}  // namespace concord::testing
