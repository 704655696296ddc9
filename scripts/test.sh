#!/usr/bin/env bash
# The test command: installs the test dependencies, then checks formatting,
# vets, lints (staticcheck, pinned in go.mod; no production package may
# import the test kit), runs both tiers of tests with the race detector, and fuzzes the
# decoder, the mapping and the MQTT packet reader briefly. FUZZTIME=0
# leaves the fuzzing out (the seed corpora still run as tests).
#
#   unit tier:  go test ./...             Go alone, no external binary
#   e2e tier:   go test -tags e2e ./e2e   the real binary, InfluxDB 1.8,
#                                         Prometheus/promtool and Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go vet -tags e2e ./e2e
scripts/check-imports.sh
go tool staticcheck ./...
go tool staticcheck -tags e2e ./e2e
# A test writes into temporary directories only: a file it left in the
# source tree (a relative data directory is the package's) would be read
# by the next run, and is listed here as a failure.
tree() { git status --porcelain --ignored --untracked-files=all 2>/dev/null | grep -v '\.test$' || true; }
before=$(tree)
go test -race -count=1 ./...
go test -race -count=1 -tags e2e ./e2e
left=$(comm -13 <(echo "$before" | sort) <(tree | sort))
if [ -n "$left" ]; then
  echo "the tests left files in the source tree:" >&2
  echo "$left" >&2
  exit 1
fi

# Budgets in executions (about 15 s each here), not in time: Go 1.26's
# fuzzing coordinator can fail a target with "context deadline exceeded"
# at the end of a -fuzztime duration, having found nothing
# (go.dev/issue/75804, fixed in Go 1.27). FUZZTIME overrides them all (a
# duration or Nx; 0 leaves the fuzzing out).
fuzz() {
  go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" -fuzzminimizetime 2000x "$2"
}
if [ "${FUZZTIME:-}" != 0 ]; then
  fuzz FuzzDecode ./message 600000x
  fuzz FuzzApply ./mapping 100000x
  fuzz FuzzNext ./internal/mqtt5 250000x
  fuzz FuzzConnack ./internal/mqtt5 250000x
fi
