#!/usr/bin/env bash
# Run every native Go fuzz target of the module, one after the other.
#
#   ./fuzz.sh          10 seconds per target (CI runs ./fuzz.sh 5)
#   ./fuzz.sh 300      a long run: 300 seconds per target
#
# Targets are found in the sources (func FuzzXxx(f *testing.F) in *_test.go),
# so a new one runs without editing this script. Each starts from its seeds
# and its committed corpus (testdata/fuzz/FuzzXxx/). A failing input is
# written there by `go test`: commit it with the fix, it then runs as a
# regression test in every `go test`. Exits non-zero if any target failed.
set -euo pipefail

cd "$(dirname "$0")"

seconds="${1:-10}"
case "$seconds" in
'' | *[!0-9]*)
	echo "usage: $0 [seconds per target]" >&2
	exit 2
	;;
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

failed=()
summary=()
while read -r dir name; do
	echo "=== $dir $name (${seconds}s)"
	log="$tmp/$name.log"
	if go test "$dir" -run '^$' -fuzz "^${name}\$" -fuzztime "${seconds}s" >"$log" 2>&1; then
		status=ok
	else
		status=FAIL
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
echo "=== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}" >&2
	exit 1
fi
