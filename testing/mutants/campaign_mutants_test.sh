#!/usr/bin/env bash
# The default campaign catches every planted bug (engine/mutation.h) and shrinks it small.
#
# Usage: campaign_mutants_test.sh CAMPAIGN MUTANT...
# For each mutant of this shard (Bazel's test sharding: the i-th mutant goes to shard i % total),
# runs CAMPAIGN with CONCORD_MUTANT set, a fixed seed and a fixed number of cases (so what it finds
# does not depend on the machine's speed), and asserts: exit status 1; at least one failure; and a
# failed property whose shrunk counterexample has at most MAX_SIZE layers (CaseSize: a block counts
# the layers inside it) or program steps.
# Prints, per mutant, the case at which each property first failed. First, with no mutant, the
# same campaign must pass.
set -uo pipefail

readonly CAMPAIGN="$1"
shift
readonly SEED="${CONCORD_MUTANTS_SEED:-7}"
# Round 0 of the default campaign: 25 cases of each of its properties.
readonly MAX_CASES="${CONCORD_MUTANTS_MAX_CASES:-375}"
readonly MAX_SIZE=3
readonly SHARD="${TEST_SHARD_INDEX:-0}"
readonly SHARDS="${TEST_TOTAL_SHARDS:-1}"
if [[ -n "${TEST_SHARD_STATUS_FILE:-}" ]]; then touch "${TEST_SHARD_STATUS_FILE}"; fi
readonly OUT="${TEST_TMPDIR:-$(mktemp -d)}"

status=0
# The baseline: with no bug planted the same campaign finds nothing, so what the runs below find
# is the planted bug's doing.
if ((SHARD == 0)); then
  env -u TEST_SHARD_INDEX -u TEST_TOTAL_SHARDS -u TEST_SHARD_STATUS_FILE \
    CONCORD_MUTANT=none "${CAMPAIGN}" --seed="${SEED}" --max_cases="${MAX_CASES}" \
    --budget_seconds=600 --out="${OUT}/none" >"${OUT}/none.log" 2>&1
  code=$?
  echo "== none: exit ${code}; $(tail -n 1 "${OUT}/none.log")"
  if ((code != 0)); then
    echo "FAIL: the campaign fails with no bug planted; its output:"
    cat "${OUT}/none.log"
    status=1
  fi
fi
i=0
for mutant in "$@"; do
  if ((i++ % SHARDS != SHARD)); then continue; fi
  log="${OUT}/${mutant}.log"
  # The campaign must not see this test's sharding variables: it would run a share of its units.
  env -u TEST_SHARD_INDEX -u TEST_TOTAL_SHARDS -u TEST_SHARD_STATUS_FILE \
    CONCORD_MUTANT="${mutant}" "${CAMPAIGN}" --seed="${SEED}" --max_cases="${MAX_CASES}" \
    --budget_seconds=600 --out="${OUT}/${mutant}" >"${log}" 2>&1
  code=$?
  last="$(tail -n 1 "${log}")"
  # Table rows: property name, then cases, passed, failed, smallest, seconds.
  smallest="$(awk '/^property +cases +passed/ {t = 1; next}
                   t && /^\(/ {t = 0}
                   t && NF >= 6 && $(NF-2) == 1 && $(NF-1) != "-" {
                     if (min == "" || $(NF-1) + 0 < min) min = $(NF-1) + 0
                   }
                   END {print min}' "${log}")"
  echo "== ${mutant}: exit ${code}; ${last}; smallest counterexample: ${smallest:-none}"
  grep -E '^FAILURE in|detected at case|counterexample:' "${log}" | sed 's/^/   /'
  if ((code != 1)) || [[ "${last}" =~ " 0 failures"$ ]] || [[ -z "${smallest}" ]] ||
    ((smallest > MAX_SIZE)); then
    echo "FAIL: the campaign did not catch ${mutant} with a counterexample of at most" \
      "${MAX_SIZE}; its output:"
    cat "${log}"
    status=1
  fi
done
exit "${status}"
