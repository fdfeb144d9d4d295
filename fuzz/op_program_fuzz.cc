// Fuzz target: arbitrary bytes become a small program of autodiff ops with shapes
// (testing::OpProgramFromBytes), whose arguments are often invalid. Property 6 of
// docs/campaigns.md must hold on every one (testing::CheckOpProgramTraced): a program that fails
// eagerly fails traced too, with a status and a message; one that runs eagerly gives the same
// bits traced — values and gradients, through the interpreter after every subset of graph passes
// and through autodiff::Function with passes on and off (NaN payloads and signed zeros
// included). Any disagreement aborts, so libFuzzer reports the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "testing/op_program.h"
#include "testing/op_program_traced.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const concord::testing::OpProgram program = concord::testing::OpProgramFromBytes(data, size);
  const absl::Status status = concord::testing::CheckOpProgramTraced(program);
  if (!status.ok()) {
    std::fprintf(stderr, "op_program_fuzz: eager and traced disagree\n%s%s\n",
                 program.ToString().c_str(), std::string(status.message()).c_str());
    std::abort();
  }
  return 0;
}
