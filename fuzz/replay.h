// Replays fuzz inputs (files, or directories of files) through a fuzz callback without libFuzzer.
//
// This is what a concord_fuzz_test (//fuzz:fuzz.bzl) links in the normal build, so that
// `bazel test //...` runs every corpus input through the target once:
//
//   int status = concord::fuzz::ReplayMain(argc, argv, &LLVMFuzzerTestOneInput);

#ifndef CONCORD_FUZZ_REPLAY_H_
#define CONCORD_FUZZ_REPLAY_H_

#include <cstddef>
#include <cstdint>

namespace concord::fuzz {

// FuzzCallback has the signature of libFuzzer's LLVMFuzzerTestOneInput.
using FuzzCallback = int (*)(const uint8_t* data, size_t size);

// ReplayMain runs `callback` once on the contents of every file named in argv[1..argc), recursing
// into directories in sorted order. Arguments that start with '-' are libFuzzer flags and are
// ignored. With no inputs at all, it runs the callback once on an empty input. Returns 0, or 1 if
// an argument names nothing readable (a mistyped corpus must not pass silently). A crash in the
// callback crashes the process, as under libFuzzer.
int ReplayMain(int argc, char** argv, FuzzCallback callback);

}  // namespace concord::fuzz

#endif  // CONCORD_FUZZ_REPLAY_H_
