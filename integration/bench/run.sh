#!/usr/bin/env bash
# Load benchmark: the gateway against plain reverse_proxy to the same
# upstream, in one run, on this machine. Not run by CI (it takes minutes and
# its figures depend on the machine); BENCHMARKS.md holds the figures of a
# run and the command that produced them.
#
#   integration/bench/run.sh            the load cases (a)-(e), then a table
#   integration/bench/run.sh memory     peak RSS of Caddy with 100,000 and
#                                       1,000,000 tokens in storage
#   integration/bench/run.sh pair       (a), (ac) and (b) alone, in turn,
#                                       PAIRS times (default 10): the median
#                                       of many adjacent rounds, for a
#                                       machine whose speed drifts between
#                                       runs
#   integration/bench/run.sh modules    the gateway through each upstream
#                                       module (gitlab, jenkins,
#                                       github_actions, buildbot, buildkite,
#                                       woodpecker, json) against plain
#                                       reverse_proxy sent the very request
#                                       that module sends, in alternating
#                                       pairs, PAIRS times each
#   integration/bench/run.sh cold       (ad) and (d) alone, in turn, PAIRS
#                                       times: the cold path against its
#                                       own baseline
#   integration/bench/run.sh redis      (a), (b), (ad) and (d) with the
#                                       storage in a local redis-server
#                                       (caddy-storage-redis): cases
#                                       (b-redis) and (d-redis), with the
#                                       Redis commands each case sent
#
# Settings (environment): DURATION (wrk's -d, default 30s: longer than the
# default usage_flush_interval, so that every case pays for its flushes), ROUNDS (default
# 3: the cases run in turn ROUNDS times, each in a freshly started Caddy,
# and the table gives the median, so that a machine getting busier or
# quieter weighs on every case; each case also runs right after its
# baseline, and the ratios of the two are given round by round), CONNECTIONS
# (default 32), THREADS (default 1: wrk, Caddy and the upstream share the
# machine's cores), TOKENS (default 100000), MEMORY_TOKENS (default
# "100000 1000000"), PAIRS (default 10), STORAGE_IN (memory or disk, see below; the memory
# mode's storage always stays on disk), SKIP_BUILD=1 to use ./caddy as it
# is.
#
# Cases, each against the same upstream (integration/bench/upstream):
#   a  plain reverse_proxy, the same form request as (b)
#   ac plain reverse_proxy, sent the very request (b) forwards: (b)'s JSON
#      body and the three X-Trigger-* headers (contract §5). What the
#      upstream and the proxy pay for the canonical request, without the
#      gateway: (b) can get no nearer to (a) than (ac) is. (Caddy also
#      reads those headers from wrk here, which (b) does not.)
#   b  the gateway, one valid token (cached after its first use)
#   ar (a) at a steady pace (PACE_MS=10: each connection waits 10 ms after
#      every response), about a quarter of what the machine can serve
#   br (b) at the same pace: against (ar), the latency each request adds
#      when the machine is not saturated (at saturation, with wrk's closed
#      loop, a lower throughput alone lengthens every connection's queue)
#   am plain reverse_proxy, the same trigger as a multipart/form-data body,
#      as curl --form sends it (GitLab's documented call)
#   bm (b) with (am)'s multipart request
#   c  the gateway, a new invalid token every request (failed_auth_limit off,
#      so every request is looked up and refused with 404)
#   c2 the same with the default failed_auth_limit (refused with 429)
#   d  the gateway, TOKENS distinct valid tokens picked at random from
#      storage with the default cache of 10,000: most are cache misses
#   e  the webhook route with a 20 KB push-event body
#   ad plain reverse_proxy with (d)'s requests: (d)'s own baseline (wrk
#      builds each of them in Lua, which costs it more than (a)'s fixed one)
#   ae plain reverse_proxy with (e)'s request: (e)'s own baseline
#   al plain reverse_proxy with an access log, filtered as in
#      Caddyfile.example
#   bl (b) with the same access log carrying the gateway's decision
#      (Caddyfile.example's log_append lines): the audit trail's cost,
#      against (al)
#   d2 (d) again with cache_size 100000, the cache filled first: every
#      token fits in it
#
# The cases measure the gateway, not the disk: by default (STORAGE_IN=memory)
# they run on a copy of the storage in tmpfs (/dev/shm), as on a server
# whose page cache holds the storage. Reading the files once beforehand is
# not enough on every machine: the development VM pages out any page cache
# left unused for about a minute (DAMON's pageout scheme), and its disk
# then serves about 550 reads/s, so (d) measured the disk. STORAGE_IN=disk
# runs on the storage where it was made, its files read once first.
#
# Tokens are created once per TOKENS value through the product's own
# tokenstore (integration/bench/gentokens) and kept, with the run's logs,
# under integration/bench/results/ (ignored by git).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

