#!/usr/bin/env bash
# The test command: installs the test dependencies, then checks formatting,
# vets, runs every test with the race detector, and fuzzes the decoder and
# the mapping briefly. FUZZTIME=0 leaves the fuzzing out (the seed corpora
# still run as tests).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 ./...

fuzztime=${FUZZTIME:-15s}
if [ "$fuzztime" != 0 ]; then
  go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./message
  go test -run '^$' -fuzz '^FuzzApply$' -fuzztime "$fuzztime" -fuzzminimizetime 2s ./mapping
fi
