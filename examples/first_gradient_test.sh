#!/usr/bin/env bash
set -euo pipefail
out="$("$1")"
echo "${out}"
grep -q "GradCheck: OK" <<<"${out}"
grep -q "MatMul: inner dimensions differ" <<<"${out}"