DURATION="${DURATION:-30s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
TOKENS="${TOKENS:-100000}"
MEMORY_TOKENS="${MEMORY_TOKENS:-100000 1000000}"
PAIRS="${PAIRS:-10}"
STORAGE_IN="${STORAGE_IN:-memory}"
mode="${1:-load}"
case "$STORAGE_IN" in
memory | disk) ;;
*)
	echo "STORAGE_IN is memory or disk, not $STORAGE_IN" >&2
	exit 2
	;;
esac

command -v wrk >/dev/null 2>&1 || {
	echo "wrk is missing: apt-get install -y wrk" >&2
	exit 1
}

results="$root/integration/bench/results"
run="$results/run-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run/bin"
export XDG_DATA_HOME="$run/xdg/data" XDG_CONFIG_HOME="$run/xdg/config"

if [ "${SKIP_BUILD:-}" != 1 ] || [ ! -x ./caddy ]; then
	./xcaddy.sh build >"$run/build.log" 2>&1
fi
go build -o "$run/bin/upstream" ./integration/bench/upstream
go build -o "$run/bin/gentokens" ./integration/bench/gentokens

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# free_port asks the kernel for a free loopback port.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# storage_for N: a file_system storage holding N tokens of project 9, made
# once and reused; the tokens are in its tokens.txt, one a line.
storage_for() {
	local n="$1" dir="$results/storage-$1"
	if [ ! -f "$dir/tokens.txt" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		echo "creating $n tokens in $dir (once)..." >&2
		"$run/bin/gentokens" -storage "$dir/data" -count "$n" -out "$dir/tokens.tmp" >&2
		mv "$dir/tokens.tmp" "$dir/tokens.txt"
	fi
	echo "$dir"
}

# storage_in_memory DIR: a copy of DIR's storage in tmpfs, made once (a
# few minutes for 100,000 tokens) and reused until the machine restarts.
# The cases add usage records to it as they do to the storage on disk.
storage_in_memory() {
	local copy="/dev/shm/caddy-trigger-gateway-bench/$(basename "$1")"
	if [ ! -f "$copy/copied" ]; then
		echo "copying $1/data to tmpfs, $copy (once)..." >&2
		rm -rf "$copy"
		mkdir -p "$copy"
		cp -a "$1/data" "$copy/data"
		touch "$copy/copied"
	fi
	echo "$copy/data"
}

up_port="$(free_port)"
"$run/bin/upstream" -listen "127.0.0.1:$up_port" 2>"$run/upstream.log" &
up_pid=$!
pids+=("$up_pid")
wait_port "$up_port"

admin_port="$(free_port)"
plain_port="$(free_port)"
gw_port="$(free_port)"
limited_port="$(free_port)"

# start_caddy STORAGE_DIR [SITE_OPTION [GATEWAY_OPTION]]: Caddy with the
# three sites of the cases and, unless SITE_OPTION adds one to the plain
# and gateway sites, no access logs. Caddy's log (at its default level,
# INFO: the gateway's refusals, not its acceptances) goes to a file.
# GATEWAY_OPTION is one more line of both trigger_gateway blocks: they
# share one token store, whose settings (cache_size) must agree.
start_caddy() {
	local storage="storage file_system $1"
	if [ -n "${redis_port:-}" ]; then
		storage="storage redis {
		host 127.0.0.1
		port $redis_port
	}"
	fi
	cat >"$run/Caddyfile" <<EOF
{
	admin 127.0.0.1:$admin_port
	$storage
	log {
		output file $run/caddy-log.json
	}
}
http://127.0.0.1:$plain_port {
	${2:-}
	reverse_proxy 127.0.0.1:$up_port
}
http://127.0.0.1:$gw_port {
	${2:-}
	trigger_gateway {
		failed_auth_limit off
		${3:-}
	}
	reverse_proxy 127.0.0.1:$up_port
}
http://127.0.0.1:$limited_port {
	trigger_gateway {
		${3:-}
	}
	reverse_proxy 127.0.0.1:$up_port
}
$(module_sites "${3:-}")
EOF
	./caddy run --config "$run/Caddyfile" --adapter caddyfile >>"$run/caddy.out" 2>&1 &
	caddy_pid=$!
	pids+=("$caddy_pid")
	wait_port "$gw_port"
}

# The upstream modules of the modules mode, each with the settings of
# caddymodule's BenchmarkServeHTTPUpstream, and a port for the site that
# uses it (given out once module_ports is called).
modules="gitlab jenkins github_actions buildbot buildkite woodpecker json"
declare -A module_port=()
declare -A module_settings=(
	[gitlab]=""
	[jenkins]="job folder/deploy-app
			ref_parameter GIT_REF
			user ci-bot
			api_token {env.BENCH_CI_TOKEN}"
	[github_actions]="repository acme/app
			workflow deploy.yml
			token {env.BENCH_CI_TOKEN}"
	[buildbot]="scheduler force
			builder runtests
			web_url https://buildbot.example.com"
	[buildkite]="organization acme
			pipeline deploy
			token {env.BENCH_CI_TOKEN}"
	[woodpecker]="repository_id 7
			token {env.BENCH_CI_TOKEN}
			web_url https://ci.example.com"
	[json]="path /hooks/deploy"
)
export BENCH_CI_TOKEN=bench-ci-credential-0123456789

