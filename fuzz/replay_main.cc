// main() for concord_fuzz_test targets outside --config=fuzz: replays the corpus files given as
// arguments through the target's LLVMFuzzerTestOneInput (see fuzz/replay.h).

#include <cstddef>
#include <cstdint>

#include "fuzz/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional, as in libFuzzer.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  return concord::fuzz::ReplayMain(argc, argv, &LLVMFuzzerTestOneInput);
}
