#!/usr/bin/env bash
# The digits example must train and classify held-out digits well (the README quotes it).
set -euo pipefail
out="$("$1" --data=examples/data/digits.csv --history="${TEST_TMPDIR}/history.csv")"
echo "${out}"
accuracy="$(sed -n 's/^held-out digits: 360, accuracy \([0-9.]*\),.*/\1/p' <<<"${out}")"
echo "accuracy ${accuracy}"
awk -v a="${accuracy}" 'BEGIN { exit !(a >= 0.93) }'
head -1 "${TEST_TMPDIR}/history.csv" | grep -q "^epoch,loss,samples_per_second,sparse_categorical_accuracy,val_loss,val_sparse_categorical_accuracy$"
test "$(wc -l < "${TEST_TMPDIR}/history.csv")" -eq 21