module_ports() {
	local m
	for m in $modules; do module_port[$m]="$(free_port)"; done
}

# module_sites GATEWAY_OPTION: one gateway site per upstream module, to
# ${module_upstream_port:-$up_port}, once module_ports has given them ports.
module_sites() {
	local m
	for m in "${!module_port[@]}"; do
		cat <<EOF
http://127.0.0.1:${module_port[$m]} {
	trigger_gateway {
		failed_auth_limit off
		upstream $m {
			${module_settings[$m]}
		}
		$1
	}
	reverse_proxy 127.0.0.1:${module_upstream_port:-$up_port}
}
EOF
	done
}

stop_caddy() {
	kill "$caddy_pid" 2>/dev/null || true
	wait "$caddy_pid" 2>/dev/null || true
}

# metric NAME LABELS: the value of one sample on Caddy's metrics endpoint.
metric() {
	curl -s "http://127.0.0.1:$admin_port/metrics" |
		awk -v name="$1" -v labels="$2" '$1 == name labels { print $2 }'
}

# wrk_case NAME URL SCRIPT: one wrk run, appended to the case's output in
# the run's folder.
wrk_case() {
	local name="$1" url="$2" script="$3"
	echo "=== $name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION $url" >&2
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url" >>"$run/$name.wrk" 2>&1
	tail -n 4 "$run/$name.wrk" >&2
}

# awk_functions for the awk programs below: ms(v) turns one of wrk's
# latencies (812.00us, 2.95ms, 1.28s) into milliseconds; median(a, n) sorts
# a[1..n] in place and returns their median.
awk_functions='
function ms(v) {
	if (v ~ /us$/) return substr(v, 1, length(v)-2) / 1000
	if (v ~ /ms$/) return substr(v, 1, length(v)-2) + 0
	if (v ~ /s$/) return substr(v, 1, length(v)-1) * 1000
	return v
}
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
'

# summary NAME: "rps p50_ms p99_ms non2xx", the median of each over the
# case's runs (non2xx summed).
summary() {
	awk "$awk_functions"'
	/^ +50%/ { p50[++n50] = ms($2) }
	/^ +99%/ { p99[++n99] = ms($2) }
	/^Requests\/sec:/ { rps[++nr] = $2 }
	/Non-2xx or 3xx responses:/ { bad += $NF }
	END { printf "%.0f %.3f %.3f %d\n", median(rps, nr), median(p50, n50), median(p99, n99), bad }
	' "$run/$1.wrk"
}

lua_dir="$root/integration/bench/wrk"

