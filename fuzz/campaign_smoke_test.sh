#!/usr/bin/env bash
# Runs the campaign briefly and checks what other tools rely on: the table, the last line, the
# exit statuses (0: no failure, 2: usage error), --list and --replay's errors.
set -euo pipefail
campaign="$1"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A short campaign from a fixed seed passes, prints the table and ends with the summary line.
out="$("${campaign}" --budget_seconds=4 --cases=5 --seed=1)" || fail "the campaign exited $?"
echo "${out}"
grep -qE '^property +cases +passed +failed +smallest +seconds$' <<<"${out}" || fail "no table header"
grep -qE '^the checker sees a one-ulp change +[1-9][0-9]* +[1-9][0-9]* +0 +- +[0-9.]+$' \
  <<<"${out}" || fail "no table row for a property"
grep -q "seed 1," <<<"${out}" || fail "the seed is not printed"
last="$(tail -n 1 <<<"${out}")"
[[ "${last}" =~ ^campaign:\ ([0-9]+)\ properties,\ ([0-9]+)\ cases,\ 0\ failures$ ]] ||
  fail "last line: ${last}"
(( BASH_REMATCH[1] >= 14 && BASH_REMATCH[2] > 0 )) || fail "last line counts: ${last}"

# --max_cases ends the campaign after exactly that many cases.
out="$("${campaign}" --budget_seconds=60 --cases=3 --max_cases=20 --seed=2 --property=bitwise)"
[[ "$(tail -n 1 <<<"${out}")" =~ ^campaign:\ [0-9]+\ properties,\ 20\ cases,\ 0\ failures$ ]] ||
  fail "--max_cases: $(tail -n 1 <<<"${out}")"

# --round runs one round: one unit of each selected property.
out="$("${campaign}" --round=2 --cases=3 --seed=2 --property=bitwise)"
[[ "$(tail -n 1 <<<"${out}")" =~ ^campaign:\ ([0-9]+)\ properties,\ ([0-9]+)\ cases,\ 0\ failures$ ]] ||
  fail "--round: $(tail -n 1 <<<"${out}")"
(( BASH_REMATCH[2] == 3 * BASH_REMATCH[1] )) || fail "--round: $(tail -n 1 <<<"${out}")"

# --list names every property with its promise.
list="$("${campaign}" --list)"
grep -q "^model forms agree bitwise$" <<<"${list}" || fail "--list misses a property"
grep -q "^one and two threads agree bitwise$" <<<"${list}" || fail "--list misses a property"

# Usage errors exit 2 with a message: a missing replay file, a bad flag, an unknown property.
expect_usage_error() {
  local expected="$1"
  shift
  local status=0 err
  err="$("${campaign}" "$@" 2>&1 >/dev/null)" || status=$?
  [[ ${status} == 2 ]] || fail "$* exited ${status}, not 2"
  grep -q -- "${expected}" <<<"${err}" || fail "$*: the message '${err}' lacks '${expected}'"
}
expect_usage_error "cannot read replay file /no/such/replay.txt" --replay=/no/such/replay.txt
expect_usage_error "unknown flag --no_such_flag" --no_such_flag=1
expect_usage_error "no property matches" --property=no-such-property
bad="${TEST_TMPDIR:-/tmp}/bad_replay.txt"
printf 'property: model forms agree bitwise\nreproduce: reproduce=@@@\n' >"${bad}"
expect_usage_error "bad reproduce string" --replay="${bad}"
echo "PASS"
