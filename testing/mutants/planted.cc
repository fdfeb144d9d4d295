// Links the planted bugs of engine/mutation.h into a binary: installs the hook that selects one
// mutant by name, from the CONCORD_MUTANT environment variable if set, else from
// --define=concord_mutant=NAME at build time (CONCORD_PLANTED_MUTANT), else none.
// An unknown name is an error (exit status 2), not a silently clean run.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/mutation.h"

#ifndef CONCORD_PLANTED_MUTANT
#define CONCORD_PLANTED_MUTANT "none"
#endif

namespace concord::mutation {
namespace {

// Read on every check, so a test can switch mutants with setenv.
Mutant SelectedMutant() {
  const char* env = std::getenv("CONCORD_MUTANT");
  const std::string name = env != nullptr && *env != '\0' ? env : CONCORD_PLANTED_MUTANT;
  const Mutant m = MutantFromName(name);
  if (m == Mutant::kNone && name != "none") {
    std::fprintf(stderr, "unknown mutant \"%s\"; the mutants are:", name.c_str());
    for (Mutant known : kAllMutants) {
      std::fprintf(stderr, " %s", std::string(MutantName(known)).c_str());
    }
    std::fprintf(stderr, " (or none)\n");
    std::exit(2);
  }
  return m;
}

bool IsSelected(Mutant mutant) { return mutant == SelectedMutant(); }

const bool installed = [] {
  internal::InstallHook(&IsSelected);
  return true;
}();

}  // namespace
}  // namespace concord::mutation