# access_log: the site access log of Caddyfile.example, to a file, with the
# gateway's decision fields (the @trigger matcher matches no request of
# the plain site, which has no gateway).
access_log() {
	cat <<EOF
log {
		output file $run/access-log.json
		format filter {
			request>uri regexp (?i)((?:job_|private_)?token|(?:variables|inputs)(?:\[|%5B)[^=&]*)=[^&]* \${1}=REDACTED
			request>headers>Job-Token delete
			request>headers>Private-Token delete
			request>headers>X-Gitlab-Token delete
			request>headers>X-Hub-Signature-256 delete
		}
	}
	@trigger trigger
	log_append @trigger trigger_outcome {http.trigger.outcome}
	log_append @trigger trigger_project {http.trigger.project}
	log_append @trigger trigger_ref {http.trigger.ref}
	log_append @trigger trigger_source {http.trigger.source}
	log_append @trigger trigger_id {http.trigger.id}
	log_append @trigger trigger_token_prefix {http.trigger.token_prefix}
EOF
}

# case_in_fresh_caddy NAME URL SCRIPT [SITE_OPTION [GATEWAY_OPTION [FILL]]]:
# one run of a case in a Caddy started for it alone, so that no case
# inherits another's cache, memory or background writes; FILL=fill first
# runs the case for 30 s, unmeasured, to fill the cache. Caddy is killed
# (SIGKILL) afterwards: its final usage flush would only slow the run.
case_in_fresh_caddy() {
	local name="$1" url="$2" script="$3"
	start_caddy "$storage_data" "${4:-}" "${5:-}"
	if [ "${6:-}" = fill ]; then
		wrk -t"$THREADS" -c"$CONNECTIONS" -d30s -s "$script" "$url" >/dev/null 2>&1
	fi
	local hits0 misses0
	hits0="$(metric caddy_trigger_gateway_token_cache_total '{result="hit"}')"
	misses0="$(metric caddy_trigger_gateway_token_cache_total '{result="miss"}')"
	local cpu0
	if [ -n "${redis_port:-}" ]; then redis_commands >"$run/redis-before"; fi
	cpu0="$(cpu_ticks)"
	wrk_case "$name" "$url" "$script"
	echo "$cpu0 $(cpu_ticks)" >>"$run/$name.cpu"
	if [ -n "${redis_port:-}" ]; then redis_commands_during "$name"; fi
	echo "$name $(($(metric caddy_trigger_gateway_token_cache_total '{result="hit"}') - ${hits0:-0})) $(($(metric caddy_trigger_gateway_token_cache_total '{result="miss"}') - ${misses0:-0}))" >>"$run/cache.txt"
	awk '/VmHWM/ { print $2 }' "/proc/$caddy_pid/status" >>"$run/$name.rss"
	kill -9 "$caddy_pid" 2>/dev/null || true
	wait "$caddy_pid" 2>/dev/null || true
}

# cpu_ticks: "caddy upstream", the CPU time each process has used so far,
# in clock ticks.
cpu_ticks() {
	echo "$(awk '{ print $14 + $15 }' "/proc/$caddy_pid/stat") $(awk '{ print $14 + $15 }' "/proc/$up_pid/stat")"
}

# cpu_per_request NAME: "caddy upstream", the CPU microseconds each process
# spent per request of the case (the median of the rounds): where the
# throughput goes, whichever way the machine's speed drifts.
cpu_per_request() {
	paste "$run/$1.cpu" <(per_round "$1" '/ requests in /' '$1') |
		awk -v tick="$(getconf CLK_TCK)" "$awk_functions"'
		{ c[NR] = ($3 - $1) / tick / $5 * 1e6; u[NR] = ($4 - $2) / tick / $5 * 1e6 }
		END { printf "%.0f %.0f\n", median(c, NR), median(u, NR) }'
}

# per_round NAME PATTERN VALUE: VALUE (an awk expression) of each line of
# the case's wrk output that matches PATTERN, one a line: one a round.
per_round() {
	awk "$awk_functions $2"' { print '"$3"' }' "$run/$1.wrk"
}

# spread FORMAT: "median min max" of the numbers on standard input, each
# printed with FORMAT.
spread() {
	awk -v f="$1" "$awk_functions"'
	{ r[NR] = $1 }
	END { m = median(r, NR); printf f " " f " " f "\n", m, r[1], r[NR] }'
}

# paired CASE BASE: the case's throughput over its baseline's, round by
# round: "median min max" of those ratios.
paired() {
	paste <(per_round "$1" '/^Requests\/sec:/' '$2') <(per_round "$2" '/^Requests\/sec:/' '$2') |
		awk '{ print $1 / $2 }' | spread '%.2f'
}

# p99_added CASE BASE: the case's p99 minus its baseline's, in ms, round
# by round: "median min max".
p99_added() {
	paste <(per_round "$1" '/^ +99%/' 'ms($2)') <(per_round "$2" '/^ +99%/' 'ms($2)') |
		awk '{ print $1 - $2 }' | spread '%+.3f'
}

# cache_misses NAME: "hits misses" summed over the case's runs.
cache_misses() {
	awk -v n="$1" '$1 == n { h += $2; m += $3 } END { printf "%d %d\n", h, m }' "$run/cache.txt"
}

# ratio X Y: X / Y with two decimals.
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }

# prepare_storage: the storage the cases run on (storage_data) and the
# tokens wrk sends (TOKEN, TOKENS_FILE).
prepare_storage() {
	local dir tokens valid
	dir="$(storage_for "$TOKENS")"
	tokens="$dir/tokens.txt"
	valid="$(head -n 1 "$tokens")"
	if [ "$STORAGE_IN" = memory ]; then
		storage_data="$(storage_in_memory "$dir")"
	else
		storage_data="$dir/data"
		echo "reading the storage once (OS page cache)..." >&2
		find "$dir/data" -type f -print0 | xargs -0 cat >/dev/null
	fi
	export TOKEN="$valid" TOKENS_FILE="$tokens"
}

