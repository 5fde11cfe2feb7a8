#!/usr/bin/env bash
# Build, run and test Caddy with the trigger gateway plugin.
#
#   ./xcaddy.sh build   writes ./caddy (Caddy + this plugin + the standard modules)
#   ./xcaddy.sh run     builds if needed, then runs ./caddy on Caddyfile.example
#   ./xcaddy.sh test    builds, then runs every test (unit tests with -race, integration tests
#                       against the binary just built)
set -euo pipefail

cd "$(dirname "$0")"

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"
MODULE="github.com/triggergate/caddy-trigger-gateway"
# Redis storage, so that several Caddy instances can share tokens, usage and
# revocations (storage redis { ... } in the Caddyfile).
REDIS_STORAGE="github.com/pberkel/caddy-storage-redis@v1.8.1"
export PATH="$(go env GOPATH)/bin:$PATH"

ensure_xcaddy() {
	if ! command -v xcaddy >/dev/null 2>&1; then
		go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
	fi
}

build() {
	ensure_xcaddy
	# xcaddy's "module=." form fails against a module proxy that has never seen this
	# module, so the local tree is pinned as a version and replaced by the checkout.
	XCADDY_SKIP_CLEANUP=0 xcaddy build "${CADDY_VERSION}" \
		--output ./caddy \
		--with "${MODULE}@v0.0.0=." \
		--with "${REDIS_STORAGE}"
}

# The tests drive real servers and clients: redis-server for the cluster
# tests, python-gitlab for the management API, a Buildbot master and worker
# for the upstream tests, Chromium for the browser tests. Install what is missing when
# this is a Debian-like machine we may install on.
ensure_test_packages() {
	local missing=()
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	{ python3 -c 'import gitlab' || /usr/bin/python3 -c 'import gitlab'; } >/dev/null 2>&1 || missing+=(python3-gitlab)
	command -v buildbot >/dev/null 2>&1 || missing+=(buildbot)
	command -v buildbot-worker >/dev/null 2>&1 || missing+=(buildbot-worker)
	command -v chromium >/dev/null 2>&1 || missing+=(chromium)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update && apt-get install -y "${missing[@]}"
	else
		echo "the tests need ${missing[*]}: install them (apt-get install ${missing[*]})" >&2
		exit 1
	fi
}

needs_build() {
	[ ! -x ./caddy ] && return 0
	# Rebuild when any Go source or module file is newer than the binary.
	[ -n "$(find . -path ./integration -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer ./caddy -print -quit)" ]
}

case "${1:-}" in
build)
	build
	;;
run)
	if needs_build; then build; fi
	exec ./caddy run --config Caddyfile.example --adapter caddyfile
	;;
test)
	ensure_test_packages
	build
	# Caddy (and caddytest) write under $HOME's XDG folders: keep tests out of the user's.
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"
	export CADDY_BINARY="$PWD/caddy"
	go vet ./...
	go test -race -count=1 ./... "${@:2}"
	;;
*)
	echo "usage: $0 build|run|test [go test flags]" >&2
	exit 2
	;;
esac
