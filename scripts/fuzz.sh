#!/usr/bin/env bash
# fuzz.sh - run every Go fuzz target of the module for a bounded time each.
#
# Finds each `func FuzzXxx` with `go test -list` and runs it alone with
# -fuzztime (default 15s; FUZZTIME=1m for a longer soak). The seed corpus of
# every target also runs in the plain `go test ./...`; this adds mutation.
# A failing input is written under the package's testdata/fuzz/, where
# `go test` replays it from then on: commit it with the fix.
#
# Usage: scripts/fuzz.sh [packages...]   (default ./...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-15s}
[ $# -gt 0 ] || set -- ./...
targets=0
while read -r pkg; do
  for name in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    printf '== %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
    if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
      # Go 1.26's fuzz coordinator can report a bare "context deadline
      # exceeded" when -fuzztime ends while a worker is mid-call
      # (go.dev/issue/75804, fixed in Go 1.27): no input is written and
      # nothing failed. Only that exact case is tolerated, after the seed
      # corpus and every input found so far pass deterministically.
      if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q -e 'Failing input written' -e 'panic:' -e '_test.go:[0-9]' <<<"$out" &&
        go test -count=1 -run "^${name}\$" "$pkg" >/dev/null 2>&1; then
        printf '%s\n' "$out" | tail -n 2
        echo "fuzz: $pkg $name ended on Go's -fuzztime shutdown race (go.dev/issue/75804), with no failing input; its corpus passes"
        targets=$((targets + 1))
        continue
      fi
      printf '%s\n' "$out" | tail -n 40
      echo "fuzz: $pkg $name FAILED; the failing input is under its testdata/fuzz/"
      exit 1
    fi
    printf '%s\n' "$out" | tail -n 2
    targets=$((targets + 1))
  done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$@")
echo "fuzz: $targets targets, $fuzztime each, no failure"
