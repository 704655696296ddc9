#!/usr/bin/env bash
# The test kit (testkit/: process runners, fakes, workloads, flespi-bench)
# is for tests and benchmarks only: no production package may import it,
# so that the binary never carries a fake or a test helper.
set -euo pipefail
cd "$(dirname "$0")/.."
production=$(go list ./... | grep -v -e '/testkit/' -e '/e2e$')
leaks=$(for p in $production; do
  go list -deps "$p" | grep '/testkit/' | sed "s#^#$p imports #" || true
done)
if [ -n "$leaks" ]; then
  echo "production packages import the test kit:" >&2
  echo "$leaks" >&2
  exit 1
fi

# Sources and outputs are rooms apart: a source hands batches to the
# pipeline and never reaches into an output (what it must read of an
# output's files is in exporter/deadletter, which both import).
crossing=$(for p in $(go list ./exporter/source/...); do
  go list -f '{{join .Imports "\n"}}' "$p" | grep '/exporter/output/' | sed "s#^#$p imports #" || true
done)
if [ -n "$crossing" ]; then
  echo "sources import outputs:" >&2
  echo "$crossing" >&2
  exit 1
fi
