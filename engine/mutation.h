// Mutation hooks: the planted bugs that prove the property campaign catches real mistakes
// (docs/campaigns.md, "Planted bugs").
//
// Each Mutant names one realistic mistake, written next to the correct code it replaces:
//
//   if (mutation::Active(mutation::Mutant::kGeluGradMissesProductTerm)) return {g * cdf};
//
// Active is false unless the binary links //testing/mutants:planted (testonly), which installs
// the hook that selects one mutant by name (from --define=concord_mutant=NAME at build time, or the
// CONCORD_MUTANT environment variable at run time). In every other binary no hook is installed,
// and Active costs one relaxed atomic load.
#ifndef CONCORD_ENGINE_MUTATION_H_
#define CONCORD_ENGINE_MUTATION_H_

#include <string_view>

namespace concord::mutation {

enum class Mutant {
  kNone,
  // autodiff: d gelu(x) = d(x Phi(x)) taken as Phi(x), the product rule's x phi(x) forgotten.
  kGeluGradMissesProductTerm,
  // models: BatchNormalization uses its moving statistics in a traced training call.
  kBatchNormTracedIgnoresTraining,
  // models: the initializer's random stream depends on how many variables were created before.
  kInitializerCreationOrder,
  // models/optimizers: slots keyed by the variable's position in the list, not its identity.
  kSlotsByPosition,
  // models: a layer called a second time within one call (a shared layer) builds a second set
  // of variables.
  kSharedLayerRebuilds,
  // autodiff/passes: common-subexpression elimination rewrites (a + b) + c as a + (b + c).
  kPassReassociatesSums,
};

// MutantName is the name used by --define=concord_mutant and CONCORD_MUTANT ("gelu_grad", ...).
std::string_view MutantName(Mutant mutant);
// MutantFromName returns kNone for an unknown name.
Mutant MutantFromName(std::string_view name);
// AllMutants lists every mutant but kNone.
constexpr Mutant kAllMutants[] = {
    Mutant::kGeluGradMissesProductTerm,  Mutant::kBatchNormTracedIgnoresTraining,
    Mutant::kInitializerCreationOrder, Mutant::kSlotsByPosition,
    Mutant::kSharedLayerRebuilds, Mutant::kPassReassociatesSums,
};

// Active is true when the installed hook selects `mutant`.
bool Active(Mutant mutant);

namespace internal {
// InstallHook is for //testing/mutants:planted only.
using Hook = bool (*)(Mutant);
void InstallHook(Hook hook);
}  // namespace internal

}  // namespace concord::mutation

#endif  // CONCORD_ENGINE_MUTATION_H_