load() {
	prepare_storage
	local path="/api/v4/projects/9/trigger/pipeline" hook="/api/v4/projects/9/ref/main/trigger/pipeline"
	local plain="http://127.0.0.1:$plain_port" gw="http://127.0.0.1:$gw_port" limited="http://127.0.0.1:$limited_port"
	local round
	for round in $(seq "$ROUNDS"); do
		echo "--- round $round/$ROUNDS" >&2
		# Each case runs right after its baseline, so that the ratios of
		# a round (see paired) compare cases measured minutes apart at most.
		case_in_fresh_caddy a "$plain$path" "$lua_dir/form.lua"
		case_in_fresh_caddy ac "$plain$path" "$lua_dir/canonical.lua"
		case_in_fresh_caddy b "$gw$path" "$lua_dir/form.lua"
		PACE_MS=10 case_in_fresh_caddy ar "$plain$path" "$lua_dir/form.lua"
		PACE_MS=10 case_in_fresh_caddy br "$gw$path" "$lua_dir/form.lua"
		case_in_fresh_caddy am "$plain$path" "$lua_dir/multipart.lua"
		case_in_fresh_caddy bm "$gw$path" "$lua_dir/multipart.lua"
		case_in_fresh_caddy c "$gw$path" "$lua_dir/invalid.lua"
		case_in_fresh_caddy c2 "$limited$path" "$lua_dir/invalid.lua"
		case_in_fresh_caddy ad "$plain$path" "$lua_dir/many.lua"
		case_in_fresh_caddy d "$gw$path" "$lua_dir/many.lua"
		case_in_fresh_caddy d2 "$gw$path" "$lua_dir/many.lua" "" "cache_size 100000" fill
		case_in_fresh_caddy al "$plain$path" "$lua_dir/form.lua" "$(access_log)"
		case_in_fresh_caddy bl "$gw$path" "$lua_dir/form.lua" "$(access_log)"
		case_in_fresh_caddy ae "$plain$hook" "$lua_dir/webhook.lua"
		case_in_fresh_caddy e "$gw$hook" "$lua_dir/webhook.lua"
	done

	{
		echo "Load run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS rounds, each case in a freshly started Caddy, $TOKENS tokens in storage (file_system, in $STORAGE_IN)"
		echo
		echo "| case | requests/s | p50 ms | p99 ms | non-2xx | throughput vs (a) | p99 vs (a) | peak RSS | CPU µs/request: Caddy, upstream |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		local base_rps base_p99 name rps p50 p99 bad rss caddy_us up_us
		read -r base_rps _ base_p99 _ < <(summary a)
		for name in a ac b ar br am bm al bl c c2 d d2 ad e ae; do
			read -r rps p50 p99 bad < <(summary "$name")
			rss="$(sort -n "$run/$name.rss" | tail -n 1 | awk '{ printf "%.0f MiB", $1 / 1024 }')"
			read -r caddy_us up_us < <(cpu_per_request "$name")
			awk -v n="$name" -v r="$rps" -v p50="$p50" -v p99="$p99" -v bad="$bad" -v br="$base_rps" -v bp="$base_p99" -v rss="$rss" -v cu="$caddy_us" -v uu="$up_us" \
				'BEGIN { printf "| %s | %.0f | %.3f | %.3f | %d | %.2f | %+.3f ms | %s | %d, %d |\n", n, r, p50, p99, bad, r / br, p99 - bp, rss, cu, uu }'
		done
		echo
		local d_rps d2_rps ad_rps e_rps ae_rps al_rps bl_rps hits misses
		read -r al_rps _ < <(summary al)
		read -r bl_rps _ < <(summary bl)
		read -r d_rps _ < <(summary d)
		read -r d2_rps _ < <(summary d2)
		read -r ad_rps _ < <(summary ad)
		read -r e_rps _ < <(summary e)
		read -r ae_rps _ < <(summary ae)
		echo "Against their own baselines: d $(ratio "$d_rps" "$ad_rps") and d2 $(ratio "$d2_rps" "$ad_rps") of ad; e $(ratio "$e_rps" "$ae_rps") of ae; bl $(ratio "$bl_rps" "$al_rps") of al."
		local ar_p50 ar_p99 br_p50 br_p99
		read -r _ ar_p50 ar_p99 _ < <(summary ar)
		read -r _ br_p50 br_p99 _ < <(summary br)
		echo
		echo "At a steady pace (ar, br): the gateway adds $(awk -v x="$br_p50" -v y="$ar_p50" 'BEGIN { printf "%+.3f", x - y }') ms at p50 and $(awk -v x="$br_p99" -v y="$ar_p99" 'BEGIN { printf "%+.3f", x - y }') ms at p99 (medians of the rounds); round by round, br's p99 minus ar's: $(p99_added br ar | awk '{ printf "median %s ms, %s to %s ms", $1, $2, $3 }'); b's minus a's at saturation: $(p99_added b a | awk '{ printf "median %s ms, %s to %s ms", $1, $2, $3 }')."
		echo
		echo "Round by round, each case's throughput over its baseline's (median, min-max over the rounds):"
		echo
		echo "| case | baseline | ratio | min | max |"
		echo "| --- | --- | ---: | ---: | ---: |"
		local pair med lo hi
		for pair in b:a ac:a b:ac br:ar bm:am c:a c2:a d:ad d:a d2:ad bl:al e:ae; do
			read -r med lo hi < <(paired "${pair%%:*}" "${pair##*:}")
			echo "| ${pair%%:*} | ${pair##*:} | $med | $lo | $hi |"
		done
		echo
		read -r hits misses < <(cache_misses d)
		echo "Case d token cache: $hits hits, $misses misses ($(awk -v h="$hits" -v m="$misses" 'BEGIN { if (h + m) printf "%.0f", 100 * m / (h + m); else print 0 }')% misses)."
		read -r hits misses < <(cache_misses d2)
		echo "Case d2 token cache (after its fill): $hits hits, $misses misses."
	} | tee "$run/summary.md"
}

