#!/usr/bin/env bash
# Go benchmarks of the request path, compared with benchstat.
#
#   integration/bench/gobench.sh            this tree, 6 runs of each benchmark
#   integration/bench/gobench.sh BASE       BASE (a git revision) against this
#                                           tree, run alternately, then benchstat
#
# Settings (environment): COUNT (runs per benchmark, default 6), BENCH (the
# -bench pattern, default every benchmark), PACKAGES (default the packages
# on the request path). Results go to integration/bench/results/.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

COUNT="${COUNT:-6}"
BENCH="${BENCH:-.}"
PACKAGES="${PACKAGES:-./tokenstore ./triggerapi ./caddymodule ./jobtoken ./policy ./webhook}"
base="${1:-}"

export PATH="$(go env GOPATH)/bin:$PATH"
command -v benchstat >/dev/null 2>&1 || go install golang.org/x/perf/cmd/benchstat@latest

results="$root/integration/bench/results"
mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
tmp="$(mktemp -d)"
cleanup() {
	if [ -n "$base" ] && [ -d "$tmp/base" ]; then git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
export XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config"

# bench DIR OUT: one run of every benchmark in DIR, appended to OUT.
bench() {
	# shellcheck disable=SC2086 # PACKAGES is a list
	(cd "$1" && go test -run '^$' -bench "$BENCH" -benchmem -count 1 $PACKAGES) |
		grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >>"$2"
}

new="$results/gobench-$stamp-new.txt"
if [ -z "$base" ]; then
	for _ in $(seq "$COUNT"); do bench "$root" "$new"; done
	benchstat "$new"
	exit 0
fi

git worktree add --detach "$tmp/base" "$base" >/dev/null
old="$results/gobench-$stamp-base.txt"
# Alternate the two trees so that a machine getting busier or quieter
# during the run weighs on both alike.
for i in $(seq "$COUNT"); do
	echo "run $i/$COUNT" >&2
	bench "$tmp/base" "$old"
	bench "$root" "$new"
done
benchstat "base=$old" "new=$new"
