#!/usr/bin/env bash
set -euo pipefail
out="$("$1")"
echo "${out}"
grep -q "row sums" <<<"${out}"
grep -q "MatMul" <<<"${out}"
