#!/usr/bin/env bash
# Runs the campaign briefly and checks that it finishes cleanly and reports what it ran.
set -euo pipefail
campaign="$1"
out="$("${campaign}" --seconds=3 --cases=5 --seed=1)"
echo "${out}"
grep -q "No divergence found in [1-9][0-9]* cases" <<<"${out}"
grep -q "the checker sees a one-ulp change" <<<"${out}"
# Replaying one property with one seed runs exactly one round.
replay="$("${campaign}" --property=repeated --replay_seed=99 --cases=3)"
grep -q "^1 rounds in" <<<"${replay}"
# An unknown property is a usage error, not a silent pass.
if "${campaign}" --property=no-such-property >/dev/null 2>&1; then
  echo "an unknown property must fail" >&2
  exit 1
fi
