#include "engine/mutation.h"

#include <atomic>
#include <string_view>

namespace concord::mutation {
namespace {

std::atomic<internal::Hook> hook{nullptr};

}  // namespace

std::string_view MutantName(Mutant mutant) {
  switch (mutant) {
    case Mutant::kNone: return "none";
    case Mutant::kGeluGradMissesProductTerm: return "gelu_grad";
    case Mutant::kBatchNormTracedIgnoresTraining: return "batch_norm_traced";
    case Mutant::kInitializerCreationOrder: return "initializer_order";
    case Mutant::kSlotsByPosition: return "slots_by_position";
    case Mutant::kSharedLayerRebuilds: return "shared_layer_rebuilds";
    case Mutant::kPassReassociatesSums: return "pass_reassociates";
  }
  return "none";
}

Mutant MutantFromName(std::string_view name) {
  for (Mutant m : kAllMutants) {
    if (MutantName(m) == name) return m;
  }
  return Mutant::kNone;
}

bool Active(Mutant mutant) {
  const internal::Hook h = hook.load(std::memory_order_relaxed);
  return h != nullptr && h(mutant);
}

namespace internal {
void InstallHook(Hook h) { hook.store(h, std::memory_order_relaxed); }
}  // namespace internal

}  // namespace concord::mutation
