#!/usr/bin/env bash
# Benchmark: `dualstack serve` (HTTP whoami) against nginx returning "$remote_addr\n" and
# a Go net/http whoami, on 127.0.0.1 and [::1], keep-alive and `Connection: close`; then
# memory per idle connection (half IPv4, half IPv6; never-sent and keep-alive-idle) and
# the RSS still held after they close. Loopback only; every loop is bounded.
#
#   bash bench/serve.sh      # DURATION=2 ROUNDS=9 CONNS=50 IDLE=10000 SKIP_RPS=1 SKIP_IDLE=1
#                            # SERVER_CPU=1 CLIENT_CPU=0,1 CLIENT_THREADS=2 WORKERS=1
#                            # SPLITS="quota shared" QUOTA=50
#
# Core splits (2-core machine, so the client shares it). Every server runs one worker
# pinned to CPU $SERVER_CPU (nginx worker_processes 1, Go GOMAXPROCS=1, ours --workers 1);
# wrk runs $CLIENT_THREADS threads on CPUs $CLIENT_CPU. Requests/s are measured twice:
# - quota: each server may also use at most $QUOTA% of one CPU (its own cgroup, CPU
#   controller: cpu.max, or cpu.cfs_quota_us in cgroup v1), as a container with a CPU
#   limit runs. The client has the rest of both CPUs, more than it needs, so requests/s
#   is the server's: the budget divided by its CPU time per request. Needs root and a
#   writable CPU controller; skipped otherwise.
# - shared: no quota. One client thread competes with the server for CPU $SERVER_CPU, so
#   requests/s also follows how the scheduler shares that CPU between them.
# (With the client alone on CPU 0, SERVER_CPU=1 CLIENT_CPU=0 CLIENT_THREADS=1, the client
# is the bottleneck for every server here and all of them score about the same.)
# Every server is started in its own session, as a daemon is: nginx daemonizes itself, and
# with the kernel's autogroup scheduling a server left in the shell's session shares the
# client's group, which costs it about 10% of requests/s against one in its own (seen
# here: /proc/PID/autogroup).
#
# `Connection: close` rows are run twice: as configured by default, and with a deferred
# accept on both sides (nginx `listen ... deferred`, ours --defer-accept 5s; Linux
# TCP_DEFER_ACCEPT). Keep-alive rows do not depend on it.
#
# Many short alternating rounds: a shared VM's speed drifts by 20% within minutes, and a
# median of rounds taken side by side is what survives that. nginx: access_log off,
# keepalive_requests 1e6; ours: RUST_LOG=warn (no per-connection line; a line per
# request is an access log). wrk alternates between the servers, ROUNDS times per row;
# the median is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-2}
ROUNDS=${ROUNDS:-9}
CONNS=${CONNS:-50}
IDLE=${IDLE:-10000}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0,1}
CLIENT_THREADS=${CLIENT_THREADS:-2}
WORKERS=${WORKERS:-1}
QUOTA=${QUOTA:-50}

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v go >/dev/null || need+=(golang-go)
if ((${#need[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "need ${need[*]} (apt-get install ${need[*]}); run as root to install" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet -p dualstack-cli
BIN=target/release/dualstack

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d)
PIDS=()
CGROUPS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for f in "$WORK"/nginx-*.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.3
    for g in "${CGROUPS[@]}"; do # empty once the killed servers have exited
        for _ in $(seq 30); do rmdir "$g" 2>/dev/null && break; sleep 0.1; done
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- CPU quota per server (cgroup v2 cpu.max, or the v1 cpu controller) ----------------
CGV=""
if [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/cgroup.subtree_control ] &&
    grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null && CGV=2 CGROOT=/sys/fs/cgroup
elif [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/cpu/cgroup.procs ]; then
    CGV=1 CGROOT=/sys/fs/cgroup/cpu
fi
cg_join() { # name pids...: put the pids in a cgroup of their own (no quota yet)
    local g="$CGROOT/dualstack-bench-$$-$1" p
    shift
    [ -n "$CGV" ] || return 0
    mkdir -p "$g" && CGROUPS+=("$g")
    for p in "$@"; do echo "$p" >"$g/cgroup.procs"; done
}
cg_quota() { # percent of one CPU for every server's cgroup; 0: none
    local g
    for g in "${CGROUPS[@]}"; do
        if [ "$CGV" = 2 ]; then
            if (($1)); then echo "$(($1 * 1000)) 100000" >"$g/cpu.max"; else echo max >"$g/cpu.max"; fi
        else
            echo 100000 >"$g/cpu.cfs_period_us"
            if (($1)); then echo $(($1 * 1000)) >"$g/cpu.cfs_quota_us"; else echo -1 >"$g/cpu.cfs_quota_us"; fi
        fi
    done
}
if [ -z "${SPLITS:-}" ]; then
    SPLITS=shared
    [ -n "$CGV" ] && SPLITS="quota shared"
elif [[ " $SPLITS " == *" quota "* ]] && [ -z "$CGV" ]; then
    echo "no writable cgroup CPU controller (root needed): the quota split is skipped" >&2
    SPLITS=${SPLITS//quota/}
fi

# Idle connections need fds on both sides; root may raise the hard limit.
want=$((2 * IDLE + 1000))
ulimit -Hn "$want" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && (($(ulimit -n) < IDLE + 500)); then
    echo "note: ulimit -n is $(ulimit -n); lowering IDLE to fit" >&2
    IDLE=$(($(ulimit -n) - 500))
fi
echo "fd limit $(ulimit -n); $(nproc) CPUs; $(uptime | sed 's/.*load/load/')"

# --- the three servers ---------------------------------------------------------------
start_nginx() { # name port [listen option]
    local name=$1 port=$2 opt=${3:-}
    cat >"$WORK/nginx-$name.conf" <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile $((IDLE + 1000));
pid $WORK/nginx-$name.pid;
error_log $WORK/nginx-$name.err warn;
events { worker_connections $((IDLE + 1000)); }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK;
    uwsgi_temp_path $WORK; scgi_temp_path $WORK;
    server {
        listen 127.0.0.1:$port $opt;
        listen [::1]:$port $opt;
        default_type text/plain;
        location / { return 200 "\$remote_addr\n"; }
    }
}
CONF
    taskset -c "$SERVER_CPU" "$NGINX" -c "$WORK/nginx-$name.conf" -e "$WORK/nginx-$name.err" \
        -g 'daemon on; master_process on;'
    for _ in $(seq 50); do [ -s "$WORK/nginx-$name.pid" ] && break; sleep 0.1; done
    # shellcheck disable=SC2046
    cg_join "nginx-$name" $(nginx_pids "$name")
}
nginx_pids() { # name
    local master
    master=$(cat "$WORK/nginx-$1.pid")
    echo "$master" $(pgrep -P "$master")
}

cat >"$WORK/whoami.go" <<'GO'
package main

import (
	"net"
	"net/http"
	"os"
)

func main() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(host + "\n"))
	})
	for _, a := range os.Args[2:] {
		l, err := net.Listen("tcp", a)
		if err != nil {
			panic(err)
		}
		go http.Serve(l, h)
	}
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		panic(err)
	}
	panic(http.Serve(l, h))
}
GO
(cd "$WORK" && GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GO111MODULE=off go build -o whoami-go whoami.go)