# memory: Caddy's peak RSS while case (d)'s load runs over N tokens in
# storage, for each N of MEMORY_TOKENS; the token cache (default 10,000
# entries) bounds it, whatever N is.
memory() {
	local n dir
	echo "| tokens in storage | peak RSS (VmHWM) after ${DURATION} of random tokens | requests/s | cache misses |" | tee "$run/memory.md"
	echo "| ---: | ---: | ---: | ---: |" | tee -a "$run/memory.md"
	for n in $MEMORY_TOKENS; do
		dir="$(storage_for "$n")"
		start_caddy "$dir/data"
		local misses0 misses rps rss
		misses0="$(metric caddy_trigger_gateway_token_cache_total '{result="miss"}')"
		TOKENS_FILE="$dir/tokens.txt" wrk_case "memory-$n" "http://127.0.0.1:$gw_port/api/v4/projects/9/trigger/pipeline" "$lua_dir/many.lua"
		misses=$(($(metric caddy_trigger_gateway_token_cache_total '{result="miss"}') - ${misses0:-0}))
		rss="$(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$caddy_pid/status")"
		read -r rps _ < <(summary "memory-$n")
		stop_caddy
		echo "| $n | $rss | $rps | $misses |" | tee -a "$run/memory.md"
	done
}

# in_turn ROUND CASE...: the cases in the order given in odd rounds and
# in reverse in even ones, so that a drift of the machine's speed within a
# round favours none of them.
in_turn() {
	local round="$1"
	shift
	if [ $((round % 2)) = 1 ]; then
		echo "$@"
	else
		printf '%s\n' "$@" | tac | tr '\n' ' '
	fi
}

# cases_in_turn "NAME URL SCRIPT"...: PAIRS rounds of the cases, each in
# a freshly started Caddy, in in_turn's order.
cases_in_turn() {
	local -A url=() script=()
	local names=() spec name u s round
	for spec in "$@"; do
		read -r name u s <<<"$spec"
		names+=("$name")
		url[$name]="$u" script[$name]="$s"
	done
	for round in $(seq "$PAIRS"); do
		echo "--- round $round/$PAIRS" >&2
		for name in $(in_turn "$round" "${names[@]}"); do
			case_in_fresh_caddy "$name" "${url[$name]}" "${script[$name]}"
		done
	done
}

# pair: (a), (ac) and (b) alone, in turn, each in a freshly started
# Caddy, PAIRS times, in alternating order. This VM's speed drifts by 10
# to 20% from one minute to the next (the same case, minutes apart); the
# median of many adjacent rounds weighs that drift less than three rounds
# of every case do.
pair() {
	prepare_storage
	local path="/api/v4/projects/9/trigger/pipeline"
	cases_in_turn "a http://127.0.0.1:$plain_port$path $lua_dir/form.lua" \
		"ac http://127.0.0.1:$plain_port$path $lua_dir/canonical.lua" \
		"b http://127.0.0.1:$gw_port$path $lua_dir/form.lua"
	local med lo hi a_caddy a_up ac_caddy ac_up b_caddy b_up
	read -r med lo hi < <(paired b a)
	read -r a_caddy a_up < <(cpu_per_request a)
	read -r ac_caddy ac_up < <(cpu_per_request ac)
	read -r b_caddy b_up < <(cpu_per_request b)
	{
		echo "Pairs run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PAIRS rounds of (a), (ac) and (b), (a) first in odd rounds and (b) first in even ones, each in a freshly started Caddy"
		echo
		echo "(b)'s throughput over (a)'s, round by round: median $med, $lo to $hi."
		echo "(ac)'s over (a)'s: $(paired ac a | awk '{ printf "median %s, %s to %s", $1, $2, $3 }'); (b)'s over (ac)'s: $(paired b ac | awk '{ printf "median %s, %s to %s", $1, $2, $3 }')."
		echo "p99 added, b's minus a's, round by round: $(p99_added b a | awk '{ printf "median %s ms, %s to %s ms", $1, $2, $3 }'); ac's minus a's: $(p99_added ac a | awk '{ printf "median %s ms, %s to %s ms", $1, $2, $3 }')."
		echo "CPU per request (medians): Caddy $a_caddy µs in (a), $ac_caddy µs in (ac), $b_caddy µs in (b); the upstream $a_up µs, $ac_up µs and $b_up µs."
	} | tee "$run/pair.md"
}

