#!/usr/bin/env bash
# Startup and memory with a large storage: ./caddy (built, as by
# ./xcaddy.sh build) started on a file_system storage made by gentokens
# (see run.sh's storage_for), the time from its start to the first accepted
# trigger, then REQUESTS requests one after another over one connection,
# each with a token taken in turn from the storage's tokens.txt (so that,
# past cache_size, most are cache misses), and Caddy's peak RSS (VmHWM)
# after them. It measures memory and a start, not throughput: it sends one
# request at a time, and its figures do not depend on the machine's load
# the way a load run's do.
#
#   integration/bench/startup.sh STORAGE_DIR [CACHE_SIZE]
#
# STORAGE_DIR holds data/ (the storage) and tokens.txt. CADDY is the binary
# (default ./caddy). REQUESTS defaults
# to 20000; CACHE_SIZE, when given, is the gateway's cache_size.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$(cd "$1" && pwd)"
cache_size="${2:-}"
requests="${REQUESTS:-20000}"
work="$(mktemp -d)"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
export XDG_DATA_HOME="$work/xdg/data" XDG_CONFIG_HOME="$work/xdg/config"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
up_port="$(free_port)"
gw_port="$(free_port)"
admin_port="$(free_port)"
go build -o "$work/upstream" "$root/integration/bench/upstream"
"$work/upstream" -listen "127.0.0.1:$up_port" 2>/dev/null &
pids+=("$!")

cat >"$work/Caddyfile" <<EOF
{
	admin 127.0.0.1:$admin_port
	storage file_system $dir/data
	log {
		output file $work/caddy-log.json
	}
}
http://127.0.0.1:$gw_port {
	trigger_gateway {
		failed_auth_limit off
		${cache_size:+cache_size $cache_size}
	}
	reverse_proxy 127.0.0.1:$up_port
}
EOF

python3 - "${CADDY:-$root/caddy}" "$work/Caddyfile" "$gw_port" "$dir/tokens.txt" "$requests" <<'EOF'
import http.client, itertools, subprocess, sys, time

caddy, caddyfile, port, tokens_file, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
with open(tokens_file) as f:
    tokens = [line.strip() for line in itertools.islice(f, requests)]
path = "/api/v4/projects/9/trigger/pipeline"

def trigger(conn, token):
    conn.request("POST", path, "token=" + token + "&ref=main",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    return resp.status

start = time.monotonic()
proc = subprocess.Popen([caddy, "run", "--config", caddyfile, "--adapter", "caddyfile"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            if trigger(conn, tokens[0]) == 201:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() - start > 60:
            sys.exit("caddy did not accept a trigger within 60 s")
        time.sleep(0.01)
    first = time.monotonic() - start
    sent = time.monotonic()
    statuses = {}
    for token in tokens:
        status = trigger(conn, token)
        statuses[status] = statuses.get(status, 0) + 1
    took = time.monotonic() - sent
    with open("/proc/%d/status" % proc.pid) as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    print("start to first accepted trigger: %.2f s" % first)
    print("%d requests, one at a time, %d distinct tokens, in %.1f s: statuses %s" % (len(tokens), len(set(tokens)), took, statuses))
    print("peak RSS (VmHWM): %.0f MiB" % (hwm / 1024))
finally:
    proc.terminate()
    proc.wait()
EOF
