#!/usr/bin/env bash
# The hand-written loop must fit y = 3 x0 - 2 x1 + 0.5.
set -euo pipefail
out="$("$1")"
echo "${out}"
loss="$(sed -n 's/^step 99 loss \(.*\)$/\1/p' <<<"${out}")"
awk -v l="${loss}" 'BEGIN { exit !(l < 0.001) }'