# capture_module_requests DIR: the request each upstream module sends for
# form.lua's trigger, as DIR/<module>.lua: a Caddy with the module sites
# proxies to a second upstream started with -dump, and curl sends each
# site the trigger once.
capture_module_requests() {
	local dir="$1" port pid m
	mkdir -p "$dir"
	port="$(free_port)"
	"$run/bin/upstream" -listen "127.0.0.1:$port" -dump "$dir" 2>"$run/capture.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port"
	module_upstream_port="$port" start_caddy "$storage_data"
	for m in $modules; do
		curl -fsS -o /dev/null -A '' -H 'Accept:' "http://127.0.0.1:${module_port[$m]}/api/v4/projects/9/trigger/pipeline" \
			--data-urlencode "token=$TOKEN" -d ref=main -d 'variables[UPLOAD_TO_S3]=true' -d 'variables[DEPLOY]=staging'
		if [ ! -f "$dir/$m.lua" ]; then
			echo "the $m module's request was not captured" >&2
			return 1
		fi
	done
	stop_caddy
	kill "$pid"
}

# modules: for each upstream module, (ac-MODULE), plain reverse_proxy sent
# the request that module sends, and (b-MODULE), the gateway with that
# module sent form.lua's trigger, in turn, PAIRS times, alternating which
# goes first. The upstream answers each as its CI answers a started build,
# so (b-MODULE) includes reading that answer and writing GitLab's
# pipeline object.
modules_mode() {
	prepare_storage
	module_ports
	local path="/api/v4/projects/9/trigger/pipeline" requests="$run/requests" round m name order
	capture_module_requests "$requests"
	for round in $(seq "$PAIRS"); do
		echo "--- round $round/$PAIRS" >&2
		for m in $modules; do
			order="$(in_turn "$round" ac b)"
			for name in $order; do
				case "$name" in
				ac) case_in_fresh_caddy "ac-$m" "http://127.0.0.1:$plain_port/" "$requests/$m.lua" ;;
				b) case_in_fresh_caddy "b-$m" "http://127.0.0.1:${module_port[$m]}$path" "$lua_dir/form.lua" ;;
				esac
			done
		done
	done
	{
		echo "Modules run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PAIRS rounds of (ac-MODULE) and (b-MODULE) for each module, each in a freshly started Caddy"
		echo
		echo "| module | (b) over (ac), median | min – max | requests/s (ac), (b) | non-2xx (ac), (b) | Caddy CPU µs/request (ac), (b), difference | upstream CPU µs/request (ac), (b) |"
		echo "| --- | ---: | --- | ---: | ---: | ---: | ---: |"
		local med lo hi ac_rps b_rps ac_bad b_bad ac_caddy ac_up b_caddy b_up
		for m in $modules; do
			read -r med lo hi < <(paired "b-$m" "ac-$m")
			read -r ac_rps _ _ ac_bad < <(summary "ac-$m")
			read -r b_rps _ _ b_bad < <(summary "b-$m")
			read -r ac_caddy ac_up < <(cpu_per_request "ac-$m")
			read -r b_caddy b_up < <(cpu_per_request "b-$m")
			echo "| $m | $med | $lo – $hi | $ac_rps, $b_rps | $ac_bad, $b_bad | $ac_caddy, $b_caddy, $((b_caddy - ac_caddy)) | $ac_up, $b_up |"
		done
		echo
		echo "The requests each module sent (ac-MODULE's scripts): $requests"
	} | tee "$run/modules.md"
}

# cold: (ad) and (d) alone, in turn, PAIRS times, alternating which goes
# first: the cold path (TOKENS tokens picked at random, the default cache)
# against its own baseline, as the pair mode does for (b).
cold_mode() {
	prepare_storage
	local path="/api/v4/projects/9/trigger/pipeline"
	cases_in_turn "ad http://127.0.0.1:$plain_port$path $lua_dir/many.lua" \
		"d http://127.0.0.1:$gw_port$path $lua_dir/many.lua"
	local med lo hi ad_caddy ad_up d_caddy d_up hits misses
	read -r med lo hi < <(paired d ad)
	read -r ad_caddy ad_up < <(cpu_per_request ad)
	read -r d_caddy d_up < <(cpu_per_request d)
	read -r hits misses < <(cache_misses d)
	{
		echo "Cold run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PAIRS rounds of (ad) and (d), each in a freshly started Caddy, $TOKENS tokens in storage (file_system, in $STORAGE_IN)"
		echo
		echo "(d)'s throughput over (ad)'s, round by round: median $med, $lo to $hi."
		echo "CPU per request (medians): Caddy $ad_caddy µs in (ad), $d_caddy µs in (d); the upstream $ad_up µs and $d_up µs."
		echo "Token cache in (d): $hits hits, $misses misses."
	} | tee "$run/cold.md"
}

