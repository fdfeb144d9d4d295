#!/usr/bin/env bash
# Runs the campaign as a Bazel test: "$1" is the campaign binary, the rest its flags. Bazel sets
# the sharding variables (TEST_TOTAL_SHARDS, TEST_SHARD_INDEX, TEST_SHARD_STATUS_FILE) and
# TEST_UNDECLARED_OUTPUTS_DIR, where the campaign writes its failure reports.
set -euo pipefail
exec "$@"