wait_http() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    exit 1
}
start_go() {
    local port=$1
    GOMAXPROCS=$WORKERS setsid taskset -c "$SERVER_CPU" "$WORK/whoami-go" "127.0.0.1:$port" "[::1]:$port" \
        </dev/null &
    GOPID=$!
    PIDS+=("$GOPID")
    wait_http "$port"
    cg_join "go" "$GOPID"
}
start_ours() {
    local port=$1
    shift
    RUST_LOG=warn setsid taskset -c "$SERVER_CPU" "$BIN" serve --workers "$WORKERS" --line off --udp off \
        --http "127.0.0.1:$port" --http "[::1]:$port" \
        --max-connections $((IDLE * 2)) --header-timeout 120s --idle-timeout 300s "$@" \
        </dev/null 2>>"$WORK/ours.err" &
    OURS=$!
    PIDS+=("$OURS")
    wait_http "$port"
    cg_join "ours-$port" "$OURS"
}

NPORT=$(free_port)
NDPORT=$(free_port)
GPORT=$(free_port)
OPORT=$(free_port)
ODPORT=$(free_port)
start_nginx plain "$NPORT"
start_nginx deferred "$NDPORT" deferred
start_go "$GPORT"
start_ours "$ODPORT" --defer-accept 5s
OURS_D=$OURS
start_ours "$OPORT"
for p in $NPORT $NDPORT $GPORT $OPORT $ODPORT; do
    for h in 127.0.0.1 "[::1]"; do
        echo "check http://$h:$p/ -> $(curl -s "http://$h:$p/")"
    done
