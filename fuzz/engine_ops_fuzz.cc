// Fuzz target: arbitrary bytes become a program of engine ops (testing/op_program.h) whose
// shapes, axes, indices, dtypes and float bits are often invalid. Every kernel must answer bad
// input with a status, never a crash, an out-of-bounds access (ASan/UBSan under --config=fuzz) or
// a result that changes from one run to the next.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "engine/tensor.h"
#include "testing/op_program.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using concord::testing::FirstDivergence;
  const concord::testing::OpProgram program = concord::testing::OpProgramFromBytes(data, size);
  const auto first = concord::testing::RunOpProgram(program);
  if (!first.ok()) {
    // An error is a fine answer to bad input, but it must say what went wrong.
    if (first.status().message().empty()) std::abort();
    return 0;
  }
  const auto second = concord::testing::RunOpProgram(program);
  if (!second.ok()) {
    std::fprintf(stderr, "second run failed where the first succeeded:\n%s%s\n",
                 program.ToString().c_str(), std::string(second.status().message()).c_str());
    std::abort();
  }
  if (const auto d = FirstDivergence(program, *second, *first)) {
    std::fprintf(stderr, "two runs disagree:\n%s%s\n", program.ToString().c_str(),
                 d->what.c_str());
    std::abort();
  }
  return 0;
}