# start_redis: a redis-server on a free port, without persistence, holding
# a copy of storage_data's keys (caddy storage export, then import through
# caddy-storage-redis); sets redis_port, which makes start_caddy use it.
start_redis() {
	command -v redis-server >/dev/null 2>&1 || {
		echo "redis-server is missing: apt-get install -y redis-server" >&2
		exit 1
	}
	local port
	port="$(free_port)"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$run" >"$run/redis.log" 2>&1 &
	pids+=("$!")
	wait_port "$port"
	printf '{\n\tstorage file_system %s\n}\n' "$storage_data" >"$run/Caddyfile.export"
	printf '{\n\tstorage redis {\n\t\thost 127.0.0.1\n\t\tport %s\n\t}\n}\n' "$port" >"$run/Caddyfile.import"
	echo "copying the storage into Redis (caddy storage export | caddy storage import)..." >&2
	./caddy storage export --config "$run/Caddyfile.export" --output - 2>>"$run/caddy.out" |
		./caddy storage import --config "$run/Caddyfile.import" --input - 2>>"$run/caddy.out"
	echo "Redis holds $(redis-cli -p "$port" dbsize) keys" >&2
	redis_port="$port"
}

# redis_commands: "name calls" for each command Redis has served so far,
# one a line.
redis_commands() {
	redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
		awk -F'[_:=,]' '/^cmdstat_/ { print $2, $4 }'
}

# redis_commands_during NAME: what case_in_fresh_caddy's hook records: the
# commands Redis served during the case's wrk run, "name calls" a line,
# with a line "--- round" between rounds.
redis_commands_during() {
	join -a 2 -e 0 -o 0,1.2,2.2 <(sort "$run/redis-before") <(redis_commands | sort) |
		awk '$1 != "info" && $3 - $2 > 0 { print $1, $3 - $2 }' >>"$run/$1.redis"
	echo "--- round" >>"$run/$1.redis"
}

# redis: cases (a), (ac) and (ad) (plain reverse_proxy, no storage) and
# (b-redis) and (d-redis), the gateway on a storage in Redis, in turn,
# PAIRS times, alternating the order; Redis's command counts are taken
# around each gateway case's wrk run.
redis_mode() {
	prepare_storage
	start_redis
	local path="/api/v4/projects/9/trigger/pipeline" name
	local plain="http://127.0.0.1:$plain_port$path" gw="http://127.0.0.1:$gw_port$path"
	cases_in_turn "a $plain $lua_dir/form.lua" "ac $plain $lua_dir/canonical.lua" "b-redis $gw $lua_dir/form.lua" \
		"ad $plain $lua_dir/many.lua" "d-redis $gw $lua_dir/many.lua"
	{
		echo "Redis run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PAIRS rounds, each case in a freshly started Caddy, $TOKENS tokens in storage (caddy-storage-redis on a local redis-server)"
		echo
		echo "| case | baseline | ratio, median | min – max | requests/s | non-2xx | Caddy CPU µs/request |"
		echo "| --- | --- | ---: | --- | ---: | ---: | ---: |"
		local pair med lo hi rps bad caddy_us
		for pair in b-redis:a b-redis:ac d-redis:ad; do
			read -r med lo hi < <(paired "${pair%%:*}" "${pair##*:}")
			read -r rps _ _ bad < <(summary "${pair%%:*}")
			read -r caddy_us _ < <(cpu_per_request "${pair%%:*}")
			echo "| ${pair%%:*} | ${pair##*:} | $med | $lo – $hi | $rps | $bad | $caddy_us |"
		done
		echo
		local hits misses requests
		for name in b-redis d-redis; do
			read -r hits misses < <(cache_misses "$name")
			requests="$(per_round "$name" '/ requests in /' '$1' | awk '{ n += $1 } END { print n }')"
			echo "$name: $requests requests, token cache $hits hits and $misses misses; Redis commands during its wrk runs (all rounds), per request and per miss:"
			echo
			awk -v req="$requests" -v miss="$misses" '$1 != "---" { n[$1] += $2 } END { for (c in n) printf "- %s: %d (%.4f per request, %.4f per miss)\n", c, n[c], n[c] / req, miss ? n[c] / miss : 0 }' "$run/$name.redis" | sort
			echo
		done
	} | tee "$run/redis.md"
}

case "$mode" in
load) load ;;
memory) memory ;;
pair) pair ;;
modules) modules_mode ;;
cold) cold_mode ;;
redis) redis_mode ;;
*)
	echo "usage: $0 [load|memory|pair|modules|cold|redis]" >&2
	exit 2
	;;
esac
echo "logs and wrk outputs: $run" >&2