done

# --- requests per second -------------------------------------------------------------
rps() { # url [wrk args] → requests/s; errors are reported on stderr
    local url=$1
    shift
    local out
    out=$(taskset -c "$CLIENT_CPU" wrk -t"$CLIENT_THREADS" -c"$CONNS" -d"${DURATION}s" "$@" "$url" 2>&1)
    if grep -q -E "Non-2xx|Socket errors" <<<"$out"; then
        echo "warning: $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
TICK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of the given pids (every thread)
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
round() { # "pids" url [wrk args] → "requests/s server-CPU-µs-per-request"
    local pids=$1 url=$2
    shift 2
    local t0 t1 r
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    r=$(rps "$url" "$@")
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    echo "$r $(awk -v t=$((t1 - t0)) -v hz="$TICK" -v r="$r" -v d="$DURATION" \
        'BEGIN {print (r > 0) ? t / hz * 1e6 / (r * d) : 0}')"
}
col() { tr ' ' '\n' <<<"$1" | grep . | awk -v c="$2" 'NR % 2 == c'; } # "r u r u ..." → the r (1) or u (0)
row() { # family mode accept "nginx rounds" "Go rounds" (may be empty) "our rounds"
    local nm gm om nu gu ou
    nm=$(col "$4" 1 | median) om=$(col "$6" 1 | median)
    nu=$(col "$4" 0 | median) ou=$(col "$6" 0 | median)
    if [ -n "$5" ]; then
        gm=$(col "$5" 1 | median) gu=$(col "$5" 0 | median)
        printf '%-10s %-11s %-8s %10.0f %10.0f %10.0f %7.2fx %7.2fx %8.2f %8.2f %8.2f\n' "$1" "$2" "$3" \
            "$nm" "$gm" "$om" "$(awk -v a="$om" -v b="$nm" 'BEGIN {print a / b}')" \
            "$(awk -v a="$gm" -v b="$nm" 'BEGIN {print a / b}')" "$nu" "$gu" "$ou"
    else
        printf '%-10s %-11s %-8s %10.0f %10s %10.0f %7.2fx %8s %8.2f %8s %8.2f\n' "$1" "$2" "$3" \
            "$nm" - "$om" "$(awk -v a="$om" -v b="$nm" 'BEGIN {print a / b}')" - "$nu" - "$ou"
    fi
}

if [ -z "${SKIP_RPS:-}" ]; then
    npids=$(nginx_pids plain)
    ndpids=$(nginx_pids deferred)
    for split in $SPLITS; do
        echo
        if [ "$split" = quota ]; then
            cg_quota "$QUOTA"
            echo "split: quota. Each server on CPU $SERVER_CPU and at most $QUOTA% of one CPU (cgroup v$CGV);"
        else
            cg_quota 0
            echo "split: shared. Each server on CPU $SERVER_CPU, no quota;"
        fi
        echo "HTTP whoami, wrk -t$CLIENT_THREADS -c$CONNS -d${DURATION}s on CPUs $CLIENT_CPU; $WORKERS worker(s) per server"
        echo "median of $ROUNDS alternating rounds; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "(µs: the server's CPU time, user + system, per request; accept: deferred = nginx"
        echo " 'listen ... deferred' and ours --defer-accept 5s, Go has no such option)"
        printf '%-10s %-11s %-8s %10s %10s %10s %8s %8s %8s %8s %8s\n' family mode accept "nginx r/s" \
            "Go r/s" "ours r/s" "ours/ngx" "Go/ngx" "ngx µs" "Go µs" "ours µs"
        for host in 127.0.0.1 "[::1]"; do
            for mode in keep-alive close; do
                hdr=()
                [ "$mode" = close ] && hdr=(-H "Connection: close")
                n="" g="" o="" nd="" od=""
                for _ in $(seq "$ROUNDS"); do
                    n+=" $(round "$npids" "http://$host:$NPORT/" "${hdr[@]}")"
                    g+=" $(round "$GOPID" "http://$host:$GPORT/" "${hdr[@]}")"
                    o+=" $(round "$OURS" "http://$host:$OPORT/" "${hdr[@]}")"
                    if [ "$mode" = close ]; then
                        nd+=" $(round "$ndpids" "http://$host:$NDPORT/" "${hdr[@]}")"
                        od+=" $(round "$OURS_D" "http://$host:$ODPORT/" "${hdr[@]}")"
                    fi
                done
                row "$host" "$mode" default "$n" "$g" "$o"
                if [ "$mode" = close ]; then
                    row "$host" "$mode" deferred "$nd" "" "$od"
                fi
            done
        done
        echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    done
    cg_quota 0
fi

# --- memory per idle connection ------------------------------------------------------
rss_kib() { # total VmRSS of the given pids
    local t=0
    for p in "$@"; do
        t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
    done
    echo "$t"
}

# idle MODE pids... → "before after conns closed busy" (KiB, KiB, count, KiB after
# closing, keep-alive requests/s on 127.0.0.1 while the idle connections are held)
idle() {
    local port=$1 mode=$2
    shift 2
    local before after closed line busy
    before=$(rss_kib "$@")
    coproc IDLEC { python3 bench/idle_clients.py "$port" "$IDLE" "$mode" both; }
    read -r -t 400 line <&"${IDLEC[0]}"
    sleep 4 # let the server accept everything (and park keep-alive connections: 1 s)
    after=$(rss_kib "$@")
    busy=$(rps "http://127.0.0.1:$port/")
    sleep 2 # the wrk connections close and their memory settles
    kill "$IDLEC_PID" 2>/dev/null || true
    wait "$IDLEC_PID" 2>/dev/null || true
    sleep 3 # let the server see every close
    closed=$(rss_kib "$@")
    echo "$before $after ${line#ready } $closed $busy"
}

if [ -z "${SKIP_IDLE:-}" ]; then
    echo
    echo "memory with $IDLE idle connections (half 127.0.0.1, half [::1]); RSS of the server process(es)"
    echo "(r/s beside: wrk -c$CONNS keep-alive on 127.0.0.1 while the idle connections are held)"
    printf '%-6s %-10s %11s %11s %7s %11s %15s %12s\n' server idle "before KiB" "with KiB" conns "bytes/conn" "kept after KiB" "r/s beside"
    for mode in never ka; do
        for s in nginx go ours; do
            case $s in
            nginx) port=$NPORT pids=$(nginx_pids plain) ;;
            go) port=$GPORT pids=$GOPID ;;
            ours) port=$OPORT pids=$OURS ;;
            esac
            # shellcheck disable=SC2086
            read -r b a c k r < <(idle "$port" "$mode" $pids)
            printf '%-6s %-10s %11d %11d %7d %11.0f %15d %12.0f\n' "$s" "$mode" "$b" "$a" "$c" \
                "$(awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {print (a - b) * 1024 / c}')" $((k - b)) "$r"
        done
    done
fi
