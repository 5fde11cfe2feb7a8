#!/usr/bin/env bash
# Run every native Go fuzz target of the module, one after the other.
#
#   ./fuzz.sh           10 seconds per target
#   ./fuzz.sh 300       a long run: 300 seconds per target
#   ./fuzz.sh 30000x    30,000 executions per target (CI's budget)
#
# CI counts executions, not seconds: with a duration, Go's fuzzing
# coordinator can report its own deadline as a failure ("context deadline
# exceeded", no failing input) when the machine is busy at the moment the
# time runs out (golang/go#75804, fixed in Go 1.27). A count sets no
# deadline. A duration run that ends that way is run once more; a second
# time, it fails.
#
# Targets are found in the sources (func FuzzXxx(f *testing.F) in *_test.go),
# so a new one runs without editing this script. Each starts from its seeds
# and its committed corpus (testdata/fuzz/FuzzXxx/). A failing input is
# written there by `go test`: commit it with the fix, it then runs as a
# regression test in every `go test`. Exits non-zero if any target failed.
set -euo pipefail

cd "$(dirname "$0")"

budget="${1:-10}"
case "$budget" in
*[!0-9x]* | x* | *x?* | '')
	echo "usage: $0 [seconds per target | executions per target followed by x]" >&2
	exit 2
	;;
*x) fuzztime="$budget" label="${budget%x} executions" ;;
*) fuzztime="${budget}s" label="${budget}s" ;;
esac

# Caddy writes under the XDG folders: keep any test that touches it out of
# the user's.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"

# "package-dir target" lines; the integration tests drive the Caddy binary
# and hold no fuzz targets.
targets="$(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
	grep -v '^./integration/' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' |
	sort -u)"
if [ -z "$targets" ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi

# fuzz_one DIR TARGET LOG runs one target for the budget. It remembers the
# target's corpus listing first, so that a failure can tell whether it
# wrote a failing input.
fuzz_one() {
	corpus_of "$1" "$2" >"$tmp/corpus-before"
	go test "$1" -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" >"$3" 2>&1
}

# coordinator_deadline_only DIR TARGET LOG: did the run fail only with Go's
# deadline race? Its whole failure is "context deadline exceeded", and no
# failing input was written.
coordinator_deadline_only() {
	case "$fuzztime" in *x) return 1 ;; esac
	grep -q -- "--- FAIL: $2 " "$3" || return 1
	[ "$(grep -A1 -- "--- FAIL: $2 " "$3" | tail -n 1 | tr -d ' \t')" = "contextdeadlineexceeded" ] || return 1
	corpus_of "$1" "$2" | cmp -s - "$tmp/corpus-before"
}

# corpus_of DIR TARGET lists the files of the target's corpus folder, if any.
corpus_of() {
	if [ -d "$1/testdata/fuzz/$2" ]; then
		ls "$1/testdata/fuzz/$2"
	fi
}

failed=()
summary=()
while read -r dir name; do
	echo "=== $dir $name ($label)"
	log="$tmp/$name.log"
	status=FAIL
	for attempt in 1 2; do
		if fuzz_one "$dir" "$name" "$log"; then
			status=ok
			break
		fi
		[ "$attempt" = 1 ] && coordinator_deadline_only "$dir" "$name" "$log" || break
		echo "--- $name: the fuzzing coordinator's own deadline (golang/go#75804), no failing input: once more"
	done
	if [ "$status" = FAIL ]; then
		failed+=("$dir $name")
	fi
	tail -n 3 "$log"
	# The last progress line holds the total number of executions.
	execs="$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2 || true)"
	summary+=("$(printf '%-5s %-12s %-22s %12s execs' "$status" "$dir" "$name" "${execs:-?}")")
	if [ "$status" = FAIL ]; then
		cat "$log"
	fi
done <<<"$targets"

echo
echo "=== fuzz summary ($label per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}" >&2
	exit 1
fi
