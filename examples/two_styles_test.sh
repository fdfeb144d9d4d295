#!/usr/bin/env bash
# Keeps the two-styles example honest: both styles must agree and the error must name the layer.
set -euo pipefail
out="$("$1")"
echo "${out}"
grep -q "inference outputs bitwise equal: yes" <<<"${out}"
grep -q "training  outputs bitwise equal: yes" <<<"${out}"
grep -q "variables: hidden/kernel hidden/bias out/kernel out/bias" <<<"${out}"
grep -q "Total params: 131" <<<"${out}"
grep -q "layer 'hidden' (Dense)" <<<"${out}"
