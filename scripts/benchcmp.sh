#!/usr/bin/env bash
# Compares a Go benchmark between a git revision and the working tree, on a
# shared machine whose speed drifts by ±25 % from minute to minute: both test
# binaries are built first, then run in turn (old, new, old, new, ...), and
# the minimum and median of each are printed. Read the ratio of the two.
#
#   scripts/benchcmp.sh REV BENCH [ROUNDS] [PKG]
#   scripts/benchcmp.sh HEAD~1 BenchmarkMapWorkload 10 ./mapping
#
# BENCH must report ns/msg (every hot-path benchmark here does).
set -euo pipefail
rev=${1:?usage: scripts/benchcmp.sh REV BENCH [ROUNDS] [PKG]}
bench=${2:?usage: scripts/benchcmp.sh REV BENCH [ROUNDS] [PKG]}
rounds=${3:-8}
pkg=${4:-./mapping}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

git -C "$root" worktree add --detach "$tmp/old" "$rev" >/dev/null 2>&1
(cd "$tmp/old" && go test -c -o "$tmp/old.test" "$pkg")
(cd "$root" && go test -c -o "$tmp/new.test" "$pkg")

for _ in $(seq "$rounds"); do
  for v in old new; do
    dir=$root/$pkg
    [ "$v" = old ] && dir=$tmp/old/$pkg
    (cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench "^$bench\$" -test.benchtime 0.5s) |
      awk -v v="$v" '{ for (i = 2; i <= NF; i++) if ($i == "ns/msg") print v, $(i-1) }'
  done
done | awk '
  { n[$1]++; x[$1, n[$1]] = $2 }
  END {
    for (v in n) {
      m = n[v]
      for (i = 1; i <= m; i++) a[i] = x[v, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
      printf "%s: min %.0f ns/msg, median %.0f ns/msg (%d runs)\n", v, a[1], med, m
      mins[v] = a[1]; meds[v] = med
    }
    if (("old" in meds) && ("new" in meds))
      printf "new/old: %.2f by median, %.2f by minimum\n", meds["new"] / meds["old"], mins["new"] / mins["old"]
  }'
