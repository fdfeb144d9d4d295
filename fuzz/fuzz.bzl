"""concord_fuzz_test: a libFuzzer target that is also a corpus-replay test.

    load("//fuzz:fuzz.bzl", "concord_fuzz_test")

    concord_fuzz_test(
        name = "safetensors_fuzz_test",
        srcs = ["safetensors_fuzz.cc"],  # defines extern "C" LLVMFuzzerTestOneInput
        corpus = "corpus/safetensors",  # directory in this package
        deps = [":safetensors"],
    )

* Normal build (`bazel test //...`): links //fuzz:replay_main, which runs
  LLVMFuzzerTestOneInput once on every file of the corpus; any crash fails the test.
* `--config=fuzz` (see .bazelrc): links `-fsanitize=fuzzer`, so the binary is a libFuzzer fuzzer.
  `bazel test --config=fuzz` still only replays the corpus files (libFuzzer runs files given as
  arguments once). To fuzz, run the binary on a directory:
      bazel build --config=fuzz //fuzz:safetensors_fuzz_test
      bazel-bin/fuzz/safetensors_fuzz_test -max_total_time=60 /tmp/new_inputs fuzz/corpus/safetensors
"""

_FUZZING = str(Label("//fuzz:fuzzing"))
_REPLAY_MAIN = str(Label("//fuzz:replay_main"))

def concord_fuzz_test(name, srcs, deps = [], corpus = None, tags = [], **kwargs):
    """Declares a fuzz target `name` (a cc_test) that replays `corpus` in the normal build.

    Args:
      name: target name; by convention ends in `_fuzz_test`.
      srcs: sources; one of them defines `extern "C" int LLVMFuzzerTestOneInput(...)` (and
        optionally `LLVMFuzzerInitialize`).
      deps: libraries under test.
      corpus: directory (relative to this package) of seed inputs, replayed file by file.
        Omit it to run a single empty input.
      tags: extra tags; "fuzz" is always added (`--test_tag_filters=-fuzz` skips these).
      **kwargs: passed to cc_test (size, timeout, copts, ...).
    """
    corpus_files = []
    if corpus:
        corpus_files = native.glob([corpus.rstrip("/") + "/**"])
        if not corpus_files:
            fail("concord_fuzz_test %s: corpus directory '%s' has no files" % (name, corpus))
    native.filegroup(
        name = name + "_corpus",
        srcs = corpus_files,
        testonly = True,
    )
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + select({
            _FUZZING: [],
            "//conditions:default": [_REPLAY_MAIN],
        }),
        linkopts = select({
            _FUZZING: ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        # Individual files, never directories: libFuzzer would start fuzzing a directory.
        args = ["$(rootpaths :%s_corpus)" % name],
        data = [":%s_corpus" % name],
        tags = tags + ["fuzz"],
        **kwargs
    )
