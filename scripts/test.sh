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
go test -race -count=1 ./...
go test -race -count=1 -tags e2e ./e2e

fuzztime=${FUZZTIME:-15s}
if [ "$fuzztime" != 0 ]; then
  go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./message
  go test -run '^$' -fuzz '^FuzzApply$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./mapping
  go test -run '^$' -fuzz '^FuzzNext$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./internal/mqtt5
  go test -run '^$' -fuzz '^FuzzConnack$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./internal/mqtt5
fi
